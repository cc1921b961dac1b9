/* SPDX-License-Identifier: MIT */
/* Packed virtqueues against the driver side of pdrv.h. */
#include "pdrv.h"
#include "validate/vq_internal.h" /* in_order_counter_wrap: the counters */

#define PF IOVIRT_VQ_F_PACKED

static void pq_init(struct q *q, uint32_t flags, uint32_t num)
{
	q_init_num(q, flags | PF, num);
}

struct prt {
	uint32_t flags, num, rounds;
	bool indirect;
};

/* One round: k buffers posted, taken, completed (out of order: reversed, or
 * in order with one used descriptor), seen by the driver; kick and signal
 * decisions checked against the spec's rules. */
static void prt_round(struct q *q, struct pdrv *d, const struct prt *c, uint64_t *rng,
		      bool *first, uint16_t *old_used, uint32_t *next_id)
{
	uint32_t per = c->indirect ? 1 : 2;
	uint32_t k = 1 + (uint32_t)(th_rand(rng) % (q->num / per));
	bool enabled = th_rand(rng) & 1;
	int n = enabled ? iovirt_vq_notify_enable(q->vq) : iovirt_vq_notify_disable(q->vq);
	cr_assert_eq(n, 0);
	uint16_t ids[64];
	uint32_t body[64];
	for (uint32_t j = 0; j < k; j++) {
		ids[j] = (uint16_t)(*next_id % q->num);
		(*next_id)++;
		body[j] = 1 + (uint32_t)(th_rand(rng) % 128);
		pd_post(d, ids[j], c->indirect, body[j]);
	}
	bool kick = pd_should_kick(d);
	if (enabled)
		cr_assert(kick, "no kick for a sleeping device");
	else
		cr_assert(!kick, "kick while the device polls");
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	for (uint32_t j = 0; j < k; j++) {
		uint32_t tl; memcpy(&tl, gmem(q, IND + ids[j] * 32ull + 24), 4);
		cr_assert_eq(pop(q, out, &res), 2, "pop %u: %s at %u", j, iovirt_err_name(res.err), res.desc);
		cr_assert(!c->indirect || tl == body[j], "table len %u before pop, id %u", tl, ids[j]);
		cr_assert_eq(res.head, ids[j]);
		cr_assert_eq(out[0].gpa, pd_hdr(ids[j]));
		cr_assert_eq(out[1].len, body[j], "j %u k %u id %u: len %llu gpa %#llx, want %u", j, k, ids[j], (unsigned long long)out[1].len, (unsigned long long)out[1].gpa, body[j]);
		cr_assert_eq(out[1].dir, IOVIRT_DEV_WRITE);
	}
	cr_assert_eq(pop(q, out, &res), 0);
	/* the driver's event structure: a random choice of the three */
	uint16_t ev_flags = (uint16_t)(th_rand(rng) % 3);
	uint16_t ev_off = (uint16_t)(th_rand(rng) % q->num);
	uint16_t ev = (uint16_t)(ev_off | (th_rand(rng) & 1 ? 0x8000 : 0));
	memcpy(gmem(q, AVAIL), &ev, 2);
	memcpy(gmem(q, AVAIL) + 2, &ev_flags, 2);
	bool in_order = c->flags & IOVIRT_VQ_F_IN_ORDER;
	if (in_order) {
		cr_assert_eq(iovirt_vq_push_used_in_order(q->vq, ids[k - 1], body[k - 1], k), 0);
	} else {
		struct iovirt_vq_used u[64];
		for (uint32_t j = 0; j < k; j++) /* reversed: out of order */
			u[j] = (struct iovirt_vq_used){ ids[k - 1 - j], body[k - 1 - j] };
		cr_assert_eq(iovirt_vq_push_used_batch(q->vq, u, k), 0);
	}
	uint16_t now = iovirt_vq_used_idx(q->vq);
	int sig = iovirt_vq_need_signal(q->vq);
	bool expect = ev_flags == IOVIRT_RING_EVENT_FLAGS_DISABLE ? false
		      : ev_flags == IOVIRT_RING_EVENT_FLAGS_ENABLE ? true
		      : !(c->flags & IOVIRT_VQ_F_EVENT_IDX) || *first ||
				pd_event_passed(q->num, ev, now, *old_used);
	cr_assert_eq(sig, expect, "signal %d: flags %u event %#x used %#x old %#x", sig, ev_flags,
		     ev, now, *old_used);
	*first = false;
	*old_used = now;
	uint32_t id, len;
	if (in_order) {
		cr_assert_eq(pd_get_used(d, true, &id, &len), 1);
		cr_assert_eq(id, ids[k - 1]);
		cr_assert_eq(len, body[k - 1]);
	} else {
		for (uint32_t j = 0; j < k; j++) {
			cr_assert_eq(pd_get_used(d, false, &id, &len), 1, "used %u", j);
			cr_assert_eq(id, ids[k - 1 - j]);
			cr_assert_eq(len, body[k - 1 - j]);
		}
	}
	cr_assert_eq(pd_get_used(d, in_order, &id, &len), 0);
	cr_assert_eq(now, pd_cursor(d->next_used, d->used_wrap));
}

