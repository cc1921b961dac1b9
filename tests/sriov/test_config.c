/* SPDX-License-Identifier: MIT */
/* The SR-IOV capability: field values, write masks and the rules guests test. */
#include "fixture.h"

#define VFE IOVIRT_SRIOV_CTRL_VFE
#define MSE IOVIRT_SRIOV_CTRL_MSE
#define ARI IOVIRT_SRIOV_CTRL_ARI

/* After create every field holds the PF's values and the spec's reset values. */
Test(sriov_config, reset_values)
{
	struct fx f;
	fx_setup(&f, 16);
	cr_assert_eq(fx_rd(&f, 0, 4), 0x0010u | 1u << 16 | 0x1c0u << 20);
	cr_assert_eq(fx_rd(&f, 0, 2), IOVIRT_SRIOV_CAP_ID);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_CAPS, 4), 0x2);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_CTRL, 2), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_STATUS, 2), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_INITIAL_VFS, 2), 16);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_TOTAL_VFS, 2), 16);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_NUM_VFS, 2), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_OFFSET, 2), FX_OFF);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_STRIDE, 2), FX_STRIDE);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_DID, 2), 0x10ed);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_SUP_PGSIZE, 4), 0x553);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_SYS_PGSIZE, 4), 1);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_BAR0, 4), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_BAR0 + 8, 4), 0xc, "64-bit prefetchable flags");
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_MIGR, 4), 0);
	cr_assert_eq(iovirt_sriov_num_enabled(f.sr), 0);
	fx_done(&f);
}

/* Writing all ones then all zeros at every byte leaves every read-only byte as it was. */
Test(sriov_config, read_only_bytes_never_change)
{
	struct fx f;
	fx_setup(&f, 16);
	uint8_t before[64];
	for (unsigned i = 0; i < 64; i++)
		before[i] = (uint8_t)fx_rd(&f, i, 1);
	static const unsigned ro[] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x09, 0x0a,
				       0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x12, 0x13, 0x18, 0x19, 0x1a,
				       0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x3c, 0x3d, 0x3e, 0x3f };
	for (unsigned k = 0; k < sizeof(ro) / sizeof(ro[0]); k++) {
		unsigned o = ro[k];
		cr_assert_eq(fx_wr(&f, o, 1, 0xff), 0);
		cr_assert_eq(fx_wr(&f, o, 1, 0x00), 0);
		cr_assert_eq(fx_rd(&f, o, 1), before[o], "byte %#x changed", o);
	}
	/* dword writes of all ones at the RO dwords, too */
	for (unsigned o = 0; o < 0x08; o += 4)
		cr_assert_eq(fx_wr(&f, o, 4, 0xffffffff), 0);
	for (unsigned o = 0x0c; o < 0x10; o += 4)
		cr_assert_eq(fx_wr(&f, o, 4, 0xffffffff), 0);
	for (unsigned o = 0; o < 0x10; o++)
		if (o != 8)
			cr_assert_eq(fx_rd(&f, o, 1), before[o], "byte %#x changed", o);
	fx_done(&f);
}

/* Control's write mask: VFE, MSE, ARI only; migration bits stay 0 without VF Migration Capable. */
Test(sriov_config, control_write_mask)
{
	struct fx f;
	fx_setup(&f, 16);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, 0xfffe), 0, "all but VFE");
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_CTRL, 2), MSE | ARI);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_STATUS, 2), 0, "Status is never set");
	fx_done(&f);

	fx_host(&f, 16);
	f.prm.caps |= IOVIRT_SRIOV_CAPS_VFM;
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f.p, &f.prm, &f.sr), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 1, 0xfe), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_CTRL, 2),
		     MSE | ARI | IOVIRT_SRIOV_CTRL_VFM | IOVIRT_SRIOV_CTRL_VFMIE);
	fx_done(&f);
}

/* NumVFs is writable while VF Enable is clear and frozen (EBUSY, unchanged) while it is set. */
Test(sriov_config, numvfs_frozen_while_enabled)
{
	struct fx f;
	fx_setup(&f, 16);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, 3), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_NUM_VFS, 2), 3);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 1, 5), 0, "byte write");
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_NUM_VFS, 2), 5);
	fx_enable(&f, 4);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, 8), IOVIRT_EBUSY);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS + 1, 1, 1), IOVIRT_EBUSY);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 4, 0x00000008), IOVIRT_EBUSY, "dword with FDL");
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_NUM_VFS, 2), 4);
	cr_assert_eq(iovirt_sriov_num_enabled(f.sr), 4);
	/* same value is not a change */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, 4), 0);
	/* after disable it is writable again */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, MSE), 0);
	cr_assert_eq(iovirt_sriov_num_enabled(f.sr), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, 8), 0);
	fx_done(&f);
}

