/**
 * `pagewalk diff`: what the users print on each walker generation, and a
 * unified-style line diff of the first differences (Myers' O(ND) algorithm
 * after trimming the common prefix and suffix).
 */
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { Generation } from "../proc/common.js";
import type { ObservationDocument } from "../proc/observation-types.js";
import type { WalkerGeneration } from "../scenario/run.js";
import { renderNumaMaps, renderPagemap, renderSmaps, renderSmapsRollup } from "./text.js";

/** Everything one generation produced, as named text sections in a fixed order. */
export type Outputs = Map<string, string>;

/** The parts of the observation document that are compared (as fixture-check does). */
export const DOC_KEYS = ["observations", "scans", "errors", "uffd_events"] as const;

/**
 * The outputs of one run: the document's compared members (pretty JSON, one
 * value per line) and, for every live process in name order, its smaps,
 * smaps_rollup, numa_maps and pagemap text at the end of the scenario.
 */
export function collectOutputs(
  machine: Machine,
  doc: ObservationDocument,
  walker: WalkerGeneration,
): Outputs {
  const out: Outputs = new Map();
  for (const k of DOC_KEYS) out.set(k, `${JSON.stringify(doc[k], null, 1)}\n`);
  const names = [...machine.procs.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    const mm = machine.procs.get(name)!;
    if (mm.exited) continue;
    out.set(`${name}/smaps`, renderSmaps(machine, mm, walker));
    out.set(`${name}/smaps_rollup`, renderSmapsRollup(machine, mm, walker));
    out.set(`${name}/numa_maps`, renderNumaMaps(machine, mm, walker));
    out.set(`${name}/pagemap`, renderPagemapAll(machine, mm, walker));
  }
  return out;
}

/** The pagemap text of every VMA of `mm`, in address order, read on walker generation `gen`. */
export function renderPagemapAll(
  machine: Machine,
  mm: MmStruct,
  gen: Generation,
  showPfn = true,
): string {
  let s = "";
  const top = machine.arch.geometry.userTop;
  for (const vma of [...mm.vmas]) {
    if (vma.start >= top) continue;
    s += renderPagemap(machine, mm, vma.start, Math.min(vma.end, top), gen, showPfn);
  }
  return s;
}

/** Limits of a rendered diff. */
export interface DiffLimits {
  /** Context lines around each change. */
  context: number;
  /** At most this many diff lines per section; the rest is summarised. */
  maxLines: number;
  /** Give up on a minimal diff beyond this many edits (then show the changed block). */
  maxEdits: number;
}

const DEFAULT_LIMITS: DiffLimits = { context: 3, maxLines: 60, maxEdits: 4000 };

type Op = " " | "-" | "+";

/** Myers' greedy shortest edit script between a and b, or null beyond `maxD` edits. */
function myers(a: readonly string[], b: readonly string[], maxD: number): Op[] | null {
  const n = a.length;
  const m = b.length;
  const max = Math.min(n + m, maxD);
  const off = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  let found = -1;
  for (let d = 0; d <= max && found < 0; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x =
        k === -d || (k !== d && v[off + k - 1]! < v[off + k + 1]!)
          ? v[off + k + 1]!
          : v[off + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[off + k] = x;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
  }
  if (found < 0) return null;
  // Backtrack through the saved V arrays.
  const ops: Op[] = [];
  let x = n;
  let y = m;
  for (let d = found; d > 0; d--) {
    const vp = trace[d]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && vp[off + k - 1]! < vp[off + k + 1]!) ? k + 1 : k - 1;
    const prevX = vp[off + prevK]!;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      ops.push(" ");
      x--;
      y--;
    }
    if (x === prevX) {
      ops.push("+");
      y--;
    } else {
      ops.push("-");
      x--;
    }
  }
  while (x > 0 && y > 0) {
    ops.push(" ");
    x--;
    y--;
  }
  return ops.reverse();
}

