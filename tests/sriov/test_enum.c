/* SPDX-License-Identifier: MIT */
/* A VF enumeration as a PCI core does it, through the PF's config space and each VF's, to the spec's state. */
#include "fn_fixture.h"

static uint32_t pf(struct fx *f, uint32_t off, unsigned w)
{
	uint32_t v = 0;
	cr_assert_eq(iovirt_sriov_pf_ext_read(f->sr, FN_SRIOV_OFF + off, w, &v), 0);
	return v;
}

static void pfw(struct fx *f, uint32_t off, unsigned w, uint32_t v)
{
	int r = iovirt_sriov_pf_ext_write(f->sr, FN_SRIOV_OFF + off, w, v);
	cr_assert_eq(r, 0, "PF write %#x: %s", off, iovirt_err_name(r));
}

/* Finds capability id in the VF's standard list (0 if absent), as pci_find_capability does. */
static uint32_t find_cap(struct fx *f, uint32_t vf, uint8_t id)
{
	uint32_t pos = vrd(f, vf, RAW, 0x34, 1);
	for (int ttl = 48; pos >= 0x40 && ttl--; ) {
		uint32_t h = vrd(f, vf, RAW, pos, 2);
		if ((h & 0xff) == id)
			return pos;
		pos = (h >> 8) & 0xfc;
	}
	return 0;
}

static uint32_t find_ext(struct fx *f, uint32_t vf, uint16_t id)
{
	uint32_t pos = 0x100;
	for (int ttl = 480; pos >= 0x100 && ttl--; ) {
		uint32_t h = vrd(f, vf, RAW, pos, 4);
		if (!h)
			return 0;
		if ((h & 0xffff) == id)
			return pos;
		pos = h >> 20;
	}
	return 0;
}

