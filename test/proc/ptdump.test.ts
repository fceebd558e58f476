import { describe, expect, it } from "vitest";
import { getInitMm } from "../../src/mm/init-mm.js";
import { LockError } from "../../src/mm/locks.js";
import type { Machine } from "../../src/mm/machine.js";
import { ptdumpKernel, ptdumpProcess } from "../../src/proc/ptdump.js";
import { parseScenario } from "../../src/scenario/parse.js";
import { runScenario } from "../../src/scenario/run.js";
import { A, runSteps } from "./run.js";

const hex = (n: number) => `0x${n.toString(16)}`;

/** A THP, a few 4 KiB pages, a PROT_NONE page and a zero-page read. */
function small(): Machine {
  return runSteps([
    {
      op: "mmap",
      region: "a",
      addr: hex(A),
      len: "2M",
      prot: "rw",
      share: "private",
      backing: "anon",
    },
    { op: "madvise", region: "a", advice: "hugepage" },
    { op: "touch", region: "a", off: 0, len: "2M", access: "write" },
    {
      op: "mmap",
      region: "b",
      addr: hex(A + 0x200000),
      len: "64K",
      prot: "rw",
      share: "private",
      backing: "anon",
    },
    { op: "touch", region: "b", off: 0, len: "20K", access: "write" },
    { op: "touch", region: "b", off: "32K", len: "4K", access: "read" },
    { op: "mprotect", region: "b", off: "16K", len: "4K", prot: "none" },
  ]).machine;
}

function bootedMachine(arch: string, memory = "8G"): Machine {
  const sc = parseScenario({
    format: "pagewalk-scenario/1",
    name: "k",
    arch,
    setup: { memory },
    steps: [],
  });
  return runScenario(sc).machine;
}

const LINE =
  /^0x[0-9a-f]{16}-0x[0-9a-f]{16} {3}[ 0-9]{9,}[BKMGTPE] ((USR | {4})(RW |ro )(PWT | {4})(PCD | {4})(PSE | {4})(PAT | {4})(GLB | {4})(NX |x {2})| {30})(pgd|p4d|pud|pmd|pte)$/;

describe("ptdump of a process (current_kernel, User Space section)", () => {
  it("prints the kernel's lines for a THP, 4K pages, a PROT_NONE page and the zero page", () => {
    const m = small();
    expect(ptdumpProcess(m, m.procs.get("p0")!)).toBe(
      [
        "---[ User Space ]---",
        "0x0000000000000000-0x0000100000000000          16T                               pgd",
        "0x0000100000000000-0x0000100000200000           2M USR RW         PSE         NX pmd",
        "0x0000100000200000-0x0000100000204000          16K USR RW                     NX pte",
        // The PROT_NONE entry is not present (blank flags) but not zero either:
        // its own run, then the none PTEs.
        "0x0000100000204000-0x0000100000205000           4K                               pte",
        "0x0000100000205000-0x0000100000208000          12K                               pte",
        "0x0000100000208000-0x0000100000209000           4K USR ro                     NX pte",
        "0x0000100000209000-0x0000100000400000        2012K                               pte",
        "0x0000100000400000-0x0000100040000000        1020M                               pmd",
        "0x0000100040000000-0x0000108000000000         511G                               pud",
        // Ended by the first kernel-half note, at GUARD_HOLE_END_ADDR.
        "0x0000108000000000-0xffff880000000000   17179729408G                               pgd",
        "",
      ].join("\n"),
    );
  });

  it("continues with the kernel half shared with init_mm", () => {
    const m = small();
    const mm = m.procs.get("p0")!;
    const full = ptdumpProcess(m, mm, { kernelHalf: true });
    const user = ptdumpProcess(m, mm);
    expect(full.startsWith(`${user}---[ Kernel Space ]---\n`)).toBe(true);
    // The kernel half is init_mm's: the same text as page_tables/kernel from
    // the first line after its "Kernel Space" header on.
    const kernel = ptdumpKernel(m);
    const kernelPart = (t: string) => t.slice(t.indexOf("---[ Kernel Space ]---\n"));
    expect(kernelPart(full)).toBe(kernelPart(kernel));
  });

  it("takes and releases the mmap write locks itself", () => {
    const m = small();
    const mm = m.procs.get("p0")!;
    mm.mmapLock.readLock("someone");
    expect(() => ptdumpProcess(m, mm)).toThrow(LockError);
    mm.mmapLock.readUnlock();
    ptdumpProcess(m, mm);
    expect(mm.mmapLock.writer).toBeNull();
    expect(getInitMm(m).mmapLock.writer).toBeNull();
  });

  it("uses p4d-level holes with 5-level paging", () => {
    const sc = parseScenario({
      format: "pagewalk-scenario/1",
      name: "la57",
      arch: "x86_64-la57",
      setup: { thp: "madvise" },
      steps: [
        {
          op: "mmap",
          region: "a",
          addr: hex(A),
          len: "4K",
          prot: "r",
          share: "private",
          backing: "anon",
        },
        { op: "touch", region: "a", off: 0, len: "4K", access: "read" },
      ],
    });
    const m = runScenario(sc).machine;
    expect(ptdumpProcess(m, m.procs.get("p0")!).split("\n")).toEqual([
      "---[ User Space ]---",
      "0x0000000000000000-0x0000100000000000          16T                               p4d",
      "0x0000100000000000-0x0000100000001000           4K USR ro                     NX pte",
      "0x0000100000001000-0x0000100000200000        2044K                               pte",
      "0x0000100000200000-0x0000100040000000        1022M                               pmd",
      "0x0000100040000000-0x0000108000000000         511G                               pud",
      "0x0000108000000000-0x0001000000000000      245248G                               p4d",
      "0x0001000000000000-0xff10000000000000    16715520T                               pgd",
      "",
    ]);
  });
});

