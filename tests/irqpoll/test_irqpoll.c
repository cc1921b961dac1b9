/* SPDX-License-Identifier: MIT */
/* Interrupts mixed with polling: the NAPI sequence, moderation, adaptation and the re-arm race. */
#include <criterion/criterion.h>

#include "iovirt/irqpoll.h"
#include "testhost.h"

static struct iovirt_posix *host;

static void setup(void)
{
	host = th_posix();
}

static void teardown(void)
{
	th_posix_done(host);
}

TestSuite(irqpoll, .init = setup, .fini = teardown);

static struct iovirt_irqpoll *make(uint32_t mode, uint32_t budget, uint64_t cmin, uint64_t cmax, uint32_t frames,
				   uint32_t adaptive)
{
	struct iovirt_irqpoll *ip = NULL;
	struct iovirt_irqpoll_params p = {
		.size = sizeof(p), .mode = mode, .budget = budget, .poll_timeout_ns = 1000,
		.coalesce_min_ns = cmin, .coalesce_max_ns = cmax, .coalesce_frames = frames, .adaptive = adaptive,
	};
	cr_assert_eq(iovirt_irqpoll_create(iovirt_posix_ops(), host, &p, &ip), 0);
	return ip;
}

/* NAPI: one interrupt for a burst; polling continues while budgets fill; then re-arm. */
Test(irqpoll, napi_sequence)
{
	struct iovirt_irqpoll *ip = make(IOVIRT_IRQPOLL_NAPI, 4, 0, 0, 0, 0);
	cr_assert_eq(iovirt_irqpoll_notify(ip, 1, 10), 1, "first completion raises");
	cr_assert_eq(iovirt_irqpoll_notify(ip, 5, 11), 0, "no second interrupt before the handler");
	iovirt_irqpoll_irq(ip, 12);
	cr_assert_eq(iovirt_irqpoll_notify(ip, 3, 13), 0, "masked while polling");
	cr_assert_eq(iovirt_irqpoll_budget(ip), 4);
	cr_assert_eq(iovirt_irqpoll_polled(ip, 4, 14), IOVIRT_IRQPOLL_AGAIN, "full budget: poll on");
	cr_assert_eq(iovirt_irqpoll_polled(ip, 4, 15), IOVIRT_IRQPOLL_AGAIN);
	cr_assert_eq(iovirt_irqpoll_polled(ip, 1, 16), IOVIRT_IRQPOLL_REARM, "ring drained");
	cr_assert_eq(iovirt_irqpoll_recheck(ip, 0, 17), IOVIRT_IRQPOLL_IDLE);
	cr_assert_eq(iovirt_irqpoll_notify(ip, 1, 18), 1, "armed again");
	struct iovirt_irqpoll_stats st;
	iovirt_irqpoll_stats(ip, &st);
	cr_assert_eq(st.irqs, 2);
	cr_assert_eq(st.notified, 10);
	cr_assert_eq(st.polled, 9);
	cr_assert_eq(st.polls, 3);
	cr_assert_eq(st.rearms, 1);
	iovirt_irqpoll_destroy(ip);
}

/* NAPI: a stretch of full budgets ends at the timeout, so one queue cannot starve the rest. */
Test(irqpoll, napi_timeout)
{
	struct iovirt_irqpoll *ip = make(IOVIRT_IRQPOLL_NAPI, 8, 0, 0, 0, 0);
	cr_assert_eq(iovirt_irqpoll_notify(ip, 100, 0), 1);
	iovirt_irqpoll_irq(ip, 100);
	cr_assert_eq(iovirt_irqpoll_polled(ip, 8, 500), IOVIRT_IRQPOLL_AGAIN);
	cr_assert_eq(iovirt_irqpoll_polled(ip, 8, 1100), IOVIRT_IRQPOLL_REARM, "1000 ns timeout passed");
	cr_assert_eq(iovirt_irqpoll_recheck(ip, 1, 1101), IOVIRT_IRQPOLL_AGAIN, "work left: poll on");
	cr_assert_eq(iovirt_irqpoll_notify(ip, 1, 1102), 0, "masked again by the re-check");
	iovirt_irqpoll_destroy(ip);
}

/* The re-arm race: work arriving between the last poll and the re-arm is found by the re-check,
 * and if the device fired first, the re-check leaves it to that interrupt (no double polling). */
