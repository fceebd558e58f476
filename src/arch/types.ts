/**
 * The architecture layer's contract. Everything above `src/arch` sees page
 * table entries only through an {@link ArchCodec}: it never names a bit.
 *
 * Entries are the architecture's real 64-bit values, stored in page tables as
 * two 32-bit halves (`lo` = bits 0..31, `hi` = bits 32..63) in a Uint32Array,
 * entry `i` at words `2*i` and `2*i+1`. Decoders take the two halves and
 * return plain numbers or booleans; encoders write the two halves into a
 * table at an entry index. Nothing here allocates.
 */

/** Linux's walk levels, top-down. Folded levels still exist in the walk. */
export const Level = { PGD: 0, P4D: 1, PUD: 2, PMD: 3, PTE: 4 } as const;
export type Level = (typeof Level)[keyof typeof Level];

export const LEVEL_NAMES = ["pgd", "p4d", "pud", "pmd", "pte"] as const;

/**
 * Architecture-neutral names for the properties of a *present* leaf entry.
 * The codec maps them to real bits (or to combinations, e.g. x86 SavedDirty).
 */
export const PteFlag = {
  WRITE: 1 << 0,
  YOUNG: 1 << 1,
  DIRTY: 1 << 2,
  EXEC: 1 << 3,
  /** pte_special(): no struct page behind it (zero page, PFN map). */
  SPECIAL: 1 << 4,
  UFFD_WP: 1 << 5,
  SOFT_DIRTY: 1 << 6,
  /** PROT_NONE / NUMA-hint: "present" to Linux, not to the MMU. */
  PROTNONE: 1 << 7,
  /** Kernel mapping (no user bit). */
  KERNEL: 1 << 8,
  /** Global (kernel mappings only). */
  GLOBAL: 1 << 9,
} as const;

/** Flags that live only in non-present (swap-format) entries. */
export const SwpFlag = { EXCLUSIVE: 1 << 0, SOFT_DIRTY: 1 << 1, UFFD_WP: 1 << 2 } as const;

/** One level of the hardware walk, as data. */
export interface LevelGeometry {
  readonly level: Level;
  /** Bit position of the VA this level indexes. */
  readonly shift: number;
  /** Number of entries in a table of this level (1 when folded). */
  readonly entries: number;
  /** Whether a leaf (block/huge) mapping may sit at this level. */
  readonly leafAllowed: boolean;
  /** Folded at run time: the entry is the parent's entry. */
  readonly folded: boolean;
}

/** A hugetlb page size and how the architecture maps it. */
export interface HugetlbSize {
  readonly name: string; // "2M", "1G", "64K", ...
  readonly bytes: number;
  readonly level: Level;
  /** Number of consecutive entries (contiguous bit / Svnapot); 1 when plain. */
  readonly contig: number;
}

export interface Geometry {
  readonly name: string;
  readonly pageShift: number;
  readonly pageSize: number;
  /** Five rows, PGD..PTE, folded levels included. */
  readonly levels: readonly LevelGeometry[];
  /** Highest user address + 1. */
  readonly userTop: number;
  readonly hugetlbSizes: readonly HugetlbSize[];
  /** Multi-size THP orders that may be enabled (anonymous), in pages, largest first. */
  readonly mthpOrders: readonly number[];
  /** log2 of bytes covered by a PMD leaf. */
  readonly pmdShift: number;
  readonly pudShift: number;
  /** MAX_PHYSMEM_BITS - PAGE_SHIFT: width of the PFN field in PFN swap entries. */
  readonly swpPfnBits: number;
}

/**
 * The entry codec of one architecture. Every function is allocation-free.
 * `level` is the Linux level of the table holding the entry.
 */
export interface ArchCodec {
  readonly geometry: Geometry;

  // ---- classification (generic predicates, kernel names) ----
  /** pte_none()/pmd_none()/pud_none(). */
  isNone(lo: number, hi: number, level: Level): boolean;
  /** pte_present()/pmd_present()/pud_present(): includes PROT_NONE. */
  isPresent(lo: number, hi: number, level: Level): boolean;
  /** pmd_leaf()/pud_leaf(): a present entry maps memory rather than a table. PTEs: always true. */
  isLeaf(lo: number, hi: number, level: Level): boolean;

  // ---- present entries ----
  /** PFN a present leaf maps (for a block leaf: its first PFN). */
  leafPfn(lo: number, hi: number, level: Level): number;
  /** PteFlag mask of a present leaf. DIRTY reads hardware or saved dirty. */
  leafFlags(lo: number, hi: number, level: Level): number;
  /** Write a present leaf: `pfn` is the first frame; `flags` a PteFlag mask. */
  encodeLeaf(dst: Uint32Array, idx: number, pfn: number, flags: number, level: Level): void;
  /** Write a table (non-leaf) entry pointing at the table held in frame `tablePfn`. */
  encodeTable(dst: Uint32Array, idx: number, tablePfn: number, level: Level, kernel: boolean): void;
  /** PFN of the next-level table a non-leaf entry points to. */
  tablePfn(lo: number, hi: number, level: Level): number;

  // ---- swap-format entries (softleaf) ----
  /** Write a swap-format entry of generic `type` (0..31) and `offset`, plus SwpFlag bits. */
  encodeSwp(
    dst: Uint32Array,
    idx: number,
    type: number,
    offset: number,
    swpFlags: number,
    level: Level,
  ): void;
  /** __swp_type() of a non-present, non-none entry. */
  swpType(lo: number, hi: number, level: Level): number;
  /** __swp_offset() of a non-present, non-none entry (flags stripped). */
  swpOffset(lo: number, hi: number, level: Level): number;
  /** SwpFlag mask of a non-present, non-none entry. */
  swpFlags(lo: number, hi: number, level: Level): number;
  /** Whether migration entries store young/dirty above the PFN (migration_entry_supports_ad). */
  readonly migrationSupportsAd: boolean;
}
