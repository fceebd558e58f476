/**
 * Benchmark of the /proc users (spec/performance.md): builds each layout
 * (bench/layouts.ts, examples/bench-*.json) once, then times only the
 * rendering jobs on every walker generation:
 *
 *   smaps (whole process, text), smaps_rollup, numa_maps (text), pagemap read
 *   of the range, PAGEMAP_SCAN (category_mask present, return_mask all),
 *   mincore of the range, kpageflags over the mapped PFNs (one generation:
 *   it reads no page table), page-types --proc.
 *
 * Reports ms (median of N after a warmup), pages/s, pt_range/mainline, and
 * model/kernel ratios (kernel time / model time; ≥ 1: the model is at least
 * as fast) against ../shared/tools/kernel-anchor run once in the same run.
 *
 * Run: npm run bench [-- --json] [--only JOB:LAYOUT[,JOB:LAYOUT...]]
 *      [--layouts L1s,L2s] [--jobs smaps,pagemap] [--gens mainline,pt_range]
 *      [--no-anchor] [--budget MS] [--check]
 * (`--only smaps:L1s` is the shortcut for profiling: `node --cpu-prof
 * --import tsx bench/users.ts --only smaps:L1s --gens pt_range`.)
 * `--check` compares every job's output across generations (slow; not timed).
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { renderNumaMaps, renderSmaps, renderSmapsRollup } from "../src/cli/text.js";
import type { Machine } from "../src/mm/machine.js";
import type { MmStruct } from "../src/mm/mm.js";
import { type KpageFlags, kpageflagsOf } from "../src/proc/kpageflags.js";
import { doMincore } from "../src/proc/mincore.js";
import { pageTypes } from "../src/proc/page-types.js";
import { PM, pagemapRead } from "../src/proc/pagemap.js";
import {
  PAGE_IS,
  PM_SCAN_ARG_SIZE,
  PM_SCAN_CATEGORIES,
  pagemapScan,
} from "../src/proc/pagemap-scan.js";
import { loadScenarioFile, parseScenario } from "../src/scenario/parse.js";
import { runScenario, type WalkerGeneration } from "../src/scenario/run.js";
import type { WalkFlavour } from "../src/walk/types.js";
import { LAYOUTS, type Layout } from "./layouts.js";
import { repoRoot } from "./root.js";

type Gen = WalkerGeneration;
const GENS: readonly Gen[] = ["mainline", "unified", "pt_range"];
const JOBS = [
  "smaps",
  "smaps_rollup",
  "numa_maps",
  "pagemap",
  "pagemap_scan",
  "mincore",
  "kpageflags",
  "page_types",
] as const;
type Job = (typeof JOBS)[number];
/** Jobs that read no page table: timed once, reported under every generation. */
const GEN_FREE: ReadonlySet<Job> = new Set(["kpageflags"]);
/** kernel-anchor field of a job. */
const ANCHOR_FIELD: Partial<Record<Job, "smaps_ms" | "pagemap_ms" | "scan_ms">> = {
  smaps: "smaps_ms",
  pagemap: "pagemap_ms",
  pagemap_scan: "scan_ms",
};

// ---------------------------------------------------------------- options ---
const args = process.argv.slice(2);
const flag = (f: string) => args.includes(f);
const opt = (f: string): string | undefined => {
  const i = args.indexOf(f);
  return i >= 0 ? args[i + 1] : undefined;
};
const asJson = flag("--json");
const check = flag("--check");
const budgetMs = Number(opt("--budget") ?? 250);
const only = opt("--only")
  ?.split(",")
  .map((s) => s.split(":") as [string, string]);
const layoutSel = opt("--layouts")?.split(",") ?? only?.map((o) => o[1]);
const jobSel = opt("--jobs")?.split(",") ?? only?.map((o) => o[0]);
const genSel = (opt("--gens")?.split(",") as Gen[] | undefined) ?? GENS;
const wantAnchor = !flag("--no-anchor") && !only;
const progress = process.stderr.isTTY && !process.env.CI;
const say = (s: string) => {
  if (progress) process.stderr.write(`${s}\n`);
};
const gc = (globalThis as { gc?: () => void }).gc;

// ---------------------------------------------------------------- timing ---
/** Median wall time of `fn` in ms: one warmup, then runs until `budgetMs` (3..50 runs; 1 when the warmup alone exceeds it). */
function time(fn: () => unknown): { ms: number; runs: number } {
  const w0 = performance.now();
  fn();
  const warm = performance.now() - w0;
  // A job slower than the budget is timed once more (the warmup is not counted).
  const minRuns = warm > budgetMs ? 1 : 3;
  const t: number[] = [];
  const t0 = performance.now();
  while (t.length < minRuns || (t.length < 50 && performance.now() - t0 < budgetMs)) {
    const a = performance.now();
    fn();
    t.push(performance.now() - a);
  }
  t.sort((x, y) => x - y);
  return { ms: t[t.length >> 1]!, runs: t.length };
}

