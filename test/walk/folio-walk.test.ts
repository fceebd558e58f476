import { describe, expect, it } from "vitest";
import { LockError } from "../../src/mm/locks.js";
import type { Machine } from "../../src/mm/machine.js";
import type { MmStruct } from "../../src/mm/mm.js";
import {
  FolioWalk,
  FW_MIGRATION,
  FW_ZEROPAGE,
  FwLevel,
  folioWalkEnd,
  folioWalkStart,
} from "../../src/walk/folio-walk.js";
import { hugetlbVmaLock } from "../../src/walk/locks.js";
import { A, runSteps } from "../proc/run.js";

const h = (n: number) => `0x${n.toString(16)}`;
const K = 4096;
const M2 = 2 ** 21;
const G1 = 2 ** 30;
const SMALL_POOLS = { memory: "3G", hugetlb_pages: { "2M": 4, "1G": 1 } };

function mm0(m: Machine): MmStruct {
  return m.procs.get("p0")!;
}

/** folio_walk_start under the mmap read lock, returning a plain summary; ends the walk. */
function look(m: Machine, addr: number, flags = 0) {
  const mm = mm0(m);
  const vma = mm.findVma(addr)!;
  mm.mmapLock.readLock("test");
  try {
    const fw = folioWalkStart(m, mm, vma, addr, flags);
    if (fw === null) return null;
    const held = fw.ptl?.held === true;
    const out = { folio: fw.folio, page: fw.page, level: fw.level, held, table: fw.table };
    folioWalkEnd(fw);
    expect(out.table!.ptl.held).toBe(false);
    return out;
  } finally {
    mm.mmapLock.readUnlock();
  }
}

