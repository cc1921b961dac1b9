/* SPDX-License-Identifier: MIT */
/* iovirt_gpt_translate: a walk of tables a guest wrote, for every format. */
#include "gt.h"

/* ---- agreement with the specification walkers ---- */

/* Bits whose meaning the library and the spec walkers of tests/common both
 * decide (flipping others would test what only one of them checks). */
static uint64_t flip_bit(uint32_t fmt, uint64_t *rng)
{
	static const unsigned vtd[] = { 0, 1, 7, 12, 13, 16, 20 };
	static const unsigned amd[] = { 0, 9, 10, 11, 12, 13, 20, 52, 58, 59, 60, 61, 62 };
	static const unsigned s2[] = { 0, 1, 6, 7, 10, 12, 13, 20 };
	static const unsigned rv[] = { 0, 1, 2, 3, 4, 6, 7, 10, 11, 18, 54, 61, 63 };
	const unsigned *b = vtd;
	unsigned n = sizeof(vtd) / sizeof(vtd[0]);
	if (fmt == IOVIRT_PT_FMT_AMD_V1)
		b = amd, n = sizeof(amd) / sizeof(amd[0]);
	else if (fmt == IOVIRT_PT_FMT_ARM_S2)
		b = s2, n = sizeof(s2) / sizeof(s2[0]);
	else if (fmt == IOVIRT_PT_FMT_RISCV_G)
		b = rv, n = sizeof(rv) / sizeof(rv[0]);
	return UINT64_C(1) << b[th_rand(rng) % n];
}

/* Where the library is stricter than the spec walker, by a documented choice:
 * an AMD-Vi Next Level 7 page whose encoded size is not between its level's
 * natural size and the next level's. */
static bool stricter(uint32_t fmt, const struct iovirt_gpt_result *r)
{
	return fmt == IOVIRT_PT_FMT_AMD_V1 && r->fault == IOVIRT_GPT_RESERVED && ((r->entry >> 9) & 7) == 7 &&
	       !(r->entry & (UINT64_C(0x7f) << 52));
}

/* One probe: the library's answer for a read and a write must be the spec
 * walker's (same address, permissions, level; a fault where it faults). */
static int probe(struct gt *t, uint64_t iova)
{
	struct iovirt_gpt_result r, rw;
	int err = gt_xlate(t, iova, IOVIRT_PROT_READ, &r);
	int werr = gt_xlate(t, iova, IOVIRT_PROT_WRITE, &rw);
	if (r.fault == IOVIRT_GPT_TABLE || rw.fault == IOVIRT_GPT_TABLE)
		return 0; /* a pointer out of guest RAM: the spec walker would read it anyway */
	struct vtd_walk w;
	const uint64_t pa = gt_spec(t, iova, &w);
	const uint32_t fmt = t->ctx.format;
	if (stricter(fmt, &r)) {
		cr_assert_eq(werr, err);
		return 0;
	}
	const bool rv_nou = fmt == IOVIRT_PT_FMT_RISCV_G && r.fault == IOVIRT_GPT_PERMISSION &&
			    !(r.entry & IOVIRT_RV_U);
	if (err == 0 || (err == IOVIRT_EPERM && !rv_nou)) {
		cr_assert_eq(r.gpa, pa, "fmt %u iova %#llx: gpa %#llx, spec %#llx", fmt,
			     (unsigned long long)iova, (unsigned long long)r.gpa, (unsigned long long)pa);
		cr_assert_eq(r.level, w.level);
		cr_assert_eq(err == 0, (w.rw & 1) != 0, "fmt %u iova %#llx read", fmt, (unsigned long long)iova);
	} else {
		cr_assert_eq(pa, VTD_WALK_FAULT, "fmt %u iova %#llx: err %d (fault %u), spec %#llx", fmt,
			     (unsigned long long)iova, err, r.fault, (unsigned long long)pa);
	}
	cr_assert_eq(werr == 0, pa != VTD_WALK_FAULT && (w.rw & 2), "fmt %u iova %#llx write: %d", fmt,
		     (unsigned long long)iova, werr);
	return 1;
}

