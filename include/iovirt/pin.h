/* SPDX-License-Identifier: MIT */
/*
 * Pinning: validate a guest's DMA descriptor and pin every page it names as
 * one step, and persistent IOMMU mappings built on the same pins.
 *
 * A pin domain belongs to one guest memory map (one guest). It keeps:
 *  - a pin count per guest page (host->pin is called only on a page's 0 -> 1,
 *    host->unpin only on 1 -> 0, one call per contiguous run of pages; the
 *    bursts give a host with pin_runs/unpin_runs many runs per call);
 *  - handles {index, generation}: each live DMA or mapping holds its pages'
 *    counts and uses a hold (iovirt_gmap_region_get) on every region it
 *    touches, so that region cannot be removed or shrunk (IOVIRT_EBUSY)
 *    until the handle is completed or unmapped. The domain takes one hold
 *    per region when its first handle uses it (iovirt_gmap_in_use counts
 *    it once; past 8 such regions a handle holds the further ones itself),
 *    so a DMA in a region the domain uses already takes no new hold. After
 *    the last handle using it ends, the domain keeps that hold, idle, as the
 *    region's lease (iovirt_gmap_lease_*, validate.h): a later DMA there
 *    takes it back into use with one compare-and-swap, no lookup. An idle
 *    hold does not block the map: iovirt_gmap_remove and iovirt_gmap_shrink,
 *    on any thread, take it back (revoke it) and succeed; the domain notices
 *    at its next DMA in that range (then holds the region it finds anew, or
 *    refuses as validation does: ENOREGION...) or at its destroy.
 *    iovirt_gmap_in_use does not count idle holds. iovirt_gmap_destroy
 *    refuses (EBUSY) while a domain of the map lives: destroy domains first;
 *  - per-ASID bus-address allocators for mappings whose caller does not
 *    choose the address.
 *
 * No time-of-check/time-of-use gap: the descriptor is copied once into the
 * domain's private memory; the regions the copy names are held first (or are
 * held by the domain since an earlier call), then
 * the copy is validated (against a snapshot that necessarily contains the
 * held regions, since they can no longer leave the map), then pinned. The
 * returned host list, the holds and the pins all come from that one copy.
 *
 * All or nothing: every allocation happens before the first count changes;
 * when a host pin call fails or a limit is reached half-way, everything that
 * call pinned is unpinned again and all counts are exactly as before.
 *
 * Unpin ordering: a page is unpinned only after the IOTLB invalidation that
 * covers its last translation. Strict mode: unmap removes the translation
 * with iovirt_pt_unmap, which returns only after its invalidation, then
 * unpins. Batched mode: unmap clears the translation (iovirt_pt_unmap_gather,
 * no invalidation yet) and queues the rest; a flush issues one invalidation
 * per address space involved, and only then unpins.
 *
 * Threads: calls on one domain must be serialized by the caller (a domain is
 * per guest, usually per vCPU-less I/O thread). Writers of the gmap (remove,
 * shrink, add) may run on other threads at any time. Different domains (of
 * one map or not) may be created, used and destroyed on different threads
 * at once: the one datum they share, the counter their tags come from, is
 * atomic.
 *
 * Host callbacks: mem_alloc/mem_free (create, and when the count structure or
 * an allocator grows), pin/unpin (pin_runs/unpin_runs instead, for the
 * bursts, when the host has both), guest_read (iovirt_pin_sg_guest), and what
 * iovirt_pt_map/unmap call (table_alloc/free, iotlb_inval).
 *
 * Each function's contract reads in one order: what it does; Returns; Errors;
 * On failure; Threads (when other than the rule above); Host callbacks.
 */
#ifndef IOVIRT_PIN_H
#define IOVIRT_PIN_H

#include <stddef.h>
#include <stdint.h>

