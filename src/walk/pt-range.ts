/**
 * pt_range_walk — the generic page-table iterator of the RFC "Implement a new
 * generic pagewalk API" (v3, May 2026; seed 000; shared/spec/kernel-api.md
 * §5). It walks a range of an mm and hands out, result by result, what is
 * mapped there: NONE, FOLIO, MARKER, PFN, SWAP, MIGRATION, DEVICE or
 * HWPOISON, with the level, the size and the batch length. It takes and
 * drops the page-table locks itself and batches consecutive entries of one
 * folio; hugetlb comes out as what it is (a PMD or PUD leaf on x86).
 *
 * Known from the RFC: the eight result types and their order, batching with
 * folio_pte_batch()/folio_pmd_batch(), softleaf_from_pud(),
 * {pmd,pud}_huge_lock(). Patch #4, which documents the API, was never seen:
 * **everything else here — the struct, the function names, the flags, the
 * NONE granularity, the lock rules, split/skip — is our design** (§5.3),
 * shaped after folio_walk (a struct with public and private parts, the lock
 * left held while the caller looks) and after what the /proc users need to
 * print exactly what the callback walker makes them print.
 *
 * Decisions on the open questions (kernel-api.md §9):
 * - (1) One walk covers [start, end) across VMAs, gaps included; a `testVma`
 *   hook replaces the default VMA policy as test_walk does. A NONE result is
 *   exactly one pte_hole of the callback walker (a gap, a VM_PFNMAP VMA, one
 *   none entry above PTE level with its level) or a run of none PTEs of one
 *   PTE table; in a hugetlb VMA it never spans more than one huge page.
 * - (2) The zero pages are PFN results with `zero` set and the zero folio
 *   attached: vm_normal_page() gives no page for them.
 * - (3) Batches respect every entry bit, young included (the model-only
 *   FPB_RESPECT_YOUNG), so the per-result bits hold for every page of it and
 *   per-page output stays exact; no merging.
 * - (4) pmd_huge_lock()/pud_huge_lock() accept leaves and non-none
 *   non-present entries (hugetlb migration/hwpoison/markers at PMD/PUD).
 * - (6) Non-present PMD/PUD entries decode with softleaf_from_pmd/pud, which
 *   on x86 decode every kind, markers included.
 * - Hugetlb entries are tested for presence as huge PTEs (huge_ptep_get()
 *   semantics: PROTNONE counts; x86 pud_present() alone would call a
 *   PROT_NONE 1 GiB page non-present), so every generation classifies a
 *   hugetlb entry alike.
 *
 * Allocation: one {@link PtRangeWalk} per walk (reusable across walks); a
 * result is that object's fields, overwritten by the next call. Nothing is
 * allocated per result.
 */
import { Level, PteFlag } from "../arch/types.js";
import { LockError } from "../mm/locks.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { PageTable } from "../mm/pgtable.js";
import { VM, type Vma } from "../mm/vma.js";
import { splitHugePmd } from "../ops/thp.js";
import { releaseLeaf } from "../ops/zap.js";
import { FPB_RESPECT_ALL, folioPteBatchFlags, swapPteBatch } from "./batch.js";
import { hugetlbVmaLock, iMmapLock } from "./locks.js";
import { classify, setNone } from "./pt-range-classify.js";
import {
  PT_WALK_HOLES,
  PT_WALK_I_MMAP_WRITE,
  PT_WALK_MMAP_LOCK,
  PT_WALK_NO_BATCH,
  PtLevel,
  type PtRangeWalk,
  type PtTestVma,
  PtType,
  ptLevelOf,
} from "./pt-range-types.js";
import { SoftleafType } from "./softleaf.js";

export * from "./pt-range-types.js";

const WHO = "pt_range_walk";
const EINVAL = 22;

function hexAddr(addr: number): string {
  return `0x${addr.toString(16)}`;
}

/** First VMA with vm_end > addr (find_vma), or null. */
function findVma(mm: MmStruct, addr: number): Vma | null {
  const v = mm.vmas;
  let lo = 0;
  let hi = v.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v[mid]!.end > addr) hi = mid;
    else lo = mid + 1;
  }
  return lo < v.length ? v[lo]! : null;
}

