/* SPDX-License-Identifier: MIT */
/*
 * A device thread and a driver thread sharing one queue through irqpoll, for
 * ThreadSanitizer: every item produced is consumed (none stranded by the
 * re-arm race), and interrupts never outnumber arming.
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
		if (iovirt_irqpoll_notify(ip, 1, now()) || iovirt_irqpoll_tick(ip, now()))
			atomic_store(&irq_line, 1);
	}
	/* Keep ticking so that a deferred interrupt still comes. */
	while (!atomic_load(&done))
		if (iovirt_irqpoll_tick(ip, now()))
			atomic_store(&irq_line, 1);
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
		}
	}
	atomic_store(&done, 1);
	return NULL;
}

int main(void)
{
	struct iovirt_posix *p = iovirt_posix_create();
	struct iovirt_irqpoll_params params = {
		.size = sizeof(params), .mode = IOVIRT_IRQPOLL_NAPI, .budget = 16, .poll_timeout_ns = 20000,
		.coalesce_min_ns = 1000, .coalesce_max_ns = 20000, .coalesce_frames = 8, .adaptive = 1,
	};
	if (!p || iovirt_irqpoll_create(iovirt_posix_ops(), p, &params, &ip))
		return 2;
	pthread_t d, v;
	pthread_create(&v, NULL, driver, NULL);
	pthread_create(&d, NULL, device, NULL);
	pthread_join(v, NULL);
	pthread_join(d, NULL);
	struct iovirt_irqpoll_stats st;
	iovirt_irqpoll_stats(ip, &st);
	int ok = atomic_load(&consumed) == ITEMS && st.notified == ITEMS && st.polled == ITEMS &&
		 st.irqs <= st.rearms + 1;
	iovirt_irqpoll_destroy(ip);
	iovirt_posix_destroy(p);
	printf("%llu items, %llu interrupts, %llu polls, %llu races closed: %s\n", (unsigned long long)st.polled,
	       (unsigned long long)st.irqs, (unsigned long long)st.polls, (unsigned long long)st.races_closed,
	       ok ? "ok" : "FAILED");
	return ok ? 0 : 1;
}
