/* SPDX-License-Identifier: MIT */
/* virtio split virtqueues: chains, indirect tables, ring wrap-around, refusals, read-once. */
#include "vt.h"

#define G(x) (VT_GPA + (x) * 4096ull)
#define NUM 8u
#define DESC G(40)
#define AVAIL G(41)
#define USED G(42)
#define IND G(43) /* indirect tables live here */

#define F_NEXT IOVIRT_VIRTQ_DESC_F_NEXT
#define F_WRITE IOVIRT_VIRTQ_DESC_F_WRITE
#define F_IND IOVIRT_VIRTQ_DESC_F_INDIRECT

struct q {
	struct vt t;
	struct iovirt_vq *vq;
	uint16_t drv_idx; /* the driver's avail idx */
};

static uint8_t *gmem(struct q *q, uint64_t gpa)
{
	return q->t.mem + (gpa - VT_GPA);
}

static void put_desc_at(struct q *q, uint64_t table, uint32_t i, uint64_t addr, uint32_t len,
			uint16_t flags, uint16_t next)
{
	uint8_t *d = gmem(q, table) + i * 16;
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static void put_desc(struct q *q, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	put_desc_at(q, DESC, i, addr, len, flags, next);
}

static void offer(struct q *q, uint16_t head)
{
	memcpy(gmem(q, AVAIL) + 4 + 2 * (q->drv_idx % NUM), &head, 2);
	q->drv_idx++;
	memcpy(gmem(q, AVAIL) + 2, &q->drv_idx, 2);
}

static void q_init(struct q *q, uint32_t flags)
{
	vt_init(&q->t);
	vt_add(&q->t, G(0), 48 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(&q->t, G(50), 4096, IOVIRT_REGION_ROM, DR);
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = NUM,
				      .flags = flags, .desc_gpa = DESC, .avail_gpa = AVAIL,
				      .used_gpa = USED };
	cr_assert_eq(iovirt_vq_create(q->t.ops, q->t.p, &p, &q->vq), 0);
	q->drv_idx = 0;
}

static void q_fini(struct q *q)
{
	iovirt_vq_destroy(q->vq);
	vt_fini(&q->t);
}

static int pop(struct q *q, struct iovirt_host_seg *out, struct iovirt_dma_result *res)
{
	return iovirt_vq_pop(q->vq, q->t.map, NULL, out, 16, res);
}

// A direct chain (readable then writable) becomes a host list; completion writes the used ring.
Test(virtq, direct_chain)
{
	struct q q;
	q_init(&q, 0);
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	cr_assert_eq(pop(&q, out, &res), 0, "empty queue");
	put_desc(&q, 3, G(1), 100, F_NEXT, 5);
	put_desc(&q, 5, G(2), 1500, F_WRITE, 0);
	offer(&q, 3);
	cr_assert_eq(iovirt_vq_avail(q.vq), 1);
	cr_assert_eq(pop(&q, out, &res), 2);
	cr_assert_eq(res.head, 3);
	cr_assert_eq(res.nsegs, 2);
	cr_assert_eq(res.read_bytes, 100);
	cr_assert_eq(res.write_bytes, 1500);
	cr_assert_eq(out[0].hva, q.t.mem + 4096);
	cr_assert_eq(out[0].dir, DR);
	cr_assert_eq(out[1].hva, q.t.mem + 2 * 4096);
	cr_assert_eq(out[1].dir, DW);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 1);
	cr_assert_eq(pop(&q, out, &res), 0, "nothing more");
	cr_assert_eq(iovirt_vq_push_used(q.vq, 3, 1500), 0);
	uint32_t el[2];
	uint16_t uidx;
	memcpy(el, gmem(&q, USED) + 4, 8);
	memcpy(&uidx, gmem(&q, USED) + 2, 2);
	cr_assert_eq(el[0], 3);
	cr_assert_eq(el[1], 1500);
	cr_assert_eq(uidx, 1);
	cr_assert_eq(iovirt_vq_push_used(q.vq, NUM, 0), IOVIRT_EINDEX);
	q_fini(&q);
}

