/* SPDX-License-Identifier: MIT */
/*
 * SR-IOV: one physical function (PF) exposed as many virtual functions (VFs).
 *
 * An iovirt_sriov object emulates the PF's SR-IOV Extended Capability
 * (PCIe capability ID 0x0010, 0x40 bytes), keeps the bookkeeping of every VF
 * (routing ID, BAR addresses, owner guest, bound ASID, counters), holds the
 * RID -> ASID context table that device DMA is translated through, mediates
 * guest accesses to the VFs' registers, and resets VFs in a safe order.
 *
 * Threads and locks:
 *  - iovirt_sriov_rid_lookup and iovirt_sriov_dma_translate take no lock and
 *    may run on any thread at any time between create and destroy, beside
 *    every other call (they read only atomics and lock-free page tables).
 *    That is why create refuses an iommu in IOVIRT_RECLAIM_AFTER_INVAL mode:
 *    there a VF reset would free table pages under a translation that passed
 *    the context check just before. In deferred mode a dma_translate counts
 *    as a translate for iovirt_pt_reclaim: reclaim only when none that began
 *    before the reclaim is still running.
 *  - Every other call on one object (config accesses, mmio, bind, reset,
 *    save/restore, info) must be serialized by the caller: they are the
 *    "device model" side, which a hypervisor runs under one device lock.
 *
 * Host callbacks used: mem_alloc/mem_free (create/destroy only), iotlb_inval
 * (VF reset), reg_read/reg_write (mediation and VF reset), devtlb_inval (VF
 * reset and, through lib/pagetable, every invalidation of an ATS-enabled
 * VF's space: iovirt_sriov_create_fn with IOVIRT_SRIOV_FN_ATS). The DMA quiesce
 * and report hooks in the params are called from the serialized side only.
 *
 * Memory: everything is allocated at create; no later call allocates, so no
 * config write, bind or reset can fail for lack of memory.
 *
 * Each function's contract reads in one order: what it does; Returns; Errors;
 * On failure; Threads (when other than the rules above: the serialized
 * device-model side); Host callbacks (when the call uses any).
 */
#ifndef IOVIRT_SRIOV_H
#define IOVIRT_SRIOV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iovirt/error.h"
#include "iovirt/host.h"
#include "iovirt/pagetable.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the capability, as the PCIe specification lays it out ---- */

#define IOVIRT_SRIOV_CAP_ID 0x0010
#define IOVIRT_SRIOV_CAP_VERSION 1
#define IOVIRT_SRIOV_CAP_SIZE 0x40

/* Byte offsets inside the capability. */
#define IOVIRT_SRIOV_HDR 0x00         /* ext. cap header: ID, version, next (RO) */
#define IOVIRT_SRIOV_CAPS 0x04        /* SR-IOV Capabilities (RO) */
#define IOVIRT_SRIOV_CTRL 0x08        /* SR-IOV Control (16 bits) */
#define IOVIRT_SRIOV_STATUS 0x0A      /* SR-IOV Status (16 bits) */
#define IOVIRT_SRIOV_INITIAL_VFS 0x0C /* RO */
#define IOVIRT_SRIOV_TOTAL_VFS 0x0E   /* RO */
#define IOVIRT_SRIOV_NUM_VFS 0x10     /* RW while VF Enable is clear */
#define IOVIRT_SRIOV_FDL 0x12         /* Function Dependency Link (RO, 8 bits) */
#define IOVIRT_SRIOV_VF_OFFSET 0x14   /* First VF Offset (RO, follows ARI) */
#define IOVIRT_SRIOV_VF_STRIDE 0x16   /* VF Stride (RO, follows ARI) */
#define IOVIRT_SRIOV_VF_DID 0x1A      /* VF Device ID (RO) */
#define IOVIRT_SRIOV_SUP_PGSIZE 0x1C  /* Supported Page Sizes (RO) */
#define IOVIRT_SRIOV_SYS_PGSIZE 0x20  /* System Page Size (RW while VF Enable clear) */
#define IOVIRT_SRIOV_VF_BAR0 0x24     /* VF BAR0..5 at 0x24 + 4 * i */
#define IOVIRT_SRIOV_VF_MIGR 0x3C     /* VF Migration State Array Offset (RO) */

/* SR-IOV Control bits. */
#define IOVIRT_SRIOV_CTRL_VFE 0x0001   /* VF Enable */
#define IOVIRT_SRIOV_CTRL_VFM 0x0002   /* VF Migration Enable */
#define IOVIRT_SRIOV_CTRL_VFMIE 0x0004 /* VF Migration Interrupt Enable */
#define IOVIRT_SRIOV_CTRL_MSE 0x0008   /* VF Memory Space Enable */
#define IOVIRT_SRIOV_CTRL_ARI 0x0010   /* ARI Capable Hierarchy */
#define IOVIRT_SRIOV_CTRL_VF10BIT 0x0020 /* VF 10-Bit Tag Requester Enable */

/* SR-IOV Capabilities bits. */
#define IOVIRT_SRIOV_CAPS_VFM 0x00000001     /* VF Migration Capable */
#define IOVIRT_SRIOV_CAPS_ARIP 0x00000002    /* ARI Capable Hierarchy Preserved */
#define IOVIRT_SRIOV_CAPS_VF10BIT 0x00000004 /* VF 10-Bit Tag Requester Supported */

/* Supported Page Sizes every PF must offer: 4K, 8K, 64K, 256K, 1M and 4M. */
#define IOVIRT_SRIOV_PGSIZES_REQUIRED 0x553u

