/* SPDX-License-Identifier: MIT */
/* Register mediation: guest accesses to a VF's register window. */
#include <string.h>

#include "sriov/internal.h"

/* The register holding byte `off`, or NULL (binary search of the sorted map). */
static const struct iovirt_sriov_reg *reg_find(const struct iovirt_sriov *sr, uint64_t off)
{
	uint32_t lo = 0, hi = sr->p.nregs;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct iovirt_sriov_reg *g = &sr->regmap[mid];
		if (off < g->offset)
			hi = mid;
		else if (off >= (uint64_t)g->offset + g->width)
			lo = mid + 1;
		else
			return g;
	}
	return NULL;
}

/*
 * Tells the report hook of a failed guest access. An offset past 4 GiB (always
 * outside the window, which is at most 4 GiB) is told as 0xFFFFFFFF.
 */
static void report(struct iovirt_sriov *sr, uint32_t kind, uint32_t vf, uint32_t guest,
		   uint64_t off, unsigned width, uint64_t val, int err, bool is_write)
{
	if (!sr->p.report)
		return;
	struct iovirt_sriov_event ev = {
		.kind = kind, .vf = vf, .guest = guest,
		.offset = off > UINT32_MAX ? UINT32_MAX : (uint32_t)off,
		.value = val, .width = width, .err = err, .is_write = is_write,
	};
	sr->p.report(sr->p.hook_arg, &ev);
}

/*
 * Checks shared by reads and writes; *reg is the register the access lies in.
 * A refusal leaves its event kind in *kind (the caller reports it).
 */
static int access_check(struct iovirt_sriov *sr, uint32_t guest, uint32_t vf, uint64_t off,
			unsigned width, const struct iovirt_sriov_reg **reg, uint32_t *kind)
{
	*kind = IOVIRT_SRIOV_EV_OTHER;
	if (vf >= sr->d.nvfs)
		return IOVIRT_ENOVF;
	struct sriov_vf *v = &sr->vfs[vf];
	if (!v->bound || v->guest != guest)
		return IOVIRT_EOWNER;
	if (width != 1 && width != 2 && width != 4 && width != 8) {
		v->refused_other++;
		return IOVIRT_EINVAL;
	}
	/* width <= 8 and size <= 2^32: no wrap in off + width once off < size */
	if (off >= sr->p.vf_regs_size || width > sr->p.vf_regs_size - off) {
		v->refused_other++;
		return IOVIRT_ERANGE;
	}
	const struct iovirt_sriov_reg *g = reg_find(sr, off);
	if (!g || off + width > (uint64_t)g->offset + g->width) {
		v->refused_other++;
		return IOVIRT_ERESERVED;
	}
	*reg = g;
	return 0;
}

/*
 * Is [iova, iova + len) mapped in asid with `access` everywhere, and nowhere
 * onto a register window? Walks translation by translation.
 */
static int dma_range_ok(const struct iovirt_sriov *sr, uint32_t asid, uint64_t iova,
			uint64_t len, unsigned access)
{
	uint64_t last;
	if (!iovirt_add_ok(iova, len - 1, &last))
		return IOVIRT_EOVERFLOW;
	for (;;) {
		struct iovirt_xlate x;
		int r = iovirt_pt_translate(sr->p.iommu, asid, iova, access, &x);
		if (r)
			return r;
		uint64_t page_last = iova | (x.page_size - 1);
		uint64_t chunk_last = page_last < last ? page_last : last;
		if (sriov_reentrant(sr, x.pa, x.pa + (chunk_last - iova)))
			return IOVIRT_EREENTRANT;
		if (chunk_last == last)
			return 0;
		iova = chunk_last + 1;
	}
}

static int mmio_read(struct iovirt_sriov *sr, uint32_t guest, uint32_t vf, uint64_t offset,
		     unsigned width, uint64_t *val, uint32_t *kind)
{
	const struct iovirt_sriov_reg *g;
	int r = access_check(sr, guest, vf, offset, width, &g, kind);
	if (r)
		return r;
	struct sriov_vf *v = &sr->vfs[vf];
	if (g->cls == IOVIRT_SRIOV_REG_SENSITIVE) {
		/* reads too: privileged state can leak what other VFs do */
		v->refused_sensitive++;
		*kind = IOVIRT_SRIOV_EV_SENSITIVE;
		return IOVIRT_ESENSITIVE;
	}
	uint64_t x = 0;
	if (sr->ops->reg_read(sr->host, sr->p.vf_reg_dev, (uint64_t)vf * sr->p.vf_regs_size + offset,
			      width, &x)) {
		*kind = IOVIRT_SRIOV_EV_HOST;
		return IOVIRT_EHOST;
	}
	v->mmio_reads++;
	*val = width == 8 ? x : x & ((UINT64_C(1) << (8 * width)) - 1);
	return 0;
}

int iovirt_sriov_mmio_read(struct iovirt_sriov *sr, uint32_t guest, uint32_t vf, uint64_t offset,
			   unsigned width, uint64_t *val)
{
	if (!sr || !val)
		return IOVIRT_EINVAL; /* the caller's error, not a guest access */
	uint32_t kind;
	int r = mmio_read(sr, guest, vf, offset, width, val, &kind);
	if (r)
		report(sr, kind, vf, guest, offset, width, 0, r, false);
	return r;
}

static int mmio_write(struct iovirt_sriov *sr, uint32_t guest, uint32_t vf, uint64_t offset,
		      unsigned width, uint64_t val, uint32_t *kind)
{
	const struct iovirt_sriov_reg *g;
	int r = access_check(sr, guest, vf, offset, width, &g, kind);
	if (r)
		return r;
	struct sriov_vf *v = &sr->vfs[vf];
	switch (g->cls) {
	case IOVIRT_SRIOV_REG_SENSITIVE:
		v->refused_sensitive++;
		*kind = IOVIRT_SRIOV_EV_SENSITIVE;
		return IOVIRT_ESENSITIVE;
	case IOVIRT_SRIOV_REG_DMA_ADDR:
		/* a half-written address would reach the device unchecked */
		if (offset != g->offset || width != g->width) {
			v->refused_other++;
			return IOVIRT_EALIGN;
		}
		r = dma_range_ok(sr, v->asid, val, g->dma_len ? g->dma_len : 1, g->access);
		if (r) {
			v->refused_dma++;
			*kind = IOVIRT_SRIOV_EV_DMA_ADDR;
			return r;
		}
		break;
	default:
		break;
	}
	if (sr->ops->reg_write(sr->host, sr->p.vf_reg_dev, (uint64_t)vf * sr->p.vf_regs_size + offset,
			       width, val)) {
		*kind = IOVIRT_SRIOV_EV_HOST;
		return IOVIRT_EHOST;
	}
	v->mmio_writes++;
	return 0;
}

int iovirt_sriov_mmio_write(struct iovirt_sriov *sr, uint32_t guest, uint32_t vf, uint64_t offset,
			    unsigned width, uint64_t val)
{
	if (!sr)
		return IOVIRT_EINVAL; /* the caller's error, not a guest access */
	/* what the guest meant: the register sees only width bytes of it */
	if (width < 8)
		val &= (UINT64_C(1) << (8 * width)) - 1;
	uint32_t kind;
	int r = mmio_write(sr, guest, vf, offset, width, val, &kind);
	if (r)
		report(sr, kind, vf, guest, offset, width, val, r, true);
	return r;
}
