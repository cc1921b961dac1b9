/* SPDX-License-Identifier: MIT */
/*
 * Per-guest-page pin counts. Growth (hash table, leaves) happens only in
 * pin_counts_reserve; pin_counts_inc/dec never allocate, so a pin either
 * fails before any count changed or cannot fail for lack of memory.
 */
#include "pin/internal.h"

static inline uint32_t slot_of(uint64_t key, uint32_t cap)
{
	return (uint32_t)((key * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & (cap - 1);
}

static struct pin_leaf *leaf_find(const struct pin_counts *c, uint64_t key)
{
	if (!c->cap)
		return NULL;
	for (uint32_t i = slot_of(key, c->cap);; i = (i + 1) & (c->cap - 1)) {
		struct pin_leaf *e = c->tab[i];
		if (!e || e->key == key)
			return e;
	}
}

/* leaf_find through the one-leaf cache: the pages of consecutive DMAs are
 * mostly in the same 2 MiB stretch, so the hash is rarely probed. */
static inline struct pin_leaf *leaf_lookup(struct pin_counts *c, uint64_t key)
{
	struct pin_leaf *l = c->last;
	if (l && l->key == key)
		return l;
	l = leaf_find(c, key);
	if (l)
		c->last = l;
	return l;
}

static void leaf_insert(struct pin_counts *c, struct pin_leaf *l)
{
	uint32_t i = slot_of(l->key, c->cap);
	while (c->tab[i])
		i = (i + 1) & (c->cap - 1);
	c->tab[i] = l;
	c->n++;
}

/* A leaf whose pages all dropped to 0 leaves the table (backward-shift
 * deletion keeps probe chains unbroken without tombstones). */
static void leaf_release(struct iovirt_pin_domain *d, struct pin_leaf *l)
{
	struct pin_counts *c = &d->counts;
	uint32_t m = c->cap - 1, i = slot_of(l->key, c->cap);
	while (c->tab[i] != l)
		i = (i + 1) & m;
	c->tab[i] = NULL;
	for (uint32_t j = (i + 1) & m; c->tab[j]; j = (j + 1) & m) {
		uint32_t k = slot_of(c->tab[j]->key, c->cap);
		/* Move entry j into the hole unless its home lies in (i, j]. */
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (!stays) {
			c->tab[i] = c->tab[j];
			c->tab[j] = NULL;
			i = j;
		}
	}
	if (c->last == l)
		c->last = NULL;
	c->n--;
	c->nempty--;
	d->st.leaves--;
	if (c->nspare < PIN_SPARE_MAX) {
		l->next = c->spare;
		c->spare = l;
		c->nspare++;
	} else {
		pin_meta_free(d, l, sizeof(*l));
	}
}

static struct pin_leaf *leaf_get(struct iovirt_pin_domain *d, uint64_t key)
{
	struct pin_counts *c = &d->counts;
	struct pin_leaf *l = leaf_lookup(c, key);
	if (l)
		return l;
	/* pin_counts_reserve guaranteed a spare and table room. */
	l = c->spare;
	c->spare = l->next;
	c->nspare--;
	l->next = NULL;
	l->key = key;
	l->used = 0;
	leaf_insert(c, l);
	c->last = l;
	c->nempty++;
	d->st.leaves++;
	return l;
}

/*
 * Empty leaves stay in the table (a DMA that pins and completes the same
 * pages again and again then never touches the table's structure); once more
 * than PIN_SPARE_MAX wait, all of them go. Entries only move towards the hole
 * being filled, so one forward scan that re-checks a filled slot sees all.
 */
static void leaf_sweep(struct iovirt_pin_domain *d)
{
	struct pin_counts *c = &d->counts;
	for (uint32_t i = 0; i < c->cap && c->nempty;) {
		struct pin_leaf *l = c->tab[i];
		if (l && !l->used)
			leaf_release(d, l);
		else
			i++;
	}
}

int pin_counts_reserve(struct iovirt_pin_domain *d, const struct pin_range *r, uint32_t n)
{
	struct pin_counts *c = &d->counts;
	uint64_t need = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t k0 = r[i].first >> PIN_LEAF_SHIFT;
		uint64_t k1 = (r[i].first + r[i].npages - 1) >> PIN_LEAF_SHIFT;
		for (uint64_t k = k0; k <= k1; k++)
			need += !leaf_lookup(c, k);
	}
	if (!need)
		return 0;
	/* Load factor at most 1/2 after every needed leaf is in. */
	uint64_t want = 2 * ((uint64_t)c->n + need);
	if (want > (UINT64_C(1) << 30))
		return IOVIRT_ENOMEM;
	if (want > c->cap) {
		uint32_t cap = c->cap ? c->cap : 16;
		while (cap < want)
			cap *= 2;
		struct pin_leaf **t = pin_meta_alloc(d, (size_t)cap * sizeof(*t));
		if (!t)
			return IOVIRT_ENOMEM;
		struct pin_leaf **old = c->tab;
		uint32_t oldcap = c->cap;
		c->tab = t;
		c->cap = cap;
		c->n = 0;
		for (uint32_t i = 0; i < oldcap; i++)
			if (old[i])
				leaf_insert(c, old[i]);
		pin_meta_free(d, old, (size_t)oldcap * sizeof(*old));
	}
	/* Spare leaves stay with the domain when a later one fails: invisible. */
	while (c->nspare < need) {
		struct pin_leaf *l = pin_meta_alloc(d, sizeof(*l));
		if (!l)
			return IOVIRT_ENOMEM;
		l->next = c->spare;
		c->spare = l;
		c->nspare++;
	}
	return 0;
}

/* Decrements the first `limit` page references of r in order; pages that drop
 * to 0 are unpinned in contiguous runs. */
static void dec_prefix(struct iovirt_pin_domain *d, const struct pin_range *r, uint32_t n,
		       uint64_t limit)
{
	struct pin_run run = { 0, 0 };
	for (uint32_t i = 0; i < n && limit; i++) {
		uint64_t gfn = r[i].first, left = r[i].npages;
		while (left && limit) {
			struct pin_leaf *l = leaf_lookup(&d->counts, gfn >> PIN_LEAF_SHIFT);
			uint32_t off = (uint32_t)(gfn & (PIN_LEAF_PAGES - 1));
			uint64_t k = PIN_LEAF_PAGES - off;
			k = k < left ? k : left;
			k = k < limit ? k : limit;
			for (uint64_t j = 0; j < k; j++) {
				if (--l->cnt[off + j] == 0) {
					pin_leaf_dec_used(&d->counts, l);
					pin_run_unpin_add(d, &run, gfn + j);
				}
			}
			d->st.page_refs -= k;
			gfn += k;
			left -= k;
			limit -= k;
		}
	}
	pin_run_unpin(d, &run);
	if (d->counts.nempty > PIN_SPARE_MAX)
		leaf_sweep(d);
}

/* Drops the counts of a run that went 0 -> 1 but whose pin failed: no unpin. */
static void undo_run(struct iovirt_pin_domain *d, const struct pin_run *run)
{
	for (uint64_t p = run->start; p < run->start + run->len; p++) {
		struct pin_leaf *l = leaf_lookup(&d->counts, p >> PIN_LEAF_SHIFT);
		l->cnt[p & (PIN_LEAF_PAGES - 1)] = 0;
		d->st.page_refs--;
		pin_leaf_dec_used(&d->counts, l);
	}
}

/*
 * Increments every page of r in order, pinning 0 -> 1 pages in contiguous
 * runs. A run is pinned when it cannot grow any more, before the page that
 * ends it is counted, so the failing run is always the last `run.len`
 * references done: undo it without unpin, and unpin-decrement the rest.
 */
int pin_counts_inc(struct iovirt_pin_domain *d, const struct pin_range *r, uint32_t n)
{
	struct pin_run run = { 0, 0 };
	uint64_t done = 0;
	int err = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t gfn = r[i].first, left = r[i].npages;
		while (left) {
			struct pin_leaf *l = leaf_get(d, gfn >> PIN_LEAF_SHIFT);
			uint32_t off = (uint32_t)(gfn & (PIN_LEAF_PAGES - 1));
			uint64_t k = PIN_LEAF_PAGES - off;
			k = k < left ? k : left;
			for (uint64_t j = 0; j < k; j++) {
				/* a page counted already ends the run: pin it first */
				err = l->cnt[off + j] == 0 ? pin_run_pin_add(d, &run, gfn + j)
							   : pin_run_pin(d, &run);
				if (err) {
					d->st.page_refs += j;
					goto fail;
				}
				if (l->cnt[off + j]++ == 0 && l->used++ == 0)
					d->counts.nempty--;
				done++;
			}
			d->st.page_refs += k;
			gfn += k;
			left -= k;
		}
	}
	err = pin_run_pin(d, &run);
	if (!err)
		return 0;
fail:
	undo_run(d, &run);
	dec_prefix(d, r, n, done - run.len);
	return err;
}

