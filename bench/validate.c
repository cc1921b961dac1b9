/* SPDX-License-Identifier: MIT */
/*
 * bench/validate: descriptor validation against a guest memory map, virtio
 * chain walking and the bounce copy, each beside the physical limit measured
 * in the same run (a loop that only copies the descriptor, or only memcpy's
 * the payload). Medians of bench_reps() repetitions.
 *
 * Guest memory is read through a minimal host whose guest_read is a bounds
 * check and a memcpy: the POSIX adapter's guest_read takes a mutex and logs,
 * which would measure the adapter, not iovirt (its figure is printed too).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#define GUEST 1u
#define GPA 0x100000000ull
#define MEM_BYTES (16u << 20)

static uint8_t *mem;
static struct iovirt_posix *posix;

static int fast_read(void *host, uint32_t guest, uint64_t gpa, void *dst, size_t len)
{
	(void)host;
	(void)guest;
	if (gpa < GPA || gpa - GPA > MEM_BYTES || len > MEM_BYTES - (gpa - GPA))
		return -1;
	memcpy(dst, mem + (gpa - GPA), len);
	return 0;
}

static int fast_write(void *host, uint32_t guest, uint64_t gpa, const void *src, size_t len)
{
	(void)host;
	(void)guest;
	if (gpa < GPA || gpa - GPA > MEM_BYTES || len > MEM_BYTES - (gpa - GPA))
		return -1;
	memcpy(mem + (gpa - GPA), src, len);
	return 0;
}

static void *fwd_alloc(void *host, size_t size, size_t align)
{
	return iovirt_posix_ops()->mem_alloc(host, size, align);
}

static void fwd_free(void *host, void *p, size_t size)
{
	iovirt_posix_ops()->mem_free(host, p, size);
}

static struct iovirt_host_ops fast_ops;

/* Bytes of each of nregions equal regions: the largest power of two that
 * fits, so that every region holds whole 16 KiB blocks (make_descs keeps
 * each segment inside one block: no segment crosses a region of any map). */
static uint64_t region_bytes(uint32_t nregions)
{
	uint64_t each = 1;
	while (each * 2 <= MEM_BYTES / nregions)
		each *= 2;
	return each;
}

/* A map of nregions equal regions from the start of guest memory. */
static struct iovirt_gmap *make_map(uint32_t nregions)
{
	struct iovirt_gmap *map;
	struct iovirt_gmap_params gp = { sizeof(gp), GUEST, 0 };
	if (iovirt_gmap_create(&fast_ops, posix, &gp, &map))
		abort();
	uint64_t each = region_bytes(nregions);
	for (uint32_t i = 0; i < nregions; i++) {
		struct iovirt_region r = { .size = sizeof(r), .gpa = GPA + i * each, .length = each,
					   .kind = IOVIRT_REGION_RAM,
					   .access = IOVIRT_DEV_READ | IOVIRT_DEV_WRITE,
					   .owner = GUEST, .flags = IOVIRT_REGION_HPA,
					   .hva = mem + i * each, .hpa = 0x200000000ull + i * each };
		if (iovirt_gmap_add(map, &r))
			abort();
	}
	return map;
}

#define NDESC 1024 /* descriptors cycled through, so branch predictors see variety */

struct desc {
	struct iovirt_seg s[4];
	uint32_t n;
};
static struct desc descs[NDESC];

static void make_descs(uint32_t nseg, uint64_t seed)
{
	for (int d = 0; d < NDESC; d++) {
		descs[d].n = nseg;
		for (uint32_t i = 0; i < nseg; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			/* inside one 16 KiB block: no segment crosses a region of any map */
			uint64_t off = ((seed >> 20) % 1000) * 16384 + (seed >> 34) % (16384 - 1600);
			descs[d].s[i] = (struct iovirt_seg){ GPA + off, 64 + (seed >> 50) % 1400,
							     i == nseg - 1 ? IOVIRT_DEV_WRITE
									   : IOVIRT_DEV_READ, 0 };
		}
	}
}

