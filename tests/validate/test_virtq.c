/* SPDX-License-Identifier: MIT */
/* virtio split virtqueues: chains, indirect tables, ring wrap-around, refusals, read-once,
 * ring placement checked against the map and held. */
#include "vq.h"

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
	q.drv_idx = 65534;
	iovirt_vq_set_cursors(q.vq, 65534, 65534);
	for (uint16_t h = 0; h < 5; h++) {
		put_desc(&q, h, G(h), 64 + h, 0, 0);
		offer(&q, h);
	}
	cr_assert_eq(q.drv_idx, 3);
	cr_assert_eq(iovirt_vq_avail(q.vq), 5);
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	for (uint16_t h = 0; h < 5; h++) {
		cr_assert_eq(pop(&q, out, &res), 1);
		cr_assert_eq(res.head, h);
		cr_assert_eq(out[0].len, 64 + h);
		cr_assert_eq(iovirt_vq_push_used(q.vq, h, h), 0);
	}
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 3);
	cr_assert_eq(iovirt_vq_used_idx(q.vq), 3);
	uint16_t uidx;
	memcpy(&uidx, gmem(&q, USED) + 2, 2);
	cr_assert_eq(uidx, 3);
	uint32_t el[2];
	memcpy(el, gmem(&q, USED) + 4 + 8 * (65535 % NUM), 8); /* the second completion went to slot 65535 */
	cr_assert_eq(el[0], 1);
	/* a driver claiming more than num new heads is refused */
	q.drv_idx = (uint16_t)(3 + NUM + 1);
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

static int walk_pol(struct q *q, const struct iovirt_sg_policy *pol, uint32_t head,
		    struct iovirt_dma_result *res)
{
	struct iovirt_host_seg out[16];
	return iovirt_vq_walk(q->vq, q->t.map, pol, head, out, 16, res);
}

