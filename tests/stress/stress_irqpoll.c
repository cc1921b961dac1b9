/* SPDX-License-Identifier: MIT */
/*
 * A device thread and a driver thread sharing one queue through irqpoll, for
 * ThreadSanitizer, in NAPI mode and then in IRQ mode: every item produced is
 * consumed (none stranded by the re-arm race), interrupts never outnumber
 * arming, and the counts are exact: irqs is the interrupts the device raised
 * plus, in IRQ mode, the driver's rechecks that took the queue back (the two
 * threads count irqs at once there), races_closed those rechecks in NAPI
 * mode.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "iovirt/irqpoll.h"
#include "iovirt/posix.h"

#define ITEMS 200000

static struct iovirt_irqpoll *ip;
static _Atomic uint64_t produced, consumed;
static _Atomic int irq_line; /* a raised, not yet handled interrupt */
static _Atomic int done;
static _Atomic uint64_t raised, took_back; /* the threads' own counts */

static uint64_t now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *device(void *arg)
{
	(void)arg;
	for (int i = 0; i < ITEMS; i++) {
		atomic_fetch_add(&produced, 1); /* the item is in the ring */
		if (iovirt_irqpoll_notify(ip, 1, now())) {
			atomic_fetch_add(&raised, 1);
			atomic_store(&irq_line, 1);
		}
		if (iovirt_irqpoll_tick(ip, now())) {
			atomic_fetch_add(&raised, 1);
			atomic_store(&irq_line, 1);
		}
	}
	/* Keep ticking so that a deferred interrupt still comes. */
	while (!atomic_load(&done))
		if (iovirt_irqpoll_tick(ip, now())) {
			atomic_fetch_add(&raised, 1);
			atomic_store(&irq_line, 1);
		}
	return NULL;
}

static uint32_t take(uint32_t max)
{
	uint32_t k = 0;
	while (k < max && atomic_load(&consumed) < atomic_load(&produced)) {
		atomic_fetch_add(&consumed, 1);
		k++;
	}
	return k;
}

static void *driver(void *arg)
{
	(void)arg;
	while (atomic_load(&consumed) < ITEMS) {
		if (!atomic_exchange(&irq_line, 0))
			continue;
		iovirt_irqpoll_irq(ip, now());
		for (;;) {
			uint32_t k = take(iovirt_irqpoll_budget(ip));
			if (iovirt_irqpoll_polled(ip, k, now()) == IOVIRT_IRQPOLL_AGAIN)
				continue;
			int work = atomic_load(&consumed) < atomic_load(&produced);
			if (iovirt_irqpoll_recheck(ip, work, now()) != IOVIRT_IRQPOLL_AGAIN)
				break;
			atomic_fetch_add(&took_back, 1);
		}
	}
	atomic_store(&done, 1);
	return NULL;
}

static int run(struct iovirt_posix *p, uint32_t mode)
{
	struct iovirt_irqpoll_params params = {
		.size = sizeof(params), .mode = mode, .budget = 16, .poll_timeout_ns = 20000,
		.coalesce_min_ns = 1000, .coalesce_max_ns = 20000, .coalesce_frames = 8, .adaptive = 1,
	};
	if (iovirt_irqpoll_create(iovirt_posix_ops(), p, &params, &ip))
		return 2;
	produced = consumed = raised = took_back = 0;
	irq_line = done = 0;
	pthread_t d, v;
	pthread_create(&v, NULL, driver, NULL);
	pthread_create(&d, NULL, device, NULL);
	pthread_join(v, NULL);
	pthread_join(d, NULL);
	struct iovirt_irqpoll_stats st;
	iovirt_irqpoll_stats(ip, &st);
	uint64_t r = atomic_load(&raised), t = atomic_load(&took_back);
	int irq = mode == IOVIRT_IRQPOLL_IRQ;
	int ok = atomic_load(&consumed) == ITEMS && st.notified == ITEMS && st.polled == ITEMS &&
		 st.irqs <= st.rearms + 1 && st.irqs == r + (irq ? t : 0) &&
		 st.races_closed == (irq ? 0 : t);
	iovirt_irqpoll_destroy(ip);
	printf("%s: %llu items, %llu interrupts (%llu raised, %llu taken back), %llu polls, %llu races "
	       "closed: %s\n",
	       irq ? "irq" : "napi", (unsigned long long)st.polled, (unsigned long long)st.irqs,
	       (unsigned long long)r, (unsigned long long)t, (unsigned long long)st.polls,
	       (unsigned long long)st.races_closed, ok ? "ok" : "FAILED");
	return ok ? 0 : 1;
}

int main(void)
{
	struct iovirt_posix *p = iovirt_posix_create();
	if (!p)
		return 2;
	int r = run(p, IOVIRT_IRQPOLL_NAPI);
	if (!r)
		r = run(p, IOVIRT_IRQPOLL_IRQ);
	iovirt_posix_destroy(p);
	return r;
}
