/* SPDX-License-Identifier: MIT */
/*
 * Stress for the direct pop path (lib/validate, split rings read through
 * their host address) under ThreadSanitizer: a device thread posts, pops and
 * completes chains whose writable buffer lies in the fixed RAM region or in
 * slot regions that a writer thread adds and removes all the while, so that
 * every pop sees a snapshot the writer may be replacing and the queue's
 * region hint (an entry index of an older snapshot) goes stale. Each pop must
 * give the right host addresses, or ENOREGION for a buffer whose slot is
 * absent; nothing else; and the same in bursts (device_burst), in turns.
 * Old snapshots are reclaimed once both threads are done.
 *
 * A second phase does the same for packed rings with the driver on its own
 * thread: it posts two-descriptor chains (flags of the head last, with
 * release) on a ring of odd size, and now and then rewrites the second
 * descriptor's address and length right after posting (a guest racing the
 * device's reads); it takes the used descriptors back. The device pops
 * through the direct path beside it and the map writer: a chain is either the
 * one posted for its buffer ID, or (rewritten) host entries that each match
 * their guest range and lie in guest memory, or a buffer refusal naming the
 * ID (then skipped and completed with length 0); never a refusal of the
 * chain's shape or ID. Exits 0 when every check held; the last line is a
 * summary.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iovirt/iovirt.h"
#include "iovirt/posix.h"
#include "../common/rand.h"

#define GUEST 5u
#define BASE 0x80000000ull
#define PAGES 64u
#define FIXED_PAGES 16u /* RAM [0, 16): rings and readable buffers */
#define SLOTS 12u       /* slot s: pages 16 + 4 s .. + 4 */
#define NUM 64u
#define DESC (BASE + 8 * 4096ull)
#define AVAIL (BASE + 9 * 4096ull)
#define USED (BASE + 10 * 4096ull)
#define POPS 200000u

static struct iovirt_gmap *map;
static uint8_t *mem;
static atomic_bool stop;
static atomic_ulong errors, writes;

static void fail(const char *what, int v)
{
	atomic_fetch_add(&errors, 1);
	fprintf(stderr, "stress_vq_direct: %s (%d)\n", what, v);
}

static struct iovirt_region region(uint64_t page, uint64_t pages)
{
	return (struct iovirt_region){ .size = sizeof(struct iovirt_region),
				       .gpa = BASE + page * 4096, .length = pages * 4096,
				       .kind = IOVIRT_REGION_RAM,
				       .access = IOVIRT_DEV_READ | IOVIRT_DEV_WRITE, .owner = GUEST,
				       .hva = mem + page * 4096 };
}

static bool present[SLOTS]; /* the writer's (one at a time), kept across phases */

static void *writer(void *arg)
{
	(void)arg;
	uint64_t seed = 0xabcdef;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint32_t s = (uint32_t)(tr_rand(&seed) % SLOTS);
		struct iovirt_region r = region(FIXED_PAGES + 4 * s, 4);
		int e = present[s] ? iovirt_gmap_remove(map, r.gpa) : iovirt_gmap_add(map, &r);
		if (e)
			fail("writer", e);
		present[s] = !present[s];
		if (atomic_fetch_add(&writes, 1) > 20000)
			break; /* snapshots wait for the reclaim at the end */
	}
	return NULL;
}

static void put_desc(uint32_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = mem + (DESC - BASE) + i * 16;
	__atomic_store_n((uint64_t *)(void *)d, addr, __ATOMIC_RELAXED);
	__atomic_store_n((uint32_t *)(void *)(d + 8), len, __ATOMIC_RELAXED);
	__atomic_store_n((uint16_t *)(void *)(d + 12), flags, __ATOMIC_RELAXED);
	__atomic_store_n((uint16_t *)(void *)(d + 14), next, __ATOMIC_RELAXED);
}

