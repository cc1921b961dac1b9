/* SPDX-License-Identifier: MIT */
/*
 * iovirt-vhost-user-blk: a vhost-user block device backend in which iovirt
 * does every check on the data path.
 *
 *   iovirt-vhost-user-blk --socket PATH --file PATH [--read-only]
 *                         [--queues N] [--queue-size N]
 *
 * The front-end's memory table becomes an iovirt guest map (one region per
 * table entry, keyed by guest-physical address, with the host address of
 * our mapping of its fd). Each virtqueue is an iovirt_vq on that map with
 * direct ring access: descriptors are read once and every buffer is
 * validated against the map before the backend touches it; the host
 * scatter-gather list goes straight to preadv/pwritev. A request pins its
 * list in an iovirt pin domain until it completes, so a removal of a region
 * it uses waits for it (iovirt_pin_remove_deferred). Behind a guest IOMMU
 * (ACCESS_PLATFORM) the front-end's IOTLB updates, validated at map time,
 * go into an iovirt page table (one ASID for the device) through which the
 * library translates every ring and buffer address before validating it;
 * a missing translation becomes an IOTLB miss and the chain is popped again
 * when the update arrives. One thread per queue: kick -> notifications off
 * -> poll with the irqpoll budget -> re-enable and re-check; the call
 * eventfd is signalled only when event-index suppression says so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "iovirt/irqpoll.h"
#include "iovirt/pagetable.h"
#include "iovirt/pin.h"
#include "iovirt/validate.h"
#include "vub.h"

#define GUEST_ID 1u
#define MAX_QUEUES 16u
#define MAX_SLOTS 32u
#define MAX_HOST_SEGS 1024u
#define PAGE 4096u
#define NERR 64
#define ASID 1u
#define MAX_IOTLB 8192u
#define MISS_BATCH 32u /* pages asked for at once on a translation fault */
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VU_BACKEND_IOTLB_MSG 1u
#define VHOST_IOTLB_MISS 1u
#define VHOST_IOTLB_UPDATE 2u
#define VHOST_IOTLB_INVALIDATE 3u

/* vhost-user's IOTLB message payload. */
struct vu_iotlb {
	uint64_t iova;
	uint64_t size;
	uint64_t uaddr;
	uint8_t perm;
	uint8_t type;
	uint8_t pad[6];
};

/* One translation the front-end sent (validated at map time, installed in
 * the page table); kept so an invalidation knows what to unmap. */
struct iotlb_ent {
	bool used;
	uint64_t iova, size, uaddr;
	uint32_t perm;
};

/* ---------------------------------------------------------------- state */

struct mreg {
	bool used;
	struct vu_region r;
	void *base;    /* our mmap of the fd (from offset 0) */
	size_t maplen; /* mmap_offset + size */
};

struct queue {
	unsigned idx;
	uint32_t num;
	bool addr_set, enabled, running;
	struct vu_vring_addr addr;
	uint32_t base_avail, base_used;
	int kickfd, errfd;
	int callfd;
	pthread_mutex_t call_lock;
	int stopfd; /* eventfd: asks the queue thread to stop */
	pthread_t thr;
	struct iovirt_vq *vq;
	struct iovirt_irqpoll *ip;
	bool broken;
	bool start_pending; /* rings not yet translatable: misses sent */
	bool rings_lost;    /* an invalidation unmapped a ring: take nothing until
	                     * an update maps it again (under map_lock) */
	int iotlbfd;        /* eventfd: an IOTLB update the thread waits for arrived */
	_Atomic bool awaiting_update; /* a miss is out: wake the thread on updates */
	/* The faulting access: [iova, end), pages. Atomic: the message thread
	 * reads them while the thread waits (awaiting_update). */
	_Atomic uint64_t miss_iova, miss_end;
	uint32_t miss_access;
	unsigned miss_tries;
	bool want_miss;
};

struct counters {
	_Atomic uint64_t requests, reads, writes, flushes, get_ids, unsupported;
	_Atomic uint64_t bytes_read, bytes_written, ioerr;
	_Atomic uint64_t kicks, calls, calls_suppressed, polls;
	_Atomic uint64_t refused[NERR];
	_Atomic uint64_t broken_queues, err_signals, bad_messages, connections;
	_Atomic uint64_t iotlb_updates, iotlb_invals, iotlb_misses, iotlb_refused, miss_timeouts;
};

static struct {
	const char *sock_path, *file_path;
	bool read_only;
	unsigned nqueues;
	uint32_t queue_size;
	int disk_fd;
	uint64_t capacity;

	int conn;
	uint64_t features, proto_features;
	bool owner;
	struct iovirt_gmap *map;
	/* Behind a guest IOMMU (ACCESS_PLATFORM): the front-end's translations,
	 * each validated at map time, installed in an iovirt page table (one
	 * ASID for the device) that the queues translate through
	 * (IOVIRT_VQ_F_ACCESS_PLATFORM) before validating against the map. */
	bool iommu;
	struct iovirt_iommu *pt;
	struct iotlb_ent tlb[MAX_IOTLB];
	unsigned tlb_hi; /* entries at and above are unused: scans stop there (a
	                  * strict guest keeps a few hundred live, reusing low slots) */
	int backend_fd;
	pthread_mutex_t backend_lock;
	pthread_rwlock_t map_lock; /* readers: queue threads; writer: reclaim + munmap */
	struct mreg regs[MAX_SLOTS];
	/* Requests pin what they use in this domain (one for the device; the
	 * lock serializes its calls, as the pin module asks). A removal of a
	 * region a request pins is deferred by it until the last one completes. */
	struct iovirt_pin_domain *dom;
	pthread_mutex_t dom_lock;
	struct {
		struct mreg *m;     /* the region being removed */
		_Atomic int fired;  /* the map operation ran (result below) */
		int result;
		bool reply_pending; /* a REM_MEM_REG waits for it to answer */
		uint32_t req, flags;
	} rm;
	int rmfd; /* eventfd: a deferred removal ran */
	uint64_t stall_sector; /* test hook (VUB_TEST_STALL_SECTOR), UINT64_MAX: none */
	struct queue q[MAX_QUEUES];
	struct counters c;
	int sigpipe[2];
} S;

static volatile sig_atomic_t g_stop;

