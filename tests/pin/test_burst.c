/* SPDX-License-Identifier: MIT */
/*
 * lib/pin: iovirt_pin_sg_burst and iovirt_pin_complete_burst, case by case
 * (test_fast.c compares them with one call at a time over random sequences):
 * the arguments, where a burst stops and what it returns, the idle hold taken
 * back once and made idle once, DMAs of several regions in one burst, and a
 * host pin failing at each DMA of a burst.
 */
#include "pin_test.h"

#define N 8u

static struct iovirt_seg page(uint64_t gpa)
{
	return (struct iovirt_seg){ .gpa = gpa, .len = 4096, .dir = IOVIRT_DEV_WRITE };
}

/* Region A back in the map, as pt_add_regions adds it. */
static void add_a(struct pt *t)
{
	struct iovirt_region a = { .size = sizeof(a), .gpa = PT_GPA, .length = PT_BYTES,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
				   .flags = IOVIRT_REGION_HPA, .hva = t->mem, .hpa = PT_HPA_A };
	cr_assert_eq(iovirt_gmap_add(t->map, &a), 0);
}

/* NULL arguments with n > 0, and n 0 (nothing read or written). */
Test(pin_burst, arguments)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_seg s[1] = { page(PT_GPA) };
	struct iovirt_host_seg out[1];
	struct iovirt_pin_handle h[1];
	uint32_t no[1];
	cr_assert_eq(iovirt_pin_sg_burst(NULL, NULL, s, 1, out, 1, no, h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, NULL, 1, out, 1, no, h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s, 1, NULL, 1, no, h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s, 1, out, 1, NULL, h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s, 1, out, 1, no, NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, NULL, 0, NULL, 0, NULL, NULL), 0);
	cr_assert_eq(iovirt_pin_complete_burst(NULL, h, 1), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, NULL, 1), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, NULL, 0), 0);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_PIN), 0);
	pt_fini(&t);
}

/* A burst stops before the first DMA that fails (a refusal, out full, no
 * handle left); a refusal of the first is returned as iovirt_pin_sg gives it. */
Test(pin_burst, stops_before_a_failure)
{
	struct iovirt_pin_params pp = { .size = sizeof(pp), .max_handles = 5 };
	struct pt t;
	pt_init_params(&t, &pp);
	struct iovirt_seg s[N];
	for (uint32_t i = 0; i < N; i++)
		s[i] = page(PT_GPA + i * 4096ull);
	s[2].len = 0; /* refused: EZEROLEN */
	struct iovirt_host_seg out[N];
	struct iovirt_pin_handle h[N];
	uint32_t no[N];
	struct pt_snap before, after;
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s, N, out, N, no, h), 2);
	cr_assert_eq(no[0], 1);
	cr_assert_eq(no[1], 1);
	cr_assert_eq(out[1].gpa, PT_GPA + 4096);
	cr_assert_eq(out[1].hva, t.mem + 4096);
	cr_assert_eq(iovirt_pin_count(t.dom, PT_GPA + 2 * 4096), 0);
	/* the refused one first: its error, nothing changed */
	pt_snap_take(&t, &before);
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s + 2, N - 2, out, N, no, h + 2),
		     IOVIRT_EZEROLEN);
	pt_snap_take(&t, &after);
	pt_snap_same(&before, &after);
	/* out room for one: one taken */
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s + 3, N - 3, out, 1, no, h + 3), 1);
	/* three handles left of five, then none: ELIMIT for the first */
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s + 4, N - 4, out, N, no, h + 4), 2);
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s + 6, 2, out, N, no, h + 6), IOVIRT_ELIMIT);
	/* complete: stops at a completed handle; that one first: EDONE */
	cr_assert_eq(iovirt_pin_complete(t.dom, h[1]), 0);
	struct iovirt_pin_handle c[4] = { h[0], h[3], h[1], h[4] };
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, c, 4), 2);
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, c + 2, 2), IOVIRT_EDONE);
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, c + 3, 1), 1);
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, h + 5, 1), 1);
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.live_dmas, 0);
	cr_assert_eq(st.page_refs, 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	pt_fini(&t);
}

/* A burst in a region whose hold is idle takes it back once and, completed
 * in one burst, makes it idle once; in between it is in use. */
