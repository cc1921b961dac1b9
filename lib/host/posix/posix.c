/* SPDX-License-Identifier: MIT */
/* The POSIX host adapter: see include/iovirt/posix.h. */
#define _POSIX_C_SOURCE 200809L
#include "iovirt/posix.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifdef IOVIRT_USE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#define MAX_GUEST_RANGES 256
#define MAX_DEVS 64
#define TABLE_PAGE 4096u
/* Table pages kept for reuse (see pool_put): 4 MiB, a 1 GiB unmap's 513. */
#define POOL_PAGES 1024u

#if defined(__SANITIZE_ADDRESS__)
#define POSIX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POSIX_ASAN 1
#endif
#endif
#ifdef POSIX_ASAN
#include <sanitizer/asan_interface.h>
#endif

struct guest_range {
	uint32_t guest;
	uint64_t gpa;
	uint8_t *hva;
	size_t len;
};

struct dev_regs {
	uint32_t dev;
	uint8_t *regs;
	size_t len;
};

struct iovirt_posix {
	_Atomic uint64_t count[IOVIRT_CB_COUNT_];
	_Atomic int64_t live_mem;
	_Atomic int64_t live_tables;
	_Atomic int64_t pinned_pages;
	_Atomic uint64_t alloc_seq, fail_alloc_at;
	_Atomic uint64_t pin_seq, fail_pin_at;
	_Atomic bool fired;
	_Atomic bool log_on;

	pthread_mutex_t lock; /* log, guest ranges, devices */
	struct iovirt_posix_event *log;
	size_t log_cap, log_head, log_len;

	struct guest_range guests[MAX_GUEST_RANGES];
	size_t nguests;
	struct dev_regs devs[MAX_DEVS];
	size_t ndevs;

	iovirt_posix_read_hook read_hook;
	void *read_hook_arg;
	/* Freed table pages, for table_alloc to hand out again (zeroed then):
	 * a page freed through jemalloc is a large extent, and a burst of them
	 * (a dropped subtree: 513 pages for 1 GiB) overflows its thread cache
	 * into the arena, ~840 instructions a page; a push here is ~60. */
	pthread_mutex_t pool_lock;
	uint32_t npool;
	void *pool[POOL_PAGES];
};

/* ---- raw memory: jemalloc or libc, by build option ---- */

static void *raw_alloc(size_t size, size_t align)
{
	if (align < sizeof(void *))
		align = sizeof(void *);
#ifdef IOVIRT_USE_JEMALLOC
	return mallocx(size ? size : 1, MALLOCX_LG_ALIGN(__builtin_ctzl(align)) | MALLOCX_ZERO);
#else
	size_t rounded = (size + align - 1) & ~(align - 1);
	void *p = aligned_alloc(align, rounded ? rounded : align);
	if (p)
		memset(p, 0, size);
	return p;
#endif
}

static void raw_free(void *ptr, size_t size)
{
#ifdef IOVIRT_USE_JEMALLOC
	/* dallocx, not sdallocx: the caller's size says nothing of the alignment
	 * the block was made with, and a sized free with the wrong class would
	 * corrupt jemalloc's heap (24 bytes aligned to 64, for example). */
	(void)size;
	if (ptr)
		dallocx(ptr, 0);
#else
	(void)size;
	free(ptr);
#endif
}

/* ---- the table page pool ---- */

/* Takes a page from the pool, or NULL. Not zeroed yet. */
static void *pool_take(struct iovirt_posix *p)
{
	void *m = NULL;
	pthread_mutex_lock(&p->pool_lock);
	if (p->npool)
		m = p->pool[--p->npool];
	pthread_mutex_unlock(&p->pool_lock);
#ifdef POSIX_ASAN
	if (m)
		ASAN_UNPOISON_MEMORY_REGION(m, TABLE_PAGE);
#endif
	return m;
}

/* Keeps page if there is room. Under ASan the page is poisoned while it waits,
 * so a use after the library's free is still reported as with free(). */
static bool pool_put(struct iovirt_posix *p, void *page)
{
	bool kept = false;
	pthread_mutex_lock(&p->pool_lock);
	if (p->npool < POOL_PAGES) {
		p->pool[p->npool++] = page;
		kept = true;
#ifdef POSIX_ASAN
		ASAN_POISON_MEMORY_REGION(page, TABLE_PAGE);
#endif
	}
	pthread_mutex_unlock(&p->pool_lock);
	return kept;
}

