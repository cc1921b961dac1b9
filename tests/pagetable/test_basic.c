/* SPDX-License-Identifier: MIT */
/* Page tables: API contracts, edge cases and every error path. */
#include "pt_test.h"

static struct pt_fix f;

static void setup(void)
{
	pt_fix_init(&f, IOVIRT_RECLAIM_AFTER_INVAL);
}

static void teardown(void)
{
	pt_fix_done(&f);
}

TestSuite(pt_basic, .init = setup, .fini = teardown);

/* A 4 KiB mapping translates to pa + offset with its permissions, and nothing else is mapped. */
Test(pt_basic, map_translate_unmap_4k)
{
	struct iovirt_xlate x;
	pt_fix_space(&f, 1, 48, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, 0x10000, 0xabc000, KiB(4), IOVIRT_PROT_READ), 0);
	cr_assert_eq(iovirt_pt_translate(f.io, 1, 0x10123, IOVIRT_PROT_READ, &x), 0);
	cr_assert_eq(x.pa, 0xabc123);
	cr_assert_eq(x.page_size, KiB(4));
	cr_assert_eq(x.prot, IOVIRT_PROT_READ);
	cr_assert_eq(x.level, 1);
	cr_assert_eq(iovirt_pt_translate(f.io, 1, 0x10123, IOVIRT_PROT_WRITE, &x), IOVIRT_EPERM);
	cr_assert_eq(iovirt_pt_translate(f.io, 1, 0x11000, IOVIRT_PROT_READ, &x), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_pt_translate(f.io, 1, 0xf000, IOVIRT_PROT_READ, &x), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, 0x10000, KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_translate(f.io, 1, 0x10123, IOVIRT_PROT_READ, &x), IOVIRT_ENOENT);
}

/* With no kept tables, tables emptied by unmap are released: only the root is left. */
Test(pt_basic, empty_tables_released)
{
	struct iovirt_pt_stats st;
	pt_fix_done(&f);
	pt_fix_init_nokeep(&f, IOVIRT_RECLAIM_AFTER_INVAL);
	pt_fix_space(&f, 1, 57, 0);
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(st.tables, 1);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(700), 0x5000, KiB(8), RW), 0);
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(st.tables, 5, "5-level: root + 4 tables");
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(700), KiB(4)), KiB(4));
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(st.tables, 5, "one page left: tables stay");
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(700) + KiB(4), KiB(4)), KiB(4));
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(st.tables, 1);
	cr_assert_eq(iovirt_pt_cached(f.io), 4, "kept for reuse (AFTER_INVAL: at once)");
	cr_assert_eq(iovirt_posix_live_tables(f.posix), 5);
	cr_assert_eq(iovirt_pt_trim(f.io), 4);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), 1);
}

