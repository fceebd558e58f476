import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Level } from "../../src/arch/types.js";
import type { Machine } from "../../src/mm/machine.js";
import type { MmStruct } from "../../src/mm/mm.js";
import { PG } from "../../src/mm/pageflags.js";
import { verifyAllFree, verifyMachine } from "../../src/mm/verify.js";
import { doExit } from "../../src/ops/fork.js";
import { ScenarioError } from "../../src/scenario/errors.js";
import { loadScenarioFile, parseScenario } from "../../src/scenario/parse.js";
import { type RunResult, runScenario } from "../../src/scenario/run.js";

const FIXTURES = fileURLToPath(
  new URL("../../../shared/fixtures/kernel-6.18/scenarios", import.meta.url),
);
const EXAMPLES = fileURLToPath(new URL("../../examples", import.meta.url));

/** Scenario files: the kernel fixtures and the examples (the 4 GiB benchmark layout excepted). */
function scenarioFiles(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [tag, dir] of [
    ["fixtures", FIXTURES],
    ["examples", EXAMPLES],
  ] as const) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) {
      if (!f.endsWith(".json") || f.startsWith("big-")) continue;
      out.push([`${tag}/${f}`, join(dir, f)]);
    }
  }
  return out;
}

const FILES = scenarioFiles();

/** Scenarios skipped because a step is not implemented yet: name → reason. */
const skipped = new Map<string, string>();

/**
 * Run a scenario file; null (with a warning) when it stops at a step the
 * model does not implement yet.
 */
function runOrSkip(name: string, path: string, verify: boolean): RunResult | null {
  try {
    return runScenario(loadScenarioFile(path), { verify, file: path });
  } catch (e) {
    if (e instanceof ScenarioError && e.message.includes("not implemented")) {
      skipped.set(name, e.message);
      console.warn(`verify.test: skipping ${name}: ${e.message}`);
      return null;
    }
    throw e;
  }
}

describe("verifier on every scenario (after every step)", () => {
  it("finds scenario files", () => {
    expect(FILES.length).toBeGreaterThan(0);
  });
  for (const [name, path] of FILES) {
    it(name, (ctx) => {
      // runScenario throws with the verifier's problems after the first failing step.
      const r = runOrSkip(name, path, true);
      if (r === null) {
        ctx.skip(skipped.get(name));
        return;
      }
      expect(verifyMachine(r.machine)).toEqual([]);
    });
  }
});

describe("verifier after every process exited", () => {
  for (const [name, path] of FILES) {
    it(name, (ctx) => {
      const r = runOrSkip(name, path, false);
      if (r === null) {
        ctx.skip(skipped.get(name));
        return;
      }
      const m = r.machine;
      for (const mm of [...m.procs.values()]) if (!mm.exited) doExit(m, mm);
      expect(m.procs.size).toBe(0);
      expect([...verifyMachine(m), ...verifyAllFree(m)]).toEqual([]);
    });
  }
});

// ---------------------------------------------------------------------------
// The verifier can fail: corrupt one thing, expect exactly that problem.
// ---------------------------------------------------------------------------

const A = 0x100000000000;

/** A small state: 16 anon pages, one THP, a shmem page, 4 pages swapped out, a fork. */
function smallState(): Machine {
  const sc = parseScenario({
    format: "pagewalk-scenario/1",
    name: "verify-small",
    arch: "x86_64",
    setup: { thp: "madvise", swap: true },
    steps: [
      { op: "mmap", region: "a", addr: "0x100000000000", len: "64K", prot: "rw", share: "private", backing: "anon" },
      { op: "touch", region: "a", access: "write" },
      { op: "mmap", region: "t", addr: "0x100000200000", len: "2M", prot: "rw", share: "private", backing: "anon" },
      { op: "madvise", region: "t", advice: "hugepage" },
      { op: "touch", region: "t", access: "write" },
      { op: "mmap", region: "s", addr: "0x100000600000", len: "16K", prot: "rw", share: "shared", backing: "anon" },
      { op: "touch", region: "s", access: "write" },
      { op: "madvise", region: "a", off: "48K", len: "16K", advice: "pageout" },
      { op: "fork", child: "c" },
    ],
  }); // biome-ignore format: one step per line
  const r = runScenario(sc, { verify: true });
  expect(verifyMachine(r.machine)).toEqual([]);
  return r.machine;
}

