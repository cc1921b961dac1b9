/* SPDX-License-Identifier: MIT */
/*
 * Kept tables (issue 13): a table an unmap empties stays linked for the next
 * map there, marked in its count, bounded per iommu (params keep_tables),
 * counted by iovirt_pt_kept, released by iovirt_pt_trim / iovirt_pt_reclaim,
 * by an unmap (or a large map) covering it, and by destroy.
 */
#include <stdlib.h>

#include "pt_test.h"

static void fix_keep(struct pt_fix *f, uint32_t reclaim, uint32_t keep, uint32_t cache)
{
	f->posix = th_posix();
	struct iovirt_iommu_params p = { .size = sizeof(p), .format = PT_TEST_FORMAT, .reclaim = reclaim,
					 .table_cache = cache, .keep_tables = keep };
	cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), f->posix, &p, &f->io), 0);
	pt_fix_space(f, 1, 48, 0);
}

static uint64_t tables_in_use(struct pt_fix *f)
{
	struct iovirt_pt_stats st;
	iovirt_pt_stats(f->io, &st);
	return st.tables;
}

#define MAXEV 4096

/* The invalidations and table frees the log holds, in order: every table page freed
 * after an invalidation with leaf_only = 0. Returns the invalidations. */
static size_t frees_after_walk_inval(struct pt_fix *f, size_t *frees)
{
	static struct iovirt_posix_event ev[MAXEV];
	size_t n = iovirt_posix_log_read(f->posix, ev, MAXEV), invals = 0;
	bool walk = false;
	*frees = 0;
	for (size_t i = 0; i < n; i++) {
		if (ev[i].cb == IOVIRT_CB_IOTLB_INVAL) {
			invals++;
			walk |= !(ev[i].c >> 8);
		} else if (ev[i].cb == IOVIRT_CB_TABLE_FREE) {
			cr_assert(walk, "a table page freed before an invalidation with leaf_only = 0");
			(*frees)++;
		}
	}
	return invals;
}

/* An empty-region map+unmap pair leaves its leaf table linked (kept, counted), and the
 * next pair in that region allocates nothing, unlinks nothing and invalidates only the leaf. */
Test(pt_keep, kept_table_reused_without_allocation)
{
	struct pt_fix f;
	fix_keep(&f, IOVIRT_RECLAIM_AFTER_INVAL, 0, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1) + KiB(4), GiB(2), KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1) + KiB(4), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_kept(f.io), 1, "the leaf table, kept (its parents still hold it)");
	cr_assert_eq(tables_in_use(&f), 4, "root, level 3, level 2 and the kept leaf table");
	cr_assert_eq(iovirt_pt_cached(f.io), 0);
	cr_assert_eq(iovirt_posix_log_enable(f.posix, MAXEV), 0);
	const uint64_t tallocs = iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_ALLOC),
		       mallocs = iovirt_posix_count(f.posix, IOVIRT_CB_MEM_ALLOC),
		       tfrees = iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_FREE);
	for (int i = 0; i < 3; i++) {
		const uint64_t iova = GiB(1) + KiB(4) * (uint64_t)(i + 1);
		cr_assert_eq(iovirt_pt_map(f.io, 1, iova, GiB(3), KiB(4), RW), 0);
		struct iovirt_xlate x;
		cr_assert_eq(iovirt_pt_translate(f.io, 1, iova + 5, IOVIRT_PROT_READ, &x), 0);
		cr_assert_eq(x.pa, GiB(3) + 5);
		cr_assert_eq(iovirt_pt_unmap(f.io, 1, iova, KiB(4)), KiB(4));
	}
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_ALLOC), tallocs, "no table allocated");
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_MEM_ALLOC), mallocs, "nor bookkeeping");
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_FREE), tfrees);
	static struct iovirt_posix_event ev[MAXEV];
	const size_t n = iovirt_posix_log_read(f.posix, ev, MAXEV);
	size_t invals = 0;
	for (size_t i = 0; i < n; i++)
		if (ev[i].cb == IOVIRT_CB_IOTLB_INVAL) {
			invals++;
			cr_assert(ev[i].c >> 8, "a leaf invalidation only: no table was unlinked");
		}
	cr_assert_eq(invals, 3);
	cr_assert_eq(iovirt_pt_kept(f.io), 1, "the mark stays through reuse");
	pt_fix_done(&f);
}

/* At most keep_tables tables are kept at once; a table that empties beyond the bound is
 * unlinked (with the tables above it it leaves empty) as without keeping. */
