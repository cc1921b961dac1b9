/* SPDX-License-Identifier: MIT */
/*
 * bench/viommu: translation of one IOVA through a guest's own IOMMU tables
 * (iovirt_gpt_translate: every level's entry checked against the guest map,
 * then read once through guest_read), per format, beside the host-table
 * translation of the same mapping (iovirt_pt_translate over tables
 * lib/pagetable wrote in the same format), and through a device's cache
 * (iovirt_viommu_translate): a hot working set of 8 pages, and random pages
 * (mostly misses: a walk plus the fill). 16384 guest pages of 4 KiB at iova
 * [0, 64 MiB), 4-level tables (Sv48x4 for RISC-V); random iovas from a fixed
 * list. ns per translation. guest_read is a lean host's (a bounds check and
 * one 8-byte load from the guest's memory, what an emulator's mapping of
 * guest RAM costs); the _posix row uses the POSIX adapter's (a lock, a range
 * search, a counter and a log check per read).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#define GUEST 4u
#define GBASE (UINT64_C(1) << 32) /* gpa of the guest's table memory */
#define GBYTES (UINT64_C(4) << 20)
#define NPAGES 16384u
#define NPROBE 4096u
#define OUT_BASE (UINT64_C(1) << 36) /* gpa the guest maps its iovas to */

static struct iovirt_posix *host;
static struct iovirt_host_ops lean_ops;
static uint8_t *gmem;
static uint64_t gnext;
static uint64_t probe[NPROBE], hot[8];

static void die(const char *what, int64_t r)
{
	fprintf(stderr, "%s failed: %s\n", what, iovirt_strerror((int)r));
	exit(1);
}

static int lean_read(void *h, uint32_t g, uint64_t gpa, void *dst, size_t len)
{
	(void)h, (void)g;
	if (gpa - GBASE >= GBYTES || len > GBYTES - (gpa - GBASE))
		return -1;
	if (len == 8 && !(gpa & 7)) {
		uint64_t v = __atomic_load_n((const uint64_t *)(const void *)(gmem + (gpa - GBASE)), __ATOMIC_RELAXED);
		memcpy(dst, &v, 8);
		return 0;
	}
	memcpy(dst, gmem + (gpa - GBASE), len);
	return 0;
}

static uint64_t *slot(uint64_t table, unsigned idx)
{
	return (uint64_t *)(void *)(gmem + (table - GBASE) + 8 * idx);
}

static uint64_t new_table(uint64_t bytes)
{
	gnext = (gnext + bytes - 1) & ~(bytes - 1);
	uint64_t gpa = GBASE + gnext;
	gnext += bytes;
	if (gnext > GBYTES)
		die("guest tables", IOVIRT_ENOMEM);
	return gpa;
}

/* The guest's entries, as each spec lays them out (table / 4 KiB read-write leaf). */
static uint64_t mk(uint32_t fmt, uint64_t pa, unsigned level, int leaf)
{
	switch (fmt) {
	case IOVIRT_PT_FMT_AMD_V1:
		return pa | 1 | (leaf ? 0 : (uint64_t)(level - 1) << 9) | (UINT64_C(3) << 61);
	case IOVIRT_PT_FMT_ARM_S2:
		return pa | 3 | (leaf ? (0xfu << 2) | (3u << 6) | (3u << 8) | (1u << 10) : 0);
	case IOVIRT_PT_FMT_RISCV_G:
		return ((pa >> 12) << 10) | 1 | (leaf ? 0xd6u : 0);
	default:
		return pa | 3;
	}
}

static uint64_t entry_addr(uint32_t fmt, uint64_t e)
{
	if (fmt == IOVIRT_PT_FMT_RISCV_G)
		return ((e >> 10) & ((UINT64_C(1) << 44) - 1)) << 12;
	return e & UINT64_C(0x0000fffffffff000);
}

