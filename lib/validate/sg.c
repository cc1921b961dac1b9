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

int iovirt_sg_validate(const struct iovirt_gmap *map, const struct iovirt_sg_policy *pol,
		       const struct iovirt_seg *segs, uint32_t nsegs,
		       struct iovirt_host_seg *out, uint32_t out_cap,
		       struct iovirt_dma_result *res)
{
	struct vb_policy vp;
	struct vb_build f;
	if (!map || (nsegs && (!segs || !out)) || vb_policy_load(pol, &vp))
		return result_einval(res, IOVIRT_EINVAL);
	vb_init(&f, map, &vp, out, out_cap);
	if (nsegs > vp.max_segs) {
		f.nsegs = vp.max_segs;
		f.fail_gpa = segs[vp.max_segs].gpa;
		return vb_finish(&f, IOVIRT_ETOOMANY, IOVIRT_WHERE_LIST, res);
	}
	/* f's address is never passed to a call: the compiler keeps it in
	 * registers. nsegs <= max_segs, as vb_try_fast needs. */
	uint32_t i = 0;
	while (i < nsegs && vb_try_fast(&f, segs[i].gpa, segs[i].len, segs[i].dir))
		i++;
	if (IOVIRT_LIKELY(i == nsegs))
		return vb_finish(&f, (int)f.nout, IOVIRT_WHERE_LIST, res);
	/* the rest (from the first segment the fast path declined) on a copy */
	struct vb_build b = f;
	int err = 0;
	for (; i < nsegs && !err; i++)
		err = vb_add(&b, segs[i].gpa, segs[i].len, segs[i].dir);
	return vb_finish(&b, err ? err : (int)b.nout, IOVIRT_WHERE_LIST, res);
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
