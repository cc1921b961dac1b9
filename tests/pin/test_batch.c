/* SPDX-License-Identifier: MIT */
/* lib/pin: batched teardown with gathered invalidations (one per address space at flush). */
#include "pin_test.h"

#define NEV 1024

struct evlog {
	struct iovirt_posix_event ev[NEV];
	size_t n;
};

static void log_get(struct pt *t, struct evlog *l)
{
	l->n = iovirt_posix_log_read(t->p, l->ev, NEV);
	cr_assert_lt(l->n, NEV, "log overflow");
}

static size_t count_cb(const struct evlog *l, uint32_t cb)
{
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++)
		k += l->ev[i].cb == cb;
	return k;
}

/* Index of the invalidation of asid covering [iova, iova + len), or -1. */
static long inval_covering(const struct evlog *l, uint32_t asid, uint64_t iova, uint64_t len)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct iovirt_posix_event *e = &l->ev[i];
		if (e->cb == IOVIRT_CB_IOTLB_INVAL && e->id == asid && e->a <= iova &&
		    e->a + e->b >= iova + len)
			return (long)i;
	}
	return -1;
}

/* Index of the first unpin touching guest page gpa, or -1. */
static long unpin_of(const struct evlog *l, uint64_t gpa)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct iovirt_posix_event *e = &l->ev[i];
		if (e->cb == IOVIRT_CB_UNPIN && e->a <= gpa && gpa < e->a + e->b * 4096)
			return (long)i;
	}
	return -1;
}

/* N batched unmaps over two ASIDs: no invalidation and no unpin until the flush; then exactly one invalidation per ASID, covering its unmaps, and every unpin after it. */
Test(pin_batch, one_invalidation_per_asid_at_flush)
{
	struct pt t;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .batch = 16 };
	pt_init_params(&t, &pp);
	cr_assert_eq(iovirt_pt_space_create(t.io, 2, NULL), 0);
	enum { N = 6 };
	struct iovirt_pin_handle h[N];
	uint64_t iova[N], gpa[N];
	uint32_t asid[N];
	for (int i = 0; i < N; i++) {
		asid[i] = i % 2 ? 2 : PT_ASID;
		gpa[i] = PT_GPA_B + (uint64_t)i * 0x4000;
		cr_assert_eq(iovirt_pin_map(t.dom, t.io, asid[i], gpa[i], 2 * 4096, PRW, 0, &iova[i], &h[i]), 0);
	}
	iovirt_posix_log_enable(t.p, NEV);
	for (int i = 0; i < N; i++)
		cr_assert_eq(iovirt_pin_unmap(t.dom, h[i]), 0);
	struct evlog l;
	log_get(&t, &l);
	cr_assert_eq(count_cb(&l, IOVIRT_CB_IOTLB_INVAL), 0, "invalidations wait for the flush");
	cr_assert_eq(count_cb(&l, IOVIRT_CB_UNPIN), 0, "unpins wait for the flush");
	struct iovirt_xlate x;
	for (int i = 0; i < N; i++)
		cr_assert_eq(iovirt_pt_translate(t.io, asid[i], iova[i], IOVIRT_PROT_READ, &x),
			     IOVIRT_ENOENT, "the translation is cleared at once");
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 2 * N);
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.deferred_entries, N);
	cr_assert_eq(st.deferred_pages, 2 * N);
	cr_assert_eq(st.deferred_invals, N);
	cr_assert_eq(st.max_deferred_invals, N);
	cr_assert_eq(st.flush_invals, 0);
	struct iovirt_pt_stats ps0, ps1;
	iovirt_pt_stats(t.io, &ps0);

	iovirt_posix_log_clear(t.p);
	cr_assert_eq(iovirt_pin_flush(t.dom), N);
	log_get(&t, &l);
	cr_assert_eq(count_cb(&l, IOVIRT_CB_IOTLB_INVAL), 2, "one invalidation per ASID");
	long inv1 = -1, inv2 = -1;
	for (int i = 0; i < N; i++) {
		long inv = inval_covering(&l, asid[i], iova[i], 2 * 4096);
		cr_assert_geq(inv, 0, "unmap %d not covered by its ASID's invalidation", i);
		*(asid[i] == PT_ASID ? &inv1 : &inv2) = inv;
		for (int p = 0; p < 2; p++) {
			long unp = unpin_of(&l, gpa[i] + p * 4096ull);
			cr_assert_geq(unp, 0);
			cr_assert_gt(unp, inv, "unpin of page %d of unmap %d before its invalidation", p, i);
		}
	}
	cr_assert_neq(inv1, inv2);
	iovirt_pt_stats(t.io, &ps1);
	cr_assert_eq(ps1.invalidations - ps0.invalidations, 2);
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.deferred_entries, 0);
	cr_assert_eq(st.deferred_invals, 0);
	cr_assert_eq(st.flush_invals, 2);
	cr_assert_eq(st.flushes, 1);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA_B), 0);
	cr_assert_eq(iovirt_pin_flush(t.dom), 0, "nothing left");
	pt_fini(&t);
}

