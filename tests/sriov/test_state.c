/* SPDX-License-Identifier: MIT */
/* Save and restore of the PF + VF state. */
#include "fixture.h"

#define RW (IOVIRT_PROT_READ | IOVIRT_PROT_WRITE)
#define VFE IOVIRT_SRIOV_CTRL_VFE
#define MSE IOVIRT_SRIOV_CTRL_MSE
#define ARI IOVIRT_SRIOV_CTRL_ARI

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Re-seals a hand-edited blob so that only the field checks can refuse it. */
static void reseal(uint8_t *b, size_t len)
{
	uint32_t h = fnv1a(b, len - 4);
	memcpy(b + len - 4, &h, 4);
}

static struct iovirt_sriov *second(struct fx *f)
{
	struct iovirt_sriov *sr2 = NULL;
	cr_assert_eq(iovirt_sriov_create(iovirt_posix_ops(), f->p, &f->prm, &sr2), 0);
	return sr2;
}

/* Everything a guest or the translation path can observe is equal after a round trip. */
static void assert_same(struct iovirt_sriov *a, struct iovirt_sriov *b, uint16_t total)
{
	for (uint32_t o = 0; o < IOVIRT_SRIOV_CAP_SIZE; o += 4) {
		uint32_t va, vb;
		cr_assert_eq(iovirt_sriov_cfg_read(a, o, 4, &va), 0);
		cr_assert_eq(iovirt_sriov_cfg_read(b, o, 4, &vb), 0);
		cr_assert_eq(va, vb, "dword %#x: %#x vs %#x", o, va, vb);
	}
	cr_assert_eq(iovirt_sriov_num_enabled(a), iovirt_sriov_num_enabled(b));
	for (uint32_t n = 0; n < total; n++) {
		struct iovirt_sriov_vf_info ia, ib;
		cr_assert_eq(iovirt_sriov_vf_info(a, n, &ia), 0);
		cr_assert_eq(iovirt_sriov_vf_info(b, n, &ib), 0);
		cr_assert_eq(ia.state, ib.state, "VF %u", n);
		cr_assert_eq(ia.rid, ib.rid);
		cr_assert_eq(ia.guest, ib.guest);
		cr_assert_eq(ia.asid, ib.asid);
		for (unsigned i = 0; i < IOVIRT_SRIOV_NBARS; i++)
			cr_assert_eq(ia.bar[i], ib.bar[i]);
	}
	for (uint32_t rid = 0; rid < 0x400; rid++) {
		uint32_t va = 0, aa = 0, vb = 0, ab = 0;
		int ra = iovirt_sriov_rid_lookup(a, (uint16_t)rid, &va, &aa);
		int rb = iovirt_sriov_rid_lookup(b, (uint16_t)rid, &vb, &ab);
		cr_assert_eq(ra, rb, "rid %#x", rid);
		cr_assert_eq(va, vb);
		cr_assert_eq(aa, ab);
	}
}

/* A configured, bound PF saved and restored into a fresh one is indistinguishable from it. */
Test(sriov_state, round_trip)
{
	struct fx f;
	fx_setup(&f, 8);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, ARI), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_SYS_PGSIZE, 4, 2), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0, 4, 0x80000000u), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_VF_BAR0 + 12, 4, 2), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_NUM_VFS, 2, 5), 0);
	cr_assert_eq(fx_wr(&f, IOVIRT_SRIOV_CTRL, 2, VFE | MSE | ARI), 0);
	fx_bind(&f, 0, 11, 60);
	fx_bind(&f, 3, 12, 63);
	cr_assert_eq(iovirt_pt_map(f.io, 63, 0x8000, 0x9000000, 0x1000, RW), 0);

	size_t len = iovirt_sriov_save_size(f.sr);
	uint8_t *buf = calloc(1, len);
	cr_assert_eq(iovirt_sriov_save(f.sr, buf, len - 1), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_sriov_save(f.sr, buf, len), (int64_t)len);

	struct iovirt_sriov *sr2 = second(&f);
	cr_assert_eq(iovirt_sriov_restore(sr2, buf, len), 0);
	assert_same(f.sr, sr2, 8);
	struct iovirt_xlate x;
	cr_assert_eq(iovirt_sriov_dma_translate(sr2, fx_rid(&f, 3), 0x8000, IOVIRT_PROT_READ, &x), 0);
	cr_assert_eq(x.pa, 0x9000000);
	/* restoring into an enabled PF is refused */
	cr_assert_eq(iovirt_sriov_restore(sr2, buf, len), IOVIRT_EBUSY);
	/* and the restored one saves the same blob */
	uint8_t *buf2 = calloc(1, len);
	cr_assert_eq(iovirt_sriov_save(sr2, buf2, len), (int64_t)len);
	cr_assert_arr_eq(buf, buf2, len);
	iovirt_sriov_destroy(sr2);
	free(buf);
	free(buf2);
	fx_done(&f);
}

/* After random config traffic, restore gives the same registers and the same derived state. */
Test(sriov_state, random_round_trips)
{
	struct fx f;
	fx_setup(&f, 8);
	uint64_t seed = 42;
	size_t len = iovirt_sriov_save_size(f.sr);
	uint8_t *buf = calloc(1, len);
	for (int round = 0; round < 200; round++) {
		for (int k = 0; k < 20; k++) {
			unsigned w = 1u << (th_rand(&seed) % 3);
			uint32_t off = (uint32_t)(th_rand(&seed) % 0x40) & ~(w - 1);
			uint32_t v = (uint32_t)th_rand(&seed);
			if (th_rand(&seed) % 3 == 0)
				v &= 0x1f; /* small values, so NumVFs and page sizes are often valid */
			(void)iovirt_sriov_cfg_write(f.sr, off, w, v);
		}
		cr_assert_eq(iovirt_sriov_save(f.sr, buf, len), (int64_t)len);
		struct iovirt_sriov *sr2 = second(&f);
		cr_assert_eq(iovirt_sriov_restore(sr2, buf, len), 0, "round %d", round);
		assert_same(f.sr, sr2, 8);
		iovirt_sriov_destroy(sr2);
	}
	free(buf);
	fx_done(&f);
}

