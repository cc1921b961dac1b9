/* SPDX-License-Identifier: MIT */
/*
 * A hostile guest (guest 1, index 0) beside an honest one (guest 2, index 1).
 * Each attack runs in a fresh world under the strategy it targets; afterwards
 * the honest guest's traffic must still flow and nothing may be left behind.
 */
#include <string.h>

#include "internal.h"

static struct vn_world world;

struct ctx {
	struct vn_attack *out;
	int n, max;
	bool victim_ok, clean;
};

/* The honest guest sends n packets to itself through the same NIC and receives them all. */
static bool victim_traffic(struct vn_world *w, uint32_t n)
{
	struct vn_guest *v = &w->g[1];
	/* From now on it receives its own packets, numbered from its own count. */
	v->rx_src = v->id;
	v->rx_seq = v->tx_seq;
	const uint64_t before = v->rx_seq, ok_before = v->rx_seq - v->corrupt;
	for (uint32_t i = 0; i < n; i++) {
		if (vn_drv_post_tx(w, v))
			return false;
		vn_drv_doorbell(w, v);
		vn_dev_loopback(w, v, v, 64);
		vn_drv_poll_rx(w, v, 64);
		vn_drv_reap_tx(w, v);
	}
	return v->rx_seq - before == n && v->rx_seq - v->corrupt - ok_before == n;
}

static struct vn_world *begin_rings(struct ctx *c, enum vn_strategy s, enum vn_rings rings)
{
	if (vn_world_init(&world, s, 1500, 64, rings)) {
		c->clean = false;
		return NULL;
	}
	return &world;
}

/* A world as the measured runs make it: rings read directly. */
static struct vn_world *begin(struct ctx *c, enum vn_strategy s)
{
	return begin_rings(c, s, VN_RINGS_DIRECT);
}

static void end(struct ctx *c, struct vn_world *w, const char *name, const char *how, int err, bool refused)
{
	const bool victim = victim_traffic(w, 16);
	int64_t pinned, tables, mem, maps;
	vn_world_fini(w, &pinned, &tables, &mem, &maps);
	const bool clean = !pinned && !tables && !mem && !maps;
	c->victim_ok &= victim;
	c->clean &= clean;
	if (c->n < c->max)
		c->out[c->n++] = (struct vn_attack){ .name = name, .stopped_by = how, .err = err, .refused = refused,
						     .victim_ok = victim, .clean = clean };
}

/* Guest 1 posts one transmit descriptor at addr and rings; returns what the device met. */
static int hostile_tx(struct vn_world *w, uint64_t addr, uint32_t len)
{
	struct vn_guest *h = &w->g[0];
	h->last_err = 0;
	vn_drv_post_raw(h, &h->tx, 0, addr, len, 0, 0, true);
	vn_drv_doorbell(w, h);
	vn_dev_loopback(w, h, &w->g[1], 8);
	return h->refused ? h->last_err : 0;
}

static void tx_attack(struct ctx *c, enum vn_strategy s, const char *name, const char *how, uint64_t addr)
{
	struct vn_world *w = begin(c, s);
	if (!w)
		return;
	int err = hostile_tx(w, addr, 1500);
	/* Refused, and the honest guest received nothing from it. */
	end(c, w, name, how, err, err < 0 && w->g[1].rx_seq == 0);
}

/* Rewrites the descriptor's address right after the device has read it
 * (after_read_arg counts the rewrites). */
static void rewrite_after_read(struct vn_world *w, uint32_t guest, uint64_t gpa, size_t len)
{
	struct vn_guest *h = &w->g[0];
	if (guest != h->id || gpa != h->tx.desc_gpa || len < 8)
		return;
	uint64_t evil = VN_FOREIGN_GPA;
	memcpy(h->ram + (h->tx.desc_gpa - VN_RAM_GPA), &evil, 8);
	++*(uint32_t *)w->after_read_arg;
}

