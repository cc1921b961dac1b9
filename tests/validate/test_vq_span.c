/* SPDX-License-Identifier: MIT */
/*
 * Rings and indirect tables that run across adjacent regions, against the
 * driver sides of vdrv.h (split) and pdrv.h (packed).
 *
 * Guest memory is one memfd. The driver writes it through one mapping
 * (t.mem); each region of the map has its own view of its pages, between two
 * inaccessible pages, as its host address and as its own range of the POSIX
 * adapter's guest memory. So a direct access through one region's address
 * past its end faults, and a guest_read or guest_write that crosses a region
 * boundary fails (the adapter backs one access by one range): every access
 * the library makes is per region.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>

/* Every ring and one table in four run across a region boundary (the
 * boundaries are G(40), G(41), G(42), G(43)): descriptors 0-3 | 4-7, avail
 * header and slots 0-1 | slots 2-7 and used_event, used element 4 over
 * G(42), split table of head 0 (packed: ID 0) over G(43). */
#define DESC (G(40) - 64)
#define AVAIL (G(41) - 8)
#define USED (G(42) - 40)
#define IND (G(43) - 16)

#include "iovirt/pagetable.h"
#include "pdrv.h"
#include "vdrv.h"

static const uint64_t sp_cut[] = { G(0), G(40), G(41), G(42), G(43), G(48) };
#define SP_REGIONS (sizeof(sp_cut) / sizeof(sp_cut[0]) - 1)

struct sp {
	struct q q;
	int fd;
	uint8_t *view[SP_REGIONS];
};

