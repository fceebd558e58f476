import { describe, expect, it } from "vitest";
import { SwpFlag } from "../../src/arch/types.js";
import { PG } from "../../src/mm/pageflags.js";
import { A, entryAt, mmOf, pageFlags, run } from "../helpers.js";

const anon = (len: string) => ({
  op: "mmap",
  region: "a",
  addr: "0x100000000000",
  len,
  prot: "rw",
  share: "private",
  backing: "anon",
});
const thp = [
  anon("4M"),
  { op: "madvise", region: "a", advice: "hugepage" },
  { op: "touch", region: "a", len: "4K", access: "write" },
];

describe("THP splits", () => {
  it("splits a PMD THP on a partial mprotect, keeping one 2 MiB folio", () => {
    const { machine: m } = run([
      ...thp,
      { op: "mprotect", region: "a", off: "1M", len: "1M", prot: "r" },
    ]);
    const lo = entryAt(m, A);
    const hi = entryAt(m, A + 0x100000);
    expect(lo).toMatchObject({ level: "pte", write: true, dirty: true });
    expect(hi).toMatchObject({ level: "pte", write: false, dirty: true });
    const head = lo.pfn;
    expect(hi.pfn).toBe(head + 256);
    expect(m.phys.order[head]).toBe(9);
    expect(m.phys.large.get(head)).toMatchObject({ entire: 0, large: 512 });
    expect(m.phys.flags[head]! & PG.DIRTY).toBeTruthy();
    expect(mmOf(m).vmas.map((v) => [v.start - A, v.end - A])).toEqual([
      [0, 0x100000],
      [0x100000, 0x200000],
      [0x200000, 0x400000],
    ]);
  });

  it("splits the folio itself on a partial pageout and remaps never-written pages to the zero page", () => {
    const { machine: m } = run([
      ...thp,
      { op: "touch", region: "a", len: "16K", access: "write" },
      { op: "madvise", region: "a", off: "8K", len: "8K", advice: "pageout" },
    ]);
    const first = entryAt(m, A);
    expect(first.kind).toBe("present");
    expect(m.phys.order[first.pfn]).toBe(0);
    expect(m.phys.flags[first.pfn]! & PG.DIRTY).toBeTruthy();
    expect(entryAt(m, A + 0x2000).kind).toBe("swap");
    expect(entryAt(m, A + 0x3000).kind).toBe("swap");
    expect(entryAt(m, A + 0x4000).pfn).toBe(m.phys.zeroPfn);
    expect(mmOf(m).rss).toMatchObject({ anon: 2, swapEnts: 2 });
  });
});

describe("swap", () => {
  it("pages a written page out to an exclusive swap entry and back in as an active exclusive page", () => {
    const steps = [
      anon("64K"),
      { op: "touch", region: "a", len: "4K", access: "write" },
      { op: "madvise", region: "a", advice: "pageout" },
    ];
    const { machine: m } = run(steps);
    const e = entryAt(m, A);
    expect(e.kind).toBe("swap");
    expect(e.swapFlags & SwpFlag.EXCLUSIVE).toBeTruthy();
    expect(mmOf(m).rss).toMatchObject({ anon: 0, swapEnts: 1 });
    expect(m.swap!.count[e.swapOffset]).toBe(1);
    const { machine: m2 } = run([
      ...steps,
      { op: "touch", region: "a", len: "4K", access: "read" },
    ]);
    const back = entryAt(m2, A);
    expect(back).toMatchObject({ kind: "present", write: true, dirty: false });
    expect(pageFlags(m2, back.pfn)).toEqual([
      "UPTODATE",
      "LRU",
      "ACTIVE",
      "SWAPBACKED",
      "ANON_EXCLUSIVE",
      "ANON",
    ]);
    expect(m2.swap!.used).toBe(0);
  });

  it("shares a swap slot after fork and keeps a swapped-in page in the swap cache", () => {
    const { machine: m } = run([
      anon("64K"),
      { op: "touch", region: "a", len: "4K", access: "write" },
      { op: "madvise", region: "a", advice: "pageout" },
      { op: "fork", child: "p1" },
      { op: "touch", region: "a", proc: "p1", len: "4K", access: "read" },
    ]);
    const parent = entryAt(m, A, "p0");
    const child = entryAt(m, A, "p1");
    expect(parent.kind).toBe("swap");
    expect(parent.swapFlags & SwpFlag.EXCLUSIVE).toBe(0);
    expect(child).toMatchObject({ kind: "present", write: false });
    expect(m.phys.flags[child.pfn]! & PG.SWAPCACHE).toBeTruthy();
    expect(m.swap!.count[parent.swapOffset]).toBe(1);
  });
});

describe("page-table freeing", () => {
  it("frees a PTE table that MADV_DONTNEED leaves empty over a whole 2 MiB block", () => {
    const { machine: m } = run([
      anon("4M"),
      { op: "touch", region: "a", len: "2M", access: "write" },
      { op: "madvise", region: "a", len: "2M", advice: "dontneed" },
    ]);
    expect(entryAt(m, A).level).toBe("pmd");
    expect(entryAt(m, A).kind).toBe("none");
  });

  it("keeps the table when the zap covers only part of the block", () => {
    const { machine: m } = run([
      anon("4M"),
      { op: "touch", region: "a", len: "64K", access: "write" },
      { op: "madvise", region: "a", len: "1M", advice: "dontneed" },
    ]);
    expect(entryAt(m, A).level).toBe("pte");
  });

  it("frees every table once munmap leaves their span without VMAs", () => {
    const { machine: m } = run([
      anon("4M"),
      { op: "touch", region: "a", access: "write" },
      { op: "munmap", region: "a" },
    ]);
    expect(mmOf(m).pt.bytes).toBe(4096);
    expect(mmOf(m).rss.anon).toBe(0);
  });
});
