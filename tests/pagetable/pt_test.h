/* SPDX-License-Identifier: MIT */
/* Fixtures shared by the page-table tests. */
#ifndef IOVIRT_PT_TEST_H
#define IOVIRT_PT_TEST_H

#include <criterion/criterion.h>

#include "testhost.h"

#define KiB(x) ((uint64_t)(x) << 10)
#define MiB(x) ((uint64_t)(x) << 20)
#define GiB(x) ((uint64_t)(x) << 30)
#define RW (IOVIRT_PROT_READ | IOVIRT_PROT_WRITE)

/* The table format the fixtures create: the model, failure and flush tests are
 * built once per format (tests/pagetable/meson.build sets PT_TEST_FORMAT). */
#ifndef PT_TEST_FORMAT
#define PT_TEST_FORMAT IOVIRT_PT_FMT_VTD_SL
#endif

/* The widths a format takes: Arm stage 2 (4 KiB granule) has no 57-bit input,
 * so a test asking for 57 bits gets the widest it has. */
static inline uint32_t pt_test_width(uint32_t width)
{
	return PT_TEST_FORMAT == IOVIRT_PT_FMT_ARM_S2 && width == 57 ? 48 : width;
}

struct pt_fix {
	struct iovirt_posix *posix;
	struct iovirt_iommu *io;
};

static inline void pt_fix_init(struct pt_fix *f, uint32_t reclaim)
{
	f->posix = th_posix();
	struct iovirt_iommu_params p = { .size = sizeof(p), .format = PT_TEST_FORMAT, .reclaim = reclaim };
	cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), f->posix, &p, &f->io), 0);
}

/* The same with no kept tables (IOVIRT_PT_KEEP_OFF): every table an unmap
 * empties is unlinked at once, for the tests of that path. */
static inline void pt_fix_init_nokeep(struct pt_fix *f, uint32_t reclaim)
{
	f->posix = th_posix();
	struct iovirt_iommu_params p = { .size = sizeof(p), .format = PT_TEST_FORMAT, .reclaim = reclaim,
					 .keep_tables = IOVIRT_PT_KEEP_OFF };
	cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), f->posix, &p, &f->io), 0);
}

static inline void pt_fix_space(struct pt_fix *f, uint32_t asid, uint32_t width, uint64_t pgsizes)
{
	struct iovirt_space_params sp = { .size = sizeof(sp), .width = pt_test_width(width), .pgsizes = pgsizes };
	cr_assert_eq(iovirt_pt_space_create(f->io, asid, &sp), 0);
}

static inline void pt_fix_done(struct pt_fix *f)
{
	iovirt_iommu_destroy(f->io);
	th_posix_done(f->posix);
}

/* Snapshot of a space's tables, to compare before and after a failed call. */
struct pt_snap {
	uint64_t n;
	struct iovirt_pt_table t[4096];
};

static inline int pt_snap_one(void *arg, const struct iovirt_pt_table *t)
{
	struct pt_snap *s = arg;
	if (s->n < 4096)
		s->t[s->n] = *t;
	s->n++;
	return 0;
}

static inline void pt_snap_take(struct pt_fix *f, uint32_t asid, struct pt_snap *s)
{
	s->n = 0;
	cr_assert_eq(iovirt_pt_foreach_table(f->io, asid, pt_snap_one, s), 0);
}

#endif
