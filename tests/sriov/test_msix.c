/* SPDX-License-Identifier: MIT */
/* MSI-X per VF: capability, table and PBA in VF BAR2, mediated writes, masks, pending bits, signal. */
#include "fn_fixture.h"

/* VF vf enabled for MSI-X and bus mastering, bound to guest 100 + vf. */
static void ready(struct fx *f, uint32_t vf)
{
	fx_bind(f, vf, 100 + vf, 50 + vf);
	cr_assert_eq(vwr(f, vf, RAW, 0x04, 2, 0x0004), 0);
	cr_assert_eq(vwr(f, vf, RAW, MSIX_OFF + 2, 2, 0x8000), 0);
}

// the capability: ID 0x11, Table Size N-1, Table and PBA BIR/offset from the params; Enable and Function Mask writable, Table Size not
Test(sriov_msix, capability)
{
	struct fx f;
	fn_setup(&f, 8, NULL);
	fx_enable(&f, 1);
	cr_assert_eq(vrd(&f, 0, RAW, MSIX_OFF, 4), (FN_NVEC - 1) << 16 | 0x11);
	cr_assert_eq(vrd(&f, 0, RAW, MSIX_OFF + 4, 4), FN_TBL_OFF | FN_TBL_BIR);
	cr_assert_eq(vrd(&f, 0, RAW, MSIX_OFF + 8, 4), FN_PBA_OFF | FN_PBA_BIR);
	cr_assert_eq(vwr(&f, 0, RAW, MSIX_OFF + 2, 2, 0xffff), 0);
	cr_assert_eq(vrd(&f, 0, RAW, MSIX_OFF + 2, 2), 0xc000 | (FN_NVEC - 1));
	cr_assert_eq(vwr(&f, 0, RAW, MSIX_OFF + 4, 4, 0xffffffffu), 0);
	cr_assert_eq(vrd(&f, 0, RAW, MSIX_OFF + 4, 4), FN_TBL_OFF | FN_TBL_BIR);
	fx_done(&f);
}

// table accesses through the PF's VF BARs: reset entries are masked with address 0; a programmed entry reads back (address bits 1:0 read 0, Vector Control keeps only Mask Bit)
Test(sriov_msix, table_reads_back)
{
	struct fx f;
	fn_setup(&f, 8, NULL);
	fx_enable(&f, 4);
	ready(&f, 2);
	uint64_t v;
	cr_assert_eq(iovirt_sriov_msix_read(f.sr, 102, fn_tbl(2, 5, 12), 4, &v), 0);
	cr_assert_eq(v, 1);
	cr_assert_eq(iovirt_sriov_msix_write(f.sr, 102, fn_tbl(2, 5, 0), 8, 0xfee0100fu), 0);
	cr_assert_eq(iovirt_sriov_msix_write(f.sr, 102, fn_tbl(2, 5, 8), 8, 0xfffffffe00000033ull), 0);
	cr_assert_eq(iovirt_sriov_msix_read(f.sr, 102, fn_tbl(2, 5, 0), 4, &v), 0);
	cr_assert_eq(v, 0xfee0100cu);
	cr_assert_eq(iovirt_sriov_msix_read(f.sr, 102, fn_tbl(2, 5, 8), 8, &v), 0);
	cr_assert_eq(v, 0x33, "unmasked, reserved bits 0");
	/* VF 1's table is another one */
	fx_bind(&f, 1, 101, 51);
	cr_assert_eq(iovirt_sriov_msix_read(f.sr, 101, fn_tbl(1, 5, 0), 4, &v), 0);
	cr_assert_eq(v, 0);
	/* outside the table and PBA: not an MSI-X access */
	cr_assert_eq(iovirt_sriov_msix_read(f.sr, 102, fn_tbl(2, 0, 0) - 4, 4, &v), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_sriov_msix_read(f.sr, 102, FN_BAR0_BASE, 4, &v), IOVIRT_ENOENT);
	fx_done(&f);
}

