/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor's side of the example: its host callbacks, the world (two
 * guests, an SR-IOV NIC, iovirt's objects) and the guests' simulated drivers.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const struct iovirt_sriov_reg vn_regmap[] = {
	{ .offset = VN_REG_DOORBELL, .width = 4, .cls = IOVIRT_SRIOV_REG_GUEST },
	{ .offset = VN_REG_TXRING, .width = 8, .cls = IOVIRT_SRIOV_REG_DMA_ADDR, .access = IOVIRT_PROT_READ,
	  .dma_len = 0x8000 },
	{ .offset = VN_REG_RXRING, .width = 8, .cls = IOVIRT_SRIOV_REG_DMA_ADDR,
	  .access = IOVIRT_PROT_READ | IOVIRT_PROT_WRITE, .dma_len = 0x8000 },
	{ .offset = VN_REG_RATE, .width = 8, .cls = IOVIRT_SRIOV_REG_SENSITIVE, .reset = 10000 },
	{ .offset = VN_REG_MAC, .width = 8, .cls = IOVIRT_SRIOV_REG_SENSITIVE, .reset = 0x02aabbcc0000 },
};

#define VN_VF_BAR_BASE UINT64_C(0xd0000000) /* host bus address of VF 0's registers */

static void vn_quiesce(void *arg, uint32_t vf, uint16_t rid, uint32_t asid);

/* ---- host callbacks: posix for memory and pins, direct guest memory, the NIC's registers ---- */

#define W(h) ((struct vn_world *)(h))

static void *h_mem_alloc(void *h, size_t size, size_t align)
{
	return W(h)->pops->mem_alloc(W(h)->posix, size, align);
}
static void h_mem_free(void *h, void *p, size_t size)
{
	W(h)->pops->mem_free(W(h)->posix, p, size);
}
static void *h_table_alloc(void *h, uint64_t *pa)
{
	return W(h)->pops->table_alloc(W(h)->posix, pa);
}
static void h_table_free(void *h, void *p, uint64_t pa)
{
	W(h)->pops->table_free(W(h)->posix, p, pa);
}
static int h_pin(void *h, uint32_t guest, uint64_t gpa, uint64_t n)
{
	return W(h)->pops->pin(W(h)->posix, guest, gpa, n);
}
static void h_unpin(void *h, uint32_t guest, uint64_t gpa, uint64_t n)
{
	W(h)->pops->unpin(W(h)->posix, guest, gpa, n);
}

/* The NIC's IOTLB must forget what the IOMMU invalidates: that is the contract
 * that makes unmapping safe. */
static void h_iotlb_inval(void *h, const struct iovirt_inval *inv)
{
	struct vn_world *w = W(h);
	w->pops->iotlb_inval(w->posix, inv);
	for (int i = 0; i < VN_GUESTS; i++)
		if (w->g[i].asid == inv->asid) {
			if (inv->kind == IOVIRT_INVAL_ASID)
				vn_tlb_flush(&w->g[i].tlb, 0, UINT64_MAX);
			else
				vn_tlb_flush(&w->g[i].tlb, inv->iova, inv->size);
		}
}

static inline bool mem_has(const struct vn_mem *m, uint32_t guest, uint64_t gpa, uint64_t len)
{
	return m->guest == guest && gpa >= m->gpa && gpa - m->gpa <= m->len && len <= m->len - (gpa - m->gpa);
}

uint8_t *vn_gpa_to_hva(struct vn_world *w, uint32_t guest, uint64_t gpa, uint64_t len)
{
	/* Rings and buffers are in the guest's RAM: try that range first. */
	if (guest - 1 < VN_GUESTS) {
		const struct vn_mem *m = &w->mem[w->ram_mem[guest - 1]];
		if (mem_has(m, guest, gpa, len))
			return m->hva + (gpa - m->gpa);
	}
	for (int i = 0; i < w->nmem; i++)
		if (mem_has(&w->mem[i], guest, gpa, len))
			return w->mem[i].hva + (gpa - w->mem[i].gpa);
	return NULL;
}

static int h_guest_read(void *h, uint32_t guest, uint64_t gpa, void *dst, size_t len)
{
	struct vn_world *w = W(h);
	const uint8_t *src = vn_gpa_to_hva(w, guest, gpa, len);
	if (!src)
		return -1;
	memcpy(dst, src, len);
	if (w->after_read)
		w->after_read(w, guest, gpa, len);
	return 0;
}