static double run_validate(struct iovirt_gmap *map, uint64_t iters)
{
	struct iovirt_host_seg out[16];
	uint64_t acc = 0, segs = 0;
	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < iters; i++) {
		const struct desc *d = &descs[i % NDESC];
		int n = iovirt_sg_validate(map, NULL, d->s, d->n, out, 16, NULL);
		acc += (uint64_t)n + out[0].hpa;
		segs += d->n;
	}
	uint64_t t1 = bench_now_ns();
	bench_use(acc);
	return (double)(t1 - t0) / (double)segs;
}

/*
 * Peers, written here from the two libraries' documented behaviour (no code
 * of theirs): what a vhost-user backend built on libvhost-user does per
 * descriptor (a binary search of the sorted memory table for the region
 * holding the address, then host address = mmap address + offset, the
 * length cut at the region's end and the rest looked up again, one iovec per
 * piece), and what libvfio-user's address-to-scatter-gather call does (a
 * per-thread hint: when the whole span lies in the region found last, one
 * entry after a write-permission check; otherwise a linear scan of the
 * regions). Neither checks kind, owner or read permission, sums lengths or
 * merges entries: they are the lookup alone, the floor iovirt's checks are
 * measured against.
 */
struct peer_region {
	uint64_t gpa, size;
	uint8_t *hva;
	int writable;
};
static struct peer_region peer_regs[1000];
static uint32_t peer_n;

static void make_peer(uint32_t nregions)
{
	uint64_t each = region_bytes(nregions);
	peer_n = nregions;
	for (uint32_t i = 0; i < nregions; i++)
		peer_regs[i] = (struct peer_region){ GPA + i * each, each, mem + i * each, 1 };
}

static const struct peer_region *vu_find(uint64_t gpa)
{
	uint32_t lo = 0, hi = peer_n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct peer_region *r = &peer_regs[mid];
		if (gpa < r->gpa)
			hi = mid;
		else if (gpa - r->gpa >= r->size)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

struct peer_iov {
	void *base;
	size_t len;
};

/* One descriptor's buffer to iovecs, libvhost-user style; count or -1. */
static int vu_map(uint64_t pa, uint64_t sz, struct peer_iov *iov, int n, int max)
{
	while (sz) {
		const struct peer_region *r = n < max ? vu_find(pa) : NULL;
		if (!r)
			return -1;
		uint64_t len = r->size - (pa - r->gpa);
		len = len < sz ? len : sz;
		iov[n++] = (struct peer_iov){ r->hva + (pa - r->gpa), len };
		pa += len;
		sz -= len;
	}
	return n;
}

struct peer_sg {
	uint64_t dma_addr, offset, length;
	int region, mappable;
};

static _Thread_local int vfu_hint;

static int vfu_sg_init(struct peer_sg *sg, uint64_t addr, uint64_t len, int write, int ri)
{
	const struct peer_region *r = &peer_regs[ri];
	if (write && !r->writable)
		return -1;
	*sg = (struct peer_sg){ r->gpa, addr - r->gpa, len, ri, r->hva != NULL };
	return 0;
}

/* libvfio-user style: the hint, else a linear scan; entries or -1. */
static int vfu_to_sg(uint64_t addr, uint64_t len, struct peer_sg *sg, int max, int write)
{
	const struct peer_region *h = &peer_regs[vfu_hint];
	if (max > 0 && len > 0 && vfu_hint < (int)peer_n && addr >= h->gpa &&
	    addr + len <= h->gpa + h->size)
		return vfu_sg_init(sg, addr, len, write, vfu_hint) ? -1 : 1;
	int n = 0;
	while (len) {
		int ri = 0;
		while (ri < (int)peer_n && !(addr >= peer_regs[ri].gpa &&
					     addr - peer_regs[ri].gpa < peer_regs[ri].size))
			ri++;
		if (ri == (int)peer_n || n == max)
			return -1;
		const struct peer_region *r = &peer_regs[ri];
		uint64_t piece = r->size - (addr - r->gpa);
		piece = piece < len ? piece : len;
		if (vfu_sg_init(&sg[n++], addr, piece, write, ri))
			return -1;
		addr += piece;
		len -= piece;
	}
	vfu_hint = sg[0].region;
	return n;
}

static double run_vu(uint64_t iters)
{
	struct peer_iov iov[16];
	uint64_t acc = 0, segs = 0;
	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < iters; i++) {
		const struct desc *d = &descs[i % NDESC];
		int n = 0;
		for (uint32_t k = 0; k < d->n && n >= 0; k++)
			n = vu_map(d->s[k].gpa, d->s[k].len, iov, n, 16);
		acc += (uint64_t)n + (uint64_t)(uintptr_t)iov[0].base;
		segs += d->n;
	}
	uint64_t t1 = bench_now_ns();
	bench_use(acc);
	return (double)(t1 - t0) / (double)segs;
}