#include "iovirt/error.h"
#include "iovirt/host.h"
#include "iovirt/pagetable.h"
#include "iovirt/validate.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IOVIRT_PIN_DEFAULT_MAX_HANDLES 1024u
#define IOVIRT_PIN_DEFAULT_MAX_SEGS 16u
#define IOVIRT_PIN_MAX_HANDLES (1u << 20)
#define IOVIRT_PIN_MAX_SEGS 1024u
/* Default bus-address window of the allocator: [1 MiB, 2^39). */
#define IOVIRT_PIN_DEFAULT_IOVA_BASE (UINT64_C(1) << 20)
#define IOVIRT_PIN_DEFAULT_IOVA_END (UINT64_C(1) << 39)

struct iovirt_pin_params {
	size_t size;          /* sizeof(struct iovirt_pin_params) */
	uint32_t max_handles; /* live handles (DMAs and mappings); 0: default; <= 2^20 */
	uint32_t max_segs;    /* guest segments per DMA; 0: default; <= 1024 */
	uint64_t max_pinned;  /* distinct guest pages pinned at the host; 0: no limit */
	uint32_t batch;       /* 0: strict unmap (one invalidation per unmap, unpin
	                       * right after it); n > 0: unmaps clear translations
	                       * and queue invalidation and unpin, flushed when n
	                       * entries wait or on iovirt_pin_flush */
	uint32_t reserved;
	uint64_t iova_base;   /* allocator window, 4 KiB aligned; 0/0: the defaults */
	uint64_t iova_end;
};
/* Version 1: every field above (host.h: versioned structs). */
#define IOVIRT_PIN_PARAMS_SIZE_V1 IOVIRT_PARAMS_SIZE_TO(struct iovirt_pin_params, iova_end)

/*
 * A DMA or a mapping. Compare with iovirt_pin_complete's rules, not by value.
 * tag names the issuing domain: every domain created in the process gets its
 * own, never reused (a 64-bit counter), so a handle is refused (EOWNER) by
 * every other domain: of another guest, of another map of the same guest, or
 * created later at the same address. Within the domain, {index, gen} is
 * unique until the slot has been handed out 2^32 - 1 more times (the
 * generation then wraps; 0 is skipped).
 */
struct iovirt_pin_handle {
	uint32_t index; /* slot in the domain */
	uint32_t gen;   /* slot generation when handed out (never 0) */
	uint64_t tag;   /* the issuing domain (never 0) */
};

struct iovirt_pin_domain;

/*
 * Creates a domain for map's guest. Every slot (max_handles x max_segs) is
 * allocated now. params may be NULL (defaults).
 * Returns: 0 and *out.
 * Errors:
 *   IOVIRT_EINVAL  NULL ops, map or out; params->size below
 *                  IOVIRT_PIN_PARAMS_SIZE_V1; limits out of range; the iova
 *                  window empty or misaligned; reserved not 0
 *   IOVIRT_ENOSYS  host_ops lacks mem_alloc, mem_free, pin or unpin
 *   IOVIRT_ENOMEM  an allocation failed
 * On failure: nothing allocated, *out untouched.
 * Host callbacks: mem_alloc, mem_free.
 */
int iovirt_pin_domain_create(const struct iovirt_host_ops *host_ops, void *host,
			     struct iovirt_gmap *map, const struct iovirt_pin_params *params,
			     struct iovirt_pin_domain **out);

/*
 * Flushes deferred unmaps, ends the domain's idle region holds, then frees
 * the domain. In batched mode the flush calls into the iommus of the queued
 * unmaps: destroy (or flush) the domain before destroying an iommu it mapped
 * into; and destroy it before its map (whose destroy refuses while the
 * domain's idle holds are out).
 * Returns: 0.
 * Errors:
 *   IOVIRT_EBUSY  a DMA or mapping is live
 * On failure: only the flush happened; the domain lives on.
 * Host callbacks: as iovirt_pin_flush; mem_free (the map's too, for a
 * region removed and reclaimed while this domain held it idly).
 */
int iovirt_pin_domain_destroy(struct iovirt_pin_domain *dom);

