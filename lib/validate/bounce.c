/* SPDX-License-Identifier: MIT */
/*
 * Bounce pool: fixed buffers allocated at create, handed out by a lock-free
 * stack whose head carries a tag against ABA.
 *
 * An id is (use << index_bits) | index, where use counts the holds of that
 * buffer (mod 2^(31 - index_bits)). Each buffer's generation word gen is
 * 2 * use + 1 while held and even while free: get and put each bump it by
 * one, so an id stops working at its put, and the next holder's id differs.
 */
#include <string.h>

#include "validate/internal.h"

#define BUF_ALIGN 64
#define MAX_BUFS (UINT32_C(1) << 24)
#define MAX_BUF_SIZE ((size_t)1 << 30)

struct iovirt_bounce {
	const struct iovirt_host_ops *ops;
	void *host;
	uint32_t nbufs;
	uint32_t index_bits; /* bits of an id that name the buffer */
	uint32_t index_mask; /* (1 << index_bits) - 1 */
	uint32_t use_mask;   /* (1 << (31 - index_bits)) - 1: the id's use field */
	size_t buf_size, stride;
	uint8_t *mem;
	/* head: low 32 bits = top buffer + 1 (0: empty), high 32 bits = tag */
	_Atomic uint64_t head;
	_Atomic uint32_t *next; /* free-list link per buffer (+1 encoded) */
	_Atomic uint32_t *gen;  /* per buffer: odd while held (see above) */
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
 * 2^32 / golden ratio, top use bits kept (Fibonacci hashing). Consecutive
 * pools land far apart in the 2^(31 - index_bits) use space, the largest
 * gap a sequence can keep (three-distance theorem), so a few thousand holds
 * per buffer do not reach a recent pool's ids.
 */
static uint32_t first_use(uint32_t index_bits)
{
	uint32_t n = atomic_fetch_add_explicit(&pools_created, 1, memory_order_relaxed);
	return (n * UINT32_C(0x9E3779B9)) >> (1 + index_bits);
}

int iovirt_bounce_create(const struct iovirt_host_ops *ops, void *host,
			 const struct iovirt_bounce_params *p, struct iovirt_bounce **out)
{
	uint64_t bytes;
	if (!ops || !p || !out ||
	    p->size < offsetof(struct iovirt_bounce_params, buf_size) + sizeof(p->buf_size) ||
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
	size_t meta = (size_t)p->nbufs * (sizeof(_Atomic uint32_t) + sizeof(_Atomic uint32_t));
	pool->mem = ops->mem_alloc(host, (size_t)bytes, BUF_ALIGN);
	pool->next = pool->mem ? ops->mem_alloc(host, meta, _Alignof(_Atomic uint32_t)) : NULL;
	if (!pool->next) {
		if (pool->mem)
			ops->mem_free(host, pool->mem, (size_t)bytes);
		ops->mem_free(host, pool, sizeof(*pool));
		return IOVIRT_ENOMEM;
	}
	pool->gen = pool->next + p->nbufs;
	pool->ops = ops;
	pool->host = host;
	pool->nbufs = p->nbufs;
	pool->index_bits = index_bits_for(p->nbufs);
	pool->index_mask = (UINT32_C(1) << pool->index_bits) - 1;
	pool->use_mask = (UINT32_C(1) << (31 - pool->index_bits)) - 1;
	pool->buf_size = p->buf_size;
	pool->stride = stride;
	pool->meta_bytes = meta;
	/* even: free; the first hold makes it 2 * first + 1 (use = first) */
	uint32_t gen0 = first_use(pool->index_bits) << 1;
	for (uint32_t i = 0; i < p->nbufs; i++) {
		atomic_init(&pool->next[i], i + 1 < p->nbufs ? i + 2 : 0);
		atomic_init(&pool->gen[i], gen0);
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
		if (atomic_load(&pool->gen[i]) & 1)
			return IOVIRT_EBUSY;
	pool->ops->mem_free(pool->host, pool->next, pool->meta_bytes);
	pool->ops->mem_free(pool->host, pool->mem, pool->stride * pool->nbufs);
	pool->ops->mem_free(pool->host, pool, sizeof(*pool));
	return 0;
}

int32_t iovirt_bounce_get(struct iovirt_bounce *pool)
{
	uint64_t h = atomic_load_explicit(&pool->head, memory_order_acquire);
	uint32_t top;
	for (;;) {
		top = (uint32_t)h;
		if (IOVIRT_UNLIKELY(!top))
			return IOVIRT_ENOBUF;
		uint32_t nx = atomic_load_explicit(&pool->next[top - 1], memory_order_relaxed);
		uint64_t nh = (((h >> 32) + 1) << 32) | nx;
		if (atomic_compare_exchange_weak_explicit(&pool->head, &h, nh, memory_order_acquire,
							  memory_order_acquire))
			break;
	}
	/* The popped buffer is ours alone, and put only moves an odd (held)
	 * generation: no other writer, so load and store need no read-modify-write. */
	uint32_t i = top - 1;
	uint32_t g = atomic_load_explicit(&pool->gen[i], memory_order_relaxed) + 1;
	atomic_store_explicit(&pool->gen[i], g, memory_order_relaxed);
	return (int32_t)((((g >> 1) & pool->use_mask) << pool->index_bits) | i);
}

/*
 * Decodes id: 0 with *idx and *gen (the buffer's current generation) when id
 * names the buffer's current hold; IOVIRT_EINVAL for a negative id or an
 * index the pool does not have; IOVIRT_ESTALE when the buffer is free or held
 * under another use (a put id, another pool's id, an id never handed out).
 */
static int id_check(const struct iovirt_bounce *pool, int32_t id, uint32_t *idx, uint32_t *gen)
{
	if (IOVIRT_UNLIKELY(id < 0))
		return IOVIRT_EINVAL;
	uint32_t i = (uint32_t)id & pool->index_mask;
	if (IOVIRT_UNLIKELY(i >= pool->nbufs))
		return IOVIRT_EINVAL;
	uint32_t g = atomic_load_explicit(&pool->gen[i], memory_order_relaxed);
	if (IOVIRT_UNLIKELY(!(g & 1) || ((g >> 1) & pool->use_mask) != (uint32_t)id >> pool->index_bits))
		return IOVIRT_ESTALE;
	*idx = i;
	*gen = g;
	return 0;
}

int iovirt_bounce_put(struct iovirt_bounce *pool, int32_t id)
{
	uint32_t i, g;
	int err = id_check(pool, id, &i, &g);
	if (err)
		return err;
	/* a racing second put of the same id loses here and is stale */
	if (!atomic_compare_exchange_strong_explicit(&pool->gen[i], &g, g + 1, memory_order_relaxed,
						     memory_order_relaxed))
		return IOVIRT_ESTALE;
	uint64_t h = atomic_load_explicit(&pool->head, memory_order_relaxed);
	uint64_t nh;
	do {
		atomic_store_explicit(&pool->next[i], (uint32_t)h, memory_order_relaxed);
		nh = (((h >> 32) + 1) << 32) | (i + 1);
	} while (!atomic_compare_exchange_weak_explicit(&pool->head, &h, nh, memory_order_release,
							memory_order_relaxed));
	return 0;
}

void *iovirt_bounce_data(const struct iovirt_bounce *pool, int32_t id)
{
	uint32_t i, g;
	if (id_check(pool, id, &i, &g))
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
	uint32_t idx, g;
	if (!pool || !map || (n && !sg))
		return IOVIRT_EINVAL;
	int err = id_check(pool, id, &idx, &g);
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

int64_t iovirt_bounce_copy_out(struct iovirt_bounce *pool, int32_t id,
			       const struct iovirt_gmap *map,
			       const struct iovirt_sg_policy *pol,
			       const struct iovirt_host_seg *sg, uint32_t n, uint64_t len,
			       struct iovirt_dma_result *res)
{
	struct vpol vp;
	struct vbuild b;
	const struct snap_ent *e;
	uint32_t idx, g;
	int err = !pool || !map || (n && !sg) ? IOVIRT_EINVAL : id_check(pool, id, &idx, &g);
	if (!err && vpol_load(pol, &vp))
		err = IOVIRT_EINVAL;
	if (err) {
		if (res)
			*res = (struct iovirt_dma_result){ .err = err };
		return err;
	}
	vb_init(&b, map, &vp, NULL, 0);
	/* validate every entry that will receive bytes, before writing any */
	uint64_t left = len;
	uint32_t i;
	for (i = 0; i < n && left; i++) {
		if (!(sg[i].dir & IOVIRT_DEV_WRITE))
			continue;
		if ((err = vb_check(&b, sg[i].gpa, sg[i].len, IOVIRT_DEV_WRITE, &e)))
			break;
		left -= sg[i].len < left ? sg[i].len : left;
	}
	if (!err && (left || len > pool->buf_size)) {
		b.fail_gpa = 0;
		err = IOVIRT_ETOOBIG;
	}
	if (err) {
		if (res)
			*res = (struct iovirt_dma_result){ .err = err, .seg = i, .gpa = b.fail_gpa,
							   .where = IOVIRT_WHERE_LIST };
		return err;
	}
	const uint8_t *src = pool->mem + (size_t)idx * pool->stride;
	left = len;
	for (i = 0; i < n && left; i++) {
		if (!(sg[i].dir & IOVIRT_DEV_WRITE))
			continue;
		uint64_t k = sg[i].len < left ? sg[i].len : left;
		vb_check(&b, sg[i].gpa, sg[i].len, IOVIRT_DEV_WRITE, &e); /* same snapshot: passes */
		if (e->hva)
			memcpy(e->hva + (sg[i].gpa - e->gpa), src, (size_t)k);
		else if (!IOVIRT_HOST_HAS(pool->ops, guest_write) ||
			 pool->ops->guest_write(pool->host, map->guest, sg[i].gpa, src, (size_t)k))
			return IOVIRT_EGUEST;
		src += k;
		left -= k;
	}
	if (res)
		*res = (struct iovirt_dma_result){ .total = len, .write_bytes = len };
	return (int64_t)len;
}
