/* SPDX-License-Identifier: MIT */
/*
 * Stress for lib/validate under ThreadSanitizer: reader threads look up,
 * validate and hold regions while a writer adds, removes and shrinks them and
 * reclaims after each grace period (a small quiescent-state scheme: each
 * reader counts its passes through a point where it holds no snapshot).
 * Exits 0 when every check held; the last line is a summary.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iovirt/iovirt.h"
#include "iovirt/posix.h"
#include "../common/rand.h"

#define READERS 3
#define SLOTS 32 /* slot s: region at BASE + s * 16 KiB, 1 .. 4 pages */
#define BASE 0x40000000ull
#define SLOT_BYTES 0x4000ull
#define GUEST 3u

static struct iovirt_gmap *map;
static uint8_t *mem; /* SLOTS * 16 KiB, backs every region (hva = mem + gpa - BASE) */
static atomic_bool stop;
static atomic_ulong qs[READERS];
static atomic_ulong errors, validations, holds, busy;

static void fail(const char *what)
{
	atomic_fetch_add(&errors, 1);
	fprintf(stderr, "stress_validate: %s\n", what);
}

static void *reader(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint64_t seed = 0x1234567 + id;
	struct iovirt_host_seg out[8];
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t s = tr_rand(&seed) % SLOTS;
		uint64_t gpa = BASE + s * SLOT_BYTES;
		struct iovirt_seg segs[2] = { { gpa + 100, 3000, IOVIRT_DEV_READ, 0 },
					      { gpa + 4096, 100, IOVIRT_DEV_WRITE, 0 } };
		struct iovirt_dma_result res;
		int n = iovirt_sg_validate(map, NULL, segs, 2, out, 8, &res);
		if (n > 0) {
			/* each entry maps exactly where the writer's regions always map */
			for (int i = 0; i < n; i++)
				if ((uint8_t *)out[i].hva != mem + (out[i].gpa - BASE) ||
				    out[i].hpa != out[i].gpa + 0x100000000ull)
					fail("entry with wrong host address");
			atomic_fetch_add_explicit(&validations, 1, memory_order_relaxed);
		} else if (n != IOVIRT_ENOREGION) {
			fail("unexpected refusal");
		}
		struct iovirt_gmap_region *h;
		int e = iovirt_gmap_region_get(map, gpa, &h);
		if (!e) {
			struct iovirt_region info;
			iovirt_gmap_region_info(h, &info);
			if (info.gpa != gpa || info.length == 0 || info.length > 4 * 4096 ||
			    info.hva != mem + (gpa - BASE))
				fail("held region inconsistent");
			/* while held, it stays in the map with the same length */
			struct iovirt_region now;
			if (iovirt_gmap_lookup(map, gpa, &now) || now.length != info.length)
				fail("held region changed");
			iovirt_gmap_region_put(map, h);
			atomic_fetch_add_explicit(&holds, 1, memory_order_relaxed);
		} else if (e != IOVIRT_ENOREGION && e != IOVIRT_EBUSY) {
			fail("unexpected get error");
		}
		/* quiescent: this reader uses no snapshot now */
		atomic_fetch_add_explicit(&qs[id], 1, memory_order_release);
	}
	return NULL;
}

static void grace_period(void)
{
	unsigned long seen[READERS];
	for (int i = 0; i < READERS; i++)
		seen[i] = atomic_load_explicit(&qs[i], memory_order_acquire);
	for (int i = 0; i < READERS; i++)
		while (atomic_load_explicit(&qs[i], memory_order_acquire) == seen[i])
			sched_yield();
}

int main(int argc, char **argv)
{
	long ops = argc > 1 ? atol(argv[1]) : 20000;
	struct iovirt_posix *p = iovirt_posix_create();
	mem = aligned_alloc(4096, SLOTS * SLOT_BYTES);
	if (!p || !mem)
		return 2;
	struct iovirt_gmap_params gp = { sizeof(gp), GUEST, 0 };
	if (iovirt_gmap_create(iovirt_posix_ops(), p, &gp, &map))
		return 2;
	pthread_t th[READERS];
	for (uintptr_t i = 0; i < READERS; i++)
		pthread_create(&th[i], NULL, reader, (void *)i);
	uint64_t seed = 77;
	size_t reclaimed = 0;
	for (long i = 0; i < ops; i++) {
		uint64_t s = tr_rand(&seed) % SLOTS;
		uint64_t gpa = BASE + s * SLOT_BYTES;
		struct iovirt_region r = { .size = sizeof(r), .gpa = gpa,
					   .length = (1 + tr_rand(&seed) % 4) * 4096,
					   .kind = IOVIRT_REGION_RAM,
					   .access = IOVIRT_DEV_READ | IOVIRT_DEV_WRITE,
					   .owner = GUEST, .flags = IOVIRT_REGION_HPA,
					   .hva = mem + (gpa - BASE), .hpa = gpa + 0x100000000ull };
		int e = iovirt_gmap_add(map, &r);
		if (e == IOVIRT_EOVERLAP) {
			struct iovirt_region cur;
			if (iovirt_gmap_lookup(map, gpa, &cur))
				fail("overlap without region");
			else if (cur.length > 4096 && tr_rand(&seed) % 2)
				e = iovirt_gmap_shrink(map, gpa, cur.length - 4096);
			else
				e = iovirt_gmap_remove(map, gpa);
			if (e == IOVIRT_EBUSY)
				atomic_fetch_add(&busy, 1);
			else if (e)
				fail("remove/shrink failed");
		} else if (e) {
			fail("add failed");
		}
		if (i % 64 == 63) {
			grace_period();
			reclaimed += iovirt_gmap_reclaim(map);
		}
	}
	atomic_store(&stop, true);
	for (int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	reclaimed += iovirt_gmap_reclaim(map);
	if (iovirt_gmap_destroy(map))
		fail("destroy");
	if (iovirt_posix_live_mem(p) != 0)
		fail("memory leaked");
	iovirt_posix_destroy(p);
	free(mem);
	unsigned long errs = atomic_load(&errors);
	printf("stress_validate: %ld writer ops, %lu validations, %lu holds, %lu busy, %zu reclaimed, %lu errors: %s\n",
	       ops, atomic_load(&validations), atomic_load(&holds), atomic_load(&busy), reclaimed,
	       errs, errs ? "FAIL" : "ok");
	return errs ? 1 : 0;
}
