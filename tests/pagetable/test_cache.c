/* SPDX-License-Identifier: MIT */
/*
 * The table cache (issue 13 item 3): emptied table pages, past their grace
 * period, kept for the next install; bounded per kind, released by
 * iovirt_pt_trim and at iovirt_pt_reclaim, counted in the stats; only clean
 * pages enter it.
 */
#include <stdlib.h>

#include "pt_test.h"

static void fix_cache(struct pt_fix *f, uint32_t reclaim, uint32_t table_cache)
{
	f->posix = th_posix();
	/* no kept tables: these tests follow emptied tables through the cache */
	struct iovirt_iommu_params p = { .size = sizeof(p), .reclaim = reclaim, .table_cache = table_cache,
					 .keep_tables = IOVIRT_PT_KEEP_OFF };
	cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), f->posix, &p, &f->io), 0);
	pt_fix_space(f, 1, 48, 0);
}

static uint64_t cached(struct pt_fix *f)
{
	return iovirt_pt_cached(f->io);
}

/* Every table of the space holds exactly as many nonzero entries as its count says, read
 * from the page itself (what the hardware walks), so a reused page brought nothing along. */
static int entries_match_count(void *arg, const struct iovirt_pt_table *t)
{
	unsigned *tables = arg;
	const uint64_t *page = (const uint64_t *)(uintptr_t)(t->pa - IOVIRT_POSIX_PA_OFFSET);
	uint32_t nonzero = 0;
	for (unsigned i = 0; i < 512; i++)
		nonzero += page[i] != 0;
	cr_assert_eq(nonzero, t->used, "table at level %u, iova %#llx: %u entries, count %u", t->level,
		     (unsigned long long)t->iova, nonzero, t->used);
	(*tables)++;
	return 0;
}

static int count_runs(void *arg, const struct iovirt_mapping *m)
{
	(void)m;
	(*(unsigned *)arg)++;
	return 0;
}

/* The cache keeps at most table_cache pages of each kind; the rest go to the host at once. */
Test(pt_cache, bounded)
{
	struct pt_fix f;
	fix_cache(&f, IOVIRT_RECLAIM_AFTER_INVAL, 2);
	for (uint64_t i = 1; i <= 5; i++)
		cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(i), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), 12, "root, one level-3, five level-2 and five leaf tables");
	for (uint64_t i = 1; i <= 5; i++)
		cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(i), KiB(4)), KiB(4));
	/* 11 emptied: 5 leaf, 5 level-2, 1 level-3; kept: 2 + 2 + 1 */
	cr_assert_eq(cached(&f), 5);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), 6);
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_FREE), 6);
	struct iovirt_pt_stats st;
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(st.tables, 1, "cached pages are not in use");
	pt_fix_done(&f);
}

/* Trim gives every cached page and its bookkeeping back to the host (table_free, mem_free). */
Test(pt_cache, trim_releases_to_host)
{
	struct pt_fix f;
	fix_cache(&f, IOVIRT_RECLAIM_AFTER_INVAL, 0);
	const int64_t tables0 = iovirt_posix_live_tables(f.posix), mem0 = iovirt_posix_live_mem(f.posix);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(3), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(3), KiB(4)), KiB(4));
	cr_assert_eq(cached(&f), 3);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), tables0 + 3, "held for reuse");
	cr_assert_gt(iovirt_posix_live_mem(f.posix), mem0);
	const uint64_t freed0 = iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_FREE);
	cr_assert_eq(iovirt_pt_trim(f.io), 3);
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_FREE), freed0 + 3);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), tables0);
	cr_assert_eq(iovirt_posix_live_mem(f.posix), mem0);
	cr_assert_eq(cached(&f), 0);
	cr_assert_eq(iovirt_pt_trim(f.io), 0);
	cr_assert_eq(iovirt_pt_trim(NULL), 0);
	pt_fix_done(&f);
}

/* A map after an unmap reuses the emptied pages without asking the host, and each reused
 * page holds only what the new map wrote (its entries read from the page itself). */
Test(pt_cache, reused_page_is_clean)
{
	struct pt_fix f;
	fix_cache(&f, IOVIRT_RECLAIM_AFTER_INVAL, 0);
	const uint64_t a = GiB(1) + MiB(6) + KiB(28), b = GiB(9) + KiB(400);
	cr_assert_eq(iovirt_pt_map(f.io, 1, a - KiB(4), GiB(2), KiB(12), RW), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, a - KiB(4), KiB(12)), KiB(12));
	cr_assert_eq(cached(&f), 3);
	const uint64_t allocs = iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_ALLOC);
	cr_assert_eq(iovirt_pt_map(f.io, 1, b, GiB(3), KiB(4), RW), 0);
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_ALLOC), allocs, "all three from the cache");
	cr_assert_eq(cached(&f), 0);
	unsigned tables = 0, runs = 0;
	cr_assert_eq(iovirt_pt_foreach_table(f.io, 1, entries_match_count, &tables), 0);
	cr_assert_eq(tables, 4);
	cr_assert_eq(iovirt_pt_foreach(f.io, 1, count_runs, &runs), 0);
	cr_assert_eq(runs, 1);
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(f.io, 1, a, IOVIRT_PROT_READ, &x), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_pt_translate(f.io, 1, b, IOVIRT_PROT_READ, &x), 0);
	cr_assert_eq(x.pa, GiB(3));
	pt_fix_done(&f);
}

