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

/* A freed table page handed out again (the adapter's pool) comes back zeroed,
 * counted, at its own fake physical address; many frees in a row (more than
 * the pool keeps) all come back zeroed too. */
Test(posix, table_pages_reused_zeroed)
{
	struct iovirt_posix *p = th_posix();
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	enum { N = 1500 };
	static uint8_t *pg[N];
	static uint64_t pa[N];
	for (int r = 0; r < 2; r++) {
		for (int k = 0; k < N; k++) {
			pg[k] = ops->table_alloc(p, &pa[k]);
			cr_assert_not_null(pg[k]);
			cr_assert_eq((uintptr_t)pg[k] & 4095, 0);
			cr_assert_eq(pa[k], (uintptr_t)pg[k] + IOVIRT_POSIX_PA_OFFSET);
			for (int i = 0; i < 4096; i++)
				cr_assert_eq(pg[k][i], 0, "page %d byte %d", k, i);
			memset(pg[k], 0xa5, 4096); /* a table's entries, left behind */
		}
		cr_assert_eq(iovirt_posix_live_tables(p), N);
		for (int k = 0; k < N; k++)
			ops->table_free(p, pg[k], pa[k]);
		cr_assert_eq(iovirt_posix_live_tables(p), 0);
	}
	th_posix_done(p);
}

/* Table blocks (host ops v3) are naturally aligned in both address spaces,
 * zeroed, counted as one table, refused for a size that is no power of two,
 * and take part in failure injection. */
