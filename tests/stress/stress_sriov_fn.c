/* SPDX-License-Identifier: MIT */
/*
 * Stress: the lock-free readers of the functions' state. Translator threads
 * translate DMA of 4 VFs while the control thread toggles each VF's Bus
 * Master Enable through its configuration space; a mapper thread maps and
 * unmaps pages of an address space whose ATS registration the control
 * thread turns on and off (lib/pagetable reads it in every invalidation).
 * Checks (exit 1 when any fails):
 *  - a translation that ran entirely while a VF's Bus Master Enable was
 *    clear (its epoch even and unchanged) never succeeds, and fails with
 *    IOVIRT_ENOMASTER; a successful one lands in that VF's own page;
 *  - every device-TLB invalidation names the registered RID and the space;
 *  - after ATS is turned off for good, an unmap sends no device-TLB
 *    invalidation.
 * Run under ThreadSanitizer.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#define NVF 4
#define NTHREADS 2
#define ITERS 2000
#define IOVA 0x1000
#define ATS_ASID 50
#define ATS_RID 0x0777
#define TAG(n) (UINT64_C(0x10000000) + (uint64_t)(n) * 0x1000)

static struct iovirt_posix *px;
static struct iovirt_iommu *io;
static struct iovirt_sriov *sr;
static uint16_t rids[NVF];
static _Atomic uint64_t epoch[NVF]; /* odd: Bus Master Enable set (or being set) */
static _Atomic bool stop;
static _Atomic uint64_t failures, translated, refused, unmaps;

#define FAIL(...)                                                                \
	do {                                                                     \
		fprintf(stderr, __VA_ARGS__);                                    \
		atomic_fetch_add(&failures, 1);                                  \
	} while (0)

static void *translator(void *arg)
{
	uint64_t s = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
	while (!atomic_load(&stop)) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		uint32_t n = (uint32_t)(s % NVF);
		uint64_t e1 = atomic_load(&epoch[n]);
		struct iovirt_xlate x;
		int r = iovirt_sriov_dma_translate(sr, rids[n], IOVA + 8, IOVIRT_PROT_READ, &x);
		uint64_t e2 = atomic_load(&epoch[n]);
		if (r == 0) {
			atomic_fetch_add_explicit(&translated, 1, memory_order_relaxed);
			if (x.pa != TAG(n) + 8)
				FAIL("VF %u translated into %#llx\n", n, (unsigned long long)x.pa);
			if (e1 == e2 && !(e1 & 1))
				FAIL("VF %u translated with Bus Master Enable clear\n", n);
		} else {
			atomic_fetch_add_explicit(&refused, 1, memory_order_relaxed);
			if (r != IOVIRT_ENOMASTER)
				FAIL("VF %u: %s\n", n, iovirt_err_name(r));
		}
	}
	return NULL;
}

static void *mapper(void *arg)
{
	(void)arg;
	for (uint64_t i = 0; !atomic_load(&stop); i++) {
		uint64_t iova = 0x100000 + (i % 64) * 0x1000;
		if (iovirt_pt_map(io, ATS_ASID, iova, 0x40000000 + iova, 0x1000, IOVIRT_PROT_READ))
			FAIL("map %#llx\n", (unsigned long long)iova);
		if (iovirt_pt_unmap(io, ATS_ASID, iova, 0x1000) != 0x1000)
			FAIL("unmap %#llx\n", (unsigned long long)iova);
		atomic_fetch_add_explicit(&unmaps, 1, memory_order_relaxed);
	}
	return NULL;
}

static void setup(void)
{
	px = iovirt_posix_create();
	if (!px || iovirt_iommu_create(iovirt_posix_ops(), px, NULL, &io))
		exit(2);
	struct iovirt_sriov_params p;
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.iommu = io;
	p.pf_rid = 0x0100;
	p.bus_last = 1;
	p.total_vfs = p.initial_vfs = NVF;
	p.vf_offset = 1, p.vf_stride = 1, p.vf_offset_ari = 1, p.vf_stride_ari = 1;
	p.sup_pgsizes = 0x553;
	p.bars[0] = (struct iovirt_sriov_bar){ .size = 0x1000 };
	struct iovirt_sriov_fn_params f;
	memset(&f, 0, sizeof(f));
	f.size = sizeof(f);
	f.flags = IOVIRT_SRIOV_FN_ATS;
	f.pf_sriov_off = 0x100;
	if (iovirt_sriov_create_fn(iovirt_posix_ops(), px, &p, &f, &sr) ||
	    iovirt_sriov_cfg_write(sr, IOVIRT_SRIOV_NUM_VFS, 2, NVF) ||
	    iovirt_sriov_cfg_write(sr, IOVIRT_SRIOV_CTRL, 2, IOVIRT_SRIOV_CTRL_VFE))
		exit(2);
	for (uint32_t n = 0; n < NVF; n++) {
		if (iovirt_pt_space_create(io, 100 + n, NULL) ||
		    iovirt_pt_map(io, 100 + n, IOVA, TAG(n), 0x1000, IOVIRT_PROT_READ) ||
		    iovirt_sriov_vf_bind(sr, n, 7, 100 + n) || iovirt_sriov_vf_rid(sr, n, &rids[n]))
			exit(2);
	}
	if (iovirt_pt_space_create(io, ATS_ASID, NULL))
		exit(2);
}

