/* SPDX-License-Identifier: MIT */
/* Scatter-gather validation: every refusal, merge and split rules, exposure, read-once. */
#include "model.h"
#include "vt.h"

#define G(x) (VT_GPA + (x) * 4096ull)
#define OTHER_GUEST 99u

/*
 * Map used by most tests (pages relative to VT_GPA):
 *   [0, 8)   RAM rw          [8, 10)  RAM rw (adjacent, second region)
 *   [12,13)  ROM             [13,14)  RAM device-write only
 *   [14,15)  RAM device-read only
 *   [16,17)  MMIO (hpa)      [17,18)  MMIO (no host address)
 *   [18,19)  RESERVED        [19,20)  SHARED (owner OTHER_GUEST)
 *   [20,21)  RAM owned by OTHER_GUEST
 */
static void std_map(struct vt *t)
{
	vt_add(t, G(0), 8 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(t, G(8), 2 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(t, G(12), 4096, IOVIRT_REGION_ROM, RW);
	vt_add(t, G(13), 4096, IOVIRT_REGION_RAM, DW);
	vt_add(t, G(14), 4096, IOVIRT_REGION_RAM, DR);
	struct iovirt_region r = vt_region(t, G(16), 4096, IOVIRT_REGION_MMIO, RW);
	r.hva = NULL;
	r.flags = IOVIRT_REGION_HPA;
	r.hpa = 0xfe000000;
	cr_assert_eq(iovirt_gmap_add(t->map, &r), 0);
	r = vt_region(t, G(17), 4096, IOVIRT_REGION_MMIO, RW);
	r.hva = NULL;
	cr_assert_eq(iovirt_gmap_add(t->map, &r), 0);
	r = vt_region(t, G(18), 4096, IOVIRT_REGION_RESERVED, RW);
	r.hva = NULL;
	cr_assert_eq(iovirt_gmap_add(t->map, &r), 0);
	r = vt_region(t, G(19), 4096, IOVIRT_REGION_SHARED, RW);
	r.owner = OTHER_GUEST;
	cr_assert_eq(iovirt_gmap_add(t->map, &r), 0);
	r = vt_region(t, G(20), 4096, IOVIRT_REGION_RAM, RW);
	r.owner = OTHER_GUEST;
	cr_assert_eq(iovirt_gmap_add(t->map, &r), 0);
}

static const struct iovirt_sg_policy default_pol = { .size = sizeof(struct iovirt_sg_policy) };

// A single segment becomes one entry with the region's host pointer and physical address.
Test(sg, single)
{
	struct vt t;
	vt_init(&t);
	struct iovirt_region r = vt_region(&t, G(0), 8 * 4096, IOVIRT_REGION_RAM, RW);
	r.flags = IOVIRT_REGION_HPA;
	r.hpa = 0x7000000;
	cr_assert_eq(iovirt_gmap_add(t.map, &r), 0);
	struct iovirt_seg s = { G(1) + 100, 5000, DR, 0 };
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, &s, 1, out, 4, &res), 1);
	cr_assert_eq(out[0].hva, t.mem + 4096 + 100);
	cr_assert_eq(out[0].hpa, 0x7000000 + 4096 + 100);
	cr_assert_eq(out[0].len, 5000);
	cr_assert_eq(out[0].gpa, s.gpa);
	cr_assert_eq(out[0].dir, DR);
	cr_assert_eq(res.err, 0);
	cr_assert_eq(res.nout, 1);
	cr_assert_eq(res.nsegs, 1);
	cr_assert_eq(res.total, 5000);
	cr_assert_eq(res.read_bytes, 5000);
	cr_assert_eq(res.write_bytes, 0);
	/* pages 1 and 2 are touched: 100 bytes before, 8192 - 5100 after */
	cr_assert_eq(out[0].exposed, 100 + 8192 - 5100);
	cr_assert_eq(res.exposed, out[0].exposed);
	vt_fini(&t);
}

struct refusal {
	const char *what;
	struct iovirt_seg bad;
	struct iovirt_sg_policy pol;
	int err;
	uint64_t fail_gpa;
};

