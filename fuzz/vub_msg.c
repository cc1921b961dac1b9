/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user-blk example's message parser and handlers: a stream of
 * messages (any type, flags, size and payload, with none, one or two fds of
 * the kinds the protocol passes) is fed through a socket pair to the
 * backend's own recv_msg and handle, then the connection is torn down as on a
 * disconnect. Nothing may crash, leak a region hold or hang.
 * Input: records of { u8 fdmode; le32 req; le32 flags; le16 size; size bytes }.
 */
#define VUB_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function" /* main's helpers */
#include "../examples/vhost-user-blk/main.c"

static int g_guest_fd, g_ev_fd;

static void fuzz_init(void)
{
	S.nqueues = 2;
	S.queue_size = 256;
	S.disk_fd = memfd_create("vub-fuzz-disk", 0);
	g_guest_fd = memfd_create("vub-fuzz-mem", 0);
	if (S.disk_fd < 0 || g_guest_fd < 0 || ftruncate(S.disk_fd, 1 << 20) != 0 ||
	    ftruncate(g_guest_fd, 1 << 20) != 0)
		abort();
	S.capacity = 1 << 20;
	g_ev_fd = eventfd(0, EFD_NONBLOCK);
	if (vub_init() != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static bool inited;
	static struct msg m;
	if (!inited) {
		fuzz_init();
		inited = true;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		abort();
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	while (n >= 11) {
		uint8_t mode = d[0];
		uint32_t hdr[3];
		uint16_t size;
		memcpy(&hdr[0], d + 1, 4);
		memcpy(&hdr[1], d + 5, 4);
		memcpy(&size, d + 9, 2);
		d += 11;
		n -= 11;
		/* Stay inside what the backend accepts, or one past, so both the
		 * reading and the refusal of an oversized payload are reached. */
		size %= VU_MAX_PAYLOAD + 2;
		hdr[2] = size;
		uint8_t buf[VU_HDR_SIZE + VU_MAX_PAYLOAD + 1] = {0};
		memcpy(buf, hdr, VU_HDR_SIZE);
		size_t take = size < n ? size : n;
		bool send_payload = (hdr[1] & 3u) == VU_FLAG_VERSION && size <= VU_MAX_PAYLOAD;
		if (send_payload)
			memcpy(buf + VU_HDR_SIZE, d, take);
		d += take;
		n -= take;
		int fds[2] = {(mode & 4) ? g_guest_fd : g_ev_fd, g_ev_fd};
		int nfds = mode & 3;
		if (nfds > 2)
			nfds = 2;
		if (vu_send_fds(sv[0], buf, VU_HDR_SIZE + (send_payload ? size : 0), fds, nfds) < 0)
			break;
		if (recv_msg(sv[1], &m) != 0)
			break;
		int rc = handle(sv[1], &m);
		close_fds(&m);
		if (rc == 3)
			rc = removal_answer(); /* as serve_conn, without its loop */
		uint8_t drain[8192];
		while (read(sv[0], drain, sizeof(drain)) > 0) {
		}
		if (rc == 1 && !(has(S.proto_features, VU_PF_REPLY_ACK) &&
				 (m.flags & VU_FLAG_NEED_REPLY)))
			break; /* the backend closes the connection here */
	}
	disconnect();
	close(sv[0]);
	close(sv[1]);
	return 0;
}