static int h_guest_write(void *h, uint32_t guest, uint64_t gpa, const void *src, size_t len)
{
	uint8_t *dst = vn_gpa_to_hva(W(h), guest, gpa, len);
	if (!dst)
		return -1;
	memcpy(dst, src, len);
	return 0;
}

/* Device 1 is the VFs' register file (VF n at n * 4 KiB); device 0 the PF's. */
static uint8_t *reg_at(struct vn_world *w, uint32_t dev, uint64_t off, unsigned width)
{
	if (dev == 1 && off < sizeof(w->regs) && width <= sizeof(w->regs) - off)
		return w->regs + off;
	if (dev == 0 && off < sizeof(w->pf_regs) && width <= sizeof(w->pf_regs) - off)
		return w->pf_regs + off;
	return NULL;
}

static int h_reg_read(void *h, uint32_t dev, uint64_t off, unsigned width, uint64_t *val)
{
	uint8_t *r = reg_at(W(h), dev, off, width);
	*val = 0;
	if (!r)
		return -1;
	memcpy(val, r, width);
	return 0;
}

static int h_reg_write(void *h, uint32_t dev, uint64_t off, unsigned width, uint64_t val)
{
	struct vn_world *w = W(h);
	uint8_t *r = reg_at(w, dev, off, width);
	if (!r)
		return -1;
	memcpy(r, &val, width);
	if (dev == 1 && off % VN_VF_REGS == VN_REG_DOORBELL && off / VN_VF_REGS < VN_VFS)
		w->doorbell[off / VN_VF_REGS] = true;
	return 0;
}

/* ---- the world ---- */

const char *vn_strategy_name(enum vn_strategy s)
{
	static const char *const names[VN_NSTRATEGIES] = {
		"native", "copy", "validate", "validate+pin", "iommu-strict", "iommu-batched", "iommu-persistent",
	};
	return (unsigned)s < VN_NSTRATEGIES ? names[s] : "?";
}

static bool iommu_strategy(enum vn_strategy s)
{
	return s == VN_IOMMU_STRICT || s == VN_IOMMU_BATCHED || s == VN_IOMMU_PERSISTENT;
}

uint64_t vn_tx_buf_gpa(const struct vn_world *w, uint32_t slot)
{
	(void)w;
	return VN_RAM_GPA + VN_BUF_OFF + (uint64_t)slot * VN_SLOT;
}

uint64_t vn_rx_buf_gpa(const struct vn_world *w, uint32_t slot)
{
	return VN_RAM_GPA + VN_BUF_OFF + (uint64_t)(w->ring_size + slot) * VN_SLOT;
}

static int ring_init(struct vn_world *w, struct vn_guest *g, struct vn_ring *r, uint64_t base)
{
	r->num = w->ring_size;
	r->desc_gpa = base;
	r->avail_gpa = base + 0x4000;
	r->used_gpa = base + 0x5000;
	/* With the guest's map: the rings must lie in its memory, the used ring
	 * where the device may write, and their regions stay held until the
	 * queue is destroyed. */
	struct iovirt_vq_params p = {
		.size = sizeof(p), .guest = g->id, .num = r->num,
		.desc_gpa = r->desc_gpa, .avail_gpa = r->avail_gpa, .used_gpa = r->used_gpa,
		.map = g->gmap, .flags = w->rings == VN_RINGS_DIRECT ? IOVIRT_VQ_F_DIRECT : 0,
	};
	return iovirt_vq_create(&w->ops, w, &p, &r->vq);
}

