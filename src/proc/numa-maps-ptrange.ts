/**
 * /proc/pid/numa_maps on pt_range_walk (proc.md §12, the pt_range column;
 * the RFC's "mm: Make /proc/pid/numa_maps use the new generic pagewalk API",
 * seed 000). The counting rules are numa-maps.ts's.
 */
import type { MmStruct } from "../mm/mm.js";
import type { Vma } from "../mm/vma.js";
import {
  PtLevel,
  PtRangeWalk,
  PtType,
  ptRangeWalkNext,
  ptRangeWalkStart,
} from "../walk/pt-range.js";
import { PG } from "./common.js";
import { gatherStats, type NumaPriv } from "./numa-maps.js";

/** walk_page_vma() semantics: no VMA filter. */
function walkEveryVma(): number {
  return 0;
}

/**
 * numaWalkPtRange - count one VMA's present pages into @p.md.
 *
 * Only FOLIO results count (can_gather_numa_stats*() refuse the zero pages,
 * special mappings and every non-present entry): a PTE batch page by page
 * (device and reserved folios skipped), a PMD THP as 512 pages through its
 * head page, a hugetlb leaf as **one** page through its head page.
 *
 * Locking: the caller holds @mm's mmap lock for read; the walker takes the
 * page-table locks.
 */
export function numaWalkPtRange(p: NumaPriv, mm: MmStruct, vma: Vma): void {
  const m = p.m;
  const ps = m.arch.geometry.pageSize;
  const w = new PtRangeWalk();
  for (
    let t = ptRangeWalkStart(w, m, mm, vma.start, vma.end, 0, walkEveryVma);
    t !== null;
    t = ptRangeWalkNext(w)
  ) {
    if (t !== PtType.FOLIO) continue;
    if (w.hugetlb) {
      gatherStats(p, w.folio, w.dirty, 1);
      continue;
    }
    const ff = m.phys.flags[w.folio]!;
    if (w.level === PtLevel.PTE) {
      if (ff & (PG.DEVICE | PG.RESERVED)) continue;
      for (let k = 0; k < w.nrPages; k++) gatherStats(p, w.page + k, w.dirty, 1);
      continue;
    }
    if (ff & PG.RESERVED) continue;
    const first = w.page - (w.addr - w.entryStart) / ps;
    gatherStats(p, first, w.dirty, m.phys.folioNr(first));
  }
}