#define IOVIRT_SRIOV_NBARS 6
#define IOVIRT_SRIOV_MAX_REGS 4096      /* register map entries */
#define IOVIRT_SRIOV_NO_GUEST UINT32_MAX /* owner of an unassigned VF */

/* One VF BAR as the PF implements it. */
#define IOVIRT_SRIOV_BAR_64 0x1       /* 64-bit BAR: takes this slot and the next */
#define IOVIRT_SRIOV_BAR_PREFETCH 0x2 /* prefetchable */
struct iovirt_sriov_bar {
	uint64_t size;  /* bytes per VF: 0 (absent) or a power of two >= 16; the
	                 * BAR decodes max(size, System Page Size) per VF */
	uint32_t flags; /* IOVIRT_SRIOV_BAR_* */
	uint32_t reserved;
};

/* How guest accesses to a VF register are mediated. */
enum iovirt_sriov_reg_class {
	IOVIRT_SRIOV_REG_GUEST = 1,     /* plain: passed to the device */
	IOVIRT_SRIOV_REG_DMA_ADDR = 2,  /* the guest programs a DMA address (an IOVA of
	                                 * the VF's ASID): checked before the write */
	IOVIRT_SRIOV_REG_SENSITIVE = 3, /* privileged side only: guest reads and
	                                 * writes refused, counted, reported */
};

/* One register of a VF's register window. */
struct iovirt_sriov_reg {
	uint32_t offset;  /* in the VF's window, aligned to width */
	uint8_t width;    /* 1, 2, 4 or 8 (DMA_ADDR: 4 or 8) */
	uint8_t cls;      /* enum iovirt_sriov_reg_class */
	uint8_t access;   /* DMA_ADDR: what the device does there (IOVIRT_PROT_*) */
	uint8_t reserved;
	uint32_t dma_len; /* DMA_ADDR: bytes the device accesses from the address (0 = 1) */
	uint32_t reserved2;
	uint64_t reset;   /* value written at VF reset */
};

/* A register window of the PF or another function that device DMA must not reach. */
struct iovirt_sriov_window {
	uint64_t base, size; /* size 0: unused slot */
};
#define IOVIRT_SRIOV_PF_WINDOWS 6

/* What a report hook is told. */
enum iovirt_sriov_event_kind {
	IOVIRT_SRIOV_EV_SENSITIVE = 1, /* guest access to a sensitive register refused */
	IOVIRT_SRIOV_EV_DMA_ADDR = 2,  /* guest DMA address refused (err says why) */
	IOVIRT_SRIOV_EV_OTHER = 3,     /* access refused for its VF, owner, width, place or
	                                * shape (ENOVF, EOWNER, EINVAL, ERANGE, ERESERVED, EALIGN) */
	IOVIRT_SRIOV_EV_HOST = 4,      /* the host's reg callback failed (EHOST): not the guest's fault */
};
struct iovirt_sriov_event {
	uint32_t kind;  /* enum iovirt_sriov_event_kind */
	uint32_t vf;
	uint32_t guest;
	uint32_t offset;
	uint64_t value; /* what the guest tried to write (0 for reads) */
	uint32_t width;
	int err;        /* the error returned to the caller */
	uint32_t is_write;
	uint32_t reserved;
};

/* Not the lowest PF: ARI Capable Hierarchy is RO 0 here; the VFs follow the
 * lowest PF's bit as told by iovirt_sriov_set_ari_hierarchy. */
#define IOVIRT_SRIOV_ARI_READONLY 0x1

struct iovirt_sriov_params {
	size_t size; /* sizeof(struct iovirt_sriov_params) */

	struct iovirt_iommu *iommu; /* the VFs' address spaces live here (required) */

	uint16_t pf_rid;        /* bus << 8 | devfn of the PF */
	uint8_t bus_last;       /* last bus number VFs may use (>= the PF's bus) */
	uint8_t fdl;            /* Function Dependency Link */
	uint16_t total_vfs;     /* 1 .. 65535 */
	uint16_t initial_vfs;   /* == total_vfs, or <= it with IOVIRT_SRIOV_CAPS_VFM */
	uint16_t vf_offset, vf_stride;         /* ARI Capable Hierarchy clear */
	uint16_t vf_offset_ari, vf_stride_ari; /* ARI Capable Hierarchy set (an
	                                        * ARI_READONLY PF may give 0, 0: no pair) */
	uint16_t vf_device_id;
	uint16_t next_cap;      /* next extended capability offset (12 bits) */
	uint32_t caps;          /* SR-IOV Capabilities register value; CAPS_VFM and
	                         * CAPS_VF10BIT make their Control bits RW */
	uint32_t sup_pgsizes;   /* Supported Page Sizes; must include
	                         * IOVIRT_SRIOV_PGSIZES_REQUIRED (0x553) */
	uint32_t flags;         /* IOVIRT_SRIOV_ARI_READONLY */
	struct iovirt_sriov_bar bars[IOVIRT_SRIOV_NBARS];

	/* Register mediation: VF n's registers are host device vf_reg_dev at
	 * offsets [n * vf_regs_size, (n + 1) * vf_regs_size). */
	uint32_t vf_reg_dev;
	uint32_t nregs;                     /* <= IOVIRT_SRIOV_MAX_REGS */
	uint64_t vf_regs_size;              /* 1 .. 2^32 when nregs > 0 */
	const struct iovirt_sriov_reg *regs; /* copied at create */

