import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadScenarioFile } from "../../src/scenario/parse.js";
import { runScenario, WALKER_GENERATIONS } from "../../src/scenario/run.js";

/*
 * The two designs for write-protecting none hugetlb entries (PTE markers as
 * 6.18 does, or marker-free records) must be indistinguishable from outside:
 * every scenario that touches hugetlb gives the same document either way.
 */
const DIRS = [
  fileURLToPath(new URL("../../../shared/fixtures/kernel-6.18/scenarios/", import.meta.url)),
  fileURLToPath(new URL("../fixtures/oracle/", import.meta.url)),
  fileURLToPath(new URL("../fixtures/oracle-ops/", import.meta.url)),
];
const files = DIRS.filter((d) => existsSync(d)).flatMap((d) =>
  readdirSync(d)
    .filter((f) => f.endsWith(".json") && !f.endsWith(".golden.json"))
    .map((f) => d + f),
);
const hugetlbFiles = files.filter((f) => /hugetlb/.test(JSON.stringify(loadScenarioFile(f).steps)));

describe("marker-free hugetlb write-protection", () => {
  it("has hugetlb scenarios with userfaultfd to compare", () => {
    expect(hugetlbFiles.length).toBeGreaterThanOrEqual(5);
  });
  for (const walker of WALKER_GENERATIONS) {
    it.each(hugetlbFiles.map((f) => [f.split("/").pop()!, f]))(
      `gives the same observations as PTE markers for %s on ${walker}`,
      (_name, file) => {
        const sc = loadScenarioFile(file);
        const markers = runScenario(sc, { walker, verify: true }).doc;
        const free = runScenario(sc, { walker, verify: true, hugetlbUffdWp: "marker-free" }).doc;
        expect(free).toEqual(markers);
      },
    );
  }
});
