/**
 * The `pagewalk` subcommands, callable in-process: {@link runCli} takes the
 * arguments and an output sink and returns the exit code (0 ok, 1 a
 * difference, a verifier or an internal failure, 2 bad input). Nothing here
 * touches `process`; `main.ts` binds it to stdout, stderr and the exit code.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import {
  type AddrRange,
  type BitFilter,
  bitNamesHelp,
  describeFlags,
  PageTypesError,
  pageTypes,
  parseAddrRange,
  parseBitsSpec,
} from "../proc/page-types.js";
import { KernelError, ScenarioError } from "../scenario/errors.js";
import { loadScenarioFile } from "../scenario/parse.js";
import { runScenario, WALKER_GENERATIONS, type WalkerGeneration } from "../scenario/run.js";
import { collectOutputs, diffOutputs, type Outputs, renderPagemapAll } from "./diff.js";
import { ptdumpCommand } from "./ptdump-cmd.js";
import { formatObservationText, renderNumaMaps, renderSmaps, renderSmapsRollup } from "./text.js";

/** Where a command writes. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

/** Bad input: a one-line message, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export const USAGE = `usage: pagewalk <command> [options]

commands:
  run <scenario.json> [--json] [--walker W] [--verify]
      run a scenario on the model and print its observations
      (--json: the observation document of shared/spec/observation.md;
       --walker: mainline | unified | pt_range, default mainline;
       --verify: check the invariants after every step)
  smaps|smaps_rollup|numa_maps|pagemap <scenario.json> --proc P [--at LABEL] [--walker W]
      print the /proc file of process P as the kernel prints it, at the end
      of the scenario or at its observe step labelled LABEL
      (pagemap: one "<vaddr> 0x<entry>" line per page; --no-pfn hides PFNs)
  diff <scenario.json> [--verify]
      run the scenario on every walker generation and compare every output
  page-types <scenario.json> [--proc P] [-r] [-b BITS]... [-a ADDR]... [-l|-L] [-M] [-N]
      tools/mm/page-types on the model: the whole machine's PFNs, or P's pages
  ptdump [--arch A] | ptdump <scenario.json> --proc P [--at-end] [--kernel-half]
      the kernel's page-table dump (dump_pagetables.c format): the kernel
      page tables, or process P's (see pagewalk ptdump --help)

Every command takes --help.

exit codes: 0 success; 1 a difference (diff), a verifier failure or an
internal error; 2 bad input (bad arguments, unknown walker, process or label,
a scenario that cannot be read or that the model refuses)
`;

const RUN_HELP = `usage: pagewalk run <scenario.json> [--json] [--walker mainline|unified|pt_range] [--verify]
`;

const VIEW_HELP = (
  cmd: string,
) => `usage: pagewalk ${cmd} <scenario.json> --proc P [--at LABEL] [--walker W] [--verify]${cmd === "pagemap" ? " [--no-pfn]" : ""}

Runs the scenario and prints /proc/P/${cmd} exactly as the kernel would:
at the end of the scenario, or with --at at the moment of the (first)
observe step with that label (an observe step without a label is "step N").
  --proc P      the scenario process (p0, p1, ...)
  --at LABEL    stop at the observe step labelled LABEL
  --walker W    mainline | unified | pt_range (default mainline)
  --verify      check the invariants after every step
${
  cmd === "pagemap"
    ? `  --no-pfn      read as without CAP_SYS_ADMIN: PFN and swap fields read 0

One line per page of every VMA, in address order: "<vaddr hex> 0x<64-bit entry>".
`
    : ""
}exit codes: 0 ok, 1 verifier or internal failure, 2 bad input
`;

const DIFF_HELP = `usage: pagewalk diff <scenario.json> [--verify]

Runs the scenario on every walker generation (${WALKER_GENERATIONS.join(", ")}) and
compares everything they produce: the observation document's observations,
scans, errors and uffd_events, and the smaps, smaps_rollup, numa_maps and
pagemap text of every live process at the end. Prints
"identical on ${WALKER_GENERATIONS.join(", ")}" when all agree; otherwise a unified diff of
the first differences against mainline.

exit codes: 0 identical, 1 different (or a run failed on some generation), 2 bad input
`;

const PAGE_TYPES_HELP = `usage: pagewalk page-types <scenario.json> [options]

tools/mm/page-types (Linux 6.18) on the model's state at the end of the
scenario (or at --at LABEL). Without --proc: every PFN of kpageflags.
            --proc|-p    P              Walk process P's address space (maps, pagemap)
            --at         LABEL          Stop at the observe step labelled LABEL
            --walker     W              mainline | unified | pt_range (pagemap reads)
            --no-pfn                    Read pagemap without CAP_SYS_ADMIN (present pages skipped)
            -r|--raw                   Raw mode, for kernel developers
            -d|--describe flags        Describe flags (no scenario needed)
            -a|--addr    addr-spec     Walk a range of pages
            -b|--bits    bits-spec     Walk pages with specified bits
            -l|--list                  Show page details in ranges
            -L|--list-each             Show page details one by one
            -M|--list-mapcnt           Show page map count
            -N|--no-summary            Don't show summary info
            -h|--help                  Show this usage message
Not modelled: -c/--cgroup, -C/--list-cgroup, -f/--file, -i/--mark-idle,
-X/--hwpoison, -x/--unpoison, -F/--kpageflags.
flags:
            0x10                       bitfield format, e.g.
            anon                       bit-name, e.g.
            0x10,anon                  comma-separated list, e.g.
addr-spec:
            N                          one page at offset N (unit: pages)
            N+M                        pages range from N to N+M-1
            N,M                        pages range from N to M-1
            N,                         pages range from N to end
            ,M                         pages range from 0 to M-1
bits-spec:
            bit1,bit2                  (flags & (bit1|bit2)) != 0
            bit1,bit2=bit1             (flags & (bit1|bit2)) == bit1
            bit1,~bit2                 (flags & (bit1|bit2)) == bit1
            =bit1,bit2                 flags == (bit1|bit2)
bit-names:
${bitNamesHelp()}
exit codes: 0 ok, 1 verifier or internal failure, 2 bad input
`;

/** Parses options strictly; node's parse errors become UsageErrors. */
function parse<T extends ParseArgsConfig["options"]>(
  argv: string[],
  options: T,
): ReturnType<
  typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; tokens: true }>
> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, tokens: true });
  } catch (e) {
    if (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS"))
      throw new UsageError(e.message);
    throw e;
  }
}

function walkerOf(value: string | undefined): WalkerGeneration {
  const w = (value ?? "mainline") as WalkerGeneration;
  if (!WALKER_GENERATIONS.includes(w)) {
    throw new UsageError(
      `--walker: unknown walker "${value}" (expected one of ${WALKER_GENERATIONS.join(", ")})`,
    );
  }
  return w;
}

function oneScenario(cmd: string, positionals: string[]): string {
  if (positionals.length !== 1) {
    throw new UsageError(
      `${cmd} needs exactly one scenario file, got ${positionals.length} (see pagewalk ${cmd} --help)`,
    );
  }
  return positionals[0]!;
}

/** Thrown from an afterStep hook to end a run once the wanted step is done. */
const STOP = Symbol("stop");

/**
 * Runs `file` on `walker` and calls `view` on the machine at the end, or
 * right after the first observe step labelled `at`.
 */
function runAndView<T>(
  file: string,
  o: { walker: WalkerGeneration; verify: boolean; at: string | undefined },
  view: (m: Machine, where: string) => T,
): T {
  const sc = loadScenarioFile(file);
  const at = o.at;
  if (at === undefined) {
    const { machine } = runScenario(sc, { walker: o.walker, verify: o.verify, file });
    return view(machine, "at the end of the scenario");
  }
  const labels = sc.steps.flatMap((s) => (s.op === "observe" ? [s.label] : []));
  if (!labels.includes(at)) {
    const known =
      labels.length > 0
        ? `its observe labels are ${labels.map((l) => JSON.stringify(l)).join(", ")}`
        : "it has no observe step";
    throw new UsageError(
      `--at: ${file} has no observe step labelled ${JSON.stringify(at)}; ${known}`,
    );
  }
  let result: { v: T } | undefined;
  try {
    runScenario(sc, {
      walker: o.walker,
      verify: o.verify,
      file,
      afterStep: (step, machine) => {
        if (step.op === "observe" && step.label === at) {
          result = { v: view(machine, `at step ${step.index} (${JSON.stringify(at)})`) };
          throw STOP;
        }
      },
    });
  } catch (e) {
    if (e !== STOP) throw e;
  }
  return result!.v;
}

/** The live process named `name`, or a UsageError naming the ones there are. */
function procOf(m: Machine, name: string, where: string): MmStruct {
  const mm = m.procs.get(name);
  if (mm === undefined) {
    const live = [...m.procs.entries()].filter(([, p]) => !p.exited).map(([n]) => n);
    throw new UsageError(
      `--proc: no process "${name}" ${where} (processes: ${live.sort().join(", ") || "none"})`,
    );
  }
  if (mm.exited) throw new UsageError(`--proc: process "${name}" has exited ${where}`);
  return mm;
}

