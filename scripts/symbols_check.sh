#!/usr/bin/env bash
# scripts/symbols_check.sh [BUILD_DIR]: fails if libiovirt.so or libiovirt_posix.so of a build
# (default: build) exports a dynamic symbol whose name does not start with iovirt_. The version
# nodes of the symbol maps (IOVIRT_0.1, ...: absolute symbols, type A) are not functions and are
# skipped. Prints the offending names.
set -uo pipefail
dir=${1:-build}
status=0
for lib in "$dir/libiovirt.so" "$dir/lib/host/posix/libiovirt_posix.so"; do
	if [ ! -e "$lib" ]; then
		echo "symbols: $lib missing" >&2
		status=1
		continue
	fi
	syms=$(nm -D --defined-only "$lib") || { status=1; continue; }
	total=$(printf '%s\n' "$syms" | awk '$2 != "A"' | grep -c .)
	stray=$(printf '%s\n' "$syms" | awk '$2 != "A" && $3 !~ /^iovirt_/ { print $3 }')
	if [ -n "$stray" ]; then
		echo "symbols: $lib exports names outside iovirt_:" >&2
		printf '  %s\n' $stray >&2
		status=1
	else
		echo "symbols: ${lib#"$dir"/}: $total exported, all iovirt_*"
	fi
done
exit $status
