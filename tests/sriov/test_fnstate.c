/* SPDX-License-Identifier: MIT */
/* Save/restore of the functions' state beside iovirt_sriov_save: round trip, every refusal. */
#include "fn_fixture.h"

/* Configures VF 0 (bound, guest 100) and VF 2 (bound, guest 102) as a running guest would. */
static void configure(struct fx *f)
{
	fx_enable(f, 3);
	fx_bind(f, 0, 100, 50);
	fx_bind(f, 2, 102, 52);
	cr_assert_eq(vwr(f, 0, VIRT, 0x04, 2, 0x0006), 0);
	cr_assert_eq(vwr(f, 0, VIRT, 0x10, 4, 0xc0000000u), 0);
	cr_assert_eq(vwr(f, 0, VIRT, 0x1c, 4, 0x3), 0);
	cr_assert_eq(vwr(f, 0, RAW, MSIX_OFF + 2, 2, 0x8000), 0);
	cr_assert_eq(vwr(f, 0, RAW, 0x10e, 2, 0x8000), 0);
	fn_msix_prog(f, 100, 0, 3, 0x33);
	fn_msix_prog(f, 100, 0, 9, 0x99);
	cr_assert_eq(iovirt_sriov_msix_write(f->sr, 100, fn_tbl(0, 9, 12), 4, 1), 0);
	struct iovirt_sriov_msi m;
	cr_assert_eq(iovirt_sriov_msix_signal(f->sr, 0, 9, &m), IOVIRT_SRIOV_MSIX_PENDING);
	cr_assert_eq(vwr(f, 2, RAW, 0x04, 2, 0x0004), 0);
	cr_assert_eq(vwr(f, 2, RAW, MSIX_OFF + 2, 2, 0xc000), 0);
	cr_assert_eq(iovirt_sriov_pf_ext_write(f->sr, FN_ACS_OFF + 6, 2, IOVIRT_ACS_RR | IOVIRT_ACS_CR), 0);
}

struct blobs {
	uint8_t *pf, *fn;
	size_t pf_len, fn_len;
};

static void save(struct fx *f, struct blobs *b)
{
	b->pf_len = iovirt_sriov_save_size(f->sr);
	b->fn_len = iovirt_sriov_fn_save_size(f->sr);
	b->pf = malloc(b->pf_len);
	b->fn = malloc(b->fn_len);
	cr_assert_eq(iovirt_sriov_save(f->sr, b->pf, b->pf_len), (int64_t)b->pf_len);
	cr_assert_eq(iovirt_sriov_fn_save(f->sr, b->fn, b->fn_len), (int64_t)b->fn_len);
}

/* Every dword of both views of VFs 0-2, every table entry and PBA of the bound ones, ACS. */
static void snapshot(struct fx *f, uint32_t *out)
{
	size_t k = 0;
	for (uint32_t vf = 0; vf < 3; vf++)
		for (unsigned view = 0; view < 2; view++)
			for (uint32_t o = 0; o < 0x200; o += 4)
				out[k++] = vrd(f, vf, view, o, 4);
	static const uint32_t owner[2][2] = { { 0, 100 }, { 2, 102 } };
	for (int i = 0; i < 2; i++)
		for (uint32_t o = 0; o < FN_NVEC * 16; o += 4) {
			uint64_t v;
			cr_assert_eq(iovirt_sriov_msix_read(f->sr, owner[i][1], fn_tbl(owner[i][0], 0, o), 4, &v), 0);
			out[k++] = (uint32_t)v;
		}
	uint64_t pba;
	cr_assert_eq(iovirt_sriov_msix_read(f->sr, 100, fn_pba(0), 8, &pba), 0);
	out[k++] = (uint32_t)pba;
	out[k++] = iovirt_sriov_acs_ctrl(f->sr);
}
#define SNAP (3 * 2 * 128 + 2 * FN_NVEC * 4 + 2)

/* A second PF on its own host, with the same ASIDs, ready for restore. */
static void target(struct fx *g)
{
	fn_setup(g, 8, NULL);
	cr_assert_eq(iovirt_pt_space_create(g->io, 50, NULL), 0);
	cr_assert_eq(iovirt_pt_space_create(g->io, 52, NULL), 0);
}