// An indirect table is checked for its placement only (one region, device-readable, not MMIO
// even where the policy allows MMIO buffers, not RESERVED) and its own format, never with the
// buffers' alignment policy; the buffers it names still are.
Test(virtq, indirect_table_placement)
{
	struct q q;
	q_init(&q, IOVIRT_VQ_F_INDIRECT);
	vt_add(&q.t, G(48), 4096, IOVIRT_REGION_RAM, RW);
	vt_add(&q.t, G(52), 4096, IOVIRT_REGION_MMIO, RW); /* with a host address */
	vt_add(&q.t, G(54), 4096, IOVIRT_REGION_RESERVED, RW);
	vt_add(&q.t, G(56), 4096, IOVIRT_REGION_RAM, DW);
	struct iovirt_sg_policy pol = { .size = sizeof(pol), .flags = IOVIRT_POLICY_ALLOW_MMIO,
					.addr_align = 512, .len_align = 512 };
	struct iovirt_dma_result res;
	/* a 48-byte table at a 16-byte offset; its buffers aligned as the policy asks */
	const uint64_t tab = IND + 16;
	put_desc(&q, 0, tab, 48, F_IND, 0);
	put_desc_at(&q, tab, 0, G(1), 512, F_NEXT, 1);
	put_desc_at(&q, tab, 1, G(2), 1024, F_NEXT | F_WRITE, 2);
	put_desc_at(&q, tab, 2, G(3), 512, F_WRITE, 0);
	int r = walk_pol(&q, &pol, 0, &res);
	cr_assert_gt(r, 0, "48-byte table at a 16-byte offset: %s", iovirt_err_name(r));
	cr_assert_eq(res.nsegs, 3);
	/* the buffers keep the policy */
	put_desc_at(&q, tab, 2, G(3), 100, F_WRITE, 0);
	cr_assert_eq(walk_pol(&q, &pol, 0, &res), IOVIRT_EALIGN);
	cr_assert_eq(res.where, IOVIRT_WHERE_INDIRECT);
	cr_assert_eq(res.desc, 2);
	put_desc_at(&q, tab, 2, G(52), 512, F_WRITE, 0);
	cr_assert_gt(walk_pol(&q, &pol, 0, &res), 0, "an MMIO buffer the policy allows");
	/* the table's own format: 16-byte entries, bounded */
	put_desc(&q, 0, tab, 40, F_IND, 0);
	cr_assert_eq(walk_pol(&q, &pol, 0, &res), IOVIRT_EINDIRECT);
	/* placement: every refusal names the descriptor pointing at the table */
	const struct {
		const char *what;
		uint64_t at;
		int err;
		uint64_t gpa;
	} cases[] = {
		{ "MMIO, though MMIO buffers are allowed", G(52) + 16, IOVIRT_EMMIO, G(52) + 16 },
		{ "RESERVED", G(54), IOVIRT_ERESERVED, G(54) },
		{ "device-write-only RAM", G(56) + 32, IOVIRT_EPERM, G(56) + 32 },
		{ "running out of the map", G(49) - 32, IOVIRT_ENOREGION, G(49) },
		{ "outside", G(60), IOVIRT_ENOREGION, G(60) },
		{ "ROM", G(50) + 48, 0, 0 },
		{ "across two regions", G(48) - 16, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		put_desc(&q, 0, cases[i].at, 48, F_IND, 0);
		memcpy(gmem(&q, cases[i].at), gmem(&q, tab), 48);
		uint64_t reads = iovirt_posix_count(q.t.p, IOVIRT_CB_GUEST_READ);
		r = walk_pol(&q, &pol, 0, &res);
		if (!cases[i].err) {
			cr_assert_gt(r, 0, "%s: %s", cases[i].what, iovirt_err_name(r));
			continue;
		}
		cr_assert_eq(r, cases[i].err, "%s: %s", cases[i].what, iovirt_err_name(r));
		cr_assert_eq(res.where, IOVIRT_WHERE_TABLE, "%s", cases[i].what);
		cr_assert_eq(res.desc, 0, "%s", cases[i].what);
		cr_assert_eq(res.gpa, cases[i].gpa, "%s", cases[i].what);
		cr_assert_eq(iovirt_posix_count(q.t.p, IOVIRT_CB_GUEST_READ), reads + 1,
			     "%s: the table was read", cases[i].what);
	}
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
	b.flags = IOVIRT_VQ_F_ALL + 1; /* the first flag not defined */
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

/* ---- ring placement (params.map) ---- */

#define OTHER_GUEST (VT_GUEST + 1)

/* RAM G(0..48) and G(48), ROM G(50), MMIO with a host address G(52), RESERVED
 * G(54), another guest's RAM G(56), SHARED G(58), write-only RAM G(60), read-only
 * RAM G(62); nothing from G(64) on. */
static void ring_map(struct vt *t)
{
	vt_init(t);
	vt_add(t, G(0), 48 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(t, G(48), 4096, IOVIRT_REGION_RAM, RW);
	vt_add(t, G(50), 4096, IOVIRT_REGION_ROM, DR);
	vt_add(t, G(52), 4096, IOVIRT_REGION_MMIO, RW);
	vt_add(t, G(54), 4096, IOVIRT_REGION_RESERVED, RW);
	struct iovirt_region r = vt_region(t, G(56), 4096, IOVIRT_REGION_RAM, RW);
	r.owner = OTHER_GUEST;
	cr_assert_eq(iovirt_gmap_add(t->map, &r), 0);
	r = vt_region(t, G(58), 4096, IOVIRT_REGION_SHARED, RW);
	r.owner = OTHER_GUEST;
	cr_assert_eq(iovirt_gmap_add(t->map, &r), 0);
	vt_add(t, G(60), 4096, IOVIRT_REGION_RAM, DW);
	vt_add(t, G(62), 4096, IOVIRT_REGION_RAM, DR);
}

static const uint64_t ring_regions[] = { G(0), G(48), G(50), G(52), G(54), G(56), G(58), G(60), G(62) };

static void assert_no_hold(struct vt *t, const char *what)
{
	for (size_t i = 0; i < sizeof(ring_regions) / sizeof(ring_regions[0]); i++)
		cr_assert_eq(iovirt_gmap_in_use(t->map, ring_regions[i]), 0, "%s: region %zu held", what, i);
}

struct ring_case {
	const char *what;
	uint64_t desc, avail, used;
	uint32_t pol_flags;
	int err;
};

/* Regions a ring of len bytes at gpa holds in ring_map: two when it runs from
 * G(0..48) into G(48). */
static int64_t ring_holds(uint64_t gpa, uint64_t len)
{
	return gpa < G(48) && gpa + len > G(48) ? 2 : 1;
}

// Each ring must lie in regions the device may use that way (across adjacent ones only without
// IOVIRT_POLICY_STRICT_REGIONS, one hold per region); every refusal is sg_validate's code.
Test(virtq, ring_placement)
{
	struct vt t;
	ring_map(&t);
	const struct ring_case cases[] = {
		{ "all in RAM", DESC, AVAIL, USED, 0, 0 },
		{ "used ring in ROM", DESC, AVAIL, G(50), 0, IOVIRT_EREADONLY },
		{ "used ring in read-only RAM", DESC, AVAIL, G(62), 0, IOVIRT_EREADONLY },
		{ "used ring in MMIO", DESC, AVAIL, G(52), 0, IOVIRT_EMMIO },
		{ "used ring in MMIO, allowed", DESC, AVAIL, G(52), IOVIRT_POLICY_ALLOW_MMIO, 0 },
		{ "used ring in RESERVED", DESC, AVAIL, G(54), 0, IOVIRT_ERESERVED },
		{ "used ring crossing two regions", DESC, AVAIL, G(48) - 8, 0, 0 },
		{ "used ring crossing, strict", DESC, AVAIL, G(48) - 8, IOVIRT_POLICY_STRICT_REGIONS,
		  IOVIRT_ECROSS },
		{ "used ring crossing into nothing", DESC, AVAIL, G(49) - 8, 0, IOVIRT_ENOREGION },
		{ "used ring running out of the map", DESC, AVAIL, G(63) + 4096 - 8, 0, IOVIRT_ENOREGION },
		{ "used ring outside", DESC, AVAIL, G(70), 0, IOVIRT_ENOREGION },
		{ "used ring in another guest's RAM", DESC, AVAIL, G(56), 0, IOVIRT_EFOREIGN },
		{ "used ring in SHARED", DESC, AVAIL, G(58), 0, IOVIRT_EP2P },
		{ "used ring in SHARED, allowed", DESC, AVAIL, G(58), IOVIRT_POLICY_ALLOW_P2P, 0 },
		{ "used ring in write-only RAM", DESC, AVAIL, G(60), 0, 0 },
		{ "table in ROM", G(50), AVAIL, USED, 0, 0 },
		{ "table in write-only RAM", G(60), AVAIL, USED, 0, IOVIRT_EPERM },
		{ "table in RESERVED", G(54), AVAIL, USED, 0, IOVIRT_ERESERVED },
		{ "table outside", G(70), AVAIL, USED, 0, IOVIRT_ENOREGION },
		{ "table crossing", G(48) - 16, AVAIL, USED, 0, 0 },
		{ "table crossing, strict", G(48) - 16, AVAIL, USED, IOVIRT_POLICY_STRICT_REGIONS,
		  IOVIRT_ECROSS },
		{ "avail ring in ROM", DESC, G(50), USED, 0, 0 },
		{ "avail ring in MMIO", DESC, G(52), USED, 0, IOVIRT_EMMIO },
		{ "avail ring in another guest's RAM", DESC, G(56), USED, 0, IOVIRT_EFOREIGN },
		{ "avail ring in write-only RAM", DESC, G(60), USED, 0, IOVIRT_EPERM },
		{ "avail ring crossing", DESC, G(48) - 2, USED, 0, 0 },
		{ "avail ring crossing, strict", DESC, G(48) - 2, USED, IOVIRT_POLICY_STRICT_REGIONS,
		  IOVIRT_ECROSS },
		/* the first bad ring decides, in the order table, available, used */
		{ "table and used bad", G(54), AVAIL, G(50), 0, IOVIRT_ERESERVED },
		{ "avail and used bad", DESC, G(56), G(50), 0, IOVIRT_EFOREIGN },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ring_case *c = &cases[i];
		struct iovirt_sg_policy pol = { .size = sizeof(pol), .flags = c->pol_flags };
		struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = NUM,
					      .desc_gpa = c->desc, .avail_gpa = c->avail,
					      .used_gpa = c->used, .map = t.map, .pol = &pol };
		struct iovirt_vq *vq = NULL;
		int64_t mem = iovirt_posix_live_mem(t.p);
		int r = iovirt_vq_create(t.ops, t.p, &p, &vq);
		cr_assert_eq(r, c->err, "%s: got %s", c->what, iovirt_err_name(r));
		if (r) {
			cr_assert_null(vq, "%s", c->what);
			cr_assert_eq(iovirt_posix_live_mem(t.p), mem, "%s: allocated", c->what);
			assert_no_hold(&t, c->what);
			continue;
		}
		/* one hold per ring and region */
		int64_t held = 0;
		for (size_t k = 0; k < sizeof(ring_regions) / sizeof(ring_regions[0]); k++)
			held += iovirt_gmap_in_use(t.map, ring_regions[k]);
		cr_assert_eq(held, ring_holds(c->desc, IOVIRT_VQ_DESC_BYTES(NUM)) +
					   ring_holds(c->avail, IOVIRT_VQ_AVAIL_BYTES(NUM)) +
					   ring_holds(c->used, IOVIRT_VQ_USED_BYTES(NUM)),
			     "%s", c->what);
		iovirt_vq_destroy(vq);
		assert_no_hold(&t, c->what);
	}
	vt_fini(&t);
}

// Parameters of the map check: a map of another guest or a bad policy is EINVAL; nothing held.
Test(virtq, ring_map_params)
{
	struct vt t;
	ring_map(&t);
	struct iovirt_vq *vq = NULL;
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = OTHER_GUEST, .num = NUM,
				      .desc_gpa = DESC, .avail_gpa = AVAIL, .used_gpa = USED,
				      .map = t.map };
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &vq), IOVIRT_EINVAL, "map of another guest");
	struct iovirt_sg_policy bad = { .size = 1 };
	p.guest = VT_GUEST;
	p.pol = &bad;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &vq), IOVIRT_EINVAL, "bad policy");
	/* the buffer limits of a policy do not apply to rings */
	struct iovirt_sg_policy tight = { .size = sizeof(tight), .max_segs = 1, .max_total = 1,
					  .addr_align = 4096, .len_align = 4096 };
	p.pol = &tight;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &vq), 0);
	iovirt_vq_destroy(vq);
	vq = NULL;
	/* the ring checks come after the existing parameter checks */
	p.pol = NULL;
	p.used_gpa = G(50) + 2;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &vq), IOVIRT_EALIGN);
	cr_assert_null(vq);
	assert_no_hold(&t, "params");
	vt_fini(&t);
}

