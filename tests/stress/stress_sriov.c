/* SPDX-License-Identifier: MIT */
/*
 * Stress: DMA translation and RID lookups on several threads, lock-free,
 * while one control thread binds, resets and re-binds VFs, toggles VF MSE
 * (republishing the register windows) and disables/re-enables all VFs,
 * switching between them the ARI hierarchy the PF (not the lowest) follows,
 * which moves every VF to its other RID. The two RID sets are disjoint, so a
 * translator tries both: each RID belongs to one VF or to none.
 * Checks (exit 1 when any fails):
 *  - a translation that succeeds for VF n's RID lands in VF n's own memory
 *    (never another VF's), and a lookup gives VF n's own ASID;
 *  - a translation that ran entirely while VF n was known to be reset and not
 *    yet re-bound (its epoch odd and unchanged) never succeeds;
 *  - after each reset, the control thread's own translation faults.
 * Run under ThreadSanitizer.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#define NVF 16
#define NTHREADS 3
#define ITERS 10000
#define IOVA 0x1000
#define TAG(n) (UINT64_C(0x10000000) + (uint64_t)(n) * 0x1000)

static struct iovirt_posix *px;
static struct iovirt_iommu *io;
static struct iovirt_sriov *sr;
static uint16_t rids[2][NVF]; /* [ARI hierarchy followed][vf] */
static _Atomic uint64_t epoch[NVF]; /* odd: reset returned, not re-bound yet */
static _Atomic bool stop;
static _Atomic uint64_t failures, translated, faulted;

#define FAIL(...)                                                                \
	do {                                                                     \
		fprintf(stderr, __VA_ARGS__);                                    \
		atomic_fetch_add(&failures, 1);                                  \
	} while (0)

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *translator(void *arg)
{
	uint64_t s = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
	while (!atomic_load(&stop)) {
		uint64_t k = rnd(&s);
		uint32_t n = (uint32_t)(k % NVF);
		uint16_t rid = rids[(k >> 32) & 1][n];
		uint64_t e1 = atomic_load(&epoch[n]);
		struct iovirt_xlate x;
		int r = iovirt_sriov_dma_translate(sr, rid, IOVA + 8, IOVIRT_PROT_READ, &x);
		uint32_t vf = 0, asid = 0;
		int lr = iovirt_sriov_rid_lookup(sr, rid, &vf, &asid);
		uint64_t e2 = atomic_load(&epoch[n]);
		if (r == 0) {
			atomic_fetch_add_explicit(&translated, 1, memory_order_relaxed);
			if (x.pa != TAG(n) + 8)
				FAIL("VF %u translated into %#llx\n", n, (unsigned long long)x.pa);
			if (e1 == e2 && (e1 & 1))
				FAIL("VF %u translated while reset and unbound\n", n);
		} else {
			atomic_fetch_add_explicit(&faulted, 1, memory_order_relaxed);
		}
		if (lr == 0 && (vf != n || asid != 100 + n))
			FAIL("lookup of VF %u gave VF %u ASID %u\n", n, vf, asid);
	}
	return NULL;
}

static void enable(void)
{
	if (iovirt_sriov_cfg_write(sr, IOVIRT_SRIOV_NUM_VFS, 2, NVF) ||
	    iovirt_sriov_cfg_write(sr, IOVIRT_SRIOV_CTRL, 2,
				   IOVIRT_SRIOV_CTRL_VFE | IOVIRT_SRIOV_CTRL_MSE))
		FAIL("enable failed\n");
}

