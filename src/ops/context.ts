import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";

/** One userfaultfd fault message, as the monitor records it. */
export interface UffdEvent {
  step: number;
  proc: string;
  addr: number;
  flags: string[];
}

/** What every operation runs with: the machine, the calling process, the step. */
export interface OpCtx {
  readonly m: Machine;
  readonly mm: MmStruct;
  readonly step: number;
  readonly uffdEvents: UffdEvent[];
}