// The rings' regions are held while the queue lives: remove and shrink are EBUSY until destroy.
Test(virtq, ring_hold)
{
	struct q q;
	q_init(&q, 0);
	struct vt *t = &q.t;
	vt_add(t, G(48), 4096, IOVIRT_REGION_RAM, RW);
	struct iovirt_vq *vq2;
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = NUM,
				      .desc_gpa = DESC, .avail_gpa = AVAIL, .used_gpa = G(48),
				      .map = t->map };
	cr_assert_eq(iovirt_vq_create(t->ops, t->p, &p, &vq2), 0);
	cr_assert_eq(iovirt_gmap_in_use(t->map, G(0)), 3 + 2, "q's three rings, vq2's table and avail");
	cr_assert_eq(iovirt_gmap_in_use(t->map, G(48)), 1, "vq2's used ring");
	cr_assert_eq(iovirt_gmap_remove(t->map, G(48)), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_gmap_shrink(t->map, G(0), 4096), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_gmap_remove(t->map, G(0)), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_gmap_destroy(t->map), IOVIRT_EBUSY, "the map outlives its queues");
	/* the queue still works */
	put_desc(&q, 0, G(1), 64, F_WRITE, 0);
	offer(&q, 0);
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	cr_assert_eq(iovirt_vq_pop(vq2, t->map, NULL, out, 16, &res), 1);
	cr_assert_eq(iovirt_vq_push_used(vq2, 0, 64), 0);
	uint16_t uidx;
	memcpy(&uidx, gmem(&q, G(48)) + 2, 2);
	cr_assert_eq(uidx, 1);
	iovirt_vq_destroy(vq2);
	cr_assert_eq(iovirt_gmap_in_use(t->map, G(0)), 3);
	cr_assert_eq(iovirt_gmap_remove(t->map, G(48)), 0, "released at destroy");
	cr_assert_eq(iovirt_gmap_shrink(t->map, G(0), 4096), IOVIRT_EBUSY, "q still holds it");
	iovirt_vq_destroy(q.vq);
	q.vq = NULL;
	cr_assert_eq(iovirt_gmap_in_use(t->map, G(0)), 0);
	cr_assert_eq(iovirt_gmap_shrink(t->map, G(0), 44 * 4096), 0);
	iovirt_gmap_reclaim(t->map);
	vt_fini(t);
}

