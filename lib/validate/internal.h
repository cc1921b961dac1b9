/* SPDX-License-Identifier: MIT */
/* lib/validate internals: map snapshots, the shared segment checker. */
#ifndef IOVIRT_VALIDATE_INTERNAL_H
#define IOVIRT_VALIDATE_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/checked.h"
#include "iovirt/validate.h"
#include "validate/held.h" /* vb_seg_exposed */

/* Shared between this module's files only: hidden, so calls skip the PLT. */
#define VB_HIDDEN __attribute__((visibility("hidden")))

/* Objects waiting for iovirt_gmap_reclaim; the link lives in the object so
 * that retiring, which follows a commit, never allocates. */
enum { VB_RETIRED_SNAP = 1, VB_RETIRED_NODE = 2 };
struct vb_retired {
	struct vb_retired *next;
	size_t bytes;
	uint32_t type;
};

/* In-use count of a region; the top bit marks a region being or having been
 * removed, so that a get and a remove cannot both win. */
#define VB_NODE_DEAD (UINT32_C(1) << 31)

/*
 * A region's leases (iovirt_gmap_lease_*): up to IOVIRT_GMAP_LEASES holders
 * may each keep one hold while idle, and a remover or shrinker may take an
 * idle one back (IDLE -> REVOKED, then the hold is put for the owner). A
 * revoked lease's owner still points at the node, so the node's memory waits
 * for every such owner to notice (iovirt_gmap_lease_use/end) and for the
 * reclaim: `owners` counts the revoked leases not yet noticed, plus
 * VB_RECLAIMED once the reclaim has passed; whoever leaves it at exactly
 * VB_RECLAIMED frees the node.
 */
enum {
	VB_LEASE_NONE = 0,
	VB_LEASE_BUSY = 1,    /* the owner uses its hold: not revocable */
	VB_LEASE_IDLE = 2,    /* the owner keeps its hold unused: revocable */
	VB_LEASE_REVOKED = 3, /* taken back; the owner still points at the node */
};
#define VB_RECLAIMED (UINT32_C(1) << 31)

/* One region, allocated at add and immutable but for its in-use count and
 * its leases. */
struct iovirt_gmap_region {
	struct vb_retired link;
	_Atomic uint32_t users;
	_Atomic uint32_t owners;                     /* revoked, unnoticed; | VB_RECLAIMED */
	_Atomic uint32_t lease[IOVIRT_GMAP_LEASES]; /* VB_LEASE_* */
	struct iovirt_region desc; /* page_hpa points to pages below */
	uint64_t *pages;           /* own copy of page_hpa, or NULL */
	size_t pages_bytes;
};

/* A snapshot entry: the fields a check reads, in one 64-byte cache line
 * (entries are 64-byte aligned); the region's cold description is in node. */
struct vb_snap_ent {
	uint64_t gpa, last; /* inclusive last byte: a region may end at 2^64 */
	uint8_t *hva;
	uint64_t hpa;          /* IOVIRT_HPA_NONE unless IOVIRT_REGION_HPA */
	const uint64_t *pages; /* IOVIRT_REGION_HPA_PAGES */
	struct iovirt_gmap_region *node;
	uint32_t kind, access, owner;
	/* Directions the inline fast paths may accept without the full check,
	 * as a set of direction values (bit d: dir == d is accepted, see
	 * vb_fast_dir): those within the region's access bits when it is RAM of
	 * the map's own guest with one contiguous host range (no page list);
	 * none otherwise. A subset of what vb_check accepts under any policy. */
	uint32_t fast;
};
_Static_assert(sizeof(struct vb_snap_ent) == 64, "one snapshot entry per cache line");

/* The candidates of one bucket: entries first .. first + count - 1. */
struct vb_snap_bkt {
	uint32_t first, count;
};

/*
 * An immutable sorted array of regions. base[] and bkt[] alone are searched.
 * bkt[] is a bucket index over [lo, lo + span]: bucket k covers
 * lo + [k << shift, (k + 1) << shift), and names the entries that hold a byte
 * of it. For evenly spread regions (the usual guest map) that is one region,
 * sometimes two, so a lookup costs the same for 1 and 1,000 regions; for
 * clustered ones it is a binary search of the cluster, never worse than
 * O(log n).
 */
struct vb_snap {
	_Alignas(64) struct vb_retired link; /* first: a retired pointer is the snapshot */
	uint32_t n, shift;
	uint64_t lo, span;    /* base[0] and ent[n - 1].last - base[0] */
	struct vb_snap_bkt *bkt; /* (span >> shift) + 1 buckets */
	uint64_t *base;
	/* then the entries, right after this one-line header: 64-byte aligned */
};
_Static_assert(sizeof(struct vb_snap) == 64, "the snapshot header is one cache line");

