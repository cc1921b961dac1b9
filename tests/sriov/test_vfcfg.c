/* SPDX-License-Identifier: MIT */
/* Each VF's configuration space: the SR-IOV rules for a VF's header, both views, FLR, BME. */
#include "fn_fixture.h"

#define RW (IOVIRT_PROT_READ | IOVIRT_PROT_WRITE)

// raw view: Vendor/Device ID all ones, Command 0, Status capabilities list, Revision/Class from the PF, BARs 0, Interrupt Pin 0, capability pointer to the PCIe capability
Test(sriov_vfcfg, raw_header_follows_the_vf_rules)
{
	struct fx f;
	fn_setup(&f, 8, NULL);
	fx_enable(&f, 4);
	cr_assert_eq(vrd(&f, 1, RAW, 0x00, 4), 0xffffffffu);
	cr_assert_eq(vrd(&f, 1, RAW, 0x02, 2), 0xffffu);
	cr_assert_eq(vrd(&f, 1, RAW, 0x04, 2), 0);
	cr_assert_eq(vrd(&f, 1, RAW, 0x06, 2), 0x0010);
	cr_assert_eq(vrd(&f, 1, RAW, 0x08, 4), 0x02000002u);
	for (uint32_t o = 0x10; o < 0x28; o += 4)
		cr_assert_eq(vrd(&f, 1, RAW, o, 4), 0, "BAR at %#x", o);
	cr_assert_eq(vrd(&f, 1, RAW, 0x2c, 4), 0x00018086u);
	cr_assert_eq(vrd(&f, 1, RAW, 0x34, 1), PCIE_OFF);
	cr_assert_eq(vrd(&f, 1, RAW, 0x3d, 1), 0, "Interrupt Pin");
	cr_assert_eq(vrd(&f, 1, RAW, 0x0e, 1), 0, "Header Type 0");
	fx_done(&f);
}

// virtualized view: the PF's Vendor ID and the VF Device ID from the SR-IOV capability; BARs hold the VF's addresses from the PF's VF BARs
Test(sriov_vfcfg, virtualized_ids_and_bars)
{
	struct fx f;
	fn_setup(&f, 8, NULL);
	fx_enable(&f, 4);
	cr_assert_eq(vrd(&f, 3, VIRT, 0x00, 2), FN_VENDOR);
	cr_assert_eq(vrd(&f, 3, VIRT, 0x02, 2), 0x10ed);
	cr_assert_eq(vrd(&f, 3, VIRT, 0x10, 4), 0x80000000u + 3 * FX_BAR0);
	cr_assert_eq(vrd(&f, 3, VIRT, 0x14, 4), 0, "BAR1 absent");
	cr_assert_eq(vrd(&f, 3, VIRT, 0x18, 4), (uint32_t)(3 * FX_BAR2) | 0xc, "64-bit prefetchable");
	cr_assert_eq(vrd(&f, 3, VIRT, 0x1c, 4), 2);
	fx_done(&f);
}

// virtualized BAR sizing: all ones reads back the size mask with the flag bits; the upper half gives the 64-bit mask; read-only flags survive any write
Test(sriov_vfcfg, virtualized_bar_sizing)
{
	struct fx f;
	fn_setup(&f, 8, NULL);
	fx_enable(&f, 2);
	cr_assert_eq(vwr(&f, 0, VIRT, 0x10, 4, 0xffffffffu), 0);
	cr_assert_eq(vrd(&f, 0, VIRT, 0x10, 4), ~(FX_BAR0 - 1));
	cr_assert_eq(vwr(&f, 0, VIRT, 0x18, 4, 0xffffffffu), 0);
	cr_assert_eq(vwr(&f, 0, VIRT, 0x1c, 4, 0xffffffffu), 0);
	cr_assert_eq(vrd(&f, 0, VIRT, 0x18, 4), ~(FX_BAR2 - 1) | 0xc);
	cr_assert_eq(vrd(&f, 0, VIRT, 0x1c, 4), 0xffffffffu);
	cr_assert_eq(vwr(&f, 0, VIRT, 0x14, 4, 0xffffffffu), 0);
	cr_assert_eq(vrd(&f, 0, VIRT, 0x14, 4), 0, "absent BAR stays 0");
	/* the guest places it */
	cr_assert_eq(vwr(&f, 0, VIRT, 0x10, 4, 0xc0001234u), 0);
	cr_assert_eq(vrd(&f, 0, VIRT, 0x10, 4), 0xc0000000u);
	/* the raw view never changes */
	cr_assert_eq(vwr(&f, 0, RAW, 0x10, 4, 0xffffffffu), 0);
	cr_assert_eq(vrd(&f, 0, RAW, 0x10, 4), 0);
	fx_done(&f);
}

