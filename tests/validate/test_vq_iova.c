/* SPDX-License-Identifier: MIT */
/* Virtqueues behind a guest IOMMU (IOVIRT_VQ_F_ACCESS_PLATFORM). */
#include "iovirt/pagetable.h"
#include "pdrv.h"
#include "vdrv.h"

#define ASID 3u
#define IOVA(x) (0x40000000ull + (x) * 4096ull) /* the device's I/O virtual pages */
#define RD IOVIRT_PROT_READ
#define WR IOVIRT_PROT_WRITE

struct iq {
	struct q q;
	struct iovirt_iommu *io;
};

static void iq_map(struct iq *f, uint64_t iova, uint64_t gpa, unsigned prot)
{
	cr_assert_eq(iovirt_pt_map(f->io, ASID, iova, gpa, 4096, prot), 0);
}

/* The rings at IOVA(0..2) -> DESC, AVAIL, USED; create with flags. */
static int iq_init(struct iq *f, uint32_t flags)
{
	vt_init(&f->q.t);
	vt_add(&f->q.t, G(0), 48 * 4096, IOVIRT_REGION_RAM, RW);
	cr_assert_eq(iovirt_iommu_create(f->q.t.ops, f->q.t.p, NULL, &f->io), 0);
	cr_assert_eq(iovirt_pt_space_create(f->io, ASID, NULL), 0);
	iq_map(f, IOVA(0), DESC, RD | WR);
	iq_map(f, IOVA(1), AVAIL, RD);
	iq_map(f, IOVA(2), USED, RD | WR);
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = NUM,
				      .flags = flags | IOVIRT_VQ_F_ACCESS_PLATFORM,
				      .desc_gpa = IOVA(0), .avail_gpa = IOVA(1),
				      .used_gpa = IOVA(2), .map = f->q.t.map, .iommu = f->io,
				      .asid = ASID };
	f->q.num = NUM;
	f->q.drv_idx = 0;
	return iovirt_vq_create(f->q.t.ops, f->q.t.p, &p, &f->q.vq);
}

static void iq_fini(struct iq *f)
{
	iovirt_vq_destroy(f->q.vq);
	iovirt_iommu_destroy(f->io);
	vt_fini(&f->q.t);
}

// Buffer addresses are translated page by page and split where the guest-physical pages do not
// continue; each piece is validated and gets its own entry.
Test(vq_iova, buffers_translated_and_split)
{
	struct iq f;
	cr_assert_eq(iq_init(&f, 0), 0);
	iq_map(&f, IOVA(10), G(5), RD);
	iq_map(&f, IOVA(11), G(20), RD | WR);
	iq_map(&f, IOVA(12), G(21), RD | WR);
	put_desc(&f.q, 0, IOVA(10) + 100, 64, F_NEXT, 1);
	put_desc(&f.q, 1, IOVA(11) + 4000, 4096 + 96, F_WRITE, 0);
	offer(&f.q, 0);
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	cr_assert_eq(pop(&f.q, out, &res), 2, "%s", iovirt_err_name(res.err));
	cr_assert_eq(out[0].gpa, G(5) + 100);
	cr_assert_eq(out[1].gpa, G(20) + 4000, "G(20), G(21) continue: one entry");
	cr_assert_eq(out[1].len, 4096 + 96);
	cr_assert_eq(res.nsegs, 2);
	/* now a buffer whose pages do not continue */
	iq_map(&f, IOVA(13), G(30), RD | WR);
	put_desc(&f.q, 2, IOVA(12) + 4000, 200, F_WRITE, 0);
	offer(&f.q, 2);
	cr_assert_eq(pop(&f.q, out, &res), 2);
	cr_assert_eq(out[0].gpa, G(21) + 4000);
	cr_assert_eq(out[0].len, 96);
	cr_assert_eq(out[1].gpa, G(30));
	cr_assert_eq(out[1].len, 104);
	iq_fini(&f);
}

