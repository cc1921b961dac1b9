#!/usr/bin/env bash
# Installs what is missing, builds, runs every test: the Criterion suite, the
# same suite under AddressSanitizer+UndefinedBehaviorSanitizer, the stress
# programs under ThreadSanitizer, a short pass of every fuzz target and the
# SPIN models. Ends with "N passed, N failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
iovirt_install_deps || exit 1

FUZZ_SECONDS=${FUZZ_SECONDS:-5}
passed=0
failed=0
failures=()

note() { printf '\n== %s\n' "$*"; }
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); failures+=("$1"); echo "FAILED: $1"; }

# setup DIR [meson args...]: configure (or reconfigure) a build directory.
setup() {
	local dir=$1; shift
	if [ -d "$dir/meson-private" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
}

# unit DIR LABEL: runs the Criterion suite of a build and counts each test.
unit() {
	local dir=$1 label=$2
	meson test -C "$dir" --suite unit --print-errorlogs >"$dir/unit.out" 2>&1
	local rc=$?
	local counts
	counts=$(python3 scripts/criterion_counts.py "$dir/meson-logs/testlog.json")
	local p=${counts% *} f=${counts#* }
	passed=$((passed + p))
	failed=$((failed + f))
	echo "$label: $p passed, $f failed"
	if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then
		[ "$f" -eq 0 ] && failed=$((failed + 1))
		failures+=("$label")
		tail -n 60 "$dir/unit.out"
	fi
}

note "build (gcc, -Werror)"
if setup build -Dwerror=true && ninja -C build >build.log 2>&1; then
	unit build "unit"
else
	cat build.log; bad "build"
fi

note "build with AddressSanitizer + UndefinedBehaviorSanitizer"
if setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Dallocator=libc -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all -Dbenches=false -Dexamples=false -Dstress=false &&
	ninja -C build-asan >build-asan.log 2>&1; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		unit build-asan "unit (asan+ubsan)"
else
	cat build-asan.log; bad "asan build"
fi

# stress_one DIR LABEL EXE TAG [VAR=value ...]: one stress program, its output in DIR; the
# sanitizer options for both runtimes (each reads only its own).
stress_one() {
	local dir=$1 label=$2 exe=$3 tag=$4 out
	shift 4
	out="$dir/${tag// /-}.out"
	if env "$@" ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 timeout 300 "$exe" >"$out" 2>&1; then
		ok; echo "$tag: ok ($(tail -n 1 "$out"))"
	else
		tail -n 40 "$out"; bad "$label $tag"
	fi
}

# stress_all DIR LABEL: every stress program DIR built (the page-table ones with VT-d), then the
# page-table ones again for the other table formats, half a second each reclaim mode.
stress_all() {
	local dir=$1 label=$2 exe f name
	for exe in "$dir"/tests/stress/stress_*; do
		[ -f "$exe" ] && [ -x "$exe" ] || continue
		stress_one "$dir" "$label" "$exe" "$(basename "$exe")"
	done
	for f in 2 3 4; do # AMD-Vi v1, Arm stage 2, RISC-V G-stage (enum iovirt_pt_format)
		for name in stress_pagetable stress_pt_race; do
			[ -x "$dir/tests/stress/$name" ] || continue
			stress_one "$dir" "$label" "$dir/tests/stress/$name" "$name format $f" \
				IOVIRT_STRESS_PT_FORMAT=$f IOVIRT_STRESS_SECONDS=0.5
		done
	done
}

note "stress programs under ThreadSanitizer"
if CC=clang setup build-tsan -Dwerror=true -Db_sanitize=thread -Dallocator=libc -Db_lundef=false \
	-Dtests=false -Dbenches=false -Dexamples=false -Dstress=true &&
	ninja -C build-tsan >build-tsan.log 2>&1; then
	stress_all build-tsan tsan
else
	cat build-tsan.log; bad "tsan build"
fi

note "stress programs under AddressSanitizer + UndefinedBehaviorSanitizer"
# A use-after-free in a race is ASan's to see (TSan does not report it).
if setup build-asan-stress -Dwerror=true -Db_sanitize=address,undefined -Dallocator=libc -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all -Dtests=false -Dbenches=false -Dexamples=false -Dstress=true &&
	ninja -C build-asan-stress >build-asan-stress.log 2>&1; then
	stress_all build-asan-stress asan
else
	cat build-asan-stress.log; bad "asan stress build"
fi

note "fuzz targets, ${FUZZ_SECONDS}s each"
if CC=clang setup build-fuzz -Dwerror=true -Dfuzz=true -Db_sanitize=address,undefined -Dallocator=libc -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all -Dtests=false -Dbenches=false -Dexamples=false -Dstress=false &&
	ninja -C build-fuzz >build-fuzz.log 2>&1; then
	for exe in build-fuzz/fuzz/fuzz_*; do
		[ -f "$exe" ] && [ -x "$exe" ] || continue
		name=${exe##*/fuzz_}
		work=$(iovirt_fuzz_scratch)
		[ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$work/"
		if ASAN_OPTIONS=detect_leaks=1 timeout $((FUZZ_SECONDS + 120)) "$exe" -max_total_time="$FUZZ_SECONDS" \
			-rss_limit_mb=4096 -print_final_stats=1 "$work" >"build-fuzz/$name.out" 2>&1; then
			ok; echo "fuzz $name: ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/$name.out" | grep -o '[0-9]*$') runs)"
		else
			tail -n 60 "build-fuzz/$name.out"; bad "fuzz $name"
		fi
		rm -rf "$work"
	done
else
	cat build-fuzz.log; bad "fuzz build"
fi

if ls models/*.pml >/dev/null 2>&1; then
	note "SPIN models"
	for m in models/*.pml; do
		if scripts/spin_check.sh "$m"; then ok; else bad "spin $m"; fi
	done
fi

note "API surface: exported symbols, ABI against abi/, use as a subproject and installed"
# Each a single pass/fail; they read the gcc build above (build/).
if scripts/symbols_check.sh build; then ok; else bad "exported symbols (only iovirt_*)"; fi
if scripts/abi_check.sh build; then ok; else bad "abi (abidiff against abi/*.abi)"; fi
if scripts/subproject_check.sh; then ok; else bad "subproject and install"; fi

note "coverage of lib/ (at least 97% of lines and 90% of branches)"
if scripts/coverage.sh --min-lines 97 --min-branches 90 >build-cov.out 2>&1; then
	ok; grep '^lib/ (all)' build-cov.out
else
	tail -n 30 build-cov.out; bad "coverage"
fi

note "lspci decodes the emulated SR-IOV functions (PF chain, VF config spaces raw and virtualized)"
if scripts/sriov_lspci.sh build; then ok; else bad "sriov lspci -F decode"; fi

note "vhost-user-blk: a real QEMU and Linux guest on the backend, and a hostile front-end"
if out=$(scripts/vhost_user_blk_guest.sh build 2>&1); then
	ok; echo "$out" | grep -E "PASS|skipped" | tail -n 8
else
	echo "$out" | tail -n 60; bad "vhost-user-blk guest"
fi

echo
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
