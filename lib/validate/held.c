/* SPDX-License-Identifier: MIT */
/*
 * A held region's fast check (vb_held_fill, vb_held_validate):
 * for a holder that validates many one-segment DMAs in a region it holds
 * (lib/pin's domains), the region's share of what a snapshot entry gives the
 * lean tiers, taken once; a segment is then checked against it without a
 * lookup. What it does not accept is left to iovirt_sg_validate.
 */
#include "validate/held.h"
#include "validate/internal.h"

void vb_held_fill(const struct iovirt_gmap *map, const struct iovirt_gmap_region *reg,
			     struct vb_held *f)
{
	const struct iovirt_region *d = &reg->desc;
	*f = (struct vb_held){
		.gpa = d->gpa,
		.last = d->gpa + (d->length - 1),
		.hva = d->hva,
		.hpa = (d->flags & IOVIRT_REGION_HPA) ? d->hpa : IOVIRT_HPA_NONE, /* as ent_fill */
		.dirs = vb_fast_of(map, d),
	};
}

int vb_held_validate(const struct vb_held *f, const struct iovirt_seg *seg,
			    struct iovirt_host_seg *out)
{
	uint64_t gpa = seg->gpa, len = seg->len;
	uint32_t dir = seg->dir;
	/* What sg_one_lean accepts (its entry e is this region: a held region
	 * cannot leave the snapshot, and regions never overlap): gpa in the
	 * region, 0 < len <= the rest of it (last - gpa < 2^64 - 1: a region is
	 * shorter than 2^64), a direction of the fast set; the default policy
	 * sets no other limit. */
	if (IOVIRT_UNLIKELY(gpa < f->gpa || gpa > f->last || len - 1 > f->last - gpa ||
			    !vb_held_dir_ok(f, dir)))
		return 0;
	*out = vb_held_entry(f, gpa, len, dir);
	return 1;
}
