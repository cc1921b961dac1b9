/* SPDX-License-Identifier: MIT */
/*
 * The rarer refusals of virtqueues (include/iovirt/validate.h), split and
 * packed: create's argument checks, walk's and pop's argument and ring
 * refusals, indirect tables of packed rings, the wrap counter's states, guest
 * accesses that fail part way (through a host whose guest_read/guest_write
 * fail on a chosen window of guest addresses), the in-order and event
 * suppression rules; each with the res fields and the cursors checked.
 */
#include "iovirt/pagetable.h"
#include "pdrv.h"

#define PF IOVIRT_VQ_F_PACKED
#define AV P_AVAIL /* available under wrap counter 1 */

/* ---- a host whose guest accesses fail inside [fail_lo, fail_hi) ---- */

static uint64_t fail_lo, fail_hi;
static bool fail_reads, fail_writes;

static bool hits(uint64_t gpa, size_t len)
{
	return gpa < fail_hi && gpa + len > fail_lo;
}

static int f_read(void *host, uint32_t guest, uint64_t gpa, void *dst, size_t len)
{
	if (fail_reads && hits(gpa, len))
		return -1;
	return iovirt_posix_ops()->guest_read(host, guest, gpa, dst, len);
}

static int f_write(void *host, uint32_t guest, uint64_t gpa, const void *src, size_t len)
{
	if (fail_writes && hits(gpa, len))
		return -1;
	return iovirt_posix_ops()->guest_write(host, guest, gpa, src, len);
}

static struct iovirt_host_ops fops;

static void fail_set(uint64_t lo, uint64_t len, bool reads, bool writes)
{
	fail_lo = lo;
	fail_hi = lo + len;
	fail_reads = reads;
	fail_writes = writes;
}

/* A queue as q_init_num makes it, through the failing host. */
static void fq_init(struct q *q, uint32_t flags, uint32_t num, uint32_t max_indirect)
{
	fops = *iovirt_posix_ops();
	fops.guest_read = f_read;
	fops.guest_write = f_write;
	fail_set(0, 0, false, false);
	vt_init(&q->t);
	vt_add(&q->t, G(0), 48 * 4096, IOVIRT_REGION_RAM, RW);
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = num,
				      .flags = flags, .max_indirect = max_indirect, .desc_gpa = DESC,
				      .avail_gpa = AVAIL, .used_gpa = USED, .map = q->t.map };
	cr_assert_eq(iovirt_vq_create(&fops, q->t.p, &p, &q->vq), 0);
	q->num = num;
	q->drv_idx = 0;
}

/* A packed descriptor at ring position pos, its flags written last. */
static void raw(struct q *q, uint16_t pos, uint64_t addr, uint32_t len, uint16_t id, uint16_t f)
{
	pd_desc(q, pos, addr, len, id);
	pd_set_flags(q, pos, f);
}

static struct iovirt_vq *const NOVQ = (struct iovirt_vq *)(uintptr_t)0x5a5a;

/* ---- create ---- */

// vq_create's argument refusals: NULL ops, params or out and max_indirect above 32768 (EINVAL),
// ACCESS_PLATFORM without iommu, with reserved set or with a size not covering asid (EINVAL), each
// ring's range wrapping past 2^64 (EOVERFLOW), guest_read or guest_write absent (ENOSYS); *out
// untouched and nothing allocated after any of them.
Test(vq_refuse, create_arguments)
{
	struct vt t;
	vt_init(&t);
	struct iovirt_iommu *io;
	cr_assert_eq(iovirt_iommu_create(t.ops, t.p, NULL, &io), 0);
	cr_assert_eq(iovirt_pt_space_create(io, 1, NULL), 0);
	const int64_t live = iovirt_posix_live_mem(t.p);
	const struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = 8, .desc_gpa = DESC,
					    .avail_gpa = AVAIL, .used_gpa = USED };
	struct iovirt_vq *vq = NOVQ;
	cr_assert_eq(iovirt_vq_create(NULL, t.p, &p, &vq), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, NULL, &vq), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, NULL), IOVIRT_EINVAL);
	struct iovirt_vq_params b = p;
	b.max_indirect = IOVIRT_VQ_MAX_SIZE + 1;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &b, &vq), IOVIRT_EINVAL);
	b = p;
	b.flags = IOVIRT_VQ_F_ACCESS_PLATFORM;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &b, &vq), IOVIRT_EINVAL, "no iommu");
	b.iommu = io;
	b.asid = 1;
	b.reserved = 1;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &b, &vq), IOVIRT_EINVAL, "reserved set");
	b.reserved = 0;
	b.size = offsetof(struct iovirt_vq_params, asid);
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &b, &vq), IOVIRT_EINVAL, "size short of asid");
	/* each ring's last byte past 2^64 - 1, each at its own alignment (so alignment passes) */
	for (int k = 0; k < 3; k++) {
		b = p;
		if (k == 0)
			b.desc_gpa = UINT64_MAX - 15;
		else if (k == 1)
			b.avail_gpa = UINT64_MAX - 1;
		else
			b.used_gpa = UINT64_MAX - 3;
		cr_assert_eq(iovirt_vq_create(t.ops, t.p, &b, &vq), IOVIRT_EOVERFLOW, "ring %d", k);
	}
	b = p;
	b.desc_gpa = UINT64_MAX - 16 * 8 + 1; /* ends exactly at 2^64 - 1: no wrap */
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &b, &vq), 0);
	iovirt_vq_destroy(vq);
	vq = NOVQ;
	struct iovirt_host_ops ops = *t.ops;
	ops.guest_read = NULL;
	cr_assert_eq(iovirt_vq_create(&ops, t.p, &p, &vq), IOVIRT_ENOSYS);
	ops = *t.ops;
	ops.guest_write = NULL;
	cr_assert_eq(iovirt_vq_create(&ops, t.p, &p, &vq), IOVIRT_ENOSYS);
	ops = *t.ops;
	ops.size = offsetof(struct iovirt_host_ops, guest_read);
	cr_assert_eq(iovirt_vq_create(&ops, t.p, &p, &vq), IOVIRT_ENOSYS);
	ops.size = offsetof(struct iovirt_host_ops, guest_write); /* guest_write beyond the caller's size */
	cr_assert_eq(iovirt_vq_create(&ops, t.p, &p, &vq), IOVIRT_ENOSYS);
	ops = *t.ops;
	ops.mem_free = NULL;
	cr_assert_eq(iovirt_vq_create(&ops, t.p, &p, &vq), IOVIRT_ENOSYS);
	cr_assert_eq(vq, NOVQ, "*out untouched");
	cr_assert_eq(iovirt_posix_live_mem(t.p), live, "nothing allocated");
	/* the largest max_indirect is taken */
	b = p;
	b.max_indirect = IOVIRT_VQ_MAX_SIZE;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &b, &vq), 0);
	iovirt_vq_destroy(vq);
	iovirt_iommu_destroy(io);
	vt_fini(&t);
}

// Packed create: each ring's range wrapping past 2^64 is EOVERFLOW (event areas 4-byte aligned).
Test(vq_refuse, create_packed_overflow)
{
	struct vt t;
	vt_init(&t);
	const struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = 5, .flags = PF,
					    .desc_gpa = DESC, .avail_gpa = AVAIL, .used_gpa = USED };
	struct iovirt_vq *vq = NOVQ;
	struct iovirt_vq_params b = p;
	b.desc_gpa = UINT64_MAX - 63; /* 5 descriptors: 80 bytes */
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &b, &vq), IOVIRT_EOVERFLOW);
	b = p;
	b.avail_gpa = UINT64_MAX - 3; /* the last 4 bytes: fits exactly */
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &b, &vq), 0);
	iovirt_vq_destroy(vq);
	vq = NOVQ;
	b = p;
	b.used_gpa = UINT64_MAX - 3;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &b, &vq), 0);
	iovirt_vq_destroy(vq);
	vq = NOVQ;
	b = p;
	b.desc_gpa = UINT64_MAX - 79; /* ends exactly at 2^64 - 1 */
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &b, &vq), 0);
	iovirt_vq_destroy(vq);
	vt_fini(&t);
}