/* Page sizes are picked by alignment of both addresses and by what the space allows. */
Test(pt_basic, page_size_choice)
{
	struct iovirt_xlate x;
	pt_fix_space(&f, 2, 48, 0);
	pt_fix_space(&f, 3, 48, IOVIRT_PAGE_4K | IOVIRT_PAGE_2M);
	/* 1 GiB aligned both sides, 1 GiB + 2 MiB + 4 KiB long: one of each. */
	cr_assert_eq(iovirt_pt_map(f.io, 2, GiB(1), GiB(5), GiB(1) + MiB(2) + KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_translate(f.io, 2, GiB(1) + 5, 1, &x), 0);
	cr_assert_eq(x.page_size, GiB(1));
	cr_assert_eq(x.pa, GiB(5) + 5);
	cr_assert_eq(iovirt_pt_translate(f.io, 2, GiB(2) + 7, 1, &x), 0);
	cr_assert_eq(x.page_size, MiB(2));
	cr_assert_eq(x.pa, GiB(6) + 7);
	cr_assert_eq(iovirt_pt_translate(f.io, 2, GiB(2) + MiB(2), 1, &x), 0);
	cr_assert_eq(x.page_size, KiB(4));
	/* pa only 4 KiB aligned: all 4 KiB pages. */
	cr_assert_eq(iovirt_pt_map(f.io, 2, GiB(8), GiB(5) + KiB(4), MiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_translate(f.io, 2, GiB(8) + MiB(3), 1, &x), 0);
	cr_assert_eq(x.page_size, KiB(4));
	cr_assert_eq(x.pa, GiB(5) + KiB(4) + MiB(3));
	/* 1 GiB not allowed: 2 MiB pages instead. */
	cr_assert_eq(iovirt_pt_map(f.io, 3, GiB(1), GiB(1), GiB(1), RW), 0);
	cr_assert_eq(iovirt_pt_translate(f.io, 3, GiB(1) + MiB(100), 2, &x), 0);
	cr_assert_eq(x.page_size, MiB(2));
	cr_assert_eq(x.level, 2);
}

/* The header's argument checks one by one, in their order (the reference
 * for the combined test of the hot path, iommu.c's map_args_ok/range_ok). */
static int ref_range(uint64_t lim, uint64_t iova, uint64_t size)
{
	if (size == 0)
		return IOVIRT_EINVAL;
	if ((iova | size) & 0xfff)
		return IOVIRT_EALIGN;
	if (iova + size < iova)
		return IOVIRT_EOVERFLOW;
	return iova + size > lim ? IOVIRT_ERANGE : 0;
}

static int ref_map(uint64_t lim, uint64_t iova, uint64_t pa, uint64_t size, unsigned prot)
{
	if (prot == 0 || prot > 3)
		return IOVIRT_EINVAL;
	const int r = ref_range(lim, iova, size);
	if (r)
		return r;
	if (pa & 0xfff)
		return IOVIRT_EALIGN;
	if (pa + size < pa)
		return IOVIRT_EOVERFLOW;
	return pa + size > (UINT64_C(1) << 52) ? IOVIRT_EINVAL : 0;
}

/* The hot path's one combined argument test gives each map and unmap the
 * error the checks one by one give, at every boundary (limits, wraps, size 0,
 * alignment, prot), and maps what they accept. */
Test(pt_basic, combined_argument_test_matches_checks)
{
	const uint64_t lim = UINT64_C(1) << 39, plim = UINT64_C(1) << 52, M = UINT64_MAX;
	const uint64_t iovas[] = { 0, KiB(4), 0x1800, lim - GiB(1), lim - KiB(8), lim - KiB(4), lim, lim + KiB(4),
				   UINT64_C(1) << 63, M - 0xfff, M };
	/* (sizes that succeed stay small, or lim at iova 0 in 1 GiB pages) */
	const uint64_t sizes[] = { 0, 100, KiB(4), KiB(8), MiB(2) + KiB(4), lim, lim + KiB(4),
				   UINT64_C(1) << 63, M - 0xfff, M };
	const uint64_t pas[] = { 0, 0x1800, GiB(1), plim - GiB(1), plim - KiB(8), plim - KiB(4), plim,
				 plim + KiB(4), M - 0xfff };
	const unsigned prots[] = { 0, 1, 2, 3, 4, 7 };
	pt_fix_space(&f, 4, 39, 0);
	for (size_t i = 0; i < sizeof(iovas) / sizeof(iovas[0]); i++)
		for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			const uint64_t iova = iovas[i], size = sizes[j];
			for (size_t k = 0; k < sizeof(pas) / sizeof(pas[0]); k++)
				for (size_t p = 0; p < sizeof(prots) / sizeof(prots[0]); p++) {
					const int want = ref_map(lim, iova, pas[k], size, prots[p]);
					const int got = iovirt_pt_map(f.io, 4, iova, pas[k], size, prots[p]);
					cr_assert_eq(got, want, "map %#llx %#llx %#llx %u: %d, want %d",
						     (unsigned long long)iova, (unsigned long long)pas[k],
						     (unsigned long long)size, prots[p], got, want);
					if (got == 0)
						cr_assert_eq(iovirt_pt_unmap(f.io, 4, iova, size), (int64_t)size);
				}
			cr_assert_eq(iovirt_pt_unmap(f.io, 4, iova, size), ref_range(lim, iova, size),
				     "unmap %#llx %#llx", (unsigned long long)iova, (unsigned long long)size);
		}
}

/* Argument errors: each has its own code, and none changes the tables. */
Test(pt_basic, argument_errors)
{
	pt_fix_space(&f, 4, 39, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 4, 0x1000, 0x1000, 0, RW), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_map(f.io, 4, 0x1000, 0x1000, KiB(4), 0), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_map(f.io, 4, 0x1000, 0x1000, KiB(4), 8), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_map(f.io, 4, 0x1001, 0x1000, KiB(4), RW), IOVIRT_EALIGN);
	cr_assert_eq(iovirt_pt_map(f.io, 4, 0x1000, 0x1800, KiB(4), RW), IOVIRT_EALIGN);
	cr_assert_eq(iovirt_pt_map(f.io, 4, 0x1000, 0x1000, 100, RW), IOVIRT_EALIGN);
	cr_assert_eq(iovirt_pt_map(f.io, 4, UINT64_MAX - 0xfff, 0x1000, KiB(8), RW), IOVIRT_EOVERFLOW);
	cr_assert_eq(iovirt_pt_map(f.io, 4, 0x1000, UINT64_MAX - 0xfff, KiB(8), RW), IOVIRT_EOVERFLOW);
	cr_assert_eq(iovirt_pt_map(f.io, 4, (UINT64_C(1) << 39) - KiB(4), 0x1000, KiB(8), RW), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_pt_map(f.io, 4, 0x1000, UINT64_C(1) << 52, KiB(4), RW), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_map(f.io, 5, 0x1000, 0x1000, KiB(4), RW), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_map(f.io, IOVIRT_ASID_MAX + 1, 0x1000, 0x1000, KiB(4), RW), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_unmap(f.io, 4, 0x1000, 0), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_unmap(f.io, 4, 0x1800, KiB(4)), IOVIRT_EALIGN);
	cr_assert_eq(iovirt_pt_unmap(f.io, 4, UINT64_MAX - 0xfff, KiB(8)), IOVIRT_EOVERFLOW);
	cr_assert_eq(iovirt_pt_unmap(f.io, 4, UINT64_C(1) << 39, KiB(4)), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_pt_unmap(f.io, 6, 0, KiB(4)), IOVIRT_ENOASID);
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(f.io, 4, UINT64_C(1) << 39, 1, &x), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_pt_translate(f.io, 4, 0, 0, &x), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_translate(f.io, 9, 0, 1, &x), IOVIRT_ENOASID);
	struct iovirt_pt_stats st;
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(st.tables, 1);
	cr_assert_eq(st.invalidations, 0);
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_TABLE_ALLOC), 1);
}