/* Builds the guest's 4-level tables mapping iova i * 4 KiB -> OUT_BASE + i * 4 KiB. */
static struct iovirt_gpt_ctx build(uint32_t fmt)
{
	gnext = 0;
	memset(gmem, 0, GBYTES);
	struct iovirt_gpt_ctx c = { .size = sizeof(c), .format = fmt };
	if (fmt == IOVIRT_PT_FMT_ARM_S2) {
		c.mode = 2;
		c.t0sz = 16;
	} else if (fmt == IOVIRT_PT_FMT_RISCV_G) {
		c.mode = 9;
	} else {
		c.levels = 4;
	}
	c.root = new_table(fmt == IOVIRT_PT_FMT_RISCV_G ? 16384 : 4096);
	for (uint64_t i = 0; i < NPAGES; i++) {
		const uint64_t iova = i << 12;
		uint64_t table = c.root;
		for (unsigned l = 4; l > 1; l--) {
			uint64_t *e = slot(table, (unsigned)(iova >> (12 + 9 * (l - 1))) & 511);
			if (!*e)
				*e = mk(fmt, new_table(4096), l, 0);
			table = entry_addr(fmt, *e);
		}
		*slot(table, (unsigned)(iova >> 12) & 511) = mk(fmt, OUT_BASE + iova, 1, 1);
	}
	return c;
}

struct run {
	const struct iovirt_gpt_ctx *ctx;
	struct iovirt_gmap *map;
	const struct iovirt_host_ops *ops;
	struct iovirt_viommu *v;
	struct iovirt_iommu *io;
};

typedef double (*run_fn)(const struct run *r, uint64_t iters);

static double run_gpt(const struct run *r, uint64_t iters)
{
	uint64_t t0 = bench_now_ns(), acc = 0;
	for (uint64_t i = 0; i < iters; i++) {
		struct iovirt_gpt_result res;
		if (iovirt_gpt_translate(r->ctx, r->map, r->ops, host, probe[i % NPROBE], IOVIRT_PROT_READ, &res))
			die("gpt translate", res.err);
		acc += res.gpa;
	}
	bench_use(acc);
	return (double)(bench_now_ns() - t0);
}

static double run_cached(const struct run *r, const uint64_t *iovas, unsigned n, uint64_t iters)
{
	uint64_t t0 = bench_now_ns(), acc = 0;
	for (uint64_t i = 0; i < iters; i++) {
		struct iovirt_gpt_result res;
		if (iovirt_viommu_translate(r->v, iovas[i % n], IOVIRT_PROT_READ, &res))
			die("viommu translate", res.err);
		acc += res.gpa;
	}
	bench_use(acc);
	return (double)(bench_now_ns() - t0);
}

static double run_hot(const struct run *r, uint64_t iters)
{
	return run_cached(r, hot, 8, iters);
}

static double run_random(const struct run *r, uint64_t iters)
{
	return run_cached(r, probe, NPROBE, iters);
}

static double run_host(const struct run *r, uint64_t iters)
{
	uint64_t t0 = bench_now_ns(), acc = 0;
	for (uint64_t i = 0; i < iters; i++) {
		struct iovirt_xlate x;
		if (iovirt_pt_translate(r->io, 1, probe[i % NPROBE], IOVIRT_PROT_READ, &x))
			die("pt translate", -1);
		acc += x.pa;
	}
	bench_use(acc);
	return (double)(bench_now_ns() - t0);
}

static void measure(const char *op, const char *impl, run_fn fn, const struct run *r, uint64_t iters)
{
	int reps = bench_reps();
	double v[64];
	if (reps > 64)
		reps = 64;
	bench_uncounted(1); /* a warm-up is not a measured part */
	fn(r, iters / 10 + 1);
	bench_uncounted(0);
	for (int i = 0; i < reps; i++)
		v[i] = fn(r, iters) / (double)iters;
	bench_report("viommu", op, impl, iters, bench_median(v, (size_t)reps));
}

