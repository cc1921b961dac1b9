/* SPDX-License-Identifier: MIT */
/* Fixtures of the virtqueue tests: a queue whose rings and buffers live in the test guest. */
#ifndef IOVIRT_VQ_TEST_H
#define IOVIRT_VQ_TEST_H

#include "vt.h"

#define G(x) (VT_GPA + (x) * 4096ull)
#define NUM 8u
/* The rings' and tables' places; a test may define its own before including. */
#ifndef DESC
#define DESC G(40)
#define AVAIL G(41)
#define USED G(42)
#define IND G(43) /* indirect tables live here */
#endif

#define F_NEXT IOVIRT_VIRTQ_DESC_F_NEXT
#define F_WRITE IOVIRT_VIRTQ_DESC_F_WRITE
#define F_IND IOVIRT_VIRTQ_DESC_F_INDIRECT

struct q {
	struct vt t;
	struct iovirt_vq *vq;
	uint32_t num;
	uint16_t drv_idx; /* the driver's avail idx */
};

static inline uint8_t *gmem(struct q *q, uint64_t gpa)
{
	return q->t.mem + (gpa - VT_GPA);
}

static inline void put_desc_at(struct q *q, uint64_t table, uint32_t i, uint64_t addr,
			       uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = gmem(q, table) + i * 16;
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static inline void put_desc(struct q *q, uint32_t i, uint64_t addr, uint32_t len,
			    uint16_t flags, uint16_t next)
{
	put_desc_at(q, DESC, i, addr, len, flags, next);
}

/* The driver makes head available: ring slot, then idx. */
static inline void offer(struct q *q, uint16_t head)
{
	memcpy(gmem(q, AVAIL) + 4 + 2 * (q->drv_idx % q->num), &head, 2);
	q->drv_idx++;
	memcpy(gmem(q, AVAIL) + 2, &q->drv_idx, 2);
}

/* The used ring's idx as the driver sees it. */
static inline uint16_t used_idx_in_guest(struct q *q)
{
	uint16_t v;
	memcpy(&v, gmem(q, USED) + 2, 2);
	return v;
}

/* RAM G(0..48) read-write, ROM G(50); a queue of num entries with its rings in the RAM. */
static inline void q_init_num(struct q *q, uint32_t flags, uint32_t num)
{
	vt_init(&q->t);
	vt_add(&q->t, G(0), 48 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(&q->t, G(50), 4096, IOVIRT_REGION_ROM, DR);
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = num,
				      .flags = flags, .desc_gpa = DESC, .avail_gpa = AVAIL,
				      .used_gpa = USED, .map = q->t.map };
	cr_assert_eq(iovirt_vq_create(q->t.ops, q->t.p, &p, &q->vq), 0);
	q->num = num;
	q->drv_idx = 0;
}

static inline void q_init(struct q *q, uint32_t flags)
{
	q_init_num(q, flags, NUM);
}

static inline void q_fini(struct q *q)
{
	iovirt_vq_destroy(q->vq);
	vt_fini(&q->t);
}

static inline int pop(struct q *q, struct iovirt_host_seg *out, struct iovirt_dma_result *res)
{
	return iovirt_vq_pop(q->vq, q->t.map, NULL, out, 16, res);
}

#endif
