/* SPDX-License-Identifier: MIT */
/*
 * IO page tables: the IOMMU's (ASID, bus address) -> physical address map.
 *
 * An iommu holds address spaces keyed by ASID (0 .. IOVIRT_ASID_MAX, sparse).
 * Each space is one radix table in a real hardware layout (the iommu's
 * format: Intel VT-d second-stage, AMD-Vi v1, Arm stage 2 with a 4 KiB
 * granule, or RISC-V G-stage x4; 3, 4 or 5 levels), so its root can be handed
 * to the hardware (iovirt_pt_root, iovirt_pt_root_info).
 *
 * Threads and locks, in both reclaim modes:
 *  - Writers (map, unmap, unmap_gather, gather_flush, split) of disjoint
 *    ranges may run at once, in one space or in several; they never block
 *    each other and never read a freed table page. Writers of overlapping
 *    ranges must be serialized by the caller; iovirt then gives one of the
 *    orders, never a torn state.
 *  - space_create/space_destroy of one ASID must not race other calls on that
 *    ASID (create and destroy of different ASIDs may run at once).
 * What may run beside translate depends on the reclaim mode:
 *  - IOVIRT_RECLAIM_DEFERRED (the default): iovirt_pt_translate takes no lock
 *    and may run at any time, beside any writer, except
 *    iovirt_pt_space_destroy of its own ASID. Unlinked table pages (and
 *    destroyed spaces) wait on a list until iovirt_pt_reclaim, which the host
 *    calls once no translate or writer that began before is still running
 *    (its grace period); until then they cost memory.
 *  - IOVIRT_RECLAIM_AFTER_INVAL: for hosts whose only walkers beside writers
 *    are hardware. Writers still run at once as above; a table page unlinked
 *    while other writers are inside is freed, after its invalidation, by the
 *    last writer to leave (each writer call adds one shared atomic increment
 *    and decrement). iovirt_pt_translate, iovirt_pt_foreach,
 *    iovirt_pt_foreach_table and iovirt_pt_dump must NOT run beside any
 *    writer of that space: they may read a page freed under them. Memory
 *    cost: while writers overlap without a moment with none inside, unlinked
 *    pages accumulate (counted in iovirt_pt_stats.retired) and go at the
 *    first such moment, at iovirt_pt_reclaim or at iovirt_iommu_destroy.
 *  - iovirt_pt_foreach/foreach_table/dump are never meant to run beside
 *    writers of the same space (they give no consistent picture).
 *
 * A NULL iommu is refused, never read: IOVIRT_EINVAL from
 * iovirt_pt_space_create, map, unmap, unmap_gather, split, translate, ats_set
 * and iovirt_iommu_reclaim_mode; IOVIRT_ENOASID (no such space) from
 * space_destroy, foreach, foreach_table, dump, root and root_info; 0 from
 * cached, kept, reclaim and trim; gather_flush, stats (also for a NULL out)
 * and iovirt_iommu_destroy do nothing.
 *
 * Memory: table pages come from host->table_alloc, bookkeeping from
 * host->mem_alloc. A table page is released (or kept for reuse in the table
 * cache, see iovirt_pt_trim) only after an IOTLB invalidation that covers
 * every entry it held and, as any release, once no software walker may still
 * hold it (the reclaim mode's rule), so a hardware walker (which the
 * invalidation waits for) never reads a freed or reused page.
 */
#ifndef IOVIRT_PAGETABLE_H
#define IOVIRT_PAGETABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iovirt/error.h"
#include "iovirt/host.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IOVIRT_ASID_MAX ((UINT32_C(1) << 20) - 1)

/* Page sizes, as a bitmap of sizes (like Linux's pgsize_bitmap). */
#define IOVIRT_PAGE_4K (UINT64_C(1) << 12)
#define IOVIRT_PAGE_2M (UINT64_C(1) << 21)
#define IOVIRT_PAGE_1G (UINT64_C(1) << 30)
#define IOVIRT_PAGES_ALL (IOVIRT_PAGE_4K | IOVIRT_PAGE_2M | IOVIRT_PAGE_1G)