// message addresses outside the interrupt window are refused (either half, or a qword), reported, and change nothing
Test(sriov_msix, address_outside_window_refused)
{
	struct fx f;
	struct fn_reports rep;
	fn_setup(&f, 8, &rep);
	fx_enable(&f, 2);
	ready(&f, 0);
	fn_msix_prog(&f, 100, 0, 1, 0x21);
	static const uint64_t bad[] = { 0xfed00000u, 0xfef00000u, 0x1000, 0xfeeffffdu /* reads ...fc: ok */ };
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(iovirt_sriov_msix_write(f.sr, 100, fn_tbl(0, 1, 0), 4, bad[i]), IOVIRT_EMSIWIN);
		cr_assert_eq(rep.last.kind, IOVIRT_SRIOV_EV_MSIX);
		cr_assert_eq(rep.last.err, IOVIRT_EMSIWIN);
		cr_assert_eq(rep.last.value, bad[i]);
	}
	cr_assert_eq(iovirt_sriov_msix_write(f.sr, 100, fn_tbl(0, 1, 4), 4, 1), IOVIRT_EMSIWIN, "high half");
	cr_assert_eq(iovirt_sriov_msix_write(f.sr, 100, fn_tbl(0, 1, 0), 8, 0x1fee00000ull), IOVIRT_EMSIWIN);
	cr_assert_eq(rep.n, 5);
	cr_assert_eq(iovirt_sriov_msix_write(f.sr, 100, fn_tbl(0, 1, 0), 4, bad[3]), 0, "last dword of the window");
	uint64_t v;
	cr_assert_eq(iovirt_sriov_msix_read(f.sr, 100, fn_tbl(0, 1, 0), 8, &v), 0);
	cr_assert_eq(v, 0xfeeffffcu);
	struct iovirt_sriov_msi m;
	cr_assert_eq(iovirt_sriov_msix_signal(f.sr, 0, 1, &m), 0);
	cr_assert_eq(m.addr, 0xfeeffffcu);
	cr_assert_eq(m.data, 0x21);
	fx_done(&f);
}

// a configurable window: messages only inside it
Test(sriov_msix, configured_window)
{
	struct fx f;
	struct iovirt_sriov_fn_params fp = fn_params();
	fp.irq_base = 0x8000000000ull;
	fp.irq_size = 0x10000;
	fn_setup_with(&f, 8, &fp, NULL);
	fx_enable(&f, 1);
	ready(&f, 0);
	cr_assert_eq(iovirt_sriov_msix_write(f.sr, 100, fn_tbl(0, 0, 0), 4, 0xfee00000u), IOVIRT_EMSIWIN);
	cr_assert_eq(iovirt_sriov_msix_write(f.sr, 100, fn_tbl(0, 0, 0), 8, 0x8000001000ull), 0);
	cr_assert_eq(iovirt_sriov_msix_write(f.sr, 100, fn_tbl(0, 0, 12), 4, 0), 0);
	struct iovirt_sriov_msi m;
	cr_assert_eq(iovirt_sriov_msix_signal(f.sr, 0, 0, &m), 0);
	cr_assert_eq(m.addr, 0x8000001000ull);
	fx_done(&f);
}

// access shape and ownership: 4 or 8 bytes, naturally aligned, the owning guest only; PBA writes refused; all reported, nothing changed
Test(sriov_msix, hostile_accesses)
{
	struct fx f;
	struct fn_reports rep;
	fn_setup(&f, 8, &rep);
	fx_enable(&f, 2);
	ready(&f, 0);
	uint64_t v;
	cr_assert_eq(iovirt_sriov_msix_read(f.sr, 100, fn_tbl(0, 0, 0), 2, &v), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_sriov_msix_read(f.sr, 100, fn_tbl(0, 0, 4), 8, &v), IOVIRT_EALIGN);
	cr_assert_eq(iovirt_sriov_msix_write(f.sr, 100, fn_tbl(0, 0, 2), 4, 0), IOVIRT_EALIGN);
	cr_assert_eq(iovirt_sriov_msix_write(f.sr, 999, fn_tbl(0, 0, 12), 4, 0), IOVIRT_EOWNER);
	cr_assert_eq(iovirt_sriov_msix_write(f.sr, 100, fn_tbl(1, 0, 12), 4, 0), IOVIRT_EOWNER, "VF 1 unassigned");
	cr_assert_eq(iovirt_sriov_msix_write(f.sr, 100, fn_pba(0), 8, ~0ull), IOVIRT_EPERM);
	cr_assert_eq(rep.n, 6);
	cr_assert_eq(rep.last.err, IOVIRT_EPERM);
	cr_assert_eq(iovirt_sriov_msix_read(f.sr, 100, fn_pba(0), 8, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(iovirt_sriov_msix_read(f.sr, 100, fn_tbl(0, 0, 12), 4, &v), 0);
	cr_assert_eq(v, 1, "still masked");
	/* VF MSE clear: the BAR decodes nothing */
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, IOVIRT_SRIOV_CTRL_VFE), 0);
	cr_assert_eq(iovirt_sriov_msix_read(f.sr, 100, fn_tbl(0, 0, 12), 4, &v), IOVIRT_ENOENT);
	fx_done(&f);
}

