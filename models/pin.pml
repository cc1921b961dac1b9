/*
 * The pin/unmap/invalidate protocol of lib/pin (iovirt_pin_unmap and
 * iovirt_pin_flush), checked exhaustively with SPIN.
 *
 * Two guest pages are pinned and mapped in one IOMMU address space. Each
 * mapping goes MAPPED -> CLEARED -> INVALIDATED -> UNPINNED, as the code:
 *  - strict mode: iovirt_pt_unmap clears the entry (CLEARED) and returns only
 *    after its own IOTLB invalidation (INVALIDATED); then the page is unpinned
 *    (UNPINNED) before the next unmap;
 *  - batched mode: iovirt_pt_unmap_gather clears the entry (CLEARED) and the
 *    unmap is queued; the flush, by count (both queued) or on demand (after
 *    the first), issues ONE invalidation for everything the gather cleared
 *    (every queued mapping INVALIDATED), and only then unpins them in order.
 * Once unpinned, the host may hand the page to another guest. A device keeps
 * doing DMA through its IOTLB and refills it by walking the table. The
 * property: the device never reaches a page that is no longer the guest's.
 * The unmapper also asserts the code's order: a page is unpinned only in
 * state INVALIDATED.
 */
#define GUEST 1
#define OTHER 2
#define N 2

mtype = { MAPPED, CLEARED, INVALIDATED, UNPINNED };
mtype st[N];

bool pte[N];    /* the page-table entry is present */
bool tlb[N];    /* the device's IOTLB holds the translation */
bool pinned[N]; /* pin count > 0 */
byte owner[N];  /* whose page it is */

init {
	byte i;
	for (i : 0 .. N - 1) {
		st[i] = MAPPED; pte[i] = true; tlb[i] = false;
		pinned[i] = true; owner[i] = GUEST
	}
	atomic { run device(); run unmapper(); run host() }
}

proctype device()
{
	byte i;
	do
	:: select(i : 0 .. N - 1);                  /* a walk fills the IOTLB */
	   atomic { if :: pte[i] -> tlb[i] = true :: else fi }
	/* a DMA through the IOTLB; an invalidation returns only once in-flight
	 * DMAs that used the old entry are done, hence atomic */
	:: select(i : 0 .. N - 1);
	   atomic { if :: tlb[i] -> assert(owner[i] == GUEST) :: else fi }
	:: break
	od
}

/* One invalidation of the ASID's gathered range: every cleared entry. */
inline invalidate()
{
	atomic {
		for (j : 0 .. N - 1) {
			if
			:: st[j] == CLEARED -> tlb[j] = false; st[j] = INVALIDATED
			:: else
			fi
		}
	}
}

inline unpin(k)
{
	assert(st[k] == INVALIDATED);
	pinned[k] = false;
	st[k] = UNPINNED
}

/* iovirt_pin_flush: the gather's one invalidation, THEN the unpins. */
inline flush()
{
	invalidate();
	for (j : 0 .. N - 1) {
		if
		:: st[j] == INVALIDATED -> unpin(j)
		:: else
		fi
	}
}

proctype unmapper()
{
	byte i, j;
	if
	:: /* strict mode */
	   for (i : 0 .. N - 1) {
		pte[i] = false; st[i] = CLEARED;   /* iovirt_pt_unmap clears ... */
		invalidate();                      /* ... and invalidates before returning */
		unpin(i)
	   }
	:: /* batched mode, batch = N */
	   pte[0] = false; st[0] = CLEARED;        /* iovirt_pt_unmap_gather: no invalidation */
	   if
	   :: flush()                              /* iovirt_pin_flush on demand */
	   :: skip
	   fi;
	   pte[1] = false; st[1] = CLEARED;
	   flush()                                 /* the batch is full */
	fi
}

proctype host()
{
	byte i;
	do
	:: select(i : 0 .. N - 1);                  /* may go to another guest */
	   atomic { if :: !pinned[i] -> owner[i] = OTHER :: else fi }
	:: break
	od
}