static void diff_format(uint32_t fmt, uint64_t seed)
{
	struct gt t;
	gt_init(&t);
	gt_ctx(&t, fmt);
	uint64_t rng = seed, iovas[256];
	for (unsigned i = 0; i < 256; i++) {
		const unsigned level = 1 + (unsigned)(th_rand(&rng) % 3);
		const uint64_t size = UINT64_C(1) << (12 + 9 * (level - 1));
		const uint64_t iova = (th_rand(&rng) % (UINT64_C(16) << 30)) & ~(size - 1);
		const uint64_t pa = (th_rand(&rng) % (UINT64_C(1) << 46)) & ~(size - 1);
		unsigned prot = 1 + (unsigned)(th_rand(&rng) % 3);
		if (fmt == IOVIRT_PT_FMT_RISCV_G && prot == IOVIRT_PROT_WRITE)
			prot = GT_RW;
		gt_map(&t, iova, pa, level, prot);
		iovas[i] = iova + (th_rand(&rng) % size & ~UINT64_C(7));
	}
	int compared = 0;
	for (unsigned round = 0; round < 8; round++) {
		for (unsigned i = 0; i < 256; i++) {
			compared += probe(&t, iovas[i]);
			compared += probe(&t, th_rand(&rng) % (UINT64_C(32) << 30));
		}
		/* then flip bits of a few entries the guest wrote */
		for (unsigned k = 0; k < 24; k++) {
			uint64_t *e = (uint64_t *)(void *)(t.mem + (th_rand(&rng) % t.next & ~UINT64_C(7)));
			if (*e)
				*e ^= flip_bit(fmt, &rng);
		}
	}
	cr_assert_gt(compared, 2000, "too few probes compared: %d", compared);
	gt_fini(&t);
}

/* VT-d second-stage tables built in guest memory translate as the spec walker reads them, under bit flips. */
Test(gpt, agrees_vtd) { diff_format(IOVIRT_PT_FMT_VTD_SL, 11); }
/* AMD-Vi v1 tables: the same. */
Test(gpt, agrees_amd) { diff_format(IOVIRT_PT_FMT_AMD_V1, 12); }
/* Arm stage 2 tables: the same. */
Test(gpt, agrees_s2) { diff_format(IOVIRT_PT_FMT_ARM_S2, 13); }
/* RISC-V Sv48x4 tables: the same. */
Test(gpt, agrees_rv) { diff_format(IOVIRT_PT_FMT_RISCV_G, 14); }

/* ---- read once ---- */

struct once {
	struct gt *t;
	uint64_t gpa[16];
	unsigned n;
	uint64_t other; /* what each entry becomes right after it was read */
};

static void once_hook(void *arg, uint32_t guest, uint64_t gpa, size_t len)
{
	struct once *o = arg;
	(void)guest;
	cr_assert_eq(len, 8);
	cr_assert_lt(o->n, 16);
	o->gpa[o->n++] = gpa;
	*gt_ptr(o->t, gpa) = o->other; /* the guest rewrites it at once */
}

/* Each entry is read exactly once and the result comes from those copies, though the guest rewrites every entry right after it is read. */
Test(gpt, read_once)
{
	for (unsigned f = 0; f < GT_NFMT; f++) {
		struct gt t;
		gt_init(&t);
		gt_ctx(&t, gt_formats[f]);
		const uint64_t iova = UINT64_C(0x12345000), pa = UINT64_C(0x777000);
		gt_map(&t, iova, pa, 1, GT_RW);
		struct once o = { .t = &t, .other = gt_mk_leaf(gt_formats[f], UINT64_C(0x999000), 1, GT_RW) };
		iovirt_posix_set_read_hook(t.p, once_hook, &o);
		struct iovirt_gpt_result r;
		cr_assert_eq(gt_xlate(&t, iova + 0x10, IOVIRT_PROT_WRITE, &r), 0, "fmt %u", gt_formats[f]);
		cr_assert_eq(r.gpa, pa + 0x10);
		cr_assert_eq(o.n, GT_TOP, "one read per level");
		for (unsigned i = 0; i < o.n; i++)
			for (unsigned j = i + 1; j < o.n; j++)
				cr_assert_neq(o.gpa[i], o.gpa[j], "an entry read twice");
		/* the rewritten root entry now names no table in guest RAM: a new walk
		 * reads it, the one entry, and stops */
		o.n = 0;
		cr_assert_neq(gt_xlate(&t, iova, IOVIRT_PROT_READ, &r), 0);
		cr_assert_eq(o.n, 1);
		iovirt_posix_set_read_hook(t.p, NULL, NULL);
		gt_fini(&t);
	}
}

/* ---- where tables may live ---- */

