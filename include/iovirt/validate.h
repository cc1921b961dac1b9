/* SPDX-License-Identifier: MIT */
/*
 * Guest memory maps, DMA descriptor validation and bounce buffers.
 *
 * Before a device sees an address a guest wrote into a DMA descriptor, the
 * hypervisor checks that the address belongs to that guest and may be used
 * that way ("validate"), or copies the data through buffers it owns
 * ("copy"). This module gives both:
 *
 *  - iovirt_gmap: one guest's memory map (regions with a kind, device
 *    permissions, owner, and where the host finds them). Lookups are
 *    lock-free on an immutable snapshot; changes publish a new snapshot.
 *  - iovirt_sg_validate*: a generic scatter-gather list checked against a map
 *    and turned into a host scatter-gather list.
 *  - iovirt_vq: the virtio 1.x split virtqueue (descriptor table, available
 *    and used rings in guest memory): chain walking with every check the
 *    specification asks of a device, results as above; given the map, the
 *    rings' own placement is checked at create and their regions held.
 *  - iovirt_bounce: a fixed pool of hypervisor-owned buffers for the copy
 *    approach.
 *
 * Guest-controlled bytes (lists, descriptors, ring entries, indirect tables)
 * are read once through host->guest_read into a private snapshot; every check
 * and every result uses only that snapshot. A structure the library reads
 * itself (a guest segment list, an indirect table) is checked against the map
 * before it is read: never from MMIO or RESERVED memory.
 *
 * Threads and memory reclamation (gmap):
 *  - Lookups, validation, iovirt_gmap_region_get/put take no lock and may run
 *    beside any writer; each sees one whole snapshot of the map.
 *  - Writers (add, remove, shrink) may also run at once: each publishes its
 *    snapshot with a compare-and-swap and retries on a lost race, so no
 *    change is ever lost or torn.
 *  - Replaced snapshots and removed regions are not freed at once: they wait
 *    until iovirt_gmap_reclaim, which the host calls once every lookup,
 *    validation, get and writer that began before the call has returned (its
 *    grace period, as with iovirt_pt_reclaim).
 *  - A host scatter-gather result points into regions; it stays meaningful
 *    while the regions stay in the map. Hold a region (iovirt_gmap_region_get)
 *    to keep it from being removed or shrunk. A hold made a lease and left
 *    idle (iovirt_gmap_lease_*) is taken back by a remover instead.
 *
 * Host callbacks: the map and the bounce pool use mem_alloc/mem_free at
 * create and on map changes only, never on the validation path. Virtqueues
 * use mem_alloc/mem_free at create and destroy, guest_read/guest_write otherwise; iovirt_sg_validate_guest uses guest_read;
 * bounce copies use guest_read/guest_write only for regions without a host
 * pointer.
 *
 * Each function's contract reads in one order: what it does; Returns; Errors;
 * On failure; Threads (when other than the rules above); Host callbacks (when
 * other than the rule above).
 */
#ifndef IOVIRT_VALIDATE_H
#define IOVIRT_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "iovirt/error.h"
#include "iovirt/host.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Guest memory map                                                          */
/* ------------------------------------------------------------------------ */

enum iovirt_region_kind {
	IOVIRT_REGION_RAM = 1,      /* guest RAM */
	IOVIRT_REGION_ROM = 2,      /* read-only memory: devices never write it */
	IOVIRT_REGION_MMIO = 3,     /* a device register window (emulated or passed through) */
	IOVIRT_REGION_RESERVED = 4, /* present in the guest's address map, never a DMA target */
	IOVIRT_REGION_SHARED = 5,   /* memory shared with another guest (owner says which) */
};

/* Device access, as region permission and as segment direction. */
#define IOVIRT_DEV_READ 1u  /* the device reads the memory (virtio "device-readable") */
#define IOVIRT_DEV_WRITE 2u /* the device writes the memory (virtio VIRTQ_DESC_F_WRITE) */

/* Region flags: which host addresses are given. */
#define IOVIRT_REGION_HPA 1u       /* hpa is the host physical address of gpa (contiguous) */
#define IOVIRT_REGION_HPA_PAGES 2u /* page_hpa lists one host physical address per 4 KiB page */

/* An output entry's hpa when the region has no host physical address. */
#define IOVIRT_HPA_NONE UINT64_MAX

/* One region of a guest's memory map. */
struct iovirt_region {
	size_t size;     /* sizeof(struct iovirt_region) */
	uint64_t gpa;    /* first guest-physical byte; 4 KiB aligned */
	uint64_t length; /* bytes; a non-zero 4 KiB multiple */
	uint32_t kind;   /* enum iovirt_region_kind */
	uint32_t access; /* IOVIRT_DEV_READ | IOVIRT_DEV_WRITE: what devices may do */
	uint32_t owner;  /* guest that owns the memory; the map's guest unless SHARED/foreign */
	uint32_t flags;  /* IOVIRT_REGION_HPA or IOVIRT_REGION_HPA_PAGES, or 0 */
	void *hva;       /* host CPU address of gpa (4 KiB aligned), or NULL */
	uint64_t hpa;    /* with IOVIRT_REGION_HPA: host physical address of gpa, 4 KiB aligned */
	const uint64_t *page_hpa; /* with IOVIRT_REGION_HPA_PAGES: length / 4 KiB addresses,
	                           * each 4 KiB aligned; copied by iovirt_gmap_add */
};
/* Version 1: every field above (host.h: versioned structs). */
#define IOVIRT_REGION_SIZE_V1 IOVIRT_PARAMS_SIZE_TO(struct iovirt_region, page_hpa)

struct iovirt_gmap_params {
	size_t size;          /* sizeof(struct iovirt_gmap_params) */
	uint32_t guest;       /* the guest this map belongs to */
	uint32_t max_regions; /* 0: IOVIRT_GMAP_DEFAULT_MAX_REGIONS */
};
/* Version 1: every field above (host.h: versioned structs). */
#define IOVIRT_GMAP_PARAMS_SIZE_V1 IOVIRT_PARAMS_SIZE_TO(struct iovirt_gmap_params, max_regions)
#define IOVIRT_GMAP_DEFAULT_MAX_REGIONS 65536u

struct iovirt_gmap;
/* A region held in use (iovirt_gmap_region_get); opaque. */
struct iovirt_gmap_region;

/*
 * Creates an empty map.
 * Returns: 0 and *out.
 * Errors:
 *   IOVIRT_EINVAL  NULL ops, out or params; params->size below
 *                  IOVIRT_GMAP_PARAMS_SIZE_V1; a host ops table too old
 *   IOVIRT_ENOSYS  host_ops lacks mem_alloc or mem_free
 *   IOVIRT_ENOMEM  an allocation failed
 * On failure: nothing allocated, *out untouched.
 */
int iovirt_gmap_create(const struct iovirt_host_ops *host_ops, void *host,
		       const struct iovirt_gmap_params *params,
		       struct iovirt_gmap **out);

/*
 * Frees the map, its regions and everything waiting for reclaim.
 * Returns: 0.
 * Errors:
 *   IOVIRT_EBUSY  a region is held, or a lease not ended (destroy the pin
 *                 domains of the map first)
 * On failure: nothing freed.
 * Threads: no other call on the map may run or follow.
 */
int iovirt_gmap_destroy(struct iovirt_gmap *map);

/* The guest the map belongs to. Cannot fail. */
uint32_t iovirt_gmap_guest(const struct iovirt_gmap *map);

/*
 * Adds a region.
 * Returns: 0.
 * Errors:
 *   IOVIRT_EINVAL    size below IOVIRT_REGION_SIZE_V1, length 0, unknown
 *                    kind/access/flags bits, both HPA flags, page_hpa NULL with
 *                    HPA_PAGES, RAM/ROM/SHARED without hva or host physical address
 *   IOVIRT_EALIGN    gpa, length, hva, hpa or a page_hpa entry not 4 KiB aligned
 *   IOVIRT_EOVERFLOW gpa + length or hpa + length wraps
 *   IOVIRT_EOVERLAP  the range overlaps a region of the map
 *   IOVIRT_ELIMIT    the map holds max_regions regions
 *   IOVIRT_ENOMEM    allocation failed
 * On failure: nothing changed (all or nothing).
 */
