#!/usr/bin/env bash
# The vhost-user-blk backend under a real QEMU and a real Linux guest:
# boots a busybox initramfs guest (TCG) with a vhost-user-blk-pci device on
# iovirt-vhost-user-blk, writes a random pattern with O_DIRECT, reads it back,
# compares; split rings, then packed=on. Then the hostile front-end.
# Usage: scripts/vhost_user_blk_guest.sh [BUILD_DIR]   (default: build)
# VUB_ONLY="split packed viommu hostile" (any subset) runs only those parts.
# Prints "vhost-user-blk guest: PASS" / "FAIL ..." or "skipped: reason";
# exit 0 on pass or skip.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
BACKEND=$BUILD/examples/vhost-user-blk/iovirt-vhost-user-blk
HOSTILE=$BUILD/examples/vhost-user-blk/vub-hostile

# Packages: only here, not in the global deps (they are large and slow).
PKGS="qemu-system-x86 linux-image-amd64 busybox-static cpio"
need_install=0
command -v qemu-system-x86_64 >/dev/null || need_install=1
ls /boot/vmlinuz-* >/dev/null 2>&1 || need_install=1
[ -x /bin/busybox ] || need_install=1
command -v cpio >/dev/null || need_install=1
if [ $need_install = 1 ]; then
	SUDO=; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
	if ! timeout 600 $SUDO apt-get install -y --no-install-recommends $PKGS >/tmp/vub-apt.log 2>&1; then
		timeout 300 $SUDO apt-get update >/dev/null 2>&1
		if ! timeout 600 $SUDO apt-get install -y --no-install-recommends $PKGS >/tmp/vub-apt.log 2>&1; then
			echo "skipped: cannot install $PKGS (see /tmp/vub-apt.log)"
			exit 0
		fi
	fi
fi
if [ ! -x "$BACKEND" ]; then
	echo "vhost-user-blk guest: FAIL backend not built ($BACKEND)"
	exit 1
fi

