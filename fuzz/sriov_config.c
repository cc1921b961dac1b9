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

#define CHECK(c)                                                                 \
	do {                                                                     \
		if (!(c))                                                        \
			__builtin_trap();                                        \
	} while (0)

static void snap(const struct iovirt_sriov *sr, uint8_t out[64])
{
	for (unsigned i = 0; i < 64; i += 4) {
		uint32_t v;
		CHECK(iovirt_sriov_cfg_read(sr, i, 4, &v) == 0);
		memcpy(out + i, &v, 4);
	}
}

static uint32_t get(const uint8_t *s, unsigned off, unsigned w)
{
	uint32_t v = 0;
	memcpy(&v, s + off, w);
	return v;
}

static void check(const struct iovirt_sriov *sr, const struct iovirt_sriov_params *p,
		  const uint8_t ro[64])
{
	uint8_t s[64];
	snap(sr, s);
	/* read-only bytes equal their creation values */
	static const unsigned ro_off[] = { 0, 1, 2, 3, 4, 5, 6, 7, 9, 0x0c, 0x0d, 0x0e, 0x0f,
					   0x12, 0x13, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e,
					   0x1f, 0x3c, 0x3d, 0x3e, 0x3f };
	for (unsigned i = 0; i < sizeof(ro_off) / sizeof(ro_off[0]); i++)
		CHECK(s[ro_off[i]] == ro[ro_off[i]]);
	CHECK(get(s, IOVIRT_SRIOV_STATUS, 2) == 0);
	uint32_t ctrl = get(s, IOVIRT_SRIOV_CTRL, 2);
	CHECK((ctrl & ~0x1fu) == 0);
	bool ari = ctrl & IOVIRT_SRIOV_CTRL_ARI;
	uint16_t off = ari ? p->vf_offset_ari : p->vf_offset;
	uint16_t stride = ari ? p->vf_stride_ari : p->vf_stride;
	CHECK(get(s, IOVIRT_SRIOV_VF_OFFSET, 2) == off);
	CHECK(get(s, IOVIRT_SRIOV_VF_STRIDE, 2) == stride);
	uint32_t sys = get(s, IOVIRT_SRIOV_SYS_PGSIZE, 4);
	CHECK(sys && !(sys & (sys - 1)) && (sys & p->sup_pgsizes));
	uint32_t num = get(s, IOVIRT_SRIOV_NUM_VFS, 2);
	uint32_t en = iovirt_sriov_num_enabled(sr);
	if (ctrl & IOVIRT_SRIOV_CTRL_VFE) {
		CHECK(num >= 1 && num <= p->total_vfs);
		CHECK(en == num);
	} else {
		CHECK(en == 0);
	}
	for (uint32_t n = 0; n < en; n++) {
		uint16_t rid;
		CHECK(iovirt_sriov_vf_rid(sr, n, &rid) == 0);
		CHECK(rid == p->pf_rid + off + n * stride);
		CHECK((rid >> 8) <= p->bus_last);
		uint32_t vf = UINT32_MAX;
		int r = iovirt_sriov_rid_lookup(sr, rid, &vf, NULL);
		CHECK(r == 0 || r == IOVIRT_ENOASID);
		if (r == 0)
			CHECK(vf == n);
	}
	uint16_t rid;
	CHECK(iovirt_sriov_vf_rid(sr, en, &rid) == IOVIRT_ENOVF);
	/* narrower reads agree with the dword reads */
	for (unsigned i = 0; i < 64; i++) {
		uint32_t v;
		CHECK(iovirt_sriov_cfg_read(sr, i, 1, &v) == 0 && v == s[i]);
		if ((i & 3) <= 2) {
			CHECK(iovirt_sriov_cfg_read(sr, i, 2, &v) == 0 && v == get(s, i, 2));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	struct iovirt_posix *px = iovirt_posix_create();
	struct iovirt_iommu *io = NULL;
	CHECK(px && iovirt_iommu_create(iovirt_posix_ops(), px, NULL, &io) == 0);
	CHECK(iovirt_pt_space_create(io, 1, NULL) == 0);
	CHECK(iovirt_pt_space_create(io, 2, NULL) == 0);

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
	CHECK(iovirt_sriov_create(iovirt_posix_ops(), px, &p, &sr) == 0);
	CHECK(iovirt_sriov_create(iovirt_posix_ops(), px, &p, &sr2) == 0);
	uint8_t ro[64], before[64], after[64];
	snap(sr, ro);
	size_t blen = iovirt_sriov_save_size(sr);
	uint8_t *blob = malloc(blen);
	CHECK(blob);

	for (size_t i = 4; i + 7 <= size; i += 7) {
		const uint8_t *s = data + i;
		uint32_t off = s[1] & 0x7f; /* some offsets past the capability */
		unsigned width = s[2] & 7;
		uint32_t val;
		memcpy(&val, s + 3, 4);
		switch (s[0] & 7) {
		case 0:
		case 1:
		case 2: {
			snap(sr, before);
			int r = iovirt_sriov_cfg_write(sr, off, width, val);
			snap(sr, after);
			if (r)
				CHECK(memcmp(before, after, 64) == 0); /* all or nothing */
			bool shape_ok = (width == 1 || width == 2 || width == 4) && off < 64 &&
					(off & 3) + width <= 4;
			CHECK(shape_ok || r != 0);
			break;
		}
		case 3: {
			uint32_t v;
			int r = iovirt_sriov_cfg_read(sr, off, width, &v);
			bool shape_ok = (width == 1 || width == 2 || width == 4) && off < 64 &&
					(off & 3) + width <= 4;
			CHECK((r == 0) == shape_ok);
			break;
		}
		case 4:
			(void)iovirt_sriov_vf_reset(sr, s[1] % 64);
			break;
		case 5:
			(void)iovirt_sriov_vf_bind(sr, s[1] % 64, s[2], 1 + (s[3] & 1));
			break;
		case 6: {
			/* save/restore: the copy shows the same registers and VF count */
			CHECK(iovirt_sriov_save(sr, blob, blen) == (int64_t)blen);
			iovirt_sriov_pf_reset(sr2);
			CHECK(iovirt_sriov_restore(sr2, blob, blen) == 0);
			uint8_t a[64], b[64];
			snap(sr, a);
			snap(sr2, b);
			CHECK(memcmp(a, b, 64) == 0);
			CHECK(iovirt_sriov_num_enabled(sr) == iovirt_sriov_num_enabled(sr2));
			iovirt_sriov_pf_reset(sr2);
			break;
		}
		default:
			iovirt_sriov_pf_reset(sr);
			break;
		}
		check(sr, &p, ro);
	}
	free(blob);
	iovirt_sriov_destroy(sr2);
	iovirt_sriov_destroy(sr);
	iovirt_iommu_destroy(io);
	CHECK(iovirt_posix_live_mem(px) == 0);
	CHECK(iovirt_posix_live_tables(px) == 0);
	iovirt_posix_destroy(px);
	return 0;
}