/* A table entry pointing outside every region, into MMIO or RESERVED memory, or into RAM the host cannot read, stops the walk before that read, at the level of the entry, with the map's refusal. */
Test(gpt, table_placement)
{
	for (unsigned f = 0; f < GT_NFMT; f++) {
		const uint32_t fmt = gt_formats[f];
		struct gt t;
		gt_init(&t);
		gt_ctx(&t, fmt);
		const uint64_t iova = UINT64_C(0x40000000);
		gt_map(&t, iova, 0x1000, 1, GT_RW);
		uint64_t *l2 = gt_slot(&t, iova, 2); /* the entry pointing to the level-1 table */
		const struct {
			uint64_t gpa;
			int err;
		} cases[] = {
			{ t.base + GT_BYTES + (UINT64_C(1) << 20), IOVIRT_ENOREGION },
			{ t.base + GT_RAM, IOVIRT_EMMIO },
			{ t.base + GT_BYTES, IOVIRT_ERESERVED },
			{ t.base - 4096, IOVIRT_ENOREGION },
			{ t.base + GT_DEAD_OFF, IOVIRT_EGUEST },
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			*l2 = gt_mk_table(fmt, cases[i].gpa, 2);
			uint64_t reads = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ);
			struct iovirt_gpt_result r;
			cr_assert_eq(gt_xlate(&t, iova, IOVIRT_PROT_READ, &r), cases[i].err, "fmt %u case %zu", fmt, i);
			cr_assert_eq(r.err, cases[i].err);
			cr_assert_eq(r.fault, cases[i].err == IOVIRT_EGUEST ? IOVIRT_GPT_READ : IOVIRT_GPT_TABLE);
			cr_assert_eq(r.level, 1);
			cr_assert_eq(r.entry_gpa, cases[i].gpa + 8 * ((iova >> 12) & 511));
			/* three levels read; the refused one only when the host's read itself failed */
			cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ) - reads,
				     cases[i].err == IOVIRT_EGUEST ? 4u : 3u);
		}
		/* the root itself in MMIO */
		t.ctx.root = t.base + GT_RAM;
		if (fmt == IOVIRT_PT_FMT_RISCV_G)
			t.ctx.root = t.base + GT_BYTES - 16384; /* 16 KiB aligned, its first page RAM */
		struct iovirt_gpt_result r;
		int err = gt_xlate(&t, fmt == IOVIRT_PT_FMT_RISCV_G ? (UINT64_C(3) << 48) : 0, IOVIRT_PROT_READ, &r);
		cr_assert_eq(err, IOVIRT_EMMIO, "fmt %u root in MMIO: %d", fmt, err);
		cr_assert_eq(r.level, GT_TOP);
		gt_fini(&t);
	}
}

/* ---- loops ---- */

/* Tables that point back to themselves (every level's entry is the root) read at most one entry per level and end as the spec walker ends. */
Test(gpt, loops_bounded)
{
	for (unsigned f = 0; f < GT_NFMT; f++) {
		const uint32_t fmt = gt_formats[f];
		struct gt t;
		gt_init(&t);
		gt_ctx(&t, fmt);
		/* iova 0: index 0 at every level, the root's entry 0 points to the root */
		uint64_t *e0 = gt_ptr(&t, t.ctx.root);
		*e0 = gt_mk_table(fmt, t.ctx.root, GT_TOP);
		if (fmt == IOVIRT_PT_FMT_AMD_V1)
			*e0 = t.ctx.root | 1 | (UINT64_C(3) << 9) | (UINT64_C(3) << 61); /* Next Level 3 */
		const uint64_t reads = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ);
		struct iovirt_gpt_result r;
		int err = gt_xlate(&t, 0, IOVIRT_PROT_READ, &r);
		cr_assert_leq(iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ) - reads, GT_TOP);
		struct vtd_walk w;
		const uint64_t pa = gt_spec(&t, 0, &w);
		if (err == 0)
			cr_assert_eq(r.gpa, pa, "fmt %u", fmt);
		else
			cr_assert_eq(pa, VTD_WALK_FAULT, "fmt %u: %d", fmt, err);
		/* VT-d reads the looping entry as a 4 KiB leaf at level 1, Arm as a page
		 * without AF; RISC-V refuses a pointer at level 1, AMD-Vi a PDE naming
		 * its own level */
		const int want = fmt == IOVIRT_PT_FMT_VTD_SL ? 0 : fmt == IOVIRT_PT_FMT_ARM_S2 ? IOVIRT_EIOFAULT
												 : IOVIRT_ERESERVED;
		cr_assert_eq(err, want, "fmt %u: %d", fmt, err);
		gt_fini(&t);
	}
}

/* ---- reserved bits, per format ---- */

struct rsvd_case {
	uint32_t fmt;
	unsigned level;  /* the entry altered: at this level on the way to a 4 KiB leaf,
	                  * or the leaf itself when leaf_level == level */
	unsigned leaf_level;
	uint64_t set;    /* bits ORed into the entry */
	uint64_t clear;  /* bits cleared */
	int err;
};

