import { Level, PteFlag } from "../arch/types.js";
import { PG } from "../mm/pageflags.js";
import { addRmapEntire, removeRmapPtes } from "../mm/rmap.js";
import { VM, type Vma } from "../mm/vma.js";
import { KernelError } from "../scenario/errors.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { maybeFreeFolio, newAnonFolio, vmaBaseFlags } from "./folio.js";
import { pmdOrder } from "./thp-policy.js";

/**
 * MADV_COLLAPSE (mm/khugepaged.c, madvise_collapse) on private anonymous
 * memory: every 2 MiB-aligned block wholly inside the range becomes one
 * new PMD-mapped THP, whatever the THP mode or VM_HUGEPAGE — pages copied,
 * swap entries swapped in, none and zero-page entries zero-filled.
 *
 * Return: EINVAL for a VM_NOHUGEPAGE VMA, one holding no aligned block, a
 * block without a page table or in a VMA without an anon_vma (blocks
 * before it stay collapsed); a block whose upper-level table is missing
 * is skipped and the call fails at the end.
 */
export function madviseCollapse(ctx: OpCtx, start: number, end: number): void {
  const { m, mm } = ctx;
  const size = 2 ** m.arch.geometry.pmdShift;
  let failLater = false;
  for (const v of mm.vmasIn(start, end)) {
    if (v.flags & VM.NOHUGEPAGE || !v.isAnon)
      throw new KernelError("EINVAL", "collapse not allowed here");
    const s = Math.max(start, v.start);
    const e = Math.min(end, v.end);
    const first = Math.ceil(s / size) * size;
    if (first + size > e) throw new KernelError("EINVAL", "no aligned PMD block in the VMA");
    for (let a = first; a + size <= e; a += size) {
      const pudT = mm.pt.tableFor(a, Level.PUD, false);
      const pmdT = pudT === null ? null : mm.pt.tableFor(a, Level.PMD, false);
      if (pmdT === null) {
        failLater = true;
        continue;
      }
      const pi = mm.pt.index(Level.PMD, a);
      if (E.isHugeLeaf(m, pmdT, pi)) continue;
      const t = mm.pt.child(pmdT, pi);
      if (t === null) throw new KernelError("EINVAL", "no page table for the block");
      if (v.anonVma === null) throw new KernelError("EINVAL", "VMA without anon_vma");
      collapseBlock(ctx, v, a);
    }
  }
  if (failLater) throw new KernelError("EINVAL", "a block had no upper-level table");
}

/** collapse_huge_page() of the block at `a` (PMD-aligned, PTE table present). */
export function collapseBlock(ctx: OpCtx, v: Vma, a: number): void {
  const { m, mm } = ctx;
  const phys = m.phys;
  const pmdT = mm.pt.tableFor(a, Level.PMD, false)!;
  const pi = mm.pt.index(Level.PMD, a);
  const t = mm.pt.child(pmdT, pi)!;
  const nr = 2 ** pmdOrder(m);
  const thp = newAnonFolio(m, mm, v, a, pmdOrder(m));
  for (let k = 0; k < nr; k++) {
    if (E.isNone(m, t, k)) continue;
    if (E.isPresent(m, t, k)) {
      const pfn = E.leafPfn(m, t, k);
      const fl = E.leafFlags(m, t, k);
      E.clearEntry(t, k);
      if (pfn === phys.zeroPfn || fl & PteFlag.SPECIAL) continue;
      phys.content[thp + k] = phys.content[pfn]!;
      const head = phys.folioHead(pfn);
      removeRmapPtes(phys, pfn, 1, mm.id);
      if (phys.flags[head]! & PG.ANON) mm.rss.anon--;
      else if (phys.flags[head]! & PG.SWAPBACKED) mm.rss.shmem--;
      else mm.rss.file--;
      maybeFreeFolio(m, head);
      continue;
    }
    if (E.isRealSwap(m, t, k)) {
      const slot = E.swpOffset(m, t, k);
      phys.content[thp + k] = m.swap!.content[slot]!;
      m.swap!.put(slot);
      mm.rss.swapEnts--;
    }
    E.clearEntry(t, k);
  }
  mm.pt.detachChild(pmdT, pi);
  const w = v.flags & VM.WRITE ? PteFlag.WRITE : 0;
  E.setLeaf(m, pmdT, pi, thp, vmaBaseFlags(v) | PteFlag.YOUNG | PteFlag.DIRTY | w);
  addRmapEntire(phys, thp, mm.id);
  mm.rss.anon += nr;
}
