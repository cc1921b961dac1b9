#!/usr/bin/env bash
# scripts/abi_update.sh: rewrites the ABI baselines abi/*.abi from a fresh gcc -g build of the
# libraries (build-abi/, libraries only), after a deliberate ABI change or after merging new
# public functions. Commit the result. scripts/abi_check.sh compares a build against them.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
iovirt_install_deps
. scripts/abi_libs.sh
dir=build-abi
# gcc, debug info, the default optimisation; no tests, benches, examples or stress programs.
opts=(-Dbuildtype=debugoptimized -Dtests=false -Dbenches=false -Dexamples=false -Dstress=false)
if [ -d "$dir/meson-private" ]; then
	CC=gcc meson setup --reconfigure "$dir" "${opts[@]}" >/dev/null
else
	CC=gcc meson setup "$dir" "${opts[@]}" >/dev/null
fi
ninja -C "$dir" >/dev/null
mkdir -p abi
for pair in "${abi_libs[@]}"; do
	set -- $pair
	# Hashed type ids, file names without paths. (Keep the locations: without them abidiff
	# filters out changes to the types, since it cannot tell which header declared them.)
	abidw "${abi_common[@]}" --headers-dir include/iovirt --drop-undefined-syms --no-corpus-path \
		--no-comp-dir-path --short-locs --type-id-style hash --out-file "$1" "$dir/$2"
	echo "abi: wrote $1 ($(grep -c '<elf-symbol ' "$1") symbols)"
done
