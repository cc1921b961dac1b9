/* SPDX-License-Identifier: MIT */
/*
 * Addresses behind a guest IOMMU (VIRTIO_F_ACCESS_PLATFORM): every ring,
 * table and buffer address of the queue is an I/O virtual address of the
 * device, translated through its address space (lib/pagetable's
 * iovirt_pt_translate, lock-free) page by page with the access's permission;
 * the guest-physical pieces are then validated as any segment.
 */
#include "iovirt/pagetable.h"
#include "validate/vq_internal.h"

static unsigned prot_of(uint32_t dir)
{
	return ((dir & IOVIRT_DEV_READ) ? IOVIRT_PROT_READ : 0) |
	       ((dir & IOVIRT_DEV_WRITE) ? IOVIRT_PROT_WRITE : 0);
}

/* Records a fault at iova (the rest of the access is len bytes) and refuses. */
static int fault(struct iovirt_vq *vq, struct vb_build *b, uint64_t iova, uint64_t len, uint32_t dir)
{
	vq->fault = (struct iovirt_vq_fault){ .iova = iova, .len = len, .access = dir };
	if (b)
		b->fail_gpa = iova;
	return IOVIRT_EIOFAULT;
}

/*
 * One step of a translation: the guest-physical address of iova and the
 * bytes (<= left) that continue it in the same page. 0 or IOVIRT_EIOFAULT.
 */
static int xlate_step(struct iovirt_vq *vq, uint64_t iova, uint64_t left, uint32_t dir,
		      uint64_t *gpa, uint64_t *run)
{
	struct iovirt_xlate x;
	if (iovirt_pt_translate(vq->iommu, vq->asid, iova, prot_of(dir), &x))
		return IOVIRT_EIOFAULT;
	uint64_t in = x.page_size - (iova & (x.page_size - 1));
	*gpa = x.pa;
	*run = in < left ? in : left;
	return 0;
}

int vq_iova_add(struct iovirt_vq *vq, struct vb_build *b, uint64_t iova, uint64_t len, uint32_t dir)
{
	uint64_t last;
	if (len == 0 || !iovirt_add_ok(iova, len - 1, &last))
		return vb_add_fast(b, iova, len, dir); /* the segment's own refusal */
	uint64_t start = 0, run_len = 0;
	for (uint64_t at = iova, left = len; left;) {
		uint64_t gpa, run;
		if (xlate_step(vq, at, left, dir, &gpa, &run))
			return fault(vq, b, at, left, dir);
		if (run_len && gpa == start + run_len) {
			run_len += run; /* guest-physically contiguous: one piece */
		} else {
			int err = run_len ? vb_add_fast(b, start, run_len, dir) : 0;
			if (err)
				return err;
			start = gpa;
			run_len = run;
		}
		at += run;
		left -= run;
	}
	return vb_add_fast(b, start, run_len, dir);
}

int vq_iova_range(struct iovirt_vq *vq, uint64_t iova, uint64_t len, uint32_t dir, uint64_t *gpa)
{
	uint64_t first = 0, run, g;
	for (uint64_t at = iova, left = len, done = 0; left; at += run, left -= run, done += run) {
		if (xlate_step(vq, at, left, dir, &g, &run))
			return fault(vq, NULL, at, left, dir);
		if (done == 0)
			first = g;
		else if (g != first + done)
			return IOVIRT_ECROSS; /* a ring or table is one guest-physical range */
	}
	*gpa = first;
	return 0;
}

int iovirt_vq_last_fault(const struct iovirt_vq *vq, struct iovirt_vq_fault *out)
{
	if (!vq || !out || !vq->iommu)
		return IOVIRT_EINVAL;
	if (!vq->fault.access)
		return IOVIRT_ENOENT;
	*out = vq->fault;
	return 0;
}
