/* SPDX-License-Identifier: MIT */
/*
 * lib/pin: the edge and rollback paths of every entry point (pin_sg,
 * pin_sg_guest, pin_validated, pin_map), each checked against the contract
 * in include/iovirt/pin.h: the specific error, and nothing changed after a
 * failure (page counts, host pins, region holds, live handles).
 *
 * A third region C (1 GiB, host physical addresses only) gives many count
 * leaves (512 pages each) so the multi-leaf, rollback and sweep paths run.
 */
#include "pin_test.h"

#define C_GPA 0x100000000ull
#define C_BYTES (1ull << 30)
#define C_HPA 0x200000000ull
#define LEAF (2ull << 20) /* guest bytes per count leaf */
#define PG 4096ull
/* The wire lists of pin_sg_guest live in A's last page (never pinned here). */
#define LIST_GPA (PT_GPA + (PT_PAGES - 1) * PG)

static struct iovirt_host_seg out[64];

enum kind { K_SG, K_GUEST, K_VALIDATED, K_MAP, K_N };
static const char *const kname[K_N] = { "pin_sg", "pin_sg_guest", "pin_validated", "pin_map" };

static void ex_add_c(struct pt *t)
{
	struct iovirt_region c = { .size = sizeof(c), .gpa = C_GPA, .length = C_BYTES,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
				   .flags = IOVIRT_REGION_HPA, .hpa = C_HPA };
	cr_assert_eq(iovirt_gmap_add(t->map, &c), 0);
}

static void ex_init(struct pt *t, const struct iovirt_pin_params *pp)
{
	pt_init_params(t, pp);
	ex_add_c(t);
}

static void ex_fini(struct pt *t)
{
	iovirt_gmap_reclaim(t->map);
	pt_fini(t);
}

/* "Nothing changed": pt_snap plus region C's hold and the host's pinned pages. */
struct ex_snap {
	struct pt_snap s;
	int64_t held_c;
	uint32_t c_first[8]; /* counts of the first page of C's first 8 leaves */
};

static void ex_snap_take(struct pt *t, struct ex_snap *s)
{
	pt_snap_take(t, &s->s);
	s->held_c = iovirt_gmap_in_use(t->map, C_GPA);
	for (uint32_t i = 0; i < 8; i++)
		s->c_first[i] = iovirt_pin_count(t->dom, C_GPA + i * LEAF);
}

static void ex_snap_same(const struct ex_snap *a, const struct ex_snap *b)
{
	pt_snap_same(&a->s, &b->s);
	cr_assert_eq(a->held_c, b->held_c);
	cr_assert_eq(memcmp(a->c_first, b->c_first, sizeof(a->c_first)), 0);
}

/* What a call of kind k needs prepared before any failure is injected (the
 * wire list in guest memory, the validated host list). */
static struct iovirt_host_seg vlist[64];
static int vn;

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void ex_prep(struct pt *t, enum kind k, const struct iovirt_seg *s, uint32_t n)
{
	if (k == K_GUEST) {
		uint8_t *w = t->mem + (LIST_GPA - PT_GPA);
		cr_assert_leq(n * IOVIRT_SG_WIRE_SIZE, PG);
		for (uint32_t i = 0; i < n; i++) {
			put_le(w + i * 16, s[i].gpa, 8);
			put_le(w + i * 16 + 8, s[i].len, 4);
			put_le(w + i * 16 + 12, s[i].dir, 2);
			put_le(w + i * 16 + 14, 0, 2);
		}
	} else if (k == K_VALIDATED) {
		vn = iovirt_sg_validate(t->map, NULL, s, n, vlist, 64, NULL);
		cr_assert_gt(vn, 0);
	} else if (k == K_MAP) {
		cr_assert_eq(n, 1);
	}
}

/* The call itself; > 0 on success (pin_map's 0 becomes 1). */
static int ex_go(struct pt *t, enum kind k, const struct iovirt_seg *s, uint32_t n,
		 struct iovirt_dma_result *res, struct iovirt_pin_handle *h)
{
	uint64_t iova = 0;
	int r;
	switch (k) {
	case K_SG:
		return iovirt_pin_sg(t->dom, NULL, s, n, out, 64, res, h);
	case K_GUEST:
		return iovirt_pin_sg_guest(t->dom, NULL, LIST_GPA, n, out, 64, res, h);
	case K_VALIDATED:
		return iovirt_pin_validated(t->dom, NULL, vlist, (uint32_t)vn, h);
	default:
		r = iovirt_pin_map(t->dom, t->io, PT_ASID, s->gpa, s->len, PRW, 0, &iova, h);
		return r == 0 ? 1 : r;
	}
}

