/* SPDX-License-Identifier: MIT */
/* Binding VFs to guests and ASIDs, DMA translation through the context table, re-entrancy. */
#include "fixture.h"

#define RW (IOVIRT_PROT_READ | IOVIRT_PROT_WRITE)

/* bind's refusals, each with its own code and no state change. */
Test(sriov_bind, refusals)
{
	struct fx f;
	fx_setup(&f, 16);
	cr_assert_eq(iovirt_pt_space_create(f.io, 10, NULL), 0);
	cr_assert_eq(iovirt_sriov_vf_bind(f.sr, 0, 1, 10), IOVIRT_ENOVF, "VFs not enabled");
	fx_enable(&f, 4);
	cr_assert_eq(iovirt_sriov_vf_bind(f.sr, 4, 1, 10), IOVIRT_ENOVF, "beyond NumVFs");
	cr_assert_eq(iovirt_sriov_vf_bind(f.sr, 0, IOVIRT_SRIOV_NO_GUEST, 10), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_sriov_vf_bind(f.sr, 0, 1, IOVIRT_ASID_MAX + 1), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_sriov_vf_bind(f.sr, 0, 1, 11), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_sriov_vf_bind(f.sr, 0, 1, 10), 0);
	cr_assert_eq(iovirt_sriov_vf_bind(f.sr, 0, 2, 10), IOVIRT_EBUSY, "rebinding an active VF");
	cr_assert_eq(iovirt_pt_space_create(f.io, 12, NULL), 0);
	cr_assert_eq(iovirt_sriov_vf_bind(f.sr, 0, 1, 12), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_sriov_vf_bind(f.sr, 1, 1, 10), IOVIRT_EDUP, "ASID of another VF");
	struct iovirt_sriov_vf_info info;
	cr_assert_eq(iovirt_sriov_vf_info(f.sr, 0, &info), 0);
	cr_assert_eq(info.state, IOVIRT_SRIOV_VF_ASSIGNED);
	cr_assert_eq(info.guest, 1);
	cr_assert_eq(info.asid, 10);
	cr_assert_eq(iovirt_sriov_vf_info(f.sr, 1, &info), 0);
	cr_assert_eq(info.state, IOVIRT_SRIOV_VF_FREE);
	cr_assert_eq(info.guest, IOVIRT_SRIOV_NO_GUEST);
	cr_assert_eq(iovirt_sriov_vf_info(f.sr, 16, &info), IOVIRT_ENOVF);
	/* after reset the VF can be bound again, to anything */
	cr_assert_eq(iovirt_sriov_vf_reset(f.sr, 0), 0);
	cr_assert_eq(iovirt_sriov_vf_bind(f.sr, 0, 2, 12), 0);
	cr_assert_eq(iovirt_sriov_vf_bind(f.sr, 1, 1, 10), 0, "ASID 10 free again");
	fx_done(&f);
}