static void packed_round_trip(const struct prt *c)
{
	struct q q;
	pq_init(&q, c->flags, c->num);
	struct pdrv d;
	pd_init(&d, &q);
	uint64_t rng = 0xfeed + c->flags + c->num;
	bool first = true;
	uint16_t old_used = 0x8000;
	uint32_t next_id = 0;
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 0x8000, "the wrap counters start at 1");
	for (uint32_t r = 0; r < c->rounds; r++)
		prt_round(&q, &d, c, &rng, &first, &old_used, &next_id);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), pd_cursor(d.next_avail, d.avail_wrap));
	q_fini(&q);
}

#define PROUNDS 20000u

// Packed round trips through callbacks, out-of-order completion, with the event index, size 8.
Test(vq_packed, round_trip_event_idx)
{
	packed_round_trip(&(struct prt){ IOVIRT_VQ_F_EVENT_IDX, 8, PROUNDS, false });
}

// Packed round trips on a ring whose size is not a power of two (6), flags only (no event index).
Test(vq_packed, round_trip_size_6)
{
	packed_round_trip(&(struct prt){ 0, 6, PROUNDS, false });
}

// Packed round trips with direct access and indirect tables, event index, size 7.
Test(vq_packed, round_trip_direct_indirect)
{
	packed_round_trip(&(struct prt){ IOVIRT_VQ_F_DIRECT | IOVIRT_VQ_F_INDIRECT |
						 IOVIRT_VQ_F_EVENT_IDX, 7, PROUNDS, true });
}

// Packed in-order completion: one used descriptor per batch naming its last buffer.
Test(vq_packed, round_trip_in_order)
{
	packed_round_trip(&(struct prt){ IOVIRT_VQ_F_IN_ORDER | IOVIRT_VQ_F_EVENT_IDX, 8, PROUNDS,
					 false });
}

// Packed in-order, direct, indirect.
Test(vq_packed, round_trip_direct_in_order_indirect)
{
	packed_round_trip(&(struct prt){ IOVIRT_VQ_F_IN_ORDER | IOVIRT_VQ_F_DIRECT |
						 IOVIRT_VQ_F_INDIRECT, 5, PROUNDS, true });
}

/* One available descriptor at pos under wrap (the driver's raw write). */
static void raw(struct q *q, uint16_t pos, uint64_t addr, uint32_t len, uint16_t id, uint16_t f)
{
	pd_desc(q, pos, addr, len, id);
	pd_set_flags(q, pos, f);
}

#define AV P_AVAIL /* available under wrap counter 1 */

