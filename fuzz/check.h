/* SPDX-License-Identifier: MIT */
/* Shared by the fuzz targets: a failed check prints why and aborts, so libFuzzer
 * keeps the input as a crash. */
#ifndef IOVIRT_FUZZ_CHECK_H
#define IOVIRT_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, __VA_ARGS__);                          \
			fprintf(stderr, "\n");                                 \
			abort();                                               \
		}                                                              \
	} while (0)

/*
 * Checking code (reference models, table walkers, bookkeeping) between
 * FUZZ_CHECKER_BEGIN and FUZZ_CHECKER_END gets no coverage instrumentation:
 * the fuzzer should learn from the library's branches, not the model's, and
 * libFuzzer's tracing of every comparison in a model's loops cost most of a
 * run's time. Sanitizers still instrument it.
 */
#define FUZZ_CHECKER_BEGIN                                                     \
	_Pragma("clang attribute push(__attribute__((no_sanitize(\"coverage\"))), apply_to = function)")
#define FUZZ_CHECKER_END _Pragma("clang attribute pop")

#endif
