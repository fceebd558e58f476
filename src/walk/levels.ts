/**
 * The per-level loops of the callback walker (mm/pagewalk.c walk_pgd_range
 * … walk_pte_range, walk_hugetlb_range) and the walk state they share.
 * Entry points live in pagewalk.ts.
 */
import { Level } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { PageTable } from "../mm/pgtable.js";
import type { Vma } from "../mm/vma.js";
import { splitHugePmd } from "../ops/thp.js";
import { releaseLeaf } from "../ops/zap.js";
import { hugetlbVmaLock } from "./locks.js";
import { type MmWalk, type MmWalkOps, WalkAction, type WalkFlavour } from "./types.js";

const NO_SCRATCH = new Uint32Array(0);

/** struct mm_walk, mutable inside the walker. */
export class WalkState<P> implements MmWalk<P> {
  vma: Vma | null = null;
  action: WalkAction = WalkAction.SUBTREE;
  /** install_pte output slot: [lo, hi]. */
  readonly scratch: Uint32Array;
  readonly install: boolean;
  /** Whether any callback below PGD/P4D/PUD/PMD is set (descent decisions). */
  readonly belowPgd: boolean;
  readonly belowP4d: boolean;
  readonly belowPud: boolean;
  readonly private: P;

  constructor(
    readonly ops: MmWalkOps<P>,
    readonly machine: Machine,
    public mm: MmStruct,
    readonly noVma: boolean,
    readonly flavour: WalkFlavour,
    priv: P,
  ) {
    this.private = priv;
    this.install = ops.installPte !== undefined;
    // Only install mode writes it: other walks share one empty array (no allocation per walk).
    this.scratch = this.install ? new Uint32Array(2) : NO_SCRATCH;
    this.belowPud = ops.pmdEntry !== undefined || ops.pteEntry !== undefined;
    this.belowP4d = ops.pudEntry !== undefined || this.belowPud;
    this.belowPgd = ops.p4dEntry !== undefined || this.belowP4d;
  }
}

// ---------------------------------------------------------------------------
// geometry helpers (no allocation)

/** 2^k (a table read: `2 ** k` of a variable is a pow() call). */
const POW2 = Float64Array.from({ length: 64 }, (_, k) => 2 ** k);

function levelFolded(m: Machine, level: number): boolean {
  return m.arch.geometry.levels[level]!.folded;
}

/** walk->action after a callback (a call, so the compiler does not narrow it). */
function actionOf(w: WalkState<unknown>): WalkAction {
  return w.action;
}

/** p?d_addr_end(): end of the entry at `level` holding `addr`, clipped to `end`. */
function addrEnd(m: Machine, level: number, addr: number, end: number): number {
  const g = m.arch.geometry.levels[level]!;
  if (g.folded) return end;
  const size = POW2[g.shift]!;
  // floor(addr / size) * size is exact for a power of two (and avoids fmod).
  const boundary = Math.floor(addr / size) * size + size;
  return Math.min(boundary, end);
}

function slotIndex(m: Machine, level: number, addr: number): number {
  const g = m.arch.geometry.levels[level]!;
  const q = Math.floor(addr / POW2[g.shift]!);
  return q - Math.floor(q / g.entries) * g.entries;
}

/** real_depth(): a hole's depth with folded levels collapsed upwards. */
export function realDepth(m: Machine, depth: number): number {
  while (depth > 0 && levelFolded(m, depth)) depth--;
  return depth;
}

/**
 * p?d_none() of the entry at `level` held in slot (t, i): a level whose
 * child level is folded has a constant-false none test (the folded child
 * reads the same slot and does the real test).
 */
function slotNone(m: Machine, level: number, t: PageTable, i: number): boolean {
  if (level < Level.PTE && levelFolded(m, level + 1)) return false;
  return m.arch.isNone(t.words[i * 2]!, t.words[i * 2 + 1]!, t.level);
}