	struct iovirt_sriov_window pf_windows[IOVIRT_SRIOV_PF_WINDOWS];

	/*
	 * Called during a VF's reset after its DMA is quiesced (no new
	 * translation succeeds for its RID) and before its ASID is unmapped:
	 * must cancel or wait for every DMA of the VF that holds a pinned page
	 * and return only when none is left. May be NULL (nothing is pinned).
	 */
	void (*dma_quiesce)(void *arg, uint32_t vf, uint16_t rid, uint32_t asid);
	/* Told of every guest access (mmio_read/mmio_write) that fails, once, with
	 * its error: refusals (kinds SENSITIVE, DMA_ADDR, OTHER) and host callback
	 * failures (kind HOST). Not of the caller's errors (sr or val NULL). May be NULL. */
	void (*report)(void *arg, const struct iovirt_sriov_event *ev);
	void *hook_arg;
	/* Fields appended after version 1 go here; iovirt reads them only
	 * through IOVIRT_PARAMS_HAS (a smaller size: their defaults). */
};
/* Version 1: every field above (host.h: versioned structs). */
#define IOVIRT_SRIOV_PARAMS_SIZE_V1 IOVIRT_PARAMS_SIZE_TO(struct iovirt_sriov_params, hook_arg)

struct iovirt_sriov;

/*
 * Creates the PF's SR-IOV state, the capability at its reset values (VF
 * Enable clear, NumVFs 0, System Page Size 4 KiB, VF BARs 0).
 * host_ops needs mem_alloc, mem_free and iotlb_inval, and reg_read/reg_write
 * when nregs > 0. params.iommu must be in IOVIRT_RECLAIM_DEFERRED mode.
 * Returns: 0 and *out.
 * Errors: IOVIRT_EINVAL (bad params: see docs/sriov.md for each rule; among
 * them the PCIe rules InitialVFs == TotalVFs without VF Migration Capable and
 * Supported Page Sizes including 0x553, and an iommu in AFTER_INVAL mode),
 * IOVIRT_EOVERLAP (two registers overlap), IOVIRT_ENOSYS (needed callback
 * absent), IOVIRT_ENOMEM.
 * On failure: *out untouched and nothing held.
 * Host callbacks: mem_alloc (mem_free on failure).
 */
int iovirt_sriov_create(const struct iovirt_host_ops *host_ops, void *host,
			const struct iovirt_sriov_params *params,
			struct iovirt_sriov **out);

/*
 * Resets every VF (as VF disable does), then frees everything. NULL is a no-op.
 * Cannot fail.
 * Threads: no other call on the object may run or follow (the lock-free
 * lookups included).
 * Host callbacks: those of iovirt_sriov_vf_reset, then mem_free.
 */
void iovirt_sriov_destroy(struct iovirt_sriov *sr);

/* ---- config space ---- */

/*
 * Reads width (1, 2 or 4) bytes at offset (relative to the capability).
 * Any offset is allowed as long as the access stays inside one dword, as
 * PCIe byte enables allow.
 * Returns: 0 and *val.
 * Errors: IOVIRT_EINVAL (width), IOVIRT_ERANGE (outside the capability),
 * IOVIRT_EALIGN (crosses a dword).
 * On failure: nothing changed.
 */
int iovirt_sriov_cfg_read(const struct iovirt_sriov *sr, uint32_t offset,
			  unsigned width, uint32_t *val);

/*
 * Writes width (1, 2 or 4) bytes at offset, through each field's write mask.
 * All or nothing: the access is applied to a copy, every rule is checked on
 * the result, and only then committed (VF enable or disable included).
 * Clearing VF Enable resets every VF (see iovirt_sriov_vf_reset) first.
 * Control bits writable: VF Enable, VF MSE; ARI Capable Hierarchy unless
 * IOVIRT_SRIOV_ARI_READONLY; VF Migration Enable and its Interrupt Enable with
 * IOVIRT_SRIOV_CAPS_VFM; VF 10-Bit Tag Requester Enable with
 * IOVIRT_SRIOV_CAPS_VF10BIT (at any time: nothing here depends on it). Others
 * read 0.
 * Returns: 0.
 * Errors:
 *   IOVIRT_EINVAL / ERANGE / EALIGN  bad access, as cfg_read
 *   IOVIRT_EBUSY     NumVFs, System Page Size or ARI Capable Hierarchy changed
 *                    while VF Enable is set
 *   IOVIRT_EINVAL    System Page Size not exactly one supported size
 *   IOVIRT_ENOVF     VF Enable set with NumVFs 0
 *   IOVIRT_ELIMIT    VF Enable set with NumVFs > TotalVFs
 *   IOVIRT_EOVERFLOW VF Enable set while the last VF's RID would pass 0xFFFF
 *   IOVIRT_ERANGE    ... or would lie on a bus past params.bus_last
 * On failure: nothing changed.
 * Host callbacks: those of iovirt_sriov_vf_reset when VF Enable is cleared.
 */
int iovirt_sriov_cfg_write(struct iovirt_sriov *sr, uint32_t offset,
			   unsigned width, uint32_t val);

/* PF function-level reset: every VF reset, the capability back to its reset
 * values (and, from iovirt_sriov_create_fn, ACS Control 0). Cannot fail.
 * Host callbacks: those of iovirt_sriov_vf_reset. */
void iovirt_sriov_pf_reset(struct iovirt_sriov *sr);

/* ---- derived state ---- */

