/* SPDX-License-Identifier: MIT */
/* Bounce pool: bounded get/put, copy in after validation, copy out validated again. */
#include <pthread.h>
#include <stdatomic.h>

#include "vt.h"

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
	bool seen[4] = { 0 };
	for (int i = 0; i < 4; i++) {
		ids[i] = iovirt_bounce_get(b);
		cr_assert(ids[i] >= 0 && ids[i] < 4 && !seen[ids[i]]);
		seen[ids[i]] = true;
		cr_assert_eq((uintptr_t)iovirt_bounce_data(b, ids[i]) % 64, 0);
	}
	cr_assert_eq(iovirt_bounce_get(b), IOVIRT_ENOBUF);
	cr_assert_eq(iovirt_bounce_destroy(b), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_bounce_put(b, ids[2]), 0);
	cr_assert_eq(iovirt_bounce_put(b, ids[2]), IOVIRT_EINVAL, "double put");
	cr_assert_eq(iovirt_bounce_put(b, 4), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_bounce_put(b, -1), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_bounce_get(b), ids[2]);
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
	cr_assert_eq(iovirt_bounce_copy_in(b, 1 - id, t.map, sg, 3), IOVIRT_EINVAL, "not taken");
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
		if (c >= 0 && iovirt_bounce_put(r->b, c))
			atomic_fetch_add(&r->errors, 1);
	}
	return NULL;
}

// Gets and puts from several threads never hand one buffer to two holders and lose none.
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
	cr_assert_eq(iovirt_bounce_copy_out(b, 5, t.map, NULL, &sg, 1, 8, NULL), IOVIRT_EINVAL);
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
