import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type CliIO, diffScenario, runCli } from "../../src/cli/commands.js";
import { diffOutputs, unifiedDiff } from "../../src/cli/diff.js";

const dir = fileURLToPath(new URL("./scenarios/", import.meta.url));
const SMALL = `${dir}small.json`;
const BAD = `${dir}bad-step.json`;
const AT = "two written, one read";

/** Runs the CLI in-process and returns what it wrote and its exit code. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: CliIO = { out: (t) => (out += t), err: (t) => (err += t) };
  const code = await runCli(argv, io);
  return { code, out, err };
}

const ZERO_SMAPS_LINES = (kb: Record<string, number>) =>
  [
    "Rss",
    "Pss",
    "Pss_Dirty",
    "Shared_Clean",
    "Shared_Dirty",
    "Private_Clean",
    "Private_Dirty",
    "Referenced",
    "Anonymous",
    "KSM",
    "LazyFree",
    "AnonHugePages",
    "ShmemPmdMapped",
    "FilePmdMapped",
    "Shared_Hugetlb",
    "Private_Hugetlb",
    "Swap",
    "SwapPss",
    "Locked",
  ]
    .map((k) =>
      k === "Private_Hugetlb"
        ? `Private_Hugetlb: ${String(kb[k] ?? 0).padStart(7)} kB\n`
        : `${`${k}:`.padEnd(16)}${String(kb[k] ?? 0).padStart(8)} kB\n`,
    )
    .join("");

const GATE =
  "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n" +
  "Size:                  4 kB\nKernelPageSize:        4 kB\nMMUPageSize:           4 kB\n" +
  ZERO_SMAPS_LINES({}) +
  "THPeligible:           0\nVmFlags: ex \n";

describe("pagewalk smaps|smaps_rollup|numa_maps|pagemap", () => {
  it("prints smaps exactly as the kernel does at the observe step named by --at", async () => {
    const r = await cli("smaps", SMALL, "--proc", "p0", "--at", AT);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    // Two written pages (8 kB private dirty); the read maps the zero page, which
    // vm_normal_page() skips, so it adds nothing to Rss.
    expect(r.out).toBe(
      "100000000000-100000004000 rw-p 00000000 00:00 0 \n" +
        "Size:                 16 kB\nKernelPageSize:        4 kB\nMMUPageSize:           4 kB\n" +
        ZERO_SMAPS_LINES({
          Rss: 8,
          Pss: 8,
          Pss_Dirty: 8,
          Private_Dirty: 8,
          Referenced: 8,
          Anonymous: 8,
        }) +
        "THPeligible:           0\nVmFlags: rd wr mr mw me ac \n" +
        GATE,
    );
  });

  it("renders at the end of the scenario without --at", async () => {
    const r = await cli("smaps", SMALL, "--proc", "p0");
    expect(r.code).toBe(0);
    // After the fourth page is written and the fork shares all three pages.
    expect(r.out).toContain("Rss:                  12 kB\n");
    expect(r.out).toContain("Shared_Dirty:         12 kB\n");
    expect(r.out).toContain("Pss:                   6 kB\n");
  });

  it("accepts the default label of an unlabelled observe step", async () => {
    const r = await cli("pagemap", SMALL, "--proc", "p1", "--at", "step 6");
    expect(r.code).toBe(0);
    expect(r.out.split("\n").filter(Boolean)).toHaveLength(4);
  });

  it("prints one pagemap line per page; --no-pfn zeroes the frame field", async () => {
    const a = await cli("pagemap", SMALL, "--proc", "p0", "--at", AT);
    const lines = a.out.trimEnd().split("\n");
    expect(lines.map((l) => l.split(" ")[0])).toEqual([
      "100000000000",
      "100000001000",
      "100000002000",
      "100000003000",
    ]);
    // Written pages: present + exclusive; the zero page: present only; the untouched page: 0.
    expect(lines[0]).toMatch(/^100000000000 0x81[0-9a-f]{14}$/);
    expect(lines[2]).toMatch(/^100000002000 0x80[0-9a-f]{14}$/);
    expect(lines[3]).toBe("100000003000 0x0000000000000000");
    const b = await cli("pagemap", SMALL, "--proc", "p0", "--at", AT, "--no-pfn");
    expect(b.out.trimEnd().split("\n")).toEqual([
      "100000000000 0x8100000000000000",
      "100000001000 0x8100000000000000",
      "100000002000 0x8000000000000000",
      "100000003000 0x0000000000000000",
    ]);
  });

  it("prints smaps_rollup and numa_maps", async () => {
    const r = await cli("smaps_rollup", SMALL, "--proc", "p0", "--at", AT);
    expect(r.out.split("\n")[0]).toBe(
      "100000000000-100000004000 ---p 00000000 00:00 0                          [rollup]",
    );
    const n = await cli("numa_maps", SMALL, "--proc", "p0", "--at", AT);
    expect(n.out).toBe("100000000000 default anon=2 dirty=2 active=0 N0=2 kernelpagesize_kB=4\n");
  });

  it("gives the same text on every walker generation", async () => {
    const outs = await Promise.all(
      ["mainline", "unified", "pt_range"].map((w) =>
        cli("smaps", SMALL, "--proc", "p1", "--walker", w),
      ),
    );
    expect(outs[1]!.out).toBe(outs[0]!.out);
    expect(outs[2]!.out).toBe(outs[0]!.out);
  });
});

describe("bad input: one line on stderr, exit 2", () => {
  it.each([
    [
      ["smaps", SMALL, "--proc", "p0", "--walker", "bogus"],
      /^pagewalk: --walker: unknown walker "bogus" \(expected one of mainline, unified, pt_range\)\n$/,
    ],
    [
      ["smaps", `${dir}missing.json`, "--proc", "p0"],
      /^pagewalk: .*missing\.json: cannot read the file: ENOENT.*\n$/,
    ],
    [
      ["smaps", SMALL, "--proc", "p0", "--at", "nope"],
      /^pagewalk: --at: .*small\.json has no observe step labelled "nope"; its observe labels are "two written, one read", "step 6"\n$/,
    ],
    [
      ["smaps", SMALL, "--proc", "p1", "--at", AT],
      /^pagewalk: --proc: no process "p1" at step 3 \("two written, one read"\) \(processes: p0\)\n$/,
    ],
    [["smaps", SMALL], /^pagewalk: smaps needs --proc P/],
    [["smaps", "--proc", "p0"], /^pagewalk: smaps needs exactly one scenario file, got 0/],
    [["numa_maps", SMALL, "--proc", "p0", "--bogus"], /^pagewalk: Unknown option '--bogus'/],
    [["frobnicate"], /^pagewalk: unknown command "frobnicate" \(see pagewalk --help\)\n$/],
    [["run", BAD], /^pagewalk: .*bad-step\.json: step 0 \(mprotect\): field "region": .*\n$/],
    [
      ["page-types", SMALL, "-b", "nosuchflag"],
      /^pagewalk: page-types: invalid name or number: nosuchflag\n$/,
    ],
    [
      ["page-types", SMALL, "-f", "/etc"],
      /^pagewalk: page-types: -f\/--file \(no page-cache walk of host files\) is not modelled\n$/,
    ],
  ])("%j", async (argv, msg) => {
    const r = await cli(...argv);
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toMatch(msg);
    expect(r.err.trimEnd().split("\n")).toHaveLength(1);
  });
});

describe("--help", () => {
  it.each([
    ["run"],
    ["smaps"],
    ["smaps_rollup"],
    ["numa_maps"],
    ["pagemap"],
    ["diff"],
    ["page-types"],
  ])("%s --help prints its usage and exits 0", async (cmd) => {
    const r = await cli(cmd, "--help");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^usage: pagewalk ${cmd} `));
  });

  it("documents the exit codes in the top-level help", async () => {
    const r = await cli("--help");
    expect(r.code).toBe(0);
    expect(r.out).toContain("exit codes: 0 success; 1 a difference (diff), a verifier failure");
    expect(r.out).toContain("2 bad input");
  });
});

describe("pagewalk diff", () => {
  it("exits 0 and says so when every generation prints the same", async () => {
    const r = await cli("diff", SMALL);
    expect(r.err).toBe("");
    expect(r.out).toBe("identical on mainline, unified, pt_range\n");
    expect(r.code).toBe(0);
  });

  it("exits 1 with a unified diff when a generation prints something else", () => {
    let out = "";
    const code = diffScenario(
      SMALL,
      { out: (t) => (out += t), err: () => {} },
      {
        collect: (_m, _doc, w) =>
          new Map([
            ["observations", "[]\n"],
            ["p0/smaps", w === "unified" ? "a\nb\nX\nd\n" : "a\nb\nc\nd\n"],
          ]),
      },
    );
    expect(code).toBe(1);
    expect(out).toBe(
      "--- mainline/p0/smaps\n+++ unified/p0/smaps\n@@ -1,4 +1,4 @@\n a\n b\n-c\n+X\n d\n" +
        "unified differs from mainline in p0/smaps\n",
    );
  });

  it("fails with exit 2 when the scenario is bad on every generation", async () => {
    const r = await cli("diff", BAD);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/bad-step\.json: step 0 \(mprotect\)/);
  });

  it("diffs documents: extra and missing sections are differences too", () => {
    const a = new Map([["x", "1\n"]]);
    const b = new Map([
      ["x", "1\n"],
      ["p1/smaps", "s\n"],
    ]);
    const { text, differing } = diffOutputs([
      ["mainline", a],
      ["pt_range", b],
    ]);
    expect(differing).toEqual([["pt_range", ["p1/smaps"]]]);
    expect(text).toBe("--- /dev/null\n+++ pt_range/p1/smaps\n@@ -1,0 +1,1 @@\n+s\n");
  });

  it("keeps hunks apart, with three lines of context, and cuts long diffs", () => {
    const a = Array.from({ length: 30 }, (_, i) => `l${i}`);
    const b = a.map((l, i) => (i === 2 || i === 25 ? `${l}!` : l));
    const d = unifiedDiff(`${a.join("\n")}\n`, `${b.join("\n")}\n`, "A", "B");
    expect(d).toBe(
      "--- A\n+++ B\n@@ -1,6 +1,6 @@\n l0\n l1\n-l2\n+l2!\n l3\n l4\n l5\n" +
        "@@ -23,7 +23,7 @@\n l22\n l23\n l24\n-l25\n+l25!\n l26\n l27\n l28\n",
    );
    const cut = unifiedDiff("a\n", `${"b\n".repeat(100)}`, "A", "B", { maxLines: 5 });
    expect(cut.split("\n").slice(-2)[0]).toBe("... (96 more changed lines not shown)");
  });
});
