/* SPDX-License-Identifier: MIT */
/*
 * lib/pin: handles are unique across domains that share an address or a
 * guest (issue 10, item 11); a failed pin_map or pin_validated leaves the
 * handle state as it was (item 13); a re-validation that outgrows max_segs is
 * ESTALE (item 12).
 */
#include "pin_test.h"
#include "reuse_host.h"

static struct iovirt_host_seg out[64];

/* The sequence: a destroyed domain's handle, same slot and generation
 * as a live one of a new domain at the same address, is refused (EOWNER). */
Test(pin_handles, dead_domain_handle_refused_at_same_address)
{
	struct pt t;
	pt_init(&t);
	struct reuse_host ra;
	ra_init(&ra, t.p);
	struct iovirt_seg s = pt_seg(PT_GPA, 4096);
	struct iovirt_pin_domain *d1, *d2;
	struct iovirt_pin_handle h1, h2;
	cr_assert_eq(iovirt_pin_domain_create(&ra.ops, &ra, t.map, NULL, &d1), 0);
	cr_assert_eq(iovirt_pin_sg(d1, NULL, &s, 1, out, 64, NULL, &h1), 1);
	cr_assert_eq(iovirt_pin_complete(d1, h1), 0);
	cr_assert_eq(iovirt_pin_domain_destroy(d1), 0);
	cr_assert_eq(iovirt_pin_domain_create(&ra.ops, &ra, t.map, NULL, &d2), 0);
	cr_assert_eq((void *)d2, (void *)d1, "the scenario needs the same address");
	cr_assert_eq(iovirt_pin_sg(d2, NULL, &s, 1, out, 64, NULL, &h2), 1);
	cr_assert_eq(h2.index, h1.index);
	cr_assert_eq(h2.gen, h1.gen);
	cr_assert_eq(iovirt_pin_complete(d2, h1), IOVIRT_EOWNER);
	cr_assert_eq(iovirt_pin_unmap(d2, h1), IOVIRT_EOWNER);
	cr_assert_eq(iovirt_pin_count(d2, PT_GPA), 1, "h2's pages must stay pinned");
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 1);
	cr_assert_eq(iovirt_pin_complete(d2, h2), 0);
	cr_assert_eq(iovirt_pin_domain_destroy(d2), 0);
	ra_fini(&ra);
	pt_fini(&t);
}

static int cmp_handle(const void *a, const void *b)
{
	const struct iovirt_pin_handle *x = a, *y = b;
	if (x->tag != y->tag)
		return x->tag < y->tag ? -1 : 1;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	if (x->gen != y->gen)
		return x->gen < y->gen ? -1 : 1;
	return 0;
}

#define LOOPS 10000
#define PER 2 /* handles issued per domain */

/* Destroy and create 10,000 times at the same address (and beside a domain
 * of a second map of the same guest): every handle ever issued is unique,
 * and every earlier domain's handle is refused with EOWNER by each new one. */