/* Number of enabled VFs (NumVFs while VF Enable is set, else 0).
 * Returns: that number. Cannot fail. */
uint32_t iovirt_sriov_num_enabled(const struct iovirt_sriov *sr);

/* RID of VF vf.
 * Returns: 0 and *rid.
 * Errors: IOVIRT_ENOVF (not enabled).
 * On failure: nothing changed. */
int iovirt_sriov_vf_rid(const struct iovirt_sriov *sr, uint32_t vf, uint16_t *rid);

/*
 * Which VF BAR decodes bus address addr (VF Enable and VF MSE set, BAR
 * assigned, the whole VF array inside the address space: a 64-bit array may
 * end exactly at 2^64, a 32-bit one at 4 GiB).
 * Returns: 0 with *vf, *bar and *off (offset in that VF's BAR).
 * Errors: IOVIRT_ENOENT (nothing decodes it).
 * On failure: nothing changed.
 */
int iovirt_sriov_bar_decode(const struct iovirt_sriov *sr, uint64_t addr,
			    uint32_t *vf, unsigned *bar, uint64_t *off);

enum iovirt_sriov_vf_state {
	IOVIRT_SRIOV_VF_DISABLED = 0, /* beyond NumVFs or VF Enable clear */
	IOVIRT_SRIOV_VF_FREE = 1,     /* enabled, no guest, every DMA faults */
	IOVIRT_SRIOV_VF_ASSIGNED = 2, /* bound to a guest and an ASID */
};

struct iovirt_sriov_vf_info {
	uint32_t index;
	uint32_t state;  /* enum iovirt_sriov_vf_state */
	uint16_t rid;
	uint16_t reserved;
	uint32_t guest;  /* IOVIRT_SRIOV_NO_GUEST unless assigned */
	uint32_t asid;   /* meaningful when assigned */
	uint32_t reserved2;
	uint64_t bar[IOVIRT_SRIOV_NBARS]; /* this VF's BAR addresses; 0 when not decoded */
	uint64_t mmio_reads, mmio_writes;
	uint64_t refused_sensitive, refused_dma, refused_other;
	uint64_t resets;
	uint64_t host_errors; /* reg callbacks that failed during resets */
};

/* Fills *out for VF vf (< TotalVFs).
 * Returns: 0 and *out.
 * Errors: IOVIRT_ENOVF (vf >= TotalVFs).
 * On failure: nothing changed. */
int iovirt_sriov_vf_info(const struct iovirt_sriov *sr, uint32_t vf,
			 struct iovirt_sriov_vf_info *out);

/* ---- binding and DMA ---- */

/*
 * Assigns VF vf to guest and binds its RID to asid, which must exist in
 * params.iommu and be bound to no other VF: the VF's DMA is translated only
 * there, and reset unmaps it.
 * Returns: 0.
 * Errors:
 *   IOVIRT_ENOVF    VF not enabled
 *   IOVIRT_EBUSY    VF already assigned (reset it first)
 *   IOVIRT_EINVAL   guest == IOVIRT_SRIOV_NO_GUEST or asid > IOVIRT_ASID_MAX
 *   IOVIRT_ENOASID  no such address space
 *   IOVIRT_EDUP     asid already bound to another VF
 * On failure: nothing changed.
 */
int iovirt_sriov_vf_bind(struct iovirt_sriov *sr, uint32_t vf, uint32_t guest,
			 uint32_t asid);

/*
 * The context-table entry of rid.
 * Returns: 0 with *vf and *asid.
 * Errors: IOVIRT_ENOVF (rid is no enabled VF), IOVIRT_ENOASID (VF not bound,
 * or being reset).
 * On failure: nothing changed.
 * Threads: lock-free, beside any call (see above).
 */
int iovirt_sriov_rid_lookup(const struct iovirt_sriov *sr, uint16_t rid,
			    uint32_t *vf, uint32_t *asid);

/*
 * Translates a DMA of the function rid at iova (access = IOVIRT_PROT_*),
 * only through the ASID bound to that VF.
 * Returns: 0 and *out.
 * Errors:
 *   IOVIRT_ENOVF / IOVIRT_ENOASID   as rid_lookup (the DMA faults)
 *   IOVIRT_ENOMASTER   (a PF from iovirt_sriov_create_fn) the VF's Bus
 *                      Master Enable is clear
 *   errors of iovirt_pt_translate   (ENOENT, EPERM, ERANGE, EINVAL)
 *   IOVIRT_EREENTRANT  the target 4 KiB page overlaps a decoded VF BAR or a
 *                      PF register window
 * On failure: nothing changed.
 * Threads: lock-free, beside any call (see above).
 */
int iovirt_sriov_dma_translate(const struct iovirt_sriov *sr, uint16_t rid,
			       uint64_t iova, unsigned access,
			       struct iovirt_xlate *out);

/* ---- register mediation ---- */

