/* SPDX-License-Identifier: MIT */
/*
 * The remapping hardware's view of a space: a VT-d second-stage walk written
 * from the specification alone ("Second-Stage Paging Entries"), not from the
 * library's format code, over the raw table pages reached only through their
 * physical addresses (the POSIX adapter's fake physical address = CPU address
 * + IOVIRT_POSIX_PA_OFFSET). The one copy every test, stress program and fuzz
 * target uses; header-only and plain C, so that Criterion-free stress programs
 * and fuzz targets include it as they are.
 *   bit 0 R, bit 1 W: an entry with neither is not present (X, bit 2, is not
 *     used for DMA translation and not enabled);
 *   bit 7 PS: 1 in an SL-PDPE (level 3) or SL-PDE (level 2) maps a 1 GiB or
 *     2 MiB page; reserved (must be 0) in an SL-PML4E or SL-PML5E; a level-1
 *     entry always maps a 4 KiB page;
 *   bits 51:12: the next table, or the page frame; in a large page the bits
 *     below its size are reserved (must be 0);
 *   R and W are intersected over every level of the walk.
 * An entry with a reserved bit set faults, as in hardware.
 * Entries are read with acquire loads, like a walker beside writers.
 */
#ifndef IOVIRT_TESTS_VTD_WALK_H
#define IOVIRT_TESTS_VTD_WALK_H

#include <stdint.h>

#include "iovirt/posix.h"

#define VTD_WALK_FAULT (~UINT64_C(0))

struct vtd_walk {
	uint64_t pa;    /* the output address, or VTD_WALK_FAULT */
	unsigned rw;    /* R (bit 0) and W (bit 1) intersected over the walk */
	unsigned level; /* the level the walk ended at (1 = a 4 KiB leaf) */
	uint64_t entry; /* the last entry read: the leaf, or the one that faulted */
};

/* The table page at physical address pa, as the CPU reaches it. */
static inline const uint64_t *vtd_walk_page(uint64_t pa)
{
	return (const uint64_t *)(uintptr_t)(pa - IOVIRT_POSIX_PA_OFFSET);
}

/* Walks iova through the tables of a space (iovirt_pt_root's root and levels);
 * returns the output address, or VTD_WALK_FAULT. out may be NULL. */
static inline uint64_t vtd_walk(uint64_t root_pa, unsigned levels, uint64_t iova, struct vtd_walk *out)
{
	struct vtd_walk w = { .pa = VTD_WALK_FAULT, .rw = 3, .level = levels, .entry = 0 };
	uint64_t table = root_pa;
	for (unsigned l = levels; l >= 1; l--) {
		const unsigned shift = 12 + 9 * (l - 1);
		const uint64_t low = (UINT64_C(1) << shift) - 1;
		const uint64_t e = __atomic_load_n(&vtd_walk_page(table)[(iova >> shift) & 511], __ATOMIC_ACQUIRE);
		const uint64_t addr = e & UINT64_C(0x000ffffffffff000); /* bits 51:12 */
		const int ps = (e >> 7) & 1;
		w.level = l;
		w.entry = e;
		if (!(e & 3))
			break; /* not present */
		w.rw &= (unsigned)(e & 3);
		if (ps && l > 3)
			break; /* PS is reserved above the SL-PDPE */
		if (l == 1 || ps) {
			if (addr & low)
				break; /* a large page's frame bits below its size are reserved */
			w.pa = addr | (iova & low);
			break;
		}
		table = addr;
	}
	if (w.pa == VTD_WALK_FAULT)
		w.rw = 0;
	if (out)
		*out = w;
	return w.pa;
}

#endif
