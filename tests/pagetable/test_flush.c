/* SPDX-License-Identifier: MIT */
/*
 * The flush discipline: an unmap that clears anything makes exactly one
 * invalidation, it covers every entry cleared, and every table page is
 * released only after an invalidation (with paging-structure caches) that
 * covers the whole span the page translated.
 */
#include "pt_test.h"
#include "ptmodel.h"

#define MAXEV 8192

struct tbl_span {
	uint64_t pa, iova, size;
};

static struct tbl_span spans[8192];
static size_t nspans;

static int note_table(void *arg, const struct iovirt_pt_table *t)
{
	(void)arg;
	if (nspans < 8192)
		spans[nspans++] = (struct tbl_span){ t->pa, t->iova, UINT64_C(1) << (12 + 9 * t->level) };
	return 0;
}

static const struct tbl_span *span_of(uint64_t pa)
{
	for (size_t i = 0; i < nspans; i++)
		if (spans[i].pa == pa)
			return &spans[i];
	return NULL;
}

/* Checks one logged operation: frees only after covering invalidations; returns the inval count. */
static size_t check_log(struct iovirt_posix *p, uint64_t *lo, uint64_t *hi, bool *leaf_only)
{
	static struct iovirt_posix_event ev[MAXEV];
	size_t n = iovirt_posix_log_read(p, ev, MAXEV), invals = 0;
	cr_assert_lt(n, MAXEV);
	for (size_t i = 0; i < n; i++) {
		if (ev[i].cb == IOVIRT_CB_IOTLB_INVAL) {
			invals++;
			*lo = ev[i].a;
			*hi = ev[i].a + ev[i].b;
			*leaf_only = ev[i].c >> 8;
		} else if (ev[i].cb == IOVIRT_CB_TABLE_FREE) {
			const struct tbl_span *s = span_of(ev[i].b);
			cr_assert_not_null(s, "a page that was no table was released");
			cr_assert_eq(invals, 1, "table page released before the invalidation");
			cr_assert_not(*leaf_only, "a table went without a paging-structure invalidation");
			cr_assert(*lo <= s->iova && s->iova + s->size <= *hi,
				  "table [0x%llx, +0x%llx) released outside the invalidated range",
				  (unsigned long long)s->iova, (unsigned long long)s->size);
		}
	}
	return invals;
}

/* Random maps and unmaps: each unmap obeys the discipline, and covers what it cleared. */
Test(pt_flush, unmap_discipline)
{
	struct pt_fix f;
	struct ptm m;
	uint64_t s = 42;
	pt_fix_init(&f, IOVIRT_RECLAIM_AFTER_INVAL);
	pt_fix_space(&f, 1, 39, 0);
	cr_assert(ptm_init(&m, IOVIRT_PAGES_ALL));
	cr_assert_eq(iovirt_posix_log_enable(f.posix, MAXEV), 0);
	int unmaps_with_frees = 0;
	for (int i = 0; i < 600; i++) {
		uint64_t iova = (th_rand(&s) % PTM_WINDOW) & ~(th_rand(&s) % 2 ? MiB(2) - 1 : KiB(4) - 1);
		uint64_t size = th_rand(&s) % 3 ? KiB(4) * (1 + th_rand(&s) % 700) : MiB(2) * (1 + th_rand(&s) % 4);
		if (iova + size > PTM_WINDOW)
			size = PTM_WINDOW - iova;
		if (th_rand(&s) % 2) {
			uint64_t pa = iova ^ GiB(8);
			cr_assert_eq(iovirt_pt_map(f.io, 1, iova, pa, size, RW), ptm_map(&m, iova, pa, size, RW));
			continue;
		}
		nspans = 0;
		cr_assert_eq(iovirt_pt_foreach_table(f.io, 1, note_table, NULL), 0);
		/* What the model says is mapped inside the range before the unmap. */
		uint64_t first = UINT64_MAX, last = 0;
		ptm_mapped_in(&m, iova, iova + size, &first, &last);
		iovirt_posix_log_clear(f.posix);
		int64_t got = iovirt_pt_unmap(f.io, 1, iova, size);
		cr_assert_eq(got, ptm_unmap(&m, iova, size));
		uint64_t lo = 0, hi = 0;
		bool leaf_only = true;
		size_t invals = check_log(f.posix, &lo, &hi, &leaf_only);
		/* (an unmap that finds no leaf but covers a kept table drops it: one invalidation
		 * with leaf_only = 0) */
		cr_assert(invals == (got > 0 ? 1u : 0u) || (got == 0 && invals == 1 && !leaf_only),
			  "one invalidation per unmap that cleared anything");
		if (got > 0)
			cr_assert(lo <= first && last <= hi, "cleared leaves outside the invalidation");
		unmaps_with_frees += !leaf_only;
		cr_assert_eq(ptm_compare(&m, f.io, 1), 0);
	}
	cr_assert_gt(unmaps_with_frees, 10, "the sequence released tables often");
	ptm_fini(&m);
	pt_fix_done(&f);
}