int vn_attacks(struct vn_attack *out, int max, bool *victim_ok, bool *clean)
{
	struct ctx c = { .out = out, .max = max, .victim_ok = true, .clean = true };
	struct vn_world *w;
	int err;

	tx_attack(&c, VN_VALIDATE, "descriptor into another guest's memory",
		  "validation: the region belongs to another guest", VN_FOREIGN_GPA);
	tx_attack(&c, VN_IOMMU_PERSISTENT, "bus address outside the guest's mappings",
		  "IOMMU: no translation in the VF's address space", UINT64_C(0x7f0000000000));
	tx_attack(&c, VN_VALIDATE, "descriptor into the hypervisor's memory",
		  "validation: outside every region of the guest", UINT64_C(0x80000000));
	tx_attack(&c, VN_VALIDATE, "descriptor into MMIO (its VF's registers)",
		  "validation: MMIO is no DMA target", VN_MMIO_GPA);
	tx_attack(&c, VN_PIN, "descriptor into the MSI window",
		  "validation: reserved region", VN_MSI_GPA);

	/* A chain that loops: descriptor 0 -> 1 -> 0. */
	if ((w = begin(&c, VN_VALIDATE))) {
		struct vn_guest *h = &w->g[0];
		const uint64_t buf = vn_tx_buf_gpa(w, 0);
		vn_drv_post_raw(h, &h->tx, 1, buf, 64, IOVIRT_VIRTQ_DESC_F_NEXT, 0, false);
		vn_drv_post_raw(h, &h->tx, 0, buf, 64, IOVIRT_VIRTQ_DESC_F_NEXT, 1, true);
		vn_drv_doorbell(w, h);
		vn_dev_loopback(w, h, &w->g[1], 8);
		err = h->last_err;
		end(&c, w, "descriptor chain that loops", "virtio walk: a descriptor seen twice", err,
		    err == IOVIRT_ELOOP);
	}

	/* Descriptors rewritten after the check: the device uses only its copy.
	 * The rewrite happens inside guest_read, so this world reads its rings
	 * through the callbacks (direct reads never call it); it counts only if
	 * the rewrite really happened between the device's reads. */
	if ((w = begin_rings(&c, VN_VALIDATE, VN_RINGS_CALLBACK))) {
		struct vn_guest *h = &w->g[0], *v = &w->g[1];
		uint32_t rewrites = 0;
		w->after_read = rewrite_after_read;
		w->after_read_arg = &rewrites;
		vn_drv_post_tx(w, h); /* an honest packet, then the rewrite */
		vn_drv_doorbell(w, h);
		vn_dev_loopback(w, h, v, 8);
		vn_drv_poll_rx(w, v, 8);
		w->after_read = NULL;
		const bool unaffected = rewrites > 0 && v->rx_seq == 1 && v->corrupt == 0;
		end(&c, w, "descriptor rewritten after it was checked",
		    "read once: the device acts on its private copy", unaffected ? 0 : IOVIRT_EINVAL, unaffected);
	}

	/* A receive buffer in read-only memory: the device would write firmware. */
	if ((w = begin(&c, VN_VALIDATE))) {
		struct vn_guest *h = &w->g[0], *v = &w->g[1];
		h->rx_src = v->id;
		vn_drv_post_raw(h, &h->rx, 0, VN_ROM_GPA, 1500, IOVIRT_VIRTQ_DESC_F_WRITE, 0, true);
		vn_drv_post_tx(w, v);
		vn_dev_loopback(w, v, h, 8);
		err = h->last_err;
		const bool rom_intact = w->g[0].rom[0] == 0xea && w->g[0].rom[1499] == 0xea;
		vn_drv_reap_tx(w, v);
		end(&c, w, "device write into read-only memory", "validation: ROM is never written",
		    err, err == IOVIRT_EREADONLY && rom_intact);
	}

	/* A used ring in read-only memory: every completion would write firmware.
	 * The guest's rings are given where the queue is created, and checked there. */
	if ((w = begin(&c, VN_VALIDATE))) {
		struct vn_guest *h = &w->g[0];
		struct iovirt_vq *vq = NULL;
		struct iovirt_vq_params p = {
			.size = sizeof(p), .guest = h->id, .num = h->tx.num, .desc_gpa = h->tx.desc_gpa,
			.avail_gpa = h->tx.avail_gpa, .used_gpa = VN_ROM_GPA, .map = h->gmap,
		};
		err = iovirt_vq_create(&w->ops, w, &p, &vq);
		if (!err)
			iovirt_vq_destroy(vq);
		const bool none_held = iovirt_gmap_in_use(h->gmap, VN_ROM_GPA) == 0;
		end(&c, w, "used ring in read-only memory", "ring placement: the used ring must be writable",
		    err, err == IOVIRT_EREADONLY && !vq && none_held);
	}

	/* A guest write to a register of the privileged side. */
	if ((w = begin(&c, VN_VALIDATE))) {
		uint64_t before;
		memcpy(&before, w->regs + VN_REG_RATE, 8);
		err = iovirt_sriov_mmio_write(w->sr, w->g[0].id, w->g[0].vf, VN_REG_RATE, 8, ~UINT64_C(0));
		uint64_t after;
		memcpy(&after, w->regs + VN_REG_RATE, 8);
		end(&c, w, "guest write to a sensitive register (VF rate limit)",
		    "register mediation: privileged side only", err, err == IOVIRT_ESENSITIVE && before == after);
	}

	/* VF Enable with NumVFs above TotalVFs (the config-space CVE class). */
	if ((w = begin(&c, VN_VALIDATE))) {
		int busy = iovirt_sriov_cfg_write(w->sr, IOVIRT_SRIOV_NUM_VFS, 2, 200);
		struct iovirt_sriov *scratch = NULL;
		/* A second PF of the same kind, not yet enabled, takes the CVE sequence. */
		struct iovirt_sriov_params sp = {
			.size = sizeof(sp), .iommu = w->io, .pf_rid = 0x0400, .bus_last = 0x04, .total_vfs = 8,
			.initial_vfs = 8, .vf_offset = 1, .vf_stride = 1, .vf_offset_ari = 1, .vf_stride_ari = 1,
			.sup_pgsizes = 0x553,
		};
		err = iovirt_sriov_create(&w->ops, w, &sp, &scratch);
		if (!err) {
			iovirt_sriov_cfg_write(scratch, IOVIRT_SRIOV_NUM_VFS, 2, 200);
			err = iovirt_sriov_cfg_write(scratch, IOVIRT_SRIOV_CTRL, 2, IOVIRT_SRIOV_CTRL_VFE);
			const bool none = iovirt_sriov_num_enabled(scratch) == 0;
			iovirt_sriov_destroy(scratch);
			end(&c, w, "VF Enable with NumVFs above TotalVFs",
			    "SR-IOV capability: write refused, nothing enabled", err,
			    err == IOVIRT_ELIMIT && none && busy == IOVIRT_EBUSY);
		} else {
			end(&c, w, "VF Enable with NumVFs above TotalVFs", "setup failed", err, false);
		}
	}

	/* A DMA aimed at the device's own registers, through a mapping that points there. */
	if ((w = begin(&c, VN_IOMMU_PERSISTENT))) {
		struct vn_guest *h = &w->g[0];
		uint32_t vf;
		unsigned bar;
		uint64_t off;
		/* Where VF 0's registers decode on the bus (what the device would hit). */
		struct iovirt_sriov_vf_info info;
		iovirt_sriov_vf_info(w->sr, h->vf, &info);
		const uint64_t iova = UINT64_C(0x7e0000000000);
		err = iovirt_pt_map(w->io, h->asid, iova, info.bar[0], 4096, IOVIRT_PROT_READ | IOVIRT_PROT_WRITE);
		const bool decodes = !iovirt_sriov_bar_decode(w->sr, info.bar[0], &vf, &bar, &off);
		if (!err)
			err = hostile_tx(w, iova, 64);
		iovirt_pt_unmap(w->io, h->asid, iova, 4096);
		end(&c, w, "DMA aimed at the device's own registers", "DMA translation: re-entrancy check", err,
		    err == IOVIRT_EREENTRANT && decodes);
	}

	/* Taking memory away while the device still uses it: a DMA reads the guest's
	 * firmware (a region no ring lives in), and the region is removed under it. */
	if ((w = begin(&c, VN_PIN))) {
		struct vn_guest *h = &w->g[0];
		struct iovirt_seg seg = { .gpa = VN_ROM_GPA, .len = 1500, .dir = IOVIRT_DEV_READ };
		struct iovirt_host_seg out[4];
		struct iovirt_pin_handle dma;
		int n = iovirt_pin_sg(h->pin, &w->pol, &seg, 1, out, 4, NULL, &dma); /* a DMA in flight */
		err = iovirt_gmap_remove(h->gmap, VN_ROM_GPA);
		int shrink = iovirt_gmap_shrink(h->gmap, VN_ROM_GPA, 0x1000);
		/* Once the DMA completes, the same removal goes through: the pin was what stopped it. */
		int after = n > 0 ? iovirt_pin_complete(h->pin, dma) : -1;
		if (!after)
			after = iovirt_gmap_remove(h->gmap, VN_ROM_GPA);
		end(&c, w, "removing memory while a DMA still uses it", "pinning: the region is held (busy)", err,
		    n > 0 && err == IOVIRT_EBUSY && shrink == IOVIRT_EBUSY && after == 0);
	}

	/* Unmapping a buffer the device has cached a translation of. */
	if ((w = begin(&c, VN_IOMMU_PERSISTENT))) {
		struct vn_guest *h = &w->g[0], *v = &w->g[1];
		vn_drv_post_tx(w, h);
		vn_drv_doorbell(w, h);
		vn_dev_loopback(w, h, v, 8); /* the device's IOTLB now holds the buffer's page */
		vn_drv_poll_rx(w, v, 8);
		vn_drv_reap_tx(w, h);
		const uint64_t iova = h->txs[0].iova;
		err = iovirt_pin_unmap(h->pin, h->txs[0].map);
		if (!err)
			h->txs[0].mapped = false;
		/* The guest reuses the stale bus address: the device must fault, not hit its cache. */
		int fault = hostile_tx(w, iova, 64);
		end(&c, w, "using a buffer after unmapping it", "IOTLB invalidation before the pages are released",
		    fault, !err && fault == IOVIRT_ENOENT);
	}

	*victim_ok = c.victim_ok;
	*clean = c.clean;
	return c.n;
}
