/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues with notification suppression, batched and in-order
 * completions and direct ring access, against the driver side of vdrv.h.
 */
#include "iovirt/irqpoll.h"
#include "vdrv.h"

struct rt {
	uint32_t flags;
	bool indirect;
	uint32_t rounds;
	uint16_t start;
};

/* One round: the driver posts k chains and decides on a kick; the device
 * takes them and completes them as a batch; the driver takes them back. */
static void rt_round(struct q *q, struct vdrv *d, const struct rt *c, uint64_t *rng,
		     bool *first, uint16_t *old_used)
{
	uint32_t k = 1 + (uint32_t)(th_rand(rng) % (q->num / 2));
	bool enabled = th_rand(rng) & 1;
	/* the device was idle: it either sleeps (notifications on) or polls */
	int n = enabled ? iovirt_vq_notify_enable(q->vq) : iovirt_vq_notify_disable(q->vq);
	cr_assert_eq(n, 0);
	uint16_t heads[16];
	uint32_t body[16];
	for (uint32_t j = 0; j < k; j++) {
		heads[j] = (uint16_t)(2 * ((d->posted) % (q->num / 2)));
		body[j] = 1 + (uint32_t)(th_rand(rng) % 128);
		vd_post(d, heads[j], c->indirect, body[j]);
	}
	bool kick = vd_should_kick(d);
	/* notifications on and the device idle: the driver must kick (else the
	 * chains would wait forever); off without event index: it must not */
	if (enabled)
		cr_assert(kick, "no kick for a sleeping device");
	else if (!(c->flags & IOVIRT_VQ_F_EVENT_IDX))
		cr_assert(!kick, "kick while the device polls");
	struct iovirt_vq_used done[16];
	for (uint32_t j = 0; j < k; j++) {
		struct iovirt_host_seg out[16];
		struct iovirt_dma_result res;
		cr_assert_eq(pop(q, out, &res), 2, "pop %u: %d", j, res.err);
		cr_assert_eq(res.head, heads[j]);
		cr_assert_eq(out[0].gpa, vd_hdr(heads[j]));
		cr_assert_eq(out[0].len, 64);
		cr_assert_eq(out[1].len, body[j]);
		cr_assert_eq(out[1].dir, IOVIRT_DEV_WRITE);
		done[j] = (struct iovirt_vq_used){ heads[j], body[j] };
	}
	struct iovirt_host_seg none[16];
	cr_assert_eq(pop(q, none, NULL), 0);
	/* the driver asks for an interrupt at some used index */
	uint16_t want = (uint16_t)(d->last_used + th_rand(rng) % (2 * k + 1));
	vd_st16(q, USED_EVENT(q), want);
	uint16_t flags = th_rand(rng) & 1 ? IOVIRT_VRING_AVAIL_F_NO_INTERRUPT : 0;
	vd_st16(q, AVAIL, flags);
	if (c->flags & IOVIRT_VQ_F_IN_ORDER)
		cr_assert_eq(iovirt_vq_push_used_in_order(q->vq, heads[k - 1], body[k - 1], k), 0);
	else
		cr_assert_eq(iovirt_vq_push_used_batch(q->vq, done, k), 0);
	uint16_t now = iovirt_vq_used_idx(q->vq);
	int sig = iovirt_vq_need_signal(q->vq);
	bool expect = (c->flags & IOVIRT_VQ_F_EVENT_IDX)
			      ? (*first || vd_need_event(want, now, *old_used))
			      : !(flags & IOVIRT_VRING_AVAIL_F_NO_INTERRUPT);
	cr_assert_eq(sig, expect, "signal %d at used %u (event %u, old %u)", sig, now, want,
		     *old_used);
	*first = false;
	*old_used = now;
	/* the driver sees the batch */
	if (c->flags & IOVIRT_VQ_F_IN_ORDER) {
		uint32_t id, len;
		cr_assert_eq(vd_get_used(d, &id, &len), 1);
		cr_assert_eq(id, heads[k - 1]);
		cr_assert_eq(len, body[k - 1]);
		d->last_used = (uint16_t)(d->last_used + k - 1); /* the ring skips the batch */
		cr_assert_eq(vd_ld16(q, USED + 2), d->last_used);
	} else {
		for (uint32_t j = 0; j < k; j++) {
			uint32_t id, len;
			cr_assert_eq(vd_get_used(d, &id, &len), 1);
			cr_assert_eq(id, heads[j]);
			cr_assert_eq(len, body[j]);
		}
	}
	uint32_t id, len;
	cr_assert_eq(vd_get_used(d, &id, &len), 0);
}

