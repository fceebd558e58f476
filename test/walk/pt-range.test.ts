import { describe, expect, it } from "vitest";
import { Level } from "../../src/arch/types.js";
import { LockError } from "../../src/mm/locks.js";
import type { Machine } from "../../src/mm/machine.js";
import type { MmStruct } from "../../src/mm/mm.js";
import {
  FPB_RESPECT_ALL,
  FPB_RESPECT_WRITE,
  folioPmdBatch,
  folioPteBatch,
  folioPteBatchFlags,
  swapPteBatch,
} from "../../src/walk/batch.js";
import { hugetlbVmaLock } from "../../src/walk/locks.js";
import {
  PT_TYPE_NAMES,
  PT_WALK_HOLES,
  PT_WALK_MMAP_LOCK,
  PT_WALK_NO_BATCH,
  PtLevel,
  PtRangeWalk,
  PtType,
  ptRangeWalkEnd,
  ptRangeWalkNext,
  ptRangeWalkSkipVma,
  ptRangeWalkSplit,
  ptRangeWalkStart,
} from "../../src/walk/pt-range.js";
import {
  SoftleafType,
  softleafIsGuardMarker,
  softleafIsUffdWpMarker,
} from "../../src/walk/softleaf.js";
import { A, runSteps } from "../proc/run.js";

const h = (n: number) => `0x${n.toString(16)}`;
const K = 4096;
const M2 = 2 ** 21;
const G1 = 2 ** 30;
const SMALL_POOLS = { memory: "3G", hugetlb_pages: { "2M": 4, "1G": 1 } };

const anon = (len: string, region = "a", addr = A) => ({
  op: "mmap",
  region,
  addr: h(addr),
  len,
  prot: "rw",
  share: "private",
  backing: "anon",
});

/** One result, copied out of the walk state. */
interface R {
  type: string;
  level: number;
  addr: number;
  next: number;
  nrEntries: number;
  folio: number;
  page: number;
  pfn: number;
  zero: boolean;
  hugetlb: boolean;
  leaf: number;
  marker: number;
  young: boolean;
  write: boolean;
  held: boolean;
}

/** Every result of a walk of [start, end) of p0, under the mmap read lock. */
function results(m: Machine, start: number, end: number, flags = 0): R[] {
  const mm = m.procs.get("p0")!;
  const w = new PtRangeWalk();
  const out: R[] = [];
  mm.mmapLock.readLock("test");
  try {
    for (
      let t = ptRangeWalkStart(w, m, mm, start, end, flags);
      t !== null;
      t = ptRangeWalkNext(w)
    ) {
      out.push({
        type: PT_TYPE_NAMES[t],
        level: w.level,
        addr: w.addr,
        next: w.next,
        nrEntries: w.nrEntries,
        folio: w.folio,
        page: w.page,
        pfn: w.pfn,
        zero: w.zero,
        hugetlb: w.hugetlb,
        leaf: w.leaf.type,
        marker: w.leaf.type === SoftleafType.MARKER ? w.leaf.offset : 0,
        young: w.young,
        write: w.write,
        held: w.table?.ptl.held === true,
      });
    }
  } finally {
    mm.mmapLock.readUnlock();
  }
  return out;
}

