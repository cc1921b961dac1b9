/* SPDX-License-Identifier: MIT */
/*
 * AMD-Vi (AMD I/O Virtualization Technology) host page tables, version 1
 * format, bit for bit (AMD IOMMU specification, "I/O Page Tables for Host
 * Translations": "Page Directory Entry (PDE)" and "Page Table Entry (PTE)"):
 *   bit 0 PR (present); bits 8:5 A/D/ignored (left 0);
 *   bits 11:9 Next Level: in a PDE the level of the table it points to
 *     (here always the next one down: a smaller value would skip levels);
 *     0 in a PTE, which maps a page of its level's natural size (4 KiB at
 *     level 1, 2 MiB at level 2, 1 GiB at level 3); 7 (a page size encoded
 *     in the address's low bits) is never written, since every page iovirt
 *     maps has a level's natural size;
 *   bits 51:12 the next table's or the page's address; 58:52 reserved (0);
 *   bit 59 U (0: no ATS-only hint), bit 60 FC (force coherent: set in PTEs,
 *     so DMA snoops the CPU caches), bit 61 IR, bit 62 IW;
 *   IR and IW are ANDed over every level, so PDEs carry both.
 * The Device Table Entry's Mode field (bits 11:9) is the number of levels.
 */
#ifndef IOVIRT_PAGETABLE_FMT_AMD_H
#define IOVIRT_PAGETABLE_FMT_AMD_H

#include <stdbool.h>
#include <stdint.h>

#include "fmt_common.h"
#include "iovirt/pagetable.h"

/* 2 MiB and 1 GiB PTEs at levels 2 and 3 (larger pages are not in iovirt_space_params.pgsizes). */
static inline bool amd_leaf_ok(unsigned level)
{
	return level <= 3;
}

/* Bits 51:12 hold the address. */
enum { amd_pa_bits = 52 };

static inline unsigned amd_next_level(uint64_t e)
{
	return (unsigned)(e >> IOVIRT_AMD_NL_SHIFT) & 7u;
}

static inline bool amd_present(uint64_t e)
{
	return (e & IOVIRT_AMD_PR) != 0;
}

static inline bool amd_is_leaf(uint64_t e, unsigned level)
{
	return level == 1 || amd_next_level(e) == 0;
}

static inline uint64_t amd_addr(uint64_t e, unsigned level)
{
	(void)level; /* a natural-size page's frame is aligned: its low bits are 0 */
	return e & IOVIRT_AMD_ADDR_MASK;
}

static inline unsigned amd_prot(uint64_t e)
{
	return ((e & IOVIRT_AMD_IR) ? IOVIRT_PROT_READ : 0u) | ((e & IOVIRT_AMD_IW) ? IOVIRT_PROT_WRITE : 0u);
}

static inline uint64_t amd_mk_leaf(uint64_t pa, unsigned level, unsigned prot)
{
	(void)level; /* Next Level 0 at every level: the level's natural page size */
	uint64_t e = (pa & IOVIRT_AMD_ADDR_MASK) | IOVIRT_AMD_PR | IOVIRT_AMD_FC;
	if (prot & IOVIRT_PROT_READ)
		e |= IOVIRT_AMD_IR;
	if (prot & IOVIRT_PROT_WRITE)
		e |= IOVIRT_AMD_IW;
	return e;
}

/* A PDE at `level` pointing to the table one level down. */
static inline uint64_t amd_mk_table(uint64_t pa, unsigned level)
{
	return (pa & IOVIRT_AMD_ADDR_MASK) | IOVIRT_AMD_PR | IOVIRT_AMD_IR | IOVIRT_AMD_IW |
	       ((uint64_t)(level - 1) << IOVIRT_AMD_NL_SHIFT);
}

/* Mode 3 (39 bits) is the smallest that holds 32 bits; 4: 48 bits, 5: 57. */
static inline unsigned amd_levels_for_width(unsigned width)
{
	return fmt_radix_levels(width);
}

/* ---- a guest's entries (gdecode.h; AMD IOMMU spec, "I/O Page Tables for
 * Host Translations": PDE/PTE formats, Next Level and page size encoding) ----
 * PR clear: not present; bits 58:52 reserved, 60:52 in a PDE (U and FC are
 * PTE fields only); IR/IW intersected over the walk. Next Level 0: a page of the level's natural size (frame bits below it
 * reserved); 7: a page of 2^(13 + n) bytes, n the ones in the address from
 * bit 12 up, which must lie strictly between this level's natural size and
 * the next one's (the sizes a level-7 PTE at this level encodes; others
 * reserved); 1 .. level - 1: a PDE naming its table's level (the walker
 * checks that skipped levels' address bits are 0); level or more: reserved. */
#define AMD_G_RSVD (UINT64_C(0x7f) << 52)
#define AMD_G_PDE_RSVD (UINT64_C(0x1ff) << 52)

static inline void amd_gdecode(uint64_t e, unsigned level, struct fmt_gentry *d)
{
	*d = (struct fmt_gentry){ .kind = FMT_G_RESERVED, .prot = amd_prot(e) };
	if (!amd_present(e)) {
		d->kind = FMT_G_INVALID;
		return;
	}
	const unsigned nl = amd_next_level(e), shift = 12 + 9 * (level - 1);
	d->addr = amd_addr(e, level);
	if (e & AMD_G_RSVD)
		return;
	if (nl == 0 || nl == 7) {
		unsigned bits = shift;
		if (nl == 7) {
			bits = 13 + (unsigned)__builtin_ctzll(~(d->addr >> 12));
			if (bits <= shift || bits >= shift + 9)
				return;
		}
		d->size = UINT64_C(1) << bits;
		if (nl == 7)
			d->addr &= ~(d->size - 1);
		else if (d->addr & (d->size - 1))
			return;
		d->kind = FMT_G_LEAF;
		return;
	}
	if (nl < level && !(e & AMD_G_PDE_RSVD)) {
		d->kind = FMT_G_TABLE;
		d->next = nl;
	}
}

#endif
