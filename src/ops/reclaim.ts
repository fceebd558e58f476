import { Level, PteFlag, SwpFlag } from "../arch/types.js";
import { PG } from "../mm/pageflags.js";
import type { PageTable } from "../mm/pgtable.js";
import { folioMapcount, folioMaybeMappedShared, removeRmapPtes } from "../mm/rmap.js";
import { VM, type Vma } from "../mm/vma.js";
import { KernelError } from "../scenario/errors.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { splitAnonFolio, splitHugePmd } from "./thp.js";

/*
 * MADV_COLD / MADV_PAGEOUT / MADV_FREE (mm/madvise.c, mm/vmscan.c): the
 * per-VMA passes, with folio splitting for large folios the range covers
 * only in part, and the synchronous zram swap-out of the reference machine.
 */

type Mode = "cold" | "pageout" | "free";

/** Whether the folio of `pfn`, mapped at `addr`, lies wholly inside [start, end). */
function coveredWhole(ctx: OpCtx, pfn: number, addr: number, start: number, end: number): boolean {
  const phys = ctx.m.phys;
  const head = phys.folioHead(pfn);
  const ps = ctx.m.arch.geometry.pageSize;
  const fs = addr - (pfn - head) * ps;
  return fs >= start && fs + phys.folioNr(head) * ps <= end;
}

/** Whether only this mm maps the folio (no other process may map it). */
function mappedOnlyHere(ctx: OpCtx, head: number): boolean {
  const phys = ctx.m.phys;
  if (phys.order[head] === 0) return phys.mapcount[head]! <= 1;
  return !folioMaybeMappedShared(phys, head);
}

/**
 * Apply cold/pageout/free to [start, end) of `vma`.
 * Locking: mmap lock for read; PTLs inside.
 */
export function adviseReclaim(ctx: OpCtx, vma: Vma, start: number, end: number, mode: Mode): void {
  const { m, mm } = ctx;
  if (vma.flags & VM.LOCKED || vma.backing.kind === "hugetlb")
    throw new KernelError("EINVAL", `${mode} on a locked or hugetlb VMA`);
  if (mode === "free" && !vma.isAnon)
    throw new KernelError("EINVAL", "MADV_FREE of a non-anonymous VMA");
  const pmdSize = 2 ** m.arch.geometry.pmdShift;
  const ps = m.arch.geometry.pageSize;
  for (let a = start; a < end; ) {
    const next = Math.min(end, a - (a % pmdSize) + pmdSize);
    const pmdT = mm.pt.tableFor(a, Level.PMD, false);
    if (pmdT === null) {
      a = next;
      continue;
    }
    const pi = mm.pt.index(Level.PMD, a);
    if (E.isHugeLeaf(m, pmdT, pi)) {
      const pfn = E.leafPfn(m, pmdT, pi);
      if (pfn === m.phys.hugeZeroPfn) {
        if (a % pmdSize !== 0 || next - a < pmdSize) splitHugePmd(m, mm, pmdT, pi);
        else {
          a = next;
          continue;
        }
      } else if (a % pmdSize === 0 && next - a === pmdSize) {
        if (
          !folioMaybeMappedShared(m.phys, pfn) &&
          (mode !== "free" || m.phys.large.get(pfn)!.entire === 1)
        ) {
          pmdWhole(ctx, vma, pmdT, pi, a, mode);
        }
        a = next;
        continue;
      } else {
        if (folioMaybeMappedShared(m.phys, pfn)) {
          a = next;
          continue;
        }
        splitHugePmd(m, mm, pmdT, pi);
      }
    }
    const t = mm.pt.child(pmdT, pi);
    if (t === null) {
      a = next;
      continue;
    }
    for (let b = a; b < next; b += ps) {
      const i = mm.pt.index(Level.PTE, b);
      if (E.isNone(m, t, i)) continue;
      if (!E.isPresent(m, t, i)) {
        if (mode === "free" && E.isRealSwap(m, t, i)) {
          m.swap!.put(E.swpOffset(m, t, i));
          mm.rss.swapEnts--;
          E.clearEntry(t, i);
        }
        continue;
      }
      const pfn = E.leafPfn(m, t, i);
      const fl = E.leafFlags(m, t, i);
      if (pfn === m.phys.zeroPfn || fl & PteFlag.SPECIAL) continue;
      let head = m.phys.folioHead(pfn);
      if (m.phys.order[head]! > 0) {
        if (!coveredWhole(ctx, pfn, b, Math.max(start, vma.start), Math.min(end, vma.end))) {
          if (!mappedOnlyHere(ctx, head) || (m.phys.flags[head]! & PG.ANON) === 0) continue;
          splitAnonFolio(ctx, vma, b, pfn);
          if (!E.isPresent(m, t, i) || E.leafPfn(m, t, i) === m.phys.zeroPfn) continue;
          head = pfn;
        } else if (pfn !== head) {
          continue; // handled with its head page
        }
      }
      ptesFolio(ctx, vma, t, i, b, head, mode);
    }
    a = next;
  }
}

