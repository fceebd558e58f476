/**
 * /proc/pid/pagemap (proc.md §4): one 64-bit entry per virtual page, kept
 * as a small flag mask plus the 55-bit frame field in typed arrays (no
 * BigInt). {@link pagemapHalves} gives the real 64-bit value as two halves.
 * Runs on either callback-walker flavour or (pagemap-ptrange.ts) on
 * pt_range_walk.
 */

import { Level, PteFlag, SwpFlag } from "../arch/types.js";
import { hugetlbWpRecorded } from "../mm/hugetlb-uffd-wp.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { PageTable } from "../mm/pgtable.js";
import { folioMaybeMappedShared, precisePageMapcount } from "../mm/rmap.js";
import { VM, type Vma } from "../mm/vma.js";
import { walkPageRange } from "../walk/pagewalk.js";
import { PtRangeWalk } from "../walk/pt-range.js";
import { pteOffsetMapLock } from "../walk/pte-map.js";
import {
  Softleaf,
  softleafFromPmd,
  softleafFromPte,
  softleafHasPfn,
  softleafIsGuardMarker,
  softleafIsMarker,
  softleafIsUffdWpMarker,
  softleafToPfn,
} from "../walk/softleaf.js";
import { type MmWalk, type MmWalkOps, PageWalkLock } from "../walk/types.js";
import { folioFlags, type Generation, hugePresent, PG, POW2, pmdIsHugeOrSwap } from "./common.js";
import { pagemapChunkPtRange } from "./pagemap-ptrange.js";

/** The pagemap flag bits (55..63) as a compact mask. */
export const PM = {
  SOFT_DIRTY: 1 << 0,
  MMAP_EXCLUSIVE: 1 << 1,
  UFFD_WP: 1 << 2,
  GUARD_REGION: 1 << 3,
  FILE: 1 << 4,
  SWAP: 1 << 5,
  PRESENT: 1 << 6,
} as const;

/** Bit of the high half (bits 32..63) for each PM flag. */
const PM_HI_BITS: ReadonlyArray<[number, number]> = [
  [PM.SOFT_DIRTY, 55 - 32],
  [PM.MMAP_EXCLUSIVE, 56 - 32],
  [PM.UFFD_WP, 57 - 32],
  [PM.GUARD_REGION, 58 - 32],
  [PM.FILE, 61 - 32],
  [PM.SWAP, 62 - 32],
  [PM.PRESENT, 63 - 32],
];

/** MAX_SWAPFILES_SHIFT: the swap type's width in a swap frame. */
const SWP_TYPE_SHIFT = 5;
export const TYPE_SPAN = 2 ** SWP_TYPE_SHIFT;

/** The pagemap of a range: entry k describes page `start + k * PAGE_SIZE`. */
export interface PagemapResult {
  start: number;
  flags: Uint8Array;
  /** PFN, or swap type | offset << 5 (0 when hidden or none). */
  frame: Float64Array;
}

/** The 64-bit pagemap value of entry `k` as [lo, hi] halves. */
export function pagemapHalves(r: PagemapResult, k: number): [number, number] {
  const fr = r.frame[k]!;
  const lo = (fr % 2 ** 32) >>> 0;
  let hi = Math.floor(fr / 2 ** 32);
  const f = r.flags[k]!;
  for (const [bit, pos] of PM_HI_BITS) if (f & bit) hi |= 1 << pos;
  return [lo, hi >>> 0];
}

/** The walk's private data: the result being filled and the next entry's position. */
export interface PagemapPriv {
  m: Machine;
  mm: MmStruct;
  r: PagemapResult;
  pos: number;
  showPfn: boolean;
}

/** Scratch softleaf of this user (never retained across calls). */
const LEAF = new Softleaf();

/**
 * The flag bits of a non-present PTE's pagemap entry that come from the
 * entry itself: swp soft-dirty and uffd-wp, and for a marker its uffd-wp
 * and guard bits (PM_SWAP and the frame are the caller's).
 */
export function swpEntryFlags(e: Softleaf): number {
  let flags = 0;
  if (e.flags & SwpFlag.SOFT_DIRTY) flags |= PM.SOFT_DIRTY;
  if (e.flags & SwpFlag.UFFD_WP) flags |= PM.UFFD_WP;
  if (softleafIsMarker(e)) {
    if (softleafIsUffdWpMarker(e)) flags |= PM.UFFD_WP;
    if (softleafIsGuardMarker(e)) flags |= PM.GUARD_REGION;
  }
  return flags;
}

export function add(p: PagemapPriv, frame: number, flags: number): void {
  p.r.flags[p.pos] = flags;
  p.r.frame[p.pos] = p.showPfn ? frame : 0;
  p.pos++;
}