Test(pt_keep, bound_respected)
{
	struct pt_fix f;
	fix_keep(&f, IOVIRT_RECLAIM_AFTER_INVAL, 2, IOVIRT_PT_TABLE_CACHE_OFF);
	for (uint64_t i = 1; i <= 5; i++)
		cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(i), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), 12, "root, one level-3, five level-2 and five leaf tables");
	for (uint64_t i = 1; i <= 5; i++)
		cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(i), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_kept(f.io), 2);
	/* kept: the leaf tables of GiB(1), GiB(2) and their level-2 tables (still holding them),
	 * the level-3 table and the root */
	cr_assert_eq(iovirt_posix_live_tables(f.posix), 6);
	cr_assert_eq(tables_in_use(&f), 6);
	/* a kept table used again and emptied again stays one of the two */
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(2) + KiB(8), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(2) + KiB(8), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_kept(f.io), 2);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), 6);
	pt_fix_done(&f);
}

/* iovirt_pt_trim unlinks the kept tables (and the tables that leaves empty), invalidates
 * with leaf_only = 0 before any page goes, releases them to the host, and the stats show it;
 * a kept table mapped again only loses its mark. */
Test(pt_keep, trim_releases_kept_tables)
{
	struct pt_fix f;
	fix_keep(&f, IOVIRT_RECLAIM_AFTER_INVAL, 0, 0);
	cr_assert_eq(iovirt_pt_space_create(f.io, 2, NULL), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(9), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 2, GiB(1), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(9), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_unmap(f.io, 2, GiB(1), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(9) + KiB(4), 0, KiB(4), RW), 0); /* used again */
	cr_assert_eq(iovirt_pt_kept(f.io), 3);
	cr_assert_eq(tables_in_use(&f), 2 + 5 + 3);
	const int64_t live = iovirt_posix_live_tables(f.posix);
	cr_assert_eq(iovirt_posix_log_enable(f.posix, MAXEV), 0);
	/* space 1: the GiB(1) leaf and level-2 tables; space 2: its three tables */
	cr_assert_eq(iovirt_pt_trim(f.io), 5 + 5, "5 unlinked, then released through the cache");
	size_t frees;
	cr_assert_eq(frees_after_walk_inval(&f, &frees), 2, "one invalidation per space");
	cr_assert_eq(frees, 5);
	cr_assert_eq(iovirt_pt_kept(f.io), 0, "the one in use lost its mark");
	cr_assert_eq(tables_in_use(&f), 2 + 3);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), live - 5);
	cr_assert_eq(iovirt_pt_cached(f.io), 0);
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(f.io, 1, GiB(9) + KiB(4), IOVIRT_PROT_READ, &x), 0);
	/* unmarked now: emptied again it is kept again (the bound has room) */
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(9) + KiB(4), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_kept(f.io), 1);
	cr_assert_eq(iovirt_pt_trim(f.io), 3 + 3);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), 2, "the roots");
	cr_assert_eq(iovirt_pt_trim(f.io), 0);
	pt_fix_done(&f);
}

/* Deferred mode: trim and reclaim unlink kept tables and retire them; they go at the next
 * reclaim (the grace period), not before. */
Test(pt_keep, deferred_trim_retires)
{
	struct pt_fix f;
	fix_keep(&f, IOVIRT_RECLAIM_DEFERRED, 0, IOVIRT_PT_TABLE_CACHE_OFF);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_kept(f.io), 1);
	cr_assert_eq(iovirt_pt_reclaim(f.io), 0, "nothing was retired before it");
	struct iovirt_pt_stats st;
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(st.retired, 3, "the reclaim unlinked the kept table and its parents");
	cr_assert_eq(iovirt_pt_kept(f.io), 0);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), 4, "nothing released before the next reclaim");
	cr_assert_eq(iovirt_pt_reclaim(f.io), 3);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), 1);
	/* the same through iovirt_pt_trim */
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_trim(f.io), 3);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), 4);
	cr_assert_eq(iovirt_pt_reclaim(f.io), 3);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), 1);
	pt_fix_done(&f);
}

