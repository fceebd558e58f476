import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Level, SwpFlag } from "../../src/arch/types.js";
import { swapTypes } from "../../src/mm/config.js";
import type { Machine } from "../../src/mm/machine.js";
import { PageTable } from "../../src/mm/pgtable.js";
import {
  Softleaf,
  SoftleafType,
  softleafFromPmd,
  softleafFromPte,
  softleafFromPud,
  softleafHasPfn,
  softleafIsDevice,
  softleafIsDeviceExclusive,
  softleafIsDevicePrivate,
  softleafIsDevicePrivateWrite,
  softleafIsGuardMarker,
  softleafIsHwpoison,
  softleafIsMarker,
  softleafIsMigration,
  softleafIsMigrationDirty,
  softleafIsMigrationWrite,
  softleafIsMigrationYoung,
  softleafIsNone,
  softleafIsNoneMostly,
  softleafIsPoisonMarker,
  softleafIsSwap,
  softleafIsUffdWpMarker,
  softleafMkNone,
  softleafToEntry,
  softleafToFolio,
  softleafToMarker,
  softleafToPfn,
  softleafTypeFromSwpType,
  softleafTypeOfEntry,
  swpTypeOfSoftleafType,
} from "../../src/walk/softleaf.js";
import { A, runSteps } from "../proc/run.js";

const h = (n: number) => `0x${n.toString(16)}`;
const K = 4096;

function leafAt(m: Machine, addr: number, proc = "p0"): Softleaf {
  const mm = m.procs.get(proc)!;
  const t = mm.pt.tableFor(addr, Level.PTE, false)!;
  return softleafFromPte(m, t, mm.pt.index(Level.PTE, addr));
}

describe("softleaf type numbering (include/linux/swap.h, kernel-api.md §4.2)", () => {
  it("the x86_64 reference profile: 28 swap files, migration 28-30, marker 31, no hwpoison or device", () => {
    const st = swapTypes({ memoryFailure: false, devicePrivate: false });
    expect(st.maxSwapfiles).toBe(28);
    expect(softleafTypeFromSwpType(st, 27)).toBe(SoftleafType.SWAP);
    expect(softleafTypeFromSwpType(st, 28)).toBe(SoftleafType.MIGRATION_READ);
    expect(softleafTypeFromSwpType(st, 29)).toBe(SoftleafType.MIGRATION_READ_EXCLUSIVE);
    expect(softleafTypeFromSwpType(st, 30)).toBe(SoftleafType.MIGRATION_WRITE);
    expect(softleafTypeFromSwpType(st, 31)).toBe(SoftleafType.MARKER);
  });

  it("every option on: 24 swap files, hwpoison 24, migration 25-27, device 28-30, marker 31", () => {
    const st = swapTypes({ memoryFailure: true, devicePrivate: true });
    const want = [
      SoftleafType.HWPOISON,
      SoftleafType.MIGRATION_READ,
      SoftleafType.MIGRATION_READ_EXCLUSIVE,
      SoftleafType.MIGRATION_WRITE,
      SoftleafType.DEVICE_PRIVATE_WRITE,
      SoftleafType.DEVICE_PRIVATE_READ,
      SoftleafType.DEVICE_EXCLUSIVE,
      SoftleafType.MARKER,
    ];
    expect(st.maxSwapfiles).toBe(24);
    want.forEach((t, k) => {
      expect(softleafTypeFromSwpType(st, 24 + k)).toBe(t);
      expect(swpTypeOfSoftleafType(st, t)).toBe(24 + k);
    });
  });
});

