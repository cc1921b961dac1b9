/* SPDX-License-Identifier: MIT */
/*
 * The split virtqueue's device-side state, shared by virtq.c (chain walking),
 * vq_event.c (notification suppression, batched completions) and their ring
 * accessors: every ring field goes through one of the vq_ring_* helpers
 * below, which read it once, either through the ring's host address (direct
 * access) or through the host's guest_read/guest_write.
 */
#ifndef IOVIRT_VALIDATE_VQ_INTERNAL_H
#define IOVIRT_VALIDATE_VQ_INTERNAL_H

#include "common/wire.h"
#include "validate/internal.h"

/* The rings: descriptor table (packed: descriptor ring), available ring
 * (packed: driver event structure), used ring (packed: device event structure). */
#define VQ_NRINGS 3
/* Regions one ring may run across (each piece held on its own). */
#define VQ_RING_REGIONS 4

/* The regions each ring lies in, in ring order, each held once. */
struct vq_holds {
	struct iovirt_gmap_region *r[VQ_NRINGS][VQ_RING_REGIONS];
	uint8_t n[VQ_NRINGS];
};

struct iovirt_vq {
	const struct iovirt_host_ops *ops;
	void *host;
	uint32_t guest, num, flags, max_ind;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* IOVIRT_VQ_F_DIRECT: each ring's host address (its region is held, so
	 * the mapping outlives the queue); NULL: through the host callbacks */
	uint8_t *desc_hva, *avail_hva, *used_hva;
	/* a split queue without IOMMU whose table is read directly: its chains
	 * take the direct walk (virtq.c walk_direct) */
	bool desc_direct;
	/* ... and its available ring too: pop's direct path (virtq.c
	 * pop_direct); a split queue whose used ring is read directly:
	 * push_used's */
	bool pop_direct, used_direct;
	/* the snapshot entry index of the region of the last chain's last
	 * segment: walk_direct's first lookup hint (an index below the
	 * snapshot's count names one of its entries, whichever snapshot) */
	uint32_t ent_hint;
	uint16_t last_avail; /* next ring slot the device takes (free-running) */
	uint16_t avail_idx;  /* the driver's idx as last read */
	uint16_t used_idx;
	/* EVENT_IDX: used idx at the last signal decision, valid since create or
	 * set_cursors only after a first decision (virtio: signal then) */
	uint16_t signalled_used;
	bool signalled_valid;
	/* IOVIRT_VQ_F_PACKED: last_avail and used_idx hold ring position | wrap
	 * counter << 15; per buffer ID the ring descriptors its chain took (0: not
	 * in flight); the IDs in the order they were taken (for in-order
	 * completions); descriptors in flight. */
	uint16_t *id_descs; /* num entries */
	uint16_t *fifo;     /* num entries */
	uint32_t fifo_head, fifo_tail, inflight_descs;
	/* IOVIRT_VQ_F_ACCESS_PLATFORM: the device's address space; the rings'
	 * I/O virtual addresses (desc_gpa.. hold their translations); the last
	 * translation fault. */
	const struct iovirt_iommu *iommu;
	uint32_t asid;
	uint32_t ring_flags; /* the ALLOW flags the rings were checked under */
	uint64_t ring_iova[3];
	struct iovirt_vq_fault fault;
	/* A descriptor index is in the current walk when its stamp equals gen;
	 * stamps avoid clearing a bitmap of num bits for every chain. */
	uint32_t gen;
	uint32_t *stamp;     /* num entries */
	uint32_t *ind_stamp; /* max_ind entries */
	uint8_t *table;      /* snapshot of one indirect table: max_ind * 16 bytes */
	size_t scratch_bytes;
	/* With a map at create: the regions of the descriptor table, available
	 * ring and used ring, held until destroy. */
	struct iovirt_gmap *map;
	struct vq_holds hold;
	/* The used ring runs across regions: a used element over a page
	 * boundary is written field by field (see vq_used_elem_store). */
	bool used_span;
};

/*
 * Direct loads and stores of guest ring fields: one atomic access each, so a
 * field is read once (the compiler may neither repeat nor split it), little
 * endian on the wire. The rings' alignment (16, 2, 4 at create) and the 4 KiB
 * alignment of a region's host address make every field naturally aligned.
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define VQ_LE16(v) __builtin_bswap16(v)
#define VQ_LE32(v) __builtin_bswap32(v)
#define VQ_LE64(v) __builtin_bswap64(v)
#else
#define VQ_LE16(v) (v)
#define VQ_LE32(v) (v)
#define VQ_LE64(v) (v)
#endif

static inline uint16_t vq_ld16(const uint8_t *p)
{
	return VQ_LE16(__atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED));
}

static inline uint32_t vq_ld32(const uint8_t *p)
{
	return VQ_LE32(__atomic_load_n((const uint32_t *)(const void *)p, __ATOMIC_RELAXED));
}

static inline uint64_t vq_ld64(const uint8_t *p)
{
	return VQ_LE64(__atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_RELAXED));
}

static inline void vq_st16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, VQ_LE16(v), __ATOMIC_RELAXED);
}

static inline void vq_st32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, VQ_LE32(v), __ATOMIC_RELAXED);
}

/* Offsets of the event-index words: right after each ring's num slots. */
static inline uint64_t vq_used_event_off(uint32_t num)
{
	return iovirt_wire_vq_avail_slot_off(num);
}

