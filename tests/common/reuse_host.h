/* SPDX-License-Identifier: MIT */
/* A test host whose allocator gives a freed block of the same size straight back. */
#ifndef IOVIRT_TESTS_REUSE_HOST_H
#define IOVIRT_TESTS_REUSE_HOST_H

#include <string.h>

#include "iovirt/host.h"
#include "iovirt/posix.h"

/*
 * A host whose allocator hands a freed block of the same size straight back
 * (LIFO), as many real allocators do: a domain destroyed and created again
 * lands at the same address. Pin and unpin go to the POSIX adapter.
 */
#define RA_CACHE 64
struct reuse_host {
	struct iovirt_posix *p;
	const struct iovirt_host_ops *base;
	struct iovirt_host_ops ops;
	void *blk[RA_CACHE];
	size_t len[RA_CACHE];
	uint32_t n;
};

static inline void *ra_alloc(void *host, size_t size, size_t align)
{
	struct reuse_host *r = host;
	for (uint32_t i = r->n; i-- > 0;) {
		if (r->len[i] != size || (uintptr_t)r->blk[i] % align)
			continue;
		void *b = r->blk[i];
		r->blk[i] = r->blk[--r->n];
		r->len[i] = r->len[r->n];
		memset(b, 0, size);
		return b;
	}
	return r->base->mem_alloc(r->p, size, align);
}

static inline void ra_free(void *host, void *ptr, size_t size)
{
	struct reuse_host *r = host;
	if (r->n == RA_CACHE) {
		r->base->mem_free(r->p, ptr, size);
		return;
	}
	r->blk[r->n] = ptr;
	r->len[r->n++] = size;
}

static inline int ra_pin(void *host, uint32_t guest, uint64_t gpa, uint64_t npages)
{
	struct reuse_host *r = host;
	return r->base->pin(r->p, guest, gpa, npages);
}

static inline void ra_unpin(void *host, uint32_t guest, uint64_t gpa, uint64_t npages)
{
	struct reuse_host *r = host;
	r->base->unpin(r->p, guest, gpa, npages);
}

static inline void ra_init(struct reuse_host *r, struct iovirt_posix *p)
{
	memset(r, 0, sizeof(*r));
	r->p = p;
	r->base = iovirt_posix_ops();
	r->ops.size = sizeof(r->ops);
	r->ops.mem_alloc = ra_alloc;
	r->ops.mem_free = ra_free;
	r->ops.pin = ra_pin;
	r->ops.unpin = ra_unpin;
}

static inline void ra_fini(struct reuse_host *r)
{
	while (r->n) {
		r->n--;
		r->base->mem_free(r->p, r->blk[r->n], r->len[r->n]);
	}
}

#endif