int iovirt_gmap_add(struct iovirt_gmap *map, const struct iovirt_region *r);

/*
 * Removal and shrink (iovirt_gmap_remove, iovirt_gmap_shrink) share their
 * rules: they act on the region that starts at gpa; a held region
 * (iovirt_gmap_region_get) is refused, except that a hold kept only by an
 * idle lease (iovirt_gmap_lease_idle) is taken back first; the new snapshot is published at once
 * and the old one (and a removed region's memory) is released at a later
 * iovirt_gmap_reclaim; on failure nothing changed. Errors common to both:
 *   IOVIRT_ENOENT  no region starts at gpa
 *   IOVIRT_EBUSY   the region is held
 *   IOVIRT_ENOMEM  the new snapshot could not be allocated
 */

/*
 * Removes the region that starts at gpa (the shared rules above).
 * Returns: 0.
 * Errors: the shared ones only.
 */
int iovirt_gmap_remove(struct iovirt_gmap *map, uint64_t gpa);

/*
 * Shrinks the region that starts at gpa to new_length (the shared rules
 * above). Growing is adding a neighbouring region.
 * Returns: 0.
 * Errors: the shared ones, and
 *   IOVIRT_EINVAL  new_length 0 or not below the region's length
 *   IOVIRT_EALIGN  new_length not a 4 KiB multiple
 */
int iovirt_gmap_shrink(struct iovirt_gmap *map, uint64_t gpa, uint64_t new_length);

/*
 * Copies the description of the region containing gpa into *out (page_hpa
 * then points to the map's own copy, valid until the region is removed and
 * reclaimed).
 * Returns: 0.
 * Errors:
 *   IOVIRT_ENOREGION  no region contains gpa
 * On failure: *out untouched.
 * Threads: lock-free.
 */
int iovirt_gmap_lookup(const struct iovirt_gmap *map, uint64_t gpa,
		       struct iovirt_region *out);

/*
 * Holds the region containing gpa in use: until the matching put it cannot be
 * removed or shrunk (IOVIRT_EBUSY).
 * Returns: 0 and *out.
 * Errors:
 *   IOVIRT_ENOREGION  no region there
 *   IOVIRT_EBUSY      the region is being removed or shrunk at this moment
 *   IOVIRT_ELIMIT     2^31 - 1 holders
 * On failure: no hold taken.
 * Threads: lock-free.
 */
int iovirt_gmap_region_get(struct iovirt_gmap *map, uint64_t gpa,
			   struct iovirt_gmap_region **out);
/* Drops one hold. Cannot fail. Lock-free. */
void iovirt_gmap_region_put(struct iovirt_gmap *map, struct iovirt_gmap_region *reg);
/* The held region's description (as iovirt_gmap_lookup). Cannot fail. */
void iovirt_gmap_region_info(const struct iovirt_gmap_region *reg, struct iovirt_region *out);
/* Returns: the holds of the region containing gpa now that keep it from
 * being removed or shrunk (an idle lease's hold, below, is not counted).
 * Errors: IOVIRT_ENOREGION (no region contains gpa). */
int64_t iovirt_gmap_in_use(const struct iovirt_gmap *map, uint64_t gpa);

/*
 * Leases: a hold its owner keeps across idle periods, which a remover may
 * take back. For a holder (lib/pin's domains) that would otherwise put its
 * hold after each use and get it again before the next: an idle lease costs
 * the owner one compare-and-swap to use again (no lookup), and removal and
 * shrink still succeed while the owner is idle. A region has
 * IOVIRT_GMAP_LEASES lease slots; `lease` names the owner's.
 *  - iovirt_gmap_lease_take: the caller, holding reg (iovirt_gmap_region_get),
 *    makes that hold one of the region's leases, in use. Returns the lease
 *    (0 .. IOVIRT_GMAP_LEASES - 1), or IOVIRT_EBUSY: every slot is taken;
 *    the caller keeps its plain hold. Lock-free.
 *  - iovirt_gmap_lease_idle: the owner stops using it; the hold stays, but
 *    iovirt_gmap_remove and iovirt_gmap_shrink (any thread) take an idle
 *    lease's hold back (revoke it) instead of failing with IOVIRT_EBUSY; so
 *    may a remove or shrink that then fails for another holder. Cannot fail.
 *  - iovirt_gmap_lease_use: the owner uses it again. Returns 0: held again,
 *    exactly as before iovirt_gmap_lease_idle (the region has not been
 *    removed nor shrunk meanwhile). IOVIRT_ESTALE: it was revoked; the lease
 *    and its hold are gone and reg must not be used again (get the region
 *    anew). Lock-free.
 *  - iovirt_gmap_lease_end: the owner gives up the lease and its hold,
 *    whatever its state (in use, idle, revoked). reg must not be used again.
 *    Cannot fail.
 * A revoked region's memory waits for its owner's iovirt_gmap_lease_use or
 * _end (after iovirt_gmap_reclaim, the last such call frees it, with
 * mem_free). End every lease before iovirt_gmap_destroy (which refuses with
 * IOVIRT_EBUSY while one is not ended, revoked or not). Calls on one lease
 * are serialized by its owner.
 */
#define IOVIRT_GMAP_LEASES 4u
int iovirt_gmap_lease_take(struct iovirt_gmap_region *reg);
void iovirt_gmap_lease_idle(struct iovirt_gmap_region *reg, unsigned lease);
int iovirt_gmap_lease_use(struct iovirt_gmap *map, struct iovirt_gmap_region *reg, unsigned lease);
void iovirt_gmap_lease_end(struct iovirt_gmap *map, struct iovirt_gmap_region *reg, unsigned lease);

/*
 * Frees the snapshots and regions replaced or removed before this call.
 * Returns: the number of objects freed. Cannot fail.
 * Threads: call it when every reader and writer of the map that began before
 * has returned; two reclaims must not run at once.
 * Host callbacks: mem_free.
 */
size_t iovirt_gmap_reclaim(struct iovirt_gmap *map);

struct iovirt_gmap_stats {
	uint64_t regions;       /* regions in the current snapshot */
	uint64_t generation;    /* snapshots published so far */
	uint64_t retired;       /* objects waiting for reclaim */
	uint64_t retired_bytes; /* their bytes */
};
void iovirt_gmap_stats(const struct iovirt_gmap *map, struct iovirt_gmap_stats *out);

/* ------------------------------------------------------------------------ */
/* Scatter-gather validation                                                 */
/* ------------------------------------------------------------------------ */

/* One guest segment (in the caller's memory: already a private copy). */
struct iovirt_seg {
	uint64_t gpa;
	uint64_t len;
	uint32_t dir; /* IOVIRT_DEV_READ and/or IOVIRT_DEV_WRITE */
	uint32_t reserved;
};

/*
 * A segment list in guest memory (iovirt_sg_validate_guest): an array of
 * 16-byte little-endian entries { le64 gpa; le32 len; le16 dir; le16 zero }.
 */
#define IOVIRT_SG_WIRE_SIZE 16u

#define IOVIRT_POLICY_ALLOW_MMIO 1u /* segments may target MMIO regions with a host address */
#define IOVIRT_POLICY_ALLOW_P2P 2u  /* segments may target SHARED (peer) regions */
/* A segment must lie inside one region: one running into an adjacent region
 * is IOVIRT_ECROSS (without it, each piece is checked against its own region
 * and gets its own host entries). The same for a virtqueue's indirect tables
 * (the pop's or walk's policy) and rings (iovirt_vq_params.pol). */
#define IOVIRT_POLICY_STRICT_REGIONS 4u

