/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the input is a guest's IOMMU tables (and the format, the
 * context entry's fields, one iova and access). The guest's memory is 64 KiB
 * (14 pages of RAM, then 2 of MMIO); the input fills it from its first byte,
 * entry by entry, each entry XORed with the guest's base address in the
 * format's address field, so that the small addresses a fuzzer writes point
 * into guest memory (a bijection: every raw entry stays reachable).
 *
 * Checks on every input:
 *  - at most `levels` guest reads, each an aligned 8-byte read of RAM;
 *  - read once: the guest rewrites each entry right after it is read (the
 *    read hook flips bits the input chooses); the result must be the one the
 *    specification walker of tests/common gives on the tables as they were
 *    (restored after the walk), wherever both decide the same rules;
 *  - a result or fault is well formed (level within the walk, page size a
 *    power of two, gpa inside the page);
 *  - with a flag, the range around iova is shadowed into a host space
 *    through iovirt_viommu_shadow and invalidated again: all or nothing, and
 *    nothing stays pinned or mapped. The guest keeps rewriting each entry
 *    the shadow's walks read (the same XOR), and the host's Nth allocation
 *    or pin may fail (the input chooses N): still all or nothing;
 *  - with another flag, the context's fields are raw input (levels, mode,
 *    t0sz, a root possibly misaligned, fields the format does not take): a
 *    refused context reads nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

FUZZ_CHECKER_BEGIN
#include "../tests/common/hw_walk.h"

#define FZ_BYTES (UINT64_C(64) << 10)
#define FZ_RAM (UINT64_C(14) << 12)
#define FZ_GUEST 3u
#define FZ_ASID 1u

static struct iovirt_posix *fz_p;
static struct iovirt_gmap *fz_map;
static struct iovirt_pin_domain *fz_dom;
static struct iovirt_iommu *fz_io;
static uint8_t *fz_mem;
static size_t fz_used; /* bytes of fz_mem the last input may have left non-zero */
static uint64_t fz_base;
static uint64_t fz_flip;   /* what the hook XORs into each entry it saw read */
static unsigned fz_reads;
static bool fz_counting; /* the one translate of the input, not the shadow's walks */
static bool fz_shadowing; /* the shadow's walks: rewritten too, not counted */
static uint64_t fz_read_gpa[8];

static void fz_hook(void *arg, uint32_t guest, uint64_t gpa, size_t len)
{
	(void)arg;
	CHECK(guest == FZ_GUEST && len == 8 && !(gpa & 7), "read %#llx+%zu", (unsigned long long)gpa, len);
	CHECK(gpa >= fz_base && gpa - fz_base < FZ_RAM, "read outside RAM: %#llx", (unsigned long long)gpa);
	if (fz_shadowing) {
		/* the guest rewrites what the shadow's walks read: left as it is,
		 * so later walks of the same call see the new value */
		*(uint64_t *)(void *)(fz_mem + (gpa - fz_base)) ^= fz_flip;
		if (gpa - fz_base + 8 > fz_used)
			fz_used = gpa - fz_base + 8;
		return;
	}
	if (!fz_counting)
		return;
	CHECK(fz_reads < 8, "more than 6 reads");
	fz_read_gpa[fz_reads++] = gpa;
	uint64_t *e = (uint64_t *)(void *)(fz_mem + (gpa - fz_base));
	*e ^= fz_flip;
}

