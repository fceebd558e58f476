import { describe, expect, it } from "vitest";
import { renderSmaps } from "../../src/cli/text.js";
import { kpagecountOf, kpageflagsOf, kpfNames } from "../../src/proc/kpageflags.js";
import { doMincore } from "../../src/proc/mincore.js";
import { numaMapsVma } from "../../src/proc/numa-maps.js";
import { PM, pagemapRead } from "../../src/proc/pagemap.js";
import { smapsVma } from "../../src/proc/smaps.js";
import { A, runSteps } from "./run.js";

const h = (n: number) => `0x${n.toString(16)}`;

/** 3 anon pages written, then shared three ways by two forks (proc.md §2.1 rounding example). */
function threeWay() {
  const { machine: m } = runSteps([
    {
      op: "mmap",
      region: "a",
      addr: h(A),
      len: "12K",
      prot: "rw",
      share: "private",
      backing: "anon",
    },
    { op: "touch", region: "a", access: "write" },
    { op: "fork", child: "p1" },
    { op: "fork", child: "p2" },
  ]);
  const mm = m.procs.get("p0")!;
  return { m, mm, vma: mm.vmas[0]! };
}

describe.each(["mainline", "unified"] as const)("/proc users on the %s walker", (flavour) => {
  it("smaps: 3 pages mapped by 3 processes give Pss 3 kB (fixed-point rounding), all Shared_Dirty", () => {
    const { m, mm, vma } = threeWay();
    mm.mmapLock.readLock("t");
    const { fields, vmFlags } = smapsVma(m, mm, vma, flavour);
    mm.mmapLock.readUnlock();
    expect(fields).toMatchObject({
      Size: 12,
      Rss: 12,
      Pss: 3,
      Pss_Dirty: 3,
      Shared_Dirty: 12,
      Private_Dirty: 0,
      Anonymous: 12,
      Swap: 0,
      THPeligible: 0,
    });
    expect(vmFlags).toEqual(["rd", "wr", "mr", "mw", "me", "ac"]);
  });

  it("numa_maps: anon=3 dirty=3 mapmax=3 N0=3 kernelpagesize_kB=4", () => {
    const { m, mm, vma } = threeWay();
    mm.mmapLock.readLock("t");
    const line = numaMapsVma(m, mm, vma, flavour);
    mm.mmapLock.readUnlock();
    const f = Object.fromEntries(line.fields);
    expect(line.policy).toBe("default");
    expect(f).toMatchObject({ anon: 3, dirty: 3, mapmax: 3, N0: 3, kernelpagesize_kB: 4 });
    expect(f.mapped).toBeUndefined();
  });

  it("pagemap: written page present+exclusive, zero page present without exclusive, untouched 0", () => {
    const { machine: m } = runSteps([
      {
        op: "mmap",
        region: "a",
        addr: h(A),
        len: "16K",
        prot: "rw",
        share: "private",
        backing: "anon",
      },
      { op: "touch", region: "a", off: 0, len: "4K", access: "write" },
      { op: "touch", region: "a", off: "4K", len: "4K", access: "read" },
    ]);
    const mm = m.procs.get("p0")!;
    const r = pagemapRead(m, mm, A, A + 0x4000, flavour);
    expect(r.flags[0]).toBe(PM.PRESENT | PM.MMAP_EXCLUSIVE);
    expect(r.flags[1]).toBe(PM.PRESENT);
    expect(r.frame[1]).toBe(m.phys.zeroPfn);
    expect(r.flags[2]).toBe(0);
    expect(r.frame[2]).toBe(0);
    const kpf = kpageflagsOf(m, m.phys.zeroPfn, { lo: 0, hi: 0 });
    expect(kpfNames(kpf)).toEqual(["ZERO_PAGE", "RESERVED"]);
    expect(kpagecountOf(m, m.phys.zeroPfn)).toBe(0);
    const anon = kpageflagsOf(m, r.frame[0]!, { lo: 0, hi: 0 });
    expect(kpfNames(anon)).toEqual(["UPTODATE", "LRU", "MMAP", "ANON", "SWAPBACKED", "OWNER_2"]);
    expect(kpagecountOf(m, r.frame[0]!)).toBe(1);
    const v = doMincore(m, mm, A, A + 0x4000, flavour);
    expect(Array.from(v as Uint8Array)).toEqual([1, 1, 0, 0]);
  });
});

describe("smaps text", () => {
  it("prints the kernel's header, padded kB lines, VmFlags with a trailing space and [vsyscall] last", () => {
    const { m, mm } = threeWay();
    const text = renderSmaps(m, mm, "mainline");
    const lines = text.split("\n");
    expect(lines[0]).toBe("100000000000-100000003000 rw-p 00000000 00:00 0 ");
    expect(lines[1]).toBe("Size:                 12 kB");
    expect(lines).toContain("Pss:                   3 kB");
    expect(lines).toContain("Private_Hugetlb:       0 kB");
    expect(lines).toContain("THPeligible:           0");
    expect(lines).toContain("VmFlags: rd wr mr mw me ac ");
    const gate = lines.findIndex((l) => l.endsWith("[vsyscall]"));
    expect(lines[gate]).toBe(
      `ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0${" ".repeat(17)} [vsyscall]`,
    );
    expect(lines[gate]!.indexOf("[vsyscall]")).toBe(73);
    expect(lines.at(-2)).toBe("VmFlags: ex ");
  });
});
