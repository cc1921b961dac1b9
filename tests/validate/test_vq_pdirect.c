/* SPDX-License-Identifier: MIT */
/*
 * The direct pop path of packed rings (descriptors read through the ring's
 * host address, the chain walked on locals and handed to the general walk at
 * anything unusual) against the general path: a packed queue with
 * IOVIRT_VQ_F_DIRECT and one without, on the same descriptor ring, map and
 * chains, must give the same return, result, host list and cursors, and a
 * refusal must leave the direct queue as it was.
 */
#include <stdio.h>

#include "pdrv.h"

#define PF IOVIRT_VQ_F_PACKED
#define MAXN 16u

struct pair {
	struct vt t;
	struct iovirt_vq *direct, *cb;
	uint32_t num;
	bool inflight[MAXN];
};

static uint8_t *pmem(struct pair *p, uint64_t gpa)
{
	return vt_mem(&p->t, gpa);
}

/* Descriptor pos of the ring (or of a table at base): flags written last. */
static void pdesc_at(struct pair *p, uint64_t base, uint32_t pos, uint64_t addr, uint32_t len,
		     uint16_t id, uint16_t flags)
{
	uint8_t *d = pmem(p, base) + pos * 16;
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &id, 2);
	__atomic_store_n((uint16_t *)(void *)(d + 14), flags, __ATOMIC_RELEASE);
}

static void pdesc(struct pair *p, uint32_t pos, uint64_t addr, uint32_t len, uint16_t id,
		  uint16_t flags)
{
	pdesc_at(p, DESC, pos, addr, len, id, flags);
}

/* Available in the lap whose wrap counter is w (virtio: AVAIL = w, USED = !w). */
static uint16_t av(bool w)
{
	return w ? P_AVAIL : P_USED;
}

/* Guest memory: vt_diff_map's (vq.h). */
static void pair_init(struct pair *p, uint32_t flags, uint32_t num)
{
	vt_init(&p->t);
	vt_diff_map(&p->t);
	struct iovirt_vq_params vp = { .size = sizeof(vp), .guest = VT_GUEST, .num = num,
				       .flags = flags | PF | IOVIRT_VQ_F_DIRECT, .desc_gpa = DESC,
				       .avail_gpa = AVAIL, .used_gpa = USED, .map = p->t.map };
	cr_assert_eq(iovirt_vq_create(p->t.ops, p->t.p, &vp, &p->direct), 0);
	vp.flags = flags | PF;
	cr_assert_eq(iovirt_vq_create(p->t.ops, p->t.p, &vp, &p->cb), 0);
	p->num = num;
	memset(p->inflight, 0, sizeof(p->inflight));
}

static void pair_fini(struct pair *p)
{
	iovirt_vq_destroy(p->direct);
	iovirt_vq_destroy(p->cb);
	vt_fini(&p->t);
}

/* Pops from both queues and checks that they agree on everything; a pop does
 * not write the ring, and the direct queue's cursor moves only on success.
 * Returns the result. */
static int pop_both(struct pair *p, const struct iovirt_sg_policy *pol, uint32_t cap,
		    const char *what)
{
	struct iovirt_host_seg od[16], oc[16];
	struct iovirt_dma_result rd, rc;
	memset(&rd, 0xa5, sizeof(rd));
	memset(&rc, 0x5a, sizeof(rc));
	uint16_t la = iovirt_vq_last_avail(p->direct), ui = iovirt_vq_used_idx(p->direct);
	uint8_t ring[16 * MAXN];
	memcpy(ring, pmem(p, DESC), 16 * p->num);
	int nd = iovirt_vq_pop(p->direct, p->t.map, pol, od, cap, &rd);
	int nc = iovirt_vq_pop(p->cb, p->t.map, pol, oc, cap, &rc);
	cr_assert_eq(nd, nc, "%s: direct %s, general %s", what, iovirt_err_name(nd),
		     iovirt_err_name(nc));
	vq_res_eq(&rd, &rc, what, 0);
	if (nd > 0)
		vq_out_eq(od, oc, (uint32_t)nd, what);
	uint16_t la2 = iovirt_vq_last_avail(p->direct);
	if (nd <= 0)
		cr_assert_eq(la2, la, "%s: cursor %#x -> %#x", what, la, la2);
	else
		cr_assert_neq(la2, la, "%s", what);
	cr_assert_eq(iovirt_vq_last_avail(p->cb), la2, "%s", what);
	cr_assert_eq(iovirt_vq_used_idx(p->direct), ui, "%s", what);
	cr_assert_eq(iovirt_vq_used_idx(p->cb), ui, "%s", what);
	cr_assert_eq(memcmp(ring, pmem(p, DESC), 16 * p->num), 0, "%s: ring written", what);
	if (nd > 0) {
		cr_assert_lt(rd.head, p->num, "%s", what);
		cr_assert(!p->inflight[rd.head], "%s: ID %u taken twice", what, rd.head);
		p->inflight[rd.head] = true;
	}
	return nd;
}