// the whole sequence: size and place the VF BARs through the PF, enable, read each VF's header (raw and virtualized), size its BARs through the virtualized view, bind and enable bus mastering, program MSI-X and take an interrupt, FLR
Test(sriov_enum, pci_core_sequence)
{
	struct fx f;
	fn_setup(&f, 8, NULL);
	/* PF driver: the SR-IOV capability */
	cr_assert_eq(pf(&f, IOVIRT_SRIOV_HDR, 2), IOVIRT_SRIOV_CAP_ID);
	uint32_t total = pf(&f, IOVIRT_SRIOV_TOTAL_VFS, 2);
	cr_assert_eq(total, 8);
	uint64_t size[IOVIRT_SRIOV_NBARS] = { 0 };
	uint64_t next = 0x90000000u, next64 = 0x300000000ull;
	uint64_t base[IOVIRT_SRIOV_NBARS] = { 0 };
	for (unsigned i = 0; i < IOVIRT_SRIOV_NBARS; i++) {
		uint32_t off = IOVIRT_SRIOV_VF_BAR0 + 4 * i;
		pfw(&f, off, 4, 0xffffffffu);
		uint32_t lo = pf(&f, off, 4);
		if (!lo)
			continue;
		bool is64 = (lo & 0x6) == 0x4;
		uint64_t mask = lo & ~0xfull;
		if (is64) {
			pfw(&f, off + 4, 4, 0xffffffffu);
			mask |= (uint64_t)pf(&f, off + 4, 4) << 32;
		} else {
			mask |= 0xffffffff00000000ull;
		}
		size[i] = ~mask + 1;
		uint64_t *cursor = is64 ? &next64 : &next;
		base[i] = *cursor;
		*cursor += size[i] * total;
		pfw(&f, off, 4, (uint32_t)base[i]);
		if (is64) {
			pfw(&f, off + 4, 4, (uint32_t)(base[i] >> 32));
			i++;
		}
	}
	cr_assert_eq(size[0], FX_BAR0);
	cr_assert_eq(size[2], FX_BAR2);
	pfw(&f, IOVIRT_SRIOV_NUM_VFS, 2, 4);
	pfw(&f, IOVIRT_SRIOV_CTRL, 2, IOVIRT_SRIOV_CTRL_VFE | IOVIRT_SRIOV_CTRL_MSE);
	uint16_t off = (uint16_t)pf(&f, IOVIRT_SRIOV_VF_OFFSET, 2), stride = (uint16_t)pf(&f, IOVIRT_SRIOV_VF_STRIDE, 2);
	uint16_t vf_did = (uint16_t)pf(&f, IOVIRT_SRIOV_VF_DID, 2);

	for (uint32_t n = 0; n < 4; n++) {
		cr_assert_eq(fx_rid(&f, n), FX_PF_RID + off + n * stride);
		/* the function answers with all-ones IDs: the core uses the PF's vendor and VF Device ID */
		cr_assert_eq(vrd(&f, n, RAW, 0, 4), 0xffffffffu);
		cr_assert_eq(vrd(&f, n, VIRT, 0, 2), FN_VENDOR);
		cr_assert_eq(vrd(&f, n, VIRT, 2, 2), vf_did);
		cr_assert_eq(vrd(&f, n, RAW, 0x0e, 1) & 0x7f, 0, "type 0 header");
		cr_assert_eq(vrd(&f, n, RAW, 0x08, 4) >> 8, 0x020000);
		/* BARs: raw 0; the virtualized view sizes like a device and holds the address */
		for (unsigned i = 0; i < 6; i++) {
			uint32_t o = 0x10 + 4 * i;
			cr_assert_eq(vrd(&f, n, RAW, o, 4), 0);
			uint32_t orig = vrd(&f, n, VIRT, o, 4);
			cr_assert_eq(vwr(&f, n, VIRT, o, 4, 0xffffffffu), 0);
			uint32_t sz = vrd(&f, n, VIRT, o, 4);
			cr_assert_eq(vwr(&f, n, VIRT, o, 4, orig), 0);
			cr_assert_eq(vrd(&f, n, VIRT, o, 4), orig);
			if (i == 0) {
				cr_assert_eq(~(sz & ~0xfu) + 1, FX_BAR0);
				cr_assert_eq(orig, (uint32_t)(base[0] + n * size[0]));
			}
			if (i == 2)
				cr_assert_eq(sz, (uint32_t)~(FX_BAR2 - 1) | 0xc);
			if (i == 3)
				cr_assert_eq(orig, (uint32_t)((base[2] + n * size[2]) >> 32));
		}
		/* capabilities */
		uint32_t exp = find_cap(&f, n, 0x10);
		cr_assert_eq(exp, PCIE_OFF);
		cr_assert(vrd(&f, n, RAW, exp + 4, 4) & 0x10000000u, "FLR");
		cr_assert_eq(find_cap(&f, n, 0x11), MSIX_OFF);
		cr_assert_eq(find_ext(&f, n, 0x000e), 0x100);
		cr_assert_eq(find_ext(&f, n, 0x000f), 0x108);
	}

	/* assignment of VF 2: bind, bus mastering, MSI-X */
	const uint32_t vf = 2, guest = 77;
	cr_assert_eq(iovirt_pt_space_create(f.io, 40, NULL), 0);
	cr_assert_eq(iovirt_sriov_vf_bind(f.sr, vf, guest, 40), 0);
	cr_assert_eq(vwr(&f, vf, VIRT, 0x04, 2, 0x0006), 0);
	uint32_t msix = find_cap(&f, vf, 0x11);
	uint32_t nvec = (vrd(&f, vf, RAW, msix + 2, 2) & 0x7ff) + 1;
	uint32_t tbl = vrd(&f, vf, RAW, msix + 4, 4);
	cr_assert_eq(nvec, FN_NVEC);
	uint64_t table = base[tbl & 7] + vf * size[tbl & 7] + (tbl & ~7u);
	/* the driver: function mask while programming, then enable */
	cr_assert_eq(vwr(&f, vf, RAW, msix + 2, 2, 0xc000), 0);
	for (uint32_t v = 0; v < nvec; v++) {
		cr_assert_eq(iovirt_sriov_msix_write(f.sr, guest, table + v * 16, 4, 0xfee00000u | v << 12), 0);
		cr_assert_eq(iovirt_sriov_msix_write(f.sr, guest, table + v * 16 + 4, 4, 0), 0);
		cr_assert_eq(iovirt_sriov_msix_write(f.sr, guest, table + v * 16 + 8, 4, 0x40 + v), 0);
		cr_assert_eq(iovirt_sriov_msix_write(f.sr, guest, table + v * 16 + 12, 4, 0), 0);
	}
	cr_assert_eq(vwr(&f, vf, RAW, msix + 2, 2, 0x8000), 0);
	struct iovirt_sriov_msi m;
	cr_assert_eq(iovirt_sriov_msix_signal(f.sr, vf, 9, &m), 0);
	cr_assert_eq(m.addr, 0xfee09000u);
	cr_assert_eq(m.data, 0x49);

	/* FLR: back to the state after VF Enable */
	cr_assert_eq(vwr(&f, vf, RAW, PCIE_OFF + 8, 2, 0x8000), 0);
	cr_assert_eq(vrd(&f, vf, VIRT, 0x04, 2), 0);
	cr_assert_eq(vrd(&f, vf, RAW, msix + 2, 2), nvec - 1);
	struct iovirt_sriov_vf_info info;
	cr_assert_eq(iovirt_sriov_vf_info(f.sr, vf, &info), 0);
	cr_assert_eq(info.state, IOVIRT_SRIOV_VF_FREE);
	cr_assert_eq(iovirt_sriov_msix_signal(f.sr, vf, 9, &m), IOVIRT_EDENIED);
	/* VF disable: the VFs are gone */
	pfw(&f, IOVIRT_SRIOV_CTRL, 2, 0);
	uint32_t v;
	cr_assert_eq(iovirt_sriov_vf_cfg_read(f.sr, 0, RAW, 0, 4, &v), IOVIRT_ENOVF);
	fx_done(&f);
}