/* ---- walk and pop arguments ---- */

// walk refuses a NULL queue, map or out, a bad policy and a packed queue (EINVAL, res->err set
// when res is given); a head >= num is EINDEX, through the direct table and through callbacks.
Test(vq_refuse, walk_arguments)
{
	for (int direct = 0; direct < 2; direct++) {
		struct q q;
		q_init(&q, direct ? IOVIRT_VQ_F_DIRECT : 0);
		struct iovirt_host_seg out[4];
		struct iovirt_dma_result res;
		const struct iovirt_sg_policy bad = { .size = 0 };
		put_desc(&q, 0, G(1), 64, 0, 0);
		cr_assert_eq(iovirt_vq_walk(NULL, q.t.map, NULL, 0, out, 4, &res), IOVIRT_EINVAL);
		cr_assert_eq(res.err, IOVIRT_EINVAL);
		memset(&res, 0, sizeof(res));
		cr_assert_eq(iovirt_vq_walk(q.vq, NULL, NULL, 0, out, 4, &res), IOVIRT_EINVAL);
		cr_assert_eq(res.err, IOVIRT_EINVAL);
		cr_assert_eq(iovirt_vq_walk(q.vq, q.t.map, NULL, 0, NULL, 4, NULL), IOVIRT_EINVAL);
		cr_assert_eq(iovirt_vq_walk(q.vq, q.t.map, &bad, 0, out, 4, &res), IOVIRT_EINVAL);
		cr_assert_eq(iovirt_vq_walk(q.vq, q.t.map, NULL, NUM, out, 4, &res), IOVIRT_EINDEX, "direct %d", direct);
		cr_assert_eq(res.desc, NUM);
		cr_assert_eq(iovirt_vq_walk(q.vq, q.t.map, NULL, 0xffff, out, 4, NULL), IOVIRT_EINDEX);
		/* and the one good walk, res NULL */
		cr_assert_eq(iovirt_vq_walk(q.vq, q.t.map, NULL, 0, out, 4, NULL), 1);
		cr_assert_eq(out[0].gpa, G(1));
		cr_assert_eq(iovirt_vq_last_avail(q.vq), 0, "walk moves no cursor");
		q_fini(&q);
	}
	struct q q;
	q_init_num(&q, PF, 4);
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	cr_assert_eq(iovirt_vq_walk(q.vq, q.t.map, NULL, 0, out, 4, &res), IOVIRT_EINVAL);
	cr_assert_eq(res.err, IOVIRT_EINVAL);
	q_fini(&q);
}

// pop refuses a NULL map or out and a bad policy (EINVAL at IOVIRT_WHERE_RING, nothing taken), for
// a queue popping directly and one through callbacks, split and packed.
Test(vq_refuse, pop_arguments)
{
	static const uint32_t variants[] = { 0, IOVIRT_VQ_F_DIRECT, PF, PF | IOVIRT_VQ_F_DIRECT };
	for (int v = 0; v < 4; v++) {
		struct q q;
		q_init_num(&q, variants[v], 4);
		struct iovirt_host_seg out[4];
		struct iovirt_dma_result res;
		const struct iovirt_sg_policy bad = { .size = 0 };
		if (variants[v] & PF) {
			raw(&q, 0, G(1), 64, 0, AV);
		} else {
			put_desc(&q, 0, G(1), 64, 0, 0);
			offer(&q, 0);
		}
		const uint16_t la = iovirt_vq_last_avail(q.vq);
		cr_assert_eq(iovirt_vq_pop(q.vq, NULL, NULL, out, 4, &res), IOVIRT_EINVAL, "variant %d", v);
		cr_assert_eq(res.where, IOVIRT_WHERE_RING);
		cr_assert_eq(iovirt_vq_pop(q.vq, q.t.map, NULL, NULL, 4, &res), IOVIRT_EINVAL);
		cr_assert_eq(iovirt_vq_pop(q.vq, q.t.map, &bad, out, 4, NULL), IOVIRT_EINVAL);
		cr_assert_eq(iovirt_vq_last_avail(q.vq), la, "variant %d: nothing taken", v);
		cr_assert_eq(iovirt_vq_pop(q.vq, q.t.map, NULL, out, 4, NULL), 1, "variant %d", v);
		cr_assert_eq(out[0].gpa, G(1));
		q_fini(&q);
	}
}

// A driver claiming more than num new heads (avail idx - last > num) is EINDEX at the ring, with
// nothing taken, whether the ring is popped directly or through callbacks.
Test(vq_refuse, avail_idx_beyond_num)
{
	for (int direct = 0; direct < 2; direct++) {
		struct q q;
		q_init(&q, direct ? IOVIRT_VQ_F_DIRECT : 0);
		uint16_t idx = NUM + 1;
		memcpy(gmem(&q, AVAIL) + 2, &idx, 2);
		struct iovirt_host_seg out[4];
		struct iovirt_dma_result res;
		cr_assert_eq(pop(&q, out, &res), IOVIRT_EINDEX, "direct %d", direct);
		cr_assert_eq(res.where, IOVIRT_WHERE_RING);
		cr_assert_eq(iovirt_vq_pop(q.vq, q.t.map, NULL, out, 4, NULL), IOVIRT_EINDEX);
		cr_assert_eq(iovirt_vq_avail(q.vq), IOVIRT_EINDEX);
		cr_assert_eq(iovirt_vq_skip(q.vq), IOVIRT_EINDEX);
		cr_assert_eq(iovirt_vq_last_avail(q.vq), 0);
		/* exactly num is allowed */
		idx = NUM;
		memcpy(gmem(&q, AVAIL) + 2, &idx, 2);
		cr_assert_eq(iovirt_vq_avail(q.vq), (int)NUM);
		q_fini(&q);
	}
}

// With IOVIRT_VQ_F_DIRECT, an available ring running across two regions has no one host address
// and keeps the callbacks (guest_read is called for it), while one inside a region is read
// directly (no guest_read at all); both pop the same chains.
Test(vq_refuse, direct_ring_across_regions)
{
	for (int across = 0; across < 2; across++) {
		struct vt t;
		vt_init(&t);
		vt_add(&t, G(0), 40 * 4096, IOVIRT_REGION_RAM, RW);
		vt_add(&t, G(40), 8 * 4096, IOVIRT_REGION_RAM, RW);
		/* the available ring (6 + 2 * 8 bytes) ends 8 bytes into G(40) when across */
		const uint64_t avail = across ? G(40) - 14 : G(41);
		struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = NUM,
					      .flags = IOVIRT_VQ_F_DIRECT, .desc_gpa = G(42),
					      .avail_gpa = avail, .used_gpa = G(43), .map = t.map };
		struct q q = { .t = t, .num = NUM };
		cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &q.vq), 0);
		cr_assert_eq(iovirt_gmap_in_use(t.map, G(0)), across ? 1 : 0);
		for (uint16_t i = 0; i < NUM; i++) {
			put_desc_at(&q, G(42), i, G(1) + i * 64u, 64, 0, 0);
			memcpy(gmem(&q, avail) + 4 + 2 * i, &i, 2);
		}
		uint16_t idx = NUM;
		memcpy(gmem(&q, avail) + 2, &idx, 2);
		const uint64_t reads = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ);
		struct iovirt_host_seg out[4];
		struct iovirt_dma_result res;
		for (uint32_t i = 0; i < NUM; i++) {
			cr_assert_eq(pop(&q, out, &res), 1, "across %d: %s", across, iovirt_err_name(res.err));
			cr_assert_eq(res.head, i);
			cr_assert_eq(out[0].gpa, G(1) + i * 64u);
		}
		cr_assert_eq(pop(&q, out, &res), 0, "across %d", across);
		const uint64_t r = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ) - reads;
		if (across)
			cr_assert_gt(r, 0, "the available ring through callbacks");
		else
			cr_assert_eq(r, 0, "everything read directly");
		iovirt_vq_destroy(q.vq);
		vt_fini(&t);
	}
}

