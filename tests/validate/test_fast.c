/* SPDX-License-Identifier: MIT */
/* The inline fast path and the bucket index: region edges, map changes, limits, lookups. */
#include "model.h"
#include "vt.h"

#define G(x) (VT_GPA + (x) * 4096ull)

static int check1(struct vt *t, const struct iovirt_sg_policy *pol, uint64_t gpa, uint64_t len,
		  uint32_t dir, struct iovirt_dma_result *res)
{
	struct iovirt_seg s = { gpa, len, dir, 0 };
	struct iovirt_host_seg out[4];
	return iovirt_sg_validate(t->map, pol, &s, 1, out, 4, res);
}

// A segment ending exactly at a region's end passes; one byte more is ECROSS (strict policy) or spans, or ENOREGION at the first byte outside.
Test(fast, region_edges)
{
	struct vt t;
	struct iovirt_dma_result res;
	vt_init(&t);
	vt_add(&t, G(0), 8 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(&t, G(8), 2 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(&t, G(12), 4096, IOVIRT_REGION_RAM, RW);
	cr_assert_eq(check1(&t, NULL, G(8) - 100, 100, DW, &res), 1);
	cr_assert_eq(res.total, 100);
	const struct iovirt_sg_policy strict = { .size = sizeof(strict),
						 .flags = IOVIRT_POLICY_STRICT_REGIONS };
	cr_assert_eq(check1(&t, &strict, G(8) - 100, 101, DW, &res), IOVIRT_ECROSS);
	cr_assert_eq(res.gpa, G(8));
	/* without the strict policy: one entry per region */
	cr_assert_eq(check1(&t, NULL, G(8) - 100, 101, DW, &res), 2);
	cr_assert_eq(check1(&t, NULL, G(8) - 1, 1, DR, &res), 1);
	cr_assert_eq(check1(&t, NULL, G(8), 2 * 4096, DR, &res), 1);
	cr_assert_eq(check1(&t, NULL, G(10) - 1, 2, DR, &res), IOVIRT_ENOREGION);
	cr_assert_eq(res.gpa, G(10));
	cr_assert_eq(check1(&t, NULL, G(10), 1, DR, &res), IOVIRT_ENOREGION);
	cr_assert_eq(check1(&t, NULL, G(0) - 1, 1, DR, &res), IOVIRT_ENOREGION);
	cr_assert_eq(check1(&t, NULL, G(13) - 1, 1, DR, &res), 1);
	cr_assert_eq(check1(&t, NULL, G(13), 1, DR, &res), IOVIRT_ENOREGION);
	cr_assert_eq(check1(&t, NULL, G(1), 0, DR, &res), IOVIRT_EZEROLEN);
	cr_assert_eq(check1(&t, NULL, G(1), UINT64_MAX, DR, &res), IOVIRT_EOVERFLOW);
	cr_assert_eq(check1(&t, &strict, G(1), 0 - G(1), DR, &res), IOVIRT_ECROSS);
	cr_assert_eq(check1(&t, NULL, G(1), 0 - G(1), DR, &res), IOVIRT_ENOREGION);
	cr_assert_eq(res.gpa, G(10));
	cr_assert_eq(check1(&t, NULL, G(1), 8, 0, &res), IOVIRT_EINVAL);
	cr_assert_eq(check1(&t, NULL, G(1), 8, 4, &res), IOVIRT_EINVAL);
	cr_assert_eq(check1(&t, NULL, G(1), 8, DR | 8, &res), IOVIRT_EINVAL);
	vt_fini(&t);
}

// After a remove, shrink or re-add, validation sees the new map, never a remembered region.
Test(fast, map_changes)
{
	struct vt t;
	struct iovirt_dma_result res;
	vt_init(&t);
	vt_add(&t, G(0), 8 * 4096, IOVIRT_REGION_RAM, RW);
	cr_assert_eq(check1(&t, NULL, G(6), 4096, DW, &res), 1);
	cr_assert_eq(iovirt_gmap_shrink(t.map, G(0), 4 * 4096), 0);
	cr_assert_eq(check1(&t, NULL, G(6), 4096, DW, &res), IOVIRT_ENOREGION);
	cr_assert_eq(check1(&t, NULL, G(3), 4097, DW, &res), IOVIRT_ENOREGION);
	cr_assert_eq(res.gpa, G(4));
	cr_assert_eq(check1(&t, NULL, G(3), 4096, DW, &res), 1);
	cr_assert_eq(iovirt_gmap_remove(t.map, G(0)), 0);
	cr_assert_eq(check1(&t, NULL, G(3), 4096, DW, &res), IOVIRT_ENOREGION);
	vt_add(&t, G(0), 8 * 4096, IOVIRT_REGION_ROM, RW);
	cr_assert_eq(check1(&t, NULL, G(3), 4096, DW, &res), IOVIRT_EREADONLY);
	cr_assert_eq(check1(&t, NULL, G(3), 4096, DR, &res), 1);
	cr_assert_eq(iovirt_gmap_remove(t.map, G(0)), 0);
	vt_add(&t, G(0), 8 * 4096, IOVIRT_REGION_RAM, DR);
	cr_assert_eq(check1(&t, NULL, G(3), 4096, DW, &res), IOVIRT_EREADONLY);
	cr_assert_eq(check1(&t, NULL, G(3), 4096, DR | DW, &res), IOVIRT_EREADONLY);
	cr_assert_eq(iovirt_gmap_remove(t.map, G(0)), 0);
	vt_add(&t, G(0), 8 * 4096, IOVIRT_REGION_RAM, DW);
	cr_assert_eq(check1(&t, NULL, G(3), 4096, DR, &res), IOVIRT_EPERM);
	cr_assert_eq(check1(&t, NULL, G(3), 4096, DW, &res), 1);
	iovirt_gmap_reclaim(t.map);
	vt_fini(&t);
}

// Limits hold on the fast path: max_total exactly and one byte over, alignment, a full host list.
Test(fast, limits)
{
	struct vt t;
	struct iovirt_dma_result res;
	vt_init(&t);
	vt_add(&t, G(0), 8 * 4096, IOVIRT_REGION_RAM, RW);
	struct iovirt_sg_policy pol = { .size = sizeof(pol), .max_total = 1000 };
	struct iovirt_seg s[3] = { { G(1), 600, DR, 0 }, { G(3), 400, DW, 0 }, { G(5), 1, DW, 0 } };
	struct iovirt_host_seg out[4];
	cr_assert_eq(iovirt_sg_validate(t.map, &pol, s, 2, out, 4, &res), 2);
	cr_assert_eq(res.total, 1000);
	cr_assert_eq(res.read_bytes, 600);
	cr_assert_eq(res.write_bytes, 400);
	cr_assert_eq(iovirt_sg_validate(t.map, &pol, s, 3, out, 4, &res), IOVIRT_ETOOBIG);
	cr_assert_eq(res.seg, 2);
	pol = (struct iovirt_sg_policy){ .size = sizeof(pol), .addr_align = 64, .len_align = 8 };
	cr_assert_eq(check1(&t, &pol, G(1) + 64, 8, DR, &res), 1);
	cr_assert_eq(check1(&t, &pol, G(1) + 32, 8, DR, &res), IOVIRT_EALIGN);
	cr_assert_eq(check1(&t, &pol, G(1) + 64, 12, DR, &res), IOVIRT_EALIGN);
	/* a full list: a merge still fits, a new entry does not */
	struct iovirt_seg m[2] = { { G(1), 100, DR, 0 }, { G(1) + 100, 100, DR, 0 } };
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, m, 2, out, 1, &res), 1);
	cr_assert_eq(out[0].len, 200);
	cr_assert_eq(out[0].exposed, 4096 - 200);
	cr_assert_eq(res.exposed, 4096 - 200);
	m[1].gpa += 1;
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, m, 2, out, 1, &res), IOVIRT_ETOOMANY);
	cr_assert_eq(res.seg, 1);
	vt_fini(&t);
}

