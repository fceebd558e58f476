/**
 * The no-VMA walkers (mm/pagewalk.c, Linux 6.18; shared/spec/kernel-api.md
 * §2; seed 003 split the old walk_page_range_novma() into these):
 *
 * - walk_kernel_page_table_range(): kernel page tables (init_mm), under
 *   init_mm's mmap lock (read is enough);
 * - walk_kernel_page_table_range_lockless(): the same without any lock
 *   assertion (the caller owns the range exclusively);
 * - walk_page_range_debug(): any mm, any range, for ptdump; mmap write lock
 *   of a user mm, forwarded to the kernel walker for init_mm.
 *
 * All three run the shared level loops of levels.ts in no-VMA mode:
 * `walk.vma` stays null, holes are only none entries (with their depth,
 * folded levels collapsed; never -1), a leaf or non-present entry at PUD or
 * PMD level reaches `pudEntry`/`pmdEntry` and is never descended nor split,
 * and PTEs are visited without their PTL.
 *
 * Addresses are unsigned 64-bit values held in numbers; kernel addresses
 * (≥ 2^63) are exact as long as they are page aligned.
 */

import { getInitMm, isInitMm } from "../mm/init-mm.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { PageTable } from "../mm/pgtable.js";
import { WalkState, walkPgdRange } from "./levels.js";
import { EINVAL, walkPageRangeNoVma as walkUserRangeDebug } from "./pagewalk.js";
import type { MmWalkOps } from "./types.js";

function hex(n: number): string {
  const hi = Math.floor(n / 2 ** 32);
  const lo = n - hi * 2 ** 32;
  return `0x${hi.toString(16)}${lo.toString(16).padStart(8, "0")}`.replace(/^0x0+(?=.)/, "0x");
}

/**
 * The `pgd` argument: NULL (or the mm's own root) walks mm->pgd. Walking
 * another root needs a hook the shared level loops do not have yet
 * (levels.ts: a `pgd` field on WalkState read by walkPgdRange instead of
 * `mm.pt.root`), so any other table is refused loudly.
 */
function checkPgd(mm: MmStruct, pgd: PageTable | null | undefined, who: string): void {
  if (pgd === null || pgd === undefined || pgd === mm.pt.root) return;
  throw new Error(
    `${who}: walking an alternate PGD needs walk->pgd support in src/walk/levels.ts (not there yet)`,
  );
}

/** __walk_page_range_novma(): the checks, then walk_pgd_range() in no-VMA mode. */
function walkNoVma<P>(
  machine: Machine,
  mm: MmStruct,
  start: number,
  end: number,
  ops: MmWalkOps<P>,
  pgd: PageTable | null | undefined,
  priv: P,
  who: string,
): number {
  if (start >= end) return -EINVAL;
  if (ops.installPte) return -EINVAL;
  checkPgd(mm, pgd, who);
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

/**
 * walk_kernel_page_table_range - walk [start, end) of the kernel page tables.
 * @machine: the machine whose init_mm is walked (built on first use).
 * @start: first address (unsigned 64-bit, page aligned).
 * @end: end address, exclusive (2^64 for "to the top").
 * @ops: the callbacks: `pgdEntry`…`pteEntry`, `pteHole`; `testWalk`,
 *       `preVma`, `postVma` and `hugetlbEntry` are never called, `walkLock`
 *       is ignored, `installPte` is refused.
 * @pgd: root to walk instead of init_mm's (NULL: init_mm's own).
 * @priv: the walk's private cookie.
 *
 * No VMAs: holes are reported only for none entries, at their level's
 * depth (x86_64 4-level: empty top-level slots as depth 0 from the folded
 * P4D loop); leaves at any level reach that level's callback and are
 * never descended; PTEs are read without a PTL (pte_offset_kernel()).
 *
 * Locking: init_mm's mmap lock, read or write (mmap_assert_locked()). The
 * caller must also keep the tables from being freed (memory hot-remove);
 * the model never frees kernel tables.
 *
 * Return: 0 when the range was walked; the first non-zero callback result;
 * -EINVAL when @start >= @end or `ops.installPte` is set. Throws LockError
 * (naming the lock, the walker and @start) when init_mm's mmap lock is not
 * held; the lock is checked before the arguments, as in the kernel.
 */
export function walkKernelPageTableRange<P>(
  machine: Machine,
  start: number,
  end: number,
  ops: MmWalkOps<P>,
  pgd: PageTable | null,
  priv: P,
): number {
  const mm = getInitMm(machine);
  const who = `walk_kernel_page_table_range at ${hex(start)}`;
  mm.mmapLock.assertLocked(who);
  return walkNoVma(machine, mm, start, end, ops, pgd, priv, who);
}

/**
 * walk_kernel_page_table_range_lockless - walk_kernel_page_table_range()
 * without the lock assertion (arm64 pageattr: the caller has exclusive
 * access to the range, e.g. while changing vmalloc permissions).
 * @machine, @start, @end, @ops, @pgd, @priv: as walk_kernel_page_table_range().
 *
 * Locking: none asserted; the caller guarantees that nothing changes or
 * frees the tables of [start, end) during the walk.
 *
 * Return: as walk_kernel_page_table_range() (-EINVAL for @start >= @end or
 * `ops.installPte`).
 */
export function walkKernelPageTableRangeLockless<P>(
  machine: Machine,
  start: number,
  end: number,
  ops: MmWalkOps<P>,
  pgd: PageTable | null,
  priv: P,
): number {
  const mm = getInitMm(machine);
  return walkNoVma(
    machine,
    mm,
    start,
    end,
    ops,
    pgd,
    priv,
    `walk_kernel_page_table_range_lockless at ${hex(start)}`,
  );
}

/**
 * walk_page_range_debug - walk [start, end) of @mm's page tables without
 * regard to VMAs (ptdump only). For init_mm it is
 * walk_kernel_page_table_range(); for a user mm it runs the same no-VMA
 * walk (pagewalk.ts walkPageRangeDebug): user-half PTEs are read with
 * pte_offset_map(), still without the PTL.
 * @machine: the machine.
 * @mm: the address space (null: -EINVAL).
 * @start, @end: the range (unsigned 64-bit, page aligned; end exclusive).
 * @ops: as walk_kernel_page_table_range().
 * @pgd: root to walk instead of @mm's (NULL: @mm's own).
 * @priv: the walk's private cookie.
 *
 * Locking: @mm's mmap lock held for write (a read lock is not enough:
 * munmap() detaches VMAs and then frees their tables under a downgraded
 * read lock); for init_mm, init_mm's mmap lock in either mode.
 *
 * Return: 0, the first non-zero callback result, or -EINVAL when @mm is
 * null, @start >= @end or `ops.installPte` is set. Throws LockError (naming
 * the lock, the walker and @start) when the lock is not held as required.
 */
export function walkPageRangeDebug<P>(
  machine: Machine,
  mm: MmStruct | null,
  start: number,
  end: number,
  ops: MmWalkOps<P>,
  pgd: PageTable | null,
  priv: P,
): number {
  if (mm === null) return -EINVAL;
  if (isInitMm(machine, mm)) return walkKernelPageTableRange(machine, start, end, ops, pgd, priv);
  const who = `walk_page_range_debug at ${hex(start)}`;
  mm.mmapLock.assertWriteLocked(who);
  checkPgd(mm, pgd, who);
  return walkUserRangeDebug(machine, mm, start, end, ops, priv);
}
