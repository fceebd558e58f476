import { ScenarioError } from "../scenario/errors.js";
import type { RunState } from "../scenario/run.js";
import type { PagemapScanStep } from "../scenario/types.js";

/** The `pagemap_scan` step: the PAGEMAP_SCAN ioctl on the process's own pagemap. */
export function pagemapScanStep(
  st: RunState,
  step: PagemapScanStep,
  start: number,
  end: number,
): void {
  void st;
  void start;
  void end;
  throw new ScenarioError("pagemap_scan is not implemented yet", { step: step.index, op: step.op });
}
