import { Level, PteFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import { PG } from "../mm/pageflags.js";
import type { PageTable } from "../mm/pgtable.js";
import { addRmapEntire, addRmapPtes, removeRmapPtes } from "../mm/rmap.js";
import { VM, type Vma } from "../mm/vma.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { fileFault } from "./fault-file.js";
import { anonVmaPrepare, copyPage, maybeFreeFolio, newAnonFolio, vmaBaseFlags } from "./folio.js";
import { hugetlbFault } from "./hugetlb.js";
import { doSwapPage } from "./swapin.js";
import { hugePmdWpPage, hugeZeroWpPmd } from "./thp.js";
import { anonThpOrders, blockInVma, pmdOrder } from "./thp-policy.js";
import { uffdMissing, uffdWpFault, uffdWpMarkerRead } from "./uffd-fault.js";

/** How a fault ended: null = handled, or the errno the access gets (EFAULT = SIGSEGV/SIGBUS). */
export type FaultResult = null | "EFAULT";

/**
 * handle_mm_fault() for one base-page access of `addr`: the hardware's part
 * first (an access allowed by a present entry only sets young, and dirty on
 * a write), then the fault paths. The caller has checked the VMA's
 * permissions.
 *
 * Locking: the caller holds the mmap lock for read; page-table locks are
 * taken and released inside.
 */
export function handleMmFault(ctx: OpCtx, vma: Vma, addr: number, write: boolean): FaultResult {
  if (vma.isHugetlb) return hugetlbFault(ctx, vma, addr, write);
  const { m, mm } = ctx;
  const pt = mm.pt;
  const pmdT = pt.tableFor(addr, Level.PMD, true)!;
  const pi = pt.index(Level.PMD, addr);
  if (E.isHugeLeaf(m, pmdT, pi)) {
    const done = hugePmdAccess(ctx, vma, pmdT, pi, addr, write);
    if (done) return null;
  } else if (E.isNone(m, pmdT, pi) && vma.isAnon) {
    if (tryHugePmdFault(ctx, vma, pmdT, pi, addr, write)) return null;
  }
  const t = pt.tableFor(addr, Level.PTE, true)!;
  const i = pt.index(Level.PTE, addr);
  return handlePteFault(ctx, vma, t, i, addr, write);
}

/** The PTE-level part (handle_pte_fault). */
export function handlePteFault(
  ctx: OpCtx,
  vma: Vma,
  t: PageTable,
  i: number,
  addr: number,
  write: boolean,
): FaultResult {
  const { m } = ctx;
  if (E.isPresent(m, t, i)) {
    const fl = E.leafFlags(m, t, i);
    if (!write) {
      E.hwAccess(m, t, i, false);
      return null;
    }
    if (fl & PteFlag.UFFD_WP) return uffdWpFault(ctx, vma, t, i, addr);
    if (fl & PteFlag.WRITE) {
      E.hwAccess(m, t, i, true);
      return null;
    }
    doWpPage(ctx, vma, t, i, addr);
    return null;
  }
  if (E.isSwp(m, t, i)) {
    const marker = E.markerBits(m, t, i);
    if (marker === 0) return doSwapPage(ctx, vma, t, i, addr, write);
    if (marker & 4) return "EFAULT"; // guard marker: SIGSEGV
    if (marker & 1) {
      if (write) return uffdWpFault(ctx, vma, t, i, addr);
      return uffdWpMarkerRead(ctx, vma, t, i, addr);
    }
    return "EFAULT"; // poison marker
  }
  // None entry.
  if (!vma.isAnon) return fileFault(ctx, vma, t, i, addr, write);
  if (vma.flags & VM.UFFD_MISSING && vma.uffd && !vma.uffd.async) {
    return uffdMissing(ctx, vma, t, i, addr, write);
  }
  doAnonymousPage(ctx, vma, t, i, addr, write);
  return null;
}

/**
 * do_anonymous_page(): a read maps the shared zero page; a write allocates
 * a folio of the largest allowed mTHP order whose aligned block lies in the
 * VMA with every PTE none, and maps all of it.
 */
export function doAnonymousPage(
  ctx: OpCtx,
  vma: Vma,
  t: PageTable,
  i: number,
  addr: number,
  write: boolean,
): void {
  const { m, mm } = ctx;
  const base = vmaBaseFlags(vma);
  if (!write) {
    E.setLeaf(m, t, i, m.phys.zeroPfn, base | PteFlag.YOUNG | PteFlag.SPECIAL);
    return;
  }
  let order = 0;
  const pmdO = pmdOrder(m);
  for (const o of anonThpOrders(m, vma)) {
    if (o >= pmdO) continue;
    if (!blockInVma(m, vma, addr, o)) continue;
    const nr = 2 ** o;
    const first = i - (i % nr);
    let empty = true;
    for (let k = first; k < first + nr; k++) {
      if (!E.isNone(m, t, k)) {
        empty = false;
        break;
      }
    }
    if (empty) {
      order = o;
      break;
    }
  }
  const nr = 2 ** order;
  const pfn = newAnonFolio(m, mm, vma, addr, order);
  const first = i - (i % nr);
  const flags = base | PteFlag.WRITE | PteFlag.YOUNG | PteFlag.DIRTY;
  for (let k = 0; k < nr; k++) E.setLeaf(m, t, first + k, pfn + k, flags);
  addRmapPtes(m.phys, pfn, nr, mm.id);
  mm.rss.anon += nr;
}

/** Try the PMD-level anonymous fault (do_huge_pmd_anonymous_page). */
function tryHugePmdFault(
  ctx: OpCtx,
  vma: Vma,
  pmdT: PageTable,
  pi: number,
  addr: number,
  write: boolean,
): boolean {
  const { m, mm } = ctx;
  const order = pmdOrder(m);
  if (!anonThpOrders(m, vma).includes(order)) return false;
  if (!blockInVma(m, vma, addr, order)) return false;
  if (vma.flags & VM.UFFD_MISSING && vma.uffd && !vma.uffd.async) return false;
  anonVmaPrepare(m, mm, vma);
  const base = vmaBaseFlags(vma);
  if (!write) {
    E.setLeaf(m, pmdT, pi, m.phys.hugeZeroPfn, base | PteFlag.YOUNG | PteFlag.SPECIAL);
    return true;
  }
  const pfn = newAnonFolio(m, mm, vma, addr, order);
  E.setLeaf(m, pmdT, pi, pfn, base | PteFlag.WRITE | PteFlag.YOUNG | PteFlag.DIRTY);
  addRmapEntire(m.phys, pfn, mm.id);
  mm.rss.anon += 2 ** order;
  return true;
}

/**
 * An access under a present huge PMD. Returns false when the PMD was split
 * and the fault must continue at PTE level.
 */
function hugePmdAccess(
  ctx: OpCtx,
  vma: Vma,
  pmdT: PageTable,
  pi: number,
  addr: number,
  write: boolean,
): boolean {
  const { m } = ctx;
  const pfn = E.leafPfn(m, pmdT, pi);
  const fl = E.leafFlags(m, pmdT, pi);
  if (!write) {
    E.hwAccess(m, pmdT, pi, false);
    return true;
  }
  if (pfn === m.phys.hugeZeroPfn) {
    hugeZeroWpPmd(ctx, vma, pmdT, pi, addr);
    return true;
  }
  if (fl & PteFlag.WRITE) {
    E.hwAccess(m, pmdT, pi, true);
    return true;
  }
  return hugePmdWpPage(ctx, vma, pmdT, pi, addr);
}

/** Whether an anonymous page can be reused by a write (wp_can_reuse_anon_folio). */
function canReuseAnon(ctx: OpCtx, pfn: number): boolean {
  const { m, mm } = ctx;
  const phys = m.phys;
  const head = phys.folioHead(pfn);
  const hf = phys.flags[head]!;
  if (hf & PG.KSM) return false;
  if (phys.flags[pfn]! & PG.ANON_EXCLUSIVE) return true;
  if (phys.order[pfn] === 0) {
    if (phys.mapcount[pfn] !== 1) return false;
    if (hf & PG.SWAPCACHE) {
      const slot = swapSlotOfCachedPage(m, pfn);
      if (slot >= 0 && m.swap!.count[slot]! > 0) return false;
      if (slot >= 0) {
        m.swap!.dropCache(slot);
        phys.flags[pfn] = (phys.flags[pfn]! & ~PG.SWAPCACHE) | PG.DIRTY;
      }
    }
    return true;
  }
  const s = phys.large.get(head)!;
  if (s.entire > 0 || (hf & PG.SWAPCACHE) !== 0) return false;
  const mine = s.mmId0 === mm.id ? s.mmCount0 : s.mmId1 === mm.id ? s.mmCount1 : 0;
  return mine === s.large;
}

/** The swap slot a swap-cache page caches (-1 if none). */
export function swapSlotOfCachedPage(m: Machine, pfn: number): number {
  const sw = m.swap;
  if (sw === null) return -1;
  return m.phys.swapSlot.get(pfn) ?? -1;
}

/**
 * do_wp_page(): a write to a present read-only PTE. Shared mappings are
 * made writable in place (the folio dirtied); anonymous pages are reused
 * when exclusive; everything else is copied to a new exclusive page.
 */
export function doWpPage(ctx: OpCtx, vma: Vma, t: PageTable, i: number, addr: number): void {
  const { m, mm } = ctx;
  const pfn = E.leafPfn(m, t, i);
  const phys = m.phys;
  const fl = E.leafFlags(m, t, i);
  const wflags = PteFlag.WRITE | PteFlag.YOUNG | PteFlag.DIRTY;
  if (vma.flags & VM.SHARED) {
    E.updateLeafFlags(m, t, i, wflags, 0);
    phys.flags[phys.folioHead(pfn)]! |= PG.DIRTY;
    return;
  }
  const isZero = pfn === phys.zeroPfn;
  if (!isZero && (fl & PteFlag.SPECIAL) === 0) {
    const hf = phys.flags[phys.folioHead(pfn)]!;
    if (hf & PG.ANON && canReuseAnon(ctx, pfn)) {
      E.updateLeafFlags(m, t, i, wflags, 0);
      phys.flags[pfn]! |= PG.ANON_EXCLUSIVE;
      return;
    }
  }
  // Copy.
  const copy = copyPage(m, mm, vma, addr, isZero ? -1 : pfn);
  const keep = fl & (PteFlag.EXEC | PteFlag.SOFT_DIRTY);
  if (!isZero && (fl & PteFlag.SPECIAL) === 0) {
    const head = phys.folioHead(pfn);
    removeRmapPtes(phys, pfn, 1, mm.id);
    if (phys.flags[head]! & PG.ANON) mm.rss.anon--;
    else if (phys.flags[head]! & PG.SWAPBACKED) mm.rss.shmem--;
    else mm.rss.file--;
    maybeFreeFolio(m, head);
  }
  E.setLeaf(m, t, i, copy, keep | wflags);
  addRmapPtes(phys, copy, 1, mm.id);
  mm.rss.anon++;
}
