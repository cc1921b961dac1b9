#!/bin/bash
# lspci decodes what lib/sriov emulates: the PF's extended chain (ARI -> ACS -> SR-IOV) and
# two VFs' configuration spaces in the raw and the virtualized view, dumped in lspci's hex
# format by tests/sriov/lspci_dump.c and read back with `lspci -F`.
# Usage: scripts/sriov_lspci.sh [builddir]   (default build/; needs pciutils: scripts/deps.sh)
set -u
build=${1:-build}
dumper="$build/tests/sriov/sriov_lspci_dump"
if ! command -v lspci >/dev/null; then
	echo "sriov_lspci: lspci missing (pciutils; scripts/deps.sh installs it)" >&2
	exit 1
fi
[ -x "$dumper" ] || { echo "sriov_lspci: $dumper not built" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0

decode() { # view -> $dir/view.txt (lspci's decode, numeric IDs)
	"$dumper" "$1" >"$dir/$1.dump" || { echo "sriov_lspci: dumper $1 failed" >&2; exit 1; }
	lspci -F "$dir/$1.dump" -nn -vvv 2>/dev/null >"$dir/$1.txt"
}

# expect view device pattern: pattern (fixed string) appears in the block of device (slot)
expect() {
	local got
	got=$(awk -v dev="$2" '/^[0-9a-f][0-9a-f]:/ { on = index($0, dev) == 1 } on' "$dir/$1.txt")
	if ! grep -qF -- "$3" <<<"$got"; then
		echo "sriov_lspci: $1 $2: missing '$3'" >&2
		fails=$((fails + 1))
	fi
}
absent() {
	local got
	got=$(awk -v dev="$2" '/^[0-9a-f][0-9a-f]:/ { on = index($0, dev) == 1 } on' "$dir/$1.txt")
	if grep -qF -- "$3" <<<"$got"; then
		echo "sriov_lspci: $1 $2: unexpected '$3'" >&2
		fails=$((fails + 1))
	fi
}

decode pf
decode raw
decode virt

# the PF: ARI, ACS and SR-IOV, chained in that order
expect pf 01:00.0 "[8086:1572]"
expect pf 01:00.0 "Capabilities: [100 v1] Alternative Routing-ID Interpretation (ARI)"
expect pf 01:00.0 "ARICap:	MFVC- ACS-, Next Function: 1"
expect pf 01:00.0 "Capabilities: [108 v1] Access Control Services"
expect pf 01:00.0 "ACSCap:	SrcValid+ TransBlk- ReqRedir+ CmpltRedir+ UpstreamFwd+ EgressCtrl- DirectTrans-"
expect pf 01:00.0 "ACSCtl:	SrcValid+ TransBlk- ReqRedir+ CmpltRedir+ UpstreamFwd- EgressCtrl- DirectTrans-"
expect pf 01:00.0 "Capabilities: [160 v1] Single Root I/O Virtualization (SR-IOV)"
expect pf 01:00.0 "IOVCtl:	Enable+ Migration- Interrupt- MSE+ ARIHierarchy-"
expect pf 01:00.0 "Initial VFs: 8, Total VFs: 8, Number of VFs: 4"
expect pf 01:00.0 "VF offset: 8, stride: 2, Device ID: 154c"
expect pf 01:00.0 "Region 0: Memory at 80000000 (32-bit, non-prefetchable)"
expect pf 01:00.0 "Region 2: Memory at 0000000200000000 (64-bit, prefetchable)"
order=$(grep -o 'Capabilities: \[1[0-9a-f][0-9a-f] v1\] [A-Z][a-z]*' "$dir/pf.txt" | awk '{print $4}' | tr '\n' ' ')
[ "$order" = "Alternative Access Single " ] || { echo "sriov_lspci: PF chain order: $order" >&2; fails=$((fails + 1)); }

# both views of VF 0 (01:01.0, unassigned) and VF 1 (01:01.2: bus master, MSI-X and ATS on)
for view in raw virt; do
	for vf in 01:01.0 01:01.2; do
		expect $view $vf "Express (v2) Endpoint"
		expect $view $vf "RBE+ FLReset+"
		expect $view $vf "Vector table: BAR=2 offset=00001000"
		expect $view $vf "PBA: BAR=2 offset=00001800"
		expect $view $vf "Capabilities: [100 v1] Alternative Routing-ID Interpretation (ARI)"
		expect $view $vf "ARICap:	MFVC- ACS-, Next Function: 0"
		expect $view $vf "Capabilities: [108 v1] Address Translation Service (ATS)"
		expect $view $vf "[8086:0001]" # the subsystem IDs (its name depends on the pci.ids version)
		expect $view $vf "Ethernet controller [0200]"
	done
	expect $view 01:01.0 "MSI-X: Enable- Count=16 Masked-"
	expect $view 01:01.2 "MSI-X: Enable+ Count=16 Masked-"
	expect $view 01:01.0 "ATSCtl:	Enable-, Smallest Translation Unit: 00"
	expect $view 01:01.2 "ATSCtl:	Enable+, Smallest Translation Unit: 00"
done
# raw: IDs all ones, no BAR, Memory Space read-only 0
for vf in 01:01.0 01:01.2; do
	expect raw $vf "[ffff:ffff] (rev 02)"
	absent raw $vf "Region"
done
expect raw 01:01.2 "Control: I/O- Mem- BusMaster+"
# virtualized: the PF's vendor with the VF Device ID, the VF's addresses, MSE as the guest set it
for vf in 01:01.0 01:01.2; do
	expect virt $vf "[8086:154c] (rev 02)"
done
expect virt 01:01.0 "Region 0: Memory at 80000000 (32-bit, non-prefetchable) [disabled]"
expect virt 01:01.0 "Region 2: Memory at 200000000 (64-bit, prefetchable) [disabled]"
expect virt 01:01.2 "Control: I/O- Mem+ BusMaster+"
expect virt 01:01.2 "Region 0: Memory at 80004000 (32-bit, non-prefetchable)"
expect virt 01:01.2 "Region 2: Memory at 200010000 (64-bit, prefetchable)"

if [ "$fails" -ne 0 ]; then
	echo "sriov_lspci: $fails checks failed; lspci said:" >&2
	cat "$dir/pf.txt" "$dir/raw.txt" "$dir/virt.txt" >&2
	exit 1
fi
echo "sriov_lspci: lspci decodes the PF chain and both VF views"