// Each refusal reason has its own code, names the refused segment (index 2) and the address.
Test(sg, refusals)
{
	struct vt t;
	vt_init(&t);
	std_map(&t);
	const struct iovirt_sg_policy P = default_pol;
	struct iovirt_sg_policy al = P, tb = P, mm = P;
	al.addr_align = 512;
	al.len_align = 0;
	tb.max_total = 3000;
	mm.flags = IOVIRT_POLICY_ALLOW_MMIO;
	struct iovirt_sg_policy st = P;
	st.flags = IOVIRT_POLICY_STRICT_REGIONS;
	struct iovirt_sg_policy ll = P;
	ll.len_align = 64;
	struct refusal cases[] = {
		{ "dir 0", { G(0), 10, 0, 0 }, P, IOVIRT_EINVAL, G(0) },
		{ "dir 4", { G(0), 10, 4, 0 }, P, IOVIRT_EINVAL, G(0) },
		{ "zero length", { G(0), 0, DR, 0 }, P, IOVIRT_EZEROLEN, G(0) },
		{ "addr align", { G(0) + 8, 512, DR, 0 }, al, IOVIRT_EALIGN, G(0) + 8 },
		{ "len align", { G(0), 65, DR, 0 }, ll, IOVIRT_EALIGN, G(0) },
		{ "overflow", { UINT64_MAX - 10, 12, DR, 0 }, P, IOVIRT_EOVERFLOW, UINT64_MAX - 10 },
		{ "total", { G(3), 3000 - 256 + 1, DR, 0 }, tb, IOVIRT_ETOOBIG, G(3) },
		{ "outside", { G(30), 10, DR, 0 }, P, IOVIRT_ENOREGION, G(30) },
		{ "below all", { 0x1000, 10, DR, 0 }, P, IOVIRT_ENOREGION, 0x1000 },
		{ "into hole", { G(9) + 4000, 200, DR, 0 }, P, IOVIRT_ENOREGION, G(10) },
		{ "cross (strict)", { G(7) + 4000, 200, DR, 0 }, st, IOVIRT_ECROSS, G(8) },
		{ "reserved", { G(18), 10, DR, 0 }, P, IOVIRT_ERESERVED, G(18) },
		{ "mmio", { G(16), 10, DR, 0 }, P, IOVIRT_EMMIO, G(16) },
		{ "mmio no host", { G(17), 10, DR, 0 }, mm, IOVIRT_EMMIO, G(17) },
		{ "p2p", { G(19), 10, DR, 0 }, P, IOVIRT_EP2P, G(19) },
		{ "foreign", { G(20), 10, DR, 0 }, P, IOVIRT_EFOREIGN, G(20) },
		{ "rom write", { G(12), 10, DW, 0 }, P, IOVIRT_EREADONLY, G(12) },
		{ "read-only write", { G(14), 10, DW, 0 }, P, IOVIRT_EREADONLY, G(14) },
		{ "write-only read", { G(13), 10, DR, 0 }, P, IOVIRT_EPERM, G(13) },
		{ "bidir on write-only", { G(13), 10, RW, 0 }, P, IOVIRT_EPERM, G(13) },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct refusal *c = &cases[i];
		struct iovirt_seg segs[3] = { { G(0), 128, DR, 0 }, { G(1), 128, DW, 0 }, c->bad };
		struct iovirt_host_seg out[8];
		struct iovirt_dma_result res;
		int r = iovirt_sg_validate(t.map, &c->pol, segs, 3, out, 8, &res);
		cr_expect_eq(r, c->err, "%s: got %s", c->what, iovirt_err_name(r));
		cr_expect_eq(res.err, c->err, "%s", c->what);
		cr_expect_eq(res.seg, 2, "%s: seg %u", c->what, res.seg);
		cr_expect_eq(res.gpa, c->fail_gpa, "%s: gpa %#llx", c->what, (unsigned long long)res.gpa);
		cr_expect_eq(res.where, IOVIRT_WHERE_LIST);
		cr_expect_eq(res.nout, 0);
		/* the model agrees */
		struct iovirt_region regs[16];
		struct m_map mm_ = { regs, 0, VT_GUEST };
		for (uint64_t pg = 0; pg < 32; pg++)
			if (!iovirt_gmap_lookup(t.map, G(pg), &regs[mm_.n]) && regs[mm_.n].gpa == G(pg))
				mm_.n++;
		struct m_pol mp = m_pol_of(&c->pol);
		uint32_t mseg;
		uint64_t mfail;
		cr_expect_eq(m_check(&mm_, &mp, segs, 3, &mseg, &mfail), c->err, "%s: model", c->what);
	}
	vt_fini(&t);
}

