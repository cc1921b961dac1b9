/* SPDX-License-Identifier: MIT */
/*
 * create_fn: the functions' emulation sized and allocated at create; the
 * hooks the SR-IOV object calls at bind, reset and DMA; ATS registration.
 */
#include <string.h>

#include "sriov/fn.h"

#define X86_IRQ_BASE UINT64_C(0xfee00000)
#define X86_IRQ_SIZE UINT64_C(0x100000)
#define ACS_CAPS_OK (IOVIRT_ACS_SV | IOVIRT_ACS_TB | IOVIRT_ACS_RR | IOVIRT_ACS_CR | \
		     IOVIRT_ACS_UF | IOVIRT_ACS_DT)
#define ATS_CAPS_OK 0x60u

static bool bar_usable(const struct iovirt_sriov_params *p, unsigned i)
{
	if (i >= IOVIRT_SRIOV_NBARS || !p->bars[i].size)
		return false;
	/* the upper half of a 64-bit BAR is no BAR of its own */
	return !(i > 0 && (p->bars[i - 1].flags & IOVIRT_SRIOV_BAR_64) && p->bars[i - 1].size);
}

/* [off, off + len) lies in BAR bir's declared size (the smallest it decodes). */
static bool in_bar(const struct iovirt_sriov_params *p, unsigned bir, uint64_t off, uint64_t len)
{
	return bar_usable(p, bir) && off % 8 == 0 && len <= p->bars[bir].size &&
	       off <= p->bars[bir].size - len;
}

static bool cap_place_ok(uint32_t off, uint32_t len)
{
	return off >= 0x100 && off % 4 == 0 && off + len <= 0x1000;
}

static bool overlap(uint32_t a, uint32_t al, uint32_t b, uint32_t bl)
{
	return a < b + bl && b < a + al;
}

static int check_pf_caps(const struct iovirt_sriov_fn_params *f)
{
	bool ari = f->flags & IOVIRT_SRIOV_FN_ARI, acs = f->flags & IOVIRT_SRIOV_FN_ACS;
	if (!cap_place_ok(f->pf_sriov_off, IOVIRT_SRIOV_CAP_SIZE))
		return IOVIRT_EINVAL;
	if (ari && (!cap_place_ok(f->pf_ari_off, 8) ||
		    overlap(f->pf_ari_off, 8, f->pf_sriov_off, IOVIRT_SRIOV_CAP_SIZE)))
		return IOVIRT_EINVAL;
	if (acs && (!cap_place_ok(f->pf_acs_off, 8) ||
		    overlap(f->pf_acs_off, 8, f->pf_sriov_off, IOVIRT_SRIOV_CAP_SIZE) ||
		    (ari && overlap(f->pf_acs_off, 8, f->pf_ari_off, 8))))
		return IOVIRT_EINVAL;
	if (f->acs_caps & ~(uint32_t)ACS_CAPS_OK)
		return IOVIRT_EINVAL; /* Egress Control needs a vector we do not emulate */
	if (f->ats_caps & ~ATS_CAPS_OK)
		return IOVIRT_EINVAL; /* a VF's Invalidate Queue Depth is RO 0 (the PF's applies) */
	return 0;
}

static int check_fn(const struct iovirt_sriov_params *p, const struct iovirt_sriov_fn_params *f)
{
	if (f->size < sizeof(*f))
		return IOVIRT_EINVAL;
	if (f->flags & ~(uint32_t)(IOVIRT_SRIOV_FN_ARI | IOVIRT_SRIOV_FN_ACS | IOVIRT_SRIOV_FN_ATS))
		return IOVIRT_EINVAL;
	if (f->class_code > 0xffffff || f->msix_vectors > MSIX_MAX_VECTORS)
		return IOVIRT_EINVAL;
	if (f->irq_size) {
		uint64_t last;
		/* one dword message must fit; the window may end at 2^64 */
		if (f->irq_size < 4 || f->irq_base % 4 || f->irq_size % 4 ||
		    !iovirt_add_ok(f->irq_base, f->irq_size - 1, &last))
			return IOVIRT_EINVAL;
	}
	if (f->msix_vectors) {
		uint64_t tlen = (uint64_t)f->msix_vectors * 16;
		uint64_t plen = (uint64_t)(f->msix_vectors + 63) / 64 * 8;
		if (!in_bar(p, f->msix_table_bir, f->msix_table_off, tlen) ||
		    !in_bar(p, f->msix_pba_bir, f->msix_pba_off, plen))
			return IOVIRT_EINVAL;
		if (f->msix_table_bir == f->msix_pba_bir &&
		    (uint64_t)f->msix_table_off < f->msix_pba_off + plen &&
		    (uint64_t)f->msix_pba_off < f->msix_table_off + tlen)
			return IOVIRT_EINVAL;
	}
	return check_pf_caps(f);
}