// Command: Memory Space Enable is read-only 0 in the raw view and a shadow in the virtualized one; I/O, Interrupt Disable and the other bits stay 0
Test(sriov_vfcfg, command_bits)
{
	struct fx f;
	fn_setup(&f, 8, NULL);
	fx_enable(&f, 2);
	fx_bind(&f, 0, 100, 50);
	cr_assert_eq(vwr(&f, 0, RAW, 0x04, 2, 0xffff), 0);
	cr_assert_eq(vrd(&f, 0, RAW, 0x04, 2), 0x0004, "only Bus Master Enable");
	cr_assert_eq(vrd(&f, 0, VIRT, 0x04, 2), 0x0004, "the raw view has no MSE to set the shadow");
	cr_assert_eq(vwr(&f, 0, VIRT, 0x04, 2, 0x0002 | 0x0004 | 0x0400 | 0x0001), 0);
	cr_assert_eq(vrd(&f, 0, VIRT, 0x04, 2), 0x0006);
	cr_assert_eq(vrd(&f, 0, RAW, 0x04, 2), 0x0004);
	/* a raw write keeps the shadow the virtualized view set */
	cr_assert_eq(vwr(&f, 0, RAW, 0x04, 2, 0x0004), 0);
	cr_assert_eq(vrd(&f, 0, VIRT, 0x04, 2), 0x0006);
	cr_assert_eq(vwr(&f, 0, RAW, 0x04, 2, 0), 0);
	cr_assert_eq(vrd(&f, 0, VIRT, 0x04, 2), 0x0002, "BME off through the raw view, MSE shadow kept");
	/* Status is read-only: a write of all ones clears nothing and sets nothing */
	cr_assert_eq(vwr(&f, 0, RAW, 0x06, 2, 0xffff), 0);
	cr_assert_eq(vrd(&f, 0, RAW, 0x06, 2), 0x0010);
	fx_done(&f);
}

// Bus Master Enable on a VF bound to no address space is refused, reported, and changes nothing
Test(sriov_vfcfg, bme_on_unassigned_vf_refused)
{
	struct fx f;
	struct fn_reports rep;
	fn_setup(&f, 8, &rep);
	fx_enable(&f, 2);
	cr_assert_eq(vwr(&f, 1, RAW, 0x04, 2, 0x0004), IOVIRT_ENOASID);
	cr_assert_eq(vrd(&f, 1, RAW, 0x04, 2), 0);
	cr_assert_eq(rep.n, 1);
	cr_assert_eq(rep.last.kind, IOVIRT_SRIOV_EV_CFG);
	cr_assert_eq(rep.last.err, IOVIRT_ENOASID);
	cr_assert_eq(rep.last.vf, 1);
	cr_assert_eq(rep.last.offset, 0x04);
	cr_assert(rep.last.is_write);
	fx_done(&f);
}

// DMA of a bound VF is translated only while its Bus Master Enable is set (ENOMASTER otherwise)
Test(sriov_vfcfg, bme_gates_dma_translate)
{
	struct fx f;
	fn_setup(&f, 8, NULL);
	fx_enable(&f, 2);
	fx_bind(&f, 1, 100, 50);
	cr_assert_eq(iovirt_pt_map(f.io, 50, 0x10000, 0x1000000, 0x1000, RW), 0);
	struct iovirt_xlate x;
	uint16_t rid = fx_rid(&f, 1);
	cr_assert_eq(iovirt_sriov_dma_translate(f.sr, rid, 0x10000, IOVIRT_PROT_READ, &x), IOVIRT_ENOMASTER);
	cr_assert_eq(vwr(&f, 1, RAW, 0x04, 1, 0x04), 0);
	cr_assert_eq(iovirt_sriov_dma_translate(f.sr, rid, 0x10000, IOVIRT_PROT_READ, &x), 0);
	cr_assert_eq(x.pa, 0x1000000);
	cr_assert_eq(vwr(&f, 1, VIRT, 0x04, 2, 0), 0);
	cr_assert_eq(iovirt_sriov_dma_translate(f.sr, rid, 0x10000, IOVIRT_PROT_READ, &x), IOVIRT_ENOMASTER);
	fx_done(&f);
}

