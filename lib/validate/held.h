/* SPDX-License-Identifier: MIT */
/*
 * lib/validate, internal: a held region's fast check, for a holder that
 * validates many one-segment DMAs in a region it holds (lib/pin's domains):
 * no lookup per segment. Internal rather than public: it serves one caller
 * inside the library, and its struct would be a layout promise.
 *  - vb_held_fill: fills *f from reg, which the caller holds
 *    (iovirt_gmap_region_get, or a lease in use). *f describes reg for as long
 *    as the caller holds it. Cannot fail. Lock-free.
 *  - vb_held_validate: one segment against *f. Returns 1 and out[0]
 *    exactly as iovirt_sg_validate(map, NULL, seg, 1, out, out_cap, NULL)
 *    with out_cap >= 1 would, while reg is held, when seg lies in the region,
 *    the region is RAM of the map's guest with one contiguous host range and
 *    seg's direction is within its access bits. Returns 0, out untouched, for
 *    anything else (an error or another region included): the caller then
 *    validates with iovirt_sg_validate, which decides and says why. Cannot
 *    fail. No allocation, no host callback.
 */
#ifndef IOVIRT_VALIDATE_HELD_H
#define IOVIRT_VALIDATE_HELD_H

#include <stdint.h>

#include "iovirt/validate.h"

struct vb_held {
	uint64_t gpa, last; /* the region's first and last byte */
	void *hva;          /* host CPU address of gpa, or NULL */
	uint64_t hpa;       /* host physical address of gpa, or IOVIRT_HPA_NONE */
	uint32_t dirs;      /* bit d: direction d is accepted here; 0: none is */
};

__attribute__((visibility("hidden"))) void vb_held_fill(const struct iovirt_gmap *map,
						       const struct iovirt_gmap_region *reg,
						       struct vb_held *f);
__attribute__((visibility("hidden"))) int vb_held_validate(const struct vb_held *f,
							  const struct iovirt_seg *seg,
							  struct iovirt_host_seg *out);

#endif
