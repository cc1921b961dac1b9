/* SPDX-License-Identifier: MIT */
/* Segments that run across adjacent regions (without IOVIRT_POLICY_STRICT_REGIONS). */
#include "vq.h"

static uint8_t other[2 * 4096] __attribute__((aligned(4096)));

/* RAM G(0..4) backed by the guest buffer, then RAM G(4..6) backed elsewhere
 * (host memory does not continue), ROM G(6), RESERVED G(7), another guest's RAM G(8). */
static void span_map(struct vt *t)
{
	vt_add(t, G(0), 4 * 4096, IOVIRT_REGION_RAM, RW);
	struct iovirt_region r = vt_region(t, G(4), 2 * 4096, IOVIRT_REGION_RAM, RW);
	r.hva = other;
	cr_assert_eq(iovirt_gmap_add(t->map, &r), 0);
	vt_add(t, G(6), 4096, IOVIRT_REGION_ROM, DR);
	vt_add(t, G(7), 4096, IOVIRT_REGION_RESERVED, 0);
	r = vt_region(t, G(8), 4096, IOVIRT_REGION_RAM, RW);
	r.owner = VT_GUEST + 1;
	cr_assert_eq(iovirt_gmap_add(t->map, &r), 0);
}

static int one(struct vt *t, const struct iovirt_sg_policy *pol, uint64_t gpa, uint64_t len,
	       uint32_t dir, struct iovirt_host_seg *out, uint32_t cap,
	       struct iovirt_dma_result *res)
{
	struct iovirt_seg s = { gpa, len, dir, 0 };
	return iovirt_sg_validate(t->map, pol, &s, 1, out, cap, res);
}

// A buffer across two adjacent regions is accepted as one segment with one host entry per region,
// each with its own region's host address.
Test(span, two_regions)
{
	struct vt t;
	vt_init(&t);
	span_map(&t);
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	cr_assert_eq(one(&t, NULL, G(4) - 100, 300, DW, out, 4, &res), 2);
	cr_assert_eq(res.nsegs, 1);
	cr_assert_eq(res.total, 300);
	cr_assert_eq(out[0].gpa, G(4) - 100);
	cr_assert_eq(out[0].len, 100);
	cr_assert_eq(out[0].hva, t.mem + 4 * 4096 - 100);
	cr_assert_eq(out[1].gpa, G(4));
	cr_assert_eq(out[1].len, 200);
	cr_assert_eq(out[1].hva, other);
	/* a read across three regions, the last of which is ROM */
	cr_assert_eq(one(&t, NULL, G(4) - 8, 2 * 4096 + 16, DR, out, 4, &res), 3);
	vt_fini(&t);
}

// Each piece is checked against its own region, and a refusal names the piece's first byte.
Test(span, piece_refusals)
{
	struct vt t;
	vt_init(&t);
	span_map(&t);
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	cr_assert_eq(one(&t, NULL, G(6) - 8, 16, DW, out, 4, &res), IOVIRT_EREADONLY);
	cr_assert_eq(res.gpa, G(6));
	cr_assert_eq(one(&t, NULL, G(7) - 8, 16, DR, out, 4, &res), IOVIRT_ERESERVED);
	cr_assert_eq(res.gpa, G(7));
	cr_assert_eq(one(&t, NULL, G(4) - 8, 3 * 4096 + 16, DR, out, 4, &res), IOVIRT_ERESERVED);
	cr_assert_eq(res.gpa, G(7));
	cr_assert_eq(one(&t, NULL, G(9) - 8, 16, DR, out, 4, &res), IOVIRT_ENOREGION);
	cr_assert_eq(res.gpa, G(9));
	vt_add(&t, G(9), 4096, IOVIRT_REGION_RAM, RW);
	cr_assert_eq(one(&t, NULL, G(9) - 8, 16, DR, out, 4, &res), IOVIRT_EFOREIGN);
	cr_assert_eq(res.gpa, G(9) - 8);
	cr_assert_eq(one(&t, NULL, G(6) - 8, 4096, DR, out, 4, &res), 2); /* RAM then ROM, read */
	/* the first piece's own refusal comes first */
	cr_assert_eq(one(&t, NULL, G(8) - 8, 16, DR, out, 4, &res), IOVIRT_ERESERVED);
	cr_assert_eq(res.gpa, G(8) - 8);
	vt_fini(&t);
}

