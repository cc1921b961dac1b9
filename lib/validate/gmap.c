/* SPDX-License-Identifier: MIT */
/*
 * Guest memory maps: copy-on-write snapshots published by compare-and-swap,
 * old ones retired until the host's reclaim. See include/iovirt/validate.h.
 */
#include <string.h>

#include "validate/internal.h"

#define SNAP_ALIGN 64

/* Buckets of a snapshot of n regions: at most twice n, a power of two, so
 * that evenly spread regions get about one boundary per bucket. */
static uint64_t bkt_max(uint32_t n)
{
	uint64_t t = 2;
	while (t < 2 * (uint64_t)n)
		t <<= 1;
	return t;
}

/* Rounded to the alignment: a host allocator may size-class an aligned block
 * by its size alone when it is freed (jemalloc's sdallocx does). */
static size_t snap_bytes(uint32_t n)
{
	size_t b = sizeof(struct vb_snap) + (size_t)vb_snap_slots(n) * sizeof(struct vb_snap_ent) +
		   (size_t)n * sizeof(uint64_t) +
		   (size_t)bkt_max(n) * sizeof(struct vb_snap_bkt);
	return (b + SNAP_ALIGN - 1) & ~(size_t)(SNAP_ALIGN - 1);
}

static struct vb_snap *snap_alloc(struct iovirt_gmap *map, uint32_t n)
{
	size_t bytes = snap_bytes(n);
	struct vb_snap *s = iovirt_host_alloc(map->ops, map->host, bytes, SNAP_ALIGN);
	if (!s)
		return NULL;
	s->link.bytes = bytes;
	s->link.type = VB_RETIRED_SNAP;
	s->n = n;
	/* entries first, right after the header: 64 bytes each, cache-line aligned */
	s->base = (uint64_t *)(vb_snap_ents(s) + vb_snap_slots(n));
	s->bkt = (struct vb_snap_bkt *)(s->base + n);
	return s;
}

/* Fills base[] and the bucket index from the (sorted, disjoint) entries; the
 * last step before a snapshot is published. O(n + buckets). */
static void snap_seal(struct vb_snap *s)
{
	const struct vb_snap_ent *e = vb_snap_ents(s);
	uint32_t n = s->n, j = 0, shift = 0;
	for (uint32_t i = 0; i < n; i++)
		s->base[i] = e[i].gpa;
	s->shift = 0;
	if (n == 0) {
		/* the sentinel (see vb_snap_find): only gpa 1 reaches it, and
		 * it ends before it */
		s->lo = 1;
		s->span = 0;
		s->bkt[0] = (struct vb_snap_bkt){ 0, 1 };
		vb_snap_ents(s)[0] = (struct vb_snap_ent){ .gpa = 1, .last = 0 };
		return;
	}
	s->lo = e[0].gpa;
	s->span = e[n - 1].last - e[0].gpa;
	uint64_t target = bkt_max(n);
	while ((s->span >> shift) >= target)
		shift++;
	s->shift = shift;
	uint64_t nb = (s->span >> shift) + 1; /* <= target */
	for (uint64_t k = 0; k < nb; k++) {
		/* from the last region starting at or before the bucket's first
		 * byte to the last one starting at or before its last byte */
		uint64_t first = s->lo + (k << shift);
		uint64_t last = k + 1 < nb ? first + ((UINT64_C(1) << shift) - 1) : e[n - 1].last;
		while (j + 1 < n && s->base[j + 1] <= first)
			j++;
		uint32_t h = j;
		while (h + 1 < n && s->base[h + 1] <= last)
			h++;
		s->bkt[k] = (struct vb_snap_bkt){ j, h - j + 1 };
	}
}

static void snap_free(struct iovirt_gmap *map, struct vb_snap *s)
{
	iovirt_host_free(map->ops, map->host, s, s->link.bytes);
}

static void node_free(struct iovirt_gmap *map, struct iovirt_gmap_region *r)
{
	iovirt_host_free(map->ops, map->host, r->pages, r->pages_bytes);
	iovirt_host_free(map->ops, map->host, r, sizeof(*r));
}

/* A retired node at reclaim: freed, unless an owner of a revoked lease has
 * not noticed yet (it still points at the node): then the last one to
 * notice frees it (lease_ack). */
