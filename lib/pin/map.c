/* SPDX-License-Identifier: MIT */
/* Persistent IOMMU mappings on pinned pages; per-ASID bus-address allocators;
 * batched teardown. */
#include "pin/internal.h"


static struct pin_iova *iova_find(const struct iovirt_pin_domain *d, uint32_t asid)
{
	for (uint32_t i = 0; i < d->niova; i++)
		if (d->iova[i]->asid == asid)
			return d->iova[i];
	return NULL;
}

/* Smallest power of two >= size (size > 0, <= 2^62). */
static uint64_t pow2_up(uint64_t size)
{
	return size <= 1 ? 1 : UINT64_C(1) << (64 - __builtin_clzll(size - 1));
}

/*
 * Takes a naturally aligned block of `block` bytes: a freed one of that size
 * if any (O(1)), else bumped from the window. Growth of the per-size free
 * stack happens here, when a block is first created, so that giving it back
 * (pin_iova_put) never allocates. Nothing changes on failure except an empty
 * allocator for asid may now exist.
 */
static int iova_get(struct iovirt_pin_domain *d, uint32_t asid, uint64_t block, uint64_t *iova)
{
	struct pin_iova *a = iova_find(d, asid);
	if (!a) {
		if (d->niova == d->iova_cap) {
			uint32_t cap = d->iova_cap ? d->iova_cap * 2 : 4;
			struct pin_iova **t = pin_meta_alloc(d, cap * sizeof(*t));
			if (!t)
				return IOVIRT_ENOMEM;
			for (uint32_t i = 0; i < d->niova; i++)
				t[i] = d->iova[i];
			pin_meta_free(d, d->iova, d->iova_cap * sizeof(*t));
			d->iova = t;
			d->iova_cap = cap;
		}
		a = pin_meta_alloc(d, sizeof(*a));
		if (!a)
			return IOVIRT_ENOMEM;
		a->asid = asid;
		a->next = d->iova_base;
		d->iova[d->niova++] = a;
	}
	struct pin_iova_class *c = &a->cls[__builtin_ctzll(block) - IOVIRT_PAGE_SHIFT];
	if (c->n) {
		*iova = c->v[--c->n];
		return 0;
	}
	uint64_t base = (a->next + block - 1) & ~(block - 1), end;
	if (base < a->next || !iovirt_add_ok(base, block, &end) || end > d->iova_end)
		return IOVIRT_ERANGE;
	if (c->bumped == c->cap) {
		uint32_t cap = c->cap ? c->cap * 2 : 8;
		uint64_t *v = pin_meta_alloc(d, cap * sizeof(*v));
		if (!v)
			return IOVIRT_ENOMEM;
		for (uint32_t i = 0; i < c->n; i++)
			v[i] = c->v[i];
		pin_meta_free(d, c->v, c->cap * sizeof(*v));
		c->v = v;
		c->cap = cap;
	}
	c->bumped++;
	a->next = end;
	*iova = base;
	return 0;
}

void pin_iova_put(struct iovirt_pin_domain *d, uint32_t asid, uint64_t iova, uint64_t block)
{
	struct pin_iova *a = iova_find(d, asid);
	struct pin_iova_class *c = &a->cls[__builtin_ctzll(block) - IOVIRT_PAGE_SHIFT];
	c->v[c->n++] = iova; /* capacity >= blocks ever bumped >= n + 1 */
}

void pin_iova_free_all(struct iovirt_pin_domain *d)
{
	for (uint32_t i = 0; i < d->niova; i++) {
		struct pin_iova *a = d->iova[i];
		for (uint32_t k = 0; k < PIN_IOVA_CLASSES; k++)
			pin_meta_free(d, a->cls[k].v, a->cls[k].cap * sizeof(uint64_t));
		pin_meta_free(d, a, sizeof(*a));
	}
	pin_meta_free(d, d->iova, d->iova_cap * sizeof(*d->iova));
	d->iova = NULL;
	d->niova = d->iova_cap = 0;
}

/* Installs the translations of the held, pinned range, piece by piece (the
 * pieces were validated under the same hold, so they give the same result).
 * On failure removes what it installed (one unmap, which invalidates). */
static int map_pieces(struct iovirt_pin_domain *d, struct iovirt_iommu *iommu, uint32_t asid,
		      const struct iovirt_seg *seg, uint64_t iova, unsigned prot)
{
	struct iovirt_host_seg buf[PIN_PIECE_PAGES];
	uint64_t done = 0;
	int err = 0;
	for (uint64_t off = 0; off < seg->len && !err; off += PIN_PIECE_BYTES) {
		uint64_t left = seg->len - off;
		struct iovirt_seg s = { .gpa = seg->gpa + off, .dir = seg->dir,
					.len = left < PIN_PIECE_BYTES ? left : PIN_PIECE_BYTES };
		struct iovirt_sg_policy strict;
		int n = iovirt_sg_validate(d->map, pin_policy(NULL, &strict), &s, 1, buf, PIN_PIECE_PAGES, NULL);
		if (n < 0) {
			err = n; /* cannot happen while held; kept as a safe refusal */
			break;
		}
		for (int i = 0; i < n && !err; i++) {
			err = iovirt_pt_map(iommu, asid, iova + done, buf[i].hpa, buf[i].len, prot);
			if (!err)
				done += buf[i].len;
		}
	}
	if (err && done)
		(void)iovirt_pt_unmap(iommu, asid, iova, done);
	return err;
}