static void round_trip(const struct rt *c)
{
	struct q q;
	q_init_num(&q, c->flags, 8);
	struct vdrv d;
	vd_init(&d, &q, c->flags & IOVIRT_VQ_F_EVENT_IDX, c->start);
	uint64_t rng = 0x5eed + c->flags;
	bool first = true;
	uint16_t old_used = c->start;
	for (uint32_t r = 0; r < c->rounds; r++)
		rt_round(&q, &d, c, &rng, &first, &old_used);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), d.avail_idx);
	cr_assert_eq(iovirt_vq_used_idx(q.vq), d.last_used);
	q_fini(&q);
}

/* The rounds cross the 16-bit index wrap-around (40,000 rounds of 1..4 chains from 65,000). */
#define ROUNDS 40000u

// Round trips through the callbacks, no suppression feature: kicks follow NO_NOTIFY, signals NO_INTERRUPT.
Test(vq_event, round_trip_flags)
{
	round_trip(&(struct rt){ 0, false, ROUNDS, 65000 });
}

// Round trips with the event index: every kick and signal decision is the spec's rule on the fields.
Test(vq_event, round_trip_event_idx)
{
	round_trip(&(struct rt){ IOVIRT_VQ_F_EVENT_IDX, false, ROUNDS, 65000 });
}

// Round trips with direct ring access and indirect tables and the event index.
Test(vq_event, round_trip_direct_indirect)
{
	round_trip(&(struct rt){ IOVIRT_VQ_F_DIRECT | IOVIRT_VQ_F_INDIRECT | IOVIRT_VQ_F_EVENT_IDX,
				 true, ROUNDS, 65000 });
}

// Round trips with direct access and flags (no event index), tables in the descriptor ring.
Test(vq_event, round_trip_direct)
{
	round_trip(&(struct rt){ IOVIRT_VQ_F_DIRECT, false, ROUNDS, 1 });
}

// In-order completion: one used element per batch, naming its last chain; idx advances by the batch.
Test(vq_event, round_trip_in_order)
{
	round_trip(&(struct rt){ IOVIRT_VQ_F_IN_ORDER | IOVIRT_VQ_F_EVENT_IDX, false, ROUNDS, 65500 });
}

// Direct in-order with indirect tables.
Test(vq_event, round_trip_direct_in_order)
{
	round_trip(&(struct rt){ IOVIRT_VQ_F_DIRECT | IOVIRT_VQ_F_IN_ORDER | IOVIRT_VQ_F_INDIRECT,
				 true, ROUNDS, 65500 });
}

// Direct access reads no ring field through guest_read and writes none through guest_write.
Test(vq_event, direct_no_callbacks)
{
	struct q q;
	q_init_num(&q, IOVIRT_VQ_F_DIRECT | IOVIRT_VQ_F_EVENT_IDX | IOVIRT_VQ_F_INDIRECT, 8);
	struct vdrv d;
	vd_init(&d, &q, true, 0);
	uint64_t r0 = iovirt_posix_count(q.t.p, IOVIRT_CB_GUEST_READ);
	uint64_t w0 = iovirt_posix_count(q.t.p, IOVIRT_CB_GUEST_WRITE);
	vd_post(&d, 0, true, 10);
	vd_post(&d, 2, false, 10);
	struct iovirt_host_seg out[4];
	cr_assert_eq(pop(&q, out, NULL), 2);
	cr_assert_eq(pop(&q, out, NULL), 2);
	struct iovirt_vq_used u[2] = { { 0, 10 }, { 2, 10 } };
	cr_assert_eq(iovirt_vq_push_used_batch(q.vq, u, 2), 0);
	cr_assert_eq(iovirt_vq_need_signal(q.vq), 1);
	cr_assert_eq(iovirt_vq_need_signal(q.vq), 0);
	cr_assert_eq(iovirt_vq_notify_enable(q.vq), 0);
	cr_assert_eq(iovirt_posix_count(q.t.p, IOVIRT_CB_GUEST_READ), r0);
	cr_assert_eq(iovirt_posix_count(q.t.p, IOVIRT_CB_GUEST_WRITE), w0);
	q_fini(&q);
}

