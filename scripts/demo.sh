#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main example.
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
if [ -x build/examples/vnic/vnic ]; then
	exec build/examples/vnic/vnic "$@"
fi
exec build/examples/pagetable_tour
