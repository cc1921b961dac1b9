/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a sequence of pin, complete (live, done, stale, foreign),
 * pin and complete bursts (iovirt_pin_sg_burst, iovirt_pin_complete_burst),
 * map, unmap, flush, region removal and re-add, and injected pin/allocation
 * failures, run against a reference model of per-page counts and region
 * holds. After every step: each page's count, the host's pinned pages, the
 * holds on the removable region and the live handles match the model; a
 * removal succeeds exactly when nothing holds the region; a call that fails
 * changes nothing. At the end everything is released and nothing leaks.
 *
 * "Each page's count" is checked, after a step, for the pages that step
 * touched or tried to (the totals of every count are checked after every
 * step, which a change elsewhere would move), and for every page at the end
 * of the input: reading all 64 counts after every step cost most of a run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#define GUEST 5u
#define A_GPA 0x100000ull /* always present */
#define B_GPA 0x120000ull /* removable; directly after A, so segments may cross */
#define NPAGES 64u        /* A: pages 0..31, B: pages 32..63 of the window */
#define WIN_GPA A_GPA
#define MAXH 8
#define ASID 1u

struct mh {
	int live; /* 0 free, 1 DMA, 2 map, 3 unmapped but deferred (batched mode) */
	struct iovirt_pin_handle h;
	uint32_t nsegs;
	uint64_t first[4], npages[4];
};

FUZZ_CHECKER_BEGIN

static uint32_t cnt[NPAGES];
static uint64_t touched; /* bit i: page i's count may have changed in this step */
static uint64_t model_refs, model_distinct; /* sum of cnt[], pages with cnt[i] != 0 */
static struct mh hs[MAXH];
static int b_present;

static int64_t b_holds(void)
{
	int64_t n = 0;
	/* the domain takes one hold on B while any of its handles touches B
	 * (two regions: its hold table never overflows here) */
	for (int i = 0; i < MAXH; i++) {
		int touches = 0;
		for (uint32_t s = 0; hs[i].live && s < hs[i].nsegs; s++)
			touches |= hs[i].first[s] >= 32;
		n |= touches;
	}
	return n;
}

static uint32_t ndeferred;
static void model_apply(const struct mh *m, int delta);

/* A flush releases every deferred unmap. */
static void release_deferred(void)
{
	for (int i = 0; i < MAXH; i++)
		if (hs[i].live == 3) {
			model_apply(&hs[i], -1);
			hs[i].live = 0;
		}
	ndeferred = 0;
}

static void model_apply(const struct mh *m, int delta)
{
	for (uint32_t s = 0; s < m->nsegs; s++)
		for (uint64_t p = m->first[s]; p < m->first[s] + m->npages[s] && p < NPAGES; p++) {
			model_distinct -= cnt[p] != 0;
			cnt[p] += (uint32_t)delta;
			model_distinct += cnt[p] != 0;
			model_refs += (uint64_t)(int64_t)delta;
			touched |= UINT64_C(1) << p;
		}
}

/* The pages of segments a call was given, whether it succeeded or not. */
static void touch(const struct mh *m)
{
	for (uint32_t s = 0; s < m->nsegs; s++)
		for (uint64_t p = m->first[s]; p < m->first[s] + m->npages[s] && p < NPAGES; p++)
			touched |= UINT64_C(1) << p;
}

static void check_page(struct iovirt_pin_domain *dom, uint32_t i)
{
	uint32_t got = iovirt_pin_count(dom, WIN_GPA + i * 4096ull);
	CHECK(got == cnt[i], "page %u: count %u, model %u", i, got, cnt[i]);
}

/* After a step: the counts it may have changed, and every total. At the end
 * of an input (all set): every page. */
static void check_step(struct iovirt_posix *p, struct iovirt_pin_domain *dom,
		       struct iovirt_gmap *map, bool all)
{
	if (all)
		touched = ~UINT64_C(0);
	for (uint64_t t = touched; t; t &= t - 1)
		check_page(dom, (uint32_t)__builtin_ctzll(t));
	touched = 0;
	CHECK(iovirt_posix_pinned_pages(p) == (int64_t)model_distinct, "host pinned %lld, model %lld",
	      (long long)iovirt_posix_pinned_pages(p), (long long)model_distinct);
	struct iovirt_pin_stats st;
	iovirt_pin_stats(dom, &st);
	CHECK(st.page_refs == model_refs && st.pinned_pages == model_distinct, "stats");
	/* one ASID, never destroyed: every queued unmap waits for its invalidation */
	CHECK(st.deferred_entries == ndeferred && st.deferred_invals == ndeferred,
	      "deferred %llu/%llu, model %u", (unsigned long long)st.deferred_entries,
	      (unsigned long long)st.deferred_invals, ndeferred);
	if (b_present)
		CHECK(iovirt_gmap_in_use(map, B_GPA) == b_holds(), "holds on B %lld, model %lld",
		      (long long)iovirt_gmap_in_use(map, B_GPA), (long long)b_holds());
}

