/* SPDX-License-Identifier: MIT */
/* Register mediation: what reaches the device, what is refused, counted and reported. */
#include "fixture.h"

#define RW (IOVIRT_PROT_READ | IOVIRT_PROT_WRITE)
#define G 5      /* the guest */
#define ASID 40

struct reports {
	int n;
	struct iovirt_sriov_event last;
};

static void on_report(void *arg, const struct iovirt_sriov_event *ev)
{
	struct reports *r = arg;
	r->n++;
	r->last = *ev;
}

static struct reports rep;

static void setup(struct fx *f)
{
	memset(&rep, 0, sizeof(rep));
	fx_host(f, 8);
	f->prm.report = on_report;
	f->prm.hook_arg = &rep;
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f->p, &f->prm, &f->sr), 0);
	fx_enable(f, 8);
	fx_bind(f, 2, G, ASID);
	cr_assert_eq(iovirt_posix_log_enable(f->p, 256), 0);
}

/* How many reg_write callbacks the device saw since the log was cleared. */
static size_t reg_writes(struct fx *f, struct iovirt_posix_event *last)
{
	struct iovirt_posix_event ev[256];
	size_t n = iovirt_posix_log_read(f->p, ev, 256), w = 0;
	for (size_t i = 0; i < n; i++)
		if (ev[i].cb == IOVIRT_CB_REG_WRITE) {
			w++;
			if (last)
				*last = ev[i];
		}
	return w;
}

/* A plain register write reaches the device at VF base + offset, and reads come back. */
Test(sriov_mmio, plain_register_passes)
{
	struct fx f;
	setup(&f);
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_DOORBELL, 4, 0x1234), 0);
	struct iovirt_posix_event e;
	cr_assert_eq(reg_writes(&f, &e), 1);
	cr_assert_eq(e.id, FX_DEV);
	cr_assert_eq(e.a, 2 * FX_WIN + R_DOORBELL);
	cr_assert_eq(e.b, 0x1234);
	cr_assert_eq(e.c, 4);
	uint64_t v;
	cr_assert_eq(iovirt_sriov_mmio_read(f.sr, G, 2, R_DOORBELL, 4, &v), 0);
	cr_assert_eq(v, 0x1234);
	/* a sub-access inside a plain register is fine */
	cr_assert_eq(iovirt_sriov_mmio_read(f.sr, G, 2, R_DOORBELL + 1, 1, &v), 0);
	cr_assert_eq(v, 0x12);
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_CTRL + 2, 2, 0xffff), 0);
	/* the value is truncated to the width */
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_RINGLEN, 4, UINT64_C(0xaaaa00000010)), 0);
	cr_assert_eq(reg_writes(&f, &e), 3);
	cr_assert_eq(e.b, 0x10);
	struct iovirt_sriov_vf_info info;
	cr_assert_eq(iovirt_sriov_vf_info(f.sr, 2, &info), 0);
	cr_assert_eq(info.mmio_writes, 3);
	cr_assert_eq(info.mmio_reads, 2);
	fx_done(&f);
}

/* Sensitive registers: guest writes and reads refused, counted, reported, never seen by the device. */
Test(sriov_mmio, sensitive_refused)
{
	struct fx f;
	setup(&f);
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_KEY, 8, 0x4141), IOVIRT_ESENSITIVE);
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_KEY + 4, 4, 1), IOVIRT_ESENSITIVE);
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_QOS, 1, 1), IOVIRT_ESENSITIVE);
	uint64_t v = 77;
	cr_assert_eq(iovirt_sriov_mmio_read(f.sr, G, 2, R_KEY, 8, &v), IOVIRT_ESENSITIVE);
	cr_assert_eq(v, 77, "nothing returned");
	cr_assert_eq(reg_writes(&f, NULL), 0);
	cr_assert_eq(iovirt_posix_count(f.p, IOVIRT_CB_REG_READ), 0);
	cr_assert_eq(rep.n, 4);
	cr_assert_eq(rep.last.kind, IOVIRT_SRIOV_EV_SENSITIVE);
	cr_assert_eq(rep.last.vf, 2);
	cr_assert_eq(rep.last.guest, G);
	cr_assert_eq(rep.last.offset, R_KEY);
	cr_assert_eq(rep.last.err, IOVIRT_ESENSITIVE);
	struct iovirt_sriov_vf_info info;
	cr_assert_eq(iovirt_sriov_vf_info(f.sr, 2, &info), 0);
	cr_assert_eq(info.refused_sensitive, 4);
	cr_assert_eq(info.mmio_writes, 0);
	uint64_t key;
	memcpy(&key, f.devregs + 2 * FX_WIN + R_KEY, 8);
	cr_assert_eq(key, 0, "device register untouched");
	fx_done(&f);
}