// signal: masked vector (entry or function mask) sets its pending bit; unmasking lets msix_next deliver it once; an unmasked vector gives the validated message
Test(sriov_msix, masks_and_pending)
{
	struct fx f;
	fn_setup(&f, 8, NULL);
	fx_enable(&f, 2);
	ready(&f, 1);
	struct iovirt_sriov_msi m;
	/* entry 7 still masked from reset */
	cr_assert_eq(iovirt_sriov_msix_signal(f.sr, 1, 7, &m), IOVIRT_SRIOV_MSIX_PENDING);
	uint64_t v;
	cr_assert_eq(iovirt_sriov_msix_read(f.sr, 101, fn_pba(1), 4, &v), 0);
	cr_assert_eq(v, 1u << 7);
	cr_assert_eq(iovirt_sriov_msix_next(f.sr, 1, &m), IOVIRT_ENOENT, "still masked");
	fn_msix_prog(&f, 101, 1, 7, 0x77); /* ends with the unmask */
	cr_assert_eq(iovirt_sriov_msix_next(f.sr, 1, &m), 0);
	cr_assert_eq(m.vector, 7);
	cr_assert_eq(m.addr, 0xfee07000u);
	cr_assert_eq(m.data, 0x77);
	cr_assert_eq(iovirt_sriov_msix_next(f.sr, 1, &m), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_sriov_msix_read(f.sr, 101, fn_pba(1), 8, &v), 0);
	cr_assert_eq(v, 0);
	/* function mask */
	cr_assert_eq(vwr(&f, 1, RAW, MSIX_OFF + 2, 2, 0xc000), 0);
	cr_assert_eq(iovirt_sriov_msix_signal(f.sr, 1, 7, &m), IOVIRT_SRIOV_MSIX_PENDING);
	cr_assert_eq(iovirt_sriov_msix_next(f.sr, 1, &m), IOVIRT_ENOENT);
	cr_assert_eq(vwr(&f, 1, RAW, MSIX_OFF + 2, 2, 0x8000), 0);
	cr_assert_eq(iovirt_sriov_msix_next(f.sr, 1, &m), 0);
	cr_assert_eq(m.vector, 7);
	/* unmasked: delivered at once */
	memset(&m, 0, sizeof(m));
	cr_assert_eq(iovirt_sriov_msix_signal(f.sr, 1, 7, &m), 0);
	cr_assert_eq(m.addr, 0xfee07000u);
	fx_done(&f);
}

// signal refusals: disabled MSI-X, no bus mastering, vector out of range, VF not enabled, an unprogrammed unmasked entry: never a message outside the window
Test(sriov_msix, signal_refusals)
{
	struct fx f;
	struct fn_reports rep;
	fn_setup(&f, 8, &rep);
	fx_enable(&f, 2);
	fx_bind(&f, 0, 100, 50);
	struct iovirt_sriov_msi m;
	cr_assert_eq(iovirt_sriov_msix_signal(f.sr, 0, 0, &m), IOVIRT_EDENIED);
	cr_assert_eq(vwr(&f, 0, RAW, MSIX_OFF + 2, 2, 0x8000), 0);
	cr_assert_eq(iovirt_sriov_msix_signal(f.sr, 0, 0, &m), IOVIRT_ENOMASTER);
	cr_assert_eq(vwr(&f, 0, RAW, 0x04, 2, 0x0004), 0);
	cr_assert_eq(iovirt_sriov_msix_signal(f.sr, 0, FN_NVEC, &m), IOVIRT_EINDEX);
	cr_assert_eq(iovirt_sriov_msix_signal(f.sr, 5, 0, &m), IOVIRT_ENOVF);
	cr_assert_eq(iovirt_sriov_msix_write(f.sr, 100, fn_tbl(0, 2, 12), 4, 0), 0);
	cr_assert_eq(iovirt_sriov_msix_signal(f.sr, 0, 2, &m), IOVIRT_EMSIWIN);
	cr_assert_eq(rep.n, 5);
	cr_assert_eq(rep.last.kind, IOVIRT_SRIOV_EV_MSIX);
	cr_assert_eq(rep.last.offset, 2);
	/* a pending vector whose entry was never placed: cleared, nothing sent */
	cr_assert_eq(iovirt_sriov_msix_write(f.sr, 100, fn_tbl(0, 2, 12), 4, 1), 0);
	cr_assert_eq(iovirt_sriov_msix_signal(f.sr, 0, 2, &m), IOVIRT_SRIOV_MSIX_PENDING);
	cr_assert_eq(iovirt_sriov_msix_write(f.sr, 100, fn_tbl(0, 2, 12), 4, 0), 0);
	cr_assert_eq(iovirt_sriov_msix_next(f.sr, 0, &m), IOVIRT_EMSIWIN);
	cr_assert_eq(m.vector, 2);
	cr_assert_eq(iovirt_sriov_msix_next(f.sr, 0, &m), IOVIRT_ENOENT);
	fx_done(&f);
}