struct iovirt_sg_policy {
	size_t size;         /* sizeof(struct iovirt_sg_policy) */
	uint32_t max_segs;   /* guest segments per descriptor; 0: IOVIRT_SG_DEFAULT_MAX_SEGS */
	uint32_t flags;      /* IOVIRT_POLICY_* */
	uint64_t max_total;  /* total bytes; 0: no limit (virtio: at most 2^32 - 1 anyway) */
	uint64_t addr_align; /* each segment's gpa a multiple of this (power of two; 0 or 1: any) */
	uint64_t len_align;  /* each segment's len a multiple of this (power of two; 0 or 1: any) */
};
/* Version 1: every field above (host.h: versioned structs). */
#define IOVIRT_SG_POLICY_SIZE_V1 IOVIRT_PARAMS_SIZE_TO(struct iovirt_sg_policy, len_align)
#define IOVIRT_SG_DEFAULT_MAX_SEGS 1024u

/* One entry of the host scatter-gather list. */
struct iovirt_host_seg {
	void *hva;        /* host CPU address, or NULL when the region has none */
	uint64_t hpa;     /* host physical address, or IOVIRT_HPA_NONE */
	uint64_t gpa;     /* guest address of the first byte */
	uint64_t len;
	uint32_t dir;     /* the guest segment's direction */
	uint32_t exposed; /* bytes of other data sharing this entry's first and last
	                   * 4 KiB page (what a page-granular IOMMU also exposes) */
};

/* Where a virtio refusal was found. */
enum iovirt_where {
	IOVIRT_WHERE_NONE = 0,
	IOVIRT_WHERE_LIST = 1,     /* generic segment list */
	IOVIRT_WHERE_RING = 2,     /* available ring */
	IOVIRT_WHERE_TABLE = 3,    /* descriptor table */
	IOVIRT_WHERE_INDIRECT = 4, /* an indirect table */
};

/* What a validation did, or why it refused. */
struct iovirt_dma_result {
	int err;              /* 0 or the refusal (also the return value) */
	uint32_t seg;         /* refused: index of the guest segment (chain position for virtio) */
	uint64_t gpa;         /* refused: the guest address concerned (for ECROSS and
	                       * ENOREGION past a region: the first byte outside it) */
	uint32_t where;       /* enum iovirt_where */
	uint32_t desc;        /* virtio refused: descriptor index (in its table) */
	uint32_t nsegs;       /* guest segments accepted */
	uint32_t nout;        /* host entries written */
	uint64_t total;       /* bytes of all segments */
	uint64_t read_bytes;  /* bytes the device may read */
	uint64_t write_bytes; /* bytes the device may write */
	uint64_t exposed;     /* sum of the entries' exposed bytes */
	uint32_t head;        /* virtio: the chain's head */
	uint32_t reserved;
};

/*
 * Checks segs[0 .. nsegs) against the map's current snapshot and writes the
 * host list to out[0 .. out_cap). Segments follow in order; adjacent entries
 * of one region and direction whose host memory continues are merged; an
 * entry never spans two regions; a region given by page_hpa is split only
 * where its pages are not physically contiguous. A segment may run across
 * adjacent regions (a guest's RAM that the host keeps in several regions):
 * each piece is checked against its own region (kind, owner, permission, in
 * address order; a refusal's res->gpa is the piece's first byte) and gets its
 * own host entries; the segment still counts once for max_segs and its
 * alignment and total are the segment's. IOVIRT_POLICY_STRICT_REGIONS refuses
 * such a segment with IOVIRT_ECROSS instead. pol may be NULL (defaults); res
 * may be NULL.
 * Returns: the number of host entries (> 0 when nsegs > 0).
 * Errors (res->seg and res->gpa say which segment and where):
 *   IOVIRT_EINVAL    bad arguments or policy; a segment's dir 0 or unknown bits
 *   IOVIRT_ETOOMANY  nsegs above the policy's max_segs, or the host list needs
 *                    more than out_cap entries
 *   IOVIRT_EZEROLEN  a segment of length 0
 *   IOVIRT_EALIGN    gpa or len not aligned as the policy asks
 *   IOVIRT_EOVERFLOW gpa + len wraps past 2^64
 *   IOVIRT_ETOOBIG   the total length passes max_total
 *   IOVIRT_ENOREGION a byte lies outside every region
 *   IOVIRT_ECROSS    (IOVIRT_POLICY_STRICT_REGIONS) the segment runs from one
 *                    region into the next
 *   IOVIRT_ERESERVED the target is a RESERVED region
 *   IOVIRT_EMMIO     the target is MMIO (and the policy does not allow it, or
 *                    the region has no host address)
 *   IOVIRT_EP2P      the target is SHARED and the policy does not allow it
 *   IOVIRT_EFOREIGN  the region belongs to another guest (and is not SHARED)
 *   IOVIRT_EREADONLY a device write into ROM or a region without IOVIRT_DEV_WRITE
 *   IOVIRT_EPERM     a device read of a region without IOVIRT_DEV_READ
 * On failure: out may hold partial entries; nothing else changed.
 * Threads: lock-free; no allocation.
 * Host callbacks: none.
 */
int iovirt_sg_validate(const struct iovirt_gmap *map, const struct iovirt_sg_policy *pol,
		       const struct iovirt_seg *segs, uint32_t nsegs,
		       struct iovirt_host_seg *out, uint32_t out_cap,
		       struct iovirt_dma_result *res);

/*
 * The same for a list of nsegs IOVIRT_SG_WIRE_SIZE-byte entries at list_gpa in
 * the map's guest memory, read once through host->guest_read (in pieces of a
 * few entries, each byte once). nsegs is bounded by the policy before any read.
 * Before the first read the list's own bytes [list_gpa, list_gpa + 16 * nsegs)
 * are checked against the same snapshot, as an indirect table is: inside one
 * region the device may read, of the map's guest (SHARED only as the policy
 * allows P2P), never MMIO (whatever the policy: reading device registers can
 * have side effects) nor RESERVED; the policy's alignment does not apply to
 * the list. A list refused there is not read at all (res->seg 0, res->gpa the
 * address concerned). An empty list is neither checked nor read.
 * Returns: as iovirt_sg_validate.
 * Errors, in this order: IOVIRT_EINVAL (bad arguments or policy),
 * IOVIRT_ENOSYS (no guest_read), IOVIRT_ETOOMANY (nsegs above max_segs),
 * IOVIRT_EOVERFLOW (the list's own last byte lies past 2^64 - 1; a list ending
 * exactly there is accepted); the list's placement: IOVIRT_ENOREGION,
 * IOVIRT_ECROSS, IOVIRT_ERESERVED, IOVIRT_EMMIO, IOVIRT_EP2P, IOVIRT_EFOREIGN,
 * IOVIRT_EPERM (the region is not device-readable); then IOVIRT_EGUEST (the
 * read failed), IOVIRT_EINVAL (an entry's reserved field is not zero) and the
 * segments' refusals as iovirt_sg_validate.
 * On failure: as iovirt_sg_validate.
 * Threads: as iovirt_sg_validate.
 * Host callbacks: guest_read.
 */
int iovirt_sg_validate_guest(const struct iovirt_gmap *map,
			     const struct iovirt_host_ops *host_ops, void *host,
			     const struct iovirt_sg_policy *pol, uint64_t list_gpa,
			     uint32_t nsegs, struct iovirt_host_seg *out, uint32_t out_cap,
			     struct iovirt_dma_result *res);

/* ------------------------------------------------------------------------ */
/* virtio split virtqueue (virtio 1.x, "Split Virtqueues")                    */
/* ------------------------------------------------------------------------ */

#define IOVIRT_VQ_MAX_SIZE 32768u
#define IOVIRT_VQ_F_INDIRECT 1u  /* VIRTIO_F_INDIRECT_DESC was negotiated */
#define IOVIRT_VQ_F_EVENT_IDX 2u /* VIRTIO_F_EVENT_IDX was negotiated */
#define IOVIRT_VQ_F_IN_ORDER 4u  /* VIRTIO_F_IN_ORDER was negotiated */
/* Read and write the rings through their regions' host addresses (needs a
 * map; rings in regions without one, or across regions, keep the callbacks);
 * see iovirt_vq_create. */
#define IOVIRT_VQ_F_DIRECT 8u
/* VIRTIO_F_RING_PACKED: desc_gpa is the descriptor ring (16-byte aligned),
 * avail_gpa the driver event suppression structure and used_gpa the
 * device's (each 4-byte aligned); num any value 1 .. 32768. */
