/* SPDX-License-Identifier: MIT */
/*
 * Argument and host-capability refusals of lib/validate's other entry points
 * (include/iovirt/validate.h): the map's create and destroy, segment
 * validation (plain and from guest memory), policies, the bounce pool's
 * copies, and the poll loop's steps when a ring write fails; each refusal as
 * its contract names it, with nothing changed after it.
 */
#include "iovirt/irqpoll.h"
#include "vq.h"

static struct vt t;

static void setup(void)
{
	vt_init(&t);
	vt_add(&t, G(0), 16 * 4096, IOVIRT_REGION_RAM, RW);
}

static void teardown(void)
{
	vt_fini(&t);
}

// gmap_create refuses NULL ops, params or out, a params size below version 1 and a host ops
// table too old (EINVAL), ops without mem_alloc or mem_free (ENOSYS); *out untouched, nothing
// allocated. destroy(NULL) is 0; destroy with a region held is EBUSY and frees nothing.
Test(vargs, gmap_create_and_destroy)
{
	struct iovirt_posix *p = th_posix();
	const struct iovirt_host_ops *base = iovirt_posix_ops();
	struct iovirt_gmap *m = (struct iovirt_gmap *)(uintptr_t)0x77;
	struct iovirt_gmap_params gp = { sizeof(gp), VT_GUEST, 0 };
	cr_assert_eq(iovirt_gmap_create(NULL, p, &gp, &m), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_gmap_create(base, p, NULL, &m), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_gmap_create(base, p, &gp, NULL), IOVIRT_EINVAL);
	gp.size = IOVIRT_GMAP_PARAMS_SIZE_V1 - 1;
	cr_assert_eq(iovirt_gmap_create(base, p, &gp, &m), IOVIRT_EINVAL);
	gp.size = sizeof(gp);
	struct iovirt_host_ops ops = *base;
	ops.size = offsetof(struct iovirt_host_ops, table_alloc) - 1;
	cr_assert_eq(iovirt_gmap_create(&ops, p, &gp, &m), IOVIRT_EINVAL);
	ops = *base;
	ops.mem_free = NULL;
	cr_assert_eq(iovirt_gmap_create(&ops, p, &gp, &m), IOVIRT_ENOSYS);
	ops = *base;
	ops.mem_alloc = NULL;
	cr_assert_eq(iovirt_gmap_create(&ops, p, &gp, &m), IOVIRT_ENOSYS);
	cr_assert_eq(m, (struct iovirt_gmap *)(uintptr_t)0x77);
	cr_assert_eq(iovirt_posix_live_mem(p), 0);
	cr_assert_eq(iovirt_gmap_destroy(NULL), 0);
	th_posix_done(p);
	/* a held region: EBUSY, the map still whole */
	struct iovirt_gmap_region *r;
	vt_init(&t);
	vt_add(&t, G(0), 4096, IOVIRT_REGION_RAM, RW);
	cr_assert_eq(iovirt_gmap_region_get(t.map, G(0), &r), 0);
	cr_assert_eq(iovirt_gmap_destroy(t.map), IOVIRT_EBUSY);
	struct iovirt_region out;
	cr_assert_eq(iovirt_gmap_lookup(t.map, G(0), &out), 0);
	cr_assert_eq(out.length, 4096);
	iovirt_gmap_region_put(t.map, r);
	vt_fini(&t);
}

// sg_validate refuses a NULL map, and NULL segs or out with nsegs > 0 (EINVAL, res->err set);
// nsegs 0 with NULL segs and out is an empty list (0).
Test(vargs, sg_validate_arguments, .init = setup, .fini = teardown)
{
	struct iovirt_seg s = { .gpa = G(1), .len = 64, .dir = DR };
	struct iovirt_host_seg out[2];
	struct iovirt_dma_result res;
	cr_assert_eq(iovirt_sg_validate(NULL, NULL, &s, 1, out, 2, &res), IOVIRT_EINVAL);
	cr_assert_eq(res.err, IOVIRT_EINVAL);
	memset(&res, 0, sizeof(res));
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, NULL, 1, out, 2, &res), IOVIRT_EINVAL);
	cr_assert_eq(res.err, IOVIRT_EINVAL);
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, &s, 1, NULL, 2, NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, NULL, 0, NULL, 0, &res), 0);
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, &s, 1, out, 2, &res), 1);
	cr_assert_eq(out[0].gpa, G(1));
}

