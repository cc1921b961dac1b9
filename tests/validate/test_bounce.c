/* SPDX-License-Identifier: MIT */
/* Bounce pool: bounded get/put, copy in after validation, copy out validated again. */
#include <pthread.h>
#include <stdatomic.h>

#include "vt.h"
#include "reuse_host.h"

#define G(x) (VT_GPA + (x) * 4096ull)

static struct iovirt_bounce *mkpool(struct vt *t, uint32_t n, size_t size)
{
	struct iovirt_bounce *b;
	struct iovirt_bounce_params bp = { sizeof(bp), n, 0, size };
	cr_assert_eq(iovirt_bounce_create(t->ops, t->p, &bp, &b), 0);
	return b;
}

// Every buffer can be taken once; then the pool says ENOBUF without waiting; puts refill it.
Test(bounce, exhaustion)
{
	struct vt t;
	vt_init(&t);
	struct iovirt_bounce *b = mkpool(&t, 4, 100);
	int64_t mem = iovirt_posix_live_mem(t.p);
	uint64_t allocs = iovirt_posix_count(t.p, IOVIRT_CB_MEM_ALLOC);
	int32_t ids[4];
	uint8_t *data[4];
	for (int i = 0; i < 4; i++) {
		ids[i] = iovirt_bounce_get(b);
		cr_assert_geq(ids[i], 0);
		data[i] = iovirt_bounce_data(b, ids[i]);
		cr_assert_eq((uintptr_t)data[i] % 64, 0);
		for (int j = 0; j < i; j++)
			cr_assert_neq(data[j], data[i], "one buffer handed out twice");
	}
	cr_assert_eq(iovirt_bounce_get(b), IOVIRT_ENOBUF);
	cr_assert_eq(iovirt_bounce_destroy(b), IOVIRT_EBUSY);
	void *d2 = iovirt_bounce_data(b, ids[2]);
	cr_assert_eq(iovirt_bounce_put(b, ids[2]), 0);
	cr_assert_eq(iovirt_bounce_put(b, ids[2]), IOVIRT_ESTALE, "double put");
	cr_assert_eq(iovirt_bounce_put(b, ids[0] ^ (1 << 30)), IOVIRT_ESTALE, "never handed out");
	cr_assert_eq(iovirt_bounce_put(b, -1), IOVIRT_EINVAL);
	int32_t again = iovirt_bounce_get(b);
	cr_assert_eq(iovirt_bounce_data(b, again), d2, "the buffer just put comes back first");
	cr_assert_neq(again, ids[2], "under a new id");
	ids[2] = again;
	for (int i = 0; i < 4; i++)
		cr_assert_eq(iovirt_bounce_put(b, ids[i]), 0);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_MEM_ALLOC), allocs, "no allocation after create");
	cr_assert_eq(iovirt_posix_live_mem(t.p), mem);
	cr_assert_eq(iovirt_bounce_destroy(b), 0);
	vt_fini(&t);
}

// Bad parameters are EINVAL; failing any allocation of create leaks nothing.
Test(bounce, create)
{
	struct vt t;
	vt_init(&t);
	struct iovirt_bounce *b = NULL;
	struct iovirt_bounce_params bp = { sizeof(bp), 0, 0, 64 };
	cr_assert_eq(iovirt_bounce_create(t.ops, t.p, &bp, &b), IOVIRT_EINVAL);
	bp.nbufs = 2;
	bp.buf_size = 0;
	cr_assert_eq(iovirt_bounce_create(t.ops, t.p, &bp, &b), IOVIRT_EINVAL);
	bp.buf_size = 64;
	for (uint64_t n = 1; n <= 3; n++) {
		iovirt_posix_fail_alloc_at(t.p, n);
		cr_assert_eq(iovirt_bounce_create(t.ops, t.p, &bp, &b), IOVIRT_ENOMEM);
		iovirt_posix_fail_alloc_at(t.p, 0);
	}
	cr_assert_null(b);
	vt_fini(&t);
}

