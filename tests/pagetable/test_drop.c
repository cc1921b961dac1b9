/* SPDX-License-Identifier: MIT */
/*
 * Unmaps whose range covers whole tables drop them whole (issue 13): one
 * cleared upper entry, one invalidation with leaf_only = 0, the subtree
 * retired without its leaves being read or cleared, the bytes returned and
 * the table counts right.
 */
#include "pt_test.h"
#include "vtd_walk.h"

#define MAXEV 4096

static uint64_t l1_pa;
static uint64_t l1_iova;

static int find_l1(void *arg, const struct iovirt_pt_table *t)
{
	(void)arg;
	if (t->level == 1 && t->iova == l1_iova)
		l1_pa = t->pa;
	return 0;
}

/* Counts the invalidations in the log; the last one's leaf_only in *leaf_only. */
static size_t invals(struct iovirt_posix *p, bool *leaf_only)
{
	static struct iovirt_posix_event ev[MAXEV];
	size_t n = iovirt_posix_log_read(p, ev, MAXEV), k = 0;
	for (size_t i = 0; i < n; i++)
		if (ev[i].cb == IOVIRT_CB_IOTLB_INVAL) {
			k++;
			*leaf_only = ev[i].c >> 8;
		}
	return k;
}

/* A 2 MiB unmap over a full leaf table: one invalidation with table caches,
 * and the retired leaf table still holds its 512 entries (never visited). */
Test(pt_drop, leaf_table_dropped_unread)
{
	struct pt_fix f;
	pt_fix_init(&f, IOVIRT_RECLAIM_DEFERRED);
	pt_fix_space(&f, 1, 48, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), KiB(4), MiB(2), RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1) + MiB(2), MiB(64), KiB(4), RW), 0); /* keeps the parent */
	l1_iova = GiB(1);
	l1_pa = 0;
	cr_assert_eq(iovirt_pt_foreach_table(f.io, 1, find_l1, NULL), 0);
	cr_assert_neq(l1_pa, 0);
	cr_assert_eq(iovirt_posix_log_enable(f.posix, MAXEV), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1), MiB(2)), (int64_t)MiB(2));
	bool leaf_only = true;
	cr_assert_eq(invals(f.posix, &leaf_only), 1);
	cr_assert_not(leaf_only);
	const uint64_t *page = vtd_walk_page(l1_pa); /* retired, not yet reclaimed */
	for (unsigned i = 0; i < 512; i++)
		cr_assert_neq(page[i], 0, "leaf %u of a dropped table was cleared one by one", i);
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(f.io, 1, GiB(1) + KiB(8), IOVIRT_PROT_READ, &x), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_pt_translate(f.io, 1, GiB(1) + MiB(2), IOVIRT_PROT_READ, &x), 0);
	cr_assert_eq(iovirt_pt_reclaim(f.io), 1);
	pt_fix_done(&f);
}

/* A 1 GiB unmap over a mixed, partly empty subtree returns exactly the bytes
 * mapped, and every table of it is freed (AFTER_INVAL: at once). */
Test(pt_drop, subtree_bytes_and_tables)
{
	struct pt_fix f;
	pt_fix_init(&f, IOVIRT_RECLAIM_AFTER_INVAL);
	pt_fix_space(&f, 1, 48, 0);
	struct iovirt_pt_stats st0, st;
	iovirt_pt_stats(f.io, &st0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(2), KiB(4), KiB(20), RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(2) + MiB(10), MiB(2), MiB(2), RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(2) + MiB(100) + KiB(4), MiB(8), KiB(4) * 700, RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(2) + MiB(1020), GiB(4), MiB(4), RW), 0);
	cr_assert_eq(iovirt_posix_log_enable(f.posix, MAXEV), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(2), GiB(1)),
		     (int64_t)(KiB(20) + MiB(2) + KiB(4) * 700 + MiB(4)));
	bool leaf_only = true;
	cr_assert_eq(invals(f.posix, &leaf_only), 1);
	cr_assert_not(leaf_only);
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(st.tables, st0.tables, "every table of the range is gone");
	cr_assert_eq(st.retired, 0);
	iovirt_pt_trim(f.io); /* emptied tables of the range's edges were cached */
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(st.meta_bytes, st0.meta_bytes);
	pt_fix_done(&f);
}

