/* SPDX-License-Identifier: MIT */
/*
 * The SR-IOV Extended Capability: register file, write masks, the rules,
 * and the one function (sriov_derive) from which all VF state follows.
 */
#include <string.h>

#include "common/check.h"
#include "sriov/internal.h"

#define BAR_FLAG_BITS 0xFu
#define BAR_TYPE_64 0x4u /* bits 2:1 = 10b */
#define BAR_PREFETCH 0x8u

static bool bar_is_upper(const struct iovirt_sriov *sr, unsigned i)
{
	return i > 0 && (sr->p.bars[i - 1].flags & IOVIRT_SRIOV_BAR_64) &&
	       sr->p.bars[i - 1].size;
}

static uint32_t bar_flags(const struct iovirt_sriov_bar *b)
{
	return ((b->flags & IOVIRT_SRIOV_BAR_64) ? BAR_TYPE_64 : 0) |
	       ((b->flags & IOVIRT_SRIOV_BAR_PREFETCH) ? BAR_PREFETCH : 0);
}

/* System Page Size in bytes; 4 KiB when the register is not one bit (derive refuses that). */
static uint64_t regs_pgsize(const struct sriov_regs *r)
{
	uint32_t v = sriov_regs_get(r, IOVIRT_SRIOV_SYS_PGSIZE, 4);
	if (v == 0 || (v & (v - 1)))
		return IOVIRT_PAGE_SIZE;
	return IOVIRT_PAGE_SIZE << __builtin_ctz(v);
}

static uint64_t bar_eff_size(const struct iovirt_sriov_bar *b, uint64_t pgsize)
{
	if (!b->size)
		return 0;
	return b->size > pgsize ? b->size : pgsize;
}

void sriov_regs_reset(const struct iovirt_sriov *sr, struct sriov_regs *r)
{
	const struct iovirt_sriov_params *p = &sr->p;
	memset(r, 0, sizeof(*r));
	sriov_regs_put(r, IOVIRT_SRIOV_HDR, 4,
		 IOVIRT_SRIOV_CAP_ID | (uint32_t)IOVIRT_SRIOV_CAP_VERSION << 16 |
			 (uint32_t)(p->next_cap & 0xfff) << 20);
	sriov_regs_put(r, IOVIRT_SRIOV_CAPS, 4, p->caps);
	sriov_regs_put(r, IOVIRT_SRIOV_INITIAL_VFS, 2, p->initial_vfs);
	sriov_regs_put(r, IOVIRT_SRIOV_TOTAL_VFS, 2, p->total_vfs);
	sriov_regs_put(r, IOVIRT_SRIOV_FDL, 1, p->fdl);
	sriov_regs_put(r, IOVIRT_SRIOV_VF_DID, 2, p->vf_device_id);
	sriov_regs_put(r, IOVIRT_SRIOV_SUP_PGSIZE, 4, p->sup_pgsizes);
	sriov_regs_put(r, IOVIRT_SRIOV_SYS_PGSIZE, 4, 1); /* 4 KiB, the spec's default */
	sriov_regs_normalize(sr, r);
}

/* The bits of byte `off` a config write may change (before normalization). */
uint8_t sriov_wmask(const struct iovirt_sriov *sr, unsigned off)
{
	if (off == IOVIRT_SRIOV_CTRL) {
		/* every bit the Capabilities (and the PF's place) make RW, no other */
		uint8_t m = IOVIRT_SRIOV_CTRL_VFE | IOVIRT_SRIOV_CTRL_MSE;
		if (!(sr->p.flags & IOVIRT_SRIOV_ARI_READONLY))
			m |= IOVIRT_SRIOV_CTRL_ARI;
		if (sr->p.caps & IOVIRT_SRIOV_CAPS_VFM)
			m |= IOVIRT_SRIOV_CTRL_VFM | IOVIRT_SRIOV_CTRL_VFMIE;
		if (sr->p.caps & IOVIRT_SRIOV_CAPS_VF10BIT)
			m |= IOVIRT_SRIOV_CTRL_VF10BIT;
		return m;
	}
	if (off >= IOVIRT_SRIOV_NUM_VFS && off < IOVIRT_SRIOV_NUM_VFS + 2)
		return 0xff;
	if (off >= IOVIRT_SRIOV_SYS_PGSIZE && off < IOVIRT_SRIOV_SYS_PGSIZE + 4)
		return 0xff;
	if (off >= IOVIRT_SRIOV_VF_BAR0 && off < IOVIRT_SRIOV_VF_MIGR) {
		unsigned i = (off - IOVIRT_SRIOV_VF_BAR0) / 4;
		if (bar_is_upper(sr, i))
			return 0xff;
		if (!sr->p.bars[i].size)
			return 0;
		/* address bits; normalization clears those below the size */
		return (off & 3) ? 0xff : (uint8_t)~BAR_FLAG_BITS;
	}
	return 0;
}

