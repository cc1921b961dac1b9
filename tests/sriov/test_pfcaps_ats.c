/* SPDX-License-Identifier: MIT */
/* The PF's ARI and ACS capabilities chained before SR-IOV; ATS per VF and the device-TLB flush discipline. */
#include "fn_fixture.h"
#include "../pin/pin_test.h"

static uint32_t pfrd(struct fx *f, uint32_t off, unsigned w)
{
	uint32_t v = 0xdeadbeef;
	int r = iovirt_sriov_pf_ext_read(f->sr, off, w, &v);
	cr_assert_eq(r, 0, "pf_ext_read(%#x): %s", off, iovirt_err_name(r));
	return v;
}

// the chain ARI -> ACS -> SR-IOV: headers with IDs 0x0E, 0x0D, 0x10 and next pointers; ARI's Next Function Number; ACS capability bits from the params
Test(sriov_pfcaps, chain)
{
	struct fx f;
	fn_setup(&f, 8, NULL);
	cr_assert_eq(pfrd(&f, FN_ARI_OFF, 4), 0x000eu | 1u << 16 | FN_ACS_OFF << 20);
	cr_assert_eq(pfrd(&f, FN_ARI_OFF + 4, 4), 1u << 8);
	cr_assert_eq(pfrd(&f, FN_ACS_OFF, 4), 0x000du | 1u << 16 | FN_SRIOV_OFF << 20);
	cr_assert_eq(pfrd(&f, FN_ACS_OFF + 4, 2), FN_ACS_CAPS);
	cr_assert_eq(pfrd(&f, FN_SRIOV_OFF, 2), IOVIRT_SRIOV_CAP_ID);
	cr_assert_eq(pfrd(&f, FN_SRIOV_OFF + IOVIRT_SRIOV_VF_DID, 2), 0x10ed);
	uint32_t v;
	cr_assert_eq(iovirt_sriov_pf_ext_read(f.sr, 0x200, 4, &v), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_sriov_pf_ext_read(f.sr, 0xfc, 4, &v), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_sriov_pf_ext_read(f.sr, FN_ACS_OFF + 3, 2, &v), IOVIRT_EALIGN);
	fx_done(&f);
}

// ACS Control: only the bits whose capability is set are writable; ARI is read-only; PF reset clears ACS Control
Test(sriov_pfcaps, acs_control)
{
	struct fx f;
	fn_setup(&f, 8, NULL);
	cr_assert_eq(iovirt_sriov_pf_ext_write(f.sr, FN_ACS_OFF + 6, 2, 0xffff), 0);
	cr_assert_eq(pfrd(&f, FN_ACS_OFF + 6, 2), FN_ACS_CAPS);
	cr_assert_eq(iovirt_sriov_acs_ctrl(f.sr), FN_ACS_CAPS);
	cr_assert_eq(iovirt_sriov_pf_ext_write(f.sr, FN_ACS_OFF + 4, 4, 0x00000000), 0);
	cr_assert_eq(pfrd(&f, FN_ACS_OFF + 4, 4), FN_ACS_CAPS, "capability RO, control cleared");
	cr_assert_eq(iovirt_sriov_pf_ext_write(f.sr, FN_ACS_OFF + 7, 1, 0xff), 0);
	cr_assert_eq(iovirt_sriov_acs_ctrl(f.sr), 0, "no capability bit in the high byte");
	cr_assert_eq(iovirt_sriov_pf_ext_write(f.sr, FN_ACS_OFF + 6, 1, IOVIRT_ACS_RR), 0);
	cr_assert_eq(iovirt_sriov_acs_ctrl(f.sr), IOVIRT_ACS_RR);
	iovirt_sriov_pf_reset(f.sr);
	cr_assert_eq(iovirt_sriov_acs_ctrl(f.sr), 0);
	cr_assert_eq(iovirt_sriov_pf_ext_write(f.sr, FN_ARI_OFF + 4, 4, 0xffffffffu), 0);
	cr_assert_eq(pfrd(&f, FN_ARI_OFF + 4, 4), 1u << 8);
	cr_assert_eq(iovirt_sriov_pf_ext_write(f.sr, FN_ACS_OFF, 4, 0), 0);
	cr_assert_eq(pfrd(&f, FN_ACS_OFF, 2), 0x000d);
	fx_done(&f);
}

