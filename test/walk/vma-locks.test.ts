import { describe, expect, it } from "vitest";
import { LockError } from "../../src/mm/locks.js";
import { vmaIsWriteLocked } from "../../src/mm/vma.js";
import { walkPageRange, walkPageRangeVma } from "../../src/walk/pagewalk.js";
import { type MmWalkOps, PageWalkLock } from "../../src/walk/types.js";
import { A, runSteps } from "../proc/run.js";

/** Two anonymous VMAs with different protections, so they stay apart. */
function twoVmas() {
  const { machine } = runSteps([
    {
      op: "mmap",
      region: "a",
      addr: "0x100000000000",
      len: "64K",
      prot: "rw",
      share: "private",
      backing: "anon",
    },
    {
      op: "mmap",
      region: "b",
      addr: "0x100000010000",
      len: "64K",
      prot: "r",
      share: "private",
      backing: "anon",
    },
    { op: "touch", region: "a", access: "write" },
  ]);
  const mm = machine.procs.get("p0")!;
  return { m: machine, mm };
}

const ops = (walkLock: PageWalkLock): MmWalkOps<null> => ({ walkLock, pteEntry: () => 0 });

describe("per-VMA locks in the callback walker (process_vma_walk_lock)", () => {
  it("write-locks every VMA it enters under PGWALK_WRLOCK, until the mmap write lock is dropped", () => {
    const { m, mm } = twoVmas();
    mm.mmapLock.writeLock("test");
    expect(walkPageRange(m, mm, A, A + 0x20000, ops(PageWalkLock.WRLOCK), null)).toBe(0);
    expect(mm.vmas.map((v) => vmaIsWriteLocked(mm.mmapLock, v))).toEqual([true, true]);
    mm.mmapLock.writeUnlock();
    expect(mm.vmas.map((v) => vmaIsWriteLocked(mm.mmapLock, v))).toEqual([false, false]);
  });

  it("asserts under PGWALK_WRLOCK_VERIFY that the VMA is already write-locked", () => {
    const { m, mm } = twoVmas();
    mm.mmapLock.writeLock("test");
    expect(() =>
      walkPageRange(m, mm, A, A + 0x20000, ops(PageWalkLock.WRLOCK_VERIFY), null),
    ).toThrowError(/walk_page_range: VMA 100000000000-100000010000 is not write-locked/);
    walkPageRange(m, mm, A, A + 0x20000, ops(PageWalkLock.WRLOCK), null);
    expect(walkPageRange(m, mm, A, A + 0x20000, ops(PageWalkLock.WRLOCK_VERIFY), null)).toBe(0);
    mm.mmapLock.writeUnlock();
  });

  it("walks under the per-VMA read lock alone with PGWALK_VMA_RDLOCK_VERIFY, and refuses without it", () => {
    const { m, mm } = twoVmas();
    const vma = mm.vmas[0]!;
    expect(() =>
      walkPageRangeVma(m, mm, vma, A, A + 0x10000, ops(PageWalkLock.VMA_RDLOCK_VERIFY), null),
    ).toThrow(LockError);
    vma.vmLock.readLock("lock_vma_under_rcu");
    expect(
      walkPageRangeVma(m, mm, vma, A, A + 0x10000, ops(PageWalkLock.VMA_RDLOCK_VERIFY), null),
    ).toBe(0);
    vma.vmLock.readUnlock();
  });
});
