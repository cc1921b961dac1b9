/* SPDX-License-Identifier: MIT */
/* iovirt: safe guest DMA for hypervisors and device emulators. The umbrella header. */
#ifndef IOVIRT_IOVIRT_H
#define IOVIRT_IOVIRT_H

#include "iovirt/error.h"
#include "iovirt/host.h"
#include "iovirt/irqpoll.h"
#include "iovirt/pagetable.h"
#include "iovirt/pin.h"
#include "iovirt/sriov.h"
#include "iovirt/validate.h"
#include "iovirt/viommu.h"

#endif
