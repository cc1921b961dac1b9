/*
 * The install/kill protocol of one table slot in lib/pagetable/walk.inc,
 * checked exhaustively with SPIN.
 *
 * One parent slot holds a leaf table: the hardware entry (`entry`, the node
 * the entry points at, 0 = empty) and its software shadow (`child`). Two
 * writers own neighbouring pages of that table (page k = writer k) and loop
 * map/unmap ROUNDS times, as the issue's scenario; a walker translates and
 * checks. Nodes are never reused (deferred reclaim: a dead node stays readable).
 * Each step below is one named function of walk.inc, one to one:
 *  - map: pt_child_for_map loads child; if set, pt_publish_leaves reserves an
 *    entry in it (pt_reserve: cnt_add, refused once DEAD) and stores the leaf;
 *    refused, pt_map_below waits (pt_wait_slot) until child[] changes and
 *    starts again. If child is 0: pt_child_for_map loads the entry; a table
 *    entry without child means pt_wait_slot (for either to change); an empty
 *    entry: pt_install_table reserves in the parent (pt_reserve: pcnt), CASes
 *    a fresh table into the entry (lost: pt_release, look again), stores child.
 *  - unmap (FMT(unmap)'s small path): pt_descend finds the table through
 *    child, pt_clear_leaves clears the leaf, pt_release drops cnt; whoever
 *    brings an unmarked cnt to 0 either keeps the table (pt_keep: CAS cnt
 *    0 -> KEPT, within the bound; the model picks either way) or runs
 *    pt_prune_path, which loads child again, and pt_unlink_if_empty: CAS cnt
 *    0 -> DEAD (refused for a KEPT table), then UNLINK, then the parent's
 *    count (pt_release). A kept table keeps the mark while it is used again:
 *    a reserve adds to the count beside it, a release that empties it leaves
 *    it linked.
 *  - trimmer (iovirt_pt_trim, pt_trim_node), TRIMS passes beside the writers:
 *    loads child; an empty table, kept or not, is won by CAS (cnt 0 or
 *    KEPT -> DEAD) and unlinked (UNLINK); a kept one in use loses the mark
 *    (CAS KEPT|k -> k).
 *  - walker: FMT(translate), child first and pt_child_or_entry where it is 0.
 * Properties:
 *  - when map returns, the writer's table is reachable through both views;
 *  - whenever no writer is between its steps, the hardware view (entry) and
 *    the software view (child) agree, the parent's count matches, no dead
 *    node is reachable, and exactly the mapped pages are present;
 *  - a translate (child first, the entry where child is 0, as FMT(translate)
 *    with pt_child_or_entry)
 *    finds every page that stayed mapped during the whole walk;
 *  - no writer blocks forever (invalid end state).
 * THE BROKEN VARIANT: the trimmer tests the count and marks the table dead
 * in two steps (a load, then a store: no CAS), so a map's reserve between
 * them lands in a table being unlinked; SPIN must find the lost mapping.
 */
/* One round each already holds the issue's race (a writer's install landing
 * between the other's kill steps) in 350k states; 2 verifies too, in minutes. */
#define ROUNDS 1
#define TRIMS 1
#define NODES (4 * ROUNDS + 2 * TRIMS + 2) /* node 0 = none; installs <= 2 * ROUNDS plus one per kill */

/* pt_unlink_if_empty after the CAS: child[] (release), the entry (release), pt_release on the parent */
#define UNLINK(c) child = 0; entry = 0; pcnt--

byte entry, child;      /* the parent slot: hardware entry and child[] */
byte pcnt;              /* the parent's count of present entries */
byte cnt[NODES];        /* each table's count of present entries */
bool dead[NODES];       /* PT_DEAD */
bool kept[NODES];       /* PT_KEPT */
byte trimming;          /* the trimmer between its first and last step of an unlink */
bool leaf[NODES * 2];   /* leaf[2 * node + k]: writer k's page is present in node */
byte nxt = 1;           /* the next fresh node */
byte busy;              /* writers between the first and last step of a map or unmap */
bool mapped[2];         /* writer k's map returned and its unmap has not begun */
byte gen[2];            /* unmaps begun by writer k */

