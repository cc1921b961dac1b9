/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: notification suppression and batched completions of a
 * split virtqueue, against a model written from the specification below.
 *
 * Input: data[0] queue size (1 << (data[0] % 6)), bit 6 event index, bit 7
 * direct ring access; data[1] bit 0 in-order, bit 1 "the guest rewrites each
 * field right after the device reads it" (callback access only: proves
 * read-once, the model decides from the value before the rewrite), bit 2 the
 * rings across adjacent regions (the map split at GPA + 0x2000 and + 0x3000,
 * the available ring over the first boundary, the used ring over the second,
 * one used element over it when num > 1); data[2..3] the start cursor. Then 4-byte operations {op, a, b, c}: the driver sets avail
 * idx, avail flags or used_event; the device skips a chain, enables or
 * disables notifications, completes a batch or an in-order batch, decides on
 * a signal, or restores cursors. Every return value, the used idx, the
 * device's flags and avail_event are compared with the model after each step.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#include "check.h"
#include "guest.h"

#define GUEST 9u
#define GPA 0x10000ull
#define BYTES 0x4000u
#define DESC GPA
#define AVAIL avail_gpa
#define USED used_gpa

static uint8_t *mem;
static struct iovirt_posix *px;
static struct iovirt_gmap *map, *map2;
static uint64_t avail_gpa, used_gpa;

static uint16_t ld16(uint64_t gpa)
{
	const uint8_t *p = mem + (gpa - GPA);
	return (uint16_t)(p[0] | p[1] << 8);
}