function cmdRun(argv: string[], io: CliIO): number {
  const { values, positionals } = parse(argv, {
    json: { type: "boolean", default: false },
    walker: { type: "string", default: "mainline" },
    verify: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) {
    io.out(RUN_HELP);
    return 0;
  }
  const file = oneScenario("run", positionals);
  const walker = walkerOf(values.walker);
  const sc = loadScenarioFile(file);
  const { doc } = runScenario(sc, { walker, verify: values.verify, file });
  if (values.json) io.out(`${JSON.stringify(doc, null, 1)}\n`);
  else io.out(formatObservationText(doc));
  return 0;
}

/** The /proc files a view command prints. */
export const VIEWS = ["smaps", "smaps_rollup", "numa_maps", "pagemap"] as const;
export type View = (typeof VIEWS)[number];

function cmdView(view: View, argv: string[], io: CliIO): number {
  const { values, positionals } = parse(argv, {
    proc: { type: "string", short: "p" },
    at: { type: "string" },
    walker: { type: "string", default: "mainline" },
    verify: { type: "boolean", default: false },
    "no-pfn": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) {
    io.out(VIEW_HELP(view));
    return 0;
  }
  const file = oneScenario(view, positionals);
  const walker = walkerOf(values.walker);
  if (values.proc === undefined) throw new UsageError(`${view} needs --proc P (e.g. --proc p0)`);
  if (values["no-pfn"] && view !== "pagemap")
    throw new UsageError("--no-pfn applies to pagemap only");
  const proc = values.proc;
  // The view runs on the walker generation the scenario ran on (pt_range included).
  const text = runAndView(file, { walker, verify: values.verify, at: values.at }, (m, where) => {
    const mm = procOf(m, proc, where);
    switch (view) {
      case "smaps":
        return renderSmaps(m, mm, walker);
      case "smaps_rollup":
        return renderSmapsRollup(m, mm, walker);
      case "numa_maps":
        return renderNumaMaps(m, mm, walker);
      case "pagemap":
        return renderPagemapAll(m, mm, walker, !values["no-pfn"]);
    }
  });
  io.out(text);
  return 0;
}

/** What one generation's run gave: its outputs, or the error that stopped it. */
type Outcome = { outputs: Outputs } | { error: unknown };

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/**
 * diff - run `file` on every walker generation and compare their outputs.
 * `collect` (tests) replaces what is gathered from each finished run.
 */
export function diffScenario(
  file: string,
  io: CliIO,
  opts: {
    verify?: boolean;
    collect?: (
      m: Machine,
      doc: Parameters<typeof collectOutputs>[1],
      w: WalkerGeneration,
    ) => Outputs;
  } = {},
): number {
  const sc = loadScenarioFile(file);
  const collect = opts.collect ?? collectOutputs;
  const outcomes: Array<[WalkerGeneration, Outcome]> = WALKER_GENERATIONS.map((w) => {
    try {
      const { machine, doc } = runScenario(sc, { walker: w, verify: opts.verify ?? false, file });
      return [w, { outputs: collect(machine, doc, w) }];
    } catch (e) {
      return [w, { error: e }];
    }
  });
  const errors = outcomes.flatMap(([, o]) => ("error" in o ? [errorText(o.error)] : []));
  if (errors.length === outcomes.length && errors.every((t) => t === errors[0])) {
    // Every generation failed the same way: the scenario (or the model) is at fault, not a walker.
    throw (outcomes[0]![1] as { error: unknown }).error;
  }
  const named: Array<[string, Outputs]> = outcomes.map(([w, o]) => [
    w,
    "outputs" in o ? o.outputs : new Map([["error", `${errorText(o.error)}\n`]]),
  ]);
  const { text, differing } = diffOutputs(named);
  if (differing.length === 0) {
    io.out(`identical on ${WALKER_GENERATIONS.join(", ")}\n`);
    return 0;
  }
  io.out(text);
  for (const [w, keys] of differing) io.out(`${w} differs from mainline in ${keys.join(", ")}\n`);
  return 1;
}

function cmdDiff(argv: string[], io: CliIO): number {
  const { values, positionals } = parse(argv, {
    verify: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) {
    io.out(DIFF_HELP);
    return 0;
  }
  return diffScenario(oneScenario("diff", positionals), io, { verify: values.verify });
}

const NOT_MODELLED: Record<string, string> = {
  cgroup: "-c/--cgroup (no memory cgroups in the model)",
  "list-cgroup": "-C/--list-cgroup (no memory cgroups in the model)",
  file: "-f/--file (no page-cache walk of host files)",
  "mark-idle": "-i/--mark-idle (no idle page tracking)",
  hwpoison: "-X/--hwpoison (use the scenario's hwpoison step)",
  unpoison: "-x/--unpoison",
  kpageflags: "-F/--kpageflags (no saved kpageflags files)",
};

function cmdPageTypes(argv: string[], io: CliIO): number {
  const { values, positionals, tokens } = parse(argv, {
    proc: { type: "string", short: "p" },
    at: { type: "string" },
    walker: { type: "string", default: "mainline" },
    verify: { type: "boolean", default: false },
    "no-pfn": { type: "boolean", default: false },
    raw: { type: "boolean", short: "r" },
    describe: { type: "string", short: "d", multiple: true },
    addr: { type: "string", short: "a", multiple: true },
    bits: { type: "string", short: "b", multiple: true },
    list: { type: "boolean", short: "l" },
    "list-each": { type: "boolean", short: "L" },
    "list-mapcnt": { type: "boolean", short: "M" },
    "no-summary": { type: "boolean", short: "N" },
    cgroup: { type: "string", short: "c" },
    "list-cgroup": { type: "boolean", short: "C" },
    file: { type: "string", short: "f" },
    "mark-idle": { type: "boolean", short: "i" },
    hwpoison: { type: "boolean", short: "X" },
    unpoison: { type: "boolean", short: "x" },
    kpageflags: { type: "string", short: "F" },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) {
    io.out(PAGE_TYPES_HELP);
    return 0;
  }
  // Options take effect in command-line order, as with getopt: -d prints and
  // ends, a later -l/-L overrides an earlier one, bad specs stop at once.
  let list: 0 | 1 | 2 = 0;
  const bits: BitFilter[] = [];
  const addr: AddrRange[] = [];
  for (const t of tokens) {
    if (t.kind !== "option") continue;
    const bad = NOT_MODELLED[t.name];
    if (bad !== undefined) throw new UsageError(`page-types: ${bad} is not modelled`);
    if (t.name === "describe") {
      io.out(describeFlags(t.value ?? ""));
      return 0;
    }
    if (t.name === "list") list = 1;
    else if (t.name === "list-each") list = 2;
    else if (t.name === "bits") {
      if (bits.length >= 64) throw new UsageError("page-types: too much bit filters");
      bits.push(parseBitsSpec(t.value ?? ""));
    } else if (t.name === "addr") {
      if (addr.length >= 1024) throw new UsageError("page-types: too many addr ranges");
      addr.push(parseAddrRange(t.value ?? ""));
    }
  }
  const file = oneScenario("page-types", positionals);
  const walker = walkerOf(values.walker);
  if (values["no-pfn"] && values.proc === undefined)
    throw new UsageError("--no-pfn applies with --proc only");
  const proc = values.proc;
  const text = runAndView(file, { walker, verify: values.verify, at: values.at }, (m, where) =>
    pageTypes(m, {
      raw: values.raw ?? false,
      list,
      listMapcnt: values["list-mapcnt"] ?? false,
      noSummary: values["no-summary"] ?? false,
      bits,
      addr,
      proc:
        proc === undefined
          ? undefined
          : { mm: procOf(m, proc, where), flavour: walker, showPfn: !values["no-pfn"] },
    }),
  );
  io.out(text);
  return 0;
}

/**
 * ptdump is ./ptdump-cmd.ts's `ptdumpCommand(argv)`: it writes to
 * process.stdout itself and ends the process with exit code 2 on bad input.
 */
function cmdPtdump(argv: string[]): number {
  ptdumpCommand(argv);
  return 0;
}

/** One line for an error: bad input → 2, everything else → 1. */
function report(e: unknown, io: CliIO): number {
  if (e instanceof UsageError || e instanceof ScenarioError || e instanceof KernelError) {
    io.err(`pagewalk: ${e.message}\n`);
    return 2;
  }
  if (e instanceof PageTypesError) {
    io.err(`pagewalk: page-types: ${e.message}\n`);
    return 2;
  }
  if (e instanceof Error) {
    const msg = e.message.split("\n")[0];
    if (msg?.startsWith("verifier ")) io.err(`pagewalk: ${msg}\n`);
    else io.err(`pagewalk: internal error: ${msg}\n`);
    return 1;
  }
  io.err(`pagewalk: internal error: ${String(e)}\n`);
  return 1;
}

/**
 * runCli - the `pagewalk` command: dispatches `argv` (without the program
 * name) to its subcommand, writing through `io`.
 *
 * Return: the exit code (0 ok, 1 difference/verifier/internal failure, 2 bad input).
 */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case "run":
        return cmdRun(rest, io);
      case "smaps":
      case "smaps_rollup":
      case "numa_maps":
      case "pagemap":
        return cmdView(cmd, rest, io);
      case "diff":
        return cmdDiff(rest, io);
      case "page-types":
        return cmdPageTypes(rest, io);
      case "ptdump":
        return cmdPtdump(rest);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        io.out(USAGE);
        return 0;
      default:
        throw new UsageError(`unknown command "${cmd}" (see pagewalk --help)`);
    }
  } catch (e) {
    return report(e, io);
  }
}
