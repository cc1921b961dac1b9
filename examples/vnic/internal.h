/* SPDX-License-Identifier: MIT */
/* The example's internals: the host, the world (guests, NIC, iovirt objects), the device. */
#ifndef VNIC_INTERNAL_H
#define VNIC_INTERNAL_H

#include "iovirt/posix.h"
#include "vnic.h"

#define VN_GUESTS 2
#define VN_VFS 4
#define VN_RAM_GPA UINT64_C(0x01000000)     /* 16 MiB */
#define VN_RAM_LEN UINT64_C(0x01000000)     /* 16 MiB */
#define VN_ROM_GPA UINT64_C(0x00100000)     /* firmware, read-only for devices */
#define VN_ROM_LEN UINT64_C(0x00010000)
#define VN_MMIO_GPA UINT64_C(0xe0000000)    /* where the guest sees its VF's BAR */
#define VN_MSI_GPA UINT64_C(0xfee00000)     /* the MSI window: never a DMA target */
#define VN_FOREIGN_GPA UINT64_C(0x40000000) /* guest 2's memory, named in guest 1's map */
#define VN_FOREIGN_LEN UINT64_C(0x10000)
#define VN_RING_OFF 0                        /* rings at the start of RAM */
#define VN_BUF_OFF UINT64_C(0x00100000)     /* buffers from RAM + 1 MiB */
#define VN_SLOT UINT64_C(0x4000)            /* 16 KiB per buffer slot */
#define VN_MAX_RING 256u
#define VN_PA_OFF IOVIRT_POSIX_PA_OFFSET    /* host "physical" = CPU address + this */

/* The VF's registers (a 4 KiB window per VF). */
#define VN_REG_DOORBELL 0x00 /* guest: "transmit ring has work" */
#define VN_REG_TXRING 0x08   /* guest DMA address: transmit descriptor table */
#define VN_REG_RXRING 0x10   /* guest DMA address: receive descriptor table */
#define VN_REG_RATE 0x18     /* sensitive: the VF's rate limit, set by the PF driver only */
#define VN_REG_MAC 0x20      /* sensitive: the VF's MAC address filter */
#define VN_VF_REGS 0x1000

/* Guest memory as the host sees it: fast direct access for guest_read/write. */
struct vn_mem {
	uint32_t guest;
	uint64_t gpa, len;
	uint8_t *hva;
};

struct vn_world;

/* A tiny device IOTLB: what the emulated NIC caches of IOMMU translations.
 * The host's iotlb_inval callback drops entries, as hardware must. */
#define VN_TLB 4096
struct vn_tlb_entry {
	uint64_t page; /* iova >> 12, or UINT64_MAX */
	uint8_t *hva;
	uint32_t prot;
};
struct vn_tlb {
	uint64_t gen; /* bumped by every flush: cached ring views check it */
	struct vn_tlb_entry e[VN_TLB];
};

/* The slot of a page: hashed, so that buffers spaced by a power of two do not collide. */
static inline unsigned vn_tlb_slot(uint64_t page)
{
	return (unsigned)((page * UINT64_C(0x9e3779b97f4a7c15)) >> 52); /* 12 bits: VN_TLB */
}

struct vn_ring {
	uint32_t num; /* a power of two: indices wrap with num - 1 */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* device side (raw reader for native and IOMMU strategies) */
	uint16_t last_avail, used_idx;
	/* driver side */
	uint16_t avail_idx, used_seen;
	struct iovirt_vq *vq; /* device side through iovirt (copy, validate, pin) */
	/* IOMMU strategies: the device's translated view of the ring's three pages,
	 * valid while its IOTLB has not been flushed since (gen). */
	struct {
		uint64_t gen;
		uint8_t *desc, *avail, *used;
	} view;
};

struct vn_slot {
	uint64_t iova; /* IOMMU strategies: the bus address the descriptor holds */
	struct iovirt_pin_handle map;
	bool mapped;
};

