/* SPDX-License-Identifier: MIT */
/* lib/pin: the domain keeps its region hold while idle (a gmap lease), and
 * removal, shrink and destroy still work: the lease is revoked or ended. */
#include "pin_test.h"

static struct iovirt_host_seg out[64];

static int dma(struct pt *t, uint64_t gpa)
{
	struct iovirt_seg s = pt_seg(gpa, 4096);
	struct iovirt_pin_handle h;
	int r = iovirt_pin_sg(t->dom, NULL, &s, 1, out, 64, NULL, &h);
	if (r > 0)
		cr_assert_eq(iovirt_pin_complete(t->dom, h), 0);
	return r;
}

static struct iovirt_region region_b(uint64_t hpa)
{
	return (struct iovirt_region){ .size = sizeof(struct iovirt_region), .gpa = PT_GPA_B,
				       .length = PT_B_BYTES, .kind = IOVIRT_REGION_RAM,
				       .access = RW, .owner = PT_GUEST, .flags = IOVIRT_REGION_HPA,
				       .hpa = hpa };
}

/* After its last DMA completes the domain still holds the region (the map cannot be destroyed), yet in_use reports no blocking hold; destroying the domain gives the hold back. */
Test(pin_idle, hold_kept_idle_and_ended_at_destroy)
{
	struct pt t;
	pt_init(&t);
	cr_assert_eq(dma(&t, PT_GPA_B), 1);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA_B), 0, "an idle hold does not block");
	cr_assert_eq(iovirt_gmap_destroy(t.map), IOVIRT_EBUSY, "the domain's lease is still out");
	cr_assert_eq(dma(&t, PT_GPA_B + 4096), 1, "a DMA in the idle-held region");
	cr_assert_eq(iovirt_pin_domain_destroy(t.dom), 0);
	cr_assert_eq(iovirt_gmap_destroy(t.map), 0, "no hold left after the domain's destroy");
	iovirt_iommu_destroy(t.io);
	th_posix_done(t.p);
	free(t.mem);
}

/* A region held only idly is removed by iovirt_gmap_remove at once; a DMA after the removal is refused, and one after a re-add at the same address uses the new region. */
Test(pin_idle, remove_while_idle_held)
{
	struct pt t;
	pt_init(&t);
	cr_assert_eq(dma(&t, PT_GPA_B), 1);
	cr_assert_eq(out[0].hpa, PT_HPA_B);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), 0, "idle hold revoked, region removed");
	cr_assert_eq(dma(&t, PT_GPA_B), IOVIRT_ENOREGION, "a DMA after the removal is refused");
	struct iovirt_region b = region_b(0xc0000000ull);
	cr_assert_eq(iovirt_gmap_add(t.map, &b), 0);
	cr_assert_eq(dma(&t, PT_GPA_B + 4096), 1);
	cr_assert_eq(out[0].hpa, 0xc0000000ull + 4096, "the new region, not the removed one");
	/* and a live DMA there holds the new region, not the revoked old one */
	struct iovirt_seg s = pt_seg(PT_GPA_B, 4096);
	struct iovirt_pin_handle h;
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h), 1);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), IOVIRT_EBUSY, "held while the DMA lives");
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(iovirt_gmap_shrink(t.map, PT_GPA_B, 4096), 0, "shrink while idle-held");
	cr_assert_eq(dma(&t, PT_GPA_B + 4096), IOVIRT_ENOREGION, "past the new end");
	cr_assert_eq(dma(&t, PT_GPA_B), 1);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), 0);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* The removed region's memory waits for the domain to notice the revocation when the reclaim comes first: the next DMA (or the domain's destroy) frees it, nothing leaks and nothing is used after its free. */
Test(pin_idle, reclaim_before_the_domain_notices)
{
	struct pt t;
	pt_init(&t);
	cr_assert_eq(dma(&t, PT_GPA_B), 1);
	cr_assert_eq(dma(&t, PT_GPA), 1);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), 0);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA), 0);
	iovirt_gmap_reclaim(t.map);
	/* B: noticed by a DMA; A: by the destroy */
	cr_assert_eq(dma(&t, PT_GPA_B), IOVIRT_ENOREGION);
	pt_add_regions(&t);
	cr_assert_eq(dma(&t, PT_GPA_B), 1);
	cr_assert_eq(iovirt_pin_domain_destroy(t.dom), 0);
	iovirt_iommu_destroy(t.io);
	cr_assert_eq(iovirt_gmap_destroy(t.map), 0);
	th_posix_done(t.p);
	free(t.mem);
}