static bool has(uint64_t f, int bit)
{
	return (f >> bit) & 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------- host ops */

static void *h_alloc(void *host, size_t size, size_t align)
{
	(void)host;
	if (align < sizeof(void *))
		align = sizeof(void *);
	void *p = NULL;
	if (posix_memalign(&p, align, size ? size : 1) != 0)
		return NULL;
	memset(p, 0, size);
	return p;
}

static void h_free(void *host, void *p, size_t size)
{
	(void)host;
	(void)size;
	free(p);
}

/* Guest memory through the map: only for structures in regions without a
 * host address, which this backend never creates; kept correct anyway. */
static void send_miss(uint64_t iova, uint8_t perm);
static void send_misses(const uint64_t *iova, unsigned n, uint8_t perm);

static int h_rw(uint64_t gpa, void *buf, size_t len, bool write)
{
	while (len) {
		struct iovirt_region r;
		r.size = sizeof(r);
		if (iovirt_gmap_lookup(S.map, gpa, &r) != 0 || !r.hva)
			return -1;
		uint64_t off = gpa - r.gpa;
		size_t n = (size_t)(r.length - off < len ? r.length - off : len);
		if (write)
			memcpy((char *)r.hva + off, buf, n);
		else
			memcpy(buf, (char *)r.hva + off, n);
		gpa += n;
		buf = (char *)buf + n;
		len -= n;
	}
	return 0;
}

static int h_read(void *host, uint32_t guest, uint64_t gpa, void *dst, size_t len)
{
	(void)host;
	(void)guest;
	return h_rw(gpa, dst, len, false);
}

static int h_write(void *host, uint32_t guest, uint64_t gpa, const void *src, size_t len)
{
	(void)host;
	(void)guest;
	return h_rw(gpa, (void *)src, len, true);
}

static void *h_table_alloc(void *host, uint64_t *pa)
{
	(void)host;
	void *p = NULL;
	if (posix_memalign(&p, PAGE, PAGE) != 0)
		return NULL;
	memset(p, 0, PAGE);
	*pa = (uint64_t)(uintptr_t)p;
	return p;
}

static void h_table_free(void *host, void *page, uint64_t pa)
{
	(void)host;
	(void)pa;
	free(page);
}

/* No hardware walks these tables: nothing cached to drop. */
static void h_inval(void *host, const struct iovirt_inval *inv)
{
	(void)host;
	(void)inv;
}

/* Guest memory is our shared mapping of the front-end's fds: nothing to pin
 * at the host; the domain's counts and holds are what removal waits for. */
static int h_pin(void *host, uint32_t guest, uint64_t gpa, uint64_t npages)
{
	(void)host;
	(void)guest;
	(void)gpa;
	(void)npages;
	return 0;
}

static void h_unpin(void *host, uint32_t guest, uint64_t gpa, uint64_t npages)
{
	(void)host;
	(void)guest;
	(void)gpa;
	(void)npages;
}

static struct iovirt_host_ops g_ops = {
	.pin = h_pin,
	.unpin = h_unpin,
	.table_alloc = h_table_alloc,
	.table_free = h_table_free,
	.iotlb_inval = h_inval,
	.size = sizeof(struct iovirt_host_ops),
	.mem_alloc = h_alloc,
	.mem_free = h_free,
	.guest_read = h_read,
	.guest_write = h_write,
};

static void count_refusal(int err)
{
	int i = -err;
	if (i <= 0 || i >= NERR)
		i = 0;
	atomic_fetch_add(&S.c.refused[i], 1);
}

/* ------------------------------------------------------ request path */

struct req {
	struct iovirt_host_seg seg[MAX_HOST_SEGS];
	struct iovec iov[MAX_HOST_SEGS];
};

/* Builds iovecs for [skip, skip + len) of the entries with direction dir. */
static int build_iov(struct req *rq, uint32_t n, uint32_t dir, uint64_t skip, uint64_t len)
{
	int k = 0;
	for (uint32_t i = 0; i < n && len; i++) {
		if (rq->seg[i].dir != dir)
			continue;
		uint64_t l = rq->seg[i].len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		uint64_t take = l - skip < len ? l - skip : len;
		rq->iov[k].iov_base = (char *)rq->seg[i].hva + skip;
		rq->iov[k].iov_len = (size_t)take;
		k++;
		len -= take;
		skip = 0;
	}
	return len ? -1 : k;
}

static int do_io(bool write, struct iovec *iov, int cnt, uint64_t off)
{
	while (cnt > 0) {
		ssize_t r = write ? pwritev(S.disk_fd, iov, cnt, (off_t)off)
				  : preadv(S.disk_fd, iov, cnt, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		off += (uint64_t)r;
		while (cnt > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0 && r > 0) {
			iov->iov_base = (char *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* Runs one validated chain; returns the used length. */
static uint32_t serve(struct req *rq, uint32_t n, const struct iovirt_dma_result *res)
{
	uint8_t hdr[16];
	struct iovirt_pin_handle h;
	uint32_t status = VIRTIO_BLK_S_IOERR;
	uint32_t used_len = 0;
	atomic_fetch_add(&S.c.requests, 1);
	if (res->read_bytes < 16 || res->write_bytes < 1) {
		/* No header or no status byte: nothing can be reported back. */
		atomic_fetch_add(&S.c.ioerr, 1);
		return 0;
	}
	/* Pin the validated list (the pin module re-validates it under its
	 * holds): until the request completes, a removal of a region it uses
	 * waits (iovirt_pin_remove_deferred); a region whose removal is pending
	 * refuses it (IOVIRT_EBUSY). */
	pthread_mutex_lock(&S.dom_lock);
	int pe = iovirt_pin_validated(S.dom, NULL, rq->seg, n, &h);
	pthread_mutex_unlock(&S.dom_lock);
	if (pe < 0) {
		atomic_fetch_add(&S.c.ioerr, 1);
		count_refusal(pe);
		return 0;
	}
	/* Header read once into our copy. */
	int k = build_iov(rq, n, IOVIRT_DEV_READ, 0, 16);
	size_t got = 0;
	for (int i = 0; i < k; i++) {
		memcpy(hdr + got, rq->iov[i].iov_base, rq->iov[i].iov_len);
		got += rq->iov[i].iov_len;
	}
	uint32_t type;
	uint64_t sector;
	memcpy(&type, hdr, 4);
	memcpy(&sector, hdr + 8, 8);
	uint64_t rd = res->read_bytes - 16, wr = res->write_bytes - 1;
	/* Status byte: the last device-writable byte. */
	uint8_t *statusp = NULL;
	for (uint32_t i = n; i-- > 0;)
		if (rq->seg[i].dir == IOVIRT_DEV_WRITE) {
			statusp = (uint8_t *)rq->seg[i].hva + rq->seg[i].len - 1;
			break;
		}
	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		bool w = type == VIRTIO_BLK_T_OUT;
		uint64_t len = w ? rd : wr;
		if (w && S.read_only)
			break;
		if (len % 512 || sector > S.capacity / 512 ||
		    len > S.capacity - sector * 512)
			break;
		k = w ? build_iov(rq, n, IOVIRT_DEV_READ, 16, len)
		      : build_iov(rq, n, IOVIRT_DEV_WRITE, 0, len);
		if (sector == S.stall_sector)
			usleep(300000); /* test hook: a request that stays in flight */
		if (k < 0 || do_io(w, rq->iov, k, sector * 512) != 0)
			break;
		if (w) {
			atomic_fetch_add(&S.c.writes, 1);
			atomic_fetch_add(&S.c.bytes_written, len);
		} else {
			atomic_fetch_add(&S.c.reads, 1);
			atomic_fetch_add(&S.c.bytes_read, len);
			used_len = (uint32_t)len;
		}
		status = VIRTIO_BLK_S_OK;
		break;
	}
	case VIRTIO_BLK_T_FLUSH:
		atomic_fetch_add(&S.c.flushes, 1);
		if (fdatasync(S.disk_fd) == 0)
			status = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		char id[VIRTIO_BLK_ID_BYTES] = "iovirt-vub";
		uint64_t len = wr < VIRTIO_BLK_ID_BYTES ? wr : VIRTIO_BLK_ID_BYTES;
		k = build_iov(rq, n, IOVIRT_DEV_WRITE, 0, len);
		size_t off = 0;
		for (int i = 0; i < k; i++) {
			memcpy(rq->iov[i].iov_base, id + off, rq->iov[i].iov_len);
			off += rq->iov[i].iov_len;
		}
		used_len = (uint32_t)len;
		atomic_fetch_add(&S.c.get_ids, 1);
		status = VIRTIO_BLK_S_OK;
		break;
	}
	default:
		atomic_fetch_add(&S.c.unsupported, 1);
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	if (status == VIRTIO_BLK_S_IOERR)
		atomic_fetch_add(&S.c.ioerr, 1);
	if (statusp)
		*(volatile uint8_t *)statusp = (uint8_t)status;
	/* Completion drops the pins; a deferred removal waiting for them runs
	 * here (removal_done). */
	pthread_mutex_lock(&S.dom_lock);
	iovirt_pin_complete(S.dom, h);
	pthread_mutex_unlock(&S.dom_lock);
	return used_len + 1;
}

static void signal_call(struct queue *q)
{
	int s = iovirt_vq_need_signal(q->vq);
	if (s == 1) {
		pthread_mutex_lock(&q->call_lock);
		if (q->callfd >= 0) {
			uint64_t one = 1;
			if (write(q->callfd, &one, 8) == 8)
				atomic_fetch_add(&S.c.calls, 1);
		}
		pthread_mutex_unlock(&q->call_lock);
	} else if (s == 0) {
		atomic_fetch_add(&S.c.calls_suppressed, 1);
	}
}

/*
 * The driver broke the ring's rules (IOVIRT_EOVERRUN, IOVIRT_EINDEX at the
 * ring, the packed ring's EWRAP/ECHAIN/EDUP...): virtio asks the device to
 * set DEVICE_NEEDS_RESET. vhost-user gives a backend no status message; the
 * queue stops taking chains (until the front-end sets it up again) and its
 * vring error eventfd (SET_VRING_ERR) is signalled, which is what QEMU
 * listens to for a vhost queue in error.
 */
static void mark_broken(struct queue *q, int err)
{
	q->broken = true;
	atomic_fetch_add(&S.c.broken_queues, 1);
	fprintf(stderr, "queue %u broken: %s: device needs reset\n", q->idx, iovirt_err_name(err));
	pthread_mutex_lock(&q->call_lock);
	if (q->errfd >= 0) {
		uint64_t one = 1;
		if (write(q->errfd, &one, 8) == 8)
			atomic_fetch_add(&S.c.err_signals, 1);
	}
	pthread_mutex_unlock(&q->call_lock);
}

/* Takes up to budget chains; returns how many. */
static uint32_t poll_queue(struct queue *q, struct req *rq, uint32_t budget)
{
	struct iovirt_sg_policy pol = {.size = sizeof(pol)};
	struct iovirt_vq_used done[256];
	uint32_t nd = 0, taken = 0;
	if (budget > 256)
		budget = 256;
	pthread_rwlock_rdlock(&S.map_lock);
	while (taken < budget && !q->broken && !q->rings_lost) {
		struct iovirt_dma_result res;
		int n = iovirt_vq_pop(q->vq, S.map, &pol, rq->seg, MAX_HOST_SEGS, &res);
		if (n == 0)
			break;
		struct iovirt_vq_fault f;
		struct iovirt_xlate x;
		if (n == IOVIRT_EIOFAULT && iovirt_vq_last_fault(q->vq, &f) == 0 &&
		    iovirt_pt_translate(S.pt, ASID, f.iova, IOVIRT_PROT_READ, &x) == IOVIRT_ENOENT) {
			/* The IOTLB has no translation: the cursor did not move.
			 * Ask the front-end (outside the map lock) and pop the
			 * same chain when the update comes; a page still missing
			 * after three misses refuses it. A translation without
			 * the access asked is refused at once (as vhost does: a
			 * permission fault, not a miss). */
			uint64_t pg = f.iova & ~(uint64_t)(PAGE - 1);
			if (q->miss_iova != pg || q->miss_access != f.access)
				q->miss_tries = 0;
			q->miss_iova = pg;
			/* The rest of the descriptor's buffer: its pages are asked
			 * for together (at most MISS_BATCH). */
			q->miss_end = f.len > MISS_BATCH * PAGE || f.iova + f.len < f.iova
					      ? pg + MISS_BATCH * PAGE
					      : f.iova + f.len;
			q->miss_access = f.access;
			if (q->miss_tries < 3) {
				q->want_miss = true;
				break;
			}
		}
		q->miss_tries = 0;
		taken++;
		if (n > 0) {
			done[nd].id = res.head;
			done[nd].len = serve(rq, (uint32_t)n, &res);
			nd++;
			continue;
		}
		count_refusal(n);
		if (res.where == IOVIRT_WHERE_TABLE || res.where == IOVIRT_WHERE_INDIRECT ||
		    res.where == IOVIRT_WHERE_LIST) {
			/* The chain's buffers are refused: hand it back unused. */
			int id = iovirt_vq_skip(q->vq);
			if (id >= 0) {
				done[nd].id = has(S.features, VIRTIO_F_RING_PACKED) ? (uint32_t)id : res.head;
				done[nd].len = 0;
				nd++;
				continue;
			}
		}
		/* The ring itself is broken (the spec's "device is broken"). */
		mark_broken(q, n);
	}
	if (nd) {
		int e = iovirt_vq_push_used_batch(q->vq, done, nd);
		if (e != 0) {
			mark_broken(q, e);
		} else {
			signal_call(q);
		}
	}
	pthread_rwlock_unlock(&S.map_lock);
	return taken;
}

/* The pages of [miss_iova, miss_end) the page table does not translate (at
 * most MISS_BATCH; pages may be NULL). A queue thread calls it under the
 * read lock (translation beside unmaps); the message thread, the only
 * writer, without. */
static unsigned missing_pages_locked(const struct queue *q, uint64_t *pages)
{
	unsigned n = 0;
	for (uint64_t pg = q->miss_iova; pg < q->miss_end && n < MISS_BATCH; pg += PAGE) {
		struct iovirt_xlate x;
		if (iovirt_pt_translate(S.pt, ASID, pg, IOVIRT_PROT_READ, &x) == IOVIRT_ENOENT) {
			if (pages)
				pages[n] = pg;
			n++;
		}
	}
	return n;
}

static unsigned missing_pages(const struct queue *q, uint64_t *pages)
{
	pthread_rwlock_rdlock(&S.map_lock);
	unsigned n = missing_pages_locked(q, pages);
	pthread_rwlock_unlock(&S.map_lock);
	return n;
}

/* Sends the misses of the faulting access (one send for all its missing
 * pages: a 64 KiB buffer behind a strict guest IOMMU is 16 of them) and
 * waits up to 1 s for the updates that translate them all. Returns true when
 * the thread is asked to stop. */
static bool miss_and_wait(struct queue *q)
{
	uint64_t pages[MISS_BATCH];
	unsigned n = missing_pages(q, pages);
	q->miss_tries++;
	atomic_store(&q->awaiting_update, true);
	send_misses(pages, n, q->miss_access == IOVIRT_DEV_WRITE ? 2 : 1);
	uint64_t deadline = now_ns() + 1000000000u;
	bool stop = false;
	while (n && !stop) {
		uint64_t t = now_ns();
		if (t >= deadline) {
			atomic_fetch_add(&S.c.miss_timeouts, 1);
			break;
		}
		struct pollfd w[2] = {{.fd = q->iotlbfd, .events = POLLIN},
				      {.fd = q->stopfd, .events = POLLIN}};
		int r = poll(w, 2, (int)((deadline - t) / 1000000u) + 1);
		if (r > 0 && (w[0].revents & POLLIN)) {
			uint64_t v;
			if (read(q->iotlbfd, &v, 8) != 8)
				v = 0;
		}
		stop = r > 0 && w[1].revents;
		n = missing_pages(q, pages);
	}
	atomic_store(&q->awaiting_update, false);
	return stop;
}

static void *queue_thread(void *arg)
{
	struct queue *q = arg;
	struct req *rq = malloc(sizeof(*rq));
	if (!rq)
		return NULL;
	/* Work may already be waiting (a restored ring): start as after a kick. */
	bool kicked = true;
	for (;;) {
		if (kicked && !q->broken) {
			uint64_t t = now_ns();
			pthread_rwlock_rdlock(&S.map_lock);
			/* Rings unmapped by an invalidation: touch nothing until
			 * an update maps them again (it wakes us). */
			int e = q->rings_lost ? 1 : iovirt_vq_kicked(q->vq, q->ip, t);
			pthread_rwlock_unlock(&S.map_lock);
			if (e == 0) {
				int next;
				do {
					uint32_t got = poll_queue(q, rq, iovirt_irqpoll_budget(q->ip));
					if (q->want_miss) {
						q->want_miss = false;
						q->miss_tries++;
						if (miss_and_wait(q))
							break;
					}
					atomic_fetch_add(&S.c.polls, 1);
					pthread_rwlock_rdlock(&S.map_lock);
					next = iovirt_vq_polled(q->vq, q->ip, got, now_ns());
					pthread_rwlock_unlock(&S.map_lock);
				} while (next == IOVIRT_IRQPOLL_AGAIN && !q->broken);
			}
		}
		kicked = false;
		struct pollfd p[3] = {{.fd = q->stopfd, .events = POLLIN},
				      {.fd = q->kickfd, .events = POLLIN},
				      {.fd = q->iotlbfd, .events = POLLIN}};
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		if (p[2].revents & POLLIN) {
			/* An update mapped the rings again (or answered a miss
			 * after its wait ended): look at the ring. */
			uint64_t v;
			if (read(q->iotlbfd, &v, 8) == 8)
				kicked = true;
		}
		if (p[1].revents & POLLIN) {
			uint64_t v;
			if (read(q->kickfd, &v, 8) == 8) {
				atomic_fetch_add(&S.c.kicks, 1);
				kicked = true;
			}
		} else if (p[1].revents) {
			break;
		}
	}
	free(rq);
	return NULL;
}

/* ------------------------------------------------------ memory table */

static struct mreg *reg_by_uaddr(uint64_t uaddr, uint64_t len)
{
	for (unsigned i = 0; i < MAX_SLOTS; i++) {
		struct mreg *m = &S.regs[i];
		if (m->used && uaddr >= m->r.uaddr && uaddr - m->r.uaddr < m->r.size &&
		    len <= m->r.size - (uaddr - m->r.uaddr))
			return m;
	}
	return NULL;
}

static uint64_t uaddr_to_gpa(uint64_t uaddr, uint64_t len, bool *ok)
{
	struct mreg *m = reg_by_uaddr(uaddr, len ? len : 1);
	*ok = m != NULL;
	return m ? m->r.gpa + (uaddr - m->r.uaddr) : 0;
}

/* Maps fd and adds the region to the map; closes fd in every case. */
static int add_region(const struct vu_region *r, int fd)
{
	int rc = -1;
	unsigned slot = MAX_SLOTS;
	if (r->size == 0 || r->gpa % PAGE || r->size % PAGE || r->mmap_offset % PAGE ||
	    r->gpa + r->size < r->gpa || r->uaddr + r->size < r->uaddr ||
	    r->mmap_offset + r->size < r->mmap_offset || r->size > (UINT64_C(1) << 40))
		goto out;
	for (unsigned i = 0; i < MAX_SLOTS; i++) {
		if (!S.regs[i].used && slot == MAX_SLOTS)
			slot = i;
		/* Two regions at one front-end address would make ring addresses
		 * ambiguous. */
		if (S.regs[i].used && r->uaddr < S.regs[i].r.uaddr + S.regs[i].r.size &&
		    S.regs[i].r.uaddr < r->uaddr + r->size)
			goto out;
	}
	if (slot == MAX_SLOTS)
		goto out;
	struct stat st;
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < r->mmap_offset + r->size)
		goto out; /* mapping past the file's end would fault later */
	size_t maplen = (size_t)(r->mmap_offset + r->size);
	void *base = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		goto out;
	struct iovirt_region ir = {
		.size = sizeof(ir),
		.gpa = r->gpa,
		.length = r->size,
		.kind = IOVIRT_REGION_RAM,
		.access = IOVIRT_DEV_READ | IOVIRT_DEV_WRITE,
		.owner = GUEST_ID,
		.hva = (char *)base + r->mmap_offset,
	};
	int e = iovirt_gmap_add(S.map, &ir);
	if (e != 0) {
		fprintf(stderr, "region gpa 0x%" PRIx64 " refused: %s\n", r->gpa,
			iovirt_err_name(e));
		count_refusal(e);
		munmap(base, maplen);
		goto out;
	}
	S.regs[slot] = (struct mreg){.used = true, .r = *r, .base = base, .maplen = maplen};
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * Removal goes through the pin domain: when no request pins the region the
 * map drops it now; otherwise the domain records it, refuses new requests
 * into it, and the completion that drops the last pin runs the removal and
 * calls removal_done (on that queue thread, under dom_lock). A region a ring
 * lives in stays held by its queue: the map refuses (IOVIRT_EBUSY).
 */
static void removal_done(void *arg, int result)
{
	(void)arg;
	S.rm.result = result;
	atomic_store(&S.rm.fired, 1);
	uint64_t one = 1;
	if (write(S.rmfd, &one, 8) != 8)
		perror("removal event");
}

/* Returns 1 when the removal waits for requests (removal_done comes later),
 * else 0 with *result the map's answer. */
static int removal_start(struct mreg *m, int *result)
{
	S.rm.m = m;
	atomic_store(&S.rm.fired, 0);
	pthread_mutex_lock(&S.dom_lock);
	int e = iovirt_pin_remove_deferred(S.dom, m->r.gpa, removal_done, NULL);
	pthread_mutex_unlock(&S.dom_lock);
	if (e == IOVIRT_PIN_REMOVE_PENDING)
		return 1;
	*result = e < 0 ? e : S.rm.result;
	return 0;
}

/* After the map's answer: on success, the grace period (no queue thread is
 * between a lookup and its use), the map's reclaim and our munmap. */
static int removal_finish(struct mreg *m, int result)
{
	if (result != 0) {
		count_refusal(result);
		fprintf(stderr, "removal of region 0x%" PRIx64 " refused: %s\n", m->r.gpa,
			iovirt_err_name(result));
		return -1;
	}
	pthread_rwlock_wrlock(&S.map_lock);
	iovirt_gmap_reclaim(S.map);
	munmap(m->base, m->maplen);
	pthread_rwlock_unlock(&S.map_lock);
	m->used = false;
	return 0;
}

/* Waits for a pending removal's removal_done (the requests pinning the
 * region run synchronously in queue threads: they complete). */
static int removal_wait(void)
{
	while (!atomic_load(&S.rm.fired)) {
		struct pollfd p = {.fd = S.rmfd, .events = POLLIN};
		poll(&p, 1, 100);
	}
	uint64_t v;
	if (read(S.rmfd, &v, 8) != 8) {
		/* already drained */
	}
	return S.rm.result;
}

/* Removes a region, waiting while requests pin it (SET_MEM_TABLE, disconnect). */
static int remove_region(struct mreg *m)
{
	int result;
	if (removal_start(m, &result))
		result = removal_wait();
	return removal_finish(m, result);
}

/* ---------------------------------------------------------- IOTLB */

/* Page-table pages an unmap unlinked wait for a grace period: no queue thread
 * may be inside a translation (they translate under the read lock). */
static void pt_reclaim(void)
{
	struct iovirt_pt_stats st;
	iovirt_pt_stats(S.pt, &st);
	if (!st.retired)
		return;
	pthread_rwlock_wrlock(&S.map_lock);
	iovirt_pt_reclaim(S.pt);
	pthread_rwlock_unlock(&S.map_lock);
}

static uint64_t ring_bytes(const struct queue *q, unsigned k)
{
	bool packed = has(S.features, VIRTIO_F_RING_PACKED);
	if (k == 0)
		return IOVIRT_VQ_DESC_BYTES(q->num);
	if (packed)
		return IOVIRT_VQ_PACKED_EVENT_BYTES;
	return k == 1 ? IOVIRT_VQ_AVAIL_BYTES(q->num) : IOVIRT_VQ_USED_BYTES(q->num);
}

static uint64_t ring_iova(const struct queue *q, unsigned k)
{
	return k == 0 ? q->addr.desc : k == 1 ? q->addr.avail : q->addr.used;
}

/* Does [iova, iova + size) touch one of the queue's rings? */
static bool touches_rings(const struct queue *q, uint64_t iova, uint64_t size)
{
	for (unsigned k = 0; k < 3; k++) {
		uint64_t a = ring_iova(q, k), n = ring_bytes(q, k);
		if (a < iova + size && iova < a + n)
			return true;
	}
	return false;
}

/* Tells each running queue whose rings [iova, iova + size) touches: the
 * library translates its rings again (or reports them unmapped). Queue
 * threads call their queue only under the read lock, so the write lock makes
 * this the queue's one thread for the moment. restore: an update (the rings
 * may be mapped again). */
static void rings_changed(uint64_t iova, uint64_t size, bool restore)
{
	for (unsigned i = 0; i < S.nqueues; i++) {
		struct queue *q = &S.q[i];
		if (!q->vq || (restore && !q->rings_lost) || !touches_rings(q, iova, size))
			continue;
		pthread_rwlock_wrlock(&S.map_lock);
		int e = iovirt_vq_iotlb_inval(q->vq, iova, size);
		bool was = q->rings_lost;
		q->rings_lost = e != 0;
		pthread_rwlock_unlock(&S.map_lock);
		uint64_t one = 1;
		if (was && !e && q->running && write(q->iotlbfd, &one, 8) != 8)
			perror("iotlb event");
		if (e && !was)
			fprintf(stderr, "queue %u: rings unmapped (%s): waiting for an update\n",
				q->idx, iovirt_err_name(e));
	}
}

static int tlb_drop(struct iotlb_ent *t)
{
	int64_t e = iovirt_pt_unmap(S.pt, ASID, t->iova, t->size);
	t->used = false;
	return e < 0 ? -1 : 0;
}

/* Unmaps every translation that overlaps [iova, iova + size) (whole: a
 * partly invalidated translation costs a miss, never a stale use). Requests
 * in flight keep what they pinned: their host lists point into memory-table
 * regions, which an invalidation does not touch. */
static int tlb_invalidate(uint64_t iova, uint64_t size)
{
	int rc = 0;
	if (size == 0 || iova + size < iova)
		size = UINT64_MAX - iova;
	for (unsigned i = 0; i < S.tlb_hi; i++) {
		struct iotlb_ent *t = &S.tlb[i];
		if (t->used && t->iova < iova + size && iova < t->iova + t->size && tlb_drop(t))
			rc = -1;
	}
	while (S.tlb_hi && !S.tlb[S.tlb_hi - 1].used)
		S.tlb_hi--;
	rings_changed(iova, size, false);
	pt_reclaim();
	return rc;
}

/* An update is validated at map time: aligned, a known permission, its user
 * range inside one memory-table region, whose guest-physical range the map
 * allows with that permission (iovirt_sg_validate, one segment, strict
 * regions); then installed in the page table (IOVA -> guest-physical, the
 * permission as the page's). Descriptors are later translated through it and
 * validated against the map. */
static int tlb_update(const struct vu_iotlb *m)
{
	uint32_t perm = m->perm;
	if (m->size == 0 || m->iova % PAGE || m->size % PAGE || m->uaddr % PAGE ||
	    m->iova + m->size < m->iova || perm == 0 || perm > 3)
		return IOVIRT_EINVAL;
	struct mreg *r = reg_by_uaddr(m->uaddr, m->size);
	if (!r)
		return IOVIRT_ENOREGION;
	uint64_t gpa = r->r.gpa + (m->uaddr - r->r.uaddr);
	struct iovirt_sg_policy pol = {.size = sizeof(pol), .flags = IOVIRT_POLICY_STRICT_REGIONS};
	struct iovirt_seg seg = {.gpa = gpa, .len = m->size,
				 .dir = (perm & 1 ? IOVIRT_DEV_READ : 0) |
					(perm & 2 ? IOVIRT_DEV_WRITE : 0)};
	struct iovirt_host_seg hs[1];
	int e = iovirt_sg_validate(S.map, &pol, &seg, 1, hs, 1, NULL);
	if (e < 0)
		return e;
	unsigned slot = S.tlb_hi < MAX_IOTLB ? S.tlb_hi : MAX_IOTLB;
	for (unsigned i = 0; i < S.tlb_hi; i++) {
		struct iotlb_ent *t = &S.tlb[i];
		if (t->used && t->iova == m->iova && t->size == m->size && t->uaddr == m->uaddr &&
		    t->perm == perm)
			return 0; /* already there (two misses for one page) */
		if (!t->used && slot >= S.tlb_hi)
			slot = i;
	}
	if (slot == MAX_IOTLB)
		return IOVIRT_ELIMIT;
	unsigned prot = (perm & 1 ? IOVIRT_PROT_READ : 0) | (perm & 2 ? IOVIRT_PROT_WRITE : 0);
	e = iovirt_pt_map(S.pt, ASID, m->iova, gpa, m->size, prot);
	if (e == IOVIRT_EEXIST) {
		/* A new translation replaces the old one for that range. */
		tlb_invalidate(m->iova, m->size);
		e = iovirt_pt_map(S.pt, ASID, m->iova, gpa, m->size, prot);
	}
	if (e != 0)
		return e;
	S.tlb[slot] = (struct iotlb_ent){.used = true, .iova = m->iova, .size = m->size,
					 .uaddr = m->uaddr, .perm = perm};
	if (slot >= S.tlb_hi) /* also when the replacement above lowered it */
		S.tlb_hi = slot + 1;
	rings_changed(m->iova, m->size, true);
	return 0;
}

/* --------------------------------------------------------- queues */

static void queue_stop(struct queue *q)
{
	if (q->running) {
		uint64_t one = 1;
		if (write(q->stopfd, &one, 8) != 8)
			perror("stop");
		pthread_join(q->thr, NULL);
		uint64_t v;
		if (read(q->stopfd, &v, 8) != 8)
			perror("stop");
		q->running = false;
	}
}

static void queue_free_vq(struct queue *q)
{
	queue_stop(q);
	if (q->vq) {
		q->base_avail = iovirt_vq_last_avail(q->vq);
		q->base_used = iovirt_vq_used_idx(q->vq);
		iovirt_vq_destroy(q->vq);
		q->vq = NULL;
	}
	if (q->ip) {
		iovirt_irqpoll_destroy(q->ip);
		q->ip = NULL;
	}
	q->rings_lost = false;
	q->start_pending = false;
}

static void queue_reset(struct queue *q)
{
	queue_free_vq(q);
	if (q->kickfd >= 0)
		close(q->kickfd);
	pthread_mutex_lock(&q->call_lock);
	if (q->errfd >= 0)
		close(q->errfd);
	if (q->callfd >= 0)
		close(q->callfd);
	q->callfd = q->errfd = -1;
	pthread_mutex_unlock(&q->call_lock);
	q->kickfd = -1;
	q->addr_set = q->enabled = q->broken = false;
	q->num = 0;
	q->base_avail = q->base_used = 0;
}


/* Starts the queue when it has everything; returns -1 when its rings are refused. */
/* IOTLB misses for n pages, as consecutive messages in one send. */
static void send_misses(const uint64_t *iova, unsigned n, uint8_t perm)
{
	enum { ONE = VU_HDR_SIZE + sizeof(struct vu_iotlb) };
	uint8_t buf[MISS_BATCH * ONE];
	if (n > MISS_BATCH)
		n = MISS_BATCH;
	for (unsigned i = 0; i < n; i++) {
		uint32_t h[3] = {VU_BACKEND_IOTLB_MSG, VU_FLAG_VERSION, sizeof(struct vu_iotlb)};
		struct vu_iotlb m = {.iova = iova[i], .perm = perm, .type = VHOST_IOTLB_MISS};
		memcpy(buf + i * ONE, h, VU_HDR_SIZE);
		memcpy(buf + i * ONE + VU_HDR_SIZE, &m, sizeof(m));
	}
	pthread_mutex_lock(&S.backend_lock);
	if (S.backend_fd >= 0 && n &&
	    send(S.backend_fd, buf, n * ONE, MSG_NOSIGNAL) == (ssize_t)(n * ONE))
		atomic_fetch_add(&S.c.iotlb_misses, n);
	pthread_mutex_unlock(&S.backend_lock);
}

static void send_miss(uint64_t iova, uint8_t perm)
{
	send_misses(&iova, 1, perm);
}

/* A miss for the first page of each ring the page table does not translate
 * with the ring's access (the used ring and a packed descriptor ring are
 * written). */
static void ring_misses(const struct queue *q)
{
	bool packed = has(S.features, VIRTIO_F_RING_PACKED);
	for (unsigned k = 0; k < 3; k++) {
		unsigned acc = k == 2 || (k == 0 && packed) ? IOVIRT_PROT_READ | IOVIRT_PROT_WRITE
							    : IOVIRT_PROT_READ;
		uint64_t a = ring_iova(q, k), end = a + ring_bytes(q, k);
		for (uint64_t pg = a & ~(uint64_t)(PAGE - 1); pg < end; pg += PAGE) {
			struct iovirt_xlate x;
			if (iovirt_pt_translate(S.pt, ASID, pg < a ? a : pg, acc, &x) != 0) {
				send_miss(pg < a ? a : pg, acc == IOVIRT_PROT_READ ? 1 : 3);
				break;
			}
		}
	}
}

/* A split ring's used idx as the ring holds it (vhost-user's base gives only
 * last_avail): the chains between it and the base are in flight, as
 * libvhost-user counts them. A state claiming more than the queue holds is
 * then refused by the library (IOVIRT_EOVERRUN: the queue is broken). The
 * rings were checked at create; fallback when unreadable: none in flight. */
static uint16_t split_used_idx(const struct queue *q, uint16_t fallback)
{
	uint64_t gpa = q->addr.used + 2;
	bool ok = true;
	if (S.iommu) {
		struct iovirt_xlate x;
		ok = iovirt_pt_translate(S.pt, ASID, gpa, IOVIRT_PROT_READ, &x) == 0;
		gpa = x.pa;
	} else {
		gpa = uaddr_to_gpa(q->addr.used, 4, &ok) + 2;
	}
	uint16_t v;
	if (!ok || h_rw(gpa, &v, 2, false) != 0)
		return fallback;
	return v;
}

static int queue_try_start(struct queue *q)
{
	q->start_pending = false;
	if (q->running || !q->addr_set || q->kickfd < 0 || !q->enabled || !q->num)
		return 0;
	bool packed = has(S.features, VIRTIO_F_RING_PACKED);
	uint64_t dl = IOVIRT_VQ_DESC_BYTES(q->num);
	uint64_t al = packed ? 4 : IOVIRT_VQ_AVAIL_BYTES(q->num);
	uint64_t ul = packed ? 4 : IOVIRT_VQ_USED_BYTES(q->num);
	bool o1, o2, o3;
	struct iovirt_vq_params p = {
		.size = sizeof(p),
		.guest = GUEST_ID,
		.num = q->num,
		.flags = IOVIRT_VQ_F_DIRECT | (packed ? IOVIRT_VQ_F_PACKED : 0) |
			 (has(S.features, VIRTIO_F_INDIRECT_DESC) ? IOVIRT_VQ_F_INDIRECT : 0) |
			 (has(S.features, VIRTIO_F_EVENT_IDX) ? IOVIRT_VQ_F_EVENT_IDX : 0),
		.desc_gpa = uaddr_to_gpa(q->addr.desc, dl, &o1),
		.avail_gpa = uaddr_to_gpa(q->addr.avail, al, &o2),
		.used_gpa = uaddr_to_gpa(q->addr.used, ul, &o3),
		.map = S.map,
	};
	if (S.iommu) {
		/* Ring and buffer addresses are IOVAs: the library translates
		 * them through the device's address space, then validates the
		 * guest-physical result against the map. */
		p.flags |= IOVIRT_VQ_F_ACCESS_PLATFORM;
		p.iommu = S.pt;
		p.asid = ASID;
		p.desc_gpa = q->addr.desc;
		p.avail_gpa = q->addr.avail;
		p.used_gpa = q->addr.used;
		o1 = o2 = o3 = true;
	}
	if (!o1 || !o2 || !o3) {
		fprintf(stderr, "queue %u: rings outside the memory table\n", q->idx);
		count_refusal(IOVIRT_ENOREGION);
		return -1;
	}
	if (!q->vq) {
		int e = iovirt_vq_create(&g_ops, NULL, &p, &q->vq);
		if (e == IOVIRT_EIOFAULT && S.iommu) {
			/* Not translated yet: ask for the first missing page of
			 * each ring, start when the updates arrive. */
			ring_misses(q);
			q->start_pending = true;
			return 0;
		}
		if (e != 0) {
			fprintf(stderr, "queue %u refused: %s\n", q->idx, iovirt_err_name(e));
			count_refusal(e);
			return -1;
		}
		uint16_t la = (uint16_t)q->base_avail, ui = (uint16_t)q->base_used;
		if (!packed)
			ui = split_used_idx(q, ui);
		iovirt_vq_set_cursors(q->vq, la, ui);
	}
	if (!q->ip) {
		struct iovirt_irqpoll_params ipp = {.size = sizeof(ipp),
						    .mode = IOVIRT_IRQPOLL_NAPI,
						    .budget = 64};
		if (iovirt_irqpoll_create(&g_ops, NULL, &ipp, &q->ip) != 0)
			return -1;
	}
	if (pthread_create(&q->thr, NULL, queue_thread, q) != 0)
		return -1;
	q->running = true;
	return 0;
}

/* ------------------------------------------------------- messages */

struct msg {
	uint32_t req, flags, size;
	union {
		uint64_t u64;
		struct {
			uint32_t index, num;
		} state;
		struct vu_vring_addr addr;
		struct {
			uint32_t nregions, padding;
			struct vu_region r[VU_MAX_TABLE_REGIONS];
		} mem;
		struct {
			uint64_t padding;
			struct vu_region r;
		} one;
		struct {
			uint32_t offset, size, flags;
			uint8_t data[256];
		} cfg;
		uint8_t raw[VU_MAX_PAYLOAD];
	} u;
	int fds[VU_MAX_FDS];
	int nfds;
};

static void close_fds(struct msg *m)
{
	for (int i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}

static int read_full(int fd, void *buf, size_t len)
{
	while (len) {
		ssize_t r = read(fd, buf, len);
		if (r < 0 && errno == EINTR && !g_stop)
			continue;
		if (r <= 0)
			return -1;
		buf = (char *)buf + r;
		len -= (size_t)r;
	}
	return 0;
}

/* Returns 0, or -1 when the connection must close (EOF, bad framing). */
static int recv_msg(int fd, struct msg *m)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
	struct iovec iov = {.iov_base = m, .iov_len = VU_HDR_SIZE};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf)};
	m->nfds = 0;
	ssize_t r;
	do
		r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < n; i++) {
				int f;
				memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (m->nfds < VU_MAX_FDS)
					m->fds[m->nfds++] = f;
				else
					close(f);
			}
		}
	}
	if (r != (ssize_t)VU_HDR_SIZE || (mh.msg_flags & MSG_CTRUNC)) {
		if (r > 0 && (size_t)r < VU_HDR_SIZE &&
		    read_full(fd, (char *)m + r, VU_HDR_SIZE - (size_t)r) == 0 &&
		    !(mh.msg_flags & MSG_CTRUNC))
			goto hdr_ok;
		close_fds(m);
		return -1;
	}