/* Destroy (of the space, of the iommu) releases kept tables and takes their marks back. */
Test(pt_keep, destroy_frees_them)
{
	struct pt_fix f;
	fix_keep(&f, IOVIRT_RECLAIM_AFTER_INVAL, 0, 0);
	cr_assert_eq(iovirt_pt_space_create(f.io, 2, NULL), 0);
	for (uint64_t i = 1; i <= 3; i++) {
		cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(i), 0, KiB(4), RW), 0);
		cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(i), KiB(4)), KiB(4));
		cr_assert_eq(iovirt_pt_map(f.io, 2, GiB(i), 0, KiB(4), RW), 0);
		cr_assert_eq(iovirt_pt_unmap(f.io, 2, GiB(i), KiB(4)), KiB(4));
	}
	cr_assert_eq(iovirt_pt_kept(f.io), 6);
	cr_assert_eq(iovirt_pt_space_destroy(f.io, 1), 0);
	cr_assert_eq(iovirt_pt_kept(f.io), 3, "space 1's marks went with it");
	cr_assert_eq(tables_in_use(&f), 1 + 1 + 3 + 3);
	iovirt_pt_trim(f.io);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), 1, "space 2's root");
	pt_fix_done(&f); /* the iommu's destroy: nothing leaks (th_posix_done checks) */
}

/* An unmap covering a kept table drops it (one invalidation, leaf_only = 0, 0 bytes), and
 * its mark goes; a 2 MiB map where a kept leaf table stands takes its place the same way. */
Test(pt_keep, covering_unmap_and_large_map_release_kept)
{
	struct pt_fix f;
	fix_keep(&f, IOVIRT_RECLAIM_AFTER_INVAL, 0, IOVIRT_PT_TABLE_CACHE_OFF);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1) + KiB(8), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1) + KiB(8), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_kept(f.io), 1);
	cr_assert_eq(iovirt_posix_log_enable(f.posix, MAXEV), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1), MiB(2)), 0, "no leaf there");
	size_t frees;
	cr_assert_eq(frees_after_walk_inval(&f, &frees), 1);
	cr_assert_eq(frees, 3, "the kept table, then the level-2 and level-3 tables it left empty (%zu)", frees);
	cr_assert_eq(iovirt_pt_kept(f.io), 0);

	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1) + KiB(8), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1) + KiB(8), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_kept(f.io), 1);
	iovirt_posix_log_clear(f.posix);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), GiB(4), MiB(2), RW), 0);
	cr_assert_eq(frees_after_walk_inval(&f, &frees), 1, "the table entry cleared and invalidated");
	cr_assert_eq(frees, 1, "%zu", frees);
	cr_assert_eq(iovirt_pt_kept(f.io), 0);
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(f.io, 1, GiB(1) + KiB(8), IOVIRT_PROT_READ, &x), 0);
	cr_assert_eq(x.page_size, MiB(2));
	/* a leaf in a table there is a conflict: nothing changes */
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1), MiB(2)), (int64_t)MiB(2));
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1) + KiB(8), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), GiB(4), MiB(2), RW), IOVIRT_EEXIST);
	cr_assert_eq(iovirt_pt_translate(f.io, 1, GiB(1) + KiB(8), IOVIRT_PROT_READ, &x), 0);
	cr_assert_eq(x.page_size, KiB(4));
	pt_fix_done(&f);
}

/* foreach_table reports a kept table's present entries, not its mark. */
static int used_of(void *arg, const struct iovirt_pt_table *t)
{
	if (t->level == 1)
		*(uint32_t *)arg = t->used;
	return 0;
}

Test(pt_keep, table_used_without_mark)
{
	struct pt_fix f;
	fix_keep(&f, IOVIRT_RECLAIM_AFTER_INVAL, 0, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), 0, KiB(8), RW), 0);
	uint32_t used = 99;
	cr_assert_eq(iovirt_pt_foreach_table(f.io, 1, used_of, &used), 0);
	cr_assert_eq(used, 2);
	pt_fix_done(&f);
}

/* With kept tables in the range, a map failing at its Nth allocation (every N) leaves the
 * tables as they were (kept ones and their marks included), and nothing leaks. */