// The strict policy keeps the old rule: IOVIRT_ECROSS at the first byte of the next region.
Test(span, strict_policy)
{
	struct vt t;
	vt_init(&t);
	span_map(&t);
	struct iovirt_sg_policy st = { .size = sizeof(st), .flags = IOVIRT_POLICY_STRICT_REGIONS };
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	cr_assert_eq(one(&t, &st, G(4) - 100, 300, DW, out, 4, &res), IOVIRT_ECROSS);
	cr_assert_eq(res.gpa, G(4));
	vt_fini(&t);
}

// A spanning segment counts once against max_segs and max_total, but needs one host entry per
// piece: a host list too short is IOVIRT_ETOOMANY; the total limit applies to the whole segment.
Test(span, limits)
{
	struct vt t;
	vt_init(&t);
	span_map(&t);
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	struct iovirt_sg_policy p = { .size = sizeof(p), .max_segs = 1 };
	cr_assert_eq(one(&t, &p, G(4) - 100, 300, DW, out, 4, &res), 2);
	cr_assert_eq(one(&t, &p, G(4) - 100, 300, DW, out, 1, &res), IOVIRT_ETOOMANY);
	p.max_total = 299;
	cr_assert_eq(one(&t, &p, G(4) - 100, 300, DW, out, 4, &res), IOVIRT_ETOOBIG);
	cr_assert_eq(res.gpa, G(4) - 100);
	vt_fini(&t);
}

// A virtqueue chain's buffer may span regions too, and so may an indirect table (read piece by
// piece); with IOVIRT_POLICY_STRICT_REGIONS the table is IOVIRT_ECROSS at the next region.
Test(span, virtq_buffer)
{
	struct q q;
	vt_init(&q.t);
	vt_add(&q.t, G(0), 44 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(&q.t, G(44), 4 * 4096, IOVIRT_REGION_RAM, RW);
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = NUM,
				      .flags = IOVIRT_VQ_F_INDIRECT | IOVIRT_VQ_F_DIRECT,
				      .desc_gpa = DESC, .avail_gpa = AVAIL, .used_gpa = USED,
				      .map = q.t.map };
	cr_assert_eq(iovirt_vq_create(q.t.ops, q.t.p, &p, &q.vq), 0);
	q.num = NUM;
	q.drv_idx = 0;
	put_desc(&q, 0, G(44) - 64, 128, F_WRITE, 0);
	offer(&q, 0);
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	cr_assert_eq(pop(&q, out, &res), 2);
	cr_assert_eq(out[0].len, 64);
	cr_assert_eq(out[1].gpa, G(44));
	put_desc(&q, 1, G(44) - 16, 32, F_IND, 0);
	put_desc_at(&q, G(44) - 16, 0, G(1), 64, F_NEXT, 1);
	put_desc_at(&q, G(44) - 16, 1, G(2), 128, F_WRITE, 0);
	offer(&q, 1);
	struct iovirt_sg_policy st = { .size = sizeof(st), .flags = IOVIRT_POLICY_STRICT_REGIONS };
	cr_assert_eq(iovirt_vq_pop(q.vq, q.t.map, &st, out, 16, &res), IOVIRT_ECROSS);
	cr_assert_eq(res.where, IOVIRT_WHERE_TABLE);
	cr_assert_eq(res.gpa, G(44));
	cr_assert_eq(pop(&q, out, &res), 2, "%s", iovirt_err_name(res.err));
	cr_assert_eq(out[0].gpa, G(1));
	cr_assert_eq(out[1].gpa, G(2));
	cr_assert_eq(out[1].len, 128);
	q_fini(&q);
}
