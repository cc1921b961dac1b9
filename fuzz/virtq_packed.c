/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a packed virtqueue's device side on guest memory the
 * input writes, against a slow walker written out once more below (plain
 * loops over a private copy, the rules of the specification) and the segment
 * model of tests/validate/model.h.
 *
 * Input: data[0] ring size (1 + data[0] % 16), bit 4 (of data[0] / 16) indirect, bit 5
 * event index, bit 6 direct access, bit 7 in-order; data[1] operations count; then
 * the operations, 2 bytes each {op, arg}: pop, skip, complete (the arg-th chain
 * in flight, or an ID not in flight), complete in order, need_signal, notify
 * on/off, the driver reposting a descriptor (any position, ID and NEXT); then guest memory (ring at 0, tables and buffers after).
 * data[1] bit 5 picks the map of two adjacent regions (split at GPA + 0x1000)
 * and moves the ring to run across their boundary (the ring is then accessed
 * through the callbacks even with direct access, and tables there are read
 * piece by piece). Every pop's
 * outcome is compared with the slow walker; the target tracks the IDs in
 * flight and their descriptors, and checks the cursors, the refusals (nothing
 * changes, no guest byte written) and the used descriptors written.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/validate/model.h"
#include "iovirt/posix.h"

#include "check.h"
#include "guest.h"

#define GUEST 9u
#define GPA 0x10000ull
#define BYTES 0x4000u
#define RING GPA
#define DRV (GPA + 0x3000) /* driver event structure */
#define DEV (GPA + 0x3010) /* device event structure */

static uint8_t *mem, before[BYTES];
static struct iovirt_posix *px;
static struct iovirt_gmap *map, *map2, *cur;
static struct iovirt_region reg, reg2[2];
static struct m_map cur_mm;
static uint64_t ring_off; /* the ring at GPA + ring_off */