// writes through the PF space reach the SR-IOV capability with its rules: ARI Capable Hierarchy selects the ARI offset/stride the RIDs follow
Test(sriov_pfcaps, sriov_through_pf_space)
{
	struct fx f;
	fn_setup(&f, 8, NULL);
	cr_assert_eq(iovirt_sriov_pf_ext_write(f.sr, FN_SRIOV_OFF + IOVIRT_SRIOV_CTRL, 2,
					       IOVIRT_SRIOV_CTRL_ARI), 0);
	cr_assert_eq(pfrd(&f, FN_SRIOV_OFF + IOVIRT_SRIOV_VF_OFFSET, 2), FX_OFF_ARI);
	cr_assert_eq(pfrd(&f, FN_SRIOV_OFF + IOVIRT_SRIOV_VF_STRIDE, 2), FX_STRIDE_ARI);
	cr_assert_eq(iovirt_sriov_pf_ext_write(f.sr, FN_SRIOV_OFF + IOVIRT_SRIOV_NUM_VFS, 2, 3), 0);
	cr_assert_eq(iovirt_sriov_pf_ext_write(f.sr, FN_SRIOV_OFF + IOVIRT_SRIOV_CTRL, 2,
					       IOVIRT_SRIOV_CTRL_ARI | IOVIRT_SRIOV_CTRL_VFE), 0);
	cr_assert_eq(fx_rid(&f, 2), FX_PF_RID + FX_OFF_ARI + 2 * FX_STRIDE_ARI);
	cr_assert_eq(iovirt_sriov_pf_ext_write(f.sr, FN_SRIOV_OFF + IOVIRT_SRIOV_NUM_VFS, 2, 4), IOVIRT_EBUSY);
	fx_done(&f);
}

/* ---- ATS ---- */

#define MAXEV 1024
static struct iovirt_posix_event ev[MAXEV];

/* lib/pin's world (pin_test.h) with the SR-IOV fixture on its iommu; VF 0 bound to its guest and ASID. */
struct world {
	struct pt t;
	struct fx f;
};

static void world_init_pin(struct world *w, struct fn_reports *rep, const struct iovirt_pin_params *pp)
{
	pt_init_params(&w->t, pp);
	memset(&w->f, 0, sizeof(w->f));
	w->f.p = w->t.p;
	w->f.io = w->t.io;
	w->f.devregs = calloc(8, FX_WIN);
	cr_assert_eq(iovirt_posix_dev_add(w->f.p, FX_DEV, w->f.devregs, 8 * FX_WIN), 0);
	fx_params(&w->f, w->t.io, 8);
	w->f.prm.next_cap = 0;
	if (rep) {
		memset(rep, 0, sizeof(*rep));
		w->f.prm.report = fn_report;
		w->f.prm.hook_arg = rep;
	}
	struct iovirt_sriov_fn_params fp = fn_params();
	cr_assert_eq(iovirt_sriov_create_fn(iovirt_posix_ops(), w->f.p, &w->f.prm, &fp, &w->f.sr), 0);
	fx_enable(&w->f, 2);
	cr_assert_eq(iovirt_sriov_vf_bind(w->f.sr, 0, PT_GUEST, PT_ASID), 0);
	cr_assert_eq(vwr(&w->f, 0, RAW, 0x04, 2, 4), 0);
}

static void world_init(struct world *w, struct fn_reports *rep)
{
	world_init_pin(w, rep, NULL);
}

static void world_fini(struct world *w)
{
	iovirt_sriov_destroy(w->f.sr);
	pt_fini(&w->t);
	free(w->f.devregs);
}

static size_t find(size_t n, uint32_t cb, size_t from)
{
	for (size_t i = from; i < n; i++)
		if (ev[i].cb == cb)
			return i;
	return SIZE_MAX;
}

// ATS Enable on a VF without an address space is refused; the capability's Enable bit follows writes on a bound VF
Test(sriov_ats, enable_needs_binding)
{
	struct world w;
	struct fn_reports rep;
	world_init(&w, &rep);
	cr_assert_eq(vwr(&w.f, 1, RAW, 0x10e, 2, 0x8000), IOVIRT_ENOASID);
	cr_assert_eq(rep.n, 1);
	cr_assert_eq(vrd(&w.f, 1, RAW, 0x10e, 2), 0);
	cr_assert_eq(vwr(&w.f, 0, RAW, 0x10e, 2, 0xffff), 0);
	cr_assert_eq(vrd(&w.f, 0, RAW, 0x10e, 2), 0x8000, "STU is the PF's: RO 0");
	world_fini(&w);
}

