import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { diffScenario } from "../src/cli/commands.js";

/*
 * `pagewalk diff` must be clean on every real-kernel fixture and on every
 * example shipped in the repo (model-only ones included: several NUMA nodes,
 * migration in flight, hwpoison, device entries, soft-dirty): the three walker
 * generations print the same observations and the same /proc text.
 */
const dir = (rel: string) => fileURLToPath(new URL(rel, import.meta.url));
const FIXTURES = dir("../../shared/fixtures/kernel-6.18/scenarios/");
const EXAMPLES = dir("../examples/");
const list = (d: string, skip: RegExp) =>
  existsSync(d)
    ? readdirSync(d)
        .filter((f) => f.endsWith(".json") && !f.endsWith(".golden.json") && !skip.test(f))
        .sort()
        .map((f) => [f, d + f] as const)
    : [];
// The benchmark layouts are big; bench/ measures them instead.
const files = [...list(FIXTURES, /^$/), ...list(EXAMPLES, /^(big-|bench-)/)];

describe("pagewalk diff on every fixture and example", () => {
  it("finds the fixtures and the examples", () => {
    expect(files.length).toBeGreaterThanOrEqual(55);
  });
  it.each(files)("is clean on %s", (_name, file) => {
    let out = "";
    const code = diffScenario(
      file,
      { out: (t) => (out += t), err: (t) => (out += t) },
      { verify: true },
    );
    expect(out).toBe("identical on mainline, unified, pt_range\n");
    expect(code).toBe(0);
  });
});
