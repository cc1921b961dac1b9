/* SPDX-License-Identifier: MIT */
/* iovirt_viommu: shadows of a guest's tables in a host space, the guest's invalidations, the leaf cache. */
#include "gt.h"

#define ST_ASID 1u

struct st {
	struct gt g;
	struct iovirt_pin_domain *dom;
	struct iovirt_iommu *io;
	struct iovirt_viommu *v;
	uint64_t a[3]; /* gpa of the three 4 KiB guest pages */
	uint64_t big;  /* gpa of the 2 MiB guest page */
};

/* Guest tables of fmt: iova 0x10000, 0x11000, 0x12000 -> three scattered 4 KiB
 * pages (the second read-only), a hole at 0x13000 .. 0x200000, one 2 MiB page
 * at 0x200000. */
static void st_init(struct st *s, uint32_t fmt, uint32_t batch)
{
	memset(s, 0, sizeof(*s));
	gt_init(&s->g);
	gt_ctx(&s->g, fmt);
	for (unsigned i = 0; i < 3; i++) {
		s->a[i] = gt_data(&s->g, 4096);
		(void)gt_data(&s->g, 4096); /* not contiguous */
		gt_map(&s->g, 0x10000 + 0x1000 * i, s->a[i], 1, i == 1 ? IOVIRT_PROT_READ : GT_RW);
	}
	s->big = gt_data(&s->g, UINT64_C(2) << 20);
	gt_map(&s->g, 0x200000, s->big, 2, GT_RW);
	struct iovirt_pin_params pp = { .size = sizeof(pp), .max_handles = 4096, .batch = batch,
					.iova_base = UINT64_C(1) << 63, .iova_end = (UINT64_C(1) << 63) + 4096 };
	cr_assert_eq(iovirt_pin_domain_create(s->g.ops, s->g.p, s->g.map, &pp, &s->dom), 0);
	cr_assert_eq(iovirt_iommu_create(s->g.ops, s->g.p, NULL, &s->io), 0);
	cr_assert_eq(iovirt_pt_space_create(s->io, ST_ASID, NULL), 0);
	cr_assert_eq(iovirt_viommu_create(s->g.ops, s->g.p, s->dom, s->g.map, s->io, ST_ASID, &s->g.ctx, &s->v), 0);
}

static void st_fini(struct st *s)
{
	iovirt_viommu_destroy(s->v);
	cr_assert_eq(iovirt_posix_pinned_pages(s->g.p), 0, "everything unpinned");
	cr_assert_eq(iovirt_pin_domain_destroy(s->dom), 0);
	iovirt_iommu_destroy(s->io);
	gt_fini(&s->g);
}

/* The host translation of iova: its hpa, or ~0 when not mapped. */
static uint64_t host_at(const struct st *s, uint64_t iova, unsigned *prot)
{
	struct iovirt_xlate x;
	int err = iovirt_pt_translate(s->io, ST_ASID, iova, IOVIRT_PROT_READ, &x);
	if (err && err != IOVIRT_EPERM) /* EPERM: a write-only mapping, filled in */
		return ~UINT64_C(0);
	if (prot)
		*prot = x.prot;
	return x.pa;
}

static uint64_t hpa_of(const struct st *s, uint64_t gpa)
{
	return GT_HPA + (gpa - s->g.base);
}

/* Nothing of [0x10000, 0x400000) is mapped in the host space, nothing is pinned, no shadow is left. */
static void st_nothing(const struct st *s)
{
	for (uint64_t iova = 0x10000; iova < 0x400000; iova += 0x1000)
		cr_assert_eq(host_at(s, iova, NULL), ~UINT64_C(0), "iova %#llx still mapped", (unsigned long long)iova);
	cr_assert_eq(iovirt_posix_pinned_pages(s->g.p), 0);
	struct iovirt_viommu_stats vs;
	iovirt_viommu_stats(s->v, &vs);
	cr_assert_eq(vs.shadows, 0);
	cr_assert_eq(vs.shadow_bytes, 0);
	struct iovirt_pin_stats ps;
	iovirt_pin_stats(s->dom, &ps);
	cr_assert_eq(ps.live_maps, 0);
}