/* The map of sp_cut's RAM regions, each with its own guarded view. */
static void sp_map(struct sp *s)
{
	struct vt *t = &s->q.t;
	t->p = th_posix();
	t->ops = iovirt_posix_ops();
	s->fd = memfd_create("iovirt-span", 0);
	cr_assert_geq(s->fd, 0);
	cr_assert_eq(ftruncate(s->fd, VT_BYTES), 0);
	t->mem = mmap(NULL, VT_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	cr_assert_neq(t->mem, MAP_FAILED);
	struct iovirt_gmap_params gp = { sizeof(gp), VT_GUEST, 0 };
	cr_assert_eq(iovirt_gmap_create(t->ops, t->p, &gp, &t->map), 0);
	for (size_t k = 0; k < SP_REGIONS; k++) {
		uint64_t len = sp_cut[k + 1] - sp_cut[k];
		uint8_t *v = mmap(NULL, len + 2 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		cr_assert_neq(v, MAP_FAILED);
		cr_assert_neq(mmap(v + 4096, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, s->fd,
				   (off_t)(sp_cut[k] - VT_GPA)),
			      MAP_FAILED);
		s->view[k] = v;
		struct iovirt_region r = { .size = sizeof(r), .gpa = sp_cut[k], .length = len,
					   .kind = IOVIRT_REGION_RAM, .access = RW,
					   .owner = VT_GUEST, .hva = v + 4096 };
		cr_assert_eq(iovirt_gmap_add(t->map, &r), 0);
		cr_assert_eq(iovirt_posix_guest_add(t->p, VT_GUEST, sp_cut[k], v + 4096, len), 0);
	}
}

static int sp_create(struct sp *s, uint32_t flags, uint32_t num, uint32_t pol_flags)
{
	struct iovirt_sg_policy pol = { .size = sizeof(pol), .flags = pol_flags };
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = num,
				      .flags = flags, .desc_gpa = DESC, .avail_gpa = AVAIL,
				      .used_gpa = USED, .map = s->q.t.map, .pol = &pol };
	s->q.num = num;
	s->q.drv_idx = 0;
	s->q.vq = NULL;
	return iovirt_vq_create(s->q.t.ops, s->q.t.p, &p, &s->q.vq);
}

static void sp_init(struct sp *s, uint32_t flags)
{
	sp_map(s);
	int r = sp_create(s, flags, NUM, 0);
	cr_assert_eq(r, 0, "create: %s", iovirt_err_name(r));
}

static void sp_fini(struct sp *s)
{
	struct vt *t = &s->q.t;
	iovirt_vq_destroy(s->q.vq);
	for (size_t k = 0; k < SP_REGIONS; k++)
		cr_assert_eq(iovirt_gmap_in_use(t->map, sp_cut[k]), 0, "region %zu still held", k);
	cr_assert_eq(iovirt_gmap_destroy(t->map), 0);
	th_posix_done(t->p);
	for (size_t k = 0; k < SP_REGIONS; k++)
		munmap(s->view[k], sp_cut[k + 1] - sp_cut[k] + 2 * 4096);
	munmap(t->mem, VT_BYTES);
	close(s->fd);
}

/* ---- split round trips ---- */

/* One round: k chains posted (some through the table over G(43)), the kick
 * decided by the spec's rule, each popped and checked, completed as a batch
 * (or one at a time), the signal decided, the completions taken back. */
static void split_round(struct q *q, struct vdrv *d, uint32_t flags, bool indirect,
			uint64_t *rng, bool *first, uint16_t *old_used)
{
	uint32_t k = 1 + (uint32_t)(th_rand(rng) % (q->num / 2));
	bool enabled = th_rand(rng) & 1;
	int n = enabled ? iovirt_vq_notify_enable(q->vq) : iovirt_vq_notify_disable(q->vq);
	cr_assert_eq(n, 0);
	uint16_t heads[8];
	uint32_t body[8];
	for (uint32_t j = 0; j < k; j++) {
		heads[j] = (uint16_t)(2 * (d->posted % (q->num / 2)));
		body[j] = 1 + (uint32_t)(th_rand(rng) % 128);
		vd_post(d, heads[j], indirect, body[j]);
	}
	bool kick = vd_should_kick(d);
	if (enabled)
		cr_assert(kick, "no kick for a sleeping device");
	else if (!(flags & IOVIRT_VQ_F_EVENT_IDX))
		cr_assert(!kick, "kick while the device polls");
	struct iovirt_vq_used done[8];
	for (uint32_t j = 0; j < k; j++) {
		struct iovirt_host_seg out[16];
		struct iovirt_dma_result res;
		cr_assert_eq(pop(q, out, &res), 2, "pop %u: %s", j, iovirt_err_name(res.err));
		cr_assert_eq(res.head, heads[j]);
		cr_assert_eq(out[0].gpa, vd_hdr(heads[j]));
		cr_assert_eq(out[0].len, 64);
		cr_assert_eq(out[1].len, body[j]);
		cr_assert_eq(out[1].dir, IOVIRT_DEV_WRITE);
		done[j] = (struct iovirt_vq_used){ heads[j], body[j] };
	}
	struct iovirt_host_seg none[16];
	cr_assert_eq(pop(q, none, NULL), 0);
	uint16_t want = (uint16_t)(d->last_used + th_rand(rng) % (2 * k + 1));
	vd_st16(q, USED_EVENT(q), want);
	uint16_t aflags = th_rand(rng) & 1 ? IOVIRT_VRING_AVAIL_F_NO_INTERRUPT : 0;
	vd_st16(q, AVAIL, aflags);
	if (th_rand(rng) & 1) {
		cr_assert_eq(iovirt_vq_push_used_batch(q->vq, done, k), 0);
	} else {
		for (uint32_t j = 0; j < k; j++)
			cr_assert_eq(iovirt_vq_push_used(q->vq, done[j].id, done[j].len), 0);
	}
	uint16_t now = iovirt_vq_used_idx(q->vq);
	int sig = iovirt_vq_need_signal(q->vq);
	bool expect = (flags & IOVIRT_VQ_F_EVENT_IDX) ? (*first || vd_need_event(want, now, *old_used))
						      : !(aflags & IOVIRT_VRING_AVAIL_F_NO_INTERRUPT);
	cr_assert_eq(sig, expect, "signal %d at used %u", sig, now);
	*first = false;
	*old_used = now;
	for (uint32_t j = 0; j < k; j++) {
		uint32_t id, len;
		cr_assert_eq(vd_get_used(d, &id, &len), 1);
		cr_assert_eq(id, heads[j]);
		cr_assert_eq(len, body[j]);
	}
	uint32_t id, len;
	cr_assert_eq(vd_get_used(d, &id, &len), 0);
}

/* Rounds from index 65,000 on: the 16-bit indices wrap around (about 3,750
 * chains), and each used slot, the one over G(42) too, is written many times. */
static void split_round_trip(uint32_t flags, bool indirect)
{
	struct sp s;
	sp_init(&s, flags);
	struct vdrv d;
	vd_init(&d, &s.q, flags & IOVIRT_VQ_F_EVENT_IDX, 65000);
	uint64_t rng = 0x5ba7 + flags + indirect;
	bool first = true;
	uint16_t old_used = 65000;
	for (uint32_t r = 0; r < 1500; r++)
		split_round(&s.q, &d, flags, indirect, &rng, &first, &old_used);
	cr_assert_gt(d.posted, 65536u - 65000u, "the indices wrapped around");
	cr_assert_eq(iovirt_vq_last_avail(s.q.vq), d.avail_idx);
	cr_assert_eq(iovirt_vq_used_idx(s.q.vq), d.last_used);
	sp_fini(&s);
}

// Split round trips through the callbacks with every ring across two regions: each chain popped,
// completed and seen by the driver, kicks and signals by the spec's rule, indices wrapping around.
Test(vq_span, split_round_trip)
{
	split_round_trip(0, false);
}

// The same with the event index (used_event and avail_event each in a ring's second region) and
// indirect tables, one in four across G(43).
Test(vq_span, split_round_trip_event_idx_indirect)
{
	split_round_trip(IOVIRT_VQ_F_EVENT_IDX | IOVIRT_VQ_F_INDIRECT, true);
}

// With direct access: the rings across regions keep the callbacks, tables across G(43) are copied
// through each region's own host address (one pointer for both would fault on the guard page).
Test(vq_span, split_round_trip_direct_indirect)
{
	split_round_trip(IOVIRT_VQ_F_DIRECT | IOVIRT_VQ_F_EVENT_IDX | IOVIRT_VQ_F_INDIRECT, true);
}

/* ---- packed round trips ---- */

static void packed_round(struct q *q, struct pdrv *d, bool indirect, uint64_t *rng,
			 uint32_t *next_id)
{
	uint32_t per = indirect ? 1 : 2;
	uint32_t k = 1 + (uint32_t)(th_rand(rng) % (q->num / per));
	uint16_t ids[8];
	uint32_t body[8];
	for (uint32_t j = 0; j < k; j++) {
		ids[j] = (uint16_t)(*next_id % q->num);
		(*next_id)++;
		body[j] = 1 + (uint32_t)(th_rand(rng) % 128);
		pd_post(d, ids[j], indirect, body[j]);
	}
	struct iovirt_host_seg out[16];
	struct iovirt_dma_result res;
	for (uint32_t j = 0; j < k; j++) {
		cr_assert_eq(pop(q, out, &res), 2, "pop %u: %s", j, iovirt_err_name(res.err));
		cr_assert_eq(res.head, ids[j]);
		cr_assert_eq(out[0].gpa, pd_hdr(ids[j]));
		cr_assert_eq(out[1].len, body[j]);
		cr_assert_eq(out[1].dir, IOVIRT_DEV_WRITE);
	}
	cr_assert_eq(pop(q, out, &res), 0);
	struct iovirt_vq_used u[8];
	for (uint32_t j = 0; j < k; j++) /* reversed: out of order */
		u[j] = (struct iovirt_vq_used){ ids[k - 1 - j], body[k - 1 - j] };
	cr_assert_eq(iovirt_vq_push_used_batch(q->vq, u, k), 0);
	uint32_t id, len;
	for (uint32_t j = 0; j < k; j++) {
		cr_assert_eq(pd_get_used(d, false, &id, &len), 1, "used %u", j);
		cr_assert_eq(id, ids[k - 1 - j]);
		cr_assert_eq(len, body[k - 1 - j]);
	}
	cr_assert_eq(pd_get_used(d, false, &id, &len), 0);
	cr_assert_eq(iovirt_vq_used_idx(q->vq), pd_cursor(d->next_used, d->used_wrap));
}

/* Packed rounds: the wrap counters flip every 8 descriptors, so thousands of times. */
static void packed_round_trip(uint32_t flags, bool indirect)
{
	struct sp s;
	sp_init(&s, flags | IOVIRT_VQ_F_PACKED);
	struct pdrv d;
	pd_init(&d, &s.q);
	uint64_t rng = 0xfa11 + flags + indirect;
	uint32_t next_id = 0;
	for (uint32_t r = 0; r < 3000; r++)
		packed_round(&s.q, &d, indirect, &rng, &next_id);
	cr_assert_eq(iovirt_vq_last_avail(s.q.vq), pd_cursor(d.next_avail, d.avail_wrap));
	sp_fini(&s);
}

// Packed round trips with the descriptor ring across two regions, through the callbacks.
Test(vq_span, packed_round_trip)
{
	packed_round_trip(0, false);
}

// Packed, direct access, indirect tables (ID 0's across G(43), copied per region).
Test(vq_span, packed_round_trip_direct_indirect)
{
	packed_round_trip(IOVIRT_VQ_F_DIRECT | IOVIRT_VQ_F_INDIRECT, true);
}

/* ---- holds ---- */

// Each ring holds every region it lies in, once per ring piece, until destroy: a region under a
// ring piece cannot be removed (IOVIRT_EBUSY); destroy drops every hold (sp_fini checks).
Test(vq_span, holds_per_region)
{
	struct sp s;
	sp_init(&s, 0);
	const int64_t want[SP_REGIONS] = { 1, 2, 2, 1, 0 }; /* desc | desc avail | avail used | used */
	for (size_t k = 0; k < SP_REGIONS; k++)
		cr_assert_eq(iovirt_gmap_in_use(s.q.t.map, sp_cut[k]), want[k], "region %zu", k);
	cr_assert_eq(iovirt_gmap_remove(s.q.t.map, G(42)), IOVIRT_EBUSY);
	cr_assert_eq(iovirt_gmap_remove(s.q.t.map, G(40)), IOVIRT_EBUSY);
	sp_fini(&s);
}

/* ---- refusals, piece by piece ---- */

/* RAM G(0..40); at G(40) one page of kind/access/owner (none when kind is ~0u). */
static void edge_map(struct vt *t, uint32_t kind, uint32_t access, uint32_t owner)
{
	vt_init(t);
	vt_add(t, G(0), 40 * 4096, IOVIRT_REGION_RAM, RW);
	if (kind == ~0u)
		return;
	struct iovirt_region r = vt_region(t, G(40), 4096, kind, access);
	r.owner = owner;
	cr_assert_eq(iovirt_gmap_add(t->map, &r), 0);
}

struct edge {
	const char *what;
	uint32_t kind, access, owner;
	int read_err, write_err; /* a ring the device reads, one it writes */
};

static const struct edge edges[] = {
	{ "RAM", IOVIRT_REGION_RAM, RW, VT_GUEST, 0, 0 },
	{ "ROM", IOVIRT_REGION_ROM, DR, VT_GUEST, 0, IOVIRT_EREADONLY },
	{ "read-only RAM", IOVIRT_REGION_RAM, DR, VT_GUEST, 0, IOVIRT_EREADONLY },
	{ "write-only RAM", IOVIRT_REGION_RAM, DW, VT_GUEST, IOVIRT_EPERM, 0 },
	{ "RESERVED", IOVIRT_REGION_RESERVED, RW, VT_GUEST, IOVIRT_ERESERVED, IOVIRT_ERESERVED },
	{ "MMIO", IOVIRT_REGION_MMIO, RW, VT_GUEST, IOVIRT_EMMIO, IOVIRT_EMMIO },
	{ "SHARED", IOVIRT_REGION_SHARED, RW, VT_GUEST + 1, IOVIRT_EP2P, IOVIRT_EP2P },
	{ "another guest's RAM", IOVIRT_REGION_RAM, RW, VT_GUEST + 1, IOVIRT_EFOREIGN,
	  IOVIRT_EFOREIGN },
	{ "nothing", ~0u, 0, 0, IOVIRT_ENOREGION, IOVIRT_ENOREGION },
};
#define NEDGES (sizeof(edges) / sizeof(edges[0]))

/* Creates a queue with ring k (0 desc, 1 avail, 2 used) at G(40) - 8 (desc:
 * - 16), the others at G(1), G(2), G(3); the result, no hold left on failure. */
static int edge_create(struct vt *t, uint32_t flags, int k, uint32_t pol_flags)
{
	uint64_t at[3] = { G(1), G(2), G(3) };
	at[k] = G(40) - (k == 0 ? 16 : 8);
	struct iovirt_sg_policy pol = { .size = sizeof(pol), .flags = pol_flags };
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = NUM,
				      .flags = flags, .desc_gpa = at[0], .avail_gpa = at[1],
				      .used_gpa = at[2], .map = t->map, .pol = &pol };
	struct iovirt_vq *vq = NULL;
	int r = iovirt_vq_create(t->ops, t->p, &p, &vq);
	if (r) {
		cr_assert_null(vq);
	} else {
		cr_assert_eq(iovirt_gmap_in_use(t->map, G(40)), 1, "the second piece held");
		iovirt_vq_destroy(vq);
	}
	cr_assert_eq(iovirt_gmap_in_use(t->map, G(0)), 0);
	cr_assert_leq(iovirt_gmap_in_use(t->map, G(40)), 0, "G(40) still held"); /* < 0: no region */
	return r;
}

