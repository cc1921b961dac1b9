/* SPDX-License-Identifier: MIT */
/* lib/pin: deferred region removal (iovirt_pin_remove_deferred). */
#include "pin_test.h"

static struct iovirt_host_seg out[64];

struct done_rec {
	int calls;
	int result;
	struct iovirt_gmap *map; /* to check the region is gone when done runs */
	int64_t in_use_at_done;
};

static void on_done(void *arg, int result)
{
	struct done_rec *d = arg;
	d->calls++;
	d->result = result;
	d->in_use_at_done = iovirt_gmap_in_use(d->map, PT_GPA_B);
}

/* A region this domain does not pin is removed at once; done runs once, before the call returns; ENOENT comes through done too. */
Test(pin_remove, immediate)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_handle h;
	struct iovirt_seg s = pt_seg(PT_GPA, 4096); /* pins A, not B */
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h), 1);
	struct done_rec d = { .map = t.map };
	cr_assert_eq(iovirt_pin_remove_deferred(t.dom, PT_GPA_B, on_done, &d), 0);
	cr_assert_eq(d.calls, 1);
	cr_assert_eq(d.result, 0);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA_B), IOVIRT_ENOREGION, "removed");
	struct done_rec e = { .map = t.map };
	cr_assert_eq(iovirt_pin_remove_deferred(t.dom, PT_GPA_B, on_done, &e), 0);
	cr_assert_eq(e.calls, 1);
	cr_assert_eq(e.result, IOVIRT_ENOENT);
	struct done_rec f = { .map = t.map };
	cr_assert_eq(iovirt_pin_remove_deferred(t.dom, PT_GPA + 4096, on_done, &f), 0,
		     "not a region start: nothing to wait for");
	cr_assert_eq(f.result, IOVIRT_ENOENT);
	cr_assert_eq(iovirt_pin_remove_deferred(t.dom, PT_GPA, NULL, &f), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_remove_deferred(NULL, PT_GPA, on_done, &f), IOVIRT_EINVAL);
	cr_assert_eq(f.calls, 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(d.calls + e.calls + f.calls, 3, "no late calls");
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* Deferred: done waits for the last complete; meanwhile new DMAs and maps on the region are refused with nothing changed, others go on; done runs exactly once, after the last hold is gone. */
Test(pin_remove, deferred_until_last_complete)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_handle h1, h2, h3, ha;
	struct iovirt_seg s1 = pt_seg(PT_GPA_B, 2 * 4096), s2 = pt_seg(PT_GPA_B + 4096, 4096);
	struct iovirt_seg sa = pt_seg(PT_GPA, 4096);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s1, 1, out, 64, NULL, &h1), 1);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s2, 1, out, 64, NULL, &h2), 1);
	struct done_rec d = { .map = t.map };
	cr_assert_eq(iovirt_pin_remove_deferred(t.dom, PT_GPA_B, on_done, &d), IOVIRT_PIN_REMOVE_PENDING);
	cr_assert_eq(d.calls, 0);
	struct done_rec e = { .map = t.map };
	cr_assert_eq(iovirt_pin_remove_deferred(t.dom, PT_GPA_B, on_done, &e), IOVIRT_EBUSY,
		     "one pending removal per region");
	struct pt_snap a, b;
	pt_snap_take(&t, &a);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s2, 1, out, 64, NULL, &h3), IOVIRT_EBUSY);
	struct iovirt_seg mixed[2] = { sa, s2 };
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, mixed, 2, out, 64, NULL, &h3), IOVIRT_EBUSY);
	uint64_t iova;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, 4096, PRW, 0, &iova, &h3), IOVIRT_EBUSY);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &sa, 1, out, 64, NULL, &ha), 1, "other regions go on");
	cr_assert_eq(iovirt_pin_complete(t.dom, h1), 0);
	cr_assert_eq(d.calls, 0, "one hold left");
	cr_assert_eq(iovirt_pin_complete(t.dom, h2), 0);
	cr_assert_eq(d.calls, 1);
	cr_assert_eq(d.result, 0);
	cr_assert_eq(d.in_use_at_done, IOVIRT_ENOREGION, "removed before done ran");
	cr_assert_eq(iovirt_pin_complete(t.dom, ha), 0);
	cr_assert_eq(iovirt_pin_complete(t.dom, h2), IOVIRT_EDONE);
	cr_assert_eq(d.calls, 1, "exactly once");
	cr_assert_eq(e.calls, 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	/* a region added again at that place is usable: nothing pending any more */
	struct iovirt_region rb = { .size = sizeof(rb), .gpa = PT_GPA_B, .length = PT_B_BYTES,
				    .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
				    .flags = IOVIRT_REGION_HPA, .hpa = PT_HPA_B };
	cr_assert_eq(iovirt_gmap_add(t.map, &rb), 0);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s2, 1, out, 64, NULL, &h3), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h3), 0);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* Deferred removal of a mapped region completes on a strict unmap, and on the flush of a batched one (after its invalidation). */
