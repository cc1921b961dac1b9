#!/usr/bin/env bash
# Builds (release, jemalloc) and runs every benchmark; tables and JSON lines go
# to stdout, the JSON lines also to build-bench/bench.jsonl.
# BENCH_REPS (default 7) and BENCH_SCALE (default 1.0) tune the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
iovirt_install_deps
if [ -d build-bench/meson-private ]; then
	meson setup --reconfigure build-bench >/dev/null
else
	meson setup build-bench --buildtype=release -Db_ndebug=true -Dtests=false -Dstress=false -Dexamples=false >/dev/null
fi
ninja -C build-bench >/dev/null
: >build-bench/bench.jsonl
for b in build-bench/bench/bench_*; do
	[ -f "$b" ] && [ -x "$b" ] || continue
	echo "== $b"
	"$b" | tee -a build-bench/bench.out | grep --line-buffered -v '^{' || true
	grep '^{' build-bench/bench.out >>build-bench/bench.jsonl || true
	: >build-bench/bench.out
done
echo "JSON lines: build-bench/bench.jsonl"
if [ -x build/examples/vhost-user-blk/iovirt-vhost-user-blk ]; then
	echo "== vhost-user-blk: iovirt's backend (and behind the IOTLB) beside qemu-storage-daemon"
	scripts/vhost_user_blk_bench.sh build 3 16 || true
fi