static int ex_pin(struct pt *t, enum kind k, const struct iovirt_seg *s, uint32_t n,
		  struct iovirt_pin_handle *h)
{
	ex_prep(t, k, s, n);
	return ex_go(t, k, s, n, NULL, h);
}

static int ex_release(struct pt *t, enum kind k, struct iovirt_pin_handle h)
{
	return k == K_MAP ? iovirt_pin_unmap(t->dom, h) : iovirt_pin_complete(t->dom, h);
}

static void pin1(struct pt *t, uint64_t gpa, uint64_t len, struct iovirt_pin_handle *h)
{
	struct iovirt_seg s = pt_seg(gpa, len);
	cr_assert_gt(iovirt_pin_sg(t->dom, NULL, &s, 1, out, 64, NULL, h), 0);
}

/*
 * The host pin failing at its 1st, 2nd, ... call of a kind-k pin of segs,
 * until a run succeeds: each failure is EHOST, nothing changed, and exactly
 * the runs pinned before it were unpinned. Returns the failures seen; the
 * success is released again and must restore the starting state.
 */
static int fail_each_pin(struct pt *t, enum kind k, const struct iovirt_seg *s, uint32_t n)
{
	struct ex_snap a, b;
	struct iovirt_pin_handle h;
	int fired = 0;
	ex_snap_take(t, &a);
	for (uint64_t at = 1;; at++) {
		ex_prep(t, k, s, n);
		uint64_t unpins = iovirt_posix_count(t->p, IOVIRT_CB_UNPIN);
		iovirt_posix_fail_pin_at(t->p, at);
		int r = ex_go(t, k, s, n, NULL, &h);
		bool f = iovirt_posix_fail_fired(t->p);
		iovirt_posix_fail_pin_at(t->p, 0);
		if (!f) {
			cr_assert_gt(r, 0, "%s: r=%d", kname[k], r);
			break;
		}
		fired++;
		cr_assert_eq(r, IOVIRT_EHOST, "%s at=%llu r=%d", kname[k], (unsigned long long)at, r);
		ex_snap_take(t, &b);
		ex_snap_same(&a, &b);
		cr_assert_eq(iovirt_posix_count(t->p, IOVIRT_CB_UNPIN) - unpins, at - 1);
	}
	cr_assert_eq(ex_release(t, k, h), 0);
	ex_snap_take(t, &b);
	ex_snap_same(&a, &b);
	return fired;
}

/* A failing host pin at any run of a one-segment pin over several leaves
 * (runs cut by pages pinned already) leaves everything as before, by every
 * entry point; the rollback empties whole leaves again. */
Test(pin_edges, pin_fails_at_every_run_multi_leaf)
{
	for (int k = 0; k < K_N; k++) {
		struct pt t;
		ex_init(&t, NULL);
		struct iovirt_pin_handle p1, p2;
		pin1(&t, C_GPA + LEAF + 5 * PG, PG, &p1);
		pin1(&t, C_GPA + 2 * LEAF + 7 * PG, PG, &p2);
		/* runs [0, 512 + 5), [512 + 6, 1024 + 7), [1024 + 8, 1536) */
		struct iovirt_seg s = pt_seg(C_GPA, 3 * LEAF);
		cr_assert_eq(fail_each_pin(&t, (enum kind)k, &s, 1), 3, "%s", kname[k]);
		cr_assert_eq(iovirt_pin_complete(t.dom, p1), 0);
		cr_assert_eq(iovirt_pin_complete(t.dom, p2), 0);
		cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
		ex_fini(&t);
	}
}

/* The same with several segments over regions A, B and C (not for pin_map,
 * which takes one range). */
Test(pin_edges, pin_fails_at_every_run_multi_seg)
{
	for (int k = 0; k < K_MAP; k++) {
		struct pt t;
		ex_init(&t, NULL);
		struct iovirt_pin_handle p1;
		pin1(&t, PT_GPA + 3 * PG, PG, &p1);
		struct iovirt_seg s[4] = { pt_seg(PT_GPA, 6 * PG), pt_seg(PT_GPA_B + PG, 2 * PG),
					   pt_seg(C_GPA + 4 * LEAF, 3 * PG),
					   pt_seg(C_GPA + 9 * LEAF - PG, 2 * PG) };
		cr_assert_eq(fail_each_pin(&t, (enum kind)k, s, 4), 5, "%s", kname[k]);
		cr_assert_eq(iovirt_pin_complete(t.dom, p1), 0);
		ex_fini(&t);
	}
}