int main(void)
{
	px = iovirt_posix_create();
	if (!px || iovirt_iommu_create(iovirt_posix_ops(), px, NULL, &io))
		return 1;
	struct iovirt_sriov_params p;
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.iommu = io;
	p.pf_rid = 0x0200;
	p.bus_last = 0x02;
	p.total_vfs = NVF;
	p.initial_vfs = NVF;
	p.vf_offset = 4;
	p.vf_stride = 2;
	p.vf_offset_ari = 0x40; /* RIDs 0x240.. : apart from the non-ARI 0x204.. */
	p.vf_stride_ari = 2;
	p.flags = IOVIRT_SRIOV_ARI_READONLY;
	p.sup_pgsizes = 0x553;
	p.bars[0] = (struct iovirt_sriov_bar){ .size = 0x1000 };
	if (iovirt_sriov_create(iovirt_posix_ops(), px, &p, &sr))
		return 1;
	if (iovirt_sriov_cfg_write(sr, IOVIRT_SRIOV_VF_BAR0, 4, 0xd0000000))
		return 1;
	/* both RID sets, before any translator runs */
	for (int ari = 1; ari >= 0; ari--) {
		if (iovirt_sriov_set_ari_hierarchy(sr, ari))
			return 1;
		enable();
		for (uint32_t n = 0; n < NVF; n++)
			if (iovirt_sriov_vf_rid(sr, n, &rids[ari][n]))
				return 1;
		if (ari && iovirt_sriov_cfg_write(sr, IOVIRT_SRIOV_CTRL, 2, 0))
			return 1;
	}
	for (uint32_t n = 0; n < NVF; n++) {
		for (uint32_t m = 0; m < NVF; m++)
			if (rids[0][n] == rids[1][m])
				return 1; /* the check relies on disjoint sets */
		if (iovirt_pt_space_create(io, 100 + n, NULL))
			return 1;
		atomic_init(&epoch[n], 1); /* unbound */
	}
	int ari = 0;

	pthread_t t[NTHREADS];
	for (uintptr_t i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, translator, (void *)(i + 1));

	uint64_t s = 12345;
	bool bound[NVF] = { 0 };
	for (int it = 0; it < ITERS; it++) {
		uint32_t n = (uint32_t)(rnd(&s) % NVF);
		unsigned what = (unsigned)(rnd(&s) % 100);
		if (what < 2) {
			/* all VFs go away and come back: all reset */
			if (iovirt_sriov_cfg_write(sr, IOVIRT_SRIOV_CTRL, 2, 0))
				FAIL("disable failed\n");
			for (uint32_t v = 0; v < NVF; v++)
				if (bound[v]) {
					bound[v] = false;
					atomic_fetch_add(&epoch[v], 1);
				}
			/* the lowest PF's ARI Capable Hierarchy changed: follow it */
			ari = !ari;
			if (iovirt_sriov_set_ari_hierarchy(sr, ari))
				FAIL("set_ari_hierarchy failed\n");
			enable();
		} else if (what < 10) {
			/* republish the windows while translators read them */
			uint16_t ctrl = IOVIRT_SRIOV_CTRL_VFE | ((it & 1) ? IOVIRT_SRIOV_CTRL_MSE : 0);
			if (iovirt_sriov_cfg_write(sr, IOVIRT_SRIOV_CTRL, 2, ctrl))
				FAIL("MSE toggle failed\n");
		} else if (!bound[n]) {
			if (iovirt_pt_map(io, 100 + n, IOVA, TAG(n), 0x1000, IOVIRT_PROT_READ))
				FAIL("map failed\n");
			atomic_fetch_add(&epoch[n], 1); /* even: bind may happen from here on */
			if (iovirt_sriov_vf_bind(sr, n, 7, 100 + n))
				FAIL("bind failed\n");
			bound[n] = true;
		} else {
			if (iovirt_sriov_vf_reset(sr, n))
				FAIL("reset failed\n");
			atomic_fetch_add(&epoch[n], 1); /* odd: reset has returned */
			bound[n] = false;
			struct iovirt_xlate x;
			if (iovirt_sriov_dma_translate(sr, rids[ari][n], IOVA, IOVIRT_PROT_READ, &x) != IOVIRT_ENOASID)
				FAIL("VF %u translates after its reset\n", n);
			if (iovirt_pt_translate(io, 100 + n, IOVA, IOVIRT_PROT_READ, &x) != IOVIRT_ENOENT)
				FAIL("VF %u's ASID still mapped after reset\n", n);
		}
	}
	atomic_store(&stop, true);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	iovirt_sriov_destroy(sr);
	iovirt_pt_reclaim(io);
	iovirt_iommu_destroy(io);
	int64_t live = iovirt_posix_live_mem(px);
	iovirt_posix_destroy(px);
	if (live)
		FAIL("leaked %lld bytes\n", (long long)live);
	uint64_t f = atomic_load(&failures);
	printf("stress_sriov: %d control steps, %llu translations ok, %llu faulted, %llu failures\n",
	       ITERS, (unsigned long long)atomic_load(&translated),
	       (unsigned long long)atomic_load(&faulted), (unsigned long long)f);
	return f ? 1 : 0;
}