/** real_depth() of an arch level, as a PtLevel. */
function holeLevel(m: Machine, level: Level): PtLevel {
  let d: number = level;
  while (d > 0 && m.arch.geometry.levels[d]!.folded) d--;
  return ptLevelOf(d as Level);
}

/**
 * The locks every entry read needs (§1.7, model rule): the mmap lock and,
 * inside a hugetlb VMA, the hugetlb VMA lock. Throws LockError naming the
 * lock, the walker and the address.
 */
function assertReadable(w: PtRangeWalk, addr: number): void {
  const ml = w.mm!.mmapLock;
  if (ml.readers === 0 && ml.writer === null) {
    throw new LockError(`${WHO} at ${hexAddr(addr)}: reading page tables without ${ml.name}`);
  }
  const hl = w.hugetlbLock;
  if (hl !== null && hl.readers === 0 && hl.writer === null) {
    throw new LockError(`${WHO} at ${hexAddr(addr)}: reading hugetlb entries without ${hl.name}`);
  }
}

function assertPtl(t: PageTable, addr: number): void {
  if (!t.ptl.held) {
    throw new LockError(`${WHO} at ${hexAddr(addr)}: reading an entry without ${t.ptl.name}`);
  }
}

function unlockPte(w: PtRangeWalk): void {
  if (w.pteT !== null) {
    w.pteT.ptl.unlock();
    w.pteT = null;
  }
}

function releaseResult(w: PtRangeWalk): void {
  if (w.resultPtl !== null) {
    w.resultPtl.unlock();
    w.resultPtl = null;
  }
}

function leaveVma(w: PtRangeWalk): void {
  unlockPte(w);
  releaseResult(w);
  if (w.iMmapLocked !== null) {
    w.iMmapLocked.writeUnlock();
    w.iMmapLocked = null;
  }
  if (w.hugetlbLock !== null) {
    w.hugetlbLock.readUnlock();
    w.hugetlbLock = null;
  }
  w.curVma = null;
  w.hugeSize = 0;
}

/** A hole: a NONE result with PT_WALK_HOLES, otherwise just skipped (-1). */
function hole(
  w: PtRangeWalk,
  addr: number,
  next: number,
  level: PtLevel,
  t: PageTable | null,
  i: number,
  n: number,
): number {
  w.cursor = next;
  if ((w.flags & PT_WALK_HOLES) === 0) return -1;
  unlockPte(w);
  return setNone(w, addr, next, level, w.curVma, t, i, n);
}

/**
 * The lock checks of a PTE step that found something missing (or runs in a
 * hugetlb VMA): the full assertions, which throw the LockError.
 */
function pteStepAssert(w: PtRangeWalk, t: PageTable, addr: number): void {
  assertReadable(w, addr);
  assertPtl(t, addr);
}

/** The result fields every present PTE result of `w.pteT` shares (see `pteInv`). */
function setPteInvariants(w: PtRangeWalk, t: PageTable): void {
  w.cont = false;
  w.vma = w.curVma;
  w.hugetlb = w.hugeSize !== 0;
  w.table = t;
  w.level = PtLevel.PTE;
  w.swpExclusive = false;
  const leaf = w.leaf;
  leaf.type = SoftleafType.NONE;
  leaf.swpType = -1;
  leaf.offset = 0;
  leaf.flags = 0;
  w.pteInv = true;
}

/**
 * One step inside the locked PTE table `w.pteT`, at `w.cursor` (slot
 * `w.pteIdx`). The mmap lock, the hugetlb VMA lock and the PTL were asserted
 * in full when the table was locked; each step re-checks, cheaply, that the
 * mmap lock and the PTL are still held (the full assertion throws if not).
 */
