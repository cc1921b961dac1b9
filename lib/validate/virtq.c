/* SPDX-License-Identifier: MIT */
/*
 * virtio 1.x split virtqueues, device side: chain walking with the checks the
 * specification asks of a device, on private snapshots of the guest's bytes.
 *
 * The wire layouts and their decoders are in common/wire.h.
 */
#include <string.h>

#include "validate/vq_internal.h"

#define DESC_SIZE IOVIRT_WIRE_VQ_DESC_SIZE


enum { RING_DESC, RING_AVAIL, RING_USED, NRINGS };
static_assert(NRINGS == VQ_NRINGS, "one hold list per ring");

static uint32_t ring_dir(uint32_t flags, int k);

/* Drops the holds of ring k. */
static void ring_put(struct iovirt_gmap *map, struct vq_holds *h, int k)
{
	while (h->n[k])
		iovirt_gmap_region_put(map, h->r[k][--h->n[k]]);
}

/* Drops every hold. */
static void rings_put(struct iovirt_gmap *map, struct vq_holds *h)
{
	for (int k = NRINGS; k--;)
		ring_put(map, h, k);
}

/*
 * Holds ring k's regions piece by piece, each piece checked against a
 * snapshot loaded after its region's hold: a held region cannot be removed
 * or shrunk, so that snapshot still has it, and the check and the hold are
 * of one region. A ring running across adjacent regions is accepted when
 * each piece passes in its own region (kind, owner, permission), unless the
 * policy is IOVIRT_POLICY_STRICT_REGIONS (then the ring is one piece, and
 * running out of its region IOVIRT_ECROSS, as before); more than
 * VQ_RING_REGIONS pieces is IOVIRT_ETOOMANY. On failure ring k holds nothing.
 */
static int ring_hold(struct iovirt_gmap *map, const struct vb_policy *vp, uint64_t gpa,
		     uint64_t len, uint32_t dir, struct vq_holds *h, int k)
{
	bool strict = vp->flags & IOVIRT_POLICY_STRICT_REGIONS;
	int err = 0;
	h->n[k] = 0;
	for (uint64_t g = gpa, left = len, piece = 0; left && !err; g += piece, left -= piece) {
		struct iovirt_gmap_region *r;
		if (h->n[k] == VQ_RING_REGIONS) {
			err = IOVIRT_ETOOMANY;
			break;
		}
		if ((err = iovirt_gmap_region_get(map, g, &r)))
			break;
		h->r[k][h->n[k]++] = r;
		struct vb_build b;
		vb_init(&b, map, vp, NULL, 0);
		/* cut at the region's end, the first piece only when another region
		 * follows (else the whole ring's check names the gap, as a segment's) */
		const struct vb_snap_ent *e = vb_snap_find(b.snap, g);
		bool cut = !strict && e && e->last - g < left &&
			   (h->n[k] > 1 || vb_snap_find(b.snap, e->last + 1));
		piece = cut ? e->last - g + 1 : left;
		err = vb_check(&b, g, piece, dir, &e);
		/* another region at the same place: the map changed between the two */
		if (!err && e->node != r)
			err = IOVIRT_EBUSY;
	}
	if (err)
		ring_put(map, h, k);
	return err;
}

/* Holds and checks the three rings in order. All or nothing: on failure no
 * hold is left. */
static int rings_hold(const struct iovirt_vq_params *p, const struct vb_policy *vp,
		      struct vq_holds *h)
{
	const uint64_t gpa[NRINGS] = { p->desc_gpa, p->avail_gpa, p->used_gpa };
	*h = (struct vq_holds){ 0 };
	for (int k = 0; k < NRINGS; k++) {
		/* a packed ring is written too (used descriptors go back into it) */
		int err = ring_hold(p->map, vp, gpa[k], vq_ring_bytes(p->flags, p->num, k),
				    ring_dir(p->flags, k), h, k);
		if (err) {
			rings_put(p->map, h);
			return err;
		}
	}
	return 0;
}

/* create's checks of p, in the order the header gives the errors; *map is
 * the map to check the rings against (NULL: none), *vp the policy for it. */
static int vq_params_check(const struct iovirt_host_ops *ops, const struct iovirt_vq_params *p,
			   struct iovirt_gmap **map, struct vb_policy *vp)
{
	uint64_t end;
	/* version 1: every field through used_gpa; map and pol appended */
	if (!IOVIRT_PARAMS_HAS(p, used_gpa))
		return IOVIRT_EINVAL;
	/* an older caller's struct ends before map and pol: no map */
	*map = IOVIRT_PARAMS_HAS(p, pol) ? p->map : NULL;
	bool packed = p->flags & IOVIRT_VQ_F_PACKED;
	/* a packed ring may have any size (virtio); a split one a power of two */
	if (p->num == 0 || p->num > IOVIRT_VQ_MAX_SIZE || (!packed && (p->num & (p->num - 1))) ||
	    p->max_indirect > IOVIRT_VQ_MAX_SIZE || (p->flags & ~IOVIRT_VQ_F_ALL) ||
	    ((p->flags & IOVIRT_VQ_F_DIRECT) && !*map))
		return IOVIRT_EINVAL;
	if ((p->flags & IOVIRT_VQ_F_ACCESS_PLATFORM) &&
	    (!IOVIRT_PARAMS_HAS(p, asid) || !p->iommu || p->reserved))
		return IOVIRT_EINVAL;
	if (*map) {
		/* rings are not buffers: of the policy only the ALLOW flags apply */
		if (vb_policy_load(p->pol, vp) || iovirt_gmap_guest(*map) != p->guest)
			return IOVIRT_EINVAL;
		*vp = (struct vb_policy){ .max_segs = 1, .flags = vp->flags, .max_total = UINT64_MAX };
	}
	if (!iovirt_is_aligned(p->desc_gpa, 16) || !iovirt_is_aligned(p->avail_gpa, packed ? 4 : 2) ||
	    !iovirt_is_aligned(p->used_gpa, 4))
		return IOVIRT_EALIGN;
	/* the last byte of each ring (every ring has 4 bytes or more): one ending
	 * exactly at 2^64 - 1 does not wrap, as a segment or region there */
	if (!iovirt_add_ok(p->desc_gpa, vq_ring_bytes(p->flags, p->num, RING_DESC) - 1, &end) ||
	    !iovirt_add_ok(p->avail_gpa, vq_ring_bytes(p->flags, p->num, RING_AVAIL) - 1, &end) ||
	    !iovirt_add_ok(p->used_gpa, vq_ring_bytes(p->flags, p->num, RING_USED) - 1, &end))
		return IOVIRT_EOVERFLOW;
	if (!iovirt_host_ops_ok(ops) || !IOVIRT_HOST_HAS(ops, guest_read) ||
	    !IOVIRT_HOST_HAS(ops, guest_write))
		return IOVIRT_ENOSYS;
	return 0;
}