/* The refusals of pin_map's own arguments (the address aside). */
static int map_args_check(uint64_t gpa, uint64_t len, unsigned prot, unsigned flags)
{
	if (!len || !prot || (prot & ~(unsigned)(IOVIRT_PROT_READ | IOVIRT_PROT_WRITE)) ||
	    (flags & ~IOVIRT_PIN_MAP_FIXED))
		return IOVIRT_EINVAL;
	if (!iovirt_is_aligned(gpa, IOVIRT_PAGE_SIZE) || !iovirt_is_aligned(len, IOVIRT_PAGE_SIZE))
		return IOVIRT_EALIGN;
	if (len > (UINT64_C(1) << 62))
		return IOVIRT_ETOOBIG;
	return 0;
}

/* A fixed address: aligned, no wrap, outside the allocator's window. Its one
 * state change comes last: a queued unmap overlapping it is flushed. */
static int map_fixed_check(struct iovirt_pin_domain *d, struct iovirt_iommu *iommu,
			   uint32_t asid, uint64_t at, uint64_t len)
{
	uint64_t end;
	if (!iovirt_is_aligned(at, IOVIRT_PAGE_SIZE))
		return IOVIRT_EALIGN;
	if (!iovirt_add_ok(at, len, &end))
		return IOVIRT_EOVERFLOW;
	/* Fixed addresses stay out of the window so the allocator never
	 * hands out a range that is already in use. */
	if (at < d->iova_end && end > d->iova_base)
		return IOVIRT_ERANGE;
	/* A batched unmap of this range may still sit in the IOTLB: the
	 * gather's contract forbids mapping it again before its flush. */
	if (d->defer_head != PIN_NIL && pin_deferred_overlap(d, iommu, asid, at, len))
		iovirt_pin_flush(d);
	return 0;
}

int iovirt_pin_map(struct iovirt_pin_domain *d, struct iovirt_iommu *iommu,
		   uint32_t asid, uint64_t gpa, uint64_t len, unsigned prot,
		   unsigned flags, uint64_t *iova, struct iovirt_pin_handle *h)
{
	if (!d || !iommu || !iova || !h)
		return IOVIRT_EINVAL;
	int err = map_args_check(gpa, len, prot, flags);
	if (err)
		return err;
	uint64_t at = 0, block = 0;
	if (flags & IOVIRT_PIN_MAP_FIXED) {
		at = *iova;
		if ((err = map_fixed_check(d, iommu, asid, at, len)))
			return err;
	}
	d->scratch[0] = (struct iovirt_seg){
		.gpa = gpa, .len = len,
		.dir = ((prot & IOVIRT_PROT_READ) ? IOVIRT_DEV_READ : 0) |
		       ((prot & IOVIRT_PROT_WRITE) ? IOVIRT_DEV_WRITE : 0) };
	/* Pin first, take the slot last: every failure below undoes the pin
	 * before any slot or generation changed (all or nothing, handles
	 * included). */
	struct pin_prep pp = { 0 };
	err = pin_prepare(d, NULL, 1, NULL, 0, NULL, &pp);
	if (err < 0)
		return err;
	err = 0;
	if (!(flags & IOVIRT_PIN_MAP_FIXED)) {
		block = pow2_up(len);
		err = iova_get(d, asid, block, &at);
		if (err)
			block = 0; /* nothing taken: nothing to give back */
	}
	if (!err)
		err = map_pieces(d, iommu, asid, &d->scratch[0], at, prot);
	if (err) {
		if (block)
			pin_iova_put(d, asid, at, block);
		pin_unprepare(d, &pp);
		return err;
	}
	uint32_t idx = pin_commit(d, &pp);
	struct pin_slot *s = &d->slots[idx];
	s->state = PIN_SLOT_MAP;
	s->iommu = iommu;
	s->asid = asid;
	s->iova = at;
	s->size = len;
	s->block = block;
	s->from_alloc = block != 0;
	d->st.live_maps++;
	*iova = at;
	*h = pin_handle(d, idx);
	return 0;
}

static void unmap_finish(struct iovirt_pin_domain *d, uint32_t idx)
{
	struct pin_slot *s = &d->slots[idx];
	if (s->from_alloc)
		pin_iova_put(d, s->asid, s->iova, s->block);
	pin_release(d, idx);
}