/* In deferred mode nothing is released by unmap itself; reclaim releases after the invalidation. */
Test(pt_flush, deferred_release_order)
{
	struct pt_fix f;
	pt_fix_init_nokeep(&f, IOVIRT_RECLAIM_DEFERRED);
	pt_fix_space(&f, 1, 48, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(3), 0, MiB(8), RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(3) + MiB(8), 0, KiB(12), RW), 0);
	nspans = 0;
	cr_assert_eq(iovirt_pt_foreach_table(f.io, 1, note_table, NULL), 0);
	cr_assert_eq(iovirt_posix_log_enable(f.posix, MAXEV), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(3), MiB(16)), MiB(8) + KiB(12));
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_FREE), 0);
	cr_assert_eq(iovirt_pt_reclaim(f.io), 3, "the L1, L2 and L3 tables of the range");
	uint64_t lo, hi;
	bool leaf_only;
	cr_assert_eq(check_log(f.posix, &lo, &hi, &leaf_only), 1);
	pt_fix_done(&f);
}

/* A split is followed by one invalidation covering the large page, including table caches. */
Test(pt_flush, split_invalidates)
{
	struct pt_fix f;
	pt_fix_init(&f, IOVIRT_RECLAIM_AFTER_INVAL);
	pt_fix_space(&f, 1, 48, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, MiB(6), MiB(6), MiB(2), RW), 0);
	cr_assert_eq(iovirt_posix_log_enable(f.posix, 16), 0);
	cr_assert_eq(iovirt_pt_split(f.io, 1, MiB(7)), 0);
	struct iovirt_posix_event ev[16];
	size_t n = iovirt_posix_log_read(f.posix, ev, 16), invals = 0;
	for (size_t i = 0; i < n; i++)
		if (ev[i].cb == IOVIRT_CB_IOTLB_INVAL) {
			invals++;
			cr_assert_eq(ev[i].a, MiB(6));
			cr_assert_eq(ev[i].b, MiB(2));
			cr_assert_eq(ev[i].c >> 8, 0);
		}
	cr_assert_eq(invals, 1);
	pt_fix_done(&f);
}

/* Gathered unmaps make no invalidation until the flush, which makes one covering them all;
 * tables unlinked by them are released only after it. */
Test(pt_flush, gather_batches_invalidations)
{
	struct pt_fix f;
	pt_fix_init_nokeep(&f, IOVIRT_RECLAIM_AFTER_INVAL);
	pt_fix_space(&f, 1, 48, 0);
	pt_fix_space(&f, 2, 48, 0);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(iovirt_pt_map(f.io, 1, MiB(2) * (uint64_t)i, GiB(1), KiB(4), RW), 0);
	nspans = 0;
	cr_assert_eq(iovirt_pt_foreach_table(f.io, 1, note_table, NULL), 0);
	cr_assert_eq(iovirt_posix_log_enable(f.posix, MAXEV), 0);
	struct iovirt_pt_gather g;
	iovirt_pt_gather_init(&g, 1);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(iovirt_pt_unmap_gather(f.io, 1, MiB(2) * (uint64_t)i, KiB(4), &g), KiB(4));
	cr_assert_eq(iovirt_pt_unmap_gather(f.io, 1, GiB(3), KiB(4), &g), 0, "a hole adds nothing");
	cr_assert_eq(iovirt_pt_unmap_gather(f.io, 2, 0, KiB(4), &g), IOVIRT_EINVAL, "another ASID");
	cr_assert_eq(g.pending, 8);
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_IOTLB_INVAL), 0, "nothing invalidated yet");
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_FREE), 0, "nothing released yet");
	struct iovirt_pt_stats st;
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(iovirt_pt_cached(f.io), 0, "nor kept for reuse");
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(f.io, 1, 0, 1, &x), IOVIRT_ENOENT, "the entries are gone already");
	iovirt_pt_gather_flush(f.io, &g);
	iovirt_pt_stats(f.io, &st);
	cr_assert_gt(iovirt_pt_cached(f.io), 0, "after the invalidation they are");
	iovirt_pt_trim(f.io); /* to the host, so the log shows the order */
	uint64_t lo, hi;
	bool leaf_only;
	cr_assert_eq(check_log(f.posix, &lo, &hi, &leaf_only), 1);
	cr_assert(lo <= 0 && MiB(14) + KiB(4) <= hi);
	cr_assert_not(leaf_only);
	cr_assert_gt(iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_FREE), 0);
	cr_assert_eq(g.pending, 0);
	iovirt_pt_gather_flush(f.io, &g);
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_IOTLB_INVAL), 1, "an empty flush invalidates nothing");
	pt_fix_done(&f);
}
