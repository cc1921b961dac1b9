/* SPDX-License-Identifier: MIT */
/*
 * The emulated NIC's data path: it takes a transmit descriptor of one guest,
 * a receive descriptor of the other, moves the packet by DMA and completes
 * both, through the strategy under test:
 *   native      guest addresses used as they are (no protection: the baseline)
 *   copy        chains validated by iovirt_vq_pop, bytes through bounce buffers
 *   validate    chains validated by iovirt_vq_pop, bytes moved in place
 *   pin         as validate, and the pages pinned until the DMA completes
 *   iommu-*     the descriptors hold bus addresses; every access of the device
 *               (rings and buffers) is translated by the VF's IOMMU context,
 *               cached in a small device IOTLB that invalidations empty
 */
#include <string.h>

#include "internal.h"

void vn_tlb_flush(struct vn_tlb *t, uint64_t iova, uint64_t size)
{
	t->gen++;
	const uint64_t first = iova >> 12, last = size ? (iova + size - 1) >> 12 : first;
	if (size == UINT64_MAX || last - first >= VN_TLB) {
		for (unsigned i = 0; i < VN_TLB; i++)
			t->e[i].page = UINT64_MAX;
		return;
	}
	/* Only the slots these pages can occupy. */
	for (uint64_t pg = first; pg <= last; pg++)
		if (t->e[vn_tlb_slot(pg)].page == pg)
			t->e[vn_tlb_slot(pg)].page = UINT64_MAX;
}

/* The device's view of [iova, iova + len) inside one page, translated for access. */
static inline uint8_t *dev_page(struct vn_world *w, struct vn_guest *g, uint64_t iova, unsigned access, int *err)
{
	const uint64_t page = iova >> 12;
	struct vn_tlb_entry *e = &g->tlb.e[vn_tlb_slot(page)];
	if (e->page == page && (e->prot & access) == access)
		return e->hva + (iova & 4095);
	struct iovirt_xlate x;
	w->tlb_misses++;
	int r = iovirt_sriov_dma_translate(w->sr, g->rid, iova & ~UINT64_C(4095), access, &x);
	if (r) {
		*err = r;
		return NULL;
	}
	e->page = page;
	e->hva = (uint8_t *)(uintptr_t)(x.pa - VN_PA_OFF);
	e->prot = x.prot;
	return e->hva + (iova & 4095);
}

/* A DMA's view of one descriptor's buffer: up to 4 host pieces. */
struct vn_dma {
	uint8_t *ptr[4];
	uint32_t len[4];
	uint32_t n, total, head;
	int32_t bounce;
	struct iovirt_pin_handle pin;
	struct iovirt_host_seg sg[4];
	uint32_t nsg;
};

/* ---- native: the guest's addresses, unchecked ---- */

static uint8_t *native_ptr(struct vn_guest *g, uint64_t gpa)
{
	return g->ram + (gpa - VN_RAM_GPA); /* trusts the guest: the unprotected baseline */
}

static int native_take(struct vn_guest *g, struct vn_ring *r, struct vn_dma *d)
{
	const uint16_t idx = __atomic_load_n((uint16_t *)(void *)native_ptr(g, r->avail_gpa + 2), __ATOMIC_ACQUIRE);
	if (idx == r->last_avail)
		return 0;
	uint16_t head;
	uint8_t desc[16];
	memcpy(&head, native_ptr(g, r->avail_gpa + 4 + 2u * (r->last_avail & (r->num - 1))), 2);
	memcpy(desc, native_ptr(g, r->desc_gpa + 16u * (head & (r->num - 1))), 16);
	uint64_t addr;
	memcpy(&addr, desc, 8);
	memcpy(&d->len[0], desc + 8, 4);
	d->ptr[0] = native_ptr(g, addr);
	d->n = 1;
	d->total = d->len[0];
	d->head = head;
	r->last_avail++;
	return 1;
}

static void native_give(struct vn_guest *g, struct vn_ring *r, const struct vn_dma *d, uint32_t written)
{
	uint32_t e[2] = { d->head, written };
	memcpy(native_ptr(g, r->used_gpa + 4 + 8u * (r->used_idx & (r->num - 1))), e, 8);
	__atomic_store_n((uint16_t *)(void *)native_ptr(g, r->used_gpa + 2), ++r->used_idx, __ATOMIC_RELEASE);
}

/* ---- IOMMU: every device access translated ---- */

/* The ring's pages as the device sees them through the IOMMU, translated once
 * and kept until the device's IOTLB is flushed (a ring fits in three pages:
 * descriptors, available ring, used ring, each within one page). */
