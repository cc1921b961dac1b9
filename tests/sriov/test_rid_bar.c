/* SPDX-License-Identifier: MIT */
/* Routing IDs of VFs and VF BARs: sizing, placement, decoding. */
#include "fixture.h"

#define VFE IOVIRT_SRIOV_CTRL_VFE
#define MSE IOVIRT_SRIOV_CTRL_MSE
#define ARI IOVIRT_SRIOV_CTRL_ARI

/* VF n's RID is PF RID + Offset + n * Stride; the table knows exactly those RIDs. */
Test(sriov_rid, rids_without_ari)
{
	struct fx f;
	fx_setup(&f, 16);
	fx_enable(&f, 16);
	for (uint32_t n = 0; n < 16; n++) {
		uint16_t rid = fx_rid(&f, n);
		cr_assert_eq(rid, FX_PF_RID + FX_OFF + n * FX_STRIDE);
		uint32_t vf = 99, asid;
		/* enabled but unbound: known VF, no ASID */
		cr_assert_eq(iovirt_sriov_rid_lookup(f.sr, rid, &vf, &asid), IOVIRT_ENOASID);
		/* the RID between two VFs is nobody */
		cr_assert_eq(iovirt_sriov_rid_lookup(f.sr, rid + 1, &vf, &asid), IOVIRT_ENOVF);
		struct iovirt_sriov_vf_info info;
		cr_assert_eq(iovirt_sriov_vf_info(f.sr, n, &info), 0);
		cr_assert_eq(info.rid, rid);
		cr_assert_eq(info.state, IOVIRT_SRIOV_VF_FREE);
	}
	uint16_t rid;
	cr_assert_eq(iovirt_sriov_vf_rid(f.sr, 16, &rid), IOVIRT_ENOVF);
	cr_assert_eq(iovirt_sriov_rid_lookup(f.sr, FX_PF_RID, NULL, NULL), IOVIRT_ENOVF, "the PF");
	cr_assert_eq(iovirt_sriov_rid_lookup(f.sr, FX_PF_RID - 1, NULL, NULL), IOVIRT_ENOVF);
	cr_assert_eq(iovirt_sriov_rid_lookup(f.sr, 0, NULL, NULL), IOVIRT_ENOVF);
	cr_assert_eq(iovirt_sriov_rid_lookup(f.sr, 0xffff, NULL, NULL), IOVIRT_ENOVF);
	fx_done(&f);
}

/* With ARI Capable Hierarchy the ARI Offset/Stride pair gives the RIDs. */
Test(sriov_rid, rids_with_ari)
{
	struct fx f;
	fx_setup(&f, 16);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, 16), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, ARI), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, ARI | VFE), 0);
	for (uint32_t n = 0; n < 16; n++)
		cr_assert_eq(fx_rid(&f, n), FX_PF_RID + FX_OFF_ARI + n * FX_STRIDE_ARI);
	/* the old non-ARI RIDs of VF 1.. are now nobody's or another VF's */
	uint32_t vf;
	cr_assert_eq(iovirt_sriov_rid_lookup(f.sr, FX_PF_RID + FX_OFF + 15 * FX_STRIDE, &vf, NULL),
		     IOVIRT_ENOVF);
	/* disabling forgets every RID */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, ARI), 0);
	for (uint32_t n = 0; n < 16; n++)
		cr_assert_eq(iovirt_sriov_rid_lookup(f.sr, FX_PF_RID + 1 + n, NULL, NULL), IOVIRT_ENOVF);
	fx_done(&f);
}

/* A configuration whose last VF RID passes 0xFFFF is refused (EOVERFLOW), nothing enabled. */
Test(sriov_rid, rid_overflow_refused)
{
	struct fx f;
	fx_host(&f, 256);
	f.prm.pf_rid = 0xfe00;
	f.prm.bus_last = 0xff;
	f.prm.vf_offset = 0x80;
	f.prm.vf_stride = 4;
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f.p, &f.prm, &f.sr), 0);
	/* 0xfe00 + 0x80 + (n-1)*4 <= 0xffff  <=>  n <= 0x60 */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, 0x61), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE), IOVIRT_EOVERFLOW);
	cr_assert_eq(iovirt_sriov_num_enabled(f.sr), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, 0x60), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE), 0);
	cr_assert_eq(fx_rid(&f, 0x5f), 0xfffc);
	cr_assert_eq(iovirt_sriov_rid_lookup(f.sr, 0xfffc, NULL, NULL), IOVIRT_ENOASID);
	fx_done(&f);
}

/* VFs that would land on a bus past the host's bus_last are refused (ERANGE). */
Test(sriov_rid, bus_range_refused)
{
	struct fx f;
	fx_host(&f, 256);
	f.prm.bus_last = 0x01; /* the PF's own bus only */
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f.p, &f.prm, &f.sr), 0);
	/* 0x100 + 8 + (n-1)*2 <= 0x1ff  <=>  n <= 124 */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, 125), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE), IOVIRT_ERANGE);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, 124), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE), 0);
	cr_assert_eq(fx_rid(&f, 123), 0x1fe);
	fx_done(&f);
}