/* Completes id on both queues: the same return, cursor and ring. */
static int push_both(struct pair *p, uint32_t id, uint32_t len, const char *what)
{
	int a = iovirt_vq_push_used(p->direct, id, len);
	uint8_t ring[16 * MAXN];
	memcpy(ring, pmem(p, DESC), 16 * p->num);
	int b = iovirt_vq_push_used(p->cb, id, len);
	cr_assert_eq(a, b, "%s: push %u: direct %s, general %s", what, id, iovirt_err_name(a),
		     iovirt_err_name(b));
	cr_assert_eq(memcmp(ring, pmem(p, DESC), 16 * p->num), 0, "%s: used descriptors differ",
		     what);
	cr_assert_eq(iovirt_vq_used_idx(p->direct), iovirt_vq_used_idx(p->cb), "%s", what);
	if (!a)
		p->inflight[id] = false;
	return a;
}

/* Both queues back to cursor c, nothing in flight. */
static void pair_reset(struct pair *p, uint16_t c)
{
	iovirt_vq_set_cursors(p->direct, c, c);
	iovirt_vq_set_cursors(p->cb, c, c);
	memset(p->inflight, 0, sizeof(p->inflight));
}

struct named {
	const char *what;
	int err;
};

static void expect(struct pair *p, const struct iovirt_sg_policy *pol, uint32_t cap,
		   const struct named *c)
{
	int n = pop_both(p, pol, cap, c->what);
	cr_assert_eq(n, c->err, "%s: got %s", c->what, iovirt_err_name(n));
	pair_reset(p, 0x8000);
}

/* A two-descriptor chain at ring positions 0, 1 (lap 1): second's fields given. */
static void chain2(struct pair *p, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags)
{
	pdesc(p, 1, addr, len, id, flags);
	pdesc(p, 0, G(1), 64, 0, av(true) | F_NEXT);
}