static uint64_t rd(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static const uint8_t *at(uint64_t gpa, uint64_t len)
{
	if (gpa < GPA || gpa - GPA > BYTES || len > BYTES - (gpa - GPA))
		return NULL;
	return before + (gpa - GPA);
}

struct model {
	uint32_t num, flags;
	uint16_t avail, used; /* cursors: position | wrap << 15 */
	uint16_t ndesc[16];   /* per ID in flight: its descriptors (0: free) */
	uint16_t order[64];
	uint32_t head, tail, inflight;
};

struct sw {
	struct m_map mm;
	struct m_pol pol;
	uint32_t n;
	uint64_t total;
	bool wrote;
	struct iovirt_seg segs[64];
};

static int sw_buf(struct sw *w, uint64_t addr, uint32_t len, uint16_t flags)
{
	bool wr = flags & 2;
	if (!wr && w->wrote)
		return IOVIRT_EORDER;
	w->wrote |= wr;
	struct iovirt_seg s = { addr, len, wr ? IOVIRT_DEV_WRITE : IOVIRT_DEV_READ, 0 };
	uint64_t fail;
	const struct iovirt_region *r;
	if (w->n >= w->pol.max_segs)
		return IOVIRT_ETOOMANY;
	int e = m_check_seg(&w->mm, &w->pol, &s, &fail, &r);
	if (e)
		return e;
	if (len > UINT32_MAX - w->total)
		return IOVIRT_ETOOBIG;
	w->total += len;
	w->segs[w->n++] = s;
	return 0;
}

/* The slow walk of the chain at the model's cursor: 0 (none), > 0 (its
 * descriptors, *id), or the refusal, from the copy in before[]. Without
 * check only the chain's shape and ID (skip). */
static int sw_walk(struct sw *w, const struct model *m, bool check, uint16_t *id)
{
	uint32_t pos = m->avail & 0x7fff;
	bool wrap = m->avail >> 15;
	for (uint32_t k = 0;; k++) {
		const uint8_t *d = before + ring_off + (pos * 16);
		uint16_t f = (uint16_t)rd(d + 14, 2);
		bool av = ((f >> 7) & 1) == wrap && ((f >> 15) & 1) != wrap;
		if (k && k == m->num)
			return IOVIRT_ECHAIN;
		if (!av)
			return k ? IOVIRT_EWRAP : 0;
		uint64_t addr = rd(d, 8);
		uint32_t len = (uint32_t)rd(d + 8, 4);
		*id = (uint16_t)rd(d + 12, 2);
		if ((f & 4) && !check) {
			if (f & 1)
				return IOVIRT_EINDIRECT;
		} else if (f & 4) {
			if (!(m->flags & IOVIRT_VQ_F_INDIRECT) || (f & 1) || !len || len % 16 ||
			    len / 16 > m->num)
				return IOVIRT_EINDIRECT;
			uint64_t fail;
			int e = m_check_table(&w->mm, 0, addr, len, &fail);
			if (e)
				return e;
			const uint8_t *t = at(addr, len);
			CHECK(t, "placed table outside the copy");
			for (uint32_t j = 0; j < len / 16; j++) {
				if (k + j + 1 > m->num)
					return IOVIRT_ECHAIN;
				uint16_t tf = (uint16_t)rd(t + j * 16 + 14, 2);
				if (tf & 4)
					return IOVIRT_ENESTED;
				if ((e = sw_buf(w, rd(t + j * 16, 8), (uint32_t)rd(t + j * 16 + 8, 4), tf)))
					return e;
			}
		} else if (check) {
			int e = sw_buf(w, addr, len, f);
			if (e)
				return e;
		}
		if (!(f & 1)) {
			if (*id >= m->num)
				return IOVIRT_EINDEX;
			if (m->ndesc[*id])
				return IOVIRT_EDUP;
			if (m->inflight + k + 1 > m->num)
				return IOVIRT_EOVERRUN;
			return (int)k + 1;
		}
		if (++pos == m->num) {
			pos = 0;
			wrap = !wrap;
		}
	}
}

static uint16_t adv(const struct model *m, uint16_t c, uint32_t k)
{
	uint32_t pos = (c & 0x7fff) + k;
	uint16_t w = c & 0x8000;
	if (pos >= m->num) {
		pos -= m->num;
		w ^= 0x8000;
	}
	return (uint16_t)(pos | w);
}

static void do_pop(struct iovirt_vq *vq, struct model *m, bool skip)
{
	memcpy(before, mem, BYTES);
	struct sw w = { cur_mm, { 64, 0, UINT32_MAX, 1, 1 }, 0, 0, false, { { 0 } } };
	uint16_t id = 0;
	int want = sw_walk(&w, m, !skip, &id);
	struct iovirt_host_seg out[64];
	struct iovirt_dma_result res;
	int got = skip ? iovirt_vq_skip(vq) : iovirt_vq_pop(vq, cur, NULL, out, 64, &res);
	if (skip) {
		/* skip does not check the buffers: the model walked the shape only */
		if (want > 0)
			CHECK(got == id, "skip: got %d, id %u", got, id);
		else
			CHECK(got == (want ? want : IOVIRT_ENOENT), "skip: got %d, model %d", got, want);
	} else if (want > 0) {
		CHECK(got > 0, "pop: got %d, model accepts", got);
		CHECK(res.head == id, "pop id %u vs %u", res.head, id);
		const char *why = m_verify(&w.mm, w.segs, w.n, out, (uint32_t)got);
		CHECK(!why, "pop: %s", why);
	} else {
		CHECK(got == want, "pop: got %d, model %d", got, want);
	}
	if (got >= 0 && (skip ? 1 : got > 0)) {
		uint16_t prev = m->avail;
		m->avail = (uint16_t)iovirt_vq_last_avail(vq);
		uint32_t k = ((m->avail & 0x7fff) + m->num - (prev & 0x7fff)) % m->num;
		if (k == 0)
			k = m->num;
		m->ndesc[id] = (uint16_t)k;
		m->inflight += k;
		m->order[m->tail++ % 64] = id;
		CHECK(m->avail == adv(m, prev, k), "cursor");
		CHECK(m->inflight <= m->num, "in flight %u > %u", m->inflight, m->num);
	} else {
		CHECK(iovirt_vq_last_avail(vq) == m->avail, "refusal moved the cursor");
		CHECK(!memcmp(before, mem, BYTES), "refusal wrote guest memory");
	}
}

static void do_push(struct iovirt_vq *vq, struct model *m, uint8_t arg, bool in_order)
{
	uint32_t live = m->tail - m->head;
	uint16_t id = (uint16_t)(arg % (m->num + 1));
	if (live && arg < 128) /* mostly an ID in flight */
		id = m->order[(m->head + (in_order ? 0 : arg % live)) % 64];
	uint16_t at_pos = m->used & 0x7fff;
	int got = in_order ? iovirt_vq_push_used_in_order(vq, id, arg, 1)
			   : iovirt_vq_push_used(vq, id, arg);
	bool ok = id < m->num && m->ndesc[id] &&
		  (!(m->flags & IOVIRT_VQ_F_IN_ORDER) || m->order[m->head % 64] == id);
	if (in_order && !(m->flags & IOVIRT_VQ_F_IN_ORDER)) {
		CHECK(got == IOVIRT_EINVAL, "in order without the feature: %d", got);
		return;
	}
	CHECK(ok ? got == 0 : got < 0, "push id %u: got %d", id, got);
	if (!ok)
		return;
	const uint8_t *d = mem + ring_off + at_pos * 16;
	uint16_t f = (uint16_t)rd(d + 14, 2);
	bool wrap = m->used >> 15;
	CHECK(rd(d + 12, 2) == id && rd(d + 8, 4) == arg, "used descriptor");
	CHECK(((f >> 7) & 1) == wrap && ((f >> 15) & 1) == wrap, "used flags %#x", f);
	m->used = adv(m, m->used, m->ndesc[id]);
	m->inflight -= m->ndesc[id];
	m->ndesc[id] = 0;
	/* the order queue: drop the ID (in order: it is the head) */
	uint32_t k = m->head;
	while (m->order[k % 64] != id)
		k++;
	for (; k > m->head; k--)
		m->order[k % 64] = m->order[(k - 1) % 64];
	m->head++;
	CHECK(iovirt_vq_used_idx(vq) == m->used, "used cursor");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	if (!mem) {
		/* the same memory also as two adjacent regions */
		static const uint64_t cut[] = { 0, 0x1000, BYTES };
		struct iovirt_region regs[3];
		mem = fuzz_guest_maps(GUEST, GPA, BYTES, cut, 2, &px, &map, &map2, regs);
		reg = regs[0];
		reg2[0] = regs[1];
		reg2[1] = regs[2];
	}
	struct model m = { .num = 1 + data[0] % 16, .avail = 0x8000, .used = 0x8000 };
	uint32_t sel = data[0] / 16;
	m.flags = IOVIRT_VQ_F_PACKED | (sel & 1 ? IOVIRT_VQ_F_INDIRECT : 0) |
		  (sel & 2 ? IOVIRT_VQ_F_EVENT_IDX : 0) | (sel & 4 ? IOVIRT_VQ_F_DIRECT : 0) |
		  (sel & 8 ? IOVIRT_VQ_F_IN_ORDER : 0);
	size_t nops = data[1] % 32, hdr = 2 + 2 * nops;
	if (size < hdr)
		return 0;
	bool span = data[1] & 32;
	cur = span ? map2 : map;
	cur_mm = span ? (struct m_map){ reg2, 2, GUEST } : (struct m_map){ &reg, 1, GUEST };
	/* across GPA + 0x1000: half the descriptors on each side */
	ring_off = span ? 0x1000 - 16 * ((m.num + 1) / 2) : 0;
	memset(mem, 0, BYTES);
	memcpy(mem, data + hdr, size - hdr < BYTES ? size - hdr : BYTES);
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = GUEST, .num = m.num,
				      .flags = m.flags, .max_indirect = m.num, .desc_gpa = RING + ring_off,
				      .avail_gpa = DRV, .used_gpa = DEV, .map = cur };
	struct iovirt_vq *vq;
	CHECK(!iovirt_vq_create(iovirt_posix_ops(), px, &p, &vq), "create");
	for (size_t i = 0; i < nops; i++) {
		uint8_t op = data[2 + 2 * i] % 7, arg = data[3 + 2 * i];
		switch (op) {
		case 0: do_pop(vq, &m, false); break;
		case 1: do_pop(vq, &m, true); break;
		case 2: do_push(vq, &m, arg, false); break;
		case 3: do_push(vq, &m, arg, true); break;
		case 6: {
			/* the driver (re)posts the descriptor at a position as available
			 * under the device's wrap counter now: IDs and descriptors reused
			 * while in flight reach EDUP and EOVERRUN */
			uint8_t *d = mem + ring_off + (arg % m.num) * 16;
			uint16_t f = (uint16_t)((m.avail >> 15 ? 0x80 : 0x8000) | (arg & 8 ? 1 : 0));
			d[12] = (uint8_t)((arg >> 4) % m.num);
			d[13] = 0;
			d[14] = (uint8_t)f;
			d[15] = (uint8_t)(f >> 8);
			break;
		}
		case 4: {
			int s = iovirt_vq_need_signal(vq);
			uint16_t f = (uint16_t)rd(mem + (DRV - GPA) + 2, 2);
			CHECK(s == 0 || s == 1, "signal %d", s);
			if (f == IOVIRT_RING_EVENT_FLAGS_DISABLE)
				CHECK(s == 0, "signal while disabled");
			if (f == IOVIRT_RING_EVENT_FLAGS_ENABLE)
				CHECK(s == 1, "no signal while enabled");
			break;
		}
		default: {
			int n = arg & 1 ? iovirt_vq_notify_enable(vq) : iovirt_vq_notify_disable(vq);
			uint16_t f = (uint16_t)rd(mem + (DEV - GPA) + 2, 2);
			CHECK(n >= 0, "notify %d", n);
			CHECK(f == (arg & 1 ? ((m.flags & IOVIRT_VQ_F_EVENT_IDX) ? 2 : 0) : 1),
			      "device event flags %u", f);
			break;
		}
		}
	}
	iovirt_vq_destroy(vq);
	return 0;
}
