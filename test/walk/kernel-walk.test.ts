import { describe, expect, it } from "vitest";
import { getArch } from "../../src/arch/index.js";
import { Level, PteFlag } from "../../src/arch/types.js";
import { getInitMm, initMmLayout, isInitMm } from "../../src/mm/init-mm.js";
import { LockError } from "../../src/mm/locks.js";
import { Machine } from "../../src/mm/machine.js";
import type { MmStruct } from "../../src/mm/mm.js";
import type { PageTable } from "../../src/mm/pgtable.js";
import { verifyMachine } from "../../src/mm/verify.js";
import { parseScenario } from "../../src/scenario/parse.js";
import { configFromSetup } from "../../src/scenario/run.js";
import {
  walkKernelPageTableRange,
  walkKernelPageTableRangeLockless,
  walkPageRangeDebug,
} from "../../src/walk/kernel-walk.js";
import { EINVAL } from "../../src/walk/pagewalk.js";
import type { MmWalk, MmWalkOps } from "../../src/walk/types.js";
import { A, runSteps } from "../proc/run.js";

const K4 = 0x1000;
const M2 = 0x200000;
const G1 = 0x40000000;
const TWO64 = 2 ** 64;

/** `0x…` of an unsigned 64-bit value held in a number (exact for page-aligned values). */
function h(n: number): string {
  const hi = Math.floor(n / 2 ** 32);
  const lo = n - hi * 2 ** 32;
  return hi === 0
    ? `0x${lo.toString(16)}`
    : `0x${hi.toString(16)}${lo.toString(16).padStart(8, "0")}`;
}

/** A machine booted with `memory` bytes of RAM (the model's RAM starts at 16 MiB). */
function machineWith(memory: string, arch = "x86_64"): Machine {
  const sc = parseScenario({
    format: "pagewalk-scenario/1",
    name: "k",
    arch,
    setup: { memory, hugetlb_pages: { "2M": 0, "1G": 0 } },
    steps: [],
  });
  return new Machine(getArch(arch), configFromSetup(sc));
}

function withRead<T>(mm: MmStruct, fn: () => T): T {
  mm.mmapLock.readLock("test");
  try {
    return fn();
  } finally {
    mm.mmapLock.readUnlock();
  }
}

function withWrite<T>(mm: MmStruct, fn: () => T): T {
  mm.mmapLock.writeLock("test");
  try {
    return fn();
  } finally {
    mm.mmapLock.writeUnlock();
  }
}

/**
 * Ops recording the walk, consecutive calls of one kind collapsed:
 * "<level> leaf|table|hole <first> x<count>"; PTEs as "pte <first> x<n>" (none PTEs as "pte-none").
 */
function tracer(trace: string[]): MmWalkOps<null> {
  let run: { key: string; from: number; n: number } | null = null;
  const add = (key: string, addr: number) => {
    if (run && run.key === key) {
      run.n++;
      return;
    }
    flush();
    run = { key, from: addr, n: 1 };
  };
  const flush = () => {
    if (run) trace.push(`${run.key} ${h(run.from)} x${run.n}`);
    run = null;
  };
  const entry =
    (name: string, level: Level) =>
    (t: PageTable, i: number, addr: number, _next: number, w: MmWalk<null>): number => {
      const m = w.machine;
      const lo = t.words[i * 2]!;
      const hi = t.words[i * 2 + 1]!;
      const kind = m.arch.isLeaf(lo, hi, level) ? "leaf" : "table";
      if (name === "pgd" || name === "p4d") return 0; // every slot (folded P4D): not traced
      add(`${name} ${kind}`, addr);
      return 0;
    };
  const ops: MmWalkOps<null> = {
    pgdEntry: entry("pgd", Level.PGD),
    p4dEntry: entry("p4d", Level.P4D),
    pudEntry: entry("pud", Level.PUD),
    pmdEntry: entry("pmd", Level.PMD),
    pteEntry(t, i, addr, _next, w) {
      const none = w.machine.arch.isNone(t.words[i * 2]!, t.words[i * 2 + 1]!, Level.PTE);
      add(none ? "pte-none" : "pte", addr);
      return 0;
    },
    pteHole(addr, _next, depth) {
      add(`hole d${depth}`, addr);
      return 0;
    },
  };
  (ops as { flush?: () => void }).flush = flush;
  return ops;
}

function runTrace(m: Machine, start: number, end: number): string[] {
  const trace: string[] = [];
  const ops = tracer(trace);
  const initMm = getInitMm(m);
  const r = withRead(initMm, () => walkKernelPageTableRange(m, start, end, ops, null, null));
  expect(r).toBe(0);
  (ops as { flush?: () => void }).flush!();
  return trace;
}

