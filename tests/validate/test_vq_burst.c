/* SPDX-License-Identifier: MIT */
/*
 * iovirt_vq_pop_burst against iovirt_vq_pop one chain at a time: two queues
 * on the same rings and map (pop only reads the guest), one taking bursts,
 * the other (the reference) popping as a burst is specified to (the chains
 * the last idx read showed, within the in-flight bound, each into the room
 * left in out, stopping before the first refusal after the first chain),
 * must give the same count or refusal, results, host entries and cursors.
 */
#include <stdio.h>

#define DESC G(40)
#define AVAIL G(41)
#define USED G(42)
#define IND G(43)
#include "vq.h"

#define BN 32u   /* queue size */
#define MAXB 12u /* chains per burst at most */
#define OUTN 64u /* host entries per burst at most */

struct bpair {
	struct vt t;
	struct iovirt_vq *b, *r; /* the burst queue, the reference */
	uint16_t drv_idx;
	uint16_t known; /* the avail idx the reference read last (as its queue keeps it) */
};

static uint8_t *bmem(struct bpair *p, uint64_t gpa)
{
	return vt_mem(&p->t, gpa);
}

static void bdesc(struct bpair *p, uint64_t table, uint32_t i, uint64_t addr, uint32_t len,
		  uint16_t flags, uint16_t next)
{
	vt_desc(&p->t, table, i, addr, len, flags, next);
}

static void boffer(struct bpair *p, uint16_t head)
{
	vt_offer(&p->t, &p->drv_idx, BN, head);
}

/* Guest memory: vt_diff_map's (vq.h). bflags/rflags: the queues' flags. */
static void bpair_init(struct bpair *p, uint32_t bflags, uint32_t rflags)
{
	vt_init(&p->t);
	vt_diff_map(&p->t);
	struct iovirt_vq_params vp = { .size = sizeof(vp), .guest = VT_GUEST, .num = BN,
				       .flags = bflags, .desc_gpa = DESC, .avail_gpa = AVAIL,
				       .used_gpa = USED, .map = p->t.map };
	cr_assert_eq(iovirt_vq_create(p->t.ops, p->t.p, &vp, &p->b), 0);
	vp.flags = rflags;
	cr_assert_eq(iovirt_vq_create(p->t.ops, p->t.p, &vp, &p->r), 0);
	p->drv_idx = p->known = 0;
}

static void bpair_fini(struct bpair *p)
{
	iovirt_vq_destroy(p->b);
	iovirt_vq_destroy(p->r);
	vt_fini(&p->t);
}

/* How a reference burst ended (for the coverage counts of the random test). */
enum stop { ST_ERR, ST_EMPTY, ST_MAX, ST_AVAIL, ST_FLIGHT, ST_FULL, ST_REFUSED, ST_N };

/*
 * The reference: what a burst of at most max chains into out[0 .. cap) gives,
 * by iovirt_vq_pop on p->r, following the burst's contract.
 */
static int ref_burst(struct bpair *p, const struct iovirt_sg_policy *pol,
		     struct iovirt_host_seg *out, uint32_t cap, struct iovirt_dma_result *res,
		     uint32_t max, enum stop *why)
{
	uint16_t last = iovirt_vq_last_avail(p->r);
	if (max == 0) {
		*why = ST_MAX;
		return 0;
	}
	if (p->known == last) /* pop reads idx now */
		p->known = p->drv_idx;
	uint32_t avail = (uint16_t)(p->known - last);
	uint32_t flight = (uint16_t)(last - iovirt_vq_used_idx(p->r));
	uint32_t k = 0, used = 0;
	if (avail > BN || avail == 0 || flight >= BN) {
		/* idx beyond num, nothing, or the in-flight bound: pop says which */
		int ret = iovirt_vq_pop(p->r, p->t.map, pol, out, cap, &res[0]);
		cr_assert_leq(ret, 0);
		if (avail > BN) /* refused: the queue keeps no idx */
			p->known = last;
		*why = ret ? ST_ERR : ST_EMPTY;
		return ret;
	}
	*why = ST_MAX;
	for (; k < max; k++) {
		if (k == avail) {
			*why = ST_AVAIL;
			break;
		}
		if (flight + k == BN) {
			*why = ST_FLIGHT;
			break;
		}
		if (k && used == cap) {
			*why = ST_FULL;
			break;
		}
		int ret = iovirt_vq_pop(p->r, p->t.map, pol, out + used, cap - used, &res[k]);
		cr_assert_neq(ret, 0);
		if (ret < 0) {
			if (k == 0) {
				*why = ST_ERR;
				return ret;
			}
			*why = ret == IOVIRT_ETOOMANY ? ST_FULL : ST_REFUSED;
			break;
		}
		used += (uint32_t)ret;
	}
	return (int)k;
}

