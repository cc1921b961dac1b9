/* SPDX-License-Identifier: MIT */
/* lib/pin: persistent IOMMU mappings, unpin ordering, allocator, batched teardown. */
#include "pin_test.h"

/* Index of the first event of kind cb at or after from, or -1. */
static long find_ev(const struct iovirt_posix_event *ev, size_t n, size_t from, uint32_t cb)
{
	for (size_t i = from; i < n; i++)
		if (ev[i].cb == cb)
			return (long)i;
	return -1;
}

/* A map translates to the region's host physical pages; unmap removes it and unpins after the invalidation. */
Test(pin_map, map_translate_unmap_order)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_handle h;
	uint64_t iova = 0;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B + 0x3000, 3 * 4096, PRW, 0, &iova, &h), 0);
	cr_assert_eq(iova % (4 * 4096), 0, "naturally aligned block");
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(t.io, PT_ASID, iova + 0x2010, IOVIRT_PROT_WRITE, &x), 0);
	cr_assert_eq(x.pa, PT_HPA_B + 0x5010);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 3);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), IOVIRT_EINVAL, "a mapping is not a DMA");
	iovirt_posix_log_enable(t.p, 256);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h), 0);
	struct iovirt_posix_event ev[256];
	size_t n = iovirt_posix_log_read(t.p, ev, 256);
	long inv = find_ev(ev, n, 0, IOVIRT_CB_IOTLB_INVAL), unp = find_ev(ev, n, 0, IOVIRT_CB_UNPIN);
	cr_assert_geq(inv, 0);
	cr_assert_geq(unp, 0);
	cr_assert_lt(inv, unp, "unpin must follow the invalidation");
	cr_assert_eq(ev[inv].id, PT_ASID);
	cr_assert_leq(ev[inv].a, iova);
	cr_assert_geq(ev[inv].a + ev[inv].b, iova + 3 * 4096, "the invalidation covers the mapping");
	cr_assert_eq(iovirt_pt_translate(t.io, PT_ASID, iova, IOVIRT_PROT_READ, &x), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h), IOVIRT_EDONE);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), 0);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* Fixed bus addresses: used as given outside the window, refused inside it (ERANGE), collisions refused with nothing pinned. */
Test(pin_map, fixed_iova)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_handle h, h2;
	uint64_t iova = 0x10000;
	int r = iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA, 2 * 4096, IOVIRT_PROT_READ,
			       IOVIRT_PIN_MAP_FIXED, &iova, &h);
	cr_assert_eq(r, 0, "%s", iovirt_err_name(r));
	cr_assert_eq(iova, 0x10000);
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(t.io, PT_ASID, 0x11000, IOVIRT_PROT_READ, &x), 0);
	cr_assert_eq(x.pa, PT_HPA_A + 0x1000);
	cr_assert_eq(iovirt_pt_translate(t.io, PT_ASID, 0x11000, IOVIRT_PROT_WRITE, &x), IOVIRT_EPERM);
	struct pt_snap a, b;
	pt_snap_take(&t, &a);
	uint64_t clash = 0x11000;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA + 0x8000, 4096, IOVIRT_PROT_READ,
				    IOVIRT_PIN_MAP_FIXED, &clash, &h2), IOVIRT_EEXIST);
	uint64_t inwin = IOVIRT_PIN_DEFAULT_IOVA_BASE;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA, 4096, IOVIRT_PROT_READ,
				    IOVIRT_PIN_MAP_FIXED, &inwin, &h2), IOVIRT_ERANGE);
	uint64_t odd = 0x20010;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA, 4096, IOVIRT_PROT_READ,
				    IOVIRT_PIN_MAP_FIXED, &odd, &h2), IOVIRT_EALIGN);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, 77, PT_GPA, 4096, IOVIRT_PROT_READ, 0, &odd, &h2),
		     IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA + 1, 4096, IOVIRT_PROT_READ, 0, &odd, &h2),
		     IOVIRT_EALIGN);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, 0x10000000, 4096, IOVIRT_PROT_READ, 0, &odd, &h2),
		     IOVIRT_ENOREGION);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h), 0);
	pt_fini(&t);
}

/* The allocator reuses a freed block of the same size and never hands out overlapping blocks. */
Test(pin_map, allocator_reuse_no_overlap)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_handle h[8];
	uint64_t iova[8];
	for (int i = 0; i < 8; i++) {
		uint64_t len = (uint64_t)(1 + i % 3) * 4096;
		cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B + i * 0x10000, len, PRW, 0,
					    &iova[i], &h[i]), 0);
		for (int j = 0; j < i; j++) {
			uint64_t lj = (uint64_t)(1 + j % 3) * 4096;
			cr_assert(iova[i] + len <= iova[j] || iova[j] + lj <= iova[i], "blocks overlap");
		}
	}
	uint64_t freed = iova[3];
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[3]), 0); /* a 1-page block */
	uint64_t again;
	struct iovirt_pin_handle h2;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA, 4096, PRW, 0, &again, &h2), 0);
	cr_assert_eq(again, freed);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h2), 0);
	for (int i = 0; i < 8; i++)
		if (i != 3)
			cr_assert_eq(iovirt_pin_unmap(t.dom, h[i]), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	pt_fini(&t);
}

