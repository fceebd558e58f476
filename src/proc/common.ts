/**
 * Helpers the /proc users share (proc.md §1): which page an entry names,
 * folio flags, entry classification through the arch codec, and the
 * walker generation type. Every user takes a {@link Generation} and runs
 * on it: "mainline" and "unified" are the callback walker's flavours (a
 * Generation other than "pt_range" is a WalkFlavour), "pt_range" is
 * pt_range_walk; nothing maps one generation onto another.
 */
import { Level, PteFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import { PG } from "../mm/pageflags.js";
import type { PageTable } from "../mm/pgtable.js";
import type { Vma } from "../mm/vma.js";
import type { WalkerGeneration } from "../scenario/run.js";
import {
  Softleaf,
  softleafFromPmd,
  softleafFromPte,
  softleafHasPfn,
  softleafToPfn,
} from "../walk/softleaf.js";

/** Scratch softleaf of the helpers below (single-threaded model; never retained). */
const SCRATCH = new Softleaf();

/** 2^k (a table read: `2 ** k` of a variable compiles to a pow() call). */
export const POW2: Float64Array = Float64Array.from({ length: 64 }, (_, k) => 2 ** k);

/** A walker generation as the /proc users take it (scenario/run.ts WalkerGeneration). */
export type Generation = WalkerGeneration;

export function entryIsNone(m: Machine, t: PageTable, i: number): boolean {
  return m.arch.isNone(t.words[i * 2]!, t.words[i * 2 + 1]!, t.level);
}

export function entryIsPresent(m: Machine, t: PageTable, i: number): boolean {
  return m.arch.isPresent(t.words[i * 2]!, t.words[i * 2 + 1]!, t.level);
}

/**
 * pmd_trans_huge_lock()'s test: a present PMD leaf or a non-present (swap,
 * migration) PMD — anything that is not none and not a table.
 */
export function pmdIsHugeOrSwap(m: Machine, t: PageTable, i: number): boolean {
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  if (m.arch.isNone(lo, hi, t.level)) return false;
  return !m.arch.isPresent(lo, hi, t.level) || m.arch.isLeaf(lo, hi, t.level);
}

/**
 * pte_present() of a hugetlb entry: mainline reads every hugetlb entry as
 * a PTE (huge_ptep_get), whatever level holds it.
 */
export function hugePresent(m: Machine, t: PageTable, i: number): boolean {
  return m.arch.isPresent(t.words[i * 2]!, t.words[i * 2 + 1]!, Level.PTE);
}

/**
 * vm_normal_page() / vm_normal_page_pmd(): the page a present leaf maps, or
 * -1 for the zero pages and special entries.
 */
export function normalPage(m: Machine, t: PageTable, i: number): number {
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  if ((m.arch.leafFlags(lo, hi, t.level) & PteFlag.SPECIAL) !== 0) return -1;
  const pfn = m.arch.leafPfn(lo, hi, t.level);
  if (pfn === m.phys.zeroPfn || pfn === m.phys.hugeZeroPfn) return -1;
  return pfn;
}

/** Page flags of the folio holding `pfn` (its head's). */
export function folioFlags(m: Machine, pfn: number): number {
  return m.phys.flags[m.phys.folioHead(pfn)]!;
}

/**
 * The page a PFN-carrying non-present entry names (migration, device,
 * hwpoison), or -1 for swap entries and markers (softleaf_has_pfn() /
 * softleaf_to_pfn()). The entry is read as a PTE, as mainline reads hugetlb
 * entries; use {@link softleafPmdPage} for THP PMDs.
 */
export function softleafPage(m: Machine, t: PageTable, i: number): number {
  const e = softleafFromPte(m, t, i, SCRATCH);
  return softleafHasPfn(e) ? softleafToPfn(e) : -1;
}

/** softleafPage() for a PMD entry (softleaf_from_pmd()). */
export function softleafPmdPage(m: Machine, t: PageTable, i: number): number {
  const e = softleafFromPmd(m, t, i, SCRATCH);
  return softleafHasPfn(e) ? softleafToPfn(e) : -1;
}

/** Whether a VMA maps a shmem object (memfd, tmpfs, shared anonymous). */
export function vmaIsShmem(vma: Vma): boolean {
  return vma.backing.kind === "file" && vma.backing.space.swapBacked;
}

/** The hugetlb page size of a hugetlb VMA, 0 otherwise. */
export function hugeSizeOf(vma: Vma): number {
  return vma.backing.kind === "hugetlb" ? vma.backing.hugeSize : 0;
}

/** The page-table level a hugetlb VMA's entries live at. */
export function hugeLevelOf(m: Machine, vma: Vma): Level {
  const size = hugeSizeOf(vma);
  for (const hs of m.arch.geometry.hugetlbSizes) if (hs.bytes === size) return hs.level;
  throw new Error(`no hugetlb size of ${size} bytes`);
}

/** Whether `pfn` is a page of the huge zero folio. */
export function isHugeZero(m: Machine, pfn: number): boolean {
  const hz = m.phys.hugeZeroPfn;
  return hz >= 0 && pfn >= hz && pfn < hz + m.phys.folioNr(hz);
}

export { PG };
