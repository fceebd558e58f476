/**
 * Property: the three walker generations report the same thing (design.md,
 * "Same answer everywhere"). Random scenarios over a few regions (anon with
 * THP, mTHP, shmem, tmpfs file, hugetlb 2M and sometimes 1G) and random
 * ranges; each generation's report is expanded to base pages as
 * (kind, PFN or leaf value, entry bits), a none entry and a missing table
 * both being "none".
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { getArch } from "../../src/arch/index.js";
import { Level, PteFlag, SwpFlag } from "../../src/arch/types.js";
import type { Machine } from "../../src/mm/machine.js";
import { Machine as MachineClass } from "../../src/mm/machine.js";
import type { MmStruct } from "../../src/mm/mm.js";
import type { PageTable } from "../../src/mm/pgtable.js";
import { createProcess } from "../../src/ops/fork.js";
import { DROPPED } from "../../src/proc/observation-types.js";
import { KernelError, ScenarioError } from "../../src/scenario/errors.js";
import { parseScenario } from "../../src/scenario/parse.js";
import { Regions } from "../../src/scenario/regions.js";
import { configFromSetup, type RunState } from "../../src/scenario/run.js";
import { executeStep } from "../../src/scenario/steps.js";
import { walkPageRange } from "../../src/walk/pagewalk.js";
import {
  PT_WALK_HOLES,
  PtRangeWalk,
  PtType,
  ptRangeWalkNext,
  ptRangeWalkStart,
} from "../../src/walk/pt-range.js";
import {
  Softleaf,
  softleafFromPmd,
  softleafFromPte,
  softleafFromPud,
  softleafHasPfn,
  softleafToPfn,
} from "../../src/walk/softleaf.js";
import { type MmWalk, type MmWalkOps, WalkAction, type WalkFlavour } from "../../src/walk/types.js";

const K = 4096;
const M2 = 2 ** 21;
const G1 = 2 ** 30;
const A = 0x100000000000;
const h = (n: number) => `0x${n.toString(16)}`;

/** kind codes of a page: 0 none, 1..9 softleaf types, 100 folio, 101 pfn. */
const FOLIO = 100;
const PFN = 101;

/** Per-page report: kind, value (PFN, swap offset, marker bits) and entry bits. */
interface Report {
  kind: Int16Array;
  value: Float64Array;
  bits: Uint8Array;
}

function newReport(n: number): Report {
  return { kind: new Int16Array(n), value: new Float64Array(n), bits: new Uint8Array(n) };
}

const LEAF = new Softleaf();

/** Record the entry in slot (t, i), arch level `lvl`, for pages [addr, next) (independent of pt_range). */
function recordEntry(
  m: Machine,
  r: Report,
  base: number,
  t: PageTable,
  i: number,
  lvl: Level,
  hugetlb: boolean,
  addr: number,
  next: number,
): void {
  const a = m.arch;
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  const span = 2 ** a.geometry.levels[lvl]!.shift;
  const sub0 = ((addr % span) - (addr % K)) / K;
  const first = (addr - base) / K;
  const n = (next - addr) / K;
  if (a.isNone(lo, hi, lvl)) {
    for (let k = 0; k < n; k++) r.kind[first + k] = 0;
    return;
  }
  if (a.isPresent(lo, hi, hugetlb || lvl === Level.PTE ? Level.PTE : lvl)) {
    const f = a.leafFlags(lo, hi, lvl);
    const pfn0 = a.leafPfn(lo, hi, lvl);
    const pfnKind =
      (f & PteFlag.SPECIAL) !== 0 ||
      (lvl === Level.PTE && pfn0 === m.phys.zeroPfn) ||
      (lvl === Level.PMD && pfn0 === m.phys.hugeZeroPfn);
    const bits =
      f & (PteFlag.WRITE | PteFlag.YOUNG | PteFlag.DIRTY | PteFlag.UFFD_WP | PteFlag.SOFT_DIRTY);
    for (let k = 0; k < n; k++) {
      r.kind[first + k] = pfnKind ? PFN : FOLIO;
      r.value[first + k] = pfn0 + sub0 + k;
      r.bits[first + k] = bits;
    }
    return;
  }
  const e =
    lvl === Level.PTE
      ? softleafFromPte(m, t, i, LEAF)
      : lvl === Level.PMD
        ? softleafFromPmd(m, t, i, LEAF)
        : softleafFromPud(m, t, i, LEAF);
  for (let k = 0; k < n; k++) {
    r.kind[first + k] = e.type;
    r.value[first + k] = softleafHasPfn(e)
      ? softleafToPfn(e) + sub0 + k
      : e.type === 1
        ? e.offset + sub0 + k
        : e.offset;
    r.bits[first + k] = 0x80 | e.flags;
  }
}