/* A shadowed range maps each guest page at its iova to the page's host address with the guest's permissions, pins it, skips holes, and a second shadow of the same range adds nothing. */
Test(shadow, installs_each_format)
{
	for (unsigned f = 0; f < GT_NFMT; f++) {
		struct st s;
		st_init(&s, gt_formats[f], 0);
		struct iovirt_gpt_result r;
		cr_assert_eq(iovirt_viommu_shadow(s.v, 0x10000, 0x3f0000, 0, &r), 3 * 4096 + (2 << 20), "fmt %u: %d",
			     gt_formats[f], r.err);
		unsigned prot;
		for (unsigned i = 0; i < 3; i++) {
			cr_assert_eq(host_at(&s, 0x10000 + 0x1000 * i, &prot), hpa_of(&s, s.a[i]));
			cr_assert_eq(prot, i == 1 ? IOVIRT_PROT_READ : GT_RW);
		}
		cr_assert_eq(host_at(&s, 0x13000, NULL), ~UINT64_C(0));
		cr_assert_eq(host_at(&s, 0x3ff000, &prot), hpa_of(&s, s.big) + 0x1ff000);
		cr_assert_eq(prot, GT_RW);
		cr_assert_eq(iovirt_posix_pinned_pages(s.g.p), 3 + 512);
		struct iovirt_viommu_stats vs;
		iovirt_viommu_stats(s.v, &vs);
		cr_assert_eq(vs.shadows, 4);
		cr_assert_eq(iovirt_viommu_shadow(s.v, 0x10000, 0x3f0000, 0, &r), 0);
		/* a range starting inside a shadowed page: only the rest is new */
		cr_assert_eq(iovirt_viommu_shadow(s.v, 0x0, 0x14000, 0, &r), 0);
		st_fini(&s);
	}
}

/* An invalidation of any part of a guest page removes the shadow of the whole page (as a hardware IOTLB entry goes), unpins it, and touches nothing else; size 0 removes everything. */
Test(shadow, inval_drops_whole_guest_pages)
{
	struct st s;
	st_init(&s, IOVIRT_PT_FMT_VTD_SL, 0);
	cr_assert_eq(iovirt_viommu_shadow(s.v, 0x10000, 0x3f0000, 0, NULL), 3 * 4096 + (2 << 20));
	cr_assert_eq(iovirt_viommu_inval(s.v, 0x201000, 0x1000), 2 << 20);
	cr_assert_eq(host_at(&s, 0x200000, NULL), ~UINT64_C(0));
	cr_assert_eq(host_at(&s, 0x3ff000, NULL), ~UINT64_C(0));
	cr_assert_eq(iovirt_posix_pinned_pages(s.g.p), 3);
	cr_assert_eq(iovirt_viommu_inval(s.v, 0x11000, 0x1000), 4096);
	cr_assert_eq(host_at(&s, 0x10000, NULL), hpa_of(&s, s.a[0]));
	cr_assert_eq(host_at(&s, 0x11000, NULL), ~UINT64_C(0));
	cr_assert_eq(host_at(&s, 0x12000, NULL), hpa_of(&s, s.a[2]));
	cr_assert_eq(iovirt_viommu_inval(s.v, 0x400000, 0x1000), 0);
	/* a piece of a shadowed guest page: re-shadowing a part of the 2 MiB page maps that part */
	cr_assert_eq(iovirt_viommu_shadow(s.v, 0x300000, 0x2000, 0, NULL), 0x2000);
	cr_assert_eq(iovirt_viommu_inval(s.v, 0x200000, 0x1000), 0x2000, "the page's other part is hit too");
	cr_assert_eq(iovirt_viommu_inval(s.v, 0, 0), 2 * 4096);
	st_nothing(&s);
	cr_assert_eq(iovirt_viommu_inval(s.v, UINT64_MAX - 4095, 4096), 0, "a range ending at 2^64");
	cr_assert_eq(iovirt_viommu_inval(s.v, UINT64_MAX - 4095, 4097), IOVIRT_EOVERFLOW);
	cr_assert_eq(iovirt_viommu_inval(NULL, 0, 0), IOVIRT_EINVAL);
	st_fini(&s);
}

