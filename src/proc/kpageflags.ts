/**
 * /proc/kpageflags and /proc/kpagecount (proc.md §7): PFN-indexed, read
 * from the physical-memory arrays; no page walk, the same code for every
 * walker generation.
 */
import type { Machine } from "../mm/machine.js";
import { PG } from "../mm/pageflags.js";
import { folioMapcount, precisePageMapcount } from "../mm/rmap.js";

/** KPF bit numbers (include/uapi/linux/kernel-page-flags.h, 6.18). */
export const KPF = {
  LOCKED: 0,
  ERROR: 1,
  REFERENCED: 2,
  UPTODATE: 3,
  DIRTY: 4,
  LRU: 5,
  ACTIVE: 6,
  SLAB: 7,
  WRITEBACK: 8,
  RECLAIM: 9,
  BUDDY: 10,
  MMAP: 11,
  ANON: 12,
  SWAPCACHE: 13,
  SWAPBACKED: 14,
  COMPOUND_HEAD: 15,
  COMPOUND_TAIL: 16,
  HUGE: 17,
  UNEVICTABLE: 18,
  HWPOISON: 19,
  NOPAGE: 20,
  KSM: 21,
  THP: 22,
  OFFLINE: 23,
  ZERO_PAGE: 24,
  IDLE: 25,
  PGTABLE: 26,
  RESERVED: 32,
  MLOCKED: 33,
  OWNER_2: 34,
  PRIVATE: 35,
  PRIVATE_2: 36,
  OWNER_PRIVATE: 37,
  ARCH: 38,
  UNCACHED: 39,
  SOFTDIRTY: 40,
  ARCH_2: 41,
  ARCH_3: 42,
} as const;

/** KPF names by bit number (observation.md: the kernel's names without `KPF_`). */
export const KPF_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(KPF).map(([name, bit]) => [bit, name]),
);

/**
 * The kpageflags value of one PFN as two 32-bit halves: `lo` holds bits
 * 0..31, `hi` bits 32..63. A PFN outside RAM (or below it) reads 0.
 */
export interface KpageFlags {
  lo: number;
  hi: number;
}

/**
 * stable_page_flags(): the KPF bits of `pfn`, from a snapshot of the page
 * and its folio. Folio flags are the head's, so tail pages repeat them
 * (OWNER_2 included, proc.md §7.1).
 */
export function kpageflagsOf(m: Machine, pfn: number, out: KpageFlags): KpageFlags {
  out.lo = 0;
  out.hi = 0;
  const phys = m.phys;
  if (pfn < 0 || pfn >= phys.maxPfn) return out;
  if (phys.isBuddyHead(pfn)) {
    out.lo = 1 << KPF.BUDDY;
    return out;
  }
  if (phys.isFree(pfn)) return out;
  const head = phys.folioHead(pfn);
  const k = phys.flags[head]!;
  const own = phys.flags[pfn]!;
  let lo = 0;
  let hi = 0;
  if (own & PG.PGTABLE) {
    out.lo = 1 << KPF.PGTABLE;
    return out;
  }
  const large = phys.order[pfn]! > 0;
  if (!(k & PG.ZERO) && folioMapcount(phys, head) > 0) lo |= 1 << KPF.MMAP;
  if (k & PG.ANON) lo |= 1 << KPF.ANON;
  if (k & PG.KSM) lo |= 1 << KPF.KSM;
  if (large) {
    lo |= 1 << (pfn === head ? KPF.COMPOUND_HEAD : KPF.COMPOUND_TAIL);
    if (k & PG.HUGETLB) lo |= 1 << KPF.HUGE;
    else if (k & PG.LARGE_RMAPPABLE) lo |= 1 << KPF.THP;
  }
  if (own & PG.ZERO || k & PG.ZERO) lo |= 1 << KPF.ZERO_PAGE;
  if (k & PG.LOCKED) lo |= 1 << KPF.LOCKED;
  if (k & PG.REFERENCED) lo |= 1 << KPF.REFERENCED;
  if (k & PG.UPTODATE) lo |= 1 << KPF.UPTODATE;
  if (k & PG.DIRTY) lo |= 1 << KPF.DIRTY;
  if (k & PG.LRU) lo |= 1 << KPF.LRU;
  if (k & PG.ACTIVE) lo |= 1 << KPF.ACTIVE;
  if (k & PG.SWAPBACKED) {
    lo |= 1 << KPF.SWAPBACKED;
    if (k & PG.SWAPCACHE) lo |= 1 << KPF.SWAPCACHE;
  }
  if (k & PG.UNEVICTABLE) lo |= 1 << KPF.UNEVICTABLE;
  if ((k & PG.HUGETLB ? k : own) & PG.HWPOISON) lo |= 1 << KPF.HWPOISON;
  if (k & PG.RESERVED || own & PG.RESERVED) hi |= 1 << (KPF.RESERVED - 32);
  if (k & PG.MLOCKED) hi |= 1 << (KPF.MLOCKED - 32);
  if (k & (PG.ANON_EXCLUSIVE | PG.MAPPEDTODISK)) hi |= 1 << (KPF.OWNER_2 - 32);
  if (k & PG.PRIVATE) hi |= 1 << (KPF.PRIVATE - 32);
  if (k & (PG.OWNER_PRIVATE | PG.SWAPCACHE)) hi |= 1 << (KPF.OWNER_PRIVATE - 32);
  out.lo = lo >>> 0;
  out.hi = hi >>> 0;
  return out;
}

/** /proc/kpagecount: folio_precise_page_mapcount() (0 for free and page-type pages). */
export function kpagecountOf(m: Machine, pfn: number): number {
  const phys = m.phys;
  if (pfn < 0 || pfn >= phys.maxPfn || phys.isFree(pfn)) return 0;
  return precisePageMapcount(phys, pfn);
}

/** The names of the set bits of a kpageflags value, in bit order. */
export function kpfNames(v: KpageFlags): string[] {
  const out: string[] = [];
  for (let b = 0; b < 32; b++) if (v.lo & (1 << b)) out.push(KPF_NAMES.get(b) ?? String(b));
  for (let b = 0; b < 32; b++)
    if (v.hi & (1 << b)) out.push(KPF_NAMES.get(b + 32) ?? String(b + 32));
  return out;
}
