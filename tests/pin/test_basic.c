/* SPDX-License-Identifier: MIT */
/* lib/pin: validate+pin, counts, handles, holds, limits. */
#include "pin_test.h"

static struct iovirt_host_seg out[64];

/* One page pinned: one host pin call, count 1, host list points into the region; complete undoes all. */
Test(pin_basic, pin_one_page_and_complete)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_seg s = pt_seg(PT_GPA + 0x1010, 100);
	struct iovirt_pin_handle h;
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h), 1);
	cr_assert_eq(out[0].hva, t.mem + 0x1010);
	cr_assert_eq(out[0].hpa, PT_HPA_A + 0x1010);
	cr_assert_eq(iovirt_pin_count(t.dom, PT_GPA + 0x1000), 1);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 1);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_PIN), 1);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(iovirt_pin_count(t.dom, PT_GPA + 0x1000), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_UNPIN), 1);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 0);
	pt_fini(&t);
}

/* Host pin only on 0->1 and unpin only on 1->0: a second DMA on the same page calls neither. */
Test(pin_basic, host_called_on_first_and_last_only)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_seg s = pt_seg(PT_GPA, 4096);
	struct iovirt_pin_handle h1, h2;
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h1), 1);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h2), 1);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_PIN), 1);
	cr_assert_eq(iovirt_pin_count(t.dom, PT_GPA), 2);
	cr_assert_eq(iovirt_pin_complete(t.dom, h1), 0);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_UNPIN), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h2), 0);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_UNPIN), 1);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	pt_fini(&t);
}

/* One host call per contiguous run: a run is split only where a page was already pinned. */
Test(pin_basic, one_call_per_contiguous_run)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_handle h0, h;
	struct iovirt_seg mid = pt_seg(PT_GPA + 4 * 4096, 4096);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &mid, 1, out, 64, NULL, &h0), 1);
	/* pages 0..3 and 6..9 new, 4 already pinned, 5 new: runs [0,4) [5,6)+[6,10) merged across segs */
	struct iovirt_seg s[2] = { pt_seg(PT_GPA, 6 * 4096), pt_seg(PT_GPA + 6 * 4096, 4 * 4096) };
	iovirt_posix_log_enable(t.p, 64);
	cr_assert_gt(iovirt_pin_sg(t.dom, NULL, s, 2, out, 64, NULL, &h), 0);
	struct iovirt_posix_event ev[64];
	size_t n = iovirt_posix_log_read(t.p, ev, 64);
	uint64_t runs[8][2];
	int nr = 0;
	for (size_t i = 0; i < n; i++)
		if (ev[i].cb == IOVIRT_CB_PIN && nr < 8) {
			runs[nr][0] = ev[i].a;
			runs[nr][1] = ev[i].b;
			nr++;
		}
	cr_assert_eq(nr, 2);
	cr_assert_eq(runs[0][0], PT_GPA);
	cr_assert_eq(runs[0][1], 4);
	cr_assert_eq(runs[1][0], PT_GPA + 5 * 4096);
	cr_assert_eq(runs[1][1], 5);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 10);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h0), 0);
	pt_fini(&t);
}

/* A region cannot be removed or shrunk while pinned (EBUSY); after completion it can. */
Test(pin_basic, region_removal_while_pinned)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_seg s = pt_seg(PT_GPA_B + 8192, 4096);
	struct iovirt_pin_handle h;
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h), 1);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_gmap_shrink(t.map, PT_GPA_B, 4096), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), 0);
	/* and a pin of the removed range is now refused, with nothing pinned */
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h), IOVIRT_ENOREGION);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* Completion refusals change nothing: double (EDONE), stale (ESTALE), foreign (EOWNER). */
Test(pin_basic, double_stale_foreign_completion)
{
	struct pt t;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .max_handles = 2 };
	pt_init_params(&t, &pp);
	struct iovirt_seg s = pt_seg(PT_GPA, 4096);
	struct iovirt_pin_handle h1, h2, h3;
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h1), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h1), 0);
	struct pt_snap a, b;
	pt_snap_take(&t, &a);
	cr_assert_eq(iovirt_pin_complete(t.dom, h1), IOVIRT_EDONE);
	/* FIFO reuse: two more pins take slot 1, then slot 0 again */
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h2), 1);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h3), 1);
	cr_assert_eq(h3.index, h1.index);
	pt_snap_take(&t, &a);
	cr_assert_eq(iovirt_pin_complete(t.dom, h1), IOVIRT_ESTALE);
	struct iovirt_pin_handle bad = h3;
	bad.index = 99;
	cr_assert_eq(iovirt_pin_complete(t.dom, bad), IOVIRT_ESTALE);
	bad = h3;
	bad.tag ^= 1; /* another domain's tag */
	cr_assert_eq(iovirt_pin_complete(t.dom, bad), IOVIRT_EOWNER);
	/* a second domain of the same guest refuses this domain's handle */
	struct iovirt_pin_domain *other;
	cr_assert_eq(iovirt_pin_domain_create(t.ops, t.p, t.map, NULL, &other), 0);
	cr_assert_eq(iovirt_pin_complete(other, h3), IOVIRT_EOWNER);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h3), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_domain_destroy(other), 0);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	cr_assert_eq(iovirt_pin_complete(t.dom, h2), 0);
	cr_assert_eq(iovirt_pin_complete(t.dom, h3), 0);
	pt_fini(&t);
}

