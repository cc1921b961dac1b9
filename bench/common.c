/* SPDX-License-Identifier: MIT */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <valgrind/callgrind.h>

/*
 * The benches' jemalloc (the POSIX adapter's allocator with meson's
 * allocator=jemalloc, the default) purges no dirty pages on its clock: its
 * decay purging runs when enough time has passed, so where a purge fell
 * depended on how long everything before it took. Under callgrind the first
 * 1 GiB unmap counted 2.6 instructions per page in one build and 0.7 in the
 * next with no change to lib/pagetable (85% of it jemalloc purging), and
 * the timed runs paid a madvise now and then. jemalloc reads this at its
 * start; with libc malloc it is unused.
 */
const char *malloc_conf = "dirty_decay_ms:-1,muzzy_decay_ms:-1";

/*
 * Instruction counts (scripts/bench.sh --instructions): under callgrind, run
 * with --collect-atstart=no, each thread collects exactly while it is between
 * its two bench_now_ns() calls of a measured part (every measured part is
 * such a pair; callgrind's collection state is per thread), and bench_report
 * dumps the counts of its row with the number of measured parts, so the
 * script divides by items x parts.
 */
static _Atomic unsigned cg_parts;
static _Thread_local int cg_open, cg_quiet;

/* Warm-ups are not measured parts: their items would be missing from the
 * row's count while their instructions were in it. */
void bench_uncounted(int on)
{
	cg_quiet = on;
}

static void cg_mark(void)
{
	if (!RUNNING_ON_VALGRIND || (cg_quiet && !cg_open))
		return;
	cg_open = !cg_open;
	if (cg_open)
		cg_parts++;
	CALLGRIND_TOGGLE_COLLECT;
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	const int closing = cg_open;
	if (closing) /* stop counting before the clock, start after it */
		cg_mark();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (!closing)
		cg_mark();
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int bench_reps(void)
{
	const char *s = getenv("BENCH_REPS");
	int r = s ? atoi(s) : 7;
	return r > 0 ? r : 7;
}

double bench_scale(void)
{
	const char *s = getenv("BENCH_SCALE");
	double d = s ? atof(s) : 1.0;
	return d > 0 ? d : 1.0;
}

struct result {
	char op[48], impl[32];
	double ns;
};
static struct result results[256];
static size_t nresults;

void bench_report(const char *bench, const char *op, const char *impl, uint64_t items, double ns)
{
	printf("  %-28s %-10s %12.2f ns/item   (%llu items)\n", op, impl, ns, (unsigned long long)items);
	printf("{\"bench\":\"%s\",\"op\":\"%s\",\"impl\":\"%s\",\"items\":%llu,\"ns_per_item\":%.2f}\n",
	       bench, op, impl, (unsigned long long)items, ns);
	fflush(stdout);
	if (RUNNING_ON_VALGRIND) {
		char label[160];
		snprintf(label, sizeof(label), "IOVIRT_BENCH %s %s %s %llu %u", bench, op, impl,
			 (unsigned long long)items, (unsigned)cg_parts);
		cg_parts = 0;
		CALLGRIND_DUMP_STATS_AT(label);
	}
	if (nresults < sizeof(results) / sizeof(results[0])) {
		struct result *r = &results[nresults++];
		snprintf(r->op, sizeof(r->op), "%s", op);
		snprintf(r->impl, sizeof(r->impl), "%s", impl);
		r->ns = ns;
	}
}

void bench_report_ratio(const char *bench, const char *op, const char *impl_a, const char *impl_b, double ratio,
			double ns_a, double ns_b)
{
	printf("  %-28s %s/%s = %.2f (median of per-rep ratios; medians %.2f and %.2f ns/item)\n", op, impl_a,
	       impl_b, ratio, ns_a, ns_b);
	printf("{\"bench\":\"%s\",\"op\":\"%s\",\"impl\":\"%s/%s\",\"ratio\":%.3f,\"ns_a\":%.2f,\"ns_b\":%.2f}\n",
	       bench, op, impl_a, impl_b, ratio, ns_a, ns_b);
	fflush(stdout);
	if (RUNNING_ON_VALGRIND) {
		cg_parts = 0;
		CALLGRIND_ZERO_STATS;
	}
}

static double find(const char *op, const char *impl)
{
	for (size_t i = 0; i < nresults; i++)
		if (!strcmp(results[i].op, op) && !strcmp(results[i].impl, impl))
			return results[i].ns;
	return -1;
}

double bench_ratio(const char *op, const char *a, const char *b)
{
	double x = find(op, a), y = find(op, b);
	if (x <= 0 || y <= 0)
		return -1;
	printf("  ratio %-22s %s/%s = %.2f\n", op, a, b, x / y);
	return x / y;
}
