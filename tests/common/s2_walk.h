/* SPDX-License-Identifier: MIT */
/*
 * An SMMU's view of an Arm stage 2 table (VMSAv8-64, 4 KiB granule), written
 * from the Arm ARM alone ("VMSAv8-64 translation table format descriptors",
 * "Stage 2 data access permissions", the stage 2 starting level from
 * S2T0SZ/S2SL0), over the raw pages reached through physical addresses:
 *   input bits at or above 64 - T0SZ must be 0 (translation fault);
 *   the walk starts at lookup level 2 - SL0; level L indexes input bits
 *     [47 - 9L : 39 - 9L];
 *   bit 0 clear: invalid; bits 1:0 = 0b11 a table (levels 0..2) or a page
 *     (level 3); 0b01 a block at levels 1 and 2, invalid at 0 and 3;
 *   bits 47:12 address (a block's bits below its size are RES0: fault here);
 *   AF (bit 10) clear: Access flag fault; S2AP bits 7:6 = W, R.
 * The result is a struct vtd_walk; level is iovirt's (4 - lookup level).
 */
#ifndef IOVIRT_TESTS_S2_WALK_H
#define IOVIRT_TESTS_S2_WALK_H

#include "vtd_walk.h"

static inline uint64_t s2_walk(uint64_t root_pa, unsigned t0sz, unsigned sl0, uint64_t iova, struct vtd_walk *out)
{
	struct vtd_walk w = { .pa = VTD_WALK_FAULT, .rw = 0, .level = 0, .entry = 0 };
	uint64_t table = root_pa;
	if (sl0 > 2 || (t0sz < 64 && (iova >> (64 - t0sz)) != 0))
		goto done;
	for (unsigned lookup = 2 - sl0; lookup <= 3; lookup++) {
		const unsigned shift = 39 - 9 * lookup;
		const uint64_t e = __atomic_load_n(&vtd_walk_page(table)[(iova >> shift) & 511], __ATOMIC_ACQUIRE);
		const uint64_t addr = e & UINT64_C(0x0000fffffffff000);
		w.level = 4 - lookup;
		w.entry = e;
		if (!(e & 1))
			break;
		const int tbl = (e >> 1) & 1;
		if (lookup < 3 && tbl) {
			table = addr;
			continue;
		}
		if (!tbl && (lookup == 0 || lookup == 3))
			break; /* no block at level 0; 0b01 is invalid at level 3 */
		const uint64_t low = (UINT64_C(1) << shift) - 1;
		if ((addr & low) || !(e & (UINT64_C(1) << 10)))
			break; /* RES0 address bits, or AF clear */
		w.rw = (unsigned)((e >> 6) & 1) | (unsigned)(((e >> 7) & 1) << 1);
		w.pa = addr | (iova & low);
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
