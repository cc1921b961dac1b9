/* SPDX-License-Identifier: MIT */
/*
 * Each VF's configuration space, raw and virtualized: the type-0 header as
 * the SR-IOV specification defines it for a VF, the PCI Express capability
 * (FLR), MSI-X capability, and the extended chain (ARI, ATS). Registers are
 * computed per dword from the params and the small mutable state, so a VF's
 * 4 KiB space costs a few bytes.
 */
#include <string.h>

#include "sriov/fn.h"

#define PCIE IOVIRT_SRIOV_VF_PCIE_CAP
#define MSIX IOVIRT_SRIOV_VF_MSIX_CAP
#define EXT IOVIRT_SRIOV_VF_EXT

#define STATUS_CAP_LIST 0x0010u
#define DEVCAP_RBER 0x00008000u /* Role-Based Error Reporting: every PCIe 1.1+ function */
#define DEVCAP_FLR 0x10000000u
#define DEVCTL_FLR 0x8000u
#define PCIE_CAPS_V2_ENDPOINT 0x0002u /* version 2, Device/Port Type 0000b */
#define BAR_FLAG_BITS 0xfu

static bool has_ari(const struct sriov_fn *fn) { return fn->fp.flags & IOVIRT_SRIOV_FN_ARI; }
static bool has_ats(const struct sriov_fn *fn) { return fn->fp.flags & IOVIRT_SRIOV_FN_ATS; }

/* Where the VF's ATS capability sits: after ARI when there is one. */
static uint32_t ats_off(const struct sriov_fn *fn)
{
	return has_ari(fn) ? EXT + 8 : EXT;
}

static bool bar_upper(const struct iovirt_sriov *sr, unsigned i)
{
	return i > 0 && (sr->p.bars[i - 1].flags & IOVIRT_SRIOV_BAR_64) && sr->p.bars[i - 1].size;
}

/* The address VF vf's BAR i has from the PF's VF BAR (0 when unassigned). */
static uint64_t vf_bar_addr(const struct iovirt_sriov *sr, uint32_t vf, unsigned i)
{
	const struct sriov_barwin *w = &sr->d.bar[i];
	if (!w->size || !w->base)
		return 0;
	return w->base + (uint64_t)vf * w->size; /* wraps only for a BAR that does not decode */
}

/* Virtualized BAR register i: what the guest wrote, or the VF's address. */
static uint32_t vbar_get(const struct iovirt_sriov *sr, uint32_t vf, unsigned i)
{
	const struct sriov_vfcfg *c = &sr->fn->vfc[vf];
	if (c->vbar_set & (1u << i))
		return c->vbar[i];
	if (bar_upper(sr, i))
		return (uint32_t)(vf_bar_addr(sr, vf, i - 1) >> 32);
	const struct iovirt_sriov_bar *b = &sr->p.bars[i];
	if (!b->size)
		return 0;
	uint32_t flags = ((b->flags & IOVIRT_SRIOV_BAR_64) ? 0x4u : 0) |
			 ((b->flags & IOVIRT_SRIOV_BAR_PREFETCH) ? 0x8u : 0);
	return ((uint32_t)vf_bar_addr(sr, vf, i) & ~BAR_FLAG_BITS) | flags;
}

/* Bits of virtualized BAR register i a write may set: the address bits above its size. */
static uint32_t vbar_wmask(const struct iovirt_sriov *sr, unsigned i)
{
	if (bar_upper(sr, i))
		return (uint32_t)(~(sr->d.bar[i - 1].size - 1) >> 32);
	if (!sr->p.bars[i].size)
		return 0;
	return (uint32_t)~(sr->d.bar[i].size - 1) & ~BAR_FLAG_BITS;
}

/* fnstate.c: virtual BAR register i of VF vf as it reads, or its write mask. */
uint32_t sriov_fn_vbar(const struct iovirt_sriov *sr, uint32_t vf, unsigned i, bool mask)
{
	return mask ? vbar_wmask(sr, i) : vbar_get(sr, vf, i);
}