Test(irqpoll, rearm_race)
{
	struct iovirt_irqpoll *ip = make(IOVIRT_IRQPOLL_NAPI, 8, 0, 0, 0, 0);
	cr_assert_eq(iovirt_irqpoll_notify(ip, 1, 0), 1);
	iovirt_irqpoll_irq(ip, 1);
	cr_assert_eq(iovirt_irqpoll_polled(ip, 1, 2), IOVIRT_IRQPOLL_REARM);
	/* Case 1: the item landed in the ring before arming; the device saw "masked" and did not fire. */
	cr_assert_eq(iovirt_irqpoll_recheck(ip, 1, 3), IOVIRT_IRQPOLL_AGAIN);
	cr_assert_eq(iovirt_irqpoll_polled(ip, 1, 4), IOVIRT_IRQPOLL_REARM);
	/* Case 2: the device fired after arming; the re-check must not also take the queue. */
	cr_assert_eq(iovirt_irqpoll_notify(ip, 1, 5), 1);
	cr_assert_eq(iovirt_irqpoll_recheck(ip, 1, 6), IOVIRT_IRQPOLL_IDLE);
	iovirt_irqpoll_irq(ip, 7);
	cr_assert_eq(iovirt_irqpoll_polled(ip, 1, 8), IOVIRT_IRQPOLL_REARM);
	struct iovirt_irqpoll_stats st;
	iovirt_irqpoll_stats(ip, &st);
	cr_assert_eq(st.races_closed, 1);
	cr_assert_eq(st.irqs, 2);
	iovirt_irqpoll_destroy(ip);
}

/* IRQ mode: one batch per interrupt; POLL mode: never an interrupt. */
Test(irqpoll, irq_and_poll_modes)
{
	struct iovirt_irqpoll *a = make(IOVIRT_IRQPOLL_IRQ, 8, 0, 0, 0, 0);
	cr_assert_eq(iovirt_irqpoll_notify(a, 20, 0), 1);
	iovirt_irqpoll_irq(a, 1);
	cr_assert_eq(iovirt_irqpoll_polled(a, 8, 2), IOVIRT_IRQPOLL_REARM, "even with a full budget");
	cr_assert_eq(iovirt_irqpoll_recheck(a, 1, 3), IOVIRT_IRQPOLL_AGAIN, "work left: the line fires again");
	cr_assert_eq(iovirt_irqpoll_polled(a, 8, 4), IOVIRT_IRQPOLL_REARM);
	struct iovirt_irqpoll_stats sa;
	iovirt_irqpoll_stats(a, &sa);
	cr_assert_eq(sa.irqs, 2, "one interrupt per batch");
	cr_assert_eq(sa.races_closed, 0);
	struct iovirt_irqpoll *b = make(IOVIRT_IRQPOLL_POLL, 8, 0, 0, 0, 0);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(iovirt_irqpoll_notify(b, 1, (uint64_t)i), 0);
	cr_assert_eq(iovirt_irqpoll_polled(b, 0, 20), IOVIRT_IRQPOLL_AGAIN);
	struct iovirt_irqpoll_stats st;
	iovirt_irqpoll_stats(b, &st);
	cr_assert_eq(st.irqs, 0);
	cr_assert_eq(st.empty_polls, 1);
	iovirt_irqpoll_destroy(a);
	iovirt_irqpoll_destroy(b);
}

/* Moderation: the interrupt waits for the delay or for enough frames, whichever comes first. */
Test(irqpoll, coalescing)
{
	struct iovirt_irqpoll *ip = make(IOVIRT_IRQPOLL_NAPI, 8, 100, 100, 4, 0);
	cr_assert_eq(iovirt_irqpoll_notify(ip, 1, 1000), 0, "deferred");
	cr_assert_eq(iovirt_irqpoll_deadline(ip), 1100);
	cr_assert_eq(iovirt_irqpoll_tick(ip, 1050), 0);
	cr_assert_eq(iovirt_irqpoll_notify(ip, 1, 1060), 0);
	cr_assert_eq(iovirt_irqpoll_deadline(ip), 1100, "the first pending item sets the deadline");
	cr_assert_eq(iovirt_irqpoll_tick(ip, 1100), 1, "delay passed");
	cr_assert_eq(iovirt_irqpoll_tick(ip, 1200), 0, "raised once");
	iovirt_irqpoll_irq(ip, 1201);
	cr_assert_eq(iovirt_irqpoll_polled(ip, 2, 1202), IOVIRT_IRQPOLL_REARM);
	cr_assert_eq(iovirt_irqpoll_recheck(ip, 0, 1203), IOVIRT_IRQPOLL_IDLE);
	cr_assert_eq(iovirt_irqpoll_notify(ip, 3, 2000), 0);
	cr_assert_eq(iovirt_irqpoll_notify(ip, 1, 2001), 1, "4 frames pending: at once");
	cr_assert_eq(iovirt_irqpoll_deadline(ip), UINT64_MAX);
	struct iovirt_irqpoll_stats st;
	iovirt_irqpoll_stats(ip, &st);
	cr_assert_eq(st.irqs, 2);
	cr_assert_eq(st.deferred_irqs, 1);
	iovirt_irqpoll_destroy(ip);
}