describe("softleaf_from_pte/pmd/pud round-trip every encodable entry (property)", () => {
  const { machine: m } = runSteps([], { setup: { device_mem: "16M" } });
  const st = m.swapTypes;
  const table = (level: Level) => new PageTable(level, 0, 512);
  it("type, offset and the swp flag bits come back; predicates agree with the type", () => {
    const pfnBits = m.arch.geometry.swpPfnBits;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 31 }),
        fc.integer({ min: 0, max: 2 ** 36 }),
        fc.integer({ min: 0, max: 7 }),
        fc.constantFrom(Level.PTE, Level.PMD, Level.PUD),
        (type, offset, flags, level) => {
          const t = table(level);
          m.arch.encodeSwp(t.words, 3, type, offset, flags, level);
          const from =
            level === Level.PTE
              ? softleafFromPte
              : level === Level.PMD
                ? softleafFromPmd
                : softleafFromPud;
          const e = from(m, t, 3);
          expect(e.swpType).toBe(type);
          expect(e.offset).toBe(offset);
          expect(e.flags).toBe(flags);
          expect(e.type).toBe(softleafTypeFromSwpType(st, type));
          expect(softleafIsSwap(e)).toBe(type < st.maxSwapfiles);
          expect(softleafIsMarker(e)).toBe(type === st.marker);
          expect(softleafIsHwpoison(e)).toBe(type === st.hwpoison);
          expect(softleafIsMigration(e)).toBe(
            type === st.migrationRead ||
              type === st.migrationReadExclusive ||
              type === st.migrationWrite,
          );
          expect(softleafIsDevicePrivate(e)).toBe(
            type === st.deviceRead || type === st.deviceWrite,
          );
          expect(softleafIsDeviceExclusive(e)).toBe(type === st.deviceExclusive);
          expect(softleafHasPfn(e)).toBe(
            softleafIsMigration(e) || softleafIsDevice(e) || softleafIsHwpoison(e),
          );
          if (softleafHasPfn(e)) expect(softleafToPfn(e)).toBe(offset % 2 ** pfnBits);
          else expect(() => softleafToPfn(e)).toThrow();
          // softleaf_to_pte() with the flags puts back the very same entry.
          const u = table(level);
          softleafToEntry(m, e, u.words, 3, level);
          expect([u.words[6], u.words[7]]).toEqual([t.words[6], t.words[7]]);
        },
      ),
      { seed: 4242, numRuns: 400 },
    );
  });

  it("none and present entries give NONE", () => {
    const t = table(Level.PTE);
    expect(softleafIsNone(softleafFromPte(m, t, 0))).toBe(true);
    m.arch.encodeLeaf(t.words, 1, 0x50000, 0, Level.PTE);
    expect(softleafFromPte(m, t, 1).type).toBe(SoftleafType.NONE);
    expect(softleafTypeOfEntry(m, t, 1)).toBe(SoftleafType.NONE);
    expect(softleafMkNone().swpType).toBe(-1);
  });

  it("migration young/dirty live above the PFN; softleafToPfn strips them", () => {
    const bits = m.arch.geometry.swpPfnBits;
    const t = table(Level.PTE);
    m.arch.encodeSwp(t.words, 0, st.migrationWrite, 0x51234 + 3 * 2 ** bits, 0, Level.PTE);
    const e = softleafFromPte(m, t, 0);
    expect(softleafIsMigrationWrite(e)).toBe(true);
    expect(softleafIsMigrationYoung(m, e)).toBe(true);
    expect(softleafIsMigrationDirty(m, e)).toBe(true);
    expect(softleafToPfn(e)).toBe(0x51234);
    const s = new Softleaf();
    m.arch.encodeSwp(t.words, 1, 0, 5, 0, Level.PTE);
    softleafFromPte(m, t, 1, s);
    expect(() => softleafIsMigrationYoung(m, s)).toThrow();
    expect(() => softleafToMarker(s)).toThrow();
  });
});

describe("softleaf on states the ops build", () => {
  it("pageout leaves exclusive swap entries; marker kinds from uffd-wp and guard regions", () => {
    const { machine: m } = runSteps([
      {
        op: "mmap",
        region: "a",
        addr: h(A),
        len: "64K",
        prot: "rw",
        share: "private",
        backing: "anon",
      },
      { op: "touch", region: "a", len: "16K", access: "write" },
      { op: "madvise", region: "a", len: "16K", advice: "pageout" },
      { op: "madvise", region: "a", off: "16K", len: "8K", advice: "guard_install" },
      { op: "uffd_register", region: "a", mode: ["wp"] },
      { op: "uffd_wp", region: "a", off: "32K", len: "8K", enable: true },
    ]);
    const sw = leafAt(m, A);
    expect(softleafIsSwap(sw)).toBe(true);
    expect(sw.flags & SwpFlag.EXCLUSIVE).toBe(SwpFlag.EXCLUSIVE);
    const guard = leafAt(m, A + 4 * K);
    expect(softleafIsGuardMarker(guard)).toBe(true);
    expect(softleafIsUffdWpMarker(guard)).toBe(false);
    expect(softleafToMarker(guard)).toBe(4);
    const wp = leafAt(m, A + 8 * K);
    expect(softleafIsUffdWpMarker(wp)).toBe(true);
    expect(softleafIsPoisonMarker(wp)).toBe(false);
    expect(softleafIsNoneMostly(wp)).toBe(true);
    expect(softleafHasPfn(wp)).toBe(false);
  });

  it("migration, hwpoison and device entries name their page and folio", () => {
    const { machine: m } = runSteps(
      [
        {
          op: "mmap",
          region: "a",
          addr: h(A),
          len: "64K",
          prot: "rw",
          share: "private",
          backing: "anon",
        },
        { op: "touch", region: "a", access: "write" },
        { op: "hwpoison", region: "a", off: 0, len: "8K" },
        { op: "device_private", region: "a", off: "16K", len: "16K" },
        { op: "device_exclusive", region: "a", off: "32K", len: "8K" },
        { op: "mprotect", region: "a", off: "48K", len: "16K", prot: "r" },
        { op: "migrate", region: "a", off: "48K", len: "16K", to_node: 1, phase: "begin" },
      ],
      {
        setup: {
          thp: "never",
          device_mem: "64M",
          nodes: 2,
          node_mem: "1G",
          hugetlb_pages: { "2M": 0, "1G": 0 },
        },
      },
    );
    const hw = leafAt(m, A);
    expect(softleafIsHwpoison(hw)).toBe(true);
    expect(softleafToFolio(m, hw)).toBe(m.phys.folioHead(softleafToPfn(hw)));
    const dp = leafAt(m, A + 4 * K);
    expect(softleafIsDevicePrivate(dp)).toBe(true);
    expect(softleafIsDevicePrivateWrite(dp)).toBe(true);
    expect(softleafIsDeviceExclusive(leafAt(m, A + 8 * K))).toBe(true);
    const mig = leafAt(m, A + 12 * K);
    expect(softleafIsMigration(mig)).toBe(true);
    expect(softleafIsMigrationWrite(mig)).toBe(false);
  });
});
