/**
 * /proc/pid/clear_refs (fs/proc/task_mmu.c clear_refs_write(),
 * clear_refs_test_walk(), clear_refs_pte_range(); proc.md §6, §12) on
 * every walker generation:
 *
 * - mainline: walk_page_range(mm, 0, TASK_SIZE) with test_walk (VM_PFNMAP
 *   and the type filter) and pmd_entry (pmd_trans_huge_lock() for a THP or
 *   PMD migration entry, else the PTE table under its PTL); no
 *   hugetlb_entry, so hugetlb VMAs are never walked;
 * - unified: the same ops; test_walk also skips hugetlb VMAs (their PMD/PUD
 *   leaves would otherwise reach pmd_entry);
 * - pt_range: pt_range_walk with the same filter plus "skip hugetlb" as
 *   `testVma`, no holes; each result's entries are changed under the lock
 *   the walker holds for it.
 *
 * Values: 1 ALL, 2 ANON (VMAs without vm_file), 3 MAPPED (VMAs with
 * vm_file): present PTEs mapping a normal page and present THP PMDs lose
 * their young bit and the folio its PG_referenced (the model keeps no
 * page-idle "young" flag, so folio_test_clear_young() has nothing to
 * clear); zero-page and special PTEs and every non-present entry are left
 * alone. 4 SOFT_DIRTY (only with CONFIG_MEM_SOFT_DIRTY; a no-op on the
 * reference kernel): VM_SOFTDIRTY cleared on every VMA, then present PTEs
 * and THP PMDs write-protected with soft-dirty cleared, non-present PTEs
 * and PMD migration entries lose the swap soft-dirty bit (the model has no
 * pinned pages, so pte_is_pinned() never holds). 5 MM_HIWATER_RSS resets
 * VmHWM, which the model does not keep: nothing to do, no walk.
 *
 * Entries are changed through the ops layer's primitives (src/ops/
 * entries.ts) and the arch codec only.
 */