/* Adaptive moderation: a busy queue waits about `frames` arrivals; a quiet one the minimum. */
Test(irqpoll, adaptive)
{
	struct iovirt_irqpoll *ip = make(IOVIRT_IRQPOLL_NAPI, 8, 50, 10000, 16, 1);
	struct iovirt_irqpoll_stats st;
	uint64_t t = 0;
	for (int i = 0; i < 200; i++)
		iovirt_irqpoll_notify(ip, 1, t += 100); /* one item per 100 ns */
	iovirt_irqpoll_stats(ip, &st);
	cr_assert(st.coalesce_ns > 1000 && st.coalesce_ns <= 2000, "busy: ~16 x 100 ns, got %llu",
		  (unsigned long long)st.coalesce_ns);
	for (int i = 0; i < 200; i++)
		iovirt_irqpoll_notify(ip, 1, t += 100000); /* one item per 100 us */
	iovirt_irqpoll_stats(ip, &st);
	cr_assert_eq(st.coalesce_ns, 50, "quiet: the minimum delay");
	iovirt_irqpoll_destroy(ip);
}

/* Bad parameters are refused; a failed allocation leaks nothing. */
Test(irqpoll, params_and_alloc_failure)
{
	struct iovirt_irqpoll *ip = NULL;
	struct iovirt_irqpoll_params p = { .size = sizeof(p), .mode = 3 };
	cr_assert_eq(iovirt_irqpoll_create(iovirt_posix_ops(), host, &p, &ip), IOVIRT_EINVAL);
	p = (struct iovirt_irqpoll_params){ .size = sizeof(p), .coalesce_min_ns = 5, .coalesce_max_ns = 4 };
	cr_assert_eq(iovirt_irqpoll_create(iovirt_posix_ops(), host, &p, &ip), IOVIRT_EINVAL);
	p = (struct iovirt_irqpoll_params){ .size = 8 };
	cr_assert_eq(iovirt_irqpoll_create(iovirt_posix_ops(), host, &p, &ip), IOVIRT_EINVAL);
	iovirt_posix_fail_alloc_at(host, 1);
	cr_assert_eq(iovirt_irqpoll_create(iovirt_posix_ops(), host, NULL, &ip), IOVIRT_ENOMEM);
	iovirt_posix_fail_alloc_at(host, 0);
	cr_assert_null(ip);
	cr_assert_eq(iovirt_irqpoll_create(iovirt_posix_ops(), host, NULL, &ip), 0);
	cr_assert_eq(iovirt_irqpoll_budget(ip), 64);
	iovirt_irqpoll_destroy(ip);
}

/* Missing arguments and a host without memory callbacks are refused; destroy(NULL) is a no-op. */
Test(irqpoll, create_refusals)
{
	struct iovirt_irqpoll *ip = NULL;
	struct iovirt_irqpoll_params p = { .size = sizeof(p), .adaptive = 2 };
	cr_assert_eq(iovirt_irqpoll_create(NULL, host, NULL, &ip), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_irqpoll_create(iovirt_posix_ops(), host, NULL, NULL), IOVIRT_EINVAL);
	cr_assert_eq(iovirt_irqpoll_create(iovirt_posix_ops(), host, &p, &ip), IOVIRT_EINVAL, "adaptive is 0 or 1");
	struct iovirt_host_ops small = *iovirt_posix_ops();
	small.size = offsetof(struct iovirt_host_ops, mem_alloc); /* a host older than mem_alloc */
	cr_assert_eq(iovirt_irqpoll_create(&small, host, NULL, &ip), IOVIRT_ENOSYS);
	small = *iovirt_posix_ops();
	small.mem_free = NULL;
	cr_assert_eq(iovirt_irqpoll_create(&small, host, NULL, &ip), IOVIRT_ENOSYS);
	cr_assert_null(ip);
	iovirt_irqpoll_destroy(NULL);
}

