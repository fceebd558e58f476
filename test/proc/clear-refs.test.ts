import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Machine } from "../../src/mm/machine.js";
import { ClearRefs, clearRefs, clearRefsWrite } from "../../src/proc/clear-refs.js";
import { KernelError } from "../../src/scenario/errors.js";
import { loadScenarioFile } from "../../src/scenario/parse.js";
import { runScenario, WALKER_GENERATIONS, type WalkerGeneration } from "../../src/scenario/run.js";
import { A, entryAt, mmOf, pageFlags, run } from "../helpers.js";

const K = 4096;
const M2 = 2 * 1024 * 1024;
const HUGE = A + 0x40000000;
const FILE = A + 0x80000000;
const SHARED = A + 0xc0000000;

function errnoOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
  return "none";
}

describe("clear_refs write parsing (proc.md §6)", () => {
  it.each([
    ["1", 1, 1],
    [" 1\n", 1, 3],
    ["+1", 1, 2],
    ["00001", 1, 5],
    ["4", 4, 1],
    ["5\n", 5, 2],
    ["\t3 ", 3, 3],
    // Only 12 bytes are used; the write still returns 12.
    [`2${" ".repeat(30)}`, 2, 12],
    [`${" ".repeat(11)}1`, 1, 12],
  ])("accepts %j as %i, returning %i", (text, value, count) => {
    expect(clearRefsWrite(text)).toEqual({ value, count });
  });

  it.each([
    ["0x1", "EINVAL"],
    ["0", "EINVAL"],
    ["6", "EINVAL"],
    ["-1", "EINVAL"],
    ["1x", "EINVAL"],
    ["", "EINVAL"],
    ["\n", "EINVAL"],
    ["+-1", "EINVAL"],
    ["1 1", "EINVAL"],
    // The 13th byte is not looked at: twelve spaces are an empty number.
    [`${" ".repeat(12)}1`, "EINVAL"],
    ["3000000000", "ERANGE"],
    ["-3000000000", "ERANGE"],
    ["2147483648", "ERANGE"],
    ["99999999999999999999", "ERANGE"],
    ["2147483647", "EINVAL"],
  ])("refuses %j with %s", (text, errno) => {
    expect(errnoOf(() => clearRefsWrite(text))).toBe(errno);
  });

  it("refuses a type outside 1..5 passed to the operation with EINVAL", () => {
    const { machine: m } = run([]);
    expect(errnoOf(() => clearRefs(m, mmOf(m), 0, "pt_range"))).toBe("EINVAL");
    expect(errnoOf(() => clearRefs(m, mmOf(m), 6, "mainline"))).toBe("EINVAL");
  });
});

/**
 * Anonymous 64K (written) + zero page (read), a THP, a private file mapping
 * (page cache read, COW pages written), a shared anonymous (shmem) mapping,
 * a hugetlb page and a swapped-out page.
 */
const WORLD = [
  {
    op: "mmap",
    region: "a",
    addr: `0x${A.toString(16)}`,
    len: "128K",
    prot: "rw",
    share: "private",
    backing: "anon",
  },
  { op: "touch", region: "a", off: 0, len: "64K", access: "write" },
  { op: "touch", region: "a", off: "64K", len: "16K", access: "read" },
  { op: "madvise", region: "a", off: "96K", len: "4K", advice: "populate_write" },
  { op: "madvise", region: "a", off: "96K", len: "4K", advice: "pageout" },
  {
    op: "mmap",
    region: "t",
    addr: `0x${(A + M2 * 8).toString(16)}`,
    len: "2M",
    prot: "rw",
    share: "private",
    backing: "anon",
  },
  { op: "madvise", region: "t", advice: "hugepage" },
  { op: "touch", region: "t", access: "write" },
  {
    op: "mmap",
    region: "h",
    addr: `0x${HUGE.toString(16)}`,
    len: "2M",
    prot: "rw",
    share: "private",
    backing: { hugetlb: "2M" },
  },
  { op: "touch", region: "h", off: 0, len: "4K", access: "write" },
  {
    op: "mmap",
    region: "f",
    addr: `0x${FILE.toString(16)}`,
    len: "64K",
    prot: "rw",
    share: "private",
    backing: { file: "f1", size: "64K", fs: "tmpfs" },
  },
  { op: "touch", region: "f", off: 0, len: "32K", access: "read" },
  { op: "touch", region: "f", off: "32K", len: "16K", access: "write" },
  {
    op: "mmap",
    region: "s",
    addr: `0x${SHARED.toString(16)}`,
    len: "16K",
    prot: "rw",
    share: "shared",
    backing: "anon",
  },
  { op: "touch", region: "s", access: "write" },
];