function slotPresent(m: Machine, t: PageTable, i: number): boolean {
  return m.arch.isPresent(t.words[i * 2]!, t.words[i * 2 + 1]!, t.level);
}

function slotLeaf(m: Machine, t: PageTable, i: number): boolean {
  return m.arch.isLeaf(t.words[i * 2]!, t.words[i * 2 + 1]!, t.level);
}

/** Allocate the missing table below slot (t, i) (install mode: __p?d_alloc). */
function allocBelow(w: WalkState<unknown>, t: PageTable, i: number): void {
  const pt = w.mm.pt;
  const child = pt.childLevel(t.level);
  if (child === -1) return;
  const c = pt.allocTable(child);
  w.machine.arch.encodeTable(t.words, i, c.pfn, t.level, pt.kernel);
  t.used++;
}

// ---------------------------------------------------------------------------
// level loops

function walkPteRange(
  w: WalkState<unknown>,
  pmdT: PageTable,
  pmdI: number,
  addr: number,
  end: number,
): number {
  const m = w.machine;
  const ops = w.ops;
  const pte = w.mm.pt.child(pmdT, pmdI);
  if (pte === null) {
    // pte_offset_map_lock() failed: the PMD changed under us; retry it.
    w.action = WalkAction.AGAIN;
    return 0;
  }
  const ps = m.arch.geometry.pageSize;
  const locked = !w.noVma;
  if (locked) pte.ptl.lock("walk_pte_range");
  let err = 0;
  try {
    let i = slotIndex(m, Level.PTE, addr);
    for (; addr < end; addr += ps, i++) {
      if (w.install && m.arch.isNone(pte.words[i * 2]!, pte.words[i * 2 + 1]!, Level.PTE)) {
        w.scratch[0] = 0;
        w.scratch[1] = 0;
        err = ops.installPte!(addr, addr + ps, w.scratch, w);
        if (err) break;
        pte.words[i * 2] = w.scratch[0]!;
        pte.words[i * 2 + 1] = w.scratch[1]!;
        if (w.scratch[0] !== 0 || w.scratch[1] !== 0) pte.used++;
        continue;
      }
      if (ops.pteEntry) {
        err = ops.pteEntry(pte, i, addr, addr + ps, w);
        if (err) break;
      }
    }
  } finally {
    if (locked) pte.ptl.unlock();
  }
  return err;
}

/**
 * split_huge_pmd() as the walker calls it (§1.6 step 4): an anonymous VMA
 * gets a PTE table mapping the same pages; any other VMA has the PMD
 * cleared (its folio's dirty/young carried over), so the retry reports a hole.
 */
function splitPmdForWalk(w: WalkState<unknown>, t: PageTable, i: number): void {
  const m = w.machine;
  const vma = w.vma!;
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  t.ptl.lock("split_huge_pmd");
  try {
    if (vma.isAnon) {
      splitHugePmd(m, w.mm, t, i);
      return;
    }
    if (m.arch.isPresent(lo, hi, t.level)) {
      const nr = 2 ** (m.arch.geometry.pmdShift - m.arch.geometry.pageShift);
      releaseLeaf(
        m,
        w.mm,
        m.arch.leafPfn(lo, hi, t.level),
        nr,
        m.arch.leafFlags(lo, hi, t.level),
        true,
      );
    }
    t.words[i * 2] = 0;
    t.words[i * 2 + 1] = 0;
    t.used--;
  } finally {
    t.ptl.unlock();
  }
}

