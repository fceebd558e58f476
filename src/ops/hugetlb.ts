import { type Level, PteFlag } from "../arch/types.js";
import { hugetlbWpForget, hugetlbWpRecorded } from "../mm/hugetlb-uffd-wp.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import { PG } from "../mm/pageflags.js";
import type { PageTable } from "../mm/pgtable.js";
import { addRmapEntire, folioMapcount, removeRmapEntire } from "../mm/rmap.js";
import { VM, type Vma, VmHi } from "../mm/vma.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import type { FaultResult } from "./fault.js";
import { anonVmaPrepare, maybeFreeFolio, vmaBaseFlags } from "./folio.js";
import { recordUffdEvent } from "./uffd-fault.js";

/** The hugetlb size row of the architecture for a VMA. */
export function hugeLevel(m: Machine, hugeSize: number): Level {
  const hs = m.arch.geometry.hugetlbSizes.find((h) => h.bytes === hugeSize);
  if (!hs) throw new Error(`no hugetlb size of ${hugeSize} bytes`);
  return hs.level;
}

/** huge_pte_offset()/huge_pte_alloc(): the table and index holding the huge entry. */
export function hugeSlot(
  m: Machine,
  mm: MmStruct,
  vma: Vma,
  addr: number,
  alloc: boolean,
): [PageTable, number] | null {
  if (vma.backing.kind !== "hugetlb") return null;
  const level = hugeLevel(m, vma.backing.hugeSize);
  const t = mm.pt.tableFor(addr, level, alloc);
  if (t === null) return null;
  return [t, mm.pt.index(level, addr)];
}

/** Take a folio from the pool (alloc_hugetlb_folio). */
export function allocHugetlbFolio(m: Machine, hugeSize: number, flags: number): number {
  for (const pool of m.hugetlb.values()) {
    if (pool.bytes !== hugeSize) continue;
    const pfn = pool.free.pop();
    if (pfn === undefined) throw new Error(`hugetlb pool ${pool.name} exhausted`);
    // Pool folios keep PG_dirty from earlier users; the model treats every
    // hugetlb folio as dirty (observation.md, "Stability").
    m.phys.flags[pfn] = PG.HUGETLB | PG.ALLOCATED | PG.HEAD | PG.UPTODATE | PG.DIRTY | flags;
    return pfn;
  }
  throw new Error(`no hugetlb pool for ${hugeSize} bytes`);
}

/** A new private (anonymous) hugetlb folio, exclusive. */
function newPrivateHuge(m: Machine, mm: MmStruct, vma: Vma): number {
  anonVmaPrepare(m, mm, vma);
  const pfn = allocHugetlbFolio(
    m,
    (vma.backing as { hugeSize: number }).hugeSize,
    PG.ANON | PG.ANON_EXCLUSIVE,
  );
  m.phys.mapping[pfn] = vma.anonVma!.id;
  return pfn;
}

/** The hugetlbfs page-cache folio at `addr`, allocated if missing. */
function sharedHugeFolio(m: Machine, vma: Vma, addr: number): number {
  if (vma.backing.kind !== "hugetlb") throw new Error("not hugetlb");
  const space = vma.backing.space;
  const hs = vma.backing.hugeSize;
  const ps = m.arch.geometry.pageSize;
  const hidx = Math.floor((vma.pgoff * ps + (addr - vma.start)) / hs);
  space.ensure(hidx + 1);
  let pfn = space.pages[hidx]!;
  if (pfn < 0) {
    pfn = allocHugetlbFolio(m, hs, PG.PAGECACHE | PG.DIRTY);
    m.phys.mapping[pfn] = space.id;
    space.pages[hidx] = pfn;
  }
  return pfn;
}

/**
 * hugetlb_fault(): faults in hugetlb VMAs act on whole huge pages. A
 * private page is allocated exclusive (read-only until written); a shared
 * one is the hugetlbfs page-cache folio, mapped writable and dirty. A write
 * to a read-only private page reuses it if exclusive, else copies it whole.
 *
 * Locking: mmap lock for read; the hugetlb VMA lock and the huge PTE lock
 * inside.
 */
