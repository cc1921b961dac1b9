/* SPDX-License-Identifier: MIT */
/*
 * Deferred region removal and shrink: a removal or shrink asked for while
 * this domain pins pages of the region waits for the domain's last hold on it
 * to drop, then runs iovirt_gmap_remove or iovirt_gmap_shrink and reports its
 * result through the caller's callback. Both kinds share one pending table
 * (struct pin_removal, tagged with the operation) and one code path.
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

/* The gmap change a pending request stands for. */
static int run_op(struct iovirt_pin_domain *d, const struct pin_removal *r)
{
	if (r->op == PIN_OP_SHRINK)
		return iovirt_gmap_shrink(d->map, r->gpa, r->new_length);
	return iovirt_gmap_remove(d->map, r->gpa);
}

/* Runs the removals and shrinks whose holds are all gone. Each entry leaves the table
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
		r.done(r.arg, run_op(d, &r));
	}
}

/* This domain's holds on reg: one per live or deferred slot that holds it. */
static uint32_t holds_of(const struct iovirt_pin_domain *d, const struct iovirt_gmap_region *reg)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < d->max_handles; i++) {
		const struct pin_slot *s = &d->slots[i];
		if (s->state == PIN_SLOT_FREE)
			continue;
		struct iovirt_gmap_region *const *regs = pin_slot_regs(d, i, s->nsegs);
		for (uint32_t j = 0; j < s->nregs; j++)
			k += pin_reg_ptr(regs[j]) == reg; /* own holds too */
	}
	return k;
}

/*
 * The shared body of remove_deferred and shrink_deferred: req carries the
 * operation (and new_length); reg, holds and the callback are filled here.
 */
static int defer_op(struct iovirt_pin_domain *d, struct pin_removal req)
{
	struct iovirt_gmap_region *reg;
	uint32_t holds = 0;
	/* A temporary hold keeps reg comparable while we count ours. */
	if (iovirt_gmap_region_get(d->map, req.gpa, &reg) == 0) {
		struct iovirt_region ri;
		iovirt_gmap_region_info(reg, &ri);
		if (ri.gpa == req.gpa) {
			if (pin_removal_pending(d, reg)) {
				iovirt_gmap_region_put(d->map, reg);
				return IOVIRT_EBUSY;
			}
			/* Not a shrink: refused now, as iovirt_gmap_shrink would
			 * (the length is fixed while anyone holds the region). */
			if (req.op == PIN_OP_SHRINK && req.new_length >= ri.length) {
				iovirt_gmap_region_put(d->map, reg);
				return IOVIRT_EINVAL;
			}
			holds = holds_of(d, reg);
		}
		if (holds && d->nrm == PIN_REMOVALS) {
			iovirt_gmap_region_put(d->map, reg);
			return IOVIRT_ELIMIT;
		}
		if (holds) {
			req.reg = reg;
			req.holds = holds;
			d->rm[d->nrm++] = req;
		}
		/* Our own holds keep reg in the map until the request runs. */
		iovirt_gmap_region_put(d->map, reg);
	}
	if (holds)
		return IOVIRT_PIN_REMOVE_PENDING;
	/* Not held by this domain (or no region starts there): run it now. */
	req.done(req.arg, run_op(d, &req));
	return 0;
}

int iovirt_pin_remove_deferred(struct iovirt_pin_domain *d, uint64_t gpa,
			       void (*done)(void *arg, int result), void *arg)
{
	if (!d || !done)
		return IOVIRT_EINVAL;
	return defer_op(d, (struct pin_removal){ .gpa = gpa, .op = PIN_OP_REMOVE,
						 .done = done, .arg = arg });
}

int iovirt_pin_shrink_deferred(struct iovirt_pin_domain *d, uint64_t gpa, uint64_t new_length,
			       void (*done)(void *arg, int result), void *arg)
{
	if (!d || !done || new_length == 0)
		return IOVIRT_EINVAL;
	if (!iovirt_is_aligned(new_length, IOVIRT_PAGE_SIZE))
		return IOVIRT_EALIGN; /* as iovirt_gmap_shrink */
	return defer_op(d, (struct pin_removal){ .gpa = gpa, .new_length = new_length,
						 .op = PIN_OP_SHRINK, .done = done, .arg = arg });
}
