/* SPDX-License-Identifier: MIT */
/*
 * The install/kill race of an emptied table, made common: two writers loop
 * map/unmap of neighbouring 4 KiB pages of ONE leaf table (0x18000000000 and
 * 0x18000001000), so that the table (and the tables above it) empties and
 * refills all the time. After every map each writer checks its page through
 * the raw hardware tables (a walk from iovirt_pt_root through the entries
 * alone) and through iovirt_pt_translate; after every unmap both must say
 * unmapped.
 *  - deferred reclaim: a reader translates exactly the writers' pages beside
 *    them; every few thousand rounds everyone parks and the main thread
 *    calls iovirt_pt_reclaim (the header's "translate beside any writer");
 *    the host's first table_free inside that reclaim (the cache trim) lets
 *    everyone go on beside the rest of it (writers beside a reclaim).
 *  - AFTER_INVAL: the two writers alone (the header's "disjoint writers at
 *    once" in that mode), with table pages freed as the writers go; a writer
 *    reading a freed page is AddressSanitizer's to see. The test's hardware
 *    walker is protected as a real IOMMU's is: the host's iotlb_inval waits
 *    for walks in flight (an invalidation-wait), so only the library's own
 *    reads of freed memory can show. The writer's translate runs only right
 *    after its own map: the mapped page keeps its whole path alive, so it
 *    reads no page another writer may free (the header keeps translate
 *    beside writers to deferred mode in general); the main thread calls
 *    iovirt_pt_reclaim beside the writers (allowed in that mode).
 * Beside them in both modes: a third writer that unmaps through a gather and
 * maps, splits and unmaps a 2 MiB page under the same level-2 table, and two
 * threads creating and destroying spaces of their own ASIDs.
 * Emptied tables go round the table cache (one page per kind by default,
 * IOVIRT_STRESS_PT_CACHE: a size or "off"), so a page reused too early shows
 * as a lost or wrong mapping, and under ASan a cached page is poisoned.
 * Kept tables (issue 13): at most two by default (IOVIRT_STRESS_PT_KEEP: a
 * bound or "off"), so the writers' leaf table is kept and mapped into again
 * while a trimmer thread calls iovirt_pt_trim in a loop (unlinking it under
 * them; in deferred mode it parks for the reclaim as every writer), and a
 * dropper in the next GiB empties its own leaf table (kept), then drops it
 * with an unmap covering it whole (2 MiB, or 1 GiB: its level-2 table with
 * the kept table inside, which the trimmer may be unlinking) or maps a
 * 2 MiB page over it, beside the trimmer; the reader translates its pages
 * too, and beyond the bound emptied tables are unlinked as before.
 * A writer that makes no progress for HANG_SECONDS is reported as a hang.
 * Usage: stress_pt_race [seconds per mode] (default 1; IOVIRT_STRESS_SECONDS too).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sched.h>
#include <unistd.h>

#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#include "../common/hw_walk.h"

#define NW 2 /* the two writers; one more (index NW) unmaps by gather and splits */
#define NT (NW + 1)
#define NS 2 /* threads that create and destroy spaces of their own ASIDs beside all that */
#define NK 2 /* the trimmer and the dropper */
#define DROP (BASE + (UINT64_C(1) << 30)) /* the dropper's GiB, its level-2 table its own */
#define NR 1
#define BASE UINT64_C(0x18000000000)
#define PARK_EVERY 2048 /* rounds between two parks (deferred mode) */
#define HANG_SECONDS 20

static struct iovirt_iommu *io;
static bool deferred;
static unsigned long summary[2]; /* rounds per mode */
static struct iovirt_pt_root_info root = { .size = sizeof(root) };
static atomic_bool stop, park;
static atomic_int parked, finished;
static atomic_ulong rounds[NT], checks, errors, trims, drops;

