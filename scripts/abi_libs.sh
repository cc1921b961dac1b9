# Sourced by scripts/abi_check.sh and scripts/abi_update.sh: the shared libraries whose ABI is
# kept in abi/, as "baseline-file path-in-build-dir" pairs, and the abidw/abidiff options both
# use. Public types are those of include/iovirt/; private (opaque) types are dropped, so a change
# inside an opaque struct is not an ABI change.
abi_libs=(
	"abi/libiovirt.abi libiovirt.so"
	"abi/libiovirt_posix.abi lib/host/posix/libiovirt_posix.so"
)
abi_common=(--drop-private-types)
