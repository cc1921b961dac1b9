/* SPDX-License-Identifier: MIT */
/*
 * lib/pin: argument refusals of every entry point, each with its specific
 * error and nothing changed (out untouched, no memory, no count, no hold).
 */
#include "pin_test.h"

#define PG 4096ull

static struct iovirt_host_seg out[64];

/* domain_create refuses NULL ops/map/out and a short ops size (EINVAL), a
 * missing mem_alloc/mem_free/pin/unpin (ENOSYS), bad params (EINVAL); *out
 * untouched, no memory taken. */
Test(pin_refusals, domain_create)
{
	struct pt t;
	pt_init(&t);
	int64_t live = iovirt_posix_live_mem(t.p);
	struct iovirt_pin_domain *const mark = (struct iovirt_pin_domain *)&t;
	struct iovirt_pin_domain *d = mark;
	cr_assert_eq(iovirt_pin_domain_create(NULL, t.p, t.map, NULL, &d), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_domain_create(t.ops, t.p, NULL, NULL, &d), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_domain_create(t.ops, t.p, t.map, NULL, NULL), IOVIRT_EINVAL);
	struct iovirt_host_ops ops = *t.ops;
	ops.size = offsetof(struct iovirt_host_ops, table_alloc) - 1;
	cr_assert_eq(iovirt_pin_domain_create(&ops, t.p, t.map, NULL, &d), IOVIRT_EINVAL);
	/* each required callback missing in turn */
	for (int i = 0; i < 6; i++) {
		ops = *t.ops;
		switch (i) {
		case 0: ops.mem_alloc = NULL; break;
		case 1: ops.mem_free = NULL; break;
		case 2: ops.pin = NULL; break;
		case 3: ops.unpin = NULL; break;
		case 4: ops.size = offsetof(struct iovirt_host_ops, pin); break; /* too old for pin */
		default: ops.size = offsetof(struct iovirt_host_ops, unpin); break; /* ... for unpin */
		}
		cr_assert_eq(iovirt_pin_domain_create(&ops, t.p, t.map, NULL, &d), IOVIRT_ENOSYS, "i=%d", i);
	}
	struct iovirt_pin_params bad[] = {
		{ .size = sizeof(bad[0]) - 1 },
		{ .size = sizeof(bad[0]), .max_handles = IOVIRT_PIN_MAX_HANDLES + 1 },
		{ .size = sizeof(bad[0]), .max_segs = IOVIRT_PIN_MAX_SEGS + 1 },
		{ .size = sizeof(bad[0]), .iova_base = 1ull << 20 },          /* end 0: empty */
		{ .size = sizeof(bad[0]), .iova_end = 1ull << 20 },           /* base 0 < end: fine below */
		{ .size = sizeof(bad[0]), .iova_base = 2 << 20, .iova_end = 1 << 20 },
		{ .size = sizeof(bad[0]), .iova_base = (1 << 20) + 8, .iova_end = 2 << 20 },
		{ .size = sizeof(bad[0]), .iova_base = 1 << 20, .iova_end = (2 << 20) + 8 },
		{ .size = sizeof(bad[0]), .reserved = 1 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int want = i == 4 ? 0 : IOVIRT_EINVAL;
		int r = iovirt_pin_domain_create(t.ops, t.p, t.map, &bad[i], &d);
		cr_assert_eq(r, want, "params %zu: %d", i, r);
		if (r == 0) {
			cr_assert_eq(iovirt_pin_domain_destroy(d), 0);
			d = mark;
		}
	}
	cr_assert_eq(d, mark, "*out untouched");
	cr_assert_eq(iovirt_posix_live_mem(t.p), live);
	/* the largest limits are accepted (handles x segs = 2^30 pages at most) */
	struct iovirt_pin_params big = { .size = sizeof(big), .max_handles = 1, .max_segs = IOVIRT_PIN_MAX_SEGS };
	cr_assert_eq(iovirt_pin_domain_create(t.ops, t.p, t.map, &big, &d), 0);
	cr_assert_eq(iovirt_pin_domain_destroy(d), 0);
	pt_fini(&t);
}

/* NULL domains: destroy is a no-op (0), the others refuse (EINVAL) or give
 * 0; stats with a NULL side writes nothing. */
Test(pin_refusals, null_domain)
{
	struct iovirt_pin_handle h = { 0, 1, 1 };
	cr_assert_eq(iovirt_pin_domain_destroy(NULL), 0);
	cr_assert_eq(iovirt_pin_complete(NULL, h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_unmap(NULL, h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_flush(NULL), 0);
	cr_assert_eq(iovirt_pin_count(NULL, 0), 0);
	struct iovirt_pin_stats st;
	memset(&st, 0xab, sizeof(st));
	iovirt_pin_stats(NULL, &st);
	cr_assert_eq(st.flushes, 0xababababababababull, "nothing written");
	struct pt t;
	pt_init(&t);
	iovirt_pin_stats(t.dom, NULL);
	cr_assert_eq(iovirt_pin_flush(t.dom), 0, "nothing queued");
	pt_fini(&t);
}

/* pin_sg, pin_sg_guest and pin_validated refuse NULL arguments and nsegs 0
 * (EINVAL), a list above max_segs (ETOOMANY), pin_sg_guest a host without
 * guest_read (ENOSYS) and a list range that wraps (EOVERFLOW); nothing
 * changed, no guest read. */
Test(pin_refusals, pin_arguments)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_seg s = pt_seg(PT_GPA, PG);
	struct iovirt_host_seg v[17];
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, &s, 1, v, 1, NULL), 1);
	for (int i = 1; i < 17; i++)
		v[i] = v[0];
	struct iovirt_pin_handle h = { 77, 77, 77 };
	struct pt_snap a, b;
	pt_snap_take(&t, &a);
	uint64_t reads = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ);
	cr_assert_eq(iovirt_pin_sg(NULL, NULL, &s, 1, out, 64, NULL, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, NULL, 1, out, 64, NULL, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, NULL, 64, NULL, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 1, out, 64, NULL, NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s, 0, out, 64, NULL, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_sg_guest(NULL, NULL, PT_GPA, 1, out, 64, NULL, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_sg_guest(t.dom, NULL, PT_GPA, 1, NULL, 64, NULL, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_sg_guest(t.dom, NULL, PT_GPA, 1, out, 64, NULL, NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_sg_guest(t.dom, NULL, PT_GPA, 0, out, 64, NULL, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_sg_guest(t.dom, NULL, PT_GPA, 17, out, 64, NULL, &h), IOVIRT_ETOOMANY);
	cr_assert_eq(iovirt_pin_sg_guest(t.dom, NULL, UINT64_MAX - 8, 1, out, 64, NULL, &h),
		     IOVIRT_EOVERFLOW);
	cr_assert_eq(iovirt_pin_sg_guest(t.dom, NULL, UINT64_MAX - 30, 2, out, 64, NULL, &h),
		     IOVIRT_EOVERFLOW, "the last byte just past 2^64 - 1");
	cr_assert_eq(iovirt_pin_validated(NULL, NULL, v, 1, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_validated(t.dom, NULL, NULL, 1, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_validated(t.dom, NULL, v, 1, NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_validated(t.dom, NULL, v, 0, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_validated(t.dom, NULL, v, 17, &h), IOVIRT_ETOOMANY);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ), reads, "no guest read");
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	cr_assert_eq(h.index, 77);
	cr_assert_eq(h.gen, 77);

	/* a host without guest_read: ENOSYS for the guest list only */
	struct iovirt_host_ops ops = *t.ops;
	ops.guest_read = NULL;
	struct iovirt_pin_domain *d;
	cr_assert_eq(iovirt_pin_domain_create(&ops, t.p, t.map, NULL, &d), 0);
	cr_assert_eq(iovirt_pin_sg_guest(d, NULL, PT_GPA, 1, out, 64, NULL, &h), IOVIRT_ENOSYS);
	cr_assert_eq(iovirt_pin_sg(d, NULL, &s, 1, out, 64, NULL, &h), 1);
	cr_assert_eq(iovirt_pin_complete(d, h), 0);
	cr_assert_eq(iovirt_pin_domain_destroy(d), 0);
	pt_fini(&t);
}

/* pin_map refuses NULL arguments, len 0, prot 0 or unknown, unknown flags
 * (EINVAL), misalignment (EALIGN), a length above 2^62 (ETOOBIG), a fixed
 * range that wraps (EOVERFLOW): nothing pinned, mapped, or handed out. */
Test(pin_refusals, map_arguments)
{
	struct pt t;
	pt_init(&t);
	struct pt_snap a, b;
	pt_snap_take(&t, &a);
	uint64_t iova = 0x55000, fixed = 1ull << 40;
	struct iovirt_pin_handle h = { 77, 77, 77 };
	uint64_t g = PT_GPA_B;
	cr_assert_eq(iovirt_pin_map(NULL, t.io, PT_ASID, g, PG, PRW, 0, &iova, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_map(t.dom, NULL, PT_ASID, g, PG, PRW, 0, &iova, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, g, PG, PRW, 0, NULL, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, g, PG, PRW, 0, &iova, NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, g, 0, PRW, 0, &iova, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, g, PG, 0, 0, &iova, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, g, PG, PRW | 8, 0, &iova, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, g, PG, PRW, 2, &iova, &h), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, g + 8, PG, PRW, 0, &iova, &h), IOVIRT_EALIGN);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, g, PG + 8, PRW, 0, &iova, &h), IOVIRT_EALIGN);
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, g, (1ull << 62) + PG, PRW, 0, &iova, &h),
		     IOVIRT_ETOOBIG);
	uint64_t odd = fixed + 8;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, g, PG, PRW, IOVIRT_PIN_MAP_FIXED, &odd, &h),
		     IOVIRT_EALIGN);
	uint64_t top = UINT64_MAX - PG + 1;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, g, 2 * PG, PRW, IOVIRT_PIN_MAP_FIXED, &top, &h),
		     IOVIRT_EOVERFLOW);
	cr_assert_eq(iova, 0x55000, "*iova untouched");
	cr_assert_eq(h.index, 77);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_PIN), 0);
	pt_fini(&t);
}