/* Sizing: writing all ones reads back the size mask with the type bits, for 32- and 64-bit BARs. */
Test(sriov_bar, sizing_protocol)
{
	struct fx f;
	fx_setup(&f, 16);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0, 4, 0xffffffff), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_BAR0, 4), ~(FX_BAR0 - 1));
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0 + 8, 4, 0xffffffff), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0 + 12, 4, 0xffffffff), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_BAR0 + 8, 4), ~(FX_BAR2 - 1) | 0xc);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_BAR0 + 12, 4), 0xffffffff);
	/* unimplemented slots read zero whatever is written */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0 + 4, 4, 0xffffffff), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_BAR0 + 4, 4), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0 + 16, 4, 0xffffffff), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_BAR0 + 16, 4), 0);
	/* byte writes go through the same mask */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0, 1, 0xff), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_BAR0, 1), 0x00, "below 16 KiB");
	fx_done(&f);
}

/* A System Page Size above a BAR's size makes the BAR decode one page per VF. */
Test(sriov_bar, page_size_raises_bar_size)
{
	struct fx f;
	fx_setup(&f, 16);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0, 4, 0x80004000), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_BAR0, 4), 0x80004000);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_SYS_PGSIZE, 4, 0x10), 0, "64 KiB pages");
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_BAR0, 4), 0x80000000, "bits below 64K now read 0");
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0, 4, 0xffffffff), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_BAR0, 4), 0xffff0000u);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0, 4, 0x90000000), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, 4), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE | MSE), 0);
	struct iovirt_sriov_vf_info info;
	cr_assert_eq(iovirt_sriov_vf_info(f.sr, 3, &info), 0);
	cr_assert_eq(info.bar[0], 0x90000000u + 3 * 0x10000u);
	fx_done(&f);
}

/* VF n's BAR i is at base_i + n * size_i, and decode maps every address back to (n, i, offset). */
Test(sriov_bar, placement_and_decode)
{
	struct fx f;
	fx_setup(&f, 16);
	fx_enable(&f, 16);
	for (uint32_t n = 0; n < 16; n++) {
		struct iovirt_sriov_vf_info info;
		cr_assert_eq(iovirt_sriov_vf_info(f.sr, n, &info), 0);
		cr_assert_eq(info.bar[0], 0x80000000u + n * FX_BAR0);
		cr_assert_eq(info.bar[2], UINT64_C(0x200000000) + n * FX_BAR2);
		cr_assert_eq(info.bar[1], 0);
		uint32_t vf;
		unsigned bar;
		uint64_t off;
		cr_assert_eq(iovirt_sriov_bar_decode(f.sr, info.bar[0] + 0x123, &vf, &bar, &off), 0);
		cr_assert_eq(vf, n);
		cr_assert_eq(bar, 0);
		cr_assert_eq(off, 0x123);
		cr_assert_eq(iovirt_sriov_bar_decode(f.sr, info.bar[2] + FX_BAR2 - 1, &vf, &bar, &off), 0);
		cr_assert_eq(vf, n);
		cr_assert_eq(bar, 2);
		cr_assert_eq(off, FX_BAR2 - 1);
	}
	cr_assert_eq(iovirt_sriov_bar_decode(f.sr, 0x80000000u + 16 * FX_BAR0, NULL, NULL, NULL),
		     IOVIRT_ENOENT, "one past the last VF");
	cr_assert_eq(iovirt_sriov_bar_decode(f.sr, 0x7fffffff, NULL, NULL, NULL), IOVIRT_ENOENT);
	fx_done(&f);
}

/* VF MSE gates decoding: with MSE clear (or VF Enable clear) no address decodes. */
Test(sriov_bar, mse_gates_decoding)
{
	struct fx f;
	fx_setup(&f, 16);
	fx_enable(&f, 4);
	cr_assert_eq(iovirt_sriov_bar_decode(f.sr, 0x80000000u, NULL, NULL, NULL), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE), 0, "MSE off");
	cr_assert_eq(iovirt_sriov_bar_decode(f.sr, 0x80000000u, NULL, NULL, NULL), IOVIRT_ENOENT);
	struct iovirt_sriov_vf_info info;
	cr_assert_eq(iovirt_sriov_vf_info(f.sr, 0, &info), 0);
	cr_assert_eq(info.bar[0], 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE | MSE), 0);
	cr_assert_eq(iovirt_sriov_bar_decode(f.sr, 0x80000000u, NULL, NULL, NULL), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, MSE), 0, "VF Enable off");
	cr_assert_eq(iovirt_sriov_bar_decode(f.sr, 0x80000000u, NULL, NULL, NULL), IOVIRT_ENOENT);
	fx_done(&f);
}