/* The device loop: one chain posted, popped and completed per round, pops rounds. */
static void device(struct iovirt_vq *vq, uint32_t pops)
{
	static uint64_t seed = 0x13579;
	uint16_t idx = iovirt_vq_last_avail(vq);
	uint8_t *avail = mem + (AVAIL - BASE);
	for (uint32_t k = 0; k < pops; k++) {
		uint16_t head = (uint16_t)(2 * (k % (NUM / 2)));
		uint64_t rgpa = BASE + (1 + tr_rand(&seed) % 7) * 4096 + tr_rand(&seed) % 2048;
		bool in_slot = tr_rand(&seed) % 2;
		uint64_t wpage = in_slot ? FIXED_PAGES + tr_rand(&seed) % (4 * SLOTS) : 11 + tr_rand(&seed) % 5;
		uint64_t wgpa = BASE + wpage * 4096 + tr_rand(&seed) % 2048;
		put_desc(head, rgpa, 64, IOVIRT_VIRTQ_DESC_F_NEXT, (uint16_t)(head + 1));
		put_desc(head + 1u, wgpa, 1500, IOVIRT_VIRTQ_DESC_F_WRITE, 0);
		__atomic_store_n((uint16_t *)(void *)(avail + 4 + 2 * (idx % NUM)), head,
				 __ATOMIC_RELAXED);
		idx++;
		__atomic_store_n((uint16_t *)(void *)(avail + 2), idx, __ATOMIC_RELEASE);
		struct iovirt_host_seg out[4];
		struct iovirt_dma_result res;
		int n = iovirt_vq_pop(vq, map, NULL, out, 4, &res);
		if (n == 2) {
			if (out[0].hva != mem + (rgpa - BASE) || out[0].len != 64 ||
			    out[1].hva != mem + (wgpa - BASE) || out[1].len != 1500 ||
			    res.head != head || res.total != 1564)
				fail("wrong host list", n);
		} else if (n != IOVIRT_ENOREGION || !in_slot || res.desc != head + 1u) {
			fail("pop", n);
		}
		if (n < 0 && iovirt_vq_skip(vq))
			fail("skip", 0);
		int p = iovirt_vq_push_used(vq, head, n > 0 ? 1500 : 0);
		if (p)
			fail("push", p);
	}
}

/* ---- packed phase ---- */

#define PNUM 63u      /* packed ring size: odd, so the wrap is at no power of two */
#define PCHAINS 100000u
#define P_AVAIL IOVIRT_VIRTQ_DESC_F_AVAIL
#define P_USED IOVIRT_VIRTQ_DESC_F_USED

static atomic_ulong prewrites, prefused, pdone;

/* The buffers of buffer ID id: a readable header in the fixed region, a
 * writable body in a slot region (even IDs) or the fixed one (odd IDs). */
static uint64_t p_hdr(uint16_t id)
{
	return BASE + (1 + id % 7) * 4096ull + (id * 64u) % 2048;
}

static uint64_t p_body(uint16_t id)
{
	uint64_t page = id % 2 ? 11u + id % 5u : FIXED_PAGES + (id * 5u) % (4 * SLOTS);
	return BASE + page * 4096 + (id * 32u) % 2048;
}

static uint8_t *p_desc(uint32_t pos)
{
	return mem + (DESC - BASE) + pos * 16;
}

static void p_put(uint32_t pos, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags)
{
	uint8_t *d = p_desc(pos);
	__atomic_store_n((uint64_t *)(void *)d, addr, __ATOMIC_RELAXED);
	__atomic_store_n((uint32_t *)(void *)(d + 8), len, __ATOMIC_RELAXED);
	__atomic_store_n((uint16_t *)(void *)(d + 12), id, __ATOMIC_RELAXED);
	__atomic_store_n((uint16_t *)(void *)(d + 14), flags, __ATOMIC_RELEASE);
}