// A 1-descriptor-per-segment fast path and the general path give the same list: a fast segment
// followed by one the fast path declines (per-page region) and by a fast one again.
Test(fast, mixed_paths)
{
	struct vt t;
	struct iovirt_dma_result res;
	vt_init(&t);
	vt_add(&t, G(0), 8 * 4096, IOVIRT_REGION_RAM, RW);
	static const uint64_t pages[2] = { 0x9000000, 0x5000000 };
	struct iovirt_region r = { .size = sizeof(r), .gpa = G(8), .length = 2 * 4096,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = VT_GUEST,
				   .flags = IOVIRT_REGION_HPA_PAGES, .page_hpa = pages };
	cr_assert_eq(iovirt_gmap_add(t.map, &r), 0);
	struct iovirt_seg s[3] = { { G(7), 4096, DR, 0 }, { G(8) + 4000, 200, DR, 0 },
				   { G(2), 10, DW, 0 } };
	struct iovirt_host_seg out[8];
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, s, 3, out, 8, &res), 4);
	cr_assert_eq(out[0].hva, t.mem + 7 * 4096);
	cr_assert_eq(out[1].hpa, 0x9000000 + 4000);
	cr_assert_eq(out[1].len, 96);
	cr_assert_eq(out[2].hpa, 0x5000000);
	cr_assert_eq(out[2].len, 104);
	cr_assert_eq(out[3].gpa, G(2));
	cr_assert_eq(res.total, 4096 + 200 + 10);
	cr_assert_eq(res.exposed, out[0].exposed + out[1].exposed + out[2].exposed + out[3].exposed);
	vt_fini(&t);
}