/* Pins within the leaf found last (the inlined paths): a failing pin at any
 * run, for a one-page pin and a multi-run pin, by every entry point. */
Test(pin_edges, pin_fails_in_cached_leaf)
{
	for (int k = 0; k < K_N; k++) {
		struct pt t;
		ex_init(&t, NULL);
		struct iovirt_pin_handle p1, p2;
		pin1(&t, C_GPA + 10 * PG, PG, &p2);
		pin1(&t, C_GPA, PG, &p1); /* leaf C0 is the cached one */
		struct iovirt_seg one = pt_seg(C_GPA + 3 * PG, PG);
		cr_assert_eq(fail_each_pin(&t, (enum kind)k, &one, 1), 1, "%s", kname[k]);
		/* a page pinned already: no host call, nothing to fail */
		struct iovirt_seg again = pt_seg(C_GPA, PG);
		cr_assert_eq(fail_each_pin(&t, (enum kind)k, &again, 1), 0, "%s", kname[k]);
		cr_assert_eq(iovirt_pin_count(t.dom, C_GPA), 1);
		/* runs [1, 10) and [11, 20) around page 10 */
		struct iovirt_seg multi = pt_seg(C_GPA + PG, 19 * PG);
		cr_assert_eq(fail_each_pin(&t, (enum kind)k, &multi, 1), 2, "%s", kname[k]);
		cr_assert_eq(iovirt_pin_complete(t.dom, p1), 0);
		cr_assert_eq(iovirt_pin_complete(t.dom, p2), 0);
		cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
		ex_fini(&t);
	}
}

/* max_pinned reached in the cached leaf (one page and several) and over
 * fresh leaves: ELIMIT by every entry point, nothing changed, no host pin
 * call; the same pin succeeds once pages are released. */
Test(pin_edges, max_pinned_every_path)
{
	for (int k = 0; k < K_N; k++) {
		struct pt t;
		struct iovirt_pin_params pp = { .size = sizeof(pp), .max_pinned = 4 };
		ex_init(&t, &pp);
		struct iovirt_pin_handle p1, h;
		pin1(&t, C_GPA, 4 * PG, &p1);
		struct iovirt_seg cases[3] = { pt_seg(C_GPA + 8 * PG, PG), pt_seg(C_GPA + 8 * PG, 2 * PG),
					       pt_seg(C_GPA + 3 * LEAF, PG) };
		for (int i = 0; i < 3; i++) {
			struct ex_snap a, b;
			ex_prep(&t, (enum kind)k, &cases[i], 1);
			ex_snap_take(&t, &a);
			uint64_t pins = iovirt_posix_count(t.p, IOVIRT_CB_PIN);
			struct iovirt_dma_result res = { 0 };
			int r = ex_go(&t, (enum kind)k, &cases[i], 1, &res, &h);
			cr_assert_eq(r, IOVIRT_ELIMIT, "%s case %d: %d", kname[k], i, r);
			if (k == K_SG || k == K_GUEST)
				cr_assert_eq(res.err, IOVIRT_ELIMIT, "res names the refusal");
			cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_PIN), pins);
			ex_snap_take(&t, &b);
			ex_snap_same(&a, &b);
		}
		cr_assert_eq(iovirt_pin_complete(t.dom, p1), 0);
		for (int i = 0; i < 3; i++) {
			cr_assert_gt(ex_pin(&t, (enum kind)k, &cases[i], 1, &h), 0);
			cr_assert_eq(ex_release(&t, (enum kind)k, h), 0);
		}
		ex_fini(&t);
	}
}

/* The Nth allocation failing in a pin over fresh leaves (count table growth,
 * leaves; a mapping's allocator and page tables) gives ENOMEM with nothing
 * changed, for every N until the pin succeeds, by every entry point; res
 * names the refusal. */