interface Priv {
  m: Machine;
  r: Report;
  base: number;
}

function pmdEntry(t: PageTable, i: number, addr: number, next: number, walk: MmWalk<Priv>): number {
  const { m, r, base } = walk.private;
  const a = m.arch;
  const vma = walk.vma!;
  if (vma.isHugetlb) {
    t.ptl.lock("report");
    recordEntry(m, r, base, t, i, Level.PMD, true, addr, next);
    t.ptl.unlock();
    walk.action = WalkAction.CONTINUE;
    return 0;
  }
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  if (!a.isPresent(lo, hi, Level.PMD) || a.isLeaf(lo, hi, Level.PMD)) {
    t.ptl.lock("report");
    recordEntry(m, r, base, t, i, Level.PMD, false, addr, next);
    t.ptl.unlock();
    return 0;
  }
  const pte = walk.mm.pt.child(t, i)!;
  pte.ptl.lock("report");
  for (let x = addr, k = walk.mm.pt.index(Level.PTE, addr); x < next; x += K, k++) {
    recordEntry(m, r, base, pte, k, Level.PTE, false, x, x + K);
  }
  pte.ptl.unlock();
  return 0;
}

const REPORT_OPS: Record<WalkFlavour, MmWalkOps<Priv>> = {
  mainline: {
    pmdEntry,
    hugetlbEntry: (t, i, _hmask, addr, next, walk) => {
      const p = walk.private;
      recordEntry(p.m, p.r, p.base, t, i, t.level, true, addr, next);
      return 0;
    },
  },
  unified: {
    pmdEntry,
    pudEntry: (t, i, addr, next, walk) => {
      const p = walk.private;
      if (walk.vma!.isHugetlb) recordEntry(p.m, p.r, p.base, t, i, Level.PUD, true, addr, next);
      return 0;
    },
  },
};

/** What a callback-walker flavour reports over [start, end). Holes stay 0 (none). */
function callbackReport(
  m: Machine,
  mm: MmStruct,
  start: number,
  end: number,
  f: WalkFlavour,
): Report {
  const r = newReport((end - start) / K);
  mm.mmapLock.readLock("report");
  try {
    walkPageRange(m, mm, start, end, REPORT_OPS[f], { m, r, base: start }, { flavour: f });
  } finally {
    mm.mmapLock.readUnlock();
  }
  return r;
}

const W = new PtRangeWalk();

