/**
 * The types and constants of pt_range_walk (pt-range.ts): the result types,
 * levels and flags, and the walk state {@link PtRangeWalk}. Our design
 * (kernel-api.md §5.3) apart from the PT_TYPE_* names and their order.
 */
import { Level } from "../arch/types.js";
import type { RwLock, SpinLock } from "../mm/locks.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { PageTable } from "../mm/pgtable.js";
import type { Vma } from "../mm/vma.js";
import { Softleaf } from "./softleaf.js";

/** Result types, in the RFC's order (PT_TYPE_*). */
export const PtType = {
  NONE: 0,
  FOLIO: 1,
  MARKER: 2,
  PFN: 3,
  SWAP: 4,
  MIGRATION: 5,
  DEVICE: 6,
  HWPOISON: 7,
} as const;
export type PtType = (typeof PtType)[keyof typeof PtType];
export const PT_TYPE_NAMES = [
  "none",
  "folio",
  "marker",
  "pfn",
  "swap",
  "migration",
  "device",
  "hwpoison",
] as const;

/** Level of a result's entry (folio_walk's order, extended). P4D/PGD occur only on NONE. */
export const PtLevel = { PTE: 0, PMD: 1, PUD: 2, P4D: 3, PGD: 4 } as const;
export type PtLevel = (typeof PtLevel)[keyof typeof PtLevel];

/** The PtLevel of an arch {@link Level} (PGD 0 … PTE 4 there). */
export function ptLevelOf(level: Level): PtLevel {
  return (Level.PTE - level) as PtLevel;
}

/** Report NONE results (holes); off by default. */
export const PT_WALK_HOLES = 1 << 0;
/** One entry per result (no PTE/swap batching; hugetlb groups stay whole). For tests. */
export const PT_WALK_NO_BATCH = 1 << 1;
/** In file-backed hugetlb VMAs, take the mapping's i_mmap lock for write before any PTL. */
export const PT_WALK_I_MMAP_WRITE = 1 << 2;
/**
 * Ours, for callers that do not hold the mmap lock: the walker takes it for
 * read at start and drops it at the end. Without it the caller must hold it
 * (read, or write) for the whole walk; it is asserted on every step.
 */
export const PT_WALK_MMAP_LOCK = 1 << 3;

/**
 * Called once when the walk enters a VMA, before any result from it, with
 * the part of the VMA inside the walk range: 0 walks it, > 0 skips it (no
 * result at all, not even NONE), < 0 ends the walk with that errno
 * (`next()` returns null, `w.error` holds it). Replaces the default policy
 * (VM_PFNMAP VMAs are one NONE result and never descended), as test_walk
 * replaces walk_page_test()'s.
 */
export type PtTestVma = (vma: Vma, start: number, end: number, w: PtRangeWalk) => number;

/**
 * struct pt_range_walk. The public fields describe the current result and
 * are valid until the next ptRangeWalkNext()/ptRangeWalkEnd(). Folios and
 * pages are PFNs (the folio is its head PFN); -1 means "none".
 */
export class PtRangeWalk {
  // ---- public: the current result ----
  type: PtType = PtType.NONE;
  /** Level of the entry (for NONE: of the none entry found; PGD for gaps and PFNMAP VMAs). */
  level: PtLevel = PtLevel.PTE;
  /** First address covered, clipped to the walk range and the VMA. */
  addr = 0;
  /** Exclusive end. */
  next = 0;
  nrPages = 0;
  /** Page-table entries the result consumed (batch length; 1 for PMD/PUD leaves). */
  nrEntries = 0;
  /** Start of the (first) entry's span, before clipping (addr - entryStart = offset into a huge entry). */
  entryStart = 0;
  /** Null only for NONE results in gaps between VMAs. */
  vma: Vma | null = null;
  hugetlb = false;
  /** A cont-PTE/cont-PMD hugetlb group (never on x86). */
  cont = false;
  /** FOLIO; MIGRATION/DEVICE/HWPOISON (from the softleaf PFN); the zero folio on zero-page PFN results. */
  folio = -1;
  /** The page mapping `addr` (folio_walk's subpage rule), -1 if none. */
  page = -1;
  /** PFN mapped at `addr` for FOLIO and PFN results, -1 otherwise. */
  pfn = -1;
  /** Non-present results: the decoded softleaf of the first entry (swp flags included). */
  readonly leaf = new Softleaf();
  /** PFN result that is the shared zero page (PTE) or the huge zero folio (PMD). */
  zero = false;
  write = false;
  young = false;
  dirty = false;
  softDirty = false;
  uffdWp = false;
  swpExclusive = false;
  /** First entry's table and slot (null for NONE results without a table). */
  table: PageTable | null = null;
  index = -1;
  /** Negative errno when the walk ended early (testVma, bad range). */
  error = 0;

  // ---- private ----
  /** @internal */ m: Machine | null = null;
  /** @internal */ mm: MmStruct | null = null;
  /** @internal */ cursor = 0;
  /** @internal */ end = 0;
  /** @internal */ flags = 0;
  /** @internal */ testVma: PtTestVma | null = null;
  /** @internal */ done = true;
  /** @internal */ curVma: Vma | null = null;
  /** @internal */ vmaEnd = 0;
  /** @internal */ hugeSize = 0;
  /** @internal the locked PTE table and the end of the part of it still to walk */
  pteT: PageTable | null = null;
  /** @internal */ pteSpanEnd = 0;
  /** @internal Address of entry 0 of `pteT`. */ pteBase = 0;
  /** @internal Slot of `pteT` at `cursor` (kept in step with it while `pteT` is set). */
  pteIdx = 0;
  /** @internal Slot of `pteT` at `pteSpanEnd` (exclusive). */ pteIdxEnd = 0;
  /**
   * @internal The result fields a present PTE result of `pteT` shares with
   * the previous one (vma, hugetlb, table, level, cont, swpExclusive, an
   * empty leaf) already hold those values: set by the present-PTE path,
   * cleared by every other writer of the result and at each table lock.
   */
  pteInv = false;
  /** @internal The walk's mmap lock (mm.mmapLock). */ mmapLock: RwLock | null = null;
  /** @internal Page size of the walk's machine. */ pageSize = 4096;
  /**
   * @internal The last PMD table the descent went through, the address span
   * it covers, and the parent entry that pointed to it (re-checked before
   * the table is reused: PMD tables are not freed under the mmap lock).
   */ pmdT: PageTable | null = null;
  /** @internal */ pmdSpanStart = 0;
  /** @internal */ pmdSpanEnd = 0;
  /** @internal */ pmdParent: PageTable | null = null;
  /** @internal */ pmdParentIdx = 0;
  /** @internal */ pmdParentLo = 0;
  /** @internal */ pmdParentHi = 0;
  /** @internal PMD/PUD lock of the current result */
  resultPtl: SpinLock | null = null;
  /** @internal */ hugetlbLock: RwLock | null = null;
  /** @internal */ iMmapLocked: RwLock | null = null;
  /** @internal */ ownMmapLock = false;
  /** @internal */ readonly ptent = new Uint32Array(2);
}
