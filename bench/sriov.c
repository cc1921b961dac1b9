/* SPDX-License-Identifier: MIT */
/*
 * bench/sriov: with 256 VFs enabled and bound,
 *  - rid_lookup:   iovirt_sriov_rid_lookup beside a plain RID-indexed array load
 *                  (the physical limit of a table lookup);
 *  - dma_translate: iovirt_sriov_dma_translate beside iovirt_pt_translate with
 *                  the ASID already known (the cost of the context table and
 *                  the re-entrancy check);
 *  - reg_write:    a mediated guest register write beside a direct call of the
 *                  host's reg_write callback.
 * Targets: <= 5 ns per lookup; mediated write <= 2x the direct callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#define NVF 256
#define WIN 0x100u
#define DEV 1
#define CHECK(c)                                                                 \
	do {                                                                     \
		if (!(c)) {                                                      \
			fprintf(stderr, "bench_sriov: %s failed\n", #c);          \
			exit(1);                                                 \
		}                                                                \
	} while (0)

static const struct iovirt_sriov_reg regmap[] = {
	{ .offset = 0x00, .width = 4, .cls = IOVIRT_SRIOV_REG_GUEST },
	{ .offset = 0x04, .width = 4, .cls = IOVIRT_SRIOV_REG_GUEST },
	{ .offset = 0x08, .width = 8, .cls = IOVIRT_SRIOV_REG_DMA_ADDR, .access = IOVIRT_PROT_READ,
	  .dma_len = 0x1000 },
	{ .offset = 0x10, .width = 4, .cls = IOVIRT_SRIOV_REG_GUEST },
	{ .offset = 0x20, .width = 8, .cls = IOVIRT_SRIOV_REG_SENSITIVE },
	{ .offset = 0x28, .width = 4, .cls = IOVIRT_SRIOV_REG_GUEST },
	{ .offset = 0x40, .width = 4, .cls = IOVIRT_SRIOV_REG_GUEST },
	{ .offset = 0x80, .width = 4, .cls = IOVIRT_SRIOV_REG_SENSITIVE },
};

static uint16_t rids[NVF];
static uint32_t plain_table[0x10000];

static double run(const char *op, const char *impl, uint64_t items,
		  void (*fn)(void *arg, uint64_t items), void *arg)
{
	int reps = bench_reps();
	double v[64];
	if (reps > 64)
		reps = 64;
	fn(arg, items / 10 + 1); /* warm up */
	for (int r = 0; r < reps; r++) {
		uint64_t t0 = bench_now_ns();
		fn(arg, items);
		v[r] = (double)(bench_now_ns() - t0) / (double)items;
	}
	double m = bench_median(v, (size_t)reps);
	bench_report("sriov", op, impl, items, m);
	return m;
}

struct ctx {
	struct iovirt_posix *p;
	struct iovirt_iommu *io;
	struct iovirt_sriov *sr;
};

static void lookup_iovirt(void *arg, uint64_t items)
{
	struct ctx *c = arg;
	uint64_t acc = 0;
	for (uint64_t i = 0; i < items; i++) {
		uint32_t vf, asid;
		int r = iovirt_sriov_rid_lookup(c->sr, rids[i % NVF], &vf, &asid);
		acc += (uint64_t)r + asid;
	}
	bench_use(acc);
}

static void lookup_array(void *arg, uint64_t items)
{
	(void)arg;
	uint64_t acc = 0;
	for (uint64_t i = 0; i < items; i++) {
		const volatile uint32_t *t = plain_table;
		acc += t[rids[i % NVF]];
	}
	bench_use(acc);
}

static void xlate_iovirt(void *arg, uint64_t items)
{
	struct ctx *c = arg;
	uint64_t acc = 0;
	for (uint64_t i = 0; i < items; i++) {
		struct iovirt_xlate x;
		int r = iovirt_sriov_dma_translate(c->sr, rids[i % NVF], 0x100000 + (i & 0xff) * 8,
						   IOVIRT_PROT_READ, &x);
		acc += (uint64_t)r + x.pa;
	}
	bench_use(acc);
}

static void xlate_pt(void *arg, uint64_t items)
{
	struct ctx *c = arg;
	uint64_t acc = 0;
	for (uint64_t i = 0; i < items; i++) {
		struct iovirt_xlate x;
		/* the same ASID order as the VFs' RIDs above */
		int r = iovirt_pt_translate(c->io, plain_table[rids[i % NVF]], 0x100000 + (i & 0xff) * 8,
					    IOVIRT_PROT_READ, &x);
		acc += (uint64_t)r + x.pa;
	}
	bench_use(acc);
}

static void write_mediated(void *arg, uint64_t items)
{
	struct ctx *c = arg;
	uint64_t acc = 0;
	for (uint64_t i = 0; i < items; i++) {
		uint32_t vf = (uint32_t)(i % NVF);
		acc += (uint64_t)iovirt_sriov_mmio_write(c->sr, vf, vf, 0x28, 4, i);
	}
	bench_use(acc);
}

