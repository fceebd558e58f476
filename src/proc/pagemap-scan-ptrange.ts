/**
 * PAGEMAP_SCAN on pt_range_walk (proc.md §5, §12 pt_range column; our
 * port: the RFC's cover letter names PAGEMAP_SCAN among the users still to
 * convert). The rules are pagemap-scan.ts's, result by result: the VMA
 * filter is the walk's `testVma`, holes are requested, and every piece that
 * decides an output — categories, match test, bounce buffer, max_pages /
 * vec_len / walk_end, the write-protect primitives — is the one the
 * callback-walker user calls.
 *
 * A PTE-level result (a folio_pte_batch / swap_pte_batch run, a single
 * entry, or a run of none PTEs) has the same categories on every entry: the
 * batch respects every entry bit and stays in one folio. It is output as
 * one run, which pagemap_scan_output() cuts and merges exactly as it would
 * the same pages one by one.
 */
import type { Machine } from "../mm/machine.js";
import type { PageTable } from "../mm/pgtable.js";
import type { Vma } from "../mm/vma.js";
import {
  PT_WALK_HOLES,
  PT_WALK_I_MMAP_WRITE,
  PtLevel,
  type PtRangeWalk,
  PtType,
  ptLevelOf,
  ptRangeWalkEnd,
  ptRangeWalkNext,
  ptRangeWalkSplit,
  ptRangeWalkStart,
} from "../walk/pt-range.js";
import { hugeLevelOf, PG } from "./common.js";
import {
  fastPathB,
  isInterestingPage,
  PAGE_IS,
  pteCategory,
  type ScanPriv,
  scanHole,
  scanHugetlbRun,
  scanOutput,
  scanTestVma,
  thpCategory,
  wpMatching,
} from "./pagemap-scan.js";
import { makeUffdWpPmd, makeUffdWpPte, pteIsUffdWp, splitThpForScan } from "./pagemap-scan-wp.js";

/** What one result asks of the driver: 0 go on, < 0 stop with that errno, RESTART. */
const RESTART = 1;

/** A partly covered non-present THP PMD that ptRangeWalkSplit() does not take. */
interface PendingSplit {
  vma: Vma;
  table: PageTable;
  index: number;
  addr: number;
  cut: number;
}

/**
 * The PTE-level part of pagemap_scan_pmd_entry() for one result: a batch of
 * present or non-present PTEs (the walker holds the table's PTL) or a run
 * of none PTEs (NONE, level PTE: no PTL held; taken here to write markers).
 * Fast path A, fast path B and the generic loop, as in scanPteRange().
 */
function ptePath(p: ScanPriv, w: PtRangeWalk, t: PtType): number {
  const m = p.m;
  const tbl = w.table!;
  const i0 = w.index;
  const none = t === PtType.NONE;
  if (wpMatching(p) && !p.buf.present) {
    // Fast path A: protect every PTE not yet uffd-wp, whatever the masks.
    protectPtes(m, tbl, i0, w.nrPages, none);
    return 0;
  }
  const present = t === PtType.FOLIO || t === PtType.PFN;
  let cats: number;
  if (fastPathB(p)) {
    // Fast path B: every PTE not uffd-wp is WRITTEN (none PTEs included).
    if (!none && (present ? w.uffdWp : pteIsUffdWp(m, tbl, i0))) return 0;
    cats = p.curVmaCategory | PAGE_IS.WRITTEN;
  } else {
    cats =
      p.curVmaCategory |
      (none
        ? PAGE_IS.WRITTEN
        : present
          ? presentCategory(p, w, t)
          : pteCategory(m, tbl, i0, p.interest));
    if (!isInterestingPage(cats, p)) return 0;
  }
  const ret = scanOutput(p.buf, cats, w.addr, w.next);
  const cut = p.buf.cut;
  if (cut === w.addr) return ret;
  if (!wpMatching(p)) return ret;
  if ((cats & PAGE_IS.WRITTEN) === 0) return ret;
  protectPtes(m, tbl, i0, (cut - w.addr) / m.arch.geometry.pageSize, none);
  return ret;
}

