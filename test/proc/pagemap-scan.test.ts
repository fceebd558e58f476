import { describe, expect, it } from "vitest";
import { hugetlbWpRecorded } from "../../src/mm/hugetlb-uffd-wp.js";
import type { Machine } from "../../src/mm/machine.js";
import type { ScanResult } from "../../src/proc/observation-types.js";
import { PM, pagemapRead } from "../../src/proc/pagemap.js";
import {
  type HugetlbWpDesign,
  PAGE_IS,
  type PmScanArg,
  type PmScanResult,
  pagemapScan,
} from "../../src/proc/pagemap-scan.js";
import { KernelError } from "../../src/scenario/errors.js";
import { parseScenario } from "../../src/scenario/parse.js";
import { runScenario, WALKER_GENERATIONS, type WalkerGeneration } from "../../src/scenario/run.js";
import { entryAt, mmOf } from "../helpers.js";
import { A, runSteps } from "./run.js";

const K = 4096;
const M2 = 2 * 1024 * 1024;
const ALL = 0x1ff;
const TASK_SIZE = 0x7ffffffff000;

const anon = (region: string, addr: number, len: string, prot = "rw") => ({
  op: "mmap",
  region,
  addr: `0x${addr.toString(16)}`,
  len,
  prot,
  share: "private",
  backing: "anon",
});
const hugetlb = (region: string, addr: number, len: string, size = "2M") => ({
  op: "mmap",
  region,
  addr: `0x${addr.toString(16)}`,
  len,
  prot: "rw",
  share: "private",
  backing: { hugetlb: size },
});
const touch = (region: string, off: string | number, len: string, access = "write") => ({
  op: "touch",
  region,
  off,
  len,
  access,
});
const asyncWp = (region: string) => ({
  op: "uffd_register",
  region,
  mode: ["wp"],
  async_wp: true,
});

/** An argument for [start, end) with one slot per page, everything reported. */
function arg(start: number, end: number, over: Partial<PmScanArg> = {}): PmScanArg {
  return {
    size: 96,
    flags: 0,
    start,
    end,
    vec: 0x10000,
    vecLen: Math.max(0, Math.floor((end - start) / K)),
    maxPages: 0,
    categoryInverted: 0,
    categoryMask: 0,
    categoryAnyofMask: 0,
    returnMask: ALL,
    ...over,
  };
}

/** Build a machine with `steps`, then run PAGEMAP_SCAN on p0. */
function scanAfter(
  steps: unknown[],
  a: PmScanArg,
  opts: { walker?: WalkerGeneration; hugetlbWp?: HugetlbWpDesign } = {},
): { m: Machine; r: PmScanResult } {
  const { machine: m } = runSteps(steps);
  const r = pagemapScan(m, mmOf(m), a, { walker: opts.walker, hugetlbWp: opts.hugetlbWp });
  return { m, r };
}

function errnoOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
  return "none";
}

/** Per-page output categories of [start, start + n pages), -1 where nothing was reported. */
function perPage(r: PmScanResult, start: number, n: number): number[] {
  const out = new Array<number>(n).fill(-1);
  for (const g of r.regions) {
    for (let a = g.start; a < g.end; a += K) out[(a - start) / K] = g.categories;
  }
  return out;
}

/** The scans a step-run scenario recorded. */
function scansOf(steps: unknown[], walker?: WalkerGeneration): ScanResult[] {
  return runSteps(steps, { walker }).doc.scans;
}

