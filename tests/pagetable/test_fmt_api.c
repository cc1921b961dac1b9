/* SPDX-License-Identifier: MIT */
/*
 * Every table format through the whole public API (include/iovirt/pagetable.h):
 * for each format, input width and set of page sizes, pages of each size and
 * permission are mapped, translated (with the access checks), walked by the
 * format's specification walker, listed (foreach, foreach_table, dump),
 * split and unmapped; and the refusals each contract names, with nothing
 * changed after them.
 */
#include <stdio.h>
#include <string.h>

#include "hw_walk.h"
#include "pt_test.h"

static const uint32_t formats[] = { IOVIRT_PT_FMT_VTD_SL, IOVIRT_PT_FMT_AMD_V1, IOVIRT_PT_FMT_ARM_S2,
				    IOVIRT_PT_FMT_RISCV_G };
static const char *const format_names[] = { "?", "VT-d second-stage", "AMD-Vi v1", "Arm stage 2",
					    "RISC-V G-stage" };
/* What an entry of each format can hold (pagetable.h, iovirt_pt_map EINVAL). */
static unsigned pa_bits(uint32_t fmt)
{
	return fmt == IOVIRT_PT_FMT_ARM_S2 ? 48 : fmt == IOVIRT_PT_FMT_RISCV_G ? 56 : 52;
}

static struct iovirt_iommu *mk_io(struct iovirt_posix *p, uint32_t fmt, uint32_t reclaim)
{
	struct iovirt_iommu_params ip = { .size = sizeof(ip), .format = fmt, .reclaim = reclaim };
	struct iovirt_iommu *io = NULL;
	cr_assert_eq(iovirt_iommu_create(iovirt_posix_ops(), p, &ip, &io), 0);
	return io;
}

/* The largest allowed page size (of those in pgsizes) that both addresses' alignment and the
 * size allow: the page iovirt_pt_map uses at each step. */
static uint64_t page_for(uint64_t pgsizes, uint64_t iova, uint64_t pa, uint64_t size)
{
	static const uint64_t sizes[] = { IOVIRT_PAGE_1G, IOVIRT_PAGE_2M, IOVIRT_PAGE_4K };
	for (int i = 0; i < 3; i++)
		if ((pgsizes & sizes[i]) && !((iova | pa) & (sizes[i] - 1)) && size >= sizes[i])
			return sizes[i];
	return 0;
}

struct mapped {
	uint64_t iova, pa, size;
	unsigned prot;
};

/* Checks one translation of every access kind against a mapping m (page size ps). */
static void check_xlate(struct iovirt_iommu *io, const struct iovirt_pt_root_info *ri, const struct mapped *m,
			uint64_t off, uint64_t ps)
{
	const uint64_t iova = m->iova + off;
	for (unsigned access = 1; access <= 3; access++) {
		struct iovirt_xlate x;
		memset(&x, 0xa5, sizeof(x));
		const int r = iovirt_pt_translate(io, 1, iova, access, &x);
		cr_assert_eq(r, (access & ~m->prot) ? IOVIRT_EPERM : 0, "fmt %u iova %#llx access %u: %d",
			     ri->format, (unsigned long long)iova, access, r);
		/* EPERM fills *out as success does */
		cr_assert_eq(x.pa, m->pa + off, "fmt %u iova %#llx", ri->format, (unsigned long long)iova);
		cr_assert_eq(x.prot, m->prot);
		cr_assert_eq(x.page_size, ps, "fmt %u iova %#llx: page %#llx, want %#llx", ri->format,
			     (unsigned long long)iova, (unsigned long long)x.page_size, (unsigned long long)ps);
		cr_assert_eq(x.level, ps == IOVIRT_PAGE_4K ? 1u : ps == IOVIRT_PAGE_2M ? 2u : 3u);
	}
	/* the hardware's walk, written from the format's specification, agrees */
	struct vtd_walk w;
	cr_assert_eq(hw_walk_info(ri, iova, &w), m->pa + off, "fmt %u iova %#llx: hardware walk",
		     ri->format, (unsigned long long)iova);
	cr_assert_eq(w.level, ps == IOVIRT_PAGE_4K ? 1u : ps == IOVIRT_PAGE_2M ? 2u : 3u);
}

static void check_hole(struct iovirt_iommu *io, const struct iovirt_pt_root_info *ri, uint64_t iova)
{
	struct iovirt_xlate x;
	for (unsigned access = 1; access <= 3; access++)
		cr_assert_eq(iovirt_pt_translate(io, 1, iova, access, &x), IOVIRT_ENOENT, "fmt %u iova %#llx",
			     ri->format, (unsigned long long)iova);
	cr_assert_eq(hw_walk_info(ri, iova, NULL), VTD_WALK_FAULT);
}

struct runs {
	uint32_t n;
	struct iovirt_mapping m[8];
	int stop_at; /* return 7 from the call with this index (-1: never) */
};

static int run_seen(void *arg, const struct iovirt_mapping *m)
{
	struct runs *r = arg;
	if (r->n < 8)
		r->m[r->n] = *m;
	return (int)r->n++ == r->stop_at ? 7 : 0;
}

struct lines {
	uint32_t n;
	char l[64][160];
	char last[160];
};

static void line_seen(void *arg, const char *line)
{
	struct lines *ls = arg;
	cr_assert_lt(strlen(line), 160u);
	if (ls->n < 64)
		snprintf(ls->l[ls->n], sizeof(ls->l[0]), "%s", line);
	snprintf(ls->last, sizeof(ls->last), "%s", line);
	ls->n++;
}

struct tcount {
	uint32_t n, levels_seen[6];
};

static int table_seen(void *arg, const struct iovirt_pt_table *t)
{
	struct tcount *c = arg;
	cr_assert(t->level >= 1 && t->level <= 5);
	cr_assert_eq(t->pa & 0xfff, 0, "a table page is 4 KiB aligned");
	c->levels_seen[t->level]++;
	c->n++;
	return 0;
}

/* The page-size letters of a dump's first line, as the space's pgsizes say. */
static void expect_pages(const char *line, uint64_t pgsizes)
{
	char want[16] = "";
	if (pgsizes & IOVIRT_PAGE_4K)
		strcat(want, " 4K");
	if (pgsizes & IOVIRT_PAGE_2M)
		strcat(want, " 2M");
	if (pgsizes & IOVIRT_PAGE_1G)
		strcat(want, " 1G");
	const char *p = strstr(line, ", pages");
	cr_assert(p, "%s", line);
	cr_assert_str_eq(p + strlen(", pages"), want, "%s", line);
}