/* Permissions of a mapping and the kind of a device access. */
enum iovirt_prot {
	IOVIRT_PROT_READ = 1u << 0,  /* the device may read the memory */
	IOVIRT_PROT_WRITE = 1u << 1, /* the device may write the memory */
};

enum iovirt_pt_format {
	IOVIRT_PT_FMT_VTD_SL = 1, /* Intel VT-d second-stage (SL) paging entries */
	IOVIRT_PT_FMT_AMD_V1 = 2, /* AMD-Vi host page tables, v1 format (widths 32, 39, 48, 57) */
	IOVIRT_PT_FMT_ARM_S2 = 3, /* Arm SMMU stage 2, VMSAv8-64 4 KiB granule (32, 39, 48) */
	IOVIRT_PT_FMT_RISCV_G = 4, /* RISC-V IOMMU second stage Sv39x4/Sv48x4/Sv57x4 (32, 39, 48, 57):
				    * needs the host's table_block_alloc/free for the 16 KiB root;
				    * cannot express write-only pages (map: IOVIRT_EINVAL) */
};

enum iovirt_reclaim {
	/* Released table pages wait for iovirt_pt_reclaim (safe beside software
	 * walkers: translate may run beside writers). */
	IOVIRT_RECLAIM_DEFERRED = 0,
	/* Released after the invalidation, once no writer is inside: for hosts
	 * whose only walkers are hardware, or whose translate and writers never
	 * overlap in time (see "Threads and locks" above). */
	IOVIRT_RECLAIM_AFTER_INVAL = 1,
	/* (iovirt_sriov_create refuses an iommu in this mode: its dma_translate runs beside VF resets.) */
};

struct iovirt_iommu_params {
	size_t size;     /* sizeof(struct iovirt_iommu_params) */
	uint32_t format; /* enum iovirt_pt_format; 0 means VT-d SL */
	uint32_t reclaim; /* enum iovirt_reclaim */
	/* ---- appended (read through IOVIRT_PARAMS_HAS; a smaller size: the defaults) ---- */
	/* Emptied table pages kept for reuse (the table cache), per kind of page
	 * (leaf tables, level-2 tables, the levels above): 0 means
	 * IOVIRT_PT_TABLE_CACHE_DEFAULT, IOVIRT_PT_TABLE_CACHE_OFF keeps none;
	 * at most IOVIRT_PT_TABLE_CACHE_MAX. See iovirt_pt_trim. */
	uint32_t table_cache;
	/* Emptied tables left linked for reuse (kept tables), at most this many
	 * per iommu at once: 0 means IOVIRT_PT_KEEP_DEFAULT, IOVIRT_PT_KEEP_OFF
	 * keeps none (every emptied table is unlinked at once); at most
	 * IOVIRT_PT_KEEP_MAX. (Was `reserved`, 0: older callers get the default.)
	 * See iovirt_pt_kept and iovirt_pt_trim. */
	uint32_t keep_tables;
};
#define IOVIRT_IOMMU_PARAMS_SIZE_V1 IOVIRT_PARAMS_SIZE_TO(struct iovirt_iommu_params, reclaim)
#define IOVIRT_PT_TABLE_CACHE_DEFAULT 16u
#define IOVIRT_PT_TABLE_CACHE_MAX 256u
#define IOVIRT_PT_TABLE_CACHE_OFF UINT32_MAX
#define IOVIRT_PT_KEEP_DEFAULT 16u
#define IOVIRT_PT_KEEP_MAX 4096u
#define IOVIRT_PT_KEEP_OFF UINT32_MAX

struct iovirt_space_params {
	size_t size;      /* sizeof(struct iovirt_space_params) */
	uint32_t width;   /* input address bits: 32, 39, 48 or 57 */
	uint32_t reserved;
	uint64_t pgsizes; /* allowed page sizes (IOVIRT_PAGE_*), must include 4K; 0 means all */
};

struct iovirt_iommu;

