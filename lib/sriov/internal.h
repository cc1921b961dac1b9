/* SPDX-License-Identifier: MIT */
/* lib/sriov internals: the object, the derived state and the helpers the files share. */
#ifndef IOVIRT_SRIOV_INTERNAL_H
#define IOVIRT_SRIOV_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/checked.h"
#include "iovirt/sriov.h"

/*
 * The capability's register file, byte for byte as a guest sees it, and the
 * one input of the derived state a guest cannot see: the lowest PF's ARI
 * Capable Hierarchy, which an ARI_READONLY PF follows (set_ari_hierarchy).
 */
struct sriov_regs {
	uint8_t b[IOVIRT_SRIOV_CAP_SIZE];
	bool ari_lowest; /* always false unless IOVIRT_SRIOV_ARI_READONLY */
};

/* One VF BAR slot as the registers make it decode. */
struct sriov_barwin {
	uint64_t base;  /* VF 0's address */
	uint64_t size;  /* per VF: max(declared size, System Page Size); 0 if absent */
	bool decode;    /* VF Enable, VF MSE, base assigned, last byte does not wrap */
};

/*
 * Everything that follows from the registers. Only sriov_derive computes it,
 * so config writes, PF reset and restore cannot disagree about it.
 */
struct sriov_derived {
	bool enabled;       /* VF Enable */
	uint32_t nvfs;      /* enabled VFs: NumVFs when enabled, else 0 */
	uint16_t offset, stride; /* the pair ARI Capable Hierarchy selects */
	uint64_t pgsize;    /* System Page Size in bytes */
	struct sriov_barwin bar[IOVIRT_SRIOV_NBARS];
};

/*
 * Context-table entry: one atomic word per RID, so a lookup is one load.
 * SRIOV_CTX_VF: RID belongs to an enabled VF; SRIOV_CTX_BOUND: translations allowed.
 */
#define SRIOV_CTX_BOUND (UINT64_C(1) << 63)
#define SRIOV_CTX_VF (UINT64_C(1) << 62)
#define SRIOV_CTX_VF_SHIFT 32
#define SRIOV_CTX_ASID_MASK UINT64_C(0xfffff)

struct sriov_vf {
	uint32_t guest;
	uint32_t asid;
	bool bound;
	uint64_t mmio_reads, mmio_writes;
	uint64_t refused_sensitive, refused_dma, refused_other;
	uint64_t resets, host_errors;
};

/*
 * A DMA-refusing window, published to lock-free readers under a sequence
 * count. Inclusive bounds: a window may end exactly at 2^64.
 */
#define SRIOV_NWIN (IOVIRT_SRIOV_NBARS + IOVIRT_SRIOV_PF_WINDOWS)
struct sriov_win {
	_Atomic uint64_t start, last; /* [start, last] */
};

struct iovirt_sriov {
	const struct iovirt_host_ops *ops;
	void *host;
	struct iovirt_sriov_params p; /* regs points at our own copy */

	struct sriov_regs regs;
	struct sriov_derived d;

	struct sriov_vf *vfs;          /* total_vfs */
	struct iovirt_sriov_reg *regmap; /* sorted by offset */

	_Atomic uint64_t *ctx;         /* indexed by rid - pf_rid */
	uint32_t ctx_len;

	_Atomic uint32_t win_seq;      /* odd while windows change */
	_Atomic uint32_t win_n;        /* used entries of win, packed at the front */
	_Atomic uint64_t win_lo, win_hi; /* hull [lo, hi] of all windows: most DMA misses it at once */
	struct sriov_win win[SRIOV_NWIN];

	struct sriov_fn *fn; /* create_fn's functions (fn.h); NULL after plain create */
};

/* Little-endian field access on the register file. */
static inline uint32_t sriov_regs_get(const struct sriov_regs *r, unsigned off, unsigned width)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < width; i++)
		v |= (uint32_t)r->b[off + i] << (8 * i);
	return v;
}

static inline void sriov_regs_put(struct sriov_regs *r, unsigned off, unsigned width, uint32_t v)
{
	for (unsigned i = 0; i < width; i++)
		r->b[off + i] = (uint8_t)(v >> (8 * i));
}

/* config.c */
void sriov_regs_reset(const struct iovirt_sriov *sr, struct sriov_regs *r);
void sriov_regs_normalize(const struct iovirt_sriov *sr, struct sriov_regs *r);
int sriov_derive(const struct iovirt_sriov *sr, const struct sriov_regs *r,
		 struct sriov_derived *d);
void sriov_commit(struct iovirt_sriov *sr, const struct sriov_regs *r,
		  const struct sriov_derived *d);
uint8_t sriov_wmask(const struct iovirt_sriov *sr, unsigned off);
uint16_t sriov_rid_of(const struct iovirt_sriov *sr, const struct sriov_derived *d,
		      uint32_t vf);

/* sriov.c */
bool sriov_has_ari_pair(const struct iovirt_sriov_params *p);
/* The checks of one binding that iovirt_sriov_vf_bind and iovirt_sriov_restore
 * share: guest and asid valid (IOVIRT_EINVAL), the ASID exists (IOVIRT_ENOASID).
 * Each caller checks the VF and the ASID's uniqueness among its own bindings. */
int sriov_bind_check(const struct iovirt_sriov *sr, uint32_t guest, uint32_t asid);
/* Binds VF vf (enabled, unbound: checked) and publishes its context entry. */
void sriov_bind_commit(struct iovirt_sriov *sr, uint32_t vf, uint32_t guest, uint32_t asid);
void sriov_vfs_reset(struct iovirt_sriov *sr, uint32_t first, uint32_t count);
bool sriov_reentrant(const struct iovirt_sriov *sr, uint64_t first, uint64_t last);

/* fn.c: the functions' emulation (NULL-safe: a plain PF has none) */
struct sriov_fn;
void sriov_fn_free(struct iovirt_sriov *sr);
void sriov_fn_vf_reset(struct iovirt_sriov *sr, uint32_t vf);
bool sriov_fn_bme_ok(const struct iovirt_sriov *sr, uint32_t vf);
void sriov_fn_pf_reset(struct iovirt_sriov *sr);
void sriov_fn_devtlb(struct iovirt_sriov *sr, uint32_t vf, const struct iovirt_inval *inv);

#endif