static inline struct vb_snap_ent *vb_snap_ents(const struct vb_snap *s)
{
	return (struct vb_snap_ent *)(s + 1);
}

/* Entries allocated for n regions: an empty snapshot has one sentinel entry
 * that no address falls in (lo = 1, span = 0, last = 0), so that a lookup
 * needs no test of n. */
static inline uint32_t vb_snap_slots(uint32_t n)
{
	return n ? n : 1;
}

struct iovirt_gmap {
	const struct iovirt_host_ops *ops;
	void *host;
	uint32_t guest;
	uint32_t max_regions;
	_Atomic(struct vb_snap *) cur;
	_Atomic(struct vb_retired *) retired;
	_Atomic uint64_t generation;
	_Atomic uint64_t nretired, retired_bytes;
	_Atomic uint64_t orphans; /* reclaimed regions left to their lease owners */
};

/* The binary search of a bucket's candidates first .. first + n - 1 (n > 1)
 * for the last entry starting at or before gpa, with no branch on the data
 * in the loop. */
static inline uint32_t vb_snap_search(const struct vb_snap *s, uint32_t first, uint32_t n,
				      uint64_t gpa)
{
	const uint64_t *b = s->base;
	while (n > 1) {
		uint32_t half = n / 2;
		first = b[first + half] <= gpa ? first + half : first;
		n -= half;
	}
	return first;
}

/* Finds the entry containing gpa: bucket, then a search of the bucket's few
 * candidates. */
static inline const struct vb_snap_ent *vb_snap_find(const struct vb_snap *s, uint64_t gpa)
{
	uint64_t off = gpa - s->lo; /* wraps (and so is refused) below lo */
	if (IOVIRT_UNLIKELY(off > s->span))
		return NULL;
	struct vb_snap_bkt k = s->bkt[off >> s->shift];
	const struct vb_snap_ent *e = vb_snap_ents(s) + vb_snap_search(s, k.first, k.count, gpa);
	return gpa <= e->last ? e : NULL;
}

static inline const struct vb_snap *vb_gmap_snap(const struct iovirt_gmap *map)
{
	return atomic_load_explicit(&((struct iovirt_gmap *)map)->cur, memory_order_acquire);
}

/* The fast set of a region of access bits acc (see vb_snap_ent.fast). */
static inline uint32_t vb_fast_set(uint32_t acc)
{
	uint32_t set = 0;
	for (uint32_t d = 1; d <= (IOVIRT_DEV_READ | IOVIRT_DEV_WRITE); d++)
		set |= (d & ~acc) ? 0 : UINT32_C(1) << d;
	return set;
}

/* A region's fast set in snapshot entries and vb_held (held.h): the
 * directions within its access bits when it is RAM of the map's own guest
 * with one contiguous host range (no page list); none otherwise. */
static inline uint32_t vb_fast_of(const struct iovirt_gmap *map, const struct iovirt_region *d)
{
	bool fast = d->kind == IOVIRT_REGION_RAM && d->owner == map->guest &&
		    !(d->flags & IOVIRT_REGION_HPA_PAGES);
	return fast ? vb_fast_set(d->access) : 0;
}

/* Whether dir is in e's fast set: a non-zero direction within the access bits
 * (dir < 4 first: a shift by 32 or more is undefined). */
static inline bool vb_fast_dir(const struct vb_snap_ent *e, uint32_t dir)
{
	return dir <= (IOVIRT_DEV_READ | IOVIRT_DEV_WRITE) && ((e->fast >> dir) & 1);
}

/* A policy in the form the checks use. */
struct vb_policy {
	uint32_t max_segs;
	uint32_t flags;
	uint64_t max_total; /* UINT64_MAX: no limit */
	uint64_t amask, lmask;
};

/* Loads pol (NULL: defaults); 0 or IOVIRT_EINVAL. */
static inline int vb_policy_load(const struct iovirt_sg_policy *pol, struct vb_policy *out)
{
	*out = (struct vb_policy){ IOVIRT_SG_DEFAULT_MAX_SEGS, 0, UINT64_MAX, 0, 0 };
	if (!pol)
		return 0;
	if (!IOVIRT_PARAMS_HAS(pol, len_align) /* version 1 */ ||
	    (pol->flags & ~(IOVIRT_POLICY_ALLOW_MMIO | IOVIRT_POLICY_ALLOW_P2P |
			    IOVIRT_POLICY_STRICT_REGIONS)) ||
	    (pol->addr_align & (pol->addr_align - 1)) || (pol->len_align & (pol->len_align - 1)))
		return IOVIRT_EINVAL;
	if (pol->max_segs)
		out->max_segs = pol->max_segs;
	out->flags = pol->flags;
	if (pol->max_total)
		out->max_total = pol->max_total;
	out->amask = pol->addr_align ? pol->addr_align - 1 : 0;
	out->lmask = pol->len_align ? pol->len_align - 1 : 0;
	return 0;
}

