/* SPDX-License-Identifier: MIT */
/*
 * The tables are real VT-d second-stage tables: a walk written from the
 * specification alone (bits 0/1 R/W, bit 7 PS, bits 51:12 address) over the
 * raw pages, reached only through physical addresses, finds every mapping.
 */
#include "pt_test.h"
#include "vtd_walk.h"

/* A hardware-style walk: the output address (or ~0 on a fault), the R/W of the
 * whole walk in *rw and the last entry read in *raw. */
static uint64_t hw_walk(uint64_t root, unsigned levels, uint64_t iova, unsigned *rw, uint64_t *raw)
{
	struct vtd_walk w;
	vtd_walk(root, levels, iova, &w);
	*rw = w.rw;
	*raw = w.entry;
	return w.pa;
}

/* Leaves and tables carry the VT-d bits at their specified positions. */
Test(pt_layout, vtd_second_stage_bits)
{
	struct pt_fix f;
	pt_fix_init(&f, IOVIRT_RECLAIM_AFTER_INVAL);
	pt_fix_space(&f, 1, 48, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, KiB(4), 0x123456000ull, KiB(4), IOVIRT_PROT_READ), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, MiB(2), 0xfedc00000ull, MiB(2), IOVIRT_PROT_WRITE), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), 0x7c0000000ull, GiB(1), RW), 0);
	uint64_t root, raw;
	unsigned levels, rw;
	cr_assert_eq(iovirt_pt_root(f.io, 1, &root, &levels), 0);
	cr_assert_eq(levels, 4);
	cr_assert_eq(hw_walk(root, 4, KiB(4) + 0x10, &rw, &raw), 0x123456010ull);
	cr_assert_eq(raw, 0x123456000ull | 1, "4K leaf: address | R, no PS");
	cr_assert_eq(rw, 1);
	cr_assert_eq(hw_walk(root, 4, MiB(3), &rw, &raw), 0xfedc00000ull + MiB(1));
	cr_assert_eq(raw, 0xfedc00000ull | 2 | (1u << 7), "2M leaf: address | W | PS");
	cr_assert_eq(rw, 2);
	cr_assert_eq(hw_walk(root, 4, GiB(1) + 0x1234567, &rw, &raw), 0x7c0000000ull + 0x1234567);
	cr_assert_eq(raw, 0x7c0000000ull | 3 | (1u << 7));
	/* Non-leaf entries: table address | R | W, nothing else. */
	uint64_t top = vtd_walk_page(root)[0];
	cr_assert_eq(top & ~0x000ffffffffff000ull, 3);
	cr_assert_eq(hw_walk(root, 4, MiB(8), &rw, &raw), VTD_WALK_FAULT);
	pt_fix_done(&f);
}

/* A hardware-style walk agrees with iovirt_pt_translate on every mapping of a busy space. */
Test(pt_layout, hardware_walk_matches_translate)
{
	struct pt_fix f;
	uint64_t s = 7;
	pt_fix_init(&f, IOVIRT_RECLAIM_AFTER_INVAL);
	pt_fix_space(&f, 2, 57, 0);
	for (int i = 0; i < 200; i++) {
		uint64_t iova = (th_rand(&s) % (UINT64_C(1) << 57)) & ~(MiB(2) - 1);
		iovirt_pt_map(f.io, 2, iova, (th_rand(&s) % GiB(512)) & ~(KiB(4) - 1), MiB(2) + KiB(8), 1 + i % 3);
	}
	uint64_t root, raw;
	unsigned levels, rw;
	cr_assert_eq(iovirt_pt_root(f.io, 2, &root, &levels), 0);
	cr_assert_eq(levels, 5);
	for (int i = 0; i < 20000; i++) {
		uint64_t iova = th_rand(&s) % (UINT64_C(1) << 57);
		if (i % 2) {
			/* Aim at mapped ranges half of the time: reuse the mapping seed pattern. */
			iova &= ~(MiB(2) - 1);
		}
		struct iovirt_xlate x;
		int r = iovirt_pt_translate(f.io, 2, iova, 1, &x);
		uint64_t hw = hw_walk(root, 5, iova, &rw, &raw);
		if (r == IOVIRT_ENOENT) {
			cr_assert_eq(hw, VTD_WALK_FAULT);
		} else {
			cr_assert_eq(hw, x.pa);
			cr_assert_eq(rw, x.prot);
		}
	}
	pt_fix_done(&f);
}
