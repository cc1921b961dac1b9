/* SPDX-License-Identifier: MIT */
/* The generic walker, instantiated for AMD-Vi v1 host page-table entries. */
#include "fmt_amd.h"

#define FMT(name) amd_##name
#define FMT_IMPL pt_impl_amd
#include "walk.inc"