#define IOVIRT_VQ_F_PACKED 16u
/* VIRTIO_F_ACCESS_PLATFORM: ring and buffer addresses are I/O virtual
 * addresses translated through params->iommu's space params->asid. */
#define IOVIRT_VQ_F_ACCESS_PLATFORM 32u
#define IOVIRT_VQ_F_ALL 63u

/* Packed descriptor flags and event suppression, as in the specification. */
#define IOVIRT_VIRTQ_DESC_F_AVAIL (1u << 7)
#define IOVIRT_VIRTQ_DESC_F_USED (1u << 15)
#define IOVIRT_RING_EVENT_FLAGS_ENABLE 0u
#define IOVIRT_RING_EVENT_FLAGS_DISABLE 1u
#define IOVIRT_RING_EVENT_FLAGS_DESC 2u
#define IOVIRT_VQ_PACKED_EVENT_BYTES 4u

/* Ring flags, as in the specification. */
#define IOVIRT_VRING_USED_F_NO_NOTIFY 1u     /* used->flags: driver, do not kick */
#define IOVIRT_VRING_AVAIL_F_NO_INTERRUPT 1u /* avail->flags: device, do not interrupt */

/* The specification's event-index rule: true when an index moving from old
 * to new_idx (free-running, 16 bits) passes event, i.e. event is in
 * [old, new_idx). */
static inline int iovirt_vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/* Descriptor flags, as in the specification. */
#define IOVIRT_VIRTQ_DESC_F_NEXT 1u
#define IOVIRT_VIRTQ_DESC_F_WRITE 2u
#define IOVIRT_VIRTQ_DESC_F_INDIRECT 4u

struct iovirt_vq_params {
	size_t size;           /* sizeof(struct iovirt_vq_params) */
	uint32_t guest;        /* whose memory holds the queue */
	uint32_t num;          /* queue size: a power of two, 1 .. 32768 */
	uint32_t flags;        /* IOVIRT_VQ_F_* */
	uint32_t max_indirect; /* entries of one indirect table; 0: num */
	uint64_t desc_gpa;     /* descriptor table, 16-byte aligned */
	uint64_t avail_gpa;    /* available ring, 2-byte aligned */
	uint64_t used_gpa;     /* used ring, 4-byte aligned */
	/* Appended; read only when size covers both (an older, smaller size
	 * means no map: the rings are not checked, as before). */
	struct iovirt_gmap *map; /* the guest's map: the rings are checked against
	                          * it and their regions held; NULL: no check */
	const struct iovirt_sg_policy *pol; /* with map: only its flags count
	                                     * (ALLOW_MMIO, ALLOW_P2P, STRICT_REGIONS);
	                                     * NULL: none */
	/* Appended (issue 15); read only when size covers asid. With
	 * IOVIRT_VQ_F_ACCESS_PLATFORM: the device's IOTLB and address space. */
	const struct iovirt_iommu *iommu;
	uint32_t asid;
	uint32_t reserved; /* 0 */
};
struct iovirt_iommu;
/* The size of iovirt_vq_params before map and pol were appended. */
#define IOVIRT_VQ_PARAMS_SIZE_V1 IOVIRT_PARAMS_SIZE_TO(struct iovirt_vq_params, used_gpa)

/* Bytes of each ring for a queue of num entries (the spec's layout, with the
 * used_event / avail_event words). */
#define IOVIRT_VQ_DESC_BYTES(num) (16 * (uint64_t)(num))
#define IOVIRT_VQ_AVAIL_BYTES(num) (6 + 2 * (uint64_t)(num))
#define IOVIRT_VQ_USED_BYTES(num) (6 + 8 * (uint64_t)(num))

struct iovirt_vq;

/*
 * Creates a queue's device-side state (its cursors and the private buffers
 * that hold snapshots). host_ops needs mem_alloc, mem_free, guest_read and
 * guest_write. One thread at a time may use a queue.
 *
 * With params->map, the rings are checked as iovirt_sg_validate checks a
 * segment (against the map's current snapshot, under pol's flags): the
 * descriptor table (IOVIRT_VQ_DESC_BYTES) and the available ring
 * (IOVIRT_VQ_AVAIL_BYTES) as device reads, the used ring (IOVIRT_VQ_USED_BYTES)
 * as a device write. A ring may run across adjacent regions (at most 4), each
 * piece checked against its own region, unless pol has
 * IOVIRT_POLICY_STRICT_REGIONS (then each ring lies inside one region). The
 * regions are then held (iovirt_gmap_region_get, one hold per ring and
 * region) until iovirt_vq_destroy, so they
 * cannot be removed or shrunk (IOVIRT_EBUSY) while the queue exists; destroy
 * the queue before the map (iovirt_gmap_destroy refuses while held). A driver
 * that moves its rings resets the queue first (virtio): destroy the queue and
 * create it again at the new addresses. Without a map nothing ties the rings
 * to the guest's memory map: guest_read/guest_write alone decide.
 *
 * Flags: IOVIRT_VQ_F_INDIRECT, _EVENT_IDX, _IN_ORDER as negotiated;
 * IOVIRT_VQ_F_PACKED for the packed layout (desc_gpa: the descriptor ring,
 * 16-byte aligned, IOVIRT_VQ_DESC_BYTES(num), checked as a device read and
 * write since used descriptors go back into it; avail_gpa and used_gpa: the
 * driver's and the device's event suppression structures,
 * IOVIRT_VQ_PACKED_EVENT_BYTES each, 4-byte aligned; num any value 1 ..
 * 32768; both wrap counters start at 1: the cursors read 0x8000);
 * IOVIRT_VQ_F_DIRECT (needs a map): each ring whose region has a host
 * address is read and written through it, each field once with one atomic
 * load or store (relaxed; the fences are the ones named per call), with no
 * guest_read/guest_write call; indirect tables in such regions are copied
 * from it once (a table across regions piece by piece, each from its own
 * region); rings in regions without one, and rings across regions (they have
 * no one host address), keep the callbacks. The regions are held for the
 * queue's life, so the addresses stay valid. Through the callbacks no access
 * crosses a region boundary: a split used element (8 bytes, 4-byte aligned)
 * over a page boundary of a used ring across regions is written as its two
 * fields. A split queue without IOVIRT_VQ_F_ACCESS_PLATFORM whose descriptor
 * table and available ring are both read directly pops on a shorter path
 * (and push_used with a direct used ring completes on one): the same checks
 * in the same order, the same results, refusals and host lists as through
 * the callbacks, each field read once, and a chain it does not handle itself
 * (indirect, a buffer not wholly in one RAM region of the guest, any refusal)
 * goes on in the general walk from where it stopped, reading nothing twice.
 * The same holds for a packed queue without IOVIRT_VQ_F_ACCESS_PLATFORM whose
 * descriptor ring is read directly (pop and push_used).
 *
 * Returns: 0 and *out.
 * Errors: IOVIRT_EINVAL (num not a power of two (split) or out of range,
 * max_indirect above 32768, bad size, unknown flags, IOVIRT_VQ_F_DIRECT
 * without a map, IOVIRT_VQ_F_ACCESS_PLATFORM without iommu (or a size not
 * covering asid, or reserved set), a bad pol, map of another guest than
 * params->guest), with IOVIRT_VQ_F_ACCESS_PLATFORM IOVIRT_EIOFAULT (a ring not
 * translated) and IOVIRT_ECROSS (a ring not guest-physically contiguous),
 * IOVIRT_EALIGN (a ring misaligned), IOVIRT_EOVERFLOW (a ring's
 * last byte lies past 2^64 - 1; one ending exactly there is accepted), IOVIRT_ENOSYS; with a map, checked in the order descriptor
 * table, available ring, used ring, each piece by piece: IOVIRT_ENOREGION,
 * IOVIRT_ECROSS (pol has IOVIRT_POLICY_STRICT_REGIONS), IOVIRT_ETOOMANY (a
 * ring across more than 4 regions), IOVIRT_ERESERVED, IOVIRT_EMMIO, IOVIRT_EP2P,
 * IOVIRT_EFOREIGN,
 * IOVIRT_EREADONLY (used ring, or a packed descriptor ring, in ROM or
 * without IOVIRT_DEV_WRITE), IOVIRT_EPERM
 * (table or available ring without IOVIRT_DEV_READ), and IOVIRT_EBUSY (a
 * ring's region is being removed or shrunk at this moment), IOVIRT_ELIMIT
 * (the region has 2^31 - 1 holders); then IOVIRT_ENOMEM.
 * On failure: *out untouched, nothing allocated and no hold left.
 * Threads: lock-free against the map's writers, as iovirt_gmap_region_get; a
 * create with a map is a reader of the map for iovirt_gmap_reclaim's grace
 * period.
 * Host callbacks: mem_alloc (mem_free on failure).
 */