/* One space of format fmt, width and pgsizes: three mappings (a 1 GiB-aligned one of 1 GiB + 4 KiB
 * read-only, a 2 MiB-aligned one of 2 MiB write (read-write for RISC-V), a 4 KiB read-write one),
 * every page translated and walked, holes at every level, the listings, split and unmap. */
static void one_space(uint32_t fmt, uint32_t width, uint64_t pgsizes)
{
	struct iovirt_posix *p = th_posix();
	struct iovirt_iommu *io = mk_io(p, fmt, IOVIRT_RECLAIM_DEFERRED);
	struct iovirt_space_params sp = { .size = sizeof(sp), .width = width, .pgsizes = pgsizes };
	if (fmt == IOVIRT_PT_FMT_ARM_S2 && width == 57) { /* no 5-level stage 2 with a 4 KiB granule */
		cr_assert_eq(iovirt_pt_space_create(io, 1, &sp), IOVIRT_EINVAL);
		cr_assert_eq(iovirt_pt_root_info(io, 1, &(struct iovirt_pt_root_info){ .size = sizeof(struct iovirt_pt_root_info) }),
			     IOVIRT_ENOASID);
		iovirt_iommu_destroy(io);
		th_posix_done(p);
		return;
	}
	cr_assert_eq(iovirt_pt_space_create(io, 1, &sp), 0);
	struct iovirt_pt_root_info ri = { .size = sizeof(ri) };
	cr_assert_eq(iovirt_pt_root_info(io, 1, &ri), 0);
	cr_assert_eq(ri.width, width);
	cr_assert_eq(ri.levels, width == 57 ? 5u : width == 48 ? 4u : 3u);

	const unsigned wprot = fmt == IOVIRT_PT_FMT_RISCV_G ? RW : IOVIRT_PROT_WRITE;
	const struct mapped m[3] = {
		{ GiB(1), GiB(5), GiB(1) + KiB(4), IOVIRT_PROT_READ },
		{ GiB(2) + MiB(6), GiB(7) + MiB(2), MiB(2), wprot },
		{ GiB(2) + MiB(8) + KiB(12), 0x12345000ull, KiB(4), RW },
	};
	if (fmt == IOVIRT_PT_FMT_RISCV_G) /* R = 0 with W = 1 is reserved: write-only cannot be expressed */
		cr_assert_eq(iovirt_pt_map(io, 1, m[1].iova, m[1].pa, m[1].size, IOVIRT_PROT_WRITE), IOVIRT_EINVAL);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(iovirt_pt_map(io, 1, m[i].iova, m[i].pa, m[i].size, m[i].prot), 0, "fmt %u map %d", fmt, i);
	/* a second map over any part of them: EEXIST, nothing changed */
	cr_assert_eq(iovirt_pt_map(io, 1, m[0].iova + MiB(2), 0, KiB(4), RW), IOVIRT_EEXIST);
	cr_assert_eq(iovirt_pt_map(io, 1, m[2].iova - KiB(4), 0, KiB(8), RW), IOVIRT_EEXIST);

	/* every page: its first, a middle and its last byte's page */
	for (int i = 0; i < 3; i++) {
		uint64_t off = 0;
		while (off < m[i].size) {
			const uint64_t ps = page_for(pgsizes, m[i].iova + off, m[i].pa + off, m[i].size - off);
			check_xlate(io, &ri, &m[i], off, ps);
			check_xlate(io, &ri, &m[i], off + ps / 2 + 8, ps);
			check_xlate(io, &ri, &m[i], off + ps - KiB(4), ps);
			off += ps;
		}
	}
	/* holes: an empty root slot, an empty level-3 slot, an empty level-2 slot, a level-1 slot
	 * beside the 4 KiB page, and beyond the width (ERANGE; the hardware faults) */
	check_hole(io, &ri, 0);
	check_hole(io, &ri, GiB(3));
	check_hole(io, &ri, GiB(2) + MiB(2));
	check_hole(io, &ri, m[2].iova + KiB(4));
	check_hole(io, &ri, m[2].iova - KiB(4));
	if (width == 48)
		check_hole(io, &ri, GiB(1024));
	if (width == 57)
		check_hole(io, &ri, UINT64_C(1) << 50);
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(io, 1, UINT64_C(1) << width, IOVIRT_PROT_READ, &x), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_pt_translate(io, 1, m[2].iova, 0, &x), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_translate(io, 1, m[2].iova, 4, &x), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_translate(io, 2, m[2].iova, 1, &x), IOVIRT_ENOASID);

	/* foreach: the three runs in iova order, each merged whole */
	struct runs rs = { .stop_at = -1 };
	cr_assert_eq(iovirt_pt_foreach(io, 1, run_seen, &rs), 0);
	cr_assert_eq(rs.n, 3, "fmt %u: %u runs", fmt, rs.n);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(rs.m[i].iova, m[i].iova);
		cr_assert_eq(rs.m[i].pa, m[i].pa);
		cr_assert_eq(rs.m[i].size, m[i].size);
		cr_assert_eq(rs.m[i].prot, m[i].prot);
	}
	/* a non-zero return stops the walk and is returned, mid-walk and at the last run */
	for (int stop = 0; stop < 3; stop++) {
		rs = (struct runs){ .stop_at = stop };
		cr_assert_eq(iovirt_pt_foreach(io, 1, run_seen, &rs), 7);
		cr_assert_eq(rs.n, (uint32_t)stop + 1);
	}
	struct tcount tc = { 0 };
	cr_assert_eq(iovirt_pt_foreach_table(io, 1, table_seen, &tc), 0);
	cr_assert_eq(tc.levels_seen[ri.levels], 1, "one root");
	struct iovirt_pt_stats st;
	iovirt_pt_stats(io, &st);
	cr_assert_eq(tc.n, st.tables, "fmt %u: %u tables listed, %llu counted", fmt, tc.n, (unsigned long long)st.tables);

	/* the dump: header (format, width, levels, page sizes), the tables, the runs, a total */
	struct lines *ls = calloc(1, sizeof(*ls));
	cr_assert_eq(iovirt_pt_dump(io, 1, line_seen, ls), 0);
	char head[80];
	snprintf(head, sizeof(head), "ASID 1: %u-bit input, %u-level %s table", width, ri.levels, format_names[fmt]);
	cr_assert_eq(strncmp(ls->l[0], head, strlen(head)), 0, "%s", ls->l[0]);
	expect_pages(ls->l[0], pgsizes);
	cr_assert_eq(ls->n, 2 + tc.n + 1 + 3 + 1);
	char tail[64];
	snprintf(tail, sizeof(tail), " 3 run(s), %llu KiB mapped",
		 (unsigned long long)((m[0].size + m[1].size + m[2].size) >> 10));
	cr_assert_str_eq(ls->last, tail);
	if (ls->n <= 64) {
		cr_assert(strstr(ls->l[2 + tc.n + 1], " r-  "), "%s", ls->l[2 + tc.n + 1]);
		cr_assert(strstr(ls->l[2 + tc.n + 3], " rw  "), "%s", ls->l[2 + tc.n + 3]);
		cr_assert(strstr(ls->l[2 + tc.n + 2], fmt == IOVIRT_PT_FMT_RISCV_G ? " rw  " : " -w  "), "%s",
			  ls->l[2 + tc.n + 2]);
	}

	/* cutting through a large page is refused, nothing changed; split makes it possible */
	const uint64_t big = page_for(pgsizes, m[0].iova, m[0].pa, m[0].size);
	if (big > IOVIRT_PAGE_4K) {
		cr_assert_eq(iovirt_pt_unmap(io, 1, m[0].iova + KiB(4), KiB(4)), IOVIRT_ESPLIT);
		check_xlate(io, &ri, &m[0], KiB(4), big);
		cr_assert_eq(iovirt_pt_split(io, 1, m[0].iova + KiB(4)), 0);
		const uint64_t smaller = big == IOVIRT_PAGE_1G && (pgsizes & IOVIRT_PAGE_2M) ? IOVIRT_PAGE_2M : IOVIRT_PAGE_4K;
		check_xlate(io, &ri, &m[0], 0, smaller);
		check_xlate(io, &ri, &m[0], big - KiB(4), smaller);
		if (smaller == IOVIRT_PAGE_2M) {
			cr_assert_eq(iovirt_pt_split(io, 1, m[0].iova + KiB(4)), 0);
			check_xlate(io, &ri, &m[0], KiB(4), IOVIRT_PAGE_4K);
			check_xlate(io, &ri, &m[0], MiB(2), IOVIRT_PAGE_2M);
		}
		cr_assert_eq(iovirt_pt_unmap(io, 1, m[0].iova + KiB(4), KiB(4)), (int64_t)KiB(4));
		check_hole(io, &ri, m[0].iova + KiB(4));
		check_xlate(io, &ri, &m[0], 0, IOVIRT_PAGE_4K);
	}
	/* split refusals: a 4 KiB page, a hole, beyond the width */
	cr_assert_eq(iovirt_pt_split(io, 1, m[2].iova), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_split(io, 1, GiB(3)), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_pt_split(io, 1, UINT64_C(1) << width), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_pt_split(io, 2, 0), IOVIRT_ENOASID);

	/* everything out: the bytes mapped are the bytes unmapped; an empty listing after */
	const uint64_t left = m[0].size + m[1].size + m[2].size - (big > IOVIRT_PAGE_4K ? KiB(4) : 0);
	cr_assert_eq(iovirt_pt_unmap(io, 1, 0, UINT64_C(1) << width), (int64_t)left, "fmt %u width %u", fmt, width);
	for (int i = 0; i < 3; i++)
		check_hole(io, &ri, m[i].iova);
	rs = (struct runs){ .stop_at = -1 };
	cr_assert_eq(iovirt_pt_foreach(io, 1, run_seen, &rs), 0);
	cr_assert_eq(rs.n, 0);
	ls->n = 0;
	cr_assert_eq(iovirt_pt_dump(io, 1, line_seen, ls), 0);
	cr_assert_str_eq(ls->last, " 0 run(s), 0 KiB mapped");
	free(ls);
	iovirt_iommu_destroy(io);
	th_posix_done(p);
}

