/**
 * The PAGEMAP_SCAN ioctl (fs/proc/task_mmu.c do_pagemap_scan; proc.md §5)
 * as a user of the callback walker: argument validation, the VMA filter
 * (test_walk), per-entry categories, the bounce buffer with its merging,
 * max_pages and walk_end rules, and the driver loop. Write-protection
 * actions live in pagemap-scan-wp.ts.
 *
 * The category functions ({@link pteCategory}, {@link thpCategory},
 * {@link hugetlbCategory}, {@link holeCategory}), the match test, the
 * output buffer ({@link ScanBuffer}, {@link scanOutput}), the VMA filter
 * ({@link scanTestVma}), the hugetlb run ({@link scanHugetlbRun}) and the
 * hole run ({@link scanHole}) take no walker state: the callback-walker
 * user below and the pt_range_walk user (pagemap-scan-ptrange.ts) share
 * them; {@link pagemapScan} dispatches on the walker generation in one
 * place ({@link scanWalk}).
 */
import { Level, PteFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { PageTable } from "../mm/pgtable.js";
import { VM, type Vma } from "../mm/vma.js";
import { KernelError } from "../scenario/errors.js";
import type { WalkerGeneration } from "../scenario/run.js";
import { iMmapLock } from "../walk/locks.js";
import { walkPageRange } from "../walk/pagewalk.js";
import { PtRangeWalk } from "../walk/pt-range.js";
import {
  type MmWalk,
  type MmWalkOps,
  PageWalkLock,
  WalkAction,
  type WalkFlavour,
} from "../walk/types.js";
import { folioFlags, hugeLevelOf, hugeSizeOf, PG, POW2, pmdIsHugeOrSwap } from "./common.js";
import {
  ENOSPC,
  EPERM,
  PAGE_IS,
  PM_SCAN_CHECK_WPASYNC,
  PM_SCAN_WP_MATCHING,
  type PmScanArg,
  type PmScanOptions,
  type PmScanResult,
  pagemapScanGetArgs,
  ScanBuffer,
  scanOutput,
} from "./pagemap-scan-abi.js";
import {
  holeCategory,
  hugetlbCategory,
  isInterestingPage,
  isInterestingVma,
  pteCategory,
  type ScanMasks,
  thpCategory,
  vmaCategory,
  vmaWpAllowed,
} from "./pagemap-scan-categories.js";
import { scanWalkPtRange } from "./pagemap-scan-ptrange.js";
import {
  type HugetlbWpDesign,
  hugetlbNoneIsWp,
  makeUffdWpHugePte,
  makeUffdWpPmd,
  makeUffdWpPte,
  pteIsUffdWp,
  splitThpForScan,
  uffdWpHole,
} from "./pagemap-scan-wp.js";

export * from "./pagemap-scan-abi.js";
export * from "./pagemap-scan-categories.js";
export type { HugetlbWpDesign } from "./pagemap-scan-wp.js";

// ---------------------------------------------------------------------------
// the callback-walker user

/** pagemap_scan_private (shared with pagemap-scan-ptrange.ts). */
export interface ScanPriv extends ScanMasks {
  readonly m: Machine;
  readonly mm: MmStruct;
  readonly flags: number;
  readonly returnMask: number;
  readonly buf: ScanBuffer;
  readonly design: HugetlbWpDesign;
  readonly step: number;
  curVmaCategory: number;
}

export function wpMatching(p: ScanPriv): boolean {
  return (p.flags & PM_SCAN_WP_MATCHING) !== 0;
}

/**
 * Fast path B of pagemap_scan_pmd_entry(): no anyof, no inversion, mask and
 * return mask both exactly WRITTEN — every PTE not uffd-wp is WRITTEN.
 */
export function fastPathB(p: ScanPriv): boolean {
  return (
    p.categoryAnyofMask === 0 &&
    p.categoryInverted === 0 &&
    p.categoryMask === PAGE_IS.WRITTEN &&
    p.returnMask === PAGE_IS.WRITTEN
  );
}

/**
 * pagemap_scan_test_walk() for @vma (§5.3): 0 walk it (curVmaCategory set),
 * 1 skip it, -EPERM end the scan (PM_SCAN_CHECK_WPASYNC).
 */
export function scanTestVma(p: ScanPriv, vma: Vma): number {
  const wpAllowed = vmaWpAllowed(vma);
  if (!wpAllowed) {
    if (p.flags & PM_SCAN_CHECK_WPASYNC) return -EPERM;
    if (p.flags & PM_SCAN_WP_MATCHING) return 1;
  }
  if (vma.has(VM.PFNMAP)) return 1;
  const cat = vmaCategory(vma);
  if (!isInterestingVma(cat, p)) return 1;
  p.curVmaCategory = cat;
  return 0;
}

/** pagemap_scan_test_walk() as the callback walker's test_walk. */
function scanTestWalk(_start: number, _end: number, walk: MmWalk<ScanPriv>): number {
  return scanTestVma(walk.private, walk.vma!);
}

/**
 * pagemap_scan_thp_entry(). Return: the output's result (0 or -ENOSPC), or
 * null ("-ENOENT") when the PMD is not a THP or was split: go on at PTE level.
 */
function scanThpEntry(
  p: ScanPriv,
  vma: Vma,
  t: PageTable,
  i: number,
  start: number,
  end: number,
): number | null {
  const m = p.m;
  if (!pmdIsHugeOrSwap(m, t, i)) return null;
  t.ptl.lock("pagemap_scan_thp_entry");
  let locked = true;
  try {
    const cats = p.curVmaCategory | thpCategory(m, t, i, p.interest);
    if (!isInterestingPage(cats, p)) return 0;
    const ret = scanOutput(p.buf, cats, start, end);
    const cut = p.buf.cut;
    if (cut === start) return ret;
    if (!wpMatching(p)) return ret;
    if ((cats & PAGE_IS.WRITTEN) === 0) return ret;
    if (cut !== start + POW2[m.arch.geometry.pmdShift]!) {
      // Partial: split, back the run out and report as if there was no THP.
      t.ptl.unlock();
      locked = false;
      splitThpForScan(m, p.mm, vma, t, i);
      p.buf.backout(start, cut);
      return null;
    }
    makeUffdWpPmd(m, t, i);
    return ret;
  } finally {
    if (locked) t.ptl.unlock();
  }
}

/** The PTE loops of pagemap_scan_pmd_entry(): fast path A, fast path B, generic. */
function scanPteRange(p: ScanPriv, pte: PageTable, start: number, end: number): number {
  const m = p.m;
  const ps = m.arch.geometry.pageSize;
  let i = p.mm.pt.index(Level.PTE, start);
  let ret = 0;
  if (wpMatching(p) && !p.buf.present) {
    // Fast path A: protect every PTE not yet uffd-wp, whatever the masks.
    for (let addr = start; addr !== end; addr += ps, i++) {
      if (pteIsUffdWp(m, pte, i)) continue;
      makeUffdWpPte(m, pte, i);
    }
    return 0;
  }
  if (fastPathB(p)) {
    // Fast path B: every PTE not uffd-wp is WRITTEN.
    for (let addr = start; addr < end; addr += ps, i++) {
      if (pteIsUffdWp(m, pte, i)) continue;
      ret = scanOutput(p.buf, p.curVmaCategory | PAGE_IS.WRITTEN, addr, addr + ps);
      if (p.buf.cut === addr) break;
      if (!wpMatching(p)) continue;
      makeUffdWpPte(m, pte, i);
    }
    return ret;
  }
  return scanPteGeneric(p, pte, i, start, end);
}

/**
 * The generic PTE loop of pagemap_scan_pmd_entry(): pteCategory() with the
 * present and none cases decoded here from the table words (the rest
 * through pteCategory()); invariants hoisted.
 */
function scanPteGeneric(
  p: ScanPriv,
  pte: PageTable,
  i: number,
  start: number,
  end: number,
): number {
  const m = p.m;
  const ps = m.arch.geometry.pageSize;
  let ret = 0;
  const a = m.arch;
  const words = pte.words;
  const phys = m.phys;
  const pflags = phys.flags;
  const porder = phys.order;
  const zeroPfn = phys.zeroPfn;
  const hugeZeroPfn = phys.hugeZeroPfn;
  const wantFile = (p.interest & PAGE_IS.FILE) !== 0;
  const vmaCat = p.curVmaCategory;
  const buf = p.buf;
  const wpm = wpMatching(p);
  const inv = p.categoryInverted;
  const mask = p.categoryMask;
  const anyof = p.categoryAnyofMask;
  // The current bounce-buffer run, kept in locals while pages extend it
  // (what scanOutput()/push() would do for one merging page) and written
  // back before any other scanOutput() and at the end.
  const present = buf.present;
  const rmask = buf.returnMask;
  const maxPages = buf.maxPages;
  let k = buf.index;
  // The run's end as a page index from `start` (a plain number in the loop).
  let runEndN = (buf.ends[k]! - start) / ps;
  let runCat = buf.cats[k]!;
  let found = buf.found;
  let dirty = false;
  const nr = (end - start) / ps;
  for (let n = 0; n < nr; n++, i++) {
    const addr = start + n * ps;
    const lo = words[i * 2]!;
    const hi = words[i * 2 + 1]!;
    let c: number;
    if (a.isNone(lo, hi, Level.PTE)) c = PAGE_IS.WRITTEN;
    else if (a.isPresent(lo, hi, Level.PTE)) {
      const f = a.leafFlags(lo, hi, Level.PTE);
      const pfn = a.leafPfn(lo, hi, Level.PTE);
      c = PAGE_IS.PRESENT;
      if ((f & PteFlag.UFFD_WP) === 0) c |= PAGE_IS.WRITTEN;
      if (wantFile && (f & PteFlag.SPECIAL) === 0 && pfn !== zeroPfn && pfn !== hugeZeroPfn) {
        const ff = porder[pfn]! === 0 ? pflags[pfn]! : folioFlags(m, pfn);
        if ((ff & PG.ANON) === 0) c |= PAGE_IS.FILE;
      }
      if (pfn === zeroPfn) c |= PAGE_IS.PFNZERO;
      if (f & PteFlag.SOFT_DIRTY) c |= PAGE_IS.SOFT_DIRTY;
    } else c = pteCategory(m, pte, i, p.interest);
    const cats = vmaCat | c;
    // isInterestingPage()
    const ci = cats ^ inv;
    if ((ci & mask) !== mask) continue;
    if (anyof !== 0 && (ci & anyof) === 0) continue;
    if (present && runEndN === n && runCat === (cats & rmask) && found + 1 <= maxPages) {
      runEndN = n + 1;
      found++;
      dirty = true;
      ret = 0;
    } else {
      if (dirty) {
        const e = start + runEndN * ps;
        buf.ends[k] = e;
        buf.found = found;
        buf.cut = e;
        dirty = false;
      }
      ret = scanOutput(buf, cats, addr, addr + ps);
      k = buf.index;
      runEndN = (buf.ends[k]! - start) / ps;
      runCat = buf.cats[k]!;
      found = buf.found;
      if (buf.cut === addr) break;
    }
    if (!wpm) continue;
    if ((cats & PAGE_IS.WRITTEN) === 0) continue;
    makeUffdWpPte(m, pte, i);
  }
  if (dirty) {
    const e = start + runEndN * ps;
    buf.ends[k] = e;
    buf.found = found;
    buf.cut = e;
  }
  return ret;
}

/**
 * The body of pagemap_scan_hugetlb_entry() for the huge page entry (t, i)
 * holding [start, end), shared by every generation (mainline
 * hugetlb_entry; unified pmd/pud_entry and hugetlb-level holes; pt_range
 * hugetlb results and hugetlb-level NONE results).
 *
 * Locking: with PM_SCAN_WP_MATCHING the caller holds the mapping's i_mmap
 * lock for write and the entry's huge PTE lock; without, no PTL (the
 * kernel's short route reads the entry unlocked).
 */
export function scanHugetlbRun(
  p: ScanPriv,
  vma: Vma,
  t: PageTable,
  i: number,
  start: number,
  end: number,
): number {
  const m = p.m;
  const hs = hugeSizeOf(vma);
  const hugeStart = start - (start % hs);
  // The marker-free record matters only for a none entry: looked up only then.
  const noneIsWp =
    m.arch.isNone(t.words[i * 2]!, t.words[i * 2 + 1]!, t.level) &&
    hugetlbNoneIsWp(p.mm, hugeStart, p.design);
  const cats = p.curVmaCategory | hugetlbCategory(m, t, i, noneIsWp);
  if (!isInterestingPage(cats, p)) return 0;
  let ret = scanOutput(p.buf, cats, start, end);
  const cut = p.buf.cut;
  if (!wpMatching(p)) return ret;
  if (cut === start) return ret;
  if ((cats & PAGE_IS.WRITTEN) === 0) return ret;
  if (cut !== start + hs) {
    // Partial hugetlb WP is not possible: back out, walk_end = the run's start, go on.
    p.buf.backout(start, cut);
    p.buf.walkEnd = start;
    ret = 0;
    return ret;
  }
  makeUffdWpHugePte(m, p.mm, t, i, hugeStart, p.design);
  return ret;
}

/**
 * pagemap_scan_hugetlb_entry() from the callback walker: with
 * PM_SCAN_WP_MATCHING takes the mapping's i_mmap lock for write, then the
 * huge PTE lock, around {@link scanHugetlbRun}.
 */
function scanHugetlbEntry(
  p: ScanPriv,
  vma: Vma,
  t: PageTable,
  i: number,
  start: number,
  end: number,
): number {
  if (!wpMatching(p)) return scanHugetlbRun(p, vma, t, i, start, end);
  const iMmap = iMmapLock(vma.space!);
  iMmap.writeLock("pagemap_scan_hugetlb_entry");
  t.ptl.lock("pagemap_scan_hugetlb_entry");
  try {
    return scanHugetlbRun(p, vma, t, i, start, end);
  } finally {
    t.ptl.unlock();
    iMmap.writeUnlock();
  }
}

/**
 * The hole part of pagemap_scan_pte_hole() for [addr, end) of a VMA (no
 * page table there): holeCategory(), and with PM_SCAN_WP_MATCHING
 * uffd_wp_range() over the part output.
 *
 * Locking: no PTL held (uffd_wp_range allocates tables and takes PTLs).
 */
export function scanHole(p: ScanPriv, vma: Vma, addr: number, end: number): number {
  const cats = holeCategory(vma, p.curVmaCategory);
  if (!isInterestingPage(cats, p)) return 0;
  const ret = scanOutput(p.buf, cats, addr, end);
  const cut = p.buf.cut;
  if (cut === addr) return ret;
  if (!wpMatching(p)) return ret;
  uffdWpHole(p.m, p.mm, vma, addr, cut, p.design, p.step);
  return ret;
}

/**
 * pte_hole. Mainline: gaps (no VMA) report nothing; a hugetlb VMA's holes
 * come one huge page at a time. Unified: a hole in a hugetlb VMA is split
 * into huge pages and the page tables are looked at again for each: a
 * huge page whose entry slot exists (a hugetlb-level hole, or one a
 * previous huge page's write-protect allocated) is a none hugetlb entry.
 */
function scanPteHole(addr: number, end: number, _depth: number, walk: MmWalk<ScanPriv>): number {
  const p = walk.private;
  const vma = walk.vma;
  if (vma === null) return 0;
  if (!vma.isHugetlb || walk.flavour === "mainline") return scanHole(p, vma, addr, end);
  const m = p.m;
  const hs = hugeSizeOf(vma);
  const level = hugeLevelOf(m, vma);
  for (let a = addr; a < end; ) {
    const next = Math.min(a - (a % hs) + hs, end);
    const t = p.mm.pt.tableFor(a, level, false);
    const err =
      t !== null
        ? scanHugetlbEntry(p, vma, t, p.mm.pt.index(level, a), a, next)
        : scanHole(p, vma, a, next);
    if (err) return err;
    a = next;
  }
  return 0;
}

/** pagemap_scan_pmd_entry() (both flavours; unified: hugetlb PMD entries too). */
function scanPmdEntry(
  t: PageTable,
  i: number,
  start: number,
  end: number,
  walk: MmWalk<ScanPriv>,
): number {
  const p = walk.private;
  const vma = walk.vma!;
  if (vma.isHugetlb) return scanHugetlbEntry(p, vma, t, i, start, end);
  const thp = scanThpEntry(p, vma, t, i, start, end);
  if (thp !== null) return thp;
  const pte = p.mm.pt.child(t, i);
  if (pte === null) {
    walk.action = WalkAction.AGAIN;
    return 0;
  }
  pte.ptl.lock("pagemap_scan_pmd_entry");
  try {
    return scanPteRange(p, pte, start, end);
  } finally {
    pte.ptl.unlock();
  }
}

/** Unified flavour: a 1 GiB hugetlb entry (leaf or non-present PUD). */
function scanPudEntry(
  t: PageTable,
  i: number,
  start: number,
  end: number,
  walk: MmWalk<ScanPriv>,
): number {
  const vma = walk.vma!;
  if (!vma.isHugetlb) return 0;
  return scanHugetlbEntry(walk.private, vma, t, i, start, end);
}

function scanHugetlbCallback(
  t: PageTable,
  i: number,
  _hmask: number,
  start: number,
  end: number,
  walk: MmWalk<ScanPriv>,
): number {
  return scanHugetlbEntry(walk.private, walk.vma!, t, i, start, end);
}

const SCAN_OPS: MmWalkOps<ScanPriv> = {
  testWalk: scanTestWalk,
  pmdEntry: scanPmdEntry,
  pteHole: scanPteHole,
  hugetlbEntry: scanHugetlbCallback,
  walkLock: PageWalkLock.RDLOCK,
};
const SCAN_OPS_UNIFIED: MmWalkOps<ScanPriv> = {
  testWalk: scanTestWalk,
  pudEntry: scanPudEntry,
  pmdEntry: scanPmdEntry,
  pteHole: scanPteHole,
  walkLock: PageWalkLock.RDLOCK,
};

/**
 * One walk of [start, end) with the generation's walker: the mainline or
 * unified callback walker with the scan's mm_walk_ops, or pt_range_walk
 * (pagemap-scan-ptrange.ts) with @w as its walk state.
 *
 * Return: 0, -ENOSPC (stopped for lack of room) or -EPERM.
 */
function scanWalk(
  p: ScanPriv,
  start: number,
  end: number,
  gen: WalkerGeneration | WalkFlavour,
  w: PtRangeWalk,
): number {
  if (gen === "pt_range") return scanWalkPtRange(p, w, start, end);
  const ops = gen === "unified" ? SCAN_OPS_UNIFIED : SCAN_OPS;
  return walkPageRange(p.m, p.mm, start, end, ops, p, { flavour: gen });
}

/**
 * do_pagemap_scan - the PAGEMAP_SCAN ioctl on @mm's pagemap.
 * @arg: the struct pm_scan_arg passed; @opts: walker generation, hugetlb
 * write-protect design.
 *
 * Validates (pagemapScanGetArgs), then walks [start, end) under the mmap
 * read lock, flushing the bounce buffer after each walk and walking again
 * from walk_end while the walk stopped for lack of room and room is left.
 *
 * Locking: takes and drops @mm's mmap lock for read around each walk.
 *
 * Return: ret (regions copied), walk_end and the regions. Throws
 * KernelError: EINVAL/EFAULT (arguments), EPERM (PM_SCAN_CHECK_WPASYNC on
 * a VMA without async write-protect; what was done before stays done).
 */
export function pagemapScan(
  m: Machine,
  mm: MmStruct,
  arg: PmScanArg,
  opts: PmScanOptions = {},
): PmScanResult {
  const g = m.arch.geometry;
  const a = pagemapScanGetArgs(arg, g.pageSize, g.userTop - g.pageSize);
  const buf = new ScanBuffer(a.vecLen, a.maxPages, a.returnMask, g.pageSize);
  const p: ScanPriv = {
    m,
    mm,
    flags: a.flags,
    categoryInverted: a.categoryInverted,
    categoryMask: a.categoryMask,
    categoryAnyofMask: a.categoryAnyofMask,
    returnMask: a.returnMask,
    interest: a.categoryMask | a.categoryAnyofMask | a.returnMask,
    buf,
    design: opts.hugetlbWp ?? m.config.hugetlbUffdWp,
    step: opts.step ?? -1,
    curVmaCategory: 0,
  };
  const gen = opts.walker ?? "mainline";
  const w = new PtRangeWalk();
  let ret = 0;
  let nOut = 0;
  for (let walkStart = a.start; walkStart < a.end; walkStart = buf.walkEnd) {
    mm.mmapLock.readLock("do_pagemap_scan");
    try {
      ret = scanWalk(p, walkStart, a.end, gen, w);
    } finally {
      mm.mmapLock.readUnlock();
    }
    nOut += buf.flush();
    if (ret !== -ENOSPC) break;
    if (buf.vecLen === 0 || buf.found === buf.maxPages) break;
  }
  if (ret !== 0 && ret !== -ENOSPC) {
    if (ret === -EPERM) throw new KernelError("EPERM", "VMA without async write-protect");
    throw new KernelError(`errno ${-ret}`);
  }
  // walk_end is not set when no walk stopped early.
  const walkEnd = buf.walkEnd !== 0 ? buf.walkEnd : a.end;
  return { ret: nOut, walkEnd, regions: buf.copied };
}
