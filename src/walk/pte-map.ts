import type { PageTable } from "../mm/pgtable.js";
import { type MmWalk, WalkAction } from "./types.js";

/**
 * pte_offset_map_lock() for a pmd_entry callback: the PTE table the PMD
 * entry (`t`, `i`) points to, with its PTL taken by `who`. When the PMD no
 * longer points to a table (it changed under us, e.g. a whole-block
 * MADV_DONTNEED freed the table), returns null and sets ACTION_AGAIN so the
 * walker re-reads the PMD, the convention of smaps_pte_range() and friends.
 *
 * Locking: the caller holds the mmap lock; on success it must unlock the
 * returned table's PTL (pte_unmap_unlock()).
 */
export function pteOffsetMapLock<P>(
  walk: MmWalk<P>,
  t: PageTable,
  i: number,
  who: string,
): PageTable | null {
  const pte = walk.mm.pt.child(t, i);
  if (pte === null) {
    walk.action = WalkAction.AGAIN;
    return null;
  }
  pte.ptl.lock(who);
  return pte;
}
