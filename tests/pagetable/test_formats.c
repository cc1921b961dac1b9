/* SPDX-License-Identifier: MIT */
/*
 * The AMD-Vi v1, Arm stage 2 and RISC-V G-stage formats, bit for bit: each
 * entry checked field by field against its specification's table (constants
 * written here from the specs, not taken from the library's headers), what a
 * context / device-table entry needs (iovirt_pt_root_info), and each format's
 * own refusals. Random agreement with the spec walkers is in test_model.c.
 */
#include "hw_walk.h"
#include "pt_test.h"

static void fix(struct pt_fix *f, uint32_t format, uint32_t width)
{
	f->posix = th_posix();
	struct iovirt_iommu_params p = { .size = sizeof(p), .format = format };
	cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), f->posix, &p, &f->io), 0);
	struct iovirt_space_params sp = { .size = sizeof(sp), .width = width };
	cr_assert_eq(iovirt_pt_space_create(f->io, 1, &sp), 0);
}

/* Maps a 4 KiB read page, a 2 MiB write page and a 1 GiB RW page; returns the root info. */
static struct iovirt_pt_root_info map_three(struct pt_fix *f, unsigned prot4k, unsigned prot2m)
{
	cr_assert_eq(iovirt_pt_map(f->io, 1, KiB(4), 0x123456000ull, KiB(4), prot4k), 0);
	cr_assert_eq(iovirt_pt_map(f->io, 1, MiB(2), 0xfedc00000ull, MiB(2), prot2m), 0);
	cr_assert_eq(iovirt_pt_map(f->io, 1, GiB(1), 0x7c0000000ull, GiB(1), RW), 0);
	struct iovirt_pt_root_info ri = { .size = sizeof(ri) };
	cr_assert_eq(iovirt_pt_root_info(f->io, 1, &ri), 0);
	return ri;
}

static uint64_t leaf(const struct iovirt_pt_root_info *ri, uint64_t iova, unsigned *level)
{
	struct vtd_walk w;
	cr_assert_neq(hw_walk_info(ri, iova, &w), VTD_WALK_FAULT, "iova 0x%llx", (unsigned long long)iova);
	*level = w.level;
	return w.entry;
}

/* AMD-Vi v1: PR bit 0, Next Level 11:9 (0 in PTEs of every size, level - 1 in
 * PDEs), address 51:12, FC bit 60 in PTEs, IR 61, IW 62; DTE Mode = levels. */
Test(pt_formats, amd_v1_bits)
{
	struct pt_fix f;
	fix(&f, IOVIRT_PT_FMT_AMD_V1, 48);
	const struct iovirt_pt_root_info ri = map_three(&f, IOVIRT_PROT_READ, IOVIRT_PROT_WRITE);
	cr_assert_eq(ri.levels, 4);
	cr_assert_eq(ri.mode, 4);
	cr_assert_eq(ri.root_bytes, 4096);
	unsigned lv;
	cr_assert_eq(leaf(&ri, KiB(4), &lv), 0x123456000ull | 1 | (1ull << 60) | (1ull << 61));
	cr_assert_eq(lv, 1);
	cr_assert_eq(leaf(&ri, MiB(2), &lv), 0xfedc00000ull | 1 | (1ull << 60) | (1ull << 62), "2M PTE: NL 0");
	cr_assert_eq(lv, 2);
	cr_assert_eq(leaf(&ri, GiB(1), &lv), 0x7c0000000ull | 1 | (3ull << 60) | (1ull << 62));
	cr_assert_eq(lv, 3);
	const uint64_t pml4e = vtd_walk_page(ri.root_pa)[0];
	cr_assert_eq(pml4e & ~0x000ffffffffff000ull, 1 | (3ull << 9) | (3ull << 61), "PDE at level 4: PR, NL 3, IR, IW");
	const uint64_t pdpe = vtd_walk_page(pml4e & 0x000ffffffffff000ull)[0];
	cr_assert_eq(pdpe & ~0x000ffffffffff000ull, 1 | (2ull << 9) | (3ull << 61), "PDE at level 3: NL 2");
	cr_assert_eq(hw_walk_info(&ri, MiB(8), NULL), VTD_WALK_FAULT);
	pt_fix_done(&f);
	for (uint32_t w = 32; w <= 57; w++) { /* 32 and 39: mode 3; 48: 4; 57: 5 */
		struct iovirt_iommu *io;
		struct iovirt_posix *p = th_posix();
		struct iovirt_iommu_params ip = { .size = sizeof(ip), .format = IOVIRT_PT_FMT_AMD_V1 };
		cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), p, &ip, &io), 0);
		struct iovirt_space_params sp = { .size = sizeof(sp), .width = w };
		const int r = iovirt_pt_space_create(io, 1, &sp);
		if (w == 32 || w == 39 || w == 48 || w == 57) {
			struct iovirt_pt_root_info i2 = { .size = sizeof(i2) };
			cr_assert_eq(r, 0);
			cr_assert_eq(iovirt_pt_root_info(io, 1, &i2), 0);
			cr_assert_eq(i2.mode, w == 57 ? 5u : w == 48 ? 4u : 3u);
		} else {
			cr_assert_eq(r, IOVIRT_EINVAL);
		}
		iovirt_iommu_destroy(io);
		th_posix_done(p);
	}
}