// An indirect table (after a direct descriptor) is followed; its WRITE flag on the pointer is ignored.
Test(virtq, indirect_chain)
{
	struct q q;
	q_init(&q, IOVIRT_VQ_F_INDIRECT);
	put_desc(&q, 0, G(1), 16, F_NEXT, 1);
	put_desc(&q, 1, IND, 3 * 16, F_IND | F_WRITE, 0);
	put_desc_at(&q, IND, 0, G(3), 200, F_NEXT, 2);
	put_desc_at(&q, IND, 2, G(4), 300, F_NEXT | F_WRITE, 1);
	put_desc_at(&q, IND, 1, G(4) + 300, 400, F_WRITE, 0);
	offer(&q, 0);
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	int n = pop(&q, out, &res);
	cr_assert_eq(n, 3, "%s", iovirt_err_name(n));
	cr_assert_eq(res.nsegs, 4);
	cr_assert_eq(out[0].len, 16);
	cr_assert_eq(out[1].len, 200);
	cr_assert_eq(out[2].len, 700, "merged writable pieces");
	cr_assert_eq(res.write_bytes, 700);
	q_fini(&q);
}

// Ring indices wrap at 2^16: heads offered across the wrap are taken in order, used idx wraps too.
Test(virtq, wrap_around)
{
	struct q q;
	q_init(&q, 0);
	q.drv_idx = 65533;
	iovirt_vq_set_cursors(q.vq, 65533, 65534);
	for (uint16_t h = 0; h < 5; h++) {
		put_desc(&q, h, G(h), 64 + h, 0, 0);
		offer(&q, h);
	}
	cr_assert_eq(q.drv_idx, 2);
	cr_assert_eq(iovirt_vq_avail(q.vq), 5);
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	for (uint16_t h = 0; h < 5; h++) {
		cr_assert_eq(pop(&q, out, &res), 1);
		cr_assert_eq(res.head, h);
		cr_assert_eq(out[0].len, 64 + h);
		cr_assert_eq(iovirt_vq_push_used(q.vq, h, h), 0);
	}
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 2);
	cr_assert_eq(iovirt_vq_used_idx(q.vq), 3);
	uint16_t uidx;
	memcpy(&uidx, gmem(&q, USED) + 2, 2);
	cr_assert_eq(uidx, 3);
	uint32_t el[2];
	memcpy(el, gmem(&q, USED) + 4 + 8 * (65535 % NUM), 8); /* the second completion went to slot 65535 */
	cr_assert_eq(el[0], 1);
	/* a driver claiming more than num new heads is refused */
	q.drv_idx = (uint16_t)(2 + NUM + 1);
	memcpy(gmem(&q, AVAIL) + 2, &q.drv_idx, 2);
	cr_assert_eq(iovirt_vq_avail(q.vq), IOVIRT_EINDEX);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EINDEX);
	q_fini(&q);
}

struct vq_case {
	const char *what;
	int err;
	uint32_t where, desc, seg;
};

static void expect_walk(struct q *q, uint32_t head, const struct vq_case *c)
{
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	int r = iovirt_vq_walk(q->vq, q->t.map, NULL, head, out, 16, &res);
	cr_expect_eq(r, c->err, "%s: got %s", c->what, iovirt_err_name(r));
	cr_expect_eq(res.err, c->err < 0 ? c->err : 0, "%s", c->what);
	cr_expect_eq(res.where, c->where, "%s: where %u", c->what, res.where);
	cr_expect_eq(res.desc, c->desc, "%s: desc %u", c->what, res.desc);
	cr_expect_eq(res.seg, c->seg, "%s: seg %u", c->what, res.seg);
}

