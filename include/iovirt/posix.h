/* SPDX-License-Identifier: MIT */
/*
 * The POSIX host adapter: an implementation of struct iovirt_host_ops for
 * tests, benchmarks and examples (link libiovirt_posix; the core never does).
 *
 * Memory comes from jemalloc (or libc, by the `allocator` build option); table
 * pages get fake physical addresses (CPU address + 2^51, so a mix-up of CPU and
 * physical addresses shows). Every callback is counted; an optional log keeps
 * their order; allocation and pin failures can be injected at the Nth call;
 * guest memory is a set of ranges of this process's memory; device registers
 * are byte arrays. All of it is thread-safe.
 *
 * Each function's contract reads in one order: what it does; Returns; Errors;
 * On failure; Threads; Host callbacks. The adapter's errors are -1 (it is a
 * test tool, not the library: no IOVIRT_E* codes). Threads: every function
 * may run beside any other on the same adapter (one lock; counters atomic),
 * except destroy. Host callbacks: none (the adapter is the host).
 */
#ifndef IOVIRT_POSIX_H
#define IOVIRT_POSIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iovirt/host.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Offset between a table page's CPU address and its fake physical address:
 * 2^47 keeps every address of a 47-bit user space below 2^48, which the
 * narrowest output address of a format (Arm stage 2, bits 47:12) can hold. */
#define IOVIRT_POSIX_PA_OFFSET (UINT64_C(1) << 47)

struct iovirt_posix;

enum iovirt_posix_cb {
	IOVIRT_CB_MEM_ALLOC,
	IOVIRT_CB_MEM_FREE,
	IOVIRT_CB_TABLE_ALLOC,
	IOVIRT_CB_TABLE_FREE,
	IOVIRT_CB_IOTLB_INVAL,
	IOVIRT_CB_GUEST_READ,
	IOVIRT_CB_GUEST_WRITE,
	IOVIRT_CB_PIN,
	IOVIRT_CB_UNPIN,
	IOVIRT_CB_REG_READ,
	IOVIRT_CB_REG_WRITE,
	IOVIRT_CB_DEVTLB_INVAL, /* host ops version 2 */
	IOVIRT_CB_COUNT_
};

/* One logged callback. Fields by kind:
 *  MEM_ALLOC/MEM_FREE:     a = address, b = size
 *  TABLE_ALLOC/TABLE_FREE: a = CPU address, b = physical address
 *  IOTLB_INVAL:            id = asid, a = iova, b = size, c = kind | leaf_only << 8
 *  GUEST_READ/WRITE:       id = guest, a = gpa, b = len
 *  PIN/UNPIN:              id = guest, a = gpa, b = npages
 *  REG_READ/WRITE:         id = dev, a = offset, b = value, c = width
 *  DEVTLB_INVAL:           id = rid, a = iova, b = size, c = kind | asid << 8
 * Failed allocations and pins are logged with result < 0. */
struct iovirt_posix_event {
	uint32_t cb; /* enum iovirt_posix_cb */
	uint32_t id;
	uint64_t a, b, c;
	int result;
};

/*
 * A new adapter: no guest memory, no devices, no log, no injected failure.
 * Returns: the adapter.
 * Errors: NULL (out of memory, or its lock could not be made).
 * On failure: nothing allocated.
 */
struct iovirt_posix *iovirt_posix_create(void);
/*
 * Table pages: table_free keeps up to 1024 freed pages (4 MiB) in the adapter
 * for table_alloc to hand out again, zeroed (under ASan they stay poisoned
 * while kept, so a use after free is still reported); the rest go to the
 * allocator. live_tables and the callback counts are unchanged by this.
 *
 * Frees the adapter, its log and its kept table pages (NULL: nothing). Cannot fail. Whatever the
 * library still holds from it is not freed (live_mem says how much).
 * Threads: no other call on the adapter may run or follow.
 */
void iovirt_posix_destroy(struct iovirt_posix *p);

/* The callback table; pass the adapter itself as the `host` pointer.
 * Returns: the same static table every time. Cannot fail. */
const struct iovirt_host_ops *iovirt_posix_ops(void);

/* How often a callback was called (failed calls included).
 * Returns: the count (0 for a cb outside the enum). Cannot fail. */
uint64_t iovirt_posix_count(const struct iovirt_posix *p, enum iovirt_posix_cb cb);
/* Allocations not yet freed: bookkeeping bytes and table pages.
 * Returns: the bytes (live_mem) or pages (live_tables). Cannot fail. */
int64_t iovirt_posix_live_mem(const struct iovirt_posix *p);
int64_t iovirt_posix_live_tables(const struct iovirt_posix *p);
/* Pages pinned now (sum of pin runs minus unpin runs), all guests.
 * Returns: the pages. Cannot fail. */
int64_t iovirt_posix_pinned_pages(const struct iovirt_posix *p);

/* Fail the nth allocation (mem_alloc and table_alloc counted together) from
 * now on; n = 0 turns injection off. Only that one call fails. Cannot fail. */
void iovirt_posix_fail_alloc_at(struct iovirt_posix *p, uint64_t n);
/* The same for pin calls. Cannot fail. */
void iovirt_posix_fail_pin_at(struct iovirt_posix *p, uint64_t n);
/* Has an injected failure fired since the last fail_*_at call?
 * Returns: true if it has. Cannot fail. */
bool iovirt_posix_fail_fired(const struct iovirt_posix *p);

/*
 * Keep the last `capacity` callbacks in order (0 turns the log off and clears it).
 * Returns: 0.
 * Errors: -1 (the log could not be allocated).
 * On failure: the previous log and its events stay.
 */
int iovirt_posix_log_enable(struct iovirt_posix *p, size_t capacity);
/* Copy up to max logged events, oldest first.
 * Returns: how many were copied. Cannot fail. */
size_t iovirt_posix_log_read(const struct iovirt_posix *p,
			     struct iovirt_posix_event *out, size_t max);
/* Drops the logged events (the log stays on). Cannot fail. */
void iovirt_posix_log_clear(struct iovirt_posix *p);

/*
 * Guest memory: [gpa, gpa + len) of `guest` is backed by hva (it may end at
 * 2^64). Up to 256 ranges.
 * Returns: 0.
 * Errors: -1 (NULL hva, len 0, the last byte past 2^64 - 1, or 256 ranges
 * already).
 * On failure: nothing changed.
 */
int iovirt_posix_guest_add(struct iovirt_posix *p, uint32_t guest, uint64_t gpa,
			   void *hva, size_t len);
/* Called after every guest_read, with the adapter's lock not held; a test may
 * change guest memory here to play a guest that rewrites its descriptors. */
typedef void (*iovirt_posix_read_hook)(void *arg, uint32_t guest, uint64_t gpa,
				       size_t len);
/* Sets (or with NULL removes) the read hook. Cannot fail. */
void iovirt_posix_set_read_hook(struct iovirt_posix *p, iovirt_posix_read_hook hook,
				void *arg);

/*
 * Device registers: dev's register window is `len` bytes at `regs`. Up to 64
 * devices.
 * Returns: 0.
 * Errors: -1 (NULL regs, len 0, or 64 devices already).
 * On failure: nothing changed.
 */
int iovirt_posix_dev_add(struct iovirt_posix *p, uint32_t dev, void *regs, size_t len);

#ifdef __cplusplus
}
#endif
#endif
