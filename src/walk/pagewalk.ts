/**
 * The callback page walker: walk_page_range() and friends (mm/pagewalk.c,
 * Linux 6.18; shared/spec/kernel-api.md §1) in two flavours:
 *
 * - "mainline": hugetlb VMAs go to `hugetlbEntry`, one call per huge page
 *   whose page-table slot exists (missing tables are `pteHole(-1)`), and are
 *   silently skipped by ops without `hugetlbEntry`;
 * - "unified" (the never-merged hugetlb unification RFC, seed 002, §6):
 *   hugetlb VMAs are walked by the generic level loops with the hugetlb VMA
 *   lock held for read; a hugetlb PUD/PMD leaf (or non-present entry) reaches
 *   `pudEntry`/`pmdEntry` as what it is and is never split or descended;
 *   `pudEntry` is called only for leaf or non-present PUDs (§6.1).
 *
 * One function per level, each a loop over `[addr, next)`; folded levels
 * (x86_64's P4D with 4-level paging) are walked through the slot of the
 * level above and still call their callbacks. The loops allocate nothing:
 * the walk state is one object per walk.
 */
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { AddressSpace } from "../mm/pagecache.js";
import { VM, type Vma, vmaAssertLocked, vmaAssertWriteLocked, vmaStartWrite } from "../mm/vma.js";
import { WalkState, walkHugetlbRange, walkPgdRange } from "./levels.js";
import { hugetlbVmaLock, iMmapLock } from "./locks.js";
import { type MmWalk, type MmWalkOps, PageWalkLock, type WalkFlavour } from "./types.js";

/** errno values the walker returns (negated). */
export const EINVAL = 22;

/** Options of a walk. */
export interface WalkOptions {
  /** Walker flavour; default "mainline". */
  flavour?: WalkFlavour;
}

export { realDepth } from "./levels.js";

// ---------------------------------------------------------------------------
// per-VMA and top level

/** __walk_page_range(): one VMA (or no-VMA) range. */
function walkVmaRange(w: WalkState<unknown>, start: number, end: number): number {
  const vma = w.vma;
  const ops = w.ops;
  if (vma?.isHugetlb && w.install) return -EINVAL;
  let err = 0;
  if (ops.preVma) {
    err = ops.preVma(start, end, w);
    if (err) return err;
  }
  if (vma?.isHugetlb) {
    if (w.flavour === "mainline") {
      if (ops.hugetlbEntry) err = walkHugetlbRange(w, start, end);
    } else {
      const lock = hugetlbVmaLock(vma);
      lock.readLock("walk_page_range (hugetlb)");
      try {
        err = walkPgdRange(w, start, end);
      } finally {
        lock.readUnlock();
      }
    }
  } else {
    err = walkPgdRange(w, start, end);
  }
  if (ops.postVma) ops.postVma(w);
  return err;
}

/** walk_page_test(): 0 walk, > 0 skip, < 0 abort. */
function walkPageTest(w: WalkState<unknown>, start: number, end: number): number {
  const ops = w.ops;
  if (ops.testWalk) return ops.testWalk(start, end, w);
  if (w.vma!.has(VM.PFNMAP)) {
    let err = 1;
    if (ops.pteHole) err = ops.pteHole(start, end, -1, w);
    return err ? err : 1;
  }
  return 0;
}

/** process_mm_walk_lock(). */
function processMmWalkLock(mm: MmStruct, lock: PageWalkLock, who: string): void {
  if (lock === PageWalkLock.VMA_RDLOCK_VERIFY) return;
  if (lock === PageWalkLock.RDLOCK) mm.mmapLock.assertLocked(who);
  else mm.mmapLock.assertWriteLocked(who);
}

/**
 * process_vma_walk_lock(): PGWALK_WRLOCK write-locks each VMA it enters
 * (vma_start_write), PGWALK_WRLOCK_VERIFY asserts it already is, and
 * PGWALK_VMA_RDLOCK_VERIFY asserts the per-VMA lock is held (read or write).
 */
function processVmaWalkLock(mm: MmStruct, vma: Vma, lock: PageWalkLock, who: string): void {
  if (lock === PageWalkLock.WRLOCK) vmaStartWrite(mm.mmapLock, vma, who);
  else if (lock === PageWalkLock.WRLOCK_VERIFY) vmaAssertWriteLocked(mm.mmapLock, vma, who);
  else if (lock === PageWalkLock.VMA_RDLOCK_VERIFY) vmaAssertLocked(mm.mmapLock, vma, who);
}

/** First VMA with vm_end > addr (find_vma), as an index into mm.vmas; -1 if none. */
function findVmaIndex(mm: MmStruct, addr: number): number {
  const v = mm.vmas;
  let lo = 0;
  let hi = v.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v[mid]!.end > addr) hi = mid;
    else lo = mid + 1;
  }
  return lo < v.length ? lo : -1;
}

