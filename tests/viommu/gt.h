/* SPDX-License-Identifier: MIT */
/*
 * Fixtures of the lib/viommu tests: a guest whose memory holds IOMMU tables
 * the test builds itself, entry by entry, as each format's specification lays
 * them out (written here from the specs, not taken from lib/pagetable).
 *
 * Guest memory is placed at gpa = CPU address + IOVIRT_POSIX_PA_OFFSET, so
 * that the specification walkers of tests/common (which reach a table at
 * physical address pa through pa - IOVIRT_POSIX_PA_OFFSET) read the very
 * bytes the library reads through guest_read.
 *   [base, base + GT_RAM)            RAM (host physical GT_HPA + offset)
 *   [base + GT_RAM, + GT_MMIO)       MMIO (backed, so a stray read is harmless)
 *   [base + GT_BYTES, + 4 KiB)       RESERVED (not backed)
 *   [base + GT_BYTES + 64 KiB, ...)  RAM the host cannot read (guest_read fails)
 */
#ifndef IOVIRT_TESTS_VIOMMU_GT_H
#define IOVIRT_TESTS_VIOMMU_GT_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "hw_walk.h"
#include "testhost.h"

#define GT_GUEST 5u
#define GT_BYTES (UINT64_C(8) << 20)
#define GT_MMIO (UINT64_C(2) << 12)
#define GT_RAM (GT_BYTES - GT_MMIO)
#define GT_HPA (UINT64_C(1) << 40)
#define GT_DEAD_OFF (GT_BYTES + (UINT64_C(64) << 10)) /* RAM region guest_read cannot reach */
#define GT_RW (IOVIRT_PROT_READ | IOVIRT_PROT_WRITE)

struct gt {
	struct iovirt_posix *p;
	const struct iovirt_host_ops *ops;
	struct iovirt_gmap *map;
	uint8_t *mem;
	uint8_t *dead; /* backs the unreadable region's hva */
	uint64_t base; /* gpa of mem[0] */
	uint64_t next; /* next free table page (offset) */
	uint64_t data; /* next free data page (offset), from the top of RAM down */
	struct iovirt_gpt_ctx ctx;
};

static inline uint64_t gt_gpa(const struct gt *t, uint64_t off)
{
	return t->base + off;
}

static inline uint64_t *gt_ptr(const struct gt *t, uint64_t gpa)
{
	return (uint64_t *)(void *)(t->mem + (gpa - t->base));
}

static inline void gt_init(struct gt *t)
{
	memset(t, 0, sizeof(*t));
	t->p = th_posix();
	t->ops = iovirt_posix_ops();
	t->mem = aligned_alloc(GT_BYTES, GT_BYTES);
	t->dead = aligned_alloc(4096, 4096);
	cr_assert(t->mem && t->dead);
	memset(t->mem, 0, GT_BYTES);
	t->base = (uint64_t)(uintptr_t)t->mem + IOVIRT_POSIX_PA_OFFSET;
	cr_assert_eq(iovirt_posix_guest_add(t->p, GT_GUEST, t->base, t->mem, GT_BYTES), 0);
	struct iovirt_gmap_params gp = { sizeof(gp), GT_GUEST, 0 };
	cr_assert_eq(iovirt_gmap_create(t->ops, t->p, &gp, &t->map), 0);
	const struct iovirt_region rs[] = {
		{ .size = sizeof(rs[0]), .gpa = t->base, .length = GT_RAM, .kind = IOVIRT_REGION_RAM,
		  .access = IOVIRT_DEV_READ | IOVIRT_DEV_WRITE, .owner = GT_GUEST,
		  .flags = IOVIRT_REGION_HPA, .hva = t->mem, .hpa = GT_HPA },
		{ .size = sizeof(rs[0]), .gpa = t->base + GT_RAM, .length = GT_MMIO,
		  .kind = IOVIRT_REGION_MMIO, .access = IOVIRT_DEV_READ | IOVIRT_DEV_WRITE, .owner = GT_GUEST },
		{ .size = sizeof(rs[0]), .gpa = t->base + GT_BYTES, .length = 4096,
		  .kind = IOVIRT_REGION_RESERVED, .owner = GT_GUEST },
		{ .size = sizeof(rs[0]), .gpa = t->base + GT_DEAD_OFF, .length = 4096,
		  .kind = IOVIRT_REGION_RAM, .access = IOVIRT_DEV_READ, .owner = GT_GUEST,
		  .flags = IOVIRT_REGION_HPA, .hva = t->dead, .hpa = GT_HPA + GT_BYTES },
	};
	for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++)
		cr_assert_eq(iovirt_gmap_add(t->map, &rs[i]), 0);
	t->next = 0;
	t->data = GT_RAM;
}

