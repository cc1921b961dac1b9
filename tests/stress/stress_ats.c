/* SPDX-License-Identifier: MIT */
/*
 * Stress for iovirt_pt_ats_set beside itself ("safe beside every call"): two
 * device threads, each with its own routing ID, turn ATS on and off for the
 * same space again and again. One device per space: while one holds the
 * registration, the other's "on" must be refused (EBUSY) and its "off"
 * refused (EINVAL). A lost registration would be a device whose IOTLB
 * invalidations are never sent, so that it may go on using translations the
 * host believes gone. Each thread marks the space as its own after a
 * successful "on" and checks that nobody else did; exits 0 when every check
 * held, the last line a summary.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#define ASID 3u
#define ROUNDS 200000u

static struct iovirt_iommu *io;
static atomic_uint owner; /* 1 + the thread that holds the registration, or 0 */
static atomic_ulong errors, ons, busy;

static void *device(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	uint16_t rid = (uint16_t)(0x100 + me);
	for (unsigned i = 0; i < ROUNDS; i++) {
		int r = iovirt_pt_ats_set(io, ASID, rid, true);
		if (r == IOVIRT_EBUSY) {
			atomic_fetch_add(&busy, 1);
			continue;
		}
		if (r) {
			atomic_fetch_add(&errors, 1);
			continue;
		}
		unsigned prev = atomic_exchange(&owner, me + 1);
		if (prev && prev != me + 1) {
			fprintf(stderr, "stress_ats: thread %u registered while thread %u was\n", me,
				prev - 1);
			atomic_fetch_add(&errors, 1);
		}
		atomic_fetch_add(&ons, 1);
		atomic_compare_exchange_strong(&owner, &(unsigned){ me + 1 }, 0);
		if (iovirt_pt_ats_set(io, ASID, rid, false)) {
			fprintf(stderr, "stress_ats: thread %u could not turn its own ATS off\n", me);
			atomic_fetch_add(&errors, 1);
		}
	}
	return NULL;
}

int main(void)
{
	struct iovirt_posix *p = iovirt_posix_create();
	if (!p || iovirt_iommu_create(iovirt_posix_ops(), p, NULL, &io) ||
	    iovirt_pt_space_create(io, ASID, NULL)) {
		fprintf(stderr, "stress_ats: setup failed\n");
		return 1;
	}
	pthread_t t[2];
	for (uintptr_t i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, device, (void *)i);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	unsigned long e = atomic_load(&errors);
	iovirt_iommu_destroy(io);
	iovirt_posix_destroy(p);
	printf("stress_ats: %lu registrations, %lu refused as busy, %lu errors%s\n", atomic_load(&ons),
	       atomic_load(&busy), e, e ? "" : ": ok");
	return e ? 1 : 0;
}