Test(pin_edges, alloc_fails_at_every_n)
{
	for (int it = 0; it < 2 * K_N; it++) {
		/* second pass: the domain's very first pin (no leaf yet) */
		bool first = it >= K_N;
		int k = it % K_N;
		struct pt t;
		ex_init(&t, NULL);
		struct iovirt_pin_handle p1, h;
		if (!first)
			pin1(&t, C_GPA + 40 * LEAF, PG, &p1);
		/* 3 leaves, 2 MiB boundaries inside: new page tables per piece too */
		struct iovirt_seg s = pt_seg(C_GPA + LEAF - 8 * PG, 2 * LEAF + 16 * PG);
		struct ex_snap a, b;
		int fired = 0;
		for (uint64_t n = 1;; n++) {
			ex_prep(&t, (enum kind)k, &s, 1);
			ex_snap_take(&t, &a);
			struct iovirt_dma_result res = { 0 };
			iovirt_posix_fail_alloc_at(t.p, n);
			int r = ex_go(&t, (enum kind)k, &s, 1, &res, &h);
			bool f = iovirt_posix_fail_fired(t.p);
			iovirt_posix_fail_alloc_at(t.p, 0);
			if (!f) {
				cr_assert_gt(r, 0, "%s: %d", kname[k], r);
				break;
			}
			fired++;
			cr_assert_eq(r, IOVIRT_ENOMEM, "%s n=%llu: %d", kname[k], (unsigned long long)n, r);
			if (k == K_SG || k == K_GUEST)
				cr_assert_eq(res.err, IOVIRT_ENOMEM);
			ex_snap_take(&t, &b);
			ex_snap_same(&a, &b);
			if (k == K_MAP) {
				struct iovirt_xlate x;
				cr_assert_eq(iovirt_pt_translate(t.io, PT_ASID, IOVIRT_PIN_DEFAULT_IOVA_BASE,
								 IOVIRT_PROT_READ, &x),
					     IOVIRT_ENOENT, "nothing stays mapped");
			}
		}
		cr_assert_geq(fired, k == K_MAP ? 5 : 2, "%s: %d", kname[k], fired);
		cr_assert_eq(ex_release(&t, (enum kind)k, h), 0);
		if (!first)
			cr_assert_eq(iovirt_pin_complete(t.dom, p1), 0);
		ex_fini(&t);
	}
}

struct done_rec {
	int calls, result;
};

static void on_done(void *arg, int result)
{
	struct done_rec *d = arg;
	d->calls++;
	d->result = result;
}

/*
 * A removal pending on C refuses new pins of C with EBUSY and nothing
 * changed, by every entry point, whether the domain's hold entry for C knows
 * C's range (a multi-segment DMA taught it) or not (one single-segment DMA);
 * the last complete then removes C.
 */
Test(pin_edges, pending_removal_refuses_every_entry_point)
{
	for (int known = 0; known < 2; known++) {
		struct pt t;
		ex_init(&t, NULL);
		struct iovirt_pin_handle h0, h;
		struct iovirt_seg two[2] = { pt_seg(C_GPA, PG), pt_seg(C_GPA + 2 * PG, PG) };
		if (known)
			cr_assert_eq(iovirt_pin_sg(t.dom, NULL, two, 2, out, 64, NULL, &h0), 2);
		else
			pin1(&t, C_GPA, PG, &h0);
		struct done_rec d = { 0 };
		cr_assert_eq(iovirt_pin_remove_deferred(t.dom, C_GPA, on_done, &d),
			     IOVIRT_PIN_REMOVE_PENDING);
		struct iovirt_seg s = pt_seg(C_GPA + 5 * LEAF, 2 * PG);
		for (int k = 0; k < K_N; k++) {
			struct ex_snap a, b;
			ex_prep(&t, (enum kind)k, &s, 1);
			ex_snap_take(&t, &a);
			cr_assert_eq(ex_go(&t, (enum kind)k, &s, 1, NULL, &h), IOVIRT_EBUSY, "%s known=%d",
				     kname[k], known);
			ex_snap_take(&t, &b);
			ex_snap_same(&a, &b);
		}
		/* a second request for the same region is refused */
		struct done_rec e = { 0 };
		cr_assert_eq(iovirt_pin_shrink_deferred(t.dom, C_GPA, LEAF, on_done, &e), IOVIRT_EBUSY);
		cr_assert_eq(d.calls, 0);
		cr_assert_eq(iovirt_pin_complete(t.dom, h0), 0);
		cr_assert_eq(d.calls, 1);
		cr_assert_eq(d.result, 0);
		cr_assert_eq(e.calls, 0);
		cr_assert_eq(iovirt_gmap_in_use(t.map, C_GPA), IOVIRT_ENOREGION);
		ex_fini(&t);
	}
}

/* With max_handles 2: the entry point that takes the last slot works, the
 * next one is refused (ELIMIT, nothing changed), and a release while every
 * slot is taken puts the slot back (it is handed out again). */
