/* SPDX-License-Identifier: MIT */
/*
 * virtio 1.1+ packed virtqueues, device side, behind the same entry points as
 * split rings (virtq.c and vq_event.c hand over here when the queue was made
 * with IOVIRT_VQ_F_PACKED).
 *
 * Cursors: last_avail and used_idx hold ring position | wrap counter << 15
 * (the encoding vhost-user uses for a packed queue's base). A descriptor is
 * available when its AVAIL bit equals the driver's wrap counter and its USED
 * bit does not. Each descriptor's flags are read once, first; the rest of it
 * (addr, len, id) once, after the acquire fence that follows the head's flags.
 */
#include <string.h>

#include "common/wire_packed.h"
#include "validate/vq_internal.h"

#define PDESC IOVIRT_WIRE_PVQ_DESC_SIZE
#define WRAP_BIT 0x8000u
#define F_AVAIL IOVIRT_VIRTQ_DESC_F_AVAIL
#define F_USED IOVIRT_VIRTQ_DESC_F_USED

static uint16_t pos_of(uint16_t c)
{
	return c & (WRAP_BIT - 1);
}

static bool wrap_of(uint16_t c)
{
	return c & WRAP_BIT;
}

/* The cursor k positions on (k <= num), flipping the wrap counter at the end. */
static uint16_t advance(const struct iovirt_vq *vq, uint16_t c, uint32_t k)
{
	uint32_t pos = pos_of(c) + k;
	uint16_t w = c & WRAP_BIT;
	if (pos >= vq->num) {
		pos -= vq->num;
		w ^= WRAP_BIT;
	}
	return (uint16_t)(pos | w);
}

static bool is_avail(uint16_t flags, bool wrap)
{
	return !!(flags & F_AVAIL) == wrap && !!(flags & F_USED) != wrap;
}

static int flags_load(const struct iovirt_vq *vq, uint32_t pos, uint16_t *f)
{
	return vq_ring_ld16(vq, vq->desc_hva, vq->desc_gpa,
			    (uint64_t)pos * PDESC + offsetof(struct iovirt_wire_pvq_desc, flags), f);
}

/* addr, len and id of ring slot pos, each read once (flags given). */
static int body_load(const struct iovirt_vq *vq, uint32_t pos, uint16_t flags,
		     struct iovirt_wire_pvq_desc *d)
{
	uint64_t off = (uint64_t)pos * PDESC;
	if (vq->desc_hva) {
		const uint8_t *p = vq->desc_hva + off;
		*d = (struct iovirt_wire_pvq_desc){
			.addr = vq_ld64(p + offsetof(struct iovirt_wire_pvq_desc, addr)),
			.len = vq_ld32(p + offsetof(struct iovirt_wire_pvq_desc, len)),
			.id = vq_ld16(p + offsetof(struct iovirt_wire_pvq_desc, id)),
			.flags = flags,
		};
		return 0;
	}
	uint8_t raw[IOVIRT_WIRE_PVQ_BODY_SIZE];
	if (vq->ops->guest_read(vq->host, vq->guest, vq->desc_gpa + off, raw, sizeof(raw)))
		return IOVIRT_EGUEST;
	*d = iovirt_wire_pvq_body_decode(raw, flags);
	return 0;
}

/*
 * The order of the buffer IDs taken (in-order completion): fifo_head and
 * fifo_tail run over [0, 2 num), a counter's slot is the counter mod num and
 * tail - head mod 2 num the IDs in order (at most num: full and empty differ).
 * (Free-running 32-bit counters would jump at 2^32 where num is no power of
 * two, and an ID in flight would be overwritten.) Only IN_ORDER queues
 * keep it (the others never read it).
 */
static uint32_t fifo_slot(const struct iovirt_vq *vq, uint32_t x)
{
	return x < vq->num ? x : x - vq->num;
}

/* Counter x moved on by k (k <= num). */
static uint32_t fifo_step(const struct iovirt_vq *vq, uint32_t x, uint32_t k)
{
	x += k;
	return x >= 2 * vq->num ? x - 2 * vq->num : x;
}

static uint32_t fifo_len(const struct iovirt_vq *vq)
{
	uint32_t h = vq->fifo_head, t = vq->fifo_tail;
	return t >= h ? t - h : t + 2 * vq->num - h;
}

/* Appends id to the order. */
static void fifo_put(struct iovirt_vq *vq, uint16_t id)
{
	vq->fifo[fifo_slot(vq, vq->fifo_tail)] = id;
	vq->fifo_tail = fifo_step(vq, vq->fifo_tail, 1);
}

