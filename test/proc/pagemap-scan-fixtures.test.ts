import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadScenarioFile } from "../../src/scenario/parse.js";
import { runScenario, WALKER_GENERATIONS } from "../../src/scenario/run.js";

const KEYS = ["observations", "scans", "errors", "uffd_events"] as const;
const ORACLE = fileURLToPath(new URL("../fixtures/oracle", import.meta.url));

/** The probes captured on the reference kernel for PAGEMAP_SCAN (test/fixtures/oracle/README.md). */
const oracleNames = readdirSync(ORACLE)
  .filter((f) => f.endsWith(".json") && !f.endsWith(".golden.json"))
  .map((f) => f.slice(0, -5))
  .sort();

function check(scenario: string, golden: string, walker: (typeof WALKER_GENERATIONS)[number]) {
  const want = JSON.parse(readFileSync(golden, "utf8"));
  const { doc } = runScenario(loadScenarioFile(scenario), { walker, verify: true });
  for (const k of KEYS) expect(doc[k], k).toEqual(want[k]);
}

describe("PAGEMAP_SCAN probes captured on the reference kernel (test/fixtures/oracle)", () => {
  it("has probes to check", () => {
    expect(oracleNames.length).toBeGreaterThanOrEqual(4);
  });
  for (const walker of WALKER_GENERATIONS) {
    it.each(oracleNames)(`the model reproduces %s on ${walker}`, (name) => {
      check(join(ORACLE, `${name}.json`), join(ORACLE, `${name}.golden.json`), walker);
    });
  }
});