// Copy in gathers the device-readable entries; copy out scatters into the writable ones.
Test(bounce, copy_in_out)
{
	struct vt t;
	vt_init(&t);
	vt_add(&t, G(0), 8 * 4096, IOVIRT_REGION_RAM, RW);
	struct iovirt_bounce *b = mkpool(&t, 2, 2000);
	for (int i = 0; i < 4096; i++)
		t.mem[4096 + i] = (uint8_t)i;
	struct iovirt_seg segs[3] = { { G(1), 1000, DR, 0 }, { G(1) + 2000, 500, DR, 0 },
				      { G(3) + 10, 1200, DW, 0 } };
	struct iovirt_host_seg sg[4];
	int n = iovirt_sg_validate(t.map, NULL, segs, 3, sg, 4, NULL);
	cr_assert_eq(n, 3);
	int32_t id = iovirt_bounce_get(b);
	cr_assert_eq(iovirt_bounce_copy_in(b, id, t.map, sg, 3), 1500);
	uint8_t *d = iovirt_bounce_data(b, id);
	cr_assert_arr_eq(d, t.mem + 4096, 1000);
	cr_assert_arr_eq(d + 1000, t.mem + 4096 + 2000, 500);
	memset(d, 0xab, 2000);
	struct iovirt_dma_result res;
	cr_assert_eq(iovirt_bounce_copy_out(b, id, t.map, NULL, sg, 3, 1100, &res), 1100);
	cr_assert_eq(t.mem[3 * 4096 + 10], 0xab);
	cr_assert_eq(t.mem[3 * 4096 + 10 + 1099], 0xab);
	cr_assert_eq(t.mem[3 * 4096 + 10 + 1100], 0, "nothing past len");
	cr_assert_eq(iovirt_bounce_copy_out(b, id, t.map, NULL, sg, 3, 1201, &res), IOVIRT_ETOOBIG);
	/* more device-readable bytes than a buffer holds: nothing copied */
	struct iovirt_seg big = { G(4), 2001, DR, 0 };
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, &big, 1, sg + 3, 1, NULL), 1);
	cr_assert_eq(iovirt_bounce_copy_in(b, id, t.map, sg + 3, 1), IOVIRT_ETOOBIG);
	int32_t free_id = iovirt_bounce_get(b);
	cr_assert_eq(iovirt_bounce_put(b, free_id), 0);
	cr_assert_eq(iovirt_bounce_copy_in(b, free_id, t.map, sg, 3), IOVIRT_ESTALE, "not taken");
	cr_assert_eq(iovirt_bounce_put(b, id), 0);
	cr_assert_eq(iovirt_bounce_destroy(b), 0);
	vt_fini(&t);
}

// Copy out checks the map again: a region removed or made read-only since is refused, nothing written.
Test(bounce, copy_out_revalidates)
{
	struct vt t;
	vt_init(&t);
	vt_add(&t, G(0), 2 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(&t, G(4), 2 * 4096, IOVIRT_REGION_RAM, RW);
	struct iovirt_bounce *b = mkpool(&t, 1, 8192);
	struct iovirt_seg segs[2] = { { G(0), 100, DW, 0 }, { G(4), 100, DW, 0 } };
	struct iovirt_host_seg sg[2];
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, segs, 2, sg, 2, NULL), 2);
	int32_t id = iovirt_bounce_get(b);
	memset(iovirt_bounce_data(b, id), 0xcd, 200);
	/* the guest gives the second region back; then asks for it read-only */
	cr_assert_eq(iovirt_gmap_remove(t.map, G(4)), 0);
	struct iovirt_dma_result res;
	cr_assert_eq(iovirt_bounce_copy_out(b, id, t.map, NULL, sg, 2, 200, &res), IOVIRT_ENOREGION);
	cr_assert_eq(res.seg, 1);
	cr_assert_eq(t.mem[0], 0, "nothing written before the check failed");
	vt_add(&t, G(4), 2 * 4096, IOVIRT_REGION_RAM, DR);
	cr_assert_eq(iovirt_bounce_copy_out(b, id, t.map, NULL, sg, 2, 200, &res), IOVIRT_EREADONLY);
	cr_assert_eq(t.mem[0], 0);
	/* only the first entry receives bytes: the second is not needed */
	cr_assert_eq(iovirt_bounce_copy_out(b, id, t.map, NULL, sg, 2, 100, &res), 100);
	cr_assert_eq(t.mem[99], 0xcd);
	iovirt_bounce_put(b, id);
	iovirt_bounce_destroy(b);
	vt_fini(&t);
}

