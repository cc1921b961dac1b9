/* SPDX-License-Identifier: MIT */
/* Pin domains, DMA handles, validate+pin as one step. */
#include <stdatomic.h>
#include <string.h>

#include "common/check.h"
#include "common/wire.h"
#include "pin/internal.h"


static size_t per_slot(const struct iovirt_pin_domain *d)
{
	return (size_t)d->max_handles * d->max_segs;
}

static void free_arrays(struct iovirt_pin_domain *d)
{
	pin_meta_free(d, d->slots, (size_t)d->max_handles * sizeof(*d->slots));
	pin_meta_free(d, d->ranges, per_slot(d) * sizeof(*d->ranges));
	pin_meta_free(d, d->regs, per_slot(d) * sizeof(*d->regs));
	pin_meta_free(d, d->scratch, (size_t)d->max_segs * sizeof(*d->scratch));
	pin_meta_free(d, d->wire, (size_t)d->max_segs * IOVIRT_SG_WIRE_SIZE);
	pin_meta_free(d, d->given, (size_t)d->max_segs * sizeof(*d->given));
	pin_meta_free(d, d->again, (size_t)d->max_segs * sizeof(*d->again));
}

/*
 * Domain ids: one 64-bit counter for the whole process, so that no two
 * domains ever share a tag, whatever their address, map, guest or host
 * context (a per-map or per-context counter would repeat across maps and
 * contexts). It is the one piece of static state of the module: it holds no
 * resource, is never reset, and a relaxed atomic increment is all it needs
 * (only uniqueness matters, not order). At 10^9 creations a second it wraps
 * after 584 years; 0 is never handed out.
 */
static _Atomic uint64_t pin_next_tag = 1;

static uint64_t pin_new_tag(void)
{
	return atomic_fetch_add_explicit(&pin_next_tag, 1, memory_order_relaxed);
}

/* The caller's parameters (NULL: defaults) with the defaults filled in, or
 * IOVIRT_EINVAL. */
static int domain_params(const struct iovirt_pin_params *params, struct iovirt_pin_params *p)
{
	*p = (struct iovirt_pin_params){ .size = sizeof(*p) };
	if (params) {
		/* version 1: every field through iova_end; a field appended later
		 * is read through IOVIRT_PARAMS_HAS, never past the caller's size */
		if (!IOVIRT_PARAMS_HAS(params, iova_end))
			return IOVIRT_EINVAL;
		memcpy(p, params, IOVIRT_PIN_PARAMS_SIZE_V1);
		p->size = sizeof(*p);
	}
	if (!p->max_handles)
		p->max_handles = IOVIRT_PIN_DEFAULT_MAX_HANDLES;
	if (!p->max_segs)
		p->max_segs = IOVIRT_PIN_DEFAULT_MAX_SEGS;
	if (!p->iova_base && !p->iova_end) {
		p->iova_base = IOVIRT_PIN_DEFAULT_IOVA_BASE;
		p->iova_end = IOVIRT_PIN_DEFAULT_IOVA_END;
	}
	/* Bounds keep every page count below 2^32: handles x segs <= 2^30. */
	if (p->max_handles > IOVIRT_PIN_MAX_HANDLES || p->max_segs > IOVIRT_PIN_MAX_SEGS ||
	    (uint64_t)p->max_handles * p->max_segs > (UINT64_C(1) << 30) ||
	    p->iova_base >= p->iova_end || !iovirt_is_aligned(p->iova_base, IOVIRT_PAGE_SIZE) ||
	    !iovirt_is_aligned(p->iova_end, IOVIRT_PAGE_SIZE) || p->reserved)
		return IOVIRT_EINVAL;
	return 0;
}

/* The slot table and the per-DMA arrays, every slot free (all or nothing). */
static int domain_arrays(struct iovirt_pin_domain *d)
{
	d->slots = pin_meta_alloc(d, (size_t)d->max_handles * sizeof(*d->slots));
	d->ranges = pin_meta_alloc(d, per_slot(d) * sizeof(*d->ranges));
	d->regs = pin_meta_alloc(d, per_slot(d) * sizeof(*d->regs));
	d->scratch = pin_meta_alloc(d, (size_t)d->max_segs * sizeof(*d->scratch));
	d->wire = pin_meta_alloc(d, (size_t)d->max_segs * IOVIRT_SG_WIRE_SIZE);
	d->given = pin_meta_alloc(d, (size_t)d->max_segs * sizeof(*d->given));
	d->again = pin_meta_alloc(d, (size_t)d->max_segs * sizeof(*d->again));
	if (!d->slots || !d->ranges || !d->regs || !d->scratch || !d->wire || !d->given || !d->again) {
		free_arrays(d);
		return IOVIRT_ENOMEM;
	}
	for (uint32_t i = 0; i < d->max_handles; i++) {
		d->slots[i].gen = 1;
		d->slots[i].next = i + 1 < d->max_handles ? i + 1 : PIN_NIL;
	}
	d->free_head = 0;
	d->free_tail = d->max_handles - 1;
	for (uint32_t i = 0; i < PIN_HOLDS; i++)
		d->hold[i] = pin_hold_free;
	d->defer_head = d->defer_tail = PIN_NIL;
	return 0;
}

int iovirt_pin_domain_create(const struct iovirt_host_ops *ops, void *host,
			     struct iovirt_gmap *map, const struct iovirt_pin_params *params,
			     struct iovirt_pin_domain **out)
{
	if (!ops || !map || !out || ops->size < offsetof(struct iovirt_host_ops, table_alloc))
		return IOVIRT_EINVAL;
	if (!ops->mem_alloc || !ops->mem_free || !IOVIRT_HOST_HAS(ops, pin) ||
	    !IOVIRT_HOST_HAS(ops, unpin))
		return IOVIRT_ENOSYS;
	struct iovirt_pin_params p;
	int err = domain_params(params, &p);
	if (err)
		return err;
	struct iovirt_pin_domain *d = ops->mem_alloc(host, sizeof(*d), 8);
	if (!d)
		return IOVIRT_ENOMEM;
	d->ops = ops;
	d->host = host;
	d->map = map;
	d->guest = iovirt_gmap_guest(map);
	d->tag = pin_new_tag();
	d->max_handles = p.max_handles;
	d->max_segs = p.max_segs;
	d->max_pinned = p.max_pinned;
	d->batch = p.batch;
	d->vec = IOVIRT_HOST_HAS(ops, pin_runs) && IOVIRT_HOST_HAS(ops, unpin_runs);
	d->iova_base = p.iova_base;
	d->iova_end = p.iova_end;
	d->st.meta_bytes = sizeof(*d);
	if ((err = domain_arrays(d))) {
		ops->mem_free(host, d, sizeof(*d));
		return err;
	}
	*out = d;
	return 0;
}

static void holds_end(struct iovirt_pin_domain *d);

int iovirt_pin_domain_destroy(struct iovirt_pin_domain *d)
{
	if (!d)
		return 0;
	iovirt_pin_flush(d);
	if (d->st.live_dmas || d->st.live_maps)
		return IOVIRT_EBUSY;
	holds_end(d);
	pin_iova_free_all(d);
	pin_counts_free(d);
	free_arrays(d);
	d->ops->mem_free(d->host, d, sizeof(*d));
	return 0;
}

struct iovirt_pin_handle pin_handle(const struct iovirt_pin_domain *d, uint32_t idx)
{
	return (struct iovirt_pin_handle){ .index = idx, .gen = d->slots[idx].gen, .tag = d->tag };
}

