/* SPDX-License-Identifier: MIT */
/* lib/pin fast paths: the domain's one hold per region, the one-leaf count
 * path (pages already pinned, fresh pages, rollback), the hold-table overflow. */
#include "pin_test.h"

static struct iovirt_host_seg out[64];

static int64_t held(struct pt *t, uint64_t gpa)
{
	return iovirt_gmap_in_use(t->map, gpa);
}

/* The first DMA in a region takes the domain's one hold, later ones share it, the last complete drops it; removal and shrink are EBUSY until then. */
Test(pin_holds, first_and_last_dma_in_region)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_seg s1 = pt_seg(PT_GPA_B, 4096), s2 = pt_seg(PT_GPA_B + 5 * 4096, 4096);
	struct iovirt_pin_handle h1, h2, h3;
	cr_assert_eq(held(&t, PT_GPA_B), 0);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s1, 1, out, 64, NULL, &h1), 1);
	cr_assert_eq(held(&t, PT_GPA_B), 1, "first DMA: one hold");
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s2, 1, out, 64, NULL, &h2), 1);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s1, 1, out, 64, NULL, &h3), 1);
	cr_assert_eq(held(&t, PT_GPA_B), 1, "later DMAs share the domain's hold");
	cr_assert_eq(out[0].hpa, PT_HPA_B, "the result still comes from validation");
	cr_assert_eq(iovirt_pin_complete(t.dom, h1), 0);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_gmap_shrink(t.map, PT_GPA_B, 4096), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_pin_complete(t.dom, h3), 0);
	cr_assert_eq(held(&t, PT_GPA_B), 1);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), IOVIRT_EBUSY, "one DMA still live");
	cr_assert_eq(iovirt_pin_complete(t.dom, h2), 0);
	cr_assert_eq(held(&t, PT_GPA_B), 0, "last complete: hold dropped");
	cr_assert_eq(iovirt_gmap_shrink(t.map, PT_GPA_B, 4096), 0);
	/* the shrunk region: a DMA past its new end is refused, one inside works */
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s2, 1, out, 64, NULL, &h1), IOVIRT_ENOREGION);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s1, 1, out, 64, NULL, &h1), 1);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_pin_complete(t.dom, h1), 0);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* Segments of one region in one DMA count once towards the shared hold; a refused DMA leaves the shared hold's users as they were. */
Test(pin_holds, shared_hold_users_exact)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_seg two[2] = { pt_seg(PT_GPA_B, 4096), pt_seg(PT_GPA_B + 3 * 4096, 4096) };
	struct iovirt_seg bad[2] = { pt_seg(PT_GPA_B, 4096), pt_seg(PT_GPA_B + PT_B_BYTES, 4096) };
	struct iovirt_pin_handle h1, h2, hx;
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, two, 2, out, 64, NULL, &h1), 2);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, two, 2, out, 64, NULL, &h2), 2);
	cr_assert_eq(held(&t, PT_GPA_B), 1);
	struct pt_snap a, b;
	pt_snap_take(&t, &a);
	cr_assert_lt(iovirt_pin_sg(t.dom, NULL, bad, 2, out, 64, NULL, &hx), 0);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	cr_assert_eq(iovirt_pin_complete(t.dom, h1), 0);
	cr_assert_eq(held(&t, PT_GPA_B), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h2), 0);
	cr_assert_eq(held(&t, PT_GPA_B), 0, "users were counted exactly");
	/* a refusal on the very first use drops the hold it took */
	cr_assert_lt(iovirt_pin_sg(t.dom, NULL, bad, 2, out, 64, NULL, &hx), 0);
	cr_assert_eq(held(&t, PT_GPA_B), 0);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), 0);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* A deferred removal counts the DMAs sharing the domain's hold; new DMAs in the region are EBUSY (the shared-hold path too); the last complete removes it. */
static int done_calls, done_result;
static void on_done(void *arg, int result)
{
	(void)arg;
	done_calls++;
	done_result = result;
}

Test(pin_holds, deferred_removal_with_shared_hold)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_seg s = pt_seg(PT_GPA_B + 4096, 4096), sa = pt_seg(PT_GPA, 4096);
	struct iovirt_pin_handle h[3], hx;
	for (int i = 0; i < 3; i++)
		cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h[i]), 1);
	done_calls = 0;
	cr_assert_eq(iovirt_pin_remove_deferred(t.dom, PT_GPA_B, on_done, NULL),
		     IOVIRT_PIN_REMOVE_PENDING);
	struct pt_snap a, b;
	pt_snap_take(&t, &a);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &hx), IOVIRT_EBUSY);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	/* other regions are unaffected */
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &sa, 1, out, 64, NULL, &hx), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h[0]), 0);
	cr_assert_eq(iovirt_pin_complete(t.dom, h[2]), 0);
	cr_assert_eq(done_calls, 0);
	cr_assert_eq(held(&t, PT_GPA_B), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h[1]), 0);
	cr_assert_eq(done_calls, 1);
	cr_assert_eq(done_result, 0);
	cr_assert_eq(held(&t, PT_GPA_B), IOVIRT_ENOREGION);
	cr_assert_eq(iovirt_pin_complete(t.dom, hx), 0);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* More regions in use than the domain's hold table: the extra ones are held per DMA; every hold is exact and everything is released in any order. */