static void st16(uint64_t gpa, uint16_t v)
{
	uint8_t *p = mem + (gpa - GPA);
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static uint32_t ld32(uint64_t gpa)
{
	return ld16(gpa) | (uint32_t)ld16(gpa + 2) << 16;
}

/* The rewriting guest: every 2-byte field the device reads changes right after
 * the read: avail flags to the opposite decision, used_event to the value
 * that flips need_signal's answer (flip_event, set before each decision), the
 * rest to junk. A second read of any field would decide differently. */
static uint16_t junk, flip_event;
static uint32_t hook_num;
static void hook(void *arg, uint32_t guest, uint64_t gpa, size_t len)
{
	(void)arg;
	(void)guest;
	if (len != 2 || gpa < AVAIL || gpa >= USED)
		return;
	if (gpa == AVAIL)
		st16(gpa, ld16(gpa) ^ 1);
	else if (gpa == AVAIL + 4 + 2 * (uint64_t)hook_num)
		st16(gpa, flip_event);
	else
		st16(gpa, junk += 0x9e37);
}

struct model {
	uint32_t num;
	bool ev, in_order;
	uint16_t last_avail, avail_idx, used;
	uint16_t sig_old;
	bool sig_valid;
};

static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

static uint16_t in_flight(const struct model *m)
{
	return (uint16_t)(m->last_avail - m->used);
}

/* avail idx as iovirt_vq_avail reads it: the count or IOVIRT_EINDEX. */
static int m_avail(struct model *m)
{
	uint16_t idx = ld16(AVAIL + 2);
	uint16_t n = (uint16_t)(idx - m->last_avail);
	if (n > m->num)
		return IOVIRT_EINDEX;
	m->avail_idx = idx;
	return n;
}

static int m_skip(struct model *m)
{
	if (m->avail_idx == m->last_avail) {
		int n = m_avail(m);
		if (n <= 0)
			return n ? n : IOVIRT_ENOENT;
	}
	if (in_flight(m) >= m->num)
		return IOVIRT_EOVERRUN;
	m->last_avail++;
	return 0;
}

/* notify_enable: the field it writes is checked by the caller; avail idx as read. */
static int m_enable(struct model *m)
{
	return m_avail(m);
}

static int m_signal(struct model *m)
{
	if (!m->ev)
		return !(ld16(AVAIL) & 1);
	bool valid = m->sig_valid;
	uint16_t old = m->sig_old;
	m->sig_old = m->used;
	m->sig_valid = true;
	return !valid || need_event(ld16(AVAIL + 4 + 2 * (uint64_t)m->num), m->used, old);
}

static int m_batch(struct model *m, const struct iovirt_vq_used *u, uint32_t n, uint32_t chains)
{
	for (uint32_t k = 0; k < n; k++)
		if (u[k].id >= m->num)
			return IOVIRT_EINDEX;
	if (chains > in_flight(m))
		return IOVIRT_ENOENT;
	return 0;
}

/* After an accepted batch: the elements are in the ring, the model's used idx moves. */
static void m_batch_done(struct model *m, const struct iovirt_vq_used *u, uint32_t n, uint32_t chains)
{
	for (uint32_t k = 0; k < n; k++) {
		uint64_t at = USED + 4 + 8 * (uint64_t)((m->used + k) & (m->num - 1));
		CHECK(ld32(at) == u[k].id && ld32(at + 4) == u[k].len, "element %u", k);
	}
	m->used = (uint16_t)(m->used + chains);
}

static void step(struct iovirt_vq *vq, struct model *m, const uint8_t *o)
{
	uint8_t op = o[0] % 10, a = o[1], b = o[2], c = o[3];
	uint16_t w = (uint16_t)(a | b << 8);
	int got, want;
	struct iovirt_vq_used u[40];
	switch (op) {
	case 0: st16(AVAIL + 2, (uint16_t)(m->last_avail + a % (m->num + 2))); return;
	case 1: st16(AVAIL, w); return;
	case 2: st16(AVAIL + 4 + 2 * (uint64_t)m->num, w); return;
	case 3:
		want = m_skip(m);
		got = iovirt_vq_skip(vq);
		break;
	case 4:
		/* the model decides from the memory as it is before the call */
		want = m_enable(m);
		got = iovirt_vq_notify_enable(vq);
		CHECK(m->ev ? ld16(USED + 4 + 8 * (uint64_t)m->num) == m->last_avail : ld16(USED) == 0,
		      "enable: flags %u event %u", ld16(USED), ld16(USED + 4 + 8 * (uint64_t)m->num));
		break;
	case 5:
		got = iovirt_vq_notify_disable(vq);
		want = 0;
		if (!m->ev)
			CHECK(ld16(USED) == 1, "disable: flags %u", ld16(USED));
		break;
	case 6: {
		uint32_t n = a % (m->num + 2);
		if (n > 40)
			n = 40;
		for (uint32_t k = 0; k < n; k++)
			u[k] = (struct iovirt_vq_used){ (b + k * c) % (m->num + 1), k * 7 + c };
		want = n > m->num ? IOVIRT_EINVAL : m_batch(m, u, n, n);
		got = iovirt_vq_push_used_batch(vq, u, n);
		if (!want && !got)
			m_batch_done(m, u, n, n);
		break;
	}
	case 7: {
		uint32_t count = a % (m->num + 2);
		u[0] = (struct iovirt_vq_used){ b % (m->num + 1), c };
		want = !m->in_order || !count ? IOVIRT_EINVAL : m_batch(m, u, 1, count);
		got = iovirt_vq_push_used_in_order(vq, u[0].id, u[0].len, count);
		if (!want && !got)
			m_batch_done(m, u, 1, count);
		break;
	}
	case 8:
		/* the used_event that would flip this decision (see hook) */
		flip_event = m->sig_valid && need_event(ld16(AVAIL + 4 + 2 * (uint64_t)m->num), m->used,
							m->sig_old)
				     ? m->used : (uint16_t)(m->used - 1);
		want = m_signal(m);
		got = iovirt_vq_need_signal(vq);
		break;
	default:
		m->last_avail = m->avail_idx = w;
		m->used = (uint16_t)(w - c % (m->num + 1));
		m->sig_valid = false;
		iovirt_vq_set_cursors(vq, m->last_avail, m->used);
		st16(USED + 2, m->used);
		return;
	}
	CHECK(got == want, "op %u: got %d, model %d", op, got, want);
	CHECK(iovirt_vq_used_idx(vq) == m->used && ld16(USED + 2) == m->used, "used idx");
	CHECK(iovirt_vq_last_avail(vq) == m->last_avail, "last_avail");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	if (!mem) {
		/* the same memory also as three adjacent regions */
		static const uint64_t cut[] = { 0, 0x2000, 0x3000, BYTES };
		struct iovirt_region regs[4];
		mem = fuzz_guest_maps(GUEST, GPA, BYTES, cut, 3, &px, &map, &map2, regs);
	}
	memset(mem, 0, BYTES);
	struct model m = { .num = 1u << (data[0] % 6), .ev = data[0] & 64,
			   .in_order = data[1] & 1 };
	bool direct = data[0] & 128, rewrite = !direct && (data[1] & 2), span = data[1] & 4;
	avail_gpa = span ? GPA + 0x2000 - 2 * (m.num / 2 + 2) : GPA + 0x1000;
	used_gpa = span ? GPA + 0x3000 - 8 * (m.num / 2) : GPA + 0x2000;
	uint32_t flags = (m.ev ? IOVIRT_VQ_F_EVENT_IDX : 0) |
			 (m.in_order ? IOVIRT_VQ_F_IN_ORDER : 0) | (direct ? IOVIRT_VQ_F_DIRECT : 0);
	struct iovirt_vq_params p = { .size = sizeof(p), .guest = GUEST, .num = m.num,
				      .flags = flags, .desc_gpa = DESC, .avail_gpa = AVAIL,
				      .used_gpa = USED, .map = span ? map2 : map };
	struct iovirt_vq *vq;
	CHECK(!iovirt_vq_create(iovirt_posix_ops(), px, &p, &vq), "create");
	m.last_avail = m.avail_idx = m.used = (uint16_t)(data[2] | data[3] << 8);
	iovirt_vq_set_cursors(vq, m.last_avail, m.used);
	st16(AVAIL + 2, m.last_avail);
	st16(USED + 2, m.used);
	hook_num = m.num;
	if (rewrite)
		iovirt_posix_set_read_hook(px, hook, NULL);
	for (size_t i = 4; i + 4 <= size; i += 4)
		step(vq, &m, data + i);
	iovirt_posix_set_read_hook(px, NULL, NULL);
	iovirt_vq_destroy(vq);
	return 0;
}
