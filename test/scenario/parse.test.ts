import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KernelError, ScenarioError } from "../../src/scenario/errors.js";
import { loadScenarioFile, parseScenario } from "../../src/scenario/parse.js";
import type { MmapStep, PagemapScanStep, Step } from "../../src/scenario/types.js";
import { OP_FIELDS, SCENARIO_KEYS, SETUP_KEYS, STEP_OPS } from "../../src/scenario/types.js";
import { formatSize, parseSize } from "../../src/scenario/values.js";

const FIXTURES = fileURLToPath(
  new URL("../../../shared/fixtures/kernel-6.18/scenarios", import.meta.url),
);
const MALFORMED = fileURLToPath(new URL("./malformed", import.meta.url));
const SCHEMA = fileURLToPath(new URL("../../schema/scenario.schema.json", import.meta.url));

const fixtureFiles = existsSync(FIXTURES)
  ? readdirSync(FIXTURES)
      .filter((f) => f.endsWith(".json"))
      .sort()
  : [];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const readJson = (path: string): Json => JSON.parse(readFileSync(path, "utf8")) as Json;

/** A minimal scenario around `steps` (x86_64, defaults). */
function scenario(steps: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { format: "pagewalk-scenario/1", name: "t", steps, ...extra };
}
const MMAP_A = { op: "mmap", region: "a", addr: "0x100000000000", len: "64K", prot: "rw" };

/** Runs `fn`, which must throw a ScenarioError, and returns it. */
function scenarioError(fn: () => unknown): ScenarioError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ScenarioError) return e;
    throw e;
  }
  throw new Error("expected a ScenarioError, but the scenario was accepted");
}

describe("every kernel-6.18 fixture scenario", () => {
  if (fixtureFiles.length === 0) {
    it.skip(`parses (skipped: no fixtures at ${FIXTURES})`, () => {});
    return;
  }
  it.each(fixtureFiles)("%s parses, keeping one normalised step per JSON step", (file) => {
    const s = loadScenarioFile(`${FIXTURES}/${file}`);
    const raw = readJson(`${FIXTURES}/${file}`) as { steps: { op: string }[] };
    expect(s.format).toBe("pagewalk-scenario/1");
    expect(s.steps.map((st) => st.op)).toEqual(raw.steps.map((st) => st.op));
    for (const [i, st] of s.steps.entries()) expect(st.index).toBe(i);
  });
});

interface MalformedCase {
  /** File under test/scenario/malformed, without ".json". */
  file: string;
  /** What the case shows, as a specification. */
  spec: string;
  section: "top" | "setup" | "step";
  step?: number;
  field?: string;
  value?: unknown;
  /** Text the message must contain (after the file prefix). */
  says: string;
  /** The JSON Schema alone already rejects the file. */
  schema: boolean;
  /**
   * The file's text, for files that are not valid JSON: written to a temporary
   * folder by the test, since biome lints every .json file under test/.
   */
  text?: string;
}

/**
 * Reads the case table: per case, a line `file | where | field | value | schema | spec`
 * (`where`: "step N", "setup" or "top"; `field`, `value` (JSON): "-" when absent;
 * `schema`: "schema" when the JSON Schema alone rejects the file), then a line
 * `→ text the message contains`.
 */
function caseTable(table: string): MalformedCase[] {
  const lines = table.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"));
  const cases: MalformedCase[] = [];
  for (let i = 0; i < lines.length; i += 2) {
    const [file, where, field, value, schema, spec] = lines[i]!.split(" | ").map((s) => s.trim());
    const says = lines[i + 1]!.trim().replace(/^→ /, "");
    const step = where!.startsWith("step ") ? Number(where!.slice(5)) : undefined;
    cases.push({
      file: file!,
      spec: spec!,
      section: step !== undefined ? "step" : (where as "top" | "setup"),
      step,
      field: field === "-" ? undefined : field,
      value: value === "-" ? undefined : JSON.parse(value!),
      says,
      schema: schema === "schema",
    });
  }
  return cases;
}