// Each chain the direct path takes or hands over gives the general path's return, refusal
// (code, where, descriptor, segment, address), buffer ID and host list, and the direct queue's
// cursor moves only on success: good and merged chains, the segment refusals, indirect tables,
// wrap bits, a chain as long as the ring, IDs out of range or in flight, the in-flight bound.
Test(vq_pdirect, refusal_parity)
{
	struct pair p;
	pair_init(&p, IOVIRT_VQ_F_INDIRECT, 8);
	const uint16_t A = av(true);
	chain2(&p, G(2), 1500, 3, A | F_WRITE);
	expect(&p, NULL, 16, &(struct named){ "good", 2 });
	chain2(&p, G(1) + 64, 100, 3, A);
	expect(&p, NULL, 16, &(struct named){ "merged", 1 });
	chain2(&p, G(2), 100, 3, A | F_WRITE | F_NEXT);
	pdesc(&p, 2, G(3), 100, 3, A);
	expect(&p, NULL, 16, &(struct named){ "readable after writable", IOVIRT_EORDER });
	chain2(&p, G(2), 0, 3, A | F_WRITE);
	expect(&p, NULL, 16, &(struct named){ "zero length", IOVIRT_EZEROLEN });
	chain2(&p, G(49), 10, 3, A | F_WRITE);
	expect(&p, NULL, 16, &(struct named){ "in the gap", IOVIRT_ENOREGION });
	chain2(&p, G(50), 10, 3, A | F_WRITE);
	expect(&p, NULL, 16, &(struct named){ "write to ROM", IOVIRT_EREADONLY });
	chain2(&p, G(52), 10, 3, A | F_WRITE);
	expect(&p, NULL, 16, &(struct named){ "other guest", IOVIRT_EFOREIGN });
	chain2(&p, G(54), 10, 3, A | F_WRITE);
	expect(&p, NULL, 16, &(struct named){ "MMIO", IOVIRT_EMMIO });
	chain2(&p, UINT64_MAX - 10, 100, 3, A | F_WRITE);
	expect(&p, NULL, 16, &(struct named){ "wraps", IOVIRT_EOVERFLOW });
	chain2(&p, G(19) + 100, 8192, 3, A | F_WRITE);
	expect(&p, NULL, 16, &(struct named){ "across regions", 3 });
	struct iovirt_sg_policy strict = { .size = sizeof(strict),
					   .flags = IOVIRT_POLICY_STRICT_REGIONS };
	chain2(&p, G(19) + 100, 8192, 3, A | F_WRITE);
	expect(&p, &strict, 16, &(struct named){ "across, strict", IOVIRT_ECROSS });
	/* continuing addresses in the next region: two host entries, not merged */
	pdesc(&p, 1, G(20), 100, 3, A);
	pdesc(&p, 0, G(20) - 64, 64, 0, A | F_NEXT);
	expect(&p, NULL, 16, &(struct named){ "continuing in the next region", 2 });
	chain2(&p, G(2), 1500, 3, A | F_WRITE);
	struct iovirt_sg_policy segs = { .size = sizeof(segs), .max_segs = 1 };
	expect(&p, &segs, 16, &(struct named){ "max_segs", IOVIRT_ETOOMANY });
	chain2(&p, G(2), 1500, 3, A | F_WRITE);
	expect(&p, NULL, 1, &(struct named){ "host list full", IOVIRT_ETOOMANY });
	chain2(&p, G(2), 1500, 3, A | F_WRITE);
	struct iovirt_sg_policy tot = { .size = sizeof(tot), .max_total = 1000 };
	expect(&p, &tot, 16, &(struct named){ "max_total", IOVIRT_ETOOBIG });
	chain2(&p, G(2) + 8, 1500, 3, A | F_WRITE);
	struct iovirt_sg_policy al = { .size = sizeof(al), .addr_align = 64 };
	expect(&p, &al, 16, &(struct named){ "misaligned", IOVIRT_EALIGN });
	chain2(&p, G(2), 1500, 3, A | F_WRITE);
	expect(&p, &al, 16, &(struct named){ "aligned", 2 });
	/* indirect: handed over at the descriptor */
	pdesc_at(&p, IND, 0, G(5), 100, 0, F_WRITE);
	pdesc_at(&p, IND, 1, G(6), 100, 0, F_WRITE);
	chain2(&p, IND, 32, 3, A | F_IND);
	expect(&p, NULL, 16, &(struct named){ "indirect", 3 });
	pdesc_at(&p, IND, 1, G(6), 100, 0, 0);
	chain2(&p, IND, 32, 3, A | F_IND);
	expect(&p, NULL, 16, &(struct named){ "indirect order", IOVIRT_EORDER });
	chain2(&p, IND, 32, 3, A | F_IND | F_NEXT);
	pdesc(&p, 2, G(3), 100, 3, A | F_WRITE);
	expect(&p, NULL, 16, &(struct named){ "indirect with next", IOVIRT_EINDIRECT });
	pdesc_at(&p, IND, 1, G(6), 100, 0, F_WRITE);
	pdesc(&p, 0, IND, 32, 3, A | F_IND);
	expect(&p, NULL, 16, &(struct named){ "indirect head", 2 });
	/* wrap bits: the second descriptor of another lap, used, or both bits set */
	chain2(&p, G(2), 1500, 3, av(false) | F_WRITE);
	expect(&p, NULL, 16, &(struct named){ "second of the other lap", IOVIRT_EWRAP });
	chain2(&p, G(2), 1500, 3, P_AVAIL | P_USED | F_WRITE);
	expect(&p, NULL, 16, &(struct named){ "second used", IOVIRT_EWRAP });
	chain2(&p, G(2), 1500, 3, F_WRITE);
	expect(&p, NULL, 16, &(struct named){ "second neither", IOVIRT_EWRAP });
	pdesc(&p, 0, G(1), 64, 3, av(false));
	expect(&p, NULL, 16, &(struct named){ "head of the other lap", 0 });
	pdesc(&p, 0, G(1), 64, 3, P_AVAIL | P_USED);
	expect(&p, NULL, 16, &(struct named){ "head used", 0 });
	/* every descriptor with NEXT: longer than the ring */
	for (uint32_t i = 8; i--;)
		pdesc(&p, i, G(i), 8, 3, A | F_NEXT);
	expect(&p, NULL, 16, &(struct named){ "longer than the ring", IOVIRT_ECHAIN });
	/* as long as the ring: taken, the cursor back at 0 in the next lap */
	pdesc(&p, 7, G(7), 8, 3, A);
	cr_assert_eq(pop_both(&p, NULL, 16, "as long as the ring"), 8);
	cr_assert_eq(iovirt_vq_last_avail(p.direct), 0);
	pair_reset(&p, 0x8000);
	/* IDs: out of range, in flight; descriptors beyond the ring's */
	chain2(&p, G(2), 1500, 8, A | F_WRITE);
	expect(&p, NULL, 16, &(struct named){ "ID out of range", IOVIRT_EINDEX });
	chain2(&p, G(2), 1500, 3, A | F_WRITE);
	cr_assert_eq(pop_both(&p, NULL, 16, "ID 3"), 2);
	pdesc(&p, 3, G(3), 100, 3, A);
	pdesc(&p, 2, G(2), 100, 3, A | F_NEXT);
	cr_assert_eq(pop_both(&p, NULL, 16, "ID in flight"), IOVIRT_EDUP);
	static const uint16_t ids[] = { 0, 1, 2, 4, 5 };
	for (uint16_t i = 2; i < 7; i++)
		pdesc(&p, i, G(i), 100, ids[i - 2], A);
	pdesc(&p, 7, G(7), 100, 6, A | F_NEXT);
	pdesc(&p, 0, G(0), 100, 6, av(false));
	for (int i = 0; i < 5; i++)
		cr_assert_eq(pop_both(&p, NULL, 16, "fill"), 1);
	cr_assert_eq(pop_both(&p, NULL, 16, "beyond the ring"), IOVIRT_EOVERRUN);
	cr_assert_eq(push_both(&p, 3, 1500, "complete 3"), 0);
	pdesc(&p, 0, G(0), 100, 6, av(false)); /* (the used descriptor went there) */
	cr_assert_eq(pop_both(&p, NULL, 16, "across the ring's end"), 2);
	cr_assert_eq(iovirt_vq_last_avail(p.direct), 1, "lap 0, position 1");
	pair_fini(&p);
}