static void bench_format(uint32_t fmt, const char *name, struct iovirt_gmap *map, struct iovirt_pin_domain *dom,
			 uint64_t iters)
{
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	struct iovirt_gpt_ctx c = build(fmt);
	struct iovirt_iommu_params ip = { .size = sizeof(ip), .format = fmt };
	struct run r = { .ctx = &c, .map = map, .ops = &lean_ops };
	int e;
	if ((e = iovirt_iommu_create(ops, host, &ip, &r.io)) || (e = iovirt_pt_space_create(r.io, 1, NULL)))
		die("iommu", e);
	for (uint64_t i = 0; i < NPAGES; i += 512) /* the same mapping in host tables of the format */
		if ((e = iovirt_pt_map(r.io, 1, i << 12, OUT_BASE + (i << 12), 512 << 12, IOVIRT_PROT_READ | IOVIRT_PROT_WRITE)))
			die("pt map", e);
	if ((e = iovirt_viommu_create(&lean_ops, host, dom, map, r.io, 1, &c, &r.v)))
		die("viommu", e);
	char impl[48];
	printf("\n%s: guest-table translation of a random iova beside the host tables\n", name);
	snprintf(impl, sizeof(impl), "gpt_cold_%s", name);
	measure("translate", impl, run_gpt, &r, iters);
	snprintf(impl, sizeof(impl), "host_pt_%s", name);
	measure("translate", impl, run_host, &r, iters);
	snprintf(impl, sizeof(impl), "cache_hot8_%s", name);
	measure("translate", impl, run_hot, &r, iters);
	snprintf(impl, sizeof(impl), "cache_random_%s", name);
	measure("translate", impl, run_random, &r, iters);
	if (fmt == IOVIRT_PT_FMT_VTD_SL) {
		r.ops = ops;
		measure("translate", "gpt_cold_vtd_posix", run_gpt, &r, iters);
	}
	char a[48], b[48];
	snprintf(a, sizeof(a), "gpt_cold_%s", name);
	snprintf(b, sizeof(b), "host_pt_%s", name);
	bench_ratio("translate", a, b);
	snprintf(a, sizeof(a), "cache_hot8_%s", name);
	bench_ratio("translate", a, b);
	iovirt_viommu_destroy(r.v);
	iovirt_iommu_destroy(r.io);
}

int main(void)
{
	host = iovirt_posix_create();
	gmem = aligned_alloc(1 << 21, GBYTES);
	if (!host || !gmem)
		die("setup", IOVIRT_ENOMEM);
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	lean_ops = *ops;
	lean_ops.guest_read = lean_read;
	if (iovirt_posix_guest_add(host, GUEST, GBASE, gmem, GBYTES))
		die("guest", IOVIRT_ENOMEM);
	struct iovirt_gmap *map;
	struct iovirt_gmap_params gp = { sizeof(gp), GUEST, 0 };
	int e = iovirt_gmap_create(ops, host, &gp, &map);
	struct iovirt_region ram = { .size = sizeof(ram), .gpa = GBASE, .length = GBYTES, .kind = IOVIRT_REGION_RAM,
				     .access = IOVIRT_DEV_READ | IOVIRT_DEV_WRITE, .owner = GUEST,
				     .flags = IOVIRT_REGION_HPA, .hva = gmem, .hpa = UINT64_C(1) << 40 };
	if (e || (e = iovirt_gmap_add(map, &ram)))
		die("gmap", e);
	struct iovirt_pin_domain *dom;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .iova_base = UINT64_C(1) << 63,
					.iova_end = (UINT64_C(1) << 63) + 4096 };
	if ((e = iovirt_pin_domain_create(ops, host, map, &pp, &dom)))
		die("domain", e);
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	for (unsigned i = 0; i < NPROBE; i++) {
		rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
		probe[i] = ((rng * 0x2545f4914f6cdd1dull) % NPAGES) << 12 | (i & 0xff8);
	}
	for (unsigned i = 0; i < 8; i++)
		hot[i] = probe[i];
	const uint64_t iters = (uint64_t)(400000 * bench_scale()) + 1;
	printf("bench viommu: ns per translation, median of %d\n", bench_reps());
	bench_format(IOVIRT_PT_FMT_VTD_SL, "vtd", map, dom, iters);
	bench_format(IOVIRT_PT_FMT_AMD_V1, "amd", map, dom, iters);
	bench_format(IOVIRT_PT_FMT_ARM_S2, "s2", map, dom, iters);
	bench_format(IOVIRT_PT_FMT_RISCV_G, "rv", map, dom, iters);
	if (iovirt_pin_domain_destroy(dom) || iovirt_gmap_destroy(map))
		die("teardown", -1);
	iovirt_posix_destroy(host);
	free(gmem);
	return 0;
}