/**
 * pteCategory() of a present PTE result, from the result's fields (the
 * walker decoded the entry): PRESENT, WRITTEN unless uffd-wp, FILE (when of
 * interest) for a normal page of a non-anonymous folio, PFNZERO for the
 * zero page, SOFT_DIRTY.
 */
function presentCategory(p: ScanPriv, w: PtRangeWalk, t: PtType): number {
  const phys = p.m.phys;
  let c = PAGE_IS.PRESENT;
  if (!w.uffdWp) c |= PAGE_IS.WRITTEN;
  if (
    (p.interest & PAGE_IS.FILE) !== 0 &&
    t === PtType.FOLIO &&
    w.pfn !== phys.hugeZeroPfn &&
    (phys.flags[w.folio]! & PG.ANON) === 0
  ) {
    c |= PAGE_IS.FILE;
  }
  if (w.zero) c |= PAGE_IS.PFNZERO;
  if (w.softDirty) c |= PAGE_IS.SOFT_DIRTY;
  return c;
}

/**
 * Write-protect `n` PTEs from tbl[i0] that are not uffd-wp yet; a run of
 * none PTEs (no PTL held by the walker) takes the PTL itself.
 */
function protectPtes(m: Machine, tbl: PageTable, i0: number, n: number, none: boolean): void {
  if (none) tbl.ptl.lock("pagemap_scan_pmd_entry");
  try {
    for (let k = 0; k < n; k++) {
      if (!none && pteIsUffdWp(m, tbl, i0 + k)) continue;
      makeUffdWpPte(m, tbl, i0 + k);
    }
  } finally {
    if (none) tbl.ptl.unlock();
  }
}

/**
 * pagemap_scan_thp_entry() for a PMD-level result outside hugetlb (a THP,
 * the huge zero PMD, a PMD migration entry); the walker holds the PMD lock.
 * A matched WRITTEN run covering the whole PMD is protected in place; a
 * partial one (not cut to 0 pages) splits the PMD, is backed out and is
 * re-walked at PTE level: present leaves through ptRangeWalkSplit(), a
 * non-present PMD (which it does not take) by ending the walk, splitting
 * as the callback user does and restarting at the run's start (@pending).
 */
function thpPath(p: ScanPriv, w: PtRangeWalk, t: PtType, pending: PendingSplit[]): number {
  const m = p.m;
  const tbl = w.table!;
  const i = w.index;
  const cats = p.curVmaCategory | thpCategory(m, tbl, i, p.interest);
  if (!isInterestingPage(cats, p)) return 0;
  const ret = scanOutput(p.buf, cats, w.addr, w.next);
  const cut = p.buf.cut;
  if (cut === w.addr) return ret;
  if (!wpMatching(p)) return ret;
  if ((cats & PAGE_IS.WRITTEN) === 0) return ret;
  if (cut !== w.addr + 2 ** m.arch.geometry.pmdShift) {
    if (t === PtType.FOLIO || t === PtType.PFN) {
      const addr = w.addr;
      ptRangeWalkSplit(w);
      p.buf.backout(addr, cut);
      return 0;
    }
    pending.push({ vma: w.vma!, table: tbl, index: i, addr: w.addr, cut });
    return RESTART;
  }
  makeUffdWpPmd(m, tbl, i);
  return ret;
}

