/* SPDX-License-Identifier: MIT */
/* A dump of one address space for humans, one line at a time through a callback. */
#include <stdio.h>

#include "internal.h"

struct dump {
	void (*emit)(void *, const char *);
	void *arg;
	char line[160];
};

static int dump_table(void *arg, const struct iovirt_pt_table *t)
{
	struct dump *d = arg;
	snprintf(d->line, sizeof(d->line), "  %*stable L%u pa=0x%llx covers iova 0x%llx.. (%u entries used)",
		 (int)(2 * (5 - t->level)), "", t->level, (unsigned long long)t->pa,
		 (unsigned long long)t->iova, t->used);
	d->emit(d->arg, d->line);
	return 0;
}

struct run_dump {
	struct dump *d;
	uint64_t runs, bytes;
};

static int dump_run(void *arg, const struct iovirt_mapping *m)
{
	struct run_dump *r = arg;
	snprintf(r->d->line, sizeof(r->d->line), "  iova 0x%012llx-0x%012llx -> pa 0x%012llx  %c%c  %llu KiB",
		 (unsigned long long)m->iova, (unsigned long long)(m->iova + m->size - 1),
		 (unsigned long long)m->pa, (m->prot & IOVIRT_PROT_READ) ? 'r' : '-',
		 (m->prot & IOVIRT_PROT_WRITE) ? 'w' : '-', (unsigned long long)(m->size >> 10));
	r->d->emit(r->d->arg, r->d->line);
	r->runs++;
	r->bytes += m->size;
	return 0;
}

int iovirt_pt_dump(const struct iovirt_iommu *io, uint32_t asid, void (*emit)(void *arg, const char *line),
		   void *arg)
{
	uint32_t width, levels;
	uint64_t pgsizes, root_pa;
	unsigned lv;
	if (!emit || pt_space_info(io, asid, &width, &levels, &pgsizes) || iovirt_pt_root(io, asid, &root_pa, &lv))
		return IOVIRT_ENOASID;
	struct dump d = { .emit = emit, .arg = arg };
	static const char *const names[] = { "?", "VT-d second-stage", "AMD-Vi v1", "Arm stage 2", "RISC-V G-stage" };
	const uint32_t f = io->format < sizeof(names) / sizeof(names[0]) ? io->format : 0;
	snprintf(d.line, sizeof(d.line), "ASID %u: %u-bit input, %u-level %s table, root pa=0x%llx, pages%s%s%s",
		 asid, width, levels, names[f], (unsigned long long)root_pa, (pgsizes & IOVIRT_PAGE_4K) ? " 4K" : "",
		 (pgsizes & IOVIRT_PAGE_2M) ? " 2M" : "", (pgsizes & IOVIRT_PAGE_1G) ? " 1G" : "");
	emit(arg, d.line);
	emit(arg, " tables:");
	iovirt_pt_foreach_table(io, asid, dump_table, &d);
	emit(arg, " mappings (contiguous runs merged):");
	struct run_dump r = { .d = &d };
	iovirt_pt_foreach(io, asid, dump_run, &r);
	snprintf(d.line, sizeof(d.line), " %llu run(s), %llu KiB mapped", (unsigned long long)r.runs,
		 (unsigned long long)(r.bytes >> 10));
	emit(arg, d.line);
	return 0;
}