Test(pin_edges, last_slot_every_entry_point)
{
	for (int k = 0; k < K_N; k++) {
		for (uint32_t batch = 0; batch < 2; batch++) {
			struct pt t;
			struct iovirt_pin_params pp = { .size = sizeof(pp), .max_handles = 2, .batch = 2 * batch };
			ex_init(&t, &pp);
			struct iovirt_pin_handle h1, h2, h3;
			struct iovirt_seg s1 = pt_seg(C_GPA, 2 * PG), s2 = pt_seg(C_GPA + LEAF, PG),
					  s3 = pt_seg(C_GPA + 2 * LEAF, PG);
			cr_assert_gt(ex_pin(&t, (enum kind)k, &s1, 1, &h1), 0);
			cr_assert_gt(ex_pin(&t, (enum kind)k, &s2, 1, &h2), 0, "%s takes the last slot",
				     kname[k]);
			struct ex_snap a, b;
			ex_prep(&t, (enum kind)k, &s3, 1);
			ex_snap_take(&t, &a);
			struct iovirt_dma_result res = { 0 };
			cr_assert_eq(ex_go(&t, (enum kind)k, &s3, 1, &res, &h3), IOVIRT_ELIMIT);
			ex_snap_take(&t, &b);
			ex_snap_same(&a, &b);
			cr_assert_eq(ex_release(&t, (enum kind)k, h2), 0);
			if (k == K_MAP && batch)
				cr_assert_eq(iovirt_pin_flush(t.dom), 1);
			cr_assert_gt(ex_pin(&t, (enum kind)k, &s3, 1, &h3), 0);
			cr_assert_eq(h3.index, h2.index, "the released slot is handed out again");
			cr_assert_neq(h3.gen, h2.gen);
			cr_assert_eq(ex_release(&t, (enum kind)k, h1), 0);
			cr_assert_eq(ex_release(&t, (enum kind)k, h3), 0);
			ex_fini(&t);
		}
	}
}

/* Count leaves: many leaves emptied at once are swept (on complete of
 * one-page, one-leaf and multi-leaf DMAs, and on the rollback of a failed
 * pin), in every order; counts, pins and bookkeeping stay exact; the table
 * keeps working (lookups after backward-shift deletions). */
Test(pin_edges, leaf_sweep_and_release)
{
	struct pt t;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .max_handles = 512 };
	ex_init(&t, &pp);
	static struct iovirt_pin_handle h[512];
	uint64_t rnd = 0x1234567;
	for (int round = 0; round < 6; round++) {
		uint32_t n = 100 + (uint32_t)(th_rand(&rnd) % 300);
		for (uint32_t i = 0; i < n; i++) {
			uint64_t leaf = (i * 7 + (uint32_t)round * 13) % 512;
			uint64_t gpa = C_GPA + leaf * LEAF + (th_rand(&rnd) % 256) * PG;
			/* one page, several pages in one leaf, or across two leaves */
			uint64_t len = round % 3 == 0 ? PG : round % 3 == 1 ? 3 * PG : 0;
			if (!len) {
				gpa = C_GPA + leaf * LEAF + LEAF - 2 * PG;
				len = leaf == 511 ? 2 * PG : 4 * PG;
			}
			pin1(&t, gpa, len, &h[i]);
		}
		struct iovirt_pin_stats st;
		iovirt_pin_stats(t.dom, &st);
		cr_assert_geq(st.leaves, 100);
		/* complete in a shuffled order */
		for (uint32_t i = n - 1; i > 0; i--) {
			uint32_t j = (uint32_t)(th_rand(&rnd) % (i + 1));
			struct iovirt_pin_handle x = h[i];
			h[i] = h[j];
			h[j] = x;
		}
		for (uint32_t i = 0; i < n; i++)
			cr_assert_eq(iovirt_pin_complete(t.dom, h[i]), 0);
		iovirt_pin_stats(t.dom, &st);
		cr_assert_eq(st.page_refs, 0);
		cr_assert_eq(st.pinned_pages, 0);
		cr_assert_leq(st.leaves, 16, "empty leaves beyond the spare bound are swept");
		cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	}
	/* rollback that empties more than 16 leaves: one segment over 20 fresh
	 * leaves, its second run (after a page pinned already) failing */
	struct iovirt_pin_handle p1;
	pin1(&t, C_GPA + 100 * LEAF + 19 * LEAF + 5 * PG, PG, &p1);
	struct iovirt_seg s = pt_seg(C_GPA + 100 * LEAF, 20 * LEAF);
	struct ex_snap a, b;
	ex_snap_take(&t, &a);
	iovirt_posix_fail_pin_at(t.p, 2);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h[0]), IOVIRT_EHOST);
	iovirt_posix_fail_pin_at(t.p, 0);
	ex_snap_take(&t, &b);
	ex_snap_same(&a, &b);
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t.dom, &st);
	cr_assert_leq(st.leaves, 17);
	cr_assert_eq(st.pinned_pages, 1);
	cr_assert_eq(iovirt_pin_count(t.dom, C_GPA + 119 * LEAF + 5 * PG), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, p1), 0);
	ex_fini(&t);
}

