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

/* ---- deferred shrink (iovirt_pin_shrink_deferred): the same machinery ---- */

struct shrink_rec {
	int calls;
	int result;
	struct iovirt_gmap *map;
	uint64_t gpa;
	uint64_t len_at_done; /* the region's length when done ran (0: none) */
};

static void on_shrunk(void *arg, int result)
{
	struct shrink_rec *r = arg;
	r->calls++;
	r->result = result;
	struct iovirt_region ri;
	r->len_at_done = iovirt_gmap_lookup(r->map, r->gpa, &ri) == 0 ? ri.length : 0;
}

static uint64_t region_len(struct iovirt_gmap *map, uint64_t gpa)
{
	struct iovirt_region ri;
	cr_assert_eq(iovirt_gmap_lookup(map, gpa, &ri), 0);
	cr_assert_eq(ri.gpa, gpa);
	return ri.length;
}

#define SHRUNK (8 * 4096ull) /* B's new length in the tests below */

/* Argument errors are returned without calling done; a region this domain does not pin is shrunk at once (done once, before the call returns); gmap refusals come through done. */
Test(pin_shrink, immediate_and_argument_errors)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_handle h;
	struct iovirt_seg s = pt_seg(PT_GPA, 4096); /* pins A, not B */
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h), 1);
	struct shrink_rec e = { .map = t.map, .gpa = PT_GPA_B };
	cr_assert_eq(iovirt_pin_shrink_deferred(NULL, PT_GPA_B, SHRUNK, on_shrunk, &e), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_shrink_deferred(t.dom, PT_GPA_B, SHRUNK, NULL, &e), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_shrink_deferred(t.dom, PT_GPA_B, 0, on_shrunk, &e), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_shrink_deferred(t.dom, PT_GPA_B, 4096 + 512, on_shrunk, &e), IOVIRT_EALIGN);
	cr_assert_eq(iovirt_pin_shrink_deferred(t.dom, PT_GPA_B, PT_B_BYTES, on_shrunk, &e), IOVIRT_EINVAL,
		     "not a shrink");
	cr_assert_eq(iovirt_pin_shrink_deferred(t.dom, PT_GPA_B, 2 * PT_B_BYTES, on_shrunk, &e), IOVIRT_EINVAL);
	/* the same refusals for a region this domain pins: nothing recorded */
	cr_assert_eq(iovirt_pin_shrink_deferred(t.dom, PT_GPA, PT_BYTES, on_shrunk, &e), IOVIRT_EINVAL);
	cr_assert_eq(e.calls, 0);
	cr_assert_eq(region_len(t.map, PT_GPA_B), PT_B_BYTES);

	struct shrink_rec d = { .map = t.map, .gpa = PT_GPA_B };
	cr_assert_eq(iovirt_pin_shrink_deferred(t.dom, PT_GPA_B, SHRUNK, on_shrunk, &d), 0);
	cr_assert_eq(d.calls, 1);
	cr_assert_eq(d.result, 0);
	cr_assert_eq(d.len_at_done, SHRUNK, "shrunk before done ran");
	cr_assert_eq(region_len(t.map, PT_GPA_B), SHRUNK);
	/* no region starts there: ENOENT through done */
	struct shrink_rec f = { .map = t.map, .gpa = PT_GPA_B };
	cr_assert_eq(iovirt_pin_shrink_deferred(t.dom, PT_GPA_B + 4096, 4096, on_shrunk, &f), 0);
	cr_assert_eq(f.calls, 1);
	cr_assert_eq(f.result, IOVIRT_ENOENT);
	/* nothing pending: A's DMA completes as usual */
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(d.calls + e.calls + f.calls, 2, "no late calls");
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* Deferred: the shrink waits for the last complete; meanwhile another removal or shrink of the region is refused, and so is every new DMA or map in the region (kept part or cut part) with nothing changed; other regions go on; done runs exactly once, after the region was shrunk. */
Test(pin_shrink, deferred_until_last_complete)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_handle h1, h2, h3, ha;
	struct iovirt_seg head = pt_seg(PT_GPA_B, 2 * 4096);           /* kept */
	struct iovirt_seg tail = pt_seg(PT_GPA_B + SHRUNK + 4096, 4096); /* cut off */
	struct iovirt_seg sa = pt_seg(PT_GPA, 4096);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &head, 1, out, 64, NULL, &h1), 1);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &tail, 1, out, 64, NULL, &h2), 1);
	struct shrink_rec d = { .map = t.map, .gpa = PT_GPA_B };
	cr_assert_eq(iovirt_pin_shrink_deferred(t.dom, PT_GPA_B, SHRUNK, on_shrunk, &d),
		     IOVIRT_PIN_SHRINK_PENDING);
	cr_assert_eq(IOVIRT_PIN_SHRINK_PENDING, IOVIRT_PIN_REMOVE_PENDING);
	cr_assert_eq(d.calls, 0);
	cr_assert_eq(region_len(t.map, PT_GPA_B), PT_B_BYTES, "not yet");

	struct shrink_rec e = { .map = t.map, .gpa = PT_GPA_B };
	struct done_rec er = { .map = t.map };
	cr_assert_eq(iovirt_pin_shrink_deferred(t.dom, PT_GPA_B, 4096, on_shrunk, &e), IOVIRT_EBUSY,
		     "one pending request per region");
	cr_assert_eq(iovirt_pin_remove_deferred(t.dom, PT_GPA_B, on_done, &er), IOVIRT_EBUSY,
		     "a shrink pending blocks a removal too");

	struct pt_snap a, b;
	pt_snap_take(&t, &a);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &tail, 1, out, 64, NULL, &h3), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &head, 1, out, 64, NULL, &h3), IOVIRT_EBUSY,
		     "the whole region is refused, not only the cut part");
	struct iovirt_seg mixed[2] = { sa, tail };
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, mixed, 2, out, 64, NULL, &h3), IOVIRT_EBUSY);
	uint64_t iova;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, 4096, PRW, 0, &iova, &h3), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B + SHRUNK, 4096, PRW, 0, &iova, &h3),
		     IOVIRT_EBUSY);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &sa, 1, out, 64, NULL, &ha), 1, "other regions go on");

	cr_assert_eq(iovirt_pin_complete(t.dom, h2), 0);
	cr_assert_eq(d.calls, 0, "one hold left");
	cr_assert_eq(region_len(t.map, PT_GPA_B), PT_B_BYTES);
	cr_assert_eq(iovirt_pin_complete(t.dom, h1), 0);
	cr_assert_eq(d.calls, 1);
	cr_assert_eq(d.result, 0);
	cr_assert_eq(d.len_at_done, SHRUNK, "shrunk before done ran");
	cr_assert_eq(region_len(t.map, PT_GPA_B), SHRUNK);
	cr_assert_eq(iovirt_pin_complete(t.dom, ha), 0);
	cr_assert_eq(iovirt_pin_complete(t.dom, h1), IOVIRT_EDONE);
	cr_assert_eq(d.calls, 1, "exactly once");
	cr_assert_eq(e.calls + er.calls, 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);

	/* nothing pending any more: the kept part is usable, the cut part is gone */
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &head, 1, out, 64, NULL, &h3), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h3), 0);
	int r = iovirt_pin_sg(t.dom, NULL, &tail, 1, out, 64, NULL, &h3);
	cr_assert_lt(r, 0, "the cut part is no longer guest memory");
	cr_assert_neq(r, IOVIRT_EBUSY);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA_B), 0, "no hold left");
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t); /* th_posix_done checks that nothing leaked */
}