/* A ring's host address through its held region, or NULL when the region has none. */
static uint8_t *ring_hva(const struct iovirt_gmap_region *r, uint64_t gpa)
{
	return r->desc.hva ? (uint8_t *)r->desc.hva + (gpa - r->desc.gpa) : NULL;
}

/* A ring's host address for direct access: only when it lies in one region
 * (a ring across regions has no one host address: it keeps the callbacks). */
static uint8_t *ring_direct(const struct vq_holds *h, int k, uint64_t gpa)
{
	return h->n[k] == 1 ? ring_hva(h->r[k][0], gpa) : NULL;
}

/* After the rings were held: with IOVIRT_VQ_F_DIRECT, rings in one region
 * with a host address are accessed through it; the others keep the
 * callbacks, which a used ring across regions uses field by field. */
static void rings_bind(struct iovirt_vq *vq)
{
	vq->used_span = vq->hold.n[RING_USED] > 1;
	if (!(vq->flags & IOVIRT_VQ_F_DIRECT))
		return;
	vq->desc_hva = ring_direct(&vq->hold, RING_DESC, vq->desc_gpa);
	vq->avail_hva = ring_direct(&vq->hold, RING_AVAIL, vq->avail_gpa);
	vq->used_hva = ring_direct(&vq->hold, RING_USED, vq->used_gpa);
	/* behind an IOMMU every buffer address is translated: the general walk */
	bool split = !(vq->flags & IOVIRT_VQ_F_PACKED);
	vq->desc_direct = split && vq->desc_hva && !(vq->flags & IOVIRT_VQ_F_ACCESS_PLATFORM);
	vq->pop_direct = vq->desc_direct && vq->avail_hva;
	vq->used_direct = split && vq->used_hva;
}

/* A ring's bytes: a packed descriptor ring is written too. */
static uint32_t ring_dir(uint32_t flags, int k)
{
	if (k == RING_DESC)
		return (flags & IOVIRT_VQ_F_PACKED) ? IOVIRT_DEV_READ | IOVIRT_DEV_WRITE
						    : IOVIRT_DEV_READ;
	return k == RING_AVAIL ? IOVIRT_DEV_READ : IOVIRT_DEV_WRITE;
}

/* The rings' I/O virtual addresses translated (each contiguous), into *tp
 * (a full-size copy of p's fields with the guest-physical addresses). */
static int rings_translate(const struct iovirt_vq_params *p, struct iovirt_gmap *map,
			   struct iovirt_vq_params *tp)
{
	struct iovirt_vq t = { .iommu = p->iommu, .asid = p->asid };
	const uint64_t iova[NRINGS] = { p->desc_gpa, p->avail_gpa, p->used_gpa };
	uint64_t gpa[NRINGS];
	for (int k = 0; k < NRINGS; k++) {
		int err = vq_iova_range(&t, iova[k], vq_ring_bytes(p->flags, p->num, k),
					ring_dir(p->flags, k), &gpa[k]);
		if (err)
			return err;
	}
	*tp = (struct iovirt_vq_params){
		.size = sizeof(*tp), .guest = p->guest, .num = p->num, .flags = p->flags,
		.max_indirect = p->max_indirect, .desc_gpa = gpa[0], .avail_gpa = gpa[1],
		.used_gpa = gpa[2], .map = map, .pol = p->pol, .iommu = p->iommu, .asid = p->asid,
	};
	/* the translations keep the rings' alignment only if the pages do */
	if (!iovirt_is_aligned(gpa[0], 16) || !iovirt_is_aligned(gpa[1], 2) ||
	    !iovirt_is_aligned(gpa[2], 4))
		return IOVIRT_EALIGN;
	return 0;
}

/* The object and its scratch (stamps, packed per-ID counts and order,
 * indirect stamps and table), laid out for p's rings; NULL if either
 * allocation fails (nothing left allocated). */
static struct iovirt_vq *vq_alloc(const struct iovirt_host_ops *ops, void *host,
				  const struct iovirt_vq_params *p)
{
	uint32_t max_ind = p->max_indirect ? p->max_indirect : p->num;
	struct iovirt_vq *vq = ops->mem_alloc(host, sizeof(*vq), _Alignof(struct iovirt_vq));
	if (!vq)
		return NULL;
	size_t bytes = (size_t)p->num * (4 + 2 + 2) + (size_t)max_ind * (4 + DESC_SIZE);
	bytes = (bytes + 63) & ~(size_t)63; /* a multiple of the alignment, see gmap.c */
	uint8_t *scratch = ops->mem_alloc(host, bytes, 64);
	if (!scratch) {
		ops->mem_free(host, vq, sizeof(*vq));
		return NULL;
	}
	*vq = (struct iovirt_vq){
		.ops = ops, .host = host, .guest = p->guest, .num = p->num,
		.flags = p->flags, .max_ind = max_ind, .desc_gpa = p->desc_gpa,
		.avail_gpa = p->avail_gpa, .used_gpa = p->used_gpa,
		.table = scratch,
		.stamp = (uint32_t *)(scratch + (size_t)max_ind * DESC_SIZE),
		.scratch_bytes = bytes,
	};
	vq->ind_stamp = vq->stamp + p->num;
	vq->id_descs = (uint16_t *)(vq->ind_stamp + max_ind);
	vq->fifo = vq->id_descs + p->num;
	return vq;
}

int iovirt_vq_create(const struct iovirt_host_ops *ops, void *host,
		     const struct iovirt_vq_params *p, struct iovirt_vq **out)
{
	struct vb_policy vp = { 0 };
	struct iovirt_gmap *map;
	if (!ops || !p || !out)
		return IOVIRT_EINVAL;
	int err = vq_params_check(ops, p, &map, &vp);
	if (err)
		return err;
	struct iovirt_vq_params tp;
	const uint64_t ring_iova[NRINGS] = { p->desc_gpa, p->avail_gpa, p->used_gpa };
	if (p->flags & IOVIRT_VQ_F_ACCESS_PLATFORM) {
		if ((err = rings_translate(p, map, &tp)))
			return err;
		p = &tp;
	}
	struct vq_holds hold = { 0 };
	if (map && (err = rings_hold(p, &vp, &hold)))
		return err;
	struct iovirt_vq *vq = vq_alloc(ops, host, p);
	if (!vq) {
		if (map)
			rings_put(map, &hold);
		return IOVIRT_ENOMEM;
	}
	vq->map = map;
	vq->hold = hold;
	rings_bind(vq);
	if (p->flags & IOVIRT_VQ_F_ACCESS_PLATFORM) {
		vq->iommu = p->iommu;
		vq->asid = p->asid;
		vq->ring_flags = vp.flags;
		for (int k = 0; k < NRINGS; k++)
			vq->ring_iova[k] = ring_iova[k];
	}
	if (vq_packed(vq)) /* both wrap counters start at 1 (virtio) */
		vq->last_avail = vq->avail_idx = vq->used_idx = 0x8000;
	*out = vq;
	return 0;
}