Test(posix, table_blocks)
{
	struct iovirt_posix *p = th_posix();
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	cr_assert(IOVIRT_PARAMS_HAS(ops, table_block_free) && ops->table_block_alloc && ops->table_block_free);
	uint64_t pa = 0;
	uint8_t *b = ops->table_block_alloc(p, 16384, &pa);
	cr_assert_not_null(b);
	cr_assert_eq((uintptr_t)b & 16383, 0);
	cr_assert_eq(pa & 16383, 0);
	cr_assert_eq(pa, (uintptr_t)b + IOVIRT_POSIX_PA_OFFSET);
	cr_assert_lt(pa, UINT64_C(1) << 48, "fits Arm's 48-bit output address");
	for (int i = 0; i < 16384; i++)
		cr_assert_eq(b[i], 0);
	cr_assert_eq(iovirt_posix_live_tables(p), 1);
	ops->table_block_free(p, b, pa, 16384);
	cr_assert_eq(iovirt_posix_live_tables(p), 0);
	cr_assert_null(ops->table_block_alloc(p, 12288, &pa));
	iovirt_posix_fail_alloc_at(p, 1);
	cr_assert_null(ops->table_block_alloc(p, 16384, &pa));
	cr_assert(iovirt_posix_fail_fired(p));
	iovirt_posix_fail_alloc_at(p, 0);
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

/* The log is a ring: it keeps the newest events, can be cleared, resized and turned off. */
Test(posix, log_ring)
{
	struct iovirt_posix *p = th_posix();
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	struct iovirt_posix_event ev[4];
	cr_assert_eq(iovirt_posix_log_enable(p, 2), 0);
	for (uint32_t i = 0; i < 3; i++)
		ops->iotlb_inval(p, &(struct iovirt_inval){ .asid = i, .kind = IOVIRT_INVAL_ASID });
	cr_assert_eq(iovirt_posix_log_read(p, ev, 4), 2, "capacity 2");
	cr_assert_eq(ev[0].id, 1, "the oldest was dropped");
	cr_assert_eq(ev[1].id, 2);
	cr_assert_eq(iovirt_posix_log_read(p, ev, 1), 1, "max bounds the copy");
	iovirt_posix_log_clear(p);
	cr_assert_eq(iovirt_posix_log_read(p, ev, 4), 0);
	cr_assert_eq(iovirt_posix_log_enable(p, 0), 0, "off");
	ops->iotlb_inval(p, &(struct iovirt_inval){ .asid = 9, .kind = IOVIRT_INVAL_ASID });
	cr_assert_eq(iovirt_posix_log_read(p, ev, 4), 0);
	cr_assert_eq(iovirt_posix_count(p, IOVIRT_CB_IOTLB_INVAL), 4, "still counted");
	cr_assert_eq(iovirt_posix_count(p, IOVIRT_CB_COUNT_), 0, "out of range");
	th_posix_done(p);
}

/* Guest ranges and device registers: refused arguments, the table limits, widths and bounds. */
Test(posix, ranges_and_registers)
{
	struct iovirt_posix *p = th_posix();
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	static uint8_t mem[16];
	cr_assert_lt(iovirt_posix_guest_add(p, 1, 0, NULL, 16), 0);
	cr_assert_lt(iovirt_posix_guest_add(p, 1, 0, mem, 0), 0);
	cr_assert_lt(iovirt_posix_guest_add(p, 1, UINT64_MAX - 4, mem, 16), 0, "wraps");
	int added = 0;
	while (iovirt_posix_guest_add(p, 1, (uint64_t)added << 12, mem, sizeof(mem)) == 0)
		added++;
	cr_assert_eq(added, 256, "a fixed table of guest ranges");
	uint8_t b[4];
	cr_assert_lt(ops->guest_write(p, 1, 0x10, b, 4), 0, "past the range");
	cr_assert_eq(ops->guest_write(p, 1, 0x4, "abcd", 4), 0);
	cr_assert_eq(memcmp(mem + 4, "abcd", 4), 0);

	uint8_t regs[16] = { 0 };
	uint64_t v = 0;
	cr_assert_lt(iovirt_posix_dev_add(p, 1, NULL, 16), 0);
	cr_assert_lt(iovirt_posix_dev_add(p, 1, regs, 0), 0);
	added = 0;
	while (iovirt_posix_dev_add(p, (uint32_t)added, regs, sizeof(regs)) == 0)
		added++;
	cr_assert_eq(added, 64, "a fixed table of devices");
	cr_assert_lt(ops->reg_read(p, 0, 0, 3, &v), 0, "width 3");
	cr_assert_lt(ops->reg_read(p, 0, 12, 8, &v), 0, "crosses the end");
	cr_assert_lt(ops->reg_read(p, 0, 16, 1, &v), 0, "past the end");
	cr_assert_lt(ops->reg_read(p, 99, 0, 4, &v), 0, "no such device");
	for (unsigned w = 1; w <= 8; w *= 2) {
		cr_assert_eq(ops->reg_write(p, 0, 8, w, 0x1122334455667788ull), 0);
		cr_assert_eq(ops->reg_read(p, 0, 8, w, &v), 0);
		cr_assert_eq(v, 0x1122334455667788ull & (w == 8 ? ~0ull : (1ull << (8 * w)) - 1), "width %u", w);
	}
	cr_assert_lt(ops->reg_write(p, 0, 16, 4, 0), 0);
	th_posix_done(p);
}

/* Guest reads and writes of every length 1-9 at every offset 0-8 move exactly
 * those bytes: the one-load/one-store path of an aligned 2-, 4- or 8-byte field
 * and the memcpy path for the rest (unaligned, other widths) agree. */
Test(posix, guest_widths_and_alignments)
{
	struct iovirt_posix *p = th_posix();
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	_Alignas(8) uint8_t mem[32];
	cr_assert_eq(iovirt_posix_guest_add(p, 3, 0x1000, mem, sizeof(mem)), 0);
	for (size_t len = 1; len <= 9; len++) {
		for (size_t off = 0; off <= 8; off++) {
			uint8_t in[9], out[9];
			for (size_t i = 0; i < sizeof(mem); i++)
				mem[i] = (uint8_t)(0xa0 + i);
			for (size_t i = 0; i < len; i++)
				in[i] = (uint8_t)(len * 16 + off + i);
			cr_assert_eq(ops->guest_write(p, 3, 0x1000 + off, in, len), 0);
			for (size_t i = 0; i < sizeof(mem); i++)
				cr_assert_eq(mem[i], i >= off && i < off + len ? in[i - off] : (uint8_t)(0xa0 + i),
					     "write len %zu off %zu byte %zu", len, off, i);
			cr_assert_eq(ops->guest_read(p, 3, 0x1000 + off, out, len), 0);
			cr_assert_arr_eq(out, in, len, "read len %zu off %zu", len, off);
		}
	}
	th_posix_done(p);
}
