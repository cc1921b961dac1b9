#!/usr/bin/env bash
# Line and branch coverage of lib/, per file and per module: builds with gcov
# instrumentation (-fprofile-update=atomic: the stress programs and several
# tests are threaded, and racing counter updates would lose counts), runs the
# Criterion suite and the stress programs, and prints a table from gcovr.
#   scripts/coverage.sh [--min-lines P --min-branches P]
# With the --min options it exits 1 when the whole of lib/ falls below them.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
iovirt_install_deps || exit 1
command -v gcovr >/dev/null || {
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends gcovr >/dev/null || apt-get update -qq &&
		apt-get install -y -qq --no-install-recommends gcovr >/dev/null
} || { echo "coverage: cannot install gcovr" >&2; exit 2; }

min_lines=0
min_branches=0
while [ $# -gt 0 ]; do
	case $1 in
	--min-lines) min_lines=$2; shift 2 ;;
	--min-branches) min_branches=$2; shift 2 ;;
	*) echo "usage: $0 [--min-lines P] [--min-branches P]" >&2; exit 2 ;;
	esac
done

dir=build-cov
# IOVIRT_COVERAGE: one out-of-line copy of each always-inline function (lib/common/checked.h)
args=(-Dwerror=true -Db_coverage=true "-Dc_args=['-fprofile-update=atomic','-DIOVIRT_COVERAGE']" -Dbenches=false -Dstress=true)
if [ -d "$dir/meson-private" ]; then
	# meson 1.0's --reconfigure does not apply a changed c_args; configure does
	meson setup --reconfigure "$dir" >/dev/null && meson configure "$dir" "${args[@]}" >/dev/null
else
	meson setup "$dir" "${args[@]}" >/dev/null
fi || exit 2
ninja -C "$dir" >"$dir.log" 2>&1 || { cat "$dir.log"; exit 2; }
find "$dir" -name '*.gcda' -delete
# Notes files of objects the build no longer makes (a target renamed or moved: the
# same function seen at two line numbers stops gcovr): drop the dead outputs, then
# every .gcno whose object is gone.
ninja -C "$dir" -t cleandead >/dev/null 2>&1 || true
find "$dir" -name '*.gcno' | while read -r f; do [ -e "${f%.gcno}.o" ] || rm -f "$f"; done

# Failures still leave counts; the suite's verdict is scripts/test.sh's job.
meson test -C "$dir" --suite unit >/dev/null 2>&1 || echo "coverage: some unit tests failed (counts kept)"
for exe in "$dir"/tests/stress/stress_*; do
	[ -f "$exe" ] && [ -x "$exe" ] || continue
	timeout 300 "$exe" >/dev/null 2>&1 || echo "coverage: $(basename "$exe") failed (counts kept)"
done

gcovr -r . "$dir" --filter 'lib/' --exclude-unreachable-branches --exclude-throw-branches \
	--json-summary "$dir/coverage.json" >/dev/null || exit 2
python3 - "$dir/coverage.json" "$min_lines" "$min_branches" <<'EOF'
import json, sys
data = json.load(open(sys.argv[1]))
min_l, min_b = float(sys.argv[2]), float(sys.argv[3])
mods = {}
def pct(c, t):
    return 100.0 * c / t if t else 100.0
print(f"{'file':40} {'lines':>15} {'branches':>15}")
for f in sorted(data['files'], key=lambda f: f['filename']):
    name = f['filename']
    lc, lt = f['line_covered'], f['line_total']
    bc, bt = f['branch_covered'], f['branch_total']
    mod = '/'.join(name.split('/')[:2]) if not name.startswith('lib/host') else 'lib/host/posix'
    m = mods.setdefault(mod, [0, 0, 0, 0])
    m[0] += lc; m[1] += lt; m[2] += bc; m[3] += bt
    print(f"{name:40} {pct(lc, lt):6.1f}% {lc:4}/{lt:<4} {pct(bc, bt):6.1f}% {bc:4}/{bt:<4}")
print()
tot = [0, 0, 0, 0]
for mod, m in sorted(mods.items()):
    tot = [a + b for a, b in zip(tot, m)]
    print(f"{mod:40} {pct(m[0], m[1]):6.1f}% {m[0]:4}/{m[1]:<4} {pct(m[2], m[3]):6.1f}% {m[2]:4}/{m[3]:<4}")
    print(json.dumps({"coverage": mod, "lines": round(pct(m[0], m[1]), 1),
                      "branches": round(pct(m[2], m[3]), 1)}))
lp, bp = pct(tot[0], tot[1]), pct(tot[2], tot[3])
print(f"{'lib/ (all)':40} {lp:6.1f}% {tot[0]:4}/{tot[1]:<4} {bp:6.1f}% {tot[2]:4}/{tot[3]:<4}")
print(json.dumps({"coverage": "lib", "lines": round(lp, 1), "branches": round(bp, 1)}))
if lp < min_l or bp < min_b:
    print(f"coverage below the minimum ({min_l}% lines, {min_b}% branches)")
    sys.exit(1)
EOF