/* The k-th oldest ID in order (k < fifo_len). */
static uint16_t fifo_at(const struct iovirt_vq *vq, uint32_t k)
{
	return vq->fifo[fifo_slot(vq, fifo_step(vq, vq->fifo_head, k))];
}

void vqp_reset(struct iovirt_vq *vq)
{
	memset(vq->id_descs, 0, (size_t)vq->num * sizeof(*vq->id_descs));
	vq->fifo_head = vq->fifo_tail = vq->inflight_descs = 0;
}

int vqp_avail(struct iovirt_vq *vq)
{
	uint16_t f;
	if (flags_load(vq, pos_of(vq->last_avail), &f))
		return IOVIRT_EGUEST;
	return is_avail(f, wrap_of(vq->last_avail));
}

struct pwalk {
	struct vb_build b;
	uint32_t where, desc;
	bool seen_write;
};

/* One buffer: the rules of split rings (readable before writable). */
static int pbuf(struct iovirt_vq *vq, struct pwalk *w, uint64_t addr, uint32_t len, uint16_t flags)
{
	uint32_t dir = IOVIRT_DEV_READ;
	if (flags & IOVIRT_VIRTQ_DESC_F_WRITE) {
		dir = IOVIRT_DEV_WRITE;
		w->seen_write = true;
	} else if (w->seen_write) {
		w->b.fail_gpa = addr;
		return IOVIRT_EORDER;
	}
	return vq_buf_add(vq, &w->b, addr, len, dir);
}

/* An indirect table: a sequence of len / 16 descriptors (NEXT is not used
 * inside one, virtio: the table is read in order to its end). */
static int pindirect(struct iovirt_vq *vq, struct pwalk *w, const struct iovirt_wire_pvq_desc *d,
		     uint32_t count)
{
	w->b.fail_gpa = d->addr;
	if (!(vq->flags & IOVIRT_VQ_F_INDIRECT) || (d->flags & IOVIRT_VIRTQ_DESC_F_NEXT) ||
	    d->len == 0 || d->len % PDESC || d->len / PDESC > vq->max_ind)
		return IOVIRT_EINDIRECT;
	uint64_t addr = d->addr;
	const struct vb_snap_ent *e;
	int err = vq->iommu ? vq_iova_range(vq, addr, d->len, IOVIRT_DEV_READ, &addr) : 0;
	if (err || (err = vb_check_placement_span(&w->b, addr, d->len, &e)) ||
	    (err = vq_table_read(vq, &w->b, e, addr, d->len)))
		return err;
	w->where = IOVIRT_WHERE_INDIRECT;
	for (uint32_t j = 0, n = d->len / PDESC; j < n; j++) {
		w->desc = j;
		if (++count > vq->num)
			return IOVIRT_ECHAIN;
		struct iovirt_wire_pvq_desc t = iovirt_wire_pvq_desc_decode(vq->table + (size_t)j * PDESC);
		if (t.flags & IOVIRT_VIRTQ_DESC_F_INDIRECT) {
			w->b.fail_gpa = t.addr;
			return IOVIRT_ENESTED;
		}
		if ((err = pbuf(vq, w, t.addr, t.len, t.flags)))
			return err;
	}
	return 0;
}

/* The chain at the cursor: its buffer ID and its ring descriptors. */
struct pchain {
	uint16_t id;
	uint32_t ndesc;
};

/* Where a chain walk stands: descriptor k of the chain, at ring position pos
 * of the lap whose wrap counter is wrap; of it nothing was read yet
 * (PK_NONE), its flags (PK_FLAGS: d.flags) or its flags and body (PK_BODY:
 * d). PK_END: the chain was walked to its end (k descriptors, the last at
 * pos, its ID d.id). */
enum { PK_NONE, PK_FLAGS, PK_BODY, PK_END };
struct pat {
	struct iovirt_wire_pvq_desc d;
	uint32_t k, pos;
	bool wrap;
	int have;
};

/*
 * Follows the chain from at (descriptor 0 is the head, read and available):
 * each further descriptor must be available under the same lap's wrap
 * counter (IOVIRT_EWRAP), the chain no longer than the ring (IOVIRT_ECHAIN).
 * With check, the buffers are checked too (into w->b). A buffer refused ends
 * the checks, not the walk: it goes on for the chain's shape only (w as at
 * the refusal), so that a refused chain of sound shape still names its
 * buffer ID, from the walk's own reads (each descriptor read once). Returns
 * 0 or the first refusal; *c the chain (c->id 0 when its shape is not sound).
 */
