/* SPDX-License-Identifier: MIT */
/*
 * RISC-V IOMMU second stage (G-stage: Sv39x4, Sv48x4, Sv57x4), bit for bit
 * (RISC-V privileged spec, "Sv39/Sv48/Sv57" PTE format and "Two-Stage Address
 * Translation" (guest-physical translation); RISC-V IOMMU spec, "Device
 * context": iohgatp):
 *   bit 0 V, 1 R, 2 W, 3 X, 4 U, 5 G, 6 A, 7 D, 9:8 RSW, 53:10 PPN,
 *   60:54 reserved, 62:61 PBMT, 63 N;
 *   a leaf has R or W (or X) set: here R/W as asked, X clear, U set (every
 *     G-stage access counts as a user-mode access), A and D set (no hardware
 *     update needed), G, PBMT and N 0; R = 0 with W = 1 is reserved, so a
 *     write-only mapping cannot be expressed (iovirt_pt_map refuses it);
 *   a non-leaf has V alone (R, W, X, and U, A, D reserved: 0);
 *   a leaf at level 2 or 3 is a 2 MiB megapage or 1 GiB gigapage.
 * The x4 root is 16 KiB (2048 entries, four contiguous pages, 16 KiB aligned):
 * it indexes two more bits (GPA bits 40:30 in Sv39x4). The widths iovirt
 * takes (32, 39, 48, 57) use only its first 512 entries, which are the walk's
 * root table; the other three pages stay zero (not valid) so hardware faults
 * above the width. iohgatp.MODE: 8 Sv39x4 (32, 39 bits), 9 Sv48x4, 10 Sv57x4.
 */
#ifndef IOVIRT_PAGETABLE_FMT_RV_H
#define IOVIRT_PAGETABLE_FMT_RV_H

#include <stdbool.h>
#include <stdint.h>

#include "fmt_common.h"
#include "iovirt/pagetable.h"

#define RV_RWX (IOVIRT_RV_R | IOVIRT_RV_W | IOVIRT_RV_X)

static inline bool rv_leaf_ok(unsigned level)
{
	return level <= 3;
}

/* PPN bits 53:10: 44 bits of page number. */
enum { rv_pa_bits = 56 };

static inline bool rv_present(uint64_t e)
{
	return (e & IOVIRT_RV_V) != 0;
}

static inline bool rv_is_leaf(uint64_t e, unsigned level)
{
	return level == 1 || (e & RV_RWX) != 0;
}

static inline uint64_t rv_addr(uint64_t e, unsigned level)
{
	(void)level; /* a superpage's low PPN bits are 0 by construction */
	return ((e & IOVIRT_RV_PPN_MASK) >> IOVIRT_RV_PPN_SHIFT) << 12;
}

static inline unsigned rv_prot(uint64_t e)
{
	return ((e & IOVIRT_RV_R) ? IOVIRT_PROT_READ : 0u) | ((e & IOVIRT_RV_W) ? IOVIRT_PROT_WRITE : 0u);
}

static inline uint64_t rv_ppn(uint64_t pa)
{
	return ((pa >> 12) << IOVIRT_RV_PPN_SHIFT) & IOVIRT_RV_PPN_MASK;
}

static inline uint64_t rv_mk_leaf(uint64_t pa, unsigned level, unsigned prot)
{
	(void)level;
	uint64_t e = rv_ppn(pa) | IOVIRT_RV_V | IOVIRT_RV_U | IOVIRT_RV_A | IOVIRT_RV_D;
	if (prot & IOVIRT_PROT_READ)
		e |= IOVIRT_RV_R;
	if (prot & IOVIRT_PROT_WRITE)
		e |= IOVIRT_RV_W;
	return e;
}

static inline uint64_t rv_mk_table(uint64_t pa, unsigned level)
{
	(void)level;
	return rv_ppn(pa) | IOVIRT_RV_V;
}

static inline unsigned rv_levels_for_width(unsigned width)
{
	return fmt_radix_levels(width);
}

/* ---- a guest's entries (gdecode.h; RISC-V privileged spec, the
 * "Virtual Address Translation Process" steps and "Two-Stage Address
 * Translation"; the IOMMU spec's G-stage rules) ----
 * V clear: invalid; R = 0 with W = 1, bits 63:54 (reserved, PBMT and N
 * without Svpbmt/Svnapot), or a pointer with U, A or D set or at level 1:
 * reserved; a leaf without U grants nothing (G-stage accesses are user
 * accesses); A clear: access fault for every access, D clear: for writes
 * (no hardware A/D update); a superpage's low PPN bits set: reserved
 * (misaligned superpage); G and RSW ignored. Only the leaf grants. */
#define RV_G_RSVD (~UINT64_C(0) << 54)

static inline void rv_gdecode(uint64_t e, unsigned level, struct fmt_gentry *d)
{
	*d = (struct fmt_gentry){ .kind = FMT_G_RESERVED };
	if (!rv_present(e)) {
		d->kind = FMT_G_INVALID;
		return;
	}
	if ((e & RV_G_RSVD) || ((e & (IOVIRT_RV_R | IOVIRT_RV_W)) == IOVIRT_RV_W))
		return;
	d->addr = rv_addr(e, level);
	if (!(e & RV_RWX)) {
		if (level > 1 && !(e & (IOVIRT_RV_U | IOVIRT_RV_A | IOVIRT_RV_D))) {
			d->kind = FMT_G_TABLE;
			d->prot = IOVIRT_PROT_READ | IOVIRT_PROT_WRITE;
			d->next = level - 1;
		}
		return;
	}
	d->size = UINT64_C(1) << (12 + 9 * (level - 1));
	d->prot = (e & IOVIRT_RV_U) ? rv_prot(e) : 0u;
	d->af = !(e & IOVIRT_RV_A) ? (IOVIRT_PROT_READ | IOVIRT_PROT_WRITE)
				   : !(e & IOVIRT_RV_D) ? IOVIRT_PROT_WRITE : 0u;
	if (!(d->addr & (d->size - 1)))
		d->kind = FMT_G_LEAF;
}

#endif
