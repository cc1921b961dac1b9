/* SPDX-License-Identifier: MIT */
/*
 * virtio split virtqueues: the bound on chains in flight (taken by pop or skip,
 * not yet completed), skip reading the available index itself, and the
 * ordering of the available index before the ring entries and descriptors.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "vq.h"

/* In flight as the cursors say: taken (pop, skip) minus completed (push). */
static uint16_t in_flight(struct q *q)
{
	return (uint16_t)(iovirt_vq_last_avail(q->vq) - iovirt_vq_used_idx(q->vq));
}

/* Head h: one writable 64-byte buffer of its own. */
static void simple_chains(struct q *q)
{
	for (uint16_t h = 0; h < q->num; h++)
		put_desc(q, h, G(1) + h * 64ull, 64, F_WRITE, 0);
}

// CVE-2016-5403 class: queue of 4, four chains popped, none completed, the driver re-posts the
// same heads: the fifth take is refused (EOVERRUN, at the ring) and changes nothing; one
// completion lets exactly one more through.
Test(vq_flight, overrun_refused)
{
	struct q q;
	q_init_num(&q, 0, 4);
	simple_chains(&q);
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	for (uint16_t h = 0; h < 4; h++)
		offer(&q, h);
	for (uint16_t h = 0; h < 4; h++) {
		cr_assert_eq(pop(&q, out, &res), 1);
		cr_assert_eq(res.head, h);
	}
	/* the driver posts the same four heads again without waiting for a completion */
	for (uint16_t h = 0; h < 4; h++)
		offer(&q, h);
	cr_assert_eq(q.drv_idx, 8);
	cr_assert_eq(iovirt_vq_avail(q.vq), 4, "heads beyond the cursor, as before");
	uint8_t *before = malloc(VT_BYTES);
	memcpy(before, q.t.mem, VT_BYTES);
	for (int again = 0; again < 2; again++) {
		int r = pop(&q, out, &res);
		cr_assert_eq(r, IOVIRT_EOVERRUN, "fifth pop: %s", iovirt_err_name(r));
		cr_assert_eq(res.err, IOVIRT_EOVERRUN);
		cr_assert_eq(res.where, IOVIRT_WHERE_RING);
		cr_assert_eq(res.nout, 0);
		cr_assert_eq(iovirt_vq_last_avail(q.vq), 4, "cursor not advanced");
		cr_assert_eq(iovirt_vq_used_idx(q.vq), 0);
		cr_assert_eq(iovirt_vq_skip(q.vq), IOVIRT_EOVERRUN, "skip takes a chain too");
		cr_assert_eq(iovirt_vq_last_avail(q.vq), 4);
	}
	cr_assert_arr_eq(q.t.mem, before, VT_BYTES, "guest memory untouched");
	/* one completion frees one place */
	cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 0), 0);
	cr_assert_eq(pop(&q, out, &res), 1);
	cr_assert_eq(res.head, 0);
	cr_assert_eq(in_flight(&q), 4);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EOVERRUN);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 5);
	/* with no chain available a full queue is simply empty, not an error */
	for (uint16_t h = 1; h < 4; h++)
		cr_assert_eq(iovirt_vq_push_used(q.vq, h, 0), 0);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 0), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(pop(&q, out, &res), 1);
	cr_assert_eq(in_flight(&q), 3);
	cr_assert_eq(pop(&q, out, &res), 0);
	free(before);
	q_fini(&q);
}

// A completion with no chain in flight is refused (ENOENT) and writes nothing: completions
// never outnumber the chains taken, so the count cannot go below zero.
Test(vq_flight, push_needs_a_chain)
{
	struct q q;
	q_init_num(&q, 0, 4);
	simple_chains(&q);
	uint8_t *before = malloc(VT_BYTES);
	memcpy(before, q.t.mem, VT_BYTES);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 0), IOVIRT_ENOENT, "fresh queue");
	cr_assert_arr_eq(q.t.mem, before, VT_BYTES, "nothing written");
	cr_assert_eq(iovirt_vq_used_idx(q.vq), 0);
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	offer(&q, 2);
	cr_assert_eq(pop(&q, out, &res), 1);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 2, 64), 0);
	cr_assert_eq(used_idx_in_guest(&q), 1);
	memcpy(before, q.t.mem, VT_BYTES);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 2, 64), IOVIRT_ENOENT, "completed twice");
	cr_assert_arr_eq(q.t.mem, before, VT_BYTES, "nothing written");
	cr_assert_eq(iovirt_vq_used_idx(q.vq), 1);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 4, 0), IOVIRT_EINDEX, "id checked first");
	free(before);
	q_fini(&q);
}

