# Sourced by the scripts: installs what a fresh Debian 12 machine lacks.
# apt-get update runs once, and only when something is missing.
iovirt_install_deps() {
	local pkgs=() need
	need() { pkgs+=("$@"); }
	command -v meson >/dev/null || need meson
	command -v ninja >/dev/null || need ninja-build
	command -v pkg-config >/dev/null || need pkg-config
	command -v gcc >/dev/null || need gcc
	command -v clang >/dev/null || need clang
	command -v python3 >/dev/null || need python3
	[ -e /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ] ||
		ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
		need libclang-rt-14-dev
	pkg-config --exists criterion 2>/dev/null || need libcriterion-dev
	pkg-config --exists jemalloc 2>/dev/null || need libjemalloc-dev
	pkg-config --exists glib-2.0 2>/dev/null || need libglib2.0-dev
	[ -e /usr/include/Judy.h ] || need libjudy-dev
	command -v spin >/dev/null || need spin
	command -v abidiff >/dev/null || need abigail-tools
	command -v lspci >/dev/null || need pciutils
	if [ ${#pkgs[@]} -gt 0 ]; then
		echo "== installing: ${pkgs[*]}"
		if [ "$(id -u)" -ne 0 ]; then
			echo "missing packages and not root: ${pkgs[*]}" >&2
			return 1
		fi
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
	fi
}

# A scratch directory for a fuzz run's working corpus: in RAM (/dev/shm) when
# there is one. libFuzzer writes every new input and every reduced one to it
# and deletes the old; on ext4 that file churn took a quarter of a short run's
# time, none of it the target's.
iovirt_fuzz_scratch() {
	local base=/dev/shm
	[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
	mktemp -d "$base/iovirt-fuzz.XXXXXX"
}