/** pte_to_pagemap_entry() for one PTE. */
function pteEntry(p: PagemapPriv, softDirtyVma: boolean, t: PageTable, i: number): void {
  const m = p.m;
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  let flags = 0;
  let frame = 0;
  let page = -1;
  if (m.arch.isNone(lo, hi, t.level)) {
    // nothing
  } else if (m.arch.isPresent(lo, hi, t.level)) {
    frame = m.arch.leafPfn(lo, hi, t.level);
    flags |= PM.PRESENT;
    const f = m.arch.leafFlags(lo, hi, t.level);
    if ((f & PteFlag.SPECIAL) === 0 && frame !== m.phys.zeroPfn) page = frame;
    if (f & PteFlag.SOFT_DIRTY) flags |= PM.SOFT_DIRTY;
    if (f & PteFlag.UFFD_WP) flags |= PM.UFFD_WP;
  } else {
    const e = softleafFromPte(m, t, i, LEAF);
    flags |= swpEntryFlags(e);
    let off = e.offset;
    if (softleafHasPfn(e)) {
      off = softleafToPfn(e);
      page = off;
    }
    frame = e.swpType + off * TYPE_SPAN;
    flags |= PM.SWAP;
  }
  if (page >= 0) {
    if ((folioFlags(m, page) & PG.ANON) === 0) flags |= PM.FILE;
    if (flags & PM.PRESENT && precisePageMapcount(m.phys, page) === 1) flags |= PM.MMAP_EXCLUSIVE;
  }
  if (softDirtyVma) flags |= PM.SOFT_DIRTY;
  add(p, frame, flags);
}

/** The THP branch of pagemap_pmd_range(): a PMD leaf or PMD migration entry. */
function thpEntries(
  p: PagemapPriv,
  softDirtyVma: boolean,
  t: PageTable,
  i: number,
  addr: number,
  next: number,
): void {
  const m = p.m;
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  const ps = m.arch.geometry.pageSize;
  const pmdSize = POW2[m.arch.geometry.pmdShift]!;
  const sub = ((addr % pmdSize) - (addr % ps)) / ps;
  let flags = softDirtyVma ? PM.SOFT_DIRTY : 0;
  let frame = 0;
  let page = -1;
  let step = 0;
  if (m.arch.isPresent(lo, hi, t.level)) {
    page = m.arch.leafPfn(lo, hi, t.level);
    flags |= PM.PRESENT;
    const f = m.arch.leafFlags(lo, hi, t.level);
    if (f & PteFlag.SOFT_DIRTY) flags |= PM.SOFT_DIRTY;
    if (f & PteFlag.UFFD_WP) flags |= PM.UFFD_WP;
    frame = page + sub;
    step = 1;
  } else {
    const e = softleafFromPmd(m, t, i, LEAF);
    let off = e.offset;
    if (softleafHasPfn(e)) {
      off = softleafToPfn(e);
      page = off;
    }
    frame = e.swpType + (off + sub) * TYPE_SPAN;
    step = TYPE_SPAN;
    flags |= PM.SWAP;
    if (e.flags & SwpFlag.SOFT_DIRTY) flags |= PM.SOFT_DIRTY;
    if (e.flags & SwpFlag.UFFD_WP) flags |= PM.UFFD_WP;
  }
  if (page >= 0) {
    if ((folioFlags(m, page) & PG.ANON) === 0) flags |= PM.FILE;
    // __folio_page_mapped_exclusively() of pmd_page(): the head, for all entries.
    if (flags & PM.PRESENT && precisePageMapcount(m.phys, page) === 1) flags |= PM.MMAP_EXCLUSIVE;
  }
  fillRun(p, (next - addr) / ps, frame, step, flags);
}

/**
 * `n` consecutive entries with the same flags and frames `frame`,
 * `frame + step`, ... (a THP or hugetlb run): add() n times, as two flat loops.
 */
function fillRun(p: PagemapPriv, n: number, frame: number, step: number, flags: number): void {
  const pos = p.pos;
  const end = pos + n;
  const r = p.r;
  r.flags.fill(flags, pos, end);
  const fr = r.frame;
  if (!p.showPfn || (frame === 0 && step === 0)) fr.fill(0, pos, end);
  else for (let k = pos; k < end; k++, frame += step) fr[k] = frame;
  p.pos = end;
}