const MALFORMED_CASES: MalformedCase[] = caseTable(`
# file                        | where  | field            | value                 | schema | spec
unknown-op                    | step 1 | op               | "mprotec"             | schema | an unknown op
  → step 1: field "op": bad value "mprotec" (expected one of mmap, munmap, mprotect,
missing-field                 | step 1 | access           | -                     | schema | a missing required field
  → step 1 (touch): field "access": missing required field
unaligned-length              | step 1 | len              | "6K"                  | -      | a length that is not a multiple of the page size
  → step 1 (touch): field "len": bad value "6K" (expected a multiple of the page size 4096)
unknown-region                | step 1 | region           | "b"                   | -      | a range naming a region no earlier mmap created
  → field "region": bad value "b" (expected a region an earlier mmap created: a)
exited-process                | step 3 | proc             | "p1"                  | -      | a step in a process that has exited
  → step 3 (touch): field "proc": bad value "p1" (expected a live process (p1 exited at step 2): p0)
bad-prot                      | step 3 | prot             | "rwz"                 | schema | a bad prot, in exactly the documented message form
  → step 3 (mprotect): field "prot": bad value "rwz" (expected one of r, rw, rx, rwx, none)
bad-hex-address               | step 0 | addr             | "0x10000000000g"      | schema | an address that is not a hex string
  → bad value "0x10000000000g" (expected a hex address string like "0x100000000000", below 2^53)
unknown-advice                | step 1 | advice           | "hugepages"           | schema | an unknown madvise advice
  → bad value "hugepages" (expected one of hugepage, nohugepage, pageout,
bad-size-suffix               | step 0 | len              | "64KB"                | schema | a size with a bad suffix
  → bad value "64KB" (expected a size: a number of bytes or a string like "64K", "2M", "1G")
unknown-setup-key             | setup  | thp_size         | ["64K"]               | schema | an unknown setup key
  → setup: field "thp_size": unknown field (allowed: thp, swap, thp_sizes,
thp-size-not-offered          | setup  | thp_sizes[1]     | "8K"                  | -      | a THP size the architecture does not offer
  → (expected one of the THP sizes x86_64 offers: 16K, 32K, 64K, 128K, 256K, 512K, 1M, 2M)
hugetlb-unaligned             | step 0 | len              | "3M"                  | -      | a hugetlb length not a multiple of the huge page size
  → (expected a multiple of the hugetlb page size 2M)
hugetlb-size-not-offered      | step 0 | backing.hugetlb  | "4M"                  | -      | a hugetlb size the architecture does not offer
  → (expected one of the hugetlb sizes x86_64 offers: 2M, 1G)
file-size-mismatch            | step 1 | backing.size     | "128K"                | -      | a file mapped again with another size
  → (expected 64K, as file f1 was first mapped at step 0)
file-fs-mismatch              | step 1 | backing.fs       | "disk"                | -      | a file mapped again on another fs
  → (expected "tmpfs", as file f1 was first mapped at step 0)
fork-existing-child           | step 2 | child            | "p1"                  | -      | a fork whose child name already exists
  → (expected a new process name: p1 was created at step 1)
bad-category-name             | step 1 | category_mask[1] | "dirty"               | schema | an unknown PAGEMAP_SCAN category name
  → field "category_mask[1]": bad value "dirty" (expected one of wpallowed, written, file,
bad-clear-refs-value          | step 1 | value            | 6                     | schema | a clear_refs value outside 1..5
  → step 1 (clear_refs): field "value": bad value 6 (expected an integer from 1 to 5)
bad-expect-error              | step 1 | expect_error     | "EWHAT"               | schema | an expect_error that is not a known errno name
  → bad value "EWHAT" (expected one of EINVAL, ENOMEM, EFAULT,
bad-format                    | top    | format           | "pagewalk-scenario/2" | schema | a format string other than pagewalk-scenario/1
  → field "format": bad value "pagewalk-scenario/2" (expected "pagewalk-scenario/1")
bad-arch                      | top    | arch             | "x86-64"              | schema | an unknown arch
  → field "arch": bad value "x86-64" (expected one of x86_64, x86_64-la57, arm64-4k,
duplicate-region              | step 1 | region           | "a"                   | -      | a region name mapped twice
  → (expected a new region name: a was mapped at step 0)
observe-bad-what              | step 1 | what[1]          | "pagemaps"            | schema | an observe with an unknown what
  → bad value "pagemaps" (expected one of smaps, pagemap, kpageflags, numa_maps, smaps_rollup, mincore)
uffd-register-bad-mode        | step 1 | mode[0]          | "write"               | schema | a uffd_register with an unknown mode
  → bad value "write" (expected one of wp, missing, minor)
mremap-bad-flag               | step 1 | flags[1]         | "fixd"                | schema | an mremap with an unknown flag
  → bad value "fixd" (expected one of maymove, fixed, dontunmap)
step-not-object               | step 1 | -                | "touch"               | schema | a step that is not an object
  → step 1: bad value "touch" (expected an object with "op")
unknown-field                 | step 1 | lenght           | "4K"                  | schema | a misspelt field instead of ignoring it
  → field "lenght": unknown field (allowed: op, proc, region, off, len, access, fill, expect_error)
munmapped-region              | step 2 | region           | "a"                   | -      | a region its process unmapped whole
  → (expected a region p0 still maps: p0 unmapped it whole at step 1)
negative-offset               | step 1 | off              | -4096                 | schema | a negative offset
  → bad value -4096 (expected a size >= 0)
zero-length-mmap              | step 0 | len              | 0                     | -      | an mmap of length 0
  → bad value 0 (expected a size >= 4K)
async-wp-without-wp           | step 1 | async_wp         | true                  | -      | async_wp with a mode other than wp
  → bad value true (expected false unless mode is ["wp"])
mremap-fixed-without-new-addr | step 1 | new_addr         | -                     | -      | an mremap with fixed but no destination
  → missing required field (flag "fixed" needs the destination)
fill-out-of-range             | step 1 | fill             | 256                   | schema | a touch fill that is not a byte
  → bad value 256 (expected an integer from 0 to 255)
arm64-16k-unaligned           | step 1 | len              | "4K"                  | -      | a 4K length on a 16K-page architecture
  → bad value "4K" (expected a multiple of the page size 16384)
unknown-process               | step 1 | proc             | "p7"                  | -      | a process never created
  → bad value "p7" (expected a live process: p0)
default-process-exited        | step 3 | proc             | -                     | -      | an omitted proc once p0 has exited
  → field "proc": missing, and the default process p0 exited at step 2
hugetlb-pool-exceeds-memory   | setup  | memory           | "2G"                  | -      | memory too small for the hugetlb pools
  → setup: field "memory": hugetlb pools of 4G (the default) exceed the 2G of memory
migrate-undo-without-end      | step 1 | undo             | true                  | -      | a migrate undo outside phase end
  → bad value true (expected false unless phase is "end")
observe-exited-process        | step 3 | procs[1]         | "p1"                  | -      | an observe naming an exited process
  → field "procs[1]": bad value "p1" (expected a live process (p1 exited at step 2): p0)
bad-thp-mode                  | setup  | thp              | "sometimes"           | schema | an unknown THP mode
  → setup: field "thp": bad value "sometimes" (expected one of always, madvise, never)
unknown-top-level-key         | top    | sreps            | []                    | schema | an unknown top-level key
  → field "sreps": unknown field (allowed: format, name, description, arch, setup, steps)
bad-mask-hex                  | step 1 | return_mask      | "0xZZ"                | schema | a mask hex string that is not hex
  → bad value "0xZZ" (expected an integer >= 0, a hex string or a list of names (wpallowed,
steps-not-a-list              | top    | steps            | {"0": {"op": "mmap"}} | schema | steps that are not a list
  → field "steps": bad value {"0":{"op":"mmap"}} (expected a list of steps)
backing-unknown-kind          | step 0 | backing          | {"shm": "x"}          | schema | a backing of unknown kind
  → bad value {"shm":"x"} (expected "anon", {"file": ..., "size": ...} or {"hugetlb": "2M"})
exit-twice                    | step 3 | proc             | "p1"                  | -      | a process that exits twice
  → step 3 (exit): field "proc": bad value "p1" (expected a live process (p1 exited at step 2): p0)
`);

