/**
 * folio_walk_start() / folio_walk_end() (mm/pagewalk.c, 6.12+; seed 001;
 * shared/spec/kernel-api.md §3): the folio mapped at one address, found
 * without faulting, with the page-table lock of its entry left held so the
 * entry cannot change until folio_walk_end().
 *
 * The model's folio is its head PFN; "NULL" is `null` (no result) or -1 (a
 * page field with no page).
 */
import { Level, PteFlag } from "../arch/types.js";
import { LockError, type RwLock, type SpinLock } from "../mm/locks.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { PageTable } from "../mm/pgtable.js";
import type { Vma } from "../mm/vma.js";
import { hugetlbVmaLock } from "./locks.js";
import {
  Softleaf,
  softleafFromPmd,
  softleafFromPte,
  softleafIsMigration,
  softleafToPfn,
} from "./softleaf.js";

/** folio_walk_flags_t: also return folios behind migration entries (removed in the 2026 mm tree). */
export const FW_MIGRATION = 1 << 0;
/** folio_walk_flags_t: also return the shared zero page (small and huge). */
export const FW_ZEROPAGE = 1 << 1;

/** enum folio_walk_level. */
export const FwLevel = { PTE: 0, PMD: 1, PUD: 2 } as const;
export type FwLevel = (typeof FwLevel)[keyof typeof FwLevel];

/**
 * struct folio_walk. Public: `folio` (head PFN), `page` (the exact page
 * mapping the address, -1 for the zero pages and migration entries),
 * `level`, the entry's slot (`table`, `index`: the C union of
 * ptep/pmdp/pudp) and its value read under the lock (`lo`, `hi`: the union
 * of pte/pmd/pud). Private: the VMA and the lock left held.
 */
export class FolioWalk {
  folio = -1;
  page = -1;
  level: FwLevel = FwLevel.PTE;
  table: PageTable | null = null;
  index = -1;
  lo = 0;
  hi = 0;
  /** private: the VMA walked (vma_pgtable_walk_end() needs it). */
  vma: Vma | null = null;
  /** private: the page-table lock still held. */
  ptl: SpinLock | null = null;
  /** private: the hugetlb VMA lock held for read (hugetlb VMAs only). */
  hugetlbLock: RwLock | null = null;
}

const WHO = "folio_walk_start";
const LEAF = new Softleaf();

function hexAddr(addr: number): string {
  return `0x${addr.toString(16)}`;
}

/** vm_normal_page*() of a present leaf: the page it maps, or -1 (special, zero pages). */
function normalPage(m: Machine, lo: number, hi: number, level: Level): number {
  if ((m.arch.leafFlags(lo, hi, level) & PteFlag.SPECIAL) !== 0) return -1;
  const pfn = m.arch.leafPfn(lo, hi, level);
  if (pfn === m.phys.zeroPfn || pfn === m.phys.hugeZeroPfn) return -1;
  return pfn;
}

/** vma_pgtable_walk_end() + "not found": drop the hugetlb VMA lock. */
function notFound(fw: FolioWalk): null {
  fw.hugetlbLock?.readUnlock();
  fw.hugetlbLock = null;
  fw.ptl = null;
  fw.vma = null;
  fw.folio = -1;
  fw.page = -1;
  return null;
}

function found(
  m: Machine,
  fw: FolioWalk,
  addr: number,
  page: number,
  expose: boolean,
  level: Level,
  ptl: SpinLock,
): FolioWalk {
  const span = 2 ** m.arch.geometry.levels[level]!.shift;
  // Offset from the page the entry maps, not from the folio start.
  fw.page = expose ? page + Math.floor((addr % span) / m.arch.geometry.pageSize) : -1;
  fw.folio = m.phys.folioHead(page);
  fw.ptl = ptl;
  return fw;
}

function record(fw: FolioWalk, level: FwLevel, t: PageTable, i: number): void {
  fw.level = level;
  fw.table = t;
  fw.index = i;
  fw.lo = t.words[i * 2]!;
  fw.hi = t.words[i * 2 + 1]!;
}

