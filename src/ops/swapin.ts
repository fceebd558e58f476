import { Level, PteFlag, SwpFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import { PG } from "../mm/pageflags.js";
import type { PageTable } from "../mm/pgtable.js";
import { addRmapPtes } from "../mm/rmap.js";
import { VM, type Vma } from "../mm/vma.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import type { FaultResult } from "./fault.js";
import { anonVmaPrepare, policyNode, vmaBaseFlags } from "./folio.js";
import { anonThpOrders, blockInVma, pmdOrder } from "./thp-policy.js";

/** Read slot `slot` into the swap cache (swap_read_folio into a new folio). */
export function readIntoSwapCache(m: Machine, mm: MmStruct, vma: Vma, slot: number): number {
  const sw = m.swap!;
  const pfn = m.phys.allocFolio(
    0,
    policyNode(mm, vma),
    PG.UPTODATE | PG.LRU | PG.SWAPBACKED | PG.SWAPCACHE | PG.ACTIVE,
  );
  m.phys.content[pfn] = sw.content[slot]!;
  sw.setCached(slot, pfn);
  m.phys.swapSlot.set(pfn, slot);
  return pfn;
}

/**
 * The mTHP order a swap-in with swap count 1 may use (alloc_swap_folio):
 * the largest enabled order below PMD whose aligned block lies in the VMA
 * and holds only swap entries of consecutive slots, aligned, count 1, not
 * cached, all zero or all non-zero.
 */
function swapinOrder(ctx: OpCtx, vma: Vma, t: PageTable, i: number, addr: number): number {
  const { m } = ctx;
  if (vma.uffd !== null) return 0;
  const sw = m.swap!;
  for (const o of anonThpOrders(m, vma)) {
    if (o >= pmdOrder(m) || !blockInVma(m, vma, addr, o)) continue;
    const nr = 2 ** o;
    const first = i - (i % nr);
    if (!E.isRealSwap(m, t, first)) continue;
    const slot0 = E.swpOffset(m, t, first);
    if (slot0 % nr !== 0) continue;
    const zero0 = sw.content[slot0] === 0;
    let ok = true;
    for (let k = 0; k < nr && ok; k++) {
      const j = first + k;
      ok =
        E.isRealSwap(m, t, j) &&
        E.swpOffset(m, t, j) === slot0 + k &&
        sw.count[slot0 + k] === 1 &&
        sw.cached(slot0 + k) === -1 &&
        (sw.content[slot0 + k] === 0) === zero0;
    }
    if (ok) return o;
  }
  return 0;
}

/**
 * do_swap_page() for a real swap entry of a private anonymous VMA.
 * Count 1 and not cached: the swap cache is bypassed (possibly a whole
 * mTHP block at once), the page is exclusive and the slot freed. Otherwise
 * the page comes through the swap cache, with readahead, and stays there.
 *
 * Locking: mmap lock held for read; the PTL is taken inside.
 */
export function doSwapPage(
  ctx: OpCtx,
  vma: Vma,
  t: PageTable,
  i: number,
  addr: number,
  write: boolean,
): FaultResult {
  const { m, mm } = ctx;
  const type = E.swpType(m, t, i);
  if (type >= m.swapTypes.maxSwapfiles) return nonSwapLeafFault(ctx, type);
  const sw = m.swap!;
  const slot = E.swpOffset(m, t, i);
  const swpExclusive = (E.swpFlags(m, t, i) & SwpFlag.EXCLUSIVE) !== 0;
  const base = vmaBaseFlags(vma);
  const canWrite = (vma.flags & VM.WRITE) !== 0 && (E.swpFlags(m, t, i) & SwpFlag.UFFD_WP) === 0;
  const wp = (E.swpFlags(m, t, i) & SwpFlag.UFFD_WP) !== 0 ? PteFlag.UFFD_WP : 0;
  anonVmaPrepare(m, mm, vma);
  if (sw.cached(slot) === -1 && sw.count[slot] === 1) {
    const order = swapinOrder(ctx, vma, t, i, addr);
    const nr = 2 ** order;
    const first = i - (i % nr);
    let f = PG.UPTODATE | PG.LRU | PG.ANON | PG.SWAPBACKED | PG.ACTIVE;
    if (order > 0) f |= PG.LARGE_RMAPPABLE;
    const pfn = m.phys.allocFolio(order, policyNode(mm, vma), f);
    const slot0 = E.swpOffset(m, t, first);
    for (let k = 0; k < nr; k++) {
      m.phys.content[pfn + k] = sw.content[slot0 + k]!;
      m.phys.flags[pfn + k]! |= PG.ANON_EXCLUSIVE;
      m.phys.mapping[pfn + k] = vma.anonVma!.id;
      const fl =
        base | PteFlag.YOUNG | wp | (canWrite ? PteFlag.WRITE : 0) | (write ? PteFlag.DIRTY : 0);
      E.clearEntry(t, first + k);
      E.setLeaf(m, t, first + k, pfn + k, fl);
      sw.put(slot0 + k);
    }
    addRmapPtes(m.phys, pfn, nr, mm.id);
    mm.rss.anon += nr;
    mm.rss.swapEnts -= nr;
    return null;
  }
  // Through the swap cache.
  const ra = m.swapReadahead;
  let pfn = sw.cached(slot);
  if (pfn < 0) {
    swapReadahead(ctx, vma, t, i, addr);
    pfn = sw.cached(slot);
    if (pfn < 0) pfn = readIntoSwapCache(m, mm, vma, slot);
    ra.delete(pfn);
  } else {
    const hit = ra.delete(pfn);
    vma.swapRa = { lastAddr: addr, win: vma.swapRa.win, hits: vma.swapRa.hits + (hit ? 1 : 0) };
  }
  const phys = m.phys;
  phys.flags[pfn]! |= PG.ANON;
  phys.mapping[pfn] = vma.anonVma!.id;
  const exclusive = swpExclusive || (sw.count[slot] === 1 && phys.mapcount[pfn] === 0 && false);
  let fl = base | PteFlag.YOUNG | wp;
  if (exclusive) {
    phys.flags[pfn]! |= PG.ANON_EXCLUSIVE;
    if (canWrite) fl |= PteFlag.WRITE | (write ? PteFlag.DIRTY : 0);
  }
  E.clearEntry(t, i);
  E.setLeaf(m, t, i, pfn, fl);
  addRmapPtes(phys, pfn, 1, mm.id);
  mm.rss.anon++;
  mm.rss.swapEnts--;
  sw.put(slot);
  if (exclusive && write && sw.count[slot] === 0) {
    // should_try_to_free_swap(): the write takes it out of the swap cache.
    sw.dropCache(slot);
    phys.swapSlot.delete(pfn);
    phys.flags[pfn] = (phys.flags[pfn]! & ~PG.SWAPCACHE) | PG.DIRTY;
  }
  if (write && !exclusive) {
    // The write then COW-copies the (shared) swap-cache page.
    return null;
  }
  return null;
}

/**
 * Swap readahead around a swap-cache fault (swap_vma_readahead with the
 * per-VMA window of swap_vma_ra_win()), clipped to the VMA and PMD block.
 */
function swapReadahead(ctx: OpCtx, vma: Vma, t: PageTable, i: number, addr: number): void {
  const { m, mm } = ctx;
  const ps = m.arch.geometry.pageSize;
  const ra = vma.swapRa;
  const page = Math.floor(addr / ps);
  const last = Math.floor(ra.lastAddr / ps);
  let pages = ra.hits + 2;
  if (pages === 2) {
    if (!(page === last + 1 || page === last - 1)) pages = 1;
  } else {
    let p = 4;
    while (p < pages) p *= 2;
    pages = p;
  }
  if (pages > 8) pages = 8;
  if (pages < ra.win >> 1) pages = ra.win >> 1;
  vma.swapRa = { lastAddr: addr, win: pages, hits: 0 };
  if (pages === 1) return;
  let start: number;
  if (page === last + 1) start = page;
  else if (page === last - 1) start = page - pages + 1;
  else start = page - ((pages - 1) >> 1);
  let end = start + pages;
  const pmdPages = 2 ** (m.arch.geometry.pmdShift - m.arch.geometry.pageShift);
  const blk = page - (page % pmdPages);
  start = Math.max(start, Math.floor(vma.start / ps), blk);
  end = Math.min(end, Math.floor(vma.end / ps), blk + pmdPages);
  const sw = m.swap!;
  const set = m.swapReadahead;
  for (let p = start; p < end; p++) {
    const j = i + (p - page);
    if (!E.isRealSwap(m, t, j)) continue;
    const s = E.swpOffset(m, t, j);
    if (sw.cached(s) >= 0) continue;
    const pfn = readIntoSwapCache(m, mm, vma, s);
    if (p !== page) set.add(pfn);
  }
  void Level;
}

/** Faults on migration, device and hwpoison entries. */
function nonSwapLeafFault(ctx: OpCtx, type: number): FaultResult {
  const st = ctx.m.swapTypes;
  if (type === st.hwpoison) return "EFAULT";
  if (type === st.marker) return "EFAULT";
  // Migration entries: the access would wait for the migration to end;
  // device entries: migrate_to_ram. The model reports the access as failed.
  return "EFAULT";
}
