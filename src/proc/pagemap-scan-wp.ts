/**
 * PAGEMAP_SCAN write-protection (PM_SCAN_WP_MATCHING, proc.md §5.6): the
 * entry-level actions make_uffd_wp_pte(), make_uffd_wp_pmd(),
 * make_uffd_wp_huge_pte(), the THP split of a partly covered PMD and the
 * hole path's uffd_wp_range(). Every write goes through the ops layer's
 * entry primitives and the arch codec; nothing here names a bit.
 */
import { Level, PteFlag, SwpFlag } from "../arch/types.js";
import { PteMarker } from "../mm/config.js";
import { hugetlbWpRecord, hugetlbWpRecorded } from "../mm/hugetlb-uffd-wp.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { PageTable } from "../mm/pgtable.js";
import type { Vma } from "../mm/vma.js";
import type { OpCtx } from "../ops/context.js";
import * as E from "../ops/entries.js";
import { splitHugePmd } from "../ops/thp.js";
import { uffdWriteprotect } from "../ops/uffd.js";
import { releaseLeaf } from "../ops/zap.js";
import {
  Softleaf,
  softleafFromPmd,
  softleafFromPte,
  softleafIsHwpoison,
  softleafIsMarker,
  softleafIsMigration,
  softleafIsNone,
  softleafIsUffdWpMarker,
  softleafSwpUffdWp,
} from "../walk/softleaf.js";
import { hugeLevelOf, hugeSizeOf } from "./common.js";

/** Scratch softleaf (single-threaded model; never retained). */
const S = new Softleaf();

/**
 * How an unpopulated (none) hugetlb entry is write-protected: with a PTE
 * marker in the entry (6.18), or recorded beside the page tables
 * (src/mm/hugetlb-uffd-wp.ts). Both give the same observable results.
 */
export type HugetlbWpDesign = "markers" | "marker-free";

/**
 * pte_swp_uffd_wp_any() of a non-present entry: the swap-pte uffd-wp bit
 * or a uffd-wp marker. False for none and present entries.
 */
export function swpUffdWpAny(m: Machine, t: PageTable, i: number): boolean {
  const e = softleafFromPte(m, t, i, S);
  if (softleafIsNone(e)) return false;
  return softleafSwpUffdWp(e) || softleafIsUffdWpMarker(e);
}

/** Whether a PTE is already uffd-wp: present with the bit, or pte_swp_uffd_wp_any(). */
export function pteIsUffdWp(m: Machine, t: PageTable, i: number): boolean {
  if (E.isPresent(m, t, i)) return (E.leafFlags(m, t, i) & PteFlag.UFFD_WP) !== 0;
  return swpUffdWpAny(m, t, i);
}

/** Set the swap-pte uffd-wp bit of a non-present entry, keeping type, offset and flags. */
function swpMkUffdWp(m: Machine, t: PageTable, i: number): void {
  const type = E.swpType(m, t, i);
  const off = E.swpOffset(m, t, i);
  E.setSwp(m, t, i, type, off, E.swpFlags(m, t, i) | SwpFlag.UFFD_WP);
}

/**
 * make_uffd_wp_pte(): present → uffd-wp bit (pte_mkuffd_wp also drops the
 * write bit); swap-like, every marker included (a guard marker stays a guard
 * marker) → swap-pte uffd-wp bit; none → uffd-wp marker.
 */
export function makeUffdWpPte(m: Machine, t: PageTable, i: number): void {
  if (E.isPresent(m, t, i)) E.updateLeafFlags(m, t, i, PteFlag.UFFD_WP, PteFlag.WRITE);
  else if (E.isSwp(m, t, i)) swpMkUffdWp(m, t, i);
  else E.setMarker(m, t, i, PteMarker.UFFD_WP);
}

/** make_uffd_wp_pmd(): a present PMD gets the uffd-wp bit, a PMD migration entry the swap bit. */
export function makeUffdWpPmd(m: Machine, t: PageTable, i: number): void {
  if (E.isPresent(m, t, i)) {
    E.updateLeafFlags(m, t, i, PteFlag.UFFD_WP, PteFlag.WRITE);
    return;
  }
  if (softleafIsMigration(softleafFromPmd(m, t, i, S))) swpMkUffdWp(m, t, i);
}