// iotlb_inval refuses a NULL queue, a queue without ACCESS_PLATFORM, size 0 and a range whose last
// byte lies past 2^64 - 1 (EINVAL); one ending exactly at 2^64 - 1 that touches no ring is 0.
Test(vq_refuse, iotlb_inval_arguments)
{
	struct q q;
	q_init(&q, 0);
	cr_assert_eq(iovirt_vq_iotlb_inval(NULL, 0, 4096), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_iotlb_inval(q.vq, 0, 4096), IOVIRT_EINVAL);
	q_fini(&q);
	vt_init(&q.t);
	vt_add(&q.t, G(0), 48 * 4096, IOVIRT_REGION_RAM, RW);
	struct iovirt_iommu *io;
	cr_assert_eq(iovirt_iommu_create(q.t.ops, q.t.p, NULL, &io), 0);
	cr_assert_eq(iovirt_pt_space_create(io, 1, NULL), 0);
	cr_assert_eq(iovirt_pt_map(io, 1, 0x40000000, DESC, 4096, IOVIRT_PROT_READ), 0);
	cr_assert_eq(iovirt_pt_map(io, 1, 0x40001000, AVAIL, 4096, IOVIRT_PROT_READ), 0);
	cr_assert_eq(iovirt_pt_map(io, 1, 0x40002000, USED, 4096, IOVIRT_PROT_WRITE), 0);
	/* no map: the rings are translated, not checked against regions */
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = NUM,
				      .flags = IOVIRT_VQ_F_ACCESS_PLATFORM, .desc_gpa = 0x40000000,
				      .avail_gpa = 0x40001000, .used_gpa = 0x40002000, .iommu = io, .asid = 1 };
	cr_assert_eq(iovirt_vq_create(q.t.ops, q.t.p, &p, &q.vq), 0);
	cr_assert_eq(iovirt_vq_iotlb_inval(q.vq, 0x40000000, 0), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_iotlb_inval(q.vq, UINT64_MAX, 2), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_iotlb_inval(q.vq, UINT64_MAX - 4095, 4096), 0);
	/* touching the used ring without a map: translated again, completions go to its new page */
	cr_assert_eq(iovirt_pt_unmap(io, 1, 0x40002000, 4096), 4096);
	cr_assert_eq(iovirt_pt_map(io, 1, 0x40002000, G(44), 4096, IOVIRT_PROT_WRITE), 0);
	cr_assert_eq(iovirt_vq_iotlb_inval(q.vq, 0x40002000, 4096), 0);
	cr_assert_eq(iovirt_pt_map(io, 1, G(5), G(5), 4096, IOVIRT_PROT_READ), 0);
	q.num = NUM;
	q.drv_idx = 0;
	put_desc(&q, 0, G(5), 64, 0, 0);
	offer(&q, 0);
	struct iovirt_host_seg out[4];
	cr_assert_eq(pop(&q, out, NULL), 1);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 0), 0);
	uint16_t idx;
	memcpy(&idx, gmem(&q, G(44)) + 2, 2);
	cr_assert_eq(idx, 1);
	cr_assert_eq(used_idx_in_guest(&q), 0);
	iovirt_vq_destroy(q.vq);
	iovirt_iommu_destroy(io);
	vt_fini(&q.t);
}

/* ---- packed rings ---- */

// Packed indirect descriptors: a table length of 0, not a multiple of 16 or above max_indirect
// entries is EINDIRECT (where TABLE, desc the ring position, gpa the table); nothing taken.
Test(vq_refuse, packed_indirect_lengths)
{
	struct q q;
	fq_init(&q, PF | IOVIRT_VQ_F_INDIRECT, 4, 3);
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	static const uint32_t lens[] = { 0, 24, 4 * 16, 8 };
	for (int i = 0; i < 4; i++) {
		raw(&q, 0, IND, lens[i], 1, AV | F_IND);
		cr_assert_eq(pop(&q, out, &res), IOVIRT_EINDIRECT, "len %u", lens[i]);
		cr_assert_eq(res.where, IOVIRT_WHERE_TABLE);
		cr_assert_eq(res.desc, 0);
		cr_assert_eq(res.gpa, IND);
		cr_assert_eq(res.head, 1, "the chain's shape is sound: its ID");
		cr_assert_eq(iovirt_vq_last_avail(q.vq), 0x8000);
	}
	/* three entries (max_indirect) are taken */
	for (uint32_t j = 0; j < 3; j++) /* not adjacent: one host entry each */
		pd_table(&q, IND, j, G(1) + j * 128u, 64, 0);
	raw(&q, 0, IND, 48, 1, AV | F_IND);
	cr_assert_eq(pop(&q, out, &res), 3);
	cr_assert_eq(res.head, 1);
	q_fini(&q);
}

// A packed indirect table outside every region is ENOREGION (where TABLE, gpa the table); one in a
// region whose guest read fails is EGUEST; nothing taken after either.
Test(vq_refuse, packed_indirect_placement_and_read)
{
	struct q q;
	fq_init(&q, PF | IOVIRT_VQ_F_INDIRECT, 4, 0);
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	raw(&q, 0, G(60), 32, 2, AV | F_IND);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_ENOREGION);
	cr_assert_eq(res.where, IOVIRT_WHERE_TABLE);
	cr_assert_eq(res.gpa, G(60));
	cr_assert_eq(res.desc, 0);
	pd_table(&q, IND, 0, G(1), 64, 0);
	pd_table(&q, IND, 1, G(2), 64, F_WRITE);
	raw(&q, 0, IND, 32, 2, AV | F_IND);
	fail_set(IND + 16, 16, true, false);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EGUEST);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 0x8000);
	fail_set(0, 0, false, false);
	cr_assert_eq(pop(&q, out, &res), 2);
	cr_assert_eq(out[1].dir, IOVIRT_DEV_WRITE);
	q_fini(&q);
}

// Inside a packed indirect table: more entries than the ring holds is ECHAIN, a readable entry
// after a writable one EORDER, a buffer outside the map ENOREGION, each at IOVIRT_WHERE_INDIRECT
// with desc the table index; an indirect descriptor after ring descriptors counts them too.
Test(vq_refuse, packed_indirect_entries)
{
	struct q q;
	fq_init(&q, PF | IOVIRT_VQ_F_INDIRECT, 4, 8);
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	for (uint32_t j = 0; j < 5; j++)
		pd_table(&q, IND, j, G(1) + j * 64u, 64, 0);
	raw(&q, 0, IND, 5 * 16, 3, AV | F_IND);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_ECHAIN);
	cr_assert_eq(res.where, IOVIRT_WHERE_INDIRECT);
	cr_assert_eq(res.desc, 4);
	pd_table(&q, IND, 1, G(2), 64, F_WRITE);
	raw(&q, 0, IND, 3 * 16, 3, AV | F_IND);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EORDER);
	cr_assert_eq(res.where, IOVIRT_WHERE_INDIRECT);
	cr_assert_eq(res.desc, 2);
	cr_assert_eq(res.gpa, G(1) + 2 * 64u);
	pd_table(&q, IND, 1, G(60), 64, 0);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_ENOREGION);
	cr_assert_eq(res.where, IOVIRT_WHERE_INDIRECT);
	cr_assert_eq(res.desc, 1);
	cr_assert_eq(res.gpa, G(60));
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 0x8000);
	/* a ring descriptor, then an indirect one of four entries: 5 descriptors > 4 */
	for (uint32_t j = 0; j < 4; j++) /* not adjacent: one host entry each */
		pd_table(&q, IND, j, G(1) + j * 128u, 64, F_WRITE);
	raw(&q, 1, IND, 4 * 16, 3, AV | F_IND);
	raw(&q, 0, G(0), 64, 3, AV | F_NEXT);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_ECHAIN);
	cr_assert_eq(res.desc, 3);
	/* three entries: taken, the ring position advances by the two ring descriptors */
	raw(&q, 1, IND, 3 * 16, 3, AV | F_IND);
	cr_assert_eq(pop(&q, out, &res), 4);
	cr_assert_eq(res.head, 3);
	cr_assert_eq(out[0].dir, IOVIRT_DEV_READ);
	cr_assert_eq(out[3].dir, IOVIRT_DEV_WRITE);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 0x8002);
	q_fini(&q);
}

