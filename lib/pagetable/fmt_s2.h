/* SPDX-License-Identifier: MIT */
/*
 * Arm SMMU stage 2 (VMSAv8-64 stage 2 translation, 4 KiB granule), bit for bit
 * (Arm ARM "VMSAv8-64 translation table format descriptors", "Stage 2 memory
 * region attributes", "Stage 2 data access permissions"; SMMUv3 STE.S2*):
 *   bits 1:0: 0b11 a table descriptor at lookup levels 0..2 and a page
 *     descriptor at level 3; 0b01 a block at levels 1 (1 GiB) and 2 (2 MiB);
 *     bit 0 clear: invalid;
 *   bits 47:12 the next table's or the output address (48-bit OA);
 *   block and page attributes: MemAttr[3:0] bits 5:2 = 0b1111 (Normal,
 *     Inner and Outer Write-Back Cacheable), S2AP bits 7:6 (bit 6 read,
 *     bit 7 write), SH bits 9:8 = 0b11 (Inner Shareable), AF bit 10 = 1 (set,
 *     so no Access flag fault); XN bits 54:53 = 0;
 *   stage 2 table descriptors carry no attributes (bits 63:52 and 11:2 are 0).
 * iovirt level L is lookup level 4 - L (level 1 = lookup level 3, 4 KiB).
 * The starting level follows the input size (VTCR/STE.S2T0SZ = 64 - width,
 * S2SL0 = 2 - starting level): 32 and 39 bits start at lookup level 1 (3
 * levels), 48 bits at level 0 (4 levels); stage 2 with a 4 KiB granule has no
 * 57-bit input (refused). None of these sizes needs a concatenated root: the
 * spec asks for one only when the input is wider than one table at the
 * starting level covers (40..43 bits at level 1, 31..34 at level 2), sizes
 * iovirt_space_params does not take.
 */
#ifndef IOVIRT_PAGETABLE_FMT_S2_H
#define IOVIRT_PAGETABLE_FMT_S2_H

#include <stdbool.h>
#include <stdint.h>

#include "fmt_common.h"
#include "iovirt/pagetable.h"

#define S2_LEAF_ATTRS (IOVIRT_S2_MEMATTR_WB | IOVIRT_S2_SH_INNER | IOVIRT_S2_AF)

/* Blocks at lookup levels 1 and 2, pages at level 3; level 0 holds tables only. */
static inline bool s2_leaf_ok(unsigned level)
{
	return level <= 3;
}

enum { s2_pa_bits = 48 };

static inline bool s2_present(uint64_t e)
{
	return (e & IOVIRT_S2_VALID) != 0;
}

static inline bool s2_is_leaf(uint64_t e, unsigned level)
{
	return level == 1 || !(e & IOVIRT_S2_TABLE);
}

static inline uint64_t s2_addr(uint64_t e, unsigned level)
{
	(void)level; /* a block's output address is aligned: bits below it are 0 */
	return e & IOVIRT_S2_ADDR_MASK;
}

static inline unsigned s2_prot(uint64_t e)
{
	return ((e & IOVIRT_S2_S2AP_R) ? IOVIRT_PROT_READ : 0u) | ((e & IOVIRT_S2_S2AP_W) ? IOVIRT_PROT_WRITE : 0u);
}

static inline uint64_t s2_mk_leaf(uint64_t pa, unsigned level, unsigned prot)
{
	/* A page at lookup level 3 is 0b11; a block is 0b01 (0b01 at level 3 is invalid). */
	uint64_t e = (pa & IOVIRT_S2_ADDR_MASK) | S2_LEAF_ATTRS | IOVIRT_S2_VALID |
		     (level == 1 ? IOVIRT_S2_TABLE : 0);
	if (prot & IOVIRT_PROT_READ)
		e |= IOVIRT_S2_S2AP_R;
	if (prot & IOVIRT_PROT_WRITE)
		e |= IOVIRT_S2_S2AP_W;
	return e;
}

static inline uint64_t s2_mk_table(uint64_t pa, unsigned level)
{
	(void)level;
	return (pa & IOVIRT_S2_ADDR_MASK) | IOVIRT_S2_VALID | IOVIRT_S2_TABLE;
}

static inline unsigned s2_levels_for_width(unsigned width)
{
	/* no 5-level stage 2 with a 4 KiB granule */
	return width == 57 ? 0 : fmt_radix_levels(width);
}

/* ---- a guest's entries (gdecode.h; Arm ARM "VMSAv8-64 translation table
 * format descriptors", "Stage 2 data access permissions", Access flag) ----
 * Bit 0 clear, a block at lookup level 0 (4 KiB granule without LPA2) or
 * 0b01 at level 3: invalid (translation fault); bits 50:48 set (RES0 above
 * a 48-bit output address: the Address size fault; bit 51 is DBM in blocks
 * and pages, ignored in tables) or a block's RES0 address bits below its
 * size (no FEAT_BBM nT): reserved; a table passes R and W down (stage 2 table descriptors
 * carry no permissions); AF clear: Access flag fault (no hardware AF update). */
#define S2_G_OA_HI (UINT64_C(7) << 48)

static inline void s2_gdecode(uint64_t e, unsigned level, struct fmt_gentry *d)
{
	*d = (struct fmt_gentry){ .kind = FMT_G_INVALID };
	if (!s2_present(e) || (!(e & IOVIRT_S2_TABLE) && (level == 1 || level == 4)))
		return;
	d->kind = FMT_G_RESERVED;
	d->addr = s2_addr(e, level);
	if (e & S2_G_OA_HI)
		return;
	if (!s2_is_leaf(e, level)) {
		d->kind = FMT_G_TABLE;
		d->prot = IOVIRT_PROT_READ | IOVIRT_PROT_WRITE;
		d->next = level - 1;
		return;
	}
	d->size = UINT64_C(1) << (12 + 9 * (level - 1));
	d->prot = s2_prot(e);
	d->af = (e & IOVIRT_S2_AF) ? 0u : (IOVIRT_PROT_READ | IOVIRT_PROT_WRITE);
	if (!(d->addr & (d->size - 1)))
		d->kind = FMT_G_LEAF;
}

#endif