function walkRangeMm<P>(
  machine: Machine,
  mm: MmStruct,
  start: number,
  end: number,
  ops: MmWalkOps<P>,
  priv: P,
  opts: WalkOptions,
  who: string,
): number {
  if (start >= end) return -EINVAL;
  if (ops.installPte && !ops.pteEntry) {
    throw new Error(`${who}: installPte needs pteEntry (the kernel would dereference NULL)`);
  }
  const lockMode = ops.walkLock ?? PageWalkLock.RDLOCK;
  processMmWalkLock(mm, lockMode, who);
  const w = new WalkState(
    ops as MmWalkOps<unknown>,
    machine,
    mm,
    false,
    opts.flavour ?? "mainline",
    priv as unknown,
  );
  let vi = findVmaIndex(mm, start);
  let vma: Vma | null = vi >= 0 ? mm.vmas[vi]! : null;
  let err = 0;
  while (start < end) {
    let next: number;
    if (vma === null) {
      w.vma = null;
      next = end;
      if (ops.pteHole) err = ops.pteHole(start, next, -1, w as MmWalk<P>);
    } else if (start < vma.start) {
      w.vma = null;
      next = Math.min(end, vma.start);
      if (ops.pteHole) err = ops.pteHole(start, next, -1, w as MmWalk<P>);
    } else {
      processVmaWalkLock(mm, vma, lockMode, who);
      w.vma = vma;
      next = Math.min(end, vma.end);
      // Advance the cursor before walking: callbacks may change the tree.
      vi = findVmaIndex(mm, vma.end);
      vma = vi >= 0 ? mm.vmas[vi]! : null;
      err = walkPageTest(w, start, next);
      if (err > 0) err = 0;
      else if (err === 0) err = walkVmaRange(w, start, next);
    }
    if (err) break;
    start = next;
  }
  return err;
}

/**
 * walk_page_range - walk the page tables of @mm over [start, end), VMAs and
 * gaps alike (kernel-api.md §1.6).
 * @machine: the machine; @mm: the address space; @start/@end: the range;
 * @ops: the callbacks; @priv: the walk's private cookie; @opts: flavour.
 *
 * Gaps and ranges past the last VMA are reported with `pteHole(-1)`; each
 * VMA is offered to `testWalk` (or, without it, a VM_PFNMAP VMA becomes one
 * `pteHole(-1)`), then walked between `preVma` and `postVma`.
 *
 * Locking: the mmap lock of @mm as `ops.walkLock` demands (read for
 * RDLOCK, write for WRLOCK/WRLOCK_VERIFY) must be held by the caller. The
 * walker takes each PTE table's PTL around its `pteEntry` calls and the
 * hugetlb VMA lock (read) around a hugetlb VMA's walk. Entry callbacks
 * above PTE level run without any page-table lock.
 *
 * Return: 0 when the whole range was walked; the first non-zero callback
 * result otherwise (> 0 caller-defined, < 0 a negative errno); -EINVAL when
 * `start >= end` or `ops.installPte` is set. Throws LockError when the mmap
 * lock is not held as required.
 */
export function walkPageRange<P>(
  machine: Machine,
  mm: MmStruct,
  start: number,
  end: number,
  ops: MmWalkOps<P>,
  priv: P,
  opts: WalkOptions = {},
): number {
  if (ops.installPte) return -EINVAL;
  return walkRangeMm(machine, mm, start, end, ops, priv, opts, "walk_page_range");
}

/**
 * walk_page_range_mm - walk_page_range() that also accepts `installPte`
 * (mm-internal: guard regions). Missing tables are allocated; none PTEs go
 * to `installPte` instead of `pteEntry`.
 *
 * Locking: as walk_page_range(); the install writes happen under the PTL
 * the walker holds.
 *
 * Return: as walk_page_range(), except that `installPte` is allowed; -EINVAL
 * for a hugetlb VMA in install mode.
 */
export function walkPageRangeMm<P>(
  machine: Machine,
  mm: MmStruct,
  start: number,
  end: number,
  ops: MmWalkOps<P>,
  priv: P,
  opts: WalkOptions = {},
): number {
  return walkRangeMm(machine, mm, start, end, ops, priv, opts, "walk_page_range_mm");
}

/**
 * walk_page_range_vma - walk [start, end) inside one VMA: no `testWalk`,
 * no PFNMAP skip, no gap holes.
 *
 * Locking: mmap lock of the VMA's mm per `ops.walkLock`; PTLs and the
 * hugetlb VMA lock as walk_page_range().
 *
 * Return: 0, or the first non-zero callback result; -EINVAL when
 * `installPte` is set, `start >= end`, or [start, end) is not inside @vma.
 */
