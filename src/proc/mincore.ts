/**
 * mincore(2) (proc.md §10, §12): the residency vector of a range, one byte
 * per page, on either callback-walker flavour or (mincore-ptrange.ts) on
 * pt_range_walk.
 */
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import { PG } from "../mm/pageflags.js";
import type { PageTable } from "../mm/pgtable.js";
import type { Vma } from "../mm/vma.js";
import { walkPageRange } from "../walk/pagewalk.js";
import { PtRangeWalk } from "../walk/pt-range.js";
import { pteOffsetMapLock } from "../walk/pte-map.js";
import {
  Softleaf,
  SoftleafType,
  softleafFromPte,
  softleafIsMarker,
  softleafIsSwap,
  softleafTypeOfEntry,
} from "../walk/softleaf.js";
import { type MmWalk, type MmWalkOps, PageWalkLock, WalkAction } from "../walk/types.js";
import { entryIsNone, type Generation, hugeLevelOf, pmdIsHugeOrSwap } from "./common.js";
import { mincoreWalkPtRange } from "./mincore-ptrange.js";

/** Scratch softleaf of this user (never retained across calls). */
const LEAF = new Softleaf();

/** The walk's private data: the vector and the address of its first byte. */
export interface MincorePriv {
  m: Machine;
  vec: Uint8Array;
  base: number;
}

/** A swap slot's swap-cache state: 1 iff an uptodate folio caches it. */
export function swapCacheProbe(m: Machine, slot: number): number {
  const sw = m.swap;
  if (sw === null || slot < 0 || slot >= sw.nrSlots) return 0;
  const pfn = sw.cached(slot);
  if (pfn < 0) return 0;
  return m.phys.flags[m.phys.folioHead(pfn)]! & PG.UPTODATE ? 1 : 0;
}

/** mincore_page(): the page-cache state of the backing object at page `addr`. */
export function mincorePage(m: Machine, vma: Vma, addr: number): number {
  const space = vma.space;
  if (space === null) return 0;
  const shift = m.arch.geometry.pageShift;
  let idx = vma.pageIndex(addr, shift);
  if (vma.backing.kind === "hugetlb") {
    // hugetlbfs caches a folio once, at its huge-page index in the model.
    idx = Math.floor((idx * m.arch.geometry.pageSize) / vma.backing.hugeSize);
  }
  if (idx < 0 || idx >= space.nrPages) return 0;
  const pfn = space.pages[idx]!;
  if (pfn >= 0) return m.phys.flags[m.phys.folioHead(pfn)]! & PG.UPTODATE ? 1 : 0;
  if (space.swapBacked && space.swap[idx]! >= 0) return swapCacheProbe(m, space.swap[idx]!);
  return 0;
}

/** __mincore_unmapped_range(): page cache for file VMAs, 0 for anonymous ones. */
export function unmappedRange(p: MincorePriv, vma: Vma, addr: number, next: number): void {
  const m = p.m;
  const ps = m.arch.geometry.pageSize;
  let k = (addr - p.base) / ps;
  for (; addr < next; addr += ps, k++) p.vec[k] = mincorePage(m, vma, addr);
}

export function fill(p: MincorePriv, addr: number, next: number, v: number): void {
  const ps = p.m.arch.geometry.pageSize;
  p.vec.fill(v, (addr - p.base) / ps, (next - p.base) / ps);
}

/** A hugetlb entry: 1 unless none or a marker (huge_pte_none_mostly). */
function hugeValue(m: Machine, t: PageTable, i: number): number {
  if (entryIsNone(m, t, i)) return 0;
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  if (!m.arch.isPresent(lo, hi, t.level) && !m.arch.isLeaf(lo, hi, t.level)) {
    if (softleafTypeOfEntry(m, t, i) === SoftleafType.MARKER) return 0;
  }
  return 1;
}