/** What pt_range_walk reports over [start, end), expanded to base pages. */
function ptRangeReport(
  m: Machine,
  mm: MmStruct,
  start: number,
  end: number,
  flags: number,
): Report {
  const r = newReport((end - start) / K);
  let covered = start;
  mm.mmapLock.readLock("report");
  try {
    for (
      let t = ptRangeWalkStart(W, m, mm, start, end, flags);
      t !== null;
      t = ptRangeWalkNext(W)
    ) {
      if (flags & PT_WALK_HOLES) {
        expect(W.addr).toBe(covered); // results tile the range in order
        covered = W.next;
      }
      expect(W.nrPages).toBe((W.next - W.addr) / K);
      const first = (W.addr - start) / K;
      const bits =
        t === PtType.FOLIO || t === PtType.PFN
          ? (W.write ? PteFlag.WRITE : 0) |
            (W.young ? PteFlag.YOUNG : 0) |
            (W.dirty ? PteFlag.DIRTY : 0) |
            (W.uffdWp ? PteFlag.UFFD_WP : 0) |
            (W.softDirty ? PteFlag.SOFT_DIRTY : 0)
          : 0x80 |
            (W.swpExclusive ? SwpFlag.EXCLUSIVE : 0) |
            (W.softDirty ? SwpFlag.SOFT_DIRTY : 0) |
            (W.uffdWp ? SwpFlag.UFFD_WP : 0);
      for (let k = 0; k < W.nrPages; k++) {
        const x = first + k;
        if (t === PtType.NONE) continue;
        r.bits[x] = bits;
        if (t === PtType.FOLIO || t === PtType.PFN) {
          r.kind[x] = t === PtType.FOLIO ? FOLIO : PFN;
          r.value[x] = W.pfn + k;
        } else {
          r.kind[x] = W.leaf.type;
          r.value[x] =
            t === PtType.SWAP
              ? W.leaf.offset + (W.addr - W.entryStart) / K + k
              : t === PtType.MARKER
                ? W.leaf.offset
                : W.page + k;
        }
      }
    }
  } finally {
    mm.mmapLock.readUnlock();
  }
  if (flags & PT_WALK_HOLES) expect(covered).toBe(end);
  return r;
}

function firstDiff(a: Report, b: Report): number {
  for (let k = 0; k < a.kind.length; k++) {
    if (a.kind[k] !== b.kind[k] || a.value[k] !== b.value[k] || a.bits[k] !== b.bits[k]) return k;
  }
  return -1;
}

// ---- scenario generation ----

interface RegionDef {
  name: string;
  addr: number;
  len: number;
  backing: unknown;
  share: "private" | "shared";
}

const REGIONS: RegionDef[] = [
  { name: "a", addr: A, len: 4 * M2, backing: "anon", share: "private" },
  { name: "b", addr: A + 5 * M2, len: 64 * K, backing: "anon", share: "private" },
  { name: "s", addr: A + 6 * M2, len: 32 * K, backing: "anon", share: "shared" },
  {
    name: "f",
    addr: A + 7 * M2,
    len: 64 * K,
    backing: { file: "f1", size: "64K", fs: "tmpfs" },
    share: "private",
  },
  { name: "h", addr: A + G1, len: 2 * M2, backing: { hugetlb: "2M" }, share: "private" },
  { name: "g", addr: A + 2 * G1, len: G1, backing: { hugetlb: "1G" }, share: "private" },
];

const ADVICE = [
  "hugepage",
  "pageout",
  "cold",
  "dontneed",
  "free",
  "willneed",
  "populate_write",
  "collapse",
  "guard_install",
  "guard_remove",
];

/** A sub-range of region `r` in pages: [off, off+len). */
const subRange = (r: RegionDef) =>
  fc
    .tuple(fc.nat({ max: r.len / K - 1 }), fc.integer({ min: 1, max: Math.min(r.len / K, 1024) }))
    .map(([o, l]) => ({ off: o * K, len: Math.min(l, r.len / K - o) * K }));

const regionArb = fc.integer({ min: 0, max: REGIONS.length - 1 });

const stepArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.tuple(regionArb, fc.boolean()).chain(([ri, write]) =>
      subRange(REGIONS[ri]!).map((s) => ({
        op: "touch",
        region: REGIONS[ri]!.name,
        ...s,
        access: write ? "write" : "read",
      })),
    ),
  },
  {
    weight: 4,
    arbitrary: fc.tuple(regionArb, fc.constantFrom(...ADVICE)).chain(([ri, advice]) =>
      subRange(REGIONS[ri]!).map((s) => ({
        op: "madvise",
        region: REGIONS[ri]!.name,
        ...s,
        advice,
      })),
    ),
  },
  {
    weight: 2,
    arbitrary: regionArb.chain((ri) =>
      subRange(REGIONS[ri]!).map((s) => ({
        op: "madvise",
        region: REGIONS[ri]!.name,
        ...s,
        advice: "pageout",
      })),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(regionArb, fc.constantFrom("r", "rw", "none")).chain(([ri, prot]) =>
      subRange(REGIONS[ri]!).map((s) => ({
        op: "mprotect",
        region: REGIONS[ri]!.name,
        ...s,
        prot,
      })),
    ),
  },
  {
    weight: 1,
    arbitrary: regionArb.chain((ri) =>
      subRange(REGIONS[ri]!).map((s) => ({ op: "munmap", region: REGIONS[ri]!.name, ...s })),
    ),
  },
  { weight: 1, arbitrary: fc.constant({ op: "fork", child: "" }) },
  {
    weight: 2,
    arbitrary: regionArb.chain((ri) =>
      subRange(REGIONS[ri]!).map((s) => ({
        op: "uffd_wp",
        region: REGIONS[ri]!.name,
        ...s,
        enable: true,
      })),
    ),
  },
  { weight: 1, arbitrary: fc.constant({ op: "clear_refs", value: 1 }) },
  {
    weight: 1,
    arbitrary: regionArb.chain((ri) =>
      subRange(REGIONS[ri]!).map((s) => ({
        op: "migrate",
        region: REGIONS[ri]!.name,
        ...s,
        to_node: 1,
        phase: "begin",
      })),
    ),
  },
  {
    weight: 1,
    arbitrary: regionArb.chain((ri) =>
      subRange(REGIONS[ri]!).map((s) => ({ op: "hwpoison", region: REGIONS[ri]!.name, ...s })),
    ),
  },
  {
    weight: 3,
    arbitrary: fc.integer({ min: 0, max: 1 }).chain((ri) =>
      subRange(REGIONS[ri]!).map((s) => ({
        op: "device_private",
        region: REGIONS[ri]!.name,
        ...s,
      })),
    ),
  },
  {
    weight: 3,
    arbitrary: fc.integer({ min: 0, max: 1 }).chain((ri) =>
      subRange(REGIONS[ri]!).map((s) => ({
        op: "device_exclusive",
        region: REGIONS[ri]!.name,
        ...s,
      })),
    ),
  },
);

const scenarioArb = fc.record({
  with1G: fc.boolean(),
  wpRegister: fc.boolean(),
  prefault: fc.constantFrom("none", "read", "write"),
  hugepage: fc.boolean(),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 14 }),
  ranges: fc.array(
    fc.tuple(regionArb, fc.integer({ min: -8, max: 8 }), fc.integer({ min: 1, max: 2048 })),
    { minLength: 1, maxLength: 4 },
  ),
});