/* STRICT refuses a hole; a reserved bit or a guest page in MMIO part-way refuses the range; each time nothing is left mapped or pinned and res says where. */
Test(shadow, all_or_nothing)
{
	for (unsigned f = 0; f < GT_NFMT; f++) {
		const uint32_t fmt = gt_formats[f];
		struct st s;
		st_init(&s, fmt, 0);
		struct iovirt_gpt_result r;
		cr_assert_eq(iovirt_viommu_shadow(s.v, 0x10000, 0x4000, IOVIRT_VIOMMU_STRICT, &r), IOVIRT_ENOENT);
		cr_assert_eq(r.iova, 0x13000);
		cr_assert_eq(r.fault, IOVIRT_GPT_NOT_PRESENT);
		st_nothing(&s);
		/* the third page is in MMIO (its host validation refuses it) */
		uint64_t *e = gt_slot(&s.g, 0x12000, 1);
		const uint64_t keep = *e;
		*e = gt_mk_leaf(fmt, s.g.base + GT_RAM, 1, GT_RW);
		int64_t n = iovirt_viommu_shadow(s.v, 0x10000, 0x3f0000, 0, &r);
		cr_assert_eq(n, IOVIRT_EMMIO, "fmt %u: %lld", fmt, (long long)n);
		cr_assert_eq(r.iova, 0x12000);
		cr_assert_eq(r.gpa, s.g.base + GT_RAM);
		cr_assert_eq(r.fault, 0);
		st_nothing(&s);
		/* a reserved bit in the third page's leaf */
		*e = keep;
		*e |= fmt == IOVIRT_PT_FMT_VTD_SL ? (UINT64_C(1) << 62)
		      : fmt == IOVIRT_PT_FMT_ARM_S2 ? (UINT64_C(1) << 48)
						  : (UINT64_C(1) << 55);
		cr_assert_eq(iovirt_viommu_shadow(s.v, 0x10000, 0x3f0000, 0, &r), IOVIRT_ERESERVED);
		cr_assert_eq(r.iova, 0x12000);
		cr_assert_eq(r.level, 1);
		st_nothing(&s);
		st_fini(&s);
	}
}

/* Each allocation a shadow makes (its list, pin bookkeeping, host tables) and each host pin failing in turn leaves nothing mapped or pinned; the run then completes. */
Test(shadow, fail_at_n)
{
	struct st s;
	st_init(&s, IOVIRT_PT_FMT_AMD_V1, 0);
	unsigned fired = 0;
	for (uint64_t n = 1;; n++) {
		iovirt_posix_fail_alloc_at(s.g.p, n);
		int64_t r = iovirt_viommu_shadow(s.v, 0x10000, 0x3f0000, 0, NULL);
		bool hit = iovirt_posix_fail_fired(s.g.p);
		iovirt_posix_fail_alloc_at(s.g.p, 0);
		if (!hit) {
			cr_assert_eq(r, 3 * 4096 + (2 << 20));
			break;
		}
		cr_assert_eq(r, IOVIRT_ENOMEM, "n %llu: %lld", (unsigned long long)n, (long long)r);
		st_nothing(&s);
		fired++;
	}
	cr_assert_gt(fired, 2);
	cr_assert_eq(iovirt_viommu_inval(s.v, 0, 0), 3 * 4096 + (2 << 20));
	fired = 0;
	for (uint64_t n = 1;; n++) {
		iovirt_posix_fail_pin_at(s.g.p, n);
		int64_t r = iovirt_viommu_shadow(s.v, 0x10000, 0x3f0000, 0, NULL);
		bool hit = iovirt_posix_fail_fired(s.g.p);
		iovirt_posix_fail_pin_at(s.g.p, 0);
		if (!hit) {
			cr_assert_eq(r, 3 * 4096 + (2 << 20));
			break;
		}
		cr_assert_eq(r, IOVIRT_EHOST);
		st_nothing(&s);
		fired++;
	}
	cr_assert_eq(fired, 4, "one pin per guest page");
	st_fini(&s);
}

/* In a batched pin domain the guest's invalidation returns only after the host IOTLB invalidation: nothing stays queued. */
Test(shadow, inval_flushes_batched)
{
	struct st s;
	st_init(&s, IOVIRT_PT_FMT_ARM_S2, 64);
	cr_assert_eq(iovirt_viommu_shadow(s.v, 0x10000, 0x3000, 0, NULL), 3 * 4096);
	const uint64_t inv = iovirt_posix_count(s.g.p, IOVIRT_CB_IOTLB_INVAL);
	cr_assert_eq(iovirt_viommu_inval(s.v, 0x10000, 0x1000), 4096);
	struct iovirt_pin_stats ps;
	iovirt_pin_stats(s.dom, &ps);
	cr_assert_eq(ps.deferred_entries, 0);
	cr_assert_eq(ps.deferred_invals, 0);
	cr_assert_gt(iovirt_posix_count(s.g.p, IOVIRT_CB_IOTLB_INVAL), inv);
	cr_assert_eq(iovirt_posix_pinned_pages(s.g.p), 2);
	st_fini(&s);
}

