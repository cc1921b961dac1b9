/* SPDX-License-Identifier: MIT */
/* Allocation failure: failing the Nth allocation of map, split and space creation, for every N. */
#include "pt_test.h"

static int runs(void *arg, const struct iovirt_mapping *m)
{
	uint64_t *acc = arg;
	acc[0]++;
	acc[1] += m->size;
	acc[2] ^= m->iova * 31 + m->pa * 7 + m->prot;
	return 0;
}

/* A digest of the mappings and the tables of one space. */
struct digest {
	uint64_t runs[3];
	struct pt_snap snap;
};

static void digest(struct pt_fix *f, uint32_t asid, struct digest *d)
{
	memset(d->runs, 0, sizeof(d->runs));
	cr_assert_eq(iovirt_pt_foreach(f->io, asid, runs, d->runs), 0);
	pt_snap_take(f, asid, &d->snap);
}

static void assert_same(const struct digest *a, const struct digest *b, uint64_t n)
{
	cr_assert_arr_eq(a->runs, b->runs, sizeof(a->runs), "mappings changed after failure %llu",
			 (unsigned long long)n);
	cr_assert_eq(a->snap.n, b->snap.n, "tables changed after failure %llu", (unsigned long long)n);
	cr_assert_arr_eq(a->snap.t, b->snap.t, a->snap.n * sizeof(a->snap.t[0]));
}

/* Map of a range that needs many new tables: every failing N leaves the space as it was. */
Test(pt_failure, map_every_n)
{
	static struct digest before, after;
	struct pt_fix f;
	pt_fix_init(&f, IOVIRT_RECLAIM_AFTER_INVAL);
	pt_fix_space(&f, 1, 48, 0);
	/* Something already there, so tables are shared with the new range. */
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(2) - KiB(8), 0, KiB(8), RW), 0);
	digest(&f, 1, &before);
	int64_t live_tables = iovirt_posix_live_tables(f.posix), live_mem = iovirt_posix_live_mem(f.posix);
	uint64_t n;
	for (n = 1;; n++) {
		iovirt_posix_fail_alloc_at(f.posix, n);
		/* 4K pages, a 2M page, a 1 GiB boundary, a 2M page, 4K pages: new L2 and L1 tables. */
		int r = iovirt_pt_map(f.io, 1, GiB(1) - MiB(2) - KiB(8), GiB(7) - MiB(2) - KiB(8),
				      MiB(4) + KiB(16), RW);
		if (r == 0) {
			cr_assert_not(iovirt_posix_fail_fired(f.posix));
			break;
		}
		cr_assert_eq(r, IOVIRT_ENOMEM);
		cr_assert(iovirt_posix_fail_fired(f.posix));
		digest(&f, 1, &after);
		assert_same(&before, &after, n);
		/* the rollback's emptied tables were cached; an empty cache for the next N */
		iovirt_pt_trim(f.io);
		cr_assert_eq(iovirt_posix_live_tables(f.posix), live_tables);
		cr_assert_eq(iovirt_posix_live_mem(f.posix), live_mem);
	}
	cr_assert_gt(n, 3, "the map needed several allocations");
	iovirt_posix_fail_alloc_at(f.posix, 0);
	pt_fix_done(&f);
}

/* Map of a multi-level range in a 5-level space: the same for every N. */
Test(pt_failure, map_5level_every_n)
{
	static struct digest before, after;
	struct pt_fix f;
	pt_fix_init(&f, IOVIRT_RECLAIM_AFTER_INVAL);
	pt_fix_space(&f, 2, 57, 0);
	digest(&f, 2, &before);
	uint64_t n;
	for (n = 1;; n++) {
		iovirt_posix_fail_alloc_at(f.posix, n);
		/* across a top-level boundary (2^48; 2^39 where the format has no 57-bit space) */
		int r = iovirt_pt_map(f.io, 2, (UINT64_C(1) << (pt_test_width(57) - 9)) - MiB(2), GiB(3), MiB(4) + KiB(4), RW);
		if (r == 0)
			break;
		cr_assert_eq(r, IOVIRT_ENOMEM);
		digest(&f, 2, &after);
		assert_same(&before, &after, n);
		iovirt_pt_trim(f.io);
		cr_assert_eq(iovirt_posix_live_tables(f.posix), 1);
	}
	cr_assert_gt(n, 6);
	iovirt_posix_fail_alloc_at(f.posix, 0);
	pt_fix_done(&f);
}

/* A 4 KiB map into an empty region (the small map that installs its path) with every
 * allocation failing in turn: ENOMEM, the space as it was, nothing leaked; with a
 * neighbour in another leaf table the shared tables stay. */
Test(pt_failure, small_map_installs_every_n)
{
	static struct digest before, after;
	struct pt_fix f;
	pt_fix_init(&f, IOVIRT_RECLAIM_AFTER_INVAL);
	pt_fix_space(&f, 1, 48, 0);
	for (int round = 0; round < 2; round++) {
		digest(&f, 1, &before);
		const int64_t live_tables = iovirt_posix_live_tables(f.posix), live_mem = iovirt_posix_live_mem(f.posix);
		uint64_t n;
		for (n = 1;; n++) {
			iovirt_posix_fail_alloc_at(f.posix, n);
			int r = iovirt_pt_map(f.io, 1, GiB(3) + MiB(4) + KiB(8), GiB(1), KiB(8), RW);
			if (r == 0) {
				cr_assert_not(iovirt_posix_fail_fired(f.posix));
				break;
			}
			cr_assert_eq(r, IOVIRT_ENOMEM);
			digest(&f, 1, &after);
			assert_same(&before, &after, n);
			iovirt_pt_trim(f.io);
			cr_assert_eq(iovirt_posix_live_tables(f.posix), live_tables);
			cr_assert_eq(iovirt_posix_live_mem(f.posix), live_mem);
		}
		cr_assert_eq(n, round ? 3 : 7, "leaf table and its bookkeeping per new table");
		iovirt_posix_fail_alloc_at(f.posix, 0);
		cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(3) + MiB(4) + KiB(8), KiB(8)), KiB(8));
		iovirt_pt_trim(f.io);
		/* the next round: a neighbour keeps the level-3 and level-2 tables */
		if (round == 0)
			cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(3), 0, KiB(4), RW), 0);
	}
	pt_fix_done(&f);
}

