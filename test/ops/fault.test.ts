import { describe, expect, it } from "vitest";
import { PG } from "../../src/mm/pageflags.js";
import { A, entryAt, mmOf, pageFlags, run } from "../helpers.js";

const anon = (len: string, extra: Record<string, unknown> = {}) => ({
  op: "mmap",
  region: "a",
  addr: "0x100000000000",
  len,
  prot: "rw",
  share: "private",
  backing: "anon",
  ...extra,
});

describe("anonymous faults", () => {
  it("maps the shared zero page, read-only and young, on a read of a none entry", () => {
    const { machine: m } = run([
      anon("64K"),
      { op: "touch", region: "a", len: "4K", access: "read" },
    ]);
    const e = entryAt(m, A);
    expect(e).toMatchObject({
      kind: "present",
      level: "pte",
      pfn: m.phys.zeroPfn,
      write: false,
      young: true,
    });
    expect(mmOf(m).rss.anon).toBe(0);
    expect(mmOf(m).vmas[0]!.anonVma).toBeNull();
  });

  it("allocates an exclusive order-0 folio mapped writable, young and dirty on a write", () => {
    const { machine: m } = run([
      anon("64K"),
      { op: "touch", region: "a", len: "8K", access: "write" },
    ]);
    const e = entryAt(m, A + 4096);
    expect(e).toMatchObject({ kind: "present", write: true, young: true, dirty: true });
    expect(pageFlags(m, e.pfn)).toEqual([
      "UPTODATE",
      "LRU",
      "SWAPBACKED",
      "ANON_EXCLUSIVE",
      "ANON",
    ]);
    expect(m.phys.order[e.pfn]).toBe(0);
    expect(mmOf(m).rss.anon).toBe(2);
  });

  it("maps a whole PMD THP on the first write in a MADV_HUGEPAGE VMA", () => {
    const { machine: m } = run([
      anon("4M"),
      { op: "madvise", region: "a", advice: "hugepage" },
      { op: "touch", region: "a", off: "4K", len: "4K", access: "write" },
    ]);
    const e = entryAt(m, A + 0x1000);
    expect(e.level).toBe("pmd");
    const head = e.pfn - 1;
    expect(m.phys.order[head]).toBe(9);
    expect(m.phys.flags[head]! & PG.HEAD).toBeTruthy();
    expect(m.phys.large.get(head)).toMatchObject({ entire: 1, large: 1 });
    expect(mmOf(m).rss.anon).toBe(512);
    expect(entryAt(m, A + 0x200000).kind).toBe("none");
  });

  it("maps the huge zero PMD on a read in a MADV_HUGEPAGE VMA, and a new THP on the next write", () => {
    const { machine: m } = run([
      anon("2M"),
      { op: "madvise", region: "a", advice: "hugepage" },
      { op: "touch", region: "a", len: "4K", access: "read" },
    ]);
    expect(entryAt(m, A)).toMatchObject({ level: "pmd", pfn: m.phys.hugeZeroPfn, write: false });
    expect(mmOf(m).vmas[0]!.anonVma).not.toBeNull();
    const { machine: m2 } = run([
      anon("2M"),
      { op: "madvise", region: "a", advice: "hugepage" },
      { op: "touch", region: "a", len: "4K", access: "read" },
      { op: "touch", region: "a", off: "8K", len: "4K", access: "write" },
    ]);
    const e = entryAt(m2, A + 0x2000);
    expect(e).toMatchObject({ level: "pmd", write: true, dirty: true });
    expect(m2.phys.order[e.pfn]).toBe(9);
  });

  it("maps every PTE of a 64K mTHP block at once when 64K is enabled", () => {
    const { machine: m } = run(
      [
        anon("256K"),
        { op: "madvise", region: "a", advice: "hugepage" },
        { op: "touch", region: "a", off: "68K", len: "4K", access: "write" },
      ],
      { thp_sizes: ["64K"] },
    );
    const first = entryAt(m, A + 0x10000);
    const last = entryAt(m, A + 0x1f000);
    expect(first.kind).toBe("present");
    expect(last.pfn).toBe(first.pfn + 15);
    expect(m.phys.order[first.pfn]).toBe(4);
    expect(entryAt(m, A).kind).toBe("none");
  });

  it("refuses a write to a read-only VMA with EFAULT after the pages before it were touched", () => {
    const { machine: m, doc } = run([
      anon("64K"),
      { op: "mprotect", region: "a", off: "8K", len: "8K", prot: "r" },
      { op: "touch", region: "a", len: "16K", access: "write", expect_error: "EFAULT" },
    ]);
    expect(doc.errors).toEqual([{ step: 2, proc: "p0", op: "touch", errno: "EFAULT" }]);
    expect(entryAt(m, A + 4096).kind).toBe("present");
    expect(entryAt(m, A + 8192).kind).toBe("none");
  });
});

describe("copy-on-write after fork", () => {
  it("write-protects both copies, makes the child's entry old and drops the exclusive mark", () => {
    const { machine: m } = run([
      anon("16K"),
      { op: "touch", region: "a", access: "write" },
      { op: "fork", child: "p1" },
    ]);
    const p = entryAt(m, A, "p0");
    const c = entryAt(m, A, "p1");
    expect(c.pfn).toBe(p.pfn);
    expect(p).toMatchObject({ write: false, young: true, dirty: true });
    expect(c).toMatchObject({ write: false, young: false, dirty: true });
    expect(m.phys.flags[p.pfn]! & PG.ANON_EXCLUSIVE).toBe(0);
    expect(m.phys.mapcount[p.pfn]).toBe(2);
  });

  it("copies the page on a write in the child and reuses it in the parent once unshared", () => {
    const { machine: m } = run([
      anon("16K"),
      { op: "touch", region: "a", access: "write" },
      { op: "fork", child: "p1" },
      { op: "touch", region: "a", proc: "p1", len: "4K", access: "write" },
      { op: "touch", region: "a", len: "4K", access: "write" },
    ]);
    const p = entryAt(m, A, "p0");
    const c = entryAt(m, A, "p1");
    expect(c.pfn).not.toBe(p.pfn);
    expect(c).toMatchObject({ write: true, dirty: true });
    expect(p).toMatchObject({ write: true, dirty: true });
    expect(m.phys.mapcount[p.pfn]).toBe(1);
    expect(m.phys.flags[p.pfn]! & PG.ANON_EXCLUSIVE).toBeTruthy();
  });
});