static double run_vfu(uint64_t iters)
{
	struct peer_sg sg[16];
	uint64_t acc = 0, segs = 0;
	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < iters; i++) {
		const struct desc *d = &descs[i % NDESC];
		int n = 0;
		for (uint32_t k = 0; k < d->n && n >= 0; k++) {
			int r = vfu_to_sg(d->s[k].gpa, d->s[k].len, sg + n, 16 - n,
					  d->s[k].dir == IOVIRT_DEV_WRITE);
			n = r < 0 ? -1 : n + r;
		}
		acc += (uint64_t)n + sg[0].offset;
		segs += d->n;
	}
	uint64_t t1 = bench_now_ns();
	bench_use(acc);
	return (double)(t1 - t0) / (double)segs;
}

static double run_copy_desc(uint64_t iters)
{
	struct iovirt_seg snap[4];
	uint64_t acc = 0, segs = 0;
	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < iters; i++) {
		const struct desc *d = &descs[i % NDESC];
		memcpy(snap, d->s, d->n * sizeof(snap[0]));
		__asm__ volatile("" : : "r"(snap) : "memory");
		acc += snap[0].gpa;
		segs += d->n;
	}
	uint64_t t1 = bench_now_ns();
	bench_use(acc);
	return (double)(t1 - t0) / (double)segs;
}

static double median_of(double (*fn)(void *), void *arg)
{
	int reps = bench_reps();
	double v[64];
	if (reps > 64)
		reps = 64;
	for (int r = 0; r < reps; r++)
		v[r] = fn(arg);
	return bench_median(v, (size_t)reps);
}

struct vargs {
	struct iovirt_gmap *map;
	uint64_t iters;
};

static double f_validate(void *a)
{
	struct vargs *v = a;
	return run_validate(v->map, v->iters);
}

static double f_copy_desc(void *a)
{
	return run_copy_desc(((struct vargs *)a)->iters);
}

/* A peer's table of nregions regions (the same layout as make_map's). */
struct pargs {
	uint32_t nregions;
	uint64_t iters;
};

static double f_vu(void *a)
{
	struct pargs *p = a;
	make_peer(p->nregions);
	return run_vu(p->iters);
}

static double f_vfu(void *a)
{
	struct pargs *p = a;
	make_peer(p->nregions);
	return run_vfu(p->iters);
}

/* ---- virtio ---- */

#define VQ_NUM 256u
#define VQ_DESC (GPA + 0xf00000)
#define VQ_AVAIL (GPA + 0xf10000)
#define VQ_USED (GPA + 0xf20000)

static void put_desc(uint32_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = mem + (VQ_DESC - GPA) + i * 16;
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

struct vqargs {
	struct iovirt_vq *vq;
	struct iovirt_gmap *map;
	uint64_t iters;
};

static double f_vq_walk(void *a)
{
	struct vqargs *v = a;
	struct iovirt_host_seg out[8];
	uint64_t acc = 0;
	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < v->iters; i++) {
		int n = iovirt_vq_walk(v->vq, v->map, NULL, (uint32_t)(i % VQ_NUM) & ~1u, out, 8, NULL);
		acc += (uint64_t)n + out[1].len;
	}
	uint64_t t1 = bench_now_ns();
	bench_use(acc);
	return (double)(t1 - t0) / (double)v->iters;
}

static double f_vq_copy(void *a)
{
	struct vqargs *v = a;
	uint8_t snap[32];
	uint64_t acc = 0;
	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < v->iters; i++) {
		uint32_t h = (uint32_t)(i % VQ_NUM) & ~1u;
		/* the limit: read the two descriptors through the same host callback */
		fast_read(NULL, GUEST, VQ_DESC + h * 16ull, snap, 16);
		fast_read(NULL, GUEST, VQ_DESC + (h + 1) * 16ull, snap + 16, 16);
		__asm__ volatile("" : : "r"(snap) : "memory");
		acc += snap[0] + snap[16];
	}
	uint64_t t1 = bench_now_ns();
	bench_use(acc);
	return (double)(t1 - t0) / (double)v->iters;
}