static uint32_t header_dword(const struct iovirt_sriov *sr, uint32_t vf, bool virt, uint32_t off)
{
	const struct sriov_fn *fn = sr->fn;
	const struct sriov_vfcfg *c = &fn->vfc[vf];
	switch (off) {
	case 0x00:
		if (!virt)
			return 0xffffffffu; /* a VF's Vendor and Device ID read all ones */
		return fn->fp.pf_vendor_id |
		       (uint32_t)sriov_regs_get(&sr->regs, IOVIRT_SRIOV_VF_DID, 2) << 16;
	case 0x04:
		return (c->cmd & (virt ? VF_CMD_BME | VF_CMD_MSE : VF_CMD_BME)) |
		       STATUS_CAP_LIST << 16;
	case 0x08:
		return fn->fp.revision | fn->fp.class_code << 8;
	case 0x2c:
		return fn->fp.subsys_vendor_id | (uint32_t)fn->fp.subsys_id << 16;
	case 0x34:
		return PCIE;
	default:
		if (off >= 0x10 && off < 0x28 && virt)
			return vbar_get(sr, vf, (off - 0x10) / 4);
		return 0; /* BARs (raw), cache line, latency, BIST, ROM, interrupt line/pin */
	}
}

static uint32_t caps_dword(const struct iovirt_sriov *sr, uint32_t vf, uint32_t off)
{
	const struct sriov_fn *fn = sr->fn;
	const struct sriov_vfcfg *c = &fn->vfc[vf];
	switch (off) {
	case PCIE:
		return 0x10u | (fn->nvec ? MSIX : 0u) << 8 | PCIE_CAPS_V2_ENDPOINT << 16;
	case PCIE + 4:
		return DEVCAP_FLR | DEVCAP_RBER;
	case MSIX:
		if (!fn->nvec)
			return 0;
		return 0x11u | (uint32_t)((fn->nvec - 1) | c->msix_ctrl) << 16;
	case MSIX + 4:
		return fn->nvec ? fn->fp.msix_table_off | fn->fp.msix_table_bir : 0;
	case MSIX + 8:
		return fn->nvec ? fn->fp.msix_pba_off | fn->fp.msix_pba_bir : 0;
	default:
		return 0; /* Device Control/Status, link and slot registers: the PF's apply */
	}
}

static uint32_t ext_dword(const struct iovirt_sriov *sr, uint32_t vf, uint32_t off)
{
	const struct sriov_fn *fn = sr->fn;
	if (has_ari(fn) && off == EXT)
		return 0x000eu | 1u << 16 | (has_ats(fn) ? ats_off(fn) : 0u) << 20;
	if (has_ari(fn) && off == EXT + 4)
		return 0; /* a VF's Next Function Number is 0: VFs are not in the PF list */
	if (has_ats(fn) && off == ats_off(fn))
		return 0x000fu | 1u << 16;
	if (has_ats(fn) && off == ats_off(fn) + 4)
		return fn->fp.ats_caps | (uint32_t)fn->vfc[vf].ats_ctrl << 16;
	return 0;
}

static uint32_t vf_dword(const struct iovirt_sriov *sr, uint32_t vf, bool virt, uint32_t off)
{
	if (off < PCIE)
		return header_dword(sr, vf, virt, off);
	if (off < EXT)
		return caps_dword(sr, vf, off);
	return ext_dword(sr, vf, off);
}

/* The bits of dword off a config write may change. */
static uint32_t vf_wmask(const struct iovirt_sriov *sr, bool virt, uint32_t off)
{
	const struct sriov_fn *fn = sr->fn;
	if (off == 0x04)
		return virt ? VF_CMD_BME | VF_CMD_MSE : VF_CMD_BME;
	if (virt && off >= 0x10 && off < 0x28)
		return vbar_wmask(sr, (off - 0x10) / 4);
	if (off == MSIX && fn->nvec)
		return (uint32_t)(MSIX_CTRL_FMASK | MSIX_CTRL_ENABLE) << 16;
	if (has_ats(fn) && off == ats_off(fn) + 4)
		return (uint32_t)ATS_CTRL_ENABLE << 16;
	return 0;
}

static int vf_check(const struct iovirt_sriov *sr, uint32_t vf, unsigned view, uint32_t offset,
		    unsigned width)
{
	if (view != IOVIRT_SRIOV_VIEW_RAW && view != IOVIRT_SRIOV_VIEW_VIRT)
		return IOVIRT_EINVAL;
	if (vf >= sr->d.nvfs)
		return IOVIRT_ENOVF;
	return sriov_fn_cfg_access(offset, width, IOVIRT_SRIOV_VF_CFG_SIZE);
}

static uint32_t bytes_of(uint32_t dword, uint32_t offset, unsigned width)
{
	uint32_t v = dword >> (8 * (offset & 3));
	return width == 4 ? v : v & ((1u << (8 * width)) - 1);
}

