/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: arbitrary sequences of SR-IOV config reads and writes of
 * any width and offset, VF resets and binds. After every step the invariants
 * are checked: NumVFs <= TotalVFs and the VF count equals NumVFs while VF
 * Enable is set; read-only fields never change; a refused write changes
 * nothing; every enabled VF's RID is inside the bus range and found in the
 * context table; reads of every width agree; save/restore reproduces it all.
 *
 * Input: 4 bytes of PF shape, then 7-byte steps: op, offset, width, value[4].
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#include "check.h"

#define TRAP(c)                                                                  \
	do {                                                                     \
		if (!(c))                                                        \
			__builtin_trap();                                        \
	} while (0)

FUZZ_CHECKER_BEGIN

static void snap(const struct iovirt_sriov *sr, uint8_t out[64])
{
	for (unsigned i = 0; i < 64; i += 4) {
		uint32_t v;
		TRAP(iovirt_sriov_cfg_read(sr, i, 4, &v) == 0);
		memcpy(out + i, &v, 4);
	}
}

static uint32_t get(const uint8_t *s, unsigned off, unsigned w)
{
	uint32_t v = 0;
	memcpy(&v, s + off, w);
	return v;
}

/* What the previous step left, to see what a step changed. */
struct seen {
	uint8_t cfg[64];
	uint32_t en;
	uint16_t off, stride;
};

/*
 * The invariants after a step, on the registers s just read. Reads of every
 * width are compared for the dwords the step wrote or changed, and the VFs'
 * RIDs and context entries for the VF the step named or, when the set of VFs
 * moved (count, offset, stride), for all of them; with all set (the end of an
 * input) everything is compared. Comparing it all after every step cost most
 * of a run, and a step cannot change what it did not touch unnoticed for
 * long: the end of the input compares everything.
 */
static void check(const struct iovirt_sriov *sr, const struct iovirt_sriov_params *p,
		  const uint8_t ro[64], const uint8_t s[64], struct seen *prev, uint32_t wrote_dw,
		  uint32_t vf_hint, bool all)
{
	/* read-only bytes equal their creation values */
	static const unsigned ro_off[] = { 0, 1, 2, 3, 4, 5, 6, 7, 9, 0x0c, 0x0d, 0x0e, 0x0f,
					   0x12, 0x13, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e,
					   0x1f, 0x3c, 0x3d, 0x3e, 0x3f };
	for (unsigned i = 0; i < sizeof(ro_off) / sizeof(ro_off[0]); i++)
		TRAP(s[ro_off[i]] == ro[ro_off[i]]);
	TRAP(get(s, IOVIRT_SRIOV_STATUS, 2) == 0);
	uint32_t ctrl = get(s, IOVIRT_SRIOV_CTRL, 2);
	TRAP((ctrl & ~0x1fu) == 0);
	bool ari = ctrl & IOVIRT_SRIOV_CTRL_ARI;
	uint16_t off = ari ? p->vf_offset_ari : p->vf_offset;
	uint16_t stride = ari ? p->vf_stride_ari : p->vf_stride;
	TRAP(get(s, IOVIRT_SRIOV_VF_OFFSET, 2) == off);
	TRAP(get(s, IOVIRT_SRIOV_VF_STRIDE, 2) == stride);
	uint32_t sys = get(s, IOVIRT_SRIOV_SYS_PGSIZE, 4);
	TRAP(sys && !(sys & (sys - 1)) && (sys & p->sup_pgsizes));
	uint32_t num = get(s, IOVIRT_SRIOV_NUM_VFS, 2);
	uint32_t en = iovirt_sriov_num_enabled(sr);
	if (ctrl & IOVIRT_SRIOV_CTRL_VFE) {
		TRAP(num >= 1 && num <= p->total_vfs);
		TRAP(en == num);
	} else {
		TRAP(en == 0);
	}
	const bool all_vfs = all || en != prev->en || off != prev->off || stride != prev->stride;
	for (uint32_t n = all_vfs ? 0 : vf_hint; n < en && (all_vfs || n == vf_hint); n++) {
		uint16_t rid;
		TRAP(iovirt_sriov_vf_rid(sr, n, &rid) == 0);
		TRAP(rid == p->pf_rid + off + n * stride);
		TRAP((rid >> 8) <= p->bus_last);
		uint32_t vf = UINT32_MAX;
		int r = iovirt_sriov_rid_lookup(sr, rid, &vf, NULL);
		TRAP(r == 0 || r == IOVIRT_ENOASID);
		if (r == 0)
			TRAP(vf == n);
	}
	uint16_t rid;
	TRAP(iovirt_sriov_vf_rid(sr, en, &rid) == IOVIRT_ENOVF);
	/* narrower reads agree with the dword reads */
	for (unsigned d = 0; d < 16; d++) {
		if (!all && !(wrote_dw >> d & 1) && !memcmp(s + 4 * d, prev->cfg + 4 * d, 4))
			continue;
		for (unsigned i = 4 * d; i < 4 * d + 4; i++) {
			uint32_t v;
			TRAP(iovirt_sriov_cfg_read(sr, i, 1, &v) == 0 && v == s[i]);
			if ((i & 3) <= 2) {
				TRAP(iovirt_sriov_cfg_read(sr, i, 2, &v) == 0 && v == get(s, i, 2));
			}
		}
	}
	memcpy(prev->cfg, s, 64);
	prev->en = en;
	prev->off = off;
	prev->stride = stride;
}