/* ARI Capable Hierarchy in force: this PF's bit, or the lowest PF's it follows. */
static bool regs_ari(const struct sriov_regs *r)
{
	return (sriov_regs_get(r, IOVIRT_SRIOV_CTRL, 2) & IOVIRT_SRIOV_CTRL_ARI) || r->ari_lowest;
}

/*
 * Makes the fields that follow from other fields agree with them: First VF
 * Offset and VF Stride from ARI Capable Hierarchy, VF BAR flag bits and the
 * address bits below each BAR's size (which follows System Page Size), which
 * read as zero, as the sizing protocol needs. Idempotent.
 */
void sriov_regs_normalize(const struct iovirt_sriov *sr, struct sriov_regs *r)
{
	const struct iovirt_sriov_params *p = &sr->p;
	bool ari = regs_ari(r);
	sriov_regs_put(r, IOVIRT_SRIOV_VF_OFFSET, 2, ari ? p->vf_offset_ari : p->vf_offset);
	sriov_regs_put(r, IOVIRT_SRIOV_VF_STRIDE, 2, ari ? p->vf_stride_ari : p->vf_stride);

	uint64_t pgsize = regs_pgsize(r);
	for (unsigned i = 0; i < IOVIRT_SRIOV_NBARS; i++) {
		unsigned off = IOVIRT_SRIOV_VF_BAR0 + 4 * i;
		if (bar_is_upper(sr, i))
			continue; /* done with its lower half */
		const struct iovirt_sriov_bar *b = &p->bars[i];
		uint64_t sz = bar_eff_size(b, pgsize);
		if (!sz) {
			sriov_regs_put(r, off, 4, 0);
			continue;
		}
		uint64_t mask = ~(sz - 1);
		uint32_t lo = sriov_regs_get(r, off, 4);
		lo = (lo & (uint32_t)mask & ~BAR_FLAG_BITS) | bar_flags(b);
		sriov_regs_put(r, off, 4, lo);
		if (b->flags & IOVIRT_SRIOV_BAR_64) {
			uint32_t hi = sriov_regs_get(r, off + 4, 4);
			sriov_regs_put(r, off + 4, 4, hi & (uint32_t)(mask >> 32));
		}
	}
}

/* Phase 1 of sriov_derive: System Page Size, one size the PF supports. */
static int derive_pgsize(const struct iovirt_sriov *sr, const struct sriov_regs *r,
			 struct sriov_derived *n)
{
	uint32_t sys = sriov_regs_get(r, IOVIRT_SRIOV_SYS_PGSIZE, 4);
	if (sys == 0 || (sys & (sys - 1)) || !(sys & sr->p.sup_pgsizes))
		return IOVIRT_EINVAL;
	n->pgsize = regs_pgsize(r);
	return 0;
}