Test(pin_burst, idle_hold_taken_back_once)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_seg s[N];
	for (uint32_t i = 0; i < N; i++)
		s[i] = page(PT_GPA + i * 4096ull);
	struct iovirt_host_seg out[N];
	struct iovirt_pin_handle h[N];
	uint32_t no[N];
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s, 1, out, N, no, h), 1);
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, h, 1), 1);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 0); /* idle: not counted */
	for (int round = 0; round < 3; round++) {
		cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s, N, out, N, no, h), N);
		cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 1);
		cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA), IOVIRT_EBUSY);
		cr_assert_eq(iovirt_pin_complete_burst(t.dom, h, N - 1), N - 1);
		cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 1);
		cr_assert_eq(iovirt_pin_complete_burst(t.dom, h + N - 1, 1), 1);
		cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 0);
	}
	/* idle: a remover takes it back, and the next burst holds the region
	 * anew (here: refuses, the region gone) */
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA), 0);
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s, N, out, N, no, h), IOVIRT_ENOREGION);
	add_a(&t);
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s, N, out, N, no, h), N);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 1);
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, h, N), N);
	pt_fini(&t);
}

/* DMAs of two regions interleaved in one burst, completed in one burst in
 * another order: each region's hold in use while any of its DMAs lives. */
Test(pin_burst, two_regions)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_seg s[N];
	for (uint32_t i = 0; i < N; i++)
		s[i] = page((i % 3 ? PT_GPA : PT_GPA_B) + i * 4096ull);
	struct iovirt_host_seg out[N];
	struct iovirt_pin_handle h[N], c[N];
	uint32_t no[N];
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s, N, out, N, no, h), N);
	for (uint32_t i = 0; i < N; i++) {
		cr_assert_eq(out[i].gpa, s[i].gpa);
		cr_assert_eq(out[i].hpa, (i % 3 ? PT_HPA_A : PT_HPA_B) + i * 4096ull);
		cr_assert_eq(iovirt_pin_count(t.dom, s[i].gpa), 1);
	}
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 1);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA_B), 1);
	/* B's DMAs (0, 3, 6) and A's 1, 2 first: A stays in use */
	uint32_t order[N] = { 0, 1, 3, 2, 6, 4, 5, 7 };
	for (uint32_t i = 0; i < N; i++)
		c[i] = h[order[i]];
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, c, 5), 5);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA_B), 0);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 1);
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, c + 5, 3), 3);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	pt_fini(&t);
}

/* t's domain made anew on ops. */
static void domain_on(struct pt *t, const struct iovirt_host_ops *ops,
		      const struct iovirt_pin_params *pp)
{
	cr_assert_eq(iovirt_pin_domain_destroy(t->dom), 0);
	cr_assert_eq(iovirt_pin_domain_create(ops, t->p, t->map, pp, &t->dom), 0);
}

/* t's domain made anew on a host without pin_runs/unpin_runs (bursts then
 * call pin and unpin once per run). */
static struct iovirt_host_ops no_runs;
static void without_runs(struct pt *t, const struct iovirt_pin_params *pp)
{
	no_runs = *t->ops;
	no_runs.pin_runs = NULL;
	no_runs.unpin_runs = NULL;
	domain_on(t, &no_runs, pp);
}

/* s[0 .. N): every other page of region A; one burst of s[0] pinned and
 * completed, so that the cached count leaf and the hint entry are in place
 * (the burst's own loop takes the next ones) and the hold is idle. */
static void fresh_pages_idle_hold(struct pt *t, struct iovirt_seg *s)
{
	struct iovirt_host_seg out[1];
	struct iovirt_pin_handle h[1];
	uint32_t no[1];
	for (uint32_t i = 0; i < N; i++)
		s[i] = page(PT_GPA + 2 * i * 4096ull);
	cr_assert_eq(iovirt_pin_sg_burst(t->dom, NULL, s, 1, out, 1, no, h), 1);
	cr_assert_eq(iovirt_pin_complete_burst(t->dom, h, 1), 1);
}

/* The host's pin failing at the j-th DMA of a burst of fresh pages, for every
 * j, with the hold idle before the burst: DMAs before j pinned, j and after
 * not, the hold in use exactly when some DMA is (j = 0: idle again). */
