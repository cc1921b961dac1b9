/* SPDX-License-Identifier: MIT */
/* Shared by the ring fuzz targets: one guest's RAM described twice, as one
 * region and as adjacent regions over the same memory, so that an input can
 * place its rings and tables across a region boundary (issue 15 §6) or not. */
#ifndef IOVIRT_FUZZ_GUEST_H
#define IOVIRT_FUZZ_GUEST_H

#include <stdint.h>
#include <stdlib.h>

#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#include "check.h"

/*
 * Allocates `bytes` of guest RAM at gpa for guest, creates the POSIX host and
 * two maps of it: *whole (one region, regs[0]) and *pieces (the regions
 * [cut[k], cut[k + 1]) for k < n, regs[1..n]; cut[0] = 0, cut[n] = bytes).
 * Aborts on failure: it runs once per process, before the first input.
 */
static inline uint8_t *fuzz_guest_maps(uint32_t guest, uint64_t gpa, uint64_t bytes,
				       const uint64_t *cut, int n, struct iovirt_posix **px,
				       struct iovirt_gmap **whole, struct iovirt_gmap **pieces,
				       struct iovirt_region *regs)
{
	uint8_t *mem = aligned_alloc(4096, bytes);
	*px = iovirt_posix_create();
	CHECK(mem && *px, "setup");
	CHECK(!iovirt_posix_guest_add(*px, guest, gpa, mem, bytes), "guest");
	struct iovirt_gmap_params gp = { sizeof(gp), guest, 0 };
	CHECK(!iovirt_gmap_create(iovirt_posix_ops(), *px, &gp, whole), "map");
	CHECK(!iovirt_gmap_create(iovirt_posix_ops(), *px, &gp, pieces), "map");
	regs[0] = (struct iovirt_region){ .size = sizeof(regs[0]), .gpa = gpa, .length = bytes,
					  .kind = IOVIRT_REGION_RAM, .access = 3, .owner = guest,
					  .hva = mem };
	CHECK(!iovirt_gmap_add(*whole, &regs[0]), "region");
	for (int k = 0; k < n; k++) {
		regs[k + 1] = regs[0];
		regs[k + 1].gpa = gpa + cut[k];
		regs[k + 1].length = cut[k + 1] - cut[k];
		regs[k + 1].hva = mem + cut[k];
		CHECK(!iovirt_gmap_add(*pieces, &regs[k + 1]), "region");
	}
	return mem;
}

#endif