// A direct queue needs a map: without one, create refuses it; unknown flags too.
Test(vq_event, direct_needs_map)
{
	struct vt t;
	vt_init(&t);
	struct iovirt_vq *vq = NULL;
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = 8,
				      .flags = IOVIRT_VQ_F_DIRECT, .desc_gpa = DESC,
				      .avail_gpa = AVAIL, .used_gpa = USED };
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &vq), IOVIRT_EINVAL);
	p.flags = IOVIRT_VQ_F_ALL + 1;
	p.map = t.map;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &vq), IOVIRT_EINVAL);
	cr_assert_null(vq);
	vt_fini(&t);
}

struct ev_rewrite {
	struct q *q;
	uint64_t gpa;
	uint16_t to;
	int reads;
};

static void ev_hook(void *arg, uint32_t guest, uint64_t gpa, size_t len)
{
	struct ev_rewrite *c = arg;
	(void)guest;
	(void)len;
	if (gpa == c->gpa) {
		c->reads++;
		vd_st16(c->q, gpa, c->to);
	}
}

// need_signal decides from used_event as read once: the guest rewriting it after the read changes nothing.
Test(vq_event, used_event_read_once)
{
	struct q q;
	q_init_num(&q, IOVIRT_VQ_F_EVENT_IDX, 8);
	struct vdrv d;
	vd_init(&d, &q, true, 0);
	struct iovirt_host_seg out[4];
	vd_post(&d, 0, false, 8);
	vd_post(&d, 2, false, 8);
	cr_assert_eq(pop(&q, out, NULL), 2);
	cr_assert_eq(pop(&q, out, NULL), 2);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 8), 0);
	cr_assert_eq(iovirt_vq_need_signal(q.vq), 1); /* first decision */
	cr_assert_eq(iovirt_vq_push_used(q.vq, 2, 8), 0);
	/* used_event = 5: no signal for 1 -> 2; the guest then claims 1 (signal) */
	vd_st16(&q, USED_EVENT(&q), 5);
	struct ev_rewrite c = { &q, USED_EVENT(&q), 1, 0 };
	iovirt_posix_set_read_hook(q.t.p, ev_hook, &c);
	cr_assert_eq(iovirt_vq_need_signal(q.vq), 0);
	iovirt_posix_set_read_hook(q.t.p, NULL, NULL);
	cr_assert_eq(c.reads, 1);
	q_fini(&q);
}

// avail->flags is read once by need_signal without event index.
Test(vq_event, avail_flags_read_once)
{
	struct q q;
	q_init_num(&q, 0, 8);
	vd_st16(&q, AVAIL, IOVIRT_VRING_AVAIL_F_NO_INTERRUPT);
	struct ev_rewrite c = { &q, AVAIL, 0, 0 };
	iovirt_posix_set_read_hook(q.t.p, ev_hook, &c);
	cr_assert_eq(iovirt_vq_need_signal(q.vq), 0);
	iovirt_posix_set_read_hook(q.t.p, NULL, NULL);
	cr_assert_eq(c.reads, 1);
	q_fini(&q);
}

// notify_enable writes avail_event = the device's next position, and counts chains posted meanwhile.
Test(vq_event, enable_rechecks)
{
	struct q q;
	q_init_num(&q, IOVIRT_VQ_F_EVENT_IDX, 8);
	struct vdrv d;
	vd_init(&d, &q, true, 100);
	cr_assert_eq(iovirt_vq_notify_disable(q.vq), 0);
	vd_post(&d, 0, false, 8);
	vd_post(&d, 2, false, 8);
	cr_assert_eq(iovirt_vq_notify_enable(q.vq), 2);
	cr_assert_eq(vd_ld16(&q, AVAIL_EVENT(&q)), 100);
	struct iovirt_host_seg out[4];
	cr_assert_eq(pop(&q, out, NULL), 2);
	cr_assert_eq(iovirt_vq_notify_enable(q.vq), 1);
	cr_assert_eq(vd_ld16(&q, AVAIL_EVENT(&q)), 101);
	q_fini(&q);
}