// A policy is refused (EINVAL) when its size is below version 1, it has unknown flag bits, or
// an alignment that is not a power of two; 0 and 1 mean any alignment.
Test(vargs, policy_refusals, .init = setup, .fini = teardown)
{
	struct iovirt_seg s = { .gpa = G(1) + 8, .len = 24, .dir = DR };
	struct iovirt_host_seg out[2];
	struct iovirt_dma_result res;
	struct iovirt_sg_policy pol = { .size = sizeof(pol) };
	const struct iovirt_sg_policy bad[] = {
		{ .size = IOVIRT_SG_POLICY_SIZE_V1 - 1 },
		{ .size = sizeof(pol), .flags = 8 },
		{ .size = sizeof(pol), .flags = IOVIRT_POLICY_STRICT_REGIONS << 1 },
		{ .size = sizeof(pol), .addr_align = 12 },
		{ .size = sizeof(pol), .len_align = 6 },
		{ .size = sizeof(pol), .addr_align = 8, .len_align = 24 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&res, 0, sizeof(res));
		cr_assert_eq(iovirt_sg_validate(t.map, &bad[i], &s, 1, out, 2, &res), IOVIRT_EINVAL, "policy %zu", i);
		cr_assert_eq(res.err, IOVIRT_EINVAL);
		cr_assert_eq(iovirt_sg_validate_guest(t.map, t.ops, t.p, &bad[i], G(2), 1, out, 2, &res),
			     IOVIRT_EINVAL, "policy %zu", i);
	}
	pol.addr_align = 1;
	pol.len_align = 0;
	cr_assert_eq(iovirt_sg_validate(t.map, &pol, &s, 1, out, 2, &res), 1);
	pol.addr_align = 8;
	pol.len_align = 8;
	cr_assert_eq(iovirt_sg_validate(t.map, &pol, &s, 1, out, 2, &res), 1);
	pol.addr_align = 16;
	cr_assert_eq(iovirt_sg_validate(t.map, &pol, &s, 1, out, 2, &res), IOVIRT_EALIGN);
}

// sg_validate_guest refuses a NULL map or ops and NULL out with nsegs > 0 (EINVAL), a host
// without guest_read (ENOSYS), each with res->err set and nothing read.
Test(vargs, sg_guest_arguments, .init = setup, .fini = teardown)
{
	struct iovirt_host_seg out[2];
	struct iovirt_dma_result res;
	const uint64_t reads = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ);
	cr_assert_eq(iovirt_sg_validate_guest(NULL, t.ops, t.p, NULL, G(2), 1, out, 2, &res), IOVIRT_EINVAL);
	cr_assert_eq(res.err, IOVIRT_EINVAL);
	cr_assert_eq(iovirt_sg_validate_guest(t.map, NULL, t.p, NULL, G(2), 1, out, 2, &res), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_sg_validate_guest(t.map, t.ops, t.p, NULL, G(2), 1, NULL, 2, NULL), IOVIRT_EINVAL);
	struct iovirt_host_ops ops = *t.ops;
	ops.guest_read = NULL;
	memset(&res, 0, sizeof(res));
	cr_assert_eq(iovirt_sg_validate_guest(t.map, &ops, t.p, NULL, G(2), 1, out, 2, &res), IOVIRT_ENOSYS);
	cr_assert_eq(res.err, IOVIRT_ENOSYS);
	ops.size = offsetof(struct iovirt_host_ops, guest_read);
	ops.guest_read = t.ops->guest_read; /* beyond the caller's size: absent */
	cr_assert_eq(iovirt_sg_validate_guest(t.map, &ops, t.p, NULL, G(2), 1, out, 2, &res), IOVIRT_ENOSYS);
	cr_assert_eq(iovirt_sg_validate_guest(t.map, &ops, t.p, NULL, G(2), 1, out, 2, NULL), IOVIRT_ENOSYS);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ), reads, "nothing read");
}

