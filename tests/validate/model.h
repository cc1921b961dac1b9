/* SPDX-License-Identifier: MIT */
/*
 * A slow, obviously correct model of segment validation: linear scans, no
 * snapshots, no merging. Used by the differential tests and inside the
 * fuzz targets to re-check every result of lib/validate.
 */
#ifndef IOVIRT_VALIDATE_MODEL_H
#define IOVIRT_VALIDATE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iovirt/validate.h"

#define M_PAGE 4096u

struct m_map {
	const struct iovirt_region *r; /* regions, any order */
	size_t n;
	uint32_t guest;
};

struct m_pol {
	uint32_t max_segs, flags;
	uint64_t max_total, addr_align, len_align;
};

static inline struct m_pol m_pol_of(const struct iovirt_sg_policy *p)
{
	struct m_pol m = { IOVIRT_SG_DEFAULT_MAX_SEGS, 0, UINT64_MAX, 1, 1 };
	if (p) {
		if (p->max_segs)
			m.max_segs = p->max_segs;
		m.flags = p->flags;
		if (p->max_total)
			m.max_total = p->max_total;
		if (p->addr_align)
			m.addr_align = p->addr_align;
		if (p->len_align)
			m.len_align = p->len_align;
	}
	return m;
}

static inline const struct iovirt_region *m_find(const struct m_map *m, uint64_t gpa)
{
	for (size_t i = 0; i < m->n; i++)
		if (gpa >= m->r[i].gpa && gpa - m->r[i].gpa < m->r[i].length)
			return &m->r[i];
	return NULL;
}

static inline bool m_has_host(const struct iovirt_region *r)
{
	return r->hva || r->flags;
}

/* The refusal for a piece wholly inside region r, or 0. */
static inline int m_check_piece(const struct m_map *m, const struct m_pol *p,
				const struct iovirt_region *r, uint32_t dir)
{
	if (r->kind == IOVIRT_REGION_RESERVED)
		return IOVIRT_ERESERVED;
	if (r->kind == IOVIRT_REGION_MMIO &&
	    (!(p->flags & IOVIRT_POLICY_ALLOW_MMIO) || !m_has_host(r)))
		return IOVIRT_EMMIO;
	if (r->kind == IOVIRT_REGION_SHARED && !(p->flags & IOVIRT_POLICY_ALLOW_P2P))
		return IOVIRT_EP2P;
	if (r->kind != IOVIRT_REGION_SHARED && r->owner != m->guest)
		return IOVIRT_EFOREIGN;
	if ((dir & IOVIRT_DEV_WRITE) &&
	    (r->kind == IOVIRT_REGION_ROM || !(r->access & IOVIRT_DEV_WRITE)))
		return IOVIRT_EREADONLY;
	if ((dir & IOVIRT_DEV_READ) && !(r->access & IOVIRT_DEV_READ))
		return IOVIRT_EPERM;
	return 0;
}

/* The refusal for one segment, or 0. *fail = the guest address concerned.
 * Without IOVIRT_POLICY_STRICT_REGIONS a segment may run across adjacent
 * regions: piece by piece, each against its own region (*fail: the piece). */
static inline int m_check_seg(const struct m_map *m, const struct m_pol *p,
			      const struct iovirt_seg *s, uint64_t *fail,
			      const struct iovirt_region **rout)
{
	*fail = s->gpa;
	if (s->dir == 0 || s->dir > 3)
		return IOVIRT_EINVAL;
	if (s->len == 0)
		return IOVIRT_EZEROLEN;
	if (s->gpa % p->addr_align || s->len % p->len_align)
		return IOVIRT_EALIGN;
	if (s->len - 1 > UINT64_MAX - s->gpa)
		return IOVIRT_EOVERFLOW;
	const struct iovirt_region *r = m_find(m, s->gpa);
	if (!r)
		return IOVIRT_ENOREGION;
	/* every byte in r? */
	uint64_t in_r = r->length - (s->gpa - r->gpa);
	if (s->len > in_r && (p->flags & IOVIRT_POLICY_STRICT_REGIONS)) {
		*fail = s->gpa + in_r;
		return m_find(m, *fail) ? IOVIRT_ECROSS : IOVIRT_ENOREGION;
	}
	if (s->len > in_r && !m_find(m, s->gpa + in_r)) {
		*fail = s->gpa + in_r;
		return IOVIRT_ENOREGION;
	}
	*rout = r;
	uint64_t g = s->gpa, left = s->len;
	while (left) {
		const struct iovirt_region *q = m_find(m, g);
		*fail = g;
		if (!q)
			return IOVIRT_ENOREGION;
		uint64_t piece = q->length - (g - q->gpa);
		if (piece > left)
			piece = left;
		int err = m_check_piece(m, p, q, s->dir);
		if (err)
			return err;
		g += piece;
		left -= piece;
	}
	*fail = s->gpa;
	return 0;
}

/* The placement of a structure the library reads itself (an indirect table, a
 * guest segment list): one region the device may read (strict: no spanning), never MMIO (whatever the
 * policy) nor RESERVED, SHARED as the policy allows; no alignment. 0 or the refusal. */
