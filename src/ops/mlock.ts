import { PteFlag } from "../arch/types.js";
import { PG } from "../mm/pageflags.js";
import { folioMapcount } from "../mm/rmap.js";
import { VM } from "../mm/vma.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { populateRange } from "./populate.js";
import { forEachLeaf } from "./range-walk.js";
import { modifyRange, requireMapped } from "./vma-ops.js";

/** mlock_folio(): MLOCKED UNEVICTABLE, off the active list. */
export function mlockFolio(flags: Uint32Array, head: number): void {
  flags[head] = (flags[head]! | PG.MLOCKED | PG.UNEVICTABLE) & ~PG.ACTIVE;
}

/**
 * Mark the folios mapped in [start, end) mlocked (mlock_pte_range): small
 * folios and PMD-mapped THPs always; a PTE-mapped large folio only if it
 * lies wholly inside the range and is mapped nowhere else. With
 * `fileOnly`, only page-cache folios (the pass after population: pages
 * swapped in under VM_LOCKED stay evictable).
 */
function mlockMapped(ctx: OpCtx, start: number, end: number, fileOnly: boolean): void {
  const { m, mm } = ctx;
  const phys = m.phys;
  const ps = m.arch.geometry.pageSize;
  const normal = (pfn: number, fl: number): boolean =>
    pfn !== phys.zeroPfn && pfn !== phys.hugeZeroPfn && (fl & PteFlag.SPECIAL) === 0;
  forEachLeaf(m, mm, start, end, {
    pmd: (t, i) => {
      if (!E.isPresent(m, t, i)) return;
      const pfn = E.leafPfn(m, t, i);
      if (!normal(pfn, E.leafFlags(m, t, i))) return;
      if (fileOnly && phys.flags[pfn]! & PG.ANON) return;
      mlockFolio(phys.flags, pfn);
    },
    pte: (t, i, addr) => {
      if (!E.isPresent(m, t, i)) return;
      const pfn = E.leafPfn(m, t, i);
      if (!normal(pfn, E.leafFlags(m, t, i))) return;
      const head = phys.folioHead(pfn);
      if (fileOnly && phys.flags[head]! & PG.ANON) return;
      const nr = phys.folioNr(head);
      if (nr > 1) {
        const fs = addr - (pfn - head) * ps;
        if (fs < start || fs + nr * ps > end || folioMapcount(phys, head) !== nr) return;
      }
      mlockFolio(phys.flags, head);
    },
  });
}

/**
 * mlock() / mlock2(MLOCK_ONFAULT): set VM_LOCKED (and VM_LOCKONFAULT),
 * mlock the pages already mapped, then (without onfault) populate.
 * Hugetlb VMAs are populated but never get VM_LOCKED.
 *
 * Locking: mmap lock for write, then read for the population.
 */
export function doMlock(ctx: OpCtx, start: number, end: number, onfault: boolean): void {
  const { m, mm } = ctx;
  requireMapped(mm, start, end);
  const normal = mm.vmasIn(start, end).filter((v) => v.backing.kind !== "hugetlb");
  for (const v of normal) {
    modifyRange(m, mm, Math.max(start, v.start), Math.min(end, v.end), (p) => {
      p.flags |= VM.LOCKED | (onfault ? VM.LOCKONFAULT : 0);
    });
  }
  for (const v of mm.vmasIn(start, end)) {
    if (v.flags & VM.LOCKED)
      mlockMapped(ctx, Math.max(start, v.start), Math.min(end, v.end), false);
  }
  if (onfault) return;
  populateRange(ctx, start, end, "mlock");
  for (const v of mm.vmasIn(start, end)) {
    if (v.flags & VM.LOCKED) mlockMapped(ctx, Math.max(start, v.start), Math.min(end, v.end), true);
  }
}

/**
 * munlock(): clear VM_LOCKED/VM_LOCKONFAULT and munlock every folio mapped
 * in the range, large folios cut by the range included (back to the
 * inactive LRU, PG_referenced kept).
 */
export function doMunlock(ctx: OpCtx, start: number, end: number): void {
  const { m, mm } = ctx;
  requireMapped(mm, start, end);
  const phys = m.phys;
  forEachLeaf(m, mm, start, end, {
    pmd: (t, i) => {
      if (!E.isPresent(m, t, i)) return;
      const pfn = E.leafPfn(m, t, i);
      if (pfn === phys.hugeZeroPfn) return;
      phys.flags[pfn]! &= ~(PG.MLOCKED | PG.UNEVICTABLE | PG.ACTIVE);
    },
    pte: (t, i) => {
      if (!E.isPresent(m, t, i)) return;
      const pfn = E.leafPfn(m, t, i);
      if (pfn === phys.zeroPfn || E.leafFlags(m, t, i) & PteFlag.SPECIAL) return;
      const head = phys.folioHead(pfn);
      if (phys.flags[head]! & PG.MLOCKED)
        phys.flags[head]! &= ~(PG.MLOCKED | PG.UNEVICTABLE | PG.ACTIVE);
    },
  });
  for (const v of mm.vmasIn(start, end)) {
    if (v.backing.kind === "hugetlb") continue;
    modifyRange(m, mm, Math.max(start, v.start), Math.min(end, v.end), (p) => {
      p.flags &= ~(VM.LOCKED | VM.LOCKONFAULT);
    });
  }
}
