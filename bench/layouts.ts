/**
 * The performance layouts of spec/performance.md (L1–L9) as scenarios.
 * Each layout is one scenario object; `npx tsx bench/layouts.ts` writes them
 * to examples/bench-<id>.json (the bench reads those files, falling back to
 * these objects when a file is missing).
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { repoRoot } from "./root.js";

export interface Layout {
  /** Layout id (performance.md), e.g. "L1s". */
  id: string;
  /** One line for the table. */
  what: string;
  /** Process whose memory the jobs read. */
  proc: string;
  /** The range the range jobs (pagemap, PAGEMAP_SCAN, mincore) cover. */
  start: number;
  len: number;
  /** kernel-anchor layout measured at the same size, if any. */
  anchor?: "L1s" | "L2" | "L3";
  scenario: Record<string, unknown>;
}

const BASE = 0x1000_0000_0000;
const hex = (n: number) => `0x${n.toString(16)}`;
const G = 2 ** 30;
const M = 2 ** 20;

function anon4k(id: string, size: string, bytes: number, extra: object[] = [], setup = {}) {
  return {
    format: "pagewalk-scenario/1",
    name: `bench-${id}`,
    description: `Performance layout ${id} (spec/performance.md): ${size} private anonymous, 4 KiB pages (nohugepage), all written.`,
    arch: "x86_64",
    setup: {
      thp: "madvise",
      swap: true,
      memory: "12G",
      hugetlb_pages: { "2M": 0, "1G": 0 },
      ...setup,
    },
    steps: [
      {
        op: "mmap",
        region: "a",
        addr: hex(BASE),
        len: size,
        prot: "rw",
        share: "private",
        backing: "anon",
      },
      { op: "madvise", region: "a", advice: "nohugepage" },
      { op: "touch", region: "a", access: "write" },
      ...extra,
    ],
    _bytes: bytes,
  };
}

function thp(id: string, size: string, sizes: string[], desc: string) {
  return {
    format: "pagewalk-scenario/1",
    name: `bench-${id}`,
    description: `Performance layout ${id} (spec/performance.md): ${desc}`,
    arch: "x86_64",
    setup: {
      thp: "madvise",
      thp_sizes: sizes,
      swap: true,
      memory: "12G",
      hugetlb_pages: { "2M": 0, "1G": 0 },
    },
    steps: [
      {
        op: "mmap",
        region: "a",
        addr: hex(BASE),
        len: size,
        prot: "rw",
        share: "private",
        backing: "anon",
      },
      { op: "madvise", region: "a", advice: "hugepage" },
      { op: "touch", region: "a", access: "write" },
    ],
  };
}

function hugetlb(id: string, size: string, hsize: "2M" | "1G", pool: Record<string, number>) {
  return {
    format: "pagewalk-scenario/1",
    name: `bench-${id}`,
    description: `Performance layout ${id} (spec/performance.md): ${size} hugetlb ${hsize}, all written.`,
    arch: "x86_64",
    setup: { thp: "madvise", swap: true, memory: "12G", hugetlb_pages: pool },
    steps: [
      {
        op: "mmap",
        region: "a",
        addr: hex(BASE),
        len: size,
        prot: "rw",
        share: "private",
        backing: { hugetlb: hsize },
      },
      { op: "touch", region: "a", access: "write" },
    ],
  };
}

/**
 * L5: a 256 GiB PROT_NONE reservation; 2048 pieces of 1280 KiB (one per
 * 128 MiB slot, at a scattered 4 KiB-aligned offset inside it) are made
 * read-write and written: 655360 pages, 1.0% of the reservation's 4 KiB pages.
 */
function l5() {
  const slots = 2048;
  const slot = 128 * M;
  const piece = 1280 * 1024;
  const steps: object[] = [
    {
      op: "mmap",
      region: "r",
      addr: hex(BASE),
      len: "256G",
      prot: "none",
      share: "private",
      backing: "anon",
    },
    { op: "madvise", region: "r", advice: "nohugepage" },
  ];
  let x = 0x9e3779b9;
  for (let i = 0; i < slots; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const pages = (slot - piece) / 4096;
    const off = i * slot + ((x >>> 8) % pages) * 4096;
    steps.push({ op: "mprotect", region: "r", off, len: piece, prot: "rw" });
    steps.push({ op: "touch", region: "r", off, len: piece, access: "write" });
  }
  return {
    format: "pagewalk-scenario/1",
    name: "bench-L5",
    description:
      "Performance layout L5 (spec/performance.md): 256 GiB PROT_NONE reservation, 2048 scattered 1280 KiB pieces made read-write and written (1% of its 4 KiB pages).",
    arch: "x86_64",
    setup: { thp: "madvise", swap: true, memory: "12G", hugetlb_pages: { "2M": 0, "1G": 0 } },
    steps,
  };
}