function pteStep(w: PtRangeWalk): number {
  const t = w.pteT!;
  const ml = w.mmapLock!;
  if ((ml.readers === 0 && ml.writer === null) || t.ptl.holder === null || w.hugetlbLock !== null) {
    pteStepAssert(w, t, w.cursor);
  }
  const i = w.pteIdx;
  const words = t.words;
  const lo = words[i * 2]!;
  const hi = words[i * 2 + 1]!;
  const m = w.m!;
  const a = m.arch;
  if (a.isNone(lo, hi, Level.PTE) || !a.isPresent(lo, hi, Level.PTE)) return pteStepSlow(w);
  // The common case, a present PTE mapping an order-0 folio: classify()'s
  // fields for it, the halves read once, each field written once.
  const f = a.leafFlags(lo, hi, Level.PTE);
  const pfn = a.leafPfn(lo, hi, Level.PTE);
  const phys = m.phys;
  if (pfn === phys.zeroPfn || (f & PteFlag.SPECIAL) !== 0 || phys.order[pfn] !== 0) {
    return pteStepSlow(w);
  }
  if (!w.pteInv) setPteInvariants(w, t);
  const addr = w.cursor;
  const next = addr + w.pageSize;
  w.type = PtType.FOLIO;
  w.index = i;
  w.addr = addr;
  w.entryStart = addr;
  w.next = next;
  w.nrEntries = 1;
  w.nrPages = 1;
  w.write = (f & PteFlag.WRITE) !== 0;
  w.young = (f & PteFlag.YOUNG) !== 0;
  w.dirty = (f & PteFlag.DIRTY) !== 0;
  w.softDirty = (f & PteFlag.SOFT_DIRTY) !== 0;
  w.uffdWp = (f & PteFlag.UFFD_WP) !== 0;
  w.zero = false;
  w.pfn = pfn;
  w.page = pfn;
  w.folio = pfn;
  w.pteIdx = i + 1;
  w.cursor = next;
  return PtType.FOLIO;
}

/** pteStep() for everything else: none runs, non-present entries, zero/special pages, large folios. */
function pteStepSlow(w: PtRangeWalk): number {
  const t = w.pteT!;
  const addr = w.cursor;
  const m = w.m!;
  const a = m.arch;
  const ps = w.pageSize;
  const i = w.pteIdx;
  const words = t.words;
  const maxNr = w.pteIdxEnd - i;
  const lo = words[i * 2]!;
  const hi = words[i * 2 + 1]!;
  if (a.isNone(lo, hi, Level.PTE)) {
    let n = 1;
    while (n < maxNr && a.isNone(words[(i + n) * 2]!, words[(i + n) * 2 + 1]!, Level.PTE)) n++;
    w.pteIdx = i + n;
    return hole(w, addr, addr + n * ps, PtLevel.PTE, t, i, n);
  }
  let n = 1;
  let type: number;
  if (a.isPresent(lo, hi, Level.PTE)) {
    // classify() of a present PTE, the halves read once, each field written once.
    const f = a.leafFlags(lo, hi, Level.PTE);
    const pfn = a.leafPfn(lo, hi, Level.PTE);
    if (!w.pteInv) setPteInvariants(w, t);
    w.index = i;
    w.addr = addr;
    w.entryStart = addr;
    w.write = (f & PteFlag.WRITE) !== 0;
    w.young = (f & PteFlag.YOUNG) !== 0;
    w.dirty = (f & PteFlag.DIRTY) !== 0;
    w.softDirty = (f & PteFlag.SOFT_DIRTY) !== 0;
    w.uffdWp = (f & PteFlag.UFFD_WP) !== 0;
    w.pfn = pfn;
    const phys = m.phys;
    if (pfn === phys.zeroPfn) {
      w.zero = true;
      w.folio = phys.folioHead(pfn);
      w.page = pfn;
      type = PtType.PFN;
    } else if ((f & PteFlag.SPECIAL) !== 0) {
      w.zero = false;
      w.folio = -1;
      w.page = -1;
      type = PtType.PFN;
    } else {
      w.zero = false;
      w.page = pfn;
      type = PtType.FOLIO;
      const order = phys.order[pfn]!;
      if (order === 0) {
        w.folio = pfn;
      } else {
        const folio = phys.folioHead(pfn);
        w.folio = folio;
        if (maxNr > 1 && (w.flags & PT_WALK_NO_BATCH) === 0) {
          w.ptent[0] = lo;
          w.ptent[1] = hi;
          n = folioPteBatchFlags(m, folio, w.curVma, t, i, w.ptent, maxNr, FPB_RESPECT_ALL);
        }
      }
    }
    w.type = type as PtType;
  } else {
    type = classify(w, t, i, Level.PTE, addr, addr);
    if (type === PtType.SWAP && maxNr > 1 && (w.flags & PT_WALK_NO_BATCH) === 0) {
      n = swapPteBatch(m, t, i, maxNr);
    }
  }
  w.nrEntries = n;
  w.nrPages = n;
  w.pteIdx = i + n;
  const next = addr + n * ps;
  w.next = next;
  w.cursor = next;
  return type;
}