// Every malformed chain is refused with its own code, naming the descriptor.
Test(virtq, refusals)
{
	struct q q;
	q_init(&q, IOVIRT_VQ_F_INDIRECT);
	const uint32_t T = IOVIRT_WHERE_TABLE, I = IOVIRT_WHERE_INDIRECT;

	expect_walk(&q, NUM, &(struct vq_case){ "head out of range", IOVIRT_EINDEX, T, NUM, 0 });
	put_desc(&q, 0, G(1), 10, F_NEXT, 9);
	expect_walk(&q, 0, &(struct vq_case){ "next out of range", IOVIRT_EINDEX, T, 9, 1 });
	put_desc(&q, 0, G(1), 10, F_NEXT, 0);
	expect_walk(&q, 0, &(struct vq_case){ "self loop", IOVIRT_ELOOP, T, 0, 1 });
	put_desc(&q, 0, G(1), 10, F_NEXT, 1);
	put_desc(&q, 1, G(1), 10, F_NEXT, 2);
	put_desc(&q, 2, G(1), 10, F_NEXT, 1);
	expect_walk(&q, 0, &(struct vq_case){ "loop", IOVIRT_ELOOP, T, 1, 3 });
	put_desc(&q, 2, G(1), 10, F_WRITE | F_NEXT, 3);
	put_desc(&q, 3, G(1), 10, 0, 0);
	expect_walk(&q, 0, &(struct vq_case){ "readable after writable", IOVIRT_EORDER, T, 3, 3 });
	put_desc(&q, 3, G(60), 10, F_WRITE, 0);
	expect_walk(&q, 0, &(struct vq_case){ "buffer outside", IOVIRT_ENOREGION, T, 3, 3 });
	put_desc(&q, 3, G(50), 10, F_WRITE, 0);
	expect_walk(&q, 0, &(struct vq_case){ "write to ROM", IOVIRT_EREADONLY, T, 3, 3 });
	put_desc(&q, 3, G(1), 0, F_WRITE, 0);
	expect_walk(&q, 0, &(struct vq_case){ "zero length", IOVIRT_EZEROLEN, T, 3, 3 });
	struct iovirt_region big = { .size = sizeof(big), .gpa = 1ull << 40, .length = 5ull << 30,
				     .kind = IOVIRT_REGION_RAM, .access = RW, .owner = VT_GUEST,
				     .flags = IOVIRT_REGION_HPA, .hpa = 1ull << 40 };
	cr_assert_eq(iovirt_gmap_add(q.t.map, &big), 0);
	put_desc(&q, 2, 1ull << 40, 0x80000000u, F_WRITE | F_NEXT, 3);
	put_desc(&q, 3, (1ull << 40) + 0x80000000u, 0x80000000u, F_WRITE, 0);
	expect_walk(&q, 0, &(struct vq_case){ "2^32 bytes", IOVIRT_ETOOBIG, T, 3, 3 });

	/* indirect tables */
	put_desc(&q, 4, IND, 0, F_IND, 0);
	expect_walk(&q, 4, &(struct vq_case){ "indirect len 0", IOVIRT_EINDIRECT, T, 4, 0 });
	put_desc(&q, 4, IND, 17, F_IND, 0);
	expect_walk(&q, 4, &(struct vq_case){ "indirect len 17", IOVIRT_EINDIRECT, T, 4, 0 });
	put_desc(&q, 4, IND, (NUM + 1) * 16, F_IND, 0);
	expect_walk(&q, 4, &(struct vq_case){ "indirect too big", IOVIRT_EINDIRECT, T, 4, 0 });
	put_desc(&q, 4, IND, 32, F_IND | F_NEXT, 5);
	expect_walk(&q, 4, &(struct vq_case){ "indirect with next", IOVIRT_EINDIRECT, T, 4, 0 });
	put_desc(&q, 4, G(60), 32, F_IND, 0);
	expect_walk(&q, 4, &(struct vq_case){ "table outside", IOVIRT_ENOREGION, T, 4, 0 });
	put_desc(&q, 4, IND, 32, F_IND, 0);
	put_desc_at(&q, IND, 0, IND + 64, 32, F_IND, 0);
	expect_walk(&q, 4, &(struct vq_case){ "nested", IOVIRT_ENESTED, I, 0, 0 });
	put_desc_at(&q, IND, 0, G(1), 10, F_NEXT, 2);
	expect_walk(&q, 4, &(struct vq_case){ "indirect next out", IOVIRT_EINDEX, I, 2, 1 });
	put_desc_at(&q, IND, 0, G(1), 10, F_NEXT, 1);
	put_desc_at(&q, IND, 1, G(1), 10, F_NEXT, 0);
	expect_walk(&q, 4, &(struct vq_case){ "indirect loop", IOVIRT_ELOOP, I, 0, 2 });
	put_desc_at(&q, IND, 1, G(1), 10, F_WRITE | F_NEXT, 0);
	put_desc(&q, 4, IND, 32, F_IND, 0);
	/* a chain longer than the queue: 2 direct + 8 indirect entries > NUM */
	for (uint32_t k = 0; k < NUM; k++)
		put_desc_at(&q, IND, k, G(1), 10, (k + 1 < NUM) ? F_NEXT : 0, (uint16_t)(k + 1));
	put_desc(&q, 5, G(1), 10, F_NEXT, 6);
	put_desc(&q, 6, G(1), 10, F_NEXT, 7);
	put_desc(&q, 7, IND, NUM * 16, F_IND, 0);
	expect_walk(&q, 5, &(struct vq_case){ "chain too long", IOVIRT_ECHAIN, I, 6, 8 });
	/* exactly NUM buffers is fine */
	expect_walk(&q, 7, &(struct vq_case){ "num buffers", (int)NUM, 0, 0, NUM });
	q_fini(&q);
}