import { Level, PteFlag, SwpFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import { PG } from "../mm/pageflags.js";
import type { PageTable } from "../mm/pgtable.js";
import { VM, type Vma } from "../mm/vma.js";
import * as E from "../ops/entries.js";
import { KernelError } from "../scenario/errors.js";
import { walkPageRange } from "../walk/pagewalk.js";
import {
  PtLevel,
  PtRangeWalk,
  PtType,
  ptRangeWalkEnd,
  ptRangeWalkNext,
  ptRangeWalkStart,
} from "../walk/pt-range.js";
import { pteOffsetMapLock } from "../walk/pte-map.js";
import { Softleaf, softleafFromPmd, softleafIsMigration } from "../walk/softleaf.js";
import { type MmWalk, type MmWalkOps, PageWalkLock } from "../walk/types.js";
import { type Generation, normalPage, pmdIsHugeOrSwap } from "./common.js";

/** enum clear_refs_types. */
export const ClearRefs = {
  ALL: 1,
  ANON: 2,
  MAPPED: 3,
  SOFT_DIRTY: 4,
  MM_HIWATER_RSS: 5,
} as const;
export type ClearRefsType = (typeof ClearRefs)[keyof typeof ClearRefs];

/** PROC_NUMBUF - 1: the most bytes of a write that are looked at. */
export const CLEAR_REFS_MAX_BYTES = 12;

/** What a write(2) to clear_refs parses to. */
export interface ClearRefsWrite {
  /** The clear_refs type. */
  value: ClearRefsType;
  /** What write() returns: the count, clamped to {@link CLEAR_REFS_MAX_BYTES}. */
  count: number;
}

const INT_MAX = 2n ** 31n - 1n;
const INT_MIN = -(2n ** 31n);
const U64_MAX = 2n ** 64n - 1n;

/** isspace() of the kernel's _ctype: space, \t, \n, \v, \f, \r. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/**
 * kstrtoull(s, 10) as kstrtoll() calls it on the non-negative branch: an
 * optional '+', at least one decimal digit, optionally one '\n', nothing
 * else. Return: the value, or "EINVAL" / "ERANGE" (beyond u64).
 */
function kstrtoull10(s: string, plusOk: boolean): bigint | "EINVAL" | "ERANGE" {
  let k = 0;
  if (plusOk && s[k] === "+") k++;
  let v = 0n;
  let digits = 0;
  for (; k < s.length; k++, digits++) {
    const c = s.charCodeAt(k);
    if (c < 0x30 || c > 0x39) break;
    v = v * 10n + BigInt(c - 0x30);
    if (v > U64_MAX) return "ERANGE";
  }
  if (digits === 0) return "EINVAL";
  if (s[k] === "\n") k++;
  return k === s.length ? v : "EINVAL";
}

/**
 * clearRefsWrite - parse a write(2) to /proc/pid/clear_refs as
 * clear_refs_write() does: at most 12 bytes are used (the rest is dropped
 * and the call still returns 12), the buffer ends at a NUL, leading and
 * trailing whitespace is stripped (strstrip), and kstrtoint(…, 10) parses
 * the rest: an optional sign, decimal digits only ("+1" and "00001" are 1;
 * "0x1", "1x" and "" are EINVAL); outside the int range → ERANGE. A value
 * outside 1..5 → EINVAL.
 * @text: the bytes written, as a string (UTF-8 encoded to count bytes).
 *
 * Return: the type and the count write() returns. Throws KernelError
 * EINVAL or ERANGE.
 */
export function clearRefsWrite(text: string): ClearRefsWrite {
  const bytes = new TextEncoder().encode(text);
  const count = Math.min(bytes.length, CLEAR_REFS_MAX_BYTES);
  let s = "";
  for (let k = 0; k < count && bytes[k] !== 0; k++) s += String.fromCharCode(bytes[k]!);
  let a = 0;
  let b = s.length;
  while (a < b && isSpace(s.charCodeAt(a))) a++;
  while (b > a && isSpace(s.charCodeAt(b - 1))) b--;
  s = s.slice(a, b);
  let v: bigint;
  if (s[0] === "-") {
    const r = kstrtoull10(s.slice(1), false);
    if (typeof r === "string") throw new KernelError(r, `clear_refs: "${text}"`);
    v = -r;
  } else {
    const r = kstrtoull10(s, true);
    if (typeof r === "string") throw new KernelError(r, `clear_refs: "${text}"`);
    v = r;
  }
  // kstrtoll() refuses what does not fit a long long, kstrtoint() what does not fit an int.
  if (v > INT_MAX || v < INT_MIN) throw new KernelError("ERANGE", `clear_refs: "${text}"`);
  if (v < 1n || v > 5n) throw new KernelError("EINVAL", `clear_refs: type ${v}`);
  return { value: Number(v) as ClearRefsType, count };
}

// ---------------------------------------------------------------------------
// entry actions (every generation)

/** Scratch softleaf (single-threaded model; never retained). */
const S = new Softleaf();

/** folio_clear_referenced() of the folio holding @pfn (its head's flag). */
function folioClearReferenced(m: Machine, pfn: number): void {
  const head = m.phys.folioHead(pfn);
  m.phys.flags[head] = m.phys.flags[head]! & ~PG.REFERENCED;
}

/** ptep_test_and_clear_young() / pmdp_test_and_clear_young(). */
function clearYoung(m: Machine, t: PageTable, i: number): void {
  if (E.leafFlags(m, t, i) & PteFlag.YOUNG) E.updateLeafFlags(m, t, i, 0, PteFlag.YOUNG);
}

/**
 * The THP branch of clear_refs_pte_range() for types 1–3: a present PMD
 * loses its young bit and pmd_folio() its PG_referenced (the huge zero PMD
 * included: the kernel does not test for it).
 */
function clearRefsPmd(m: Machine, t: PageTable, i: number): void {
  if (!E.isPresent(m, t, i)) return;
  clearYoung(m, t, i);
  folioClearReferenced(m, E.leafPfn(m, t, i));
}

/** clear_soft_dirty() of one PTE. */
function clearSoftDirtyPte(m: Machine, t: PageTable, i: number): void {
  if (E.isPresent(m, t, i)) {
    // ptep_modify_prot_start/commit: pte_wrprotect + pte_clear_soft_dirty (young/dirty kept).
    E.updateLeafFlags(m, t, i, 0, PteFlag.WRITE | PteFlag.SOFT_DIRTY);
  } else if (E.isSwp(m, t, i)) {
    const f = E.swpFlags(m, t, i);
    if (f & SwpFlag.SOFT_DIRTY) {
      E.setSwp(m, t, i, E.swpType(m, t, i), E.swpOffset(m, t, i), f & ~SwpFlag.SOFT_DIRTY);
    }
  }
}

/** clear_soft_dirty_pmd(): a present PMD, or a PMD migration entry. */
function clearSoftDirtyPmd(m: Machine, t: PageTable, i: number): void {
  if (E.isPresent(m, t, i)) {
    E.updateLeafFlags(m, t, i, 0, PteFlag.WRITE | PteFlag.SOFT_DIRTY);
  } else if (softleafIsMigration(softleafFromPmd(m, t, i, S))) {
    const f = E.swpFlags(m, t, i);
    if (f & SwpFlag.SOFT_DIRTY) {
      E.setSwp(m, t, i, E.swpType(m, t, i), E.swpOffset(m, t, i), f & ~SwpFlag.SOFT_DIRTY);
    }
  }
}

/**
 * clear_refs_test_walk(): 1 (skip) for VM_PFNMAP, for a VMA with vm_file
 * under ANON, one without under MAPPED and (unified, pt_range) hugetlb.
 */
function clearRefsSkip(vma: Vma, type: ClearRefsType, skipHugetlb: boolean): number {
  if (vma.has(VM.PFNMAP)) return 1;
  // vm_file: file, shmem (MAP_SHARED|MAP_ANONYMOUS included) and hugetlbfs VMAs.
  const hasFile = !vma.isAnon;
  if (type === ClearRefs.ANON && hasFile) return 1;
  if (type === ClearRefs.MAPPED && !hasFile) return 1;
  if (skipHugetlb && vma.isHugetlb) return 1;
  return 0;
}

// ---------------------------------------------------------------------------
// the callback-walker user

interface ClearRefsPriv {
  readonly m: Machine;
  readonly type: ClearRefsType;
}

function crTestWalk(_start: number, _end: number, walk: MmWalk<ClearRefsPriv>): number {
  return clearRefsSkip(walk.vma!, walk.private.type, walk.flavour !== "mainline");
}

/** clear_refs_pte_range(). */
function crPmdEntry(
  t: PageTable,
  i: number,
  start: number,
  end: number,
  walk: MmWalk<ClearRefsPriv>,
): number {
  const { m, type } = walk.private;
  if (pmdIsHugeOrSwap(m, t, i)) {
    // pmd_trans_huge_lock(): a THP leaf or a non-present PMD.
    t.ptl.lock("clear_refs_pte_range");
    try {
      if (type === ClearRefs.SOFT_DIRTY) clearSoftDirtyPmd(m, t, i);
      else clearRefsPmd(m, t, i);
    } finally {
      t.ptl.unlock();
    }
    return 0;
  }
  const pte = pteOffsetMapLock(walk, t, i, "clear_refs_pte_range");
  if (pte === null) return 0;
  const ps = m.arch.geometry.pageSize;
  try {
    let k = walk.mm.pt.index(Level.PTE, start);
    for (let addr = start; addr !== end; addr += ps, k++) {
      if (type === ClearRefs.SOFT_DIRTY) {
        clearSoftDirtyPte(m, pte, k);
        continue;
      }
      if (!E.isPresent(m, pte, k)) continue;
      // vm_normal_folio(): none for the zero page and special entries.
      const page = normalPage(m, pte, k);
      if (page < 0) continue;
      clearYoung(m, pte, k);
      folioClearReferenced(m, page);
    }
  } finally {
    pte.ptl.unlock();
  }
  return 0;
}

const CLEAR_REFS_OPS: MmWalkOps<ClearRefsPriv> = {
  testWalk: crTestWalk,
  pmdEntry: crPmdEntry,
  walkLock: PageWalkLock.WRLOCK,
};

// ---------------------------------------------------------------------------
// the pt_range_walk user

/**
 * One pt_range_walk result (the walker holds the PTL or PMD lock covering
 * its entries). Types 1–3: FOLIO at PTE level — every entry of the batch
 * made old, the folio's PG_referenced cleared; a present PMD (FOLIO, or the
 * huge zero folio's PFN result) as clearRefsPmd(); everything else skipped.
 * Type 4: every entry of a present or non-present result (NONE never comes:
 * holes are not requested).
 */
function crResult(m: Machine, w: PtRangeWalk, t: PtType, type: ClearRefsType): void {
  const tbl = w.table!;
  if (type === ClearRefs.SOFT_DIRTY) {
    if (w.level === PtLevel.PTE) {
      for (let k = 0; k < w.nrEntries; k++) clearSoftDirtyPte(m, tbl, w.index + k);
    } else {
      clearSoftDirtyPmd(m, tbl, w.index);
    }
    return;
  }
  if (w.level !== PtLevel.PTE) {
    if (t === PtType.FOLIO || t === PtType.PFN) clearRefsPmd(m, tbl, w.index);
    return;
  }
  if (t !== PtType.FOLIO) return;
  if (w.young) for (let k = 0; k < w.nrEntries; k++) clearYoung(m, tbl, w.index + k);
  folioClearReferenced(m, w.folio);
}

/** The walk of types 1–4 on pt_range_walk over the whole user address space. */
function clearRefsPtRange(m: Machine, mm: MmStruct, type: ClearRefsType): void {
  const w = new PtRangeWalk();
  const testVma = (vma: Vma): number => clearRefsSkip(vma, type, true);
  try {
    for (
      let t = ptRangeWalkStart(w, m, mm, 0, m.arch.geometry.userTop, 0, testVma);
      t !== null;
      t = ptRangeWalkNext(w)
    ) {
      crResult(m, w, t, type);
    }
  } finally {
    ptRangeWalkEnd(w);
  }
}

/**
 * clearRefs - what a valid write to /proc/pid/clear_refs of @mm does
 * (clear_refs_write() after parsing; see {@link clearRefsWrite}), on the
 * walker generation @gen.
 * @value: the type, 1..5.
 *
 * Locking: takes @mm's mmap lock for write around the whole operation; the
 * walkers take the page-table locks.
 *
 * Return: nothing. Throws KernelError EINVAL for a value outside 1..5.
 */
export function clearRefs(m: Machine, mm: MmStruct, value: number, gen: Generation): void {
  if (!Number.isInteger(value) || value < 1 || value > 5) {
    throw new KernelError("EINVAL", `clear_refs: type ${value}`);
  }
  const type = value as ClearRefsType;
  // reset_mm_hiwater_rss(): the model keeps no VmHWM.
  if (type === ClearRefs.MM_HIWATER_RSS) return;
  // CONFIG_MEM_SOFT_DIRTY off: VM_SOFTDIRTY is VM_NONE and the helpers are empty.
  if (type === ClearRefs.SOFT_DIRTY && !m.config.softDirty) return;
  mm.mmapLock.writeLock("clear_refs_write");
  try {
    if (type === ClearRefs.SOFT_DIRTY) {
      // vm_flags_clear(VM_SOFTDIRTY) + vma_set_page_prot() on every VMA.
      for (const v of mm.vmas) v.flags &= ~VM.SOFTDIRTY;
    }
    if (gen === "pt_range") {
      clearRefsPtRange(m, mm, type);
    } else {
      const priv: ClearRefsPriv = { m, type };
      walkPageRange(m, mm, 0, m.arch.geometry.userTop, CLEAR_REFS_OPS, priv, { flavour: gen });
    }
  } finally {
    mm.mmapLock.writeUnlock();
  }
}
