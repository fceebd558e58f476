import { Level, PteFlag, SwpFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import type { PageTable } from "../mm/pgtable.js";

/**
 * Entry-level primitives every operation uses: read, classify and write one
 * entry of one table through the architecture codec (set_pte_at, pte_clear,
 * ptep_get). They keep `PageTable.used` exact. `t` is the table, `i` the
 * entry index.
 */

export function entryLo(t: PageTable, i: number): number {
  return t.words[i * 2]!;
}

export function entryHi(t: PageTable, i: number): number {
  return t.words[i * 2 + 1]!;
}

export function isNone(m: Machine, t: PageTable, i: number): boolean {
  return m.arch.isNone(t.words[i * 2]!, t.words[i * 2 + 1]!, t.level);
}

export function isPresent(m: Machine, t: PageTable, i: number): boolean {
  return m.arch.isPresent(t.words[i * 2]!, t.words[i * 2 + 1]!, t.level);
}

/** A present leaf at a PMD/PUD slot (pmd_leaf && present). */
export function isHugeLeaf(m: Machine, t: PageTable, i: number): boolean {
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  return (
    t.level !== Level.PTE &&
    !m.arch.isNone(lo, hi, t.level) &&
    m.arch.isPresent(lo, hi, t.level) &&
    m.arch.isLeaf(lo, hi, t.level)
  );
}

/** Non-none and not present: a swap-format (softleaf) entry. */
export function isSwp(m: Machine, t: PageTable, i: number): boolean {
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  return !m.arch.isNone(lo, hi, t.level) && !m.arch.isPresent(lo, hi, t.level);
}

export function leafPfn(m: Machine, t: PageTable, i: number): number {
  return m.arch.leafPfn(t.words[i * 2]!, t.words[i * 2 + 1]!, t.level);
}

export function leafFlags(m: Machine, t: PageTable, i: number): number {
  return m.arch.leafFlags(t.words[i * 2]!, t.words[i * 2 + 1]!, t.level);
}

export function swpType(m: Machine, t: PageTable, i: number): number {
  return m.arch.swpType(t.words[i * 2]!, t.words[i * 2 + 1]!, t.level);
}

export function swpOffset(m: Machine, t: PageTable, i: number): number {
  return m.arch.swpOffset(t.words[i * 2]!, t.words[i * 2 + 1]!, t.level);
}

export function swpFlags(m: Machine, t: PageTable, i: number): number {
  return m.arch.swpFlags(t.words[i * 2]!, t.words[i * 2 + 1]!, t.level);
}

/**
 * pte_mkdirty()/pmd_mkdirty() also mark the entry soft-dirty when the
 * kernel has CONFIG_MEM_SOFT_DIRTY: a dirty bit set by software carries it.
 */
function withSoftDirty(m: Machine, flags: number): number {
  return m.config.softDirty && flags & PteFlag.DIRTY ? flags | PteFlag.SOFT_DIRTY : flags;
}

/** set_pte_at()/set_pmd_at(): write a present leaf (a dirty one soft-dirty too, as pte_mkdirty makes it). */
export function setLeaf(m: Machine, t: PageTable, i: number, pfn: number, flags: number): void {
  if (isNone(m, t, i)) t.used++;
  m.arch.encodeLeaf(t.words, i, pfn, withSoftDirty(m, flags), t.level);
}

/** Rewrite a present leaf's flags, keeping its PFN (setting DIRTY is pte_mkdirty: soft-dirty too). */
export function updateLeafFlags(
  m: Machine,
  t: PageTable,
  i: number,
  set: number,
  clear: number,
): void {
  const pfn = leafPfn(m, t, i);
  const f = (leafFlags(m, t, i) | withSoftDirty(m, set)) & ~clear;
  m.arch.encodeLeaf(t.words, i, pfn, f, t.level);
}

/**
 * The MMU's own update on an access a present entry allows: accessed, and
 * dirty on a write. Hardware never sets the software soft-dirty bit.
 */
export function hwAccess(m: Machine, t: PageTable, i: number, write: boolean): void {
  const pfn = leafPfn(m, t, i);
  const f = leafFlags(m, t, i) | PteFlag.YOUNG | (write ? PteFlag.DIRTY : 0);
  m.arch.encodeLeaf(t.words, i, pfn, f, t.level);
}

/** Write a swap-format entry. */
export function setSwp(
  m: Machine,
  t: PageTable,
  i: number,
  type: number,
  offset: number,
  flags: number,
): void {
  if (isNone(m, t, i)) t.used++;
  m.arch.encodeSwp(t.words, i, type, offset, flags, t.level);
}

/** Write a PTE marker (a swap-format entry of the marker type). */
export function setMarker(m: Machine, t: PageTable, i: number, bits: number): void {
  setSwp(m, t, i, m.swapTypes.marker, bits, 0);
}

/** pte_clear(). */
export function clearEntry(t: PageTable, i: number): void {
  if (t.words[i * 2] !== 0 || t.words[i * 2 + 1] !== 0) {
    t.words[i * 2] = 0;
    t.words[i * 2 + 1] = 0;
    t.used--;
  }
}

/** Whether the entry is a PTE marker, and its marker bits (0 if not a marker). */
export function markerBits(m: Machine, t: PageTable, i: number): number {
  if (!isSwp(m, t, i)) return 0;
  if (swpType(m, t, i) !== m.swapTypes.marker) return 0;
  return swpOffset(m, t, i);
}

/** Whether the entry is a real swap entry (type below MAX_SWAPFILES). */
export function isRealSwap(m: Machine, t: PageTable, i: number): boolean {
  return isSwp(m, t, i) && swpType(m, t, i) < m.swapTypes.maxSwapfiles;
}

export { PteFlag, SwpFlag };