Test(pin_handles, unique_over_ten_thousand_domains, .timeout = 120)
{
	struct pt t;
	pt_init(&t);
	struct reuse_host ra;
	ra_init(&ra, t.p);
	/* a second map of the same guest, with its own long-lived domain */
	struct iovirt_gmap *map2;
	struct iovirt_gmap_params gp = { sizeof(gp), PT_GUEST, 0 };
	cr_assert_eq(iovirt_gmap_create(t.ops, t.p, &gp, &map2), 0);
	struct iovirt_region a = { .size = sizeof(a), .gpa = PT_GPA, .length = PT_BYTES,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
				   .flags = IOVIRT_REGION_HPA, .hva = t.mem, .hpa = PT_HPA_A };
	cr_assert_eq(iovirt_gmap_add(map2, &a), 0);
	struct iovirt_pin_domain *other;
	cr_assert_eq(iovirt_pin_domain_create(t.ops, t.p, map2, NULL, &other), 0);
	struct iovirt_pin_handle ho;
	struct iovirt_seg s = pt_seg(PT_GPA, 4096);
	cr_assert_eq(iovirt_pin_sg(other, NULL, &s, 1, out, 64, NULL, &ho), 1);

	struct iovirt_pin_params pp = { .size = sizeof(pp), .max_handles = PER, .max_segs = 1 };
	struct iovirt_pin_handle *all = calloc((size_t)LOOPS * PER + 1, sizeof(*all));
	cr_assert_not_null(all);
	size_t n = 0;
	void *first = NULL;
	uint32_t same_addr = 0;
	for (uint32_t i = 0; i < LOOPS; i++) {
		struct iovirt_pin_domain *d;
		cr_assert_eq(iovirt_pin_domain_create(&ra.ops, &ra, t.map, &pp, &d), 0);
		if (!first)
			first = d;
		same_addr += (void *)d == first;
		/* every earlier domain's handle, and the other map's, is foreign here */
		size_t accepted = 0;
		for (size_t k = 0; k < n; k++)
			accepted += iovirt_pin_complete(d, all[k]) != IOVIRT_EOWNER;
		cr_assert_eq(accepted, 0, "loop %u: %zu earlier handles not refused", i, accepted);
		cr_assert_eq(iovirt_pin_complete(d, ho), IOVIRT_EOWNER);
		struct iovirt_pin_handle h[PER];
		for (uint32_t k = 0; k < PER; k++)
			cr_assert_eq(iovirt_pin_sg(d, NULL, &s, 1, out, 64, NULL, &h[k]), 1);
		for (uint32_t k = 0; k < PER; k++) {
			cr_assert_eq(iovirt_pin_complete(other, h[k]), IOVIRT_EOWNER);
			cr_assert_eq(iovirt_pin_complete(d, h[k]), 0);
			all[n++] = h[k];
		}
		cr_assert_eq(iovirt_pin_domain_destroy(d), 0);
	}
	cr_assert_eq(same_addr, LOOPS, "the allocator must give back the same address");
	all[n++] = ho;
	qsort(all, n, sizeof(*all), cmp_handle);
	for (size_t k = 1; k < n; k++)
		cr_assert_neq(cmp_handle(&all[k - 1], &all[k]), 0, "handle issued twice");
	free(all);
	cr_assert_eq(iovirt_pin_count(other, PT_GPA), 1);
	cr_assert_eq(iovirt_pin_complete(other, ho), 0);
	cr_assert_eq(iovirt_pin_domain_destroy(other), 0);
	cr_assert_eq(iovirt_gmap_destroy(map2), 0);
	ra_fini(&ra);
	pt_fini(&t);
}

/*
 * Handle-state observation for "a failure changes no handle": a twin domain
 * on the same map gets every successful call the tested domain gets, but none
 * of the failing ones. Both must answer the same for their old (completed)
 * handles and hand out the same next handle (index and generation).
 */
#define OLD 3
struct twin {
	struct iovirt_pin_domain *d[2];   /* tested, twin */
	struct iovirt_pin_handle old[2][OLD];
	uint32_t nold;
	struct iovirt_pin_handle live[2]; /* a live DMA in each */
};

static void twin_init(struct pt *t, struct twin *w, uint32_t max_handles)
{
	struct iovirt_pin_params pp = { .size = sizeof(pp), .max_handles = max_handles };
	memset(w, 0, sizeof(*w));
	w->d[0] = t->dom;
	cr_assert_eq(iovirt_pin_domain_create(t->ops, t->p, t->map, &pp, &w->d[1]), 0);
	/* both domains: one live DMA and OLD completed handles of different slots */
	struct iovirt_seg s = pt_seg(PT_GPA + 0x3000, 4096);
	for (int k = 0; k < 2; k++) {
		cr_assert_eq(iovirt_pin_sg(w->d[k], NULL, &s, 1, out, 64, NULL, &w->live[k]), 1);
		for (uint32_t i = 0; i < OLD; i++)
			cr_assert_eq(iovirt_pin_sg(w->d[k], NULL, &s, 1, out, 64, NULL, &w->old[k][i]), 1);
		for (uint32_t i = 0; i < OLD; i++)
			cr_assert_eq(iovirt_pin_complete(w->d[k], w->old[k][i]), 0);
	}
	w->nold = OLD;
}