// A packed descriptor is available only when its AVAIL bit equals the driver's wrap counter and
// its USED bit differs: a used one (both set) or one with neither is not (pop 0 with res zeroed,
// avail 0, skip ENOENT); a continuation in either state is EWRAP.
Test(vq_refuse, packed_wrap_states)
{
	struct q q;
	fq_init(&q, PF, 4, 0);
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	static const uint16_t not_avail[] = { P_AVAIL | P_USED, 0, P_USED };
	for (int i = 0; i < 3; i++) {
		raw(&q, 0, G(0), 64, 1, not_avail[i]);
		memset(&res, 0xff, sizeof(res));
		cr_assert_eq(pop(&q, out, &res), 0, "flags %#x", not_avail[i]);
		cr_assert_eq(res.err, 0);
		cr_assert_eq(res.where, IOVIRT_WHERE_NONE);
		cr_assert_eq(iovirt_vq_pop(q.vq, q.t.map, NULL, out, 8, NULL), 0);
		cr_assert_eq(iovirt_vq_avail(q.vq), 0);
		cr_assert_eq(iovirt_vq_skip(q.vq), IOVIRT_ENOENT);
		/* as a continuation */
		raw(&q, 1, G(1), 64, 1, not_avail[i]);
		raw(&q, 0, G(0), 64, 1, AV | F_NEXT);
		cr_assert_eq(pop(&q, out, &res), IOVIRT_EWRAP, "flags %#x", not_avail[i]);
		cr_assert_eq(res.desc, 1);
		cr_assert_eq(res.where, IOVIRT_WHERE_TABLE);
		cr_assert_eq(iovirt_vq_skip(q.vq), IOVIRT_EWRAP);
		cr_assert_eq(iovirt_vq_last_avail(q.vq), 0x8000);
	}
	/* a continuation whose buffer is refused after a head whose is too: the first refusal */
	raw(&q, 1, G(1), 64, 1, AV);
	raw(&q, 0, G(60), 64, 1, AV | F_NEXT);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_ENOREGION);
	cr_assert_eq(res.desc, 0);
	cr_assert_eq(res.head, 1);
	/* a chain of unsound shape whose first buffer is refused: the buffer's refusal, and skip
	 * reports the shape */
	raw(&q, 1, G(1), 64, 1, P_USED);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_ENOREGION);
	cr_assert_eq(iovirt_vq_skip(q.vq), IOVIRT_EWRAP);
	/* the second lap (counter 0): the first lap's AVAIL-only flags are no longer available */
	raw(&q, 0, G(0), 64, 0, AV);
	raw(&q, 1, G(1), 64, 1, AV);
	raw(&q, 2, G(2), 64, 2, AV);
	raw(&q, 3, G(3), 64, 3, AV);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(iovirt_vq_skip(q.vq), i);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 0);
	struct iovirt_vq_used u[4] = { { 0, 0 }, { 1, 0 }, { 2, 0 }, { 3, 0 } };
	cr_assert_eq(iovirt_vq_push_used_batch(q.vq, u, 4), 0);
	cr_assert_eq(pop(&q, out, &res), 0, "AVAIL set under counter 0: not available");
	raw(&q, 0, G(0), 64, 0, P_USED);
	cr_assert_eq(pop(&q, out, &res), 1);
	q_fini(&q);
}

// A packed chain's total above the policy's max_total, or above 2^32 - 1 whatever the policy,
// is ETOOBIG; nothing taken.
Test(vq_refuse, packed_total_limits)
{
	struct q q;
	fq_init(&q, PF, 4, 0);
	struct iovirt_region r = vt_region(&q.t, UINT64_C(1) << 40, UINT64_C(8) << 30, IOVIRT_REGION_RAM, RW);
	cr_assert_eq(iovirt_gmap_add(q.t.map, &r), 0);
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	struct iovirt_sg_policy pol = { .size = sizeof(pol), .max_total = 100 };
	raw(&q, 1, G(1), 64, 1, AV);
	raw(&q, 0, G(0), 64, 1, AV | F_NEXT);
	cr_assert_eq(iovirt_vq_pop(q.vq, q.t.map, &pol, out, 8, &res), IOVIRT_ETOOBIG);
	cr_assert_eq(res.desc, 1);
	pol.max_total = UINT64_C(1) << 40;
	raw(&q, 1, (UINT64_C(1) << 40) + 0x80000000u, 0x80000000u, 1, AV);
	raw(&q, 0, UINT64_C(1) << 40, 0x80000000u, 1, AV | F_NEXT);
	cr_assert_eq(iovirt_vq_pop(q.vq, q.t.map, &pol, out, 8, &res), IOVIRT_ETOOBIG, "2^32 bytes");
	cr_assert_eq(iovirt_vq_pop(q.vq, q.t.map, NULL, out, 8, &res), IOVIRT_ETOOBIG, "2^32 bytes");
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 0x8000);
	raw(&q, 1, (UINT64_C(1) << 40) + 0x80000000u, 0x7fffffffu, 1, AV);
	cr_assert_gt(iovirt_vq_pop(q.vq, q.t.map, &pol, out, 8, &res), 0);
	cr_assert_eq(res.total, 0xffffffffu);
	cr_assert_eq(res.nsegs, 2);
	q_fini(&q);
}

// Packed completions whose guest writes fail are EGUEST with the used cursor unmoved, one at a
// time, in a batch (the first element's flags, or a later element) and in order; once the
// writes work again the same completions go through.
Test(vq_refuse, packed_completion_write_faults)
{
	for (int in_order = 0; in_order < 2; in_order++) {
		struct q q;
		fq_init(&q, PF | (in_order ? IOVIRT_VQ_F_IN_ORDER : 0), 4, 0);
		for (uint16_t i = 0; i < 3; i++)
			raw(&q, i, G(i), 64, i, AV);
		for (int i = 0; i < 3; i++)
			cr_assert_eq(iovirt_vq_skip(q.vq), i);
		/* id and len of position 0 */
		fail_set(DESC + 8, 6, false, true);
		cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 8), IOVIRT_EGUEST);
		if (in_order)
			cr_assert_eq(iovirt_vq_push_used_in_order(q.vq, 1, 8, 2), IOVIRT_EGUEST);
		/* the flags of position 0, written last */
		fail_set(DESC + 14, 2, false, true);
		cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 8), IOVIRT_EGUEST);
		struct iovirt_vq_used u[2] = { { 0, 8 }, { 1, 8 } };
		cr_assert_eq(iovirt_vq_push_used_batch(q.vq, u, 2), IOVIRT_EGUEST);
		/* the second element, at position 1 */
		fail_set(DESC + 16, 16, false, true);
		cr_assert_eq(iovirt_vq_push_used_batch(q.vq, u, 2), IOVIRT_EGUEST);
		cr_assert_eq(iovirt_vq_used_idx(q.vq), 0x8000);
		fail_set(0, 0, false, false);
		cr_assert_eq(iovirt_vq_push_used_batch(q.vq, u, 2), 0);
		cr_assert_eq(iovirt_vq_used_idx(q.vq), 0x8002);
		cr_assert_eq(iovirt_vq_push_used(q.vq, 2, 0), 0);
		cr_assert_eq(iovirt_vq_used_idx(q.vq), 0x8003);
		q_fini(&q);
	}
}