/** pagemap_hugetlb_range() (and the unified flavour's hugetlb leaves). */
function hugetlbEntries(
  p: PagemapPriv,
  softDirtyVma: boolean,
  hugeSize: number,
  t: PageTable,
  i: number,
  addr: number,
  next: number,
): void {
  const m = p.m;
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  const ps = m.arch.geometry.pageSize;
  let flags = softDirtyVma ? PM.SOFT_DIRTY : 0;
  let frame = 0;
  if (!m.arch.isNone(lo, hi, t.level)) {
    if (hugePresent(m, t, i)) {
      const pfn = m.arch.leafPfn(lo, hi, t.level);
      const head = m.phys.folioHead(pfn);
      if ((m.phys.flags[head]! & PG.ANON) === 0) flags |= PM.FILE;
      // hugetlb_pmd_shared(): the model shares no PMD tables.
      if (!folioMaybeMappedShared(m.phys, head)) flags |= PM.MMAP_EXCLUSIVE;
      if (m.arch.leafFlags(lo, hi, t.level) & PteFlag.UFFD_WP) flags |= PM.UFFD_WP;
      flags |= PM.PRESENT;
      frame = pfn + ((addr % hugeSize) - (addr % ps)) / ps;
    } else {
      // pte_swp_uffd_wp_any(): the swp uffd-wp bit or a uffd-wp marker.
      const e = softleafFromPte(m, t, i, LEAF);
      if ((e.flags & SwpFlag.UFFD_WP) !== 0 || softleafIsUffdWpMarker(e)) flags |= PM.UFFD_WP;
    }
  } else if (hugetlbWpRecorded(p.mm, addr - (addr % hugeSize))) {
    // Marker-free hugetlb uffd-wp (PAGEMAP_SCAN option): reads as a uffd-wp marker.
    flags |= PM.UFFD_WP;
  }
  fillRun(p, (next - addr) / ps, frame, flags & PM.PRESENT ? 1 : 0, flags);
}

function softDirtyOf(walk: MmWalk): boolean {
  return walk.vma?.has(VM.SOFTDIRTY) === true;
}

/** pagemap_pmd_range(): pmd_entry of both flavours. */
function pagemapPmdRange(
  t: PageTable,
  i: number,
  addr: number,
  next: number,
  walk: MmWalk<PagemapPriv>,
): number {
  const p = walk.private;
  const m = p.m;
  const vma = walk.vma!;
  const sd = softDirtyOf(walk as MmWalk);
  if (vma.backing.kind === "hugetlb") {
    // Unified flavour: a 2 MiB hugetlb entry, with the hugetlb rows.
    hugetlbEntries(p, sd, vma.backing.hugeSize, t, i, addr, next);
    return 0;
  }
  if (pmdIsHugeOrSwap(m, t, i)) {
    t.ptl.lock("pagemap_pmd_range");
    try {
      thpEntries(p, sd, t, i, addr, next);
    } finally {
      t.ptl.unlock();
    }
    return 0;
  }
  const pte = pteOffsetMapLock(walk, t, i, "pagemap_pmd_range");
  if (pte === null) return 0;
  const ps = m.arch.geometry.pageSize;
  try {
    let k = walk.mm.pt.index(Level.PTE, addr);
    // pteEntry() for each PTE, with the common cases (none; present
    // mapping a small folio) read straight from the table and the frame
    // arrays; anything else goes through pteEntry().
    const a = m.arch;
    const words = pte.words;
    const phys = m.phys;
    const pflags = phys.flags;
    const porder = phys.order;
    const pmapcount = phys.mapcount;
    const zeroPfn = phys.zeroPfn;
    const rflags = p.r.flags;
    const rframe = p.r.frame;
    const showPfn = p.showPfn;
    const sdFlag = sd ? PM.SOFT_DIRTY : 0;
    for (; addr < next; addr += ps, k++) {
      const lo = words[k * 2]!;
      const hi = words[k * 2 + 1]!;
      if (a.isNone(lo, hi, Level.PTE)) {
        rflags[p.pos] = sdFlag;
        rframe[p.pos] = 0;
        p.pos++;
        continue;
      }
      if (!a.isPresent(lo, hi, Level.PTE)) {
        pteEntry(p, sd, pte, k);
        continue;
      }
      const frame = a.leafPfn(lo, hi, Level.PTE);
      const f = a.leafFlags(lo, hi, Level.PTE);
      let flags = PM.PRESENT | sdFlag;
      if (f & PteFlag.SOFT_DIRTY) flags |= PM.SOFT_DIRTY;
      if (f & PteFlag.UFFD_WP) flags |= PM.UFFD_WP;
      if ((f & PteFlag.SPECIAL) === 0 && frame !== zeroPfn) {
        if (porder[frame]! !== 0) {
          pteEntry(p, sd, pte, k);
          continue;
        }
        // A small folio: its own flags; precisePageMapcount() is its mapcount.
        const pf = pflags[frame]!;
        if ((pf & PG.ANON) === 0) flags |= PM.FILE;
        if ((pf & (PG.ZERO | PG.PGTABLE)) === 0 && pmapcount[frame]! === 1) {
          flags |= PM.MMAP_EXCLUSIVE;
        }
      }
      rflags[p.pos] = flags;
      rframe[p.pos] = showPfn ? frame : 0;
      p.pos++;
    }
  } finally {
    pte.ptl.unlock();
  }
  return 0;
}