/* Arm stage 2: page 0b11 at lookup level 3, block 0b01 at levels 2 and 1,
 * table 0b11; MemAttr 5:2 = 0b1111, S2AP 7:6 (R = bit 6, W = bit 7), SH 9:8 =
 * 0b11, AF bit 10, OA 47:12; T0SZ = 64 - width, SL0 = 2 - starting level. */
Test(pt_formats, arm_s2_bits)
{
	struct pt_fix f;
	fix(&f, IOVIRT_PT_FMT_ARM_S2, 48);
	const struct iovirt_pt_root_info ri = map_three(&f, IOVIRT_PROT_READ, IOVIRT_PROT_WRITE);
	cr_assert_eq(ri.levels, 4);
	cr_assert_eq(ri.t0sz, 16);
	cr_assert_eq(ri.mode, 2, "SL0 = 2: start at lookup level 0");
	const uint64_t attrs = (0xfull << 2) | (3ull << 8) | (1ull << 10);
	unsigned lv;
	cr_assert_eq(leaf(&ri, KiB(4), &lv), 0x123456000ull | 3 | attrs | (1ull << 6), "page: 0b11, S2AP 01");
	cr_assert_eq(lv, 1);
	cr_assert_eq(leaf(&ri, MiB(2), &lv), 0xfedc00000ull | 1 | attrs | (1ull << 7), "block: 0b01, S2AP 10");
	cr_assert_eq(lv, 2);
	cr_assert_eq(leaf(&ri, GiB(1), &lv), 0x7c0000000ull | 1 | attrs | (3ull << 6));
	cr_assert_eq(lv, 3);
	const uint64_t l0 = vtd_walk_page(ri.root_pa)[0];
	cr_assert_eq(l0 & ~0x0000fffffffff000ull, 3, "table descriptor: 0b11 and nothing else");
	cr_assert_lt(l0 & 0x0000fffffffff000ull, 1ull << 48);
	pt_fix_done(&f);
	/* 32 and 39 bits start at lookup level 1 (SL0 1) with T0SZ 32 and 25; no 57-bit input. */
	const uint32_t widths[] = { 32, 39, 57 };
	for (int i = 0; i < 3; i++) {
		struct iovirt_iommu *io;
		struct iovirt_posix *p = th_posix();
		struct iovirt_iommu_params ip = { .size = sizeof(ip), .format = IOVIRT_PT_FMT_ARM_S2 };
		cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), p, &ip, &io), 0);
		struct iovirt_space_params sp = { .size = sizeof(sp), .width = widths[i] };
		const int r = iovirt_pt_space_create(io, 1, &sp);
		if (widths[i] == 57) {
			cr_assert_eq(r, IOVIRT_EINVAL);
		} else {
			struct iovirt_pt_root_info i2 = { .size = sizeof(i2) };
			cr_assert_eq(r, 0);
			cr_assert_eq(iovirt_pt_root_info(io, 1, &i2), 0);
			cr_assert_eq(i2.mode, 1);
			cr_assert_eq(i2.t0sz, 64 - widths[i]);
			cr_assert_eq(iovirt_pt_map(io, 1, GiB(3), GiB(5), MiB(2), RW), 0);
			cr_assert_eq(hw_walk_info(&i2, GiB(3) + 5, NULL), GiB(5) + 5);
			/* the output address holds 48 bits */
			cr_assert_eq(iovirt_pt_map(io, 1, 0, (1ull << 48) - KiB(4), KiB(8), RW), IOVIRT_EINVAL);
			cr_assert_eq(iovirt_pt_map(io, 1, 0, (1ull << 48) - KiB(4), KiB(4), RW), 0);
		}
		iovirt_iommu_destroy(io);
		th_posix_done(p);
	}
}

/* RISC-V G-stage: V 0, R 1, W 2, X 3 clear, U 4 set, A 6 and D 7 set in
 * leaves; a pointer is V alone; PPN 53:10; a 16 KiB, 16 KiB aligned root
 * whose pages 1..3 stay zero; iohgatp.MODE 8/9/10; write-only refused. */