static void fz_init(void)
{
	fz_p = iovirt_posix_create();
	fz_mem = aligned_alloc(FZ_BYTES, FZ_BYTES);
	CHECK(fz_p && fz_mem, "setup");
	memset(fz_mem, 0, FZ_BYTES);
	fz_base = (uint64_t)(uintptr_t)fz_mem + IOVIRT_POSIX_PA_OFFSET;
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	CHECK(iovirt_posix_guest_add(fz_p, FZ_GUEST, fz_base, fz_mem, FZ_BYTES) == 0, "guest");
	struct iovirt_gmap_params gp = { sizeof(gp), FZ_GUEST, 0 };
	CHECK(iovirt_gmap_create(ops, fz_p, &gp, &fz_map) == 0, "gmap");
	struct iovirt_region ram = { .size = sizeof(ram), .gpa = fz_base, .length = FZ_RAM,
				     .kind = IOVIRT_REGION_RAM, .access = IOVIRT_DEV_READ | IOVIRT_DEV_WRITE,
				     .owner = FZ_GUEST, .flags = IOVIRT_REGION_HPA, .hva = fz_mem,
				     .hpa = UINT64_C(1) << 40 };
	struct iovirt_region mmio = { .size = sizeof(mmio), .gpa = fz_base + FZ_RAM, .length = FZ_BYTES - FZ_RAM,
				      .kind = IOVIRT_REGION_MMIO, .access = IOVIRT_DEV_READ, .owner = FZ_GUEST };
	CHECK(iovirt_gmap_add(fz_map, &ram) == 0 && iovirt_gmap_add(fz_map, &mmio) == 0, "regions");
	struct iovirt_pin_params pp = { .size = sizeof(pp), .iova_base = UINT64_C(1) << 63,
					.iova_end = (UINT64_C(1) << 63) + 4096 };
	CHECK(iovirt_pin_domain_create(ops, fz_p, fz_map, &pp, &fz_dom) == 0, "domain");
	CHECK(iovirt_iommu_create(ops, fz_p, NULL, &fz_io) == 0, "iommu");
	CHECK(iovirt_pt_space_create(fz_io, FZ_ASID, NULL) == 0, "space");
	iovirt_posix_set_read_hook(fz_p, fz_hook, NULL);
}

/* The format's address field holding the guest base (XORed into each entry). */
static uint64_t fz_addr_bits(uint32_t fmt)
{
	return fmt == IOVIRT_PT_FMT_RISCV_G ? (fz_base >> 12) << 10 : fz_base;
}

/* Arm (S2SL0, S2T0SZ) pairs: plain, concatenated, and two the spec refuses. */
static const uint8_t fz_s2[][2] = { { 2, 16 }, { 1, 25 }, { 1, 32 }, { 0, 33 }, { 2, 20 },
				    { 1, 24 }, { 1, 21 }, { 0, 30 }, { 2, 30 }, { 0, 40 } };

static void fz_ctx(uint32_t fmt, uint8_t g, struct iovirt_gpt_ctx *c)
{
	*c = (struct iovirt_gpt_ctx){ .size = sizeof(*c), .format = fmt, .root = fz_base };
	switch (fmt) {
	case IOVIRT_PT_FMT_AMD_V1:
		c->levels = 1 + g % 6;
		break;
	case IOVIRT_PT_FMT_ARM_S2:
		c->mode = fz_s2[g % 10][0];
		c->t0sz = fz_s2[g % 10][1];
		break;
	case IOVIRT_PT_FMT_RISCV_G:
		c->mode = 8 + g % 3;
		break;
	default:
		c->levels = 3 + g % 3;
		break;
	}
}

/* Where the library decides a rule the spec walker does not (documented in
 * docs/viommu.md), or reads a root the walker cannot (concatenated Arm root). */
static bool fz_incomparable(const struct iovirt_gpt_ctx *c, const struct iovirt_gpt_result *r)
{
	const uint64_t e = r->entry;
	if (c->format == IOVIRT_PT_FMT_ARM_S2 && 64 - c->t0sz - (12 + 9 * (1 + c->mode)) > 9)
		return true;
	if (r->fault != IOVIRT_GPT_RESERVED)
		return false;
	switch (c->format) {
	case IOVIRT_PT_FMT_VTD_SL: /* TM, and SNP outside a leaf */
		return (e >> 62) & 1 || ((e >> 11) & 1);
	case IOVIRT_PT_FMT_AMD_V1: /* Next Level 7 with a size outside the level's range */
		return ((e >> 9) & 7) == 7;
	case IOVIRT_PT_FMT_ARM_S2: /* RES0 bits 50:48 above the 48-bit output address */
		return (e >> 48) & 7;
	default:
		return false;
	}
}

/* A walk through a table loop reads one entry at two levels: the second read
 * sees the guest's rewrite (as hardware would), the spec walker on the
 * restored tables does not. */