// ------------------------------------------------------------------ jobs ---
interface Ctx {
  m: Machine;
  mm: MmStruct;
  l: Layout;
  /** Mapped PFNs of the range (for kpageflags), from one pagemap read. */
  pfns: Float64Array;
}

function runJob(c: Ctx, job: Job, gen: Gen): unknown {
  const { m, mm, l } = c;
  // The text renderers pass their flavour argument on to the users, which
  // take the generation itself ("pt_range" included).
  const fl = gen as WalkFlavour;
  switch (job) {
    case "smaps":
      return renderSmaps(m, mm, fl);
    case "smaps_rollup":
      return renderSmapsRollup(m, mm, fl);
    case "numa_maps":
      return renderNumaMaps(m, mm, fl);
    case "pagemap": {
      const r = pagemapRead(m, mm, l.start, l.start + l.len, gen);
      return r;
    }
    case "pagemap_scan":
      return pagemapScan(
        m,
        mm,
        {
          size: PM_SCAN_ARG_SIZE,
          flags: 0,
          start: l.start,
          end: l.start + l.len,
          vec: 0x10000,
          vecLen: 1 << 20,
          maxPages: 0,
          categoryInverted: 0,
          categoryMask: PAGE_IS.PRESENT,
          categoryAnyofMask: 0,
          returnMask: PM_SCAN_CATEGORIES,
        },
        { walker: gen },
      );
    case "mincore":
      return doMincore(m, mm, l.start, l.start + l.len, gen);
    case "kpageflags": {
      const out: KpageFlags = { lo: 0, hi: 0 };
      let acc = 0;
      const pfns = c.pfns;
      for (let i = 0; i < pfns.length; i++) {
        kpageflagsOf(m, pfns[i]!, out);
        acc = (acc + out.lo + out.hi) | 0;
      }
      return acc;
    }
    case "page_types":
      return pageTypes(m, { proc: { mm, flavour: fl, showPfn: true } });
  }
}

/** Pages a job covers, for pages/s. */
function pagesOf(c: Ctx, job: Job): number {
  if (job === "kpageflags") return c.pfns.length;
  return c.l.len / 4096;
}

function mappedPfns(m: Machine, mm: MmStruct, l: Layout): Float64Array {
  const r = pagemapRead(m, mm, l.start, l.start + l.len, "mainline");
  let n = 0;
  for (let i = 0; i < r.flags.length; i++)
    if (r.frame[i]! > 0 && (r.flags[i]! & PM.PRESENT) !== 0) n++;
  const out = new Float64Array(n);
  n = 0;
  for (let i = 0; i < r.flags.length; i++)
    if (r.frame[i]! > 0 && (r.flags[i]! & PM.PRESENT) !== 0) out[n++] = r.frame[i]!;
  return out;
}

/** A comparable digest of a job's result (for --check). */
function digest(v: unknown): string {
  if (typeof v === "string" || typeof v === "number") return String(v);
  if (v instanceof Uint8Array)
    return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
  if (v && typeof v === "object" && "flags" in v && "frame" in v) {
    const r = v as { flags: Uint8Array; frame: Float64Array };
    return digest(r.flags) + Buffer.from(r.frame.buffer).toString("base64");
  }
  return JSON.stringify(v);
}

// ----------------------------------------------------------------- anchor ---
type AnchorLayout = { pages: number; smaps_ms: number; pagemap_ms: number; scan_ms: number };
interface AnchorResult {
  ok: boolean;
  message?: string;
  kernel?: string;
  layouts?: Record<string, AnchorLayout>;
  notes?: string[];
}

function runAnchor(): AnchorResult {
  const tool = join(repoRoot(), "../shared/tools/kernel-anchor");
  if (!existsSync(tool)) return { ok: false, message: `kernel-anchor not found at ${tool}` };
  try {
    execFileSync("sh", ["-c", "command -v gcc"], { stdio: "ignore" });
  } catch {
    return { ok: false, message: "gcc not found: kernel-anchor cannot build; no kernel ratios" };
  }
  try {
    const out = execFileSync(tool, {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000,
    });
    const j = JSON.parse(out) as AnchorResult;
    return { ...j, ok: true };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return { ok: false, message: `kernel-anchor failed: ${(err.stderr || err.message).trim()}` };
  }
}

// ------------------------------------------------------------------- main ---
interface Row {
  layout: string;
  job: Job;
  gen: Gen;
  ms: number;
  runs: number;
  pages: number;
  pagesPerSec: number;
  /** mainline ms / this ms (pt_range/mainline speed ratio), on pt_range and unified rows. */
  vsMainline?: number;
  kernelMs?: number;
  /** kernel ms / model ms (≥ 1: model at least as fast). */
  kernelRatio?: number;
}

const t0 = performance.now();
if (wantAnchor) say("kernel-anchor …");
const anchor: AnchorResult = wantAnchor
  ? runAnchor()
  : { ok: false, message: "not run (--no-anchor or --only)" };
