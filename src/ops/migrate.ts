import { Level, PteFlag, SwpFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import { PG } from "../mm/pageflags.js";
import { addRmapEntire, addRmapPtes, removeRmapEntire, removeRmapPtes } from "../mm/rmap.js";
import { type MemPolicy, VM } from "../mm/vma.js";
import { KernelError } from "../scenario/errors.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { forEachLeaf } from "./range-walk.js";
import { type Mapping, rmapWalk } from "./rmap-walk.js";
import { modifyRange } from "./vma-ops.js";

/** A folio whose migration has begun: its mappings are migration entries. */
interface InFlight {
  head: number;
  toNode: number;
}

/** The folios (heads) mapped in [start, end) of the calling process. */
function foliosIn(ctx: OpCtx, start: number, end: number): Set<number> {
  const { m, mm } = ctx;
  const heads = new Set<number>();
  const add = (pfn: number, fl: number): void => {
    if (pfn === m.phys.zeroPfn || pfn === m.phys.hugeZeroPfn || fl & PteFlag.SPECIAL) return;
    const head = m.phys.folioHead(pfn);
    if (m.phys.flags[head]! & (PG.HUGETLB | PG.KSM | PG.DEVICE)) return;
    heads.add(head);
  };
  forEachLeaf(m, mm, start, end, {
    pmd: (t, i) => {
      if (E.isPresent(m, t, i)) add(E.leafPfn(m, t, i), E.leafFlags(m, t, i));
    },
    pte: (t, i) => {
      if (E.isPresent(m, t, i)) add(E.leafPfn(m, t, i), E.leafFlags(m, t, i));
    },
  });
  return heads;
}

/** Encode a migration entry for a present mapping (try_to_migrate_one). */
function installMigrationEntry(m: Machine, mp: Mapping): void {
  const { table: t, index: i, mm } = mp;
  const fl = E.leafFlags(m, t, i);
  const phys = m.phys;
  const pfn = mp.pfn;
  const st = m.swapTypes;
  const type =
    fl & PteFlag.WRITE
      ? st.migrationWrite
      : phys.flags[pfn]! & PG.ANON_EXCLUSIVE
        ? st.migrationReadExclusive
        : st.migrationRead;
  let off = pfn;
  if (m.arch.migrationSupportsAd) {
    const pfnBits = m.arch.geometry.swpPfnBits;
    if (fl & PteFlag.YOUNG) off += 2 ** pfnBits;
    if (fl & PteFlag.DIRTY) off += 2 ** (pfnBits + 1);
  }
  const sf =
    (fl & PteFlag.UFFD_WP ? SwpFlag.UFFD_WP : 0) |
    (fl & PteFlag.SOFT_DIRTY ? SwpFlag.SOFT_DIRTY : 0);
  const pmd = t.level !== Level.PTE;
  E.clearEntry(t, i);
  E.setSwp(m, t, i, type, off, sf);
  if (pmd) removeRmapEntire(phys, pfn, mm.id);
  else removeRmapPtes(phys, pfn, 1, mm.id);
}

/** remove_migration_ptes(): migration entries of `oldHead` become present entries of `newHead`. */
function removeMigrationEntries(m: Machine, oldHead: number, newHead: number): void {
  const st = m.swapTypes;
  const pfnBits = m.arch.geometry.swpPfnBits;
  const nr = m.phys.folioNr(oldHead);
  for (const mm of m.procs.values()) {
    for (const v of mm.vmas) {
      const fix = (t: import("../mm/pgtable.js").PageTable, i: number): void => {
        if (!E.isSwp(m, t, i)) return;
        const type = E.swpType(m, t, i);
        if (
          type !== st.migrationRead &&
          type !== st.migrationReadExclusive &&
          type !== st.migrationWrite
        )
          return;
        const off = E.swpOffset(m, t, i);
        const pfn = off % 2 ** pfnBits;
        if (pfn < oldHead || pfn >= oldHead + nr) return;
        const young = m.arch.migrationSupportsAd && Math.floor(off / 2 ** pfnBits) % 2 === 1;
        const dirty = m.arch.migrationSupportsAd && Math.floor(off / 2 ** (pfnBits + 1)) % 2 === 1;
        const sf = E.swpFlags(m, t, i);
        let fl = v.flags & VM.EXEC ? PteFlag.EXEC : 0;
        if (type === st.migrationWrite) fl |= PteFlag.WRITE;
        if (young) fl |= PteFlag.YOUNG;
        if (dirty) fl |= PteFlag.DIRTY;
        if (sf & SwpFlag.UFFD_WP) fl |= PteFlag.UFFD_WP;
        const np = newHead + (pfn - oldHead);
        E.clearEntry(t, i);
        E.setLeaf(m, t, i, np, fl);
        if (t.level !== Level.PTE) addRmapEntire(m.phys, newHead, mm.id);
        else addRmapPtes(m.phys, np, 1, mm.id);
        if (type === st.migrationReadExclusive || type === st.migrationWrite) {
          if (m.phys.flags[oldHead]! & PG.ANON) m.phys.flags[np]! |= PG.ANON_EXCLUSIVE;
        }
      };
      forEachLeaf(m, mm, v.start, v.end, { pmd: fix, pte: fix });
    }
  }
}

/** Allocate the destination folio on `node` and copy the source's state (folio_migrate_mapping/flags). */
function copyFolio(m: Machine, head: number, node: number): number {
  const phys = m.phys;
  const order = phys.order[head]!;
  const nr = 2 ** order;
  const keep = phys.flags[head]! & ~(PG.HEAD | PG.TAIL | PG.ALLOCATED | PG.LOCKED);
  const np = phys.allocFolio(order, node, keep);
  for (let k = 0; k < nr; k++) {
    phys.content[np + k] = phys.content[head + k]!;
    phys.mapping[np + k] = phys.mapping[head + k]!;
    phys.flags[np + k]! |= phys.flags[head + k]! & PG.ANON_EXCLUSIVE;
  }
  return np;
}

/** Finish migrating `head` (or undo it): the old folio is freed or restored. */
function finish(m: Machine, f: InFlight, undo: boolean): void {
  const phys = m.phys;
  phys.flags[f.head]! &= ~PG.LOCKED;
  if (undo) {
    removeMigrationEntries(m, f.head, f.head);
    return;
  }
  const np = copyFolio(m, f.head, f.toNode);
  removeMigrationEntries(m, f.head, np);
  // The page cache follows the folio.
  if (phys.flags[f.head]! & PG.PAGECACHE) {
    for (const s of m.spaces) {
      if (s.id !== phys.mapping[f.head]) continue;
      const idx = s.pages.indexOf(f.head);
      if (idx >= 0) s.pages[idx] = np;
    }
  }
  phys.flags[f.head]! &= ~PG.PAGECACHE;
  phys.freeFolio(f.head);
}

/**
 * The model-only `migrate` step: migrate_pages() of the folios mapped in
 * the range to `toNode`. `begin` installs migration entries in every
 * mapping and leaves the folios locked mid-migration; `end` completes
 * (or with `undo` restores) every migration in flight; `all` does both.
 */
export function doMigrate(
  ctx: OpCtx,
  start: number,
  end: number,
  toNode: number,
  phase: "all" | "begin" | "end",
  undo: boolean,
): void {
  const { m } = ctx;
  if (toNode >= m.phys.nodes.length) throw new KernelError("EINVAL", "no such node");
  const fl = m.migrations;
  if (phase === "end") {
    for (const [head, node] of fl) finish(m, { head, toNode: node }, undo);
    fl.clear();
    return;
  }
  const heads = foliosIn(ctx, start, end);
  for (const h of [...heads]) if (m.phys.node[h] === toNode || fl.has(h)) heads.delete(h);
  for (const mp of rmapWalk(m, heads)) installMigrationEntry(m, mp);
  for (const h of heads) {
    m.phys.flags[h]! |= PG.LOCKED;
    const f = { head: h, toNode };
    if (phase === "all") finish(m, f, false);
    else fl.set(h, toNode);
  }
}

/** mbind(): the range's policy (VMAs split as needed); `move` migrates misplaced folios. */
export function doMbind(
  ctx: OpCtx,
  start: number,
  end: number,
  policy: MemPolicy,
  move: boolean,
): void {
  const { m, mm } = ctx;
  if (policy.nodes.some((n) => n >= m.phys.nodes.length))
    throw new KernelError("EINVAL", "no such node");
  modifyRange(m, mm, start, end, (v) => {
    v.policy = policy;
  });
  if (!move || policy.nodes.length === 0) return;
  const heads = foliosIn(ctx, start, end);
  const allowed = new Set(policy.nodes);
  for (const h of [...heads]) if (allowed.has(m.phys.node[h]!)) heads.delete(h);
  for (const mp of rmapWalk(m, heads)) installMigrationEntry(m, mp);
  for (const h of heads) finish(m, { head: h, toNode: policy.nodes[0]! }, false);
}