/* Reserved bits and encodings of each format refuse the walk at the entry's level with IOVIRT_GPT_RESERVED. */
Test(gpt, reserved_bits)
{
	static const struct rsvd_case cases[] = {
		{ IOVIRT_PT_FMT_VTD_SL, 1, 1, UINT64_C(1) << 62, 0, IOVIRT_ERESERVED },   /* TM */
		{ IOVIRT_PT_FMT_VTD_SL, 2, 1, UINT64_C(1) << 11, 0, IOVIRT_ERESERVED },   /* SNP outside a leaf */
		{ IOVIRT_PT_FMT_VTD_SL, 1, 1, UINT64_C(1) << 11, 0, 0 },                  /* SNP in a leaf */
		{ IOVIRT_PT_FMT_VTD_SL, 4, 1, UINT64_C(1) << 7, 0, IOVIRT_ERESERVED },    /* PS in an SL-PML4E */
		{ IOVIRT_PT_FMT_VTD_SL, 2, 2, UINT64_C(1) << 12, 0, IOVIRT_ERESERVED },   /* 2 MiB frame bit 12 */
		{ IOVIRT_PT_FMT_VTD_SL, 1, 1, 0, 3, IOVIRT_ENOENT },                      /* neither R nor W */
		{ IOVIRT_PT_FMT_AMD_V1, 3, 1, UINT64_C(1) << 55, 0, IOVIRT_ERESERVED },   /* bits 58:52 */
		{ IOVIRT_PT_FMT_AMD_V1, 3, 1, UINT64_C(1) << 59, 0, IOVIRT_ERESERVED },   /* bit 59 of a PDE (60:52) */
		{ IOVIRT_PT_FMT_AMD_V1, 2, 1, UINT64_C(1) << 60, 0, IOVIRT_ERESERVED },   /* bit 60 of a PDE */
		{ IOVIRT_PT_FMT_AMD_V1, 1, 1, UINT64_C(3) << 59, 0, 0 },                  /* U and FC in a PTE */
		{ IOVIRT_PT_FMT_AMD_V1, 2, 2, UINT64_C(3) << 59, 0, 0 },                  /* U and FC in a 2 MiB PTE */
		{ IOVIRT_PT_FMT_AMD_V1, 1, 1, UINT64_C(3) << 9, 0, IOVIRT_ERESERVED },    /* NL 3 at level 1 */
		{ IOVIRT_PT_FMT_AMD_V1, 2, 2, UINT64_C(1) << 13, 0, IOVIRT_ERESERVED },   /* 2 MiB frame bit 13 */
		{ IOVIRT_PT_FMT_AMD_V1, 2, 1, UINT64_C(7) << 9, 0, IOVIRT_ERESERVED },    /* NL 7, size 2^13 at level 2 */
		{ IOVIRT_PT_FMT_ARM_S2, 2, 1, UINT64_C(1) << 48, 0, IOVIRT_ERESERVED },   /* RES0 bits 50:48 */
		{ IOVIRT_PT_FMT_ARM_S2, 1, 1, UINT64_C(1) << 51, 0, 0 },                  /* DBM in a page */
		{ IOVIRT_PT_FMT_ARM_S2, 2, 1, UINT64_C(1) << 51, 0, 0 },                  /* bit 51 of a table: ignored */
		{ IOVIRT_PT_FMT_ARM_S2, 2, 2, UINT64_C(1) << 20, 0, IOVIRT_ERESERVED },   /* block RES0 bits */
		{ IOVIRT_PT_FMT_ARM_S2, 1, 1, 0, 2, IOVIRT_ENOENT },                      /* 0b01 at level 3 */
		{ IOVIRT_PT_FMT_ARM_S2, 1, 1, 0, UINT64_C(1) << 10, IOVIRT_EIOFAULT },    /* AF clear */
		{ IOVIRT_PT_FMT_RISCV_G, 1, 1, UINT64_C(1) << 54, 0, IOVIRT_ERESERVED },  /* bits 60:54 */
		{ IOVIRT_PT_FMT_RISCV_G, 1, 1, UINT64_C(1) << 61, 0, IOVIRT_ERESERVED },  /* PBMT */
		{ IOVIRT_PT_FMT_RISCV_G, 1, 1, UINT64_C(1) << 63, 0, IOVIRT_ERESERVED },  /* N */
		{ IOVIRT_PT_FMT_RISCV_G, 1, 1, 0, UINT64_C(1) << 1, IOVIRT_ERESERVED },   /* W without R */
		{ IOVIRT_PT_FMT_RISCV_G, 3, 1, UINT64_C(1) << 6, 0, IOVIRT_ERESERVED },   /* A in a pointer */
		{ IOVIRT_PT_FMT_RISCV_G, 2, 2, UINT64_C(1) << 10, 0, IOVIRT_ERESERVED },  /* misaligned megapage */
		{ IOVIRT_PT_FMT_RISCV_G, 1, 1, 0, UINT64_C(1) << 6, IOVIRT_EIOFAULT },    /* A clear */
		{ IOVIRT_PT_FMT_RISCV_G, 1, 1, 0, UINT64_C(1) << 4, IOVIRT_EPERM },       /* U clear */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rsvd_case *c = &cases[i];
		struct gt t;
		gt_init(&t);
		gt_ctx(&t, c->fmt);
		const uint64_t iova = UINT64_C(0x80000000);
		gt_map(&t, iova, UINT64_C(0x40000000), c->leaf_level, GT_RW);
		uint64_t *e = gt_slot(&t, iova, c->level);
		*e = (*e | c->set) & ~c->clear;
		struct iovirt_gpt_result r;
		int err = gt_xlate(&t, iova, IOVIRT_PROT_READ, &r);
		cr_assert_eq(err, c->err, "case %zu: %d", i, err);
		if (err) {
			cr_assert_eq(r.level, c->level, "case %zu: level %u", i, r.level);
			cr_assert_eq(r.entry, *e);
			cr_assert_eq(r.entry_gpa, gt_gpa(&t, (uint64_t)((uint8_t *)e - t.mem)));
			cr_assert_eq(r.fault, err == IOVIRT_ERESERVED ? IOVIRT_GPT_RESERVED
					      : err == IOVIRT_ENOENT  ? IOVIRT_GPT_NOT_PRESENT
					      : err == IOVIRT_EPERM   ? IOVIRT_GPT_PERMISSION
								      : IOVIRT_GPT_ACCESS);
		}
		gt_fini(&t);
	}
}

