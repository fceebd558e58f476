#!/usr/bin/env node
import { parseArgs } from "node:util";
import { KernelError, ScenarioError } from "../scenario/errors.js";
import { loadScenarioFile } from "../scenario/parse.js";
import { runScenario, WALKER_GENERATIONS, type WalkerGeneration } from "../scenario/run.js";
import { formatObservationText } from "./text.js";

const USAGE = `usage: pagewalk <command> [options]

commands:
  run <scenario.json> [--json] [--walker W] [--verify]
      run a scenario on the model and print its observations
      (--json: the observation document of shared/spec/observation.md;
       --walker: mainline | unified | pt_range, default mainline;
       --verify: check the invariants after every step)

exit codes: 0 success, 1 a verifier or internal failure, 2 bad input
`;

const RUN_HELP = `usage: pagewalk run <scenario.json> [--json] [--walker mainline|unified|pt_range] [--verify]
`;

function fail(msg: string, code: number): never {
  process.stderr.write(`pagewalk: ${msg}\n`);
  process.exit(code);
}

function cmdRun(argv: string[]): void {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      walker: { type: "string", default: "mainline" },
      verify: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(RUN_HELP);
    return;
  }
  if (positionals.length !== 1) fail(`run needs exactly one scenario file\n${RUN_HELP}`, 2);
  const walker = values.walker as WalkerGeneration;
  if (!WALKER_GENERATIONS.includes(walker)) {
    fail(
      `--walker: unknown walker "${values.walker}" (expected one of ${WALKER_GENERATIONS.join(", ")})`,
      2,
    );
  }
  const file = positionals[0]!;
  const sc = loadScenarioFile(file);
  const { doc } = runScenario(sc, { walker, verify: values.verify, file });
  if (values.json) process.stdout.write(`${JSON.stringify(doc, null, 1)}\n`);
  else process.stdout.write(formatObservationText(doc));
}

function main(argv: string[]): void {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case "run":
        cmdRun(rest);
        return;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(USAGE);
        return;
      default:
        fail(`unknown command "${cmd}"\n${USAGE}`, 2);
    }
  } catch (e) {
    if (e instanceof ScenarioError) fail(e.message, 2);
    if (e instanceof KernelError) fail(e.message, 2);
    if (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS"))
      fail(e.message, 2);
    if (e instanceof Error) fail(`internal error: ${e.message}`, 1);
    throw e;
  }
}

main(process.argv.slice(2));
