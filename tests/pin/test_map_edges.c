/* SPDX-License-Identifier: MIT */
/*
 * lib/pin: edge paths of persistent mappings: a page-table map failing half
 * way, several address spaces and iommus, allocator windows at the top of the
 * address space, the batched queue's overlap check, and unmaps the page table
 * refuses.
 */
#include "pin_test.h"

#define PG 4096ull
#define FIX (1ull << 40) /* outside the default allocator window */
#define MiB2 (2ull << 20)

static bool mapped(struct pt *t, uint32_t asid, uint64_t iova)
{
	struct iovirt_xlate x;
	return iovirt_pt_translate(t->io, asid, iova, IOVIRT_PROT_READ, &x) == 0;
}

/* A fixed map whose second piece (past 256 KiB) meets an existing
 * translation fails with EEXIST: the first piece is removed again, nothing
 * is pinned or held, no handle taken, and the other translation stays. */
Test(pin_map_edges, map_fails_half_way)
{
	struct pt t;
	pt_init(&t);
	cr_assert_eq(iovirt_pt_map(t.io, PT_ASID, FIX + 300 * 1024ull, 0x9000000, PG, PRW), 0);
	struct pt_snap a, b;
	pt_snap_take(&t, &a);
	uint64_t at = FIX;
	struct iovirt_pin_handle h;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, 512 * 1024ull, PRW,
				    IOVIRT_PIN_MAP_FIXED, &at, &h),
		     IOVIRT_EEXIST);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	cr_assert(!mapped(&t, PT_ASID, FIX), "the first piece is unmapped again");
	cr_assert(!mapped(&t, PT_ASID, FIX + 256 * 1024ull - PG));
	cr_assert(mapped(&t, PT_ASID, FIX + 300 * 1024ull), "the other translation stays");
	/* the same range below the obstacle maps, and takes the slot a
	 * success would have taken first */
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, 256 * 1024ull, PRW,
				    IOVIRT_PIN_MAP_FIXED, &at, &h), 0);
	cr_assert_eq(h.index, 0);
	cr_assert_eq(h.gen, 2);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h), 0);
	pt_fini(&t);
}

/* Mappings in six address spaces (beyond the allocator table's first
 * capacity) get their own allocators: the same first address in each, freed
 * blocks reused per space; unmapping in any order works. */
Test(pin_map_edges, allocators_per_space)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_handle h[6], h2;
	uint64_t iova[6];
	for (uint32_t s = 0; s < 6; s++) {
		if (s)
			cr_assert_eq(iovirt_pt_space_create(t.io, PT_ASID + s, NULL), 0);
		cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID + s, PT_GPA_B + s * PG, PG, PRW, 0,
					    &iova[s], &h[s]), 0);
		cr_assert_eq(iova[s], IOVIRT_PIN_DEFAULT_IOVA_BASE, "space %u", s);
	}
	/* the last space's block goes back to its own allocator */
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[5]), 0);
	uint64_t again;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID + 5, PT_GPA_B, PG, PRW, 0, &again, &h2), 0);
	cr_assert_eq(again, iova[5]);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID + 3, PT_GPA_B, PG, PRW, 0, &again, &h[5]), 0);
	cr_assert_eq(again, iova[3] + PG, "space 3's next block");
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[5]), 0);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h2), 0);
	for (uint32_t s = 0; s < 5; s++)
		cr_assert_eq(iovirt_pin_unmap(t.dom, h[4 - s]), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	pt_fini(&t);
}

/* An allocator window at the very top of the 64-bit space: a block whose
 * alignment or end would wrap is ERANGE (nothing changed), and a block that
 * fits the window but not the page table's width fails there, its address
 * given back (the next try gets the same address). */
