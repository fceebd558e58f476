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
import { Level, PteFlag, SwpFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { PageTable } from "../mm/pgtable.js";
import { VM, type Vma } from "../mm/vma.js";
import * as E from "../ops/entries.js";
import { KernelError } from "../scenario/errors.js";
import type { WalkerGeneration } from "../scenario/run.js";
import { iMmapLock } from "../walk/locks.js";
import { walkPageRange } from "../walk/pagewalk.js";
import { PtRangeWalk } from "../walk/pt-range.js";
import {
  Softleaf,
  softleafFromPmd,
  softleafFromPte,
  softleafHasPfn,
  softleafIsGuardMarker,
  softleafIsUffdWpMarker,
  softleafToPfn,
} from "../walk/softleaf.js";
import {
  type MmWalk,
  type MmWalkOps,
  PageWalkLock,
  WalkAction,
  type WalkFlavour,
} from "../walk/types.js";
import {
  folioFlags,
  hugeLevelOf,
  hugeSizeOf,
  isHugeZero,
  normalPage,
  PG,
  pmdIsHugeOrSwap,
} from "./common.js";
import { scanWalkPtRange } from "./pagemap-scan-ptrange.js";
import {
  type HugetlbWpDesign,
  hugetlbNoneIsWp,
  makeUffdWpHugePte,
  makeUffdWpPmd,
  makeUffdWpPte,
  pteIsUffdWp,
  splitThpForScan,
  swpUffdWpAny,
  uffdWpHole,
} from "./pagemap-scan-wp.js";

export type { HugetlbWpDesign } from "./pagemap-scan-wp.js";

/** PAGE_IS_* category bits (uapi linux/fs.h). */
export const PAGE_IS = {
  WPALLOWED: 1 << 0,
  WRITTEN: 1 << 1,
  FILE: 1 << 2,
  PRESENT: 1 << 3,
  SWAPPED: 1 << 4,
  PFNZERO: 1 << 5,
  HUGE: 1 << 6,
  SOFT_DIRTY: 1 << 7,
  GUARD: 1 << 8,
} as const;

/** Category names in bit order (observation.md, `scans`). */
export const PAGE_IS_NAMES: readonly string[] = [
  "wpallowed",
  "written",
  "file",
  "present",
  "swapped",
  "pfnzero",
  "huge",
  "soft_dirty",
  "guard",
];

/** PM_SCAN_CATEGORIES: every valid category bit. */
export const PM_SCAN_CATEGORIES = 0x1ff;
export const PM_SCAN_WP_MATCHING = 1;
export const PM_SCAN_CHECK_WPASYNC = 2;
/** PM_SCAN_FLAGS: every valid flag bit. */
export const PM_SCAN_FLAGS = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
/** sizeof(struct pm_scan_arg). */
export const PM_SCAN_ARG_SIZE = 96;
/** sizeof(struct page_region). */
export const PAGE_REGION_SIZE = 24;
/** PAGEMAP_WALK_SIZE >> PAGE_SHIFT: the most slots the bounce buffer holds. */
export const PM_SCAN_BOUNCE_SLOTS = 512;

/** Errno values used inside a walk (returned negated). */
export const EPERM = 1;
export const ENOSPC = 28;

/**
 * struct pm_scan_arg as the caller passes it (walk_end is output only).
 * Addresses may be bigint to express any u64 (a refused argument); valid
 * ones are below TASK_SIZE and fit a number.
 */
export interface PmScanArg {
  /** Struct size; must be {@link PM_SCAN_ARG_SIZE}. */
  size: number;
  flags: number;
  start: number | bigint;
  end: number | bigint;
  /** User address of the page_region vector; 0 = NULL. */
  vec: number | bigint;
  vecLen: number;
  /** 0 = no limit. */
  maxPages: number;
  categoryInverted: number;
  categoryMask: number;
  categoryAnyofMask: number;
  returnMask: number;
}

/** struct page_region. */
export interface PageRegion {
  start: number;
  end: number;
  categories: number;
}

/** What the ioctl returns: its value, the walk_end written back, the regions copied out. */
export interface PmScanResult {
  ret: number;
  walkEnd: number;
  /** The `ret` regions copied to the user vector, in order. */
  regions: PageRegion[];
}

export interface PmScanOptions {
  /**
   * Walker generation (a callback flavour is accepted as the generation of
   * that name): the mainline or unified callback walker, or pt_range_walk.
   */
  walker?: WalkerGeneration | WalkFlavour;
  /** How none hugetlb entries are write-protected; default "markers" (6.18). */
  hugetlbWp?: HugetlbWpDesign;
  /** Step index passed to the ops a write-protect calls (uffd event records). */
  step?: number;
}

/** The arguments after pagemap_scan_get_args(): validated and fixed up. */
export interface PmScanArgs {
  flags: number;
  start: number;
  /** Rounded up to a page. */
  end: number;
  /** Whether a vector was passed (vec != NULL). */
  hasVec: boolean;
  vecLen: number;
  /** Infinity for "no limit" (ULONG_MAX). */
  maxPages: number;
  categoryInverted: number;
  categoryMask: number;
  categoryAnyofMask: number;
  returnMask: number;
}

const U64 = (x: number | bigint): bigint => BigInt.asUintN(64, BigInt(x));

/** Whether an integer argument lies in [0, max] (u64 semantics: negatives wrap high). */
function inRange(x: number, max: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= max;
}

/**
 * pagemap_scan_get_args(): validate in the kernel's order and fix up.
 * @userMax: the highest valid user address (x86_64: TASK_SIZE_MAX).
 *
 * Return: the fixed-up arguments. Throws KernelError EINVAL or EFAULT.
 */
export function pagemapScanGetArgs(arg: PmScanArg, pageSize: number, userMax: number): PmScanArgs {
  if (arg.size !== PM_SCAN_ARG_SIZE) throw new KernelError("EINVAL", "struct size");
  if (!inRange(arg.flags, PM_SCAN_FLAGS)) throw new KernelError("EINVAL", "unknown flags");
  for (const mask of [
    arg.categoryInverted,
    arg.categoryMask,
    arg.categoryAnyofMask,
    arg.returnMask,
  ]) {
    if (!inRange(mask, PM_SCAN_CATEGORIES))
      throw new KernelError("EINVAL", "unknown category bits");
  }
  const start = U64(arg.start);
  const end = U64(arg.end);
  const vec = U64(arg.vec);
  const ps = BigInt(pageSize);
  const max = BigInt(userMax);
  if (start % ps !== 0n) throw new KernelError("EINVAL", "start not page aligned");
  // access_ok(start, end - start): the u64 sum must not wrap and must stay <= USER_PTR_MAX.
  const len = BigInt.asUintN(64, end - start);
  const sum = BigInt.asUintN(64, start + len);
  if (sum > max || sum < start) throw new KernelError("EFAULT", "range is not user memory");
  if (vec === 0n && arg.vecLen !== 0) throw new KernelError("EINVAL", "NULL vector with a length");
  if (vec !== 0n) {
    // size_mul() saturates; access_ok(vec, vec_len * 24).
    const vsize = BigInt(arg.vecLen) * BigInt(PAGE_REGION_SIZE);
    const vsum = vec + vsize;
    if (vsize >= 2n ** 64n || vsum >= 2n ** 64n || vsum > max)
      throw new KernelError("EFAULT", "vector is not user memory");
  }
  const endUp = ((end + ps - 1n) / ps) * ps;
  return {
    flags: arg.flags,
    start: Number(start),
    end: Number(endUp),
    hasVec: vec !== 0n,
    vecLen: arg.vecLen,
    maxPages: arg.maxPages === 0 ? Number.POSITIVE_INFINITY : arg.maxPages,
    categoryInverted: arg.categoryInverted,
    categoryMask: arg.categoryMask,
    categoryAnyofMask: arg.categoryAnyofMask,
    returnMask: arg.returnMask,
  };
}

// ---------------------------------------------------------------------------
// the bounce buffer and output (walker independent)

/**
 * The kernel bounce buffer of min(512, vec_len) page_region slots, the
 * found-page count and walk_end (pagemap_scan_private's output half). With
 * vec_len 0 there is no buffer (`present` false): nothing is recorded, but
 * walk_end can still be set (the hugetlb back-out).
 */
export class ScanBuffer {
  /** vec_buf != NULL. */
  readonly present: boolean;
  readonly starts: number[];
  readonly ends: number[];
  readonly cats: number[];
  /** vec_buf_len: usable slots (shrinks as the user vector fills). */
  len: number;
  /** vec_buf_index: the current (last) slot. */
  index = 0;
  /** found_pages. */
  found = 0;
  /** The end of the run the last scanOutput() recorded (its `end`, possibly cut). */
  cut = 0;
  /** p->arg.walk_end; 0 = never set. */
  walkEnd = 0;
  /** Remaining user vector length (p->arg.vec_len). */
  vecLen: number;
  /** Everything copied out to the user vector so far. */
  readonly copied: PageRegion[] = [];

  constructor(
    vecLen: number,
    readonly maxPages: number,
    readonly returnMask: number,
    readonly pageSize: number,
  ) {
    this.vecLen = vecLen;
    this.present = vecLen !== 0;
    this.len = Math.min(PM_SCAN_BOUNCE_SLOTS, vecLen);
    this.starts = new Array<number>(this.len).fill(0);
    this.ends = new Array<number>(this.len).fill(0);
    // kmalloc'd: the first slot's categories are garbage; -1 never equals a real value.
    this.cats = new Array<number>(this.len).fill(-1);
  }

  /** pagemap_scan_push_range(). */
  push(categories: number, addr: number, end: number): boolean {
    let k = this.index;
    if (addr === this.ends[k] && categories === this.cats[k]) {
      this.ends[k] = end;
      return true;
    }
    if (this.ends[k] !== 0) {
      if (k >= this.len - 1) return false;
      k = ++this.index;
    }
    this.starts[k] = addr;
    this.ends[k] = end;
    this.cats[k] = categories;
    return true;
  }

  /** pagemap_scan_backout_range(): undo the output of the run [addr, end). */
  backout(addr: number, end: number): void {
    if (!this.present) return;
    const k = this.index;
    if (this.starts[k] !== addr) this.ends[k] = addr;
    else this.starts[k] = this.ends[k] = 0;
    this.found -= (end - addr) / this.pageSize;
  }

  /**
   * pagemap_scan_flush_buffer(): copy the filled slots (the current one
   * only if non-empty) to the user vector and reset.
   *
   * Return: the number of regions copied.
   */
  flush(): number {
    if (!this.present) return 0;
    let n = this.index;
    if (this.ends[n] !== this.starts[n]) n++;
    if (n === 0) return 0;
    for (let k = 0; k < n; k++) {
      this.copied.push({ start: this.starts[k]!, end: this.ends[k]!, categories: this.cats[k]! });
    }
    this.vecLen -= n;
    this.index = 0;
    this.len = Math.min(this.len, this.vecLen);
    this.starts[0] = this.ends[0] = 0;
    return n;
  }
}

/**
 * pagemap_scan_output(): report the matching run [addr, end) with
 * `categories` (masked by return_mask): cut by max_pages, pushed into the
 * buffer. Without a buffer nothing is recorded.
 *
 * Return: [ret, end]: ret 0 or -ENOSPC (walk_end then set), end the run's
 * possibly cut end (addr when nothing was taken).
 */
export function scanOutput(buf: ScanBuffer, categories: number, addr: number, end: number): number {
  if (!buf.present) {
    buf.cut = end;
    return 0;
  }
  const cats = categories & buf.returnMask;
  const ps = buf.pageSize;
  let n = (end - addr) / ps;
  let ret = 0;
  const total = buf.found + n;
  if (total > buf.maxPages) {
    const tooMuch = total - buf.maxPages;
    end -= tooMuch * ps;
    n -= tooMuch;
    ret = -ENOSPC;
  }
  if (!buf.push(cats, addr, end)) {
    end = addr;
    n = 0;
    ret = -ENOSPC;
  }
  buf.found += n;
  if (ret) buf.walkEnd = end;
  buf.cut = end;
  return ret;
}

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
    if (cut !== start + 2 ** m.arch.geometry.pmdShift) {
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
  for (let addr = start; addr !== end; addr += ps, i++) {
    const cats = p.curVmaCategory | pteCategory(m, pte, i, p.interest);
    if (!isInterestingPage(cats, p)) continue;
    ret = scanOutput(p.buf, cats, addr, addr + ps);
    if (p.buf.cut === addr) break;
    if (!wpMatching(p)) continue;
    if ((cats & PAGE_IS.WRITTEN) === 0) continue;
    makeUffdWpPte(m, pte, i);
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
  const cats =
    p.curVmaCategory | hugetlbCategory(m, t, i, hugetlbNoneIsWp(p.mm, hugeStart, p.design));
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

/** The names of a categories value in bit order; unknown bits as numbers. */
export function categoryNames(categories: number): Array<string | number> {
  const out: Array<string | number> = [];
  for (let b = 0; b < 31; b++) {
    if ((categories & (1 << b)) === 0) continue;
    out.push(b < PAGE_IS_NAMES.length ? PAGE_IS_NAMES[b]! : 1 << b);
  }
  return out;
}
