/* SPDX-License-Identifier: MIT */
/*
 * lib/pin: iovirt_pin_sg's fast path (one segment, default policy, in the
 * hint's held region and the cached count leaf) against the general path.
 * Two identical worlds (host, map, domain) get the same random sequence of
 * pins, completes, removals, shrinks, re-adds and injected host failures;
 * world F passes a NULL policy (the fast path takes what it can), world G an
 * empty policy of the same meaning (always the general path). Every result,
 * host entry, handle, page count, hold and counter must be the same.
 */
#include "pin_test.h"

#define NREG 7u
#define MAXLIVE 24u

/* The regions: A and B of pin_test.h, C across a count-leaf boundary (with
 * host CPU addresses only, over A's memory: host entries' hpa
 * IOVIRT_HPA_NONE), D
 * right after A (segments crossing into it: ECROSS), E read-only, F of
 * another guest, G given page by page (IOVIRT_REGION_HPA_PAGES, pages not
 * contiguous: a segment of several pages gets one host entry per page). */
static const struct {
	uint64_t gpa, len;
	uint32_t access, owner;
} regs[NREG] = {
	{ PT_GPA, PT_BYTES, RW, PT_GUEST },
	{ PT_GPA_B, PT_B_BYTES, RW, PT_GUEST },
	{ 0x1f0000, 0x20000, RW, PT_GUEST },
	{ PT_GPA + PT_BYTES, 0x10000, RW, PT_GUEST },
	{ 0x3000000, 0x8000, IOVIRT_DEV_READ, PT_GUEST },
	{ 0x4000000, 0x8000, RW, PT_GUEST + 1 },
	{ 0x5000000, 0x8000, RW, PT_GUEST },
};
#define REG_PAGED 6u
static const uint64_t paged_hpa[8] = { 0x7000000, 0x6000000, 0x9000000, 0x5000000,
				       0x2000000, 0x3000000, 0x1000000, 0x8000000 };

struct world {
	struct pt t;
	struct iovirt_pin_handle live[MAXLIVE], done[MAXLIVE];
	uint32_t nlive, ndone;
	uint32_t hpa_gen[NREG]; /* re-added regions get other host addresses */
	int rm_result[NREG];    /* a deferred removal's result, INT32_MIN while pending */
};

static int add_region(struct world *w, uint32_t i)
{
	struct iovirt_region r = { .size = sizeof(r), .gpa = regs[i].gpa, .length = regs[i].len,
				   .kind = IOVIRT_REGION_RAM, .access = regs[i].access,
				   .owner = regs[i].owner, .flags = IOVIRT_REGION_HPA,
				   .hpa = 0x100000000ull * (i + 1) + 0x10000000ull * w->hpa_gen[i] };
	if (i == 0)
		r.hva = w->t.mem;
	if (i == 2) {
		/* C: host CPU addresses only (host entries' hpa IOVIRT_HPA_NONE) */
		r.flags = 0;
		r.hpa = 0;
		r.hva = w->t.mem;
	}
	if (i == REG_PAGED) {
		r.flags = IOVIRT_REGION_HPA_PAGES;
		r.hpa = 0;
		r.page_hpa = paged_hpa;
	}
	return iovirt_gmap_add(w->t.map, &r);
}

/* The POSIX adapter without pin_runs/unpin_runs: bursts call pin and unpin
 * once per run. */
static struct iovirt_host_ops no_runs;

/* vec false: the domain's host has no pin_runs/unpin_runs. */
static void world_init(struct world *w, const struct iovirt_pin_params *pp, bool vec)
{
	memset(w, 0, sizeof(*w));
	pt_init_params(&w->t, pp);
	if (!vec) {
		no_runs = *iovirt_posix_ops();
		no_runs.pin_runs = NULL;
		no_runs.unpin_runs = NULL;
		cr_assert_eq(iovirt_pin_domain_destroy(w->t.dom), 0);
		cr_assert_eq(iovirt_pin_domain_create(&no_runs, w->t.p, w->t.map, pp, &w->t.dom), 0);
	}
	for (uint32_t i = 2; i < NREG; i++)
		cr_assert_eq(add_region(w, i), 0);
}