type Sc = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/** Run the generated steps, ignoring refusals (KernelError) and scenario mistakes. */
function build(sc: Sc): { m: Machine; procs: string[] } {
  const regions = REGIONS.filter((r) => sc.with1G || r.name !== "g");
  const steps: unknown[] = regions.map((r) => ({
    op: "mmap",
    region: r.name,
    addr: h(r.addr),
    len: r.len,
    prot: "rw",
    share: r.share,
    backing: r.backing,
  }));
  if (sc.wpRegister) {
    for (const r of regions) steps.push({ op: "uffd_register", region: r.name, mode: ["wp"] });
  }
  if (sc.hugepage) steps.push({ op: "madvise", region: "a", advice: "hugepage" });
  if (sc.prefault !== "none") {
    for (const r of regions) {
      if (r.name !== "g") steps.push({ op: "touch", region: r.name, access: sc.prefault });
    }
  }
  let forks = 0;
  for (const s of sc.steps) {
    const region = (s as { region?: string }).region;
    if (region === "g" && !sc.with1G) continue;
    // src/ops/device.ts turns a hugetlb PMD into a PTE table (the kernel refuses
    // hugetlb folios for device memory): not a state the kernel reaches.
    if ((region === "h" || region === "g") && s.op.startsWith("device_")) continue;
    if (s.op === "fork") steps.push({ op: "fork", child: `c${++forks}` });
    else if (s.op === "uffd_wp" && !sc.wpRegister) continue;
    else steps.push(s);
  }
  const parsed = parseScenario({
    format: "pagewalk-scenario/1",
    name: "generations",
    arch: "x86_64",
    setup: {
      thp: "madvise",
      swap: true,
      thp_sizes: ["2M", "64K"],
      nodes: 2,
      node_mem: "2G",
      device_mem: "64M",
      hugetlb_pages: { "2M": 6, "1G": sc.with1G ? 1 : 0 },
    },
    steps,
  });
  const m = new MachineClass(getArch(parsed.arch), configFromSetup(parsed));
  createProcess(m, "p0");
  const st: RunState = {
    machine: m,
    regions: new Regions(),
    doc: {
      format: "pagewalk-observations/1",
      scenario: "g",
      source: "",
      dropped: DROPPED,
      observations: [],
      scans: [],
      errors: [],
      uffd_events: [],
    },
    uffdEvents: [],
    walker: "mainline",
    scenario: parsed,
  };
  for (const step of parsed.steps) {
    try {
      executeStep(st, step);
    } catch (e) {
      if (!(e instanceof KernelError) && !(e instanceof ScenarioError)) throw e;
    }
  }
  return { m, procs: [...m.procs.keys()].filter((n) => !m.procs.get(n)!.exited) };
}

/** Kinds seen over every run (a check that the generator reaches every entry kind). */
const SEEN = new Set<number>();

function compareAll(sc: Sc): void {
  const { m, procs } = build(sc);
  for (const proc of procs) {
    const mm = m.procs.get(proc)!;
    for (const [ri, startPages, lenPages] of sc.ranges) {
      const r = REGIONS[ri]!;
      if (r.name === "g" && !sc.with1G) continue;
      const start = Math.max(A - 8 * K, r.addr + startPages * K);
      const end = start + lenPages * K;
      const main = callbackReport(m, mm, start, end, "mainline");
      const uni = callbackReport(m, mm, start, end, "unified");
      const pt = ptRangeReport(m, mm, start, end, PT_WALK_HOLES);
      const ptNoHoles = ptRangeReport(m, mm, start, end, 0);
      for (const k of main.kind) SEEN.add(k);
      for (const [name, rep] of [
        ["unified", uni],
        ["pt_range", pt],
        ["pt_range without holes", ptNoHoles],
      ] as const) {
        const k = firstDiff(main, rep);
        if (k >= 0) {
          const at = (x: Report) => `kind ${x.kind[k]} value ${x.value[k]} bits ${x.bits[k]}`;
          throw new Error(
            `${proc} [${h(start)}, ${h(end)}): page ${h(start + k * K)}: mainline ${at(main)} vs ${name} ${at(rep)}`,
          );
        }
      }
    }
  }
}

describe("the three walker generations report the same pages (property)", () => {
  it.skipIf(process.env.PAGEWALK_CASE === undefined)("replays PAGEWALK_CASE", () => {
    compareAll(JSON.parse(process.env.PAGEWALK_CASE!) as Sc);
  });

  it("mainline, unified and pt_range agree on random scenarios and ranges", () => {
    const seed = Number(process.env.PAGEWALK_SEED ?? 20260525);
    try {
      fc.assert(
        fc.property(scenarioArb, (sc) => compareAll(sc)),
        { seed, numRuns: 150 },
      );
    } catch (e) {
      throw new Error(
        `generations property failed with seed ${seed} (PAGEWALK_SEED=${seed} to replay): ${(e as Error).message}`,
      );
    }
    // folio, pfn (zero pages), swap, migration, device, hwpoison and markers all occurred.
    expect([...SEEN].sort((a, b) => a - b)).toEqual(
      expect.arrayContaining([0, 1, 4, 6, 7, 8, 9, 100, 101]),
    );
    console.log(`generations: kinds seen ${[...SEEN].sort((a, b) => a - b).join(",")}`);
  });
});