/* A moderation deadline that passes while the driver polls raises nothing and is dropped. */
Test(irqpoll, tick_while_polling)
{
	struct iovirt_irqpoll *ip = make(IOVIRT_IRQPOLL_NAPI, 8, 100, 1000, 16, 0);
	cr_assert_eq(iovirt_irqpoll_notify(ip, 1, 10), 0, "moderated");
	cr_assert_eq(iovirt_irqpoll_deadline(ip), 110);
	iovirt_irqpoll_irq(ip, 20); /* the host raised it another way */
	cr_assert_eq(iovirt_irqpoll_tick(ip, 200), 0, "polling: no interrupt owed");
	cr_assert_eq(iovirt_irqpoll_deadline(ip), UINT64_MAX, "deadline dropped");
	struct iovirt_irqpoll_stats st;
	iovirt_irqpoll_stats(ip, &st);
	cr_assert_eq(st.deferred_irqs, 0);
	iovirt_irqpoll_destroy(ip);
}

/* A deadline past the end of time saturates instead of wrapping to an early one. */
Test(irqpoll, deadline_saturates)
{
	struct iovirt_irqpoll *ip = make(IOVIRT_IRQPOLL_NAPI, 8, 1000, 1000, 16, 0);
	cr_assert_eq(iovirt_irqpoll_notify(ip, 1, UINT64_MAX - 10), 0);
	cr_assert_eq(iovirt_irqpoll_deadline(ip), UINT64_MAX - 1);
	cr_assert_eq(iovirt_irqpoll_tick(ip, UINT64_MAX - 2), 0);
	cr_assert_eq(iovirt_irqpoll_tick(ip, UINT64_MAX - 1), 1, "fires at the saturated deadline");
	iovirt_irqpoll_destroy(ip);
}

/* Adaptation: no maximum means the minimum; time going backwards and a product that
 * overflows leave the delay at the minimum instead of a wrapped value. */
Test(irqpoll, adaptive_edges)
{
	struct iovirt_irqpoll_stats st;
	struct iovirt_irqpoll *ip = make(IOVIRT_IRQPOLL_NAPI, 8, 0, 0, 16, 1);
	cr_assert_eq(iovirt_irqpoll_notify(ip, 1, 100), 1, "no maximum: no delay");
	iovirt_irqpoll_destroy(ip);

	ip = make(IOVIRT_IRQPOLL_NAPI, 8, 10, 1000, 16, 1);
	iovirt_irqpoll_notify(ip, 1, 1000);
	iovirt_irqpoll_notify(ip, 1, 500); /* a clock step backwards: no sample */
	iovirt_irqpoll_stats(ip, &st);
	cr_assert_eq(st.coalesce_ns, 10);
	iovirt_irqpoll_notify(ip, 1, UINT64_MAX / 4); /* a gap whose product with 16 overflows */
	iovirt_irqpoll_stats(ip, &st);
	cr_assert_eq(st.coalesce_ns, 10);
	iovirt_irqpoll_destroy(ip);
}

/* irqpoll_params at version 1 (IOVIRT_IRQPOLL_PARAMS_SIZE_V1, the struct ending
 * there) is served with its values; one byte less is EINVAL; nothing past the
 * caller's size is read (a heap block of exactly that size). */
Test(irqpoll, params_version_1)
{
	struct iovirt_irqpoll_params p = { .size = sizeof(p), .budget = 7 };
	struct iovirt_irqpoll_params *v1 = th_truncated(&p, IOVIRT_IRQPOLL_PARAMS_SIZE_V1);
	struct iovirt_irqpoll *ip = NULL;
	cr_assert_eq(iovirt_irqpoll_create(iovirt_posix_ops(), host, v1, &ip), 0);
	cr_assert_eq(iovirt_irqpoll_budget(ip), 7);
	iovirt_irqpoll_destroy(ip);
	v1->size--;
	ip = NULL;
	cr_assert_eq(iovirt_irqpoll_create(iovirt_posix_ops(), host, v1, &ip), IOVIRT_EINVAL);
	cr_assert_null(ip);
	free(v1);
}