static int pchain_from(struct iovirt_vq *vq, struct pwalk *w, bool check, struct pat at,
		       struct pchain *c)
{
	int err, refused = 0;
	for (;;) {
		if (check) {
			w->desc = at.pos;
			w->b.fail_gpa = vq->desc_gpa + (uint64_t)at.pos * PDESC;
		}
		if (at.have < PK_FLAGS) {
			if (at.k == vq->num) {
				err = IOVIRT_ECHAIN;
				break;
			}
			if ((err = flags_load(vq, at.pos, &at.d.flags)))
				break;
		}
		if (at.have < PK_BODY) {
			if (at.k && !is_avail(at.d.flags, at.wrap)) {
				err = IOVIRT_EWRAP;
				break;
			}
			if ((err = body_load(vq, at.pos, at.d.flags, &at.d)))
				break;
		}
		at.have = PK_NONE;
		if (at.d.flags & IOVIRT_VIRTQ_DESC_F_INDIRECT) {
			if (check && (err = pindirect(vq, w, &at.d, at.k))) {
				refused = err;
				check = false;
			}
			if (at.d.flags & IOVIRT_VIRTQ_DESC_F_NEXT) {
				err = IOVIRT_EINDIRECT;
				break;
			}
		} else if (check && (err = pbuf(vq, w, at.d.addr, at.d.len, at.d.flags))) {
			refused = err;
			check = false;
		}
		if (!(at.d.flags & IOVIRT_VIRTQ_DESC_F_NEXT)) {
			*c = (struct pchain){ .id = at.d.id, .ndesc = at.k + 1 };
			return refused;
		}
		at.k++;
		if (++at.pos == vq->num) {
			at.pos = 0;
			at.wrap = !at.wrap;
		}
	}
	*c = (struct pchain){ 0 };
	return refused ? refused : err;
}

/* The chain at the cursor, whose head's flags f were read. */
static struct pat pchain_head(const struct iovirt_vq *vq, uint16_t f)
{
	return (struct pat){ .d.flags = f, .pos = pos_of(vq->last_avail),
			     .wrap = wrap_of(vq->last_avail), .have = PK_FLAGS };
}

/* The chain's ID may be taken: < num, not in flight, and its descriptors
 * within the ring beside those in flight. */
static int pchain_take_check(const struct iovirt_vq *vq, const struct pchain *c)
{
	if (c->id >= vq->num)
		return IOVIRT_EINDEX;
	if (vq->id_descs[c->id])
		return IOVIRT_EDUP;
	if (vq->inflight_descs + c->ndesc > vq->num)
		return IOVIRT_EOVERRUN;
	return 0;
}

static void pchain_take(struct iovirt_vq *vq, const struct pchain *c)
{
	vq->id_descs[c->id] = (uint16_t)c->ndesc;
	vq->inflight_descs += c->ndesc;
	if (vq->flags & IOVIRT_VQ_F_IN_ORDER)
		fifo_put(vq, c->id);
	vq->last_avail = advance(vq, vq->last_avail, c->ndesc);
}

/* The head's flags: 1 available (acquire fence done), 0 not, or the error. */
static int head_flags(struct iovirt_vq *vq, uint16_t *f)
{
	if (flags_load(vq, pos_of(vq->last_avail), f))
		return IOVIRT_EGUEST;
	if (!is_avail(*f, wrap_of(vq->last_avail)))
		return 0;
	/* virtio's read barrier: the rest of the chain is read after the flags
	 * that published it */
	atomic_thread_fence(memory_order_acquire);
	return 1;
}

/*
 * A pop's end once its walk returned err (chain c): the ID's checks, the
 * result (a refused chain names its ID when its shape is sound), and on
 * success the chain taken.
 */
static IOVIRT_ALWAYS_INLINE int ppop_end(struct iovirt_vq *vq, struct pwalk *w, int err, const struct pchain *c,
		    struct iovirt_dma_result *res)
{
	if (!err && (err = pchain_take_check(vq, c)))
		w->where = IOVIRT_WHERE_RING;
	int ret = vb_finish(&w->b, err ? err : (int)w->b.nout, w->where, res);
	if (res) {
		res->head = c->id;
		res->desc = err ? w->desc : 0;
	}
	if (!err)
		pchain_take(vq, c);
	return ret;
}