describe("folio_walk_start() / folio_walk_end() (kernel-api.md §3)", () => {
  const anon = (len: string) => ({
    op: "mmap",
    region: "a",
    addr: h(A),
    len,
    prot: "rw",
    share: "private",
    backing: "anon",
  });

  it("a PMD THP: level PMD, the page offset taken from the PMD's page, PTL held until the end", () => {
    const { machine: m } = runSteps([
      anon("4M"),
      { op: "madvise", region: "a", advice: "hugepage" },
      { op: "touch", region: "a", len: "2M", access: "write" },
    ]);
    const r = look(m, A + 5 * K + 17)!;
    expect(r.level).toBe(FwLevel.PMD);
    expect(r.held).toBe(true);
    expect(r.page).toBe(r.folio + 5);
    expect(m.phys.folioNr(r.folio)).toBe(512);
  });

  it("a PTE-mapped THP after a PMD split: level PTE, the exact subpage", () => {
    const { machine: m } = runSteps([
      anon("4M"),
      { op: "madvise", region: "a", advice: "hugepage" },
      { op: "touch", region: "a", len: "2M", access: "write" },
      { op: "mprotect", region: "a", off: "1M", len: "4K", prot: "r" },
    ]);
    const r = look(m, A + 300 * K)!;
    expect(r.level).toBe(FwLevel.PTE);
    expect(r.page).toBe(r.folio + 300);
  });

  it("the zero pages only with FW_ZEROPAGE, and then without a page", () => {
    const { machine: m } = runSteps([
      anon("4M"),
      { op: "madvise", region: "a", off: "2M", len: "2M", advice: "hugepage" },
      { op: "touch", region: "a", len: "4K", access: "read" },
      { op: "touch", region: "a", off: "2M", len: "4K", access: "read" },
    ]);
    expect(look(m, A)).toBeNull();
    expect(look(m, A + M2)).toBeNull();
    expect(look(m, A, FW_ZEROPAGE)).toMatchObject({
      folio: m.phys.zeroPfn,
      page: -1,
      level: FwLevel.PTE,
    });
    expect(look(m, A + M2 + 7 * K, FW_ZEROPAGE)).toMatchObject({
      folio: m.phys.hugeZeroPfn,
      page: -1,
      level: FwLevel.PMD,
    });
    // A none PTE in an existing table, and an unpopulated VMA part.
    expect(look(m, A + K, FW_ZEROPAGE)).toBeNull();
  });

  it("hugetlb 2M and 1G: PMD and PUD leaves, the hugetlb VMA lock held until the end", () => {
    const { machine: m } = runSteps(
      [
        {
          op: "mmap",
          region: "h",
          addr: h(A),
          len: "4M",
          prot: "rw",
          share: "private",
          backing: { hugetlb: "2M" },
        },
        { op: "touch", region: "h", len: "4K", access: "write" },
        {
          op: "mmap",
          region: "g",
          addr: h(A + G1),
          len: "1G",
          prot: "rw",
          share: "private",
          backing: { hugetlb: "1G" },
        },
        { op: "touch", region: "g", off: "512M", len: "4K", access: "write" },
      ],
      { setup: SMALL_POOLS },
    );
    const mm = mm0(m);
    mm.mmapLock.readLock("test");
    const vma = mm.findVma(A)!;
    const fw = folioWalkStart(m, mm, vma, A + 9 * K, 0)!;
    expect(fw.level).toBe(FwLevel.PMD);
    expect(fw.page).toBe(fw.folio + 9);
    expect(hugetlbVmaLock(vma).readers).toBe(1);
    folioWalkEnd(fw);
    expect(hugetlbVmaLock(vma).readers).toBe(0);
    // The untouched second huge page: a none PMD; no lock left behind.
    expect(folioWalkStart(m, mm, vma, A + M2, 0)).toBeNull();
    expect(hugetlbVmaLock(vma).readers).toBe(0);
    mm.mmapLock.readUnlock();
    const g = look(m, A + G1 + 2 ** 29 + 3 * K)!;
    expect(g.level).toBe(FwLevel.PUD);
    expect(g.page).toBe(g.folio + 2 ** 17 + 3);
  });

  it("migration entries only with FW_MIGRATION (PTE and PMD), without a page", () => {
    const { machine: m } = runSteps(
      [
        anon("4M"),
        { op: "madvise", region: "a", off: "2M", len: "2M", advice: "hugepage" },
        { op: "touch", region: "a", len: "64K", access: "write" },
        { op: "touch", region: "a", off: "2M", len: "4K", access: "write" },
        { op: "migrate", region: "a", to_node: 1, phase: "begin" },
      ],
      { setup: { nodes: 2, node_mem: "2G", hugetlb_pages: { "2M": 0, "1G": 0 } } },
    );
    expect(look(m, A)).toBeNull();
    const pte = look(m, A + K, FW_MIGRATION)!;
    expect(pte).toMatchObject({ page: -1, level: FwLevel.PTE });
    expect(m.phys.node[pte.folio]).toBe(0);
    const pmd = look(m, A + M2 + K, FW_MIGRATION);
    expect(pmd?.level === FwLevel.PMD || pmd?.level === FwLevel.PTE).toBe(true);
    expect(pmd?.page).toBe(-1);
  });

  it("swap, markers, hwpoison and device entries give null", () => {
    const { machine: m } = runSteps(
      [
        anon("64K"),
        { op: "touch", region: "a", access: "write" },
        { op: "hwpoison", region: "a", off: 0, len: "4K" },
        { op: "device_private", region: "a", off: "4K", len: "4K" },
        { op: "device_exclusive", region: "a", off: "8K", len: "4K" },
        { op: "madvise", region: "a", off: "12K", len: "4K", advice: "pageout" },
        { op: "madvise", region: "a", off: "16K", len: "4K", advice: "guard_install" },
      ],
      { setup: { thp: "never", device_mem: "64M" } },
    );
    for (let k = 0; k < 5; k++) expect(look(m, A + k * K, FW_MIGRATION | FW_ZEROPAGE)).toBeNull();
    expect(look(m, A + 5 * K)).not.toBeNull();
  });

  it("an address outside the VMA gives null; no mmap lock is a LockError naming lock, walker and address", () => {
    const { machine: m } = runSteps([anon("64K"), { op: "touch", region: "a", access: "write" }]);
    const mm = mm0(m);
    const vma = mm.vmas[0]!;
    expect(() => folioWalkStart(m, mm, vma, A, 0)).toThrow(LockError);
    expect(() => folioWalkStart(m, mm, vma, A, 0)).toThrow(
      /folio_walk_start at 0x100000000000: mmap_lock\(p0\) is not held/,
    );
    mm.mmapLock.readLock("test");
    expect(folioWalkStart(m, mm, vma, A + 0x10000, 0)).toBeNull();
    const fw = new FolioWalk();
    expect(folioWalkStart(m, mm, vma, A, 0, fw)).toBe(fw);
    expect(() => folioWalkStart(m, mm, vma, A, 0, fw)).toThrow(/still in use/);
    folioWalkEnd(fw);
    folioWalkEnd(fw);
    mm.mmapLock.readUnlock();
  });
});