/* ---- pop, validate and complete (device loop), callback and direct ---- */

#define PC_TABLE(nseg) (GPA + 0xf03000 + (nseg) * 0x1000ull) /* one table per chain length */

/* Chains of nseg descriptors at heads 0, nseg, 2 nseg...: readable, the last writable. */
static void make_pc_chains(uint32_t nseg)
{
	for (uint32_t h = 0; h + nseg <= VQ_NUM; h += nseg)
		for (uint32_t j = 0; j < nseg; j++) {
			uint8_t *d = mem + (PC_TABLE(nseg) - GPA) + (h + j) * 16;
			uint64_t addr = GPA + h * 8192ull + j * 1024;
			uint32_t len = j == nseg - 1 ? 1500 : 64;
			uint16_t flags = j == nseg - 1 ? IOVIRT_VIRTQ_DESC_F_WRITE
						       : IOVIRT_VIRTQ_DESC_F_NEXT;
			uint16_t next = (uint16_t)(h + j + 1);
			memcpy(d, &addr, 8);
			memcpy(d + 8, &len, 4);
			memcpy(d + 12, &flags, 2);
			memcpy(d + 14, &next, 2);
		}
}

struct pcargs {
	struct iovirt_vq *vq;
	struct iovirt_gmap *map;
	uint32_t nseg;
	uint64_t iters;
};

static uint16_t pc_drv_idx; /* the bench's driver: its avail idx, kept across runs */

/* The bench's driver posts one chain of nseg descriptors: its head in the
 * next ring slot, then the idx (release). */
static inline void pc_post(uint8_t *ring, uint32_t nseg)
{
	uint16_t head = (uint16_t)((pc_drv_idx * nseg) % VQ_NUM);
	memcpy(ring + 4 + 2 * (pc_drv_idx % VQ_NUM), &head, 2);
	pc_drv_idx++;
	__atomic_store_n((uint16_t *)(void *)(ring + 2), pc_drv_idx, __ATOMIC_RELEASE);
}

/* Each iteration: the driver posts one chain (ring slot, idx), the device
 * pops (ring fields read once, chain validated) and completes it. */
static double f_pop_complete(void *a)
{
	struct pcargs *v = a;
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	uint8_t *ring = mem + (VQ_AVAIL - GPA);
	uint64_t acc = 0;
	iovirt_vq_set_cursors(v->vq, pc_drv_idx, pc_drv_idx);
	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < v->iters; i++) {
		pc_post(ring, v->nseg);
		int n = iovirt_vq_pop(v->vq, v->map, NULL, out, 8, &res);
		acc += (uint64_t)n + out[0].len;
		iovirt_vq_push_used(v->vq, res.head, 1500);
	}
	uint64_t t1 = bench_now_ns();
	bench_use(acc);
	return (double)(t1 - t0) / (double)v->iters;
}

/* Chains per burst of the burst rows (a DPDK-style backend's burst). */
#define PC_BURST 32u

/* Each iteration: the driver posts PC_BURST chains (ring slots, one idx
 * store), the device takes them with one pop_burst and completes them with
 * one push_used_batch (one used idx store); timed per chain. v->iters is a
 * multiple of PC_BURST. */
static double f_pop_burst(void *a)
{
	struct pcargs *v = a;
	struct iovirt_host_seg out[PC_BURST * 8];
	struct iovirt_dma_result res[PC_BURST];
	struct iovirt_vq_used used[PC_BURST];
	uint8_t *ring = mem + (VQ_AVAIL - GPA);
	uint64_t acc = 0;
	uint16_t idx = pc_drv_idx; /* a local: the ring stores cannot alias it */
	iovirt_vq_set_cursors(v->vq, idx, idx);
	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < v->iters; i += PC_BURST) {
		for (uint32_t k = 0; k < PC_BURST; k++, idx++) {
			uint16_t head = (uint16_t)((idx * v->nseg) % VQ_NUM);
			memcpy(ring + 4 + 2 * (idx % VQ_NUM), &head, 2);
		}
		__atomic_store_n((uint16_t *)(void *)(ring + 2), idx, __ATOMIC_RELEASE);
		int n = iovirt_vq_pop_burst(v->vq, v->map, NULL, out, PC_BURST * 8, res, PC_BURST);
		if (n != (int)PC_BURST)
			abort();
		for (uint32_t k = 0; k < PC_BURST; k++)
			used[k] = (struct iovirt_vq_used){ res[k].head, 1500 };
		acc += out[0].len;
		iovirt_vq_push_used_batch(v->vq, used, PC_BURST);
	}
	uint64_t t1 = bench_now_ns();
	pc_drv_idx = idx;
	bench_use(acc);
	return (double)(t1 - t0) / (double)v->iters;
}

