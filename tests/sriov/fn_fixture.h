/* SPDX-License-Identifier: MIT */
/* The sriov fixture with the functions' emulation (create_fn): MSI-X in VF BAR2, ARI, ACS, ATS. */
#ifndef IOVIRT_TESTS_SRIOV_FN_FIXTURE_H
#define IOVIRT_TESTS_SRIOV_FN_FIXTURE_H

#include "fixture.h"

#define FN_VENDOR 0x8086
#define FN_NVEC 16u
#define FN_TBL_BIR 2
#define FN_TBL_OFF 0x1000u
#define FN_PBA_BIR 2
#define FN_PBA_OFF 0x1800u
#define FN_ARI_OFF 0x100u
#define FN_ACS_OFF 0x108u
#define FN_SRIOV_OFF 0x160u
#define FN_ACS_CAPS (IOVIRT_ACS_SV | IOVIRT_ACS_RR | IOVIRT_ACS_CR | IOVIRT_ACS_UF)
#define FN_BAR2_BASE UINT64_C(0x200000000)
#define FN_BAR0_BASE UINT64_C(0x80000000)

#define PCIE_OFF IOVIRT_SRIOV_VF_PCIE_CAP
#define MSIX_OFF IOVIRT_SRIOV_VF_MSIX_CAP
#define RAW IOVIRT_SRIOV_VIEW_RAW
#define VIRT IOVIRT_SRIOV_VIEW_VIRT

/* The events the report hook was told, for the tests that count them. */
struct fn_reports {
	int n;
	struct iovirt_sriov_event last;
};

static inline void fn_report(void *arg, const struct iovirt_sriov_event *ev)
{
	struct fn_reports *r = arg;
	r->n++;
	r->last = *ev;
}

static inline struct iovirt_sriov_fn_params fn_params(void)
{
	struct iovirt_sriov_fn_params f;
	memset(&f, 0, sizeof(f));
	f.size = sizeof(f);
	f.flags = IOVIRT_SRIOV_FN_ARI | IOVIRT_SRIOV_FN_ACS | IOVIRT_SRIOV_FN_ATS;
	f.pf_vendor_id = FN_VENDOR;
	f.revision = 0x02;
	f.class_code = 0x020000; /* Ethernet controller */
	f.subsys_vendor_id = FN_VENDOR;
	f.subsys_id = 0x0001;
	f.msix_vectors = FN_NVEC;
	f.msix_table_bir = FN_TBL_BIR;
	f.msix_table_off = FN_TBL_OFF;
	f.msix_pba_bir = FN_PBA_BIR;
	f.msix_pba_off = FN_PBA_OFF;
	f.pf_ari_off = FN_ARI_OFF;
	f.pf_acs_off = FN_ACS_OFF;
	f.pf_sriov_off = FN_SRIOV_OFF;
	f.ari_next_fn = 1;
	f.acs_caps = FN_ACS_CAPS;
	f.ats_caps = 0x20; /* Page Aligned Request */
	return f;
}

/* fx_host + create_fn with fp; the report hook counts into *rep when given. */
static inline void fn_setup_with(struct fx *f, uint16_t total, const struct iovirt_sriov_fn_params *fp,
				 struct fn_reports *rep)
{
	fx_host(f, total);
	f->prm.next_cap = 0;
	if (rep) {
		memset(rep, 0, sizeof(*rep));
		f->prm.report = fn_report;
		f->prm.hook_arg = rep;
	}
	int r = iovirt_sriov_create_fn(iovirt_posix_ops(), f->p, &f->prm, fp, &f->sr);
	cr_assert_eq(r, 0, "create_fn: %s", iovirt_err_name(r));
}

static inline void fn_setup(struct fx *f, uint16_t total, struct fn_reports *rep)
{
	struct iovirt_sriov_fn_params fp = fn_params();
	fn_setup_with(f, total, &fp, rep);
}

static inline uint32_t vrd(struct fx *f, uint32_t vf, unsigned view, uint32_t off, unsigned w)
{
	uint32_t v = 0xdeadbeef;
	int r = iovirt_sriov_vf_cfg_read(f->sr, vf, view, off, w, &v);
	cr_assert_eq(r, 0, "vf_cfg_read(%u, %#x, %u): %s", vf, off, w, iovirt_err_name(r));
	return v;
}

static inline int vwr(struct fx *f, uint32_t vf, unsigned view, uint32_t off, unsigned w, uint32_t v)
{
	return iovirt_sriov_vf_cfg_write(f->sr, vf, view, off, w, v);
}

/* Bus address of VF vf's MSI-X table entry vec, field byte off. */
static inline uint64_t fn_tbl(uint32_t vf, uint32_t vec, uint32_t off)
{
	return FN_BAR2_BASE + (uint64_t)vf * FX_BAR2 + FN_TBL_OFF + vec * 16 + off;
}

static inline uint64_t fn_pba(uint32_t vf)
{
	return FN_BAR2_BASE + (uint64_t)vf * FX_BAR2 + FN_PBA_OFF;
}

/* Programs entry vec of VF vf (owned by guest) with a message in the x86 window, unmasked. */
static inline void fn_msix_prog(struct fx *f, uint32_t guest, uint32_t vf, uint32_t vec, uint32_t data)
{
	cr_assert_eq(iovirt_sriov_msix_write(f->sr, guest, fn_tbl(vf, vec, 0), 4, 0xfee00000u + vec * 0x1000), 0);
	cr_assert_eq(iovirt_sriov_msix_write(f->sr, guest, fn_tbl(vf, vec, 4), 4, 0), 0);
	cr_assert_eq(iovirt_sriov_msix_write(f->sr, guest, fn_tbl(vf, vec, 8), 4, data), 0);
	cr_assert_eq(iovirt_sriov_msix_write(f->sr, guest, fn_tbl(vf, vec, 12), 4, 0), 0);
}

#endif
