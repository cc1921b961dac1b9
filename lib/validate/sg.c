/* SPDX-License-Identifier: MIT */
/*
 * Segment checks and host scatter-gather building, shared by the generic
 * list, the virtqueue walker and the bounce pool's copy-out.
 */
#include <string.h>

#include "common/wire.h"
#include "validate/internal.h"

static_assert(IOVIRT_SG_WIRE_SIZE == IOVIRT_WIRE_SG_ENTRY_SIZE, "the public size is the wire size");

int vb_check(struct vb_build *b, uint64_t gpa, uint64_t len, uint32_t dir,
	     const struct vb_snap_ent **ep)
{
	uint64_t last;
	b->fail_gpa = gpa;
	if (IOVIRT_UNLIKELY(dir == 0 || (dir & ~(IOVIRT_DEV_READ | IOVIRT_DEV_WRITE))))
		return IOVIRT_EINVAL;
	if (IOVIRT_UNLIKELY(len == 0))
		return IOVIRT_EZEROLEN;
	if (IOVIRT_UNLIKELY((gpa & b->pol.amask) | (len & b->pol.lmask)))
		return IOVIRT_EALIGN;
	if (IOVIRT_UNLIKELY(!iovirt_add_ok(gpa, len - 1, &last)))
		return IOVIRT_EOVERFLOW;
	const struct vb_snap_ent *e = vb_snap_find(b->snap, gpa);
	if (IOVIRT_UNLIKELY(!e))
		return IOVIRT_ENOREGION;
	if (IOVIRT_UNLIKELY(last > e->last)) {
		b->fail_gpa = e->last + 1;
		return vb_snap_find(b->snap, e->last + 1) ? IOVIRT_ECROSS : IOVIRT_ENOREGION;
	}
	if (IOVIRT_UNLIKELY(e->kind != IOVIRT_REGION_RAM)) {
		switch (e->kind) {
		case IOVIRT_REGION_RESERVED:
			return IOVIRT_ERESERVED;
		case IOVIRT_REGION_MMIO:
			if (!(b->pol.flags & IOVIRT_POLICY_ALLOW_MMIO) ||
			    (!e->hva && e->hpa == IOVIRT_HPA_NONE && !e->pages))
				return IOVIRT_EMMIO;
			break;
		case IOVIRT_REGION_SHARED:
			if (!(b->pol.flags & IOVIRT_POLICY_ALLOW_P2P))
				return IOVIRT_EP2P;
			break;
		default:
			break;
		}
	}
	if (IOVIRT_UNLIKELY(e->owner != b->guest && e->kind != IOVIRT_REGION_SHARED))
		return IOVIRT_EFOREIGN;
	if (IOVIRT_UNLIKELY((dir & IOVIRT_DEV_WRITE) &&
			    (e->kind == IOVIRT_REGION_ROM || !(e->access & IOVIRT_DEV_WRITE))))
		return IOVIRT_EREADONLY;
	if (IOVIRT_UNLIKELY((dir & IOVIRT_DEV_READ) && !(e->access & IOVIRT_DEV_READ)))
		return IOVIRT_EPERM;
	*ep = e;
	return 0;
}

/* Appends one host-contiguous piece, merging it into the previous entry when
 * that entry is of the same region and direction and the host memory continues. */
static inline int vb_emit(struct vb_build *b, const struct vb_snap_ent *e, uint64_t gpa,
			  uint64_t hpa, uint64_t len, uint32_t dir)
{
	if (b->nout) {
		struct iovirt_host_seg *p = &b->out[b->nout - 1];
		if (b->last_ent == e && p->dir == dir && p->gpa + p->len == gpa &&
		    (hpa == IOVIRT_HPA_NONE || p->hpa + p->len == hpa)) {
			p->len += len;
			uint32_t x = vb_seg_exposed(p->gpa, p->len);
			b->exposed += (uint64_t)x - p->exposed;
			p->exposed = x;
			return 0;
		}
	}
	if (IOVIRT_UNLIKELY(b->nout == b->cap))
		return IOVIRT_ETOOMANY;
	b->out[b->nout++] = (struct iovirt_host_seg){
		.hva = e->hva ? e->hva + (gpa - e->gpa) : NULL,
		.hpa = hpa,
		.gpa = gpa,
		.len = len,
		.dir = dir,
		.exposed = vb_seg_exposed(gpa, len),
	};
	b->exposed += vb_seg_exposed(gpa, len);
	b->last_ent = e;
	return 0;
}