void iovirt_vq_destroy(struct iovirt_vq *vq)
{
	if (!vq)
		return;
	if (vq->map)
		rings_put(vq->map, &vq->hold);
	vq->ops->mem_free(vq->host, vq->table, vq->scratch_bytes);
	vq->ops->mem_free(vq->host, vq, sizeof(*vq));
}

uint16_t iovirt_vq_last_avail(const struct iovirt_vq *vq)
{
	return vq->last_avail;
}

uint16_t iovirt_vq_used_idx(const struct iovirt_vq *vq)
{
	return vq->used_idx;
}

void iovirt_vq_set_cursors(struct iovirt_vq *vq, uint16_t last_avail, uint16_t used_idx)
{
	vq->last_avail = vq->avail_idx = last_avail;
	vq->used_idx = used_idx;
	vq->signalled_valid = false; /* as at create: the next decision signals */
	if (vq_packed(vq))
		vqp_reset(vq); /* no buffer in flight: IDs are not in the cursors */
}

static int gread(struct iovirt_vq *vq, uint64_t gpa, void *dst, size_t len)
{
	return vq->ops->guest_read(vq->host, vq->guest, gpa, dst, len) ? IOVIRT_EGUEST : 0;
}

/* iovirt_vq_avail of a split queue, inline for pop and skip. */
static inline int avail_read(struct iovirt_vq *vq)
{
	uint16_t idx;
	if (vq_ring_ld16(vq, vq->avail_hva, vq->avail_gpa, IOVIRT_WIRE_VQ_RING_IDX_OFF, &idx))
		return IOVIRT_EGUEST;
	/* virtio's read barrier: the ring entries and descriptors this idx
	 * publishes are read after it, whatever guest_read is (the driver writes
	 * them before idx, behind its write barrier) */
	atomic_thread_fence(memory_order_acquire);
	/* free-running 16-bit indices: the difference is right across wrap-around */
	uint16_t n = (uint16_t)(idx - vq->last_avail);
	if (n > vq->num)
		return IOVIRT_EINDEX;
	vq->avail_idx = idx;
	return n;
}

int iovirt_vq_avail(struct iovirt_vq *vq)
{
	if (vq_packed(vq))
		return vqp_avail(vq);
	return avail_read(vq);
}

/* Chains in flight (vq_in_flight): taken off the available ring (pop, skip),
 * not yet completed (push). The cursors are the count, so set_cursors
 * restores it with them, as a device's saved state implies. */

/*
 * Before taking a chain (pop, skip): 1 when one is available and may be taken,
 * 0 when none is, or the refusal. avail idx is read (once) only when the heads
 * read last time are all taken: a cache that was never read (fresh queue,
 * set_cursors) says "none" and is read.
 */
static int vq_can_take(struct iovirt_vq *vq)
{
	if (vq->avail_idx == vq->last_avail) {
		int n = avail_read(vq);
		if (n <= 0)
			return n;
	}
	/* At most num buffers are outstanding (virtio): a driver posting a head
	 * the device still holds makes the requests in flight grow without bound
	 * (CVE-2016-5403). */
	if (vq_in_flight(vq) >= vq->num)
		return IOVIRT_EOVERRUN;
	return 1;
}

/* Starts a walk: a fresh stamp value (stamps are cleared once every 2^32 walks). */
static uint32_t walk_gen(struct iovirt_vq *vq)
{
	if (IOVIRT_UNLIKELY(++vq->gen == 0)) {
		memset(vq->stamp, 0, ((size_t)vq->num + vq->max_ind) * sizeof(uint32_t));
		vq->gen = 1;
	}
	return vq->gen;
}

struct walk {
	struct vb_build b;
	uint32_t where, desc;
	bool seen_write;
};

/* One buffer descriptor (not the one naming an indirect table). */
static int walk_buf(struct iovirt_vq *vq, struct walk *w, uint64_t addr, uint32_t len,
		    uint16_t flags)
{
	uint32_t dir;
	if (flags & IOVIRT_VIRTQ_DESC_F_WRITE) {
		dir = IOVIRT_DEV_WRITE;
		w->seen_write = true;
	} else {
		if (w->seen_write) {
			w->b.fail_gpa = addr;
			return IOVIRT_EORDER;
		}
		dir = IOVIRT_DEV_READ;
	}
	return vq_buf_add(vq, &w->b, addr, len, dir);
}

/*
 * A used element of a used ring across regions: one over a page boundary,
 * which is where regions meet (8 bytes at a 4-byte aligned offset), is
 * written as its two fields, one per region (a host's guest_write need not
 * cross regions); the fields are 4-byte aligned, so no field crosses. Out of
 * line: the completion fast path only tests used_span.
 */
int vq_used_elem_store_span(const struct iovirt_vq *vq, uint64_t gpa, uint32_t id, uint32_t len)
{
	uint8_t b[IOVIRT_WIRE_VQ_USED_ELEM_SIZE];
	iovirt_wire_vq_used_elem_encode(b, (struct iovirt_wire_vq_used_elem){ .id = id, .len = len });
	bool split = (gpa & IOVIRT_PAGE_MASK) > IOVIRT_PAGE_SIZE - sizeof(b);
	size_t first = split ? 4 : sizeof(b);
	if (vq->ops->guest_write(vq->host, vq->guest, gpa, b, first) ||
	    (split && vq->ops->guest_write(vq->host, vq->guest, gpa + 4, b + 4, 4)))
		return IOVIRT_EGUEST;
	return 0;
}

/*
 * Snapshots an indirect table whose placement was checked, piece by piece
 * (one per region it lies in), each byte once: with direct access through
 * the piece's region's host address (the same snapshot's entry, so the
 * region checked is the one read), else with one guest_read per piece (a
 * host's guest_read need not cross regions). Split and packed tables.
 */
int vq_table_read(struct iovirt_vq *vq, const struct vb_build *b, const struct vb_snap_ent *e,
		  uint64_t addr, uint32_t len)
{
	uint8_t *dst = vq->table;
	for (uint64_t g = addr, left = len, piece; left; g += piece, left -= piece, dst += piece) {
		if (g != addr) /* the next region: placement found it there */
			e = vb_snap_find(b->snap, g);
		piece = e->last - g < left ? e->last - g + 1 : left;
		if ((vq->flags & IOVIRT_VQ_F_DIRECT) && e->hva)
			memcpy(dst, e->hva + (g - e->gpa), piece);
		else if (gread(vq, g, dst, piece))
			return IOVIRT_EGUEST;
	}
	return 0;
}