// A ring across two regions whose second piece fails is refused with that piece's own code, for
// every ring (split table, available and used ring, packed descriptor ring), nothing held after;
// with IOVIRT_POLICY_STRICT_REGIONS every crossing ring is IOVIRT_ECROSS, as before.
Test(vq_span, ring_piece_refusals)
{
	for (size_t i = 0; i < NEDGES; i++) {
		const struct edge *c = &edges[i];
		struct vt t;
		edge_map(&t, c->kind, c->access, c->owner);
		for (int k = 0; k < 3; k++) {
			int want = k == 2 ? c->write_err : c->read_err;
			int r = edge_create(&t, 0, k, 0);
			cr_assert_eq(r, want, "%s, ring %d: %s", c->what, k, iovirt_err_name(r));
			r = edge_create(&t, 0, k, IOVIRT_POLICY_STRICT_REGIONS);
			cr_assert_eq(r, c->kind == ~0u ? IOVIRT_ENOREGION : IOVIRT_ECROSS,
				     "%s, ring %d, strict: %s", c->what, k, iovirt_err_name(r));
		}
		/* a packed descriptor ring is read and written */
		int want = c->read_err ? c->read_err : c->write_err;
		int r = edge_create(&t, IOVIRT_VQ_F_PACKED, 0, 0);
		cr_assert_eq(r, want, "%s, packed ring: %s", c->what, iovirt_err_name(r));
		vt_fini(&t);
	}
}

