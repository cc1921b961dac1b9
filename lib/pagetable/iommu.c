/* SPDX-License-Identifier: MIT */
/*
 * The iommu: ASID directory, address-space lifetime, table-page lifetime
 * (allocation, retirement after invalidation, reclaim) and the checks of every
 * public entry point before the format's walker runs.
 */
#include <stddef.h>
#include <string.h>

#include "common/check.h"
#include "internal.h"

/* ---- the table cache ---- */

/* Under AddressSanitizer a cached page and its bookkeeping are poisoned, so a
 * walker or writer that still held one (a grace period broken) is reported
 * as it would be for a freed page. The node's header (tbl, pa, count, level)
 * stays readable: LeakSanitizer ignores pointers kept in poisoned memory, so
 * a poisoned header hid the table page it points to and a program that exits
 * with pages in the cache was told they leaked. What a walker follows (the
 * entries and child[]) is poisoned. */
#if defined(__SANITIZE_ADDRESS__)
#define PT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PT_ASAN 1
#endif
#endif
#ifdef PT_ASAN
#include <sanitizer/asan_interface.h>
static void cache_poison(struct pt_node *n, bool on)
{
	const size_t rest = pt_node_bytes(n->level) - sizeof(*n); /* child[], leaf pointers */
	if (on) {
		ASAN_POISON_MEMORY_REGION(n->tbl, IOVIRT_PAGE_SIZE);
		if (rest)
			ASAN_POISON_MEMORY_REGION(n + 1, rest);
	} else {
		if (rest)
			ASAN_UNPOISON_MEMORY_REGION(n + 1, rest);
		ASAN_UNPOISON_MEMORY_REGION(n->tbl, IOVIRT_PAGE_SIZE);
	}
}
#else
static inline void cache_poison(struct pt_node *n, bool on)
{
	(void)n;
	(void)on;
}
#endif

/* Takes a cached page of level's kind, or NULL. */
static struct pt_node *cache_take(struct iovirt_iommu *io, unsigned level)
{
	struct pt_cache *c = &io->cache[pt_cache_kind(level)];
	for (uint32_t i = atomic_load_explicit(&c->top, memory_order_relaxed); i > 0; i--) {
		if (!atomic_load_explicit(&c->slot[i - 1], memory_order_relaxed))
			continue;
		/* acquire: the page was emptied (and its count reset) by whoever put it */
		struct pt_node *n = atomic_exchange_explicit(&c->slot[i - 1], NULL, memory_order_acquire);
		if (n) {
			cache_poison(n, false);
			atomic_store_explicit(&c->top, i - 1, memory_order_relaxed);
			return n;
		}
	}
	return NULL;
}

/* Keeps n (empty, unreachable) if its kind has a free slot. */
static bool cache_put(struct iovirt_iommu *io, struct pt_node *n)
{
	struct pt_cache *c = &io->cache[pt_cache_kind(n->level)];
	atomic_store_explicit(&n->cnt, 0, memory_order_relaxed); /* drops PT_DEAD */
	cache_poison(n, true); /* before it is visible: a taker unpoisons */
	for (uint32_t i = atomic_load_explicit(&c->top, memory_order_relaxed); i < io->cache_cap; i++) {
		struct pt_node *expect = NULL;
		if (!atomic_load_explicit(&c->slot[i], memory_order_relaxed) &&
		    atomic_compare_exchange_strong_explicit(&c->slot[i], &expect, n, memory_order_release,
							    memory_order_relaxed)) {
			atomic_store_explicit(&c->top, i + 1, memory_order_relaxed);
			return true;
		}
	}
	cache_poison(n, false);
	return false;
}

#if defined(IOVIRT_CHECKS) && IOVIRT_CHECKS
/* Everything the walk and the hardware rely on is clear: no entry, no child
 * (for IOVIRT_CHECK: evaluated only in builds with checks). */
IOVIRT_CHECKER static inline bool node_clean(const struct pt_node *n)
{
	/* OR everything together and test once (run on every page put into the
	 * cache, in builds with checks). */
	uint64_t any = 0;
	for (unsigned i = 0; i < PT_ENTRIES; i++)
		any |= n->tbl[i];
	if (n->level > 1)
		for (unsigned i = 0; i < PT_ENTRIES; i++)
			any |= (uintptr_t)atomic_load_explicit(&n->child[i], memory_order_relaxed);
	if (n->level == 2)
		for (unsigned i = 0; i < PT_ENTRIES; i++)
			any |= (uintptr_t)atomic_load_explicit(&pt_ctbl(n)[i], memory_order_relaxed);
	return any == 0;
}
#endif

void pt_node_put(struct iovirt_iommu *io, struct pt_node *n)
{
	/* The count is right for every node that was linked or never filled:
	 * entries are reserved before they are written and given back after they
	 * are cleared; a dropped subtree's top (PT_WHOLE) still holds its entries.
	 * So a zero count means a clean page, with nothing to zero for reuse. */
	const bool empty = (atomic_load_explicit(&n->cnt, memory_order_relaxed) & PT_COUNT) == 0;
	if (empty && io->cache_cap) {
#if defined(IOVIRT_CHECKS) && IOVIRT_CHECKS
		IOVIRT_CHECK(node_clean(n));
#endif
		if (cache_put(io, n))
			return;
	}
	pt_node_free(io, n);
}

/* Gives every cached page back to the host; returns how many. */
static size_t cache_trim(struct iovirt_iommu *io)
{
	size_t k = 0;
	for (unsigned kind = 0; kind < PT_CACHE_KINDS; kind++)
		for (uint32_t i = 0; i < io->cache_cap; i++) {
			struct pt_node *n = atomic_exchange_explicit(&io->cache[kind].slot[i], NULL,
								     memory_order_acquire);
			if (n) {
				cache_poison(n, false);
				pt_node_free(io, n);
				k++;
			}
		}
	/* A put looks from top up: left where it was, a trim of a full kind left
	 * every slot below top empty and out of reach, and that kind never kept a
	 * page again (pt_cache.refills_after_trim). A put racing with this store
	 * may leave its page above top, out of reach of takes until the next
	 * trim: a miss, as any race on the hint. */
	for (unsigned kind = 0; kind < PT_CACHE_KINDS; kind++)
		atomic_store_explicit(&io->cache[kind].top, 0, memory_order_relaxed);
	return k;
}