// Without event index, disable sets NO_NOTIFY and enable clears it.
Test(vq_event, flags_disable_enable)
{
	struct q q;
	q_init_num(&q, 0, 8);
	cr_assert_eq(iovirt_vq_notify_disable(q.vq), 0);
	cr_assert_eq(vd_ld16(&q, USED), IOVIRT_VRING_USED_F_NO_NOTIFY);
	cr_assert_eq(iovirt_vq_notify_enable(q.vq), 0);
	cr_assert_eq(vd_ld16(&q, USED), 0);
	q_fini(&q);
}

// Batch refusals: bad arguments, an id >= num, more completions than chains in flight; nothing written.
Test(vq_event, batch_refusals)
{
	struct q q;
	q_init_num(&q, 0, 8);
	struct vdrv d;
	vd_init(&d, &q, false, 0);
	vd_post(&d, 0, false, 8);
	struct iovirt_host_seg out[4];
	cr_assert_eq(pop(&q, out, NULL), 2);
	struct iovirt_vq_used u[2] = { { 0, 8 }, { 8, 8 } };
	uint8_t before[4 + 8 * 8];
	memcpy(before, gmem(&q, USED), sizeof(before));
	cr_assert_eq(iovirt_vq_push_used_batch(NULL, u, 1), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_push_used_batch(q.vq, NULL, 1), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_push_used_batch(q.vq, u, 9), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_push_used_batch(q.vq, u, 2), IOVIRT_EINDEX);
	u[1].id = 2;
	cr_assert_eq(iovirt_vq_push_used_batch(q.vq, u, 2), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_vq_push_used_in_order(q.vq, 0, 8, 1), IOVIRT_EINVAL); /* no IN_ORDER */
	cr_assert_eq(memcmp(before, gmem(&q, USED), sizeof(before)), 0);
	cr_assert_eq(iovirt_vq_push_used_batch(q.vq, u, 0), 0);
	cr_assert_eq(iovirt_vq_push_used_batch(q.vq, u, 1), 0);
	cr_assert_eq(used_idx_in_guest(&q), 1);
	q_fini(&q);
}

// In-order refusals: count 0, id >= num, count above the chains in flight.
Test(vq_event, in_order_refusals)
{
	struct q q;
	q_init_num(&q, IOVIRT_VQ_F_IN_ORDER, 8);
	struct vdrv d;
	vd_init(&d, &q, false, 0);
	vd_post(&d, 0, false, 8);
	struct iovirt_host_seg out[4];
	cr_assert_eq(pop(&q, out, NULL), 2);
	cr_assert_eq(iovirt_vq_push_used_in_order(NULL, 0, 8, 1), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_push_used_in_order(q.vq, 0, 8, 0), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_push_used_in_order(q.vq, 8, 8, 1), IOVIRT_EINDEX);
	cr_assert_eq(iovirt_vq_push_used_in_order(q.vq, 0, 8, 2), IOVIRT_ENOENT);
	cr_assert_eq(used_idx_in_guest(&q), 0);
	q_fini(&q);
}

/* A queue whose rings lie outside the guest's memory: every ring access fails. */
static struct iovirt_vq *vq_nowhere(struct vt *t, uint32_t flags)
{
	struct iovirt_vq *vq;
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = 8,
				      .flags = flags, .desc_gpa = 0x10000000,
				      .avail_gpa = 0x10001000, .used_gpa = 0x10002000 };
	cr_assert_eq(iovirt_vq_create(t->ops, t->p, &p, &vq), 0);
	return vq;
}

