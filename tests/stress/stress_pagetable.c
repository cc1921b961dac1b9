/* SPDX-License-Identifier: MIT */
/*
 * Page tables under concurrency, for ThreadSanitizer: writers map and unmap
 * interleaved (disjoint but table-sharing) pages, so that tables are created
 * and released under each other's feet; a splitter breaks 1 GiB pages down
 * while readers translate them; readers check every translation is old or
 * new, never torn, and a page that is always mapped never shows a hole.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#include "../common/hw_walk.h"

#define NW 2          /* writers */
#define NR 2          /* readers */
#define WINDOW_PAGES 2048 /* 8 MiB shared by the writers, page p owned by writer p % NW */
#define ROUNDS 600
#define STABLE (UINT64_C(64) << 30) /* 1 GiB pages mapped for the whole run */
#define NSTABLE 2

static struct iovirt_iommu *io;
static atomic_int writers_left;
static atomic_ulong checks, errors;
static _Atomic uint64_t hot = STABLE; /* the page being split now: readers aim there */

static struct iovirt_pt_root_info root = { .size = sizeof(root) };

/* What the hardware sees: a walk through the table entries alone (no child
 * pointers), reaching table pages by their fake physical addresses. */
static uint64_t hw_walk(uint64_t iova)
{
	return hw_walk_info(&root, iova, NULL);
}