/*
 * Builds a host list from segments, one at a time.
 *
 * Callers keep their vbuild a local whose address no out-of-line call takes
 * (vb_init, vb_add_fast and vb_finish are inline; vb_check and vb_add are
 * called through the vb_*_copy wrappers): the compiler can then hold it in
 * registers, and stores into out[] need not reload it.
 */
struct vb_build {
	const struct vb_snap *snap;
	struct vb_policy pol;
	uint32_t guest;
	struct iovirt_host_seg *out;
	uint32_t cap, nout, nsegs;
	const struct vb_snap_ent *last_ent; /* region of out[nout - 1]; NULL while nout == 0 */
	uint64_t total, rbytes, wbytes;  /* total <= pol.max_total */
	uint64_t exposed;                /* sum of out[0 .. nout).exposed */
	uint64_t fail_gpa;
};

/* The host entry for [gpa, gpa + len) at offset off into snapshot entry e
 * (hva/hpa only where the region has them). */
static inline struct iovirt_host_seg vb_host_seg(const struct vb_snap_ent *e, uint64_t off, uint64_t gpa,
						 uint64_t len, uint32_t dir, uint32_t exposed)
{
	return (struct iovirt_host_seg){
		.hva = e->hva ? e->hva + off : NULL,
		.hpa = e->hpa == IOVIRT_HPA_NONE ? IOVIRT_HPA_NONE : e->hpa + off,
		.gpa = gpa,
		.len = len,
		.dir = dir,
		.exposed = exposed,
	};
}

static inline void vb_init(struct vb_build *b, const struct iovirt_gmap *map,
			   const struct vb_policy *pol, struct iovirt_host_seg *out, uint32_t cap)
{
	*b = (struct vb_build){
		.snap = vb_gmap_snap(map), /* one snapshot for the whole descriptor */
		.pol = *pol,
		.guest = map->guest,
		.out = out,
		.cap = cap,
	};
}

/* Checks one segment against the snapshot; 0 and *ep, or the refusal (fail_gpa set). */
VB_HIDDEN int vb_check(struct vb_build *b, uint64_t gpa, uint64_t len, uint32_t dir,
		       const struct vb_snap_ent **ep);
/* Checks each piece of [gpa, gpa + len) (its own alignment and bounds
 * checked already) against the region holding it: 0 and (ep not NULL) *ep the
 * first piece's region, or the first piece's refusal with b->fail_gpa naming
 * that piece. Nothing else of *b changes. */
VB_HIDDEN int vb_check_pieces(struct vb_build *b, uint64_t gpa, uint64_t len, uint32_t dir,
			      const struct vb_snap_ent **ep);
/* Checks a segment and appends it to the host list. */
VB_HIDDEN int vb_add(struct vb_build *b, uint64_t gpa, uint64_t len, uint32_t dir);

/* The same on a copy of *b (see struct vb_build). */
static inline int vb_check_copy(struct vb_build *b, uint64_t gpa, uint64_t len, uint32_t dir,
				const struct vb_snap_ent **ep)
{
	struct vb_build t = *b;
	int err = vb_check(&t, gpa, len, dir, ep);
	*b = t;
	return err;
}

static inline int vb_add_copy(struct vb_build *b, uint64_t gpa, uint64_t len, uint32_t dir)
{
	struct vb_build t = *b;
	int err = vb_add(&t, gpa, len, dir);
	*b = t;
	return err;
}

/*
 * Checks the placement of a structure the library itself reads from guest
 * memory on the device's behalf (an indirect table, a guest segment list):
 * [gpa, gpa + len) inside one region the device may read, of the map's guest
 * (SHARED as the policy allows), never MMIO, whatever the policy says (reading
 * device registers can have side effects), never RESERVED. The buffers'
 * alignment and limits are not the structure's: they do not apply. 0 or the
 * refusal, with b->fail_gpa set; nothing else of *b changes.
 */
