/* SPDX-License-Identifier: MIT */
/*
 * AFTER_INVAL reclaim with writers inside: a table page unlinked while
 * another writer is inside is freed by the last writer to leave, never
 * before (issue 10 item 2). A second writer is held inside its own unmap by
 * the host's iotlb_inval callback, deterministically.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>

#include "pt_test.h"

static struct iovirt_host_ops ops;
static void (*posix_inval)(void *, const struct iovirt_inval *);
static atomic_int hold;    /* 1: the next invalidation of ASID 2 blocks until 0 */
static atomic_int holding; /* a writer is blocked in the callback */

static void held_inval(void *host, const struct iovirt_inval *inv)
{
	posix_inval(host, inv);
	if (inv->asid == 2 && atomic_exchange(&hold, 0)) {
		atomic_store(&holding, 1);
		while (atomic_load(&holding))
			sched_yield();
	}
}

static struct iovirt_iommu *io;

static void *held_writer(void *arg)
{
	(void)arg;
	/* Inside until the test lets go: its unmap blocks in the invalidation. */
	cr_assert_eq(iovirt_pt_unmap(io, 2, GiB(5), KiB(4)), KiB(4));
	return NULL;
}

/* Tables unlinked while another writer is inside stay allocated (counted as retired) until
 * that writer leaves; then they are freed, and nothing leaks. */
Test(pt_reclaim, last_writer_frees)
{
	struct iovirt_posix *p = th_posix();
	struct iovirt_iommu_params prm = { .size = sizeof(prm), .reclaim = IOVIRT_RECLAIM_AFTER_INVAL };
	ops = *iovirt_posix_ops();
	posix_inval = ops.iotlb_inval;
	ops.iotlb_inval = held_inval;
	cr_assert_eq(iovirt_iommu_create(&ops, p, &prm, &io), 0);
	cr_assert_eq(iovirt_pt_space_create(io, 1, NULL), 0);
	cr_assert_eq(iovirt_pt_space_create(io, 2, NULL), 0);
	cr_assert_eq(iovirt_pt_map(io, 1, GiB(1), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_map(io, 2, GiB(5), 0, KiB(4), RW), 0);
	const int64_t all = iovirt_posix_live_tables(p); /* 2 roots + 3 + 3 */
	cr_assert_eq(all, 8);

	atomic_store(&hold, 1);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, held_writer, NULL), 0);
	while (!atomic_load(&holding))
		sched_yield();
	/* The other writer is inside now. This unmap empties three tables of ASID 1. */
	cr_assert_eq(iovirt_pt_unmap(io, 1, GiB(1), KiB(4)), KiB(4));
	struct iovirt_pt_stats st;
	iovirt_pt_stats(io, &st);
	cr_assert_eq(st.retired, 3, "ours are pending (the held writer retires its own after its invalidation)");
	cr_assert_eq(iovirt_posix_live_tables(p), all, "nothing freed while a writer is inside");
	cr_assert_eq(iovirt_pt_reclaim(io), 0, "reclaim beside a writer frees nothing either");
	cr_assert_eq(iovirt_posix_live_tables(p), all);

	atomic_store(&holding, 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	iovirt_pt_stats(io, &st);
	cr_assert_eq(st.retired, 0, "the last writer out freed them");
	cr_assert_eq(st.tables, 2);
	cr_assert_eq(iovirt_posix_live_tables(p), 2);
	iovirt_iommu_destroy(io);
	th_posix_done(p);
}

/* Without overlap an unmap frees what it unlinked before returning; the mode getter says AFTER_INVAL. */
Test(pt_reclaim, alone_frees_at_once)
{
	struct pt_fix f;
	pt_fix_init(&f, IOVIRT_RECLAIM_AFTER_INVAL);
	cr_assert_eq(iovirt_iommu_reclaim_mode(f.io), IOVIRT_RECLAIM_AFTER_INVAL);
	pt_fix_space(&f, 1, 48, 0);
	cr_assert_eq(iovirt_pt_map(f.io, 1, GiB(1), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_unmap(f.io, 1, GiB(1), KiB(4)), KiB(4));
	struct iovirt_pt_stats st;
	iovirt_pt_stats(f.io, &st);
	cr_assert_eq(st.retired, 0);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), 1);
	cr_assert_eq(iovirt_pt_space_destroy(f.io, 1), 0);
	cr_assert_eq(iovirt_posix_live_tables(f.posix), 0, "destroy alone frees at once too");
	pt_fix_done(&f);
}