/* ---- permissions ---- */

/* A read-only leaf refuses a write with EPERM and still reports the translation; VT-d and AMD-Vi intersect R/W over the levels, Arm and RISC-V take the leaf's alone; RISC-V takes a write with D clear as an access fault. */
Test(gpt, permissions)
{
	for (unsigned f = 0; f < GT_NFMT; f++) {
		const uint32_t fmt = gt_formats[f];
		struct gt t;
		gt_init(&t);
		gt_ctx(&t, fmt);
		const uint64_t a = UINT64_C(0x1000), b = UINT64_C(0x40000000);
		gt_map(&t, a, 0x5000, 1, IOVIRT_PROT_READ);
		gt_map(&t, b, 0x200000, 2, GT_RW);
		struct iovirt_gpt_result r;
		cr_assert_eq(gt_xlate(&t, a + 4, IOVIRT_PROT_READ, &r), 0);
		cr_assert_eq(r.prot, IOVIRT_PROT_READ);
		cr_assert_eq(r.page_size, 4096);
		cr_assert_eq(gt_xlate(&t, a + 4, IOVIRT_PROT_WRITE, &r), IOVIRT_EPERM);
		cr_assert_eq(r.fault, IOVIRT_GPT_PERMISSION);
		cr_assert_eq(r.gpa, 0x5004);
		cr_assert_eq(r.level, 1);
		cr_assert_eq(gt_xlate(&t, b + 0x1234, GT_RW, &r), 0);
		cr_assert_eq(r.gpa, 0x201234);
		cr_assert_eq(r.page_size, UINT64_C(2) << 20);
		cr_assert_eq(r.level, 2);
		/* the level-3 entry above b loses W */
		uint64_t *up = gt_slot(&t, b, 3);
		if (fmt == IOVIRT_PT_FMT_VTD_SL)
			*up &= ~UINT64_C(2);
		else if (fmt == IOVIRT_PT_FMT_AMD_V1)
			*up &= ~(UINT64_C(1) << 62);
		else if (fmt == IOVIRT_PT_FMT_ARM_S2)
			*up |= UINT64_C(1) << 61; /* APTable-like bits mean nothing at stage 2: ignored */
		else
			*gt_slot(&t, b, 2) &= ~(UINT64_C(1) << 7); /* D clear */
		int err = gt_xlate(&t, b, IOVIRT_PROT_WRITE, &r);
		int want = fmt == IOVIRT_PT_FMT_ARM_S2 ? 0 : fmt == IOVIRT_PT_FMT_RISCV_G ? IOVIRT_EIOFAULT : IOVIRT_EPERM;
		cr_assert_eq(err, want, "fmt %u: %d", fmt, err);
		cr_assert_eq(gt_xlate(&t, b, IOVIRT_PROT_READ, &r), 0);
		gt_fini(&t);
	}
}

/* ---- format specifics ---- */

/* AMD-Vi: a PDE may skip levels when the skipped address bits are 0 (else ERANGE); a Next Level 7 PTE maps the page size its address encodes. */
Test(gpt, amd_skip_and_sizes)
{
	struct gt t;
	gt_init(&t);
	gt_ctx(&t, IOVIRT_PT_FMT_AMD_V1);
	/* root (level 4) entry 0 -> a level-1 table directly (Next Level 1) */
	const uint64_t l1 = gt_table(&t, 4096);
	*gt_ptr(&t, t.ctx.root) = l1 | 1 | (UINT64_C(1) << 9) | (UINT64_C(3) << 61);
	*gt_ptr(&t, l1 + 8 * 5) = gt_mk_leaf(IOVIRT_PT_FMT_AMD_V1, 0xabc000, 1, GT_RW);
	struct iovirt_gpt_result r;
	cr_assert_eq(gt_xlate(&t, 0x5008, IOVIRT_PROT_READ, &r), 0);
	cr_assert_eq(r.gpa, 0xabc008);
	cr_assert_eq(gt_xlate(&t, (UINT64_C(1) << 21) | 0x5000, IOVIRT_PROT_READ, &r), IOVIRT_ERANGE);
	cr_assert_eq(r.fault, IOVIRT_GPT_RANGE);
	cr_assert_eq(r.level, 4);
	/* Next Level 7 at level 1: address bits 14:12 = 011 -> 32 KiB (replicated in 8 entries) */
	for (unsigned i = 8; i < 16; i++)
		*gt_ptr(&t, l1 + 8 * i) = (UINT64_C(0x1230000) | 0x3000) | 1 | (UINT64_C(7) << 9) | (UINT64_C(1) << 61);
	cr_assert_eq(gt_xlate(&t, 0xd123, IOVIRT_PROT_READ, &r), 0);
	cr_assert_eq(r.page_size, 32768);
	cr_assert_eq(r.gpa, 0x1230000 + 0x5123);
	struct vtd_walk w;
	cr_assert_eq(gt_spec(&t, 0xd123, &w), r.gpa);
	gt_fini(&t);
}