/*
 * One burst on both sides, compared: count or refusal, res of each chain
 * taken (of the refused first chain), host entries, cursors, and the used
 * ring untouched. Returns the count or refusal.
 */
static int burst_both(struct bpair *p, const struct iovirt_sg_policy *pol, uint32_t cap,
		      uint32_t max, const char *what, enum stop *why)
{
	struct iovirt_host_seg ob[OUTN], orf[OUTN];
	struct iovirt_dma_result rb[MAXB], rr[MAXB];
	memset(ob, 0xa5, sizeof(ob));
	memset(orf, 0x5a, sizeof(orf));
	memset(rb, 0xa5, sizeof(rb));
	memset(rr, 0x5a, sizeof(rr));
	uint16_t la = iovirt_vq_last_avail(p->b), ui = iovirt_vq_used_idx(p->b);
	cr_assert_eq(la, iovirt_vq_last_avail(p->r), "%s", what);
	cr_assert_eq(ui, iovirt_vq_used_idx(p->r), "%s", what);
	uint8_t used[4 + 8 * BN];
	memcpy(used, bmem(p, USED), sizeof(used));
	int nr = ref_burst(p, pol, orf, cap, rr, max, why);
	int nb = iovirt_vq_pop_burst(p->b, p->t.map, pol, ob, cap, rb, max);
	cr_assert_eq(nb, nr, "%s: burst %s, reference %s", what, iovirt_err_name(nb),
		     iovirt_err_name(nr));
	/* a refusal (or nothing available) fills res[0] as pop does */
	uint32_t nres = nr > 0 ? (uint32_t)nr : max ? 1 : 0;
	uint32_t nout = 0;
	for (uint32_t k = 0; k < nres; k++) {
		vq_res_eq(&rb[k], &rr[k], what, k);
		if (nr > 0)
			nout += rb[k].nout;
	}
	vq_out_eq(ob, orf, nout, what);
	uint16_t la2 = iovirt_vq_last_avail(p->b);
	cr_assert_eq(la2, (uint16_t)(la + (nb > 0 ? nb : 0)), "%s: cursor %u -> %u", what, la,
		     la2);
	cr_assert_eq(iovirt_vq_last_avail(p->r), la2, "%s", what);
	cr_assert_eq(iovirt_vq_used_idx(p->b), ui, "%s", what);
	cr_assert_eq(memcmp(used, bmem(p, USED), sizeof(used)), 0, "%s: used ring written", what);
	return nb;
}

/* Drops the chain a refused first chain names on both queues (skip); false
 * when skip refuses too (the ring itself is broken, or the in-flight bound). */
static bool skip_both(struct bpair *p)
{
	int a = iovirt_vq_skip(p->b), b = iovirt_vq_skip(p->r);
	cr_assert_eq(a, b);
	return a == 0;
}

/* Completes n chains in flight on both queues with one batch. */
static void complete_both(struct bpair *p, uint32_t n)
{
	struct iovirt_vq_used e[BN];
	for (uint32_t k = 0; k < n; k++)
		e[k] = (struct iovirt_vq_used){ .id = k % BN, .len = 0 };
	cr_assert_eq(iovirt_vq_push_used_batch(p->b, e, n), 0);
	cr_assert_eq(iovirt_vq_push_used_batch(p->r, e, n), 0);
}

static uint16_t in_flight(struct bpair *p)
{
	return (uint16_t)(iovirt_vq_last_avail(p->b) - iovirt_vq_used_idx(p->b));
}