describe("PAGEMAP_SCAN argument validation, in the kernel's order (proc.md §5.2)", () => {
  const base = [anon("a", A, "64K"), touch("a", 0, "16K")];
  const { machine: m } = runSteps(base);
  const mm = mmOf(m);
  const err = (over: Partial<PmScanArg>, start = A, end = A + 0x10000) =>
    errnoOf(() => pagemapScan(m, mm, arg(start, end, over)));

  it("refuses a struct size other than 96 with EINVAL", () => {
    expect(err({ size: 88 })).toBe("EINVAL");
    expect(err({ size: 104 })).toBe("EINVAL");
  });

  it("refuses flags outside wp_matching|check_wpasync with EINVAL", () => {
    expect(err({ flags: 4 })).toBe("EINVAL");
    expect(err({ flags: -1 })).toBe("EINVAL");
  });

  it("refuses a category bit above guard in any mask or the return mask with EINVAL", () => {
    expect(err({ categoryMask: 0x200 })).toBe("EINVAL");
    expect(err({ categoryInverted: 0x400 })).toBe("EINVAL");
    expect(err({ categoryAnyofMask: 0x400 })).toBe("EINVAL");
    expect(err({ returnMask: 0x1000 })).toBe("EINVAL");
  });

  it("refuses an unaligned start with EINVAL before it looks at the range", () => {
    expect(err({}, A + 1)).toBe("EINVAL");
    expect(err({}, A + 1, A)).toBe("EINVAL");
  });

  it("refuses an end below the start, or above TASK_SIZE, with EFAULT", () => {
    expect(err({}, A, A - 0x20000)).toBe("EFAULT");
    expect(err({}, A, 0x800000001000)).toBe("EFAULT");
    expect(err({}, A, TASK_SIZE + 1)).toBe("EFAULT");
    expect(err({ vecLen: 4, end: 2n ** 64n - 1n })).toBe("EFAULT");
  });

  it("accepts an end exactly at TASK_SIZE", () => {
    const r = pagemapScan(m, mm, arg(A, TASK_SIZE, { vecLen: 0 }));
    expect(r).toEqual({ ret: 0, walkEnd: TASK_SIZE, regions: [] });
  });

  it("refuses a NULL vector with a length with EINVAL, after the range check", () => {
    expect(err({ vec: 0, vecLen: 1 })).toBe("EINVAL");
    expect(err({ vec: 0, vecLen: 1 }, A, TASK_SIZE + 0x1000)).toBe("EFAULT");
    expect(pagemapScan(m, mm, arg(A, A + 0x4000, { vec: 0, vecLen: 0 })).ret).toBe(0);
  });

  it("refuses a vector larger than the user address space with EFAULT", () => {
    expect(err({ vecLen: 2 ** 50 })).toBe("EFAULT");
  });

  it("rounds an unaligned end up: a one-byte range scans one page", () => {
    const r = pagemapScan(m, mm, arg(A, A + 1, { vecLen: 4 }));
    expect(r).toEqual({
      ret: 1,
      walkEnd: A + K,
      regions: [{ start: A, end: A + K, categories: PAGE_IS.WRITTEN | PAGE_IS.PRESENT }],
    });
  });

  it("returns 0 for a zero-length range, with walk_end = start", () => {
    expect(pagemapScan(m, mm, arg(A + 0x2000, A + 0x2000))).toEqual({
      ret: 0,
      walkEnd: A + 0x2000,
      regions: [],
    });
  });

  it("fails with EPERM under check_wpasync on a VMA without async write-protect", () => {
    expect(err({ flags: 2 })).toBe("EPERM");
    expect(err({ flags: 3 })).toBe("EPERM");
  });

  it("succeeds under check_wpasync over a range holding no VMA: ret 0, walk_end = end", () => {
    const r = pagemapScan(m, mm, arg(A + 0x100000, A + 0x200000, { flags: 3 }));
    expect(r).toEqual({ ret: 0, walkEnd: A + 0x200000, regions: [] });
  });

  it("keeps the protection of the async VMAs an EPERM scan passed before failing", () => {
    const steps = [
      anon("w", A, "16K"),
      touch("w", 0, "16K"),
      asyncWp("w"),
      anon("p", A + 0x4000, "16K"),
      touch("p", 0, "16K"),
    ];
    const { machine } = runSteps(steps);
    const e = errnoOf(() =>
      pagemapScan(machine, mmOf(machine), arg(A, A + 0x8000, { flags: 3, vecLen: 0 })),
    );
    expect(e).toBe("EPERM");
    for (let k = 0; k < 4; k++) expect(entryAt(machine, A + k * K).uffdWp).toBe(true);
    for (let k = 4; k < 8; k++) expect(entryAt(machine, A + k * K).uffdWp).toBe(false);
  });

  it("records a refused step in both scans and errors", () => {
    const { doc } = runSteps([
      anon("a", A, "16K"),
      { op: "pagemap_scan", region: "a", raw: { size: 88 }, expect_error: "EINVAL" },
    ]);
    expect(doc.scans).toEqual([{ step: 1, proc: "p0", errno: "EINVAL" }]);
    expect(doc.errors).toEqual([{ step: 1, proc: "p0", op: "pagemap_scan", errno: "EINVAL" }]);
  });
});

