/* SPDX-License-Identifier: MIT */
/*
 * vub-hostile SOCKET DISK: a hostile vhost-user front-end for
 * iovirt-vhost-user-blk. Beside honest traffic (writes and read-backs through
 * a split ring in memfd memory) it sends malformed, truncated and unknown
 * messages, missing and extra fds, overlapping, misaligned and huge memory
 * regions, rings outside memory or misaligned, descriptors out of memory or
 * looping, an available index past the in-flight bound, the removal of a
 * region the rings live in, and a disconnect in the middle of I/O. Each must
 * get an error reply or a closed connection; after each, a new connection
 * must work; at the end the disk must hold exactly what honest requests
 * wrote. Prints one line per case and exits 0 when all held.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vub.h"

#define MEM_SIZE (4u << 20)
#define GPA_BASE 0x100000u
#define QSZ 16u
#define O_DESC 0x0000u
#define O_AVAIL 0x1000u
#define O_USED 0x2000u
#define O_HDR 0x3000u
#define O_STATUS 0x4000u
#define O_DATA 0x10000u
#define DISK_MAX (4u << 20)
/* The backend is started with VUB_TEST_STALL_SECTOR=200: requests at that
 * sector stay in flight for 300 ms. */
#define STALL_SECTOR 200u

static const char *g_sock;
static uint8_t *g_mem;
static int g_memfd;
static uint8_t g_expect[DISK_MAX];
static uint64_t g_disk_size;
static int g_failures, g_cases;
static uint16_t g_avail, g_used_seen;
static uint32_t g_qsz = QSZ;

struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static int conn(void)
{
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", g_sock);
	for (int i = 0; i < 100; i++) {
		if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return s;
		usleep(20000);
	}
	perror("connect");
	exit(1);
}

static int send_raw(int s, const void *buf, size_t len, const int *fds, int nfds)
{
	return vu_send_fds(s, buf, len, fds, nfds) == (ssize_t)len ? 0 : -1;
}

/* Reads a reply with a 3 s limit; returns payload bytes or -1 (closed). */
static int recv_reply(int s, void *payload, uint32_t max)
{
	uint32_t h[3];
	struct pollfd p = {.fd = s, .events = POLLIN};
	if (poll(&p, 1, 5000) <= 0)
		return -1;
	if (recv(s, h, 12, MSG_WAITALL) != 12 || h[2] > max)
		return -1;
	if (h[2] && recv(s, payload, h[2], MSG_WAITALL) != (ssize_t)h[2])
		return -1;
	return (int)h[2];
}

/* Sends a message with NEED_REPLY; returns the ack (0 ok, >0 refused) or -1 closed. */
static int64_t req(int s, uint32_t type, const void *payload, uint32_t size, const int *fds,
		   int nfds)
{
	uint8_t buf[12 + 512];
	uint32_t h[3] = {type, VU_FLAG_VERSION | VU_FLAG_NEED_REPLY, size};
	memcpy(buf, h, 12);
	if (size)
		memcpy(buf + 12, payload, size);
	if (send_raw(s, buf, 12 + size, fds, nfds) != 0)
		return -1;
	uint64_t v = 0;
	if (recv_reply(s, &v, 8) != 8)
		return -1;
	return (int64_t)v;
}

static uint64_t get_u64(int s, uint32_t type)
{
	uint32_t h[3] = {type, VU_FLAG_VERSION, 0};
	uint64_t v = 0;
	if (send_raw(s, h, 12, NULL, 0) != 0 || recv_reply(s, &v, 8) != 8)
		return UINT64_MAX;
	return v;
}

static void check(bool ok, const char *what)
{
	g_cases++;
	if (!ok)
		g_failures++;
	printf("%s: %s\n", ok ? "ok" : "FAIL", what);
	fflush(stdout);
}

static bool refused(int64_t r)
{
	return r != 0; /* error reply (> 0) or closed connection (-1) */
}

static bool g_iommu;
static int g_backend[2] = {-1, -1};