// Older callers (a size that ends before map) get today's behaviour: no check, no hold.
Test(virtq, ring_old_size)
{
	struct vt t;
	ring_map(&t);
	const size_t sizes[] = { IOVIRT_VQ_PARAMS_SIZE_V1,
				 offsetof(struct iovirt_vq_params, map) + sizeof(void *),
				 offsetof(struct iovirt_vq_params, pol) + sizeof(void *) - 1 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		/* the map field is there in memory but not covered by size: ignored */
		struct iovirt_vq_params p = { .size = sizes[i], .guest = VT_GUEST, .num = NUM,
					      .desc_gpa = DESC, .avail_gpa = AVAIL, .used_gpa = G(50),
					      .map = t.map };
		struct iovirt_vq *vq = NULL;
		cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &vq), 0, "size %zu", sizes[i]);
		assert_no_hold(&t, "old size");
		/* as before: guest_write alone decides (the test guest's buffer backs G(50));
		 * restored cursors put one chain in flight to complete */
		iovirt_vq_set_cursors(vq, 1, 0);
		cr_assert_eq(iovirt_vq_push_used(vq, 1, 7), 0);
		iovirt_vq_destroy(vq);
	}
	struct iovirt_vq_params p = { .size = IOVIRT_VQ_PARAMS_SIZE_V1 - 1, .guest = VT_GUEST,
				      .num = NUM, .desc_gpa = DESC, .avail_gpa = AVAIL,
				      .used_gpa = USED };
	struct iovirt_vq *vq = NULL;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &vq), IOVIRT_EINVAL, "size below the first version");
	vt_fini(&t);
}

