/* SPDX-License-Identifier: MIT */
/* lib/pin internals: the per-page count structure, slots, allocators. */
#ifndef IOVIRT_PIN_INTERNAL_H
#define IOVIRT_PIN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/checked.h"
#include "iovirt/pin.h"
#include "iovirt/validate.h"
#include "validate/held.h"

/*
 * Per-page counts: leaves of 512 pages (one 2 MiB stretch of guest pages)
 * found through an open-addressing hash keyed by gfn >> 9. Compact for the
 * usual few hot areas, O(1) per page, and a 1 GiB run touches 512 leaves.
 */
#define PIN_NIL UINT32_MAX /* end of a slot list (free, deferred) */
#define PIN_LEAF_SHIFT 9u
#define PIN_LEAF_PAGES (1u << PIN_LEAF_SHIFT)
#define PIN_SPARE_MAX 16u /* empty leaves kept, in the table and on the spare list */

struct pin_leaf {
	uint64_t key;           /* gfn >> PIN_LEAF_SHIFT */
	uint32_t used;          /* pages of the leaf with a count > 0 */
	uint32_t pad;
	struct pin_leaf *next;  /* spare list */
	uint32_t cnt[PIN_LEAF_PAGES];
};

struct pin_counts {
	struct pin_leaf *last; /* the leaf found last (NULL: none); DMAs reuse hot pages */
	struct pin_leaf **tab; /* cap slots, NULL = empty */
	uint32_t cap;          /* power of two, 0 before first use */
	uint32_t n;            /* leaves in tab */
	uint32_t nempty;       /* leaves in tab whose pages are all at 0 */
	struct pin_leaf *spare;
	uint32_t nspare;
};

/* One guest segment as a page range. */
struct pin_range {
	uint64_t first; /* gfn */
	uint64_t npages;
};

enum pin_slot_state { PIN_SLOT_FREE = 0, PIN_SLOT_DMA, PIN_SLOT_MAP, PIN_SLOT_DEFERRED };

struct pin_slot {
	uint32_t gen;
	uint32_t state;
	uint32_t nsegs;
	uint32_t nregs;   /* regions held (one hold per distinct region) */
	uint32_t next;    /* free list / deferred queue; UINT32_MAX = end */
	struct pin_leaf *leaf; /* every page in this leaf (complete's fast path), or NULL;
	                        * a leaf with counts > 0 is never freed */
	/* A one-segment slot (the usual DMA) keeps its range and its regs[] entry
	 * here rather than in ranges[]/regs[] (pin_slot_ranges/_regs): no index
	 * arithmetic into the shared arrays on the hot path. */
	struct pin_range r1;
	struct iovirt_gmap_region *reg1;
	/* mappings */
	struct iovirt_iommu *iommu;
	uint32_t asid;
	uint32_t from_alloc; /* the iova came from the allocator */
	uint64_t iova;
	uint64_t size;       /* mapped bytes */
	uint64_t block;      /* allocator block bytes (power of two) */
};

/* Per-ASID bus-address allocator: a bump pointer and, per power-of-two
 * block size, a stack of freed blocks. Stack capacity is reserved when a block
 * is first bumped, so returning a block never allocates. */
#define PIN_IOVA_CLASSES 52u
struct pin_iova_class {
	uint64_t *v;
	uint32_t n, cap, bumped;
};
struct pin_iova {
	uint32_t asid;
	uint64_t next;
	struct pin_iova_class cls[PIN_IOVA_CLASSES];
};

/* Batched unmaps gather their cleared translations per (iommu, ASID); a fixed
 * few, so that an unmap never allocates. An unmap in a further space flushes. */
#define PIN_GATHERS 4u
struct pin_gather {
	struct iovirt_iommu *iommu;
	struct iovirt_pt_gather g;
};

/* A region change (removal or shrink) waiting for this domain's last hold on
 * the region to drop. One table and one code path serve both kinds; at most
 * one request per region. */
#define PIN_REMOVALS 8u
enum pin_op { PIN_OP_REMOVE = 0, PIN_OP_SHRINK };
struct pin_removal {
	struct iovirt_gmap_region *reg; /* stays valid: our holds keep it in the map */
	uint64_t gpa;
	uint64_t new_length;            /* PIN_OP_SHRINK: the length to shrink to */
	uint32_t holds;                 /* this domain's holds on reg still out */
	uint32_t op;                    /* enum pin_op */
	void (*done)(void *arg, int result);
	void *arg;
};