static void fn_free(const struct iovirt_host_ops *ops, void *host, struct sriov_fn *fn)
{
	if (!fn)
		return;
	iovirt_host_free(ops, host, fn->pba, (size_t)fn->total * fn->pba_words * sizeof(*fn->pba));
	iovirt_host_free(ops, host, fn->table, (size_t)fn->total * fn->nvec * sizeof(*fn->table));
	iovirt_host_free(ops, host, (void *)fn->bme, fn->total * sizeof(*fn->bme));
	iovirt_host_free(ops, host, fn->vfc, fn->total * sizeof(*fn->vfc));
	iovirt_host_free(ops, host, fn, sizeof(*fn));
}

void sriov_fn_free(struct iovirt_sriov *sr)
{
	fn_free(sr->ops, sr->host, sr->fn);
	sr->fn = NULL;
}

/* Allocates every array for total VFs; NULL when any allocation fails (nothing held). */
static struct sriov_fn *fn_alloc(const struct iovirt_host_ops *ops, void *host,
				 const struct iovirt_sriov_fn_params *f, uint32_t total)
{
	struct sriov_fn *fn = iovirt_host_alloc(ops, host, sizeof(*fn), _Alignof(struct sriov_fn));
	if (!fn)
		return NULL;
	fn->fp = *f;
	fn->fp.size = sizeof(fn->fp);
	fn->nvec = f->msix_vectors;
	fn->pba_words = (fn->nvec + 63) / 64;
	fn->irq_base = f->irq_size ? f->irq_base : X86_IRQ_BASE;
	fn->irq_size = f->irq_size ? f->irq_size : X86_IRQ_SIZE;
	/* sizes are bounded: 65535 VFs x 2048 vectors x 16 bytes < 2^32 */
	fn->total = total;
	fn->vfc = iovirt_host_alloc(ops, host, total * sizeof(*fn->vfc), _Alignof(struct sriov_vfcfg));
	fn->bme = iovirt_host_alloc(ops, host, total * sizeof(*fn->bme), _Alignof(_Atomic uint8_t));
	if (fn->nvec) {
		fn->table = iovirt_host_alloc(ops, host, (size_t)total * fn->nvec * sizeof(*fn->table),
					      _Alignof(struct sriov_msix_ent));
		fn->pba = iovirt_host_alloc(ops, host, (size_t)total * fn->pba_words * sizeof(*fn->pba),
					    _Alignof(uint64_t));
	}
	if (!fn->vfc || !fn->bme || (fn->nvec && (!fn->table || !fn->pba))) {
		fn_free(ops, host, fn);
		return NULL;
	}
	for (uint32_t v = 0; v < total; v++)
		atomic_init(&fn->bme[v], 0);
	return fn;
}

int iovirt_sriov_create_fn(const struct iovirt_host_ops *ops, void *host,
			   const struct iovirt_sriov_params *params,
			   const struct iovirt_sriov_fn_params *fn,
			   struct iovirt_sriov **out)
{
	if (!fn || !params || !out || !iovirt_host_ops_ok(ops))
		return IOVIRT_EINVAL;
	/* the capability's own rules first: check_fn reads params.bars */
	if (params->size < sizeof(*params))
		return IOVIRT_EINVAL;
	int r = check_fn(params, fn);
	if (r)
		return r;
	if ((fn->flags & IOVIRT_SRIOV_FN_ATS) && !IOVIRT_HOST_HAS(ops, devtlb_inval))
		return IOVIRT_ENOSYS;
	struct iovirt_sriov *sr;
	r = iovirt_sriov_create(ops, host, params, &sr);
	if (r)
		return r;
	struct sriov_fn *f = fn_alloc(ops, host, fn, params->total_vfs);
	if (!f) {
		iovirt_sriov_destroy(sr);
		return IOVIRT_ENOMEM;
	}
	sr->fn = f;
	for (uint32_t v = 0; v < f->total; v++)
		sriov_fn_vf_defaults(sr, v);
	*out = sr;
	return 0;
}