static void node_release(struct iovirt_gmap *map, struct iovirt_gmap_region *r)
{
	/* counted first, so that the owner's free never finds it uncounted */
	atomic_fetch_add_explicit(&map->orphans, 1, memory_order_relaxed);
	if (atomic_fetch_or_explicit(&r->owners, VB_RECLAIMED, memory_order_acq_rel) == 0) {
		atomic_fetch_sub_explicit(&map->orphans, 1, memory_order_relaxed);
		node_free(map, r);
	}
}

static void retire(struct iovirt_gmap *map, struct vb_retired *o)
{
	struct vb_retired *head = atomic_load_explicit(&map->retired, memory_order_relaxed);
	do
		o->next = head;
	while (!atomic_compare_exchange_weak_explicit(&map->retired, &head, o,
						      memory_order_release,
						      memory_order_relaxed));
	atomic_fetch_add_explicit(&map->nretired, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&map->retired_bytes, o->bytes, memory_order_relaxed);
}

static void ent_fill(const struct iovirt_gmap *map, struct vb_snap_ent *e,
		     struct iovirt_gmap_region *r)
{
	const struct iovirt_region *d = &r->desc;
	*e = (struct vb_snap_ent){
		.gpa = d->gpa,
		.last = d->gpa + (d->length - 1),
		.hva = d->hva,
		.hpa = (d->flags & IOVIRT_REGION_HPA) ? d->hpa : IOVIRT_HPA_NONE,
		.pages = r->pages,
		.node = r,
		.kind = d->kind,
		.access = d->access,
		.owner = d->owner,
		.fast = vb_fast_of(map, d),
	};
}

