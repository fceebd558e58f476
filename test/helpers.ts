import { Level, PteFlag } from "../src/arch/types.js";
import type { Machine } from "../src/mm/machine.js";
import type { MmStruct } from "../src/mm/mm.js";
import { PG } from "../src/mm/pageflags.js";
import * as E from "../src/ops/entries.js";
import { parseScenario } from "../src/scenario/parse.js";
import { type RunResult, runScenario, type WalkerGeneration } from "../src/scenario/run.js";

/** Run an inline scenario (steps only; x86_64, THP madvise, swap) with the verifier on. */
export function run(
  steps: unknown[],
  setup: Record<string, unknown> = {},
  opts: { walker?: WalkerGeneration; arch?: string } = {},
): RunResult {
  const sc = parseScenario({
    format: "pagewalk-scenario/1",
    name: "test",
    arch: opts.arch ?? "x86_64",
    setup: { thp: "madvise", swap: true, ...setup },
    steps,
  });
  return runScenario(sc, { verify: true, walker: opts.walker });
}

export const A = 0x100000000000;

/** What one virtual page maps, decoded through the codec (tests never name bits). */
export interface EntryView {
  kind: "none" | "present" | "swap" | "marker" | "other";
  level: "pte" | "pmd" | "pud" | "missing";
  pfn: number;
  write: boolean;
  young: boolean;
  dirty: boolean;
  uffdWp: boolean;
  swapType: number;
  swapOffset: number;
  swapFlags: number;
}

export function mmOf(m: Machine, proc = "p0"): MmStruct {
  const mm = m.procs.get(proc);
  if (!mm) throw new Error(`no process ${proc}`);
  return mm;
}

/** The entry mapping `addr` in `proc` (a PMD/PUD leaf reports its first PFN plus the page offset). */
export function entryAt(m: Machine, addr: number, proc = "p0"): EntryView {
  const mm = mmOf(m, proc);
  const empty: EntryView = {
    kind: "none",
    level: "missing",
    pfn: -1,
    write: false,
    young: false,
    dirty: false,
    uffdWp: false,
    swapType: -1,
    swapOffset: -1,
    swapFlags: 0,
  };
  for (const [lvl, name] of [
    [Level.PUD, "pud"],
    [Level.PMD, "pmd"],
    [Level.PTE, "pte"],
  ] as const) {
    const t = mm.pt.tableFor(addr, lvl, false);
    if (t === null) return empty;
    const i = mm.pt.index(lvl, addr);
    const pte = t.level === Level.PTE;
    const isLeafHere = pte || E.isHugeLeaf(m, t, i) || E.isSwp(m, t, i);
    if (!isLeafHere) {
      if (E.isNone(m, t, i)) return { ...empty, level: name };
      continue;
    }
    if (E.isNone(m, t, i)) return { ...empty, level: name };
    if (E.isPresent(m, t, i)) {
      const fl = E.leafFlags(m, t, i);
      const span = 2 ** m.arch.geometry.levels[lvl]!.shift;
      const off = Math.floor((addr % span) / m.arch.geometry.pageSize);
      return {
        ...empty,
        kind: "present",
        level: name,
        pfn: E.leafPfn(m, t, i) + off,
        write: (fl & PteFlag.WRITE) !== 0,
        young: (fl & PteFlag.YOUNG) !== 0,
        dirty: (fl & PteFlag.DIRTY) !== 0,
        uffdWp: (fl & PteFlag.UFFD_WP) !== 0,
      };
    }
    const type = E.swpType(m, t, i);
    return {
      ...empty,
      kind:
        type === m.swapTypes.marker ? "marker" : type < m.swapTypes.maxSwapfiles ? "swap" : "other",
      level: name,
      swapType: type,
      swapOffset: E.swpOffset(m, t, i),
      swapFlags: E.swpFlags(m, t, i),
    };
  }
  return empty;
}

/** The names of the PG flags set on `pfn`, for readable assertions. */
export function pageFlags(m: Machine, pfn: number): string[] {
  const f = m.phys.flags[pfn]!;
  return Object.entries(PG)
    .filter(([, bit]) => (f & bit) !== 0)
    .map(([name]) => name)
    .filter((n) => n !== "ALLOCATED");
}