static inline void gt_fini(struct gt *t)
{
	cr_assert_eq(iovirt_gmap_destroy(t->map), 0);
	th_posix_done(t->p);
	free(t->mem);
	free(t->dead);
}

/* A zeroed table block of `bytes` (a power of two), aligned to its size. */
static inline uint64_t gt_table(struct gt *t, uint64_t bytes)
{
	t->next = (t->next + bytes - 1) & ~(bytes - 1);
	uint64_t off = t->next;
	t->next += bytes;
	cr_assert(t->next <= GT_RAM / 2, "test tables overflow");
	return gt_gpa(t, off);
}

/* A data block of `bytes` (power of two) in the upper half of RAM, aligned to its size. */
static inline uint64_t gt_data(struct gt *t, uint64_t bytes)
{
	t->data = (t->data - bytes) & ~(bytes - 1);
	cr_assert(t->data >= GT_RAM / 2, "test data overflow");
	return gt_gpa(t, t->data);
}

/* ---- each format's entries, from its specification ---- */

/* A table entry at `level` pointing to the table at pa (one level down). */
static inline uint64_t gt_mk_table(uint32_t fmt, uint64_t pa, unsigned level)
{
	switch (fmt) {
	case IOVIRT_PT_FMT_AMD_V1: /* PR, Next Level = level - 1, IR, IW */
		return pa | 1 | ((uint64_t)(level - 1) << 9) | (UINT64_C(3) << 61);
	case IOVIRT_PT_FMT_ARM_S2: /* 0b11: table */
		return pa | 3;
	case IOVIRT_PT_FMT_RISCV_G: /* V alone: a pointer */
		return ((pa >> 12) << 10) | 1;
	default: /* R, W */
		return pa | 3;
	}
}

/* A leaf at `level` (1: 4 KiB, 2: 2 MiB, 3: 1 GiB) mapping pa with prot. */
static inline uint64_t gt_mk_leaf(uint32_t fmt, uint64_t pa, unsigned level, unsigned prot)
{
	const uint64_t r = prot & IOVIRT_PROT_READ, w = (prot & IOVIRT_PROT_WRITE) ? 1 : 0;
	switch (fmt) {
	case IOVIRT_PT_FMT_AMD_V1: /* PR, Next Level 0, IR bit 61, IW bit 62 */
		return pa | 1 | (r << 61) | (w << 62);
	case IOVIRT_PT_FMT_ARM_S2: /* page 0b11 / block 0b01, MemAttr WB, S2AP, SH inner, AF */
		return pa | (level == 1 ? 3 : 1) | (0xfu << 2) | (r << 6) | (w << 7) | (3u << 8) | (1u << 10);
	case IOVIRT_PT_FMT_RISCV_G: /* V R W U A D */
		return ((pa >> 12) << 10) | 1 | (r << 1) | (w << 2) | (1u << 4) | (1u << 6) | (1u << 7);
	default: /* R, W, PS above level 1 */
		return pa | r | (w << 1) | (level > 1 ? (1u << 7) : 0);
	}
}

/* A context for fmt with a 48-bit (Sv48x4 for RISC-V) walk and a fresh root. */
static inline void gt_ctx(struct gt *t, uint32_t fmt)
{
	t->ctx = (struct iovirt_gpt_ctx){ .size = sizeof(t->ctx), .format = fmt };
	switch (fmt) {
	case IOVIRT_PT_FMT_ARM_S2:
		t->ctx.mode = 2; /* S2SL0 2: start at lookup level 0 */
		t->ctx.t0sz = 16;
		t->ctx.root = gt_table(t, 4096);
		break;
	case IOVIRT_PT_FMT_RISCV_G:
		t->ctx.mode = 9; /* Sv48x4: a 16 KiB root */
		t->ctx.root = gt_table(t, 16384);
		break;
	default:
		t->ctx.levels = 4;
		t->ctx.root = gt_table(t, 4096);
		break;
	}
}