static inline int vb_check_placement(struct vb_build *b, uint64_t gpa, uint64_t len)
{
	struct vb_build t = *b;
	const struct vb_snap_ent *e;
	t.pol.amask = t.pol.lmask = 0;
	t.pol.flags &= ~IOVIRT_POLICY_ALLOW_MMIO;
	int err = vb_check(&t, gpa, len, IOVIRT_DEV_READ, &e);
	b->fail_gpa = t.fail_gpa;
	return err;
}

/*
 * vb_check_placement for a structure the queue reads piece by piece (an
 * indirect table): one running across adjacent regions is accepted when each
 * piece passes in its own region, unless the policy is
 * IOVIRT_POLICY_STRICT_REGIONS (IOVIRT_ECROSS). 0 and *ep (the region of the
 * first byte), or the refusal with b->fail_gpa naming the piece.
 */
static inline int vb_check_placement_span(struct vb_build *b, uint64_t gpa, uint64_t len,
					  const struct vb_snap_ent **ep)
{
	struct vb_build t = *b;
	t.pol.amask = t.pol.lmask = 0;
	t.pol.flags &= ~IOVIRT_POLICY_ALLOW_MMIO;
	int err = vb_check(&t, gpa, len, IOVIRT_DEV_READ, ep);
	if (IOVIRT_UNLIKELY(err == IOVIRT_ECROSS) && !(t.pol.flags & IOVIRT_POLICY_STRICT_REGIONS) &&
	    !(err = vb_check_pieces(&t, gpa, len, IOVIRT_DEV_READ, ep)))
		t.fail_gpa = gpa; /* as after a check in one piece */
	b->fail_gpa = t.fail_gpa;
	return err;
}

/* Fills res on success or refusal; returns ret. (Each entry's exposure was
 * set as it was written, see vb_emit: no second pass over out[].) */
static inline int vb_finish(const struct vb_build *b, int ret, uint32_t where,
			    struct iovirt_dma_result *res)
{
	if (res) {
		*res = (struct iovirt_dma_result){
			.err = ret < 0 ? ret : 0,
			.seg = b->nsegs,
			.gpa = ret < 0 ? b->fail_gpa : 0,
			.where = ret < 0 ? where : IOVIRT_WHERE_NONE,
			.nsegs = b->nsegs,
			.nout = ret < 0 ? 0 : b->nout,
			.total = b->total,
			.read_bytes = b->rbytes,
			.write_bytes = b->wbytes,
			.exposed = ret < 0 ? 0 : b->exposed,
		};
	}
	return ret;
}

/*
 * vb_add for the common case, inlined into the callers' loops: a segment
 * wholly inside one region whose fast mask allows its direction (RAM of the
 * map's guest, one contiguous host range, the permission given), within the
 * total limit and the policy's alignment. Each condition implies
 * that the matching check of vb_check passes (a RAM region is never MMIO,
 * SHARED or RESERVED, so the policy's ALLOW flags do not matter), so the
 * result is exactly vb_add's. false, with nothing changed, for anything else
 * and for an append to a full host list: the caller then calls vb_add, which
 * checks from scratch, in the documented order. The caller has made sure that
 * b->nsegs < b->pol.max_segs (vb_add's first check).
 */
static inline bool vb_try_fast(struct vb_build *b, uint64_t gpa, uint64_t len, uint32_t dir)
{
	const struct vb_snap_ent *e = vb_snap_find(b->snap, gpa);
	if (IOVIRT_UNLIKELY(!e))
		return false;
	/* 0 < len <= room: no zero length, no wrap, no byte past the region
	 * (room is never 0: a region is shorter than 2^64) */
	uint64_t room = e->last - gpa + 1;
	if (IOVIRT_UNLIKELY(len - 1 >= room || !vb_fast_dir(e, dir) ||
			    ((gpa & b->pol.amask) | (len & b->pol.lmask)) ||
			    len > b->pol.max_total - b->total))
		return false;
	uint64_t off = gpa - e->gpa;
	/* last_ent is set only with an entry: out[nout - 1] exists. Same region
	 * and continuing guest addresses: the host range (one contiguous range in
	 * such a region) continues too. */
	struct iovirt_host_seg *p = b->last_ent == e ? &b->out[b->nout - 1] : NULL;
	if (p && p->dir == dir && p->gpa + p->len == gpa) {
		p->len += len;
		uint32_t x = vb_seg_exposed(p->gpa, p->len);
		b->exposed += (uint64_t)x - p->exposed;
		p->exposed = x;
	} else {
		if (IOVIRT_UNLIKELY(b->nout == b->cap))
			return false;
		uint32_t x = vb_seg_exposed(gpa, len);
		b->out[b->nout++] = vb_host_seg(e, off, gpa, len, dir, x);
		b->exposed += x;
		b->last_ent = e;
	}
	b->total += len;
	b->rbytes += (dir & IOVIRT_DEV_READ) ? len : 0;
	b->wbytes += (dir & IOVIRT_DEV_WRITE) ? len : 0;
	b->nsegs++;
	return true;
}

