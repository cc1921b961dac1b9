/* SPDX-License-Identifier: MIT */
/* The generic walker, instantiated for Arm SMMU stage 2 (4 KiB granule) descriptors. */
#include "fmt_s2.h"

#define FMT(name) s2_##name
#define FMT_IMPL pt_impl_s2
#include "walk.inc"