// The policy's ALLOW flags apply to each piece of a ring as to a ring in one region.
Test(vq_span, ring_piece_allow_flags)
{
	struct vt t;
	edge_map(&t, IOVIRT_REGION_SHARED, RW, VT_GUEST + 1);
	cr_assert_eq(edge_create(&t, 0, 2, IOVIRT_POLICY_ALLOW_P2P), 0);
	vt_fini(&t);
	edge_map(&t, IOVIRT_REGION_MMIO, RW, VT_GUEST);
	cr_assert_eq(edge_create(&t, 0, 1, IOVIRT_POLICY_ALLOW_MMIO), 0);
	vt_fini(&t);
}

// A ring over more regions than a queue holds per ring (4) is IOVIRT_ETOOMANY; over 4 it is taken.
Test(vq_span, ring_too_many_regions)
{
	struct vt t;
	vt_init(&t);
	vt_add(&t, G(0), 40 * 4096, IOVIRT_REGION_RAM, RW);
	for (uint32_t i = 40; i < 44; i++)
		vt_add(&t, G(i), 4096, IOVIRT_REGION_RAM, RW);
	vt_add(&t, G(44), 4 * 4096, IOVIRT_REGION_RAM, RW);
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = 512,
				      .desc_gpa = G(40) - 64, .avail_gpa = G(1),
				      .used_gpa = G(3), .map = t.map };
	struct iovirt_vq *vq = NULL;
	/* 8 KiB from G(40) - 64: G(0..40), G(40), G(41), G(42) */
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &vq), 0);
	iovirt_vq_destroy(vq);
	vq = NULL;
	p.num = 1024; /* 16 KiB: five regions */
	cr_assert_eq(iovirt_vq_create(t.ops, t.p, &p, &vq), IOVIRT_ETOOMANY);
	cr_assert_null(vq);
	for (uint32_t i = 0; i <= 44; i += i < 40 ? 40 : 1)
		cr_assert_eq(iovirt_gmap_in_use(t.map, G(i)), 0, "G(%u) still held", i);
	vt_fini(&t);
}