static uint64_t pa_of(uint64_t iova)
{
	return (iova ^ (UINT64_C(0x5a5a) << 30)) & ((UINT64_C(1) << 46) - 1);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void fail(const char *what, uint64_t iova, int r)
{
	fprintf(stderr, "FAIL %s at 0x%llx: %s\n", what, (unsigned long long)iova, iovirt_err_name(r));
	atomic_fetch_add(&errors, 1);
}

static void *writer(void *arg)
{
	const unsigned k = (unsigned)(uintptr_t)arg;
	uint64_t s = 0x1234 + k;
	for (int round = 0; round < ROUNDS; round++) {
		/* Map all my pages in runs, then unmap them all: tables come and go. */
		for (uint64_t p = k; p < WINDOW_PAGES; p += NW) {
			uint64_t iova = p << 12;
			int r = iovirt_pt_map(io, 1, iova, pa_of(iova), 4096, IOVIRT_PROT_READ);
			if (r)
				fail("map", iova, r);
		}
		for (uint64_t p = k; p < WINDOW_PAGES; p += NW) {
			uint64_t iova = p << 12;
			int64_t r = iovirt_pt_unmap(io, 1, iova, 4096);
			if (r != 4096)
				fail("unmap", iova, (int)r);
		}
		/* Far ranges of its own, 2 MiB pages in tables that the writers create and
		 * unlink under each other's feet; once map returns, the hardware must see it. */
		for (int rep = 0; rep < 4; rep++) {
			uint64_t far = (UINT64_C(1) << 40) + ((uint64_t)k << 32) + ((rnd(&s) % 64) << 21);
			uint64_t pa = pa_of(far) & ~((UINT64_C(1) << 21) - 1);
			int r = iovirt_pt_map(io, 1, far, pa, 2u << 21, IOVIRT_PROT_READ);
			if (r)
				fail("map far", far, r);
			else if (hw_walk(far + 0x1234) != pa + 0x1234 || hw_walk(far + (3u << 20)) != pa + (3u << 20))
				fail("mapped, yet not reachable through the table entries", far, 0);
			if (iovirt_pt_unmap(io, 1, far, 2u << 21) != (2 << 21))
				fail("unmap far", far, 0);
		}
	}
	atomic_fetch_sub(&writers_left, 1);
	return NULL;
}

static void *splitter(void *arg)
{
	(void)arg;
	/* 1 GiB -> 2 MiB -> 4 KiB, page after page, while readers translate them. */
	for (unsigned g = 0; g < NSTABLE; g++)
		for (unsigned m = 0; m < 512; m += 3) {
			uint64_t iova = STABLE + ((uint64_t)g << 30) + ((uint64_t)m << 21);
			atomic_store(&hot, iova);
			/* The first split of a 1 GiB page makes 2 MiB pages; later ones split those. */
			int r = iovirt_pt_split(io, 1, iova);
			if (r)
				fail("split", iova, r);
			if (m == 0 && (r = iovirt_pt_split(io, 1, iova + 4096)))
				fail("split 2M", iova, r);
		}
	return NULL;
}

static void *reader(void *arg)
{
	uint64_t s = 0x9999 + (uintptr_t)arg;
	while (atomic_load(&writers_left) > 0) {
		for (int i = 0; i < 256; i++) {
			struct iovirt_xlate x;
			uint64_t iova = (rnd(&s) % (WINDOW_PAGES * 4096ull)) | (rnd(&s) & 0xfff);
			int r = iovirt_pt_translate(io, 1, iova, IOVIRT_PROT_READ, &x);
			if (r == 0 && x.pa != pa_of(iova))
				fail("torn translation", iova, r);
			else if (r && r != IOVIRT_ENOENT)
				fail("translate", iova, r);
			uint64_t st = (i & 1) ? STABLE + rnd(&s) % ((uint64_t)NSTABLE << 30)
					      : atomic_load(&hot) + rnd(&s) % (UINT64_C(1) << 21);
			r = iovirt_pt_translate(io, 1, st, IOVIRT_PROT_WRITE, &x);
			if (r || x.pa != pa_of(st))
				fail("hole in the always-mapped range", st, r);
			atomic_fetch_add_explicit(&checks, 2, memory_order_relaxed);
		}
	}
	return NULL;
}

int main(void)
{
	struct iovirt_posix *p = iovirt_posix_create();
	/* IOVIRT_STRESS_PT_FORMAT: the table format (enum iovirt_pt_format), VT-d by default */
	const char *fmt = getenv("IOVIRT_STRESS_PT_FORMAT");
	struct iovirt_iommu_params params = { .size = sizeof(params), .format = fmt ? (uint32_t)atoi(fmt) : 0,
					      .reclaim = IOVIRT_RECLAIM_DEFERRED };
	if (!p || iovirt_iommu_create(iovirt_posix_ops(), p, &params, &io) || iovirt_pt_space_create(io, 1, NULL))
		return 2;
	if (iovirt_pt_root_info(io, 1, &root))
		return 2;
	int r = iovirt_pt_map(io, 1, STABLE, pa_of(STABLE), (uint64_t)NSTABLE << 30,
			      IOVIRT_PROT_READ | IOVIRT_PROT_WRITE);
	if (r) {
		fail("map stable", STABLE, r);
		return 1;
	}
	pthread_t w[NW], rd[NR], sp;
	atomic_store(&writers_left, NW);
	for (uintptr_t i = 0; i < NR; i++)
		pthread_create(&rd[i], NULL, reader, (void *)i);
	pthread_create(&sp, NULL, splitter, NULL);
	for (uintptr_t i = 0; i < NW; i++)
		pthread_create(&w[i], NULL, writer, (void *)i);
	for (int i = 0; i < NW; i++)
		pthread_join(w[i], NULL);
	pthread_join(sp, NULL);
	for (int i = 0; i < NR; i++)
		pthread_join(rd[i], NULL);

	/* Quiescent now: everything the writers did is undone, the stable range intact. */
	size_t released = iovirt_pt_reclaim(io);
	if (iovirt_pt_unmap(io, 1, 0, UINT64_C(1) << 36) != 0)
		fail("window not empty", 0, 0);
	int64_t un = iovirt_pt_unmap(io, 1, STABLE, (uint64_t)NSTABLE << 30);
	if (un != (int64_t)NSTABLE << 30)
		fail("stable range", STABLE, (int)un);
	iovirt_pt_reclaim(io);
	struct iovirt_pt_stats st;
	iovirt_pt_stats(io, &st);
	if (st.tables != 1)
		fail("tables left", st.tables, 0);
	iovirt_iommu_destroy(io);
	if (iovirt_posix_live_tables(p) || iovirt_posix_live_mem(p))
		fail("leak", 0, 0);
	iovirt_posix_destroy(p);
	unsigned long e = atomic_load(&errors);
	printf("%lu translations checked, %zu tables reclaimed, %lu errors\n", atomic_load(&checks), released, e);
	return e ? 1 : 0;
}