static void world_fini(struct world *w)
{
	for (uint32_t i = 0; i < w->nlive; i++)
		cr_assert_eq(iovirt_pin_complete(w->t.dom, w->live[i]), 0);
	pt_fini(&w->t);
}

/* Every observable of the two worlds is the same. */
static void same_worlds(struct world *f, struct world *g, uint32_t step)
{
	struct iovirt_pin_stats a, b;
	iovirt_pin_stats(f->t.dom, &a);
	iovirt_pin_stats(g->t.dom, &b);
	cr_assert_eq(a.pinned_pages, b.pinned_pages, "step %u", step);
	cr_assert_eq(a.page_refs, b.page_refs, "step %u", step);
	cr_assert_eq(a.live_dmas, b.live_dmas, "step %u", step);
	cr_assert_eq(a.host_pins, b.host_pins, "step %u", step);
	cr_assert_eq(a.host_unpins, b.host_unpins, "step %u", step);
	cr_assert_eq(a.leaves, b.leaves, "step %u", step);
	cr_assert_eq(a.meta_bytes, b.meta_bytes, "step %u", step);
	cr_assert_eq(iovirt_posix_pinned_pages(f->t.p), iovirt_posix_pinned_pages(g->t.p), "step %u", step);
	cr_assert_eq(iovirt_posix_pinned_pages(f->t.p), (int64_t)a.pinned_pages, "step %u", step);
	for (uint32_t i = 0; i < NREG; i++) {
		cr_assert_eq(f->rm_result[i], g->rm_result[i], "step %u region %u", step, i);
		cr_assert_eq(iovirt_gmap_in_use(f->t.map, regs[i].gpa),
			     iovirt_gmap_in_use(g->t.map, regs[i].gpa), "step %u region %u", step, i);
		for (uint64_t o = 0; o < regs[i].len; o += 4096)
			cr_assert_eq(iovirt_pin_count(f->t.dom, regs[i].gpa + o),
				     iovirt_pin_count(g->t.dom, regs[i].gpa + o),
				     "step %u region %u page %llu", step, i, (unsigned long long)(o >> 12));
	}
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	return th_rand(&rnd_state);
}

/* A segment near or in a region: mostly a page or two inside, sometimes
 * unaligned, empty, across the region's end or a count leaf, or a bad
 * direction. */
static struct iovirt_seg rnd_seg(void)
{
	uint32_t i = (uint32_t)(rnd() % NREG);
	uint64_t pages = regs[i].len >> 12;
	uint64_t gpa = regs[i].gpa + (rnd() % (pages + 2)) * 4096 - (rnd() % 8 == 0 ? 4096 : 0);
	if (rnd() % 4 == 0)
		gpa += rnd() % 4096;
	static const uint64_t lens[] = { 4096, 4096, 4096, 8192, 12288 + 17, 1, 512, 0, 65536 };
	uint64_t len = lens[rnd() % (sizeof(lens) / sizeof(lens[0]))];
	uint32_t dir = rnd() % 8 ? (uint32_t)(rnd() % 3 + 1) : (uint32_t)(rnd() % 5);
	return (struct iovirt_seg){ .gpa = gpa, .len = len, .dir = dir };
}

static void on_removed(void *arg, int result)
{
	*(int *)arg = result;
}

/* Host entries of the two worlds the same (host addresses: the same offset
 * into each world's memory). */
static void same_entries(const struct world *f, const struct world *g, struct iovirt_host_seg *fo,
			 struct iovirt_host_seg *go, uint32_t n, uint32_t step)
{
	for (uint32_t i = 0; i < n; i++) {
		cr_assert_eq(fo[i].hva ? (uint8_t *)fo[i].hva - f->t.mem : -1,
			     go[i].hva ? (uint8_t *)go[i].hva - g->t.mem : -1, "step %u", step);
		fo[i].hva = go[i].hva = NULL;
	}
	cr_assert_eq(memcmp(fo, go, n * sizeof(*fo)), 0, "step %u: host entries", step);
}

#define BMAX 8u

/* World F pins a burst (iovirt_pin_sg_burst), world G the same DMAs one
 * iovirt_pin_sg at a time on the general path, stopping at the first that
 * fails: the same count (or first error), host entries, entry counts,
 * handles; sometimes out runs out or the host fails the j-th pin. */