int iovirt_sriov_vf_cfg_read(struct iovirt_sriov *sr, uint32_t vf, unsigned view,
			     uint32_t offset, unsigned width, uint32_t *val)
{
	if (!sr || !val)
		return IOVIRT_EINVAL;
	if (!sr->fn)
		return IOVIRT_ENOSYS;
	int r = vf_check(sr, vf, view, offset, width);
	if (r) {
		sriov_fn_report(sr, IOVIRT_SRIOV_EV_CFG, vf, offset, width, 0, r, false);
		return r;
	}
	*val = bytes_of(vf_dword(sr, vf, view == IOVIRT_SRIOV_VIEW_VIRT, offset & ~3u), offset, width);
	return 0;
}

/*
 * Applies the new value n of dword off (old value o): every check first,
 * then the commit. FLR is the caller's (it resets what this commits).
 */
static int vf_apply(struct iovirt_sriov *sr, uint32_t vf, bool virt, uint32_t off, uint32_t o,
		    uint32_t n)
{
	struct sriov_fn *fn = sr->fn;
	struct sriov_vfcfg *c = &fn->vfc[vf];
	if (o == n)
		return 0;
	if (off == 0x04) {
		/* bus mastering for a VF without an address space: its DMA would fault
		 * anyway, but the guest must not believe it works */
		if ((n & VF_CMD_BME) && !(o & VF_CMD_BME) && !sr->vfs[vf].bound)
			return IOVIRT_ENOASID;
		uint16_t keep = virt ? 0 : (c->cmd & VF_CMD_MSE); /* raw view: MSE is not there */
		c->cmd = (uint16_t)((n & (VF_CMD_BME | VF_CMD_MSE)) | keep);
		atomic_store_explicit(&fn->bme[vf], (n & VF_CMD_BME) ? 1 : 0, memory_order_release);
		return 0;
	}
	if (virt && off >= 0x10 && off < 0x28) {
		unsigned i = (off - 0x10) / 4;
		/* the flag bits are read-only: keep them in the stored value */
		c->vbar[i] = n;
		c->vbar_set |= (uint8_t)(1u << i);
		return 0;
	}
	if (off == MSIX) {
		c->msix_ctrl = (uint16_t)((n >> 16) & (MSIX_CTRL_FMASK | MSIX_CTRL_ENABLE));
		return 0;
	}
	if (has_ats(fn) && off == ats_off(fn) + 4) {
		bool on = (n >> 16) & ATS_CTRL_ENABLE;
		if (on && !sr->vfs[vf].bound)
			return IOVIRT_ENOASID;
		int r = sriov_fn_ats_set(sr, vf, on);
		if (r)
			return r;
		c->ats_ctrl = on ? ATS_CTRL_ENABLE : 0;
		return 0;
	}
	return 0; /* cannot happen: only the dwords above have write masks */
}

static int vf_cfg_write(struct iovirt_sriov *sr, uint32_t vf, unsigned view, uint32_t offset,
			unsigned width, uint32_t val)
{
	int r = vf_check(sr, vf, view, offset, width);
	if (r)
		return r;
	bool virt = view == IOVIRT_SRIOV_VIEW_VIRT;
	uint32_t off = offset & ~3u, sh = 8 * (offset & 3);
	uint32_t be = (width == 4 ? 0xffffffffu : ((1u << (8 * width)) - 1)) << sh;
	uint32_t v = val << sh;
	uint32_t o = vf_dword(sr, vf, virt, off);
	uint32_t m = vf_wmask(sr, virt, off) & be;
	uint32_t n = (o & ~m) | (v & m);
	/* the virtualized BAR keeps its flag bits whatever the guest writes */
	r = vf_apply(sr, vf, virt, off, o, n);
	if (r)
		return r;
	if (off == PCIE + 8 && (v & be & DEVCTL_FLR))
		iovirt_sriov_vf_reset(sr, vf); /* the documented order; resets the state above */
	return 0;
}

int iovirt_sriov_vf_cfg_write(struct iovirt_sriov *sr, uint32_t vf, unsigned view,
			      uint32_t offset, unsigned width, uint32_t val)
{
	if (!sr)
		return IOVIRT_EINVAL;
	if (!sr->fn)
		return IOVIRT_ENOSYS;
	int r = vf_cfg_write(sr, vf, view, offset, width, val);
	if (r)
		sriov_fn_report(sr, IOVIRT_SRIOV_EV_CFG, vf, offset, width,
				width >= 4 ? val : val & ((1u << (8 * width)) - 1), r, true);
	return r;
}
