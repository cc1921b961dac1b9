/* SPDX-License-Identifier: MIT */
#include "testhost.h"
#include "rand.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

struct iovirt_posix *th_posix(void)
{
	struct iovirt_posix *p = iovirt_posix_create();
	cr_assert_not_null(p, "cannot create the POSIX host adapter");
	return p;
}

void th_posix_done(struct iovirt_posix *p)
{
	cr_expect_eq(iovirt_posix_live_tables(p), 0, "table pages leaked: %lld",
		     (long long)iovirt_posix_live_tables(p));
	cr_expect_eq(iovirt_posix_live_mem(p), 0, "bookkeeping bytes leaked: %lld",
		     (long long)iovirt_posix_live_mem(p));
	cr_expect_eq(iovirt_posix_pinned_pages(p), 0, "pages left pinned: %lld",
		     (long long)iovirt_posix_pinned_pages(p));
	iovirt_posix_destroy(p);
}

uint64_t th_rand(uint64_t *s)
{
	return tr_rand(s);
}

void *th_truncated(const void *full, size_t size)
{
	cr_assert_geq(size, sizeof(size_t));
	unsigned char *p = malloc(size);
	cr_assert_not_null(p);
	memcpy(p, full, size);
	memcpy(p, &size, sizeof(size));
	return p;
}