/* Phase 2: the enabled VFs and their RIDs, which must all exist on the PF's buses. */
static int derive_vfs(const struct iovirt_sriov *sr, const struct sriov_regs *r,
		      struct sriov_derived *n)
{
	const struct iovirt_sriov_params *p = &sr->p;
	bool ari = regs_ari(r);
	n->offset = ari ? p->vf_offset_ari : p->vf_offset;
	n->stride = ari ? p->vf_stride_ari : p->vf_stride;
	n->enabled = sriov_regs_get(r, IOVIRT_SRIOV_CTRL, 2) & IOVIRT_SRIOV_CTRL_VFE;
	if (!n->enabled)
		return 0;
	uint32_t num = sriov_regs_get(r, IOVIRT_SRIOV_NUM_VFS, 2);
	if (num == 0)
		return IOVIRT_ENOVF;
	if (num > p->total_vfs)
		return IOVIRT_ELIMIT; /* the CVE-2024-26327 class: never trust NumVFs */
	/* 16 + 16 + 16x16 bits: cannot wrap 64 bits */
	uint64_t last = (uint64_t)p->pf_rid + n->offset + (uint64_t)(num - 1) * n->stride;
	if (last > 0xffff)
		return IOVIRT_EOVERFLOW;
	if ((last >> 8) > p->bus_last)
		return IOVIRT_ERANGE;
	n->nvfs = num;
	return 0;
}

/* Phase 3: where VF BAR i decodes, given the page size and VF count above. */
static void derive_bar(const struct iovirt_sriov *sr, const struct sriov_regs *r,
		       struct sriov_derived *n, unsigned i)
{
	const struct iovirt_sriov_bar *b = &sr->p.bars[i];
	struct sriov_barwin *w = &n->bar[i];
	w->size = bar_eff_size(b, n->pgsize);
	if (!w->size)
		return;
	unsigned off = IOVIRT_SRIOV_VF_BAR0 + 4 * i;
	w->base = sriov_regs_get(r, off, 4) & ~(uint64_t)BAR_FLAG_BITS;
	if (b->flags & IOVIRT_SRIOV_BAR_64)
		w->base |= (uint64_t)sriov_regs_get(r, off + 4, 4) << 32;
	uint64_t span, last;
	/* A BAR whose VF range wraps (or leaves 4 GiB for a 32-bit BAR)
	 * cannot be placed: it does not decode rather than alias. The
	 * range may end exactly at 2^64 (or 4 GiB): judged by its last
	 * byte, since its end is not representable. span is 0 only
	 * when VF Enable is clear, and then nothing decodes anyway. */
	bool fits = iovirt_mul_ok(w->size, n->nvfs, &span) && span != 0 &&
		    iovirt_add_ok(w->base, span - 1, &last) &&
		    ((b->flags & IOVIRT_SRIOV_BAR_64) || last <= UINT32_MAX);
	bool mse = sriov_regs_get(r, IOVIRT_SRIOV_CTRL, 2) & IOVIRT_SRIOV_CTRL_MSE;
	/* base 0 means "not assigned" (no OS assigns it) */
	w->decode = n->enabled && mse && w->base != 0 && fits;
}

int sriov_derive(const struct iovirt_sriov *sr, const struct sriov_regs *r,
		 struct sriov_derived *d)
{
	struct sriov_derived n;
	memset(&n, 0, sizeof(n));
	int e = derive_pgsize(sr, r, &n);
	if (e == 0)
		e = derive_vfs(sr, r, &n);
	if (e)
		return e;
	for (unsigned i = 0; i < IOVIRT_SRIOV_NBARS; i++)
		if (!bar_is_upper(sr, i))
			derive_bar(sr, r, &n, i);
	*d = n;
	return 0;
}

uint16_t sriov_rid_of(const struct iovirt_sriov *sr, const struct sriov_derived *d, uint32_t vf)
{
	return (uint16_t)(sr->p.pf_rid + d->offset + vf * d->stride);
}

/*
 * Publishes the register windows (decoded VF BARs, then the PF's) to
 * lock-free translators: seqlock writer side, list packed so that readers
 * test only windows that exist.
 */
