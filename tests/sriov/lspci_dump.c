/* SPDX-License-Identifier: MIT */
/*
 * Dumps an emulated PF and its VFs in lspci's hex format (lspci -xxxx), for
 * `lspci -F <file> -vvv` to decode: scripts/sriov_lspci.sh checks what it
 * says. Usage: sriov_lspci_dump pf|raw|virt
 *   pf    the PF: a header and PCIe capability made here, then the extended
 *         space from iovirt_sriov_pf_ext_read (ARI -> ACS -> SR-IOV)
 *   raw   VFs 0 and 1 in the raw view (VF 1 with MSI-X and ATS enabled)
 *   virt  the same VFs in the virtualized view
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#define TOTAL 8
#define DEV 7

static void die(const char *what, int r)
{
	fprintf(stderr, "sriov_lspci_dump: %s: %s\n", what, iovirt_err_name(r));
	exit(1);
}

static void dump(const char *slot, const uint8_t *cfg)
{
	printf("%s Ethernet controller: iovirt emulated function\n", slot);
	for (unsigned o = 0; o < 4096; o += 16) {
		printf(o < 0x100 ? "%02x:" : "%03x:", o);
		for (unsigned i = 0; i < 16; i++)
			printf(" %02x", cfg[o + i]);
		printf("\n");
	}
	printf("\n");
}

static void put32(uint8_t *cfg, unsigned off, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		cfg[off + i] = (uint8_t)(v >> (8 * i));
}

static void dump_pf(struct iovirt_sriov *sr)
{
	static uint8_t cfg[4096];
	memset(cfg, 0, sizeof(cfg));
	put32(cfg, 0x00, 0x8086u | 0x1572u << 16);
	put32(cfg, 0x04, 0x0006u | 0x0010u << 16); /* memory, bus master; capabilities list */
	put32(cfg, 0x08, 0x02u | 0x020000u << 8);
	put32(cfg, 0x10, 0xe0000000u);
	put32(cfg, 0x2c, 0x8086u | 0x0001u << 16);
	cfg[0x34] = 0x40;
	put32(cfg, 0x40, 0x10u | 0x0002u << 16); /* PCIe v2 endpoint, last capability */
	put32(cfg, 0x44, 0x10008000u);           /* FLR, RBER */
	for (unsigned o = 0x100; o < 0x1000; o += 4) {
		uint32_t v = 0;
		int r = iovirt_sriov_pf_ext_read(sr, o, 4, &v);
		if (r && r != IOVIRT_ENOENT)
			die("pf_ext_read", r);
		put32(cfg, o, r ? 0 : v);
	}
	dump("01:00.0", cfg);
}