/**
 * A leaf or non-present entry at PMD/PUD level: {pmd,pud}_huge_lock() —
 * lock, re-read, and report it if it still is a leaf or a non-none
 * non-present entry (else retry from the top: ACTION_AGAIN).
 */
function hugeStep(
  w: PtRangeWalk,
  t: PageTable,
  i: number,
  lvl: Level,
  addr: number,
  entryStart: number,
  entryEnd: number,
): number {
  const a = w.m!.arch;
  t.ptl.lock(WHO);
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  if (a.isNone(lo, hi, lvl) || (a.isPresent(lo, hi, lvl) && !a.isLeaf(lo, hi, lvl))) {
    t.ptl.unlock();
    return -1;
  }
  w.resultPtl = t.ptl;
  const type = classify(w, t, i, lvl, addr, entryStart);
  w.next = entryEnd;
  w.nrPages = (entryEnd - addr) / a.geometry.pageSize;
  w.nrEntries = 1;
  w.cursor = entryEnd;
  return type;
}

/** One step inside the current VMA at `w.cursor`: a result type, or -1 to go on. */
function vmaStep(w: PtRangeWalk): number {
  const addr = w.cursor;
  if (w.pteT !== null) {
    if (addr < w.pteSpanEnd) return pteStep(w);
    unlockPte(w);
  }
  assertReadable(w, addr);
  const m = w.m!;
  const a = m.arch;
  const geo = a.geometry;
  const pt = w.mm!.pt;
  let t = pt.root;
  // Resume at the PMD table of the previous descent when `addr` lies in its
  // span and the entry above still points to it.
  const pmdT = w.pmdT;
  if (pmdT !== null && addr >= w.pmdSpanStart && addr < w.pmdSpanEnd) {
    const pw = w.pmdParent!.words;
    const pi = w.pmdParentIdx;
    if (pw[pi * 2] === w.pmdParentLo && pw[pi * 2 + 1] === w.pmdParentHi) t = pmdT;
  }
  for (;;) {
    const lvl = t.level;
    const span = 2 ** geo.levels[lvl]!.shift;
    const i = Math.floor(addr / span) % geo.levels[lvl]!.entries;
    if (lvl === Level.PTE) {
      t.ptl.lock(WHO);
      assertPtl(t, addr);
      w.pteT = t;
      w.pteInv = false;
      const tableSpan = span * geo.levels[Level.PTE]!.entries;
      const base = addr - (addr % tableSpan);
      const spanEnd = Math.min(w.vmaEnd, base + tableSpan);
      w.pteBase = base;
      w.pteSpanEnd = spanEnd;
      w.pteIdx = i;
      w.pteIdxEnd = i + (spanEnd - addr) / w.pageSize;
      return pteStep(w);
    }
    const lo = t.words[i * 2]!;
    const hi = t.words[i * 2 + 1]!;
    const entryStart = addr - (addr % span);
    let entryEnd = Math.min(entryStart + span, w.vmaEnd);
    if (a.isNone(lo, hi, lvl)) {
      const hs = w.hugeSize;
      if (hs !== 0) entryEnd = Math.min(entryEnd, addr - (addr % hs) + hs);
      return hole(w, addr, entryEnd, holeLevel(m, lvl), t, i, 1);
    }
    if (lvl < Level.PUD || (a.isPresent(lo, hi, lvl) && !a.isLeaf(lo, hi, lvl))) {
      const c = pt.child(t, i);
      if (c === null) throw new Error(`${WHO} at ${hexAddr(addr)}: bad ${lvl} entry`);
      if (c.level === Level.PMD) {
        const cSpan = span;
        w.pmdT = c;
        w.pmdSpanStart = entryStart;
        w.pmdSpanEnd = entryStart + cSpan;
        w.pmdParent = t;
        w.pmdParentIdx = i;
        w.pmdParentLo = lo;
        w.pmdParentHi = hi;
      }
      t = c;
      continue;
    }
    return hugeStep(w, t, i, lvl, addr, entryStart, entryEnd);
  }
}

