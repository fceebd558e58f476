import { PG } from "./pageflags.js";
import type { LargeFolioState, PhysMem } from "./phys.js";

/*
 * The reverse-map counters of the 6.15+ mapcount model (mm/rmap.c,
 * include/linux/rmap.h): folio_add_*_rmap_* / folio_remove_rmap_* in
 * miniature. An "mm id" is the model's mm_struct id (never 0).
 */

function slotAdd(s: LargeFolioState, mmId: number, d: number, hadMappings: boolean): void {
  if (s.mmId0 === mmId && s.mmCount0 > 0) s.mmCount0 += d;
  else if (s.mmId1 === mmId && s.mmCount1 > 0) s.mmCount1 += d;
  else if (s.mmCount0 === 0) {
    s.mmId0 = mmId;
    s.mmCount0 = d;
    if (hadMappings) s.maybeShared = true;
  } else if (s.mmCount1 === 0) {
    s.mmId1 = mmId;
    s.mmCount1 = d;
    s.maybeShared = true;
  }
}

function slotRemove(s: LargeFolioState, mmId: number, d: number): void {
  if (s.mmId0 === mmId && s.mmCount0 > 0) {
    s.mmCount0 -= d;
    if (s.mmCount0 > 0) return;
  } else if (s.mmId1 === mmId && s.mmCount1 > 0) {
    s.mmCount1 -= d;
    if (s.mmCount1 > 0) return;
  }
  if (s.mmCount0 === s.large || s.mmCount1 === s.large) s.maybeShared = false;
}

/** folio_add_{anon,file}_rmap_ptes(): `nr` consecutive pages from `pfn`, all of one folio. */
export function addRmapPtes(phys: PhysMem, pfn: number, nr: number, mmId: number): void {
  for (let i = 0; i < nr; i++) phys.mapcount[pfn + i]!++;
  if (phys.order[pfn]! === 0) return;
  const s = phys.large.get(phys.folioHead(pfn))!;
  const had = s.large > 0;
  s.large += nr;
  slotAdd(s, mmId, nr, had);
}

/** folio_remove_rmap_ptes(). */
export function removeRmapPtes(phys: PhysMem, pfn: number, nr: number, mmId: number): void {
  for (let i = 0; i < nr; i++) phys.mapcount[pfn + i]!--;
  if (phys.order[pfn]! === 0) return;
  const s = phys.large.get(phys.folioHead(pfn))!;
  s.large -= nr;
  slotRemove(s, mmId, nr);
}

/** folio_add_{anon,file}_rmap_pmd() / hugetlb_add_*_rmap(): one entire mapping. */
export function addRmapEntire(phys: PhysMem, head: number, mmId: number): void {
  const s = phys.large.get(head)!;
  const had = s.large > 0;
  s.entire++;
  s.large++;
  if ((phys.flags[head]! & PG.HUGETLB) === 0) slotAdd(s, mmId, 1, had);
}

/** folio_remove_rmap_pmd() / hugetlb_remove_rmap(). */
export function removeRmapEntire(phys: PhysMem, head: number, mmId: number): void {
  const s = phys.large.get(head)!;
  s.entire--;
  s.large--;
  if ((phys.flags[head]! & PG.HUGETLB) === 0) slotRemove(s, mmId, 1);
}

/** folio_mapcount(): every mapping of the folio. */
export function folioMapcount(phys: PhysMem, head: number): number {
  if (phys.order[head]! === 0) return phys.mapcount[head]!;
  return phys.largeOf(head)!.large;
}

/** folio_mapped(). */
export function folioMapped(phys: PhysMem, pfn: number): boolean {
  return folioMapcount(phys, phys.folioHead(pfn)) > 0;
}

/**
 * The precise per-page mapcount (folio_precise_page_mapcount): PTE mappings
 * of the page plus the folio's entire mappings; hugetlb: entire only.
 * Zero pages and page-type pages give 0.
 */
export function precisePageMapcount(phys: PhysMem, pfn: number): number {
  const f = phys.flags[pfn]!;
  if ((f & (PG.ZERO | PG.PGTABLE)) !== 0) return 0;
  if (phys.order[pfn]! === 0) return phys.mapcount[pfn]!;
  const head = phys.folioHead(pfn);
  const s = phys.largeOf(head)!;
  if ((phys.flags[head]! & PG.HUGETLB) !== 0) return s.entire;
  return phys.mapcount[pfn]! + s.entire;
}

/** folio_maybe_mapped_shared(). */
export function folioMaybeMappedShared(phys: PhysMem, head: number): boolean {
  const mc = folioMapcount(phys, head);
  if (phys.order[head]! === 0 || (phys.flags[head]! & PG.HUGETLB) !== 0) return mc > 1;
  if (mc <= 1) return false;
  return phys.largeOf(head)!.maybeShared;
}
