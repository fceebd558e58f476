/**
 * pagewalk: an executable, bit-faithful model of the Linux kernel's page
 * tables and of the APIs that walk them.
 *
 * @example
 * ```ts
 * import { loadScenarioFile, runScenario } from "pagewalk";
 * const { doc, machine } = runScenario(loadScenarioFile("examples/thp-demo.json"), { verify: true });
 * console.log(doc.observations[0]);
 * ```
 */
export { ARCH_NAMES as ARCH_CODEC_NAMES, getArch } from "./arch/index.js";
export type { ArchCodec, Geometry, HugetlbSize, LevelGeometry } from "./arch/types.js";
export { Level, PteFlag, SwpFlag } from "./arch/types.js";
// The /proc users, as text the kernel would print (src/proc, src/cli/text).
export { renderNumaMaps, renderPagemap, renderSmaps, renderSmapsRollup } from "./cli/text.js";
export type { KernelConfig, SwapTypes } from "./mm/config.js";
export { PteMarker, swapTypes } from "./mm/config.js";
export { getInitMm } from "./mm/init-mm.js";
export { Machine } from "./mm/machine.js";
export { MmStruct } from "./mm/mm.js";
export { PG } from "./mm/pageflags.js";
export { PageTable, PageTables } from "./mm/pgtable.js";
export { PhysMem } from "./mm/phys.js";
export { verifyMachine } from "./mm/verify.js";
export { VM, Vma } from "./mm/vma.js";
export { clearRefsWrite } from "./proc/clear-refs.js";
export type { Generation } from "./proc/common.js";
export type * from "./proc/observation-types.js";
export { pagemapScan } from "./proc/pagemap-scan.js";
export { ptdumpKernel, ptdumpProcess } from "./proc/ptdump.js";
export { KernelError, ScenarioError } from "./scenario/errors.js";
export { loadScenarioFile, parseScenario } from "./scenario/parse.js";
export {
  configFromSetup,
  type RunOptions,
  type RunResult,
  runScenario,
  WALKER_GENERATIONS,
  type WalkerGeneration,
} from "./scenario/run.js";
export type { Scenario, Setup, Step } from "./scenario/types.js";
// The page-walk APIs (src/walk): the callback walker, the kernel walkers,
// folio_walk, softleaf, the batching helpers and pt_range_walk.
export * from "./walk/batch.js";
export * from "./walk/folio-walk.js";
export {
  walkKernelPageTableRange,
  walkKernelPageTableRangeLockless,
  walkPageRangeDebug,
} from "./walk/kernel-walk.js";
export {
  EINVAL,
  walkPageMapping,
  walkPageRange,
  walkPageRangeMm,
  walkPageRangeVma,
  walkPageVma,
} from "./walk/pagewalk.js";
export * from "./walk/pt-range.js";
export * from "./walk/softleaf.js";
export type { MmWalk, MmWalkOps, WalkFlavour } from "./walk/types.js";
export { PageWalkLock, WalkAction } from "./walk/types.js";
