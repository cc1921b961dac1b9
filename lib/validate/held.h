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

#include <stdbool.h>
#include <stdint.h>

#include "common/checked.h"
#include "iovirt/validate.h"

struct vb_held {
	uint64_t gpa, last; /* the region's first and last byte */
	void *hva;          /* host CPU address of gpa, or NULL */
	uint64_t hpa;       /* host physical address of gpa, or IOVIRT_HPA_NONE */
	uint32_t dirs;      /* bit d: direction d is accepted here; 0: none is */
};

/* Bytes of other data in the first and last 4 KiB page of [gpa, gpa + len). */
static inline uint32_t vb_seg_exposed(uint64_t gpa, uint64_t len)
{
	return (uint32_t)((gpa & IOVIRT_PAGE_MASK) + ((0 - (gpa + len)) & IOVIRT_PAGE_MASK));
}

/*
 * vb_held_validate in two inline steps, for a caller that has checked the
 * segment's bounds against the region itself (gpa in [f->gpa, f->last],
 * len - 1 <= f->last - gpa) in its own loop: vb_held_dir_ok, then the entry
 * vb_held_entry makes.
 */
static inline bool vb_held_dir_ok(const struct vb_held *f, uint32_t dir)
{
	return dir <= (IOVIRT_DEV_READ | IOVIRT_DEV_WRITE) && ((f->dirs >> dir) & 1);
}

static inline struct iovirt_host_seg vb_held_entry(const struct vb_held *f, uint64_t gpa,
						   uint64_t len, uint32_t dir)
{
	uint64_t off = gpa - f->gpa;
	return (struct iovirt_host_seg){
		.hva = f->hva ? (uint8_t *)f->hva + off : NULL,
		.hpa = f->hpa == IOVIRT_HPA_NONE ? IOVIRT_HPA_NONE : f->hpa + off,
		.gpa = gpa,
		.len = len,
		.dir = dir,
		.exposed = vb_seg_exposed(gpa, len),
	};
}

__attribute__((visibility("hidden"))) void vb_held_fill(const struct iovirt_gmap *map,
						       const struct iovirt_gmap_region *reg,
						       struct vb_held *f);
__attribute__((visibility("hidden"))) int vb_held_validate(const struct vb_held *f,
							  const struct iovirt_seg *seg,
							  struct iovirt_host_seg *out);

#endif