hdr_ok:
	if ((m->flags & 3u) != VU_FLAG_VERSION || m->size > VU_MAX_PAYLOAD) {
		close_fds(m);
		return -1;
	}
	memset(&m->u, 0, sizeof(m->u));
	if (m->size && read_full(fd, &m->u, m->size) != 0) {
		close_fds(m);
		return -1;
	}
	return 0;
}

static int send_reply(int fd, const struct msg *req, const void *payload, uint32_t size)
{
	uint8_t buf[VU_HDR_SIZE + 300];
	uint32_t h[3] = {req->req, VU_FLAG_VERSION | VU_FLAG_REPLY, size};
	memcpy(buf, h, VU_HDR_SIZE);
	memcpy(buf + VU_HDR_SIZE, payload, size);
	size_t len = VU_HDR_SIZE + size, off = 0;
	while (off < len) {
		ssize_t w = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

static int reply_u64(int fd, const struct msg *m, uint64_t v)
{
	return send_reply(fd, m, &v, 8);
}

static uint64_t offered_features(void)
{
	uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_INDIRECT_DESC) |
		     (1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_F_RING_PACKED) |
		     (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_MQ) |
		     (1ull << VHOST_USER_F_PROTOCOL_FEATURES) | (1ull << VIRTIO_F_ACCESS_PLATFORM);
	if (S.read_only)
		f |= 1ull << VIRTIO_BLK_F_RO;
	return f;
}

static const uint64_t g_proto = (1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) |
				 (1ull << VU_PF_CONFIG) | (1ull << VU_PF_CONFIGURE_MEM_SLOTS) |
				 (1ull << VU_PF_BACKEND_REQ);

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Payload bytes each message needs (0: none checked). */
static uint32_t need_size(uint32_t req)
{
	switch (req) {
	case VU_SET_FEATURES:
	case VU_SET_PROTOCOL_FEATURES:
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		return 8;
	case VU_SET_VRING_NUM:
	case VU_SET_VRING_BASE:
	case VU_GET_VRING_BASE:
	case VU_SET_VRING_ENABLE:
		return 8;
	case VU_SET_VRING_ADDR:
		return sizeof(struct vu_vring_addr);
	case VU_SET_MEM_TABLE:
		return 8;
	case VU_ADD_MEM_REG:
	case VU_REM_MEM_REG:
		return 8 + sizeof(struct vu_region);
	case VU_GET_CONFIG:
	case VU_SET_CONFIG:
		return 12;
	default:
		return 0;
	}
}

static struct queue *queue_of(uint32_t idx)
{
	return idx < S.nqueues ? &S.q[idx] : NULL;
}

/* Handles one message. Returns 0 (ok), 1 (failed: error reply or close), 2
 * (replied already), or 3 (the answer waits: a REM_MEM_REG of a region that
 * requests pin; removal_answer gives it). fds not consumed are closed by the
 * caller. */
static int handle(int fd, struct msg *m)
{
	struct queue *q;
	int expect_fds = 0;
	if (m->size < need_size(m->req))
		return 1;
	switch (m->req) {
	case VU_SET_MEM_TABLE:
		expect_fds = (int)m->u.mem.nregions;
		break;
	case VU_ADD_MEM_REG:
		expect_fds = 1;
		break;
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		expect_fds = (m->u.u64 & VU_VRING_NOFD) ? 0 : 1;
		break;
	case VU_SET_BACKEND_REQ_FD:
		expect_fds = 1;
		break;
	default:
		break;
	}
	if (m->req == VU_IOTLB_MSG && m->size < 26)
		return 1;
	if (m->nfds != expect_fds)
		return 1;
	switch (m->req) {
	case VU_GET_FEATURES:
		reply_u64(fd, m, offered_features());
		return 2;
	case VU_SET_FEATURES:
		if (m->u.u64 & ~offered_features())
			return 1;
		S.features = m->u.u64;
		S.iommu = has(S.features, VIRTIO_F_ACCESS_PLATFORM);
		return 0;
	case VU_GET_PROTOCOL_FEATURES:
		reply_u64(fd, m, g_proto);
		return 2;
	case VU_SET_PROTOCOL_FEATURES:
		if (m->u.u64 & ~g_proto)
			return 1;
		S.proto_features = m->u.u64;
		return 0;
	case VU_SET_OWNER:
		S.owner = true;
		return 0;
	case VU_RESET_OWNER:
		return 0;
	case VU_GET_QUEUE_NUM:
		reply_u64(fd, m, S.nqueues);
		return 2;
	case VU_GET_MAX_MEM_SLOTS:
		reply_u64(fd, m, MAX_SLOTS);
		return 2;
	case VU_SET_MEM_TABLE: {
		uint32_t n = m->u.mem.nregions;
		if (n == 0 || n > VU_MAX_TABLE_REGIONS || m->size < 8 + n * sizeof(struct vu_region))
			return 1;
		/* Keep regions that stay the same (rings may live in them), drop
		 * the others, add the new ones. */
		bool keep[VU_MAX_TABLE_REGIONS] = {false};
		for (unsigned s = 0; s < MAX_SLOTS; s++) {
			if (!S.regs[s].used)
				continue;
			bool found = false;
			for (uint32_t i = 0; i < n; i++)
				if (!memcmp(&S.regs[s].r, &m->u.mem.r[i], sizeof(struct vu_region))) {
					found = keep[i] = true;
				}
			if (!found && remove_region(&S.regs[s]) != 0)
				return 1;
		}
		int rc = 0;
		for (uint32_t i = 0; i < n; i++) {
			int f = m->fds[i];
			m->fds[i] = -1;
			if (keep[i])
				close(f);
			else if (add_region(&m->u.mem.r[i], f) != 0)
				rc = 1;
		}
		return rc;
	}
	case VU_ADD_MEM_REG: {
		int f = m->fds[0];
		m->fds[0] = -1;
		return add_region(&m->u.one.r, f) ? 1 : 0;
	}
	case VU_REM_MEM_REG:
		for (unsigned s = 0; s < MAX_SLOTS; s++)
			if (S.regs[s].used && S.regs[s].r.gpa == m->u.one.r.gpa &&
			    S.regs[s].r.size == m->u.one.r.size &&
			    S.regs[s].r.uaddr == m->u.one.r.uaddr) {
				int result;
				if (removal_start(&S.regs[s], &result)) {
					/* Requests pin it: answered when the last
					 * completes (serve_conn). */
					S.rm.reply_pending = true;
					S.rm.req = m->req;
					S.rm.flags = m->flags;
					return 3;
				}
				return removal_finish(&S.regs[s], result) ? 1 : 0;
			}
		return 1;
	case VU_SET_VRING_NUM:
		if (!(q = queue_of(m->u.state.index)) || q->running)
			return 1;
		if (m->u.state.num == 0 || m->u.state.num > S.queue_size ||
		    (!has(S.features, VIRTIO_F_RING_PACKED) &&
		     (m->u.state.num & (m->u.state.num - 1))))
			return 1;
		queue_free_vq(q);
		q->num = m->u.state.num;
		return 0;
	case VU_SET_VRING_ADDR:
		if (!(q = queue_of(m->u.addr.index)) || q->running)
			return 1;
		queue_free_vq(q);
		q->addr = m->u.addr;
		q->addr_set = true;
		return 0;
	case VU_SET_VRING_BASE:
		if (!(q = queue_of(m->u.state.index)) || q->running)
			return 1;
		queue_free_vq(q);
		q->base_avail = m->u.state.num & 0xffff;
		q->base_used = has(S.features, VIRTIO_F_RING_PACKED) && (m->u.state.num >> 16)
				       ? m->u.state.num >> 16
				       : q->base_avail;
		return 0;
	case VU_GET_VRING_BASE: {
		if (!(q = queue_of(m->u.state.index)))
			return 1;
		/* Stops the ring: the thread finishes its batch (requests run
		 * synchronously, so none stays in flight) and the cursors are saved. */
		queue_free_vq(q);
		uint32_t st[2] = {q->idx, q->base_avail & 0xffff};
		if (has(S.features, VIRTIO_F_RING_PACKED))
			st[1] |= (q->base_used & 0xffff) << 16;
		if (q->kickfd >= 0)
			close(q->kickfd);
		q->kickfd = -1;
		q->broken = false;
		send_reply(fd, m, st, 8);
		return 2;
	}
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR: {
		if (!(q = queue_of((uint32_t)(m->u.u64 & VU_VRING_IDX_MASK))) ||
		    (m->u.u64 & ~(uint64_t)(VU_VRING_IDX_MASK | VU_VRING_NOFD)))
			return 1;
		int f = m->nfds ? m->fds[0] : -1;
		m->nfds = 0;
		if (m->req == VU_SET_VRING_CALL) {
			pthread_mutex_lock(&q->call_lock);
			if (q->callfd >= 0)
				close(q->callfd);
			q->callfd = f;
			pthread_mutex_unlock(&q->call_lock);
			return 0;
		}
		if (m->req == VU_SET_VRING_ERR) {
			pthread_mutex_lock(&q->call_lock); /* the queue thread signals it */
			if (q->errfd >= 0)
				close(q->errfd);
			q->errfd = f;
			pthread_mutex_unlock(&q->call_lock);
			return 0;
		}
		queue_stop(q);
		if (q->kickfd >= 0)
			close(q->kickfd);
		q->kickfd = f;
		if (f < 0)
			return 1; /* polling mode without a kick fd is not offered */
		if (!has(S.features, VHOST_USER_F_PROTOCOL_FEATURES))
			q->enabled = true;
		return queue_try_start(q) ? 1 : 0;
	}
	case VU_SET_VRING_ENABLE:
		if (!(q = queue_of(m->u.state.index)) || m->u.state.num > 1)
			return 1;
		q->enabled = m->u.state.num;
		if (!q->enabled) {
			queue_stop(q);
			return 0;
		}
		return queue_try_start(q) ? 1 : 0;
	case VU_GET_CONFIG: {
		uint32_t off = m->u.cfg.offset, sz = m->u.cfg.size;
		if (sz > sizeof(m->u.cfg.data) || m->size < 12 + sz || off > 256 ||
		    off + sz > 256)
			return 1;
		uint8_t cfg[256] = {0};
		put_le(cfg + 0, S.capacity / 512, 8);
		put_le(cfg + 12, S.queue_size - 2, 4); /* seg_max */
		put_le(cfg + 20, 512, 4);             /* blk_size */
		put_le(cfg + 34, S.nqueues, 2);       /* num_queues */
		memcpy(m->u.cfg.data, cfg + off, sz);
		send_reply(fd, m, &m->u.cfg, 12 + sz);
		return 2;
	}
	case VU_SET_CONFIG:
		return 1; /* nothing in the config is writable */
	case VU_SET_BACKEND_REQ_FD:
		pthread_mutex_lock(&S.backend_lock);
		if (S.backend_fd >= 0)
			close(S.backend_fd);
		S.backend_fd = m->fds[0];
		m->nfds = 0;
		pthread_mutex_unlock(&S.backend_lock);
		return 0;
	case VU_IOTLB_MSG: {
		struct vu_iotlb t;
		memcpy(&t, m->u.raw, sizeof(t));
		if (!S.iommu)
			return 1;
		int e;
		if (t.type == VHOST_IOTLB_UPDATE) {
			e = tlb_update(&t);
			if (e) {
				atomic_fetch_add(&S.c.iotlb_refused, 1);
				count_refusal(e);
				return 1;
			}
			atomic_fetch_add(&S.c.iotlb_updates, 1);
			for (unsigned i = 0; i < S.nqueues; i++) {
				uint64_t one = 1;
				if (S.q[i].start_pending && queue_try_start(&S.q[i]) != 0)
					fprintf(stderr, "queue %u: rings refused\n", i);
				/* Only a thread waiting for a miss's answer is woken,
				 * once the update completes what it asked for
				 * (rings_changed wakes those whose rings came back):
				 * a strict guest sends updates for every request. Its
				 * miss range is fixed while it waits. */
				struct queue *w = &S.q[i];
				if (w->running && atomic_load(&w->awaiting_update) &&
				    t.iova < w->miss_end && w->miss_iova < t.iova + t.size &&
				    missing_pages_locked(w, NULL) == 0 &&
				    write(w->iotlbfd, &one, 8) != 8)
					perror("iotlb event");
			}
			return 0;
		}
		if (t.type == VHOST_IOTLB_INVALIDATE) {
			atomic_fetch_add(&S.c.iotlb_invals, 1);
			return tlb_invalidate(t.iova, t.size) ? 1 : 0;
		}
		return 1;
	}
	default:
		return 1;
	}
}

/* The answer of a REM_MEM_REG whose removal waited: 0 or 1 as handle's. */
static int removal_answer(void)
{
	int result = removal_wait();
	S.rm.reply_pending = false;
	return removal_finish(S.rm.m, result) ? 1 : 0;
}

/* Acknowledges a handled message as the protocol asks: an ack when
 * REPLY_ACK was negotiated and the front-end asked; without one a failure
 * closes the connection. Returns -1 when the connection must close. */
static int answer(int fd, const struct msg *m, int rc)
{
	if (rc == 1)
		atomic_fetch_add(&S.c.bad_messages, 1);
	if (has(S.proto_features, VU_PF_REPLY_ACK) && (m->flags & VU_FLAG_NEED_REPLY))
		return reply_u64(fd, m, rc ? 1 : 0) != 0 ? -1 : 0;
	if (rc == 1) {
		fprintf(stderr, "message %u refused: closing the connection\n", m->req);
		return -1;
	}
	return 0;
}

static void disconnect(void)
{
	for (unsigned i = 0; i < S.nqueues; i++)
		queue_reset(&S.q[i]);
	/* The queues are stopped: no request pins anything now, so a removal
	 * still waiting has run. */
	if (S.rm.reply_pending)
		removal_answer();
	tlb_invalidate(0, 0);
	pthread_mutex_lock(&S.backend_lock);
	if (S.backend_fd >= 0)
		close(S.backend_fd);
	S.backend_fd = -1;
	pthread_mutex_unlock(&S.backend_lock);
	S.iommu = false;
	for (unsigned s = 0; s < MAX_SLOTS; s++)
		if (S.regs[s].used && remove_region(&S.regs[s]) != 0)
			fprintf(stderr, "region 0x%" PRIx64 " still held\n", S.regs[s].r.gpa);
	S.features = S.proto_features = 0;
	S.owner = false;
}

static void serve_conn(int fd)
{
	static struct msg m;
	atomic_fetch_add(&S.c.connections, 1);
	while (!g_stop) {
		/* While a REM_MEM_REG waits for requests, the loop keeps running
		 * (signals, a hang-up, the removal's event) but reads no further
		 * message: answers go out in the order of the requests. */
		struct pollfd p[3] = {{.fd = fd, .events = S.rm.reply_pending ? 0 : POLLIN},
				      {.fd = S.sigpipe[0], .events = POLLIN},
				      {.fd = S.rmfd, .events = POLLIN}};
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (S.rm.reply_pending) {
			if (p[0].revents & (POLLHUP | POLLERR))
				break;
			if (!(p[2].revents & POLLIN) || !atomic_load(&S.rm.fired))
				continue;
			struct msg hdr = {.req = S.rm.req, .flags = S.rm.flags};
			if (answer(fd, &hdr, removal_answer()) != 0)
				break;
			continue;
		}
		if (p[2].revents & POLLIN) {
			uint64_t v; /* a stale removal event: nothing waits for it */
			if (read(S.rmfd, &v, 8) != 8)
				v = 0;
		}
		if (!(p[0].revents))
			continue;
		if (recv_msg(fd, &m) != 0)
			break;
		int rc = handle(fd, &m);
		close_fds(&m);
		if (rc == 2 || rc == 3)
			continue;
		if (answer(fd, &m, rc) != 0)
			break;
	}
	disconnect();
	close(fd);
}

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
	char c = 1;
	if (write(S.sigpipe[1], &c, 1) < 0) {
		/* nothing to do: the flag is set */
	}
}