Test(pin_holds, hold_table_overflow)
{
	struct pt t;
	pt_init(&t);
	enum { NR = 12 };
	struct iovirt_pin_handle h[NR][2];
	for (int i = 0; i < NR; i++) {
		uint64_t gpa = 0x10000000ull + (uint64_t)i * 0x100000;
		struct iovirt_region r = { .size = sizeof(r), .gpa = gpa, .length = 2 * 4096,
					   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
					   .flags = IOVIRT_REGION_HPA, .hpa = 0xc0000000ull + i * 8192ull };
		cr_assert_eq(iovirt_gmap_add(t.map, &r), 0);
		/* two segments in one region: one hold for the DMA */
		struct iovirt_seg s[2] = { pt_seg(gpa, 4096), pt_seg(gpa + 4096, 4096) };
		cr_assert_eq(iovirt_pin_sg(t.dom, NULL, s, 2, out, 64, NULL, &h[i][0]), 1);
		cr_assert_eq(iovirt_pin_sg(t.dom, NULL, s, 1, out, 64, NULL, &h[i][1]), 1);
		int64_t want = i < 8 ? 1 : 3; /* shared hold; own holds: one per segment */
		cr_assert_eq(held(&t, gpa), want, "region %d", i);
		cr_assert_eq(iovirt_gmap_remove(t.map, gpa), IOVIRT_EBUSY);
	}
	/* a region whose removal is pending while held per DMA */
	done_calls = 0;
	cr_assert_eq(iovirt_pin_remove_deferred(t.dom, 0x10000000ull + 10 * 0x100000, on_done, NULL),
		     IOVIRT_PIN_REMOVE_PENDING);
	for (int i = 0; i < NR; i++) {
		cr_assert_eq(iovirt_pin_complete(t.dom, h[i][i & 1]), 0);
		cr_assert_eq(iovirt_pin_complete(t.dom, h[i][!(i & 1)]), 0);
		uint64_t gpa = 0x10000000ull + (uint64_t)i * 0x100000;
		cr_assert_eq(held(&t, gpa), i == 10 ? IOVIRT_ENOREGION : 0, "region %d", i);
	}
	cr_assert_eq(done_calls, 1);
	cr_assert_eq(done_result, 0);
	/* the table is free again: a new region's DMAs share one hold */
	struct iovirt_seg s = pt_seg(0x10000000ull, 4096);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h[0][0]), 1);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h[0][1]), 1);
	cr_assert_eq(held(&t, 0x10000000ull), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h[0][0]), 0);
	cr_assert_eq(iovirt_pin_complete(t.dom, h[0][1]), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* Pages already pinned by another DMA cost no host call; only the fresh ones are pinned, in runs, and unpinned on their 1 -> 0. */
Test(pin_holds, warm_pages_no_host_call)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_seg ring = pt_seg(PT_GPA, 8 * 4096);
	struct iovirt_pin_handle hr, h;
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &ring, 1, out, 64, NULL, &hr), 1);
	uint64_t pins = iovirt_posix_count(t.p, IOVIRT_CB_PIN);
	uint64_t unpins = iovirt_posix_count(t.p, IOVIRT_CB_UNPIN);
	struct iovirt_seg s[3] = { pt_seg(PT_GPA + 4096, 4096), pt_seg(PT_GPA + 3 * 4096, 2 * 4096),
				   pt_seg(PT_GPA + 7 * 4096, 4096) };
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(iovirt_pin_sg(t.dom, NULL, s, 3, out, 64, NULL, &h), 3);
		cr_assert_eq(iovirt_pin_count(t.dom, PT_GPA + 3 * 4096), 2);
		cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	}
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_PIN), pins, "all pages were pinned already");
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_UNPIN), unpins);
	/* pages 7..9: 7 warm, 8..9 fresh: one pin call for the run [8, 10) */
	struct iovirt_seg m = pt_seg(PT_GPA + 7 * 4096, 3 * 4096);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &m, 1, out, 64, NULL, &h), 1);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_PIN), pins + 1);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 10);
	cr_assert_eq(iovirt_pin_complete(t.dom, hr), 0);
	/* pages 0..6 dropped to 0: one unpin call; 7..9 still pinned */
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_UNPIN), unpins + 1);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 3);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_UNPIN), unpins + 2);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.page_refs, 0);
	cr_assert_eq(st.pinned_pages, 0);
	pt_fini(&t);
}