/* Per writer: odd while its hardware walk is in flight. */
static _Atomic unsigned long walking[NT + 1]; /* the writers and the dropper */
static struct iovirt_host_ops ops;
static void (*posix_inval)(void *, const struct iovirt_inval *);
static void (*posix_table_free)(void *, void *, uint64_t);
static atomic_bool unpark_in_free; /* deferred mode: the writers resume inside the reclaim */
static atomic_ulong beside;        /* reclaims that had them running beside */

/* The host's table_free; in deferred mode the first one inside a reclaim (its
 * cache trim) lets the parked threads go, so that they run beside the rest of
 * that reclaim, as the header allows (they began after it): what they retire
 * must wait for the next reclaim, not be cached and reused under them. */
static void park_table_free(void *host, void *page, uint64_t pa)
{
	if (atomic_exchange(&unpark_in_free, false)) {
		atomic_store_explicit(&park, false, memory_order_release);
		atomic_fetch_add(&beside, 1);
	}
	posix_table_free(host, page, pa);
}

/* The IOMMU's invalidation-wait: returns once every hardware walk that may
 * have read an entry cleared before this call has finished. */
static void wait_inval(void *host, const struct iovirt_inval *inv)
{
	posix_inval(host, inv);
	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned k = 0; k < NT + 1; k++) {
		unsigned long g = atomic_load(&walking[k]);
		while ((g & 1) && atomic_load(&walking[k]) == g)
			sched_yield();
	}
}

static uint64_t hw_walk_raw(uint64_t iova)
{
	return hw_walk_info(&root, iova, NULL);
}

static uint64_t hw_walk(unsigned k, uint64_t iova)
{
	atomic_fetch_add(&walking[k], 1);
	atomic_thread_fence(memory_order_seq_cst);
	uint64_t pa = hw_walk_raw(iova);
	atomic_fetch_add(&walking[k], 1);
	return pa;
}

static uint64_t pa_of(unsigned k)
{
	return UINT64_C(0x40000000) + ((uint64_t)k << 21);
}

static void fail(const char *what, unsigned k, long v)
{
	fprintf(stderr, "FAIL writer %u: %s (%ld)\n", k, what, v);
	atomic_fetch_add(&errors, 1);
	atomic_store(&stop, true);
}

/* Parks while the main thread reclaims. */
static void park_point(void)
{
	if (!atomic_load_explicit(&park, memory_order_acquire))
		return;
	atomic_fetch_add(&parked, 1);
	while (atomic_load_explicit(&park, memory_order_acquire) && !atomic_load(&stop))
		sched_yield();
	atomic_fetch_sub(&parked, 1);
}

static void *writer(void *arg)
{
	const unsigned k = (unsigned)(uintptr_t)arg;
	const uint64_t iova = BASE + ((uint64_t)k << 12), pa = pa_of(k);
	struct iovirt_xlate x;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int r = iovirt_pt_map(io, 1, iova, pa, 4096, IOVIRT_PROT_READ | IOVIRT_PROT_WRITE);
		if (r) {
			fail("map", k, r);
			break;
		}
		if (hw_walk(k, iova + 0x123) != pa + 0x123)
			fail("mapped, yet the hardware tables do not translate it", k, 0);
		if ((r = iovirt_pt_translate(io, 1, iova + 0x123, IOVIRT_PROT_WRITE, &x)) || x.pa != pa + 0x123)
			fail("mapped, yet iovirt_pt_translate does not find it", k, r);
		int64_t u = iovirt_pt_unmap(io, 1, iova, 4096);
		if (u != 4096)
			fail("unmap of a mapped page", k, (long)u);
		if (hw_walk(k, iova) != VTD_WALK_FAULT)
			fail("unmapped, yet the hardware tables still translate it", k, 0);
		/* The path may be going away under the other writer: software translate
		 * beside writers is deferred mode's only. */
		if (deferred && (r = iovirt_pt_translate(io, 1, iova, IOVIRT_PROT_READ, &x)) != IOVIRT_ENOENT)
			fail("unmapped, yet iovirt_pt_translate finds it", k, r);
		atomic_fetch_add_explicit(&rounds[k], 1, memory_order_relaxed);
		park_point();
	}
	atomic_fetch_add(&finished, 1);
	return NULL;
}