static int guest_init(struct vn_world *w, int i)
{
	struct vn_guest *g = &w->g[i];
	int r;
	g->id = (uint32_t)i + 1;
	g->rx_src = 1; /* guest 1 (index 0) sends to guest 2 (index 1) */
	g->vf = (uint32_t)i;
	g->asid = 100 + (uint32_t)i;
	g->ram = aligned_alloc(4096, VN_RAM_LEN);
	g->rom = aligned_alloc(4096, VN_ROM_LEN);
	if (!g->ram || !g->rom)
		return IOVIRT_ENOMEM;
	memset(g->ram, 0, VN_RAM_LEN);
	memset(g->rom, 0xea, VN_ROM_LEN);
	vn_tlb_flush(&g->tlb, 0, UINT64_MAX);
	w->ram_mem[i] = w->nmem;
	w->mem[w->nmem++] = (struct vn_mem){ g->id, VN_RAM_GPA, VN_RAM_LEN, g->ram };
	w->mem[w->nmem++] = (struct vn_mem){ g->id, VN_ROM_GPA, VN_ROM_LEN, g->rom };

	/* The guest's memory map, as the hypervisor knows it. */
	struct iovirt_gmap_params gp = { .size = sizeof(gp), .guest = g->id };
	if ((r = iovirt_gmap_create(&w->ops, w, &gp, &g->gmap)))
		return r;
	const struct iovirt_region regions[] = {
		{ .size = sizeof(struct iovirt_region), .gpa = VN_RAM_GPA, .length = VN_RAM_LEN,
		  .kind = IOVIRT_REGION_RAM, .access = IOVIRT_DEV_READ | IOVIRT_DEV_WRITE, .owner = g->id,
		  .flags = IOVIRT_REGION_HPA, .hva = g->ram, .hpa = (uintptr_t)g->ram + VN_PA_OFF },
		{ .size = sizeof(struct iovirt_region), .gpa = VN_ROM_GPA, .length = VN_ROM_LEN,
		  .kind = IOVIRT_REGION_ROM, .access = IOVIRT_DEV_READ, .owner = g->id,
		  .flags = IOVIRT_REGION_HPA, .hva = g->rom, .hpa = (uintptr_t)g->rom + VN_PA_OFF },
		/* The guest sees its VF's registers here: never a DMA target. */
		{ .size = sizeof(struct iovirt_region), .gpa = VN_MMIO_GPA, .length = VN_VF_REGS,
		  .kind = IOVIRT_REGION_MMIO, .access = IOVIRT_DEV_READ | IOVIRT_DEV_WRITE, .owner = g->id,
		  .flags = IOVIRT_REGION_HPA, .hpa = VN_VF_BAR_BASE + (uint64_t)g->vf * VN_VF_REGS },
		{ .size = sizeof(struct iovirt_region), .gpa = VN_MSI_GPA, .length = 0x100000,
		  .kind = IOVIRT_REGION_RESERVED, .owner = g->id },
		/* Guest 1's map also names memory that belongs to guest 2 (a page the
		 * hypervisor lent it for a while, say): known, and never its DMA target. */
		{ .size = sizeof(struct iovirt_region), .gpa = VN_FOREIGN_GPA, .length = VN_FOREIGN_LEN,
		  .kind = IOVIRT_REGION_RAM, .access = IOVIRT_DEV_READ | IOVIRT_DEV_WRITE, .owner = 2,
		  .flags = IOVIRT_REGION_HPA, .hva = w->foreign, .hpa = (uintptr_t)w->foreign + VN_PA_OFF },
	};
	for (size_t k = 0; k < sizeof(regions) / sizeof(regions[0]) - (i == 0 ? 0 : 1); k++)
		if ((r = iovirt_gmap_add(g->gmap, &regions[k])))
			return r;

	struct iovirt_space_params sp = { .size = sizeof(sp), .width = 48 };
	if ((r = iovirt_pt_space_create(w->io, g->asid, &sp)))
		return r;
	if ((r = iovirt_sriov_vf_bind(w->sr, g->vf, g->id, g->asid)))
		return r;
	if ((r = iovirt_sriov_vf_rid(w->sr, g->vf, &g->rid)))
		return r;

	struct iovirt_pin_params pp = {
		.size = sizeof(pp), .max_handles = 4 * VN_MAX_RING + 64, .max_segs = 4,
		.batch = w->strategy == VN_IOMMU_BATCHED ? 64 : 0,
		.iova_base = UINT64_C(1) << 32, .iova_end = UINT64_C(1) << 39,
	};
	if ((r = iovirt_pin_domain_create(&w->ops, w, g->gmap, &pp, &g->pin)))
		return r;

	if ((r = ring_init(w, g, &g->tx, VN_RAM_GPA + VN_RING_OFF)) ||
	    (r = ring_init(w, g, &g->rx, VN_RAM_GPA + VN_RING_OFF + 0x8000)))
		return r;
	/* The rings are the device's to read and write for good: map them once, at
	 * bus address = guest address, and program the VF's ring registers through
	 * register mediation, which checks them against the VF's address space. */
	uint64_t iova = VN_RAM_GPA + VN_RING_OFF;
	if ((r = iovirt_pin_map(g->pin, w->io, g->asid, VN_RAM_GPA + VN_RING_OFF, 0x10000,
				IOVIRT_PROT_READ | IOVIRT_PROT_WRITE, IOVIRT_PIN_MAP_FIXED, &iova, &g->ringmap)))
		return r;
	g->ring_mapped = true;
	if ((r = iovirt_sriov_mmio_write(w->sr, g->id, g->vf, VN_REG_TXRING, 8, g->tx.desc_gpa)) ||
	    (r = iovirt_sriov_mmio_write(w->sr, g->id, g->vf, VN_REG_RXRING, 8, g->rx.desc_gpa)))
		return r;

	struct iovirt_irqpoll_params ip = { .size = sizeof(ip), .mode = IOVIRT_IRQPOLL_NAPI, .budget = 64 };
	if ((r = iovirt_irqpoll_create(&w->ops, w, &ip, &g->rxirq)))
		return r;

	/* Persistent strategy: every buffer mapped once, for the whole run. */
	if (w->strategy == VN_IOMMU_PERSISTENT)
		for (uint32_t s = 0; s < w->ring_size; s++) {
			if ((r = iovirt_pin_map(g->pin, w->io, g->asid, vn_tx_buf_gpa(w, s), VN_SLOT, IOVIRT_PROT_READ, 0,
						&g->txs[s].iova, &g->txs[s].map)))
				return r;
			g->txs[s].mapped = true;
			if ((r = iovirt_pin_map(g->pin, w->io, g->asid, vn_rx_buf_gpa(w, s), VN_SLOT,
						IOVIRT_PROT_READ | IOVIRT_PROT_WRITE, 0, &g->rxs[s].iova, &g->rxs[s].map)))
				return r;
			g->rxs[s].mapped = true;
		}
	return 0;
}

