/* SPDX-License-Identifier: MIT */
/* What the radix formats with 4 KiB granules and 512-entry tables share. */
#ifndef IOVIRT_PAGETABLE_FMT_COMMON_H
#define IOVIRT_PAGETABLE_FMT_COMMON_H

#include <stdint.h>

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

/*
 * One entry as a walker that does not trust its writer reads it (a guest's
 * own tables, lib/viommu through gdecode.h). Each format's X_gdecode fills it
 * from the same bit definitions its host entries are built with; every field
 * is decided from the one 64-bit value passed in.
 */
enum fmt_gkind {
	FMT_G_INVALID = 0,  /* not present: translation fault */
	FMT_G_TABLE = 1,    /* points to a table of level `next` at addr */
	FMT_G_LEAF = 2,     /* maps `size` bytes at addr (aligned to size) */
	FMT_G_RESERVED = 3, /* a reserved bit or encoding is set */
};

struct fmt_gentry {
	uint64_t addr;   /* TABLE: the next table; LEAF: the page's first byte */
	uint64_t size;   /* LEAF: bytes of the page */
	uint32_t kind;   /* enum fmt_gkind */
	uint32_t prot;   /* IOVIRT_PROT_* this entry grants (tables: what they pass down) */
	uint32_t next;   /* TABLE: level of the table it points to (AMD-Vi may skip levels) */
	uint32_t af;     /* LEAF: accesses that take an access-flag fault (Arm AF clear,
	                  * RISC-V A clear: read and write; RISC-V D clear: write) */
};

#endif