/* Arm: a 40-bit input starting at lookup level 1 uses two concatenated root tables (8 KiB aligned); a misaligned root or an impossible SL0/T0SZ pair is refused before any read. */
Test(gpt, s2_concatenated_root)
{
	struct gt t;
	gt_init(&t);
	t.ctx = (struct iovirt_gpt_ctx){ .size = sizeof(t.ctx), .format = IOVIRT_PT_FMT_ARM_S2, .mode = 1,
					 .t0sz = 24, .root = gt_table(&t, 8192) };
	const uint64_t iova = (UINT64_C(1) << 39) | (UINT64_C(3) << 30); /* root entry 512 + 3 */
	*gt_ptr(&t, t.ctx.root + 8 * (512 + 3)) = gt_mk_leaf(IOVIRT_PT_FMT_ARM_S2, UINT64_C(5) << 30, 3, GT_RW);
	struct iovirt_gpt_result r;
	cr_assert_eq(gt_xlate(&t, iova | 0x123, IOVIRT_PROT_WRITE, &r), 0);
	cr_assert_eq(r.gpa, (UINT64_C(5) << 30) | 0x123);
	cr_assert_eq(r.page_size, UINT64_C(1) << 30);
	cr_assert_eq(gt_xlate(&t, UINT64_C(1) << 40, IOVIRT_PROT_READ, &r), IOVIRT_ERANGE);
	t.ctx.root += 4096;
	cr_assert_eq(gt_xlate(&t, iova, IOVIRT_PROT_READ, &r), IOVIRT_EALIGN);
	t.ctx.root -= 4096;
	t.ctx.t0sz = 19; /* 45 bits from level 1: 64 tables */
	cr_assert_eq(gt_xlate(&t, 0, IOVIRT_PROT_READ, &r), IOVIRT_EINVAL);
	t.ctx.t0sz = 34; t.ctx.mode = 2; /* 30 bits from level 0 */
	cr_assert_eq(gt_xlate(&t, 0, IOVIRT_PROT_READ, &r), IOVIRT_EINVAL);
	t.ctx.t0sz = 30; t.ctx.mode = 0; /* 34 bits from lookup level 2: 16 tables, 64 KiB aligned */
	t.ctx.root += 8192;
	cr_assert_eq(gt_xlate(&t, 0, IOVIRT_PROT_READ, &r), IOVIRT_EALIGN);
	gt_fini(&t);
}

/* RISC-V: the x4 root indexes 11 bits (GPA bits 49:39 in Sv48x4); above that the walk faults with ERANGE. */
Test(gpt, rv_wide_root)
{
	struct gt t;
	gt_init(&t);
	gt_ctx(&t, IOVIRT_PT_FMT_RISCV_G);
	const uint64_t iova = (UINT64_C(3) << 48) | 0x1000;
	gt_map(&t, iova, 0x7000, 1, GT_RW);
	cr_assert_neq(*gt_ptr(&t, t.ctx.root + 8 * (3 * 512)), 0, "root entry 1536 used");
	struct iovirt_gpt_result r;
	cr_assert_eq(gt_xlate(&t, iova, IOVIRT_PROT_READ, &r), 0);
	cr_assert_eq(r.gpa, 0x7000);
	cr_assert_eq(gt_xlate(&t, UINT64_C(1) << 50, IOVIRT_PROT_READ, &r), IOVIRT_ERANGE);
	t.ctx.root += 4096;
	cr_assert_eq(gt_xlate(&t, iova, IOVIRT_PROT_READ, &r), IOVIRT_EALIGN);
	gt_fini(&t);
}

/* ---- arguments ---- */