/** Malformed JSON text, which cannot be stored as .json under test/ (biome lints those). */
MALFORMED_CASES.push(
  {
    file: "json-syntax-error",
    spec: "a JSON syntax error, with its line and column",
    section: "top",
    says: 'invalid JSON at line 6, column 3: unexpected character "]"',
    schema: false,
    text: '{\n  "format": "pagewalk-scenario/1",\n  "name": "m",\n  "steps": [\n    {"op": "ksm_merge"},\n  ]\n}\n',
  },
  {
    file: "duplicate-key",
    spec: "a key given twice in one step, which JSON.parse would resolve silently",
    section: "step",
    step: 1,
    field: "len",
    says: 'step 1 (touch): field "len": key given twice (at line 3, column 66)',
    schema: false,
    text: `{"format": "pagewalk-scenario/1", "name": "m", "steps": [
  {"op": "mmap", "region": "a", "addr": "0x100000000000", "len": "64K", "prot": "rw"},
  {"op": "touch", "region": "a", "len": "4K", "access": "write", "len": "8K"}
]}
`,
  },
);

describe("a malformed scenario is rejected with its step, field and value", () => {
  it("has a malformed file for every case, and a case for every file (at least 25)", () => {
    const files = readdirSync(MALFORMED).filter((f) => f.endsWith(".json"));
    const stored = MALFORMED_CASES.filter((c) => c.text === undefined).map((c) => c.file);
    expect(files.map((f) => f.slice(0, -5)).sort()).toEqual(stored.sort());
    expect(files.length).toBeGreaterThanOrEqual(25);
  });

  it.each(MALFORMED_CASES)("rejects $spec ($file)", (c) => {
    let path = `${MALFORMED}/${c.file}.json`;
    let err: ScenarioError;
    if (c.text === undefined) err = scenarioError(() => loadScenarioFile(path));
    else {
      const dir = mkdtempSync(join(tmpdir(), "pagewalk-scenario-"));
      path = join(dir, `${c.file}.json`);
      writeFileSync(path, c.text);
      err = scenarioError(() => loadScenarioFile(path));
      rmSync(dir, { recursive: true });
    }
    expect(err.file).toBe(path);
    expect(err.message.startsWith(`${path}: `)).toBe(true);
    expect(err.message).toContain(c.says);
    expect(err.message).not.toContain("    at ");
    expect(err.message).not.toContain("\n");
    expect(err.step).toBe(c.step);
    expect(err.section).toBe(c.section);
    expect(err.field).toBe(c.field);
    expect(err.value).toEqual(c.value);
    if (c.step !== undefined) expect(err.message).toContain(`: step ${c.step}`);
  });
});