/* The general walk's builder for a pop under policy vp. */
static void pwalk_init(struct pwalk *w, const struct iovirt_gmap *map, const struct vb_policy *vp,
		       struct iovirt_host_seg *out, uint32_t cap)
{
	vb_init(&w->b, map, vp, out, cap);
	/* the specification bounds a chain's bytes by 2^32 */
	if (w->b.pol.max_total > UINT32_MAX)
		w->b.pol.max_total = UINT32_MAX;
	w->where = IOVIRT_WHERE_TABLE;
	w->desc = 0;
	w->seen_write = false;
}

/* ---- the direct pop ---- */

/* Where the direct walk stopped: its locals, handed to the general walk. */
struct pstop {
	struct vb_lean l;
	struct pat at;
	bool seen_write;
};

/*
 * The general walk goes on from where the direct walk stopped (st.at: the
 * descriptor and how much of it was read; the k descriptors before it are
 * st.l's segments), deciding that descriptor from scratch, or (PK_END) only
 * the chain's ID: the general pop's refusal, result and cursor. Out of line
 * and by value, so that the direct walk's locals never need an address.
 */
static __attribute__((noinline, cold)) int
ppop_direct_stop(struct iovirt_vq *vq, const struct iovirt_gmap *map, const struct vb_policy *vp,
		struct iovirt_host_seg *out, uint32_t cap, struct pstop st,
		struct iovirt_dma_result *res)
{
	struct pwalk w;
	vb_lean_build(&w.b, map, vp, out, cap, &st.l, st.at.k);
	if (w.b.pol.max_total > UINT32_MAX) /* as pwalk_init */
		w.b.pol.max_total = UINT32_MAX;
	w.where = IOVIRT_WHERE_TABLE;
	w.desc = st.at.pos;
	w.b.fail_gpa = vq->desc_gpa + (uint64_t)st.at.pos * PDESC;
	w.seen_write = st.seen_write;
	struct pchain c = { .id = st.at.d.id, .ndesc = st.at.k };
	int err = st.at.have == PK_END ? 0 : pchain_from(vq, &w, true, st.at, &c);
	return ppop_end(vq, &w, err, &c, res);
}

/*
 * pop of a packed queue whose descriptor ring is read directly, without
 * IOMMU: the general pop's steps in its order, on locals. The head's flags,
 * then the acquire fence, as head_flags; each descriptor's fields loaded
 * once; the chain's table descriptors taken as segments (vq_direct_seg), each
 * further one available under the lap's wrap counter; then the ID's checks.
 * At anything else (an indirect descriptor, a readable one after a writable
 * one, max_segs, a buffer not taken so, a descriptor not available, a chain
 * as long as the ring, an ID refused) the state goes to ppop_direct_stop,
 * which decides from there with the general walk's own steps. Bounded: at
 * most num descriptors (k == num stops). A segment has a length above 0, so
 * a writable one was seen exactly when wbytes > 0, and the readable bytes are
 * the total less wbytes.
 */