static void dump_vfs(struct iovirt_sriov *sr, unsigned view)
{
	for (uint32_t vf = 0; vf < 2; vf++) {
		static uint8_t cfg[4096];
		for (unsigned o = 0; o < 0x1000; o += 4) {
			uint32_t v;
			int r = iovirt_sriov_vf_cfg_read(sr, vf, view, o, 4, &v);
			if (r)
				die("vf_cfg_read", r);
			put32(cfg, o, v);
		}
		uint16_t rid;
		iovirt_sriov_vf_rid(sr, vf, &rid);
		char slot[16];
		snprintf(slot, sizeof(slot), "%02x:%02x.%u", rid >> 8, (rid >> 3) & 0x1f, rid & 7);
		dump(slot, cfg);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	struct iovirt_posix *p = iovirt_posix_create();
	struct iovirt_iommu *io;
	int r = iovirt_iommu_create(iovirt_posix_ops(), p, NULL, &io);
	if (r)
		die("iommu", r);
	static uint8_t regs[TOTAL * 0x1000];
	iovirt_posix_dev_add(p, DEV, regs, sizeof(regs));
	struct iovirt_sriov_params prm;
	memset(&prm, 0, sizeof(prm));
	prm.size = sizeof(prm);
	prm.iommu = io;
	prm.pf_rid = 0x0100;
	prm.bus_last = 1;
	prm.total_vfs = prm.initial_vfs = TOTAL;
	prm.vf_offset = 8, prm.vf_stride = 2;
	prm.vf_offset_ari = 1, prm.vf_stride_ari = 1;
	prm.vf_device_id = 0x154c;
	prm.caps = 0x2;
	prm.sup_pgsizes = 0x553;
	prm.bars[0] = (struct iovirt_sriov_bar){ .size = 0x4000 };
	prm.bars[2] = (struct iovirt_sriov_bar){ .size = 0x10000,
		.flags = IOVIRT_SRIOV_BAR_64 | IOVIRT_SRIOV_BAR_PREFETCH };
	struct iovirt_sriov_fn_params fp;
	memset(&fp, 0, sizeof(fp));
	fp.size = sizeof(fp);
	fp.flags = IOVIRT_SRIOV_FN_ARI | IOVIRT_SRIOV_FN_ACS | IOVIRT_SRIOV_FN_ATS;
	fp.pf_vendor_id = 0x8086;
	fp.revision = 0x02;
	fp.class_code = 0x020000;
	fp.subsys_vendor_id = 0x8086, fp.subsys_id = 0x0001;
	fp.msix_vectors = 16;
	fp.msix_table_bir = 2, fp.msix_table_off = 0x1000;
	fp.msix_pba_bir = 2, fp.msix_pba_off = 0x1800;
	fp.pf_ari_off = 0x100, fp.pf_acs_off = 0x108, fp.pf_sriov_off = 0x160;
	fp.ari_next_fn = 1;
	fp.acs_caps = IOVIRT_ACS_SV | IOVIRT_ACS_RR | IOVIRT_ACS_CR | IOVIRT_ACS_UF;
	struct iovirt_sriov *sr;
	if ((r = iovirt_sriov_create_fn(iovirt_posix_ops(), p, &prm, &fp, &sr)))
		die("create_fn", r);
	/* the PF driver: BARs, NumVFs, VF Enable + MSE; ACS: source validation and redirects */
	const uint32_t s = 0x160;
	struct { uint32_t off, width, val; } pfw[] = {
		{ s + IOVIRT_SRIOV_VF_BAR0, 4, 0x80000000u },
		{ s + IOVIRT_SRIOV_VF_BAR0 + 8, 4, 0 },
		{ s + IOVIRT_SRIOV_VF_BAR0 + 12, 4, 2 },
		{ s + IOVIRT_SRIOV_NUM_VFS, 2, 4 },
		{ s + IOVIRT_SRIOV_CTRL, 2, IOVIRT_SRIOV_CTRL_VFE | IOVIRT_SRIOV_CTRL_MSE },
		{ 0x10e, 2, IOVIRT_ACS_SV | IOVIRT_ACS_RR | IOVIRT_ACS_CR },
	};
	for (unsigned i = 0; i < sizeof(pfw) / sizeof(pfw[0]); i++)
		if ((r = iovirt_sriov_pf_ext_write(sr, pfw[i].off, pfw[i].width, pfw[i].val)))
			die("pf_ext_write", r);
	/* VF 1 assigned: bus mastering, memory (virtualized), MSI-X and ATS enabled */
	if ((r = iovirt_pt_space_create(io, 5, NULL)) || (r = iovirt_sriov_vf_bind(sr, 1, 9, 5)))
		die("bind", r);
	if ((r = iovirt_sriov_vf_cfg_write(sr, 1, IOVIRT_SRIOV_VIEW_VIRT, 0x04, 2, 0x0006)) ||
	    (r = iovirt_sriov_vf_cfg_write(sr, 1, IOVIRT_SRIOV_VIEW_RAW, 0x82, 2, 0x8000)) ||
	    (r = iovirt_sriov_vf_cfg_write(sr, 1, IOVIRT_SRIOV_VIEW_RAW, 0x10e, 2, 0x8000)))
		die("vf_cfg_write", r);
	if (!strcmp(argv[1], "pf"))
		dump_pf(sr);
	else if (!strcmp(argv[1], "raw"))
		dump_vfs(sr, IOVIRT_SRIOV_VIEW_RAW);
	else if (!strcmp(argv[1], "virt"))
		dump_vfs(sr, IOVIRT_SRIOV_VIEW_VIRT);
	else
		return 2;
	iovirt_sriov_destroy(sr);
	iovirt_iommu_destroy(io);
	iovirt_posix_destroy(p);
	return 0;
}