/* hold_find past the hint: the other entries. */
static __attribute__((noinline)) struct pin_hold *hold_scan(struct iovirt_pin_domain *d,
							    uint64_t gpa)
{
	for (uint32_t m = d->hold_used; m; m &= m - 1) {
		uint32_t i = (uint32_t)__builtin_ctz(m);
		struct pin_hold *e = &d->hold[i];
		if (gpa >= e->lo && gpa <= e->last) {
			d->hold_hint = i;
			return e;
		}
	}
	return NULL;
}

/* The domain's hold entry (in use or idle) whose range covers gpa, or NULL.
 * A free entry has lo 1, last 0: no gpa matches it (pin_hold_free). */
static IOVIRT_ALWAYS_INLINE struct pin_hold *hold_find(struct iovirt_pin_domain *d,
									uint64_t gpa)
{
	struct pin_hold *e = &d->hold[d->hold_hint];
	if (IOVIRT_LIKELY(gpa >= e->lo && gpa <= e->last))
		return e;
	return hold_scan(d, gpa);
}

/* Frees hold entry e (its hold is gone or given back already). */
static void hold_clear(struct iovirt_pin_domain *d, struct pin_hold *e)
{
	d->hold_used &= ~(1u << (uint32_t)(e - d->hold));
	*e = pin_hold_free;
}

/* Ends the lease of idle entry e (its hold goes back to the map). */
static void hold_evict(struct iovirt_pin_domain *d, struct pin_hold *e)
{
	iovirt_gmap_lease_end(d->map, e->reg, e->lease - 1);
	hold_clear(d, e);
}

/* hold_add without a usable entry: takes a hold with iovirt_gmap_region_get
 * and keeps it in a free entry (or one whose lease is idle, ended first), as
 * the region's lease when it can be: then it stays, idle, after the last use. */
static __attribute__((noinline)) int hold_add_slow(struct iovirt_pin_domain *d, uint64_t gpa,
						   struct iovirt_gmap_region **regs,
						   uint32_t *held)
{
	struct iovirt_gmap_region *reg;
	int err = iovirt_gmap_region_get(d->map, gpa, &reg);
	if (err)
		return err;
	if (d->nrm && pin_removal_pending(d, reg)) {
		/* Its removal or shrink waits for our last pin: no new ones. */
		iovirt_gmap_region_put(d->map, reg);
		return IOVIRT_EBUSY;
	}
	/* Usually no entry names reg: none covers gpa. (One may, when a revoked
	 * entry whose range overlapped reg's was met first and cleared just
	 * now: then two entries hold reg, which is harmless, since holds are
	 * interchangeable and hold_drop takes any entry of reg with users. A
	 * revoked entry's node itself is another one, kept allocated until we
	 * end its lease, so never at reg's address.) */
	uint32_t freem = ~d->hold_used & ((1u << PIN_HOLDS) - 1);
	if (!freem) {
		for (uint32_t m = d->hold_used; m; m &= m - 1) {
			uint32_t i = (uint32_t)__builtin_ctz(m);
			if (!d->hold[i].users) {
				hold_evict(d, &d->hold[i]);
				freem = 1u << i;
				break;
			}
		}
	}
	if (!freem) {
		regs[(*held)++] = (struct iovirt_gmap_region *)((uintptr_t)reg | PIN_REG_OWN);
		return 0;
	}
	uint32_t i = (uint32_t)__builtin_ctz(freem);
	struct vb_held vf;
	vb_held_fill(d->map, reg, &vf);
	int lease = iovirt_gmap_lease_take(reg);
	d->hold[i] = (struct pin_hold){ .lo = vf.gpa, .last = vf.last, .reg = reg, .users = 1,
					.lease = lease < 0 ? 0 : (uint32_t)lease + 1, .vf = vf };
	d->hold_used |= 1u << i;
	d->hold_hint = i;
	regs[(*held)++] = reg;
	return 0;
}

/*
 * Adds the region containing gpa to the slot's regs[0 .. *held): through the
 * domain's hold on it (in use, or idle and used again, or taken now with
 * iovirt_gmap_region_get), once per slot; or, when every hold entry is in
 * use, by a hold of the slot's own. A region whose removal or shrink is
 * pending here is refused (EBUSY) and nothing is added.
 */
static IOVIRT_ALWAYS_INLINE int hold_add(struct iovirt_pin_domain *d, uint64_t gpa,
							   struct iovirt_gmap_region **regs,
							   uint32_t *held)
{
	struct pin_hold *e = hold_find(d, gpa);
	if (IOVIRT_UNLIKELY(!e))
		return hold_add_slow(d, gpa, regs, held);
	/* Held since an earlier call: it cannot have left the map, nor shrunk. */
	if (IOVIRT_UNLIKELY(d->nrm) && pin_removal_pending(d, e->reg))
		return IOVIRT_EBUSY;
	if (e->users == 0) {
		/* Idle lease: in use again, unless a remover took it back. */
		if (IOVIRT_UNLIKELY(iovirt_gmap_lease_use(d->map, e->reg, e->lease - 1))) {
			hold_clear(d, e);
			return hold_add_slow(d, gpa, regs, held);
		}
	} else {
		for (uint32_t j = 0; j < *held; j++)
			if (regs[j] == e->reg)
				return 0;
	}
	e->users++;
	regs[(*held)++] = e->reg;
	return 0;
}

/* One use of hold entry e less; after its last use the hold goes idle (a
 * lease) or goes. */
static IOVIRT_ALWAYS_INLINE void hold_unuse(struct iovirt_pin_domain *d, struct pin_hold *e)
{
	if (--e->users)
		return;
	if (IOVIRT_LIKELY(e->lease)) {
		iovirt_gmap_lease_idle(e->reg, e->lease - 1);
		return;
	}
	iovirt_gmap_region_put(d->map, e->reg);
	hold_clear(d, e);
}

/* Drops one regs[] entry: the slot's own hold, or one use of the domain's
 * hold, which after its last use goes idle (a lease) or goes. */
static IOVIRT_ALWAYS_INLINE void hold_drop(struct iovirt_pin_domain *d,
							     struct iovirt_gmap_region *r)
{
	if (IOVIRT_UNLIKELY((uintptr_t)r & PIN_REG_OWN)) {
		iovirt_gmap_region_put(d->map, pin_reg_ptr(r));
		return;
	}
	struct pin_hold *e = &d->hold[d->hold_hint];
	if (IOVIRT_UNLIKELY(e->reg != r || !e->users)) {
		uint32_t m = d->hold_used;
		for (;; m &= m - 1) {
			IOVIRT_CHECK(m); /* r is in the table: it has a user */
			e = &d->hold[__builtin_ctz(m)];
			if (e->reg == r && e->users)
				break;
		}
	}
	hold_unuse(d, e);
}

/* Ends the domain's idle leases (domain destroy: no slot uses them). */
static void holds_end(struct iovirt_pin_domain *d)
{
	for (uint32_t m = d->hold_used; m; m &= m - 1)
		hold_evict(d, &d->hold[__builtin_ctz(m)]);
}

/* Drops the holds a failing prepare just took (none counted by a removal:
 * pins of a region whose removal is pending are refused). */
static void put_holds(struct iovirt_pin_domain *d, struct iovirt_gmap_region **regs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		hold_drop(d, regs[i]);
}

/* Drops a slot's holds; a pending removal of a region counts them down (it
 * fires later, from pin_release, once the slot is consistent again). */
static IOVIRT_ALWAYS_INLINE void put_slot_holds(struct iovirt_pin_domain *d,
								  struct iovirt_gmap_region **regs,
								  uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		hold_drop(d, regs[i]);
		if (d->nrm)
			pin_removal_put(d, pin_reg_ptr(regs[i]));
	}
}