describe("parseScenario normalises", () => {
  it("fills in every setup default for x86_64, with the reference machine's hugetlb pools", () => {
    const s = parseScenario(scenario([]));
    expect(s.arch).toBe("x86_64");
    expect(s.description).toBe("");
    expect(s.setup).toEqual({
      thp: "madvise",
      swap: true,
      thpSizes: [2 * 1024 ** 2],
      nodes: 1,
      nodeMem: 4 * 1024 ** 3,
      softDirty: false,
      deviceMem: 0,
      memory: 8 * 1024 ** 3,
      hugetlbPages: { "2M": 1024, "1G": 2 },
    });
  });

  it("takes the PMD size as the default THP size and 2 GiB pools up to 1G on other architectures", () => {
    const s = parseScenario(scenario([], { arch: "arm64-16k" }));
    expect(s.setup.thpSizes).toEqual([32 * 1024 ** 2]);
    expect(s.setup.hugetlbPages).toEqual({ "2M": 1024, "32M": 64, "1G": 2 });
  });

  it("gives hugetlb_pages sizes by name, any size spelling, leaving unlisted sizes empty", () => {
    const s = parseScenario(scenario([], { setup: { hugetlb_pages: { "2048K": 8 } } }));
    expect(s.setup.hugetlbPages).toEqual({ "2M": 8, "1G": 0 });
  });

  it("parses sizes with K, M and G suffixes, plain numbers and decimal strings", () => {
    const steps = [
      { ...MMAP_A, len: "1G" },
      { op: "touch", region: "a", off: "2M", len: 8192, access: "read" },
      { op: "touch", region: "a", off: "4096", access: "write", fill: 7 },
    ];
    const [mmap, t1, t2] = parseScenario(scenario(steps)).steps;
    expect((mmap as MmapStep).len).toBe(1024 ** 3);
    expect(t1).toMatchObject({ off: 2 * 1024 ** 2, len: 8192, proc: "p0" });
    expect(t2).toMatchObject({ off: 4096, fill: 7 });
    expect(t2).not.toHaveProperty("len");
  });

  it("turns prot names into flags and fills mmap defaults (private anonymous, no populate)", () => {
    const [mmap] = parseScenario(scenario([{ ...MMAP_A, prot: "rx" }])).steps;
    expect(mmap).toEqual({
      index: 0,
      proc: "p0",
      op: "mmap",
      region: "a",
      addr: 0x100000000000,
      len: 65536,
      prot: { read: true, write: false, exec: true },
      share: "private",
      backing: { kind: "anon" },
      populate: false,
    });
  });

  it("normalises file and hugetlb backings", () => {
    const steps = [
      { ...MMAP_A, backing: { file: "f1", size: "1M", off_in_file: "64K" } },
      { ...MMAP_A, region: "h", addr: "0x100040000000", len: "4M", backing: { hugetlb: "2M" } },
    ];
    const [f, h] = parseScenario(scenario(steps)).steps as MmapStep[];
    expect(f!.backing).toEqual({
      kind: "file",
      file: "f1",
      size: 1 << 20,
      fs: "tmpfs",
      offInFile: 65536,
    });
    expect(h!.backing).toEqual({ kind: "hugetlb", size: 2 << 20, sizeName: "2M" });
  });

  it("reads PAGEMAP_SCAN masks as integers, hex strings or name lists, with the documented defaults", () => {
    const steps = [
      MMAP_A,
      { op: "pagemap_scan", region: "a" },
      {
        op: "pagemap_scan",
        region: "a",
        flags: ["wp_matching", "check_wpasync"],
        category_mask: ["present", "guard"],
        category_inverted: "0x10",
        category_anyof_mask: 3,
        return_mask: [],
        max_pages: 9,
        vec_len: 0,
        raw: { size: 88, start_offset: "-4K", end: "0x100000001001", vec: 0 },
      },
    ];
    const [, plain, full] = parseScenario(scenario(steps)).steps as PagemapScanStep[];
    expect(plain).toMatchObject({ flags: 0, categoryMask: 0, returnMask: 0x1ff, maxPages: 0 });
    expect(plain).not.toHaveProperty("vecLen");
    expect(full).toMatchObject({
      flags: 3,
      categoryMask: (1 << 3) | (1 << 8),
      categoryInverted: 0x10,
      categoryAnyofMask: 3,
      returnMask: 0,
      maxPages: 9,
      vecLen: 0,
      raw: { size: 88, startOffset: -4096, end: 0x100000001001, vec: 0 },
    });
  });

  it("fills observe, mremap, uffd, mlock and migrate defaults and maps ENOTSUP to EOPNOTSUPP", () => {
    const steps = [
      MMAP_A,
      { op: "observe" },
      { op: "mremap", region: "a", new_len: "128K", flags: ["maymove"] },
      { op: "uffd_register", region: "a", mode: ["wp"], expect_error: "ENOTSUP" },
      { op: "mlock", region: "a" },
      { op: "migrate", region: "a", to_node: 0 },
      { op: "khugepaged" },
      { op: "ksm_merge" },
    ];
    const s = parseScenario(scenario(steps)).steps;
    expect(s[1]).toEqual({
      index: 1,
      proc: "p0",
      op: "observe",
      label: "step 1",
      what: ["smaps", "pagemap", "kpageflags", "numa_maps"],
    });
    expect(s[2]).toMatchObject({ newLen: 131072, flags: ["maymove"] });
    expect(s[2]).not.toHaveProperty("newAddr");
    expect(s[3]).toMatchObject({ mode: ["wp"], asyncWp: false, expectError: "EOPNOTSUPP" });
    expect(s[4]).toMatchObject({ onfault: false, off: 0 });
    expect(s[5]).toMatchObject({ toNode: 0, phase: "all", undo: false });
    expect(s[6]).toMatchObject({ allProcs: true, proc: "p0" });
  });

  it("lets a fork child use a region its parent unmapped after the fork", () => {
    const steps = [
      MMAP_A,
      { op: "fork", child: "c" },
      { op: "munmap", region: "a" },
      { op: "touch", proc: "c", region: "a", access: "write" },
      { op: "exit", proc: "c" },
      { op: "fork", child: "d" },
    ];
    expect(parseScenario(scenario(steps)).steps.map((s: Step) => s.proc)).toEqual([
      "p0",
      "p0",
      "p0",
      "c",
      "c",
      "p0",
    ]);
  });

  it("does not reject what only the simulation can decide (a partial munmap, a region mapped after a fork)", () => {
    const steps = [
      MMAP_A,
      { op: "munmap", region: "a", off: 0, len: "32K" },
      { op: "touch", region: "a", off: "32K", access: "write" },
      { op: "fork", child: "c" },
      { ...MMAP_A, region: "b", addr: "0x100040000000" },
      { op: "touch", proc: "c", region: "b", access: "read", expect_error: "EFAULT" },
    ];
    expect(parseScenario(scenario(steps)).steps).toHaveLength(6);
  });
});

