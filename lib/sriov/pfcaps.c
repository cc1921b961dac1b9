/* SPDX-License-Identifier: MIT */
/*
 * The PF's extended capabilities that decide routing and isolation: ARI
 * (read-only: Next Function Number, no function groups) and ACS (control
 * bits writable where the capability has them), chained before SR-IOV.
 */
#include "sriov/fn.h"

#define ARI_ID 0x000eu
#define ACS_ID 0x000du

enum pf_cap { CAP_NONE, CAP_ARI, CAP_ACS, CAP_SRIOV };

/* Which emulated capability holds byte offset, and where it starts. */
static enum pf_cap pf_cap_at(const struct sriov_fn *fn, uint32_t offset, uint32_t *start)
{
	const struct iovirt_sriov_fn_params *f = &fn->fp;
	if ((f->flags & IOVIRT_SRIOV_FN_ARI) && offset - f->pf_ari_off < 8) {
		*start = f->pf_ari_off;
		return CAP_ARI;
	}
	if ((f->flags & IOVIRT_SRIOV_FN_ACS) && offset - f->pf_acs_off < 8) {
		*start = f->pf_acs_off;
		return CAP_ACS;
	}
	if (offset - f->pf_sriov_off < IOVIRT_SRIOV_CAP_SIZE) {
		*start = f->pf_sriov_off;
		return CAP_SRIOV;
	}
	return CAP_NONE;
}

/* Next pointer of ARI and ACS: the chain is ARI -> ACS -> SR-IOV. */
static uint32_t pf_dword(const struct iovirt_sriov *sr, enum pf_cap cap, uint32_t rel)
{
	const struct sriov_fn *fn = sr->fn;
	const struct iovirt_sriov_fn_params *f = &fn->fp;
	if (cap == CAP_ARI) {
		uint32_t next = (f->flags & IOVIRT_SRIOV_FN_ACS) ? f->pf_acs_off : f->pf_sriov_off;
		/* capability: no MFVC/ACS function groups, Next Function Number;
		 * control: nothing to enable without function groups */
		return rel == 0 ? ARI_ID | 1u << 16 | next << 20 : (uint32_t)f->ari_next_fn << 8;
	}
	if (rel == 0)
		return ACS_ID | 1u << 16 | (uint32_t)f->pf_sriov_off << 20;
	return f->acs_caps | (uint32_t)fn->acs_ctrl << 16;
}

/* Checks an access to the PF's extended space and finds the capability it
 * falls in: 0 with *cap and *rel (offset within it), or the refusal. */
static int pf_locate(const struct iovirt_sriov *sr, uint32_t offset, unsigned width, enum pf_cap *cap,
		     uint32_t *rel)
{
	if (!sr->fn)
		return IOVIRT_ENOSYS;
	int r = sriov_fn_cfg_access(offset, width, 0x1000);
	if (r)
		return r;
	if (offset < 0x100)
		return IOVIRT_ERANGE; /* the header and PCI capabilities are the host's */
	uint32_t start;
	*cap = pf_cap_at(sr->fn, offset, &start);
	if (*cap == CAP_NONE)
		return IOVIRT_ENOENT;
	*rel = offset - start;
	return 0;
}

int iovirt_sriov_pf_ext_read(const struct iovirt_sriov *sr, uint32_t offset, unsigned width,
			     uint32_t *val)
{
	if (!sr || !val)
		return IOVIRT_EINVAL;
	enum pf_cap cap;
	uint32_t rel;
	int r = pf_locate(sr, offset, width, &cap, &rel);
	if (r)
		return r;
	if (cap == CAP_SRIOV)
		return iovirt_sriov_cfg_read(sr, rel, width, val);
	uint32_t v = pf_dword(sr, cap, rel & ~3u) >> (8 * (rel & 3));
	*val = width == 4 ? v : v & ((1u << (8 * width)) - 1);
	return 0;
}

int iovirt_sriov_pf_ext_write(struct iovirt_sriov *sr, uint32_t offset, unsigned width, uint32_t val)
{
	if (!sr)
		return IOVIRT_EINVAL;
	enum pf_cap cap;
	uint32_t rel;
	int r = pf_locate(sr, offset, width, &cap, &rel);
	if (r)
		return r;
	if (cap == CAP_SRIOV)
		return iovirt_sriov_cfg_write(sr, rel, width, val);
	if (cap == CAP_ACS && (rel & ~3u) == 4) {
		/* ACS Control is bytes 6-7; a control bit exists only where its capability does */
		uint32_t sh = 8 * (rel & 3);
		uint32_t be = (width == 4 ? 0xffffffffu : ((1u << (8 * width)) - 1)) << sh;
		uint32_t m = ((uint32_t)sr->fn->fp.acs_caps << 16) & be;
		uint32_t o = (uint32_t)sr->fn->acs_ctrl << 16;
		sr->fn->acs_ctrl = (uint16_t)(((o & ~m) | ((val << sh) & m)) >> 16);
	}
	return 0; /* ARI and the capability headers are read-only */
}

uint16_t iovirt_sriov_acs_ctrl(const struct iovirt_sriov *sr)
{
	return sr && sr->fn ? sr->fn->acs_ctrl : 0;
}

/* PF function-level reset: ACS Control back to 0 (ARI has no state). */
void sriov_fn_pf_reset(struct iovirt_sriov *sr)
{
	if (sr->fn)
		sr->fn->acs_ctrl = 0;
}