/*
 * Unlinks the kept tables of every space (and the tables that leaves empty),
 * with one invalidation per space (leaf_only = 0), then retires them; takes
 * the mark off the kept tables in use again. Returns how many it unlinked.
 * One trimmer walks at a time (another one returns 0). In a space it is
 * entered as a writer (pt_enter: AFTER_INVAL's free waits for it) and
 * announced in trim_space, which iovirt_pt_space_destroy waits to see it
 * leave before it tears the space down: both are seq_cst, so either the
 * destroy sees us in the space or we see the space gone from the directory.
 */
static size_t kept_release(struct iovirt_iommu *io)
{
	uint32_t idle = 0;
	if (!atomic_load_explicit(&io->nkept, memory_order_relaxed) ||
	    !atomic_compare_exchange_strong_explicit(&io->trimming, &idle, 1, memory_order_acquire,
						     memory_order_relaxed))
		return 0;
	size_t k = 0;
	for (uint32_t t = 0; t < PT_DIR_SIZE; t++) {
		struct pt_space *_Atomic *chunk = atomic_load_explicit(&io->dir[t], memory_order_acquire);
		if (!chunk)
			continue;
		for (uint32_t i = 0; i < PT_DIR_SIZE; i++) {
			struct pt_space *s = atomic_load_explicit(&chunk[i], memory_order_acquire);
			if (!s)
				continue;
			atomic_store_explicit(&io->trim_space, s, memory_order_seq_cst);
			if (atomic_load_explicit(&chunk[i], memory_order_seq_cst) == s) {
				struct pt_clear cl;
				pt_clear_init(&cl);
				pt_enter(io);
				k += io->impl->trim(s, &cl);
				pt_clear_flush(io, s, s->asid, &cl);
				pt_leave(io);
			}
			atomic_store_explicit(&io->trim_space, NULL, memory_order_release);
		}
	}
	atomic_store_explicit(&io->trimming, 0, memory_order_release);
	return k;
}

size_t iovirt_pt_trim(struct iovirt_iommu *io)
{
	if (!io)
		return 0;
	/* The kept tables first: in AFTER_INVAL mode they come back through
	 * the cache at once, and the cache then goes to the host. */
	const size_t k = kept_release(io);
	return k + cache_trim(io);
}

static uint64_t cache_count(const struct iovirt_iommu *io)
{
	uint64_t k = 0;
	for (unsigned kind = 0; kind < PT_CACHE_KINDS; kind++)
		for (uint32_t i = 0; i < io->cache_cap; i++)
			k += atomic_load_explicit(&io->cache[kind].slot[i], memory_order_relaxed) != NULL;
	return k;
}

/* ---- table pages ---- */

/* Out of line, so that a cache hit saves no registers. */
__attribute__((noinline)) static struct pt_node *node_alloc_host(struct iovirt_iommu *io, unsigned level)
{
	const struct iovirt_host_ops *ops = io->ops;
	const size_t meta = pt_node_bytes(level);
	struct pt_node *n = ops->mem_alloc(io->host, meta, level > 1 ? 64 : _Alignof(struct pt_node));
	if (!n)
		return NULL;
	n->tbl = ops->table_alloc(io->host, &n->pa);
	if (!n->tbl) {
		ops->mem_free(io->host, n, meta);
		return NULL;
	}
	n->level = level;
	atomic_init(&n->cnt, 0);
	atomic_fetch_add_explicit(&io->ntables, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&io->meta_bytes, meta, memory_order_relaxed);
	return n;
}

struct pt_node *pt_node_alloc(struct iovirt_iommu *io, unsigned level)
{
	struct pt_node *n = io->cache_cap ? cache_take(io, level) : NULL;
	if (!n)
		return node_alloc_host(io, level);
	n->level = level; /* the kind's levels (3..5) share a bookkeeping size */
	return n;
}

void pt_node_free(struct iovirt_iommu *io, struct pt_node *n)
{
	const struct iovirt_host_ops *ops = io->ops;
	const size_t meta = pt_node_bytes(n->level);
	ops->table_free(io->host, n->tbl, n->pa);
	ops->mem_free(io->host, n, meta);
	atomic_fetch_sub_explicit(&io->ntables, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&io->meta_bytes, meta, memory_order_relaxed);
}

/* A space's root: its node lives in the space's own allocation (so that a
 * walk reaches root->child[] without loading a pointer), its table is one
 * page, or for formats with a wider root (RISC-V x4: 16 KiB) a naturally
 * aligned block whose first page is the walk's root table (the widths iovirt
 * takes index only its first 512 entries). It stays with its space and goes
 * with it (space_release), never through the retire lists or the cache. */
static bool pt_root_alloc(struct iovirt_iommu *io, struct pt_space *s, unsigned levels)
{
	const size_t bytes = io->fmt->root_bytes;
	struct pt_node *n = pt_space_root(s);
	n->tbl = bytes == IOVIRT_PAGE_SIZE ? io->ops->table_alloc(io->host, &n->pa)
					   : io->ops->table_block_alloc(io->host, bytes, &n->pa);
	if (!n->tbl)
		return false;
	n->level = levels;
	atomic_init(&n->cnt, 0);
	s->root = n;
	atomic_fetch_add_explicit(&io->ntables, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&io->meta_bytes, pt_node_bytes(levels), memory_order_relaxed);
	return true;
}

static void pt_root_free(struct iovirt_iommu *io, struct pt_space *s)
{
	const size_t bytes = io->fmt->root_bytes;
	struct pt_node *n = pt_space_root(s);
	if (bytes == IOVIRT_PAGE_SIZE)
		io->ops->table_free(io->host, n->tbl, n->pa);
	else
		io->ops->table_block_free(io->host, n->tbl, n->pa, bytes);
	atomic_fetch_sub_explicit(&io->ntables, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&io->meta_bytes, pt_node_bytes(n->level), memory_order_relaxed);
}

/* Nodes of n's subtree still linked below it (a whole drop), n included;
 * free: frees them. Reads child[] only. */
static size_t subtree_walk(struct iovirt_iommu *io, struct pt_node *n, bool free)
{
	size_t k = 1;
	if (n->level > 1)
		for (unsigned i = 0; i < PT_ENTRIES; i++) {
			struct pt_node *c = atomic_load_explicit(&n->child[i], memory_order_relaxed);
			if (c)
				k += subtree_walk(io, c, free);
		}
	if (free)
		pt_node_put(io, n);
	return k;
}

