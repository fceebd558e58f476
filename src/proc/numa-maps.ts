/**
 * /proc/pid/numa_maps (proc.md §3): per-VMA node counts of the present
 * pages, on either callback-walker flavour or (numa-maps-ptrange.ts) on
 * pt_range_walk.
 */

import { PteFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { PageTable } from "../mm/pgtable.js";
import { precisePageMapcount } from "../mm/rmap.js";
import type { MemPolicy, Vma } from "../mm/vma.js";
import { walkPageVma } from "../walk/pagewalk.js";
import { pteOffsetMapLock } from "../walk/pte-map.js";
import { type MmWalk, type MmWalkOps, PageWalkLock, WalkAction } from "../walk/types.js";
import {
  entryIsPresent,
  type Generation,
  hugePresent,
  normalPage,
  PG,
  pmdIsHugeOrSwap,
} from "./common.js";
import { numaWalkPtRange } from "./numa-maps-ptrange.js";
import { kernelPageSize } from "./smaps.js";

/** struct numa_maps. */
export class NumaMaps {
  pages = 0;
  anon = 0;
  active = 0;
  writeback = 0;
  mapcountMax = 0;
  dirty = 0;
  swapcache = 0;
  node: number[] = [];
}

/** The walk's private data. */
export interface NumaPriv {
  m: Machine;
  md: NumaMaps;
}

/** gather_stats(): `nr` pages counted through `page`. */
export function gatherStats(p: NumaPriv, page: number, dirty: boolean, nr: number): void {
  const m = p.m;
  const md = p.md;
  const head = m.phys.folioHead(page);
  const k = m.phys.flags[head]!;
  const count = precisePageMapcount(m.phys, page);
  md.pages += nr;
  // Every hugetlb folio counts as PG_dirty (observation.md, "Stability").
  if (dirty || k & (PG.DIRTY | PG.HUGETLB)) md.dirty += nr;
  if (k & PG.SWAPCACHE) md.swapcache += nr;
  if (k & (PG.ACTIVE | PG.UNEVICTABLE)) md.active += nr;
  if (k & PG.ANON) md.anon += nr;
  if (count > md.mapcountMax) md.mapcountMax = count;
  const nid = m.phys.node[head]!;
  md.node[nid] = (md.node[nid] ?? 0) + nr;
}

/** can_gather_numa_stats(): a present PTE's normal, non-reserved, non-device page. */
function gatherPte(p: NumaPriv, t: PageTable, i: number): void {
  const m = p.m;
  if (!entryIsPresent(m, t, i)) return;
  const page = normalPage(m, t, i);
  if (page < 0) return;
  const k = m.phys.flags[m.phys.folioHead(page)]!;
  if (k & (PG.DEVICE | PG.RESERVED)) return;
  const f = m.arch.leafFlags(t.words[i * 2]!, t.words[i * 2 + 1]!, t.level);
  gatherStats(p, page, (f & PteFlag.DIRTY) !== 0, 1);
}

/** gather_hugetlb_stats(): one count per present huge entry, through its head page. */
function gatherHuge(p: NumaPriv, t: PageTable, i: number): void {
  const m = p.m;
  if (!hugePresent(m, t, i)) return;
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  const head = m.phys.folioHead(m.arch.leafPfn(lo, hi, t.level));
  gatherStats(p, head, (m.arch.leafFlags(lo, hi, t.level) & PteFlag.DIRTY) !== 0, 1);
}

/** gather_pte_stats(): the pmd_entry of both flavours. */
function gatherPteStats(
  t: PageTable,
  i: number,
  addr: number,
  next: number,
  walk: MmWalk<NumaPriv>,
): number {
  const p = walk.private;
  const m = p.m;
  if (walk.vma!.isHugetlb) {
    gatherHuge(p, t, i);
    walk.action = WalkAction.CONTINUE;
    return 0;
  }
  if (pmdIsHugeOrSwap(m, t, i)) {
    t.ptl.lock("gather_pte_stats");
    try {
      // can_gather_numa_stats_pmd(): present, normal (not huge zero), not reserved.
      if (entryIsPresent(m, t, i)) {
        const page = normalPage(m, t, i);
        if (page >= 0 && (m.phys.flags[m.phys.folioHead(page)]! & PG.RESERVED) === 0) {
          const f = m.arch.leafFlags(t.words[i * 2]!, t.words[i * 2 + 1]!, t.level);
          gatherStats(p, page, (f & PteFlag.DIRTY) !== 0, m.phys.folioNr(page));
        }
      }
    } finally {
      t.ptl.unlock();
    }
    return 0;
  }
  const pte = pteOffsetMapLock(walk, t, i, "gather_pte_stats");
  if (pte === null) return 0;
  const ps = m.arch.geometry.pageSize;
  try {
    let k = walk.mm.pt.index(pte.level, addr);
    for (; addr < next; addr += ps, k++) gatherPte(p, pte, k);
  } finally {
    pte.ptl.unlock();
  }
  return 0;
}

function gatherPudStats(
  t: PageTable,
  i: number,
  _addr: number,
  _next: number,
  walk: MmWalk<NumaPriv>,
): number {
  if (walk.vma!.isHugetlb) gatherHuge(walk.private, t, i);
  return 0;
}

function gatherHugetlbStats(
  t: PageTable,
  i: number,
  _hmask: number,
  _addr: number,
  _next: number,
  walk: MmWalk<NumaPriv>,
): number {
  gatherHuge(walk.private, t, i);
  return 0;
}

const NUMA_OPS: MmWalkOps<NumaPriv> = {
  pmdEntry: gatherPteStats,
  hugetlbEntry: gatherHugetlbStats,
  walkLock: PageWalkLock.RDLOCK,
};
const NUMA_OPS_UNIFIED: MmWalkOps<NumaPriv> = {
  pudEntry: gatherPudStats,
  pmdEntry: gatherPteStats,
  walkLock: PageWalkLock.RDLOCK,
};

/** mpol_to_str() of a policy (flags are not modelled). */
export function policyString(pol: MemPolicy): string {
  switch (pol.mode) {
    case "default":
      return "default";
    case "local":
      return "local";
    default: {
      const name =
        pol.mode === "preferred"
          ? "prefer"
          : pol.mode === "weighted_interleave"
            ? "weighted interleave"
            : pol.mode;
      return pol.nodes.length > 0 ? `${name}:${nodelistString(pol.nodes)}` : name;
    }
  }
}

/** A node list in range-list form (`0-3,5`). */
export function nodelistString(nodes: readonly number[]): string {
  const s = [...new Set(nodes)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    parts.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/** One numa_maps line of a VMA, as its parts. */
export interface NumaMapsLine {
  start: number;
  policy: string;
  file: string | null;
  flags: string[];
  /** The printed `key=value` pairs in order (empty when no page was counted). */
  fields: Array<[string, number]>;
}

/**
 * show_numa_map - one VMA's numa_maps line (proc.md §3).
 *
 * Locking: the caller holds @mm's mmap lock for read.
 */
export function numaMapsVma(m: Machine, mm: MmStruct, vma: Vma, gen: Generation): NumaMapsLine {
  const md = new NumaMaps();
  const line: NumaMapsLine = {
    start: vma.start,
    policy: policyString(vma.policy ?? mm.policy),
    file: vma.space !== null ? vma.space.name : null,
    flags: vma.isHugetlb ? ["huge"] : [],
    fields: [],
  };
  if (gen === "pt_range") numaWalkPtRange({ m, md }, mm, vma);
  else
    walkPageVma(
      m,
      mm,
      vma,
      gen === "unified" ? NUMA_OPS_UNIFIED : NUMA_OPS,
      { m, md },
      { flavour: gen },
    );
  if (md.pages === 0) return line;
  const f = line.fields;
  if (md.anon) f.push(["anon", md.anon]);
  if (md.dirty) f.push(["dirty", md.dirty]);
  if (md.pages !== md.anon && md.pages !== md.dirty) f.push(["mapped", md.pages]);
  if (md.mapcountMax > 1) f.push(["mapmax", md.mapcountMax]);
  if (md.swapcache) f.push(["swapcache", md.swapcache]);
  if (md.active < md.pages && !vma.isHugetlb) f.push(["active", md.active]);
  if (md.writeback) f.push(["writeback", md.writeback]);
  for (let nid = 0; nid < md.node.length; nid++) {
    const c = md.node[nid];
    if (c) f.push([`N${nid}`, c]);
  }
  f.push(["kernelpagesize_kB", kernelPageSize(m, vma) / 1024]);
  return line;
}

/** numa_maps' escaping of a path (`\n`, `\t`, space and `=` as octal). */
export function numaEscape(path: string): string {
  return path.replace(/[\n\t =]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
}