static bool fz_reread(void)
{
	for (unsigned i = 0; i < fz_reads; i++)
		for (unsigned j = i + 1; j < fz_reads; j++)
			if (fz_read_gpa[i] == fz_read_gpa[j])
				return fz_flip != 0;
	return false;
}

static void fz_compare(const struct iovirt_gpt_ctx *c, uint64_t iova, unsigned access, int err,
		       const struct iovirt_gpt_result *r)
{
	if (fz_reread() || err == IOVIRT_EINVAL || err == IOVIRT_EALIGN || r->fault == IOVIRT_GPT_TABLE ||
	    fz_incomparable(c, r))
		return;
	struct iovirt_pt_root_info ri = { .size = sizeof(ri), .root_pa = c->root, .format = c->format,
					  .levels = c->levels, .width = 12 + 9 * c->levels,
					  .mode = c->format == IOVIRT_PT_FMT_AMD_V1 ? c->levels : c->mode,
					  .t0sz = c->t0sz };
	struct vtd_walk w;
	const uint64_t pa = hw_walk_info(&ri, iova, &w);
	const bool rv_nou = c->format == IOVIRT_PT_FMT_RISCV_G && r->fault == IOVIRT_GPT_PERMISSION &&
			    !(r->entry & IOVIRT_RV_U);
	if (err == 0 || (err == IOVIRT_EPERM && !rv_nou))
		CHECK(pa == r->gpa && w.level == r->level, "fmt %u iova %#llx: %#llx l%u, spec %#llx l%u", c->format,
		      (unsigned long long)iova, (unsigned long long)r->gpa, r->level, (unsigned long long)pa, w.level);
	const bool spec_ok = pa != VTD_WALK_FAULT && (w.rw & access) == access;
	CHECK((err == 0) == spec_ok, "fmt %u iova %#llx access %u: err %d fault %u, spec %#llx rw %u", c->format,
	      (unsigned long long)iova, access, err, r->fault, (unsigned long long)pa, w.rw);
}

static void fz_wellformed(const struct iovirt_gpt_ctx *c, int err, const struct iovirt_gpt_result *r)
{
	const unsigned top = c->format == IOVIRT_PT_FMT_RISCV_G ? c->mode - 5
			     : c->format == IOVIRT_PT_FMT_ARM_S2 ? 2 + c->mode
								  : c->levels;
	CHECK(r->err == err, "res->err %d, returned %d", r->err, err);
	if (err == IOVIRT_EINVAL || err == IOVIRT_EALIGN)
		return;
	CHECK(fz_reads <= top, "%u reads for %u levels", fz_reads, top);
	CHECK(r->level >= 1 && r->level <= top, "level %u of %u", r->level, top);
	if (err == 0 || err == IOVIRT_EPERM) {
		CHECK(r->page_size >= 4096 && !(r->page_size & (r->page_size - 1)), "page size %#llx",
		      (unsigned long long)r->page_size);
		CHECK((r->gpa & (r->page_size - 1)) == (r->iova & (r->page_size - 1)), "offset in page");
	}
}

/* Shadow a few pages around iova and invalidate again: all or nothing, nothing
 * left. fail: 0, or the host's allocation (odd) or pin (even) fail/2 + 1
 * that fails. */
