/**
 * `pagewalk ptdump`: the x86 page-table dump of the simulated kernel
 * (/sys/kernel/debug/page_tables/kernel) or of a scenario's process
 * (the User Space section of current_kernel).
 */
import { parseArgs } from "node:util";
import { ARCH_NAMES } from "../arch/index.js";
import type { Machine } from "../mm/machine.js";
import { ptdumpKernel, ptdumpProcess } from "../proc/ptdump.js";
import { KernelError, ScenarioError } from "../scenario/errors.js";
import { loadScenarioFile, parseScenario } from "../scenario/parse.js";
import { runScenario } from "../scenario/run.js";
import type { Step } from "../scenario/types.js";

export const PTDUMP_HELP = `usage: pagewalk ptdump [--arch x86_64|x86_64-la57]
       pagewalk ptdump <scenario.json> --proc P [--at-end] [--kernel-half]

Print an x86 page-table dump in the kernel's format (arch/x86/mm/dump_pagetables.c).

Without a scenario: the kernel page tables (init_mm) of a freshly booted
machine with the default setup, as /sys/kernel/debug/page_tables/kernel
shows them: direct map, vmalloc area, kernel image, fixmap.
  --arch A        paging mode: x86_64 (4-level, default) or x86_64-la57 (5-level)

With a scenario: run it, then print process P's page tables as the
"User Space" section of /sys/kernel/debug/page_tables/current_kernel.
  --proc P        the process (required)
  --at-end        dump after the last step; by default the dump is taken
                  after the last "observe" step that observes P (after the
                  last step when there is none)
  --kernel-half   print the whole current_kernel file, kernel half included

exit codes: 0 success, 1 internal failure, 2 bad input
`;

class UsageError extends Error {}

function bad(msg: string): never {
  throw new UsageError(msg);
}

function defaultMachine(arch: string): Machine {
  const sc = parseScenario({
    format: "pagewalk-scenario/1",
    name: "ptdump",
    arch,
    steps: [],
  });
  return runScenario(sc).machine;
}

/** Whether `step` is an observe step that records `proc` (live processes by default). */
function observes(step: Step, proc: string, machine: Machine): boolean {
  if (step.op !== "observe") return false;
  if (step.procs !== undefined) return step.procs.includes(proc);
  const mm = machine.procs.get(proc);
  return mm !== undefined && !mm.exited;
}

function dumpScenario(file: string, proc: string, atEnd: boolean, kernelHalf: boolean): string {
  const sc = loadScenarioFile(file);
  let atObserve: string | null = null;
  const dumpOf = (machine: Machine): string => {
    const mm = machine.procs.get(proc);
    if (mm === undefined) bad(`--proc: ${file} has no process "${proc}"`);
    if (mm.exited) bad(`--proc: process "${proc}" has exited at the end of ${file}`);
    if (!machine.arch.geometry.name.startsWith("x86_64")) {
      bad(
        `ptdump: the x86 dump format needs an x86_64 scenario, not ${machine.arch.geometry.name}`,
      );
    }
    return ptdumpProcess(machine, mm, { kernelHalf });
  };
  const { machine } = runScenario(sc, {
    file,
    afterStep: atEnd
      ? undefined
      : (step, m) => {
          if (observes(step, proc, m)) atObserve = dumpOf(m);
        },
  });
  return atObserve ?? dumpOf(machine);
}

/**
 * ptdumpCommand - `pagewalk ptdump [...]`: write the dump to stdout.
 * @argv: the arguments after "ptdump".
 *
 * Bad input (unknown option, unknown arch, missing --proc, an unknown or
 * exited process, a scenario the model refuses) is reported on stderr as
 * `pagewalk: <message>` and ends the process with exit code 2. Internal
 * errors are thrown.
 */
export function ptdumpCommand(argv: string[]): void {
  try {
    let parsed: ReturnType<typeof parse>;
    try {
      parsed = parse(argv);
    } catch (e) {
      if (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS")) {
        bad(`ptdump: ${e.message}\n${PTDUMP_HELP}`);
      }
      throw e;
    }
    const { values, positionals } = parsed;
    if (values.help) {
      process.stdout.write(PTDUMP_HELP);
      return;
    }
    if (positionals.length > 1) bad(`ptdump takes at most one scenario file\n${PTDUMP_HELP}`);
    if (positionals.length === 0) {
      if (values.proc !== undefined || values["at-end"] || values["kernel-half"]) {
        bad("ptdump: --proc, --at-end and --kernel-half need a scenario file");
      }
      const arch = values.arch ?? "x86_64";
      if (!ARCH_NAMES.includes(arch) || !arch.startsWith("x86_64")) {
        bad(`--arch: unknown architecture "${arch}" (expected one of x86_64, x86_64-la57)`);
      }
      process.stdout.write(ptdumpKernel(defaultMachine(arch)));
      return;
    }
    if (values.arch !== undefined) {
      bad("ptdump: --arch applies to the kernel dump; a scenario names its own arch");
    }
    if (values.proc === undefined) bad(`ptdump: a scenario dump needs --proc P\n${PTDUMP_HELP}`);
    process.stdout.write(
      dumpScenario(
        positionals[0]!,
        values.proc,
        values["at-end"] === true,
        values["kernel-half"] === true,
      ),
    );
  } catch (e) {
    if (e instanceof UsageError || e instanceof ScenarioError || e instanceof KernelError) {
      process.stderr.write(`pagewalk: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      arch: { type: "string" },
      proc: { type: "string" },
      "at-end": { type: "boolean", default: false },
      "kernel-half": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
}