describe("ptdump of the kernel (page_tables/kernel)", () => {
  const HEADERS = [
    "---[ User Space ]---",
    "---[ Kernel Space ]---",
    "---[ LDT remap ]---",
    "---[ Low Kernel Mapping ]---",
    "---[ vmalloc() Area ]---",
    "---[ Vmemmap ]---",
    "---[ CPU entry Area ]---",
    "---[ ESPfix Area ]---",
    "---[ EFI Runtime Services ]---",
    "---[ High Kernel Mapping ]---",
    "---[ Modules ]---",
    "---[ End Modules ]---",
    "---[ Fixmap Area ]---",
  ];

  for (const arch of ["x86_64", "x86_64-la57"]) {
    it(`prints every section header once, in order, and well-formed lines (${arch})`, () => {
      const text = ptdumpKernel(bootedMachine(arch));
      const lines = text.split("\n");
      expect(lines.at(-1)).toBe("");
      expect(lines.filter((l) => l.startsWith("---["))).toEqual(HEADERS);
      for (const l of lines.slice(0, -1)) if (!l.startsWith("---[")) expect(l).toMatch(LINE);
      // The flush note is at address 0: the last run ends at 0x0000000000000000.
      expect(lines.at(-2)).toBe(
        "0xffffffffff800000-0x0000000000000000           8M                               pmd",
      );
    });
  }

  it("shows the direct map, vmalloc guard holes, kernel image and fixmap (4-level, 8 GiB)", () => {
    const text = ptdumpKernel(bootedMachine("x86_64"));
    const section = (name: string) => {
      const s = text.split(`---[ ${name} ]---\n`)[1]!;
      const next = s.indexOf("---[");
      return (next < 0 ? s : s.slice(0, next)).split("\n").slice(0, -1);
    };
    // One marker per note: the direct map's first page closes the LDT remap
    // section, as in the kernel's printer.
    expect(section("LDT remap")).toEqual([
      "0xffff888000000000-0xffff888000001000           4K     RW                 GLB NX pte",
    ]);
    expect(section("Low Kernel Mapping")).toEqual([
      "0xffff888000001000-0xffff888000200000        2044K     RW                 GLB NX pte",
      "0xffff888000200000-0xffff888040000000        1022M     RW         PSE     GLB NX pmd",
      "0xffff888040000000-0xffff888200000000           7G     RW         PSE     GLB NX pud",
      "0xffff888200000000-0xffff888201000000          16M     RW         PSE     GLB NX pmd",
      "0xffff888201000000-0xffff888240000000        1008M                               pmd",
      "0xffff888240000000-0xffff890000000000         503G                               pud",
      "0xffff890000000000-0xffffc90000000000          64T                               pgd",
    ]);
    expect(section("vmalloc() Area").slice(0, 5)).toEqual([
      "0xffffc90000000000-0xffffc90000004000          16K     RW                 GLB NX pte",
      "0xffffc90000004000-0xffffc90000005000           4K                               pte",
      "0xffffc90000005000-0xffffc90000007000           8K     RW                 GLB NX pte",
      "0xffffc90000007000-0xffffc90000008000           4K                               pte",
      "0xffffc90000008000-0xffffc90000010000          32K     RW                 GLB NX pte",
    ]);
    expect(section("High Kernel Mapping")).toEqual([
      "0xffffffff80000000-0xffffffff81000000          16M                               pmd",
      "0xffffffff81000000-0xffffffff81400000           4M     ro         PSE     GLB x  pmd",
      "0xffffffff81400000-0xffffffff81600000           2M     ro         PSE     GLB NX pmd",
      "0xffffffff81600000-0xffffffff81800000           2M     RW         PSE     GLB NX pmd",
      "0xffffffff81800000-0xffffffffc0000000        1000M                               pmd",
    ]);
    expect(section("Fixmap Area")).toEqual([
      "0xffffffffff579000-0xffffffffff5fc000         524K                               pte",
      "0xffffffffff5fc000-0xffffffffff5fe000           8K     RW PWT PCD         GLB NX pte",
      "0xffffffffff5fe000-0xffffffffff800000        2056K                               pte",
      "0xffffffffff800000-0x0000000000000000           8M                               pmd",
    ]);
  });

  it("leaves init_mm's lock free and the machine unchanged (deterministic)", () => {
    const m = bootedMachine("x86_64");
    const a = ptdumpKernel(m);
    expect(getInitMm(m).mmapLock.writer).toBeNull();
    expect(ptdumpKernel(m)).toBe(a);
    expect(ptdumpKernel(bootedMachine("x86_64"))).toBe(a);
  });
});
