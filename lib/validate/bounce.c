/* SPDX-License-Identifier: MIT */
/*
 * Bounce pool: fixed buffers allocated at create, handed out by a lock-free
 * stack whose head carries a tag against ABA.
 *
 * An id is (use << index_bits) | index, where use counts the holds of that
 * buffer modulo 2^(31 - index_bits). Each buffer's word is 2 * id + 1 while
 * held under id and 2 * id + 2 once put: get and put each move it by one, so
 * an id stops working at its put, and the next get hands out
 * id + 2^index_bits (mod 2^31), the same index one use on. The word a put
 * expects follows from the id alone: put is a single compare-and-swap.
 */
#include <string.h>

#include "common/check.h"
#include "validate/internal.h"

#define BUF_ALIGN 64
#define MAX_BUFS (UINT32_C(1) << 24)
#define MAX_BUF_SIZE ((size_t)1 << 30)

/* Per buffer; side by side so a get touches one cache line for both. */
struct slot {
	_Atomic uint32_t next; /* free-list link (+1 encoded, 0: end) */
	_Atomic uint32_t word; /* 2 * id + 1 while held (see above) */
};

struct iovirt_bounce {
	const struct iovirt_host_ops *ops;
	void *host;
	uint32_t nbufs;
	uint32_t index_mask; /* (1 << index_bits) - 1: the bits of an id that name the buffer */
	uint32_t step;       /* 1 << index_bits: one use on */
	size_t buf_size, stride;
	uint8_t *mem;
	/* head: low 32 bits = top buffer + 1 (0: empty), high 32 bits = tag */
	_Atomic uint64_t head;
	struct slot *slot;
	size_t meta_bytes;
};

/*
 * Pools created in this process. A pool's buffers start at a use count drawn
 * from it, so a pool created where a destroyed one lived does not take the
 * old pool's ids. The only process-wide state of the core (docs/validate.md).
 */
static _Atomic uint32_t pools_created;

/* Bits that name indices 0 .. n - 1 (0 for n = 1). */
static uint32_t index_bits_for(uint32_t n)
{
	uint32_t b = 0;
	while (b < 32 && (UINT64_C(1) << b) < n)
		b++;
	return b;
}

/*
 * The first use count of a new pool's buffers: the pool counter times
 * 2^32 / golden ratio, top 31 - index_bits bits kept (Fibonacci hashing).
 * Consecutive pools land far apart in the use space, about as far as any
 * sequence can keep them (three-distance theorem): any 10,000 pools created
 * in a row start at least 35,911 holds apart with 4 buffers (29 use bits),
 * 561 with 256 (23 use bits).
 */
static uint32_t first_use(uint32_t index_bits)
{
	uint32_t n = atomic_fetch_add_explicit(&pools_created, 1, memory_order_relaxed);
	return (n * UINT32_C(0x9E3779B9)) >> (1 + index_bits);
}

/* Ids are 31-bit; words are 2 * id + 1 (held) or 2 * id + 2 (put). */
#define ID_MASK UINT32_C(0x7fffffff)
static uint32_t held_word(uint32_t id)
{
	return 2 * id + 1;
}
static uint32_t free_word(uint32_t id)
{
	return 2 * (id & ID_MASK) + 2;
}

int iovirt_bounce_create(const struct iovirt_host_ops *ops, void *host,
			 const struct iovirt_bounce_params *p, struct iovirt_bounce **out)
{
	uint64_t bytes;
	if (!ops || !p || !out ||
	    !IOVIRT_PARAMS_HAS(p, buf_size) /* version 1 */ ||
	    p->nbufs == 0 || p->nbufs > MAX_BUFS || p->buf_size == 0 || p->buf_size > MAX_BUF_SIZE)
		return IOVIRT_EINVAL;
	if (!iovirt_host_ops_ok(ops))
		return IOVIRT_ENOSYS;
	size_t stride = (p->buf_size + BUF_ALIGN - 1) & ~(size_t)(BUF_ALIGN - 1);
	if (!iovirt_mul_ok(stride, p->nbufs, &bytes) || bytes > SIZE_MAX)
		return IOVIRT_EINVAL;
	struct iovirt_bounce *pool = ops->mem_alloc(host, sizeof(*pool), _Alignof(struct iovirt_bounce));
	if (!pool)
		return IOVIRT_ENOMEM;
	size_t meta = (size_t)p->nbufs * sizeof(struct slot);
	pool->mem = ops->mem_alloc(host, (size_t)bytes, BUF_ALIGN);
	pool->slot = pool->mem ? ops->mem_alloc(host, meta, _Alignof(struct slot)) : NULL;
	if (!pool->slot) {
		if (pool->mem)
			ops->mem_free(host, pool->mem, (size_t)bytes);
		ops->mem_free(host, pool, sizeof(*pool));
		return IOVIRT_ENOMEM;
	}
	pool->ops = ops;
	pool->host = host;
	pool->nbufs = p->nbufs;
	uint32_t bits = index_bits_for(p->nbufs);
	pool->index_mask = (UINT32_C(1) << bits) - 1;
	pool->step = UINT32_C(1) << bits;
	pool->buf_size = p->buf_size;
	pool->stride = stride;
	pool->meta_bytes = meta;
	/* each buffer free, as if put one use before its first hold (use = first) */
	uint32_t first = first_use(bits) << bits;
	for (uint32_t i = 0; i < p->nbufs; i++) {
		atomic_init(&pool->slot[i].next, i + 1 < p->nbufs ? i + 2 : 0);
		atomic_init(&pool->slot[i].word, free_word((first | i) - pool->step));
	}
	atomic_init(&pool->head, 1);
	*out = pool;
	return 0;
}