/* The cache answers a repeated translation without reading guest memory and keeps what the tables said until the guest invalidates, as an IOTLB does; an access the cached leaf does not grant walks again. */
Test(shadow, cache)
{
	for (unsigned f = 0; f < GT_NFMT; f++) {
		struct st s;
		st_init(&s, gt_formats[f], 0);
		struct iovirt_gpt_result r;
		cr_assert_eq(iovirt_viommu_translate(s.v, 0x10010, IOVIRT_PROT_WRITE, &r), 0);
		cr_assert_eq(r.gpa, s.a[0] + 0x10);
		const uint64_t reads = iovirt_posix_count(s.g.p, IOVIRT_CB_GUEST_READ);
		cr_assert_eq(iovirt_viommu_translate(s.v, 0x10ff8, IOVIRT_PROT_READ, &r), 0);
		cr_assert_eq(r.gpa, s.a[0] + 0xff8);
		cr_assert_eq(r.page_size, 4096);
		cr_assert_eq(iovirt_posix_count(s.g.p, IOVIRT_CB_GUEST_READ), reads, "a hit reads nothing");
		/* the guest remaps the page without invalidating: the cache still says the old */
		*gt_slot(&s.g, 0x10000, 1) = gt_mk_leaf(gt_formats[f], s.a[2], 1, GT_RW);
		cr_assert_eq(iovirt_viommu_translate(s.v, 0x10000, IOVIRT_PROT_READ, &r), 0);
		cr_assert_eq(r.gpa, s.a[0]);
		cr_assert_eq(iovirt_viommu_inval(s.v, 0x10000, 0x1000), 0);
		cr_assert_eq(iovirt_viommu_translate(s.v, 0x10000, IOVIRT_PROT_READ, &r), 0);
		cr_assert_eq(r.gpa, s.a[2]);
		/* read-only page: cached for a read, a write walks and is refused */
		cr_assert_eq(iovirt_viommu_translate(s.v, 0x11000, IOVIRT_PROT_READ, &r), 0);
		cr_assert_eq(iovirt_viommu_translate(s.v, 0x11000, IOVIRT_PROT_WRITE, &r), IOVIRT_EPERM);
		cr_assert_eq(r.fault, IOVIRT_GPT_PERMISSION);
		/* a 2 MiB page: one entry for all of it */
		cr_assert_eq(iovirt_viommu_translate(s.v, 0x200000, IOVIRT_PROT_READ, &r), 0);
		cr_assert_eq(iovirt_viommu_translate(s.v, 0x3ff000, IOVIRT_PROT_READ, &r), 0);
		cr_assert_eq(r.gpa, s.big + 0x1ff000);
		struct iovirt_viommu_stats vs;
		iovirt_viommu_stats(s.v, &vs);
		cr_assert_eq(vs.hits, 3, "fmt %u: hits %llu", gt_formats[f], (unsigned long long)vs.hits);
		cr_assert_eq(vs.walks, 5);
		/* many pages: the cache keeps only the last 8 */
		for (uint64_t i = 0; i < 16; i++)
			(void)iovirt_viommu_translate(s.v, 0x200000 + 0x1000 * i, IOVIRT_PROT_READ, &r);
		cr_assert_eq(iovirt_viommu_translate(s.v, 0x4000000, IOVIRT_PROT_READ, &r), IOVIRT_ENOENT);
		cr_assert_eq(iovirt_viommu_translate(s.v, 0x10000, 0, &r), IOVIRT_EINVAL);
		cr_assert_eq(iovirt_viommu_translate(NULL, 0x10000, 1, &r), IOVIRT_EINVAL);
		st_fini(&s);
	}
}

/* A new context entry drops every shadow and cached translation and is used from then on; a bad one changes nothing. */
Test(shadow, set_ctx)
{
	struct st s;
	st_init(&s, IOVIRT_PT_FMT_RISCV_G, 0);
	struct iovirt_gpt_result r;
	cr_assert_eq(iovirt_viommu_shadow(s.v, 0x10000, 0x3000, 0, NULL), 3 * 4096);
	cr_assert_eq(iovirt_viommu_translate(s.v, 0x10000, IOVIRT_PROT_READ, &r), 0);
	struct iovirt_gpt_ctx c = s.g.ctx;
	c.mode = 11;
	cr_assert_eq(iovirt_viommu_set_ctx(s.v, &c), IOVIRT_EINVAL);
	cr_assert_eq(host_at(&s, 0x10000, NULL), hpa_of(&s, s.a[0]));
	c = s.g.ctx;
	c.root = gt_table(&s.g, 16384); /* an empty table */
	cr_assert_eq(iovirt_viommu_set_ctx(s.v, &c), 0);
	st_nothing(&s);
	cr_assert_eq(iovirt_viommu_translate(s.v, 0x10000, IOVIRT_PROT_READ, &r), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_viommu_set_ctx(NULL, &c), IOVIRT_EINVAL);
	st_fini(&s);
}