static int ring_view_fill(struct vn_world *w, struct vn_guest *g, struct vn_ring *r)
{
	int e = 0;
	r->view.desc = dev_page(w, g, r->desc_gpa, IOVIRT_PROT_READ, &e);
	r->view.avail = dev_page(w, g, r->avail_gpa, IOVIRT_PROT_READ, &e);
	r->view.used = dev_page(w, g, r->used_gpa, IOVIRT_PROT_READ | IOVIRT_PROT_WRITE, &e);
	if (!r->view.desc || !r->view.avail || !r->view.used)
		return e;
	r->view.gen = g->tlb.gen;
	return 0;
}

static inline int ring_view(struct vn_world *w, struct vn_guest *g, struct vn_ring *r)
{
	return r->view.gen == g->tlb.gen ? 0 : ring_view_fill(w, g, r);
}

static int iommu_take(struct vn_world *w, struct vn_guest *g, struct vn_ring *r, unsigned access, struct vn_dma *d)
{
	uint16_t head;
	uint8_t desc[16];
	int e;
	/* The ring lives at bus address = guest address (mapped once). */
	if ((e = ring_view(w, g, r)))
		return e;
	const uint16_t idx = __atomic_load_n((const uint16_t *)(const void *)(r->view.avail + 2), __ATOMIC_ACQUIRE);
	if (idx == r->last_avail)
		return 0;
	memcpy(&head, r->view.avail + 4 + 2u * (r->last_avail & (r->num - 1)), 2);
	/* The descriptor is read once, into the device's own copy. */
	memcpy(desc, r->view.desc + 16u * (head & (r->num - 1)), 16);
	r->last_avail++;
	uint64_t addr;
	uint32_t len;
	memcpy(&addr, desc, 8);
	memcpy(&len, desc + 8, 4);
	d->head = head & (r->num - 1);
	d->n = 0;
	d->total = 0;
	if (len == 0 || len > VN_SLOT || addr + len < addr)
		return IOVIRT_EINVAL;
	/* One translation per page the buffer touches. */
	while (d->total < len) {
		const uint64_t a = addr + d->total;
		const uint32_t in_page = (uint32_t)(4096 - (a & 4095));
		const uint32_t k = len - d->total < in_page ? len - d->total : in_page;
		uint8_t *p = dev_page(w, g, a, access, &e);
		if (!p)
			return e;
		if (d->n && d->ptr[d->n - 1] + d->len[d->n - 1] == p) {
			d->len[d->n - 1] += k;
		} else {
			if (d->n == 4)
				return IOVIRT_ETOOMANY;
			d->ptr[d->n] = p;
			d->len[d->n++] = k;
		}
		d->total += k;
	}
	return 1;
}

static int iommu_give(struct vn_world *w, struct vn_guest *g, struct vn_ring *r, const struct vn_dma *d,
		      uint32_t written)
{
	int e = ring_view(w, g, r);
	if (e)
		return e;
	uint32_t ent[2] = { d->head, written };
	memcpy(r->view.used + 4 + 8u * (r->used_idx & (r->num - 1)), ent, 8);
	__atomic_store_n((uint16_t *)(void *)(r->view.used + 2), ++r->used_idx, __ATOMIC_RELEASE);
	return 0;
}

/* ---- through iovirt's virtqueue validation: copy, validate, pin ---- */

static int vq_take(struct vn_world *w, struct vn_guest *g, struct vn_ring *r, unsigned dir, struct vn_dma *d)
{
	struct iovirt_dma_result res;
	int n = iovirt_vq_pop(r->vq, g->gmap, &w->pol, d->sg, 4, &res);
	if (n <= 0) {
		if (n < 0 && res.where != IOVIRT_WHERE_RING) {
			/* Refused: complete the chain with nothing written, and move on. */
			iovirt_vq_skip(r->vq);
			iovirt_vq_push_used(r->vq, res.head, 0);
		}
		return n;
	}
	d->nsg = (uint32_t)n;
	d->head = res.head;
	d->total = (uint32_t)res.total;
	d->n = 0;
	/* A transmit buffer the device only reads; a receive buffer it only writes. */
	if ((dir == IOVIRT_DEV_READ && res.write_bytes) || (dir == IOVIRT_DEV_WRITE && res.read_bytes)) {
		iovirt_vq_push_used(r->vq, res.head, 0);
		return IOVIRT_EORDER;
	}
	if (w->strategy == VN_PIN) {
		int e = iovirt_pin_validated(g->pin, &w->pol, d->sg, d->nsg, &d->pin);
		if (e < 0) {
			iovirt_vq_push_used(r->vq, res.head, 0);
			return e;
		}
	}
	if (w->strategy == VN_COPY) {
		d->bounce = iovirt_bounce_get(w->bounce);
		if (d->bounce < 0)
			return d->bounce; /* cannot happen: the pool holds a buffer per slot */
		if (dir == IOVIRT_DEV_READ && iovirt_bounce_copy_in(w->bounce, d->bounce, g->gmap, d->sg, d->nsg) < 0) {
			iovirt_bounce_put(w->bounce, d->bounce);
			return IOVIRT_EGUEST;
		}
		d->ptr[0] = iovirt_bounce_data(w->bounce, d->bounce);
		d->len[0] = d->total;
		d->n = 1;
		return 1;
	}
	for (uint32_t i = 0; i < d->nsg; i++) {
		d->ptr[i] = d->sg[i].hva;
		d->len[i] = (uint32_t)d->sg[i].len;
	}
	d->n = d->nsg;
	return 1;
}

