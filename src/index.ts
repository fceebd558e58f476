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
export type { KernelConfig, SwapTypes } from "./mm/config.js";
export { PteMarker, swapTypes } from "./mm/config.js";
export { Machine } from "./mm/machine.js";
export { MmStruct } from "./mm/mm.js";
export { PG } from "./mm/pageflags.js";
export { PageTable, PageTables } from "./mm/pgtable.js";
export { PhysMem } from "./mm/phys.js";
export { verifyMachine } from "./mm/verify.js";
export { VM, Vma } from "./mm/vma.js";
export type * from "./proc/observation-types.js";
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
export type { MmWalk, MmWalkOps, WalkFlavour } from "./walk/types.js";
export { PageWalkLock, WalkAction } from "./walk/types.js";
