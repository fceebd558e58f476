import { Level } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { PageTable } from "../mm/pgtable.js";
import * as E from "./entries.js";

/** One mapping of a folio found by {@link rmapWalk}. */
export interface Mapping {
  mm: MmStruct;
  table: PageTable;
  index: number;
  addr: number;
  /** The base page this entry maps (a PMD/PUD leaf: its first page). */
  pfn: number;
}

/**
 * rmap_walk() in miniature: every present leaf, in every live mm, mapping a
 * page of one of the folios `heads`. The model keeps no reverse-map trees;
 * it scans page tables, which is fine for the operations that need it
 * (migration, memory failure, device memory), all of them rare.
 */
export function rmapWalk(m: Machine, heads: ReadonlySet<number>): Mapping[] {
  const out: Mapping[] = [];
  const levels = m.arch.geometry.levels;
  for (const mm of m.procs.values()) {
    const visit = (t: PageTable, base: number): void => {
      const span = 2 ** levels[t.level]!.shift;
      for (let i = 0; i < t.entries; i++) {
        if (E.isNone(m, t, i)) continue;
        const addr = base + i * span;
        if (t.level === Level.PTE || E.isHugeLeaf(m, t, i)) {
          if (!E.isPresent(m, t, i)) continue;
          const pfn = E.leafPfn(m, t, i);
          if (heads.has(m.phys.folioHead(pfn))) out.push({ mm, table: t, index: i, addr, pfn });
          continue;
        }
        const c = mm.pt.child(t, i);
        if (c !== null) visit(c, addr);
      }
    };
    visit(mm.pt.root, 0);
  }
  return out;
}