static void burst_pin(struct world *f, struct world *g, uint32_t step)
{
	static const struct iovirt_sg_policy empty = { .size = sizeof(empty) };
	uint32_t nb = (uint32_t)(rnd() % BMAX) + (rnd() % 8 == 0 ? 0 : 1);
	if (f->nlive + nb > MAXLIVE)
		return;
	struct iovirt_seg segs[BMAX];
	/* mostly one page in one region, as a ring's buffers */
	uint64_t base = rnd() % 2 ? PT_GPA : regs[rnd() % NREG].gpa;
	for (uint32_t i = 0; i < nb; i++)
		segs[i] = rnd() % 4 ? (struct iovirt_seg){ .gpa = base + (rnd() % 24) * 4096,
							   .len = 4096 - (rnd() % 3) * 1000,
							   .dir = IOVIRT_DEV_WRITE }
				    : rnd_seg();
	uint32_t cap = rnd() % 4 ? 4 * BMAX : (uint32_t)(rnd() % (nb + 2));
	struct iovirt_host_seg fo[4 * BMAX], go[4 * BMAX];
	struct iovirt_pin_handle fh[BMAX], gh[BMAX];
	uint32_t fn[BMAX], gn[BMAX];
	memset(fo, 0, sizeof(fo));
	memset(go, 0, sizeof(go));
	if (rnd() % 8 == 0) {
		uint64_t at = 1 + rnd() % (nb + 1);
		iovirt_posix_fail_pin_at(f->t.p, at);
		iovirt_posix_fail_pin_at(g->t.p, at);
	}
	int a = iovirt_pin_sg_burst(f->t.dom, rnd() % 8 ? NULL : &empty, segs, nb, fo, cap, fn, fh);
	int b = 0;
	uint32_t o = 0;
	for (uint32_t k = 0; k < nb; k++) {
		int r = iovirt_pin_sg(g->t.dom, &empty, &segs[k], 1, go + o, cap - o, NULL, &gh[k]);
		if (r < 0) {
			if (!k)
				b = r;
			break;
		}
		gn[k] = (uint32_t)r;
		o += (uint32_t)r;
		b = (int)k + 1;
	}
	iovirt_posix_fail_pin_at(f->t.p, 0);
	iovirt_posix_fail_pin_at(g->t.p, 0);
	cr_assert_eq(a, b, "step %u: burst of %u: %d vs %d", step, nb, a, b);
	if (a <= 0)
		return;
	cr_assert_eq(memcmp(fn, gn, (size_t)a * sizeof(*fn)), 0, "step %u: entry counts", step);
	same_entries(f, g, fo, go, o, step);
	for (int k = 0; k < a; k++) {
		cr_assert_eq(fh[k].index, gh[k].index, "step %u", step);
		cr_assert_eq(fh[k].gen, gh[k].gen, "step %u", step);
		f->live[f->nlive++] = fh[k];
		g->live[g->nlive++] = gh[k];
	}
}

/* World F completes a burst of live handles (iovirt_pin_complete_burst),
 * sometimes with a completed or foreign one among them; world G the same
 * one at a time, stopping at the first refusal. */