/* Any flipped byte is refused, and a refused restore changes nothing. */
Test(sriov_state, corruption_refused)
{
	struct fx f;
	fx_setup(&f, 4);
	fx_enable(&f, 2);
	fx_bind(&f, 1, 3, 70);
	size_t len = iovirt_sriov_save_size(f.sr);
	uint8_t *buf = calloc(1, len);
	cr_assert_eq(iovirt_sriov_save(f.sr, buf, len), (int64_t)len);
	struct iovirt_sriov *sr2 = second(&f);
	uint8_t before[64];
	for (unsigned i = 0; i < 64; i++) {
		uint32_t v;
		cr_assert_eq(iovirt_sriov_cfg_read(sr2, i, 1, &v), 0);
		before[i] = (uint8_t)v;
	}
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x10;
		cr_assert_eq(iovirt_sriov_restore(sr2, buf, len), IOVIRT_EINVAL, "byte %zu", i);
		buf[i] ^= 0x10;
	}
	cr_assert_eq(iovirt_sriov_restore(sr2, buf, len - 1), IOVIRT_EINVAL);
	for (unsigned i = 0; i < 64; i++) {
		uint32_t v;
		cr_assert_eq(iovirt_sriov_cfg_read(sr2, i, 1, &v), 0);
		cr_assert_eq(v, before[i]);
	}
	cr_assert_eq(iovirt_sriov_num_enabled(sr2), 0);
	iovirt_sriov_destroy(sr2);
	free(buf);
	fx_done(&f);
}

/* Well-sealed blobs that break a rule are refused with the rule's code, nothing changed. */
Test(sriov_state, inconsistent_blobs_refused)
{
	struct fx f;
	fx_setup(&f, 4);
	fx_enable(&f, 2);
	fx_bind(&f, 0, 3, 70);
	fx_bind(&f, 1, 4, 71);
	size_t len = iovirt_sriov_save_size(f.sr);
	uint8_t *good = calloc(1, len), *b = calloc(1, len);
	cr_assert_eq(iovirt_sriov_save(f.sr, good, len), (int64_t)len);
	struct iovirt_sriov *sr2 = second(&f);
	const size_t cfg = 16, vfs = 16 + 64;
#define TRY(err_, stmt)                                                              \
	do {                                                                         \
		memcpy(b, good, len);                                                \
		stmt;                                                                \
		reseal(b, len);                                                      \
		int r_ = iovirt_sriov_restore(sr2, b, len);                          \
		cr_assert_eq(r_, err_, "%s: %s", #stmt, iovirt_err_name(r_));       \
		cr_assert_eq(iovirt_sriov_num_enabled(sr2), 0);                      \
	} while (0)
	TRY(IOVIRT_ELIMIT, b[cfg + IOVIRT_SRIOV_NUM_VFS] = 5);      /* the CVE case via restore */
	TRY(IOVIRT_ENOVF, b[cfg + IOVIRT_SRIOV_NUM_VFS] = 0);
	TRY(IOVIRT_EINVAL, b[cfg + IOVIRT_SRIOV_TOTAL_VFS] = 5);    /* read-only field */
	TRY(IOVIRT_EINVAL, b[cfg + IOVIRT_SRIOV_VF_DID] ^= 1);
	TRY(IOVIRT_EINVAL, b[cfg + IOVIRT_SRIOV_CTRL] |= 0x20);     /* reserved control bit */
	TRY(IOVIRT_EINVAL, b[cfg + IOVIRT_SRIOV_STATUS] = 1);
	TRY(IOVIRT_EINVAL, b[cfg + IOVIRT_SRIOV_VF_OFFSET] = 3);    /* disagrees with ARI */
	TRY(IOVIRT_EINVAL, b[cfg + IOVIRT_SRIOV_VF_BAR0 + 1] = 0x10); /* below the BAR size */
	TRY(IOVIRT_EINVAL, b[cfg + IOVIRT_SRIOV_SYS_PGSIZE] = 3);
	TRY(IOVIRT_EINVAL, b[4] = 2);                               /* version */
	TRY(IOVIRT_EINVAL, b[12] = 5);                              /* TotalVFs in the header */
	TRY(IOVIRT_EINVAL, b[vfs + 2 * 12] = 1);                    /* binding of a disabled VF */
	TRY(IOVIRT_EINVAL, b[vfs] = 3);                             /* unknown flag */
	TRY(IOVIRT_EINVAL, b[vfs + 3 * 12 + 4] = 0);                /* unbound with a guest */
	TRY(IOVIRT_EDUP, b[vfs + 12 + 8] = 70);                     /* two VFs, one ASID */
	TRY(IOVIRT_ENOASID, b[vfs + 12 + 8] = 99);
	TRY(IOVIRT_EINVAL, (b[vfs + 12 + 8] = 0, b[vfs + 12 + 10] = 0x10)); /* ASID > max */
	cr_assert_eq(iovirt_sriov_restore(sr2, good, len), 0, "the untouched blob restores");
	iovirt_sriov_destroy(sr2);
	free(good);
	free(b);
	fx_done(&f);
}