/* Behind an IOMMU, every chain a miss ("uncached": the library keeps no IOTLB
 * of its own, the device's page table is the cache): the pop faults on the
 * chain's buffer page (EIOFAULT, cursor unmoved), the backend maps the page
 * it names (iovirt_vq_last_fault; a vhost-user backend would ask its
 * front-end first, which is not counted here), the pop goes through, the
 * chain completes, and the page is unmapped and invalidated again
 * (iovirt_pt_unmap, iovirt_vq_iotlb_inval), so the next chain misses too. */
static struct iovirt_iommu *pc_io;

static double f_pop_miss(void *a)
{
	struct pcargs *v = a;
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	struct iovirt_vq_fault f;
	uint8_t *ring = mem + (VQ_AVAIL - GPA);
	uint64_t acc = 0;
	iovirt_vq_set_cursors(v->vq, pc_drv_idx, pc_drv_idx);
	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < v->iters; i++) {
		pc_post(ring, v->nseg);
		if (iovirt_vq_pop(v->vq, v->map, NULL, out, 8, &res) != IOVIRT_EIOFAULT ||
		    iovirt_vq_last_fault(v->vq, &f))
			abort();
		uint64_t page = f.iova & ~4095ull;
		if (iovirt_pt_map(pc_io, 1, page, page, 4096, IOVIRT_PROT_READ | IOVIRT_PROT_WRITE))
			abort();
		int n = iovirt_vq_pop(v->vq, v->map, NULL, out, 8, &res);
		acc += (uint64_t)n + out[0].len;
		iovirt_vq_push_used(v->vq, res.head, 1500);
		if (iovirt_pt_unmap(pc_io, 1, page, 4096) != 4096 || iovirt_vq_iotlb_inval(v->vq, page, 4096))
			abort();
	}
	uint64_t t1 = bench_now_ns();
	bench_use(acc);
	return (double)(t1 - t0) / (double)v->iters;
}

/* Packed: 128 two-descriptor chains; the driver posts one per iteration
 * (head id/len/flags, second flags: len and id of the head are overwritten
 * by the used descriptor), the device pops and completes it. */
#define PK_RING (GPA + 0xf08000)
#define PK_DRV (GPA + 0xf09000)
#define PK_DEV (GPA + 0xf09010)

static double f_packed(void *a)
{
	struct pcargs *v = a;
	struct iovirt_host_seg out[8];
	struct iovirt_dma_result res;
	uint8_t *ring = mem + (PK_RING - GPA);
	uint64_t acc = 0;
	iovirt_vq_set_cursors(v->vq, 0x8000, 0x8000);
	memset(ring, 0, VQ_NUM * 16);
	uint32_t pos = 0;
	bool wrap = true;
	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < v->iters; i++) {
		uint8_t *d = ring + pos * 16;
		uint64_t addr = GPA + pos * 8192ull;
		uint32_t len = 64, blen = 1500;
		uint16_t id = (uint16_t)(pos / 2), av = wrap ? 0x80 : 0x8000;
		uint16_t f0 = (uint16_t)(av | IOVIRT_VIRTQ_DESC_F_NEXT);
		uint16_t f1 = (uint16_t)(av | IOVIRT_VIRTQ_DESC_F_WRITE);
		uint64_t baddr = addr + 4096;
		memcpy(d, &addr, 8);
		memcpy(d + 8, &len, 4);
		memcpy(d + 12, &id, 2);
		memcpy(d + 16, &baddr, 8);
		memcpy(d + 24, &blen, 4);
		memcpy(d + 28, &id, 2);
		memcpy(d + 30, &f1, 2);
		__atomic_store_n((uint16_t *)(void *)(d + 14), f0, __ATOMIC_RELEASE);
		int n = iovirt_vq_pop(v->vq, v->map, NULL, out, 8, &res);
		acc += (uint64_t)n + out[0].len;
		iovirt_vq_push_used(v->vq, res.head, 1500);
		if ((pos += 2) == VQ_NUM) {
			pos = 0;
			wrap = !wrap;
		}
	}
	uint64_t t1 = bench_now_ns();
	bench_use(acc);
	return (double)(t1 - t0) / (double)v->iters;
}

