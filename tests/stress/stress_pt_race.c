/* SPDX-License-Identifier: MIT */
/*
 * The install/kill race of an emptied table, made common: two writers loop
 * map/unmap of neighbouring 4 KiB pages of ONE leaf table (0x18000000000 and
 * 0x18000001000), so that the table (and the tables above it) empties and
 * refills all the time. After every map each writer checks its page through
 * the raw hardware tables (a walk from iovirt_pt_root through the entries
 * alone) and through iovirt_pt_translate; after every unmap both must say
 * unmapped.
 *  - deferred reclaim: readers translate exactly those two pages beside the
 *    writers; every few thousand rounds everyone parks and the main thread
 *    calls iovirt_pt_reclaim (the header's "translate beside anything").
 *  - AFTER_INVAL: the two writers alone (the header's "disjoint writers at
 *    once" in that mode), with table pages freed as the writers go; a writer
 *    reading a freed page is AddressSanitizer's to see. The test's hardware
 *    walker is protected as a real IOMMU's is: the host's iotlb_inval waits
 *    for walks in flight (an invalidation-wait), so only the library's own
 *    reads of freed memory can show. The writer's translate runs only right
 *    after its own map (the mapped page keeps its whole path alive).
 * A writer that makes no progress for HANG_SECONDS is reported as a hang.
 * Usage: stress_pt_race [seconds per mode] (default 1; IOVIRT_STRESS_SECONDS too).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sched.h>
#include <unistd.h>

#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#define NW 2
#define NR 1
#define BASE UINT64_C(0x18000000000)
#define PARK_EVERY 2048 /* rounds between two parks (deferred mode) */
#define HANG_SECONDS 20

static struct iovirt_iommu *io;
static bool deferred;
static uint64_t root_pa;
static unsigned root_levels;
static atomic_bool stop, park;
static atomic_int parked, finished;
static atomic_ulong rounds[NW], checks, errors;

/* Per writer: odd while its hardware walk is in flight. */
static _Atomic unsigned long walking[NW];
static struct iovirt_host_ops ops;
static void (*posix_inval)(void *, const struct iovirt_inval *);

/* The IOMMU's invalidation-wait: returns once every hardware walk that may
 * have read an entry cleared before this call has finished. */
static void wait_inval(void *host, const struct iovirt_inval *inv)
{
	posix_inval(host, inv);
	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned k = 0; k < NW; k++) {
		unsigned long g = atomic_load(&walking[k]);
		while ((g & 1) && atomic_load(&walking[k]) == g)
			sched_yield();
	}
}

static uint64_t hw_walk_raw(uint64_t iova)
{
	uint64_t table = root_pa;
	for (unsigned l = root_levels; l >= 1; l--) {
		const unsigned shift = 12 + 9 * (l - 1);
		const uint64_t *page = (const uint64_t *)(uintptr_t)(table - IOVIRT_POSIX_PA_OFFSET);
		const uint64_t e = __atomic_load_n(&page[(iova >> shift) & 511], __ATOMIC_ACQUIRE);
		if (!(e & 3))
			return ~UINT64_C(0);
		const uint64_t addr = e & IOVIRT_VTD_SL_ADDR_MASK;
		if (l == 1 || (e & IOVIRT_VTD_SL_PS))
			return (addr & ~((UINT64_C(1) << shift) - 1)) | (iova & ((UINT64_C(1) << shift) - 1));
		table = addr;
	}
	return ~UINT64_C(0);
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
		if (hw_walk(k, iova) != ~UINT64_C(0))
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

static void *reader(void *arg)
{
	(void)arg;
	struct iovirt_xlate x;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (unsigned k = 0; k < NW; k++) {
			int r = iovirt_pt_translate(io, 1, BASE + ((uint64_t)k << 12) + 8, IOVIRT_PROT_READ, &x);
			if ((r == 0 && x.pa != pa_of(k) + 8) || (r && r != IOVIRT_ENOENT))
				fail("torn translation", k, r);
		}
		atomic_fetch_add_explicit(&checks, NW, memory_order_relaxed);
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
	for (unsigned k = 0; k < NW; k++)
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
	struct iovirt_iommu_params params = { .size = sizeof(params), .reclaim = reclaim };
	ops = *iovirt_posix_ops();
	posix_inval = ops.iotlb_inval;
	ops.iotlb_inval = wait_inval;
	if (!p || iovirt_iommu_create(&ops, p, &params, &io) || iovirt_pt_space_create(io, 1, NULL) ||
	    iovirt_pt_root(io, 1, &root_pa, &root_levels))
		return 2;
	deferred = reclaim == IOVIRT_RECLAIM_DEFERRED;
	const int nthreads = NW + (deferred ? NR : 0);
	pthread_t t[NW + NR];
	atomic_store(&stop, false);
	atomic_store(&park, false);
	atomic_store(&finished, 0);
	atomic_store(&checks, 0);
	printf("%s mode, %.1f s\n", deferred ? "deferred" : "after_inval", seconds);
	fflush(stdout);
	for (unsigned k = 0; k < NW; k++)
		atomic_store(&rounds[k], 0);
	for (uintptr_t i = 0; i < NW; i++)
		pthread_create(&t[i], NULL, writer, (void *)i);
	for (uintptr_t i = NW; i < (uintptr_t)nthreads; i++)
		pthread_create(&t[i], NULL, reader, (void *)i);

	const double start = now();
	double last = start;
	unsigned long seen = 0, next_park = PARK_EVERY, parks = 0;
	size_t reclaimed = 0;
	bool hung = false;
	while (!atomic_load(&stop) && now() - start < seconds) {
		nap(1000);
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
			reclaimed += iovirt_pt_reclaim(io);
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

	/* Quiescent: both pages unmapped, every table but the root released. */
	reclaimed += iovirt_pt_reclaim(io);
	for (unsigned k = 0; k < NW; k++)
		if (hw_walk_raw(BASE + ((uint64_t)k << 12)) != ~UINT64_C(0))
			fail("left mapped in the hardware tables", k, 0);
	struct iovirt_pt_stats st;
	iovirt_pt_stats(io, &st);
	if (st.tables != 1 || st.retired != 0)
		fail("tables left beside the root", 0, (long)st.tables);
	iovirt_iommu_destroy(io);
	if (iovirt_posix_live_tables(p) || iovirt_posix_live_mem(p))
		fail("leak", 0, 0);
	iovirt_posix_destroy(p);
	printf("%s: %lu map/unmap rounds, %lu translations, %lu parks, %zu tables reclaimed\n",
	       deferred ? "deferred" : "after_inval", total_rounds(), atomic_load(&checks), parks, reclaimed);
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
	printf("%lu errors\n", e);
	return e ? 1 : 0;
}
