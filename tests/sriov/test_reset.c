/* SPDX-License-Identifier: MIT */
/* VF reset and VF disable: the safe order, recorded through the adapter's event log. */
#include "fixture.h"

#define RW (IOVIRT_PROT_READ | IOVIRT_PROT_WRITE)
#define MAXEV 4096

/* What the quiesce hook saw each time it ran. */
struct hookrec {
	struct fx *f;
	int calls;
	size_t log_pos[16];     /* events logged before the call */
	uint32_t vf[16];
	int xlate_err[16];      /* a DMA of the VF's RID, tried inside the hook */
	int64_t pinned_before[16];
	uint64_t gpa[16];       /* pinned by the "in-flight DMA" of each VF */
};

static struct hookrec hr;

static size_t log_len(struct fx *f)
{
	static struct iovirt_posix_event ev[MAXEV];
	return iovirt_posix_log_read(f->p, ev, MAXEV);
}

/* Plays the pinning module: the VF's in-flight DMA finishes, its pages are unpinned. */
static void quiesce(void *arg, uint32_t vf, uint16_t rid, uint32_t asid)
{
	struct hookrec *h = arg;
	if (!h->f)
		return; /* the test has drained by itself */
	int i = h->calls++;
	cr_assert_lt(i, 16);
	h->log_pos[i] = log_len(h->f);
	h->vf[i] = vf;
	struct iovirt_xlate x;
	h->xlate_err[i] = iovirt_sriov_dma_translate(h->f->sr, rid, 0x10000, IOVIRT_PROT_READ, &x);
	h->pinned_before[i] = iovirt_posix_pinned_pages(h->f->p);
	/* the ASID is still mapped while in-flight DMA drains */
	cr_assert_eq(iovirt_pt_translate(h->f->io, asid, 0x10000, IOVIRT_PROT_READ, &x), 0);
	iovirt_posix_ops()->unpin(h->f->p, 100 + vf, 0x10000, 4);
}

static void setup(struct fx *f, uint16_t nvfs)
{
	memset(&hr, 0, sizeof(hr));
	hr.f = f;
	fx_host(f, 8);
	f->prm.dma_quiesce = quiesce;
	f->prm.hook_arg = &hr;
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f->p, &f->prm, &f->sr), 0);
	fx_enable(f, nvfs);
	for (uint32_t n = 0; n < nvfs; n++) {
		fx_bind(f, n, 100 + n, 50 + n);
		cr_assert_eq(iovirt_pt_map(f->io, 50 + n, 0x10000, 0x1000000 * (n + 1), 0x4000, RW), 0);
		/* a DMA in flight holds 4 pinned pages */
		cr_assert_eq(iovirt_posix_ops()->pin(f->p, 100 + n, 0x10000, 4), 0);
		cr_assert_eq(iovirt_sriov_mmio_write(f->sr, 100 + n, n, R_RINGLEN, 4, 0x99), 0);
	}
	cr_assert_eq(iovirt_posix_log_enable(f->p, MAXEV), 0);
}

static int count_maps(void *arg, const struct iovirt_mapping *m)
{
	(void)m;
	(*(int *)arg)++;
	return 0;
}

/*
 * Checks the order for the VFs in [first, first + n): every hook ran before
 * any invalidation of their ASIDs, each ASID got an ASID-wide invalidation,
 * and every register reset came after all invalidations.
 */
static void check_order(struct fx *f, uint32_t first, uint32_t n)
{
	static struct iovirt_posix_event ev[MAXEV];
	size_t len = iovirt_posix_log_read(f->p, ev, MAXEV);
	cr_assert_eq(hr.calls, (int)n);
	size_t last_hook = 0;
	for (int i = 0; i < hr.calls; i++) {
		cr_assert_eq(hr.vf[i], first + (uint32_t)i);
		cr_assert_eq(hr.xlate_err[i], IOVIRT_ENOASID, "DMA quiesced before the hook");
		cr_assert_gt(hr.pinned_before[i], 0);
		if (hr.log_pos[i] > last_hook)
			last_hook = hr.log_pos[i];
	}
	size_t last_inval = 0, first_regw = SIZE_MAX, regw = 0;
	int asid_invals = 0;
	for (size_t i = 0; i < len; i++) {
		if (ev[i].cb == IOVIRT_CB_IOTLB_INVAL) {
			cr_assert_geq(i, last_hook, "invalidation before a quiesce hook");
			last_inval = i;
			if ((ev[i].c & 0xff) == IOVIRT_INVAL_ASID)
				asid_invals++;
		}
		if (ev[i].cb == IOVIRT_CB_REG_WRITE) {
			if (first_regw == SIZE_MAX)
				first_regw = i;
			uint64_t vf = ev[i].a / FX_WIN, off = ev[i].a % FX_WIN;
			cr_assert(vf >= first && vf < first + n);
			const struct iovirt_sriov_reg *g = NULL;
			for (size_t k = 0; k < FX_NREGS; k++)
				if (fx_regmap[k].offset == off)
					g = &fx_regmap[k];
			cr_assert_not_null(g);
			cr_assert_eq(ev[i].b, g->reset);
			cr_assert_eq(ev[i].c, g->width);
			regw++;
		}
	}
	cr_assert_eq(asid_invals, (int)n);
	cr_assert_gt(first_regw, last_inval, "registers cleared after every invalidation");
	cr_assert_eq(regw, n * FX_NREGS, "every register of every VF reset, sensitive ones too");
	for (uint32_t v = first; v < first + n; v++) {
		int maps = 0;
		cr_assert_eq(iovirt_pt_foreach(f->io, 50 + v, count_maps, &maps), 0);
		cr_assert_eq(maps, 0, "ASID %u still maps something", 50 + v);
		uint32_t ringlen;
		memcpy(&ringlen, f->devregs + v * FX_WIN + R_RINGLEN, 4);
		cr_assert_eq(ringlen, 0);
		uint64_t key;
		memcpy(&key, f->devregs + v * FX_WIN + R_KEY, 8);
		cr_assert_eq(key, 0x5eed);
	}
}

