/* SPDX-License-Identifier: MIT */
/* The generic walker, instantiated for RISC-V IOMMU second-stage (G-stage x4) PTEs. */
#include "fmt_rv.h"

#define FMT(name) rv_##name
#define FMT_IMPL pt_impl_rv
#include "walk.inc"