/*
 * A guest's access to VF vf's register window at offset, width 1, 2, 4 or 8.
 * The access must lie inside one register of the map; DMA_ADDR registers
 * must be written whole. Dispatched through host reg_read/reg_write
 * (device params.vf_reg_dev, offset vf * vf_regs_size + offset).
 * Returns: 0 (and *val for a read).
 * Errors:
 *   IOVIRT_ENOVF       VF not enabled
 *   IOVIRT_EOWNER      VF not assigned to guest
 *   IOVIRT_EINVAL      width
 *   IOVIRT_ERANGE      outside the VF's window
 *   IOVIRT_ERESERVED   no register there, or the access crosses a register
 *   IOVIRT_EALIGN      partial access to a DMA address register
 *   IOVIRT_ESENSITIVE  sensitive register (counted, reported; the device never sees it)
 *   IOVIRT_ENOASID / ENOENT / EPERM / EREENTRANT  DMA address refused: not
 *                      mapped in the VF's ASID with the register's access for
 *                      its whole dma_len, or it targets a register window
 *   IOVIRT_EHOST       the host callback failed
 * On failure: a refused access never reaches the device. Every error but the
 * caller's (sr or val NULL: IOVIRT_EINVAL) is told to params.report, once,
 * with the error, the access (value masked to width; 0 for reads; an offset
 * past 4 GiB told as 0xFFFFFFFF) and its kind.
 * Host callbacks: reg_read or reg_write; params.report on a refusal.
 */
int iovirt_sriov_mmio_read(struct iovirt_sriov *sr, uint32_t guest, uint32_t vf,
			   uint64_t offset, unsigned width, uint64_t *val);
int iovirt_sriov_mmio_write(struct iovirt_sriov *sr, uint32_t guest, uint32_t vf,
			    uint64_t offset, unsigned width, uint64_t val);

/*
 * ARI Capable Hierarchy for a PF created with IOVIRT_SRIOV_ARI_READONLY (not
 * the lowest PF of its device). The spec lets only the lowest PF's bit be
 * written and applies it to every PF; this PF's own bit stays read-only 0.
 * The privileged side calls this whenever the lowest PF's bit changes (it
 * sees that write), so this PF's VFs follow it: on selects the ARI pair
 * (params.vf_offset_ari, vf_stride_ari), off the other pair, in the First VF
 * Offset and VF Stride registers at once and in the VFs' RIDs from the next
 * VF Enable. This PF's reset (iovirt_sriov_pf_reset) keeps the value (it is
 * the lowest PF's); save/restore carry it.
 * Returns: 0 (also when the value is unchanged, VF Enable set or not).
 * Errors:
 *   IOVIRT_EINVAL  sr NULL; the PF is not ARI_READONLY (its bit is its own:
 *                  written through iovirt_sriov_cfg_write); or on and params
 *                  gave no ARI pair (vf_offset_ari 0)
 *   IOVIRT_EBUSY   a change while VF Enable is set (the spec leaves it
 *                  undefined: RIDs of live VFs would move)
 * On failure: nothing changed.
 * Threads: serialized with the other device-model calls.
 */
int iovirt_sriov_set_ari_hierarchy(struct iovirt_sriov *sr, bool on);

/* ---- reset ---- */

/*
 * Function-level reset of VF vf, in this order: (1) its context entry stops
 * translating (new DMA faults); (2) params.dma_quiesce waits for or cancels
 * its pinned DMAs; (3) its ASID is unmapped and invalidated; (4) every
 * register of the map is written with its reset value; (5) it is marked free
 * (no guest, no ASID) and, on a PF from iovirt_sriov_create_fn, its
 * configuration space, MSI-X table and PBA return to reset values and its
 * ATS registration is dropped (after (3), whose invalidations each get their
 * device-TLB invalidation).
 * Returns: 0.
 * Errors: IOVIRT_ENOVF (not enabled).
 * On failure: nothing changed.
 * Host callbacks: params.dma_quiesce, iotlb_inval, devtlb_inval (ATS),
 * reg_write (a failure is counted in host_errors; the reset goes on).
 */
int iovirt_sriov_vf_reset(struct iovirt_sriov *sr, uint32_t vf);

/* ---- save / restore ---- */

/* Bytes a saved state takes.
 * Returns: that size. Cannot fail. */
size_t iovirt_sriov_save_size(const struct iovirt_sriov *sr);

/*
 * Saves the capability, the followed ARI hierarchy (set_ari_hierarchy) and
 * every VF's binding (not the device's register contents) as a versioned
 * little-endian blob.
 * Returns: the bytes written.
 * Errors: IOVIRT_EINVAL (len below iovirt_sriov_save_size).
 * On failure: nothing written.
 */
int64_t iovirt_sriov_save(const struct iovirt_sriov *sr, void *buf, size_t len);

/*
 * Restores a blob from iovirt_sriov_save of a PF with the same parameters.
 * The whole blob is validated (magic, version, length, checksum, read-only
 * fields equal to this PF's, every config rule, every binding: enabled VF,
 * existing and unique ASID) before anything changes.
 * Returns: 0.
 * Errors:
 *   IOVIRT_EBUSY  VF Enable is set here (reset the PF first)
 *   IOVIRT_EINVAL the blob is malformed, foreign or inconsistent (a blob
 *                 following an ARI hierarchy, on a PF that cannot follow one)
 *   the errors of cfg_write's rules, IOVIRT_ENOASID, IOVIRT_EDUP
 * On failure: nothing changed.
 */
int iovirt_sriov_restore(struct iovirt_sriov *sr, const void *buf, size_t len);

/* ==== the function beyond the capability: VF configuration spaces, MSI-X,
 *      ARI/ACS on the PF, ATS per VF (docs/sriov.md, "Functions") ==== */