// A burst stops before a refused chain and leaves it available: [good, good, loop, good]
// gives 2 chains, the next burst refuses the loop exactly as pop (ELOOP at its descriptor,
// nothing moved), and after the device drops it (skip) the last chain comes. Also: the
// argument refusals, max_chains 0, an empty ring.
Test(vq_burst, stops_before_refusal, .description = "direct and general queues")
{
	const uint32_t cfg[2] = { IOVIRT_VQ_F_DIRECT, 0 };
	for (int c = 0; c < 2; c++) {
		struct bpair p;
		bpair_init(&p, cfg[c], cfg[c]);
		enum stop why;
		struct iovirt_host_seg out[8];
		struct iovirt_dma_result res[4];
		cr_assert_eq(iovirt_vq_pop_burst(p.b, p.t.map, NULL, out, 8, NULL, 4), IOVIRT_EINVAL);
		cr_assert_eq(iovirt_vq_pop_burst(p.b, p.t.map, NULL, NULL, 8, res, 4), IOVIRT_EINVAL);
		cr_assert_eq(res[0].err, IOVIRT_EINVAL);
		cr_assert_eq(iovirt_vq_pop_burst(p.b, NULL, NULL, out, 8, res, 4), IOVIRT_EINVAL);
		cr_assert_eq(iovirt_vq_pop_burst(NULL, p.t.map, NULL, out, 8, res, 4), IOVIRT_EINVAL);
		struct iovirt_sg_policy bad = { .size = sizeof(bad), .addr_align = 3 };
		cr_assert_eq(iovirt_vq_pop_burst(p.b, p.t.map, &bad, out, 8, res, 4), IOVIRT_EINVAL);
		cr_assert_eq(burst_both(&p, NULL, 8, 4, "empty", &why), 0);
		cr_assert_eq(why, ST_EMPTY);
		bdesc(&p, DESC, 0, G(1), 64, F_NEXT, 1);
		bdesc(&p, DESC, 1, G(2), 1500, F_WRITE, 0);
		bdesc(&p, DESC, 2, G(3), 64, F_NEXT, 3);
		bdesc(&p, DESC, 3, G(4), 1500, F_WRITE, 0);
		bdesc(&p, DESC, 4, G(5), 64, F_NEXT, 5);
		bdesc(&p, DESC, 5, G(6), 1500, F_WRITE | F_NEXT, 4); /* back to its head */
		bdesc(&p, DESC, 6, G(7), 100, F_WRITE, 0);
		boffer(&p, 0);
		boffer(&p, 2);
		boffer(&p, 4);
		boffer(&p, 6);
		cr_assert_eq(burst_both(&p, NULL, 8, 0, "max 0", &why), 0);
		cr_assert_eq(iovirt_vq_last_avail(p.b), 0);
		cr_assert_eq(burst_both(&p, NULL, 8, 4, "two good", &why), 2);
		cr_assert_eq(why, ST_REFUSED);
		struct iovirt_dma_result r;
		cr_assert_eq(burst_both(&p, NULL, 8, 4, "the loop", &why), IOVIRT_ELOOP);
		cr_assert_eq(iovirt_vq_pop(p.b, p.t.map, NULL, out, 8, &r), IOVIRT_ELOOP);
		cr_assert_eq(r.desc, 4); /* the index that closes the loop */
		cr_assert_eq(r.head, 4);
		cr_assert(skip_both(&p));
		cr_assert_eq(burst_both(&p, NULL, 8, 4, "the last", &why), 1);
		cr_assert_eq(why, ST_AVAIL);
		cr_assert_eq(burst_both(&p, NULL, 8, 4, "empty again", &why), 0);
		bpair_fini(&p);
	}
}

// Chains the direct walk hands to the general walk at their second or third descriptor (a
// buffer across adjacent regions, which only the general walk takes) and that then loop back
// to a descriptor already taken: the burst refuses each as pop does (ELOOP at the same
// descriptor), so the descriptors taken before the handover are in the loop check.
Test(vq_burst, handover_loops)
{
	struct bpair p;
	bpair_init(&p, IOVIRT_VQ_F_DIRECT, 0);
	enum stop why;
	const uint64_t across = G(20) - 100; /* 200 bytes over the boundary */
	bdesc(&p, DESC, 0, G(1), 64, F_NEXT, 1);
	bdesc(&p, DESC, 1, across, 200, F_NEXT, 1); /* back to itself */
	bdesc(&p, DESC, 2, G(2), 64, F_NEXT, 3);
	bdesc(&p, DESC, 3, across, 200, F_NEXT, 2); /* back to the head */
	bdesc(&p, DESC, 4, G(3), 64, F_NEXT, 5);
	bdesc(&p, DESC, 5, G(4), 64, F_NEXT, 6);
	bdesc(&p, DESC, 6, across, 200, F_NEXT, 5); /* back to the second */
	bdesc(&p, DESC, 7, G(5), 64, F_NEXT, 8);
	bdesc(&p, DESC, 8, across, 200, F_WRITE, 0); /* good */
	const uint16_t heads[3] = { 0, 2, 4 };
	for (int c = 0; c < 3; c++) {
		boffer(&p, 7);
		boffer(&p, heads[c]);
		cr_assert_eq(burst_both(&p, NULL, 16, 4, "good first", &why), 1);
		cr_assert_eq(burst_both(&p, NULL, 16, 4, "the loop", &why), IOVIRT_ELOOP);
		cr_assert(skip_both(&p));
	}
	bpair_fini(&p);
}