/* A 32-bit device's space ends at 4 GiB: the top page maps, the next byte is out of range. */
Test(pt_basic, top_of_32bit_space)
{
	struct iovirt_xlate x;
	pt_fix_space(&f, 7, 32, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 7, GiB(4) - KiB(4), 0x7000, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_translate(f.io, 7, GiB(4) - 1, IOVIRT_PROT_WRITE, &x), 0);
	cr_assert_eq(x.pa, 0x7fff);
	cr_assert_eq(iovirt_pt_translate(f.io, 7, GiB(4), IOVIRT_PROT_READ, &x), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_pt_map(f.io, 7, GiB(4) - KiB(4), 0x7000, KiB(8), RW), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_pt_map(f.io, 7, GiB(4), 0x7000, KiB(4), RW), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_pt_unmap(f.io, 7, GiB(3), GiB(1)), KiB(4));
}

/* Each width gets its level count, and the 57-bit top page works. */
Test(pt_basic, widths)
{
	unsigned widths[] = { 32, 39, 48, 57 }, levels[] = { 3, 3, 4, 5 };
	for (int i = 0; i < 4; i++) {
		uint64_t root;
		unsigned lv;
		pt_fix_space(&f, 100 + i, widths[i], 0);
		cr_assert_eq(iovirt_pt_root(f.io, 100 + i, &root, &lv), 0);
		cr_assert_eq(lv, levels[i]);
		uint64_t top = (UINT64_C(1) << widths[i]) - KiB(4);
		cr_assert_eq(iovirt_pt_map(f.io, 100 + i, top, 0x3000, KiB(4), RW), 0);
		struct iovirt_xlate x;
		cr_assert_eq(iovirt_pt_translate(f.io, 100 + i, top + 0x10, 1, &x), 0);
		cr_assert_eq(x.pa, 0x3010);
	}
	struct iovirt_space_params bad = { .size = sizeof(bad), .width = 40 };
	cr_assert_eq(iovirt_pt_space_create(f.io, 200, &bad), IOVIRT_EINVAL);
	bad.width = 48;
	bad.pgsizes = IOVIRT_PAGE_2M;
	cr_assert_eq(iovirt_pt_space_create(f.io, 200, &bad), IOVIRT_EINVAL, "4K is required");
	bad.pgsizes = IOVIRT_PAGE_4K | (UINT64_C(1) << 13);
	cr_assert_eq(iovirt_pt_space_create(f.io, 200, &bad), IOVIRT_EINVAL);
}