function walkPmdRange(
  w: WalkState<unknown>,
  pudT: PageTable,
  pudI: number,
  addr: number,
  end: number,
): number {
  const m = w.machine;
  const ops = w.ops;
  let t: PageTable;
  let i: number;
  if (levelFolded(m, Level.PMD)) {
    t = pudT;
    i = pudI;
  } else {
    const c = w.mm.pt.child(pudT, pudI);
    if (c === null) return 0;
    t = c;
    i = slotIndex(m, Level.PMD, addr);
  }
  const hugetlbVma = w.vma?.isHugetlb;
  // addrEnd()/slotNone() of this level, hoisted.
  const g = m.arch.geometry.levels[Level.PMD]!;
  const pmdFolded = g.folded;
  const pmdSize = POW2[g.shift]!;
  const noneTestable = !levelFolded(m, Level.PTE);
  const a = m.arch;
  let err = 0;
  let next = addr;
  for (; addr < end; addr = next, i++) {
    for (;;) {
      // again:
      if (pmdFolded) next = end;
      else {
        const b = Math.floor(addr / pmdSize) * pmdSize + pmdSize;
        next = Math.min(b, end);
      }
      if (noneTestable && a.isNone(t.words[i * 2]!, t.words[i * 2 + 1]!, t.level)) {
        if (w.install) {
          allocBelow(w, t, i);
        } else {
          if (ops.pteHole) err = ops.pteHole(addr, next, realDepth(m, 3), w);
          if (err) return err;
          break;
        }
      }
      w.action = WalkAction.SUBTREE;
      if (ops.pmdEntry) {
        err = ops.pmdEntry(t, i, addr, next, w);
        if (err) return err;
      }
      if (actionOf(w) === WalkAction.AGAIN) continue;
      if (actionOf(w) === WalkAction.CONTINUE) break;
      const present = slotPresent(m, t, i);
      const leaf = !present || slotLeaf(m, t, i);
      if (!ops.pteEntry) {
        if (!w.install || (present && leaf)) break;
      }
      if (leaf) {
        if (w.vma === null || (w.flavour === "unified" && hugetlbVma)) break;
        splitPmdForWalk(w, t, i);
      }
      err = walkPteRange(w, t, i, addr, next);
      if (err) return err;
      if (actionOf(w) === WalkAction.AGAIN) continue;
      break;
    }
  }
  return 0;
}

function walkPudRange(
  w: WalkState<unknown>,
  p4dT: PageTable,
  p4dI: number,
  addr: number,
  end: number,
): number {
  const m = w.machine;
  const ops = w.ops;
  let t: PageTable;
  let i: number;
  if (levelFolded(m, Level.PUD)) {
    t = p4dT;
    i = p4dI;
  } else {
    const c = w.mm.pt.child(p4dT, p4dI);
    if (c === null) return 0;
    t = c;
    i = slotIndex(m, Level.PUD, addr);
  }
  const unified = w.flavour === "unified";
  let err = 0;
  let next = addr;
  for (; addr < end; addr = next, i++) {
    for (;;) {
      next = addrEnd(m, Level.PUD, addr, end);
      if (slotNone(m, Level.PUD, t, i)) {
        if (w.install) {
          allocBelow(w, t, i);
        } else {
          if (ops.pteHole) err = ops.pteHole(addr, next, realDepth(m, 2), w);
          if (err) return err;
          break;
        }
      }
      const present = slotPresent(m, t, i);
      const leaf = !present || slotLeaf(m, t, i);
      w.action = WalkAction.SUBTREE;
      // Unified RFC: pud_entry only for leaf (model: or non-present) PUDs.
      if (ops.pudEntry && (!unified || leaf)) {
        err = ops.pudEntry(t, i, addr, next, w);
        if (err) return err;
      }
      if (actionOf(w) === WalkAction.AGAIN) continue;
      if (actionOf(w) === WalkAction.CONTINUE) break;
      if (!w.belowPud) {
        if (!w.install || (present && leaf)) break;
      }
      // split_huge_pud(): the model has no PUD THP/DAX leaves outside
      // hugetlb, and hugetlb leaves are never split: a leaf is not descended.
      if (leaf) break;
      err = walkPmdRange(w, t, i, addr, next);
      if (err) return err;
      break;
    }
  }
  return 0;
}

