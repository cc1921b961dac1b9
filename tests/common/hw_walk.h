/* SPDX-License-Identifier: MIT */
/*
 * The hardware's walk of a space, for any iovirt table format: the
 * specification walker of the format (vtd_walk.h, amd_walk.h, s2_walk.h,
 * rv_walk.h), started from what iovirt_pt_root_info reports, as a context or
 * device-table entry would carry it.
 */
#ifndef IOVIRT_TESTS_HW_WALK_H
#define IOVIRT_TESTS_HW_WALK_H

#include "iovirt/pagetable.h"

#include "amd_walk.h"
#include "rv_walk.h"
#include "s2_walk.h"
#include "vtd_walk.h"

static inline uint64_t hw_walk_info(const struct iovirt_pt_root_info *ri, uint64_t iova, struct vtd_walk *out)
{
	switch (ri->format) {
	case IOVIRT_PT_FMT_AMD_V1:
		return amd_walk(ri->root_pa, ri->mode, iova, out);
	case IOVIRT_PT_FMT_ARM_S2:
		return s2_walk(ri->root_pa, ri->t0sz, ri->mode, iova, out);
	case IOVIRT_PT_FMT_RISCV_G:
		return rv_walk(ri->root_pa, ri->mode, iova, out);
	default:
		if (iova >> ri->width) { /* VT-d: beyond the AGAW the walk faults */
			if (out)
				*out = (struct vtd_walk){ .pa = VTD_WALK_FAULT };
			return VTD_WALK_FAULT;
		}
		return vtd_walk(ri->root_pa, ri->levels, iova, out);
	}
}

#endif