// the flush discipline with ATS: a pinned mapping's unmap gives the IOTLB invalidation, then the device-TLB invalidation for the VF's RID covering it, and only then the unpin
Test(sriov_ats, unpin_after_devtlb_inval)
{
	struct world w;
	world_init(&w, NULL);
	cr_assert_eq(vwr(&w.f, 0, RAW, 0x10e, 2, 0x8000), 0);
	struct iovirt_pin_handle h;
	uint64_t iova = 0;
	cr_assert_eq(iovirt_pin_map(w.t.dom, w.t.io, PT_ASID, PT_GPA, 2 * 4096, PRW, 0, &iova, &h), 0);
	cr_assert_eq(iovirt_posix_log_enable(w.t.p, MAXEV), 0);
	cr_assert_eq(iovirt_pin_unmap(w.t.dom, h), 0);
	size_t n = iovirt_posix_log_read(w.t.p, ev, MAXEV);
	size_t io = find(n, IOVIRT_CB_IOTLB_INVAL, 0);
	size_t dev = find(n, IOVIRT_CB_DEVTLB_INVAL, 0);
	size_t un = find(n, IOVIRT_CB_UNPIN, 0);
	cr_assert_neq(io, SIZE_MAX);
	cr_assert_neq(dev, SIZE_MAX, "no device-TLB invalidation");
	cr_assert_neq(un, SIZE_MAX);
	cr_assert_lt(io, dev);
	cr_assert_lt(dev, un, "unpinned before the device-TLB invalidation");
	cr_assert_eq(ev[dev].id, fx_rid(&w.f, 0));
	cr_assert_eq(ev[dev].c >> 8, PT_ASID);
	cr_assert_leq(ev[dev].a, iova);
	cr_assert_geq(ev[dev].a + ev[dev].b, iova + 2 * 4096);
	world_fini(&w);
}

// batched unmaps (lib/pin's gathered invalidations): at the flush, the IOTLB invalidation, then the device-TLB one, then the unpins
Test(sriov_ats, batched_flush_unpins_after_devtlb_inval)
{
	struct world w;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .batch = 8 };
	world_init_pin(&w, NULL, &pp);
	cr_assert_eq(vwr(&w.f, 0, RAW, 0x10e, 2, 0x8000), 0);
	struct iovirt_pin_handle h[3];
	uint64_t iova[3];
	for (int i = 0; i < 3; i++)
		cr_assert_eq(iovirt_pin_map(w.t.dom, w.t.io, PT_ASID, PT_GPA + i * 0x2000ull, 0x1000, PRW, 0,
					    &iova[i], &h[i]), 0);
	cr_assert_eq(iovirt_posix_log_enable(w.t.p, MAXEV), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(iovirt_pin_unmap(w.t.dom, h[i]), 0);
	cr_assert_eq(iovirt_posix_count(w.t.p, IOVIRT_CB_UNPIN), 0, "batched: nothing yet");
	cr_assert_eq(iovirt_pin_flush(w.t.dom), 3);
	size_t n = iovirt_posix_log_read(w.t.p, ev, MAXEV);
	size_t dev = find(n, IOVIRT_CB_DEVTLB_INVAL, 0), un = find(n, IOVIRT_CB_UNPIN, 0);
	cr_assert_neq(dev, SIZE_MAX);
	cr_assert_neq(un, SIZE_MAX);
	cr_assert_lt(find(n, IOVIRT_CB_IOTLB_INVAL, 0), dev);
	cr_assert_lt(dev, un, "unpinned before the device-TLB invalidation");
	for (int i = 0; i < 3; i++)
		cr_assert(ev[dev].a <= iova[i] && iova[i] + 0x1000 <= ev[dev].a + ev[dev].b);
	world_fini(&w);
}

// without ATS Enable, or after it is cleared, no device-TLB invalidation is sent
Test(sriov_ats, no_devtlb_without_ats)
{
	struct world w;
	world_init(&w, NULL);
	struct iovirt_pin_handle h;
	uint64_t iova = 0;
	cr_assert_eq(vwr(&w.f, 0, RAW, 0x10e, 2, 0x8000), 0);
	cr_assert_eq(vwr(&w.f, 0, RAW, 0x10e, 2, 0), 0);
	cr_assert_eq(iovirt_pin_map(w.t.dom, w.t.io, PT_ASID, PT_GPA, 4096, PRW, 0, &iova, &h), 0);
	cr_assert_eq(iovirt_pin_unmap(w.t.dom, h), 0);
	cr_assert_eq(iovirt_posix_count(w.t.p, IOVIRT_CB_DEVTLB_INVAL), 0);
	world_fini(&w);
}