Test(pt_keep, fail_nth_allocation_clean)
{
	for (uint64_t nth = 1;; nth++) {
		struct pt_fix f;
		fix_keep(&f, IOVIRT_RECLAIM_AFTER_INVAL, 0, IOVIRT_PT_TABLE_CACHE_OFF);
		cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1) + KiB(4), 0, KiB(4), RW), 0);
		cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1) + KiB(4), KiB(4)), KiB(4));
		cr_assert_eq(iovirt_pt_kept(f.io), 1);
		static struct pt_snap before, after;
		pt_snap_take(&f, 1, &before);
		iovirt_posix_fail_alloc_at(f.posix, nth);
		/* 2 MiB + 12 KiB from 4 KiB below GiB(1) + 2 MiB: three leaf tables under the
		 * kept one's level-2 table, the first the kept one (filled before any allocation) */
		const int r = iovirt_pt_map(f.io, 1, GiB(1) + MiB(2) - KiB(4), GiB(8), MiB(2) + KiB(12), RW);
		const bool fired = iovirt_posix_fail_fired(f.posix);
		iovirt_posix_fail_alloc_at(f.posix, 0);
		if (!fired) {
			cr_assert_eq(r, 0);
			cr_assert_gt(nth, 1);
			pt_fix_done(&f);
			break;
		}
		cr_assert_eq(r, IOVIRT_ENOMEM, "nth %llu", (unsigned long long)nth);
		pt_snap_take(&f, 1, &after);
		cr_assert_eq(after.n, before.n, "nth %llu", (unsigned long long)nth);
		for (uint64_t i = 0; i < before.n; i++)
			cr_assert(before.t[i].pa == after.t[i].pa && before.t[i].used == after.t[i].used);
		cr_assert_eq(iovirt_pt_kept(f.io), 1, "nth %llu", (unsigned long long)nth);
		pt_fix_done(&f);
	}
}

/* A failed map's rollback keeps nothing: a table it made and filled in part before an
 * allocation further on failed is unlinked, not kept (every N). */
Test(pt_keep, rollback_keeps_nothing)
{
	for (uint64_t nth = 1;; nth++) {
		struct pt_fix f;
		fix_keep(&f, IOVIRT_RECLAIM_AFTER_INVAL, 0, IOVIRT_PT_TABLE_CACHE_OFF);
		static struct pt_snap before, after;
		pt_snap_take(&f, 1, &before);
		iovirt_posix_fail_alloc_at(f.posix, nth);
		/* two pages below GiB(2) (a new leaf table under a new level-2 table), two above
		 * (another level-2 and leaf table) */
		const int r = iovirt_pt_map(f.io, 1, GiB(2) - KiB(8), GiB(8), KiB(16), RW);
		const bool fired = iovirt_posix_fail_fired(f.posix);
		iovirt_posix_fail_alloc_at(f.posix, 0);
		if (!fired) {
			cr_assert_eq(r, 0);
			cr_assert_gt(nth, 4);
			pt_fix_done(&f);
			break;
		}
		cr_assert_eq(r, IOVIRT_ENOMEM);
		cr_assert_eq(iovirt_pt_kept(f.io), 0, "nth %llu", (unsigned long long)nth);
		pt_snap_take(&f, 1, &after);
		cr_assert_eq(after.n, before.n, "nth %llu", (unsigned long long)nth);
		pt_fix_done(&f);
	}
}

/* The parameter: IOVIRT_PT_KEEP_OFF keeps nothing, above the maximum is refused, a
 * version-1 caller (and one leaving the field 0) gets the default. */
