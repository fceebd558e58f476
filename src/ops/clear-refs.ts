import type { OpCtx } from "./context.js";

/** Write `value` to /proc/pid/clear_refs. */
export function clearRefs(ctx: OpCtx, value: number): void {
  void ctx;
  void value;
}
