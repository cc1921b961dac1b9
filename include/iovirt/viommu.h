/* SPDX-License-Identifier: MIT */
/*
 * A guest's own IOMMU tables: for an emulator that shows a guest an IOMMU
 * (VT-d, AMD-Vi, Arm SMMU stage 2 or RISC-V IOMMU G-stage) and must translate
 * a device's addresses through the tables the guest programs, or shadow them
 * into a host address space.
 *
 *  - iovirt_gpt_translate: one walk of the guest's tables for one IOVA. The
 *    tables live in guest memory and the guest writes them while they are
 *    walked: each entry is read once (one aligned 8-byte guest_read, single-
 *    copy atomic by the host contract) and every decision uses that copy;
 *    the address of every entry is checked against the guest's map before it
 *    is read (inside a region the device may read, of this guest: never MMIO,
 *    RESERVED, another guest's or outside every region); reserved bits and
 *    encodings are refused as the format's specification says; a walk reads
 *    at most `levels` entries, each at a strictly lower level, so no table
 *    loop can make it run longer.
 *  - iovirt_viommu: one device (one guest context entry) bound to a host
 *    address space: translate with a small cache of leaf translations,
 *    shadow a guest IOVA range into the host space (validated and pinned
 *    through lib/pin's persistent mappings), and drop what a guest
 *    invalidation covers.
 *
 * Levels are iovirt's throughout: 1 = the level of 4 KiB entries (Arm lookup
 * level 4 - L; RISC-V and VT-d level L; AMD-Vi level L).
 *
 * Threads: iovirt_gpt_translate takes no lock and may run on any thread
 * beside anything (it reads the guest map's current snapshot, lock-free); for
 * iovirt_gmap_reclaim's grace period it counts as a validation (a reclaim
 * must wait for walks that began before it).
 * Calls on one iovirt_viommu must be serialized by the caller, and with the
 * calls on its pin domain (lib/pin's rule).
 *
 * Each function's contract reads in one order: what it does; Returns;
 * Errors; On failure; Threads (when other than above); Host callbacks.
 */
#ifndef IOVIRT_VIOMMU_H
#define IOVIRT_VIOMMU_H

#include <stddef.h>
#include <stdint.h>

#include "iovirt/error.h"
#include "iovirt/host.h"
#include "iovirt/pagetable.h"
#include "iovirt/pin.h"
#include "iovirt/validate.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What the guest's context / device-table / stream-table entry says of its
 * tables. Fields a format does not take must be 0.
 *   IOVIRT_PT_FMT_VTD_SL:  levels 3, 4, 5 (context entry AW + 2: 39, 48,
 *                          57-bit input), root = SLPTPTR, 4 KiB aligned
 *   IOVIRT_PT_FMT_AMD_V1:  levels 1 .. 6 (DTE Mode; 6 takes all 64 bits),
 *                          root = DTE Page Table Root Pointer, 4 KiB aligned
 *   IOVIRT_PT_FMT_ARM_S2:  mode = STE.S2SL0 (0, 1, 2: starting lookup level
 *                          2, 1, 0), t0sz = STE.S2T0SZ (16 .. 39), root =
 *                          S2TTB, aligned to the root's size (4 KiB, or up to
 *                          64 KiB for 2 .. 16 concatenated tables)
 *   IOVIRT_PT_FMT_RISCV_G: mode = iohgatp.MODE (8 Sv39x4, 9 Sv48x4,
 *                          10 Sv57x4), root = iohgatp.PPN << 12, 16 KiB aligned
 */
struct iovirt_gpt_ctx {
	size_t size;     /* sizeof(struct iovirt_gpt_ctx) */
	uint32_t format; /* enum iovirt_pt_format */
	uint32_t levels;
	uint64_t root;   /* guest-physical address of the root table */
	uint32_t mode;
	uint32_t t0sz;
};
/* Version 1: every field above (host.h: versioned structs). */
#define IOVIRT_GPT_CTX_SIZE_V1 IOVIRT_PARAMS_SIZE_TO(struct iovirt_gpt_ctx, t0sz)