describe("PAGEMAP_SCAN categories of each kind of entry (proc.md §5.4)", () => {
  it("reads written 0xa, zero page 0x2a, swap 0x12, guard 0x112, table none 0x2, hole 0", () => {
    const steps = [
      anon("r", A, "4M"),
      touch("r", 0, "8K"),
      touch("r", "8K", "8K", "read"),
      touch("r", "16K", "8K"),
      { op: "madvise", region: "r", off: "16K", len: "8K", advice: "pageout" },
      { op: "madvise", region: "r", off: "24K", len: "4K", advice: "guard_install" },
    ];
    const { r } = scanAfter(steps, arg(A, A + 0x400000));
    const c = perPage(r, A, 1024);
    expect(c.slice(0, 8)).toEqual([0xa, 0xa, 0x2a, 0x2a, 0x12, 0x12, 0x112, 0x2]);
    expect(c[511]).toBe(0x2);
    expect(c[512]).toBe(0); // a hole without a page table
  });

  it("reports a hole without a page table with categories 0 in an unregistered VMA", () => {
    const { r } = scanAfter([anon("r", A, "4M"), touch("r", 0, "4K")], arg(A, A + 0x400000));
    expect(r.regions).toEqual([
      { start: A, end: A + K, categories: 0xa },
      { start: A + K, end: A + M2, categories: 0x2 },
      { start: A + M2, end: A + 2 * M2, categories: 0 },
    ]);
  });

  it("reads a hole as written in a VMA registered for wp, synchronous or async, never for missing only", () => {
    const reg = (mode: string[], async_wp = false) => [
      anon("r", A, "2M"),
      { op: "uffd_register", region: "r", mode, ...(async_wp && { async_wp }) },
    ];
    const cats = (steps: unknown[]) => scanAfter(steps, arg(A, A + M2)).r.regions[0]!.categories;
    expect(cats(reg(["missing"]))).toBe(0);
    expect(cats(reg(["wp"]))).toBe(PAGE_IS.WRITTEN);
    expect(cats(reg(["wp"], true))).toBe(PAGE_IS.WRITTEN | PAGE_IS.WPALLOWED);
  });

  it("reads a THP 0x4a and the huge zero PMD 0x6a", () => {
    const steps = [
      anon("t", A, "4M"),
      { op: "madvise", region: "t", advice: "hugepage" },
      touch("t", 0, "4K"),
      touch("t", "2M", "4K", "read"),
    ];
    const { r } = scanAfter(steps, arg(A, A + 2 * M2));
    expect(r.regions).toEqual([
      { start: A, end: A + M2, categories: 0x4a },
      { start: A + M2, end: A + 2 * M2, categories: 0x6a },
    ]);
  });

  it("reads private file pages 0xe (fault-around maps the cached ones) and a COW copy 0xa", () => {
    const steps = [
      {
        op: "mmap",
        region: "f",
        addr: `0x${A.toString(16)}`,
        len: "16K",
        prot: "rw",
        share: "private",
        backing: { file: "f1", size: "16K", fs: "tmpfs" },
      },
      touch("f", 0, "4K", "read"),
      touch("f", "8K", "4K"),
    ];
    const { r } = scanAfter(steps, arg(A, A + 0x4000));
    expect(perPage(r, A, 4)).toEqual([0xe, 0xe, 0xa, 0xe]);
  });

  it("reads hugetlb present 0x4a, a none huge entry 0x40 and a missing table 0", () => {
    const steps = [hugetlb("h", A, "6M"), touch("h", 0, "4K"), hugetlb("g", A + 0x40000000, "2M")];
    const a = scanAfter(steps, arg(A, A + 0x600000)).r;
    expect(a.regions).toEqual([
      { start: A, end: A + M2, categories: 0x4a },
      { start: A + M2, end: A + 3 * M2, categories: 0x40 },
    ]);
    const g = scanAfter(steps, arg(A + 0x40000000, A + 0x40200000)).r;
    expect(g.regions).toEqual([{ start: A + 0x40000000, end: A + 0x40200000, categories: 0 }]);
  });

  it("adds wpallowed in an async-wp VMA: protected page 0x9, uffd-wp marker 0x11", () => {
    const steps = [
      anon("a", A, "16K"),
      touch("a", 0, "8K"),
      asyncWp("a"),
      { op: "uffd_wp", region: "a", enable: true },
    ];
    const { r } = scanAfter(steps, arg(A, A + 0x4000));
    expect(perPage(r, A, 4)).toEqual([0x9, 0x9, 0x11, 0x11]);
  });

  it("walks PROT_NONE VMAs like any other: their present pages are present|written", () => {
    const steps = [
      anon("a", A, "16K"),
      touch("a", 0, "16K"),
      { op: "mprotect", region: "a", off: "8K", len: "8K", prot: "none" },
    ];
    const { r } = scanAfter(steps, arg(A, A + 0x4000));
    expect(r.regions).toEqual([{ start: A, end: A + 0x4000, categories: 0xa }]);
  });
});