/* Appends [gpa, gpa + len) of region e (already checked): one entry, or one
 * per run of physically contiguous pages in a region with a page list. */
static int vb_emit_region(struct vb_build *b, const struct vb_snap_ent *e, uint64_t gpa, uint64_t len,
			  uint32_t dir)
{
	uint64_t off = gpa - e->gpa;
	if (IOVIRT_LIKELY(!e->pages))
		return vb_emit(b, e, gpa, e->hpa == IOVIRT_HPA_NONE ? IOVIRT_HPA_NONE : e->hpa + off,
			       len, dir);
	int err = 0;
	uint64_t left = len;
	while (left && !err) {
		uint64_t pg = off >> IOVIRT_PAGE_SHIFT;
		uint64_t in = off & IOVIRT_PAGE_MASK;
		uint64_t hpa = e->pages[pg] + in;
		uint64_t run = IOVIRT_PAGE_SIZE - in;
		while (run < left && e->pages[pg + 1] == e->pages[pg] + IOVIRT_PAGE_SIZE) {
			run += IOVIRT_PAGE_SIZE;
			pg++;
		}
		if (run > left)
			run = left;
		err = vb_emit(b, e, e->gpa + off, hpa, run, dir);
		off += run;
		left -= run;
	}
	return err;
}

int vb_check_pieces(struct vb_build *b, uint64_t gpa, uint64_t len, uint32_t dir,
		    const struct vb_snap_ent **ep)
{
	struct vb_build t = *b;
	const struct vb_snap_ent *e;
	t.pol.amask = t.pol.lmask = 0; /* the whole's, checked already: not the pieces' */
	for (uint64_t g = gpa, left = len, piece; left; g += piece, left -= piece) {
		e = vb_snap_find(t.snap, g);
		piece = e && e->last - g < left ? e->last - g + 1 : left;
		int err = vb_check(&t, g, piece, dir, &e);
		if (err) {
			b->fail_gpa = t.fail_gpa;
			return err;
		}
		if (g == gpa && ep)
			*ep = e;
	}
	return 0;
}

/*
 * A segment running across adjacent regions (vb_check said ECROSS; its own
 * alignment and bounds passed): each piece is checked against its own region
 * (kind, owner, permission) before anything is appended, then each gets its
 * own host entries, since host memory need not continue across regions. A
 * refusal names the piece's first byte.
 */
static int vb_add_span(struct vb_build *b, uint64_t gpa, uint64_t len, uint32_t dir)
{
	const struct vb_snap_ent *e;
	int err = vb_check_pieces(b, gpa, len, dir, NULL);
	if (err)
		return err;
	for (uint64_t g = gpa, left = len, piece; left; g += piece, left -= piece) {
		e = vb_snap_find(b->snap, g);
		piece = e->last - g < left ? e->last - g + 1 : left;
		if ((err = vb_emit_region(b, e, g, piece, dir)))
			return err;
	}
	return 0;
}

int vb_add(struct vb_build *b, uint64_t gpa, uint64_t len, uint32_t dir)
{
	const struct vb_snap_ent *e;
	uint64_t total;
	if (IOVIRT_UNLIKELY(b->nsegs >= b->pol.max_segs)) {
		b->fail_gpa = gpa;
		return IOVIRT_ETOOMANY;
	}
	int err = vb_check(b, gpa, len, dir, &e);
	bool span = err == IOVIRT_ECROSS && !(b->pol.flags & IOVIRT_POLICY_STRICT_REGIONS);
	if (span && !(err = vb_add_span(b, gpa, len, dir)))
		b->fail_gpa = gpa; /* a later refusal of the segment names its start */
	if (IOVIRT_UNLIKELY(err))
		return err;
	if (IOVIRT_UNLIKELY(!iovirt_add_ok(b->total, len, &total) || total > b->pol.max_total))
		return IOVIRT_ETOOBIG;
	if (!span)
		err = vb_emit_region(b, e, gpa, len, dir);
	if (IOVIRT_UNLIKELY(err))
		return err;
	b->total = total;
	if (dir & IOVIRT_DEV_READ)
		b->rbytes += len;
	if (dir & IOVIRT_DEV_WRITE)
		b->wbytes += len;
	b->nsegs++;
	return 0;
}