struct span {
	uint64_t gpa, len;
};

/* Looks up the bytes around every region and in every gap, against the list. */
static void check_lookups(struct iovirt_gmap *map, const struct span *sp, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t probes[5] = { sp[i].gpa, sp[i].gpa + sp[i].len - 1, sp[i].gpa - 1,
				       sp[i].gpa + sp[i].len, sp[i].gpa + sp[i].len / 2 };
		for (int k = 0; k < 5; k++) {
			uint64_t a = probes[k];
			int want = IOVIRT_ENOREGION;
			uint64_t base = 0;
			for (size_t j = 0; j < n; j++)
				if (sp[j].len && a >= sp[j].gpa && a - sp[j].gpa < sp[j].len) {
					want = 0;
					base = sp[j].gpa;
				}
			struct iovirt_region out;
			int got = iovirt_gmap_lookup(map, a, &out);
			cr_assert_eq(got, want, "lookup %#llx", (unsigned long long)a);
			if (!got)
				cr_assert_eq(out.gpa, base);
		}
	}
}

static void add_span(struct iovirt_gmap *map, uint64_t gpa, uint64_t len)
{
	struct iovirt_region r = { .size = sizeof(r), .gpa = gpa, .length = len,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = VT_GUEST,
				   .flags = IOVIRT_REGION_HPA, .hpa = 0x1000000000ull };
	cr_assert_eq(iovirt_gmap_add(map, &r), 0, "add %#llx", (unsigned long long)gpa);
}

// The bucket index finds the same region as a linear scan: even, clustered and random maps,
// a region ending at 2^64, and after removes and shrinks rebuild it.
Test(fast, lookup_index)
{
	struct vt t;
	vt_init(&t);
	enum { N = 600 };
	static struct span sp[N + 2];
	uint64_t seed = 12345;
	for (int shape = 0; shape < 3; shape++) {
		size_t n = 0;
		for (int i = 0; i < N; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t gpa, len;
			if (shape == 0) { /* even tiling */
				gpa = 0x200000000ull + (uint64_t)i * 0x4000;
				len = 0x4000;
			} else if (shape == 1) { /* a dense cluster and a few far away */
				gpa = i < N - 4 ? 0x10000ull + (uint64_t)i * 0x2000
						: (0x1000000000000ull << (i - N + 5)) - 0x100000;
				len = 0x1000;
			} else { /* random sizes and gaps */
				gpa = (n ? sp[n - 1].gpa + sp[n - 1].len : 0x1000) +
				      ((seed >> 40) % 4) * 0x1000;
				len = (1 + (seed >> 20) % 64) * 0x1000;
			}
			add_span(t.map, gpa, len);
			sp[n++] = (struct span){ gpa, len };
		}
		/* a region ending at 2^64 */
		add_span(t.map, 0 - 0x3000ull, 0x3000);
		sp[n++] = (struct span){ 0 - 0x3000ull, 0x3000 };
		check_lookups(t.map, sp, n);
		for (size_t i = 0; i < n; i += 3) {
			cr_assert_eq(iovirt_gmap_remove(t.map, sp[i].gpa), 0);
			sp[i].len = 0;
		}
		for (size_t i = 1; i < n; i += 5)
			if (sp[i].len > 0x1000) {
				cr_assert_eq(iovirt_gmap_shrink(t.map, sp[i].gpa, 0x1000), 0);
				sp[i].len = 0x1000;
			}
		check_lookups(t.map, sp, n);
		for (size_t i = 0; i < n; i++)
			if (sp[i].len)
				cr_assert_eq(iovirt_gmap_remove(t.map, sp[i].gpa), 0);
		cr_assert_eq(iovirt_gmap_lookup(t.map, sp[1].gpa, NULL), IOVIRT_ENOREGION);
		iovirt_gmap_reclaim(t.map);
	}
	vt_fini(&t);
}

