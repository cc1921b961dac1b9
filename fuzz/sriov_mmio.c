/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: arbitrary guest register accesses across VFs. Through
 * the POSIX adapter's event log, after every access: at most one device
 * access happened, only when the call succeeded; it stayed inside the VF the
 * guest addressed and inside one register; it never touched a sensitive
 * register; the guest owned the VF; a DMA address that reached the device
 * translates in the VF's ASID for the register's whole length.
 *
 * Input: 1 byte (unused; it chose the VFs' owners once, which are now set up
 * once for all inputs), then 13-byte steps: guest, vf, offset[2], width,
 * value[8].
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

#define NVF 8
#define WIN 0x200u
#define DEV 3

static const struct iovirt_sriov_reg regmap[] = {
	{ .offset = 0x00, .width = 4, .cls = IOVIRT_SRIOV_REG_GUEST },
	{ .offset = 0x04, .width = 2, .cls = IOVIRT_SRIOV_REG_GUEST },
	{ .offset = 0x06, .width = 1, .cls = IOVIRT_SRIOV_REG_SENSITIVE },
	{ .offset = 0x08, .width = 8, .cls = IOVIRT_SRIOV_REG_DMA_ADDR, .access = IOVIRT_PROT_READ,
	  .dma_len = 0x1800 },
	{ .offset = 0x10, .width = 4, .cls = IOVIRT_SRIOV_REG_DMA_ADDR, .access = IOVIRT_PROT_WRITE,
	  .dma_len = 8 },
	{ .offset = 0x18, .width = 8, .cls = IOVIRT_SRIOV_REG_SENSITIVE },
	{ .offset = 0x40, .width = 8, .cls = IOVIRT_SRIOV_REG_GUEST },
	{ .offset = 0x1f8, .width = 8, .cls = IOVIRT_SRIOV_REG_SENSITIVE },
};
#define NREGS (sizeof(regmap) / sizeof(regmap[0]))

static const struct iovirt_sriov_reg *reg_at(uint64_t off)
{
	for (size_t i = 0; i < NREGS; i++)
		if (off >= regmap[i].offset && off < regmap[i].offset + regmap[i].width)
			return &regmap[i];
	return NULL;
}

