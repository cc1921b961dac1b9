#!/bin/sh
# lib/static_archive.sh LD OBJCOPY AR OUTPUT INPUT.a: writes OUTPUT, a static archive holding one
# object: every object of INPUT.a linked together (ld -r), then every defined global symbol made
# local except iovirt_*. The internal functions (pt_*, pin_*, sriov_*, ...) are then bound inside
# that object and invisible to a program linking the archive, the way the version script hides
# them from the shared library (docs/abi.md). Undefined references (libc) stay global.
# Called by the top meson.build for the installed libiovirt.a.
set -eu
ld=$1 objcopy=$2 ar=$3 out=$4 in=$5
tmp=$out.tmp
rm -rf "$tmp" "$out"
mkdir "$tmp"
"$ld" -r --whole-archive "$in" -o "$tmp/prelinked.o"
"$objcopy" --wildcard --keep-global-symbol='iovirt_*' "$tmp/prelinked.o" "$tmp/iovirt.o"
# D: deterministic (no timestamps or owners), as Meson's own archives.
"$ar" crsD "$out" "$tmp/iovirt.o"
rm -rf "$tmp"