describe("PAGEMAP_SCAN output: merging, max_pages, vec_len and walk_end (proc.md §5.5)", () => {
  // e: 4 written, 4 zero-page, 4 written, 4 untouched pages (in one table).
  const e = [
    anon("e", A, "64K"),
    touch("e", 0, "16K"),
    touch("e", "16K", "16K", "read"),
    touch("e", "32K", "16K"),
  ];
  const E = A + 0x10000;

  it("merges matching runs across VMA boundaries and breaks them at gaps", () => {
    const steps = [
      anon("a", A, "16K"),
      anon("b", A + 0x4000, "16K", "r"),
      anon("c", A + 0xc000, "16K"),
      touch("a", 0, "16K"),
      touch("b", 0, "16K", "read"),
      touch("c", 0, "16K"),
    ];
    const { r } = scanAfter(steps, arg(A, A + 0x10000, { returnMask: PAGE_IS.PRESENT }));
    expect(r.regions).toEqual([
      { start: A, end: A + 0x8000, categories: PAGE_IS.PRESENT },
      { start: A + 0xc000, end: A + 0x10000, categories: PAGE_IS.PRESENT },
    ]);
  });

  it("with return_mask 0 reports every contiguous match as one region without categories", () => {
    const { r } = scanAfter(e, arg(A, E, { returnMask: 0 }));
    expect(r).toEqual({ ret: 1, walkEnd: E, regions: [{ start: A, end: E, categories: 0 }] });
  });

  it("cuts the run at max_pages and stops with walk_end at the cut", () => {
    const { r } = scanAfter(e, arg(A, E, { maxPages: 6 }));
    expect(r.ret).toBe(2);
    expect(r.walkEnd).toBe(A + 6 * K);
    expect(r.regions[1]).toEqual({ start: A + 4 * K, end: A + 6 * K, categories: 0x2a });
  });

  it("reaching max_pages exactly puts walk_end at the next matching run, past unmatched pages", () => {
    const present = { categoryMask: PAGE_IS.PRESENT, returnMask: PAGE_IS.PRESENT, maxPages: 4 };
    expect(scanAfter(e, arg(A, E, present)).r).toEqual({
      ret: 1,
      walkEnd: A + 4 * K,
      regions: [{ start: A, end: A + 4 * K, categories: PAGE_IS.PRESENT }],
    });
    // Written present pages that are not the zero page: [0,4) and [8,12).
    const notZero = {
      categoryMask: PAGE_IS.WRITTEN | PAGE_IS.PRESENT | PAGE_IS.PFNZERO,
      categoryInverted: PAGE_IS.PFNZERO,
      returnMask: PAGE_IS.PRESENT,
      maxPages: 4,
    };
    expect(scanAfter(e, arg(A, E, notZero)).r).toEqual({
      ret: 1,
      walkEnd: A + 8 * K,
      regions: [{ start: A, end: A + 4 * K, categories: PAGE_IS.PRESENT }],
    });
  });

  it("with a full buffer stops at the start of the run that did not fit, not at the max_pages cut", () => {
    expect(scanAfter(e, arg(A, E, { vecLen: 1, maxPages: 6 })).r).toEqual({
      ret: 1,
      walkEnd: A + 4 * K,
      regions: [{ start: A, end: A + 4 * K, categories: 0xa }],
    });
    expect(scanAfter(e, arg(A, E, { vecLen: 2, maxPages: 6 })).r.walkEnd).toBe(A + 6 * K);
  });

  it("with vec_len 0 records nothing, ignores max_pages and returns walk_end = end", () => {
    expect(scanAfter(e, arg(A, E, { vecLen: 0, maxPages: 3 })).r).toEqual({
      ret: 0,
      walkEnd: E,
      regions: [],
    });
  });

  it("refills the bounce buffer past 512 regions and returns the stale walk_end of the last early stop", () => {
    const steps: unknown[] = [anon("a", A, "16000K")];
    for (let k = 0; k < 2000; k++) steps.push(touch("a", `${8 * k}K`, "4K"));
    const sc = parseScenario({ format: "pagewalk-scenario/1", name: "t", arch: "x86_64", steps });
    const { machine: m } = runScenario(sc, { verify: false });
    const r = pagemapScan(
      m,
      mmOf(m),
      arg(A, A + 4000 * K, {
        vecLen: 2048,
        categoryMask: PAGE_IS.PRESENT,
        returnMask: PAGE_IS.PRESENT,
      }),
    );
    expect(r.ret).toBe(2000);
    expect(r.regions[1999]).toEqual({
      start: A + 3998 * K,
      end: A + 3999 * K,
      categories: PAGE_IS.PRESENT,
    });
    expect(r.walkEnd).toBe(A + 3072 * K);
  });
});

