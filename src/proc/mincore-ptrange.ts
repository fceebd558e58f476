/**
 * mincore(2) on pt_range_walk (proc.md §10, §12 pt_range column; our port:
 * the RFC converted only the four task_mmu.c users). The residency rules are
 * mincore.ts's.
 */
import type { MmStruct } from "../mm/mm.js";
import type { Vma } from "../mm/vma.js";
import {
  PT_WALK_HOLES,
  PtLevel,
  type PtRangeWalk,
  PtType,
  ptLevelOf,
  ptRangeWalkNext,
  ptRangeWalkStart,
} from "../walk/pt-range.js";
import { hugeLevelOf } from "./common.js";
import { fill, type MincorePriv, swapCacheProbe, unmappedRange } from "./mincore.js";

/**
 * mincoreWalkPtRange - fill @p.vec for [@start, @end) of @vma (one step of
 * do_mincore()'s loop) with pt_range_walk, holes requested.
 * @w: a walk state to use.
 *
 * NONE: at a hugetlb VMA's own level (a none huge entry) 0; any other hole
 * (none PTEs, none PMD/PUD above a table, a PFNMAP VMA, a missing table in
 * a hugetlb VMA) the unmapped-range rule (page cache for file VMAs, 0 for
 * anonymous ones). Hugetlb leaves: 1 unless a marker. PTE level: a marker
 * follows the unmapped-range rule, a swap entry the swap-cache rule per slot,
 * everything else is 1. A PMD THP (or non-present PMD) is 1.
 *
 * Locking: the caller holds @mm's mmap lock for read; the walker takes the
 * page-table locks.
 */
export function mincoreWalkPtRange(
  p: MincorePriv,
  w: PtRangeWalk,
  mm: MmStruct,
  vma: Vma,
  start: number,
  end: number,
): void {
  const m = p.m;
  const vec = p.vec;
  const base = p.base;
  // 1 / page size is exact (a power of two): the index without a division.
  const inv = 1 / m.arch.geometry.pageSize;
  const hugeLevel = vma.isHugetlb ? ptLevelOf(hugeLevelOf(m, vma)) : -1;
  for (
    let t = ptRangeWalkStart(w, m, mm, start, end, PT_WALK_HOLES);
    t !== null;
    t = ptRangeWalkNext(w)
  ) {
    if (t === PtType.FOLIO && w.level === PtLevel.PTE && !w.hugetlb) {
      // The common case: a present PTE batch (resident).
      const v = (w.addr - base) * inv;
      const n = w.nrPages;
      if (n === 1) vec[v] = 1;
      else vec.fill(1, v, v + n);
    } else if (t === PtType.NONE) {
      if (w.hugetlb && w.level === hugeLevel) fill(p, w.addr, w.next, 0);
      else unmappedRange(p, vma, w.addr, w.next);
    } else if (w.hugetlb) {
      fill(p, w.addr, w.next, t === PtType.MARKER ? 0 : 1);
    } else if (w.level !== PtLevel.PTE) {
      fill(p, w.addr, w.next, 1);
    } else if (t === PtType.SWAP) {
      let v = (w.addr - base) * inv;
      const off = w.leaf.offset;
      for (let k = 0; k < w.nrPages; k++, v++) vec[v] = swapCacheProbe(m, off + k);
    } else if (t === PtType.MARKER) {
      unmappedRange(p, vma, w.addr, w.next);
    } else {
      fill(p, w.addr, w.next, 1);
    }
  }
}