/* Negotiation without memory (with ACCESS_PLATFORM when g_iommu). */
static int hello(void)
{
	int s = conn();
	uint64_t f = get_u64(s, VU_GET_FEATURES);
	uint64_t want = (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
			(1ull << VIRTIO_F_INDIRECT_DESC) | (g_iommu ? 1ull << 33 : 0);
	if (f == UINT64_MAX || (f & want) != want) {
		fprintf(stderr, "features 0x%llx\n", (unsigned long long)f);
		exit(1);
	}
	uint64_t pf = (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_CONFIG) | (1ull << VU_PF_MQ) |
		      (1ull << VU_PF_CONFIGURE_MEM_SLOTS) | (g_iommu ? 1ull << VU_PF_BACKEND_REQ : 0);
	pf &= get_u64(s, VU_GET_PROTOCOL_FEATURES);
	uint32_t h[3] = {VU_SET_PROTOCOL_FEATURES, VU_FLAG_VERSION, 8};
	uint8_t b[20];
	memcpy(b, h, 12);
	memcpy(b + 12, &pf, 8);
	send_raw(s, b, 20, NULL, 0);
	if (req(s, VU_SET_FEATURES, &want, 8, NULL, 0) != 0 || req(s, VU_SET_OWNER, NULL, 0, NULL, 0) != 0) {
		fprintf(stderr, "negotiation refused\n");
		exit(1);
	}
	if (g_iommu) {
		if (g_backend[0] >= 0) {
			close(g_backend[0]);
			close(g_backend[1]);
		}
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, g_backend) != 0 ||
		    req(s, VU_SET_BACKEND_REQ_FD, NULL, 0, &g_backend[1], 1) != 0) {
			fprintf(stderr, "backend channel refused\n");
			exit(1);
		}
	}
	return s;
}

static struct vu_region mem_region(void)
{
	return (struct vu_region){.gpa = GPA_BASE, .size = MEM_SIZE,
				  .uaddr = (uint64_t)(uintptr_t)g_mem, .mmap_offset = 0};
}

static int64_t set_table(int s, const struct vu_region *r, uint32_t n, const int *fds, int nfds)
{
	uint8_t p[8 + 8 * sizeof(struct vu_region)] = {0};
	memcpy(p, &n, 4);
	memcpy(p + 8, r, n * sizeof(*r));
	return req(s, VU_SET_MEM_TABLE, p, 8 + n * (uint32_t)sizeof(*r), fds, nfds);
}

static int g_kick = -1, g_call = -1, g_err = -1;
static uint16_t g_base; /* SET_VRING_BASE of the next setup */

/* Reads (and clears) the vring error eventfd: 0 when nothing was signalled. */
static uint64_t err_signalled(void)
{
	uint64_t v = 0;
	if (read(g_err, &v, 8) != 8)
		v = 0;
	return v;
}

/* Full honest setup of queue 0; desc_off lets a case misplace the rings. */
static int64_t setup_queue(int s, uint64_t desc_uaddr)
{
	int fd = g_memfd;
	struct vu_region r = mem_region();
	if (set_table(s, &r, 1, &fd, 1) != 0)
		return 1;
	memset(g_mem, 0, 0x3000);
	g_avail = g_used_seen = g_base;
	/* The available idx starts at the base (nothing posted); the used idx
	 * stays 0, as a ring the device never completed into. */
	__atomic_store_n((uint16_t *)(g_mem + O_AVAIL + 2), g_base, __ATOMIC_RELEASE);
	uint32_t st[2] = {0, g_qsz};
	if (req(s, VU_SET_VRING_NUM, st, 8, NULL, 0) != 0)
		return 1;
	st[1] = g_base;
	if (req(s, VU_SET_VRING_BASE, st, 8, NULL, 0) != 0)
		return 1;
	struct vu_vring_addr a = {.index = 0, .desc = desc_uaddr,
				  .avail = (uint64_t)(uintptr_t)(g_mem + O_AVAIL),
				  .used = (uint64_t)(uintptr_t)(g_mem + O_USED)};
	if (g_iommu) { /* ring addresses are IOVAs: identity to the guest-physical ones */
		a.avail = GPA_BASE + O_AVAIL;
		a.used = GPA_BASE + O_USED;
	}
	if (req(s, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0) != 0)
		return 1;
	uint64_t idx = 0;
	if (req(s, VU_SET_VRING_CALL, &idx, 8, &g_call, 1) != 0)
		return 1;
	if (g_err >= 0) {
		err_signalled();
		if (req(s, VU_SET_VRING_ERR, &idx, 8, &g_err, 1) != 0)
			return 1;
	}
	int64_t r1 = req(s, VU_SET_VRING_KICK, &idx, 8, &g_kick, 1);
	if (r1 != 0)
		return r1;
	st[1] = 1;
	return req(s, VU_SET_VRING_ENABLE, st, 8, NULL, 0) == 0 ? 0 : 1;
}

static int honest_setup(void)
{
	int s = hello();
	if (setup_queue(s, (uint64_t)(uintptr_t)(g_mem + O_DESC)) != 0) {
		fprintf(stderr, "honest setup refused\n");
		exit(1);
	}
	return s;
}

static struct vdesc *desc(unsigned i)
{
	return (struct vdesc *)(g_mem + O_DESC) + i;
}

static void post(uint16_t head)
{
	uint16_t *ring = (uint16_t *)(g_mem + O_AVAIL + 4);
	ring[g_avail % g_qsz] = head;
	__atomic_store_n((uint16_t *)(g_mem + O_AVAIL + 2), (uint16_t)(g_avail + 1),
			 __ATOMIC_RELEASE);
	g_avail++;
	uint64_t one = 1;
	if (write(g_kick, &one, 8) != 8)
		perror("kick");
}

