/* SPDX-License-Identifier: MIT */
/*
 * The direct pop path (split rings read through their host address, the
 * chain walked on locals and handed to the general walk at anything unusual)
 * against the general path: a queue with IOVIRT_VQ_F_DIRECT and one without,
 * on the same rings, map and chains, must give the same result, refusal,
 * host list and cursors, and a refusal must leave the direct queue as it was.
 */
#include <stdio.h>

#define DESC G(40)
#define AVAIL G(41)
#define USED G(42)
#define IND G(43)
#include "vq.h"

#define DN 16u /* queue size */

struct pair {
	struct vt t;
	struct iovirt_vq *direct, *cb;
	uint16_t drv_idx;
};

static uint8_t *pmem(struct pair *p, uint64_t gpa)
{
	return vt_mem(&p->t, gpa);
}

static void pdesc(struct pair *p, uint64_t table, uint32_t i, uint64_t addr, uint32_t len,
		  uint16_t flags, uint16_t next)
{
	vt_desc(&p->t, table, i, addr, len, flags, next);
}

static void poffer(struct pair *p, uint16_t head)
{
	vt_offer(&p->t, &p->drv_idx, DN, head);
}

/* Guest memory: vt_diff_map's (vq.h). */
static void pair_init(struct pair *p, uint32_t flags)
{
	vt_init(&p->t);
	vt_diff_map(&p->t);
	struct iovirt_vq_params vp = { .size = sizeof(vp), .guest = VT_GUEST, .num = DN,
				       .flags = flags | IOVIRT_VQ_F_DIRECT, .desc_gpa = DESC,
				       .avail_gpa = AVAIL, .used_gpa = USED, .map = p->t.map };
	cr_assert_eq(iovirt_vq_create(p->t.ops, p->t.p, &vp, &p->direct), 0);
	vp.flags = flags;
	cr_assert_eq(iovirt_vq_create(p->t.ops, p->t.p, &vp, &p->cb), 0);
	p->drv_idx = 0;
}

static void pair_fini(struct pair *p)
{
	iovirt_vq_destroy(p->direct);
	iovirt_vq_destroy(p->cb);
	vt_fini(&p->t);
}

/* Pops the offered chain from both queues and checks that they agree; the
 * direct queue's cursors move only on success, and the guest's used ring is
 * not written. Returns the result. */
static int pop_both(struct pair *p, const struct iovirt_sg_policy *pol, uint32_t cap,
		    const char *what)
{
	struct iovirt_host_seg od[16], oc[16];
	struct iovirt_dma_result rd, rc;
	memset(&rd, 0xa5, sizeof(rd));
	memset(&rc, 0x5a, sizeof(rc));
	uint16_t la = iovirt_vq_last_avail(p->direct), ui = iovirt_vq_used_idx(p->direct);
	uint8_t used[4 + 8 * DN];
	memcpy(used, pmem(p, USED), sizeof(used));
	int nd = iovirt_vq_pop(p->direct, p->t.map, pol, od, cap, &rd);
	int nc = iovirt_vq_pop(p->cb, p->t.map, pol, oc, cap, &rc);
	cr_assert_eq(nd, nc, "%s: direct %s, general %s", what, iovirt_err_name(nd),
		     iovirt_err_name(nc));
	vq_res_eq(&rd, &rc, what, 0);
	if (nd > 0)
		vq_out_eq(od, oc, (uint32_t)nd, what);
	uint16_t la2 = iovirt_vq_last_avail(p->direct);
	cr_assert_eq(la2, (uint16_t)(la + (nd > 0)), "%s: cursor %u -> %u", what, la, la2);
	cr_assert_eq(iovirt_vq_last_avail(p->cb), la2, "%s", what);
	cr_assert_eq(iovirt_vq_used_idx(p->direct), ui, "%s", what);
	cr_assert_eq(memcmp(used, pmem(p, USED), sizeof(used)), 0, "%s: used ring written", what);
	return nd;
}

/* Back to an empty queue at the driver's index, both queues. */
static void pair_reset(struct pair *p)
{
	iovirt_vq_set_cursors(p->direct, p->drv_idx, p->drv_idx);
	iovirt_vq_set_cursors(p->cb, p->drv_idx, p->drv_idx);
}

struct named {
	const char *what;
	int err;
};