describe("PAGEMAP_SCAN write-protection (proc.md §5.6)", () => {
  const wpAll = { flags: 1, categoryMask: PAGE_IS.WRITTEN, returnMask: PAGE_IS.WRITTEN };

  it("sets the uffd-wp bit on present entries, markers in none entries and the swap bit on swap entries", () => {
    const steps = [
      anon("a", A, "16K"),
      touch("a", 0, "12K"),
      { op: "madvise", region: "a", off: "8K", len: "4K", advice: "pageout" },
      asyncWp("a"),
    ];
    const { m, r } = scanAfter(steps, arg(A, A + 0x4000, wpAll));
    expect(r.regions).toEqual([{ start: A, end: A + 0x4000, categories: PAGE_IS.WRITTEN }]);
    expect(entryAt(m, A)).toMatchObject({ kind: "present", uffdWp: true, write: false });
    expect(entryAt(m, A + 2 * K).kind).toBe("swap");
    const swap = pagemapRead(m, mmOf(m), A + 2 * K, A + 3 * K, "mainline");
    expect(swap.flags[0]).toBe(PM.SWAP | PM.UFFD_WP);
    expect(entryAt(m, A + 3 * K)).toMatchObject({ kind: "marker", swapOffset: 1 });
    const again = pagemapScan(m, mmOf(m), arg(A, A + 0x4000));
    expect(perPage(again, A, 4)).toEqual([0x9, 0x9, 0x11, 0x11]);
  });

  it("gives a guard marker the swap uffd-wp bit: it stays a guard, no longer written", () => {
    const steps = [
      anon("a", A, "8K"),
      { op: "madvise", region: "a", off: 0, len: "4K", advice: "guard_install" },
      asyncWp("a"),
    ];
    const { m } = scanAfter(steps, arg(A, A + 0x2000, { flags: 1 }));
    expect(entryAt(m, A)).toMatchObject({ kind: "marker", swapOffset: 4 });
    const pm = pagemapRead(m, mmOf(m), A, A + K, "mainline");
    expect(pm.flags[0]).toBe(PM.SWAP | PM.UFFD_WP | PM.GUARD_REGION);
    const after = pagemapScan(m, mmOf(m), arg(A, A + 0x2000));
    expect(perPage(after, A, 2)).toEqual([0x111, 0x11]);
  });

  it("fast path A (vec_len 0) protects every PTE of a table whatever the masks, but not a non-matching hole", () => {
    const steps = [anon("a", A, "4M"), touch("a", 0, "16K"), asyncWp("a")];
    const { m, r } = scanAfter(
      steps,
      arg(A, A + 2 * M2, { flags: 1, vecLen: 0, categoryMask: PAGE_IS.PRESENT, maxPages: 2 }),
    );
    expect(r).toEqual({ ret: 0, walkEnd: A + 2 * M2, regions: [] });
    for (const k of [0, 3]) expect(entryAt(m, A + k * K).uffdWp).toBe(true);
    for (const k of [4, 511]) expect(entryAt(m, A + k * K)).toMatchObject({ kind: "marker" });
    expect(entryAt(m, A + M2)).toMatchObject({ kind: "none", level: "pmd" });
  });

  it("protects a whole THP in place and splits one the run covers in part", () => {
    const steps = [
      anon("t", A, "4M"),
      { op: "madvise", region: "t", advice: "hugepage" },
      touch("t", 0, "4M"),
      asyncWp("t"),
    ];
    const ret = { ...wpAll, returnMask: PAGE_IS.WRITTEN | PAGE_IS.HUGE };
    const whole = scanAfter(steps, arg(A, A + M2, ret));
    expect(whole.r.regions).toEqual([{ start: A, end: A + M2, categories: 0x42 }]);
    expect(entryAt(whole.m, A)).toMatchObject({ level: "pmd", uffdWp: true });
    const part = scanAfter(steps, arg(A + M2 / 2, A + M2, ret));
    expect(part.r.regions).toEqual([
      { start: A + M2 / 2, end: A + M2, categories: PAGE_IS.WRITTEN },
    ]);
    expect(entryAt(part.m, A)).toMatchObject({ level: "pte", uffdWp: false });
    expect(entryAt(part.m, A + M2 / 2)).toMatchObject({ level: "pte", uffdWp: true });
  });

  it("leaves a THP run cut to 0 pages unsplit and unprotected, walk_end at its start", () => {
    const steps = [
      anon("t", A, "4M"),
      { op: "madvise", region: "t", advice: "hugepage" },
      touch("t", 0, "4M"),
      asyncWp("t"),
    ];
    const { m, r } = scanAfter(steps, arg(A, A + 2 * M2, { ...wpAll, maxPages: 512 }));
    expect(r.walkEnd).toBe(A + M2);
    expect(entryAt(m, A)).toMatchObject({ level: "pmd", uffdWp: true });
    expect(entryAt(m, A + M2)).toMatchObject({ level: "pmd", uffdWp: false });
  });

  it("backs out a partial hugetlb run: walk_end is the run's start in the last matching huge page", () => {
    const steps = [hugetlb("h", A, "8M"), touch("h", 0, "6M"), asyncWp("h")];
    const ret = { ...wpAll, flags: 3, returnMask: PAGE_IS.WRITTEN | PAGE_IS.HUGE, maxPages: 700 };
    const { m, r } = scanAfter(steps, arg(A, A + 4 * M2, ret));
    expect(r).toEqual({
      ret: 1,
      walkEnd: A + 2 * M2,
      regions: [{ start: A, end: A + M2, categories: 0x42 }],
    });
    expect(entryAt(m, A).uffdWp).toBe(true);
    expect(entryAt(m, A + M2).uffdWp).toBe(false);
  });

  it("protects a hugetlb range partly covered by the scan never, and reports walk_end = scan start", () => {
    const steps = [hugetlb("h", A, "2M"), touch("h", 0, "4K"), asyncWp("h")];
    const { m, r } = scanAfter(steps, arg(A + 0x1000, A + M2, { ...wpAll, vecLen: 0 }));
    expect(r.walkEnd).toBe(A + 0x1000);
    expect(entryAt(m, A).uffdWp).toBe(false);
  });

  it("protects a hugetlb hole one huge page at a time: the table it allocates makes the next a none entry", () => {
    const steps = [hugetlb("h", A, "4M"), asyncWp("h")];
    for (const walker of WALKER_GENERATIONS) {
      const { m, r } = scanAfter(steps, arg(A, A + 2 * M2, { flags: 1 }), { walker });
      expect(r.regions).toEqual([
        { start: A, end: A + M2, categories: PAGE_IS.WPALLOWED },
        { start: A + M2, end: A + 2 * M2, categories: PAGE_IS.WPALLOWED | PAGE_IS.HUGE },
      ]);
      expect(entryAt(m, A)).toMatchObject({ kind: "marker", swapOffset: 1 });
      expect(entryAt(m, A + M2)).toMatchObject({ kind: "none", level: "pmd" });
    }
  });

  it("skips VMAs without async write-protect under wp_matching", () => {
    const steps = [anon("a", A, "8K"), touch("a", 0, "8K")];
    const { m, r } = scanAfter(steps, arg(A, A + 0x2000, wpAll));
    expect(r).toEqual({ ret: 0, walkEnd: A + 0x2000, regions: [] });
    expect(entryAt(m, A).uffdWp).toBe(false);
  });

  it("a write after protection clears it without an event: the page is written again", () => {
    const steps = [
      anon("a", A, "8K"),
      touch("a", 0, "8K"),
      asyncWp("a"),
      { op: "pagemap_scan", region: "a", flags: ["wp_matching"], vec_len: 0 },
      touch("a", "4K", "4K"),
      { op: "pagemap_scan", region: "a", category_mask: ["written"], return_mask: ["written"] },
    ];
    const { doc } = runSteps(steps);
    expect(doc.uffd_events).toEqual([]);
    expect(doc.scans[1]).toEqual({
      step: 5,
      proc: "p0",
      ret: 1,
      walk_end: `0x${(A + 0x2000).toString(16)}`,
      regions: [
        {
          start: `0x${(A + K).toString(16)}`,
          end: `0x${(A + 0x2000).toString(16)}`,
          pages: 1,
          categories: ["written"],
        },
      ],
    });
  });
});