/* Why a walk stopped (iovirt_gpt_result.fault) and the code returned with it. */
enum iovirt_gpt_fault {
	IOVIRT_GPT_OK = 0,
	IOVIRT_GPT_NOT_PRESENT = 1, /* IOVIRT_ENOENT: an entry is not present (invalid) */
	IOVIRT_GPT_PERMISSION = 2,  /* IOVIRT_EPERM: the leaf does not grant the access
	                             * (RISC-V: also a leaf without U) */
	IOVIRT_GPT_RESERVED = 3,    /* IOVIRT_ERESERVED: a reserved bit or encoding (Arm:
	                             * also bits 50:48 above the 48-bit output address, an Address size fault) */
	IOVIRT_GPT_TABLE = 4,       /* the map's refusal of the entry's address: IOVIRT_ENOREGION
	                             * (outside every region), IOVIRT_EMMIO, IOVIRT_ERESERVED,
	                             * IOVIRT_EFOREIGN, IOVIRT_EP2P, IOVIRT_EPERM (region not
	                             * device-readable) */
	IOVIRT_GPT_READ = 5,        /* IOVIRT_EGUEST: the host's guest_read failed */
	IOVIRT_GPT_RANGE = 6,       /* IOVIRT_ERANGE: the iova is beyond the input width, or
	                             * (AMD-Vi) has bits set in levels a PDE skips */
	IOVIRT_GPT_ACCESS = 7,      /* IOVIRT_EIOFAULT: Arm Access flag clear; RISC-V A clear,
	                             * or D clear for a write (no hardware A/D update) */
};

/* The result of a walk, or where and why it stopped. */
struct iovirt_gpt_result {
	uint64_t iova;      /* the iova walked (shadow: where it stopped) */
	uint64_t gpa;       /* 0 and IOVIRT_GPT_PERMISSION: the guest-physical address */
	uint64_t page_size; /* 0 and PERMISSION: bytes of the page; another fault: bytes
	                     * the entry where the walk stopped covers (a hole's extent) */
	uint64_t entry;     /* the last entry read (0 if none was) */
	uint64_t entry_gpa; /* its address (TABLE: the address refused) */
	uint32_t prot;      /* 0 and PERMISSION: IOVIRT_PROT_* granted (intersected over
	                     * the walk where the format does) */
	uint32_t level;     /* the level of the leaf, or where the walk stopped */
	uint32_t fault;     /* enum iovirt_gpt_fault */
	int32_t err;        /* 0 or the code returned */
};

/*
 * Walks the guest's tables described by ctx for a device access (access:
 * IOVIRT_PROT_READ and/or IOVIRT_PROT_WRITE) at iova. map is the guest's
 * memory map (its guest id is passed to guest_read); host_ops/host give
 * guest_read.
 * Returns: 0 and *res (gpa, page_size, prot, level).
 * Errors (res->fault and res->level say where; res->entry and entry_gpa what):
 *   IOVIRT_EINVAL   NULL ctx, map, host_ops or res; ctx->size below
 *                   IOVIRT_GPT_CTX_SIZE_V1; a ctx field out of range or
 *                   given to a format that does not take it; access 0 or
 *                   unknown bits (res->fault 0, nothing read)
 *   IOVIRT_EALIGN   ctx->root not aligned as the format asks (nothing read)
 *   IOVIRT_ENOSYS   host_ops lacks guest_read (nothing read)
 *   the faults of enum iovirt_gpt_fault.
 * On failure: nothing changed anywhere (a walk only reads).
 * Host callbacks: guest_read, one 8-byte read per level at most.
 */
int iovirt_gpt_translate(const struct iovirt_gpt_ctx *ctx, const struct iovirt_gmap *map,
			 const struct iovirt_host_ops *host_ops, void *host, uint64_t iova,
			 unsigned access, struct iovirt_gpt_result *res);

/* ------------------------------------------------------------------------ */
/* A device behind the emulated IOMMU                                        */
/* ------------------------------------------------------------------------ */

struct iovirt_viommu;

/*
 * A device whose guest context is ctx (copied), shadowed into address space
 * asid of iommu through dom (whose map is the guest's). The domain's
 * allocator window must lie outside the guest's IOVAs (shadows are fixed
 * mappings at the guest's IOVA: iovirt_pin_map refuses a fixed iova inside
 * the window), e.g. iova_base 2^63, iova_end 2^63 + 4 KiB.
 * Returns: 0 and *out.
 * Errors:
 *   IOVIRT_EINVAL, IOVIRT_EALIGN  ctx as iovirt_gpt_translate; NULL arguments
 *   IOVIRT_ENOSYS  host_ops lacks mem_alloc, mem_free or guest_read
 *   IOVIRT_ENOMEM  an allocation failed
 * On failure: nothing allocated, *out untouched.
 * Host callbacks: mem_alloc.
 */
int iovirt_viommu_create(const struct iovirt_host_ops *host_ops, void *host,
			 struct iovirt_pin_domain *dom, struct iovirt_gmap *map,
			 struct iovirt_iommu *iommu, uint32_t asid,
			 const struct iovirt_gpt_ctx *ctx, struct iovirt_viommu **out);