static void print_counters(void)
{
	fprintf(stderr,
		"counters: connections %" PRIu64 " requests %" PRIu64 " reads %" PRIu64
		" writes %" PRIu64 " flushes %" PRIu64 " get_id %" PRIu64 " unsupported %" PRIu64
		" ioerr %" PRIu64 " bytes_read %" PRIu64 " bytes_written %" PRIu64 "\n",
		S.c.connections, S.c.requests, S.c.reads, S.c.writes, S.c.flushes, S.c.get_ids,
		S.c.unsupported, S.c.ioerr, S.c.bytes_read, S.c.bytes_written);
	fprintf(stderr,
		"notifications: kicks %" PRIu64 " calls %" PRIu64 " calls_suppressed %" PRIu64
		" polls %" PRIu64 " broken_queues %" PRIu64 " err_signals %" PRIu64
		" bad_messages %" PRIu64 "\n",
		S.c.kicks, S.c.calls, S.c.calls_suppressed, S.c.polls, S.c.broken_queues,
		S.c.err_signals, S.c.bad_messages);
	fprintf(stderr,
		"iotlb: updates %" PRIu64 " invalidations %" PRIu64 " misses %" PRIu64
		" refused %" PRIu64 " miss_timeouts %" PRIu64 "\n",
		S.c.iotlb_updates, S.c.iotlb_invals, S.c.iotlb_misses, S.c.iotlb_refused,
		S.c.miss_timeouts);
	fprintf(stderr, "refusals:");
	for (int i = 0; i < NERR; i++)
		if (S.c.refused[i])
			fprintf(stderr, " %s %" PRIu64, i ? iovirt_err_name(-i) : "other",
				(uint64_t)S.c.refused[i]);
	fprintf(stderr, "\n");
}

