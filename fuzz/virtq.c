/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the input is raw guest memory holding a split virtqueue
 * (descriptor table, available ring, indirect tables, buffers). A few chains
 * are popped; each outcome is compared with an independent slow walker below
 * (plain recursion over a private copy, the rules written out once more) and,
 * when accepted, with the slow segment model of tests/validate/model.h.
 *
 * Input: data[0] queue size (% 6) and, above, a choice of params size
 * ((data[0] / 6) & 1), a buffer alignment policy of 64 bytes
 * ((data[0] / 12) % 4 == 3: indirect tables are placed without it) and
 * "skip first" ((data[0] / 48) & 1: the first take is a skip, without a prior
 * pop), and with the map (data[0] / 96) & 1 reads the rings through their host
 * address (IOVIRT_VQ_F_DIRECT); data[1] bit 0 indirect, bits 1-2 policy flags, bit 3 "rings placed by the
 * input", bits 4-7 max_indirect; data[2..3] the start cursor (last_avail; used_idx
 * is the same, or, when the top two bits of data[3] are set, (data[3] >> 4) & 3
 * less: a restored state with that many chains in flight). With bit 3, three
 * le16 words follow that place the descriptor table, available ring and used
 * ring anywhere around the map (RAM, ROM, RESERVED, another guest's RAM,
 * SHARED, MMIO, nowhere, across two regions, misaligned), and a fourth byte
 * picks the map's layout: bit 0 makes each RAM page its own region (so rings
 * and tables in RAM often run across adjacent regions), bit 1 adds
 * IOVIRT_POLICY_STRICT_REGIONS; create with the map must then agree with the
 * slow model, hold each region under each ring once per ring while the queue
 * lives, and leave no hold when it refuses. Guest memory follows.
 * The target also counts the chains in flight itself (taken by pop or skip,
 * completed by push; a refused chain is skipped, then completed with length 0)
 * and checks the library's count, (u16)(last_avail - used_idx), against it,
 * and that a take with num in flight is IOVIRT_EOVERRUN and changes nothing.
 * Then iovirt_vq_pop_burst on a second queue over the same rings is compared
 * with pop one chain at a time from the same cursors (burst_diff; the last
 * input byte gives the burst's chains, 1 + (b & 7), and host entries,
 * (b >> 3) * 8).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/validate/model.h"
#include "iovirt/posix.h"

#include "check.h"

#define GUEST 9u
#define GPA 0x10000ull
#define BYTES 0x8000u /* guest memory: 8 pages */
#define DESC (GPA + 0x0)
#define AVAIL (GPA + 0x1000)
#define USED (GPA + 0x1800)
#define MMIO_GPA 0x7000000ull
#define NREGS 11 /* at most: RAM pages 0-5 one region each, then the five others */

static uint8_t *mem, copy[BYTES];