// Policy switches turn the MMIO and peer refusals into acceptances.
Test(sg, policy_allows)
{
	struct vt t;
	vt_init(&t);
	std_map(&t);
	struct iovirt_sg_policy pol = default_pol;
	pol.flags = IOVIRT_POLICY_ALLOW_MMIO | IOVIRT_POLICY_ALLOW_P2P;
	struct iovirt_seg segs[2] = { { G(16) + 8, 8, DW, 0 }, { G(19), 64, DR, 0 } };
	struct iovirt_host_seg out[4];
	cr_assert_eq(iovirt_sg_validate(t.map, &pol, segs, 2, out, 4, NULL), 2);
	cr_assert_eq(out[0].hpa, 0xfe000008);
	cr_assert_null(out[0].hva);
	cr_assert_eq(out[1].hva, t.mem + 19 * 4096);
	vt_fini(&t);
}

// Segment count and output capacity limits give ETOOMANY at the first segment that does not fit.
Test(sg, too_many)
{
	struct vt t;
	vt_init(&t);
	std_map(&t);
	struct iovirt_sg_policy pol = default_pol;
	pol.max_segs = 2;
	struct iovirt_seg segs[3] = { { G(0), 10, DR, 0 }, { G(2), 10, DR, 0 }, { G(4), 10, DR, 0 } };
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	cr_assert_eq(iovirt_sg_validate(t.map, &pol, segs, 3, out, 4, &res), IOVIRT_ETOOMANY);
	cr_assert_eq(res.seg, 2);
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, segs, 3, out, 2, &res), IOVIRT_ETOOMANY);
	cr_assert_eq(res.seg, 2);
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, segs, 3, out, 3, &res), 3);
	/* a bad policy is EINVAL */
	pol.addr_align = 3;
	cr_assert_eq(iovirt_sg_validate(t.map, &pol, segs, 3, out, 3, &res), IOVIRT_EINVAL);
	vt_fini(&t);
}

// Adjacent segments of one region and direction merge; other directions, gaps and regions do not.
Test(sg, merge_rules)
{
	struct vt t;
	vt_init(&t);
	std_map(&t);
	struct iovirt_seg segs[] = {
		{ G(0), 100, DR, 0 },        /* 0 */
		{ G(0) + 100, 4000, DR, 0 }, /* merges into 0, crossing a page boundary */
		{ G(1) + 4, 50, DW, 0 },     /* other direction: new entry */
		{ G(1) + 54, 10, DW, 0 },    /* merges */
		{ G(1) + 80, 10, DW, 0 },    /* gap: new entry */
		{ G(7), 4096, DW, 0 },       /* region 0's last page */
		{ G(8), 4096, DW, 0 },       /* region 1: host memory continues, still a new entry */
	};
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	int n = iovirt_sg_validate(t.map, NULL, segs, 7, out, 8, &res);
	cr_assert_eq(n, 5);
	cr_assert_eq(out[0].len, 4100);
	cr_assert_eq(out[1].len, 60);
	cr_assert_eq(out[1].gpa, G(1) + 4);
	cr_assert_eq(out[2].gpa, G(1) + 80);
	cr_assert_eq(out[3].hva, t.mem + 7 * 4096);
	cr_assert_eq(out[4].hva, t.mem + 8 * 4096);
	cr_assert_eq(res.read_bytes, 4100);
	cr_assert_eq(res.write_bytes, 70 + 8192);
	struct iovirt_region regs[2];
	iovirt_gmap_lookup(t.map, G(0), &regs[0]);
	iovirt_gmap_lookup(t.map, G(8), &regs[1]);
	struct m_map mm = { regs, 2, VT_GUEST };
	const char *why = m_verify(&mm, segs, 7, out, (uint32_t)n);
	cr_assert_null(why, "%s", why);
	vt_fini(&t);
}