describe("hugetlb write-protect designs: PTE markers (6.18) and marker-free give the same results", () => {
  const designs: HugetlbWpDesign[] = ["markers", "marker-free"];
  /** Scenario x of test/fixtures/oracle/scan-hugetlb-hole-wp plus a y VMA straddling 1 GiB. */
  const steps = [
    hugetlb("x", A, "4M"),
    hugetlb("y", A + 0x3fe00000, "4M"),
    hugetlb("z", A + 0x80000000, "4M"),
    touch("z", 0, "4K"),
    asyncWp("x"),
    asyncWp("y"),
    asyncWp("z"),
  ];
  const ranges: Array<[number, number]> = [
    [A, A + 2 * M2],
    [A + 0x3fe00000, A + 0x40200000],
    [A + 0x80000000, A + 0x80400000],
  ];

  function runDesign(design: HugetlbWpDesign, walker: WalkerGeneration) {
    const { machine: m } = runSteps(steps);
    const mm = mmOf(m);
    const scans: PmScanResult[] = [];
    for (const [s, e] of ranges) scans.push(pagemapScan(m, mm, arg(s, e)));
    for (const [s, e] of ranges) {
      scans.push(pagemapScan(m, mm, arg(s, e, { flags: 1 }), { walker, hugetlbWp: design }));
    }
    for (const [s, e] of ranges)
      scans.push(pagemapScan(m, mm, arg(s, e), { walker, hugetlbWp: design }));
    // A second write-protect finds nothing more to protect.
    for (const [s, e] of ranges) {
      scans.push(pagemapScan(m, mm, arg(s, e, { flags: 1 }), { walker, hugetlbWp: design }));
    }
    const pagemaps = ranges.map(([s, e]) => {
      const p = pagemapRead(m, mm, s, e, "mainline");
      return [Array.from(p.flags), Array.from(p.frame)];
    });
    return { m, scans, pagemaps };
  }

  for (const walker of WALKER_GENERATIONS) {
    it(`gives identical scans and pagemap on ${walker}`, () => {
      const [a, b] = designs.map((d) => runDesign(d, walker));
      expect(b!.scans).toEqual(a!.scans);
      expect(b!.pagemaps).toEqual(a!.pagemaps);
    });
  }

  it("marks the protected hole with a marker, or records it and leaves the entry none", () => {
    const a = runDesign("markers", "mainline");
    const b = runDesign("marker-free", "mainline");
    expect(entryAt(a.m, A)).toMatchObject({ kind: "marker", swapOffset: 1 });
    expect(entryAt(b.m, A)).toMatchObject({ kind: "none", level: "pmd" });
    expect(hugetlbWpRecorded(mmOf(b.m), A)).toBe(true);
    expect(hugetlbWpRecorded(mmOf(b.m), A + M2)).toBe(false);
    const pm = pagemapRead(b.m, mmOf(b.m), A, A + K, "mainline");
    expect(pm.flags[0]).toBe(PM.UFFD_WP);
  });
});

