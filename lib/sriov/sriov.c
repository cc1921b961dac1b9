/* SPDX-License-Identifier: MIT */
/*
 * The SR-IOV object: create/destroy, VF binding, the RID -> ASID context
 * table and DMA translation through it, VF reset.
 */
#include <string.h>

#include "common/check.h"
#include "sriov/internal.h"

/* ---- create / destroy ---- */

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static int check_bars(const struct iovirt_sriov_params *p)
{
	for (unsigned i = 0; i < IOVIRT_SRIOV_NBARS; i++) {
		const struct iovirt_sriov_bar *b = &p->bars[i];
		if (b->flags & ~(uint32_t)(IOVIRT_SRIOV_BAR_64 | IOVIRT_SRIOV_BAR_PREFETCH))
			return IOVIRT_EINVAL;
		if (!b->size)
			continue;
		if (!pow2(b->size) || b->size < 16)
			return IOVIRT_EINVAL;
		if (b->flags & IOVIRT_SRIOV_BAR_64) {
			/* needs the next slot for its upper half, which must be free */
			if (i + 1 >= IOVIRT_SRIOV_NBARS || p->bars[i + 1].size ||
			    p->bars[i + 1].flags)
				return IOVIRT_EINVAL;
			if (b->size > (UINT64_C(1) << 62))
				return IOVIRT_EINVAL;
			i++;
		} else if (b->size > (UINT64_C(1) << 31)) {
			return IOVIRT_EINVAL;
		}
	}
	return 0;
}

static int check_regs(const struct iovirt_sriov_params *p)
{
	if (p->nregs > IOVIRT_SRIOV_MAX_REGS)
		return IOVIRT_EINVAL;
	if (!p->nregs)
		return 0;
	if (!p->regs || p->vf_regs_size == 0 || p->vf_regs_size > (UINT64_C(1) << 32))
		return IOVIRT_EINVAL;
	/* every VF's window must be addressable in the device's offsets */
	uint64_t all;
	if (!iovirt_mul_ok(p->vf_regs_size, p->total_vfs, &all))
		return IOVIRT_EINVAL;
	for (uint32_t i = 0; i < p->nregs; i++) {
		const struct iovirt_sriov_reg *g = &p->regs[i];
		if (g->width != 1 && g->width != 2 && g->width != 4 && g->width != 8)
			return IOVIRT_EINVAL;
		if (g->offset % g->width || (uint64_t)g->offset + g->width > p->vf_regs_size)
			return IOVIRT_EINVAL;
		switch (g->cls) {
		case IOVIRT_SRIOV_REG_GUEST:
		case IOVIRT_SRIOV_REG_SENSITIVE:
			break;
		case IOVIRT_SRIOV_REG_DMA_ADDR:
			if (g->width < 4 || !g->access ||
			    (g->access & ~(unsigned)(IOVIRT_PROT_READ | IOVIRT_PROT_WRITE)))
				return IOVIRT_EINVAL;
			break;
		default:
			return IOVIRT_EINVAL;
		}
	}
	return 0;
}

/* Does the PF have an ARI (Offset, Stride) pair? The lowest PF must; another may. */
bool sriov_has_ari_pair(const struct iovirt_sriov_params *p)
{
	return !(p->flags & IOVIRT_SRIOV_ARI_READONLY) || p->vf_offset_ari != 0;
}

