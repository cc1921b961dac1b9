#!/usr/bin/env bash
# iovirt-vhost-user-blk beside qemu-storage-daemon's vhost-user-blk export, on the
# same backing file, driven by the same synthetic front-end (vub-hostile --bench:
# no guest, INFLIGHT requests kept posted). Reports requests per second and the
# backend's CPU time per request (utime + stime from /proc, over the run).
# Usage: scripts/vhost_user_blk_bench.sh [BUILD_DIR] [SECONDS] [INFLIGHT]
# Prints a table and JSON lines (also written to BUILD_DIR/vhost-user-blk-bench.jsonl).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
SECS=${2:-3}
INFLIGHT=${3:-16}
BACKEND=$BUILD/examples/vhost-user-blk/iovirt-vhost-user-blk
CLIENT=$BUILD/examples/vhost-user-blk/vub-hostile
WORK=$(mktemp -d /tmp/vub-bench.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
DISK=$WORK/disk.img
truncate -s 128M "$DISK"
SOCK=$WORK/s.sock
HZ=$(getconf CLK_TCK)
OUT=$BUILD/vhost-user-blk-bench.jsonl
: >"$OUT"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }

start() { # peer
	rm -f "$SOCK"
	if [ "$1" != qsd ]; then
		"$BACKEND" --socket "$SOCK" --file "$DISK" --queue-size 256 2>"$WORK/be.log" &
	else
		qemu-storage-daemon --blockdev driver=file,node-name=f0,filename="$DISK",cache.direct=off \
			--blockdev driver=raw,node-name=d0,file=f0 \
			--export type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path="$SOCK",writable=on \
			2>"$WORK/be.log" &
	fi
	PID=$!
	for _ in $(seq 100); do [ -S "$SOCK" ] && return 0; sleep 0.05; done
	return 1
}

printf '%-13s %-6s %6s %8s %12s %14s\n' peer op bytes inflight "req/s" "cpu ns/req"
for peer in iovirt iovirt-iotlb qsd; do
	[ $peer = qsd ] && ! command -v qemu-storage-daemon >/dev/null && { echo "qsd: skipped (not installed)"; continue; }
	for op in read write; do
		for bs in 4096 65536; do
			start $peer || { echo "$peer: did not start"; continue; }
			sleep 0.2
			c0=$(cpu_ticks "$PID")
			line=$(timeout $((SECS + 30)) "$CLIENT" --bench "$SOCK" "$SECS" "$INFLIGHT" "$bs" "$op" $([ $peer = iovirt-iotlb ] && echo iommu))
			c1=$(cpu_ticks "$PID")
			kill -TERM "$PID"; wait "$PID" 2>/dev/null; PID=
			n=$(echo "$line" | awk '{print $3}')
			rps=$(echo "$line" | awk '{print $7}')
			if [ -z "$c1" ]; then echo "$peer $op $bs: the backend died during the run"; continue; fi
			if [ -z "$n" ] || [ "$n" = 0 ]; then echo "$peer $op $bs: failed: $line"; continue; fi
			cpu=$(( (c1 - c0) * 1000000000 / HZ / n ))
			printf '%-13s %-6s %6s %8s %12s %14s\n' $peer $op $bs $INFLIGHT "$rps" "$cpu"
			echo "{\"bench\":\"vhost-user-blk\",\"peer\":\"$peer\",\"op\":\"$op\",\"bytes\":$bs,\"inflight\":$INFLIGHT,\"rps\":$rps,\"cpu_ns_per_req\":$cpu}" >>"$OUT"
		done
	done
done
cat "$OUT"