/* destroy with a live mapping is EBUSY and changes nothing (the mapping
 * still translates and can be unmapped); then it succeeds. */
Test(pin_refusals, destroy_with_live_mapping)
{
	struct pt t;
	pt_init(&t);
	uint64_t iova;
	struct iovirt_pin_handle h;
	cr_assert_eq(iovirt_pin_map(t.dom, t.io, PT_ASID, PT_GPA_B, 2 * PG, PRW, 0, &iova, &h), 0);
	cr_assert_eq(iovirt_pin_domain_destroy(t.dom), IOVIRT_EBUSY);
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_pt_translate(t.io, PT_ASID, iova + PG, IOVIRT_PROT_WRITE, &x), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 2);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), IOVIRT_EINVAL, "a mapping is not completed");
	cr_assert_eq(iovirt_pin_unmap(t.dom, h), 0);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0);
	pt_fini(&t);
}

/*
 * pin_validated: a list whose host addresses no longer match the map (hva or
 * hpa changed) is ESTALE with nothing changed; a list whose entry now needs
 * more entries (a region given page by page) is ESTALE whether the policy
 * gives max_segs or leaves it 0 (the default), not ETOOMANY.
 */
Test(pin_refusals, validated_mismatch)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_seg s = pt_seg(PT_GPA + PG, 2 * PG);
	struct iovirt_host_seg v[2], w;
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, &s, 1, v, 2, NULL), 1);
	struct pt_snap a, b;
	pt_snap_take(&t, &a);
	struct iovirt_pin_handle h;
	w = v[0];
	w.hva = (uint8_t *)w.hva + PG;
	cr_assert_eq(iovirt_pin_validated(t.dom, NULL, &w, 1, &h), IOVIRT_ESTALE);
	w = v[0];
	w.hpa += PG;
	cr_assert_eq(iovirt_pin_validated(t.dom, NULL, &w, 1, &h), IOVIRT_ESTALE);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	cr_assert_eq(iovirt_posix_pinned_pages(t.p), 0, "pinned and unpinned again");

	/* region D given page by page, no two pages contiguous */
	uint64_t pages[4] = { 0x7000000, 0x7002000, 0x7004000, 0x7006000 };
	struct iovirt_region d = { .size = sizeof(d), .gpa = 0x40000000, .length = 4 * PG,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = PT_GUEST,
				   .flags = IOVIRT_REGION_HPA_PAGES, .page_hpa = pages };
	cr_assert_eq(iovirt_gmap_add(t.map, &d), 0);
	w = (struct iovirt_host_seg){ .hva = NULL, .hpa = pages[0], .gpa = d.gpa, .len = 2 * PG,
				      .dir = IOVIRT_DEV_READ };
	struct iovirt_sg_policy dflt = { .size = sizeof(dflt) }, one = { .size = sizeof(one), .max_segs = 1 };
	cr_assert_eq(iovirt_pin_validated(t.dom, &dflt, &w, 1, &h), IOVIRT_ESTALE);
	cr_assert_eq(iovirt_pin_validated(t.dom, &one, &w, 1, &h), IOVIRT_ESTALE);
	cr_assert_eq(iovirt_pin_validated(t.dom, NULL, &w, 1, &h), IOVIRT_ESTALE);
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	cr_assert_eq(iovirt_gmap_in_use(t.map, d.gpa), 0);
	/* the list as the map gives it now pins */
	struct iovirt_host_seg v2[2];
	s = pt_seg(d.gpa, 2 * PG);
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, &s, 1, v2, 2, NULL), 2);
	cr_assert_eq(iovirt_pin_validated(t.dom, &dflt, v2, 2, &h), 2);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	pt_fini(&t);
}

