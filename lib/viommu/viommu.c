/* SPDX-License-Identifier: MIT */
/*
 * A device behind an emulated IOMMU: its guest context, a small cache of leaf
 * translations, and its shadows in a host address space (one lib/pin mapping
 * per guest leaf piece, kept in a list sorted by iova).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/check.h"
#include "common/checked.h"
#include "internal.h"

#define VI_TLB 8u
#define VI_RW (IOVIRT_PROT_READ | IOVIRT_PROT_WRITE)

/* One cached leaf: the part of a guest page its one entry covers. */
struct vi_tlb {
	uint64_t base, span;      /* iova range [base, base + span); span 0: empty */
	uint64_t gpa;             /* of base */
	uint64_t page_lo, page_size; /* the guest page (what an invalidation must hit) */
	uint32_t prot, af, level, pad;
};

/* One shadow: [iova, iova + len) mapped through handle h, a piece of the
 * guest page [leaf_lo, leaf_last]. */
struct vi_shadow {
	uint64_t iova, len;
	uint64_t leaf_lo, leaf_last;
	uint64_t call; /* the shadow call that installed it (rollback) */
	struct iovirt_pin_handle h;
};

struct iovirt_viommu {
	const struct iovirt_host_ops *ops;
	void *host;
	struct iovirt_pin_domain *dom;
	struct iovirt_gmap *map;
	struct iovirt_iommu *iommu;
	uint32_t asid;
	uint32_t tlb_next;
	struct vi_ctx ctx;
	struct vi_tlb tlb[VI_TLB];
	struct vi_shadow *sh; /* sorted by iova, disjoint */
	size_t n, cap;
	uint64_t calls, walks, hits, shadow_bytes;
};

int iovirt_viommu_create(const struct iovirt_host_ops *host_ops, void *host,
			 struct iovirt_pin_domain *dom, struct iovirt_gmap *map,
			 struct iovirt_iommu *iommu, uint32_t asid,
			 const struct iovirt_gpt_ctx *ctx, struct iovirt_viommu **out)
{
	if (!host_ops || !dom || !map || !iommu || !out)
		return IOVIRT_EINVAL;
	struct vi_ctx c;
	int err = vi_ctx_load(ctx, &c);
	if (err)
		return err;
	if (!iovirt_host_ops_ok(host_ops) || !IOVIRT_HOST_HAS(host_ops, guest_read))
		return IOVIRT_ENOSYS;
	struct iovirt_viommu *v = iovirt_host_alloc(host_ops, host, sizeof(*v), _Alignof(struct iovirt_viommu));
	if (!v)
		return IOVIRT_ENOMEM;
	*v = (struct iovirt_viommu){ .ops = host_ops, .host = host, .dom = dom, .map = map,
				     .iommu = iommu, .asid = asid, .ctx = c };
	*out = v;
	return 0;
}

void iovirt_viommu_destroy(struct iovirt_viommu *v)
{
	if (!v)
		return;
	(void)iovirt_viommu_inval(v, 0, 0);
	iovirt_host_free(v->ops, v->host, v->sh, v->cap * sizeof(*v->sh));
	iovirt_host_free(v->ops, v->host, v, sizeof(*v));
}

/* ---- translation through the cache ---- */

static const struct vi_tlb *vi_tlb_find(const struct iovirt_viommu *v, uint64_t iova, unsigned access)
{
	for (unsigned i = 0; i < VI_TLB; i++) {
		const struct vi_tlb *t = &v->tlb[i];
		if (iova - t->base < t->span && (t->prot & access) == access && !(t->af & access))
			return t;
	}
	return NULL;
}

static void vi_tlb_fill(struct iovirt_viommu *v, const struct iovirt_gpt_result *r, unsigned af)
{
	const uint64_t span = vi_leaf_span(r);
	const uint64_t off = r->iova & (span - 1);
	v->tlb[v->tlb_next] = (struct vi_tlb){
		.base = r->iova - off, .span = span, .gpa = r->gpa - off,
		.page_lo = r->iova & ~(r->page_size - 1), .page_size = r->page_size,
		.prot = r->prot, .af = af, .level = r->level,
	};
	v->tlb_next = (v->tlb_next + 1) % VI_TLB;
}

int iovirt_viommu_translate(struct iovirt_viommu *v, uint64_t iova, unsigned access,
			    struct iovirt_gpt_result *res)
{
	if (!v || !res)
		return IOVIRT_EINVAL;
	if (!access || (access & ~(unsigned)VI_RW)) {
		*res = (struct iovirt_gpt_result){ .iova = iova, .err = IOVIRT_EINVAL };
		return IOVIRT_EINVAL;
	}
	const struct vi_tlb *t = vi_tlb_find(v, iova, access);
	if (t) {
		v->hits++;
		*res = (struct iovirt_gpt_result){ .iova = iova, .gpa = t->gpa + (iova - t->base),
						   .page_size = t->page_size, .prot = t->prot,
						   .level = t->level };
		return 0;
	}
	v->walks++;
	unsigned af;
	int err = vi_walk(&v->ctx, v->map, v->ops, v->host, iova, access, res, &af);
	if (!err)
		vi_tlb_fill(v, res, af);
	return err;
}

