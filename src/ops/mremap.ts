import type { Regions } from "../scenario/regions.js";
import type { MremapStep } from "../scenario/types.js";
import type { OpCtx } from "./context.js";

/** mremap(). */
export function doMremap(
  ctx: OpCtx,
  regions: Regions,
  step: MremapStep,
  start: number,
  end: number,
): void {
  void ctx;
  void regions;
  void step;
  void start;
  void end;
}
