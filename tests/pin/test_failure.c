/* SPDX-License-Identifier: MIT */
/* lib/pin: host pin failure at every position, allocation failure at every N. */
#include "pin_test.h"

static struct iovirt_host_seg out[64];

/* A host pin failing at any of the call's runs leaves every count exactly as before. */
Test(pin_failure, pin_fails_at_every_position)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_handle pre[2], h;
	struct iovirt_seg p2 = pt_seg(PT_GPA + 2 * 4096, 4096), p7 = pt_seg(PT_GPA + 7 * 4096, 4096);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &p2, 1, out, 64, NULL, &pre[0]), 1);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &p7, 1, out, 64, NULL, &pre[1]), 1);
	/* runs: [0,2) [3,5) [6,7) [8,10) and 4 pages of B: five host pin calls */
	struct iovirt_seg s[3] = { pt_seg(PT_GPA, 5 * 4096), pt_seg(PT_GPA + 6 * 4096, 4 * 4096),
				   pt_seg(PT_GPA_B, 4 * 4096) };
	cr_assert_eq(pt_fail_each_pin(&t, s, 3, out, 64, &h), 5);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 13);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(iovirt_pin_complete(t.dom, pre[0]), 0);
	cr_assert_eq(iovirt_pin_complete(t.dom, pre[1]), 0);
	pt_fini(&t);
}

/* The Nth allocation failing in a pin gives ENOMEM and changes nothing; a later pin works. */
Test(pin_failure, alloc_fails_at_every_n_pin)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_seg s[2] = { pt_seg(PT_GPA, 4 * 4096), pt_seg(PT_GPA_B + 0x1000, 8 * 4096) };
	struct iovirt_pin_handle h;
	struct pt_snap a, b;
	int fired = 0;
	for (uint64_t n = 1;; n++) {
		pt_snap_take(&t, &a);
		iovirt_posix_fail_alloc_at(t.p, n);
		int r = iovirt_pin_sg(t.dom, NULL, s, 2, out, 64, NULL, &h);
		bool f = iovirt_posix_fail_fired(t.p);
		iovirt_posix_fail_alloc_at(t.p, 0);
		if (!f) {
			cr_assert_gt(r, 0);
			break;
		}
		fired++;
		cr_assert_eq(r, IOVIRT_ENOMEM);
		pt_snap_take(&t, &b);
		pt_snap_same(&a, &b);
	}
	cr_assert_geq(fired, 2);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	pt_fini(&t);
}

/* Domain creation failing at every allocation leaks nothing. */
Test(pin_failure, alloc_fails_at_every_n_create)
{
	struct pt t;
	pt_init(&t);
	int64_t live = iovirt_posix_live_mem(t.p);
	for (uint64_t n = 1;; n++) {
		struct iovirt_pin_domain *d = NULL;
		iovirt_posix_fail_alloc_at(t.p, n);
		int r = iovirt_pin_domain_create(t.ops, t.p, t.map, NULL, &d);
		bool f = iovirt_posix_fail_fired(t.p);
		iovirt_posix_fail_alloc_at(t.p, 0);
		if (!f) {
			cr_assert_eq(r, 0);
			cr_assert_eq(iovirt_pin_domain_destroy(d), 0);
			break;
		}
		cr_assert_eq(r, IOVIRT_ENOMEM);
		cr_assert_null(d);
		cr_assert_eq(iovirt_posix_live_mem(t.p), live);
	}
	pt_fini(&t);
}

/* The Nth allocation failing in a map (allocator, counts, page tables) changes nothing. */
Test(pin_failure, alloc_fails_at_every_n_map)
{
	struct pt t;
	pt_init(&t);
	struct pt_snap a, b;
	struct iovirt_pin_handle h;
	uint64_t iova = 0;
	for (uint64_t n = 1;; n++) {
		pt_snap_take(&t, &a);
		iovirt_posix_fail_alloc_at(t.p, n);
		int r = iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, 16 * 4096, PRW, 0, &iova, &h);
		bool f = iovirt_posix_fail_fired(t.p);
		iovirt_posix_fail_alloc_at(t.p, 0);
		if (!f) {
			cr_assert_eq(r, 0);
			break;
		}
		cr_assert_eq(r, IOVIRT_ENOMEM, "n=%llu r=%d", (unsigned long long)n, r);
		pt_snap_take(&t, &b);
		pt_snap_same(&a, &b);
		struct iovirt_xlate x;
		cr_assert_eq(iovirt_pt_translate(t.io, PT_ASID, IOVIRT_PIN_DEFAULT_IOVA_BASE,
						 IOVIRT_PROT_READ, &x), IOVIRT_ENOENT);
	}
	cr_assert_eq(iovirt_pin_unmap(t.dom, h), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	pt_fini(&t);
}

/* A host pin failure inside a map changes nothing and installs no translation. */
Test(pin_failure, pin_fails_in_map)
{
	struct pt t;
	pt_init(&t);
	struct pt_snap a, b;
	struct iovirt_pin_handle h;
	uint64_t iova = 0;
	pt_snap_take(&t, &a);
	iovirt_posix_fail_pin_at(t.p, 1);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, 4096, PRW, 0, &iova, &h), IOVIRT_EHOST);
	iovirt_posix_fail_pin_at(t.p, 0);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	struct iovirt_pt_stats ps;
	iovirt_pt_stats(t.io, &ps);
	cr_assert_eq(ps.invalidations, 0);
	pt_fini(&t);
}