static int result_einval(struct iovirt_dma_result *res, int err)
{
	if (res)
		*res = (struct iovirt_dma_result){ .err = err };
	return err;
}

/*
 * iovirt_sg_validate runs in three tiers. The entry point checks its
 * arguments and hands over by tail call (every function below but the last
 * has its signature, so each hand-over is a jump and only the tier that runs
 * saves registers): one segment (the commonest list) or a lean loop, each
 * for the default policy (constant limits: their checks fold away) or the
 * caller's. Both accept only what vb_try_fast would (each condition implies
 * that vb_check passes), keeping in locals only the host list's length, the
 * region of its last entry and the total (the one sum a check needs); the
 * byte and exposure sums are taken from out[] at the end, and only when res
 * asks for them. The first segment they decline, and the rest, go through
 * vb_add from scratch, in the documented order, so results and error codes
 * are those of the general loop.
 */
#define SG_ARGS                                                                              \
	const struct iovirt_gmap *map, const struct iovirt_sg_policy *pol,                   \
		const struct iovirt_seg *segs, uint32_t nsegs, struct iovirt_host_seg *out, \
		uint32_t out_cap, struct iovirt_dma_result *res
#define SG_PASS map, pol, segs, nsegs, out, out_cap, res
/* Out of line and whole: a clone specialised for constant arguments would
 * move them (gcc's noclone; clang makes no such clones). */
#ifdef __clang__
#define SG_OUTLINE __attribute__((noinline))
#else
#define SG_OUTLINE __attribute__((noinline, noclone))
#endif

static const struct vb_policy sg_defaults = { IOVIRT_SG_DEFAULT_MAX_SEGS, 0, UINT64_MAX, 0, 0 };

/* The general loop from segment i, after the lean tiers accepted segments
 * 0 .. i - 1 into out[0 .. nout) against snap. */
static __attribute__((noinline)) int sg_rest_at(SG_ARGS, const struct vb_snap *snap, uint32_t i,
						 uint32_t nout, const struct vb_snap_ent *last,
						 uint64_t total)
{
	struct vb_policy vp;
	struct vb_build b;
	vb_policy_load(pol, &vp); /* accepted by the entry point already */
	vb_init(&b, map, &vp, out, out_cap);
	b.snap = snap; /* the snapshot the accepted segments were checked against */
	if (nsegs > vp.max_segs) {
		b.nsegs = vp.max_segs;
		b.fail_gpa = segs[vp.max_segs].gpa;
		return vb_finish(&b, IOVIRT_ETOOMANY, IOVIRT_WHERE_LIST, res);
	}
	b.nout = nout;
	b.nsegs = i;
	b.last_ent = last;
	b.total = total;
	vb_lean_sums(&b);
	int err = 0;
	for (; i < nsegs && !err; i++)
		err = vb_add(&b, segs[i].gpa, segs[i].len, segs[i].dir);
	return vb_finish(&b, err ? err : (int)b.nout, IOVIRT_WHERE_LIST, res);
}

/* The general loop from the first segment. */
static SG_OUTLINE int sg_rest(SG_ARGS)
{
	return sg_rest_at(SG_PASS, vb_gmap_snap(map), 0, 0, NULL, 0);
}

/* The result of an accepted list. */
static __attribute__((noinline)) int sg_res(struct iovirt_host_seg *out, uint32_t nsegs,
					    uint32_t nout, uint64_t total,
					    struct iovirt_dma_result *res)
{
	struct vb_build f = { .out = out, .nout = nout, .nsegs = nsegs, .total = total };
	vb_lean_sums(&f);
	return vb_finish(&f, (int)nout, IOVIRT_WHERE_LIST, res);
}

