import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadScenarioFile } from "../../src/scenario/parse.js";
import { runScenario, WALKER_GENERATIONS } from "../../src/scenario/run.js";

const DIR = fileURLToPath(new URL("../fixtures/oracle-ops/", import.meta.url));
const KEYS = ["observations", "scans", "errors", "uffd_events"] as const;
const names = readdirSync(DIR)
  .filter((f) => f.endsWith(".json") && !f.endsWith(".golden.json"))
  .map((f) => f.slice(0, -5))
  .sort();

describe("real-kernel probes of the ops layer (test/fixtures/oracle-ops)", () => {
  it("has probes to check", () => {
    expect(names.length).toBeGreaterThanOrEqual(10);
  });
  for (const walker of WALKER_GENERATIONS) {
    it.each(names)(`reproduces %s on ${walker}`, (name) => {
      const golden = JSON.parse(readFileSync(`${DIR}${name}.golden.json`, "utf8"));
      const { doc } = runScenario(loadScenarioFile(`${DIR}${name}.json`), { walker, verify: true });
      for (const k of KEYS) expect(doc[k], `${name}: ${k}`).toEqual(golden[k]);
    });
  }
});