// VF disable resets every VF's table: entries masked, pending cleared
Test(sriov_msix, vf_disable_resets_tables)
{
	struct fx f;
	fn_setup(&f, 8, NULL);
	fx_enable(&f, 2);
	ready(&f, 0);
	fn_msix_prog(&f, 100, 0, 0, 5);
	struct iovirt_sriov_msi m;
	cr_assert_eq(iovirt_sriov_msix_signal(f.sr, 0, 0, &m), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, 0), 0);
	cr_assert_eq(iovirt_sriov_msix_signal(f.sr, 0, 0, &m), IOVIRT_ENOVF);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, IOVIRT_SRIOV_CTRL_VFE | IOVIRT_SRIOV_CTRL_MSE), 0);
	cr_assert_eq(iovirt_sriov_vf_bind(f.sr, 0, 100, 50), 0);
	cr_assert_eq(vwr(&f, 0, RAW, 0x04, 2, 0x0004), 0);
	cr_assert_eq(vwr(&f, 0, RAW, MSIX_OFF + 2, 2, 0x8000), 0);
	cr_assert_eq(iovirt_sriov_msix_signal(f.sr, 0, 0, &m), IOVIRT_SRIOV_MSIX_PENDING);
	fx_done(&f);
}

// every dword of every table entry of a VF, written with hostile values (addresses outside the window in either half, reserved Vector Control bits): each entry's address stays 0 or in the window, reserved bits read 0, and every refusal is reported once
Test(sriov_msix, hostile_sweep_of_every_entry)
{
	struct fx f;
	struct fn_reports rep;
	fn_setup(&f, 8, &rep);
	fx_enable(&f, 1);
	ready(&f, 0);
	static const uint32_t vals[] = { 0, 0xffffffffu, 0xfee00000u, 0xfef00000u, 0xfedffffcu,
					 0x00000001u, 0xfeefffffu, 0x80000000u };
	int refusals = 0;
	for (uint32_t e = 0; e < FN_NVEC; e++)
		for (uint32_t fld = 0; fld < 16; fld += 4)
			for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
				int r = iovirt_sriov_msix_write(f.sr, 100, fn_tbl(0, e, fld), 4, vals[i]);
				cr_assert(r == 0 || r == IOVIRT_EMSIWIN, "%s", iovirt_err_name(r));
				cr_assert(r == 0 || fld < 8, "only addresses are refused");
				refusals += r != 0;
				uint64_t a, c;
				cr_assert_eq(iovirt_sriov_msix_read(f.sr, 100, fn_tbl(0, e, 0), 8, &a), 0);
				cr_assert_eq(iovirt_sriov_msix_read(f.sr, 100, fn_tbl(0, e, 12), 4, &c), 0);
				cr_assert(a == 0 || (a >= 0xfee00000u && a <= 0xfeeffffcu), "entry %u: %#llx",
					  e, (unsigned long long)a);
				cr_assert_leq(c, 1);
			}
	cr_assert_gt(refusals, 0);
	cr_assert_eq(rep.n, refusals);
	fx_done(&f);
}