/* Walks the indirect table that descriptor d (already snapshotted) names. */
static int walk_indirect(struct iovirt_vq *vq, struct walk *w,
			 const struct iovirt_wire_vq_desc *d, uint32_t *count, uint32_t gen)
{
	uint64_t addr = d->addr;
	uint32_t len = d->len;
	w->b.fail_gpa = addr;
	if (!(vq->flags & IOVIRT_VQ_F_INDIRECT) || (d->flags & IOVIRT_VIRTQ_DESC_F_NEXT) ||
	    len == 0 || len % DESC_SIZE || len / DESC_SIZE > vq->max_ind)
		return IOVIRT_EINDIRECT;
	/* behind an IOMMU the table's address is an IOVA too */
	int err = vq->iommu ? vq_iova_range(vq, addr, len, IOVIRT_DEV_READ, &addr) : 0;
	if (err)
		return err;
	/* the table is guest memory the device reads: it must be allowed to. It
	 * may sit anywhere (virtio): the buffers' alignment policy is not its;
	 * across adjacent regions, each piece in its own. */
	const struct vb_snap_ent *e;
	err = vb_check_placement_span(&w->b, addr, len, &e);
	if (err)
		return err;
	if ((err = vq_table_read(vq, &w->b, e, addr, len)))
		return err;
	uint32_t n = len / DESC_SIZE, j = 0;
	w->where = IOVIRT_WHERE_INDIRECT;
	for (;;) {
		w->desc = j;
		if (j >= n)
			return IOVIRT_EINDEX;
		if (vq->ind_stamp[j] == gen)
			return IOVIRT_ELOOP;
		vq->ind_stamp[j] = gen;
		if (++*count > vq->num)
			return IOVIRT_ECHAIN;
		struct iovirt_wire_vq_desc t =
			iovirt_wire_vq_desc_decode(vq->table + (size_t)j * DESC_SIZE);
		if (t.flags & IOVIRT_VIRTQ_DESC_F_INDIRECT) {
			w->b.fail_gpa = t.addr;
			return IOVIRT_ENESTED;
		}
		err = walk_buf(vq, w, t.addr, t.len, t.flags);
		if (err)
			return err;
		if (!(t.flags & IOVIRT_VIRTQ_DESC_F_NEXT))
			return 0;
		j = t.next;
	}
}

/*
 * The general walk in two steps, so that the direct walk below can hand a
 * chain over to it where it stops (each descriptor still read once).
 * walk_take takes descriptor i into the chain: its index bound, loop and
 * length checks, then its snapshot into *d; 0 or the refusal (w->desc = i).
 */
static IOVIRT_ALWAYS_INLINE int
walk_take(struct iovirt_vq *vq, struct walk *w, uint32_t i, uint32_t *count, uint32_t gen,
	  struct iovirt_wire_vq_desc *d)
{
	w->desc = i;
	if (i >= vq->num)
		return IOVIRT_EINDEX;
	if (vq->stamp[i] == gen)
		return IOVIRT_ELOOP;
	vq->stamp[i] = gen;
	if (++*count > vq->num)
		return IOVIRT_ECHAIN;
	return vq_desc_load(vq, i, d);
}

/* The walk from a taken descriptor *d to the chain's end: 0 or the refusal. */
static IOVIRT_ALWAYS_INLINE int
walk_from(struct iovirt_vq *vq, struct walk *w, struct iovirt_wire_vq_desc *d, uint32_t count,
	  uint32_t gen)
{
	for (;;) {
		if (d->flags & IOVIRT_VIRTQ_DESC_F_INDIRECT) {
			/* an indirect descriptor ends the chain (it may not have NEXT);
			 * it names buffers but is none, so only the table's entries count */
			count--;
			return walk_indirect(vq, w, d, &count, gen);
		}
		int err = walk_buf(vq, w, d->addr, d->len, d->flags);
		if (err || !(d->flags & IOVIRT_VIRTQ_DESC_F_NEXT))
			return err;
		if ((err = walk_take(vq, w, d->next, &count, gen, d)))
			return err;
	}
}

/* The walk's result: res filled, its head and (refused) descriptor named. */
static int walk_end(const struct walk *w, int err, uint32_t head, struct iovirt_dma_result *res)
{
	int ret = vb_finish(&w->b, err ? err : (int)w->b.nout, w->where, res);
	if (res) {
		res->head = head;
		res->desc = err ? w->desc : 0;
	}
	return ret;
}

static int walk_chain(struct iovirt_vq *vq, const struct iovirt_gmap *map,
		      const struct vb_policy *vp, uint32_t head, struct iovirt_host_seg *out,
		      uint32_t cap, struct iovirt_dma_result *res)
{
	struct walk w;
	vb_init(&w.b, map, vp, out, cap); /* (every field of w once: no zeroing first) */
	/* the specification bounds a chain's bytes by 2^32 */
	if (w.b.pol.max_total > UINT32_MAX)
		w.b.pol.max_total = UINT32_MAX;
	w.where = IOVIRT_WHERE_TABLE;
	w.seen_write = false;
	uint32_t gen = walk_gen(vq), count = 0;
	struct iovirt_wire_vq_desc d;
	int err = walk_take(vq, &w, head, &count, gen, &d);
	if (!err)
		err = walk_from(vq, &w, &d, count, gen);
	return walk_end(&w, err, head, res);
}

/* Where the direct walk stopped: its locals, handed to the general walk. */
struct walk_stop {
	struct vb_lean l;
	struct iovirt_wire_vq_desc d; /* descriptor i, when taken */
	uint32_t head, i, nsegs, gen;
	bool taken, seen_write;
};

/*
 * The general walk goes on from where the direct walk stopped, at descriptor
 * st.i: taken (read, stamped, counted: its snapshot is st.d, not read again)
 * or still to take (a loop or a bad index, which walk_take refuses). Out of
 * line and by value, so that the direct walk's locals never need an address;
 * the policy pol is loaded again (the direct walk checked it).
 */
static __attribute__((noinline, cold)) int
walk_direct_stop(struct iovirt_vq *vq, const struct iovirt_gmap *map,
		 const struct iovirt_sg_policy *pol, struct iovirt_host_seg *out, uint32_t cap,
		 struct walk_stop st, struct iovirt_dma_result *res)
{
	struct walk w;
	struct vb_policy vp;
	(void)vb_policy_load(pol, &vp); /* checked by the caller */
	vb_lean_build(&w.b, map, &vp, out, cap, &st.l, st.nsegs);
	if (w.b.pol.max_total > UINT32_MAX) /* as walk_chain */
		w.b.pol.max_total = UINT32_MAX;
	w.where = IOVIRT_WHERE_TABLE;
	w.desc = st.i;
	w.seen_write = st.seen_write;
	/* the descriptors taken so far: one per segment, and i when taken */
	uint32_t count = st.nsegs + st.taken;
	int err = st.taken ? 0 : walk_take(vq, &w, st.i, &count, st.gen, &st.d);
	if (!err)
		err = walk_from(vq, &w, &st.d, count, st.gen);
	return walk_end(&w, err, st.head, res);
}

/*
 * One descriptor i of the direct walk (walk_direct_t below), read into *d,
 * then taken as a segment: true, or false when the walk must stop there.
 * first: the head, where nothing was taken yet (o == out, nsegs
 * 0 below max_segs, which is at least 1, nothing writable seen), so that the
 * order, max_segs and merge checks cannot apply and are left out. The buffer
 * part is vq_direct_seg's (vq_internal.h, the packed walk's), written out:
 * calling it here made gcc allocate the walk's registers worse (measured:
 * +6 instructions per 2-segment pop, +5 per chain of a burst).
 */
