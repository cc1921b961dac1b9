/* SPDX-License-Identifier: MIT */
/* Internal structures of lib/pagetable. Not installed. */
#ifndef IOVIRT_PAGETABLE_INTERNAL_H
#define IOVIRT_PAGETABLE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/checked.h"
#include "iovirt/pagetable.h"

#define PT_BITS 9
#define PT_ENTRIES 512u
#define PT_MAX_LEVELS 5
/* Set in a node's count once it is unlinked: no entry may be added after. */
#define PT_DEAD 0x80000000u
/* With PT_DEAD: dropped whole by an unmap (pt_drop_whole), its descendants
 * still linked below it; retiring and freeing it take the whole subtree. */
#define PT_WHOLE 0x40000000u
/* Kept (issue 13): the table emptied and was left linked for reuse instead of
 * unlinked; it holds one of the iommu's keep slots (io->nkept) until a trim,
 * a covering unmap or destroy takes the mark back. The mark stays while the
 * table is used again, so a reserve and a release never touch it. */
#define PT_KEPT 0x20000000u
/* The count of present entries, without the marks. */
#define PT_COUNT 0x1fffffffu

/* Bytes covered by one entry of a table at `level` (1 = 4 KiB entries). */
static inline unsigned pt_shift(unsigned level)
{
	return IOVIRT_PAGE_SHIFT + PT_BITS * (level - 1);
}

/*
 * One table page and its bookkeeping. The hardware sees only *tbl; the CPU
 * walks through child[], the shadow of the table entries' addresses (the host
 * gives no way back from a physical address to a pointer).
 */
struct pt_node {
	uint64_t *tbl;       /* 512 hardware entries */
	uint64_t pa;         /* physical address of tbl */
	struct pt_node *next; /* retire list */
	_Atomic uint32_t cnt; /* present entries, PT_DEAD once unlinked */
	uint32_t level;
	/* Level > 1 only: the 512 children, inline so that a walk step is one load.
	 * A level-1 node is allocated without it (32 bytes per 2 MiB of 4 KiB pages). */
	struct pt_node *_Atomic child[];
};

/* Bytes of bookkeeping for a node at level. A level-2 node also keeps, after
 * child[], the table pointers of its level-1 children, so that a translation
 * reaches the leaf entry without loading the level-1 node. */
static inline size_t pt_node_bytes(unsigned level)
{
	return sizeof(struct pt_node) + (level > 1 ? PT_ENTRIES * sizeof(struct pt_node *) : 0) +
	       (level == 2 ? PT_ENTRIES * sizeof(uint64_t *) : 0);
}

/* Level-2 nodes only: the leaf tables of the children. */
static inline uint64_t *_Atomic *pt_ctbl(const struct pt_node *n)
{
	return (uint64_t *_Atomic *)&n->child[PT_ENTRIES];
}

struct pt_space;
typedef int (*pt_xlate_fn)(const struct iovirt_iommu *io, const struct pt_space *s, uint64_t iova, unsigned access,
			   struct iovirt_xlate *out);

struct pt_space {
	uint32_t asid;
	uint32_t width;
	uint32_t levels;
	uint32_t pad;
	uint64_t limit;   /* 2^width: first iova out of range */
	uint64_t pgsizes; /* allowed page sizes */
	struct pt_node *root;
	struct pt_space *next; /* retire list */
	_Atomic uint32_t ats;  /* ATS: RID + 1 of the device caching its translations; 0 none */
	pt_xlate_fn xlate;     /* the format's translation walker for this depth */
	struct iovirt_iommu *io; /* its iommu: the keep bound and count (unmap, trim) */
};

/* A space's allocation holds the space, then (64-byte aligned) its root's
 * node: a walk finds root->child[] at a fixed offset from the space, one
 * dependent load less than through s->root (which points there too). */
#define PT_SPACE_BYTES ((sizeof(struct pt_space) + 63) & ~(size_t)63)
static inline struct pt_node *pt_space_root(const struct pt_space *s)
{
	return (struct pt_node *)((char *)s + PT_SPACE_BYTES);
}

