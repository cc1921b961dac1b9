/* SPDX-License-Identifier: MIT */
/*
 * lib/pin and segments across adjacent regions. Validation accepts a segment
 * that runs from one region into the next (issue 15), but a pin holds the one
 * region each segment starts in: a pinned segment must stay inside it, or the
 * next region could be removed while the device uses it.
 */
#include "pin_test.h"

#define C_GPA (PT_GPA + PT_BYTES) /* region C: directly after A */
#define C_BYTES (1ull << 20)

static void add_c(struct pt *t)
{
	struct iovirt_region c = { .size = sizeof(c), .gpa = C_GPA, .length = C_BYTES,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
				   .flags = IOVIRT_REGION_HPA, .hpa = 0xc0000000ull };
	cr_assert_eq(iovirt_gmap_add(t->map, &c), 0);
}

/* A DMA whose segment runs from A into C is refused (ECROSS) by every pin
 * entry point, pins nothing and holds nothing; the same bytes as two segments
 * are pinned, holding both regions. */
Test(pin_span, dma_across_regions)
{
	struct pt t;
	pt_init(&t);
	add_c(&t);
	struct pt_snap before, after;
	pt_snap_take(&t, &before);
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	struct iovirt_pin_handle h;
	struct iovirt_seg across = pt_seg(C_GPA - 4096, 8192);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &across, 1, out, 8, &res, &h), IOVIRT_ECROSS);
	struct iovirt_sg_policy pol = { .size = sizeof(pol) };
	cr_assert_eq(iovirt_pin_sg(t.dom, &pol, &across, 1, out, 8, &res, &h), IOVIRT_ECROSS,
		     "a caller's policy without the strict flag too");
	pt_snap_take(&t, &after);
	pt_snap_same(&before, &after);
	cr_assert_eq(iovirt_gmap_in_use(t.map, C_GPA), 0, "C not held");

	struct iovirt_seg two[2] = { pt_seg(C_GPA - 4096, 4096), pt_seg(C_GPA, 4096) };
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, two, 2, out, 8, &res, &h), 2);
	cr_assert_gt(iovirt_gmap_in_use(t.map, C_GPA), 0, "C held while the DMA lives");
	cr_assert_eq(iovirt_gmap_remove(t.map, C_GPA), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	pt_fini(&t);
}

/* A mapping across A and C is refused even where the boundary falls between
 * two of the pieces the mapping is validated in (each piece alone lies in one
 * region). */
Test(pin_span, map_across_regions)
{
	struct pt t;
	pt_init(&t);
	add_c(&t);
	struct pt_snap before, after;
	pt_snap_take(&t, &before);
	struct iovirt_pin_handle h;
	uint64_t iova = 0;
	/* A is 64 pages: the boundary is one piece (64 pages) past A's start */
	int r = iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA, PT_BYTES + 4096, PRW, 0, &iova, &h);
	cr_assert_lt(r, 0, "a mapping that runs past A into C: %s", iovirt_err_name(r));
	r = iovirt_pin_map(t.dom, t.io, PT_ASID, C_GPA - 4096, 8192, PRW, 0, &iova, &h);
	cr_assert_eq(r, IOVIRT_ECROSS, "%s", iovirt_err_name(r));
	pt_snap_take(&t, &after);
	pt_snap_same(&before, &after);
	cr_assert_eq(iovirt_gmap_in_use(t.map, C_GPA), 0, "C not held");
	pt_fini(&t);
}