static IOVIRT_ALWAYS_INLINE int
ppop_direct_t(struct iovirt_vq *vq, const struct iovirt_gmap *map, const struct vb_policy *vp,
	     struct iovirt_host_seg *out, uint32_t cap, struct iovirt_dma_result *res,
	     const bool plain)
{
	const uint32_t num = vq->num;
	uint8_t *const ring = vq->desc_hva;
	uint32_t pos = pos_of(vq->last_avail);
	bool wrap = wrap_of(vq->last_avail);
	const uint8_t *p = ring + (size_t)pos * PDESC;
	struct iovirt_wire_pvq_desc d;
	d.flags = vq_ld16(p + offsetof(struct iovirt_wire_pvq_desc, flags));
	if (!is_avail(d.flags, wrap)) {
		if (res)
			*res = (struct iovirt_dma_result){ 0 };
		return 0;
	}
	/* virtio's read barrier, as head_flags */
	atomic_thread_fence(memory_order_acquire);
	const struct vb_snap *snap = vb_gmap_snap(map);
	/* the region of o[-1] once o > out; before, the lookup hint only */
	const struct vb_snap_ent *prev = hint_of(vq, snap);
	struct iovirt_host_seg *o = out;
	uint64_t left = vp->max_total > UINT32_MAX ? UINT32_MAX : vp->max_total;
	const uint64_t max_total = left;
	uint64_t wbytes = 0, exposed = 0;
	uint32_t k = 0;
	int have = PK_BODY;
	d.addr = vq_ld64(p + offsetof(struct iovirt_wire_pvq_desc, addr));
	d.len = vq_ld32(p + offsetof(struct iovirt_wire_pvq_desc, len));
	d.id = vq_ld16(p + offsetof(struct iovirt_wire_pvq_desc, id));
	if (IOVIRT_UNLIKELY((d.flags & IOVIRT_VIRTQ_DESC_F_INDIRECT) ||
			    !vq_direct_seg(snap, vp, d.addr, d.len, d.flags & IOVIRT_VIRTQ_DESC_F_WRITE,
					   &prev, &o, out, cap, &left, &wbytes, &exposed, plain,
					   true)))
		goto stop;
	for (k = 1; d.flags & IOVIRT_VIRTQ_DESC_F_NEXT; k++) {
		if (++pos == num) {
			pos = 0;
			wrap = !wrap;
			p = ring;
		} else {
			p += PDESC;
		}
		have = PK_NONE;
		if (IOVIRT_UNLIKELY(k == num))
			goto stop;
		d.flags = vq_ld16(p + offsetof(struct iovirt_wire_pvq_desc, flags));
		have = PK_FLAGS;
		if (IOVIRT_UNLIKELY(!is_avail(d.flags, wrap)))
			goto stop;
		d.addr = vq_ld64(p + offsetof(struct iovirt_wire_pvq_desc, addr));
		d.len = vq_ld32(p + offsetof(struct iovirt_wire_pvq_desc, len));
		d.id = vq_ld16(p + offsetof(struct iovirt_wire_pvq_desc, id));
		have = PK_BODY;
		bool wr = d.flags & IOVIRT_VIRTQ_DESC_F_WRITE;
		if (IOVIRT_UNLIKELY((d.flags & IOVIRT_VIRTQ_DESC_F_INDIRECT) || (wbytes && !wr) ||
				    k >= vp->max_segs ||
				    !vq_direct_seg(snap, vp, d.addr, d.len, wr, &prev, &o, out, cap,
						   &left, &wbytes, &exposed, plain, false)))
			goto stop;
	}
	/* the chain's ID (the last descriptor's), as pchain_take_check */
	have = PK_END;
	if (IOVIRT_UNLIKELY(d.id >= num || vq->id_descs[d.id] || vq->inflight_descs + k > num))
		goto stop;
	vq->ent_hint = (uint32_t)(prev - vb_snap_ents(snap)); /* the region of o[-1] */
	uint32_t nout = (uint32_t)(o - out);
	if (res) {
		uint64_t total = max_total - left;
		*res = (struct iovirt_dma_result){
			.seg = k, .nsegs = k, .nout = nout, .total = total,
			.read_bytes = total - wbytes, .write_bytes = wbytes, .exposed = exposed,
			.head = d.id,
		};
	}
	/* taken, as pchain_take: the cursor past the chain's last descriptor */
	vq->id_descs[d.id] = (uint16_t)k;
	vq->inflight_descs += k;
	if (vq->flags & IOVIRT_VQ_F_IN_ORDER)
		fifo_put(vq, d.id);
	if (++pos == num) {
		pos = 0;
		wrap = !wrap;
	}
	vq->last_avail = (uint16_t)(pos | (wrap ? WRAP_BIT : 0));
	return (int)nout;
stop:
	return ppop_direct_stop(vq, map, vp, out, cap,
			       (struct pstop){ .l = { snap, o, out + cap, o != out ? prev : NULL,
						      max_total - left },
					       .at = { .d = d, .k = k, .pos = pos, .wrap = wrap,
						       .have = have },
					       .seen_write = wbytes != 0 },
			       res);
}

/* The direct pop: its argument and policy checks, then the walk for the
 * policy's two shapes (alignment asked or not), the policy on a local. */
static __attribute__((noinline)) int
ppop_direct(struct iovirt_vq *vq, const struct iovirt_gmap *map, const struct iovirt_sg_policy *pol,
	    struct iovirt_host_seg *out, uint32_t cap, struct iovirt_dma_result *res)
{
	struct vb_policy vp;
	if (IOVIRT_UNLIKELY(!map || !out || vb_policy_load(pol, &vp)))
		return vq_ring_refuse(IOVIRT_EINVAL, res);
	if (!(vp.amask | vp.lmask))
		return ppop_direct_t(vq, map, &vp, out, cap, res, true);
	return ppop_direct_t(vq, map, &vp, out, cap, res, false);
}

