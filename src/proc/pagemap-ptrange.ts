/**
 * /proc/pid/pagemap on pt_range_walk (proc.md §4, §12 pt_range column; the
 * RFC's "mm: Make /proc/pid/pagemap use the new generic pagewalk API", seed
 * 000). The entry rules are pagemap.ts's: the PTE rows of
 * pte_to_pagemap_entry(), the THP rows of pagemap_pmd_range() and the
 * hugetlb rows of pagemap_hugetlb_range().
 */
import { SwpFlag } from "../arch/types.js";
import type { MmStruct } from "../mm/mm.js";
import { folioMaybeMappedShared, precisePageMapcount } from "../mm/rmap.js";
import { VM, type Vma } from "../mm/vma.js";
import {
  PT_WALK_HOLES,
  PtLevel,
  type PtRangeWalk,
  PtType,
  ptRangeWalkNext,
  ptRangeWalkStart,
} from "../walk/pt-range.js";
import { softleafHasPfn, softleafIsUffdWpMarker, softleafToPfn } from "../walk/softleaf.js";
import { PG } from "./common.js";
import { add, hugetlbNoneWp, type PagemapPriv, PM, swpEntryFlags, TYPE_SPAN } from "./pagemap.js";

/** FILE and MMAP_EXCLUSIVE of a present page, or FILE of a PFN-carrying entry's page. */
function pageFlags(p: PagemapPriv, page: number, present: boolean): number {
  const phys = p.m.phys;
  let flags = 0;
  if ((phys.flags[phys.folioHead(page)]! & PG.ANON) === 0) flags |= PM.FILE;
  if (present && precisePageMapcount(phys, page) === 1) flags |= PM.MMAP_EXCLUSIVE;
  return flags;
}

/** A PTE-level result, page by page (pte_to_pagemap_entry()). */
function pteRows(p: PagemapPriv, w: PtRangeWalk, t: PtType, base: number): void {
  const n = w.nrPages;
  if (t === PtType.FOLIO || t === PtType.PFN) {
    let flags = base | PM.PRESENT;
    if (w.softDirty) flags |= PM.SOFT_DIRTY;
    if (w.uffdWp) flags |= PM.UFFD_WP;
    for (let k = 0; k < n; k++) {
      // vm_normal_page(): the zero page and special mappings have no page.
      const f = t === PtType.FOLIO ? flags | pageFlags(p, w.pfn + k, true) : flags;
      add(p, w.pfn + k, f);
    }
    return;
  }
  const e = w.leaf;
  let flags = base | PM.SWAP | swpEntryFlags(e);
  let off = e.offset;
  if (softleafHasPfn(e)) {
    off = softleafToPfn(e);
    flags |= pageFlags(p, off, false);
  }
  for (let k = 0; k < n; k++) add(p, e.swpType + (off + k) * TYPE_SPAN, flags);
}

/** A PMD THP, huge zero PMD or non-present PMD (the THP branch of pagemap_pmd_range()). */
function thpRows(p: PagemapPriv, w: PtRangeWalk, t: PtType, base: number): void {
  const ps = p.m.arch.geometry.pageSize;
  const sub = (w.addr - w.entryStart) / ps;
  let flags = base;
  let frame: number;
  let step: number;
  if (t === PtType.FOLIO || t === PtType.PFN) {
    flags |= PM.PRESENT;
    if (w.softDirty) flags |= PM.SOFT_DIRTY;
    if (w.uffdWp) flags |= PM.UFFD_WP;
    // __folio_page_mapped_exclusively() of pmd_page(): the PMD's first page, for all entries.
    flags |= pageFlags(p, w.pfn - sub, true);
    frame = w.pfn;
    step = 1;
  } else {
    const e = w.leaf;
    flags |= PM.SWAP;
    if (e.flags & SwpFlag.SOFT_DIRTY) flags |= PM.SOFT_DIRTY;
    if (e.flags & SwpFlag.UFFD_WP) flags |= PM.UFFD_WP;
    let off = e.offset;
    if (softleafHasPfn(e)) {
      off = softleafToPfn(e);
      flags |= pageFlags(p, off, false);
    }
    frame = e.swpType + (off + sub) * TYPE_SPAN;
    step = TYPE_SPAN;
  }
  for (let k = 0; k < w.nrPages; k++, frame += step) add(p, frame, flags);
}