static int check_params(const struct iovirt_sriov_params *p)
{
	/* version 1: every field through hook_arg */
	if (!IOVIRT_PARAMS_HAS(p, hook_arg) || !p->iommu)
		return IOVIRT_EINVAL;
	/* a VF reset frees table pages at once in that mode, under a lock-free
	 * dma_translate that passed the context check just before */
	if (iovirt_iommu_reclaim_mode(p->iommu) == IOVIRT_RECLAIM_AFTER_INVAL)
		return IOVIRT_EINVAL;
	if (p->total_vfs == 0 || p->initial_vfs > p->total_vfs)
		return IOVIRT_EINVAL;
	/* the spec: without VF Migration Capable, InitialVFs equals TotalVFs
	 * (and PF drivers refuse a device where it does not) */
	if (!(p->caps & IOVIRT_SRIOV_CAPS_VFM) && p->initial_vfs != p->total_vfs)
		return IOVIRT_EINVAL;
	if ((p->pf_rid >> 8) > p->bus_last || p->next_cap > 0xfff)
		return IOVIRT_EINVAL;
	/* VFs follow the PF and have distinct RIDs in both configurations */
	if (p->vf_offset == 0 || (p->total_vfs > 1 && p->vf_stride == 0))
		return IOVIRT_EINVAL;
	if (sriov_has_ari_pair(p) &&
	    (p->vf_offset_ari == 0 || (p->total_vfs > 1 && p->vf_stride_ari == 0)))
		return IOVIRT_EINVAL;
	if (p->flags & ~(uint32_t)IOVIRT_SRIOV_ARI_READONLY)
		return IOVIRT_EINVAL;
	/* every size the spec requires of a PF: a host of any of them can enable VFs */
	if ((p->sup_pgsizes & IOVIRT_SRIOV_PGSIZES_REQUIRED) != IOVIRT_SRIOV_PGSIZES_REQUIRED)
		return IOVIRT_EINVAL;
	for (unsigned i = 0; i < IOVIRT_SRIOV_PF_WINDOWS; i++) {
		/* a window may end exactly at 2^64: its last byte must not wrap */
		uint64_t last;
		if (p->pf_windows[i].size &&
		    !iovirt_add_ok(p->pf_windows[i].base, p->pf_windows[i].size - 1, &last))
			return IOVIRT_EINVAL;
	}
	int r = check_bars(p);
	return r ? r : check_regs(p);
}

/* RIDs the table must cover: every VF of either ARI configuration. */
static uint32_t ctx_span(const struct iovirt_sriov_params *p)
{
	uint64_t a = p->vf_offset + (uint64_t)(p->total_vfs - 1) * p->vf_stride + 1;
	if (sriov_has_ari_pair(p)) {
		uint64_t b = p->vf_offset_ari + (uint64_t)(p->total_vfs - 1) * p->vf_stride_ari + 1;
		if (b > a)
			a = b;
	}
	uint64_t room = 0x10000u - p->pf_rid; /* RIDs past 0xffff are refused anyway */
	return (uint32_t)(a < room ? a : room);
}

/* Sorts the copy by offset (insertion sort: maps are small and usually sorted). */
static int regmap_sort(struct iovirt_sriov_reg *m, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++) {
		struct iovirt_sriov_reg k = m[i];
		uint32_t j = i;
		while (j > 0 && m[j - 1].offset > k.offset) {
			m[j] = m[j - 1];
			j--;
		}
		m[j] = k;
	}
	for (uint32_t i = 1; i < n; i++)
		if ((uint64_t)m[i - 1].offset + m[i - 1].width > m[i].offset)
			return IOVIRT_EOVERLAP;
	return 0;
}

static void free_all(struct iovirt_sriov *sr)
{
	const struct iovirt_host_ops *ops = sr->ops;
	sriov_fn_free(sr);
	iovirt_host_free(ops, sr->host, sr->ctx, sr->ctx_len * sizeof(*sr->ctx));
	iovirt_host_free(ops, sr->host, sr->regmap, sr->p.nregs * sizeof(*sr->regmap));
	iovirt_host_free(ops, sr->host, sr->vfs, sr->p.total_vfs * sizeof(*sr->vfs));
	iovirt_host_free(ops, sr->host, sr, sizeof(*sr));
}

/* create, arrays: the VFs, the sorted copy of the register map and the
 * context table. On failure sr holds only what exists (free_all frees it). */
static int create_arrays(struct iovirt_sriov *sr, const struct iovirt_sriov_params *params)
{
	const struct iovirt_host_ops *ops = sr->ops;
	uint32_t nregs = sr->p.nregs;
	sr->p.regs = NULL;
	sr->p.nregs = 0; /* free_all frees only what exists */
	sr->p.total_vfs = 0;
	sr->vfs = iovirt_host_alloc(ops, sr->host, params->total_vfs * sizeof(*sr->vfs),
				    _Alignof(struct sriov_vf));
	if (!sr->vfs)
		return IOVIRT_ENOMEM;
	sr->p.total_vfs = params->total_vfs;
	if (nregs) {
		sr->regmap = iovirt_host_alloc(ops, sr->host, nregs * sizeof(*sr->regmap),
					       _Alignof(struct iovirt_sriov_reg));
		if (!sr->regmap)
			return IOVIRT_ENOMEM;
		sr->p.nregs = nregs;
		memcpy(sr->regmap, params->regs, nregs * sizeof(*sr->regmap));
		int r = regmap_sort(sr->regmap, nregs);
		if (r)
			return r;
	}
	uint32_t span = ctx_span(params);
	sr->ctx = iovirt_host_alloc(ops, sr->host, span * sizeof(*sr->ctx), _Alignof(_Atomic uint64_t));
	if (!sr->ctx)
		return IOVIRT_ENOMEM;
	sr->ctx_len = span;
	return 0;
}