// push_used_in_order refuses a queue without IN_ORDER and count 0 (EINVAL), an ID >= num
// (EINDEX), a count above the chains in flight and an ID that is not the count-th oldest
// (ENOENT), writing nothing; then one used descriptor for the batch skips all its descriptors.
Test(vq_refuse, packed_in_order_refusals)
{
	struct q q;
	fq_init(&q, PF, 4, 0);
	raw(&q, 0, G(0), 64, 0, AV);
	cr_assert_eq(iovirt_vq_skip(q.vq), 0);
	cr_assert_eq(iovirt_vq_push_used_in_order(q.vq, 0, 8, 1), IOVIRT_EINVAL);
	q_fini(&q);
	fq_init(&q, PF | IOVIRT_VQ_F_IN_ORDER, 4, 0);
	raw(&q, 1, G(1), 64, 2, AV);
	raw(&q, 0, G(0), 64, 2, AV | F_NEXT);
	raw(&q, 2, G(2), 64, 0, AV);
	cr_assert_eq(iovirt_vq_skip(q.vq), 2);
	cr_assert_eq(iovirt_vq_skip(q.vq), 0);
	uint8_t ring[4 * 16];
	memcpy(ring, gmem(&q, DESC), sizeof(ring));
	cr_assert_eq(iovirt_vq_push_used_in_order(q.vq, 0, 8, 0), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_push_used_in_order(q.vq, 4, 8, 1), IOVIRT_EINDEX);
	cr_assert_eq(iovirt_vq_push_used_in_order(q.vq, 0, 8, 3), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_vq_push_used_in_order(q.vq, 0, 8, 1), IOVIRT_ENOENT, "0 is the second oldest");
	cr_assert_eq(iovirt_vq_push_used_in_order(q.vq, 2, 8, 2), IOVIRT_ENOENT, "2 is the oldest");
	cr_assert_eq(memcmp(ring, gmem(&q, DESC), sizeof(ring)), 0, "nothing written");
	cr_assert_eq(iovirt_vq_used_idx(q.vq), 0x8000);
	cr_assert_eq(iovirt_vq_push_used_in_order(q.vq, 0, 8, 2), 0);
	cr_assert_eq(iovirt_vq_used_idx(q.vq), 0x8003, "three descriptors skipped");
	uint16_t id, f;
	memcpy(&id, gmem(&q, DESC) + 12, 2);
	memcpy(&f, gmem(&q, DESC) + 14, 2);
	cr_assert_eq(id, 0, "the batch's last buffer");
	cr_assert_eq(f, P_AVAIL | P_USED | F_WRITE);
	cr_assert_eq(iovirt_vq_push_used_in_order(q.vq, 0, 8, 1), IOVIRT_ENOENT, "none in flight");
	q_fini(&q);
}

// Packed event suppression: with the event index and the driver's flags DESC, a decision with no
// completion since the previous one does not signal; notify_enable whose off_wrap write fails is
// EGUEST, and one whose driver event read fails makes need_signal EGUEST.
Test(vq_refuse, packed_event_rules)
{
	struct q q;
	fq_init(&q, PF | IOVIRT_VQ_F_EVENT_IDX, 4, 0);
	uint16_t ev[2] = { 0x8001, IOVIRT_RING_EVENT_FLAGS_DESC }; /* off 1, wrap 1 */
	memcpy(gmem(&q, AVAIL), ev, 4);
	cr_assert_eq(iovirt_vq_need_signal(q.vq), 1, "the first decision signals");
	cr_assert_eq(iovirt_vq_need_signal(q.vq), 0, "nothing completed since");
	raw(&q, 0, G(0), 64, 0, AV);
	raw(&q, 1, G(1), 64, 1, AV);
	cr_assert_eq(iovirt_vq_skip(q.vq), 0);
	cr_assert_eq(iovirt_vq_skip(q.vq), 1);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 0), 0);
	cr_assert_eq(iovirt_vq_need_signal(q.vq), 0, "the used position moved 0 -> 1: not past 1");
	cr_assert_eq(iovirt_vq_push_used(q.vq, 1, 0), 0);
	cr_assert_eq(iovirt_vq_need_signal(q.vq), 1, "1 -> 2 passes the event at 1");
	cr_assert_eq(iovirt_vq_need_signal(q.vq), 0);
	fail_set(AVAIL, 4, true, false);
	cr_assert_eq(iovirt_vq_need_signal(q.vq), IOVIRT_EGUEST);
	fail_set(USED, 2, false, true);
	cr_assert_eq(iovirt_vq_notify_enable(q.vq), IOVIRT_EGUEST, "off_wrap");
	fail_set(USED + 2, 2, false, true);
	cr_assert_eq(iovirt_vq_notify_enable(q.vq), IOVIRT_EGUEST, "flags");
	cr_assert_eq(iovirt_vq_notify_disable(q.vq), IOVIRT_EGUEST);
	fail_set(0, 0, false, false);
	cr_assert_eq(iovirt_vq_notify_enable(q.vq), 0);
	uint16_t dev[2];
	memcpy(dev, gmem(&q, USED), 4);
	cr_assert_eq(dev[0], iovirt_vq_last_avail(q.vq), "off_wrap: the device's cursor");
	cr_assert_eq(dev[1], IOVIRT_RING_EVENT_FLAGS_DESC);
	q_fini(&q);
}

// Packed reads that fail part way: the flags of a chain's second descriptor, or a descriptor's
// body, unreadable is EGUEST for pop and skip, nothing taken.
Test(vq_refuse, packed_read_faults)
{
	struct q q;
	fq_init(&q, PF, 4, 0);
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	raw(&q, 1, G(1), 64, 1, AV);
	raw(&q, 0, G(0), 64, 1, AV | F_NEXT);
	fail_set(DESC + 16 + 14, 2, true, false);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EGUEST);
	cr_assert_eq(iovirt_vq_skip(q.vq), IOVIRT_EGUEST);
	fail_set(DESC, 14, true, false);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EGUEST);
	cr_assert_eq(iovirt_vq_skip(q.vq), IOVIRT_EGUEST);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 0x8000);
	fail_set(0, 0, false, false);
	cr_assert_eq(pop(&q, out, &res), 2);
	q_fini(&q);
}

// Split rings through callbacks whose writes fail: a used element or used idx write failing is
// EGUEST with the used cursor unmoved; the same completion then goes through.
Test(vq_refuse, split_completion_write_faults)
{
	struct q q;
	fq_init(&q, 0, NUM, 0);
	put_desc(&q, 0, G(1), 64, F_WRITE, 0);
	offer(&q, 0);
	struct iovirt_host_seg out[4];
	cr_assert_eq(pop(&q, out, NULL), 1);
	fail_set(USED + 4, 8, false, true);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 64), IOVIRT_EGUEST);
	cr_assert_eq(iovirt_vq_used_idx(q.vq), 0);
	fail_set(USED + 2, 2, false, true);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 64), IOVIRT_EGUEST);
	cr_assert_eq(iovirt_vq_used_idx(q.vq), 0);
	fail_set(0, 0, false, false);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 64), 0);
	cr_assert_eq(used_idx_in_guest(&q), 1);
	q_fini(&q);
}

/* ---- split rings: faults part way, direct access by region ---- */