/* The third writer, on page 2 of the same leaf table and on the next 2 MiB
 * of the same level-2 table: unmap through a gather, and map 2 MiB, split it
 * (to 4 KiB) and unmap it, beside the two writers. */
static void *gs_writer(void *arg)
{
	(void)arg;
	const unsigned k = NW;
	const uint64_t iova = BASE + ((uint64_t)k << 12), pa = pa_of(k);
	const uint64_t big = BASE + (UINT64_C(1) << 21), bpa = UINT64_C(0x80000000);
	struct iovirt_xlate x;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int r = iovirt_pt_map(io, 1, iova, pa, 4096, IOVIRT_PROT_READ);
		if (r) {
			fail("map", k, r);
			break;
		}
		if (hw_walk(k, iova + 9) != pa + 9)
			fail("mapped, yet the hardware tables do not translate it", k, 0);
		struct iovirt_pt_gather g;
		iovirt_pt_gather_init(&g, 1);
		int64_t u = iovirt_pt_unmap_gather(io, 1, iova, 4096, &g);
		if (u != 4096)
			fail("gathered unmap", k, (long)u);
		iovirt_pt_gather_flush(io, &g);
		if (hw_walk(k, iova) != VTD_WALK_FAULT)
			fail("unmapped by gather, yet the hardware tables translate it", k, 0);

		if ((r = iovirt_pt_map(io, 1, big, bpa, UINT64_C(1) << 21, IOVIRT_PROT_READ))) {
			fail("map 2M", k, r);
			break;
		}
		if ((r = iovirt_pt_translate(io, 1, big + 0x1234, IOVIRT_PROT_READ, &x)) || x.page_size != (UINT64_C(1) << 21))
			fail("mapped 2M, yet translate does not give a 2 MiB page", k, r);
		if ((r = iovirt_pt_split(io, 1, big + 0x5000)))
			fail("split", k, r);
		if (hw_walk(k, big + 0x5007) != bpa + 0x5007)
			fail("split, yet the hardware tables do not translate it", k, 0);
		if ((r = iovirt_pt_translate(io, 1, big + 0x5007, IOVIRT_PROT_READ, &x)) || x.pa != bpa + 0x5007 ||
		    x.page_size != 4096)
			fail("split, yet translate does not give the 4 KiB page", k, r);
		if ((u = iovirt_pt_unmap(io, 1, big, UINT64_C(1) << 21)) != (INT64_C(1) << 21))
			fail("unmap of the split page", k, (long)u);
		if (hw_walk(k, big + 0x5000) != VTD_WALK_FAULT)
			fail("unmapped, yet the hardware tables translate the split page", k, 0);
		atomic_fetch_add_explicit(&rounds[k], 1, memory_order_relaxed);
		park_point();
	}
	atomic_fetch_add(&finished, 1);
	return NULL;
}

/* Create, map, check, destroy one ASID of its own, in a loop (the header's
 * "create and destroy of different ASIDs may run at once", beside writers). */
static void *spacer(void *arg)
{
	const uint32_t asid = 100 + (uint32_t)(uintptr_t)arg;
	struct iovirt_xlate x;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int r = iovirt_pt_space_create(io, asid, NULL);
		if (r) {
			fail("space create", asid, r);
			break;
		}
		if ((r = iovirt_pt_map(io, asid, BASE, pa_of(asid), 4096, IOVIRT_PROT_READ)))
			fail("map in a new space", asid, r);
		if ((r = iovirt_pt_translate(io, asid, BASE + 1, IOVIRT_PROT_READ, &x)) || x.pa != pa_of(asid) + 1)
			fail("translate in a new space", asid, r);
		if ((r = iovirt_pt_space_destroy(io, asid)))
			fail("space destroy", asid, r);
		park_point();
	}
	atomic_fetch_add(&finished, 1);
	return NULL;
}