// A region given page by page is split only where its pages are not physically contiguous.
Test(sg, page_split)
{
	struct vt t;
	vt_init(&t);
	uint64_t pages[6] = { 0x10000, 0x11000, 0x12000, 0x50000, 0x51000, 0x20000 };
	struct iovirt_region r = vt_region(&t, G(0), 6 * 4096, IOVIRT_REGION_RAM, RW);
	r.flags = IOVIRT_REGION_HPA_PAGES;
	r.page_hpa = pages;
	cr_assert_eq(iovirt_gmap_add(t.map, &r), 0);
	struct iovirt_seg s = { G(0) + 10, 6 * 4096 - 20, DR, 0 };
	struct iovirt_host_seg out[8];
	int n = iovirt_sg_validate(t.map, NULL, &s, 1, out, 8, NULL);
	cr_assert_eq(n, 3);
	cr_assert_eq(out[0].hpa, 0x1000a);
	cr_assert_eq(out[0].len, 3 * 4096 - 10);
	cr_assert_eq(out[1].hpa, 0x50000);
	cr_assert_eq(out[1].len, 2 * 4096);
	cr_assert_eq(out[2].hpa, 0x20000);
	cr_assert_eq(out[2].len, 4096 - 10);
	cr_assert_eq(out[1].hva, t.mem + 3 * 4096);
	cr_assert_eq(out[0].exposed, 10);
	cr_assert_eq(out[1].exposed, 0);
	cr_assert_eq(out[2].exposed, 10);
	/* two segments on either side of a contiguous page boundary merge */
	struct iovirt_seg two[2] = { { G(1), 4096, DW, 0 }, { G(2), 100, DW, 0 } };
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, two, 2, out, 8, NULL), 1);
	cr_assert_eq(out[0].len, 4196);
	/* ... but not across a discontiguous one */
	struct iovirt_seg two2[2] = { { G(2), 4096, DW, 0 }, { G(3), 100, DW, 0 } };
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, two2, 2, out, 8, NULL), 2);
	/* the split needs room: capacity 2 is too small for the long segment */
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, &s, 1, out, 2, NULL), IOVIRT_ETOOMANY);
	vt_fini(&t);
}

// A full-page, page-aligned buffer exposes nothing; small buffers expose the rest of their page.
Test(sg, exposure)
{
	struct vt t;
	vt_init(&t);
	std_map(&t);
	struct iovirt_seg segs[3] = { { G(0), 4096, DR, 0 }, { G(2) + 64, 64, DW, 0 },
				      { G(3) + 4000, 200, DR, 0 } };
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	cr_assert_eq(iovirt_sg_validate(t.map, NULL, segs, 3, out, 4, &res), 3);
	cr_assert_eq(out[0].exposed, 0);
	cr_assert_eq(out[1].exposed, 4096 - 64);
	cr_assert_eq(out[2].exposed, 4000 + 4096 - 104);
	cr_assert_eq(res.exposed, out[1].exposed + out[2].exposed);
	vt_fini(&t);
}

static void put_wire(uint8_t *w, uint64_t gpa, uint32_t len, uint16_t dir)
{
	memcpy(w, &gpa, 8);
	memcpy(w + 8, &len, 4);
	memcpy(w + 12, &dir, 2);
	memset(w + 14, 0, 2);
}

struct toctou {
	struct vt *t;
	uint8_t *count;                /* reads of each guest byte */
	bool rewrite;
};

static void hook(void *arg, uint32_t guest, uint64_t gpa, size_t len)
{
	struct toctou *c = arg;
	cr_assert_eq(guest, VT_GUEST);
	for (size_t i = 0; i < len; i++)
		c->count[gpa - VT_GPA + i]++;
	if (c->rewrite) /* a hostile guest: point everything at page 20 after the read */
		for (size_t i = 0; i + 16 <= len; i += 16)
			put_wire(c->t->mem + (gpa - VT_GPA) + i, G(20), 4096, DW);
}