/** Pages of the world worth looking at, by name. */
const PAGES: Record<string, number> = {
  anon: A,
  anonLast: A + 15 * K,
  zero: A + 16 * K,
  swapped: A + 24 * K,
  thp: A + M2 * 8,
  thpTail: A + M2 * 8 + 100 * K,
  huge: HUGE,
  fileCache: FILE,
  fileCow: FILE + 8 * K,
  shmem: SHARED,
};

/** Entry and page flags of every named page. */
function snapshot(m: Machine): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, addr] of Object.entries(PAGES)) {
    const e = entryAt(m, addr);
    out[name] = { ...e, pg: e.kind === "present" ? pageFlags(m, m.phys.folioHead(e.pfn)) : [] };
  }
  out.vmaFlags = mmOf(m).vmas.map((v) => v.flags);
  return out;
}

function afterClear(
  value: number,
  walker: WalkerGeneration,
  setup: Record<string, unknown> = {},
): Machine {
  const { machine: m } = run(WORLD, { ...setup, hugetlb_pages: { "2M": 4, "1G": 0 } });
  clearRefs(m, mmOf(m), value, walker);
  return m;
}

const young = (m: Machine, name: string) => entryAt(m, PAGES[name]!).young;
const referenced = (m: Machine, name: string) =>
  pageFlags(m, m.phys.folioHead(entryAt(m, PAGES[name]!).pfn)).includes("REFERENCED");

describe("clear_refs 1, 2, 3 on each walker generation", () => {
  it("starts from young entries and referenced folios", () => {
    const { machine: m, doc } = run(WORLD, { hugetlb_pages: { "2M": 4, "1G": 0 } });
    expect(doc.errors).toEqual([]);
    for (const n of ["anon", "thp", "huge", "fileCache", "fileCow", "shmem"]) {
      expect(young(m, n), n).toBe(true);
    }
    expect(referenced(m, "fileCache")).toBe(true);
    expect(young(m, "zero")).toBe(true);
  });

  for (const walker of WALKER_GENERATIONS) {
    it(`1 (ALL) on ${walker}: every normal page old and unreferenced; zero page, swap and hugetlb untouched`, () => {
      const m = afterClear(ClearRefs.ALL, walker);
      for (const n of ["anon", "anonLast", "thp", "thpTail", "fileCache", "fileCow", "shmem"]) {
        expect(young(m, n), n).toBe(false);
        expect(referenced(m, n), n).toBe(false);
      }
      expect(young(m, "zero")).toBe(true);
      expect(young(m, "huge")).toBe(true);
      expect(entryAt(m, PAGES.swapped!)).toMatchObject({ kind: "swap" });
    });

    it(`2 (ANON) on ${walker}: only VMAs without a file, so not the COW pages of a file mapping nor shmem`, () => {
      const m = afterClear(ClearRefs.ANON, walker);
      for (const n of ["anon", "thp"]) expect(young(m, n), n).toBe(false);
      for (const n of ["fileCache", "fileCow", "shmem", "huge"]) expect(young(m, n), n).toBe(true);
    });

    it(`3 (MAPPED) on ${walker}: only VMAs with a file (COW pages and shmem included), never hugetlb`, () => {
      const m = afterClear(ClearRefs.MAPPED, walker);
      for (const n of ["fileCache", "fileCow", "shmem"]) expect(young(m, n), n).toBe(false);
      expect(referenced(m, "fileCache")).toBe(false);
      for (const n of ["anon", "thp", "huge"]) expect(young(m, n), n).toBe(true);
    });
  }

  it.each([1, 2, 3, 4, 5])(
    "%i leaves the same state on mainline, unified and pt_range",
    (value) => {
      for (const setup of [{}, { soft_dirty: true }]) {
        const [first, ...rest] = WALKER_GENERATIONS.map((w) =>
          snapshot(afterClear(value, w, setup)),
        );
        for (const s of rest) expect(s).toEqual(first);
      }
    },
  );
});