/* The driver: posts chains while there is room, takes used descriptors back. */
static void *p_driver(void *arg)
{
	(void)arg;
	uint64_t seed = 0x2468ace;
	uint32_t next_avail = 0, next_used = 0, held = 0, posted = 0, used = 0;
	bool avail_wrap = true, used_wrap = true;
	bool busy[PNUM] = { false };
	uint16_t nfree = PNUM, freeid[PNUM];
	for (uint16_t i = 0; i < PNUM; i++)
		freeid[i] = (uint16_t)(PNUM - 1 - i);
	while (used < PCHAINS && !atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint8_t *u = p_desc(next_used);
		uint16_t f = __atomic_load_n((uint16_t *)(void *)(u + 14), __ATOMIC_ACQUIRE);
		if (!!(f & P_AVAIL) == used_wrap && !!(f & P_USED) == used_wrap) {
			uint16_t id = __atomic_load_n((uint16_t *)(void *)(u + 12), __ATOMIC_RELAXED);
			if (id >= PNUM || !busy[id]) {
				fail("packed: used ID not posted", id);
				break;
			}
			busy[id] = false;
			freeid[nfree++] = id;
			held -= 2;
			used++;
			if ((next_used += 2) >= PNUM) {
				next_used -= PNUM;
				used_wrap = !used_wrap;
			}
			continue;
		}
		/* every eighth chain is posted while the device waits for one (all
		 * taken back first), and then raced: the second descriptor's address
		 * and length flip between the posted ones and others until the
		 * device has completed it */
		bool race = posted % 8 == 7;
		if (posted == PCHAINS || held + 2 > PNUM || !nfree || (race && held)) {
			sched_yield();
			continue;
		}
		uint16_t id = freeid[--nfree];
		busy[id] = true;
		uint32_t a = next_avail, b = a + 1 == PNUM ? 0 : a + 1;
		bool wa = avail_wrap, wb = b == 0 ? !avail_wrap : avail_wrap;
		p_put(b, p_body(id), 1500, id,
		      (uint16_t)((wb ? P_AVAIL : P_USED) | IOVIRT_VIRTQ_DESC_F_WRITE));
		p_put(a, p_hdr(id), 64, id, (uint16_t)((wa ? P_AVAIL : P_USED) | IOVIRT_VIRTQ_DESC_F_NEXT));
		if (race) {
			uint8_t *d = p_desc(b), *h = p_desc(a);
			uint64_t addr = BASE + tr_rand(&seed) % (PAGES * 4096 + 8192);
			uint32_t len = (uint32_t)(tr_rand(&seed) % 9000);
			for (uint32_t k = 0; k < 200000; k++) {
				__atomic_store_n((uint64_t *)(void *)d, k % 2 ? p_body(id) : addr,
						 __ATOMIC_RELAXED);
				__atomic_store_n((uint32_t *)(void *)(d + 8), k % 2 ? 1500 : len,
						 __ATOMIC_RELAXED);
				uint16_t hf = __atomic_load_n((uint16_t *)(void *)(h + 14),
							      __ATOMIC_RELAXED);
				if (!!(hf & P_USED) == used_wrap)
					break; /* used: the device is done with it */
			}
			atomic_fetch_add(&prewrites, 1);
		}
		held += 2;
		posted++;
		if ((next_avail += 2) >= PNUM) {
			next_avail -= PNUM;
			avail_wrap = !avail_wrap;
		}
	}
	return NULL;
}

/* A host entry matches its guest range and lies in guest memory. */
static bool p_entry_ok(const struct iovirt_host_seg *o, uint32_t dir)
{
	return o->dir == dir && o->gpa >= BASE && o->len && o->len <= PAGES * 4096 &&
	       o->gpa - BASE <= PAGES * 4096 - o->len && o->hva == mem + (o->gpa - BASE);
}