Test(pin_remove, deferred_until_unmap_and_flush)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_handle h;
	uint64_t iova;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, 4096, PRW, 0, &iova, &h), 0);
	struct done_rec d = { .map = t.map };
	cr_assert_eq(iovirt_pin_remove_deferred(t.dom, PT_GPA_B, on_done, &d), IOVIRT_PIN_REMOVE_PENDING);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h), 0);
	cr_assert_eq(d.calls, 1);
	cr_assert_eq(d.result, 0);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);

	struct iovirt_pin_params pp = { .size = sizeof(pp), .batch = 8 };
	pt_init_params(&t, &pp);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, 4096, PRW, 0, &iova, &h), 0);
	struct done_rec e = { .map = t.map };
	cr_assert_eq(iovirt_pin_remove_deferred(t.dom, PT_GPA_B, on_done, &e), IOVIRT_PIN_REMOVE_PENDING);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h), 0);
	cr_assert_eq(e.calls, 0, "the queued unmap still holds the region");
	iovirt_posix_log_enable(t.p, 64);
	cr_assert_eq(iovirt_pin_flush(t.dom), 1);
	cr_assert_eq(e.calls, 1);
	cr_assert_eq(e.result, 0);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_IOTLB_INVAL), 1);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* Holds of another party: the removal still runs after our last pin and reports EBUSY through done; the region stays. */
Test(pin_remove, other_holder_reports_busy)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_domain *other;
	cr_assert_eq(iovirt_pin_domain_create(t.ops, t.p, t.map, NULL, &other), 0);
	struct iovirt_pin_handle h, ho;
	struct iovirt_seg s = pt_seg(PT_GPA_B, 4096);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h), 1);
	cr_assert_eq(iovirt_pin_sg(other, NULL, &s, 1, out, 64, NULL, &ho), 1);
	struct done_rec d = { .map = t.map };
	cr_assert_eq(iovirt_pin_remove_deferred(t.dom, PT_GPA_B, on_done, &d), IOVIRT_PIN_REMOVE_PENDING);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(d.calls, 1);
	cr_assert_eq(d.result, IOVIRT_EBUSY);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA_B), 1, "the other domain's hold");
	/* nothing pending any more in our domain: pins work again */
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(iovirt_pin_complete(other, ho), 0);
	cr_assert_eq(iovirt_pin_domain_destroy(other), 0);
	cr_assert_eq(d.calls, 1);
	pt_fini(&t);
}

/* At most PIN_REMOVALS (8) pending per domain: the ninth is ELIMIT, done not called; all fire later, once each, and nothing leaks. */
Test(pin_remove, limit_and_no_leak)
{
	struct pt t;
	pt_init(&t);
	enum { NR = 9 };
	struct iovirt_pin_handle h[NR];
	struct done_rec d[NR];
	for (int i = 0; i < NR; i++) {
		uint64_t gpa = 0x10000000ull + (uint64_t)i * 0x100000;
		struct iovirt_region r = { .size = sizeof(r), .gpa = gpa, .length = 4096,
					   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
					   .flags = IOVIRT_REGION_HPA, .hpa = 0xc0000000ull + i * 4096ull };
		cr_assert_eq(iovirt_gmap_add(t.map, &r), 0);
		struct iovirt_seg s = pt_seg(gpa, 4096);
		cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h[i]), 1);
		d[i] = (struct done_rec){ .map = t.map };
		int want = i < 8 ? IOVIRT_PIN_REMOVE_PENDING : IOVIRT_ELIMIT;
		cr_assert_eq(iovirt_pin_remove_deferred(t.dom, gpa, on_done, &d[i]), want);
	}
	for (int i = NR - 1; i >= 0; i--)
		cr_assert_eq(iovirt_pin_complete(t.dom, h[i]), 0);
	for (int i = 0; i < NR; i++) {
		cr_assert_eq(d[i].calls, i < 8 ? 1 : 0);
		uint64_t gpa = 0x10000000ull + (uint64_t)i * 0x100000;
		cr_assert_eq(iovirt_gmap_in_use(t.map, gpa), i < 8 ? IOVIRT_ENOREGION : 0);
	}
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t); /* th_posix_done checks that nothing leaked */
}
