/* SPDX-License-Identifier: MIT */
/*
 * A slow, obviously correct model of one address space, for differential
 * tests and the fuzz target: a flat array with one record per 4 KiB page of a
 * window [0, PTM_WINDOW). It repeats the library's documented page-size choice
 * (the largest allowed size that both addresses are aligned to and the rest of
 * the range covers) so that unmap's ESPLIT and translate's page size can be
 * predicted. Header-only so that Criterion tests and libFuzzer share it.
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
#define PTM_PAGES (PTM_WINDOW >> 12)

struct ptm_page {
	uint64_t pa;     /* of this 4 KiB page; 0 with size 0 means unmapped */
	uint32_t size;   /* size class of the page containing it: 12, 21, 30; 0 = none */
	uint8_t prot;
};

struct ptm {
	struct ptm_page *pg;
	uint64_t pgsizes;
	uint64_t mapped;       /* bytes */
	uint64_t lo_pg, hi_pg; /* pages ever written lie in [lo_pg, hi_pg) */
};

static inline bool ptm_init(struct ptm *m, uint64_t pgsizes)
{
	m->pg = calloc(PTM_PAGES, sizeof(*m->pg));
	m->pgsizes = pgsizes;
	m->mapped = 0;
	m->lo_pg = PTM_PAGES;
	m->hi_pg = 0;
	return m->pg != NULL;
}

/* Empties the model again, touching only the pages ever written (fuzzing resets per input). */
static inline void ptm_reset(struct ptm *m, uint64_t pgsizes)
{
	if (m->lo_pg < m->hi_pg)
		memset(&m->pg[m->lo_pg], 0, (m->hi_pg - m->lo_pg) * sizeof(*m->pg));
	m->pgsizes = pgsizes;
	m->mapped = 0;
	m->lo_pg = PTM_PAGES;
	m->hi_pg = 0;
}

static inline void ptm_fini(struct ptm *m)
{
	free(m->pg);
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
	if (pa + size > (UINT64_C(1) << 52))
		return IOVIRT_EINVAL;
	for (uint64_t v = iova; v < iova + size; v += 4096)
		if (m->pg[v >> 12].size)
			return IOVIRT_EEXIST;
	uint64_t v = iova, p = pa, end = iova + size;
	if ((iova >> 12) < m->lo_pg)
		m->lo_pg = iova >> 12;
	if ((end >> 12) > m->hi_pg)
		m->hi_pg = end >> 12;
	while (v < end) {
		unsigned sh = 12;
		if ((m->pgsizes & IOVIRT_PAGE_1G) && !(v & ((1u << 30) - 1)) && !(p & ((1u << 30) - 1)) &&
		    end - v >= (1u << 30))
			sh = 30;
		else if ((m->pgsizes & IOVIRT_PAGE_2M) && !(v & ((1u << 21) - 1)) && !(p & ((1u << 21) - 1)) &&
			 end - v >= (1u << 21))
			sh = 21;
		for (uint64_t o = 0; o < (UINT64_C(1) << sh); o += 4096) {
			struct ptm_page *g = &m->pg[(v + o) >> 12];
			g->pa = p + o;
			g->size = sh;
			g->prot = (uint8_t)prot;
		}
		v += UINT64_C(1) << sh;
		p += UINT64_C(1) << sh;
	}
	m->mapped += size;
	return 0;
}

/* Base of the page containing iova (which must be mapped). */
static inline uint64_t ptm_base(const struct ptm *m, uint64_t iova)
{
	return iova & ~((UINT64_C(1) << m->pg[iova >> 12].size) - 1);
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
	const struct ptm_page *a = &m->pg[iova >> 12], *b = &m->pg[(end - 1) >> 12];
	if (a->size > 12 && ptm_base(m, iova) < iova)
		return IOVIRT_ESPLIT;
	if (b->size > 12 && ptm_base(m, end - 1) + (UINT64_C(1) << b->size) > end)
		return IOVIRT_ESPLIT;
	int64_t bytes = 0;
	for (uint64_t v = iova; v < end; v += 4096) {
		struct ptm_page *g = &m->pg[v >> 12];
		if (g->size) {
			bytes += 4096;
			memset(g, 0, sizeof(*g));
		}
	}
	m->mapped -= (uint64_t)bytes;
	return bytes;
}

/* Expected result of split; applies it. */
static inline int ptm_split(struct ptm *m, uint64_t iova)
{
	struct ptm_page *g = &m->pg[iova >> 12];
	if (!g->size)
		return IOVIRT_ENOENT;
	if (g->size == 12)
		return IOVIRT_EINVAL;
	const uint64_t base = ptm_base(m, iova);
	/* The next smaller size the space allows (4 KiB always is). */
	const unsigned old = g->size, sh = old == 30 && (m->pgsizes & IOVIRT_PAGE_2M) ? 21 : 12;
	for (uint64_t o = 0; o < (UINT64_C(1) << old); o += 4096)
		m->pg[(base + o) >> 12].size = sh;
	return 0;
}

/* Expected translate. */
static inline int ptm_translate(const struct ptm *m, uint64_t iova, unsigned access, struct iovirt_xlate *x)
{
	const struct ptm_page *g = &m->pg[iova >> 12];
	if (!g->size)
		return IOVIRT_ENOENT;
	x->pa = g->pa + (iova & 4095);
	x->page_size = UINT64_C(1) << g->size;
	x->prot = g->prot;
	x->level = g->size == 12 ? 1 : g->size == 21 ? 2 : 3;
	return (access & ~(unsigned)g->prot) ? IOVIRT_EPERM : 0;
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
	for (uint64_t o = 0; o < r->size; o += 4096) {
		const struct ptm_page *g = &c->m->pg[(r->iova + o) >> 12];
		if (!g->size || g->pa != r->pa + o || g->prot != r->prot) {
			c->bad = r->iova + o + 1;
			return 1;
		}
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