/*
 * Removes every shadow (as iovirt_viommu_inval of everything), then frees the
 * device. NULL: nothing. Cannot fail.
 * Host callbacks: as iovirt_viommu_inval; mem_free.
 */
void iovirt_viommu_destroy(struct iovirt_viommu *v);

/*
 * iovirt_gpt_translate through the device's cache of the last 8 leaf
 * translations (a leaf's cached span is what its one entry covers). A hit
 * reads no guest memory; a miss walks and caches a successful leaf. The cache
 * holds what the guest's tables said when they were walked, as a hardware
 * IOTLB does: the guest's invalidation (iovirt_viommu_inval) drops it.
 * Returns, Errors: as iovirt_gpt_translate (a hit gives res->entry and
 * entry_gpa 0).
 * Host callbacks: guest_read on a miss.
 */
int iovirt_viommu_translate(struct iovirt_viommu *v, uint64_t iova, unsigned access,
			    struct iovirt_gpt_result *res);

/* iovirt_viommu_shadow flags */
#define IOVIRT_VIOMMU_STRICT 1u /* a hole (not present, or a leaf granting nothing) fails */

/*
 * Translates [iova, iova + size) through the guest's tables and installs it
 * in the host space: for each guest leaf the range touches, the part inside
 * the range (less what is already shadowed) becomes one iovirt_pin_map at
 * the same iova, with the leaf's permissions, validated against the map and
 * pinned. A shadow is kept per guest leaf, as a hardware IOTLB entry is, so
 * that an invalidation of any part of a guest page drops all of it. Holes
 * (not present, no permission, or the iovas a skipping AMD-Vi PDE leaves
 * unreachable: skipped address bits not 0) are skipped unless
 * IOVIRT_VIOMMU_STRICT; an iova beyond the input width is an error.
 * All or nothing.
 * Returns: the bytes newly shadowed (0 when all was holes or shadowed).
 * Errors (res, may be NULL, says where: res->iova; res->fault for a walk's):
 *   IOVIRT_EINVAL    NULL v, size 0, unknown flags
 *   IOVIRT_EALIGN    iova or size not 4 KiB aligned
 *   IOVIRT_EOVERFLOW iova + size wraps
 *   a walk's fault (as iovirt_gpt_translate; holes only with STRICT)
 *   the iovirt_pin_map errors (the guest page's validation, pin, map)
 *   IOVIRT_ENOMEM    the shadow list could not grow
 * On failure: every shadow this call installed is removed again (strict
 * unmap, or a flush in batched mode); pins, holds, tables as before.
 * Host callbacks: guest_read, mem_alloc/mem_free, and iovirt_pin_map's and
 * iovirt_pin_unmap's.
 */
int64_t iovirt_viommu_shadow(struct iovirt_viommu *v, uint64_t iova, uint64_t size,
			     unsigned flags, struct iovirt_gpt_result *res);

/*
 * The guest invalidated [iova, iova + size) (size 0: everything, as a
 * domain- or context-wide invalidation): drops the cached translations and
 * removes every shadow whose guest leaf overlaps the range (iovirt_pin_unmap,
 * and iovirt_pin_flush in batched mode), so that when it returns the device
 * can no longer reach what the range mapped.
 * Returns: the bytes of shadow removed.
 * Errors:
 *   IOVIRT_EINVAL    NULL v
 *   IOVIRT_EOVERFLOW iova + size wraps past 2^64 (a range ending exactly at
 *                    2^64 is accepted)
 * On failure: nothing changed.
 * Host callbacks: iotlb_inval, table_free, unpin (through lib/pin), mem_free.
 */
int64_t iovirt_viommu_inval(struct iovirt_viommu *v, uint64_t iova, uint64_t size);

/*
 * The guest rewrote the device's context entry: everything is invalidated
 * (iovirt_viommu_inval of everything), then ctx (copied) is used.
 * Returns: 0.
 * Errors: IOVIRT_EINVAL, IOVIRT_EALIGN as iovirt_gpt_translate's ctx checks.
 * On failure: nothing changed (the check comes first).
 */
int iovirt_viommu_set_ctx(struct iovirt_viommu *v, const struct iovirt_gpt_ctx *ctx);

struct iovirt_viommu_stats {
	uint64_t walks;      /* guest-table walks (misses and shadow walks) */
	uint64_t hits;       /* translations answered by the cache */
	uint64_t shadows;    /* shadows (pin mappings) live */
	uint64_t shadow_bytes;
};
/* Copies the counters (nothing when v or out is NULL). Cannot fail. */
void iovirt_viommu_stats(const struct iovirt_viommu *v, struct iovirt_viommu_stats *out);

#ifdef __cplusplus
}
#endif
#endif
