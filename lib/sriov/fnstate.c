/* SPDX-License-Identifier: MIT */
/*
 * Save and restore of the functions' state (create_fn), a blob beside
 * iovirt_sriov_save's, little-endian:
 *   0  u32 magic "IOVF"   4 u32 version (1)   8 u32 TotalVFs   12 u32 MSI-X vectors
 *   16 u16 ACS Control    18 u16 0
 *   20 per VF (TotalVFs), 32 bytes: u16 Command, u16 MSI-X Message Control bits,
 *      u16 ATS Control, u8 virtual BARs written, u8 0, u32 virtual BAR[6]
 *   .. per VF, per vector: u32 address low, high, data, vector control
 *   .. per VF, per 64 vectors: u64 pending bits
 *   .. u32 FNV-1a of everything before it
 * Restore checks every field against the rules a guest's writes obey, so a
 * blob can hold nothing those writes could not have made.
 */
#include <string.h>

#include "sriov/fn.h"

#define FN_MAGIC 0x46564f49u /* "IOVF" */
#define FN_VERSION 1u
#define FN_HDR 20u
#define FN_VF 32u

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Where the parts of the blob start. */
struct fn_layout {
	size_t vfs, table, pba, sum, size;
};

static struct fn_layout layout(const struct sriov_fn *fn)
{
	struct fn_layout l;
	l.vfs = FN_HDR;
	l.table = l.vfs + (size_t)fn->total * FN_VF;
	l.pba = l.table + (size_t)fn->total * fn->nvec * 16;
	l.sum = l.pba + (size_t)fn->total * fn->pba_words * 8;
	l.size = l.sum + 4;
	return l;
}

size_t iovirt_sriov_fn_save_size(const struct iovirt_sriov *sr)
{
	return sr && sr->fn ? layout(sr->fn).size : 0;
}

int64_t iovirt_sriov_fn_save(const struct iovirt_sriov *sr, void *buf, size_t len)
{
	if (!sr || !buf)
		return IOVIRT_EINVAL;
	if (!sr->fn)
		return IOVIRT_ENOSYS;
	const struct sriov_fn *fn = sr->fn;
	struct fn_layout l = layout(fn);
	if (len < l.size)
		return IOVIRT_EINVAL;
	uint8_t *b = buf;
	memset(b, 0, l.size);
	put32(b, FN_MAGIC);
	put32(b + 4, FN_VERSION);
	put32(b + 8, fn->total);
	put32(b + 12, fn->nvec);
	put16(b + 16, fn->acs_ctrl);
	for (uint32_t v = 0; v < fn->total; v++) {
		const struct sriov_vfcfg *c = &fn->vfc[v];
		uint8_t *p = b + l.vfs + (size_t)v * FN_VF;
		put16(p, c->cmd);
		put16(p + 2, c->msix_ctrl);
		put16(p + 4, c->ats_ctrl);
		p[6] = c->vbar_set;
		for (unsigned i = 0; i < IOVIRT_SRIOV_NBARS; i++)
			put32(p + 8 + 4 * i, c->vbar[i]);
	}
	for (size_t e = 0; e < (size_t)fn->total * fn->nvec; e++) {
		uint8_t *p = b + l.table + e * 16;
		put32(p, fn->table[e].addr_lo);
		put32(p + 4, fn->table[e].addr_hi);
		put32(p + 8, fn->table[e].data);
		put32(p + 12, fn->table[e].ctrl);
	}
	for (size_t w = 0; w < (size_t)fn->total * fn->pba_words; w++) {
		put32(b + l.pba + w * 8, (uint32_t)fn->pba[w]);
		put32(b + l.pba + w * 8 + 4, (uint32_t)(fn->pba[w] >> 32));
	}
	put32(b + l.sum, fnv1a(b, l.sum));
	return (int64_t)l.size;
}

/* Is VF v's state in the blob one its guest's writes could have made here? */
static bool vf_record_ok(const struct iovirt_sriov *sr, uint32_t v, const uint8_t *p)
{
	const struct sriov_fn *fn = sr->fn;
	uint16_t cmd = get16(p), msix = get16(p + 2), ats = get16(p + 4);
	uint8_t set = p[6];
	bool enabled = v < sr->d.nvfs, bound = enabled && sr->vfs[v].bound;
	if (p[7] || (cmd & ~(VF_CMD_BME | VF_CMD_MSE)) || (msix & ~(MSIX_CTRL_FMASK | MSIX_CTRL_ENABLE)) ||
	    (ats & ~ATS_CTRL_ENABLE) || (set & ~0x3fu))
		return false;
	if (((cmd & VF_CMD_BME) || ats) && !bound)
		return false; /* as vf_cfg_write: no mastering or ATS without a space */
	if ((msix && !fn->nvec) || (ats && !(fn->fp.flags & IOVIRT_SRIOV_FN_ATS)))
		return false;
	if (!enabled && (cmd || msix || set))
		return false; /* a disabled VF is at its reset values */
	for (unsigned i = 0; i < IOVIRT_SRIOV_NBARS; i++) {
		uint32_t val = get32(p + 8 + 4 * i);
		if (!(set & (1u << i))) {
			if (val)
				return false;
			continue;
		}
		/* what a write of val would have left: same bits through the mask */
		uint32_t o = sriov_fn_vbar(sr, v, i, false), m = sriov_fn_vbar(sr, v, i, true);
		if (!m || val != ((o & ~m) | (val & m)))
			return false;
	}
	return true;
}

