/**
 * The batching helpers (shared/spec/kernel-api.md §7): folio_pte_batch()
 * (mm/util.c), folio_pte_batch_flags() with its FPB_* flags (mm/internal.h),
 * swap_pte_batch() (mm/internal.h) and the pt_range RFC's folio_pmd_batch()
 * (seed 000).
 *
 * Entries are compared through the arch codec: a PTE "equals the expected
 * one apart from the ignored bits" when it is present, maps the expected PFN
 * and its {@link PteFlag} mask, with the ignored flags cleared, equals the
 * first entry's. (The kernel compares raw values after clearing the ignored
 * bits; the codec's flag mask covers every bit the model ever sets, so the
 * two agree.) Nothing here allocates.
 *
 * The caller must cap `maxNr` so that the scan stays inside one page table
 * and one VMA (the kernel reads out of bounds otherwise); the helpers check
 * the table bound and throw.
 */
import { Level, PteFlag } from "../arch/types.js";
import { LockError } from "../mm/locks.js";
import type { Machine } from "../mm/machine.js";
import type { PageTable } from "../mm/pgtable.js";
import type { Vma } from "../mm/vma.js";
import { SoftleafType, softleafTypeFromSwpType } from "./softleaf.js";

/** fpb_t flags (mm/internal.h). */
export const FPB_RESPECT_DIRTY = 1 << 0;
export const FPB_RESPECT_SOFT_DIRTY = 1 << 1;
export const FPB_RESPECT_WRITE = 1 << 2;
export const FPB_MERGE_WRITE = 1 << 3;
export const FPB_MERGE_YOUNG_DIRTY = 1 << 4;
/**
 * Model-only: also respect the accessed (young) bit, which the kernel's
 * helper always ignores. pt_range_walk uses it so that every page of a batch
 * has the same young bit (kernel-api.md §5.3, §9 item 3).
 */
export const FPB_RESPECT_YOUNG = 1 << 5;
/** Every bit respected: what pt_range_walk batches with. */
export const FPB_RESPECT_ALL =
  FPB_RESPECT_DIRTY | FPB_RESPECT_SOFT_DIRTY | FPB_RESPECT_WRITE | FPB_RESPECT_YOUNG;

/** The PteFlag bits a flag set makes the comparison ignore. */
function ignoredMask(flags: number): number {
  let ign = 0;
  if ((flags & FPB_RESPECT_YOUNG) === 0) ign |= PteFlag.YOUNG;
  if ((flags & FPB_RESPECT_DIRTY) === 0) ign |= PteFlag.DIRTY;
  if ((flags & FPB_RESPECT_SOFT_DIRTY) === 0) ign |= PteFlag.SOFT_DIRTY;
  if ((flags & FPB_RESPECT_WRITE) === 0) ign |= PteFlag.WRITE;
  return ign;
}

function assertPtl(t: PageTable, who: string, i: number): void {
  if (!t.ptl.held) {
    throw new LockError(
      `${who}: reading entry ${i} of table ${t.pfn.toString(16)} without ${t.ptl.name}`,
    );
  }
}

/**
 * folio_pte_batch_flags - the number of consecutive PTEs from slot @i of @t
 * that map consecutive pages of @folio with bits equal to the first one's
 * apart from those @flags ignore.
 * @folio: head PFN of a large folio; the first PTE must map one of its pages.
 * @vma: needed with FPB_MERGE_WRITE (null otherwise).
 * @ptent: the caller's copy of the first PTE ([lo, hi] at index 0); with the
 *   merge flags it is updated: FPB_MERGE_WRITE makes it writable if any PTE
 *   of the batch is, FPB_MERGE_YOUNG_DIRTY ORs young and dirty into it.
 * @maxNr: at least 1, capped by the caller to the page table and VMA; it is
 *   further capped to the pages left in the folio.
 *
 * Always ignored: young (unless the model-only FPB_RESPECT_YOUNG). Ignored
 * unless respected: dirty, soft-dirty, write. Everything else (uffd-wp,
 * exec, special, PROT_NONE, ...) must match.
 *
 * Locking: the PTL of @t must be held (asserted).
 *
 * Return: the batch length, 1 ≤ n ≤ maxNr. Throws (the kernel VM_WARNs) when
 * a precondition fails.
 */