// A translation fault is IOVIRT_EIOFAULT with the faulting IOVA, its length and the access; the
// cursor does not move, and once the translation exists the same pop succeeds.
Test(vq_iova, fault_and_retry)
{
	struct iq f;
	cr_assert_eq(iq_init(&f, 0), 0);
	iq_map(&f, IOVA(10), G(5), RD);
	put_desc(&f.q, 0, IOVA(10) + 4000, 200, F_NEXT, 1);
	put_desc(&f.q, 1, IOVA(20), 64, F_WRITE, 0);
	offer(&f.q, 0);
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	struct iovirt_vq_fault ft;
	cr_assert_eq(iovirt_vq_last_fault(f.q.vq, &ft), IOVIRT_ENOENT);
	cr_assert_eq(pop(&f.q, out, &res), IOVIRT_EIOFAULT);
	cr_assert_eq(res.gpa, IOVA(11));
	cr_assert_eq(iovirt_vq_last_fault(f.q.vq, &ft), 0);
	cr_assert_eq(ft.iova, IOVA(11));
	cr_assert_eq(ft.len, 104);
	cr_assert_eq(ft.access, IOVIRT_DEV_READ);
	cr_assert_eq(iovirt_vq_last_avail(f.q.vq), 0);
	iq_map(&f, IOVA(11), G(6), RD);
	/* the writable buffer is mapped read-only: a fault for the write */
	iq_map(&f, IOVA(20), G(7), RD);
	cr_assert_eq(pop(&f.q, out, &res), IOVIRT_EIOFAULT);
	cr_assert_eq(iovirt_vq_last_fault(f.q.vq, &ft), 0);
	cr_assert_eq(ft.iova, IOVA(20));
	cr_assert_eq(ft.access, IOVIRT_DEV_WRITE);
	cr_assert_eq(iovirt_pt_unmap(f.io, ASID, IOVA(20), 4096), 4096);
	iq_map(&f, IOVA(20), G(7), RD | WR);
	cr_assert_eq(pop(&f.q, out, &res), 2);
	cr_assert_eq(iovirt_vq_last_avail(f.q.vq), 1);
	iq_fini(&f);
}

// Indirect tables are addressed by IOVA too, and must be guest-physically contiguous.
Test(vq_iova, indirect_table)
{
	struct iq f;
	cr_assert_eq(iq_init(&f, IOVIRT_VQ_F_INDIRECT), 0);
	iq_map(&f, IOVA(30), IND, RD);
	iq_map(&f, IOVA(10), G(5), RD | WR);
	put_desc_at(&f.q, IND, 0, IOVA(10), 64, F_NEXT, 1);
	put_desc_at(&f.q, IND, 1, IOVA(10) + 64, 64, F_WRITE, 0);
	put_desc(&f.q, 0, IOVA(30), 32, F_IND, 0);
	offer(&f.q, 0);
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	cr_assert_eq(pop(&f.q, out, &res), 2, "%s", iovirt_err_name(res.err));
	cr_assert_eq(out[0].gpa, G(5));
	/* a table across two IOVA pages whose guest pages do not continue */
	iq_map(&f, IOVA(31), G(9), RD);
	put_desc(&f.q, 1, IOVA(31) - 16, 32, F_IND, 0);
	offer(&f.q, 1);
	cr_assert_eq(pop(&f.q, out, &res), IOVIRT_ECROSS);
	cr_assert_eq(res.where, IOVIRT_WHERE_TABLE);
	put_desc(&f.q, 1, IOVA(40), 32, F_IND, 0);
	cr_assert_eq(pop(&f.q, out, &res), IOVIRT_EIOFAULT);
	iq_fini(&f);
}