/* What unmaps (or a map's rollback) cleared and not yet invalidated. */
struct pt_clear {
	uint64_t lo, hi;      /* iova range of cleared entries (hi inclusive; lo > hi: none) */
	uint64_t bytes;       /* bytes of leaves cleared */
	bool tables;          /* a table entry was cleared too */
	struct pt_node *dead; /* unlinked nodes, to retire after the invalidation */
};

static inline void pt_clear_init(struct pt_clear *cl)
{
	cl->lo = UINT64_MAX;
	cl->hi = 0;
	cl->bytes = 0;
	cl->tables = false;
	cl->dead = NULL;
}

/* One invalidation for everything cl holds, then its unlinked tables are retired.
 * s: the space, or NULL to look asid up (a gather may outlive its space). */
void pt_clear_flush(struct iovirt_iommu *io, const struct pt_space *s, uint32_t asid, struct pt_clear *cl);

/* What a whole-space visit calls: table(arg, node, iova) for each table before
 * its entries, leaf(arg, iova, pa, size, prot) for each leaf, ascending; either
 * may be NULL; a nonzero return stops the visit and is returned. */
struct pt_visitor {
	int (*table)(void *arg, struct pt_node *n, uint64_t iova);
	int (*leaf)(void *arg, uint64_t iova, uint64_t pa, uint64_t size, unsigned prot);
	void *arg;
};

/* A format's facts and the walker built on them (one instance per entry format). */
struct pt_impl {
	uint64_t pa_limit; /* first physical address an entry cannot hold */
	unsigned (*levels_for_width)(unsigned width);
	/* The walker trusts its arguments: iommu.c checked every one. */
	int (*map)(struct iovirt_iommu *io, struct pt_space *s, uint64_t iova,
		   uint64_t pa, uint64_t size, unsigned prot);
	/* Clears [iova, iova + size) into cl without invalidating; bytes or ESPLIT. */
	int64_t (*unmap)(struct pt_space *s, uint64_t iova, uint64_t size, struct pt_clear *cl);
	int (*split)(struct iovirt_iommu *io, struct pt_space *s, uint64_t iova);
	/* The translation walker of each depth, 3 to 5 levels (a space keeps
	 * its own in pt_space.xlate); io unused: it keeps the caller's
	 * arguments in their registers (the call is a jump, issue 13). */
	pt_xlate_fn translate[3];
	int (*visit)(struct pt_space *s, const struct pt_visitor *v);
	/* Unlinks s's kept tables that are empty into cl and takes the mark off
	 * the others; returns how many it unlinked. */
	size_t (*trim)(struct pt_space *s, struct pt_clear *cl);
};

extern const struct pt_impl pt_impl_vtd;
extern const struct pt_impl pt_impl_amd;
extern const struct pt_impl pt_impl_s2;
extern const struct pt_impl pt_impl_rv;

/* What the iommu (not the walk) knows of a format: its walker, its root
 * table's size, the prot values its leaves can express, and the field a
 * context entry carries (iovirt_pt_root_info.mode). */
struct pt_format {
	const struct pt_impl *impl;
	uint32_t root_bytes;   /* 4096, or a larger naturally aligned block (table_block_alloc) */
	uint32_t prot_refused; /* a prot value the entries cannot express (0: none) */
	uint32_t (*mode)(unsigned levels);
};

/*
 * The table cache: emptied pages of one kind (leaf tables, level-2 tables, the
 * levels above: one bookkeeping size each), past their grace period, kept for
 * the next install. One slot per page: a put fills an empty slot by CAS, a
 * take empties a full one by exchange, so no page is taken twice and a slot
 * never sees ABA. `top` is a hint only (slots below it were full recently):
 * a race on it costs a miss, never correctness.
 */
#define PT_CACHE_KINDS 3
struct pt_cache {
	_Atomic uint32_t top;
	_Atomic(struct pt_node *) slot[IOVIRT_PT_TABLE_CACHE_MAX];
};

static inline unsigned pt_cache_kind(unsigned level)
{
	return level < 3 ? level - 1 : 2;
}

#define PT_DIR_BITS 10
#define PT_DIR_SIZE (1u << PT_DIR_BITS)

