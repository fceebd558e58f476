import { describe, expect, it } from "vitest";
import { LockError } from "../../src/mm/locks.js";
import type { Machine } from "../../src/mm/machine.js";
import type { MmStruct } from "../../src/mm/mm.js";
import { EINVAL, walkPageRange, walkPageRangeVma, walkPageVma } from "../../src/walk/pagewalk.js";
import { type MmWalkOps, PageWalkLock, type WalkFlavour } from "../../src/walk/types.js";
import { A, runSteps } from "../proc/run.js";

const M2 = 0x200000;
const G1 = 0x40000000;
const B = A + G1; // the hugetlb VMA, in the next PUD

const h = (n: number) => `0x${n.toString(16)}`;

/** A THP + PTE-table anon VMA at A, and a 2-huge-page hugetlb VMA at B with the first faulted. */
function mixed(): { m: Machine; mm: MmStruct } {
  const { machine } = runSteps([
    {
      op: "mmap",
      region: "a",
      addr: h(A),
      len: "4M",
      prot: "rw",
      share: "private",
      backing: "anon",
    },
    { op: "madvise", region: "a", advice: "hugepage" },
    { op: "touch", region: "a", off: 0, len: "2M", access: "write" },
    { op: "touch", region: "a", off: "2M", len: "4K", access: "write" },
    {
      op: "mmap",
      region: "h",
      addr: h(B),
      len: "4M",
      prot: "rw",
      share: "private",
      backing: { hugetlb: "2M" },
    },
    { op: "touch", region: "h", off: 0, len: "4K", access: "write" },
  ]);
  return { m: machine, mm: machine.procs.get("p0")! };
}

/** Ops recording every callback as a line; runs of pte_entry are collapsed. */
function tracer(trace: string[], extra: Partial<MmWalkOps<null>> = {}): MmWalkOps<null> {
  let pteRun: { from: number; n: number } | null = null;
  const flush = () => {
    if (pteRun) trace.push(`pte ${h(pteRun.from)} x${pteRun.n}`);
    pteRun = null;
  };
  const log = (s: string) => {
    flush();
    trace.push(s);
  };
  return {
    testWalk: (s, e) => {
      log(`test ${h(s)}-${h(e)}`);
      return 0;
    },
    preVma: (s, e) => {
      log(`pre ${h(s)}-${h(e)}`);
      return 0;
    },
    postVma: () => log("post"),
    pmdEntry: (_t, _i, a, n) => {
      log(`pmd ${h(a)}-${h(n)}`);
      return 0;
    },
    pteEntry: (t, _i, a) => {
      expect(t.ptl.held).toBe(true);
      if (pteRun && pteRun.from + pteRun.n * 4096 === a) pteRun.n++;
      else {
        flush();
        pteRun = { from: a, n: 1 };
      }
      return 0;
    },
    pteHole: (a, n, d) => {
      log(`hole ${h(a)}-${h(n)} ${d}`);
      return 0;
    },
    hugetlbEntry: (_t, _i, hm, a, n) => {
      log(`hugetlb ${h(a)}-${h(n)} ${-hm}`);
      return 0;
    },
    postVmaFlush: flush,
    ...extra,
  } as MmWalkOps<null>;
}

function walkTrace(flavour: WalkFlavour, extra: Partial<MmWalkOps<null>> = {}): string[] {
  const { m, mm } = mixed();
  const trace: string[] = [];
  const ops = tracer(trace, extra);
  mm.mmapLock.readLock("test");
  const ret = walkPageRange(m, mm, A - M2, B + 4 * M2, ops, null, { flavour });
  mm.mmapLock.readUnlock();
  (ops as unknown as { postVmaFlush: () => void }).postVmaFlush();
  expect(ret).toBe(0);
  return trace;
}

describe("walk_page_range: callback order over gap, THP, PTE table, hugetlb", () => {
  it("mainline: hugetlb through hugetlb_entry, one call per huge page whose slot exists", () => {
    expect(walkTrace("mainline")).toEqual([
      `hole ${h(A - M2)}-${h(A)} -1`,
      `test ${h(A)}-${h(A + 2 * M2)}`,
      `pre ${h(A)}-${h(A + 2 * M2)}`,
      `pmd ${h(A)}-${h(A + M2)}`,
      // pte_entry set: the anonymous THP PMD is split and its 512 PTEs visited
      `pte ${h(A)} x512`,
      `pmd ${h(A + M2)}-${h(A + 2 * M2)}`,
      `pte ${h(A + M2)} x512`,
      "post",
      `hole ${h(A + 2 * M2)}-${h(B)} -1`,
      `test ${h(B)}-${h(B + 2 * M2)}`,
      `pre ${h(B)}-${h(B + 2 * M2)}`,
      `hugetlb ${h(B)}-${h(B + M2)} ${M2}`,
      `hugetlb ${h(B + M2)}-${h(B + 2 * M2)} ${M2}`,
      "post",
      `hole ${h(B + 2 * M2)}-${h(B + 4 * M2)} -1`,
    ]);
  });

  it("unified: the hugetlb PMD leaf reaches pmd_entry, the none PMD is a depth-3 hole", () => {
    const t = walkTrace("unified");
    const i = t.indexOf(`pre ${h(B)}-${h(B + 2 * M2)}`);
    expect(t.slice(i + 1, i + 4)).toEqual([
      `pmd ${h(B)}-${h(B + M2)}`,
      `hole ${h(B + M2)}-${h(B + 2 * M2)} 3`,
      "post",
    ]);
    expect(t.some((l) => l.startsWith("hugetlb"))).toBe(false);
  });

  it("mainline: a hugetlb VMA is invisible to ops without hugetlb_entry", () => {
    const t = walkTrace("mainline", { hugetlbEntry: undefined });
    const i = t.indexOf(`pre ${h(B)}-${h(B + 2 * M2)}`);
    expect(t[i + 1]).toBe("post");
  });

  it("test_walk > 0 skips the VMA: no pre_vma, no entries, no post_vma", () => {
    const t = walkTrace("mainline", { testWalk: (s: number) => (s === A ? 1 : 0) });
    expect(t.filter((l) => l.startsWith("pre"))).toEqual([`pre ${h(B)}-${h(B + 2 * M2)}`]);
    expect(t.some((l) => l.startsWith("pmd"))).toBe(false);
  });
});

