/* SPDX-License-Identifier: MIT */
/*
 * Intel VT-d second-stage (SL) paging entries, bit for bit (VT-d spec,
 * "Second-Stage Paging Entries"):
 *   bit 0 R, bit 1 W, bit 2 X; bits 5:3 EMT and bit 6 IPAT (leaves only);
 *   bit 7 PS: 1 in an SL-PDPE or SL-PDE that maps a 1 GiB or 2 MiB page;
 *   bit 11 SNP (leaves); bits 51:12 the address (table or page frame);
 *   an entry is present when any of R, W, X is set.
 * Non-leaf entries carry R and W, since the walk intersects the permissions of
 * every level.
 */
#ifndef IOVIRT_PAGETABLE_FMT_VTD_H
#define IOVIRT_PAGETABLE_FMT_VTD_H

#include <stdbool.h>
#include <stdint.h>

#include "fmt_common.h"
#include "iovirt/pagetable.h"

#define VTD_PRESENT (IOVIRT_VTD_SL_R | IOVIRT_VTD_SL_W | IOVIRT_VTD_SL_X)

/* ---- per-level facts and limits: the walk asks these, never knows them ---- */

/* Which levels may hold a leaf: SL-PTE (4 KiB), SL-PDE (2 MiB) and SL-PDPE
 * (1 GiB) pages; PS is reserved in the SL-PML4E and SL-PML5E. */
static inline bool vtd_leaf_ok(unsigned level)
{
	return level <= 3;
}

/* Physical addresses an entry can hold: below 2^52 (bits 51:12). A constant
 * expression, so that the format's struct pt_impl can carry it. */
enum { vtd_pa_bits = 52 };

/* ---- entries ---- */

static inline bool vtd_present(uint64_t e)
{
	return (e & VTD_PRESENT) != 0;
}

static inline bool vtd_is_leaf(uint64_t e, unsigned level)
{
	return level == 1 || (e & IOVIRT_VTD_SL_PS);
}

static inline uint64_t vtd_addr(uint64_t e, unsigned level)
{
	/* A large page's frame is aligned to its size; the low bits are 0 by construction. */
	(void)level;
	return e & IOVIRT_VTD_SL_ADDR_MASK;
}

static inline unsigned vtd_prot(uint64_t e)
{
	return (unsigned)(e & (IOVIRT_VTD_SL_R | IOVIRT_VTD_SL_W)); /* R = bit 0, W = bit 1 */
}

static inline uint64_t vtd_mk_leaf(uint64_t pa, unsigned level, unsigned prot)
{
	/* R and W are IOVIRT_PROT_READ and _WRITE's bits: one OR (issue 13) */
	_Static_assert(IOVIRT_VTD_SL_R == IOVIRT_PROT_READ && IOVIRT_VTD_SL_W == IOVIRT_PROT_WRITE, "prot bits");
	uint64_t e = (pa & IOVIRT_VTD_SL_ADDR_MASK) | (prot & (IOVIRT_VTD_SL_R | IOVIRT_VTD_SL_W));
	if (level > 1)
		e |= IOVIRT_VTD_SL_PS;
	return e;
}

static inline uint64_t vtd_mk_table(uint64_t pa, unsigned level)
{
	(void)level;
	return (pa & IOVIRT_VTD_SL_ADDR_MASK) | IOVIRT_VTD_SL_R | IOVIRT_VTD_SL_W;
}

/* 3-level tables serve 32- and 39-bit spaces (the smallest VT-d AGAW is 39 bits). */
static inline unsigned vtd_levels_for_width(unsigned width)
{
	return fmt_radix_levels(width);
}

/* ---- a guest's entries (gdecode.h; VT-d spec "Second-Stage Paging
 * Entries" and "Second-Stage Translation", the reserved-field rules) ----
 * Present when R or W is set (X, bit 2, serves no DMA translation: ignored);
 * bits 63 and 61:52 ignored; bit 62 (TM) reserved; bit 11 (SNP) reserved
 * outside leaves (a leaf may carry it: the vIOMMU reports snoop control);
 * PS (bit 7) reserved above the SL-PDPE; a large page's frame bits below its
 * size reserved. R and W are intersected over the walk (prot of each entry). */
#define VTD_G_TM (UINT64_C(1) << 62)
#define VTD_G_SNP (UINT64_C(1) << 11)

static inline void vtd_gdecode(uint64_t e, unsigned level, struct fmt_gentry *d)
{
	*d = (struct fmt_gentry){ .kind = FMT_G_RESERVED, .prot = vtd_prot(e) };
	if (!(e & (IOVIRT_VTD_SL_R | IOVIRT_VTD_SL_W))) {
		d->kind = FMT_G_INVALID;
		return;
	}
	const bool leaf = vtd_is_leaf(e, level);
	if ((e & VTD_G_TM) || (leaf && !vtd_leaf_ok(level)) || (!leaf && (e & VTD_G_SNP)))
		return;
	d->addr = vtd_addr(e, level);
	if (!leaf) {
		d->kind = FMT_G_TABLE;
		d->next = level - 1;
		return;
	}
	d->size = UINT64_C(1) << (12 + 9 * (level - 1));
	if (!(d->addr & (d->size - 1)))
		d->kind = FMT_G_LEAF;
}

#endif
