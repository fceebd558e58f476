/**
 * /proc/pid/smaps (proc.md §2): one walk per VMA accumulating the
 * memory-size statistics, on either callback-walker flavour or (through
 * smaps-ptrange.ts) on pt_range_walk.
 */

import { PteFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { PageTable } from "../mm/pgtable.js";
import { folioMaybeMappedShared, precisePageMapcount } from "../mm/rmap.js";
import { VM, type Vma } from "../mm/vma.js";
import { walkPageVma } from "../walk/pagewalk.js";
import { pteOffsetMapLock } from "../walk/pte-map.js";
import {
  Softleaf,
  softleafFromPmd,
  softleafFromPte,
  softleafHasPfn,
  softleafIsDevicePrivate,
  softleafIsMigration,
  softleafIsSwap,
  softleafToPfn,
} from "../walk/softleaf.js";
import { type MmWalk, type MmWalkOps, PageWalkLock, WalkAction } from "../walk/types.js";
import {
  entryIsNone,
  folioFlags,
  type Generation,
  hugePresent,
  hugeSizeOf,
  normalPage,
  PG,
  POW2,
  pmdIsHugeOrSwap,
  softleafPage,
  softleafPmdPage,
  vmaIsShmem,
} from "./common.js";
import { thpEligible, vmFlagNames } from "./maps.js";
import type { SmapsRecord } from "./observation-types.js";
import { smapsWalkPtRange } from "./smaps-ptrange.js";

/** PSS fixed point: values are bytes << PSS_SHIFT. */
export const PSS_SHIFT = 12;
export const PSS_ONE = 2 ** PSS_SHIFT;

/** struct mem_size_stats: byte counters and fixed-point PSS sums. */
export class MemSizeStats {
  resident = 0;
  sharedClean = 0;
  sharedDirty = 0;
  privateClean = 0;
  privateDirty = 0;
  referenced = 0;
  anonymous = 0;
  lazyfree = 0;
  anonymousThp = 0;
  shmemThp = 0;
  fileThp = 0;
  swap = 0;
  sharedHugetlb = 0;
  privateHugetlb = 0;
  ksm = 0;
  pss = 0;
  pssAnon = 0;
  pssFile = 0;
  pssShmem = 0;
  pssDirty = 0;
  pssLocked = 0;
  swapPss = 0;
}

/** The walk's private data (struct mem_size_stats + the VMA's locked state). */
export interface SmapsPriv {
  m: Machine;
  mss: MemSizeStats;
  locked: boolean;
}

/** smaps_page_accumulate(). */
function accumulate(
  p: SmapsPriv,
  fflags: number,
  size: number,
  pss: number,
  dirty: boolean,
  priv: boolean,
): void {
  const mss = p.mss;
  mss.pss += pss;
  if (fflags & PG.ANON) mss.pssAnon += pss;
  else if (fflags & PG.SWAPBACKED) mss.pssShmem += pss;
  else mss.pssFile += pss;
  if (p.locked) mss.pssLocked += pss;
  if (dirty || fflags & PG.DIRTY) {
    mss.pssDirty += pss;
    if (priv) mss.privateDirty += size;
    else mss.sharedDirty += size;
  } else if (priv) mss.privateClean += size;
  else mss.sharedClean += size;
}

/** smaps_account(): `nr` pages from `page` (512 for a PMD THP). */
export function account(
  p: SmapsPriv,
  page: number,
  nr: number,
  young: boolean,
  dirty: boolean,
  present: boolean,
): void {
  const m = p.m;
  const mss = p.mss;
  const ps = m.arch.geometry.pageSize;
  const ff = folioFlags(m, page);
  const size = nr * ps;
  if (ff & PG.ANON) {
    mss.anonymous += size;
    if ((ff & PG.SWAPBACKED) === 0 && !dirty && (ff & PG.DIRTY) === 0) mss.lazyfree += size;
  }
  if (ff & PG.KSM) mss.ksm += size;
  mss.resident += size;
  if (young || ff & PG.REFERENCED) mss.referenced += size;
  if (!present) {
    accumulate(p, ff, size, size * PSS_ONE, dirty, false);
    return;
  }
  if (nr === 1) {
    const mc = precisePageMapcount(m.phys, page);
    const pss = mc >= 2 ? Math.floor((ps * PSS_ONE) / mc) : ps * PSS_ONE;
    accumulate(p, ff, ps, pss, dirty, mc < 2);
    return;
  }
  // A large folio: every page's precise mapcount (folio_precise_page_mapcount)
  // read straight from the arrays, the folio state looked up once. The
  // accumulation is additive in size and PSS (integers, exact in a double),
  // so the private and the shared pages are each accumulated once.
  const phys = m.phys;
  const pf = phys.flags[page]!;
  let privSize = 0;
  let privPss = 0;
  let shSize = 0;
  let shPss = 0;
  const one = ps * PSS_ONE;
  if ((pf & (PG.ZERO | PG.PGTABLE)) !== 0 || phys.order[page]! === 0) {
    for (let k = 0; k < nr; k++) {
      const mc = precisePageMapcount(phys, page + k);
      if (mc >= 2) {
        shSize += ps;
        shPss += Math.floor(one / mc);
      } else {
        privSize += ps;
        privPss += one;
      }
    }
  } else {
    const head = phys.folioHead(page);
    const s = phys.large.get(head)!;
    const entire = s.entire;
    const mapcount = phys.mapcount;
    if ((phys.flags[head]! & PG.HUGETLB) !== 0) {
      if (entire >= 2) {
        shSize = nr * ps;
        shPss = nr * Math.floor(one / entire);
      } else {
        privSize = nr * ps;
        privPss = nr * one;
      }
    } else if (s.large === entire) {
      // No PTE mapping of any page (the per-page PTE mapcounts sum to
      // large - entire = 0): every page's mapcount is `entire`.
      if (entire >= 2) {
        shSize = nr * ps;
        shPss = nr * Math.floor(one / entire);
      } else {
        privSize = nr * ps;
        privPss = nr * one;
      }
    } else {
      for (let k = page, e = page + nr; k < e; k++) {
        const mc = mapcount[k]! + entire;
        if (mc >= 2) {
          shSize += ps;
          shPss += Math.floor(one / mc);
        } else {
          privSize += ps;
          privPss += one;
        }
      }
    }
  }
  if (privSize > 0) accumulate(p, ff, privSize, privPss, dirty, true);
  if (shSize > 0) accumulate(p, ff, shSize, shPss, dirty, false);
}

/** smaps_pte_hole_lookup(): a shmem slot holding a swap entry at `addr`. */
export function shmemHoleLookup(p: SmapsPriv, vma: Vma, addr: number, next: number): void {
  const m = p.m;
  const space = vma.space!;
  const shift = m.arch.geometry.pageShift;
  const ps = m.arch.geometry.pageSize;
  const first = vma.pageIndex(addr, shift);
  const last = vma.pageIndex(next - 1, shift);
  for (let idx = first; idx <= last && idx < space.nrPages; idx++) {
    if (space.swap[idx]! >= 0) p.mss.swap += ps;
  }
}

/** smaps_pte_entry(). */
function smapsPteEntry(p: SmapsPriv, walk: MmWalk, t: PageTable, i: number, addr: number): void {
  const m = p.m;
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  if (m.arch.isNone(lo, hi, t.level)) {
    if (walk.ops.pteHole) shmemHoleLookup(p, walk.vma!, addr, addr + m.arch.geometry.pageSize);
    return;
  }
  if (m.arch.isPresent(lo, hi, t.level)) {
    const page = normalPage(m, t, i);
    if (page < 0) return;
    const f = m.arch.leafFlags(lo, hi, t.level);
    account(p, page, 1, (f & PteFlag.YOUNG) !== 0, (f & PteFlag.DIRTY) !== 0, true);
    return;
  }
  const e = softleafFromPte(m, t, i, LEAF);
  if (softleafIsSwap(e)) {
    accountSwapSlot(p, e.offset);
    return;
  }
  if (!softleafHasPfn(e)) return; // markers
  account(p, softleafToPfn(e), 1, false, false, softleafIsDevicePrivate(e));
}

/** The swap branch of smaps_pte_entry(): one slot, its PSS by swap count. */
export function accountSwapSlot(p: SmapsPriv, slot: number): void {
  const m = p.m;
  const ps = m.arch.geometry.pageSize;
  p.mss.swap += ps;
  const c = m.swap ? m.swap.count[slot]! : 1;
  p.mss.swapPss += c >= 2 ? Math.floor((ps * PSS_ONE) / c) : ps * PSS_ONE;
}

/** Scratch softleaf of this user (never retained across calls). */
const LEAF = new Softleaf();

/** smaps_pmd_entry(): a THP PMD or a PMD migration entry (under the PMD lock). */
function smapsPmdEntry(p: SmapsPriv, t: PageTable, i: number): void {
  const m = p.m;
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  let page = -1;
  let present = false;
  if (m.arch.isPresent(lo, hi, t.level)) {
    page = normalPage(m, t, i);
    present = true;
  } else if (softleafIsMigration(softleafFromPmd(m, t, i, LEAF))) {
    page = softleafPmdPage(m, t, i);
  }
  if (page < 0) return;
  const f = present ? m.arch.leafFlags(lo, hi, t.level) : 0;
  smapsThpAccount(p, page, (f & PteFlag.YOUNG) !== 0, (f & PteFlag.DIRTY) !== 0, present);
}

/**
 * The accounting of smaps_pmd_entry(): the THP counters and the folio's
 * pages, from `page` (the PMD's first page).
 */
export function smapsThpAccount(
  p: SmapsPriv,
  page: number,
  young: boolean,
  dirty: boolean,
  present: boolean,
): void {
  const m = p.m;
  const ff = folioFlags(m, page);
  const size = POW2[m.arch.geometry.pmdShift]!;
  if (ff & PG.ANON) p.mss.anonymousThp += size;
  else if (ff & PG.SWAPBACKED) p.mss.shmemThp += size;
  else if ((ff & PG.DEVICE) === 0) p.mss.fileThp += size;
  account(p, page, m.phys.folioNr(page), young, dirty, present);
}

/**
 * smaps_hugetlb_range() / mss_hugetlb_update(): one huge entry, counted
 * once per call in Shared_ or Private_Hugetlb.
 */
function smapsHugetlbEntry(p: SmapsPriv, vma: Vma, t: PageTable, i: number): void {
  const m = p.m;
  if (entryIsNone(m, t, i)) return;
  let page = -1;
  const present = hugePresent(m, t, i);
  if (present) page = m.arch.leafPfn(t.words[i * 2]!, t.words[i * 2 + 1]!, t.level);
  else page = softleafPage(m, t, i);
  if (page < 0) return;
  smapsHugetlbAccount(p, vma, m.phys.folioHead(page), present);
}

/** mss_hugetlb_update(): one huge page of folio `head`, present or not. */
export function smapsHugetlbAccount(p: SmapsPriv, vma: Vma, head: number, present: boolean): void {
  const size = hugeSizeOf(vma);
  // hugetlb_pmd_shared(): the model shares no PMD tables.
  if (!present || folioMaybeMappedShared(p.m.phys, head)) p.mss.sharedHugetlb += size;
  else p.mss.privateHugetlb += size;
}

/** smaps_pte_range(): the pmd_entry of both flavours. */
function smapsPteRange(
  t: PageTable,
  i: number,
  addr: number,
  next: number,
  walk: MmWalk<SmapsPriv>,
): number {
  const p = walk.private;
  const m = p.m;
  const vma = walk.vma!;
  if (vma.isHugetlb) {
    // Unified flavour only: a 2 MiB hugetlb leaf (pmd_huge_lock).
    t.ptl.lock("smaps_pte_range");
    try {
      smapsHugetlbEntry(p, vma, t, i);
    } finally {
      t.ptl.unlock();
    }
    walk.action = WalkAction.CONTINUE;
    return 0;
  }
  if (pmdIsHugeOrSwap(m, t, i)) {
    t.ptl.lock("smaps_pte_range");
    try {
      smapsPmdEntry(p, t, i);
    } finally {
      t.ptl.unlock();
    }
    return 0;
  }
  const pte = pteOffsetMapLock(walk, t, i, "smaps_pte_range");
  if (pte === null) return 0;
  const ps = m.arch.geometry.pageSize;
  try {
    let k = walk.mm.pt.index(pte.level, addr);
    // smapsPteEntry() for each PTE, with the common cases (none without a
    // pte_hole; present mapping a small folio) decoded here from the table
    // words and the frame arrays; anything else goes through smapsPteEntry().
    const a = m.arch;
    const words = pte.words;
    const lvl = pte.level;
    const phys = m.phys;
    const pflags = phys.flags;
    const porder = phys.order;
    const pmapcount = phys.mapcount;
    const zeroPfn = phys.zeroPfn;
    const hugeZeroPfn = phys.hugeZeroPfn;
    const noHole = walk.ops.pteHole === undefined;
    const mss = p.mss;
    const one = ps * PSS_ONE;
    for (; addr < next; addr += ps, k++) {
      const lo = words[k * 2]!;
      const hi = words[k * 2 + 1]!;
      if (noHole && a.isNone(lo, hi, lvl)) continue;
      if (!a.isPresent(lo, hi, lvl)) {
        smapsPteEntry(p, walk as MmWalk, pte, k, addr);
        continue;
      }
      const f = a.leafFlags(lo, hi, lvl);
      const pfn = a.leafPfn(lo, hi, lvl);
      if ((f & PteFlag.SPECIAL) !== 0 || pfn === zeroPfn || pfn === hugeZeroPfn) continue;
      if (porder[pfn]! !== 0) {
        smapsPteEntry(p, walk as MmWalk, pte, k, addr);
        continue;
      }
      // account(p, pfn, 1, young, dirty, true) of a small folio.
      const dirty = (f & PteFlag.DIRTY) !== 0;
      const ff = pflags[pfn]!;
      if (ff & PG.ANON) {
        mss.anonymous += ps;
        if ((ff & PG.SWAPBACKED) === 0 && !dirty && (ff & PG.DIRTY) === 0) mss.lazyfree += ps;
      }
      if (ff & PG.KSM) mss.ksm += ps;
      mss.resident += ps;
      if ((f & PteFlag.YOUNG) !== 0 || ff & PG.REFERENCED) mss.referenced += ps;
      const mc = (ff & (PG.ZERO | PG.PGTABLE)) !== 0 ? 0 : pmapcount[pfn]!;
      accumulate(p, ff, ps, mc >= 2 ? Math.floor(one / mc) : one, dirty, mc < 2);
    }
  } finally {
    pte.ptl.unlock();
  }
  return 0;
}

/** The unified flavour's pud_entry: a 1 GiB hugetlb leaf. */
function smapsPudRange(
  t: PageTable,
  i: number,
  _addr: number,
  _next: number,
  walk: MmWalk<SmapsPriv>,
): number {
  const vma = walk.vma!;
  if (vma.isHugetlb) {
    t.ptl.lock("smaps_pud_range");
    try {
      smapsHugetlbEntry(walk.private, vma, t, i);
    } finally {
      t.ptl.unlock();
    }
  }
  return 0;
}

function smapsHugetlbRange(
  t: PageTable,
  i: number,
  _hmask: number,
  _addr: number,
  _next: number,
  walk: MmWalk<SmapsPriv>,
): number {
  smapsHugetlbEntry(walk.private, walk.vma!, t, i);
  return 0;
}

/** smaps_pte_hole(): swap entries of the hole's shmem index range. */
function smapsPteHole(addr: number, next: number, _depth: number, walk: MmWalk<SmapsPriv>): number {
  shmemHoleLookup(walk.private, walk.vma!, addr, next);
  return 0;
}

const SMAPS_OPS: MmWalkOps<SmapsPriv> = {
  pmdEntry: smapsPteRange,
  hugetlbEntry: smapsHugetlbRange,
  walkLock: PageWalkLock.RDLOCK,
};
const SMAPS_SHMEM_OPS: MmWalkOps<SmapsPriv> = { ...SMAPS_OPS, pteHole: smapsPteHole };
const SMAPS_OPS_UNIFIED: MmWalkOps<SmapsPriv> = {
  pudEntry: smapsPudRange,
  pmdEntry: smapsPteRange,
  walkLock: PageWalkLock.RDLOCK,
};
const SMAPS_SHMEM_OPS_UNIFIED: MmWalkOps<SmapsPriv> = {
  ...SMAPS_OPS_UNIFIED,
  pteHole: smapsPteHole,
};

/** shmem_swap_usage() / shmem_partial_swap_usage() of a shmem VMA, in bytes. */
function shmemSwapUsage(m: Machine, vma: Vma): number {
  const space = vma.space!;
  const ps = m.arch.geometry.pageSize;
  const first = vma.pgoff;
  const npages = (vma.end - vma.start) / ps;
  let lo = first;
  let hi = first + npages;
  if (first === 0 && npages >= space.nrPages) {
    lo = 0;
    hi = space.nrPages;
  }
  let n = 0;
  for (let idx = lo; idx < hi && idx < space.nrPages; idx++) if (space.swap[idx]! >= 0) n++;
  return n * ps;
}

/**
 * smap_gather_stats - walk one VMA into @mss (proc.md §2.2, §2.5).
 * @gen selects the walker: the mainline callback flavour reaches hugetlb
 * through `hugetlbEntry`, the unified one through `pmdEntry`/`pudEntry`,
 * "pt_range" runs on the pt_range_walk iterator (smaps-ptrange.ts).
 *
 * Locking: the caller holds @mm's mmap lock for read.
 */
export function smapGatherStats(
  m: Machine,
  mm: MmStruct,
  vma: Vma,
  gen: Generation,
  mss: MemSizeStats,
): void {
  const priv: SmapsPriv = { m, mss, locked: vma.has(VM.LOCKED) };
  let shmemPartial = false;
  if (vmaIsShmem(vma)) {
    const swapped = shmemSwapUsage(m, vma);
    if (swapped === 0 || vma.has(VM.SHARED) || !vma.has(VM.WRITE)) mss.swap += swapped;
    else shmemPartial = true;
  }
  if (gen === "pt_range") {
    smapsWalkPtRange(priv, mm, vma, shmemPartial);
    return;
  }
  const flavour = gen;
  const ops =
    flavour === "unified"
      ? shmemPartial
        ? SMAPS_SHMEM_OPS_UNIFIED
        : SMAPS_OPS_UNIFIED
      : shmemPartial
        ? SMAPS_SHMEM_OPS
        : SMAPS_OPS;
  walkPageVma(m, mm, vma, ops, priv, { flavour });
}

/** Kernel page size of a VMA (huge page size for hugetlb). */
export function kernelPageSize(m: Machine, vma: Vma): number {
  return vma.isHugetlb ? hugeSizeOf(vma) : m.arch.geometry.pageSize;
}

/**
 * The kB lines of an smaps record after the header, in print order
 * (`Rss` … `Locked`): [label, value in kB]. With `rollup`, the three
 * Pss_Anon/File/Shmem lines follow Pss_Dirty (smaps_rollup).
 */
export function mssLines(mss: MemSizeStats, rollup: boolean): Array<[string, number]> {
  const kb = (b: number) => Math.floor(b / 1024);
  const pkb = (fixed: number) => Math.floor(Math.floor(fixed / PSS_ONE) / 1024);
  const out: Array<[string, number]> = [
    ["Rss", kb(mss.resident)],
    ["Pss", pkb(mss.pss)],
    ["Pss_Dirty", pkb(mss.pssDirty)],
  ];
  if (rollup) {
    out.push(["Pss_Anon", pkb(mss.pssAnon)]);
    out.push(["Pss_File", pkb(mss.pssFile)]);
    out.push(["Pss_Shmem", pkb(mss.pssShmem)]);
  }
  out.push(
    ["Shared_Clean", kb(mss.sharedClean)],
    ["Shared_Dirty", kb(mss.sharedDirty)],
    ["Private_Clean", kb(mss.privateClean)],
    ["Private_Dirty", kb(mss.privateDirty)],
    ["Referenced", kb(mss.referenced)],
    ["Anonymous", kb(mss.anonymous)],
    ["KSM", kb(mss.ksm)],
    ["LazyFree", kb(mss.lazyfree)],
    ["AnonHugePages", kb(mss.anonymousThp)],
    ["ShmemPmdMapped", kb(mss.shmemThp)],
    ["FilePmdMapped", kb(mss.fileThp)],
    ["Shared_Hugetlb", kb(mss.sharedHugetlb)],
    ["Private_Hugetlb", kb(mss.privateHugetlb)],
    ["Swap", kb(mss.swap)],
    ["SwapPss", pkb(mss.swapPss)],
    ["Locked", pkb(mss.pssLocked)],
  );
  return out;
}

/**
 * Every `Name: value` line of one VMA's smaps record in print order:
 * Size, KernelPageSize, MMUPageSize, the {@link mssLines}, THPeligible.
 */
export function smapsVmaLines(m: Machine, vma: Vma, mss: MemSizeStats): Array<[string, number]> {
  const kps = kernelPageSize(m, vma) / 1024;
  return [
    ["Size", (vma.end - vma.start) / 1024],
    ["KernelPageSize", kps],
    ["MMUPageSize", kps],
    ...mssLines(mss, false),
    ["THPeligible", thpEligible(m, vma)],
  ];
}

/**
 * One VMA's smaps as the observation record's `fields` and `VmFlags`.
 *
 * Locking: the caller holds @mm's mmap lock for read.
 */
export function smapsVma(
  m: Machine,
  mm: MmStruct,
  vma: Vma,
  gen: Generation,
): { mss: MemSizeStats; fields: Record<string, number>; vmFlags: string[] } {
  const mss = new MemSizeStats();
  smapGatherStats(m, mm, vma, gen, mss);
  const fields: Record<string, number> = {};
  for (const [k, v] of smapsVmaLines(m, vma, mss)) fields[k] = v;
  return { mss, fields, vmFlags: vmFlagNames(m, vma) };
}

export type { SmapsRecord };
