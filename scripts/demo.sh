#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main example: examples/vnic,
# two guests on an emulated SR-IOV NIC with every DMA checked by iovirt.
#   scripts/demo.sh            the strategy table, the attack report, NAPI (a few seconds)
#   scripts/demo.sh --long     longer runs, 7 repetitions each
#   scripts/demo.sh --tour     the page-table tour instead (examples/pagetable_tour.c)
#   scripts/demo.sh --no-qemu  without the guest on the vhost-user-blk backend
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
no_qemu=0
args=()
for a in "$@"; do
	if [ "$a" = --no-qemu ]; then no_qemu=1; else args+=("$a"); fi
done
build/examples/vnic/vnic "${args[@]+"${args[@]}"}"
[ $no_qemu = 1 ] && exit 0
echo
echo "== a real QEMU guest on examples/vhost-user-blk (split, packed, behind intel-iommu), then a hostile front-end (--no-qemu skips)"
exec scripts/vhost_user_blk_guest.sh build