/* Random regions around guest memory: kinds, permissions, owners, page lists,
 * host pointer or not; clustered so that buckets name several candidates. */
static size_t tiers_map(struct vt *t, uint64_t *seed, struct iovirt_region *r, uint64_t *pages)
{
	size_t n = 0;
	uint64_t at = VT_GPA;
	while (at < VT_GPA + 56 * 4096ull && n < 14) {
		*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t s = *seed >> 16;
		at += (s % 3) * 4096;
		uint64_t len = (1 + (s >> 2) % 6) * 4096;
		if (at + len > VT_GPA + 56 * 4096ull)
			break;
		uint32_t kinds[8] = { IOVIRT_REGION_RAM, IOVIRT_REGION_RAM, IOVIRT_REGION_RAM,
				      IOVIRT_REGION_RAM, IOVIRT_REGION_ROM, IOVIRT_REGION_MMIO,
				      IOVIRT_REGION_RESERVED, IOVIRT_REGION_SHARED };
		uint32_t kind = kinds[(s >> 5) % 8];
		r[n] = vt_region(t, at, len, kind, (uint32_t)((s >> 8) % 4));
		if ((s >> 10) % 7 == 0)
			r[n].owner = VT_GUEST + 1;
		if ((s >> 13) % 5 == 0 && kind != IOVIRT_REGION_RESERVED) { /* a page list */
			for (uint64_t p = 0; p < len / 4096; p++)
				pages[p] = 0x7000000000ull + ((s >> 16) % 2 ? p * 8192 : p * 4096);
			r[n].flags = IOVIRT_REGION_HPA_PAGES;
			r[n].page_hpa = pages;
			pages += len / 4096;
		} else if ((s >> 13) % 5 == 1 && r[n].hva) { /* host pointer and address */
			r[n].flags = IOVIRT_REGION_HPA;
			r[n].hpa = 0x9000000000ull + at;
		}
		cr_assert_eq(iovirt_gmap_add(t->map, &r[n]), 0);
		at += len;
		n++;
	}
	return n;
}