/**
 * folio_walk_start - the folio mapped at @addr in @vma, with its entry's
 * page-table lock held.
 * @m: the machine; @mm: @vma's mm; @vma: the VMA holding @addr;
 * @addr: the address; @flags: FW_MIGRATION, FW_ZEROPAGE;
 * @fw: the walk struct to fill (a new one when omitted).
 *
 * Each level is read locklessly, then (for a leaf or non-present PUD/PMD,
 * and for the PTE) re-read under the lock of that level (pud_lock, pmd_lock,
 * the PTE table's PTL; in the model each is the ptl of the table holding the
 * entry). A present normal page is found at any level (hugetlb PMD/PUD leaves
 * included); the shared zero page and the huge zero folio only with
 * FW_ZEROPAGE (`page` -1); a PTE or PMD migration entry only with
 * FW_MIGRATION (`page` -1). Special/PFN mappings, swap, device, hwpoison,
 * markers, PUD migration entries and none entries give null. A PROT_NONE
 * 1 GiB hugetlb PUD gives null too: x86 pud_present() tests only
 * _PAGE_PRESENT (the kernel's behaviour).
 *
 * Locking: @mm's mmap lock must be held (read suffices; asserted, the
 * violation throws LockError naming the lock, the walker and @addr). For a
 * hugetlb VMA the hugetlb VMA lock is taken for read. On success the entry's
 * lock (and the hugetlb VMA lock) stay held until folioWalkEnd(); on null
 * nothing is held.
 *
 * Return: @fw with `folio` set, or null. An @addr outside @vma gives null
 * (the kernel WARNs).
 */