describe("pt_range_walk results (kernel-api.md §5.3)", () => {
  it("a whole PMD THP is one FOLIO at PMD level under the PMD lock; a clipped start keeps the subpage rule", () => {
    const { machine: m } = runSteps([
      anon("4M"),
      { op: "madvise", region: "a", advice: "hugepage" },
      { op: "touch", region: "a", len: "2M", access: "write" },
    ]);
    const [r] = results(m, A, A + M2);
    expect(r).toMatchObject({ type: "folio", level: PtLevel.PMD, nrEntries: 1, held: true });
    expect(r!.next - r!.addr).toBe(M2);
    expect(m.phys.folioNr(r!.folio)).toBe(512);
    const [c] = results(m, A + 7 * K, A + 9 * K);
    expect(c).toMatchObject({
      addr: A + 7 * K,
      next: A + 9 * K,
      page: r!.folio + 7,
      pfn: r!.folio + 7,
    });
  });

  it("a split THP is PTE batches of one folio, cut wherever an entry bit differs", () => {
    const { machine: m } = runSteps([
      anon("4M"),
      { op: "madvise", region: "a", advice: "hugepage" },
      { op: "touch", region: "a", len: "2M", access: "write" },
      { op: "mprotect", region: "a", off: "1M", len: "8K", prot: "r" },
    ]);
    const rs = results(m, A, A + M2);
    expect(rs.map((r) => [r.nrEntries, r.write])).toEqual([
      [256, true],
      [2, false],
      [254, true],
    ]);
    expect(new Set(rs.map((r) => r.folio)).size).toBe(1);
    expect(results(m, A, A + M2, PT_WALK_NO_BATCH)).toHaveLength(512);
  });

  it("mTHP: 16-page batches; young is respected, so clear_refs then one read cuts a batch in three", () => {
    const { machine: m } = runSteps(
      [
        anon("128K"),
        { op: "madvise", region: "a", advice: "hugepage" },
        { op: "touch", region: "a", access: "write" },
        { op: "clear_refs", value: 1 },
        { op: "touch", region: "a", off: "20K", len: "4K", access: "read" },
      ],
      { setup: { thp_sizes: ["64K"] } },
    );
    const rs = results(m, A, A + 128 * K);
    expect(rs.map((r) => [r.nrEntries, r.young])).toEqual([
      [5, false],
      [1, true],
      [10, false],
      [16, false],
    ]);
  });

  it("zero pages are PFN results with the zero folio; the huge zero folio at PMD level", () => {
    const { machine: m } = runSteps([
      anon("4M"),
      { op: "madvise", region: "a", off: "2M", len: "2M", advice: "hugepage" },
      { op: "touch", region: "a", len: "8K", access: "read" },
      { op: "touch", region: "a", off: "2M", len: "4K", access: "read" },
    ]);
    const rs = results(m, A, A + 2 * M2);
    expect(rs[0]).toMatchObject({
      type: "pfn",
      zero: true,
      folio: m.phys.zeroPfn,
      level: PtLevel.PTE,
    });
    expect(rs[1]).toMatchObject({ type: "pfn", zero: true, nrEntries: 1 });
    expect(rs[2]).toMatchObject({
      type: "pfn",
      zero: true,
      folio: m.phys.hugeZeroPfn,
      level: PtLevel.PMD,
    });
  });

  it("holes: a gap is NONE at PGD without a VMA, none PTEs one run per table, a none PMD one entry", () => {
    const { machine: m } = runSteps([
      anon("4M"),
      anon("64K", "b", A + 5 * M2),
      { op: "touch", region: "a", off: "8K", len: "4K", access: "write" },
    ]);
    const rs = results(m, A, A + 5 * M2 + 16 * K, PT_WALK_HOLES);
    expect(rs.map((r) => [r.type, r.level, (r.next - r.addr) / K, r.held])).toEqual([
      ["none", PtLevel.PTE, 2, false],
      ["folio", PtLevel.PTE, 1, true],
      ["none", PtLevel.PTE, 509, false],
      ["none", PtLevel.PMD, 512, false],
      ["none", PtLevel.PGD, 1536, false],
      ["none", PtLevel.PMD, 16, false],
    ]);
    expect(results(m, A, A + 4 * M2)).toHaveLength(1);
  });

  it("hugetlb 2M: PMD leaves; a none PMD is a PMD-level NONE, a missing table a PUD-level NONE per huge page", () => {
    const { machine: m } = runSteps(
      [
        {
          op: "mmap",
          region: "h",
          addr: h(A),
          len: "8M",
          prot: "rw",
          share: "private",
          backing: { hugetlb: "2M" },
        },
        {
          op: "mmap",
          region: "i",
          addr: h(A + G1),
          len: "4M",
          prot: "rw",
          share: "private",
          backing: { hugetlb: "2M" },
        },
        { op: "touch", region: "h", len: "4K", access: "write" },
      ],
      { setup: SMALL_POOLS },
    );
    const rs = results(m, A, A + (8 * M2) / 2, PT_WALK_HOLES);
    expect(rs[0]).toMatchObject({ type: "folio", level: PtLevel.PMD, hugetlb: true, nrEntries: 1 });
    expect(rs[0]!.next - rs[0]!.addr).toBe(M2);
    expect(rs.slice(1).map((r) => [r.type, r.level])).toEqual([
      ["none", PtLevel.PMD],
      ["none", PtLevel.PMD],
      ["none", PtLevel.PMD],
    ]);
    const holes = results(m, A + G1, A + G1 + 2 * M2, PT_WALK_HOLES);
    expect(holes.map((r) => [r.type, r.level, r.next - r.addr])).toEqual([
      ["none", PtLevel.PUD, M2],
      ["none", PtLevel.PUD, M2],
    ]);
  });

  it("hugetlb 1G: one PUD leaf, clipped to the walk range, with the hugetlb VMA lock held", () => {
    const { machine: m } = runSteps(
      [
        {
          op: "mmap",
          region: "g",
          addr: h(A),
          len: "1G",
          prot: "rw",
          share: "private",
          backing: { hugetlb: "1G" },
        },
        { op: "touch", region: "g", off: "512M", len: "4K", access: "write" },
      ],
      { setup: SMALL_POOLS },
    );
    const mm = m.procs.get("p0")!;
    const vma = mm.vmas[0]!;
    const w = new PtRangeWalk();
    mm.mmapLock.readLock("t");
    const t = ptRangeWalkStart(w, m, mm, A + G1 / 2, A + G1 / 2 + 4 * K);
    expect(t).toBe(PtType.FOLIO);
    expect(w.level).toBe(PtLevel.PUD);
    expect(w.nrPages).toBe(4);
    expect(w.page).toBe(w.folio + 2 ** 17);
    expect(hugetlbVmaLock(vma).readers).toBe(1);
    expect(ptRangeWalkNext(w)).toBeNull();
    expect(hugetlbVmaLock(vma).readers).toBe(0);
    mm.mmapLock.readUnlock();
  });

  it("swap entries of a paged-out THP come out in swap_pte_batch batches of consecutive slots", () => {
    const { machine: m } = runSteps([
      anon("2M"),
      { op: "madvise", region: "a", advice: "hugepage" },
      { op: "touch", region: "a", access: "write" },
      { op: "madvise", region: "a", advice: "pageout" },
    ]);
    const rs = results(m, A, A + M2);
    expect(rs.every((r) => r.type === "swap")).toBe(true);
    expect(rs.reduce((n, r) => n + r.nrEntries, 0)).toBe(512);
    expect(rs.length).toBeLessThan(512);
  });

  it("migration in flight: PTE and PMD migration entries name their folio", () => {
    const { machine: m } = runSteps(
      [
        anon("4M"),
        { op: "madvise", region: "a", off: "2M", len: "2M", advice: "hugepage" },
        { op: "touch", region: "a", len: "64K", access: "write" },
        { op: "touch", region: "a", off: "2M", len: "4K", access: "write" },
        { op: "migrate", region: "a", to_node: 1, phase: "begin" },
      ],
      { setup: { nodes: 2, node_mem: "2G", hugetlb_pages: { "2M": 0, "1G": 0 } } },
    );
    const rs = results(m, A, A + 2 * M2);
    expect(rs.slice(0, 16).every((r) => r.type === "migration" && r.nrEntries === 1)).toBe(true);
    expect(rs[0]!.folio).toBe(rs[0]!.page);
    const thp = rs.slice(16);
    expect(thp.every((r) => r.type === "migration")).toBe(true);
    expect(thp[0]!.folio).toBe(m.phys.folioHead(thp[0]!.page));
  });

  it("hwpoison, device private and device exclusive entries", () => {
    const { machine: m } = runSteps(
      [
        anon("64K"),
        { op: "touch", region: "a", access: "write" },
        { op: "hwpoison", region: "a", off: 0, len: "8K" },
        { op: "device_private", region: "a", off: "16K", len: "16K" },
        { op: "device_exclusive", region: "a", off: "32K", len: "8K" },
      ],
      { setup: { thp: "never", device_mem: "64M" } },
    );
    const rs = results(m, A, A + 64 * K);
    expect(rs.map((r) => r.type)).toEqual([
      "hwpoison",
      "hwpoison",
      "folio",
      "folio",
      "device",
      "device",
      "device",
      "device",
      "device",
      "device",
      "folio",
      "folio",
      "folio",
      "folio",
      "folio",
      "folio",
    ]);
    expect(rs[4]!.leaf).toBe(SoftleafType.DEVICE_PRIVATE_WRITE);
    expect(rs[8]!.leaf).toBe(SoftleafType.DEVICE_EXCLUSIVE);
    expect(rs[0]!.folio).toBeGreaterThan(0);
  });

  it("uffd-wp and guard markers are MARKER results", () => {
    const { machine: m } = runSteps([
      anon("64K"),
      { op: "madvise", region: "a", off: 0, len: "8K", advice: "guard_install" },
      { op: "uffd_register", region: "a", mode: ["wp"] },
      { op: "uffd_wp", region: "a", off: "16K", len: "8K", enable: true },
    ]);
    const mm = m.procs.get("p0")!;
    const w = new PtRangeWalk();
    mm.mmapLock.readLock("t");
    const kinds: string[] = [];
    for (let t = ptRangeWalkStart(w, m, mm, A, A + 64 * K); t !== null; t = ptRangeWalkNext(w)) {
      expect(t).toBe(PtType.MARKER);
      kinds.push(
        softleafIsGuardMarker(w.leaf) ? "guard" : softleafIsUffdWpMarker(w.leaf) ? "wp" : "?",
      );
    }
    mm.mmapLock.readUnlock();
    expect(kinds).toEqual(["guard", "guard", "wp", "wp"]);
  });
});