Test(pin_map_edges, window_at_the_top)
{
	struct pt t;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .iova_base = UINT64_MAX - 3 * PG + 1,
					.iova_end = UINT64_MAX - PG + 1 };
	pt_init_params(&t, &pp);
	struct pt_snap a, b;
	pt_snap_take(&t, &a);
	uint64_t iova = 0;
	struct iovirt_pin_handle h;
	/* 16 KiB: aligning the base up wraps past 2^64 */
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, 4 * PG, PRW, 0, &iova, &h),
		     IOVIRT_ERANGE);
	/* 8 KiB: aligned base 2^64 - 8 KiB, its end wraps to 0 */
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, 2 * PG, PRW, 0, &iova, &h),
		     IOVIRT_ERANGE);
	/* 4 KiB fits the window; the 48-bit space refuses it */
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, PG, PRW, 0, &iova, &h),
		     IOVIRT_ERANGE);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, PG, PRW, 0, &iova, &h),
		     IOVIRT_ERANGE);
	cr_assert_eq(iova, 0);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	/* fixed addresses below the window still work */
	iova = FIX;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, PG, PRW, IOVIRT_PIN_MAP_FIXED,
				    &iova, &h), 0);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h), 0);
	pt_fini(&t);
}

static uint64_t deferred(struct pt *t)
{
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t->dom, &st);
	return st.deferred_entries;
}

/* Batched: unmaps in two spaces of one iommu and in a second iommu each
 * gather apart (one invalidation per space at the flush); a fixed map flushes
 * the queue only when it overlaps a queued range of the same iommu and space
 * (not another space, another iommu, or a range just above or below). */
Test(pin_map_edges, batched_spaces_and_overlap)
{
	struct pt t;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .batch = 16 };
	pt_init_params(&t, &pp);
	struct iovirt_iommu *io2;
	cr_assert_eq(iovirt_iommu_create(t.ops, t.p, NULL, &io2), 0);
	cr_assert_eq(iovirt_pt_space_create(io2, PT_ASID, NULL), 0);
	cr_assert_eq(iovirt_pt_space_create(t.io, PT_ASID + 1, NULL), 0);
	struct iovirt_pin_handle h[3], x;
	uint64_t at = FIX + 4 * PG;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, 2 * PG, PRW, IOVIRT_PIN_MAP_FIXED,
				    &at, &h[0]), 0);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID + 1, PT_GPA_B, 2 * PG, PRW,
				    IOVIRT_PIN_MAP_FIXED, &at, &h[1]), 0);
	cr_assert_eq(iovirt_pin_map(t.dom, io2, PT_ASID, PT_GPA_B, 2 * PG, PRW, IOVIRT_PIN_MAP_FIXED,
				    &at, &h[2]), 0);
	/* queue only the first: the others are live in the same ranges */
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[0]), 0);
	cr_assert_eq(deferred(&t), 1);
	/* not overlapping the queued [FIX + 4 pages, + 2 pages) of (t.io, ASID) */
	uint64_t below = FIX + 2 * PG, above = FIX + 6 * PG, other = FIX + 4 * PG;
	struct iovirt_pin_handle hb, ha, ho;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA, 2 * PG, PRW, IOVIRT_PIN_MAP_FIXED,
				    &below, &hb), 0);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA, 2 * PG, PRW, IOVIRT_PIN_MAP_FIXED,
				    &above, &ha), 0);
	uint64_t o2 = FIX + 5 * PG; /* overlaps in asid+1, which maps it live: EEXIST */
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID + 1, PT_GPA, PG, PRW, IOVIRT_PIN_MAP_FIXED,
				    &o2, &x), IOVIRT_EEXIST);
	cr_assert_eq(iovirt_pin_map(t.dom, io2, PT_ASID, PT_GPA, PG, PRW, IOVIRT_PIN_MAP_FIXED,
				    &o2, &x), IOVIRT_EEXIST);
	cr_assert_eq(deferred(&t), 1, "no flush for other spaces or ranges");
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[0]), IOVIRT_EDONE);
	/* queue the other two: three gathers */
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[1]), 0);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[2]), 0);
	cr_assert_eq(deferred(&t), 3);
	uint64_t inv = iovirt_posix_count(t.p, IOVIRT_CB_IOTLB_INVAL);
	/* overlapping the queued range of (t.io, ASID): flush first, then map */
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA, PG, PRW, IOVIRT_PIN_MAP_FIXED,
				    &other, &ho), 0);
	cr_assert_eq(deferred(&t), 0);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_IOTLB_INVAL) - inv, 3, "one per space");
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.flush_invals, 3);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[0]), IOVIRT_EDONE, "EDONE before and after");
	cr_assert_eq(iovirt_pin_unmap(t.dom, ho), 0);
	cr_assert_eq(iovirt_pin_unmap(t.dom, hb), 0);
	cr_assert_eq(iovirt_pin_unmap(t.dom, ha), 0);
	cr_assert_eq(iovirt_pin_flush(t.dom), 3);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	cr_assert_eq(iovirt_pin_domain_destroy(t.dom), 0);
	t.dom = NULL;
	iovirt_iommu_destroy(io2);
	pt_fini(&t);
}

