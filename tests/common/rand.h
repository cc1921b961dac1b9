/* SPDX-License-Identifier: MIT */
/*
 * The tests' pseudo-random numbers (xorshift64*), header-only and free of
 * Criterion, so that the stress programs (built without the test library,
 * e.g. in the ThreadSanitizer build) and the unit tests share one generator.
 * A zero state would stay zero: it is replaced by a fixed seed.
 */
#ifndef IOVIRT_TESTS_RAND_H
#define IOVIRT_TESTS_RAND_H

#include <stdint.h>

static inline uint64_t tr_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

#endif