// The in-flight bound: with num - 2 chains in flight a burst of 4 available takes 2; with num
// in flight the first chain is refused with EOVERRUN as pop refuses it (nothing moved); a
// completion lets the next one in.
Test(vq_burst, in_flight_bound)
{
	const uint32_t cfg[2] = { IOVIRT_VQ_F_DIRECT, 0 };
	for (int c = 0; c < 2; c++) {
		struct bpair p;
		bpair_init(&p, cfg[c], cfg[c]);
		enum stop why;
		bdesc(&p, DESC, 0, G(1), 100, F_WRITE, 0);
		for (uint32_t k = 0; k < BN - 2; k++)
			boffer(&p, 0);
		while (in_flight(&p) < BN - 2)
			cr_assert_gt(burst_both(&p, NULL, OUTN, MAXB, "fill", &why), 0);
		for (uint32_t k = 0; k < 4; k++)
			boffer(&p, 0);
		cr_assert_eq(burst_both(&p, NULL, OUTN, MAXB, "two fit", &why), 2);
		cr_assert_eq(why, ST_FLIGHT);
		cr_assert_eq(burst_both(&p, NULL, OUTN, MAXB, "overrun", &why), IOVIRT_EOVERRUN);
		complete_both(&p, 1);
		cr_assert_eq(burst_both(&p, NULL, OUTN, MAXB, "one in", &why), 1);
		cr_assert_eq(why, ST_FLIGHT);
		bpair_fini(&p);
	}
}

// A burst whose host list fills up stops before the chain that does not fit and leaves it
// available; the first chain not fitting is pop's ETOOMANY.
Test(vq_burst, out_full)
{
	const uint32_t cfg[2] = { IOVIRT_VQ_F_DIRECT, 0 };
	for (int c = 0; c < 2; c++) {
		struct bpair p;
		bpair_init(&p, cfg[c], cfg[c]);
		enum stop why;
		for (uint32_t h = 0; h < 6; h += 2) {
			bdesc(&p, DESC, h, G(1 + h), 64, F_NEXT, (uint16_t)(h + 1));
			bdesc(&p, DESC, h + 1, G(2 + h), 1500, F_WRITE, 0);
			boffer(&p, (uint16_t)h);
		}
		cr_assert_eq(burst_both(&p, NULL, 3, MAXB, "one fits", &why), 1);
		cr_assert_eq(why, ST_FULL);
		cr_assert_eq(burst_both(&p, NULL, 1, MAXB, "none fits", &why), IOVIRT_ETOOMANY);
		cr_assert_eq(burst_both(&p, NULL, 4, MAXB, "exactly two", &why), 2);
		cr_assert_eq(why, ST_AVAIL);
		bpair_fini(&p);
	}
}

/*
 * Writes a chain of n descriptors at the table indices idx[0 .. n): good
 * (readable then writable, in RAM) unless hostile, then anything of a
 * malformed chain may appear (a loop, an index out of range, an indirect
 * table, readable after writable, a bad region or length).
 */
static void rnd_chain(struct bpair *p, uint64_t *rng, const uint16_t *idx, uint32_t n,
		      bool hostile)
{
	bool wrote = false;
	for (uint32_t j = 0; j < n; j++) {
		uint16_t f = j + 1 < n ? F_NEXT : 0;
		uint16_t next = j + 1 < n ? idx[j + 1] : 0;
		bool w = wrote || th_rand(rng) % 3 == 0;
		uint64_t addr = G(th_rand(rng) % 20) + th_rand(rng) % 2048;
		uint32_t len = 1 + (uint32_t)(th_rand(rng) % 2000);
		if (hostile) {
			uint64_t r = th_rand(rng);
			if (r % 5 == 0)
				w = !w;
			if (r % 7 == 1)
				addr = vq_rnd_addr(rng, 24);
			if (r % 7 == 2)
				len = vq_rnd_len(rng, 32);
			if (r % 11 == 3)
				next = (uint16_t)(th_rand(rng) % (BN + 2)), f |= F_NEXT;
			if (r % 13 == 4) {
				f = F_IND;
				addr = IND;
				len = 16 * (uint32_t)(th_rand(rng) % 4);
				for (uint32_t k = 0; k < 3; k++)
					bdesc(p, IND, k, vq_rnd_addr(rng, 24), vq_rnd_len(rng, 32),
					      (uint16_t)((k < 2 ? F_NEXT : 0) |
							 (th_rand(rng) % 2 ? F_WRITE : 0)),
					      (uint16_t)(k + 1));
			}
		}
		wrote |= w;
		if (w)
			f |= F_WRITE;
		bdesc(p, DESC, idx[j], addr, len, f, next);
	}
}