// An MMIO region without a host address is IOVIRT_EMMIO even when the policy allows MMIO; with a
// host physical address it is accepted under the policy (res names the segment and address).
Test(vargs, mmio_without_host_address, .init = setup, .fini = teardown)
{
	vt_add(&t, G(200), 4096, IOVIRT_REGION_MMIO, RW); /* outside the guest buffer: no hva, no hpa */
	struct iovirt_region r = { .size = sizeof(r), .gpa = G(202), .length = 4096, .kind = IOVIRT_REGION_MMIO,
				   .access = RW, .owner = VT_GUEST, .flags = IOVIRT_REGION_HPA, .hpa = 0xfe000000 };
	cr_assert_eq(iovirt_gmap_add(t.map, &r), 0);
	const struct iovirt_sg_policy pol = { .size = sizeof(pol), .flags = IOVIRT_POLICY_ALLOW_MMIO };
	struct iovirt_seg s[2] = { { .gpa = G(1), .len = 64, .dir = DR }, { .gpa = G(200) + 16, .len = 8, .dir = DW } };
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	cr_assert_eq(iovirt_sg_validate(t.map, &pol, s, 2, out, 4, &res), IOVIRT_EMMIO);
	cr_assert_eq(res.seg, 1);
	cr_assert_eq(res.gpa, G(200) + 16);
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, s, 2, out, 4, &res), IOVIRT_EMMIO);
	s[1].gpa = G(202) + 16;
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, s, 2, out, 4, &res), IOVIRT_EMMIO, "not allowed");
	cr_assert_eq(iovirt_sg_validate(t.map, &pol, s, 2, out, 4, &res), 2);
	cr_assert_eq(out[1].hpa, 0xfe000000ull + 16);
	cr_assert_null(out[1].hva);
}

// Segments whose lengths sum past 2^64 are ETOOBIG (the total, not a wrap), with no limit set.
Test(vargs, total_wraps, .init = setup, .fini = teardown)
{
	struct iovirt_region r = { .size = sizeof(r), .gpa = UINT64_C(1) << 63, .length = UINT64_C(1) << 63,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = VT_GUEST,
				   .flags = IOVIRT_REGION_HPA, .hpa = 0 };
	cr_assert_eq(iovirt_gmap_add(t.map, &r), 0, "a region ending exactly at 2^64");
	const uint64_t half = UINT64_C(1) << 63;
	struct iovirt_seg s[2] = { { .gpa = half, .len = half, .dir = DR }, { .gpa = half, .len = half, .dir = DR } };
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	const struct iovirt_sg_policy pol = { .size = sizeof(pol), .max_segs = 4 };
	cr_assert_eq(iovirt_sg_validate(t.map, &pol, s, 2, out, 4, &res), IOVIRT_ETOOBIG);
	cr_assert_eq(res.seg, 1);
	cr_assert_eq(iovirt_sg_validate(t.map, &pol, s, 1, out, 4, &res), 1);
	cr_assert_eq(res.total, half);
}

static struct iovirt_bounce *mk_pool(const struct iovirt_host_ops *ops, size_t buf_size)
{
	struct iovirt_bounce_params bp = { .size = sizeof(bp), .nbufs = 2, .buf_size = buf_size };
	struct iovirt_bounce *pool;
	cr_assert_eq(iovirt_bounce_create(ops, t.p, &bp, &pool), 0);
	return pool;
}

