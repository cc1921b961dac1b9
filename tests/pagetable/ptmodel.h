/* SPDX-License-Identifier: MIT */
/*
 * A slow, obviously correct model of one address space, for differential
 * tests and the fuzz target: a sorted array of runs over a window
 * [0, PTM_WINDOW), each run a stretch of pages of one size with contiguous
 * addresses and one permission. It repeats the library's documented
 * page-size choice (the largest allowed size that both addresses are aligned
 * to and the rest of the range covers) so that unmap's ESPLIT and translate's
 * page size can be predicted. Header-only so that Criterion tests and
 * libFuzzer share it.
 *
 * Runs, not one record per 4 KiB page: an operation costs what it covers (and
 * a shift of the array tail), and emptying the model between fuzz inputs
 * costs nothing, where a per-page array made every input pay for the window.
 */
#ifndef IOVIRT_PTMODEL_H
#define IOVIRT_PTMODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iovirt/iovirt.h"

#ifndef PTM_WINDOW
#define PTM_WINDOW (UINT64_C(4) << 30)
#endif

/* Pages [iova, iova + size) -> [pa, pa + size), all of size 1 << shift. */
struct ptm_run {
	uint64_t iova, size, pa;
	uint8_t shift; /* 12, 21 or 30 */
	uint8_t prot;
};

struct ptm {
	struct ptm_run *run; /* sorted by iova, disjoint */
	size_t n, cap;
	uint64_t pgsizes;
	uint64_t mapped; /* bytes */
};

static inline bool ptm_init(struct ptm *m, uint64_t pgsizes)
{
	m->cap = 64;
	m->run = malloc(m->cap * sizeof(*m->run));
	m->n = 0;
	m->pgsizes = pgsizes;
	m->mapped = 0;
	return m->run != NULL;
}

/* Empties the model again (fuzzing resets per input): the runs are just forgotten. */
static inline void ptm_reset(struct ptm *m, uint64_t pgsizes)
{
	m->n = 0;
	m->pgsizes = pgsizes;
	m->mapped = 0;
}

static inline void ptm_fini(struct ptm *m)
{
	free(m->run);
}

static inline uint64_t ptm_run_end(const struct ptm_run *r)
{
	return r->iova + r->size;
}

/* Index of the first run that ends after iova (m->n when none). */
static inline size_t ptm_find(const struct ptm *m, uint64_t iova)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ptm_run_end(&m->run[mid]) <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The run containing iova, or NULL. */
static inline const struct ptm_run *ptm_lookup(const struct ptm *m, uint64_t iova)
{
	size_t i = ptm_find(m, iova);
	return i < m->n && m->run[i].iova <= iova ? &m->run[i] : NULL;
}

/* Replaces runs [i, j) with the k runs of add (a model that cannot grow aborts the test). */
static inline void ptm_splice(struct ptm *m, size_t i, size_t j, const struct ptm_run *add, size_t k)
{
	if (m->n - (j - i) + k > m->cap) {
		size_t cap = 2 * m->cap + k;
		struct ptm_run *r = realloc(m->run, cap * sizeof(*r));
		if (!r)
			abort();
		m->run = r;
		m->cap = cap;
	}
	memmove(&m->run[i + k], &m->run[j], (m->n - j) * sizeof(*m->run));
	memcpy(&m->run[i], add, k * sizeof(*add));
	m->n = m->n - (j - i) + k;
}