// Regions without a host pointer are copied through guest_read and guest_write.
Test(bounce, through_host_callbacks)
{
	struct vt t;
	vt_init(&t);
	struct iovirt_region r = vt_region(&t, G(0), 4 * 4096, IOVIRT_REGION_RAM, RW);
	r.hva = NULL;
	r.flags = IOVIRT_REGION_HPA;
	r.hpa = 0x80000000;
	cr_assert_eq(iovirt_gmap_add(t.map, &r), 0);
	struct iovirt_bounce *b = mkpool(&t, 1, 4096);
	memset(t.mem + 4096, 0x11, 64);
	struct iovirt_seg segs[2] = { { G(1), 64, DR, 0 }, { G(2), 64, DW, 0 } };
	struct iovirt_host_seg sg[2];
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, segs, 2, sg, 2, NULL), 2);
	cr_assert_null(sg[0].hva);
	int32_t id = iovirt_bounce_get(b);
	uint64_t rd = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ);
	uint64_t wr = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_WRITE);
	cr_assert_eq(iovirt_bounce_copy_in(b, id, t.map, sg, 2), 64);
	cr_assert_eq(iovirt_bounce_copy_out(b, id, t.map, NULL, sg, 2, 64, NULL), 64);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ), rd + 1);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_GUEST_WRITE), wr + 1);
	cr_assert_arr_eq(t.mem + 2 * 4096, t.mem + 4096, 64);
	iovirt_bounce_put(b, id);
	iovirt_bounce_destroy(b);
	vt_fini(&t);
}

struct pool_race {
	struct iovirt_bounce *b;
	uint32_t nbufs;
	_Atomic int errors;
};

static void *racer(void *arg)
{
	struct pool_race *r = arg;
	for (int i = 0; i < 20000; i++) {
		int32_t a = iovirt_bounce_get(r->b), c = iovirt_bounce_get(r->b);
		/* a buffer is never handed to two holders: stamp and check */
		if (a >= 0)
			*(volatile int32_t *)iovirt_bounce_data(r->b, a) = a;
		if (c >= 0)
			*(volatile int32_t *)iovirt_bounce_data(r->b, c) = c;
		if (a >= 0 && *(volatile int32_t *)iovirt_bounce_data(r->b, a) != a)
			atomic_fetch_add(&r->errors, 1);
		if (a >= 0 && a == c)
			atomic_fetch_add(&r->errors, 1);
		if (a >= 0 && iovirt_bounce_put(r->b, a))
			atomic_fetch_add(&r->errors, 1);
		/* a late second put while another thread may already hold the buffer again:
		 * refused, never a release of that holder's buffer */
		if (a >= 0 && iovirt_bounce_put(r->b, a) != IOVIRT_ESTALE)
			atomic_fetch_add(&r->errors, 1);
		if (c >= 0 && iovirt_bounce_put(r->b, c))
			atomic_fetch_add(&r->errors, 1);
	}
	return NULL;
}