static void add_b(struct iovirt_gmap *map)
{
	struct iovirt_region b = { .size = sizeof(b), .gpa = B_GPA, .length = 32 * 4096,
				   .kind = IOVIRT_REGION_RAM,
				   .access = IOVIRT_DEV_READ | IOVIRT_DEV_WRITE, .owner = GUEST,
				   .flags = IOVIRT_REGION_HPA, .hpa = 0x80000000ull };
	int r = iovirt_gmap_add(map, &b);
	/* an injected allocation failure leaves B absent */
	CHECK(r == 0 || r == IOVIRT_ENOMEM, "add B: %d", r);
	b_present = r == 0;
}

/* Segment s of m lies in one region that is present: A's pages 0..31, or B's
 * 32..63 while B is in the map. */
static int seg_ok(const struct mh *m, uint32_t s)
{
	uint64_t last = m->first[s] + m->npages[s] - 1;
	return last < NPAGES && (m->first[s] < 32) == (last < 32) && (m->first[s] < 32 || b_present);
}

/* The segments of m as a burst of one-segment DMAs (iovirt_pin_sg_burst),
 * into the free handle entries from k on: those it takes must be valid, a
 * valid first one refused only for a limit, the host or memory. */
static void pin_burst(struct iovirt_pin_domain *dom, const struct iovirt_seg *segs,
		      const struct mh *m, int k)
{
	int at[4];
	uint32_t nb = 0;
	for (int j = 0; j < MAXH && nb < m->nsegs; j++)
		if (!hs[(k + j) % MAXH].live)
			at[nb++] = (k + j) % MAXH;
	struct iovirt_host_seg out[4];
	struct iovirt_pin_handle h[4];
	uint32_t nout[4];
	int r = iovirt_pin_sg_burst(dom, NULL, segs, nb, out, 4, nout, h);
	for (uint32_t i = 0; i < nb; i++) {
		int ok = seg_ok(m, i);
		if (r < 0 && i == 0)
			CHECK(!ok || r == IOVIRT_ELIMIT || r == IOVIRT_EHOST || r == IOVIRT_ENOMEM,
			      "valid burst DMA refused: %d", r);
		if ((int)i >= r)
			continue;
		CHECK(ok, "burst pin of an invalid descriptor succeeded");
		CHECK(nout[i] == 1 && out[i].gpa == segs[i].gpa, "burst host entry");
		struct mh one = { .live = 1, .h = h[i], .nsegs = 1 };
		one.first[0] = m->first[i];
		one.npages[0] = m->npages[i];
		hs[at[i]] = one;
		model_apply(&one, +1);
	}
	CHECK(r <= (int)nb, "burst count %d of %u", r, nb);
}

/* Every live DMA from entry k on, in one iovirt_pin_complete_burst. */
static void complete_burst(struct iovirt_pin_domain *dom, int k)
{
	struct iovirt_pin_handle h[MAXH];
	int at[MAXH], n = 0;
	for (int j = 0; j < MAXH; j++)
		if (hs[(k + j) % MAXH].live == 1) {
			at[n] = (k + j) % MAXH;
			h[n] = hs[at[n]].h;
			n++;
		}
	CHECK(iovirt_pin_complete_burst(dom, h, (uint32_t)n) == n, "complete burst");
	for (int i = 0; i < n; i++) {
		model_apply(&hs[at[i]], -1);
		hs[at[i]].live = 0;
	}
}

