import type { Machine } from "./machine.js";
import type { MmStruct } from "./mm.js";
import { PG } from "./pageflags.js";

/** Shared pieces of the invariant verifier (src/mm/verify.ts). */

/** How many problems of one kind are listed before the rest are only counted. */
export const MAX_PER_KIND = 8;

export class Problems {
  readonly out: string[] = [];
  private readonly perKind = new Map<string, number>();

  add(kind: string, msg: string): void {
    const n = (this.perKind.get(kind) ?? 0) + 1;
    this.perKind.set(kind, n);
    if (n <= MAX_PER_KIND) this.out.push(msg);
  }

  finish(): string[] {
    for (const [kind, n] of this.perKind) {
      if (n > MAX_PER_KIND)
        this.out.push(`... and ${n - MAX_PER_KIND} more problems of kind ${kind}`);
    }
    return this.out;
  }
}

/** Reused per-machine count arrays (no 10 MB allocation per step). */
export interface Scratch {
  /** Recomputed PTE mapcount per PFN. */
  pteMap: Int32Array;
}

export const scratches = new WeakMap<Machine, Scratch>();

export function scratch(m: Machine): Scratch {
  let s = scratches.get(m);
  if (!s) {
    s = { pteMap: new Int32Array(m.phys.maxPfn) };
    scratches.set(m, s);
  } else {
    s.pteMap.fill(0);
  }
  return s;
}

export const hex = (n: number): string => `0x${n.toString(16)}`;
export const mmName = (mm: MmStruct): string => `mm ${mm.name} (id ${mm.id})`;

/** Flags as names, for messages. */
export function flagNames(f: number): string {
  const names: string[] = [];
  for (const [k, v] of Object.entries(PG)) if (f & v) names.push(k);
  return names.length > 0 ? names.join("|") : "0";
}

/** Counts recomputed for one mm. */
export interface MmCounts {
  readonly mm: MmStruct;
  anon: number;
  file: number;
  shmem: number;
  swapEnts: number;
  tables: number;
  /** Mappings of large non-hugetlb folios by this mm: head → PTEs + PMD/PUD leaves. */
  readonly largeMaps: Map<number, number>;
}

/** What the page-table walk of every mm produced, for the global checks. */
export interface WalkResult {
  readonly counts: MmCounts[];
  /** Entire (PMD/PUD, hugetlb: any-level) mappings per folio head. */
  readonly entire: Map<number, number>;
  /** Folio heads referenced by migration entries (locked, unmapped, not leaked). */
  readonly migrating: Set<number>;
  /** Tables reached from an mm root, by PFN → owner. */
  readonly reached: Map<number, MmStruct>;
  /** References per swap slot from page tables (sparse). */
  readonly swapRefs: Map<number, number>;
}