// Gets and puts from several threads never hand one buffer to two holders and lose none; a
// late second put of an id is refused even when another thread holds its buffer again.
Test(bounce, threads)
{
	struct vt t;
	vt_init(&t);
	struct pool_race r = { .b = mkpool(&t, 5, 64), .nbufs = 5 };
	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, racer, &r);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(atomic_load(&r.errors), 0);
	int32_t got[5];
	for (int i = 0; i < 5; i++)
		cr_assert_geq(got[i] = iovirt_bounce_get(r.b), 0, "a buffer was lost");
	cr_assert_eq(iovirt_bounce_get(r.b), IOVIRT_ENOBUF);
	for (int i = 0; i < 5; i++)
		iovirt_bounce_put(r.b, got[i]);
	cr_assert_eq(iovirt_bounce_destroy(r.b), 0);
	vt_fini(&t);
}

// Every malformed argument of the pool's calls is EINVAL (or ENOSYS for a host without memory), touching nothing.
Test(bounce, argument_refusals)
{
	struct vt t;
	vt_init(&t);
	vt_add(&t, G(0), 4 * 4096, IOVIRT_REGION_RAM, RW);
	struct iovirt_bounce *b = NULL;
	struct iovirt_bounce_params bp = { sizeof(bp), 2, 0, 64 };
	cr_assert_eq(iovirt_bounce_create(NULL, t.p, &bp, &b), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_bounce_create(t.ops, t.p, NULL, &b), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_bounce_create(t.ops, t.p, &bp, NULL), IOVIRT_EINVAL);
	bp.size = 4;
	cr_assert_eq(iovirt_bounce_create(t.ops, t.p, &bp, &b), IOVIRT_EINVAL, "params too small");
	bp = (struct iovirt_bounce_params){ sizeof(bp), (1u << 24) + 1, 0, 64 };
	cr_assert_eq(iovirt_bounce_create(t.ops, t.p, &bp, &b), IOVIRT_EINVAL, "too many buffers");
	bp = (struct iovirt_bounce_params){ sizeof(bp), 2, 0, ((size_t)1 << 30) + 1 };
	cr_assert_eq(iovirt_bounce_create(t.ops, t.p, &bp, &b), IOVIRT_EINVAL, "buffer too large");
	struct iovirt_host_ops small = *t.ops;
	small.mem_alloc = NULL;
	bp = (struct iovirt_bounce_params){ sizeof(bp), 2, 0, 64 };
	cr_assert_eq(iovirt_bounce_create(&small, t.p, &bp, &b), IOVIRT_ENOSYS);
	cr_assert_null(b);
	cr_assert_eq(iovirt_bounce_destroy(NULL), 0);

	b = mkpool(&t, 2, 64);
	cr_assert_null(iovirt_bounce_data(b, -1));
	cr_assert_null(iovirt_bounce_data(b, 2));
	cr_assert_eq(iovirt_bounce_buf_size(b), 64);
	int32_t id = iovirt_bounce_get(b);
	struct iovirt_seg seg = { G(1), 32, RW, 0 };
	struct iovirt_host_seg sg;
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, &seg, 1, &sg, 1, NULL), 1);
	struct iovirt_dma_result res;
	cr_assert_eq(iovirt_bounce_copy_in(NULL, id, t.map, &sg, 1), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_bounce_copy_in(b, id, NULL, &sg, 1), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_bounce_copy_in(b, id, t.map, NULL, 1), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_bounce_copy_in(b, -1, t.map, &sg, 1), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_bounce_copy_in(b, id, t.map, NULL, 0), 0, "an empty list");
	cr_assert_eq(iovirt_bounce_copy_out(NULL, id, t.map, NULL, &sg, 1, 8, &res), IOVIRT_EINVAL);
	cr_assert_eq(res.err, IOVIRT_EINVAL);
	cr_assert_eq(iovirt_bounce_copy_out(b, id, NULL, NULL, &sg, 1, 8, NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_bounce_copy_out(b, id, t.map, NULL, NULL, 1, 8, NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_bounce_copy_out(b, -1, t.map, NULL, &sg, 1, 8, NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_bounce_copy_out(b, id, t.map, NULL, &sg, 1, 65, NULL), IOVIRT_ETOOBIG,
		     "more than a buffer");
	cr_assert_eq(iovirt_bounce_copy_out(b, id, t.map, NULL, &sg, 1, 33, NULL), IOVIRT_ETOOBIG,
		     "more than the list takes");
	cr_assert_eq(iovirt_bounce_put(b, id), 0);
	cr_assert_eq(iovirt_bounce_destroy(b), 0);
	vt_fini(&t);
}

// A region copied through the host whose guest_read/guest_write fail (or are absent) gives EGUEST.
Test(bounce, host_copy_failures)
{
	struct vt t;
	vt_init(&t);
	/* a region outside the buffer the host backs: no hva, and the host's copy fails */
	struct iovirt_region r = vt_region(&t, 0x10000000, 4 * 4096, IOVIRT_REGION_RAM, RW);
	cr_assert_null(r.hva);
	cr_assert_eq(iovirt_gmap_add(t.map, &r), 0);
	struct iovirt_bounce *b = mkpool(&t, 1, 4096);
	struct iovirt_seg segs[2] = { { 0x10000000, 64, DR, 0 }, { 0x10001000, 64, DW, 0 } };
	struct iovirt_host_seg sg[2];
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, segs, 2, sg, 2, NULL), 2);
	int32_t id = iovirt_bounce_get(b);
	cr_assert_eq(iovirt_bounce_copy_in(b, id, t.map, sg, 2), IOVIRT_EGUEST);
	cr_assert_eq(iovirt_bounce_copy_out(b, id, t.map, NULL, sg, 2, 64, NULL), IOVIRT_EGUEST);
	iovirt_bounce_put(b, id);
	iovirt_bounce_destroy(b);
	vt_fini(&t);
}

