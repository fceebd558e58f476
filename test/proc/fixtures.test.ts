import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { loadScenarioFile } from "../../src/scenario/parse.js";
import { runScenario } from "../../src/scenario/run.js";

const FIX = fileURLToPath(new URL("../../../shared/fixtures/kernel-6.18", import.meta.url));
const KEYS = ["observations", "scans", "errors", "uffd_events"] as const;

/**
 * Fixtures known to differ from their golden, each with the reason. Keep
 * this the only exception list; every entry is a bug to fix elsewhere.
 */
const KNOWN_FAILING: ReadonlyArray<{ name: string; reason: string }> = [];

const names = existsSync(FIX)
  ? readdirSync(join(FIX, "scenarios"))
      .filter((f) => f.endsWith(".json"))
      .map((f) => f.slice(0, -5))
      .filter(
        (n) =>
          !readFileSync(join(FIX, "scenarios", `${n}.json`), "utf8").includes('"pagemap_scan"'),
      )
      .sort()
  : [];

const equal: Record<string, number> = { mainline: 0, unified: 0 };

function pick(doc: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of KEYS) out[k] = doc[k];
  return out;
}

describe.skipIf(names.length === 0)("kernel 6.18 fixtures (scenarios without pagemap_scan)", () => {
  afterAll(() => {
    console.log(
      `${equal.mainline}/${names.length} equal on mainline, ${equal.unified}/${names.length} equal on unified`,
    );
  });

  it.each(names)("%s: mainline and unified match the golden and each other", (name) => {
    const sc = loadScenarioFile(join(FIX, "scenarios", `${name}.json`));
    const golden = pick(JSON.parse(readFileSync(join(FIX, "golden", `${name}.json`), "utf8")));
    const docs = (["mainline", "unified"] as const).map((walker) => {
      const doc = pick(runScenario(sc, { walker, verify: true }).doc as never);
      if (JSON.stringify(doc) === JSON.stringify(golden) || deepEq(doc, golden)) equal[walker]!++;
      return doc;
    });
    expect(docs[1]).toEqual(docs[0]);
    if (!KNOWN_FAILING.some((k) => k.name === name)) expect(docs[0]).toEqual(golden);
  });
});

function deepEq(a: unknown, b: unknown): boolean {
  try {
    expect(a).toEqual(b);
    return true;
  } catch {
    return false;
  }
}