/* A refusal of the validation (a segment in no region, after one that holds
 * a region) is returned as iovirt_sg_validate gives it, by every entry
 * point, with the hold just taken dropped again and nothing else changed. */
Test(pin_edges, validation_refusal_every_entry_point)
{
	struct pt t;
	ex_init(&t, NULL);
	struct iovirt_seg s[2] = { pt_seg(C_GPA + 3 * LEAF, PG), pt_seg(0x20000000, PG) };
	struct iovirt_pin_handle h;
	for (int k = 0; k < K_N; k++) {
		const struct iovirt_seg *sk = k == K_MAP ? &s[1] : s;
		uint32_t n = k == K_MAP ? 1 : 2;
		struct ex_snap a, b;
		struct iovirt_dma_result res = { 0 };
		if (k == K_VALIDATED) {
			/* a list of entries as a validation once gave them */
			vn = 2;
			vlist[0] = (struct iovirt_host_seg){ .hpa = C_HPA + 3 * LEAF, .gpa = s[0].gpa,
							     .len = PG, .dir = s[0].dir };
			vlist[1] = (struct iovirt_host_seg){ .hpa = 0x9000000, .gpa = s[1].gpa, .len = PG,
							     .dir = s[1].dir };
		} else {
			ex_prep(&t, (enum kind)k, sk, n);
		}
		ex_snap_take(&t, &a);
		int r = ex_go(&t, (enum kind)k, sk, n, &res, &h);
		cr_assert_eq(r, IOVIRT_ENOREGION, "%s: %d", kname[k], r);
		if (k == K_SG || k == K_GUEST) {
			cr_assert_eq(res.err, IOVIRT_ENOREGION);
			cr_assert_eq(res.seg, 1);
		}
		ex_snap_take(&t, &b);
		ex_snap_same(&a, &b);
		cr_assert_eq(iovirt_gmap_in_use(t.map, C_GPA), 0, "%s: the hold is dropped", kname[k]);
	}
	ex_fini(&t);
}

/* Pins into the cached leaf after its pages all went back to 0 (the leaf
 * stays, empty) and pins of several segments in it, by every entry point:
 * exact counts, one host pin per run, all released again. */
Test(pin_edges, cached_leaf_reused_every_entry_point)
{
	for (int k = 0; k < K_N; k++) {
		struct pt t;
		ex_init(&t, NULL);
		struct iovirt_pin_handle h0, h;
		pin1(&t, C_GPA, PG, &h0);
		cr_assert_eq(iovirt_pin_complete(t.dom, h0), 0);
		struct iovirt_pin_stats st;
		iovirt_pin_stats(t.dom, &st);
		cr_assert_eq(st.leaves, 1, "the empty leaf stays");
		struct iovirt_seg one = pt_seg(C_GPA + 5 * PG, PG);
		uint64_t pins = iovirt_posix_count(t.p, IOVIRT_CB_PIN);
		cr_assert_gt(ex_pin(&t, (enum kind)k, &one, 1, &h), 0, "%s", kname[k]);
		cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_PIN) - pins, 1);
		cr_assert_eq(iovirt_pin_count(t.dom, one.gpa), 1);
		if (k != K_MAP) {
			struct iovirt_pin_handle h2;
			struct iovirt_seg two[2] = { pt_seg(C_GPA + PG, PG), pt_seg(C_GPA + 4 * PG, 3 * PG) };
			pins = iovirt_posix_count(t.p, IOVIRT_CB_PIN);
			cr_assert_gt(ex_pin(&t, (enum kind)k, two, 2, &h2), 0, "%s", kname[k]);
			/* runs [1, 2) and [4, 5), [6, 7) around page 5 */
			cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_PIN) - pins, 3);
			cr_assert_eq(iovirt_pin_count(t.dom, C_GPA + 5 * PG), 2);
			cr_assert_eq(iovirt_posix_pinned_pages(t.p), 4);
			cr_assert_eq(iovirt_pin_complete(t.dom, h2), 0);
		}
		cr_assert_eq(ex_release(&t, (enum kind)k, h), 0);
		cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
		cr_assert_eq(iovirt_pin_count(t.dom, one.gpa), 0);
		ex_fini(&t);
	}
}