describe("ScenarioError messages", () => {
  it("name the file, step, op, field and value as in the spec", () => {
    const steps = [
      MMAP_A,
      { op: "ksm_merge" },
      { op: "observe" },
      { op: "mprotect", region: "a", prot: "rwz" },
    ];
    const err = scenarioError(() => parseScenario(scenario(steps), { file: "s.json" }));
    expect(err.message).toBe(
      's.json: step 3 (mprotect): field "prot": bad value "rwz" (expected one of r, rw, rx, rwx, none)',
    );
  });

  it("say setup: for setup fields and nothing for top-level fields, and omit an unknown file", () => {
    const e1 = scenarioError(() =>
      parseScenario(scenario([], { setup: { nodes: 0 } }), { file: "f" }),
    );
    expect(e1.message).toBe(
      'f: setup: field "nodes": bad value 0 (expected an integer from 1 to 1024)',
    );
    const e2 = scenarioError(() => parseScenario(scenario([], { arch: 64 })));
    expect(e2.message).toMatch(/^field "arch": bad value 64 \(expected one of x86_64, /);
  });

  it("report a file that cannot be read", () => {
    const err = scenarioError(() => loadScenarioFile(`${MALFORMED}/no-such-file.json`));
    expect(err.message).toMatch(/no-such-file\.json: cannot read the file: .*ENOENT/);
  });
});

describe("KernelError", () => {
  it("carries the errno name the simulated kernel refuses with", () => {
    const e = new KernelError("EEXIST", "MAP_FIXED_NOREPLACE overlaps a mapping");
    expect(e).toBeInstanceOf(Error);
    expect(e.errno).toBe("EEXIST");
    expect(e.message).toBe("EEXIST: MAP_FIXED_NOREPLACE overlaps a mapping");
  });
});

/** Validates `value` against a schema using the keywords schema/scenario.schema.json uses. */
function schemaErrors(root: Json, schema: Json, value: Json, at = "$"): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${at}: not allowed`];
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw new Error(`${at}: a schema must be an object`);
  }
  const errs: string[] = [];
  const same = (a: Json, b: Json) => JSON.stringify(a) === JSON.stringify(b);
  const isObj = (v: Json): v is { [key: string]: Json } =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  const types: Record<string, (v: Json) => boolean> = {
    object: isObj,
    array: Array.isArray,
    string: (v) => typeof v === "string",
    integer: (v) => Number.isInteger(v),
    number: (v) => typeof v === "number",
    boolean: (v) => typeof v === "boolean",
  };
  for (const [kw, arg] of Object.entries(schema)) {
    switch (kw) {
      case "$schema":
      case "$id":
      case "$defs":
      case "title":
      case "description":
      case "default":
      case "then":
        break;
      case "$ref": {
        const name = String(arg).replace("#/$defs/", "");
        const target = (root as { $defs: Record<string, Json> }).$defs[name];
        if (target === undefined) throw new Error(`unresolved $ref ${String(arg)}`);
        errs.push(...schemaErrors(root, target, value, at));
        break;
      }
      case "type":
        if (!types[arg as string]!(value)) errs.push(`${at}: not of type ${String(arg)}`);
        break;
      case "enum":
        if (!(arg as Json[]).some((e) => same(e, value))) errs.push(`${at}: not in enum`);
        break;
      case "const":
        if (!same(arg, value)) errs.push(`${at}: not ${JSON.stringify(arg)}`);
        break;
      case "pattern":
        if (typeof value === "string" && !new RegExp(arg as string, "u").test(value)) {
          errs.push(`${at}: does not match ${String(arg)}`);
        }
        break;
      case "minLength":
        if (typeof value === "string" && value.length < (arg as number))
          errs.push(`${at}: too short`);
        break;
      case "minimum":
        if (typeof value === "number" && value < (arg as number)) errs.push(`${at}: too small`);
        break;
      case "maximum":
        if (typeof value === "number" && value > (arg as number)) errs.push(`${at}: too large`);
        break;
      case "minItems":
        if (Array.isArray(value) && value.length < (arg as number))
          errs.push(`${at}: too few items`);
        break;
      case "uniqueItems":
        if (
          Array.isArray(value) &&
          new Set(value.map((v) => JSON.stringify(v))).size !== value.length
        ) {
          errs.push(`${at}: duplicate items`);
        }
        break;
      case "items":
        if (Array.isArray(value)) {
          for (const [i, v] of value.entries())
            errs.push(...schemaErrors(root, arg, v, `${at}[${i}]`));
        }
        break;
      case "required":
        if (isObj(value)) {
          for (const k of arg as string[]) if (!(k in value)) errs.push(`${at}: missing ${k}`);
        }
        break;
      case "properties":
        if (isObj(value)) {
          for (const [k, sub] of Object.entries(arg as Record<string, Json>)) {
            if (k in value) errs.push(...schemaErrors(root, sub, value[k]!, `${at}.${k}`));
          }
        }
        break;
      case "additionalProperties":
        if (isObj(value)) {
          const known = Object.keys((schema.properties ?? {}) as Record<string, Json>);
          for (const [k, v] of Object.entries(value)) {
            if (!known.includes(k)) errs.push(...schemaErrors(root, arg, v, `${at}.${k}`));
          }
        }
        break;
      case "propertyNames":
        if (isObj(value))
          for (const k of Object.keys(value)) errs.push(...schemaErrors(root, arg, k, at));
        break;
      case "allOf":
        for (const sub of arg as Json[]) errs.push(...schemaErrors(root, sub, value, at));
        break;
      case "anyOf":
        if (!(arg as Json[]).some((sub) => schemaErrors(root, sub, value, at).length === 0)) {
          errs.push(`${at}: matches none of anyOf`);
        }
        break;
      case "if":
        if (schemaErrors(root, arg, value, at).length === 0 && schema.then !== undefined) {
          errs.push(...schemaErrors(root, schema.then, value, at));
        }
        break;
      default:
        throw new Error(`schema keyword ${kw} is not supported by this test's validator`);
    }
  }
  return errs;
}

