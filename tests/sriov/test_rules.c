/* SPDX-License-Identifier: MIT */
/*
 * PCIe SR-IOV rules checked against the specification (issue 10): what create
 * refuses, which Control bits the Capabilities make writable, and the ARI
 * Capable Hierarchy a non-lowest PF follows.
 */
#include "fixture.h"

#define VFE IOVIRT_SRIOV_CTRL_VFE
#define MSE IOVIRT_SRIOV_CTRL_MSE
#define ARI IOVIRT_SRIOV_CTRL_ARI

static int try_create(struct fx *f)
{
	struct iovirt_sriov *sr = NULL;
	int64_t live = iovirt_posix_live_mem(f->p);
	int r = iovirt_sriov_create(iovirt_posix_ops(), f->p, &f->prm, &sr);
	if (r) {
		cr_assert_null(sr, "out untouched on failure");
		cr_assert_eq(iovirt_posix_live_mem(f->p), live, "a refused create holds nothing");
	}
	iovirt_sriov_destroy(sr);
	return r;
}

/* Item 3: an iommu in AFTER_INVAL mode is refused at create (a VF reset would free tables under dma_translate). */
Test(sriov_rules, after_inval_iommu_refused)
{
	struct fx f;
	fx_host(&f, 4);
	struct iovirt_iommu *after = NULL;
	struct iovirt_iommu_params ip = { .size = sizeof(ip), .reclaim = IOVIRT_RECLAIM_AFTER_INVAL };
	cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), f.p, &ip, &after), 0);
	cr_assert_eq(iovirt_iommu_reclaim_mode(after), IOVIRT_RECLAIM_AFTER_INVAL);
	cr_assert_eq(iovirt_iommu_reclaim_mode(f.io), IOVIRT_RECLAIM_DEFERRED);
	f.prm.iommu = after;
	cr_assert_eq(try_create(&f), IOVIRT_EINVAL);
	/* the same PF over a deferred-mode iommu is fine */
	f.prm.iommu = f.io;
	cr_assert_eq(try_create(&f), 0);
	ip.reclaim = IOVIRT_RECLAIM_DEFERRED;
	struct iovirt_iommu *deferred = NULL;
	cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), f.p, &ip, &deferred), 0);
	f.prm.iommu = deferred;
	cr_assert_eq(try_create(&f), 0);
	iovirt_iommu_destroy(deferred);
	iovirt_iommu_destroy(after);
	f.sr = NULL;
	fx_done(&f);
}

/* Item 14: InitialVFs must equal TotalVFs unless the PF is VF Migration Capable. */
Test(sriov_rules, initial_vfs_equals_total_without_migration)
{
	struct fx f;
	fx_host(&f, 16);
	f.prm.initial_vfs = 8;
	cr_assert_eq(try_create(&f), IOVIRT_EINVAL, "8 of 16 without VF Migration Capable");
	f.prm.initial_vfs = 0;
	cr_assert_eq(try_create(&f), IOVIRT_EINVAL);
	f.prm.initial_vfs = 16;
	cr_assert_eq(try_create(&f), 0);
	/* with VF Migration Capable, InitialVFs may be below TotalVFs (never above) */
	f.prm.caps |= IOVIRT_SRIOV_CAPS_VFM;
	f.prm.initial_vfs = 8;
	cr_assert_eq(try_create(&f), 0);
	f.prm.initial_vfs = 0;
	cr_assert_eq(try_create(&f), 0);
	f.prm.initial_vfs = 17;
	cr_assert_eq(try_create(&f), IOVIRT_EINVAL);
	f.sr = NULL;
	fx_done(&f);
}

/* Item 15: Supported Page Sizes must hold every size a PF must support (4K 8K 64K 256K 1M 4M: 0x553). */
Test(sriov_rules, supported_page_sizes_required)
{
	struct fx f;
	fx_host(&f, 4);
	cr_assert_eq(IOVIRT_SRIOV_PGSIZES_REQUIRED, 0x553u);
	/* each required size missing on its own */
	for (unsigned bit = 0; bit < 32; bit++) {
		if (!(0x553u & (1u << bit)))
			continue;
		f.prm.sup_pgsizes = 0x553u & ~(1u << bit);
		cr_assert_eq(try_create(&f), IOVIRT_EINVAL, "without bit %u", bit);
	}
	f.prm.sup_pgsizes = 0x1;
	cr_assert_eq(try_create(&f), IOVIRT_EINVAL, "4 KiB only");
	f.prm.sup_pgsizes = 0x553;
	cr_assert_eq(try_create(&f), 0);
	/* more sizes than required are fine, and a 64 KiB host can pick its page */
	f.prm.sup_pgsizes = 0xfff;
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f.p, &f.prm, &f.sr), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_SYS_PGSIZE, 4, 0x10), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_SYS_PGSIZE, 4, 0x4), 0, "16 KiB, offered beyond the minimum");
	fx_done(&f);
}

