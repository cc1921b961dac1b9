/* SPDX-License-Identifier: MIT */
/*
 * The IOMMU's view of an AMD-Vi v1 host page table, written from the AMD I/O
 * Virtualization Technology specification ("I/O Page Tables for Host
 * Translations", PDE and PTE formats, "Next Level" and large pages) alone,
 * over the raw pages reached through physical addresses (as vtd_walk.h):
 *   bit 0 PR: clear, not present (fault);
 *   bits 11:9 Next Level (NL): 1..6 a PDE pointing to a table of level NL
 *     (NL >= the current level is invalid; NL below the next level skips
 *     levels, whose address bits must then be 0); 0 a PTE mapping the
 *     current level's natural size; 7 a PTE whose size is encoded in the
 *     address: with n ones from bit 12 up, the page is 2^(13 + n) bytes;
 *   bits 51:12 address; bits 58:52 reserved (fault), 60:52 in a PDE;
 *   bit 61 IR, bit 62 IW, ANDed over every level.
 * The result is a struct vtd_walk (pa, rw, level, entry), as every spec walker gives.
 */
#ifndef IOVIRT_TESTS_AMD_WALK_H
#define IOVIRT_TESTS_AMD_WALK_H

#include "vtd_walk.h"

static inline uint64_t amd_walk(uint64_t root_pa, unsigned mode, uint64_t iova, struct vtd_walk *out)
{
	struct vtd_walk w = { .pa = VTD_WALK_FAULT, .rw = 3, .level = mode, .entry = 0 };
	uint64_t table = root_pa;
	unsigned l = mode;
	if (mode < 6 && (iova >> (12 + 9 * mode)) != 0)
		goto done; /* beyond the mode's address space */
	while (l >= 1) {
		const unsigned shift = 12 + 9 * (l - 1);
		const uint64_t e = __atomic_load_n(&vtd_walk_page(table)[(iova >> shift) & 511], __ATOMIC_ACQUIRE);
		const uint64_t addr = e & UINT64_C(0x000ffffffffff000);
		const unsigned nl = (unsigned)(e >> 9) & 7;
		w.level = l;
		w.entry = e;
		if (!(e & 1) || (e & (UINT64_C(0x7f) << 52)))
			break; /* not present, or a reserved bit */
		w.rw &= ((e >> 61) & 1) | (((e >> 62) & 1) << 1);
		if (nl == 0 || nl == 7) {
			uint64_t size = UINT64_C(1) << shift;
			if (nl == 7) {
				const unsigned ones = (unsigned)__builtin_ctzll(~(addr >> 12));
				size = UINT64_C(1) << (13 + ones);
			}
			const uint64_t base = addr & ~(size - 1);
			if (nl == 0 && (addr & (size - 1)))
				break;
			w.pa = base | (iova & (size - 1));
			break;
		}
		if (nl >= l || (e & (UINT64_C(3) << 59)))
			break; /* a PDE must point down; U and FC are PTE fields */
		for (unsigned k = nl + 1; k < l; k++)
			if ((iova >> (12 + 9 * (k - 1))) & 511)
				goto done; /* a skipped level's address bits must be 0 */
		table = addr;
		l = nl;
	}
done:
	if (w.pa == VTD_WALK_FAULT)
		w.rw = 0;
	if (out)
		*out = w;
	return w.pa;
}

#endif