// Refusals of the chain's shape and ID, each naming the ring position; nothing changes.
Test(vq_packed, refusals)
{
	struct q q;
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	pq_init(&q, 0, 4);
	/* a continuation not available under the wrap counter */
	raw(&q, 1, G(1), 8, 0, P_USED | F_WRITE);
	raw(&q, 0, G(0), 8, 0, AV | F_NEXT);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EWRAP);
	cr_assert_eq(res.desc, 1);
	cr_assert_eq(iovirt_vq_skip(q.vq), IOVIRT_EWRAP);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 0x8000);
	/* every descriptor with NEXT: longer than the ring */
	for (uint16_t i = 0; i < 4; i++)
		raw(&q, i, G(i), 8, 0, AV | F_NEXT);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_ECHAIN);
	/* an ID >= num */
	raw(&q, 0, G(0), 8, 4, AV);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EINDEX);
	cr_assert_eq(res.where, IOVIRT_WHERE_RING);
	/* indirect without the feature */
	raw(&q, 0, IND, 16, 0, AV | F_IND);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EINDIRECT);
	/* readable after writable */
	raw(&q, 1, G(1), 8, 1, AV);
	raw(&q, 0, G(0), 8, 1, AV | F_WRITE | F_NEXT);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EORDER);
	cr_assert_eq(res.head, 1, "a refused chain of sound shape names its ID");
	cr_assert_eq(res.where, IOVIRT_WHERE_TABLE);
	/* it can be dropped: skip gives its ID, push returns it */
	cr_assert_eq(iovirt_vq_skip(q.vq), 1);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 1, 0), 0);
	cr_assert_eq(iovirt_vq_used_idx(q.vq), 0x8002);
	q_fini(&q);
}

// A buffer ID already in flight is IOVIRT_EDUP; descriptors beyond the ring's are IOVIRT_EOVERRUN.
Test(vq_packed, in_flight_bounds)
{
	struct q q;
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	pq_init(&q, 0, 4);
	raw(&q, 0, G(0), 8, 2, AV);
	cr_assert_eq(pop(&q, out, &res), 1);
	raw(&q, 1, G(1), 8, 2, AV);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EDUP);
	cr_assert_eq(iovirt_vq_skip(q.vq), IOVIRT_EDUP);
	raw(&q, 1, G(1), 8, 3, AV);
	raw(&q, 2, G(2), 8, 0, AV);
	raw(&q, 3, G(3), 8, 1, AV);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(pop(&q, out, &res), 1);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 0, "wrapped: counter 0");
	/* the driver marks slot 0 available again (wrap 0: AVAIL 0, USED 1) while the device holds all */
	raw(&q, 0, G(0), 8, 2, P_USED);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EDUP);
	raw(&q, 0, G(0), 8, 1, P_USED);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EDUP);
	q_fini(&q);
	/* all four IDs free but four descriptors held: a fifth is beyond the ring */
	pq_init(&q, 0, 4);
	raw(&q, 1, G(1), 8, 0, AV);
	raw(&q, 0, G(0), 8, 0, AV | F_NEXT);
	raw(&q, 3, G(3), 8, 1, AV);
	raw(&q, 2, G(2), 8, 1, AV | F_NEXT);
	cr_assert_eq(pop(&q, out, &res), 2);
	cr_assert_eq(pop(&q, out, &res), 2);
	raw(&q, 0, G(0), 8, 2, P_USED);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EOVERRUN);
	cr_assert_eq(res.where, IOVIRT_WHERE_RING);
	/* completions: not in flight, duplicate in a batch, id >= num */
	struct iovirt_vq_used u[2] = { { 0, 8 }, { 0, 8 } };
	cr_assert_eq(iovirt_vq_push_used_batch(q.vq, u, 2), IOVIRT_ENOENT);
	u[1].id = 4;
	cr_assert_eq(iovirt_vq_push_used_batch(q.vq, u, 2), IOVIRT_EINDEX);
	u[1].id = 2;
	cr_assert_eq(iovirt_vq_push_used_batch(q.vq, u, 2), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_vq_used_idx(q.vq), 0x8000);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 1, 8), 0);
	cr_assert_eq(iovirt_vq_used_idx(q.vq), 0x8002, "one chain of two descriptors");
	q_fini(&q);
}