/* The Control bits the spec makes RW for these Capabilities and flags. */
static uint32_t expected_rw(uint32_t caps, uint32_t flags)
{
	uint32_t m = VFE | MSE; /* always RW */
	if (caps & IOVIRT_SRIOV_CAPS_VFM)
		m |= IOVIRT_SRIOV_CTRL_VFM | IOVIRT_SRIOV_CTRL_VFMIE;
	if (!(flags & IOVIRT_SRIOV_ARI_READONLY))
		m |= ARI; /* RW in the lowest PF only */
	if (caps & IOVIRT_SRIOV_CAPS_VF10BIT)
		m |= IOVIRT_SRIOV_CTRL_VF10BIT;
	return m;
}

/* Item 16: every Control bit the Capabilities make writable is writable, and no other (all 16 combinations). */
Test(sriov_rules, control_bits_follow_capabilities)
{
	cr_assert_eq(IOVIRT_SRIOV_CTRL_VF10BIT, 0x20);
	cr_assert_eq(IOVIRT_SRIOV_CAPS_VF10BIT, 0x4);
	for (unsigned combo = 0; combo < 16; combo++) {
		struct fx f;
		fx_host(&f, 16);
		f.prm.caps = ((combo & 1) ? IOVIRT_SRIOV_CAPS_VFM : 0) |
			     ((combo & 2) ? IOVIRT_SRIOV_CAPS_VF10BIT : 0) |
			     ((combo & 8) ? IOVIRT_SRIOV_CAPS_ARIP : 0);
		f.prm.flags = (combo & 4) ? IOVIRT_SRIOV_ARI_READONLY : 0;
		cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f.p, &f.prm, &f.sr), 0);
		uint32_t rw = expected_rw(f.prm.caps, f.prm.flags);
		cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_CAPS, 4), f.prm.caps);
		/* every bit but VF Enable at once (VF Enable needs NumVFs) */
		cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, 0xfffe), 0);
		cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_CTRL, 2), rw & ~(uint32_t)VFE, "combo %u", combo);
		cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, 0), 0);
		/* and each bit alone, set then cleared */
		for (unsigned bit = 1; bit < 16; bit++) {
			uint32_t b = 1u << bit;
			cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, b), 0);
			cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_CTRL, 2), rw & b, "combo %u bit %u", combo, bit);
			cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, 0), 0);
		}
		/* VF Enable with VFs to enable, then the 10-bit enable may change beside it */
		cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, 2), 0);
		cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE), 0);
		cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_CTRL, 2), VFE);
		cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE | IOVIRT_SRIOV_CTRL_VF10BIT), 0);
		cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_CTRL, 2), VFE | (rw & IOVIRT_SRIOV_CTRL_VF10BIT));
		cr_assert_eq(iovirt_sriov_num_enabled(f.sr), 2);
		/* a saved state with those bits restores on a PF of the same kind */
		size_t len = iovirt_sriov_save_size(f.sr);
		uint8_t *blob = malloc(len);
		cr_assert_eq(iovirt_sriov_save(f.sr, blob, len), (int64_t)len);
		iovirt_sriov_pf_reset(f.sr);
		cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_CTRL, 2), 0, "PF reset clears Control");
		cr_assert_eq(iovirt_sriov_restore(f.sr, blob, len), 0);
		cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_CTRL, 2), VFE | (rw & IOVIRT_SRIOV_CTRL_VF10BIT));
		free(blob);
		fx_done(&f);
	}
}

static struct fx *ari_pf(struct fx *f)
{
	fx_host(f, 16);
	f->prm.flags = IOVIRT_SRIOV_ARI_READONLY;
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f->p, &f->prm, &f->sr), 0);
	return f;
}