describe("init_mm", () => {
  it("is built lazily, once, without touching the machine's allocator, registry or ids", () => {
    const m = machineWith("2G");
    const free = m.phys.nodes.map((n) => n.buddy.freePages);
    const tables = m.tables.size;
    const id = m.newId();
    const mm = getInitMm(m);
    expect(getInitMm(m)).toBe(mm);
    expect(isInitMm(m, mm)).toBe(true);
    expect(m.procs.size).toBe(0);
    expect(m.tables.size).toBe(tables);
    expect(m.phys.nodes.map((n) => n.buddy.freePages)).toEqual(free);
    expect(m.newId()).toBe(id + 1);
    expect(mm.vmas).toHaveLength(0);
    expect(mm.mmapLock.name).toBe("mmap_lock(init_mm)");
    expect(verifyMachine(m)).toEqual([]);
  });

  it("maps with kernel protections: global, no user; text executable read-only", () => {
    const m = machineWith("2G");
    const L = initMmLayout(m);
    const mm = getInitMm(m);
    const leaf = (va: number, level: Level) => {
      const t = mm.pt.tableFor(va, level, false)!;
      const i = mm.pt.index(level, va);
      const lo = t.words[i * 2]!;
      const hi = t.words[i * 2 + 1]!;
      expect(m.arch.isLeaf(lo, hi, level)).toBe(true);
      return { flags: m.arch.leafFlags(lo, hi, level), pfn: m.arch.leafPfn(lo, hi, level) };
    };
    const kernel = PteFlag.KERNEL | PteFlag.GLOBAL | PteFlag.YOUNG;
    const dm = leaf(L.pageOffset + G1, Level.PUD);
    expect(dm.flags).toBe(kernel | PteFlag.WRITE | PteFlag.DIRTY);
    expect(dm.pfn).toBe(G1 / K4);
    expect(leaf(L.pageOffset + 5 * M2, Level.PMD).pfn).toBe((5 * M2) / K4);
    expect(leaf(L.pageOffset + 7 * K4, Level.PTE).pfn).toBe(7);
    expect(leaf(L.text.start, Level.PMD).flags).toBe(kernel | PteFlag.EXEC);
    expect(leaf(L.rodata.start, Level.PMD).flags).toBe(kernel);
    expect(leaf(L.data.start, Level.PMD).flags).toBe(kernel | PteFlag.WRITE | PteFlag.DIRTY);
    expect(leaf(L.vmalloc[0]!.start, Level.PTE).flags).toBe(kernel | PteFlag.WRITE | PteFlag.DIRTY);
  });

  it("uses the 4- and 5-level bases", () => {
    const l4 = initMmLayout(machineWith("1G"));
    expect(h(l4.pageOffset)).toBe("0xffff888000000000");
    expect(h(l4.vmallocStart)).toBe("0xffffc90000000000");
    expect(h(l4.guardHoleEnd)).toBe("0xffff880000000000");
    expect(h(l4.userHalfEnd)).toBe("0x800000000000");
    expect(h(l4.text.start)).toBe("0xffffffff81000000");
    expect(h(l4.modulesVaddr)).toBe("0xffffffffc0000000");
    expect(h(l4.fixaddrStart)).toBe("0xffffffffff579000");
    const l5 = initMmLayout(machineWith("1G", "x86_64-la57"));
    expect(h(l5.pageOffset)).toBe("0xff11000000000000");
    expect(h(l5.vmallocStart)).toBe("0xffa0000000000000");
    expect(h(l5.guardHoleEnd)).toBe("0xff10000000000000");
    expect(h(l5.userHalfEnd)).toBe("0x100000000000000");
  });
});