proctype writer(byte k)
{
	byte r, c, e, fresh;
	bool ok;
	for (r : 1 .. ROUNDS) {
		/* ---- map ---- */
		busy++;
retry:
		c = child; /* pt_child_for_map */
		if
		:: c != 0 -> goto add
		:: else
		fi;
		e = entry;
		if
		:: e != 0 -> (child != 0 || entry != e); goto retry /* pt_wait_slot: installed or unlinked */
		:: else
		fi;
		pcnt++; /* pt_install_table: pt_reserve in the parent */
		atomic { /* the CAS on the entry */
			if
			:: entry == 0 -> fresh = nxt; nxt++; entry = fresh; ok = true
			:: else -> ok = false
			fi
		}
		if
		:: !ok -> pcnt--; goto retry /* pt_release: the other writer won the CAS, use theirs */
		:: else
		fi;
		child = fresh; /* pt_install_table's release store of child[] */
		c = fresh;
add:
		atomic { /* pt_publish_leaves: pt_reserve */
			if
			:: !dead[c] -> cnt[c]++; ok = true
			:: else -> ok = false
			fi
		}
		if
		:: !ok -> (child != c); goto retry /* PT_RETRY: pt_map_below's pt_wait_slot for the unlink */
		:: else
		fi;
		leaf[2 * c + k] = true; /* pt_publish_leaves' store */
		atomic {
			assert(entry == c && child == c); /* reachable by the hardware and by unmap */
			mapped[k] = true;
			busy--
		}

		/* ---- unmap ---- */
		atomic { busy++; mapped[k] = false; gen[k]++ }
		c = child; /* pt_descend */
		assert(c != 0 && leaf[2 * c + k]); /* unmap finds the page it mapped */
		leaf[2 * c + k] = false; /* pt_clear_leaves */
		atomic { cnt[c]--; ok = (cnt[c] == 0 && !kept[c]) } /* pt_release: emptied, unmarked? */
		if
		:: ok ->
			atomic { /* pt_keep: CAS cnt 0 -> KEPT (the bound allows it) */
				if
				:: cnt[c] == 0 && !dead[c] && !kept[c] -> kept[c] = true; ok = false
				:: cnt[c] != 0 || dead[c] || kept[c] -> ok = false /* lost: in use again, or a trimmer's */
				:: true /* over the bound: prune */
				fi
			}
		:: else
		fi;
		if
		:: ok ->
			c = child; /* pt_prune_path loads child[] again */
			if
			:: c != 0 ->
				atomic { /* pt_unlink_if_empty: CAS cnt 0 -> DEAD, unmarked only */
					if
					:: cnt[c] == 0 && !dead[c] && !kept[c] -> dead[c] = true; ok = true
					:: else -> ok = false
					fi
				}
				if
				:: ok -> UNLINK(c)
				:: else
				fi
			:: else
			fi
		:: else
		fi;
		busy--
	}
}

/* iovirt_pt_trim on the slot (pt_trim_node), TRIMS times beside the writers. */
proctype trimmer()
{
	byte t, c, r;
	for (t : 1 .. TRIMS) {
		c = child;
		if
		:: c != 0 ->
			if /* BROKEN: the test of the count ... */
			:: !dead[c] && cnt[c] == 0 -> r = 1
			:: else -> r = 0
			fi;
			if /* ... and the dead mark apart */
			:: r == 1 -> atomic { dead[c] = true; kept[c] = false; trimming++ }
			:: else
			fi
			if
			:: r == 1 -> UNLINK(c); trimming--
			:: else
			fi
		:: else
		fi
	}
}

/* The hardware and software views agree whenever no writer is between steps. */
proctype monitor()
{
	byte q;
end:
	do
	:: atomic {
		busy == 0 && trimming == 0 ->
		assert(entry == child);
		assert(pcnt == (entry != 0 -> 1 : 0));
		assert(entry == 0 || !dead[entry]);
		for (q : 0 .. 1) {
			assert(mapped[q] == (entry != 0 && leaf[2 * entry + q]))
		}
	   }
	od
}

/* FMT(translate) on one slot: child first; where it is 0, the entry; a table
 * entry without child means load child once more, else a hole. */
proctype walker()
{
	byte k, c, e, g;
	bool was, found, hw;
end:
	do
	:: select(k : 0 .. 1);
		atomic { was = mapped[k]; g = gen[k] }
		e = entry; /* the hardware's walk */
		hw = (e != 0 && leaf[2 * e + k]);
		c = child;
		if
		:: c == 0 ->
			e = entry;
			if
			:: e != 0 -> c = child
			:: else
			fi
		:: else
		fi;
		found = (c != 0 && leaf[2 * c + k]);
		atomic {
			if
			:: was && mapped[k] && gen[k] == g -> assert(found && hw)
			:: else
			fi;
			k = 0; c = 0; e = 0; g = 0; was = false; found = false; hw = false /* fewer states */
		}
	od
}

init {
	atomic { run writer(0); run writer(1); run trimmer(); run monitor(); run walker() }
}