FUZZ_CHECKER_END

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	/* One adapter and one iommu with its two (empty) spaces for every
	 * input: making them per input cost more than most inputs' steps. An
	 * input leaves them as it found them, which its end checks. */
	static struct iovirt_posix *px;
	static struct iovirt_iommu *io;
	static int64_t base_mem;
	if (!px) {
		px = iovirt_posix_create();
		TRAP(px && iovirt_iommu_create(iovirt_posix_ops(), px, NULL, &io) == 0);
		/* 39-bit spaces: a VF reset's unmap of the whole space first meets
		 * the wider widths' ERANGE, and clears three levels, not four */
		struct iovirt_space_params sp = { .size = sizeof(sp), .width = 39 };
		TRAP(iovirt_pt_space_create(io, 1, &sp) == 0);
		TRAP(iovirt_pt_space_create(io, 2, &sp) == 0);
		base_mem = iovirt_posix_live_mem(px);
	}

	struct iovirt_sriov_params p;
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.iommu = io;
	p.pf_rid = (uint16_t)(data[0] << 8 | 0x00);
	p.bus_last = (uint8_t)(data[0] + (data[1] & 3));
	if (p.bus_last < data[0])
		p.bus_last = 0xff;
	p.total_vfs = (uint16_t)(1 + (data[2] % 64));
	p.initial_vfs = p.total_vfs;
	p.vf_offset = (uint16_t)(1 + (data[3] & 0x7f));
	p.vf_stride = (uint16_t)(1 + (data[1] >> 4));
	p.vf_offset_ari = 1;
	p.vf_stride_ari = 1;
	p.flags = (data[1] & 4) ? IOVIRT_SRIOV_ARI_READONLY : 0;
	p.caps = (data[1] & 8) ? IOVIRT_SRIOV_CAPS_VFM : 0;
	p.vf_device_id = 0x1234;
	p.next_cap = 0x2a0;
	p.sup_pgsizes = 0x553;
	p.bars[0] = (struct iovirt_sriov_bar){ .size = 0x4000 };
	p.bars[1] = (struct iovirt_sriov_bar){ .size = 0x100000, .flags = IOVIRT_SRIOV_BAR_64 };
	p.bars[4] = (struct iovirt_sriov_bar){ .size = 0x10, .flags = IOVIRT_SRIOV_BAR_PREFETCH };
	struct iovirt_sriov *sr = NULL, *sr2 = NULL;
	TRAP(iovirt_sriov_create(iovirt_posix_ops(), px, &p, &sr) == 0);
	/* sr2, the restore target, is made at the first save/restore step:
	 * creating one (its context table spans the bus range) costs as much as
	 * many steps, and most inputs have no such step. */
	uint8_t ro[64], after[64];
	snap(sr, ro);
	struct seen prev = { .en = UINT32_MAX }; /* the first step compares all VFs */
	memcpy(prev.cfg, ro, 64);
	size_t blen = iovirt_sriov_save_size(sr);
	uint8_t *blob = malloc(blen);
	TRAP(blob);

	for (size_t i = 4; i + 7 <= size; i += 7) {
		const uint8_t *s = data + i;
		uint32_t off = s[1] & 0x7f; /* some offsets past the capability */
		unsigned width = s[2] & 7;
		uint32_t val, wrote_dw = 0, vf_hint = UINT32_MAX;
		memcpy(&val, s + 3, 4);
		switch (s[0] & 7) {
		case 0:
		case 1:
		case 2: {
			/* the registers before are the ones the last step read */
			int r = iovirt_sriov_cfg_write(sr, off, width, val);
			snap(sr, after);
			if (r)
				TRAP(memcmp(prev.cfg, after, 64) == 0); /* all or nothing */
			bool shape_ok = (width == 1 || width == 2 || width == 4) && off < 64 &&
					(off & 3) + width <= 4;
			TRAP(shape_ok || r != 0);
			if (off < 64)
				wrote_dw = UINT32_C(1) << (off / 4);
			break;
		}
		case 3: {
			/* a read touches nothing: the next step's checks see the same registers */
			uint32_t v;
			int r = iovirt_sriov_cfg_read(sr, off, width, &v);
			bool shape_ok = (width == 1 || width == 2 || width == 4) && off < 64 &&
					(off & 3) + width <= 4;
			TRAP((r == 0) == shape_ok);
			continue;
		}
		/* A VF's reset or binding touches that VF, not the PF's registers:
		 * its RID and context entry are checked, on the registers as the
		 * last step read them (the next write or reset reads them again). */
		case 4:
			vf_hint = s[1] % 64;
			(void)iovirt_sriov_vf_reset(sr, vf_hint);
			memcpy(after, prev.cfg, 64);
			break;
		case 5:
			vf_hint = s[1] % 64;
			(void)iovirt_sriov_vf_bind(sr, vf_hint, s[2], 1 + (s[3] & 1));
			memcpy(after, prev.cfg, 64);
			break;
		case 6: {
			/* save/restore: the copy shows the same registers and VF count */
			TRAP(iovirt_sriov_save(sr, blob, blen) == (int64_t)blen);
			if (!sr2)
				TRAP(iovirt_sriov_create(iovirt_posix_ops(), px, &p, &sr2) == 0);
			/* restore wants VF Enable clear; a reset with it set is costly
			 * (each bound VF's space is unmapped) and step 7 tests it */
			if (iovirt_sriov_num_enabled(sr2))
				iovirt_sriov_pf_reset(sr2);
			TRAP(iovirt_sriov_restore(sr2, blob, blen) == 0);
			uint8_t b[64];
			memcpy(after, prev.cfg, 64); /* saving does not touch sr */
			snap(sr2, b);
			TRAP(memcmp(after, b, 64) == 0);
			TRAP(iovirt_sriov_num_enabled(sr) == iovirt_sriov_num_enabled(sr2));
			break; /* the next save/restore step resets sr2 if it must */
		}
		default:
			iovirt_sriov_pf_reset(sr);
			snap(sr, after);
			break;
		}
		check(sr, &p, ro, after, &prev, wrote_dw, vf_hint, false);
	}
	snap(sr, after);
	check(sr, &p, ro, after, &prev, 0, UINT32_MAX, true);
	free(blob);
	iovirt_sriov_destroy(sr2);
	iovirt_sriov_destroy(sr);
	struct iovirt_pt_stats st;
	iovirt_pt_stats(io, &st);
	TRAP(st.spaces == 2 && st.tables == 2 && !st.retired); /* the spaces are as they were: empty */
	TRAP(iovirt_posix_live_mem(px) == base_mem);
	TRAP(iovirt_posix_live_tables(px) == 2);
	return 0;
}