// Indirect tables: a nested one is ENESTED, one with NEXT on its descriptor EINDIRECT.
Test(vq_packed, indirect_refusals)
{
	struct q q;
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	pq_init(&q, IOVIRT_VQ_F_INDIRECT, 4);
	pd_table(&q, IND, 0, G(0), 8, 0);
	pd_table(&q, IND, 1, G(1), 8, F_IND);
	raw(&q, 0, IND, 32, 0, AV | F_IND);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_ENESTED);
	cr_assert_eq(res.where, IOVIRT_WHERE_INDIRECT);
	cr_assert_eq(res.desc, 1);
	raw(&q, 1, G(1), 8, 0, AV);
	raw(&q, 0, IND, 16, 0, AV | F_IND | F_NEXT);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EINDIRECT);
	q_fini(&q);
}

struct prewrite {
	struct q *q;
	int body_reads, flag_reads;
};

/* After each read of a descriptor's body the guest rewrites addr and len;
 * after each read of its flags, it flips them to "not available". */
static void p_hook(void *arg, uint32_t guest, uint64_t gpa, size_t len)
{
	struct prewrite *c = arg;
	(void)guest;
	if (gpa < DESC || gpa >= DESC + 16 * c->q->num)
		return;
	uint8_t *p = gmem(c->q, gpa);
	if (len == 14) {
		c->body_reads++;
		memset(p, 0xff, 12);
	} else if (len == 2) {
		c->flag_reads++;
		p[1] ^= 0x80;
		p[0] ^= 0x80;
	}
}

// Packed descriptors are read once: flags then body, and a guest rewriting both after each read
// changes nothing in the result.
Test(vq_packed, read_once)
{
	struct q q;
	pq_init(&q, 0, 4);
	struct pdrv d;
	pd_init(&d, &q);
	pd_post(&d, 3, false, 100);
	struct prewrite c = { &q, 0, 0 };
	iovirt_posix_set_read_hook(q.t.p, p_hook, &c);
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	cr_assert_eq(pop(&q, out, &res), 2);
	iovirt_posix_set_read_hook(q.t.p, NULL, NULL);
	cr_assert_eq(c.body_reads, 2);
	cr_assert_eq(c.flag_reads, 2);
	cr_assert_eq(res.head, 3);
	cr_assert_eq(out[0].gpa, pd_hdr(3));
	cr_assert_eq(out[1].len, 100);
	q_fini(&q);
}

// A chain refused for a buffer is read once too: its buffer ID (res->head, for skip and
// push_used(id, 0)) comes from the walk's own reads, not from a second walk of a ring that the
// guest rewrites after each read (here flags flipped to "not available", addr and len spoilt).
Test(vq_packed, read_once_refused)
{
	struct q q;
	pq_init(&q, 0, 4);
	raw(&q, 1, G(1), 8, 3, AV);
	raw(&q, 0, G(0), 8, 3, AV | F_WRITE | F_NEXT);
	struct prewrite c = { &q, 0, 0 };
	iovirt_posix_set_read_hook(q.t.p, p_hook, &c);
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EORDER);
	iovirt_posix_set_read_hook(q.t.p, NULL, NULL);
	cr_assert_eq(c.body_reads, 2, "bodies read %d times", c.body_reads);
	cr_assert_eq(c.flag_reads, 2, "flags read %d times", c.flag_reads);
	cr_assert_eq(res.head, 3, "the refused chain's ID from the first reads");
	cr_assert_eq(res.desc, 1);
	cr_assert_eq(res.gpa, G(1));
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 0x8000);
	q_fini(&q);
}

static void ev_hook(void *arg, uint32_t guest, uint64_t gpa, size_t len)
{
	struct q *q = arg;
	(void)guest;
	if (gpa == AVAIL && len == 4)
		memset(gmem(q, AVAIL) + 2, 0, 2); /* flags become ENABLE */
}