/**
 * make_uffd_wp_huge_pte(): hwpoison entries and markers are left alone; a
 * migration entry gets the swap uffd-wp bit; a present entry the uffd-wp
 * bit; a none entry a uffd-wp marker — or, marker-free, a record. (The scan
 * never reaches the none case: hugetlb none entries are not WRITTEN.)
 */
export function makeUffdWpHugePte(
  m: Machine,
  mm: MmStruct,
  t: PageTable,
  i: number,
  hugeStart: number,
  design: HugetlbWpDesign,
): void {
  // Hugetlb entries are read as PTEs (huge_ptep_get), whatever level holds them.
  const e = softleafFromPte(m, t, i, S);
  if (softleafIsHwpoison(e) || softleafIsMarker(e)) return;
  if (softleafIsMigration(e)) {
    swpMkUffdWp(m, t, i);
    return;
  }
  if (E.isNone(m, t, i)) {
    if (design === "markers") E.setMarker(m, t, i, PteMarker.UFFD_WP);
    else hugetlbWpRecord(mm, hugeStart);
    return;
  }
  if (m.arch.isPresent(E.entryLo(t, i), E.entryHi(t, i), Level.PTE)) {
    E.updateLeafFlags(m, t, i, PteFlag.UFFD_WP, PteFlag.WRITE);
  }
}

/**
 * Whether a none hugetlb entry reads as a uffd-wp marker under the
 * marker-free design (always false with markers: the marker is in the entry).
 */
export function hugetlbNoneIsWp(mm: MmStruct, hugeStart: number, design: HugetlbWpDesign): boolean {
  return design === "marker-free" && hugetlbWpRecorded(mm, hugeStart);
}

/**
 * split_huge_pmd() from the scan (pagemap_scan_thp_entry): an anonymous VMA
 * gets a PTE table mapping the same pages (the huge zero PMD becomes 512
 * zero-page PTEs); any other VMA has the PMD cleared, so the PTE path finds
 * no table and the walker retries the slot as a hole.
 *
 * Locking: takes the PMD's lock (the caller has dropped it).
 */
export function splitThpForScan(m: Machine, mm: MmStruct, vma: Vma, t: PageTable, i: number): void {
  t.ptl.lock("pagemap_scan split_huge_pmd");
  try {
    if (vma.isAnon) {
      splitHugePmd(m, mm, t, i);
      return;
    }
    if (E.isPresent(m, t, i)) {
      const nr = 2 ** (m.arch.geometry.pmdShift - m.arch.geometry.pageShift);
      releaseLeaf(m, mm, E.leafPfn(m, t, i), nr, E.leafFlags(m, t, i), true);
    }
    E.clearEntry(t, i);
  } finally {
    t.ptl.unlock();
  }
}

/**
 * uffd_wp_range(vma, addr, end - addr, true) from the hole path: allocate
 * the missing tables and put a uffd-wp marker in every none entry
 * (WP_UNPOPULATED). In a hugetlb VMA the caller passes one huge page; under
 * the marker-free design its table is allocated and the page recorded
 * instead of marked.
 */
export function uffdWpHole(
  m: Machine,
  mm: MmStruct,
  vma: Vma,
  addr: number,
  end: number,
  design: HugetlbWpDesign,
  step: number,
): void {
  if (vma.isHugetlb && design === "marker-free") {
    const hs = hugeSizeOf(vma);
    const level = hugeLevelOf(m, vma);
    for (let a = addr - (addr % hs); a < end; a += hs) {
      const t = mm.pt.tableFor(a, level, true)!;
      if (E.isNone(m, t, mm.pt.index(level, a))) hugetlbWpRecord(mm, a);
    }
    return;
  }
  const ctx: OpCtx = { m, mm, step, uffdEvents: [] };
  uffdWriteprotect(ctx, addr, end, true);
}