static void fz_shadow(const struct iovirt_gpt_ctx *c, uint64_t iova, unsigned fail)
{
	struct iovirt_viommu *v;
	CHECK(iovirt_viommu_create(iovirt_posix_ops(), fz_p, fz_dom, fz_map, fz_io, FZ_ASID, c, &v) == 0, "viommu");
	const uint64_t at = iova & ~UINT64_C(0xffff);
	struct iovirt_gpt_result r;
	if (fail & 1)
		iovirt_posix_fail_alloc_at(fz_p, fail / 2 + 1);
	else if (fail)
		iovirt_posix_fail_pin_at(fz_p, fail / 2);
	fz_shadowing = true;
	int64_t n = iovirt_viommu_shadow(v, at, 0x10000, 0, &r);
	fz_shadowing = false;
	const bool fired = fail && iovirt_posix_fail_fired(fz_p);
	iovirt_posix_fail_alloc_at(fz_p, 0);
	iovirt_posix_fail_pin_at(fz_p, 0);
	CHECK(!fired || n < 0, "a failed host callback, shadow %lld", (long long)n);
	struct iovirt_viommu_stats vs;
	iovirt_viommu_stats(v, &vs);
	CHECK(n >= 0 ? vs.shadow_bytes == (uint64_t)n : vs.shadows == 0, "shadow %lld, %llu bytes", (long long)n,
	      (unsigned long long)vs.shadow_bytes);
	CHECK(n < 0 || iovirt_posix_pinned_pages(fz_p) > 0 || n == 0, "shadowed but not pinned");
	CHECK(n >= 0 || iovirt_posix_pinned_pages(fz_p) == 0, "failed shadow left pins");
	CHECK(iovirt_viommu_inval(v, 0, 0) == (n > 0 ? n : 0), "inval");
	CHECK(iovirt_posix_pinned_pages(fz_p) == 0, "pinned after inval");
	iovirt_viommu_destroy(v);
	struct iovirt_xlate x;
	CHECK(iovirt_pt_translate(fz_io, FZ_ASID, at, IOVIRT_PROT_READ, &x) != 0, "host mapping left");
	iovirt_pt_reclaim(fz_io);
	iovirt_gmap_reclaim(fz_map);
}
FUZZ_CHECKER_END

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fz_p)
		fz_init();
	if (size < 20)
		return 0;
	static const uint32_t fmts[] = { IOVIRT_PT_FMT_VTD_SL, IOVIRT_PT_FMT_AMD_V1, IOVIRT_PT_FMT_ARM_S2,
					 IOVIRT_PT_FMT_RISCV_G };
	const uint32_t fmt = fmts[data[0] & 3];
	const bool shadow = data[0] & 4, raw = data[0] & 8;
	struct iovirt_gpt_ctx c;
	fz_ctx(fmt, data[1], &c);
	if (raw) { /* the guest's context entry as it wrote it */
		c.levels = data[1] & 7;
		c.mode = data[1] >> 4 | ((data[1] & 8) ? 8u : 0u);
		c.t0sz = 10 + (unsigned)(data[19] >> 1) % 40;
		c.root += (uint64_t)(data[0] >> 4) << 3;
	}
	uint64_t iova, flip;
	memcpy(&iova, data + 2, 8);
	memcpy(&flip, data + 10, 8);
	const unsigned access = 1 + data[18] % 3;
	fz_flip = (data[19] & 1) ? flip : 0;
	const unsigned fail = (unsigned)(data[19] >> 1) & 15;
	data += 20;
	size -= 20;
	/* the guest's memory: the input's entries, then zeros */
	const size_t n = size < FZ_BYTES ? size & ~(size_t)7 : FZ_BYTES;
	const uint64_t x = fz_addr_bits(fmt);
	if (fz_used > n)
		memset(fz_mem + n, 0, fz_used - n);
	fz_used = n;
	for (size_t off = 0; off < n; off += 8) {
		uint64_t e;
		memcpy(&e, data + off, 8);
		e ^= e ? x : 0; /* a zero entry stays zero (not present everywhere) */
		memcpy(fz_mem + off, &e, 8);
	}
	fz_reads = 0;
	fz_counting = true;
	struct iovirt_gpt_result r;
	int err = iovirt_gpt_translate(&c, fz_map, iovirt_posix_ops(), fz_p, iova, access, &r);
	fz_counting = false;
	/* the tables as they were when each entry was read: undo the rewrites */
	for (unsigned i = fz_reads; i-- > 0;) {
		const uint64_t off = fz_read_gpa[i] - fz_base;
		*(uint64_t *)(void *)(fz_mem + off) ^= fz_flip;
		if (off + 8 > fz_used)
			fz_used = off + 8;
	}
	fz_wellformed(&c, err, &r);
	if (err == IOVIRT_EINVAL || err == IOVIRT_EALIGN)
		CHECK(fz_reads == 0 && r.fault == 0, "refused context read %u entries", fz_reads);
	fz_compare(&c, iova, access, err, &r);
	if (shadow && !err)
		fz_shadow(&c, iova, fail);
	return 0;
}