/* Accesses that cross a register, miss every register, leave the window, or use a bad width are refused. */
Test(sriov_mmio, shape_refusals)
{
	struct fx f;
	setup(&f);
	uint64_t v;
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_STATUS, 8, 0), IOVIRT_ERESERVED,
		     "crosses STATUS into the hole after it");
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_RINGLEN + 2, 4, 0), IOVIRT_ERESERVED);
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, 0x800, 4, 0), IOVIRT_ERESERVED, "no register");
	cr_assert_eq(iovirt_sriov_mmio_read(f.sr, G, 2, 0x0c, 4, &v), IOVIRT_ERESERVED);
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, FX_WIN, 4, 0), IOVIRT_ERANGE,
		     "that is VF 3's window");
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, FX_WIN - 2, 4, 0), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, UINT64_MAX - 1, 4, 0), IOVIRT_ERANGE);
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_CTRL, 3, 0), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_CTRL, 16, 0), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G + 1, 2, R_CTRL, 4, 0), IOVIRT_EOWNER, "other guest");
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 3, R_CTRL, 4, 0), IOVIRT_EOWNER, "unassigned VF");
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 8, R_CTRL, 4, 0), IOVIRT_ENOVF);
	cr_assert_eq(reg_writes(&f, NULL), 0, "none of them reached the device");
	fx_done(&f);
}

/* DMA address registers: written whole, mapped with the right access for the whole length, not onto registers. */
Test(sriov_mmio, dma_address_checked)
{
	struct fx f;
	setup(&f);
	cr_assert_eq(iovirt_pt_map(f.io, ASID, 0x100000, 0x7000000, 0x2000, IOVIRT_PROT_READ), 0);
	cr_assert_eq(iovirt_pt_map(f.io, ASID, 0x200000, 0x7100000, 0x1000, RW), 0);
	cr_assert_eq(iovirt_pt_map(f.io, ASID, 0x300000, 0x80000000u, 0x1000, RW), 0, "VF 0 BAR0");

	/* ring: READ access for 0x2000 bytes */
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_RING, 8, 0x100000), 0);
	struct iovirt_posix_event e;
	cr_assert_eq(reg_writes(&f, &e), 1);
	cr_assert_eq(e.a, 2 * FX_WIN + R_RING);
	cr_assert_eq(e.b, 0x100000);
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_RING, 8, 0x100800), IOVIRT_ENOENT,
		     "the ring's tail runs past the mapping");
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_RING, 8, 0x400000), IOVIRT_ENOENT);
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_RING, 8, 0x300000), IOVIRT_EREENTRANT);
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_RING, 8, UINT64_MAX - 0x10), IOVIRT_EOVERFLOW);
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_RING, 4, 0x100000), IOVIRT_EALIGN,
		     "half of the address");
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_RING + 4, 4, 0), IOVIRT_EALIGN);
	/* write-back: WRITE access */
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_WB, 4, 0x100000), IOVIRT_EPERM,
		     "device would write read-only memory");
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_WB, 4, 0x200ff0), 0);
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_WB, 4, 0x200ff8), IOVIRT_ENOENT,
		     "16 bytes cross into an unmapped page");
	cr_assert_eq(reg_writes(&f, NULL), 2, "only the two valid writes reached the device");
	cr_assert_eq(rep.n, 8, "6 DMA refusals and 2 half-writes");
	cr_assert_eq(rep.last.kind, IOVIRT_SRIOV_EV_DMA_ADDR);
	cr_assert_eq(rep.last.err, IOVIRT_ENOENT);
	struct iovirt_sriov_vf_info info;
	cr_assert_eq(iovirt_sriov_vf_info(f.sr, 2, &info), 0);
	cr_assert_eq(info.refused_dma, 6);
	cr_assert_eq(info.refused_other, 2);
	/* reads of a DMA address register are plain */
	uint64_t v;
	cr_assert_eq(iovirt_sriov_mmio_read(f.sr, G, 2, R_RING, 8, &v), 0);
	cr_assert_eq(v, 0x100000);
	fx_done(&f);
}