/*
 * Creates an iommu. host_ops needs mem_alloc, mem_free, table_alloc,
 * table_free and iotlb_inval (and table_block_alloc/free for
 * IOVIRT_PT_FMT_RISCV_G); host is passed back to each. params may be NULL
 * (VT-d SL, deferred reclaim, the default table cache). Every space of the
 * iommu uses its format.
 * Returns 0; IOVIRT_EINVAL (bad params or ops: params->size below
 * IOVIRT_IOMMU_PARAMS_SIZE_V1, an unknown format or reclaim mode, a
 * table_cache above IOVIRT_PT_TABLE_CACHE_MAX other than
 * IOVIRT_PT_TABLE_CACHE_OFF, a keep_tables above IOVIRT_PT_KEEP_MAX other
 * than IOVIRT_PT_KEEP_OFF), IOVIRT_ENOSYS (a needed callback absent),
 * IOVIRT_ENOMEM. On failure *out is untouched.
 */
int iovirt_iommu_create(const struct iovirt_host_ops *host_ops, void *host,
			const struct iovirt_iommu_params *params,
			struct iovirt_iommu **out);

/* Destroys every space (one ASID invalidation each), releases everything. */
void iovirt_iommu_destroy(struct iovirt_iommu *iommu);

/*
 * Creates the address space `asid` (<= IOVIRT_ASID_MAX). params may be NULL
 * (48-bit, all page sizes). Allocates its root table.
 * Returns 0; IOVIRT_EINVAL (asid too large, bad width or pgsizes, a width the
 * iommu's format has no table for: 57 with IOVIRT_PT_FMT_ARM_S2), IOVIRT_EDUP
 * (the ASID exists), IOVIRT_ENOMEM. Nothing changes on failure.
 */
int iovirt_pt_space_create(struct iovirt_iommu *iommu, uint32_t asid,
			   const struct iovirt_space_params *params);

/*
 * Removes the space: unlinks it, invalidates its ASID once, then releases all
 * its tables (deferred in deferred reclaim mode), kept ones included. If an
 * iovirt_pt_trim is inside the space at that moment, waits for it to leave
 * the space first (one pass over the space's tables). Returns 0 or
 * IOVIRT_ENOASID.
 */
int iovirt_pt_space_destroy(struct iovirt_iommu *iommu, uint32_t asid);

/*
 * Maps [iova, iova + size) to [pa, pa + size) with prot (IOVIRT_PROT_*, not 0).
 * iova, pa and size must be 4 KiB aligned; the largest allowed page size
 * whose alignment both addresses share is used at each step.
 * All or nothing: on any error the tables hold exactly what they held before.
 * Returns 0;
 *   IOVIRT_EINVAL   size 0, prot 0 or unknown bits, pa + size beyond what the
 *                   format's entries hold (2^52 VT-d and AMD-Vi, 2^48 Arm
 *                   stage 2, 2^56 RISC-V), write-only prot with RISC-V
 *   IOVIRT_EALIGN   iova, pa or size not 4 KiB aligned
 *   IOVIRT_EOVERFLOW iova + size or pa + size wraps
 *   IOVIRT_ERANGE   the range leaves the space's input width
 *   IOVIRT_ENOASID  no such space
 *   IOVIRT_EEXIST   part of the range is already mapped
 *   IOVIRT_ENOMEM   a table allocation failed
 *   (On EEXIST and ENOMEM what was done is rolled back, with one invalidation
 *   if any entry had become visible; the entries of one leaf table are all
 *   checked before any of them is written, so a conflict inside the first
 *   leaf table writes nothing.)
 */
int iovirt_pt_map(struct iovirt_iommu *iommu, uint32_t asid, uint64_t iova,
		  uint64_t pa, uint64_t size, unsigned prot);

/*
 * Unmaps every mapping inside [iova, iova + size); holes are skipped. Never
 * allocates. When anything was cleared, exactly one IOTLB invalidation covers
 * all of it (leaf_only = 0 when a table was unlinked). A table left empty
 * stays linked, kept for the next map there, while the iommu holds fewer
 * kept tables than params keep_tables (see iovirt_pt_kept); beyond that it is
 * unlinked and released after the invalidation. A table the range covers
 * whole (kept or not) is dropped with its subtree by clearing the one entry
 * above it; its leaves are not visited.
 * Returns the number of bytes unmapped (0 for a hole; a range holding only
 * kept tables returns 0 too, after their one invalidation);
 *   IOVIRT_EINVAL, IOVIRT_EALIGN, IOVIRT_EOVERFLOW, IOVIRT_ERANGE, IOVIRT_ENOASID as map;
 *   IOVIRT_ESPLIT   the range would cut through a 2 MiB or 1 GiB page
 *                   (nothing changed; see iovirt_pt_split).
 */