// Create translates the rings: an unmapped ring is EIOFAULT, a used ring mapped read-only too, and
// ACCESS_PLATFORM needs an iommu.
Test(vq_iova, create_rules)
{
	struct iq f;
	vt_init(&f.q.t);
	vt_add(&f.q.t, G(0), 48 * 4096, IOVIRT_REGION_RAM, RW);
	cr_assert_eq(iovirt_iommu_create(f.q.t.ops, f.q.t.p, NULL, &f.io), 0);
	cr_assert_eq(iovirt_pt_space_create(f.io, ASID, NULL), 0);
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = NUM,
				      .flags = IOVIRT_VQ_F_ACCESS_PLATFORM, .desc_gpa = IOVA(0),
				      .avail_gpa = IOVA(1), .used_gpa = IOVA(2), .map = f.q.t.map,
				      .asid = ASID };
	struct iovirt_vq *vq = NULL;
	cr_assert_eq(iovirt_vq_create(f.q.t.ops, f.q.t.p, &p, &vq), IOVIRT_EINVAL);
	p.iommu = f.io;
	cr_assert_eq(iovirt_vq_create(f.q.t.ops, f.q.t.p, &p, &vq), IOVIRT_EIOFAULT);
	iq_map(&f, IOVA(0), DESC, RD);
	iq_map(&f, IOVA(1), AVAIL, RD);
	iq_map(&f, IOVA(2), USED, RD);
	cr_assert_eq(iovirt_vq_create(f.q.t.ops, f.q.t.p, &p, &vq), IOVIRT_EIOFAULT);
	cr_assert_null(vq);
	cr_assert_eq(iovirt_gmap_in_use(f.q.t.map, G(0)), 0, "no hold left");
	iovirt_iommu_destroy(f.io);
	vt_fini(&f.q.t);
}

// An invalidation touching a ring translates it again: completions go to the new guest page; one
// touching no ring changes nothing; one leaving a ring unmapped is EIOFAULT and keeps the old state.
Test(vq_iova, ring_invalidation)
{
	struct iq f;
	cr_assert_eq(iq_init(&f, IOVIRT_VQ_F_DIRECT), 0);
	struct iovirt_vq *vq = f.q.vq;
	cr_assert_eq(iovirt_vq_iotlb_inval(vq, IOVA(100), 4096), 0);
	cr_assert_eq(iovirt_vq_iotlb_inval(vq, IOVA(0), 0), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_unmap(f.io, ASID, IOVA(2), 4096), 4096);
	cr_assert_eq(iovirt_vq_iotlb_inval(vq, IOVA(2), 4096), IOVIRT_EIOFAULT);
	/* the used ring moves to G(44) */
	iq_map(&f, IOVA(2), G(44), RD | WR);
	cr_assert_eq(iovirt_vq_iotlb_inval(vq, IOVA(2) + 8, 8), 0);
	cr_assert_eq(iovirt_gmap_in_use(f.q.t.map, G(0)), 3, "three holds, as before");
	put_desc(&f.q, 0, G(5), 64, F_WRITE, 0);
	iq_map(&f, G(5), G(5), RD | WR); /* identity for the buffer */
	offer(&f.q, 0);
	struct iovirt_host_seg out[8];
	cr_assert_eq(pop(&f.q, out, NULL), 1);
	cr_assert_eq(iovirt_vq_push_used(vq, 0, 64), 0);
	uint16_t idx;
	memcpy(&idx, gmem(&f.q, G(44)) + 2, 2);
	cr_assert_eq(idx, 1, "used idx written at the new translation");
	cr_assert_eq(used_idx_in_guest(&f.q), 0, "not at the old one");
	iq_fini(&f);
}

// A packed queue behind the IOMMU: round trip of a two-descriptor chain.
Test(vq_iova, packed)
{
	struct iq f;
	cr_assert_eq(iq_init(&f, IOVIRT_VQ_F_PACKED), 0);
	for (uint64_t pg = 0; pg < 4; pg++)
		iq_map(&f, G(pg), G(pg), RD | WR);
	struct pdrv d;
	pd_init(&d, &f.q);
	pd_post(&d, 2, false, 100);
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	cr_assert_eq(pop(&f.q, out, &res), 2, "%s", iovirt_err_name(res.err));
	cr_assert_eq(res.head, 2);
	cr_assert_eq(iovirt_vq_push_used(f.q.vq, 2, 100), 0);
	uint32_t id, len;
	cr_assert_eq(pd_get_used(&d, false, &id, &len), 1);
	cr_assert_eq(id, 2);
	iq_fini(&f);
}

// last_fault and iotlb_inval are for ACCESS_PLATFORM queues only.
Test(vq_iova, not_platform)
{
	struct q q;
	q_init(&q, 0);
	struct iovirt_vq_fault ft;
	cr_assert_eq(iovirt_vq_last_fault(q.vq, &ft), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_iotlb_inval(q.vq, 0, 4096), IOVIRT_EINVAL);
	q_fini(&q);
}
