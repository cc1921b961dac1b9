#!/usr/bin/env bash
# iovirt-vhost-user-blk beside qemu-storage-daemon's vhost-user-blk export, on the
# same backing file, in the same run:
#  (1) a synthetic front-end (vub-hostile --bench: no guest, INFLIGHT requests kept
#      posted) for 4 KiB and 64 KiB reads and writes: requests per second and the
#      backend's CPU time per request (utime + stime from /proc, over the run),
#      each the median of RUNS runs; iovirt also behind the IOTLB (the peer has no
#      such mode): "iovirt-iotlb" with the front-end's memory mapped once (4 KiB
#      translations), "iovirt-iotlb-strict" as a guest under iommu.strict=1 through
#      QEMU: each data page mapped on the backend's miss, invalidated on completion;
#  (2) the guest's own throughput: a Linux guest (TCG) writes and reads DD_MB MiB
#      of /dev/vda with dd (O_DIRECT, 64 KiB blocks), once per backend.
# Usage: scripts/vhost_user_blk_bench.sh [BUILD_DIR] [SECONDS] [INFLIGHT] [RUNS]
#        VUB_BENCH_GUEST=0 skips (2), VUB_BENCH_SYNTH=0 skips (1); VUB_BENCH_DD_MB (32).
# Prints tables and JSON lines (also written to BUILD_DIR/vhost-user-blk-bench.jsonl).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/guest_initramfs.sh"
BUILD=${1:-$ROOT/build}
SECS=${2:-3}
INFLIGHT=${3:-16}
RUNS=${4:-3}
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
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print (NR % 2 ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2))}'; }

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

stop() { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=; }

# One run: prints "rps cpu_ns_per_req" or nothing on failure.
one_run() { # peer op bytes
	start "$1" || return
	sleep 0.2
	local c0 c1 line n rps
	c0=$(cpu_ticks "$PID")
	local mode=
	[ "$1" = iovirt-iotlb ] && mode=iommu
	[ "$1" = iovirt-iotlb-strict ] && mode=iommu-strict
	line=$(timeout $((SECS + 30)) "$CLIENT" --bench "$SOCK" "$SECS" "$INFLIGHT" "$3" "$2" $mode)
	c1=$(cpu_ticks "$PID")
	stop
	n=$(echo "$line" | awk '{print $3}')
	rps=$(echo "$line" | awk '{print $7}')
	[ -n "$c1" ] && [ -n "$n" ] && [ "$n" != 0 ] || return
	echo "$rps $(( (c1 - c0) * 1000000000 / HZ / n ))"
}

declare -A CPU RPS
echo "synthetic front-end: $INFLIGHT in flight, ${SECS}s per run, median of $RUNS runs"
printf '%-20s %-6s %6s %12s %14s %10s\n' peer op bytes "req/s" "cpu ns/req" "vs qsd"
PEERS="qsd iovirt iovirt-iotlb iovirt-iotlb-strict"
command -v qemu-storage-daemon >/dev/null || { echo "qsd: skipped (not installed)"; PEERS="iovirt iovirt-iotlb iovirt-iotlb-strict"; }
[ "${VUB_BENCH_SYNTH:-1}" = 1 ] || PEERS_SYNTH_SKIP=1
for op in read write; do
	[ -n "${PEERS_SYNTH_SKIP:-}" ] && break
	for bs in 4096 65536; do
		# Runs interleaved across peers, so a noisy moment hits all of them.
		declare -A R=()
		for r in $(seq "$RUNS"); do
			for peer in $PEERS; do
				res=$(one_run $peer $op $bs)
				[ -n "$res" ] && R[$peer]="${R[$peer]:-}$res"$'\n'
			done
		done
		for peer in $PEERS; do
			vals=${R[$peer]:-}
			if [ -z "$vals" ]; then echo "$peer $op $bs: no successful run"; continue; fi
			rps=$(echo -n "$vals" | awk '{print $1}' | median)
			cpu=$(echo -n "$vals" | awk '{print $2}' | median)
			all=$(echo -n "$vals" | awk '{printf "%s%s", (NR > 1 ? "," : ""), $2}')
			CPU[$peer,$op,$bs]=$cpu
			RPS[$peer,$op,$bs]=$rps
			q=${CPU[qsd,$op,$bs]:-}
			ratio=$([ -n "$q" ] && [ "$q" != 0 ] && awk -v a="$cpu" -v b="$q" 'BEGIN {printf "%.3f", a / b}' || echo null)
			printf '%-20s %-6s %6s %12s %14s %10s\n' $peer $op $bs "$rps" "$cpu" "$ratio"
			echo "{\"bench\":\"vhost-user-blk\",\"peer\":\"$peer\",\"op\":\"$op\",\"bytes\":$bs,\"inflight\":$INFLIGHT,\"runs\":$RUNS,\"rps\":$rps,\"cpu_ns_per_req\":$cpu,\"cpu_ns_per_req_runs\":[$all],\"cpu_vs_qsd\":$ratio}" >>"$OUT"
		done
	done
