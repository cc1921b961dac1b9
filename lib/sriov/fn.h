/* SPDX-License-Identifier: MIT */
/*
 * lib/sriov internals of the functions' emulation (create_fn): VF
 * configuration state, MSI-X tables and PBAs, the PF's ARI/ACS state.
 */
#ifndef IOVIRT_SRIOV_FN_H
#define IOVIRT_SRIOV_FN_H

#include "sriov/internal.h"

/* Command register bits a VF keeps. */
#define VF_CMD_MSE 0x0002 /* virtualized view only: a shadow */
#define VF_CMD_BME 0x0004

#define MSIX_CTRL_FMASK 0x4000
#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_MAX_VECTORS 2048
#define ATS_CTRL_ENABLE 0x8000

/* Mutable configuration state of one VF; the rest follows from the params. */
struct sriov_vfcfg {
	uint16_t cmd;       /* VF_CMD_BME, VF_CMD_MSE */
	uint16_t msix_ctrl; /* MSIX_CTRL_FMASK, MSIX_CTRL_ENABLE */
	uint16_t ats_ctrl;  /* ATS_CTRL_ENABLE */
	uint8_t vbar_set;   /* bit i: the guest wrote virtual BAR i since reset */
	uint8_t ats_on;     /* devtlb invalidation registered for the bound ASID */
	uint32_t vbar[IOVIRT_SRIOV_NBARS];
};

/* One MSI-X table entry, as the guest programmed it. */
struct sriov_msix_ent {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct sriov_fn {
	struct iovirt_sriov_fn_params fp; /* a copy, size set to ours */
	uint64_t irq_base, irq_size;      /* resolved window */
	uint32_t nvec, pba_words;
	uint32_t total;                   /* VFs the arrays hold */
	struct sriov_vfcfg *vfc;          /* total */
	_Atomic uint8_t *bme;             /* total: read by dma_translate, lock-free */
	struct sriov_msix_ent *table;     /* total * nvec */
	uint64_t *pba;                    /* total * pba_words */
	uint16_t acs_ctrl;
};

/* fn.c */
void sriov_fn_report(struct iovirt_sriov *sr, uint32_t kind, uint32_t vf, uint32_t off,
		     unsigned width, uint64_t val, int err, bool is_write);
int sriov_fn_ats_set(struct iovirt_sriov *sr, uint32_t vf, bool on);
void sriov_fn_vf_defaults(struct iovirt_sriov *sr, uint32_t vf);
bool sriov_fn_msi_ok(const struct sriov_fn *fn, uint64_t addr);
int sriov_fn_cfg_access(uint32_t offset, unsigned width, uint32_t limit);

/* vfcfg.c */
uint32_t sriov_fn_vbar(const struct iovirt_sriov *sr, uint32_t vf, unsigned i, bool mask);

#endif