// iovirt_sg_validate's lean tiers (one segment, the lean loop, each with the default policy or a
// caller's) give what the general loop gives: the same return, host list and result as
// iovirt_sg_validate_guest (which checks every segment through vb_add) for the same list, and
// the model's refusal; over random maps (an empty one too), lists, policies and host-list sizes.
Test(fast, tiers_against_general)
{
	struct vt t;
	vt_init(&t);
	const uint64_t list_gpa = VT_GPA + 60 * 4096ull;
	static uint64_t pages[14 * 6];
	struct iovirt_region r[16];
	uint64_t seed = 777;
	for (int round = 0; round < 300; round++) {
		size_t n = round == 0 ? 0 : tiers_map(&t, &seed, r, pages);
		r[n] = vt_region(&t, list_gpa, 4 * 4096, IOVIRT_REGION_RAM, RW);
		if (round != 0)
			cr_assert_eq(iovirt_gmap_add(t.map, &r[n]), 0);
		struct m_map mm = { r, round == 0 ? 0 : n + 1, VT_GUEST };
		for (int k = 0; k < 200; k++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t s = seed >> 8;
			uint32_t counts[8] = { 1, 1, 1, 1, 2, 3, 5, 0 };
			uint32_t nseg = counts[s % 8];
			struct iovirt_seg segs[8];
			for (uint32_t i = 0; i < nseg; i++) {
				seed = seed * 6364136223846793005ull + 1442695040888963407ull;
				uint64_t v = seed >> 4;
				uint64_t gpa = VT_GPA + (v % (62 * 4096)) - 64;
				if (v % 29 == 0)
					gpa = (uint64_t[]){ 0, 1, 2, UINT64_MAX, list_gpa }[(v >> 20) % 5];
				if (i && v % 3 == 0) /* continue the previous segment */
					gpa = segs[i - 1].gpa + segs[i - 1].len;
				uint64_t len = (v >> 24) % 9000;
				if ((v >> 40) % 11 == 0)
					len = (uint64_t[]){ 0, 1, UINT32_MAX }[(v >> 44) % 3];
				segs[i] = (struct iovirt_seg){ gpa, len, (uint32_t)((v >> 50) % 5), 0 };
			}
			struct iovirt_sg_policy pol = { .size = sizeof(pol) };
			const struct iovirt_sg_policy *pp = NULL;
			if ((s >> 3) % 2) {
				pol.flags = (uint32_t)((s >> 4) % 8);
				pol.max_segs = (uint32_t)((s >> 7) % 5);
				pol.max_total = (s >> 10) % 3 ? 0 : (s >> 12) % 12000;
				pol.addr_align = (uint64_t[]){ 0, 1, 2, 16, 0, 0 }[(s >> 26) % 6];
				pol.len_align = (uint64_t[]){ 0, 1, 4, 0 }[(s >> 29) % 4];
				pp = &pol;
			}
			uint32_t cap = (uint32_t)((s >> 32) % 8);
			/* the same list in guest memory, for the general loop */
			for (uint32_t i = 0; i < nseg; i++) {
				uint8_t *w = t.mem + (list_gpa - VT_GPA) + i * 16;
				uint32_t len32 = (uint32_t)segs[i].len;
				uint16_t dir16 = (uint16_t)segs[i].dir, z = 0;
				memcpy(w, &segs[i].gpa, 8);
				memcpy(w + 8, &len32, 4);
				memcpy(w + 12, &dir16, 2);
				memcpy(w + 14, &z, 2);
			}
			struct iovirt_host_seg a[8], b[8];
			struct iovirt_dma_result ra, rb;
			memset(a, 0, sizeof(a));
			memset(b, 0, sizeof(b));
			int ga = iovirt_sg_validate(t.map, pp, segs, nseg, a, cap, &ra);
			int gb = iovirt_sg_validate_guest(t.map, t.ops, t.p, pp, list_gpa, nseg, b, cap,
							  &rb);
			int gn = iovirt_sg_validate(t.map, pp, segs, nseg, b + 0, cap, NULL);
			cr_assert_eq(gn, ga, "round %d list %d: without res %d vs %d", round, k, gn, ga);
			struct m_pol mp = m_pol_of(pp);
			if (nseg > mp.max_segs) /* the guest list's refusal names the list */
				rb.gpa = ra.gpa;
			if (round != 0) { /* (empty map: the guest's list is outside it) */
				cr_assert_eq(ga, gb, "round %d list %d: %d vs %d", round, k, ga, gb);
				cr_assert_eq(memcmp(&ra, &rb, sizeof(ra)), 0,
					     "round %d list %d (n %u, pol %d, cap %u): results differ: err %d/%d seg %u/%u gpa %llx/%llx where %u/%u nsegs %u/%u nout %u/%u total %llu/%llu r %llu/%llu w %llu/%llu x %llu/%llu",
					     round, k, nseg, pp != NULL, cap, ra.err, rb.err, ra.seg, rb.seg,
					     (unsigned long long)ra.gpa, (unsigned long long)rb.gpa, ra.where, rb.where,
					     ra.nsegs, rb.nsegs, ra.nout, rb.nout, (unsigned long long)ra.total,
					     (unsigned long long)rb.total, (unsigned long long)ra.read_bytes,
					     (unsigned long long)rb.read_bytes, (unsigned long long)ra.write_bytes,
					     (unsigned long long)rb.write_bytes, (unsigned long long)ra.exposed,
					     (unsigned long long)rb.exposed);
			}
			if (ga >= 0) {
				if (round != 0)
					cr_assert_eq(memcmp(a, b, (size_t)ga * sizeof(a[0])), 0);
				cr_assert_null(m_verify(&mm, segs, nseg, a, (uint32_t)ga), "%s",
					       m_verify(&mm, segs, nseg, a, (uint32_t)ga));
			}
			uint32_t mseg;
			uint64_t mfail;
			int want = m_check(&mm, &mp, segs, nseg, &mseg, &mfail);
			/* the model has no host list: against a list long enough */
			struct iovirt_host_seg c[32];
			struct iovirt_dma_result rc;
			int gc = iovirt_sg_validate(t.map, pp, segs, nseg, c, 32, &rc);
			if (want) {
				cr_assert_eq(gc, want, "round %d list %d: %d, model %d", round, k, gc,
					     want);
				cr_assert_eq(rc.seg, mseg);
				cr_assert_eq(rc.gpa, mfail);
			} else {
				cr_assert(gc >= 0);
				cr_assert_null(m_verify(&mm, segs, nseg, c, (uint32_t)gc));
			}
		}
		for (size_t i = 0; i < mm.n; i++)
			cr_assert_eq(iovirt_gmap_remove(t.map, r[i].gpa), 0);
		iovirt_gmap_reclaim(t.map);
	}
	vt_fini(&t);
}
