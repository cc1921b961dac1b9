/* SPDX-License-Identifier: MIT */
/* lib/viommu internals: the walk with its context already checked. */
#ifndef IOVIRT_VIOMMU_INTERNAL_H
#define IOVIRT_VIOMMU_INTERNAL_H

#include <stdint.h>

#include "iovirt/viommu.h"
#include "pagetable/gdecode.h"

/* A checked context: the format, its root and the walk's geometry. */
struct vi_ctx {
	uint32_t format;
	uint32_t pad;
	uint64_t root;
	struct pt_ggeom geom;
};

/* Checks ctx (the public one) into *out: 0, IOVIRT_EINVAL or IOVIRT_EALIGN. */
int vi_ctx_load(const struct iovirt_gpt_ctx *ctx, struct vi_ctx *out);

/* The walk: access may be 0 (the leaf's permissions are then reported and
 * never refused). Fills *res and, on success, *af (the accesses the leaf
 * would refuse with an access-flag fault; af may be NULL); 0 or the fault's
 * code. */
int vi_walk(const struct vi_ctx *c, const struct iovirt_gmap *map,
	    const struct iovirt_host_ops *ops, void *host, uint64_t iova, unsigned access,
	    struct iovirt_gpt_result *res, unsigned *af);

/* Bytes of the leaf res found that its one entry governs, from the start of
 * that part: an AMD-Vi page larger than its level's entry (Next Level 7) is
 * replicated in each entry it spans, and each replica is read on its own. */
static inline uint64_t vi_leaf_span(const struct iovirt_gpt_result *res)
{
	uint64_t cover = UINT64_C(1) << pt_gshift(res->level);
	return res->page_size < cover ? res->page_size : cover;
}

#endif
