/* SPDX-License-Identifier: MIT */
/* Differential test: long random operation sequences checked against ptmodel.h after every step. */
#include "hw_walk.h"
#include "pt_test.h"
#include "ptmodel.h"

static uint64_t rnd_size(uint64_t *s)
{
	switch (th_rand(s) % 8) {
	case 0:
		return GiB(1);
	case 1:
	case 2:
		return MiB(2) * (1 + th_rand(s) % 3);
	case 3:
		return MiB(2) + KiB(4) * (th_rand(s) % 4);
	default:
		return KiB(4) * (1 + th_rand(s) % 40);
	}
}

static uint64_t rnd_addr(uint64_t *s, uint64_t limit)
{
	uint64_t a = th_rand(s) % limit;
	switch (th_rand(s) % 4) {
	case 0:
		return a & ~(GiB(1) - 1);
	case 1:
		return a & ~(MiB(2) - 1);
	default:
		return a & ~(KiB(4) - 1);
	}
}

static void run(uint64_t seed, uint64_t pgsizes, uint32_t width, int steps)
{
	struct pt_fix f;
	struct ptm m;
	uint64_t s = seed;
	pt_fix_init(&f, IOVIRT_RECLAIM_AFTER_INVAL);
	pt_fix_space(&f, 3, width, pgsizes);
	cr_assert(ptm_init(&m, pgsizes));
	struct iovirt_pt_root_info ri = { .size = sizeof(ri) };
	cr_assert_eq(iovirt_pt_root_info(f.io, 3, &ri), 0);
	for (int i = 0; i < steps; i++) {
		const unsigned op = th_rand(&s) % 10;
		const uint64_t iova = rnd_addr(&s, PTM_WINDOW);
		if (op < 5) {
			uint64_t size = rnd_size(&s), pa = rnd_addr(&s, GiB(64));
			unsigned prot = 1 + th_rand(&s) % 3;
			if (iova + size > PTM_WINDOW)
				size = PTM_WINDOW - iova;
			int want = ptm_map(&m, iova, pa, size, prot);
			int got = iovirt_pt_map(f.io, 3, iova, pa, size, prot);
			cr_assert_eq(got, want, "step %d map 0x%llx+0x%llx: got %s want %s", i,
				     (unsigned long long)iova, (unsigned long long)size, iovirt_err_name(got),
				     iovirt_err_name(want));
		} else if (op < 8) {
			uint64_t size = rnd_size(&s) * (1 + th_rand(&s) % 4);
			if (iova + size > PTM_WINDOW)
				size = PTM_WINDOW - iova;
			int64_t want = ptm_unmap(&m, iova, size);
			int64_t got = iovirt_pt_unmap(f.io, 3, iova, size);
			cr_assert_eq(got, want, "step %d unmap 0x%llx+0x%llx: got %lld want %lld", i,
				     (unsigned long long)iova, (unsigned long long)size, (long long)got,
				     (long long)want);
		} else if (op < 9) {
			int want = ptm_split(&m, iova);
			int got = iovirt_pt_split(f.io, 3, iova);
			cr_assert_eq(got, want, "step %d split", i);
		}
		/* After every step: translations of random addresses agree. */
		for (int k = 0; k < 8; k++) {
			uint64_t v = th_rand(&s) % PTM_WINDOW;
			unsigned acc = 1 + th_rand(&s) % 3;
			struct iovirt_xlate a = { 0 }, b = { 0 };
			int want = ptm_translate(&m, v, acc, &a);
			int got = iovirt_pt_translate(f.io, 3, v, acc, &b);
			cr_assert_eq(got, want, "step %d translate 0x%llx", i, (unsigned long long)v);
			if (!want || want == IOVIRT_EPERM) {
				cr_assert_eq(b.pa, a.pa);
				cr_assert_eq(b.page_size, a.page_size);
				cr_assert_eq(b.prot, a.prot);
			}
			/* The format's specification walk over the raw tables agrees too. */
			struct vtd_walk w;
			const uint64_t hw = hw_walk_info(&ri, v, &w);
			if (want == IOVIRT_ENOENT) {
				cr_assert_eq(hw, VTD_WALK_FAULT, "step %d hw 0x%llx", i, (unsigned long long)v);
			} else {
				cr_assert_eq(hw, a.pa, "step %d hw 0x%llx", i, (unsigned long long)v);
				cr_assert_eq(w.rw, a.prot);
			}
		}
		if (i % 64 == 63 || i == steps - 1)
			cr_assert_eq(ptm_compare(&m, f.io, 3), 0, "step %d: tables differ from the model", i);
	}
	ptm_fini(&m);
	pt_fix_done(&f);
}

/* Random map/unmap/split/translate with all page sizes agree with the model at every step. */
Test(pt_model, all_sizes_48bit)
{
	run(0x1234, IOVIRT_PAGES_ALL, 48, 1500);
}

/* The same with 4K and 2M only, in a 39-bit (3-level) space. */
Test(pt_model, no_1g_39bit)
{
	run(0xbeef, IOVIRT_PAGE_4K | IOVIRT_PAGE_2M, 39, 1500);
}

/* The same with 4K pages only in a 57-bit (5-level) space. */
Test(pt_model, only_4k_57bit)
{
	run(0x5eed, IOVIRT_PAGE_4K, 57, 800);
}

/* The same in a 32-bit device's space, whose range is exactly the model's window. */
Test(pt_model, space_32bit)
{
	run(0x3232, IOVIRT_PAGES_ALL, 32, 1000);
}

/* The same with 4K and 1G only: a split of a 1 GiB page gives 4 KiB pages (no 2 MiB page appears). */
Test(pt_model, no_2m_48bit)
{
	run(0x41c, IOVIRT_PAGE_4K | IOVIRT_PAGE_1G, 48, 1500);
}
