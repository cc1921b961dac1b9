/* SPDX-License-Identifier: MIT */
/*
 * vnic: a small user-space hypervisor with an emulated SR-IOV network card,
 * where iovirt does every check. Two guests each own a virtual function; each
 * guest's driver posts transmit and receive buffers into virtio split rings in
 * its own memory and rings its VF's doorbell; the emulated device moves packets
 * from one guest's transmit ring to the other's receive ring by DMA, through
 * the protection strategy under test.
 *
 * This header is the example's own small API, shared by its program and its
 * tests.
 */
#ifndef VNIC_H
#define VNIC_H

#include <stdbool.h>
#include <stdint.h>

#include "iovirt/iovirt.h"
#include "iovirt/pin.h"

enum vn_strategy {
	VN_NATIVE,           /* the device uses host addresses, no checks (the baseline) */
	VN_COPY,             /* every buffer through a bounce buffer */
	VN_VALIDATE,         /* every descriptor validated against the guest's memory map */
	VN_PIN,              /* validated and pinned per transfer (TOCTOU-safe) */
	VN_IOMMU_STRICT,     /* buffers mapped and unmapped per transfer, one invalidation each */
	VN_IOMMU_BATCHED,    /* the same, invalidations and unpins batched */
	VN_IOMMU_PERSISTENT, /* the guest's buffers mapped once */
	VN_NSTRATEGIES
};

const char *vn_strategy_name(enum vn_strategy s);

struct vn_config {
	enum vn_strategy strategy;
	uint32_t packet_bytes; /* 64 .. VN_MAX_PACKET */
	uint32_t ring_size;    /* power of two, 8 .. 1024 */
	uint64_t packets;      /* to send from guest 0 to guest 1 */
	uint32_t budget;       /* NAPI budget of the receiving driver */
	bool verify;           /* check every delivered byte (tests), not only headers */
	bool ring_callbacks;   /* rings read through guest_read (false: IOVIRT_VQ_F_DIRECT) */
};

#define VN_MAX_PACKET 9000u

struct vn_result {
	uint64_t sent, delivered;        /* packets */
	uint64_t bytes_sent, bytes_delivered;
	uint64_t corrupt;                /* delivered packets whose bytes differ from those sent */
	uint64_t refused;                /* descriptors the strategy refused (0 for a correct guest) */
	uint64_t ns;                     /* wall time of the transfer loop */
	uint64_t interrupts, polls;      /* receive side */
	uint64_t invalidations;          /* IOTLB invalidations the host saw */
	uint64_t device_tlb_misses;      /* translations the device looked up in the IOMMU */
	uint64_t quiesce_unmaps;         /* mappings taken down by the VF reset's quiesce step */
	/* After teardown: what was left behind (all must be 0). */
	int64_t left_pinned, left_tables, left_mem, left_maps;
};

/* Runs one strategy; 0 or a negative IOVIRT_E* code (setup failed). */
int vn_run(const struct vn_config *cfg, struct vn_result *out);

/* One attack of the hostile guest, and how it was stopped. */
struct vn_attack {
	const char *name;
	const char *stopped_by; /* the mechanism that refused it */
	int err;                /* the error it got (0: not refused) */
	bool refused;
	bool victim_ok;         /* the honest guest's packets all arrived afterwards */
	bool clean;             /* nothing pinned, mapped or allocated was left */
};

#define VN_MAX_ATTACKS 16

/* Runs every attack of a hostile guest 0 beside an honest guest 1, then checks
 * that the honest guest's traffic still flows and that nothing leaked.
 * Returns the number of attacks written to out; *victim_ok and *clean report
 * the honest traffic and the leak check. */
int vn_attacks(struct vn_attack *out, int max, bool *victim_ok, bool *clean);

/* Interrupts mixed with polling, measured with a device thread and a driver thread. */
struct vn_napi_result {
	const char *mode;      /* "napi", "irq", "poll" */
	const char *load;      /* "light", "heavy" */
	uint64_t packets;
	double irqs_per_packet;
	double latency_ns_median, latency_ns_p99;
	double empty_poll_ratio; /* polls that found nothing, per poll */
};

int vn_napi(struct vn_napi_result *out, int max, uint64_t packets);

#endif
