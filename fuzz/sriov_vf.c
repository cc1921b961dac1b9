/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: VF configuration accesses (both views), MSI-X table and
 * PBA accesses through the VF BARs, signals, FLRs and VF disable/enable, in
 * any order. After every step it checks:
 *  - a refused access changed nothing (the dword it addressed, both views)
 *    and was reported exactly once; successful ones were not reported;
 *  - the raw view's read-only fields keep the VF rules (IDs all ones, BARs 0,
 *    Interrupt Pin 0, Memory Space Enable 0);
 *  - Bus Master Enable is set only on a bound VF, and a bound VF's DMA
 *    reaches its page table exactly when it is set;
 *  - every message address in a table is 0 (never written) or in the window,
 *    and a signal's message is in the window and is what the table holds;
 *  - a vector reported pending has its PBA bit set;
 *  - every state reached saves, and restores after a PF reset to a state
 *    that saves to the same bytes (once per input, with shape bit 4).
 *
 * Input: 1 byte of shape, then up to 32 8-byte steps: op, vf/guest/view,
 * offset[2], value[4].
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#define CHECK(c)                                                                 \
	do {                                                                     \
		if (!(c)) {                                                      \
			fprintf(stderr, "sriov_vf:%d: %s\n", __LINE__, #c);     \
			abort();                                                 \
		}                                                                \
	} while (0)

#define NVF 4
#define NVEC 8
#define BAR2 UINT64_C(0x200000000)
#define BAR2_SIZE 0x4000u
#define TBL 0x1000u
#define PBA 0x1800u
#define IRQ_LO UINT64_C(0xfee00000)
#define IRQ_HI UINT64_C(0xfeeffffc)
#define IOVA 0x10000u /* never mapped */

static int reports;

static void on_report(void *arg, const struct iovirt_sriov_event *ev)
{
	(void)arg;
	(void)ev;
	reports++;
}

struct world {
	struct iovirt_posix *px;
	struct iovirt_iommu *io;
	struct iovirt_sriov *sr;
	bool may_restore; /* shape bit 4, until this input did its save/restore */
};

static uint64_t tbl_addr(uint32_t vf, uint32_t off)
{
	return BAR2 + (uint64_t)vf * BAR2_SIZE + TBL + off;
}

static void setup(struct world *w)
{
	memset(w, 0, sizeof(*w));
	w->px = iovirt_posix_create();
	CHECK(w->px && iovirt_iommu_create(iovirt_posix_ops(), w->px, NULL, &w->io) == 0);
	struct iovirt_sriov_params p;
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.iommu = w->io;
	p.pf_rid = 0x0800;
	p.bus_last = 0x08;
	p.total_vfs = p.initial_vfs = NVF;
	p.vf_offset = 1, p.vf_stride = 1, p.vf_offset_ari = 1, p.vf_stride_ari = 1;
	p.sup_pgsizes = 0x553;
	p.bars[0] = (struct iovirt_sriov_bar){ .size = 0x1000 };
	p.bars[2] = (struct iovirt_sriov_bar){ .size = BAR2_SIZE, .flags = IOVIRT_SRIOV_BAR_64 };
	p.report = on_report;
	struct iovirt_sriov_fn_params f;
	memset(&f, 0, sizeof(f));
	f.size = sizeof(f);
	f.flags = IOVIRT_SRIOV_FN_ARI | IOVIRT_SRIOV_FN_ACS | IOVIRT_SRIOV_FN_ATS;
	f.pf_vendor_id = 0x1af4;
	f.class_code = 0x020000;
	f.msix_vectors = NVEC;
	f.msix_table_bir = 2, f.msix_table_off = TBL;
	f.msix_pba_bir = 2, f.msix_pba_off = PBA;
	f.pf_ari_off = 0x100, f.pf_acs_off = 0x108, f.pf_sriov_off = 0x140;
	f.acs_caps = IOVIRT_ACS_SV | IOVIRT_ACS_RR;
	CHECK(iovirt_sriov_create_fn(iovirt_posix_ops(), w->px, &p, &f, &w->sr) == 0);
	CHECK(iovirt_sriov_cfg_write(w->sr, IOVIRT_SRIOV_VF_BAR0, 4, 0x80000000u) == 0);
	CHECK(iovirt_sriov_cfg_write(w->sr, IOVIRT_SRIOV_VF_BAR0 + 12, 4, 2) == 0);
	CHECK(iovirt_sriov_cfg_write(w->sr, IOVIRT_SRIOV_NUM_VFS, 2, NVF) == 0);
}

/* VF Enable with NVF VFs; VFs 0 and 1 bound to guests 10 and 11 with a page mapped. */
static void enable(struct world *w)
{
	CHECK(iovirt_sriov_cfg_write(w->sr, IOVIRT_SRIOV_CTRL, 2,
				     IOVIRT_SRIOV_CTRL_VFE | IOVIRT_SRIOV_CTRL_MSE) == 0);
	for (uint32_t v = 0; v < 2; v++) {
		/* empty 32-bit spaces: a VF reset's unmap of the whole space costs
		 * little, and the BME gate shows in the error (ENOMASTER before
		 * the page table's ENOENT) */
		struct iovirt_space_params sp = { .size = sizeof(sp), .width = 32 };
		(void)iovirt_pt_space_create(w->io, 20 + v, &sp); /* exists after a re-enable */
		CHECK(iovirt_sriov_vf_bind(w->sr, v, 10 + v, 20 + v) == 0);
	}
}

static uint32_t vdword(struct world *w, uint32_t vf, unsigned view, uint32_t off)
{
	uint32_t v = 0;
	CHECK(iovirt_sriov_vf_cfg_read(w->sr, vf, view, off & ~3u, 4, &v) == 0);
	return v;
}

/*
 * The rules above for VF vf (the one a step touched; a VF disable touches
 * all) and its table entries [e0, e1) (the one an MSI-X write touched).
 */
static void invariants(struct world *w, uint32_t vf, uint32_t e0, uint32_t e1, bool cfg)
{
	if (vf < iovirt_sriov_num_enabled(w->sr)) {
		if (cfg) { /* only config writes and resets could change these */
			CHECK(vdword(w, vf, 0, 0x00) == 0xffffffffu);
			CHECK(vdword(w, vf, 0, 0x10) == 0 && vdword(w, vf, 0, 0x18) == 0);
			CHECK((vdword(w, vf, 0, 0x3c) >> 8 & 0xff) == 0);
		}
		uint32_t cmd = vdword(w, vf, 0, 0x04) & 0xffff;
		CHECK((cmd & ~4u) == 0);
		/* only VFs 0 and 1 are ever bound: to guest 10 + vf, ASID 20 + vf */
		uint16_t rid;
		uint32_t lvf, asid;
		CHECK(iovirt_sriov_vf_rid(w->sr, vf, &rid) == 0);
		int lr = iovirt_sriov_rid_lookup(w->sr, rid, &lvf, &asid);
		CHECK(lr == 0 || lr == IOVIRT_ENOASID);
		bool bound = lr == 0;
		CHECK(!bound || (vf < 2 && lvf == vf && asid == 20 + vf));
		CHECK(!(cmd & 4) || bound);
		if (bound) {
			struct iovirt_xlate x;
			int r = iovirt_sriov_dma_translate(w->sr, rid, IOVA, IOVIRT_PROT_READ, &x);
			CHECK((cmd & 4) ? r == IOVIRT_ENOENT : r == IOVIRT_ENOMASTER);
			/* every table entry: address 0 or inside the window */
			for (uint32_t e = e0; e < e1; e++) {
				uint64_t a;
				CHECK(iovirt_sriov_msix_read(w->sr, 10 + vf, tbl_addr(vf, e * 16), 8, &a) == 0);
				CHECK(a == 0 || (a >= IRQ_LO && a <= IRQ_HI));
			}
		}
	}
}

/* Saves both blobs, resets the PF, restores them: saving again gives the same bytes. */
static void save_restore(struct world *w)
{
	static uint8_t pf[4096], fn[4096], pf2[4096], fn2[4096];
	size_t pl = iovirt_sriov_save_size(w->sr), fl = iovirt_sriov_fn_save_size(w->sr);
	CHECK(pl <= sizeof(pf) && fl <= sizeof(fn));
	CHECK(iovirt_sriov_save(w->sr, pf, pl) == (int64_t)pl);
	CHECK(iovirt_sriov_fn_save(w->sr, fn, fl) == (int64_t)fl);
	iovirt_sriov_pf_reset(w->sr);
	CHECK(iovirt_sriov_restore(w->sr, pf, pl) == 0);
	CHECK(iovirt_sriov_fn_restore(w->sr, fn, fl) == 0);
	CHECK(iovirt_sriov_save(w->sr, pf2, pl) == (int64_t)pl);
	CHECK(iovirt_sriov_fn_save(w->sr, fn2, fl) == (int64_t)fl);
	CHECK(memcmp(pf, pf2, pl) == 0 && memcmp(fn, fn2, fl) == 0);
}

static void step(struct world *w, const uint8_t *s)
{
	uint32_t vf = s[1] % (NVF + 1), view = (s[1] >> 4) & 1, guest = 10 + ((s[1] >> 5) % 3);
	uint32_t off = (uint32_t)(s[2] | s[3] << 8);
	uint32_t val;
	memcpy(&val, s + 4, 4);
	unsigned width = 1u << ((s[0] >> 4) & 3); /* 1, 2, 4, 8 */
	int before = reports, r;
	switch (s[0] % 8) {
	case 0: { /* config read */
		uint32_t v;
		r = iovirt_sriov_vf_cfg_read(w->sr, vf, view, off & 0x1fff, width, &v);
		CHECK(reports == before + (r != 0));
		break;
	}
	case 1: { /* config write: the written dword (both views) unchanged on refusal */
		uint32_t o = off & 0x1fff;
		bool ok = vf < iovirt_sriov_num_enabled(w->sr) && o < 0x1000;
		uint32_t b0 = ok ? vdword(w, vf, 0, o) : 0, b1 = ok ? vdword(w, vf, 1, o) : 0;
		r = iovirt_sriov_vf_cfg_write(w->sr, vf, view, o, width, val);
		CHECK(reports == before + (r != 0));
		if (r && ok)
			CHECK(vdword(w, vf, 0, o) == b0 && vdword(w, vf, 1, o) == b1);
		if (!r)
			CHECK(vf < iovirt_sriov_num_enabled(w->sr) || ((o & ~3u) == 0x48));
		break;
	}
	case 2: { /* MSI-X read */
		uint64_t v;
		r = iovirt_sriov_msix_read(w->sr, guest, tbl_addr(vf, off & 0xfff), width, &v);
		CHECK(reports == before + (r != 0 && r != IOVIRT_ENOENT));
		break;
	}
	case 3: { /* MSI-X write: a refused one leaves the entry as it was */
		uint64_t a = tbl_addr(vf, off & 0xfff), e0 = 0, e1 = 0;
		uint64_t ent = (a - TBL) & ~UINT64_C(15);
		bool in_tbl = (off & 0xfff) < NVEC * 16;
		bool readable = in_tbl && iovirt_sriov_msix_read(w->sr, guest, ent + TBL, 8, &e0) == 0 &&
				iovirt_sriov_msix_read(w->sr, guest, ent + TBL + 8, 8, &e1) == 0;
		before = reports;
		uint64_t v64 = (uint64_t)val * 0x100000001ull ^ s[2];
		r = iovirt_sriov_msix_write(w->sr, guest, a, width, width == 8 ? v64 : val);
		CHECK(reports == before + (r != 0 && r != IOVIRT_ENOENT));
		if (r && readable) {
			uint64_t f0, f1;
			CHECK(iovirt_sriov_msix_read(w->sr, guest, ent + TBL, 8, &f0) == 0);
			CHECK(iovirt_sriov_msix_read(w->sr, guest, ent + TBL + 8, 8, &f1) == 0);
			CHECK(f0 == e0 && f1 == e1);
		}
		break;
	}
	case 4: { /* signal */
		struct iovirt_sriov_msi m;
		uint32_t vec = s[4] % (NVEC + 1);
		r = iovirt_sriov_msix_signal(w->sr, vf, vec, &m);
		CHECK(reports == before + (r < 0));
		struct iovirt_sriov_vf_info info;
		if (r == 0) {
			CHECK(m.addr >= IRQ_LO && m.addr <= IRQ_HI && m.vector == vec);
			CHECK(iovirt_sriov_vf_info(w->sr, vf, &info) == 0);
			uint64_t a, d;
			CHECK(iovirt_sriov_msix_read(w->sr, info.guest, tbl_addr(vf, vec * 16), 8, &a) == 0);
			CHECK(iovirt_sriov_msix_read(w->sr, info.guest, tbl_addr(vf, vec * 16 + 8), 4, &d) == 0);
			CHECK(a == m.addr && d == m.data);
		} else if (r == IOVIRT_SRIOV_MSIX_PENDING) {
			CHECK(iovirt_sriov_vf_info(w->sr, vf, &info) == 0);
			uint64_t pba;
			CHECK(iovirt_sriov_msix_read(w->sr, info.guest,
						     BAR2 + (uint64_t)vf * BAR2_SIZE + PBA, 8, &pba) == 0);
			CHECK(pba >> vec & 1);
		}
		break;
	}
	case 5: { /* pending delivery */
		struct iovirt_sriov_msi m;
		r = iovirt_sriov_msix_next(w->sr, vf, &m);
		if (r == 0)
			CHECK(m.addr >= IRQ_LO && m.addr <= IRQ_HI);
		break;
	}
	case 6: /* FLR through the PCIe Device Control register, or a direct reset */
		if (s[4] & 1)
			(void)iovirt_sriov_vf_cfg_write(w->sr, vf, view, 0x48, 2, 0x8000);
		else
			(void)iovirt_sriov_vf_reset(w->sr, vf);
		break;
	default: /* VF disable and enable again (rebinding VFs 0 and 1), a PF ACS write, or
		  * save, PF reset and restore: every reachable state restores, identically */
		if ((s[4] & 2) && w->may_restore) {
			w->may_restore = false; /* once per input, when the shape allows it: it costs many steps */
			save_restore(w);
		} else if (s[4] & 1) {
			CHECK(iovirt_sriov_cfg_write(w->sr, IOVIRT_SRIOV_CTRL, 2, 0) == 0);
			enable(w);
		} else {
			CHECK(iovirt_sriov_pf_ext_write(w->sr, 0x10e, 2, val) == 0);
		}
		break;
	}
	unsigned op = s[0] % 8;
	if (op == 7) {
		for (uint32_t v = 0; v < NVF; v++) /* every VF; the table of the step's VF */
			invariants(w, v, 0, v == vf ? NVEC : 0, true);
	} else if (op == 3) {
		uint32_t e = (off & 0xfff) / 16;
		invariants(w, vf, e < NVEC ? e : 0, e < NVEC ? e + 1 : 0, false);
	} else {
		invariants(w, vf, 0, 0, op == 1 || op == 6);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* one PF for the process: VF disable (every VF, table and PBA back to
	 * reset values) and ACS Control 0 start each input from the same state
	 * (steps write no other PF register), at a fraction of the cost of
	 * building the world again */
	static struct world w;
	static bool made;
	if (!made) {
		setup(&w);
		made = true;
	}
	CHECK(iovirt_sriov_cfg_write(w.sr, IOVIRT_SRIOV_CTRL, 2, 0) == 0);
	CHECK(iovirt_sriov_pf_ext_write(w.sr, 0x10e, 2, 0) == 0);
	reports = 0;
	w.may_restore = data[0] & 0x10;
	enable(&w);
	/* shape: which VFs start with bus mastering (bits 0-1) and MSI-X enabled (bits 2-3);
	 * bit 4: one save/restore may happen (see step) */
	for (uint32_t v = 0; v < 2; v++) {
		if (data[0] >> v & 1)
			CHECK(iovirt_sriov_vf_cfg_write(w.sr, v, 0, 0x04, 2, 4) == 0);
		if (data[0] >> (v + 2) & 1)
			CHECK(iovirt_sriov_vf_cfg_write(w.sr, v, 0, 0x82, 2, 0x8000) == 0);
	}
	for (size_t i = 1; i + 8 <= size && i < 1 + 8 * 32; i += 8)
		step(&w, data + i);
	/* nothing translates between inputs: the resets' retired tables can go */
	iovirt_pt_reclaim(w.io);
	return 0;
}
