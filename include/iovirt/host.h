/* SPDX-License-Identifier: MIT */
/*
 * The services a host supplies to iovirt.
 *
 * iovirt never allocates, prints, sleeps or starts threads on its own: every
 * such service comes from the host through this table. Each callback receives
 * the host's own pointer (the `host` given beside the ops when an iovirt object
 * is created) first.
 *
 * Versioning: the table starts with its own size. A host sets
 *     ops.size = sizeof(struct iovirt_host_ops);
 * Fields are only ever appended, so a library newer than the host sees a
 * smaller size and treats the missing callbacks as absent; a function that
 * needs an absent callback fails with IOVIRT_ENOSYS and changes nothing.
 * Callbacks a host does not implement may be left NULL, except where a module's
 * create function says it needs them.
 *
 * Threads: iovirt may call any callback from any thread that called into it;
 * callbacks used on concurrent paths (table_alloc, table_free, mem_alloc,
 * mem_free, iotlb_inval, devtlb_inval) must be thread-safe if the host uses iovirt from
 * several threads.
 */
#ifndef IOVIRT_HOST_H
#define IOVIRT_HOST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One rule for every versioned struct (this table, the parameter structs,
 * iovirt_region, iovirt_sg_policy): it starts with `size_t size`, the sizeof
 * of the struct as the caller's header declared it, and fields are only ever
 * appended. Each struct's header names its version 1 (IOVIRT_*_SIZE_V1); a
 * smaller size is refused, a larger one never is. A field appended after
 * version 1 is read only when the caller's size covers it:
 *     IOVIRT_PARAMS_HAS(p, field)
 * and is otherwise taken as its documented default (0, NULL).
 */
#define IOVIRT_PARAMS_SIZE_TO(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
#define IOVIRT_PARAMS_HAS(p, field)                                            \
	((p)->size >= (size_t)((const char *)&(p)->field - (const char *)(p)) + \
			      sizeof((p)->field))

/* What an IOTLB invalidation covers. */
enum iovirt_inval_kind {
	IOVIRT_INVAL_ASID = 1,  /* every translation of the address space */
	IOVIRT_INVAL_RANGE = 2, /* translations of [iova, iova + size) */
};

/* One IOTLB invalidation request, as the hardware's queued invalidation would carry it. */
struct iovirt_inval {
	uint32_t asid;
	uint32_t kind;       /* enum iovirt_inval_kind */
	uint64_t iova;       /* IOVIRT_INVAL_RANGE: first byte, page aligned */
	uint64_t size;       /* IOVIRT_INVAL_RANGE: bytes, page multiple */
	uint32_t leaf_only;  /* 1: only leaf entries changed; 0: table entries too
	                      * (paging-structure caches must be dropped) */
	uint32_t reserved;
};

/* A run of guest pages: [gpa, gpa + npages * 4 KiB) (pin_runs, unpin_runs). */
struct iovirt_page_run {
	uint64_t gpa;
	uint64_t npages;
};

struct iovirt_host_ops {
	/* sizeof(struct iovirt_host_ops) as the host was compiled. */
	size_t size;

	/* ---- version 1 ---- */

	/*
	 * Memory for iovirt's own bookkeeping: `size` bytes, aligned to `align`
	 * (a power of two), zeroed. NULL on failure; iovirt then fails the call
	 * with IOVIRT_ENOMEM and leaves everything as it was.
	 */
	void *(*mem_alloc)(void *host, size_t size, size_t align);
	void (*mem_free)(void *host, void *ptr, size_t size);

	/*
	 * One page-table page: 4 KiB, 4 KiB aligned, zeroed, that the IOMMU
	 * hardware may walk. Returns the CPU pointer and stores in *pa the
	 * address the hardware uses. NULL on failure.
	 * table_free is called only after an IOTLB invalidation covering every
	 * entry the page held (and, in deferred reclaim mode, after the host's
	 * iovirt_pt_reclaim call).
	 */
	void *(*table_alloc)(void *host, uint64_t *pa);
	void (*table_free)(void *host, void *page, uint64_t pa);

	/* Drop cached translations; returns once the hardware has done so. */
	void (*iotlb_inval)(void *host, const struct iovirt_inval *inv);