static IOVIRT_ALWAYS_INLINE bool
direct_step(struct iovirt_vq *vq, const struct vb_snap *snap, const struct vb_policy *vp,
	    uint32_t i, struct iovirt_wire_vq_desc *d,
	    const struct vb_snap_ent **prev, struct iovirt_host_seg **op,
	    const struct iovirt_host_seg *oend, uint64_t *left, uint64_t *wbytes,
	    uint64_t *exposed, uint32_t nsegs, const bool plain, const bool first)
{
	const uint8_t *q = vq->desc_hva + (size_t)i * DESC_SIZE;
	*d = (struct iovirt_wire_vq_desc){
		.addr = vq_ld64(q + offsetof(struct iovirt_wire_vq_desc, addr)),
		.len = vq_ld32(q + offsetof(struct iovirt_wire_vq_desc, len)),
		.flags = vq_ld16(q + offsetof(struct iovirt_wire_vq_desc, flags)),
		.next = vq_ld16(q + offsetof(struct iovirt_wire_vq_desc, next)),
	};
	bool wr = d->flags & IOVIRT_VIRTQ_DESC_F_WRITE;
	uint32_t dir = wr ? IOVIRT_DEV_WRITE : IOVIRT_DEV_READ;
	uint64_t gpa = d->addr, len = d->len;
	if (IOVIRT_UNLIKELY((d->flags & IOVIRT_VIRTQ_DESC_F_INDIRECT) ||
			    (!first && ((*wbytes && !wr) || nsegs >= vp->max_segs))))
		return false;
	/* in the hint's region: gpa at or above its start and
	 * len - 1 <= last - gpa (no zero length, no wrap, no byte past it) */
	const struct vb_snap_ent *e = *prev;
	uint64_t off = gpa - e->gpa, span = e->last - e->gpa;
	if (IOVIRT_UNLIKELY(off > span || len - 1 > span - off)) {
		e = vb_snap_find(snap, gpa);
		if (IOVIRT_UNLIKELY(!e || len - 1 > e->last - gpa))
			return false;
		off = gpa - e->gpa;
	}
	if (IOVIRT_UNLIKELY(!vb_fast_dir(e, dir) ||
			    (!plain && ((gpa & vp->amask) | (len & vp->lmask))) || len > *left))
		return false;
	struct iovirt_host_seg *o = *op;
	if (!first && e == *prev && o[-1].dir == dir && o[-1].gpa + o[-1].len == gpa) {
		/* same region, continuing guest addresses: the host range continues */
		struct iovirt_host_seg *p = o - 1;
		p->len += len;
		uint32_t x = vb_seg_exposed(p->gpa, p->len);
		*exposed += (uint64_t)x - p->exposed;
		p->exposed = x;
	} else {
		if (IOVIRT_UNLIKELY(o == oend))
			return false;
		uint32_t x = vb_seg_exposed(gpa, len);
		*o = vb_host_seg(e, off, gpa, len, dir, x);
		*op = o + 1;
		*exposed += x;
	}
	*prev = e;
	*left -= len;
	*wbytes += wr ? len : 0;
	return true;
}

/*
 * The walk of a queue whose descriptor table is read directly (no IOMMU):
 * the common chain, of table descriptors whose buffers each lie in one fast
 * region, walked on locals only (no call in the loop, so they stay in
 * registers). A segment is taken as vb_lean_add takes it (same checks, same
 * host entries, merges and result), its region looked up first in a hint:
 * the previous segment's region, or for the first one *hint: the region of
 * the queue's last chain, kept as an index below the snapshot's count, so that a
 * hint is always an entry of the current snapshot whatever changed since
 * (an entry that holds the segment is the one the lookup finds: regions are
 * disjoint); in a burst, the previous chain's region in the burst's one
 * snapshot. The checks are the general walk's, in its order; at anything
 * else (an indirect descriptor, a readable one after a writable one,
 * max_segs, a segment not taken so, a loop, a next index out of range) it
 * hands its state to the general walk (walk_direct_stop), which goes on from
 * that descriptor and decides it from scratch, with the same refusals and
 * results. Each descriptor is read once, by one of the two.
 * Bounded: each step takes a descriptor index not yet in the chain (stamps),
 * so at most num steps, and the general walk's length check (count > num)
 * cannot fire here. The head needs no loop check: every stamp is below a
 * fresh walk's gen (walk_gen), which a chain of one descriptor does not even
 * take (the head is stamped when a next descriptor follows, or before the
 * general walk goes on). In a burst (burst) the second descriptor is checked
 * against the head alone, the only one in the chain then, and the stamps
 * are taken when a third follows (head and second stamped then) or the
 * general walk goes on (the descriptors taken so far stamped first), so a
 * chain of two, the common one, takes none. A segment has a length above 0,
 * so a writable one was seen exactly when wbytes > 0, and every segment is
 * readable or writable, so the readable bytes are total - wbytes. plain: the
 * policy asks no alignment. pop: on success the cursor advances. burst: on
 * success *hint becomes the chain's last region and *next the end of its
 * entries, for the burst's next chain (the queue's hint and cursor are the
 * burst's to set). out .. oend: the room for the chain's entries. head < num.
 */