static void rnd_policy(uint64_t *rng, struct iovirt_sg_policy *pol)
{
	static const uint64_t aligns[] = { 0, 1, 2, 8, 512 };
	*pol = (struct iovirt_sg_policy){ .size = sizeof(*pol) };
	pol->max_segs = (uint32_t)(th_rand(rng) % 5);
	pol->max_total = th_rand(rng) % 3 ? 0 : th_rand(rng) % 8000;
	pol->addr_align = th_rand(rng) % 3 ? 0 : aligns[th_rand(rng) % 5];
	pol->len_align = th_rand(rng) % 3 ? 0 : aligns[th_rand(rng) % 5];
	pol->flags = th_rand(rng) % 4 ? 0 : IOVIRT_POLICY_STRICT_REGIONS;
}

/* A random buffer ID: mostly one not in flight, sometimes one in flight or >= num. */
static uint16_t rnd_id(struct pair *p, uint64_t *rng)
{
	uint64_t r = th_rand(rng) % 32;
	if (r == 0)
		return (uint16_t)(p->num + th_rand(rng) % 4);
	for (uint32_t k = 0; k < 4 * p->num; k++) {
		uint16_t id = (uint16_t)(th_rand(rng) % p->num);
		if (r == 1 ? p->inflight[id] : !p->inflight[id])
			return id;
	}
	return (uint16_t)(th_rand(rng) % p->num);
}