/*
 * The random differential of one configuration: rounds of chains posted
 * (good, with hostile ones at any position), bursts of random sizes into
 * host lists of random sizes with random policies until the ring is empty,
 * refused chains dropped (skip) as a device does, random completions (so
 * the in-flight bound is met), and now and then a region added or removed.
 * Checks that every way a burst ends was reached.
 */
static void random_diff(uint32_t bflags, uint32_t rflags, uint64_t seed)
{
	struct bpair p;
	bpair_init(&p, bflags, rflags);
	uint64_t rng = seed;
	uint32_t seen[ST_N] = { 0 };
	uint32_t ok_later = 0; /* bursts of more than one chain */
	bool extra = false;
	for (uint32_t round = 0; round < 2500; round++) {
		if (th_rand(&rng) % 32 == 0) {
			if (extra)
				cr_assert_eq(iovirt_gmap_remove(p.t.map, VT_GPA - 4096), 0);
			else
				vt_add(&p.t, VT_GPA - 4096, 4096, IOVIRT_REGION_ROM, DR);
			extra = !extra;
		}
		/* up to 8 chains at disjoint indices, some hostile */
		uint32_t nch = (uint32_t)(th_rand(&rng) % 9);
		uint16_t perm[BN];
		for (uint32_t k = 0; k < BN; k++)
			perm[k] = (uint16_t)k;
		for (uint32_t k = BN - 1; k > 0; k--) {
			uint32_t j = (uint32_t)(th_rand(&rng) % (k + 1));
			uint16_t t = perm[k];
			perm[k] = perm[j];
			perm[j] = t;
		}
		uint32_t used_idx = 0;
		for (uint32_t c = 0; c < nch; c++) {
			uint32_t n = 1 + (uint32_t)(th_rand(&rng) % 3);
			bool hostile = th_rand(&rng) % 6 == 0;
			rnd_chain(&p, &rng, perm + used_idx, n, hostile);
			uint16_t head = perm[used_idx];
			if (th_rand(&rng) % 40 == 0)
				head = (uint16_t)(BN + th_rand(&rng) % 4); /* head out of range */
			boffer(&p, head);
			used_idx += n;
		}
		struct iovirt_sg_policy pol;
		pol = (struct iovirt_sg_policy){ .size = sizeof(pol) };
		pol.max_segs = (uint32_t)(th_rand(&rng) % 4);
		pol.max_total = th_rand(&rng) % 4 ? 0 : th_rand(&rng) % 6000;
		pol.addr_align = th_rand(&rng) % 5 ? 0 : 8;
		pol.flags = th_rand(&rng) % 5 ? 0 : IOVIRT_POLICY_STRICT_REGIONS;
		const struct iovirt_sg_policy *pp = th_rand(&rng) % 2 ? &pol : NULL;
		for (uint32_t step = 0; step < 40; step++) {
			uint32_t max = (uint32_t)(th_rand(&rng) % (MAXB + 1));
			uint32_t cap = (uint32_t)(th_rand(&rng) % 8 ? th_rand(&rng) % OUTN
								     : th_rand(&rng) % 5);
			char what[48];
			snprintf(what, sizeof(what), "round %u step %u", round, step);
			enum stop why;
			int n = burst_both(&p, pp, cap, max, what, &why);
			seen[why]++;
			ok_later += n > 1;
			if (n < 0 && !skip_both(&p)) {
				/* the ring is broken (bad idx) or full of chains in flight */
				if (n == IOVIRT_EOVERRUN)
					complete_both(&p, in_flight(&p));
				else
					break;
			}
			if (in_flight(&p) && th_rand(&rng) % 3 == 0)
				complete_both(&p, 1 + (uint32_t)(th_rand(&rng) % in_flight(&p)));
			if (n == 0 && max && why == ST_EMPTY)
				break;
			if (used_idx < BN && th_rand(&rng) % 4 == 0) {
				/* the driver posts one more: a burst takes it only
				 * after the heads its last idx read showed */
				rnd_chain(&p, &rng, perm + used_idx, 1, false);
				boffer(&p, perm[used_idx++]);
			}
		}
		/* back to the driver's index on both, with chains in flight
		 * now and then (the next round meets the in-flight bound) */
		uint16_t flight = th_rand(&rng) % 3 ? 0 : (uint16_t)(BN - th_rand(&rng) % 8);
		iovirt_vq_set_cursors(p.b, p.drv_idx, (uint16_t)(p.drv_idx - flight));
		iovirt_vq_set_cursors(p.r, p.drv_idx, (uint16_t)(p.drv_idx - flight));
		p.known = p.drv_idx;
	}
	if (extra)
		cr_assert_eq(iovirt_gmap_remove(p.t.map, VT_GPA - 4096), 0);
	static const char *names[ST_N] = { "refused first", "empty", "max_chains", "avail",
					   "in-flight bound", "out full", "refused later" };
	for (int s = 0; s < ST_N; s++)
		cr_assert_gt(seen[s], 20, "%s seen %u times", names[s], seen[s]);
	cr_assert_gt(ok_later, 1000);
	bpair_fini(&p);
}

