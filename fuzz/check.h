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

#endif
