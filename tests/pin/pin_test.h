/* SPDX-License-Identifier: MIT */
/* Fixtures of the lib/pin tests: a guest with two RAM regions, a pin domain and an iommu. */
#ifndef IOVIRT_PIN_TEST_H
#define IOVIRT_PIN_TEST_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "testhost.h"

#define PT_GUEST 7u
#define PT_GPA 0x100000ull  /* region A: guest RAM backed by pt.mem */
#define PT_PAGES 64u
#define PT_BYTES (PT_PAGES * 4096ull)
#define PT_GPA_B 0x800000ull /* region B: RAM given only by host physical address */
#define PT_B_BYTES (2ull << 20)
#define PT_HPA_A 0x40000000ull
#define PT_HPA_B 0x80000000ull
#define PT_ASID 1u
#define RW (IOVIRT_DEV_READ | IOVIRT_DEV_WRITE)
#define PRW (IOVIRT_PROT_READ | IOVIRT_PROT_WRITE)

struct pt {
	struct iovirt_posix *p;
	const struct iovirt_host_ops *ops;
	struct iovirt_gmap *map;
	struct iovirt_pin_domain *dom;
	struct iovirt_iommu *io;
	uint8_t *mem;
};

static inline void pt_add_regions(struct pt *t)
{
	struct iovirt_region a = { .size = sizeof(a), .gpa = PT_GPA, .length = PT_BYTES,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
				   .flags = IOVIRT_REGION_HPA, .hva = t->mem, .hpa = PT_HPA_A };
	struct iovirt_region b = { .size = sizeof(b), .gpa = PT_GPA_B, .length = PT_B_BYTES,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
				   .flags = IOVIRT_REGION_HPA, .hpa = PT_HPA_B };
	cr_assert_eq(iovirt_gmap_add(t->map, &a), 0);
	cr_assert_eq(iovirt_gmap_add(t->map, &b), 0);
}

static inline void pt_init_params(struct pt *t, const struct iovirt_pin_params *pp)
{
	t->p = th_posix();
	t->ops = iovirt_posix_ops();
	t->mem = aligned_alloc(4096, PT_BYTES);
	cr_assert_not_null(t->mem);
	memset(t->mem, 0, PT_BYTES);
	cr_assert_eq(iovirt_posix_guest_add(t->p, PT_GUEST, PT_GPA, t->mem, PT_BYTES), 0);
	struct iovirt_gmap_params gp = { sizeof(gp), PT_GUEST, 0 };
	cr_assert_eq(iovirt_gmap_create(t->ops, t->p, &gp, &t->map), 0);
	pt_add_regions(t);
	cr_assert_eq(iovirt_pin_domain_create(t->ops, t->p, t->map, pp, &t->dom), 0);
	cr_assert_eq(iovirt_iommu_create(t->ops, t->p, NULL, &t->io), 0);
	cr_assert_eq(iovirt_pt_space_create(t->io, PT_ASID, NULL), 0);
}

static inline void pt_init(struct pt *t)
{
	pt_init_params(t, NULL);
}

static inline void pt_fini(struct pt *t)
{
	cr_assert_eq(iovirt_pin_domain_destroy(t->dom), 0);
	iovirt_iommu_destroy(t->io);
	cr_assert_eq(iovirt_gmap_destroy(t->map), 0);
	th_posix_done(t->p);
	free(t->mem);
}

static inline struct iovirt_seg pt_seg(uint64_t gpa, uint64_t len)
{
	return (struct iovirt_seg){ .gpa = gpa, .len = len, .dir = IOVIRT_DEV_READ };
}

/* Every page count of both regions, the host's pinned pages and the domain's
 * counters: what "nothing changed" compares. */
struct pt_snap {
	uint32_t a[PT_PAGES];
	uint32_t b[PT_B_BYTES / 4096];
	int64_t host_pinned;
	int64_t held_a, held_b;
	struct iovirt_pin_stats st;
};

static inline void pt_snap_take(struct pt *t, struct pt_snap *s)
{
	memset(s, 0, sizeof(*s));
	for (uint32_t i = 0; i < PT_PAGES; i++)
		s->a[i] = iovirt_pin_count(t->dom, PT_GPA + i * 4096ull);
	for (uint32_t i = 0; i < PT_B_BYTES / 4096; i++)
		s->b[i] = iovirt_pin_count(t->dom, PT_GPA_B + i * 4096ull);
	s->host_pinned = iovirt_posix_pinned_pages(t->p);
	s->held_a = iovirt_gmap_in_use(t->map, PT_GPA);
	s->held_b = iovirt_gmap_in_use(t->map, PT_GPA_B);
	iovirt_pin_stats(t->dom, &s->st);
}

static inline void pt_snap_same(const struct pt_snap *x, const struct pt_snap *y)
{
	cr_assert_eq(memcmp(x->a, y->a, sizeof(x->a)), 0, "page counts of A changed");
	cr_assert_eq(memcmp(x->b, y->b, sizeof(x->b)), 0, "page counts of B changed");
	cr_assert_eq(x->host_pinned, y->host_pinned);
	cr_assert_eq(x->held_a, y->held_a);
	cr_assert_eq(x->held_b, y->held_b);
	cr_assert_eq(x->st.pinned_pages, y->st.pinned_pages);
	cr_assert_eq(x->st.page_refs, y->st.page_refs);
	cr_assert_eq(x->st.live_dmas, y->st.live_dmas);
	cr_assert_eq(x->st.live_maps, y->st.live_maps);
}

/*
 * Pins segs with the host's pin callback failing at its 1st, 2nd, ... call in
 * turn, until a run succeeds (its handle in *h). Each failure must return
 * IOVIRT_EHOST, leave every count and hold as before, and unpin exactly the
 * runs pinned before it. Returns how many failures fired.
 */
static inline int pt_fail_each_pin(struct pt *t, const struct iovirt_seg *segs, uint32_t nsegs,
				   struct iovirt_host_seg *out, uint32_t out_cap, struct iovirt_pin_handle *h)
{
	struct pt_snap a, b;
	int fired = 0;
	for (uint64_t n = 1;; n++) {
		pt_snap_take(t, &a);
		uint64_t unpins = iovirt_posix_count(t->p, IOVIRT_CB_UNPIN);
		iovirt_posix_fail_pin_at(t->p, n);
		int r = iovirt_pin_sg(t->dom, NULL, segs, nsegs, out, out_cap, NULL, h);
		bool f = iovirt_posix_fail_fired(t->p);
		iovirt_posix_fail_pin_at(t->p, 0);
		if (!f) {
			cr_assert_gt(r, 0);
			return fired;
		}
		fired++;
		cr_assert_eq(r, IOVIRT_EHOST, "n=%llu r=%d", (unsigned long long)n, r);
		pt_snap_take(t, &b);
		pt_snap_same(&a, &b);
		/* exactly the runs pinned before the failure were unpinned */
		cr_assert_eq(iovirt_posix_count(t->p, IOVIRT_CB_UNPIN) - unpins, n - 1);
	}
}

#endif
