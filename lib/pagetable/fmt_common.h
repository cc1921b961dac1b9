/* SPDX-License-Identifier: MIT */
/* What the radix formats with 4 KiB granules and 512-entry tables share. */
#ifndef IOVIRT_PAGETABLE_FMT_COMMON_H
#define IOVIRT_PAGETABLE_FMT_COMMON_H

/* Levels of a 9-bits-per-level table for an input width (12 bits of page
 * offset below): 32- and 39-bit spaces take 3 levels (a 32-bit space is a
 * 39-bit table whose range check stops at 4 GiB), 48 bits 4, 57 bits 5;
 * 0 for any other width. */
static inline unsigned fmt_radix_levels(unsigned width)
{
	switch (width) {
	case 32:
	case 39:
		return 3;
	case 48:
		return 4;
	case 57:
		return 5;
	}
	return 0;
}

#endif