/*
 * Validates segs[0 .. nsegs) (copied once into the domain first) as
 * iovirt_sg_validate does with pol, pins every page they name and holds
 * every region they touch. Writes the host list to out[0 .. out_cap) and the
 * handle to *h.
 * Returns: the number of host entries (> 0).
 * Errors:
 *   the iovirt_sg_validate refusals (res says which segment);
 *   IOVIRT_EINVAL    NULL arguments, nsegs 0
 *   IOVIRT_ETOOMANY  nsegs above the domain's max_segs
 *   IOVIRT_EBUSY     a region is being removed or shrunk at this moment, or
 *                    its removal is pending (iovirt_pin_remove_deferred)
 *   IOVIRT_ELIMIT    max_handles live, or max_pinned would be passed
 *   IOVIRT_ENOMEM    the count structure could not grow
 *   IOVIRT_EHOST     the host's pin callback failed
 * On failure: nothing changed (counts, holds, handles: free slots and their
 * generations); out may hold partial entries.
 * Host callbacks: pin (and unpin when a later run fails), mem_alloc; the
 * map's mem_free when a region this domain held idly was removed and
 * reclaimed since (its memory waited for this domain to notice).
 */
int iovirt_pin_sg(struct iovirt_pin_domain *dom, const struct iovirt_sg_policy *pol,
		  const struct iovirt_seg *segs, uint32_t nsegs,
		  struct iovirt_host_seg *out, uint32_t out_cap,
		  struct iovirt_dma_result *res, struct iovirt_pin_handle *h);

/*
 * iovirt_pin_sg for a list of nsegs IOVIRT_SG_WIRE_SIZE-byte entries at
 * list_gpa in guest memory, read once (one guest_read) before anything is
 * decided.
 * Returns: as iovirt_pin_sg.
 * Errors: those of iovirt_pin_sg, and
 *   IOVIRT_ENOSYS     no guest_read
 *   IOVIRT_EOVERFLOW  the list's last byte lies past 2^64 - 1 (a list ending
 *                     exactly at 2^64 - 1 is read, as iovirt_sg_validate_guest
 *                     reads it)
 *   IOVIRT_EGUEST     the read failed
 *   IOVIRT_EINVAL     an entry's reserved field is not zero
 * On failure: as iovirt_pin_sg.
 * Host callbacks: guest_read, and those of iovirt_pin_sg.
 */
int iovirt_pin_sg_guest(struct iovirt_pin_domain *dom, const struct iovirt_sg_policy *pol,
			uint64_t list_gpa, uint32_t nsegs,
			struct iovirt_host_seg *out, uint32_t out_cap,
			struct iovirt_dma_result *res, struct iovirt_pin_handle *h);

/*
 * Pins n DMAs of one segment each, as a backend that takes descriptors in
 * bursts does: the same results, host entries, handles, counts, holds and host
 * calls as the calls iovirt_pin_sg(dom, pol, &segs[k], 1, out + o_k,
 * out_cap - o_k, NULL, &h[k]) for k = 0, 1, ... in a row, where o_k is
 * nout[0] + ... + nout[k - 1] (DMA k's host entries follow the previous
 * DMAs'; one each, unless a region gives host addresses per page), stopping
 * at the first that fails. The per-call work is done once per burst, and a
 * run of DMAs in a region whose hold is idle takes it back once.
 * Returns: the number of DMAs pinned, n when all were (0 for n 0): DMA k's
 * handle is h[k] and its host entry count nout[k]. The first DMA that fails
 * (DMA c, c = the count returned) changed nothing, as a failing
 * iovirt_pin_sg (the host may have seen its pin fail): pin it alone to learn
 * why; the DMAs after it are not pinned (they may have been read). Entries of
 * out, nout and h past the pinned DMAs' may have been written, and are to be
 * ignored.
 * Errors: IOVIRT_EINVAL (NULL dom; NULL segs, out, nout or h with n > 0);
 * then, when DMA 0 fails, its error as iovirt_pin_sg gives it.
 * On failure: nothing changed.
 * Host callbacks: those of iovirt_pin_sg, per DMA; a host with pin_runs
 * (host.h, version 4) gets the one-page DMAs' pins of up to 32 DMAs in one
 * pin_runs call instead, the same runs in the same order.
 */