static void on_done(void *arg, int result)
{
	int *r = arg;
	*r = result;
}

/* A removal pending on B does not refuse pins of other regions, whether the
 * domain's hold on them is known (fast path) or taken now (slow path). */
Test(pin_refusals, pending_removal_elsewhere)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_handle hb, ha, h1;
	struct iovirt_seg sb = pt_seg(PT_GPA_B, PG);
	struct iovirt_seg two[2] = { pt_seg(PT_GPA, PG), pt_seg(PT_GPA + 4 * PG, PG) };
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &sb, 1, out, 64, NULL, &hb), 1);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, two, 2, out, 64, NULL, &ha), 2); /* A's range known */
	int result = 99;
	cr_assert_eq(iovirt_pin_remove_deferred(t.dom, PT_GPA_B, on_done, &result),
		     IOVIRT_PIN_REMOVE_PENDING);
	struct iovirt_seg s1 = pt_seg(PT_GPA + 8 * PG, PG);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s1, 1, out, 64, NULL, &h1), 1, "A: fast path");
	cr_assert_eq(iovirt_pin_complete(t.dom, h1), 0);
	cr_assert_eq(iovirt_pin_complete(t.dom, ha), 0); /* A no longer held: slow path next */
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 0);
	cr_assert_eq(iovirt_pin_sg(t.dom, NULL, &s1, 1, out, 64, NULL, &h1), 1, "A: slow path");
	cr_assert_eq(iovirt_gmap_in_use(t.map, PT_GPA), 1);
	cr_assert_eq(result, 99, "B still pinned");
	cr_assert_eq(iovirt_pin_complete(t.dom, hb), 0);
	cr_assert_eq(result, 0, "B removed on its last complete");
	cr_assert_eq(iovirt_pin_complete(t.dom, h1), 0);
	iovirt_gmap_reclaim(t.map);
	pt_fini(&t);
}