const rows: Row[] = [];
const builds: Record<string, { buildMs: number; vmas: number }> = {};
const mismatches: string[] = [];

for (const l of LAYOUTS) {
  if (layoutSel && !layoutSel.includes(l.id)) continue;
  const file = join(repoRoot(), `examples/bench-${l.id}.json`);
  const sc = existsSync(file) ? loadScenarioFile(file) : parseScenario(l.scenario);
  say(`${l.id}: building …`);
  gc?.();
  const b0 = performance.now();
  let built: { machine: Machine } | null = runScenario(sc);
  const m = built.machine;
  built = null;
  const buildMs = performance.now() - b0;
  const mm = m.procs.get(l.proc) as MmStruct | undefined;
  if (!mm) throw new Error(`${l.id}: no process ${l.proc}`);
  builds[l.id] = { buildMs: Math.round(buildMs), vmas: mm.vmas.length };
  const c: Ctx = { m, mm, l, pfns: mappedPfns(m, mm, l) };
  for (const job of JOBS) {
    if (jobSel && !jobSel.includes(job)) continue;
    const ref: Record<string, string> = {};
    let mainMs: number | undefined;
    const gens = GEN_FREE.has(job) ? (["mainline"] as Gen[]) : genSel;
    for (const gen of gens) {
      say(`${l.id}: ${job} (${gen}) …`);
      if (check) ref[gen] = digest(runJob(c, job, gen));
      const t = time(() => runJob(c, job, gen));
      const pages = pagesOf(c, job);
      const row: Row = {
        layout: l.id,
        job,
        gen: GEN_FREE.has(job) ? ("-" as Gen) : gen,
        ms: t.ms,
        runs: t.runs,
        pages,
        pagesPerSec: pages / (t.ms / 1000),
      };
      if (gen === "mainline") mainMs = t.ms;
      else if (mainMs !== undefined) row.vsMainline = mainMs / t.ms;
      const af = ANCHOR_FIELD[job];
      const al = l.anchor && anchor.ok ? anchor.layouts?.[l.anchor] : undefined;
      if (af && al) {
        row.kernelMs = al[af];
        row.kernelRatio = al[af] / t.ms;
      }
      rows.push(row);
    }
    if (check) {
      const vals = Object.entries(ref);
      for (const [g, v] of vals)
        if (v !== vals[0]![1]) mismatches.push(`${l.id} ${job}: ${g} differs from ${vals[0]![0]}`);
    }
  }
  gc?.();
}

const totalS = (performance.now() - t0) / 1000;

if (asJson) {
  console.log(
    JSON.stringify({
      anchor,
      builds,
      rows: rows.map((r) => ({
        ...r,
        ms: Number(r.ms.toFixed(4)),
        pagesPerSec: Math.round(r.pagesPerSec),
        vsMainline: r.vsMainline === undefined ? undefined : Number(r.vsMainline.toFixed(2)),
        kernelRatio: r.kernelRatio === undefined ? undefined : Number(r.kernelRatio.toFixed(2)),
      })),
      mismatches: check ? mismatches : undefined,
      totalSeconds: Number(totalS.toFixed(1)),
    }),
  );
} else {
  if (anchor.ok) {
    console.log(`kernel-anchor: kernel ${anchor.kernel}; ${(anchor.notes ?? []).join("; ")}`);
    for (const [k, v] of Object.entries(anchor.layouts ?? {}))
      console.log(
        `  ${k}: smaps ${v.smaps_ms} ms, pagemap ${v.pagemap_ms} ms, scan ${v.scan_ms} ms`,
      );
  } else console.log(`kernel-anchor: ${anchor.message}`);
  for (const [id, b] of Object.entries(builds)) {
    const l = LAYOUTS.find((x) => x.id === id)!;
    console.log(`${id}: ${l.what} — build ${b.buildMs} ms, ${b.vmas} VMAs`);
  }
  const fmt = (n: number | undefined, d = 2) => (n === undefined ? "" : n.toFixed(d));
  const hdr = [
    "layout",
    "job",
    "gen",
    "ms",
    "Mpages/s",
    "vs mainline",
    "kernel ms",
    "kernel/model",
  ];
  const body = rows.map((r) => [
    r.layout,
    r.job,
    r.gen,
    r.ms < 1 ? r.ms.toFixed(4) : r.ms.toFixed(2),
    (r.pagesPerSec / 1e6).toFixed(1),
    fmt(r.vsMainline),
    r.kernelMs === undefined ? "" : String(r.kernelMs),
    fmt(r.kernelRatio),
  ]);
  const w = hdr.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 3 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ");
  console.log(line(hdr));
  for (const b of body) console.log(line(b));
  if (check)
    console.log(
      mismatches.length
        ? `MISMATCHES:\n  ${mismatches.join("\n  ")}`
        : "check: every generation gives the same output",
    );
  console.log(`total ${totalS.toFixed(1)} s`);
}