static void burst_complete(struct world *f, struct world *g, uint32_t step)
{
	uint32_t nb = 1 + (uint32_t)(rnd() % (f->nlive < BMAX ? f->nlive : BMAX));
	struct iovirt_pin_handle fh[BMAX + 1], gh[BMAX + 1];
	/* distinct live handles, moved out of live[] */
	for (uint32_t i = 0; i < nb; i++) {
		uint32_t k = (uint32_t)(rnd() % f->nlive);
		fh[i] = f->live[k];
		gh[i] = g->live[k];
		f->live[k] = f->live[--f->nlive];
		g->live[k] = g->live[--g->nlive];
	}
	uint32_t bad = nb + 1; /* none */
	if (rnd() % 4 == 0) {
		/* a refused handle at position bad: completed, or another domain's */
		bad = (uint32_t)(rnd() % (nb + 1));
		struct iovirt_pin_handle fx, gx;
		if (f->ndone && rnd() % 2) {
			uint32_t k = (uint32_t)(rnd() % f->ndone);
			fx = f->done[k], gx = g->done[k];
		} else {
			fx = gh[0], gx = fh[0];
		}
		memmove(fh + bad + 1, fh + bad, (nb - bad) * sizeof(*fh));
		memmove(gh + bad + 1, gh + bad, (nb - bad) * sizeof(*gh));
		fh[bad] = fx, gh[bad] = gx;
	}
	uint32_t total = bad <= nb ? nb + 1 : nb;
	int a = iovirt_pin_complete_burst(f->t.dom, fh, total);
	int b = 0;
	for (uint32_t k = 0; k < total; k++) {
		int r = iovirt_pin_complete(g->t.dom, gh[k]);
		if (r < 0) {
			if (!k)
				b = r;
			break;
		}
		b = (int)k + 1;
	}
	cr_assert_eq(a, b, "step %u: complete burst of %u: %d vs %d", step, total, a, b);
	/* what was not completed is live again; what was, done */
	uint32_t ended = a > 0 ? (uint32_t)a : 0;
	for (uint32_t k = 0; k < total; k++) {
		if (k == bad)
			continue;
		if (k < ended) {
			uint32_t slot = (uint32_t)(rnd() % MAXLIVE);
			if (slot >= f->ndone)
				slot = f->ndone++;
			f->done[slot] = fh[k];
			g->done[slot] = gh[k];
		} else {
			f->live[f->nlive++] = fh[k];
			g->live[g->nlive++] = gh[k];
		}
	}
}