/*
 * A mapping's single segment may need one host entry per page (a region
 * given by page_hpa), so it is validated in pieces that each fit a small
 * buffer. Every entry must carry a host physical address for the IOMMU.
 */
int pin_validate_map(struct iovirt_pin_domain *d, const struct iovirt_sg_policy *pol,
		     struct iovirt_dma_result *res)
{
	struct iovirt_host_seg buf[PIN_PIECE_PAGES];
	const struct iovirt_seg seg = d->scratch[0];
	/* The pieces below are each checked alone: one that ends exactly where
	 * the held region does would let the next start in a neighbouring region
	 * that nothing holds. The whole segment lies in the region it starts in
	 * (held since prep_holds, so these bounds stay), or it is refused. */
	struct iovirt_region r;
	if (seg.len && iovirt_gmap_lookup(d->map, seg.gpa, &r) == 0 &&
	    seg.len - 1 > r.gpa + r.length - 1 - seg.gpa) {
		if (res)
			*res = (struct iovirt_dma_result){ .err = IOVIRT_ECROSS, .gpa = r.gpa + r.length,
							   .where = IOVIRT_WHERE_LIST };
		return IOVIRT_ECROSS;
	}
	for (uint64_t off = 0; off < seg.len; off += PIN_PIECE_BYTES) {
		uint64_t left = seg.len - off;
		struct iovirt_seg s = { .gpa = seg.gpa + off, .dir = seg.dir,
					.len = left < PIN_PIECE_BYTES ? left : PIN_PIECE_BYTES };
		struct iovirt_sg_policy strict;
		int r = iovirt_sg_validate(d->map, pin_policy(pol, &strict), &s, 1, buf, PIN_PIECE_PAGES, res);
		if (r < 0)
			return r;
		for (int i = 0; i < r; i++)
			if (buf[i].hpa == IOVIRT_HPA_NONE)
				return IOVIRT_EINVAL;
	}
	return 1;
}

/*
 * pin_counts_inc for the usual small DMA, all of whose pages lie in leaf l
 * (the cached one), inlined: the same order, the same runs (a page that
 * cannot extend the run pins it before being counted) and the same rollback,
 * without a lookup. Pages counted already (a ring buffer pinned by earlier
 * or concurrent DMAs) cost an increment.
 */
static inline int inc_leaf(struct iovirt_pin_domain *d, struct pin_leaf *l,
			   const struct pin_range *r, uint32_t n)
{
	uint64_t base = l->key << PIN_LEAF_SHIFT, done = 0;
	struct pin_run run = { 0, 0 };
	int err;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t *cnt = l->cnt + (r[i].first - base);
		uint32_t k = (uint32_t)r[i].npages;
		for (uint32_t j = 0; j < k; j++) {
			if (IOVIRT_UNLIKELY(cnt[j] == 0)) {
				if ((err = pin_run_pin_add(d, &run, r[i].first + j)))
					goto fail;
				if (l->used++ == 0)
					d->counts.nempty--;
			} else if (IOVIRT_UNLIKELY(run.len)) {
				if ((err = pin_run_pin(d, &run)))
					goto fail;
			}
			cnt[j]++;
			done++;
		}
	}
	if ((err = pin_run_pin(d, &run)))
		goto fail;
	d->st.page_refs += done;
	return 0;
fail:
	d->st.page_refs += done;
	pin_counts_inc_undo(d, r, n, &run, done);
	return err;
}

/* pin_counts_dec when every page of r lies in leaf l (still in the table:
 * it holds counts > 0), inlined. */
static inline void dec_leaf(struct iovirt_pin_domain *d, struct pin_leaf *l,
			    const struct pin_range *r, uint32_t n)
{
	uint64_t base = l->key << PIN_LEAF_SHIFT, refs = 0;
	struct pin_run run = { 0, 0 };
	for (uint32_t i = 0; i < n; i++) {
		uint32_t *cnt = l->cnt + (r[i].first - base);
		uint32_t k = (uint32_t)r[i].npages;
		refs += k;
		for (uint32_t j = 0; j < k; j++) {
			if (IOVIRT_LIKELY(--cnt[j]))
				continue;
			pin_leaf_dec_used(&d->counts, l);
			pin_run_unpin_add(d, &run, r[i].first + j);
		}
	}
	d->st.page_refs -= refs;
	pin_run_unpin(d, &run);
	if (IOVIRT_UNLIKELY(d->counts.nempty > PIN_SPARE_MAX))
		pin_counts_sweep(d);
}

#define PIN_INLINE static IOVIRT_ALWAYS_INLINE

/* prepare, holds: one hold per distinct region of the copy, taken before the
 * validation or held by the domain since an earlier call, so that the
 * snapshot validated next contains these regions with these bounds. Stops at
 * the first failure; *held says how many were added either way. */
PIN_INLINE int prep_holds(struct iovirt_pin_domain *d, uint32_t n,
			  struct iovirt_gmap_region **regs, uint32_t *held)
{
	int err = 0;
	for (uint32_t i = 0; i < n && !err; i++)
		err = hold_add(d, d->scratch[i].gpa, regs, held);
	return err;
}

/* prepare, validate: the copy against the map (a DMA: into out; a mapping's
 * single segment: in pieces, each needing a host physical address). */
PIN_INLINE int prep_validate(struct iovirt_pin_domain *d, const struct iovirt_sg_policy *pol,
			     uint32_t n, struct iovirt_host_seg *out, uint32_t out_cap,
			     struct iovirt_dma_result *res)
{
	struct iovirt_sg_policy strict;
	return out ? iovirt_sg_validate(d->map, pin_policy(pol, &strict), d->scratch, n, out, out_cap, res)
		   : pin_validate_map(d, pol, res);
}

/* The page ranges of the copy into rg; true when every page lies in the
 * count leaf key0 (both ends: a later segment may start in an earlier leaf). */
PIN_INLINE bool prep_ranges(const struct iovirt_pin_domain *d, uint32_t n, struct pin_range *rg,
			    uint64_t key0)
{
	bool one = true;
	for (uint32_t i = 0; i < n; i++) {
		/* validate checked len > 0 and no wrap */
		uint64_t first = d->scratch[i].gpa >> IOVIRT_PAGE_SHIFT;
		uint64_t last = (d->scratch[i].gpa + d->scratch[i].len - 1) >> IOVIRT_PAGE_SHIFT;
		rg[i] = (struct pin_range){ first, last - first + 1 };
		one &= (first >> PIN_LEAF_SHIFT) == key0 && (last >> PIN_LEAF_SHIFT) == key0;
	}
	return one;
}

/* Page gfn of leaf l goes 0 -> 1: its host pin (a run of one), then the
 * leaf's count of used pages. */
PIN_INLINE int page_pin_fresh(struct iovirt_pin_domain *d, struct pin_leaf *l, uint64_t gfn)
{
	struct pin_run run = { gfn, 1 };
	int err = pin_run_pin(d, &run);
	if (err)
		return err;
	if (l->used++ == 0)
		d->counts.nempty--;
	return 0;
}

/* One page of leaf l: pinned already (the steady state of a ring buffer), or
 * a run of one to pin before it is counted. */
PIN_INLINE int inc_page(struct iovirt_pin_domain *d, struct pin_leaf *l, uint64_t gfn)
{
	uint32_t *c = &l->cnt[gfn & (PIN_LEAF_PAGES - 1)];
	if (!*c) {
		int err = page_pin_fresh(d, l, gfn);
		if (err)
			return err;
	}
	++*c;
	d->st.page_refs++;
	return 0;
}

/* prepare, counts: one reference per page of rg, pinning the pages that go
 * 0 -> 1 in runs; all or nothing. *leaf: the one count leaf holding every page
 * when there is one (complete's fast path), else NULL. */