// a configured PF restored elsewhere reads the same in every VF dword of both views, every table entry, the PBA and ACS Control; DMA and ATS follow the restored Bus Master and ATS Enable
Test(sriov_fnstate, round_trip)
{
	struct fx f, g;
	fn_setup(&f, 8, NULL);
	configure(&f);
	struct blobs b;
	save(&f, &b);
	static uint32_t before[SNAP], after[SNAP];
	snapshot(&f, before);
	target(&g);
	cr_assert_eq(iovirt_sriov_restore(g.sr, b.pf, b.pf_len), 0);
	int r = iovirt_sriov_fn_restore(g.sr, b.fn, b.fn_len);
	cr_assert_eq(r, 0, "%s", iovirt_err_name(r));
	snapshot(&g, after);
	for (size_t i = 0; i < SNAP; i++)
		cr_assert_eq(after[i], before[i], "word %zu", i);
	/* restored behaviour, not only bytes */
	cr_assert_eq(iovirt_pt_map(g.io, 50, 0x1000, 0x7000000, 0x1000, IOVIRT_PROT_READ), 0);
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_sriov_dma_translate(g.sr, fx_rid(&g, 0), 0x1000, IOVIRT_PROT_READ, &x), 0);
	cr_assert_eq(iovirt_pt_unmap(g.io, 50, 0x1000, 0x1000), 0x1000);
	cr_assert_eq(iovirt_posix_count(g.p, IOVIRT_CB_DEVTLB_INVAL), 1, "ATS registered again");
	cr_assert_eq(iovirt_sriov_msix_write(g.sr, 100, fn_tbl(0, 9, 12), 4, 0), 0);
	struct iovirt_sriov_msi m;
	cr_assert_eq(iovirt_sriov_msix_next(g.sr, 0, &m), 0);
	cr_assert_eq(m.data, 0x99);
	free(b.pf);
	free(b.fn);
	fx_done(&g);
	fx_done(&f);
}

