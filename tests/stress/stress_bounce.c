/* SPDX-License-Identifier: MIT */
/*
 * Stress for the bounce pool under ThreadSanitizer: threads take and give
 * back buffers of one small pool at once (the header's "lock-free" get and
 * put), write and check a stamp in each buffer they hold, and after every put
 * try the id again (a late put, a late data), which must be refused even when
 * another thread already holds the buffer again. Ends by taking every buffer
 * (none lost) and destroying the pool. Exits 0 when every check held; the
 * last line is a summary.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#define THREADS 3
#define NBUFS 5
#define ROUNDS 300000
#define HELD 2 /* buffers a thread holds at once */

static struct iovirt_bounce *pool;
static atomic_ulong errors, holds, late_refused, empty;

static void fail(const char *what)
{
	atomic_fetch_add(&errors, 1);
	fprintf(stderr, "stress_bounce: %s\n", what);
}

static void *worker(void *arg)
{
	uint64_t me = (uint64_t)(uintptr_t)arg;
	for (uint64_t r = 0; r < ROUNDS; r++) {
		int32_t id[HELD];
		uint64_t stamp = me << 48 | r;
		for (int k = 0; k < HELD; k++) {
			id[k] = iovirt_bounce_get(pool);
			if (id[k] == IOVIRT_ENOBUF) {
				atomic_fetch_add_explicit(&empty, 1, memory_order_relaxed);
				continue;
			}
			if (id[k] < 0) {
				fail("get: unexpected error");
				continue;
			}
			uint64_t *d = iovirt_bounce_data(pool, id[k]);
			if (!d) {
				fail("data: the holder's own id refused");
				id[k] = -1;
				continue;
			}
			d[0] = stamp + (uint64_t)k;
			atomic_fetch_add_explicit(&holds, 1, memory_order_relaxed);
		}
		for (int k = 0; k < HELD; k++) {
			if (id[k] < 0)
				continue;
			uint64_t *d = iovirt_bounce_data(pool, id[k]);
			/* no one else was handed the buffer while it was held here */
			if (!d || d[0] != stamp + (uint64_t)k)
				fail("a held buffer changed under its holder");
			if (iovirt_bounce_put(pool, id[k]))
				fail("put of a held id refused");
			/* the buffer may already be another thread's: a late call must not reach it */
			if (iovirt_bounce_put(pool, id[k]) != IOVIRT_ESTALE)
				fail("a second put of an id was not ESTALE");
			if (iovirt_bounce_data(pool, id[k]))
				fail("data of a put id");
			atomic_fetch_add_explicit(&late_refused, 1, memory_order_relaxed);
		}
	}
	return NULL;
}

int main(void)
{
	struct iovirt_posix *p = iovirt_posix_create();
	if (!p)
		return 1;
	struct iovirt_bounce_params bp = { sizeof(bp), NBUFS, 0, 64 };
	if (iovirt_bounce_create(iovirt_posix_ops(), p, &bp, &pool))
		return 1;
	pthread_t th[THREADS];
	for (uintptr_t i = 0; i < THREADS; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)(i + 1)))
			return 1;
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	/* every buffer came back, under ids unlike any other */
	int32_t got[NBUFS];
	for (int i = 0; i < NBUFS; i++) {
		got[i] = iovirt_bounce_get(pool);
		if (got[i] < 0)
			fail("a buffer was lost");
		for (int j = 0; j < i; j++)
			if (got[i] >= 0 && got[i] == got[j])
				fail("one id held twice");
	}
	if (iovirt_bounce_get(pool) != IOVIRT_ENOBUF)
		fail("more buffers than the pool has");
	for (int i = 0; i < NBUFS; i++)
		if (got[i] >= 0 && iovirt_bounce_put(pool, got[i]))
			fail("final put refused");
	if (iovirt_bounce_destroy(pool))
		fail("destroy refused");
	iovirt_posix_destroy(p);
	unsigned long e = atomic_load(&errors);
	printf("stress_bounce: %lu holds, %lu late ids refused, %lu empty gets, %lu errors\n",
	       atomic_load(&holds), atomic_load(&late_refused), atomic_load(&empty), e);
	return e ? 1 : 0;
}
