/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user wire format this backend speaks (vhost-user specification,
 * "Message types"; QEMU 7.2 is the reference front-end) and the virtio-blk
 * request layout. Shared by the backend and the hostile test client.
 */
#ifndef VUB_H
#define VUB_H

#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

enum {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_IOTLB_MSG = 22,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_GET_MAX_MEM_SLOTS = 36,
	VU_ADD_MEM_REG = 37,
	VU_REM_MEM_REG = 38,
};

#define VU_FLAG_VERSION 1u
#define VU_FLAG_REPLY 4u
#define VU_FLAG_NEED_REPLY 8u
#define VU_HDR_SIZE 12u
#define VU_MAX_PAYLOAD 4096u
#define VU_MAX_FDS 8
#define VU_MAX_TABLE_REGIONS 8u

/* Protocol feature bits. */
#define VU_PF_MQ 0
#define VU_PF_REPLY_ACK 3
#define VU_PF_BACKEND_REQ 5
#define VU_PF_CONFIG 9
#define VU_PF_CONFIGURE_MEM_SLOTS 15

/* Feature bits. */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_RING_PACKED 34

/* Kick/call payload: bits 0-7 the queue, bit 8 "no fd". */
#define VU_VRING_IDX_MASK 0xffu
#define VU_VRING_NOFD (1u << 8)

struct vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint64_t mmap_offset;
};

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

/* virtio-blk */
#define VIRTIO_BLK_T_IN 0u
#define VIRTIO_BLK_T_OUT 1u
#define VIRTIO_BLK_T_FLUSH 4u
#define VIRTIO_BLK_T_GET_ID 8u
#define VIRTIO_BLK_S_OK 0u
#define VIRTIO_BLK_S_IOERR 1u
#define VIRTIO_BLK_S_UNSUPP 2u
#define VIRTIO_BLK_ID_BYTES 20u
#define VIRTIO_BLK_CONFIG_BYTES 60u

/* Sends len bytes of buf with nfds (at most VU_SEND_MAX_FDS) descriptors
 * attached as SCM_RIGHTS, as a front-end does; the test clients' one way to
 * put a message with fds on the socket. Returns sendmsg's result. */
#define VU_SEND_MAX_FDS 8
static inline ssize_t vu_send_fds(int s, const void *buf, size_t len, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VU_SEND_MAX_FDS)];
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds > 0 && nfds <= VU_SEND_MAX_FDS) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(s, &mh, MSG_NOSIGNAL);
}

#endif