/** cold/pageout/free of a whole PMD-mapped THP. */
function pmdWhole(
  ctx: OpCtx,
  vma: Vma,
  pmdT: PageTable,
  pi: number,
  addr: number,
  mode: Mode,
): void {
  const { m, mm } = ctx;
  const head = E.leafPfn(m, pmdT, pi);
  const phys = m.phys;
  if (mode === "cold") {
    E.updateLeafFlags(m, pmdT, pi, 0, PteFlag.YOUNG);
    phys.flags[head]! &= ~(PG.REFERENCED | PG.ACTIVE);
    return;
  }
  if (mode === "free") {
    E.updateLeafFlags(m, pmdT, pi, 0, PteFlag.YOUNG | PteFlag.DIRTY);
    phys.flags[head]! &= ~(PG.DIRTY | PG.SWAPBACKED | PG.ACTIVE | PG.REFERENCED);
    return;
  }
  // pageout: the PMD is split and the folio goes out as one unit.
  splitHugePmd(m, mm, pmdT, pi);
  const t = mm.pt.child(pmdT, pi)!;
  ptesFolio(ctx, vma, t, 0, addr, head, "pageout");
}

/**
 * cold/pageout/free of one folio mapped by PTEs starting at t[i] (its head
 * page at `addr`), or of a small folio.
 */
function ptesFolio(
  ctx: OpCtx,
  vma: Vma,
  t: PageTable,
  i: number,
  addr: number,
  head: number,
  mode: Mode,
): void {
  const { m, mm } = ctx;
  const phys = m.phys;
  const nr = phys.folioNr(head);
  const hf = phys.flags[head]!;
  if (mode === "cold") {
    if (!mappedOnlyHere(ctx, head)) return;
    for (let k = 0; k < nr; k++) E.updateLeafFlags(m, t, i + k, 0, PteFlag.YOUNG);
    phys.flags[head]! &= ~(PG.REFERENCED | PG.ACTIVE);
    return;
  }
  if (mode === "free") {
    const mc = folioMapcount(phys, head);
    if ((hf & (PG.DIRTY | PG.SWAPCACHE)) !== 0 && mc !== nr) return;
    if (hf & PG.SWAPCACHE) {
      const slot = phys.swapSlot.get(head)!;
      if (m.swap!.count[slot]! > 0) return;
      m.swap!.dropCache(slot);
      phys.swapSlot.delete(head);
      phys.flags[head]! &= ~PG.SWAPCACHE;
    }
    for (let k = 0; k < nr; k++) E.updateLeafFlags(m, t, i + k, 0, PteFlag.YOUNG | PteFlag.DIRTY);
    phys.flags[head]! &= ~(PG.DIRTY | PG.SWAPBACKED | PG.ACTIVE | PG.REFERENCED);
    return;
  }
  // pageout
  if (!mappedOnlyHere(ctx, head)) return;
  if (hf & PG.ANON) {
    if ((hf & PG.SWAPBACKED) === 0) {
      // Lazily freed: discard if clean, else it becomes swap-backed again.
      let dirty = (hf & PG.DIRTY) !== 0;
      for (let k = 0; k < nr; k++) if (E.leafFlags(m, t, i + k) & PteFlag.DIRTY) dirty = true;
      if (dirty) {
        phys.flags[head] =
          (phys.flags[head]! | PG.SWAPBACKED | PG.DIRTY | PG.ACTIVE) & ~PG.REFERENCED;
        return;
      }
      for (let k = 0; k < nr; k++) E.clearEntry(t, i + k);
      removeRmapPtes(phys, head, nr, mm.id);
      mm.rss.anon -= nr;
      phys.freeFolio(head);
      return;
    }
    swapOutAnon(ctx, t, i, head);
    return;
  }
  pageoutFile(ctx, vma, t, i, addr, head);
}