static inline int m_check_placement(const struct m_map *m, uint32_t pol_flags, uint64_t gpa,
				    uint64_t len, uint64_t *fail)
{
	const struct m_pol p = { 1, (pol_flags & ~IOVIRT_POLICY_ALLOW_MMIO) | IOVIRT_POLICY_STRICT_REGIONS,
				 UINT64_MAX, 1, 1 };
	const struct iovirt_seg s = { gpa, len, IOVIRT_DEV_READ, 0 };
	const struct iovirt_region *r;
	return m_check_seg(m, &p, &s, fail, &r);
}

/* The placement of an indirect table (read piece by piece): as
 * m_check_placement, but across adjacent regions unless pol_flags has
 * IOVIRT_POLICY_STRICT_REGIONS, each piece in its own region (*fail: the
 * piece). */
static inline int m_check_table(const struct m_map *m, uint32_t pol_flags, uint64_t gpa,
				uint64_t len, uint64_t *fail)
{
	const struct m_pol p = { 1, pol_flags & ~IOVIRT_POLICY_ALLOW_MMIO, UINT64_MAX, 1, 1 };
	const struct iovirt_seg s = { gpa, len, IOVIRT_DEV_READ, 0 };
	const struct iovirt_region *r;
	return m_check_seg(m, &p, &s, fail, &r);
}

/* Expected outcome of a whole list: 0 or the refusal, with its segment and address. */
static inline int m_check(const struct m_map *m, const struct m_pol *p,
			  const struct iovirt_seg *s, uint32_t n, uint32_t *seg, uint64_t *fail)
{
	uint64_t total = 0;
	if (n > p->max_segs) {
		*seg = p->max_segs;
		*fail = s[p->max_segs].gpa;
		return IOVIRT_ETOOMANY;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct iovirt_region *r;
		*seg = i;
		int err = m_check_seg(m, p, &s[i], fail, &r);
		if (err)
			return err;
		if (s[i].len > UINT64_MAX - total || total + s[i].len > p->max_total)
			return IOVIRT_ETOOBIG;
		total += s[i].len;
	}
	*seg = n;
	return 0;
}

static inline uint64_t m_hpa(const struct iovirt_region *r, uint64_t gpa)
{
	uint64_t off = gpa - r->gpa;
	if (r->flags & IOVIRT_REGION_HPA)
		return r->hpa + off;
	if (r->flags & IOVIRT_REGION_HPA_PAGES)
		return r->page_hpa[off / M_PAGE] + off % M_PAGE;
	return IOVIRT_HPA_NONE;
}

/*
 * Checks an accepted host list against the segments, byte range by byte range:
 * every byte of every segment appears in order with its own host addresses;
 * entries lie in one region; no two neighbours could have been merged; the
 * exposure is each entry's head and tail slack. Returns NULL or what is wrong.
 */
static inline const char *m_verify(const struct m_map *m, const struct iovirt_seg *s, uint32_t n,
				   const struct iovirt_host_seg *out, uint32_t nout)
{
	uint32_t k = 0;
	uint64_t o = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t g = s[i].gpa, left = s[i].len;
		while (left) {
			/* a segment may span regions: each page's own region */
			const struct iovirt_region *r = m_find(m, g);
			uint64_t piece = M_PAGE - g % M_PAGE;
			if (piece > left)
				piece = left;
			if (k >= nout)
				return "host list ends early";
			const struct iovirt_host_seg *e = &out[k];
			if (e->dir != s[i].dir)
				return "direction differs";
			if (e->gpa + o != g)
				return "guest address differs";
			uint8_t *hva = r->hva ? (uint8_t *)r->hva + (g - r->gpa) : NULL;
			if ((e->hva ? (uint8_t *)e->hva + o : NULL) != hva)
				return "host pointer differs";
			uint64_t hpa = m_hpa(r, g);
			if ((e->hpa == IOVIRT_HPA_NONE ? IOVIRT_HPA_NONE : e->hpa + o) != hpa)
				return "host physical address differs";
			if (o + piece > e->len)
				return "piece runs past its entry";
			o += piece;
			if (o == e->len) {
				k++;
				o = 0;
			}
			g += piece;
			left -= piece;
		}
	}
	if (k != nout || o != 0)
		return "host list has extra bytes";
	for (uint32_t j = 0; j < nout; j++) {
		const struct iovirt_region *r = m_find(m, out[j].gpa);
		if (!r || out[j].len - 1 > r->length - 1 - (out[j].gpa - r->gpa))
			return "entry outside one region";
		uint32_t x = (uint32_t)(out[j].gpa % M_PAGE +
					(M_PAGE - (out[j].gpa + out[j].len) % M_PAGE) % M_PAGE);
		if (out[j].exposed != x)
			return "exposure wrong";
		if (j + 1 < nout) {
			const struct iovirt_host_seg *a = &out[j], *b = &out[j + 1];
			if (m_find(m, b->gpa) == r && a->dir == b->dir && a->gpa + a->len == b->gpa &&
			    (a->hpa == IOVIRT_HPA_NONE || a->hpa + a->len == b->hpa))
				return "mergeable neighbours left split";
		}
	}
	return NULL;
}

#endif
