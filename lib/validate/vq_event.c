/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues, device side: notification suppression (the ring flags and
 * VIRTIO_F_EVENT_IDX), batched and in-order completions, and the hand-over to
 * lib/irqpoll that makes a backend's poll loop one call per step.
 */
#include "iovirt/irqpoll.h"
#include "validate/vq_internal.h"

static bool event_idx(const struct iovirt_vq *vq)
{
	return vq->flags & IOVIRT_VQ_F_EVENT_IDX;
}

int iovirt_vq_notify_disable(struct iovirt_vq *vq)
{
	if (vq_packed(vq))
		return vqp_notify(vq, false);
	/* With the event index nothing is written: avail_event stays where the
	 * last enable put it, so the driver kicks at most once more (when its
	 * index passes it), which a polling device tolerates (virtio lets the
	 * device leave avail_event alone). */
	if (event_idx(vq))
		return 0;
	return vq_ring_st16(vq, vq->used_hva, vq->used_gpa,
			    offsetof(struct iovirt_wire_vq_ring_hdr, flags),
			    IOVIRT_VRING_USED_F_NO_NOTIFY);
}

int iovirt_vq_notify_enable(struct iovirt_vq *vq)
{
	if (vq_packed(vq))
		return vqp_notify(vq, true);
	int err = event_idx(vq)
			  ? vq_ring_st16(vq, vq->used_hva, vq->used_gpa, vq_avail_event_off(vq->num),
					 vq->last_avail)
			  : vq_ring_st16(vq, vq->used_hva, vq->used_gpa,
					 offsetof(struct iovirt_wire_vq_ring_hdr, flags), 0);
	if (err)
		return err;
	/* The full barrier virtio asks between publishing avail_event (or
	 * clearing NO_NOTIFY) and reading avail idx again: without it the read
	 * may pass the store, the driver may read the old value, and a buffer
	 * posted in between would wait for a kick that never comes. */
	atomic_thread_fence(memory_order_seq_cst);
	return iovirt_vq_avail(vq);
}

int iovirt_vq_need_signal(struct iovirt_vq *vq)
{
	uint16_t v;
	if (vq_packed(vq))
		return vqp_need_signal(vq);
	/* virtio's full barrier between the used idx store and the read of the
	 * driver's flags or used_event: the two sides' store-then-load must not
	 * both miss the other's store. */
	atomic_thread_fence(memory_order_seq_cst);
	if (!event_idx(vq)) {
		if (vq_ring_ld16(vq, vq->avail_hva, vq->avail_gpa,
				 offsetof(struct iovirt_wire_vq_ring_hdr, flags), &v))
			return IOVIRT_EGUEST;
		return !(v & IOVIRT_VRING_AVAIL_F_NO_INTERRUPT);
	}
	uint16_t old = vq->signalled_used, cur = vq->used_idx;
	bool valid = vq->signalled_valid;
	/* the first decision after create or set_cursors has no old value to
	 * compare with: signal (never lose an interrupt) */
	if (valid && vq_ring_ld16(vq, vq->avail_hva, vq->avail_gpa, vq_used_event_off(vq->num), &v))
		return IOVIRT_EGUEST;
	vq->signalled_used = cur;
	vq->signalled_valid = true;
	return !valid || iovirt_vring_need_event(v, cur, old);
}

/* Checks a batch of completions before anything is written: 0 or the refusal. */
static int batch_check(const struct iovirt_vq *vq, const struct iovirt_vq_used *e, uint32_t n,
		       uint32_t chains)
{
	if (!vq || (n && !e) || n > vq->num)
		return IOVIRT_EINVAL;
	for (uint32_t k = 0; k < n; k++)
		if (e[k].id >= vq->num)
			return IOVIRT_EINDEX;
	/* completions never outnumber the chains taken */
	if (chains > vq_in_flight(vq))
		return IOVIRT_ENOENT;
	return 0;
}

/*
 * Used elements e[0 .. n) into consecutive slots from p (a directly
 * accessed used ring): each element one 8-byte store (le32 id, then le32
 * len; the slots are 8-byte aligned), so each field is written once.
 */
static inline void used_elem_store(uint8_t *p, const struct iovirt_vq_used *e)
{
	__atomic_store_n((uint64_t *)(void *)p, VQ_LE64((uint64_t)e->id | (uint64_t)e->len << 32),
			 __ATOMIC_RELAXED);
}

static inline void used_run_store(uint8_t *p, const struct iovirt_vq_used *e, uint32_t n)
{
	static_assert(offsetof(struct iovirt_wire_vq_used_elem, id) == 0 &&
			      offsetof(struct iovirt_wire_vq_used_elem, len) == 4 &&
			      IOVIRT_WIRE_VQ_USED_ELEM_SIZE == 8,
		      "a used element is le32 id, le32 len");
	uint32_t k = 0;
	/* four at a time: a batch is usually a burst's worth of chains */
	for (; n - k >= 4; k += 4, p += 4 * IOVIRT_WIRE_VQ_USED_ELEM_SIZE) {
		used_elem_store(p, &e[k]);
		used_elem_store(p + IOVIRT_WIRE_VQ_USED_ELEM_SIZE, &e[k + 1]);
		used_elem_store(p + 2 * IOVIRT_WIRE_VQ_USED_ELEM_SIZE, &e[k + 2]);
		used_elem_store(p + 3 * IOVIRT_WIRE_VQ_USED_ELEM_SIZE, &e[k + 3]);
	}
	for (; k < n; k++, p += IOVIRT_WIRE_VQ_USED_ELEM_SIZE)
		used_elem_store(p, &e[k]);
}