// Split reads that fail: the available ring's slot (EGUEST at IOVIRT_WHERE_RING), a descriptor,
// an indirect table (EGUEST); nothing taken after any, and the chain pops once reads work.
Test(vq_refuse, split_read_faults)
{
	struct q q;
	fq_init(&q, IOVIRT_VQ_F_INDIRECT, NUM, 0);
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	put_desc_at(&q, IND, 0, G(1), 64, F_NEXT, 1);
	put_desc_at(&q, IND, 1, G(2), 64, F_WRITE, 0);
	put_desc(&q, 3, G(0), 16, F_NEXT, 5);
	put_desc(&q, 5, IND, 32, F_IND, 0);
	offer(&q, 3);
	fail_set(AVAIL + 4, 2, true, false);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EGUEST);
	cr_assert_eq(res.where, IOVIRT_WHERE_RING);
	fail_set(DESC + 5 * 16, 16, true, false);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EGUEST);
	fail_set(IND + 16, 8, true, false);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EGUEST);
	cr_assert_eq(res.where, IOVIRT_WHERE_TABLE);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 0);
	fail_set(0, 0, false, false);
	cr_assert_eq(pop(&q, out, &res), 3);
	cr_assert_eq(res.head, 3);
	q_fini(&q);
}

// A head >= num in the available ring is EINDEX at IOVIRT_WHERE_RING also when no res is asked
// for, popping directly or through callbacks; nothing taken.
Test(vq_refuse, bad_head_without_res)
{
	for (int direct = 0; direct < 2; direct++) {
		struct q q;
		q_init(&q, direct ? IOVIRT_VQ_F_DIRECT : 0);
		offer(&q, NUM + 3);
		struct iovirt_host_seg out[4];
		cr_assert_eq(iovirt_vq_pop(q.vq, q.t.map, NULL, out, 4, NULL), IOVIRT_EINDEX, "direct %d", direct);
		struct iovirt_dma_result res;
		cr_assert_eq(pop(&q, out, &res), IOVIRT_EINDEX);
		cr_assert_eq(res.where, IOVIRT_WHERE_RING);
		cr_assert_eq(res.head, NUM + 3);
		cr_assert_eq(res.gpa, AVAIL + 4);
		cr_assert_eq(iovirt_vq_last_avail(q.vq), 0);
		q_fini(&q);
	}
}

// push_used on a split used ring written directly refuses an ID >= num (EINDEX) and a completion
// with no chain in flight (ENOENT), writing nothing; then completes the chain.
Test(vq_refuse, direct_push_refusals)
{
	struct q q;
	q_init(&q, IOVIRT_VQ_F_DIRECT);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 8), IOVIRT_ENOENT);
	put_desc(&q, 2, G(1), 64, F_WRITE, 0);
	offer(&q, 2);
	struct iovirt_host_seg out[4];
	cr_assert_eq(pop(&q, out, NULL), 1);
	cr_assert_eq(iovirt_vq_push_used(q.vq, NUM, 8), IOVIRT_EINDEX);
	cr_assert_eq(used_idx_in_guest(&q), 0);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 2, 8), 0);
	cr_assert_eq(used_idx_in_guest(&q), 1);
	uint32_t id;
	memcpy(&id, gmem(&q, USED) + 4, 4);
	cr_assert_eq(id, 2);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 2, 8), IOVIRT_ENOENT, "no second completion");
	cr_assert_eq(used_idx_in_guest(&q), 1);
	q_fini(&q);
}

// With IOVIRT_VQ_F_DIRECT, a descriptor table or used ring running across two regions keeps the
// callbacks (guest_read for the table, guest_write for the used ring), the others are accessed
// directly; an indirect table in a region without a host address is read through guest_read.
// The chains and completions are the same.
Test(vq_refuse, direct_by_region)
{
	static uint8_t far[4096] __attribute__((aligned(4096)));
	for (int across = 0; across < 3; across++) {
		struct vt t;
		vt_init(&t);
		vt_add(&t, G(0), 40 * 4096, IOVIRT_REGION_RAM, RW);
		vt_add(&t, G(40), 8 * 4096, IOVIRT_REGION_RAM, RW);
		memset(far, 0, sizeof(far));
		cr_assert_eq(iovirt_posix_guest_add(t.p, VT_GUEST, G(100), far, sizeof(far)), 0);
		vt_add(&t, G(100), 4096, IOVIRT_REGION_RAM, RW); /* a host physical address only */
		/* across 0: the descriptor table (128 bytes) from G(39) + 4064; 1: the used ring with
		 * element 0 over the page boundary (used_gpa + 4 = G(40) - 4); 2: none */
		const uint64_t desc = across == 0 ? G(40) - 32 : G(42);
		const uint64_t used = across == 1 ? G(40) - 8 : G(43);
		struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = NUM,
					      .flags = IOVIRT_VQ_F_DIRECT | IOVIRT_VQ_F_INDIRECT, .desc_gpa = desc,
					      .avail_gpa = G(41), .used_gpa = used, .map = t.map };
		struct q q = { .t = t, .num = NUM };
		cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &q.vq), 0);
		/* head 1 (the table's second entry, which crosses into G(40) when across == 0): an
		 * indirect table in G(100) of two entries */
		put_desc_at(&q, desc, 1, G(100), 32, F_IND, 0);
		const uint64_t e0[2] = { G(1), 64 | ((uint64_t)F_NEXT << 32) | (UINT64_C(1) << 48) };
		const uint64_t e1[2] = { G(2), 128 | ((uint64_t)F_WRITE << 32) };
		memcpy(far, e0, 16);
		memcpy(far + 16, e1, 16);
		uint16_t one = 1, idx = 1;
		memcpy(gmem(&q, G(41)) + 4, &one, 2);
		memcpy(gmem(&q, G(41)) + 2, &idx, 2);
		const uint64_t r0 = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ);
		const uint64_t w0 = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_WRITE);
		struct iovirt_host_seg out[4];
		struct iovirt_dma_result res;
		cr_assert_eq(pop(&q, out, &res), 2, "across %d: %s", across, iovirt_err_name(res.err));
		cr_assert_eq(res.head, 1);
		cr_assert_eq(out[0].gpa, G(1));
		cr_assert_eq(out[1].gpa, G(2));
		cr_assert_eq(out[1].len, 128);
		const uint64_t reads = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ) - r0;
		cr_assert_eq(reads, across == 0 ? 2u : 1u, "across %d: %llu reads (the table; the descriptor)",
			     across, (unsigned long long)reads);
		cr_assert_eq(iovirt_vq_push_used(q.vq, 1, 100), 0);
		const uint64_t writes = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_WRITE) - w0;
		cr_assert_eq(writes, across == 1 ? 3u : 0u, "across %d: %llu writes (two halves and idx)", across,
			     (unsigned long long)writes);
		uint32_t id, len;
		memcpy(&id, gmem(&q, used) + 4, 4);
		memcpy(&len, gmem(&q, used) + 8, 4);
		cr_assert_eq(id, 1);
		cr_assert_eq(len, 100);
		uint16_t uidx;
		memcpy(&uidx, gmem(&q, used) + 2, 2);
		cr_assert_eq(uidx, 1);
		iovirt_vq_destroy(q.vq);
		vt_fini(&t);
	}
}