/* How many nodes n stands for on a retire list: itself, or its whole subtree. */
static size_t node_weight(struct iovirt_iommu *io, struct pt_node *n, bool free)
{
	const bool whole = (atomic_load_explicit(&n->cnt, memory_order_relaxed) & PT_WHOLE) != 0;
	if (whole)
		return subtree_walk(io, n, free);
	if (free)
		pt_node_put(io, n);
	return 1;
}

/* Out of line: pt_leave_slow calls it only when a list is pending, and inlined
 * it made every leave save more registers (20 instructions per map+unmap pair). */
__attribute__((noinline)) static size_t free_list(struct iovirt_iommu *io, struct pt_node *n)
{
	size_t k = 0;
	while (n) {
		struct pt_node *next = n->next;
		k += node_weight(io, n, true);
		n = next;
	}
	return k;
}

/* Pushes a list (linked by ->next) onto a lock-free stack with one CAS; returns
 * the number of nodes it holds (whole-dropped subtrees counted in full). */
static size_t push_list(struct iovirt_iommu *io, _Atomic(struct pt_node *) *stack, struct pt_node *list)
{
	struct pt_node *last = list;
	size_t k = node_weight(io, list, false);
	while (last->next) {
		last = last->next;
		k += node_weight(io, last, false);
	}
	struct pt_node *head = atomic_load_explicit(stack, memory_order_relaxed);
	do
		last->next = head;
	while (!atomic_compare_exchange_weak_explicit(stack, &head, list, memory_order_release,
						      memory_order_relaxed));
	return k;
}

void pt_retire(struct iovirt_iommu *io, struct pt_node *list)
{
	/* AFTER_INVAL: another writer may still hold a pointer into these nodes
	 * (it loaded a child before the unlink); the last one to leave frees them. */
	size_t k = push_list(io, io->reclaim == IOVIRT_RECLAIM_AFTER_INVAL ? &io->pending : &io->retired, list);
	atomic_fetch_add_explicit(&io->nretired, k, memory_order_relaxed);
}

/*
 * The last writer inside leaving (*c is 1): takes the pending list, then
 * drops the count 1 -> 0 (the argument below). True when that CAS won and the
 * list is freed; false when a writer entered in between (*c reloaded): the
 * list goes back for it.
 */
static bool leave_last(struct iovirt_iommu *io, uint32_t *c)
{
	/* Only we are inside, so only we could have pushed since: an empty list
	 * needs no exchange (the common case: one atomic to leave). */
	struct pt_node *list = atomic_load_explicit(&io->pending, memory_order_relaxed)
				       ? atomic_exchange_explicit(&io->pending, NULL, memory_order_acq_rel)
				       : NULL;
	if (atomic_compare_exchange_strong_explicit(&io->inside, c, 0, memory_order_seq_cst,
						    memory_order_seq_cst)) {
		if (list)
			atomic_fetch_sub_explicit(&io->nretired, free_list(io, list), memory_order_relaxed);
		return true;
	}
	if (list)
		push_list(io, &io->pending, list);
	return false;
}

/*
 * Leaves a writer's walk (AFTER_INVAL mode). The last writer inside takes the
 * pending list, then drops the count 1 -> 0: if that CAS wins, every writer
 * that could have loaded a pointer to those nodes (one inside before their
 * unlink) has left, and one entering later reads the tables after the unlink
 * (its increment reads from this CAS, which follows the unlink), so the list
 * is freed. If a writer entered in between, the list goes back for it.
 */
__attribute__((noinline)) static void leave_loop(struct iovirt_iommu *io, uint32_t c)
{
	for (;;) {
		if (c != 1) {
			if (atomic_compare_exchange_weak_explicit(&io->inside, &c, c - 1, memory_order_seq_cst,
								  memory_order_seq_cst))
				return;
			continue;
		}
		if (leave_last(io, &c))
			return;
	}
}

void pt_leave_slow(struct iovirt_iommu *io)
{
	uint32_t c = atomic_load_explicit(&io->inside, memory_order_seq_cst);
	/* leave_last's common case here, without a frame: alone, nothing
	 * pending, the CAS 1 -> 0; anything else (c reloaded) in the loop */
	if (IOVIRT_LIKELY(c == 1) && !atomic_load_explicit(&io->pending, memory_order_relaxed) &&
	    atomic_compare_exchange_strong_explicit(&io->inside, &c, 0, memory_order_seq_cst, memory_order_seq_cst))
		return;
	leave_loop(io, c);
}

/*
 * The same for a writer that brings its own unlinked, invalidated nodes
 * (mine, linked by ->next; iovirt_pt_unmap's): when it is the last writer
 * inside they are freed with the pending list at the same CAS, by the same
 * argument (every writer that could hold them was inside at their unlink);
 * otherwise they are retired onto the pending list before the count drops,
 * as pt_retire did before. So an unmap alone spends no exchange on them.
 */
void pt_leave_with(struct iovirt_iommu *io, struct pt_node *mine)
{
	if (!mine) { /* most unmaps unlink nothing: the plain leave */
		pt_leave_slow(io);
		return;
	}
	uint32_t c = atomic_load_explicit(&io->inside, memory_order_seq_cst);
	if (c == 1 && leave_last(io, &c)) {
		free_list(io, mine);
		return;
	}
	if (mine)
		pt_retire(io, mine);
	pt_leave_slow(io);
}

/* The IOTLB, then (ATS) the device's TLB: both before anything is released.
 * Inline: an unmap builds its request in place (unmap_inval). */