// copy_in: more readable bytes than the buffer holds, or lengths summing past 2^64, are ETOOBIG
// with nothing copied; an entry without a host pointer needs guest_read (EGUEST without it);
// device-writable entries are not copied.
Test(vargs, bounce_copy_in_refusals, .init = setup, .fini = teardown)
{
	struct iovirt_host_ops ops = *t.ops;
	ops.guest_read = NULL;
	struct iovirt_bounce *pool = mk_pool(&ops, 256);
	const int32_t id = iovirt_bounce_get(pool);
	cr_assert_geq(id, 0);
	uint8_t *data = iovirt_bounce_data(pool, id);
	memset(data, 0xee, 256);
	memset(t.mem + 4096, 0x11, 4096);
	const struct iovirt_host_seg big[3] = {
		{ .hva = t.mem + 4096, .gpa = G(1), .len = 200, .dir = DR },
		{ .hva = t.mem + 8192, .gpa = G(2), .len = 4096, .dir = DW },
		{ .hva = t.mem + 4096, .gpa = G(1), .len = 57, .dir = DR },
	};
	cr_assert_eq(iovirt_bounce_copy_in(pool, id, t.map, big, 3), IOVIRT_ETOOBIG);
	const struct iovirt_host_seg wrap[2] = {
		{ .hva = t.mem, .gpa = G(0), .len = UINT64_MAX - 10, .dir = DR },
		{ .hva = t.mem, .gpa = G(0), .len = 20, .dir = DR },
	};
	cr_assert_eq(iovirt_bounce_copy_in(pool, id, t.map, wrap, 2), IOVIRT_ETOOBIG);
	cr_assert_eq(data[0], 0xee, "nothing copied");
	cr_assert_eq(iovirt_bounce_copy_in(pool, id, t.map, big, 2), 200, "the writable entry skipped");
	cr_assert_eq(data[0], 0x11);
	cr_assert_eq(data[200], 0xee);
	const struct iovirt_host_seg nohva = { .hva = NULL, .hpa = 0x1000, .gpa = G(1), .len = 16, .dir = DR };
	cr_assert_eq(iovirt_bounce_copy_in(pool, id, t.map, &nohva, 1), IOVIRT_EGUEST);
	cr_assert_eq(iovirt_bounce_put(pool, id), 0);
	cr_assert_eq(iovirt_bounce_destroy(pool), 0);
	/* with guest_read: the entry without a host pointer is read */
	pool = mk_pool(t.ops, 256);
	const int32_t id2 = iovirt_bounce_get(pool);
	cr_assert_eq(iovirt_bounce_copy_in(pool, id2, t.map, &nohva, 1), 16);
	cr_assert_eq(((uint8_t *)iovirt_bounce_data(pool, id2))[15], 0x11);
	cr_assert_eq(iovirt_bounce_put(pool, id2), 0);
	cr_assert_eq(iovirt_bounce_destroy(pool), 0);
}

// copy_out: a bad policy is EINVAL (res->err set), len above buf_size ETOOBIG even when the
// writable entries could take it, an entry in a region without a host pointer needs guest_write
// (EGUEST without it); nothing written after a refusal.
Test(vargs, bounce_copy_out_refusals, .init = setup, .fini = teardown)
{
	/* a RAM region the guest buffer does not hold: a host physical address, guest memory of its own */
	static uint8_t far[4096] __attribute__((aligned(4096)));
	cr_assert_eq(iovirt_posix_guest_add(t.p, VT_GUEST, G(100), far, sizeof(far)), 0);
	vt_add(&t, G(100), 4096, IOVIRT_REGION_RAM, RW);
	struct iovirt_host_ops ops = *t.ops;
	ops.guest_write = NULL;
	struct iovirt_bounce *pool = mk_pool(&ops, 64);
	const int32_t id = iovirt_bounce_get(pool);
	memset(iovirt_bounce_data(pool, id), 0x5c, 64);
	const struct iovirt_host_seg sg[2] = {
		{ .hva = t.mem + 4096, .gpa = G(1), .len = 4096, .dir = DW },
		{ .hva = NULL, .hpa = 0x40000000ull + G(100), .gpa = G(100), .len = 64, .dir = DW },
	};
	struct iovirt_dma_result res;
	const struct iovirt_sg_policy bad = { .size = sizeof(bad), .len_align = 3 };
	cr_assert_eq(iovirt_bounce_copy_out(pool, id, t.map, &bad, sg, 1, 16, &res), IOVIRT_EINVAL);
	cr_assert_eq(res.err, IOVIRT_EINVAL);
	cr_assert_eq(iovirt_bounce_copy_out(pool, id, t.map, NULL, sg, 1, 65, &res), IOVIRT_ETOOBIG);
	cr_assert_eq(t.mem[4096], 0, "nothing written");
	cr_assert_eq(iovirt_bounce_copy_out(pool, id, t.map, NULL, &sg[1], 1, 16, &res), IOVIRT_EGUEST);
	cr_assert_eq(far[0], 0);
	cr_assert_eq(iovirt_bounce_copy_out(pool, id, t.map, NULL, sg, 1, 16, &res), 16);
	cr_assert_eq(t.mem[4096 + 15], 0x5c);
	cr_assert_eq(t.mem[4096 + 16], 0);
	cr_assert_eq(iovirt_bounce_put(pool, id), 0);
	cr_assert_eq(iovirt_bounce_destroy(pool), 0);
	pool = mk_pool(t.ops, 64);
	const int32_t id2 = iovirt_bounce_get(pool);
	memset(iovirt_bounce_data(pool, id2), 0x6d, 64);
	cr_assert_eq(iovirt_bounce_copy_out(pool, id2, t.map, NULL, &sg[1], 1, 64, &res), 64);
	cr_assert_eq(far[63], 0x6d, "through guest_write");
	cr_assert_eq(iovirt_bounce_put(pool, id2), 0);
	cr_assert_eq(iovirt_bounce_destroy(pool), 0);
}