static bool table_ok(const struct sriov_fn *fn, uint32_t v, const uint8_t *t, const uint8_t *pba,
		     bool enabled)
{
	for (uint32_t e = 0; e < fn->nvec; e++, t += 16) {
		uint32_t lo = get32(t), hi = get32(t + 4), data = get32(t + 8), ctrl = get32(t + 12);
		uint64_t addr = (uint64_t)hi << 32 | lo;
		if ((lo & 3) || ctrl > 1 || (addr && !sriov_fn_msi_ok(fn, addr)))
			return false;
		if (!enabled && (addr || data || ctrl != 1))
			return false;
	}
	for (uint32_t w = 0; w < fn->pba_words; w++) {
		uint64_t bits = get64(pba + (size_t)w * 8);
		uint32_t valid = fn->nvec - w * 64; /* vectors this word holds */
		if (valid < 64 && (bits >> valid))
			return false;
		if (!enabled && bits)
			return false;
	}
	(void)v;
	return true;
}

/* Every VF's functions at reset values: nothing a restore would have to undo. */
static bool fn_pristine(const struct sriov_fn *fn)
{
	for (uint32_t v = 0; v < fn->total; v++) {
		const struct sriov_vfcfg *c = &fn->vfc[v];
		if (c->cmd || c->msix_ctrl || c->ats_ctrl || c->vbar_set || c->ats_on)
			return false;
	}
	return fn->acs_ctrl == 0;
}

static int fn_check(const struct iovirt_sriov *sr, const uint8_t *b, size_t len, struct fn_layout *l)
{
	const struct sriov_fn *fn = sr->fn;
	*l = layout(fn);
	if (len != l->size || get32(b) != FN_MAGIC || get32(b + 4) != FN_VERSION ||
	    get32(b + 8) != fn->total || get32(b + 12) != fn->nvec || get16(b + 18) ||
	    get32(b + l->sum) != fnv1a(b, l->sum))
		return IOVIRT_EINVAL;
	if (get16(b + 16) & ~(uint32_t)fn->fp.acs_caps)
		return IOVIRT_EINVAL;
	for (uint32_t v = 0; v < fn->total; v++) {
		bool enabled = v < sr->d.nvfs;
		if (!vf_record_ok(sr, v, b + l->vfs + (size_t)v * FN_VF) ||
		    !table_ok(fn, v, b + l->table + (size_t)v * fn->nvec * 16,
			      b + l->pba + (size_t)v * fn->pba_words * 8, enabled))
			return IOVIRT_EINVAL;
	}
	return 0;
}

/* ATS registrations first (the one step that can fail); undone if one fails. */
static int fn_restore_ats(struct iovirt_sriov *sr, const uint8_t *b, const struct fn_layout *l)
{
	for (uint32_t v = 0; v < sr->fn->total; v++) {
		if (!get16(b + l->vfs + (size_t)v * FN_VF + 4))
			continue;
		int r = sriov_fn_ats_set(sr, v, true);
		if (r) {
			while (v-- > 0)
				if (sr->fn->vfc[v].ats_on)
					(void)sriov_fn_ats_set(sr, v, false);
			return r;
		}
	}
	return 0;
}

int iovirt_sriov_fn_restore(struct iovirt_sriov *sr, const void *buf, size_t len)
{
	if (!sr || !buf)
		return IOVIRT_EINVAL;
	if (!sr->fn)
		return IOVIRT_ENOSYS;
	struct sriov_fn *fn = sr->fn;
	if (!fn_pristine(fn))
		return IOVIRT_EBUSY;
	const uint8_t *b = buf;
	struct fn_layout l;
	int r = fn_check(sr, b, len, &l);
	if (r)
		return r;
	r = fn_restore_ats(sr, b, &l);
	if (r)
		return r;
	/* commit: cannot fail */
	fn->acs_ctrl = get16(b + 16);
	for (uint32_t v = 0; v < fn->total; v++) {
		struct sriov_vfcfg *c = &fn->vfc[v];
		const uint8_t *p = b + l.vfs + (size_t)v * FN_VF;
		c->cmd = get16(p);
		c->msix_ctrl = get16(p + 2);
		c->ats_ctrl = get16(p + 4);
		c->vbar_set = p[6];
		for (unsigned i = 0; i < IOVIRT_SRIOV_NBARS; i++)
			c->vbar[i] = get32(p + 8 + 4 * i);
		atomic_store_explicit(&fn->bme[v], (c->cmd & VF_CMD_BME) ? 1 : 0, memory_order_release);
	}
	for (size_t e = 0; e < (size_t)fn->total * fn->nvec; e++) {
		const uint8_t *p = b + l.table + e * 16;
		fn->table[e] = (struct sriov_msix_ent){ get32(p), get32(p + 4), get32(p + 8), get32(p + 12) };
	}
	for (size_t w = 0; w < (size_t)fn->total * fn->pba_words; w++)
		fn->pba[w] = get64(b + l.pba + w * 8);
	return 0;
}