/* VF n is owned by guest n % 4 for n < NBOUND; the others are bound to no guest. */
#define NBOUND 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/*
	 * One adapter, iommu and PF (VFs enabled and bound, spaces mapped) for
	 * every input: guest register accesses change none of them, and tearing
	 * them down per input (each bound VF's reset unmaps its whole space)
	 * cost many times an input's accesses. What an access could change is
	 * checked at the end of each input: no memory allocated or freed, every
	 * VF still owned and mapped as set up. The device's registers start
	 * from zero per input.
	 */
	static uint8_t devregs[NVF * WIN];
	static struct iovirt_posix *px;
	static struct iovirt_iommu *io;
	static struct iovirt_sriov *sr;
	static uint32_t owner[NVF];
	static int64_t base_mem;
	if (!px) {
		px = iovirt_posix_create();
		CHECK(px && iovirt_iommu_create(iovirt_posix_ops(), px, NULL, &io) == 0);
		CHECK(iovirt_posix_dev_add(px, DEV, devregs, sizeof(devregs)) == 0);
		struct iovirt_sriov_params p;
		memset(&p, 0, sizeof(p));
		p.size = sizeof(p);
		p.iommu = io;
		p.pf_rid = 0x0800;
		p.bus_last = 0x08;
		p.total_vfs = NVF;
		p.initial_vfs = NVF;
		p.vf_offset = 1;
		p.vf_stride = 1;
		p.vf_offset_ari = 1;
		p.vf_stride_ari = 1;
		p.sup_pgsizes = 0x553;
		p.bars[0] = (struct iovirt_sriov_bar){ .size = 0x1000 };
		p.vf_reg_dev = DEV;
		p.nregs = NREGS;
		p.vf_regs_size = WIN;
		p.regs = regmap;
		CHECK(iovirt_sriov_create(iovirt_posix_ops(), px, &p, &sr) == 0);
		CHECK(iovirt_sriov_cfg_write(sr, IOVIRT_SRIOV_VF_BAR0, 4, 0xc0000000) == 0);
		CHECK(iovirt_sriov_cfg_write(sr, IOVIRT_SRIOV_NUM_VFS, 2, NVF) == 0);
		CHECK(iovirt_sriov_cfg_write(sr, IOVIRT_SRIOV_CTRL, 2,
					     IOVIRT_SRIOV_CTRL_VFE | IOVIRT_SRIOV_CTRL_MSE) == 0);
		for (uint32_t n = 0; n < NVF; n++) {
			owner[n] = IOVIRT_SRIOV_NO_GUEST;
			CHECK(iovirt_pt_space_create(io, 10 + n, NULL) == 0);
			/* some RAM, read-only and read-write, and one page onto VF 0's registers */
			CHECK(iovirt_pt_map(io, 10 + n, 0x10000, 0x1000000, 0x2000, IOVIRT_PROT_READ) == 0);
			CHECK(iovirt_pt_map(io, 10 + n, 0x20000, 0x2000000, 0x1000,
					    IOVIRT_PROT_READ | IOVIRT_PROT_WRITE) == 0);
			CHECK(iovirt_pt_map(io, 10 + n, 0x30000, 0xc0000000, 0x1000,
					    IOVIRT_PROT_READ | IOVIRT_PROT_WRITE) == 0);
			if (n < NBOUND) {
				CHECK(iovirt_sriov_vf_bind(sr, n, n % 4, 10 + n) == 0);
				owner[n] = n % 4;
			}
		}
		CHECK(iovirt_posix_log_enable(px, 64) == 0);
		base_mem = iovirt_posix_live_mem(px);
	}
	memset(devregs, 0, sizeof(devregs));

	for (size_t i = 1; i + 13 <= size; i += 13) {
		const uint8_t *s = data + i;
		uint32_t guest = s[0] & 3, vf = s[1] % (NVF + 1);
		uint64_t off = (uint64_t)s[2] | (uint64_t)(s[3] & 0x3) << 8; /* up to 2x the window */
		if (s[3] & 0x80)
			off = UINT64_MAX - s[2];
		unsigned width = s[4] & 0xf;
		uint64_t val;
		memcpy(&val, s + 5, 8);
		if (s[4] & 0x10)
			val = (val & 0x3ffff) | 0x10000; /* near the mapped IOVAs */
		bool write = s[4] & 0x20;

		iovirt_posix_log_clear(px);
		int r;
		if (write) {
			r = iovirt_sriov_mmio_write(sr, guest, vf, off, width, val);
		} else {
			uint64_t v;
			r = iovirt_sriov_mmio_read(sr, guest, vf, off, width, &v);
		}
		struct iovirt_posix_event ev[64];
		size_t n = iovirt_posix_log_read(px, ev, 64), dev_ops = 0;
		for (size_t k = 0; k < n; k++) {
			if (ev[k].cb != IOVIRT_CB_REG_READ && ev[k].cb != IOVIRT_CB_REG_WRITE)
				continue;
			dev_ops++;
			CHECK(ev[k].cb == (write ? IOVIRT_CB_REG_WRITE : IOVIRT_CB_REG_READ));
			CHECK(ev[k].id == DEV);
			/* inside the addressed VF's window and one register */
			CHECK(vf < NVF && ev[k].a / WIN == vf);
			uint64_t o = ev[k].a % WIN;
			CHECK(o + ev[k].c <= WIN);
			const struct iovirt_sriov_reg *g = reg_at(o);
			CHECK(g && o + ev[k].c <= (uint64_t)g->offset + g->width);
			CHECK(g->cls != IOVIRT_SRIOV_REG_SENSITIVE);
			CHECK(owner[vf] == guest);
			if (write && g->cls == IOVIRT_SRIOV_REG_DMA_ADDR) {
				CHECK(o == g->offset && ev[k].c == g->width);
				/* every byte the device may touch is mapped for it, not onto registers */
				for (uint64_t a = ev[k].b; a < ev[k].b + g->dma_len; a += 8) {
					struct iovirt_xlate x;
					CHECK(iovirt_pt_translate(io, 10 + vf, a, g->access, &x) == 0);
					CHECK(x.pa < 0xc0000000 || x.pa >= 0xc0000000 + NVF * 0x1000);
				}
			}
		}
		CHECK(dev_ops == (r == 0 ? 1u : 0u));
		if (r == IOVIRT_ESENSITIVE) {
			const struct iovirt_sriov_reg *g = reg_at(off);
			CHECK(g && g->cls == IOVIRT_SRIOV_REG_SENSITIVE);
		}
	}
	/* the device memory of sensitive registers was never written */
	for (uint32_t v = 0; v < NVF; v++)
		for (size_t k = 0; k < NREGS; k++)
			if (regmap[k].cls == IOVIRT_SRIOV_REG_SENSITIVE)
				for (unsigned b = 0; b < regmap[k].width; b++)
					CHECK(devregs[v * WIN + regmap[k].offset + b] == 0);
	/* the accesses changed no owner, binding or mapping, and allocated nothing */
	for (uint32_t n = 0; n < NVF; n++) {
		struct iovirt_sriov_vf_info vi;
		CHECK(iovirt_sriov_vf_info(sr, n, &vi) == 0 && vi.guest == owner[n]);
		CHECK(vi.state == (n < NBOUND ? IOVIRT_SRIOV_VF_ASSIGNED : IOVIRT_SRIOV_VF_FREE));
		CHECK(n >= NBOUND || vi.asid == 10 + n);
		struct iovirt_xlate x;
		CHECK(iovirt_pt_translate(io, 10 + n, 0x11000, IOVIRT_PROT_READ, &x) == 0 && x.pa == 0x1001000);
		CHECK(iovirt_pt_translate(io, 10 + n, 0x20000, IOVIRT_PROT_WRITE, &x) == 0 && x.pa == 0x2000000);
		CHECK(iovirt_pt_translate(io, 10 + n, 0x30000, IOVIRT_PROT_WRITE, &x) == 0 && x.pa == 0xc0000000);
	}
	struct iovirt_pt_stats st;
	iovirt_pt_stats(io, &st);
	CHECK(st.spaces == NVF && !st.retired);
	CHECK(iovirt_posix_live_mem(px) == base_mem);
	return 0;
}
