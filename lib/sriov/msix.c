/* SPDX-License-Identifier: MIT */
/*
 * MSI-X per VF: the table and PBA in a VF BAR, guest accesses mediated
 * (message addresses stay in the interrupt window), and the device model's
 * signal, which yields a validated message or sets a pending bit.
 */
#include "sriov/fn.h"

#define ENT_ADDR_LO 0
#define ENT_ADDR_HI 1
#define ENT_DATA 2
#define ENT_CTRL 3

enum msix_place { IN_TABLE, IN_PBA };

/* Which VF, and where in its table or PBA, addr falls. */
static int msix_decode(const struct iovirt_sriov *sr, uint64_t addr, uint32_t *vf,
		       enum msix_place *where, uint64_t *rel, uint64_t *boff)
{
	const struct sriov_fn *fn = sr->fn;
	unsigned bar;
	uint64_t off;
	if (iovirt_sriov_bar_decode(sr, addr, vf, &bar, &off))
		return IOVIRT_ENOENT;
	*boff = off;
	if (bar == fn->fp.msix_table_bir && off >= fn->fp.msix_table_off &&
	    off - fn->fp.msix_table_off < (uint64_t)fn->nvec * 16) {
		*where = IN_TABLE;
		*rel = off - fn->fp.msix_table_off;
		return 0;
	}
	if (bar == fn->fp.msix_pba_bir && off >= fn->fp.msix_pba_off &&
	    off - fn->fp.msix_pba_off < (uint64_t)fn->pba_words * 8) {
		*where = IN_PBA;
		*rel = off - fn->fp.msix_pba_off;
		return 0;
	}
	return IOVIRT_ENOENT;
}

static struct sriov_msix_ent *ent_of(const struct sriov_fn *fn, uint32_t vf, uint32_t vec)
{
	return &fn->table[(size_t)vf * fn->nvec + vec];
}

static uint64_t *pba_of(const struct sriov_fn *fn, uint32_t vf)
{
	return &fn->pba[(size_t)vf * fn->pba_words];
}

static uint32_t ent_field(const struct sriov_msix_ent *e, unsigned i)
{
	const uint32_t f[4] = { e->addr_lo, e->addr_hi, e->data, e->ctrl };
	return f[i & 3];
}

static uint64_t ent_addr(const struct sriov_msix_ent *e)
{
	return (uint64_t)e->addr_hi << 32 | e->addr_lo;
}

/* Shape and ownership shared by reads and writes. */
static int msix_check(const struct iovirt_sriov *sr, uint32_t guest, uint32_t vf, uint64_t rel,
		      unsigned width)
{
	if (width != 4 && width != 8)
		return IOVIRT_EINVAL;
	if (!sr->vfs[vf].bound || sr->vfs[vf].guest != guest)
		return IOVIRT_EOWNER;
	/* table and PBA start 8-aligned and end on a multiple of 8: aligned
	 * accesses cannot cross their end */
	if (rel % width)
		return IOVIRT_EALIGN;
	return 0;
}

static int msix_read(struct iovirt_sriov *sr, uint32_t guest, uint64_t addr, unsigned width,
		     uint64_t *val, uint32_t *vfp, uint64_t *boff)
{
	enum msix_place where;
	uint64_t rel;
	int r = msix_decode(sr, addr, vfp, &where, &rel, boff);
	if (r)
		return r;
	uint32_t vf = *vfp;
	r = msix_check(sr, guest, vf, rel, width);
	if (r)
		return r;
	const struct sriov_fn *fn = sr->fn;
	if (where == IN_PBA) {
		uint64_t w = pba_of(fn, vf)[rel / 8];
		*val = width == 8 ? w : (uint32_t)(w >> (8 * (rel & 4)));
		return 0;
	}
	const struct sriov_msix_ent *e = ent_of(fn, vf, (uint32_t)(rel / 16));
	unsigned f = (unsigned)(rel % 16) / 4;
	uint64_t v = ent_field(e, f);
	if (width == 8)
		v |= (uint64_t)ent_field(e, f + 1) << 32;
	*val = v;
	return 0;
}

int iovirt_sriov_msix_read(struct iovirt_sriov *sr, uint32_t guest, uint64_t addr, unsigned width,
			   uint64_t *val)
{
	if (!sr || !val)
		return IOVIRT_EINVAL;
	if (!sr->fn || !sr->fn->nvec)
		return IOVIRT_ENOSYS;
	uint32_t vf = 0;
	uint64_t boff = 0;
	int r = msix_read(sr, guest, addr, width, val, &vf, &boff);
	if (r && r != IOVIRT_ENOENT)
		sriov_fn_report(sr, IOVIRT_SRIOV_EV_MSIX, vf, (uint32_t)boff, width, 0, r, false);
	return r;
}

/* Sets dword field f of the entry copy n to what the guest's v makes of it. */
static void ent_set(struct sriov_msix_ent *n, unsigned f, uint32_t v)
{
	switch (f) {
	case ENT_ADDR_LO:
		n->addr_lo = v & ~3u; /* dword-aligned messages: bits 1:0 read 0 */
		break;
	case ENT_ADDR_HI:
		n->addr_hi = v;
		break;
	case ENT_DATA:
		n->data = v;
		break;
	default:
		n->ctrl = v & 1u; /* only Mask Bit is implemented */
		break;
	}
}

