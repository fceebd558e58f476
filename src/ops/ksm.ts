import { Level, PteFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import { PG } from "../mm/pageflags.js";
import { addRmapPtes, removeRmapPtes } from "../mm/rmap.js";
import { VM, type Vma } from "../mm/vma.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { copyPage, markAccessed, maybeFreeFolio, vmaBaseFlags } from "./folio.js";
import { splitAnonFolio, splitPmdAt } from "./thp.js";

/** ksm max_page_sharing. */
const MAX_PAGE_SHARING = 256;

interface Candidate {
  mm: MmStruct;
  vma: Vma;
  addr: number;
}

/** The present normal anonymous page at `addr`, or -1. */
function anonPageAt(m: Machine, mm: MmStruct, addr: number): number {
  const t = mm.pt.tableFor(addr, Level.PTE, false);
  if (t === null) return -1;
  const i = mm.pt.index(Level.PTE, addr);
  if (!E.isPresent(m, t, i)) return -1;
  const pfn = E.leafPfn(m, t, i);
  if (pfn === m.phys.zeroPfn || E.leafFlags(m, t, i) & PteFlag.SPECIAL) return -1;
  const f = m.phys.flags[m.phys.folioHead(pfn)]!;
  if ((f & PG.ANON) === 0 || f & PG.HUGETLB) return -1;
  return pfn;
}

/**
 * The `ksm_merge` step: ksmd's full scans over every VM_MERGEABLE VMA, in
 * (process, VMA, address) order. Pages with identical content merge: the
 * second one found becomes the KSM page (write-protected, clean entry,
 * PG_dirty, accessed once, not exclusive), the others are freed and their
 * entries point to it (read-only, young). Existing KSM pages absorb
 * matching pages. Large folios are split first.
 */
export function ksmMerge(m: Machine, step: number): void {
  const ps = m.arch.geometry.pageSize;
  const pmdSize = 2 ** m.arch.geometry.pmdShift;
  const tree = m.ksmStable;
  const unstable = new Map<number, Candidate>();
  for (const mm of m.procs.values()) {
    const ctx: OpCtx = { m, mm, step, uffdEvents: [] };
    for (const vma of [...mm.vmas]) {
      if ((vma.flags & VM.MERGEABLE) === 0 || !vma.isAnon) continue;
      for (let a = vma.start; a < vma.end; a += ps) {
        const pmdT = mm.pt.tableFor(a, Level.PMD, false);
        if (pmdT === null) {
          a = a - (a % pmdSize) + pmdSize - ps;
          continue;
        }
        if (E.isHugeLeaf(m, pmdT, mm.pt.index(Level.PMD, a))) splitPmdAt(m, mm, a);
        let pfn = anonPageAt(m, mm, a);
        if (pfn < 0) continue;
        if (m.phys.flags[pfn]! & PG.KSM) continue;
        if (m.phys.order[pfn]! > 0) {
          splitAnonFolio(ctx, vma, a, pfn);
          pfn = anonPageAt(m, mm, a);
          if (pfn < 0) continue;
        }
        const content = m.phys.content[pfn]!;
        const kpages = tree.get(content);
        const room = kpages?.find((k) => m.phys.mapcount[k]! < MAX_PAGE_SHARING);
        if (room !== undefined) {
          replaceWithKsm(m, mm, vma, a, pfn, room);
          continue;
        }
        const first = unstable.get(content);
        if (!first) {
          unstable.set(content, { mm, vma, addr: a });
          continue;
        }
        // The second page found becomes the KSM page; the first merges into it.
        const kpage = makeKsmPage(m, mm, vma, a, pfn);
        if (!kpages) tree.set(content, [kpage]);
        else kpages.push(kpage);
        unstable.delete(content);
        const fpfn = anonPageAt(m, first.mm, first.addr);
        if (fpfn >= 0 && fpfn !== kpage)
          replaceWithKsm(m, first.mm, first.vma, first.addr, fpfn, kpage);
      }
    }
  }
  // Forget KSM pages that no longer exist.
  for (const [c, list] of tree) {
    const live = list.filter((k) => (m.phys.flags[k]! & PG.KSM) !== 0);
    if (live.length === 0) tree.delete(c);
    else tree.set(c, live);
  }
}

/** write_protect_page() + the stable-node setup: `pfn` at `addr` becomes a KSM page. */
function makeKsmPage(m: Machine, mm: MmStruct, vma: Vma, addr: number, pfn: number): number {
  const t = mm.pt.tableFor(addr, Level.PTE, false)!;
  const i = mm.pt.index(Level.PTE, addr);
  E.updateLeafFlags(m, t, i, 0, PteFlag.WRITE | PteFlag.DIRTY);
  const phys = m.phys;
  phys.flags[pfn] = (phys.flags[pfn]! | PG.KSM | PG.DIRTY) & ~PG.ANON_EXCLUSIVE;
  markAccessed(m, pfn);
  void vma;
  return pfn;
}

/** replace_page(): map the KSM page instead of `pfn` (read-only, young) and free `pfn`. */
function replaceWithKsm(
  m: Machine,
  mm: MmStruct,
  vma: Vma,
  addr: number,
  pfn: number,
  kpage: number,
): void {
  const t = mm.pt.tableFor(addr, Level.PTE, false)!;
  const i = mm.pt.index(Level.PTE, addr);
  E.clearEntry(t, i);
  E.setLeaf(m, t, i, kpage, vmaBaseFlags(vma) | PteFlag.YOUNG);
  removeRmapPtes(m.phys, pfn, 1, mm.id);
  addRmapPtes(m.phys, kpage, 1, mm.id);
  m.phys.flags[pfn]! &= ~PG.ANON_EXCLUSIVE;
  maybeFreeFolio(m, pfn);
}

/**
 * unmerge_ksm_pages() for MADV_UNMERGEABLE: every mapping of a KSM page in
 * [start, end) gets its own copy (exclusive, clean, young, read-only).
 */
export function breakKsm(ctx: OpCtx, start: number, end: number): void {
  const { m, mm } = ctx;
  const ps = m.arch.geometry.pageSize;
  for (const vma of mm.vmasIn(start, end)) {
    for (let a = Math.max(start, vma.start); a < Math.min(end, vma.end); a += ps) {
      const pfn = anonPageAt(m, mm, a);
      if (pfn < 0 || (m.phys.flags[pfn]! & PG.KSM) === 0) continue;
      const t = mm.pt.tableFor(a, Level.PTE, false)!;
      const i = mm.pt.index(Level.PTE, a);
      const copy = copyPage(m, mm, vma, a, pfn);
      E.clearEntry(t, i);
      E.setLeaf(m, t, i, copy, vmaBaseFlags(vma) | PteFlag.YOUNG);
      removeRmapPtes(m.phys, pfn, 1, mm.id);
      addRmapPtes(m.phys, copy, 1, mm.id);
      if (m.phys.mapcount[pfn] === 0) {
        m.phys.flags[pfn]! &= ~PG.KSM;
        maybeFreeFolio(m, pfn);
      }
    }
  }
}
