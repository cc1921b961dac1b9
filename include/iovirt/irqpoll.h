/* SPDX-License-Identifier: MIT */
/*
 * Interrupts mixed with polling (the NAPI scheme), for emulated devices and
 * their drivers: the first completion raises an interrupt; the driver masks
 * it and polls with a budget until no work is left or a timeout passes, then
 * re-arms the interrupt and checks once more, so work that arrived in between
 * is never stranded. Interrupt moderation (coalescing) delays an interrupt
 * until enough work is pending or a delay passes; the delay can adapt to the
 * arrival rate. A pure-interrupt and a pure-polling mode are there to compare.
 *
 * Time is the caller's: every call that needs it takes now_ns, so the core
 * reads no clock.
 *
 * Threads: one device-side thread (notify, tick) and one driver-side thread
 * (irq, budget, polled, recheck) may run at once; the hand-over between them
 * (armed -> fired -> polling -> armed) is a compare-and-swap, so exactly one
 * interrupt is raised per arming and none is lost. The device calls notify
 * after its work is visible in the ring; the driver looks at the ring for
 * recheck after polled returned REARM: notify and the re-arm carry the full
 * barriers that keep either side from missing the other's store.
 */
#ifndef IOVIRT_IRQPOLL_H
#define IOVIRT_IRQPOLL_H

#include <stddef.h>
#include <stdint.h>

#include "iovirt/error.h"
#include "iovirt/host.h"

#ifdef __cplusplus
extern "C" {
#endif

enum iovirt_irqpoll_mode {
	IOVIRT_IRQPOLL_NAPI = 0, /* interrupt, then poll with a budget until idle or timeout */
	IOVIRT_IRQPOLL_IRQ = 1,  /* one batch per interrupt, interrupt re-armed after each; work
	                          * found by the re-check counts as the interrupt firing again
	                          * (level-triggered) */
	IOVIRT_IRQPOLL_POLL = 2, /* never interrupts; the driver polls all the time */
};

struct iovirt_irqpoll_params {
	size_t size;              /* sizeof(struct iovirt_irqpoll_params) */
	uint32_t mode;            /* enum iovirt_irqpoll_mode */
	uint32_t budget;          /* items per poll call; 0 means 64 */
	uint64_t poll_timeout_ns; /* longest polling stretch before re-arming; 0 means 50 us */
	uint64_t coalesce_min_ns; /* interrupt delay bounds; both 0: no moderation */
	uint64_t coalesce_max_ns;
	uint32_t coalesce_frames; /* raise at once when this many items are pending; 0 means 32 */
	uint32_t adaptive;        /* 1: the delay follows the arrival rate between min and max */
};
/* Version 1: every field above (host.h: versioned structs). */
#define IOVIRT_IRQPOLL_PARAMS_SIZE_V1 IOVIRT_PARAMS_SIZE_TO(struct iovirt_irqpoll_params, adaptive)

/* What the driver does next. */
enum iovirt_irqpoll_next {
	IOVIRT_IRQPOLL_IDLE = 0,  /* nothing to do until the next interrupt */
	IOVIRT_IRQPOLL_AGAIN = 1, /* poll again (interrupt stays masked) */
	IOVIRT_IRQPOLL_REARM = 2, /* interrupt re-armed: check the ring once, then call recheck */
};

struct iovirt_irqpoll_stats {
	uint64_t notified;      /* items the device reported */
	uint64_t irqs;          /* interrupts raised */
	uint64_t deferred_irqs; /* of which raised late by moderation (tick) */
	uint64_t polls;         /* poll calls */
	uint64_t polled;        /* items the driver processed */
	uint64_t empty_polls;   /* poll calls that found nothing */
	uint64_t rearms;        /* interrupt re-armed */
	uint64_t races_closed;  /* work found by the re-check after re-arming */
	uint64_t coalesce_ns;   /* current moderation delay */
};

struct iovirt_irqpoll;

/*
 * Creates one queue's interrupt/poll state. params may be NULL (defaults).
 * Returns: 0 and *out.
 * Errors:
 *   IOVIRT_EINVAL  NULL ops or out; params->size below
 *                  IOVIRT_IRQPOLL_PARAMS_SIZE_V1; unknown mode; min > max;
 *                  adaptive neither 0 nor 1
 *   IOVIRT_ENOSYS  host_ops lacks mem_alloc or mem_free
 *   IOVIRT_ENOMEM  the allocation failed
 * On failure: nothing allocated, *out untouched.
 * Host callbacks: mem_alloc (here), mem_free (destroy); no other call uses any.
 */
int iovirt_irqpoll_create(const struct iovirt_host_ops *host_ops, void *host,
			  const struct iovirt_irqpoll_params *params,
			  struct iovirt_irqpoll **out);
/* Frees the state (NULL: nothing). Cannot fail. */
void iovirt_irqpoll_destroy(struct iovirt_irqpoll *ip);

/* ---- device side ---- */

/* The device completed `items` pieces of work. Returns 1 when it must raise the
 * interrupt now, 0 when not (masked while the driver polls, deferred by
 * moderation, or polling mode). */
int iovirt_irqpoll_notify(struct iovirt_irqpoll *ip, uint32_t items, uint64_t now_ns);

/* Returns 1 when an interrupt deferred by moderation is due now (then raise it). */
int iovirt_irqpoll_tick(struct iovirt_irqpoll *ip, uint64_t now_ns);

/* When the deferred interrupt falls due, or UINT64_MAX when none is waiting. */
uint64_t iovirt_irqpoll_deadline(const struct iovirt_irqpoll *ip);

/* ---- driver side ---- */

/* From the interrupt handler: masks the interrupt and starts a polling stretch. */
void iovirt_irqpoll_irq(struct iovirt_irqpoll *ip, uint64_t now_ns);

/* Items to process in the next poll call. */
uint32_t iovirt_irqpoll_budget(const struct iovirt_irqpoll *ip);

/* After a poll call that processed `done` items (<= budget). Returns AGAIN or
 * REARM (IDLE never). After REARM the driver must look at its ring once and
 * report what it saw with recheck. */
enum iovirt_irqpoll_next iovirt_irqpoll_polled(struct iovirt_irqpoll *ip, uint32_t done,
					       uint64_t now_ns);

/* After REARM: work_pending says whether the ring had work. Returns AGAIN (the
 * interrupt is masked again; keep polling) or IDLE (wait for the interrupt;
 * one may already be on its way). */
enum iovirt_irqpoll_next iovirt_irqpoll_recheck(struct iovirt_irqpoll *ip, int work_pending,
						uint64_t now_ns);

/* Copies the counters to *out. Cannot fail. */
void iovirt_irqpoll_stats(const struct iovirt_irqpoll *ip, struct iovirt_irqpoll_stats *out);

#ifdef __cplusplus
}
#endif
#endif