// a PF made by plain create keeps its old behaviour: no BME gate, and the VF calls say ENOSYS
Test(sriov_vfcfg, plain_pf_has_no_functions)
{
	struct fx f;
	fx_setup(&f, 8);
	fx_enable(&f, 1);
	fx_bind(&f, 0, 100, 50);
	cr_assert_eq(iovirt_pt_map(f.io, 50, 0x10000, 0x1000000, 0x1000, RW), 0);
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_sriov_dma_translate(f.sr, fx_rid(&f, 0), 0x10000, IOVIRT_PROT_READ, &x), 0);
	uint32_t v;
	cr_assert_eq(iovirt_sriov_vf_cfg_read(f.sr, 0, RAW, 0, 4, &v), IOVIRT_ENOSYS);
	cr_assert_eq(iovirt_sriov_vf_cfg_write(f.sr, 0, RAW, 4, 2, 4), IOVIRT_ENOSYS);
	cr_assert_eq(iovirt_sriov_pf_ext_read(f.sr, 0x100, 4, &v), IOVIRT_ENOSYS);
	uint64_t q;
	cr_assert_eq(iovirt_sriov_msix_read(f.sr, 100, FN_BAR2_BASE + FN_TBL_OFF, 4, &q), IOVIRT_ENOSYS);
	fx_done(&f);
}

// the PCIe capability: version 2 endpoint, FLR capable, next pointer to MSI-X; Initiate FLR reads 0
Test(sriov_vfcfg, pcie_capability)
{
	struct fx f;
	fn_setup(&f, 8, NULL);
	fx_enable(&f, 1);
	cr_assert_eq(vrd(&f, 0, RAW, PCIE_OFF, 4), 0x0002u << 16 | MSIX_OFF << 8 | 0x10);
	cr_assert(vrd(&f, 0, RAW, PCIE_OFF + 4, 4) & 0x10000000u, "FLR capable");
	cr_assert_eq(vwr(&f, 0, RAW, PCIE_OFF + 8, 2, 0x8000), 0);
	cr_assert_eq(vrd(&f, 0, RAW, PCIE_OFF + 8, 2), 0);
	fx_done(&f);
}

/* What the quiesce hook saw. */
static struct {
	struct fx *f;
	int calls;
	int xlate;   /* a DMA of the VF tried inside the hook */
	int mapped;  /* the ASID still translated inside the hook */
} qh;

static void quiesce(void *arg, uint32_t vf, uint16_t rid, uint32_t asid)
{
	(void)arg;
	(void)vf;
	struct iovirt_xlate x;
	qh.calls++;
	qh.xlate = iovirt_sriov_dma_translate(qh.f->sr, rid, 0x10000, IOVIRT_PROT_READ, &x);
	qh.mapped = iovirt_pt_translate(qh.f->io, asid, 0x10000, IOVIRT_PROT_READ, &x);
}

