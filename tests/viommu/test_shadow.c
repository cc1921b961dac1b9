/* SPDX-License-Identifier: MIT */
#include "gt.h"