PIN_INLINE int prep_counts(struct iovirt_pin_domain *d, uint32_t n, struct pin_range *rg,
			   struct pin_leaf **leaf)
{
	uint64_t key0 = d->scratch[0].gpa >> (IOVIRT_PAGE_SHIFT + PIN_LEAF_SHIFT);
	bool one = prep_ranges(d, n, rg, key0);
	struct pin_leaf *cl = d->counts.last;
	int err;
	if (one && cl && cl->key == key0) {
		/* the cached leaf (the usual small DMA): no reserve, no lookup */
		err = n == 1 && rg[0].npages == 1 ? inc_page(d, cl, rg[0].first)
						  : inc_leaf(d, cl, rg, n);
	} else {
		err = pin_counts_reserve(d, rg, n);
		if (!err)
			err = pin_counts_inc(d, rg, n);
		/* After an inc of one leaf's pages that leaf is the cached one. */
		cl = d->counts.last;
		one &= cl && cl->key == key0;
	}
	*leaf = one ? cl : NULL;
	return err;
}

/*
 * The core of every pin, in two steps so that a failure after the pin (a
 * mapping's address allocation or page-table map, a re-validation that gives
 * another list) leaves the handle state exactly as it was.
 *
 * prepare: d->scratch[0 .. n) is the private copy. Its phases: holds (the
 * regions first), validate (against a snapshot that has them), counts
 * (reserve memory, then pin), claim (the slot at the head of the free list is
 * recorded in pp, its arrays hold the ranges and holds, but it is NOT taken:
 * free list and generations are untouched, and nothing that can fail comes
 * after this step in commit). On failure nothing changed.
 */
PIN_INLINE int prepare(struct iovirt_pin_domain *d, const struct iovirt_sg_policy *pol,
		       uint32_t n, struct iovirt_host_seg *out, uint32_t out_cap,
		       struct iovirt_dma_result *res, struct pin_prep *pp)
{
	if (IOVIRT_UNLIKELY(d->free_head == PIN_NIL))
		return IOVIRT_ELIMIT;
	uint32_t idx = d->free_head;
	struct iovirt_gmap_region **regs = pin_slot_regs(d, idx, n);
	struct pin_range *rg = pin_slot_ranges(d, idx, n);
	uint32_t held = 0;
	int err = prep_holds(d, n, regs, &held);
	int r = prep_validate(d, pol, n, out, out_cap, res);
	if (IOVIRT_UNLIKELY(r < 0 || err)) {
		put_holds(d, regs, held);
		/* Validation names the precise refusal; a hold failure without one
		 * is a region going away right now (EBUSY) or the hold limit. */
		return r < 0 ? r : err;
	}
	struct pin_leaf *leaf;
	err = prep_counts(d, n, rg, &leaf);
	if (IOVIRT_UNLIKELY(err)) {
		put_holds(d, regs, held);
		if (res)
			res->err = err;
		return err;
	}
	/* claim */
	*pp = (struct pin_prep){ .idx = idx, .n = n, .held = held, .leaf = leaf };
	return r;
}

/* Gives back a prepared pin's counts: one leaf's pages (leaf != NULL) on the
 * inlined paths, else through the count structure. */
PIN_INLINE void counts_drop(struct iovirt_pin_domain *d, const struct pin_range *rg, uint32_t n,
			    struct pin_leaf *l)
{
	if (!l) {
		pin_counts_dec(d, rg, n);
		return;
	}
	if (n == 1 && rg[0].npages == 1) {
		/* One page: still pinned by other DMAs, or its 1 -> 0. */
		d->st.page_refs--;
		if (!--l->cnt[rg[0].first & (PIN_LEAF_PAGES - 1)]) {
			struct pin_run run = { rg[0].first, 1 };
			pin_leaf_dec_used(&d->counts, l);
			pin_run_unpin(d, &run);
			if (IOVIRT_UNLIKELY(d->counts.nempty > PIN_SPARE_MAX))
				pin_counts_sweep(d);
		}
	} else {
		dec_leaf(d, l, rg, n);
	}
}

/* commit: takes the prepared slot (cannot fail). A new generation per use:
 * handles of earlier uses become ESTALE. The caller sets the state. */
PIN_INLINE uint32_t commit(struct iovirt_pin_domain *d, const struct pin_prep *pp)
{
	uint32_t idx = pp->idx;
	struct pin_slot *s = &d->slots[idx];
	/* idx is still the free-list head: prepare wrote into it, and nothing
	 * between prepare and commit takes or frees a slot (calls on a domain
	 * are serialized; a mapping's allocation and page-table map do not). */
	d->free_head = s->next;
	if (d->free_head == PIN_NIL)
		d->free_tail = PIN_NIL;
	s->nsegs = pp->n;
	s->nregs = pp->held;
	s->leaf = pp->leaf;
	s->gen = s->gen + 1 ? s->gen + 1 : 1;
	return idx;
}

int pin_prepare(struct iovirt_pin_domain *d, const struct iovirt_sg_policy *pol, uint32_t n,
		struct iovirt_host_seg *out, uint32_t out_cap, struct iovirt_dma_result *res,
		struct pin_prep *pp)
{
	return prepare(d, pol, n, out, out_cap, res, pp);
}

uint32_t pin_commit(struct iovirt_pin_domain *d, const struct pin_prep *pp)
{
	return commit(d, pp);
}

/* Undoes a prepared pin that is not committed: counts and holds as before
 * prepare (the host may have seen a pin and its unpin); the slot was never
 * taken, so free list and generations are as they were. */
void pin_unprepare(struct iovirt_pin_domain *d, const struct pin_prep *pp)
{
	counts_drop(d, pin_slot_ranges(d, pp->idx, pp->n), pp->n, pp->leaf);
	put_holds(d, pin_slot_regs(d, pp->idx, pp->n), pp->held);
}

/* Puts a released slot at the end of the free list. FIFO reuse: a completed
 * handle answers EDONE for as long as possible (until its slot is handed out
 * again, then ESTALE). */
PIN_INLINE void slot_free(struct iovirt_pin_domain *d, struct pin_slot *s, uint32_t idx)
{
	s->state = PIN_SLOT_FREE;
	s->next = PIN_NIL;
	if (d->free_tail == PIN_NIL)
		d->free_head = idx;
	else
		d->slots[d->free_tail].next = idx;
	d->free_tail = idx;
	if (IOVIRT_UNLIKELY(d->nrm))
		pin_removals_fire(d);
}

/* Returns a slot's pins and holds and puts it at the end of the free list. */
PIN_INLINE void release(struct iovirt_pin_domain *d, uint32_t idx)
{
	struct pin_slot *s = &d->slots[idx];
	counts_drop(d, pin_slot_ranges(d, idx, s->nsegs), s->nsegs, s->leaf);
	put_slot_holds(d, pin_slot_regs(d, idx, s->nsegs), s->nregs);
	slot_free(d, s, idx);
}

/* release of a one-segment slot with one regs[] entry, specialised. */
PIN_INLINE void release_one(struct iovirt_pin_domain *d, uint32_t idx)
{
	struct pin_slot *s = &d->slots[idx];
	counts_drop(d, &s->r1, 1, s->leaf);
	put_slot_holds(d, &s->reg1, 1);
	slot_free(d, s, idx);
}

void pin_release(struct iovirt_pin_domain *d, uint32_t idx)
{
	release(d, idx);
}