// A refused chain leaves the ring through skip and is then completed with length 0 (in that
// order); a chain skipped and never completed stays in flight and counts against the bound.
Test(vq_flight, skip_then_complete)
{
	struct q q;
	q_init_num(&q, 0, 4);
	simple_chains(&q);
	put_desc(&q, 1, G(1), 0, F_WRITE, 0); /* zero length: refused */
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	offer(&q, 1);
	offer(&q, 2);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EZEROLEN);
	cr_assert_eq(in_flight(&q), 0, "a refused pop takes nothing");
	cr_assert_eq(iovirt_vq_skip(q.vq), 0);
	cr_assert_eq(in_flight(&q), 1, "skip takes the chain");
	cr_assert_eq(iovirt_vq_push_used(q.vq, res.head, 0), 0);
	cr_assert_eq(in_flight(&q), 0);
	cr_assert_eq(pop(&q, out, &res), 1);
	cr_assert_eq(res.head, 2);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 2, 64), 0);
	/* four chains dropped and never completed fill the queue */
	for (uint16_t h = 0; h < 4; h++)
		offer(&q, h);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(iovirt_vq_skip(q.vq), 0);
	offer(&q, 0);
	cr_assert_eq(iovirt_vq_skip(q.vq), IOVIRT_EOVERRUN);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EOVERRUN);
	cr_assert_eq(in_flight(&q), 4);
	q_fini(&q);
}

// Restored cursors restore the count: last_avail - used_idx chains are in flight; a state
// claiming more than num (or more completions than takes) refuses every take until set again.
Test(vq_flight, set_cursors_count)
{
	struct q q;
	q_init_num(&q, 0, 4);
	simple_chains(&q);
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	q.drv_idx = 10;
	for (uint16_t h = 0; h < 4; h++)
		offer(&q, h); /* idx 14: four heads at 10 .. 13 */
	iovirt_vq_set_cursors(q.vq, 10, 7); /* three in flight */
	cr_assert_eq(pop(&q, out, &res), 1);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EOVERRUN);
	iovirt_vq_set_cursors(q.vq, 10, 10);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pop(&q, out, &res), 1, "pop %d", i);
	iovirt_vq_set_cursors(q.vq, 10, 12); /* completions ahead of takes: not a state a device reaches */
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EOVERRUN);
	cr_assert_eq(iovirt_vq_skip(q.vq), IOVIRT_EOVERRUN);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 10);
	iovirt_vq_set_cursors(q.vq, 10, 5); /* five in flight, above num */
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EOVERRUN);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 0), 0, "completions drain it");
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EOVERRUN, "still four in flight");
	cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 0), 0);
	cr_assert_eq(pop(&q, out, &res), 1);
	q_fini(&q);
}

