/*
 * The pin/unmap/invalidate protocol of lib/pin (iovirt_pin_unmap and
 * iovirt_pin_flush), checked exhaustively with SPIN.
 *
 * One guest page is pinned and mapped in an IOMMU address space. The unmapper
 * follows the code's steps: iovirt_pt_unmap clears the entry (CLEARED) and
 * returns only after its IOTLB invalidation (INVALIDATED); then, in strict
 * mode, the page is unpinned (UNPINNED), or, in batched mode, it waits in the
 * deferred queue (DEFERRED) until a flush unpins it. Once unpinned, the
 * host may hand the page to another guest. A device keeps doing DMA through
 * its IOTLB and refills it by walking the table. The property: the device
 * never reaches a page that is no longer the guest's.
 */
#define GUEST 1
#define OTHER 2

mtype = { MAPPED, CLEARED, INVALIDATED, DEFERRED, UNPINNED };
mtype st = MAPPED;

bool pte = true;    /* the page-table entry is present */
bool tlb = false;   /* the device's IOTLB holds the translation */
bool pinned = true; /* pin count > 0 */
byte owner = GUEST; /* whose page it is */

active proctype device()
{
	do
	:: atomic { pte -> tlb = true }      /* a walk fills the IOTLB */
	/* a DMA through the IOTLB; an invalidation returns only once in-flight
	 * DMAs that used the old entry are done, hence atomic */
	:: atomic { tlb -> assert(owner == GUEST) }
	:: break
	od
}

active proctype unmapper()
{
	pte = false;            /* iovirt_pt_unmap clears the entry ... */
	st = CLEARED;
	tlb = false;            /* ... and invalidates before returning */
	st = INVALIDATED;
	if
	:: pinned = false; st = UNPINNED   /* strict mode */
	:: st = DEFERRED;                  /* batched mode: queued */
	   pinned = false; st = UNPINNED   /* iovirt_pin_flush */
	fi
}

active proctype host()
{
	!pinned -> owner = OTHER  /* the page may go to another guest */
}
