/* SPDX-License-Identifier: MIT */
/*
 * The gmap header's "writers (add, remove, shrink) may also run at once: each
 * publishes its snapshot with a compare-and-swap and retries on a lost race,
 * so no change is ever lost or torn", run as written: WRITERS threads change
 * disjoint regions of one map at the same time (each owns every WRITERS-th
 * slot and keeps its own model of them), while readers validate and hold
 * regions. After every change its writer looks its slots up again and
 * compares them with its model: a change lost to another writer's CAS, or a
 * snapshot mixing two writers' states, shows there. Rounds end at a barrier
 * where the main thread waits out the readers' grace period and reclaims.
 * Runs under ThreadSanitizer and AddressSanitizer (a snapshot freed too early
 * is ASan's to see). Exits 0 when every check held.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "iovirt/posix.h"
#include "iovirt/validate.h"
#include "../common/rand.h"

#define WRITERS 2
#define READERS 1
#define SLOTS 32 /* slot s: region at BASE + s * 16 KiB, 1 .. 4 pages; owned by writer s % WRITERS */
#define BASE 0x40000000ull
#define SLOT_BYTES 0x4000ull
#define GUEST 3u

static struct iovirt_gmap *map;
static uint8_t *mem;
static atomic_bool stop;
static atomic_ulong qs[READERS];
static atomic_ulong errors, changes, validations;
static pthread_barrier_t round_start, round_end;
static long rounds = 200, per_round = 100;

static void fail(const char *what, uint64_t gpa)
{
	atomic_fetch_add(&errors, 1);
	fprintf(stderr, "stress_gmap_writers: %s at %#llx\n", what, (unsigned long long)gpa);
}

static struct iovirt_region region(uint64_t gpa, uint64_t len)
{
	return (struct iovirt_region){ .size = sizeof(struct iovirt_region), .gpa = gpa, .length = len,
				       .kind = IOVIRT_REGION_RAM,
				       .access = IOVIRT_DEV_READ | IOVIRT_DEV_WRITE, .owner = GUEST,
				       .flags = IOVIRT_REGION_HPA, .hva = mem + (gpa - BASE),
				       .hpa = gpa + 0x100000000ull };
}

/* Every slot this writer owns is in the map exactly as its model says. */
static void check_slots(unsigned id, const uint64_t *len)
{
	for (unsigned s = id; s < SLOTS; s += WRITERS) {
		uint64_t gpa = BASE + s * SLOT_BYTES;
		struct iovirt_region r;
		int e = iovirt_gmap_lookup(map, gpa, &r);
		if (len[s] == 0 ? e != IOVIRT_ENOREGION : (e || r.gpa != gpa || r.length != len[s]))
			fail("slot differs from its writer's model (a lost or torn change)", gpa);
	}
}

static void *writer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint64_t seed = 0x9e3779b9u * (id + 1);
	uint64_t len[SLOTS] = { 0 };
	for (long round = 0; round < rounds; round++) {
		pthread_barrier_wait(&round_start);
		for (long i = 0; i < per_round; i++) {
			unsigned s = id + WRITERS * (unsigned)(tr_rand(&seed) % (SLOTS / WRITERS));
			uint64_t gpa = BASE + s * SLOT_BYTES;
			int e;
			if (len[s] == 0) {
				uint64_t n = (1 + tr_rand(&seed) % 4) * 4096;
				struct iovirt_region r = region(gpa, n);
				if (!(e = iovirt_gmap_add(map, &r)))
					len[s] = n;
			} else if (len[s] > 4096 && tr_rand(&seed) % 2) {
				if (!(e = iovirt_gmap_shrink(map, gpa, len[s] - 4096)))
					len[s] -= 4096;
			} else if (!(e = iovirt_gmap_remove(map, gpa))) {
				len[s] = 0;
			}
			/* EBUSY: a reader holds it; nothing changed, the model stays */
			if (e && e != IOVIRT_EBUSY)
				fail("writer refused", gpa);
			atomic_fetch_add_explicit(&changes, 1, memory_order_relaxed);
			check_slots(id, len);
		}
		pthread_barrier_wait(&round_end);
	}
	return NULL;
}

static void *reader(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint64_t seed = 0x1234567 + id;
	struct iovirt_host_seg out[8];
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t gpa = BASE + (tr_rand(&seed) % SLOTS) * SLOT_BYTES;
		struct iovirt_seg seg = { gpa + 100, 3000, IOVIRT_DEV_READ, 0 };
		int n = iovirt_sg_validate(map, NULL, &seg, 1, out, 8, NULL);
		if (n > 0) {
			if ((uint8_t *)out[0].hva != mem + (out[0].gpa - BASE))
				fail("entry with a wrong host address", gpa);
			atomic_fetch_add_explicit(&validations, 1, memory_order_relaxed);
		} else if (n != IOVIRT_ENOREGION) {
			fail("unexpected refusal", gpa);
		}
		struct iovirt_gmap_region *h;
		if (!iovirt_gmap_region_get(map, gpa, &h))
			iovirt_gmap_region_put(map, h);
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
	if (argc > 1)
		rounds = atol(argv[1]);
	struct iovirt_posix *p = iovirt_posix_create();
	mem = aligned_alloc(4096, SLOTS * SLOT_BYTES);
	struct iovirt_gmap_params gp = { sizeof(gp), GUEST, 0 };
	if (!p || !mem || iovirt_gmap_create(iovirt_posix_ops(), p, &gp, &map))
		return 2;
	pthread_barrier_init(&round_start, NULL, WRITERS + 1);
	pthread_barrier_init(&round_end, NULL, WRITERS + 1);
	pthread_t w[WRITERS], r[READERS];
	for (uintptr_t i = 0; i < READERS; i++)
		pthread_create(&r[i], NULL, reader, (void *)i);
	for (uintptr_t i = 0; i < WRITERS; i++)
		pthread_create(&w[i], NULL, writer, (void *)i);
	size_t reclaimed = 0;
	for (long round = 0; round < rounds; round++) {
		pthread_barrier_wait(&round_start);
		pthread_barrier_wait(&round_end);
		/* writers are parked: only the readers' grace period is left to wait for */
		grace_period();
		reclaimed += iovirt_gmap_reclaim(map);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(w[i], NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < READERS; i++)
		pthread_join(r[i], NULL);
	reclaimed += iovirt_gmap_reclaim(map);
	if (iovirt_gmap_destroy(map))
		fail("destroy", 0);
	if (iovirt_posix_live_mem(p) != 0)
		fail("memory leaked", 0);
	iovirt_posix_destroy(p);
	free(mem);
	unsigned long errs = atomic_load(&errors);
	printf("stress_gmap_writers: %d writers, %lu changes, %lu validations, %zu reclaimed, %lu errors: %s\n",
	       WRITERS, atomic_load(&changes), atomic_load(&validations), reclaimed, errs,
	       errs ? "FAIL" : "ok");
	return errs ? 1 : 0;
}