/* The root level of the test's 48-bit contexts. */
#define GT_TOP 4u

/* Index of iova in a table at level (the RISC-V root indexes 11 bits). */
static inline uint64_t gt_idx(const struct gt *t, uint64_t iova, unsigned level)
{
	const unsigned shift = 12 + 9 * (level - 1);
	const uint64_t mask = (t->ctx.format == IOVIRT_PT_FMT_RISCV_G && level == GT_TOP) ? 2047 : 511;
	return (iova >> shift) & mask;
}

/* Does e, at level, point to a table (as the specification reads it)? */
static inline bool gt_is_table(uint32_t fmt, uint64_t e, unsigned level)
{
	switch (fmt) {
	case IOVIRT_PT_FMT_AMD_V1:
		return (e & 1) && ((e >> 9) & 7) != 0 && ((e >> 9) & 7) != 7;
	case IOVIRT_PT_FMT_ARM_S2:
		return (e & 3) == 3 && level > 1;
	case IOVIRT_PT_FMT_RISCV_G:
		return (e & 1) && !(e & 0xe);
	default:
		return (e & 3) && !(e & 0x80) && level > 1;
	}
}

/* The entry slot for iova at `level`, creating tables down to it (a leaf in
 * the way is replaced by a new table). */
static inline uint64_t *gt_slot(struct gt *t, uint64_t iova, unsigned level)
{
	uint64_t table = t->ctx.root;
	for (unsigned l = GT_TOP; l > level; l--) {
		uint64_t *e = gt_ptr(t, table + 8 * gt_idx(t, iova, l));
		if (!gt_is_table(t->ctx.format, *e, l))
			*e = gt_mk_table(t->ctx.format, gt_table(t, 4096), l);
		uint64_t next;
		switch (t->ctx.format) {
		case IOVIRT_PT_FMT_RISCV_G:
			next = ((*e >> 10) & ((UINT64_C(1) << 44) - 1)) << 12;
			break;
		case IOVIRT_PT_FMT_ARM_S2:
			next = *e & UINT64_C(0x0000fffffffff000);
			break;
		default:
			next = *e & UINT64_C(0x000ffffffffff000);
			break;
		}
		table = next;
	}
	return gt_ptr(t, table + 8 * gt_idx(t, iova, level));
}

/* Maps one page of `level` at iova to pa. */
static inline void gt_map(struct gt *t, uint64_t iova, uint64_t pa, unsigned level, unsigned prot)
{
	*gt_slot(t, iova, level) = gt_mk_leaf(t->ctx.format, pa, level, prot);
}

/* What a context entry carries, for the specification walkers. */
static inline uint64_t gt_spec(const struct gt *t, uint64_t iova, struct vtd_walk *w)
{
	struct iovirt_pt_root_info ri = { .size = sizeof(ri), .root_pa = t->ctx.root,
					  .format = t->ctx.format, .levels = t->ctx.levels,
					  .width = 12 + 9 * t->ctx.levels, .mode = t->ctx.mode,
					  .t0sz = t->ctx.t0sz };
	if (ri.format == IOVIRT_PT_FMT_AMD_V1)
		ri.mode = t->ctx.levels;
	return hw_walk_info(&ri, iova, w);
}

static inline int gt_xlate(struct gt *t, uint64_t iova, unsigned access, struct iovirt_gpt_result *r)
{
	return iovirt_gpt_translate(&t->ctx, t->map, t->ops, t->p, iova, access, r);
}

static const uint32_t gt_formats[] = { IOVIRT_PT_FMT_VTD_SL, IOVIRT_PT_FMT_AMD_V1,
				       IOVIRT_PT_FMT_ARM_S2, IOVIRT_PT_FMT_RISCV_G };
#define GT_NFMT 4u

#endif