function strip<T extends Record<string, unknown>>(o: T): Record<string, unknown> {
  const { _bytes, ...rest } = o;
  return rest;
}

export const LAYOUTS: Layout[] = [
  {
    id: "L1s",
    what: "1 GiB anon 4K, all written",
    proc: "p0",
    start: BASE,
    len: G,
    anchor: "L1s",
    scenario: strip(anon4k("L1s", "1G", G)),
  },
  {
    id: "L1",
    what: "4 GiB anon 4K, all written",
    proc: "p0",
    start: BASE,
    len: 4 * G,
    scenario: strip(anon4k("L1", "4G", 4 * G)),
  },
  {
    id: "L2s",
    what: "1 GiB anon THP (PMD)",
    proc: "p0",
    start: BASE,
    len: G,
    anchor: "L2",
    scenario: thp(
      "L2s",
      "1G",
      ["2M"],
      "1 GiB anonymous THP (hugepage), all written (kernel-anchor's L2 size).",
    ),
  },
  {
    id: "L2",
    what: "4 GiB anon THP (PMD)",
    proc: "p0",
    start: BASE,
    len: 4 * G,
    scenario: thp("L2", "4G", ["2M"], "4 GiB anonymous THP (hugepage), all written."),
  },
  {
    id: "L3s",
    what: "128 MiB hugetlb 2M",
    proc: "p0",
    start: BASE,
    len: 128 * M,
    anchor: "L3",
    scenario: hugetlb("L3s", "128M", "2M", { "2M": 64, "1G": 0 }),
  },
  {
    id: "L3",
    what: "1 GiB hugetlb 2M",
    proc: "p0",
    start: BASE,
    len: G,
    scenario: hugetlb("L3", "1G", "2M", { "2M": 512, "1G": 0 }),
  },
  {
    id: "L4",
    what: "1 GiB hugetlb 1G",
    proc: "p0",
    start: BASE,
    len: G,
    scenario: hugetlb("L4", "1G", "1G", { "2M": 0, "1G": 1 }),
  },
  {
    id: "L5",
    what: "256 GiB PROT_NONE, 1% written (2048 pieces)",
    proc: "p0",
    start: BASE,
    len: 256 * G,
    scenario: l5(),
  },
  {
    id: "L6",
    what: "1 GiB tmpfs shared, all read",
    proc: "p0",
    start: BASE,
    len: G,
    scenario: {
      format: "pagewalk-scenario/1",
      name: "bench-L6",
      description:
        "Performance layout L6 (spec/performance.md): a 1 GiB tmpfs file mapped shared, every page read.",
      arch: "x86_64",
      setup: { thp: "madvise", swap: true, memory: "12G", hugetlb_pages: { "2M": 0, "1G": 0 } },
      steps: [
        {
          op: "mmap",
          region: "a",
          addr: hex(BASE),
          len: "1G",
          prot: "r",
          share: "shared",
          backing: { file: "f1", size: "1G", fs: "tmpfs" },
        },
        { op: "touch", region: "a", access: "read" },
      ],
    },
  },
  {
    id: "L7",
    what: "L1s after fork (parent)",
    proc: "p0",
    start: BASE,
    len: G,
    scenario: {
      ...strip(anon4k("L7", "1G", G, [{ op: "fork", child: "p1" }])),
      name: "bench-L7",
      description:
        "Performance layout L7 (spec/performance.md) at 1 GiB: L1s after fork (every page COW-shared); the jobs read the parent.",
    },
  },
  {
    id: "L8",
    what: "1 GiB anon 4K, half paged out",
    proc: "p0",
    start: BASE,
    len: G,
    scenario: {
      ...strip(
        anon4k(
          "L8",
          "1G",
          G,
          Array.from({ length: 256 }, (_, i) => ({
            op: "madvise",
            region: "a",
            off: i * 4 * M,
            len: "2M",
            advice: "pageout",
          })),
        ),
      ),
      name: "bench-L8",
      description:
        "Performance layout L8 (spec/performance.md): 1 GiB anonymous 4 KiB pages, all written, then the first 2 MiB of every 4 MiB paged out (half of it in swap).",
    },
  },
  {
    id: "L9",
    what: "1 GiB anon mTHP 64K",
    proc: "p0",
    start: BASE,
    len: G,
    scenario: thp(
      "L9",
      "1G",
      ["64K"],
      "1 GiB anonymous mTHP, 64 KiB folios only (hugepage), all written.",
    ),
  },
];

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = new URL(`file://${repoRoot()}/examples/`);
  for (const l of LAYOUTS) {
    const file = new URL(`bench-${l.id}.json`, dir);
    writeFileSync(file, `${JSON.stringify(l.scenario, null, 2)}\n`);
    console.log(fileURLToPath(file));
  }
}