/* create, state: no VF bound, no window, every context entry empty. */
static void create_state(struct iovirt_sriov *sr)
{
	for (uint32_t i = 0; i < sr->ctx_len; i++)
		atomic_init(&sr->ctx[i], 0);
	for (uint32_t v = 0; v < sr->p.total_vfs; v++)
		sr->vfs[v].guest = IOVIRT_SRIOV_NO_GUEST;
	atomic_init(&sr->win_seq, 0);
	atomic_init(&sr->win_n, 0);
	atomic_init(&sr->win_lo, UINT64_MAX);
	atomic_init(&sr->win_hi, 0);
	for (unsigned i = 0; i < SRIOV_NWIN; i++) {
		atomic_init(&sr->win[i].start, 0);
		atomic_init(&sr->win[i].last, 0);
	}
}

int iovirt_sriov_create(const struct iovirt_host_ops *ops, void *host,
			const struct iovirt_sriov_params *params, struct iovirt_sriov **out)
{
	if (!iovirt_host_ops_ok(ops) || !params || !out)
		return IOVIRT_EINVAL;
	int r = check_params(params);
	if (r)
		return r;
	if (!IOVIRT_HOST_HAS(ops, iotlb_inval))
		return IOVIRT_ENOSYS;
	if (params->nregs && (!IOVIRT_HOST_HAS(ops, reg_read) || !IOVIRT_HOST_HAS(ops, reg_write)))
		return IOVIRT_ENOSYS;

	struct iovirt_sriov *sr = iovirt_host_alloc(ops, host, sizeof(*sr), _Alignof(struct iovirt_sriov));
	if (!sr)
		return IOVIRT_ENOMEM;
	sr->ops = ops;
	sr->host = host;
	/* the version-1 fields; a field appended later is read with IOVIRT_PARAMS_HAS */
	memcpy(&sr->p, params, IOVIRT_SRIOV_PARAMS_SIZE_V1);
	sr->p.size = sizeof(sr->p);
	if ((r = create_arrays(sr, params))) {
		free_all(sr);
		return r;
	}
	create_state(sr);
	/* reset values: VF Enable clear, so commit touches no VF */
	struct sriov_regs regs;
	struct sriov_derived d;
	sriov_regs_reset(sr, &regs);
	r = sriov_derive(sr, &regs, &d);
	if (r) {
		free_all(sr);
		return r;
	}
	sriov_commit(sr, &regs, &d);
	*out = sr;
	return 0;
}

void iovirt_sriov_destroy(struct iovirt_sriov *sr)
{
	if (!sr)
		return;
	if (sr->d.enabled)
		sriov_vfs_reset(sr, 0, sr->d.nvfs);
	free_all(sr);
}

/* ---- VF info and binding ---- */

int iovirt_sriov_vf_info(const struct iovirt_sriov *sr, uint32_t vf, struct iovirt_sriov_vf_info *out)
{
	if (!sr || !out)
		return IOVIRT_EINVAL;
	if (vf >= sr->p.total_vfs)
		return IOVIRT_ENOVF;
	const struct sriov_vf *v = &sr->vfs[vf];
	memset(out, 0, sizeof(*out));
	out->index = vf;
	out->guest = v->guest;
	out->asid = v->asid;
	out->mmio_reads = v->mmio_reads;
	out->mmio_writes = v->mmio_writes;
	out->refused_sensitive = v->refused_sensitive;
	out->refused_dma = v->refused_dma;
	out->refused_other = v->refused_other;
	out->resets = v->resets;
	out->host_errors = v->host_errors;
	if (vf >= sr->d.nvfs) {
		out->state = IOVIRT_SRIOV_VF_DISABLED;
		return 0;
	}
	out->state = v->bound ? IOVIRT_SRIOV_VF_ASSIGNED : IOVIRT_SRIOV_VF_FREE;
	out->rid = sriov_rid_of(sr, &sr->d, vf);
	for (unsigned i = 0; i < IOVIRT_SRIOV_NBARS; i++) {
		const struct sriov_barwin *w = &sr->d.bar[i];
		if (w->decode)
			out->bar[i] = w->base + (uint64_t)vf * w->size; /* derive checked the span */
	}
	return 0;
}

static _Atomic uint64_t *ctx_slot(const struct iovirt_sriov *sr, uint32_t vf)
{
	return &sr->ctx[(uint16_t)(sriov_rid_of(sr, &sr->d, vf) - sr->p.pf_rid)];
}

