import { describe, expect, it } from "vitest";
import { PG } from "../../src/mm/pageflags.js";
import { VM } from "../../src/mm/vma.js";
import { ScenarioError } from "../../src/scenario/errors.js";
import { A, entryAt, mmOf, run } from "../helpers.js";

const mmap = (region: string, addr: string, len: string, extra: Record<string, unknown> = {}) => ({
  op: "mmap",
  region,
  addr,
  len,
  prot: "rw",
  share: "private",
  backing: "anon",
  ...extra,
});

describe("errors the kernel returns", () => {
  it.each([
    [
      "EEXIST",
      [
        mmap("a", "0x100000000000", "64K"),
        mmap("b", "0x100000008000", "64K", { expect_error: "EEXIST" }),
      ],
    ],
    [
      "EINVAL",
      [
        mmap("h", "0x100000000000", "4M", { backing: { hugetlb: "2M" } }),
        { op: "mprotect", region: "h", off: "1M", len: "1M", prot: "r", expect_error: "EINVAL" },
      ],
    ],
    [
      "EINVAL",
      [
        mmap("a", "0x100000000000", "64K", { prot: "r" }),
        { op: "madvise", region: "a", advice: "populate_write", expect_error: "EINVAL" },
      ],
    ],
    [
      "EINVAL",
      [
        mmap("a", "0x100000000000", "64K"),
        { op: "mlock", region: "a" },
        { op: "madvise", region: "a", advice: "dontneed", expect_error: "EINVAL" },
      ],
    ],
    [
      "EINVAL",
      [
        mmap("a", "0x100000000000", "64K"),
        {
          op: "mremap",
          region: "a",
          flags: ["fixed"],
          new_addr: "0x100010000000",
          expect_error: "EINVAL",
        },
      ],
    ],
  ])("returns %s where the kernel refuses", (errno, steps) => {
    const { doc } = run(steps);
    expect(doc.errors.map((e) => e.errno)).toEqual([errno]);
  });

  it("reports an unexpected refusal as a scenario error naming the step", () => {
    expect(() =>
      run([mmap("a", "0x100000000000", "64K"), mmap("b", "0x100000000000", "64K")]),
    ).toThrowError(ScenarioError);
    expect(() =>
      run([mmap("a", "0x100000000000", "64K"), mmap("b", "0x100000000000", "64K")]),
    ).toThrowError(/step 1 \(mmap\): the kernel refused the step with EEXIST/);
  });
});

describe("VMAs", () => {
  it("merges an adjacent anonymous mapping with the same flags into one VMA", () => {
    const { machine: m } = run([
      mmap("a", "0x100000000000", "64K"),
      mmap("b", "0x100000010000", "64K"),
    ]);
    expect(mmOf(m).vmas).toHaveLength(1);
    expect(mmOf(m).vmas[0]!.end - A).toBe(0x20000);
  });

  it("sets VM_MAYBE_GUARD without splitting and faults EFAULT on a guard page", () => {
    const { machine: m, doc } = run([
      mmap("a", "0x100000000000", "64K"),
      { op: "madvise", region: "a", off: "16K", len: "8K", advice: "guard_install" },
      { op: "touch", region: "a", off: "12K", len: "8K", access: "write", expect_error: "EFAULT" },
    ]);
    expect(mmOf(m).vmas).toHaveLength(1);
    expect(mmOf(m).vmas[0]!.flags & VM.MAYBE_GUARD).toBeTruthy();
    expect(entryAt(m, A + 0x4000).kind).toBe("marker");
    expect(entryAt(m, A + 0x3000).kind).toBe("present");
    expect(doc.errors).toHaveLength(1);
  });

  it("moves a PMD THP whole when both addresses are 2 MiB aligned", () => {
    const { machine: m } = run([
      mmap("a", "0x100000000000", "2M"),
      { op: "madvise", region: "a", advice: "hugepage" },
      { op: "touch", region: "a", len: "4K", access: "write" },
      { op: "mremap", region: "a", flags: ["maymove", "fixed"], new_addr: "0x100040000000" },
    ]);
    const e = entryAt(m, 0x100040000000);
    expect(e.level).toBe("pmd");
    expect(m.phys.flags[e.pfn]! & PG.DIRTY).toBe(0);
    expect(entryAt(m, A)).toMatchObject({ kind: "none", level: "pud" });
  });
});

describe("hugetlb", () => {
  it("maps a private huge page exclusive and shares it read-only after fork", () => {
    const { machine: m } = run([
      mmap("h", "0x100000000000", "2M", { backing: { hugetlb: "2M" } }),
      { op: "touch", region: "h", len: "4K", access: "write" },
      { op: "fork", child: "p1" },
    ]);
    const p = entryAt(m, A, "p0");
    const c = entryAt(m, A, "p1");
    expect(p.level).toBe("pmd");
    expect(c.pfn).toBe(p.pfn);
    expect(p.write).toBe(false);
    expect(m.phys.large.get(p.pfn)).toMatchObject({ entire: 2 });
    expect(m.phys.flags[p.pfn]! & PG.ANON_EXCLUSIVE).toBe(0);
    expect(mmOf(m).rss.anon).toBe(0);
  });
});

describe("KSM", () => {
  it("merges identical pages into one write-protected KSM page, the second one found", () => {
    const { machine: m } = run([
      mmap("a", "0x100000000000", "16K"),
      { op: "touch", region: "a", access: "write", fill: 7 },
      { op: "madvise", region: "a", advice: "mergeable" },
      { op: "ksm_merge" },
    ]);
    const pfns = [0, 1, 2, 3].map((k) => entryAt(m, A + k * 4096).pfn);
    expect(new Set(pfns).size).toBe(1);
    const k = pfns[0]!;
    expect(m.phys.flags[k]! & PG.KSM).toBeTruthy();
    expect(m.phys.mapcount[k]).toBe(4);
    expect(entryAt(m, A + 4096)).toMatchObject({ write: false, dirty: false });
  });
});