describe("walk_kernel_page_table_range", () => {
  it("walks the direct map: 4K PTEs, then 2M PMD leaves, a 1G PUD leaf, 2M tail", () => {
    // 2 GiB of RAM from 16 MiB: physical [0, 2 GiB + 16 MiB) is mapped.
    const m = machineWith("2G");
    const po = initMmLayout(m).pageOffset;
    expect(runTrace(m, po, po + 4 * G1)).toEqual([
      `pud table ${h(po)} x1`,
      `pmd table ${h(po)} x1`,
      `pte ${h(po)} x512`,
      `pmd leaf ${h(po + M2)} x511`,
      `pud leaf ${h(po + G1)} x1`,
      `pud table ${h(po + 2 * G1)} x1`,
      `pmd leaf ${h(po + 2 * G1)} x8`,
      `hole d3 ${h(po + 2 * G1 + 8 * M2)} x504`,
      `hole d2 ${h(po + 3 * G1)} x1`,
    ]);
  });

  it("reports empty top-level slots as depth-0 holes (4-level) and depth-0/1 holes (5-level)", () => {
    const m4 = machineWith("1G");
    const L4 = initMmLayout(m4);
    // Slot 272 (LDT remap, empty), then the direct map's slot 273.
    expect(runTrace(m4, L4.guardHoleEnd, L4.guardHoleEnd + 2 ** 39 + G1)[0]).toBe(
      `hole d0 ${h(L4.guardHoleEnd)} x1`,
    );
    const m5 = machineWith("1G", "x86_64-la57");
    const L5 = initMmLayout(m5);
    expect(runTrace(m5, L5.guardHoleEnd, L5.guardHoleEnd + 2 ** 48)).toEqual([
      `hole d0 ${h(L5.guardHoleEnd)} x1`,
    ]);
    // Inside the direct map's PGD slot, past its first P4D entry: P4D holes.
    const tr = runTrace(m5, L5.pageOffset + 2 ** 39, L5.pageOffset + 3 * 2 ** 39);
    expect(tr).toEqual([`hole d1 ${h(L5.pageOffset + 2 ** 39)} x2`]);
  });

  it("hands leaves to the level callbacks without descending; kernel image and fixmap", () => {
    const m = machineWith("1G");
    const L = initMmLayout(m);
    expect(runTrace(m, L.text.start, L.data.end)).toEqual([
      `pud table ${h(L.text.start)} x1`,
      `pmd leaf ${h(L.text.start)} x4`,
    ]);
    const fixTrace = runTrace(m, L.fixaddrStart, TWO64);
    expect(fixTrace).toEqual([
      `pud table ${h(L.fixaddrStart)} x1`,
      `pmd table ${h(L.fixaddrStart)} x1`,
      `pte-none ${h(L.fixaddrStart)} x131`,
      `pte ${h(L.fixmapPages[1]!)} x2`,
      `pte-none ${h(L.fixmapPages[0]! + K4)} x2`,
      `pmd table ${h(L.fixaddrTop + K4 - M2)} x1`,
      `pte-none ${h(L.fixaddrTop + K4 - M2)} x512`,
      `hole d3 ${h(L.fixaddrTop + K4)} x4`,
    ]);
  });

  it("runs in no-VMA mode: no vma, no PTL, init_mm as walk.mm, action ignored at PGD", () => {
    const m = machineWith("1G");
    const initMm = getInitMm(m);
    const po = initMmLayout(m).pageOffset;
    let ptes = 0;
    const r = withRead(initMm, () =>
      walkKernelPageTableRange(
        m,
        po,
        po + M2,
        {
          pteEntry(t, _i, _a, _n, w) {
            expect(w.vma).toBeNull();
            expect(w.noVma).toBe(true);
            expect(w.mm).toBe(initMm);
            expect(t.ptl.held).toBe(false);
            ptes++;
            return 0;
          },
        },
        null,
        null,
      ),
    );
    expect(r).toBe(0);
    expect(ptes).toBe(512);
  });

  it("stops with a callback's non-zero value", () => {
    const m = machineWith("1G");
    const initMm = getInitMm(m);
    const po = initMmLayout(m).pageOffset;
    let n = 0;
    const r = withRead(initMm, () =>
      walkKernelPageTableRange(m, po, po + M2, { pteEntry: () => (++n === 3 ? 7 : 0) }, null, null),
    );
    expect(r).toBe(7);
    expect(n).toBe(3);
  });

  it("asserts init_mm's mmap lock (read is enough), naming lock, walker and address", () => {
    const m = machineWith("1G");
    const initMm = getInitMm(m);
    const po = initMmLayout(m).pageOffset;
    const walk = () => walkKernelPageTableRange(m, po, po + M2, { pteEntry: () => 0 }, null, null);
    expect(walk).toThrow(LockError);
    expect(walk).toThrow(
      /walk_kernel_page_table_range at 0xffff888000000000.*mmap_lock\(init_mm\)/,
    );
    expect(withRead(initMm, walk)).toBe(0);
    expect(withWrite(initMm, walk)).toBe(0);
    // Locking is checked before the arguments.
    expect(() => walkKernelPageTableRange(m, po, po, {}, null, null)).toThrow(LockError);
  });

  it("returns -EINVAL for start >= end and for installPte", () => {
    const m = machineWith("1G");
    const initMm = getInitMm(m);
    const po = initMmLayout(m).pageOffset;
    const install: MmWalkOps<null> = { pteEntry: () => 0, installPte: () => 0 };
    withRead(initMm, () => {
      expect(walkKernelPageTableRange(m, po, po, {}, null, null)).toBe(-EINVAL);
      expect(walkKernelPageTableRange(m, po + M2, po, {}, null, null)).toBe(-EINVAL);
      expect(walkKernelPageTableRange(m, po, po + M2, install, null, null)).toBe(-EINVAL);
      expect(walkKernelPageTableRange(m, po, po + M2, {}, initMm.pt.root, null)).toBe(0);
    });
  });

  it("refuses an alternate PGD loudly (levels.ts has no walk->pgd hook)", () => {
    const m = machineWith("1G");
    const initMm = getInitMm(m);
    const other = runSteps([]).machine.procs.get("p0")!.pt.root;
    const po = initMmLayout(m).pageOffset;
    expect(() =>
      withRead(initMm, () => walkKernelPageTableRange(m, po, po + M2, {}, other, null)),
    ).toThrow(/alternate PGD/);
  });
});