/* Same answers for the old handles, then the same next handle in both. */
static void twin_same(struct twin *w, const char *what, uint64_t n)
{
	for (uint32_t i = 0; i < w->nold; i++) {
		int a = iovirt_pin_complete(w->d[0], w->old[0][i]);
		int b = iovirt_pin_complete(w->d[1], w->old[1][i]);
		cr_assert_eq(a, b, "%s n=%llu: old handle %u answers %s, twin %s", what,
			     (unsigned long long)n, i, iovirt_strerror(a), iovirt_strerror(b));
	}
	struct iovirt_seg s = pt_seg(PT_GPA + 0x5000, 4096);
	struct iovirt_pin_handle h[2];
	for (int k = 0; k < 2; k++)
		cr_assert_eq(iovirt_pin_sg(w->d[k], NULL, &s, 1, out, 64, NULL, &h[k]), 1);
	cr_assert_eq(h[0].index, h[1].index, "%s n=%llu: next slot differs", what, (unsigned long long)n);
	cr_assert_eq(h[0].gen, h[1].gen, "%s n=%llu: next generation differs", what, (unsigned long long)n);
	for (int k = 0; k < 2; k++)
		cr_assert_eq(iovirt_pin_complete(w->d[k], h[k]), 0);
}

static void twin_fini(struct twin *w)
{
	for (int k = 0; k < 2; k++)
		cr_assert_eq(iovirt_pin_complete(w->d[k], w->live[k]), 0);
	cr_assert_eq(iovirt_pin_domain_destroy(w->d[1]), 0);
}

/* The sequence: after a map refused with ENOASID, an already
 * completed handle still answers EDONE (the failed map took no slot). */
Test(pin_handles, enoasid_map_keeps_completed_handle_done)
{
	struct pt t;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .max_handles = 1 };
	pt_init_params(&t, &pp);
	struct iovirt_seg s = pt_seg(PT_GPA, 4096);
	struct iovirt_pin_handle h, hm;
	uint64_t iova = 0;
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h), 1);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), IOVIRT_EDONE);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, 99, PT_GPA_B, 4096, PRW, 0, &iova, &hm),
		     IOVIRT_ENOASID);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), IOVIRT_EDONE);
	struct iovirt_pin_handle h2;
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, &h2), 1);
	cr_assert_eq(h2.gen, h.gen + 1, "the failed map bumped the generation");
	cr_assert_eq(iovirt_pin_complete(t.dom, h2), 0);
	pt_fini(&t);
}

#define FIXED_IOVA (UINT64_C(1) << 40) /* outside the default allocator window */

/* Every refusal of pin_map (no space, page-table entry taken at the first or a
 * later page, window full, validation, host pin) leaves handle slots and
 * generations as they were. */