done

# ---- (2) the guest's own throughput with dd.
guest_bench() {
	[ "${VUB_BENCH_GUEST:-1}" = 1 ] || { echo "guest dd: skipped (VUB_BENCH_GUEST=0)"; return; }
	command -v qemu-system-x86_64 >/dev/null && ls /boot/vmlinuz-* >/dev/null 2>&1 && [ -x /bin/busybox ] ||
		{ echo "guest dd: skipped (qemu-system-x86, a kernel or busybox-static missing)"; return; }
	local KERNEL KVER MODDIR IR DD_MB=${VUB_BENCH_DD_MB:-32}
	KERNEL=$(ls /boot/vmlinuz-* | sort -V | tail -1)
	KVER=${KERNEL#/boot/vmlinuz-}
	MODDIR=/lib/modules/$KVER/kernel
	IR=$WORK/initramfs
	guest_initramfs_base "$IR" "$MODDIR"
	cat >"$IR"/init <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk; do
	[ -f /mod/\$m.ko ] && insmod /mod/\$m.ko
done
i=0; while [ ! -b /dev/vda ] && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i+1)); done
# busybox dd prints no timing: /proc/uptime (10 ms) around each run.
t0=\$(cut -d' ' -f1 /proc/uptime)
dd if=/dev/zero of=/dev/vda bs=65536 count=$((DD_MB * 16)) oflag=direct 2>/dev/null
t1=\$(cut -d' ' -f1 /proc/uptime)
dd if=/dev/vda of=/dev/null bs=65536 count=$((DD_MB * 16)) iflag=direct 2>/dev/null
t2=\$(cut -d' ' -f1 /proc/uptime)
echo "DD-WRITE: \$t0 \$t1"
echo "DD-READ: \$t1 \$t2"
poweroff -f
INIT
	chmod +x "$IR"/init
	(cd "$IR" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$WORK/initrd.gz"
	echo
	echo "guest dd: ${DD_MB} MiB, 64 KiB blocks, O_DIRECT, one TCG guest per backend"
	printf '%-13s %-6s %12s %10s\n' peer op "MB/s" "vs qsd"
	local peer op mbs q ratio
	declare -A G
	for peer in $PEERS; do
		[[ $peer == iovirt-iotlb* ]] && continue
		start $peer || { echo "$peer: did not start"; continue; }
		timeout 120 qemu-system-x86_64 -accel tcg -cpu max -m 256M -smp 1 \
			-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
			-kernel "$KERNEL" -initrd "$WORK/initrd.gz" \
			-append "console=ttyS0 quiet loglevel=1 panic=-1" \
			-chardev socket,id=c0,path="$SOCK" -device vhost-user-blk-pci,chardev=c0,num-queues=1 \
			-nographic -no-reboot -monitor none -serial stdio >"$WORK/guest-$peer.log" 2>&1
		stop
		for op in write read; do
			mbs=$(grep -a "DD-${op^^}:" "$WORK/guest-$peer.log" | tr -d '\r' | sed "s/.*DD-${op^^}: //" |
				awk -v b=$((DD_MB * 1048576)) '{ if ($2 > $1) printf "%.1f", b / ($2 - $1) / 1e6 }')
			if [ -z "$mbs" ]; then
				echo "$peer $op: no dd result (logs: $BUILD/vub-bench-guest-$peer.log, $BUILD/vub-bench-backend-$peer.log)"
				cp "$WORK/guest-$peer.log" "$BUILD/vub-bench-guest-$peer.log"
				cp "$WORK/be.log" "$BUILD/vub-bench-backend-$peer.log"
				continue
			fi
			G[$peer,$op]=$mbs
			q=${G[qsd,$op]:-}
			ratio=$([ -n "$q" ] && awk -v a="$mbs" -v b="$q" 'BEGIN {printf "%.3f", a / b}' || echo null)
			printf '%-13s %-6s %12s %10s\n' $peer $op "$mbs" "$ratio"
			echo "{\"bench\":\"vhost-user-blk-guest-dd\",\"peer\":\"$peer\",\"op\":\"$op\",\"mib\":$DD_MB,\"bs\":65536,\"mb_per_s\":$mbs,\"vs_qsd\":$ratio}" >>"$OUT"
		done
	done
}
guest_bench
echo
cat "$OUT"
