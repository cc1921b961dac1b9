# Sourced by the guest scripts (vhost_user_blk_guest.sh, vhost_user_blk_bench.sh).
# guest_initramfs_base DIR MODDIR: busybox and the virtio block modules of the
# installed kernel (MODDIR = /lib/modules/<version>/kernel), decompressed, in
# DIR/bin and DIR/mod; the caller writes DIR/init (it loads the modules in
# this order: virtio, virtio_ring, the PCI transports, virtio_blk).
guest_initramfs_base() {
	local ir=$1 moddir=$2 m f
	mkdir -p "$ir"/bin "$ir"/mod "$ir"/dev "$ir"/proc "$ir"/sys
	cp /bin/busybox "$ir"/bin/busybox
	for m in drivers/virtio/virtio drivers/virtio/virtio_ring drivers/virtio/virtio_pci_modern_dev \
		drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci drivers/block/virtio_blk; do
		f=$(ls "$moddir/$m".ko* 2>/dev/null | head -1)
		[ -n "$f" ] || continue
		case $f in
		*.xz) xz -dc "$f" >"$ir/mod/$(basename "$m").ko" ;;
		*.zst) zstd -qdc "$f" >"$ir/mod/$(basename "$m").ko" ;;
		*) cp "$f" "$ir/mod/$(basename "$m").ko" ;;
		esac
	done
}