int64_t iovirt_pt_unmap(struct iovirt_iommu *iommu, uint32_t asid, uint64_t iova,
			uint64_t size);

/*
 * Batched invalidation (like Linux's iotlb_gather): unmaps that clear entries
 * now and leave the IOTLB invalidation to one flush for all of them.
 *
 *   struct iovirt_pt_gather g;
 *   iovirt_pt_gather_init(&g, asid);
 *   iovirt_pt_unmap_gather(io, asid, a, n, &g);   ... more unmaps of asid ...
 *   iovirt_pt_gather_flush(io, &g);               one invalidation, then tables go
 *
 * Until the flush the hardware may still use the old translations: the caller
 * must not release or reuse the memory they pointed to, nor map those iovas
 * again, before it. The gather holds unlinked tables; it must be flushed.
 */
struct iovirt_pt_gather {
	uint32_t asid;    /* set by iovirt_pt_gather_init */
	uint32_t pending; /* unmaps that cleared something since the last flush */
	uint64_t priv_[5]; /* private */
};

void iovirt_pt_gather_init(struct iovirt_pt_gather *g, uint32_t asid);

/* As iovirt_pt_unmap, without the invalidation: what it cleared joins g.
 * IOVIRT_EINVAL also when asid is not the gather's. */
int64_t iovirt_pt_unmap_gather(struct iovirt_iommu *iommu, uint32_t asid, uint64_t iova,
			       uint64_t size, struct iovirt_pt_gather *g);

/* One IOTLB invalidation covering everything gathered (none when nothing
 * was), then the gathered tables are released (or retired). g is empty after. */
void iovirt_pt_gather_flush(struct iovirt_iommu *iommu, struct iovirt_pt_gather *g);

/*
 * Splits the large page that contains iova into pages of the next smaller size
 * the space allows (its pgsizes), with the same translation and permissions:
 * 2 MiB -> 4 KiB; 1 GiB -> 2 MiB, or -> 4 KiB when the space has no 2 MiB
 * pages (then one level-2 table of 512 full level-1 tables: 513 table pages).
 * Every new table is allocated and filled first, then the subtree is swapped
 * in with one atomic entry update: a concurrent walker sees the old or the
 * new translation, never a hole. One invalidation (leaf_only = 0) follows.
 * Returns 0; IOVIRT_ENOENT (nothing mapped at iova), IOVIRT_EINVAL (iova is in
 * a 4 KiB page), IOVIRT_ERANGE, IOVIRT_ENOASID, IOVIRT_ENOMEM (nothing changed).
 */
int iovirt_pt_split(struct iovirt_iommu *iommu, uint32_t asid, uint64_t iova);

/* One translation. */
struct iovirt_xlate {
	uint64_t pa;        /* physical address of iova */
	uint64_t page_size; /* size of the page that maps it */
	uint32_t prot;      /* permissions of that page */
	uint32_t level;     /* 1 = 4 KiB leaf, 2 = 2 MiB, 3 = 1 GiB */
};

/*
 * Translates a device access (IOVIRT_PROT_READ and/or IOVIRT_PROT_WRITE) at iova.
 * Lock-free. Returns 0 and fills *out; IOVIRT_ENOASID, IOVIRT_ERANGE (iova
 * beyond the space's width), IOVIRT_ENOENT (not mapped), IOVIRT_EPERM (mapped
 * without the access; *out is filled), IOVIRT_EINVAL (access 0 or unknown bits).
 */
int iovirt_pt_translate(const struct iovirt_iommu *iommu, uint32_t asid,
			uint64_t iova, unsigned access, struct iovirt_xlate *out);

/* A run of mappings with contiguous iova and pa and the same permissions. */
struct iovirt_mapping {
	uint64_t iova;
	uint64_t pa;
	uint64_t size;
	uint32_t prot;
	uint32_t reserved;
};