Test(pt_keep, params)
{
	struct iovirt_posix *p = th_posix();
	struct iovirt_iommu *io = NULL;
	struct iovirt_iommu_params prm = { .size = sizeof(prm), .keep_tables = IOVIRT_PT_KEEP_MAX + 1 };
	cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), p, &prm, &io), IOVIRT_EINVAL);
	cr_assert_null(io);
	struct iovirt_iommu_params *v1 = th_truncated(&prm, IOVIRT_IOMMU_PARAMS_SIZE_V1);
	cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), p, v1, &io), 0);
	free(v1);
	cr_assert_eq(iovirt_pt_space_create(io, 1, NULL), 0);
	for (uint64_t i = 0; i < 40; i++) {
		cr_assert_eq(iovirt_pt_map(io, 1, GiB(1) + MiB(2) * i, 0, KiB(4), RW), 0);
		cr_assert_eq(iovirt_pt_unmap(io, 1, GiB(1) + MiB(2) * i, KiB(4)), KiB(4));
	}
	cr_assert_eq(iovirt_pt_kept(io), IOVIRT_PT_KEEP_DEFAULT);
	iovirt_iommu_destroy(io);
	prm.keep_tables = IOVIRT_PT_KEEP_OFF;
	cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), p, &prm, &io), 0);
	cr_assert_eq(iovirt_pt_space_create(io, 1, NULL), 0);
	cr_assert_eq(iovirt_pt_map(io, 1, GiB(1), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_unmap(io, 1, GiB(1), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_kept(io), 0);
	struct iovirt_pt_stats st;
	iovirt_pt_stats(io, &st);
	cr_assert_eq(st.tables, 1);
	iovirt_iommu_destroy(io);
	th_posix_done(p);
}

/*
 * The lost install CAS, made to happen: writer B reserves in the level-2 table and, inside
 * its table_alloc, writer C installs the leaf table in the same slot and maps there; B's CAS
 * loses, and while B frees its fresh page (table_free) C unmaps, so C's table is unlinked
 * (kept tables off) before B gives its reservation back: the parent's count reaches 0 under
 * B for a moment. Every table's count must match its entries when B's map returns (B
 * reserved again and installed), and everything must go at the end (nothing left linked
 * with a count of 0).
 */
static struct iovirt_host_ops lc_ops;
static struct iovirt_iommu *lc_io;
static int lc_step;

static void *lc_table_alloc(void *host, uint64_t *pa)
{
	if (lc_step == 1) {
		lc_step = 2;
		cr_assert_eq(iovirt_pt_map(lc_io, 1, GiB(1) + KiB(8), GiB(3), KiB(4), RW), 0);
	}
	return iovirt_posix_ops()->table_alloc(host, pa);
}

static void lc_table_free(void *host, void *page, uint64_t pa)
{
	if (lc_step == 2) {
		lc_step = 3;
		cr_assert_eq(iovirt_pt_unmap(lc_io, 1, GiB(1) + KiB(8), KiB(4)), KiB(4));
	}
	iovirt_posix_ops()->table_free(host, page, pa);
}

static int lc_count_matches(void *arg, const struct iovirt_pt_table *t)
{
	const uint64_t *page = (const uint64_t *)(uintptr_t)(t->pa - IOVIRT_POSIX_PA_OFFSET);
	uint32_t nonzero = 0;
	for (unsigned i = 0; i < 512; i++)
		nonzero += page[i] != 0;
	cr_assert_eq(nonzero, t->used, "table at level %u: %u entries, count %u", t->level, nonzero, t->used);
	(*(unsigned *)arg)++;
	return 0;
}

Test(pt_keep, lost_install_cas_leaves_no_zero_count)
{
	for (int keep = 0; keep < 2; keep++) {
		struct iovirt_posix *p = th_posix();
		lc_ops = *iovirt_posix_ops();
		lc_ops.table_alloc = lc_table_alloc;
		lc_ops.table_free = lc_table_free;
		struct iovirt_iommu_params prm = { .size = sizeof(prm), .reclaim = IOVIRT_RECLAIM_AFTER_INVAL,
						   .table_cache = IOVIRT_PT_TABLE_CACHE_OFF,
						   .keep_tables = keep ? 0 : IOVIRT_PT_KEEP_OFF };
		cr_assert_eq(iovirt_iommu_create(&lc_ops, p, &prm, &lc_io), 0);
		cr_assert_eq(iovirt_pt_space_create(lc_io, 1, NULL), 0);
		/* the level-3 and level-2 tables exist (a neighbour 4 MiB on) */
		cr_assert_eq(iovirt_pt_map(lc_io, 1, GiB(1) + MiB(4), GiB(2), KiB(4), RW), 0);
		lc_step = 1;
		cr_assert_eq(iovirt_pt_map(lc_io, 1, GiB(1) + KiB(4), GiB(4), KiB(4), RW), 0);
		cr_assert_eq(lc_step, 3, "the interleaving happened");
		unsigned tables = 0;
		cr_assert_eq(iovirt_pt_foreach_table(lc_io, 1, lc_count_matches, &tables), 0);
		cr_assert_eq(tables, 5);
		struct iovirt_xlate x;
		cr_assert_eq(iovirt_pt_translate(lc_io, 1, GiB(1) + KiB(4), IOVIRT_PROT_READ, &x), 0);
		cr_assert_eq(x.pa, GiB(4));
		cr_assert_eq(iovirt_pt_unmap(lc_io, 1, GiB(1) + KiB(4), KiB(4)), KiB(4));
		cr_assert_eq(iovirt_pt_unmap(lc_io, 1, GiB(1) + MiB(4), KiB(4)), KiB(4));
		iovirt_pt_trim(lc_io);
		struct iovirt_pt_stats st;
		iovirt_pt_stats(lc_io, &st);
		cr_assert_eq(st.tables, 1, "keep %d: nothing left linked", keep);
		cr_assert_eq(iovirt_posix_live_tables(p), 1);
		iovirt_iommu_destroy(lc_io);
		th_posix_done(p);
	}
}