/* Overlap with any part of an existing mapping is EEXIST and leaves the tables as they were. */
Test(pt_basic, partial_overlap)
{
	struct pt_snap *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	pt_fix_space(&f, 8, 48, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 8, MiB(2) + KiB(40), 0x100000, KiB(8), RW), 0);
	pt_snap_take(&f, 8, a);
	uint64_t inval = iovirt_posix_count(f.posix, IOVIRT_CB_IOTLB_INVAL);
	/* Overlaps at the end, at the start, in the middle, and a 2 MiB map over 4K pages. */
	cr_assert_eq(iovirt_pt_map(f.io, 8, MiB(2), 0x200000, KiB(44), RW), IOVIRT_EEXIST);
	cr_assert_eq(iovirt_pt_map(f.io, 8, MiB(2) + KiB(44), 0x200000, KiB(16), RW), IOVIRT_EEXIST);
	cr_assert_eq(iovirt_pt_map(f.io, 8, MiB(2), 0x200000, MiB(2), RW), IOVIRT_EEXIST);
	cr_assert_eq(iovirt_pt_map(f.io, 8, 0, 0, MiB(6), RW), IOVIRT_EEXIST);
	pt_snap_take(&f, 8, b);
	cr_assert_eq(a->n, b->n);
	cr_assert_arr_eq(a->t, b->t, a->n * sizeof(a->t[0]));
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(f.io, 8, MiB(2), 1, &x), IOVIRT_ENOENT, "rolled back");
	cr_assert_eq(iovirt_pt_translate(f.io, 8, 0, 1, &x), IOVIRT_ENOENT, "rolled back");
	cr_assert_eq(iovirt_pt_translate(f.io, 8, MiB(2) + KiB(40), 1, &x), 0);
	cr_assert_eq(x.pa, 0x100000);
	/* The failures that had installed entries invalidated them once each. */
	cr_assert_leq(iovirt_posix_count(f.posix, IOVIRT_CB_IOTLB_INVAL) - inval, 4);
	/* A 4K map over a 2 MiB page is EEXIST too. */
	cr_assert_eq(iovirt_pt_map(f.io, 8, GiB(1), GiB(1), MiB(2), RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 8, GiB(1) + KiB(4), 0, KiB(4), RW), IOVIRT_EEXIST);
	free(a);
	free(b);
}

/* Unmapping holes is fine (0 bytes, no invalidation); cutting a large page is ESPLIT. */
Test(pt_basic, unmap_holes_and_large_pages)
{
	pt_fix_space(&f, 9, 48, 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 9, 0, GiB(16)), 0);
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_IOTLB_INVAL), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 9, GiB(2), GiB(2), GiB(1), RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 9, GiB(4), 0, MiB(2), RW), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 9, GiB(2), KiB(4)), IOVIRT_ESPLIT);
	cr_assert_eq(iovirt_pt_unmap(f.io, 9, GiB(2) + MiB(2), MiB(2)), IOVIRT_ESPLIT);
	cr_assert_eq(iovirt_pt_unmap(f.io, 9, GiB(1), GiB(1) + KiB(4)), IOVIRT_ESPLIT);
	cr_assert_eq(iovirt_pt_unmap(f.io, 9, GiB(4) + KiB(4), MiB(2)), IOVIRT_ESPLIT);
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_IOTLB_INVAL), 0);
	/* Covering both large pages and the hole between them works. */
	cr_assert_eq(iovirt_pt_unmap(f.io, 9, GiB(1), GiB(4)), GiB(1) + MiB(2));
	cr_assert_eq(iovirt_posix_count(f.posix, IOVIRT_CB_IOTLB_INVAL), 1);
}

/* Split turns 1G into 2M and 2M into 4K with the same translation; then a 4K unmap works. */
Test(pt_basic, split)
{
	struct iovirt_xlate x;
	pt_fix_space(&f, 10, 39, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 10, GiB(1), GiB(3), GiB(1), IOVIRT_PROT_READ), 0);
	cr_assert_eq(iovirt_pt_split(f.io, 10, GiB(1) + MiB(5)), 0);
	cr_assert_eq(iovirt_pt_translate(f.io, 10, GiB(1) + MiB(5) + 3, 1, &x), 0);
	cr_assert_eq(x.page_size, MiB(2));
	cr_assert_eq(x.pa, GiB(3) + MiB(5) + 3);
	cr_assert_eq(x.prot, IOVIRT_PROT_READ);
	cr_assert_eq(iovirt_pt_translate(f.io, 10, GiB(2) - 1, 1, &x), 0);
	cr_assert_eq(x.pa, GiB(4) - 1);
	cr_assert_eq(iovirt_pt_split(f.io, 10, GiB(1) + MiB(5)), 0);
	cr_assert_eq(iovirt_pt_translate(f.io, 10, GiB(1) + MiB(5) + 3, 1, &x), 0);
	cr_assert_eq(x.page_size, KiB(4));
	cr_assert_eq(x.pa, GiB(3) + MiB(5) + 3);
	cr_assert_eq(iovirt_pt_split(f.io, 10, GiB(1) + MiB(5)), IOVIRT_EINVAL, "4K pages do not split");
	cr_assert_eq(iovirt_pt_split(f.io, 10, GiB(5)), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_pt_split(f.io, 10, UINT64_C(1) << 39), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_pt_split(f.io, 11, 0), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_unmap(f.io, 10, GiB(1) + MiB(4), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_translate(f.io, 10, GiB(1) + MiB(4), 1, &x), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_pt_unmap(f.io, 10, GiB(1), GiB(1)), GiB(1) - KiB(4));
}