FUZZ_CHECKER_END

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	memset(cnt, 0, sizeof(cnt));
	memset(hs, 0, sizeof(hs));
	ndeferred = 0;
	touched = model_refs = model_distinct = 0;
	/* One adapter, iommu and address space for every input: making an
	 * iommu (its ASID directory) and a space per input cost more than most
	 * inputs' steps. An input leaves them as it found them (no mapping,
	 * only the space's root table, nothing else allocated), which the end
	 * of each input checks. */
	static struct iovirt_posix *p;
	static struct iovirt_iommu *io;
	static int64_t base_mem;
	static int trace = -1;
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	if (!p) {
		p = iovirt_posix_create();
		CHECK(p && iovirt_iommu_create(ops, p, NULL, &io) == 0, "iommu");
		CHECK(iovirt_pt_space_create(io, ASID, NULL) == 0, "space");
		base_mem = iovirt_posix_live_mem(p); /* the iommu, its directory chunk, the space */
		trace = getenv("PIN_FUZZ_TRACE") != NULL;
	}
	struct iovirt_gmap *map;
	struct iovirt_gmap_params gp = { sizeof(gp), GUEST, 0 };
	CHECK(iovirt_gmap_create(ops, p, &gp, &map) == 0, "gmap");
	struct iovirt_region a = { .size = sizeof(a), .gpa = A_GPA, .length = 32 * 4096,
				   .kind = IOVIRT_REGION_RAM,
				   .access = IOVIRT_DEV_READ | IOVIRT_DEV_WRITE, .owner = GUEST,
				   .flags = IOVIRT_REGION_HPA, .hpa = 0x40000000ull };
	CHECK(iovirt_gmap_add(map, &a) == 0, "add A");
	add_b(map);
	struct iovirt_pin_params pp = { .size = sizeof(pp), .max_handles = 6, .max_segs = 4,
					.max_pinned = data[0] & 1 ? 40 : 0,
					.batch = (data[0] >> 1) & 3 };
	struct iovirt_pin_domain *dom;
	CHECK(iovirt_pin_domain_create(ops, p, map, &pp, &dom) == 0, "domain");
	struct iovirt_host_seg out[64];
	struct iovirt_pin_handle old[MAXH]; /* handles once handed out, for stale tries */
	int nold = 0;

	for (size_t i = 1; i + 4 <= size; i += 4) {
		const uint8_t *b = data + i;
		int k = b[1] % MAXH;
		if (trace)
			fprintf(stderr, "op %d k %d %02x %02x present %d\n", b[0] % 8, k, b[2], b[3], b_present);
		switch (b[0] % 8) {
		case 0:   /* pin */
		case 1: { /* map */
			if (hs[k].live)
				break;
			struct mh m = { 0 };
			struct iovirt_seg segs[4];
			int is_map = b[0] % 8 == 1;
			m.nsegs = is_map ? 1 : 1 + b[2] % 4;
			for (uint32_t s = 0; s < m.nsegs; s++) {
				uint8_t x = b[(2 + s) % 4] ^ (uint8_t)(s * 77);
				uint64_t pg = x % NPAGES, np = 1 + (x >> 6);
				uint64_t off = is_map ? 0 : (x & 7) * 64;
				segs[s] = (struct iovirt_seg){ .gpa = WIN_GPA + pg * 4096 + off,
							       .len = np * 4096 - off,
							       .dir = IOVIRT_DEV_READ };
				m.first[s] = pg;
				m.npages[s] = np;
			}
			int ok_expected = 1;
			for (uint32_t s = 0; s < m.nsegs; s++)
				ok_expected &= seg_ok(&m, s);
			touch(&m); /* a refused pin changes no count */
			if (!is_map && (b[3] & 0x40)) {
				pin_burst(dom, segs, &m, k);
				break;
			}
			int r;
			uint64_t iova = 0;
			struct iovirt_pin_handle h;
			if (is_map)
				r = iovirt_pin_map(dom, io, ASID, segs[0].gpa, segs[0].len,
						   IOVIRT_PROT_READ, 0, &iova, &h);
			else
				r = iovirt_pin_sg(dom, NULL, segs, m.nsegs, out, 64, NULL, &h);
			if (r >= 0) {
				CHECK(ok_expected, "pin of an invalid descriptor succeeded");
				m.live = is_map ? 2 : 1;
				m.h = h;
				hs[k] = m;
				model_apply(&m, +1);
				if (nold < MAXH)
					old[nold++] = h;
				else
					old[b[3] % MAXH] = h;
			} else {
				CHECK(!ok_expected || r == IOVIRT_ELIMIT || r == IOVIRT_EHOST ||
				      r == IOVIRT_ENOMEM, "valid pin refused: %d", r);
			}
			break;
		}
		case 2: /* complete or unmap a live handle */
			if (b[3] & 0x40) {
				complete_burst(dom, k);
				break;
			}
			if (hs[k].live == 1) {
				CHECK(iovirt_pin_complete(dom, hs[k].h) == 0, "complete");
			} else if (hs[k].live == 2) {
				uint64_t inv0 = iovirt_posix_count(p, IOVIRT_CB_IOTLB_INVAL);
				CHECK(iovirt_pin_unmap(dom, hs[k].h) == 0, "unmap");
				uint64_t inv = iovirt_posix_count(p, IOVIRT_CB_IOTLB_INVAL) - inv0;
				if (pp.batch) {
					/* pins, hold and invalidation stay until the flush (by
					 * count here), which invalidates once for the ASID */
					hs[k].live = 3;
					if (++ndeferred >= pp.batch) {
						CHECK(inv == 1, "batched flush: %llu invalidations",
						      (unsigned long long)inv);
						release_deferred();
					} else {
						CHECK(inv == 0, "batched unmap invalidated");
					}
					break;
				}
				CHECK(inv == 1, "strict unmap: %llu invalidations", (unsigned long long)inv);
			} else {
				break;
			}
			model_apply(&hs[k], -1);
			hs[k].live = 0;
			break;
		case 3: { /* a completed, stale or foreign handle changes nothing */
			if (!nold)
				break;
			struct iovirt_pin_handle h = old[b[2] % nold];
			int live = 0;
			for (int j = 0; j < MAXH; j++)
				live |= (hs[j].live == 1 || hs[j].live == 2) && hs[j].h.index == h.index && hs[j].h.gen == h.gen;
			if (b[3] & 1)
				h.tag ^= 1 + b[3];
			if (!live || (b[3] & 1)) {
				int r = (b[3] & 2) ? iovirt_pin_unmap(dom, h) : iovirt_pin_complete(dom, h);
				CHECK(r < 0, "refused handle accepted");
			}
			break;
		}
		case 4: { /* remove B: only when nothing holds it */
			if (!b_present)
				break;
			int r = iovirt_gmap_remove(map, B_GPA);
			int64_t held = b_holds();
			if (r == 0) {
				CHECK(held == 0, "region removed while pinned");
				b_present = 0;
			} else {
				/* busy exactly when held; an injected allocation failure aside */
				CHECK((r == IOVIRT_EBUSY && held) || r == IOVIRT_ENOMEM, "remove: %d", r);
			}
			break;
		}
		case 5:
			if (!b_present)
				add_b(map);
			break;
		case 6:
			if (b[2] & 1)
				iovirt_posix_fail_pin_at(p, 1 + b[3] % 4);
			else
				iovirt_posix_fail_alloc_at(p, 1 + b[3] % 4);
			break;
		case 7: {
			iovirt_posix_fail_pin_at(p, 0);
			iovirt_posix_fail_alloc_at(p, 0);
			uint64_t inv0 = iovirt_posix_count(p, IOVIRT_CB_IOTLB_INVAL);
			CHECK(iovirt_pin_flush(dom) == ndeferred, "flush count");
			CHECK(iovirt_posix_count(p, IOVIRT_CB_IOTLB_INVAL) - inv0 == (ndeferred != 0),
			      "flush: one invalidation when anything was queued");
			release_deferred();
			break;
		}
		}
		check_step(p, dom, map, false);
	}
	iovirt_posix_fail_pin_at(p, 0);
	iovirt_posix_fail_alloc_at(p, 0);
	for (int k = 0; k < MAXH; k++) {
		if (hs[k].live == 1)
			CHECK(iovirt_pin_complete(dom, hs[k].h) == 0, "final complete");
		else if (hs[k].live == 2)
			CHECK(iovirt_pin_unmap(dom, hs[k].h) == 0, "final unmap");
		if (hs[k].live == 1 || hs[k].live == 2) {
			model_apply(&hs[k], -1);
			hs[k].live = 0;
		}
	}
	iovirt_pin_flush(dom);
	release_deferred();
	check_step(p, dom, map, true);
	CHECK(iovirt_posix_pinned_pages(p) == 0, "pages left pinned");
	CHECK(iovirt_pin_domain_destroy(dom) == 0, "destroy");
	/* Deferred mode: the first reclaim frees what unmaps retired and unlinks
	 * the kept tables (retired in turn), the second frees those, and the
	 * trim gives back what the table cache holds. */
	iovirt_pt_reclaim(io);
	iovirt_pt_reclaim(io);
	iovirt_pt_trim(io);
	/* every mapping is gone, and with it every table but the root (a
	 * mapping needs a table below the root, so none is left) */
	CHECK(iovirt_posix_live_tables(p) == 1, "tables left: %lld", (long long)iovirt_posix_live_tables(p));
	iovirt_gmap_reclaim(map);
	CHECK(iovirt_gmap_destroy(map) == 0, "gmap destroy");
	CHECK(iovirt_posix_live_mem(p) == base_mem, "leak");
	return 0;
}