/* ---- the shadow list ---- */

/* Index of the first shadow that ends after iova. */
static size_t vi_sh_first(const struct iovirt_viommu *v, uint64_t iova)
{
	size_t lo = 0, n = v->n;
	while (n) {
		size_t half = n / 2;
		const struct vi_shadow *s = &v->sh[lo + half];
		if (s->iova + s->len <= iova) {
			lo += half + 1;
			n -= half + 1;
		} else {
			n = half;
		}
	}
	return lo;
}

/* Room for one more shadow: 0 or IOVIRT_ENOMEM. */
static int vi_sh_reserve(struct iovirt_viommu *v)
{
	if (v->n < v->cap)
		return 0;
	size_t cap = v->cap ? v->cap * 2 : 16;
	struct vi_shadow *sh = iovirt_host_alloc(v->ops, v->host, cap * sizeof(*sh), _Alignof(struct vi_shadow));
	if (!sh)
		return IOVIRT_ENOMEM;
	if (v->n)
		memcpy(sh, v->sh, v->n * sizeof(*sh));
	iovirt_host_free(v->ops, v->host, v->sh, v->cap * sizeof(*v->sh));
	v->sh = sh;
	v->cap = cap;
	return 0;
}

/* Removes the shadows for which drop(s, arg) holds: unmaps each (the caller
 * flushes the domain after); returns their bytes. */
static uint64_t vi_sh_remove(struct iovirt_viommu *v, bool (*drop)(const struct vi_shadow *s, const void *arg),
			     const void *arg)
{
	uint64_t bytes = 0;
	size_t k = 0;
	for (size_t i = 0; i < v->n; i++) {
		const struct vi_shadow *s = &v->sh[i];
		if (!drop(s, arg)) {
			v->sh[k++] = *s;
			continue;
		}
		int err = iovirt_pin_unmap(v->dom, s->h);
		IOVIRT_CHECK(err == 0); /* our own live handle */
		(void)err;
		bytes += s->len;
	}
	v->n = k;
	v->shadow_bytes -= bytes;
	return bytes;
}

static bool vi_sh_of_call(const struct vi_shadow *s, const void *arg)
{
	return s->call == *(const uint64_t *)arg;
}

struct vi_range {
	uint64_t lo, last;
};

static bool vi_sh_hit(const struct vi_shadow *s, const void *arg)
{
	const struct vi_range *r = arg;
	return s->leaf_lo <= r->last && s->leaf_last >= r->lo;
}

/* ---- shadowing ---- */

/* One leaf piece to install: [iova, iova + len) at gpa. */
struct vi_piece {
	uint64_t iova, len, gpa;
	uint64_t leaf_lo, leaf_last;
	unsigned prot;
};

/* Installs p less the parts already shadowed; 0 or the error (res set). */
static int vi_install(struct iovirt_viommu *v, const struct vi_piece *p, uint64_t *bytes,
		      struct iovirt_gpt_result *res)
{
	uint64_t a = p->iova;
	const uint64_t end = p->iova + p->len;
	size_t i = vi_sh_first(v, a);
	while (a < end) {
		uint64_t b = end;
		if (i < v->n && v->sh[i].iova <= a) { /* shadowed already: skip it */
			a = v->sh[i].iova + v->sh[i].len;
			i++;
			continue;
		}
		if (i < v->n && v->sh[i].iova < b)
			b = v->sh[i].iova;
		int err = vi_sh_reserve(v);
		uint64_t at = a;
		struct iovirt_pin_handle h;
		if (!err)
			err = iovirt_pin_map(v->dom, v->iommu, v->asid, p->gpa + (a - p->iova), b - a, p->prot,
					     IOVIRT_PIN_MAP_FIXED, &at, &h);
		if (err) {
			res->iova = a;
			res->gpa = p->gpa + (a - p->iova);
			res->err = err;
			return err;
		}
		memmove(&v->sh[i + 1], &v->sh[i], (v->n - i) * sizeof(*v->sh));
		v->sh[i] = (struct vi_shadow){ .iova = a, .len = b - a, .leaf_lo = p->leaf_lo,
					       .leaf_last = p->leaf_last, .call = v->calls, .h = h };
		v->n++;
		v->shadow_bytes += b - a;
		*bytes += b - a;
		i++;
		a = b;
	}
	return 0;
}

/* Walks pos and installs what its leaf maps of [pos, end); *next is where the
 * next step starts (0 past 2^64). 0 or the error (res set). */
