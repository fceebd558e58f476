import { Level, PteFlag } from "../arch/types.js";
import { PteMarker } from "../mm/config.js";
import { hugetlbWpForget, hugetlbWpRecord } from "../mm/hugetlb-uffd-wp.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import { PG } from "../mm/pageflags.js";
import type { PageTable } from "../mm/pgtable.js";
import { removeRmapEntire, removeRmapPtes } from "../mm/rmap.js";
import { VM, type Vma } from "../mm/vma.js";
import * as E from "./entries.js";
import { markAccessed, maybeFreeFolio } from "./folio.js";
import { hugeLevel } from "./hugetlb.js";
import { splitPmdsCutBy } from "./thp.js";

/** How a zap treats markers and protected entries (zap_details). */
export interface ZapDetails {
  /** Keep guard markers (madvise zaps); munmap/exit drop them. */
  keepGuard: boolean;
  /** A zap that tears the VMA down (munmap, exit): every entry goes. */
  teardown: boolean;
}

/**
 * Release what a present leaf maps when its entry is cleared
 * (zap_present_ptes): rmap, RSS, and for page-cache pages the young/dirty
 * bits carried over to the folio.
 */
export function releaseLeaf(
  m: Machine,
  mm: MmStruct,
  pfn: number,
  nr: number,
  flags: number,
  pmd: boolean,
): void {
  const phys = m.phys;
  if (pfn === phys.zeroPfn || pfn === phys.hugeZeroPfn || flags & PteFlag.SPECIAL) return;
  const head = phys.folioHead(pfn);
  const hf = phys.flags[head]!;
  if (pmd) removeRmapEntire(phys, head, mm.id);
  else removeRmapPtes(phys, pfn, nr, mm.id);
  if (hf & PG.HUGETLB) {
    maybeFreeFolio(m, head);
    return;
  }
  if (hf & PG.ANON) {
    mm.rss.anon -= nr;
    if (hf & PG.SWAPCACHE) freeSwapCacheIfUnused(m, head);
  } else {
    if (hf & PG.SWAPBACKED) mm.rss.shmem -= nr;
    else mm.rss.file -= nr;
    if (flags & PteFlag.DIRTY) phys.flags[head]! |= PG.DIRTY;
    if (flags & PteFlag.YOUNG) markAccessed(m, head);
  }
  maybeFreeFolio(m, head);
}

/**
 * Release a non-present entry being cleared (zap_nonpresent_ptes): a swap
 * slot reference (and the swap-cache page once nothing refers to it), the
 * RSS of migration and device entries, the rmap of device entries.
 */
function releaseSwp(m: Machine, mm: MmStruct, t: PageTable, i: number): void {
  const type = E.swpType(m, t, i);
  const st = m.swapTypes;
  const off = E.swpOffset(m, t, i);
  if (type < st.maxSwapfiles) {
    const sw = m.swap!;
    sw.put(off);
    mm.rss.swapEnts--;
    const cached = sw.cached(off);
    if (sw.count[off] === 0 && cached >= 0) freeSwapCacheIfUnused(m, cached);
    return;
  }
  const phys = m.phys;
  const pfnOf = (o: number): number => o % 2 ** m.arch.geometry.swpPfnBits;
  const rssDec = (pfn: number): void => {
    const hf = phys.flags[phys.folioHead(pfn)]!;
    if (hf & PG.ANON) mm.rss.anon--;
    else if (hf & PG.SWAPBACKED) mm.rss.shmem--;
    else mm.rss.file--;
  };
  if (
    type === st.migrationRead ||
    type === st.migrationReadExclusive ||
    type === st.migrationWrite
  ) {
    rssDec(pfnOf(off));
  } else if (type === st.deviceRead || type === st.deviceWrite || type === st.deviceExclusive) {
    removeRmapPtes(phys, off, 1, mm.id);
    rssDec(off);
    maybeFreeFolio(m, phys.folioHead(off));
  }
}

/**
 * free_swap_cache(): a swap-cache page that nothing maps and whose slot no
 * entry refers to any more leaves the swap cache and is freed.
 */
export function freeSwapCacheIfUnused(m: Machine, pfn: number): void {
  const phys = m.phys;
  if ((phys.flags[pfn]! & PG.SWAPCACHE) === 0 || phys.mapcount[pfn] !== 0 || phys.order[pfn] !== 0)
    return;
  const slot = phys.swapSlot.get(pfn);
  if (slot === undefined || m.swap!.count[slot] !== 0) return;
  m.swap!.dropCache(slot);
  phys.swapSlot.delete(pfn);
  phys.flags[pfn]! &= ~PG.SWAPCACHE;
  // Read-ahead pages never mapped are not anonymous yet: free directly.
  if ((phys.flags[pfn]! & PG.PAGECACHE) === 0) phys.freeFolio(pfn);
}

/**
 * zap_page_range_single() / unmap_page_range() over [start, end) of one
 * VMA: every entry is cleared and what it mapped released. PMD leaves the
 * range cuts are split first; hugetlb VMAs are zapped by whole huge pages.
 *
 * Locking: mmap lock held (read for madvise, write for munmap); PTLs inside.
 */