int iovirt_vq_create(const struct iovirt_host_ops *host_ops, void *host,
		     const struct iovirt_vq_params *params, struct iovirt_vq **out);
/*
 * Frees the queue and drops its holds on the map's regions (if it has a map).
 * Cannot fail.
 * Threads: no other call on the queue may run or follow.
 * Host callbacks: mem_free.
 */
void iovirt_vq_destroy(struct iovirt_vq *vq);

/*
 * Reads the available ring's idx (once) and returns how many heads the driver
 * has made available beyond the device's cursor (16-bit wrap-around handled).
 * The read is followed by an acquire fence (virtio's read barrier after
 * reading avail->idx): every ring entry and descriptor read later, by this
 * or the following pops, is read after the idx that published it, whatever
 * the host's guest_read is.
 * Returns: that count (0 .. num; the bound on chains in flight is pop's and
 * skip's).
 * Errors: IOVIRT_EGUEST; IOVIRT_EINDEX (the driver claims more than num,
 * which a correct driver never does).
 * On failure: nothing changed.
 * Threads: the queue's one thread.
 * Host callbacks: guest_read (without direct access to the available ring).
 */
int iovirt_vq_avail(struct iovirt_vq *vq);

/*
 * Chains in flight: taken off the available ring (by pop or skip) and not yet
 * completed (push_used); their count is (uint16_t)(last_avail - used_idx) of
 * the cursors below. The specification allows at most num buffers
 * outstanding, so at most num chains are ever in flight: a driver that posts
 * heads the device still holds (CVE-2016-5403) is refused, not followed.
 */

/*
 * Takes the next available chain: reads idx when the last read showed no more
 * heads (also on a fresh queue and after set_cursors), checks the bound on
 * chains in flight, reads the ring entry once, walks the chain as
 * iovirt_vq_walk. On success the cursor advances, the chain is in flight and
 * res->head names it.
 * After IOVIRT_EOVERRUN or IOVIRT_EINDEX at IOVIRT_WHERE_RING the driver
 * broke the ring's rules: the device should treat the queue as broken, stop
 * taking chains from it and ask for a reset (virtio "Device Status Field":
 * set DEVICE_NEEDS_RESET and, when DRIVER_OK is set, send a configuration
 * change notification). The library keeps no such state: further pops are
 * refused the same way while the cause lasts (for IOVIRT_EOVERRUN, until
 * completions bring the count below num). After a refusal of the chain
 * itself (res->where TABLE or INDIRECT), the device may drop it:
 * iovirt_vq_skip, then iovirt_vq_push_used(res->head, 0) to return it to the
 * driver (in that order: the chain is in flight from the skip to the push).
 * Returns: the number of host entries (> 0); 0 when no chain is available
 * (also with num chains in flight).
 * Errors, in this order: those of iovirt_vq_avail; IOVIRT_EOVERRUN (a chain
 * is available but num chains are already in flight: the driver posted more
 * buffers than the queue holds; res->where = IOVIRT_WHERE_RING); IOVIRT_EGUEST (the ring entry
 * is unreadable); IOVIRT_EINDEX for a head >= num (res->where =
 * IOVIRT_WHERE_RING); then those of iovirt_vq_walk; for packed queues also
 * those below.
 * On failure: no cursor moves and nothing is written to the guest (out may
 * hold partial entries; an IOVIRT_EIOFAULT is kept for iovirt_vq_last_fault).
 * Threads: the queue's one thread; lock-free against the map's writers.
 * Host callbacks: guest_read (without direct access to the rings and tables
 * read).
 *
 * Packed queues (IOVIRT_VQ_F_PACKED): pop takes the chain at the device's
 * ring position when its head is available under the driver's wrap counter
 * (its flags read once, then an acquire fence, then the rest of each
 * descriptor read once); 0 when it is not. The chain follows VIRTQ_DESC_F_NEXT
 * through consecutive ring positions (wrapping, the counter flipping); an
 * indirect descriptor (no NEXT) names a table of len / 16 descriptors read in
 * order (NEXT is not used inside). res->head is the buffer ID (from the
 * chain's last descriptor), res->desc a ring position (or table index).
 * Refusals besides those of split rings, with res->where:
 *   IOVIRT_EWRAP     a chained descriptor not available under the wrap
 *                    counter (TABLE)
 *   IOVIRT_ECHAIN    a chain longer than the ring (TABLE)
 *   IOVIRT_EINDEX    a buffer ID >= num (RING)
 *   IOVIRT_EDUP      a buffer ID already in flight (RING)
 *   IOVIRT_EOVERRUN  the chain's descriptors and those in flight exceed num (RING)
 * After a refusal of the buffers (where TABLE or INDIRECT) of a chain whose
 * shape is sound, res->head still names its ID: iovirt_vq_skip (which returns
 * the ID for a packed queue) then iovirt_vq_push_used(id, 0) drops it.
 * IOVIRT_EWRAP, ECHAIN, EINDEX, EDUP and EOVERRUN mean a broken driver (ask
 * for a reset, as for IOVIRT_WHERE_RING refusals above).
 */
int iovirt_vq_pop(struct iovirt_vq *vq, const struct iovirt_gmap *map,
		  const struct iovirt_sg_policy *pol, struct iovirt_host_seg *out,
		  uint32_t out_cap, struct iovirt_dma_result *res);

/*
 * Takes up to max_chains available chains at once, as DPDK-style and
 * vhost-user-net backends dequeue: the same chains, host entries, results and
 * cursors as that many iovirt_vq_pop calls in a row, with pop's per-call work
 * (argument and policy checks, the idx read with its acquire fence, the map
 * snapshot, the in-flight bound) done once per burst. Chain k's result is
 * res[k] (its head, nout, ...); its host entries follow the previous chains'
 * in out (chain k's start at the sum of res[0 .. k).nout).
 * Which chains: idx is read (once) only when the heads read last time are all
 * taken, as pop reads it; a burst takes at most the chains that read showed
 * (so after a burst that left some, the next takes those before reading idx
 * again: call until it returns 0), at most num minus the chains in flight, at
 * most max_chains. All chains of a burst are checked against one snapshot of
 * the map (the one current when the burst begins), as if they were popped
 * at that instant.
 * Where it stops: before the first chain that pop would refuse (the ring
 * entry's head, the walk, the in-flight bound) or whose host entries do not
 * fit in what is left of out; that chain stays available (no cursor moves for
 * it, nothing of it is kept) and the next burst or pop decides it from
 * scratch, refusing it as pop does. Only a refusal of the first chain is
 * returned: exactly as iovirt_vq_pop returns it, with res[0] as pop fills it.
 * Returns: the number of chains taken (1 .. max_chains); 0 when none is
 * available (res[0] zeroed), also for max_chains 0 (nothing read or written).
 * Errors: IOVIRT_EINVAL (NULL vq, map, out or res; a bad policy; res[0]
 * filled when res is not NULL); then those of iovirt_vq_pop for the first
 * chain, in its order.
 * On failure: as iovirt_vq_pop (no cursor moves, nothing written to the
 * guest). On success: the cursor advanced by the chains taken; out past their
 * entries and res[count] (count < max_chains) may have been written (the
 * chain it stopped before), and are to be ignored.
 * Threads: the queue's one thread; lock-free against the map's writers (a
 * reader of the map for iovirt_gmap_reclaim's grace period for the whole call).
 * Host callbacks: those of iovirt_vq_pop, per chain.
 * Pair it with iovirt_vq_push_used_batch (one used idx store per batch).
 * Fast for a split queue with direct access (IOVIRT_VQ_F_DIRECT, no IOMMU);
 * any other queue gets the same results pop after pop.
 */