/* ---- counting, logging, failure injection ---- */

static void log_event(struct iovirt_posix *p, uint32_t cb, uint32_t id,
		      uint64_t a, uint64_t b, uint64_t c, int result)
{
	atomic_fetch_add_explicit(&p->count[cb], 1, memory_order_relaxed);
	if (!atomic_load_explicit(&p->log_on, memory_order_relaxed))
		return; /* no lock on the hot path when nobody reads the log */
	pthread_mutex_lock(&p->lock);
	if (p->log_cap) {
		struct iovirt_posix_event *e = &p->log[(p->log_head + p->log_len) % p->log_cap];
		if (p->log_len == p->log_cap)
			p->log_head = (p->log_head + 1) % p->log_cap;
		else
			p->log_len++;
		*e = (struct iovirt_posix_event){ cb, id, a, b, c, result };
	}
	pthread_mutex_unlock(&p->lock);
}

/* True when this call is the injected failure. */
static bool inject(struct iovirt_posix *p, _Atomic uint64_t *seq, _Atomic uint64_t *at)
{
	uint64_t n = atomic_fetch_add_explicit(seq, 1, memory_order_relaxed) + 1;
	uint64_t f = atomic_load_explicit(at, memory_order_relaxed);
	if (f && n == f) {
		atomic_store(&p->fired, true);
		return true;
	}
	return false;
}

/* ---- the callbacks ---- */

static void *cb_mem_alloc(void *host, size_t size, size_t align)
{
	struct iovirt_posix *p = host;
	void *m = NULL;
	if (!inject(p, &p->alloc_seq, &p->fail_alloc_at))
		m = raw_alloc(size, align);
	if (m)
		atomic_fetch_add(&p->live_mem, (int64_t)size);
	log_event(p, IOVIRT_CB_MEM_ALLOC, 0, (uintptr_t)m, size, align, m ? 0 : -1);
	return m;
}

static void cb_mem_free(void *host, void *ptr, size_t size)
{
	struct iovirt_posix *p = host;
	log_event(p, IOVIRT_CB_MEM_FREE, 0, (uintptr_t)ptr, size, 0, 0);
	if (ptr)
		atomic_fetch_sub(&p->live_mem, (int64_t)size);
	raw_free(ptr, size);
}

static void *cb_table_alloc(void *host, uint64_t *pa)
{
	struct iovirt_posix *p = host;
	void *m = NULL;
	if (!inject(p, &p->alloc_seq, &p->fail_alloc_at)) {
		m = pool_take(p);
		if (m)
			memset(m, 0, TABLE_PAGE);
		else
			m = raw_alloc(TABLE_PAGE, TABLE_PAGE);
	}
	if (m) {
		*pa = (uint64_t)(uintptr_t)m + IOVIRT_POSIX_PA_OFFSET;
		atomic_fetch_add(&p->live_tables, 1);
	}
	log_event(p, IOVIRT_CB_TABLE_ALLOC, 0, (uintptr_t)m, m ? *pa : 0, 0, m ? 0 : -1);
	return m;
}

static void cb_table_free(void *host, void *page, uint64_t pa)
{
	struct iovirt_posix *p = host;
	log_event(p, IOVIRT_CB_TABLE_FREE, 0, (uintptr_t)page, pa, 0, 0);
	atomic_fetch_sub(&p->live_tables, 1);
	if (!page || !pool_put(p, page))
		raw_free(page, TABLE_PAGE);
}

/* A block counts as one table allocation (live_tables, failure injection). */
static void *cb_table_block_alloc(void *host, size_t bytes, uint64_t *pa)
{
	struct iovirt_posix *p = host;
	void *m = NULL;
	if (bytes >= TABLE_PAGE && !(bytes & (bytes - 1)) && !inject(p, &p->alloc_seq, &p->fail_alloc_at))
		m = raw_alloc(bytes, bytes);
	if (m) {
		*pa = (uint64_t)(uintptr_t)m + IOVIRT_POSIX_PA_OFFSET; /* the offset keeps the alignment */
		atomic_fetch_add(&p->live_tables, 1);
	}
	log_event(p, IOVIRT_CB_TABLE_ALLOC, 0, (uintptr_t)m, m ? *pa : 0, bytes, m ? 0 : -1);
	return m;
}