/* One chain popped: its checks (see the top), then its completion. */
static void p_check(struct iovirt_vq *vq, int n, const struct iovirt_host_seg *out,
		    const struct iovirt_dma_result *res)
{
	uint16_t id = (uint16_t)res->head;
	if (n > 0) {
		uint64_t sum = 0;
		bool ok = id < PNUM && (n == 2 || n == 3) && out[0].gpa == p_hdr(id) &&
			  out[0].len == 64 && p_entry_ok(&out[0], IOVIRT_DEV_READ);
		for (int k = 1; k < n && ok; k++)
			ok = p_entry_ok(&out[k], IOVIRT_DEV_WRITE);
		for (int k = 0; k < n; k++)
			sum += out[k].len;
		if (!ok || sum != res->total)
			fail("packed: wrong host list", n);
		int p = iovirt_vq_push_used(vq, id, 1500);
		if (p)
			fail("packed: push", p);
		return;
	}
	if (n != IOVIRT_ENOREGION && n != IOVIRT_EZEROLEN && n != IOVIRT_ETOOBIG &&
	    n != IOVIRT_EOVERFLOW) {
		fail("packed: pop", n);
		return;
	}
	atomic_fetch_add(&prefused, 1);
	int s = iovirt_vq_skip(vq);
	if (s != id)
		fail("packed: skip", s);
	else if ((s = iovirt_vq_push_used(vq, id, 0)))
		fail("packed: push after skip", s);
}

static void p_device(const struct iovirt_host_ops *ops, struct iovirt_posix *px)
{
	struct iovirt_vq *vq = NULL;
	struct iovirt_vq_params vp = { .size = sizeof(vp), .guest = GUEST, .num = PNUM,
				       .flags = IOVIRT_VQ_F_DIRECT | IOVIRT_VQ_F_PACKED,
				       .desc_gpa = DESC, .avail_gpa = AVAIL, .used_gpa = USED,
				       .map = map };
	memset(mem + (DESC - BASE), 0, 3 * 4096);
	if (iovirt_vq_create(ops, px, &vp, &vq)) {
		fail("packed: create", 0);
		return;
	}
	atomic_store(&stop, false);
	atomic_store(&writes, 0);
	pthread_t w, d;
	if (pthread_create(&w, NULL, writer, NULL) || pthread_create(&d, NULL, p_driver, NULL)) {
		fail("packed: threads", 0);
		return;
	}
	unsigned long done = 0, idle = 0;
	while (done < PCHAINS && atomic_load(&errors) == 0) {
		struct iovirt_host_seg out[4];
		struct iovirt_dma_result res;
		int n = iovirt_vq_pop(vq, map, NULL, out, 4, &res);
		if (n == 0) {
			if (++idle % 64 == 0)
				sched_yield();
			continue;
		}
		p_check(vq, n, out, &res);
		done++;
	}
	atomic_store(&pdone, done);
	atomic_store(&stop, true);
	pthread_join(d, NULL);
	pthread_join(w, NULL);
	iovirt_vq_destroy(vq);
}

/*
 * The same through iovirt_vq_pop_burst: four chains posted at once, taken in
 * bursts (a burst stops before a chain whose slot is absent; the next one
 * refuses it with ENOREGION, then it is skipped), completed in batches. All
 * chains of a burst are checked against the one snapshot it took.
 */
