import type { MadviseAdvice } from "../scenario/types.js";
import type { OpCtx } from "./context.js";

/** madvise(). */
export function doMadvise(ctx: OpCtx, start: number, end: number, advice: MadviseAdvice): void {
  void ctx;
  void start;
  void end;
  void advice;
}
