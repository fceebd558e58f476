import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import { VM, type Vma } from "../mm/vma.js";
import { KernelError } from "../scenario/errors.js";
import { splitPmdAt } from "./thp.js";

/*
 * VMA splitting and merging (mm/vma.c): __split_vma, vma_merge_existing_range
 * and the mergeability rules of is_mergeable_vma / is_mergeable_anon_vma.
 */

/** Flags a merge ignores (VM_IGNORE_MERGE: soft-dirty and the guard hint). */
const IGNORE_MERGE = VM.SOFTDIRTY | VM.MAYBE_GUARD;

/** Whether `a` and `b` (a ends where b starts) may become one VMA. */
export function canMerge(m: Machine, a: Vma, b: Vma): boolean {
  if (a.end !== b.start) return false;
  if ((a.flags & ~IGNORE_MERGE) !== (b.flags & ~IGNORE_MERGE) || a.flagsHi !== b.flagsHi)
    return false;
  if (a.backing.kind !== b.backing.kind) return false;
  if (a.backing.kind !== "anon" && a.space !== b.space) return false;
  const pages = (a.end - a.start) / m.arch.geometry.pageSize;
  if (a.pgoff + pages !== b.pgoff) return false;
  if (a.uffd !== b.uffd) return false;
  if (a.policy !== b.policy) return false;
  if (a.forkChild || b.forkChild) {
    // Fork never merges, and a fork child's anon_vma is never shared.
    if (a.anonVma !== b.anonVma) return false;
  }
  if (a.anonVma && b.anonVma && a.anonVma !== b.anonVma) return false;
  const one = a.anonVma ?? b.anonVma;
  if (one && a.anonVma !== b.anonVma && one.forkChild) return false;
  return true;
}

/**
 * __split_vma(): cut `vma` at `addr`, returning the upper part (inserted
 * after it). Both parts share the anon_vma. A PMD leaf straddling `addr`
 * is split first (vma_adjust_trans_huge).
 */
export function splitVma(m: Machine, mm: MmStruct, vma: Vma, addr: number): Vma {
  if (addr <= vma.start || addr >= vma.end)
    throw new Error(`bad split of ${vma.start.toString(16)} at ${addr.toString(16)}`);
  if (vma.backing.kind === "hugetlb" && addr % vma.backing.hugeSize !== 0) {
    throw new KernelError("EINVAL", "hugetlb VMA split off a huge page boundary");
  }
  if (vma.backing.kind !== "hugetlb" && addr % 2 ** m.arch.geometry.pmdShift !== 0)
    splitPmdAt(m, mm, addr);
  const upper = vma.clone();
  upper.start = addr;
  upper.pgoff = vma.pgoff + (addr - vma.start) / m.arch.geometry.pageSize;
  vma.end = addr;
  mm.insertVma(upper);
  return upper;
}

/**
 * Isolate [start, end) inside one VMA by splitting at its ends; returns the
 * VMA covering exactly the range's part of `vma`.
 */
export function isolateRange(m: Machine, mm: MmStruct, vma: Vma, start: number, end: number): Vma {
  let v = vma;
  if (start > v.start) v = splitVma(m, mm, v, start);
  if (end < v.end) splitVma(m, mm, v, end);
  return v;
}

/** Check (before any change) that splitting VMAs at start/end is allowed (hugetlb alignment). */
export function checkSplittable(mm: MmStruct, start: number, end: number): void {
  for (const v of mm.vmasIn(start, end)) {
    if (v.backing.kind !== "hugetlb") continue;
    const hs = v.backing.hugeSize;
    if ((start > v.start && start % hs !== 0) || (end < v.end && end % hs !== 0)) {
      throw new KernelError("EINVAL", "range splits a huge page");
    }
  }
}

/** Merge `vma` with its neighbours where allowed (vma_merge_existing_range). */
export function mergeAround(m: Machine, mm: MmStruct, vma: Vma): Vma {
  let v = vma;
  const i = mm.vmas.indexOf(v);
  const prev = i > 0 ? mm.vmas[i - 1]! : null;
  if (prev && canMerge(m, prev, v)) {
    prev.end = v.end;
    prev.anonVma = prev.anonVma ?? v.anonVma;
    mm.removeVma(v);
    v = prev;
  }
  const j = mm.vmas.indexOf(v);
  const next = j + 1 < mm.vmas.length ? mm.vmas[j + 1]! : null;
  if (next && canMerge(m, v, next)) {
    v.end = next.end;
    v.anonVma = v.anonVma ?? next.anonVma;
    mm.removeVma(next);
  }
  return v;
}

/**
 * Apply `change` to every VMA piece in [start, end) (splitting at the ends),
 * then merge each piece with its neighbours: the vma_modify_flags pattern.
 * The range must be fully mapped (ENOMEM otherwise).
 */
export function modifyRange(
  m: Machine,
  mm: MmStruct,
  start: number,
  end: number,
  change: (v: Vma) => void,
): void {
  requireMapped(mm, start, end);
  checkSplittable(mm, start, end);
  const pieces = mm
    .vmasIn(start, end)
    .map((v) => isolateRange(m, mm, v, Math.max(start, v.start), Math.min(end, v.end)));
  for (const p of pieces) change(p);
  for (const p of pieces) if (mm.vmas.includes(p)) mergeAround(m, mm, p);
}

/** ENOMEM when part of [start, end) is not mapped (madvise, mprotect, mlock). */
export function requireMapped(mm: MmStruct, start: number, end: number): void {
  let a = start;
  for (const v of mm.vmasIn(start, end)) {
    if (v.start > a) throw new KernelError("ENOMEM", "range not fully mapped");
    a = v.end;
  }
  if (a < end) throw new KernelError("ENOMEM", "range not fully mapped");
}
