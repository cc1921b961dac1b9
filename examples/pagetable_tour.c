/* SPDX-License-Identifier: MIT */
/*
 * A tour of iovirt's IO page tables: two guests, each with its own address
 * space (ASID); their DMA buffers are mapped; device accesses are translated;
 * a 32-bit device's access above 4 GiB and an access to an unmapped page are
 * refused; the tables are dumped.
 */
#include <stdio.h>
#include <stdlib.h>

#include "iovirt/iovirt.h"
#include "iovirt/posix.h"

#define KiB(x) ((uint64_t)(x) << 10)
#define MiB(x) ((uint64_t)(x) << 20)
#define GiB(x) ((uint64_t)(x) << 30)

static void print_line(void *arg, const char *line)
{
	(void)arg;
	printf("    %s\n", line);
}

static void access(struct iovirt_iommu *io, const char *who, uint32_t asid, uint64_t iova, unsigned acc)
{
	struct iovirt_xlate x;
	int r = iovirt_pt_translate(io, asid, iova, acc, &x);
	printf("  %-26s ASID %u %-5s iova 0x%09llx -> ", who, asid, acc & IOVIRT_PROT_WRITE ? "write" : "read",
	       (unsigned long long)iova);
	if (r == 0)
		printf("pa 0x%llx (%llu KiB page)\n", (unsigned long long)x.pa, (unsigned long long)(x.page_size >> 10));
	else
		printf("REFUSED: %s (%s)\n", iovirt_strerror(r), iovirt_err_name(r));
}

#define TRY(call)                                                              \
	do {                                                                   \
		int64_t r_ = (call);                                           \
		if (r_ < 0) {                                                  \
			fprintf(stderr, "%s: %s\n", #call, iovirt_strerror((int)r_)); \
			exit(1);                                               \
		}                                                              \
	} while (0)

int main(void)
{
	struct iovirt_posix *host = iovirt_posix_create();
	struct iovirt_iommu *io;
	if (!host)
		return 1;
	TRY(iovirt_iommu_create(iovirt_posix_ops(), host, NULL, &io));

	/* Guest A owns a 64-bit NIC (48-bit space); guest B a 32-bit device. */
	struct iovirt_space_params a = { .size = sizeof(a), .width = 48 };
	struct iovirt_space_params b = { .size = sizeof(b), .width = 32 };
	TRY(iovirt_pt_space_create(io, 7, &a));
	TRY(iovirt_pt_space_create(io, 1000000, &b));
	printf("Two guests: ASID 7 (48-bit bus addresses) and ASID 1000000 (a 32-bit device).\n\n");

	/* Guest A: a 2 MiB receive buffer pool (one 2M page), a 16 KiB descriptor ring (4K pages, read-only). */
	TRY(iovirt_pt_map(io, 7, GiB(1), GiB(8), MiB(2), IOVIRT_PROT_READ | IOVIRT_PROT_WRITE));
	TRY(iovirt_pt_map(io, 7, GiB(1) + MiB(2), GiB(8) + MiB(64), KiB(16), IOVIRT_PROT_READ));
	/* Guest B: 1 GiB of buffers near the top of its 4 GiB space (one 1G page). */
	TRY(iovirt_pt_map(io, 1000000, GiB(3), GiB(12), GiB(1), IOVIRT_PROT_READ | IOVIRT_PROT_WRITE));
	printf("Mapped: guest A 2 MiB rx pool + 16 KiB ring; guest B 1 GiB at 3 GiB.\n\n");

	printf("Device accesses:\n");
	access(io, "A's NIC writes a packet", 7, GiB(1) + 0x1234, IOVIRT_PROT_WRITE);
	access(io, "A's NIC reads its ring", 7, GiB(1) + MiB(2) + 0x40, IOVIRT_PROT_READ);
	access(io, "A's NIC writes its ring", 7, GiB(1) + MiB(2) + 0x40, IOVIRT_PROT_WRITE);
	access(io, "A's NIC, unmapped page", 7, GiB(2), IOVIRT_PROT_READ);
	access(io, "B's device reads", 1000000, GiB(4) - 8, IOVIRT_PROT_READ);
	access(io, "B's device above 4 GiB", 1000000, GiB(4), IOVIRT_PROT_READ);
	access(io, "B's device, A's address", 1000000, GiB(1), IOVIRT_PROT_WRITE);
	access(io, "no such address space", 8, GiB(1), IOVIRT_PROT_READ);

	printf("\nTables:\n");
	iovirt_pt_dump(io, 7, print_line, NULL);
	iovirt_pt_dump(io, 1000000, print_line, NULL);

	int64_t n = iovirt_pt_unmap(io, 7, GiB(1), MiB(4));
	printf("\nUnmapped %lld KiB of guest A with one IOTLB invalidation; %llu invalidations so far.\n",
	       (long long)(n >> 10), (unsigned long long)iovirt_posix_count(host, IOVIRT_CB_IOTLB_INVAL));
	iovirt_iommu_destroy(io);
	printf("Destroyed; table pages still allocated: %lld.\n", (long long)iovirt_posix_live_tables(host));
	iovirt_posix_destroy(host);
	return 0;
}