/*
 * Calls fn for each run of mappings in ascending iova order, merging
 * neighbours that continue each other (iova, pa and prot). A non-zero return
 * from fn stops the walk and is returned. Not to be run beside writers of the
 * same space. Returns 0, fn's value, or IOVIRT_ENOASID.
 */
int iovirt_pt_foreach(const struct iovirt_iommu *iommu, uint32_t asid,
		      int (*fn)(void *arg, const struct iovirt_mapping *m), void *arg);

/* One table page, for dumps and for hosts that audit their memory. */
struct iovirt_pt_table {
	uint64_t pa;     /* the page's physical address */
	uint64_t iova;   /* first iova it covers */
	uint32_t level;  /* 1 = holds 4 KiB entries ... 5 = root of a 5-level table */
	uint32_t used;   /* present entries */
};

/* Calls fn for each table page of the space, parents before children (kept
 * tables too, with used 0 while they are empty). */
int iovirt_pt_foreach_table(const struct iovirt_iommu *iommu, uint32_t asid,
			    int (*fn)(void *arg, const struct iovirt_pt_table *t),
			    void *arg);

/*
 * A human-readable dump of the space (root, tables, mapping runs): each line
 * is passed to emit, NUL-terminated, without newline. Returns 0 or IOVIRT_ENOASID.
 */
int iovirt_pt_dump(const struct iovirt_iommu *iommu, uint32_t asid,
		   void (*emit)(void *arg, const char *line), void *arg);

/* The root table's physical address and the number of levels (for a hardware context entry). */
int iovirt_pt_root(const struct iovirt_iommu *iommu, uint32_t asid,
		   uint64_t *root_pa, unsigned *levels);

/* What a context / device-table / stream-table entry of the format needs. */
struct iovirt_pt_root_info {
	size_t size;       /* sizeof(struct iovirt_pt_root_info), set by the caller */
	uint64_t root_pa;  /* root table (RISC-V: the 16 KiB x4 root) */
	uint32_t format;   /* enum iovirt_pt_format */
	uint32_t levels;   /* levels walked (1 = 4 KiB leaves only) */
	uint32_t width;    /* input address bits of the space */
	/* The format's own field:
	 *   VT-d: context entry AW = levels - 2 (1: 39-bit, 2: 48, 3: 57)
	 *   AMD-Vi: DTE Mode = levels
	 *   Arm stage 2: STE.S2SL0 / VTCR.SL0 = 2 - starting lookup level
	 *   RISC-V: iohgatp.MODE (8 Sv39x4, 9 Sv48x4, 10 Sv57x4) */
	uint32_t mode;
	uint32_t t0sz;       /* Arm stage 2: S2T0SZ = 64 - width; 0 elsewhere */
	uint32_t root_bytes; /* bytes of the root table: 4096, 16384 for RISC-V x4 */
};
#define IOVIRT_PT_ROOT_INFO_SIZE_V1 sizeof(struct iovirt_pt_root_info)

/*
 * Fills *out (out->size set, at least IOVIRT_PT_ROOT_INFO_SIZE_V1) for asid.
 * Returns 0; IOVIRT_EINVAL (out NULL or too small), IOVIRT_ENOASID. Lock-free.
 */
int iovirt_pt_root_info(const struct iovirt_iommu *iommu, uint32_t asid,
			struct iovirt_pt_root_info *out);

/*
 * ATS: the device rid caches translations of asid (on) or no longer does
 * (off). While on, every IOTLB invalidation of the space (unmap, split,
 * protection change, destroy) is followed at once by host devtlb_inval(rid,
 * the same request), before the invalidated entries' pages or tables are
 * released. One device per space. Returns 0 (also for on twice by the
 * registered rid, and for off while none is registered); IOVIRT_EINVAL (io
 * NULL, asid above IOVIRT_ASID_MAX, off for a rid that is not the registered
 * one), IOVIRT_ENOSYS (no devtlb_inval), IOVIRT_ENOASID, IOVIRT_EBUSY (on while
 * another rid is registered). Nothing changes on failure. Safe beside every
 * call, itself included (one compare-and-swap on one atomic word: of two
 * devices turning it on at once, one gets EBUSY; stress_ats); call it before
 * the device may cache, and turn it off only once the device caches no more.
 */