int iovirt_pin_sg_burst(struct iovirt_pin_domain *dom, const struct iovirt_sg_policy *pol,
			const struct iovirt_seg *segs, uint32_t n,
			struct iovirt_host_seg *out, uint32_t out_cap, uint32_t *nout,
			struct iovirt_pin_handle *h);

/*
 * Pins a host list that an earlier validation produced (iovirt_vq_pop,
 * iovirt_vq_walk, iovirt_sg_validate): the list is copied, the regions it
 * names are held, and its segments are validated again under the holds; the
 * result must be the very same list.
 * Returns: n.
 * Errors: those of iovirt_pin_sg, and
 *   IOVIRT_ESTALE    the re-validation gives another list: the map changed in
 *                    between (validate again and retry); a re-validation that
 *                    needs more than n entries (a region replaced by one whose
 *                    pages are not contiguous) is such a change
 *   IOVIRT_ETOOMANY  the list itself is too long: n above the domain's
 *                    max_segs or above pol's max_segs
 *   a refusal of the re-validation (the map no longer allows the list), as
 *   iovirt_sg_validate gives it.
 * On failure: counts, holds and handles as before, though after ESTALE the
 * host may have seen a pin and its unpin.
 * Host callbacks: as iovirt_pin_sg.
 */
int iovirt_pin_validated(struct iovirt_pin_domain *dom, const struct iovirt_sg_policy *pol,
			 const struct iovirt_host_seg *sg, uint32_t n,
			 struct iovirt_pin_handle *h);

/*
 * Ends a DMA: unpins its pages (host->unpin for pages whose count drops to 0)
 * and drops its region holds (the domain's last use of a region leaves its
 * hold idle: see the top of this file); a deferred removal or shrink waiting
 * for them runs now.
 * Returns: 0.
 * Errors:
 *   IOVIRT_EINVAL  NULL arguments, or the handle names a mapping (use unmap)
 *   IOVIRT_EOWNER  another domain issued the handle (of any guest or map,
 *                  alive or destroyed, even one at this domain's address)
 *   IOVIRT_ESTALE  index out of range, or the slot has been reused since
 *   IOVIRT_EDONE   already completed (and the slot not yet reused)
 * On failure: nothing changed.
 * Host callbacks: unpin; mem_free through a deferred iovirt_gmap_remove/shrink.
 */
int iovirt_pin_complete(struct iovirt_pin_domain *dom, struct iovirt_pin_handle h);

/*
 * Ends n DMAs: the same as iovirt_pin_complete(dom, h[k]) for k = 0, 1, ...
 * in a row, stopping at the first handle it refuses (that one and the ones
 * after it are not touched). A region whose DMAs all end in the burst has its
 * hold made idle once, after the last.
 * Returns: the number of DMAs ended, n when all were (0 for n 0).
 * Errors: IOVIRT_EINVAL (NULL dom; NULL h with n > 0); then, when h[0] is
 * refused, iovirt_pin_complete's error for it.
 * On failure: nothing changed.
 * Host callbacks: as iovirt_pin_complete, per DMA; a host with unpin_runs
 * gets the one-page DMAs' unpins of up to 32 DMAs in one call instead.
 */
int iovirt_pin_complete_burst(struct iovirt_pin_domain *dom, const struct iovirt_pin_handle *h,
			      uint32_t n);

/* iovirt_pin_map flags */
#define IOVIRT_PIN_MAP_FIXED 1u /* *iova is an input: map there (outside the allocator window) */