int vn_world_init(struct vn_world *w, enum vn_strategy s, uint32_t packet_bytes, uint32_t ring_size,
		  enum vn_rings rings)
{
	int r;
	memset(w, 0, sizeof(*w));
	if (ring_size < 8 || ring_size > VN_MAX_RING || (ring_size & (ring_size - 1)) || packet_bytes < 64 ||
	    packet_bytes > VN_MAX_PACKET || (unsigned)s >= VN_NSTRATEGIES ||
	    (rings != VN_RINGS_DIRECT && rings != VN_RINGS_CALLBACK))
		return IOVIRT_EINVAL;
	w->strategy = s;
	w->rings = rings;
	w->packet_bytes = packet_bytes;
	w->ring_size = ring_size;
	w->pol = (struct iovirt_sg_policy){ .size = sizeof(w->pol), .max_segs = 4 };
	w->posix = iovirt_posix_create();
	w->foreign = aligned_alloc(4096, VN_FOREIGN_LEN);
	if (!w->posix || !w->foreign)
		return IOVIRT_ENOMEM;
	memset(w->foreign, 0x5a, VN_FOREIGN_LEN);
	w->pops = iovirt_posix_ops();
	w->ops = (struct iovirt_host_ops){
		.size = sizeof(w->ops), .mem_alloc = h_mem_alloc, .mem_free = h_mem_free,
		.table_alloc = h_table_alloc, .table_free = h_table_free, .iotlb_inval = h_iotlb_inval,
		.guest_read = h_guest_read, .guest_write = h_guest_write, .pin = h_pin, .unpin = h_unpin,
		.reg_read = h_reg_read, .reg_write = h_reg_write,
	};
	/* Deferred reclaim (SR-IOV refuses AFTER_INVAL: its DMA translation runs beside VF
	 * resets); vn_run reclaims between rounds, when nothing translates. */
	struct iovirt_iommu_params ip = { .size = sizeof(ip), .reclaim = IOVIRT_RECLAIM_DEFERRED };
	if ((r = iovirt_iommu_create(&w->ops, w, &ip, &w->io)))
		return r;