int iovirt_vq_pop_burst(struct iovirt_vq *vq, const struct iovirt_gmap *map,
			const struct iovirt_sg_policy *pol, struct iovirt_host_seg *out,
			uint32_t out_cap, struct iovirt_dma_result *res, uint32_t max_chains);

/*
 * Takes the next available chain without reading it: the cursor advances and
 * the chain is in flight until completed with iovirt_vq_push_used. Reads idx
 * (once, with the same acquire fence) when the last read showed no more heads,
 * also on a fresh queue and after set_cursors. Packed queues: reads the
 * chain's flags and its last descriptor's ID (not its buffers).
 * Returns: 0; for a packed queue the buffer ID (>= 0).
 * Errors: IOVIRT_ENOENT (no chain available); IOVIRT_EGUEST, IOVIRT_EINDEX
 * (as iovirt_vq_avail); IOVIRT_EOVERRUN (num chains already in flight);
 * packed queues also IOVIRT_EWRAP, IOVIRT_ECHAIN, IOVIRT_EINDIRECT (an
 * indirect descriptor with NEXT), IOVIRT_EINDEX, IOVIRT_EDUP,
 * IOVIRT_EOVERRUN as for pop.
 * On failure: nothing changed.
 * Threads: the queue's one thread.
 * Host callbacks: guest_read (without direct access to the rings).
 */
int iovirt_vq_skip(struct iovirt_vq *vq);

/*
 * Walks the chain at head: each descriptor and each indirect table is read
 * once; the segments are validated as iovirt_sg_validate (IOVIRT_EINVAL for
 * a packed queue: its chains have no head index to name). walk reads no ring
 * index: a host that takes heads from the available ring itself orders those
 * reads itself (iovirt_vq_avail's fence). An indirect table
 * is not a buffer: it is checked for its placement only, before it is read
 * (in regions the device may read, of the map's guest or SHARED as the
 * policy allows P2P, never MMIO whatever the policy, never RESERVED; across
 * adjacent regions each piece against its own, unless the policy is
 * IOVIRT_POLICY_STRICT_REGIONS: IOVIRT_ENOREGION, IOVIRT_ECROSS (strict),
 * IOVIRT_EMMIO, IOVIRT_ERESERVED, IOVIRT_EP2P, IOVIRT_EFOREIGN, IOVIRT_EPERM,
 * with res->where = IOVIRT_WHERE_TABLE naming the descriptor that points to
 * it and res->gpa the first byte of the piece refused), then read piece by
 * piece (one guest_read, or one copy, per region; each byte once), and its own
 * format (below); the policy's alignment and limits apply to the buffers it
 * lists, not to the table.
 * Returns: the number of host entries (> 0).
 * Errors, with res->desc and res->where naming the descriptor:
 *   IOVIRT_EINDEX    head or a next index >= num (or >= the indirect table's entries)
 *   IOVIRT_ELOOP     a next index names a descriptor already in the chain
 *   IOVIRT_ECHAIN    more than num descriptors (indirect entries counted)
 *   IOVIRT_ENESTED   an indirect table entry has VIRTQ_DESC_F_INDIRECT
 *   IOVIRT_EINDIRECT an indirect descriptor without the negotiated feature, with
 *                    VIRTQ_DESC_F_NEXT, or a table length of 0, not a multiple
 *                    of 16, or above max_indirect entries
 *   IOVIRT_EORDER    a device-readable descriptor after a device-writable one
 *   IOVIRT_EGUEST    a guest_read failed
 *   and the iovirt_sg_validate refusals (a virtio total above 2^32 - 1 is ETOOBIG).
 * On failure: out may hold partial entries; no cursor moves.
 * Threads: the queue's one thread; lock-free against the map's writers.
 * Host callbacks: guest_read (without direct access to the table and
 * indirect tables).
 */
int iovirt_vq_walk(struct iovirt_vq *vq, const struct iovirt_gmap *map,
		   const struct iovirt_sg_policy *pol, uint32_t head,
		   struct iovirt_host_seg *out, uint32_t out_cap,
		   struct iovirt_dma_result *res);

/*
 * Completes a chain in flight: writes used ring element {id, len} at the
 * device's used index, a release fence (virtio's write barrier: the element
 * is visible before the index that publishes it), then the incremented used
 * idx (two guest_write calls, in that order).
 * Packed queues: id is a buffer ID in flight (else IOVIRT_ENOENT; with
 * IOVIRT_VQ_F_IN_ORDER the oldest one); writes len and id at the device's
 * used position, a release fence, then the flags (AVAIL and USED equal to the
 * used wrap counter, VIRTQ_DESC_F_WRITE when len > 0); the position advances
 * by the chain's descriptors.
 * Returns: 0.
 * Errors: IOVIRT_EINDEX (id >= num); IOVIRT_ENOENT (no chain in flight:
 * completions never outnumber the chains taken); IOVIRT_EGUEST.
 * On failure: the cursor does not advance; refusals write nothing; after
 * IOVIRT_EGUEST the element may have been written.
 * Threads: the queue's one thread.
 * Host callbacks: guest_write (twice; three times when the element of a used
 * ring across regions lies over a page boundary) unless the used ring is
 * accessed directly.
 */
int iovirt_vq_push_used(struct iovirt_vq *vq, uint32_t id, uint32_t len);

/* One completion: the chain's head and the bytes the device wrote into it. */
struct iovirt_vq_used {
	uint32_t id;
	uint32_t len;
};

/*
 * Completes n chains in flight at once: writes the n used elements at the
 * device's used index onward (wrapping in the ring), then a release fence,
 * then the used idx advanced by n (one index write for the batch: the driver
 * sees the batch whole or not at all).
 * Packed queues: the IDs must be in flight and distinct (IOVIRT_ENOENT; with
 * IOVIRT_VQ_F_IN_ORDER the oldest, in order); used descriptors go in order
 * from the device's used position, each advancing by its chain's
 * descriptors; every element but the first is written whole, then the first
 * one's id and len, a release fence, and its flags last: the driver, which
 * reads from that position, sees the whole batch at once.
 * Returns: 0 (also for n == 0: nothing written).
 * Errors: IOVIRT_EINVAL (NULL vq, NULL e with n > 0, n > num); IOVIRT_EINDEX
 * (an id >= num); IOVIRT_ENOENT (n above the chains in flight);
 * IOVIRT_EGUEST (a guest write failed).
 * On failure: refusals write nothing; after IOVIRT_EGUEST some elements may
 * be written but used idx is not (the cursor does not move), so the driver
 * sees none of them (packed: the first flags may be unwritten and the cursor
 * has not moved).
 * Threads: the queue's one thread.
 * Host callbacks: guest_write (per element and for idx) unless the used ring
 * is accessed directly (IOVIRT_VQ_F_DIRECT).
 */
int iovirt_vq_push_used_batch(struct iovirt_vq *vq, const struct iovirt_vq_used *e, uint32_t n);

/*
 * With IOVIRT_VQ_F_IN_ORDER: completes the next count chains in flight,
 * which the device used in the order they were made available, with one used
 * element (virtio, in-order split rings): {id, len} of the batch's last
 * buffer written at the device's used index, a release fence, then used idx
 * advanced by count.
 * Packed queues: id must be the count-th oldest buffer in flight
 * (IOVIRT_ENOENT otherwise); one used descriptor at the used position; the
 * position advances by the descriptors of all count chains.
 * Returns: 0.
 * Errors: IOVIRT_EINVAL (NULL vq, the queue made without
 * IOVIRT_VQ_F_IN_ORDER, count 0); IOVIRT_EINDEX (id >= num); IOVIRT_ENOENT
 * (count above the chains in flight); IOVIRT_EGUEST.
 * On failure: as iovirt_vq_push_used_batch.
 * Threads: the queue's one thread.
 * Host callbacks: guest_write (twice; three times when the element of a used
 * ring across regions lies over a page boundary) unless the used ring is
 * accessed directly.
 */
