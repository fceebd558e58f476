import type { UffdMode } from "../scenario/types.js";
import type { OpCtx } from "./context.js";

/** UFFDIO_REGISTER. */
export function uffdRegister(
  ctx: OpCtx,
  start: number,
  end: number,
  mode: UffdMode[],
  asyncWp: boolean,
): void {
  void ctx;
  void start;
  void end;
  void mode;
  void asyncWp;
}

/** UFFDIO_WRITEPROTECT. */
export function uffdWriteprotect(ctx: OpCtx, start: number, end: number, enable: boolean): void {
  void ctx;
  void start;
  void end;
  void enable;
}
