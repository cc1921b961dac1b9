/* A consumer of the public API only: an iommu on the POSIX host adapter, one address space,
 * a 2 MiB mapping, translations inside and outside it, unmap, reclaim. Exits 0 when each
 * result is the documented one. */
#include <inttypes.h>
#include <stdio.h>

#include <iovirt/iovirt.h>
#include <iovirt/posix.h>

static int failures;

static void expect(const char *what, int64_t got, int64_t want)
{
	if (got != want) {
		printf("consumer: %s: got %" PRId64 " (%s), want %" PRId64 "\n", what, got,
		       got < 0 && got >= INT32_MIN ? iovirt_err_name((int)got) : "-", want);
		failures++;
	}
}

int main(void)
{
	struct iovirt_posix *host = iovirt_posix_create();
	if (!host) {
		printf("consumer: iovirt_posix_create failed\n");
		return 1;
	}
	struct iovirt_iommu *io = NULL;
	expect("iommu_create", iovirt_iommu_create(iovirt_posix_ops(), host, NULL, &io), 0);
	if (!io) {
		iovirt_posix_destroy(host);
		return 1;
	}
	struct iovirt_space_params p = { .size = sizeof(p), .width = 39 };
	expect("space_create", iovirt_pt_space_create(io, 7, &p), 0);
	expect("map", iovirt_pt_map(io, 7, 0x40000000, 0x200000000, 2u << 20,
				    IOVIRT_PROT_READ | IOVIRT_PROT_WRITE), 0);

	struct iovirt_xlate x = { 0 };
	expect("translate", iovirt_pt_translate(io, 7, 0x40001234, IOVIRT_PROT_WRITE, &x), 0);
	expect("translate pa", (int64_t)x.pa, 0x200001234);
	expect("translate page size", (int64_t)x.page_size, 2 << 20);
	expect("translate unmapped",
	       iovirt_pt_translate(io, 7, 0x40200000, IOVIRT_PROT_READ, &x), IOVIRT_ENOENT);

	expect("unmap", iovirt_pt_unmap(io, 7, 0x40000000, 2u << 20), 2 << 20);
	expect("translate after unmap",
	       iovirt_pt_translate(io, 7, 0x40001234, IOVIRT_PROT_READ, &x), IOVIRT_ENOENT);
	iovirt_pt_reclaim(io);
	expect("space_destroy", iovirt_pt_space_destroy(io, 7), 0);
	iovirt_iommu_destroy(io);
	expect("live tables", iovirt_posix_live_tables(host), 0);
	iovirt_posix_destroy(host);

	if (failures == 0)
		printf("consumer: ok (map, translate, unmap through %s)\n", "libiovirt");
	return failures == 0 ? 0 : 1;
}