/** Unified flavour's pud_entry: a 1 GiB hugetlb entry. */
function pagemapPudRange(
  t: PageTable,
  i: number,
  addr: number,
  next: number,
  walk: MmWalk<PagemapPriv>,
): number {
  const vma = walk.vma!;
  if (vma.backing.kind !== "hugetlb") return 0;
  hugetlbEntries(walk.private, softDirtyOf(walk as MmWalk), vma.backing.hugeSize, t, i, addr, next);
  return 0;
}

function pagemapHugetlbRange(
  t: PageTable,
  i: number,
  _hmask: number,
  addr: number,
  next: number,
  walk: MmWalk<PagemapPriv>,
): number {
  const vma = walk.vma!;
  const size = vma.backing.kind === "hugetlb" ? vma.backing.hugeSize : 0;
  hugetlbEntries(walk.private, softDirtyOf(walk as MmWalk), size, t, i, addr, next);
  return 0;
}

/** pagemap_pte_hole(): 0, plus PM_SOFT_DIRTY inside a VM_SOFTDIRTY VMA. */
function pagemapPteHole(
  addr: number,
  next: number,
  _depth: number,
  walk: MmWalk<PagemapPriv>,
): number {
  const p = walk.private;
  const flags = softDirtyOf(walk as MmWalk) ? PM.SOFT_DIRTY : 0;
  const ps = p.m.arch.geometry.pageSize;
  const vma = walk.vma;
  if (vma !== null && vma.backing.kind === "hugetlb") {
    // The unified flavour reports a none hugetlb entry as a hole.
    for (; addr < next; addr += ps) add(p, 0, flags | hugetlbNoneWp(p.mm, vma, addr));
    return 0;
  }
  fillRun(p, (next - addr) / ps, 0, 0, flags);
  return 0;
}

/**
 * PM_UFFD_WP for a none hugetlb entry that the marker-free design recorded
 * as write-protected (it reads exactly as a uffd-wp marker); 0 otherwise.
 */
export function hugetlbNoneWp(mm: MmStruct, vma: Vma, addr: number): number {
  if (vma.backing.kind !== "hugetlb") return 0;
  return hugetlbWpRecorded(mm, addr - (addr % vma.backing.hugeSize)) ? PM.UFFD_WP : 0;
}

const PAGEMAP_OPS: MmWalkOps<PagemapPriv> = {
  pmdEntry: pagemapPmdRange,
  pteHole: pagemapPteHole,
  hugetlbEntry: pagemapHugetlbRange,
  walkLock: PageWalkLock.RDLOCK,
};
const PAGEMAP_OPS_UNIFIED: MmWalkOps<PagemapPriv> = {
  pudEntry: pagemapPudRange,
  pmdEntry: pagemapPmdRange,
  pteHole: pagemapPteHole,
  walkLock: PageWalkLock.RDLOCK,
};

/**
 * pagemap_read - the pagemap entries of [start, end) of @mm (page aligned,
 * below TASK_SIZE), read as the kernel does: one walk per PMD-aligned
 * 2 MiB chunk, each under the mmap read lock.
 * @gen: the walker generation; @showPfn: false for an opener without
 * CAP_SYS_ADMIN (frames read 0).
 *
 * Locking: takes and drops @mm's mmap lock for read around each chunk.
 *
 * Return: the entries, one per page.
 */
export function pagemapRead(
  m: Machine,
  mm: MmStruct,
  start: number,
  end: number,
  gen: Generation,
  showPfn = true,
): PagemapResult {
  const ps = m.arch.geometry.pageSize;
  const n = Math.max(0, (end - start) / ps);
  const r: PagemapResult = { start, flags: new Uint8Array(n), frame: new Float64Array(n) };
  const p: PagemapPriv = { m, mm, r, pos: 0, showPfn };
  const ops = gen === "unified" ? PAGEMAP_OPS_UNIFIED : PAGEMAP_OPS;
  const flavour = gen === "unified" ? "unified" : "mainline";
  const w = gen === "pt_range" ? new PtRangeWalk() : null;
  const chunk = POW2[m.arch.geometry.pmdShift]!;
  let addr = start;
  while (addr < end) {
    const next = Math.min(addr - (addr % chunk) + chunk, end);
    mm.mmapLock.readLock("pagemap_read");
    try {
      p.pos = (addr - start) / ps;
      if (w !== null) pagemapChunkPtRange(p, w, mm, addr, next);
      else walkPageRange(m, mm, addr, next, ops, p, { flavour });
    } finally {
      mm.mmapLock.readUnlock();
    }
    addr = next;
  }
  return r;
}