export function folioWalkStart(
  m: Machine,
  mm: MmStruct,
  vma: Vma,
  addr: number,
  flags: number,
  fw: FolioWalk = new FolioWalk(),
): FolioWalk | null {
  const lock = mm.mmapLock;
  if (lock.readers === 0 && lock.writer === null) {
    throw new LockError(`${WHO} at ${hexAddr(addr)}: ${lock.name} is not held`);
  }
  if (fw.ptl !== null)
    throw new Error(`${WHO}: the folio_walk is still in use (no folio_walk_end)`);
  const a = m.arch;
  const pt = mm.pt;
  fw.vma = vma;
  fw.ptl = null;
  // vma_pgtable_walk_begin(): before the range check, as the kernel does.
  if (vma.isHugetlb) {
    fw.hugetlbLock = hugetlbVmaLock(vma);
    fw.hugetlbLock.readLock(WHO);
  }
  if (addr < vma.start || addr >= vma.end) return notFound(fw);

  // PGD, P4D: none (or bad) → not found.
  let t = pt.root;
  while (t.level < Level.PUD) {
    const i = pt.index(t.level, addr);
    const c = pt.child(t, i);
    if (c === null) return notFound(fw);
    t = c;
  }

  // PUD.
  if (t.level === Level.PUD) {
    const i = pt.index(Level.PUD, addr);
    let lo = t.words[i * 2]!;
    let hi = t.words[i * 2 + 1]!;
    if (a.isNone(lo, hi, Level.PUD)) return notFound(fw);
    if (!a.isPresent(lo, hi, Level.PUD) || a.isLeaf(lo, hi, Level.PUD)) {
      t.ptl.lock(WHO);
      lo = t.words[i * 2]!;
      hi = t.words[i * 2 + 1]!;
      record(fw, FwLevel.PUD, t, i);
      const present = a.isPresent(lo, hi, Level.PUD);
      if (present && a.isLeaf(lo, hi, Level.PUD)) {
        const page = normalPage(m, lo, hi, Level.PUD);
        if (page >= 0) return found(m, fw, addr, page, true, Level.PUD, t.ptl);
      }
      if (!(present && !a.isLeaf(lo, hi, Level.PUD))) {
        // none, special leaf, or non-present (PUD migration was a TODO even with FW_MIGRATION).
        t.ptl.unlock();
        return notFound(fw);
      }
      t.ptl.unlock();
    }
    const c = pt.child(t, i);
    if (c === null) return notFound(fw);
    t = c;
  }

  // PMD.
  if (t.level === Level.PMD) {
    const i = pt.index(Level.PMD, addr);
    let lo = t.words[i * 2]!;
    let hi = t.words[i * 2 + 1]!;
    if (a.isNone(lo, hi, Level.PMD)) return notFound(fw);
    if (!a.isPresent(lo, hi, Level.PMD) || a.isLeaf(lo, hi, Level.PMD)) {
      t.ptl.lock(WHO);
      lo = t.words[i * 2]!;
      hi = t.words[i * 2 + 1]!;
      record(fw, FwLevel.PMD, t, i);
      if (a.isNone(lo, hi, Level.PMD)) {
        t.ptl.unlock();
        return notFound(fw);
      }
      const present = a.isPresent(lo, hi, Level.PMD);
      if (present && a.isLeaf(lo, hi, Level.PMD)) {
        const page = normalPage(m, lo, hi, Level.PMD);
        if (page >= 0) return found(m, fw, addr, page, true, Level.PMD, t.ptl);
        const pfn = a.leafPfn(lo, hi, Level.PMD);
        if ((flags & FW_ZEROPAGE) !== 0 && pfn === m.phys.hugeZeroPfn) {
          return found(m, fw, addr, pfn, false, Level.PMD, t.ptl);
        }
        t.ptl.unlock();
        return notFound(fw);
      }
      if (!present) {
        const e = softleafFromPmd(m, t, i, LEAF);
        if ((flags & FW_MIGRATION) !== 0 && softleafIsMigration(e)) {
          return found(m, fw, addr, softleafToPfn(e), false, Level.PMD, t.ptl);
        }
        t.ptl.unlock();
        return notFound(fw);
      }
      t.ptl.unlock(); // a table again: go on to the PTE
    }
    const c = pt.child(t, i);
    if (c === null) return notFound(fw); // pte_offset_map_lock() failed
    t = c;
  }

  // PTE.
  const i = pt.index(Level.PTE, addr);
  t.ptl.lock(WHO);
  record(fw, FwLevel.PTE, t, i);
  const lo = fw.lo;
  const hi = fw.hi;
  if (a.isPresent(lo, hi, Level.PTE)) {
    const page = normalPage(m, lo, hi, Level.PTE);
    if (page >= 0) return found(m, fw, addr, page, true, Level.PTE, t.ptl);
    const pfn = a.leafPfn(lo, hi, Level.PTE);
    if ((flags & FW_ZEROPAGE) !== 0 && pfn === m.phys.zeroPfn) {
      return found(m, fw, addr, pfn, false, Level.PTE, t.ptl);
    }
  } else if (!a.isNone(lo, hi, Level.PTE)) {
    const e = softleafFromPte(m, t, i, LEAF);
    if ((flags & FW_MIGRATION) !== 0 && softleafIsMigration(e)) {
      return found(m, fw, addr, softleafToPfn(e), false, Level.PTE, t.ptl);
    }
  }
  t.ptl.unlock();
  return notFound(fw);
}

/**
 * folio_walk_end - release what a successful folioWalkStart() left held.
 * @fw: the walk; calling it on a walk that holds nothing is a no-op.
 *
 * Locking: unlocks the entry's page-table lock (and "unmaps" the PTE table
 * at PTE level), then drops the hugetlb VMA lock (vma_pgtable_walk_end()).
 *
 * Return: nothing. After it the folio may go away (no reference was taken).
 */
export function folioWalkEnd(fw: FolioWalk): void {
  if (fw.ptl !== null) fw.ptl.unlock();
  fw.ptl = null;
  fw.hugetlbLock?.readUnlock();
  fw.hugetlbLock = null;
  fw.vma = null;
}