/* The pop of any other packed queue (vp checked). */
static __attribute__((noinline)) int
ppop_general(struct iovirt_vq *vq, const struct iovirt_gmap *map, const struct vb_policy *vp,
	     struct iovirt_host_seg *out, uint32_t cap, struct iovirt_dma_result *res)
{
	uint16_t f;
	int can = head_flags(vq, &f);
	if (can <= 0) {
		if (res)
			*res = (struct iovirt_dma_result){ .err = can, .where = can ? IOVIRT_WHERE_RING : 0 };
		return can;
	}
	struct pwalk w;
	pwalk_init(&w, map, vp, out, cap);
	struct pchain c;
	int err = pchain_from(vq, &w, true, pchain_head(vq, f), &c);
	return ppop_end(vq, &w, err, &c, res);
}

static __attribute__((noinline)) int
ppop_general_pol(struct iovirt_vq *vq, const struct iovirt_gmap *map,
		 const struct iovirt_sg_policy *pol, struct iovirt_host_seg *out, uint32_t cap,
		 struct iovirt_dma_result *res)
{
	struct vb_policy vp;
	if (!map || !out || vb_policy_load(pol, &vp))
		return vq_ring_refuse(IOVIRT_EINVAL, res);
	return ppop_general(vq, map, &vp, out, cap, res);
}

int vqp_pop_any(struct iovirt_vq *vq, const struct iovirt_gmap *map,
		const struct iovirt_sg_policy *pol, struct iovirt_host_seg *out, uint32_t cap,
		struct iovirt_dma_result *res)
{
	/* behind an IOMMU every buffer address is translated: the general walk */
	if (IOVIRT_LIKELY(vq->desc_hva && !vq->iommu))
		return ppop_direct(vq, map, pol, out, cap, res);
	return ppop_general_pol(vq, map, pol, out, cap, res);
}

int vqp_pop(struct iovirt_vq *vq, const struct iovirt_gmap *map, const struct vb_policy *vp,
	    struct iovirt_host_seg *out, uint32_t cap, struct iovirt_dma_result *res)
{
	/* (iovirt_vq_pop hands packed queues to vqp_pop_any) */
	return ppop_general(vq, map, vp, out, cap, res);
}

int vqp_skip(struct iovirt_vq *vq)
{
	uint16_t f;
	int can = head_flags(vq, &f);
	if (can <= 0)
		return can ? can : IOVIRT_ENOENT;
	struct pchain c;
	struct pwalk none = { .where = IOVIRT_WHERE_TABLE };
	int err = pchain_from(vq, &none, false, pchain_head(vq, f), &c);
	if (!err)
		err = pchain_take_check(vq, &c);
	if (err)
		return err;
	pchain_take(vq, &c);
	return c.id;
}

/* ---- completions ---- */

/*
 * Writes the used descriptor at cursor cur: id and len, and (publish) a
 * release fence and then flags, whose AVAIL and USED bits equal the wrap
 * counter: the flags make the element the driver's, so they go last.
 */
static int used_store(struct iovirt_vq *vq, uint16_t cur, uint16_t id, uint32_t len, bool publish)
{
	uint64_t off = (uint64_t)pos_of(cur) * PDESC;
	uint16_t flags = (wrap_of(cur) ? F_AVAIL | F_USED : 0) |
			 (len ? IOVIRT_VIRTQ_DESC_F_WRITE : 0); /* len is valid with WRITE */
	if (vq->desc_hva) {
		uint8_t *p = vq->desc_hva + off;
		vq_st32(p + offsetof(struct iovirt_wire_pvq_desc, len), len);
		vq_st16(p + offsetof(struct iovirt_wire_pvq_desc, id), id);
	} else {
		uint8_t b[6];
		iovirt_le32_store(b, len);
		iovirt_le16_store(b + 4, id);
		if (vq->ops->guest_write(vq->host, vq->guest,
					 vq->desc_gpa + off + offsetof(struct iovirt_wire_pvq_desc, len), b,
					 sizeof(b)))
			return IOVIRT_EGUEST;
	}
	if (!publish)
		return 0;
	atomic_thread_fence(memory_order_release);
	return vq_ring_st16(vq, vq->desc_hva, vq->desc_gpa,
			    off + offsetof(struct iovirt_wire_pvq_desc, flags), flags);
}

static int used_flags_store(struct iovirt_vq *vq, uint16_t cur, uint32_t len)
{
	uint16_t flags = (wrap_of(cur) ? F_AVAIL | F_USED : 0) | (len ? IOVIRT_VIRTQ_DESC_F_WRITE : 0);
	atomic_thread_fence(memory_order_release);
	return vq_ring_st16(vq, vq->desc_hva, vq->desc_gpa,
			    (uint64_t)pos_of(cur) * PDESC + offsetof(struct iovirt_wire_pvq_desc, flags),
			    flags);
}