/* A queue whose table (at G(40) - 16, 32 bytes) runs into edge c; walks head 0. */
static int edge_table_walk(struct vt *t, uint32_t flags, uint32_t pol_flags,
			   struct iovirt_dma_result *res, uint64_t *reads)
{
	struct q q = { .t = *t, .num = NUM };
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = NUM,
				      .flags = flags | IOVIRT_VQ_F_INDIRECT, .desc_gpa = G(1),
				      .avail_gpa = G(2), .used_gpa = G(3), .map = t->map };
	cr_assert_eq(iovirt_vq_create(t->ops, t->p, &p, &q.vq), 0);
	put_desc_at(&q, G(1), 0, G(40) - 16, 32, F_IND, 0);
	put_desc_at(&q, G(40) - 16, 0, G(5), 64, F_NEXT, 1);
	put_desc_at(&q, G(40) - 16, 1, G(6), 64, F_WRITE, 0);
	struct iovirt_sg_policy pol = { .size = sizeof(pol), .flags = pol_flags };
	struct iovirt_host_seg out[8];
	uint64_t before = iovirt_posix_count(t->p, IOVIRT_CB_GUEST_READ);
	int r = iovirt_vq_walk(q.vq, t->map, &pol, 0, out, 8, res);
	*reads = iovirt_posix_count(t->p, IOVIRT_CB_GUEST_READ) - before;
	iovirt_vq_destroy(q.vq);
	return r;
}

// An indirect table across two regions whose second piece fails is refused with that piece's code
// and address (where TABLE, naming the descriptor), before any byte of it is read; MMIO even when
// the policy allows MMIO buffers; with the strict policy the crossing is IOVIRT_ECROSS.
Test(vq_span, table_piece_refusals)
{
	for (size_t i = 0; i < NEDGES; i++) {
		const struct edge *c = &edges[i];
		struct vt t;
		edge_map(&t, c->kind, c->access, c->owner);
		struct iovirt_dma_result res;
		uint64_t reads;
		for (int direct = 0; direct < 2; direct++) {
			uint32_t f = direct ? IOVIRT_VQ_F_DIRECT : 0;
			int r = edge_table_walk(&t, f, IOVIRT_POLICY_ALLOW_MMIO, &res, &reads);
			if (!c->read_err) {
				cr_assert_eq(r, 2, "%s: %s", c->what, iovirt_err_name(r));
				cr_assert_eq(reads, direct ? 0 : 3, "%s: descriptor, then two pieces", c->what);
			} else {
				cr_assert_eq(r, c->read_err, "%s: %s", c->what, iovirt_err_name(r));
				cr_assert_eq(res.gpa, G(40), "%s: the piece's address", c->what);
				cr_assert_eq(res.where, IOVIRT_WHERE_TABLE, "%s", c->what);
				cr_assert_eq(res.desc, 0);
				cr_assert_eq(reads, direct ? 0 : 1, "%s: the table was read", c->what);
			}
			r = edge_table_walk(&t, f, IOVIRT_POLICY_STRICT_REGIONS, &res, &reads);
			cr_assert_eq(r, c->kind == ~0u ? IOVIRT_ENOREGION : IOVIRT_ECROSS, "%s, strict: %s",
				     c->what, iovirt_err_name(r));
			cr_assert_eq(res.gpa, G(40));
			cr_assert_eq(reads, direct ? 0 : 1);
		}
		vt_fini(&t);
	}
}