/* Flush by count: the unmap that fills the batch makes the one invalidation, and the unpins follow it. */
Test(pin_batch, flush_by_count)
{
	struct pt t;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .batch = 3 };
	pt_init_params(&t, &pp);
	struct iovirt_pin_handle h[3];
	uint64_t iova[3];
	for (int i = 0; i < 3; i++)
		cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA + i * 4096ull, 4096, PRW, 0,
					    &iova[i], &h[i]), 0);
	iovirt_posix_log_enable(t.p, NEV);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[0]), 0);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[1]), 0);
	struct evlog l;
	log_get(&t, &l);
	cr_assert_eq(count_cb(&l, IOVIRT_CB_IOTLB_INVAL), 0);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[2]), 0);
	log_get(&t, &l);
	cr_assert_eq(count_cb(&l, IOVIRT_CB_IOTLB_INVAL), 1);
	cr_assert_eq(count_cb(&l, IOVIRT_CB_UNPIN), 3, "one unpin per entry");
	long inv = -1;
	for (int i = 0; i < 3; i++) {
		long k = inval_covering(&l, PT_ASID, iova[i], 4096);
		cr_assert_geq(k, 0);
		cr_assert(inv < 0 || inv == k);
		inv = k;
		cr_assert_gt(unpin_of(&l, PT_GPA + i * 4096ull), inv);
	}
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.flushes, 1);
	cr_assert_eq(st.flush_invals, 1);
	cr_assert_eq(st.max_deferred_invals, 3, "as max_deferred_entries: counted, then flushed");
	pt_fini(&t);
}

/* Strict mode is unchanged: one invalidation per unmap, each unmap's unpin right after its own invalidation. */
Test(pin_batch, strict_one_invalidation_per_unmap)
{
	struct pt t;
	pt_init(&t);
	enum { N = 4 };
	struct iovirt_pin_handle h[N];
	uint64_t iova[N];
	for (int i = 0; i < N; i++)
		cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B + i * 0x4000ull, 4096, PRW, 0,
					    &iova[i], &h[i]), 0);
	iovirt_posix_log_enable(t.p, NEV);
	struct evlog l;
	for (int i = 0; i < N; i++) {
		iovirt_posix_log_clear(t.p);
		cr_assert_eq(iovirt_pin_unmap(t.dom, h[i]), 0);
		log_get(&t, &l);
		cr_assert_eq(count_cb(&l, IOVIRT_CB_IOTLB_INVAL), 1);
		long inv = inval_covering(&l, PT_ASID, iova[i], 4096);
		cr_assert_geq(inv, 0);
		cr_assert_gt(unpin_of(&l, PT_GPA_B + i * 0x4000ull), inv);
	}
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.flushes, 0);
	cr_assert_eq(st.max_deferred_invals, 0);
	pt_fini(&t);
}