/* Host pin failing at any run of a DMA within the cached leaf (warm and fresh pages mixed) leaves every count as before. */
Test(pin_holds, leaf_path_pin_fails_at_every_position)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_handle pre[2], h;
	struct iovirt_seg p2 = pt_seg(PT_GPA + 2 * 4096, 4096), p7 = pt_seg(PT_GPA + 7 * 4096, 4096);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &p2, 1, out, 64, NULL, &pre[0]), 1);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &p7, 1, out, 64, NULL, &pre[1]), 1);
	/* all in region A's leaf: runs [0,2) [3,5) [6,7) [8,10) [20,22): five pins */
	struct iovirt_seg s[3] = { pt_seg(PT_GPA, 5 * 4096), pt_seg(PT_GPA + 6 * 4096, 4 * 4096),
				   pt_seg(PT_GPA + 20 * 4096, 2 * 4096) };
	cr_assert_eq(pt_fail_each_pin(&t, s, 3, out, 64, &h), 5);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 11);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(iovirt_pin_complete(t.dom, pre[0]), 0);
	cr_assert_eq(iovirt_pin_complete(t.dom, pre[1]), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	pt_fini(&t);
}

/* max_pinned reached on the one-leaf path: ELIMIT, nothing changed; warm pages still pin. */
Test(pin_holds, leaf_path_limit)
{
	struct pt t;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .max_pinned = 4 };
	pt_init_params(&t, &pp);
	struct iovirt_seg four = pt_seg(PT_GPA, 4 * 4096), more = pt_seg(PT_GPA + 2 * 4096, 4 * 4096);
	struct iovirt_pin_handle h1, h2, hx;
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &four, 1, out, 64, NULL, &h1), 1);
	struct pt_snap a, b;
	pt_snap_take(&t, &a);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &more, 1, out, 64, NULL, &hx), IOVIRT_ELIMIT);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &four, 1, out, 64, NULL, &h2), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h1), 0);
	cr_assert_eq(iovirt_pin_complete(t.dom, h2), 0);
	pt_fini(&t);
}

/* One fresh page in the cached leaf: a failing host pin and the max_pinned limit change nothing; a page pinned already needs neither. */
Test(pin_holds, one_page_path_failures)
{
	struct pt t;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .max_pinned = 1 };
	pt_init_params(&t, &pp);
	struct iovirt_seg p0 = pt_seg(PT_GPA, 4096), p1 = pt_seg(PT_GPA + 4096, 4096);
	struct iovirt_pin_handle h0, h1, hx;
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &p0, 1, out, 64, NULL, &h0), 1);
	struct pt_snap a, b;
	pt_snap_take(&t, &a);
	/* p1 is in the cached leaf, count 0: the limit refuses it */
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &p1, 1, out, 64, NULL, &hx), IOVIRT_ELIMIT);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	/* p0 is pinned already: neither the limit nor the host is involved */
	iovirt_posix_fail_pin_at(t.p, 1);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &p0, 1, out, 64, NULL, &h1), 1);
	cr_assert_not(iovirt_posix_fail_fired(t.p));
	iovirt_posix_fail_pin_at(t.p, 0);
	cr_assert_eq(iovirt_pin_count(t.dom, PT_GPA), 2);
	cr_assert_eq(iovirt_pin_complete(t.dom, h1), 0);
	cr_assert_eq(iovirt_pin_complete(t.dom, h0), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	/* the leaf is cached and empty: a failing host pin of one page */
	pt_snap_take(&t, &a);
	iovirt_posix_fail_pin_at(t.p, 1);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &p1, 1, out, 64, NULL, &hx), IOVIRT_EHOST);
	cr_assert(iovirt_posix_fail_fired(t.p));
	iovirt_posix_fail_pin_at(t.p, 0);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &p1, 1, out, 64, NULL, &h1), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h1), 0);
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.page_refs, 0);
	cr_assert_eq(st.pinned_pages, 0);
	cr_assert_eq(st.host_pins, st.host_unpins);
	pt_fini(&t);
}

/* A later segment that starts in the leaf before the first segment's leaf and ends in it: not a one-leaf DMA; every count lands on its own page. */
Test(pin_holds, segment_crossing_into_cached_leaf)
{
	struct pt t;
	pt_init(&t);
	uint64_t edge = 0x20000000ull; /* a 2 MiB leaf boundary */
	struct iovirt_region r = { .size = sizeof(r), .gpa = edge - 0x4000, .length = 0x8000,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
				   .flags = IOVIRT_REGION_HPA, .hpa = 0xd0000000ull };
	cr_assert_eq(iovirt_gmap_add(t.map, &r), 0);
	struct iovirt_seg warm = pt_seg(edge + 0x2000, 4096);
	struct iovirt_seg s[2] = { pt_seg(edge + 0x1000, 4096), pt_seg(edge - 0x1000, 0x2000) };
	struct iovirt_pin_handle hw, h;
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &warm, 1, out, 64, NULL, &hw), 1); /* caches the leaf */
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, s, 2, out, 64, NULL, &h), 2);
	cr_assert_eq(iovirt_pin_count(t.dom, edge - 0x1000), 1);
	cr_assert_eq(iovirt_pin_count(t.dom, edge), 1);
	cr_assert_eq(iovirt_pin_count(t.dom, edge + 0x1000), 1);
	cr_assert_eq(iovirt_pin_count(t.dom, edge - 0x2000), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 4);
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.page_refs, 4);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(iovirt_pin_count(t.dom, edge - 0x1000), 0);
	cr_assert_eq(iovirt_pin_count(t.dom, edge + 0x2000), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, hw), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.page_refs, 0);
	pt_fini(&t);
}