/* ---- the poll loop when a ring write fails ---- */

static int writes_left; /* guest writes that succeed before every further one fails (-1: all succeed) */

static int n_write(void *host, uint32_t guest, uint64_t gpa, const void *src, size_t len)
{
	if (writes_left == 0)
		return -1;
	if (writes_left > 0)
		writes_left--;
	return iovirt_posix_ops()->guest_write(host, guest, gpa, src, len);
}

// The poll loop's steps pass on a failing ring write: kicked (notify_disable fails: the stretch
// does not start), polled after the re-check found a chain (the second disable fails); a poll
// step that took a full budget polls again without touching the ring.
Test(vargs, poll_loop_write_faults)
{
	struct q q;
	vt_init(&q.t);
	vt_add(&q.t, G(0), 48 * 4096, IOVIRT_REGION_RAM, RW);
	static struct iovirt_host_ops ops;
	ops = *q.t.ops;
	ops.guest_write = n_write;
	writes_left = -1;
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = NUM, .desc_gpa = DESC,
				      .avail_gpa = AVAIL, .used_gpa = USED, .map = q.t.map };
	cr_assert_eq(iovirt_vq_create(&ops, q.t.p, &p, &q.vq), 0);
	q.num = NUM;
	q.drv_idx = 0;
	struct iovirt_irqpoll *ip;
	struct iovirt_irqpoll_params pp = { .size = sizeof(pp), .mode = IOVIRT_IRQPOLL_NAPI, .budget = 4 };
	cr_assert_eq(iovirt_irqpoll_create(q.t.ops, q.t.p, &pp, &ip), 0);
	writes_left = 0;
	cr_assert_eq(iovirt_vq_kicked(q.vq, ip, 1), IOVIRT_EGUEST);
	uint16_t flags;
	memcpy(&flags, gmem(&q, USED), 2);
	cr_assert_eq(flags, 0, "notifications still on");
	writes_left = -1;
	cr_assert_eq(iovirt_vq_kicked(q.vq, ip, 2), 0);
	memcpy(&flags, gmem(&q, USED), 2);
	cr_assert_eq(flags, IOVIRT_VRING_USED_F_NO_NOTIFY);
	/* a full budget: poll again, notifications stay off, the ring untouched */
	const uint64_t w = iovirt_posix_count(q.t.p, IOVIRT_CB_GUEST_WRITE);
	cr_assert_eq(iovirt_vq_polled(q.vq, ip, 4, 3), IOVIRT_IRQPOLL_AGAIN);
	cr_assert_eq(iovirt_posix_count(q.t.p, IOVIRT_CB_GUEST_WRITE), w);
	/* nothing taken: re-arm (enable: one write), the re-check finds a chain, the disable fails */
	put_desc(&q, 0, G(1), 64, 0, 0);
	offer(&q, 0);
	writes_left = 1;
	cr_assert_eq(iovirt_vq_polled(q.vq, ip, 0, 4), IOVIRT_EGUEST);
	writes_left = -1;
	iovirt_irqpoll_destroy(ip);
	iovirt_vq_destroy(q.vq);
	vt_fini(&q.t);
}

// push_used_batch refuses NULL entries with n > 0 and n above num (EINVAL) for packed queues as
// for split ones, writing nothing.
Test(vargs, push_batch_arguments)
{
	for (int packed = 0; packed < 2; packed++) {
		struct q q;
		q_init_num(&q, packed ? IOVIRT_VQ_F_PACKED : 0, 4);
		struct iovirt_vq_used u[5] = { { 0, 0 } };
		cr_assert_eq(iovirt_vq_push_used_batch(q.vq, NULL, 1), IOVIRT_EINVAL, "packed %d", packed);
		cr_assert_eq(iovirt_vq_push_used_batch(q.vq, u, 5), IOVIRT_EINVAL, "packed %d", packed);
		cr_assert_eq(iovirt_vq_push_used_batch(q.vq, NULL, 0), 0);
		cr_assert_eq(iovirt_vq_used_idx(q.vq), packed ? 0x8000 : 0);
		q_fini(&q);
	}
}
