/* SPDX-License-Identifier: MIT */
/* One strategy, measured: guest 0 sends, the NIC loops the packets back to guest 1. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <time.h>

#include "internal.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The receiving driver's interrupt handler and NAPI poll loop. */
static void rx_interrupt(struct vn_world *w, struct vn_guest *g, uint64_t *polls)
{
	iovirt_irqpoll_irq(g->rxirq, now_ns());
	for (;;) {
		uint32_t k = vn_drv_poll_rx(w, g, iovirt_irqpoll_budget(g->rxirq));
		(*polls)++;
		enum iovirt_irqpoll_next next = iovirt_irqpoll_polled(g->rxirq, k, now_ns());
		if (next == IOVIRT_IRQPOLL_AGAIN)
			continue;
		if (iovirt_irqpoll_recheck(g->rxirq, vn_drv_rx_pending(w, g), now_ns()) != IOVIRT_IRQPOLL_AGAIN)
			break;
	}
}

int vn_run(const struct vn_config *cfg, struct vn_result *out)
{
	static struct vn_world world; /* large (register files, slots): not on the stack */
	struct vn_world *w = &world;
	memset(out, 0, sizeof(*out));
	int r = vn_world_init(w, cfg->strategy, cfg->packet_bytes, cfg->ring_size,
			      cfg->ring_callbacks ? VN_RINGS_CALLBACK : VN_RINGS_DIRECT);
	if (r) {
		vn_world_fini(w, &out->left_pinned, &out->left_tables, &out->left_mem, &out->left_maps);
		return r;
	}
	w->verify = cfg->verify;
	struct vn_guest *a = &w->g[0], *b = &w->g[1];
	const uint32_t burst = cfg->budget ? cfg->budget : 32;
	const uint64_t inval0 = iovirt_posix_count(w->posix, IOVIRT_CB_IOTLB_INVAL);
	const uint64_t miss0 = w->tlb_misses;

	const uint64_t t0 = now_ns();
	while (a->tx_seq < cfg->packets) {
		/* Guest 0 posts a burst and rings its doorbell once. */
		uint32_t posted = 0;
		while (posted < burst && a->tx_seq < cfg->packets && vn_drv_post_tx(w, a) == 0)
			posted++;
		if (vn_drv_doorbell(w, a))
			break;
		/* The NIC serves the doorbell: loopback into guest 1, then an interrupt if due. */
		if (w->doorbell[a->vf]) {
			w->doorbell[a->vf] = false;
			uint32_t moved;
			while ((moved = vn_dev_loopback(w, a, b, burst)) > 0) {
				if (iovirt_irqpoll_notify(b->rxirq, moved, now_ns())) {
					out->interrupts++;
					rx_interrupt(w, b, &out->polls);
				}
			}
		}
		vn_drv_reap_tx(w, a);
		iovirt_pt_reclaim(w->io); /* a quiescent point: no translation or writer runs */
		if (posted == 0 && !vn_drv_rx_pending(w, b))
			break; /* nothing moves any more: a broken strategy, stop */
	}
	out->ns = now_ns() - t0;

	out->sent = a->tx_seq;
	out->bytes_sent = a->tx_seq * cfg->packet_bytes;
	out->delivered = b->rx_seq - b->corrupt;
	out->bytes_delivered = b->rx_bytes;
	out->corrupt = b->corrupt;
	out->refused = a->refused + b->refused;
	out->invalidations = iovirt_posix_count(w->posix, IOVIRT_CB_IOTLB_INVAL) - inval0;
	out->device_tlb_misses = w->tlb_misses - miss0;
	vn_world_fini(w, &out->left_pinned, &out->left_tables, &out->left_mem, &out->left_maps);
	out->quiesce_unmaps = w->quiesce_unmaps;
	return 0;
}