/* The gather of (iommu, asid), taking a free one if needed; NULL when all
 * PIN_GATHERS are in use by other spaces (the caller flushes, then retries). */
static struct iovirt_pt_gather *gather_for(struct iovirt_pin_domain *d,
					   struct iovirt_iommu *iommu, uint32_t asid)
{
	for (uint32_t i = 0; i < d->ngath; i++)
		if (d->gath[i].iommu == iommu && d->gath[i].g.asid == asid)
			return &d->gath[i].g;
	if (d->ngath == PIN_GATHERS)
		return NULL;
	struct pin_gather *pg = &d->gath[d->ngath++];
	pg->iommu = iommu;
	iovirt_pt_gather_init(&pg->g, asid);
	return &pg->g;
}

static void stat_max(uint64_t v, uint64_t *max)
{
	if (v > *max)
		*max = v;
}

int iovirt_pin_unmap(struct iovirt_pin_domain *d, struct iovirt_pin_handle h)
{
	if (!d)
		return IOVIRT_EINVAL;
	int err = pin_check(d, h);
	if (err)
		return err;
	struct pin_slot *s = &d->slots[h.index];
	if (s->state != PIN_SLOT_MAP)
		return IOVIRT_EINVAL;
	if (!d->batch) {
		/* Returns after the IOTLB invalidation: only then may the pages go. */
		int64_t r = iovirt_pt_unmap(s->iommu, s->asid, s->iova, s->size);
		if (r < 0 && r != IOVIRT_ENOASID)
			return (int)r;
		d->st.live_maps--;
		unmap_finish(d, h.index);
		return 0;
	}
	/* Batched: clear the translation now; the invalidation, and after it
	 * the unpin, hold drop and address free, wait for the flush. */
	struct iovirt_pt_gather *g = gather_for(d, s->iommu, s->asid);
	if (!g) {
		iovirt_pin_flush(d);
		g = gather_for(d, s->iommu, s->asid);
	}
	int64_t r = iovirt_pt_unmap_gather(s->iommu, s->asid, s->iova, s->size, g);
	if (r < 0 && r != IOVIRT_ENOASID)
		return (int)r;
	d->st.live_maps--;
	s->state = PIN_SLOT_DEFERRED;
	s->next = PIN_NIL;
	if (d->defer_tail == PIN_NIL)
		d->defer_head = h.index;
	else
		d->slots[d->defer_tail].next = h.index;
	d->defer_tail = h.index;
	d->st.deferred_entries++;
	d->st.deferred_pages += s->size >> IOVIRT_PAGE_SHIFT;
	d->st.deferred_invals += r > 0; /* ENOASID: the destroy invalidated already */
	stat_max(d->st.deferred_entries, &d->st.max_deferred_entries);
	stat_max(d->st.deferred_pages, &d->st.max_deferred_pages);
	stat_max(d->st.deferred_invals, &d->st.max_deferred_invals);
	if (d->st.deferred_entries >= d->batch)
		iovirt_pin_flush(d);
	return 0;
}

/* True when a queued (cleared, maybe not yet invalidated) unmap overlaps
 * [iova, iova + len) of (iommu, asid). */
bool pin_deferred_overlap(const struct iovirt_pin_domain *d, struct iovirt_iommu *iommu,
			  uint32_t asid, uint64_t iova, uint64_t len)
{
	for (uint32_t i = d->defer_head; i != PIN_NIL; i = d->slots[i].next) {
		const struct pin_slot *s = &d->slots[i];
		if (s->iommu == iommu && s->asid == asid && iova < s->iova + s->size &&
		    s->iova < iova + len)
			return true;
	}
	return false;
}

uint32_t iovirt_pin_flush(struct iovirt_pin_domain *d)
{
	if (!d || (d->defer_head == PIN_NIL && !d->ngath))
		return 0;
	/* First every invalidation (one per space with cleared entries) ... */
	for (uint32_t i = 0; i < d->ngath; i++) {
		d->st.flush_invals += d->gath[i].g.pending != 0;
		iovirt_pt_gather_flush(d->gath[i].iommu, &d->gath[i].g);
	}
	d->ngath = 0;
	if (d->defer_head == PIN_NIL)
		return 0; /* only a gather whose unmap failed: nothing cleared */
	/* ... then, no translation left in any IOTLB, the pages may go. */
	uint32_t n = 0;
	for (uint32_t i = d->defer_head; i != PIN_NIL;) {
		uint32_t next = d->slots[i].next;
		unmap_finish(d, i);
		i = next;
		n++;
	}
	d->defer_head = d->defer_tail = PIN_NIL;
	d->st.deferred_entries = 0;
	d->st.deferred_pages = 0;
	d->st.deferred_invals = 0;
	d->st.flushes++;
	return n;
}
