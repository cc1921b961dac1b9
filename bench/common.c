/* SPDX-License-Identifier: MIT */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
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
	if (nresults < sizeof(results) / sizeof(results[0])) {
		struct result *r = &results[nresults++];
		snprintf(r->op, sizeof(r->op), "%s", op);
		snprintf(r->impl, sizeof(r->impl), "%s", impl);
		r->ns = ns;
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
