/* SPDX-License-Identifier: MIT */
/* A held region's fast check (vb_held_fill, vb_held_validate) against iovirt_sg_validate. */
#include "vt.h"
#include "validate/held.h"

#define G(x) (VT_GPA + (x) * 4096ull)
#define NREG 9u

static uint64_t page_hpa[4] = { 0x7000000, 0x7001000, 0x9000000, 0x9001000 };

/* Regions of every kind the fast check must tell apart: own RAM (with a host
 * address, with a host physical address only, read-only, write-only), ROM,
 * MMIO, another guest's RAM, SHARED, RAM given page by page. */
static void add_all(struct vt *t, uint64_t *gpa, uint64_t *len)
{
	static const struct {
		uint64_t gpa, len;
		uint32_t kind, access, owner_delta, pages;
	} r[NREG] = {
		{ G(0), 16 * 4096, IOVIRT_REGION_RAM, RW, 0, 0 },
		{ 0x10000000, 8 * 4096, IOVIRT_REGION_RAM, RW, 0, 0 },
		{ G(16), 4 * 4096, IOVIRT_REGION_RAM, DR, 0, 0 },
		{ G(20), 4 * 4096, IOVIRT_REGION_RAM, DW, 0, 0 },
		{ G(24), 4 * 4096, IOVIRT_REGION_ROM, DR, 0, 0 },
		{ 0x20000000, 4 * 4096, IOVIRT_REGION_MMIO, RW, 0, 0 },
		{ 0x30000000, 4 * 4096, IOVIRT_REGION_RAM, RW, 1, 0 },
		{ 0x40000000, 4 * 4096, IOVIRT_REGION_SHARED, RW, 1, 0 },
		{ 0x50000000, 4 * 4096, IOVIRT_REGION_RAM, RW, 0, 1 },
	};
	for (uint32_t i = 0; i < NREG; i++) {
		struct iovirt_region d = vt_region(t, r[i].gpa, r[i].len, r[i].kind, r[i].access);
		d.owner += r[i].owner_delta;
		if (r[i].pages) {
			d.flags = IOVIRT_REGION_HPA_PAGES;
			d.page_hpa = page_hpa;
		}
		cr_assert_eq(iovirt_gmap_add(t->map, &d), 0, "region %u", i);
		gpa[i] = r[i].gpa;
		len[i] = r[i].len;
	}
}

static uint64_t rnd_state = 0x243f6a8885a308d3ull;
static uint64_t rnd(void)
{
	return th_rand(&rnd_state);
}

// Whenever the fast check accepts a segment, iovirt_sg_validate (default policy) accepts it with the same single host entry; it accepts every in-region segment of own RAM with a permitted direction, and nothing of the other kinds, outside the region, empty, wrapping or of a bad direction.
Test(held, same_as_sg_validate)
{
	struct vt t;
	uint64_t gpa[NREG], len[NREG];
	vt_init(&t);
	add_all(&t, gpa, len);
	uint32_t accepted = 0;
	for (uint32_t i = 0; i < NREG; i++) {
		struct iovirt_gmap_region *reg;
		cr_assert_eq(iovirt_gmap_region_get(t.map, gpa[i], &reg), 0);
		struct vb_held f;
		vb_held_fill(t.map, reg, &f);
		cr_assert_eq(f.gpa, gpa[i]);
		cr_assert_eq(f.last, gpa[i] + len[i] - 1);
		for (uint32_t k = 0; k < 20000; k++) {
			uint64_t g = gpa[i] + (rnd() % (len[i] + 3 * 4096)) - 4096;
			if (k % 7 == 0)
				g = rnd();
			static const uint64_t lens[] = { 1, 4096, 8192, 100, 0, UINT64_MAX, 3 * 4096 + 5 };
			uint64_t l = k % 3 ? lens[rnd() % 7] : rnd() % (len[i] + 8192);
			uint32_t dir = (uint32_t)(rnd() % 6);
			struct iovirt_seg s = { .gpa = g, .len = l, .dir = dir };
			struct iovirt_host_seg a[4], b[4];
			memset(a, 0x5a, sizeof(a));
			memset(b, 0x5a, sizeof(b));
			int fr = vb_held_validate(&f, &s, a);
			int vr = iovirt_sg_validate(t.map, NULL, &s, 1, b, 4, NULL);
			bool lean = i < 4 && g >= gpa[i] && l && l - 1 <= gpa[i] + len[i] - 1 - g &&
				    g <= gpa[i] + len[i] - 1 && dir >= 1 && dir <= 3 &&
				    !(dir & ~(i == 2 ? DR : i == 3 ? DW : RW));
			cr_assert_eq(fr, lean, "region %u gpa %#llx len %#llx dir %u", i,
				     (unsigned long long)g, (unsigned long long)l, dir);
			if (!fr) {
				cr_assert_eq(a[0].gpa, 0x5a5a5a5a5a5a5a5aull, "declined: out untouched");
				continue;
			}
			accepted++;
			cr_assert_eq(vr, 1);
			cr_assert_eq(memcmp(a, b, sizeof(a)), 0, "region %u gpa %#llx", i,
				     (unsigned long long)g);
		}
		iovirt_gmap_region_put(t.map, reg);
	}
	cr_assert_gt(accepted, 1000);
	vt_fini(&t);
}