/* Every logged device-TLB invalidation names the registered RID and the space. */
static void check_log(void)
{
	static struct iovirt_posix_event ev[4096];
	size_t n = iovirt_posix_log_read(px, ev, 4096);
	for (size_t i = 0; i < n; i++)
		if (ev[i].cb == IOVIRT_CB_DEVTLB_INVAL && (ev[i].id != ATS_RID || ev[i].c >> 8 != ATS_ASID))
			FAIL("device-TLB invalidation for rid %#x asid %llu\n", ev[i].id,
			     (unsigned long long)(ev[i].c >> 8));
}

int main(void)
{
	setup();
	iovirt_posix_log_enable(px, 4096);
	pthread_t t[NTHREADS + 1];
	for (uintptr_t i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, translator, (void *)(i + 1));
	pthread_create(&t[NTHREADS], NULL, mapper, NULL);
	for (uint32_t it = 0; it < ITERS; it++) {
		uint32_t n = it % NVF;
		if (atomic_load(&epoch[n]) & 1) {
			if (iovirt_sriov_vf_cfg_write(sr, n, IOVIRT_SRIOV_VIEW_RAW, 0x04, 2, 0))
				FAIL("BME off\n");
			atomic_fetch_add(&epoch[n], 1); /* even: clear from here on */
		} else {
			atomic_fetch_add(&epoch[n], 1); /* odd before it can translate */
			if (iovirt_sriov_vf_cfg_write(sr, n, IOVIRT_SRIOV_VIEW_RAW, 0x04, 2, 4))
				FAIL("BME on\n");
		}
		if (it % 16 == 0 && iovirt_pt_ats_set(io, ATS_ASID, ATS_RID, (it / 16) & 1))
			FAIL("ats_set\n");
		/* now and then, let the translators and the mapper see a state for a while */
		if (it % 16 == 1) {
			uint64_t seen = atomic_load(&translated) + atomic_load(&refused);
			uint64_t u = atomic_load(&unmaps);
			while (atomic_load(&translated) + atomic_load(&refused) < seen + 64 ||
			       atomic_load(&unmaps) < u + 2)
				sched_yield();
		}
	}
	if (iovirt_pt_ats_set(io, ATS_ASID, ATS_RID, false))
		FAIL("ats off\n");
	check_log();
	uint64_t devtlb = iovirt_posix_count(px, IOVIRT_CB_DEVTLB_INVAL);
	/* ATS is off for good: the mapper's next unmaps send none */
	uint64_t u0 = atomic_load(&unmaps);
	while (atomic_load(&unmaps) < u0 + 50)
		sched_yield();
	if (iovirt_posix_count(px, IOVIRT_CB_DEVTLB_INVAL) != devtlb)
		FAIL("device-TLB invalidation after ATS off\n");
	atomic_store(&stop, true);
	for (int i = 0; i < NTHREADS + 1; i++)
		pthread_join(t[i], NULL);
	printf("stress_sriov_fn: %llu translated, %llu refused, %llu unmaps, %llu device-TLB invalidations, %llu failures\n",
	       (unsigned long long)atomic_load(&translated), (unsigned long long)atomic_load(&refused),
	       (unsigned long long)atomic_load(&unmaps), (unsigned long long)devtlb,
	       (unsigned long long)atomic_load(&failures));
	if (!devtlb)
		FAIL("no device-TLB invalidation while ATS was on\n");
	iovirt_sriov_destroy(sr);
	iovirt_iommu_destroy(io);
	iovirt_posix_destroy(px);
	return atomic_load(&failures) ? 1 : 0;
}