/* Waits until the used idx reaches want; returns false after 3 s. */
static bool wait_used(uint16_t want)
{
	for (int i = 0; i < 3000; i++) {
		uint16_t u = __atomic_load_n((uint16_t *)(g_mem + O_USED + 2), __ATOMIC_ACQUIRE);
		if (u == want) {
			g_used_seen = u;
			return true;
		}
		usleep(1000);
	}
	return false;
}

/* A 3-descriptor request at slot k (descriptors 3k..3k+2); data gpa/len given. */
static void make_req(unsigned k, uint32_t type, uint64_t sector, uint64_t data_gpa,
		     uint32_t data_len)
{
	uint8_t *hdr = g_mem + O_HDR + 16 * k;
	memset(hdr, 0, 16);
	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	g_mem[O_STATUS + k] = 0xff;
	bool in = type == VIRTIO_BLK_T_IN;
	*desc(3 * k) = (struct vdesc){GPA_BASE + O_HDR + 16 * k, 16, 1, (uint16_t)(3 * k + 1)};
	*desc(3 * k + 1) = (struct vdesc){data_gpa, data_len, (uint16_t)(1 | (in ? 2 : 0)),
					  (uint16_t)(3 * k + 2)};
	*desc(3 * k + 2) = (struct vdesc){GPA_BASE + O_STATUS + k, 1, 2, 0};
}

/* An honest write of 4 KiB at sector, then a read-back compared. */
static bool honest_io(uint64_t sector, uint8_t seed)
{
	uint8_t *d = g_mem + O_DATA;
	for (unsigned i = 0; i < 4096; i++)
		d[i] = (uint8_t)(seed * 31 + i * 7);
	make_req(0, VIRTIO_BLK_T_OUT, sector, GPA_BASE + O_DATA, 4096);
	post(0);
	if (!wait_used((uint16_t)(g_used_seen + 1)) || g_mem[O_STATUS] != 0)
		return false;
	memcpy(g_expect + sector * 512, d, 4096);
	memset(g_mem + O_DATA + 0x1000, 0, 4096);
	make_req(1, VIRTIO_BLK_T_IN, sector, GPA_BASE + O_DATA + 0x1000, 4096);
	post(3);
	if (!wait_used((uint16_t)(g_used_seen + 1)) || g_mem[O_STATUS + 1] != 0)
		return false;
	return memcmp(g_mem + O_DATA + 0x1000, d, 4096) == 0;
}

/* After a hostile case: a fresh front-end must work. */
static void still_serving(const char *after, uint64_t sector)
{
	int s = honest_setup();
	char what[160];
	snprintf(what, sizeof(what), "backend serves an honest front-end after: %s", after);
	check(honest_io(sector, (uint8_t)(sector + 1)), what);
	close(s);
}

/* vub-hostile --bench SOCKET SECONDS INFLIGHT BYTES read|write: a synthetic
 * honest front-end (no guest) that keeps INFLIGHT requests of BYTES posted
 * for SECONDS and prints the completions per second. Works against any
 * vhost-user-blk backend (also qemu-storage-daemon). */
/* Strict mode: data buffers at these IOVAs, mapped only on the backend's
 * miss and invalidated when the request completes (a guest under
 * iommu.strict=1, as QEMU forwards it). */
#define STRICT_IOVA 0x40000000ull

struct bench_iotlb {
	uint64_t iova, size, uaddr;
	uint8_t perm, type, pad[6];
};

/* Answers the backend's IOTLB misses (strict mode) as QEMU would: one 4 KiB
 * translation per miss. Returns the misses answered, -1 on a failure. */