/* A live DMA still blocks removal (EBUSY) and keeps its pages; after it completes the removal works. */
Test(pin_idle, live_dma_still_blocks)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_seg s = pt_seg(PT_GPA_B, 4096);
	struct iovirt_pin_handle h;
	cr_assert_eq(dma(&t, PT_GPA_B), 1);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h), 1);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_gmap_shrink(t.map, PT_GPA_B, 4096), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA_B), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), 0);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* Several domains idle-holding one region (more than the region's lease slots: the extra ones hold plainly and let go at their last DMA): one removal takes every idle hold back. */
Test(pin_idle, many_domains_one_removal)
{
	struct pt t;
	pt_init(&t);
	enum { N = IOVIRT_GMAP_LEASES + 2 };
	struct iovirt_pin_domain *d[N];
	for (int i = 0; i < N; i++) {
		cr_assert_eq(iovirt_pin_domain_create(t.ops, t.p, t.map, NULL, &d[i]), 0);
		struct iovirt_seg s = pt_seg(PT_GPA_B + (uint64_t)i * 4096, 4096);
		struct iovirt_pin_handle h;
		cr_assert_eq(iovirt_pin_sg(d[i], NULL, &s, 1, out, 64, NULL, &h), 1);
		cr_assert_eq(iovirt_pin_complete(d[i], h), 0);
	}
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA_B), 0);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), 0);
	for (int i = 0; i < N; i++) {
		struct iovirt_seg s = pt_seg(PT_GPA_B, 4096);
		struct iovirt_pin_handle h;
		cr_assert_eq(iovirt_pin_sg(d[i], NULL, &s, 1, out, 64, NULL, &h), IOVIRT_ENOREGION);
		cr_assert_eq(iovirt_pin_domain_destroy(d[i]), 0);
	}
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* iovirt_pin_remove_deferred of an idle-held region runs the removal now (done before the call returns). */
static void done_cb(void *arg, int result)
{
	*(int *)arg = result + 1000;
}
Test(pin_idle, deferred_removal_of_idle_region_runs_now)
{
	struct pt t;
	pt_init(&t);
	cr_assert_eq(dma(&t, PT_GPA_B), 1);
	int got = 0;
	cr_assert_eq(iovirt_pin_remove_deferred(t.dom, PT_GPA_B, done_cb, &got), 0);
	cr_assert_eq(got, 1000, "done(0) before the call returned");
	cr_assert_eq(dma(&t, PT_GPA_B), IOVIRT_ENOREGION);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* Removal of an idle-held region with the Nth allocation failing: ENOMEM changes nothing (the region stays, the domain's DMAs still work there), until the removal succeeds; then DMAs are refused and nothing leaks. */
Test(pin_idle, remove_fail_nth_allocation)
{
	struct pt t;
	pt_init(&t);
	cr_assert_eq(dma(&t, PT_GPA_B), 1);
	int fired = 0;
	for (uint64_t n = 1;; n++) {
		iovirt_posix_fail_alloc_at(t.p, n);
		int r = iovirt_gmap_remove(t.map, PT_GPA_B);
		bool f = iovirt_posix_fail_fired(t.p);
		iovirt_posix_fail_alloc_at(t.p, 0);
		if (!f) {
			cr_assert_eq(r, 0);
			break;
		}
		fired++;
		cr_assert_eq(r, IOVIRT_ENOMEM);
		cr_assert_eq(dma(&t, PT_GPA_B + n * 4096), 1, "n=%llu: still there",
			     (unsigned long long)n);
		cr_assert_eq(out[0].hpa, PT_HPA_B + n * 4096);
	}
	cr_assert_gt(fired, 0);
	cr_assert_eq(dma(&t, PT_GPA_B), IOVIRT_ENOREGION);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* The gmap lease API itself: take, idle, use, a revocation by remove seen as ESTALE, end in every state, and destroy refusing while a lease is not ended. */
Test(pin_idle, gmap_lease_api)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_gmap_region *reg;
	cr_assert_eq(iovirt_gmap_region_get(t.map, PT_GPA, &reg), 0);
	int l = iovirt_gmap_lease_take(reg);
	cr_assert_geq(l, 0);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA), IOVIRT_EBUSY, "a lease in use blocks");
	iovirt_gmap_lease_idle(reg, (unsigned)l);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 0);
	cr_assert_eq(iovirt_gmap_lease_use(t.map, reg, (unsigned)l), 0);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 1);
	iovirt_gmap_lease_idle(reg, (unsigned)l);
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA), 0, "an idle lease is revoked");
	cr_assert_eq(iovirt_gmap_destroy(t.map), IOVIRT_EBUSY, "revoked, not yet noticed");
	iovirt_gmap_reclaim(t.map);
	cr_assert_eq(iovirt_gmap_lease_use(t.map, reg, (unsigned)l), IOVIRT_ESTALE);
	/* every slot taken: the next holder keeps a plain hold */
	struct iovirt_gmap_region *r2[IOVIRT_GMAP_LEASES + 1];
	for (unsigned i = 0; i <= IOVIRT_GMAP_LEASES; i++) {
		cr_assert_eq(iovirt_gmap_region_get(t.map, PT_GPA_B, &r2[i]), 0);
		int k = iovirt_gmap_lease_take(r2[i]);
		cr_assert_eq(k, i < IOVIRT_GMAP_LEASES ? (int)i : IOVIRT_EBUSY);
	}
	iovirt_gmap_region_put(t.map, r2[IOVIRT_GMAP_LEASES]);
	iovirt_gmap_lease_end(t.map, r2[0], 0); /* in use */
	iovirt_gmap_lease_idle(r2[1], 1);
	iovirt_gmap_lease_end(t.map, r2[1], 1); /* idle */
	iovirt_gmap_lease_idle(r2[2], 2);
	iovirt_gmap_lease_idle(r2[3], 3);
	cr_assert_eq(iovirt_gmap_shrink(t.map, PT_GPA_B, 4096), 0, "two idle leases revoked");
	iovirt_gmap_lease_end(t.map, r2[2], 2); /* revoked, before the reclaim */
	iovirt_gmap_reclaim(t.map);
	cr_assert_eq(iovirt_gmap_destroy(t.map), IOVIRT_EBUSY, "one revoked lease not ended");
	iovirt_gmap_lease_end(t.map, r2[3], 3); /* revoked, after the reclaim: frees */
	pt_fini(&t);
}

