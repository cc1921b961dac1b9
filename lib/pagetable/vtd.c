/* SPDX-License-Identifier: MIT */
/* The generic walker, instantiated for VT-d second-stage entries. */
#include "fmt_vtd.h"

#define FMT(name) vtd_##name
#define FMT_IMPL pt_impl_vtd
#include "walk.inc"