/* One random step applied to both worlds, results compared. */
static void step(struct world *f, struct world *g, uint32_t n)
{
	static const struct iovirt_sg_policy empty = { .size = sizeof(empty) };
	uint32_t op = (uint32_t)(rnd() % 100);
	if (op < 55 && f->nlive < MAXLIVE) {
		struct iovirt_seg s = rnd_seg();
		struct iovirt_host_seg fo[16], go[16];
		struct iovirt_dma_result fr, gr;
		struct iovirt_pin_handle fh = { 0 }, gh = { 0 };
		bool with_res = rnd() % 2;
		uint32_t cap = rnd() % 16 ? 16 : (uint32_t)(rnd() % 2);
		bool fail = rnd() % 16 == 0; /* the host's next pin fails */
		memset(fo, 0, sizeof(fo));
		memset(go, 0, sizeof(go));
		memset(&fr, 0xa5, sizeof(fr));
		memset(&gr, 0xa5, sizeof(gr));
		if (fail) {
			iovirt_posix_fail_pin_at(f->t.p, 1);
			iovirt_posix_fail_pin_at(g->t.p, 1);
		}
		int a = iovirt_pin_sg(f->t.dom, NULL, &s, 1, fo, cap, with_res ? &fr : NULL, &fh);
		int b = iovirt_pin_sg(g->t.dom, &empty, &s, 1, go, cap, with_res ? &gr : NULL, &gh);
		iovirt_posix_fail_pin_at(f->t.p, 0);
		iovirt_posix_fail_pin_at(g->t.p, 0);
		cr_assert_eq(a, b, "step %u: pin gpa %#llx len %llu dir %u: %d vs %d", n,
			     (unsigned long long)s.gpa, (unsigned long long)s.len, s.dir, a, b);
		if (a > 0)
			same_entries(f, g, fo, go, 16, n);
		if (with_res)
			cr_assert_eq(memcmp(&fr, &gr, sizeof(fr)), 0, "step %u: result", n);
		if (a > 0) {
			cr_assert_eq(fh.index, gh.index, "step %u", n);
			cr_assert_eq(fh.gen, gh.gen, "step %u", n);
			f->live[f->nlive++] = fh;
			g->live[g->nlive++] = gh;
		}
	} else if (op < 62) {
		burst_pin(f, g, n);
	} else if (op < 68 && f->nlive) {
		burst_complete(f, g, n);
	} else if (op < 85 && f->nlive) {
		uint32_t k = (uint32_t)(rnd() % f->nlive);
		cr_assert_eq(iovirt_pin_complete(f->t.dom, f->live[k]), 0, "step %u", n);
		cr_assert_eq(iovirt_pin_complete(g->t.dom, g->live[k]), 0, "step %u", n);
		uint32_t slot = (uint32_t)(rnd() % MAXLIVE);
		if (slot >= f->ndone)
			slot = f->ndone++;
		f->done[slot] = f->live[k];
		g->done[slot] = g->live[k];
		f->live[k] = f->live[--f->nlive];
		g->live[k] = g->live[--g->nlive];
	} else if (op < 88 && f->ndone) {
		/* a completed handle: EDONE or, its slot reused, ESTALE */
		uint32_t k = (uint32_t)(rnd() % f->ndone);
		cr_assert_eq(iovirt_pin_complete(f->t.dom, f->done[k]),
			     iovirt_pin_complete(g->t.dom, g->done[k]), "step %u", n);
	} else if (op < 93) {
		/* removal from the map's side (another thread's, here in turn):
		 * idle leases are revoked, held regions refused; then re-added
		 * elsewhere in host memory */
		uint32_t i = (uint32_t)(rnd() % NREG);
		int a = iovirt_gmap_remove(f->t.map, regs[i].gpa);
		cr_assert_eq(a, iovirt_gmap_remove(g->t.map, regs[i].gpa), "step %u", n);
		if (a == 0 && (f->rm_result[i] != INT32_MIN)) {
			f->hpa_gen[i]++;
			g->hpa_gen[i]++;
			cr_assert_eq(add_region(f, i), 0);
			cr_assert_eq(add_region(g, i), 0);
		}
	} else if (op < 96) {
		/* a removal deferred until this domain's last pin of the region */
		uint32_t i = (uint32_t)(rnd() % NREG);
		if (f->rm_result[i] == INT32_MIN)
			return;
		f->rm_result[i] = g->rm_result[i] = INT32_MIN;
		int a = iovirt_pin_remove_deferred(f->t.dom, regs[i].gpa, on_removed, &f->rm_result[i]);
		cr_assert_eq(a, iovirt_pin_remove_deferred(g->t.dom, regs[i].gpa, on_removed,
							   &g->rm_result[i]), "step %u", n);
	} else if (op < 98) {
		/* re-adds the regions whose deferred removal ran */
		for (uint32_t i = 0; i < NREG; i++) {
			cr_assert_eq(f->rm_result[i], g->rm_result[i], "step %u", n);
			if (f->rm_result[i] == INT32_MIN)
				continue;
			int a = add_region(f, i);
			cr_assert_eq(a, add_region(g, i), "step %u", n);
		}
	} else {
		iovirt_gmap_reclaim(f->t.map);
		iovirt_gmap_reclaim(g->t.map);
	}
}

static void run(uint64_t seed, uint32_t steps, const struct iovirt_pin_params *pp)
{
	static struct world f, g;
	rnd_state = seed;
	/* F's bursts with and without the host's vectored pin (G pins one
	 * DMA per call: pin_runs is never used) */
	world_init(&f, pp, seed & 1);
	world_init(&g, pp, true);
	for (uint32_t n = 0; n < steps; n++) {
		step(&f, &g, n);
		same_worlds(&f, &g, n);
	}
	/* pending deferred removals run at the last completes */
	world_fini(&f);
	world_fini(&g);
}

/* The fast path and the general path give the same results, host entries, handles, counts, holds and counters over random sequences of pins (with injected host failures), completes, stale completes, removals (revoking idle leases), deferred removals and re-adds. */
Test(pin_fast, same_as_general_path)
{
	for (uint64_t seed = 1; seed <= 8; seed++)
		run(seed * 0x2545f4914f6cdd1dull, 1500, NULL);
}

/* The same with few handles (the free list runs dry: ELIMIT) and a small pinned-page limit (ELIMIT at the host pin). */
Test(pin_fast, same_as_general_path_at_limits)
{
	struct iovirt_pin_params pp = { .size = sizeof(pp), .max_handles = 4, .max_segs = 4,
					.max_pinned = 6 };
	for (uint64_t seed = 1; seed <= 8; seed++)
		run(seed * 0x9e3779b97f4a7c15ull, 1500, &pp);
}