/*
 * The domain's own region holds: ONE iovirt_gmap_region_get per region,
 * taken when the first of its slots (live DMA, mapping, queued unmap) uses
 * the region, made the region's lease (iovirt_gmap_lease_take) and kept, idle
 * (iovirt_gmap_lease_idle), after the last use: a DMA in a region the domain
 * holds idly costs one compare-and-swap (iovirt_gmap_lease_use), one in a
 * region in use none. A remover or shrinker on any thread takes an idle
 * lease back; the domain learns it at the next use (ESTALE) and gets the
 * region anew. Calls on a domain are serialized, so `users` is a plain
 * counter. An entry is free when its bit in hold_used is clear (then
 * lo 1 and last 0, so no address matches it); an entry that could not be the
 * region's lease (another holder has it) is dropped at its last use, as
 * before leases. When all PIN_HOLDS entries are in use, an idle one is ended
 * to make room, else a slot holds further regions itself (a tagged entry in
 * its regs[], one hold per segment): correct, only slower.
 */
#define PIN_HOLDS 8u
_Static_assert(PIN_HOLDS <= 32, "hold_used is a 32-bit mask");
struct pin_hold {
	uint64_t lo, last;              /* the region's first and last byte: fixed while held */
	struct iovirt_gmap_region *reg;
	uint32_t users;                 /* slots whose regs[] name reg (untagged) */
	uint32_t lease;                 /* 1 + the hold's lease slot of reg (kept idle at
	                                 * users 0), or 0: a plain hold */
	struct vb_held vf;       /* reg's fast check (vb_held_fill):
	                                 * valid while held, so only after the lease's use */
};
static const struct pin_hold pin_hold_free = { .lo = 1, .last = 0 };

/* regs[] entries: a region held through d->hold[] (plain pointer) or by the
 * slot itself (pointer | PIN_REG_OWN). */
#define PIN_REG_OWN ((uintptr_t)1)
static inline struct iovirt_gmap_region *pin_reg_ptr(struct iovirt_gmap_region *r)
{
	return (struct iovirt_gmap_region *)((uintptr_t)r & ~PIN_REG_OWN);
}

struct iovirt_pin_domain {
	const struct iovirt_host_ops *ops;
	void *host;
	struct iovirt_gmap *map;
	uint32_t guest;
	uint64_t tag;                     /* unique in the process, never reused (pin.c) */
	uint32_t max_handles, max_segs, batch;
	bool vec;                         /* the host has pin_runs and unpin_runs */
	uint64_t max_pinned;
	uint64_t iova_base, iova_end;

	struct pin_slot *slots;           /* max_handles */
	struct pin_range *ranges;         /* max_handles * max_segs */
	struct iovirt_gmap_region **regs; /* max_handles * max_segs */
	uint32_t free_head, free_tail;    /* FIFO: a completed slot is reused last */
	uint32_t defer_head, defer_tail;
	struct pin_gather gath[PIN_GATHERS];
	uint32_t ngath;                   /* gathers in use, gath[0 .. ngath) */
	struct pin_hold hold[PIN_HOLDS];  /* the domain's region holds (above) */
	uint32_t hold_hint;               /* the entry that matched last */
	uint32_t hold_used;               /* bit i: hold[i] is held (in use or idle) */
	struct pin_removal rm[PIN_REMOVALS];
	uint32_t nrm;                     /* pending removals and shrinks, rm[0 .. nrm) */

	struct iovirt_seg *scratch;       /* max_segs: the private copy of a descriptor */
	uint8_t *wire;                    /* max_segs * 16: raw guest list bytes */
	struct iovirt_host_seg *given;    /* max_segs: iovirt_pin_validated's copy */
	struct iovirt_host_seg *again;    /* max_segs: ... and its re-validation */

	struct pin_counts counts;
	struct pin_iova **iova;           /* per-ASID allocators */
	uint32_t niova, iova_cap;

	struct iovirt_pin_stats st;
};