// A used element over a page boundary of a used ring across regions is written as its two
// fields; either write failing is EGUEST with the used index unwritten and the cursor unmoved.
Test(vq_refuse, used_element_across_regions_faults)
{
	fops = *iovirt_posix_ops();
	fops.guest_read = f_read;
	fops.guest_write = f_write;
	fail_set(0, 0, false, false);
	struct q q;
	vt_init(&q.t);
	vt_add(&q.t, G(0), 40 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(&q.t, G(40), 8 * 4096, IOVIRT_REGION_RAM, RW);
	const uint64_t used = G(40) - 8; /* element 0: id in G(39), len in G(40) */
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = NUM, .desc_gpa = DESC,
				      .avail_gpa = AVAIL, .used_gpa = used, .map = q.t.map };
	cr_assert_eq(iovirt_vq_create(&fops, q.t.p, &p, &q.vq), 0);
	q.num = NUM;
	q.drv_idx = 0;
	put_desc(&q, 0, G(1), 64, F_WRITE, 0);
	offer(&q, 0);
	struct iovirt_host_seg out[4];
	cr_assert_eq(pop(&q, out, NULL), 1);
	fail_set(G(40), 4, false, true);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 64), IOVIRT_EGUEST, "the len half");
	fail_set(G(40) - 4, 4, false, true);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 64), IOVIRT_EGUEST, "the id half");
	uint16_t uidx;
	memcpy(&uidx, gmem(&q, used) + 2, 2);
	cr_assert_eq(uidx, 0);
	cr_assert_eq(iovirt_vq_used_idx(q.vq), 0);
	fail_set(0, 0, false, false);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 64), 0);
	uint32_t len;
	memcpy(&len, gmem(&q, G(40)), 4);
	cr_assert_eq(len, 64);
	q_fini(&q);
}

// last_fault refuses a NULL queue or out (EINVAL); a packed queue behind an IOMMU translates its
// indirect tables: an unmapped table is EIOFAULT at the table's IOVA (nothing taken), and once
// mapped the chain pops.
Test(vq_refuse, packed_iommu_indirect)
{
	struct q q;
	vt_init(&q.t);
	vt_add(&q.t, G(0), 48 * 4096, IOVIRT_REGION_RAM, RW);
	struct iovirt_iommu *io;
	cr_assert_eq(iovirt_iommu_create(q.t.ops, q.t.p, NULL, &io), 0);
	cr_assert_eq(iovirt_pt_space_create(io, 1, NULL), 0);
	const uint64_t iova = 0x40000000;
	cr_assert_eq(iovirt_pt_map(io, 1, iova, DESC, 4096, RW), 0);
	cr_assert_eq(iovirt_pt_map(io, 1, iova + 4096, AVAIL, 4096, RW), 0);
	cr_assert_eq(iovirt_pt_map(io, 1, iova + 8192, USED, 4096, RW), 0);
	cr_assert_eq(iovirt_pt_map(io, 1, G(0), G(0), 4 * 4096, RW), 0); /* identity for the buffers */
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = 4,
				      .flags = PF | IOVIRT_VQ_F_INDIRECT | IOVIRT_VQ_F_ACCESS_PLATFORM,
				      .desc_gpa = iova, .avail_gpa = iova + 4096, .used_gpa = iova + 8192,
				      .map = q.t.map, .iommu = io, .asid = 1 };
	cr_assert_eq(iovirt_vq_create(q.t.ops, q.t.p, &p, &q.vq), 0);
	q.num = 4;
	struct iovirt_vq_fault ft;
	cr_assert_eq(iovirt_vq_last_fault(NULL, &ft), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_last_fault(q.vq, NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_last_fault(q.vq, &ft), IOVIRT_ENOENT);
	pd_table(&q, IND, 0, G(1), 64, 0);
	pd_table(&q, IND, 1, G(2), 64, F_WRITE);
	raw(&q, 0, iova + 0x10000, 32, 2, AV | F_IND);
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EIOFAULT);
	cr_assert_eq(res.gpa, iova + 0x10000);
	cr_assert_eq(iovirt_vq_last_fault(q.vq, &ft), 0);
	cr_assert_eq(ft.iova, iova + 0x10000);
	cr_assert_eq(ft.access, IOVIRT_DEV_READ);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 0x8000);
	cr_assert_eq(iovirt_pt_map(io, 1, iova + 0x10000, IND, 4096, IOVIRT_PROT_READ), 0);
	cr_assert_eq(pop(&q, out, &res), 2, "%s", iovirt_err_name(res.err));
	cr_assert_eq(res.head, 2);
	cr_assert_eq(out[1].gpa, G(2));
	iovirt_vq_destroy(q.vq);
	iovirt_iommu_destroy(io);
	vt_fini(&q.t);
}

/* ---- cursors, policies on the direct paths, rings without a host address ---- */

// set_cursors on a packed queue forgets every buffer in flight (IDs are not in the cursors):
// their completions are ENOENT, the same IDs may be made available again, and the ring is read
// from the new position.
Test(vq_refuse, packed_set_cursors_forgets_in_flight)
{
	struct q q;
	q_init_num(&q, PF, 4);
	raw(&q, 0, G(0), 64, 1, AV);
	raw(&q, 1, G(1), 64, 2, AV);
	cr_assert_eq(iovirt_vq_skip(q.vq), 1);
	cr_assert_eq(iovirt_vq_skip(q.vq), 2);
	iovirt_vq_set_cursors(q.vq, 0x8002, 0x8002);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 1, 0), IOVIRT_ENOENT);
	raw(&q, 2, G(2), 64, 1, AV);
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	cr_assert_eq(pop(&q, out, &res), 1, "ID 1 is free again: %s", iovirt_err_name(res.err));
	cr_assert_eq(res.head, 1);
	cr_assert_eq(out[0].gpa, G(2));
	cr_assert_eq(iovirt_vq_push_used(q.vq, 1, 0), 0);
	cr_assert_eq(iovirt_vq_used_idx(q.vq), 0x8003);
	q_fini(&q);
}

// A walk on a queue whose table is read directly applies the policy's alignment (EALIGN at the
// descriptor, res naming it), as the general walk does; pop refuses a NULL queue (EINVAL).
Test(vq_refuse, direct_walk_alignment_policy)
{
	for (int direct = 0; direct < 2; direct++) {
		struct q q;
		q_init(&q, direct ? IOVIRT_VQ_F_DIRECT : 0);
		const struct iovirt_sg_policy pol = { .size = sizeof(pol), .addr_align = 16, .len_align = 8 };
		put_desc(&q, 0, G(1), 64, F_NEXT, 1);
		put_desc(&q, 1, G(2) + 8, 64, F_WRITE, 0);
		struct iovirt_host_seg out[4];
		struct iovirt_dma_result res;
		cr_assert_eq(iovirt_vq_walk(q.vq, q.t.map, &pol, 0, out, 4, &res), IOVIRT_EALIGN, "direct %d", direct);
		cr_assert_eq(res.desc, 1);
		cr_assert_eq(res.gpa, G(2) + 8);
		cr_assert_eq(res.where, IOVIRT_WHERE_TABLE);
		put_desc(&q, 1, G(2) + 16, 60, F_WRITE, 0);
		cr_assert_eq(iovirt_vq_walk(q.vq, q.t.map, &pol, 0, out, 4, &res), IOVIRT_EALIGN, "length");
		put_desc(&q, 1, G(2) + 16, 64, F_WRITE, 0);
		cr_assert_eq(iovirt_vq_walk(q.vq, q.t.map, &pol, 0, out, 4, &res), 2);
		offer(&q, 0);
		cr_assert_eq(iovirt_vq_pop(q.vq, q.t.map, &pol, out, 4, &res), 2);
		cr_assert_eq(iovirt_vq_pop(NULL, q.t.map, NULL, out, 4, &res), IOVIRT_EINVAL);
		cr_assert_eq(res.err, IOVIRT_EINVAL);
		q_fini(&q);
	}
}