/* 0 when h names a live slot of d; the specific refusal otherwise. */
int pin_check(const struct iovirt_pin_domain *d, struct iovirt_pin_handle h)
{
	/* Tags are never reused: a handle of any other domain (of this guest or
	 * another, alive or destroyed, at this address or not) is refused. */
	if (h.tag != d->tag)
		return IOVIRT_EOWNER;
	if (h.index >= d->max_handles || h.gen != d->slots[h.index].gen)
		return IOVIRT_ESTALE;
	uint32_t st = d->slots[h.index].state;
	if (st == PIN_SLOT_FREE || st == PIN_SLOT_DEFERRED)
		return IOVIRT_EDONE;
	return 0;
}

PIN_INLINE int pin_finish(struct iovirt_pin_domain *d, const struct iovirt_sg_policy *pol,
			  uint32_t n, struct iovirt_host_seg *out, uint32_t out_cap,
			  struct iovirt_dma_result *res, struct iovirt_pin_handle *h)
{
	struct pin_prep pp = { 0 };
	int r = prepare(d, pol, n, out, out_cap, res, &pp);
	if (r < 0)
		return r;
	uint32_t idx = commit(d, &pp);
	struct pin_slot *s = &d->slots[idx];
	s->state = PIN_SLOT_DMA;
	d->st.live_dmas++;
	*h = pin_handle(d, idx);
	return r;
}

/*
 * The usual DMA, in one test (pin_fast_ok): one segment, the default policy,
 * the segment within the region of the hold entry that matched last, all its
 * pages in the cached count leaf, a free slot, no pending removal. Then
 * prepare + commit specialised: the same phases in the same order (hold,
 * validate, counts, slot), the same results, errors and undo, and the slot
 * recorded exactly as the general path records a one-segment slot, so that
 * release cannot tell them apart (test_fast.c compares the two paths).
 */
static IOVIRT_ALWAYS_INLINE bool pin_fast_ok(const struct iovirt_pin_domain *d,
					     const struct pin_hold *e, const struct pin_leaf *l,
					     uint64_t gpa, uint64_t len)
{
	/* len - 1 <= last - gpa: within the entry's region, and len is not 0
	 * (a region is shorter than 2^64 bytes, so last - gpa < 2^64 - 1); both
	 * ends in leaf l. A free entry (lo 1, last 0) matches nothing. */
	return d->free_head != PIN_NIL && !d->nrm && gpa >= e->lo && gpa <= e->last &&
	       len - 1 <= e->last - gpa && l && l->key == gpa >> (IOVIRT_PAGE_SHIFT + PIN_LEAF_SHIFT) &&
	       !((gpa ^ (gpa + (len - 1))) >> (IOVIRT_PAGE_SHIFT + PIN_LEAF_SHIFT));
}

#define PIN_SG_ARGS                                                                          \
	struct iovirt_pin_domain *d, const struct iovirt_sg_policy *pol,                     \
		const struct iovirt_seg *segs, uint32_t nsegs, struct iovirt_host_seg *out, \
		uint32_t out_cap, struct iovirt_dma_result *res, struct iovirt_pin_handle *h
#define PIN_SG_PASS d, pol, segs, nsegs, out, out_cap, res, h

/* Out of line and whole: a clone specialised for constant arguments would
 * move the others between registers before the jump (gcc's noclone; clang
 * makes no such clones). */
#ifdef __clang__
#define PIN_OUTLINE __attribute__((noinline))
#else
#define PIN_OUTLINE __attribute__((noinline, noclone))
#endif

/* iovirt_pin_sg for everything its fast path declines (same signature: the
 * hand-over is a jump). */
static PIN_OUTLINE int pin_sg_general(PIN_SG_ARGS)
{
	if (IOVIRT_UNLIKELY(!d || !segs || !out || !h))
		return IOVIRT_EINVAL;
	/* Read once: the caller's array may be shared with the guest. One
	 * segment (max_segs >= 1, so it always fits) has its own copy of the
	 * path, which the compiler specialises for n == 1. */
	if (IOVIRT_LIKELY(nsegs == 1)) {
		d->scratch[0] = segs[0];
		return pin_finish(d, pol, 1, out, out_cap, res, h);
	}
	if (IOVIRT_UNLIKELY(!nsegs))
		return IOVIRT_EINVAL;
	if (IOVIRT_UNLIKELY(nsegs > d->max_segs))
		return IOVIRT_ETOOMANY;
	memcpy(d->scratch, segs, (size_t)nsegs * sizeof(*segs));
	return pin_finish(d, pol, nsegs, out, out_cap, res, h);
}

/*
 * The fast path below copies segs[0] once into d->scratch[0]; when it
 * declines (before changing anything) the general path continues from that
 * copy. Values that must survive the validation call are reloaded from d
 * after it (nothing between changes them): fewer registers to save.
 */
/* The general path for one segment, the copy in d->scratch[0] already. */
static __attribute__((noinline)) int pin_one_general(struct iovirt_pin_domain *d,
						     struct iovirt_host_seg *out, uint32_t out_cap,
						     struct iovirt_dma_result *res,
						     struct iovirt_pin_handle *h)
{
	return pin_finish(d, NULL, 1, out, out_cap, res, h);
}

/* nsegs 1, pol NULL (iovirt_pin_sg): the declines pass these as constants,
 * so nothing but what the fast path needs stays live across its calls. */
static PIN_OUTLINE int pin_sg_one(PIN_SG_ARGS)
{
	(void)pol, (void)nsegs;
	if (IOVIRT_UNLIKELY(!d || !segs || !out || !h))
		return IOVIRT_EINVAL;
	struct iovirt_seg *seg = &d->scratch[0];
	*seg = segs[0]; /* read once: both paths decide from this copy */
	struct pin_hold *e = &d->hold[d->hold_hint];
	if (IOVIRT_UNLIKELY(!pin_fast_ok(d, e, d->counts.last, seg->gpa, seg->len)))
		return pin_one_general(d, out, out_cap, res, h);
	/* holds: e in use, or idle and used again (as hold_add). A remover took
	 * the idle lease back: the entry goes, and the general path takes the
	 * region anew. */
	if (e->users == 0 && IOVIRT_UNLIKELY(iovirt_gmap_lease_use(d->map, e->reg, e->lease - 1))) {
		hold_clear(d, &d->hold[d->hold_hint]);
		return pin_one_general(d, out, out_cap, res, h);
	}
	e->users++;
	/* validate: the segment lies in one held region, so the default policy
	 * decides as pin_policy's STRICT_REGIONS one (that flag only turns a
	 * crossing into ECROSS); the region known, its fast check needs no
	 * lookup, and what it declines (or a result asked for) is decided by
	 * iovirt_sg_validate */
	int r;
	if (IOVIRT_LIKELY(!res && out_cap && vb_held_validate(&e->vf, seg, out)))
		r = 1;
	else
		r = iovirt_sg_validate(d->map, NULL, seg, 1, out, out_cap, res);
	e = &d->hold[d->hold_hint];
	if (IOVIRT_UNLIKELY(r < 0)) {
		hold_unuse(d, e);
		return r;
	}
	/* counts (validation accepted: len > 0), in the cached leaf */
	seg = &d->scratch[0];
	struct pin_leaf *l = d->counts.last;
	uint64_t first = seg->gpa >> IOVIRT_PAGE_SHIFT;
	struct pin_range rg = { first, ((seg->gpa + seg->len - 1) >> IOVIRT_PAGE_SHIFT) - first + 1 };
	int err = rg.npages == 1 ? inc_page(d, l, first) : inc_leaf(d, l, &rg, 1);
	if (IOVIRT_UNLIKELY(err)) {
		hold_unuse(d, e);
		if (res)
			res->err = err;
		return err;
	}
	/* commit: the free-list head, recorded as commit records a one-segment
	 * slot */
	uint32_t idx = d->free_head;
	struct pin_slot *s = &d->slots[idx];
	d->free_head = s->next;
	if (d->free_head == PIN_NIL)
		d->free_tail = PIN_NIL;
	s->nsegs = 1;
	s->nregs = 1;
	s->leaf = l;
	s->r1 = rg;
	s->reg1 = e->reg;
	s->gen = s->gen + 1 ? s->gen + 1 : 1;
	s->state = PIN_SLOT_DMA;
	d->st.live_dmas++;
	*h = (struct iovirt_pin_handle){ .index = idx, .gen = s->gen, .tag = d->tag };
	return r;
}

