/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the input is raw guest memory holding a split virtqueue
 * (descriptor table, available ring, indirect tables, buffers). A few chains
 * are popped; each outcome is compared with an independent slow walker below
 * (plain recursion over a private copy, the rules written out once more) and,
 * when accepted, with the slow segment model of tests/validate/model.h.
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
		const uint8_t *d = at(DESC + 16ull * i, 16);
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
			struct iovirt_seg t = { addr, len, IOVIRT_DEV_READ, 0 };
			uint64_t fail;
			const struct iovirt_region *r;
			int e = m_check_seg(w->mm, &w->pol, &t, &fail, &r);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	if (!mem)
		mem = aligned_alloc(4096, BYTES);
	uint32_t num = 1u << (data[0] % 6); /* 1 .. 32 */
	uint32_t vflags = data[1] & 1;
	uint32_t max_ind = data[1] >> 4; /* 0: num */
	uint32_t pflags = (data[1] >> 1) & 3;
	uint16_t start = (uint16_t)(data[2] | data[3] << 8);
	memset(mem, 0, BYTES);
	memcpy(mem, data + 4, size - 4 < BYTES ? size - 4 : BYTES);
	memcpy(copy, mem, BYTES);

	struct iovirt_posix *p = iovirt_posix_create();
	CHECK(p, "adapter");
	iovirt_posix_guest_add(p, GUEST, GPA, mem, BYTES);
	struct iovirt_gmap *map;
	struct iovirt_gmap_params gp = { sizeof(gp), GUEST, 0 };
	CHECK(!iovirt_gmap_create(iovirt_posix_ops(), p, &gp, &map), "create");
	/* pages 0-5 RAM, page 6 ROM, page 7 reserved; 0x7000000 beyond: MMIO */
	struct iovirt_region regs[4] = {
		{ sizeof(struct iovirt_region), GPA, 6 * 4096, IOVIRT_REGION_RAM, 3, GUEST, 0, mem, 0, NULL },
		{ sizeof(struct iovirt_region), GPA + 6 * 4096, 4096, IOVIRT_REGION_ROM, 1, GUEST, 0,
		  mem + 6 * 4096, 0, NULL },
		{ sizeof(struct iovirt_region), GPA + 7 * 4096, 4096, IOVIRT_REGION_RESERVED, 3, GUEST,
		  0, NULL, 0, NULL },
		{ sizeof(struct iovirt_region), 0x7000000, 4096, IOVIRT_REGION_MMIO, 3, GUEST,
		  IOVIRT_REGION_HPA, NULL, 0xfe000000, NULL },
	};
	for (int i = 0; i < 4; i++)
		CHECK(!iovirt_gmap_add(map, &regs[i]), "add");
	struct m_map mm = { regs, 4, GUEST };
	struct iovirt_sg_policy pol = { .size = sizeof(pol), .flags = pflags };

	struct iovirt_vq *vq;
	struct iovirt_vq_params vp = { .size = sizeof(vp), .guest = GUEST, .num = num,
				       .flags = vflags, .max_indirect = max_ind,
				       .desc_gpa = DESC, .avail_gpa = AVAIL, .used_gpa = USED };
	CHECK(!iovirt_vq_create(iovirt_posix_ops(), p, &vp, &vq), "vq create");
	iovirt_vq_set_cursors(vq, start, start);

	static struct iovirt_host_seg out[4096];
	for (int round = 0; round < 4; round++) {
		struct iovirt_dma_result res;
		uint16_t last = iovirt_vq_last_avail(vq);
		int r = iovirt_vq_pop(vq, map, &pol, out, 4096, &res);
		/* expected, from the copy */
		uint16_t idx = (uint16_t)rd(copy + 0x1000 + 2, 2);
		uint16_t avail = (uint16_t)(idx - last);
		if (avail > num) {
			CHECK(r == IOVIRT_EINDEX, "avail overrun: %s", iovirt_err_name(r));
			break;
		}
		if (avail == 0) {
			CHECK(r == 0, "empty ring: %s", iovirt_err_name(r));
			break;
		}
		uint16_t head = (uint16_t)rd(copy + 0x1000 + 4 + 2 * (last & (num - 1)), 2);
		if (head >= num) {
			CHECK(r == IOVIRT_EINDEX && res.where == IOVIRT_WHERE_RING, "bad head: %s",
			      iovirt_err_name(r));
			iovirt_vq_skip(vq);
			continue;
		}
		struct sw w = { .num = num, .max_ind = max_ind ? max_ind : num,
				.indirect_ok = vflags, .mm = &mm, .pol = m_pol_of(&pol) };
		if (w.pol.max_total > UINT32_MAX)
			w.pol.max_total = UINT32_MAX;
		int want = sw_walk(&w, head);
		CHECK(want ? r == want : r > 0, "chain at %u: %s, slow walker %s", head,
		      iovirt_err_name(r), iovirt_err_name(want));
		if (!want) {
			CHECK(res.head == head && res.nsegs == w.n, "chain result");
			const char *why = m_verify(&mm, w.segs, w.n, out, (uint32_t)r);
			CHECK(!why, "host list: %s", why);
			CHECK(iovirt_vq_last_avail(vq) == (uint16_t)(last + 1), "cursor");
			CHECK(!iovirt_vq_push_used(vq, head, (uint32_t)res.write_bytes), "push used");
		} else {
			CHECK(iovirt_vq_last_avail(vq) == last, "refusal moved the cursor");
			iovirt_vq_skip(vq);
		}
		/* the device only ever wrote the used ring */
		memcpy(copy + 0x1800, mem + 0x1800, 0x800);
		CHECK(!memcmp(copy, mem, BYTES), "guest memory changed outside the used ring");
	}
	iovirt_vq_destroy(vq);
	CHECK(!iovirt_gmap_destroy(map), "destroy");
	CHECK(iovirt_posix_live_mem(p) == 0, "leak");
	iovirt_posix_destroy(p);
	return 0;
}