/* Offers head and pops it from both; checks the refusal expected. */
static void expect_named(struct pair *p, const struct iovirt_sg_policy *pol, uint32_t cap,
			 uint16_t head, const struct named *c)
{
	poffer(p, head);
	int n = pop_both(p, pol, cap, c->what);
	cr_assert_eq(n, c->err, "%s: got %s", c->what, iovirt_err_name(n));
	pair_reset(p);
}

// Each malformed chain the direct path hands over is refused as the general path refuses it
// (same code, where, descriptor, segment and address), and the direct queue's cursor stays.
Test(vq_direct, refusal_parity)
{
	struct pair p;
	pair_init(&p, IOVIRT_VQ_F_INDIRECT);
	const uint16_t H = 3;
	/* a good two-segment chain first: the fast path itself */
	pdesc(&p, DESC, H, G(1), 64, F_NEXT, 7);
	pdesc(&p, DESC, 7, G(2), 1500, F_WRITE, 0);
	expect_named(&p, NULL, 16, H, &(struct named){ "good", 2 });
	pdesc(&p, DESC, 7, G(2), 1500, F_WRITE | F_NEXT, 9);
	pdesc(&p, DESC, 9, G(2) + 1500, 100, F_WRITE, 0);
	expect_named(&p, NULL, 16, H, &(struct named){ "merged", 2 });
	pdesc(&p, DESC, 9, G(2) + 1500, 100, F_WRITE | F_NEXT, H);
	expect_named(&p, NULL, 16, H, &(struct named){ "loop to head", IOVIRT_ELOOP });
	pdesc(&p, DESC, 9, G(2) + 1500, 100, F_WRITE | F_NEXT, 9);
	expect_named(&p, NULL, 16, H, &(struct named){ "self loop", IOVIRT_ELOOP });
	pdesc(&p, DESC, 9, G(2) + 1500, 100, F_WRITE | F_NEXT, DN);
	expect_named(&p, NULL, 16, H, &(struct named){ "next out of range", IOVIRT_EINDEX });
	pdesc(&p, DESC, 9, G(2) + 1500, 100, 0, 0);
	expect_named(&p, NULL, 16, H, &(struct named){ "readable after writable", IOVIRT_EORDER });
	pdesc(&p, DESC, 9, G(2), 0, F_WRITE, 0);
	expect_named(&p, NULL, 16, H, &(struct named){ "zero length", IOVIRT_EZEROLEN });
	pdesc(&p, DESC, 9, G(49), 10, F_WRITE, 0);
	expect_named(&p, NULL, 16, H, &(struct named){ "in the gap", IOVIRT_ENOREGION });
	pdesc(&p, DESC, 9, G(50), 10, F_WRITE, 0);
	expect_named(&p, NULL, 16, H, &(struct named){ "write to ROM", IOVIRT_EREADONLY });
	pdesc(&p, DESC, 9, G(52), 10, F_WRITE, 0);
	expect_named(&p, NULL, 16, H, &(struct named){ "other guest", IOVIRT_EFOREIGN });
	pdesc(&p, DESC, 9, G(54), 10, F_WRITE, 0);
	expect_named(&p, NULL, 16, H, &(struct named){ "MMIO", IOVIRT_EMMIO });
	pdesc(&p, DESC, 9, G(47), 8192, F_WRITE, 0);
	expect_named(&p, NULL, 16, H, &(struct named){ "past the RAM", IOVIRT_ENOREGION });
	pdesc(&p, DESC, 9, UINT64_MAX - 10, 100, F_WRITE, 0);
	expect_named(&p, NULL, 16, H, &(struct named){ "wraps", IOVIRT_EOVERFLOW });
	/* across adjacent regions: accepted by the general path, refused when strict */
	pdesc(&p, DESC, 9, G(19) + 100, 8192, F_WRITE, 0);
	expect_named(&p, NULL, 16, H, &(struct named){ "across regions", 4 });
	struct iovirt_sg_policy strict = { .size = sizeof(strict),
					   .flags = IOVIRT_POLICY_STRICT_REGIONS };
	expect_named(&p, &strict, 16, H, &(struct named){ "across, strict", IOVIRT_ECROSS });
	/* continuing addresses in the next region: two host entries, not merged */
	pdesc(&p, DESC, 7, G(20) - 1500, 1500, F_WRITE | F_NEXT, 9);
	pdesc(&p, DESC, 9, G(20), 100, F_WRITE, 0);
	expect_named(&p, NULL, 16, H, &(struct named){ "continuing in the next region", 3 });
	pdesc(&p, DESC, 7, G(2), 1500, F_WRITE | F_NEXT, 9);
	pdesc(&p, DESC, 9, G(4), 100, F_WRITE, 0);
	struct iovirt_sg_policy segs = { .size = sizeof(segs), .max_segs = 2 };
	expect_named(&p, &segs, 16, H, &(struct named){ "max_segs", IOVIRT_ETOOMANY });
	expect_named(&p, NULL, 2, H, &(struct named){ "host list full", IOVIRT_ETOOMANY });
	struct iovirt_sg_policy tot = { .size = sizeof(tot), .max_total = 1600 };
	expect_named(&p, &tot, 16, H, &(struct named){ "max_total", IOVIRT_ETOOBIG });
	struct iovirt_sg_policy al = { .size = sizeof(al), .addr_align = 64 };
	pdesc(&p, DESC, 9, G(4) + 8, 100, F_WRITE, 0);
	expect_named(&p, &al, 16, H, &(struct named){ "misaligned", IOVIRT_EALIGN });
	struct iovirt_sg_policy ll = { .size = sizeof(ll), .len_align = 64 };
	expect_named(&p, &ll, 16, H, &(struct named){ "odd length", IOVIRT_EALIGN });
	/* indirect: the fast path hands over at the descriptor */
	pdesc(&p, DESC, 9, IND, 32, F_IND, 0);
	pdesc(&p, IND, 0, G(5), 100, F_WRITE | F_NEXT, 1);
	pdesc(&p, IND, 1, G(6), 100, F_WRITE, 0);
	expect_named(&p, NULL, 16, H, &(struct named){ "indirect", 4 });
	pdesc(&p, IND, 1, G(6), 100, 0, 0);
	expect_named(&p, NULL, 16, H, &(struct named){ "indirect order", IOVIRT_EORDER });
	pdesc(&p, DESC, 9, IND, 32, F_IND | F_NEXT, 0);
	expect_named(&p, NULL, 16, H, &(struct named){ "indirect with next", IOVIRT_EINDIRECT });
	/* ring refusals: a head out of range, more chains in flight than num */
	expect_named(&p, NULL, 16, DN + 1, &(struct named){ "bad head", IOVIRT_EINDEX });
	pdesc(&p, DESC, 9, G(4), 100, F_WRITE, 0);
	for (uint32_t k = 0; k < DN; k++) {
		poffer(&p, H);
		cr_assert_eq(pop_both(&p, NULL, 16, "fill"), 3);
	}
	poffer(&p, H);
	cr_assert_eq(pop_both(&p, NULL, 16, "overrun"), IOVIRT_EOVERRUN);
	pair_reset(&p);
	pair_fini(&p);
}