/* ---- read once ---- */

/* After each guest_read inside [lo, hi): the bytes just read are rewritten
 * (0xa5), and their count is added up; a read crossing [lo, hi)'s edges or
 * reading a byte twice shows in the count. */
struct once {
	struct q *q;
	uint64_t lo, hi, bytes;
	uint32_t reads;
	uint64_t first_gpa[4], first_len[4];
};

static void once_hook(void *arg, uint32_t guest, uint64_t gpa, size_t len)
{
	struct once *o = arg;
	(void)guest;
	if (gpa + len <= o->lo || gpa >= o->hi)
		return;
	if (o->reads < 4) {
		o->first_gpa[o->reads] = gpa;
		o->first_len[o->reads] = len;
	}
	o->reads++;
	o->bytes += len;
	memset(gmem(o->q, gpa), 0xa5, len);
}

// Split: an indirect table across G(43) is read piece by piece, each byte once, and the guest
// rewriting each piece after it was read changes nothing in the chain taken.
Test(vq_span, split_table_read_once)
{
	struct sp s;
	sp_init(&s, IOVIRT_VQ_F_INDIRECT);
	struct vdrv d;
	vd_init(&d, &s.q, false, 0);
	vd_post(&d, 0, true, 100); /* head 0: the table at G(43) - 16 */
	struct once o = { .q = &s.q, .lo = IND, .hi = IND + 32 };
	iovirt_posix_set_read_hook(s.q.t.p, once_hook, &o);
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	int r = pop(&s.q, out, &res);
	iovirt_posix_set_read_hook(s.q.t.p, NULL, NULL);
	cr_assert_eq(r, 2, "%s", iovirt_err_name(res.err));
	cr_assert_eq(o.reads, 2, "one read per piece");
	cr_assert_eq(o.bytes, 32, "each byte once");
	cr_assert_eq(o.first_gpa[0], G(43) - 16);
	cr_assert_eq(o.first_len[0], 16);
	cr_assert_eq(o.first_gpa[1], G(43));
	cr_assert_eq(o.first_len[1], 16);
	cr_assert_eq(out[0].gpa, vd_hdr(0));
	cr_assert_eq(out[0].len, 64);
	cr_assert_eq(out[1].gpa, vd_hdr(0) + 64);
	cr_assert_eq(out[1].len, 100);
	sp_fini(&s);
}

// Split: descriptors on both sides of G(40) are each read once; the guest rewriting each after
// its read changes nothing.
Test(vq_span, split_ring_read_once)
{
	struct sp s;
	sp_init(&s, 0);
	struct vdrv d;
	vd_init(&d, &s.q, false, 0);
	/* head 3 -> 4: a chain whose descriptors lie on both sides of G(40) */
	put_desc(&s.q, 3, G(1), 64, F_NEXT, 4);
	put_desc(&s.q, 4, G(2), 200, F_WRITE, 0);
	offer(&s.q, 3);
	struct once o = { .q = &s.q, .lo = DESC, .hi = DESC + 16 * NUM };
	iovirt_posix_set_read_hook(s.q.t.p, once_hook, &o);
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	int r = pop(&s.q, out, &res);
	iovirt_posix_set_read_hook(s.q.t.p, NULL, NULL);
	cr_assert_eq(r, 2, "%s", iovirt_err_name(res.err));
	cr_assert_eq(o.reads, 2);
	cr_assert_eq(o.bytes, 32);
	cr_assert_eq(out[0].gpa, G(1));
	cr_assert_eq(out[1].gpa, G(2));
	cr_assert_eq(out[1].len, 200);
	sp_fini(&s);
}

// Packed: the table of ID 0 across G(43) is read piece by piece, each byte once; rewriting each
// piece after its read changes nothing. Its ring descriptor (flags, then body) is read once too.
Test(vq_span, packed_table_read_once)
{
	for (int direct = 0; direct < 2; direct++) {
		struct sp s;
		sp_init(&s, IOVIRT_VQ_F_PACKED | IOVIRT_VQ_F_INDIRECT | (direct ? IOVIRT_VQ_F_DIRECT : 0));
		struct pdrv d;
		pd_init(&d, &s.q);
		pd_post(&d, 0, true, 300);
		struct once o = { .q = &s.q, .lo = IND, .hi = IND + 32 };
		struct once od = { .q = &s.q, .lo = DESC, .hi = DESC + 16 };
		iovirt_posix_set_read_hook(s.q.t.p, once_hook, direct ? (void *)&od : (void *)&o);
		struct iovirt_host_seg out[8];
		struct iovirt_dma_result res;
		int r = pop(&s.q, out, &res);
		iovirt_posix_set_read_hook(s.q.t.p, NULL, NULL);
		cr_assert_eq(r, 2, "%s", iovirt_err_name(res.err));
		if (!direct) {
			cr_assert_eq(o.reads, 2, "one read per piece");
			cr_assert_eq(o.bytes, 32);
		} else {
			/* the ring across regions keeps the callbacks: flags, then the body */
			cr_assert_eq(od.reads, 2);
			cr_assert_eq(od.bytes, 16);
		}
		cr_assert_eq(res.head, 0);
		cr_assert_eq(out[0].gpa, pd_hdr(0));
		cr_assert_eq(out[1].len, 300);
		sp_fini(&s);
	}
}