/* dec_prefix of everything, without the limit bookkeeping (every complete). */
void pin_counts_dec(struct iovirt_pin_domain *d, const struct pin_range *r, uint32_t n)
{
	struct pin_run run = { 0, 0 };
	uint64_t refs = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t gfn = r[i].first, left = r[i].npages;
		refs += left;
		while (left) {
			struct pin_leaf *l = leaf_lookup(&d->counts, gfn >> PIN_LEAF_SHIFT);
			uint32_t off = (uint32_t)(gfn & (PIN_LEAF_PAGES - 1));
			uint32_t k = PIN_LEAF_PAGES - off;
			k = k < left ? k : (uint32_t)left;
			uint32_t *cnt = l->cnt + off;
			for (uint32_t j = 0; j < k; j++) {
				if (--cnt[j])
					continue;
				pin_leaf_dec_used(&d->counts, l);
				pin_run_unpin_add(d, &run, gfn + j);
			}
			gfn += k;
			left -= k;
		}
	}
	d->st.page_refs -= refs;
	pin_run_unpin(d, &run);
	if (d->counts.nempty > PIN_SPARE_MAX)
		leaf_sweep(d);
}

uint32_t pin_counts_get(const struct pin_counts *c, uint64_t gfn)
{
	const struct pin_leaf *l = leaf_find(c, gfn >> PIN_LEAF_SHIFT);
	return l ? l->cnt[gfn & (PIN_LEAF_PAGES - 1)] : 0;
}

void pin_counts_free(struct iovirt_pin_domain *d)
{
	struct pin_counts *c = &d->counts;
	for (uint32_t i = 0; i < c->cap; i++)
		pin_meta_free(d, c->tab[i], sizeof(struct pin_leaf));
	pin_meta_free(d, c->tab, (size_t)c->cap * sizeof(*c->tab));
	while (c->spare) {
		struct pin_leaf *l = c->spare;
		c->spare = l->next;
		pin_meta_free(d, l, sizeof(*l));
	}
	*c = (struct pin_counts){ 0 };
}

/* The rollback of a failed increment (see pin_counts_inc): the last
 * run.len references went 0 -> 1 without a pin, `done` references in all. */
void pin_counts_inc_undo(struct iovirt_pin_domain *d, const struct pin_range *r, uint32_t n,
			 const struct pin_run *run, uint64_t done)
{
	undo_run(d, run);
	dec_prefix(d, r, n, done - run->len);
}

void pin_counts_sweep(struct iovirt_pin_domain *d)
{
	leaf_sweep(d);
}
