#!/usr/bin/env bash
# A longer fuzz campaign: scripts/fuzz.sh [target|all] [seconds]
# Keeps the corpus it grows under fuzz/corpus/<target>/ (new inputs are merged
# back), and exits non-zero on any crash, leak or sanitizer report.
# At the end, executions per second per target: a table, and one JSON line per
# target (also in build-fuzz/fuzz.jsonl), e.g.
#   {"bench":"fuzz","target":"pagetable","exec_per_sec":21000,"runs":6300000}
# FUZZ_MERGE=0 measures without merging new inputs into fuzz/corpus.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
iovirt_install_deps || exit 1
target=${1:-all}
secs=${2:-300}
if [ -d build-fuzz/meson-private ]; then
	CC=clang meson setup --reconfigure build-fuzz >/dev/null
else
	CC=clang meson setup build-fuzz -Dwerror=true -Dfuzz=true -Db_sanitize=address,undefined -Dallocator=libc -Db_lundef=false \
		-Dc_args=-fno-sanitize-recover=all -Dtests=false -Dbenches=false -Dexamples=false -Dstress=false >/dev/null
fi
ninja -C build-fuzz >/dev/null || exit 1
rc=0
table=()
json=()
for exe in build-fuzz/fuzz/fuzz_*; do
	[ -f "$exe" ] && [ -x "$exe" ] || continue
	name=${exe##*/fuzz_}
	[ "$target" = all ] || [ "$target" = "$name" ] || continue
	mkdir -p "fuzz/corpus/$name"
	new=$(iovirt_fuzz_scratch) # new inputs: merged into fuzz/corpus at the end
	echo "== fuzz $name for ${secs}s"
	log="build-fuzz/fuzz-$name.log"
	ASAN_OPTIONS=detect_leaks=1 "$exe" -max_total_time="$secs" -rss_limit_mb=4096 -print_final_stats=1 \
		-artifact_prefix="build-fuzz/" "$new" "fuzz/corpus/$name" 2>&1 | tee "$log"
	# the fuzzer's status, read before any other command replaces PIPESTATUS
	# (it was read after `status=ok`, so a crash was reported "ok")
	st=${PIPESTATUS[0]}
	status=ok
	if [ "$st" -ne 0 ]; then
		echo "fuzz $name FAILED (artifact under build-fuzz/)"
		rc=1
		status=FAILED
	fi
	eps=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
	runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
	table+=("$(printf '%-14s %12s %12s  %s' "$name" "${eps:-?}" "${runs:-?}" "$status")")
	json+=("{\"bench\":\"fuzz\",\"target\":\"$name\",\"exec_per_sec\":${eps:-0},\"runs\":${runs:-0}}")
	[ "${FUZZ_MERGE:-1}" = 0 ] || "$exe" -merge=1 "fuzz/corpus/$name" "$new" >/dev/null 2>&1 || true
	rm -rf "$new"
done
printf '%-14s %12s %12s  %s\n' target exec/s runs result
printf '%s\n' "${table[@]}"
printf '%s\n' "${json[@]}" | tee build-fuzz/fuzz.jsonl
exit $rc
