import { type ArchCodec, Level } from "../arch/types.js";
import { SpinLock } from "./locks.js";
import { PG } from "./pageflags.js";
import type { PhysMem } from "./phys.js";

/**
 * One page-table page: the architecture's real entries as 32-bit halves,
 * the frame it occupies, the level of the entries it holds and its split
 * page-table lock (PTL; for PMD/PUD tables the pmd_lock/pud_lock).
 */
export class PageTable {
  readonly words: Uint32Array;
  /** Entries that are not none (for PT reclaim and the verifier). */
  used = 0;
  readonly ptl: SpinLock;

  constructor(
    readonly level: Level,
    readonly pfn: number,
    entries: number,
  ) {
    this.words = new Uint32Array(entries * 2);
    this.ptl = new SpinLock(`ptl@${pfn.toString(16)}`);
  }

  get entries(): number {
    return this.words.length >> 1;
  }
}

/**
 * The page tables of one address space (or of init_mm): allocation, the
 * descent pgd → p4d → pud → pmd → pte, and freeing. Folded levels have no
 * table of their own: the descent passes through them.
 */
export class PageTables {
  readonly root: PageTable;
  /** Bytes of page-table pages (mm->pgtables_bytes), the root included. */
  bytes = 0;
  private readonly levelOrder: Level[];
  /** 2^shift and entries per level, for index() (hot in every fault). */
  private readonly spanOf: number[];
  private readonly entriesOf: number[];

  constructor(
    readonly arch: ArchCodec,
    readonly phys: PhysMem,
    readonly registry: Map<number, PageTable>,
    readonly kernel = false,
  ) {
    const geo = arch.geometry;
    this.levelOrder = geo.levels.filter((l) => !l.folded).map((l) => l.level);
    this.spanOf = geo.levels.map((l) => 2 ** l.shift);
    this.entriesOf = geo.levels.map((l) => l.entries);
    this.root = this.allocTable(this.levelOrder[0]!);
  }

  /** Entry index of `addr` in a table of `level`. */
  index(level: Level, addr: number): number {
    return Math.floor(addr / this.spanOf[level]!) % this.entriesOf[level]!;
  }

  /** The next real (non-folded) level below `level`, or -1 at PTE. */
  childLevel(level: Level): Level | -1 {
    const i = this.levelOrder.indexOf(level);
    return i + 1 < this.levelOrder.length ? this.levelOrder[i + 1]! : -1;
  }

  allocTable(level: Level): PageTable {
    const pfn = this.phys.allocFolio(0, 0, PG.PGTABLE);
    const t = new PageTable(level, pfn, this.arch.geometry.levels[level]!.entries);
    this.registry.set(pfn, t);
    this.bytes += this.arch.geometry.pageSize;
    return t;
  }

  freeTable(t: PageTable): void {
    this.registry.delete(t.pfn);
    this.phys.freeFolio(t.pfn);
    this.bytes -= this.arch.geometry.pageSize;
  }

  /** The table a non-leaf entry points to. */
  child(t: PageTable, idx: number): PageTable | null {
    const lo = t.words[idx * 2]!;
    const hi = t.words[idx * 2 + 1]!;
    if (this.arch.isNone(lo, hi, t.level)) return null;
    if (t.level !== this.levelOrder[0] && this.arch.isLeaf(lo, hi, t.level)) return null;
    if (!this.arch.isPresent(lo, hi, t.level)) return null;
    return this.registry.get(this.arch.tablePfn(lo, hi, t.level)) ?? null;
  }

  /**
   * Descend to the table holding `target`-level entries for `addr`
   * (pgd_offset → ... → pte_offset_map). With `alloc`, missing tables are
   * allocated (__pte_alloc and friends). Returns null where a table is
   * missing (or a leaf sits above `target`) and `alloc` is false.
   */
  tableFor(addr: number, target: Level, alloc: boolean): PageTable | null {
    let t = this.root;
    while (t.level !== target) {
      const idx = this.index(t.level, addr);
      let c = this.child(t, idx);
      if (c === null) {
        const lo = t.words[idx * 2]!;
        const hi = t.words[idx * 2 + 1]!;
        if (!alloc || !this.arch.isNone(lo, hi, t.level)) return null;
        c = this.allocTable(this.childLevel(t.level) as Level);
        this.arch.encodeTable(t.words, idx, c.pfn, t.level, this.kernel);
        t.used++;
      }
      t = c;
    }
    return t;
  }

  /** Remove the table pointed to by `parent[idx]` (which must be empty). */
  detachChild(parent: PageTable, idx: number): void {
    const c = this.child(parent, idx);
    if (c === null) return;
    parent.words[idx * 2] = 0;
    parent.words[idx * 2 + 1] = 0;
    parent.used--;
    this.freeTable(c);
  }

  /** Every table, depth first (for the verifier and teardown). */
  forEachTable(fn: (t: PageTable, parent: PageTable | null, idx: number) => void): void {
    const visit = (t: PageTable, parent: PageTable | null, pidx: number): void => {
      if (t.level !== Level.PTE) {
        for (let i = 0; i < t.entries; i++) {
          const c = this.child(t, i);
          if (c !== null) visit(c, t, i);
        }
      }
      fn(t, parent, pidx);
    };
    visit(this.root, null, -1);
  }
}