	/* The NIC: a PF with 8 VFs (4 enabled), each with a 4 KiB register BAR. */
	struct iovirt_sriov_params sp = {
		.size = sizeof(sp), .iommu = w->io, .pf_rid = 0x0300, .bus_last = 0x03,
		.total_vfs = 8, .initial_vfs = 8, .vf_offset = 1, .vf_stride = 1, .vf_offset_ari = 1,
		.vf_stride_ari = 1, .vf_device_id = 0x1515, .sup_pgsizes = 0x553,
		.vf_reg_dev = 1, .nregs = sizeof(vn_regmap) / sizeof(vn_regmap[0]), .vf_regs_size = VN_VF_REGS,
		.regs = vn_regmap,
	};
	sp.bars[0] = (struct iovirt_sriov_bar){ .size = VN_VF_REGS };
	sp.dma_quiesce = vn_quiesce;
	sp.hook_arg = w;
	sp.pf_windows[0] = (struct iovirt_sriov_window){ UINT64_C(0xc0000000), 0x100000 };
	if ((r = iovirt_sriov_create(&w->ops, w, &sp, &w->sr)))
		return r;
	/* The PF driver (the privileged side) enables 4 VFs, as config space writes. */
	if ((r = iovirt_sriov_cfg_write(w->sr, IOVIRT_SRIOV_VF_BAR0, 4, (uint32_t)VN_VF_BAR_BASE)) ||
	    (r = iovirt_sriov_cfg_write(w->sr, IOVIRT_SRIOV_NUM_VFS, 2, VN_VFS)) ||
	    (r = iovirt_sriov_cfg_write(w->sr, IOVIRT_SRIOV_CTRL, 2, IOVIRT_SRIOV_CTRL_VFE | IOVIRT_SRIOV_CTRL_MSE)))
		return r;

	struct iovirt_bounce_params bp = { .size = sizeof(bp), .nbufs = 2 * ring_size, .buf_size = VN_SLOT };
	if ((r = iovirt_bounce_create(&w->ops, w, &bp, &w->bounce)))
		return r;
	for (int i = 0; i < VN_GUESTS; i++)
		if ((r = guest_init(w, i)))
			return r;
	/* The receiving driver posts every receive buffer. */
	for (uint32_t s = 0; s < ring_size; s++)
		if ((r = vn_drv_post_rx(w, &w->g[1], s)))
			return r;
	return 0;
}

/* Unmaps everything the guest's pin domain mapped for its VF (strict: each
 * unmap invalidates, then unpins) and flushes what batched unmaps queued. */
static uint32_t guest_unmap_all(struct vn_guest *g)
{
	uint32_t n = 0;
	for (uint32_t s = 0; s < VN_MAX_RING; s++) {
		if (g->txs[s].mapped && !iovirt_pin_unmap(g->pin, g->txs[s].map))
			g->txs[s].mapped = false, n++;
		if (g->rxs[s].mapped && !iovirt_pin_unmap(g->pin, g->rxs[s].map))
			g->rxs[s].mapped = false, n++;
	}
	if (g->ring_mapped && !iovirt_pin_unmap(g->pin, g->ringmap))
		g->ring_mapped = false, n++;
	iovirt_pin_flush(g->pin);
	return n;
}

/* The SR-IOV reset's quiesce step (params.dma_quiesce): before the VF's ASID is
 * emptied, its DMA mappings are taken down through the pin domain, so every
 * page is unpinned after its invalidation and nothing stays pinned. (This
 * device completes its DMAs synchronously: none is in flight here.) */
static void vn_quiesce(void *arg, uint32_t vf, uint16_t rid, uint32_t asid)
{
	struct vn_world *w = arg;
	(void)rid;
	for (int i = 0; i < VN_GUESTS; i++)
		if (w->g[i].pin && w->g[i].vf == vf && w->g[i].asid == asid)
			w->quiesce_unmaps += guest_unmap_all(&w->g[i]);
}

