/* SPDX-License-Identifier: MIT */
/*
 * iovirt_gpt_translate beside a guest that rewrites its tables: one thread
 * (the guest's vCPU) keeps switching a VT-d level-2 entry between two level-1
 * tables and each table's leaf between two pages, with single 8-byte stores
 * (as a guest's driver writes entries); READERS threads translate the iova
 * all the while. Every result must be one of the four translations some
 * consistent reading of the entries gives, never a fault, a torn entry or a
 * page no entry ever named: each level's entry is read once and the walk
 * decides from that copy. Meanwhile another thread keeps adding and removing
 * an MMIO region beside the tables in the guest's map (the walk's placement
 * checks read the map lock-free, as the header says they may). Runs under
 * ThreadSanitizer and AddressSanitizer.
 * Exits 0 when every check held.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iovirt/posix.h"
#include "iovirt/viommu.h"

#define READERS 2
#define GUEST 6u
#define BYTES (UINT64_C(64) << 10)
#define IOVA UINT64_C(0x40201000) /* level-4 index 0, level-3 1, level-2 1, level-1 1 */

static struct iovirt_posix *host;
static struct iovirt_gmap *map;
static uint8_t *mem;
static uint64_t base;
static struct iovirt_gpt_ctx ctx;
static atomic_bool stop;
static atomic_ulong errors, walks;
static const uint64_t pages[4] = { 0x100000, 0x200000, 0x300000, 0x400000 };

static uint64_t *entry(uint64_t table_off, unsigned idx)
{
	return (uint64_t *)(void *)(mem + table_off + 8 * idx);
}

static void put(uint64_t *e, uint64_t v)
{
	__atomic_store_n(e, v, __ATOMIC_RELEASE);
}

static void *reader(void *arg)
{
	(void)arg;
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	while (!atomic_load(&stop)) {
		struct iovirt_gpt_result r;
		int err = iovirt_gpt_translate(&ctx, map, ops, host, IOVA + 0x18, IOVIRT_PROT_WRITE, &r);
		bool known = false;
		for (int i = 0; i < 4; i++)
			known |= r.gpa == pages[i] + 0x18;
		if (err || !known) {
			fprintf(stderr, "translate: %d fault %u gpa %#llx\n", err, r.fault, (unsigned long long)r.gpa);
			atomic_fetch_add(&errors, 1);
		}
		atomic_fetch_add(&walks, 1);
	}
	return NULL;
}

/* Adds and removes an MMIO region just above the tables' RAM until stopped. */
static void *map_writer(void *arg)
{
	(void)arg;
	const struct iovirt_region mmio = { .size = sizeof(mmio), .gpa = base + BYTES, .length = 4096,
					    .kind = IOVIRT_REGION_MMIO, .access = IOVIRT_DEV_READ, .owner = GUEST };
	while (!atomic_load(&stop)) {
		if (iovirt_gmap_add(map, &mmio) || iovirt_gmap_remove(map, base + BYTES))
			atomic_fetch_add(&errors, 1);
	}
	return NULL;
}

int main(void)
{
	host = iovirt_posix_create();
	mem = aligned_alloc(BYTES, BYTES);
	if (!host || !mem)
		return 2;
	memset(mem, 0, BYTES);
	base = (uint64_t)(uintptr_t)mem + IOVIRT_POSIX_PA_OFFSET;
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	struct iovirt_gmap_params gp = { sizeof(gp), GUEST, 0 };
	struct iovirt_region ram = { .size = sizeof(ram), .gpa = base, .length = BYTES, .kind = IOVIRT_REGION_RAM,
				     .access = IOVIRT_DEV_READ, .owner = GUEST, .flags = IOVIRT_REGION_HPA,
				     .hva = mem, .hpa = UINT64_C(1) << 40 };
	if (iovirt_posix_guest_add(host, GUEST, base, mem, BYTES) || iovirt_gmap_create(ops, host, &gp, &map) ||
	    iovirt_gmap_add(map, &ram))
		return 2;
	/* root 0x0, level 3 at 0x1000, level 2 at 0x2000, level-1 tables A 0x3000, B 0x4000 */
	ctx = (struct iovirt_gpt_ctx){ .size = sizeof(ctx), .format = IOVIRT_PT_FMT_VTD_SL, .levels = 4, .root = base };
	put(entry(0, 0), (base + 0x1000) | 3);
	put(entry(0x1000, 1), (base + 0x2000) | 3);
	put(entry(0x2000, 1), (base + 0x3000) | 3);
	put(entry(0x3000, 1), pages[0] | 3);
	put(entry(0x4000, 1), pages[2] | 3);
	pthread_t t[READERS], w;
	for (int i = 0; i < READERS; i++)
		if (pthread_create(&t[i], NULL, reader, NULL))
			return 2;
	if (pthread_create(&w, NULL, map_writer, NULL))
		return 2;
	for (unsigned long n = 0; n < 200000; n++) {
		put(entry(0x2000, 1), (base + ((n & 1) ? 0x4000 : 0x3000)) | 3);
		put(entry(0x3000, 1), pages[(n >> 1) & 1] | 3);
		put(entry(0x4000, 1), pages[2 + ((n >> 2) & 1)] | 3);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < READERS; i++)
		pthread_join(t[i], NULL);
	pthread_join(w, NULL);
	printf("stress_gpt: %lu walks beside 600000 entry rewrites, %lu errors\n", atomic_load(&walks),
	       atomic_load(&errors));
	if (iovirt_gmap_destroy(map))
		return 1;
	iovirt_posix_destroy(host);
	free(mem);
	return atomic_load(&errors) ? 1 : 0;
}