/*
 * A PF created with iovirt_sriov_create_fn also emulates, per VF, the VF's
 * own configuration space (the type-0 header as the SR-IOV specification
 * defines it for a VF, a PCI Express capability with FLR, MSI-X, and an
 * extended chain with ARI and ATS), the MSI-X table and PBA inside a VF BAR,
 * and on the PF the ARI and ACS extended capabilities chained before the
 * SR-IOV one. Everything is sized and allocated at create, as before.
 * A PF made by plain iovirt_sriov_create has none of it: the calls below
 * return IOVIRT_ENOSYS on it, and its DMA ignores Bus Master Enable.
 * Threads: every call below is a device-model call, serialized with the
 * others on the object (iovirt_sriov_acs_ctrl included); what they change
 * that lock-free translation reads (Bus Master Enable, ATS registration) is
 * published with atomics. None allocates.
 */

/* Layout of each VF's configuration space (byte offsets). */
#define IOVIRT_SRIOV_VF_CFG_SIZE 0x1000
#define IOVIRT_SRIOV_VF_PCIE_CAP 0x40 /* PCI Express capability (v2, 0x3C bytes) */
#define IOVIRT_SRIOV_VF_MSIX_CAP 0x80 /* MSI-X capability (12 bytes), with msix_vectors */
#define IOVIRT_SRIOV_VF_EXT 0x100     /* extended chain: ARI (FN_ARI), then ATS (FN_ATS) */

/* The two views of a VF's configuration space. */
enum iovirt_sriov_view {
	/* As the function implements it: Vendor and Device ID 0xFFFF, Memory
	 * Space Enable and the BARs read-only 0. What a PF driver or a
	 * passthrough VMM reads from hardware. */
	IOVIRT_SRIOV_VIEW_RAW = 0,
	/* As a guest expects a device: the PF's Vendor ID and the VF Device ID,
	 * Memory Space Enable a read-write shadow, the BARs holding the VF's
	 * addresses (from the PF's VF BARs) and sizable by writing all ones.
	 * Every other register is the raw one, with the same effects. */
	IOVIRT_SRIOV_VIEW_VIRT = 1,
};

/* fn_params.flags */
#define IOVIRT_SRIOV_FN_ARI 0x1 /* ARI capability on the PF (at pf_ari_off) and on each VF */
#define IOVIRT_SRIOV_FN_ACS 0x2 /* ACS capability on the PF (at pf_acs_off) */
#define IOVIRT_SRIOV_FN_ATS 0x4 /* ATS capability on each VF (needs host devtlb_inval) */

/* ACS Capability / Control bits (the same position in both registers). */
#define IOVIRT_ACS_SV 0x0001 /* Source Validation */
#define IOVIRT_ACS_TB 0x0002 /* Translation Blocking */
#define IOVIRT_ACS_RR 0x0004 /* P2P Request Redirect */
#define IOVIRT_ACS_CR 0x0008 /* P2P Completion Redirect */
#define IOVIRT_ACS_UF 0x0010 /* Upstream Forwarding */
#define IOVIRT_ACS_EC 0x0020 /* P2P Egress Control (not emulated: refused) */
#define IOVIRT_ACS_DT 0x0040 /* Direct Translated P2P */

struct iovirt_sriov_fn_params {
	size_t size;             /* sizeof(struct iovirt_sriov_fn_params) */
	uint32_t flags;          /* IOVIRT_SRIOV_FN_* */
	uint16_t pf_vendor_id;   /* the virtualized view's Vendor ID */
	uint8_t revision;        /* Revision ID, as the PF's */
	uint8_t ats_caps;        /* VF ATS Capability bits 5 (Page Aligned Request)
	                          * and 6 (Global Invalidate Supported) only */
	uint32_t class_code;     /* Class Code (24 bits: base, sub, prog-if), as the PF's */
	uint16_t subsys_vendor_id, subsys_id; /* the VFs' Subsystem IDs */

	/* MSI-X per VF: msix_vectors 0 (no MSI-X capability) .. 2048. The
	 * table (16 bytes per vector) and the PBA (8 bytes per 64 vectors)
	 * lie in VF BAR msix_table_bir / msix_pba_bir at the given offsets
	 * (8-byte aligned, inside the BAR's declared size, not overlapping). */
	uint16_t msix_vectors;
	uint8_t msix_table_bir, msix_pba_bir;
	uint32_t msix_table_off, msix_pba_off;
	/* The platform's interrupt window: every message address lies in
	 * [irq_base, irq_base + irq_size). irq_size 0: x86's 0xFEE00000, 1 MiB. */
	uint64_t irq_base, irq_size;

	/* PF extended capabilities: absolute offsets in the PF's config space,
	 * dword aligned, inside [0x100, 0x1000), not overlapping. The chain is
	 * ARI (8 bytes, FN_ARI) -> ACS (8 bytes, FN_ACS) -> SR-IOV (0x40 bytes)
	 * -> params.next_cap. */
	uint16_t pf_ari_off, pf_acs_off, pf_sriov_off;
	uint8_t ari_next_fn;     /* the PF's ARI Next Function Number */
	uint8_t reserved0;
	uint16_t acs_caps;       /* ACS Capability register: IOVIRT_ACS_* but EC */
	uint16_t reserved1;
	uint32_t reserved2;
};

/*
 * iovirt_sriov_create and, from fn, the functions' emulation: every VF's
 * configuration state, MSI-X table and PBA are allocated here, all at once.
 * Returns: 0 and *out.
 * Errors: those of iovirt_sriov_create; IOVIRT_EINVAL (fn NULL or
 * too small, unknown flags, msix_vectors > 2048, a table or PBA outside its
 * BAR's declared size, misaligned, in an absent BAR or the upper half of a
 * 64-bit one, or overlapping the other; an interrupt window that wraps; PF
 * capability offsets misplaced or overlapping; acs_caps with EC or unknown
 * bits; ats_caps with bits other than 5 and 6); IOVIRT_ENOSYS (FN_ATS and
 * the host has no devtlb_inval); IOVIRT_ENOMEM.
 * On failure: *out untouched and nothing held.
 * Host callbacks: mem_alloc (mem_free on failure).
 */
