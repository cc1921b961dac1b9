/* SPDX-License-Identifier: MIT */
/*
 * The walk of a guest's own IOMMU tables: each entry's address checked
 * against the guest's map, then read once, then decoded by the format layer
 * of lib/pagetable (gdecode.h); nothing is decided from guest memory but the
 * one copy of each entry.
 */
#include <stddef.h>
#include <stdint.h>

#include "common/check.h"
#include "common/checked.h"
#include "common/wire.h"
#include "internal.h"

int vi_ctx_load(const struct iovirt_gpt_ctx *ctx, struct vi_ctx *out)
{
	if (!ctx || !IOVIRT_PARAMS_HAS(ctx, t0sz))
		return IOVIRT_EINVAL;
	struct vi_ctx c = { .format = ctx->format, .root = ctx->root };
	int err = pt_ggeom(ctx->format, ctx->levels, ctx->mode, ctx->t0sz, &c.geom);
	if (err)
		return err;
	if (!iovirt_is_aligned(ctx->root, c.geom.root_align))
		return IOVIRT_EALIGN;
	*out = c;
	return 0;
}

/* Stops the walk with a fault; returns its code. */
static int vi_fault(struct iovirt_gpt_result *res, uint32_t fault, int err)
{
	res->fault = fault;
	res->err = err;
	return err;
}

/*
 * The entry at egpa must lie in a region the device may read, of this guest,
 * never MMIO (a read of device registers has side effects) nor RESERVED: the
 * placement rule lib/validate applies to every structure iovirt reads on a
 * device's behalf, asked through its public checker with the default policy
 * (no MMIO, no peer memory). 0 or the refusal.
 */
static int vi_entry_placed(const struct iovirt_gmap *map, uint64_t egpa)
{
	const struct iovirt_seg seg = { .gpa = egpa, .len = 8, .dir = IOVIRT_DEV_READ };
	struct iovirt_host_seg hs;
	int n = iovirt_sg_validate(map, NULL, &seg, 1, &hs, 1, NULL);
	return n < 0 ? n : 0;
}

/* A PDE that skips from `level` to `next` (AMD-Vi): the skipped levels'
 * address bits of iova must be 0. */
static bool vi_skipped_clear(uint64_t iova, unsigned level, unsigned next)
{
	for (unsigned k = next + 1; k < level; k++)
		if ((iova >> pt_gshift(k)) & 511)
			return false;
	return true;
}

/* Reads the entry at egpa once: 0 and *e, or the fault's code. */
static int vi_entry_read(const struct iovirt_gmap *map, const struct iovirt_host_ops *ops,
			 void *host, uint64_t egpa, uint64_t *e, struct iovirt_gpt_result *res)
{
	int err = vi_entry_placed(map, egpa);
	if (err)
		return vi_fault(res, IOVIRT_GPT_TABLE, err);
	uint64_t raw = 0; /* aligned: the host reads it with one 8-byte access */
	if (ops->guest_read(host, iovirt_gmap_guest(map), egpa, &raw, sizeof(raw)) != 0)
		return vi_fault(res, IOVIRT_GPT_READ, IOVIRT_EGUEST);
	*e = iovirt_le64_load((const uint8_t *)&raw);
	res->entry = *e;
	return 0;
}

/* The leaf d ends the walk: result, then the access checks. */
static int vi_leaf(const struct fmt_gentry *d, uint64_t iova, unsigned prot, unsigned access,
		   struct iovirt_gpt_result *res, unsigned *af)
{
	if (af)
		*af = d->af;
	res->gpa = d->addr | (iova & (d->size - 1));
	res->page_size = d->size;
	res->prot = prot & d->prot;
	if (access & d->af)
		return vi_fault(res, IOVIRT_GPT_ACCESS, IOVIRT_EIOFAULT);
	if ((res->prot & access) != access)
		return vi_fault(res, IOVIRT_GPT_PERMISSION, IOVIRT_EPERM);
	return 0;
}

int vi_walk(const struct vi_ctx *c, const struct iovirt_gmap *map,
	    const struct iovirt_host_ops *ops, void *host, uint64_t iova, unsigned access,
	    struct iovirt_gpt_result *res, unsigned *af)
{
	*res = (struct iovirt_gpt_result){ .iova = iova, .level = c->geom.levels };
	unsigned level = c->geom.levels, bits = c->geom.root_bits;
	unsigned prot = IOVIRT_PROT_READ | IOVIRT_PROT_WRITE;
	uint64_t table = c->root;
	if (c->geom.width < 64 && (iova >> c->geom.width))
		return vi_fault(res, IOVIRT_GPT_RANGE, IOVIRT_ERANGE);
	/* Each step reads one entry and goes strictly down: at most `levels`
	 * reads, whatever the guest's tables point to (a loop included). */
	for (unsigned step = 0; step < c->geom.levels; step++) {
		const unsigned shift = pt_gshift(level);
		const uint64_t idx = (iova >> shift) & ((UINT64_C(1) << bits) - 1);
		/* No wrap: the root is aligned to its whole size, and the decoders'
		 * table addresses are below 2^56. */
		const uint64_t egpa = table + idx * 8;
		uint64_t e;
		IOVIRT_CHECK(egpa >= table);
		res->level = level;
		res->page_size = UINT64_C(1) << shift;
		res->entry_gpa = egpa;
		int err = vi_entry_read(map, ops, host, egpa, &e, res);
		if (err)
			return err;
		struct fmt_gentry d;
		pt_gdecode(c->format, e, level, &d);
		switch (d.kind) {
		case FMT_G_INVALID:
			return vi_fault(res, IOVIRT_GPT_NOT_PRESENT, IOVIRT_ENOENT);
		case FMT_G_LEAF:
			return vi_leaf(&d, iova, prot, access, res, af);
		case FMT_G_TABLE:
			if (!vi_skipped_clear(iova, level, d.next))
				return vi_fault(res, IOVIRT_GPT_RANGE, IOVIRT_ERANGE);
			prot &= d.prot;
			table = d.addr;
			level = d.next;
			bits = 9;
			break;
		default:
			return vi_fault(res, IOVIRT_GPT_RESERVED, IOVIRT_ERESERVED);
		}
	}
	/* Unreachable: every decoder refuses a table at level 1, and levels
	 * only go down. Refused as a reserved encoding all the same. */
	return vi_fault(res, IOVIRT_GPT_RESERVED, IOVIRT_ERESERVED);
}

int iovirt_gpt_translate(const struct iovirt_gpt_ctx *ctx, const struct iovirt_gmap *map,
			 const struct iovirt_host_ops *host_ops, void *host, uint64_t iova,
			 unsigned access, struct iovirt_gpt_result *res)
{
	if (!map || !host_ops || !res)
		return IOVIRT_EINVAL;
	*res = (struct iovirt_gpt_result){ .iova = iova };
	struct vi_ctx c;
	int err = vi_ctx_load(ctx, &c);
	if (!err && (!access || (access & ~(unsigned)(IOVIRT_PROT_READ | IOVIRT_PROT_WRITE))))
		err = IOVIRT_EINVAL;
	if (!err && !IOVIRT_HOST_HAS(host_ops, guest_read))
		err = IOVIRT_ENOSYS;
	if (err) {
		res->err = err;
		return err;
	}
	return vi_walk(&c, map, host_ops, host, iova, access, res, NULL);
}