/** Enter the VMA at or after `w.cursor`, or report/skip the gap before it. */
function enterVma(w: PtRangeWalk): number {
  const mm = w.mm!;
  const addr = w.cursor;
  const vma = findVma(mm, addr);
  if (vma === null || addr < vma.start) {
    const gapEnd = vma === null ? w.end : Math.min(w.end, vma.start);
    w.cursor = gapEnd;
    if ((w.flags & PT_WALK_HOLES) === 0) return -1;
    return setNone(w, addr, gapEnd, PtLevel.PGD, null, null, -1, 1);
  }
  const vEnd = Math.min(w.end, vma.end);
  if (w.testVma !== null) {
    const r = w.testVma(vma, addr, vEnd, w);
    if (r < 0) {
      w.error = r;
      return -2;
    }
    if (r > 0) {
      w.cursor = vEnd;
      return -1;
    }
  } else if (vma.has(VM.PFNMAP)) {
    w.cursor = vEnd;
    if ((w.flags & PT_WALK_HOLES) === 0) return -1;
    return setNone(w, addr, vEnd, PtLevel.PGD, vma, null, -1, 1);
  }
  w.curVma = vma;
  w.vmaEnd = vEnd;
  if (vma.backing.kind === "hugetlb") {
    w.hugeSize = vma.backing.hugeSize;
    w.hugetlbLock = hugetlbVmaLock(vma);
    w.hugetlbLock.readLock(WHO);
    if ((w.flags & PT_WALK_I_MMAP_WRITE) !== 0) {
      w.iMmapLocked = iMmapLock(vma.backing.space);
      w.iMmapLocked.writeLock(WHO);
    }
  }
  return -1;
}

/**
 * ptRangeWalkStart - begin a walk of [@start, @end) of @mm and return its
 * first result.
 * @w: the walk state (one per walk; may be reused after ptRangeWalkEnd());
 * @m: the machine; @mm: the address space; @start/@end: page-aligned range;
 * @flags: PT_WALK_HOLES, PT_WALK_NO_BATCH, PT_WALK_I_MMAP_WRITE,
 * PT_WALK_MMAP_LOCK; @testVma: optional VMA filter ({@link PtTestVma}).
 *
 * Locking: the caller holds @mm's mmap lock (read, or write) for the whole
 * walk, unless PT_WALK_MMAP_LOCK asks the walker to take it for read. The
 * walker takes the PTE table's PTL for PTE results (kept across consecutive
 * results of one table), pmd/pud_huge_lock's lock for PMD/PUD results, the
 * hugetlb VMA lock for read while inside a hugetlb VMA (and with
 * PT_WALK_I_MMAP_WRITE the mapping's i_mmap lock for write before it). No
 * PTL is held while a NONE result is current. Every entry read asserts the
 * mmap lock, the hugetlb VMA lock and, for reported entries, the PTL
 * (LockError naming the lock, the walker and the address).
 *
 * Return: the first result's type, or null when there is none (then
 * everything is released; `w.error` is -EINVAL for a bad range or the
 * errno a testVma returned).
 */
export function ptRangeWalkStart(
  w: PtRangeWalk,
  m: Machine,
  mm: MmStruct,
  start: number,
  end: number,
  flags = 0,
  testVma: PtTestVma | null = null,
): PtType | null {
  if (!w.done) throw new Error(`${WHO}: the walk state is still in use (no ptRangeWalkEnd)`);
  w.m = m;
  w.mm = mm;
  w.cursor = start;
  w.end = end;
  w.flags = flags;
  w.testVma = testVma;
  w.error = 0;
  w.curVma = null;
  w.hugeSize = 0;
  w.done = false;
  w.pageSize = m.arch.geometry.pageSize;
  w.pmdT = null;
  w.pmdParent = null;
  w.pteInv = false;
  w.mmapLock = mm.mmapLock;
  if ((flags & PT_WALK_MMAP_LOCK) !== 0) {
    mm.mmapLock.readLock(WHO);
    w.ownMmapLock = true;
  }
  const ps = m.arch.geometry.pageSize;
  if (start >= end || start % ps !== 0 || end % ps !== 0) {
    w.error = -EINVAL;
    ptRangeWalkEnd(w);
    return null;
  }
  assertReadable(w, start);
  return ptRangeWalkNext(w);
}

