/* SPDX-License-Identifier: MIT */
/*
 * Save and restore of the PF + VF state as a plain little-endian blob:
 *   0  u32 magic "IOVS"     4  u32 version (1)     8  u32 blob length
 *   12 u16 TotalVFs         14 u16 flags: bit 0 the lowest PF's ARI Capable
 *                              Hierarchy, followed (ARI_READONLY PFs only)
 *   16 the capability's 64 bytes
 *   80 per VF (TotalVFs): u32 flags (bit 0 bound), u32 guest, u32 asid
 *   .. u32 FNV-1a of everything before it
 */
#include <string.h>

#include "sriov/internal.h"

#define STATE_MAGIC 0x53564f49u /* "IOVS" */
#define STATE_VERSION 1u
#define STATE_HDR 16u
#define STATE_VF 12u
#define STATE_VF_BOUND 1u
#define STATE_ARI_LOWEST 1u

static void put32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

size_t iovirt_sriov_save_size(const struct iovirt_sriov *sr)
{
	if (!sr)
		return 0;
	return STATE_HDR + IOVIRT_SRIOV_CAP_SIZE + (size_t)sr->p.total_vfs * STATE_VF + 4;
}

int64_t iovirt_sriov_save(const struct iovirt_sriov *sr, void *buf, size_t len)
{
	size_t need = iovirt_sriov_save_size(sr);
	if (!sr || !buf || len < need)
		return IOVIRT_EINVAL;
	uint8_t *b = buf;
	put32(b, STATE_MAGIC);
	put32(b + 4, STATE_VERSION);
	put32(b + 8, (uint32_t)need);
	put32(b + 12, sr->p.total_vfs | (sr->regs.ari_lowest ? STATE_ARI_LOWEST : 0u) << 16);
	memcpy(b + STATE_HDR, sr->regs.b, IOVIRT_SRIOV_CAP_SIZE);
	uint8_t *vp = b + STATE_HDR + IOVIRT_SRIOV_CAP_SIZE;
	for (uint32_t v = 0; v < sr->p.total_vfs; v++, vp += STATE_VF) {
		const struct sriov_vf *f = &sr->vfs[v];
		put32(vp, f->bound ? STATE_VF_BOUND : 0);
		put32(vp + 4, f->bound ? f->guest : IOVIRT_SRIOV_NO_GUEST);
		put32(vp + 8, f->bound ? f->asid : 0);
	}
	put32(vp, fnv1a(b, need - 4));
	return (int64_t)need;
}

/* Bytes whose value follows from other fields (normalization checks them). */
static bool derived_byte(unsigned off)
{
	return (off >= IOVIRT_SRIOV_VF_OFFSET && off < IOVIRT_SRIOV_VF_OFFSET + 4) ||
	       (off >= IOVIRT_SRIOV_VF_BAR0 && off < IOVIRT_SRIOV_VF_MIGR);
}

/* restore, header: size, magic, version, TotalVFs, checksum, and the ARI
 * flag only where this PF follows the lowest PF's hierarchy and can. *hflags:
 * the header's flags. */
static int restore_header(const struct iovirt_sriov *sr, const uint8_t *b, size_t len,
			  uint32_t *hflags)
{
	size_t need = iovirt_sriov_save_size(sr);
	if (len != need || get32(b) != STATE_MAGIC || get32(b + 4) != STATE_VERSION ||
	    get32(b + 8) != need || (get32(b + 12) & 0xffff) != sr->p.total_vfs ||
	    get32(b + need - 4) != fnv1a(b, need - 4))
		return IOVIRT_EINVAL;
	*hflags = get32(b + 12) >> 16;
	if ((*hflags & ~STATE_ARI_LOWEST) ||
	    ((*hflags & STATE_ARI_LOWEST) && (!(sr->p.flags & IOVIRT_SRIOV_ARI_READONLY) ||
					      !sriov_has_ari_pair(&sr->p))))
		return IOVIRT_EINVAL;
	return 0;
}

/* restore, capability: read-only bits are this PF's, derived bits agree,
 * the rules hold; *n and *d what commit installs. */
static int restore_cap(const struct iovirt_sriov *sr, const uint8_t *b, uint32_t hflags,
		       struct sriov_regs *n, struct sriov_derived *d)
{
	struct sriov_regs reset;
	memcpy(n->b, b + STATE_HDR, IOVIRT_SRIOV_CAP_SIZE);
	n->ari_lowest = hflags & STATE_ARI_LOWEST;
	sriov_regs_reset(sr, &reset);
	for (unsigned i = 0; i < IOVIRT_SRIOV_CAP_SIZE; i++)
		if (!derived_byte(i) && ((n->b[i] ^ reset.b[i]) & ~sriov_wmask(sr, i)))
			return IOVIRT_EINVAL;
	struct sriov_regs norm = *n;
	sriov_regs_normalize(sr, &norm);
	if (memcmp(norm.b, n->b, sizeof(n->b)))
		return IOVIRT_EINVAL;
	return sriov_derive(sr, n, d);
}

/* restore, bindings: only enabled VFs (nvfs), the checks vf_bind makes, each
 * ASID once. */
static int restore_bindings(const struct iovirt_sriov *sr, const uint8_t *vfs, uint32_t nvfs)
{
	for (uint32_t v = 0; v < sr->p.total_vfs; v++) {
		const uint8_t *vp = vfs + (size_t)v * STATE_VF;
		uint32_t flags = get32(vp), guest = get32(vp + 4), asid = get32(vp + 8);
		if (flags & ~STATE_VF_BOUND)
			return IOVIRT_EINVAL;
		if (!flags) {
			if (guest != IOVIRT_SRIOV_NO_GUEST || asid != 0)
				return IOVIRT_EINVAL;
			continue;
		}
		if (v >= nvfs)
			return IOVIRT_EINVAL;
		int err = sriov_bind_check(sr, guest, asid);
		if (err)
			return err;
		/* quadratic, but bounded by TotalVFs, which the host chose */
		for (uint32_t w = 0; w < v; w++) {
			const uint8_t *wp = vfs + (size_t)w * STATE_VF;
			if (get32(wp) && get32(wp + 8) == asid)
				return IOVIRT_EDUP;
		}
	}
	return 0;
}

int iovirt_sriov_restore(struct iovirt_sriov *sr, const void *buf, size_t len)
{
	if (!sr || !buf)
		return IOVIRT_EINVAL;
	if (sr->d.enabled)
		return IOVIRT_EBUSY;
	const uint8_t *b = buf;
	const uint8_t *vfs = b + STATE_HDR + IOVIRT_SRIOV_CAP_SIZE;
	uint32_t hflags;
	struct sriov_regs n;
	struct sriov_derived d;
	int r = restore_header(sr, b, len, &hflags);
	if (!r)
		r = restore_cap(sr, b, hflags, &n, &d);
	if (!r)
		r = restore_bindings(sr, vfs, d.nvfs);
	if (r)
		return r;
	/* commit: nothing fails from here (VF Enable was clear: no VF is bound) */
	sriov_commit(sr, &n, &d);
	for (uint32_t v = 0; v < d.nvfs; v++) {
		const uint8_t *vp = vfs + (size_t)v * STATE_VF;
		if (get32(vp))
			sriov_bind_commit(sr, v, get32(vp + 4), get32(vp + 8));
	}
	return 0;
}