static void bench_packed(struct iovirt_gmap *map, uint64_t iters)
{
	struct iovirt_vq *vq[2];
	for (int direct = 0; direct < 2; direct++) {
		struct iovirt_vq_params vp = { .size = sizeof(vp), .guest = GUEST, .num = VQ_NUM,
					       .desc_gpa = PK_RING, .avail_gpa = PK_DRV,
					       .used_gpa = PK_DEV, .map = map,
					       .flags = IOVIRT_VQ_F_PACKED |
							(direct ? IOVIRT_VQ_F_DIRECT : 0) };
		if (iovirt_vq_create(&fast_ops, posix, &vp, &vq[direct]))
			abort();
	}
	struct pcargs cb = { vq[0], map, 2, iters }, di = { vq[1], map, 2, iters };
	bench_report("validate", "vq_packed_pop_complete_2seg", "callback", iters,
		     median_of(f_packed, &cb));
	bench_report("validate", "vq_packed_pop_complete_2seg", "direct", iters,
		     median_of(f_packed, &di));
	bench_ratio("vq_packed_pop_complete_2seg", "direct", "callback");
	iovirt_vq_destroy(vq[0]);
	iovirt_vq_destroy(vq[1]);
}

static void bench_pop_complete(struct iovirt_gmap *map, uint64_t iters)
{
	/* an identity IOVA space over guest memory, 4 KiB pages (the walk's
	 * deepest case: the library keeps no IOTLB cache of its own) */
	struct iovirt_iommu *io = NULL;
	if (iovirt_iommu_create(iovirt_posix_ops(), posix, NULL, &io) ||
	    iovirt_pt_space_create(io, 1, NULL))
		abort();
	for (uint64_t off = 0; off < MEM_BYTES; off += 4096)
		if (iovirt_pt_map(io, 1, GPA + off, GPA + off, 4096,
				  IOVIRT_PROT_READ | IOVIRT_PROT_WRITE))
			abort();
	for (uint32_t nseg = 1; nseg <= 4; nseg *= 2) {
		make_pc_chains(nseg);
		struct iovirt_vq *vq[2];
		for (int direct = 0; direct < 2; direct++) {
			struct iovirt_vq_params vp = { .size = sizeof(vp), .guest = GUEST,
						       .num = VQ_NUM, .desc_gpa = PC_TABLE(nseg),
						       .avail_gpa = VQ_AVAIL, .used_gpa = VQ_USED,
						       .flags = direct ? IOVIRT_VQ_F_DIRECT : 0,
						       .map = map };
			if (iovirt_vq_create(&fast_ops, posix, &vp, &vq[direct]))
				abort();
		}
		char op[48];
		snprintf(op, sizeof(op), "vq_pop_complete_%useg", nseg);
		struct pcargs cb = { vq[0], map, nseg, iters }, di = { vq[1], map, nseg, iters };
		bench_report("validate", op, "callback", iters, median_of(f_pop_complete, &cb));
		bench_report("validate", op, "direct", iters, median_of(f_pop_complete, &di));
		bench_ratio(op, "direct", "callback");
		if (nseg == 2) {
			/* bursts of PC_BURST chains popped and completed at once, per chain */
			struct pcargs bu = { vq[1], map, nseg, (iters + PC_BURST - 1) / PC_BURST * PC_BURST };
			bench_report("validate", op, "direct_burst32", bu.iters, median_of(f_pop_burst, &bu));
			bench_ratio(op, "direct_burst32", "direct");
		}
		iovirt_vq_destroy(vq[0]);
		iovirt_vq_destroy(vq[1]);
		if (nseg == 2 && io) {
			/* behind an IOMMU: every ring and buffer address translated */
			struct iovirt_vq *vi;
			struct iovirt_vq_params vp = { .size = sizeof(vp), .guest = GUEST,
						       .num = VQ_NUM, .desc_gpa = PC_TABLE(nseg),
						       .avail_gpa = VQ_AVAIL, .used_gpa = VQ_USED,
						       .flags = IOVIRT_VQ_F_DIRECT |
								IOVIRT_VQ_F_ACCESS_PLATFORM,
						       .map = map, .iommu = io, .asid = 1 };
			if (iovirt_vq_create(&fast_ops, posix, &vp, &vi))
				abort();
			struct pcargs ia = { vi, map, nseg, iters };
			bench_report("validate", op, "direct_iova", iters, median_of(f_pop_complete, &ia));
			bench_ratio(op, "direct_iova", "direct");
			/* every chain a miss: the buffer pages (the chains' 8 KiB
			 * strides below the tables) unmapped first */
			pc_io = io;
			for (uint64_t off = 0; off < VQ_NUM * 8192ull; off += 8192)
				if (iovirt_pt_unmap(io, 1, GPA + off, 4096) != 4096)
					abort();
			if (iovirt_vq_iotlb_inval(vi, GPA, VQ_NUM * 8192ull))
				abort();
			struct pcargs im = { vi, map, nseg, iters / 20 + 1 };
			bench_report("validate", op, "direct_iova_miss", im.iters, median_of(f_pop_miss, &im));
			bench_ratio(op, "direct_iova_miss", "direct_iova");
			iovirt_vq_destroy(vi);
		}
	}
	iovirt_iommu_destroy(io);
}