describe("PAGEMAP_SCAN on the walker generations", () => {
  it("gives the same scans on mainline, unified and pt_range over THPs, hugetlb, holes and gaps", () => {
    const steps = [
      anon("t", A, "4M"),
      { op: "madvise", region: "t", advice: "hugepage" },
      touch("t", 0, "2M"),
      touch("t", "2M", "64K"),
      { op: "madvise", region: "t", off: "2M", len: "8K", advice: "pageout" },
      hugetlb("h", A + 0x40000000, "6M"),
      touch("h", "2M", "4K"),
      hugetlb("g", A + 0x80000000, "1G", "1G"),
      touch("g", 0, "4K"),
      asyncWp("t"),
      asyncWp("h"),
      { op: "pagemap_scan", region: "t" },
      { op: "pagemap_scan", region: "h" },
      { op: "pagemap_scan", region: "g", vec_len: 4 },
      { op: "pagemap_scan", region: "t", off: "1M", len: "2M", flags: ["wp_matching"] },
      { op: "pagemap_scan", region: "h", flags: ["wp_matching"], max_pages: 700 },
      { op: "pagemap_scan", region: "h" },
      { op: "pagemap_scan", region: "t", return_mask: 0 },
      {
        op: "pagemap_scan",
        region: "t",
        flags: ["check_wpasync"],
        raw: { end: "0x100080000000" },
        vec_len: 64,
      },
    ];
    const [mainline, ...others] = WALKER_GENERATIONS.map((w) => scansOf(steps, w));
    expect(mainline!.length).toBe(8);
    for (const o of others) expect(o).toEqual(mainline);
  });
});