/*
 * Maps the guest range [gpa, gpa + len) into address space asid of iommu with
 * prot (IOVIRT_PROT_*): validates it as one segment (device direction from
 * prot), holds its region, pins its pages, then installs the translation with
 * iovirt_pt_map. The region must give host physical addresses. Without
 * IOVIRT_PIN_MAP_FIXED the bus address comes from the domain's allocator for
 * asid (naturally aligned power-of-two blocks; O(1) amortized) and is stored
 * in *iova.
 * Returns: 0 and *h.
 * Errors:
 *   IOVIRT_EINVAL    NULL arguments, len 0, prot 0 or unknown bits, unknown flags,
 *                    a region without host physical addresses
 *   IOVIRT_EALIGN    gpa, len or a fixed iova not 4 KiB aligned
 *   IOVIRT_ETOOBIG   len above 2^62
 *   IOVIRT_EOVERFLOW a fixed range wraps past 2^64
 *   IOVIRT_ERANGE    a fixed iova inside the allocator window, or the window is full
 *   the iovirt_sg_validate refusals, IOVIRT_EBUSY, IOVIRT_ELIMIT, IOVIRT_ENOMEM,
 *   IOVIRT_EHOST as iovirt_pin_sg, and the iovirt_pt_map errors (EEXIST, ENOASID...).
 * On failure: nothing changed, handles included: the slot is taken only once
 * the translation is installed, so every earlier handle answers as before and
 * the next handle handed out is the same. One exception, done before anything
 * is checked against the map: a FIXED range that overlaps a batched unmap
 * still queued flushes the queue first (as iovirt_pin_flush; the queued
 * handles answer IOVIRT_EDONE before and after).
 * Host callbacks: pin/unpin, mem_alloc, and what iovirt_pt_map calls
 * (table_alloc, table_free).
 */
int iovirt_pin_map(struct iovirt_pin_domain *dom, struct iovirt_iommu *iommu,
		   uint32_t asid, uint64_t gpa, uint64_t len, unsigned prot,
		   unsigned flags, uint64_t *iova, struct iovirt_pin_handle *h);

/*
 * Removes a mapping.
 * Strict mode: iovirt_pt_unmap (one IOTLB invalidation, done when it
 * returns), then unpins its pages, drops its hold and frees its bus address.
 * Batched mode: iovirt_pt_unmap_gather clears the translation without an
 * invalidation; the invalidation, the unpin, the hold drop and the address
 * free wait in a queue until it holds `batch` entries or iovirt_pin_flush.
 * The domain keeps a few gathers (one per iommu and ASID); an unmap in a
 * further address space flushes the queue first. Never allocates. A space
 * already destroyed (IOVIRT_ENOASID) counts as unmapped: its destroy
 * invalidated the ASID.
 * Returns: 0.
 * Errors: the handle errors of iovirt_pin_complete (EINVAL when the handle
 * names a DMA), or an iovirt_pt_unmap error.
 * On failure: nothing changed for the handle; a flush may have happened.
 * Host callbacks: iotlb_inval, table_free, unpin.
 */
int iovirt_pin_unmap(struct iovirt_pin_domain *dom, struct iovirt_pin_handle h);

/*
 * Completes the batched unmaps queued so far: one IOTLB invalidation per
 * address space with cleared translations (iovirt_pt_gather_flush), then,
 * after all of them, the unpins, hold drops and bus-address frees.
 * Returns: the entries flushed. Cannot fail.
 * Host callbacks: iotlb_inval, table_free, unpin.
 */
uint32_t iovirt_pin_flush(struct iovirt_pin_domain *dom);