int sriov_bind_check(const struct iovirt_sriov *sr, uint32_t guest, uint32_t asid)
{
	if (guest == IOVIRT_SRIOV_NO_GUEST || asid > IOVIRT_ASID_MAX)
		return IOVIRT_EINVAL;
	uint64_t root;
	unsigned levels;
	if (iovirt_pt_root(sr->p.iommu, asid, &root, &levels))
		return IOVIRT_ENOASID;
	return 0;
}

void sriov_bind_commit(struct iovirt_sriov *sr, uint32_t vf, uint32_t guest, uint32_t asid)
{
	struct sriov_vf *v = &sr->vfs[vf];
	IOVIRT_CHECK(vf < sr->d.nvfs && !v->bound);
	v->guest = guest;
	v->asid = asid;
	v->bound = true;
	atomic_store_explicit(ctx_slot(sr, vf),
			      SRIOV_CTX_BOUND | SRIOV_CTX_VF | (uint64_t)vf << SRIOV_CTX_VF_SHIFT | asid,
			      memory_order_release);
}

int iovirt_sriov_vf_bind(struct iovirt_sriov *sr, uint32_t vf, uint32_t guest, uint32_t asid)
{
	if (!sr)
		return IOVIRT_EINVAL;
	if (vf >= sr->d.nvfs)
		return IOVIRT_ENOVF;
	if (sr->vfs[vf].bound)
		return IOVIRT_EBUSY;
	int err = sriov_bind_check(sr, guest, asid);
	if (err)
		return err;
	/* reset unmaps the ASID: sharing it would let one VF's reset cut another's DMA */
	for (uint32_t i = 0; i < sr->d.nvfs; i++)
		if (sr->vfs[i].bound && sr->vfs[i].asid == asid)
			return IOVIRT_EDUP;
	sriov_bind_commit(sr, vf, guest, asid);
	return 0;
}

/* ---- the lock-free side ---- */

static inline int ctx_get(const struct iovirt_sriov *sr, uint16_t rid, uint64_t *e)
{
	/* rids below the PF wrap to large indices and miss */
	uint32_t idx = (uint16_t)(rid - sr->p.pf_rid);
	if (IOVIRT_UNLIKELY(idx >= sr->ctx_len))
		return IOVIRT_ENOVF;
	uint64_t v = atomic_load_explicit(&sr->ctx[idx], memory_order_acquire);
	if (IOVIRT_UNLIKELY(!(v & SRIOV_CTX_VF)))
		return IOVIRT_ENOVF;
	if (IOVIRT_UNLIKELY(!(v & SRIOV_CTX_BOUND)))
		return IOVIRT_ENOASID;
	*e = v;
	return 0;
}

int iovirt_sriov_rid_lookup(const struct iovirt_sriov *sr, uint16_t rid, uint32_t *vf, uint32_t *asid)
{
	uint64_t e;
	int r = ctx_get(sr, rid, &e);
	if (r)
		return r;
	if (vf)
		*vf = (uint32_t)(e >> SRIOV_CTX_VF_SHIFT) & 0xffff;
	if (asid)
		*asid = (uint32_t)(e & SRIOV_CTX_ASID_MASK);
	return 0;
}

/*
 * Does [first, last] (inclusive physical addresses) touch a register window?
 * Reader side of the window seqlock: retries while a config commit runs.
 */
static bool windows_hit(const struct iovirt_sriov *sr, uint64_t first, uint64_t last)
{
	struct iovirt_sriov *w = (struct iovirt_sriov *)sr;
	for (;;) {
		uint32_t s1 = atomic_load_explicit(&w->win_seq, memory_order_acquire);
		bool hit = false;
		if (!(s1 & 1)) {
			uint64_t lo = atomic_load_explicit(&w->win_lo, memory_order_acquire);
			uint64_t hi = atomic_load_explicit(&w->win_hi, memory_order_acquire);
			if (lo <= last && first <= hi) {
				uint32_t n = atomic_load_explicit(&w->win_n, memory_order_acquire);
				if (n > SRIOV_NWIN)
					n = SRIOV_NWIN; /* cannot happen; keeps the loop in bounds */
				for (uint32_t i = 0; i < n; i++) {
					uint64_t s = atomic_load_explicit(&w->win[i].start,
									  memory_order_acquire);
					uint64_t e = atomic_load_explicit(&w->win[i].last,
									  memory_order_acquire);
					if (s <= last && first <= e)
						hit = true;
				}
			}
			/* acquire loads above keep this load after them */
			if (atomic_load_explicit(&w->win_seq, memory_order_relaxed) == s1)
				return hit;
		}
	}
}

