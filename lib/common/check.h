/* SPDX-License-Identifier: MIT */
/*
 * IOVIRT_CHECK(cond): an internal invariant, something our own code makes true
 * and that "cannot fail" (never a check of input: bad input gets its IOVIRT_E*
 * code and nothing asserts on it). Hafnium's CHECK() in our words.
 *  - Built with IOVIRT_CHECKS=1 (meson option `checks`: on by default in every
 *    build that builds the tests, the stress programs or the fuzz targets), a
 *    false cond stops the program at once with a trap instruction, so that the
 *    test, the sanitizer or the fuzzer reports the place.
 *  - Otherwise (release and bench builds, iovirt as a subproject) it compiles
 *    to nothing: cond is only type-checked, never evaluated, so it must have no
 *    side effect. No assume hint either: an assumption the optimizer relies on
 *    would turn a broken invariant into undefined behaviour in exactly the
 *    builds where nothing catches it, and the conditions are cheap compares.
 * Internal: not installed.
 */
#ifndef IOVIRT_COMMON_CHECK_H
#define IOVIRT_COMMON_CHECK_H

#if defined(__GNUC__) || defined(__clang__)
#define IOVIRT_TRAP() __builtin_trap()
#else
#define IOVIRT_TRAP() ((void)(*(volatile char *)0 = 0))
#endif

#if defined(IOVIRT_CHECKS) && IOVIRT_CHECKS
#define IOVIRT_CHECK(cond) ((cond) ? (void)0 : IOVIRT_TRAP())
#else
#define IOVIRT_CHECK(cond) ((void)sizeof(!(cond)))
#endif

/*
 * IOVIRT_CHECKER: on a function that only evaluates an IOVIRT_CHECK (a scan of
 * a whole table, say). No coverage instrumentation for it: in fuzz builds the
 * comparison tracing of such loops cost a fifth of a target's time and told
 * the fuzzer nothing (no input steers an invariant); not inlined, since an
 * inlined copy would be instrumented as part of its caller. Clang only; gcc's
 * coverage builds are not fuzz builds.
 */
#if defined(__clang__)
#define IOVIRT_CHECKER __attribute__((no_sanitize("coverage"), noinline))
#else
#define IOVIRT_CHECKER
#endif

#endif