int iovirt_pt_ats_set(struct iovirt_iommu *iommu, uint32_t asid, uint16_t rid, bool on);

/* Counters of one iommu. */
struct iovirt_pt_stats {
	uint64_t spaces;        /* live address spaces */
	uint64_t tables;        /* table pages in use (retired and cached ones excluded,
				 * kept ones included: see iovirt_pt_kept) */
	uint64_t retired;       /* table pages waiting for iovirt_pt_reclaim (AFTER_INVAL
				 * mode: for the last writer inside to leave) */
	uint64_t meta_bytes;    /* bookkeeping bytes beside the table pages */
	uint64_t invalidations; /* IOTLB invalidation calls made (exact while writers do not
				 * overlap; invalidations made at the same moment by
				 * overlapping writers may count as one) */
};
/* Lock-free, beside every call: the counters are read one by one, so beside
 * writers or a reclaim they may be off by the pages moving at that moment
 * (tables never below 0). Exact when nothing else runs. Nothing is written
 * for a NULL iommu or out. */
void iovirt_pt_stats(const struct iovirt_iommu *iommu, struct iovirt_pt_stats *out);

/* Table pages the table cache holds (below): held from the host, in no table.
 * A function of its own rather than a field of iovirt_pt_stats, which has no
 * size field: a field appended there would be written past the end of the
 * struct of a program built against the older header. */
uint64_t iovirt_pt_cached(const struct iovirt_iommu *iommu);

/*
 * Releases the table pages (and destroyed spaces) waiting since earlier
 * unmaps, splits and destroys, and unlinks the kept tables as
 * iovirt_pt_trim does (deferred mode: they wait for the next reclaim; so
 * reclaim, reclaim, trim gives every empty table back to the host once
 * nothing is mapped). Deferred mode: call it when every translate
 * and writer that began before this call has returned; callers must not run
 * two reclaims at once. Writers may run beside it: what they retire while it
 * runs waits for the next reclaim. AFTER_INVAL mode: frees the pages still pending
 * (unlinked while writers overlapped) if no writer is inside at that moment;
 * may run at any time. The table cache: the pages it held before this call
 * go back to the host (host table_free, mem_free); the emptied pages this call
 * takes off the retired lists refill it, up to its bound, the rest go to the
 * host. Returns the number of retired pages it took off (cached or released).
 */
size_t iovirt_pt_reclaim(struct iovirt_iommu *iommu);

/*
 * The table cache. A table page left empty by an unmap (or a failed map's
 * rollback) is unlinked, invalidated and retired as always; once it may be
 * released (in deferred mode at iovirt_pt_reclaim, in AFTER_INVAL mode when
 * the last writer inside leaves), it is kept instead, with its bookkeeping,
 * for the next table a map installs, if the cache has room (params
 * table_cache pages of each kind; pages that still hold entries, such as a
 * subtree an unmap dropped whole or a destroyed space's, always go to the
 * host). A cached page is empty, so it is reused without zeroing. Counted by
 * iovirt_pt_cached.
 *
 * iovirt_pt_trim gives back both kinds of memory held for reuse:
 *  - kept tables (iovirt_pt_kept): each space's empty kept tables are
 *    unlinked (and the tables above them that this leaves empty), with one
 *    IOTLB invalidation per space that had any (leaf_only = 0), then released
 *    as an unmap's are (AFTER_INVAL mode: once no writer is inside, through
 *    the cache, which this call then empties; deferred mode: retired, for the
 *    next iovirt_pt_reclaim); kept tables mapped again lose the mark;
 *  - then every cached page goes to the host (host table_free, mem_free).
 * Safe beside every call, writers of any range and translate included (in
 * deferred mode a trim counts as a writer for the host's grace period); a
 * iovirt_pt_space_destroy beside it waits until it has left that space. Two
 * trims at once: the second releases only cached pages. Returns the number
 * of kept tables unlinked plus cached pages released. Never fails.
 */
size_t iovirt_pt_trim(struct iovirt_iommu *iommu);

