/* SPDX-License-Identifier: MIT */
/*
 * Interrupts mixed with polling, measured: a device thread receives packets
 * "from the wire" at a given rate into a receive queue and reports each to
 * iovirt_irqpoll; a driver thread sleeps until it is interrupted (a condition
 * variable: a real wake-up, with its real cost) or, in polling mode, spins.
 * Reported: interrupts per packet, latency from arrival to processing, and the
 * share of polls that found nothing (CPU burnt).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define QN 4096u

struct napi_run {
	struct iovirt_irqpoll *ip;
	uint32_t mode;
	uint64_t packets, gap_ns;
	_Atomic uint64_t head, tail;
	uint64_t ts[QN];
	uint64_t *lat;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int irq_line;
	_Atomic int done;
	uint64_t irqs;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void raise_irq(struct napi_run *r)
{
	pthread_mutex_lock(&r->lock);
	r->irq_line = 1;
	r->irqs++;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static void *device(void *arg)
{
	struct napi_run *r = arg;
	uint64_t next = now_ns();
	for (uint64_t i = 0; i < r->packets; i++) {
		while (now_ns() < next)
			;
		next += r->gap_ns;
		while (atomic_load_explicit(&r->head, memory_order_relaxed) -
			       atomic_load_explicit(&r->tail, memory_order_acquire) >= QN)
			; /* queue full: the wire waits (no drops, so latencies stay comparable) */
		const uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
		const uint64_t t = now_ns();
		r->ts[h % QN] = t;
		atomic_store_explicit(&r->head, h + 1, memory_order_release);
		if (iovirt_irqpoll_notify(r->ip, 1, t))
			raise_irq(r);
	}
	return NULL;
}

/* Processes up to budget packets; returns how many. */
static uint32_t take(struct napi_run *r, uint32_t budget, uint64_t *done)
{
	uint32_t k = 0;
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	const uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
	const uint64_t now = now_ns();
	while (t < h && k < budget) {
		r->lat[t] = now - r->ts[t % QN];
		t++;
		k++;
	}
	atomic_store_explicit(&r->tail, t, memory_order_release);
	*done = t;
	return k;
}

static bool pending(struct napi_run *r)
{
	return atomic_load_explicit(&r->tail, memory_order_relaxed) <
	       atomic_load_explicit(&r->head, memory_order_acquire);
}

static void *driver(void *arg)
{
	struct napi_run *r = arg;
	uint64_t done = 0;
	const uint32_t budget = iovirt_irqpoll_budget(r->ip);
	while (done < r->packets) {
		if (r->mode == IOVIRT_IRQPOLL_POLL) {
			iovirt_irqpoll_polled(r->ip, take(r, budget, &done), now_ns());
			continue;
		}
		pthread_mutex_lock(&r->lock);
		while (!r->irq_line)
			pthread_cond_wait(&r->cond, &r->lock);
		r->irq_line = 0;
		pthread_mutex_unlock(&r->lock);
		iovirt_irqpoll_irq(r->ip, now_ns());
		for (;;) {
			uint32_t k = take(r, budget, &done);
			if (iovirt_irqpoll_polled(r->ip, k, now_ns()) == IOVIRT_IRQPOLL_AGAIN)
				continue;
			if (iovirt_irqpoll_recheck(r->ip, pending(r), now_ns()) != IOVIRT_IRQPOLL_AGAIN)
				break;
		}
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static int one(struct vn_napi_result *out, uint32_t mode, const char *mname, const char *load, uint64_t packets,
	       uint64_t gap_ns)
{
	struct iovirt_posix *host = iovirt_posix_create();
	struct napi_run *r = calloc(1, sizeof(*r));
	if (!host || !r)
		return IOVIRT_ENOMEM;
	r->lat = calloc(packets, sizeof(*r->lat));
	struct iovirt_irqpoll_params p = {
		.size = sizeof(p), .mode = mode, .budget = 64, .poll_timeout_ns = 20000,
	};
	int e = r->lat ? iovirt_irqpoll_create(iovirt_posix_ops(), host, &p, &r->ip) : IOVIRT_ENOMEM;
	if (e) {
		free(r->lat);
		free(r);
		iovirt_posix_destroy(host);
		return e;
	}
	r->mode = mode;
	r->packets = packets;
	r->gap_ns = gap_ns;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	pthread_t d, v;
	pthread_create(&v, NULL, driver, r);
	pthread_create(&d, NULL, device, r);
	pthread_join(d, NULL);
	pthread_join(v, NULL);

	struct iovirt_irqpoll_stats st;
	iovirt_irqpoll_stats(r->ip, &st);
	qsort(r->lat, packets, sizeof(*r->lat), cmp_u64);
	*out = (struct vn_napi_result){
		.mode = mname, .load = load, .packets = packets,
		.irqs_per_packet = (double)st.irqs / (double)packets,
		.latency_ns_median = (double)r->lat[packets / 2],
		.latency_ns_p99 = (double)r->lat[packets * 99 / 100],
		.empty_poll_ratio = st.polls ? (double)st.empty_polls / (double)st.polls : 0,
	};
	iovirt_irqpoll_destroy(r->ip);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r->lat);
	free(r);
	iovirt_posix_destroy(host);
	return 0;
}

int vn_napi(struct vn_napi_result *out, int max, uint64_t packets)
{
	static const struct {
		uint32_t mode;
		const char *name;
	} modes[] = { { IOVIRT_IRQPOLL_NAPI, "napi" }, { IOVIRT_IRQPOLL_IRQ, "irq" }, { IOVIRT_IRQPOLL_POLL, "poll" } };
	int n = 0;
	for (int load = 0; load < 2; load++)
		for (int m = 0; m < 3 && n < max; m++) {
			/* Light: one packet every 20 us. Heavy: back to back. */
			const uint64_t count = load ? packets : (packets / 20 ? packets / 20 : 1);
			int e = one(&out[n], modes[m].mode, modes[m].name, load ? "heavy" : "light", count,
				    load ? 0 : 20000);
			if (e)
				return e;
			n++;
		}
	return n;
}