/*
 * The driver writes a random chain at the device's cursor: 1-5 descriptors
 * (sometimes one per ring slot and more), each available in its own lap
 * (sometimes not: the other lap's bits, used, neither), readable then writable
 * (sometimes not), now and then indirect (a table of random entries) or with
 * NEXT wrongly set or cleared; the head's flags last.
 */
static void rnd_chain(struct pair *p, uint64_t *rng)
{
	uint16_t cur = iovirt_vq_last_avail(p->direct);
	uint32_t pos = cur & 0x7fff, n = 1 + (uint32_t)(th_rand(rng) % 5);
	bool wrap = cur >> 15, wrote = false;
	if (th_rand(rng) % 50 == 0)
		n = p->num + (uint32_t)(th_rand(rng) % 2);
	/* a long chain of sound buffers (one host entry): ECHAIN, EOVERRUN, or taken */
	bool clean = n >= p->num && th_rand(rng) % 2;
	uint16_t id = rnd_id(p, rng), head_flags = 0;
	uint32_t head = pos;
	for (uint32_t j = 0; j < n && j < p->num; j++) {
		uint64_t r = th_rand(rng);
		uint16_t f = j + 1 < n ? F_NEXT : 0;
		bool w = wrote || r % 4 == 0;
		if (r % 23 == 1)
			w = !w;
		wrote |= w;
		f |= w ? F_WRITE : 0;
		if (r % 31 == 3)
			f ^= F_NEXT;
		uint64_t addr = vq_rnd_addr(rng, 16);
		uint32_t len = vq_rnd_len(rng, 16);
		if (r % 17 == 5) {
			f |= F_IND;
			addr = th_rand(rng) % 8 ? IND : vq_rnd_addr(rng, 16);
			len = 16 * (uint32_t)(th_rand(rng) % 5);
			for (uint32_t k = 0; k < 4; k++)
				pdesc_at(p, IND, k, vq_rnd_addr(rng, 16), vq_rnd_len(rng, 16), 0,
					 (uint16_t)((th_rand(rng) % 2 ? F_WRITE : 0) |
						    (th_rand(rng) % 40 ? 0 : F_IND)));
		}
		if (clean) {
			f &= F_NEXT;
			addr = G(1) + j * 64ull;
			len = 64;
		}
		uint16_t bits = av(wrap);
		if (!clean && th_rand(rng) % 40 == 0) {
			static const uint16_t wrong[] = { 0, P_AVAIL | P_USED, P_AVAIL, P_USED };
			bits = wrong[th_rand(rng) % 4];
		}
		f |= bits;
		/* a chain's ID is its last descriptor's; the others' are ignored */
		uint16_t did = j + 1 == n || th_rand(rng) % 2 ? id : (uint16_t)th_rand(rng);
		if (j == 0) {
			pdesc(p, pos, addr, len, did, (uint16_t)(av(!wrap)));
			head_flags = f;
		} else {
			pdesc(p, pos, addr, len, did, f);
		}
		if (++pos == p->num) {
			pos = 0;
			wrap = !wrap;
		}
	}
	uint8_t *hf = pmem(p, DESC) + head * 16 + 14;
	__atomic_store_n((uint16_t *)(void *)hf, head_flags, __ATOMIC_RELEASE);
}

