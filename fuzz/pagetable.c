/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: an operation sequence from the input (map, unmap, split,
 * translate, an injected allocation failure) run against the library and the
 * reference model of tests/pagetable/ptmodel.h. Every result must match the
 * model, and every translate the hardware's walk of the raw tables too
 * (tests/common/vtd_walk.h); every unmap must obey the flush discipline (one
 * invalidation that covers what it cleared, table pages released only after
 * it); nothing leaks.
 */
#include <stdio.h>
#include <stdlib.h>

#define PTM_WINDOW (UINT64_C(1) << 30)
#include "../tests/pagetable/ptmodel.h"
#include "../tests/common/vtd_walk.h"
#include "iovirt/posix.h"

#include "check.h"

static struct ptm model;
static struct iovirt_posix_event events[4096];

struct span {
	uint64_t pa, iova, size;
};
static struct span spans[2048];
static size_t nspans;

static int note_table(void *arg, const struct iovirt_pt_table *t)
{
	(void)arg;
	if (nspans < 2048)
		spans[nspans++] = (struct span){ t->pa, t->iova, UINT64_C(1) << (12 + 9 * t->level) };
	return 0;
}

static uint64_t rd(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* An address in the window, aligned by the selector (4K, 2M, 1G) and nudged by a few pages. */
static uint64_t addr(uint64_t raw, unsigned sel)
{
	static const uint64_t align[4] = { 1u << 12, 1u << 21, 1u << 30, 1u << 12 };
	uint64_t a = (raw % PTM_WINDOW) & ~(align[sel & 3] - 1);
	return a;
}

static uint64_t size_of(uint64_t raw, unsigned sel)
{
	/* Mostly small ranges; 1 GiB rarely, since the model pays per 4 KiB page. */
	switch (sel & 7) {
	case 0:
	case 1:
	case 2:
	case 3:
		return ((raw % 64) + 1) << 12;
	case 4:
	case 5:
		return ((raw % 3) + 1) << 21;
	case 6:
		return (UINT64_C(1) << 21) + ((raw % 8) << 12);
	default:
		return (raw & 3) ? UINT64_C(1) << 21 : UINT64_C(1) << 30;
	}
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
			const struct span *s = NULL;
			for (size_t k = 0; k < nspans; k++)
				if (spans[k].pa == events[i].b)
					s = &spans[k];
			CHECK(s, "released a page that was no table");
			CHECK(invals == 1 && !leaf_only, "table released before a table invalidation");
			CHECK(lo <= s->iova && s->iova + s->size <= hi, "table released outside the invalidation");
		}
	}
	CHECK(invals == (bytes > 0 ? 1u : 0u), "unmap of %lld bytes made %zu invalidations", (long long)bytes, invals);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!model.pg && !ptm_init(&model, IOVIRT_PAGES_ALL))
		abort();
	ptm_reset(&model, IOVIRT_PAGES_ALL);

	struct iovirt_posix *p = iovirt_posix_create();
	struct iovirt_iommu *io = NULL;
	struct iovirt_iommu_params ip = { .size = sizeof(ip), .reclaim = IOVIRT_RECLAIM_AFTER_INVAL };
	struct iovirt_space_params sp = { .size = sizeof(sp), .width = 39 };
	if (size > 0) {
		static const uint32_t widths[] = { 32, 39, 48, 57 };
		sp.width = widths[data[0] & 3];
		model.pgsizes = sp.pgsizes = (data[0] & 4) ? IOVIRT_PAGE_4K | IOVIRT_PAGE_2M : IOVIRT_PAGES_ALL;
		data++;
		size--;
	} else {
		model.pgsizes = IOVIRT_PAGES_ALL;
	}
	CHECK(p && !iovirt_iommu_create(iovirt_posix_ops(), p, &ip, &io) && !iovirt_pt_space_create(io, 9, &sp),
	      "setup");
	iovirt_posix_log_enable(p, 4096);
	uint64_t root_pa;
	unsigned levels;
	CHECK(!iovirt_pt_root(io, 9, &root_pa, &levels), "root");

	for (size_t off = 0; off + 12 <= size && off < 12 * 300; off += 12) {
		const uint8_t *op = data + off;
		const uint64_t iova = addr(rd(op + 2, 4) << 12, op[1]);
		switch (op[0] % 6) {
		case 0:
		case 1: {
			uint64_t sz = size_of(rd(op + 6, 2), op[1] >> 2);
			uint64_t pa = addr(rd(op + 8, 4) << 12, op[1] >> 4) + (UINT64_C(1) << 40);
			if (iova + sz > PTM_WINDOW)
				sz = PTM_WINDOW - iova; /* the model knows the window only */
			unsigned prot = 1 + (op[1] >> 6) % 3;
			int want = ptm_map(&model, iova, pa, sz, prot);
			int got = iovirt_pt_map(io, 9, iova, pa, sz, prot);
			CHECK(got == want,
			      "map 0x%llx+0x%llx: got %s want %s", (unsigned long long)iova, (unsigned long long)sz,
			      iovirt_err_name(got), iovirt_err_name(want));
			break;
		}
		case 2: {
			uint64_t sz = size_of(rd(op + 6, 2), op[1] >> 2) * (1 + op[8] % 3);
			if (iova + sz > PTM_WINDOW)
				sz = PTM_WINDOW - iova;
			nspans = 0;
			iovirt_pt_foreach_table(io, 9, note_table, NULL);
			iovirt_posix_log_clear(p);
			int64_t want = ptm_unmap(&model, iova, sz);
			int64_t got = iovirt_pt_unmap(io, 9, iova, sz);
			CHECK(got == want, "unmap 0x%llx+0x%llx: got %lld want %lld", (unsigned long long)iova,
			      (unsigned long long)sz, (long long)got, (long long)want);
			check_unmap_log(p, got);
			break;
		}
		case 3: {
			const uint64_t at = (iova + rd(op + 6, 4) % (UINT64_C(1) << 21)) % PTM_WINDOW;
			int want = ptm_split(&model, at);
			int got = iovirt_pt_split(io, 9, at);
			CHECK(got == want, "split: got %s want %s", iovirt_err_name(got), iovirt_err_name(want));
			break;
		}
		case 4: {
			/* A map whose kth allocation fails: ENOMEM and no change, or success. */
			uint64_t sz = size_of(rd(op + 6, 2), op[1] >> 2);
			uint64_t pa = addr(rd(op + 8, 4) << 12, op[1] >> 4);
			if (iova + sz > PTM_WINDOW)
				sz = PTM_WINDOW - iova;
			iovirt_posix_fail_alloc_at(p, 1 + op[11] % 8);
			int got = iovirt_pt_map(io, 9, iova, pa, sz, 3);
			bool fired = iovirt_posix_fail_fired(p);
			iovirt_posix_fail_alloc_at(p, 0);
			if (got == IOVIRT_ENOMEM) {
				CHECK(fired, "ENOMEM without a failed allocation");
				break; /* the model stays as it was; compared below */
			}
			int want = ptm_map(&model, iova, pa, sz, 3);
			CHECK(got == want, "map with failure: got %s want %s", iovirt_err_name(got), iovirt_err_name(want));
			break;
		}
		default: {
			struct iovirt_xlate a = { 0 }, b = { 0 };
			uint64_t v = (rd(op + 2, 5) % PTM_WINDOW);
			unsigned acc = 1 + op[1] % 3;
			int want = ptm_translate(&model, v, acc, &a);
			int got = iovirt_pt_translate(io, 9, v, acc, &b);
			CHECK(got == want, "translate 0x%llx: got %s want %s", (unsigned long long)v, iovirt_err_name(got),
			      iovirt_err_name(want));
			CHECK(got || (a.pa == b.pa && a.page_size == b.page_size), "translate result differs");
			struct vtd_walk hw;
			vtd_walk(root_pa, levels, v, &hw);
			CHECK(want == IOVIRT_ENOENT ? hw.pa == VTD_WALK_FAULT
						    : hw.pa == a.pa && hw.rw == a.prot &&
							      (UINT64_C(1) << (12 + 9 * (hw.level - 1))) == a.page_size,
			      "hardware walk of 0x%llx differs from the model", (unsigned long long)v);
			break;
		}
		}
	}
	CHECK(ptm_compare(&model, io, 9) == 0, "tables differ from the model at the end");
	iovirt_iommu_destroy(io);
	CHECK(iovirt_posix_live_tables(p) == 0 && iovirt_posix_live_mem(p) == 0, "leak");
	iovirt_posix_destroy(p);
	return 0;
}