/* iovirt_pt_trim in a loop: kept tables unlinked under the writers that map
 * into them (allowed beside every call; in deferred mode a writer for the
 * grace period, so it parks for the reclaim). */
static void *trimmer(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		if (iovirt_pt_trim(io))
			atomic_fetch_add_explicit(&trims, 1, memory_order_relaxed);
		park_point();
	}
	atomic_fetch_add(&finished, 1);
	return NULL;
}

/* The dropper's pages: 4 KiB pages 0..3 of DROP at pa_of(8) + offset, or one 2 MiB page. */
static uint64_t drop_pa(uint64_t off)
{
	return pa_of(8) + off;
}

static void drop_check(uint64_t off, bool mapped, const char *what)
{
	const uint64_t pa = hw_walk(NW + 1, DROP + off + 0x18);
	if (mapped ? pa != drop_pa(off) + 0x18 : pa != VTD_WALK_FAULT)
		fail(what, NW + 1, (long)off);
}

/* Empties its leaf table (kept, within the bound), then releases it with an
 * unmap covering it whole or a 2 MiB map over it, beside the trimmer. */
static void *dropper(void *arg)
{
	(void)arg;
	unsigned long round = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int r;
		int64_t u;
		for (uint64_t i = 0; i < 4; i++) {
			if ((r = iovirt_pt_map(io, 1, DROP + (i << 12), drop_pa(i << 12), 4096, IOVIRT_PROT_READ))) {
				fail("dropper map", NW + 1, r);
				goto out;
			}
			drop_check(i << 12, true, "dropper: mapped, yet the hardware tables do not translate it");
		}
		for (uint64_t i = 0; i < 4; i++)
			if ((u = iovirt_pt_unmap(io, 1, DROP + (i << 12), 4096)) != 4096)
				fail("dropper unmap", NW + 1, (long)u);
		drop_check(0, false, "dropper: unmapped, yet the hardware tables translate it");
		const unsigned long way = round++ % 3;
		if (way == 1) {
			/* a 2 MiB page where the (kept or unlinked) leaf table was */
			if ((r = iovirt_pt_map(io, 1, DROP, drop_pa(0), UINT64_C(1) << 21, IOVIRT_PROT_READ))) {
				fail("dropper map 2M over its emptied table", NW + 1, r);
				goto out;
			}
			drop_check(0x3000, true, "dropper: 2M mapped, yet the hardware tables do not translate it");
			if ((u = iovirt_pt_unmap(io, 1, DROP, UINT64_C(1) << 21)) != (INT64_C(1) << 21))
				fail("dropper unmap 2M", NW + 1, (long)u);
		} else if ((u = iovirt_pt_unmap(io, 1, DROP, UINT64_C(1) << (way ? 30 : 21))) != 0) {
			fail("dropper: covering unmap of an emptied table found bytes", NW + 1, (long)u);
		}
		drop_check(0x3000, false, "dropper: dropped, yet the hardware tables translate it");
		atomic_fetch_add_explicit(&drops, 1, memory_order_relaxed);
		park_point();
	}
out:
	atomic_fetch_add(&finished, 1);
	return NULL;
}

static void *reader(void *arg)
{
	(void)arg;
	struct iovirt_xlate x;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (unsigned k = 0; k < NT; k++) {
			int r = iovirt_pt_translate(io, 1, BASE + ((uint64_t)k << 12) + 8, IOVIRT_PROT_READ, &x);
			if ((r == 0 && x.pa != pa_of(k) + 8) || (r && r != IOVIRT_ENOENT))
				fail("torn translation", k, r);
		}
		/* the dropper's pages, as 4 KiB or inside its 2 MiB page */
		for (uint64_t i = 0; i < 4; i++) {
			int r = iovirt_pt_translate(io, 1, DROP + (i << 12) + 8, IOVIRT_PROT_READ, &x);
			if ((r == 0 && x.pa != drop_pa(i << 12) + 8) || (r && r != IOVIRT_ENOENT))
				fail("torn translation of the dropper's page", NW + 1, r);
		}
		atomic_fetch_add_explicit(&checks, NT, memory_order_relaxed);
		park_point();
	}
	atomic_fetch_add(&finished, 1);
	return NULL;
}