/* ---- behind a guest IOMMU ---- */

#define ASID 5u

/* The rings' and tables' I/O virtual addresses equal their guest-physical
 * ones (an identity map of G(0..48)); pages from IOVA_X on map elsewhere. */
#define IOVA_X 0x40000000ull

static struct iovirt_iommu *sp_iommu(struct sp *s)
{
	struct iovirt_iommu *io;
	cr_assert_eq(iovirt_iommu_create(s->q.t.ops, s->q.t.p, NULL, &io), 0);
	cr_assert_eq(iovirt_pt_space_create(io, ASID, NULL), 0);
	cr_assert_eq(iovirt_pt_map(io, ASID, G(0), G(0), 48 * 4096,
				   IOVIRT_PROT_READ | IOVIRT_PROT_WRITE), 0);
	return io;
}

static int sp_create_iova(struct sp *s, struct iovirt_iommu *io, uint32_t flags, uint64_t desc)
{
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = NUM,
				      .flags = flags | IOVIRT_VQ_F_ACCESS_PLATFORM, .desc_gpa = desc,
				      .avail_gpa = AVAIL, .used_gpa = USED, .map = s->q.t.map,
				      .iommu = io, .asid = ASID };
	s->q.num = NUM;
	s->q.drv_idx = 0;
	s->q.vq = NULL;
	return iovirt_vq_create(s->q.t.ops, s->q.t.p, &p, &s->q.vq);
}

// Behind an IOMMU, rings and tables whose IOVA pages translate to one guest-physical range across
// adjacent regions are taken as without one (round trips with wrap-around, holds per region, an
// invalidation re-holding them); IOVA pages translating to guest pages that do not continue stay
// IOVIRT_ECROSS (a ring is one guest-physical range).
Test(vq_span, iova_rings_across_regions)
{
	struct sp s;
	sp_map(&s);
	struct iovirt_iommu *io = sp_iommu(&s);
	uint32_t flags = IOVIRT_VQ_F_EVENT_IDX | IOVIRT_VQ_F_INDIRECT | IOVIRT_VQ_F_DIRECT;
	/* IOVA_X -> G(39), IOVA_X + 1 page -> G(41): not contiguous */
	cr_assert_eq(iovirt_pt_map(io, ASID, IOVA_X, G(39), 4096, IOVIRT_PROT_READ), 0);
	cr_assert_eq(iovirt_pt_map(io, ASID, IOVA_X + 4096, G(41), 4096, IOVIRT_PROT_READ), 0);
	cr_assert_eq(sp_create_iova(&s, io, flags, IOVA_X + 4096 - 64), IOVIRT_ECROSS);
	cr_assert_null(s.q.vq);
	cr_assert_eq(sp_create_iova(&s, io, flags, DESC), 0);
	const int64_t want[SP_REGIONS] = { 1, 2, 2, 1, 0 };
	for (size_t k = 0; k < SP_REGIONS; k++)
		cr_assert_eq(iovirt_gmap_in_use(s.q.t.map, sp_cut[k]), want[k], "region %zu", k);
	struct vdrv d;
	vd_init(&d, &s.q, true, 65500);
	uint64_t rng = 0x10a;
	bool first = true;
	uint16_t old_used = 65500;
	for (uint32_t r = 0; r < 200; r++) {
		split_round(&s.q, &d, flags, true, &rng, &first, &old_used);
		if (r == 100) /* an invalidation touching the used ring: translated and held again */
			cr_assert_eq(iovirt_vq_iotlb_inval(s.q.vq, G(42), 4096), 0);
	}
	cr_assert_gt(d.posted, 65536u - 65500u);
	for (size_t k = 0; k < SP_REGIONS; k++)
		cr_assert_eq(iovirt_gmap_in_use(s.q.t.map, sp_cut[k]), want[k], "region %zu", k);
	/* a table whose IOVA pages do not continue guest-physically */
	put_desc_at(&s.q, G(41) - 16, 0, G(5), 64, 0, 0);
	put_desc_at(&s.q, G(41), 0, G(6), 64, 0, 0);
	put_desc(&s.q, 0, IOVA_X + 4096 - 16, 32, F_IND, 0);
	vd_st16(&s.q, AVAIL + 4 + 2 * (d.avail_idx % NUM), 0);
	vd_st16(&s.q, AVAIL + 2, ++d.avail_idx);
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	cr_assert_eq(pop(&s.q, out, &res), IOVIRT_ECROSS);
	cr_assert_eq(res.where, IOVIRT_WHERE_TABLE);
	iovirt_vq_destroy(s.q.vq);
	s.q.vq = NULL;
	iovirt_iommu_destroy(io);
	sp_fini(&s);
}