describe("walk_kernel_page_table_range_lockless", () => {
  it("needs no lock and keeps the EINVAL rules", () => {
    const m = machineWith("1G");
    const po = initMmLayout(m).pageOffset;
    let n = 0;
    const ops: MmWalkOps<null> = {
      pteEntry: () => {
        n++;
        return 0;
      },
    };
    expect(walkKernelPageTableRangeLockless(m, po, po + M2, ops, null, null)).toBe(0);
    expect(n).toBe(512);
    expect(walkKernelPageTableRangeLockless(m, po, po, ops, null, null)).toBe(-EINVAL);
    expect(
      walkKernelPageTableRangeLockless(m, po, po + M2, { ...ops, installPte: () => 0 }, null, null),
    ).toBe(-EINVAL);
  });
});

describe("walk_page_range_debug", () => {
  function thp() {
    const { machine } = runSteps([
      {
        op: "mmap",
        region: "a",
        addr: `0x${A.toString(16)}`,
        len: "4M",
        prot: "rw",
        share: "private",
        backing: "anon",
      },
      { op: "madvise", region: "a", off: 0, len: "2M", advice: "hugepage" },
      { op: "touch", region: "a", off: 0, len: "2M", access: "write" },
      { op: "touch", region: "a", off: "2M", len: "4K", access: "write" },
    ]);
    return { m: machine, mm: machine.procs.get("p0")! };
  }

  it("needs the user mm's mmap write lock, naming lock, walker and address", () => {
    const { m, mm } = thp();
    const walk = () => walkPageRangeDebug(m, mm, A, A + 4 * M2, { pteEntry: () => 0 }, null, null);
    expect(walk).toThrow(
      /walk_page_range_debug at 0x100000000000.*mmap_lock\(p0\) is not write-held/,
    );
    expect(() => withRead(mm, walk)).toThrow(LockError);
    expect(withWrite(mm, walk)).toBe(0);
  });

  it("forwards init_mm to the kernel walker (read lock enough)", () => {
    const m = machineWith("1G");
    const initMm = getInitMm(m);
    const po = initMmLayout(m).pageOffset;
    const walk = () =>
      walkPageRangeDebug(m, initMm, po, po + M2, { pteEntry: () => 0 }, null, null);
    expect(walk).toThrow(/walk_kernel_page_table_range at 0xffff888000000000/);
    expect(withRead(initMm, walk)).toBe(0);
  });

  it("returns -EINVAL for a null mm, start >= end, installPte", () => {
    const { m, mm } = thp();
    expect(walkPageRangeDebug(m, null, A, A + M2, {}, null, null)).toBe(-EINVAL);
    withWrite(mm, () => {
      expect(walkPageRangeDebug(m, mm, A, A, {}, null, null)).toBe(-EINVAL);
      const install: MmWalkOps<null> = { pteEntry: () => 0, installPte: () => 0 };
      expect(walkPageRangeDebug(m, mm, A, A + M2, install, null, null)).toBe(-EINVAL);
    });
  });

  it("sees a THP as a PMD leaf and never splits it; holes carry their depth", () => {
    const { m, mm } = thp();
    const trace: string[] = [];
    const ops = tracer(trace);
    const r = withWrite(mm, () => walkPageRangeDebug(m, mm, A, A + G1 + M2, ops, null, null));
    (ops as { flush?: () => void }).flush!();
    expect(r).toBe(0);
    expect(trace).toEqual([
      `pud table ${h(A)} x1`,
      `pmd leaf ${h(A)} x1`,
      `pmd table ${h(A + M2)} x1`,
      `pte ${h(A + M2)} x1`,
      `pte-none ${h(A + M2 + K4)} x511`,
      `hole d3 ${h(A + 2 * M2)} x510`,
      `hole d2 ${h(A + G1)} x1`,
    ]);
    const t = mm.pt.tableFor(A, Level.PMD, false)!;
    const i = mm.pt.index(Level.PMD, A);
    expect(m.arch.isLeaf(t.words[i * 2]!, t.words[i * 2 + 1]!, Level.PMD)).toBe(true);
    expect(verifyMachine(m)).toEqual([]);
  });
});
