/* SPDX-License-Identifier: MIT */
/*
 * Validate+pin against a hostile guest, for ThreadSanitizer. The DMA thread
 * reads a descriptor list from guest memory, pins it, "does the DMA" (writes
 * every byte of the host list) and completes it. The guest rewrites the list
 * the moment it has been read (a read hook on the DMA thread), and another
 * thread keeps removing region B and adding it back on other host memory
 * ("remap"), and shrinking it. Up to INFLIGHT DMAs are live at once, so
 * later ones find region B held by the domain already (no new gmap hold).
 * Checked: every DMA wrote only memory that was the guest's for the whole
 * DMA (again just before its complete), its region did not change while it
 * was live, the host list matches the descriptor that was read, and at the
 * end every count is zero.
 * Idle phase: the same with one DMA live at a time, so the domain's hold on
 * region B is idle between DMAs (a gmap lease) and the remover takes it back
 * while the DMA thread may be about to use it again; the same checks.
 * Fast phases: both again with one-segment iovirt_pin_sg calls (the fast
 * path of issue 13: held region, cached count leaf), the same checks.
 * Burst phase: bursts of one-segment DMAs (iovirt_pin_sg_burst, then
 * iovirt_pin_complete_burst), the hold idle between bursts; the same checks.
 * Second phase (domain ids): TAG_THREADS threads create and destroy domains
 * of the same map at once; every domain's tag must be new (the process-wide
 * counter), and the handle another thread's domain handed out is refused
 * with EOWNER by this thread's domain.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#define GUEST 3u
#define A_GPA 0x100000ull
#define A_PAGES 16u
#define B_GPA 0x800000ull
#define B_PAGES 16u
#define NBACK 3 /* host buffers region B moves between */
#define ITERS 50000
#define NSEG 4

static struct iovirt_posix *p;
static struct iovirt_gmap *map;
static uint8_t *mem_a;
static uint8_t *back[NBACK];
/* 1 while back[i] is region B's memory (set before add, cleared after remove). */
static atomic_int owned[NBACK];
static atomic_int stop;
static atomic_ulong errors, dmas, refused, removed, busy;
static uint8_t snap[NSEG * 16]; /* the list as read, kept by the hook (DMA thread only) */
static uint64_t hook_rng = 88172645463325252ull;