static void host_failure_at_each_dma(bool vec)
{
	struct pt t;
	pt_init(&t);
	if (!vec)
		without_runs(&t, NULL);
	struct iovirt_seg s[N];
	struct iovirt_host_seg out[N];
	struct iovirt_pin_handle h[N];
	uint32_t no[N];
	fresh_pages_idle_hold(&t, s);
	for (uint32_t j = 0; j < N; j++) {
		struct pt_snap before, after;
		pt_snap_take(&t, &before);
		iovirt_posix_fail_pin_at(t.p, j + 1);
		int r = iovirt_pin_sg_burst(t.dom, NULL, s, N, out, N, no, h);
		cr_assert(iovirt_posix_fail_fired(t.p));
		iovirt_posix_fail_pin_at(t.p, 0);
		cr_assert_eq(r, j ? (int)j : IOVIRT_EHOST, "j %u: %d", j, r);
		cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), j ? 1 : 0, "j %u", j);
		for (uint32_t i = 0; i < N; i++)
			cr_assert_eq(iovirt_pin_count(t.dom, s[i].gpa), i < j, "j %u page %u", j, i);
		cr_assert_eq(iovirt_posix_pinned_pages(t.p), (int64_t)j);
		if (j)
			cr_assert_eq(iovirt_pin_complete_burst(t.dom, h, j), (int)j);
		pt_snap_take(&t, &after);
		pt_snap_same(&before, &after);
	}
	/* the lease still works: a burst takes it back */
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s, N, out, N, no, h), N);
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, h, N), N);
	pt_fini(&t);
}

Test(pin_burst, host_failure_at_each_dma)
{
	host_failure_at_each_dma(true);
}

/* The same with one pin call per run (no pin_runs). */
Test(pin_burst, host_failure_at_each_dma_one_call_per_run)
{
	host_failure_at_each_dma(false);
}

/* max_pinned reached inside a burst: the DMAs before pinned, then ELIMIT
 * for the first of a burst; a page pinned already still goes. Host calls:
 * one pin_runs per burst (or one pin per page), one per page counted. */
static void max_pinned(bool vec)
{
	struct iovirt_pin_params pp = { .size = sizeof(pp), .max_pinned = 3 };
	struct pt t;
	pt_init_params(&t, &pp);
	if (!vec)
		without_runs(&t, &pp);
	struct iovirt_seg s[N];
	for (uint32_t i = 0; i < N; i++)
		s[i] = page(PT_GPA + 3 * i * 4096ull);
	struct iovirt_host_seg out[N];
	struct iovirt_pin_handle h[N], h2[N];
	uint32_t no[N];
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s, 5, out, N, no, h), 3);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_PIN), 3);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 3);
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s + 3, 2, out, N, no, h2), IOVIRT_ELIMIT);
	cr_assert_eq(iovirt_pin_count(t.dom, s[3].gpa), 0);
	/* s[0 .. 3) again: counted, no host pin */
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s, 3, out, N, no, h2), 3);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_PIN), 3);
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, h2, 3), 3);
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, h, 3), 3);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_UNPIN), 3);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	pt_fini(&t);
}

Test(pin_burst, max_pinned)
{
	max_pinned(true);
}

Test(pin_burst, max_pinned_one_call_per_run)
{
	max_pinned(false);
}

/* A region the domain holds through two entries (hold_add_slow's rare case:
 * an entry revoked with the region's old, smaller node is met first, and a
 * new entry is made beside the one that holds the new node already): a
 * complete burst of DMAs of both entries counts each DMA on one entry
 * (never more than an entry's users), and the region ends up not held. */