static void random_parity(uint32_t num, uint32_t flags, uint64_t seed, uint32_t rounds)
{
	struct pair p;
	pair_init(&p, flags, num);
	uint64_t rng = seed;
	bool extra = false;
	uint32_t seen[64] = { 0 }; /* results: [0] successes, [-err] refusals */
	for (uint32_t round = 0; round < rounds; round++) {
		char what[48];
		snprintf(what, sizeof(what), "num %u round %u", num, round);
		if (th_rand(&rng) % 64 == 0) {
			/* a region before the others: every entry index shifts (the hint) */
			if (extra)
				cr_assert_eq(iovirt_gmap_remove(p.t.map, VT_GPA - 4096), 0);
			else
				vt_add(&p.t, VT_GPA - 4096, 4096, IOVIRT_REGION_ROM, DR);
			extra = !extra;
		}
		if (th_rand(&rng) % 200 == 0) {
			/* somewhere else on the ring, either lap */
			uint16_t c = (uint16_t)(th_rand(&rng) % num | (th_rand(&rng) % 2 ? 0x8000 : 0));
			pair_reset(&p, c);
		}
		rnd_chain(&p, &rng);
		struct iovirt_sg_policy pol;
		rnd_policy(&rng, &pol);
		uint32_t cap = 1 + (uint32_t)(th_rand(&rng) % 16);
		int r = pop_both(&p, th_rand(&rng) % 2 ? &pol : NULL, cap, what);
		seen[r > 0 ? 0 : (-r < 64 ? -r : 63)]++;
		if (r < 0 && th_rand(&rng) % 2) {
			/* drop it, as a device would: the same ID from both, or the same refusal */
			int a = iovirt_vq_skip(p.direct), b = iovirt_vq_skip(p.cb);
			cr_assert_eq(a, b, "%s: skip %d %d", what, a, b);
			cr_assert_eq(iovirt_vq_last_avail(p.direct), iovirt_vq_last_avail(p.cb));
			if (a >= 0) {
				p.inflight[a] = true;
				cr_assert_eq(push_both(&p, (uint32_t)a, 0, what), 0);
			}
		}
		/* complete some, sometimes an ID not in flight (refused alike) */
		while (th_rand(&rng) % 3) {
			uint32_t id = (uint32_t)(th_rand(&rng) % (num + 1));
			push_both(&p, id, (uint32_t)(th_rand(&rng) % 3000), what);
		}
	}
	if (extra)
		cr_assert_eq(iovirt_gmap_remove(p.t.map, VT_GPA - 4096), 0);
	for (int k = 0; k < 64; k++)
		if (seen[k])
			cr_log_info("num %u: %s %u", num, k ? iovirt_err_name(-k) : "taken", seen[k]);
	cr_assert_gt(seen[0], rounds / 10, "successes %u", seen[0]);
	const int want[] = { IOVIRT_EWRAP, IOVIRT_EORDER, IOVIRT_EZEROLEN, IOVIRT_ENOREGION,
			     IOVIRT_EREADONLY, IOVIRT_EFOREIGN, IOVIRT_EMMIO, IOVIRT_ECROSS,
			     IOVIRT_ETOOMANY, IOVIRT_ETOOBIG, IOVIRT_EALIGN, IOVIRT_EINDIRECT,
			     IOVIRT_EDUP, IOVIRT_EINDEX, IOVIRT_ECHAIN, IOVIRT_EOVERRUN };
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++)
		cr_assert_gt(seen[-want[k]], 5, "%s seen %u times", iovirt_err_name(want[k]),
			     seen[-want[k]]);
	pair_fini(&p);
}

// Random chains at random ring positions and laps, good and hostile (wrong wrap bits, IDs in
// flight or out of range, longer than the ring, readable after writable, every kind of region,
// indirect tables, NEXT wrongly set), random policies and host list sizes, completions in any
// order, regions added and removed between pops: the direct and the general path agree on
// every return, result, host entry, cursor, skip and used descriptor.
Test(vq_pdirect, random_parity)
{
	random_parity(8, IOVIRT_VQ_F_INDIRECT, 0x9ac4ed, 20000);
}

// The same on a ring of odd size (wrap-around at a position that is no power of two), and
// without the indirect feature.
Test(vq_pdirect, random_parity_odd)
{
	random_parity(7, IOVIRT_VQ_F_INDIRECT, 0x51de, 15000);
	random_parity(5, 0, 0xfeed, 5000);
}