static void guest_fini(struct vn_world *w, struct vn_guest *g, int64_t *maps)
{
	/* Function-level reset, in its safe order: the VF stops translating; the
	 * quiesce hook takes its mappings down (unpinning after invalidation); its
	 * ASID is emptied and invalidated; its registers go back to their reset
	 * values. Whatever the guest still had mapped goes with it. */
	if (w->sr && g->id)
		iovirt_sriov_vf_reset(w->sr, g->vf);
	if (g->pin) {
		guest_unmap_all(g); /* a guest whose VF was never bound */
		struct iovirt_pin_stats st;
		iovirt_pin_stats(g->pin, &st);
		*maps += (int64_t)(st.live_maps + st.live_dmas);
	}
	if (g->pin)
		iovirt_pin_domain_destroy(g->pin);
	if (g->tx.vq)
		iovirt_vq_destroy(g->tx.vq);
	if (g->rx.vq)
		iovirt_vq_destroy(g->rx.vq);
	if (g->rxirq)
		iovirt_irqpoll_destroy(g->rxirq);
	if (g->gmap) {
		iovirt_gmap_reclaim(g->gmap);
		iovirt_gmap_destroy(g->gmap);
	}
	free(g->ram);
	free(g->rom);
}

void vn_world_fini(struct vn_world *w, int64_t *pinned, int64_t *tables, int64_t *mem, int64_t *maps)
{
	*maps = 0;
	for (int i = 0; i < VN_GUESTS; i++)
		guest_fini(w, &w->g[i], maps);
	if (w->bounce)
		iovirt_bounce_destroy(w->bounce);
	if (w->sr)
		iovirt_sriov_destroy(w->sr);
	if (w->io)
		iovirt_iommu_destroy(w->io);
	*pinned = iovirt_posix_pinned_pages(w->posix);
	*tables = iovirt_posix_live_tables(w->posix);
	*mem = iovirt_posix_live_mem(w->posix);
	iovirt_posix_destroy(w->posix);
	free(w->foreign);
}

/* ---- the guests' drivers ---- */

/* Little-endian ring access in the guest's own memory (the guest is x86-like). */
static inline void wr16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static inline void publish16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, v, __ATOMIC_RELEASE);
}

static inline uint16_t acquire16(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE);
}

static uint8_t *ram(struct vn_guest *g, uint64_t gpa)
{
	return g->ram + (gpa - VN_RAM_GPA);
}

/* A packet: a 16-byte header {magic, source, sequence, length} and a body.
 * The body is a pattern of the sequence number, word by word. */
#define VN_MAGIC 0x564e4943u
void vn_fill_packet(uint8_t *p, uint32_t len, uint32_t src, uint64_t seq)
{
	uint32_t hdr[4] = { VN_MAGIC, src, (uint32_t)seq, len };
	memcpy(p, hdr, sizeof(hdr));
	memset(p + 16, (int)(seq & 0xff), len - 16);
}

static bool packet_ok(const uint8_t *p, uint32_t len, uint32_t src, uint64_t seq, bool full)
{
	uint32_t hdr[4];
	memcpy(hdr, p, sizeof(hdr));
	if (hdr[0] != VN_MAGIC || hdr[1] != src || hdr[2] != (uint32_t)seq || hdr[3] != len)
		return false;
	if (!full)
		return p[len - 1] == (uint8_t)seq && p[16] == (uint8_t)seq;
	for (uint32_t i = 16; i < len; i++)
		if (p[i] != (uint8_t)seq)
			return false;
	return true;
}

void vn_drv_post_raw(struct vn_guest *g, struct vn_ring *r, uint16_t slot, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next, bool publish)
{
	uint8_t *d = ram(g, r->desc_gpa + 16u * slot);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	wr16(d + 12, flags);
	wr16(d + 14, next);
	if (!publish)
		return;
	wr16(ram(g, r->avail_gpa + 4 + 2u * (r->avail_idx & (r->num - 1))), slot);
	publish16(ram(g, r->avail_gpa + 2), ++r->avail_idx);
}

/* Posts one descriptor {addr, len, flags} at the ring's next slot. */
static void post(struct vn_guest *g, struct vn_ring *r, uint16_t slot, uint64_t addr, uint32_t len, uint16_t flags)
{
	vn_drv_post_raw(g, r, slot, addr, len, flags, 0, true);
}

/* The bus address the device must be given for a buffer, mapping it first in
 * the per-transfer IOMMU strategies (the guest's dma_map). */