// Failing the Nth allocation of a create with a map, for every N: ENOMEM, nothing leaked, no hold.
Test(virtq, ring_alloc_fail)
{
	struct vt t;
	ring_map(&t);
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = 256,
				      .desc_gpa = DESC, .avail_gpa = AVAIL, .used_gpa = G(48),
				      .map = t.map };
	struct iovirt_vq *vq = NULL;
	int64_t mem = iovirt_posix_live_mem(t.p);
	uint64_t n;
	for (n = 1;; n++) {
		cr_assert_lt(n, 100, "create never completed");
		iovirt_posix_fail_alloc_at(t.p, n);
		int r = iovirt_vq_create(t.ops, t.p, &p, &vq);
		iovirt_posix_fail_alloc_at(t.p, 0);
		if (!r)
			break;
		cr_assert_eq(r, IOVIRT_ENOMEM, "N = %llu: %s", (unsigned long long)n, iovirt_err_name(r));
		cr_assert_null(vq);
		cr_assert_eq(iovirt_posix_live_mem(t.p), mem, "N = %llu: leak", (unsigned long long)n);
		assert_no_hold(&t, "ENOMEM");
	}
	cr_assert_eq(n, 3, "two allocations");
	cr_assert_eq(iovirt_gmap_in_use(t.map, G(0)), 2);
	cr_assert_eq(iovirt_gmap_in_use(t.map, G(48)), 1);
	iovirt_vq_destroy(vq);
	assert_no_hold(&t, "destroyed");
	cr_assert_eq(iovirt_posix_live_mem(t.p), mem);
	vt_fini(&t);
}