/* Bad arguments of create and shadow are refused with their codes and change nothing. */
Test(shadow, arguments)
{
	struct st s;
	st_init(&s, IOVIRT_PT_FMT_VTD_SL, 0);
	struct iovirt_viommu *v = NULL;
	const struct iovirt_gpt_ctx *c = &s.g.ctx;
	cr_assert_eq(iovirt_viommu_create(NULL, s.g.p, s.dom, s.g.map, s.io, 1, c, &v), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_viommu_create(s.g.ops, s.g.p, NULL, s.g.map, s.io, 1, c, &v), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_viommu_create(s.g.ops, s.g.p, s.dom, s.g.map, s.io, 1, NULL, &v), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_viommu_create(s.g.ops, s.g.p, s.dom, s.g.map, s.io, 1, c, NULL), IOVIRT_EINVAL);
	struct iovirt_host_ops ops = *s.g.ops;
	ops.guest_read = NULL;
	cr_assert_eq(iovirt_viommu_create(&ops, s.g.p, s.dom, s.g.map, s.io, 1, c, &v), IOVIRT_ENOSYS);
	iovirt_posix_fail_alloc_at(s.g.p, 1);
	cr_assert_eq(iovirt_viommu_create(s.g.ops, s.g.p, s.dom, s.g.map, s.io, 1, c, &v), IOVIRT_ENOMEM);
	iovirt_posix_fail_alloc_at(s.g.p, 0);
	cr_assert_null(v);
	struct iovirt_gpt_result r;
	cr_assert_eq(iovirt_viommu_shadow(NULL, 0x10000, 0x1000, 0, &r), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_viommu_shadow(s.v, 0x10000, 0, 0, &r), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_viommu_shadow(s.v, 0x10000, 0x1000, 2, &r), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_viommu_shadow(s.v, 0x10800, 0x1000, 0, &r), IOVIRT_EALIGN);
	cr_assert_eq(iovirt_viommu_shadow(s.v, 0x10000, 0x800, 0, &r), IOVIRT_EALIGN);
	cr_assert_eq(iovirt_viommu_shadow(s.v, UINT64_MAX - 4095, 0x1000, 0, &r), IOVIRT_EOVERFLOW);
	cr_assert_eq(r.err, IOVIRT_EOVERFLOW);
	cr_assert_eq(iovirt_viommu_shadow(s.v, UINT64_C(1) << 48, 0x1000, 0, &r), IOVIRT_ERANGE);
	st_nothing(&s);
	iovirt_viommu_stats(NULL, NULL);
	iovirt_viommu_destroy(NULL);
	st_fini(&s);
}