/* A guest list whose last byte is 2^64 - 1 is representable: pin_sg_guest
 * reads and pins it, as iovirt_sg_validate_guest accepts it; one byte further
 * is EOVERFLOW with no guest read and nothing changed. */
Test(pin_refusals, guest_list_at_top_of_address_space)
{
	struct pt t;
	pt_init(&t);
	static uint8_t top[4096] __attribute__((aligned(4096)));
	const uint64_t top_gpa = UINT64_MAX - 4095;
	memset(top, 0, sizeof(top));
	cr_assert_eq(iovirt_posix_guest_add(t.p, PT_GUEST, top_gpa, top, sizeof(top)), 0);
	/* two entries in the last 32 bytes, each { le64 gpa; le32 len; le16 dir; le16 0 } */
	for (int k = 0; k < 2; k++) {
		uint8_t *w = top + 4096 - 32 + 16 * k;
		uint64_t gpa = PT_GPA + (uint64_t)k * PG;
		for (int i = 0; i < 8; i++)
			w[i] = (uint8_t)(gpa >> (8 * i));
		w[9] = 0x10; /* len 4096 */
		w[12] = IOVIRT_DEV_READ;
	}
	struct iovirt_pin_handle h;
	cr_assert_eq(iovirt_pin_sg_guest(t.dom, NULL, UINT64_MAX - 15, 1, out, 64, NULL, &h), 1,
		     "one entry ending at 2^64 - 1");
	cr_assert_eq(out[0].gpa, PT_GPA + PG);
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	cr_assert_eq(iovirt_pin_sg_guest(t.dom, NULL, UINT64_MAX - 31, 2, out, 64, NULL, &h), 1,
		     "two entries ending at 2^64 - 1 (adjacent: one host segment)");
	cr_assert_eq(iovirt_pin_complete(t.dom, h), 0);
	struct pt_snap a, b;
	pt_snap_take(&t, &a);
	uint64_t reads = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ);
	cr_assert_eq(iovirt_pin_sg_guest(t.dom, NULL, UINT64_MAX - 14, 1, out, 64, NULL, &h),
		     IOVIRT_EOVERFLOW, "one byte past");
	cr_assert_eq(iovirt_pin_sg_guest(t.dom, NULL, UINT64_MAX - 30, 2, out, 64, NULL, &h),
		     IOVIRT_EOVERFLOW, "one byte past, two entries");
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ), reads, "no guest read");
	pt_snap_take(&t, &b);
	pt_snap_same(&a, &b);
	pt_fini(&t);
}