/* Limits: max live handles and max pinned pages give ELIMIT and change nothing. */
Test(pin_basic, limits)
{
	struct pt t;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .max_handles = 3, .max_pinned = 8 };
	pt_init_params(&t, &pp);
	struct iovirt_pin_handle h[4];
	struct iovirt_seg s = pt_seg(PT_GPA, 6 * 4096);
	cr_assert_gt(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h[0]), 0);
	struct pt_snap a, b;
	pt_snap_take(&t, &a);
	/* pages 4..7 are pinned already; 8..10 would make 9 distinct pages */
	struct iovirt_seg s2[2] = { pt_seg(PT_GPA + 4 * 4096, 2 * 4096), pt_seg(PT_GPA + 6 * 4096, 5 * 4096) };
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, s2, 2, out, 64, NULL, &h[1]), IOVIRT_ELIMIT);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	/* exactly at the limit is fine */
	s2[1].len = 2 * 4096;
	cr_assert_gt(iovirt_pin_sg(t.dom, NULL, s2, 2, out, 64, NULL, &h[1]), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 8);
	cr_assert_gt(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h[2]), 0);
	pt_snap_take(&t, &a);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h[3]), IOVIRT_ELIMIT);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(iovirt_pin_complete(t.dom, h[i]), 0);
	pt_fini(&t);
}

/* Validation refusals come through with nothing pinned or held. */
Test(pin_basic, refusals_pin_nothing)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_handle h;
	struct pt_snap a, b;
	pt_snap_take(&t, &a);
	struct iovirt_seg s[2] = { pt_seg(PT_GPA, 4096), pt_seg(PT_GPA + PT_BYTES - 4096, 8192) };
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, s, 2, out, 64, NULL, &h), IOVIRT_ENOREGION);
	s[1] = pt_seg(0x10, 16);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, s, 2, out, 64, NULL, &h), IOVIRT_ENOREGION);
	s[1] = pt_seg(PT_GPA, 0);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, s, 2, out, 64, NULL, &h), IOVIRT_EZEROLEN);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, s, 0, out, 64, NULL, &h), IOVIRT_EINVAL);
	struct iovirt_seg many[17];
	for (int i = 0; i < 17; i++)
		many[i] = pt_seg(PT_GPA, 16);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, many, 17, out, 64, NULL, &h), IOVIRT_ETOOMANY);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	pt_fini(&t);
}

/* A list in guest memory is read once: rewriting it after the read changes nothing pinned. */
static void rewrite_hook(void *arg, uint32_t guest, uint64_t gpa, size_t len)
{
	(void)guest;
	(void)gpa;
	(void)len;
	uint8_t *list = arg;
	uint64_t evil = 0x10; /* outside every region */
	memcpy(list, &evil, 8);
}