/* Index of the first entry whose base is > gpa (entries are sorted, disjoint). */
static uint32_t snap_upper(const struct vb_snap *s, uint64_t gpa)
{
	uint32_t lo = 0, hi = s->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (s->base[mid] <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Publishes next in place of cur. false when another writer published first;
 * the caller then frees next (never visible) and starts again.
 */
static bool publish(struct iovirt_gmap *map, struct vb_snap *cur, struct vb_snap *next)
{
	if (!atomic_compare_exchange_strong_explicit(&map->cur, &cur, next,
						     memory_order_acq_rel,
						     memory_order_acquire))
		return false;
	atomic_fetch_add_explicit(&map->generation, 1, memory_order_relaxed);
	retire(map, &cur->link);
	return true;
}

int iovirt_gmap_create(const struct iovirt_host_ops *ops, void *host,
		       const struct iovirt_gmap_params *params, struct iovirt_gmap **out)
{
	if (!ops || !out || !params ||
	    !IOVIRT_PARAMS_HAS(params, max_regions) /* version 1 */ ||
	    ops->size < offsetof(struct iovirt_host_ops, table_alloc))
		return IOVIRT_EINVAL;
	if (!iovirt_host_ops_ok(ops))
		return IOVIRT_ENOSYS;
	struct iovirt_gmap *map = ops->mem_alloc(host, sizeof(*map), _Alignof(struct iovirt_gmap));
	if (!map)
		return IOVIRT_ENOMEM;
	map->ops = ops;
	map->host = host;
	map->guest = params->guest;
	map->max_regions = params->max_regions ? params->max_regions
					       : IOVIRT_GMAP_DEFAULT_MAX_REGIONS;
	struct vb_snap *s = snap_alloc(map, 0);
	if (!s) {
		ops->mem_free(host, map, sizeof(*map));
		return IOVIRT_ENOMEM;
	}
	snap_seal(s);
	atomic_init(&map->cur, s);
	atomic_init(&map->retired, NULL);
	*out = map;
	return 0;
}

uint32_t iovirt_gmap_guest(const struct iovirt_gmap *map)
{
	return map->guest;
}

/* No lease of r is held or revoked-but-unnoticed. */
static bool node_unleased(struct iovirt_gmap_region *r)
{
	for (uint32_t i = 0; i < IOVIRT_GMAP_LEASES; i++)
		if (atomic_load(&r->lease[i]) != VB_LEASE_NONE)
			return false;
	return true;
}

int iovirt_gmap_destroy(struct iovirt_gmap *map)
{
	if (!map)
		return 0;
	struct vb_snap *s = atomic_load(&map->cur);
	/* A lease owner (a pin domain) still points at its node, even at a
	 * revoked one: it must end its leases first (destroy it first). */
	for (uint32_t i = 0; i < s->n; i++)
		if (atomic_load(&vb_snap_ents(s)[i].node->users) != 0 ||
		    !node_unleased(vb_snap_ents(s)[i].node))
			return IOVIRT_EBUSY;
	if (atomic_load(&map->orphans))
		return IOVIRT_EBUSY;
	for (struct vb_retired *o = atomic_load(&map->retired); o; o = o->next)
		if (o->type == VB_RETIRED_NODE &&
		    atomic_load(&((struct iovirt_gmap_region *)o)->owners) != 0)
			return IOVIRT_EBUSY;
	iovirt_gmap_reclaim(map);
	for (uint32_t i = 0; i < s->n; i++)
		node_free(map, vb_snap_ents(s)[i].node);
	snap_free(map, s);
	map->ops->mem_free(map->host, map, sizeof(*map));
	return 0;
}

size_t iovirt_gmap_reclaim(struct iovirt_gmap *map)
{
	struct vb_retired *o = atomic_exchange_explicit(&map->retired, NULL, memory_order_acquire);
	size_t n = 0;
	while (o) {
		struct vb_retired *next = o->next;
		atomic_fetch_sub_explicit(&map->nretired, 1, memory_order_relaxed);
		atomic_fetch_sub_explicit(&map->retired_bytes, o->bytes, memory_order_relaxed);
		if (o->type == VB_RETIRED_SNAP)
			snap_free(map, (struct vb_snap *)o);
		else
			node_release(map, (struct iovirt_gmap_region *)o);
		o = next;
		n++;
	}
	return n;
}

void iovirt_gmap_stats(const struct iovirt_gmap *cmap, struct iovirt_gmap_stats *out)
{
	struct iovirt_gmap *map = (struct iovirt_gmap *)cmap;
	out->regions = vb_gmap_snap(map)->n;
	out->generation = atomic_load(&map->generation);
	out->retired = atomic_load(&map->nretired);
	out->retired_bytes = atomic_load(&map->retired_bytes);
}

/* Checks a region description; 0 or the error iovirt_gmap_add documents. */
static int region_check(const struct iovirt_region *r)
{
	uint64_t end;
	if (!IOVIRT_PARAMS_HAS(r, page_hpa)) /* version 1 */
		return IOVIRT_EINVAL;
	if (r->length == 0 || r->kind < IOVIRT_REGION_RAM || r->kind > IOVIRT_REGION_SHARED ||
	    (r->access & ~(IOVIRT_DEV_READ | IOVIRT_DEV_WRITE)) ||
	    (r->flags & ~(IOVIRT_REGION_HPA | IOVIRT_REGION_HPA_PAGES)) ||
	    r->flags == (IOVIRT_REGION_HPA | IOVIRT_REGION_HPA_PAGES) ||
	    ((r->flags & IOVIRT_REGION_HPA_PAGES) && !r->page_hpa))
		return IOVIRT_EINVAL;
	if (!iovirt_is_aligned(r->gpa | r->length | (uintptr_t)r->hva, IOVIRT_PAGE_SIZE))
		return IOVIRT_EALIGN;
	/* a region may end exactly at 2^64 */
	if (!iovirt_add_ok(r->gpa, r->length - 1, &end))
		return IOVIRT_EOVERFLOW;
	if (r->flags & IOVIRT_REGION_HPA) {
		if (!iovirt_is_aligned(r->hpa, IOVIRT_PAGE_SIZE))
			return IOVIRT_EALIGN;
		if (!iovirt_add_ok(r->hpa, r->length - 1, &end))
			return IOVIRT_EOVERFLOW;
	}
	if (r->flags & IOVIRT_REGION_HPA_PAGES) {
		uint64_t np = r->length >> IOVIRT_PAGE_SHIFT;
		for (uint64_t i = 0; i < np; i++) {
			if (!iovirt_is_aligned(r->page_hpa[i], IOVIRT_PAGE_SIZE))
				return IOVIRT_EALIGN;
			if (!iovirt_add_ok(r->page_hpa[i], IOVIRT_PAGE_SIZE - 1, &end))
				return IOVIRT_EOVERFLOW;
		}
	}
	bool has_host = r->hva || r->flags;
	if (!has_host && (r->kind == IOVIRT_REGION_RAM || r->kind == IOVIRT_REGION_ROM ||
			  r->kind == IOVIRT_REGION_SHARED))
		return IOVIRT_EINVAL;
	return 0;
}

/* A node for desc, with its own copy of the page list (pages may be a prefix). */
static struct iovirt_gmap_region *node_new(struct iovirt_gmap *map, const struct iovirt_region *d)
{
	struct iovirt_gmap_region *r =
		iovirt_host_alloc(map->ops, map->host, sizeof(*r), _Alignof(struct iovirt_gmap_region));
	if (!r)
		return NULL;
	r->link.bytes = sizeof(*r);
	r->link.type = VB_RETIRED_NODE;
	r->desc = *d;
	r->desc.size = sizeof(r->desc);
	r->desc.page_hpa = NULL;
	if (d->flags & IOVIRT_REGION_HPA_PAGES) {
		uint64_t np = d->length >> IOVIRT_PAGE_SHIFT;
		uint64_t bytes;
		if (!iovirt_mul_ok(np, sizeof(uint64_t), &bytes) || bytes > SIZE_MAX)
			goto fail;
		r->pages = iovirt_host_alloc(map->ops, map->host, (size_t)bytes, sizeof(uint64_t));
		if (!r->pages)
			goto fail;
		r->pages_bytes = (size_t)bytes;
		memcpy(r->pages, d->page_hpa, (size_t)bytes);
		r->desc.page_hpa = r->pages;
	}
	return r;
fail:
	iovirt_host_free(map->ops, map->host, r, sizeof(*r));
	return NULL;
}

int iovirt_gmap_add(struct iovirt_gmap *map, const struct iovirt_region *d)
{
	if (!map || !d)
		return IOVIRT_EINVAL;
	int err = region_check(d);
	if (err)
		return err;
	uint64_t last = d->gpa + (d->length - 1);
	struct iovirt_gmap_region *node = NULL;
	for (;;) {
		struct vb_snap *cur = (struct vb_snap *)vb_gmap_snap(map);
		uint32_t at = snap_upper(cur, d->gpa);
		/* neighbours: the one before must end before gpa, the next start after last */
		if ((at > 0 && vb_snap_ents(cur)[at - 1].last >= d->gpa) ||
		    (at < cur->n && vb_snap_ents(cur)[at].gpa <= last)) {
			err = IOVIRT_EOVERLAP;
			break;
		}
		if (cur->n >= map->max_regions) {
			err = IOVIRT_ELIMIT;
			break;
		}
		if (!node && !(node = node_new(map, d))) {
			err = IOVIRT_ENOMEM;
			break;
		}
		struct vb_snap *next = snap_alloc(map, cur->n + 1);
		if (!next) {
			err = IOVIRT_ENOMEM;
			break;
		}
		memcpy(vb_snap_ents(next), vb_snap_ents(cur), at * sizeof(*vb_snap_ents(cur)));
		ent_fill(map, &vb_snap_ents(next)[at], node);
		memcpy(vb_snap_ents(next) + at + 1, vb_snap_ents(cur) + at, (cur->n - at) * sizeof(*vb_snap_ents(cur)));
		snap_seal(next);
		if (publish(map, cur, next))
			return 0;
		snap_free(map, next);
	}
	if (node)
		node_free(map, node);
	return err;
}

/* Index of the entry starting exactly at gpa, or -1. */
static int64_t snap_exact(const struct vb_snap *s, uint64_t gpa)
{
	uint32_t at = snap_upper(s, gpa);
	return at > 0 && vb_snap_ents(s)[at - 1].gpa == gpa ? (int64_t)at - 1 : -1;
}

/* Takes an idle lease's hold back from its owner (IDLE -> REVOKED, then the
 * owner's hold is put); false when no lease is idle. The owner learns it at
 * its next iovirt_gmap_lease_use or _end, and the node's memory waits for
 * that (owners). A remover is inside its grace period, so the reclaim has
 * not passed and counting the owner first cannot free anything. */
static bool node_revoke(struct iovirt_gmap_region *r)
{
	for (uint32_t i = 0; i < IOVIRT_GMAP_LEASES; i++) {
		if (atomic_load_explicit(&r->lease[i], memory_order_relaxed) != VB_LEASE_IDLE)
			continue;
		atomic_fetch_add_explicit(&r->owners, 1, memory_order_relaxed);
		uint32_t idle = VB_LEASE_IDLE;
		if (atomic_compare_exchange_strong_explicit(&r->lease[i], &idle, VB_LEASE_REVOKED,
							    memory_order_acq_rel,
							    memory_order_relaxed)) {
			atomic_fetch_sub_explicit(&r->users, 1, memory_order_release);
			return true;
		}
		atomic_fetch_sub_explicit(&r->owners, 1, memory_order_relaxed);
	}
	return false;
}

/* Marks a region as going away; false when it is held. Holds kept only by
 * idle leases do not stop it: they are revoked first. */
static bool node_kill(struct iovirt_gmap_region *r)
{
	for (;;) {
		uint32_t zero = 0;
		if (atomic_compare_exchange_strong_explicit(&r->users, &zero, VB_NODE_DEAD,
							    memory_order_acq_rel,
							    memory_order_relaxed))
			return true;
		if (!node_revoke(r))
			return false;
	}
}

static void node_revive(struct iovirt_gmap_region *r)
{
	atomic_store_explicit(&r->users, 0, memory_order_release);
}

int iovirt_gmap_remove(struct iovirt_gmap *map, uint64_t gpa)
{
	if (!map)
		return IOVIRT_EINVAL;
	for (;;) {
		struct vb_snap *cur = (struct vb_snap *)vb_gmap_snap(map);
		int64_t at = snap_exact(cur, gpa);
		if (at < 0)
			return IOVIRT_ENOENT;
		struct iovirt_gmap_region *node = vb_snap_ents(cur)[at].node;
		struct vb_snap *next = snap_alloc(map, cur->n - 1);
		if (!next)
			return IOVIRT_ENOMEM;
		if (!node_kill(node)) {
			snap_free(map, next);
			return IOVIRT_EBUSY;
		}
		memcpy(vb_snap_ents(next), vb_snap_ents(cur), (size_t)at * sizeof(*vb_snap_ents(cur)));
		memcpy(vb_snap_ents(next) + at, vb_snap_ents(cur) + at + 1, (cur->n - at - 1) * sizeof(*vb_snap_ents(cur)));
		snap_seal(next);
		if (publish(map, cur, next)) {
			retire(map, &node->link);
			return 0;
		}
		node_revive(node);
		snap_free(map, next);
	}
}

int iovirt_gmap_shrink(struct iovirt_gmap *map, uint64_t gpa, uint64_t new_length)
{
	if (!map)
		return IOVIRT_EINVAL;
	if (!iovirt_is_aligned(new_length, IOVIRT_PAGE_SIZE))
		return IOVIRT_EALIGN;
	for (;;) {
		struct vb_snap *cur = (struct vb_snap *)vb_gmap_snap(map);
		int64_t at = snap_exact(cur, gpa);
		if (at < 0)
			return IOVIRT_ENOENT;
		struct iovirt_gmap_region *old = vb_snap_ents(cur)[at].node;
		if (new_length == 0 || new_length >= old->desc.length)
			return IOVIRT_EINVAL;
		struct iovirt_region d = old->desc;
		d.length = new_length;
		d.page_hpa = old->pages; /* prefix copied by node_new */
		struct iovirt_gmap_region *node = node_new(map, &d);
		if (!node)
			return IOVIRT_ENOMEM;
		struct vb_snap *next = snap_alloc(map, cur->n);
		if (!next) {
			node_free(map, node);
			return IOVIRT_ENOMEM;
		}
		if (!node_kill(old)) {
			snap_free(map, next);
			node_free(map, node);
			return IOVIRT_EBUSY;
		}
		memcpy(vb_snap_ents(next), vb_snap_ents(cur), cur->n * sizeof(*vb_snap_ents(cur)));
		ent_fill(map, &vb_snap_ents(next)[at], node);
		snap_seal(next);
		if (publish(map, cur, next)) {
			retire(map, &old->link);
			return 0;
		}
		node_revive(old);
		snap_free(map, next);
		node_free(map, node);
	}
}

static void region_out(const struct iovirt_gmap_region *r, struct iovirt_region *out)
{
	*out = r->desc;
}

int iovirt_gmap_lookup(const struct iovirt_gmap *map, uint64_t gpa, struct iovirt_region *out)
{
	const struct vb_snap_ent *e = vb_snap_find(vb_gmap_snap(map), gpa);
	if (!e)
		return IOVIRT_ENOREGION;
	if (out)
		region_out(e->node, out);
	return 0;
}

int iovirt_gmap_region_get(struct iovirt_gmap *map, uint64_t gpa, struct iovirt_gmap_region **out)
{
	const struct vb_snap *s = vb_gmap_snap(map);
	for (;;) {
		const struct vb_snap_ent *e = vb_snap_find(s, gpa);
		if (!e)
			return IOVIRT_ENOREGION;
		struct iovirt_gmap_region *r = e->node;
		uint32_t u = atomic_load_explicit(&r->users, memory_order_relaxed);
		while (!(u & VB_NODE_DEAD)) {
			if (u == VB_NODE_DEAD - 1)
				return IOVIRT_ELIMIT;
			if (atomic_compare_exchange_weak_explicit(&r->users, &u, u + 1,
								  memory_order_acquire,
								  memory_order_relaxed)) {
				*out = r;
				return 0;
			}
		}
		/* Dead: removed already (a newer snapshot lacks it) or being removed now. */
		const struct vb_snap *now = vb_gmap_snap(map);
		if (now == s)
			return IOVIRT_EBUSY;
		s = now;
	}
}

void iovirt_gmap_region_put(struct iovirt_gmap *map, struct iovirt_gmap_region *reg)
{
	(void)map;
	atomic_fetch_sub_explicit(&reg->users, 1, memory_order_release);
}

void iovirt_gmap_region_info(const struct iovirt_gmap_region *reg, struct iovirt_region *out)
{
	region_out(reg, out);
}

int64_t iovirt_gmap_in_use(const struct iovirt_gmap *map, uint64_t gpa)
{
	const struct vb_snap_ent *e = vb_snap_find(vb_gmap_snap(map), gpa);
	if (!e)
		return IOVIRT_ENOREGION;
	int64_t n = atomic_load_explicit(&e->node->users, memory_order_relaxed) & ~VB_NODE_DEAD;
	/* an idle lease's hold does not keep the region: not counted */
	for (uint32_t i = 0; i < IOVIRT_GMAP_LEASES; i++)
		if (n && atomic_load_explicit(&e->node->lease[i], memory_order_relaxed) == VB_LEASE_IDLE)
			n--;
	return n;
}

int iovirt_gmap_lease_take(struct iovirt_gmap_region *reg)
{
	for (uint32_t i = 0; i < IOVIRT_GMAP_LEASES; i++) {
		uint32_t none = VB_LEASE_NONE;
		if (atomic_compare_exchange_strong_explicit(&reg->lease[i], &none, VB_LEASE_BUSY,
							    memory_order_relaxed, memory_order_relaxed))
			return (int)i;
	}
	return IOVIRT_EBUSY;
}

void iovirt_gmap_lease_idle(struct iovirt_gmap_region *reg, unsigned lease)
{
	/* a plain store: only the owner moves a lease out of BUSY */
	atomic_store_explicit(&reg->lease[lease], VB_LEASE_IDLE, memory_order_release);
}

/* The owner notices a revocation: the lease is free again, and the node is
 * freed here when the reclaim has passed and no other owner is left. */
static void lease_ack(struct iovirt_gmap *map, struct iovirt_gmap_region *reg, unsigned lease)
{
	atomic_store_explicit(&reg->lease[lease], VB_LEASE_NONE, memory_order_relaxed);
	if (atomic_fetch_sub_explicit(&reg->owners, 1, memory_order_acq_rel) == (VB_RECLAIMED | 1)) {
		node_free(map, reg);
		atomic_fetch_sub_explicit(&map->orphans, 1, memory_order_relaxed);
	}
}

int iovirt_gmap_lease_use(struct iovirt_gmap *map, struct iovirt_gmap_region *reg, unsigned lease)
{
	uint32_t idle = VB_LEASE_IDLE;
	if (IOVIRT_LIKELY(atomic_compare_exchange_strong_explicit(
		    &reg->lease[lease], &idle, VB_LEASE_BUSY, memory_order_acquire,
		    memory_order_acquire)))
		return 0;
	lease_ack(map, reg, lease);
	return IOVIRT_ESTALE;
}

void iovirt_gmap_lease_end(struct iovirt_gmap *map, struct iovirt_gmap_region *reg, unsigned lease)
{
	uint32_t s = atomic_load_explicit(&reg->lease[lease], memory_order_acquire);
	if (s == VB_LEASE_BUSY ||
	    (s == VB_LEASE_IDLE &&
	     atomic_compare_exchange_strong_explicit(&reg->lease[lease], &s, VB_LEASE_BUSY,
						     memory_order_acquire, memory_order_acquire))) {
		atomic_store_explicit(&reg->lease[lease], VB_LEASE_NONE, memory_order_relaxed);
		iovirt_gmap_region_put(map, reg);
		return;
	}
	lease_ack(map, reg, lease);
}