/* A DMA whose later segment is in a region the domain holds for an earlier
 * DMA without knowing its range yet: one domain hold per region (in_use 1),
 * the range learnt, all released in any order. */
Test(pin_edges, hold_learnt_by_a_later_segment)
{
	struct pt t;
	ex_init(&t, NULL);
	struct iovirt_pin_handle h1, h2, h3;
	pin1(&t, PT_GPA, PG, &h1); /* A held, range unknown */
	struct iovirt_seg s[2] = { pt_seg(C_GPA, PG), pt_seg(PT_GPA + 2 * PG, PG) };
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, s, 2, out, 64, NULL, &h2), 2);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 1);
	cr_assert_eq(iovirt_gmap_in_use(t.map, C_GPA), 1);
	pin1(&t, PT_GPA + 4 * PG, PG, &h3); /* A's range is known now */
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h1), 0);
	cr_assert_eq(iovirt_pin_complete(t.dom, h3), 0);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 1, "h2 still uses A");
	cr_assert_eq(iovirt_pin_complete(t.dom, h2), 0);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 0);
	cr_assert_eq(iovirt_gmap_in_use(t.map, C_GPA), 0);
	ex_fini(&t);
}

/* The count table's home slot of a leaf key, as lib/pin/counts.c computes it
 * (used only to build the case below; if it changes, the test still checks
 * the same behaviour, on an easier layout). */
static uint32_t home_of(uint64_t key, uint32_t cap)
{
	return (uint32_t)((key * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & (cap - 1);
}

/*
 * A probe chain that wraps past the table's end. Slot 63: A (home 63), slot
 * 0: B (home 0), slot 1: C (home 63, probed past 63 and 0). A empties and is
 * swept: B stays where it is (its home), C moves back to slot 63; both are
 * still found and released correctly.
 */
Test(pin_edges, leaf_table_wraparound)
{
	struct pt t;
	ex_init(&t, NULL);
	const uint64_t k0 = C_GPA >> 21;
	uint64_t fill[17], last[2], zero = 0;
	int nf = 0, nl = 0, nz = 0;
	for (uint64_t k = k0; k < k0 + 512 && (nf < 17 || nl < 2 || !nz); k++) {
		uint32_t hm = home_of(k, 64);
		if (hm == 63 && nl < 2)
			last[nl++] = k;
		else if (hm == 0 && !nz)
			zero = k, nz = 1;
		else if (hm >= 4 && hm < 48 && nf < 17)
			fill[nf++] = k;
	}
	cr_assert_eq(nf, 17);
	cr_assert_eq(nl, 2);
	cr_assert_eq(nz, 1);
	struct iovirt_pin_handle hf[17], ha, hb, hc;
	for (int i = 0; i < 17; i++)
		pin1(&t, fill[i] << 21, PG, &hf[i]);
	/* 17 leaves: the table has 64 slots now */
	pin1(&t, last[0] << 21, PG, &ha);
	pin1(&t, zero << 21, 3 * PG, &hb);
	pin1(&t, last[1] << 21, 2 * PG, &hc);
	cr_assert_eq(iovirt_pin_complete(t.dom, ha), 0);
	for (int i = 0; i < 17; i++)
		cr_assert_eq(iovirt_pin_complete(t.dom, hf[i]), 0);
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t.dom, &st);
	cr_assert_leq(st.leaves, 16, "swept");
	cr_assert_eq(iovirt_pin_count(t.dom, zero << 21), 1, "B is found at its home");
	cr_assert_eq(iovirt_pin_count(t.dom, (zero << 21) + 2 * PG), 1);
	cr_assert_eq(iovirt_pin_count(t.dom, last[1] << 21), 1, "C is found where it moved");
	cr_assert_eq(iovirt_pin_count(t.dom, (last[1] << 21) + PG), 1);
	cr_assert_eq(iovirt_pin_count(t.dom, last[0] << 21), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 5);
	cr_assert_eq(iovirt_pin_complete(t.dom, hb), 0);
	cr_assert_eq(iovirt_pin_complete(t.dom, hc), 0);
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.page_refs, 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	ex_fini(&t);
}

/* Sixteen empty leaves kept; the next leaf to empty sweeps them, whichever
 * path empties it: a one-page unmap (strict and batched), a one-page map
 * failing in the page table, a one-page validated list found stale. */
Test(pin_edges, sweep_from_every_release_path)
{
	for (int path = 0; path < 4; path++) {
		struct pt t;
		struct iovirt_pin_params pp = { .size = sizeof(pp), .batch = path == 1 ? 4 : 0 };
		ex_init(&t, &pp);
		struct iovirt_pin_handle h;
		uint64_t iova;
		/* the path's page, pinned first so its leaf is in the table */
		uint64_t g = C_GPA + 100 * LEAF;
		if (path <= 1)
			cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, g, PG, PRW, 0, &iova, &h), 0);
		for (int i = 0; i < 16; i++) {
			struct iovirt_pin_handle x;
			pin1(&t, C_GPA + i * LEAF, PG, &x);
			cr_assert_eq(iovirt_pin_complete(t.dom, x), 0);
		}
		struct iovirt_pin_stats st;
		iovirt_pin_stats(t.dom, &st);
		cr_assert_eq(st.leaves, path <= 1 ? 17 : 16, "empty leaves kept");
		if (path <= 1) {
			cr_assert_eq(iovirt_pin_unmap(t.dom, h), 0);
			iovirt_pin_flush(t.dom);
		} else if (path == 2) {
			uint64_t at = 1ull << 40;
			cr_assert_eq(iovirt_pt_map(t.io, PT_ASID, at, 0x9000000, PG, PRW), 0);
			cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, g, PG, PRW, IOVIRT_PIN_MAP_FIXED,
						    &at, &h), IOVIRT_EEXIST);
		} else {
			struct iovirt_host_seg w = { .hpa = C_HPA + 100 * LEAF + PG, .gpa = g, .len = PG,
						     .dir = IOVIRT_DEV_READ };
			cr_assert_eq(iovirt_pin_validated(t.dom, NULL, &w, 1, &h), IOVIRT_ESTALE);
		}
		iovirt_pin_stats(t.dom, &st);
		cr_assert_leq(st.leaves, 1, "path %d: swept", path);
		cr_assert_eq(st.page_refs, 0);
		cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
		ex_fini(&t);
	}
}