Test(pin_basic, guest_list_read_once)
{
	struct pt t;
	pt_init(&t);
	uint8_t *list = t.mem + 32 * 4096;
	uint64_t gpa = PT_GPA + 3 * 4096;
	uint64_t hi = 4096 | (uint64_t)IOVIRT_DEV_READ << 32;
	memcpy(list, &gpa, 8);
	memcpy(list + 8, &hi, 8);
	iovirt_posix_set_read_hook(t.p, rewrite_hook, list);
	struct iovirt_pin_handle h;
	cr_assert_eq(iovirt_pin_sg_guest(t.dom, NULL, PT_GPA + 32 * 4096, 1, out, 64, NULL, &h), 1);
	iovirt_posix_set_read_hook(t.p, NULL, NULL);
	cr_assert_eq(out[0].gpa, gpa);
	cr_assert_eq(iovirt_pin_count(t.dom, gpa), 1);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	/* the reserved field must be zero */
	hi |= UINT64_C(1) << 48;
	memcpy(list, &gpa, 8);
	memcpy(list + 8, &hi, 8);
	cr_assert_eq(iovirt_pin_sg_guest(t.dom, NULL, PT_GPA + 32 * 4096, 1, out, 64, NULL, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_sg_guest(t.dom, NULL, 0x10, 1, out, 64, NULL, &h), IOVIRT_EGUEST);
	pt_fini(&t);
}

/* Destroying a domain with a live DMA is refused (EBUSY). */
Test(pin_basic, destroy_busy)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_seg s = pt_seg(PT_GPA, 4096);
	struct iovirt_pin_handle h;
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h), 1);
	cr_assert_eq(iovirt_pin_domain_destroy(t.dom), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	pt_fini(&t);
}

/* A large run: a whole 512-page leaf pins in one host call and unpins in one. */
Test(pin_basic, large_run_one_call)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_seg s = pt_seg(PT_GPA_B, PT_B_BYTES);
	struct iovirt_pin_handle h;
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h), 1);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_PIN), 1);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 512);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_UNPIN), 1);
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t.dom, &st);
	cr_assert_leq(st.leaves, 16, "at most a few empty leaves stay cached");
	cr_assert_eq(st.page_refs, 0);
	pt_fini(&t);
}

/* A list validated earlier is pinned when the map still matches it, and refused (ESTALE, nothing pinned) when the region was replaced in between. */
Test(pin_basic, pin_validated_list)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_seg s[2] = { pt_seg(PT_GPA_B + 0x100, 300), pt_seg(PT_GPA + 0x5000, 8192) };
	struct iovirt_host_seg v[8];
	int n = iovirt_sg_validate(t.map, NULL, s, 2, v, 8, NULL);
	cr_assert_eq(n, 2);
	struct iovirt_pin_handle h;
	cr_assert_eq(iovirt_pin_validated(t.dom, NULL, v, (uint32_t)n, &h), 2);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 3);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	/* the guest's region B moves to other host memory after the validation */
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), 0);
	struct iovirt_region b = { .size = sizeof(b), .gpa = PT_GPA_B, .length = PT_B_BYTES,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
				   .flags = IOVIRT_REGION_HPA, .hpa = 0xc0000000ull };
	cr_assert_eq(iovirt_gmap_add(t.map, &b), 0);
	struct pt_snap a, c;
	pt_snap_take(&t, &a);
	cr_assert_eq(iovirt_pin_validated(t.dom, NULL, v, (uint32_t)n, &h), IOVIRT_ESTALE);
	pt_snap_take(&t, &c);
	pt_snap_same(&a, &c);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* Many leaves pinned and released: empty leaves are swept beyond a small cache and counts stay exact. */
Test(pin_basic, leaf_cache_sweep)
{
	struct pt t;
	pt_init(&t);
	uint64_t big = 0x10000000ull, len = 128ull << 20;
	struct iovirt_region r = { .size = sizeof(r), .gpa = big, .length = len,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
				   .flags = IOVIRT_REGION_HPA, .hpa = 1ull << 40 };
	cr_assert_eq(iovirt_gmap_add(t.map, &r), 0);
	struct iovirt_pin_handle h[64];
	for (int i = 0; i < 64; i++) {
		struct iovirt_seg s = pt_seg(big + (uint64_t)i * (2ull << 20) + 0x1000, 4096);
		cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h[i]), 1);
	}
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.leaves, 64);
	for (int i = 0; i < 64; i += 2)
		cr_assert_eq(iovirt_pin_complete(t.dom, h[i]), 0);
	iovirt_pin_stats(t.dom, &st);
	cr_assert_leq(st.leaves, 32 + 16);
	for (int i = 1; i < 64; i += 2)
		cr_assert_eq(iovirt_pin_count(t.dom, big + (uint64_t)i * (2ull << 20) + 0x1000), 1);
	for (int i = 1; i < 64; i += 2)
		cr_assert_eq(iovirt_pin_complete(t.dom, h[i]), 0);
	iovirt_pin_stats(t.dom, &st);
	cr_assert_leq(st.leaves, 16);
	cr_assert_eq(st.page_refs, 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	pt_fini(&t);
}