/* Hands over by tail call, a jump: no frame here, so a list of several
 * segments does not pay for the fast path's saved registers. */
int iovirt_pin_sg(PIN_SG_ARGS)
{
	if (IOVIRT_LIKELY(nsegs == 1 && !pol))
		return pin_sg_one(PIN_SG_PASS);
	return pin_sg_general(PIN_SG_PASS);
}

/* A burst's page going 0 -> 1 on a host without pin_runs (out of line: the
 * per-run loop keeps its values in registers). */
static __attribute__((noinline)) int burst_pin_page(struct iovirt_pin_domain *d,
						    struct pin_leaf *l, uint64_t gfn)
{
	return page_pin_fresh(d, l, gfn);
}

#define PIN_BURST 32u /* DMAs a burst takes per pass (its arrays on the stack) */

/*
 * A burst's host pins: runs[0 .. nf), one page each of leaf l, go 0 -> 1, in
 * that order: one pin_runs call when the host has it, else one pin per run.
 * Returns how many were pinned (and counted in l->used); when fewer than nf,
 * *err says why the next was not (max_pinned as pin_run_pin checks it, or
 * the host).
 */
static __attribute__((noinline)) uint32_t burst_pin_fresh(struct iovirt_pin_domain *d,
							  struct pin_leaf *l,
							  const struct iovirt_page_run *runs,
							  uint32_t nf, int *err)
{
	uint32_t j = 0;
	if (!d->vec) {
		for (; j < nf; j++) {
			int r = burst_pin_page(d, l, runs[j].gpa >> IOVIRT_PAGE_SHIFT);
			if (IOVIRT_UNLIKELY(r)) {
				*err = r;
				break;
			}
		}
		return j;
	}
	uint32_t n = nf;
	if (d->max_pinned) {
		uint64_t room = d->max_pinned > d->st.pinned_pages ? d->max_pinned - d->st.pinned_pages : 0;
		if (n > room)
			n = (uint32_t)room;
	}
	j = n ? d->ops->pin_runs(d->host, d->guest, runs, n) : 0;
	if (IOVIRT_UNLIKELY(j > n))
		j = n; /* a host that says more than it was given */
	d->st.pinned_pages += j;
	d->st.host_pins += j;
	if (j && l->used == 0)
		d->counts.nempty--;
	l->used += j;
	if (IOVIRT_UNLIKELY(j < nf))
		*err = j < n ? IOVIRT_EHOST : IOVIRT_ELIMIT;
	return j;
}

/*
 * iovirt_pin_sg_burst's loop: takes segs[0 .. m) (m <= PIN_BURST) while each
 * is the usual DMA (one page inside [lo, lo + span], the part of hold entry
 * e's region that lies in count leaf l; a free slot; a direction the region
 * accepts, as vb_held_validate checks it), each decided before anything of
 * it changes. Its steps, in pin_sg_one's order: hold (the lease taken back
 * at the first DMA when e is idle, as hold_add does), counts, host entry,
 * slot (recorded as pin_sg_one records a one-segment slot, though the free
 * list moves only at the end). The host pins of the pages that went 0 -> 1
 * come after the loop (burst_pin_fresh: the calls, in the order, that one
 * iovirt_pin_sg per DMA makes), so that the loop makes no call; when one
 * fails, its DMA and the later ones are undone (counts, slot generations and
 * states; none of their pages was pinned, the pins running in order) and the
 * burst ends before that DMA. Deciding on the domain's private copy of the
 * region (e->vf) before its lease is used again is sound: a lease used again
 * was never revoked, so the region is the one the copy describes. The
 * counters that only this loop moves (e's users, the free-list head,
 * page_refs, live_dmas) are stored once. Returns the DMAs taken; *err is set
 * when the host pin of the next one failed (that DMA changed nothing).
 */
static __attribute__((noinline)) uint32_t burst_run(struct iovirt_pin_domain *d,
						    struct pin_hold *e, struct pin_leaf *l,
						    uint64_t lo, uint64_t span,
						    const struct iovirt_seg *segs, uint32_t m,
						    struct iovirt_host_seg *out, uint32_t *nout,
						    struct iovirt_pin_handle *h, int *err)
{
	struct iovirt_page_run runs[PIN_BURST]; /* the pages that went 0 -> 1 */
	uint32_t fresh[PIN_BURST]; /* ... and their DMAs */
	const struct vb_held f = e->vf;
	/* vb_held_entry's host addresses without a test per DMA: gpa plus an
	 * offset, masked to NULL or or'ed to IOVIRT_HPA_NONE (all ones) when
	 * the region has none */
	const uintptr_t hva_off = (uintptr_t)f.hva - (uintptr_t)f.gpa;
	const uintptr_t hva_mask = f.hva ? UINTPTR_MAX : 0;
	const uint64_t hpa_off = f.hpa - f.gpa;
	const uint64_t hpa_none = f.hpa == IOVIRT_HPA_NONE ? IOVIRT_HPA_NONE : 0;
	struct pin_slot *const slots = d->slots;
	struct iovirt_gmap_region *const reg = e->reg;
	const uint64_t tag = d->tag;
	const uint64_t base = l->key << PIN_LEAF_SHIFT;
	const bool idle = e->users == 0;
	uint32_t idx = d->free_head, i = 0, nf = 0;
	for (; i < m; i++) {
		/* each field read once (segs may be the guest's) */
		const uint64_t gpa = __atomic_load_n(&segs[i].gpa, __ATOMIC_RELAXED);
		const uint64_t len = __atomic_load_n(&segs[i].len, __ATOMIC_RELAXED);
		const uint32_t dir = __atomic_load_n(&segs[i].dir, __ATOMIC_RELAXED);
		/* gpa inside, and 0 < len within gpa's page (lo and span are
		 * page-granular: regions and leaves are) */
		if (IOVIRT_UNLIKELY(gpa - lo > span ||
				    len - 1 > IOVIRT_PAGE_MASK - (gpa & IOVIRT_PAGE_MASK) ||
				    idx == PIN_NIL || !vb_held_dir_ok(&f, dir)))
			break;
		if (IOVIRT_UNLIKELY(idle && i == 0) &&
		    IOVIRT_UNLIKELY(iovirt_gmap_lease_use(d->map, reg, e->lease - 1))) {
			/* revoked: iovirt_pin_sg takes the region anew */
			hold_clear(d, e);
			return 0;
		}
		const uint32_t pg = (uint32_t)(gpa >> IOVIRT_PAGE_SHIFT) & (PIN_LEAF_PAGES - 1);
		if (l->cnt[pg]++ == 0) {
			runs[nf] = (struct iovirt_page_run){ gpa & ~(uint64_t)IOVIRT_PAGE_MASK, 1 };
			fresh[nf++] = i;
		}
		out[i] = (struct iovirt_host_seg){
			.hva = (void *)(((uintptr_t)gpa + hva_off) & hva_mask),
			.hpa = (gpa + hpa_off) | hpa_none,
			.gpa = gpa,
			.len = len,
			.dir = dir,
			.exposed = vb_seg_exposed(gpa, len),
		};
		nout[i] = 1;
		struct pin_slot *s = &slots[idx];
		s->nsegs = 1;
		s->nregs = 1;
		s->leaf = l;
		s->r1 = (struct pin_range){ base + pg, 1 };
		s->reg1 = reg;
		const uint32_t gen = s->gen + 1 ? s->gen + 1 : 1;
		s->gen = gen;
		s->state = PIN_SLOT_DMA;
		h[i] = (struct iovirt_pin_handle){ .index = idx, .gen = gen, .tag = tag };
		idx = s->next;
	}
	uint32_t j = nf ? burst_pin_fresh(d, l, runs, nf, err) : 0;
	if (IOVIRT_UNLIKELY(j < nf)) {
		/* DMA q took the q-th slot of the free list (which moves only
		 * below): walked again from its head, in the domain's memory
		 * (not the caller's h) */
		idx = d->free_head;
		for (uint32_t q = 0; q < fresh[j]; q++)
			idx = slots[idx].next;
		for (uint32_t q = fresh[j], at = idx; q < i; q++) {
			struct pin_slot *s = &slots[at];
			l->cnt[s->r1.first & (PIN_LEAF_PAGES - 1)]--;
			/* the generation before: a new one is 1 only after
			 * UINT32_MAX (0 is skipped; a slot starts at 1 and its
			 * first use makes it 2) */
			s->gen = s->gen == 1 ? UINT32_MAX : s->gen - 1;
			s->state = PIN_SLOT_FREE;
			at = s->next;
		}
		i = fresh[j];
	}
	if (!i) {
		if (idle && *err)
			iovirt_gmap_lease_idle(reg, e->lease - 1); /* taken for nothing */
		return 0;
	}
	e->users += i;
	d->free_head = idx;
	if (idx == PIN_NIL)
		d->free_tail = PIN_NIL;
	d->st.page_refs += i;
	d->st.live_dmas += i;
	return i;
}