/* Split goes to the next size the space allows: with 4K|1G, a 1 GiB page becomes 4 KiB pages
 * (one level-2 table of 512 full level-1 tables), never a 2 MiB page the hardware may not support. */
Test(pt_basic, split_follows_pgsizes)
{
	struct iovirt_xlate x;
	struct iovirt_pt_stats st0, st;
	pt_fix_space(&f, 12, 48, IOVIRT_PAGE_4K | IOVIRT_PAGE_1G);
	cr_assert_eq(iovirt_pt_map(f.io, 12, GiB(3), GiB(5), GiB(1), RW), 0);
	cr_assert_eq(iovirt_pt_translate(f.io, 12, GiB(3), 1, &x), 0);
	cr_assert_eq(x.page_size, GiB(1));
	iovirt_pt_stats(f.io, &st0);
	cr_assert_eq(iovirt_pt_split(f.io, 12, GiB(3) + MiB(77)), 0);
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(st.tables - st0.tables, 513, "one level-2 table and 512 level-1 tables");
	for (uint64_t o = 0; o < GiB(1); o += MiB(2) + KiB(4) * 3) {
		cr_assert_eq(iovirt_pt_translate(f.io, 12, GiB(3) + o + 5, IOVIRT_PROT_WRITE, &x), 0);
		cr_assert_eq(x.page_size, KiB(4), "offset 0x%llx", (unsigned long long)o);
		cr_assert_eq(x.level, 1);
		cr_assert_eq(x.pa, GiB(5) + o + 5);
		cr_assert_eq(x.prot, RW);
	}
	cr_assert_eq(iovirt_pt_translate(f.io, 12, GiB(4) - 1, 1, &x), 0);
	cr_assert_eq(x.pa, GiB(6) - 1);
	cr_assert_eq(iovirt_pt_split(f.io, 12, GiB(3)), IOVIRT_EINVAL, "4K pages do not split");
	/* A 4 KiB unmap anywhere in it works now, and the rest unmaps in one go. */
	cr_assert_eq(iovirt_pt_unmap(f.io, 12, GiB(3) + MiB(300), KiB(4)), KiB(4));
	cr_assert_eq(iovirt_pt_translate(f.io, 12, GiB(3) + MiB(300), 1, &x), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_pt_unmap(f.io, 12, GiB(3), GiB(1)), GiB(1) - KiB(4));
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(st.tables, st0.tables - 1, "the emptied tables went (the level-3 one too), the root stayed");
}

/* With 4K|2M|1G a 1 GiB page still splits into 2 MiB pages, and with 4K|2M a 2 MiB page into 4 KiB. */
Test(pt_basic, split_next_allowed)
{
	struct iovirt_xlate x;
	pt_fix_space(&f, 13, 48, 0);
	pt_fix_space(&f, 14, 39, IOVIRT_PAGE_4K | IOVIRT_PAGE_2M);
	cr_assert_eq(iovirt_pt_map(f.io, 13, GiB(1), GiB(1), GiB(1), RW), 0);
	cr_assert_eq(iovirt_pt_split(f.io, 13, GiB(1)), 0);
	cr_assert_eq(iovirt_pt_translate(f.io, 13, GiB(1), 1, &x), 0);
	cr_assert_eq(x.page_size, MiB(2));
	cr_assert_eq(iovirt_pt_map(f.io, 14, MiB(2), MiB(4), MiB(2), RW), 0);
	cr_assert_eq(iovirt_pt_split(f.io, 14, MiB(3)), 0);
	cr_assert_eq(iovirt_pt_translate(f.io, 14, MiB(3), 1, &x), 0);
	cr_assert_eq(x.page_size, KiB(4));
	cr_assert_eq(x.pa, MiB(5));
}

/* The reclaim mode getter answers the mode the iommu was created with. */
Test(pt_basic, reclaim_mode)
{
	struct pt_fix g;
	pt_fix_init(&g, IOVIRT_RECLAIM_AFTER_INVAL);
	cr_assert_eq(iovirt_iommu_reclaim_mode(g.io), IOVIRT_RECLAIM_AFTER_INVAL);
	pt_fix_done(&g);
	pt_fix_init(&g, IOVIRT_RECLAIM_DEFERRED);
	cr_assert_eq(iovirt_iommu_reclaim_mode(g.io), IOVIRT_RECLAIM_DEFERRED);
	pt_fix_done(&g);
}

static int stop_at_level1(void *arg, const struct iovirt_pt_table *t)
{
	(void)arg;
	return t->level == 1 ? 42 : 0;
}

