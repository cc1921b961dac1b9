/* SPDX-License-Identifier: MIT */
/* Shared fixtures of the lib/validate tests: a guest whose memory is a host buffer. */
#ifndef IOVIRT_VT_H
#define IOVIRT_VT_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "testhost.h"

#define VT_GUEST 7u
#define VT_GPA 0x100000ull     /* guest memory starts here */
#define VT_PAGES 64u           /* and is this many pages */
#define VT_BYTES (VT_PAGES * 4096ull)

struct vt {
	struct iovirt_posix *p;
	const struct iovirt_host_ops *ops;
	struct iovirt_gmap *map;
	uint8_t *mem; /* VT_BYTES, backing gpa VT_GPA.. for guest_read/guest_write */
};

static inline void vt_init(struct vt *t)
{
	t->p = th_posix();
	t->ops = iovirt_posix_ops();
	t->mem = aligned_alloc(4096, VT_BYTES);
	cr_assert_not_null(t->mem);
	memset(t->mem, 0, VT_BYTES);
	cr_assert_eq(iovirt_posix_guest_add(t->p, VT_GUEST, VT_GPA, t->mem, VT_BYTES), 0);
	struct iovirt_gmap_params gp = { sizeof(gp), VT_GUEST, 0 };
	cr_assert_eq(iovirt_gmap_create(t->ops, t->p, &gp, &t->map), 0);
}

static inline void vt_fini(struct vt *t)
{
	cr_assert_eq(iovirt_gmap_destroy(t->map), 0);
	th_posix_done(t->p);
	free(t->mem);
}

/* A region of kind at [gpa, gpa + len), backed by the guest buffer when it lies in it. */
static inline struct iovirt_region vt_region(struct vt *t, uint64_t gpa, uint64_t len,
					     uint32_t kind, uint32_t access)
{
	struct iovirt_region r = { .size = sizeof(r), .gpa = gpa, .length = len, .kind = kind,
				   .access = access, .owner = VT_GUEST };
	if (gpa >= VT_GPA && gpa - VT_GPA + len <= VT_BYTES)
		r.hva = t->mem + (gpa - VT_GPA);
	else if (kind != IOVIRT_REGION_MMIO && kind != IOVIRT_REGION_RESERVED) {
		r.flags = IOVIRT_REGION_HPA;
		r.hpa = 0x40000000ull + gpa;
	}
	return r;
}

static inline void vt_add(struct vt *t, uint64_t gpa, uint64_t len, uint32_t kind, uint32_t access)
{
	struct iovirt_region r = vt_region(t, gpa, len, kind, access);
	cr_assert_eq(iovirt_gmap_add(t->map, &r), 0, "add %#llx", (unsigned long long)gpa);
}

#define RW (IOVIRT_DEV_READ | IOVIRT_DEV_WRITE)
#define DR IOVIRT_DEV_READ
#define DW IOVIRT_DEV_WRITE

#endif
