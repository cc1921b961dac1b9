/* SPDX-License-Identifier: MIT */
/* Guest memory maps: add, overlap, remove, shrink, in-use counts, reclaim, allocation failure. */
#include <pthread.h>
#include <stdatomic.h>

#include "vt.h"

#define G(x) (VT_GPA + (x) * 4096ull)

static uint64_t lookup_base(struct vt *t, uint64_t gpa)
{
	struct iovirt_region r;
	if (iovirt_gmap_lookup(t->map, gpa, &r))
		return UINT64_MAX;
	return r.gpa;
}

// Every byte of an added region is found in it; bytes outside all regions are not.
Test(gmap, add_lookup)
{
	struct vt t;
	vt_init(&t);
	vt_add(&t, G(0), 4 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(&t, G(8), 2 * 4096, IOVIRT_REGION_ROM, DR);
	struct iovirt_region r;
	cr_assert_eq(iovirt_gmap_lookup(t.map, G(0), &r), 0);
	cr_assert_eq(r.length, 4 * 4096);
	cr_assert_eq(r.hva, t.mem);
	cr_assert_eq(lookup_base(&t, G(4) - 1), G(0));
	cr_assert_eq(iovirt_gmap_lookup(t.map, G(4), &r), IOVIRT_ENOREGION);
	cr_assert_eq(lookup_base(&t, G(9) + 4095), G(8));
	cr_assert_eq(iovirt_gmap_lookup(t.map, G(10), &r), IOVIRT_ENOREGION);
	cr_assert_eq(iovirt_gmap_lookup(t.map, 0, &r), IOVIRT_ENOREGION);
	struct iovirt_gmap_stats st;
	iovirt_gmap_stats(t.map, &st);
	cr_assert_eq(st.regions, 2);
	vt_fini(&t);
}

// Every kind of overlap is refused with EOVERLAP and changes nothing; touching neighbours are fine.
Test(gmap, overlap)
{
	struct vt t;
	vt_init(&t);
	vt_add(&t, G(4), 4 * 4096, IOVIRT_REGION_RAM, RW);
	uint64_t bad[][2] = { { G(4), 4 }, { G(2), 3 }, { G(7), 2 }, { G(5), 1 }, { G(0), 20 } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct iovirt_region r = vt_region(&t, bad[i][0], bad[i][1] * 4096, IOVIRT_REGION_RAM, RW);
		cr_assert_eq(iovirt_gmap_add(t.map, &r), IOVIRT_EOVERLAP, "case %zu", i);
	}
	struct iovirt_gmap_stats st;
	iovirt_gmap_stats(t.map, &st);
	cr_assert_eq(st.regions, 1);
	cr_assert_eq(st.generation, 1);
	vt_add(&t, G(2), 2 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(&t, G(8), 1 * 4096, IOVIRT_REGION_RAM, RW);
	vt_fini(&t);
}

// Malformed regions are refused with their specific codes.
Test(gmap, add_invalid)
{
	struct vt t;
	vt_init(&t);
	struct iovirt_region r;
	uint64_t pages[2] = { 0x1000, 0x2001 };
#define TRY(code, ...)                                                          \
	do {                                                                    \
		r = vt_region(&t, G(0), 2 * 4096, IOVIRT_REGION_RAM, RW);       \
		__VA_ARGS__;                                                    \
		cr_assert_eq(iovirt_gmap_add(t.map, &r), code, #__VA_ARGS__);   \
	} while (0)
	TRY(IOVIRT_EINVAL, r.size = 8);
	TRY(IOVIRT_EINVAL, r.length = 0);
	TRY(IOVIRT_EINVAL, r.kind = 0);
	TRY(IOVIRT_EINVAL, r.kind = 6);
	TRY(IOVIRT_EINVAL, r.access = 4);
	TRY(IOVIRT_EINVAL, r.flags = 8);
	TRY(IOVIRT_EINVAL, r.flags = IOVIRT_REGION_HPA | IOVIRT_REGION_HPA_PAGES);
	TRY(IOVIRT_EINVAL, r.flags = IOVIRT_REGION_HPA_PAGES; r.page_hpa = NULL);
	TRY(IOVIRT_EINVAL, r.hva = NULL);
	TRY(IOVIRT_EALIGN, r.gpa += 1);
	TRY(IOVIRT_EALIGN, r.length = 4097);
	TRY(IOVIRT_EALIGN, r.hva = t.mem + 8);
	TRY(IOVIRT_EALIGN, r.flags = IOVIRT_REGION_HPA; r.hpa = 0x1008);
	TRY(IOVIRT_EALIGN, r.flags = IOVIRT_REGION_HPA_PAGES; r.page_hpa = pages);
	TRY(IOVIRT_EOVERFLOW, r.gpa = UINT64_MAX - 4095);
	TRY(IOVIRT_EOVERFLOW, r.flags = IOVIRT_REGION_HPA; r.hpa = UINT64_MAX - 4095);
	cr_assert_eq(iovirt_gmap_add(t.map, NULL), IOVIRT_EINVAL);
	/* MMIO and RESERVED need no host address; a region may end at 2^64 */
	TRY(0, r.kind = IOVIRT_REGION_MMIO; r.hva = NULL);
	TRY(0, r.kind = IOVIRT_REGION_RESERVED; r.hva = NULL; r.gpa = UINT64_MAX - 8191);
#undef TRY
	vt_fini(&t);
}

// A map refuses its (max_regions + 1)th region with ELIMIT.
Test(gmap, limit)
{
	struct vt t;
	vt_init(&t);
	iovirt_gmap_destroy(t.map);
	struct iovirt_gmap_params gp = { sizeof(gp), VT_GUEST, 2 };
	cr_assert_eq(iovirt_gmap_create(t.ops, t.p, &gp, &t.map), 0);
	vt_add(&t, G(0), 4096, IOVIRT_REGION_RAM, RW);
	vt_add(&t, G(2), 4096, IOVIRT_REGION_RAM, RW);
	struct iovirt_region r = vt_region(&t, G(4), 4096, IOVIRT_REGION_RAM, RW);
	cr_assert_eq(iovirt_gmap_add(t.map, &r), IOVIRT_ELIMIT);
	vt_fini(&t);
}

// Remove takes exactly the region starting at gpa; other addresses give ENOENT.
Test(gmap, remove)
{
	struct vt t;
	vt_init(&t);
	vt_add(&t, G(0), 2 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(&t, G(4), 2 * 4096, IOVIRT_REGION_RAM, RW);
	cr_assert_eq(iovirt_gmap_remove(t.map, G(1)), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_gmap_remove(t.map, G(3)), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_gmap_remove(t.map, G(0)), 0);
	cr_assert_eq(lookup_base(&t, G(0)), UINT64_MAX);
	cr_assert_eq(lookup_base(&t, G(5)), G(4));
	cr_assert_eq(iovirt_gmap_remove(t.map, G(0)), IOVIRT_ENOENT);
	vt_fini(&t);
}

// A held region cannot be removed or shrunk (EBUSY); after the last put it can.
Test(gmap, in_use)
{
	struct vt t;
	vt_init(&t);
	vt_add(&t, G(0), 4 * 4096, IOVIRT_REGION_RAM, RW);
	struct iovirt_gmap_region *a, *b;
	cr_assert_eq(iovirt_gmap_region_get(t.map, G(3), &a), 0);
	cr_assert_eq(iovirt_gmap_region_get(t.map, G(0), &b), 0);
	cr_assert_eq(a, b);
	cr_assert_eq(iovirt_gmap_in_use(t.map, G(1)), 2);
	cr_assert_eq(iovirt_gmap_region_get(t.map, G(4), &b), IOVIRT_ENOREGION);
	cr_assert_eq(iovirt_gmap_remove(t.map, G(0)), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_gmap_shrink(t.map, G(0), 4096), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_gmap_destroy(t.map), IOVIRT_EBUSY);
	struct iovirt_region info;
	iovirt_gmap_region_info(a, &info);
	cr_assert_eq(info.length, 4 * 4096);
	iovirt_gmap_region_put(t.map, a);
	cr_assert_eq(iovirt_gmap_remove(t.map, G(0)), IOVIRT_EBUSY);
	iovirt_gmap_region_put(t.map, a);
	cr_assert_eq(iovirt_gmap_in_use(t.map, G(1)), 0);
	cr_assert_eq(iovirt_gmap_shrink(t.map, G(0), 4096), 0);
	cr_assert_eq(iovirt_gmap_remove(t.map, G(0)), 0);
	cr_assert_eq(iovirt_gmap_in_use(t.map, G(0)), IOVIRT_ENOREGION);
	vt_fini(&t);
}

// Shrink keeps the head of the region (and its page addresses) and drops the tail.
Test(gmap, shrink)
{
	struct vt t;
	vt_init(&t);
	uint64_t pages[4] = { 0x10000, 0x11000, 0x30000, 0x31000 };
	struct iovirt_region r = vt_region(&t, G(0), 4 * 4096, IOVIRT_REGION_RAM, RW);
	r.flags = IOVIRT_REGION_HPA_PAGES;
	r.page_hpa = pages;
	cr_assert_eq(iovirt_gmap_add(t.map, &r), 0);
	pages[0] = 0xdead000; /* the map keeps its own copy */
	cr_assert_eq(iovirt_gmap_shrink(t.map, G(0), 0), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_gmap_shrink(t.map, G(0), 5 * 4096), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_gmap_shrink(t.map, G(0), 4 * 4096), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_gmap_shrink(t.map, G(0), 100), IOVIRT_EALIGN);
	cr_assert_eq(iovirt_gmap_shrink(t.map, G(1), 4096), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_gmap_shrink(t.map, G(0), 3 * 4096), 0);
	struct iovirt_region out;
	cr_assert_eq(iovirt_gmap_lookup(t.map, G(2), &out), 0);
	cr_assert_eq(out.length, 3 * 4096);
	cr_assert_eq(out.page_hpa[0], 0x10000);
	cr_assert_eq(out.page_hpa[2], 0x30000);
	cr_assert_eq(iovirt_gmap_lookup(t.map, G(3), &out), IOVIRT_ENOREGION);
	vt_fini(&t);
}

// Replaced snapshots and removed regions wait for reclaim, which frees them all.
Test(gmap, reclaim)
{
	struct vt t;
	vt_init(&t);
	int64_t before = iovirt_posix_live_mem(t.p);
	vt_add(&t, G(0), 4096, IOVIRT_REGION_RAM, RW);
	vt_add(&t, G(2), 4096, IOVIRT_REGION_RAM, RW);
	cr_assert_eq(iovirt_gmap_remove(t.map, G(0)), 0);
	struct iovirt_gmap_stats st;
	iovirt_gmap_stats(t.map, &st);
	cr_assert_eq(st.retired, 4); /* three snapshots and one region */
	cr_assert_gt(st.retired_bytes, 0);
	cr_assert_eq(iovirt_gmap_reclaim(t.map), 4);
	iovirt_gmap_stats(t.map, &st);
	cr_assert_eq(st.retired, 0);
	cr_assert_eq(st.retired_bytes, 0);
	cr_assert_eq(st.generation, 3);
	cr_assert_gt(iovirt_posix_live_mem(t.p), before); /* the live region and snapshot remain */
	cr_assert_eq(iovirt_gmap_reclaim(t.map), 0);
	vt_fini(&t);
}

/* Which region base each probed page resolves to: the whole observable state. */
static void map_sig(struct vt *t, uint64_t *sig, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sig[i] = lookup_base(t, G(i));
}

// Failing the Nth allocation of add/remove/shrink, for every N, changes nothing and leaks nothing.
Test(gmap, alloc_failure)
{
	struct vt t;
	vt_init(&t);
	uint64_t pages[3] = { 0x10000, 0x11000, 0x12000 };
	vt_add(&t, G(0), 2 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(&t, G(8), 4 * 4096, IOVIRT_REGION_RAM, RW);
	for (int op = 0; op < 3; op++) {
		uint64_t before[16], after[16];
		for (uint64_t n = 1;; n++) {
			map_sig(&t, before, 16);
			iovirt_gmap_reclaim(t.map);
			int64_t mem = iovirt_posix_live_mem(t.p);
			iovirt_posix_fail_alloc_at(t.p, n);
			int r;
			if (op == 0) {
				struct iovirt_region reg = vt_region(&t, G(4), 3 * 4096, IOVIRT_REGION_RAM, RW);
				reg.flags = IOVIRT_REGION_HPA_PAGES;
				reg.page_hpa = pages;
				r = iovirt_gmap_add(t.map, &reg);
			} else if (op == 1) {
				r = iovirt_gmap_shrink(t.map, G(8), 4096);
			} else {
				r = iovirt_gmap_remove(t.map, G(0));
			}
			bool fired = iovirt_posix_fail_fired(t.p);
			iovirt_posix_fail_alloc_at(t.p, 0);
			if (!fired) {
				cr_assert_eq(r, 0, "op %d", op);
				break;
			}
			cr_assert_eq(r, IOVIRT_ENOMEM, "op %d n %llu", op, (unsigned long long)n);
			map_sig(&t, after, 16);
			cr_assert_arr_eq(before, after, sizeof(before), "op %d changed the map", op);
			iovirt_gmap_reclaim(t.map);
			cr_assert_eq(iovirt_posix_live_mem(t.p), mem, "op %d leaked", op);
			cr_assert_lt(n, 10);
		}
	}
	cr_assert_eq(lookup_base(&t, G(5)), G(4));
	cr_assert_eq(lookup_base(&t, G(9)), UINT64_MAX);
	cr_assert_eq(lookup_base(&t, G(0)), UINT64_MAX);
	vt_fini(&t);
}

// Failing either allocation of gmap_create returns ENOMEM and leaks nothing.
Test(gmap, create_failure)
{
	struct iovirt_posix *p = th_posix();
	struct iovirt_gmap_params gp = { sizeof(gp), 1, 0 };
	struct iovirt_gmap *m = NULL;
	for (uint64_t n = 1; n <= 2; n++) {
		iovirt_posix_fail_alloc_at(p, n);
		cr_assert_eq(iovirt_gmap_create(iovirt_posix_ops(), p, &gp, &m), IOVIRT_ENOMEM);
		cr_assert_null(m);
	}
	iovirt_posix_fail_alloc_at(p, 0);
	cr_assert_eq(iovirt_gmap_create(iovirt_posix_ops(), p, NULL, &m), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_gmap_create(iovirt_posix_ops(), p, &gp, &m), 0);
	cr_assert_eq(iovirt_gmap_destroy(m), 0);
	th_posix_done(p);
}

// Random adds, removes and shrinks agree with a plain array model on every lookup.
Test(gmap, differential)
{
	struct vt t;
	vt_init(&t);
	enum { SLOTS = 128 };
	uint64_t model[SLOTS]; /* pages of the region starting at slot i, 0 = none */
	uint8_t cover[SLOTS];  /* 1 when the page is in some region */
	memset(model, 0, sizeof(model));
	memset(cover, 0, sizeof(cover));
	uint64_t seed = 42;
	for (int step = 0; step < 3000; step++) {
		uint64_t s = th_rand(&seed) % SLOTS, op = th_rand(&seed) % 4;
		uint64_t len = 1 + th_rand(&seed) % 6;
		uint64_t gpa = 0x800000000ull + s * 4096;
		if (op <= 1) {
			bool free_ = s + len <= SLOTS;
			for (uint64_t k = s; free_ && k < s + len; k++)
				free_ = !cover[k];
			struct iovirt_region r = { .size = sizeof(r), .gpa = gpa, .length = len * 4096,
						   .kind = IOVIRT_REGION_RAM, .access = RW,
						   .owner = VT_GUEST, .flags = IOVIRT_REGION_HPA,
						   .hpa = gpa };
			int e = iovirt_gmap_add(t.map, &r);
			if (s + len > SLOTS) {
				if (!e) {
					cr_assert_eq(iovirt_gmap_remove(t.map, gpa), 0);
				}
				continue;
			}
			cr_assert_eq(e, free_ ? 0 : IOVIRT_EOVERLAP, "step %d", step);
			if (free_) {
				model[s] = len;
				memset(cover + s, 1, len);
			}
		} else if (op == 2) {
			cr_assert_eq(iovirt_gmap_remove(t.map, gpa), model[s] ? 0 : IOVIRT_ENOENT);
			memset(cover + s, 0, model[s]);
			model[s] = 0;
		} else if (model[s] > 1) {
			cr_assert_eq(iovirt_gmap_shrink(t.map, gpa, (model[s] - 1) * 4096), 0);
			cover[s + model[s] - 1] = 0;
			model[s]--;
		}
		if (step % 7 == 0)
			iovirt_gmap_reclaim(t.map);
		uint64_t q = th_rand(&seed) % SLOTS;
		struct iovirt_region out;
		int e = iovirt_gmap_lookup(t.map, 0x800000000ull + q * 4096 + 5, &out);
		cr_assert_eq(e, cover[q] ? 0 : IOVIRT_ENOREGION, "step %d", step);
		if (!e) {
			uint64_t b = (out.gpa - 0x800000000ull) / 4096;
			cr_assert_eq(model[b] * 4096, out.length);
			cr_assert(b <= q && q < b + model[b]);
		}
	}
	vt_fini(&t);
}

struct conc {
	struct vt *t;
	atomic_int stop;
	atomic_int errors;
	atomic_long lookups;
};

static void *conc_reader(void *arg)
{
	struct conc *c = arg;
	uint64_t seed = (uintptr_t)arg;
	while (!atomic_load(&c->stop)) {
		uint64_t page = th_rand(&seed) % 32;
		struct iovirt_region r;
		if (!iovirt_gmap_lookup(c->t->map, G(page), &r)) {
			/* every region the writer makes is 2 pages at an even page, hva matching */
			if (r.length != 2 * 4096 || (r.gpa - VT_GPA) % 8192 ||
			    r.hva != c->t->mem + (r.gpa - VT_GPA) || G(page) - r.gpa >= 8192)
				atomic_fetch_add(&c->errors, 1);
		}
		struct iovirt_gmap_region *h;
		if (!iovirt_gmap_region_get(c->t->map, G(page), &h)) {
			struct iovirt_region info;
			iovirt_gmap_region_info(h, &info);
			if (info.length != 2 * 4096)
				atomic_fetch_add(&c->errors, 1);
			iovirt_gmap_region_put(c->t->map, h);
		}
		atomic_fetch_add(&c->lookups, 1);
	}
	return NULL;
}

// Readers running beside a writer only ever see whole regions as the writer made them.
Test(gmap, concurrent_readers)
{
	struct vt t;
	vt_init(&t);
	struct conc c = { .t = &t };
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, conc_reader, &c);
	uint64_t seed = 9;
	for (int i = 0; i < 4000 || atomic_load(&c.lookups) < 2000; i++) {
		uint64_t slot = th_rand(&seed) % 16;
		struct iovirt_region r = vt_region(&t, G(slot * 2), 8192, IOVIRT_REGION_RAM, RW);
		int e = iovirt_gmap_add(t.map, &r);
		if (e == IOVIRT_EOVERLAP) {
			e = iovirt_gmap_remove(t.map, G(slot * 2));
			cr_assert(e == 0 || e == IOVIRT_EBUSY, "remove: %d", e);
		} else {
			cr_assert_eq(e, 0);
		}
	}
	atomic_store(&c.stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	/* readers are done: a grace period has passed */
	iovirt_gmap_reclaim(t.map);
	cr_assert_eq(atomic_load(&c.errors), 0);
	cr_assert_gt(atomic_load(&c.lookups), 0);
	vt_fini(&t);
}

// Versioned structs of this module: a caller built against version 1 (size
// IOVIRT_*_SIZE_V1, the struct ending there) is served; one byte less is EINVAL
// with nothing created. Each create reads nothing past the caller's size (the
// struct lies in a heap block of exactly that size: ASan would see it).
Test(gmap, versioned_structs_at_version_1)
{
	struct vt t;
	vt_init(&t);
	struct iovirt_gmap *m = NULL;
	struct iovirt_gmap_params gp = { .size = sizeof(gp), .guest = VT_GUEST, .max_regions = 4 };
	struct iovirt_gmap_params *gv = th_truncated(&gp, IOVIRT_GMAP_PARAMS_SIZE_V1);
	cr_assert_eq(iovirt_gmap_create(t.ops, t.p, gv, &m), 0, "gmap_params v1");
	gv->size--;
	struct iovirt_gmap *m2 = NULL;
	cr_assert_eq(iovirt_gmap_create(t.ops, t.p, gv, &m2), IOVIRT_EINVAL);
	cr_assert_null(m2);
	free(gv);

	struct iovirt_region r = vt_region(&t, G(0), 4096, IOVIRT_REGION_RAM, RW);
	struct iovirt_region *rv = th_truncated(&r, IOVIRT_REGION_SIZE_V1);
	cr_assert_eq(iovirt_gmap_add(m, rv), 0, "region v1");
	rv->size--;
	rv->gpa = G(2);
	cr_assert_eq(iovirt_gmap_add(m, rv), IOVIRT_EINVAL);
	free(rv);

	struct iovirt_sg_policy pol = { .size = sizeof(pol), .max_segs = 2 };
	struct iovirt_sg_policy *pv = th_truncated(&pol, IOVIRT_SG_POLICY_SIZE_V1);
	struct iovirt_seg s = { .gpa = G(0), .len = 64, .dir = DR };
	struct iovirt_host_seg out[2];
	cr_assert_eq(iovirt_sg_validate(m, pv, &s, 1, out, 2, NULL), 1, "sg_policy v1");
	pv->size--;
	cr_assert_eq(iovirt_sg_validate(m, pv, &s, 1, out, 2, NULL), IOVIRT_EINVAL);
	free(pv);

	struct iovirt_bounce_params bp = { .size = sizeof(bp), .nbufs = 2, .buf_size = 4096 };
	struct iovirt_bounce_params *bv = th_truncated(&bp, IOVIRT_BOUNCE_PARAMS_SIZE_V1);
	struct iovirt_bounce *b = NULL, *b2 = NULL;
	cr_assert_eq(iovirt_bounce_create(t.ops, t.p, bv, &b), 0, "bounce_params v1");
	bv->size--;
	cr_assert_eq(iovirt_bounce_create(t.ops, t.p, bv, &b2), IOVIRT_EINVAL);
	cr_assert_null(b2);
	free(bv);
	cr_assert_eq(iovirt_bounce_destroy(b), 0);

	/* vq_params version 1 ends at used_gpa: map and pol came later */
	struct iovirt_vq_params vp = { .size = sizeof(vp), .guest = VT_GUEST, .num = 4,
				       .desc_gpa = G(0), .avail_gpa = G(0) + 64,
				       .used_gpa = G(0) + 128, .map = m };
	struct iovirt_vq_params *vv = th_truncated(&vp, IOVIRT_VQ_PARAMS_SIZE_V1);
	struct iovirt_vq *q = NULL, *q2 = NULL;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, vv, &q), 0, "vq_params v1");
	vv->size--;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, vv, &q2), IOVIRT_EINVAL);
	cr_assert_null(q2);
	free(vv);
	iovirt_vq_destroy(q);
	cr_assert_eq(iovirt_gmap_destroy(m), 0);
	vt_fini(&t);
}