bool sriov_reentrant(const struct iovirt_sriov *sr, uint64_t first, uint64_t last)
{
	return windows_hit(sr, first & ~IOVIRT_PAGE_MASK, last | IOVIRT_PAGE_MASK);
}

int iovirt_sriov_dma_translate(const struct iovirt_sriov *sr, uint16_t rid, uint64_t iova,
			       unsigned access, struct iovirt_xlate *out)
{
	uint64_t e;
	int r = ctx_get(sr, rid, &e);
	if (r)
		return r;
	/* a VF without Bus Master Enable issues no request (create_fn only) */
	if (IOVIRT_UNLIKELY(!sriov_fn_bme_ok(sr, (uint32_t)(e >> SRIOV_CTX_VF_SHIFT) & 0xffff)))
		return IOVIRT_ENOMASTER;
	r = iovirt_pt_translate(sr->p.iommu, (uint32_t)(e & SRIOV_CTX_ASID_MASK), iova, access, out);
	if (r)
		return r;
	/* a DMA into register space could start a register access from inside one */
	if (sriov_reentrant(sr, out->pa, out->pa))
		return IOVIRT_EREENTRANT;
	return 0;
}

/* ---- reset ---- */

/* Removes every mapping of asid: the widest range the space accepts. */
static void unmap_all(struct iovirt_sriov *sr, uint32_t asid)
{
	static const unsigned widths[] = { 57, 48, 39, 32 };
	for (unsigned i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
		int64_t r = iovirt_pt_unmap(sr->p.iommu, asid, 0, UINT64_C(1) << widths[i]);
		if (r != IOVIRT_ERANGE)
			return;
	}
}

/*
 * Resets VFs [first, first + count), phase by phase across all of them so
 * that every VF's DMA stops before any of their memory goes away.
 */
void sriov_vfs_reset(struct iovirt_sriov *sr, uint32_t first, uint32_t count)
{
	const struct iovirt_host_ops *ops = sr->ops;
	/* 1: new DMA faults (the entry stays a VF, unbound) */
	for (uint32_t v = first; v < first + count; v++)
		atomic_store_explicit(ctx_slot(sr, v),
				      SRIOV_CTX_VF | (uint64_t)v << SRIOV_CTX_VF_SHIFT,
				      memory_order_seq_cst);
	/* 2: DMAs that already hold pins finish or are cancelled */
	for (uint32_t v = first; v < first + count; v++)
		if (sr->vfs[v].bound && sr->p.dma_quiesce)
			sr->p.dma_quiesce(sr->p.hook_arg, v, sriov_rid_of(sr, &sr->d, v),
					  sr->vfs[v].asid);
	/* 3: nothing of the guest stays reachable, not even in an IOTLB */
	for (uint32_t v = first; v < first + count; v++) {
		if (!sr->vfs[v].bound)
			continue;
		unmap_all(sr, sr->vfs[v].asid);
		struct iovirt_inval inv = { .asid = sr->vfs[v].asid, .kind = IOVIRT_INVAL_ASID };
		ops->iotlb_inval(sr->host, &inv);
		sriov_fn_devtlb(sr, v, &inv); /* ATS: the device's cached translations too */
	}
	/* 4: the device forgets what the guest programmed */
	for (uint32_t v = first; v < first + count; v++) {
		uint64_t base = (uint64_t)v * sr->p.vf_regs_size;
		for (uint32_t i = 0; i < sr->p.nregs; i++) {
			const struct iovirt_sriov_reg *g = &sr->regmap[i];
			if (ops->reg_write(sr->host, sr->p.vf_reg_dev, base + g->offset, g->width,
					   g->reset))
				sr->vfs[v].host_errors++;
		}
	}
	/* 5: free for the next owner */
	for (uint32_t v = first; v < first + count; v++) {
		struct sriov_vf *f = &sr->vfs[v];
		sriov_fn_vf_reset(sr, v); /* config space, MSI-X, ATS (needs the binding) */
		f->bound = false;
		f->guest = IOVIRT_SRIOV_NO_GUEST;
		f->asid = 0;
		f->resets++;
	}
}

int iovirt_sriov_vf_reset(struct iovirt_sriov *sr, uint32_t vf)
{
	if (!sr)
		return IOVIRT_EINVAL;
	if (vf >= sr->d.nvfs)
		return IOVIRT_ENOVF;
	sriov_vfs_reset(sr, vf, 1);
	return 0;
}