Test(pin_burst, region_held_twice)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_host_seg out[2];
	struct iovirt_pin_handle h[3];
	uint32_t no[2];
	struct iovirt_seg a0 = page(PT_GPA), a100 = page(PT_GPA + 100 * 4096ull), b0 = page(PT_GPA_B);
	/* entry X: A's first node, left idle */
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, &a0, 1, out, 2, no, h), 1);
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, h, 1), 1);
	/* A removed (X revoked) and added back twice as long, without hva */
	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA), 0);
	struct iovirt_region a2 = { .size = sizeof(a2), .gpa = PT_GPA, .length = 2 * PT_BYTES,
				    .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
				    .flags = IOVIRT_REGION_HPA, .hpa = PT_HPA_A };
	cr_assert_eq(iovirt_gmap_add(t.map, &a2), 0);
	/* entry Y: the new node, found past X's range */
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, &a100, 1, out, 2, no, &h[0]), 1);
	/* the hint moves to B's entry; then page 0 meets X first (revoked),
	 * which makes entry W for the new node beside Y */
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, &b0, 1, out, 2, no, &h[2]), 1);
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, &a0, 1, out, 2, no, &h[1]), 1);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 2);
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, h, 2), 2);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 0);
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, &h[2], 1), 1);
	/* both entries work on: a burst and its complete again */
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, &a0, 1, out, 2, no, h), 1);
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, &a100, 1, out, 2, no, &h[1]), 1);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 1);
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, h, 2), 2);
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 0);
	pt_fini(&t);
}

/* The callbacks two hosts saw, in order, the same: kind, pages for pin and
 * unpin, sizes for memory (addresses differ between the hosts). */
static void same_calls(struct iovirt_posix *a, struct iovirt_posix *b, const char *when)
{
	static struct iovirt_posix_event x[4096], y[4096];
	size_t n = iovirt_posix_log_read(a, x, 4096), m = iovirt_posix_log_read(b, y, 4096);
	cr_assert_eq(n, m, "%s: %zu callbacks vs %zu", when, n, m);
	cr_assert_lt(n, 4096, "%s: the log overflowed", when);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(x[i].cb, y[i].cb, "%s: callback %zu", when, i);
		bool addr = x[i].cb == IOVIRT_CB_MEM_ALLOC || x[i].cb == IOVIRT_CB_MEM_FREE;
		if (!addr)
			cr_assert_eq(x[i].a, y[i].a, "%s: callback %zu", when, i);
		cr_assert_eq(x[i].b, y[i].b, "%s: callback %zu", when, i);
		cr_assert_eq(x[i].result, y[i].result, "%s: callback %zu", when, i);
	}
	iovirt_posix_log_clear(a);
	iovirt_posix_log_clear(b);
}

/* Bursts over many count leaves (more empty ones than the domain keeps,
 * PIN_SPARE_MAX 16, so that emptied leaves are swept) against one call per
 * DMA in a second world: the same counts, leaves and bookkeeping bytes after
 * every step, and the same host callbacks in the same order (pins, unpins,
 * and the sweeps' frees between them); with and without pin_runs. */