static void fail(const char *what, uint64_t a)
{
	fprintf(stderr, "FAIL: %s (%#llx)\n", what, (unsigned long long)a);
	atomic_fetch_add(&errors, 1);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A random segment: inside A's DMA pages, inside B, straddling B's end, or nowhere. */
static void write_entry(uint8_t *w, uint64_t r)
{
	uint64_t gpa, len = 1 + (r >> 8) % 8192;
	switch (r & 7) {
	case 0: case 1: case 2: gpa = A_GPA + 4 * 4096 + (r >> 20) % (8 * 4096); break;
	case 3: case 4: case 5: gpa = B_GPA + (r >> 20) % ((B_PAGES - 2) * 4096); break;
	case 6: gpa = B_GPA + B_PAGES * 4096 - 100; break;
	default: gpa = 0x40000000ull + (r >> 20) % 4096; break;
	}
	uint64_t hi = len | (uint64_t)IOVIRT_DEV_WRITE << 32;
	memcpy(w, &gpa, 8);
	memcpy(w + 8, &hi, 8);
}

/* The guest rewrites its list right after iovirt read it (same thread: the
 * bytes change between the read and every later check). */
static void hook(void *arg, uint32_t guest, uint64_t gpa, size_t len)
{
	(void)arg;
	(void)guest;
	if (gpa != A_GPA || len > sizeof(snap))
		return;
	memcpy(snap, mem_a, len);
	for (size_t i = 0; i < NSEG; i++)
		write_entry(mem_a + i * 16, rnd(&hook_rng));
}

static int backing_of(const void *hva)
{
	for (int i = 0; i < NBACK; i++)
		if ((const uint8_t *)hva >= back[i] && (const uint8_t *)hva < back[i] + B_PAGES * 4096)
			return i;
	return -1;
}

/* DMAs in flight at once: later DMAs in region B then find it held by the
 * domain already (no new gmap hold) while the other thread removes and
 * shrinks it, and each DMA is checked again just before its complete. */
#define INFLIGHT 3
static int inflight = INFLIGHT; /* 1 in the idle phases */
/* The fast phases: one segment through iovirt_pin_sg with no policy (its
 * fast path: region held by the domain, pages in the cached count leaf),
 * the segment drawn as the guest's list entries are. */
static int one_seg;
struct live {
	struct iovirt_pin_handle h;
	struct iovirt_host_seg out[64];
	int bk[64];
	int n;
};

/* At completion: the DMA's memory stayed the guest's, its region unchanged,
 * its pages pinned. */
static void finish_check(struct iovirt_pin_domain *dom, const struct live *l)
{
	for (int i = 0; i < l->n; i++) {
		if (iovirt_pin_count(dom, l->out[i].gpa & ~4095ull) == 0)
			fail("page unpinned before complete", l->out[i].gpa);
		if (l->bk[i] < 0)
			continue;
		if (!atomic_load(&owned[l->bk[i]]))
			fail("memory left the guest during the DMA", l->out[i].gpa);
		struct iovirt_region now;
		if (iovirt_gmap_lookup(map, l->out[i].gpa, &now) ||
		    (uint8_t *)now.hva + (l->out[i].gpa - now.gpa) != l->out[i].hva)
			fail("region changed under a live DMA", l->out[i].gpa);
	}
}

/* finish_check, then complete. */
static void finish(struct iovirt_pin_domain *dom, struct live *l)
{
	finish_check(dom, l);
	if (iovirt_pin_complete(dom, l->h))
		fail("complete", l->h.index);
	atomic_fetch_add(&dmas, 1);
}

/* A DMA just pinned (l->out[0 .. l->n)): its host list describes the
 * segment read first (first_gpa), every page is pinned, every entry points
 * at memory that is the guest's and stays so; the device writes it all. */
static void dma_check(struct iovirt_pin_domain *dom, struct live *l, uint64_t first_gpa, int it)
{
	struct iovirt_host_seg *out = l->out;
	int *bk = l->bk;
	if (out[0].gpa != first_gpa)
		fail("host list does not match the read descriptor", out[0].gpa);
	for (int i = 0; i < l->n; i++) {
		uint64_t gfirst = out[i].gpa & ~4095ull;
		if (iovirt_pin_count(dom, gfirst) == 0)
			fail("page not pinned", gfirst);
		bk[i] = -1;
		if (out[i].gpa >= B_GPA && out[i].gpa < B_GPA + B_PAGES * 4096) {
			bk[i] = backing_of(out[i].hva);
			if (bk[i] < 0 || !atomic_load(&owned[bk[i]]))
				fail("DMA into memory that is not the guest's", out[i].gpa);
			struct iovirt_region now;
			if (iovirt_gmap_lookup(map, out[i].gpa, &now) ||
			    (uint8_t *)now.hva + (out[i].gpa - now.gpa) != out[i].hva)
				fail("region changed under a pinned DMA", out[i].gpa);
		} else if (out[i].hva != mem_a + (out[i].gpa - A_GPA)) {
			fail("A entry points elsewhere", out[i].gpa);
		}
		memset(out[i].hva, it & 0xff, out[i].len); /* the device's DMA */
	}
	for (int i = 0; i < l->n; i++)
		if (bk[i] >= 0 && !atomic_load(&owned[bk[i]]))
			fail("memory left the guest during the DMA", out[i].gpa);
}

/* One segment drawn as the guest's list entries are. */
static struct iovirt_seg draw_seg(uint64_t *s)
{
	write_entry(snap, rnd(s));
	uint64_t gpa, hi;
	memcpy(&gpa, snap, 8);
	memcpy(&hi, snap + 8, 8);
	return (struct iovirt_seg){ .gpa = gpa, .len = (uint32_t)hi, .dir = (uint32_t)(hi >> 32) };
}

/* The burst phase: up to BURST one-segment DMAs pinned by one
 * iovirt_pin_sg_burst, checked, and ended by one iovirt_pin_complete_burst:
 * between bursts the domain's hold on region B is idle, and the remover
 * takes it back while the next burst may be using it again. */
#define BURST 4
static void burst_dma_thread(struct iovirt_pin_domain *dom)
{
	static struct live ls[BURST];
	uint64_t s = 0x7654321;
	for (int it = 0; it < ITERS / 2; it++) {
		uint32_t nb = 1 + (uint32_t)(rnd(&s) % BURST);
		struct iovirt_seg segs[BURST];
		struct iovirt_host_seg out[BURST * 64];
		struct iovirt_pin_handle hs[BURST];
		uint32_t nout[BURST];
		for (uint32_t k = 0; k < nb; k++)
			segs[k] = draw_seg(&s);
		int r = iovirt_pin_sg_burst(dom, NULL, segs, nb, out, BURST * 64, nout, hs);
		if (r < 0) {
			atomic_fetch_add(&refused, 1);
			continue;
		}
		if (r < (int)nb)
			atomic_fetch_add(&refused, 1);
		for (int k = 0, o = 0; k < r; o += (int)nout[k], k++) {
			ls[k].h = hs[k];
			ls[k].n = (int)nout[k];
			memcpy(ls[k].out, out + o, nout[k] * sizeof(*out));
			dma_check(dom, &ls[k], segs[k].gpa, it);
		}
		for (int k = 0; k < r; k++)
			finish_check(dom, &ls[k]);
		if (iovirt_pin_complete_burst(dom, hs, (uint32_t)r) != r)
			fail("complete burst", (uint64_t)r);
		atomic_fetch_add(&dmas, (unsigned long)r);
	}
}

static int burst_mode;

static void *dma_thread(void *arg)
{
	struct iovirt_pin_domain *dom = arg;
	static struct live ring[INFLIGHT];
	int head = 0, nlive = 0;
	uint64_t s = 0x1234567;
	if (burst_mode) {
		burst_dma_thread(dom);
		atomic_store(&stop, 1);
		return NULL;
	}
	for (int it = 0; it < ITERS; it++) {
		uint32_t n = 1 + (uint32_t)(rnd(&s) % NSEG);
		struct live *l = &ring[(head + nlive) % INFLIGHT];
		int r;
		if (one_seg) {
			struct iovirt_seg seg = draw_seg(&s);
			r = iovirt_pin_sg(dom, NULL, &seg, 1, l->out, 64, NULL, &l->h);
		} else {
			r = iovirt_pin_sg_guest(dom, NULL, A_GPA, n, l->out, 64, NULL, &l->h);
		}
		if (r < 0) {
			atomic_fetch_add(&refused, 1);
			continue;
		}
		/* The host list describes the snapshot that was read, segment by segment. */
		uint64_t first_gpa;
		memcpy(&first_gpa, snap, 8);
		l->n = r;
		dma_check(dom, l, first_gpa, it);
		if (++nlive == inflight) {
			finish(dom, &ring[head]);
			head = (head + 1) % INFLIGHT;
			nlive--;
		}
	}
	for (; nlive; nlive--, head = (head + 1) % INFLIGHT)
		finish(dom, &ring[head]);
	atomic_store(&stop, 1);
	return NULL;
}

static struct iovirt_region region_b(int k, uint64_t pages)
{
	return (struct iovirt_region){ .size = sizeof(struct iovirt_region), .gpa = B_GPA,
				       .length = pages * 4096, .kind = IOVIRT_REGION_RAM,
				       .access = IOVIRT_DEV_READ | IOVIRT_DEV_WRITE, .owner = GUEST,
				       .hva = back[k] };
}

static void *guest_thread(void *arg)
{
	(void)arg;
	static int cur; /* region B's backing now: kept across phases */
	uint64_t s = 0x9999;
	/* Bounded: replaced snapshots wait for the reclaim at the end. */
	for (int ops = 0; ops < 100000 && !atomic_load(&stop); ops++) {
		if (ops % 64 == 0)
			sched_yield();
		if (rnd(&s) % 4 == 0) {
			int r = iovirt_gmap_shrink(map, B_GPA, (B_PAGES / 2) * 4096);
			if (r == IOVIRT_EBUSY)
				atomic_fetch_add(&busy, 1);
			/* a shrunk region is put back whole below */
		}
		int r = iovirt_gmap_remove(map, B_GPA);
		if (r == IOVIRT_EBUSY) {
			atomic_fetch_add(&busy, 1);
			continue;
		}
		if (r) {
			fail("remove", (uint64_t)-r);
			break;
		}
		atomic_store(&owned[cur], 0);
		atomic_fetch_add(&removed, 1);
		cur = (cur + 1) % NBACK;
		atomic_store(&owned[cur], 1);
		struct iovirt_region b = region_b(cur, B_PAGES);
		if (iovirt_gmap_add(map, &b)) {
			fail("re-add", 0);
			break;
		}
	}
	return NULL;
}

/* One more run of both threads (the settings above chosen by the caller),
 * from a quiescent map; it must pin and remove something. */
static void phase(struct iovirt_pin_domain *dom, const char *name)
{
	unsigned long d0 = atomic_load(&dmas), r0 = atomic_load(&removed);
	pthread_t t1, t2;
	iovirt_gmap_reclaim(map); /* quiescent: both threads joined */
	atomic_store(&stop, 0);
	pthread_create(&t2, NULL, guest_thread, NULL);
	pthread_create(&t1, NULL, dma_thread, dom);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	if (atomic_load(&dmas) == d0 || atomic_load(&removed) == r0)
		fail(name, 0);
	printf("%s: %lu DMAs, %lu removals\n", name, atomic_load(&dmas) - d0,
	       atomic_load(&removed) - r0);
}

#define TAG_THREADS 4
#define TAG_LOOPS 2000
static _Atomic uint64_t last_tag[TAG_THREADS]; /* each thread's latest domain tag */
static uint64_t tags[TAG_THREADS][TAG_LOOPS];

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void *tag_thread(void *arg)
{
	int me = (int)(intptr_t)arg;
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	struct iovirt_pin_params pp = { .size = sizeof(pp), .max_handles = 2, .max_segs = 1 };
	struct iovirt_seg s = { .gpa = A_GPA + (uint64_t)me * 4096, .len = 4096,
				.dir = IOVIRT_DEV_READ };
	struct iovirt_host_seg out[1];
	for (int i = 0; i < TAG_LOOPS; i++) {
		struct iovirt_pin_domain *d;
		struct iovirt_pin_handle h;
		if (iovirt_pin_domain_create(ops, p, map, &pp, &d)) {
			fail("tag phase: create", (uint64_t)i);
			return NULL;
		}
		if (iovirt_pin_sg(d, NULL, &s, 1, out, 1, NULL, &h) != 1) {
			fail("tag phase: pin", (uint64_t)i);
		} else {
			tags[me][i] = h.tag;
			atomic_store(&last_tag[me], h.tag);
			/* a live-looking handle of the next thread's latest domain:
			 * slot 0 at its first generation, as that domain's first pin */
			uint64_t other = atomic_load(&last_tag[(me + 1) % TAG_THREADS]);
			struct iovirt_pin_handle x = { .index = h.index, .gen = h.gen, .tag = other };
			if (other && iovirt_pin_complete(d, x) != IOVIRT_EOWNER)
				fail("tag phase: another domain's handle accepted", other);
			if (iovirt_pin_complete(d, h))
				fail("tag phase: complete", h.tag);
		}
		if (iovirt_pin_domain_destroy(d))
			fail("tag phase: destroy", (uint64_t)i);
	}
	return NULL;
}

/* Tags handed out at once by several threads: all distinct, none 0. */
static void tag_phase(void)
{
	pthread_t t[TAG_THREADS];
	for (int i = 0; i < TAG_THREADS; i++)
		pthread_create(&t[i], NULL, tag_thread, (void *)(intptr_t)i);
	for (int i = 0; i < TAG_THREADS; i++)
		pthread_join(t[i], NULL);
	uint64_t *all = &tags[0][0];
	size_t n = (size_t)TAG_THREADS * TAG_LOOPS;
	qsort(all, n, sizeof(*all), cmp_u64);
	if (!all[0])
		fail("tag phase: tag 0 (or a pin failed)", 0);
	for (size_t i = 1; i < n; i++)
		if (all[i] == all[i - 1])
			fail("tag phase: a tag handed out twice", all[i]);
}

int main(void)
{
	p = iovirt_posix_create();
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	mem_a = aligned_alloc(4096, A_PAGES * 4096);
	for (int i = 0; i < NBACK; i++)
		back[i] = aligned_alloc(4096, B_PAGES * 4096);
	memset(mem_a, 0, A_PAGES * 4096);
	iovirt_posix_guest_add(p, GUEST, A_GPA, mem_a, A_PAGES * 4096);
	struct iovirt_gmap_params gp = { sizeof(gp), GUEST, 0 };
	if (iovirt_gmap_create(ops, p, &gp, &map))
		return 2;
	struct iovirt_region a = { .size = sizeof(a), .gpa = A_GPA, .length = A_PAGES * 4096,
				   .kind = IOVIRT_REGION_RAM,
				   .access = IOVIRT_DEV_READ | IOVIRT_DEV_WRITE, .owner = GUEST,
				   .hva = mem_a };
	atomic_store(&owned[0], 1);
	struct iovirt_region b = region_b(0, B_PAGES);
	if (iovirt_gmap_add(map, &a) || iovirt_gmap_add(map, &b))
		return 2;
	for (int i = 0; i < NSEG; i++)
		write_entry(mem_a + i * 16, rnd(&hook_rng));
	iovirt_posix_set_read_hook(p, hook, NULL);
	struct iovirt_pin_domain *dom;
	if (iovirt_pin_domain_create(ops, p, map, NULL, &dom))
		return 2;

	/* First phase: lists read from guest memory, INFLIGHT DMAs live. */
	phase(dom, "first phase");

	/* Idle phase: one DMA at a time, the remover revoking the idle hold. */
	inflight = 1;
	phase(dom, "idle phase");
	/* Fast phases: the same, one segment at a time through iovirt_pin_sg,
	 * several DMAs live (region in use), then one (the idle lease used
	 * again with a compare-and-swap while the remover revokes it). */
	one_seg = 1;
	inflight = INFLIGHT;
	phase(dom, "fast phase (3 live)");
	inflight = 1;
	phase(dom, "fast phase (1 live)");
	/* Burst phase: iovirt_pin_sg_burst and iovirt_pin_complete_burst, the
	 * remover revoking the idle hold between bursts. */
	burst_mode = 1;
	phase(dom, "burst phase");

	/* Quiescent: every count back to zero, no hold left. */
	struct iovirt_pin_stats st;
	iovirt_pin_stats(dom, &st);
	if (st.pinned_pages || st.page_refs || st.live_dmas || st.leaves > 16 /* cached empty */)
		fail("counts not zero", st.page_refs);
	if (iovirt_posix_pinned_pages(p))
		fail("host pages left pinned", (uint64_t)iovirt_posix_pinned_pages(p));
	if (iovirt_gmap_in_use(map, A_GPA) || iovirt_gmap_in_use(map, B_GPA) > 0)
		fail("holds left", 0);
	if (iovirt_pin_domain_destroy(dom))
		fail("destroy", 0);
	tag_phase();
	if (iovirt_posix_pinned_pages(p))
		fail("tag phase: host pages left pinned", (uint64_t)iovirt_posix_pinned_pages(p));
	iovirt_gmap_reclaim(map);
	if (iovirt_gmap_destroy(map))
		fail("gmap destroy", 0);
	if (iovirt_posix_live_mem(p))
		fail("leak", (uint64_t)iovirt_posix_live_mem(p));
	iovirt_posix_destroy(p);
	free(mem_a);
	for (int i = 0; i < NBACK; i++)
		free(back[i]);
	unsigned long e = atomic_load(&errors);
	printf("%lu DMAs pinned and checked, %lu refused, %lu remaps, %lu busy refusals, "
	       "%d domains from %d threads with distinct tags, %lu errors\n",
	       atomic_load(&dmas), atomic_load(&refused), atomic_load(&removed), atomic_load(&busy),
	       TAG_THREADS * TAG_LOOPS, TAG_THREADS, e);
	return e ? 1 : 0;
}