/* ---- ids unique across reuse (issue 10: every id handed out is unique) ---- */

/* A guest with a readable page at G(1) (0x11 bytes) and a writable one at G(2); sg[0] reads
 * 32 bytes of G(1), sg[1] receives up to 32 bytes at G(2). */
static void stale_fixture(struct vt *t, struct iovirt_host_seg sg[2])
{
	vt_add(t, G(0), 4 * 4096, IOVIRT_REGION_RAM, RW);
	memset(t->mem + 4096, 0x11, 4096);
	struct iovirt_seg segs[2] = { { G(1), 32, DR, 0 }, { G(2), 32, DW, 0 } };
	cr_assert_eq(iovirt_sg_validate(t->map, NULL, segs, 2, sg, 2, NULL), 2);
}

/* id no longer names a hold: put, copy_in, copy_out say ESTALE, data NULL. */
static void assert_refused(struct vt *t, struct iovirt_bounce *b, int32_t id,
			   const struct iovirt_host_seg sg[2])
{
	struct iovirt_dma_result res = { 0 };
	cr_assert_geq(id, 0);
	cr_assert_null(iovirt_bounce_data(b, id), "data of stale id %d", (int)id);
	cr_assert_eq(iovirt_bounce_copy_in(b, id, t->map, sg, 2), IOVIRT_ESTALE, "copy_in %d", (int)id);
	cr_assert_eq(iovirt_bounce_copy_out(b, id, t->map, NULL, sg, 2, 8, &res), IOVIRT_ESTALE,
		     "copy_out %d", (int)id);
	cr_assert_eq(res.err, IOVIRT_ESTALE);
	cr_assert_eq(iovirt_bounce_put(b, id), IOVIRT_ESTALE, "put %d", (int)id);
}

/* id names a hold: data, copy_in and copy_out work on its buffer. */
static void assert_works(struct vt *t, struct iovirt_bounce *b, int32_t id,
			 const struct iovirt_host_seg sg[2])
{
	uint8_t *d = iovirt_bounce_data(b, id);
	cr_assert_not_null(d, "data of live id %d", (int)id);
	cr_assert_eq(iovirt_bounce_copy_in(b, id, t->map, sg, 2), 32);
	cr_assert_eq(d[31], 0x11);
	cr_assert_eq(iovirt_bounce_copy_out(b, id, t->map, NULL, sg, 2, 8, NULL), 8);
	cr_assert_eq(t->mem[2 * 4096 + 7], 0x11);
}