// Random differential, both queues reading their rings directly (the direct burst path
// against pop's direct path).
Test(vq_burst, random_direct)
{
	random_diff(IOVIRT_VQ_F_DIRECT | IOVIRT_VQ_F_INDIRECT,
		    IOVIRT_VQ_F_DIRECT | IOVIRT_VQ_F_INDIRECT, 0xb0057);
}

// Random differential, the direct burst path against pop through the host callbacks (the
// general walk).
Test(vq_burst, random_direct_vs_callback)
{
	random_diff(IOVIRT_VQ_F_DIRECT | IOVIRT_VQ_F_INDIRECT, IOVIRT_VQ_F_INDIRECT, 0xca11);
}

// Random differential of the general burst (pop after pop) on callback rings.
Test(vq_burst, random_callback)
{
	random_diff(IOVIRT_VQ_F_INDIRECT, IOVIRT_VQ_F_INDIRECT, 0x9e4e);
}

// push_used_batch on a directly accessed used ring (its inline path) against the callback
// path: random batches (ids at or above num now and then, more than in flight, more than num,
// empty, wrapping in the ring) give the same return, used ring bytes and used idx, and a
// refusal writes nothing.
Test(vq_burst, batch_direct_parity)
{
	struct q qd, qc;
	q_init_num(&qd, IOVIRT_VQ_F_DIRECT, 8);
	q_init_num(&qc, 0, 8);
	uint64_t rng = 0xba7c;
	for (uint32_t round = 0; round < 3000; round++) {
		/* the driver posts a few, the device takes them without reading */
		uint32_t post = (uint32_t)(th_rand(&rng) % 4);
		for (uint32_t k = 0; k < post; k++) {
			offer(&qd, 0);
			offer(&qc, 0);
			int a = iovirt_vq_skip(qd.vq), b = iovirt_vq_skip(qc.vq);
			cr_assert_eq(a, b);
		}
		struct iovirt_vq_used e[10];
		uint32_t n = (uint32_t)(th_rand(&rng) % 11);
		for (uint32_t k = 0; k < n; k++)
			e[k] = (struct iovirt_vq_used){
				.id = (uint32_t)(th_rand(&rng) % 40 ? th_rand(&rng) % 8
								: 8 + th_rand(&rng) % (th_rand(&rng) % 2 ? 16 : 100000)),
				.len = (uint32_t)th_rand(&rng),
			};
		uint8_t before[4 + 8 * 8];
		memcpy(before, gmem(&qd, USED), sizeof(before));
		int a = iovirt_vq_push_used_batch(qd.vq, e, n);
		int b = iovirt_vq_push_used_batch(qc.vq, e, n);
		cr_assert_eq(a, b, "round %u: %s %s", round, iovirt_err_name(a), iovirt_err_name(b));
		if (a)
			cr_assert_eq(memcmp(before, gmem(&qd, USED), sizeof(before)), 0);
		cr_assert_eq(memcmp(gmem(&qd, USED), gmem(&qc, USED), 4 + 8 * 8), 0, "round %u",
			     round);
		cr_assert_eq(iovirt_vq_used_idx(qd.vq), iovirt_vq_used_idx(qc.vq));
	}
	cr_assert_eq(iovirt_vq_push_used_batch(qd.vq, NULL, 1), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_vq_push_used_batch(qd.vq, NULL, 0), 0);
	q_fini(&qd);
	q_fini(&qc);
}
