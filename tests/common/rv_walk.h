/* SPDX-License-Identifier: MIT */
/*
 * A RISC-V IOMMU's G-stage walk (Sv39x4, Sv48x4, Sv57x4), written from the
 * privileged spec's translation algorithm and its "Two-Stage Address
 * Translation" rules alone, over the raw pages reached through physical
 * addresses (the root: iohgatp.PPN, a 16 KiB table of 2048 entries):
 *   GPA bits above 2 + the Sv width must be 0 (guest-page fault);
 *   the root level indexes 11 bits, the others 9;
 *   V clear, R = 0 with W = 1, or a reserved bit (60:54, PBMT 62:61, N 63
 *     without their extensions) set: fault;
 *   R = W = X = 0: a pointer to the next level (its U, A, D must be 0, and
 *     there must be a next level); otherwise a leaf: U must be 1 (G-stage
 *     accesses are user accesses), A must be 1 and D 1 for writes (Svade:
 *     here both are set, so D is checked for the W permission), a
 *     superpage's low PPN bits must be 0;
 *   permissions are the leaf's R and W (no intersection across levels).
 * The result is a struct vtd_walk.
 */
#ifndef IOVIRT_TESTS_RV_WALK_H
#define IOVIRT_TESTS_RV_WALK_H

#include "vtd_walk.h"

static inline uint64_t rv_walk(uint64_t root_pa, unsigned iohgatp_mode, uint64_t gpa, struct vtd_walk *out)
{
	struct vtd_walk w = { .pa = VTD_WALK_FAULT, .rw = 0, .level = 0, .entry = 0 };
	const unsigned levels = iohgatp_mode - 5; /* 8 Sv39x4: 3, 9 Sv48x4: 4, 10 Sv57x4: 5 */
	uint64_t table = root_pa;
	if (iohgatp_mode < 8 || iohgatp_mode > 10 || (gpa >> (12 + 9 * levels + 2)) != 0)
		goto done;
	for (unsigned i = levels; i >= 1; i--) {
		const unsigned shift = 12 + 9 * (i - 1);
		const uint64_t idx = (gpa >> shift) & (i == levels ? 2047 : 511);
		const uint64_t e = __atomic_load_n(&vtd_walk_page(table)[idx], __ATOMIC_ACQUIRE);
		const uint64_t ppn = (e >> 10) & ((UINT64_C(1) << 44) - 1);
		const unsigned r = (e >> 1) & 1, wr = (e >> 2) & 1, x = (e >> 3) & 1;
		w.level = i;
		w.entry = e;
		if (!(e & 1) || (!r && wr) || (e >> 54))
			break;
		if (!r && !wr && !x) {
			if (i == 1 || (e & 0xd0)) /* U (4), A (6), D (7) reserved in a pointer */
				break;
			table = ppn << 12;
			continue;
		}
		const uint64_t low = (UINT64_C(1) << shift) - 1;
		if (!(e & 0x10) || !(e & 0x40) || ((ppn << 12) & low))
			break; /* U clear, A clear, or a misaligned superpage */
		w.rw = r | ((wr && (e & 0x80)) ? 2u : 0u);
		w.pa = (ppn << 12) | (gpa & low);
		break;
	}
done:
	if (w.pa == VTD_WALK_FAULT)
		w.rw = 0;
	if (out)
		*out = w;
	return w.pa;
}

#endif
