#!/usr/bin/env bash
# scripts/abi_check.sh [BUILD_DIR]: compares the shared libraries of a build (default: build,
# which must carry debug info: the default debugoptimized build does) against the baselines in
# abi/ with abidiff. Fails on an incompatible change (abidiff exit bit 3,
# ABIDIFF_ABI_INCOMPATIBLE_CHANGE: a public function or variable removed, or its symbol version
# changed) or on an abidiff error (bits 0-1). A compatible change (bit 2 alone, e.g. an added
# function) is printed and passes. With IOVIRT_ABI_STRICT=1 every change except additions
# fails, including a changed parameter type or a changed layout of a public struct, which
# libabigail counts as bit 2 only. docs/abi.md has the rules; scripts/abi_update.sh refreshes
# the baselines.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/abi_libs.sh
dir=${1:-build}
command -v abidiff >/dev/null || { echo "abi: abidiff missing (apt-get install abigail-tools)" >&2; exit 1; }
# abidiff tells public types from private ones by the header each was declared in (debug info),
# so it needs the headers of the source tree the build was configured from.
src=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["directories"]["source"])' \
	"$dir/meson-info/meson-info.json" 2>/dev/null) || src=.
status=0
for pair in "${abi_libs[@]}"; do
	set -- $pair
	base=$1 lib="$dir/$2"
	[ -e "$base" ] || { echo "abi: no baseline $base (scripts/abi_update.sh writes it)" >&2; status=1; continue; }
	[ -e "$lib" ] || { echo "abi: $lib missing" >&2; status=1; continue; }
	extra=()
	[ "${IOVIRT_ABI_STRICT:-0}" = 1 ] && extra=(--no-added-syms)
	report=$(abidiff "${abi_common[@]}" "${extra[@]}" --fail-no-debug-info --hd2 "$src/include/iovirt" "$base" "$lib" 2>&1)
	rc=$?
	name=${base#abi/}
	if [ $((rc & 3)) -ne 0 ]; then
		echo "abi: $name: abidiff failed (exit $rc)" >&2; printf '%s\n' "$report" >&2; status=1
	elif [ $((rc & 8)) -ne 0 ]; then
		echo "abi: $name: INCOMPATIBLE change against $base:" >&2; printf '%s\n' "$report" >&2; status=1
	elif [ $((rc & 4)) -ne 0 ] && [ "${IOVIRT_ABI_STRICT:-0}" = 1 ]; then
		echo "abi: $name: change to an existing interface (strict mode):" >&2; printf '%s\n' "$report" >&2; status=1
	elif [ $((rc & 4)) -ne 0 ]; then
		echo "abi: $name: compatible change (scripts/abi_update.sh records it):"
		printf '%s\n' "$report" | sed -n '1,40p'
	else
		echo "abi: $name: same ABI as $base"
	fi
done
exit $status
