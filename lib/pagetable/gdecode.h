/* SPDX-License-Identifier: MIT */
/*
 * The format knowledge lib/pagetable lends to a walker of tables it did not
 * write (lib/viommu: a guest's own IOMMU tables). The one header of
 * lib/pagetable another module may include (docs/viommu.md, "Module arrows"):
 * it adds no state and no symbol, only the per-format entry decoders
 * (X_gdecode in fmt_*.h, next to the bit definitions the host walker builds
 * its entries with) and the geometry a context / device-table / stream-table
 * entry gives a walk.
 */
#ifndef IOVIRT_PAGETABLE_GDECODE_H
#define IOVIRT_PAGETABLE_GDECODE_H

#include <stdint.h>

#include "fmt_amd.h"
#include "fmt_common.h"
#include "fmt_rv.h"
#include "fmt_s2.h"
#include "fmt_vtd.h"
#include "iovirt/error.h"

/* Where a walk starts and what it may index. */
struct pt_ggeom {
	uint32_t levels;    /* level of the root table (1 = 4 KiB entries); the walk's bound */
	uint32_t width;     /* input bits: an iova at or above 2^width faults (64: none) */
	uint32_t root_bits; /* index bits of the root table: 9; Arm concatenated roots
	                     * up to 13; RISC-V x4 roots 11 */
	uint32_t pad;
	uint64_t root_align; /* alignment the root's address must have */
};

/* Bytes covered by one entry of a table at level. */
static inline unsigned pt_gshift(unsigned level)
{
	return 12 + 9 * (level - 1);
}

/* Arm stage 2 (4 KiB granule, no LPA2): S2SL0 names the starting lookup
 * level 2 - sl0; input width 64 - T0SZ in 25 .. 48; the starting table
 * resolves width - its shift bits: 1 .. 9, or up to 13 by concatenating up to
 * 16 tables, which the spec allows below lookup level 0 only. */
static inline int pt_ggeom_s2(uint32_t sl0, uint32_t t0sz, struct pt_ggeom *g)
{
	if (sl0 > 2 || t0sz < 16 || t0sz > 39)
		return IOVIRT_EINVAL;
	const unsigned level = 4 - (2 - sl0), width = 64 - t0sz;
	if (width <= pt_gshift(level))
		return IOVIRT_EINVAL;
	const unsigned bits = width - pt_gshift(level);
	if (bits > (sl0 == 2 ? 9u : 13u))
		return IOVIRT_EINVAL;
	*g = (struct pt_ggeom){ .levels = level, .width = width, .root_bits = bits > 9 ? bits : 9 };
	return 0;
}

/*
 * The geometry of format's walk from the fields of its context entry:
 *   VT-d:     levels 3..5 (context entry AW + 2: 39, 48, 57 bits), mode, t0sz 0
 *   AMD-Vi:   levels 1..6 (DTE Mode), mode, t0sz 0; Mode 6 takes all 64 bits
 *   Arm S2:   levels 0, mode = S2SL0, t0sz = S2T0SZ (pt_ggeom_s2)
 *   RISC-V:   levels 0, mode = iohgatp.MODE 8..10 (Sv39x4..Sv57x4), t0sz 0
 * 0, or IOVIRT_EINVAL (a field the format does not take, or out of range).
 */
static inline int pt_ggeom(uint32_t format, uint32_t levels, uint32_t mode, uint32_t t0sz,
			   struct pt_ggeom *g)
{
	*g = (struct pt_ggeom){ .root_bits = 9 };
	int err = 0;
	switch (format) {
	case IOVIRT_PT_FMT_VTD_SL:
		if (levels < 3 || levels > 5 || mode || t0sz)
			return IOVIRT_EINVAL;
		g->levels = levels;
		break;
	case IOVIRT_PT_FMT_AMD_V1:
		if (levels < 1 || levels > 6 || mode || t0sz)
			return IOVIRT_EINVAL;
		g->levels = levels;
		break;
	case IOVIRT_PT_FMT_ARM_S2:
		if (levels)
			return IOVIRT_EINVAL;
		err = pt_ggeom_s2(mode, t0sz, g);
		break;
	case IOVIRT_PT_FMT_RISCV_G:
		if (levels || t0sz || mode < 8 || mode > 10)
			return IOVIRT_EINVAL;
		g->levels = mode - 5;
		g->root_bits = 11;
		g->width = pt_gshift(g->levels) + 9 + 2;
		break;
	default:
		return IOVIRT_EINVAL;
	}
	if (err)
		return err;
	if (!g->width)
		g->width = g->levels == 6 ? 64 : pt_gshift(g->levels) + 9;
	g->root_align = UINT64_C(8) << g->root_bits;
	return 0;
}

/* Decodes entry e of a table at level in format (pt_ggeom accepted it). */
static inline void pt_gdecode(uint32_t format, uint64_t e, unsigned level, struct fmt_gentry *d)
{
	switch (format) {
	case IOVIRT_PT_FMT_AMD_V1:
		amd_gdecode(e, level, d);
		return;
	case IOVIRT_PT_FMT_ARM_S2:
		s2_gdecode(e, level, d);
		return;
	case IOVIRT_PT_FMT_RISCV_G:
		rv_gdecode(e, level, d);
		return;
	default:
		vtd_gdecode(e, level, d);
		return;
	}
}

#endif