export function zapRange(
  m: Machine,
  mm: MmStruct,
  vma: Vma,
  start: number,
  end: number,
  d: ZapDetails,
): void {
  if (vma.backing.kind === "hugetlb") {
    zapHugetlb(m, mm, vma, start, end, d);
    return;
  }
  splitPmdsCutBy(m, mm, start, end);
  const pt = mm.pt;
  const ps = m.arch.geometry.pageSize;
  const pmdSize = 2 ** m.arch.geometry.pmdShift;
  const fileWp = !vma.isAnon && !d.teardown && (vma.flags & VM.UFFD_WP) !== 0;
  let a = start;
  while (a < end) {
    const next = Math.min(end, a - (a % pmdSize) + pmdSize);
    const pmdT = pt.tableFor(a, Level.PMD, false);
    if (pmdT === null) {
      a = next;
      continue;
    }
    const pi = pt.index(Level.PMD, a);
    if (E.isHugeLeaf(m, pmdT, pi) || (E.isSwp(m, pmdT, pi) && pmdT.level === Level.PMD)) {
      if (E.isHugeLeaf(m, pmdT, pi)) {
        const pfn = E.leafPfn(m, pmdT, pi);
        const fl = E.leafFlags(m, pmdT, pi);
        releaseLeaf(
          m,
          mm,
          pfn,
          2 ** (m.arch.geometry.pmdShift - m.arch.geometry.pageShift),
          fl,
          true,
        );
      }
      E.clearEntry(pmdT, pi);
      a = next;
      continue;
    }
    const t = pt.child(pmdT, pi);
    if (t === null) {
      a = next;
      continue;
    }
    for (let b = a; b < next; b += ps) {
      const i = pt.index(Level.PTE, b);
      if (E.isNone(m, t, i)) continue;
      if (E.isPresent(m, t, i)) {
        const fl = E.leafFlags(m, t, i);
        releaseLeaf(m, mm, E.leafPfn(m, t, i), 1, fl, false);
        E.clearEntry(t, i);
        if (fileWp && fl & PteFlag.UFFD_WP) E.setMarker(m, t, i, 1);
        continue;
      }
      const marker = E.markerBits(m, t, i);
      if (marker !== 0) {
        if (d.teardown) E.clearEntry(t, i);
        else if (marker & 4) {
          if (!d.keepGuard) E.clearEntry(t, i);
        } else if (vma.isAnon) E.clearEntry(t, i);
        continue;
      }
      releaseSwp(m, mm, t, i);
      E.clearEntry(t, i);
    }
    a = next;
  }
}

/** Zap whole huge pages of a hugetlb VMA (__unmap_hugepage_range). */
function zapHugetlb(
  m: Machine,
  mm: MmStruct,
  vma: Vma,
  start: number,
  end: number,
  d: ZapDetails,
): void {
  if (vma.backing.kind !== "hugetlb") return;
  const hs = vma.backing.hugeSize;
  const level = hugeLevel(m, hs);
  for (let a = start; a < end; a += hs) {
    const t = mm.pt.tableFor(a, level, false);
    if (t === null) continue;
    const i = mm.pt.index(level, a);
    if (E.isNone(m, t, i)) continue;
    if (E.isPresent(m, t, i)) {
      const fl = E.leafFlags(m, t, i);
      releaseLeaf(m, mm, E.leafPfn(m, t, i), hs / m.arch.geometry.pageSize, fl, true);
      E.clearEntry(t, i);
      // __unmap_hugepage_range(): a protected page leaves a uffd-wp marker.
      if (fl & PteFlag.UFFD_WP && !d.teardown) {
        if (m.config.hugetlbUffdWp === "marker-free") hugetlbWpRecord(mm, a);
        else E.setMarker(m, t, i, PteMarker.UFFD_WP);
      }
    } else if (d.teardown || E.markerBits(m, t, i) === 0) {
      // Hugetlb is outside the RSS counters and never swapped: just clear.
      E.clearEntry(t, i);
    }
  }
  if (d.teardown) hugetlbWpForget(mm, start, end);
}

/**
 * Free the page tables below `mm` whose whole span holds no VMA any more
 * (free_pgtables after an unmap). Tables with entries left are kept.
 */
export function freeEmptyTables(m: Machine, mm: MmStruct, start: number, end: number): void {
  const pt = mm.pt;
  const levels = m.arch.geometry.levels;
  const visit = (t: PageTable, base: number): void => {
    if (t.level === Level.PTE) return;
    const g = levels[t.level]!;
    const span = 2 ** g.shift;
    for (let i = 0; i < t.entries; i++) {
      const s = base + i * span;
      if (s >= end || s + span <= start) continue;
      const c = pt.child(t, i);
      if (c === null) continue;
      visit(c, s);
      if (mm.vmasIn(s, s + span).length === 0) {
        clearTable(m, mm, c);
        pt.detachChild(t, i);
      }
    }
  };
  visit(pt.root, 0);
}

/** Clear the (empty of VMAs) table `t` and everything under it. */
function clearTable(m: Machine, mm: MmStruct, t: PageTable): void {
  const pt = mm.pt;
  if (t.level === Level.PTE) {
    t.words.fill(0);
    t.used = 0;
    return;
  }
  for (let i = 0; i < t.entries; i++) {
    const c = pt.child(t, i);
    if (c !== null) {
      clearTable(m, mm, c);
      pt.detachChild(t, i);
    } else if (!E.isNone(m, t, i)) {
      E.clearEntry(t, i);
    }
  }
}

/**
 * CONFIG_PT_RECLAIM: after a madvise zap, free each PTE table whose whole
 * PMD block lies inside [start, end) and whose entries are all none.
 */
export function reclaimEmptyPteTables(m: Machine, mm: MmStruct, start: number, end: number): void {
  const pmdSize = 2 ** m.arch.geometry.pmdShift;
  let a = start % pmdSize === 0 ? start : start - (start % pmdSize) + pmdSize;
  for (; a + pmdSize <= end; a += pmdSize) {
    const pmdT = mm.pt.tableFor(a, Level.PMD, false);
    if (pmdT === null) continue;
    const pi = mm.pt.index(Level.PMD, a);
    const t = mm.pt.child(pmdT, pi);
    if (t === null || t.used !== 0) continue;
    mm.pt.detachChild(pmdT, pi);
  }
}