/* One segment: no merge, no running total. */
static IOVIRT_ALWAYS_INLINE int sg_one(SG_ARGS, const struct vb_policy vp)
{
	uint64_t gpa = segs->gpa, len = segs->len;
	uint32_t dir = segs->dir;
	const struct vb_snap_ent *e = vb_snap_find(vb_gmap_snap(map), gpa);
	/* len - 1 > last - gpa: zero length, a wrap or a byte past the region */
	if (IOVIRT_UNLIKELY(!e || len - 1 > e->last - gpa || !vb_fast_dir(e, dir) ||
			    ((gpa & vp.amask) | (len & vp.lmask)) || len > vp.max_total ||
			    out_cap == 0 || vp.max_segs == 0))
		return sg_rest(SG_PASS);
	vb_lean_put(out, e, gpa, len, dir);
	if (res)
		return sg_res(out, 1, 1, len, res);
	return 1;
}

/* Any number of segments. */
static IOVIRT_ALWAYS_INLINE int sg_lean(SG_ARGS, const struct vb_policy vp)
{
	struct vb_lean l = { vb_gmap_snap(map), out, out + out_cap, NULL, 0 };
	const struct iovirt_seg *sp = segs, *send = segs + nsegs;
	if (IOVIRT_UNLIKELY(nsegs > vp.max_segs))
		goto rest;
	for (; sp != send; sp++)
		if (IOVIRT_UNLIKELY(!vb_lean_add(&l, &vp, sp->gpa, sp->len, sp->dir)))
			goto rest;
	if (res)
		return sg_res(out, nsegs, (uint32_t)(l.o - out), l.total, res);
	return (int)(l.o - out);
rest:
	return sg_rest_at(SG_PASS, l.snap, (uint32_t)(sp - segs), (uint32_t)(l.o - out), l.last,
			  l.total);
}

/* (pol: NULL or a policy of flags only, see sg_flags_only; the lean tiers'
 * decisions do not depend on flags, the general loop's do) */
static SG_OUTLINE int sg_lean_default(SG_ARGS)
{
	return sg_lean(SG_PASS, sg_defaults);
}

/*
 * One segment under the default policy, the leanest: a bucket of one
 * candidate (every bucket of evenly spread regions but one where a region
 * starts) inline, and no limit but the region's. Whatever it declines (a
 * bucket of several candidates too) goes to the lean loop, which decides it
 * again from scratch; so it needs few registers and no search loop.
 */
static IOVIRT_ALWAYS_INLINE int sg_one_lean(SG_ARGS)
{
	const struct vb_snap *snap = vb_gmap_snap(map);
	uint64_t gpa = segs->gpa;
	uint64_t off = gpa - snap->lo; /* wraps (and so is refused) below lo */
	if (IOVIRT_UNLIKELY(off > snap->span))
		goto lean;
	struct vb_snap_bkt k = snap->bkt[off >> snap->shift];
	if (IOVIRT_UNLIKELY(k.count != 1))
		goto lean;
	const struct vb_snap_ent *e = vb_snap_ents(snap) + k.first;
	uint64_t len = segs->len, end;
	uint32_t dir = segs->dir;
	/* end = gpa + len - 1 without a wrap, and within e: gpa is in e, and
	 * len is not 0 (then gpa + 2^64 - 1 wraps, or gpa is 0 and end is past
	 * any region) */
	if (IOVIRT_UNLIKELY(__builtin_add_overflow(gpa, len - 1, &end) || end > e->last ||
			    !vb_fast_dir(e, dir) || out_cap == 0))
		goto lean;
	vb_lean_put(out, e, gpa, len, dir);
	if (res)
		return sg_res(out, 1, 1, len, res);
	return 1;
lean:
	(void)nsegs;
	return sg_lean_default(map, pol, segs, 1, out, out_cap, res);
}

/* Instances: pol NULL (a constant: no register kept for it) or flags only. */
static SG_OUTLINE int sg_one_default(SG_ARGS)
{
	(void)pol;
	return sg_one_lean(map, NULL, segs, nsegs, out, out_cap, res);
}

static SG_OUTLINE int sg_one_flags(SG_ARGS)
{
	return sg_one_lean(SG_PASS);
}

static SG_OUTLINE int sg_with_policy(SG_ARGS)
{
	struct vb_policy vp;
	if (vb_policy_load(pol, &vp))
		return result_einval(res, IOVIRT_EINVAL);
	if (nsegs == 1)
		return sg_one(SG_PASS, vp);
	return sg_lean(SG_PASS, vp);
}

/*
 * A valid policy that sets flags only (lib/pin's: STRICT_REGIONS): its limits
 * are the defaults, and the flags change nothing the lean tiers accept (RAM
 * of the map's guest within one region: never MMIO, SHARED or a span), so the
 * default tiers serve it; what they decline goes to the general loop with it.
 */
