/* SPDX-License-Identifier: MIT */
/*
 * Bounce pool: fixed buffers allocated at create, handed out by a lock-free
 * stack whose head carries a tag against ABA.
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
	size_t buf_size, stride;
	uint8_t *mem;
	/* head: low 32 bits = top buffer + 1 (0: empty), high 32 bits = tag */
	_Atomic uint64_t head;
	_Atomic uint32_t *next; /* free-list link per buffer (+1 encoded) */
	_Atomic uint8_t *taken;
	size_t meta_bytes;
};

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
	size_t meta = (size_t)p->nbufs * (sizeof(_Atomic uint32_t) + sizeof(_Atomic uint8_t));
	pool->mem = ops->mem_alloc(host, (size_t)bytes, BUF_ALIGN);
	pool->next = pool->mem ? ops->mem_alloc(host, meta, _Alignof(_Atomic uint32_t)) : NULL;
	if (!pool->next) {
		if (pool->mem)
			ops->mem_free(host, pool->mem, (size_t)bytes);
		ops->mem_free(host, pool, sizeof(*pool));
		return IOVIRT_ENOMEM;
	}
	pool->taken = (_Atomic uint8_t *)(pool->next + p->nbufs);
	pool->ops = ops;
	pool->host = host;
	pool->nbufs = p->nbufs;
	pool->buf_size = p->buf_size;
	pool->stride = stride;
	pool->meta_bytes = meta;
	for (uint32_t i = 0; i < p->nbufs; i++)
		atomic_init(&pool->next[i], i + 1 < p->nbufs ? i + 2 : 0);
	atomic_init(&pool->head, 1);
	*out = pool;
	return 0;
}

int iovirt_bounce_destroy(struct iovirt_bounce *pool)
{
	if (!pool)
		return 0;
	for (uint32_t i = 0; i < pool->nbufs; i++)
		if (atomic_load(&pool->taken[i]))
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
	atomic_store_explicit(&pool->taken[top - 1], 1, memory_order_relaxed);
	return (int32_t)(top - 1);
}

int iovirt_bounce_put(struct iovirt_bounce *pool, int32_t id)
{
	uint8_t one = 1;
	if (id < 0 || (uint32_t)id >= pool->nbufs ||
	    !atomic_compare_exchange_strong_explicit(&pool->taken[id], &one, 0,
						     memory_order_relaxed, memory_order_relaxed))
		return IOVIRT_EINVAL;
	uint64_t h = atomic_load_explicit(&pool->head, memory_order_relaxed);
	uint64_t nh;
	do {
		atomic_store_explicit(&pool->next[id], (uint32_t)h, memory_order_relaxed);
		nh = (((h >> 32) + 1) << 32) | (uint32_t)(id + 1);
	} while (!atomic_compare_exchange_weak_explicit(&pool->head, &h, nh, memory_order_release,
							memory_order_relaxed));
	return 0;
}

static bool id_ok(const struct iovirt_bounce *pool, int32_t id)
{
	return id >= 0 && (uint32_t)id < pool->nbufs &&
	       atomic_load_explicit(&((struct iovirt_bounce *)pool)->taken[id], memory_order_relaxed);
}

void *iovirt_bounce_data(const struct iovirt_bounce *pool, int32_t id)
{
	if (id < 0 || (uint32_t)id >= pool->nbufs)
		return NULL;
	return pool->mem + (size_t)id * pool->stride;
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
	if (!pool || !map || (n && !sg) || !id_ok(pool, id))
		return IOVIRT_EINVAL;
	for (uint32_t i = 0; i < n; i++)
		if ((sg[i].dir & IOVIRT_DEV_READ) &&
		    (!iovirt_add_ok(total, sg[i].len, &total) || total > pool->buf_size))
			return IOVIRT_ETOOBIG;
	uint8_t *dst = pool->mem + (size_t)id * pool->stride;
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
	if (!pool || !map || (n && !sg) || !id_ok(pool, id) || vpol_load(pol, &vp)) {
		if (res)
			*res = (struct iovirt_dma_result){ .err = IOVIRT_EINVAL };
		return IOVIRT_EINVAL;
	}
	vb_init(&b, map, &vp, NULL, 0);
	/* validate every entry that will receive bytes, before writing any */
	uint64_t left = len;
	uint32_t i;
	int err = 0;
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
	const uint8_t *src = pool->mem + (size_t)id * pool->stride;
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