describe("schema/scenario.schema.json", () => {
  const schema = readJson(SCHEMA) as {
    $schema: string;
    properties: Record<string, Json>;
    $defs: Record<string, { enum?: string[]; properties?: Record<string, Json> }>;
  };

  it("is valid JSON declaring JSON Schema draft 2020-12", () => {
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
  });

  it("lists every op the parser accepts, and no other", () => {
    expect(schema.$defs.op!.enum).toEqual([...STEP_OPS]);
  });

  it("gives each op exactly the fields the parser accepts", () => {
    for (const op of STEP_OPS) {
      const props = Object.keys(schema.$defs[`step_${op}`]!.properties!).sort();
      expect(props, op).toEqual(["op", "expect_error", ...OP_FIELDS[op]].sort());
    }
  });

  it("gives the top level and setup exactly the keys the parser accepts", () => {
    expect(Object.keys(schema.properties)).toEqual([...SCENARIO_KEYS]);
    expect(Object.keys(schema.$defs.setup!.properties!)).toEqual([...SETUP_KEYS]);
  });

  it.each(fixtureFiles)("accepts the fixture %s", (file) => {
    expect(schemaErrors(schema as Json, schema as Json, readJson(`${FIXTURES}/${file}`))).toEqual(
      [],
    );
  });

  it.each(MALFORMED_CASES.filter((c) => c.schema))("also rejects the malformed file $file", (c) => {
    const doc = readJson(`${MALFORMED}/${c.file}.json`);
    expect(schemaErrors(schema as Json, schema as Json, doc)).not.toEqual([]);
  });
});