static void publish_windows(struct iovirt_sriov *sr, const struct sriov_derived *d)
{
	uint64_t st[SRIOV_NWIN], la[SRIOV_NWIN];
	uint32_t n = 0;
	for (unsigned i = 0; i < IOVIRT_SRIOV_NBARS; i++) {
		const struct sriov_barwin *w = &d->bar[i];
		if (w->decode && d->nvfs) {
			st[n] = w->base;
			la[n++] = w->base + (w->size * d->nvfs - 1); /* derive checked it fits */
		}
	}
	for (unsigned i = 0; i < IOVIRT_SRIOV_PF_WINDOWS; i++) {
		const struct iovirt_sriov_window *w = &sr->p.pf_windows[i];
		if (w->size) {
			st[n] = w->base;
			la[n++] = w->base + (w->size - 1); /* create checked it fits */
		}
	}
	uint64_t lo = UINT64_MAX, hi = 0;
	for (uint32_t i = 0; i < n; i++) {
		lo = st[i] < lo ? st[i] : lo;
		hi = la[i] > hi ? la[i] : hi;
	}
	uint32_t s = atomic_load_explicit(&sr->win_seq, memory_order_relaxed);
	atomic_store_explicit(&sr->win_seq, s + 1, memory_order_relaxed);
	/* release stores (not a fence, which ThreadSanitizer cannot follow):
	 * a reader that sees any new value also sees the odd count */
	for (uint32_t i = 0; i < n; i++) {
		atomic_store_explicit(&sr->win[i].start, st[i], memory_order_release);
		atomic_store_explicit(&sr->win[i].last, la[i], memory_order_release);
	}
	atomic_store_explicit(&sr->win_n, n, memory_order_release);
	atomic_store_explicit(&sr->win_lo, lo, memory_order_release);
	atomic_store_explicit(&sr->win_hi, hi, memory_order_release);
	atomic_store_explicit(&sr->win_seq, s + 2, memory_order_release);
}

/*
 * Makes r and d (from sriov_derive(r)) the current state. Cannot fail.
 * VF disable resets every VF before the VFs stop existing; VF enable makes
 * their context entries known (unbound: their DMA faults until bind).
 */
void sriov_commit(struct iovirt_sriov *sr, const struct sriov_regs *r,
		  const struct sriov_derived *d)
{
	struct sriov_derived old = sr->d;
	if (old.enabled && !d->enabled) {
		sriov_vfs_reset(sr, 0, old.nvfs);
		for (uint32_t v = 0; v < old.nvfs; v++) {
			uint16_t idx = (uint16_t)(sriov_rid_of(sr, &old, v) - sr->p.pf_rid);
			atomic_store_explicit(&sr->ctx[idx], 0, memory_order_release);
		}
	}
	if (!old.enabled && d->enabled) {
		for (uint32_t v = 0; v < d->nvfs; v++) {
			uint16_t idx = (uint16_t)(sriov_rid_of(sr, d, v) - sr->p.pf_rid);
			atomic_store_explicit(&sr->ctx[idx],
					      SRIOV_CTX_VF | (uint64_t)v << SRIOV_CTX_VF_SHIFT,
					      memory_order_release);
		}
	}
	publish_windows(sr, d);
	sr->regs = *r;
	sr->d = *d;
}

static int check_access(uint32_t offset, unsigned width)
{
	if (width != 1 && width != 2 && width != 4)
		return IOVIRT_EINVAL;
	if (offset >= IOVIRT_SRIOV_CAP_SIZE)
		return IOVIRT_ERANGE;
	/* PCIe config requests address one dword with byte enables */
	if ((offset & 3) + width > 4)
		return IOVIRT_EALIGN;
	return 0;
}

int iovirt_sriov_cfg_read(const struct iovirt_sriov *sr, uint32_t offset, unsigned width,
			  uint32_t *val)
{
	if (!sr || !val)
		return IOVIRT_EINVAL;
	int r = check_access(offset, width);
	if (r)
		return r;
	*val = sriov_regs_get(&sr->regs, offset, width);
	return 0;
}