export function hugetlbFault(ctx: OpCtx, vma: Vma, addr: number, write: boolean): FaultResult {
  const { m, mm } = ctx;
  const [t, i] = hugeSlot(m, mm, vma, addr, true)!;
  const base = vmaBaseFlags(vma);
  if (E.isPresent(m, t, i)) {
    const fl = E.leafFlags(m, t, i);
    if (!write) {
      E.hwAccess(m, t, i, false);
      return null;
    }
    if (fl & PteFlag.UFFD_WP) {
      if (!vma.uffd?.async) recordUffdEvent(ctx, vma, addr, ["write", "wp"]);
      E.updateLeafFlags(m, t, i, 0, PteFlag.UFFD_WP);
      return hugetlbFault(ctx, vma, addr, write);
    }
    if (fl & PteFlag.WRITE) {
      E.hwAccess(m, t, i, true);
      return null;
    }
    hugetlbWp(ctx, vma, t, i);
    return null;
  }
  if (E.isSwp(m, t, i)) {
    const marker = E.markerBits(m, t, i);
    if (marker & 1) {
      if (write) {
        if (!vma.uffd?.async) recordUffdEvent(ctx, vma, addr, ["write", "wp"]);
        E.clearEntry(t, i);
        return hugetlbFault(ctx, vma, addr, write);
      }
      E.clearEntry(t, i);
      const r = hugetlbNoPage(ctx, vma, t, i, addr, false, base);
      E.updateLeafFlags(m, t, i, PteFlag.UFFD_WP, PteFlag.WRITE);
      return r;
    }
    return "EFAULT";
  }
  const hugeStart = addr - (addr % (vma.backing as { hugeSize: number }).hugeSize);
  if (m.config.hugetlbUffdWp === "marker-free" && hugetlbWpRecorded(mm, hugeStart)) {
    // A recorded none entry behaves exactly as a uffd-wp marker would.
    hugetlbWpForget(mm, hugeStart, hugeStart + 1);
    if (write) {
      if (!vma.uffd?.async) recordUffdEvent(ctx, vma, addr, ["write", "wp"]);
      return hugetlbFault(ctx, vma, addr, write);
    }
    const r = hugetlbNoPage(ctx, vma, t, i, addr, false, base);
    E.updateLeafFlags(m, t, i, PteFlag.UFFD_WP, PteFlag.WRITE);
    return r;
  }
  return hugetlbNoPage(ctx, vma, t, i, addr, write, base);
}

function hugetlbNoPage(
  ctx: OpCtx,
  vma: Vma,
  t: PageTable,
  i: number,
  addr: number,
  write: boolean,
  base: number,
): FaultResult {
  const { m, mm } = ctx;
  const shared = (vma.flags & VM.SHARED) !== 0;
  const sync = vma.uffd !== null && !vma.uffd.async;
  if (shared) {
    const space = (vma.backing as { space: { pages: Int32Array } }).space;
    const hs = (vma.backing as { hugeSize: number }).hugeSize;
    const hidx = Math.floor((vma.pgoff * m.arch.geometry.pageSize + (addr - vma.start)) / hs);
    const cached = hidx < space.pages.length && space.pages[hidx]! >= 0;
    if (sync && cached && vma.flagsHi & VmHi.UFFD_MINOR) {
      recordUffdEvent(ctx, vma, addr, write ? ["write", "minor"] : ["minor"]);
    } else if (sync && !cached && vma.flags & VM.UFFD_MISSING) {
      recordUffdEvent(ctx, vma, addr, write ? ["write"] : []);
    }
    const pfn = sharedHugeFolio(m, vma, addr);
    const w = vma.flags & VM.WRITE ? PteFlag.WRITE | PteFlag.DIRTY : 0;
    E.setLeaf(m, t, i, pfn, base | PteFlag.YOUNG | w);
    addRmapEntire(m.phys, pfn, mm.id);
    return null;
  }
  if (sync && vma.flags & VM.UFFD_MISSING) {
    recordUffdEvent(ctx, vma, addr, write ? ["write"] : []);
    const pfn = newPrivateHuge(m, mm, vma);
    E.setLeaf(m, t, i, pfn, base | PteFlag.YOUNG | PteFlag.WRITE | PteFlag.DIRTY);
    addRmapEntire(m.phys, pfn, mm.id);
    return null;
  }
  const pfn = newPrivateHuge(m, mm, vma);
  const w = write ? PteFlag.WRITE | PteFlag.DIRTY : 0;
  E.setLeaf(m, t, i, pfn, base | PteFlag.YOUNG | w);
  addRmapEntire(m.phys, pfn, mm.id);
  return null;
}

/** hugetlb_wp(): reuse an exclusive private page, else copy it whole. */
function hugetlbWp(ctx: OpCtx, vma: Vma, t: PageTable, i: number): void {
  const { m, mm } = ctx;
  const pfn = E.leafPfn(m, t, i);
  const wflags = PteFlag.WRITE | PteFlag.DIRTY | PteFlag.YOUNG;
  if (vma.flags & VM.SHARED) {
    E.updateLeafFlags(m, t, i, wflags, 0);
    return;
  }
  const phys = m.phys;
  if (
    phys.flags[pfn]! & PG.ANON_EXCLUSIVE ||
    (phys.flags[pfn]! & PG.ANON && folioMapcount(phys, pfn) === 1)
  ) {
    phys.flags[pfn]! |= PG.ANON_EXCLUSIVE;
    E.updateLeafFlags(m, t, i, wflags, 0);
    return;
  }
  const copy = newPrivateHuge(m, mm, vma);
  const nr = phys.folioNr(pfn);
  for (let k = 0; k < nr; k++) phys.content[copy + k] = phys.content[pfn + k]!;
  removeRmapEntire(phys, pfn, mm.id);
  E.clearEntry(t, i);
  E.setLeaf(m, t, i, copy, vmaBaseFlags(vma) | wflags);
  addRmapEntire(phys, copy, mm.id);
  maybeFreeFolio(m, pfn);
}