// The driver's event structure is read once: DISABLE as read wins over a later rewrite.
Test(vq_packed, event_read_once)
{
	struct q q;
	pq_init(&q, IOVIRT_VQ_F_EVENT_IDX, 4);
	uint16_t dis = IOVIRT_RING_EVENT_FLAGS_DISABLE;
	memcpy(gmem(&q, AVAIL) + 2, &dis, 2);
	iovirt_posix_set_read_hook(q.t.p, ev_hook, &q);
	cr_assert_eq(iovirt_vq_need_signal(q.vq), 0);
	iovirt_posix_set_read_hook(q.t.p, NULL, NULL);
	q_fini(&q);
}

// Packed create: any size up to 32768, event areas 4-byte aligned; walk (by head) is for split rings.
Test(vq_packed, create_rules)
{
	struct vt t;
	vt_init(&t);
	vt_add(&t, G(0), 48 * 4096, IOVIRT_REGION_RAM, RW);
	struct iovirt_vq *vq;
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = 3, .flags = PF,
				      .desc_gpa = DESC, .avail_gpa = AVAIL + 2, .used_gpa = USED,
				      .map = t.map };
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &vq), IOVIRT_EALIGN);
	p.avail_gpa = AVAIL;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &vq), 0);
	struct iovirt_host_seg out[4];
	cr_assert_eq(iovirt_vq_walk(vq, t.map, NULL, 0, out, 4, NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_avail(vq), 0);
	iovirt_vq_destroy(vq);
	vt_fini(&t);
}

// A packed queue whose rings cannot be read or written: IOVIRT_EGUEST from every call, cursors unmoved.
Test(vq_packed, guest_faults)
{
	struct vt t;
	vt_init(&t);
	struct iovirt_vq *vq;
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = 4, .flags = PF,
				      .desc_gpa = 0x10000000, .avail_gpa = 0x10001000,
				      .used_gpa = 0x10002000 };
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &vq), 0);
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	cr_assert_eq(iovirt_vq_pop(vq, t.map, NULL, out, 4, &res), IOVIRT_EGUEST);
	cr_assert_eq(res.where, IOVIRT_WHERE_RING);
	cr_assert_eq(iovirt_vq_skip(vq), IOVIRT_EGUEST);
	cr_assert_eq(iovirt_vq_avail(vq), IOVIRT_EGUEST);
	cr_assert_eq(iovirt_vq_notify_disable(vq), IOVIRT_EGUEST);
	cr_assert_eq(iovirt_vq_notify_enable(vq), IOVIRT_EGUEST);
	cr_assert_eq(iovirt_vq_need_signal(vq), IOVIRT_EGUEST);
	cr_assert_eq(iovirt_vq_push_used(vq, 0, 1), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_vq_last_avail(vq), 0x8000);
	iovirt_vq_destroy(vq);
	vt_fini(&t);
}