int iovirt_sriov_create_fn(const struct iovirt_host_ops *host_ops, void *host,
			   const struct iovirt_sriov_params *params,
			   const struct iovirt_sriov_fn_params *fn,
			   struct iovirt_sriov **out);

/* More report kinds (iovirt_sriov_event.kind) for the calls below. */
#define IOVIRT_SRIOV_EV_CFG 5  /* VF config access refused (offset: in its config space) */
#define IOVIRT_SRIOV_EV_MSIX 6 /* MSI-X table/PBA access or a signal refused
                                * (offset: in the VF's BAR; for a signal, the vector) */

/*
 * Reads width (1, 2 or 4) bytes at offset of VF vf's configuration space in
 * view (enum iovirt_sriov_view). Offsets with nothing read 0.
 * Returns: 0 and *val.
 * Errors: IOVIRT_EINVAL (sr or val NULL, width, view), IOVIRT_ENOSYS (no
 * fn), IOVIRT_ENOVF (VF not enabled), IOVIRT_ERANGE (offset >= 4 KiB),
 * IOVIRT_EALIGN (crosses a dword).
 * On failure: nothing changed; every error but the caller's (EINVAL for NULL)
 * is reported (kind CFG).
 * Threads: serialized with the other device-model calls.
 * Host callbacks: params.report on a refusal.
 */
int iovirt_sriov_vf_cfg_read(struct iovirt_sriov *sr, uint32_t vf, unsigned view,
			     uint32_t offset, unsigned width, uint32_t *val);

/*
 * Writes width bytes at offset of VF vf's configuration space in view,
 * through each register's write mask (read-only bits keep their value, as
 * the spec wants for config writes; no error). Writable: Bus Master Enable;
 * in the virtualized view also Memory Space Enable (a shadow: decoding
 * follows the PF's VF MSE) and the BARs; MSI-X Enable and Function Mask;
 * ATS Enable. Initiate FLR (PCIe Device Control bit 15, reads 0) runs
 * iovirt_sriov_vf_reset(vf), which returns the VF's configuration space,
 * MSI-X table (every entry masked, address 0) and PBA to their reset values.
 * Bus Master Enable clear makes iovirt_sriov_dma_translate for the VF fail
 * with IOVIRT_ENOMASTER and iovirt_sriov_msix_signal refuse. ATS Enable makes
 * every IOTLB invalidation of the VF's bound ASID be followed by host
 * devtlb_inval for its RID (see iovirt_pt_ats_set), until ATS Enable clears
 * or the VF resets.
 * Returns: 0.
 * Errors:
 *   the errors of vf_cfg_read
 *   IOVIRT_ENOASID  Bus Master Enable or ATS Enable set on a VF not bound
 *                   (iovirt_sriov_vf_bind): its DMA would have no space
 * On failure: nothing changed; every refusal is reported (kind CFG).
 * Threads: serialized with the other device-model calls.
 * Host callbacks: those of iovirt_sriov_vf_reset for Initiate FLR;
 * params.report on a refusal.
 */
int iovirt_sriov_vf_cfg_write(struct iovirt_sriov *sr, uint32_t vf, unsigned view,
			      uint32_t offset, unsigned width, uint32_t val);

/*
 * The PF's extended configuration space as far as iovirt emulates it: the
 * ARI and ACS capabilities and the SR-IOV capability at fn.pf_sriov_off
 * (the same as iovirt_sriov_cfg_read/write there). offset is absolute.
 * ARI is read-only (no function groups); ACS Control bits are writable where
 * acs_caps has them, others read 0.
 * Returns: 0 (and *val for a read).
 * Errors: IOVIRT_EINVAL (NULL, width), IOVIRT_ENOSYS (no fn),
 * IOVIRT_ERANGE (outside [0x100, 0x1000)), IOVIRT_EALIGN (crosses a dword),
 * IOVIRT_ENOENT (no emulated capability there: the host's own registers),
 * and for writes the errors of iovirt_sriov_cfg_write.
 * On failure: nothing changed; not reported (the privileged side).
 * Host callbacks: those of iovirt_sriov_cfg_write for a write to SR-IOV.
 */
int iovirt_sriov_pf_ext_read(const struct iovirt_sriov *sr, uint32_t offset,
			     unsigned width, uint32_t *val);
int iovirt_sriov_pf_ext_write(struct iovirt_sriov *sr, uint32_t offset,
			      unsigned width, uint32_t val);

/* The ACS Control register's value.
 * Returns: that value (0 without FN_ACS or sr NULL). Cannot fail. */
uint16_t iovirt_sriov_acs_ctrl(const struct iovirt_sriov *sr);

/*
 * A guest's access to the MSI-X table or PBA of a VF, by bus address in the
 * PF's VF BARs (decoded as iovirt_sriov_bar_decode does: VF Enable and VF MSE
 * set). Accesses are 4 or 8 bytes, naturally aligned (the spec's DWORD or
 * aligned QWORD). Table writes are mediated: the Message Address (bits 1:0
 * read 0) is checked, with the other half as it stands (an 8-byte write as a
 * whole), against the interrupt window; Vector Control keeps only Mask Bit.
 * Returns: 0 (and *val for a read).
 * Errors:
 *   IOVIRT_EINVAL     sr or val NULL (not reported); width
 *   IOVIRT_ENOSYS     no fn or no MSI-X (not reported)
 *   IOVIRT_ENOENT     addr is in no VF's table or PBA: not an MSI-X access,
 *                     the caller handles it (not reported)
 *   IOVIRT_EOWNER     the VF is not bound to guest
 *   IOVIRT_EALIGN     misaligned, or crosses the table's or PBA's end
 *   IOVIRT_EPERM      a write to the PBA (read-only)
 *   IOVIRT_EMSIWIN    the Message Address would leave the interrupt window
 * On failure: nothing changed; refusals are reported (kind MSIX).
 * Host callbacks: params.report on a refusal.
 */
int iovirt_sriov_msix_read(struct iovirt_sriov *sr, uint32_t guest, uint64_t addr,
			   unsigned width, uint64_t *val);
int iovirt_sriov_msix_write(struct iovirt_sriov *sr, uint32_t guest, uint64_t addr,
			    unsigned width, uint64_t val);

/* A validated MSI-X message: the host performs this write (an interrupt). */
struct iovirt_sriov_msi {
	uint64_t addr; /* inside the interrupt window */
	uint32_t data;
	uint32_t vector;
};

/* msix_signal's positive result: the vector is masked, its pending bit is set. */
#define IOVIRT_SRIOV_MSIX_PENDING 1

/*
 * The device model signals vector of VF vf. A message outside the interrupt
 * window is never returned.
 * Returns:
 *   0 with *msg: deliver it (the vector's pending bit is cleared);
 *   IOVIRT_SRIOV_MSIX_PENDING: the vector or the function is masked, its
 *     pending bit is now set (msix_next delivers it once unmasked).
 * Errors:
 *   IOVIRT_EINVAL (sr or msg NULL), IOVIRT_ENOSYS (no MSI-X), IOVIRT_ENOVF
 *   (VF not enabled), IOVIRT_EINDEX (vector >= msix_vectors), IOVIRT_EDENIED
 *   (MSI-X Enable clear: no message, nothing pending), IOVIRT_ENOMASTER (Bus
 *   Master Enable clear), IOVIRT_EMSIWIN (the entry was never given an
 *   address in the window: nothing is sent, nothing pending).
 * On failure: nothing changed; refusals other than EINVAL/ENOSYS are
 * reported (kind MSIX, offset = vector).
 * Host callbacks: params.report on a refusal.
 */
int iovirt_sriov_msix_signal(struct iovirt_sriov *sr, uint32_t vf, uint32_t vector,
			     struct iovirt_sriov_msi *msg);

/*
 * After a guest write that may unmask (table Mask Bit, Function Mask, MSI-X
 * Enable): the lowest pending vector of VF vf that may now be sent. Call
 * until IOVIRT_ENOENT.
 * Returns: 0 with *msg (its pending bit cleared).
 * Errors: IOVIRT_ENOENT (none); IOVIRT_EMSIWIN (that vector's address is not
 * in the window); the errors of msix_signal for the VF (ENOSYS, ENOVF,
 * EDENIED, ENOMASTER).
 * On failure: nothing changed, but after IOVIRT_EMSIWIN that vector's pending
 * bit is cleared, nothing is sent and msg->vector says which.
 */
int iovirt_sriov_msix_next(struct iovirt_sriov *sr, uint32_t vf, struct iovirt_sriov_msi *msg);

/*
 * Save and restore of the functions' state (every VF's configuration
 * shadows, MSI-X table and PBA, ATS Enable; the PF's ACS Control), a blob
 * beside iovirt_sriov_save's: save both, restore iovirt_sriov_restore's
 * first (it re-creates the VFs and their bindings), then this one.
 * fn_save_size returns: the bytes the blob takes (0 for NULL or a PF without
 * fn). Cannot fail.
 * fn_save returns: the bytes written. Errors: IOVIRT_EINVAL (NULL, len too
 * small), IOVIRT_ENOSYS (no fn). On failure: nothing written.
 * fn_restore: the whole blob is checked first (magic, version, length, FNV-1a
 * checksum, TotalVFs and vector count equal to this PF's, and every field a
 * state the guest's and host's accesses could have made here: Bus Master or
 * ATS Enable only on a bound VF, message addresses 0 or in the window,
 * pending bits of existing vectors only, virtual BARs through their masks,
 * disabled VFs and ACS bits at what their rules allow); then ATS is
 * registered for the VFs that had it (undone if one registration fails);
 * then everything is committed.
 * fn_restore returns: 0.
 * Errors:
 *   IOVIRT_EINVAL  NULL, or the blob is malformed, foreign or inconsistent
 *   IOVIRT_ENOSYS  no fn
 *   IOVIRT_EBUSY   a VF has Bus Master, MSI-X or ATS Enable set or a virtual
 *                  BAR written, or ACS Control is not 0 (restore right after
 *                  iovirt_sriov_restore, or after a PF reset)
 *   the errors of iovirt_pt_ats_set (ENOASID, EBUSY)
 * On failure: nothing changed.
 * Threads: device-model side, serialized.
 */
size_t iovirt_sriov_fn_save_size(const struct iovirt_sriov *sr);
int64_t iovirt_sriov_fn_save(const struct iovirt_sriov *sr, void *buf, size_t len);
int iovirt_sriov_fn_restore(struct iovirt_sriov *sr, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
