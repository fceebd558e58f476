import type { OpCtx } from "./context.js";

/** mlock() / mlock2(MLOCK_ONFAULT). */
export function doMlock(ctx: OpCtx, start: number, end: number, onfault: boolean): void {
  void ctx;
  void start;
  void end;
  void onfault;
}

/** munlock(). */
export function doMunlock(ctx: OpCtx, start: number, end: number): void {
  void ctx;
  void start;
  void end;
}