describe("pt_range_walk locks, VMA filter, split and skip", () => {
  const thp = () =>
    runSteps([
      anon("4M"),
      anon("64K", "b", A + 5 * M2),
      { op: "madvise", region: "a", advice: "hugepage" },
      { op: "touch", region: "a", len: "2M", access: "write" },
      { op: "touch", region: "b", access: "write" },
    ]).machine;

  it("reading without the mmap lock throws a LockError naming the lock, the walker and the address", () => {
    const m = thp();
    const mm = m.procs.get("p0")!;
    const w = new PtRangeWalk();
    expect(() => ptRangeWalkStart(w, m, mm, A, A + M2)).toThrow(LockError);
    const w2 = new PtRangeWalk();
    mm.mmapLock.readLock("t");
    ptRangeWalkStart(w2, m, mm, A + 5 * M2, A + 5 * M2 + 64 * K);
    mm.mmapLock.readUnlock();
    expect(() => ptRangeWalkNext(w2)).toThrow(
      /pt_range_walk at 0x100000a01000: reading page tables without mmap_lock\(p0\)/,
    );
  });

  it("PT_WALK_MMAP_LOCK takes and drops the mmap lock; end() releases everything and may be called twice", () => {
    const m = thp();
    const mm = m.procs.get("p0")!;
    const w = new PtRangeWalk();
    expect(ptRangeWalkStart(w, m, mm, A + 5 * M2, A + 6 * M2, PT_WALK_MMAP_LOCK)).toBe(
      PtType.FOLIO,
    );
    expect(mm.mmapLock.readers).toBe(1);
    const ptl = w.table!.ptl;
    expect(ptl.held).toBe(true);
    ptRangeWalkEnd(w);
    ptRangeWalkEnd(w);
    expect(ptl.held).toBe(false);
    expect(mm.mmapLock.readers).toBe(0);
  });

  it("testVma skips a VMA, or ends the walk with its errno", () => {
    const m = thp();
    const mm = m.procs.get("p0")!;
    const w = new PtRangeWalk();
    mm.mmapLock.readLock("t");
    let t = ptRangeWalkStart(w, m, mm, A, A + 6 * M2, 0, (v) => (v.start === A ? 1 : 0));
    expect(w.addr).toBe(A + 5 * M2);
    expect(t).toBe(PtType.FOLIO);
    t = ptRangeWalkStart(new PtRangeWalk(), m, mm, A, A + 6 * M2, 0, () => -14);
    expect(t).toBeNull();
    const w3 = new PtRangeWalk();
    expect(ptRangeWalkStart(w3, m, mm, A, A + 6 * M2, 0, () => -14)).toBeNull();
    expect(w3.error).toBe(-14);
    mm.mmapLock.readUnlock();
  });

  it("split turns the current PMD THP into PTEs and resumes at its address; skipVma moves on", () => {
    const m = thp();
    const mm = m.procs.get("p0")!;
    const w = new PtRangeWalk();
    mm.mmapLock.readLock("t");
    expect(ptRangeWalkStart(w, m, mm, A + 8 * K, A + 6 * M2)).toBe(PtType.FOLIO);
    expect(w.level).toBe(PtLevel.PMD);
    const folio = w.folio;
    ptRangeWalkSplit(w);
    expect(ptRangeWalkNext(w)).toBe(PtType.FOLIO);
    expect([w.level, w.addr, w.page, w.nrEntries]).toEqual([
      PtLevel.PTE,
      A + 8 * K,
      folio + 8,
      504,
    ]);
    ptRangeWalkSkipVma(w);
    expect(ptRangeWalkNext(w)).toBe(PtType.FOLIO);
    expect(w.addr).toBe(A + 5 * M2);
    ptRangeWalkEnd(w);
    mm.mmapLock.readUnlock();
    expect(mm.pt.tableFor(A, Level.PTE, false)).not.toBeNull();
  });
});