static IOVIRT_ALWAYS_INLINE int
walk_direct_h(struct iovirt_vq *vq, const struct iovirt_gmap *map,
	      const struct iovirt_sg_policy *pol, const struct vb_policy *vp,
	      const struct vb_snap *snap, const struct vb_snap_ent **hint, uint32_t head,
	      struct iovirt_host_seg *out, struct iovirt_host_seg *oend,
	      struct iovirt_dma_result *res, struct iovirt_host_seg **next,
	      const bool plain, const bool pop, const bool burst)
{
	/* the region of o[-1] once o > out; before, the lookup hint only */
	const struct vb_snap_ent *prev = *hint;
	struct iovirt_host_seg *o = out;
	/* bytes the chain may still take: the specification bounds a chain's
	 * bytes by 2^32 (as walk_chain), the policy maybe more tightly */
	uint64_t left = vp->max_total > UINT32_MAX ? UINT32_MAX : vp->max_total;
	const uint64_t max_total = left;
	uint32_t gen = 0, i = head, nsegs = 0, nout;
	uint64_t wbytes = 0, exposed = 0;
	bool taken = true;
	struct iovirt_wire_vq_desc d;
	/* a chain of one descriptor needs no stamps: the walk's stamp value is
	 * taken, and the head stamped, only when a next one follows (a burst:
	 * a third one) or the general walk goes on (gen 0 until then) */
	if (IOVIRT_UNLIKELY(!direct_step(vq, snap, vp, i, &d, &prev, &o, oend, &left,
					 &wbytes, &exposed, nsegs, plain, true))) {
		if (!burst) {
			gen = walk_gen(vq);
			vq->stamp[head] = gen;
		}
		goto stop;
	}
	if (!burst && (d.flags & IOVIRT_VIRTQ_DESC_F_NEXT)) {
		gen = walk_gen(vq);
		vq->stamp[head] = gen;
	}
	nsegs = 1;
	if (burst && (d.flags & IOVIRT_VIRTQ_DESC_F_NEXT)) {
		/* the second descriptor: the chain is its head alone, so a loop
		 * goes back to the head */
		i = d.next;
		taken = false;
		if (IOVIRT_UNLIKELY(i >= vq->num || i == head))
			goto stop;
		taken = true;
		if (IOVIRT_UNLIKELY(!direct_step(vq, snap, vp, i, &d, &prev, &o, oend, &left,
						 &wbytes, &exposed, nsegs, plain, false)))
			goto stop;
		nsegs = 2;
		if (d.flags & IOVIRT_VIRTQ_DESC_F_NEXT) { /* the two so far, stamped now */
			gen = walk_gen(vq);
			vq->stamp[head] = gen;
			vq->stamp[i] = gen;
		}
	}
	for (; d.flags & IOVIRT_VIRTQ_DESC_F_NEXT; nsegs++) {
		i = d.next;
		taken = false;
		if (IOVIRT_UNLIKELY(i >= vq->num || vq->stamp[i] == gen))
			goto stop;
		vq->stamp[i] = gen;
		taken = true;
		if (IOVIRT_UNLIKELY(!direct_step(vq, snap, vp, i, &d, &prev, &o, oend,
						 &left, &wbytes, &exposed, nsegs, plain, false)))
			goto stop;
	}
	/* the region of o[-1]: a burst keeps it for its next chain, a pop for
	 * the queue's next */
	if (burst) {
		*hint = prev;
		*next = o; /* where the burst's next chain starts */
	} else
		vq->ent_hint = (uint32_t)(prev - vb_snap_ents(snap));
	if (pop) /* the chain is taken */
		vq->last_avail++;
	nout = (uint32_t)(o - out);
	if (res) {
		uint64_t total = max_total - left;
		*res = (struct iovirt_dma_result){
			.seg = nsegs, .nsegs = nsegs, .nout = nout, .total = total,
			.read_bytes = total - wbytes, .write_bytes = wbytes, .exposed = exposed,
			.head = head,
		};
	}
	return (int)nout;
stop:
	if (burst && !gen) { /* the chain so far stamped for the general walk */
		gen = walk_gen(vq);
		vq->stamp[head] = gen;
		if (taken)
			vq->stamp[i] = gen;
	}
	nout = walk_direct_stop(vq, map, pol, out, (uint32_t)(oend - out),
				(struct walk_stop){ .l = { snap, o, oend, o != out ? prev : NULL,
							   max_total - left },
						    .d = d, .head = head, .i = i, .nsegs = nsegs,
						    .gen = gen, .taken = taken,
						    .seen_write = wbytes != 0 },
				res);
	if (pop && (int)nout > 0)
		vq->last_avail++;
	if (burst && (int)nout > 0)
		*next = out + nout;
	return (int)nout;
}

/* One chain's direct walk against the map's current snapshot (walk_direct_h),
 * the hint kept for the queue's next chain. pop: on success the cursor
 * advances. */
static IOVIRT_ALWAYS_INLINE int
walk_direct_t(struct iovirt_vq *vq, const struct iovirt_gmap *map,
	      const struct iovirt_sg_policy *pol, const struct vb_policy *vp, uint32_t head,
	      struct iovirt_host_seg *out, uint32_t cap, struct iovirt_dma_result *res,
	      const bool plain, const bool pop)
{
	const struct vb_snap *snap = vb_gmap_snap(map);
	const struct vb_snap_ent *hint = hint_of(vq, snap);
	return walk_direct_h(vq, map, pol, vp, snap, &hint, head, out, out + cap, res, NULL, plain,
			     pop, false);
}

/* walk_direct_t with the policy pol (checked by the caller). */
static IOVIRT_ALWAYS_INLINE int
walk_direct(struct iovirt_vq *vq, const struct iovirt_gmap *map, const struct iovirt_sg_policy *pol,
	    uint32_t head, struct iovirt_host_seg *out, uint32_t cap, struct iovirt_dma_result *res,
	    const bool pop)
{
	struct vb_policy vp;
	(void)vb_policy_load(pol, &vp);
	if (!(vp.amask | vp.lmask))
		return walk_direct_t(vq, map, pol, &vp, head, out, cap, res, true, pop);
	return walk_direct_t(vq, map, pol, &vp, head, out, cap, res, false, pop);
}

/* The direct walk for walk and for pop without a direct available ring: out of
 * line, so that their callers' general paths keep their own registers. */
static __attribute__((noinline)) int
walk_direct_call(struct iovirt_vq *vq, const struct iovirt_gmap *map,
		 const struct iovirt_sg_policy *pol, uint32_t head, struct iovirt_host_seg *out,
		 uint32_t cap, struct iovirt_dma_result *res, bool pop)
{
	return pop ? walk_direct(vq, map, pol, head, out, cap, res, true)
		   : walk_direct(vq, map, pol, head, out, cap, res, false);
}

int iovirt_vq_walk(struct iovirt_vq *vq, const struct iovirt_gmap *map,
		   const struct iovirt_sg_policy *pol, uint32_t head,
		   struct iovirt_host_seg *out, uint32_t out_cap,
		   struct iovirt_dma_result *res)
{
	struct vb_policy vp;
	/* a packed chain is named by its ring position, not a head: pop only */
	if (!vq || !map || !out || vb_policy_load(pol, &vp) || vq_packed(vq)) {
		if (res)
			*res = (struct iovirt_dma_result){ .err = IOVIRT_EINVAL };
		return IOVIRT_EINVAL;
	}
	if (vq->desc_direct && head < vq->num)
		return walk_direct_call(vq, map, pol, head, out, out_cap, res, false);
	return walk_chain(vq, map, &vp, head, out, out_cap, res);
}

/* A refusal at the available ring (vq_internal.h). */
__attribute__((cold, noinline)) int vq_ring_refuse(int err, struct iovirt_dma_result *res)
{
	if (res)
		*res = (struct iovirt_dma_result){ .err = err, .where = IOVIRT_WHERE_RING };
	return err;
}

/* A head >= num, read from the ring slot at guest address slot. */
static __attribute__((cold, noinline)) int head_refuse(uint64_t slot, uint16_t head,
						       struct iovirt_dma_result *res)
{
	if (res)
		*res = (struct iovirt_dma_result){ .err = IOVIRT_EINDEX, .gpa = slot,
						   .where = IOVIRT_WHERE_RING, .desc = head,
						   .head = head };
	return IOVIRT_EINDEX;
}

/*
 * pop's ring steps before a chain on its direct path (vq_can_take inline):
 * avail idx loaded once with its acquire fence (as avail_read) when the
 * heads read last time are all taken, then the in-flight bound. 1 when a
 * chain may be taken; 0 when none is available (res zeroed); or the refusal.
 */
