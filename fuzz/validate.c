/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a random guest memory map and a random segment list from
 * the input, validated by iovirt_sg_validate and, from guest memory, by
 * iovirt_sg_validate_guest. Every outcome is re-checked by the slow model of
 * tests/validate/model.h: the same refusal (code, segment, address), or an
 * accepted host list whose every byte is where the model says. Nothing leaks.
 * The guest list's own page is a region whose kind comes from the input (the
 * region-count byte / 12): RAM, RESERVED, MMIO, device-write-only RAM or none;
 * a list placed where the model refuses it must be refused the same way
 * before anything is read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/validate/model.h"
#include "iovirt/posix.h"

#include "check.h"

#define GUEST 5u
#define GPA 0x200000ull
#define PAGES 64u
#define LIST_GPA (GPA + PAGES * 4096ull) /* guest-memory copy of the list */
#define MAXSEG 64u

static uint8_t *mem;     /* PAGES pages of guest memory + one page for the list */
static uint64_t pages[PAGES];

struct in {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct in *in, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++) {
		v |= (uint64_t)(in->n ? *in->p : 0) << (8 * i);
		if (in->n) {
			in->p++;
			in->n--;
		}
	}
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	if (!mem) {
		mem = aligned_alloc(4096, (PAGES + 1) * 4096);
		for (uint32_t i = 0; i < PAGES; i++) /* runs of 3 contiguous pages */
			pages[i] = 0x100000000ull + (i / 3) * 0x100000ull + (i % 3) * 4096;
	}
	struct iovirt_posix *p = iovirt_posix_create();
	CHECK(p, "adapter");
	iovirt_posix_guest_add(p, GUEST, GPA, mem, (PAGES + 1) * 4096);
	struct iovirt_gmap *map;
	struct iovirt_gmap_params gp = { sizeof(gp), GUEST, 0 };
	CHECK(!iovirt_gmap_create(iovirt_posix_ops(), p, &gp, &map), "create");

	/* the map: up to 12 regions, added in input order (overlaps refused),
	 * and the list's page */
	struct iovirt_region regs[13];
	size_t nr = 0;
	unsigned first = (unsigned)take(&in, 1);
	unsigned want = 1 + first % 12;
	for (unsigned i = 0; i < want; i++) {
		uint64_t v = take(&in, 3);
		uint64_t pg = v % PAGES, len = 1 + (v >> 6) % 6;
		if (pg + len > PAGES)
			len = PAGES - pg;
		struct iovirt_region r = { .size = sizeof(r), .gpa = GPA + pg * 4096,
					   .length = len * 4096,
					   .kind = 1 + (v >> 9) % 5, .access = (v >> 12) & 3,
					   .owner = (v >> 14) % 8 == 0 ? GUEST + 1 : GUEST };
		switch ((v >> 17) % 4) {
		case 0: r.hva = mem + pg * 4096; break;
		case 1: r.flags = IOVIRT_REGION_HPA; r.hpa = 0x7000000000ull + pg * 4096; break;
		case 2: r.hva = mem + pg * 4096; r.flags = IOVIRT_REGION_HPA_PAGES;
			r.page_hpa = pages + pg; break;
		default: break; /* no host address: only MMIO / RESERVED accept that */
		}
		int e = iovirt_gmap_add(map, &r);
		if (!e) {
			CHECK(!iovirt_gmap_lookup(map, r.gpa, &regs[nr]), "lookup after add");
			nr++;
		}
	}
	struct iovirt_region lr = { .size = sizeof(lr), .gpa = LIST_GPA, .length = 4096,
				    .kind = IOVIRT_REGION_RAM, .access = 3, .owner = GUEST,
				    .hva = mem + PAGES * 4096 };
	switch ((first / 12) % 8) {
	case 4: lr.kind = IOVIRT_REGION_RESERVED; lr.hva = NULL; break;
	case 5: lr.kind = IOVIRT_REGION_MMIO; lr.flags = IOVIRT_REGION_HPA; lr.hpa = 0xfe000000; break;
	case 6: lr.access = IOVIRT_DEV_WRITE; break;
	case 7: lr.length = 0; break; /* no region */
	default: break;
	}
	if (lr.length) {
		CHECK(!iovirt_gmap_add(map, &lr), "add the list's region");
		CHECK(!iovirt_gmap_lookup(map, lr.gpa, &regs[nr]), "lookup after add");
		nr++;
	}
	struct m_map mm = { regs, nr, GUEST };

	/* the policy */
	uint64_t pv = take(&in, 2);
	struct iovirt_sg_policy pol = { .size = sizeof(pol), .max_segs = (uint32_t)(pv % 8),
					.flags = (uint32_t)(pv >> 3) & 3,
					.max_total = (pv >> 5) % 2 ? 0 : 1 + ((pv >> 6) % 64) * 1024,
					.addr_align = (pv >> 12) % 2 ? 0 : 64,
					.len_align = (pv >> 13) % 4 ? 0 : 8 };
	struct m_pol mp = m_pol_of(&pol);

	/* the segments */
	struct iovirt_seg segs[MAXSEG];
	uint32_t n = 0;
	while (in.n && n < MAXSEG) {
		uint64_t a = take(&in, 4), l = take(&in, 3), d = take(&in, 1);
		if (d & 0x80) { /* raw wide addresses, for the overflow paths */
			segs[n].gpa = UINT64_MAX - (a & 0xffff);
			segs[n].len = l << (d & 31);
		} else {
			segs[n].gpa = GPA + a % (PAGES * 4096 + 8192) - 4096;
			segs[n].len = (d & 0x40) ? l % 64 : l % (5 * 4096);
		}
		segs[n].dir = (uint32_t)(d & 3) | ((d & 0x20) ? 4 : 0);
		segs[n].reserved = 0;
		n++;
	}

	static struct iovirt_host_seg out[MAXSEG * 32], out2[MAXSEG * 32];
	struct iovirt_dma_result res, res2;
	int r = iovirt_sg_validate(map, &pol, segs, n, out, MAXSEG * 32, &res);
	uint32_t mseg = 0;
	uint64_t mfail = 0;
	int want_err = m_check(&mm, &mp, segs, n, &mseg, &mfail);
	if (want_err) {
		CHECK(r == want_err, "refusal %s, model %s", iovirt_err_name(r), iovirt_err_name(want_err));
		CHECK(res.err == r && res.seg == mseg && res.gpa == mfail,
		      "refusal details: seg %u/%u gpa %#llx/%#llx", res.seg, mseg,
		      (unsigned long long)res.gpa, (unsigned long long)mfail);
	} else {
		CHECK(r > 0 || n == 0, "accepted by the model, refused: %s", iovirt_err_name(r));
		const char *why = m_verify(&mm, segs, n, out, r > 0 ? (uint32_t)r : 0);
		CHECK(!why, "host list: %s", why);
		uint64_t rb = 0, wb = 0;
		for (uint32_t i = 0; i < n; i++) {
			rb += (segs[i].dir & IOVIRT_DEV_READ) ? segs[i].len : 0;
			wb += (segs[i].dir & IOVIRT_DEV_WRITE) ? segs[i].len : 0;
		}
		CHECK(res.read_bytes == rb && res.write_bytes == wb, "byte counts");
	}

	/* the same list from guest memory: same outcome (wire dirs are 16-bit) */
	uint32_t nw = n < 256 ? n : 256;
	for (uint32_t i = 0; i < nw; i++) {
		uint8_t *w = mem + PAGES * 4096 + i * 16;
		uint32_t len32 = (uint32_t)segs[i].len;
		uint16_t dir16 = (uint16_t)segs[i].dir, zero = 0;
		memcpy(w, &segs[i].gpa, 8);
		memcpy(w + 8, &len32, 4);
		memcpy(w + 12, &dir16, 2);
		memcpy(w + 14, &zero, 2);
		segs[i].len = len32;
	}
	int r2 = iovirt_sg_validate_guest(map, iovirt_posix_ops(), p, &pol, LIST_GPA, nw, out2,
					  MAXSEG * 32, &res2);
	/* bounded first, then the list's own placement, then its entries */
	uint64_t pfail = 0;
	int placed = nw && nw <= mp.max_segs ?
			     m_check_placement(&mm, pol.flags, LIST_GPA, nw * 16ull, &pfail) : 0;
	want_err = placed ? placed : m_check(&mm, &mp, segs, nw, &mseg, &mfail);
	CHECK(want_err ? r2 == want_err : (r2 > 0 || nw == 0), "guest list %s, model %s",
	      iovirt_err_name(r2), iovirt_err_name(want_err));
	if (placed) {
		CHECK(res2.err == r2 && res2.where == IOVIRT_WHERE_LIST && res2.seg == 0 &&
		      res2.gpa == pfail, "list placement details");
		CHECK(iovirt_posix_count(p, IOVIRT_CB_GUEST_READ) == 0, "refused list was read");
	}
	if (!want_err && r2 > 0) {
		const char *why = m_verify(&mm, segs, nw, out2, (uint32_t)r2);
		CHECK(!why, "guest list host list: %s", why);
	}
	CHECK(iovirt_posix_count(p, IOVIRT_CB_GUEST_READ) <= (nw + 31) / 32, "list read more than once");

	CHECK(!iovirt_gmap_destroy(map), "destroy");
	CHECK(iovirt_posix_live_mem(p) == 0, "leak");
	iovirt_posix_destroy(p);
	return 0;
}