describe("clear_refs 4 (SOFT_DIRTY, model-only CONFIG_MEM_SOFT_DIRTY) and 5", () => {
  for (const walker of WALKER_GENERATIONS) {
    it(`4 on ${walker}: present PTEs and the THP PMD write-protected (young/dirty kept); hugetlb untouched`, () => {
      const m = afterClear(ClearRefs.SOFT_DIRTY, walker, { soft_dirty: true });
      for (const n of ["anon", "thp", "fileCow", "shmem"]) {
        expect(entryAt(m, PAGES[n]!), n).toMatchObject({ write: false, young: true, dirty: true });
      }
      expect(entryAt(m, PAGES.thp!).level).toBe("pmd");
      expect(entryAt(m, PAGES.huge!)).toMatchObject({ level: "pmd", write: true });
      for (const v of mmOf(m).vmas) expect(v.has(1 << 27), "VM_SOFTDIRTY").toBe(false);
      // A write faults the page writable again.
      const { machine: m2 } = run(
        [
          ...WORLD,
          { op: "clear_refs", value: 4 },
          { op: "touch", region: "a", off: 0, len: "8K", access: "write" },
        ],
        { soft_dirty: true, hugetlb_pages: { "2M": 4, "1G": 0 } },
        { walker },
      );
      expect(entryAt(m2, A + K).write).toBe(true);
      expect(entryAt(m2, A + 2 * K).write).toBe(false);
    });
  }

  it("4 without CONFIG_MEM_SOFT_DIRTY (the reference) and 5 change nothing", () => {
    const { machine: base } = run(WORLD, { hugetlb_pages: { "2M": 4, "1G": 0 } });
    const want = snapshot(base);
    for (const w of WALKER_GENERATIONS) {
      expect(snapshot(afterClear(ClearRefs.SOFT_DIRTY, w))).toEqual(want);
      expect(snapshot(afterClear(ClearRefs.MM_HIWATER_RSS, w))).toEqual(want);
    }
  });
});

describe("clear_refs scenarios give identical documents on every generation", () => {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const files = [
    join(root, "../shared/fixtures/kernel-6.18/scenarios/clear-refs-1-2-3-5.json"),
    join(root, "examples/model-soft-dirty.json"),
  ];
  it.each(files)("%s", (file) => {
    const sc = loadScenarioFile(file);
    const docs = WALKER_GENERATIONS.map((walker) => {
      const { doc } = runScenario(sc, { walker, verify: true });
      return JSON.stringify([doc.observations, doc.scans, doc.errors, doc.uffd_events]);
    });
    expect(docs[1]).toBe(docs[0]);
    expect(docs[2]).toBe(docs[0]);
  });

  it("clear-refs-1-2-3-5 matches the reference kernel on pt_range", () => {
    const dir = join(root, "../shared/fixtures/kernel-6.18");
    const want = JSON.parse(readFileSync(join(dir, "golden/clear-refs-1-2-3-5.json"), "utf8"));
    const { doc } = runScenario(loadScenarioFile(join(dir, "scenarios/clear-refs-1-2-3-5.json")), {
      walker: "pt_range",
      verify: true,
    });
    expect(doc.observations).toEqual(want.observations);
  });
});