/* The CVE-2024-26327 case: VF Enable with NumVFs > TotalVFs is refused and creates no VF. */
Test(sriov_config, cve_numvfs_above_total)
{
	struct fx f;
	fx_setup(&f, 16);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, 17), 0, "the register itself holds 16 bits");
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE), IOVIRT_ELIMIT);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_CTRL, 2), 0, "VF Enable stays clear");
	cr_assert_eq(iovirt_sriov_num_enabled(f.sr), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, 0xffff), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 1, VFE | MSE), IOVIRT_ELIMIT);
	cr_assert_eq(iovirt_sriov_num_enabled(f.sr), 0);
	uint32_t vf, asid;
	cr_assert_eq(iovirt_sriov_rid_lookup(f.sr, FX_PF_RID + FX_OFF, &vf, &asid), IOVIRT_ENOVF);
	struct iovirt_sriov_vf_info info;
	cr_assert_eq(iovirt_sriov_vf_info(f.sr, 0, &info), 0);
	cr_assert_eq(info.state, IOVIRT_SRIOV_VF_DISABLED);
	/* TotalVFs exactly is fine */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, 16), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE), 0);
	cr_assert_eq(iovirt_sriov_num_enabled(f.sr), 16);
	fx_done(&f);
}

/* VF Enable with NumVFs 0 is refused. */
Test(sriov_config, enable_with_zero_vfs)
{
	struct fx f;
	fx_setup(&f, 16);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE), IOVIRT_ENOVF);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_CTRL, 2), 0);
	fx_done(&f);
}

/* System Page Size takes exactly one supported size; anything else is refused whole. */
Test(sriov_config, system_page_size)
{
	struct fx f;
	fx_setup(&f, 16);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_SYS_PGSIZE, 4, 0), IOVIRT_EINVAL);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_SYS_PGSIZE, 4, 0x3), IOVIRT_EINVAL, "two sizes");
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_SYS_PGSIZE, 4, 0x4), IOVIRT_EINVAL, "16K unsupported");
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_SYS_PGSIZE, 4, 0x80000000), IOVIRT_EINVAL);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_SYS_PGSIZE + 1, 1, 0x01), IOVIRT_EINVAL,
		     "byte write making two bits");
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_SYS_PGSIZE, 4), 1);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_SYS_PGSIZE, 4, 0x10), 0, "64K");
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_SYS_PGSIZE, 4), 0x10);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_SYS_PGSIZE, 1, 0x02), 0, "8K by a byte write");
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_SYS_PGSIZE, 4), 0x2);
	fx_enable(&f, 2);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_SYS_PGSIZE, 4, 0x1), IOVIRT_EBUSY);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_SYS_PGSIZE, 4), 0x2);
	fx_done(&f);
}

/* ARI Capable Hierarchy selects the other Offset/Stride pair, and is frozen while VFs exist. */
Test(sriov_config, ari_switches_offset_and_stride)
{
	struct fx f;
	fx_setup(&f, 16);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, ARI), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_OFFSET, 2), FX_OFF_ARI);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_STRIDE, 2), FX_STRIDE_ARI);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_OFFSET, 4), FX_OFF_ARI | FX_STRIDE_ARI << 16);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, 0), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_OFFSET, 2), FX_OFF);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, 2), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE | ARI), IOVIRT_EBUSY);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, ARI), IOVIRT_EBUSY, "not even with the disable");
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_OFFSET, 2), FX_OFF);
	cr_assert_eq(iovirt_sriov_num_enabled(f.sr), 2);
	fx_done(&f);

	/* not the lowest PF: the bit is read-only zero */
	fx_host(&f, 16);
	f.prm.flags = IOVIRT_SRIOV_ARI_READONLY;
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f.p, &f.prm, &f.sr), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, ARI), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_CTRL, 2), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_OFFSET, 2), FX_OFF);
	fx_done(&f);
}

/* Accesses must have width 1, 2 or 4, lie in the capability and stay inside one dword. */
Test(sriov_config, access_shapes)
{
	struct fx f;
	fx_setup(&f, 16);
	uint32_t v;
	cr_assert_eq(iovirt_sriov_cfg_read(f.sr, 0, 3, &v), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_sriov_cfg_read(f.sr, 0, 8, &v), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_sriov_cfg_read(f.sr, 0x40, 1, &v), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_sriov_cfg_read(f.sr, 0xffffffff, 1, &v), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_sriov_cfg_read(f.sr, 0x0f, 2, &v), IOVIRT_EALIGN);
	cr_assert_eq(iovirt_sriov_cfg_read(f.sr, 0x3e, 4, &v), IOVIRT_EALIGN);
	cr_assert_eq(fx_wr(&f, 0x0f, 2, 0xffff), IOVIRT_EALIGN);
	cr_assert_eq(fx_wr(&f, 0x3d, 4, 0), IOVIRT_EALIGN);
	cr_assert_eq(fx_wr(&f, 0x40, 4, 0), IOVIRT_ERANGE);
	/* unaligned inside one dword is fine (byte enables 0110) */
	cr_assert_eq(iovirt_sriov_cfg_read(f.sr, 0x0d, 2, &v), 0);
	cr_assert_eq(v, (16u >> 8) | (16u << 8), "InitialVFs high byte, TotalVFs low byte");
	cr_assert_eq(fx_wr(&f, 0x11, 2, 0x0000), 0, "NumVFs high byte and FDL");
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_FDL, 1), 0);
	fx_done(&f);
}