function proc(m: Machine, name: string): MmStruct {
  return m.procs.get(name)!;
}

/** The PTE table and index mapping `addr` in `mm`. */
function pteSlot(
  mm: MmStruct,
  addr: number,
): [import("../../src/mm/pgtable.js").PageTable, number] {
  const t = mm.pt.tableFor(addr, Level.PTE, false)!;
  return [t, mm.pt.index(Level.PTE, addr)];
}

describe("verifier detects corruption", () => {
  it("an RSS counter off by one", () => {
    const m = smallState();
    const p0 = proc(m, "p0");
    p0.rss.anon++;
    const problems = verifyMachine(m);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/mm p0 .*MM_ANONPAGES is \d+, the page tables give \d+/);
    p0.rss.anon--;
    proc(m, "c").rss.shmem += 2;
    const p2 = verifyMachine(m);
    expect(p2).toHaveLength(1);
    expect(p2[0]).toMatch(/mm c .*MM_SHMEMPAGES/);
  });

  it("a per-page mapcount", () => {
    const m = smallState();
    const [t, i] = pteSlot(proc(m, "p0"), A);
    const pfn = m.arch.leafPfn(t.words[2 * i]!, t.words[2 * i + 1]!, Level.PTE);
    m.phys.mapcount[pfn]!++;
    const problems = verifyMachine(m);
    expect(problems).toEqual([`pfn 0x${pfn.toString(16)}: mapcount is 3, 2 PTEs map it`]);
  });

  it("a large folio's entire mapcount", () => {
    const m = smallState();
    const pmdT = proc(m, "p0").pt.tableFor(A + 0x200000, Level.PMD, false)!;
    const pi = proc(m, "p0").pt.index(Level.PMD, A + 0x200000);
    const head = m.arch.leafPfn(pmdT.words[2 * pi]!, pmdT.words[2 * pi + 1]!, Level.PMD);
    const s = m.phys.large.get(head)!;
    s.entire--;
    const problems = verifyMachine(m);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/large folio .*entire mapcount 1, .*entire 2/);
  });

  it("a page table's used count", () => {
    const m = smallState();
    const [t] = pteSlot(proc(m, "c"), A);
    t.used++;
    const problems = verifyMachine(m);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/mm c .*table at pfn .*: used is \d+, \d+ entries are not none/);
  });

  it("a page-table page leaked from the registry", () => {
    const m = smallState();
    const c = proc(m, "c");
    const [t] = pteSlot(c, A);
    m.tables.delete(t.pfn);
    const problems = verifyMachine(m);
    expect(problems.some((x) => /not a registered page table/.test(x))).toBe(true);
    expect(problems.some((x) => /not registered in m.tables/.test(x))).toBe(true);
  });

  it("a swap count", () => {
    const m = smallState();
    const [t, i] = pteSlot(proc(m, "p0"), A + 0xc000);
    const slot = m.arch.swpOffset(t.words[2 * i]!, t.words[2 * i + 1]!, Level.PTE);
    m.swap!.count[slot]!++;
    expect(verifyMachine(m)).toEqual([
      `swap slot ${slot}: swap count is 3, 2 entries refer to it (page tables and shmem)`,
    ]);
  });

  it("a leaked anonymous page", () => {
    const m = smallState();
    const pfn = m.phys.allocFolio(0, 0, PG.ANON | PG.SWAPBACKED | PG.UPTODATE);
    const problems = verifyMachine(m);
    expect(problems).toEqual([
      `anonymous folio 0x${pfn.toString(16)} (order 0) is mapped nowhere and not in the swap cache (leaked; flags UPTODATE|SWAPBACKED|ANON|ALLOCATED)`,
    ]);
    m.phys.freeFolio(pfn);
    expect(verifyMachine(m)).toEqual([]);
  });

  it("pgtables_bytes", () => {
    const m = smallState();
    proc(m, "p0").pt.bytes += 4096;
    const problems = verifyMachine(m);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/mm p0 .*pgtables_bytes/);
  });

  it("a leak left after exit", () => {
    const m = smallState();
    for (const mm of [...m.procs.values()]) doExit(m, mm);
    const pfn = m.phys.allocFolio(0, 0, PG.PGTABLE);
    const problems = [...verifyAllFree(m)];
    expect(problems).toContainEqual(
      expect.stringMatching(new RegExp(`folio 0x${pfn.toString(16)} .*still allocated`)),
    );
  });
});