/* A VF's DMA is translated only in its own ASID: each VF sees its guest's memory and nothing else. */
Test(sriov_bind, dma_only_in_own_asid)
{
	struct fx f;
	fx_setup(&f, 16);
	fx_enable(&f, 8);
	for (uint32_t n = 0; n < 8; n += 2) {
		fx_bind(&f, n, 100 + n, 20 + n);
		cr_assert_eq(iovirt_pt_map(f.io, 20 + n, 0x10000, 0x1000000 * (n + 1), 0x1000, RW), 0);
	}
	for (uint32_t n = 0; n < 8; n++) {
		uint16_t rid = fx_rid(&f, n);
		struct iovirt_xlate x;
		int r = iovirt_sriov_dma_translate(f.sr, rid, 0x10000 + 0x10, IOVIRT_PROT_WRITE, &x);
		if (n % 2) {
			cr_assert_eq(r, IOVIRT_ENOASID, "unbound VF %u faults", n);
			continue;
		}
		cr_assert_eq(r, 0);
		cr_assert_eq(x.pa, 0x1000000u * (n + 1) + 0x10);
		cr_assert_eq(iovirt_sriov_dma_translate(f.sr, rid, 0x20000, IOVIRT_PROT_READ, &x),
			     IOVIRT_ENOENT);
		uint32_t vf, asid;
		cr_assert_eq(iovirt_sriov_rid_lookup(f.sr, rid, &vf, &asid), 0);
		cr_assert_eq(vf, n);
		cr_assert_eq(asid, 20 + n);
	}
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_sriov_dma_translate(f.sr, FX_PF_RID, 0x10000, IOVIRT_PROT_READ, &x),
		     IOVIRT_ENOVF, "not a VF");
	cr_assert_eq(iovirt_sriov_dma_translate(f.sr, fx_rid(&f, 0) + 1, 0x10000, IOVIRT_PROT_READ, &x),
		     IOVIRT_ENOVF);
	/* permissions come from the ASID's mapping */
	cr_assert_eq(iovirt_pt_map(f.io, 20, 0x30000, 0x5000000, 0x1000, IOVIRT_PROT_READ), 0);
	cr_assert_eq(iovirt_sriov_dma_translate(f.sr, fx_rid(&f, 0), 0x30000, IOVIRT_PROT_WRITE, &x),
		     IOVIRT_EPERM);
	/* disabling the VFs: every former RID faults */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, 0), 0);
	for (uint32_t n = 0; n < 8; n++)
		cr_assert_eq(iovirt_sriov_dma_translate(f.sr, FX_PF_RID + FX_OFF + n * FX_STRIDE,
							0x10000, IOVIRT_PROT_READ, &x),
			     IOVIRT_ENOVF);
	fx_done(&f);
}

/* DMA whose target page overlaps a decoded VF BAR or a PF register window is refused. */
Test(sriov_bind, reentrant_dma_refused)
{
	struct fx f;
	fx_setup(&f, 16);
	fx_enable(&f, 4);
	fx_bind(&f, 0, 1, 30);
	/* VF 3's BAR0, VF 1's 64-bit BAR2, the PF's window, and plain memory */
	cr_assert_eq(iovirt_pt_map(f.io, 30, 0x1000, 0x80000000u + 3 * FX_BAR0, 0x1000, RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 30, 0x2000, UINT64_C(0x200000000) + FX_BAR2, 0x1000, RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 30, 0x3000, FX_PF_WIN + 0x80000, 0x1000, RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 30, 0x4000, 0x7ffff000, 0x1000, RW), 0, "page just below BAR0");
	cr_assert_eq(iovirt_pt_map(f.io, 30, 0x5000, 0x80000000u + 4 * FX_BAR0, 0x1000, RW), 0,
		     "just past the last VF's BAR0");
	uint16_t rid = fx_rid(&f, 0);
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_sriov_dma_translate(f.sr, rid, 0x1008, IOVIRT_PROT_WRITE, &x), IOVIRT_EREENTRANT);
	cr_assert_eq(iovirt_sriov_dma_translate(f.sr, rid, 0x2000, IOVIRT_PROT_READ, &x), IOVIRT_EREENTRANT);
	cr_assert_eq(iovirt_sriov_dma_translate(f.sr, rid, 0x3ff0, IOVIRT_PROT_READ, &x), IOVIRT_EREENTRANT);
	cr_assert_eq(iovirt_sriov_dma_translate(f.sr, rid, 0x4ffc, IOVIRT_PROT_READ, &x), 0);
	cr_assert_eq(iovirt_sriov_dma_translate(f.sr, rid, 0x5000, IOVIRT_PROT_READ, &x), 0);
	/* with MSE clear the VF BARs decode nothing, so they are memory again; the PF window stays */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, IOVIRT_SRIOV_CTRL_VFE), 0);
	cr_assert_eq(iovirt_sriov_dma_translate(f.sr, rid, 0x1008, IOVIRT_PROT_WRITE, &x), 0);
	cr_assert_eq(iovirt_sriov_dma_translate(f.sr, rid, 0x3000, IOVIRT_PROT_READ, &x), IOVIRT_EREENTRANT);
	fx_done(&f);
}