static inline void inval_send(struct iovirt_iommu *io, const struct pt_space *s, const struct iovirt_inval *inv)
{
	io->ops->iotlb_inval(io->host, inv);
	uint32_t ats = s ? atomic_load_explicit(&s->ats, memory_order_acquire) : 0;
	if (IOVIRT_UNLIKELY(ats != 0))
		io->ops->devtlb_inval(io->host, (uint16_t)(ats - 1), inv);
	/* A statistic: a plain increment, so that an unmap spends no locked
	 * instruction on it (issue 13); invalidations made at the same moment by
	 * overlapping writers may be counted as one. */
	atomic_store_explicit(&io->ninval, atomic_load_explicit(&io->ninval, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static void inval_space(struct iovirt_iommu *io, const struct pt_space *s, uint32_t asid,
			uint32_t kind, uint64_t iova, uint64_t size, bool leaf_only)
{
	struct iovirt_inval inv = {
		.asid = asid, .kind = kind, .iova = iova, .size = size, .leaf_only = leaf_only,
	};
	inval_send(io, s, &inv);
}

static struct pt_space *space_get(const struct iovirt_iommu *io, uint32_t asid);

void pt_inval(struct iovirt_iommu *io, const struct pt_space *s, uint32_t asid, uint32_t kind, uint64_t iova,
	      uint64_t size, bool leaf_only)
{
	inval_space(io, s ? s : space_get(io, asid), asid, kind, iova, size, leaf_only);
}

void pt_clear_flush(struct iovirt_iommu *io, const struct pt_space *s, uint32_t asid, struct pt_clear *cl)
{
	if (cl->hi < cl->lo)
		return; /* nothing was cleared: nothing to invalidate */
	pt_inval(io, s, asid, IOVIRT_INVAL_RANGE, cl->lo, cl->hi - cl->lo + 1, !cl->tables);
	if (cl->dead)
		pt_retire(io, cl->dead);
	pt_clear_init(cl);
}

/* ---- ASID directory ---- */

static struct pt_space *space_get(const struct iovirt_iommu *io, uint32_t asid)
{
	if (IOVIRT_LIKELY(asid < PT_DIR_SIZE))
		return atomic_load_explicit(&((struct iovirt_iommu *)io)->dir0[asid], memory_order_acquire);
	if (asid > IOVIRT_ASID_MAX)
		return NULL;
	struct pt_space *_Atomic *chunk = atomic_load_explicit(
		&((struct iovirt_iommu *)io)->dir[asid >> PT_DIR_BITS], memory_order_acquire);
	if (!chunk)
		return NULL;
	return atomic_load_explicit(&chunk[asid & (PT_DIR_SIZE - 1)], memory_order_acquire);
}

/* space_get at a public entry point: a NULL iommu has no space (refused,
 * never read: pagetable.h). */
static inline struct pt_space *space_of(const struct iovirt_iommu *io, uint32_t asid)
{
	return IOVIRT_LIKELY(io != NULL) ? space_get(io, asid) : NULL;
}

/* The directory slot of asid, making its chunk if needed; NULL when out of memory. */
static struct pt_space *_Atomic *space_slot(struct iovirt_iommu *io, uint32_t asid)
{
	_Atomic(struct pt_space *_Atomic *) *top = &io->dir[asid >> PT_DIR_BITS];
	struct pt_space *_Atomic *chunk = atomic_load_explicit(top, memory_order_acquire);
	if (!chunk) {
		const size_t bytes = PT_DIR_SIZE * sizeof(*chunk);
		struct pt_space *_Atomic *fresh = io->ops->mem_alloc(io->host, bytes, 64);
		if (!fresh)
			return NULL;
		if (atomic_compare_exchange_strong_explicit(top, &chunk, fresh, memory_order_acq_rel,
							    memory_order_acquire)) {
			chunk = fresh;
			atomic_fetch_add_explicit(&io->meta_bytes, bytes, memory_order_relaxed);
		} else {
			io->ops->mem_free(io->host, (void *)fresh, bytes);
		}
	}
	return &chunk[asid & (PT_DIR_SIZE - 1)];
}

/* ---- iommu ---- */

static uint32_t mode_vtd(unsigned levels)
{
	return levels - 2; /* AW: 1 = 39-bit (3 levels), 2 = 48, 3 = 57 */
}

static uint32_t mode_amd(unsigned levels)
{
	return levels; /* DTE Mode: the number of levels */
}

static uint32_t mode_s2(unsigned levels)
{
	return 2 - (4 - levels); /* SL0 (4 KiB granule) = 2 - starting lookup level (4 - levels) */
}

static uint32_t mode_rv(unsigned levels)
{
	return levels + 5; /* iohgatp.MODE: Sv39x4 = 8, Sv48x4 = 9, Sv57x4 = 10 */
}

static const struct pt_format pt_formats[] = {
	[IOVIRT_PT_FMT_VTD_SL] = { &pt_impl_vtd, 4096, 0, mode_vtd },
	[IOVIRT_PT_FMT_AMD_V1] = { &pt_impl_amd, 4096, 0, mode_amd },
	[IOVIRT_PT_FMT_ARM_S2] = { &pt_impl_s2, 4096, 0, mode_s2 },
	/* R = 0 with W = 1 is a reserved encoding in a RISC-V PTE */
	[IOVIRT_PT_FMT_RISCV_G] = { &pt_impl_rv, 16384, IOVIRT_PROT_WRITE, mode_rv },
};

static const struct pt_format *format_get(uint32_t format)
{
	if (format >= sizeof(pt_formats) / sizeof(pt_formats[0]) || !pt_formats[format].impl)
		return NULL;
	return &pt_formats[format];
}

int iovirt_iommu_create(const struct iovirt_host_ops *ops, void *host,
			const struct iovirt_iommu_params *params, struct iovirt_iommu **out)
{
	if (!out || !ops || ops->size < offsetof(struct iovirt_host_ops, mem_alloc))
		return IOVIRT_EINVAL;
	if (!IOVIRT_HOST_HAS(ops, mem_alloc) || !IOVIRT_HOST_HAS(ops, mem_free) ||
	    !IOVIRT_HOST_HAS(ops, table_alloc) || !IOVIRT_HOST_HAS(ops, table_free) ||
	    !IOVIRT_HOST_HAS(ops, iotlb_inval))
		return IOVIRT_ENOSYS;
	uint32_t format = IOVIRT_PT_FMT_VTD_SL, reclaim = IOVIRT_RECLAIM_DEFERRED;
	uint32_t cache = IOVIRT_PT_TABLE_CACHE_DEFAULT;
	uint32_t keep = IOVIRT_PT_KEEP_DEFAULT;
	if (params) {
		if (params->size < IOVIRT_IOMMU_PARAMS_SIZE_V1)
			return IOVIRT_EINVAL;
		if (params->format)
			format = params->format;
		reclaim = params->reclaim;
		if (IOVIRT_PARAMS_HAS(params, table_cache) && params->table_cache)
			cache = params->table_cache == IOVIRT_PT_TABLE_CACHE_OFF ? 0 : params->table_cache;
		if (IOVIRT_PARAMS_HAS(params, keep_tables) && params->keep_tables)
			keep = params->keep_tables == IOVIRT_PT_KEEP_OFF ? 0 : params->keep_tables;
	}
	const struct pt_format *fmt = format_get(format);
	if (!fmt || (reclaim != IOVIRT_RECLAIM_DEFERRED && reclaim != IOVIRT_RECLAIM_AFTER_INVAL) ||
	    cache > IOVIRT_PT_TABLE_CACHE_MAX || keep > IOVIRT_PT_KEEP_MAX)
		return IOVIRT_EINVAL;
	if (fmt->root_bytes != IOVIRT_PAGE_SIZE &&
	    (!IOVIRT_HOST_HAS(ops, table_block_alloc) || !IOVIRT_HOST_HAS(ops, table_block_free)))
		return IOVIRT_ENOSYS;

	struct iovirt_iommu *io = ops->mem_alloc(host, sizeof(*io), 64);
	if (!io)
		return IOVIRT_ENOMEM;
	io->ops = ops;
	io->host = host;
	io->impl = fmt->impl;
	io->fmt = fmt;
	io->format = format;
	io->reclaim = reclaim;
	io->cache_cap = cache;
	io->keep_cap = keep;
	atomic_init(&io->dir[0], io->dir0);
	*out = io;
	return 0;
}

int iovirt_iommu_reclaim_mode(const struct iovirt_iommu *io)
{
	return io ? (int)io->reclaim : IOVIRT_EINVAL;
}

struct collect {
	struct pt_node *list;
	const struct pt_node *skip;
	uint64_t kept; /* nodes that held a keep mark */
};

/* Collects every node of a space (root included unless skipped) onto a list. */
static int collect_node(void *arg, struct pt_node *n, uint64_t iova)
{
	struct collect *c = arg;
	(void)iova;
	if (n == c->skip)
		return 0;
	c->kept += (atomic_load_explicit(&n->cnt, memory_order_relaxed) & PT_KEPT) != 0;
	n->next = c->list;
	c->list = n;
	return 0;
}

/* The space and its root's node: one allocation (pt_space_root). */
static size_t space_bytes(unsigned levels)
{
	return PT_SPACE_BYTES + pt_node_bytes(levels);
}

static void space_free(struct iovirt_iommu *io, struct pt_space *s)
{
	io->ops->mem_free(io->host, s, space_bytes(s->levels));
}

/* Frees a space taken out of use, with its root. */
static void space_release(struct iovirt_iommu *io, struct pt_space *s)
{
	pt_root_free(io, s);
	space_free(io, s);
}

static void space_teardown(struct iovirt_iommu *io, struct pt_space *s)
{
	/* s is out of the directory already: invalidate through it */
	inval_space(io, s, s->asid, IOVIRT_INVAL_ASID, 0, 0, false);
	struct collect c = { .list = NULL, .skip = s->root, .kept = 0 };
	io->impl->visit(s, &(const struct pt_visitor){ .table = collect_node, .arg = &c });
	/* no trimmer is inside (iovirt_pt_space_destroy waited), nor a writer */
	atomic_fetch_sub_explicit(&io->nkept, c.kept, memory_order_relaxed);
	if (c.list)
		pt_retire(io, c.list);
	if (io->reclaim == IOVIRT_RECLAIM_AFTER_INVAL) {
		space_release(io, s); /* no writer of this ASID is inside (the header's rule) */
		return;
	}
	atomic_fetch_add_explicit(&io->nretired, 1, memory_order_relaxed); /* its root waits with it */
	struct pt_space *head = atomic_load_explicit(&io->retired_spaces, memory_order_relaxed);
	do
		s->next = head;
	while (!atomic_compare_exchange_weak_explicit(&io->retired_spaces, &head, s,
						      memory_order_release, memory_order_relaxed));
}

void iovirt_iommu_destroy(struct iovirt_iommu *io)
{
	if (!io)
		return;
	for (uint32_t t = 0; t < PT_DIR_SIZE; t++) {
		struct pt_space *_Atomic *chunk = atomic_load(&io->dir[t]);
		if (!chunk)
			continue;
		for (uint32_t i = 0; i < PT_DIR_SIZE; i++) {
			struct pt_space *s = atomic_load(&chunk[i]);
			if (s) {
				atomic_store(&chunk[i], NULL); /* the trim below walks the directory */
				space_teardown(io, s);
			}
		}
		if (chunk != io->dir0) {
			atomic_store(&io->dir[t], NULL); /* the trim below walks the directory */
			io->ops->mem_free(io->host, (void *)chunk, PT_DIR_SIZE * sizeof(*chunk));
		}
	}
	iovirt_pt_reclaim(io);
	iovirt_pt_trim(io);
	io->ops->mem_free(io->host, io, sizeof(*io));
}

size_t iovirt_pt_reclaim(struct iovirt_iommu *io)
{
	if (!io)
		return 0;
	if (io->reclaim == IOVIRT_RECLAIM_AFTER_INVAL) {
		/* What the cache held since the last reclaim went unused: to the host. */
		iovirt_pt_trim(io);
		/* Pending nodes go when no writer is inside: an enter and a leave
		 * frees them then, and is harmless beside writers. */
		const uint64_t before = atomic_load_explicit(&io->nretired, memory_order_relaxed);
		pt_enter(io);
		pt_leave(io);
		const uint64_t after = atomic_load_explicit(&io->nretired, memory_order_relaxed);
		return before > after ? (size_t)(before - after) : 0;
	}
	/* The lists first: the host's grace period covers only what was retired
	 * before this call began. A writer that starts beside us (allowed) may
	 * retire a page another one that started after us still holds; taken after
	 * the trim (host callbacks, a while), such a page was cached and reused
	 * under that one (pt_cache.deferred_reclaim_keeps_pages_retired_during_it). */
	struct pt_node *list = atomic_exchange_explicit(&io->retired, NULL, memory_order_acquire);
	struct pt_space *s = atomic_exchange_explicit(&io->retired_spaces, NULL, memory_order_acquire);
	/* What the cache held since the last reclaim went unused: to the host. The
	 * pages reclaimed now refill it. */
	iovirt_pt_trim(io);
	size_t k = free_list(io, list);
	atomic_fetch_sub_explicit(&io->nretired, k, memory_order_relaxed);
	while (s) {
		struct pt_space *next = s->next;
		space_release(io, s);
		atomic_fetch_sub_explicit(&io->nretired, 1, memory_order_relaxed);
		k++; /* its root */
		s = next;
	}
	return k;
}

void iovirt_pt_stats(const struct iovirt_iommu *cio, struct iovirt_pt_stats *out)
{
	if (!cio || !out)
		return;
	struct iovirt_iommu *io = (struct iovirt_iommu *)cio;
	out->spaces = atomic_load(&io->nspaces);
	out->retired = atomic_load(&io->nretired);
	/* The counters are read one by one: a reclaim or a cache put between
	 * the reads can make the difference negative for a moment. Never wrap. */
	uint64_t held = atomic_load(&io->ntables), other = out->retired + cache_count(io);
	out->tables = held > other ? held - other : 0;
	out->meta_bytes = atomic_load(&io->meta_bytes);
	out->invalidations = atomic_load(&io->ninval);
}

uint64_t iovirt_pt_cached(const struct iovirt_iommu *cio)
{
	return cio ? cache_count((struct iovirt_iommu *)cio) : 0;
}

uint64_t iovirt_pt_kept(const struct iovirt_iommu *io)
{
	return io ? atomic_load_explicit(&io->nkept, memory_order_relaxed) : 0;
}

/* ---- spaces ---- */

int iovirt_pt_space_create(struct iovirt_iommu *io, uint32_t asid, const struct iovirt_space_params *p)
{
	uint32_t width = 48;
	uint64_t pgsizes = IOVIRT_PAGES_ALL;
	if (!io || asid > IOVIRT_ASID_MAX)
		return IOVIRT_EINVAL;
	if (p) {
		if (p->size < offsetof(struct iovirt_space_params, pgsizes) + sizeof(p->pgsizes))
			return IOVIRT_EINVAL;
		width = p->width;
		if (p->pgsizes)
			pgsizes = p->pgsizes;
	}
	const unsigned levels = io->impl->levels_for_width(width);
	if (!levels || (pgsizes & ~IOVIRT_PAGES_ALL) || !(pgsizes & IOVIRT_PAGE_4K))
		return IOVIRT_EINVAL;

	/* EDUP before allocating (an existing space has its chunk); the chunk
	 * made, when needed, only once the space and its root are: a create
	 * that fails leaves nothing behind */
	if (space_get(io, asid))
		return IOVIRT_EDUP;
	struct pt_space *s = io->ops->mem_alloc(io->host, space_bytes(levels), 64);
	if (!s)
		return IOVIRT_ENOMEM;
	s->levels = levels;
	if (!pt_root_alloc(io, s, levels)) {
		space_free(io, s);
		return IOVIRT_ENOMEM;
	}
	struct pt_space *_Atomic *slot = space_slot(io, asid);
	if (!slot) {
		space_release(io, s);
		return IOVIRT_ENOMEM;
	}
	s->asid = asid;
	s->xlate = io->impl->translate[levels - 3];
	s->width = width;
	s->limit = UINT64_C(1) << width;
	s->pgsizes = pgsizes;
	s->io = io;
	struct pt_space *expect = NULL;
	if (!atomic_compare_exchange_strong_explicit(slot, &expect, s, memory_order_acq_rel,
						     memory_order_relaxed)) {
		space_release(io, s);
		return IOVIRT_EDUP;
	}
	atomic_fetch_add_explicit(&io->nspaces, 1, memory_order_relaxed);
	return 0;
}

int iovirt_pt_space_destroy(struct iovirt_iommu *io, uint32_t asid)
{
	struct pt_space *s = space_of(io, asid);
	if (!s)
		return IOVIRT_ENOASID;
	struct pt_space *_Atomic *chunk = atomic_load(&io->dir[asid >> PT_DIR_BITS]);
	if (!atomic_compare_exchange_strong(&chunk[asid & (PT_DIR_SIZE - 1)], &s, NULL))
		return IOVIRT_ENOASID;
	/* A trimmer that found s in the directory before our CAS may be inside
	 * it (kept_release): it leaves after one pass over the space's tables. */
	while (atomic_load_explicit(&io->trim_space, memory_order_seq_cst) == s)
		;
	atomic_fetch_sub_explicit(&io->nspaces, 1, memory_order_relaxed);
	pt_enter(io);
	space_teardown(io, s);
	pt_leave(io);
	return 0;
}

/* ---- checks shared by map and unmap ---- */

static int check_range(const struct pt_space *s, uint64_t iova, uint64_t size)
{
	uint64_t end;
	if (size == 0)
		return IOVIRT_EINVAL;
	if ((iova | size) & IOVIRT_PAGE_MASK)
		return IOVIRT_EALIGN;
	if (!iovirt_add_ok(iova, size, &end))
		return IOVIRT_EOVERFLOW;
	if (end > s->limit)
		return IOVIRT_ERANGE;
	return 0;
}

/*
 * The arguments of a map or unmap in one test each, the hot path's only
 * checks (issue 13): true exactly when check_range (and for a map, the prot
 * and pa checks) would find nothing wrong. Both limits are powers of two, so
 * "a | b below the limit" is "each below it", and below 2^57 no sum wraps;
 * size - 1 wraps for size 0, which fails the first compare.
 */
static inline bool range_ok(const struct pt_space *s, uint64_t iova, uint64_t size)
{
	const uint64_t lim = s->limit;
	return !((iova | size) & IOVIRT_PAGE_MASK) && ((size - 1) | iova) < lim && iova + size <= lim;
}

static inline bool map_args_ok(const struct iovirt_iommu *io, const struct pt_space *s, uint64_t iova,
			       uint64_t pa, uint64_t size, unsigned prot)
{
	/* prot first: READ, WRITE or both, and one the format can express */
	if (prot - 1u >= 3u || prot == io->fmt->prot_refused)
		return false;
	if ((iova | size | pa) & IOVIRT_PAGE_MASK)
		return false;
	const uint64_t lim = s->limit, m = size - 1;
	if ((m | iova) >= lim || iova + size > lim)
		return false;
	const uint64_t plim = io->impl->pa_limit;
	return (m | pa) < plim && pa + size <= plim;
}

/* The AFTER_INVAL mode's map: inside the writer count. */
__attribute__((noinline)) static int map_counted(struct iovirt_iommu *io, struct pt_space *s, uint64_t iova,
						  uint64_t pa, uint64_t size, unsigned prot)
{
	/* pt_enter and pt_leave, the mode known */
	atomic_fetch_add_explicit(&io->inside, 1, memory_order_seq_cst);
	const int r = io->impl->map(io, s, iova, pa, size, prot);
	pt_leave_slow(io);
	return r;
}

/* The walk, once every argument is checked. Deferred mode (the default) has
 * no writer count: straight to the walk, a tail call. */
static inline int map_go(struct iovirt_iommu *io, struct pt_space *s, uint64_t iova, uint64_t pa, uint64_t size,
			 unsigned prot)
{
	if (io->reclaim == IOVIRT_RECLAIM_AFTER_INVAL)
		return map_counted(io, s, iova, pa, size, prot);
	return io->impl->map(io, s, iova, pa, size, prot);
}

/* Which error a map that failed map_args_ok gets, in the header's order. Out
 * of line and cold: the hot path carries only the combined test. */
__attribute__((cold, noinline)) static int map_refused(struct iovirt_iommu *io, struct pt_space *s,
							uint64_t iova, uint64_t pa, uint64_t size, unsigned prot)
{
	if (!prot || (prot & ~(unsigned)(IOVIRT_PROT_READ | IOVIRT_PROT_WRITE)) || prot == io->fmt->prot_refused)
		return IOVIRT_EINVAL;
	int r = check_range(s, iova, size);
	if (r)
		return r;
	uint64_t pend;
	if (pa & IOVIRT_PAGE_MASK)
		return IOVIRT_EALIGN;
	if (!iovirt_add_ok(pa, size, &pend))
		return IOVIRT_EOVERFLOW;
	if (pend > io->impl->pa_limit)
		return IOVIRT_EINVAL; /* beyond what an entry of the format can hold */
	return map_go(io, s, iova, pa, size, prot); /* never: map_args_ok refused only these */
}

/* Cold: the error of a call without an iommu or a space. */
__attribute__((cold, noinline)) static int no_space(const struct iovirt_iommu *io)
{
	return io ? IOVIRT_ENOASID : IOVIRT_EINVAL;
}

int iovirt_pt_map(struct iovirt_iommu *io, uint32_t asid, uint64_t iova, uint64_t pa, uint64_t size,
		  unsigned prot)
{
	struct pt_space *s = space_of(io, asid);
	if (IOVIRT_UNLIKELY(!s))
		return no_space(io);
	if (IOVIRT_UNLIKELY(!map_args_ok(io, s, iova, pa, size, prot)))
		return map_refused(io, s, iova, pa, size, prot);
	return map_go(io, s, iova, pa, size, prot);
}

/* The invalidation of what one unmap cleared (pt_clear_flush's first step),
 * inline in iovirt_pt_unmap: the request built here, not through
 * inval_space's seven arguments. */
static inline void unmap_inval(struct iovirt_iommu *io, const struct pt_space *s, uint32_t asid,
			       const struct pt_clear *cl)
{
	const struct iovirt_inval inv = {
		.asid = asid,
		.kind = IOVIRT_INVAL_RANGE,
		.iova = cl->lo,
		.size = cl->hi - cl->lo + 1,
		.leaf_only = !cl->tables,
	};
	inval_send(io, s, &inv);
}

int64_t iovirt_pt_unmap(struct iovirt_iommu *io, uint32_t asid, uint64_t iova, uint64_t size)
{
	struct pt_space *s = space_of(io, asid);
	if (IOVIRT_UNLIKELY(!s))
		return no_space(io);
	if (IOVIRT_UNLIKELY(!range_ok(s, iova, size)))
		return check_range(s, iova, size);
	struct pt_clear cl;
	pt_clear_init(&cl);
	pt_enter(io);
	int64_t bytes = io->impl->unmap(s, iova, size, &cl);
	/* pt_clear_flush written out: one invalidation, then the unlinked tables
	 * are retired or, in AFTER_INVAL mode, leave with us (pt_leave_with) */
	if (cl.hi >= cl.lo)
		unmap_inval(io, s, asid, &cl);
	if (io->reclaim == IOVIRT_RECLAIM_AFTER_INVAL)
		pt_leave_with(io, cl.dead);
	else if (IOVIRT_UNLIKELY(cl.dead != NULL))
		pt_retire(io, cl.dead);
	return bytes;
}

/* The public gather mirrors struct pt_clear field for field. */
_Static_assert(sizeof(((struct iovirt_pt_gather *)0)->priv_) >= sizeof(struct pt_clear),
	       "iovirt_pt_gather must hold a pt_clear");

/* The gather's private words hold a struct pt_clear; copied, not cast, to keep aliasing rules. */
static void gather_get(const struct iovirt_pt_gather *g, struct pt_clear *cl)
{
	memcpy(cl, g->priv_, sizeof(*cl));
}

static void gather_put(struct iovirt_pt_gather *g, const struct pt_clear *cl)
{
	memcpy(g->priv_, cl, sizeof(*cl));
}

void iovirt_pt_gather_init(struct iovirt_pt_gather *g, uint32_t asid)
{
	struct pt_clear cl;
	pt_clear_init(&cl);
	g->asid = asid;
	g->pending = 0;
	gather_put(g, &cl);
}

int64_t iovirt_pt_unmap_gather(struct iovirt_iommu *io, uint32_t asid, uint64_t iova, uint64_t size,
			       struct iovirt_pt_gather *g)
{
	if (!io || !g)
		return IOVIRT_EINVAL;
	struct pt_space *s = space_get(io, asid);
	if (!s)
		return IOVIRT_ENOASID;
	if (asid != g->asid)
		return IOVIRT_EINVAL;
	int r = check_range(s, iova, size);
	if (r)
		return r;
	struct pt_clear cl;
	gather_get(g, &cl);
	pt_enter(io);
	int64_t bytes = io->impl->unmap(s, iova, size, &cl);
	pt_leave(io);
	gather_put(g, &cl);
	if (bytes > 0)
		g->pending++;
	return bytes;
}

void iovirt_pt_gather_flush(struct iovirt_iommu *io, struct iovirt_pt_gather *g)
{
	if (!io || !g)
		return; /* a caller's error; no iommu to invalidate through */
	struct pt_clear cl;
	gather_get(g, &cl);
	pt_enter(io);
	pt_clear_flush(io, NULL, g->asid, &cl);
	pt_leave(io);
	gather_put(g, &cl);
	g->pending = 0;
}

int iovirt_pt_split(struct iovirt_iommu *io, uint32_t asid, uint64_t iova)
{
	if (!io)
		return IOVIRT_EINVAL;
	struct pt_space *s = space_get(io, asid);
	if (!s)
		return IOVIRT_ENOASID;
	if (iova >= s->limit)
		return IOVIRT_ERANGE;
	pt_enter(io);
	int r = io->impl->split(io, s, iova);
	pt_leave(io);
	return r;
}

int iovirt_pt_translate(const struct iovirt_iommu *io, uint32_t asid, uint64_t iova, unsigned access,
			struct iovirt_xlate *out)
{
	const struct pt_space *s = space_of(io, asid);
	if (IOVIRT_UNLIKELY(!s))
		return no_space(io);
	if (IOVIRT_UNLIKELY(iova >= s->limit))
		return IOVIRT_ERANGE;
	if (IOVIRT_UNLIKELY(!access || (access & ~(unsigned)(IOVIRT_PROT_READ | IOVIRT_PROT_WRITE))))
		return IOVIRT_EINVAL;
	return s->xlate(io, s, iova, access, out);
}

int iovirt_pt_root(const struct iovirt_iommu *io, uint32_t asid, uint64_t *root_pa, unsigned *levels)
{
	const struct pt_space *s = space_of(io, asid);
	if (!s)
		return IOVIRT_ENOASID;
	*root_pa = s->root->pa;
	*levels = s->levels;
	return 0;
}

int iovirt_pt_root_info(const struct iovirt_iommu *io, uint32_t asid, struct iovirt_pt_root_info *out)
{
	if (!out || out->size < IOVIRT_PT_ROOT_INFO_SIZE_V1)
		return IOVIRT_EINVAL;
	const struct pt_space *s = space_of(io, asid);
	if (!s)
		return IOVIRT_ENOASID;
	out->root_pa = s->root->pa;
	out->format = io->format;
	out->levels = s->levels;
	out->width = s->width;
	out->mode = io->fmt->mode(s->levels);
	out->t0sz = io->format == IOVIRT_PT_FMT_ARM_S2 ? 64 - s->width : 0;
	out->root_bytes = io->fmt->root_bytes;
	return 0;
}

int iovirt_pt_ats_set(struct iovirt_iommu *io, uint32_t asid, uint16_t rid, bool on)
{
	if (!io || asid > IOVIRT_ASID_MAX)
		return IOVIRT_EINVAL;
	if (!IOVIRT_HOST_HAS(io->ops, devtlb_inval))
		return IOVIRT_ENOSYS;
	struct pt_space *s = space_get(io, asid);
	if (!s)
		return IOVIRT_ENOASID;
	/* A compare-and-swap, not a load and a store: two devices turning ATS
	 * on at once must not both succeed (the one overwritten would never see
	 * its IOTLB invalidated), nor an "off" clear another's registration. */
	const uint32_t mine = (uint32_t)rid + 1, want = on ? mine : 0;
	uint32_t cur = atomic_load_explicit(&s->ats, memory_order_relaxed);
	do {
		if (cur && cur != mine)
			return on ? IOVIRT_EBUSY : IOVIRT_EINVAL;
		if (cur == want)
			return 0;
	} while (!atomic_compare_exchange_weak_explicit(&s->ats, &cur, want, memory_order_release,
							memory_order_relaxed));
	return 0;
}

/* ---- iteration (dump.c builds on these) ---- */

struct merge {
	struct iovirt_mapping run;
	int (*fn)(void *, const struct iovirt_mapping *);
	void *arg;
};

static int merge_leaf(void *arg, uint64_t iova, uint64_t pa, uint64_t size, unsigned prot)
{
	struct merge *m = arg;
	if (m->run.size && m->run.iova + m->run.size == iova && m->run.pa + m->run.size == pa &&
	    m->run.prot == prot) {
		m->run.size += size;
		return 0;
	}
	if (m->run.size) {
		int r = m->fn(m->arg, &m->run);
		if (r)
			return r;
	}
	m->run = (struct iovirt_mapping){ .iova = iova, .pa = pa, .size = size, .prot = prot };
	return 0;
}

int iovirt_pt_foreach(const struct iovirt_iommu *io, uint32_t asid,
		      int (*fn)(void *arg, const struct iovirt_mapping *m), void *arg)
{
	struct pt_space *s = space_of(io, asid);
	if (!s)
		return IOVIRT_ENOASID;
	struct merge m = { .fn = fn, .arg = arg };
	int r = io->impl->visit(s, &(const struct pt_visitor){ .leaf = merge_leaf, .arg = &m });
	if (!r && m.run.size)
		r = fn(arg, &m.run);
	return r;
}

struct table_visit {
	int (*fn)(void *, const struct iovirt_pt_table *);
	void *arg;
};

static int table_seen(void *arg, struct pt_node *n, uint64_t iova)
{
	const struct table_visit *tv = arg;
	const struct iovirt_pt_table t = {
		.pa = n->pa,
		.iova = iova,
		.level = n->level,
		.used = atomic_load_explicit(&n->cnt, memory_order_relaxed) & PT_COUNT,
	};
	return tv->fn(tv->arg, &t);
}

int iovirt_pt_foreach_table(const struct iovirt_iommu *io, uint32_t asid,
			    int (*fn)(void *arg, const struct iovirt_pt_table *t), void *arg)
{
	struct pt_space *s = space_of(io, asid);
	if (!s)
		return IOVIRT_ENOASID;
	struct table_visit tv = { .fn = fn, .arg = arg };
	return io->impl->visit(s, &(const struct pt_visitor){ .table = table_seen, .arg = &tv });
}

int pt_space_info(const struct iovirt_iommu *io, uint32_t asid, uint32_t *width, uint32_t *levels,
		  uint64_t *pgsizes)
{
	const struct pt_space *s = space_of(io, asid);
	if (!s)
		return IOVIRT_ENOASID;
	*width = s->width;
	*levels = s->levels;
	*pgsizes = s->pgsizes;
	return 0;
}