// Initiate FLR while DMA is in flight runs iovirt_sriov_vf_reset in order (DMA faults, quiesce with the ASID still mapped, then unmapped) and returns the VF's config, MSI-X and binding to reset values
Test(sriov_vfcfg, flr_runs_vf_reset)
{
	struct fx f;
	memset(&qh, 0, sizeof(qh));
	qh.f = &f;
	fx_host(&f, 8);
	f.prm.next_cap = 0;
	f.prm.dma_quiesce = quiesce;
	struct iovirt_sriov_fn_params fp = fn_params();
	cr_assert_eq(iovirt_sriov_create_fn(iovirt_posix_ops(), f.p, &f.prm, &fp, &f.sr), 0);
	fx_enable(&f, 2);
	fx_bind(&f, 1, 100, 50);
	cr_assert_eq(iovirt_pt_map(f.io, 50, 0x10000, 0x1000000, 0x1000, RW), 0);
	cr_assert_eq(vwr(&f, 1, VIRT, 0x04, 2, 0x0006), 0);
	cr_assert_eq(vwr(&f, 1, VIRT, 0x10, 4, 0xc0000000u), 0);
	cr_assert_eq(vwr(&f, 1, RAW, MSIX_OFF + 2, 2, 0x8000), 0);
	fn_msix_prog(&f, 100, 1, 3, 0x41);
	cr_assert_eq(vwr(&f, 1, RAW, PCIE_OFF + 8, 2, 0x8000), 0);
	cr_assert_eq(qh.calls, 1);
	cr_assert_eq(qh.xlate, IOVIRT_ENOASID, "new DMA faults before the quiesce");
	cr_assert_eq(qh.mapped, 0, "the ASID is unmapped only after the quiesce");
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(f.io, 50, 0x10000, IOVIRT_PROT_READ, &x), IOVIRT_ENOENT);
	struct iovirt_sriov_vf_info info;
	cr_assert_eq(iovirt_sriov_vf_info(f.sr, 1, &info), 0);
	cr_assert_eq(info.state, IOVIRT_SRIOV_VF_FREE);
	cr_assert_eq(info.resets, 1);
	cr_assert_eq(vrd(&f, 1, VIRT, 0x04, 2), 0);
	cr_assert_eq(vrd(&f, 1, VIRT, 0x10, 4), 0x80000000u + FX_BAR0, "BAR back to the VF's address");
	cr_assert_eq(vrd(&f, 1, RAW, MSIX_OFF + 2, 2), FN_NVEC - 1, "MSI-X disabled");
	/* the table is masked and empty again (read as its new owner) */
	fx_bind(&f, 1, 101, 51);
	uint64_t v;
	cr_assert_eq(iovirt_sriov_msix_read(f.sr, 101, fn_tbl(1, 3, 0), 8, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(iovirt_sriov_msix_read(f.sr, 101, fn_tbl(1, 3, 8), 8, &v), 0);
	cr_assert_eq(v, UINT64_C(1) << 32, "Mask Bit set, data 0");
	fx_done(&f);
}

// the access rules of the PF capability: width 1/2/4 inside one dword, below 4 KiB, an enabled VF and a known view; every refusal reported and nothing changed
Test(sriov_vfcfg, access_rules)
{
	struct fx f;
	struct fn_reports rep;
	fn_setup(&f, 8, &rep);
	fx_enable(&f, 2);
	uint32_t v;
	cr_assert_eq(iovirt_sriov_vf_cfg_read(f.sr, 0, RAW, 0, 3, &v), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_sriov_vf_cfg_read(f.sr, 0, RAW, 0x1000, 1, &v), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_sriov_vf_cfg_read(f.sr, 0, RAW, 0x3, 2, &v), IOVIRT_EALIGN);
	cr_assert_eq(iovirt_sriov_vf_cfg_read(f.sr, 2, RAW, 0, 4, &v), IOVIRT_ENOVF);
	cr_assert_eq(iovirt_sriov_vf_cfg_read(f.sr, 0, 2, 0, 4, &v), IOVIRT_EINVAL);
	cr_assert_eq(rep.n, 5);
	cr_assert_eq(vwr(&f, 0, VIRT, 0x12, 4, 0xffffffffu), IOVIRT_EALIGN);
	cr_assert_eq(vwr(&f, 0, VIRT, 0x2000, 4, 0), IOVIRT_ERANGE);
	cr_assert_eq(vwr(&f, 7, VIRT, 0x4, 2, 4), IOVIRT_ENOVF);
	cr_assert_eq(rep.n, 8);
	cr_assert_eq(rep.last.err, IOVIRT_ENOVF);
	cr_assert_eq(vrd(&f, 0, VIRT, 0x10, 4), 0x80000000u);
	cr_assert_eq(iovirt_sriov_vf_cfg_read(f.sr, 0, RAW, 0, 4, NULL), IOVIRT_EINVAL);
	cr_assert_eq(rep.n, 8, "the caller's NULL is not the guest's");
	/* byte enables: one byte of a dword reads that byte */
	cr_assert_eq(vrd(&f, 0, VIRT, 0x01, 1), 0x80);
	cr_assert_eq(vrd(&f, 0, VIRT, 0x03, 1), 0x10);
	fx_done(&f);
}

// every read-only byte of the whole 4 KiB space ignores writes of all ones in both views (only BME, MSE, BARs, MSI-X control and ATS Enable move)
Test(sriov_vfcfg, read_only_everywhere_else)
{
	struct fx f;
	fn_setup(&f, 8, NULL);
	fx_enable(&f, 2);
	fx_bind(&f, 0, 100, 50);
	static uint32_t before[2][1024];
	for (unsigned view = 0; view < 2; view++)
		for (uint32_t o = 0; o < 0x1000; o += 4)
			before[view][o / 4] = vrd(&f, 0, view, o, 4);
	for (unsigned view = 0; view < 2; view++)
		for (uint32_t o = 0; o < 0x1000; o += 4) {
			if (o == 0x04 || (o >= 0x10 && o < 0x28) || o == MSIX_OFF ||
			    o == PCIE_OFF + 8 || o == 0x10c)
				continue;
			cr_assert_eq(vwr(&f, 0, view, o, 4, 0xffffffffu), 0);
		}
	for (unsigned view = 0; view < 2; view++)
		for (uint32_t o = 0; o < 0x1000; o += 4)
			cr_assert_eq(vrd(&f, 0, view, o, 4), before[view][o / 4], "view %u at %#x", view, o);
	fx_done(&f);
}

// the extended chain: ARI (VF Next Function Number 0) at 0x100 pointing at ATS at 0x108, which ends the chain
Test(sriov_vfcfg, extended_chain)
{
	struct fx f;
	fn_setup(&f, 8, NULL);
	fx_enable(&f, 1);
	cr_assert_eq(vrd(&f, 0, RAW, 0x100, 4), 0x000eu | 1u << 16 | 0x108u << 20);
	cr_assert_eq(vrd(&f, 0, RAW, 0x104, 4), 0);
	cr_assert_eq(vrd(&f, 0, RAW, 0x108, 4), 0x000fu | 1u << 16);
	cr_assert_eq(vrd(&f, 0, RAW, 0x10c, 4), 0x20, "Page Aligned Request, IQD and STU 0, disabled");
	fx_done(&f);
}

// create_fn refuses bad function params with EINVAL and holds nothing
Test(sriov_vfcfg, create_fn_refusals)
{
	struct fx f;
	fx_host(&f, 8);
	struct iovirt_sriov_fn_params bad[12];
	for (int i = 0; i < 12; i++)
		bad[i] = fn_params();
	bad[0].size = 8;
	bad[1].flags |= 0x80;
	bad[2].msix_vectors = 2049;
	bad[3].msix_table_bir = 3;      /* upper half of BAR2 */
	bad[4].msix_table_bir = 1;      /* absent */
	bad[5].msix_table_off = FX_BAR2 - 0x80; /* runs past the BAR */
	bad[6].msix_pba_off = FN_TBL_OFF + 0x80; /* inside the table */
	bad[7].msix_table_off = 0x1004; /* not 8-aligned */
	bad[8].pf_acs_off = FN_ARI_OFF + 4;     /* overlaps ARI */
	bad[9].acs_caps |= IOVIRT_ACS_EC;
	bad[10].irq_base = UINT64_MAX - 0xff, bad[10].irq_size = 0x1000; /* wraps */
	bad[11].pf_sriov_off = 0xfe0;   /* capability past 4 KiB */
	for (int i = 0; i < 12; i++) {
		struct iovirt_sriov *sr = (void *)0x1;
		cr_assert_eq(iovirt_sriov_create_fn(iovirt_posix_ops(), f.p, &f.prm, &bad[i], &sr),
			     IOVIRT_EINVAL, "case %d", i);
		cr_assert_eq(sr, (void *)0x1);
	}
	cr_assert_eq(iovirt_sriov_create_fn(iovirt_posix_ops(), f.p, &f.prm, NULL, &f.sr), IOVIRT_EINVAL);
	f.sr = NULL;
	fx_done(&f);
}

// create_fn is all or nothing: failing its Nth allocation for every N leaves nothing held
Test(sriov_vfcfg, create_fn_alloc_failures)
{
	struct fx f;
	fx_host(&f, 8);
	struct iovirt_sriov_fn_params fp = fn_params();
	int64_t base = iovirt_posix_live_mem(f.p);
	for (uint64_t n = 1;; n++) {
		iovirt_posix_fail_alloc_at(f.p, n);
		struct iovirt_sriov *sr = NULL;
		int r = iovirt_sriov_create_fn(iovirt_posix_ops(), f.p, &f.prm, &fp, &sr);
		if (!iovirt_posix_fail_fired(f.p)) {
			cr_assert_eq(r, 0);
			iovirt_sriov_destroy(sr);
			break;
		}
		cr_assert_eq(r, IOVIRT_ENOMEM, "n=%llu", (unsigned long long)n);
		cr_assert_null(sr);
		cr_assert_eq(iovirt_posix_live_mem(f.p), base, "n=%llu", (unsigned long long)n);
		cr_assert_lt(n, 50);
	}
	iovirt_posix_fail_alloc_at(f.p, 0);
	f.sr = NULL;
	fx_done(&f);
}