	/*
	 * Guest memory, addressed by guest id and guest-physical address.
	 * 0 on success, negative on failure (iovirt reports IOVIRT_EGUEST).
	 * iovirt reads every guest-controlled byte once, into its own copy.
	 * A naturally aligned access of 2, 4 or 8 bytes must be single-copy
	 * atomic (one load or store of that width, as a virtio device's access
	 * to a ring index is): the guest updates such fields while iovirt reads
	 * them, and a torn index (a plain memcpy may load the two bytes of a
	 * 16-bit field separately) looks like a driver that published 256 chains
	 * at once, which iovirt refuses as a broken ring.
	 */
	int (*guest_read)(void *host, uint32_t guest, uint64_t gpa, void *dst,
			  size_t len);
	int (*guest_write)(void *host, uint32_t guest, uint64_t gpa,
			   const void *src, size_t len);

	/*
	 * Keep the guest pages [gpa, gpa + npages * 4 KiB) resident and owned by
	 * that guest until unpin. iovirt calls pin only on a page's first pin and
	 * unpin only on its last, one call per contiguous run. pin returns 0 or
	 * negative; on failure nothing of that run is pinned.
	 */
	int (*pin)(void *host, uint32_t guest, uint64_t gpa, uint64_t npages);
	void (*unpin)(void *host, uint32_t guest, uint64_t gpa, uint64_t npages);

	/*
	 * Device registers, for register mediation: device id, byte offset in the
	 * function's register window, width in bytes (1, 2, 4 or 8).
	 * 0 or negative.
	 */
	int (*reg_read)(void *host, uint32_t dev, uint64_t offset,
			unsigned width, uint64_t *val);
	int (*reg_write)(void *host, uint32_t dev, uint64_t offset,
			 unsigned width, uint64_t val);

	/* ---- version 2 ---- */

	/*
	 * Device-TLB (ATS) invalidation: the function rid must drop its cached
	 * translations of what inv covers (inv->asid is the space they came
	 * from); returns once the device has completed it. iovirt calls it
	 * right after each iotlb_inval of an address space that has ATS
	 * registered (iovirt_pt_ats_set), before releasing anything the
	 * invalidated entries pointed to (pages unpinned, tables freed).
	 */
	void (*devtlb_inval)(void *host, uint16_t rid, const struct iovirt_inval *inv);

	/* ---- version 3 ---- */

	/*
	 * A table block larger than a page, for formats whose root spans several
	 * contiguous pages (the RISC-V IOMMU's Sv39x4/Sv48x4/Sv57x4 second-stage
	 * root: 16 KiB, 16 KiB aligned): `bytes` (a power of two, at least
	 * 4 KiB), aligned to `bytes` in the hardware's address space, zeroed.
	 * Returns the CPU pointer and stores in *pa the hardware address; NULL on
	 * failure. table_block_free gets the same bytes back and follows the same
	 * rule as table_free. Needed only by the formats that say so.
	 */
	void *(*table_block_alloc)(void *host, size_t bytes, uint64_t *pa);
	void (*table_block_free)(void *host, void *block, uint64_t pa, size_t bytes);

	/* ---- version 4 ---- */

	/*
	 * pin and unpin for many runs in one call, as a burst needs them
	 * (iovirt_pin_sg_burst, iovirt_pin_complete_burst): runs[0 .. n), n >= 1,
	 * are the runs pin or unpin would get one call each, in the same order.
	 * pin_runs pins them from the first and returns how many it pinned: r = n
	 * when all were; r < n when runs[r] failed (nothing of it pinned) and the
	 * later ones were not tried, as calling pin on each in turn and stopping
	 * at the first failure would leave them. unpin_runs unpins every run.
	 * Optional, as a pair: a host without both gets one pin or unpin call per
	 * run from a burst too.
	 */
	uint32_t (*pin_runs)(void *host, uint32_t guest, const struct iovirt_page_run *runs,
			     uint32_t n);
	void (*unpin_runs)(void *host, uint32_t guest, const struct iovirt_page_run *runs,
			   uint32_t n);

	/* ---- later versions append here ---- */
};

#ifdef __cplusplus
}
#endif
#endif