static inline bool sg_flags_only(const struct iovirt_sg_policy *pol)
{
	return IOVIRT_PARAMS_HAS(pol, len_align) &&
	       !(pol->flags & ~(IOVIRT_POLICY_ALLOW_MMIO | IOVIRT_POLICY_ALLOW_P2P |
				IOVIRT_POLICY_STRICT_REGIONS)) &&
	       !(pol->max_segs | pol->max_total | pol->addr_align | pol->len_align);
}

int iovirt_sg_validate(const struct iovirt_gmap *map, const struct iovirt_sg_policy *pol,
		       const struct iovirt_seg *segs, uint32_t nsegs,
		       struct iovirt_host_seg *out, uint32_t out_cap,
		       struct iovirt_dma_result *res)
{
	if (IOVIRT_UNLIKELY(!map || (nsegs && (!segs || !out))))
		return result_einval(res, IOVIRT_EINVAL);
	if (pol && !sg_flags_only(pol))
		return sg_with_policy(SG_PASS);
	if (nsegs == 1)
		return pol ? sg_one_flags(SG_PASS) : sg_one_default(SG_PASS);
	return sg_lean_default(SG_PASS);
}

#define SG_CHUNK 32 /* entries read per guest_read: 512 bytes of stack */

int iovirt_sg_validate_guest(const struct iovirt_gmap *map,
			     const struct iovirt_host_ops *ops, void *host,
			     const struct iovirt_sg_policy *pol, uint64_t list_gpa,
			     uint32_t nsegs, struct iovirt_host_seg *out, uint32_t out_cap,
			     struct iovirt_dma_result *res)
{
	struct vb_policy vp;
	struct vb_build b;
	uint64_t bytes = 0;
	if (!map || !ops || (nsegs && !out) || vb_policy_load(pol, &vp))
		return result_einval(res, IOVIRT_EINVAL);
	if (!IOVIRT_HOST_HAS(ops, guest_read))
		return result_einval(res, IOVIRT_ENOSYS);
	vb_init(&b, map, &vp, out, out_cap);
	if (nsegs > vp.max_segs) {
		/* bounded before reading anything */
		b.nsegs = vp.max_segs;
		b.fail_gpa = list_gpa;
		return vb_finish(&b, IOVIRT_ETOOMANY, IOVIRT_WHERE_LIST, res);
	}
	if (nsegs && !iovirt_wire_sg_list_fits(list_gpa, nsegs, &bytes)) {
		b.fail_gpa = list_gpa;
		return vb_finish(&b, IOVIRT_EOVERFLOW, IOVIRT_WHERE_LIST, res);
	}
	/* the list's own bytes first: nothing is read from memory the device could
	 * not read, nor from device registers (a read can have side effects) */
	int err = nsegs ? vb_check_placement(&b, list_gpa, bytes) : 0;
	if (err)
		return vb_finish(&b, err, IOVIRT_WHERE_LIST, res);
	uint8_t snap[SG_CHUNK * IOVIRT_SG_WIRE_SIZE];
	for (uint32_t i = 0; i < nsegs && !err;) {
		uint32_t n = nsegs - i < SG_CHUNK ? nsegs - i : SG_CHUNK;
		uint64_t at = list_gpa + (uint64_t)i * IOVIRT_SG_WIRE_SIZE;
		if (ops->guest_read(host, map->guest, at, snap, (size_t)n * IOVIRT_SG_WIRE_SIZE)) {
			b.fail_gpa = at;
			err = IOVIRT_EGUEST;
			break;
		}
		/* from here on only the snapshot counts */
		for (uint32_t k = 0; k < n && !err; k++) {
			struct iovirt_wire_sg_entry w =
				iovirt_wire_sg_entry_decode(snap + k * IOVIRT_SG_WIRE_SIZE);
			if (w.zero) {
				b.fail_gpa = w.gpa;
				err = IOVIRT_EINVAL;
				break;
			}
			err = vb_add_fast(&b, w.gpa, w.len, w.dir);
		}
		i += n;
	}
	return vb_finish(&b, err ? err : (int)b.nout, IOVIRT_WHERE_LIST, res);
}