struct vn_guest {
	uint32_t id, vf, asid;
	uint16_t rid;
	uint8_t *ram, *rom;
	struct iovirt_gmap *gmap;
	struct iovirt_pin_domain *pin;
	struct vn_ring tx, rx;
	struct vn_slot txs[VN_MAX_RING], rxs[VN_MAX_RING];
	struct iovirt_pin_handle ringmap; /* the rings, mapped once for the device */
	bool ring_mapped;
	struct iovirt_irqpoll *rxirq;
	struct vn_tlb tlb;
	uint64_t tx_seq, rx_seq; /* packets posted / received in order */
	uint64_t rx_bytes, corrupt, refused;
	uint32_t rx_src; /* whose packets the receiver expects */
	int last_err;    /* the last refusal the device met on this guest's rings */
};

/* How the device side reads the virtio rings (the copy, validate and pin
 * strategies): through the held regions' host addresses, as a vhost-user
 * backend does (IOVIRT_VQ_F_DIRECT), or through the host's guest_read and
 * guest_write, where a read hook can act between two reads. */
enum vn_rings { VN_RINGS_DIRECT, VN_RINGS_CALLBACK };

struct vn_world {
	struct iovirt_posix *posix;
	const struct iovirt_host_ops *pops;
	struct iovirt_host_ops ops; /* ours: posix for memory, direct guest memory, the NIC's registers */
	struct vn_mem mem[8];
	int nmem;
	int ram_mem[VN_GUESTS]; /* index in mem[] of each guest's RAM */
	/* A read hook for the attack that rewrites descriptors after they are read.
	 * It sees only what goes through guest_read: the rings of a world made
	 * with VN_RINGS_CALLBACK. */
	void (*after_read)(struct vn_world *w, uint32_t guest, uint64_t gpa, size_t len);
	void *after_read_arg;
	enum vn_rings rings;

	struct iovirt_iommu *io;
	struct iovirt_sriov *sr;
	struct iovirt_bounce *bounce;
	struct vn_guest g[VN_GUESTS];
	uint8_t regs[VN_VFS * VN_VF_REGS];
	uint8_t pf_regs[0x1000];
	bool doorbell[VN_VFS];

	uint8_t *foreign; /* the memory at VN_FOREIGN_GPA */
	enum vn_strategy strategy;
	uint32_t packet_bytes, ring_size;
	bool verify;
	struct iovirt_sg_policy pol;
	uint64_t tlb_misses;
	uint64_t quiesce_unmaps; /* mappings the VF resets' quiesce hook took down */
};

/* world.c */
int vn_world_init(struct vn_world *w, enum vn_strategy s, uint32_t packet_bytes, uint32_t ring_size,
		  enum vn_rings rings);
/* Tears down; fills the leak counters (pinned, tables, memory, live mappings). */
void vn_world_fini(struct vn_world *w, int64_t *pinned, int64_t *tables, int64_t *mem, int64_t *maps);
uint8_t *vn_gpa_to_hva(struct vn_world *w, uint32_t guest, uint64_t gpa, uint64_t len);
/* The guest driver: post a packet / a receive buffer, ring the doorbell, reap completions. */
int vn_drv_post_tx(struct vn_world *w, struct vn_guest *g);
int vn_drv_post_rx(struct vn_world *w, struct vn_guest *g, uint32_t slot);
/* A hostile driver's descriptor: any address, length, flags and next. */
void vn_drv_post_raw(struct vn_guest *g, struct vn_ring *r, uint16_t slot, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next, bool publish);
int vn_drv_doorbell(struct vn_world *w, struct vn_guest *g);
uint32_t vn_drv_reap_tx(struct vn_world *w, struct vn_guest *g);
uint32_t vn_drv_poll_rx(struct vn_world *w, struct vn_guest *g, uint32_t budget);
bool vn_drv_rx_pending(struct vn_world *w, struct vn_guest *g);
void vn_fill_packet(uint8_t *p, uint32_t len, uint32_t src, uint64_t seq);
uint64_t vn_tx_buf_gpa(const struct vn_world *w, uint32_t slot);
uint64_t vn_rx_buf_gpa(const struct vn_world *w, uint32_t slot);

/* device.c */
/* Moves up to budget packets from src's transmit ring to dst's receive ring.
 * Returns packets moved; refused descriptors are counted in src->refused. */
uint32_t vn_dev_loopback(struct vn_world *w, struct vn_guest *src, struct vn_guest *dst, uint32_t budget);
void vn_tlb_flush(struct vn_tlb *t, uint64_t iova, uint64_t size);

#endif