/**
 * A result in a hugetlb VMA: a leaf or non-present huge entry (the walker
 * holds its huge PTE lock and, with PM_SCAN_WP_MATCHING, the i_mmap lock
 * for write: PT_WALK_I_MMAP_WRITE), a hugetlb-level hole (a none entry at
 * the hstate's level: the hugetlb rules, the PTL taken here when
 * protecting), or a missing-table hole of one huge page (the hole rules;
 * with PM_SCAN_WP_MATCHING uffd_wp_range() allocates the table and the
 * walker, which reads each hugetlb result afresh, sees the next huge pages
 * of that table as hugetlb-level holes).
 *
 * The walker holds the hugetlb VMA lock for read while a NONE result of a
 * hugetlb VMA is current, as walk_hugetlb_range() does around pte_hole;
 * uffd_wp_range() runs inside it exactly as on the mainline path
 * (kernel-api.md §1.7: the kernel completes this path; the model's
 * uffd_wp_range does not take the hugetlb VMA lock).
 */
function hugetlbPath(p: ScanPriv, w: PtRangeWalk, t: PtType, vma: Vma): number {
  if (t !== PtType.NONE) return scanHugetlbRun(p, vma, w.table!, w.index, w.addr, w.next);
  if (w.level !== ptLevelOf(hugeLevelOf(p.m, vma))) return scanHole(p, vma, w.addr, w.next);
  const tbl = w.table!;
  if (!wpMatching(p)) return scanHugetlbRun(p, vma, tbl, w.index, w.addr, w.next);
  tbl.ptl.lock("pagemap_scan_hugetlb_entry");
  try {
    return scanHugetlbRun(p, vma, tbl, w.index, w.addr, w.next);
  } finally {
    tbl.ptl.unlock();
  }
}

/** One result: 0 go on, < 0 stop with that value, RESTART (see thpPath). */
function scanResult(p: ScanPriv, w: PtRangeWalk, t: PtType, pending: PendingSplit[]): number {
  const vma = w.vma;
  if (vma === null) return 0; // a gap between VMAs: the scan reports nothing
  if (w.hugetlb) return hugetlbPath(p, w, t, vma);
  if (w.level === PtLevel.PTE) return ptePath(p, w, t);
  if (t === PtType.NONE) return scanHole(p, vma, w.addr, w.next);
  return thpPath(p, w, t, pending);
}

/**
 * scanWalkPtRange - one walk of PAGEMAP_SCAN over [@start, @end) of
 * @p.mm with pt_range_walk, holes requested, the scan's VMA filter as
 * `testVma` and, with PM_SCAN_WP_MATCHING, PT_WALK_I_MMAP_WRITE.
 * @w: the walk state (reused across the driver's walks).
 *
 * Category of a NONE: level PTE → WRITTEN; a hugetlb-level hole → the
 * hugetlb rules (HUGE); any other hole → holeCategory(); a gap → nothing.
 *
 * Locking: the caller holds @p.mm's mmap lock for read; the walker takes
 * the page-table locks (see the helpers for the ones taken here).
 *
 * Return: 0 when the range was walked, -ENOSPC when the output stopped it,
 * -EPERM from the VMA filter.
 */
export function scanWalkPtRange(p: ScanPriv, w: PtRangeWalk, start: number, end: number): number {
  const flags = PT_WALK_HOLES | (wpMatching(p) ? PT_WALK_I_MMAP_WRITE : 0);
  const testVma = (vma: Vma): number => scanTestVma(p, vma);
  const pending: PendingSplit[] = [];
  let from = start;
  for (;;) {
    let t = ptRangeWalkStart(w, p.m, p.mm, from, end, flags, testVma);
    let r = 0;
    for (; t !== null; t = ptRangeWalkNext(w)) {
      r = scanResult(p, w, t, pending);
      if (r !== 0) break;
    }
    ptRangeWalkEnd(w);
    if (r !== RESTART) return r !== 0 ? r : w.error;
    // A partly covered non-present THP PMD: split it with no walker lock
    // held, back the run out and walk again from its start at PTE level.
    const s = pending.pop()!;
    splitThpForScan(p.m, p.mm, s.vma, s.table, s.index);
    p.buf.backout(s.addr, s.cut);
    from = s.addr;
  }
}