/* Bad arguments are refused before any guest read, each with its code. */
Test(gpt, arguments)
{
	struct gt t;
	gt_init(&t);
	gt_ctx(&t, IOVIRT_PT_FMT_VTD_SL);
	struct iovirt_gpt_result r;
	struct iovirt_gpt_ctx c = t.ctx;
	cr_assert_eq(iovirt_gpt_translate(NULL, t.map, t.ops, t.p, 0, 1, &r), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_gpt_translate(&c, NULL, t.ops, t.p, 0, 1, &r), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_gpt_translate(&c, t.map, NULL, t.p, 0, 1, &r), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_gpt_translate(&c, t.map, t.ops, t.p, 0, 1, NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_gpt_translate(&c, t.map, t.ops, t.p, 0, 0, &r), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_gpt_translate(&c, t.map, t.ops, t.p, 0, 4, &r), IOVIRT_EINVAL);
	c.size = IOVIRT_GPT_CTX_SIZE_V1 - 1;
	cr_assert_eq(iovirt_gpt_translate(&c, t.map, t.ops, t.p, 0, 1, &r), IOVIRT_EINVAL);
	const struct { uint32_t format, levels, mode, t0sz; } bad[] = {
		{ 0, 4, 0, 0 }, { 9, 4, 0, 0 }, { IOVIRT_PT_FMT_VTD_SL, 2, 0, 0 }, { IOVIRT_PT_FMT_VTD_SL, 6, 0, 0 },
		{ IOVIRT_PT_FMT_VTD_SL, 4, 1, 0 }, { IOVIRT_PT_FMT_AMD_V1, 0, 0, 0 }, { IOVIRT_PT_FMT_AMD_V1, 7, 0, 0 },
		{ IOVIRT_PT_FMT_AMD_V1, 4, 0, 16 }, { IOVIRT_PT_FMT_ARM_S2, 4, 2, 16 }, { IOVIRT_PT_FMT_ARM_S2, 0, 3, 16 },
		{ IOVIRT_PT_FMT_ARM_S2, 0, 2, 15 }, { IOVIRT_PT_FMT_ARM_S2, 0, 0, 40 }, { IOVIRT_PT_FMT_RISCV_G, 0, 7, 0 },
		{ IOVIRT_PT_FMT_RISCV_G, 0, 11, 0 }, { IOVIRT_PT_FMT_RISCV_G, 3, 8, 0 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = (struct iovirt_gpt_ctx){ sizeof(c), bad[i].format, bad[i].levels, t.ctx.root, bad[i].mode, bad[i].t0sz };
		cr_assert_eq(iovirt_gpt_translate(&c, t.map, t.ops, t.p, 0, 1, &r), IOVIRT_EINVAL, "case %zu", i);
		cr_assert_eq(r.err, IOVIRT_EINVAL);
	}
	c = t.ctx;
	c.root += 8;
	cr_assert_eq(iovirt_gpt_translate(&c, t.map, t.ops, t.p, 0, 1, &r), IOVIRT_EALIGN);
	struct iovirt_host_ops ops = *t.ops;
	ops.guest_read = NULL;
	cr_assert_eq(iovirt_gpt_translate(&t.ctx, t.map, &ops, t.p, 0, 1, &r), IOVIRT_ENOSYS);
	/* beyond the 48-bit width; VT-d AW 39 and 57 bits */
	cr_assert_eq(gt_xlate(&t, UINT64_C(1) << 48, 1, &r), IOVIRT_ERANGE);
	cr_assert_eq(r.fault, IOVIRT_GPT_RANGE);
	cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ), 0, "nothing read");
	gt_fini(&t);
}

/* ---- the host's own tables, read as a guest's ---- */

struct host_tables {
	struct gt *t;
	unsigned root_level;
};

static int add_table(void *arg, const struct iovirt_pt_table *tb)
{
	const struct host_tables *h = arg;
	const uint64_t bytes = (h->t->ctx.format == IOVIRT_PT_FMT_RISCV_G && tb->level == h->root_level) ? 16384 : 4096;
	void *hva = (void *)(uintptr_t)(tb->pa - IOVIRT_POSIX_PA_OFFSET);
	struct iovirt_region reg = { .size = sizeof(reg), .gpa = tb->pa, .length = bytes, .kind = IOVIRT_REGION_RAM,
				     .access = IOVIRT_DEV_READ, .owner = GT_GUEST, .flags = IOVIRT_REGION_HPA,
				     .hva = hva, .hpa = tb->pa };
	cr_assert_eq(iovirt_gmap_add(h->t->map, &reg), 0);
	cr_assert_eq(iovirt_posix_guest_add(h->t->p, GT_GUEST, tb->pa, hva, bytes), 0);
	return 0;
}