Test(pin_handles, failed_map_changes_no_handle)
{
	struct pt t;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .max_handles = 8,
					.iova_base = 1u << 20, .iova_end = (1u << 20) + 4 * 4096 };
	pt_init_params(&t, &pp);
	struct twin w;
	twin_init(&t, &w, 8);
	/* taken entries at FIXED_IOVA + 2 pages, under the fixed mappings below */
	cr_assert_eq(iovirt_pt_map(t.io, PT_ASID, FIXED_IOVA + 2 * 4096, PT_HPA_B, 4096,
				   IOVIRT_PROT_READ), 0);
	struct {
		const char *what;
		uint32_t asid;
		uint64_t gpa, len;
		unsigned flags;
		uint64_t iova;
		int fail_pin;
		int want;
	} c[] = {
		{ "no space", 99, PT_GPA_B, 4096, 0, 0, 0, IOVIRT_ENOASID },
		{ "no space, fixed", 99, PT_GPA_B, 4096, IOVIRT_PIN_MAP_FIXED, FIXED_IOVA, 0,
		  IOVIRT_ENOASID },
		{ "entry taken at page 0", PT_ASID, PT_GPA_B, 4096, IOVIRT_PIN_MAP_FIXED,
		  FIXED_IOVA + 2 * 4096, 0, IOVIRT_EEXIST },
		{ "entry taken at page 2", PT_ASID, PT_GPA_B, 4 * 4096, IOVIRT_PIN_MAP_FIXED,
		  FIXED_IOVA, 0, IOVIRT_EEXIST },
		{ "window full", PT_ASID, PT_GPA_B, 8 * 4096, 0, 0, 0, IOVIRT_ERANGE },
		{ "no region", PT_ASID, 0x40000000, 4096, 0, 0, 0, IOVIRT_ENOREGION },
		{ "host pin", PT_ASID, PT_GPA_B, 4096, 0, 0, 1, IOVIRT_EHOST },
	};
	for (uint32_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct pt_snap a, b;
		struct iovirt_pin_handle h;
		uint64_t iova = c[i].iova;
		pt_snap_take(&t, &a);
		iovirt_posix_fail_pin_at(t.p, (uint64_t)c[i].fail_pin);
		int r = iovirt_pin_map(t.dom, t.io, c[i].asid, c[i].gpa, c[i].len, PRW, c[i].flags,
				       &iova, &h);
		iovirt_posix_fail_pin_at(t.p, 0);
		cr_assert_eq(r, c[i].want, "%s: %s", c[i].what, iovirt_strerror(r));
		pt_snap_take(&t, &b);
		pt_snap_same(&a, &b);
		twin_same(&w, c[i].what, i);
	}
	/* the translation at page 2 is the only one left */
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(t.io, PT_ASID, FIXED_IOVA, IOVIRT_PROT_READ, &x),
		     IOVIRT_ENOENT);
	cr_assert_eq(iovirt_pt_unmap(t.io, PT_ASID, FIXED_IOVA + 2 * 4096, 4096), 4096);
	twin_fini(&w);
	pt_fini(&t);
}

/* The Nth allocation failing in a map (allocator, count structure, page
 * tables), for every N, leaves handle slots and generations as they were. */
Test(pin_handles, alloc_failure_in_map_changes_no_handle)
{
	struct pt t;
	struct iovirt_pin_params pp = { .size = sizeof(pp), .max_handles = 8 };
	pt_init_params(&t, &pp);
	struct twin w;
	twin_init(&t, &w, 8);
	struct iovirt_pin_handle h;
	uint64_t iova = 0;
	int fired = 0;
	for (uint64_t n = 1;; n++) {
		iovirt_posix_fail_alloc_at(t.p, n);
		/* a new ASID's allocator, leaves of B's counts, and table pages */
		int r = iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B + 0x100000, 16 * 4096, PRW, 0,
				       &iova, &h);
		bool f = iovirt_posix_fail_fired(t.p);
		iovirt_posix_fail_alloc_at(t.p, 0);
		if (!f) {
			cr_assert_eq(r, 0);
			break;
		}
		fired++;
		cr_assert_eq(r, IOVIRT_ENOMEM, "n=%llu r=%d", (unsigned long long)n, r);
		twin_same(&w, "ENOMEM", n);
	}
	cr_assert_geq(fired, 3);
	cr_assert_eq(iovirt_pin_unmap(t.dom, h), 0);
	twin_fini(&w);
	pt_fini(&t);
}

/*
 * Item 12: 16 two-page segments validated in B, then B replaced at the same
 * gpa by a region given page by page (no two pages contiguous): re-validation
 * needs 32 entries, more than max_segs. The map changed since the
 * validation: ESTALE (retry after validating again), not ETOOMANY; and
 * nothing changed, handles included.
 */