// A list in guest memory is read once, byte by byte, and a rewrite after the read changes nothing.
Test(sg, guest_list_read_once)
{
	struct vt t;
	vt_init(&t);
	std_map(&t);
	enum { N = 40 }; /* more than one read chunk */
	uint64_t list = G(5);
	for (int i = 0; i < N; i++)
		put_wire(t.mem + 5 * 4096 + i * 16, G(i % 4) + (uint64_t)i * 16, 16 + i,
			 (i % 2) ? DW : DR);
	uint8_t saved[N * 16];
	memcpy(saved, t.mem + 5 * 4096, sizeof(saved));
	struct iovirt_host_seg ref[64], out[64];
	struct iovirt_dma_result rref, rres;
	int nref = iovirt_sg_validate_guest(t.map, t.ops, t.p, NULL, list, N, ref, 64, &rref);
	cr_assert_gt(nref, 0, "%s", iovirt_err_name(nref));

	struct toctou c = { .t = &t, .rewrite = true };
	c.count = calloc(VT_BYTES, 1);
	iovirt_posix_set_read_hook(t.p, hook, &c);
	int n = iovirt_sg_validate_guest(t.map, t.ops, t.p, NULL, list, N, out, 64, &rres);
	iovirt_posix_set_read_hook(t.p, NULL, NULL);
	cr_assert_eq(n, nref);
	cr_assert_arr_eq(out, ref, (size_t)n * sizeof(out[0]));
	cr_assert_eq(rres.total, rref.total);
	for (size_t i = 0; i < VT_BYTES; i++) {
		uint8_t want = (i >= 5 * 4096 && i < 5 * 4096 + N * 16) ? 1 : 0;
		cr_assert_eq(c.count[i], want, "byte %zu read %u times", i, c.count[i]);
	}
	cr_assert(memcmp(saved, t.mem + 5 * 4096, sizeof(saved)) != 0, "the hook did rewrite");
	free(c.count);
	vt_fini(&t);
}

// Guest lists: bounded before any read, unreadable memory is EGUEST, reserved bits are EINVAL.
Test(sg, guest_list_errors)
{
	struct vt t;
	vt_init(&t);
	std_map(&t);
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	struct iovirt_sg_policy pol = default_pol;
	pol.max_segs = 4;
	uint64_t reads = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ);
	cr_assert_eq(iovirt_sg_validate_guest(t.map, t.ops, t.p, &pol, G(5), 5, out, 4, &res),
		     IOVIRT_ETOOMANY);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ), reads, "read before bounding");
	cr_assert_eq(iovirt_sg_validate_guest(t.map, t.ops, t.p, NULL, UINT64_MAX - 20, 2, out, 4,
					      &res), IOVIRT_EOVERFLOW);
	/* in the map but not readable by the host: the read fails */
	vt_add(&t, G(100), 4096, IOVIRT_REGION_RAM, RW);
	cr_assert_eq(iovirt_sg_validate_guest(t.map, t.ops, t.p, NULL, G(100), 1, out, 4, &res),
		     IOVIRT_EGUEST);
	put_wire(t.mem + 5 * 4096, G(0), 16, DR);
	t.mem[5 * 4096 + 15] = 1;
	cr_assert_eq(iovirt_sg_validate_guest(t.map, t.ops, t.p, NULL, G(5), 1, out, 4, &res),
		     IOVIRT_EINVAL);
	cr_assert_eq(res.seg, 0);
	struct iovirt_host_ops none = { .size = offsetof(struct iovirt_host_ops, guest_read) };
	cr_assert_eq(iovirt_sg_validate_guest(t.map, &none, t.p, NULL, G(5), 1, out, 4, &res),
		     IOVIRT_ENOSYS);
	vt_fini(&t);
}

