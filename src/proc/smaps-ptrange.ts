/**
 * /proc/pid/smaps on pt_range_walk (proc.md §12, the pt_range column; the
 * RFC's "mm: Make /proc/pid/smaps use the new generic pagewalk API", seed
 * 000). The per-entry rules are smaps.ts's; only the walk differs.
 */
import type { MmStruct } from "../mm/mm.js";
import type { Vma } from "../mm/vma.js";
import {
  PT_WALK_HOLES,
  PtLevel,
  PtRangeWalk,
  PtType,
  ptRangeWalkNext,
  ptRangeWalkStart,
} from "../walk/pt-range.js";
import { softleafIsDevicePrivate } from "../walk/softleaf.js";
import {
  account,
  accountSwapSlot,
  type SmapsPriv,
  shmemHoleLookup,
  smapsHugetlbAccount,
  smapsThpAccount,
} from "./smaps.js";

/** walk_page_vma() semantics: no VMA filter at all (a PFNMAP VMA is descended too). */
function walkEveryVma(): number {
  return 0;
}

/**
 * smapsWalkPtRange - gather one VMA into @p with pt_range_walk.
 * @shmemPartial: the shmem case that needs holes (proc.md §2.5): NONE results
 * then add the swap slots of their index range.
 *
 * Per result: FOLIO and the PFN-carrying non-present types go to account()
 * one page at a time inside a PTE batch (the precise mapcount is per page;
 * the batch's young/dirty hold for each page), a PMD THP (or PMD migration
 * entry) as one compound folio; SWAP adds each slot with its own swap count;
 * MARKER and PFN (zero pages, special mappings) count nothing; any result in
 * a hugetlb VMA counts one huge page in Shared_ or Private_Hugetlb.
 *
 * Locking: the caller holds @mm's mmap lock for read; the walker takes the
 * page-table locks.
 */
export function smapsWalkPtRange(
  p: SmapsPriv,
  mm: MmStruct,
  vma: Vma,
  shmemPartial: boolean,
): void {
  const m = p.m;
  const ps = m.arch.geometry.pageSize;
  const w = new PtRangeWalk();
  const flags = shmemPartial ? PT_WALK_HOLES : 0;
  for (
    let t = ptRangeWalkStart(w, m, mm, vma.start, vma.end, flags, walkEveryVma);
    t !== null;
    t = ptRangeWalkNext(w)
  ) {
    if (t === PtType.NONE) {
      shmemHoleLookup(p, vma, w.addr, w.next);
      continue;
    }
    if (w.hugetlb) {
      if (t === PtType.FOLIO) smapsHugetlbAccount(p, vma, w.folio, true);
      else if (t === PtType.MIGRATION || t === PtType.DEVICE || t === PtType.HWPOISON) {
        smapsHugetlbAccount(p, vma, w.folio, false);
      }
      continue;
    }
    if (w.level !== PtLevel.PTE) {
      // A PMD THP, or a PMD migration entry (other non-present PMDs count nothing).
      const first = w.page - (w.addr - w.entryStart) / ps;
      if (t === PtType.FOLIO) smapsThpAccount(p, first, w.young, w.dirty, true);
      else if (t === PtType.MIGRATION) smapsThpAccount(p, first, false, false, false);
      continue;
    }
    switch (t) {
      case PtType.FOLIO:
        // One call for the batch: account() of nr pages of one folio adds
        // exactly what nr calls of one page would.
        account(p, w.page, w.nrPages, w.young, w.dirty, true);
        break;
      case PtType.SWAP:
        for (let k = 0; k < w.nrPages; k++) accountSwapSlot(p, w.leaf.offset + k);
        break;
      case PtType.MIGRATION:
      case PtType.DEVICE:
      case PtType.HWPOISON:
        account(p, w.page, 1, false, false, softleafIsDevicePrivate(w.leaf));
        break;
      default:
        break; // MARKER, PFN
    }
  }
}