Test(pt_formats, riscv_g_bits)
{
	struct pt_fix f;
	fix(&f, IOVIRT_PT_FMT_RISCV_G, 48);
	const struct iovirt_pt_root_info ri = map_three(&f, IOVIRT_PROT_READ, RW);
	cr_assert_eq(ri.levels, 4);
	cr_assert_eq(ri.mode, 9, "Sv48x4");
	cr_assert_eq(ri.root_bytes, 16384);
	cr_assert_eq(ri.root_pa & 16383, 0, "the x4 root is 16 KiB aligned");
	const uint64_t uad = (1u << 4) | (1u << 6) | (1u << 7);
	unsigned lv;
	cr_assert_eq(leaf(&ri, KiB(4), &lv), (0x123456ull << 10) | 1 | 2 | uad);
	cr_assert_eq(lv, 1);
	cr_assert_eq(leaf(&ri, MiB(2), &lv), (0xfedc00ull << 10) | 1 | 2 | 4 | uad, "megapage");
	cr_assert_eq(lv, 2);
	cr_assert_eq(leaf(&ri, GiB(1), &lv), (0x7c0000ull << 10) | 1 | 2 | 4 | uad, "gigapage");
	cr_assert_eq(lv, 3);
	const uint64_t *root = vtd_walk_page(ri.root_pa);
	cr_assert_eq(root[0] & 0x3ff, 1, "pointer: V alone");
	for (unsigned i = 512; i < 2048; i++)
		cr_assert_eq(root[i], 0);
	cr_assert_eq(hw_walk_info(&ri, 1ull << 49, NULL), VTD_WALK_FAULT, "above the width: root page 1, empty");
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(8), GiB(8), KiB(4), IOVIRT_PROT_WRITE), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(8), (1ull << 56) - KiB(4), KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(9), (1ull << 56), KiB(4), RW), IOVIRT_EINVAL);
	pt_fix_done(&f);
	const uint32_t widths[] = { 32, 39, 57 }, modes[] = { 8, 8, 10 };
	for (int i = 0; i < 3; i++) {
		struct pt_fix g;
		fix(&g, IOVIRT_PT_FMT_RISCV_G, widths[i]);
		struct iovirt_pt_root_info i2 = { .size = sizeof(i2) };
		cr_assert_eq(iovirt_pt_root_info(g.io, 1, &i2), 0);
		cr_assert_eq(i2.mode, modes[i]);
		pt_fix_done(&g);
	}
}

/* RISC-V needs the host's block callbacks: without them, ENOSYS; every block
 * allocated is freed (deferred reclaim and after-invalidation alike). */
Test(pt_formats, riscv_block_callbacks)
{
	struct iovirt_posix *p = th_posix();
	struct iovirt_host_ops ops = *iovirt_posix_ops();
	ops.size = offsetof(struct iovirt_host_ops, table_block_alloc);
	struct iovirt_iommu_params ip = { .size = sizeof(ip), .format = IOVIRT_PT_FMT_RISCV_G };
	struct iovirt_iommu *io = NULL;
	cr_assert_eq(iovirt_iommu_create(&ops, p, &ip, &io), IOVIRT_ENOSYS);
	for (uint32_t mode = 0; mode < 2; mode++) {
		ip.reclaim = mode;
		cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), p, &ip, &io), 0);
		cr_assert_eq(iovirt_pt_space_create(io, 5, NULL), 0);
		cr_assert_eq(iovirt_pt_map(io, 5, 0, 0, MiB(4), RW), 0);
		cr_assert_eq(iovirt_pt_space_destroy(io, 5), 0);
		cr_assert_eq(iovirt_pt_space_create(io, 5, NULL), 0);
		iovirt_pt_reclaim(io);
		cr_assert_eq(iovirt_posix_live_tables(p), 1, "the new space's root block");
		iovirt_iommu_destroy(io);
		cr_assert_eq(iovirt_posix_live_tables(p), 0);
	}
	th_posix_done(p);
}

/* iovirt_pt_root_info refuses a too small struct and an unknown ASID; VT-d reports AW. */
Test(pt_formats, root_info_errors)
{
	struct pt_fix f;
	fix(&f, IOVIRT_PT_FMT_VTD_SL, 57);
	struct iovirt_pt_root_info ri = { .size = sizeof(ri) - 1 };
	cr_assert_eq(iovirt_pt_root_info(f.io, 1, &ri), IOVIRT_EINVAL);
	ri.size = sizeof(ri);
	cr_assert_eq(iovirt_pt_root_info(f.io, 2, &ri), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_root_info(f.io, 1, &ri), 0);
	cr_assert_eq(ri.mode, 3, "AW 3: 57-bit, 5 levels");
	cr_assert_eq(ri.format, IOVIRT_PT_FMT_VTD_SL);
	pt_fix_done(&f);
}