/**
 * ptRangeWalkNext - the next result.
 * @w: a walk begun by ptRangeWalkStart().
 *
 * Locking: drops the previous result's PMD/PUD lock; see ptRangeWalkStart().
 *
 * Return: the result's type, or null when the range is done (everything
 * released; `w.error` set if a testVma ended the walk).
 */
export function ptRangeWalkNext(w: PtRangeWalk): PtType | null {
  // Fast path: the next entry of the PTE table already locked (then the
  // walk is not done and holds no PMD/PUD result lock).
  if (w.pteT !== null && w.pteIdx < w.pteIdxEnd) {
    const r = pteStep(w);
    if (r >= 0) return r as PtType;
  }
  return nextSlow(w);
}

/** ptRangeWalkNext() past the locked PTE table's entries. */
function nextSlow(w: PtRangeWalk): PtType | null {
  if (w.done) return null;
  releaseResult(w);
  for (;;) {
    if (w.curVma === null) {
      if (w.cursor >= w.end) break;
      const r = enterVma(w);
      if (r === -2) break;
      if (r >= 0) return r as PtType;
      continue;
    }
    if (w.cursor >= w.vmaEnd) {
      leaveVma(w);
      continue;
    }
    const r = vmaStep(w);
    if (r >= 0) return r as PtType;
  }
  ptRangeWalkEnd(w);
  return null;
}

/**
 * ptRangeWalkEnd - stop the walk and release every lock it holds (PTL,
 * PMD/PUD lock, hugetlb VMA lock, i_mmap lock, and the mmap lock if the
 * walker took it). Safe to call twice.
 */
export function ptRangeWalkEnd(w: PtRangeWalk): void {
  if (w.done) return;
  leaveVma(w);
  if (w.ownMmapLock) {
    w.mm!.mmapLock.readUnlock();
    w.ownMmapLock = false;
  }
  w.done = true;
}

/**
 * ptRangeWalkSkipVma - no more results from the current VMA: the next
 * ptRangeWalkNext() continues after it.
 *
 * Locking: releases the locks held for the VMA.
 */
export function ptRangeWalkSkipVma(w: PtRangeWalk): void {
  if (w.done || w.curVma === null) return;
  w.cursor = w.vmaEnd;
  leaveVma(w);
}

/**
 * ptRangeWalkSplit - split the current result, a present PMD THP leaf
 * outside hugetlb, as split_huge_pmd() does: in an anonymous VMA the PMD
 * becomes a PTE table mapping the same pages (bits carried over; the huge
 * zero PMD becomes zero-page PTEs); in any other VMA the PMD is cleared
 * (dirty/young go to the folio) and the range reads as a hole. The next
 * ptRangeWalkNext() resumes at `w.addr`, at PTE level.
 *
 * Locking: runs under the PMD lock the result holds, then drops it.
 *
 * Return: nothing; throws when the current result is not such a leaf.
 */
export function ptRangeWalkSplit(w: PtRangeWalk): void {
  const t = w.table;
  if (
    w.done ||
    w.resultPtl === null ||
    t === null ||
    t.level !== Level.PMD ||
    w.hugetlb ||
    (w.type !== PtType.FOLIO && w.type !== PtType.PFN)
  ) {
    throw new Error(`${WHO}: ptRangeWalkSplit needs a current PMD THP result`);
  }
  const m = w.m!;
  const mm = w.mm!;
  const i = w.index;
  assertPtl(t, w.addr);
  if (w.curVma!.isAnon) {
    splitHugePmd(m, mm, t, i);
  } else {
    const lo = t.words[i * 2]!;
    const hi = t.words[i * 2 + 1]!;
    const nr = 2 ** (m.arch.geometry.pmdShift - m.arch.geometry.pageShift);
    releaseLeaf(
      m,
      mm,
      m.arch.leafPfn(lo, hi, Level.PMD),
      nr,
      m.arch.leafFlags(lo, hi, Level.PMD),
      true,
    );
    t.words[i * 2] = 0;
    t.words[i * 2 + 1] = 0;
    t.used--;
  }
  releaseResult(w);
  w.cursor = w.addr;
}