static void many_leaves(bool vec)
{
	struct pt t, u;
	pt_init(&t);
	pt_init(&u);
	if (!vec)
		without_runs(&t, NULL);
	const uint64_t big = 0x40000000ull, leaves = 40;
	struct iovirt_region r = { .size = sizeof(r), .gpa = big, .length = leaves << 21,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
				   .flags = IOVIRT_REGION_HPA, .hpa = 1ull << 40 };
	cr_assert_eq(iovirt_gmap_add(t.map, &r), 0);
	cr_assert_eq(iovirt_gmap_add(u.map, &r), 0);
	cr_assert_eq(iovirt_posix_log_enable(t.p, 4096), 0);
	cr_assert_eq(iovirt_posix_log_enable(u.p, 4096), 0);
	struct iovirt_pin_domain *one = u.dom;
	static struct iovirt_pin_handle hb[40][3], hs[40][3];
	for (int round = 0; round < 3; round++) {
		/* three pages in each leaf, one burst per leaf; then the leaves
		 * emptied in another order, a burst each */
		for (uint64_t k = 0; k < leaves; k++) {
			struct iovirt_seg s[3];
			struct iovirt_host_seg out[3];
			uint32_t no[3];
			for (uint64_t i = 0; i < 3; i++)
				s[i] = page(big + (k << 21) + ((i * 7 + k + (uint64_t)round) % 512) * 4096);
			cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s, 3, out, 3, no, hb[k]), 3);
			for (uint64_t i = 0; i < 3; i++)
				cr_assert_gt(iovirt_pin_sg(one, NULL, &s[i], 1, out, 3, NULL, &hs[k][i]), 0);
			same_calls(t.p, u.p, "pin");
		}
		for (uint64_t n = 0; n < leaves; n++) {
			uint64_t k = (n * 17 + (uint64_t)round) % leaves;
			cr_assert_eq(iovirt_pin_complete_burst(t.dom, hb[k], 3), 3);
			for (uint64_t i = 0; i < 3; i++)
				cr_assert_eq(iovirt_pin_complete(one, hs[k][i]), 0);
			same_calls(t.p, u.p, "complete");
			for (int again = 0; n % 3 == 0 && again < 2; again++) {
				/* the emptied leaf used again: the second time it is
				 * the cached leaf, empty */
				struct iovirt_seg s = page(big + (k << 21) + 4096 * (n % 512));
				struct iovirt_host_seg out[1];
				uint32_t no[1];
				cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, &s, 1, out, 1, no, hb[k]), 1);
				cr_assert_gt(iovirt_pin_sg(one, NULL, &s, 1, out, 1, NULL, hs[k]), 0);
				cr_assert_eq(iovirt_pin_complete_burst(t.dom, hb[k], 1), 1);
				cr_assert_eq(iovirt_pin_complete(one, hs[k][0]), 0);
				same_calls(t.p, u.p, "again");
			}
			struct iovirt_pin_stats a, b;
			iovirt_pin_stats(t.dom, &a);
			iovirt_pin_stats(one, &b);
			cr_assert_eq(a.leaves, b.leaves, "round %d leaf %llu", round, (unsigned long long)k);
			cr_assert_eq(a.meta_bytes, b.meta_bytes, "round %d", round);
			cr_assert_eq(a.pinned_pages, b.pinned_pages, "round %d", round);
			cr_assert_eq(a.page_refs, b.page_refs, "round %d", round);
		}
	}
	iovirt_posix_log_enable(t.p, 0);
	iovirt_posix_log_enable(u.p, 0);
	pt_fini(&t);
	pt_fini(&u);
}

Test(pin_burst, many_leaves_same_as_singles)
{
	many_leaves(true);
}

Test(pin_burst, many_leaves_same_as_singles_one_call_per_run)
{
	many_leaves(false);
}

/* A host whose pin_runs answers more runs than it was given (taken as all
 * of them, no more), or fewer (the first one not pinned failed: EHOST for
 * that DMA, nothing of it kept). */
static uint32_t runs_answer_extra; /* added to pin_runs' answer */
static uint32_t runs_fail_at = UINT32_MAX; /* the run pin_runs stops at */
static uint32_t odd_pin_runs(void *host, uint32_t guest, const struct iovirt_page_run *runs, uint32_t n)
{
	uint32_t i = 0;
	for (; i < n && i < runs_fail_at; i++)
		cr_assert_eq(iovirt_posix_ops()->pin(host, guest, runs[i].gpa, runs[i].npages), 0);
	return i < n ? i : n + runs_answer_extra;
}

Test(pin_burst, host_pin_runs_answers)
{
	struct pt t;
	pt_init(&t);
	static struct iovirt_host_ops odd;
	odd = *t.ops;
	odd.pin_runs = odd_pin_runs;
	domain_on(&t, &odd, NULL);
	struct iovirt_seg s[N];
	struct iovirt_host_seg out[N];
	struct iovirt_pin_handle h[N];
	uint32_t no[N];
	fresh_pages_idle_hold(&t, s);
	runs_answer_extra = 5;
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s, N, out, N, no, h), N);
	struct iovirt_pin_stats st;
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.pinned_pages, N);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), N);
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, h, N), N);
	runs_answer_extra = 0;
	runs_fail_at = 3;
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s, N, out, N, no, h), 3);
	iovirt_pin_stats(t.dom, &st);
	cr_assert_eq(st.pinned_pages, 3);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 3);
	cr_assert_eq(iovirt_pin_count(t.dom, s[3].gpa), 0);
	cr_assert_eq(iovirt_pin_complete_burst(t.dom, h, 3), 3);
	runs_fail_at = 0;
	cr_assert_eq(iovirt_pin_sg_burst(t.dom, NULL, s, N, out, N, no, h), IOVIRT_EHOST);
	runs_fail_at = UINT32_MAX;
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	pt_fini(&t);
}
