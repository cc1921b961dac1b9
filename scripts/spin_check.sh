#!/bin/sh
# Verifies one SPIN model exhaustively: spin_check.sh models/<name>.pml
# A normal model passes (exit 0) when SPIN finds no error. A model named
# *_broken.pml is a deliberately broken variant: it passes (exit 0) only when
# SPIN DOES find an error, i.e. the check catches the breakage.
# Exit 2: spin or the C compiler could not run.
set -u
model=${1:?usage: spin_check.sh model.pml}
name=$(basename "$model")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$model" "$dir/model.pml" || exit 2
cd "$dir" || exit 2
spin -a model.pml >spin.log 2>&1 || { cat spin.log; exit 2; }
cc -O2 -w -o pan pan.c >cc.log 2>&1 || { cat cc.log; exit 2; }
./pan -a -m100000 >pan.log 2>&1
errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.log | head -n 1)
[ -n "$errors" ] || { cat pan.log; exit 2; }
states=$(sed -n 's/^ *\([0-9][0-9]*\) states, stored.*/\1/p' pan.log | head -n 1)
case "$name" in
*_broken.pml)
	if [ "$errors" -gt 0 ]; then
		echo "$name: broken variant caught ($errors error(s), ${states:-?} states)"
		exit 0
	fi
	echo "$name: broken variant NOT caught"
	exit 1 ;;
*)
	if [ "$errors" -eq 0 ]; then
		echo "$name: verified (${states:-?} states, no errors)"
		exit 0
	fi
	grep -E "assertion violated|pan:" pan.log | head -n 5
	echo "$name: $errors error(s)"
	exit 1 ;;
esac