/* Where slot idx of nsegs segments keeps its ranges and its regs[] entries
 * (a one-segment slot has at most one): in the slot, or in the arrays. */
static inline struct pin_range *pin_slot_ranges(const struct iovirt_pin_domain *d, uint32_t idx,
						uint32_t nsegs)
{
	return nsegs == 1 ? &d->slots[idx].r1 : d->ranges + (size_t)idx * d->max_segs;
}

static inline struct iovirt_gmap_region **pin_slot_regs(const struct iovirt_pin_domain *d,
							uint32_t idx, uint32_t nsegs)
{
	return nsegs == 1 ? &d->slots[idx].reg1 : d->regs + (size_t)idx * d->max_segs;
}

/* Internal functions are not exported: calls between our files then need no
 * PLT hop in the shared library (they are on every pin and complete). */
#define PIN_HIDDEN __attribute__((visibility("hidden")))

/* counts.c */
PIN_HIDDEN int pin_counts_reserve(struct iovirt_pin_domain *d, const struct pin_range *r, uint32_t n);
PIN_HIDDEN int pin_counts_inc(struct iovirt_pin_domain *d, const struct pin_range *r, uint32_t n);
PIN_HIDDEN void pin_counts_dec(struct iovirt_pin_domain *d, const struct pin_range *r, uint32_t n);
/* A run of 0 -> 1 (or 1 -> 0) pages waiting for its one host call. */
struct pin_run {
	uint64_t start, len;
};
PIN_HIDDEN void pin_counts_inc_undo(struct iovirt_pin_domain *d, const struct pin_range *r,
				    uint32_t n, const struct pin_run *run, uint64_t done);
PIN_HIDDEN void pin_counts_sweep(struct iovirt_pin_domain *d);
PIN_HIDDEN uint32_t pin_counts_get(const struct pin_counts *c, uint64_t gfn);
PIN_HIDDEN void pin_counts_free(struct iovirt_pin_domain *d);

/* pin.c */
#define PIN_PIECE_PAGES 64u
#define PIN_PIECE_BYTES ((uint64_t)PIN_PIECE_PAGES << IOVIRT_PAGE_SHIFT)
PIN_HIDDEN int pin_validate_map(struct iovirt_pin_domain *d, const struct iovirt_sg_policy *pol,
		     struct iovirt_dma_result *res);
/* A pin done but its slot not yet taken (pin.c: prepare, commit). */
struct pin_prep {
	uint32_t idx;          /* the free-list head, whose arrays hold ranges and holds */
	uint32_t n;            /* segments */
	uint32_t held;         /* regs[] entries */
	struct pin_leaf *leaf; /* every page in this leaf, or NULL */
};
PIN_HIDDEN int pin_prepare(struct iovirt_pin_domain *d, const struct iovirt_sg_policy *pol,
			   uint32_t n, struct iovirt_host_seg *out, uint32_t out_cap,
			   struct iovirt_dma_result *res, struct pin_prep *pp);
PIN_HIDDEN uint32_t pin_commit(struct iovirt_pin_domain *d, const struct pin_prep *pp);
PIN_HIDDEN void pin_unprepare(struct iovirt_pin_domain *d, const struct pin_prep *pp);
PIN_HIDDEN void pin_release(struct iovirt_pin_domain *d, uint32_t idx);
PIN_HIDDEN int pin_check(const struct iovirt_pin_domain *d, struct iovirt_pin_handle h);
PIN_HIDDEN struct iovirt_pin_handle pin_handle(const struct iovirt_pin_domain *d, uint32_t idx);

/* remove.c */
PIN_HIDDEN bool pin_removal_pending(const struct iovirt_pin_domain *d,
				    const struct iovirt_gmap_region *reg);
PIN_HIDDEN void pin_removal_put(struct iovirt_pin_domain *d, const struct iovirt_gmap_region *reg);
PIN_HIDDEN void pin_removals_fire(struct iovirt_pin_domain *d);

/* map.c */
PIN_HIDDEN void pin_iova_free_all(struct iovirt_pin_domain *d);
PIN_HIDDEN void pin_iova_put(struct iovirt_pin_domain *d, uint32_t asid, uint64_t iova, uint64_t block);
PIN_HIDDEN bool pin_deferred_overlap(const struct iovirt_pin_domain *d, struct iovirt_iommu *iommu,
			  uint32_t asid, uint64_t iova, uint64_t len);