Test(pin_handles, validated_list_outgrowing_max_segs_is_stale)
{
	struct pt t;
	pt_init(&t);
	struct twin w;
	twin_init(&t, &w, IOVIRT_PIN_DEFAULT_MAX_HANDLES);
	struct iovirt_seg segs[16];
	struct iovirt_host_seg list[16];
	for (uint32_t i = 0; i < 16; i++)
		segs[i] = pt_seg(PT_GPA_B + i * 3 * 4096ull, 2 * 4096);
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, segs, 16, list, 16, NULL), 16);
	/* and 4 one-page segments, whose entries keep their number but not
	 * their host addresses */
	struct iovirt_seg one[4];
	struct iovirt_host_seg list1[4];
	for (uint32_t i = 0; i < 4; i++)
		one[i] = pt_seg(PT_GPA_B + i * 2 * 4096ull, 4096);
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, one, 4, list1, 4, NULL), 4);
	/* a policy that admits fewer segments than the list has: ETOOMANY, as
	 * the contract says (the list itself is too long for it) */
	struct iovirt_pin_handle h;
	struct iovirt_sg_policy few = { .size = sizeof(few), .max_segs = 2 };
	cr_assert_eq(iovirt_pin_validated(t.dom, &few, list, 16, &h), IOVIRT_ETOOMANY);
	/* the list pins as long as the map is the same */
	cr_assert_eq(iovirt_pin_validated(t.dom, NULL, list, 16, &h), 16);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	/* the twin mirrors that success */
	cr_assert_eq(iovirt_pin_validated(w.d[1], NULL, list, 16, &h), 16);
	cr_assert_eq(iovirt_pin_complete(w.d[1], h), 0);
	twin_same(&w, "pinned and completed", 0);

	cr_assert_eq(iovirt_gmap_remove(t.map, PT_GPA_B), 0);
	uint64_t *pages = malloc(PT_B_BYTES / 4096 * sizeof(*pages));
	cr_assert_not_null(pages);
	for (uint64_t i = 0; i < PT_B_BYTES / 4096; i++)
		pages[i] = PT_HPA_B + 2 * i * 4096; /* every other host page */
	struct iovirt_region b = { .size = sizeof(b), .gpa = PT_GPA_B, .length = PT_B_BYTES,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
				   .flags = IOVIRT_REGION_HPA_PAGES, .page_hpa = pages };
	cr_assert_eq(iovirt_gmap_add(t.map, &b), 0);
	free(pages);

	struct pt_snap sa, sb;
	pt_snap_take(&t, &sa);
	cr_assert_eq(iovirt_pin_validated(t.dom, NULL, list, 16, &h), IOVIRT_ESTALE);
	pt_snap_take(&t, &sb);
	pt_snap_same(&sa, &sb);
	twin_same(&w, "stale list", 1);
	/* a list that outgrows its own length (2 entries for 1): the same */
	cr_assert_eq(iovirt_pin_validated(t.dom, NULL, list, 1, &h), IOVIRT_ESTALE);
	twin_same(&w, "stale short list", 2);
	/* as many entries as given, other host addresses: ESTALE after the pin
	 * is undone, and still no handle changed */
	pt_snap_take(&t, &sa);
	cr_assert_eq(iovirt_pin_validated(t.dom, NULL, list1, 4, &h), IOVIRT_ESTALE);
	pt_snap_take(&t, &sb);
	pt_snap_same(&sa, &sb);
	twin_same(&w, "stale one-page list", 3);
	/* validated again, the list pins */
	struct iovirt_host_seg again[32];
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, segs, 8, again, 32, NULL), 16);
	cr_assert_eq(iovirt_pin_validated(t.dom, NULL, again, 16, &h), 16);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	twin_fini(&w);
	pt_fini(&t);
}