/* A deferred shrink of a mapped region completes on a strict unmap, and on the flush of a batched one (after its invalidation). */
Test(pin_shrink, deferred_until_unmap_and_flush)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_handle h;
	uint64_t iova;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B + SHRUNK, 4096, PRW, 0, &iova, &h), 0);
	struct shrink_rec d = { .map = t.map, .gpa = PT_GPA_B };
	cr_assert_eq(iovirt_pin_shrink_deferred(t.dom, PT_GPA_B, SHRUNK, on_shrunk, &d),
		     IOVIRT_PIN_SHRINK_PENDING);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h), 0);
	cr_assert_eq(d.calls, 1);
	cr_assert_eq(d.result, 0);
	cr_assert_eq(region_len(t.map, PT_GPA_B), SHRUNK);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);

	struct iovirt_pin_params pp = { .size = sizeof(pp), .batch = 8 };
	pt_init_params(&t, &pp);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, 4096, PRW, 0, &iova, &h), 0);
	struct shrink_rec e = { .map = t.map, .gpa = PT_GPA_B };
	cr_assert_eq(iovirt_pin_shrink_deferred(t.dom, PT_GPA_B, SHRUNK, on_shrunk, &e),
		     IOVIRT_PIN_SHRINK_PENDING);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h), 0);
	cr_assert_eq(e.calls, 0, "the queued unmap still holds the region");
	cr_assert_eq(region_len(t.map, PT_GPA_B), PT_B_BYTES);
	iovirt_posix_log_enable(t.p, 64);
	cr_assert_eq(iovirt_pin_flush(t.dom), 1);
	cr_assert_eq(e.calls, 1);
	cr_assert_eq(e.result, 0);
	cr_assert_eq(e.len_at_done, SHRUNK);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_IOTLB_INVAL), 1);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* Holds of another party: the shrink still runs after our last pin and reports EBUSY through done; the region keeps its length. */