/* Expected result of map; applies it when it succeeds. */
static inline int ptm_map(struct ptm *m, uint64_t iova, uint64_t pa, uint64_t size, unsigned prot)
{
	if (!size || !prot || (prot & ~3u))
		return IOVIRT_EINVAL;
	if ((iova | pa | size) & 4095)
		return IOVIRT_EALIGN;
	if (iova + size < iova || pa + size < pa)
		return IOVIRT_EOVERFLOW;
	if (iova + size > PTM_WINDOW)
		return IOVIRT_ERANGE; /* tests keep to the window; the window is the model's range */
#ifdef PT_TEST_FORMAT
	/* What the format's entries hold (pagetable.h, iovirt_pt_map). */
	const unsigned pa_bits = PT_TEST_FORMAT == IOVIRT_PT_FMT_ARM_S2 ? 48 : PT_TEST_FORMAT == IOVIRT_PT_FMT_RISCV_G ? 56 : 52;
	if (PT_TEST_FORMAT == IOVIRT_PT_FMT_RISCV_G && prot == IOVIRT_PROT_WRITE)
		return IOVIRT_EINVAL; /* R = 0, W = 1 is reserved in a RISC-V PTE */
#else
	const unsigned pa_bits = 52;
#endif
	if (pa + size > (UINT64_C(1) << pa_bits))
		return IOVIRT_EINVAL;
	const uint64_t end = iova + size;
	const size_t at = ptm_find(m, iova);
	if (at < m->n && m->run[at].iova < end)
		return IOVIRT_EEXIST;
	/* Page by page, as the library chooses; pages of one size make one run
	 * (at most 4K, 2M, 1G, 2M, 4K in that order). */
	struct ptm_run add[8];
	size_t k = 0;
	uint64_t v = iova, p = pa;
	while (v < end) {
		unsigned sh = 12;
		if ((m->pgsizes & IOVIRT_PAGE_1G) && !(v & ((1u << 30) - 1)) && !(p & ((1u << 30) - 1)) &&
		    end - v >= (1u << 30))
			sh = 30;
		else if ((m->pgsizes & IOVIRT_PAGE_2M) && !(v & ((1u << 21) - 1)) && !(p & ((1u << 21) - 1)) &&
			 end - v >= (1u << 21))
			sh = 21;
		if (k && add[k - 1].shift == sh) {
			add[k - 1].size += UINT64_C(1) << sh;
		} else {
			if (k == 8)
				abort(); /* the choice above cannot alternate more often */
			add[k++] = (struct ptm_run){ v, UINT64_C(1) << sh, p, (uint8_t)sh, (uint8_t)prot };
		}
		v += UINT64_C(1) << sh;
		p += UINT64_C(1) << sh;
	}
	ptm_splice(m, at, at, add, k);
	m->mapped += size;
	return 0;
}

/* Base of the page containing iova (which must be mapped). */
static inline uint64_t ptm_base(const struct ptm *m, uint64_t iova)
{
	return iova & ~((UINT64_C(1) << ptm_lookup(m, iova)->shift) - 1);
}

/* Whether iova lies inside a large page without being its first byte (or, with
 * end set, without that page ending right after it). */
static inline bool ptm_cuts_page(const struct ptm *m, uint64_t iova, bool end)
{
	const struct ptm_run *r = ptm_lookup(m, iova);
	if (!r || r->shift == 12)
		return false;
	const uint64_t base = iova & ~((UINT64_C(1) << r->shift) - 1);
	return end ? base + (UINT64_C(1) << r->shift) - 1 != iova : base != iova;
}

/* Expected result of unmap (bytes or error); applies it. */
static inline int64_t ptm_unmap(struct ptm *m, uint64_t iova, uint64_t size)
{
	if (!size)
		return IOVIRT_EINVAL;
	if ((iova | size) & 4095)
		return IOVIRT_EALIGN;
	if (iova + size < iova)
		return IOVIRT_EOVERFLOW;
	if (iova + size > PTM_WINDOW)
		return IOVIRT_ERANGE;
	const uint64_t end = iova + size;
	if (ptm_cuts_page(m, iova, false) || ptm_cuts_page(m, end - 1, true))
		return IOVIRT_ESPLIT;
	/* Runs [i, j) meet the range; what sticks out of it on either side stays. */
	const size_t i = ptm_find(m, iova);
	size_t j = i;
	int64_t bytes = 0;
	struct ptm_run keep[2];
	size_t k = 0;
	for (; j < m->n && m->run[j].iova < end; j++) {
		struct ptm_run r = m->run[j];
		const uint64_t lo = r.iova > iova ? r.iova : iova;
		const uint64_t hi = ptm_run_end(&r) < end ? ptm_run_end(&r) : end;
		bytes += (int64_t)(hi - lo);
		if (r.iova < iova)
			keep[k++] = (struct ptm_run){ r.iova, iova - r.iova, r.pa, r.shift, r.prot };
		if (ptm_run_end(&r) > end)
			keep[k++] = (struct ptm_run){ end, ptm_run_end(&r) - end, r.pa + (end - r.iova), r.shift,
						      r.prot };
	}
	ptm_splice(m, i, j, keep, k);
	m->mapped -= (uint64_t)bytes;
	return bytes;
}