// A guest access that fails is IOVIRT_EGUEST from every suppression and completion call; cursors stay.
Test(vq_event, guest_faults)
{
	struct vt t;
	vt_init(&t);
	for (uint32_t f = 0; f <= IOVIRT_VQ_F_EVENT_IDX; f += IOVIRT_VQ_F_EVENT_IDX) {
		struct iovirt_vq *vq = vq_nowhere(&t, f | IOVIRT_VQ_F_IN_ORDER);
		iovirt_vq_set_cursors(vq, 2, 0);
		struct iovirt_vq_used u = { 0, 1 };
		cr_assert_eq(iovirt_vq_notify_enable(vq), IOVIRT_EGUEST);
		cr_assert_eq(iovirt_vq_notify_disable(vq), f ? 0 : IOVIRT_EGUEST);
		cr_assert_eq(iovirt_vq_push_used_batch(vq, &u, 1), IOVIRT_EGUEST);
		cr_assert_eq(iovirt_vq_push_used_in_order(vq, 0, 1, 2), IOVIRT_EGUEST);
		cr_assert_eq(iovirt_vq_used_idx(vq), 0);
		/* the first event-index decision reads nothing: it signals */
		cr_assert_eq(iovirt_vq_need_signal(vq), f ? 1 : IOVIRT_EGUEST);
		cr_assert_eq(iovirt_vq_need_signal(vq), IOVIRT_EGUEST);
		iovirt_vq_destroy(vq);
	}
	vt_fini(&t);
}

// The poll loop on irqpoll: a chain posted while polling is found by the re-check (AGAIN, notifications
// off again); an empty re-check leaves notifications on and the loop idle.
Test(vq_event, irqpoll_loop)
{
	struct q q;
	q_init_num(&q, 0, 8);
	struct vdrv d;
	vd_init(&d, &q, false, 0);
	struct iovirt_irqpoll *ip;
	struct iovirt_irqpoll_params pp = { .size = sizeof(pp), .mode = IOVIRT_IRQPOLL_NAPI };
	cr_assert_eq(iovirt_irqpoll_create(q.t.ops, q.t.p, &pp, &ip), 0);
	cr_assert_eq(iovirt_vq_kicked(NULL, ip, 0), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_polled(q.vq, NULL, 0, 0), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_kicked(q.vq, ip, 1), 0);
	cr_assert_eq(vd_ld16(&q, USED), IOVIRT_VRING_USED_F_NO_NOTIFY);
	vd_post(&d, 0, false, 8);
	cr_assert(!vd_should_kick(&d));
	/* the device polled nothing (it missed the chain): the re-check finds it */
	cr_assert_eq(iovirt_vq_polled(q.vq, ip, 0, 2), IOVIRT_IRQPOLL_AGAIN);
	cr_assert_eq(vd_ld16(&q, USED), IOVIRT_VRING_USED_F_NO_NOTIFY);
	struct iovirt_host_seg out[4];
	cr_assert_eq(pop(&q, out, NULL), 2);
	cr_assert_eq(iovirt_vq_polled(q.vq, ip, 1, 3), IOVIRT_IRQPOLL_IDLE);
	cr_assert_eq(vd_ld16(&q, USED), 0);
	struct iovirt_irqpoll_stats st;
	iovirt_irqpoll_stats(ip, &st);
	cr_assert_eq(st.races_closed, 1);
	iovirt_irqpoll_destroy(ip);
	q_fini(&q);
}

// polled passes on a re-check that cannot read the ring, with the irqpoll polling again.
Test(vq_event, irqpoll_fault)
{
	struct vt t;
	vt_init(&t);
	struct iovirt_vq *vq = vq_nowhere(&t, IOVIRT_VQ_F_EVENT_IDX);
	struct iovirt_irqpoll *ip;
	struct iovirt_irqpoll_params pp = { .size = sizeof(pp), .mode = IOVIRT_IRQPOLL_NAPI };
	cr_assert_eq(iovirt_irqpoll_create(t.ops, t.p, &pp, &ip), 0);
	cr_assert_eq(iovirt_vq_kicked(vq, ip, 1), 0);
	cr_assert_eq(iovirt_vq_polled(vq, ip, 0, 2), IOVIRT_EGUEST);
	iovirt_irqpoll_destroy(ip);
	iovirt_vq_destroy(vq);
	vt_fini(&t);
}