Test(pin_shrink, other_holder_reports_busy)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_domain *other;
	cr_assert_eq(iovirt_pin_domain_create(t.ops, t.p, t.map, NULL, &other), 0);
	struct iovirt_pin_handle h, ho;
	struct iovirt_seg s = pt_seg(PT_GPA_B, 4096);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h), 1);
	cr_assert_eq(iovirt_pin_sg(other, NULL, &s, 1, out, 64, NULL, &ho), 1);
	struct shrink_rec d = { .map = t.map, .gpa = PT_GPA_B };
	cr_assert_eq(iovirt_pin_shrink_deferred(t.dom, PT_GPA_B, SHRUNK, on_shrunk, &d),
		     IOVIRT_PIN_SHRINK_PENDING);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(d.calls, 1);
	cr_assert_eq(d.result, IOVIRT_EBUSY);
	cr_assert_eq(region_len(t.map, PT_GPA_B), PT_B_BYTES);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h), 1, "nothing pending any more");
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(iovirt_pin_complete(other, ho), 0);
	cr_assert_eq(iovirt_pin_domain_destroy(other), 0);
	cr_assert_eq(d.calls, 1);
	pt_fini(&t);
}

/* Removals and shrinks share one table of 8 per domain: a pending removal blocks a shrink of its region, the ninth request is ELIMIT (done not called); all fire later, once each, with the right operation, and nothing leaks. */
Test(pin_shrink, shared_table_limit_and_no_leak)
{
	struct pt t;
	pt_init(&t);
	enum { NR = 9 };
	struct iovirt_pin_handle h[NR];
	struct done_rec rm[NR];
	struct shrink_rec sh[NR];
	for (int i = 0; i < NR; i++) {
		uint64_t gpa = 0x10000000ull + (uint64_t)i * 0x100000;
		struct iovirt_region r = { .size = sizeof(r), .gpa = gpa, .length = 2 * 4096,
					   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
					   .flags = IOVIRT_REGION_HPA, .hpa = 0xc0000000ull + i * 8192ull };
		cr_assert_eq(iovirt_gmap_add(t.map, &r), 0);
		struct iovirt_seg s = pt_seg(gpa + 4096, 4096);
		cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h[i]), 1);
		rm[i] = (struct done_rec){ .map = t.map };
		sh[i] = (struct shrink_rec){ .map = t.map, .gpa = gpa };
		int want = i < 8 ? IOVIRT_PIN_REMOVE_PENDING : IOVIRT_ELIMIT;
		if (i % 2) {
			cr_assert_eq(iovirt_pin_shrink_deferred(t.dom, gpa, 4096, on_shrunk, &sh[i]), want);
			if (i < 8)
				cr_assert_eq(iovirt_pin_remove_deferred(t.dom, gpa, on_done, &rm[i]), IOVIRT_EBUSY);
		} else {
			cr_assert_eq(iovirt_pin_remove_deferred(t.dom, gpa, on_done, &rm[i]), want);
			if (i < 8)
				cr_assert_eq(iovirt_pin_shrink_deferred(t.dom, gpa, 4096, on_shrunk, &sh[i]),
					     IOVIRT_EBUSY);
		}
	}
	for (int i = NR - 1; i >= 0; i--)
		cr_assert_eq(iovirt_pin_complete(t.dom, h[i]), 0);
	for (int i = 0; i < NR; i++) {
		uint64_t gpa = 0x10000000ull + (uint64_t)i * 0x100000;
		struct iovirt_region ri;
		if (i == 8) {
			cr_assert_eq(rm[i].calls + sh[i].calls, 0);
			cr_assert_eq(region_len(t.map, gpa), 2 * 4096ull, "untouched");
		} else if (i % 2) {
			cr_assert_eq(sh[i].calls, 1);
			cr_assert_eq(sh[i].result, 0);
			cr_assert_eq(rm[i].calls, 0);
			cr_assert_eq(region_len(t.map, gpa), 4096ull, "shrunk");
		} else {
			cr_assert_eq(rm[i].calls, 1);
			cr_assert_eq(rm[i].result, 0);
			cr_assert_eq(sh[i].calls, 0);
			cr_assert_eq(iovirt_gmap_lookup(t.map, gpa, &ri), IOVIRT_ENOREGION, "removed");
		}
	}
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t); /* th_posix_done checks that nothing leaked */
}