/* Edges: a shadow beside and around earlier ones fills only the gaps; more shadows than the list first holds; a leaf granting nothing (Arm AF clear) is a hole, refused with STRICT; a hole reaching 2^64 ends the walk (AMD-Vi Mode 6). */
Test(shadow, edges)
{
	struct st s;
	st_init(&s, IOVIRT_PT_FMT_ARM_S2, 0);
	/* a piece of the 2 MiB page first, then all of it: two gaps around it */
	cr_assert_eq(iovirt_viommu_shadow(s.v, 0x300000, 0x2000, 0, NULL), 0x2000);
	cr_assert_eq(iovirt_viommu_shadow(s.v, 0x200000, 0x200000, 0, NULL), 0x200000 - 0x2000);
	struct iovirt_viommu_stats vs;
	iovirt_viommu_stats(s.v, &vs);
	cr_assert_eq(vs.shadows, 3);
	cr_assert_eq(host_at(&s, 0x3ff000, NULL), hpa_of(&s, s.big) + 0x1ff000);
	/* 40 more guest pages: the list grows past its first 16 */
	for (uint64_t i = 0; i < 40; i++)
		gt_map(&s.g, 0x1000000 + 0x1000 * i, s.big + 0x1000 * i, 1, GT_RW);
	cr_assert_eq(iovirt_viommu_shadow(s.v, 0x1000000, 40 * 0x1000, 0, NULL), 40 * 0x1000);
	for (uint64_t i = 0; i < 40; i++)
		cr_assert_eq(host_at(&s, 0x1000000 + 0x1000 * i, NULL), hpa_of(&s, s.big) + 0x1000 * i);
	cr_assert_eq(iovirt_viommu_inval(s.v, 0, 0), 0x200000 + 40 * 0x1000);
	/* AF clear: nothing granted */
	*gt_slot(&s.g, 0x10000, 1) &= ~(UINT64_C(1) << 10);
	struct iovirt_gpt_result r;
	cr_assert_eq(iovirt_viommu_shadow(s.v, 0x10000, 0x2000, 0, &r), 0x1000);
	cr_assert_eq(host_at(&s, 0x10000, NULL), ~UINT64_C(0));
	cr_assert_eq(iovirt_viommu_shadow(s.v, 0x10000, 0x1000, IOVIRT_VIOMMU_STRICT, &r), IOVIRT_EPERM);
	cr_assert_eq(r.fault, IOVIRT_GPT_PERMISSION);
	cr_assert_eq(iovirt_viommu_translate(s.v, 0x10000, IOVIRT_PROT_READ, NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_viommu_inval(s.v, 0, 0), 0x1000);
	/* AMD-Vi Mode 6 with an empty root: the hole's entry covers up to 2^64 */
	struct iovirt_gpt_ctx c = { .size = sizeof(c), .format = IOVIRT_PT_FMT_AMD_V1, .levels = 6,
				    .root = gt_table(&s.g, 4096) };
	cr_assert_eq(iovirt_viommu_set_ctx(s.v, &c), 0);
	cr_assert_eq(iovirt_viommu_shadow(s.v, UINT64_MAX - 0x1fff, 0x1000, 0, &r), 0);
	cr_assert_eq(r.level, 6);
	cr_assert_eq(iovirt_viommu_translate(s.v, UINT64_C(1) << 63, IOVIRT_PROT_READ, &r), IOVIRT_ENOENT);
	cr_assert_eq(r.entry_gpa, c.root + 8 * 64);
	/* Mode 1: one level-1 table */
	c.levels = 1;
	*gt_ptr(&s.g, c.root + 8 * 3) = gt_mk_leaf(IOVIRT_PT_FMT_AMD_V1, 0x9000, 1, GT_RW);
	cr_assert_eq(iovirt_viommu_set_ctx(s.v, &c), 0);
	cr_assert_eq(iovirt_viommu_translate(s.v, 0x3008, IOVIRT_PROT_READ, &r), 0);
	cr_assert_eq(r.gpa, 0x9008);
	cr_assert_eq(iovirt_viommu_translate(s.v, 0x200000, IOVIRT_PROT_READ, &r), IOVIRT_ERANGE);
	/* create: a host without mem_alloc, NULL map or iommu */
	struct iovirt_viommu *v = NULL;
	struct iovirt_host_ops ops = *s.g.ops;
	ops.mem_alloc = NULL;
	cr_assert_eq(iovirt_viommu_create(&ops, s.g.p, s.dom, s.g.map, s.io, 1, &c, &v), IOVIRT_ENOSYS);
	cr_assert_eq(iovirt_viommu_create(s.g.ops, s.g.p, s.dom, NULL, s.io, 1, &c, &v), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_viommu_create(s.g.ops, s.g.p, s.dom, s.g.map, NULL, 1, &c, &v), IOVIRT_EINVAL);
	c.levels = 7;
	cr_assert_eq(iovirt_viommu_create(s.g.ops, s.g.p, s.dom, s.g.map, s.io, 1, &c, &v), IOVIRT_EINVAL);
	cr_assert_null(v);
	st_fini(&s);
}

/* ---- random sequences against a model ---- */

#define MP 64u /* guest iova pages 0x100000 + i * 4 KiB */
#define MG 16u /* guest data pages they may map to */

struct model {
	uint64_t gpa[MP];   /* guest tables now: 0 none */
	unsigned prot[MP];
	uint64_t sgpa[MP];  /* shadowed: 0 none */
	unsigned sprot[MP];
	uint64_t cgpa[MP];  /* the last translation given since an invalidation: 0 none */
};

/* Every iova page is shadowed in the host space as the model says, and the host pins exactly the distinct guest pages shadowed. */
static void model_check(const struct st *s, const struct model *m, uint32_t fmt, unsigned step)
{
	bool pinned[MG] = { false };
	int64_t distinct = 0;
	for (unsigned i = 0; i < MP; i++) {
		unsigned prot = 0;
		const uint64_t at = host_at(s, 0x100000 + 0x1000 * (uint64_t)i, &prot);
		if (!m->sgpa[i]) {
			cr_assert_eq(at, ~UINT64_C(0), "fmt %u step %u page %u mapped", fmt, step, i);
			continue;
		}
		cr_assert_eq(at, hpa_of(s, m->sgpa[i]), "fmt %u step %u page %u", fmt, step, i);
		cr_assert_eq(prot, m->sprot[i]);
		for (unsigned g = 0; g < MG; g++)
			if (m->sgpa[i] == s->g.base + GT_RAM / 2 + 0x1000 * (uint64_t)g && !pinned[g]) {
				pinned[g] = true;
				distinct++;
			}
	}
	cr_assert_eq(iovirt_posix_pinned_pages(s->g.p), distinct, "fmt %u step %u pins", fmt, step);
}

/* Random guest map/unmap (without invalidation), shadows, invalidations and lookups through the cache agree at every step with a model in which a shadow keeps what the tables said when it was made until an invalidation covers its page. */
Test(shadow, model)
{
	for (unsigned f = 0; f < GT_NFMT; f++) {
		const uint32_t fmt = gt_formats[f];
		struct st s;
		st_init(&s, fmt, f & 1 ? 16 : 0);
		struct model m;
		memset(&m, 0, sizeof(m));
		uint64_t rng = 1234 + f;
		for (unsigned step = 0; step < 1500; step++) {
			const unsigned op = (unsigned)(th_rand(&rng) % 8), i = (unsigned)(th_rand(&rng) % MP);
			const unsigned n = 1 + (unsigned)(th_rand(&rng) % 8);
			const uint64_t iova = 0x100000 + 0x1000 * (uint64_t)i;
			const uint64_t len = 0x1000 * (uint64_t)(i + n > MP ? MP - i : n);
			if (op < 3) { /* the guest maps a page */
				const uint64_t gpa = s.g.base + GT_RAM / 2 + 0x1000 * (th_rand(&rng) % MG);
				unsigned prot = 1 + (unsigned)(th_rand(&rng) % 3);
				if (fmt == IOVIRT_PT_FMT_RISCV_G && prot == IOVIRT_PROT_WRITE)
					prot = GT_RW;
				gt_map(&s.g, iova, gpa, 1, prot);
				m.gpa[i] = gpa;
				m.prot[i] = prot;
			} else if (op == 3) { /* the guest unmaps one */
				*gt_slot(&s.g, iova, 1) = 0;
				m.gpa[i] = 0;
			} else if (op < 6) {
				uint64_t want = 0;
				for (unsigned k = i; k < i + len / 0x1000; k++)
					if (!m.sgpa[k] && m.gpa[k]) {
						m.sgpa[k] = m.gpa[k];
						m.sprot[k] = m.prot[k];
						want += 0x1000;
					}
				cr_assert_eq(iovirt_viommu_shadow(s.v, iova, len, 0, NULL), (int64_t)want, "fmt %u step %u", fmt,
					     step);
			} else if (op == 6) {
				uint64_t want = 0;
				for (unsigned k = i; k < i + len / 0x1000; k++) {
					m.cgpa[k] = 0;
					if (m.sgpa[k]) {
						m.sgpa[k] = 0;
						want += 0x1000;
					}
				}
				cr_assert_eq(iovirt_viommu_inval(s.v, iova, len), (int64_t)want);
			} else { /* a device access: the tables now, or what the cache kept since the last invalidation */
				struct iovirt_gpt_result r;
				int err = iovirt_viommu_translate(s.v, iova, IOVIRT_PROT_READ, &r);
				if (!err) {
					cr_assert(r.gpa == m.gpa[i] || (m.cgpa[i] && r.gpa == m.cgpa[i]),
						  "fmt %u step %u: %#llx", fmt, step, (unsigned long long)r.gpa);
					m.cgpa[i] = r.gpa;
				}
			}
			model_check(&s, &m, fmt, step);
		}
		st_fini(&s);
	}
}

/* Only what this call installed is rolled back: a shadow made earlier survives every allocation and every host pin failing in turn in a later, wider shadow (strict and batched domains), mapped and pinned as before. */
Test(shadow, fail_at_n_keeps_earlier)
{
	for (uint32_t batch = 0; batch <= 4; batch += 4) {
		for (int pin = 0; pin < 2; pin++) {
			struct st s;
			st_init(&s, IOVIRT_PT_FMT_VTD_SL, batch);
			cr_assert_eq(iovirt_viommu_shadow(s.v, 0x11000, 0x1000, 0, NULL), 0x1000);
			unsigned fired = 0;
			for (uint64_t n = 1;; n++) {
				if (pin)
					iovirt_posix_fail_pin_at(s.g.p, n);
				else
					iovirt_posix_fail_alloc_at(s.g.p, n);
				int64_t r = iovirt_viommu_shadow(s.v, 0x10000, 0x3f0000, 0, NULL);
				bool hit = iovirt_posix_fail_fired(s.g.p);
				iovirt_posix_fail_pin_at(s.g.p, 0);
				iovirt_posix_fail_alloc_at(s.g.p, 0);
				if (!hit) {
					cr_assert_eq(r, 2 * 4096 + (2 << 20));
					break;
				}
				cr_assert_lt(r, 0, "n %llu", (unsigned long long)n);
				fired++;
				cr_assert_eq(host_at(&s, 0x11000, NULL), hpa_of(&s, s.a[1]), "n %llu", (unsigned long long)n);
				cr_assert_eq(host_at(&s, 0x10000, NULL), ~UINT64_C(0));
				cr_assert_eq(host_at(&s, 0x200000, NULL), ~UINT64_C(0));
				cr_assert_eq(iovirt_posix_pinned_pages(s.g.p), 1);
				struct iovirt_viommu_stats vs;
				iovirt_viommu_stats(s.v, &vs);
				cr_assert_eq(vs.shadows, 1);
				cr_assert_eq(vs.shadow_bytes, 0x1000);
			}
			cr_assert_gt(fired, 1);
			cr_assert_eq(iovirt_viommu_inval(s.v, 0, 0), 3 * 4096 + (2 << 20));
			st_nothing(&s);
			st_fini(&s);
		}
	}
}

/* The part of a skipping AMD-Vi PDE's range whose skipped address bits are not 0 (a legal guest layout) is a hole: skipped, the pages around it shadowed; refused with STRICT (ERANGE, res->iova where); a range beyond the input width stays the caller's error. */
Test(shadow, range_faults_are_holes)
{
	struct st s;
	st_init(&s, IOVIRT_PT_FMT_AMD_V1, 0);
	/* level-3 entry of [1 GiB, 2 GiB): a PDE skipping level 2 (Next Level 1) */
	const uint64_t l1 = gt_table(&s.g, 4096);
	*gt_slot(&s.g, UINT64_C(0x40000000), 3) = l1 | 1 | (UINT64_C(1) << 9) | (UINT64_C(3) << 61);
	*gt_ptr(&s.g, l1 + 8) = gt_mk_leaf(IOVIRT_PT_FMT_AMD_V1, s.a[0], 1, GT_RW);
	struct iovirt_gpt_result r;
	cr_assert_eq(iovirt_viommu_translate(s.v, 0x40001000, IOVIRT_PROT_READ, &r), 0);
	cr_assert_eq(iovirt_viommu_translate(s.v, 0x40201000, IOVIRT_PROT_READ, &r), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_viommu_shadow(s.v, 0x40000000, 0x400000, 0, &r), 0x1000, "%d", r.err);
	cr_assert_eq(host_at(&s, 0x40001000, NULL), hpa_of(&s, s.a[0]));
	/* the 2 MiB page beyond the skipping PDE's range is still reached */
	cr_assert_eq(iovirt_viommu_inval(s.v, 0, 0), 0x1000);
	cr_assert_eq(iovirt_viommu_shadow(s.v, 0x200000, UINT64_C(0x80000000), 0, &r), 0x1000 + (2 << 20));
	cr_assert_eq(host_at(&s, 0x40001000, NULL), hpa_of(&s, s.a[0]));
	cr_assert_eq(host_at(&s, 0x200000, NULL), hpa_of(&s, s.big));
	cr_assert_eq(iovirt_viommu_inval(s.v, 0, 0), 0x1000 + (2 << 20));
	cr_assert_eq(iovirt_viommu_shadow(s.v, 0x40200000, 0x1000, IOVIRT_VIOMMU_STRICT, &r), IOVIRT_ERANGE);
	cr_assert_eq(r.fault, IOVIRT_GPT_RANGE);
	cr_assert_eq(r.iova, 0x40200000);
	st_nothing(&s);
	/* beyond the 48-bit input: refused, nothing installed */
	const uint64_t top = (UINT64_C(1) << 48) - 0x1000;
	gt_map(&s.g, top, s.a[2], 1, GT_RW);
	cr_assert_eq(iovirt_viommu_shadow(s.v, top, 0x2000, 0, &r), IOVIRT_ERANGE);
	cr_assert_eq(r.iova, UINT64_C(1) << 48);
	cr_assert_eq(host_at(&s, top, NULL), ~UINT64_C(0));
	cr_assert_eq(iovirt_posix_pinned_pages(s.g.p), 0);
	st_fini(&s);
}