function walkP4dRange(
  w: WalkState<unknown>,
  pgdT: PageTable,
  pgdI: number,
  addr: number,
  end: number,
): number {
  const m = w.machine;
  const ops = w.ops;
  let t: PageTable;
  let i: number;
  if (levelFolded(m, Level.P4D)) {
    t = pgdT;
    i = pgdI;
  } else {
    const c = w.mm.pt.child(pgdT, pgdI);
    if (c === null) return 0;
    t = c;
    i = slotIndex(m, Level.P4D, addr);
  }
  let err = 0;
  let next = addr;
  for (; addr < end; addr = next, i++) {
    next = addrEnd(m, Level.P4D, addr, end);
    if (slotNone(m, Level.P4D, t, i)) {
      if (w.install) {
        allocBelow(w, t, i);
      } else {
        if (ops.pteHole) err = ops.pteHole(addr, next, realDepth(m, 1), w);
        if (err) return err;
        continue;
      }
    }
    if (ops.p4dEntry) {
      err = ops.p4dEntry(t, i, addr, next, w);
      if (err) return err;
    }
    if (w.belowP4d || w.install) {
      err = walkPudRange(w, t, i, addr, next);
      if (err) return err;
    }
  }
  return 0;
}

export function walkPgdRange(w: WalkState<unknown>, addr: number, end: number): number {
  const m = w.machine;
  const ops = w.ops;
  const t = w.mm.pt.root;
  let i = slotIndex(m, Level.PGD, addr);
  let err = 0;
  let next = addr;
  for (; addr < end; addr = next, i++) {
    next = addrEnd(m, Level.PGD, addr, end);
    if (slotNone(m, Level.PGD, t, i)) {
      if (w.install) {
        allocBelow(w, t, i);
      } else {
        if (ops.pteHole) err = ops.pteHole(addr, next, 0, w);
        if (err) return err;
        continue;
      }
    }
    if (ops.pgdEntry) {
      err = ops.pgdEntry(t, i, addr, next, w);
      if (err) return err;
    }
    if (w.belowPgd || w.install) {
      err = walkP4dRange(w, t, i, addr, next);
      if (err) return err;
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------
// hugetlb (mainline flavour)

function hugetlbLevel(m: Machine, size: number): Level {
  for (const hs of m.arch.geometry.hugetlbSizes) if (hs.bytes === size) return hs.level;
  throw new Error(`no hugetlb size of ${size} bytes on ${m.arch.geometry.name}`);
}

/** walk_hugetlb_range(): one hugetlbEntry per huge page whose slot exists. */
export function walkHugetlbRange(w: WalkState<unknown>, addr: number, end: number): number {
  const m = w.machine;
  const vma = w.vma!;
  const size = (vma.backing as { hugeSize: number }).hugeSize;
  const level = hugetlbLevel(m, size);
  const lock = hugetlbVmaLock(vma);
  const ops = w.ops;
  let err = 0;
  // The table found for the previous huge page serves every huge page it
  // covers (huge_pte_offset() would descend to the same table): one
  // descent per table, not per huge page. Missing tables are looked up again.
  const g = m.arch.geometry.levels[level]!;
  const entrySize = POW2[g.shift]!;
  const tableSpan = entrySize * g.entries;
  let cached: PageTable | null = null;
  let cachedEnd = 0;
  lock.readLock("walk_hugetlb_range");
  try {
    for (; addr < end; ) {
      const b = Math.floor(addr / size) * size + size;
      const next = Math.min(b, end);
      let t: PageTable | null;
      if (cached !== null && addr < cachedEnd) t = cached;
      else {
        t = w.mm.pt.tableFor(addr, level, false);
        if (t !== null) {
          cached = t;
          cachedEnd = Math.floor(addr / tableSpan) * tableSpan + tableSpan;
        }
      }
      if (t !== null) {
        const q = Math.floor(addr / entrySize);
        err = ops.hugetlbEntry!(t, q - Math.floor(q / g.entries) * g.entries, -size, addr, next, w);
      } else if (ops.pteHole) err = ops.pteHole(addr, next, -1, w);
      if (err) break;
      addr = next;
    }
  } finally {
    lock.readUnlock();
  }
  return err;
}