/*
 * A lean path (iovirt_sg_validate's tiers): a host list built on locals only,
 * the caller's, whose addresses never reach an out-of-line call (so they
 * live in registers): the next entry and the end of out[], the region of the
 * last entry, the total. The byte and exposure sums are taken from out[] when
 * needed (vb_lean_sums). vb_lean_add accepts what vb_try_fast does, and
 * returns false with nothing changed for anything else: the caller then
 * hands its state to the general path (vb_lean_build), which decides that
 * segment from scratch. (A chain walk on it was tried: with guest_read
 * calls in the loop the compiler spills the state, and it cost more.)
 */
struct vb_lean {
	const struct vb_snap *snap;
	struct iovirt_host_seg *o, *oend;
	const struct vb_snap_ent *last; /* region of o[-1]; NULL while o is out[0] */
	uint64_t total;
};

/* Writes the host entry of [gpa, gpa + len) in region e (a fast one). */
static inline void vb_lean_put(struct iovirt_host_seg *o, const struct vb_snap_ent *e,
			       uint64_t gpa, uint64_t len, uint32_t dir)
{
	uint64_t off = gpa - e->gpa;
	*o = (struct iovirt_host_seg){
		.hva = e->hva ? e->hva + off : NULL,
		.hpa = e->hpa == IOVIRT_HPA_NONE ? IOVIRT_HPA_NONE : e->hpa + off,
		.gpa = gpa,
		.len = len,
		.dir = dir,
		.exposed = vb_seg_exposed(gpa, len),
	};
}

static IOVIRT_ALWAYS_INLINE bool
vb_lean_add(struct vb_lean *l, const struct vb_policy *vp, uint64_t gpa, uint64_t len, uint32_t dir)
{
	const struct vb_snap_ent *e = vb_snap_find(l->snap, gpa);
	/* len - 1 > last - gpa: zero length, a wrap or a byte past the region */
	if (IOVIRT_UNLIKELY(!e || len - 1 > e->last - gpa || !vb_fast_dir(e, dir) ||
			    ((gpa & vp->amask) | (len & vp->lmask)) || len > vp->max_total - l->total))
		return false;
	/* same region and continuing guest addresses: the host range (one
	 * contiguous range in such a region) continues too */
	struct iovirt_host_seg *p = l->last == e ? l->o - 1 : NULL;
	if (p && p->dir == dir && p->gpa + p->len == gpa) {
		p->len += len;
		p->exposed = vb_seg_exposed(p->gpa, p->len);
	} else {
		if (IOVIRT_UNLIKELY(l->o == l->oend))
			return false;
		vb_lean_put(l->o++, e, gpa, len, dir);
		l->last = e;
	}
	l->total += len;
	return true;
}

/* The byte and exposure sums of b->out[0 .. b->nout), added to b's. */
static inline void vb_lean_sums(struct vb_build *b)
{
	for (uint32_t k = 0; k < b->nout; k++) {
		const struct iovirt_host_seg *o = &b->out[k];
		b->rbytes += (o->dir & IOVIRT_DEV_READ) ? o->len : 0;
		b->wbytes += (o->dir & IOVIRT_DEV_WRITE) ? o->len : 0;
		b->exposed += o->exposed;
	}
}

/* A builder holding what a lean path accepted: nsegs segments into
 * out[0 .. l->o) against l->snap. */
static inline void vb_lean_build(struct vb_build *b, const struct iovirt_gmap *map,
				 const struct vb_policy *vp, struct iovirt_host_seg *out,
				 uint32_t cap, const struct vb_lean *l, uint32_t nsegs)
{
	vb_init(b, map, vp, out, cap);
	b->snap = l->snap;
	b->nout = (uint32_t)(l->o - out);
	b->nsegs = nsegs;
	b->last_ent = l->last;
	b->total = l->total;
	vb_lean_sums(b);
}

/* vb_add: the fast path inline, the rest out of line. */
static inline int vb_add_fast(struct vb_build *b, uint64_t gpa, uint64_t len, uint32_t dir)
{
	if (IOVIRT_LIKELY(b->nsegs < b->pol.max_segs && vb_try_fast(b, gpa, len, dir)))
		return 0;
	return vb_add_copy(b, gpa, len, dir);
}

#endif
