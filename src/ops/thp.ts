import { Level, PteFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import { PG, PG_FOLIO_MASK } from "../mm/pageflags.js";
import type { PageTable } from "../mm/pgtable.js";
import { addRmapEntire, removeRmapEntire } from "../mm/rmap.js";
import { VM, type Vma } from "../mm/vma.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { maybeFreeFolio, newAnonFolio, vmaBaseFlags } from "./folio.js";

/**
 * __split_huge_pmd(): replace the PMD leaf at `pmdT[pi]` by a PTE table of
 * 512 entries with the same bits (write, young, dirty, uffd-wp). A dirty
 * PMD dirties the folio; the folio itself stays whole. The huge zero PMD
 * becomes 512 zero-page PTEs. A PMD migration entry becomes 512 PTE
 * migration entries.
 */
export function splitHugePmd(m: Machine, mm: MmStruct, pmdT: PageTable, pi: number): void {
  const pt = mm.pt;
  const nr = pt.arch.geometry.levels[Level.PTE]!.entries;
  const lo = pmdT.words[pi * 2]!;
  const hi = pmdT.words[pi * 2 + 1]!;
  const t = pt.allocTable(Level.PTE);
  if (!m.arch.isPresent(lo, hi, Level.PMD)) {
    // Migration entry: every PTE gets the entry of its page.
    const type = m.arch.swpType(lo, hi, Level.PMD);
    const off = m.arch.swpOffset(lo, hi, Level.PMD);
    const sf = m.arch.swpFlags(lo, hi, Level.PMD);
    for (let k = 0; k < nr; k++) E.setSwp(m, t, k, type, off + k, sf);
  } else {
    const pfn = m.arch.leafPfn(lo, hi, Level.PMD);
    const fl = m.arch.leafFlags(lo, hi, Level.PMD);
    if (pfn === m.phys.hugeZeroPfn) {
      const zf = (fl & ~(PteFlag.WRITE | PteFlag.DIRTY)) | PteFlag.SPECIAL;
      for (let k = 0; k < nr; k++) E.setLeaf(m, t, k, m.phys.zeroPfn, zf);
    } else {
      for (let k = 0; k < nr; k++) E.setLeaf(m, t, k, pfn + k, fl);
      const phys = m.phys;
      if (fl & PteFlag.DIRTY) phys.flags[pfn]! |= PG.DIRTY;
      // The PMD mapping becomes nr PTE mappings of the same mm.
      const s = phys.large.get(pfn)!;
      for (let k = 0; k < nr; k++) phys.mapcount[pfn + k]!++;
      s.large += nr;
      if (s.mmId0 === mm.id) s.mmCount0 += nr;
      else if (s.mmId1 === mm.id) s.mmCount1 += nr;
      removeRmapEntire(phys, pfn, mm.id);
    }
  }
  m.arch.encodeTable(pmdT.words, pi, t.pfn, Level.PMD, false);
}

/** split_huge_pmd() at `addr` if a PMD leaf maps it. */
export function splitPmdAt(m: Machine, mm: MmStruct, addr: number): void {
  const pmdT = mm.pt.tableFor(addr, Level.PMD, false);
  if (pmdT === null) return;
  const pi = mm.pt.index(Level.PMD, addr);
  const lo = pmdT.words[pi * 2]!;
  const hi = pmdT.words[pi * 2 + 1]!;
  if (m.arch.isNone(lo, hi, Level.PMD)) return;
  const present = m.arch.isPresent(lo, hi, Level.PMD);
  if (present && !m.arch.isLeaf(lo, hi, Level.PMD)) return;
  splitHugePmd(m, mm, pmdT, pi);
}

/**
 * Split every PMD leaf that [start, end) covers only in part
 * (vma_adjust_trans_huge and the range operations' split_huge_pmd calls).
 */
export function splitPmdsCutBy(m: Machine, mm: MmStruct, start: number, end: number): void {
  const size = 2 ** m.arch.geometry.pmdShift;
  if (start % size !== 0) splitPmdAt(m, mm, start);
  if (end % size !== 0) splitPmdAt(m, mm, end - 1);
}

/** split_huge_pmd() of every PMD leaf in [start, end). */
export function splitPmdsIn(m: Machine, mm: MmStruct, start: number, end: number): void {
  const size = 2 ** m.arch.geometry.pmdShift;
  for (let a = start - (start % size); a < end; a += size) splitPmdAt(m, mm, a);
}

/**
 * do_huge_zero_wp_pmd(): a write under the huge zero PMD maps a new,
 * zero-filled PMD THP in its place (6.13+).
 */
export function hugeZeroWpPmd(
  ctx: OpCtx,
  vma: Vma,
  pmdT: PageTable,
  pi: number,
  addr: number,
): void {
  const { m, mm } = ctx;
  const order = m.arch.geometry.pmdShift - m.arch.geometry.pageShift;
  const pfn = newAnonFolio(m, mm, vma, addr, order);
  const base = vmaBaseFlags(vma);
  E.setLeaf(m, pmdT, pi, pfn, base | PteFlag.WRITE | PteFlag.YOUNG | PteFlag.DIRTY);
  addRmapEntire(m.phys, pfn, mm.id);
  mm.rss.anon += 2 ** order;
}

/**
 * do_huge_pmd_wp_page(): a write to a read-only THP PMD. Reused whole when
 * the folio is exclusive or mapped by this PMD alone; otherwise the PMD is
 * split and the fault goes on at PTE level (returns false).
 */
export function hugePmdWpPage(
  ctx: OpCtx,
  vma: Vma,
  pmdT: PageTable,
  pi: number,
  addr: number,
): boolean {
  const { m, mm } = ctx;
  const pfn = E.leafPfn(m, pmdT, pi);
  const phys = m.phys;
  const s = phys.large.get(pfn);
  if (vma.flags & VM.SHARED) {
    E.updateLeafFlags(m, pmdT, pi, PteFlag.WRITE | PteFlag.YOUNG | PteFlag.DIRTY, 0);
    return true;
  }
  const exclusive = (phys.flags[pfn]! & PG.ANON_EXCLUSIVE) !== 0;
  if (
    s &&
    (exclusive || (s.entire === 1 && s.large === 1 && (phys.flags[pfn]! & PG.SWAPCACHE) === 0))
  ) {
    E.updateLeafFlags(m, pmdT, pi, PteFlag.WRITE | PteFlag.YOUNG | PteFlag.DIRTY, 0);
    const nr = phys.folioNr(pfn);
    for (let k = 0; k < nr; k++) phys.flags[pfn + k]! |= PG.ANON_EXCLUSIVE;
    return true;
  }
  void addr;
  splitHugePmd(m, mm, pmdT, pi);
  return false;
}

/**
 * split_folio() of a large anonymous folio mapped by PTEs of `vma` only
 * (the caller checked it): order-0 pages keep their frames, entry bits and
 * exclusive state; a dirty entry dirties every page; all-zero pages are
 * remapped to the shared zero page and freed unless the VMA is mlocked
 * (try_to_map_unused_to_zeropage). `addr` maps some page of the folio.
 */
export function splitAnonFolio(ctx: OpCtx, vma: Vma, addr: number, pfn: number): void {
  const { m, mm } = ctx;
  const phys = m.phys;
  const head = phys.folioHead(pfn);
  const nr = phys.folioNr(head);
  const pageSize = m.arch.geometry.pageSize;
  const start = addr - (pfn - head) * pageSize;
  // A PMD mapping goes first.
  splitPmdAt(m, mm, start);
  let dirty = (phys.flags[head]! & PG.DIRTY) !== 0;
  for (let k = 0; k < nr; k++) {
    const a = start + k * pageSize;
    const t = mm.pt.tableFor(a, Level.PTE, false);
    if (t === null) continue;
    const i = mm.pt.index(Level.PTE, a);
    if (
      E.isPresent(m, t, i) &&
      E.leafPfn(m, t, i) === head + k &&
      E.leafFlags(m, t, i) & PteFlag.DIRTY
    ) {
      dirty = true;
    }
  }
  phys.splitFolio(head, 0, PG_FOLIO_MASK);
  for (let k = 0; k < nr; k++) {
    const p = head + k;
    phys.flags[p] = (phys.flags[p]! & ~PG.LARGE_RMAPPABLE) | (dirty ? PG.DIRTY : 0);
  }
  // __split_huge_page() drops the split's reference on every new folio:
  // pages no longer mapped (a partial munmap or zap before) are freed.
  for (let k = 0; k < nr; k++) maybeFreeFolio(m, head + k);
  if (vma.flags & VM.LOCKED) return;
  for (let k = 0; k < nr; k++) {
    const p = head + k;
    if (phys.content[p] !== 0 || phys.mapcount[p] !== 1) continue;
    const a = start + k * pageSize;
    const v = mm.findVma(a);
    const t = mm.pt.tableFor(a, Level.PTE, false);
    if (t === null || v === null) continue;
    const i = mm.pt.index(Level.PTE, a);
    if (!E.isPresent(m, t, i) || E.leafPfn(m, t, i) !== p) continue;
    const fl = E.leafFlags(m, t, i);
    const zf =
      (fl & (PteFlag.UFFD_WP | PteFlag.EXEC | PteFlag.PROTNONE)) | PteFlag.SPECIAL | PteFlag.YOUNG;
    m.arch.encodeLeaf(t.words, i, phys.zeroPfn, zf, Level.PTE);
    phys.mapcount[p] = 0;
    mm.rss.anon--;
    phys.freeFolio(p);
  }
}