/* Item 19: a non-lowest PF follows the lowest PF's ARI Capable Hierarchy through the privileged call. */
Test(sriov_rules, ari_readonly_pf_follows_lowest_pf)
{
	struct fx f;
	ari_pf(&f);
	cr_assert_eq(iovirt_sriov_set_ari_hierarchy(f.sr, true), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_CTRL, 2), 0, "the bit stays RO 0 in this PF");
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_OFFSET, 2), FX_OFF_ARI);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_STRIDE, 2), FX_STRIDE_ARI);
	cr_assert_eq(iovirt_sriov_set_ari_hierarchy(f.sr, true), 0, "unchanged is fine");
	/* the guest still cannot write it here */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, 0), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_OFFSET, 2), FX_OFF_ARI, "a guest write of 0 changes nothing");
	/* VFs take the ARI RIDs */
	fx_enable(&f, 16);
	for (uint32_t n = 0; n < 16; n++)
		cr_assert_eq(fx_rid(&f, n), FX_PF_RID + FX_OFF_ARI + n * FX_STRIDE_ARI);
	uint32_t vf = 99;
	cr_assert_eq(iovirt_sriov_rid_lookup(f.sr, FX_PF_RID + FX_OFF_ARI + 15, &vf, NULL), IOVIRT_ENOASID);
	cr_assert_eq(vf, 99);
	/* frozen while VF Enable is set: RIDs of live VFs would move */
	cr_assert_eq(iovirt_sriov_set_ari_hierarchy(f.sr, false), IOVIRT_EBUSY);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_OFFSET, 2), FX_OFF_ARI, "nothing changed");
	cr_assert_eq(fx_rid(&f, 15), FX_PF_RID + FX_OFF_ARI + 15 * FX_STRIDE_ARI);
	cr_assert_eq(iovirt_sriov_set_ari_hierarchy(f.sr, true), 0, "unchanged while enabled is fine");
	/* this PF's own reset keeps the lowest PF's value */
	iovirt_sriov_pf_reset(f.sr);
	cr_assert_eq(iovirt_sriov_num_enabled(f.sr), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_OFFSET, 2), FX_OFF_ARI);
	cr_assert_eq(iovirt_sriov_set_ari_hierarchy(f.sr, false), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_OFFSET, 2), FX_OFF);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_STRIDE, 2), FX_STRIDE);
	fx_enable(&f, 16);
	cr_assert_eq(fx_rid(&f, 15), FX_PF_RID + FX_OFF + 15 * FX_STRIDE);
	fx_done(&f);
}

/* Item 19: the call's refusals (lowest PF, no ARI pair, NULL) change nothing. */
Test(sriov_rules, ari_hierarchy_refusals)
{
	struct fx f;
	fx_setup(&f, 16); /* the lowest PF: the bit is its guest's to write */
	cr_assert_eq(iovirt_sriov_set_ari_hierarchy(f.sr, true), IOVIRT_EINVAL);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_OFFSET, 2), FX_OFF);
	cr_assert_eq(iovirt_sriov_set_ari_hierarchy(NULL, true), IOVIRT_EINVAL);
	fx_done(&f);

	/* a non-lowest PF that gave no ARI pair cannot follow an ARI hierarchy */
	fx_host(&f, 16);
	f.prm.flags = IOVIRT_SRIOV_ARI_READONLY;
	f.prm.vf_offset_ari = 0;
	f.prm.vf_stride_ari = 0;
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f.p, &f.prm, &f.sr), 0);
	cr_assert_eq(iovirt_sriov_set_ari_hierarchy(f.sr, true), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_sriov_set_ari_hierarchy(f.sr, false), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_OFFSET, 2), FX_OFF);
	fx_done(&f);

	/* a half-given ARI pair is refused at create, as for the lowest PF */
	fx_host(&f, 16);
	f.prm.flags = IOVIRT_SRIOV_ARI_READONLY;
	f.prm.vf_stride_ari = 0;
	cr_assert_eq(try_create(&f), IOVIRT_EINVAL);
	f.sr = NULL;
	fx_done(&f);
}

/* Item 19: a followed ARI hierarchy is saved and restored; a PF that cannot follow refuses the blob. */
Test(sriov_rules, ari_hierarchy_saved)
{
	struct fx f;
	ari_pf(&f);
	cr_assert_eq(iovirt_sriov_set_ari_hierarchy(f.sr, true), 0);
	fx_enable(&f, 4);
	fx_bind(&f, 3, 9, 30);
	size_t len = iovirt_sriov_save_size(f.sr);
	uint8_t *blob = malloc(len);
	cr_assert_eq(iovirt_sriov_save(f.sr, blob, len), (int64_t)len);

	struct iovirt_sriov *b = NULL;
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f.p, &f.prm, &b), 0);
	iovirt_sriov_vf_reset(f.sr, 3); /* the ASID is exclusive: free it for b */
	cr_assert_eq(iovirt_sriov_restore(b, blob, len), 0);
	uint16_t rid;
	cr_assert_eq(iovirt_sriov_vf_rid(b, 3, &rid), 0);
	cr_assert_eq(rid, FX_PF_RID + FX_OFF_ARI + 3 * FX_STRIDE_ARI);
	uint32_t vf, asid;
	cr_assert_eq(iovirt_sriov_rid_lookup(b, rid, &vf, &asid), 0);
	cr_assert_eq(vf, 3);
	cr_assert_eq(asid, 30);
	iovirt_sriov_destroy(b);

	/* the lowest PF's own blob never carries the flag: refused on such a PF */
	struct iovirt_sriov_params low = f.prm;
	low.flags = 0;
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f.p, &low, &b), 0);
	cr_assert_eq(iovirt_sriov_restore(b, blob, len), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_sriov_num_enabled(b), 0);
	iovirt_sriov_destroy(b);
	free(blob);
	fx_done(&f);
}