/* More address spaces than gathers: the unmap in a further space flushes the queue first (invalidations, then unpins); nothing is lost. */
Test(pin_batch, more_spaces_than_gathers)
{
	struct pt t;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .batch = 64 };
	pt_init_params(&t, &pp);
	enum { NS = 6 };
	struct iovirt_pin_handle h[NS];
	uint64_t iova[NS];
	for (uint32_t i = 0; i < NS; i++) {
		if (i + 1 != PT_ASID)
			cr_assert_eq(iovirt_pt_space_create(t.io, i + 1, NULL), 0);
		cr_assert_eq(iovirt_pin_map(t.dom, t.io, i + 1, PT_GPA + i * 8192ull, 4096, PRW, 0,
					    &iova[i], &h[i]), 0);
	}
	iovirt_posix_log_enable(t.p, NEV);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(iovirt_pin_unmap(t.dom, h[i]), 0);
	struct evlog l;
	log_get(&t, &l);
	cr_assert_eq(count_cb(&l, IOVIRT_CB_IOTLB_INVAL), 0);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[4]), 0); /* a fifth space */
	log_get(&t, &l);
	cr_assert_eq(count_cb(&l, IOVIRT_CB_IOTLB_INVAL), 4);
	cr_assert_eq(count_cb(&l, IOVIRT_CB_UNPIN), 4);
	long last_inv = -1;
	for (uint32_t i = 0; i < 4; i++) {
		long k = inval_covering(&l, i + 1, iova[i], 4096);
		cr_assert_geq(k, 0);
		last_inv = k > last_inv ? k : last_inv;
	}
	for (uint32_t i = 0; i < 4; i++)
		cr_assert_gt(unpin_of(&l, PT_GPA + i * 8192ull), last_inv);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 2, "the fifth unmap waits, the sixth map is live");
	cr_assert_eq(iovirt_pin_unmap(t.dom, h[5]), 0);
	iovirt_posix_log_clear(t.p);
	cr_assert_eq(iovirt_pin_flush(t.dom), 2);
	log_get(&t, &l);
	cr_assert_eq(count_cb(&l, IOVIRT_CB_IOTLB_INVAL), 2);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.flushes, 2);
	cr_assert_eq(st.flush_invals, 6);
	pt_fini(&t);
}

/* A fixed bus address whose batched unmap is still queued is flushed (invalidated, unpinned) before it is mapped again. */
Test(pin_batch, fixed_remap_flushes_first)
{
	struct pt t;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .batch = 16 };
	pt_init_params(&t, &pp);
	struct iovirt_pin_handle h, h2, h3;
	uint64_t at = 0x10000, other = 0x40000;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA, 2 * 4096, PRW, IOVIRT_PIN_MAP_FIXED, &at, &h), 0);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h), 0);
	/* elsewhere: no flush needed */
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA, 4096, PRW, IOVIRT_PIN_MAP_FIXED, &other, &h3), 0);
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.flushes, 0);
	iovirt_posix_log_enable(t.p, NEV);
	at = 0x11000; /* overlaps the queued [0x10000, 0x12000) */
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, 4096, PRW, IOVIRT_PIN_MAP_FIXED, &at, &h2), 0);
	struct evlog l;
	log_get(&t, &l);
	long inv = inval_covering(&l, PT_ASID, 0x10000, 2 * 4096);
	cr_assert_geq(inv, 0);
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.flushes, 1);
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(t.io, PT_ASID, 0x11000, IOVIRT_PROT_READ, &x), 0);
	cr_assert_eq(x.pa, PT_HPA_B);
	cr_assert_eq(iovirt_pin_count(t.dom, PT_GPA + 4096), 0, "the old mapping's second page is unpinned");
	cr_assert_eq(iovirt_pin_unmap(t.dom, h2), 0);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h3), 0);
	pt_fini(&t);
}

/* Domain destroy flushes: the invalidation is issued, then the unpin; a space destroyed before a batched unmap needs no invalidation. */
Test(pin_batch, destroy_flushes_and_enoasid)
{
	struct pt t;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .batch = 16 };
	pt_init_params(&t, &pp);
	cr_assert_eq(iovirt_pt_space_create(t.io, 2, NULL), 0);
	struct iovirt_pin_handle h, h2;
	uint64_t iova, iova2;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA, 4096, PRW, 0, &iova, &h), 0);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, 2, PT_GPA + 8192, 4096, PRW, 0, &iova2, &h2), 0);
	cr_assert_eq(iovirt_pt_space_destroy(t.io, 2), 0);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h2), 0);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h), 0);
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.deferred_entries, 2);
	cr_assert_eq(st.deferred_invals, 1, "the destroyed space was invalidated by its destroy");
	iovirt_posix_log_enable(t.p, NEV);
	cr_assert_eq(iovirt_pin_domain_destroy(t.dom), 0);
	struct evlog l;
	log_get(&t, &l);
	cr_assert_eq(count_cb(&l, IOVIRT_CB_IOTLB_INVAL), 1);
	long inv = inval_covering(&l, PT_ASID, iova, 4096);
	cr_assert_geq(inv, 0);
	cr_assert_gt(unpin_of(&l, PT_GPA), inv);
	cr_assert_geq(unpin_of(&l, PT_GPA + 8192), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	iovirt_pt_reclaim(t.io);
	/* pt_fini without the domain */
	iovirt_iommu_destroy(t.io);
	cr_assert_eq(iovirt_gmap_destroy(t.map), 0);
	th_posix_done(t.p);
	free(t.mem);
}