/* 512 GiB of 1 GiB pages: one whole level-3 table, dropped with one invalidation;
 * in deferred mode it waits for reclaim like any unlinked table. */
Test(pt_drop, gib_leaves)
{
	struct pt_fix f;
	pt_fix_init(&f, IOVIRT_RECLAIM_DEFERRED);
	pt_fix_space(&f, 1, 48, 0);
	struct iovirt_pt_stats st;
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(512), GiB(1024), GiB(512), RW), 0);
	cr_assert_eq(iovirt_posix_log_enable(f.posix, MAXEV), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(512), GiB(512)), (int64_t)GiB(512));
	bool leaf_only = true;
	cr_assert_eq(invals(f.posix, &leaf_only), 1);
	cr_assert_not(leaf_only);
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(st.retired, 1);
	cr_assert_eq(st.tables, 1, "the root alone");
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(f.io, 1, GiB(700), IOVIRT_PROT_READ, &x), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_pt_reclaim(f.io), 1);
	pt_fix_done(&f);
}

/* A gathered whole drop is retired at the flush, after the one invalidation,
 * and its whole subtree is counted as retired until then. */
Test(pt_drop, gather_holds_subtree)
{
	struct pt_fix f;
	pt_fix_init(&f, IOVIRT_RECLAIM_DEFERRED);
	pt_fix_space(&f, 1, 48, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), KiB(4), GiB(1), RW), 0); /* L3 + L2 + 512 L1 */
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(3), KiB(4), KiB(4), RW), 0);
	struct iovirt_pt_gather g;
	iovirt_pt_gather_init(&g, 1);
	cr_assert_eq(iovirt_posix_log_enable(f.posix, MAXEV), 0);
	cr_assert_eq(iovirt_pt_unmap_gather(f.io, 1, GiB(1), GiB(1), &g), (int64_t)GiB(1));
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_IOTLB_INVAL), 0);
	iovirt_pt_gather_flush(f.io, &g);
	struct iovirt_pt_stats st;
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(st.retired, 513);
	cr_assert_eq(iovirt_pt_reclaim(f.io), 513);
	pt_fix_done(&f);
}

/* A run of 2 MiB pages is checked whole before any entry is written: a
 * conflict at its 301st entry writes nothing, so no invalidation is needed
 * (entry by entry, 300 pages were written and rolled back with one). */
Test(pt_run, large_run_checked_before_written)
{
	struct pt_fix f;
	pt_fix_init(&f, IOVIRT_RECLAIM_AFTER_INVAL);
	pt_fix_space(&f, 1, 48, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1) + MiB(600) + KiB(4), MiB(1), KiB(4), RW), 0);
	struct iovirt_pt_stats st0, st;
	iovirt_pt_stats(f.io, &st0);
	/* pa 2 MiB but not 1 GiB aligned: 2 MiB pages, not one 1 GiB page */
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), GiB(4) + MiB(2), GiB(1), RW), IOVIRT_EEXIST);
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(st.invalidations, st0.invalidations, "a visible write was rolled back");
	cr_assert_eq(st.tables, st0.tables);
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(f.io, 1, GiB(1), IOVIRT_PROT_READ, &x), IOVIRT_ENOENT);
	/* and the run maps as 2 MiB pages once the range is free */
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1) + MiB(600) + KiB(4), KiB(4)), (int64_t)KiB(4));
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), GiB(4) + MiB(2), GiB(1), RW), 0);
	cr_assert_eq(iovirt_pt_translate(f.io, 1, GiB(1) + MiB(601), IOVIRT_PROT_READ, &x), 0);
	cr_assert_eq(x.page_size, MiB(2));
	cr_assert_eq(x.pa, GiB(4) + MiB(603));
	pt_fix_done(&f);
}