/* A failing host callback is reported as EHOST and not counted as done. */
Test(sriov_mmio, host_failure)
{
	struct fx f;
	fx_host(&f, 8);
	f.prm.vf_reg_dev = 99; /* the adapter knows no such device */
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f.p, &f.prm, &f.sr), 0);
	fx_enable(&f, 2);
	fx_bind(&f, 0, G, ASID);
	uint64_t v;
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 0, R_CTRL, 4, 1), IOVIRT_EHOST);
	cr_assert_eq(iovirt_sriov_mmio_read(f.sr, G, 0, R_CTRL, 4, &v), IOVIRT_EHOST);
	/* a reset with failing callbacks still completes and counts them */
	cr_assert_eq(iovirt_sriov_vf_reset(f.sr, 0), 0);
	struct iovirt_sriov_vf_info info;
	cr_assert_eq(iovirt_sriov_vf_info(f.sr, 0, &info), 0);
	cr_assert_eq(info.mmio_writes, 0);
	cr_assert_eq(info.host_errors, FX_NREGS);
	cr_assert_eq(info.state, IOVIRT_SRIOV_VF_FREE);
	fx_done(&f);
}

/* Every event the hook was told of, in order. */
struct evlog {
	int n;
	struct iovirt_sriov_event ev[64];
};

static void on_event(void *arg, const struct iovirt_sriov_event *ev)
{
	struct evlog *l = arg;
	if (l->n < 64)
		l->ev[l->n] = *ev;
	l->n++;
}

/*
 * One refused access: returns err, reaches no device, and the hook is told
 * exactly once with the access and the error.
 */
static void refused(struct fx *f, struct evlog *l, bool is_write, uint32_t guest, uint32_t vf,
		    uint64_t off, unsigned width, uint64_t val, int err, uint32_t kind, const char *what)
{
	int before = l->n;
	uint64_t wr0 = iovirt_posix_count(f->p, IOVIRT_CB_REG_WRITE);
	uint64_t rd0 = iovirt_posix_count(f->p, IOVIRT_CB_REG_READ);
	uint64_t out = 0x77;
	int r = is_write ? iovirt_sriov_mmio_write(f->sr, guest, vf, off, width, val)
			 : iovirt_sriov_mmio_read(f->sr, guest, vf, off, width, &out);
	cr_assert_eq(r, err, "%s: %s", what, iovirt_err_name(r));
	cr_assert_eq(l->n, before + 1, "%s: told %d times", what, l->n - before);
	const struct iovirt_sriov_event *e = &l->ev[before];
	cr_assert_eq(e->err, err, "%s", what);
	cr_assert_eq(e->kind, kind, "%s: kind %u", what, e->kind);
	cr_assert_eq(e->vf, vf, "%s", what);
	cr_assert_eq(e->guest, guest, "%s", what);
	cr_assert_eq(e->offset, off > UINT32_MAX ? UINT32_MAX : (uint32_t)off, "%s", what);
	cr_assert_eq(e->width, width, "%s", what);
	cr_assert_eq(e->is_write, is_write, "%s", what);
	cr_assert_eq(e->value, is_write ? val : 0, "%s", what);
	if (err != IOVIRT_EHOST) {
		cr_assert_eq(iovirt_posix_count(f->p, IOVIRT_CB_REG_WRITE), wr0, "%s reached the device", what);
		cr_assert_eq(iovirt_posix_count(f->p, IOVIRT_CB_REG_READ), rd0, "%s reached the device", what);
	}
	if (!is_write)
		cr_assert_eq(out, 0x77, "%s: nothing returned", what);
}