/* ---- bounce ---- */

struct bargs {
	struct iovirt_bounce *pool;
	struct iovirt_gmap *map;
	struct iovirt_host_seg sg;
	uint64_t iters, size;
};

static double f_bounce(void *a)
{
	struct bargs *b = a;
	uint64_t acc = 0;
	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < b->iters; i++) {
		int32_t id = iovirt_bounce_get(b->pool);
		acc += (uint64_t)iovirt_bounce_copy_in(b->pool, id, b->map, &b->sg, 1);
		iovirt_bounce_put(b->pool, id);
	}
	uint64_t t1 = bench_now_ns();
	bench_use(acc);
	return (double)(t1 - t0) / (double)b->iters;
}

static uint8_t *plain_dst;

static double f_memcpy(void *a)
{
	struct bargs *b = a;
	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < b->iters; i++) {
		memcpy(plain_dst, b->sg.hva, b->size);
		__asm__ volatile("" : : "r"(plain_dst) : "memory");
	}
	uint64_t t1 = bench_now_ns();
	return (double)(t1 - t0) / (double)b->iters;
}

int main(void)
{
	double scale = bench_scale();
	mem = aligned_alloc(4096, MEM_BYTES);
	plain_dst = aligned_alloc(64, 65536);
	posix = iovirt_posix_create();
	if (!mem || !plain_dst || !posix)
		return 1;
	memset(mem, 1, MEM_BYTES);
	fast_ops = (struct iovirt_host_ops){ .size = sizeof(fast_ops), .mem_alloc = fwd_alloc,
					     .mem_free = fwd_free, .guest_read = fast_read,
					     .guest_write = fast_write };
	printf("bench validate (medians of %d reps)\n", bench_reps());

	uint64_t iters = (uint64_t)(2000000 * scale) + 1;
	struct iovirt_gmap *m1 = make_map(1), *m16 = make_map(16), *m1000 = make_map(1000);
	char op[48];
	for (uint32_t nseg = 1; nseg <= 4; nseg++) {
		make_descs(nseg, 42 + nseg);
		struct vargs v16 = { m16, iters }, v1 = { m1, iters }, v1000 = { m1000, iters };
		snprintf(op, sizeof(op), "sg_%useg_per_seg", nseg);
		bench_report("validate", op, "copy_desc", iters * nseg, median_of(f_copy_desc, &v16));
		bench_report("validate", op, "iovirt_16r", iters * nseg, median_of(f_validate, &v16));
		struct pargs p16 = { 16, iters }, p1000 = { 1000, iters };
		bench_report("validate", op, "vhostuser_16r", iters * nseg, median_of(f_vu, &p16));
		bench_report("validate", op, "vfiouser_16r", iters * nseg, median_of(f_vfu, &p16));
		if (nseg <= 2) {
			bench_report("validate", op, "iovirt_1000r", iters * nseg,
				     median_of(f_validate, &v1000));
			bench_report("validate", op, "vhostuser_1000r", iters * nseg,
				     median_of(f_vu, &p1000));
			bench_report("validate", op, "vfiouser_1000r", iters * nseg,
				     median_of(f_vfu, &p1000));
		}
		if (nseg == 2) {
			bench_report("validate", op, "iovirt_1r", iters * nseg, median_of(f_validate, &v1));
			bench_ratio(op, "iovirt_1000r", "iovirt_1r");
		}
		bench_ratio(op, "iovirt_16r", "copy_desc");
		bench_ratio(op, "iovirt_16r", "vhostuser_16r");
		bench_ratio(op, "iovirt_16r", "vfiouser_16r");
		if (nseg <= 2) {
			bench_ratio(op, "iovirt_1000r", "vhostuser_1000r");
			bench_ratio(op, "iovirt_1000r", "vfiouser_1000r");
		}
	}

	/* virtio: 128 two-descriptor chains (readable header + writable buffer) */
	for (uint32_t h = 0; h < VQ_NUM; h += 2) {
		put_desc(h, GPA + h * 8192ull, 12, IOVIRT_VIRTQ_DESC_F_NEXT, (uint16_t)(h + 1));
		put_desc(h + 1, GPA + h * 8192ull + 4096, 1500, IOVIRT_VIRTQ_DESC_F_WRITE, 0);
	}
	struct iovirt_vq *vq, *vq_posix;
	struct iovirt_vq_params vp = { .size = sizeof(vp), .guest = GUEST, .num = VQ_NUM,
				       .desc_gpa = VQ_DESC, .avail_gpa = VQ_AVAIL,
				       .used_gpa = VQ_USED };
	if (iovirt_vq_create(&fast_ops, posix, &vp, &vq) ||
	    iovirt_posix_guest_add(posix, GUEST, GPA, mem, MEM_BYTES) ||
	    iovirt_vq_create(iovirt_posix_ops(), posix, &vp, &vq_posix))
		return 1;
	struct vqargs va = { vq, m16, iters }, vpo = { vq_posix, m16, iters / 4 + 1 };
	bench_report("validate", "virtq_2seg_chain", "copy_desc", iters, median_of(f_vq_copy, &va));
	bench_report("validate", "virtq_2seg_chain", "iovirt", iters, median_of(f_vq_walk, &va));
	bench_report("validate", "virtq_2seg_chain", "iovirt_posix", vpo.iters,
		     median_of(f_vq_walk, &vpo));
	bench_ratio("virtq_2seg_chain", "iovirt", "copy_desc");
	bench_pop_complete(m16, iters);
	bench_packed(m16, iters);

	/* bounce copy-in of one validated segment */
	struct iovirt_bounce *pool;
	struct iovirt_bounce_params bp = { sizeof(bp), 64, 0, 65536 };
	if (iovirt_bounce_create(&fast_ops, posix, &bp, &pool))
		return 1;
	uint64_t sizes[3] = { 64, 1500, 65536 };
	for (int i = 0; i < 3; i++) {
		struct iovirt_seg s = { GPA + 0x10000 + 64, sizes[i], IOVIRT_DEV_READ, 0 };
		struct bargs b = { pool, m16, { 0 }, iters / (i == 2 ? 100 : 1) + 1, sizes[i] };
		if (iovirt_sg_validate(m16, NULL, &s, 1, &b.sg, 1, NULL) != 1)
			return 1;
		snprintf(op, sizeof(op), "bounce_%llu", (unsigned long long)sizes[i]);
		bench_report("validate", op, "memcpy", b.iters, median_of(f_memcpy, &b));
		bench_report("validate", op, "iovirt", b.iters, median_of(f_bounce, &b));
		bench_ratio(op, "iovirt", "memcpy");
	}

	iovirt_bounce_destroy(pool);
	iovirt_vq_destroy(vq);
	iovirt_vq_destroy(vq_posix);
	iovirt_gmap_destroy(m1);
	iovirt_gmap_destroy(m16);
	iovirt_gmap_destroy(m1000);
	iovirt_posix_destroy(posix);
	free(mem);
	free(plain_dst);
	return 0;
}