static int bench_answer_misses(int s)
{
	int n = 0;
	for (;;) {
		uint8_t mb[12 + sizeof(struct bench_iotlb)];
		ssize_t r = recv(g_backend[0], mb, sizeof(mb), MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return n;
		if (r != (ssize_t)sizeof(mb))
			return -1;
		struct bench_iotlb m;
		memcpy(&m, mb + 12, sizeof(m));
		uint64_t pg = m.iova & ~0xfffull;
		if (m.type != 1 || pg < STRICT_IOVA || pg >= STRICT_IOVA + 32 * 65536ull)
			return -1;
		struct bench_iotlb u = {.iova = pg, .size = 0x1000,
					.uaddr = (uint64_t)(uintptr_t)g_mem + O_DATA + (pg - STRICT_IOVA),
					.perm = 3, .type = 2};
		if (req(s, VU_IOTLB_MSG, &u, sizeof(u), NULL, 0) != 0)
			return -1;
		n++;
	}
}

static int bench(int argc, char **argv)
{
	bool strict = argc == 8 && !strcmp(argv[7], "iommu-strict");
	if (argc != 7 && !(argc == 8 && (!strcmp(argv[7], "iommu") || strict)))
		return 2;
	g_iommu = argc == 8;
	g_sock = argv[2];
	double secs = atof(argv[3]);
	unsigned inflight = (unsigned)atoi(argv[4]);
	uint32_t bytes = (uint32_t)atoi(argv[5]);
	uint32_t type = strcmp(argv[6], "write") == 0 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	if (inflight < 1 || inflight > 32 || bytes < 512 || bytes > 65536 || bytes % 512)
		return 2;
	g_qsz = 128;
	g_memfd = memfd_create("vub-bench", 0);
	if (g_memfd < 0 || ftruncate(g_memfd, MEM_SIZE) != 0)
		return 2;
	g_mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, g_memfd, 0);
	g_kick = eventfd(0, 0);
	g_call = eventfd(0, EFD_NONBLOCK);
	int s;
	if (g_iommu) {
		/* Rings and buffers at IOVAs equal to their guest-physical
		 * addresses, one 4 KiB translation each (as a guest IOMMU maps). */
		s = hello();
		struct vu_region mr = mem_region();
		if (set_table(s, &mr, 1, &g_memfd, 1) != 0)
			return 1;
		/* Strict: only the rings, headers and status bytes (below
		 * O_DATA) stay mapped, as a guest's coherent allocations. */
		for (uint64_t off = 0; off < (strict ? O_DATA : MEM_SIZE); off += 0x1000) {
			struct bench_iotlb u = {.iova = GPA_BASE + off, .size = 0x1000,
						.uaddr = (uint64_t)(uintptr_t)g_mem + off, .perm = 3,
						.type = 2};
			if (req(s, VU_IOTLB_MSG, &u, sizeof(u), NULL, 0) != 0)
				return 1;
		}
		if (setup_queue(s, GPA_BASE + O_DESC) != 0)
			return 1;
	} else {
		s = honest_setup();
	}
	uint64_t span = 64u << 20; /* sectors cycle through the first 64 MiB */
	uint64_t next_sector = 0, done = 0, misses = 0;
	uint64_t data0 = strict ? STRICT_IOVA : GPA_BASE + O_DATA;
	for (unsigned k = 0; k < inflight; k++) {
		make_req(k, type, next_sector, data0 + 65536ull * k, bytes);
		next_sector = (next_sector + bytes / 512) % (span / 512);
		post((uint16_t)(3 * k));
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	double el = 0;
	while (el < secs) {
		struct pollfd p[2] = {{.fd = g_call, .events = POLLIN},
				      {.fd = strict ? g_backend[0] : -1, .events = POLLIN}};
		poll(p, 2, 100);
		if (strict) {
			int n = bench_answer_misses(s);
			if (n < 0) {
				fprintf(stderr, "bench: the IOTLB exchange failed\n");
				return 1;
			}
			misses += (uint64_t)n;
		}
		uint64_t v;
		if (read(g_call, &v, 8) < 0) {
			/* nothing signalled: look at the ring anyway */
		}
		uint16_t u = __atomic_load_n((uint16_t *)(g_mem + O_USED + 2), __ATOMIC_ACQUIRE);
		while (g_used_seen != u) {
			uint32_t id;
			memcpy(&id, g_mem + O_USED + 4 + 8 * (g_used_seen % g_qsz), 4);
			g_used_seen++;
			done++;
			unsigned k = id / 3;
			if (g_mem[O_STATUS + k] != 0) {
				fprintf(stderr, "bench: request failed (status %u)\n", g_mem[O_STATUS + k]);
				return 1;
			}
			if (strict) {
				/* The guest unmaps the buffer: QEMU invalidates. */
				struct bench_iotlb inv = {.iova = data0 + 65536ull * k,
							  .size = (bytes + 0xfffu) & ~0xfffu,
							  .type = 3};
				if (req(s, VU_IOTLB_MSG, &inv, sizeof(inv), NULL, 0) != 0)
					return 1;
			}
			make_req(k, type, next_sector, data0 + 65536ull * k, bytes);
			next_sector = (next_sector + bytes / 512) % (span / 512);
			post((uint16_t)(3 * k));
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	}
	printf("bench: requests %llu seconds %.3f rps %.0f iotlb_misses %llu\n",
	       (unsigned long long)done, el, (double)done / el, (unsigned long long)misses);
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--bench"))
		return bench(argc, argv);
	if (argc != 3) {
		fprintf(stderr, "usage: vub-hostile SOCKET DISK\n");
		return 2;
	}
	g_sock = argv[1];
	int dfd = open(argv[2], O_RDONLY);
	g_disk_size = (uint64_t)lseek(dfd, 0, SEEK_END);
	if (dfd < 0 || g_disk_size > DISK_MAX || g_disk_size < 1024 * 1024) {
		fprintf(stderr, "disk must be 1..4 MiB\n");
		return 2;
	}
	if (pread(dfd, g_expect, g_disk_size, 0) != (ssize_t)g_disk_size)
		return 2;
	g_memfd = memfd_create("vub-hostile", 0);
	if (g_memfd < 0 || ftruncate(g_memfd, MEM_SIZE) != 0)
		return 2;
	g_mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, g_memfd, 0);
	g_kick = eventfd(0, 0);
	g_call = eventfd(0, EFD_NONBLOCK);
	g_err = eventfd(0, EFD_NONBLOCK);

	int s = honest_setup();
	check(honest_io(0, 1), "honest write and read-back");

	/* Malformed messages on a live connection. */
	check(refused(req(s, 99, NULL, 0, NULL, 0)), "unknown message type refused");
	uint32_t four = 0;
	check(refused(req(s, VU_SET_VRING_NUM, &four, 4, NULL, 0)), "truncated SET_VRING_NUM refused");
	close(s);
	still_serving("unknown and truncated messages", 8);

	s = hello();
	uint32_t h[3] = {VU_SET_VRING_NUM, VU_FLAG_VERSION, 1u << 20};
	send_raw(s, h, 12, NULL, 0);
	uint64_t dummy;
	check(recv_reply(s, &dummy, 8) < 0, "header claiming a 1 MiB payload closes the connection");
	close(s);
	s = hello();
	send_raw(s, h, 7, NULL, 0);
	shutdown(s, SHUT_WR);
	check(recv_reply(s, &dummy, 8) < 0, "truncated header closes the connection");
	close(s);
	still_serving("oversized and truncated headers", 16);

	/* fds. */
	s = hello();
	struct vu_region r = mem_region();
	check(refused(set_table(s, &r, 1, NULL, 0)), "SET_MEM_TABLE without its fd refused");
	int two[2] = {g_memfd, g_memfd};
	uint32_t st[2] = {0, QSZ};
	check(refused(req(s, VU_SET_VRING_NUM, st, 8, two, 1)), "SET_VRING_NUM with an extra fd refused");
	check(refused(set_table(s, &r, 1, two, 2)), "SET_MEM_TABLE with an extra fd refused");
	close(s);
	still_serving("missing and extra fds", 24);

	/* Regions. */
	s = hello();
	struct vu_region rr[2] = {mem_region(), mem_region()};
	rr[1].uaddr += MEM_SIZE; /* same guest range, another front-end address */
	check(refused(set_table(s, rr, 2, two, 2)), "overlapping regions refused");
	close(s);
	s = hello();
	r = mem_region();
	r.size = 1ull << 39;
	check(refused(set_table(s, &r, 1, &g_memfd, 1)), "huge region (past the fd's end) refused");
	r = mem_region();
	r.gpa += 0x123;
	check(refused(set_table(s, &r, 1, &g_memfd, 1)), "misaligned region refused");
	r = mem_region();
	r.gpa = UINT64_MAX - 0xfff;
	check(refused(set_table(s, &r, 1, &g_memfd, 1)), "region wrapping past 2^64 refused");
	close(s);
	still_serving("overlapping, huge, misaligned regions", 32);

	/* Rings. */
	s = hello();
	check(refused(setup_queue(s, 0x10)), "rings outside the memory table refused");
	close(s);
	s = hello();
	check(refused(setup_queue(s, (uint64_t)(uintptr_t)(g_mem + O_DESC + 8))),
	      "misaligned descriptor table refused");
	close(s);
	still_serving("rings outside memory and misaligned", 40);

	/* Descriptors. */
	s = honest_setup();
	uint8_t before[4096];
	memcpy(before, g_expect, 4096);
	make_req(0, VIRTIO_BLK_T_OUT, 0, 0x40000000, 4096); /* data outside memory */
	post(0);
	check(wait_used((uint16_t)(g_used_seen + 1)) && g_mem[O_STATUS] == 0xff,
	      "descriptor outside memory: chain returned unused, no status, nothing written");
	make_req(0, VIRTIO_BLK_T_OUT, 0, GPA_BASE + MEM_SIZE - 2048, 4096); /* runs off the end */
	post(0);
	check(wait_used((uint16_t)(g_used_seen + 1)) && g_mem[O_STATUS] == 0xff,
	      "descriptor running past memory's end refused");
	make_req(0, VIRTIO_BLK_T_OUT, 0, GPA_BASE + O_DATA, 4096);
	desc(2)->flags = 3;
	desc(2)->next = 0; /* loop back to the head */
	post(0);
	check(wait_used((uint16_t)(g_used_seen + 1)) && g_mem[O_STATUS] == 0xff,
	      "looping chain refused");
	make_req(0, VIRTIO_BLK_T_OUT, g_disk_size / 512, GPA_BASE + O_DATA, 4096);
	post(0);
	check(wait_used((uint16_t)(g_used_seen + 1)) && g_mem[O_STATUS] == VIRTIO_BLK_S_IOERR,
	      "write past the disk's end: IOERR");
	check(honest_io(48, 9), "honest I/O on the same queue after refused chains");
	check(err_signalled() == 0, "refused chains do not break the queue (no vring error)");
	/* In-flight bound: the driver claims far more heads than the queue holds. */
	__atomic_store_n((uint16_t *)(g_mem + O_AVAIL + 2), (uint16_t)(g_avail + 100),
			 __ATOMIC_RELEASE);
	uint64_t one = 1;
	if (write(g_kick, &one, 8) != 8)
		perror("kick");
	usleep(200000);
	check(__atomic_load_n((uint16_t *)(g_mem + O_USED + 2), __ATOMIC_ACQUIRE) == g_used_seen,
	      "available index past the in-flight bound: nothing taken, queue stopped");
	check(err_signalled() == 1,
	      "available index past the in-flight bound: device needs reset (vring error eventfd signalled)");
	close(s);
	/* A restored state claiming more chains in flight than the queue
	 * holds (base 40, the ring's used idx 0, 16 entries): the first take
	 * is IOVIRT_EOVERRUN, the queue broken and the front-end told. */
	g_base = 40;
	s = honest_setup();
	g_base = 0;
	make_req(0, VIRTIO_BLK_T_OUT, 0, GPA_BASE + O_DATA, 4096);
	post(0);
	usleep(200000);
	check(__atomic_load_n((uint16_t *)(g_mem + O_USED + 2), __ATOMIC_ACQUIRE) == 0 &&
		      g_mem[O_STATUS] == 0xff && err_signalled() == 1,
	      "in-flight count past the queue size (EOVERRUN): nothing taken, vring error signalled");
	close(s);
	still_serving("descriptors out of memory, looping, past the in-flight bound", 56);

	/* Removal of the region the rings live in: refused (the rings hold it). */
	s = honest_setup();
	r = mem_region();
	uint8_t rm[8 + sizeof(r)] = {0};
	memcpy(rm + 8, &r, sizeof(r));
	check(refused(req(s, VU_REM_MEM_REG, rm, sizeof(rm), NULL, 0)),
	      "REM_MEM_REG of the rings' region refused (held by the queue)");
	check(honest_io(64, 11), "queue still works after the refused removal");
	close(s);

	/* A data region added with ADD_MEM_REG, used, removed with REM_MEM_REG
	 * while writes into it are posted: the removal is answered once no
	 * request holds it, and a chain into it afterwards is refused. */
	s = honest_setup();
	int fd2 = memfd_create("vub-hostile-2", 0);
	uint8_t *m2 = NULL;
	if (fd2 >= 0 && ftruncate(fd2, 1 << 20) == 0)
		m2 = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
	struct vu_region r2 = {.gpa = 0x4000000, .size = 1 << 20,
			       .uaddr = (uint64_t)(uintptr_t)m2, .mmap_offset = 0};
	uint8_t add[8 + sizeof(r2)] = {0};
	memcpy(add + 8, &r2, sizeof(r2));
	check(m2 && m2 != MAP_FAILED && req(s, VU_ADD_MEM_REG, add, sizeof(add), &fd2, 1) == 0,
	      "ADD_MEM_REG of a second region accepted");
	for (unsigned i = 0; i < 4096; i++)
		m2[i] = (uint8_t)(i * 3 + 1);
	make_req(0, VIRTIO_BLK_T_OUT, 96, 0x4000000, 4096);
	post(0);
	bool ok2 = wait_used((uint16_t)(g_used_seen + 1)) && g_mem[O_STATUS] == 0;
	if (ok2)
		memcpy(g_expect + 96 * 512, m2, 4096);
	check(ok2, "honest write from the added region");
	/* A write from the region stays in flight (the backend runs with
	 * VUB_TEST_STALL_SECTOR=200: that request sleeps 300 ms, pinned) while
	 * the removal is asked: the answer comes once it completed. */
	for (unsigned i = 0; i < 4096; i++)
		m2[8192 + i] = (uint8_t)(i * 5 + 3);
	make_req(1, VIRTIO_BLK_T_OUT, STALL_SECTOR, 0x4000000 + 8192, 4096);
	post(3);
	usleep(50000); /* taken and pinned by now */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int64_t rrm = req(s, VU_REM_MEM_REG, add, sizeof(add), NULL, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	uint16_t used_at_reply = __atomic_load_n((uint16_t *)(g_mem + O_USED + 2), __ATOMIC_ACQUIRE);
	double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	bool stalled_ok = used_at_reply == g_avail && g_mem[O_STATUS + 1] == 0;
	if (stalled_ok)
		memcpy(g_expect + STALL_SECTOR * 512, m2 + 8192, 4096);
	printf("  REM_MEM_REG answered after %.3f s, used idx %u of %u at the answer\n", waited,
	       used_at_reply, g_avail);
	check(rrm == 0 && stalled_ok && waited > 0.15,
	      "REM_MEM_REG with a write from the region in flight: answered (ok) only once it completed");
	wait_used(g_avail);
	make_req(0, VIRTIO_BLK_T_OUT, 104, 0x4000000, 4096);
	post(0);
	check(wait_used((uint16_t)(g_used_seen + 1)) && g_mem[O_STATUS] == 0xff,
	      "a chain into the removed region is refused");
	close(s);
	still_serving("ADD/REM_MEM_REG", 112);

	/* Disconnect in the middle of I/O: honest writes that rewrite the
	 * bytes already expected, so the disk's content is determined. */
	s = honest_setup();
	for (unsigned k = 0; k < 5; k++) {
		memcpy(g_mem + O_DATA + 0x2000 * k, g_expect + 64 * 512, 4096);
		make_req(k, VIRTIO_BLK_T_OUT, 64, GPA_BASE + O_DATA + 0x2000 * k, 4096);
		post((uint16_t)(3 * k));
	}
	close(s);
	still_serving("a disconnect in the middle of I/O", 72);

	/* Behind an IOMMU: IOTLB updates validated at map time, permissions
	 * enforced, a miss sent for an unmapped IOVA and the chain retried. */
	g_iommu = true;
	s = hello();
	struct vu_region mr = mem_region();
	check(set_table(s, &mr, 1, &g_memfd, 1) == 0, "iommu: memory table accepted");
	struct vu_iotlb_w {
		uint64_t iova, size, uaddr;
		uint8_t perm, type, pad[6];
	} t = {.iova = 0x7000000, .size = 0x1000,
	       .uaddr = (uint64_t)(uintptr_t)g_mem + 4 * MEM_SIZE, .perm = 3, .type = 2};
	check(refused(req(s, VU_IOTLB_MSG, &t, sizeof(t), NULL, 0)),
	      "iommu: update outside the memory table refused");
	t.uaddr = (uint64_t)(uintptr_t)g_mem;
	t.perm = 0;
	check(refused(req(s, VU_IOTLB_MSG, &t, sizeof(t), NULL, 0)), "iommu: update without permission refused");
	t.perm = 7;
	check(refused(req(s, VU_IOTLB_MSG, &t, sizeof(t), NULL, 0)), "iommu: update with unknown permission bits refused");
	t.perm = 3;
	t.uaddr += 8;
	check(refused(req(s, VU_IOTLB_MSG, &t, sizeof(t), NULL, 0)), "iommu: misaligned update refused");
	/* Identity IOVAs for the whole memory, the status page read-only. */
	bool okm = true;
	for (uint64_t off = 0; off < MEM_SIZE; off += 0x1000) {
		struct vu_iotlb_w u = {.iova = GPA_BASE + off, .size = 0x1000,
				       .uaddr = (uint64_t)(uintptr_t)g_mem + off,
				       .perm = off == O_STATUS ? 1 : 3, .type = 2};
		okm = okm && req(s, VU_IOTLB_MSG, &u, sizeof(u), NULL, 0) == 0;
	}
	check(okm, "iommu: honest updates accepted");
	check(setup_queue(s, GPA_BASE + O_DESC) == 0, "iommu: rings at IOVAs accepted");
	make_req(0, VIRTIO_BLK_T_IN, 0, GPA_BASE + O_DATA, 4096);
	post(0);
	check(wait_used((uint16_t)(g_used_seen + 1)) && g_mem[O_STATUS] == 0xff,
	      "iommu: device write into a read-only translation refused");
	/* Data at an IOVA with no translation: a miss, then the update, then
	 * the same chain completes. */
	for (unsigned i = 0; i < 4096; i++)
		g_mem[O_DATA + 0x3000 + i] = (uint8_t)(i * 13 + 5);
	make_req(2, VIRTIO_BLK_T_OUT, 80, 0x7000000, 4096);
	g_mem[O_STATUS + 2] = 0xff;
	struct vu_iotlb_w inv = {.iova = GPA_BASE + O_STATUS, .size = 0x1000, .type = 3};
	struct vu_iotlb_w st_rw = {.iova = GPA_BASE + O_STATUS, .size = 0x1000,
				   .uaddr = (uint64_t)(uintptr_t)g_mem + O_STATUS, .perm = 3, .type = 2};
	check(req(s, VU_IOTLB_MSG, &inv, sizeof(inv), NULL, 0) == 0 &&
		      req(s, VU_IOTLB_MSG, &st_rw, sizeof(st_rw), NULL, 0) == 0,
	      "iommu: invalidation and remap of the status page");
	post(6);
	uint8_t mb[12 + sizeof(struct vu_iotlb_w)];
	struct pollfd bp = {.fd = g_backend[0], .events = POLLIN};
	bool miss = poll(&bp, 1, 3000) == 1 &&
		    recv(g_backend[0], mb, sizeof(mb), MSG_WAITALL) == (ssize_t)sizeof(mb);
	struct vu_iotlb_w got;
	memcpy(&got, mb + 12, sizeof(got));
	check(miss && got.type == 1 && got.iova == 0x7000000,
	      "iommu: IOTLB miss sent on the backend channel for the unmapped IOVA");
	t = (struct vu_iotlb_w){.iova = 0x7000000, .size = 0x1000,
				.uaddr = (uint64_t)(uintptr_t)g_mem + O_DATA + 0x3000, .perm = 1,
				.type = 2};
	check(req(s, VU_IOTLB_MSG, &t, sizeof(t), NULL, 0) == 0, "iommu: update answering the miss accepted");
	bool done = wait_used((uint16_t)(g_used_seen + 1)) && g_mem[O_STATUS + 2] == 0;
	if (done)
		memcpy(g_expect + 80 * 512, g_mem + O_DATA + 0x3000, 4096);
	check(done, "iommu: the chain is retried after the update and completes");
	/* Invalidating a ring's translation stops the queue (the library
	 * reports the ring unmapped); the update mapping it again restarts it. */
	struct vu_iotlb_w inv_av = {.iova = GPA_BASE + O_AVAIL, .size = 0x1000, .type = 3};
	check(req(s, VU_IOTLB_MSG, &inv_av, sizeof(inv_av), NULL, 0) == 0,
	      "iommu: invalidation of the available ring's page accepted");
	make_req(0, VIRTIO_BLK_T_IN, 0, GPA_BASE + O_DATA, 4096);
	post(0);
	usleep(300000);
	check(__atomic_load_n((uint16_t *)(g_mem + O_USED + 2), __ATOMIC_ACQUIRE) == g_used_seen &&
		      g_mem[O_STATUS] == 0xff,
	      "iommu: nothing taken while a ring is unmapped");
	struct vu_iotlb_w upd_av = {.iova = GPA_BASE + O_AVAIL, .size = 0x1000,
				    .uaddr = (uint64_t)(uintptr_t)g_mem + O_AVAIL, .perm = 3,
				    .type = 2};
	check(req(s, VU_IOTLB_MSG, &upd_av, sizeof(upd_av), NULL, 0) == 0 &&
		      wait_used((uint16_t)(g_used_seen + 1)) && g_mem[O_STATUS] == 0 &&
		      memcmp(g_mem + O_DATA, g_expect, 4096) == 0,
	      "iommu: the ring mapped again: the request completes");
	/* An invalidation while a request using the translation is in flight
	 * (a write stalled 300 ms at STALL_SECTOR): answered at once, and the
	 * request keeps what it pinned and completes with its data. */
	for (unsigned i = 0; i < 4096; i++)
		g_mem[O_DATA + 0x5000 + i] = (uint8_t)(i * 7 + 11);
	struct vu_iotlb_w dm = {.iova = 0x7100000, .size = 0x1000,
				.uaddr = (uint64_t)(uintptr_t)g_mem + O_DATA + 0x5000, .perm = 1,
				.type = 2};
	check(req(s, VU_IOTLB_MSG, &dm, sizeof(dm), NULL, 0) == 0, "iommu: data translation mapped");
	make_req(2, VIRTIO_BLK_T_OUT, STALL_SECTOR, 0x7100000, 4096);
	uint16_t used_before = g_used_seen;
	post(6);
	usleep(50000); /* taken and pinned by now */
	struct vu_iotlb_w dinv = {.iova = 0x7100000, .size = 0x1000, .type = 3};
	int64_t rinv = req(s, VU_IOTLB_MSG, &dinv, sizeof(dinv), NULL, 0);
	uint16_t used_at_inv = __atomic_load_n((uint16_t *)(g_mem + O_USED + 2), __ATOMIC_ACQUIRE);
	bool inflight_done = wait_used((uint16_t)(g_used_seen + 1)) && g_mem[O_STATUS + 2] == 0;
	if (inflight_done)
		memcpy(g_expect + STALL_SECTOR * 512, g_mem + O_DATA + 0x5000, 4096);
	check(rinv == 0 && used_at_inv == used_before && inflight_done,
	      "iommu: invalidation answered while a request using it is in flight; the request "
	      "completes with what it pinned");
	close(s);
	g_iommu = false;
	still_serving("the IOMMU cases", 88);

	/* The disk holds exactly what honest requests wrote. */
	uint8_t *disk = malloc(g_disk_size);
	bool same = disk && pread(dfd, disk, g_disk_size, 0) == (ssize_t)g_disk_size &&
		    memcmp(disk, g_expect, g_disk_size) == 0;
	check(same, "disk holds exactly what honest requests wrote");
	free(disk);
	printf("hostile: %d cases, %d failed\n", g_cases, g_failures);
	return g_failures ? 1 : 0;
}