describe("pte_hole depths (x86_64 4-level: P4D folded)", () => {
  it("reports a none PMD as 3, a none PUD as 2 and an empty top-level slot as 0", () => {
    const { machine: m } = runSteps([
      {
        op: "mmap",
        region: "a",
        addr: h(A),
        len: "4M",
        prot: "rw",
        share: "private",
        backing: "anon",
      },
      { op: "touch", region: "a", off: 0, len: "4K", access: "write" },
      {
        op: "mmap",
        region: "b",
        addr: h(A + G1),
        len: "2M",
        prot: "rw",
        share: "private",
        backing: "anon",
      },
      {
        op: "mmap",
        region: "c",
        addr: h(A + 2 ** 39),
        len: "2M",
        prot: "rw",
        share: "private",
        backing: "anon",
      },
    ]);
    const mm = m.procs.get("p0")!;
    const holes: string[] = [];
    const ops: MmWalkOps<null> = {
      pmdEntry: () => 0,
      pteHole: (a, n, d) => {
        holes.push(`${h(a)}-${h(n)} ${d}`);
        return 0;
      },
    };
    mm.mmapLock.readLock("test");
    for (const v of mm.vmas) walkPageVma(m, mm, v, ops, null);
    mm.mmapLock.readUnlock();
    expect(holes).toEqual([
      `${h(A + M2)}-${h(A + 2 * M2)} 3`,
      `${h(A + G1)}-${h(A + G1 + M2)} 2`,
      `${h(A + 2 ** 39)}-${h(A + 2 ** 39 + M2)} 0`,
    ]);
  });
});

describe("errors and locks", () => {
  it("returns -EINVAL for an empty range, install_pte on a public entry, or a range outside the VMA", () => {
    const { m, mm } = mixed();
    mm.mmapLock.readLock("test");
    expect(walkPageRange(m, mm, A, A, {}, null)).toBe(-EINVAL);
    expect(
      walkPageRange(m, mm, A, A + 4096, { pteEntry: () => 0, installPte: () => 0 }, null),
    ).toBe(-EINVAL);
    const v = mm.vmas[0]!;
    expect(walkPageRangeVma(m, mm, v, A - 4096, A + 4096, {}, null)).toBe(-EINVAL);
    expect(walkPageRangeVma(m, mm, v, A, v.end + 4096, {}, null)).toBe(-EINVAL);
    mm.mmapLock.readUnlock();
  });

  it("stops at the first non-zero callback value and returns it", () => {
    const { m, mm } = mixed();
    let calls = 0;
    mm.mmapLock.readLock("test");
    const r = walkPageRange(
      m,
      mm,
      A,
      A + 4 * M2,
      { pmdEntry: () => (++calls === 2 ? 7 : 0) },
      null,
    );
    mm.mmapLock.readUnlock();
    expect(r).toBe(7);
    expect(calls).toBe(2);
  });

  it("throws when the mmap lock is not held as walk_lock demands", () => {
    const { m, mm } = mixed();
    expect(() => walkPageRange(m, mm, A, A + M2, { pmdEntry: () => 0 }, null)).toThrow(LockError);
    mm.mmapLock.readLock("test");
    expect(() =>
      walkPageRange(m, mm, A, A + M2, { pmdEntry: () => 0, walkLock: PageWalkLock.WRLOCK }, null),
    ).toThrow(LockError);
    mm.mmapLock.readUnlock();
  });

  it("holds the hugetlb VMA lock around hugetlb_entry", () => {
    const { m, mm } = mixed();
    const v = mm.vmas.find((x) => x.isHugetlb)!;
    let seen = 0;
    mm.mmapLock.readLock("test");
    walkPageVma(
      m,
      mm,
      v,
      {
        hugetlbEntry: () => {
          seen++;
          return 0;
        },
      },
      null,
    );
    mm.mmapLock.readUnlock();
    expect(seen).toBe(2);
  });
});