/* A validated list of several entries in one leaf, or whose entry the map
 * now gives split (same count overall, another length), is ESTALE with
 * nothing changed. */
Test(pin_edges, validated_stale_multi_entry)
{
	struct pt t;
	ex_init(&t, NULL);
	struct iovirt_seg s[2] = { pt_seg(C_GPA + PG, PG), pt_seg(C_GPA + 5 * PG, PG) };
	struct iovirt_host_seg v[2];
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, s, 2, v, 2, NULL), 2);
	struct iovirt_pin_handle h0, h;
	pin1(&t, C_GPA, PG, &h0); /* the leaf is the cached one */
	v[1].hpa += PG;
	struct ex_snap a, b;
	ex_snap_take(&t, &a);
	cr_assert_eq(iovirt_pin_validated(t.dom, NULL, v, 2, &h), IOVIRT_ESTALE);
	ex_snap_take(&t, &b);
	ex_snap_same(&a, &b);
	/* region D page by page: [x: 8 KiB in D, y, z: adjacent in C] gives
	 * [x0, x1, yz], three entries as three given, the first one shorter */
	uint64_t pages[2] = { 0x7000000, 0x7002000 };
	struct iovirt_region d = { .size = sizeof(d), .gpa = 0x40000000, .length = 2 * PG,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
				   .flags = IOVIRT_REGION_HPA_PAGES, .page_hpa = pages };
	cr_assert_eq(iovirt_gmap_add(t.map, &d), 0);
	struct iovirt_host_seg w[3] = {
		{ .hpa = pages[0], .gpa = d.gpa, .len = 2 * PG, .dir = IOVIRT_DEV_READ },
		{ .hpa = C_HPA + 8 * PG, .gpa = C_GPA + 8 * PG, .len = PG, .dir = IOVIRT_DEV_READ },
		{ .hpa = C_HPA + 9 * PG, .gpa = C_GPA + 9 * PG, .len = PG, .dir = IOVIRT_DEV_READ },
	};
	cr_assert_eq(iovirt_pin_validated(t.dom, NULL, w, 3, &h), IOVIRT_ESTALE);
	ex_snap_take(&t, &b);
	ex_snap_same(&a, &b);
	cr_assert_eq(iovirt_gmap_in_use(t.map, d.gpa), 0);
	cr_assert_eq(iovirt_pin_complete(t.dom, h0), 0);
	ex_fini(&t);
}