// A hostile driver re-posting heads forever, whatever the device completes: chains in flight
// never exceed the queue size, a take is refused exactly when the queue is full and a chain
// is available, and the cursors' count always equals the chains taken minus those completed.
Test(vq_flight, repost_forever)
{
	for (uint32_t num = 1; num <= 16; num *= 4) {
		struct q q;
		q_init_num(&q, 0, num);
		simple_chains(&q);
		struct iovirt_host_seg out[16];
		struct iovirt_dma_result res;
		uint64_t seed = 77 + num;
		uint32_t taken = 0, overruns = 0, pops = 0;
		uint16_t flight[16];
		uint32_t k = 0; /* chains in flight, heads in flight[0 .. k) */
		for (int it = 0; it < 100000; it++) {
			uint64_t x = th_rand(&seed);
			uint16_t avail = (uint16_t)(q.drv_idx - iovirt_vq_last_avail(q.vq));
			switch (x % 5) {
			case 0:
			case 1: { /* post as many heads as the available ring takes, ignoring used */
				uint32_t m = (uint32_t)((x >> 8) % (num - avail + 1));
				for (uint32_t i = 0; i < m; i++)
					offer(&q, (uint16_t)((x >> (16 + i)) % num));
				break;
			}
			case 2:
			case 3: { /* take: pop, sometimes skip */
				bool skip = (x >> 8) % 4 == 0;
				uint16_t head = 0;
				memcpy(&head, gmem(&q, AVAIL) + 4 + 2 * (iovirt_vq_last_avail(q.vq) % num), 2);
				int r = skip ? iovirt_vq_skip(q.vq) : pop(&q, out, &res);
				if (avail == 0) {
					cr_assert_eq(r, skip ? IOVIRT_ENOENT : 0, "it %d: %s", it, iovirt_err_name(r));
				} else if (k == num) {
					cr_assert_eq(r, IOVIRT_EOVERRUN, "it %d: %s", it, iovirt_err_name(r));
					overruns++;
				} else {
					cr_assert_eq(r, skip ? 0 : 1, "it %d: %s", it, iovirt_err_name(r));
					cr_assert(skip || res.head == head);
					flight[k++] = head;
					taken++;
					pops += !skip;
				}
				break;
			}
			default: { /* complete one chain in flight, any of them */
				int r;
				if (!k) {
					r = iovirt_vq_push_used(q.vq, 0, 0);
					cr_assert_eq(r, IOVIRT_ENOENT, "it %d: %s", it, iovirt_err_name(r));
					break;
				}
				uint32_t i = (uint32_t)((x >> 8) % k);
				r = iovirt_vq_push_used(q.vq, flight[i], 0);
				cr_assert_eq(r, 0, "it %d: %s", it, iovirt_err_name(r));
				flight[i] = flight[--k];
				break;
			}
			}
			cr_assert_leq(in_flight(&q), num, "it %d: %u in flight", it, in_flight(&q));
			cr_assert_eq(in_flight(&q), k, "it %d", it);
			cr_assert_eq(used_idx_in_guest(&q), iovirt_vq_used_idx(q.vq));
		}
		cr_assert_gt(overruns, 1000, "num %u: %u refusals", num, overruns);
		cr_assert_gt(pops, 1000, "num %u: %u pops", num, pops);
		cr_assert_gt(taken, pops);
		q_fini(&q);
	}
}

/* ---- skip reads the available index itself (item: skip without a prior pop) ---- */

// skip on a fresh queue, or right after set_cursors, reads the available index (once) rather
// than trusting a value it never read; with no chain it is ENOENT, with a bad index EINDEX.
Test(vq_flight, skip_reads_idx)
{
	struct q q;
	q_init_num(&q, 0, 4);
	simple_chains(&q);
	offer(&q, 0);
	offer(&q, 1);
	uint64_t reads = iovirt_posix_count(q.t.p, IOVIRT_CB_GUEST_READ);
	cr_assert_eq(iovirt_vq_skip(q.vq), 0, "fresh queue, two chains available");
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 1);
	cr_assert_eq(iovirt_posix_count(q.t.p, IOVIRT_CB_GUEST_READ), reads + 1, "idx read once");
	cr_assert_eq(iovirt_vq_skip(q.vq), 0, "the second, from the index already read");
	cr_assert_eq(iovirt_posix_count(q.t.p, IOVIRT_CB_GUEST_READ), reads + 1);
	cr_assert_eq(iovirt_vq_skip(q.vq), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_posix_count(q.t.p, IOVIRT_CB_GUEST_READ), reads + 2, "read again when empty");
	cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 0), 0);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 1, 0), 0);
	/* right after set_cursors: the chains at 0 and 1 again */
	iovirt_vq_set_cursors(q.vq, 0, 0);
	cr_assert_eq(iovirt_vq_skip(q.vq), 0, "after set_cursors");
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 1);
	/* a driver claiming more than num heads: EINDEX, nothing changed */
	iovirt_vq_set_cursors(q.vq, 2, 2);
	uint16_t bad = 2 + 4 + 1;
	memcpy(gmem(&q, AVAIL) + 2, &bad, 2);
	cr_assert_eq(iovirt_vq_skip(q.vq), IOVIRT_EINDEX);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 2);
	q_fini(&q);
}

// skip reports an unreadable available index (EGUEST) and changes nothing.
Test(vq_flight, skip_unreadable_idx)
{
	struct vt t;
	vt_init(&t);
	/* an older caller's size: no map, the rings are not checked; the available
	 * ring lies outside the guest memory guest_read can reach */
	struct iovirt_vq_params p = { .size = IOVIRT_VQ_PARAMS_SIZE_V1, .guest = VT_GUEST,
				      .num = 4, .desc_gpa = DESC, .avail_gpa = G(100),
				      .used_gpa = USED };
	struct iovirt_vq *vq;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &vq), 0);
	cr_assert_eq(iovirt_vq_skip(vq), IOVIRT_EGUEST);
	cr_assert_eq(iovirt_vq_last_avail(vq), 0);
	iovirt_vq_destroy(vq);
	vt_fini(&t);
}