/* Item 18: every refusal path of mmio_read and mmio_write reaches the report hook with its error. */
Test(sriov_mmio, every_refusal_reported)
{
	static struct evlog l;
	memset(&l, 0, sizeof(l));
	struct fx f;
	fx_host(&f, 8);
	f.prm.report = on_event;
	f.prm.hook_arg = &l;
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f.p, &f.prm, &f.sr), 0);
	fx_enable(&f, 4);
	fx_bind(&f, 2, G, ASID);
	cr_assert_eq(iovirt_pt_map(f.io, ASID, 0x100000, 0x7000000, 0x2000, IOVIRT_PROT_READ), 0);
	cr_assert_eq(iovirt_pt_map(f.io, ASID, 0x300000, 0x80000000u, 0x1000, RW), 0, "VF 0 BAR0");
	const uint32_t O = IOVIRT_SRIOV_EV_OTHER, S = IOVIRT_SRIOV_EV_SENSITIVE, D = IOVIRT_SRIOV_EV_DMA_ADDR;
	for (int w = 0; w <= 1; w++) {
		bool wr = w;
		/* access_check: ownership, shape, place */
		refused(&f, &l, wr, G, 4, R_CTRL, 4, 1, IOVIRT_ENOVF, O, "VF not enabled");
		refused(&f, &l, wr, G, 1000, R_CTRL, 4, 1, IOVIRT_ENOVF, O, "VF past TotalVFs");
		refused(&f, &l, wr, G + 1, 2, R_CTRL, 4, 1, IOVIRT_EOWNER, O, "other guest");
		refused(&f, &l, wr, G, 3, R_CTRL, 4, 1, IOVIRT_EOWNER, O, "unassigned VF");
		refused(&f, &l, wr, G, 2, R_CTRL, 3, 1, IOVIRT_EINVAL, O, "width 3");
		refused(&f, &l, wr, G, 2, R_CTRL, 16, 1, IOVIRT_EINVAL, O, "width 16");
		refused(&f, &l, wr, G, 2, FX_WIN, 4, 1, IOVIRT_ERANGE, O, "past the window");
		refused(&f, &l, wr, G, 2, UINT64_C(1) << 40, 4, 1, IOVIRT_ERANGE, O, "far past the window");
		refused(&f, &l, wr, G, 2, 0x800, 4, 1, IOVIRT_ERESERVED, O, "no register");
		refused(&f, &l, wr, G, 2, R_STATUS, 8, 1, IOVIRT_ERESERVED, O, "crosses a register");
		/* sensitive registers, both directions */
		refused(&f, &l, wr, G, 2, R_KEY, 8, 0x4141, IOVIRT_ESENSITIVE, S, "sensitive");
		refused(&f, &l, wr, G, 2, R_QOS + 1, 1, 1, IOVIRT_ESENSITIVE, S, "inside a sensitive register");
	}
	/* DMA address registers (writes only: reads are plain) */
	refused(&f, &l, true, G, 2, R_RING, 4, 0x100000, IOVIRT_EALIGN, O, "half of a DMA address");
	refused(&f, &l, true, G, 2, R_RING + 4, 4, 0, IOVIRT_EALIGN, O, "upper half of a DMA address");
	refused(&f, &l, true, G, 2, R_RING, 8, 0x400000, IOVIRT_ENOENT, D, "unmapped");
	refused(&f, &l, true, G, 2, R_RING, 8, 0x100800, IOVIRT_ENOENT, D, "tail unmapped");
	refused(&f, &l, true, G, 2, R_WB, 4, 0x100000, IOVIRT_EPERM, D, "device would write read-only");
	refused(&f, &l, true, G, 2, R_RING, 8, 0x300000, IOVIRT_EREENTRANT, D, "onto a VF BAR");
	refused(&f, &l, true, G, 2, R_RING, 8, UINT64_MAX - 0x10, IOVIRT_EOVERFLOW, D, "wraps");
	refused(&f, &l, true, G, 2, R_RING, 8, UINT64_C(1) << 52, IOVIRT_ERANGE, D,
		"beyond the ASID's 48 bits (ERANGE, but of kind DMA_ADDR)");
	/* accepted accesses are not reported */
	int n = l.n;
	uint64_t v;
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_RING, 8, 0x100000), 0);
	cr_assert_eq(iovirt_sriov_mmio_read(f.sr, G, 2, R_RING, 8, &v), 0);
	cr_assert_eq(iovirt_sriov_mmio_write(f.sr, G, 2, R_DOORBELL, 4, 1), 0);
	cr_assert_eq(l.n, n, "no report for accepted accesses");
	/* caller errors (no object, nowhere to put the value) are no guest access */
	cr_assert_eq(iovirt_sriov_mmio_read(f.sr, G, 2, R_CTRL, 4, NULL), IOVIRT_EINVAL);
	cr_assert_eq(l.n, n);
	fx_done(&f);

	/* the host callback failing: told too, as the host's failure, not the guest's */
	memset(&l, 0, sizeof(l));
	fx_host(&f, 8);
	f.prm.report = on_event;
	f.prm.hook_arg = &l;
	f.prm.vf_reg_dev = 99; /* the adapter knows no such device */
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f.p, &f.prm, &f.sr), 0);
	fx_enable(&f, 2);
	fx_bind(&f, 0, G, ASID);
	refused(&f, &l, true, G, 0, R_CTRL, 4, 1, IOVIRT_EHOST, IOVIRT_SRIOV_EV_HOST, "host write fails");
	refused(&f, &l, false, G, 0, R_CTRL, 4, 0, IOVIRT_EHOST, IOVIRT_SRIOV_EV_HOST, "host read fails");
	fx_done(&f);
}
