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

/* The test guest's memory at gpa. */
static inline uint8_t *vt_mem(struct vt *t, uint64_t gpa)
{
	return t->mem + (gpa - VT_GPA);
}

/* Split descriptor i of the table at guest address table. */
static inline void vt_desc(struct vt *t, uint64_t table, uint32_t i, uint64_t addr, uint32_t len,
			   uint16_t flags, uint16_t next)
{
	uint8_t *d = vt_mem(t, table) + i * 16;
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

/* The driver makes head available on a split ring of num entries: ring
 * slot, then idx (*drv_idx, the driver's). */
static inline void vt_offer(struct vt *t, uint16_t *drv_idx, uint32_t num, uint16_t head)
{
	memcpy(vt_mem(t, AVAIL) + 4 + 2 * (*drv_idx % num), &head, 2);
	++*drv_idx;
	memcpy(vt_mem(t, AVAIL) + 2, drv_idx, 2);
}

/*
 * The guest memory of the differential tests (test_vq_direct, test_vq_pdirect,
 * test_vq_burst; vq_rnd_addr draws from it): RAM G(0..20), RAM G(20..24)
 * adjacent to it (a segment may run across), RAM G(24..48) where the rings
 * are, a gap, ROM G(50..52), a region of another guest G(52..54), MMIO
 * G(54..56).
 */
static inline void vt_diff_map(struct vt *t)
{
	vt_add(t, G(0), 20 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(t, G(20), 4 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(t, G(24), 24 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(t, G(50), 2 * 4096, IOVIRT_REGION_ROM, DR);
	struct iovirt_region other = vt_region(t, G(52), 2 * 4096, IOVIRT_REGION_RAM, RW);
	other.owner = VT_GUEST + 1;
	cr_assert_eq(iovirt_gmap_add(t->map, &other), 0);
	vt_add(t, G(54), 2 * 4096, IOVIRT_REGION_MMIO, RW);
}

static inline uint8_t *gmem(struct q *q, uint64_t gpa)
{
	return vt_mem(&q->t, gpa);
}

static inline void put_desc_at(struct q *q, uint64_t table, uint32_t i, uint64_t addr,
			       uint32_t len, uint16_t flags, uint16_t next)
{
	vt_desc(&q->t, table, i, addr, len, flags, next);
}

static inline void put_desc(struct q *q, uint32_t i, uint64_t addr, uint32_t len,
			    uint16_t flags, uint16_t next)
{
	put_desc_at(q, DESC, i, addr, len, flags, next);
}

/* The driver makes head available: ring slot, then idx. */
static inline void offer(struct q *q, uint16_t head)
{
	vt_offer(&q->t, &q->drv_idx, q->num, head);
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

/* ---- differential tests (test_vq_direct, test_vq_pdirect, test_vq_burst) ---- */

/* Two results of the same chain, field by field (k: its place in a burst). */
static inline void vq_res_eq(const struct iovirt_dma_result *a, const struct iovirt_dma_result *b,
			     const char *what, uint32_t k)
{
	cr_assert_eq(a->err, b->err, "%s: chain %u err %d %d", what, k, a->err, b->err);
	cr_assert_eq(a->seg, b->seg, "%s: chain %u seg %u %u", what, k, a->seg, b->seg);
	cr_assert_eq(a->gpa, b->gpa, "%s: chain %u gpa %#llx %#llx", what, k,
		     (unsigned long long)a->gpa, (unsigned long long)b->gpa);
	cr_assert_eq(a->where, b->where, "%s: chain %u where %u %u", what, k, a->where, b->where);
	cr_assert_eq(a->desc, b->desc, "%s: chain %u desc %u %u", what, k, a->desc, b->desc);
	cr_assert_eq(a->nsegs, b->nsegs, "%s: chain %u", what, k);
	cr_assert_eq(a->nout, b->nout, "%s: chain %u", what, k);
	cr_assert_eq(a->total, b->total, "%s: chain %u", what, k);
	cr_assert_eq(a->read_bytes, b->read_bytes, "%s: chain %u", what, k);
	cr_assert_eq(a->write_bytes, b->write_bytes, "%s: chain %u", what, k);
	cr_assert_eq(a->exposed, b->exposed, "%s: chain %u", what, k);
	cr_assert_eq(a->head, b->head, "%s: chain %u head %u %u", what, k, a->head, b->head);
	cr_assert_eq(a->reserved, b->reserved, "%s: chain %u", what, k);
}

/* Two host lists of n entries, entry by entry. */
static inline void vq_out_eq(const struct iovirt_host_seg *a, const struct iovirt_host_seg *b,
			     uint32_t n, const char *what)
{
	for (uint32_t k = 0; k < n; k++) {
		cr_assert_eq(a[k].hva, b[k].hva, "%s: entry %u", what, k);
		cr_assert_eq(a[k].hpa, b[k].hpa, "%s: entry %u", what, k);
		cr_assert_eq(a[k].gpa, b[k].gpa, "%s: entry %u", what, k);
		cr_assert_eq(a[k].len, b[k].len, "%s: entry %u", what, k);
		cr_assert_eq(a[k].dir, b[k].dir, "%s: entry %u", what, k);
		cr_assert_eq(a[k].exposed, b[k].exposed, "%s: entry %u", what, k);
	}
}

/* A random descriptor address over vt_diff_map's guest memory: mostly in
 * RAM, and 1 in `odds` each across the adjacent regions, past the last RAM,
 * in the gap, ROM, another guest's region, MMIO or far away. */
static inline uint64_t vq_rnd_addr(uint64_t *rng, uint32_t odds)
{
	switch (th_rand(rng) % odds) {
	case 0:
		return G(20) - (th_rand(rng) % 64); /* across the adjacent regions */
	case 1:
		return G(48) - (th_rand(rng) % 64); /* past the last RAM */
	case 2:
		return G(49) + th_rand(rng) % 4096;
	case 3:
		return G(50) + th_rand(rng) % 8192;
	case 4:
		return G(52) + th_rand(rng) % 8192;
	case 5:
		return G(54) + th_rand(rng) % 8192;
	case 6:
		return th_rand(rng);
	default:
		return G(th_rand(rng) % 24) + th_rand(rng) % 4096;
	}
}

/* A random descriptor length: mostly 1 .. 3000, and 1 in `odds` each 0,
 * anything, or whole pages. */
static inline uint32_t vq_rnd_len(uint64_t *rng, uint32_t odds)
{
	switch (th_rand(rng) % odds) {
	case 0:
		return 0;
	case 1:
		return (uint32_t)th_rand(rng);
	case 2:
		return 4096 * (1 + (uint32_t)(th_rand(rng) % 8));
	default:
		return 1 + (uint32_t)(th_rand(rng) % 3000);
	}
}

#endif