static uint32_t fnv(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void reseal(uint8_t *b, size_t len)
{
	uint32_t h = fnv(b, len - 4);
	memcpy(b + len - 4, &h, 4); /* little-endian host */
}

#define VFREC(v) (20 + (v) * 32)
#define TBL_REC(v, e) (20 + 8 * 32 + ((v) * FN_NVEC + (e)) * 16)
#define PBA_REC(v) (20 + 8 * 32 + 8 * FN_NVEC * 16 + (v) * 8)

// every flipped byte and every well-sealed inconsistent blob is refused with EINVAL and changes nothing; a busy PF is EBUSY
Test(sriov_fnstate, refusals)
{
	struct fx f, g;
	fn_setup(&f, 8, NULL);
	configure(&f);
	struct blobs b;
	save(&f, &b);
	target(&g);
	cr_assert_eq(iovirt_sriov_restore(g.sr, b.pf, b.pf_len), 0);
	static uint32_t pristine[SNAP], now[SNAP];
	snapshot(&g, pristine);
	uint8_t *c = malloc(b.fn_len);
	for (size_t i = 0; i < b.fn_len; i++) {
		memcpy(c, b.fn, b.fn_len);
		c[i] ^= 0x40;
		cr_assert_eq(iovirt_sriov_fn_restore(g.sr, c, b.fn_len), IOVIRT_EINVAL, "byte %zu", i);
	}
	struct { size_t off; uint32_t val; unsigned w; const char *why; } bad[] = {
		{ VFREC(1), 0x0004, 2, "BME on an unbound VF" },
		{ VFREC(1) + 4, 0x8000, 2, "ATS on an unbound VF" },
		{ VFREC(0), 0x0008, 2, "unknown Command bit" },
		{ VFREC(0) + 2, 0x0001, 2, "unknown MSI-X control bit" },
		{ VFREC(0) + 8, 0xc0000008u, 4, "BAR0 flag bits changed" },
		{ VFREC(0) + 6, 0x03, 1, "BAR1 (absent) written" },
		{ VFREC(5) + 2, 0x8000, 2, "disabled VF with MSI-X on" },
		{ TBL_REC(0, 4), 0xfed00000u, 4, "address outside the window" },
		{ TBL_REC(0, 4), 0xfee00001u, 4, "address bits 1:0" },
		{ TBL_REC(0, 4) + 12, 2, 4, "reserved vector control bit" },
		{ TBL_REC(6, 0) + 12, 0, 4, "disabled VF's entry unmasked" },
		{ PBA_REC(0), 0, 4, "pending bit of no vector (set below)" },
		{ 16, IOVIRT_ACS_TB, 2, "ACS bit without its capability" },
		{ 8, 9, 4, "TotalVFs" },
		{ 12, FN_NVEC + 1, 4, "vector count" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(c, b.fn, b.fn_len);
		uint32_t v = bad[i].val;
		if (i == 11) { /* FN_NVEC = 16: bit 16 of VF 0's PBA word names no vector */
			c[PBA_REC(0) + 2] |= 1;
		} else {
			for (unsigned k = 0; k < bad[i].w; k++)
				c[bad[i].off + k] = (uint8_t)(v >> (8 * k));
		}
		reseal(c, b.fn_len);
		cr_assert_eq(iovirt_sriov_fn_restore(g.sr, c, b.fn_len), IOVIRT_EINVAL, "%s", bad[i].why);
	}
	cr_assert_eq(iovirt_sriov_fn_restore(g.sr, b.fn, b.fn_len - 1), IOVIRT_EINVAL);
	snapshot(&g, now);
	cr_assert_eq(memcmp(now, pristine, sizeof(now)), 0, "a refused restore changed something");
	cr_assert_eq(iovirt_posix_count(g.p, IOVIRT_CB_DEVTLB_INVAL), 0);
	/* now the good one; a second restore finds the state busy */
	cr_assert_eq(iovirt_sriov_fn_restore(g.sr, b.fn, b.fn_len), 0);
	cr_assert_eq(iovirt_sriov_fn_restore(g.sr, b.fn, b.fn_len), IOVIRT_EBUSY);
	uint32_t v;
	cr_assert_eq(iovirt_sriov_pf_ext_read(g.sr, FN_ACS_OFF + 6, 2, &v), 0);
	cr_assert_eq(v, IOVIRT_ACS_RR | IOVIRT_ACS_CR);
	free(c);
	free(b.pf);
	free(b.fn);
	fx_done(&g);
	fx_done(&f);
}

// ATS registration that fails half way (the space already has another device) is undone: nothing changes
Test(sriov_fnstate, ats_registration_undone)
{
	struct fx f, g;
	fn_setup(&f, 8, NULL);
	configure(&f);
	cr_assert_eq(vwr(&f, 2, RAW, 0x10e, 2, 0x8000), 0);
	struct blobs b;
	save(&f, &b);
	target(&g);
	cr_assert_eq(iovirt_sriov_restore(g.sr, b.pf, b.pf_len), 0);
	cr_assert_eq(iovirt_pt_ats_set(g.io, 52, 0x0999, true), 0); /* VF 2's space taken */
	cr_assert_eq(iovirt_sriov_fn_restore(g.sr, b.fn, b.fn_len), IOVIRT_EBUSY);
	cr_assert_eq(vrd(&g, 0, RAW, 0x04, 2), 0);
	/* VF 0's registration was undone: its space sends none */
	cr_assert_eq(iovirt_pt_map(g.io, 50, 0x1000, 0x7000000, 0x1000, IOVIRT_PROT_READ), 0);
	cr_assert_eq(iovirt_pt_unmap(g.io, 50, 0x1000, 0x1000), 0x1000);
	cr_assert_eq(iovirt_posix_count(g.p, IOVIRT_CB_DEVTLB_INVAL), 0);
	cr_assert_eq(iovirt_pt_ats_set(g.io, 52, 0x0999, false), 0);
	cr_assert_eq(iovirt_sriov_fn_restore(g.sr, b.fn, b.fn_len), 0);
	free(b.pf);
	free(b.fn);
	fx_done(&g);
	fx_done(&f);
}

// a PF without the functions: ENOSYS and size 0
Test(sriov_fnstate, plain_pf)
{
	struct fx f;
	fx_setup(&f, 8);
	uint8_t buf[64];
	cr_assert_eq(iovirt_sriov_fn_save_size(f.sr), 0);
	cr_assert_eq(iovirt_sriov_fn_save(f.sr, buf, sizeof(buf)), IOVIRT_ENOSYS);
	cr_assert_eq(iovirt_sriov_fn_restore(f.sr, buf, sizeof(buf)), IOVIRT_ENOSYS);
	fx_done(&f);
}