static int vi_shadow_step(struct iovirt_viommu *v, uint64_t pos, uint64_t end, unsigned flags,
			  uint64_t *next, uint64_t *bytes, struct iovirt_gpt_result *res)
{
	unsigned af;
	v->walks++;
	int err = vi_walk(&v->ctx, v->map, v->ops, v->host, pos, 0, res, &af);
	const unsigned prot = res->prot & ~af;
	if (!err && !prot && (flags & IOVIRT_VIOMMU_STRICT)) {
		res->fault = IOVIRT_GPT_PERMISSION;
		res->err = err = IOVIRT_EPERM;
	}
	/* A hole: an entry says nothing maps pos. Not present, or ERANGE from a
	 * skipping AMD-Vi PDE (pos has skipped address bits set, and so has the
	 * rest of the PDE's range, the page_size reported: a legal guest
	 * layout). ERANGE before any entry (page_size 0: pos beyond the input
	 * width) is the caller's range, refused. */
	const bool hole = err == IOVIRT_ENOENT || (err == IOVIRT_ERANGE && res->page_size);
	if (err && !(hole && !(flags & IOVIRT_VIOMMU_STRICT)))
		return err;
	const uint64_t span = err ? res->page_size : vi_leaf_span(res);
	*next = (pos | (span - 1)) + 1;
	if (err || !prot)
		return 0; /* a hole: skipped */
	const struct vi_piece p = {
		.iova = pos, .len = (*next && *next < end ? *next : end) - pos, .gpa = res->gpa,
		.leaf_lo = pos & ~(res->page_size - 1), .leaf_last = pos | (res->page_size - 1),
		.prot = prot,
	};
	return vi_install(v, &p, bytes, res);
}

int64_t iovirt_viommu_shadow(struct iovirt_viommu *v, uint64_t iova, uint64_t size,
			     unsigned flags, struct iovirt_gpt_result *res)
{
	struct iovirt_gpt_result local;
	if (!res)
		res = &local;
	*res = (struct iovirt_gpt_result){ .iova = iova };
	uint64_t end;
	int err = 0;
	if (!v || !size || (flags & ~IOVIRT_VIOMMU_STRICT))
		err = IOVIRT_EINVAL;
	else if (!iovirt_is_aligned(iova | size, IOVIRT_PAGE_SIZE))
		err = IOVIRT_EALIGN;
	else if (!iovirt_add_ok(iova, size, &end))
		err = IOVIRT_EOVERFLOW;
	if (err) {
		res->err = err;
		return err;
	}
	const uint64_t call = ++v->calls;
	uint64_t bytes = 0, pos = iova;
	do /* pos 0: the last step's leaf ended at 2^64 */
		err = vi_shadow_step(v, pos, end, flags, &pos, &bytes, res);
	while (!err && pos && pos < end);
	if (!err)
		return (int64_t)bytes;
	/* all or nothing: what this call installed goes again */
	vi_sh_remove(v, vi_sh_of_call, &call);
	iovirt_pin_flush(v->dom);
	return err;
}

int64_t iovirt_viommu_inval(struct iovirt_viommu *v, uint64_t iova, uint64_t size)
{
	if (!v)
		return IOVIRT_EINVAL;
	struct vi_range r = { 0, UINT64_MAX };
	if (size) {
		if (!iovirt_add_ok(iova, size - 1, &r.last))
			return IOVIRT_EOVERFLOW;
		r.lo = iova;
	}
	for (unsigned i = 0; i < VI_TLB; i++) {
		struct vi_tlb *t = &v->tlb[i];
		if (t->span && t->page_lo <= r.last && t->page_lo + (t->page_size - 1) >= r.lo)
			*t = (struct vi_tlb){ 0 };
	}
	uint64_t bytes = vi_sh_remove(v, vi_sh_hit, &r);
	/* Batched domains queue the unmaps: the guest's invalidation completes
	 * only once the host IOTLB no longer holds them. */
	iovirt_pin_flush(v->dom);
	return (int64_t)bytes;
}

int iovirt_viommu_set_ctx(struct iovirt_viommu *v, const struct iovirt_gpt_ctx *ctx)
{
	if (!v)
		return IOVIRT_EINVAL;
	struct vi_ctx c;
	int err = vi_ctx_load(ctx, &c);
	if (err)
		return err;
	(void)iovirt_viommu_inval(v, 0, 0);
	v->ctx = c;
	return 0;
}

void iovirt_viommu_stats(const struct iovirt_viommu *v, struct iovirt_viommu_stats *out)
{
	if (!v || !out)
		return;
	*out = (struct iovirt_viommu_stats){ .walks = v->walks, .hits = v->hits,
					     .shadows = v->n, .shadow_bytes = v->shadow_bytes };
}