static IOVIRT_ALWAYS_INLINE int direct_ready(struct iovirt_vq *vq, const uint8_t *avail,
					     uint16_t last, uint32_t num,
					     struct iovirt_dma_result *res)
{
	if (vq->avail_idx == last) {
		uint16_t idx = vq_ld16(avail + IOVIRT_WIRE_VQ_RING_IDX_OFF);
		atomic_thread_fence(memory_order_acquire); /* as avail_read */
		uint16_t n = (uint16_t)(idx - last);
		if (IOVIRT_UNLIKELY(n > num))
			return vq_ring_refuse(IOVIRT_EINDEX, res);
		vq->avail_idx = idx;
		if (n == 0) {
			if (res)
				*res = (struct iovirt_dma_result){ 0 };
			return 0;
		}
	}
	if (IOVIRT_UNLIKELY((uint16_t)(last - vq->used_idx) >= num)) /* as vq_can_take */
		return vq_ring_refuse(IOVIRT_EOVERRUN, res);
	return 1;
}

/*
 * pop of a split queue whose available ring and descriptor table are read
 * directly, without IOMMU (vq->pop_direct): the general pop's steps, checks
 * and refusals in its order (its argument checks, vq_can_take, the ring
 * entry, the head's bound, the walk), the ring fields loaded inline, each
 * once (idx with its acquire fence, as avail_read), and the direct walk.
 */
static __attribute__((noinline)) int
pop_direct(struct iovirt_vq *vq, const struct iovirt_gmap *map, const struct iovirt_sg_policy *pol,
	   struct iovirt_host_seg *out, uint32_t cap, struct iovirt_dma_result *res)
{
	struct vb_policy vp;
	if (IOVIRT_UNLIKELY(!map || !out || vb_policy_load(pol, &vp)))
		return vq_ring_refuse(IOVIRT_EINVAL, res);
	const uint8_t *avail = vq->avail_hva;
	uint16_t last = vq->last_avail;
	uint32_t num = vq->num;
	int ready = direct_ready(vq, avail, last, num, res);
	if (ready <= 0)
		return ready;
	uint64_t off = iovirt_wire_vq_avail_slot_off(last & (num - 1));
	uint16_t head = vq_ld16(avail + off);
	if (IOVIRT_UNLIKELY(head >= num))
		return head_refuse(vq->avail_gpa + off, head, res);
	if (!(vp.amask | vp.lmask))
		return walk_direct_t(vq, map, pol, &vp, head, out, cap, res, true, true);
	return walk_direct_t(vq, map, pol, &vp, head, out, cap, res, false, true);
}

/* pop of any other queue. */
static __attribute__((noinline)) int
pop_general(struct iovirt_vq *vq, const struct iovirt_gmap *map, const struct iovirt_sg_policy *pol,
	    struct iovirt_host_seg *out, uint32_t out_cap, struct iovirt_dma_result *res)
{
	struct vb_policy vp;
	int err = 0;
	if (!vq || !map || !out || vb_policy_load(pol, &vp))
		return vq_ring_refuse(IOVIRT_EINVAL, res);
	if (vq_packed(vq))
		return vqp_pop(vq, map, &vp, out, out_cap, res);
	int can = vq_can_take(vq);
	if (can <= 0) {
		err = can;
		if (!can && res)
			*res = (struct iovirt_dma_result){ 0 };
		if (!can)
			return 0;
		goto fail;
	}
	uint64_t off = iovirt_wire_vq_avail_slot_off(vq->last_avail & (vq->num - 1));
	uint64_t slot = vq->avail_gpa + off;
	uint16_t head;
	if (vq_ring_ld16(vq, vq->avail_hva, vq->avail_gpa, off, &head)) {
		err = IOVIRT_EGUEST;
		goto fail;
	}
	if (head >= vq->num)
		return head_refuse(slot, head, res);
	if (vq->desc_direct)
		return walk_direct_call(vq, map, pol, head, out, out_cap, res, true);
	int ret = walk_chain(vq, map, &vp, head, out, out_cap, res);
	if (ret > 0)
		vq->last_avail++;
	return ret;
fail:
	return vq_ring_refuse(err, res);
}

int iovirt_vq_pop(struct iovirt_vq *vq, const struct iovirt_gmap *map,
		  const struct iovirt_sg_policy *pol, struct iovirt_host_seg *out,
		  uint32_t out_cap, struct iovirt_dma_result *res)
{
	if (IOVIRT_LIKELY(vq && vq->pop_direct))
		return pop_direct(vq, map, pol, out, out_cap, res);
	if (vq && vq_packed(vq)) /* its own direct path (vq_packed.c) */
		return vqp_pop_any(vq, map, pol, out, out_cap, res);
	return pop_general(vq, map, pol, out, out_cap, res);
}

/*
 * The chains of a direct burst (burst_direct): n of them may be taken (each
 * available, within the in-flight bound), against one snapshot, the lookup
 * hint carried from chain to chain. Chain k is pop_direct's from its ring
 * entry on (the head's bound, the direct walk), its host entries after the
 * previous chains'; a refusal of the first is returned as pop returns it,
 * one of a later chain ends the burst before it. A full out needs no test of
 * its own: the head's room check hands the chain to the general walk, which
 * refuses it (ETOOMANY), as pop with no room would. The cursor and the hint
 * are stored once, after the last chain.
 */
static IOVIRT_ALWAYS_INLINE int
burst_walk(struct iovirt_vq *vq, const struct iovirt_gmap *map,
	   const struct iovirt_sg_policy *pol, const struct vb_policy *vp,
	   struct iovirt_host_seg *out, uint32_t cap, struct iovirt_dma_result *res, uint32_t n,
	   const bool plain)
{
	const struct vb_snap *snap = vb_gmap_snap(map);
	const struct vb_snap_ent *hint = hint_of(vq, snap);
	const uint8_t *avail = vq->avail_hva;
	const uint16_t last = vq->last_avail;
	const uint32_t mask = vq->num - 1;
	struct iovirt_host_seg *o = out, *const oend = out + cap;
	struct iovirt_dma_result *r = res, *const rend = res + n;
	for (uint32_t slot = last; r != rend; r++, slot++) {
		uint64_t off = iovirt_wire_vq_avail_slot_off(slot & mask);
		uint16_t head = vq_ld16(avail + off);
		if (IOVIRT_UNLIKELY(head > mask)) {
			if (r != res)
				break;
			return head_refuse(vq->avail_gpa + off, head, res);
		}
		int ret = walk_direct_h(vq, map, pol, vp, snap, &hint, head, o, oend, r, &o, plain,
					false, true);
		if (IOVIRT_UNLIKELY(ret < 0)) {
			if (r != res)
				break;
			return ret;
		}
	}
	vq->ent_hint = (uint32_t)(hint - vb_snap_ents(snap));
	vq->last_avail = (uint16_t)(last + (r - res)); /* the chains taken */
	return (int)(r - res);
}

/*
 * pop_burst of a queue with pop's direct path: pop_direct's argument checks
 * and ring steps (direct_ready) once for the burst, the chains to take
 * bounded by what that idx read showed and by the in-flight bound.
 */