describe("robustness", () => {
  it("formats and parses sizes as inverse functions", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (n) => {
        expect(parseSize(formatSize(n))).toBe(n);
      }),
    );
  });

  it("throws only ScenarioErrors, never a stack-trace-like message, on arbitrary JSON", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const err = scenarioError(() => parseScenario(v));
        expect(err.message).not.toContain("    at ");
      }),
    );
  });

  it("reports a changed step, or a later one, when one field of a fixture is set to another value", () => {
    const docs = fixtureFiles.map((f) => readJson(`${FIXTURES}/${f}`) as { steps: Json[] });
    if (docs.length === 0) return;
    const plausible = fc.constantFrom<Json>(
      ...[0, -4096, 4096, "64K", "2M", "3K", "0x100000000000", "0x100000001000", "0x1001"],
      ...["p0", "p1", "c1", "a", "b", "f1", "rw", "none", "write", "wp", "EINVAL", "anon"],
      ...[true, false, [], ["wp"], ["maymove", "fixed"], ["present"], { hugetlb: "2M" }],
      { file: "f1", size: "64K", fs: "disk" },
    );
    const extraKeys = ["proc", "off", "len", "expect_error", "new_addr", "fill", "child"];
    fc.assert(
      fc.property(
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.oneof(fc.jsonValue() as fc.Arbitrary<Json>, plausible),
        (d, s, k, replacement) => {
          const doc = structuredClone(docs[d % docs.length]!);
          const index = s % doc.steps.length;
          const step = doc.steps[index] as Record<string, Json>;
          const keys = [...Object.keys(step), ...extraKeys];
          step[keys[k % keys.length]!] = replacement;
          try {
            parseScenario(doc);
          } catch (e) {
            expect(e).toBeInstanceOf(ScenarioError);
            expect((e as ScenarioError).step).toBeGreaterThanOrEqual(index);
            expect((e as ScenarioError).message).not.toContain("    at ");
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
