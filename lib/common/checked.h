/* SPDX-License-Identifier: MIT */
/*
 * Small shared helpers for the core modules: overflow-checked arithmetic,
 * host-ops version checks and alignment. Internal: not installed.
 */
#ifndef IOVIRT_COMMON_CHECKED_H
#define IOVIRT_COMMON_CHECKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iovirt/host.h"

#define IOVIRT_PAGE_SHIFT 12
#define IOVIRT_PAGE_SIZE (UINT64_C(1) << IOVIRT_PAGE_SHIFT)
#define IOVIRT_PAGE_MASK (IOVIRT_PAGE_SIZE - 1)

#define IOVIRT_LIKELY(x) __builtin_expect(!!(x), 1)
#define IOVIRT_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Inlined into every caller, for speed (many callers fix an argument, and
 * the copy folds on it). A coverage build (-DIOVIRT_COVERAGE) keeps
 * one out-of-line copy instead, so that gcov counts each source branch once
 * and not once per inlined copy: a copy whose caller fixes an argument has
 * branches on it that can only go one way, counted as never taken. */
#ifdef IOVIRT_COVERAGE
#define IOVIRT_ALWAYS_INLINE inline
#else
#define IOVIRT_ALWAYS_INLINE inline __attribute__((always_inline))
#endif

/* *end = a + len; false when that wraps past 2^64. */
static inline bool iovirt_add_ok(uint64_t a, uint64_t len, uint64_t *end)
{
	return !__builtin_add_overflow(a, len, end);
}

/* *out = a * b; false on overflow. */
static inline bool iovirt_mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

static inline bool iovirt_is_aligned(uint64_t v, uint64_t align)
{
	return (v & (align - 1)) == 0;
}

/*
 * The host filled ops->size with sizeof(struct iovirt_host_ops) as its header
 * declared it; a field is usable only when it lies inside that size and is set.
 */
#define IOVIRT_HOST_HAS(ops, field) (IOVIRT_PARAMS_HAS(ops, field) && (ops)->field != NULL)

/* Allocation helpers through the host (zeroed memory). */
static inline void *iovirt_host_alloc(const struct iovirt_host_ops *ops,
				      void *host, size_t size, size_t align)
{
	return ops->mem_alloc(host, size, align);
}

static inline void iovirt_host_free(const struct iovirt_host_ops *ops,
				    void *host, void *p, size_t size)
{
	if (p)
		ops->mem_free(host, p, size);
}

/* Checks that ops carries at least the version-1 memory callbacks. */
static inline bool iovirt_host_ops_ok(const struct iovirt_host_ops *ops)
{
	return ops && ops->size >= offsetof(struct iovirt_host_ops, table_alloc) &&
	       ops->mem_alloc && ops->mem_free;
}

#endif
