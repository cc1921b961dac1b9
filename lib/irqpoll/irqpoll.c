/* SPDX-License-Identifier: MIT */
/* Interrupts mixed with polling: see include/iovirt/irqpoll.h. */
#include "iovirt/irqpoll.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "common/checked.h"

/* Who has the queue: the interrupt is armed, it fired and waits for the
 * handler, or the driver is polling with the interrupt masked. */
enum { ARMED = 0, FIRED = 1, POLLING = 2 };

struct iovirt_irqpoll {
	const struct iovirt_host_ops *ops;
	void *host;
	struct iovirt_irqpoll_params p;
	_Atomic uint32_t state;

	/* Device side (one thread), except that the driver side resets pending
	 * (polled) and deadline (recheck) when it re-arms: a device update racing
	 * the reset leaves a stale count or deadline, which can only make the
	 * next interrupt come early, never lose one (the hand-over is the CAS on
	 * state). */
	_Atomic uint64_t pending;  /* items notified since the interrupt was armed */
	_Atomic uint64_t deadline; /* deferred interrupt due, UINT64_MAX when none */
	uint64_t last_notify_ns;
	uint64_t ewma_gap_ns;      /* smoothed gap between notifications */
	_Atomic uint64_t coalesce_ns;

	/* Driver side (one thread). */
	uint64_t poll_start_ns;

	_Atomic uint64_t notified, irqs, deferred_irqs, polls, polled, empty_polls, rearms, races_closed;
};