/** shrink_folio_list() for an anonymous folio: write it to zram, unmap, free. */
function swapOutAnon(ctx: OpCtx, t: PageTable, i: number, head: number): void {
  const { m, mm } = ctx;
  const sw = m.swap;
  if (sw === null) return;
  const phys = m.phys;
  const nr = phys.folioNr(head);
  let slot0: number;
  if (phys.flags[head]! & PG.SWAPCACHE) {
    slot0 = phys.swapSlot.get(head)!;
    sw.setCached(slot0, -1);
    phys.swapSlot.delete(head);
  } else {
    slot0 = sw.alloc(nr);
    if (slot0 < 0) throw new Error("swap device full");
  }
  for (let k = 0; k < nr; k++) {
    const fl = E.leafFlags(m, t, i + k);
    let sf = phys.flags[head + k]! & PG.ANON_EXCLUSIVE ? SwpFlag.EXCLUSIVE : 0;
    if (fl & PteFlag.UFFD_WP) sf |= SwpFlag.UFFD_WP;
    if (fl & PteFlag.SOFT_DIRTY) sf |= SwpFlag.SOFT_DIRTY;
    sw.content[slot0 + k] = phys.content[head + k]!;
    sw.count[slot0 + k] = 1;
    E.clearEntry(t, i + k);
    E.setSwp(m, t, i + k, 0, slot0 + k, sf);
  }
  removeRmapPtes(phys, head, nr, mm.id);
  mm.rss.anon -= nr;
  mm.rss.swapEnts += nr;
  phys.freeFolio(head);
}

/** Pageout of a page-cache folio mapped here only: shmem to swap, clean disk pages dropped. */
function pageoutFile(
  ctx: OpCtx,
  vma: Vma,
  t: PageTable,
  i: number,
  addr: number,
  head: number,
): void {
  const { m, mm } = ctx;
  const phys = m.phys;
  const space = vma.space;
  if (space === null) return;
  const idx = vma.pageIndex(addr, m.arch.geometry.pageShift);
  const fl = E.leafFlags(m, t, i);
  if (space.swapBacked) {
    const sw = m.swap;
    if (sw === null) return;
    const slot = sw.alloc(1);
    sw.content[slot] = phys.content[head]!;
    space.swap[idx] = slot;
  } else if ((phys.flags[head]! & PG.DIRTY) !== 0 || fl & PteFlag.DIRTY) {
    return; // writeback is not modelled: dirty disk pages stay
  }
  E.clearEntry(t, i);
  if (vma.flags & VM.UFFD_WP && fl & PteFlag.UFFD_WP) E.setMarker(m, t, i, 1);
  removeRmapPtes(phys, head, 1, mm.id);
  if (space.swapBacked) mm.rss.shmem--;
  else mm.rss.file--;
  space.pages[idx] = -1;
  phys.freeFolio(head);
}
