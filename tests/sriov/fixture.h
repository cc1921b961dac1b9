/* SPDX-License-Identifier: MIT */
/* A PF with a typical SR-IOV layout and VF register map, for the sriov tests. */
#ifndef IOVIRT_TESTS_SRIOV_FIXTURE_H
#define IOVIRT_TESTS_SRIOV_FIXTURE_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "testhost.h"

#define FX_DEV 7
#define FX_WIN 0x1000u      /* per-VF register window */
#define FX_PF_RID 0x0100    /* bus 1, dev 0, fn 0 */
#define FX_OFF 8            /* First VF Offset, ARI clear */
#define FX_STRIDE 2
#define FX_OFF_ARI 1
#define FX_STRIDE_ARI 1
#define FX_BAR0 0x4000u     /* 16 KiB, 32-bit */
#define FX_BAR2 0x10000u    /* 64 KiB, 64-bit prefetchable, slots 2-3 */
#define FX_PF_WIN 0xf0000000u

/* register map of one VF */
#define R_CTRL 0x000
#define R_STATUS 0x004
#define R_RING 0x010   /* DMA_ADDR, 8 bytes, device reads 0x2000 bytes */
#define R_RINGLEN 0x018
#define R_DOORBELL 0x020
#define R_WB 0x028     /* DMA_ADDR, 4 bytes, device writes 16 bytes */
#define R_KEY 0x100    /* SENSITIVE, 8 bytes */
#define R_QOS 0x108    /* SENSITIVE, 4 bytes */

static const struct iovirt_sriov_reg fx_regmap[] = {
	{ .offset = R_CTRL, .width = 4, .cls = IOVIRT_SRIOV_REG_GUEST, .reset = 0 },
	{ .offset = R_STATUS, .width = 4, .cls = IOVIRT_SRIOV_REG_GUEST, .reset = 0x80 },
	{ .offset = R_RING, .width = 8, .cls = IOVIRT_SRIOV_REG_DMA_ADDR,
	  .access = IOVIRT_PROT_READ, .dma_len = 0x2000, .reset = 0 },
	{ .offset = R_RINGLEN, .width = 4, .cls = IOVIRT_SRIOV_REG_GUEST, .reset = 0 },
	{ .offset = R_DOORBELL, .width = 4, .cls = IOVIRT_SRIOV_REG_GUEST, .reset = 0 },
	{ .offset = R_WB, .width = 4, .cls = IOVIRT_SRIOV_REG_DMA_ADDR,
	  .access = IOVIRT_PROT_WRITE, .dma_len = 16, .reset = 0 },
	{ .offset = R_KEY, .width = 8, .cls = IOVIRT_SRIOV_REG_SENSITIVE, .reset = 0x5eed },
	{ .offset = R_QOS, .width = 4, .cls = IOVIRT_SRIOV_REG_SENSITIVE, .reset = 3 },
};
#define FX_NREGS (sizeof(fx_regmap) / sizeof(fx_regmap[0]))

struct fx {
	struct iovirt_posix *p;
	struct iovirt_iommu *io;
	struct iovirt_sriov *sr;
	uint8_t *devregs;
	struct iovirt_sriov_params prm;
};

static inline void fx_params(struct fx *f, struct iovirt_iommu *io, uint16_t total)
{
	memset(&f->prm, 0, sizeof(f->prm));
	struct iovirt_sriov_params *p = &f->prm;
	p->size = sizeof(*p);
	p->iommu = io;
	p->pf_rid = FX_PF_RID;
	p->bus_last = 0x03;
	p->fdl = 0;
	p->total_vfs = total;
	p->initial_vfs = total;
	p->vf_offset = FX_OFF;
	p->vf_stride = FX_STRIDE;
	p->vf_offset_ari = FX_OFF_ARI;
	p->vf_stride_ari = FX_STRIDE_ARI;
	p->vf_device_id = 0x10ed;
	p->next_cap = 0x1c0;
	p->caps = 0x2; /* ARI Capable Hierarchy Preserved, no migration */
	p->sup_pgsizes = 0x553;
	p->bars[0] = (struct iovirt_sriov_bar){ .size = FX_BAR0 };
	p->bars[2] = (struct iovirt_sriov_bar){ .size = FX_BAR2,
		.flags = IOVIRT_SRIOV_BAR_64 | IOVIRT_SRIOV_BAR_PREFETCH };
	p->vf_reg_dev = FX_DEV;
	p->nregs = FX_NREGS;
	p->vf_regs_size = FX_WIN;
	p->regs = fx_regmap;
	p->pf_windows[0] = (struct iovirt_sriov_window){ FX_PF_WIN, 0x100000 };
}