/** A hugetlb leaf (the hugetlb rows: no SWAP bit and no frame for non-present entries). */
function hugetlbRows(p: PagemapPriv, w: PtRangeWalk, t: PtType, base: number): void {
  const phys = p.m.phys;
  let flags = base;
  if (t === PtType.FOLIO || t === PtType.PFN) {
    const head = phys.folioHead(w.pfn);
    if ((phys.flags[head]! & PG.ANON) === 0) flags |= PM.FILE;
    // hugetlb_pmd_shared(): the model shares no PMD tables.
    if (!folioMaybeMappedShared(phys, head)) flags |= PM.MMAP_EXCLUSIVE;
    if (w.uffdWp) flags |= PM.UFFD_WP;
    flags |= PM.PRESENT;
    for (let k = 0; k < w.nrPages; k++) add(p, w.pfn + k, flags);
    return;
  }
  // pte_swp_uffd_wp_any(): the swp uffd-wp bit or a uffd-wp marker.
  if (w.uffdWp || softleafIsUffdWpMarker(w.leaf)) flags |= PM.UFFD_WP;
  for (let k = 0; k < w.nrPages; k++) add(p, 0, flags);
}

/**
 * pagemapChunkPtRange - fill @p's entries for [@start, @end) (one chunk of
 * pagemap_read(), at most one PMD) with pt_range_walk, holes requested and
 * the default VMA policy (a VM_PFNMAP VMA reads as a hole).
 * @w: a walk state to use (reused across chunks).
 *
 * NONE gives 0 (+ PM_SOFT_DIRTY inside a VM_SOFTDIRTY VMA); a THP PMD gives
 * PM_MMAP_EXCLUSIVE of its head page on all 512 entries; a zero-page PFN is
 * PRESENT with its PFN, FILE only for the huge zero folio (PMD level);
 * hugetlb results use the hugetlb rows.
 *
 * Locking: the caller holds @mm's mmap lock for read; the walker takes the
 * page-table locks.
 */
export function pagemapChunkPtRange(
  p: PagemapPriv,
  w: PtRangeWalk,
  mm: MmStruct,
  start: number,
  end: number,
): void {
  const r = p.r;
  const rFlags = r.flags;
  const rFrame = r.frame;
  const rStart = r.start;
  const showPfn = p.showPfn;
  const phys = p.m.phys;
  const pgFlags = phys.flags;
  // 1 / page size is exact (a power of two): the position without a division.
  const inv = 1 / p.m.arch.geometry.pageSize;
  let vma: Vma | null = null;
  let base = 0;
  for (
    let t = ptRangeWalkStart(w, p.m, mm, start, end, PT_WALK_HOLES);
    t !== null;
    t = ptRangeWalkNext(w)
  ) {
    if (w.vma !== vma) {
      vma = w.vma;
      base = vma?.has(VM.SOFTDIRTY) === true ? PM.SOFT_DIRTY : 0;
    }
    if (t === PtType.FOLIO && w.level === PtLevel.PTE && !w.hugetlb) {
      // pte_to_pagemap_entry() of a present PTE batch of one folio, inline:
      // the batch's bits and the folio's anon flag hold for every page.
      let pos = (w.addr - rStart) * inv;
      let flags = base | PM.PRESENT;
      if (w.softDirty) flags |= PM.SOFT_DIRTY;
      if (w.uffdWp) flags |= PM.UFFD_WP;
      if ((pgFlags[w.folio]! & PG.ANON) === 0) flags |= PM.FILE;
      const n = w.nrPages;
      const pfn = w.pfn;
      for (let k = 0; k < n; k++, pos++) {
        const page = pfn + k;
        rFlags[pos] = precisePageMapcount(phys, page) === 1 ? flags | PM.MMAP_EXCLUSIVE : flags;
        rFrame[pos] = showPfn ? page : 0;
      }
      p.pos = pos;
      continue;
    }
    p.pos = (w.addr - rStart) * inv;
    if (t === PtType.NONE) {
      const wp = w.hugetlb && vma !== null ? hugetlbNoneWp(mm, vma, w.addr) : 0;
      for (let k = 0; k < w.nrPages; k++) add(p, 0, base | wp);
    } else if (w.hugetlb) {
      hugetlbRows(p, w, t, base);
    } else if (w.level === PtLevel.PTE) {
      pteRows(p, w, t, base);
    } else {
      thpRows(p, w, t, base);
    }
  }
}
