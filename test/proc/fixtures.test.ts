import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { loadScenarioFile } from "../../src/scenario/parse.js";
import { runScenario, WALKER_GENERATIONS, type WalkerGeneration } from "../../src/scenario/run.js";

/*
 * The conformance test: every real-kernel fixture (shared/fixtures/kernel-6.18)
 * gives exactly its golden observations on each walker generation, with the
 * verifier on after every step. The summary line states the counts.
 */
const FIX = fileURLToPath(new URL("../../../shared/fixtures/kernel-6.18", import.meta.url));
const KEYS = ["observations", "scans", "errors", "uffd_events"] as const;

const names = existsSync(FIX)
  ? readdirSync(join(FIX, "scenarios"))
      .filter((f) => f.endsWith(".json"))
      .map((f) => f.slice(0, -5))
      .sort()
  : [];

const equal: Record<WalkerGeneration, number> = { mainline: 0, unified: 0, pt_range: 0 };

function pick(doc: object): Record<string, unknown> {
  const d = doc as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of KEYS) out[k] = d[k];
  return out;
}

describe.skipIf(names.length === 0)("real-kernel fixtures on every walker generation", () => {
  afterAll(() => {
    const counts = WALKER_GENERATIONS.map((w) => `${equal[w]}/${names.length}`);
    console.log(
      counts.every((c) => c === counts[0])
        ? `${counts[0]} equal on ${WALKER_GENERATIONS.join(", ")}`
        : WALKER_GENERATIONS.map((w, i) => `${counts[i]} equal on ${w}`).join(", "),
    );
  });

  it("finds the 52 fixtures of the reference capture", () => {
    expect(names.length).toBeGreaterThanOrEqual(52);
  });

  for (const walker of WALKER_GENERATIONS) {
    it.each(names)(`%s matches its golden on ${walker}`, (name) => {
      const sc = loadScenarioFile(join(FIX, "scenarios", `${name}.json`));
      const golden = pick(JSON.parse(readFileSync(join(FIX, "golden", `${name}.json`), "utf8")));
      const doc = pick(runScenario(sc, { walker, verify: true }).doc);
      expect(doc).toEqual(golden);
      equal[walker]++;
    });
  }
});
