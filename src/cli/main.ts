#!/usr/bin/env node
/**
 * The `pagewalk` command's entry point: binds {@link runCli} to stdout,
 * stderr and the process exit code. The commands themselves live in
 * commands.ts, callable in-process.
 */
import { runCli } from "./commands.js";

// A reader that goes away early (`| head`) ends the output, not with a stack trace.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw e;
});

const code = await runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
process.exitCode = code;
