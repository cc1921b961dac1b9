#!/usr/bin/env bash
# scripts/symbols_check.sh [BUILD_DIR]: fails if libiovirt.so or libiovirt_posix.so of a build
# (default: build) exports a dynamic symbol whose name does not start with iovirt_, or if the
# static archives libiovirt.a or libiovirt_posix.a define a global symbol (nm -g --defined-only:
# what a static link can bind to, and clash with) whose name does not start with iovirt_. The
# version nodes of the symbol maps (IOVIRT_0.1, ...: absolute symbols, type A) are not functions
# and are skipped. A library the build does not make (default_library=shared or static) is
# skipped, but at least one of each kind of the core must exist. Prints the offending names.
set -uo pipefail
dir=${1:-build}
status=0
# check FILE KIND NM-ARGS...: KIND is "exports" (shared) or "defines" (static).
check() {
	local lib=$1 kind=$2 syms total stray
	shift 2
	syms=$(nm "$@" "$lib") || { status=1; return; }
	# Archive member headers ("x.o:") and blank lines have fewer than 3 fields.
	total=$(printf '%s\n' "$syms" | awk 'NF == 3 && $2 != "A"' | grep -c .)
	stray=$(printf '%s\n' "$syms" | awk 'NF == 3 && $2 != "A" && $3 !~ /^iovirt_/ { print $3 }')
	if [ -n "$stray" ]; then
		echo "symbols: $lib $kind names outside iovirt_:" >&2
		printf '  %s\n' $stray >&2
		status=1
	elif [ "$total" -eq 0 ]; then
		echo "symbols: $lib $kind no iovirt_ symbol at all" >&2
		status=1
	else
		echo "symbols: ${lib#"$dir"/}: $total global, all iovirt_*"
	fi
}
for pair in "libiovirt:" "libiovirt_posix:lib/host/posix/"; do
	name=${pair%%:*} sub=${pair#*:}
	found=0
	if [ -e "$dir/$sub$name.so" ]; then
		check "$dir/$sub$name.so" exports -D --defined-only
		found=1
	fi
	if [ -e "$dir/$sub$name.a" ]; then
		check "$dir/$sub$name.a" defines -g --defined-only
		found=1
	fi
	if [ $found = 0 ]; then
		echo "symbols: neither $dir/$sub$name.so nor $dir/$sub$name.a exists" >&2
		status=1
	fi
done
exit $status