static void usage(void)
{
	fprintf(stderr, "usage: iovirt-vhost-user-blk --socket PATH --file PATH [--read-only] "
			"[--queues N] [--queue-size N]\n");
	exit(2);
}

static int vub_init(void)
{
	struct iovirt_gmap_params gp = {.size = sizeof(gp), .guest = GUEST_ID,
					.max_regions = MAX_SLOTS};
	if (iovirt_gmap_create(&g_ops, NULL, &gp, &S.map) != 0)
		return 1;
	/* Writers (removal, invalidation of a ring) must not starve behind
	 * queue threads that take the read lock batch after batch. */
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&S.map_lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	/* Queue threads translate beside the message thread's maps and
	 * unmaps: deferred reclaim (pt_reclaim waits out the readers). */
	struct iovirt_iommu_params pp = {.size = sizeof(pp), .format = IOVIRT_PT_FMT_VTD_SL,
					 .reclaim = IOVIRT_RECLAIM_DEFERRED};
	struct iovirt_space_params sp = {.size = sizeof(sp), .width = 48,
					 .pgsizes = IOVIRT_PAGE_4K | IOVIRT_PAGE_2M};
	if (iovirt_iommu_create(&g_ops, NULL, &pp, &S.pt) != 0 ||
	    iovirt_pt_space_create(S.pt, ASID, &sp) != 0)
		return 1;
	struct iovirt_pin_params pinp = {.size = sizeof(pinp), .max_handles = 2 * MAX_QUEUES,
					 .max_segs = MAX_HOST_SEGS};
	if (iovirt_pin_domain_create(&g_ops, NULL, S.map, &pinp, &S.dom) != 0)
		return 1;
	pthread_mutex_init(&S.dom_lock, NULL);
	S.rmfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	S.stall_sector = UINT64_MAX;
	S.backend_fd = -1;
	pthread_mutex_init(&S.backend_lock, NULL);
	for (unsigned i = 0; i < MAX_QUEUES; i++) {
		S.q[i].idx = i;
		S.q[i].kickfd = S.q[i].callfd = S.q[i].errfd = -1;
		pthread_mutex_init(&S.q[i].call_lock, NULL);
		S.q[i].stopfd = eventfd(0, EFD_CLOEXEC);
		S.q[i].iotlbfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	}
	if (pipe(S.sigpipe) != 0)
		return 1;
	return 0;
}