/*
 * An unmap the page table refuses (the space was destroyed and made again,
 * and a 2 MiB page now covers the mapping: ESPLIT) returns that error with
 * the handle still live, its pages pinned and its hold kept; strict and
 * batched (where the flush then has only an empty gather to issue: 0
 * entries). Once the large page is gone the unmap succeeds.
 */
Test(pin_map_edges, unmap_refused_by_page_table)
{
	for (uint32_t batch = 0; batch < 2; batch++) {
		struct pt t;
		struct iovirt_pin_params pp = { .size = sizeof(pp), .batch = batch * 8 };
		pt_init_params(&t, &pp);
		uint64_t iova;
		struct iovirt_pin_handle h;
		cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, 2 * PG, PRW, 0, &iova, &h), 0);
		cr_assert_eq(iovirt_pt_space_destroy(t.io, PT_ASID), 0);
		cr_assert_eq(iovirt_pt_space_create(t.io, PT_ASID, NULL), 0);
		uint64_t big = iova & ~(MiB2 - 1);
		cr_assert_eq(iovirt_pt_map(t.io, PT_ASID, big, 0x40000000, MiB2, PRW), 0);
		struct pt_snap a, b;
		pt_snap_take(&t, &a);
		uint64_t inv = iovirt_posix_count(t.p, IOVIRT_CB_IOTLB_INVAL);
		cr_assert_eq(iovirt_pin_unmap(t.dom, h), IOVIRT_ESPLIT, "batch %u", batch);
		cr_assert_eq(iovirt_pin_flush(t.dom), 0, "nothing was queued");
		pt_snap_take(&t, &b);
		pt_snap_same(&a, &b);
		cr_assert_eq(b.st.live_maps, 1);
		cr_assert_eq(b.st.deferred_entries, 0);
		cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_IOTLB_INVAL), inv, "nothing to invalidate");
		cr_assert_eq(iovirt_posix_pinned_pages(t.p), 2);
		cr_assert(mapped(&t, PT_ASID, iova), "the large page stays");
		cr_assert_eq(iovirt_pt_unmap(t.io, PT_ASID, big, MiB2), (int64_t)MiB2);
		cr_assert_eq(iovirt_pin_unmap(t.dom, h), 0);
		iovirt_pin_flush(t.dom);
		cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
		pt_fini(&t);
	}
}

/* Many blocks of one size in one space: the allocator's per-size stack
 * grows past its first capacity (at bump time, never at unmap), every block
 * distinct; unmap never allocates, and every freed block is handed out again. */
Test(pin_map_edges, allocator_stack_grows)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_handle h[20];
	uint64_t iova[20];
	for (int i = 0; i < 20; i++) {
		cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B + i * PG, PG, PRW, 0, &iova[i],
					    &h[i]), 0);
		cr_assert_eq(iova[i], IOVIRT_PIN_DEFAULT_IOVA_BASE + i * PG, "bumped in order");
	}
	uint64_t allocs = iovirt_posix_count(t.p, IOVIRT_CB_MEM_ALLOC);
	for (int i = 0; i < 20; i++)
		cr_assert_eq(iovirt_pin_unmap(t.dom, h[i]), 0);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_MEM_ALLOC), allocs, "unmap never allocates");
	uint64_t seen = 0;
	for (int i = 0; i < 20; i++) {
		uint64_t a;
		cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, PG, PRW, 0, &a, &h[i]), 0);
		cr_assert_lt(a, IOVIRT_PIN_DEFAULT_IOVA_BASE + 20 * PG, "a freed block, not a new one");
		uint64_t bit = 1ull << ((a - IOVIRT_PIN_DEFAULT_IOVA_BASE) / PG);
		cr_assert_eq(seen & bit, 0, "no block handed out twice");
		seen |= bit;
	}
	for (int i = 0; i < 20; i++)
		cr_assert_eq(iovirt_pin_unmap(t.dom, h[i]), 0);
	pt_fini(&t);
}