/* A revoked entry whose range overlaps a newer region, met first by the table scan, leaves two entries for that region: both count as holds (removal is EBUSY while either DMA lives) and both are let go (removal then works, nothing leaks). */
Test(pin_idle, stale_entry_overlapping_a_new_region)
{
	struct pt t;
	pt_init(&t);
	cr_assert_eq(dma(&t, PT_GPA_B), 1); /* entry 0: B, idle */
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), 0);
	struct iovirt_region y = region_b(0xc0000000ull);
	y.gpa = PT_GPA_B + (1ull << 20);
	cr_assert_eq(iovirt_gmap_add(t.map, &y), 0); /* overlaps B's old range */
	struct iovirt_seg s1 = pt_seg(PT_GPA_B + (5ull << 19), 4096); /* in Y only */
	struct iovirt_seg s2 = pt_seg(PT_GPA_B + (3ull << 19), 4096); /* in Y and old B */
	struct iovirt_pin_handle h1, h2;
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s1, 1, out, 64, NULL, &h1), 1);
	cr_assert_eq(dma(&t, PT_GPA), 1); /* the hint elsewhere: the scan meets entry 0 first */
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s2, 1, out, 64, NULL, &h2), 1);
	cr_assert_eq(out[0].hpa, 0xc0000000ull + (1ull << 19));
	cr_assert_eq(iovirt_pin_complete(t.dom, h1), 0);
	cr_assert_eq(iovirt_gmap_remove(t.map, y.gpa), IOVIRT_EBUSY, "h2 still lives");
	cr_assert_eq(iovirt_pin_complete(t.dom, h2), 0);
	cr_assert_eq(iovirt_gmap_in_use(t.map, y.gpa), 0);
	cr_assert_eq(iovirt_gmap_remove(t.map, y.gpa), 0);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}