struct idx_rewrite {
	struct q *q;
	int idx_reads;
};

/* After the device reads avail idx, the guest takes its chain back (idx = 0 again). */
static void idx_hook(void *arg, uint32_t guest, uint64_t gpa, size_t len)
{
	struct idx_rewrite *c = arg;
	(void)guest;
	(void)len;
	if (gpa == AVAIL + 2) {
		c->idx_reads++;
		memset(gmem(c->q, AVAIL) + 2, 0, 2);
	}
}

// skip decides from the index as it read it: a guest rewriting idx after the read changes nothing.
Test(vq_flight, skip_read_once)
{
	struct q q;
	q_init_num(&q, 0, 4);
	offer(&q, 3);
	struct idx_rewrite c = { &q, 0 };
	iovirt_posix_set_read_hook(q.t.p, idx_hook, &c);
	cr_assert_eq(iovirt_vq_skip(q.vq), 0);
	iovirt_posix_set_read_hook(q.t.p, NULL, NULL);
	cr_assert_eq(c.idx_reads, 1);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 1);
	q_fini(&q);
}

/* ---- ordering of the available index before ring entries and descriptors ---- */

#define MP_CHAINS 200000u
#define MP_NUM 8u

struct mp {
	struct q *q;
	_Atomic int stop;
};

/* What the driver puts in the descriptor of chain number seq. */
static uint64_t mp_addr(uint32_t seq)
{
	return G(1) + (seq % 251) * 16ull;
}

static uint32_t mp_len(uint32_t seq)
{
	return 1 + (seq * 2654435761u) % 4000;
}

/*
 * A driver on its own thread: fills a descriptor and a ring slot with plain
 * stores, then publishes avail idx with a release store (virtio_wmb); reuses a
 * descriptor only after the device's used idx (read with acquire) says so.
 */
static void *mp_driver(void *arg)
{
	struct mp *m = arg;
	struct q *q = m->q;
	uint16_t *avail_idx = (uint16_t *)(void *)gmem(q, AVAIL + 2);
	uint16_t *used_idx = (uint16_t *)(void *)gmem(q, USED + 2);
	for (uint32_t seq = 0; seq < MP_CHAINS && !atomic_load(&m->stop); seq++) {
		while ((uint16_t)(seq - __atomic_load_n(used_idx, __ATOMIC_ACQUIRE)) >= MP_NUM) {
			if (atomic_load(&m->stop))
				return NULL;
			sched_yield();
		}
		uint16_t head = (uint16_t)(seq % MP_NUM);
		put_desc(q, head, mp_addr(seq), mp_len(seq), F_WRITE, 0);
		memcpy(gmem(q, AVAIL) + 4 + 2 * (seq % MP_NUM), &head, 2);
		__atomic_store_n(avail_idx, (uint16_t)(seq + 1), __ATOMIC_RELEASE);
	}
	return NULL;
}

// A driver publishing chains from another thread: every chain the device pops is the one the
// driver published (the library orders the read of avail idx before the ring entry and the
// descriptors, and the used entry before used idx). On a strongly ordered CPU (x86) this
// passes without the fences too; it is the end-to-end check of the ordering contract.
Test(vq_flight, concurrent_driver)
{
	struct q q;
	q_init_num(&q, 0, MP_NUM);
	struct mp m = { &q, 0 };
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, mp_driver, &m), 0);
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	uint32_t seq = 0, bad = 0;
	while (seq < MP_CHAINS && !bad) {
		int r = pop(&q, out, &res);
		if (r == 0) {
			sched_yield();
			continue;
		}
		if (r != 1 || res.head != seq % MP_NUM || out[0].gpa != mp_addr(seq) ||
		    out[0].len != mp_len(seq))
			bad = seq + 1;
		else if (iovirt_vq_push_used(q.vq, res.head, (uint32_t)out[0].len))
			bad = seq + 1;
		seq++;
	}
	atomic_store(&m.stop, 1);
	pthread_join(th, NULL);
	cr_assert_eq(bad, 0, "chain %u not as published", bad - 1);
	cr_assert_eq(seq, MP_CHAINS);
	cr_assert_eq(in_flight(&q), 0);
	q_fini(&q);
}
