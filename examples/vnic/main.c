/* SPDX-License-Identifier: MIT */
/*
 * vnic: the strategies compared side by side, a hostile guest's attacks, and
 * interrupts mixed with polling. Usage: vnic [--long] [--packets N] [--out DIR]
 * Writes DIR/vnic.jsonl (one object per strategy and packet size) and
 * DIR/vnic.svg (a bar chart of throughput as a share of native). DIR: build.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vnic.h"

#define NSIZES 3
static const uint32_t sizes[NSIZES] = { 64, 1500, 9000 };

struct cell {
	double ns, pps, pct;
	struct vn_result r;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void svg(const char *path, struct cell cells[VN_NSTRATEGIES][NSIZES])
{
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	static const char *const colors[VN_NSTRATEGIES] = { "#4d4d4d", "#e41a1c", "#ff7f00", "#984ea3",
							    "#377eb8", "#4daf4a", "#a6d854" };
	const int W = 920, H = 420, left = 60, top = 40, plot_h = 300, group_w = 260, bar_w = 30;
	fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif' "
		   "font-size='12'>\n<rect width='100%%' height='100%%' fill='white'/>\n", W, H);
	fprintf(f, "<text x='%d' y='22' font-size='15'>vnic: throughput as %% of native, by protection strategy "
		   "and packet size</text>\n", left);
	for (int p = 0; p <= 100; p += 25) {
		int y = top + plot_h - p * plot_h / 100;
		fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#ddd'/><text x='%d' y='%d' "
			   "text-anchor='end'>%d%%</text>\n", left, y, left + 3 * group_w, y, left - 6, y + 4, p);
	}
	/* The goal: every safe strategy at 90% of native or better. */
	const int goal_y = top + plot_h - 90 * plot_h / 100;
	fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#888' stroke-dasharray='6,4'/>"
		   "<text x='%d' y='%d' fill='#666'>goal 90%%</text>\n", left, goal_y, left + 3 * group_w, goal_y,
		left + 3 * group_w + 4, goal_y + 4);
	for (int s = 0; s < NSIZES; s++) {
		int gx = left + s * group_w + 10;
		for (int k = 0; k < VN_NSTRATEGIES; k++) {
			double pct = cells[k][s].pct > 100 ? 100 : cells[k][s].pct;
			int h = (int)(pct * plot_h / 100);
			fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='%s'><title>%s %u B: %.1f%%</title>"
				   "</rect>\n", gx + k * (bar_w + 4), top + plot_h - h, bar_w, h, colors[k],
				vn_strategy_name((enum vn_strategy)k), sizes[s], cells[k][s].pct);
		}
		fprintf(f, "<text x='%d' y='%d' text-anchor='middle'>%u-byte packets</text>\n",
			gx + VN_NSTRATEGIES * (bar_w + 4) / 2, top + plot_h + 18, sizes[s]);
	}
	for (int k = 0; k < VN_NSTRATEGIES; k++) {
		int x = left + (k % 4) * 200, y = top + plot_h + 45 + (k / 4) * 18;
		fprintf(f, "<rect x='%d' y='%d' width='12' height='12' fill='%s'/><text x='%d' y='%d'>%s</text>\n", x,
			y - 10, colors[k], x + 16, y, vn_strategy_name((enum vn_strategy)k));
	}
	fprintf(f, "</svg>\n");
	fclose(f);
}

