/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <string.h>

#include "testhost.h"

/* Table pages are aligned, zeroed, have fake physical addresses and are counted. */
Test(posix, table_pages)
{
	struct iovirt_posix *p = th_posix();
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	uint64_t pa = 0;
	uint8_t *pg = ops->table_alloc(p, &pa);
	cr_assert_not_null(pg);
	cr_assert_eq((uintptr_t)pg & 4095, 0);
	cr_assert_eq(pa, (uintptr_t)pg + IOVIRT_POSIX_PA_OFFSET);
	for (int i = 0; i < 4096; i++)
		cr_assert_eq(pg[i], 0);
	cr_assert_eq(iovirt_posix_live_tables(p), 1);
	ops->table_free(p, pg, pa);
	cr_assert_eq(iovirt_posix_count(p, IOVIRT_CB_TABLE_ALLOC), 1);
	cr_assert_eq(iovirt_posix_count(p, IOVIRT_CB_TABLE_FREE), 1);
	th_posix_done(p);
}

/* Exactly the nth allocation fails, and the adapter says it fired. */
Test(posix, fail_nth_alloc)
{
	struct iovirt_posix *p = th_posix();
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	iovirt_posix_fail_alloc_at(p, 2);
	void *a = ops->mem_alloc(p, 24, 8);
	cr_assert_not(iovirt_posix_fail_fired(p));
	void *b = ops->mem_alloc(p, 24, 8);
	void *c = ops->mem_alloc(p, 24, 8);
	cr_assert_not_null(a);
	cr_assert_null(b);
	cr_assert_not_null(c);
	cr_assert(iovirt_posix_fail_fired(p));
	ops->mem_free(p, a, 24);
	ops->mem_free(p, c, 24);
	th_posix_done(p);
}

/* The log keeps callbacks in order; guest memory reads go to the registered range only. */
Test(posix, log_and_guest_memory)
{
	struct iovirt_posix *p = th_posix();
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	uint8_t mem[64];
	for (int i = 0; i < 64; i++)
		mem[i] = (uint8_t)i;
	cr_assert_eq(iovirt_posix_guest_add(p, 3, 0x1000, mem, sizeof(mem)), 0);
	cr_assert_eq(iovirt_posix_log_enable(p, 8), 0);
	uint8_t buf[4];
	cr_assert_eq(ops->guest_read(p, 3, 0x1010, buf, 4), 0);
	cr_assert_eq(buf[0], 16);
	cr_assert_lt(ops->guest_read(p, 3, 0x103e, buf, 4), 0, "crosses the end");
	cr_assert_lt(ops->guest_read(p, 4, 0x1010, buf, 4), 0, "another guest");
	struct iovirt_inval inv = { .asid = 5, .kind = IOVIRT_INVAL_RANGE, .iova = 0x2000, .size = 0x1000, .leaf_only = 1 };
	ops->iotlb_inval(p, &inv);
	struct iovirt_posix_event ev[8];
	size_t n = iovirt_posix_log_read(p, ev, 8);
	cr_assert_eq(n, 4);
	cr_assert_eq(ev[0].cb, IOVIRT_CB_GUEST_READ);
	cr_assert_eq(ev[0].a, 0x1010);
	cr_assert_lt(ev[1].result, 0);
	cr_assert_eq(ev[3].cb, IOVIRT_CB_IOTLB_INVAL);
	cr_assert_eq(ev[3].id, 5);
	cr_assert_eq(ev[3].c, IOVIRT_INVAL_RANGE | 1u << 8);
	th_posix_done(p);
}