/* Pages that still hold entries never enter the cache: of a subtree an unmap dropped whole
 * (its leaves left in place), only the emptied tables above it are kept, and the tables a
 * later map builds from the cache are clean. */
Test(pt_cache, dropped_subtree_not_cached)
{
	struct pt_fix f;
	fix_cache(&f, IOVIRT_RECLAIM_AFTER_INVAL, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), KiB(4), MiB(2), RW), 0); /* one full leaf table */
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1), MiB(2)), (int64_t)MiB(2));
	cr_assert_eq(cached(&f), 2, "the emptied level-2 and level-3 tables; the full leaf table went to the host");
	for (int i = 0; i < 3; i++) { /* leaf tables from the host and from the cache */
		cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1) + KiB(8), GiB(5), KiB(4), RW), 0);
		unsigned tables = 0;
		cr_assert_eq(iovirt_pt_foreach_table(f.io, 1, entries_match_count, &tables), 0);
		cr_assert_eq(tables, 4);
		struct iovirt_xlate x;
		cr_assert_eq(iovirt_pt_translate(f.io, 1, GiB(1) + KiB(4), IOVIRT_PROT_READ, &x), IOVIRT_ENOENT);
		cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1) + KiB(8), KiB(4)), KiB(4));
	}
	pt_fix_done(&f);
}

/* Deferred mode: an unlinked page is reused only after iovirt_pt_reclaim (its grace period);
 * the next reclaim gives back to the host what the cache still holds. */
Test(pt_cache, deferred_waits_for_reclaim)
{
	struct pt_fix f;
	fix_cache(&f, IOVIRT_RECLAIM_DEFERRED, 0);
	const uint64_t allocs0 = iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_ALLOC);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1), KiB(4)), KiB(4));
	cr_assert_eq(cached(&f), 0, "retired, not cached, before the grace period");
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_ALLOC), allocs0 + 6, "no retired page reused");
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_reclaim(f.io), 6);
	cr_assert_eq(cached(&f), 6);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_ALLOC), allocs0 + 6, "reused after reclaim");
	cr_assert_eq(cached(&f), 3);
	const int64_t live = iovirt_posix_live_tables(f.posix);
	cr_assert_eq(iovirt_pt_reclaim(f.io), 0);
	cr_assert_eq(cached(&f), 0, "reclaim released what the cache held");
	cr_assert_eq(iovirt_posix_live_tables(f.posix), live - 3);
	pt_fix_done(&f);
}

/* AFTER_INVAL mode: reclaim gives back what the cache holds, too. */
Test(pt_cache, reclaim_releases_after_inval)
{
	struct pt_fix f;
	fix_cache(&f, IOVIRT_RECLAIM_AFTER_INVAL, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1), KiB(4)), KiB(4));
	cr_assert_eq(cached(&f), 3);
	cr_assert_eq(iovirt_pt_reclaim(f.io), 0, "nothing was retired");
	cr_assert_eq(cached(&f), 0);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), 1);
	pt_fix_done(&f);
}

/* The parameter: an older caller's params (version 1 size) get the default cache,
 * IOVIRT_PT_TABLE_CACHE_OFF keeps nothing, a size above the maximum is refused. */
Test(pt_cache, params)
{
	struct iovirt_posix *p = th_posix();
	struct iovirt_iommu *io = NULL;
	struct iovirt_iommu_params full = { .size = sizeof(full), .reclaim = IOVIRT_RECLAIM_AFTER_INVAL,
					    .table_cache = IOVIRT_PT_TABLE_CACHE_MAX + 1,
					    .keep_tables = IOVIRT_PT_KEEP_OFF };
	cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), p, &full, &io), IOVIRT_EINVAL);
	cr_assert_null(io);
	/* the same bytes at the version-1 size: the field is not read */
	struct iovirt_iommu_params *v1 = th_truncated(&full, IOVIRT_IOMMU_PARAMS_SIZE_V1);
	cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), p, v1, &io), 0);
	free(v1);
	cr_assert_eq(iovirt_pt_space_create(io, 1, NULL), 0);
	for (uint64_t i = 0; i < 40; i++)
		cr_assert_eq(iovirt_pt_map(io, 1, GiB(1) + MiB(2) * i, 0, KiB(4), RW), 0);
	for (uint64_t i = 0; i < 40; i++)
		cr_assert_eq(iovirt_pt_unmap(io, 1, GiB(1) + MiB(2) * i, KiB(4)), KiB(4));
	struct iovirt_pt_stats st;
	iovirt_pt_stats(io, &st);
	/* the defaults: the first IOVIRT_PT_KEEP_DEFAULT leaf tables kept linked (so the level-2
	 * and 3 tables stay), of the other 24 the cache keeps its default */
	cr_assert_eq(iovirt_pt_kept(io), IOVIRT_PT_KEEP_DEFAULT);
	cr_assert_eq(iovirt_pt_cached(io), IOVIRT_PT_TABLE_CACHE_DEFAULT, "leaf tables up to the default");
	iovirt_iommu_destroy(io);

	full.table_cache = IOVIRT_PT_TABLE_CACHE_OFF;
	cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), p, &full, &io), 0);
	cr_assert_eq(iovirt_pt_space_create(io, 1, NULL), 0);
	cr_assert_eq(iovirt_pt_map(io, 1, GiB(1), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_unmap(io, 1, GiB(1), KiB(4)), KiB(4));
	iovirt_pt_stats(io, &st);
	cr_assert_eq(iovirt_pt_cached(io), 0);
	cr_assert_eq(iovirt_posix_live_tables(p), 1);
	iovirt_iommu_destroy(io);
	th_posix_done(p);
}