/* The remaining refusals: a gathered unmap checks its range like unmap; root, foreach_table
 * answer ENOASID; foreach_table stops at a non-zero return deep in the walk and passes it on. */
Test(pt_basic, small_refusals)
{
	uint64_t root;
	unsigned lv;
	struct iovirt_pt_gather g;
	pt_fix_space(&f, 15, 39, 0);
	iovirt_pt_gather_init(&g, 15);
	cr_assert_eq(iovirt_pt_unmap_gather(f.io, 15, KiB(4) + 1, KiB(4), &g), IOVIRT_EALIGN);
	cr_assert_eq(iovirt_pt_unmap_gather(f.io, 15, UINT64_C(1) << 39, KiB(4), &g), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_pt_unmap_gather(f.io, 16, 0, KiB(4), &g), IOVIRT_ENOASID);
	cr_assert_eq(g.pending, 0);
	iovirt_pt_gather_flush(f.io, &g);
	cr_assert_eq(iovirt_pt_root(f.io, 16, &root, &lv), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_foreach_table(f.io, 16, stop_at_level1, NULL), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_map(f.io, 15, MiB(6), MiB(6), KiB(8), RW), 0);
	cr_assert_eq(iovirt_pt_foreach_table(f.io, 15, stop_at_level1, NULL), 42);
}

/* ASIDs are sparse: 7 and 1,000,000 cost two directory chunks; the maximum works; duplicates fail. */
Test(pt_basic, sparse_asids)
{
	struct iovirt_pt_stats st0, st;
	iovirt_pt_stats(f.io, &st0);
	pt_fix_space(&f, 7, 48, 0);
	pt_fix_space(&f, 1000000, 48, 0);
	pt_fix_space(&f, IOVIRT_ASID_MAX, 48, 0);
	cr_assert_eq(iovirt_pt_space_create(f.io, 7, NULL), IOVIRT_EDUP);
	cr_assert_eq(iovirt_pt_space_create(f.io, IOVIRT_ASID_MAX + 1, NULL), IOVIRT_EINVAL);
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(st.spaces, 3);
	cr_assert_eq(st.tables, 3);
	/* Directory chunks are 8 KiB each; two of them (7 and 1e6 fall in different chunks, MAX in a third). */
	cr_assert_lt(st.meta_bytes - st0.meta_bytes, 3 * (8192 + 4096 + 256) + 1);
	cr_assert_eq(iovirt_pt_map(f.io, IOVIRT_ASID_MAX, 0, 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 7, 0, 0x9000, KiB(4), RW), 0);
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(f.io, 7, 0, 1, &x), 0);
	cr_assert_eq(x.pa, 0x9000);
	cr_assert_eq(iovirt_pt_translate(f.io, IOVIRT_ASID_MAX, 0, 1, &x), 0);
	cr_assert_eq(x.pa, 0);
	cr_assert_eq(iovirt_pt_translate(f.io, 8, 0, 1, &x), IOVIRT_ENOASID);
}

/* A destroyed ASID is gone: one ASID-wide invalidation, all tables released, ID reusable. */
Test(pt_basic, destroy_space)
{
	pt_fix_space(&f, 12, 48, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 12, 0, 0, MiB(64), RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 12, GiB(100), 0, KiB(64), RW), 0);
	cr_assert_gt(iovirt_posix_live_tables(f.posix), 3);
	iovirt_posix_log_enable(f.posix, 64);
	cr_assert_eq(iovirt_pt_space_destroy(f.io, 12), 0);
	struct iovirt_posix_event ev[64];
	size_t n = iovirt_posix_log_read(f.posix, ev, 64);
	cr_assert_gt(n, 1);
	cr_assert_eq(ev[0].cb, IOVIRT_CB_IOTLB_INVAL, "flush before anything is released");
	cr_assert_eq(ev[0].c & 0xff, IOVIRT_INVAL_ASID);
	size_t invals = 0;
	for (size_t i = 0; i < n; i++)
		invals += ev[i].cb == IOVIRT_CB_IOTLB_INVAL;
	cr_assert_eq(invals, 1);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), 0);
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(f.io, 12, 0, 1, &x), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_map(f.io, 12, 0, 0, KiB(4), RW), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_space_destroy(f.io, 12), IOVIRT_ENOASID);
	pt_fix_space(&f, 12, 48, 0);
	cr_assert_eq(iovirt_pt_translate(f.io, 12, 0, 1, &x), IOVIRT_ENOENT);
}