static uint64_t rd(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* The slow walker: refusal or the segment list, from the private copy. */
struct sw {
	uint64_t desc;
	uint32_t num, max_ind;
	bool indirect_ok;
	const struct m_map *mm;
	struct m_pol pol;
	struct iovirt_seg segs[256];
	uint32_t n;
	uint64_t total;
	bool wrote;
	uint32_t count;
};

static const uint8_t *at(uint64_t gpa, uint64_t len)
{
	if (gpa < GPA || gpa - GPA > BYTES || len > BYTES - (gpa - GPA))
		return NULL;
	return copy + (gpa - GPA);
}

static int sw_buf(struct sw *w, uint64_t addr, uint32_t len, uint16_t flags)
{
	bool wr = flags & 2;
	if (!wr && w->wrote)
		return IOVIRT_EORDER;
	w->wrote |= wr;
	if (w->n >= w->pol.max_segs)
		return IOVIRT_ETOOMANY;
	struct iovirt_seg s = { addr, len, wr ? IOVIRT_DEV_WRITE : IOVIRT_DEV_READ, 0 };
	uint64_t fail;
	const struct iovirt_region *r;
	int e = m_check_seg(w->mm, &w->pol, &s, &fail, &r);
	if (e)
		return e;
	if (w->total + len > w->pol.max_total)
		return IOVIRT_ETOOBIG;
	w->total += len;
	w->segs[w->n++] = s;
	return 0;
}

static int sw_walk(struct sw *w, uint32_t head)
{
	bool seen[64] = { 0 };
	uint32_t i = head;
	for (;;) {
		if (i >= w->num)
			return IOVIRT_EINDEX;
		if (seen[i])
			return IOVIRT_ELOOP;
		seen[i] = true;
		if (++w->count > w->num)
			return IOVIRT_ECHAIN;
		const uint8_t *d = at(w->desc + 16ull * i, 16);
		if (!d)
			return IOVIRT_EGUEST;
		uint64_t addr = rd(d, 8);
		uint32_t len = (uint32_t)rd(d + 8, 4);
		uint16_t flags = (uint16_t)rd(d + 12, 2), next = (uint16_t)rd(d + 14, 2);
		if (flags & 4) {
			w->count--;
			if (!w->indirect_ok || (flags & 1) || len == 0 || len % 16 ||
			    len / 16 > w->max_ind)
				return IOVIRT_EINDIRECT;
			/* placed, not aligned: the table is no buffer; across adjacent
			 * regions unless strict */
			uint64_t fail;
			int e = m_check_table(w->mm, w->pol.flags, addr, len, &fail);
			if (e)
				return e;
			const uint8_t *tab = at(addr, len);
			if (!tab)
				return IOVIRT_EGUEST;
			bool iseen[64] = { 0 };
			uint32_t j = 0, n = len / 16;
			for (;;) {
				if (j >= n)
					return IOVIRT_EINDEX;
				if (iseen[j])
					return IOVIRT_ELOOP;
				iseen[j] = true;
				if (++w->count > w->num)
					return IOVIRT_ECHAIN;
				const uint8_t *x = tab + 16 * j;
				uint16_t f = (uint16_t)rd(x + 12, 2);
				if (f & 4)
					return IOVIRT_ENESTED;
				e = sw_buf(w, rd(x, 8), (uint32_t)rd(x + 8, 4), f);
				if (e)
					return e;
				if (!(f & 1))
					return 0;
				j = (uint16_t)rd(x + 14, 2);
			}
		}
		int e = sw_buf(w, addr, len, flags);
		if (e)
			return e;
		if (!(flags & 1))
			return 0;
		i = next;
	}
}

/* A ring address from an input word: bit 15 picks the MMIO neighbourhood,
 * bit 14 misaligns by 2, the rest is an offset in units of unit bytes. */
static uint64_t place(const uint8_t *w, uint64_t unit, uint16_t mask)
{
	uint16_t v = (uint16_t)rd(w, 2);
	uint64_t base = (v & 0x8000) ? MMIO_GPA - 0x1000 : GPA - 0x1000;
	return base + (v & mask) * unit + ((v & 0x4000) ? 2 : 0);
}

/* Regions [gpa, gpa + len) lies in (all of it in regions). */
static int64_t regions_under(const struct m_map *mm, uint64_t gpa, uint64_t len)
{
	int64_t n = 0;
	for (uint64_t g = gpa, end = gpa + len; g < end; n++) {
		const struct iovirt_region *r = m_find(mm, g);
		g = r->gpa + r->length;
	}
	return n;
}

/* The refusal create must give for rings placed at r[3] (desc, avail, used),
 * or 0 and *nholds, the regions the rings hold (one per ring and region). */
static int want_create(const struct m_map *mm, const struct m_pol *pol, const uint64_t r[3],
		       uint32_t num, int64_t *nholds)
{
	if (r[0] % 16 || r[1] % 2 || r[2] % 4)
		return IOVIRT_EALIGN;
	const struct iovirt_seg ring[3] = {
		{ r[0], 16ull * num, IOVIRT_DEV_READ, 0 },
		{ r[1], 6 + 2ull * num, IOVIRT_DEV_READ, 0 },
		{ r[2], 6 + 8ull * num, IOVIRT_DEV_WRITE, 0 },
	};
	*nholds = 0;
	for (int k = 0; k < 3; k++) {
		uint64_t fail;
		const struct iovirt_region *reg;
		/* a ring checked as a segment: across adjacent regions unless strict */
		int e = m_check_seg(mm, pol, &ring[k], &fail, &reg);
		if (e)
			return e;
		*nholds += regions_under(mm, ring[k].gpa, ring[k].len);
	}
	return 0;
}

static int64_t holds(const struct iovirt_gmap *map, const struct iovirt_region *regs)
{
	int64_t n = 0;
	for (int i = 0; i < NREGS && regs[i].size; i++)
		n += iovirt_gmap_in_use(map, regs[i].gpa);
	return n;
}

/*
 * iovirt_vq_pop_burst against pop one chain at a time: a second queue on the
 * same rings (pop only reads the guest) takes a burst of at most max chains
 * into cap entries, the first queue pops what that burst is specified to
 * take (the chains the idx read shows, within the in-flight bound, each into
 * the room left, stopping before the first refusal after the first chain);
 * both start from the same cursors, and must agree on the count or refusal,
 * every result and host entry, and the cursors.
 */
static void burst_diff(struct iovirt_vq *vq, struct iovirt_vq *vb, struct iovirt_gmap *map,
		       const struct iovirt_sg_policy *pol, uint64_t avail_gpa, uint32_t num,
		       uint32_t max, uint32_t cap)
{
	static struct iovirt_host_seg ob[256], orf[256];
	struct iovirt_dma_result rb[8], rr[8];
	memset(rb, 0xa5, sizeof(rb));
	memset(rr, 0xa5, sizeof(rr));
	uint16_t last = iovirt_vq_last_avail(vq);
	uint32_t flight = (uint16_t)(last - iovirt_vq_used_idx(vq));
	/* the avail idx both queues read first (set_cursors: none read yet) */
	const uint8_t *ip = at(avail_gpa + 2, 2);
	uint32_t avail = ip ? (uint16_t)((uint16_t)rd(ip, 2) - last) : 0;
	int nr = 0;
	uint32_t used = 0;
	for (uint32_t k = 0; k < max; k++) {
		if (k && (k == avail || flight + k >= num))
			break;
		int r = iovirt_vq_pop(vq, map, pol, orf + used, cap - used, &rr[k]);
		if (r <= 0) {
			if (!k)
				nr = r;
			break;
		}
		used += (uint32_t)r;
		nr = (int)k + 1;
	}
	int nb = iovirt_vq_pop_burst(vb, map, pol, ob, cap, rb, max);
	CHECK(nb == nr, "burst: %s, pop by pop %s", iovirt_err_name(nb), iovirt_err_name(nr));
	CHECK(iovirt_vq_last_avail(vb) == iovirt_vq_last_avail(vq), "burst cursor");
	uint32_t nres = nr > 0 ? (uint32_t)nr : 1;
	CHECK(!memcmp(rb, rr, nres * sizeof(rb[0])), "burst results");
	CHECK(!memcmp(ob, orf, used * sizeof(ob[0])), "burst host entries");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	if (!mem)
		mem = aligned_alloc(4096, BYTES);
	uint32_t num = 1u << (data[0] % 6); /* 1 .. 32 */
	bool full_size = (data[0] / 6) & 1;
	uint64_t align = (data[0] / 12) % 4 == 3 ? 64 : 0;
	bool skip_first = (data[0] / 48) & 1;
	uint32_t vflags = data[1] & 1;
	uint32_t max_ind = data[1] >> 4; /* 0: num */
	uint32_t pflags = (data[1] >> 1) & 3;
	bool placed = data[1] & 8;
	uint16_t start = (uint16_t)(data[2] | data[3] << 8);
	uint32_t restored = (data[3] & 0xc0) == 0xc0 ? (data[3] >> 4) & 3 : 0;
	uint64_t ring[3] = { DESC, AVAIL, USED };
	size_t hdr = 4;
	bool page_regions = false;
	if (placed) {
		if (size < 11)
			return 0;
		ring[0] = place(data + 4, 16, 0x0fff);
		ring[1] = place(data + 6, 4, 0x3fff);
		ring[2] = place(data + 8, 4, 0x3fff);
		page_regions = data[10] & 1;
		pflags |= data[10] & 2 ? IOVIRT_POLICY_STRICT_REGIONS : 0;
		hdr = 11;
	}
	memset(mem, 0, BYTES);
	memcpy(mem, data + hdr, size - hdr < BYTES ? size - hdr : BYTES);
	memcpy(copy, mem, BYTES);

	struct iovirt_posix *p = iovirt_posix_create();
	CHECK(p, "adapter");
	iovirt_posix_guest_add(p, GUEST, GPA, mem, BYTES);
	struct iovirt_gmap *map;
	struct iovirt_gmap_params gp = { sizeof(gp), GUEST, 0 };
	CHECK(!iovirt_gmap_create(iovirt_posix_ops(), p, &gp, &map), "create");
	/* pages 0-5 RAM, page 6 ROM, page 7 reserved, page 8 another guest's RAM,
	 * page 9 SHARED (8 and 9 not in the adapter's guest memory); 0x7000000: MMIO */
	struct iovirt_region regs[NREGS] = {
		{ sizeof(struct iovirt_region), GPA, 6 * 4096, IOVIRT_REGION_RAM, 3, GUEST, 0, mem, 0, NULL },
		{ sizeof(struct iovirt_region), GPA + 6 * 4096, 4096, IOVIRT_REGION_ROM, 1, GUEST, 0,
		  mem + 6 * 4096, 0, NULL },
		{ sizeof(struct iovirt_region), GPA + 7 * 4096, 4096, IOVIRT_REGION_RESERVED, 3, GUEST,
		  0, NULL, 0, NULL },
		{ sizeof(struct iovirt_region), MMIO_GPA, 4096, IOVIRT_REGION_MMIO, 3, GUEST,
		  IOVIRT_REGION_HPA, NULL, 0xfe000000, NULL },
		{ sizeof(struct iovirt_region), GPA + 8 * 4096, 4096, IOVIRT_REGION_RAM, 3, GUEST + 1,
		  IOVIRT_REGION_HPA, NULL, 0x80000000, NULL },
		{ sizeof(struct iovirt_region), GPA + 9 * 4096, 4096, IOVIRT_REGION_SHARED, 3, GUEST + 1,
		  IOVIRT_REGION_HPA, NULL, 0x80001000, NULL },
	};
	int nregs = 6;
	if (page_regions) {
		/* RAM pages 0-5 as six adjacent regions, then the others */
		memmove(&regs[6], &regs[1], 5 * sizeof(regs[0]));
		regs[0].length = 4096;
		for (int i = 1; i < 6; i++) {
			regs[i] = regs[0];
			regs[i].gpa = GPA + i * 4096ull;
			regs[i].hva = mem + i * 4096;
		}
		nregs = NREGS;
	}
	for (int i = 0; i < nregs; i++)
		CHECK(!iovirt_gmap_add(map, &regs[i]), "add");
	struct m_map mm = { regs, (size_t)nregs, GUEST };
	struct iovirt_sg_policy pol = { .size = sizeof(pol), .flags = pflags, .addr_align = align,
					.len_align = align };

	struct iovirt_vq *vq = NULL;
	struct iovirt_vq_params vp = { .size = sizeof(vp), .guest = GUEST, .num = num,
				       .flags = vflags, .max_indirect = max_ind,
				       .desc_gpa = ring[0], .avail_gpa = ring[1], .used_gpa = ring[2],
				       .map = map, .pol = &pol };
	/* an older caller's size: the map is ignored */
	if (!placed && !full_size)
		vp.size = IOVIRT_VQ_PARAMS_SIZE_V1;
	/* data[0] 96 .. 191 with the map: rings read through their host address */
	if (vp.size == sizeof(vp) && (data[0] / 96) & 1)
		vp.flags |= IOVIRT_VQ_F_DIRECT;
	int64_t live = iovirt_posix_live_mem(p);
	int cr = iovirt_vq_create(iovirt_posix_ops(), p, &vp, &vq);
	/* rings are not buffers: of the policy only the ALLOW flags apply */
	const struct m_pol mpol = { 1, pol.flags, UINT64_MAX, 1, 1 };
	int64_t want_holds = 0;
	int want = vp.size == sizeof(vp) ? want_create(&mm, &mpol, ring, num, &want_holds) : 0;
	CHECK(cr == want, "create: %s, model %s", iovirt_err_name(cr), iovirt_err_name(want));
	if (cr) {
		CHECK(!vq, "refused create set *out");
		CHECK(holds(map, regs) == 0, "refused create left a hold");
		CHECK(iovirt_posix_live_mem(p) == live, "refused create allocated");
		goto done;
	}
	CHECK(holds(map, regs) == (vp.size == sizeof(vp) ? want_holds : 0), "holds: %lld, model %lld",
	      (long long)holds(map, regs), (long long)want_holds);
	iovirt_vq_set_cursors(vq, start, (uint16_t)(start - restored));

	static struct iovirt_host_seg out[4096];
	const uint64_t used_len = 6 + 8ull * num;
	uint16_t seen = start; /* the driver's idx as the device last read it */
	uint32_t flight = restored; /* chains taken (pop, skip) and not completed (push) */
	for (int round = 0; round < 4; round++) {
		struct iovirt_dma_result res;
		bool skip_only = skip_first && round == 0;
		uint16_t last = iovirt_vq_last_avail(vq);
		int r = skip_only ? iovirt_vq_skip(vq) : iovirt_vq_pop(vq, map, &pol, out, 4096, &res);
		/* expected, from the copy: idx is read again only once the heads it
		 * announced are taken (a fresh cursor counts as all taken) */
		if (seen == last) {
			const uint8_t *ip = at(ring[1] + 2, 2);
			if (!ip) {
				CHECK(r == IOVIRT_EGUEST, "avail idx unreadable: %s", iovirt_err_name(r));
				break;
			}
			uint16_t avail = (uint16_t)((uint16_t)rd(ip, 2) - last);
			if (avail > num) {
				CHECK(r == IOVIRT_EINDEX, "avail overrun: %s", iovirt_err_name(r));
				break;
			}
			if (avail == 0) {
				CHECK(r == (skip_only ? IOVIRT_ENOENT : 0), "empty ring: %s",
				      iovirt_err_name(r));
				break;
			}
			seen = (uint16_t)rd(ip, 2);
		}
		/* the bound on chains in flight comes before the ring entry is read */
		if (flight >= num) {
			CHECK(r == IOVIRT_EOVERRUN, "take with %u in flight: %s", flight,
			      iovirt_err_name(r));
			CHECK(skip_only || (res.err == r && res.where == IOVIRT_WHERE_RING), "overrun result");
			CHECK(iovirt_vq_last_avail(vq) == last, "overrun moved the cursor");
			CHECK(!memcmp(copy, mem, BYTES), "overrun wrote guest memory");
			break;
		}
		if (skip_only) {
			CHECK(r == 0 && iovirt_vq_last_avail(vq) == (uint16_t)(last + 1), "skip: %s",
			      iovirt_err_name(r));
			flight++; /* taken, never completed: counts against the bound */
			continue;
		}
		const uint8_t *hp = at(ring[1] + 4 + 2ull * (last & (num - 1)), 2);
		if (!hp) {
			CHECK(r == IOVIRT_EGUEST, "ring slot unreadable: %s", iovirt_err_name(r));
			CHECK(!iovirt_vq_skip(vq), "skip");
			flight++;
			continue;
		}
		uint16_t head = (uint16_t)rd(hp, 2);
		if (head >= num) {
			CHECK(r == IOVIRT_EINDEX && res.where == IOVIRT_WHERE_RING, "bad head: %s",
			      iovirt_err_name(r));
			CHECK(!iovirt_vq_skip(vq), "skip");
			flight++;
			continue;
		}
		struct sw w = { .desc = ring[0], .num = num, .max_ind = max_ind ? max_ind : num,
				.indirect_ok = vflags, .mm = &mm, .pol = m_pol_of(&pol) };
		if (w.pol.max_total > UINT32_MAX)
			w.pol.max_total = UINT32_MAX;
		int want_r = sw_walk(&w, head);
		CHECK(want_r ? r == want_r : r > 0, "chain at %u: %s, slow walker %s", head,
		      iovirt_err_name(r), iovirt_err_name(want_r));
		uint32_t done_len = 0;
		if (!want_r) {
			CHECK(res.head == head && res.nsegs == w.n, "chain result");
			const char *why = m_verify(&mm, w.segs, w.n, out, (uint32_t)r);
			CHECK(!why, "host list: %s", why);
			CHECK(iovirt_vq_last_avail(vq) == (uint16_t)(last + 1), "cursor");
			done_len = (uint32_t)res.write_bytes;
		} else {
			CHECK(iovirt_vq_last_avail(vq) == last, "refusal moved the cursor");
			/* drop it: skip, then return it to the driver with length 0 */
			CHECK(!iovirt_vq_skip(vq), "skip a refused chain");
		}
		flight++;
		uint16_t u = iovirt_vq_used_idx(vq);
		bool ok = at(ring[2] + 4 + 8ull * (u & (num - 1)), 8) && at(ring[2] + 2, 2);
		int pr = iovirt_vq_push_used(vq, head, done_len);
		CHECK(ok ? pr == 0 : pr == IOVIRT_EGUEST, "push used: %s", iovirt_err_name(pr));
		flight -= !pr;
		CHECK((uint16_t)(iovirt_vq_last_avail(vq) - iovirt_vq_used_idx(vq)) == flight,
		      "in flight %u, library %u", flight,
		      (uint16_t)(iovirt_vq_last_avail(vq) - iovirt_vq_used_idx(vq)));
		/* the device only ever wrote the used ring (which may overlap the others:
		 * the copy takes its new bytes, as the guest would see them) */
		for (uint64_t b = 0; b < used_len; b++) {
			uint64_t g = ring[2] + b;
			if (g >= GPA && g - GPA < BYTES)
				copy[g - GPA] = mem[g - GPA];
		}
		CHECK(!memcmp(copy, mem, BYTES), "guest memory changed outside the used ring");
	}
	CHECK(flight <= num || flight <= restored, "more than num in flight");
	{
		/* the burst beside pop: a second queue, both from the same cursors
		 * (the last input byte picks the burst's size and room) */
		struct iovirt_vq *vb;
		CHECK(!iovirt_vq_create(iovirt_posix_ops(), p, &vp, &vb), "second queue");
		uint16_t la = iovirt_vq_last_avail(vq), ui = iovirt_vq_used_idx(vq);
		iovirt_vq_set_cursors(vq, la, ui);
		iovirt_vq_set_cursors(vb, la, ui);
		uint8_t b = data[size - 1];
		memcpy(copy, mem, BYTES); /* the guest as the pops will read it */
		burst_diff(vq, vb, map, &pol, ring[1], num, 1 + (b & 7), (b >> 3) * 8);
		iovirt_vq_destroy(vb);
		CHECK(!memcmp(copy, mem, BYTES), "a pop wrote guest memory");
	}
	/* completions never outnumber takes */
	if (!flight)
		CHECK(iovirt_vq_push_used(vq, 0, 0) == IOVIRT_ENOENT, "push with none in flight");
	iovirt_vq_destroy(vq);
	CHECK(holds(map, regs) == 0, "destroy left a hold");
done:
	CHECK(!iovirt_gmap_destroy(map), "destroy");
	CHECK(iovirt_posix_live_mem(p) == 0, "leak");
	iovirt_posix_destroy(p);
	return 0;
}
