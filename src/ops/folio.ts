import { PteFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import { PG } from "../mm/pageflags.js";
import { folioMapcount } from "../mm/rmap.js";
import { VM, type Vma } from "../mm/vma.js";

/*
 * Folio life cycle shared by every operation: allocating anonymous folios
 * (vma_alloc_folio + __folio_set_anon), anon_vma_prepare, and releasing a
 * folio when nothing refers to it any more (folio_put reaching zero).
 */

/** The NUMA node a new folio of `vma` goes to (the policy's first node, else 0). */
export function policyNode(mm: MmStruct, vma: Vma): number {
  const p = vma.policy ?? mm.policy;
  if ((p.mode === "bind" || p.mode === "preferred") && p.nodes.length > 0) return p.nodes[0]!;
  return 0;
}

/**
 * anon_vma_prepare(): give `vma` an anon_vma, reusing an adjacent VMA's
 * when find_mergeable_anon_vma() would (flags equal but for rd/wr/ex, no
 * fork child's anon_vma, offsets continuing).
 */
export function anonVmaPrepare(m: Machine, mm: MmStruct, vma: Vma): void {
  if (vma.anonVma !== null) return;
  const i = mm.vmas.indexOf(vma);
  const ignore = VM.READ | VM.WRITE | VM.EXEC | VM.MAYBE_GUARD;
  const pageShift = m.arch.geometry.pageShift;
  const compatible = (a: Vma, b: Vma): boolean =>
    a.end === b.start &&
    (a.flags & ~ignore) === (b.flags & ~ignore) &&
    a.backing === b.backing &&
    a.pgoff + (a.end - a.start) / 2 ** pageShift === b.pgoff;
  const prev = i > 0 ? mm.vmas[i - 1]! : null;
  const next = i + 1 < mm.vmas.length ? mm.vmas[i + 1]! : null;
  if (prev?.anonVma && !prev.anonVma.forkChild && compatible(prev, vma)) {
    vma.anonVma = prev.anonVma;
  } else if (next?.anonVma && !next.anonVma.forkChild && compatible(vma, next)) {
    vma.anonVma = next.anonVma;
  } else {
    vma.anonVma = { id: m.newId(), forkChild: false };
  }
}

/** Entry flags a VMA's present entries carry besides write/young/dirty. */
export function vmaBaseFlags(vma: Vma): number {
  if ((vma.flags & (VM.READ | VM.WRITE | VM.EXEC)) === 0) return PteFlag.PROTNONE;
  return vma.flags & VM.EXEC ? PteFlag.EXEC : 0;
}

/**
 * Allocate a new anonymous folio of 2^order pages for the naturally aligned
 * block around `_addr` in `vma`, zero-filled, exclusive, on the LRU. (The
 * address would set folio->index; the model keeps no anonymous index.)
 */
export function newAnonFolio(
  m: Machine,
  mm: MmStruct,
  vma: Vma,
  _addr: number,
  order: number,
): number {
  anonVmaPrepare(m, mm, vma);
  const nr = 2 ** order;
  let f = PG.UPTODATE | PG.LRU | PG.ANON | PG.SWAPBACKED;
  if (order > 0) f |= PG.LARGE_RMAPPABLE;
  if (vma.flags & VM.LOCKED) f |= PG.MLOCKED | PG.UNEVICTABLE;
  const pfn = m.phys.allocFolio(order, policyNode(mm, vma), f);
  for (let i = 0; i < nr; i++) {
    m.phys.flags[pfn + i]! |= PG.ANON_EXCLUSIVE;
    m.phys.mapping[pfn + i] = vma.anonVma!.id;
  }
  return pfn;
}

/** Allocate an order-0 anonymous copy of page `src` for `addr` (a COW copy). */
export function copyPage(m: Machine, mm: MmStruct, vma: Vma, addr: number, src: number): number {
  const pfn = newAnonFolio(m, mm, vma, addr, 0);
  m.phys.content[pfn] = src < 0 ? 0 : m.phys.content[src]!;
  return pfn;
}

/**
 * Release a folio that may have lost its last reference: an anonymous
 * folio no longer mapped and not in the swap cache is freed (a hugetlb one
 * goes back to its pool). Page-cache folios stay with their file.
 */
export function maybeFreeFolio(m: Machine, head: number): void {
  const f = m.phys.flags[head]!;
  if ((f & PG.ALLOCATED) === 0) return;
  if (folioMapcount(m.phys, head) > 0) return;
  if (f & (PG.PAGECACHE | PG.SWAPCACHE | PG.ZERO | PG.LOCKED)) return;
  if (f & PG.HUGETLB) {
    releaseHugetlbFolio(m, head);
    return;
  }
  if (f & PG.ANON) m.phys.freeFolio(head);
}

/** Return a hugetlb folio to its pool (free_huge_folio). */
export function releaseHugetlbFolio(m: Machine, head: number): void {
  const order = m.phys.order[head]!;
  for (const pool of m.hugetlb.values()) {
    if (pool.order !== order) continue;
    const nr = 2 ** order;
    m.phys.flags[head] = PG.HUGETLB | PG.ALLOCATED | PG.HEAD;
    m.phys.flags.fill(PG.ALLOCATED | PG.TAIL, head + 1, head + nr);
    m.phys.mapcount.fill(0, head, head + nr);
    m.phys.mapping.fill(0, head, head + nr);
    m.phys.content.fill(0, head, head + nr);
    pool.free.push(head);
    return;
  }
}

/** Mark a folio accessed (folio_mark_accessed): REFERENCED, then ACTIVE. */
export function markAccessed(m: Machine, head: number): void {
  const f = m.phys.flags[head]!;
  if ((f & PG.REFERENCED) === 0) {
    m.phys.flags[head] = f | PG.REFERENCED;
  } else if ((f & (PG.ACTIVE | PG.UNEVICTABLE)) === 0 && f & PG.LRU) {
    m.phys.flags[head] = (f | PG.ACTIVE) & ~PG.REFERENCED;
  }
}