/* A 32-bit VF BAR whose VF range passes 4 GiB does not decode at all (no aliasing). */
Test(sriov_bar, range_past_4g_does_not_decode)
{
	struct fx f;
	fx_setup(&f, 16);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0, 4, 0xfffe0000), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, 16), 0); /* 16 * 16K = 256K > 128K left */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE | MSE), 0);
	cr_assert_eq(iovirt_sriov_bar_decode(f.sr, 0xfffe0000, NULL, NULL, NULL), IOVIRT_ENOENT);
	/* 64-bit BAR near the top of the address space: same rule */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0 + 8, 4, 0xffff0000), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0 + 12, 4, 0xffffffff), 0);
	cr_assert_eq(iovirt_sriov_bar_decode(f.sr, UINT64_C(0xffffffffffff0000), NULL, NULL, NULL),
		     IOVIRT_ENOENT);
	/* BAR re-programmed while decoding moves the window */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0, 4, 0x40000000), 0);
	cr_assert_eq(iovirt_sriov_bar_decode(f.sr, 0x40000000u + 15 * FX_BAR0, NULL, NULL, NULL), 0);
	fx_done(&f);
}

/* Decodes addr to (vf, bar, off) or asserts it decodes nothing. */
static void expect_decode(struct fx *f, uint64_t addr, int err, uint32_t vf, unsigned bar, uint64_t off)
{
	uint32_t v = 99;
	unsigned b = 99;
	uint64_t o = 99;
	int r = iovirt_sriov_bar_decode(f->sr, addr, &v, &b, &o);
	cr_assert_eq(r, err, "%#llx: %s", (unsigned long long)addr, iovirt_err_name(r));
	if (err)
		return;
	cr_assert_eq(v, vf, "%#llx: VF %u", (unsigned long long)addr, v);
	cr_assert_eq(b, bar);
	cr_assert_eq(o, off);
}

/* Item 17: a VF BAR array ending exactly at 2^64 (64-bit) or 4 GiB (32-bit) decodes to its last byte. */
Test(sriov_bar, arrays_ending_at_the_top_edges)
{
	struct fx f;
	fx_setup(&f, 16);
	const uint32_t n = 16;
	const uint64_t b0 = (UINT64_C(1) << 32) - n * FX_BAR0;  /* 32-bit: ends at 4 GiB */
	const uint64_t b2 = (uint64_t)0 - (uint64_t)n * FX_BAR2; /* 64-bit: ends at 2^64 */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0, 4, (uint32_t)b0), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0 + 8, 4, (uint32_t)b2), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0 + 12, 4, (uint32_t)(b2 >> 32)), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, n), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE | MSE), 0);

	struct iovirt_sriov_vf_info info;
	cr_assert_eq(iovirt_sriov_vf_info(f.sr, n - 1, &info), 0);
	cr_assert_eq(info.bar[0], (UINT64_C(1) << 32) - FX_BAR0);
	cr_assert_eq(info.bar[2], (uint64_t)0 - FX_BAR2, "the last VF's 64-bit BAR is placed");
	/* first and last byte of the last VF's BAR, the first VF's first byte */
	expect_decode(&f, (UINT64_C(1) << 32) - FX_BAR0, 0, n - 1, 0, 0);
	expect_decode(&f, UINT32_MAX, 0, n - 1, 0, FX_BAR0 - 1);
	expect_decode(&f, b0, 0, 0, 0, 0);
	expect_decode(&f, (uint64_t)0 - FX_BAR2, 0, n - 1, 2, 0);
	expect_decode(&f, UINT64_MAX, 0, n - 1, 2, FX_BAR2 - 1);
	expect_decode(&f, b2, 0, 0, 2, 0);
	/* one past the end and one below the start decode nothing */
	expect_decode(&f, UINT64_C(1) << 32, IOVIRT_ENOENT, 0, 0, 0);
	expect_decode(&f, b0 - 1, IOVIRT_ENOENT, 0, 0, 0);
	expect_decode(&f, b2 - 1, IOVIRT_ENOENT, 0, 0, 0);

	/* one VF more would pass the edge: then neither array decodes (no aliasing) */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, MSE), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, n), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0, 4, (uint32_t)(b0 + FX_BAR0)), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0 + 8, 4, (uint32_t)(b2 + FX_BAR2)), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE | MSE), 0);
	expect_decode(&f, UINT32_MAX, IOVIRT_ENOENT, 0, 0, 0);
	expect_decode(&f, UINT64_MAX, IOVIRT_ENOENT, 0, 0, 0);
	expect_decode(&f, b2 + FX_BAR2, IOVIRT_ENOENT, 0, 0, 0);
	fx_done(&f);
}

/* Item 17: a PF register window ending exactly at 2^64 is accepted at create and refused past it. */
Test(sriov_bar, pf_window_ending_at_2_64)
{
	struct fx f;
	fx_host(&f, 4);
	f.prm.pf_windows[1] = (struct iovirt_sriov_window){ (uint64_t)0 - 0x1000, 0x1000 };
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f.p, &f.prm, &f.sr), 0);
	iovirt_sriov_destroy(f.sr);
	f.prm.pf_windows[1] = (struct iovirt_sriov_window){ (uint64_t)0 - 0x1000, 0x1001 };
	f.sr = NULL;
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f.p, &f.prm, &f.sr), IOVIRT_EINVAL);
	fx_done(&f);
}