/* Deferred reclaim keeps unlinked tables until iovirt_pt_reclaim, then releases them. */
Test(pt_basic, deferred_reclaim)
{
	struct pt_fix d;
	pt_fix_init_nokeep(&d, IOVIRT_RECLAIM_DEFERRED);
	pt_fix_space(&d, 1, 48, 0);
	cr_assert_eq(iovirt_pt_map(d.io, 1, GiB(1), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_posix_live_tables(d.posix), 4);
	cr_assert_eq(iovirt_pt_unmap(d.io, 1, GiB(1), KiB(4)), KiB(4));
	struct iovirt_pt_stats st;
	iovirt_pt_stats(d.io, &st);
	cr_assert_eq(st.tables, 1);
	cr_assert_eq(st.retired, 3);
	cr_assert_eq(iovirt_posix_live_tables(d.posix), 4, "nothing released before reclaim");
	cr_assert_eq(iovirt_pt_reclaim(d.io), 3);
	iovirt_pt_stats(d.io, &st);
	cr_assert_eq(st.retired, 0);
	cr_assert_eq(iovirt_pt_cached(d.io), 3, "reclaimed into the table cache");
	cr_assert_eq(iovirt_posix_live_tables(d.posix), 4);
	cr_assert_eq(iovirt_pt_reclaim(d.io), 0);
	iovirt_pt_stats(d.io, &st);
	cr_assert_eq(iovirt_pt_cached(d.io), 0, "the next reclaim released what the cache held");
	cr_assert_eq(iovirt_posix_live_tables(d.posix), 1);
	pt_fix_done(&d);
}

/* foreach merges runs that continue each other and stops when the callback says so. */
static int collect(void *arg, const struct iovirt_mapping *m)
{
	struct iovirt_mapping *out = arg;
	for (int i = 0; i < 8; i++)
		if (!out[i].size) {
			out[i] = *m;
			return 0;
		}
	return 99;
}

Test(pt_basic, foreach_merges)
{
	struct iovirt_mapping got[8] = { 0 };
	pt_fix_space(&f, 13, 48, 0);
	/* Two maps that continue each other (a 2M page then 4K pages) merge into one run. */
	cr_assert_eq(iovirt_pt_map(f.io, 13, MiB(2), MiB(4), MiB(2), RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 13, MiB(4), MiB(6), KiB(8), RW), 0);
	/* A different pa, a different prot: new runs. */
	cr_assert_eq(iovirt_pt_map(f.io, 13, MiB(4) + KiB(8), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 13, MiB(4) + KiB(12), KiB(4), KiB(4), IOVIRT_PROT_READ), 0);
	cr_assert_eq(iovirt_pt_foreach(f.io, 13, collect, got), 0);
	cr_assert_eq(got[0].iova, MiB(2));
	cr_assert_eq(got[0].size, MiB(2) + KiB(8));
	cr_assert_eq(got[1].iova, MiB(4) + KiB(8));
	cr_assert_eq(got[1].size, KiB(4));
	cr_assert_eq(got[2].prot, IOVIRT_PROT_READ);
	cr_assert_eq(got[3].size, 0);
	cr_assert_eq(iovirt_pt_foreach(f.io, 14, collect, got), IOVIRT_ENOASID);
}

static void count_lines(void *arg, const char *line)
{
	(*(int *)arg)++;
	cr_assert_lt(strlen(line), 160);
}

/* The dump emits a header, every table and every run. */
Test(pt_basic, dump)
{
	int lines = 0;
	pt_fix_space(&f, 15, 39, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 15, 0, 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_dump(f.io, 15, count_lines, &lines), 0);
	/* header + "tables:" + 3 tables + "mappings:" + 1 run + summary */
	cr_assert_eq(lines, 8);
	cr_assert_eq(iovirt_pt_dump(f.io, 16, count_lines, &lines), IOVIRT_ENOASID);
}

static void keep_lines(void *arg, const char *line)
{
	char *out = arg;
	strncat(out, line, 4096 - strlen(out) - 2);
	strcat(out, "\n");
}

/* The dump names the page sizes the space allows and each run's permissions as they are
 * (read-only, write-only); without an emit function it refuses. */
Test(pt_basic, dump_details)
{
	static char out[4096];
	out[0] = 0;
	pt_fix_space(&f, 17, 48, IOVIRT_PAGE_4K);
	cr_assert_eq(iovirt_pt_map(f.io, 17, 0, 0, KiB(4), IOVIRT_PROT_READ), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 17, MiB(2), MiB(8), KiB(4), IOVIRT_PROT_WRITE), 0);
	cr_assert_eq(iovirt_pt_dump(f.io, 17, keep_lines, out), 0);
	cr_assert(strstr(out, "pages 4K\n"), "%s", out);
	cr_assert(strstr(out, " r-  4 KiB"), "%s", out);
	cr_assert(strstr(out, " -w  4 KiB"), "%s", out);
	cr_assert_eq(iovirt_pt_dump(f.io, 17, NULL, out), IOVIRT_ENOASID);
}