// VF reset with ATS on: every invalidation of the ASID is followed by a device-TLB one before the registers are reset; afterwards ATS is off and the ASID sends none
Test(sriov_ats, reset_invalidates_device_tlb)
{
	struct world w;
	world_init(&w, NULL);
	cr_assert_eq(iovirt_pt_map(w.t.io, PT_ASID, 0x100000, 0x4000000, 0x2000, PRW), 0);
	cr_assert_eq(vwr(&w.f, 0, RAW, 0x10e, 2, 0x8000), 0);
	cr_assert_eq(iovirt_posix_log_enable(w.t.p, MAXEV), 0);
	cr_assert_eq(iovirt_sriov_vf_reset(w.f.sr, 0), 0);
	size_t n = iovirt_posix_log_read(w.t.p, ev, MAXEV);
	size_t ninv = 0;
	for (size_t i = 0; i < n; i++) {
		if (ev[i].cb != IOVIRT_CB_IOTLB_INVAL)
			continue;
		ninv++;
		cr_assert_lt(i + 1, n);
		cr_assert_eq(ev[i + 1].cb, IOVIRT_CB_DEVTLB_INVAL, "event %zu", i);
		cr_assert_eq(ev[i + 1].a, ev[i].a);
		cr_assert_eq(ev[i + 1].b, ev[i].b);
	}
	cr_assert_geq(ninv, 2, "the unmap's and the ASID-wide one");
	size_t reg = find(n, IOVIRT_CB_REG_WRITE, 0);
	cr_assert_neq(reg, SIZE_MAX);
	for (size_t i = reg; i < n; i++)
		cr_assert_neq(ev[i].cb, IOVIRT_CB_DEVTLB_INVAL);
	cr_assert_eq(vrd(&w.f, 0, RAW, 0x10e, 2), 0);
	uint64_t before = iovirt_posix_count(w.t.p, IOVIRT_CB_DEVTLB_INVAL);
	cr_assert_eq(iovirt_pt_map(w.t.io, PT_ASID, 0x100000, 0x4000000, 0x1000, PRW), 0);
	cr_assert_eq(iovirt_pt_unmap(w.t.io, PT_ASID, 0x100000, 0x1000), 0x1000);
	cr_assert_eq(iovirt_posix_count(w.t.p, IOVIRT_CB_DEVTLB_INVAL), before);
	world_fini(&w);
}

// a host too old for devtlb_inval: create_fn with ATS is ENOSYS, iovirt_pt_ats_set too; ats_set refuses unknown spaces and a second device
Test(sriov_ats, host_version_and_ats_set_rules)
{
	struct fx f;
	fx_host(&f, 8);
	struct iovirt_host_ops old = *iovirt_posix_ops();
	old.size = offsetof(struct iovirt_host_ops, devtlb_inval);
	struct iovirt_sriov_fn_params fp = fn_params();
	struct iovirt_sriov *sr = NULL;
	cr_assert_eq(iovirt_sriov_create_fn(&old, f.p, &f.prm, &fp, &sr), IOVIRT_ENOSYS);
	fp.flags &= ~(uint32_t)IOVIRT_SRIOV_FN_ATS;
	cr_assert_eq(iovirt_sriov_create_fn(&old, f.p, &f.prm, &fp, &sr), 0);
	iovirt_sriov_destroy(sr);
	struct iovirt_iommu *io2;
	cr_assert_eq(iovirt_iommu_create(&old, f.p, NULL, &io2), 0);
	cr_assert_eq(iovirt_pt_space_create(io2, 1, NULL), 0);
	cr_assert_eq(iovirt_pt_ats_set(io2, 1, 0x100, true), IOVIRT_ENOSYS);
	iovirt_iommu_destroy(io2);
	cr_assert_eq(iovirt_pt_ats_set(f.io, 9, 0x100, true), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_space_create(f.io, 9, NULL), 0);
	cr_assert_eq(iovirt_pt_ats_set(f.io, 9, 0x100, true), 0);
	cr_assert_eq(iovirt_pt_ats_set(f.io, 9, 0x101, true), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_pt_ats_set(f.io, 9, 0x101, false), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_ats_set(f.io, 9, 0x100, false), 0);
	cr_assert_eq(iovirt_pt_ats_set(f.io, IOVIRT_ASID_MAX + 1, 0x100, true), IOVIRT_EINVAL);
	f.sr = NULL;
	fx_done(&f);
}

// destroying a space with ATS registered: its ASID-wide invalidation is followed by the device-TLB one (the space is already out of the directory then)
Test(sriov_ats, space_destroy_invalidates_device_tlb)
{
	struct fx f;
	fx_host(&f, 8);
	cr_assert_eq(iovirt_pt_space_create(f.io, 9, NULL), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 9, 0x1000, 0x5000000, 0x1000, PRW), 0);
	cr_assert_eq(iovirt_pt_ats_set(f.io, 9, 0x123, true), 0);
	cr_assert_eq(iovirt_posix_log_enable(f.p, MAXEV), 0);
	cr_assert_eq(iovirt_pt_space_destroy(f.io, 9), 0);
	size_t n = iovirt_posix_log_read(f.p, ev, MAXEV);
	size_t io = find(n, IOVIRT_CB_IOTLB_INVAL, 0), dev = find(n, IOVIRT_CB_DEVTLB_INVAL, 0);
	cr_assert_neq(dev, SIZE_MAX);
	cr_assert_eq(dev, io + 1);
	cr_assert_eq(ev[dev].id, 0x123);
	cr_assert_eq(ev[dev].c & 0xff, IOVIRT_INVAL_ASID);
	f.sr = NULL;
	fx_done(&f);
}
