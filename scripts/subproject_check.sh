#!/usr/bin/env bash
# scripts/subproject_check.sh: iovirt as a parent project sees it.
#  1. tests/subproject/consumer, with this tree as its subprojects/iovirt (a symlink), configures
#     without looking up Criterion, Judy or GLib (checked in its meson log: a subproject builds
#     only libiovirt and the POSIX adapter), builds, and runs.
#  2. `meson install --destdir` of that build, then the consumer compiled by hand against the
#     installed headers, libraries and pkg-config files (iovirt, iovirt-posix), and run; then
#     linked statically against the installed libiovirt_posix.a and libiovirt.a, and run.
#  3. As a subproject again with -Diovirt:default_library=static (iovirt_dep is then the filtered
#     archive), built and run.
# The consumer carries clash.c, functions named like iovirt internals (pt_inval, ...): each link
# fails (duplicate definition) or the run aborts if a library leaks its internal names.
# Works in a temporary directory, removed at the end; prints the logs when a step fails.
set -uo pipefail
[ -n "${IOVIRT_SUBPROJECT_DEBUG:-}" ] && set -x
cd "$(dirname "$0")/.."
root=$PWD
tmp=$(mktemp -d /tmp/iovirt-subproject.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "subproject: $*" >&2; exit 1; }
show() { [ -f "$1" ] && tail -n 40 "$1" >&2; }

# 1. As a subproject.
cp -r tests/subproject/consumer "$tmp/consumer"
mkdir -p "$tmp/consumer/subprojects"
ln -s "$root" "$tmp/consumer/subprojects/iovirt"
cd "$tmp/consumer"
CC=${CC:-gcc} meson setup build --prefix=/usr --force-fallback-for=iovirt-posix >"$tmp/setup.log" 2>&1 ||
	{ show "$tmp/setup.log"; fail "configure of the consumer failed"; }
log=build/meson-logs/meson-log.txt
grep -q "Executing subproject iovirt" "$log" || { show "$log"; fail "iovirt was not used as a subproject"; }
looked=$(grep -inE 'criterion|judy|glib-2\.0' "$log")
if [ -n "$looked" ]; then
	printf '%s\n' "$looked" | head -n 20 >&2
	fail "as a subproject, iovirt looked up a test/bench dependency (criterion, Judy or glib-2.0)"
fi
ninja -C build >"$tmp/build.log" 2>&1 || { show "$tmp/build.log"; fail "build of the consumer failed"; }
built=$(find build/subprojects/iovirt -name '*test_*' -o -name '*bench_*' -o -name '*stress_*' | head -n 5)
[ -z "$built" ] || fail "as a subproject, iovirt built tests, benches or stress programs: $built"
out=$(./build/consumer) || { echo "$out" >&2; fail "the consumer (subproject build) failed"; }
echo "subproject: $out"

# 2. Installed, through pkg-config.
DESTDIR="$tmp/dest" meson install -C build --no-rebuild >"$tmp/install.log" 2>&1 ||
	{ show "$tmp/install.log"; fail "meson install --destdir failed"; }
pcdir=$(dirname "$(find "$tmp/dest" -name iovirt-posix.pc | head -n 1)")
[ -f "$pcdir/iovirt-posix.pc" ] || fail "iovirt-posix.pc not installed"
[ -f "$pcdir/iovirt.pc" ] || fail "iovirt.pc not installed"
# The .pc files say prefix=/usr; point it into the destdir (Requires: iovirt follows).
pc() { PKG_CONFIG_PATH="$pcdir" pkg-config --define-variable=prefix="$tmp/dest/usr" "$@"; }
flags=$(pc --cflags --libs iovirt-posix) || fail "pkg-config cannot resolve iovirt-posix"
${CC:-gcc} -std=c11 -Wall -Wextra -Werror main.c clash.c $flags -o consumer-installed >"$tmp/cc.log" 2>&1 ||
	{ echo "flags: $flags" >&2; show "$tmp/cc.log"; fail "the consumer does not compile against the installed files"; }
libdir=$(pc --variable=libdir iovirt)
out=$(LD_LIBRARY_PATH="$libdir" ./consumer-installed) || { echo "$out" >&2; fail "the consumer (installed) failed"; }
# (ldd's output captured first: grep -q closing the pipe early would fail it under pipefail)
loaded=$(LD_LIBRARY_PATH="$libdir" ldd ./consumer-installed 2>/dev/null)
grep -q "$tmp/dest.*libiovirt.so" <<<"$loaded" ||
	fail "the installed consumer did not load the installed libiovirt"
echo "install: $out (pkg-config: $flags)"

# Statically: the installed archives by path (-l would pick the .so), the rest of the flags as
# pkg-config --static gives them (threads, jemalloc).
sflags=$(pc --static --libs iovirt-posix) || fail "pkg-config --static cannot resolve iovirt-posix"
sflags=$(sed -E "s#(^| )-liovirt_posix( |\$)# $libdir/libiovirt_posix.a #; s#(^| )-liovirt( |\$)# $libdir/libiovirt.a #" <<<"$sflags")
${CC:-gcc} -std=c11 -Wall -Wextra -Werror main.c clash.c $(pc --cflags iovirt-posix) $sflags \
	-o consumer-static >"$tmp/cc-static.log" 2>&1 ||
	{ echo "flags: $sflags" >&2; show "$tmp/cc-static.log"; fail "the consumer does not link against the installed static archives"; }
loaded=$(ldd ./consumer-static 2>/dev/null)
! grep -q "libiovirt" <<<"$loaded" || fail "the static consumer loads a shared libiovirt"
out=$(./consumer-static) || { echo "$out" >&2; fail "the consumer (installed, static) failed"; }
echo "install, static: $out"

# 3. As a subproject, static only.
CC=${CC:-gcc} meson setup build-static --prefix=/usr --force-fallback-for=iovirt-posix \
	-Diovirt:default_library=static >"$tmp/setup-static.log" 2>&1 ||
	{ show "$tmp/setup-static.log"; fail "configure of the consumer (static iovirt) failed"; }
ninja -C build-static >"$tmp/build-static.log" 2>&1 ||
	{ show "$tmp/build-static.log"; fail "build of the consumer (static iovirt) failed"; }
[ -z "$(find build-static/subprojects/iovirt -name 'libiovirt*.so*')" ] ||
	fail "with default_library=static, iovirt built a shared library"
out=$(./build-static/consumer) || { echo "$out" >&2; fail "the consumer (static subproject build) failed"; }
echo "subproject, static: $out"