int iovirt_bounce_destroy(struct iovirt_bounce *pool)
{
	if (!pool)
		return 0;
	for (uint32_t i = 0; i < pool->nbufs; i++)
		if (atomic_load(&pool->slot[i].word) & 1)
			return IOVIRT_EBUSY;
	pool->ops->mem_free(pool->host, pool->slot, pool->meta_bytes);
	pool->ops->mem_free(pool->host, pool->mem, pool->stride * pool->nbufs);
	pool->ops->mem_free(pool->host, pool, sizeof(*pool));
	return 0;
}

int32_t iovirt_bounce_get(struct iovirt_bounce *pool)
{
	uint64_t h = atomic_load_explicit(&pool->head, memory_order_acquire);
	struct slot *s;
	uint32_t id;
	for (;;) {
		uint32_t top = (uint32_t)h;
		if (IOVIRT_UNLIKELY(!top))
			return IOVIRT_ENOBUF;
		s = &pool->slot[top - 1];
		uint32_t nx = atomic_load_explicit(&s->next, memory_order_relaxed);
		/* Read (and the id made) before the swap, off the path after it: a win
		 * means the head did not move since it was read (its tag), so the
		 * buffer stayed free and its word, which only get and a put of a held
		 * word change, stayed as read. The word is 2 * last id + 2. */
		uint32_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
		id = ((w >> 1) - 1 + pool->step) & ID_MASK;
		uint64_t nh = (((h >> 32) + 1) << 32) | nx;
		if (atomic_compare_exchange_weak_explicit(&pool->head, &h, nh, memory_order_acquire,
							  memory_order_acquire))
			break;
	}
	/* The popped buffer is ours alone: a plain store, no read-modify-write. */
	atomic_store_explicit(&s->word, held_word(id), memory_order_relaxed);
	return (int32_t)id;
}

/* The buffer index id names: 0; IOVIRT_EINVAL for a negative id or an index
 * the pool does not have. */
static int id_index(const struct iovirt_bounce *pool, int32_t id, uint32_t *idx)
{
	*idx = (uint32_t)id & pool->index_mask;
	return IOVIRT_UNLIKELY(id < 0 || *idx >= pool->nbufs) ? IOVIRT_EINVAL : 0;
}

/*
 * As id_index, and IOVIRT_ESTALE when id does not name the buffer's current
 * hold: the buffer is free or held under another use (an id already put,
 * another pool's id, an id never handed out).
 */
static int id_check(const struct iovirt_bounce *pool, int32_t id, uint32_t *idx)
{
	int err = id_index(pool, id, idx);
	if (err)
		return err;
	uint32_t w = atomic_load_explicit(&pool->slot[*idx].word, memory_order_relaxed);
	return IOVIRT_UNLIKELY(w != held_word((uint32_t)id)) ? IOVIRT_ESTALE : 0;
}

int iovirt_bounce_put(struct iovirt_bounce *pool, int32_t id)
{
	uint32_t i;
	int err = id_index(pool, id, &i);
	if (err)
		return err;
	/* one step: a stale id, or the loser of two racing puts, finds another word */
	uint32_t w = held_word((uint32_t)id);
	if (!atomic_compare_exchange_strong_explicit(&pool->slot[i].word, &w, w + 1,
						     memory_order_relaxed, memory_order_relaxed))
		return IOVIRT_ESTALE;
	uint64_t h = atomic_load_explicit(&pool->head, memory_order_relaxed);
	uint64_t nh;
	do {
		atomic_store_explicit(&pool->slot[i].next, (uint32_t)h, memory_order_relaxed);
		nh = (((h >> 32) + 1) << 32) | (i + 1);
	} while (!atomic_compare_exchange_weak_explicit(&pool->head, &h, nh, memory_order_release,
							memory_order_relaxed));
	return 0;
}

void *iovirt_bounce_data(const struct iovirt_bounce *pool, int32_t id)
{
	uint32_t i;
	if (id_check(pool, id, &i))
		return NULL;
	return pool->mem + (size_t)i * pool->stride;
}

size_t iovirt_bounce_buf_size(const struct iovirt_bounce *pool)
{
	return pool->buf_size;
}