static inline uint64_t vq_avail_event_off(uint32_t num)
{
	return iovirt_wire_vq_used_slot_off(num);
}

/* One le16 of a ring (hva: the ring's host address or NULL; gpa: the
 * ring's guest address), read once: 0 or IOVIRT_EGUEST. */
static inline int vq_ring_ld16(const struct iovirt_vq *vq, const uint8_t *hva, uint64_t gpa,
			       uint64_t off, uint16_t *v)
{
	if (hva) {
		*v = vq_ld16(hva + off);
		return 0;
	}
	uint8_t b[2];
	if (vq->ops->guest_read(vq->host, vq->guest, gpa + off, b, sizeof(b)))
		return IOVIRT_EGUEST;
	*v = iovirt_le16_load(b);
	return 0;
}

static inline int vq_ring_st16(const struct iovirt_vq *vq, uint8_t *hva, uint64_t gpa,
			       uint64_t off, uint16_t v)
{
	if (hva) {
		vq_st16(hva + off, v);
		return 0;
	}
	uint8_t b[2];
	iovirt_le16_store(b, v);
	return vq->ops->guest_write(vq->host, vq->guest, gpa + off, b, sizeof(b)) ? IOVIRT_EGUEST : 0;
}

/* Descriptor i of the table (i < num), each field read once. */
static inline int vq_desc_load(const struct iovirt_vq *vq, uint32_t i, struct iovirt_wire_vq_desc *d)
{
	uint64_t off = (uint64_t)i * IOVIRT_WIRE_VQ_DESC_SIZE;
	if (vq->desc_hva) {
		const uint8_t *p = vq->desc_hva + off;
		*d = (struct iovirt_wire_vq_desc){
			.addr = vq_ld64(p + offsetof(struct iovirt_wire_vq_desc, addr)),
			.len = vq_ld32(p + offsetof(struct iovirt_wire_vq_desc, len)),
			.flags = vq_ld16(p + offsetof(struct iovirt_wire_vq_desc, flags)),
			.next = vq_ld16(p + offsetof(struct iovirt_wire_vq_desc, next)),
		};
		return 0;
	}
	uint8_t raw[IOVIRT_WIRE_VQ_DESC_SIZE];
	if (vq->ops->guest_read(vq->host, vq->guest, vq->desc_gpa + off, raw, sizeof(raw)))
		return IOVIRT_EGUEST;
	*d = iovirt_wire_vq_desc_decode(raw);
	return 0;
}

/* A used element at gpa of a used ring across regions, through the callbacks
 * (virtq.c). */
VB_HIDDEN int vq_used_elem_store_span(const struct iovirt_vq *vq, uint64_t gpa, uint32_t id,
				      uint32_t len);

/* Used element at ring slot (slot < num). */
static inline int vq_used_elem_store(const struct iovirt_vq *vq, uint32_t slot,
				     struct iovirt_wire_vq_used_elem e)
{
	uint64_t off = iovirt_wire_vq_used_slot_off(slot);
	if (vq->used_hva) {
		uint8_t *p = vq->used_hva + off;
		vq_st32(p + offsetof(struct iovirt_wire_vq_used_elem, id), e.id);
		vq_st32(p + offsetof(struct iovirt_wire_vq_used_elem, len), e.len);
		return 0;
	}
	if (IOVIRT_UNLIKELY(vq->used_span))
		return vq_used_elem_store_span(vq, vq->used_gpa + off, e.id, e.len);
	uint8_t b[IOVIRT_WIRE_VQ_USED_ELEM_SIZE];
	iovirt_wire_vq_used_elem_encode(b, e);
	return vq->ops->guest_write(vq->host, vq->guest, vq->used_gpa + off, b, sizeof(b))
		       ? IOVIRT_EGUEST : 0;
}

/* Bytes of ring k (0 descriptors, 1 driver area, 2 device area) of a queue. */
static inline uint64_t vq_ring_bytes(uint32_t flags, uint32_t num, int k)
{
	if (flags & IOVIRT_VQ_F_PACKED)
		return k == 0 ? IOVIRT_VQ_DESC_BYTES(num) : IOVIRT_VQ_PACKED_EVENT_BYTES;
	return k == 0 ? IOVIRT_VQ_DESC_BYTES(num) : k == 1 ? IOVIRT_VQ_AVAIL_BYTES(num)
							 : IOVIRT_VQ_USED_BYTES(num);
}

static inline bool vq_packed(const struct iovirt_vq *vq)
{
	return vq->flags & IOVIRT_VQ_F_PACKED;
}

/* The packed layout (vq_packed.c); the split entry points hand over to these. */
VB_HIDDEN int vqp_pop(struct iovirt_vq *vq, const struct iovirt_gmap *map, const struct vb_policy *vp,
		      struct iovirt_host_seg *out, uint32_t cap, struct iovirt_dma_result *res);