export function folioPteBatchFlags(
  m: Machine,
  folio: number,
  vma: Vma | null,
  t: PageTable,
  i: number,
  ptent: Uint32Array,
  maxNr: number,
  flags: number,
): number {
  const a = m.arch;
  const phys = m.phys;
  assertPtl(t, "folio_pte_batch", i);
  const lo0 = ptent[0]!;
  const hi0 = ptent[1]!;
  if (maxNr < 1) throw new Error("folio_pte_batch: max_nr < 1");
  if (t.level !== Level.PTE) throw new Error("folio_pte_batch: not a PTE table");
  if (!a.isPresent(lo0, hi0, Level.PTE)) throw new Error("folio_pte_batch: first PTE not present");
  if (phys.order[folio]! === 0) throw new Error("folio_pte_batch: folio is not large");
  if ((flags & FPB_MERGE_WRITE) !== 0 && vma === null) {
    throw new Error("folio_pte_batch: FPB_MERGE_WRITE needs the VMA");
  }
  const pfn0 = a.leafPfn(lo0, hi0, Level.PTE);
  const nrFolio = phys.folioNr(folio);
  if (pfn0 < folio || pfn0 >= folio + nrFolio) {
    throw new Error("folio_pte_batch: first PTE does not map the folio");
  }
  if (i + maxNr > t.entries) throw new Error("folio_pte_batch: max_nr crosses the page table");
  maxNr = Math.min(maxNr, folio + nrFolio - pfn0);
  const ign = ignoredMask(flags);
  const f0 = a.leafFlags(lo0, hi0, Level.PTE);
  const want = f0 & ~ign;
  const w = t.words;
  let anyWrite = (f0 & PteFlag.WRITE) !== 0;
  let anyYoung = (f0 & PteFlag.YOUNG) !== 0;
  let anyDirty = (f0 & PteFlag.DIRTY) !== 0;
  let nr = 1;
  for (; nr < maxNr; nr++) {
    const lo = w[(i + nr) * 2]!;
    const hi = w[(i + nr) * 2 + 1]!;
    if (!a.isPresent(lo, hi, Level.PTE)) break;
    if (a.leafPfn(lo, hi, Level.PTE) !== pfn0 + nr) break;
    const f = a.leafFlags(lo, hi, Level.PTE);
    if ((f & ~ign) !== want) break;
    if (f & PteFlag.WRITE) anyWrite = true;
    if (f & PteFlag.YOUNG) anyYoung = true;
    if (f & PteFlag.DIRTY) anyDirty = true;
  }
  let merged = f0;
  if (flags & FPB_MERGE_WRITE && anyWrite) merged |= PteFlag.WRITE;
  if (flags & FPB_MERGE_YOUNG_DIRTY) {
    if (anyYoung) merged |= PteFlag.YOUNG;
    if (anyDirty) merged |= PteFlag.DIRTY;
  }
  if (merged !== f0) a.encodeLeaf(ptent, 0, pfn0, merged, Level.PTE);
  return nr;
}

/** Scratch copy for folioPteBatch() (the caller's copy is not kept). */
const PTENT = new Uint32Array(2);

/**
 * folio_pte_batch - folio_pte_batch_flags() with no flags and a private copy
 * of the first PTE: dirty, soft-dirty, write and young are ignored.
 *
 * Locking: the PTL of @t must be held (asserted).
 *
 * Return: the batch length, 1 ≤ n ≤ maxNr.
 */
export function folioPteBatch(
  m: Machine,
  folio: number,
  t: PageTable,
  i: number,
  maxNr: number,
): number {
  PTENT[0] = t.words[i * 2]!;
  PTENT[1] = t.words[i * 2 + 1]!;
  return folioPteBatchFlags(m, folio, null, t, i, PTENT, maxNr, 0);
}

/**
 * swap_pte_batch - the number of consecutive PTEs from slot @i of @t that are
 * swap entries of the first one's swap type, offsets increasing by one, with
 * identical swp flag bits (exclusive, soft-dirty, uffd-wp): pte_same()
 * against the expected next entry.
 * @maxNr: at least 1, capped by the caller to the page table and VMA.
 *
 * Locking: the PTL of @t must be held (asserted).
 *
 * Return: the batch length, 1 ≤ n ≤ maxNr. Throws when the first PTE is not
 * a swap entry (the kernel VM_WARNs).
 */
