import type { RunState } from "../scenario/run.js";
import type { ObserveStep } from "../scenario/types.js";

/** Record an `observe` step's observation in the run's document. */
export function observe(st: RunState, step: ObserveStep): void {
  st.doc.observations.push({ step: step.index, label: step.label, procs: {} });
}