static uint16_t rnd_flags(uint64_t *rng, uint32_t j, uint32_t n, bool *wrote)
{
	uint64_t r = th_rand(rng);
	uint16_t f = j + 1 < n ? F_NEXT : 0;
	/* mostly readable first, then writable; sometimes out of order or indirect */
	bool w = *wrote || (r % 4 == 0);
	if (r % 23 == 1)
		w = !w;
	*wrote |= w;
	if (w)
		f |= F_WRITE;
	if (r % 29 == 2)
		f |= F_IND;
	if (r % 31 == 3)
		f ^= F_NEXT;
	return f;
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

// Random chains, good and malformed, with random policies and host list sizes, and regions
// added and removed between pops (so the direct path's region hint goes stale): the direct
// and the general path agree on every result, refusal and host entry, and a refusal moves
// no cursor.
Test(vq_direct, random_parity)
{
	struct pair p;
	pair_init(&p, IOVIRT_VQ_F_INDIRECT);
	uint64_t rng = 0x5eed;
	bool extra = false;
	uint32_t seen[64] = { 0 }; /* results: [0] successes, [-err] refusals */
	for (uint32_t round = 0; round < 30000; round++) {
		if (th_rand(&rng) % 64 == 0) {
			/* a region before the others: every entry index shifts */
			if (extra)
				cr_assert_eq(iovirt_gmap_remove(p.t.map, VT_GPA - 4096), 0);
			else
				vt_add(&p.t, VT_GPA - 4096, 4096, IOVIRT_REGION_ROM, DR);
			extra = !extra;
		}
		uint32_t n = 1 + (uint32_t)(th_rand(&rng) % 5);
		uint16_t idx[8];
		for (uint32_t j = 0; j < n; j++) {
			idx[j] = (uint16_t)(th_rand(&rng) % DN);
			if (th_rand(&rng) % 37 == 0)
				idx[j] = (uint16_t)(DN + th_rand(&rng) % 4); /* out of range */
		}
		bool wrote = false;
		for (uint32_t j = 0; j < n; j++) {
			if (idx[j] >= DN)
				break;
			uint16_t f = rnd_flags(&rng, j, n, &wrote);
			uint64_t addr = vq_rnd_addr(&rng, 16);
			uint32_t len = vq_rnd_len(&rng, 16);
			if (f & F_IND) {
				addr = th_rand(&rng) % 8 ? IND : vq_rnd_addr(&rng, 16);
				len = 16 * (uint32_t)(th_rand(&rng) % 5);
				for (uint32_t k = 0; k < 4; k++)
					pdesc(&p, IND, k, vq_rnd_addr(&rng, 16), vq_rnd_len(&rng, 16),
					      (uint16_t)((k < 3 ? F_NEXT : 0) |
							 (th_rand(&rng) % 2 ? F_WRITE : 0)),
					      (uint16_t)(k + 1));
			}
			pdesc(&p, DESC, idx[j], addr, len, f, j + 1 < n ? idx[j + 1] : 0);
		}
		struct iovirt_sg_policy pol;
		rnd_policy(&rng, &pol);
		uint32_t cap = 1 + (uint32_t)(th_rand(&rng) % 16);
		poffer(&p, idx[0] < DN ? idx[0] : (uint16_t)(th_rand(&rng) % DN));
		char what[32];
		snprintf(what, sizeof(what), "round %u", round);
		int r = pop_both(&p, th_rand(&rng) % 2 ? &pol : NULL, cap, what);
		seen[r > 0 ? 0 : (-r < 64 ? -r : 63)]++;
		if (r > 0 && th_rand(&rng) % 2) {
			/* complete it on both, as a device would */
			cr_assert_eq(iovirt_vq_push_used(p.direct, idx[0] < DN ? idx[0] : 0, 0), 0);
			cr_assert_eq(iovirt_vq_push_used(p.cb, idx[0] < DN ? idx[0] : 0, 0), 0);
		}
		pair_reset(&p);
	}
	if (extra)
		cr_assert_eq(iovirt_gmap_remove(p.t.map, VT_GPA - 4096), 0);
	/* the mix reaches successes and the walk's refusals */
	cr_assert_gt(seen[0], 3000, "successes %u", seen[0]);
	const int want[] = { IOVIRT_EINDEX, IOVIRT_ELOOP, IOVIRT_EORDER, IOVIRT_EZEROLEN,
			     IOVIRT_ENOREGION, IOVIRT_EREADONLY, IOVIRT_EFOREIGN, IOVIRT_EMMIO,
			     IOVIRT_ECROSS, IOVIRT_ETOOMANY, IOVIRT_ETOOBIG, IOVIRT_EALIGN,
			     IOVIRT_EINDIRECT };
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++)
		cr_assert_gt(seen[-want[k]], 20, "%s seen %u times", iovirt_err_name(want[k]),
			     seen[-want[k]]);
	pair_fini(&p);
}