/** mincore_pte_range(): pmd_entry of both flavours. */
function mincorePteRange(
  t: PageTable,
  i: number,
  addr: number,
  next: number,
  walk: MmWalk<MincorePriv>,
): number {
  const p = walk.private;
  const m = p.m;
  const vma = walk.vma!;
  if (vma.isHugetlb) {
    fill(p, addr, next, hugeValue(m, t, i));
    walk.action = WalkAction.CONTINUE;
    return 0;
  }
  if (pmdIsHugeOrSwap(m, t, i)) {
    fill(p, addr, next, 1);
    return 0;
  }
  const pte = pteOffsetMapLock(walk, t, i, "mincore_pte_range");
  if (pte === null) return 0;
  const ps = m.arch.geometry.pageSize;
  try {
    let k = walk.mm.pt.index(pte.level, addr);
    let v = (addr - p.base) / ps;
    for (; addr < next; addr += ps, k++, v++) {
      const lo = pte.words[k * 2]!;
      const hi = pte.words[k * 2 + 1]!;
      if (m.arch.isNone(lo, hi, pte.level)) {
        p.vec[v] = mincorePage(m, vma, addr);
      } else if (m.arch.isPresent(lo, hi, pte.level)) {
        p.vec[v] = 1;
      } else {
        const e = softleafFromPte(m, pte, k, LEAF);
        if (softleafIsMarker(e)) p.vec[v] = mincorePage(m, vma, addr);
        else if (softleafIsSwap(e)) p.vec[v] = swapCacheProbe(m, e.offset);
        else p.vec[v] = 1;
      }
    }
  } finally {
    pte.ptl.unlock();
  }
  return 0;
}

/** Unified flavour: a 1 GiB hugetlb entry. */
function mincorePudRange(
  t: PageTable,
  i: number,
  addr: number,
  next: number,
  walk: MmWalk<MincorePriv>,
): number {
  if (walk.vma!.isHugetlb) fill(walk.private, addr, next, hugeValue(walk.private.m, t, i));
  return 0;
}

/** mincore_hugetlb(): mainline, one call per huge page whose slot exists. */
function mincoreHugetlb(
  t: PageTable,
  i: number,
  _hmask: number,
  addr: number,
  next: number,
  walk: MmWalk<MincorePriv>,
): number {
  fill(walk.private, addr, next, hugeValue(walk.private.m, t, i));
  return 0;
}

/**
 * mincore_unmapped_range(): the pte_hole. In the unified flavour a hole at
 * a hugetlb VMA's own level is a none huge entry (0); other holes follow
 * the unmapped-range rule.
 */
function mincoreUnmappedRange(
  addr: number,
  next: number,
  depth: number,
  walk: MmWalk<MincorePriv>,
): number {
  const p = walk.private;
  const vma = walk.vma!;
  if (walk.flavour === "unified" && vma.isHugetlb && depth === hugeLevelOf(p.m, vma)) {
    fill(p, addr, next, 0);
    return 0;
  }
  unmappedRange(p, vma, addr, next);
  return 0;
}

const MINCORE_OPS: MmWalkOps<MincorePriv> = {
  pmdEntry: mincorePteRange,
  pteHole: mincoreUnmappedRange,
  hugetlbEntry: mincoreHugetlb,
  walkLock: PageWalkLock.RDLOCK,
};
const MINCORE_OPS_UNIFIED: MmWalkOps<MincorePriv> = {
  pudEntry: mincorePudRange,
  pmdEntry: mincorePteRange,
  pteHole: mincoreUnmappedRange,
  walkLock: PageWalkLock.RDLOCK,
};

/**
 * can_do_mincore(): anonymous VMAs, and files the caller owns or may open
 * for writing. Every VMA a model process holds qualifies (its scenario
 * created the files), so the side-channel "all 1" rule never applies.
 */
function canDoMincore(_vma: Vma): boolean {
  return true;
}

/**
 * do_mincore - the residency bytes of [start, end) (page aligned) of @mm,
 * VMA by VMA as the syscall's loop does.
 *
 * Locking: takes @mm's mmap lock for read around each VMA's walk.
 *
 * Return: the vector, or "ENOMEM" when part of the range is not mapped.
 */
export function doMincore(
  m: Machine,
  mm: MmStruct,
  start: number,
  end: number,
  gen: Generation,
): Uint8Array | "ENOMEM" {
  const ps = m.arch.geometry.pageSize;
  const vec = new Uint8Array(Math.max(0, (end - start) / ps));
  const p: MincorePriv = { m, vec, base: start };
  const ops = gen === "unified" ? MINCORE_OPS_UNIFIED : MINCORE_OPS;
  const flavour = gen === "unified" ? "unified" : "mainline";
  const w = gen === "pt_range" ? new PtRangeWalk() : null;
  let addr = start;
  while (addr < end) {
    mm.mmapLock.readLock("do_mincore");
    try {
      const vma = mm.findVma(addr);
      if (vma === null) return "ENOMEM";
      const next = Math.min(vma.end, end);
      if (!canDoMincore(vma)) fill(p, addr, next, 1);
      else if (w !== null) mincoreWalkPtRange(p, w, mm, vma, addr, next);
      else walkPageRange(m, mm, addr, next, ops, p, { flavour });
      addr = next;
    } finally {
      mm.mmapLock.readUnlock();
    }
  }
  return vec;
}