int iovirt_sriov_cfg_write(struct iovirt_sriov *sr, uint32_t offset, unsigned width, uint32_t val)
{
	if (!sr)
		return IOVIRT_EINVAL;
	int r = check_access(offset, width);
	if (r)
		return r;

	/* prepare on a copy */
	const struct sriov_regs *old = &sr->regs;
	struct sriov_regs n = *old;
	for (unsigned i = 0; i < width; i++) {
		uint8_t m = sriov_wmask(sr, offset + i);
		uint8_t v = (uint8_t)(val >> (8 * i));
		n.b[offset + i] = (uint8_t)((n.b[offset + i] & ~m) | (v & m));
	}
	sriov_regs_normalize(sr, &n);

	/* fields frozen while the VFs exist (judged on the state before the access) */
	if (sr->d.enabled) {
		uint32_t co = sriov_regs_get(old, IOVIRT_SRIOV_CTRL, 2);
		uint32_t cn = sriov_regs_get(&n, IOVIRT_SRIOV_CTRL, 2);
		if (sriov_regs_get(old, IOVIRT_SRIOV_NUM_VFS, 2) !=
			    sriov_regs_get(&n, IOVIRT_SRIOV_NUM_VFS, 2) ||
		    sriov_regs_get(old, IOVIRT_SRIOV_SYS_PGSIZE, 4) !=
			    sriov_regs_get(&n, IOVIRT_SRIOV_SYS_PGSIZE, 4) ||
		    ((co ^ cn) & IOVIRT_SRIOV_CTRL_ARI))
			return IOVIRT_EBUSY;
	}
	struct sriov_derived d;
	r = sriov_derive(sr, &n, &d);
	if (r)
		return r;
	sriov_commit(sr, &n, &d);
	return 0;
}

void iovirt_sriov_pf_reset(struct iovirt_sriov *sr)
{
	if (!sr)
		return;
	struct sriov_regs n;
	struct sriov_derived d;
	sriov_regs_reset(sr, &n);
	/* the followed ARI hierarchy is the lowest PF's: this PF's reset keeps it */
	n.ari_lowest = sr->regs.ari_lowest;
	sriov_regs_normalize(sr, &n);
	/* reset values always derive: VF Enable clear, 4 KiB required at create */
	int r = sriov_derive(sr, &n, &d);
	IOVIRT_CHECK(r == 0);
	sriov_commit(sr, &n, &d);
	sriov_fn_pf_reset(sr); /* ACS Control (pfcaps.c) */
}

uint32_t iovirt_sriov_num_enabled(const struct iovirt_sriov *sr)
{
	return sr ? sr->d.nvfs : 0;
}

int iovirt_sriov_vf_rid(const struct iovirt_sriov *sr, uint32_t vf, uint16_t *rid)
{
	if (!sr || !rid)
		return IOVIRT_EINVAL;
	if (vf >= sr->d.nvfs)
		return IOVIRT_ENOVF;
	*rid = sriov_rid_of(sr, &sr->d, vf);
	return 0;
}

int iovirt_sriov_bar_decode(const struct iovirt_sriov *sr, uint64_t addr, uint32_t *vf,
			    unsigned *bar, uint64_t *off)
{
	if (!sr)
		return IOVIRT_EINVAL;
	for (unsigned i = 0; i < IOVIRT_SRIOV_NBARS; i++) {
		const struct sriov_barwin *w = &sr->d.bar[i];
		if (!w->decode || addr < w->base)
			continue;
		uint64_t rel = addr - w->base;
		unsigned sh = (unsigned)__builtin_ctzll(w->size);
		if ((rel >> sh) >= sr->d.nvfs)
			continue;
		if (vf)
			*vf = (uint32_t)(rel >> sh);
		if (bar)
			*bar = i;
		if (off)
			*off = rel & (w->size - 1);
		return 0;
	}
	return IOVIRT_ENOENT;
}

int iovirt_sriov_set_ari_hierarchy(struct iovirt_sriov *sr, bool on)
{
	if (!sr || !(sr->p.flags & IOVIRT_SRIOV_ARI_READONLY))
		return IOVIRT_EINVAL;
	if (on && !sriov_has_ari_pair(&sr->p))
		return IOVIRT_EINVAL;
	if (sr->regs.ari_lowest == on)
		return 0;
	/* Offset and Stride give the RIDs of live VFs */
	if (sr->d.enabled)
		return IOVIRT_EBUSY;
	struct sriov_regs n = sr->regs;
	n.ari_lowest = on;
	sriov_regs_normalize(sr, &n);
	struct sriov_derived d;
	/* VF Enable is clear: nothing depends on the RIDs yet, so this derives */
	int r = sriov_derive(sr, &n, &d);
	if (r)
		return r;
	sriov_commit(sr, &n, &d);
	return 0;
}
