import { parseScenario } from "../../src/scenario/parse.js";
import { type RunResult, runScenario, type WalkerGeneration } from "../../src/scenario/run.js";

/** Base address of test regions (scenario.md's usual address). */
export const A = 0x100000000000;

/** Run an inline x86_64 scenario (THP madvise, swap on) with the verifier on. */
export function runSteps(
  steps: unknown[],
  opts: { walker?: WalkerGeneration; setup?: Record<string, unknown> } = {},
): RunResult {
  const sc = parseScenario({
    format: "pagewalk-scenario/1",
    name: "test",
    arch: "x86_64",
    setup: { thp: "madvise", swap: true, ...opts.setup },
    steps,
  });
  return runScenario(sc, { verify: true, walker: opts.walker });
}