/*
 * push_used_batch of a split queue whose used ring is accessed directly
 * (vq->used_direct): batch_check's checks in its order (num is a power of
 * two: an id is below num exactly when it has no bit above num - 1, so one
 * OR of the ids tells whether any is not), then the stores inline. e is not
 * NULL or n is 0; n <= num.
 */
static int push_batch_direct(struct iovirt_vq *vq, const struct iovirt_vq_used *e, uint32_t n)
{
	const uint32_t mask = vq->num - 1;
	uint32_t ids = 0;
	for (uint32_t k = 0; k < n; k++)
		ids |= e[k].id;
	if (ids & ~mask)
		return IOVIRT_EINDEX;
	if (n > vq_in_flight(vq))
		return IOVIRT_ENOENT;
	if (n == 0)
		return 0;
	const uint16_t u = vq->used_idx;
	uint8_t *ring = vq->used_hva + iovirt_wire_vq_used_slot_off(0);
	/* from slot u to the ring's end, then from its start */
	uint32_t at = u & mask, first = n < vq->num - at ? n : vq->num - at;
	used_run_store(ring + (size_t)at * IOVIRT_WIRE_VQ_USED_ELEM_SIZE, e, first);
	used_run_store(ring, e + first, n - first);
	/* the elements must be visible before the index that publishes them */
	atomic_thread_fence(memory_order_release);
	vq_st16(vq->used_hva + IOVIRT_WIRE_VQ_RING_IDX_OFF, (uint16_t)(u + n));
	vq->used_idx = (uint16_t)(u + n);
	return 0;
}

int iovirt_vq_push_used_batch(struct iovirt_vq *vq, const struct iovirt_vq_used *e, uint32_t n)
{
	if (IOVIRT_LIKELY(vq && vq->used_direct && (e || !n) && n <= vq->num))
		return push_batch_direct(vq, e, n);
	if (vq && vq_packed(vq))
		return !e && n ? IOVIRT_EINVAL : n > vq->num ? IOVIRT_EINVAL : vqp_push(vq, e, n);
	int err = batch_check(vq, e, n, n);
	if (err || n == 0)
		return err;
	for (uint32_t k = 0; k < n; k++) {
		struct iovirt_wire_vq_used_elem w = { .id = e[k].id, .len = e[k].len };
		if (vq_used_elem_store(vq, (vq->used_idx + k) & (vq->num - 1), w))
			return IOVIRT_EGUEST;
	}
	return vq_used_idx_publish(vq, (uint16_t)(vq->used_idx + n));
}

int iovirt_vq_push_used_in_order(struct iovirt_vq *vq, uint32_t id, uint32_t len, uint32_t count)
{
	struct iovirt_vq_used one = { id, len };
	if (!vq || !(vq->flags & IOVIRT_VQ_F_IN_ORDER) || count == 0)
		return IOVIRT_EINVAL;
	if (vq_packed(vq))
		return vqp_push_in_order(vq, id, len, count);
	int err = batch_check(vq, &one, 1, count);
	if (err)
		return err;
	/* virtio (in-order, split): one element naming the batch's last buffer,
	 * written at the first slot; the ring then skips forward by the batch */
	struct iovirt_wire_vq_used_elem w = { .id = id, .len = len };
	if (vq_used_elem_store(vq, vq->used_idx & (vq->num - 1), w))
		return IOVIRT_EGUEST;
	return vq_used_idx_publish(vq, (uint16_t)(vq->used_idx + count));
}

int iovirt_vq_kicked(struct iovirt_vq *vq, struct iovirt_irqpoll *ip, uint64_t now_ns)
{
	if (!vq || !ip)
		return IOVIRT_EINVAL;
	int err = iovirt_vq_notify_disable(vq);
	if (err)
		return err;
	iovirt_irqpoll_irq(ip, now_ns);
	return 0;
}

int iovirt_vq_polled(struct iovirt_vq *vq, struct iovirt_irqpoll *ip, uint32_t done,
		     uint64_t now_ns)
{
	if (!vq || !ip)
		return IOVIRT_EINVAL;
	enum iovirt_irqpoll_next next = iovirt_irqpoll_polled(ip, done, now_ns);
	if (next != IOVIRT_IRQPOLL_REARM)
		return (int)next;
	/* notifications on, then the re-check: a chain posted before the enable
	 * was visible is seen here, so none waits for a kick that never comes */
	int n = iovirt_vq_notify_enable(vq);
	if (n < 0) {
		/* polling goes on: the ring is not trusted to kick now */
		iovirt_irqpoll_irq(ip, now_ns);
		return n;
	}
	next = iovirt_irqpoll_recheck(ip, n > 0, now_ns);
	if (next == IOVIRT_IRQPOLL_AGAIN) {
		int err = iovirt_vq_notify_disable(vq);
		if (err)
			return err;
	}
	return (int)next;
}