export function walkPageRangeVma<P>(
  machine: Machine,
  mm: MmStruct,
  vma: Vma,
  start: number,
  end: number,
  ops: MmWalkOps<P>,
  priv: P,
  opts: WalkOptions = {},
): number {
  if (ops.installPte) return -EINVAL;
  if (start >= end) return -EINVAL;
  if (start < vma.start || end > vma.end) return -EINVAL;
  const lockMode = ops.walkLock ?? PageWalkLock.RDLOCK;
  processMmWalkLock(mm, lockMode, "walk_page_range_vma");
  processVmaWalkLock(mm, vma, lockMode, "walk_page_range_vma");
  const w = new WalkState(
    ops as MmWalkOps<unknown>,
    machine,
    mm,
    false,
    opts.flavour ?? "mainline",
    priv as unknown,
  );
  w.vma = vma;
  return walkVmaRange(w, start, end);
}

/**
 * walk_page_vma - walk the whole of @vma ([vm_start, vm_end)); `testWalk`
 * is not called (6.18), a PFNMAP VMA is descended like any other.
 *
 * Locking: as walk_page_range_vma().
 *
 * Return: 0, or the first non-zero callback result; -EINVAL when
 * `installPte` is set.
 */
export function walkPageVma<P>(
  machine: Machine,
  mm: MmStruct,
  vma: Vma,
  ops: MmWalkOps<P>,
  priv: P,
  opts: WalkOptions = {},
): number {
  if (ops.installPte) return -EINVAL;
  return walkPageRangeVma(machine, mm, vma, vma.start, vma.end, ops, priv, opts);
}

/**
 * walk_page_mapping - walk every VMA (of every mm) mapping pages
 * [firstIndex, firstIndex + nr) of @mapping, in i_mmap (pgoff) order. Per
 * VMA the page range is clipped and converted to addresses; `testWalk` sees
 * the whole VMA, and a positive result ends the whole walk with 0. Holes
 * between VMAs are never reported.
 *
 * Locking: the caller holds the mapping's i_mmap_rwsem ({@link iMmapLock});
 * no mmap lock is asserted.
 *
 * Return: 0, or the first non-zero callback result; -EINVAL when
 * `installPte` is set.
 */
export function walkPageMapping<P>(
  machine: Machine,
  mapping: AddressSpace,
  firstIndex: number,
  nr: number,
  ops: MmWalkOps<P>,
  priv: P,
  opts: WalkOptions = {},
): number {
  if (ops.installPte) return -EINVAL;
  iMmapLock(mapping).assertLocked("walk_page_mapping");
  const ps = machine.arch.geometry.pageSize;
  const lastIndex = firstIndex + nr - 1;
  const vmas: Array<{ mm: MmStruct; vma: Vma }> = [];
  for (const mm of machine.procs.values()) {
    if (mm.exited) continue;
    for (const vma of mm.vmas) {
      if (vma.space !== mapping) continue;
      const vEnd = vma.pgoff + (vma.end - vma.start) / ps - 1;
      if (vma.pgoff <= lastIndex && vEnd >= firstIndex) vmas.push({ mm, vma });
    }
  }
  vmas.sort((a, b) => a.vma.pgoff - b.vma.pgoff);
  let w: WalkState<unknown> | null = null;
  let err = 0;
  for (const { mm, vma } of vmas) {
    const vEnd = vma.pgoff + (vma.end - vma.start) / ps;
    const cba = Math.max(firstIndex, vma.pgoff);
    const cea = Math.min(lastIndex + 1, vEnd);
    if (cba >= cea) continue;
    const start = vma.start + (cba - vma.pgoff) * ps;
    const end = vma.start + (cea - vma.pgoff) * ps;
    if (w === null) {
      w = new WalkState(
        ops as MmWalkOps<unknown>,
        machine,
        mm,
        false,
        opts.flavour ?? "mainline",
        priv as unknown,
      );
    }
    w.mm = mm;
    w.vma = vma;
    err = walkPageTest(w, vma.start, vma.end);
    if (err > 0) {
      err = 0;
      break;
    }
    if (err < 0) break;
    err = walkVmaRange(w, start, end);
    if (err) break;
  }
  return err;
}

/**
 * The no-VMA walk of a user mm behind walk_page_range_debug() (the public
 * entry point, with the kernel's checks and init_mm handling, is
 * walkPageRangeDebug in src/walk/kernel-walk.ts): walk any range of @mm without VMAs (ptdump):
 * holes are only none table entries, with their depth; leaves and
 * non-present entries above PTE level are never descended nor split; PTEs
 * are visited without their PTL. Hugetlb gets no special treatment.
 *
 * Locking: mmap lock of @mm held for write.
 *
 * Return: 0, or the first non-zero callback result; -EINVAL when
 * `start >= end` or `installPte` is set.
 */
export function walkPageRangeNoVma<P>(
  machine: Machine,
  mm: MmStruct,
  start: number,
  end: number,
  ops: MmWalkOps<P>,
  priv: P,
): number {
  if (start >= end || ops.installPte) return -EINVAL;
  mm.mmapLock.assertWriteLocked("walk_page_range_debug");
  const w = new WalkState(
    ops as MmWalkOps<unknown>,
    machine,
    mm,
    true,
    "mainline",
    priv as unknown,
  );
  return walkPgdRange(w, start, end);
}