/*
 * iovirt_pin_sg_burst: burst_run for the usual DMAs; any other goes through
 * iovirt_pin_sg whole, and the loop resumes after it with the hint and leaf
 * it left. No removal can become pending during a burst (calls on a domain
 * are serialized; a host callback must not call into it), so d->nrm is read
 * once.
 */
int iovirt_pin_sg_burst(struct iovirt_pin_domain *d, const struct iovirt_sg_policy *pol,
			const struct iovirt_seg *segs, uint32_t n,
			struct iovirt_host_seg *out, uint32_t out_cap, uint32_t *nout,
			struct iovirt_pin_handle *h)
{
	if (IOVIRT_UNLIKELY(!d || ((!segs || !out || !nout || !h) && n)))
		return IOVIRT_EINVAL;
	const bool usual = !pol && !d->nrm;
	uint32_t k = 0, off = 0;
	while (k < n) {
		struct pin_hold *e = &d->hold[d->hold_hint];
		struct pin_leaf *l = d->counts.last;
		/* The usual DMA's page lies in [lo, lo + span]: the hint entry's
		 * region and the cached count leaf both (a free entry, lo 1 and
		 * last 0, or no leaf: nothing is usual). */
		if (usual && l && e->lo <= e->last) {
			uint64_t lbase = l->key << (IOVIRT_PAGE_SHIFT + PIN_LEAF_SHIFT);
			uint64_t llast = lbase + ((uint64_t)PIN_LEAF_PAGES << IOVIRT_PAGE_SHIFT) - 1;
			uint64_t last = e->last < llast ? e->last : llast;
			uint64_t lo = e->lo > lbase ? e->lo : lbase;
			uint32_t m = n - k < out_cap - off ? n - k : out_cap - off;
			if (m > PIN_BURST)
				m = PIN_BURST;
			if (lo <= last && m) {
				int err = 0;
				uint32_t t = burst_run(d, e, l, lo, last - lo, segs + k, m, out + off,
						       nout + k, h + k, &err);
				k += t;
				off += t;
				if (IOVIRT_UNLIKELY(err))
					/* as iovirt_pin_sg fails: nothing of DMA k kept */
					return k ? (int)k : err;
				if (k == n)
					break;
				if (t == PIN_BURST)
					continue; /* the next PIN_BURST */
			}
		}
		int r = iovirt_pin_sg(d, pol, &segs[k], 1, out + off, out_cap - off, NULL, &h[k]);
		if (r < 0)
			return k ? (int)k : r;
		nout[k++] = (uint32_t)r;
		off += (uint32_t)r;
	}
	return (int)n;
}

int iovirt_pin_sg_guest(struct iovirt_pin_domain *d, const struct iovirt_sg_policy *pol,
			uint64_t list_gpa, uint32_t nsegs,
			struct iovirt_host_seg *out, uint32_t out_cap,
			struct iovirt_dma_result *res, struct iovirt_pin_handle *h)
{
	if (!d || !out || !h || !nsegs)
		return IOVIRT_EINVAL;
	if (nsegs > d->max_segs)
		return IOVIRT_ETOOMANY;
	if (!IOVIRT_HOST_HAS(d->ops, guest_read))
		return IOVIRT_ENOSYS;
	uint64_t bytes;
	if (!iovirt_wire_sg_list_fits(list_gpa, nsegs, &bytes))
		return IOVIRT_EOVERFLOW;
	if (d->ops->guest_read(d->host, d->guest, list_gpa, d->wire, (size_t)bytes) < 0)
		return IOVIRT_EGUEST;
	for (uint32_t i = 0; i < nsegs; i++) {
		struct iovirt_wire_sg_entry w =
			iovirt_wire_sg_entry_decode(d->wire + (size_t)i * IOVIRT_SG_WIRE_SIZE);
		if (w.zero)
			return IOVIRT_EINVAL;
		d->scratch[i] = (struct iovirt_seg){ .gpa = w.gpa, .len = w.len, .dir = w.dir };
	}
	return pin_finish(d, pol, nsegs, out, out_cap, res, h);
}

/* The policy's segment bound as iovirt_sg_validate applies it. Read only
 * after a validation accepted pol (its size covers max_segs then). */
static uint32_t sg_policy_max_segs(const struct iovirt_sg_policy *pol)
{
	return pol && pol->max_segs ? pol->max_segs : IOVIRT_SG_DEFAULT_MAX_SEGS;
}

static bool same_seg(const struct iovirt_host_seg *a, const struct iovirt_host_seg *b)
{
	return a->hva == b->hva && a->hpa == b->hpa && a->gpa == b->gpa && a->len == b->len &&
	       a->dir == b->dir;
}

int iovirt_pin_validated(struct iovirt_pin_domain *d, const struct iovirt_sg_policy *pol,
			 const struct iovirt_host_seg *sg, uint32_t n,
			 struct iovirt_pin_handle *h)
{
	if (!d || !sg || !h || !n)
		return IOVIRT_EINVAL;
	if (n > d->max_segs)
		return IOVIRT_ETOOMANY;
	/* Copy once: the comparison below must be with what we pin. */
	memcpy(d->given, sg, (size_t)n * sizeof(*sg));
	for (uint32_t i = 0; i < n; i++)
		d->scratch[i] = (struct iovirt_seg){ .gpa = d->given[i].gpa, .len = d->given[i].len,
						     .dir = d->given[i].dir };
	/* Room for n entries: a re-validation that needs more is not the same
	 * list. */
	struct pin_prep pp = { 0 };
	int r = pin_prepare(d, pol, n, d->again, n, NULL, &pp);
	if (r == IOVIRT_ETOOMANY && n <= sg_policy_max_segs(pol))
		/* The policy admits n segments, so the refusal is the list
		 * growing past n entries: the map changed since the validation
		 * (regions replaced, now split in more pieces). Retrying after
		 * validating again is right, as for any other difference. */
		return IOVIRT_ESTALE;
	if (r < 0)
		return r;
	bool same = (uint32_t)r == n;
	for (uint32_t i = 0; same && i < n; i++)
		same = same_seg(&d->given[i], &d->again[i]);
	if (!same) {
		/* The list no longer describes the map: undo the pin before its
		 * slot is taken, so no handle changes. */
		pin_unprepare(d, &pp);
		return IOVIRT_ESTALE;
	}
	uint32_t idx = commit(d, &pp);
	d->slots[idx].state = PIN_SLOT_DMA;
	d->st.live_dmas++;
	*h = pin_handle(d, idx);
	return (int)n;
}