export function swapPteBatch(m: Machine, t: PageTable, i: number, maxNr: number): number {
  const a = m.arch;
  assertPtl(t, "swap_pte_batch", i);
  const w = t.words;
  const lo0 = w[i * 2]!;
  const hi0 = w[i * 2 + 1]!;
  if (maxNr < 1) throw new Error("swap_pte_batch: max_nr < 1");
  if (i + maxNr > t.entries) throw new Error("swap_pte_batch: max_nr crosses the page table");
  if (a.isNone(lo0, hi0, Level.PTE) || a.isPresent(lo0, hi0, Level.PTE)) {
    throw new Error("swap_pte_batch: first PTE is not a swap entry");
  }
  const type = a.swpType(lo0, hi0, Level.PTE);
  if (softleafTypeFromSwpType(m.swapTypes, type) !== SoftleafType.SWAP) {
    throw new Error("swap_pte_batch: first PTE is not a swap entry");
  }
  const off0 = a.swpOffset(lo0, hi0, Level.PTE);
  const sf0 = a.swpFlags(lo0, hi0, Level.PTE);
  let nr = 1;
  for (; nr < maxNr; nr++) {
    const lo = w[(i + nr) * 2]!;
    const hi = w[(i + nr) * 2 + 1]!;
    if (a.isNone(lo, hi, Level.PTE) || a.isPresent(lo, hi, Level.PTE)) break;
    if (a.swpType(lo, hi, Level.PTE) !== type) break;
    if (a.swpOffset(lo, hi, Level.PTE) !== off0 + nr) break;
    if (a.swpFlags(lo, hi, Level.PTE) !== sf0) break;
  }
  return nr;
}

/**
 * folio_pmd_batch - the PMD-level counterpart of folio_pte_batch (pt_range
 * RFC patch 3, seed 000; its body was not published). **Our decision**
 * (kernel-api.md §7.3): consecutive present PMD leaves from slot @i of @t (a
 * PMD table) mapping consecutive PMD-sized chunks of @folio — the PFN
 * advancing by PTRS_PER_PTE per entry — with flags equal apart from those
 * @flags ignore (the same FPB_RESPECT_* semantics as folio_pte_batch; young
 * ignored unless FPB_RESPECT_YOUNG; the merge flags are not supported at
 * this level). @maxNr is capped by the caller to the PMD table and VMA and
 * here to the PMD-sized chunks left in the folio, so a walk starting inside
 * a cont-PMD block gets a shortened first batch (the v3 "cont-PMD reading"
 * fix). Its user is cont-PMD hugetlb (arm64: CONT_PMDS = 16 per 32 MiB
 * folio); on x86_64 no folio is mapped by more than one PMD (THP is
 * PMD-sized, 1 GiB hugetlb is a PUD leaf), so the answer there is always 1.
 *
 * Locking: the PMD lock (the PMD table's ptl) must be held (asserted).
 *
 * Return: the batch length, 1 ≤ n ≤ maxNr.
 */
export function folioPmdBatch(
  m: Machine,
  folio: number,
  t: PageTable,
  i: number,
  maxNr: number,
  flags = 0,
): number {
  const a = m.arch;
  assertPtl(t, "folio_pmd_batch", i);
  const w = t.words;
  const lo0 = w[i * 2]!;
  const hi0 = w[i * 2 + 1]!;
  if (maxNr < 1) throw new Error("folio_pmd_batch: max_nr < 1");
  if (t.level !== Level.PMD) throw new Error("folio_pmd_batch: not a PMD table");
  if (!a.isPresent(lo0, hi0, Level.PMD) || !a.isLeaf(lo0, hi0, Level.PMD)) {
    throw new Error("folio_pmd_batch: first PMD is not a present leaf");
  }
  if (i + maxNr > t.entries) throw new Error("folio_pmd_batch: max_nr crosses the PMD table");
  const step = a.geometry.levels[Level.PTE]!.entries;
  const pfn0 = a.leafPfn(lo0, hi0, Level.PMD);
  const nrFolio = m.phys.folioNr(folio);
  if (pfn0 < folio || pfn0 >= folio + nrFolio) {
    throw new Error("folio_pmd_batch: first PMD does not map the folio");
  }
  maxNr = Math.min(maxNr, Math.max(1, Math.floor((folio + nrFolio - pfn0) / step)));
  const ign = ignoredMask(flags);
  const want = a.leafFlags(lo0, hi0, Level.PMD) & ~ign;
  let nr = 1;
  for (; nr < maxNr; nr++) {
    const lo = w[(i + nr) * 2]!;
    const hi = w[(i + nr) * 2 + 1]!;
    if (!a.isPresent(lo, hi, Level.PMD) || !a.isLeaf(lo, hi, Level.PMD)) break;
    if (a.leafPfn(lo, hi, Level.PMD) !== pfn0 + nr * step) break;
    if ((a.leafFlags(lo, hi, Level.PMD) & ~ign) !== want) break;
  }
  return nr;
}