/* pin_params at version 1 (IOVIRT_PIN_PARAMS_SIZE_V1, the caller's struct
 * ending there) makes a domain with those values; one byte less is EINVAL;
 * nothing past the caller's size is read (a heap block of exactly that size).
 * A size larger than this header's (a newer caller) is not refused either. */
Test(pin_refusals, params_version_1)
{
	struct pt t;
	pt_init(&t);
	struct iovirt_pin_params pp = { .size = sizeof(pp), .max_handles = 3, .max_segs = 2 };
	struct iovirt_pin_params *v1 = th_truncated(&pp, IOVIRT_PIN_PARAMS_SIZE_V1);
	struct iovirt_pin_domain *d = NULL;
	cr_assert_eq(iovirt_pin_domain_create(t.ops, t.p, t.map, v1, &d), 0);
	struct iovirt_seg s[3] = { pt_seg(PT_GPA, PG), pt_seg(PT_GPA + 2 * PG, PG), pt_seg(PT_GPA, PG) };
	struct iovirt_pin_handle h;
	cr_assert_eq(iovirt_pin_sg(d, NULL, s, 3, out, 64, NULL, &h), IOVIRT_ETOOMANY, "max_segs read");
	cr_assert_eq(iovirt_pin_domain_destroy(d), 0);
	v1->size--;
	d = NULL;
	cr_assert_eq(iovirt_pin_domain_create(t.ops, t.p, t.map, v1, &d), IOVIRT_EINVAL);
	cr_assert_null(d);
	free(v1);
	/* a newer caller: its struct is larger, the appended bytes unknown here */
	struct { struct iovirt_pin_params p; uint64_t later; } newer = { pp, 42 };
	newer.p.size = sizeof(newer);
	cr_assert_eq(iovirt_pin_domain_create(t.ops, t.p, t.map, &newer.p, &d), 0);
	cr_assert_eq(iovirt_pin_domain_destroy(d), 0);
	pt_fini(&t);
}