static int msix_write(struct iovirt_sriov *sr, uint32_t guest, uint64_t addr, unsigned width,
		      uint64_t val, uint32_t *vfp, uint64_t *boff)
{
	enum msix_place where;
	uint64_t rel;
	int r = msix_decode(sr, addr, vfp, &where, &rel, boff);
	if (r)
		return r;
	uint32_t vf = *vfp;
	r = msix_check(sr, guest, vf, rel, width);
	if (r)
		return r;
	if (where == IN_PBA)
		return IOVIRT_EPERM; /* pending bits are the function's */
	const struct sriov_fn *fn = sr->fn;
	struct sriov_msix_ent *e = ent_of(fn, vf, (uint32_t)(rel / 16));
	struct sriov_msix_ent n = *e; /* prepare on a copy */
	unsigned f = (unsigned)(rel % 16) / 4;
	ent_set(&n, f, (uint32_t)val);
	if (width == 8)
		ent_set(&n, f + 1, (uint32_t)(val >> 32));
	/* an address write is judged with the other half as it stands */
	if ((f == ENT_ADDR_LO || f == ENT_ADDR_HI) && !sriov_fn_msi_ok(fn, ent_addr(&n)))
		return IOVIRT_EMSIWIN;
	*e = n;
	return 0;
}

int iovirt_sriov_msix_write(struct iovirt_sriov *sr, uint32_t guest, uint64_t addr, unsigned width,
			    uint64_t val)
{
	if (!sr)
		return IOVIRT_EINVAL;
	if (!sr->fn || !sr->fn->nvec)
		return IOVIRT_ENOSYS;
	if (width == 4)
		val &= UINT32_MAX;
	uint32_t vf = 0;
	uint64_t boff = 0;
	int r = msix_write(sr, guest, addr, width, val, &vf, &boff);
	if (r && r != IOVIRT_ENOENT)
		sriov_fn_report(sr, IOVIRT_SRIOV_EV_MSIX, vf, (uint32_t)boff, width, val, r, true);
	return r;
}

/* May VF vf send MSI-X messages at all? */
static int can_send(const struct iovirt_sriov *sr, uint32_t vf)
{
	const struct sriov_fn *fn = sr->fn;
	if (vf >= sr->d.nvfs)
		return IOVIRT_ENOVF;
	if (!(fn->vfc[vf].msix_ctrl & MSIX_CTRL_ENABLE))
		return IOVIRT_EDENIED;
	/* a message is a memory write: a function that may not master sends none */
	if (!atomic_load_explicit(&fn->bme[vf], memory_order_acquire))
		return IOVIRT_ENOMASTER;
	return 0;
}

static bool masked(const struct sriov_fn *fn, uint32_t vf, uint32_t vec)
{
	return (fn->vfc[vf].msix_ctrl & MSIX_CTRL_FMASK) || (ent_of(fn, vf, vec)->ctrl & 1u);
}

/* The message of vector vec, its pending bit cleared; EMSIWIN if never placed in the window. */
static int deliver(const struct sriov_fn *fn, uint32_t vf, uint32_t vec, struct iovirt_sriov_msi *msg)
{
	const struct sriov_msix_ent *e = ent_of(fn, vf, vec);
	pba_of(fn, vf)[vec / 64] &= ~(UINT64_C(1) << (vec % 64));
	msg->vector = vec;
	if (!sriov_fn_msi_ok(fn, ent_addr(e)))
		return IOVIRT_EMSIWIN;
	msg->addr = ent_addr(e);
	msg->data = e->data;
	return 0;
}

static int msix_signal(struct iovirt_sriov *sr, uint32_t vf, uint32_t vec, struct iovirt_sriov_msi *msg)
{
	const struct sriov_fn *fn = sr->fn;
	int r = can_send(sr, vf);
	if (r)
		return r;
	if (vec >= fn->nvec)
		return IOVIRT_EINDEX;
	if (masked(fn, vf, vec)) {
		pba_of(fn, vf)[vec / 64] |= UINT64_C(1) << (vec % 64);
		return IOVIRT_SRIOV_MSIX_PENDING;
	}
	return deliver(fn, vf, vec, msg);
}

int iovirt_sriov_msix_signal(struct iovirt_sriov *sr, uint32_t vf, uint32_t vector,
			     struct iovirt_sriov_msi *msg)
{
	if (!sr || !msg)
		return IOVIRT_EINVAL;
	if (!sr->fn || !sr->fn->nvec)
		return IOVIRT_ENOSYS;
	int r = msix_signal(sr, vf, vector, msg);
	if (r < 0)
		sriov_fn_report(sr, IOVIRT_SRIOV_EV_MSIX, vf, vector, 0, 0, r, false);
	return r;
}

int iovirt_sriov_msix_next(struct iovirt_sriov *sr, uint32_t vf, struct iovirt_sriov_msi *msg)
{
	if (!sr || !msg)
		return IOVIRT_EINVAL;
	if (!sr->fn || !sr->fn->nvec)
		return IOVIRT_ENOSYS;
	const struct sriov_fn *fn = sr->fn;
	int r = can_send(sr, vf);
	if (r)
		return r;
	if (fn->vfc[vf].msix_ctrl & MSIX_CTRL_FMASK)
		return IOVIRT_ENOENT;
	const uint64_t *pba = pba_of(fn, vf);
	for (uint32_t w = 0; w < fn->pba_words; w++) {
		uint64_t bits = pba[w];
		while (bits) {
			uint32_t vec = w * 64 + (uint32_t)__builtin_ctzll(bits);
			bits &= bits - 1;
			if (!masked(fn, vf, vec))
				return deliver(fn, vf, vec, msg);
		}
	}
	return IOVIRT_ENOENT;
}
