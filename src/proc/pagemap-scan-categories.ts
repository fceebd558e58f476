/**
 * PAGEMAP_SCAN categories (proc.md §5.3, §5.4), independent of the walker:
 * the match test, the VMA filter's category, and the categories of a PTE,
 * a THP PMD, a hugetlb entry and a hole.
 */
import { Level, PteFlag, SwpFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import type { PageTable } from "../mm/pgtable.js";
import { VM, type Vma } from "../mm/vma.js";
import * as E from "../ops/entries.js";
import {
  Softleaf,
  softleafFromPmd,
  softleafFromPte,
  softleafHasPfn,
  softleafIsGuardMarker,
  softleafIsUffdWpMarker,
  softleafToPfn,
} from "../walk/softleaf.js";
import { folioFlags, isHugeZero, normalPage, PG } from "./common.js";
import { PAGE_IS, PAGE_IS_NAMES } from "./pagemap-scan-abi.js";
import { swpUffdWpAny } from "./pagemap-scan-wp.js";

// ---------------------------------------------------------------------------
// categories (walker independent)

/** The masks of one scan: the match test and the FILE interest. */
export interface ScanMasks {
  categoryInverted: number;
  categoryMask: number;
  categoryAnyofMask: number;
  /** masks_of_interest: mask | anyof | return. */
  interest: number;
}

/** pagemap_scan_is_interesting_page(). */
export function isInterestingPage(categories: number, k: ScanMasks): boolean {
  const c = categories ^ k.categoryInverted;
  if ((c & k.categoryMask) !== k.categoryMask) return false;
  if (k.categoryAnyofMask !== 0 && (c & k.categoryAnyofMask) === 0) return false;
  return true;
}

/** pagemap_scan_is_interesting_vma(): only WPALLOWED is tested at VMA level. */
export function isInterestingVma(categories: number, k: ScanMasks): boolean {
  const required = k.categoryMask & PAGE_IS.WPALLOWED;
  return ((categories ^ k.categoryInverted) & required) === required;
}

/**
 * wp_allowed of test_walk: userfaultfd_wp_async() && userfaultfd_wp_use_markers()
 * — registered for `wp` on the asynchronous userfaultfd (every model
 * userfaultfd has WP_UNPOPULATED, so anonymous VMAs use markers too).
 */
export function vmaWpAllowed(vma: Vma): boolean {
  return vma.uffd?.async === true && vma.has(VM.UFFD_WP);
}

/** vma_category: WPALLOWED | SOFT_DIRTY (VM_SOFTDIRTY). */
export function vmaCategory(vma: Vma): number {
  return (
    (vmaWpAllowed(vma) ? PAGE_IS.WPALLOWED : 0) | (vma.has(VM.SOFTDIRTY) ? PAGE_IS.SOFT_DIRTY : 0)
  );
}

/** Scratch softleaf (single-threaded model; never retained). */
const S = new Softleaf();

/** FILE of a PFN-carrying non-present entry (decoded into S) whose folio is not anon. */
function softleafFile(m: Machine, e: Softleaf): boolean {
  return softleafHasPfn(e) && (folioFlags(m, softleafToPfn(e)) & PG.ANON) === 0;
}

/**
 * pagemap_page_category() of one PTE (without vma_category): none →
 * WRITTEN (6.18.44 carries the unpopulated-PTE fix); present → PRESENT,
 * WRITTEN unless uffd-wp, FILE, PFNZERO, SOFT_DIRTY; swap-like → SWAPPED,
 * WRITTEN unless uffd-wp (bit or marker), GUARD or FILE, SOFT_DIRTY.
 * `interest` gates FILE.
 */
export function pteCategory(m: Machine, t: PageTable, i: number, interest: number): number {
  // The entry is read once and decoded through the codec directly (hot: one call per PTE).
  const a = m.arch;
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  const lvl = t.level;
  if (a.isNone(lo, hi, lvl)) return PAGE_IS.WRITTEN;
  let c = 0;
  if (a.isPresent(lo, hi, lvl)) {
    c |= PAGE_IS.PRESENT;
    const f = a.leafFlags(lo, hi, lvl);
    if ((f & PteFlag.UFFD_WP) === 0) c |= PAGE_IS.WRITTEN;
    if (interest & PAGE_IS.FILE) {
      const page = normalPage(m, t, i);
      if (page >= 0 && (folioFlags(m, page) & PG.ANON) === 0) c |= PAGE_IS.FILE;
    }
    if (a.leafPfn(lo, hi, lvl) === m.phys.zeroPfn) c |= PAGE_IS.PFNZERO;
    if (f & PteFlag.SOFT_DIRTY) c |= PAGE_IS.SOFT_DIRTY;
    return c;
  }
  c |= PAGE_IS.SWAPPED;
  if (!swpUffdWpAny(m, t, i)) c |= PAGE_IS.WRITTEN;
  const e = softleafFromPte(m, t, i, S);
  if (softleafIsGuardMarker(e)) c |= PAGE_IS.GUARD;
  else if (interest & PAGE_IS.FILE && softleafFile(m, e)) c |= PAGE_IS.FILE;
  if (e.flags & SwpFlag.SOFT_DIRTY) c |= PAGE_IS.SOFT_DIRTY;
  return c;
}

/**
 * pagemap_thp_category() of a PMD leaf or PMD migration entry: HUGE plus
 * PRESENT (WRITTEN unless uffd-wp, FILE, PFNZERO for the huge zero folio,
 * SOFT_DIRTY) or SWAPPED (WRITTEN unless uffd-wp, SOFT_DIRTY, FILE).
 */
export function thpCategory(m: Machine, t: PageTable, i: number, interest: number): number {
  let c = PAGE_IS.HUGE;
  if (E.isPresent(m, t, i)) {
    c |= PAGE_IS.PRESENT;
    const f = E.leafFlags(m, t, i);
    if ((f & PteFlag.UFFD_WP) === 0) c |= PAGE_IS.WRITTEN;
    if (interest & PAGE_IS.FILE) {
      const page = normalPage(m, t, i);
      if (page >= 0 && (folioFlags(m, page) & PG.ANON) === 0) c |= PAGE_IS.FILE;
    }
    if (isHugeZero(m, E.leafPfn(m, t, i))) c |= PAGE_IS.PFNZERO;
    if (f & PteFlag.SOFT_DIRTY) c |= PAGE_IS.SOFT_DIRTY;
    return c;
  }
  c |= PAGE_IS.SWAPPED;
  const e = softleafFromPmd(m, t, i, S);
  if ((e.flags & SwpFlag.UFFD_WP) === 0) c |= PAGE_IS.WRITTEN;
  if (e.flags & SwpFlag.SOFT_DIRTY) c |= PAGE_IS.SOFT_DIRTY;
  if (interest & PAGE_IS.FILE && softleafFile(m, e)) c |= PAGE_IS.FILE;
  return c;
}

/**
 * pagemap_hugetlb_category() of a hugetlb entry (read as a PTE, at any
 * level): HUGE; present → PRESENT, WRITTEN unless uffd-wp, FILE if the page
 * is not anon, SOFT_DIRTY; non-present → SWAPPED, WRITTEN unless uffd-wp,
 * SOFT_DIRTY (never FILE); none → HUGE alone. `noneIsWp`: the marker-free
 * design's record, read as a uffd-wp marker.
 */
export function hugetlbCategory(m: Machine, t: PageTable, i: number, noneIsWp: boolean): number {
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  let c = PAGE_IS.HUGE;
  if (m.arch.isNone(lo, hi, t.level)) return noneIsWp ? c | PAGE_IS.SWAPPED : c;
  if (m.arch.isPresent(lo, hi, Level.PTE /* huge_ptep_get() reads a PTE */)) {
    c |= PAGE_IS.PRESENT;
    const f = m.arch.leafFlags(lo, hi, t.level);
    if ((f & PteFlag.UFFD_WP) === 0) c |= PAGE_IS.WRITTEN;
    if ((folioFlags(m, m.arch.leafPfn(lo, hi, t.level)) & PG.ANON) === 0) c |= PAGE_IS.FILE;
    if (m.arch.leafPfn(lo, hi, t.level) === m.phys.zeroPfn) c |= PAGE_IS.PFNZERO;
    if (f & PteFlag.SOFT_DIRTY) c |= PAGE_IS.SOFT_DIRTY;
    return c;
  }
  c |= PAGE_IS.SWAPPED;
  const e = softleafFromPte(m, t, i, S);
  if ((e.flags & SwpFlag.UFFD_WP) === 0 && !softleafIsUffdWpMarker(e)) c |= PAGE_IS.WRITTEN;
  if (e.flags & SwpFlag.SOFT_DIRTY) c |= PAGE_IS.SOFT_DIRTY;
  return c;
}

/**
 * The categories of a hole with no page table (pagemap_scan_pte_hole):
 * vma_category, plus WRITTEN in a non-hugetlb VMA registered for uffd `wp`
 * (the 2026 PMD-hole fix, carried by 6.18.44).
 */
export function holeCategory(vma: Vma, vmaCat: number): number {
  return vma.has(VM.UFFD_WP) && !vma.isHugetlb ? vmaCat | PAGE_IS.WRITTEN : vmaCat;
}

/** The names of a categories value in bit order; unknown bits as numbers. */
export function categoryNames(categories: number): Array<string | number> {
  const out: Array<string | number> = [];
  for (let b = 0; b < 31; b++) {
    if ((categories & (1 << b)) === 0) continue;
    out.push(b < PAGE_IS_NAMES.length ? PAGE_IS_NAMES[b]! : 1 << b);
  }
  return out;
}