/* A VF's functions at their reset values (FLR, VF disable, create). */
void sriov_fn_vf_defaults(struct iovirt_sriov *sr, uint32_t vf)
{
	struct sriov_fn *fn = sr->fn;
	memset(&fn->vfc[vf], 0, sizeof(fn->vfc[vf]));
	atomic_store_explicit(&fn->bme[vf], 0, memory_order_release);
	for (uint32_t i = 0; i < fn->nvec; i++)
		fn->table[(size_t)vf * fn->nvec + i] = (struct sriov_msix_ent){ .ctrl = 1 };
	for (uint32_t i = 0; i < fn->pba_words; i++)
		fn->pba[(size_t)vf * fn->pba_words + i] = 0;
}

/* Called by the reset (phase 5, after the ASID's invalidations): ATS off, state reset. */
void sriov_fn_vf_reset(struct iovirt_sriov *sr, uint32_t vf)
{
	if (!sr->fn)
		return;
	if (sr->fn->vfc[vf].ats_on)
		(void)sriov_fn_ats_set(sr, vf, false);
	sriov_fn_vf_defaults(sr, vf);
}

/* May VF vf's DMA be translated? (Always on a plain PF: it has no Command register.) */
bool sriov_fn_bme_ok(const struct iovirt_sriov *sr, uint32_t vf)
{
	return !sr->fn || atomic_load_explicit(&sr->fn->bme[vf], memory_order_acquire);
}

/* Registers (or drops) the device-TLB invalidation of the VF's bound ASID. */
int sriov_fn_ats_set(struct iovirt_sriov *sr, uint32_t vf, bool on)
{
	struct sriov_vfcfg *c = &sr->fn->vfc[vf];
	int r = iovirt_pt_ats_set(sr->p.iommu, sr->vfs[vf].asid, sriov_rid_of(sr, &sr->d, vf), on);
	if (r && on)
		return r;
	c->ats_on = on;
	return 0;
}

/* Is a one-dword message write at addr inside the interrupt window? */
bool sriov_fn_msi_ok(const struct sriov_fn *fn, uint64_t addr)
{
	return addr >= fn->irq_base && addr - fn->irq_base <= fn->irq_size - 4;
}

void sriov_fn_report(struct iovirt_sriov *sr, uint32_t kind, uint32_t vf, uint32_t off,
		     unsigned width, uint64_t val, int err, bool is_write)
{
	if (!sr->p.report)
		return;
	struct iovirt_sriov_event ev = {
		.kind = kind, .vf = vf,
		.guest = vf < sr->p.total_vfs ? sr->vfs[vf].guest : IOVIRT_SRIOV_NO_GUEST,
		.offset = off, .value = val, .width = width, .err = err, .is_write = is_write,
	};
	sr->p.report(sr->p.hook_arg, &ev);
}

/* PCIe config access shape: width 1, 2 or 4 inside one dword, below limit. */
int sriov_fn_cfg_access(uint32_t offset, unsigned width, uint32_t limit)
{
	if (width != 1 && width != 2 && width != 4)
		return IOVIRT_EINVAL;
	if (offset >= limit)
		return IOVIRT_ERANGE;
	if ((offset & 3) + width > 4)
		return IOVIRT_EALIGN;
	return 0;
}

/* After an invalidation iovirt sends itself (VF reset): the VF's device TLB too. */
void sriov_fn_devtlb(struct iovirt_sriov *sr, uint32_t vf, const struct iovirt_inval *inv)
{
	if (sr->fn && sr->fn->vfc[vf].ats_on)
		sr->ops->devtlb_inval(sr->host, sriov_rid_of(sr, &sr->d, vf), inv);
}
