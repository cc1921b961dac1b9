/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <string.h>

#include "iovirt/error.h"

/* Every code has a distinct name and message, and unknown codes are named as such. */
Test(errors, names_and_messages_are_distinct)
{
	int codes[] = {
#define C_(name, val, msg) IOVIRT_##name,
		IOVIRT_ERRORS(C_)
#undef C_
	};
	size_t n = sizeof(codes) / sizeof(codes[0]);
	cr_assert_geq(n, 9);
	for (size_t i = 0; i < n; i++) {
		cr_assert_lt(codes[i], 0, "codes are negative");
		cr_assert_str_neq(iovirt_strerror(codes[i]), "unknown error");
		cr_assert_str_neq(iovirt_err_name(codes[i]), "UNKNOWN");
		for (size_t j = 0; j < i; j++) {
			cr_assert_neq(codes[i], codes[j]);
			cr_assert_str_neq(iovirt_err_name(codes[i]), iovirt_err_name(codes[j]));
			cr_assert_str_neq(iovirt_strerror(codes[i]), iovirt_strerror(codes[j]));
		}
	}
	cr_assert_str_eq(iovirt_err_name(IOVIRT_EEXIST), "EEXIST");
	cr_assert_str_eq(iovirt_strerror(IOVIRT_OK), "success");
	cr_assert_str_eq(iovirt_strerror(-9999), "unknown error");
	cr_assert_str_eq(iovirt_err_name(12345), "UNKNOWN");
}

/* Values are ABI: a code is never renumbered, and every code has a use
 * (EDENIED, once returned by nothing, is MSI-X signalled while disabled). */
Test(errors, values_stay)
{
	cr_assert_eq(IOVIRT_EINVAL, -1);
	cr_assert_eq(IOVIRT_ERESERVED, -40);
	cr_assert_eq(IOVIRT_EDENIED, -41);
	cr_assert_eq(IOVIRT_EOVERRUN, -42);
	cr_assert_eq(IOVIRT_EMSIWIN, -43);
	cr_assert_eq(IOVIRT_ENOMASTER, -44);
	cr_assert_eq(IOVIRT_EWRAP, -45);
	cr_assert_eq(IOVIRT_EIOFAULT, -46);
	cr_assert_str_eq(iovirt_err_name(IOVIRT_EDENIED), "EDENIED");
}
