import { PteFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import type { AddressSpace } from "../mm/pagecache.js";
import { PG } from "../mm/pageflags.js";
import type { PageTable } from "../mm/pgtable.js";
import { addRmapPtes } from "../mm/rmap.js";
import { VM, type Vma, VmHi } from "../mm/vma.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import type { FaultResult } from "./fault.js";
import { copyPage, policyNode, vmaBaseFlags } from "./folio.js";
import { mlockFolio } from "./mlock.js";
import { recordUffdEvent } from "./uffd-fault.js";

/**
 * Whether the VMA's vm_page_prot is writable: a shared writable mapping
 * that needs no write notification (shmem, tmpfs, hugetlbfs; not a disk
 * file, not one registered for uffd-wp). vma_wants_writenotify() negated.
 */
export function pageProtWritable(m: Machine, vma: Vma): boolean {
  if ((vma.flags & (VM.SHARED | VM.WRITE)) !== (VM.SHARED | VM.WRITE)) return false;
  const s = vma.space;
  if (s === null) return false;
  if (s.kind === "disk") return false;
  if (vma.flags & VM.UFFD_WP) return false;
  if (softDirtyTracking(m, vma)) return false;
  return true;
}

/**
 * vma_soft_dirty_enabled(): soft-dirty tracking is armed on a VMA whose
 * VM_SOFTDIRTY was cleared (clear_refs 4); its writes must fault.
 */
export function softDirtyTracking(m: Machine, vma: Vma): boolean {
  return m.config.softDirty && (vma.flags & VM.SOFTDIRTY) === 0;
}

/** Entry flags for a page-cache page mapped by a read fault (fault-around included). */
function readMapFlags(m: Machine, vma: Vma): number {
  return vmaBaseFlags(vma) | PteFlag.YOUNG | (pageProtWritable(m, vma) ? PteFlag.WRITE : 0);
}

/**
 * Map a page-cache page at t[i] (set_pte_range + folio_add_file_rmap_ptes):
 * RSS accounted, and the folio mlocked in a VM_LOCKED VMA.
 */
function mapFilePage(
  ctx: OpCtx,
  vma: Vma,
  t: PageTable,
  i: number,
  pfn: number,
  flags: number,
): void {
  const { m, mm } = ctx;
  E.setLeaf(m, t, i, pfn, flags);
  addRmapPtes(m.phys, pfn, 1, mm.id);
  if (vma.space!.swapBacked) mm.rss.shmem++;
  else mm.rss.file++;
  if (vma.flags & VM.LOCKED) mlockFolio(m.phys.flags, pfn);
}

/** Read an evicted disk-file page back into the page cache (mapped-to-disk, active). */
export function readDiskPage(m: Machine, space: AddressSpace, idx: number): number {
  const p = m.phys.allocFolio(
    0,
    0,
    PG.UPTODATE | PG.LRU | PG.ACTIVE | PG.MAPPEDTODISK | PG.PAGECACHE,
  );
  m.phys.mapping[p] = space.id;
  m.phys.content[p] = space.contentOf(idx);
  space.pages[idx] = p;
  return p;
}

/** Flags of a page created in a shmem object (a hole filled, a page swapped in). */
function newShmemPage(
  m: Machine,
  ctx: OpCtx,
  vma: Vma,
  space: AddressSpace,
  idx: number,
  flags: number,
): number {
  const pfn = m.phys.allocFolio(
    0,
    policyNode(ctx.mm, vma),
    flags | PG.UPTODATE | PG.LRU | PG.SWAPBACKED | PG.PAGECACHE,
  );
  m.phys.mapping[pfn] = space.id;
  space.pages[idx] = pfn;
  return pfn;
}

/**
 * Bring the page at `idx` into the page cache if it is swapped out (shmem,
 * tmpfs: shmem_swapin_folio) or was evicted (disk: a read with readahead
 * over the fault-around window). Returns its PFN, or -1 for a shmem hole.
 */
export function pageCacheGet(
  ctx: OpCtx,
  vma: Vma,
  space: AddressSpace,
  idx: number,
  addr: number,
): number {
  const { m } = ctx;
  let pfn = space.pages[idx]!;
  if (pfn >= 0) return pfn;
  const slot = space.swap[idx]!;
  if (slot >= 0 && m.swap) {
    const sw = m.swap;
    const cached = sw.cached(slot);
    if (cached >= 0) {
      pfn = cached;
      m.phys.swapSlot.delete(pfn);
      m.phys.flags[pfn] =
        (m.phys.flags[pfn]! & ~PG.SWAPCACHE & ~PG.ANON) | PG.DIRTY | PG.ACTIVE | PG.PAGECACHE;
      m.phys.mapping[pfn] = space.id;
      space.pages[idx] = pfn;
      sw.setCached(slot, -1);
    } else {
      pfn = newShmemPage(m, ctx, vma, space, idx, PG.DIRTY | PG.ACTIVE);
      m.phys.content[pfn] = sw.content[slot]!;
    }
    space.swap[idx] = -1;
    sw.put(slot);
    return pfn;
  }
  if (space.kind === "disk") {
    // Read back the evicted pages of the fault-around window.
    const [ws, we] = faultAroundWindow(ctx, vma, addr);
    const ps = m.arch.geometry.pageSize;
    for (let a = ws; a < we; a += ps) {
      const j = vma.pageIndex(a, m.arch.geometry.pageShift);
      if (space.pages[j]! >= 0 || j >= space.nrPages) continue;
      const p = m.phys.allocFolio(
        0,
        0,
        PG.UPTODATE | PG.LRU | PG.ACTIVE | PG.MAPPEDTODISK | PG.PAGECACHE,
      );
      m.phys.mapping[p] = space.id;
      m.phys.content[p] = space.contentOf(j);
      space.pages[j] = p;
    }
    return space.pages[idx]!;
  }
  return -1;
}

/**
 * The fault-around window of do_fault_around(): the fault_around_bytes
 * aligned block holding `addr` (starting at the VMA start if that lies
 * inside the block), clipped to the VMA, the PMD block and the file.
 */
export function faultAroundWindow(ctx: OpCtx, vma: Vma, addr: number): [number, number] {
  const { m } = ctx;
  const ps = m.arch.geometry.pageSize;
  const win = m.config.faultAroundPages * ps;
  let start = addr - (addr % win);
  if (vma.start > start) start = vma.start;
  let end = start + win;
  const pmdSize = 2 ** m.arch.geometry.pmdShift;
  const pmdEnd = addr - (addr % pmdSize) + pmdSize;
  end = Math.min(end, vma.end, pmdEnd);
  const space = vma.space!;
  const fileEnd = vma.start + (space.nrPages - vma.pgoff) * ps;
  end = Math.min(end, fileEnd);
  return [start, end];
}

/** filemap_map_pages(): map the cached pages of the window whose PTE is none. */
function faultAround(ctx: OpCtx, vma: Vma, t: PageTable, addr: number): void {
  const { m, mm } = ctx;
  const space = vma.space!;
  const [ws, we] = faultAroundWindow(ctx, vma, addr);
  const ps = m.arch.geometry.pageSize;
  const flags = readMapFlags(ctx.m, vma);
  for (let a = ws; a < we; a += ps) {
    const i = mm.pt.index(4, a);
    if (!E.isNone(m, t, i)) continue;
    const idx = vma.pageIndex(a, m.arch.geometry.pageShift);
    const pfn = space.pages[idx]!;
    if (pfn < 0) continue;
    mapFilePage(ctx, vma, t, i, pfn, flags);
  }
}

/**
 * do_read_fault / do_cow_fault / do_shared_fault for a none PTE of a file,
 * shmem or shared-anonymous VMA.
 */
export function fileFault(
  ctx: OpCtx,
  vma: Vma,
  t: PageTable,
  i: number,
  addr: number,
  write: boolean,
): FaultResult {
  const { m, mm } = ctx;
  const space = vma.space!;
  const idx = vma.pageIndex(addr, m.arch.geometry.pageShift);
  if (idx >= space.nrPages) return "EFAULT"; // SIGBUS beyond EOF
  const syncUffd = vma.uffd !== null && !vma.uffd.async;
  const cachedBefore = space.pages[idx]! >= 0;
  // userfaultfd minor: the page is cached but not mapped.
  if (syncUffd && cachedBefore && isMinorRegistered(vma)) {
    recordUffdEvent(ctx, vma, addr, write ? ["write", "minor"] : ["minor"]);
    mapCachedPage(ctx, vma, t, i, space.pages[idx]!, write);
    return null;
  }
  if (!write) {
    const noAround = (vma.flags & VM.UFFD_WP) !== 0 || isMinorRegistered(vma);
    if (!noAround) {
      if (space.kind === "disk" && !cachedBefore) pageCacheGet(ctx, vma, space, idx, addr);
      faultAround(ctx, vma, t, addr);
      if (!E.isNone(m, t, i)) return null;
    }
    let pfn = space.pages[idx]!;
    if (pfn < 0 && space.swap[idx]! < 0 && syncUffd && vma.flags & VM.UFFD_MISSING) {
      recordUffdEvent(ctx, vma, addr, []);
      pfn = newShmemPage(m, ctx, vma, space, idx, 0);
      mapFilePage(
        ctx,
        vma,
        t,
        i,
        pfn,
        vmaBaseFlags(vma) | PteFlag.YOUNG | PteFlag.DIRTY | PteFlag.WRITE,
      );
      return null;
    }
    if (pfn < 0) pfn = pageCacheGet(ctx, vma, space, idx, addr);
    if (pfn < 0) pfn = newShmemPage(m, ctx, vma, space, idx, 0);
    mapFilePage(ctx, vma, t, i, pfn, readMapFlags(ctx.m, vma));
    return null;
  }
  // Write fault on a none entry: never faults around.
  let pfn = pageCacheGet(ctx, vma, space, idx, addr);
  if (pfn < 0 && syncUffd && vma.flags & VM.UFFD_MISSING) {
    recordUffdEvent(ctx, vma, addr, ["write"]);
    pfn = newShmemPage(m, ctx, vma, space, idx, 0);
    mapFilePage(
      ctx,
      vma,
      t,
      i,
      pfn,
      vmaBaseFlags(vma) | PteFlag.YOUNG | PteFlag.DIRTY | PteFlag.WRITE,
    );
    return null;
  }
  if ((vma.flags & VM.SHARED) === 0) {
    // do_cow_fault(): copy the file page (a hole reads as zeros).
    const copy = copyPage(m, mm, vma, addr, pfn);
    if (pfn < 0) m.phys.content[copy] = 0;
    E.setLeaf(m, t, i, copy, vmaBaseFlags(vma) | PteFlag.WRITE | PteFlag.YOUNG | PteFlag.DIRTY);
    addRmapPtes(m.phys, copy, 1, mm.id);
    mm.rss.anon++;
    return null;
  }
  if (pfn < 0) pfn = newShmemPage(m, ctx, vma, space, idx, 0);
  m.phys.flags[pfn]! |= PG.DIRTY;
  mapFilePage(
    ctx,
    vma,
    t,
    i,
    pfn,
    vmaBaseFlags(vma) | PteFlag.WRITE | PteFlag.YOUNG | PteFlag.DIRTY,
  );
  return null;
}

function isMinorRegistered(vma: Vma): boolean {
  return (vma.flagsHi & VmHi.UFFD_MINOR) !== 0;
}

/** UFFDIO_CONTINUE: map the cached page. */
function mapCachedPage(
  ctx: OpCtx,
  vma: Vma,
  t: PageTable,
  i: number,
  pfn: number,
  write: boolean,
): void {
  const { m } = ctx;
  let flags = readMapFlags(ctx.m, vma);
  if (write && vma.flags & VM.WRITE) {
    flags |= PteFlag.WRITE | PteFlag.DIRTY;
    m.phys.flags[pfn]! |= PG.DIRTY;
  }
  mapFilePage(ctx, vma, t, i, pfn, flags);
}