// Completing one buffer, through callbacks or with a direct descriptor ring (its own short
// path), in and out of order: the same refusals (ID >= num, not in flight, not the oldest with
// IN_ORDER, twice) with nothing written and the cursor unmoved, and the same used descriptor.
Test(vq_packed, push_one_refusals)
{
	for (int v = 0; v < 4; v++) {
		uint32_t flags = (v & 1 ? IOVIRT_VQ_F_DIRECT : 0) | (v & 2 ? IOVIRT_VQ_F_IN_ORDER : 0);
		struct q q;
		struct iovirt_host_seg out[16];
		struct iovirt_dma_result res;
		pq_init(&q, flags, 4);
		raw(&q, 0, G(0), 8, 2, AV);
		raw(&q, 1, G(1), 8, 1, AV);
		cr_assert_eq(pop(&q, out, &res), 1);
		cr_assert_eq(pop(&q, out, &res), 1);
		uint8_t ring[4 * 16];
		memcpy(ring, gmem(&q, DESC), sizeof(ring));
		cr_assert_eq(iovirt_vq_push_used(q.vq, 4, 8), IOVIRT_EINDEX, "variant %d", v);
		cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 8), IOVIRT_ENOENT, "variant %d", v);
		if (flags & IOVIRT_VQ_F_IN_ORDER)
			cr_assert_eq(iovirt_vq_push_used(q.vq, 1, 8), IOVIRT_ENOENT, "variant %d", v);
		cr_assert_eq(memcmp(ring, gmem(&q, DESC), sizeof(ring)), 0, "variant %d: written", v);
		cr_assert_eq(iovirt_vq_used_idx(q.vq), 0x8000, "variant %d", v);
		uint16_t first = flags & IOVIRT_VQ_F_IN_ORDER ? 2 : 1;
		cr_assert_eq(iovirt_vq_push_used(q.vq, first, 100), 0, "variant %d", v);
		cr_assert_eq(iovirt_vq_used_idx(q.vq), 0x8001, "variant %d", v);
		uint16_t id, f;
		uint32_t len;
		memcpy(&len, gmem(&q, DESC) + 8, 4);
		memcpy(&id, gmem(&q, DESC) + 12, 2);
		memcpy(&f, gmem(&q, DESC) + 14, 2);
		cr_assert_eq(id, first, "variant %d", v);
		cr_assert_eq(len, 100, "variant %d", v);
		cr_assert_eq(f, P_AVAIL | P_USED | F_WRITE, "variant %d: flags %#x", v, f);
		cr_assert_eq(iovirt_vq_push_used(q.vq, first, 100), IOVIRT_ENOENT, "variant %d", v);
		cr_assert_eq(iovirt_vq_push_used(q.vq, 3 - first, 0), 0, "variant %d", v);
		memcpy(&f, gmem(&q, DESC) + 16 + 14, 2);
		cr_assert_eq(f, P_AVAIL | P_USED, "variant %d: no WRITE without a length", v);
		cr_assert_eq(iovirt_vq_used_idx(q.vq), 0x8002, "variant %d", v);
		q_fini(&q);
	}
}

// In-order completion keeps the order of the buffer IDs taken across the wrap of its counters,
// on a ring whose size is no power of two, full of one-descriptor chains completed one by one
// (direct and callbacks) or in batches. White box: the counters start just below their wrap
// (2 num). They were free-running 32-bit counters taken mod num, which jump at 2^32 there and
// overwrite an ID in flight: this test with them set to 2^32 - 5 failed on those.
Test(vq_packed, in_order_counter_wrap)
{
	for (int v = 0; v < 4; v++) {
		struct q q;
		pq_init(&q, IOVIRT_VQ_F_IN_ORDER | IOVIRT_VQ_F_INDIRECT |
				    (v & 1 ? IOVIRT_VQ_F_DIRECT : 0), 6);
		q.vq->fifo_head = q.vq->fifo_tail = 2 * 6 - 5;
		struct pdrv d;
		pd_init(&d, &q);
		struct iovirt_host_seg out[16];
		struct iovirt_dma_result res;
		for (uint32_t r = 0, next = 0; r < 12; r++) {
			uint16_t ids[6];
			for (int j = 0; j < 6; j++) {
				ids[j] = (uint16_t)((next++ * 5) % 6);
				pd_post(&d, ids[j], true, 100);
			}
			for (int j = 0; j < 6; j++) {
				cr_assert_eq(pop(&q, out, &res), 2, "variant %d round %u", v, r);
				cr_assert_eq(res.head, ids[j]);
			}
			if (v & 2) {
				cr_assert_eq(iovirt_vq_push_used_in_order(q.vq, ids[5], 100, 6), 0,
					     "variant %d round %u", v, r);
			} else {
				for (int j = 0; j < 6; j++)
					cr_assert_eq(iovirt_vq_push_used(q.vq, ids[j], 100), 0,
						     "variant %d round %u: ID %u", v, r, ids[j]);
			}
			uint32_t id, len;
			for (int j = 0; j < (v & 2 ? 1 : 6); j++)
				cr_assert_eq(pd_get_used(&d, v & 2, &id, &len), 1);
		}
		q_fini(&q);
	}
}