/* Adapter, iommu and device registers; the sriov object is made by fx_create. */
static inline void fx_host(struct fx *f, uint16_t total)
{
	memset(f, 0, sizeof(*f));
	f->p = th_posix();
	cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), f->p, NULL, &f->io), 0);
	f->devregs = calloc(total, FX_WIN);
	cr_assert_not_null(f->devregs);
	cr_assert_eq(iovirt_posix_dev_add(f->p, FX_DEV, f->devregs, (size_t)total * FX_WIN), 0);
	fx_params(f, f->io, total);
}

static inline void fx_setup(struct fx *f, uint16_t total)
{
	fx_host(f, total);
	int r = iovirt_sriov_create(iovirt_posix_ops(), f->p, &f->prm, &f->sr);
	cr_assert_eq(r, 0, "create: %s", iovirt_err_name(r));
}

static inline void fx_done(struct fx *f)
{
	iovirt_sriov_destroy(f->sr);
	iovirt_iommu_destroy(f->io);
	th_posix_done(f->p);
	free(f->devregs);
}

static inline uint32_t fx_rd(struct fx *f, uint32_t off, unsigned w)
{
	uint32_t v = 0xdeadbeef;
	int r = iovirt_sriov_cfg_read(f->sr, off, w, &v);
	cr_assert_eq(r, 0, "cfg_read(%#x, %u): %s", off, w, iovirt_err_name(r));
	return v;
}

static inline int fx_wr(struct fx *f, uint32_t off, unsigned w, uint32_t v)
{
	return iovirt_sriov_cfg_write(f->sr, off, w, v);
}

/* Programs BARs (BAR0 at 0x80000000, BAR2 at 0x2_0000_0000), NumVFs = n, then VF Enable + MSE. */
static inline void fx_enable(struct fx *f, uint16_t n)
{
	cr_assert_eq(fx_wr(f, IOVIRT_SRIOV_VF_BAR0, 4, 0x80000000u), 0);
	cr_assert_eq(fx_wr(f, IOVIRT_SRIOV_VF_BAR0 + 8, 4, 0), 0);
	cr_assert_eq(fx_wr(f, IOVIRT_SRIOV_VF_BAR0 + 12, 4, 2), 0);
	cr_assert_eq(fx_wr(f, IOVIRT_SRIOV_NUM_VFS, 2, n), 0);
	int r = fx_wr(f, IOVIRT_SRIOV_CTRL, 2, IOVIRT_SRIOV_CTRL_VFE | IOVIRT_SRIOV_CTRL_MSE);
	cr_assert_eq(r, 0, "enable: %s", iovirt_err_name(r));
	cr_assert_eq(iovirt_sriov_num_enabled(f->sr), n);
}

static inline uint16_t fx_rid(struct fx *f, uint32_t vf)
{
	uint16_t rid = 0;
	cr_assert_eq(iovirt_sriov_vf_rid(f->sr, vf, &rid), 0);
	return rid;
}

/* Creates ASID asid (48-bit) and binds VF vf to guest. */
static inline void fx_bind(struct fx *f, uint32_t vf, uint32_t guest, uint32_t asid)
{
	cr_assert_eq(iovirt_pt_space_create(f->io, asid, NULL), 0);
	int r = iovirt_sriov_vf_bind(f->sr, vf, guest, asid);
	cr_assert_eq(r, 0, "bind: %s", iovirt_err_name(r));
}

#endif