/* A map of a region without host physical addresses is refused (EINVAL), nothing pinned. */
Test(pin_map, region_without_hpa)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_region r = { .size = sizeof(r), .gpa = 0x2000000, .length = 4096,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
				   .hva = t.mem };
	cr_assert_eq(iovirt_gmap_add(t.map, &r), 0);
	struct iovirt_pin_handle h;
	uint64_t iova;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, 0x2000000, 4096, PRW, 0, &iova, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	cr_assert_eq(iovirt_gmap_in_use(t.map, 0x2000000), 0);
	pt_fini(&t);
}

/* Batched teardown: unmap clears the translation at once but defers invalidation and unpin; the exposure window is reported; a flush (by count or on demand) invalidates, then unpins. */
Test(pin_map, batched_teardown)
{
	struct pt t;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .batch = 3 };
	pt_init_params(&t, &pp);
	struct iovirt_pin_handle h[4];
	uint64_t iova[4];
	for (int i = 0; i < 4; i++)
		cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B + i * 0x4000, 2 * 4096, PRW, 0,
					    &iova[i], &h[i]), 0);
	iovirt_posix_log_enable(t.p, 256);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[0]), 0);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[1]), 0);
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(t.io, PT_ASID, iova[0], IOVIRT_PROT_READ, &x), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 8, "unpins wait for the flush");
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_UNPIN), 0);
	struct iovirt_posix_event ev0[256];
	size_t n0 = iovirt_posix_log_read(t.p, ev0, 256);
	cr_assert_eq(find_ev(ev0, n0, 0, IOVIRT_CB_IOTLB_INVAL), -1, "the invalidation waits too");
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.deferred_entries, 2);
	cr_assert_eq(st.deferred_pages, 4);
	cr_assert_eq(st.deferred_invals, 2);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[0]), IOVIRT_EDONE);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[2]), 0); /* third entry: flush by count */
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.deferred_entries, 0);
	cr_assert_eq(st.max_deferred_entries, 3);
	cr_assert_eq(st.max_deferred_pages, 6);
	cr_assert_eq(st.flushes, 1);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 2);
	/* every unpin in the log comes after every invalidation */
	struct iovirt_posix_event ev[256];
	size_t n = iovirt_posix_log_read(t.p, ev, 256);
	long last_inv = -1, first_unp = -1;
	for (size_t i = 0; i < n; i++) {
		if (ev[i].cb == IOVIRT_CB_IOTLB_INVAL)
			last_inv = (long)i;
		if (ev[i].cb == IOVIRT_CB_UNPIN && first_unp < 0)
			first_unp = (long)i;
	}
	cr_assert_geq(last_inv, 0);
	cr_assert_gt(first_unp, last_inv);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[3]), 0);
	cr_assert_eq(iovirt_pin_flush(t.dom), 1);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	pt_fini(&t);
}

/* A mapping whose address space was destroyed can still be unmapped (the destroy invalidated the ASID). */
Test(pin_map, unmap_after_space_destroy)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_handle h;
	uint64_t iova;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA, 4096, PRW, 0, &iova, &h), 0);
	cr_assert_eq(iovirt_pt_space_destroy(t.io, PT_ASID), 0);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	iovirt_pt_reclaim(t.io);
	pt_fini(&t);
}

/* A full allocator window gives ERANGE and changes nothing; a freed block makes room again. */
Test(pin_map, allocator_window_full)
{
	struct pt t;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .iova_base = 1ull << 20,
					.iova_end = (1ull << 20) + 4 * 4096 };
	pt_init_params(&t, &pp);
	struct iovirt_pin_handle h, h2;
	uint64_t iova, iova2;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, 3 * 4096, PRW, 0, &iova, &h), 0);
	cr_assert_eq(iova, 1ull << 20);
	struct pt_snap a, b;
	pt_snap_take(&t, &a);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA, 4096, PRW, 0, &iova2, &h2), IOVIRT_ERANGE);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h), 0);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA, 4 * 4096, PRW, 0, &iova2, &h2), 0);
	cr_assert_eq(iova2, 1ull << 20, "the freed 4-page block is reused");
	cr_assert_eq(iovirt_pin_unmap(t.dom, h2), 0);
	pt_fini(&t);
}