/* FLR of one VF: quiesce, drain pins, unmap + invalidate, clear registers, free; others untouched. */
Test(sriov_reset, flr_order)
{
	struct fx f;
	setup(&f, 4);
	cr_assert_eq(iovirt_sriov_vf_reset(f.sr, 1), 0);
	check_order(&f, 1, 1);
	struct iovirt_sriov_vf_info info;
	cr_assert_eq(iovirt_sriov_vf_info(f.sr, 1, &info), 0);
	cr_assert_eq(info.state, IOVIRT_SRIOV_VF_FREE);
	cr_assert_eq(info.guest, IOVIRT_SRIOV_NO_GUEST);
	cr_assert_eq(info.resets, 1);
	/* VF 0 keeps translating */
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_sriov_dma_translate(f.sr, fx_rid(&f, 0), 0x10000, IOVIRT_PROT_READ, &x), 0);
	cr_assert_eq(iovirt_sriov_dma_translate(f.sr, fx_rid(&f, 1), 0x10000, IOVIRT_PROT_READ, &x),
		     IOVIRT_ENOASID);
	/* and VF 1 is free for a new owner */
	cr_assert_eq(iovirt_sriov_vf_bind(f.sr, 1, 7, 51), 0);
	cr_assert_eq(iovirt_sriov_vf_reset(f.sr, 4), IOVIRT_ENOVF);
	/* unpin the rest before the leak check */
	for (uint32_t n = 0; n < 4; n++)
		if (n != 1)
			iovirt_posix_ops()->unpin(f.p, 100 + n, 0x10000, 4);
	hr.f = NULL;
	iovirt_sriov_destroy(f.sr);
	f.sr = NULL;
	fx_done(&f);
}

/* VF disable with DMA in flight on every VF: same order across all, nothing pinned or mapped after. */
Test(sriov_reset, disable_with_dma_in_flight)
{
	struct fx f;
	setup(&f, 4);
	cr_assert_eq(iovirt_posix_pinned_pages(f.p), 16);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, IOVIRT_SRIOV_CTRL_MSE), 0);
	check_order(&f, 0, 4);
	cr_assert_eq(iovirt_posix_pinned_pages(f.p), 0);
	cr_assert_eq(iovirt_sriov_num_enabled(f.sr), 0);
	for (uint32_t n = 0; n < 4; n++) {
		struct iovirt_sriov_vf_info info;
		cr_assert_eq(iovirt_sriov_vf_info(f.sr, n, &info), 0);
		cr_assert_eq(info.state, IOVIRT_SRIOV_VF_DISABLED);
		cr_assert_eq(info.guest, IOVIRT_SRIOV_NO_GUEST);
	}
	fx_done(&f);
}

/* PF reset and destroy take the same path: everything drained and back to reset values. */
Test(sriov_reset, pf_reset_and_destroy)
{
	struct fx f;
	setup(&f, 3);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_SYS_PGSIZE, 4, 2), IOVIRT_EBUSY);
	iovirt_sriov_pf_reset(f.sr);
	check_order(&f, 0, 3);
	cr_assert_eq(iovirt_posix_pinned_pages(f.p), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_CTRL, 2), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_NUM_VFS, 2), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_VF_BAR0, 4), 0);
	cr_assert_eq(fx_rd(&f, IOVIRT_SRIOV_SYS_PGSIZE, 4), 1);
	fx_done(&f);

	/* destroy with VFs bound: drained the same way */
	setup(&f, 2);
	iovirt_sriov_destroy(f.sr);
	f.sr = NULL;
	cr_assert_eq(hr.calls, 2);
	cr_assert_eq(iovirt_posix_pinned_pages(f.p), 0);
	fx_done(&f);
}