// A list in guest memory is checked for its own placement (its whole byte range, in one
// region the device may read, never MMIO or RESERVED) before anything is read; the buffers'
// alignment policy does not apply to it.
Test(sg, guest_list_placement)
{
	struct vt t;
	vt_init(&t);
	std_map(&t);
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	const struct iovirt_sg_policy mmio = { .size = sizeof(mmio), .flags = IOVIRT_POLICY_ALLOW_MMIO };
	const struct iovirt_sg_policy aligned = { .size = sizeof(aligned), .addr_align = 4096,
						  .len_align = 4096 };
	const struct {
		const char *what;
		uint64_t at;
		uint32_t n;
		const struct iovirt_sg_policy *pol;
		int err;
		uint64_t gpa;
	} cases[] = {
		{ "RESERVED", G(18) + 32, 2, NULL, IOVIRT_ERESERVED, G(18) + 32 },
		{ "MMIO with a host address, MMIO buffers allowed", G(16), 1, &mmio, IOVIRT_EMMIO, G(16) },
		{ "MMIO without a host address", G(17), 1, NULL, IOVIRT_EMMIO, G(17) },
		{ "device-write-only RAM", G(13), 1, NULL, IOVIRT_EPERM, G(13) },
		{ "another guest's RAM", G(20), 1, NULL, IOVIRT_EFOREIGN, G(20) },
		{ "SHARED", G(19), 1, NULL, IOVIRT_EP2P, G(19) },
		{ "outside every region", G(10) + 64, 1, NULL, IOVIRT_ENOREGION, G(10) + 64 },
		{ "running out of the map", G(10) - 16, 2, NULL, IOVIRT_ENOREGION, G(10) },
		{ "across two regions", G(8) - 16, 2, NULL, IOVIRT_ECROSS, G(8) },
		{ "RAM, unaligned for the buffers' policy", G(5) + 16, 2, &aligned, 0, 0 },
		{ "ROM", G(12) + 64, 2, NULL, 0, 0 },
		{ "device-read-only RAM", G(14), 2, NULL, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (uint32_t k = 0; k < cases[i].n; k++)
			put_wire(t.mem + (cases[i].at - VT_GPA) + k * 16, G(k), 4096, DR);
		uint64_t reads = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ);
		int r = iovirt_sg_validate_guest(t.map, t.ops, t.p, cases[i].pol, cases[i].at,
						 cases[i].n, out, 8, &res);
		if (!cases[i].err) {
			cr_assert_gt(r, 0, "%s: %s", cases[i].what, iovirt_err_name(r));
			cr_assert_eq(res.nsegs, cases[i].n, "%s", cases[i].what);
			continue;
		}
		cr_assert_eq(r, cases[i].err, "%s: %s", cases[i].what, iovirt_err_name(r));
		cr_assert_eq(res.err, r, "%s", cases[i].what);
		cr_assert_eq(res.where, IOVIRT_WHERE_LIST, "%s", cases[i].what);
		cr_assert_eq(res.seg, 0, "%s", cases[i].what);
		cr_assert_eq(res.nsegs, 0, "%s", cases[i].what);
		cr_assert_eq(res.gpa, cases[i].gpa, "%s", cases[i].what);
		cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ), reads,
			     "%s: read before the placement check", cases[i].what);
	}
	/* SHARED where the policy allows peer memory */
	const struct iovirt_sg_policy p2p = { .size = sizeof(p2p), .flags = IOVIRT_POLICY_ALLOW_P2P };
	put_wire(t.mem + 19 * 4096, G(0), 64, DR);
	cr_assert_eq(iovirt_sg_validate_guest(t.map, t.ops, t.p, &p2p, G(19), 1, out, 8, &res), 1);
	/* an empty list is nothing to place or read */
	uint64_t reads = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ);
	cr_assert_eq(iovirt_sg_validate_guest(t.map, t.ops, t.p, NULL, G(18), 0, out, 8, &res), 0);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ), reads);
	vt_fini(&t);
}

