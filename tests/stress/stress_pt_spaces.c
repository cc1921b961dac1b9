/* SPDX-License-Identifier: MIT */
/*
 * The page-table header's "create and destroy of different ASIDs may run at
 * once" and "writers ... in one space or in several", run as written:
 * THREADS threads each create an address space, map into it, check it,
 * unmap and destroy it, over and over, with ASIDs chosen so that the threads
 * also race to make the directory chunks (ASID >> 10) they share; a reader
 * translates a space that lives for the whole run (beside every writer, as
 * the header allows). Both reclaim modes: deferred (the main thread reclaims
 * between rounds, when every thread is parked) and after-invalidation.
 * And "iovirt_pt_trim: safe beside every call; a iovirt_pt_space_destroy
 * beside it waits until it has left that space": a trimmer loops trim through
 * every round, while half the space lives empty their leaf table first (a
 * kept table, which the trim or the destroy must take).
 * Runs under ThreadSanitizer and AddressSanitizer. Exits 0 when every check held.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "iovirt/error.h"
#include "iovirt/pagetable.h"
#include "iovirt/posix.h"

#define THREADS 2
#define PAGES 16
#define STABLE_ASID 5u
#define STABLE_IOVA 0x7f0000000ull

static struct iovirt_iommu *io;
static atomic_bool stop;
static atomic_ulong errors, cycles, reads, trims, done_in_round;
static pthread_barrier_t round_start, round_end;
static long rounds = 60, per_round = 40;

static void fail(const char *what, uint32_t asid, int r)
{
	fprintf(stderr, "stress_pt_spaces: %s (asid %u): %s\n", what, asid, iovirt_err_name(r));
	atomic_fetch_add(&errors, 1);
}

static uint64_t pa_of(uint32_t asid, uint64_t iova)
{
	return ((uint64_t)asid << 24) + iova;
}

/* One life of a space: create, map, check, unmap, destroy. */
static void cycle(uint32_t asid)
{
	struct iovirt_space_params sp = { .size = sizeof(sp), .width = 39 };
	int r = iovirt_pt_space_create(io, asid, &sp);
	if (r) {
		fail("create", asid, r);
		return;
	}
	for (uint64_t i = 0; i < PAGES; i++)
		if ((r = iovirt_pt_map(io, asid, i << 12, pa_of(asid, i << 12), 4096, IOVIRT_PROT_READ)))
			fail("map", asid, r);
	struct iovirt_xlate x;
	for (uint64_t i = 0; i < PAGES; i++)
		if ((r = iovirt_pt_translate(io, asid, (i << 12) + 8, IOVIRT_PROT_READ, &x)) ||
		    x.pa != pa_of(asid, i << 12) + 8)
			fail("translate after map", asid, r);
	if (iovirt_pt_unmap(io, asid, 0, PAGES / 2 * 4096) != PAGES / 2 * 4096)
		fail("unmap", asid, 0);
	/* every other life empties its leaf table: kept, for a trim or the destroy */
	if ((asid & 2) && iovirt_pt_unmap(io, asid, PAGES / 2 * 4096, PAGES / 2 * 4096) != PAGES / 2 * 4096)
		fail("unmap the rest", asid, 0);
	if ((r = iovirt_pt_space_destroy(io, asid)))
		fail("destroy", asid, r);
	if (iovirt_pt_translate(io, asid, 0, IOVIRT_PROT_READ, &x) != IOVIRT_ENOASID)
		fail("translate after destroy", asid, 0);
	atomic_fetch_add_explicit(&cycles, 1, memory_order_relaxed);
}

static void *worker(void *arg)
{
	const unsigned t = (unsigned)(uintptr_t)arg;
	for (long round = 0; round < rounds; round++) {
		pthread_barrier_wait(&round_start);
		for (long i = 0; i < per_round; i++) {
			/* Thread t's ASIDs: neighbours of the other threads' in one chunk,
			 * and, every round, a chunk nobody has made yet. */
			cycle((uint32_t)(64 + 2 * (i % 8) + t));
			cycle((uint32_t)(((round * per_round + i) % 1000 + 1) << 10 | t | (i & 1) << 1));
		}
		atomic_fetch_add(&done_in_round, 1);
		pthread_barrier_wait(&round_end);
	}
	return NULL;
}

/* Trims through each round until the workers are done (in deferred mode a
 * trim counts as a writer, so it too parks before the main thread reclaims). */
static void *trimmer(void *arg)
{
	(void)arg;
	for (long round = 0; round < rounds; round++) {
		pthread_barrier_wait(&round_start);
		while (atomic_load(&done_in_round) < THREADS) {
			iovirt_pt_trim(io);
			atomic_fetch_add_explicit(&trims, 1, memory_order_relaxed);
		}
		pthread_barrier_wait(&round_end);
	}
	return NULL;
}

static void *reader(void *arg)
{
	(void)arg;
	struct iovirt_xlate x;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int r = iovirt_pt_translate(io, STABLE_ASID, STABLE_IOVA + 123, IOVIRT_PROT_READ, &x);
		if (r || x.pa != 0x42000000ull + 123)
			fail("stable translation", STABLE_ASID, r);
		atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
	}
	return NULL;
}

static int run(uint32_t mode)
{
	struct iovirt_posix *p = iovirt_posix_create();
	struct iovirt_iommu_params ip = { .size = sizeof(ip), .reclaim = mode };
	if (!p || iovirt_iommu_create(iovirt_posix_ops(), p, &ip, &io) ||
	    iovirt_pt_space_create(io, STABLE_ASID, NULL) ||
	    iovirt_pt_map(io, STABLE_ASID, STABLE_IOVA, 0x42000000ull, 4096, IOVIRT_PROT_READ))
		return 2;
	atomic_store(&stop, false);
	pthread_barrier_init(&round_start, NULL, THREADS + 2);
	pthread_barrier_init(&round_end, NULL, THREADS + 2);
	pthread_t w[THREADS], r, tr;
	atomic_store(&done_in_round, 0);
	pthread_create(&r, NULL, reader, NULL);
	pthread_create(&tr, NULL, trimmer, NULL);
	for (uintptr_t i = 0; i < THREADS; i++)
		pthread_create(&w[i], NULL, worker, (void *)i);
	for (long round = 0; round < rounds; round++) {
		pthread_barrier_wait(&round_start);
		pthread_barrier_wait(&round_end);
		atomic_store(&done_in_round, 0); /* the trimmer reads it after round_start */
		/* The reader only walks the stable space, whose tables never go:
		 * with the writers parked, nothing retired can still be in use. */
		if (mode == IOVIRT_RECLAIM_DEFERRED)
			iovirt_pt_reclaim(io);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(w[i], NULL);
	pthread_join(tr, NULL);
	atomic_store(&stop, true);
	pthread_join(r, NULL);
	pthread_barrier_destroy(&round_start);
	pthread_barrier_destroy(&round_end);
	iovirt_iommu_destroy(io);
	if (iovirt_posix_live_mem(p) || iovirt_posix_live_tables(p))
		fail("memory or tables leaked", 0, 0);
	iovirt_posix_destroy(p);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		rounds = atol(argv[1]);
	if (run(IOVIRT_RECLAIM_DEFERRED) || run(IOVIRT_RECLAIM_AFTER_INVAL))
		return 2;
	unsigned long errs = atomic_load(&errors);
	printf("stress_pt_spaces: %lu space lives, %lu stable reads, %lu trims, %lu errors: %s\n",
	       atomic_load(&cycles), atomic_load(&reads), atomic_load(&trims), errs, errs ? "FAIL" : "ok");
	return errs ? 1 : 0;
}
