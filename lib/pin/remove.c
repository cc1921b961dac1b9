/* SPDX-License-Identifier: MIT */
/*
 * Deferred region removal: a removal asked for while this domain pins pages
 * of the region waits for the domain's last hold on it to drop, then runs
 * iovirt_gmap_remove and reports its result through the caller's callback.
 * Only lib/validate's public API is used: the domain counts its own holds.
 */
#include "pin/internal.h"


bool pin_removal_pending(const struct iovirt_pin_domain *d, const struct iovirt_gmap_region *reg)
{
	for (uint32_t i = 0; i < d->nrm; i++)
		if (d->rm[i].reg == reg)
			return true;
	return false;
}

void pin_removal_put(struct iovirt_pin_domain *d, const struct iovirt_gmap_region *reg)
{
	for (uint32_t i = 0; i < d->nrm; i++)
		if (d->rm[i].reg == reg && d->rm[i].holds)
			d->rm[i].holds--;
}

/* Runs the removals whose holds are all gone. Each entry leaves the table
 * before its callback, so a callback sees a consistent domain. */
void pin_removals_fire(struct iovirt_pin_domain *d)
{
	for (uint32_t i = 0; i < d->nrm;) {
		if (d->rm[i].holds) {
			i++;
			continue;
		}
		struct pin_removal r = d->rm[i];
		d->rm[i] = d->rm[--d->nrm];
		r.done(r.arg, iovirt_gmap_remove(d->map, r.gpa));
	}
}

/* This domain's holds on reg: one per live or deferred slot that holds it. */
static uint32_t holds_of(const struct iovirt_pin_domain *d, const struct iovirt_gmap_region *reg)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < d->max_handles; i++) {
		const struct pin_slot *s = &d->slots[i];
		if (s->state == SLOT_FREE)
			continue;
		struct iovirt_gmap_region *const *regs = d->regs + (size_t)i * d->max_segs;
		for (uint32_t j = 0; j < s->nregs; j++)
			k += pin_reg_ptr(regs[j]) == reg; /* own holds too */
	}
	return k;
}

int iovirt_pin_remove_deferred(struct iovirt_pin_domain *d, uint64_t gpa,
			       void (*done)(void *arg, int result), void *arg)
{
	if (!d || !done)
		return IOVIRT_EINVAL;
	struct iovirt_gmap_region *reg;
	uint32_t holds = 0;
	/* A temporary hold keeps reg comparable while we count ours. */
	if (iovirt_gmap_region_get(d->map, gpa, &reg) == 0) {
		struct iovirt_region ri;
		iovirt_gmap_region_info(reg, &ri);
		if (ri.gpa == gpa) {
			if (pin_removal_pending(d, reg)) {
				iovirt_gmap_region_put(d->map, reg);
				return IOVIRT_EBUSY;
			}
			holds = holds_of(d, reg);
		}
		if (holds && d->nrm == PIN_REMOVALS) {
			iovirt_gmap_region_put(d->map, reg);
			return IOVIRT_ELIMIT;
		}
		if (holds)
			d->rm[d->nrm++] = (struct pin_removal){ .reg = reg, .gpa = gpa, .holds = holds,
								.done = done, .arg = arg };
		/* Our own holds keep reg in the map until the removal runs. */
		iovirt_gmap_region_put(d->map, reg);
	}
	if (holds)
		return IOVIRT_PIN_REMOVE_PENDING;
	/* Not held by this domain (or no region starts there): remove now. */
	done(arg, iovirt_gmap_remove(d->map, gpa));
	return 0;
}