/* Tables lib/pagetable wrote for each format, read by the guest walker from what iovirt_pt_root_info reports, translate as iovirt_pt_translate does: the host encoder and the guest decoder agree. */
Test(gpt, reads_host_tables)
{
	for (unsigned f = 0; f < GT_NFMT; f++) {
		struct gt t;
		gt_init(&t);
		struct iovirt_iommu_params ip = { .size = sizeof(ip), .format = gt_formats[f] };
		struct iovirt_iommu *io;
		cr_assert_eq(iovirt_iommu_create(t.ops, t.p, &ip, &io), 0);
		cr_assert_eq(iovirt_pt_space_create(io, 1, NULL), 0);
		uint64_t rng = 77 + f;
		for (unsigned i = 0; i < 40; i++) {
			const uint64_t size = (i % 5 == 0) ? (UINT64_C(2) << 20) : 4096;
			const uint64_t iova = (th_rand(&rng) % (UINT64_C(1) << 34)) & ~(size - 1);
			const uint64_t pa = (th_rand(&rng) % (UINT64_C(1) << 44)) & ~(size - 1);
			(void)iovirt_pt_map(io, 1, iova, pa, size, i % 3 ? GT_RW : IOVIRT_PROT_READ);
		}
		struct iovirt_pt_root_info ri = { .size = sizeof(ri) };
		cr_assert_eq(iovirt_pt_root_info(io, 1, &ri), 0);
		t.ctx = (struct iovirt_gpt_ctx){ .size = sizeof(t.ctx), .format = ri.format, .root = ri.root_pa };
		if (ri.format == IOVIRT_PT_FMT_VTD_SL || ri.format == IOVIRT_PT_FMT_AMD_V1) {
			t.ctx.levels = ri.levels;
		} else {
			t.ctx.mode = ri.mode;
			t.ctx.t0sz = ri.t0sz;
		}
		struct host_tables h = { &t, ri.levels };
		cr_assert_eq(iovirt_pt_foreach_table(io, 1, add_table, &h), 0);
		for (unsigned i = 0; i < 3000; i++) {
			const uint64_t iova = th_rand(&rng) % (UINT64_C(1) << 34);
			struct iovirt_xlate x;
			struct iovirt_gpt_result r;
			int he = iovirt_pt_translate(io, 1, iova, IOVIRT_PROT_WRITE, &x);
			int ge = gt_xlate(&t, iova, IOVIRT_PROT_WRITE, &r);
			cr_assert_eq(ge, he, "fmt %u iova %#llx: %d vs %d", gt_formats[f], (unsigned long long)iova, ge, he);
			if (!he || he == IOVIRT_EPERM) {
				cr_assert_eq(r.gpa, x.pa);
				cr_assert_eq(r.page_size, x.page_size);
				cr_assert_eq(r.prot, x.prot);
			}
		}
		iovirt_iommu_destroy(io);
		gt_fini(&t);
	}
}

/* A table entry in RAM of another guest, or in RAM the device may not read (write-only), is refused by the map before any read of it, at the entry's level. */
Test(gpt, table_placement_owner_access)
{
	for (unsigned f = 0; f < GT_NFMT; f++) {
		const uint32_t fmt = gt_formats[f];
		struct gt t;
		gt_init(&t);
		gt_ctx(&t, fmt);
		const uint64_t foreign = t.base + GT_BYTES + (UINT64_C(128) << 10);
		const uint64_t wonly = t.base + GT_BYTES + (UINT64_C(192) << 10);
		const struct iovirt_region rs[] = {
			{ .size = sizeof(rs[0]), .gpa = foreign, .length = 4096, .kind = IOVIRT_REGION_RAM,
			  .access = IOVIRT_DEV_READ | IOVIRT_DEV_WRITE, .owner = GT_GUEST + 1,
			  .flags = IOVIRT_REGION_HPA, .hva = t.dead, .hpa = GT_HPA + 2 * GT_BYTES },
			{ .size = sizeof(rs[0]), .gpa = wonly, .length = 4096, .kind = IOVIRT_REGION_RAM,
			  .access = IOVIRT_DEV_WRITE, .owner = GT_GUEST,
			  .flags = IOVIRT_REGION_HPA, .hva = t.dead, .hpa = GT_HPA + 3 * GT_BYTES },
		};
		for (size_t i = 0; i < 2; i++)
			cr_assert_eq(iovirt_gmap_add(t.map, &rs[i]), 0);
		const uint64_t iova = UINT64_C(0x40000000);
		gt_map(&t, iova, 0x1000, 1, GT_RW);
		uint64_t *l2 = gt_slot(&t, iova, 2);
		const struct {
			uint64_t gpa;
			int err;
		} cases[] = { { foreign, IOVIRT_EFOREIGN }, { wonly, IOVIRT_EPERM } };
		for (size_t i = 0; i < 2; i++) {
			*l2 = gt_mk_table(fmt, cases[i].gpa, 2);
			uint64_t reads = iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ);
			struct iovirt_gpt_result r;
			cr_assert_eq(gt_xlate(&t, iova, IOVIRT_PROT_READ, &r), cases[i].err, "fmt %u case %zu", fmt, i);
			cr_assert_eq(r.fault, IOVIRT_GPT_TABLE);
			cr_assert_eq(r.level, 1);
			cr_assert_eq(iovirt_posix_count(t.p, IOVIRT_CB_GUEST_READ) - reads, 3u);
		}
		gt_fini(&t);
	}
}