/* A host without the needed callbacks, or an older ops size, is refused cleanly. */
Test(pt_basic, host_ops_versioning)
{
	struct iovirt_iommu *io = NULL;
	struct iovirt_host_ops ops = *iovirt_posix_ops();
	ops.iotlb_inval = NULL;
	cr_assert_eq(iovirt_iommu_create(&ops, f.posix, NULL, &io), IOVIRT_ENOSYS);
	ops = *iovirt_posix_ops();
	ops.size = offsetof(struct iovirt_host_ops, table_free); /* a host built before table pages */
	cr_assert_eq(iovirt_iommu_create(&ops, f.posix, NULL, &io), IOVIRT_ENOSYS);
	cr_assert_eq(iovirt_iommu_create(NULL, f.posix, NULL, &io), IOVIRT_EINVAL);
	/* each callback the page tables need, missing alone: ENOSYS, nothing allocated */
	const size_t need[] = { offsetof(struct iovirt_host_ops, mem_alloc),
				offsetof(struct iovirt_host_ops, mem_free),
				offsetof(struct iovirt_host_ops, table_alloc),
				offsetof(struct iovirt_host_ops, table_free),
				offsetof(struct iovirt_host_ops, iotlb_inval) };
	const int64_t live = iovirt_posix_live_mem(f.posix);
	for (size_t k = 0; k < sizeof(need) / sizeof(need[0]); k++) {
		ops = *iovirt_posix_ops();
		memset((char *)&ops + need[k], 0, sizeof(void (*)(void)));
		cr_assert_eq(iovirt_iommu_create(&ops, f.posix, NULL, &io), IOVIRT_ENOSYS, "callback %zu", k);
		cr_assert_null(io);
	}
	cr_assert_eq(iovirt_posix_live_mem(f.posix), live);
	/* a size that does not even cover the size field: EINVAL; up to mem_alloc: ENOSYS */
	ops = *iovirt_posix_ops();
	ops.size = 0;
	cr_assert_eq(iovirt_iommu_create(&ops, f.posix, NULL, &io), IOVIRT_EINVAL);
	ops.size = offsetof(struct iovirt_host_ops, mem_alloc);
	cr_assert_eq(iovirt_iommu_create(&ops, f.posix, NULL, &io), IOVIRT_ENOSYS);
	struct iovirt_iommu_params p = { .size = sizeof(p), .format = 77 };
	cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), f.posix, &p, &io), IOVIRT_EINVAL);
	cr_assert_null(io);
}

/* Every page size at every relevant alignment of iova and pa: the page size chosen is the largest
 * both addresses allow, the translation is exact at both ends, and unmap returns the full size. */
Test(pt_basic, every_size_every_alignment)
{
	const uint64_t sizes[] = { KiB(4), MiB(2), GiB(1) };
	const uint64_t offs[] = { 0, KiB(4), MiB(2), MiB(2) + KiB(4) };
	pt_fix_space(&f, 20, 48, 0);
	for (int s = 0; s < 3; s++)
		for (int a = 0; a < 4; a++)
			for (int b = 0; b < 4; b++) {
				const uint64_t iova = GiB(4) + offs[a], pa = GiB(64) + offs[b], size = sizes[s];
				cr_assert_eq(iovirt_pt_map(f.io, 20, iova, pa, size, RW), 0);
				uint64_t want = KiB(4);
				for (int k = 2; k >= 1; k--)
					if (sizes[k] <= size && !((iova | pa) & (sizes[k] - 1))) {
						want = sizes[k];
						break;
					}
				struct iovirt_xlate x;
				cr_assert_eq(iovirt_pt_translate(f.io, 20, iova, 1, &x), 0);
				cr_assert_eq(x.page_size, want, "size %llx at iova+%llx pa+%llx",
					     (unsigned long long)size, (unsigned long long)offs[a],
					     (unsigned long long)offs[b]);
				cr_assert_eq(x.pa, pa);
				cr_assert_eq(iovirt_pt_translate(f.io, 20, iova + size - 1, 2, &x), 0);
				cr_assert_eq(x.pa, pa + size - 1);
				cr_assert_eq(iovirt_pt_translate(f.io, 20, iova + size, 1, &x), IOVIRT_ENOENT);
				cr_assert_eq(iovirt_pt_translate(f.io, 20, iova - 1, 1, &x), IOVIRT_ENOENT);
				cr_assert_eq(iovirt_pt_unmap(f.io, 20, iova, size), (int64_t)size);
			}
	struct iovirt_pt_stats st;
	iovirt_pt_trim(f.io); /* the tables kept after they emptied */
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(st.tables, 1, "every table released again");
}
