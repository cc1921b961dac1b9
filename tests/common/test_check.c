/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <signal.h>

#include "common/check.h"

#if defined(__aarch64__)
#define TRAP_SIGNAL SIGTRAP
#else
#define TRAP_SIGNAL SIGILL
#endif

/* Test builds define IOVIRT_CHECKS=1 (meson option `checks`, 'auto'), so the checks are live here. */
Test(check, enabled_in_test_builds)
{
#if !defined(IOVIRT_CHECKS) || !IOVIRT_CHECKS
	cr_assert_fail("IOVIRT_CHECKS is not set in a build of the tests");
#endif
}

/* A check that holds does nothing and evaluates its condition once. */
Test(check, holding_check_is_silent)
{
	int calls = 0;
	IOVIRT_CHECK(++calls == 1);
	cr_assert_eq(calls, 1);
}

/* A broken invariant stops the program at once with a trap. */
Test(check, broken_check_traps, .signal = TRAP_SIGNAL)
{
	volatile int zero = 0;
	IOVIRT_CHECK(zero == 1);
	cr_assert_fail("IOVIRT_CHECK returned from a false condition");
}
