import { Level } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { PageTable } from "../mm/pgtable.js";
import * as E from "./entries.js";

/**
 * Visitor over the leaf entries of [start, end) in one mm, used by the
 * operations (madvise, mlock, mprotect-like passes): the PMD slot of each
 * 2 MiB block whose PMD is a leaf or non-present, else every non-none PTE.
 * This is the ops' private iteration, not the public walker API.
 */
export interface LeafVisitor {
  /** A PMD leaf (or PMD softleaf) covering [addr, next). */
  pmd?(pmdT: PageTable, pi: number, addr: number, next: number): void;
  /** A non-none PTE. */
  pte?(t: PageTable, i: number, addr: number): void;
}

export function forEachLeaf(
  m: Machine,
  mm: MmStruct,
  start: number,
  end: number,
  v: LeafVisitor,
): void {
  const pmdSize = 2 ** m.arch.geometry.pmdShift;
  const ps = m.arch.geometry.pageSize;
  for (let a = start; a < end; ) {
    const next = Math.min(end, a - (a % pmdSize) + pmdSize);
    const pmdT = mm.pt.tableFor(a, Level.PMD, false);
    if (pmdT !== null) {
      const pi = mm.pt.index(Level.PMD, a);
      if (E.isHugeLeaf(m, pmdT, pi) || E.isSwp(m, pmdT, pi)) {
        v.pmd?.(pmdT, pi, a, next);
      } else if (v.pte) {
        const t = mm.pt.child(pmdT, pi);
        if (t !== null) {
          for (let b = a; b < next; b += ps) {
            const i = mm.pt.index(Level.PTE, b);
            if (!E.isNone(m, t, i)) v.pte(t, i, b);
          }
        }
      }
    }
    a = next;
  }
}