int iovirt_vq_push_used_in_order(struct iovirt_vq *vq, uint32_t id, uint32_t len,
				 uint32_t count);

/*
 * Notification suppression. Without IOVIRT_VQ_F_EVENT_IDX the device sets
 * and clears VRING_USED_F_NO_NOTIFY in used->flags and reads avail->flags'
 * VRING_AVAIL_F_NO_INTERRUPT; with it, the device writes avail_event (after
 * the used ring) and reads used_event (after the available ring). Each field
 * is read once per call and decided on from that copy. Packed queues use the
 * event suppression structures instead: the device's flags (ENABLE, DISABLE,
 * or DESC with off_wrap = the device's ring position and wrap counter, with
 * event index) and the driver's, read as one 4-byte access (DISABLE: no
 * signal; DESC with event index: signal when the used position moved across
 * the driver's off_wrap since the previous decision, positions of the
 * previous lap counted below 0; ENABLE, DESC without event index and reserved
 * values: signal). notify_enable then returns 1 when the next descriptor is
 * available, else 0.
 */

/*
 * Asks the driver not to kick (while the device polls): without event index,
 * writes used->flags = VRING_USED_F_NO_NOTIFY; with it, writes nothing
 * (avail_event stays where the last enable put it, so the driver kicks at
 * most once more). A hint: a driver may kick anyway.
 * Returns: 0.
 * Errors: IOVIRT_EGUEST.
 * On failure: the flag may not be set; nothing else changed.
 * Threads: the queue's one thread.
 * Host callbacks: guest_write (without direct access to the used ring).
 */
int iovirt_vq_notify_disable(struct iovirt_vq *vq);

/*
 * Asks the driver to kick again and re-checks the ring: writes used->flags =
 * 0 (without event index) or avail_event = the device's next ring position
 * (with it: the driver kicks when it makes that entry available), then a full
 * barrier (virtio: the store is visible before avail idx is read again), then
 * reads avail idx as iovirt_vq_avail. A chain posted before the driver saw
 * the store is counted here, so none is stranded waiting for a kick.
 * Returns: the chains available (0 .. num; > 0: keep polling, optionally after
 * iovirt_vq_notify_disable).
 * Errors: IOVIRT_EGUEST; IOVIRT_EINDEX (as iovirt_vq_avail).
 * On failure: notifications may be enabled; the cursors are unchanged.
 * Threads: the queue's one thread.
 * Host callbacks: guest_write, guest_read (each without direct access).
 */
int iovirt_vq_notify_enable(struct iovirt_vq *vq);

/*
 * After completions (push_used*), tells whether to signal the driver: a full
 * barrier (virtio: the used idx store is visible before the driver's field is
 * read), then without event index 1 unless avail->flags has
 * VRING_AVAIL_F_NO_INTERRUPT; with it, iovirt_vring_need_event(used_event,
 * used idx now, used idx at the previous decision), and 1 for the first
 * decision after create or iovirt_vq_set_cursors. Call it once per batch:
 * each call is a decision (it records the used idx it decided on).
 * Returns: 1 (signal) or 0.
 * Errors: IOVIRT_EGUEST.
 * On failure: nothing changed (the previous decision stays the reference).
 * Threads: the queue's one thread.
 * Host callbacks: guest_read (without direct access to the available ring).
 */
int iovirt_vq_need_signal(struct iovirt_vq *vq);

/*
 * A backend's poll loop on lib/irqpoll, one call per step:
 *   on a kick:              iovirt_vq_kicked(vq, ip, now)
 *   then, until IDLE:       take up to iovirt_irqpoll_budget(ip) chains,
 *                           next = iovirt_vq_polled(vq, ip, taken, now)
 * kicked disables notifications and starts a polling stretch
 * (iovirt_irqpoll_irq). polled reports the chains taken
 * (iovirt_irqpoll_polled); when irqpoll says REARM it enables notifications
 * and re-checks the ring (iovirt_vq_notify_enable) and reports what it found
 * (iovirt_irqpoll_recheck), disabling notifications again when polling goes on.
 */
struct iovirt_irqpoll;

/*
 * On a kick: disables notifications, then starts irqpoll's polling stretch.
 * Returns: 0.
 * Errors: IOVIRT_EINVAL (NULL vq or ip); those of iovirt_vq_notify_disable.
 * On failure: the polling stretch is not started.
 * Threads: the queue's one thread (irqpoll's driver side).
 * Host callbacks: those of iovirt_vq_notify_disable.
 */
int iovirt_vq_kicked(struct iovirt_vq *vq, struct iovirt_irqpoll *ip, uint64_t now_ns);

/*
 * After a poll step that took `done` chains: reports it to irqpoll and, at
 * its REARM, enables notifications and re-checks the ring (see above).
 * Returns: IOVIRT_IRQPOLL_AGAIN (poll again: notifications stay off) or
 * IOVIRT_IRQPOLL_IDLE (notifications on and the ring was empty after the
 * barrier: wait for the next kick).
 * Errors: IOVIRT_EINVAL (NULL vq or ip); those of iovirt_vq_notify_enable and
 * iovirt_vq_notify_disable.
 * On failure: the irqpoll is polling again (as after a kick: call polled
 * again); notifications may be on or off.
 * Threads: the queue's one thread (irqpoll's driver side).
 * Host callbacks: those of iovirt_vq_notify_enable and _disable.
 */
int iovirt_vq_polled(struct iovirt_vq *vq, struct iovirt_irqpoll *ip, uint32_t done,
		     uint64_t now_ns);

/*
 * Addresses behind a guest IOMMU (IOVIRT_VQ_F_ACCESS_PLATFORM, with
 * params->iommu and params->asid). At create the three rings' addresses are
 * translated (iovirt_pt_translate: the descriptor ring and available ring
 * for reading, the used ring for writing, a packed descriptor ring for both;
 * each ring must be guest-physically contiguous, IOVIRT_ECROSS otherwise),
 * then checked and held as guest-physical rings (so one may run across
 * adjacent regions, as without an IOMMU). Every buffer address of a
 * chain is translated page by page with the access its descriptor gives
 * (device-readable: IOVIRT_PROT_READ, device-writable: IOVIRT_PROT_WRITE) and
 * split where the translation is not contiguous; each piece is validated as a
 * segment (so counts against max_segs) against the map. An indirect table is
 * translated for reading and must be contiguous (IOVIRT_ECROSS; the range
 * may then run across adjacent regions). A
 * translation that fails (not mapped, or without the permission) is
 * IOVIRT_EIOFAULT from create or pop (res->gpa = the faulting IOVA), and the
 * cursor does not move: the backend can ask its front-end for the missing
 * translation (an IOTLB miss), map it, and pop again.
 */
struct iovirt_vq_fault {
	uint64_t iova;   /* first byte not translated */
	uint64_t len;    /* bytes of the access from iova on */
	uint32_t access; /* IOVIRT_DEV_READ or IOVIRT_DEV_WRITE */
	uint32_t reserved;
};

/*
 * Gives the last translation fault of a pop or skip of this queue.
 * Returns: 0 and fills *out.
 * Errors: IOVIRT_EINVAL (NULL argument, a queue without
 * IOVIRT_VQ_F_ACCESS_PLATFORM); IOVIRT_ENOENT (no fault yet).
 * On failure: *out untouched.
 * Threads: the queue's one thread.
 * Host callbacks: none.
 */
int iovirt_vq_last_fault(const struct iovirt_vq *vq, struct iovirt_vq_fault *out);