static void write_direct(void *arg, uint64_t items)
{
	struct ctx *c = arg;
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	uint64_t acc = 0;
	for (uint64_t i = 0; i < items; i++) {
		uint32_t vf = (uint32_t)(i % NVF);
		acc += (uint64_t)ops->reg_write(c->p, DEV, (uint64_t)vf * WIN + 0x28, 4, i);
	}
	bench_use(acc);
}

int main(void)
{
	double scale = bench_scale();
	printf("bench sriov: %d VFs, reps %d, scale %.2f\n", NVF, bench_reps(), scale);
	struct ctx c;
	memset(&c, 0, sizeof(c));
	c.p = iovirt_posix_create();
	CHECK(c.p);
	CHECK(iovirt_iommu_create(iovirt_posix_ops(), c.p, NULL, &c.io) == 0);
	static uint8_t devregs[NVF * WIN];
	CHECK(iovirt_posix_dev_add(c.p, DEV, devregs, sizeof(devregs)) == 0);

	struct iovirt_sriov_params p;
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.iommu = c.io;
	p.pf_rid = 0x1000;
	p.bus_last = 0x11;
	p.total_vfs = NVF;
	p.initial_vfs = NVF;
	p.vf_offset = 1;
	p.vf_stride = 1;
	p.vf_offset_ari = 1;
	p.vf_stride_ari = 1;
	p.sup_pgsizes = 0x553;
	p.bars[0] = (struct iovirt_sriov_bar){ .size = 0x4000, .flags = IOVIRT_SRIOV_BAR_64 };
	p.vf_reg_dev = DEV;
	p.nregs = sizeof(regmap) / sizeof(regmap[0]);
	p.vf_regs_size = WIN;
	p.regs = regmap;
	p.pf_windows[0] = (struct iovirt_sriov_window){ 0xe0000000, 0x1000000 };
	CHECK(iovirt_sriov_create(iovirt_posix_ops(), c.p, &p, &c.sr) == 0);
	CHECK(iovirt_sriov_cfg_write(c.sr, IOVIRT_SRIOV_VF_BAR0, 4, 0) == 0);
	CHECK(iovirt_sriov_cfg_write(c.sr, IOVIRT_SRIOV_VF_BAR0 + 4, 4, 0x40) == 0);
	CHECK(iovirt_sriov_cfg_write(c.sr, IOVIRT_SRIOV_NUM_VFS, 2, NVF) == 0);
	CHECK(iovirt_sriov_cfg_write(c.sr, IOVIRT_SRIOV_CTRL, 2,
				     IOVIRT_SRIOV_CTRL_VFE | IOVIRT_SRIOV_CTRL_MSE) == 0);
	for (uint32_t n = 0; n < NVF; n++) {
		CHECK(iovirt_pt_space_create(c.io, 1000 + n, NULL) == 0);
		CHECK(iovirt_pt_map(c.io, 1000 + n, 0x100000, 0x10000000 + (uint64_t)n * 0x10000,
				    0x1000, IOVIRT_PROT_READ) == 0);
		CHECK(iovirt_sriov_vf_bind(c.sr, n, n, 1000 + n) == 0);
		CHECK(iovirt_sriov_vf_rid(c.sr, n, &rids[n]) == 0);
		plain_table[rids[n]] = 1000 + n;
	}
	/* visit the VFs in a scrambled order, as interleaved device traffic would */
	for (uint32_t i = NVF - 1; i > 0; i--) {
		uint32_t j = (i * 2654435761u) % (i + 1);
		uint16_t t = rids[i];
		rids[i] = rids[j];
		rids[j] = t;
	}

	uint64_t n_lookup = (uint64_t)(20000000 * scale) + 1;
	uint64_t n_write = (uint64_t)(2000000 * scale) + 1;
	run("rid_lookup", "iovirt", n_lookup, lookup_iovirt, &c);
	run("rid_lookup", "array", n_lookup, lookup_array, &c);
	run("dma_translate", "iovirt", n_lookup / 4, xlate_iovirt, &c);
	run("dma_translate", "pt_only", n_lookup / 4, xlate_pt, &c);
	run("reg_write", "mediated", n_write, write_mediated, &c);
	run("reg_write", "direct", n_write, write_direct, &c);
	bench_ratio("rid_lookup", "iovirt", "array");
	bench_ratio("dma_translate", "iovirt", "pt_only");
	double w = bench_ratio("reg_write", "mediated", "direct");

	struct iovirt_sriov_vf_info info;
	CHECK(iovirt_sriov_vf_info(c.sr, 0, &info) == 0 && info.mmio_writes > 0);
	(void)w;
	iovirt_sriov_destroy(c.sr);
	iovirt_iommu_destroy(c.io);
	iovirt_posix_destroy(c.p);
	return 0;
}
