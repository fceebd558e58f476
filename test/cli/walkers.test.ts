import { fileURLToPath } from "node:url";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { type CliIO, diffScenario, runCli } from "../../src/cli/commands.js";
import { collectOutputs } from "../../src/cli/diff.js";
import {
  renderNumaMaps,
  renderPagemap,
  renderSmaps,
  renderSmapsRollup,
} from "../../src/cli/text.js";
import { loadScenarioFile } from "../../src/scenario/parse.js";
import { runScenario, WALKER_GENERATIONS } from "../../src/scenario/run.js";

/*
 * The CLI views run on the walker generation they are given: pt_range_walk
 * for --walker pt_range, never for mainline or unified (every walk of the
 * iterator starts with ptRangeWalkStart, counted here), and all three print
 * the same bytes.
 */

const calls = vi.hoisted(() => ({ n: 0 }));
vi.mock("../../src/walk/pt-range.js", async (importOriginal) => {
  const orig = await importOriginal<typeof import("../../src/walk/pt-range.js")>();
  return {
    ...orig,
    ptRangeWalkStart: (...a: Parameters<typeof orig.ptRangeWalkStart>) => {
      calls.n++;
      return orig.ptRangeWalkStart(...a);
    },
  };
});

const dir = fileURLToPath(new URL("./scenarios/", import.meta.url));
/** No observe step and no clear_refs: nothing but the view walks with pt_range_walk. */
const VIEWS = `${dir}views.json`;
const CLEAR_REFS = fileURLToPath(
  new URL(
    "../../../shared/fixtures/kernel-6.18/scenarios/clear-refs-1-2-3-5.json",
    import.meta.url,
  ),
);

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: CliIO = { out: (t) => (out += t), err: (t) => (err += t) };
  const code = await runCli(argv, io);
  return { code, out, err };
}

beforeEach(() => {
  calls.n = 0;
});

describe("CLI views on each walker generation", () => {
  for (const view of ["smaps", "smaps_rollup", "numa_maps", "pagemap"]) {
    it(`${view} --walker pt_range walks with pt_range_walk, mainline and unified do not, same text`, async () => {
      const texts: string[] = [];
      for (const w of WALKER_GENERATIONS) {
        calls.n = 0;
        const r = await cli(view, VIEWS, "--proc", "p1", "--walker", w);
        expect(r.code, r.err).toBe(0);
        if (w === "pt_range") expect(calls.n).toBeGreaterThan(0);
        else expect(calls.n).toBe(0);
        texts.push(r.out);
      }
      expect(texts[0]!.length).toBeGreaterThan(0);
      expect(texts[1]).toBe(texts[0]);
      expect(texts[2]).toBe(texts[0]);
    });
  }

  it("page-types --proc reads pagemap on the walker given", async () => {
    const outs: string[] = [];
    for (const w of WALKER_GENERATIONS) {
      calls.n = 0;
      const r = await cli("page-types", VIEWS, "--proc", "p0", "-L", "--walker", w);
      expect(r.code, r.err).toBe(0);
      expect(calls.n > 0).toBe(w === "pt_range");
      outs.push(r.out);
    }
    expect(outs[1]).toBe(outs[0]);
    expect(outs[2]).toBe(outs[0]);
  });

  it("smaps on pt_range shows the real values of the THP, the hugetlb page and the swapped page", async () => {
    const r = await cli("smaps", VIEWS, "--proc", "p0", "--walker", "pt_range");
    const field = (start: string, name: string) => {
      const rec = r.out.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/).find((s) => s.startsWith(start))!;
      const line = rec.split("\n").find((l) => l.startsWith(`${name}:`))!;
      return Number(
        line
          .slice(name.length + 1)
          .trim()
          .split(" ")[0],
      );
    };
    expect(field("100000200000-", "AnonHugePages")).toBe(2048);
    // Private, but shared with the child since the fork.
    expect(field("100040000000-", "Shared_Hugetlb")).toBe(2048);
    expect(field("100000000000-", "Swap")).toBe(4);
    // 16K written, one page of it swapped out; the zero pages are not counted.
    expect(field("100000000000-", "Rss")).toBe(12);
  });
});

describe("renderers and diff take the generation", () => {
  it("renderers called with pt_range walk with pt_range_walk and match mainline", () => {
    const { machine: m } = runScenario(loadScenarioFile(VIEWS), { walker: "mainline" });
    const mm = m.procs.get("p0")!;
    const render = (g: (typeof WALKER_GENERATIONS)[number]) => [
      renderSmaps(m, mm, g),
      renderSmapsRollup(m, mm, g),
      renderNumaMaps(m, mm, g),
      renderPagemap(m, mm, 0x100000000000, 0x100000400000, g),
    ];
    calls.n = 0;
    const main = render("mainline");
    expect(calls.n).toBe(0);
    const pt = render("pt_range");
    expect(calls.n).toBeGreaterThan(0);
    expect(pt).toEqual(main);
  });

  it("collectOutputs gathers each generation's outputs on that generation", () => {
    const sc = loadScenarioFile(VIEWS);
    const { machine, doc } = runScenario(sc, { walker: "pt_range" });
    calls.n = 0;
    const out = collectOutputs(machine, doc, "pt_range");
    expect(calls.n).toBeGreaterThan(0);
    calls.n = 0;
    expect(collectOutputs(machine, doc, "unified")).toEqual(out);
    expect(calls.n).toBe(0);
  });

  it.each([VIEWS, CLEAR_REFS])("diff reports %s identical on every generation", (file) => {
    let out = "";
    const code = diffScenario(file, { out: (t) => (out += t), err: () => {} }, { verify: true });
    expect(out).toBe("identical on mainline, unified, pt_range\n");
    expect(code).toBe(0);
  });
});
