/* SPDX-License-Identifier: MIT */
/* lib/validate internals: map snapshots, the shared segment checker. */
#ifndef IOVIRT_VALIDATE_INTERNAL_H
#define IOVIRT_VALIDATE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/checked.h"
#include "iovirt/validate.h"

/* Shared between this module's files only: hidden, so calls skip the PLT. */
#define VINTERNAL __attribute__((visibility("hidden")))

/* Objects waiting for iovirt_gmap_reclaim; the link lives in the object so
 * that retiring, which follows a commit, never allocates. */
enum { RETIRED_SNAP = 1, RETIRED_NODE = 2 };
struct retired {
	struct retired *next;
	size_t bytes;
	uint32_t type;
};

/* In-use count of a region; the top bit marks a region being or having been
 * removed, so that a get and a remove cannot both win. */
#define NODE_DEAD (UINT32_C(1) << 31)

/* One region, allocated at add and immutable but for its in-use count. */
struct iovirt_gmap_region {
	struct retired link;
	_Atomic uint32_t users;
	struct iovirt_region desc; /* page_hpa points to pages below */
	uint64_t *pages;           /* own copy of page_hpa, or NULL */
	size_t pages_bytes;
};

/* A snapshot entry: the hot fields of a region, next to each other. */
struct snap_ent {
	uint64_t gpa, last; /* inclusive last byte: a region may end at 2^64 */
	uint8_t *hva;
	uint64_t hpa;          /* IOVIRT_HPA_NONE unless IOVIRT_REGION_HPA */
	const uint64_t *pages; /* IOVIRT_REGION_HPA_PAGES */
	struct iovirt_gmap_region *node;
	uint32_t kind, access, owner, pad;
};

/* An immutable sorted array of regions; base[] alone is searched. */
struct gsnap {
	struct retired link;
	uint32_t n;
	uint64_t *base;
	struct snap_ent *ent;
};

struct iovirt_gmap {
	const struct iovirt_host_ops *ops;
	void *host;
	uint32_t guest;
	uint32_t max_regions;
	_Atomic(struct gsnap *) cur;
	_Atomic(struct retired *) retired;
	_Atomic uint64_t generation;
	_Atomic uint64_t nretired, retired_bytes;
};

/* Finds the entry containing gpa: O(log n), no branch on the data in the loop. */
static inline const struct snap_ent *snap_find(const struct gsnap *s, uint64_t gpa)
{
	uint32_t n = s->n, lo = 0;
	if (IOVIRT_UNLIKELY(n == 0 || gpa < s->base[0]))
		return NULL;
	const uint64_t *b = s->base;
	while (n > 1) {
		uint32_t half = n / 2;
		lo = b[lo + half] <= gpa ? lo + half : lo;
		n -= half;
	}
	const struct snap_ent *e = &s->ent[lo];
	return gpa <= e->last ? e : NULL;
}

static inline const struct gsnap *gmap_snap(const struct iovirt_gmap *map)
{
	return atomic_load_explicit(&((struct iovirt_gmap *)map)->cur, memory_order_acquire);
}

/* A policy in the form the checks use. */
struct vpol {
	uint32_t max_segs;
	uint32_t flags;
	uint64_t max_total; /* UINT64_MAX: no limit */
	uint64_t amask, lmask;
};
VINTERNAL int vpol_load(const struct iovirt_sg_policy *pol, struct vpol *out);

/* Builds a host list from segments, one at a time. */
struct vbuild {
	const struct gsnap *snap;
	struct vpol pol;
	uint32_t guest;
	struct iovirt_host_seg *out;
	uint32_t cap, nout, nsegs;
	const struct snap_ent *last_ent; /* region of out[nout - 1] */
	uint64_t total, rbytes, wbytes;
	uint64_t fail_gpa;
};

VINTERNAL void vb_init(struct vbuild *b, const struct iovirt_gmap *map, const struct vpol *pol,
	     struct iovirt_host_seg *out, uint32_t cap);
/* Checks one segment against the snapshot; 0 and *ep, or the refusal (fail_gpa set). */
VINTERNAL int vb_check(struct vbuild *b, uint64_t gpa, uint64_t len, uint32_t dir,
	     const struct snap_ent **ep);
/* Checks a segment and appends it to the host list. */
VINTERNAL int vb_add(struct vbuild *b, uint64_t gpa, uint64_t len, uint32_t dir);
/* Fills res (exposure included) on success or refusal; returns ret. */
VINTERNAL int vb_finish(struct vbuild *b, int ret, uint32_t where, struct iovirt_dma_result *res);

/* Little-endian loads from a byte snapshot. */
static inline uint16_t ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}
static inline uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ld64(const uint8_t *p)
{
	return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}
static inline void st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void st32(uint8_t *p, uint32_t v)
{
	st16(p, (uint16_t)v);
	st16(p + 2, (uint16_t)(v >> 16));
}

#endif
