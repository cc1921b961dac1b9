#!/usr/bin/env bash
# A longer fuzz campaign: scripts/fuzz.sh [target|all] [seconds]
# Keeps the corpus it grows under fuzz/corpus/<target>/ (new inputs are merged
# back), and exits non-zero on any crash, leak or sanitizer report.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
iovirt_install_deps || exit 1
target=${1:-all}
secs=${2:-300}
if [ -d build-fuzz/meson-private ]; then
	CC=clang meson setup --reconfigure build-fuzz >/dev/null
else
	CC=clang meson setup build-fuzz -Dwerror=true -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fno-sanitize-recover=all -Dtests=false -Dbenches=false -Dexamples=false -Dstress=false >/dev/null
fi
ninja -C build-fuzz >/dev/null || exit 1
rc=0
for exe in build-fuzz/fuzz/fuzz_*; do
	[ -f "$exe" ] && [ -x "$exe" ] || continue
	name=${exe##*/fuzz_}
	[ "$target" = all ] || [ "$target" = "$name" ] || continue
	mkdir -p "fuzz/corpus/$name" "build-fuzz/new-$name"
	echo "== fuzz $name for ${secs}s"
	if ! ASAN_OPTIONS=detect_leaks=1 "$exe" -max_total_time="$secs" -rss_limit_mb=4096 \
		-artifact_prefix="build-fuzz/" "build-fuzz/new-$name" "fuzz/corpus/$name"; then
		echo "fuzz $name FAILED (artifact under build-fuzz/)"
		rc=1
	fi
	"$exe" -merge=1 "fuzz/corpus/$name" "build-fuzz/new-$name" >/dev/null 2>&1 || true
done
exit $rc
