import { opCtx, type RunState } from "../scenario/run.js";
import type { PagemapScanStep } from "../scenario/types.js";
import { hex, type ScanRegion } from "./observation-types.js";
import { categoryNames, PM_SCAN_ARG_SIZE, type PmScanArg, pagemapScan } from "./pagemap-scan.js";

/**
 * Where the model's caller keeps its page_region vector: any valid user
 * buffer will do (the oracle passes a real one of `vec_len` slots), so only
 * a vector too large for user space is refused.
 */
export const SCAN_VEC_ADDR = 0x10000;

/**
 * The struct pm_scan_arg a `pagemap_scan` step passes for [start, end)
 * (scenario.md, `pagemap_scan`): `raw` overrides applied, `vec_len`
 * defaulting to one slot per page of the range before them.
 */
export function scanArgOfStep(
  step: PagemapScanStep,
  start: number,
  end: number,
  pageSize: number,
): PmScanArg {
  const raw = step.raw ?? {};
  const s = start + (raw.startOffset ?? 0);
  const e = raw.end ?? end + (raw.endOffset ?? 0);
  return {
    size: raw.size ?? PM_SCAN_ARG_SIZE,
    flags: step.flags,
    start: s < 0 ? BigInt(s) : s,
    end: e < 0 ? BigInt(e) : e,
    vec: raw.vec === 0 ? 0 : SCAN_VEC_ADDR,
    vecLen: step.vecLen ?? Math.floor((end - start) / pageSize),
    maxPages: step.maxPages,
    categoryInverted: step.categoryInverted,
    categoryMask: step.categoryMask,
    categoryAnyofMask: step.categoryAnyofMask,
    returnMask: step.returnMask,
  };
}

/**
 * The `pagemap_scan` step: the PAGEMAP_SCAN ioctl on the process's own
 * pagemap, on the run's walker generation; its result goes to
 * `doc.scans`. A refusal throws KernelError (the runner records it).
 */
export function pagemapScanStep(
  st: RunState,
  step: PagemapScanStep,
  start: number,
  end: number,
): void {
  const ctx = opCtx(st, step);
  const m = st.machine;
  const arg = scanArgOfStep(step, start, end, m.arch.geometry.pageSize);
  const r = pagemapScan(m, ctx.mm, arg, { walker: st.walker, step: step.index });
  const ps = m.arch.geometry.pageSize;
  const regions: ScanRegion[] = r.regions.map((g) => ({
    start: hex(g.start),
    end: hex(g.end),
    pages: (g.end - g.start) / ps,
    categories: categoryNames(g.categories),
  }));
  st.doc.scans.push({
    step: step.index,
    proc: step.proc,
    ret: r.ret,
    walk_end: hex(r.walkEnd),
    regions,
  });
}
