/* SPDX-License-Identifier: MIT */
/*
 * Guest wire formats: little-endian loads and stores, and one decoder per
 * format into a named struct whose layout is the wire layout (checked below).
 * Every reader of guest-written bytes decodes through here, once, from its
 * private snapshot; nothing else reads a wire format by byte offset.
 * Internal: not installed.
 */
#ifndef IOVIRT_COMMON_WIRE_H
#define IOVIRT_COMMON_WIRE_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Little-endian loads and stores (any alignment, any host byte order). */
static inline uint16_t iovirt_le16_load(const uint8_t *p)
{
	return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static inline uint32_t iovirt_le32_load(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t iovirt_le64_load(const uint8_t *p)
{
	return (uint64_t)iovirt_le32_load(p) | (uint64_t)iovirt_le32_load(p + 4) << 32;
}

static inline void iovirt_le16_store(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void iovirt_le32_store(uint8_t *p, uint32_t v)
{
	iovirt_le16_store(p, (uint16_t)v);
	iovirt_le16_store(p + 2, (uint16_t)(v >> 16));
}

static inline void iovirt_le64_store(uint8_t *p, uint64_t v)
{
	iovirt_le32_store(p, (uint32_t)v);
	iovirt_le32_store(p + 4, (uint32_t)(v >> 32));
}

/* ------------------------------------------------------------------------ */
/* virtio 1.x split virtqueue                                                */
/* ------------------------------------------------------------------------ */

/* A descriptor, in the descriptor table or an indirect table. */
struct iovirt_wire_vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
#define IOVIRT_WIRE_VQ_DESC_SIZE 16u
static_assert(sizeof(struct iovirt_wire_vq_desc) == IOVIRT_WIRE_VQ_DESC_SIZE, "virtq_desc size");
static_assert(offsetof(struct iovirt_wire_vq_desc, addr) == 0, "virtq_desc.addr");
static_assert(offsetof(struct iovirt_wire_vq_desc, len) == 8, "virtq_desc.len");
static_assert(offsetof(struct iovirt_wire_vq_desc, flags) == 12, "virtq_desc.flags");
static_assert(offsetof(struct iovirt_wire_vq_desc, next) == 14, "virtq_desc.next");

static inline struct iovirt_wire_vq_desc iovirt_wire_vq_desc_decode(const uint8_t *w)
{
	return (struct iovirt_wire_vq_desc){
		.addr = iovirt_le64_load(w + offsetof(struct iovirt_wire_vq_desc, addr)),
		.len = iovirt_le32_load(w + offsetof(struct iovirt_wire_vq_desc, len)),
		.flags = iovirt_le16_load(w + offsetof(struct iovirt_wire_vq_desc, flags)),
		.next = iovirt_le16_load(w + offsetof(struct iovirt_wire_vq_desc, next)),
	};
}

/*
 * The available and used rings both start with this header:
 *   avail { le16 flags; le16 idx; le16 ring[num]; le16 used_event; }
 *   used  { le16 flags; le16 idx; struct used_elem ring[num]; le16 avail_event; }
 */
struct iovirt_wire_vq_ring_hdr {
	uint16_t flags;
	uint16_t idx;
};
#define IOVIRT_WIRE_VQ_RING_HDR_SIZE 4u
#define IOVIRT_WIRE_VQ_RING_IDX_OFF 2u /* offset of idx in either ring */
static_assert(sizeof(struct iovirt_wire_vq_ring_hdr) == IOVIRT_WIRE_VQ_RING_HDR_SIZE, "ring header size");
static_assert(offsetof(struct iovirt_wire_vq_ring_hdr, flags) == 0, "ring header flags");
static_assert(offsetof(struct iovirt_wire_vq_ring_hdr, idx) == IOVIRT_WIRE_VQ_RING_IDX_OFF, "ring header idx");

/* One available-ring element: the head of a chain. */
struct iovirt_wire_vq_avail_elem {
	uint16_t head;
};
#define IOVIRT_WIRE_VQ_AVAIL_ELEM_SIZE 2u
static_assert(sizeof(struct iovirt_wire_vq_avail_elem) == IOVIRT_WIRE_VQ_AVAIL_ELEM_SIZE, "avail elem size");

static inline struct iovirt_wire_vq_avail_elem iovirt_wire_vq_avail_elem_decode(const uint8_t *w)
{
	return (struct iovirt_wire_vq_avail_elem){ .head = iovirt_le16_load(w) };
}

/* One used-ring element: the chain's head and the bytes the device wrote. */
struct iovirt_wire_vq_used_elem {
	uint32_t id;
	uint32_t len;
};
#define IOVIRT_WIRE_VQ_USED_ELEM_SIZE 8u
static_assert(sizeof(struct iovirt_wire_vq_used_elem) == IOVIRT_WIRE_VQ_USED_ELEM_SIZE, "used elem size");
static_assert(offsetof(struct iovirt_wire_vq_used_elem, id) == 0, "used elem id");
static_assert(offsetof(struct iovirt_wire_vq_used_elem, len) == 4, "used elem len");

static inline void iovirt_wire_vq_used_elem_encode(uint8_t *w, struct iovirt_wire_vq_used_elem e)
{
	iovirt_le32_store(w + offsetof(struct iovirt_wire_vq_used_elem, id), e.id);
	iovirt_le32_store(w + offsetof(struct iovirt_wire_vq_used_elem, len), e.len);
}

static inline struct iovirt_wire_vq_used_elem iovirt_wire_vq_used_elem_decode(const uint8_t *w)
{
	return (struct iovirt_wire_vq_used_elem){
		.id = iovirt_le32_load(w + offsetof(struct iovirt_wire_vq_used_elem, id)),
		.len = iovirt_le32_load(w + offsetof(struct iovirt_wire_vq_used_elem, len)),
	};
}

/* Byte offsets inside the rings, for a ring of num entries (num <= 32768,
 * so none of these overflow). */
static inline uint64_t iovirt_wire_vq_avail_slot_off(uint32_t slot)
{
	return IOVIRT_WIRE_VQ_RING_HDR_SIZE + (uint64_t)IOVIRT_WIRE_VQ_AVAIL_ELEM_SIZE * slot;
}

static inline uint64_t iovirt_wire_vq_used_slot_off(uint32_t slot)
{
	return IOVIRT_WIRE_VQ_RING_HDR_SIZE + (uint64_t)IOVIRT_WIRE_VQ_USED_ELEM_SIZE * slot;
}

/* ------------------------------------------------------------------------ */
/* iovirt's guest scatter-gather list entry (include/iovirt/validate.h)      */
/* ------------------------------------------------------------------------ */

/* { le64 gpa; le32 len; le16 dir; le16 zero }: the wire form of iovirt_seg. */
struct iovirt_wire_sg_entry {
	uint64_t gpa;
	uint32_t len;
	uint16_t dir;
	uint16_t zero; /* reserved: an entry with it set is refused */
};
#define IOVIRT_WIRE_SG_ENTRY_SIZE 16u
static_assert(sizeof(struct iovirt_wire_sg_entry) == IOVIRT_WIRE_SG_ENTRY_SIZE, "sg entry size");
static_assert(offsetof(struct iovirt_wire_sg_entry, gpa) == 0, "sg entry gpa");
static_assert(offsetof(struct iovirt_wire_sg_entry, len) == 8, "sg entry len");
static_assert(offsetof(struct iovirt_wire_sg_entry, dir) == 12, "sg entry dir");
static_assert(offsetof(struct iovirt_wire_sg_entry, zero) == 14, "sg entry zero");

static inline struct iovirt_wire_sg_entry iovirt_wire_sg_entry_decode(const uint8_t *w)
{
	return (struct iovirt_wire_sg_entry){
		.gpa = iovirt_le64_load(w + offsetof(struct iovirt_wire_sg_entry, gpa)),
		.len = iovirt_le32_load(w + offsetof(struct iovirt_wire_sg_entry, len)),
		.dir = iovirt_le16_load(w + offsetof(struct iovirt_wire_sg_entry, dir)),
		.zero = iovirt_le16_load(w + offsetof(struct iovirt_wire_sg_entry, zero)),
	};
}

/*
 * The guest bytes of a list of n entries at gpa, or false when they do not
 * fit below 2^64. A list whose last byte is 2^64 - 1 fits: the bound is on the
 * last byte, never on the (unrepresentable) end. n >= 1.
 */
static inline bool iovirt_wire_sg_list_fits(uint64_t gpa, uint32_t n, uint64_t *bytes)
{
	uint64_t last;
	*bytes = (uint64_t)n * IOVIRT_WIRE_SG_ENTRY_SIZE;
	return !__builtin_add_overflow(gpa, *bytes - 1, &last);
}

#endif
