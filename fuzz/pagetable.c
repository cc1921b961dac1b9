/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: an operation sequence from the input (map, unmap, split,
 * translate, an injected allocation failure) run against the library and the
 * reference model of tests/pagetable/ptmodel.h. Every result must match the
 * model; after every operation the hardware tables over the range it covered
 * (a page wider on each side) hold exactly the model's pages there; every
 * unmap must obey the flush discipline (one invalidation that covers what it
 * cleared, table pages released only after it, and only pages that were
 * tables); at the end of the input the whole space matches the model and
 * nothing leaks.
 *
 * Speed (it ran 400 inputs a second when the model was a 4 MiB array that
 * every input reset and large maps filled page by page): the model is a
 * sorted list of runs, emptied for free; checks read what an operation
 * covered; the adapter and iommu live across inputs (a space per input);
 * checking code carries no coverage instrumentation.
 *
 * The table format comes from the input (the second byte): VT-d, AMD-Vi v1,
 * Arm stage 2 or RISC-V G-stage, one iommu of each kept across inputs; the
 * raw-table checks below read each format's entries as its specification
 * lays them out (written here, not taken from lib/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

FUZZ_CHECKER_BEGIN
static uint32_t fz_format = IOVIRT_PT_FMT_VTD_SL; /* of the input under test */
#define PT_TEST_FORMAT fz_format
#define PTM_WINDOW (UINT64_C(1) << 30)
#include "../tests/pagetable/ptmodel.h"
#include "../tests/common/hw_walk.h"

/* ---- each format's entries, from its specification ---- */

static uint64_t fz_present_bits(void)
{
	return fz_format == IOVIRT_PT_FMT_VTD_SL ? 7 : 1; /* VT-d: R|W|X; the others: bit 0 */
}

/* A present entry above level 1 points to a table (not a large leaf). */
static bool fz_is_table(uint64_t e)
{
	switch (fz_format) {
	case IOVIRT_PT_FMT_AMD_V1:
		return ((e >> 9) & 7) != 0; /* Next Level */
	case IOVIRT_PT_FMT_ARM_S2:
		return (e & 2) != 0; /* 0b11 table, 0b01 block */
	case IOVIRT_PT_FMT_RISCV_G:
		return (e & 0xe) == 0; /* R = W = X = 0 */
	default:
		return !(e & (1u << 7)); /* PS */
	}
}

static uint64_t fz_table_pa(uint64_t e)
{
	switch (fz_format) {
	case IOVIRT_PT_FMT_ARM_S2:
		return e & UINT64_C(0x0000fffffffff000);
	case IOVIRT_PT_FMT_RISCV_G:
		return ((e >> 10) & ((UINT64_C(1) << 44) - 1)) << 12;
	default:
		return e & UINT64_C(0x000ffffffffff000);
	}
}

/* A table entry at `level` carries exactly what iovirt's docs say. */
static bool fz_table_entry_ok(uint64_t e, unsigned level)
{
	switch (fz_format) {
	case IOVIRT_PT_FMT_AMD_V1: /* PR, IR, IW, Next Level = level - 1 */
		return (e & ~UINT64_C(0x000ffffffffff000)) == (1 | (UINT64_C(3) << 61) | ((uint64_t)(level - 1) << 9));
	case IOVIRT_PT_FMT_ARM_S2:
		return (e & ~UINT64_C(0x0000fffffffff000)) == 3;
	case IOVIRT_PT_FMT_RISCV_G:
		return (e & 0x3ff) == 1 && !(e >> 54);
	default:
		return (e & 3) == 3;
	}
}

/* The leaf iovirt must write for pa/prot at level: the bits compared (*mask)
 * and the step from one page's entry to the next one's (*step). */
static uint64_t fz_leaf(uint64_t pa, unsigned prot, unsigned level, uint64_t *mask, uint64_t *step)
{
	const uint64_t span = UINT64_C(1) << (12 + 9 * (level - 1));
	*step = span;
	switch (fz_format) {
	case IOVIRT_PT_FMT_AMD_V1: /* PR, NL 0, FC, IR, IW */
		*mask = UINT64_C(0x000ffffffffff000) | 1 | (UINT64_C(7) << 9) | (UINT64_C(7) << 60);
		return pa | 1 | (UINT64_C(1) << 60) | ((uint64_t)prot << 61);
	case IOVIRT_PT_FMT_ARM_S2: /* 0b11 page / 0b01 block, MemAttr 1111, S2AP, SH 11, AF */
		*mask = UINT64_C(0x0000fffffffff000) | 0x7ff | (UINT64_C(3) << 53);
		return pa | (level == 1 ? 3 : 1) | (0xf << 2) | ((uint64_t)prot << 6) | (3 << 8) | (1 << 10);
	case IOVIRT_PT_FMT_RISCV_G: /* V, R, W, X clear, U, A, D; PPN at bit 10 */
		*mask = UINT64_C(0x003fffffffffffff) | (UINT64_C(0x3ff) << 54);
		*step = span >> 2;
		return ((pa >> 12) << 10) | 1 | ((uint64_t)prot << 1) | 0xd0;
	default:
		*mask = IOVIRT_VTD_SL_ADDR_MASK | IOVIRT_VTD_SL_R | IOVIRT_VTD_SL_W | IOVIRT_VTD_SL_PS;
		return pa | prot | (level > 1 ? IOVIRT_VTD_SL_PS : 0);
	}
}

static struct ptm model;
static struct iovirt_posix_event events[4096];
static uint32_t width; /* of the space under test */

/*
 * The table pages the space links, by physical address, learnt while walking
 * the hardware tables after each operation (every table is created by a map
 * or split, inside the range walked after it): what a released page was.
 * Open addressing; an entry is live when its gen is the current input's, so
 * starting a new input costs nothing.
 */
#define TABS 4096u
struct tab {
	uint64_t pa, iova;
	uint32_t level, gen;
};
static struct tab tabs[TABS];
static uint32_t tgen, ntabs;

static size_t tab_home(uint64_t pa)
{
	return (size_t)(((pa >> 12) * UINT64_C(0x9e3779b97f4a7c15)) >> 52) & (TABS - 1);
}

static struct tab *tab_find(uint64_t pa)
{
	for (size_t i = tab_home(pa); tabs[i].gen == tgen; i = (i + 1) & (TABS - 1))
		if (tabs[i].pa == pa)
			return &tabs[i];
	return NULL;
}

static void tab_note(uint64_t pa, uint64_t iova, uint32_t level)
{
	size_t i = tab_home(pa);
	while (tabs[i].gen == tgen && tabs[i].pa != pa)
		i = (i + 1) & (TABS - 1);
	if (tabs[i].gen != tgen) {
		CHECK(++ntabs < TABS / 2, "more tables than a 1 GiB window needs");
		tabs[i].gen = tgen;
	}
	tabs[i].pa = pa;
	tabs[i].iova = iova;
	tabs[i].level = level;
}

/* Removes a released page (backward-shift deletion keeps every probe chain whole). */
static void tab_forget(struct tab *t)
{
	size_t i = (size_t)(t - tabs), j = i;
	tabs[i].gen = 0;
	ntabs--;
	for (;;) {
		j = (j + 1) & (TABS - 1);
		if (tabs[j].gen != tgen)
			return;
		const size_t k = tab_home(tabs[j].pa);
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue; /* j's home lies between the hole and j: it stays */
		tabs[i] = tabs[j];
		tabs[j].gen = 0;
		i = j;
	}
}

/*
 * Walks the hardware tables (the entries the IOMMU reads, through the POSIX
 * adapter's fake physical addresses) over [lo, hi) and compares every leaf
 * with the model: same page size, frame and permissions; and as many bytes
 * as the model maps there, so the model maps nothing the tables lack.
 */
struct hwcmp {
	uint64_t lo, hi, bytes;
	size_t cur; /* model run at or after the last leaf (leaves come in order) */
};

/* The first present entry of t[i..last] (last + 1 when none). Not under the
 * sanitizers: table pages come from the adapter's allocator, which ASan does
 * not track, and this loop reads every entry of every table a walk passes,
 * where their checks made a fifth of a run. */
__attribute__((no_sanitize("address", "undefined"))) static uint64_t
next_present(const uint64_t *t, uint64_t i, uint64_t last)
{
	const uint64_t present = fz_present_bits();
	while (i <= last && !(t[i] & present))
		i++;
	return i;
}

/* How many leaves from t[i] on (at most n) are exactly the pages of run r
 * from va on: frame, R/W and leaf bit. Unsanitized for the same reason. */
__attribute__((no_sanitize("address", "undefined"))) static uint64_t
leaves_match(const uint64_t *t, uint64_t i, uint64_t n, const struct ptm_run *r, uint64_t va,
	     unsigned level)
{
	uint64_t mask, step;
	uint64_t want = fz_leaf(r->pa + (va - r->iova), r->prot, level, &mask, &step);
	uint64_t k = 0;
	while (k < n && (t[i + k] & mask) == want) {
		want += step;
		k++;
	}
	return k;
}

static void hw_walk(struct hwcmp *w, uint64_t table_pa, uint32_t level, uint64_t base)
{
	const uint64_t *t = (const uint64_t *)(uintptr_t)(table_pa - IOVIRT_POSIX_PA_OFFSET);
	tab_note(table_pa, base, level);
	const unsigned sh = 12 + 9 * (level - 1);
	const uint64_t span = UINT64_C(1) << sh;
	const uint64_t first = w->lo > base ? (w->lo - base) >> sh : 0;
	uint64_t last = (w->hi - 1 - base) >> sh;
	if (last > 511)
		last = 511;
	for (uint64_t i = next_present(t, first, last); i <= last; i = next_present(t, i + 1, last)) {
		const uint64_t e = t[i], va = base + i * span;
		if (level > 1 && fz_is_table(e)) {
			CHECK(fz_table_entry_ok(e, level), "table entry at 0x%llx: 0x%llx", (unsigned long long)va,
			      (unsigned long long)e);
			hw_walk(w, fz_table_pa(e), level - 1, va);
			continue;
		}
		CHECK(level <= 3, "a leaf at level %u", level);
		while (w->cur < model.n && ptm_run_end(&model.run[w->cur]) <= va)
			w->cur++;
		const struct ptm_run *r = w->cur < model.n ? &model.run[w->cur] : NULL;
		CHECK(r && r->iova <= va, "hardware maps 0x%llx, the model does not", (unsigned long long)va);
		CHECK(r->shift == sh, "hardware page size at 0x%llx differs from the model", (unsigned long long)va);
		/* this leaf and those after it that continue the same run */
		uint64_t n = (ptm_run_end(r) - va) >> sh;
		if (n > last - i + 1)
			n = last - i + 1;
		n = leaves_match(t, i, n, r, va, level);
		CHECK(n > 0, "hardware entry for 0x%llx differs from the model", (unsigned long long)va);
		const uint64_t end = va + n * span;
		const uint64_t a = va > w->lo ? va : w->lo, b = end < w->hi ? end : w->hi;
		w->bytes += b - a;
		i += n - 1;
	}
}

/* Compares the hardware tables with the model over [lo, hi), widened by a page on each side. */
static void compare_range(struct iovirt_iommu *io, uint64_t lo, uint64_t hi)
{
	uint64_t root;
	unsigned levels;
	CHECK(iovirt_pt_root(io, 9, &root, &levels) == 0, "root");
	lo = lo >= 4096 ? lo - 4096 : 0;
	hi = hi + 4096 < (UINT64_C(1) << width) ? hi + 4096 : UINT64_C(1) << width;
	struct hwcmp w = { .lo = lo, .hi = hi, .cur = ptm_find(&model, lo) };
	hw_walk(&w, root, levels, 0);
	CHECK(w.bytes == ptm_mapped_in(&model, lo, hi, NULL, NULL),
	      "hardware maps %llu bytes in 0x%llx..0x%llx, the model %llu", (unsigned long long)w.bytes,
	      (unsigned long long)lo, (unsigned long long)hi,
	      (unsigned long long)ptm_mapped_in(&model, lo, hi, NULL, NULL));
}

/* Table pages released by a map or split (a rollback) are tables no more;
 * each was a known table or one the same call allocated. */
static void forget_released(struct iovirt_posix *p)
{
	size_t n = iovirt_posix_log_read(p, events, 4096);
	for (size_t i = 0; i < n; i++) {
		if (events[i].cb != IOVIRT_CB_TABLE_FREE)
			continue;
		struct tab *t = tab_find(events[i].b);
		if (t) {
			tab_forget(t);
			continue;
		}
		bool fresh = false;
		for (size_t k = 0; k < i && !fresh; k++)
			fresh = events[k].cb == IOVIRT_CB_TABLE_ALLOC && events[k].b == events[i].b;
		CHECK(fresh, "released a page that was no table");
	}
}

static uint64_t rd(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/*
 * An address in the window, aligned by the selector (4K, 2M, 1G). Addresses
 * fall in 16 areas of 2 MiB spread over the window (any page in one, 64 MiB
 * apart), so that one input's operations meet each other's mappings and
 * tables (EEXIST, ESPLIT, tables emptied and released) instead of each
 * building a table of its own somewhere in a GiB, which every walk and
 * teardown paid for entry by entry.
 */
static uint64_t addr(uint64_t raw, unsigned sel)
{
	static const uint64_t align[4] = { 1u << 12, 1u << 21, 1u << 30, 1u << 12 };
	const uint64_t page = raw >> 12;
	const uint64_t a = ((page >> 9) & 15) << 26 | (page & 511) << 12;
	return (a % PTM_WINDOW) & ~(align[sel & 3] - 1);
}

static uint64_t size_of(uint64_t raw, unsigned sel)
{
	switch (sel & 7) {
	case 0:
	case 1:
	case 2:
	case 3:
		return ((raw % 32) + 1) << 12;
	case 4:
	case 5:
		return ((raw % 3) + 1) << 21;
	case 6:
		return (UINT64_C(1) << 21) + ((raw % 8) << 12);
	default:
		return (raw & 3) ? UINT64_C(1) << 21 : UINT64_C(1) << 30;
	}
}

/*
 * Where a map of size bytes goes. A range of 2 MiB or more whose iova and pa
 * differ in their offset within 2 MiB takes only 4 KiB entries: up to 1536
 * (262144 at 1 GiB), and the library's work per entry (map, walk, teardown)
 * made one input cost milliseconds. Each input may spend SMALL_BUDGET such
 * pages; after that a large range starts on a 2 MiB boundary with a pa that
 * shares it, so it takes large pages (4 KiB ones only in a tail). Ranges of
 * 4 KiB entries that cross tables still come from the smaller sizes.
 */
#define SMALL_BUDGET 256u
#define FZ_MAX_OPS 32u /* per input: see the loop */
static uint64_t small_budget;

static void place(uint64_t *iova, uint64_t *pa, uint64_t size)
{
	const uint64_t m2 = (UINT64_C(1) << 21) - 1;
	if (size <= m2 || !((*iova | *pa) & m2))
		return;
	if ((size >> 12) <= small_budget) {
		small_budget -= size >> 12;
		return;
	}
	*iova &= ~m2;
	*pa &= ~m2;
}

static void check_unmap_log(struct iovirt_posix *p, int64_t bytes)
{
	size_t n = iovirt_posix_log_read(p, events, 4096), invals = 0;
	uint64_t lo = 0, hi = 0;
	unsigned leaf_only = 1;
	for (size_t i = 0; i < n; i++) {
		if (events[i].cb == IOVIRT_CB_IOTLB_INVAL) {
			invals++;
			lo = events[i].a;
			hi = lo + events[i].b;
			leaf_only = (unsigned)(events[i].c >> 8);
		} else if (events[i].cb == IOVIRT_CB_TABLE_FREE) {
			struct tab *t = tab_find(events[i].b);
			CHECK(t, "released a page that was no table");
			const uint64_t span = UINT64_C(1) << (12 + 9 * t->level);
			CHECK(invals == 1 && !leaf_only, "table released before a table invalidation");
			CHECK(lo <= t->iova && t->iova + span <= hi, "table released outside the invalidation");
			tab_forget(t);
		}
	}
	/* (an unmap that finds no leaf but covers kept tables drops them: one table invalidation) */
	CHECK(invals == (bytes > 0 ? 1u : 0u) || (bytes == 0 && invals == 1 && !leaf_only),
	      "unmap of %lld bytes made %zu invalidations", (long long)bytes, invals);
}

FUZZ_CHECKER_END

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* One adapter (with its event log) and one iommu for every input, a
	 * space per input: making an iommu and its ASID directory cost more
	 * than a short input's operations. An input leaves them as it found
	 * them (no space, nothing allocated beyond the first input's, no
	 * failure armed), which is checked at its end. */
	static struct iovirt_posix *p;
	static struct iovirt_iommu *ios[5];
	static int64_t base_mem;
	if (!p) {
		p = iovirt_posix_create();
		CHECK(p && ptm_init(&model, IOVIRT_PAGES_ALL) && iovirt_posix_log_enable(p, 4096) == 0, "setup");
		for (uint32_t f = IOVIRT_PT_FMT_VTD_SL; f <= IOVIRT_PT_FMT_RISCV_G; f++) {
			struct iovirt_iommu_params ip = { .size = sizeof(ip), .format = f,
							  .reclaim = IOVIRT_RECLAIM_AFTER_INVAL };
			CHECK(!iovirt_iommu_create(iovirt_posix_ops(), p, &ip, &ios[f]) &&
				      !iovirt_pt_space_create(ios[f], 9, NULL) && !iovirt_pt_space_destroy(ios[f], 9),
			      "setup");
		}
		base_mem = iovirt_posix_live_mem(p); /* the iommus and the directory chunks of ASID 9 */
	}
	fz_format = size > 1 ? IOVIRT_PT_FMT_VTD_SL + data[1] % 4 : IOVIRT_PT_FMT_VTD_SL;
	struct iovirt_iommu *const io = ios[fz_format];
	if (++tgen == 0) {
		memset(tabs, 0, sizeof(tabs));
		tgen = 1;
	}
	ntabs = 0;
	small_budget = SMALL_BUDGET;
	struct iovirt_space_params sp = { .size = sizeof(sp), .width = 39 };
	bool with_foreach = false;
	ptm_reset(&model, IOVIRT_PAGES_ALL);
	if (size > 0) {
		static const uint32_t widths[] = { 32, 39, 48, 57 };
		sp.width = widths[data[0] & 3];
		model.pgsizes = sp.pgsizes = (data[0] & 4) ? IOVIRT_PAGE_4K | IOVIRT_PAGE_2M : IOVIRT_PAGES_ALL;
		with_foreach = (data[0] >> 3 & 15) == 15;
		if (fz_format == IOVIRT_PT_FMT_ARM_S2 && sp.width == 57)
			sp.width = 48; /* stage 2 with a 4 KiB granule has no 57-bit input */
		data++;
		size--;
	}
	if (size > 0) { /* the format byte */
		data++;
		size--;
	}
	width = sp.width;
	CHECK(!iovirt_pt_space_create(io, 9, &sp), "space");

	/* At most FZ_MAX_OPS operations: enough to build any state of the 16
	 * areas; the fuzzer's inputs grow long, and a longer tail added time,
	 * not states (64 reached the same coverage as 32 in the same time,
	 * at 15% fewer inputs a second). */
	for (size_t off = 0; off + 12 <= size && off < 12 * FZ_MAX_OPS; off += 12) {
		const uint8_t *op = data + off;
		uint64_t iova = addr(rd(op + 2, 4) << 12, op[1]);
		iovirt_posix_log_clear(p);
		switch (op[0] % 6) {
		case 0:
		case 1: {
			uint64_t sz = size_of(rd(op + 6, 2), op[1] >> 2);
			if (iova + sz > PTM_WINDOW)
				sz = PTM_WINDOW - iova; /* the model knows the window only */
			uint64_t pa = addr(rd(op + 8, 4) << 12, op[1] >> 4) + (UINT64_C(1) << 40);
			place(&iova, &pa, sz);
			unsigned prot = 1 + (op[1] >> 6) % 3;
			int want = ptm_map(&model, iova, pa, sz, prot);
			int got = iovirt_pt_map(io, 9, iova, pa, sz, prot);
			CHECK(got == want,
			      "map 0x%llx+0x%llx: got %s want %s", (unsigned long long)iova, (unsigned long long)sz,
			      iovirt_err_name(got), iovirt_err_name(want));
			forget_released(p);
			compare_range(io, iova, iova + sz);
			break;
		}
		case 2: {
			uint64_t sz = size_of(rd(op + 6, 2), op[1] >> 2) * (1 + op[8] % 3);
			if (iova + sz > PTM_WINDOW)
				sz = PTM_WINDOW - iova;
			int64_t want = ptm_unmap(&model, iova, sz);
			int64_t got = iovirt_pt_unmap(io, 9, iova, sz);
			CHECK(got == want, "unmap 0x%llx+0x%llx: got %lld want %lld", (unsigned long long)iova,
			      (unsigned long long)sz, (long long)got, (long long)want);
			check_unmap_log(p, got);
			compare_range(io, iova, iova + sz);
			break;
		}
		case 3: {
			const uint64_t at = (iova + rd(op + 6, 4) % (UINT64_C(1) << 21)) % PTM_WINDOW;
			/* the page split (before: the large one), else the 4 KiB page at */
			const struct ptm_run *r = ptm_lookup(&model, at);
			const uint64_t page = UINT64_C(1) << (r ? r->shift : 12), base = at & ~(page - 1);
			int want = ptm_split(&model, at);
			int got = iovirt_pt_split(io, 9, at);
			CHECK(got == want, "split: got %s want %s", iovirt_err_name(got), iovirt_err_name(want));
			forget_released(p);
			compare_range(io, base, base + page);
			break;
		}
		case 4: {
			/* A map whose kth allocation fails: ENOMEM and no change, or success. */
			uint64_t sz = size_of(rd(op + 6, 2), op[1] >> 2);
			if (iova + sz > PTM_WINDOW)
				sz = PTM_WINDOW - iova;
			uint64_t pa = addr(rd(op + 8, 4) << 12, op[1] >> 4);
			place(&iova, &pa, sz);
			iovirt_posix_fail_alloc_at(p, 1 + op[11] % 8);
			int got = iovirt_pt_map(io, 9, iova, pa, sz, 3);
			bool fired = iovirt_posix_fail_fired(p);
			iovirt_posix_fail_alloc_at(p, 0);
			if (got == IOVIRT_ENOMEM) {
				CHECK(fired, "ENOMEM without a failed allocation");
			} else {
				int want = ptm_map(&model, iova, pa, sz, 3);
				CHECK(got == want, "map with failure: got %s want %s", iovirt_err_name(got),
				      iovirt_err_name(want));
			}
			/* after ENOMEM the model stays as it was: so must the tables */
			forget_released(p);
			compare_range(io, iova, iova + sz);
			break;
		}
		default: {
			struct iovirt_xlate a = { 0 }, b = { 0 };
			/* any byte of the areas the other operations use */
			uint64_t v = addr(rd(op + 2, 4) << 12, 0) + (rd(op + 6, 2) & 4095);
			unsigned acc = 1 + op[1] % 3;
			int want = ptm_translate(&model, v, acc, &a);
			int got = iovirt_pt_translate(io, 9, v, acc, &b);
			CHECK(got == want, "translate 0x%llx: got %s want %s", (unsigned long long)v, iovirt_err_name(got),
			      iovirt_err_name(want));
			CHECK(got || (a.pa == b.pa && a.page_size == b.page_size), "translate result differs");
			/* and the hardware, reading the raw tables, agrees */
			struct iovirt_pt_root_info ri = { .size = sizeof(ri) };
			CHECK(iovirt_pt_root_info(io, 9, &ri) == 0, "root");
			const uint64_t hpa = hw_walk_info(&ri, v, NULL);
			CHECK(got == IOVIRT_ENOENT || got == IOVIRT_ERANGE ? hpa == VTD_WALK_FAULT : hpa == b.pa,
			      "the hardware walk of 0x%llx gives 0x%llx, translate %s 0x%llx", (unsigned long long)v,
			      (unsigned long long)hpa, iovirt_err_name(got), (unsigned long long)b.pa);
			break;
		}
		}
	}
	/* At the end, everything: the hardware tables, and on one input in
	 * sixteen (chosen by the shape byte, so the fuzzer can choose it anywhere)
	 * the library's own report of them. foreach reads every entry of every
	 * table under the fuzzer's tracing of each comparison, which cost as
	 * much as all the rest of an input. */
	compare_range(io, 0, UINT64_C(1) << width);
	if (with_foreach)
		CHECK(ptm_compare(&model, io, 9) == 0, "foreach differs from the model at the end");
	CHECK(iovirt_pt_space_destroy(io, 9) == 0, "space destroy");
	/* The table cache kept the tables this input emptied (AFTER_INVAL: as
	 * the unmap left); it must give every one of them back. */
	const uint64_t cached = iovirt_pt_cached(io);
	CHECK(iovirt_pt_trim(io) == cached && iovirt_pt_cached(io) == 0, "trim");
	struct iovirt_pt_stats st;
	iovirt_pt_stats(io, &st);
	CHECK(!st.spaces && !st.tables && !st.retired, "space destroy left tables");
	CHECK(iovirt_posix_live_tables(p) == 0 && iovirt_posix_live_mem(p) == base_mem, "leak");
	return 0;
}
