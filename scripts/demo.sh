#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main example: examples/vnic,
# two guests on an emulated SR-IOV NIC with every DMA checked by iovirt.
#   scripts/demo.sh            the strategy table, the attack report, NAPI (a few seconds)
#   scripts/demo.sh --long     longer runs, 7 repetitions each
#   scripts/demo.sh --tour     the page-table tour instead (examples/pagetable_tour.c)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
iovirt_install_deps
if [ -d build/meson-private ]; then
	meson setup --reconfigure build >/dev/null
else
	meson setup build >/dev/null
fi
ninja -C build >/dev/null
if [ "${1:-}" = "--tour" ]; then
	exec build/examples/pagetable_tour
fi
exec build/examples/vnic/vnic "$@"