struct iovirt_iommu {
	const struct iovirt_host_ops *ops;
	void *host;
	const struct pt_impl *impl;
	const struct pt_format *fmt;
	uint32_t format; /* enum iovirt_pt_format */
	uint32_t reclaim;
	/* ASID directory: top 10 bits select a chunk of 1024 slots, made on demand;
	 * chunk 0 (ASIDs below 1024, the common ones) is dir0, inline, so their
	 * lookup is one load (the translate chain one load shorter). */
	_Atomic(struct pt_space *_Atomic *) dir[PT_DIR_SIZE];
	_Atomic(struct pt_node *) retired;
	_Atomic(struct pt_space *) retired_spaces;
	/* AFTER_INVAL mode only: writers inside a walk now, and the nodes unlinked
	 * and invalidated while some were; the last writer to leave frees them. */
	_Atomic uint32_t inside;
	_Atomic(struct pt_node *) pending;
	/* Pages held from the host (ntables, meta_bytes) include cached ones. */
	_Atomic uint64_t nspaces, ntables, nretired, meta_bytes, ninval;
	uint32_t cache_cap; /* slots used per kind: 0 .. IOVIRT_PT_TABLE_CACHE_MAX */
	/* Kept tables (PT_KEPT): how many hold the mark now, and the bound. */
	_Atomic uint64_t nkept;
	uint32_t keep_cap; /* 0 .. IOVIRT_PT_KEEP_MAX */
	/* iovirt_pt_trim: 1 while one walks the spaces (one at a time), and the
	 * space it is in, which iovirt_pt_space_destroy waits to see it leave. */
	_Atomic uint32_t trimming;
	_Atomic(struct pt_space *) trim_space;
	struct pt_cache cache[PT_CACHE_KINDS];
	struct pt_space *_Atomic dir0[PT_DIR_SIZE]; /* dir[0] points here */
};

/* ---- shared by the walker and the iommu (iommu.c) ---- */

/* A new, empty table page at `level` with its bookkeeping (from the table
 * cache, else from the host), or NULL. */
struct pt_node *pt_node_alloc(struct iovirt_iommu *io, unsigned level);
/* Gives the host back a node that no walker can reach any more. */
void pt_node_free(struct iovirt_iommu *io, struct pt_node *n);
/* The same for a node whose count is right (linked once, or never filled):
 * kept in the table cache when it is empty and there is room. */
void pt_node_put(struct iovirt_iommu *io, struct pt_node *n);
/* Hands a list of unlinked nodes (linked by ->next) over after their invalidation:
 * kept for iovirt_pt_reclaim in deferred mode; in AFTER_INVAL mode put on the
 * pending list, which the last writer to leave (pt_leave) frees. */
void pt_retire(struct iovirt_iommu *io, struct pt_node *list);

/* A writer enters before it walks any table of io and leaves after (AFTER_INVAL
 * mode: the count that tells when nobody can hold a pointer to a retired node;
 * deferred mode: nothing). */
static inline void pt_enter(struct iovirt_iommu *io)
{
	if (io->reclaim == IOVIRT_RECLAIM_AFTER_INVAL)
		atomic_fetch_add_explicit(&io->inside, 1, memory_order_seq_cst);
}
void pt_leave_slow(struct iovirt_iommu *io);
/* AFTER_INVAL mode: leaves, bringing the caller's own unlinked and invalidated
 * nodes (freed at once if it is the last writer inside, else retired). */
void pt_leave_with(struct iovirt_iommu *io, struct pt_node *mine);
static inline void pt_leave(struct iovirt_iommu *io)
{
	if (io->reclaim == IOVIRT_RECLAIM_AFTER_INVAL)
		pt_leave_slow(io);
}
/* Issues one IOTLB invalidation and counts it. */
void pt_inval(struct iovirt_iommu *io, const struct pt_space *s, uint32_t asid, uint32_t kind, uint64_t iova,
	      uint64_t size, bool leaf_only);

/* Width, levels and page sizes of a space, for the dump. */
int pt_space_info(const struct iovirt_iommu *io, uint32_t asid, uint32_t *width, uint32_t *levels,
		  uint64_t *pgsizes);

#endif