/*
 * Deferred removal and shrink (iovirt_pin_remove_deferred,
 * iovirt_pin_shrink_deferred) share one machinery and one pending table:
 *  - The domain holds no page of the region that starts at gpa (or no region
 *    starts there): the map operation (iovirt_gmap_remove or
 *    iovirt_gmap_shrink) runs now, done(arg, its result) is called before the
 *    call returns, and the call returns 0.
 *  - Otherwise the request is recorded and IOVIRT_PIN_REMOVE_PENDING (> 0) is
 *    returned. From then on new DMAs and mappings touching ANY part of the
 *    region are refused with IOVIRT_EBUSY (nothing changed). The call that
 *    drops this domain's last hold on the region (iovirt_pin_complete, a
 *    strict iovirt_pin_unmap, iovirt_pin_flush or domain destroy's flush) runs
 *    the map operation and then done(arg, result) before it returns.
 *  - done is called exactly once per accepted request, with the map
 *    operation's result: 0, or e.g. IOVIRT_EBUSY when another party (another
 *    domain, any iovirt_gmap_region_get caller) still holds the region, or
 *    IOVIRT_ENOENT when no region starts at gpa. done must not call functions
 *    of this domain. Only this domain's holds are waited for.
 *  - Errors common to both (done is not called, nothing changed):
 *    IOVIRT_EINVAL (NULL dom or done), IOVIRT_EBUSY (a removal or shrink of
 *    this region is already pending here), IOVIRT_ELIMIT (8 removals and
 *    shrinks already pending in this domain).
 *  - Host callbacks: mem_alloc/mem_free through the map operation.
 */

/*
 * Removes the region that starts at gpa from the domain's map, now or, when
 * this domain still pins pages in it, as soon as it no longer does (the
 * shared rules above, with iovirt_gmap_remove).
 * Returns: 0 (done already called) or IOVIRT_PIN_REMOVE_PENDING.
 * Errors: the shared ones only.
 */
#define IOVIRT_PIN_REMOVE_PENDING 1
int iovirt_pin_remove_deferred(struct iovirt_pin_domain *dom, uint64_t gpa,
			       void (*done)(void *arg, int result), void *arg);

/*
 * Shrinks the region that starts at gpa to new_length, now or, when this
 * domain still pins pages in it, as soon as it no longer does (the shared
 * rules above, with iovirt_gmap_shrink; while pending, the whole region is
 * refused, not only the part being cut off).
 * Returns: 0 (done already called) or IOVIRT_PIN_SHRINK_PENDING (the same
 * value as IOVIRT_PIN_REMOVE_PENDING).
 * Errors: the shared ones, and, as iovirt_gmap_shrink: IOVIRT_EINVAL
 * (new_length 0, or a region starts at gpa and new_length is not below its
 * length), IOVIRT_EALIGN (new_length not a 4 KiB multiple).
 */
#define IOVIRT_PIN_SHRINK_PENDING IOVIRT_PIN_REMOVE_PENDING
int iovirt_pin_shrink_deferred(struct iovirt_pin_domain *dom, uint64_t gpa, uint64_t new_length,
			       void (*done)(void *arg, int result), void *arg);

/* The pin count of the guest page containing gpa (for tests and audits).
 * Returns: the count; 0 for a NULL dom. Cannot fail. */
uint32_t iovirt_pin_count(const struct iovirt_pin_domain *dom, uint64_t gpa);

struct iovirt_pin_stats {
	uint64_t pinned_pages;   /* distinct guest pages pinned at the host now */
	uint64_t page_refs;      /* sum of all per-page counts */
	uint64_t live_dmas;      /* DMA handles not yet completed */
	uint64_t live_maps;      /* mappings not yet unmapped */
	uint64_t host_pins;      /* host pin calls made (successful) */
	uint64_t host_unpins;    /* host unpin calls made */
	uint64_t leaves;         /* count-structure leaves in use (512 pages each) */
	uint64_t meta_bytes;     /* bookkeeping bytes held */
	/* Batched teardown: the exposure window (unmapped, not yet unpinned). */
	uint64_t deferred_entries;
	uint64_t deferred_pages;
	uint64_t max_deferred_entries;
	uint64_t max_deferred_pages;
	uint64_t flushes;
	/* ... and its IOTLB side: unmaps whose translation is cleared but whose
	 * invalidation waits for the flush (the device may still use it). */
	uint64_t deferred_invals;
	uint64_t max_deferred_invals;
	uint64_t flush_invals;   /* IOTLB invalidations issued by flushes */
};
/* Copies the domain's counters to *out (nothing when dom or out is NULL).
 * Cannot fail. */
void iovirt_pin_stats(const struct iovirt_pin_domain *dom, struct iovirt_pin_stats *out);

#ifdef __cplusplus
}
#endif
#endif