static void nap(long us)
{
	struct timespec t = { 0, us * 1000 };
	nanosleep(&t, NULL);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static unsigned long total_rounds(void)
{
	unsigned long n = 0;
	for (unsigned k = 0; k < NT; k++)
		n += atomic_load(&rounds[k]);
	return n;
}

/* Waits for n parked threads; false when the run stops (a failure) or hangs. */
static bool wait_parked(int n, double *last)
{
	while (atomic_load(&parked) < n) {
		if (atomic_load(&stop))
			return false;
		if (now() - *last > HANG_SECONDS) {
			fprintf(stderr, "FAIL: threads do not reach the park point (hang)\n");
			return false;
		}
		nap(100);
	}
	return true;
}

static int run(uint32_t reclaim, double seconds)
{
	struct iovirt_posix *p = iovirt_posix_create();
	/* IOVIRT_STRESS_PT_FORMAT: the table format (enum iovirt_pt_format), VT-d by default */
	const char *fmt = getenv("IOVIRT_STRESS_PT_FORMAT");
	/* IOVIRT_STRESS_PT_CACHE: the table cache's size per kind ("off": none; the default 1,
	 * so that pages go round the cache and the host alike) */
	const char *cache = getenv("IOVIRT_STRESS_PT_CACHE");
	/* IOVIRT_STRESS_PT_KEEP: the kept-table bound ("off": none; the default 2, so that
	 * tables are kept and, beyond the bound, unlinked) */
	const char *keep = getenv("IOVIRT_STRESS_PT_KEEP");
	struct iovirt_iommu_params params = {
		.size = sizeof(params), .format = fmt ? (uint32_t)atoi(fmt) : 0, .reclaim = reclaim,
		.table_cache = !cache ? 1 : strcmp(cache, "off") == 0 ? IOVIRT_PT_TABLE_CACHE_OFF : (uint32_t)atoi(cache),
		.keep_tables = !keep ? 2 : strcmp(keep, "off") == 0 ? IOVIRT_PT_KEEP_OFF : (uint32_t)atoi(keep),
	};
	ops = *iovirt_posix_ops();
	posix_inval = ops.iotlb_inval;
	ops.iotlb_inval = wait_inval;
	posix_table_free = ops.table_free;
	ops.table_free = park_table_free;
	if (!p || iovirt_iommu_create(&ops, p, &params, &io) || iovirt_pt_space_create(io, 1, NULL) ||
	    iovirt_pt_root_info(io, 1, &root))
		return 2;
	deferred = reclaim == IOVIRT_RECLAIM_DEFERRED;
	const int nthreads = NT + NS + NK + (deferred ? NR : 0);
	pthread_t t[NT + NS + NK + NR];
	atomic_store(&stop, false);
	atomic_store(&park, false);
	atomic_store(&finished, 0);
	atomic_store(&checks, 0);
	printf("%s mode, %.1f s\n", deferred ? "deferred" : "after_inval", seconds);
	fflush(stdout);
	for (unsigned k = 0; k < NT; k++)
		atomic_store(&rounds[k], 0);
	for (uintptr_t i = 0; i < NW; i++)
		pthread_create(&t[i], NULL, writer, (void *)i);
	pthread_create(&t[NW], NULL, gs_writer, NULL);
	for (uintptr_t i = NT; i < NT + NS; i++)
		pthread_create(&t[i], NULL, spacer, (void *)i);
	pthread_create(&t[NT + NS], NULL, trimmer, NULL);
	pthread_create(&t[NT + NS + 1], NULL, dropper, NULL);
	for (uintptr_t i = NT + NS + NK; i < (uintptr_t)nthreads; i++)
		pthread_create(&t[i], NULL, reader, (void *)i);

	const double start = now();
	double last = start;
	unsigned long seen = 0, next_park = PARK_EVERY, parks = 0;
	size_t reclaimed = 0;
	bool hung = false;
	while (!atomic_load(&stop) && now() - start < seconds) {
		nap(1000);
		if (!deferred)
			reclaimed += iovirt_pt_reclaim(io); /* allowed beside writers in this mode */
		unsigned long n = total_rounds();
		if (n != seen) {
			seen = n;
			last = now();
		} else if (now() - last > HANG_SECONDS) {
			fprintf(stderr, "FAIL: no writer progress for %d s (a writer spins)\n", HANG_SECONDS);
			hung = true;
			break;
		}
		if (deferred && n >= next_park) {
			atomic_store(&park, true);
			if (!wait_parked(nthreads, &last)) {
				hung = !atomic_load(&stop);
				break;
			}
			atomic_store(&unpark_in_free, true);
			reclaimed += iovirt_pt_reclaim(io);
			atomic_store(&unpark_in_free, false);
			parks++;
			atomic_store(&park, false);
			next_park = n + PARK_EVERY;
		}
	}
	if (hung) {
		/* The spinning writer never returns: report and leave without joining. */
		fflush(stderr);
		_exit(1);
	}
	atomic_store(&stop, true);
	atomic_store(&park, false);
	for (const double t0 = now(); !hung && atomic_load(&finished) < nthreads; nap(1000))
		if (now() - t0 > HANG_SECONDS) {
			fprintf(stderr, "FAIL: a thread does not return after the stop (a writer spins)\n");
			hung = true;
		}
	if (hung) {
		fflush(stderr);
		_exit(1);
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);

	/* Quiescent: both pages unmapped, every table but the root released (the
	 * kept ones by the trim, retired in deferred mode until the reclaim). */
	iovirt_pt_trim(io);
	if (iovirt_pt_kept(io))
		fail("kept tables left after the trim", 0, (long)iovirt_pt_kept(io));
	reclaimed += iovirt_pt_reclaim(io);
	for (unsigned k = 0; k < NT; k++)
		if (hw_walk_raw(BASE + ((uint64_t)k << 12)) != VTD_WALK_FAULT)
			fail("left mapped in the hardware tables", k, 0);
	struct iovirt_pt_stats st;
	iovirt_pt_stats(io, &st);
	if (st.tables != 1 || st.retired != 0)
		fail("tables left beside the root", 0, (long)st.tables);
	iovirt_iommu_destroy(io);
	if (iovirt_posix_live_tables(p) || iovirt_posix_live_mem(p))
		fail("leak", 0, 0);
	iovirt_posix_destroy(p);
	printf("%s: %lu map/unmap rounds, %lu translations, %lu parks (%lu resumed inside the reclaim), "
	       "%zu tables reclaimed, %lu trims that released tables, %lu drops\n",
	       deferred ? "deferred" : "after_inval", total_rounds(), atomic_load(&checks), parks,
	       atomic_exchange(&beside, 0), reclaimed, atomic_exchange(&trims, 0), atomic_exchange(&drops, 0));
	summary[deferred ? 0 : 1] = total_rounds();
	return 0;
}

int main(int argc, char **argv)
{
	double seconds = 1;
	const char *env = getenv("IOVIRT_STRESS_SECONDS");
	if (argc > 1)
		seconds = atof(argv[1]);
	else if (env)
		seconds = atof(env);
	if (run(IOVIRT_RECLAIM_DEFERRED, seconds) || run(IOVIRT_RECLAIM_AFTER_INVAL, seconds))
		return 2;
	unsigned long e = atomic_load(&errors);
	printf("%lu rounds deferred, %lu rounds after_inval, %lu errors\n", summary[0], summary[1], e);
	return e ? 1 : 0;
}