#define LOOP_IDS 1000

// get/put/get on one buffer: each id handed out is refused after its put by put, copy_in, copy_out
// and data, changing nothing of the buffer's next holder, while the holder's own id works.
Test(bounce, stale_ids_refused)
{
	struct vt t;
	vt_init(&t);
	struct iovirt_host_seg sg[2];
	stale_fixture(&t, sg);
	struct iovirt_bounce *b = mkpool(&t, 4, 64);
	int32_t other = iovirt_bounce_get(b); /* a second holder, untouched throughout */
	int32_t *ids = malloc(LOOP_IDS * sizeof(*ids));
	cr_assert_not_null(ids);
	for (int i = 0; i < LOOP_IDS; i++) {
		int32_t id = ids[i] = iovirt_bounce_get(b);
		cr_assert_geq(id, 0);
		cr_assert_neq(id, other);
		assert_works(&t, b, id, sg);
		/* while this buffer is held again, every earlier id of it (and of the pool) is
		 * refused and changes neither the holder's bytes nor guest memory nor the hold */
		uint8_t *d = iovirt_bounce_data(b, id);
		memset(d, 0xee, 64);
		memset(t.mem + 2 * 4096, 0, 64);
		for (int j = 0; j < i; j++) {
			cr_assert_neq(ids[j], id, "id %d handed out twice (%d, %d)", (int)id, j, i);
			assert_refused(&t, b, ids[j], sg);
		}
		for (int k = 0; k < 64; k++)
			cr_assert_eq(d[k], 0xee, "a stale copy_in wrote the holder's buffer");
		for (int k = 0; k < 64; k++)
			cr_assert_eq(t.mem[2 * 4096 + k], 0, "a stale copy_out wrote guest memory");
		cr_assert_eq(iovirt_bounce_put(b, id), 0, "a stale put released the holder's buffer");
		assert_refused(&t, b, id, sg);
	}
	/* no stale put freed anything: the pool still holds exactly `other` */
	int32_t got[3];
	for (int i = 0; i < 3; i++)
		cr_assert_geq(got[i] = iovirt_bounce_get(b), 0);
	cr_assert_eq(iovirt_bounce_get(b), IOVIRT_ENOBUF);
	assert_works(&t, b, other, sg);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(iovirt_bounce_put(b, got[i]), 0);
	cr_assert_eq(iovirt_bounce_put(b, other), 0);
	cr_assert_eq(iovirt_bounce_destroy(b), 0);
	free(ids);
	vt_fini(&t);
}

#define NPOOLS 10000
#define PBUFS 4

// Pools created and destroyed in a loop land at the same address; every id an earlier pool handed
// out is refused by each later one, even while all the later pool's buffers are held.
Test(bounce, ids_unique_across_pools, .timeout = 300)
{
	struct vt t;
	vt_init(&t);
	struct iovirt_host_seg sg[2];
	stale_fixture(&t, sg);
	int32_t(*ids)[PBUFS] = malloc(NPOOLS * sizeof(*ids));
	cr_assert_not_null(ids);
	/* Pools come from an allocator that gives a freed block straight back, as
	 * many do (a sanitizer's quarantine never would): a new pool lands where
	 * the last one was. */
	struct reuse_host ra;
	ra_init(&ra, t.p);
	struct iovirt_bounce_params bp = { sizeof(bp), PBUFS, 0, 64 };
	void *prev = NULL;
	int same = 0;
	for (int j = 0; j < NPOOLS; j++) {
		struct iovirt_bounce *b;
		cr_assert_eq(iovirt_bounce_create(&ra.ops, &ra, &bp, &b), 0);
		same += (void *)b == prev;
		prev = b;
		/* a few rounds first, so pools differ in how far their buffers moved on */
		for (int r = 0; r < j % 3; r++) {
			int32_t x = iovirt_bounce_get(b);
			cr_assert_eq(iovirt_bounce_put(b, x), 0);
		}
		for (int k = 0; k < PBUFS; k++) {
			ids[j][k] = iovirt_bounce_get(b);
			cr_assert_not_null(iovirt_bounce_data(b, ids[j][k]));
		}
		/* 2 * 10^8 calls in all: a plain loop, the assertion once per pool */
		int accepted = -1;
		const int32_t *flat = &ids[0][0];
		for (int i = 0; i < j * PBUFS && accepted < 0; i++)
			if (iovirt_bounce_data(b, flat[i]))
				accepted = i;
		cr_assert_lt(accepted, 0, "pool %d accepts id %d of pool %d", j,
			     accepted < 0 ? 0 : (int)flat[accepted], accepted / PBUFS);
		if (j)
			for (int k = 0; k < PBUFS; k++)
				assert_refused(&t, b, ids[j - 1][k], sg);
		for (int k = 0; k < PBUFS; k++)
			assert_works(&t, b, ids[j][k], sg);
		for (int k = 0; k < PBUFS; k++)
			cr_assert_eq(iovirt_bounce_put(b, ids[j][k]), 0);
		cr_assert_eq(iovirt_bounce_destroy(b), 0);
	}
	cr_assert_eq(same, NPOOLS - 1, "every pool must land where the previous one was");
	ra_fini(&ra);
	free(ids);
	vt_fini(&t);
}