// Every format, width and page-size set: translate (pa, page size, level, prot; EPERM with *out
// filled; ENOENT in holes; ERANGE past the width), the spec walker agreeing, foreach runs, dump
// lines, split into the next allowed size, ESPLIT, unmap.
Test(pt_fmt_api, every_format_width_and_page_set)
{
	static const uint32_t widths[] = { 32, 39, 48, 57 };
	static const uint64_t sets[] = { IOVIRT_PAGES_ALL, IOVIRT_PAGE_4K | IOVIRT_PAGE_1G,
					 IOVIRT_PAGE_4K | IOVIRT_PAGE_2M, IOVIRT_PAGE_4K };
	for (unsigned f = 0; f < 4; f++)
		for (unsigned w = 0; w < 4; w++)
			for (unsigned s = 0; s < 4; s++)
				one_space(formats[f], widths[w], sets[s]);
}

// Map refusals of every format: pa + size beyond what an entry holds (EINVAL, the last page below
// the limit accepted), prot 0 or unknown bits (EINVAL), alignment (EALIGN), wrap (EOVERFLOW),
// width (ERANGE); nothing mapped after any of them.
Test(pt_fmt_api, map_refusals_per_format)
{
	for (unsigned f = 0; f < 4; f++) {
		struct iovirt_posix *p = th_posix();
		struct iovirt_iommu *io = mk_io(p, formats[f], IOVIRT_RECLAIM_DEFERRED);
		cr_assert_eq(iovirt_pt_space_create(io, 1, NULL), 0);
		const uint64_t lim = UINT64_C(1) << pa_bits(formats[f]);
		cr_assert_eq(iovirt_pt_map(io, 1, 0, lim, KiB(4), RW), IOVIRT_EINVAL, "fmt %u", formats[f]);
		cr_assert_eq(iovirt_pt_map(io, 1, 0, lim - KiB(4), KiB(8), RW), IOVIRT_EINVAL);
		cr_assert_eq(iovirt_pt_map(io, 1, 0, lim - MiB(2), MiB(4), RW), IOVIRT_EINVAL);
		cr_assert_eq(iovirt_pt_map(io, 1, 0, 0, KiB(4), 0), IOVIRT_EINVAL);
		cr_assert_eq(iovirt_pt_map(io, 1, 0, 0, KiB(4), 4 | RW), IOVIRT_EINVAL);
		cr_assert_eq(iovirt_pt_map(io, 1, 0, 0, 0, RW), IOVIRT_EINVAL);
		cr_assert_eq(iovirt_pt_map(io, 1, 0, 0x800, KiB(4), RW), IOVIRT_EALIGN);
		cr_assert_eq(iovirt_pt_map(io, 1, 0x800, 0, KiB(4), RW), IOVIRT_EALIGN);
		cr_assert_eq(iovirt_pt_map(io, 1, 0, 0, 0x800, RW), IOVIRT_EALIGN);
		cr_assert_eq(iovirt_pt_map(io, 1, 0, UINT64_MAX - KiB(4) + 1, KiB(8), RW), IOVIRT_EOVERFLOW);
		cr_assert_eq(iovirt_pt_map(io, 1, UINT64_MAX - KiB(4) + 1, 0, KiB(8), RW), IOVIRT_EOVERFLOW);
		cr_assert_eq(iovirt_pt_map(io, 1, (UINT64_C(1) << 48) - KiB(4), 0, KiB(8), RW), IOVIRT_ERANGE);
		cr_assert_eq(iovirt_pt_map(io, 1, UINT64_C(1) << 48, 0, KiB(4), RW), IOVIRT_ERANGE);
		struct iovirt_pt_stats st;
		iovirt_pt_stats(io, &st);
		cr_assert_eq(st.tables, 1, "fmt %u: only the root after refusals", formats[f]);
		/* the last page an entry can hold, as a 4 KiB page and as the last 2 MiB page */
		cr_assert_eq(iovirt_pt_map(io, 1, 0, lim - KiB(4), KiB(4), RW), 0, "fmt %u", formats[f]);
		cr_assert_eq(iovirt_pt_map(io, 1, MiB(2), lim - MiB(2), MiB(2), IOVIRT_PROT_READ), 0);
		struct iovirt_xlate x;
		cr_assert_eq(iovirt_pt_translate(io, 1, KiB(4) - 1, IOVIRT_PROT_WRITE, &x), 0);
		cr_assert_eq(x.pa, lim - 1);
		cr_assert_eq(iovirt_pt_translate(io, 1, MiB(4) - 1, IOVIRT_PROT_READ, &x), 0);
		cr_assert_eq(x.pa, lim - 1);
		cr_assert_eq(x.page_size, MiB(2));
		struct iovirt_pt_root_info ri = { .size = sizeof(ri) };
		cr_assert_eq(iovirt_pt_root_info(io, 1, &ri), 0);
		cr_assert_eq(hw_walk_info(&ri, MiB(4) - KiB(4), NULL), lim - KiB(4), "fmt %u: the spec walk", formats[f]);
		iovirt_iommu_destroy(io);
		th_posix_done(p);
	}
}