/* Each invalid parameter is refused at create with nothing allocated. */
Test(sriov_config, create_refuses_bad_params)
{
	struct fx f;
	fx_host(&f, 16);
	struct iovirt_sriov_params good = f.prm;
	struct iovirt_sriov_reg bad_regs[2] = { fx_regmap[0], fx_regmap[0] };
	struct iovirt_sriov *sr = NULL;
#define BAD(err_, stmt)                                                                  \
	do {                                                                             \
		f.prm = good;                                                            \
		stmt;                                                                    \
		int r_ = iovirt_sriov_create(iovirt_posix_ops(), f.p, &f.prm, &sr);      \
		cr_assert_eq(r_, err_, "%s: %s", #stmt, iovirt_err_name(r_));           \
		cr_assert_null(sr);                                                      \
		cr_assert_eq(iovirt_posix_live_mem(f.p), live);                          \
	} while (0)
	int64_t live = iovirt_posix_live_mem(f.p);
	BAD(IOVIRT_EINVAL, f.prm.size = 8);
	BAD(IOVIRT_EINVAL, f.prm.iommu = NULL);
	BAD(IOVIRT_EINVAL, f.prm.total_vfs = 0);
	BAD(IOVIRT_EINVAL, f.prm.initial_vfs = 17);
	BAD(IOVIRT_EINVAL, f.prm.vf_offset = 0);
	BAD(IOVIRT_EINVAL, f.prm.vf_stride = 0);
	BAD(IOVIRT_EINVAL, f.prm.vf_stride_ari = 0);
	BAD(IOVIRT_EINVAL, f.prm.bus_last = 0);
	BAD(IOVIRT_EINVAL, f.prm.sup_pgsizes = 0x2);
	BAD(IOVIRT_EINVAL, f.prm.flags = 0x8);
	BAD(IOVIRT_EINVAL, f.prm.next_cap = 0x1000);
	BAD(IOVIRT_EINVAL, f.prm.bars[0].size = 0x3000);
	BAD(IOVIRT_EINVAL, f.prm.bars[0].size = 8);
	BAD(IOVIRT_EINVAL, f.prm.bars[0].size = UINT64_C(1) << 32);
	BAD(IOVIRT_EINVAL, f.prm.bars[3].size = 0x1000);
	BAD(IOVIRT_EINVAL, (f.prm.bars[5] = (struct iovirt_sriov_bar){ 0x1000, IOVIRT_SRIOV_BAR_64, 0 }));
	BAD(IOVIRT_EINVAL, f.prm.vf_regs_size = 0);
	BAD(IOVIRT_EINVAL, f.prm.regs = NULL);
	BAD(IOVIRT_EINVAL, f.prm.nregs = IOVIRT_SRIOV_MAX_REGS + 1);
	BAD(IOVIRT_EINVAL, f.prm.pf_windows[1] = ((struct iovirt_sriov_window){ UINT64_MAX, 2 }));
	bad_regs[1].offset = 2;
	BAD(IOVIRT_EINVAL, (f.prm.regs = bad_regs, f.prm.nregs = 2));
	bad_regs[1].offset = 0;
	BAD(IOVIRT_EOVERLAP, (f.prm.regs = bad_regs, f.prm.nregs = 2));
	bad_regs[1] = (struct iovirt_sriov_reg){ .offset = 8, .width = 2, .cls = IOVIRT_SRIOV_REG_DMA_ADDR, .access = 1 };
	BAD(IOVIRT_EINVAL, (f.prm.regs = bad_regs, f.prm.nregs = 2));
	bad_regs[1] = (struct iovirt_sriov_reg){ .offset = 8, .width = 8, .cls = IOVIRT_SRIOV_REG_DMA_ADDR, .access = 0 };
	BAD(IOVIRT_EINVAL, (f.prm.regs = bad_regs, f.prm.nregs = 2));
	bad_regs[1] = (struct iovirt_sriov_reg){ .offset = 8, .width = 4, .cls = 9 };
	BAD(IOVIRT_EINVAL, (f.prm.regs = bad_regs, f.prm.nregs = 2));
	bad_regs[1] = (struct iovirt_sriov_reg){ .offset = FX_WIN - 2, .width = 4, .cls = 1 };
	BAD(IOVIRT_EINVAL, (f.prm.regs = bad_regs, f.prm.nregs = 2));
	cr_assert_eq(iovirt_posix_live_mem(f.p), live, "a refused create holds nothing");
	f.sr = NULL;
	fx_done(&f);
}

/* A host without iotlb_inval (or reg callbacks, with a register map) gets ENOSYS. */
Test(sriov_config, create_needs_callbacks)
{
	struct fx f;
	fx_host(&f, 4);
	struct iovirt_host_ops ops = *iovirt_posix_ops();
	ops.iotlb_inval = NULL;
	struct iovirt_sriov *sr = NULL;
	cr_assert_eq(iovirt_sriov_create(&ops, f.p, &f.prm, &sr), IOVIRT_ENOSYS);
	ops = *iovirt_posix_ops();
	ops.size = offsetof(struct iovirt_host_ops, reg_read);
	cr_assert_eq(iovirt_sriov_create(&ops, f.p, &f.prm, &sr), IOVIRT_ENOSYS);
	f.prm.nregs = 0;
	cr_assert_eq(iovirt_sriov_create(&ops, f.p, &f.prm, &sr), 0, "no map, no reg callbacks needed");
	iovirt_sriov_destroy(sr);
	fx_done(&f);
}

/* Failing the Nth allocation of create, for every N: ENOMEM, *out untouched, nothing leaked. */
Test(sriov_config, create_alloc_failure_every_n)
{
	struct fx f;
	fx_host(&f, 64);
	int64_t live = iovirt_posix_live_mem(f.p);
	for (uint64_t n = 1;; n++) {
		struct iovirt_sriov *sr = (struct iovirt_sriov *)(uintptr_t)0x1;
		iovirt_posix_fail_alloc_at(f.p, n);
		int r = iovirt_sriov_create(iovirt_posix_ops(), f.p, &f.prm, &sr);
		bool fired = iovirt_posix_fail_fired(f.p);
		iovirt_posix_fail_alloc_at(f.p, 0);
		if (!fired) {
			cr_assert_eq(r, 0);
			cr_assert_geq(n, 4, "object, VFs, register map, context table");
			iovirt_sriov_destroy(sr);
			break;
		}
		cr_assert_eq(r, IOVIRT_ENOMEM, "n=%llu", (unsigned long long)n);
		cr_assert_eq(sr, (struct iovirt_sriov *)(uintptr_t)0x1, "out untouched");
		cr_assert_eq(iovirt_posix_live_mem(f.p), live, "n=%llu leaked", (unsigned long long)n);
	}
	cr_assert_eq(iovirt_posix_live_mem(f.p), live);
	fx_done(&f);
}

/* A refused write changes no byte of the capability (all or nothing). */
Test(sriov_config, refused_write_changes_nothing)
{
	struct fx f;
	fx_setup(&f, 16);
	fx_enable(&f, 3);
	uint8_t before[64], after[64];
	for (unsigned i = 0; i < 64; i++)
		before[i] = (uint8_t)fx_rd(&f, i, 1);
	/* dword at 0x08: would set MSE off and ARI on together: ARI refused, so MSE stays */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 4, VFE | ARI), IOVIRT_EBUSY);
	for (unsigned i = 0; i < 64; i++)
		after[i] = (uint8_t)fx_rd(&f, i, 1);
	cr_assert_arr_eq(before, after, 64);
	fx_done(&f);
}

/* sriov_params at version 1 (IOVIRT_SRIOV_PARAMS_SIZE_V1, the caller's struct
 * ending there, in a heap block of exactly that size) creates the PF; one byte
 * less is EINVAL with nothing allocated; a newer, larger size is not refused. */
Test(sriov_config, params_version_1)
{
	struct fx f;
	fx_host(&f, 16);
	struct iovirt_sriov_params *v1 = th_truncated(&f.prm, IOVIRT_SRIOV_PARAMS_SIZE_V1);
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f.p, v1, &f.sr), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_TOTAL_VFS, 2), 16);
	iovirt_sriov_destroy(f.sr);
	f.sr = NULL;
	int64_t live = iovirt_posix_live_mem(f.p);
	v1->size--;
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f.p, v1, &f.sr), IOVIRT_EINVAL);
	cr_assert_null(f.sr);
	cr_assert_eq(iovirt_posix_live_mem(f.p), live);
	free(v1);
	struct { struct iovirt_sriov_params p; uint64_t later; } newer = { f.prm, 42 };
	newer.p.size = sizeof(newer);
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f.p, &newer.p, &f.sr), 0);
	fx_done(&f);
}