/* The domain's bookkeeping memory, counted in its stats. 8-byte alignment:
 * all our fields need, and no over-alignment that a sized free could miss. */
/*
 * The caller's policy with IOVIRT_POLICY_STRICT_REGIONS added: a pin holds
 * the one region each segment starts in, so a segment running on into the
 * next region (which validation otherwise accepts piece by piece) would leave
 * that region unheld, removable while the device uses it. Such a segment is
 * refused with IOVIRT_ECROSS. A policy too small to be one is passed as it
 * is, for validation to refuse.
 */
static inline const struct iovirt_sg_policy *pin_policy(const struct iovirt_sg_policy *pol,
							struct iovirt_sg_policy *tmp)
{
	/* the usual case, built once rather than per DMA */
	static const struct iovirt_sg_policy strict = { .size = sizeof(strict),
							.flags = IOVIRT_POLICY_STRICT_REGIONS };
	if (!pol)
		return &strict;
	if (pol->size < IOVIRT_SG_POLICY_SIZE_V1)
		return pol;
	*tmp = (struct iovirt_sg_policy){ .size = sizeof(*tmp) };
	memcpy(tmp, pol, pol->size < sizeof(*tmp) ? pol->size : sizeof(*tmp));
	tmp->size = sizeof(*tmp);
	tmp->flags |= IOVIRT_POLICY_STRICT_REGIONS;
	return tmp;
}

static inline void *pin_meta_alloc(struct iovirt_pin_domain *d, size_t size)
{
	void *p = d->ops->mem_alloc(d->host, size, 8);
	if (p)
		d->st.meta_bytes += size;
	return p;
}

static inline void pin_meta_free(struct iovirt_pin_domain *d, void *p, size_t size)
{
	if (!p)
		return;
	d->ops->mem_free(d->host, p, size);
	d->st.meta_bytes -= size;
}


/* Host pin/unpin of a run, with the domain's accounting (inlined into the
 * count loops of counts.c and pin.c). */
static inline int pin_run_pin(struct iovirt_pin_domain *d, struct pin_run *run)
{
	if (!run->len)
		return 0;
	if (d->max_pinned && d->st.pinned_pages + run->len > d->max_pinned)
		return IOVIRT_ELIMIT;
	if (d->ops->pin(d->host, d->guest, run->start << IOVIRT_PAGE_SHIFT, run->len) < 0)
		return IOVIRT_EHOST;
	d->st.pinned_pages += run->len;
	d->st.host_pins++;
	run->len = 0;
	return 0;
}

static inline void pin_run_unpin(struct iovirt_pin_domain *d, struct pin_run *run)
{
	if (!run->len)
		return;
	d->ops->unpin(d->host, d->guest, run->start << IOVIRT_PAGE_SHIFT, run->len);
	d->st.pinned_pages -= run->len;
	d->st.host_unpins++;
	run->len = 0;
}

/* Page p's count goes 0 -> 1: it joins the pin run, or the run so far is
 * pinned and a new one starts at p (one host call per contiguous run). On
 * failure run is the run whose pin failed: its pages' references are the last
 * ones counted (see pin_counts_inc). */
static inline int pin_run_pin_add(struct iovirt_pin_domain *d, struct pin_run *run, uint64_t p)
{
	if (run->len && run->start + run->len == p) {
		run->len++;
		return 0;
	}
	int err = pin_run_pin(d, run);
	if (err)
		return err;
	run->start = p;
	run->len = 1;
	return 0;
}

/* Page p's count dropped to 0: it joins the unpin run, or the run so far is
 * unpinned and a new one starts at p (one host call per contiguous run). */
static inline void pin_run_unpin_add(struct iovirt_pin_domain *d, struct pin_run *run, uint64_t p)
{
	if (run->len && run->start + run->len == p) {
		run->len++;
		return;
	}
	pin_run_unpin(d, run);
	run->start = p;
	run->len = 1;
}

static inline void pin_leaf_dec_used(struct pin_counts *c, struct pin_leaf *l)
{
	if (--l->used == 0)
		c->nempty++;
}

#endif