#ifndef VUB_NO_MAIN
int main(int argc, char **argv)
{
	S.nqueues = 1;
	S.queue_size = 256;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			S.sock_path = argv[++i];
		else if (!strcmp(argv[i], "--file") && i + 1 < argc)
			S.file_path = argv[++i];
		else if (!strcmp(argv[i], "--read-only"))
			S.read_only = true;
		else if (!strcmp(argv[i], "--queues") && i + 1 < argc)
			S.nqueues = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--queue-size") && i + 1 < argc)
			S.queue_size = (uint32_t)atoi(argv[++i]);
		else
			usage();
	}
	if (!S.sock_path || !S.file_path || S.nqueues < 1 || S.nqueues > MAX_QUEUES ||
	    S.queue_size < 4 || S.queue_size > 1024 || (S.queue_size & (S.queue_size - 1)))
		usage();
	S.disk_fd = open(S.file_path, S.read_only ? O_RDONLY : O_RDWR);
	struct stat st;
	if (S.disk_fd < 0 || fstat(S.disk_fd, &st) != 0) {
		perror(S.file_path);
		return 1;
	}
	if (st.st_size % 512) {
		fprintf(stderr, "%s: size not a multiple of 512\n", S.file_path);
		return 1;
	}
	S.capacity = (uint64_t)st.st_size;
	if (vub_init() != 0)
		return 1;
	const char *stall = getenv("VUB_TEST_STALL_SECTOR");
	if (stall)
		S.stall_sector = strtoull(stall, NULL, 0);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(S.sock_path) >= sizeof(sun.sun_path))
		usage();
	strcpy(sun.sun_path, S.sock_path);
	unlink(S.sock_path);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(ls, 1) != 0) {
		perror(S.sock_path);
		return 1;
	}
	fprintf(stderr, "listening on %s\n", S.sock_path);
	while (!g_stop) {
		struct pollfd p[2] = {{.fd = ls, .events = POLLIN},
				      {.fd = S.sigpipe[0], .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		serve_conn(c);
	}
	close(ls);
	unlink(S.sock_path);
	print_counters();
	iovirt_pin_domain_destroy(S.dom);
	iovirt_gmap_reclaim(S.map);
	iovirt_gmap_destroy(S.map);
	iovirt_iommu_destroy(S.pt);
	return 0;
}
#endif