VB_HIDDEN int vqp_skip(struct iovirt_vq *vq);
VB_HIDDEN int vqp_avail(struct iovirt_vq *vq);
VB_HIDDEN int vqp_push(struct iovirt_vq *vq, const struct iovirt_vq_used *e, uint32_t n);
VB_HIDDEN int vqp_push_in_order(struct iovirt_vq *vq, uint32_t id, uint32_t len, uint32_t count);
VB_HIDDEN int vqp_notify(struct iovirt_vq *vq, bool enable);
VB_HIDDEN int vqp_need_signal(struct iovirt_vq *vq);
VB_HIDDEN void vqp_reset(struct iovirt_vq *vq);

/* An indirect table whose placement was checked (e: the region of its first
 * byte in b's snapshot) into vq->table, piece by piece (virtq.c). */
VB_HIDDEN int vq_table_read(struct iovirt_vq *vq, const struct vb_build *b,
			    const struct vb_snap_ent *e, uint64_t addr, uint32_t len);

/* IOVA translation (vq_iova.c). */
VB_HIDDEN int vq_iova_add(struct iovirt_vq *vq, struct vb_build *b, uint64_t iova, uint64_t len,
			  uint32_t dir);
VB_HIDDEN int vq_iova_range(struct iovirt_vq *vq, uint64_t iova, uint64_t len, uint32_t dir,
			    uint64_t *gpa);

/* A buffer of a chain: through the IOMMU when the queue has one. */
static inline int vq_buf_add(struct iovirt_vq *vq, struct vb_build *b, uint64_t addr, uint32_t len,
			     uint32_t dir)
{
	if (IOVIRT_UNLIKELY(vq->iommu != NULL))
		return vq_iova_add(vq, b, addr, len, dir);
	return vb_add_fast(b, addr, len, dir);
}

/* Chains in flight (see virtq.c). */
static inline uint16_t vq_in_flight(const struct iovirt_vq *vq)
{
	return (uint16_t)(vq->last_avail - vq->used_idx);
}

/*
 * Publishes used idx: a release fence first (virtio's write barrier: the
 * elements are visible before the index that publishes them), then the
 * store. On success the cursor becomes idx.
 */
static inline int vq_used_idx_publish(struct iovirt_vq *vq, uint16_t idx)
{
	atomic_thread_fence(memory_order_release);
	int err = vq_ring_st16(vq, vq->used_hva, vq->used_gpa, IOVIRT_WIRE_VQ_RING_IDX_OFF, idx);
	if (!err)
		vq->used_idx = idx;
	return err;
}

/*
 * One buffer [gpa, gpa + len) of a chain walked directly, taken as
 * vb_lean_add takes a segment (the same checks, host entry, merge and
 * result; the split walk's direct_step does the same inline): true, or
 * false with nothing changed when the general walk must decide it. The
 * region is looked up first in *prev: the previous segment's region, or for
 * the first one (first: *op == out, so no merge) a hint that is an entry of
 * snap. *left: bytes the chain may still take; *wbytes, *exposed: sums.
 * plain: the policy asks no alignment. The caller checked the descriptor
 * itself (not indirect, the order, max_segs).
 */
static IOVIRT_ALWAYS_INLINE bool
vq_direct_seg(const struct vb_snap *snap, const struct vb_policy *vp, uint64_t gpa, uint64_t len,
	      bool wr, const struct vb_snap_ent **prev, struct iovirt_host_seg **op,
	      struct iovirt_host_seg *out, uint32_t cap, uint64_t *left, uint64_t *wbytes,
	      uint64_t *exposed, const bool plain, const bool first)
{
	uint32_t dir = wr ? IOVIRT_DEV_WRITE : IOVIRT_DEV_READ;
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
		if (IOVIRT_UNLIKELY(o == out + cap))
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

/* The lookup hint of a walk against snap: the region of the queue's last
 * chain, kept as an index, when it is below snap's count (an empty
 * snapshot's sentinel entry holds no byte). */
static IOVIRT_ALWAYS_INLINE const struct vb_snap_ent *hint_of(const struct iovirt_vq *vq,
							      const struct vb_snap *snap)
{
	const struct vb_snap_ent *ents = vb_snap_ents(snap);
	return vq->ent_hint < snap->n ? ents + vq->ent_hint : ents;
}

/* A refusal at the available ring: res (when not NULL) names err there. */
VB_HIDDEN int vq_ring_refuse(int err, struct iovirt_dma_result *res);

/* pop and push_used of a packed queue, from iovirt_vq_pop and
 * iovirt_vq_push_used (vq_packed.c): the argument and policy checks of
 * pop_general, then a descriptor ring read directly (no IOMMU) takes the
 * direct path; one completion. */
VB_HIDDEN int vqp_pop_any(struct iovirt_vq *vq, const struct iovirt_gmap *map,
			  const struct iovirt_sg_policy *pol, struct iovirt_host_seg *out,
			  uint32_t cap, struct iovirt_dma_result *res);
VB_HIDDEN int vqp_push_one(struct iovirt_vq *vq, uint32_t id, uint32_t len);

#endif
