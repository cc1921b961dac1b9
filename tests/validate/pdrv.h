/* SPDX-License-Identifier: MIT */
/*
 * A virtio packed-ring driver side for the tests, written from the
 * specification ("Packed Virtqueues": wrap counters, available and used
 * descriptors, chains, indirect tables, in-order use, event suppression),
 * not from lib/validate. The ring lives at DESC, the driver event
 * suppression structure at AVAIL, the device's at USED (vq.h).
 */
#ifndef IOVIRT_PDRV_H
#define IOVIRT_PDRV_H

#include "vq.h"

#define P_AVAIL IOVIRT_VIRTQ_DESC_F_AVAIL
#define P_USED IOVIRT_VIRTQ_DESC_F_USED

struct pdrv {
	struct q *q;
	uint16_t next_avail, next_used; /* ring positions */
	bool avail_wrap, used_wrap;     /* both start at 1 */
	uint16_t count[64];             /* per buffer ID: descriptors of its chain */
	uint16_t order[64];             /* IDs in posting order (in-order use) */
	uint32_t posted, taken;
	uint16_t kicked_at;             /* avail position | wrap << 15 at the last kick decision */
};

static inline void pd_init(struct pdrv *d, struct q *q)
{
	memset(d, 0, sizeof(*d));
	d->q = q;
	d->avail_wrap = d->used_wrap = true;
	d->kicked_at = 0x8000;
}

static inline uint16_t pd_flags(bool wrap, uint16_t extra)
{
	return (uint16_t)((wrap ? P_AVAIL : P_USED) | extra);
}

static inline void pd_desc(struct q *q, uint16_t pos, uint64_t addr, uint32_t len, uint16_t id)
{
	uint8_t *p = gmem(q, DESC) + pos * 16;
	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &id, 2);
}

/* Entry i of a packed indirect table at gpa t: { addr, len, id, flags }. */
static inline void pd_table(struct q *q, uint64_t t, uint32_t i, uint64_t addr, uint32_t len,
			    uint16_t flags)
{
	uint8_t *p = gmem(q, t) + i * 16;
	uint16_t id = 0;
	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &id, 2);
	memcpy(p + 14, &flags, 2);
}

static inline void pd_set_flags(struct q *q, uint16_t pos, uint16_t f)
{
	__atomic_store_n((uint16_t *)(void *)(gmem(q, DESC) + pos * 16 + 14), f, __ATOMIC_RELEASE);
}

/* Buffers of ID id: a 64-byte readable header and a writable body. */
static inline uint64_t pd_hdr(uint16_t id)
{
	return G(0) + id * 256ull;
}

/*
 * Posts buffer id: two descriptors (readable header, writable body), or one
 * naming an indirect table of those two. The head's flags are written last,
 * after the others, so the device sees the chain whole.
 */
static inline void pd_post(struct pdrv *d, uint16_t id, bool indirect, uint32_t body)
{
	struct q *q = d->q;
	uint16_t head = d->next_avail, head_flags = 0;
	uint32_t n = indirect ? 1 : 2;
	if (indirect) {
		uint64_t t = IND + id * 32ull;
		pd_table(q, t, 0, pd_hdr(id), 64, 0);
		pd_table(q, t, 1, pd_hdr(id) + 64, body, F_WRITE);
		pd_desc(q, head, t, 32, id);
		head_flags = pd_flags(d->avail_wrap, F_IND);
	}
	for (uint32_t k = 0; k < n && !indirect; k++) {
		uint16_t pos = d->next_avail;
		uint16_t extra = k == 0 ? F_NEXT : F_WRITE;
		pd_desc(q, pos, k == 0 ? pd_hdr(id) : pd_hdr(id) + 64, k == 0 ? 64 : body, id);
		if (k == 0)
			head_flags = pd_flags(d->avail_wrap, extra);
		else
			pd_set_flags(q, pos, pd_flags(d->avail_wrap, extra));
		if (++d->next_avail == q->num) {
			d->next_avail = 0;
			d->avail_wrap = !d->avail_wrap;
		}
	}
	if (indirect && ++d->next_avail == q->num) {
		d->next_avail = 0;
		d->avail_wrap = !d->avail_wrap;
	}
	d->count[id] = (uint16_t)n;
	d->order[d->posted++ % 64] = id;
	pd_set_flags(q, head, head_flags);
}

/* The spec's off-wrap event rule from the driver's side (for kicks) or the
 * device's (signals): did the cursor move from old to cur across event? Both
 * cursors are position | wrap << 15. */
static inline bool pd_event_passed(uint32_t num, uint16_t event, uint16_t cur, uint16_t old)
{
	/* on a line: the current lap from 0, the previous one (other wrap bit) below 0 */
	int64_t c = cur & 0x7fff;
	int64_t o = (int64_t)(old & 0x7fff) - ((old >> 15) != (cur >> 15) ? (int64_t)num : 0);
	int64_t e = (int64_t)(event & 0x7fff) - ((event >> 15) != (cur >> 15) ? (int64_t)num : 0);
	return o <= e && e < c;
}

static inline uint16_t pd_cursor(uint16_t pos, bool wrap)
{
	return (uint16_t)(pos | (wrap ? 0x8000 : 0));
}

/* After posting: kick or not, by the device's event suppression structure. */
static inline bool pd_should_kick(struct pdrv *d)
{
	struct q *q = d->q;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t off_wrap, flags;
	memcpy(&off_wrap, gmem(q, USED), 2);
	memcpy(&flags, gmem(q, USED) + 2, 2);
	uint16_t cur = pd_cursor(d->next_avail, d->avail_wrap), old = d->kicked_at;
	d->kicked_at = cur;
	if (flags == IOVIRT_RING_EVENT_FLAGS_DISABLE)
		return false;
	if (flags == IOVIRT_RING_EVENT_FLAGS_DESC)
		return pd_event_passed(q->num, off_wrap, cur, old);
	return true;
}

/* Takes one used descriptor: 1 with *id and *len, or 0. in_order: it stands
 * for every buffer posted up to id (the ring skips them all). */
static inline int pd_get_used(struct pdrv *d, bool in_order, uint32_t *id, uint32_t *len)
{
	struct q *q = d->q;
	uint16_t f;
	uint8_t *p = gmem(q, DESC) + d->next_used * 16;
	f = __atomic_load_n((uint16_t *)(void *)(p + 14), __ATOMIC_ACQUIRE);
	if (!!(f & P_AVAIL) != d->used_wrap || !!(f & P_USED) != d->used_wrap)
		return 0;
	uint16_t i;
	memcpy(&i, p + 12, 2);
	memcpy(len, p + 8, 4);
	*id = i;
	uint32_t skip = 0;
	if (in_order) {
		for (;;) {
			uint16_t t = d->order[d->taken++ % 64];
			skip += d->count[t];
			if (t == i)
				break;
		}
	} else {
		skip = d->count[i];
		d->taken++;
	}
	d->next_used = (uint16_t)(d->next_used + skip);
	if (d->next_used >= q->num) {
		d->next_used = (uint16_t)(d->next_used - q->num);
		d->used_wrap = !d->used_wrap;
	}
	return 1;
}

#endif