int main(int argc, char **argv)
{
	uint64_t packets = 20000;
	const char *dir = "build";
	int reps = 3;
	bool ring_callbacks = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ring-callbacks"))
			ring_callbacks = true;
		else if (!strcmp(argv[i], "--long"))
			packets = 200000, reps = 7;
		else if (!strcmp(argv[i], "--packets") && i + 1 < argc)
			packets = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--out") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--only") && i + 2 < argc) {
			/* One strategy and size, for profiling: vnic --only iommu-persistent 1500 */
			struct vn_config cfg = { .packet_bytes = (uint32_t)atoi(argv[i + 2]), .ring_size = 256,
						 .packets = packets, .budget = 64,
						 .ring_callbacks = ring_callbacks };
			while (cfg.strategy < VN_NSTRATEGIES && strcmp(vn_strategy_name(cfg.strategy), argv[i + 1]))
				cfg.strategy++;
			struct vn_result r;
			int e = vn_run(&cfg, &r);
			printf("%s %u B: %s, %.1f ns/packet, %llu delivered\n", argv[i + 1], cfg.packet_bytes,
			       iovirt_err_name(e), (double)r.ns / (double)packets, (unsigned long long)r.delivered);
			return e || r.delivered != packets;
		} else {
			fprintf(stderr, "usage: %s [--long] [--packets N] [--out DIR] [--ring-callbacks] [--only STRATEGY BYTES]\n", argv[0]);
			return 2;
		}
	}
	mkdir(dir, 0755);
	int failures = 0;

	printf("vnic: two guests on one SR-IOV NIC (a PF with 4 VFs enabled), guest 1 sending to guest 2.\n"
	       "Every packet crosses the NIC by DMA through the strategy in each row (%llu packets, median of %d "
	       "runs, ring of 256, NAPI budget 64).\n\n",
	       (unsigned long long)packets, reps);
	static struct cell cells[VN_NSTRATEGIES][NSIZES];
	for (int s = 0; s < NSIZES; s++)
		for (int k = 0; k < VN_NSTRATEGIES; k++) {
			double v[16];
			for (int r = 0; r < reps; r++) {
				struct vn_config cfg = { .strategy = (enum vn_strategy)k, .packet_bytes = sizes[s],
							 .ring_size = 256, .packets = packets, .budget = 64,
							 .ring_callbacks = ring_callbacks };
				int e = vn_run(&cfg, &cells[k][s].r);
				const struct vn_result *res = &cells[k][s].r;
				if (e || res->delivered != packets || res->corrupt || res->left_pinned || res->left_tables ||
				    res->left_mem || res->left_maps) {
					fprintf(stderr, "%s %u B: error %s, %llu/%llu delivered, %llu corrupt, left %lld pinned "
							"%lld tables %lld bytes %lld maps\n",
						vn_strategy_name((enum vn_strategy)k), sizes[s], iovirt_err_name(e),
						(unsigned long long)res->delivered, (unsigned long long)packets,
						(unsigned long long)res->corrupt, (long long)res->left_pinned,
						(long long)res->left_tables, (long long)res->left_mem, (long long)res->left_maps);
					failures++;
				}
				v[r] = (double)res->ns / (double)packets;
			}
			qsort(v, (size_t)reps, sizeof(v[0]), cmp_double);
			cells[k][s].ns = v[reps / 2];
			cells[k][s].pps = 1e9 / cells[k][s].ns;
		}

	char path[512];
	snprintf(path, sizeof(path), "%s/vnic.jsonl", dir);
	FILE *js = fopen(path, "w");
	printf("%-18s %7s %12s %10s %9s %10s %10s\n", "strategy", "bytes", "pps", "ns/packet", "%native", "inval/pkt",
	       "tlbmiss/pkt");
	for (int s = 0; s < NSIZES; s++) {
		for (int k = 0; k < VN_NSTRATEGIES; k++) {
			struct cell *c = &cells[k][s];
			c->pct = 100.0 * cells[VN_NATIVE][s].ns / c->ns;
			printf("%-18s %7u %12.0f %10.1f %8.1f%% %10.2f %10.2f\n", vn_strategy_name((enum vn_strategy)k),
			       sizes[s], c->pps, c->ns, c->pct, (double)c->r.invalidations / (double)packets,
			       (double)c->r.device_tlb_misses / (double)packets);
			if (js)
				fprintf(js, "{\"strategy\":\"%s\",\"packet_bytes\":%u,\"pps\":%.0f,\"ns_per_packet\":%.1f,"
					    "\"pct_native\":%.1f}\n", vn_strategy_name((enum vn_strategy)k), sizes[s], c->pps,
					c->ns, c->pct);
		}
		printf("\n");
	}
	if (js)
		fclose(js);
	snprintf(path, sizeof(path), "%s/vnic.svg", dir);
	svg(path, cells);
	printf("results: %s/vnic.jsonl, plot: %s/vnic.svg\n\n", dir, dir);

	struct vn_attack at[VN_MAX_ATTACKS];
	bool victim_ok, clean;
	int n = vn_attacks(at, VN_MAX_ATTACKS, &victim_ok, &clean);
	printf("A hostile guest attacks (guest 1), beside an honest one (guest 2):\n");
	for (int i = 0; i < n; i++) {
		printf("  %-8s %-52s %-11s %s%s%s\n", at[i].refused ? "REFUSED" : "NOT STOPPED", at[i].name,
		       at[i].err ? iovirt_err_name(at[i].err) : "-", at[i].stopped_by,
		       at[i].victim_ok ? "" : " [honest traffic DISTURBED]", at[i].clean ? "" : " [LEAK]");
		failures += !at[i].refused;
	}
	printf("  honest guest's traffic after every attack: %s; pins, mappings, tables, memory left: %s\n\n",
	       victim_ok ? "all delivered" : "DISTURBED", clean ? "none" : "LEAKED");
	failures += !victim_ok + !clean;

	struct vn_napi_result nr[6];
	int m = vn_napi(nr, 6, packets * 2);
	printf("Interrupts mixed with polling (device thread -> driver thread, budget 64):\n");
	printf("  %-6s %-6s %9s %12s %14s %12s %12s\n", "load", "mode", "packets", "irqs/packet", "latency p50 ns",
	       "p99 ns", "empty polls");
	for (int i = 0; i < m; i++)
		printf("  %-6s %-6s %9llu %12.4f %14.0f %12.0f %11.1f%%\n", nr[i].load, nr[i].mode,
		       (unsigned long long)nr[i].packets, nr[i].irqs_per_packet, nr[i].latency_ns_median,
		       nr[i].latency_ns_p99, 100 * nr[i].empty_poll_ratio);
	if (m < 0)
		failures++;
	printf("\n%s\n", failures ? "FAILURES above" : "all checks held");
	return failures ? 1 : 0;
}