static void cb_table_block_free(void *host, void *block, uint64_t pa, size_t bytes)
{
	struct iovirt_posix *p = host;
	log_event(p, IOVIRT_CB_TABLE_FREE, 0, (uintptr_t)block, pa, bytes, 0);
	atomic_fetch_sub(&p->live_tables, 1);
	raw_free(block, bytes);
}

static void cb_iotlb_inval(void *host, const struct iovirt_inval *inv)
{
	struct iovirt_posix *p = host;
	log_event(p, IOVIRT_CB_IOTLB_INVAL, inv->asid, inv->iova, inv->size,
		  inv->kind | (uint64_t)inv->leaf_only << 8, 0);
}

static void cb_devtlb_inval(void *host, uint16_t rid, const struct iovirt_inval *inv)
{
	struct iovirt_posix *p = host;
	log_event(p, IOVIRT_CB_DEVTLB_INVAL, rid, inv->iova, inv->size,
		  inv->kind | (uint64_t)inv->asid << 8, 0);
}

/* Finds the backing of [gpa, gpa + len) of guest; NULL when any byte is not backed by one range. */
static uint8_t *guest_find(struct iovirt_posix *p, uint32_t guest, uint64_t gpa, size_t len)
{
	uint8_t *r = NULL;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->nguests; i++) {
		struct guest_range *g = &p->guests[i];
		if (g->guest == guest && gpa >= g->gpa && gpa - g->gpa <= g->len &&
		    len <= g->len - (gpa - g->gpa)) {
			r = g->hva + (gpa - g->gpa);
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

/*
 * Guest memory to a private buffer and back. A naturally aligned field of 2,
 * 4 or 8 bytes moves with one load or store of its width, as the host
 * contract asks: the guest changes ring indices while they are read, and
 * memcpy may read the two bytes of a 16-bit index with two loads (glibc does
 * for sizes 2-3), tearing 0x12ff -> 0x1300 into 0x13ff.
 */
#define GUEST_WIDTHS(X) X(2, uint16_t) X(4, uint32_t) X(8, uint64_t)

static void guest_load(void *dst, const uint8_t *guest, size_t len)
{
#define LOAD(n, T)                                                                 \
	if (len == n && !((uintptr_t)guest & (n - 1))) {                           \
		T v = __atomic_load_n((const T *)(const void *)guest, __ATOMIC_RELAXED); \
		memcpy(dst, &v, n);                                                \
		return;                                                            \
	}
	GUEST_WIDTHS(LOAD)
#undef LOAD
	memcpy(dst, guest, len);
}

static void guest_store(uint8_t *guest, const void *src, size_t len)
{
#define STORE(n, T)                                                      \
	if (len == n && !((uintptr_t)guest & (n - 1))) {                 \
		T v;                                                     \
		memcpy(&v, src, n);                                      \
		__atomic_store_n((T *)(void *)guest, v, __ATOMIC_RELAXED); \
		return;                                                  \
	}
	GUEST_WIDTHS(STORE)
#undef STORE
	memcpy(guest, src, len);
}

static int cb_guest_read(void *host, uint32_t guest, uint64_t gpa, void *dst, size_t len)
{
	struct iovirt_posix *p = host;
	uint8_t *src = guest_find(p, guest, gpa, len);
	if (src)
		guest_load(dst, src, len);
	log_event(p, IOVIRT_CB_GUEST_READ, guest, gpa, len, 0, src ? 0 : -1);
	if (src && p->read_hook)
		p->read_hook(p->read_hook_arg, guest, gpa, len);
	return src ? 0 : -1;
}

static int cb_guest_write(void *host, uint32_t guest, uint64_t gpa, const void *src, size_t len)
{
	struct iovirt_posix *p = host;
	uint8_t *dst = guest_find(p, guest, gpa, len);
	if (dst)
		guest_store(dst, src, len);
	log_event(p, IOVIRT_CB_GUEST_WRITE, guest, gpa, len, 0, dst ? 0 : -1);
	return dst ? 0 : -1;
}

static int cb_pin(void *host, uint32_t guest, uint64_t gpa, uint64_t npages)
{
	struct iovirt_posix *p = host;
	int r = inject(p, &p->pin_seq, &p->fail_pin_at) ? -1 : 0;
	if (!r)
		atomic_fetch_add(&p->pinned_pages, (int64_t)npages);
	log_event(p, IOVIRT_CB_PIN, guest, gpa, npages, 0, r);
	return r;
}

static void cb_unpin(void *host, uint32_t guest, uint64_t gpa, uint64_t npages)
{
	struct iovirt_posix *p = host;
	atomic_fetch_sub(&p->pinned_pages, (int64_t)npages);
	log_event(p, IOVIRT_CB_UNPIN, guest, gpa, npages, 0, 0);
}

/* One cb_pin per run, stopping at the first failure: the same injected
 * failures, counts and log as calls one by one. */
static uint32_t cb_pin_runs(void *host, uint32_t guest, const struct iovirt_page_run *runs,
			    uint32_t n)
{
	uint32_t i = 0;
	while (i < n && cb_pin(host, guest, runs[i].gpa, runs[i].npages) == 0)
		i++;
	return i;
}

static void cb_unpin_runs(void *host, uint32_t guest, const struct iovirt_page_run *runs,
			  uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		cb_unpin(host, guest, runs[i].gpa, runs[i].npages);
}

static uint8_t *dev_find(struct iovirt_posix *p, uint32_t dev, uint64_t off, unsigned width)
{
	uint8_t *r = NULL;
	if (width != 1 && width != 2 && width != 4 && width != 8)
		return NULL;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->ndevs; i++)
		if (p->devs[i].dev == dev && off < p->devs[i].len &&
		    width <= p->devs[i].len - off) {
			r = p->devs[i].regs + off;
			break;
		}
	pthread_mutex_unlock(&p->lock);
	return r;
}

static int cb_reg_read(void *host, uint32_t dev, uint64_t offset, unsigned width, uint64_t *val)
{
	struct iovirt_posix *p = host;
	uint8_t *r = dev_find(p, dev, offset, width);
	uint64_t v = 0;
	if (r)
		memcpy(&v, r, width); /* little-endian host */
	*val = v;
	log_event(p, IOVIRT_CB_REG_READ, dev, offset, v, width, r ? 0 : -1);
	return r ? 0 : -1;
}

static int cb_reg_write(void *host, uint32_t dev, uint64_t offset, unsigned width, uint64_t val)
{
	struct iovirt_posix *p = host;
	uint8_t *r = dev_find(p, dev, offset, width);
	if (r)
		memcpy(r, &val, width);
	log_event(p, IOVIRT_CB_REG_WRITE, dev, offset, val, width, r ? 0 : -1);
	return r ? 0 : -1;
}

static const struct iovirt_host_ops posix_ops = {
	.size = sizeof(struct iovirt_host_ops),
	.mem_alloc = cb_mem_alloc,
	.mem_free = cb_mem_free,
	.table_alloc = cb_table_alloc,
	.table_free = cb_table_free,
	.iotlb_inval = cb_iotlb_inval,
	.guest_read = cb_guest_read,
	.guest_write = cb_guest_write,
	.pin = cb_pin,
	.unpin = cb_unpin,
	.reg_read = cb_reg_read,
	.reg_write = cb_reg_write,
	.devtlb_inval = cb_devtlb_inval,
	.table_block_alloc = cb_table_block_alloc,
	.table_block_free = cb_table_block_free,
	.pin_runs = cb_pin_runs,
	.unpin_runs = cb_unpin_runs,
};

/* ---- public API ---- */

const struct iovirt_host_ops *iovirt_posix_ops(void)
{
	return &posix_ops;
}

struct iovirt_posix *iovirt_posix_create(void)
{
	struct iovirt_posix *p = raw_alloc(sizeof(*p), _Alignof(struct iovirt_posix));
	if (!p)
		return NULL;
	if (pthread_mutex_init(&p->lock, NULL)) {
		raw_free(p, sizeof(*p));
		return NULL;
	}
	if (pthread_mutex_init(&p->pool_lock, NULL)) {
		pthread_mutex_destroy(&p->lock);
		raw_free(p, sizeof(*p));
		return NULL;
	}
	return p;
}

void iovirt_posix_destroy(struct iovirt_posix *p)
{
	if (!p)
		return;
	raw_free(p->log, p->log_cap * sizeof(*p->log));
	while (p->npool) {
		void *m = p->pool[--p->npool];
#ifdef POSIX_ASAN
		ASAN_UNPOISON_MEMORY_REGION(m, TABLE_PAGE);
#endif
		raw_free(m, TABLE_PAGE);
	}
	pthread_mutex_destroy(&p->pool_lock);
	pthread_mutex_destroy(&p->lock);
	raw_free(p, sizeof(*p));
}

uint64_t iovirt_posix_count(const struct iovirt_posix *p, enum iovirt_posix_cb cb)
{
	if ((unsigned)cb >= IOVIRT_CB_COUNT_)
		return 0;
	return atomic_load(&((struct iovirt_posix *)p)->count[cb]);
}

int64_t iovirt_posix_live_mem(const struct iovirt_posix *p)
{
	return atomic_load(&((struct iovirt_posix *)p)->live_mem);
}

int64_t iovirt_posix_live_tables(const struct iovirt_posix *p)
{
	return atomic_load(&((struct iovirt_posix *)p)->live_tables);
}

int64_t iovirt_posix_pinned_pages(const struct iovirt_posix *p)
{
	return atomic_load(&((struct iovirt_posix *)p)->pinned_pages);
}

void iovirt_posix_fail_alloc_at(struct iovirt_posix *p, uint64_t n)
{
	atomic_store(&p->alloc_seq, 0);
	atomic_store(&p->fired, false);
	atomic_store(&p->fail_alloc_at, n);
}

void iovirt_posix_fail_pin_at(struct iovirt_posix *p, uint64_t n)
{
	atomic_store(&p->pin_seq, 0);
	atomic_store(&p->fired, false);
	atomic_store(&p->fail_pin_at, n);
}

bool iovirt_posix_fail_fired(const struct iovirt_posix *p)
{
	return atomic_load(&((struct iovirt_posix *)p)->fired);
}

int iovirt_posix_log_enable(struct iovirt_posix *p, size_t capacity)
{
	struct iovirt_posix_event *log = NULL;
	if (capacity) {
		log = raw_alloc(capacity * sizeof(*log), _Alignof(struct iovirt_posix_event));
		if (!log)
			return -1;
	}
	pthread_mutex_lock(&p->lock);
	struct iovirt_posix_event *old = p->log;
	size_t old_cap = p->log_cap;
	p->log = log;
	p->log_cap = capacity;
	p->log_head = p->log_len = 0;
	atomic_store(&p->log_on, capacity != 0);
	pthread_mutex_unlock(&p->lock);
	raw_free(old, old_cap * sizeof(*old));
	return 0;
}

size_t iovirt_posix_log_read(const struct iovirt_posix *cp, struct iovirt_posix_event *out, size_t max)
{
	struct iovirt_posix *p = (struct iovirt_posix *)cp;
	size_t n = 0;
	pthread_mutex_lock(&p->lock);
	for (; n < max && n < p->log_len; n++)
		out[n] = p->log[(p->log_head + n) % p->log_cap];
	pthread_mutex_unlock(&p->lock);
	return n;
}

void iovirt_posix_log_clear(struct iovirt_posix *p)
{
	pthread_mutex_lock(&p->lock);
	p->log_head = p->log_len = 0;
	pthread_mutex_unlock(&p->lock);
}

int iovirt_posix_guest_add(struct iovirt_posix *p, uint32_t guest, uint64_t gpa, void *hva, size_t len)
{
	uint64_t last;
	/* a range may end at 2^64: only its last byte must be representable */
	if (!hva || !len || __builtin_add_overflow(gpa, (uint64_t)len - 1, &last))
		return -1;
	int r = -1;
	pthread_mutex_lock(&p->lock);
	if (p->nguests < MAX_GUEST_RANGES) {
		p->guests[p->nguests++] = (struct guest_range){ guest, gpa, hva, len };
		r = 0;
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

void iovirt_posix_set_read_hook(struct iovirt_posix *p, iovirt_posix_read_hook hook, void *arg)
{
	pthread_mutex_lock(&p->lock);
	p->read_hook = hook;
	p->read_hook_arg = arg;
	pthread_mutex_unlock(&p->lock);
}

int iovirt_posix_dev_add(struct iovirt_posix *p, uint32_t dev, void *regs, size_t len)
{
	int r = -1;
	if (!regs || !len)
		return -1;
	pthread_mutex_lock(&p->lock);
	if (p->ndevs < MAX_DEVS) {
		p->devs[p->ndevs++] = (struct dev_regs){ dev, regs, len };
		r = 0;
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}