// With IOVIRT_VQ_F_DIRECT, rings in a region that has no host address (a host physical address
// only) keep the callbacks: pops read and completions write through them.
Test(vq_refuse, direct_without_host_address)
{
	static uint8_t far[4096] __attribute__((aligned(4096)));
	struct vt t;
	vt_init(&t);
	vt_add(&t, G(0), 16 * 4096, IOVIRT_REGION_RAM, RW);
	cr_assert_eq(iovirt_posix_guest_add(t.p, VT_GUEST, G(100), far, sizeof(far)), 0);
	vt_add(&t, G(100), 4096, IOVIRT_REGION_RAM, RW);
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = NUM, .flags = IOVIRT_VQ_F_DIRECT,
				      .desc_gpa = G(100), .avail_gpa = G(100) + 2048, .used_gpa = G(100) + 3072,
				      .map = t.map };
	struct iovirt_vq *vq;
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &vq), 0);
	const uint64_t d0[2] = { G(1), 64 | ((uint64_t)F_WRITE << 32) };
	memcpy(far + 5 * 16, d0, 16);
	const uint16_t head = 5, idx = 1;
	memcpy(far + 2048 + 4, &head, 2);
	memcpy(far + 2048 + 2, &idx, 2);
	const uint64_t r0 = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ);
	const uint64_t w0 = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_WRITE);
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	cr_assert_eq(iovirt_vq_pop(vq, t.map, NULL, out, 4, &res), 1, "%s", iovirt_err_name(res.err));
	cr_assert_eq(res.head, 5);
	cr_assert_gt(iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ), r0);
	cr_assert_eq(iovirt_vq_push_used(vq, 5, 64), 0);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_GUEST_WRITE) - w0, 2u, "element, then idx");
	uint16_t uidx;
	memcpy(&uidx, far + 3072 + 2, 2);
	cr_assert_eq(uidx, 1);
	iovirt_vq_destroy(vq);
	vt_fini(&t);
}

/* ---- buffers and rings behind an IOMMU ---- */

#define PIOVA(x) (0x40000000ull + (x) * 4096ull)

static struct iovirt_iommu *iq_make(struct q *q, uint32_t flags)
{
	vt_init(&q->t);
	vt_add(&q->t, G(0), 48 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(&q->t, G(50), 4096, IOVIRT_REGION_ROM, DR);
	struct iovirt_iommu *io;
	cr_assert_eq(iovirt_iommu_create(q->t.ops, q->t.p, NULL, &io), 0);
	cr_assert_eq(iovirt_pt_space_create(io, 1, NULL), 0);
	cr_assert_eq(iovirt_pt_map(io, 1, PIOVA(0), DESC, 4096, RW), 0);
	cr_assert_eq(iovirt_pt_map(io, 1, PIOVA(1), AVAIL, 4096, RW), 0);
	cr_assert_eq(iovirt_pt_map(io, 1, PIOVA(2), USED, 4096, RW), 0);
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = NUM,
				      .flags = flags | IOVIRT_VQ_F_ACCESS_PLATFORM, .desc_gpa = PIOVA(0),
				      .avail_gpa = PIOVA(1), .used_gpa = PIOVA(2), .map = q->t.map,
				      .iommu = io, .asid = 1 };
	cr_assert_eq(iovirt_vq_create(q->t.ops, q->t.p, &p, &q->vq), 0);
	q->num = NUM;
	q->drv_idx = 0;
	return io;
}

// Behind an IOMMU, a buffer of length 0 is EZEROLEN and one wrapping past 2^64 EOVERFLOW (the
// segment's own refusals, before any translation); a buffer whose first page translates outside
// the map is ENOREGION at that guest address; one running into an unmapped page EIOFAULT at that
// page (last_fault says where and how much); nothing taken after any.
Test(vq_refuse, iommu_buffer_refusals)
{
	struct q q;
	struct iovirt_iommu *io = iq_make(&q, 0);
	cr_assert_eq(iovirt_pt_map(io, 1, PIOVA(10), G(5), 4096, RW), 0);
	cr_assert_eq(iovirt_pt_map(io, 1, PIOVA(11), G(60), 4096, RW), 0); /* no region at G(60) */
	cr_assert_eq(iovirt_pt_map(io, 1, PIOVA(12), G(6), 4096, RW), 0);
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	put_desc(&q, 0, PIOVA(10), 0, 0, 0);
	offer(&q, 0);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EZEROLEN);
	put_desc(&q, 0, UINT64_MAX - 15, 64, 0, 0);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EOVERFLOW);
	put_desc(&q, 0, PIOVA(10) + 4000, 200, 0, 0); /* G(5) + 4000 .. then G(60) */
	cr_assert_eq(pop(&q, out, &res), IOVIRT_ENOREGION);
	cr_assert_eq(res.gpa, G(60));
	put_desc(&q, 0, PIOVA(11) + 100, 64, 0, 0);
	cr_assert_eq(pop(&q, out, &res), IOVIRT_ENOREGION);
	cr_assert_eq(res.gpa, G(60) + 100);
	put_desc(&q, 0, PIOVA(11) + 4000, 200, 0, 0); /* G(60) + 4000 .. then G(6): the first piece refused */
	cr_assert_eq(pop(&q, out, &res), IOVIRT_ENOREGION);
	cr_assert_eq(res.gpa, G(60) + 4000);
	put_desc(&q, 0, PIOVA(12) + 4000, 200, 0, 0); /* into PIOVA(13): unmapped */
	cr_assert_eq(pop(&q, out, &res), IOVIRT_EIOFAULT);
	struct iovirt_vq_fault ft;
	cr_assert_eq(iovirt_vq_last_fault(q.vq, &ft), 0);
	cr_assert_eq(ft.iova, PIOVA(13));
	cr_assert_eq(ft.len, 104);
	cr_assert_eq(ft.access, IOVIRT_DEV_READ);
	cr_assert_eq(iovirt_vq_last_avail(q.vq), 0);
	cr_assert_eq(iovirt_pt_map(io, 1, PIOVA(13), G(7), 4096, RW), 0);
	cr_assert_eq(pop(&q, out, &res), 1, "G(6), G(7) continue");
	cr_assert_eq(out[0].gpa, G(6) + 4000);
	cr_assert_eq(out[0].len, 200);
	iovirt_vq_destroy(q.vq);
	iovirt_iommu_destroy(io);
	vt_fini(&q.t);
}

// iotlb_inval: a range below the rings touches none (0); a used ring remapped into ROM is
// refused as create refuses it (EREADONLY) with the old translation and holds kept: completions
// still go to the old page.
Test(vq_refuse, iotlb_inval_ring_refused)
{
	struct q q;
	struct iovirt_iommu *io = iq_make(&q, 0);
	cr_assert_eq(iovirt_vq_iotlb_inval(q.vq, 0x1000, 4096), 0);
	cr_assert_eq(iovirt_vq_iotlb_inval(q.vq, PIOVA(3), 4096), 0, "just above the used ring");
	cr_assert_eq(iovirt_gmap_in_use(q.t.map, G(0)), 3);
	cr_assert_eq(iovirt_pt_unmap(io, 1, PIOVA(2), 4096), 4096);
	cr_assert_eq(iovirt_pt_map(io, 1, PIOVA(2), G(50), 4096, RW), 0);
	cr_assert_eq(iovirt_vq_iotlb_inval(q.vq, PIOVA(2), 4096), IOVIRT_EREADONLY);
	cr_assert_eq(iovirt_gmap_in_use(q.t.map, G(0)), 3, "the old holds");
	cr_assert_eq(iovirt_gmap_in_use(q.t.map, G(50)), 0, "no new hold");
	cr_assert_eq(iovirt_pt_map(io, 1, G(5), G(5), 4096, RW), 0);
	put_desc(&q, 0, G(5), 64, F_WRITE, 0);
	offer(&q, 0);
	struct iovirt_host_seg out[4];
	cr_assert_eq(pop(&q, out, NULL), 1);
	cr_assert_eq(iovirt_vq_push_used(q.vq, 0, 64), 0);
	cr_assert_eq(used_idx_in_guest(&q), 1, "the old used ring");
	iovirt_vq_destroy(q.vq);
	iovirt_iommu_destroy(io);
	vt_fini(&q.t);
}