describe("batching helpers (kernel-api.md §7)", () => {
  function ptes(_m: Machine, mm: MmStruct, addr: number) {
    const t = mm.pt.tableFor(addr, Level.PTE, false)!;
    return { t, i: mm.pt.index(Level.PTE, addr) };
  }

  it("folio_pte_batch ignores young, dirty and write unless told; caps at the folio; needs the PTL", () => {
    const { machine: m } = runSteps(
      [
        anon("128K"),
        { op: "madvise", region: "a", advice: "hugepage" },
        { op: "touch", region: "a", access: "write" },
        { op: "mprotect", region: "a", off: "8K", len: "4K", prot: "r" },
      ],
      { setup: { thp_sizes: ["64K"] } },
    );
    const mm = m.procs.get("p0")!;
    const { t, i } = ptes(m, mm, A);
    const folio = m.phys.folioHead(m.arch.leafPfn(t.words[0]!, t.words[1]!, Level.PTE));
    expect(() => folioPteBatch(m, folio, t, i, 32)).toThrow(LockError);
    t.ptl.lock("t");
    expect(folioPteBatch(m, folio, t, i, 32)).toBe(16);
    const copy = new Uint32Array([t.words[0]!, t.words[1]!]);
    expect(folioPteBatchFlags(m, folio, null, t, i, copy, 32, FPB_RESPECT_WRITE)).toBe(2);
    expect(folioPteBatchFlags(m, folio, null, t, i, copy, 32, FPB_RESPECT_ALL)).toBe(2);
    expect(folioPteBatch(m, folio, t, i, 5)).toBe(5);
    t.ptl.unlock();
  });

  it("swap_pte_batch: consecutive slots of one type with equal flags", () => {
    const { machine: m } = runSteps([
      anon("2M"),
      { op: "madvise", region: "a", advice: "hugepage" },
      { op: "touch", region: "a", access: "write" },
      { op: "madvise", region: "a", advice: "pageout" },
    ]);
    const mm = m.procs.get("p0")!;
    const { t, i } = ptes(m, mm, A);
    t.ptl.lock("t");
    expect(swapPteBatch(m, t, i, 512)).toBe(512);
    expect(swapPteBatch(m, t, i + 10, 3)).toBe(3);
    t.ptl.unlock();
  });

  it("folio_pmd_batch is 1 on x86_64 (no folio spans two PMDs)", () => {
    const { machine: m } = runSteps([
      anon("4M"),
      { op: "madvise", region: "a", advice: "hugepage" },
      { op: "touch", region: "a", access: "write" },
    ]);
    const mm = m.procs.get("p0")!;
    const t = mm.pt.tableFor(A, Level.PMD, false)!;
    const i = mm.pt.index(Level.PMD, A);
    const folio = m.arch.leafPfn(t.words[i * 2]!, t.words[i * 2 + 1]!, Level.PMD);
    t.ptl.lock("t");
    expect(folioPmdBatch(m, folio, t, i, 2)).toBe(1);
    t.ptl.unlock();
  });
});