static __attribute__((noinline)) int
burst_direct(struct iovirt_vq *vq, const struct iovirt_gmap *map,
	     const struct iovirt_sg_policy *pol, struct iovirt_host_seg *out, uint32_t cap,
	     struct iovirt_dma_result *res, uint32_t max)
{
	struct vb_policy vp;
	if (IOVIRT_UNLIKELY(!map || !out || !res || vb_policy_load(pol, &vp)))
		return vq_ring_refuse(IOVIRT_EINVAL, res);
	if (max == 0)
		return 0;
	uint16_t last = vq->last_avail;
	uint32_t num = vq->num;
	int ready = direct_ready(vq, vq->avail_hva, last, num, res);
	if (ready <= 0)
		return ready;
	/* chains available (the idx read showed them, at most num) and chains
	 * the in-flight bound lets in (at least one: direct_ready) */
	uint32_t n = (uint16_t)(vq->avail_idx - last);
	uint32_t room = num - (uint16_t)(last - vq->used_idx);
	n = n < room ? n : room;
	n = n < max ? n : max;
	if (!(vp.amask | vp.lmask))
		return burst_walk(vq, map, pol, &vp, out, cap, res, n, true);
	return burst_walk(vq, map, pol, &vp, out, cap, res, n, false);
}

/*
 * pop_burst of any other queue: pop after pop (pop_general), each into the
 * room left in out, stopping where a pop takes nothing, is refused, or a
 * split queue's heads read last time are all taken (idx is read at most
 * once per burst, by its first pop). A later chain's refusal leaves nothing:
 * the translation fault it may have recorded is put back.
 */
static __attribute__((noinline)) int
burst_general(struct iovirt_vq *vq, const struct iovirt_gmap *map,
	      const struct iovirt_sg_policy *pol, struct iovirt_host_seg *out, uint32_t cap,
	      struct iovirt_dma_result *res, uint32_t max)
{
	struct vb_policy vp;
	if (!vq || !map || !out || !res || vb_policy_load(pol, &vp))
		return vq_ring_refuse(IOVIRT_EINVAL, res);
	uint32_t k, used = 0;
	for (k = 0; k < max; k++) {
		if (k && (used == cap || (!vq_packed(vq) && vq->avail_idx == vq->last_avail)))
			break;
		struct iovirt_vq_fault fault = vq->fault;
		int ret = pop_general(vq, map, pol, out + used, cap - used, res + k);
		if (ret <= 0) {
			if (k == 0)
				return ret;
			vq->fault = fault;
			break;
		}
		used += (uint32_t)ret;
	}
	return (int)k;
}

int iovirt_vq_pop_burst(struct iovirt_vq *vq, const struct iovirt_gmap *map,
			const struct iovirt_sg_policy *pol, struct iovirt_host_seg *out,
			uint32_t out_cap, struct iovirt_dma_result *res, uint32_t max_chains)
{
	if (IOVIRT_LIKELY(vq && vq->pop_direct))
		return burst_direct(vq, map, pol, out, out_cap, res, max_chains);
	return burst_general(vq, map, pol, out, out_cap, res, max_chains);
}

int iovirt_vq_skip(struct iovirt_vq *vq)
{
	if (vq_packed(vq))
		return vqp_skip(vq);
	int can = vq_can_take(vq);
	if (can <= 0)
		return can ? can : IOVIRT_ENOENT;
	vq->last_avail++;
	return 0;
}

/* push_used of any other queue. */
static __attribute__((noinline)) int push_general(struct iovirt_vq *vq, uint32_t id, uint32_t len)
{
	if (vq_packed(vq))
		return vqp_push_one(vq, id, len);
	if (id >= vq->num)
		return IOVIRT_EINDEX;
	/* completions never outnumber the chains taken: the in-flight count
	 * stays what the cursors say */
	if (vq_in_flight(vq) == 0)
		return IOVIRT_ENOENT;
	struct iovirt_wire_vq_used_elem e = { .id = id, .len = len };
	if (vq_used_elem_store(vq, vq->used_idx & (vq->num - 1), e))
		return IOVIRT_EGUEST;
	/* the element must be visible before the index that publishes it */
	return vq_used_idx_publish(vq, (uint16_t)(vq->used_idx + 1));
}

int iovirt_vq_push_used(struct iovirt_vq *vq, uint32_t id, uint32_t len)
{
	if (IOVIRT_LIKELY(vq->used_direct)) {
		/* a split used ring read directly: the steps below, inline */
		uint16_t u = vq->used_idx;
		if (id >= vq->num)
			return IOVIRT_EINDEX;
		if (vq->last_avail == u)
			return IOVIRT_ENOENT;
		uint8_t *e = vq->used_hva + iovirt_wire_vq_used_slot_off(u & (vq->num - 1));
		vq_st32(e + offsetof(struct iovirt_wire_vq_used_elem, id), id);
		vq_st32(e + offsetof(struct iovirt_wire_vq_used_elem, len), len);
		/* the element must be visible before the index that publishes it */
		atomic_thread_fence(memory_order_release);
		vq_st16(vq->used_hva + IOVIRT_WIRE_VQ_RING_IDX_OFF, (uint16_t)(u + 1));
		vq->used_idx = (uint16_t)(u + 1);
		return 0;
	}
	return push_general(vq, id, len);
}

int iovirt_vq_iotlb_inval(struct iovirt_vq *vq, uint64_t iova, uint64_t size)
{
	uint64_t last;
	if (!vq || !vq->iommu || size == 0 || !iovirt_add_ok(iova, size - 1, &last))
		return IOVIRT_EINVAL;
	bool touched = false;
	for (int k = 0; k < NRINGS; k++) {
		uint64_t rl = vq->ring_iova[k] + vq_ring_bytes(vq->flags, vq->num, k) - 1;
		touched |= iova <= rl && vq->ring_iova[k] <= last;
	}
	if (!touched)
		return 0;
	/* translate again; hold the new regions before dropping the old ones,
	 * so that on any failure the queue is as it was */
	const struct iovirt_vq_params ip = {
		.size = sizeof(ip), .guest = vq->guest, .num = vq->num, .flags = vq->flags,
		.desc_gpa = vq->ring_iova[0], .avail_gpa = vq->ring_iova[1],
		.used_gpa = vq->ring_iova[2], .iommu = vq->iommu, .asid = vq->asid,
	};
	struct iovirt_vq_params tp;
	int err = rings_translate(&ip, vq->map, &tp);
	if (err)
		return err;
	struct vq_holds hold = { 0 };
	struct vb_policy vp = { .max_segs = 1, .flags = vq->ring_flags, .max_total = UINT64_MAX };
	if (vq->map && (err = rings_hold(&tp, &vp, &hold)))
		return err;
	if (vq->map) {
		rings_put(vq->map, &vq->hold);
		vq->hold = hold;
	}
	vq->desc_gpa = tp.desc_gpa;
	vq->avail_gpa = tp.avail_gpa;
	vq->used_gpa = tp.used_gpa;
	rings_bind(vq);
	return 0;
}