// Without VIRTIO_F_INDIRECT_DESC an indirect descriptor is refused; a bad ring head names the ring.
Test(virtq, no_indirect_and_bad_head)
{
	struct q q;
	q_init(&q, 0);
	put_desc(&q, 1, IND, 32, F_IND, 0);
	expect_walk(&q, 1, &(struct vq_case){ "feature off", IOVIRT_EINDIRECT, IOVIRT_WHERE_TABLE, 1, 0 });
	offer(&q, 200);
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EINDEX);
	cr_assert_eq(res.where, IOVIRT_WHERE_RING);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 0, "a refusal does not advance");
	cr_assert_eq(iovirt_vq_skip(q.vq), 0);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 1);
	cr_assert_eq(iovirt_vq_skip(q.vq), IOVIRT_ENOENT);
	q_fini(&q);
}

struct hook_ctx {
	struct q *q;
	uint8_t *count;
};

static void rewrite_hook(void *arg, uint32_t guest, uint64_t gpa, size_t len)
{
	struct hook_ctx *c = arg;
	(void)guest;
	uint8_t *m = c->q->t.mem + (gpa - VT_GPA);
	for (size_t i = 0; i < len; i++)
		c->count[gpa - VT_GPA + i]++;
	/* after the device's read, the guest scribbles: every byte it just read changes */
	for (size_t i = 0; i < len; i++)
		m[i] ^= 0x5a;
}

// Chains are read once per byte; a guest rewriting after each read changes nothing in the result.
Test(virtq, read_once)
{
	struct q q;
	q_init(&q, IOVIRT_VQ_F_INDIRECT);
	put_desc(&q, 2, G(1), 100, F_NEXT, 6);
	put_desc(&q, 6, IND, 2 * 16, F_IND, 0);
	put_desc_at(&q, IND, 0, G(2), 500, F_NEXT | F_WRITE, 1);
	put_desc_at(&q, IND, 1, G(3), 600, F_WRITE, 0);
	offer(&q, 2);
	uint8_t *saved = malloc(VT_BYTES);
	memcpy(saved, q.t.mem, VT_BYTES);
	struct iovirt_host_seg ref[16], out[16];
	struct iovirt_dma_result rref, res;
	int nref = pop(&q, ref, &rref);
	cr_assert_eq(nref, 3, "%s", iovirt_err_name(nref));
	/* again, with a hostile guest */
	memcpy(q.t.mem, saved, VT_BYTES);
	iovirt_vq_set_cursors(q.vq, 0, 0);
	struct hook_ctx c = { &q, calloc(VT_BYTES, 1) };
	iovirt_posix_set_read_hook(q.t.p, rewrite_hook, &c);
	int n = pop(&q, out, &res);
	iovirt_posix_set_read_hook(q.t.p, NULL, NULL);
	cr_assert_eq(n, nref);
	cr_assert_arr_eq(out, ref, sizeof(out[0]) * (size_t)n);
	cr_assert_eq(res.total, rref.total);
	cr_assert_eq(res.head, rref.head);
	size_t read_bytes = 0;
	for (size_t i = 0; i < VT_BYTES; i++) {
		cr_assert_leq(c.count[i], 1, "byte %#zx read %u times", i, c.count[i]);
		read_bytes += c.count[i];
	}
	/* avail idx + one ring slot + two descriptors + one 32-byte table */
	cr_assert_eq(read_bytes, 2 + 2 + 16 + 16 + 32);
	free(c.count);
	free(saved);
	q_fini(&q);
}

// Queue parameters are checked; failing either allocation leaks nothing.
Test(virtq, create)
{
	struct vt t;
	vt_init(&t);
	struct iovirt_vq *vq = NULL;
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = 256,
				      .desc_gpa = DESC, .avail_gpa = AVAIL, .used_gpa = USED };
	struct iovirt_vq_params b = p;
	b.num = 3;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &b, &vq), IOVIRT_EINVAL);
	b.num = 65536;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &b, &vq), IOVIRT_EINVAL);
	b = p;
	b.flags = 2;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &b, &vq), IOVIRT_EINVAL);
	b = p;
	b.desc_gpa += 8;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &b, &vq), IOVIRT_EALIGN);
	b = p;
	b.used_gpa += 2;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &b, &vq), IOVIRT_EALIGN);
	b = p;
	b.avail_gpa = UINT64_MAX - 7;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &b, &vq), IOVIRT_EOVERFLOW);
	for (uint64_t n = 1; n <= 2; n++) {
		iovirt_posix_fail_alloc_at(t.p, n);
		cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &vq), IOVIRT_ENOMEM);
		iovirt_posix_fail_alloc_at(t.p, 0);
	}
	cr_assert_null(vq);
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &vq), 0);
	iovirt_vq_destroy(vq);
	vt_fini(&t);
}
