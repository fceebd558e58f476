import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { formatObservationText } from "../../src/cli/text.js";
import { loadScenarioFile } from "../../src/scenario/parse.js";
import { runScenario } from "../../src/scenario/run.js";

const DEMO = fileURLToPath(new URL("../../examples/thp-demo.json", import.meta.url));

describe("the readable summary of `pagewalk run` (the demo of `npm start`)", () => {
  const text = formatObservationText(runScenario(loadScenarioFile(DEMO)).doc);
  const sections = text.split("\n== ");

  it("shows one PMD mapping the THP before the split", () => {
    expect(sections[1]).toContain("AnonHugePages 2048 kB (PMD-mapped)");
    expect(sections[1]).toContain("pagemap     0x100000000000 x512 present,exclusive pfn#0");
    expect(sections[1]).toContain("COMPOUND_HEAD,THP");
  });

  it("shows 512 PTEs of the same, still whole, folio after the mprotect split", () => {
    expect(sections[2]).not.toContain("AnonHugePages");
    expect(sections[2]).toContain("0x100000100000-0x100000200000 r--p");
    expect(sections[2]).toContain("kpageflags  0x100000100000 x256 pfn#256 count 1 UPTODATE,DIRTY");
    expect(sections[2]).toContain("COMPOUND_TAIL,THP");
  });

  it("shows the child's two copied pages as new frames after fork", () => {
    expect(sections[3]).toContain("-- p1");
    expect(sections[3]).toContain("pagemap     0x100000002000 x254 present pfn#2");
  });
});