/* Checks completions of e[0..n) (ids in flight, distinct; with IN_ORDER the
 * oldest in order): 0 or the refusal. */
static int push_check(struct iovirt_vq *vq, const struct iovirt_vq_used *e, uint32_t n)
{
	if (++vq->gen == 0) { /* the stamps of split walks, here per buffer ID */
		memset(vq->stamp, 0, (size_t)vq->num * sizeof(*vq->stamp));
		vq->gen = 1;
	}
	for (uint32_t k = 0; k < n; k++) {
		uint32_t id = e[k].id;
		if (id >= vq->num)
			return IOVIRT_EINDEX;
		/* in flight, not twice in the batch, in order when IN_ORDER */
		if (!vq->id_descs[id] || vq->stamp[id] == vq->gen ||
		    ((vq->flags & IOVIRT_VQ_F_IN_ORDER) &&
		     fifo_at(vq, k) != id))
			return IOVIRT_ENOENT;
		vq->stamp[id] = vq->gen;
	}
	return 0;
}

/* Frees one buffer ID; its descriptors leave the ring. */
static uint32_t id_free(struct iovirt_vq *vq, uint16_t id)
{
	uint32_t n = vq->id_descs[id];
	vq->id_descs[id] = 0;
	vq->inflight_descs -= n;
	if (vq->flags & IOVIRT_VQ_F_IN_ORDER)
		vq->fifo_head = fifo_step(vq, vq->fifo_head, 1);
	return n;
}

/*
 * One completion on a descriptor ring read directly: vqp_push's checks and
 * stores for n = 1 inline (a batch of one cannot name an ID twice, so the
 * per-batch stamps are not needed): id and len, a release fence, the flags.
 */
static __attribute__((noinline)) int push_one_direct(struct iovirt_vq *vq, uint32_t id, uint32_t len)
{
	if (id >= vq->num)
		return IOVIRT_EINDEX;
	uint32_t n = vq->id_descs[id];
	if (!n || ((vq->flags & IOVIRT_VQ_F_IN_ORDER) && fifo_at(vq, 0) != id))
		return IOVIRT_ENOENT;
	uint16_t cur = vq->used_idx;
	uint8_t *p = vq->desc_hva + (size_t)pos_of(cur) * PDESC;
	vq_st32(p + offsetof(struct iovirt_wire_pvq_desc, len), len);
	vq_st16(p + offsetof(struct iovirt_wire_pvq_desc, id), (uint16_t)id);
	/* the flags make the element the driver's: last, after a release fence */
	atomic_thread_fence(memory_order_release);
	vq_st16(p + offsetof(struct iovirt_wire_pvq_desc, flags),
		(uint16_t)((wrap_of(cur) ? F_AVAIL | F_USED : 0) |
			   (len ? IOVIRT_VIRTQ_DESC_F_WRITE : 0)));
	vq->used_idx = advance(vq, cur, n);
	id_free(vq, (uint16_t)id);
	return 0;
}

/* push of a batch, or of one through the callbacks. */
static __attribute__((noinline)) int push_batch(struct iovirt_vq *vq, const struct iovirt_vq_used *e,
						uint32_t n)
{
	int err = push_check(vq, e, n);
	if (err || n == 0)
		return err;
	/* elements 1.. first, whole; the first one's flags last, after a release
	 * fence: the driver, reading from the first, sees the batch at once */
	uint16_t cur = vq->used_idx, c = cur;
	for (uint32_t k = 0; k < n; k++) {
		if ((err = used_store(vq, c, (uint16_t)e[k].id, e[k].len, k > 0)))
			return err;
		c = advance(vq, c, vq->id_descs[e[k].id]);
	}
	if ((err = used_flags_store(vq, cur, e[0].len)))
		return err;
	for (uint32_t k = 0; k < n; k++)
		id_free(vq, (uint16_t)e[k].id);
	vq->used_idx = c;
	return 0;
}

int vqp_push_one(struct iovirt_vq *vq, uint32_t id, uint32_t len)
{
	if (IOVIRT_LIKELY(vq->desc_hva != NULL))
		return push_one_direct(vq, id, len);
	return push_batch(vq, &(struct iovirt_vq_used){ id, len }, 1);
}

int vqp_push(struct iovirt_vq *vq, const struct iovirt_vq_used *e, uint32_t n)
{
	if (n == 1 && vq->desc_hva)
		return push_one_direct(vq, e[0].id, e[0].len);
	return push_batch(vq, e, n);
}