// The direct path's region hint (the entry index of the last chain's region) is only used
// while it names an entry of the current snapshot: after regions are removed so that the
// snapshot has fewer entries than the hint, a pop still gives the general path's result.
Test(vq_direct, stale_hint)
{
	struct pair p;
	pair_init(&p, 0);
	/* eight one-page regions at the top of guest memory, after the others */
	for (uint32_t k = 0; k < 8; k++)
		vt_add(&p.t, G(56 + k), 4096, IOVIRT_REGION_RAM, RW);
	pdesc(&p, DESC, 0, G(63), 64, F_NEXT, 1);
	pdesc(&p, DESC, 1, G(63) + 1024, 1500, F_WRITE, 0);
	poffer(&p, 0);
	cr_assert_eq(pop_both(&p, NULL, 16, "last region"), 2);
	pair_reset(&p);
	for (uint32_t k = 0; k < 8; k++)
		cr_assert_eq(iovirt_gmap_remove(p.t.map, G(56 + k)), 0);
	iovirt_gmap_reclaim(p.t.map); /* the old snapshots are gone */
	pdesc(&p, DESC, 0, G(1), 64, F_NEXT, 1);
	pdesc(&p, DESC, 1, G(1) + 1024, 1500, F_WRITE, 0);
	poffer(&p, 0);
	cr_assert_eq(pop_both(&p, NULL, 16, "after removal"), 2);
	pair_reset(&p);
	pair_fini(&p);
}