/* ---- direct access ---- */

// With direct access a ring in one region is still accessed through its host address while a ring
// across regions uses the callbacks: here only the used ring spans, so a pop reads nothing through
// guest_read, and completions write through guest_write, the element over G(40) as two fields.
Test(vq_span, direct_only_spanning_ring_uses_callbacks)
{
	struct q q;
	vt_init(&q.t);
	vt_add(&q.t, G(0), 40 * 4096, IOVIRT_REGION_RAM, RW);
	vt_add(&q.t, G(40), 8 * 4096, IOVIRT_REGION_RAM, RW);
	const uint64_t used = G(40) - 40; /* element 4 at G(40) - 4 */
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = VT_GUEST, .num = NUM,
				      .flags = IOVIRT_VQ_F_DIRECT, .desc_gpa = G(1),
				      .avail_gpa = G(2), .used_gpa = used, .map = q.t.map };
	cr_assert_eq(iovirt_vq_create(q.t.ops, q.t.p, &p, &q.vq), 0);
	q.num = NUM;
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	cr_assert_eq(iovirt_posix_log_enable(q.t.p, 64), 0);
	for (uint16_t i = 0; i < 6; i++) {
		put_desc_at(&q, G(1), i, G(5) + i * 256ull, 64, F_WRITE, 0);
		memcpy(gmem(&q, G(2)) + 4 + 2 * i, &i, 2);
		uint16_t idx = (uint16_t)(i + 1);
		memcpy(gmem(&q, G(2)) + 2, &idx, 2);
		uint64_t reads = iovirt_posix_count(q.t.p, IOVIRT_CB_GUEST_READ);
		cr_assert_eq(pop(&q, out, &res), 1, "%s", iovirt_err_name(res.err));
		cr_assert_eq(iovirt_posix_count(q.t.p, IOVIRT_CB_GUEST_READ), reads, "direct reads");
		iovirt_posix_log_clear(q.t.p);
		cr_assert_eq(iovirt_vq_push_used(q.vq, i, 10u + i), 0);
		struct iovirt_posix_event ev[8];
		size_t n = iovirt_posix_log_read(q.t.p, ev, 8);
		uint64_t elem = used + 4 + 8ull * i;
		if (i == 4) {
			cr_assert_eq(n, 3, "element over G(40) as two fields, then idx");
			cr_assert_eq(ev[0].a, elem);
			cr_assert_eq(ev[0].b, 4);
			cr_assert_eq(ev[1].a, G(40));
			cr_assert_eq(ev[1].b, 4);
		} else {
			cr_assert_eq(n, 2, "element, then idx");
			cr_assert_eq(ev[0].a, elem);
			cr_assert_eq(ev[0].b, 8);
		}
		uint32_t id, len;
		memcpy(&id, gmem(&q, elem), 4);
		memcpy(&len, gmem(&q, elem + 4), 4);
		cr_assert_eq(id, i);
		cr_assert_eq(len, 10u + i);
		uint16_t uidx;
		memcpy(&uidx, gmem(&q, used + 2), 2);
		cr_assert_eq(uidx, i + 1);
	}
	q_fini(&q);
}

// Create with rings across regions is all or nothing when an allocation fails: IOVIRT_ENOMEM and
// no region held, for every allocation until one create succeeds.
Test(vq_span, create_allocation_failures)
{
	struct sp s;
	sp_map(&s);
	int r = IOVIRT_ENOMEM;
	for (uint64_t n = 1; r == IOVIRT_ENOMEM; n++) {
		iovirt_posix_fail_alloc_at(s.q.t.p, n);
		r = sp_create(&s, IOVIRT_VQ_F_INDIRECT, NUM, 0);
		bool fired = iovirt_posix_fail_fired(s.q.t.p);
		iovirt_posix_fail_alloc_at(s.q.t.p, 0);
		if (r) {
			cr_assert(fired && r == IOVIRT_ENOMEM, "allocation %llu: %s", (unsigned long long)n,
				  iovirt_err_name(r));
			cr_assert_null(s.q.vq);
			for (size_t k = 0; k < SP_REGIONS; k++)
				cr_assert_eq(iovirt_gmap_in_use(s.q.t.map, sp_cut[k]), 0, "held after ENOMEM");
		}
	}
	sp_fini(&s);
}
