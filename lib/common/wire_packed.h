/* SPDX-License-Identifier: MIT */
/*
 * Guest wire formats of the virtio 1.1+ packed virtqueue (see common/wire.h
 * for the rules: named structs, layouts checked, one decoder each).
 * Internal: not installed.
 */
#ifndef IOVIRT_COMMON_WIRE_PACKED_H
#define IOVIRT_COMMON_WIRE_PACKED_H

#include "common/wire.h"

/* A descriptor of the ring or of an indirect table:
 *   { le64 addr; le32 len; le16 id; le16 flags; } */
struct iovirt_wire_pvq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};
#define IOVIRT_WIRE_PVQ_DESC_SIZE 16u
static_assert(sizeof(struct iovirt_wire_pvq_desc) == IOVIRT_WIRE_PVQ_DESC_SIZE, "pvirtq_desc size");
static_assert(offsetof(struct iovirt_wire_pvq_desc, addr) == 0, "pvirtq_desc.addr");
static_assert(offsetof(struct iovirt_wire_pvq_desc, len) == 8, "pvirtq_desc.len");
static_assert(offsetof(struct iovirt_wire_pvq_desc, id) == 12, "pvirtq_desc.id");
static_assert(offsetof(struct iovirt_wire_pvq_desc, flags) == 14, "pvirtq_desc.flags");
/* The fields the driver publishes last (flags) and the rest, read apart. */
#define IOVIRT_WIRE_PVQ_BODY_SIZE 14u

/* addr, len and id from the first 14 bytes (flags are read apart, first). */
static inline struct iovirt_wire_pvq_desc iovirt_wire_pvq_body_decode(const uint8_t *w, uint16_t flags)
{
	return (struct iovirt_wire_pvq_desc){
		.addr = iovirt_le64_load(w + offsetof(struct iovirt_wire_pvq_desc, addr)),
		.len = iovirt_le32_load(w + offsetof(struct iovirt_wire_pvq_desc, len)),
		.id = iovirt_le16_load(w + offsetof(struct iovirt_wire_pvq_desc, id)),
		.flags = flags,
	};
}

static inline struct iovirt_wire_pvq_desc iovirt_wire_pvq_desc_decode(const uint8_t *w)
{
	return iovirt_wire_pvq_body_decode(
		w, iovirt_le16_load(w + offsetof(struct iovirt_wire_pvq_desc, flags)));
}

/* The event suppression structure (driver area, device area):
 *   { le16 off_wrap; le16 flags; } */
struct iovirt_wire_pvq_event {
	uint16_t off_wrap; /* bits 0-14 ring offset, bit 15 wrap counter */
	uint16_t flags;    /* RING_EVENT_FLAGS_* */
};
#define IOVIRT_WIRE_PVQ_EVENT_SIZE 4u
static_assert(sizeof(struct iovirt_wire_pvq_event) == IOVIRT_WIRE_PVQ_EVENT_SIZE, "pvirtq_event size");
static_assert(offsetof(struct iovirt_wire_pvq_event, off_wrap) == 0, "pvirtq_event.off_wrap");
static_assert(offsetof(struct iovirt_wire_pvq_event, flags) == 2, "pvirtq_event.flags");

static inline struct iovirt_wire_pvq_event iovirt_wire_pvq_event_decode(const uint8_t *w)
{
	return (struct iovirt_wire_pvq_event){
		.off_wrap = iovirt_le16_load(w + offsetof(struct iovirt_wire_pvq_event, off_wrap)),
		.flags = iovirt_le16_load(w + offsetof(struct iovirt_wire_pvq_event, flags)),
	};
}

#endif
