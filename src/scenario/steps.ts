import { touchRange } from "../ops/access.js";
import { doDeviceExclusive, doDevicePrivate, doHwpoison } from "../ops/device.js";
import { doExit, doFork } from "../ops/fork.js";
import { doSplitThp, khugepagedPass } from "../ops/khugepaged.js";
import { ksmMerge } from "../ops/ksm.js";
import { doMadvise } from "../ops/madvise.js";
import { doMbind, doMigrate } from "../ops/migrate.js";
import { doMlock, doMunlock } from "../ops/mlock.js";
import { doMmap, doMprotect, doMunmap } from "../ops/mmap.js";
import { doMremap } from "../ops/mremap.js";
import { uffdRegister, uffdWriteprotect } from "../ops/uffd.js";
import { clearRefs } from "../proc/clear-refs.js";
import { observe } from "../proc/observe.js";
import { pagemapScanStep } from "../proc/pagemap-scan-step.js";
import { ScenarioError } from "./errors.js";
import { opCtx, type RunState } from "./run.js";
import type { Step } from "./types.js";

/**
 * Carry out one step on the run's machine. Kernel refusals surface as
 * KernelError (the runner matches them with `expect_error`); scenario
 * mistakes found only at run time as ScenarioError.
 */
export function executeStep(st: RunState, step: Step): void {
  const m = st.machine;
  const range = (s: Step & { region: string; off: number; len?: number }): [number, number] => {
    if (!st.regions.get(s.region)) {
      throw new ScenarioError(`unknown region "${s.region}"`, {
        step: s.index,
        op: s.op,
        field: "region",
        value: s.region,
      });
    }
    return st.regions.range(s);
  };
  switch (step.op) {
    case "mmap": {
      const ctx = opCtx(st, step);
      doMmap(ctx, {
        addr: step.addr,
        len: step.len,
        prot: step.prot,
        shared: step.share === "shared",
        backing: step.backing,
        populate: step.populate,
      });
      st.regions.add(step.region, step.addr, step.len);
      return;
    }
    case "munmap": {
      const [s, e] = range(step);
      doMunmap(opCtx(st, step), s, e);
      return;
    }
    case "mprotect": {
      const [s, e] = range(step);
      doMprotect(opCtx(st, step), s, e, step.prot);
      return;
    }
    case "touch": {
      const [s, e] = range(step);
      touchRange(opCtx(st, step), s, e, step.access === "write", { fill: step.fill });
      return;
    }
    case "madvise": {
      const [s, e] = range(step);
      doMadvise(opCtx(st, step), s, e, step.advice);
      return;
    }
    case "mlock": {
      const [s, e] = range(step);
      doMlock(opCtx(st, step), s, e, step.onfault);
      return;
    }
    case "munlock": {
      const [s, e] = range(step);
      doMunlock(opCtx(st, step), s, e);
      return;
    }
    case "mremap": {
      const [s, e] = range(step);
      doMremap(opCtx(st, step), st.regions, step, s, e);
      return;
    }
    case "fork": {
      const ctx = opCtx(st, step);
      doFork(m, ctx.mm, step.child);
      return;
    }
    case "exit": {
      const ctx = opCtx(st, step);
      doExit(m, ctx.mm);
      return;
    }
    case "uffd_register": {
      const [s, e] = range(step);
      uffdRegister(opCtx(st, step), s, e, step.mode, step.asyncWp);
      return;
    }
    case "uffd_wp": {
      const [s, e] = range(step);
      uffdWriteprotect(opCtx(st, step), s, e, step.enable);
      return;
    }
    case "clear_refs":
      clearRefs(st.machine, opCtx(st, step).mm, step.value, st.walker);
      return;
    case "pagemap_scan": {
      const [s, e] = range(step);
      pagemapScanStep(st, step, s, e);
      return;
    }
    case "ksm_merge":
      ksmMerge(m, step.index);
      return;
    case "observe":
      observe(st, step);
      return;
    case "mbind": {
      const [s, e] = range(step);
      const move = step.flags.includes("move") || step.flags.includes("move_all");
      doMbind(opCtx(st, step), s, e, { mode: step.policy, nodes: step.nodes }, move);
      return;
    }
    case "set_mempolicy":
      opCtx(st, step).mm.policy = { mode: step.policy, nodes: step.nodes };
      return;
    case "migrate": {
      const [s, e] = range(step);
      doMigrate(opCtx(st, step), s, e, step.toNode, step.phase, step.undo);
      return;
    }
    case "hwpoison": {
      const [s, e] = range(step);
      doHwpoison(opCtx(st, step), s, e);
      return;
    }
    case "device_private": {
      const [s, e] = range(step);
      doDevicePrivate(opCtx(st, step), s, e);
      return;
    }
    case "device_exclusive": {
      const [s, e] = range(step);
      doDeviceExclusive(opCtx(st, step), s, e);
      return;
    }
    case "split_thp": {
      const [s, e] = range(step);
      doSplitThp(opCtx(st, step), s, e, step.toOrder ?? 0);
      return;
    }
    case "khugepaged": {
      const mms = step.allProcs ? [...m.procs.values()] : [opCtx(st, step).mm];
      khugepagedPass(m, mms, step.index);
      return;
    }
    default: {
      const unknown: never = step;
      throw new Error(`unhandled step ${JSON.stringify(unknown)}`);
    }
  }
}