/* iovirt_pin_complete's refusals, out of its path: the precise error. */
static __attribute__((noinline, cold)) int complete_refusal(const struct iovirt_pin_domain *d,
							    struct iovirt_pin_handle h)
{
	if (!d)
		return IOVIRT_EINVAL;
	int err = pin_check(d, h);
	return err ? err : IOVIRT_EINVAL; /* live, but a mapping */
}

int iovirt_pin_complete(struct iovirt_pin_domain *d, struct iovirt_pin_handle h)
{
	/* One test for the usual handle: ours, in range, this generation, a
	 * live DMA. Anything else takes the refusal path, which says why. */
	if (IOVIRT_UNLIKELY(!d || h.tag != d->tag || h.index >= d->max_handles ||
			    h.gen != d->slots[h.index].gen ||
			    d->slots[h.index].state != PIN_SLOT_DMA))
		return complete_refusal(d, h);
	const struct pin_slot *s = &d->slots[h.index];
	if (IOVIRT_LIKELY(s->nsegs == 1 && s->nregs == 1))
		release_one(d, h.index);
	else
		release(d, h.index);
	d->st.live_dmas--;
	return 0;
}

/* A complete burst's host unpins: runs[0 .. nz), in that order, each page
 * of which went 1 -> 0 (its leaf's used count dropped already): one
 * unpin_runs call when the host has it, else one unpin per run. */
static __attribute__((noinline)) void burst_unpin_zero(struct iovirt_pin_domain *d,
							const struct iovirt_page_run *runs,
							uint32_t nz)
{
	if (!d->vec) {
		for (uint32_t j = 0; j < nz; j++) {
			struct pin_run run = { runs[j].gpa >> IOVIRT_PAGE_SHIFT, runs[j].npages };
			pin_run_unpin(d, &run);
		}
		return;
	}
	d->ops->unpin_runs(d->host, d->guest, runs, nz);
	d->st.pinned_pages -= nz;
	d->st.host_unpins += nz;
}

/*
 * iovirt_pin_complete_burst's loop: ends h[0 .. n) (n <= PIN_BURST) while
 * each is a live DMA of d of the usual kind (one page of a count leaf, held
 * through hold entry e: burst_run's and pin_sg_one's), at most e->users of
 * them, released as release_one releases it, the host unpins of the pages
 * that go 1 -> 0 made after the loop, or before a sweep of empty count
 * leaves when one falls due inside it (burst_unpin_zero: the calls, in the
 * order, that one iovirt_pin_complete per DMA makes, the sweep's frees
 * included), so that the loop makes none in the usual case. The counters that only
 * this loop moves (e's users, the free-list tail, page_refs, live_dmas) are
 * stored once; e's last use then makes its hold idle (hold_unuse), once.
 * Returns the handles ended.
 */
static __attribute__((noinline)) uint32_t complete_run(struct iovirt_pin_domain *d,
						       struct pin_hold *e,
						       const struct iovirt_pin_handle *h, uint32_t n)
{
	struct iovirt_page_run runs[PIN_BURST]; /* the pages that went 1 -> 0 */
	const uint64_t tag = d->tag;
	const uint32_t max = d->max_handles;
	struct pin_slot *const slots = d->slots;
	struct iovirt_gmap_region *const reg = e->reg;
	uint32_t tail = d->free_tail, i = 0, nz = 0, first = PIN_NIL;
	const uint32_t head0 = tail;
	/* At most e's users: a region held twice (hold_add_slow's rare case)
	 * has its slots' holds counted on either entry. */
	if (n > e->users)
		n = e->users;
	if (n > PIN_BURST)
		n = PIN_BURST;
	for (; i < n; i++) {
		const struct iovirt_pin_handle hk = h[i];
		if (IOVIRT_UNLIKELY(hk.tag != tag || hk.index >= max))
			break;
		struct pin_slot *s = &slots[hk.index];
		struct pin_leaf *l = s->leaf;
		if (IOVIRT_UNLIKELY(hk.gen != s->gen || s->state != PIN_SLOT_DMA || s->nsegs != 1 ||
				    s->nregs != 1 || !l || s->r1.npages != 1 || s->reg1 != reg))
			break;
		uint64_t gfn = s->r1.first;
		if (!--l->cnt[gfn & (PIN_LEAF_PAGES - 1)]) {
			runs[nz++] = (struct iovirt_page_run){ gfn << IOVIRT_PAGE_SHIFT, 1 };
			/* as counts_drop, page by page: a leaf with a page still
			 * counted here (a later DMA's) has used > 0, the sweep
			 * keeps it; the unpins so far go first, as one call per
			 * DMA would have made them before this sweep's frees */
			pin_leaf_dec_used(&d->counts, l);
			if (IOVIRT_UNLIKELY(d->counts.nempty > PIN_SPARE_MAX)) {
				burst_unpin_zero(d, runs, nz);
				nz = 0;
				pin_counts_sweep(d);
			}
		}
		s->state = PIN_SLOT_FREE;
		s->next = PIN_NIL;
		if (tail != PIN_NIL)
			slots[tail].next = hk.index;
		else
			first = hk.index;
		tail = hk.index;
	}
	if (!i)
		return 0;
	if (head0 == PIN_NIL)
		d->free_head = first;
	d->free_tail = tail;
	d->st.page_refs -= i;
	d->st.live_dmas -= i;
	if (nz)
		burst_unpin_zero(d, runs, nz);
	/* e's users count these DMAs' holds (each names e's region): the last
	 * one makes the hold idle, as hold_unuse does */
	e->users -= i - 1;
	hold_unuse(d, e);
	return i;
}

/*
 * iovirt_pin_complete_burst: complete_run for the usual DMAs; any other
 * handle goes through iovirt_pin_complete, and the loop resumes after it.
 * No removal becomes pending during a burst (calls on a domain are
 * serialized), so d->nrm is read once.
 */
int iovirt_pin_complete_burst(struct iovirt_pin_domain *d, const struct iovirt_pin_handle *h,
			      uint32_t n)
{
	if (IOVIRT_UNLIKELY(!d || (!h && n)))
		return IOVIRT_EINVAL;
	const bool usual = !d->nrm;
	uint32_t k = 0;
	while (k < n) {
		struct pin_hold *e = &d->hold[d->hold_hint];
		if (usual && e->users) {
			uint32_t t = complete_run(d, e, h + k, n - k);
			k += t;
			if (k == n)
				break;
			if (t == PIN_BURST)
				continue; /* the next PIN_BURST */
		}
		int r = iovirt_pin_complete(d, h[k]);
		if (r < 0)
			return k ? (int)k : r;
		k++;
	}
	return (int)n;
}

uint32_t iovirt_pin_count(const struct iovirt_pin_domain *d, uint64_t gpa)
{
	return d ? pin_counts_get(&d->counts, gpa >> IOVIRT_PAGE_SHIFT) : 0;
}

void iovirt_pin_stats(const struct iovirt_pin_domain *d, struct iovirt_pin_stats *out)
{
	if (d && out)
		*out = d->st;
}
