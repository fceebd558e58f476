import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Machine } from "../../src/mm/machine.js";
import { pagemapRead } from "../../src/proc/pagemap.js";
import {
  PAGE_IS,
  type PmScanArg,
  type PmScanResult,
  pagemapScan,
} from "../../src/proc/pagemap-scan.js";
import { KernelError } from "../../src/scenario/errors.js";
import { WALKER_GENERATIONS, type WalkerGeneration } from "../../src/scenario/run.js";
import { entryAt, mmOf } from "../helpers.js";
import { A, runSteps } from "./run.js";

/*
 * PAGEMAP_SCAN on pt_range_walk (src/proc/pagemap-scan-ptrange.ts): real
 * values on pt_range for every write-protect path, and the same result and
 * the same page tables afterwards as on mainline and unified, case by case
 * and on random scenarios and arguments.
 */

const K = 4096;
const M2 = 2 * 1024 * 1024;
const ALL = 0x1ff;

const anon = (region: string, addr: number, len: string) => ({
  op: "mmap",
  region,
  addr: `0x${addr.toString(16)}`,
  len,
  prot: "rw",
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
const asyncWp = (region: string) => ({ op: "uffd_register", region, mode: ["wp"], async_wp: true });
const thp = (region: string) => ({ op: "madvise", region, advice: "hugepage" });

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

/** A machine with a small hugetlb pool: quicker to build. */
const SMALL = { hugetlb_pages: { "2M": 8, "1G": 0 } };

const wpAll = { flags: 1, categoryMask: PAGE_IS.WRITTEN, returnMask: PAGE_IS.WRITTEN };

/** Build the machine, then scan p0 with `walker`. */
function scanOn(
  walker: WalkerGeneration,
  steps: unknown[],
  a: PmScanArg,
  setup?: Record<string, unknown>,
): { m: Machine; r: PmScanResult | string } {
  const { machine: m } = runSteps(steps, { setup });
  let r: PmScanResult | string;
  try {
    r = pagemapScan(m, mmOf(m), a, { walker });
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    r = e.errno;
  }
  return { m, r };
}

/** Every page of [start, end): its entry (through the codec) and its pagemap value. */
function stateOf(m: Machine, start: number, end: number): unknown[] {
  const pm = pagemapRead(m, mmOf(m), start, end, "mainline");
  const out: unknown[] = [];
  for (let a = start, k = 0; a < end; a += K, k++) {
    out.push([entryAt(m, a), pm.flags[k], pm.frame[k]]);
  }
  return out;
}

/** Scan on every generation; the results and the page tables afterwards must agree. */
function sameOnAll(
  steps: unknown[],
  a: PmScanArg,
  span: [number, number],
  setup?: Record<string, unknown>,
): PmScanResult | string {
  const runs = WALKER_GENERATIONS.map((w) => {
    const { m, r } = scanOn(w, steps, a, setup);
    return { r, state: stateOf(m, span[0], span[1]) };
  });
  for (const o of runs.slice(1)) {
    expect(o.r).toEqual(runs[0]!.r);
    expect(o.state).toEqual(runs[0]!.state);
  }
  return runs[0]!.r;
}

describe("PAGEMAP_SCAN on pt_range: write-protect paths with real values", () => {
  const twoThps = [anon("t", A, "4M"), thp("t"), touch("t", 0, "4M"), asyncWp("t")];

  it("max_pages 700 over two THPs: the first protected in place, the second split, 188 pages protected", () => {
    const { m, r } = scanOn("pt_range", twoThps, arg(A, A + 2 * M2, { ...wpAll, maxPages: 700 }));
    expect(r).toEqual({
      ret: 1,
      walkEnd: A + 700 * K,
      regions: [{ start: A, end: A + 700 * K, categories: PAGE_IS.WRITTEN }],
    });
    expect(entryAt(m, A)).toMatchObject({ level: "pmd", uffdWp: true });
    expect(entryAt(m, A + M2)).toMatchObject({ level: "pte", uffdWp: true });
    expect(entryAt(m, A + 699 * K)).toMatchObject({ level: "pte", uffdWp: true });
    expect(entryAt(m, A + 700 * K)).toMatchObject({ level: "pte", uffdWp: false });
  });

  it("[1M, 3M) over two THPs splits both; return_mask written|huge|present gives 2 regions of 256 pages", () => {
    const rm = PAGE_IS.WRITTEN | PAGE_IS.HUGE | PAGE_IS.PRESENT;
    const { m, r } = scanOn(
      "pt_range",
      twoThps,
      arg(A + M2 / 2, A + M2 + M2 / 2, { ...wpAll, returnMask: rm }),
    );
    const cats = PAGE_IS.WRITTEN | PAGE_IS.PRESENT;
    expect(r).toEqual({
      ret: 2,
      walkEnd: A + M2 + M2 / 2,
      regions: [
        { start: A + M2 / 2, end: A + M2, categories: cats },
        { start: A + M2, end: A + M2 + M2 / 2, categories: cats },
      ],
    });
    expect(entryAt(m, A + M2 / 2 - K)).toMatchObject({ level: "pte", uffdWp: false });
    expect(entryAt(m, A + M2 / 2)).toMatchObject({ level: "pte", uffdWp: true });
    expect(entryAt(m, A + M2 + M2 / 2 - K)).toMatchObject({ level: "pte", uffdWp: true });
    expect(entryAt(m, A + M2 + M2 / 2)).toMatchObject({ level: "pte", uffdWp: false });
    const one = scanOn("pt_range", twoThps, arg(A + M2 / 2, A + M2 + M2 / 2, wpAll)).r;
    expect(one).toMatchObject({
      ret: 1,
      regions: [{ start: A + M2 / 2, end: A + M2 + M2 / 2, categories: PAGE_IS.WRITTEN }],
    });
  });

  it("a THP run cut to 0 pages is neither split nor protected", () => {
    const { m, r } = scanOn("pt_range", twoThps, arg(A, A + 2 * M2, { ...wpAll, maxPages: 512 }));
    expect(r).toMatchObject({ ret: 1, walkEnd: A + M2 });
    expect(entryAt(m, A + M2)).toMatchObject({ level: "pmd", uffdWp: false });
  });

  it("fast path A protects the 4 present pages and 508 none PTEs of their table, not the tableless block", () => {
    const steps = [anon("a", A, "4M"), touch("a", 0, "16K"), asyncWp("a")];
    const a = arg(A, A + 2 * M2, {
      flags: 1,
      vecLen: 0,
      categoryMask: PAGE_IS.PRESENT,
      maxPages: 2,
    });
    const { m, r } = scanOn("pt_range", steps, a);
    expect(r).toEqual({ ret: 0, walkEnd: A + 2 * M2, regions: [] });
    for (const k of [0, 3]) expect(entryAt(m, A + k * K)).toMatchObject({ uffdWp: true });
    for (const k of [4, 511]) expect(entryAt(m, A + k * K)).toMatchObject({ kind: "marker" });
    expect(entryAt(m, A + M2)).toMatchObject({ kind: "none", level: "pmd" });
  });

  it("fast path B reports none PTEs written and protects them with markers; a second scan finds nothing", () => {
    const steps = [anon("a", A, "64K"), touch("a", 0, "16K"), asyncWp("a")];
    const { m, r } = scanOn("pt_range", steps, arg(A, A + 0x10000, wpAll));
    expect(r).toEqual({
      ret: 1,
      walkEnd: A + 0x10000,
      regions: [{ start: A, end: A + 0x10000, categories: PAGE_IS.WRITTEN }],
    });
    expect(entryAt(m, A)).toMatchObject({ kind: "present", uffdWp: true, write: false });
    expect(entryAt(m, A + 0x8000)).toMatchObject({ kind: "marker" });
    const again = pagemapScan(m, mmOf(m), arg(A, A + 0x10000, wpAll), { walker: "pt_range" });
    expect(again.ret).toBe(0);
  });

  it("a hugetlb max_pages cut is backed out: walk_end is the run's start in the last matching page", () => {
    const steps = [hugetlb("h", A, "8M"), touch("h", 0, "6M"), asyncWp("h")];
    const ret = { ...wpAll, flags: 3, returnMask: PAGE_IS.WRITTEN | PAGE_IS.HUGE, maxPages: 700 };
    const { m, r } = scanOn("pt_range", steps, arg(A, A + 4 * M2, ret));
    expect(r).toEqual({
      ret: 1,
      walkEnd: A + 2 * M2,
      regions: [{ start: A, end: A + M2, categories: PAGE_IS.WRITTEN | PAGE_IS.HUGE }],
    });
    expect(entryAt(m, A).uffdWp).toBe(true);
    expect(entryAt(m, A + M2).uffdWp).toBe(false);
  });

  it("a hugetlb hole is protected one huge page at a time under the hugetlb VMA lock", () => {
    const steps = [hugetlb("h", A, "4M"), asyncWp("h")];
    const { m, r } = scanOn("pt_range", steps, arg(A, A + 2 * M2, { flags: 1 }));
    expect(r).toMatchObject({
      regions: [
        { start: A, end: A + M2, categories: PAGE_IS.WPALLOWED },
        { start: A + M2, end: A + 2 * M2, categories: PAGE_IS.WPALLOWED | PAGE_IS.HUGE },
      ],
    });
    expect(entryAt(m, A)).toMatchObject({ kind: "marker" });
    expect(entryAt(m, A + M2)).toMatchObject({ kind: "none", level: "pmd" });
  });

  it("ends with EPERM under check_wpasync at the first VMA without async write-protect", () => {
    const steps = [anon("a", A, "64K"), touch("a", 0, "64K")];
    expect(scanOn("pt_range", steps, arg(A, A + 0x10000, { flags: 2 })).r).toBe("EPERM");
  });
});

describe("PAGEMAP_SCAN: pt_range equals mainline and unified, results and page tables", () => {
  const mixed = [
    anon("t", A, "4M"),
    thp("t"),
    touch("t", 0, "2M"),
    touch("t", "2M", "64K"),
    touch("t", "2112K", "32K", "read"),
    { op: "madvise", region: "t", off: "2M", len: "8K", advice: "pageout" },
    { op: "madvise", region: "t", off: "2176K", len: "8K", advice: "guard_install" },
    asyncWp("t"),
  ];
  const span: [number, number] = [A, A + 2 * M2];
  const cases: Array<[string, Partial<PmScanArg>, number, number]> = [
    ["everything", {}, A, A + 2 * M2],
    ["wp_matching, all categories", { flags: 1 }, A, A + 2 * M2],
    ["wp_matching, fast path B", wpAll, A + M2 / 2, A + 2 * M2],
    ["wp_matching, fast path A", { flags: 1, vecLen: 0 }, A + K, A + 2 * M2 - K],
    ["wp_matching, max_pages 600", { ...wpAll, maxPages: 600 }, A, A + 2 * M2],
    ["wp_matching, vec_len 3", { flags: 1, vecLen: 3 }, A, A + 2 * M2],
    [
      "inverted present",
      { categoryInverted: PAGE_IS.PRESENT, categoryMask: PAGE_IS.PRESENT },
      ...span,
    ],
    ["anyof swapped|guard", { categoryAnyofMask: PAGE_IS.SWAPPED | PAGE_IS.GUARD }, ...span],
    ["return_mask 0, max_pages 3", { returnMask: 0, maxPages: 3 }, ...span],
  ];
  it.each(cases)("%s", (_name, over, s, e) => {
    sameOnAll(mixed, arg(s, e, over), span);
  });

  it("a partly covered THP under migration: split from a restarted walk, identical", () => {
    const steps = [
      anon("t", A, "4M"),
      thp("t"),
      touch("t", 0, "4M"),
      asyncWp("t"),
      { op: "migrate", region: "t", to_node: 1, phase: "begin" },
    ];
    const setup = { nodes: 2, node_mem: "2G", hugetlb_pages: { "2M": 4, "1G": 0 } };
    const r = sameOnAll(steps, arg(A + M2 / 2, A + M2 + M2 / 2, wpAll), span, setup);
    expect(r).toMatchObject({
      ret: 1,
      regions: [{ start: A + M2 / 2, end: A + M2 + M2 / 2, categories: PAGE_IS.WRITTEN }],
    });
    const { m } = scanOn("pt_range", steps, arg(A + M2 / 2, A + M2 + M2 / 2, wpAll), setup);
    expect(entryAt(m, A + M2 / 2)).toMatchObject({ level: "pte", kind: "other" });
  });

  it("hugetlb (2 MiB and 1 GiB), holes, markers and gaps", () => {
    const steps = [
      hugetlb("h", A, "8M"),
      touch("h", "2M", "4K"),
      touch("h", "6M", "4K"),
      hugetlb("g", A + 0x40000000, "1G", "1G"),
      touch("g", 0, "4K"),
      asyncWp("h"),
      asyncWp("g"),
    ];
    const s: [number, number] = [A, A + 4 * M2];
    sameOnAll(steps, arg(A, A + 4 * M2, { flags: 1 }), s);
    sameOnAll(steps, arg(A + K, A + 3 * M2, { ...wpAll, flags: 3 }), s);
    sameOnAll(steps, arg(A, A + 0x40000000 + 4 * M2, { maxPages: 1000 }), s);
    sameOnAll(steps, arg(A + 0x40000000, A + 0x40000000 + M2, { flags: 1 }), s);
  });

  it("on random scenarios and arguments", () => {
    const step = fc.constantFrom(
      touch("t", 0, "2M"),
      touch("t", "2M", "64K"),
      touch("t", "3M", "8K", "read"),
      { op: "madvise", region: "t", off: "2M", len: "16K", advice: "pageout" },
      { op: "madvise", region: "t", off: 0, len: "2M", advice: "dontneed" },
      touch("h", 0, "4K"),
      touch("h", "4M", "4K"),
      { op: "uffd_wp", region: "t", off: "2M", len: "8K", enable: true },
    );
    const page = fc.integer({ min: 0, max: 1024 });
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 5 }),
        page,
        page,
        fc.record({
          flags: fc.constantFrom(0, 1),
          vecLen: fc.constantFrom(0, 1, 2, 512, 4096),
          maxPages: fc.constantFrom(0, 1, 100, 513),
          categoryInverted: fc.integer({ min: 0, max: ALL }),
          categoryMask: fc.constantFrom(0, PAGE_IS.WRITTEN, PAGE_IS.PRESENT, PAGE_IS.HUGE),
          categoryAnyofMask: fc.constantFrom(0, PAGE_IS.SWAPPED | PAGE_IS.GUARD),
          returnMask: fc.constantFrom(ALL, PAGE_IS.WRITTEN, 0),
        }),
        (extra, p1, p2, over) => {
          const steps = [
            anon("t", A, "4M"),
            thp("t"),
            hugetlb("h", A + 4 * M2, "6M"),
            asyncWp("t"),
            asyncWp("h"),
            ...extra,
          ];
          const [lo, hi] = p1 <= p2 ? [p1, p2] : [p2, p1];
          const fast = over.categoryMask === PAGE_IS.WRITTEN ? { ...over, ...wpAll } : over;
          sameOnAll(steps, arg(A + lo * 8 * K, A + hi * 8 * K, fast), [A, A + 8 * M2], SMALL);
        },
      ),
      { numRuns: 20 },
    );
  });
});