// The header's bound: with index_bits = 17 (65537 buffers), one buffer's ids repeat only after
// 2^(31 - 17) holds; every id before that is distinct, non-negative and names the same index.
Test(bounce, id_bound)
{
	struct vt t;
	vt_init(&t);
	struct iovirt_bounce *b = mkpool(&t, 65537, 1);
	int32_t first = iovirt_bounce_get(b);
	cr_assert_geq(first, 0);
	cr_assert_eq(iovirt_bounce_put(b, first), 0);
	uint32_t idx = (uint32_t)first & ((1u << 17) - 1);
	uint32_t holds = 1u << (31 - 17);
	uint8_t *seen = calloc(holds, 1);
	cr_assert_not_null(seen);
	seen[(uint32_t)first >> 17] = 1;
	for (uint32_t n = 1; n < holds; n++) {
		int32_t id = iovirt_bounce_get(b); /* LIFO: the buffer just put */
		cr_assert_geq(id, 0);
		cr_assert_eq((uint32_t)id & ((1u << 17) - 1), idx);
		cr_assert_eq(seen[(uint32_t)id >> 17], 0, "id %d repeats after %u holds", (int)id, n);
		seen[(uint32_t)id >> 17] = 1;
		cr_assert_eq(iovirt_bounce_put(b, id), 0);
	}
	cr_assert_eq(iovirt_bounce_get(b), first, "the bound is exact: the 2^14-th hold repeats");
	cr_assert_eq(iovirt_bounce_put(b, first), 0);
	free(seen);
	cr_assert_eq(iovirt_bounce_destroy(b), 0);
	vt_fini(&t);
}

// An index the pool does not have (the id's low index_bits >= nbufs) is EINVAL, not ESTALE.
Test(bounce, id_index_out_of_range)
{
	struct vt t;
	vt_init(&t);
	struct iovirt_host_seg sg[2];
	stale_fixture(&t, sg);
	struct iovirt_bounce *b = mkpool(&t, 3, 64); /* index_bits 2: index 3 does not exist */
	int32_t id = iovirt_bounce_get(b);
	int32_t bad = (int32_t)(((uint32_t)id & ~3u) | 3u);
	cr_assert_null(iovirt_bounce_data(b, bad));
	cr_assert_eq(iovirt_bounce_put(b, bad), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_bounce_copy_in(b, bad, t.map, sg, 2), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_bounce_copy_out(b, bad, t.map, NULL, sg, 2, 8, NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_bounce_put(b, INT32_MIN), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_bounce_put(b, id), 0);
	cr_assert_eq(iovirt_bounce_destroy(b), 0);
	vt_fini(&t);
}