static int buffer_addr(struct vn_world *w, struct vn_guest *g, struct vn_slot *s, uint64_t gpa, unsigned prot,
		       uint64_t *addr)
{
	if (!iommu_strategy(w->strategy)) {
		*addr = gpa;
		return 0;
	}
	if (!s->mapped) {
		int r = iovirt_pin_map(g->pin, w->io, g->asid, gpa, VN_SLOT, prot, 0, &s->iova, &s->map);
		if (r)
			return r;
		s->mapped = true;
	}
	*addr = s->iova;
	return 0;
}

/* The guest's dma_unmap after a completion, in the per-transfer strategies. */
static void buffer_done(struct vn_world *w, struct vn_guest *g, struct vn_slot *s)
{
	if ((w->strategy == VN_IOMMU_STRICT || w->strategy == VN_IOMMU_BATCHED) && s->mapped &&
	    !iovirt_pin_unmap(g->pin, s->map))
		s->mapped = false;
}

int vn_drv_post_tx(struct vn_world *w, struct vn_guest *g)
{
	struct vn_ring *r = &g->tx;
	if ((uint16_t)(r->avail_idx - r->used_seen) >= r->num)
		return IOVIRT_ENOBUF; /* every slot in flight */
	const uint16_t slot = r->avail_idx & (r->num - 1);
	const uint64_t gpa = vn_tx_buf_gpa(w, slot);
	uint64_t addr;
	vn_fill_packet(ram(g, gpa), w->packet_bytes, g->id, g->tx_seq);
	int e = buffer_addr(w, g, &g->txs[slot], gpa, IOVIRT_PROT_READ, &addr);
	if (e)
		return e;
	post(g, r, slot, addr, w->packet_bytes, 0);
	g->tx_seq++;
	return 0;
}

int vn_drv_post_rx(struct vn_world *w, struct vn_guest *g, uint32_t slot)
{
	uint64_t addr;
	int e = buffer_addr(w, g, &g->rxs[slot], vn_rx_buf_gpa(w, slot), IOVIRT_PROT_READ | IOVIRT_PROT_WRITE, &addr);
	if (e)
		return e;
	post(g, &g->rx, (uint16_t)slot, addr, w->packet_bytes, IOVIRT_VIRTQ_DESC_F_WRITE);
	return 0;
}

int vn_drv_doorbell(struct vn_world *w, struct vn_guest *g)
{
	/* A register write like any other: mediated, checked, then passed on. */
	return iovirt_sriov_mmio_write(w->sr, g->id, g->vf, VN_REG_DOORBELL, 4, g->tx.avail_idx);
}

uint32_t vn_drv_reap_tx(struct vn_world *w, struct vn_guest *g)
{
	struct vn_ring *r = &g->tx;
	const uint16_t used = acquire16(ram(g, r->used_gpa + 2));
	uint32_t n = 0;
	while (r->used_seen != used) {
		uint32_t id;
		memcpy(&id, ram(g, r->used_gpa + 4 + 8u * (r->used_seen & (r->num - 1))), 4);
		if (id < r->num)
			buffer_done(w, g, &g->txs[id]);
		r->used_seen++;
		n++;
	}
	return n;
}

bool vn_drv_rx_pending(struct vn_world *w, struct vn_guest *g)
{
	(void)w;
	return acquire16(ram(g, g->rx.used_gpa + 2)) != g->rx.used_seen;
}

uint32_t vn_drv_poll_rx(struct vn_world *w, struct vn_guest *g, uint32_t budget)
{
	struct vn_ring *r = &g->rx;
	const uint16_t used = acquire16(ram(g, r->used_gpa + 2));
	uint32_t n = 0;
	while (r->used_seen != used && n < budget) {
		uint32_t e[2];
		memcpy(e, ram(g, r->used_gpa + 4 + 8u * (r->used_seen & (r->num - 1))), 8);
		const uint32_t id = e[0], len = e[1];
		r->used_seen++;
		n++;
		if (id >= r->num)
			continue;
		if (len == w->packet_bytes &&
		    packet_ok(ram(g, vn_rx_buf_gpa(w, id)), len, g->rx_src, g->rx_seq, w->verify))
			g->rx_bytes += len;
		else
			g->corrupt++;
		g->rx_seq++;
		/* Give the buffer back to the device. */
		buffer_done(w, g, &g->rxs[id]);
		vn_drv_post_rx(w, g, id);
	}
	return n;
}