static void bump(_Atomic uint64_t *c, uint64_t k)
{
	/* A counter with one writer thread: a relaxed load and store suffice. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + k, memory_order_relaxed);
}

/* irqs has two writers (the device's fire, the driver's level-triggered
 * recheck), which may run at once: a load and a store would lose counts. */
static void bump_shared(_Atomic uint64_t *c, uint64_t k)
{
	atomic_fetch_add_explicit(c, k, memory_order_relaxed);
}

int iovirt_irqpoll_create(const struct iovirt_host_ops *ops, void *host,
			  const struct iovirt_irqpoll_params *params, struct iovirt_irqpoll **out)
{
	if (!ops || !out)
		return IOVIRT_EINVAL;
	if (!IOVIRT_HOST_HAS(ops, mem_alloc) || !IOVIRT_HOST_HAS(ops, mem_free))
		return IOVIRT_ENOSYS;
	struct iovirt_irqpoll_params p = { .size = sizeof(p) };
	if (params) {
		/* version 1: every field through adaptive; a field appended later
		 * is read through IOVIRT_PARAMS_HAS, never past the caller's size */
		if (!IOVIRT_PARAMS_HAS(params, adaptive))
			return IOVIRT_EINVAL;
		memcpy(&p, params, IOVIRT_IRQPOLL_PARAMS_SIZE_V1);
		p.size = sizeof(p);
	}
	if (p.mode > IOVIRT_IRQPOLL_POLL || p.coalesce_min_ns > p.coalesce_max_ns || p.adaptive > 1)
		return IOVIRT_EINVAL;
	if (!p.budget)
		p.budget = 64;
	if (!p.poll_timeout_ns)
		p.poll_timeout_ns = 50000;
	if (!p.coalesce_frames)
		p.coalesce_frames = 32;
	struct iovirt_irqpoll *ip = ops->mem_alloc(host, sizeof(*ip), _Alignof(struct iovirt_irqpoll));
	if (!ip)
		return IOVIRT_ENOMEM;
	ip->ops = ops;
	ip->host = host;
	ip->p = p;
	atomic_init(&ip->state, p.mode == IOVIRT_IRQPOLL_POLL ? POLLING : ARMED);
	atomic_init(&ip->deadline, UINT64_MAX);
	atomic_init(&ip->coalesce_ns, p.coalesce_min_ns);
	*out = ip;
	return 0;
}

void iovirt_irqpoll_destroy(struct iovirt_irqpoll *ip)
{
	if (ip)
		ip->ops->mem_free(ip->host, ip, sizeof(*ip));
}

/* Armed -> fired, by whoever gets there first; true for the one that raised it. */
static bool fire(struct iovirt_irqpoll *ip)
{
	uint32_t s = ARMED;
	if (!atomic_compare_exchange_strong_explicit(&ip->state, &s, FIRED, memory_order_acq_rel,
						     memory_order_acquire))
		return false;
	atomic_store_explicit(&ip->deadline, UINT64_MAX, memory_order_relaxed);
	atomic_store_explicit(&ip->pending, 0, memory_order_relaxed);
	bump_shared(&ip->irqs, 1);
	return true;
}

/* The moderation delay for the next interrupt, from the arrival rate. */
static uint64_t adapt(struct iovirt_irqpoll *ip, uint64_t now)
{
	const struct iovirt_irqpoll_params *p = &ip->p;
	if (!p->adaptive || p->coalesce_max_ns == 0)
		return p->coalesce_min_ns;
	if (ip->last_notify_ns && now > ip->last_notify_ns) {
		uint64_t gap = now - ip->last_notify_ns;
		/* An exponentially weighted mean, 1/8 per sample, in integers. */
		ip->ewma_gap_ns = ip->ewma_gap_ns ? ip->ewma_gap_ns - (ip->ewma_gap_ns >> 3) + (gap >> 3) : gap;
	}
	/* Busy: wait about as long as `coalesce_frames` arrivals take. Quiet: as
	 * little as allowed, for latency. */
	uint64_t want;
	if (!iovirt_mul_ok(ip->ewma_gap_ns, p->coalesce_frames, &want) || want > p->coalesce_max_ns)
		want = p->coalesce_min_ns;
	else if (want < p->coalesce_min_ns)
		want = p->coalesce_min_ns;
	atomic_store_explicit(&ip->coalesce_ns, want, memory_order_relaxed);
	return want;
}

int iovirt_irqpoll_notify(struct iovirt_irqpoll *ip, uint32_t items, uint64_t now)
{
	/* The device published its work, then reads the state; the driver re-arms,
	 * then reads the ring. Without a full barrier on both sides each could miss
	 * the other's store (store buffering) and the work would wait for ever. */
	atomic_thread_fence(memory_order_seq_cst);
	bump(&ip->notified, items);
	const uint64_t delay = adapt(ip, now);
	ip->last_notify_ns = now;
	if (ip->p.mode == IOVIRT_IRQPOLL_POLL ||
	    atomic_load_explicit(&ip->state, memory_order_acquire) != ARMED)
		return 0;
	const uint64_t pending = atomic_load_explicit(&ip->pending, memory_order_relaxed) + items;
	atomic_store_explicit(&ip->pending, pending, memory_order_relaxed);
	if (delay == 0 || pending >= ip->p.coalesce_frames)
		return fire(ip);
	if (atomic_load_explicit(&ip->deadline, memory_order_relaxed) == UINT64_MAX) {
		uint64_t due;
		if (!iovirt_add_ok(now, delay, &due))
			due = UINT64_MAX - 1;
		atomic_store_explicit(&ip->deadline, due, memory_order_relaxed);
	}
	return 0;
}

int iovirt_irqpoll_tick(struct iovirt_irqpoll *ip, uint64_t now)
{
	if (now < atomic_load_explicit(&ip->deadline, memory_order_relaxed))
		return 0;
	if (!fire(ip)) {
		/* The driver is polling: it will see the work; no interrupt is owed. */
		atomic_store_explicit(&ip->deadline, UINT64_MAX, memory_order_relaxed);
		return 0;
	}
	bump(&ip->deferred_irqs, 1);
	return 1;
}

uint64_t iovirt_irqpoll_deadline(const struct iovirt_irqpoll *ip)
{
	return atomic_load_explicit(&((struct iovirt_irqpoll *)ip)->deadline, memory_order_relaxed);
}

void iovirt_irqpoll_irq(struct iovirt_irqpoll *ip, uint64_t now)
{
	/* From FIRED normally; from ARMED when the host raised it by other means. */
	atomic_store_explicit(&ip->state, POLLING, memory_order_release);
	ip->poll_start_ns = now;
}

uint32_t iovirt_irqpoll_budget(const struct iovirt_irqpoll *ip)
{
	return ip->p.budget;
}

enum iovirt_irqpoll_next iovirt_irqpoll_polled(struct iovirt_irqpoll *ip, uint32_t done, uint64_t now)
{
	bump(&ip->polls, 1);
	bump(&ip->polled, done);
	if (!done)
		bump(&ip->empty_polls, 1);
	switch (ip->p.mode) {
	case IOVIRT_IRQPOLL_POLL:
		return IOVIRT_IRQPOLL_AGAIN;
	case IOVIRT_IRQPOLL_NAPI:
		/* A full budget means more may be waiting: keep the interrupt off,
		 * unless this stretch has gone on for longer than allowed. */
		if (done >= ip->p.budget && now - ip->poll_start_ns < ip->p.poll_timeout_ns)
			return IOVIRT_IRQPOLL_AGAIN;
		break;
	default:
		break;
	}
	bump(&ip->rearms, 1);
	atomic_store_explicit(&ip->pending, 0, memory_order_relaxed);
	atomic_store_explicit(&ip->state, ARMED, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst); /* the caller's re-check reads the ring after this */
	return IOVIRT_IRQPOLL_REARM;
}

enum iovirt_irqpoll_next iovirt_irqpoll_recheck(struct iovirt_irqpoll *ip, int work_pending, uint64_t now)
{
	if (!work_pending)
		return IOVIRT_IRQPOLL_IDLE;
	/* Work slipped in before the interrupt was armed. Take the queue back
	 * unless the device already fired: then its interrupt brings us here. */
	uint32_t s = ARMED;
	if (!atomic_compare_exchange_strong_explicit(&ip->state, &s, POLLING, memory_order_acq_rel,
						     memory_order_acquire))
		return IOVIRT_IRQPOLL_IDLE;
	atomic_store_explicit(&ip->deadline, UINT64_MAX, memory_order_relaxed);
	if (ip->p.mode == IOVIRT_IRQPOLL_IRQ)
		bump_shared(&ip->irqs, 1); /* level-triggered: work left means the interrupt fires again */
	else
		bump(&ip->races_closed, 1);
	ip->poll_start_ns = now;
	return IOVIRT_IRQPOLL_AGAIN;
}

void iovirt_irqpoll_stats(const struct iovirt_irqpoll *cip, struct iovirt_irqpoll_stats *o)
{
	struct iovirt_irqpoll *ip = (struct iovirt_irqpoll *)cip;
	o->notified = atomic_load(&ip->notified);
	o->irqs = atomic_load(&ip->irqs);
	o->deferred_irqs = atomic_load(&ip->deferred_irqs);
	o->polls = atomic_load(&ip->polls);
	o->polled = atomic_load(&ip->polled);
	o->empty_polls = atomic_load(&ip->empty_polls);
	o->rearms = atomic_load(&ip->rearms);
	o->races_closed = atomic_load(&ip->races_closed);
	o->coalesce_ns = atomic_load(&ip->coalesce_ns);
}