/*
 * Kept tables: tables an unmap left empty that stay linked for the next map
 * in their range, instead of being unlinked, invalidated and rebuilt (Linux
 * keeps an emptied leaf table until a covering unmap too). At most params
 * keep_tables per iommu at once (writers that empty tables at the same moment
 * may pass the bound by one each); past it an emptied table is unlinked at
 * once. A kept table keeps its mark while it is used again, until
 * iovirt_pt_trim or iovirt_pt_reclaim (which unlink the empty ones and
 * unmark the rest), an unmap covering it whole, or the space's destroy.
 * Returns how many hold the mark now (counted in iovirt_pt_stats tables too;
 * the empty ones are memory held beyond use: at most this many table pages
 * and their bookkeeping). Lock-free; never fails.
 */
uint64_t iovirt_pt_kept(const struct iovirt_iommu *iommu);

/*
 * The raw VT-d second-stage entry encoding, exposed for hosts and emulators
 * that build or check hardware structures themselves.
 */
#define IOVIRT_VTD_SL_R (UINT64_C(1) << 0)
#define IOVIRT_VTD_SL_W (UINT64_C(1) << 1)
#define IOVIRT_VTD_SL_X (UINT64_C(1) << 2)
#define IOVIRT_VTD_SL_PS (UINT64_C(1) << 7)
#define IOVIRT_VTD_SL_ADDR_MASK UINT64_C(0x000ffffffffff000)

/* AMD-Vi v1 PDE/PTE (IOMMU spec, I/O page tables for host translations). */
#define IOVIRT_AMD_PR (UINT64_C(1) << 0)
#define IOVIRT_AMD_NL_SHIFT 9 /* Next Level, bits 11:9 */
#define IOVIRT_AMD_ADDR_MASK UINT64_C(0x000ffffffffff000)
#define IOVIRT_AMD_U (UINT64_C(1) << 59)
#define IOVIRT_AMD_FC (UINT64_C(1) << 60)
#define IOVIRT_AMD_IR (UINT64_C(1) << 61)
#define IOVIRT_AMD_IW (UINT64_C(1) << 62)

/* Arm VMSAv8-64 stage 2 descriptors, 4 KiB granule. */
#define IOVIRT_S2_VALID (UINT64_C(1) << 0)
#define IOVIRT_S2_TABLE (UINT64_C(1) << 1) /* table (levels 0-2) or page (level 3); 0: block */
#define IOVIRT_S2_MEMATTR_WB (UINT64_C(0xf) << 2) /* MemAttr 0b1111: Normal, Inner/Outer WB */
#define IOVIRT_S2_S2AP_R (UINT64_C(1) << 6)
#define IOVIRT_S2_S2AP_W (UINT64_C(1) << 7)
#define IOVIRT_S2_SH_INNER (UINT64_C(3) << 8)
#define IOVIRT_S2_AF (UINT64_C(1) << 10)
#define IOVIRT_S2_ADDR_MASK UINT64_C(0x0000fffffffff000) /* bits 47:12 */

/* RISC-V Sv39/48/57 PTE as used by the G-stage (x4) tables. */
#define IOVIRT_RV_V (UINT64_C(1) << 0)
#define IOVIRT_RV_R (UINT64_C(1) << 1)
#define IOVIRT_RV_W (UINT64_C(1) << 2)
#define IOVIRT_RV_X (UINT64_C(1) << 3)
#define IOVIRT_RV_U (UINT64_C(1) << 4)
#define IOVIRT_RV_G (UINT64_C(1) << 5)
#define IOVIRT_RV_A (UINT64_C(1) << 6)
#define IOVIRT_RV_D (UINT64_C(1) << 7)
#define IOVIRT_RV_PPN_SHIFT 10
#define IOVIRT_RV_PPN_MASK UINT64_C(0x003ffffffffffc00) /* bits 53:10 */

/*
 * The reclaim mode the iommu was created with (enum iovirt_reclaim), for
 * modules that must refuse a mode (SR-IOV translates at any time, which only
 * IOVIRT_RECLAIM_DEFERRED allows), or IOVIRT_EINVAL for a NULL iommu.
 * Lock-free.
 */
int iovirt_iommu_reclaim_mode(const struct iovirt_iommu *iommu);

#ifdef __cplusplus
}
#endif
#endif