static int vq_give(struct vn_world *w, struct vn_guest *g, struct vn_ring *r, struct vn_dma *d, uint32_t written,
		   unsigned dir)
{
	int e = 0;
	if (w->strategy == VN_COPY) {
		if (dir == IOVIRT_DEV_WRITE) {
			struct iovirt_dma_result res;
			int64_t k = iovirt_bounce_copy_out(w->bounce, d->bounce, g->gmap, &w->pol, d->sg, d->nsg, written,
							   &res);
			if (k < 0)
				e = (int)k, written = 0;
		}
		iovirt_bounce_put(w->bounce, d->bounce);
	}
	if (w->strategy == VN_PIN)
		iovirt_pin_complete(g->pin, d->pin);
	int p = iovirt_vq_push_used(r->vq, d->head, written);
	return e ? e : p;
}

/* ---- the loop ---- */

static int take(struct vn_world *w, struct vn_guest *g, struct vn_ring *r, unsigned dir, struct vn_dma *d)
{
	switch (w->strategy) {
	case VN_NATIVE:
		return native_take(g, r, d);
	case VN_IOMMU_STRICT:
	case VN_IOMMU_BATCHED:
	case VN_IOMMU_PERSISTENT:
		return iommu_take(w, g, r, dir == IOVIRT_DEV_READ ? IOVIRT_PROT_READ : IOVIRT_PROT_WRITE, d);
	default:
		return vq_take(w, g, r, dir, d);
	}
}

static void give(struct vn_world *w, struct vn_guest *g, struct vn_ring *r, struct vn_dma *d, uint32_t written,
		 unsigned dir)
{
	switch (w->strategy) {
	case VN_NATIVE:
		native_give(g, r, d, written);
		break;
	case VN_IOMMU_STRICT:
	case VN_IOMMU_BATCHED:
	case VN_IOMMU_PERSISTENT:
		iommu_give(w, g, r, d, written);
		break;
	default:
		vq_give(w, g, r, d, written, dir);
		break;
	}
}

/* Completes a refused IOMMU descriptor with nothing written (vq refusals complete themselves). */
static void refuse(struct vn_world *w, struct vn_guest *g, struct vn_ring *r, struct vn_dma *d)
{
	g->refused++;
	if (w->strategy == VN_IOMMU_STRICT || w->strategy == VN_IOMMU_BATCHED || w->strategy == VN_IOMMU_PERSISTENT)
		iommu_give(w, g, r, d, 0);
}

/* Scatter-gather copy from one DMA view to another. */
static uint32_t move(const struct vn_dma *src, const struct vn_dma *dst)
{
	uint32_t si = 0, so = 0, di = 0, dout = 0, moved = 0;
	while (si < src->n && di < dst->n) {
		uint32_t k = src->len[si] - so;
		if (dst->len[di] - dout < k)
			k = dst->len[di] - dout;
		memcpy(dst->ptr[di] + dout, src->ptr[si] + so, k);
		moved += k;
		if ((so += k) == src->len[si])
			si++, so = 0;
		if ((dout += k) == dst->len[di])
			di++, dout = 0;
	}
	return moved;
}

uint32_t vn_dev_loopback(struct vn_world *w, struct vn_guest *src, struct vn_guest *dst, uint32_t budget)
{
	uint32_t moved = 0;
	while (moved < budget) {
		struct vn_dma tx = { .bounce = -1 }, rx = { .bounce = -1 };
		int t = take(w, src, &src->tx, IOVIRT_DEV_READ, &tx);
		if (t == 0)
			break;
		if (t < 0) {
			src->last_err = t;
			refuse(w, src, &src->tx, &tx);
			continue;
		}
		int q = take(w, dst, &dst->rx, IOVIRT_DEV_WRITE, &rx);
		if (q <= 0) {
			/* No receive buffer: the packet is dropped, as a NIC does. */
			if (q < 0) {
				dst->last_err = q;
				refuse(w, dst, &dst->rx, &rx);
			}
			give(w, src, &src->tx, &tx, 0, IOVIRT_DEV_READ);
			if (q == 0)
				break;
			continue;
		}
		const uint32_t n = tx.total <= rx.total ? move(&tx, &rx) : 0;
		give(w, dst, &dst->rx, &rx, n, IOVIRT_DEV_WRITE);
		give(w, src, &src->tx, &tx, 0, IOVIRT_DEV_READ);
		moved++;
	}
	return moved;
}
