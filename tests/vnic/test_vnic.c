/* SPDX-License-Identifier: MIT */
/* The vnic example's scenarios, small: every strategy delivers exactly what was sent,
 * every attack is refused, and nothing is left pinned, mapped or allocated. */
#include <criterion/criterion.h>

#include "../../examples/vnic/vnic.h"

static void run_rings(enum vn_strategy s, uint32_t bytes, bool ring_callbacks)
{
	struct vn_config cfg = { .strategy = s, .packet_bytes = bytes, .ring_size = 64, .packets = 700,
				 .budget = 16, .verify = true, .ring_callbacks = ring_callbacks };
	struct vn_result r;
	int e = vn_run(&cfg, &r);
	cr_assert_eq(e, 0, "%s: %s", vn_strategy_name(s), iovirt_err_name(e));
	cr_assert_eq(r.sent, 700);
	cr_assert_eq(r.delivered, 700, "%s %u B: %llu delivered", vn_strategy_name(s), bytes,
		     (unsigned long long)r.delivered);
	cr_assert_eq(r.corrupt, 0);
	cr_assert_eq(r.refused, 0);
	cr_assert_eq(r.bytes_delivered, r.bytes_sent, "every byte sent arrived, and checked");
	cr_assert_eq(r.left_pinned, 0, "pages left pinned");
	cr_assert_eq(r.left_tables, 0, "table pages left");
	cr_assert_eq(r.left_mem, 0, "bookkeeping left");
	cr_assert_eq(r.left_maps, 0, "mappings or DMAs left");
	cr_assert_gt(r.interrupts, 0, "the receiver was interrupted");
	/* Teardown resets both VFs with mappings still live (at least the rings): the
	 * reset's quiesce step took them down, and nothing was left (asserted above). */
	cr_assert_geq(r.quiesce_unmaps, 2, "each VF reset quiesced its ring mapping");
	if (s == VN_IOMMU_PERSISTENT)
		cr_assert_eq(r.quiesce_unmaps, 2 * (2 * 64 + 1), "and every persistent buffer mapping");
	if (s == VN_IOMMU_STRICT)
		cr_assert_geq(r.invalidations, 2 * 700, "strict: an invalidation per unmap, two per packet");
	if (s == VN_IOMMU_BATCHED)
		cr_assert_lt(r.invalidations, 700 / 8, "batched: one invalidation per batch of 64 unmaps");
	if (s == VN_IOMMU_PERSISTENT)
		cr_assert_eq(r.invalidations, 0, "persistent: nothing unmapped while running");
}

static void run(enum vn_strategy s, uint32_t bytes)
{
	run_rings(s, bytes, false);
}

/* Each strategy moves 64-, 1500- and 9000-byte packets intact, and leaves nothing behind. */
Test(vnic, native) { run(VN_NATIVE, 64); run(VN_NATIVE, 1500); run(VN_NATIVE, 9000); }
Test(vnic, copy) { run(VN_COPY, 64); run(VN_COPY, 1500); run(VN_COPY, 9000); }
Test(vnic, validate) { run(VN_VALIDATE, 64); run(VN_VALIDATE, 1500); run(VN_VALIDATE, 9000); }
Test(vnic, pin) { run(VN_PIN, 64); run(VN_PIN, 1500); run(VN_PIN, 9000); }
/* The same with the rings read through the host callbacks instead of directly. */
Test(vnic, ring_callbacks)
{
	run_rings(VN_COPY, 1500, true);
	run_rings(VN_VALIDATE, 1500, true);
	run_rings(VN_PIN, 1500, true);
}
Test(vnic, iommu_strict) { run(VN_IOMMU_STRICT, 64); run(VN_IOMMU_STRICT, 1500); run(VN_IOMMU_STRICT, 9000); }
Test(vnic, iommu_batched) { run(VN_IOMMU_BATCHED, 64); run(VN_IOMMU_BATCHED, 1500); run(VN_IOMMU_BATCHED, 9000); }
Test(vnic, iommu_persistent)
{
	run(VN_IOMMU_PERSISTENT, 64);
	run(VN_IOMMU_PERSISTENT, 1500);
	run(VN_IOMMU_PERSISTENT, 9000);
}

/* Every attack of the hostile guest is refused; the honest guest's traffic flows; nothing leaks. */
Test(vnic, attacks)
{
	struct vn_attack at[VN_MAX_ATTACKS];
	bool victim_ok = false, clean = false;
	int n = vn_attacks(at, VN_MAX_ATTACKS, &victim_ok, &clean);
	cr_assert_geq(n, 12, "all the attacks the issue names ran");
	for (int i = 0; i < n; i++) {
		cr_expect(at[i].refused, "not stopped: %s (%s)", at[i].name, iovirt_err_name(at[i].err));
		cr_expect(at[i].victim_ok, "honest traffic disturbed by: %s", at[i].name);
		cr_expect(at[i].clean, "leak after: %s", at[i].name);
	}
	cr_assert(victim_ok);
	cr_assert(clean);
}

/* Interrupts mixed with polling: no mode loses a packet; polling never interrupts; NAPI under
 * heavy load needs far fewer interrupts than packets. */
Test(vnic, napi_modes, .timeout = 60)
{
	struct vn_napi_result r[6];
	int n = vn_napi(r, 6, 4000);
	cr_assert_eq(n, 6);
	for (int i = 0; i < n; i++) {
		cr_assert_gt(r[i].packets, 0);
		cr_assert_leq(r[i].irqs_per_packet, 1.0, "%s/%s", r[i].load, r[i].mode);
		if (!strcmp(r[i].mode, "poll"))
			cr_assert_eq(r[i].irqs_per_packet, 0.0);
		if (!strcmp(r[i].mode, "napi") && !strcmp(r[i].load, "heavy"))
			cr_assert_lt(r[i].irqs_per_packet, 0.5);
	}
}