static void emit_none(void *arg, const char *line)
{
	(void)arg;
	(void)line;
	cr_assert_fail("nothing to emit for a refused dump");
}

static int fn_none(void *arg, const struct iovirt_mapping *m)
{
	(void)arg;
	(void)m;
	return 0;
}

static int tfn_stop(void *arg, const struct iovirt_pt_table *t)
{
	(void)t;
	return ++*(int *)arg == 2 ? 9 : 0;
}

// The listing and root calls refuse what their contracts name: no iommu or no space is
// IOVIRT_ENOASID (a dump without emit too, emitting nothing), a too small or NULL root-info
// struct IOVIRT_EINVAL; foreach_table stops at and returns fn's non-zero value.
Test(pt_fmt_api, listing_refusals)
{
	struct iovirt_posix *p = th_posix();
	struct iovirt_iommu *io = mk_io(p, IOVIRT_PT_FMT_AMD_V1, IOVIRT_RECLAIM_DEFERRED);
	cr_assert_eq(iovirt_pt_space_create(io, 3, NULL), 0);
	cr_assert_eq(iovirt_pt_map(io, 3, GiB(1), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_map(io, 3, GiB(600), 0, KiB(4), RW), 0);
	cr_assert_eq(iovirt_pt_dump(io, 3, NULL, NULL), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_dump(io, 4, emit_none, NULL), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_dump(NULL, 3, emit_none, NULL), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_foreach(NULL, 3, fn_none, NULL), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_foreach(io, 4, fn_none, NULL), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_foreach_table(NULL, 3, tfn_stop, NULL), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_foreach_table(io, IOVIRT_ASID_MAX, tfn_stop, NULL), IOVIRT_ENOASID);
	int calls = 0;
	cr_assert_eq(iovirt_pt_foreach_table(io, 3, tfn_stop, &calls), 9);
	cr_assert_eq(calls, 2);
	uint64_t root;
	unsigned lv;
	cr_assert_eq(iovirt_pt_root(NULL, 3, &root, &lv), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_root(io, 5, &root, &lv), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_root(io, 3, &root, &lv), 0);
	cr_assert_eq(lv, 4);
	struct iovirt_pt_root_info ri = { .size = sizeof(ri) };
	cr_assert_eq(iovirt_pt_root_info(io, 3, NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_root_info(NULL, 3, &ri), IOVIRT_ENOASID);
	ri.size = IOVIRT_PT_ROOT_INFO_SIZE_V1 - 1;
	cr_assert_eq(iovirt_pt_root_info(io, 3, &ri), IOVIRT_EINVAL);
	ri.size = sizeof(ri);
	cr_assert_eq(iovirt_pt_root_info(io, 3, &ri), 0);
	cr_assert_eq(ri.root_pa, root);
	cr_assert_eq(ri.format, IOVIRT_PT_FMT_AMD_V1);
	iovirt_iommu_destroy(io);
	th_posix_done(p);
}

// Writers refuse a NULL iommu (IOVIRT_EINVAL: bad arguments, never a crash) and an unknown
// ASID (IOVIRT_ENOASID); unmap_gather also refuses a NULL gather and another ASID's gather
// (EINVAL) and checks its range as unmap does; nothing changes after any refusal.
Test(pt_fmt_api, writer_refusals)
{
	struct iovirt_posix *p = th_posix();
	struct iovirt_iommu *io = mk_io(p, IOVIRT_PT_FMT_ARM_S2, IOVIRT_RECLAIM_DEFERRED);
	struct iovirt_space_params sp = { .size = sizeof(sp), .width = 39 };
	cr_assert_eq(iovirt_pt_space_create(io, 2, &sp), 0);
	cr_assert_eq(iovirt_pt_map(io, 2, MiB(2), MiB(2), MiB(2), RW), 0);
	cr_assert_eq(iovirt_pt_map(NULL, 2, 0, 0, KiB(4), RW), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_map(io, 9, 0, 0, KiB(4), RW), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_unmap(NULL, 2, MiB(2), MiB(2)), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_unmap(io, 9, MiB(2), MiB(2)), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_split(NULL, 2, MiB(2)), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_space_destroy(NULL, 2), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_space_destroy(io, 9), IOVIRT_ENOASID);
	struct iovirt_pt_gather g;
	iovirt_pt_gather_init(&g, 2);
	cr_assert_eq(iovirt_pt_unmap_gather(NULL, 2, MiB(2), MiB(2), &g), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_unmap_gather(io, 2, MiB(2), MiB(2), NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_unmap_gather(io, 9, MiB(2), MiB(2), &g), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_space_create(io, 3, &sp), 0);
	cr_assert_eq(iovirt_pt_unmap_gather(io, 3, MiB(2), MiB(2), &g), IOVIRT_EINVAL, "another ASID's gather");
	cr_assert_eq(iovirt_pt_unmap_gather(io, 2, MiB(2), 0, &g), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_unmap_gather(io, 2, MiB(2) + 1, MiB(2), &g), IOVIRT_EALIGN);
	cr_assert_eq(iovirt_pt_unmap_gather(io, 2, MiB(2), UINT64_MAX - KiB(4) + 1, &g), IOVIRT_EOVERFLOW);
	cr_assert_eq(iovirt_pt_unmap_gather(io, 2, GiB(512) - KiB(4), KiB(8), &g), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_pt_unmap_gather(io, 2, MiB(2), KiB(4), &g), IOVIRT_ESPLIT);
	cr_assert_eq(iovirt_pt_unmap(io, 2, MiB(2), UINT64_MAX - KiB(4) + 1), IOVIRT_EOVERFLOW);
	cr_assert_eq(iovirt_pt_unmap(io, 2, GiB(512), KiB(4)), IOVIRT_ERANGE);
	cr_assert_eq(g.pending, 0);
	struct iovirt_pt_stats st;
	iovirt_pt_stats(io, &st);
	const uint64_t inv = st.invalidations;
	iovirt_pt_gather_flush(io, &g);
	iovirt_pt_stats(io, &st);
	cr_assert_eq(st.invalidations, inv, "an empty gather flushes nothing");
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(io, 2, MiB(3), RW, &x), 0);
	cr_assert_eq(x.page_size, MiB(2));
	cr_assert_eq(iovirt_pt_unmap_gather(io, 2, MiB(2), MiB(2), &g), (int64_t)MiB(2));
	cr_assert_eq(g.pending, 1);
	iovirt_pt_gather_flush(io, &g);
	iovirt_pt_stats(io, &st);
	cr_assert_eq(st.invalidations, inv + 1);
	cr_assert_eq(iovirt_pt_translate(io, 2, MiB(3), RW, &x), IOVIRT_ENOENT);
	iovirt_iommu_destroy(io);
	th_posix_done(p);
}

static void devtlb_count(void *host, uint16_t rid, const struct iovirt_inval *inv)
{
	(void)host;
	(void)rid;
	(void)inv;
}

// ATS registration: IOVIRT_ENOSYS without devtlb_inval, IOVIRT_EINVAL for a NULL iommu, an ASID
// above the maximum or turning off another rid, IOVIRT_EBUSY for a second rid, ENOASID for an
// unknown space; the registered rid may turn on again and off.
Test(pt_fmt_api, ats_refusals)
{
	struct iovirt_posix *p = th_posix();
	struct iovirt_host_ops ops = *iovirt_posix_ops();
	ops.devtlb_inval = NULL;
	struct iovirt_iommu *io = NULL;
	cr_assert_eq(iovirt_iommu_create(&ops, p, NULL, &io), 0);
	cr_assert_eq(iovirt_pt_space_create(io, 1, NULL), 0);
	cr_assert_eq(iovirt_pt_ats_set(io, 1, 7, true), IOVIRT_ENOSYS);
	iovirt_iommu_destroy(io);
	ops.devtlb_inval = devtlb_count;
	cr_assert_eq(iovirt_iommu_create(&ops, p, NULL, &io), 0);
	cr_assert_eq(iovirt_pt_space_create(io, 1, NULL), 0);
	cr_assert_eq(iovirt_pt_ats_set(NULL, 1, 7, true), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_ats_set(io, IOVIRT_ASID_MAX + 1, 7, true), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_ats_set(io, 2, 7, true), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_ats_set(io, 1, 7, true), 0);
	cr_assert_eq(iovirt_pt_ats_set(io, 1, 7, true), 0, "the same rid again");
	cr_assert_eq(iovirt_pt_ats_set(io, 1, 8, true), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_pt_ats_set(io, 1, 8, false), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_ats_set(io, 1, 7, false), 0);
	cr_assert_eq(iovirt_pt_ats_set(io, 1, 8, true), 0, "another rid once the first is off");
	iovirt_iommu_destroy(io);
	th_posix_done(p);
}

// iovirt_iommu_create's refusals: ops or out NULL and ops too small (EINVAL), each needed
// callback absent (ENOSYS; RISC-V's block callbacks too), params smaller than version 1, an
// unknown format or reclaim mode, a table cache or keep bound too large (EINVAL); *out untouched.
Test(pt_fmt_api, iommu_create_refusals)
{
	struct iovirt_posix *p = th_posix();
	struct iovirt_iommu *io = (struct iovirt_iommu *)(uintptr_t)0x1234;
	const struct iovirt_host_ops *base = iovirt_posix_ops();
	cr_assert_eq(iovirt_iommu_create(NULL, p, NULL, &io), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_iommu_create(base, p, NULL, NULL), IOVIRT_EINVAL);
	struct iovirt_host_ops ops = *base;
	ops.size = offsetof(struct iovirt_host_ops, mem_alloc) - 1;
	cr_assert_eq(iovirt_iommu_create(&ops, p, NULL, &io), IOVIRT_EINVAL);
	for (int k = 0; k < 5; k++) {
		ops = *base;
		switch (k) {
		case 0: ops.mem_alloc = NULL; break;
		case 1: ops.mem_free = NULL; break;
		case 2: ops.table_alloc = NULL; break;
		case 3: ops.table_free = NULL; break;
		default: ops.iotlb_inval = NULL; break;
		}
		cr_assert_eq(iovirt_iommu_create(&ops, p, NULL, &io), IOVIRT_ENOSYS, "callback %d", k);
	}
	/* each needed callback beyond the caller's size: absent */
	static const size_t ends[] = { offsetof(struct iovirt_host_ops, mem_free),
				       offsetof(struct iovirt_host_ops, table_alloc),
				       offsetof(struct iovirt_host_ops, table_free),
				       offsetof(struct iovirt_host_ops, iotlb_inval) };
	for (int k = 0; k < 4; k++) {
		ops = *base;
		ops.size = ends[k];
		cr_assert_eq(iovirt_iommu_create(&ops, p, NULL, &io), IOVIRT_ENOSYS, "size %zu", ends[k]);
	}
	ops = *base;
	ops.size = offsetof(struct iovirt_host_ops, table_block_free);
	cr_assert_eq(iovirt_iommu_create(&ops, p, &(struct iovirt_iommu_params){ .size = sizeof(struct iovirt_iommu_params),
										  .format = IOVIRT_PT_FMT_RISCV_G },
					 &io),
		     IOVIRT_ENOSYS, "RISC-V: table_block_free beyond the size");
	struct iovirt_iommu_params ip = { .size = sizeof(ip), .format = IOVIRT_PT_FMT_RISCV_G };
	for (int k = 0; k < 2; k++) {
		ops = *base;
		if (k)
			ops.table_block_free = NULL;
		else
			ops.table_block_alloc = NULL;
		cr_assert_eq(iovirt_iommu_create(&ops, p, &ip, &io), IOVIRT_ENOSYS, "block callback %d", k);
	}
	ip = (struct iovirt_iommu_params){ .size = IOVIRT_IOMMU_PARAMS_SIZE_V1 - 1 };
	cr_assert_eq(iovirt_iommu_create(base, p, &ip, &io), IOVIRT_EINVAL);
	static const uint32_t bad_formats[] = { 5, 99, UINT32_MAX };
	for (int k = 0; k < 3; k++) {
		ip = (struct iovirt_iommu_params){ .size = sizeof(ip), .format = bad_formats[k] };
		cr_assert_eq(iovirt_iommu_create(base, p, &ip, &io), IOVIRT_EINVAL, "format %u", bad_formats[k]);
	}
	ip = (struct iovirt_iommu_params){ .size = sizeof(ip), .reclaim = 2 };
	cr_assert_eq(iovirt_iommu_create(base, p, &ip, &io), IOVIRT_EINVAL);
	ip = (struct iovirt_iommu_params){ .size = sizeof(ip), .table_cache = IOVIRT_PT_TABLE_CACHE_MAX + 1 };
	cr_assert_eq(iovirt_iommu_create(base, p, &ip, &io), IOVIRT_EINVAL);
	ip = (struct iovirt_iommu_params){ .size = sizeof(ip), .keep_tables = IOVIRT_PT_KEEP_MAX + 1 };
	cr_assert_eq(iovirt_iommu_create(base, p, &ip, &io), IOVIRT_EINVAL);
	cr_assert_eq(io, (struct iovirt_iommu *)(uintptr_t)0x1234, "*out untouched");
	cr_assert_eq(iovirt_posix_live_mem(p), 0);
	/* the bounds themselves, and version 1's size (format 0: VT-d) */
	ip = (struct iovirt_iommu_params){ .size = sizeof(ip), .table_cache = IOVIRT_PT_TABLE_CACHE_MAX,
					   .keep_tables = IOVIRT_PT_KEEP_MAX };
	cr_assert_eq(iovirt_iommu_create(base, p, &ip, &io), 0);
	iovirt_iommu_destroy(io);
	ip = (struct iovirt_iommu_params){ .size = IOVIRT_IOMMU_PARAMS_SIZE_V1 };
	cr_assert_eq(iovirt_iommu_create(base, p, &ip, &io), 0);
	cr_assert_eq(iovirt_pt_space_create(io, 1, NULL), 0);
	struct iovirt_pt_root_info ri = { .size = sizeof(ri) };
	cr_assert_eq(iovirt_pt_root_info(io, 1, &ri), 0);
	cr_assert_eq(ri.format, IOVIRT_PT_FMT_VTD_SL);
	cr_assert_eq(ri.mode, 2, "48-bit default: AW 2");
	iovirt_iommu_destroy(io);
	th_posix_done(p);
}

// iovirt_pt_space_create's refusals: NULL iommu, ASID above the maximum, params smaller than the
// struct's pgsizes, a width the format has no table for, pgsizes without 4K or with unknown
// bits (EINVAL), an existing ASID (EDUP); nothing created after any of them.
Test(pt_fmt_api, space_create_refusals)
{
	for (unsigned f = 0; f < 4; f++) {
		struct iovirt_posix *p = th_posix();
		struct iovirt_iommu *io = mk_io(p, formats[f], IOVIRT_RECLAIM_AFTER_INVAL);
		struct iovirt_space_params sp = { .size = sizeof(sp), .width = 48 };
		cr_assert_eq(iovirt_pt_space_create(NULL, 1, &sp), IOVIRT_EINVAL);
		cr_assert_eq(iovirt_pt_space_create(io, IOVIRT_ASID_MAX + 1, &sp), IOVIRT_EINVAL);
		sp.size = offsetof(struct iovirt_space_params, pgsizes);
		cr_assert_eq(iovirt_pt_space_create(io, 1, &sp), IOVIRT_EINVAL);
		sp.size = sizeof(sp);
		for (uint32_t w = 0; w <= 64; w++) {
			if (w == 32 || w == 39 || w == 48 || w == 57)
				continue;
			sp.width = w;
			cr_assert_eq(iovirt_pt_space_create(io, 1, &sp), IOVIRT_EINVAL, "width %u", w);
		}
		sp.width = 39;
		sp.pgsizes = IOVIRT_PAGE_2M | IOVIRT_PAGE_1G;
		cr_assert_eq(iovirt_pt_space_create(io, 1, &sp), IOVIRT_EINVAL);
		sp.pgsizes = IOVIRT_PAGES_ALL | KiB(8);
		cr_assert_eq(iovirt_pt_space_create(io, 1, &sp), IOVIRT_EINVAL);
		struct iovirt_pt_stats st;
		iovirt_pt_stats(io, &st);
		cr_assert_eq(st.spaces, 0);
		cr_assert_eq(st.tables, 0);
		sp.pgsizes = 0;
		cr_assert_eq(iovirt_pt_space_create(io, IOVIRT_ASID_MAX, &sp), 0);
		cr_assert_eq(iovirt_pt_space_create(io, IOVIRT_ASID_MAX, &sp), IOVIRT_EDUP);
		cr_assert_eq(iovirt_pt_map(io, IOVIRT_ASID_MAX, GiB(511), 0, GiB(1), RW), 0);
		cr_assert_eq(iovirt_pt_map(io, IOVIRT_ASID_MAX, GiB(512), 0, KiB(4), RW), IOVIRT_ERANGE);
		cr_assert_eq(iovirt_pt_space_destroy(io, IOVIRT_ASID_MAX), 0);
		cr_assert_eq(iovirt_pt_space_destroy(io, IOVIRT_ASID_MAX), IOVIRT_ENOASID);
		iovirt_iommu_destroy(io);
		th_posix_done(p);
	}
}

// A 1 GiB map over a level-2 table whose subtree holds only kept (empty) leaf tables drops the
// subtree with one invalidation and maps the page (iovirt_pt_kept: the marks go with it); while
// the subtree holds any leaf (a 2 MiB page beside the kept table, or a 4 KiB page in a second leaf
// table) it is IOVIRT_EEXIST with nothing changed and no invalidation. Every format.
Test(pt_fmt_api, large_map_over_kept_subtree)
{
	for (unsigned f = 0; f < 4; f++) {
		struct iovirt_posix *p = th_posix();
		struct iovirt_iommu *io = mk_io(p, formats[f], IOVIRT_RECLAIM_DEFERRED);
		cr_assert_eq(iovirt_pt_space_create(io, 1, NULL), 0);
		struct iovirt_pt_root_info ri = { .size = sizeof(ri) };
		cr_assert_eq(iovirt_pt_root_info(io, 1, &ri), 0);
		cr_assert_eq(iovirt_pt_map(io, 1, GiB(1) + KiB(8), 0, KiB(4), RW), 0);
		cr_assert_eq(iovirt_pt_unmap(io, 1, GiB(1) + KiB(8), KiB(4)), (int64_t)KiB(4));
		cr_assert_eq(iovirt_pt_kept(io), 1);
		cr_assert_eq(iovirt_pt_map(io, 1, GiB(1) + MiB(4), GiB(9), MiB(2), RW), 0);
		struct iovirt_pt_stats st0, st;
		iovirt_pt_stats(io, &st0);
		cr_assert_eq(iovirt_pt_map(io, 1, GiB(1), GiB(2), GiB(1), RW), IOVIRT_EEXIST, "fmt %u: a 2 MiB leaf", formats[f]);
		iovirt_pt_stats(io, &st);
		cr_assert_eq(st.invalidations, st0.invalidations);
		cr_assert_eq(st.tables, st0.tables);
		cr_assert_eq(iovirt_pt_kept(io), 1);
		struct iovirt_xlate x;
		cr_assert_eq(iovirt_pt_translate(io, 1, GiB(1) + MiB(5), IOVIRT_PROT_READ, &x), 0);
		cr_assert_eq(x.page_size, MiB(2));
		cr_assert_eq(x.pa, GiB(9) + MiB(1));
		/* a 4 KiB page in a second leaf table instead */
		cr_assert_eq(iovirt_pt_map(io, 1, GiB(1) + MiB(8) + KiB(4), GiB(3), KiB(4), RW), 0);
		cr_assert_eq(iovirt_pt_unmap(io, 1, GiB(1) + MiB(4), MiB(2)), (int64_t)MiB(2));
		iovirt_pt_stats(io, &st0);
		cr_assert_eq(iovirt_pt_map(io, 1, GiB(1), GiB(2), GiB(1), RW), IOVIRT_EEXIST, "fmt %u: a 4 KiB leaf", formats[f]);
		iovirt_pt_stats(io, &st);
		cr_assert_eq(st.invalidations, st0.invalidations);
		cr_assert_eq(iovirt_pt_translate(io, 1, GiB(1) + MiB(8) + KiB(4), IOVIRT_PROT_WRITE, &x), 0);
		cr_assert_eq(x.pa, GiB(3));
		/* both leaf tables kept and empty: the 1 GiB page takes the subtree's place */
		cr_assert_eq(iovirt_pt_unmap(io, 1, GiB(1) + MiB(8) + KiB(4), KiB(4)), (int64_t)KiB(4));
		cr_assert_eq(iovirt_pt_kept(io), 2);
		iovirt_pt_stats(io, &st0);
		cr_assert_eq(st0.tables, 5, "root, level 3, level 2, two leaf tables");
		cr_assert_eq(iovirt_pt_map(io, 1, GiB(1), GiB(2), GiB(1), IOVIRT_PROT_READ), 0, "fmt %u", formats[f]);
		iovirt_pt_stats(io, &st);
		cr_assert_eq(st.invalidations, st0.invalidations + 1, "one invalidation for the dropped subtree");
		cr_assert_eq(st.tables, 2, "the level-2 table and both leaf tables gone");
		cr_assert_eq(iovirt_pt_kept(io), 0);
		cr_assert_eq(iovirt_pt_translate(io, 1, GiB(1) + KiB(8), IOVIRT_PROT_READ, &x), 0);
		cr_assert_eq(x.page_size, GiB(1));
		cr_assert_eq(x.pa, GiB(2) + KiB(8));
		cr_assert_eq(hw_walk_info(&ri, GiB(1) + MiB(8) + KiB(4), NULL), GiB(2) + MiB(8) + KiB(4));
		cr_assert_eq(iovirt_pt_reclaim(io), 3);
		iovirt_iommu_destroy(io);
		th_posix_done(p);
	}
}

struct snap_tables {
	uint32_t n;
	struct iovirt_pt_table t[16];
};

static int snap_table(void *arg, const struct iovirt_pt_table *t)
{
	struct snap_tables *s = arg;
	if (s->n < 16)
		s->t[s->n] = *t;
	s->n++;
	return 0;
}

// A map inside one leaf table in an empty region (one page and several; under an empty root
// slot and under a level-2 table without that leaf table) whose Nth table allocation fails is
// IOVIRT_ENOMEM with the tables exactly as before (all or nothing), for every N until the map
// succeeds, and every format; the live table pages come back after reclaim.
Test(pt_fmt_api, small_map_allocation_failure)
{
	static const uint64_t sizes[] = { KiB(4), KiB(12) };
	static const uint64_t at[] = { GiB(7) + MiB(2) + KiB(8), GiB(1) + MiB(6) + KiB(4) };
	for (unsigned f = 0; f < 4; f++) {
		for (int z = 0; z < 2; z++) {
			for (int a = 0; a < 2; a++) {
				struct iovirt_posix *p = th_posix();
				struct iovirt_iommu *io = mk_io(p, formats[f], IOVIRT_RECLAIM_DEFERRED);
				cr_assert_eq(iovirt_pt_space_create(io, 1, NULL), 0);
				cr_assert_eq(iovirt_pt_map(io, 1, GiB(1), 0, MiB(2), RW), 0); /* a level-2 table at GiB(1) */
				struct snap_tables before = { 0 }, after = { 0 };
				cr_assert_eq(iovirt_pt_foreach_table(io, 1, snap_table, &before), 0);
				int r = IOVIRT_ENOMEM;
				uint64_t n;
				for (n = 1; r == IOVIRT_ENOMEM; n++) {
					iovirt_posix_fail_alloc_at(p, n);
					r = iovirt_pt_map(io, 1, at[a], MiB(64), sizes[z], RW);
					iovirt_posix_fail_alloc_at(p, 0);
					if (r != IOVIRT_ENOMEM)
						break;
					after.n = 0;
					cr_assert_eq(iovirt_pt_foreach_table(io, 1, snap_table, &after), 0);
					cr_assert_eq(after.n, before.n, "fmt %u size %llu at %d, N %llu: tables", formats[f],
						     (unsigned long long)sizes[z], a, (unsigned long long)n);
					cr_assert_eq(memcmp(after.t, before.t, before.n * sizeof(before.t[0])), 0);
					struct iovirt_xlate x;
					cr_assert_eq(iovirt_pt_translate(io, 1, at[a], IOVIRT_PROT_READ, &x), IOVIRT_ENOENT);
				}
				cr_assert_eq(r, 0, "fmt %u: %d", formats[f], r);
				cr_assert_geq(n, 2, "at least one allocation failed first");
				struct iovirt_xlate x;
				cr_assert_eq(iovirt_pt_translate(io, 1, at[a] + sizes[z] - 1, IOVIRT_PROT_WRITE, &x), 0);
				cr_assert_eq(x.pa, MiB(64) + sizes[z] - 1);
				cr_assert_eq(iovirt_pt_unmap(io, 1, at[a], sizes[z]), (int64_t)sizes[z]);
				iovirt_pt_reclaim(io);
				iovirt_iommu_destroy(io);
				th_posix_done(p);
			}
		}
	}
}

// iovirt_pt_space_create failing at its Nth allocation (directory chunk, space, root table) is
// IOVIRT_ENOMEM with nothing created and no table page left (only the directory chunk may stay),
// for every N until it succeeds, every format and both reclaim modes; the space then works.
Test(pt_fmt_api, space_create_allocation_failure)
{
	for (unsigned f = 0; f < 4; f++) {
		for (uint32_t mode = 0; mode < 2; mode++) {
			struct iovirt_posix *p = th_posix();
			struct iovirt_iommu *io = mk_io(p, formats[f], mode);
			const int64_t mem = iovirt_posix_live_mem(p), tables = iovirt_posix_live_tables(p);
			struct iovirt_pt_stats st0;
			iovirt_pt_stats(io, &st0);
			const uint64_t meta = st0.meta_bytes;
			int r = IOVIRT_ENOMEM;
			uint64_t n;
			for (n = 1; r == IOVIRT_ENOMEM; n++) {
				iovirt_posix_fail_alloc_at(p, n);
				r = iovirt_pt_space_create(io, 0x12345, NULL);
				iovirt_posix_fail_alloc_at(p, 0);
				if (r != IOVIRT_ENOMEM)
					break;
				struct iovirt_pt_stats st;
				iovirt_pt_stats(io, &st);
				cr_assert_eq(st.spaces, 0);
				cr_assert_eq(iovirt_posix_live_tables(p), tables, "fmt %u N %llu", formats[f], (unsigned long long)n);
				/* nothing left behind, the ASID directory's chunk included
				 * (made only with the space it holds) */
				cr_assert_eq(iovirt_posix_live_mem(p), mem, "fmt %u N %llu: %lld bytes more", formats[f],
					     (unsigned long long)n, (long long)(iovirt_posix_live_mem(p) - mem));
				cr_assert_eq(st.meta_bytes, meta, "fmt %u N %llu", formats[f], (unsigned long long)n);
				cr_assert_eq(iovirt_pt_root(io, 0x12345, &(uint64_t){ 0 }, &(unsigned){ 0 }), IOVIRT_ENOASID);
			}
			cr_assert_eq(r, 0);
			cr_assert_geq(n, 3, "fmt %u: the chunk, the space and its root each failed once", formats[f]);
			cr_assert_gt(iovirt_posix_live_mem(p), mem);
			cr_assert_eq(iovirt_pt_map(io, 0x12345, 0, 0, MiB(2), RW), 0);
			cr_assert_eq(iovirt_pt_space_destroy(io, 0x12345), 0);
			iovirt_pt_reclaim(io);
			iovirt_iommu_destroy(io);
			th_posix_done(p);
		}
	}
}

static int count_mapping(void *arg, const struct iovirt_mapping *m)
{
	(void)m;
	++*(int *)arg;
	return 0;
}

static int count_table(void *arg, const struct iovirt_pt_table *t)
{
	(void)t;
	++*(int *)arg;
	return 0;
}

static void count_line(void *arg, const char *line)
{
	(void)line;
	++*(int *)arg;
}

/* A NULL iommu is refused by every function, never read (the header's
 * list: EINVAL, ENOASID, 0 or nothing), and the out parameters are left
 * alone. */
Test(pt_fmt_api, null_iommu)
{
	struct iovirt_pt_gather g;
	iovirt_pt_gather_init(&g, 1);
	struct iovirt_xlate x;
	memset(&x, 0xa5, sizeof(x));
	struct iovirt_xlate x0 = x;
	uint64_t pa = 7;
	unsigned lv = 9;
	int n = 0;
	cr_assert_eq(iovirt_pt_space_create(NULL, 1, NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_map(NULL, 1, 0, 0, 4096, IOVIRT_PROT_READ), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_unmap(NULL, 1, 0, 4096), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_unmap_gather(NULL, 1, 0, 4096, &g), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_split(NULL, 1, 0), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_translate(NULL, 1, 0, IOVIRT_PROT_READ, &x), IOVIRT_EINVAL);
	cr_assert_eq(memcmp(&x, &x0, sizeof(x)), 0);
	cr_assert_eq(iovirt_pt_ats_set(NULL, 1, 1, true), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_iommu_reclaim_mode(NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pt_space_destroy(NULL, 1), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_foreach(NULL, 1, count_mapping, &n), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_foreach_table(NULL, 1, count_table, &n), IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pt_dump(NULL, 1, count_line, &n), IOVIRT_ENOASID);
	cr_assert_eq(n, 0);
	cr_assert_eq(iovirt_pt_root(NULL, 1, &pa, &lv), IOVIRT_ENOASID);
	cr_assert_eq(pa, 7);
	cr_assert_eq(lv, 9);
	struct iovirt_pt_root_info ri = { .size = sizeof(ri) };
	cr_assert_eq(iovirt_pt_root_info(NULL, 1, &ri), IOVIRT_ENOASID);
	iovirt_pt_gather_flush(NULL, &g);
	struct iovirt_pt_stats st;
	memset(&st, 0xa5, sizeof(st));
	struct iovirt_pt_stats st0 = st;
	iovirt_pt_stats(NULL, &st);
	cr_assert_eq(memcmp(&st, &st0, sizeof(st)), 0);
	cr_assert_eq(iovirt_pt_cached(NULL), 0);
	cr_assert_eq(iovirt_pt_kept(NULL), 0);
	cr_assert_eq(iovirt_pt_reclaim(NULL), 0);
	cr_assert_eq(iovirt_pt_trim(NULL), 0);
	iovirt_iommu_destroy(NULL);
}