// Random segment lists against a random map: result and refusal equal the slow model's.
Test(sg, differential)
{
	struct vt t;
	vt_init(&t);
	struct iovirt_region regs[24];
	size_t nr = 0;
	uint64_t seed = 1234;
	static uint64_t pages[VT_PAGES];
	for (uint32_t i = 0; i < VT_PAGES; i++)
		pages[i] = 0x100000000ull + ((i * 7) % 5 == 0 ? 0x1000000 : 0) + i * 4096ull;
	for (uint64_t pg = 0; pg + 1 < VT_PAGES && nr < 24;) {
		uint64_t len = 1 + th_rand(&seed) % 4;
		if (pg + len > VT_PAGES)
			break;
		uint32_t kind = th_rand(&seed) % 2 ? IOVIRT_REGION_RAM : 1 + (uint32_t)(th_rand(&seed) % 5);
		struct iovirt_region r = vt_region(&t, G(pg), len * 4096, kind, th_rand(&seed) % 4);
		if (kind == IOVIRT_REGION_RAM && th_rand(&seed) % 2) {
			r.flags = IOVIRT_REGION_HPA_PAGES;
			r.page_hpa = pages + pg;
		} else if (th_rand(&seed) % 2) {
			r.flags = IOVIRT_REGION_HPA;
			r.hpa = 0x200000000ull + pg * 4096;
		}
		if (th_rand(&seed) % 8 == 0)
			r.owner = OTHER_GUEST;
		if (kind == IOVIRT_REGION_RAM)
			r.access = RW;
		cr_assert_eq(iovirt_gmap_add(t.map, &r), 0);
		struct iovirt_region got;
		iovirt_gmap_lookup(t.map, r.gpa, &got);
		regs[nr++] = got;
		pg += len + th_rand(&seed) % 2;
	}
	struct m_map mm = { regs, nr, VT_GUEST };
	int accepted = 0;
	for (int it = 0; it < 20000; it++) {
		struct iovirt_seg segs[6];
		uint32_t n = 1 + th_rand(&seed) % 4;
		for (uint32_t i = 0; i < n; i++) {
			uint64_t x = th_rand(&seed);
			segs[i].gpa = G(x % VT_PAGES) + ((x >> 8) % 3 == 0 ? 0 : (x >> 16) % 4096);
			segs[i].len = (x >> 32) % 3 == 0 ? 4096 : 1 + (x >> 40) % 9000;
			segs[i].dir = 1 + (x >> 60) % 3;
			segs[i].reserved = 0;
			if (i && th_rand(&seed) % 3 == 0) /* continue the previous one */
				segs[i].gpa = segs[i - 1].gpa + segs[i - 1].len;
		}
		struct iovirt_sg_policy pol = default_pol;
		pol.flags = th_rand(&seed) % 8; /* ALLOW_MMIO, ALLOW_P2P, STRICT_REGIONS */
		pol.max_total = th_rand(&seed) % 2 ? 0 : 20000;
		struct iovirt_host_seg out[64];
		struct iovirt_dma_result res;
		int r = iovirt_sg_validate(t.map, &pol, segs, n, out, 64, &res);
		struct m_pol mp = m_pol_of(&pol);
		uint32_t mseg;
		uint64_t mfail;
		int want = m_check(&mm, &mp, segs, n, &mseg, &mfail);
		if (want) {
			cr_assert_eq(r, want, "it %d: %s vs model %s", it, iovirt_err_name(r),
				     iovirt_err_name(want));
			cr_assert_eq(res.seg, mseg);
			cr_assert_eq(res.gpa, mfail);
		} else {
			cr_assert_gt(r, 0, "it %d: %s", it, iovirt_err_name(r));
			const char *why = m_verify(&mm, segs, n, out, (uint32_t)r);
			cr_assert_null(why, "it %d: %s", it, why);
			accepted++;
		}
	}
	cr_assert_gt(accepted, 1000, "accepted %d", accepted);
	vt_fini(&t);
}

// A guest list whose last byte is 2^64 - 1 is representable and accepted; one
// byte further is EOVERFLOW, before any read (the same bound as pin_sg_guest).
Test(sg, guest_list_at_top_of_address_space)
{
	struct vt t;
	vt_init(&t);
	std_map(&t);
	static uint8_t top[4096] __attribute__((aligned(4096)));
	const uint64_t top_gpa = UINT64_MAX - 4095;
	memset(top, 0, sizeof(top));
	cr_assert_eq(iovirt_posix_guest_add(t.p, VT_GUEST, top_gpa, top, sizeof(top)), 0);
	struct iovirt_region r = { .size = sizeof(r), .gpa = top_gpa, .length = 4096,
				   .kind = IOVIRT_REGION_RAM, .access = RW, .owner = VT_GUEST,
				   .hva = top };
	cr_assert_eq(iovirt_gmap_add(t.map, &r), 0);
	put_wire(top + 4096 - 32, G(0), 16, DR);
	put_wire(top + 4096 - 16, G(1), 32, DW);
	struct iovirt_host_seg out[4];
	struct iovirt_dma_result res;
	cr_assert_eq(iovirt_sg_validate_guest(t.map, t.ops, t.p, NULL, UINT64_MAX - 15, 1, out, 4,
					      &res), 1, "one entry ending at 2^64 - 1");
	cr_assert_eq(out[0].gpa, G(1));
	cr_assert_eq(iovirt_sg_validate_guest(t.map, t.ops, t.p, NULL, UINT64_MAX - 31, 2, out, 4,
					      &res), 2, "two entries ending at 2^64 - 1");
	uint64_t reads = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ);
	cr_assert_eq(iovirt_sg_validate_guest(t.map, t.ops, t.p, NULL, UINT64_MAX - 14, 1, out, 4,
					      &res), IOVIRT_EOVERFLOW, "one byte past");
	cr_assert_eq(iovirt_sg_validate_guest(t.map, t.ops, t.p, NULL, UINT64_MAX - 30, 2, out, 4,
					      &res), IOVIRT_EOVERFLOW, "one byte past, two entries");
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ), reads, "no read when refused");
	vt_fini(&t);
}