/*
 * Tells the queue that the device's IOTLB dropped [iova, iova + size): when
 * that touches a ring, the rings are translated again and, when a map is
 * bound, the new regions checked and held before the old holds are dropped.
 * Returns: 0 (also when no ring is touched).
 * Errors: IOVIRT_EINVAL (NULL vq, a queue without IOVIRT_VQ_F_ACCESS_PLATFORM,
 * size 0, a range past 2^64); IOVIRT_EIOFAULT (a ring is no longer mapped:
 * the queue keeps its old translation, which the backend must not use until
 * it maps the ring again and calls this once more); IOVIRT_ECROSS, IOVIRT_EALIGN and the ring
 * refusals of create.
 * On failure: nothing changed (old addresses and holds).
 * Threads: the queue's one thread; lock-free against the map's writers.
 * Host callbacks: none (the map's region holds).
 */
int iovirt_vq_iotlb_inval(struct iovirt_vq *vq, uint64_t iova, uint64_t size);

/*
 * The device's cursors (for save and restore). set_cursors also restores the
 * count of chains in flight, (uint16_t)(last_avail - used_idx): a saved state
 * with more than num (or with used_idx past last_avail, read modulo 2^16 as
 * far more than num) refuses every take with IOVIRT_EOVERRUN until
 * completions or new cursors bring it to num or below. The next pop or skip
 * reads avail idx again. Packed queues: last_avail and used_idx are the ring
 * position | the wrap counter << 15 (vhost-user's encoding of a packed
 * queue's base); set_cursors also forgets every buffer in flight (IDs are not
 * in the cursors) and reads the ring afresh.
 * Returns: the cursor (getters). Cannot fail.
 * Threads: the queue's one thread.
 * Host callbacks: none.
 */
uint16_t iovirt_vq_last_avail(const struct iovirt_vq *vq);
uint16_t iovirt_vq_used_idx(const struct iovirt_vq *vq);
void iovirt_vq_set_cursors(struct iovirt_vq *vq, uint16_t last_avail, uint16_t used_idx);

/* ------------------------------------------------------------------------ */
/* Bounce pool (the copy approach)                                           */
/* ------------------------------------------------------------------------ */

struct iovirt_bounce_params {
	size_t size;     /* sizeof(struct iovirt_bounce_params) */
	uint32_t nbufs;  /* buffers, 1 .. 2^24 */
	uint32_t reserved;
	size_t buf_size; /* bytes each, 1 .. 2^30; buffers are 64-byte aligned */
};
/* Version 1: every field above (host.h: versioned structs). */
#define IOVIRT_BOUNCE_PARAMS_SIZE_V1 IOVIRT_PARAMS_SIZE_TO(struct iovirt_bounce_params, buf_size)

struct iovirt_bounce;

/*
 * Ids. iovirt_bounce_get hands out an id that names one hold of one buffer:
 * (use << index_bits) | index, non-negative, where index_bits = bits needed
 * for indices 0 .. nbufs - 1 (0 to 24) and use counts that buffer's holds
 * modulo 2^(31 - index_bits), from a start that differs per pool created in
 * the process. An id works from its get until its put; afterwards, and in any
 * other pool (including one created later at the same address), put,
 * copy_in and copy_out refuse it with IOVIRT_ESTALE and data returns NULL,
 * changing nothing. So a late put or copy by a holder that already gave the
 * buffer back (a device model's bug, a completion delivered twice) cannot
 * touch the next holder's buffer.
 * Bound: a stale id is caught unless its buffer was taken again a multiple
 * of 2^(31 - index_bits) times since (2^23 holds for a 256-buffer pool, 2^7
 * for 2^24 buffers); a pool's ids differ from those of the pools created just
 * before it at least for as many holds (per buffer) as the three-distance
 * spacing of docs/validate.md gives (35,911 for 4 buffers, 561 for 256, over
 * 10,000 consecutive pools). A call racing with the put of the same id is the
 * caller's data race: it may act on the buffer's next hold.
 */

/*
 * Creates a pool and allocates every buffer now; nothing is allocated later.
 * Returns: 0 and *out.
 * Errors:
 *   IOVIRT_EINVAL  NULL ops, params or out; params->size below
 *                  IOVIRT_BOUNCE_PARAMS_SIZE_V1; nbufs or buf_size out of range
 *   IOVIRT_ENOSYS  host_ops lacks mem_alloc or mem_free
 *   IOVIRT_ENOMEM  an allocation failed
 * On failure: nothing allocated, *out untouched.
 * Host callbacks: mem_alloc (mem_free on failure).
 */
int iovirt_bounce_create(const struct iovirt_host_ops *host_ops, void *host,
			 const struct iovirt_bounce_params *params,
			 struct iovirt_bounce **out);
/*
 * Frees the pool.
 * Returns: 0.
 * Errors: IOVIRT_EBUSY (a buffer is still taken).
 * On failure: nothing freed.
 * Host callbacks: mem_free.
 */
int iovirt_bounce_destroy(struct iovirt_bounce *pool);

/*
 * Takes a buffer.
 * Returns: its id (>= 0, see "Ids").
 * Errors: IOVIRT_ENOBUF (every buffer is taken).
 * On failure: nothing changed.
 * Threads: O(1), lock-free, never waits or allocates.
 * Host callbacks: none.
 */
int32_t iovirt_bounce_get(struct iovirt_bounce *pool);
/*
 * Gives a buffer back.
 * Returns: 0.
 * Errors:
 *   IOVIRT_EINVAL  id negative, or its index not below nbufs
 *   IOVIRT_ESTALE  id does not name the buffer's current hold: already put,
 *                  from another pool, never handed out (of two puts of one id
 *                  racing, one wins and the other gets ESTALE)
 * On failure: nothing changed.
 * Threads: O(1), lock-free.
 * Host callbacks: none.
 */
int iovirt_bounce_put(struct iovirt_bounce *pool, int32_t id);
/* The buffer's memory (NULL for an id put would refuse) and the pool's buffer
 * size. Cannot fail otherwise; no host callback. */
void *iovirt_bounce_data(const struct iovirt_bounce *pool, int32_t id);
size_t iovirt_bounce_buf_size(const struct iovirt_bounce *pool);

/*
 * Copy in (before the device reads): concatenates the device-readable
 * entries of a validated host list into the buffer, from their host pointers
 * or, without one, through guest_read of the map's guest.
 * Returns: the bytes copied.
 * Errors:
 *   IOVIRT_EINVAL  NULL pool/map/sg, or id as for put
 *   IOVIRT_ESTALE  id as for put
 *   IOVIRT_ETOOBIG more than buf_size
 *   IOVIRT_EGUEST  an entry without a host pointer, and guest_read absent or failing
 * On failure: nothing copied for EINVAL, ESTALE and ETOOBIG; after EGUEST the
 * buffer may hold part of the data. The guest is never written.
 * Host callbacks: guest_read (entries without a host pointer).
 */
int64_t iovirt_bounce_copy_in(struct iovirt_bounce *pool, int32_t id,
			      const struct iovirt_gmap *map,
			      const struct iovirt_host_seg *sg, uint32_t n);

/*
 * Copy out (on completion): writes the buffer's first len bytes over the
 * device-writable entries of sg, in order. Each entry that receives bytes is validated again
 * against the map's current snapshot (as a device write under pol) before any
 * byte is written, and written through the current region's host pointer or
 * guest_write.
 * Returns: the bytes written.
 * Errors:
 *   IOVIRT_EINVAL  NULL pool/map/sg, bad pol, or id as for put
 *   IOVIRT_ESTALE  id as for put
 *   IOVIRT_ETOOBIG len above buf_size or above the writable bytes
 *   the iovirt_sg_validate refusals (res says which entry)
 *   IOVIRT_EGUEST  an entry without a host pointer, and guest_write absent or failing
 * On failure: nothing written, except after EGUEST (the entries before the
 * failing one were written).
 * Host callbacks: guest_write (entries without a host pointer).
 */
int64_t iovirt_bounce_copy_out(struct iovirt_bounce *pool, int32_t id,
			       const struct iovirt_gmap *map,
			       const struct iovirt_sg_policy *pol,
			       const struct iovirt_host_seg *sg, uint32_t n, uint64_t len,
			       struct iovirt_dma_result *res);

#ifdef __cplusplus
}
#endif
#endif