/* A writer that starts while a deferred reclaim runs (here: inside the host's table_free
 * of the cache trim at the reclaim's start) and retires a page: the page waits for the next
 * reclaim. The host's grace period covers only the writers and translates that began before
 * this reclaim, so one that began after may still hold the page: caching it now would let
 * another writer reuse it under that one. */
static struct iovirt_host_ops hook_ops;
static struct iovirt_iommu *hook_io;
static uint64_t hook_iova;
static void hook_table_free(void *host, void *page, uint64_t pa)
{
	if (hook_iova) {
		const uint64_t iova = hook_iova;
		hook_iova = 0;
		cr_assert_eq(iovirt_pt_unmap(hook_io, 1, iova, KiB(4)), KiB(4));
	}
	iovirt_posix_ops()->table_free(host, page, pa);
}

Test(pt_cache, deferred_reclaim_keeps_pages_retired_during_it)
{
	struct pt_fix f;
	f.posix = th_posix();
	hook_ops = *iovirt_posix_ops();
	hook_ops.table_free = hook_table_free;
	struct iovirt_iommu_params p = { .size = sizeof(p), .reclaim = IOVIRT_RECLAIM_DEFERRED,
					 .keep_tables = IOVIRT_PT_KEEP_OFF };
	cr_assert_eq(iovirt_iommu_create(&hook_ops, f.posix, &p, &f.io), 0);
	pt_fix_space(&f, 1, 48, 0);
	hook_io = f.io;
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(2), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_reclaim(f.io), 2);
	cr_assert_eq(cached(&f), 2, "the leaf and level-2 tables of GiB(1)");
	hook_iova = GiB(2); /* unmapped by a writer inside the next reclaim: 3 tables retired */
	const size_t k = iovirt_pt_reclaim(f.io);
	cr_assert_eq(hook_iova, 0, "the trim called the host");
	struct iovirt_pt_stats st;
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(k, 0, "nothing was retired before the reclaim began");
	cr_assert_eq(st.retired, 3, "retired during the reclaim: they wait for the next one");
	cr_assert_eq(cached(&f), 0);
	cr_assert_eq(iovirt_pt_reclaim(f.io), 3);
	cr_assert_eq(cached(&f), 3);
	pt_fix_done(&f);
}

/* After a trim (and so after every reclaim, which trims first) of a full cache, emptied
 * pages are kept again, up to the bound: the slots the trim emptied are used again. */
Test(pt_cache, refills_after_trim)
{
	struct pt_fix f;
	fix_cache(&f, IOVIRT_RECLAIM_AFTER_INVAL, 2);
	for (uint64_t i = 1; i <= 5; i++)
		cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(i), 0, KiB(4), RW), 0);
	for (uint64_t i = 1; i <= 5; i++)
		cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(i), KiB(4)), KiB(4));
	cr_assert_eq(cached(&f), 5, "2 leaf, 2 level-2, 1 level-3: the leaf and level-2 kinds full");
	cr_assert_eq(iovirt_pt_trim(f.io), 5);
	for (int round = 0; round < 2; round++) {
		cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(7), 0, KiB(4), RW), 0);
		cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(7), KiB(4)), KiB(4));
		cr_assert_eq(cached(&f), 3, "round %d: the leaf, level-2 and level-3 tables kept again", round);
	}
	const uint64_t allocs = iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_ALLOC);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(8), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_ALLOC), allocs, "all three from the cache");
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(8), KiB(4)), KiB(4));
	/* the same through a deferred reclaim, which trims before it refills */
	pt_fix_done(&f);
	fix_cache(&f, IOVIRT_RECLAIM_DEFERRED, 2);
	for (uint64_t i = 1; i <= 5; i++)
		cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(i), 0, KiB(4), RW), 0);
	for (uint64_t i = 1; i <= 5; i++)
		cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(i), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_reclaim(f.io), 11);
	cr_assert_eq(cached(&f), 5);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(7), 0, KiB(4), RW), 0); /* takes one of each kind */
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(7), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_reclaim(f.io), 3);
	cr_assert_eq(cached(&f), 3, "the reclaim's pages kept after its trim");
	pt_fix_done(&f);
}