int vqp_push_in_order(struct iovirt_vq *vq, uint32_t id, uint32_t len, uint32_t count)
{
	if (id >= vq->num)
		return IOVIRT_EINDEX;
	if (count == 0 || count > fifo_len(vq) || fifo_at(vq, count - 1) != id)
		return IOVIRT_ENOENT;
	uint32_t descs = 0;
	for (uint32_t k = 0; k < count; k++)
		descs += vq->id_descs[fifo_at(vq, k)];
	/* virtio (in-order, packed): one used descriptor for the batch, naming
	 * its last buffer, at the first position; the ring skips the batch */
	int err = used_store(vq, vq->used_idx, (uint16_t)id, len, true);
	if (err)
		return err;
	for (uint32_t k = 0; k < count; k++)
		id_free(vq, fifo_at(vq, 0));
	vq->used_idx = advance(vq, vq->used_idx, descs);
	return 0;
}

/* ---- event suppression ---- */

static int event_store(struct iovirt_vq *vq, uint16_t off_wrap, uint16_t flags, bool with_off)
{
	if (with_off && vq_ring_st16(vq, vq->used_hva, vq->used_gpa,
				     offsetof(struct iovirt_wire_pvq_event, off_wrap), off_wrap))
		return IOVIRT_EGUEST;
	return vq_ring_st16(vq, vq->used_hva, vq->used_gpa,
			    offsetof(struct iovirt_wire_pvq_event, flags), flags);
}

int vqp_notify(struct iovirt_vq *vq, bool enable)
{
	bool ev = vq->flags & IOVIRT_VQ_F_EVENT_IDX;
	if (!enable)
		return event_store(vq, 0, IOVIRT_RING_EVENT_FLAGS_DISABLE, false);
	/* with the event index: kick when the descriptor at our cursor (offset
	 * and wrap counter, the cursor's own encoding) becomes available */
	int err = event_store(vq, vq->last_avail,
			      ev ? IOVIRT_RING_EVENT_FLAGS_DESC : IOVIRT_RING_EVENT_FLAGS_ENABLE, ev);
	if (err)
		return err;
	atomic_thread_fence(memory_order_seq_cst);
	return vqp_avail(vq);
}

/* The driver's event structure, read once (one 4-byte access). */
static int driver_event_load(struct iovirt_vq *vq, struct iovirt_wire_pvq_event *ev)
{
	uint8_t b[IOVIRT_WIRE_PVQ_EVENT_SIZE];
	if (vq->avail_hva) {
		uint32_t v = vq_ld32(vq->avail_hva);
		iovirt_le32_store(b, v);
	} else if (vq->ops->guest_read(vq->host, vq->guest, vq->avail_gpa, b, sizeof(b))) {
		return IOVIRT_EGUEST;
	}
	*ev = iovirt_wire_pvq_event_decode(b);
	return 0;
}

/*
 * RING_EVENT_FLAGS_DESC: signal when the used cursor moved from old to cur
 * across the driver's (offset, wrap). Positions of the previous lap are
 * shifted down by num, so the spec's 16-bit rule applies (moves < one lap).
 */
static bool packed_need_event(const struct iovirt_vq *vq, uint16_t off_wrap, uint16_t cur,
			      uint16_t old)
{
	uint16_t n = pos_of(cur), o = pos_of(old), off = pos_of(off_wrap);
	if (wrap_of(old) != wrap_of(cur))
		o = (uint16_t)(o - vq->num);
	if (wrap_of(off_wrap) != wrap_of(cur))
		off = (uint16_t)(off - vq->num);
	return iovirt_vring_need_event(off, n, o);
}

int vqp_need_signal(struct iovirt_vq *vq)
{
	struct iovirt_wire_pvq_event ev;
	atomic_thread_fence(memory_order_seq_cst);
	if (driver_event_load(vq, &ev))
		return IOVIRT_EGUEST;
	uint16_t old = vq->signalled_used, cur = vq->used_idx;
	bool valid = vq->signalled_valid;
	vq->signalled_used = cur;
	vq->signalled_valid = true;
	switch (ev.flags) {
	case IOVIRT_RING_EVENT_FLAGS_DISABLE:
		return 0;
	case IOVIRT_RING_EVENT_FLAGS_DESC:
		if (vq->flags & IOVIRT_VQ_F_EVENT_IDX)
			return !valid || (cur != old && packed_need_event(vq, ev.off_wrap, cur, old));
		return 1;
	default: /* ENABLE, and a reserved value: never lose an interrupt */
		return 1;
	}
}