KERNEL=$(ls /boot/vmlinuz-* | sort -V | tail -1)
KVER=${KERNEL#/boot/vmlinuz-}
MODDIR=/lib/modules/$KVER/kernel
WORK=$(mktemp -d /tmp/vub-guest.XXXXXX)
BPID=
cleanup() {
	[ -n "$BPID" ] && kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

# ---- initramfs: busybox + the virtio modules, loaded in dependency order.
IR=$WORK/initramfs
. "$ROOT/scripts/guest_initramfs.sh"
guest_initramfs_base "$IR" "$MODDIR"
cat >"$IR"/init <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /tmp; mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk; do
	[ -f /mod/$m.ko ] && insmod /mod/$m.ko
done
i=0; while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
if [ ! -b /dev/vda ]; then echo "GUEST-RESULT: FAIL no /dev/vda"; poweroff -f; fi
echo "GUEST-CAPACITY: $(cat /sys/block/vda/size)"
dd if=/dev/urandom of=/tmp/pat bs=4096 count=2048 2>/dev/null
dd if=/tmp/pat of=/dev/vda bs=65536 oflag=direct 2>/dev/null || echo "GUEST-RESULT: FAIL write"
dd if=/dev/vda of=/tmp/back bs=65536 count=128 iflag=direct 2>/dev/null || echo "GUEST-RESULT: FAIL read"
if cmp /tmp/pat /tmp/back; then echo "GUEST-RESULT: PASS $(md5sum </tmp/pat | cut -c1-32)"; else echo "GUEST-RESULT: FAIL compare"; fi
sync
poweroff -f
EOF
chmod +x "$IR"/init
(cd "$IR" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$WORK/initrd.gz"

DISK=$WORK/disk.img
SOCK=$WORK/vub.sock
fail=0
DISK_MB=64
ONLY=" ${VUB_ONLY:-split packed viommu hostile} "
want() { [[ "$ONLY" == *" $1 "* ]]; }
NQ=${VUB_NUM_QUEUES:-1} # queues of the device (backend --queues and QEMU num-queues)

start_backend() {
	rm -f "$SOCK"
	"$BACKEND" --socket "$SOCK" --file "$DISK" --queues "$NQ" "$@" 2>"$WORK/backend.log" &
	BPID=$!
	for _ in $(seq 100); do grep -q "listening on" "$WORK/backend.log" 2>/dev/null && return 0; sleep 0.05; done
	echo "vhost-user-blk guest: FAIL backend did not start"; cat "$WORK/backend.log"
	return 1
}

stop_backend() {
	kill -TERM "$BPID" 2>/dev/null
	wait "$BPID"
	local rc=$?
	BPID=
	return $rc
}

boot() { # name, extra device properties, extra machine args
	local name=$1 props=$2
	shift 2
	local t0=$(date +%s.%N) try
	for try in 1 2; do
	timeout 60 qemu-system-x86_64 -accel tcg -cpu max -m 256M -smp 1 "$@" \
		-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
		-kernel "$KERNEL" -initrd "$WORK/initrd.gz" \
		-append "console=ttyS0 quiet loglevel=1 panic=-1 $APPEND_EXTRA" \
		-chardev socket,id=c0,path="$SOCK" \
		-device vhost-user-blk-pci,chardev=c0,num-queues=$NQ$props \
		-nographic -no-reboot -monitor none -serial stdio >"$WORK/guest-$name.log" 2>&1
	local qrc=$?
	# A TCG guest on a loaded host can panic in its early timer checks, before
	# any virtio: boot once more then (the backend serves the next front-end).
	if [ $try = 1 ] && ! grep -aq "GUEST-" "$WORK/guest-$name.log" &&
		grep -aq "Kernel panic" "$WORK/guest-$name.log"; then
		echo "vhost-user-blk guest ($name): early guest kernel panic ($(grep -ao "Kernel panic[^[]*" "$WORK/guest-$name.log" | head -1)); booting again"
		continue
	fi
	break
	done
	local t1=$(date +%s.%N)
	local secs=$(echo "$t1 - $t0" | bc 2>/dev/null || echo "?")
	local res=$(grep -ao "GUEST-RESULT: [A-Z]*[ a-z0-9]*" "$WORK/guest-$name.log" | head -1)
	local cap=$(grep -ao "GUEST-CAPACITY: [0-9]*" "$WORK/guest-$name.log" | head -1 | awk '{print $2}')
	local want=$((DISK_MB * 2048))
	if [ "$qrc" = 0 ] && [[ "$res" == *PASS* ]] && [ "$cap" = "$want" ]; then
		echo "vhost-user-blk guest ($name): PASS capacity $cap sectors, pattern round trip, ${secs}s"
	else
		echo "vhost-user-blk guest ($name): FAIL qemu rc $qrc result '$res' capacity '$cap' (want $want)"
		tail -20 "$WORK/guest-$name.log"
		fail=1
	fi
}

APPEND_EXTRA=
for variant in split packed; do
	want $variant || continue
	truncate -s 0 "$DISK"; truncate -s ${DISK_MB}M "$DISK"
	start_backend || { fail=1; break; }
	if [ $variant = split ]; then boot split ""; else boot packed ",packed=on"; fi
	if ! stop_backend; then echo "vhost-user-blk guest ($variant): FAIL backend exit status"; fail=1; fi
	grep -E "^(counters|notifications|iotlb|refusals)" "$WORK/backend.log" | sed "s/^/  backend ($variant): /"
done

# Behind a guest IOMMU: the backend gets IOVAs and must have counted IOTLB traffic.
truncate -s 0 "$DISK"; truncate -s ${DISK_MB}M "$DISK"
if ! want viommu; then
	:
elif start_backend; then
	# intremap=off: interrupt remapping is not under test, and its IO-APIC timer
	# check is what panics a TCG guest on a loaded host.
	APPEND_EXTRA="intel_iommu=on iommu.strict=1 intremap=off"
	boot viommu ",iommu_platform=on,ats=on,disable-legacy=on" -M q35 -device intel-iommu,device-iotlb=on
	APPEND_EXTRA=
	if ! stop_backend; then echo "vhost-user-blk guest (viommu): FAIL backend exit status"; fail=1; fi
	grep -E "^(counters|notifications|iotlb|refusals)" "$WORK/backend.log" | sed "s/^/  backend (viommu): /"
	upd=$(grep -o "iotlb: updates [0-9]*" "$WORK/backend.log" | awk '{print $3}')
	miss=$(grep -o "misses [0-9]*" "$WORK/backend.log" | awk '{print $2}')
	if [ "${upd:-0}" -gt 0 ] && [ "${miss:-0}" -gt 0 ]; then
		echo "vhost-user-blk guest (viommu): IOTLB traffic counted: $upd updates, $miss misses"
	else
		echo "vhost-user-blk guest (viommu): FAIL no IOTLB traffic counted"; fail=1
	fi
else
	fail=1
fi

# The hostile front-end: the backend must survive it and keep honest data.
if want hostile && [ -x "$HOSTILE" ]; then
	truncate -s 0 "$DISK"; truncate -s 4M "$DISK"
	# Requests at sector 200 stay in flight 300 ms (the REM_MEM_REG case).
	if VUB_TEST_STALL_SECTOR=200 start_backend; then
		if timeout 60 "$HOSTILE" "$SOCK" "$DISK" >"$WORK/hostile.log" 2>&1; then
			echo "vhost-user-blk hostile front-end: PASS $(tail -1 "$WORK/hostile.log")"
		else
			echo "vhost-user-blk hostile front-end: FAIL"; tail -20 "$WORK/hostile.log"; fail=1
		fi
		if ! stop_backend; then echo "vhost-user-blk hostile: FAIL backend exit status"; fail=1; fi
		grep -E "^(counters|refusals)" "$WORK/backend.log" | sed "s/^/  backend (hostile): /"
	else
		fail=1
	fi
fi

if [ $fail = 0 ]; then echo "vhost-user-blk guest: PASS"; else echo "vhost-user-blk guest: FAIL"; fi
exit $fail