function splitLines(s: string): string[] {
  const lines = s.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/**
 * A unified diff (`---`/`+++` headers, `@@ -a,n +b,m @@` hunks) of two
 * texts, cut after `maxLines` lines; "" when they are equal.
 */
export function unifiedDiff(
  aText: string,
  bText: string,
  aName: string,
  bName: string,
  limits: Partial<DiffLimits> = {},
): string {
  if (aText === bText) return "";
  const lim = { ...DEFAULT_LIMITS, ...limits };
  const a = splitLines(aText);
  const b = splitLines(bText);
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (
    suf < a.length - pre &&
    suf < b.length - pre &&
    a[a.length - 1 - suf] === b[b.length - 1 - suf]
  )
    suf++;
  const am = a.slice(pre, a.length - suf);
  const bm = b.slice(pre, b.length - suf);
  const mid = myers(am, bm, lim.maxEdits) ?? [...am.map((): Op => "-"), ...bm.map((): Op => "+")];
  // The whole script with a and b line numbers.
  const script: Array<{ op: Op; ai: number; bi: number }> = [];
  let ai = 0;
  let bi = 0;
  const push = (op: Op) => {
    script.push({ op, ai, bi });
    if (op !== "+") ai++;
    if (op !== "-") bi++;
  };
  for (let i = 0; i < pre; i++) push(" ");
  for (const op of mid) push(op);
  for (let i = 0; i < suf; i++) push(" ");

  const out: string[] = [`--- ${aName}`, `+++ ${bName}`];
  let shown = 0;
  let changes = 0;
  for (const s of script) if (s.op !== " ") changes++;
  let shownChanges = 0;
  let i = 0;
  while (i < script.length) {
    if (script[i]!.op === " ") {
      i++;
      continue;
    }
    // A hunk: from `context` lines before this change to `context` after the
    // last change that is within 2*context lines of the previous one.
    const start = Math.max(0, i - lim.context);
    let end = i;
    let j = i;
    while (j < script.length) {
      if (script[j]!.op !== " ") {
        end = j;
        j++;
        continue;
      }
      let k = j;
      while (k < script.length && script[k]!.op === " ") k++;
      if (k < script.length && k - j <= 2 * lim.context) {
        j = k;
        continue;
      }
      break;
    }
    const stop = Math.min(script.length, end + 1 + lim.context);
    const hunk = script.slice(start, stop);
    const aStart = hunk[0]!.ai;
    const bStart = hunk[0]!.bi;
    const aLen = hunk.filter((h) => h.op !== "+").length;
    const bLen = hunk.filter((h) => h.op !== "-").length;
    out.push(`@@ -${aStart + 1},${aLen} +${bStart + 1},${bLen} @@`);
    for (const h of hunk) {
      if (shown >= lim.maxLines) break;
      const text = h.op === "+" ? b[h.bi]! : a[h.ai]!;
      out.push(`${h.op}${text}`);
      shown++;
      if (h.op !== " ") shownChanges++;
    }
    if (shown >= lim.maxLines) break;
    i = stop;
  }
  if (shownChanges < changes)
    out.push(`... (${changes - shownChanges} more changed lines not shown)`);
  return `${out.join("\n")}\n`;
}

/**
 * Compares the outputs of each generation with the first one's; returns
 * the diff text and the names of the differing sections per generation.
 */
export function diffOutputs(
  outputs: ReadonlyArray<[string, Outputs]>,
  limits: Partial<DiffLimits> = {},
): { text: string; differing: Array<[string, string[]]> } {
  const [baseName, base] = outputs[0]!;
  let text = "";
  const differing: Array<[string, string[]]> = [];
  for (const [name, o] of outputs.slice(1)) {
    const keys = [...base.keys()];
    for (const k of o.keys()) if (!base.has(k)) keys.push(k);
    const bad: string[] = [];
    for (const k of keys) {
      const a = base.get(k);
      const b = o.get(k);
      if (a === b) continue;
      bad.push(k);
      const aLabel = a === undefined ? "/dev/null" : `${baseName}/${k}`;
      const bLabel = b === undefined ? "/dev/null" : `${name}/${k}`;
      text += unifiedDiff(a ?? "", b ?? "", aLabel, bLabel, limits);
    }
    if (bad.length > 0) differing.push([name, bad]);
  }
  return { text, differing };
}
