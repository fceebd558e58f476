import { Level, PteFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import { PG, PG_FOLIO_MASK } from "../mm/pageflags.js";
import { folioMapcount } from "../mm/rmap.js";
import { collapseBlock } from "./collapse.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { maybeFreeFolio } from "./folio.js";
import { forEachLeaf } from "./range-walk.js";
import { splitAnonFolio, splitPmdsIn } from "./thp.js";
import { anonThpOrders, pmdOrder } from "./thp-policy.js";

/** khugepaged's limits on the reference machine (sysfs defaults). */
export const KHUGEPAGED_LIMITS = { maxPtesNone: 511, maxPtesSwap: 64, maxPtesShared: 256 } as const;

/**
 * One full khugepaged pass over `mms` (hpage_collapse_scan_pmd for each
 * PMD block of each eligible VMA): a block with a PTE table, at least one
 * present page and at most 511 none/zero, 64 swapped and 256 shared PTEs
 * becomes a PMD-mapped THP, as MADV_COLLAPSE would make it.
 */
export function khugepagedPass(m: Machine, mms: MmStruct[], step: number): void {
  const size = 2 ** m.arch.geometry.pmdShift;
  const nr = 2 ** pmdOrder(m);
  for (const mm of mms) {
    const ctx: OpCtx = { m, mm, step, uffdEvents: [] };
    for (const v of [...mm.vmas]) {
      if (!anonThpOrders(m, v).includes(pmdOrder(m)) || v.anonVma === null || v.uffd !== null)
        continue;
      for (let a = Math.ceil(v.start / size) * size; a + size <= v.end; a += size) {
        const pmdT = mm.pt.tableFor(a, Level.PMD, false);
        if (pmdT === null) continue;
        const t = mm.pt.child(pmdT, mm.pt.index(Level.PMD, a));
        if (t === null) continue;
        let none = 0;
        let swap = 0;
        let shared = 0;
        let present = 0;
        let ok = true;
        for (let k = 0; k < nr && ok; k++) {
          if (E.isNone(m, t, k)) none++;
          else if (E.isPresent(m, t, k)) {
            const pfn = E.leafPfn(m, t, k);
            if (pfn === m.phys.zeroPfn || E.leafFlags(m, t, k) & PteFlag.SPECIAL) none++;
            else {
              present++;
              if (folioMapcount(m.phys, m.phys.folioHead(pfn)) > 1) shared++;
            }
          } else if (E.isRealSwap(m, t, k)) swap++;
          else ok = false;
        }
        if (!ok || present === 0) continue;
        const lim = KHUGEPAGED_LIMITS;
        if (none > lim.maxPtesNone || swap > lim.maxPtesSwap || shared > lim.maxPtesShared)
          continue;
        collapseBlock(ctx, v, a);
      }
    }
  }
}

/**
 * The model-only `split_thp` step (debugfs split_huge_pages): every large
 * anonymous folio mapped in the range is split to `toOrder` (0 by default);
 * PMD mappings are split first.
 */
export function doSplitThp(ctx: OpCtx, start: number, end: number, toOrder: number): void {
  const { m, mm } = ctx;
  splitPmdsIn(m, mm, start, end);
  const phys = m.phys;
  forEachLeaf(m, mm, start, end, {
    pte: (t, i, addr) => {
      if (!E.isPresent(m, t, i)) return;
      const pfn = E.leafPfn(m, t, i);
      if (pfn === phys.zeroPfn || E.leafFlags(m, t, i) & PteFlag.SPECIAL) return;
      const head = phys.folioHead(pfn);
      if (phys.order[head]! <= toOrder || (phys.flags[head]! & PG.ANON) === 0) return;
      if (toOrder === 0) splitAnonFolio(ctx, mm.findVma(addr)!, addr, pfn);
      else {
        const nr = phys.folioNr(head);
        phys.splitFolio(head, toOrder, PG_FOLIO_MASK);
        // Pieces no longer mapped lose their last reference with the split.
        for (let q = head; q < head + nr; q += 2 ** toOrder) maybeFreeFolio(m, q);
      }
    },
  });
}
