/* SPDX-License-Identifier: MIT */
/* Timing, medians and reporting shared by the benches. */
#ifndef IOVIRT_BENCH_COMMON_H
#define IOVIRT_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic nanoseconds. */
uint64_t bench_now_ns(void);
/* on: the parts that follow (a warm-up) are neither counted nor collected
 * under callgrind, until bench_uncounted(0). */
void bench_uncounted(int on);

/* Median of n doubles (sorts them in place). */
double bench_median(double *v, size_t n);

/* Repetitions per measurement: BENCH_REPS from the environment, default 7. */
int bench_reps(void);
/* Scale of the work: BENCH_SCALE (default 1.0), for quick runs in CI. */
double bench_scale(void);

/* Records one result: prints a table row and one JSON line, and keeps it for
 * the ratio lines printed by bench_ratio. */
void bench_report(const char *bench, const char *op, const char *impl,
		  uint64_t items, double ns_per_item);
/* Records a ratio measured in one run (e.g. the median of per-rep ratios of
 * two implementations run alternately): prints it and one JSON line with
 * "ratio" (and each side's median ns) instead of "ns_per_item"; under
 * callgrind, drops the counts collected for it (the rows measured alone
 * carry the instructions). */
void bench_report_ratio(const char *bench, const char *op, const char *impl_a, const char *impl_b, double ratio,
			double ns_a, double ns_b);
/* Prints "op: impl_a / impl_b = ratio" for two recorded results. */
double bench_ratio(const char *op, const char *impl_a, const char *impl_b);

/* Keeps the compiler from dropping a value. */
static inline void bench_use(uint64_t v)
{
	__asm__ volatile("" : : "r"(v) : "memory");
}

#endif
