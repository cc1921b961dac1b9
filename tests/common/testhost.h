/* SPDX-License-Identifier: MIT */
/* Shared helpers for the Criterion tests: a POSIX host per test, leak checks. */
#ifndef IOVIRT_TESTHOST_H
#define IOVIRT_TESTHOST_H

#include <stddef.h>
#include <stdint.h>

#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

/* A fresh adapter; aborts the test when it cannot be made. */
struct iovirt_posix *th_posix(void);
/* Asserts that nothing the adapter handed out is still live, then frees it. */
void th_posix_done(struct iovirt_posix *p);

/* Deterministic pseudo-random numbers (xorshift64*), seeded per test. */
uint64_t th_rand(uint64_t *state);

/*
 * A versioned struct as a caller built against an older header passes it:
 * the first size bytes of *full in a heap block of exactly size bytes (so a
 * read past the caller's size is an ASan report), its size field set to size.
 * Free with free().
 */
void *th_truncated(const void *full, size_t size);

#endif
