import { getArch } from "../arch/index.js";
import type { KernelConfig } from "../mm/config.js";
import { Machine } from "../mm/machine.js";
import { verifyMachine } from "../mm/verify.js";
import type { OpCtx, UffdEvent } from "../ops/context.js";
import { createProcess } from "../ops/fork.js";
import { DROPPED, hex, type ObservationDocument } from "../proc/observation-types.js";
import { KernelError, ScenarioError } from "./errors.js";
import { Regions } from "./regions.js";
import { executeStep } from "./steps.js";
import type { Scenario, Step } from "./types.js";

/** Which walker generation the /proc users run on. */
export type WalkerGeneration = "mainline" | "unified" | "pt_range";
export const WALKER_GENERATIONS: readonly WalkerGeneration[] = ["mainline", "unified", "pt_range"];

export interface RunOptions {
  walker?: WalkerGeneration;
  /** Run the invariant verifier after every step (CONFIG_DEBUG_VM). */
  verify?: boolean;
  /** The scenario's file, for error messages. */
  file?: string;
  /** How none hugetlb entries are write-protected (default: markers, as 6.18). */
  hugetlbUffdWp?: "markers" | "marker-free";
  /** Called after every step (tests use it to look at intermediate state). */
  afterStep?: (step: Step, machine: Machine) => void;
}

/** What a run leaves: the machine in its final state and the observation document. */
export interface RunResult {
  machine: Machine;
  doc: ObservationDocument;
  regions: Regions;
}

/** The kernel configuration a scenario's setup describes. */
export function configFromSetup(
  sc: Scenario,
  hugetlbUffdWp: KernelConfig["hugetlbUffdWp"] = "markers",
): KernelConfig {
  const s = sc.setup;
  const arch = getArch(sc.arch);
  const ps = arch.geometry.pageSize;
  const model = s.nodes > 1 || s.softDirty || s.deviceMem > 0 || usesModelOnlySteps(sc);
  return {
    thp: s.thp,
    thpOrders: s.thpSizes.map((b) => Math.log2(b / ps)).sort((a, b) => b - a),
    softDirty: s.softDirty,
    swap: s.swap,
    memoryFailure: model,
    devicePrivate: model,
    nodes: s.nodes,
    nodeMem: s.nodes > 1 ? s.nodeMem : s.memory,
    deviceMem: s.deviceMem,
    hugetlbPages: s.hugetlbPages,
    faultAroundPages: Math.max(1, 65536 / ps),
    hugetlbUffdWp,
  };
}

const MODEL_ONLY_OPS = new Set([
  "mbind",
  "set_mempolicy",
  "migrate",
  "hwpoison",
  "device_private",
  "device_exclusive",
  "split_thp",
  "khugepaged",
]);

function usesModelOnlySteps(sc: Scenario): boolean {
  return sc.steps.some((s) => MODEL_ONLY_OPS.has(s.op));
}

/** State shared by the steps of one run. */
export interface RunState {
  readonly machine: Machine;
  readonly regions: Regions;
  readonly doc: ObservationDocument;
  readonly uffdEvents: UffdEvent[];
  readonly walker: WalkerGeneration;
  readonly scenario: Scenario;
}

/** The context an op of `step` runs in. */
export function opCtx(st: RunState, step: Step, procName = step.proc): OpCtx {
  const mm = st.machine.procs.get(procName);
  if (!mm || mm.exited) {
    throw new ScenarioError(`process "${procName}" does not exist or has exited`, {
      step: step.index,
      op: step.op,
      field: "proc",
      value: procName,
    });
  }
  return { m: st.machine, mm, step: step.index, uffdEvents: st.uffdEvents };
}

/**
 * Run a parsed scenario on a fresh machine: every step in order, the
 * kernel's errors checked against `expect_error`, observations recorded.
 * Throws ScenarioError for a step the kernel refuses unexpectedly.
 */
export function runScenario(sc: Scenario, opts: RunOptions = {}): RunResult {
  let machine: Machine;
  try {
    machine = new Machine(getArch(sc.arch), configFromSetup(sc, opts.hugetlbUffdWp));
  } catch (e) {
    // Boot-time allocations (zero pages, hugetlb pools) that do not fit.
    const msg = e instanceof Error ? e.message : String(e);
    throw new ScenarioError(
      `the machine cannot boot: ${msg} (hugetlb_pages too large for memory?)`,
      {
        file: opts.file,
        section: "setup",
        field: "hugetlb_pages",
        value: sc.setup.hugetlbPages,
      },
    );
  }
  createProcess(machine, "p0");
  const doc: ObservationDocument = {
    format: "pagewalk-observations/1",
    scenario: sc.name,
    source: `pagewalk model ${sc.arch}`,
    dropped: DROPPED,
    observations: [],
    scans: [],
    errors: [],
    uffd_events: [],
  };
  const st: RunState = {
    machine,
    regions: new Regions(),
    doc,
    uffdEvents: [],
    walker: opts.walker ?? "mainline",
    scenario: sc,
  };
  const where = (step: Step) => ({ file: opts.file, step: step.index, op: step.op });
  for (const step of sc.steps) {
    let errno: string | null = null;
    try {
      executeStep(st, step);
    } catch (e) {
      if (e instanceof KernelError) errno = e.errno;
      else if (e instanceof ScenarioError && e.file === undefined && opts.file !== undefined) {
        throw new ScenarioError(e.detail, { ...where(step), field: e.field, value: e.value });
      } else throw e;
    }
    if (errno !== null) {
      if (step.expectError !== errno) {
        const exp = step.expectError ? `expected ${step.expectError}, ` : "";
        throw new ScenarioError(`${exp}the kernel refused the step with ${errno}`, where(step));
      }
      if (step.op === "pagemap_scan") doc.scans.push({ step: step.index, proc: step.proc, errno });
      doc.errors.push({ step: step.index, proc: step.proc, op: step.op, errno });
    } else if (step.expectError !== undefined) {
      throw new ScenarioError(`expected ${step.expectError}, but the step succeeded`, where(step));
    }
    if (opts.verify) {
      const problems = verifyMachine(machine);
      if (problems.length > 0) {
        throw new Error(
          `verifier after step ${step.index} (${step.op}): ${problems.slice(0, 5).join("; ")}`,
        );
      }
    }
    opts.afterStep?.(step, machine);
  }
  doc.uffd_events = st.uffdEvents.map((e) => ({
    step: e.step,
    proc: e.proc,
    event: "pagefault" as const,
    addr: hex(e.addr),
    flags: e.flags,
  }));
  return { machine, doc, regions: st.regions };
}