/* Expected result of split; applies it. */
static inline int ptm_split(struct ptm *m, uint64_t iova)
{
	const size_t i = ptm_find(m, iova);
	if (i == m->n || m->run[i].iova > iova)
		return IOVIRT_ENOENT;
	const struct ptm_run r = m->run[i];
	if (r.shift == 12)
		return IOVIRT_EINVAL;
	const uint64_t page = UINT64_C(1) << r.shift, base = iova & ~(page - 1);
	/* The next smaller size the space allows (4 KiB always is). */
	const uint8_t sh = r.shift == 30 && (m->pgsizes & IOVIRT_PAGE_2M) ? 21 : 12;
	struct ptm_run add[3];
	size_t k = 0;
	if (base > r.iova)
		add[k++] = (struct ptm_run){ r.iova, base - r.iova, r.pa, r.shift, r.prot };
	add[k++] = (struct ptm_run){ base, page, r.pa + (base - r.iova), sh, r.prot };
	if (base + page < ptm_run_end(&r))
		add[k++] = (struct ptm_run){ base + page, ptm_run_end(&r) - base - page,
					     r.pa + (base + page - r.iova), r.shift, r.prot };
	ptm_splice(m, i, i + 1, add, k);
	return 0;
}

/* Expected translate. */
static inline int ptm_translate(const struct ptm *m, uint64_t iova, unsigned access, struct iovirt_xlate *x)
{
	const struct ptm_run *r = ptm_lookup(m, iova);
	if (!r)
		return IOVIRT_ENOENT;
	x->pa = r->pa + (iova - r->iova);
	x->page_size = UINT64_C(1) << r->shift;
	x->prot = r->prot;
	x->level = r->shift == 12 ? 1 : r->shift == 21 ? 2 : 3;
	return (access & ~(unsigned)r->prot) ? IOVIRT_EPERM : 0;
}

/* Bytes the model maps inside [lo, hi); *first and *last bound them (when any). */
static inline uint64_t ptm_mapped_in(const struct ptm *m, uint64_t lo, uint64_t hi, uint64_t *first,
				     uint64_t *last)
{
	uint64_t bytes = 0;
	for (size_t i = ptm_find(m, lo); i < m->n && m->run[i].iova < hi; i++) {
		const uint64_t a = m->run[i].iova > lo ? m->run[i].iova : lo;
		const uint64_t b = ptm_run_end(&m->run[i]) < hi ? ptm_run_end(&m->run[i]) : hi;
		if (!bytes && first)
			*first = a;
		if (last)
			*last = b;
		bytes += b - a;
	}
	return bytes;
}

/* Compares the library's foreach output with the model; returns the first bad iova + 1, or 0. */
struct ptm_cmp {
	const struct ptm *m;
	uint64_t next; /* next iova expected to be checked */
	uint64_t bad;
	uint64_t bytes;
};

static inline int ptm_cmp_run(void *arg, const struct iovirt_mapping *r)
{
	struct ptm_cmp *c = arg;
	if (r->iova < c->next || r->iova + r->size > PTM_WINDOW) {
		c->bad = r->iova + 1;
		return 1;
	}
	/* The model's runs must cover the library's run without a gap, alike. */
	for (uint64_t o = 0; o < r->size;) {
		const struct ptm_run *g = ptm_lookup(c->m, r->iova + o);
		if (!g || g->pa + (r->iova + o - g->iova) != r->pa + o || g->prot != r->prot) {
			c->bad = r->iova + o + 1;
			return 1;
		}
		o = ptm_run_end(g) - r->iova;
	}
	c->next = r->iova + r->size;
	c->bytes += r->size;
	return 0;
}

/* 0 when the library's space asid holds exactly the model's mappings: every
 * page the library maps is mapped alike in the model, and both map as many
 * bytes, so the model maps nothing the library lacks. */
static inline uint64_t ptm_compare(const struct ptm *m, const struct iovirt_iommu *io, uint32_t asid)
{
	struct ptm_cmp c = { .m = m };
	if (iovirt_pt_foreach(io, asid, ptm_cmp_run, &c))
		return c.bad ? c.bad : 1;
	return c.bytes == m->mapped ? 0 : 1;
}

#endif
