/* SPDX-License-Identifier: MIT */
/*
 * iovirt error codes.
 *
 * Every function that can fail returns 0 (or a non-negative size) on success and
 * one of the negative codes below on failure. Each code has one meaning; the
 * header of the function that returns it says when. Nothing in iovirt uses errno.
 */
#ifndef IOVIRT_ERROR_H
#define IOVIRT_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * X(name, value, message). Values are part of the ABI: append only, never
 * renumber, and a removed code's value is never given to another.
 */
#define IOVIRT_ERRORS(X)                                                        \
	X(EINVAL, 1, "invalid argument")                                        \
	X(ENOMEM, 2, "out of memory")                                           \
	X(EEXIST, 3, "already mapped")                                          \
	X(ENOENT, 4, "not mapped")                                              \
	X(ERANGE, 5, "address out of the space's range")                        \
	X(EALIGN, 6, "misaligned address or size")                              \
	X(EPERM, 7, "permission denied")                                        \
	X(EBUSY, 8, "busy")                                                     \
	X(ENOASID, 9, "no such address space")                                  \
	X(ESPLIT, 10, "would cut through a large page")                         \
	X(EOVERFLOW, 11, "address plus length overflows")                       \
	X(ENOSYS, 12, "host does not provide the needed callback")              \
	X(EHOST, 13, "host callback failed")                                    \
	X(EZEROLEN, 14, "zero-length segment")                                  \
	X(ENOREGION, 15, "address outside every region of the guest")          \
	X(ECROSS, 16, "segment crosses from one region into another")           \
	X(EMMIO, 17, "segment targets MMIO")                                    \
	X(EP2P, 18, "segment targets memory shared with another guest")         \
	X(EREADONLY, 19, "device write into read-only memory")                  \
	X(EFOREIGN, 20, "region owned by another guest")                        \
	X(ETOOMANY, 21, "too many segments")                                    \
	X(ETOOBIG, 22, "total length above the limit")                          \
	X(ELOOP, 23, "descriptor chain loops")                                  \
	X(ECHAIN, 24, "descriptor chain longer than the queue")                 \
	X(ENESTED, 25, "nested indirect descriptor table")                      \
	X(EINDIRECT, 26, "indirect descriptor table of bad length")             \
	X(EORDER, 27, "device-writable segment before a readable one")         \
	X(EINDEX, 28, "index out of range")                                     \
	X(ENOBUF, 29, "bounce pool exhausted")                                  \
	X(EOVERLAP, 30, "region overlaps an existing one")                      \
	X(EGUEST, 31, "guest memory access failed")                             \
	X(ESTALE, 32, "stale handle")                                           \
	X(EDONE, 33, "handle already completed")                                \
	X(EOWNER, 34, "handle or object belongs to another guest")              \
	X(ELIMIT, 35, "per-guest limit reached")                                \
	X(ESENSITIVE, 36, "register reserved to the privileged side")           \
	X(EREENTRANT, 37, "DMA targets a device register window")              \
	X(ENOVF, 38, "no such virtual function")                                \
	X(EDUP, 39, "object already exists")                                        \
	X(ERESERVED, 40, "reserved address or field")                           \
	X(EDENIED, 41, "refused: the function has that feature disabled")    \
	X(EOVERRUN, 42, "more chains in flight than the queue holds")             \
	X(EMSIWIN, 43, "message address outside the interrupt window")         \
	X(ENOMASTER, 44, "bus mastering disabled for the function")            \
	X(EWRAP, 45, "packed descriptor not available under the wrap counter")     \
	X(EIOFAULT, 46, "I/O virtual address not translated for the access")

enum iovirt_error {
	IOVIRT_OK = 0,
#define IOVIRT_ERROR_ENUM_(name, val, msg) IOVIRT_##name = -(val),
	IOVIRT_ERRORS(IOVIRT_ERROR_ENUM_)
#undef IOVIRT_ERROR_ENUM_
};

/* A human-readable message for err ("success" for 0, "unknown error" otherwise). Never NULL. */
const char *iovirt_strerror(int err);

/* The code's name without prefix, e.g. "EEXIST" ("OK" for 0, "UNKNOWN" otherwise). Never NULL. */
const char *iovirt_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
