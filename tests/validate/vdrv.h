/* SPDX-License-Identifier: MIT */
/*
 * A virtio split-ring driver side for the tests, written from the
 * specification ("The Virtqueue Available Ring", "Used Ring", "Driver
 * notifications", "Event suppression"), not from lib/validate: it posts
 * chains (direct or through an indirect table), decides whether to kick by
 * the spec's rule, and takes completions back from the used ring.
 */
#ifndef IOVIRT_VDRV_H
#define IOVIRT_VDRV_H

#include "vq.h"

struct vdrv {
	struct q *q;
	bool event_idx;
	uint16_t avail_idx;   /* the driver's shadow of avail->idx */
	uint16_t kicked_at;   /* avail idx at the previous kick decision */
	uint16_t last_used;   /* next used ring entry to take */
	uint16_t free_head;   /* descriptors handed out in ring order, chains of 2 */
	uint32_t posted, done;
};

static inline uint16_t vd_ld16(struct q *q, uint64_t gpa)
{
	uint16_t v;
	memcpy(&v, gmem(q, gpa), 2);
	return v;
}

static inline void vd_st16(struct q *q, uint64_t gpa, uint16_t v)
{
	memcpy(gmem(q, gpa), &v, 2);
}

/* The spec's vring_need_event, written out separately from the library's. */
static inline bool vd_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

#define USED_EVENT(q) (AVAIL + 4 + 2 * (uint64_t)(q)->num)
#define AVAIL_EVENT(q) (USED + 4 + 8 * (uint64_t)(q)->num)

static inline void vd_init(struct vdrv *d, struct q *q, bool event_idx, uint16_t start)
{
	*d = (struct vdrv){ .q = q, .event_idx = event_idx, .avail_idx = start, .kicked_at = start,
			    .last_used = start };
	q->drv_idx = start;
	vd_st16(q, AVAIL + 2, start);
	vd_st16(q, USED + 2, start);
	iovirt_vq_set_cursors(q->vq, start, start);
}

/* Buffer addresses of chain number n: a 64-byte readable header and a writable body. */
static inline uint64_t vd_hdr(uint32_t slot)
{
	return G(0) + slot * 256ull;
}

/*
 * Posts one chain at descriptor slot h: a readable header then a writable
 * body, in the table (two descriptors) or through an indirect table (one
 * descriptor naming two entries). Ring entry, then the write barrier, then idx.
 */
static inline void vd_post(struct vdrv *d, uint16_t h, bool indirect, uint32_t body)
{
	struct q *q = d->q;
	uint64_t hdr = vd_hdr(h);
	if (indirect) {
		uint64_t t = IND + h * 32ull;
		put_desc_at(q, t, 0, hdr, 64, F_NEXT, 1);
		put_desc_at(q, t, 1, hdr + 64, body, F_WRITE, 0);
		put_desc(q, h, t, 32, F_IND, 0);
	} else {
		put_desc(q, h, hdr, 64, F_NEXT, (uint16_t)(h + 1));
		put_desc(q, h + 1, hdr + 64, body, F_WRITE, 0);
	}
	vd_st16(q, AVAIL + 4 + 2 * (d->avail_idx % q->num), h);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	d->avail_idx++;
	q->drv_idx = d->avail_idx;
	vd_st16(q, AVAIL + 2, d->avail_idx);
	d->posted++;
}

/* After posting: kick or not, by the spec's rule on the device's fields. */
static inline bool vd_should_kick(struct vdrv *d)
{
	struct q *q = d->q;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	bool kick = d->event_idx
			    ? vd_need_event(vd_ld16(q, AVAIL_EVENT(q)), d->avail_idx, d->kicked_at)
			    : !(vd_ld16(q, USED) & IOVIRT_VRING_USED_F_NO_NOTIFY);
	d->kicked_at = d->avail_idx;
	return kick;
}

/* Takes one completion back: 1 with *id and *len, or 0 when none. */
static inline int vd_get_used(struct vdrv *d, uint32_t *id, uint32_t *len)
{
	struct q *q = d->q;
	if (vd_ld16(q, USED + 2) == d->last_used)
		return 0;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	uint8_t *e = gmem(q, USED) + 4 + 8 * (d->last_used % q->num);
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
	d->last_used++;
	d->done++;
	return 1;
}

#endif