static void device_burst(struct iovirt_vq *vq, uint32_t bursts)
{
	static uint64_t seed = 0x2468a;
	uint16_t idx = iovirt_vq_last_avail(vq);
	uint8_t *avail = mem + (AVAIL - BASE);
	for (uint32_t k = 0; k < bursts; k++) {
		uint64_t rgpa[4], wgpa[4];
		uint16_t heads[4];
		bool in_slot[4];
		for (uint32_t c = 0; c < 4; c++) {
			heads[c] = (uint16_t)(2 * ((4 * k + c) % (NUM / 2)));
			rgpa[c] = BASE + (1 + tr_rand(&seed) % 7) * 4096 + tr_rand(&seed) % 2048;
			in_slot[c] = tr_rand(&seed) % 4 == 0;
			uint64_t wpage = in_slot[c] ? FIXED_PAGES + tr_rand(&seed) % (4 * SLOTS)
						    : 11 + tr_rand(&seed) % 5;
			wgpa[c] = BASE + wpage * 4096 + tr_rand(&seed) % 2048;
			put_desc(heads[c], rgpa[c], 64, IOVIRT_VIRTQ_DESC_F_NEXT,
				 (uint16_t)(heads[c] + 1));
			put_desc(heads[c] + 1u, wgpa[c], 1500, IOVIRT_VIRTQ_DESC_F_WRITE, 0);
			__atomic_store_n((uint16_t *)(void *)(avail + 4 + 2 * (idx % NUM)), heads[c],
					 __ATOMIC_RELAXED);
			idx++;
		}
		__atomic_store_n((uint16_t *)(void *)(avail + 2), idx, __ATOMIC_RELEASE);
		for (uint32_t c = 0; c < 4;) {
			struct iovirt_host_seg out[16];
			struct iovirt_dma_result res[4];
			struct iovirt_vq_used done[4];
			int n = iovirt_vq_pop_burst(vq, map, NULL, out, 16, res, 4);
			if (n <= 0) {
				if (n != IOVIRT_ENOREGION || !in_slot[c] || res[0].desc != heads[c] + 1u)
					fail("burst refusal", n);
				if (iovirt_vq_skip(vq) || iovirt_vq_push_used(vq, heads[c], 0))
					fail("skip", n);
				c++;
				continue;
			}
			if ((uint32_t)n > 4 - c) {
				fail("burst count", n);
				break;
			}
			for (int j = 0; j < n; j++, c++) {
				const struct iovirt_host_seg *o = out + 2 * j;
				if (res[j].nout != 2 || res[j].head != heads[c] ||
				    o[0].hva != mem + (rgpa[c] - BASE) ||
				    o[1].hva != mem + (wgpa[c] - BASE) || o[1].len != 1500)
					fail("wrong burst host list", j);
				done[j] = (struct iovirt_vq_used){ heads[c], 1500 };
			}
			if (iovirt_vq_push_used_batch(vq, done, (uint32_t)n))
				fail("push batch", n);
		}
	}
}

int main(void)
{
	mem = aligned_alloc(4096, PAGES * 4096);
	struct iovirt_posix *px = iovirt_posix_create();
	if (!mem || !px)
		return 1;
	memset(mem, 0, PAGES * 4096);
	const struct iovirt_host_ops *ops = iovirt_posix_ops();
	struct iovirt_gmap_params gp = { sizeof(gp), GUEST, 0 };
	struct iovirt_region fixed = region(0, FIXED_PAGES);
	struct iovirt_vq *vq = NULL;
	struct iovirt_vq_params vp = { .size = sizeof(vp), .guest = GUEST, .num = NUM,
				       .flags = IOVIRT_VQ_F_DIRECT, .desc_gpa = DESC,
				       .avail_gpa = AVAIL, .used_gpa = USED };
	if (iovirt_gmap_create(ops, px, &gp, &map) || iovirt_gmap_add(map, &fixed))
		return 1;
	vp.map = map;
	if (iovirt_vq_create(ops, px, &vp, &vq))
		return 1;
	pthread_t w;
	if (pthread_create(&w, NULL, writer, NULL))
		return 1;
	for (int part = 0; part < 10; part++) { /* pops and bursts beside the writer */
		device(vq, POPS / 10);
		device_burst(vq, POPS / 40);
	}
	atomic_store(&stop, true);
	pthread_join(w, NULL);
	iovirt_vq_destroy(vq);
	unsigned long split_writes = atomic_load(&writes);
	p_device(ops, px);
	iovirt_gmap_reclaim(map);
	if (iovirt_gmap_destroy(map))
		fail("destroy", 0);
	iovirt_posix_destroy(px);
	free(mem);
	unsigned long e = atomic_load(&errors);
	printf("stress_vq_direct: %u pops and %u bursts beside %lu map writes; packed: %lu chains "
	       "beside %lu map writes and a driver thread (%lu rewrites racing the device, %lu "
	       "refused), %lu errors\n",
	       POPS, POPS / 4, split_writes, atomic_load(&pdone), atomic_load(&writes),
	       atomic_load(&prewrites), atomic_load(&prefused), e);
	return e ? 1 : 0;
}
