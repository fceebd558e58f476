import { PteFlag, SwpFlag } from "../arch/types.js";
import { PG } from "../mm/pageflags.js";
import { removeRmapEntire, removeRmapPtes } from "../mm/rmap.js";
import { KernelError } from "../scenario/errors.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { forEachLeaf } from "./range-walk.js";
import { rmapWalk } from "./rmap-walk.js";
import { splitAnonFolio, splitPmdsIn } from "./thp.js";

/*
 * Model-only operations on special entries: memory failure (hwpoison
 * entries) and ZONE_DEVICE memory (device-private and device-exclusive
 * entries). They need CONFIG_MEMORY_FAILURE / CONFIG_DEVICE_PRIVATE, which
 * the model turns on for scenarios that use them (the all-on numbering of
 * the softleaf types).
 */

/** The normal pages mapped by PTEs in [start, end) of the caller, heads of their folios. */
function mappedHeads(ctx: OpCtx, start: number, end: number): Set<number> {
  const { m, mm } = ctx;
  const heads = new Set<number>();
  forEachLeaf(m, mm, start, end, {
    pmd: (t, i) => {
      if (E.isPresent(m, t, i) && E.leafPfn(m, t, i) !== m.phys.hugeZeroPfn)
        heads.add(E.leafPfn(m, t, i));
    },
    pte: (t, i) => {
      if (!E.isPresent(m, t, i)) return;
      const pfn = E.leafPfn(m, t, i);
      if (pfn === m.phys.zeroPfn || E.leafFlags(m, t, i) & PteFlag.SPECIAL) return;
      heads.add(m.phys.folioHead(pfn));
    },
  });
  return heads;
}

/**
 * madvise(MADV_HWPOISON) → memory_failure() on each mapped folio: every
 * mapping becomes a hwpoison entry naming the page; the page is marked
 * HWPOISON and never freed. Large folios are split first where possible.
 */
export function doHwpoison(ctx: OpCtx, start: number, end: number): void {
  const { m } = ctx;
  if (m.swapTypes.hwpoison < 0) throw new KernelError("EINVAL", "CONFIG_MEMORY_FAILURE is off");
  const phys = m.phys;
  const heads = mappedHeads(ctx, start, end);
  for (const mp of rmapWalk(m, heads)) {
    const { mm, table: t, index: i, pfn } = mp;
    const head = phys.folioHead(pfn);
    const nr = t.level === 4 ? 1 : phys.folioNr(head);
    if (t.level === 4) removeRmapPtes(phys, pfn, 1, mm.id);
    else removeRmapEntire(phys, head, mm.id);
    if (phys.flags[head]! & PG.ANON) mm.rss.anon -= nr;
    else if (phys.flags[head]! & PG.SWAPBACKED) mm.rss.shmem -= nr;
    else mm.rss.file -= nr;
    E.clearEntry(t, i);
    E.setSwp(m, t, i, m.swapTypes.hwpoison, pfn, 0);
    phys.flags[pfn]! |= PG.HWPOISON;
  }
}

/**
 * migrate_vma to device-private memory: each anonymous page mapped in the
 * range moves to a device page and its PTE becomes a device-private entry
 * (write or read as the PTE was). Device pages come out of RAM in the model.
 */
export function doDevicePrivate(ctx: OpCtx, start: number, end: number): void {
  const { m, mm } = ctx;
  if (m.swapTypes.deviceWrite < 0) throw new KernelError("EINVAL", "CONFIG_DEVICE_PRIVATE is off");
  const phys = m.phys;
  const vmaOf = (a: number) => mm.findVma(a)!;
  forEachNonHugetlbPiece(ctx, start, end, (s, e) =>
    forEachLeaf(m, mm, s, e, {
      pte: (t, i, addr) => {
        if (!E.isPresent(m, t, i)) return;
        let pfn = E.leafPfn(m, t, i);
        const fl = E.leafFlags(m, t, i);
        if (pfn === phys.zeroPfn || fl & PteFlag.SPECIAL) return;
        if ((phys.flags[phys.folioHead(pfn)]! & PG.ANON) === 0) return;
        if (phys.order[pfn]! > 0) {
          splitAnonFolio(ctx, vmaOf(addr), addr, pfn);
          if (!E.isPresent(m, t, i)) return;
          pfn = E.leafPfn(m, t, i);
          if (pfn === phys.zeroPfn) return;
        }
        const dev = phys.allocFolio(
          0,
          0,
          (phys.flags[pfn]! & ~(PG.LRU | PG.ACTIVE | PG.HEAD)) | PG.DEVICE,
        );
        phys.content[dev] = phys.content[pfn]!;
        phys.mapping[dev] = phys.mapping[pfn]!;
        phys.mapcount[dev] = 1;
        removeRmapPtes(phys, pfn, 1, mm.id);
        const type = fl & PteFlag.WRITE ? m.swapTypes.deviceWrite : m.swapTypes.deviceRead;
        E.clearEntry(t, i);
        E.setSwp(m, t, i, type, dev, phys.flags[dev]! & PG.ANON_EXCLUSIVE ? SwpFlag.EXCLUSIVE : 0);
        if (phys.mapcount[pfn] === 0) phys.freeFolio(pfn);
      },
    }),
  );
}

/**
 * make_device_exclusive(): each anonymous page mapped in the range gets a
 * device-exclusive entry naming the same page (the page stays mapped in
 * the rmap sense).
 */
export function doDeviceExclusive(ctx: OpCtx, start: number, end: number): void {
  const { m, mm } = ctx;
  if (m.swapTypes.deviceExclusive < 0)
    throw new KernelError("EINVAL", "CONFIG_DEVICE_PRIVATE is off");
  const phys = m.phys;
  forEachNonHugetlbPiece(ctx, start, end, (s, e) =>
    forEachLeaf(m, mm, s, e, {
      pte: (t, i) => {
        if (!E.isPresent(m, t, i)) return;
        const pfn = E.leafPfn(m, t, i);
        const fl = E.leafFlags(m, t, i);
        if (pfn === phys.zeroPfn || fl & PteFlag.SPECIAL) return;
        if ((phys.flags[phys.folioHead(pfn)]! & PG.ANON) === 0) return;
        E.clearEntry(t, i);
        E.setSwp(m, t, i, m.swapTypes.deviceExclusive, pfn, 0);
      },
    }),
  );
}

/**
 * Call `fn` on each piece of [start, end) outside hugetlb VMAs, after
 * splitting the PMD leaves there (migrate_vma and make_device_exclusive
 * work on PTEs and never touch hugetlb).
 */
function forEachNonHugetlbPiece(
  ctx: OpCtx,
  start: number,
  end: number,
  fn: (s: number, e: number) => void,
): void {
  const { m, mm } = ctx;
  for (const v of mm.vmasIn(start, end)) {
    if (v.backing.kind === "hugetlb") continue;
    const s = Math.max(start, v.start);
    const e = Math.min(end, v.end);
    splitPmdsIn(m, mm, s, e);
    fn(s, e);
  }
}