int64_t iovirt_bounce_copy_in(struct iovirt_bounce *pool, int32_t id,
			      const struct iovirt_gmap *map,
			      const struct iovirt_host_seg *sg, uint32_t n)
{
	uint64_t total = 0;
	uint32_t idx;
	if (!pool || !map || (n && !sg))
		return IOVIRT_EINVAL;
	int err = id_check(pool, id, &idx);
	if (err)
		return err;
	for (uint32_t i = 0; i < n; i++)
		if ((sg[i].dir & IOVIRT_DEV_READ) &&
		    (!iovirt_add_ok(total, sg[i].len, &total) || total > pool->buf_size))
			return IOVIRT_ETOOBIG;
	uint8_t *dst = pool->mem + (size_t)idx * pool->stride;
	for (uint32_t i = 0; i < n; i++) {
		const struct iovirt_host_seg *s = &sg[i];
		if (!(s->dir & IOVIRT_DEV_READ))
			continue;
		if (s->hva)
			memcpy(dst, s->hva, (size_t)s->len);
		else if (!IOVIRT_HOST_HAS(pool->ops, guest_read) ||
			 pool->ops->guest_read(pool->host, map->guest, s->gpa, dst, (size_t)s->len))
			return IOVIRT_EGUEST;
		dst += s->len;
	}
	return (int64_t)total;
}

/* copy_out, check: every entry that will receive bytes (the first len bytes
 * of the device-writable ones) passes vb_check on b's snapshot, before any
 * byte is written, and len fits the buffer. 0, or the refusal with *at the
 * entry concerned. */
static int copy_out_check(const struct iovirt_bounce *pool, struct vb_build *b,
			  const struct iovirt_host_seg *sg, uint32_t n, uint64_t len, uint32_t *at)
{
	const struct vb_snap_ent *e;
	uint64_t left = len;
	uint32_t i;
	int err = 0;
	for (i = 0; i < n && left; i++) {
		if (!(sg[i].dir & IOVIRT_DEV_WRITE))
			continue;
		if ((err = vb_check(b, sg[i].gpa, sg[i].len, IOVIRT_DEV_WRITE, &e)))
			break;
		left -= sg[i].len < left ? sg[i].len : left;
	}
	if (!err && (left || len > pool->buf_size)) {
		b->fail_gpa = 0;
		err = IOVIRT_ETOOBIG;
	}
	*at = i;
	return err;
}

/* copy_out, write: the entries copy_out_check passed, from src. */
static int copy_out_write(const struct iovirt_bounce *pool, struct vb_build *b,
			  const struct iovirt_gmap *map, const struct iovirt_host_seg *sg,
			  uint32_t n, uint64_t len, const uint8_t *src)
{
	const struct vb_snap_ent *e = NULL;
	uint64_t left = len;
	for (uint32_t i = 0; i < n && left; i++) {
		if (!(sg[i].dir & IOVIRT_DEV_WRITE))
			continue;
		uint64_t k = sg[i].len < left ? sg[i].len : left;
		int err = vb_check(b, sg[i].gpa, sg[i].len, IOVIRT_DEV_WRITE, &e);
		IOVIRT_CHECK(err == 0); /* the snapshot copy_out_check passed */
		if (e->hva)
			memcpy(e->hva + (sg[i].gpa - e->gpa), src, (size_t)k);
		else if (!IOVIRT_HOST_HAS(pool->ops, guest_write) ||
			 pool->ops->guest_write(pool->host, map->guest, sg[i].gpa, src, (size_t)k))
			return IOVIRT_EGUEST;
		src += k;
		left -= k;
	}
	return 0;
}

int64_t iovirt_bounce_copy_out(struct iovirt_bounce *pool, int32_t id,
			       const struct iovirt_gmap *map,
			       const struct iovirt_sg_policy *pol,
			       const struct iovirt_host_seg *sg, uint32_t n, uint64_t len,
			       struct iovirt_dma_result *res)
{
	struct vb_policy vp;
	struct vb_build b;
	uint32_t idx, at;
	int err = !pool || !map || (n && !sg) ? IOVIRT_EINVAL : id_check(pool, id, &idx);
	if (!err && vb_policy_load(pol, &vp))
		err = IOVIRT_EINVAL;
	if (err) {
		if (res)
			*res = (struct iovirt_dma_result){ .err = err };
		return err;
	}
	vb_init(&b, map, &vp, NULL, 0);
	if ((err = copy_out_check(pool, &b, sg, n, len, &at))) {
		if (res)
			*res = (struct iovirt_dma_result){ .err = err, .seg = at, .gpa = b.fail_gpa,
							   .where = IOVIRT_WHERE_LIST };
		return err;
	}
	if ((err = copy_out_write(pool, &b, map, sg, n, len, pool->mem + (size_t)idx * pool->stride)))
		return err;
	if (res)
		*res = (struct iovirt_dma_result){ .total = len, .write_bytes = len };
	return (int64_t)len;
}
