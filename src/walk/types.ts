import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { PageTable } from "../mm/pgtable.js";
import type { Vma } from "../mm/vma.js";

/** enum page_walk_action: what a pud/pmd callback asks the walker to do next. */
export const WalkAction = { SUBTREE: 0, CONTINUE: 1, AGAIN: 2 } as const;
export type WalkAction = (typeof WalkAction)[keyof typeof WalkAction];

/** enum page_walk_lock. */
export const PageWalkLock = {
  RDLOCK: 0,
  WRLOCK: 1,
  WRLOCK_VERIFY: 2,
  VMA_RDLOCK_VERIFY: 3,
} as const;
export type PageWalkLock = (typeof PageWalkLock)[keyof typeof PageWalkLock];

/** How hugetlb VMAs are walked: today's kernel, or the unified RFC (seed 002). */
export type WalkFlavour = "mainline" | "unified";

/**
 * An entry "pointer" (pte_t *, pmd_t *, ...): the table and the index in it.
 * For a folded level, the slot of the level above.
 */
export interface EntrySlot {
  table: PageTable;
  index: number;
}

/**
 * struct mm_walk_ops. Every callback is optional; `addr`/`next` is the
 * half-open range covered, clipped to the walk. Entry callbacks receive the
 * table and index of the entry (read it through the arch codec, never by
 * bits). Return 0 to continue, > 0 to stop the walk returning that value,
 * < 0 to stop with that (negative errno) value.
 */
export interface MmWalkOps<P = unknown> {
  pgdEntry?(table: PageTable, index: number, addr: number, next: number, walk: MmWalk<P>): number;
  p4dEntry?(table: PageTable, index: number, addr: number, next: number, walk: MmWalk<P>): number;
  pudEntry?(table: PageTable, index: number, addr: number, next: number, walk: MmWalk<P>): number;
  pmdEntry?(table: PageTable, index: number, addr: number, next: number, walk: MmWalk<P>): number;
  pteEntry?(table: PageTable, index: number, addr: number, next: number, walk: MmWalk<P>): number;
  /** depth: -1 VMA level / unknown, 0 PGD, 1 P4D, 2 PUD, 3 PMD. */
  pteHole?(addr: number, next: number, depth: number, walk: MmWalk<P>): number;
  /** mainline flavour only: one call per huge page whose slot exists (the entry may be none). */
  hugetlbEntry?(
    table: PageTable,
    index: number,
    hmask: number,
    addr: number,
    next: number,
    walk: MmWalk<P>,
  ): number;
  testWalk?(start: number, end: number, walk: MmWalk<P>): number;
  preVma?(start: number, end: number, walk: MmWalk<P>): number;
  postVma?(walk: MmWalk<P>): void;
  /**
   * mm-internal install mode (walk_page_range_mm): called for each none PTE
   * instead of pteEntry; write the new entry's halves into `out[0]` (lo) and
   * `out[1]` (hi). Refused (-EINVAL) by every public entry point.
   */
  installPte?(addr: number, next: number, out: Uint32Array, walk: MmWalk<P>): number;
  readonly walkLock?: PageWalkLock;
}

/** struct mm_walk. */
export interface MmWalk<P = unknown> {
  readonly ops: MmWalkOps<P>;
  readonly machine: Machine;
  readonly mm: MmStruct;
  vma: Vma | null;
  action: WalkAction;
  readonly noVma: boolean;
  readonly flavour: WalkFlavour;
  readonly private: P;
}