/* Split with every allocation failing in turn: the large page stays, nothing leaks. */
Test(pt_failure, split_every_n)
{
	static struct digest before, after;
	struct pt_fix f;
	pt_fix_init(&f, IOVIRT_RECLAIM_AFTER_INVAL);
	pt_fix_space(&f, 3, 48, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 3, GiB(2), GiB(2), GiB(1), RW), 0);
	digest(&f, 3, &before);
	uint64_t n;
	for (n = 1;; n++) {
		iovirt_posix_fail_alloc_at(f.posix, n);
		int r = iovirt_pt_split(f.io, 3, GiB(2) + MiB(9));
		if (r == 0)
			break;
		cr_assert_eq(r, IOVIRT_ENOMEM);
		digest(&f, 3, &after);
		assert_same(&before, &after, n);
		struct iovirt_xlate x;
		cr_assert_eq(iovirt_pt_translate(f.io, 3, GiB(2) + MiB(9), 1, &x), 0);
		cr_assert_eq(x.page_size, GiB(1));
	}
	cr_assert_gt(n, 1);
	iovirt_posix_fail_alloc_at(f.posix, 0);
	pt_fix_done(&f);
}

/* Split of a 1 GiB page in a 4K|1G space (513 new tables) with every allocation failing in turn:
 * the 1 GiB page stays, nothing leaks; the run that completes gives 4 KiB pages. */
Test(pt_failure, split_1g_to_4k_every_n)
{
	static struct digest before, after;
	struct pt_fix f;
	struct iovirt_xlate x;
	pt_fix_init(&f, IOVIRT_RECLAIM_AFTER_INVAL);
	pt_fix_space(&f, 4, 48, IOVIRT_PAGE_4K | IOVIRT_PAGE_1G);
	cr_assert_eq(iovirt_pt_map(f.io, 4, GiB(2), GiB(6), GiB(1), RW), 0);
	digest(&f, 4, &before);
	int64_t live_tables = iovirt_posix_live_tables(f.posix), live_mem = iovirt_posix_live_mem(f.posix);
	uint64_t inval = iovirt_posix_count(f.posix, IOVIRT_CB_IOTLB_INVAL);
	uint64_t n;
	for (n = 1;; n++) {
		iovirt_posix_fail_alloc_at(f.posix, n);
		int r = iovirt_pt_split(f.io, 4, GiB(2) + MiB(9));
		if (r == 0)
			break;
		cr_assert_eq(r, IOVIRT_ENOMEM);
		digest(&f, 4, &after);
		assert_same(&before, &after, n);
		cr_assert_eq(iovirt_posix_live_tables(f.posix), live_tables);
		cr_assert_eq(iovirt_posix_live_mem(f.posix), live_mem);
		cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_IOTLB_INVAL), inval, "no invalidation on failure");
		cr_assert_eq(iovirt_pt_translate(f.io, 4, GiB(2) + MiB(9), 1, &x), 0);
		cr_assert_eq(x.page_size, GiB(1));
	}
	cr_assert_eq(n, 2 * 513 + 1, "every allocation of the 513 tables was failed once");
	cr_assert_eq(iovirt_pt_translate(f.io, 4, GiB(2) + MiB(9) + 7, 1, &x), 0);
	cr_assert_eq(x.page_size, KiB(4));
	cr_assert_eq(x.pa, GiB(6) + MiB(9) + 7);
	iovirt_posix_fail_alloc_at(f.posix, 0);
	pt_fix_done(&f);
}

/* Creating an iommu and a space with every allocation failing in turn leaks nothing. */
Test(pt_failure, create_every_n)
{
	struct iovirt_posix *p = th_posix();
	uint64_t n;
	for (n = 1;; n++) {
		struct iovirt_iommu *io = NULL;
		iovirt_posix_fail_alloc_at(p, n);
		struct iovirt_iommu_params prm = { .size = sizeof(prm), .format = PT_TEST_FORMAT };
		int r = iovirt_iommu_create(iovirt_posix_ops(), p, &prm, &io);
		if (r == 0)
			r = iovirt_pt_space_create(io, 77777, NULL);
		if (r == 0) {
			iovirt_iommu_destroy(io);
			break;
		}
		cr_assert_eq(r, IOVIRT_ENOMEM);
		if (io) {
			struct iovirt_xlate x;
			cr_assert_eq(iovirt_pt_translate(io, 77777, 0, 1, &x), IOVIRT_ENOASID);
			iovirt_iommu_destroy(io);
		}
		cr_assert_eq(iovirt_posix_live_tables(p), 0);
	}
	cr_assert_gt(n, 3);
	iovirt_posix_fail_alloc_at(p, 0);
	th_posix_done(p);
}
