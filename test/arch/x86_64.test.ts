/**
 * Laws of the x86_64 entry codec, in the spirit of mm/debug_vm_pgtable.c, plus
 * the worked values of arch.md §9. BigInt is used here only as an independent
 * oracle for the 64-bit values; src/arch must not use it.
 *
 * fast-check runs seeded: FC_SEED (default 42) and FC_RUNS (default 1000);
 * a failure report prints the seed and counterexample path.
 */
import { readdirSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { entryFromHex, entryToHex } from "../../src/arch/entry.js";
import { ARCH_NAMES, getArch } from "../../src/arch/index.js";
import { type ArchCodec, Level, PteFlag, SwpFlag } from "../../src/arch/types.js";
import { x86_64, x86_64La57 } from "../../src/arch/x86_64.js";

const FC = {
  seed: Number(process.env.FC_SEED ?? 42),
  numRuns: Number(process.env.FC_RUNS ?? 1000),
};

const { PTE, PMD, PUD } = Level;
const ALL_FLAGS = 0x3ff;
/** What a PROT_NONE leaf keeps: no access bits (WRITE, EXEC, KERNEL, GLOBAL). */
const PROTNONE_KEPT = ALL_FLAGS & ~(PteFlag.WRITE | PteFlag.EXEC | PteFlag.KERNEL | PteFlag.GLOBAL);
const M40 = (1n << 40n) - 1n;
const M50 = (1n << 50n) - 1n;
const SAVED_DIRTY = 1n << 58n;
const NX = 1n << 63n;
const D = 0x40n;
const LEAF_ORDER: Record<number, bigint> = { [PTE]: 0n, [PMD]: 9n, [PUD]: 18n };

// ---- helpers: run an encoder into a sentinel-filled table, read the value as BigInt ----
const SENTINEL = 0xa5a5a5a5;
type Writer = (dst: Uint32Array, idx: number) => void;
function write(w: Writer): { lo: number; hi: number; v: bigint } {
  const t = new Uint32Array(6).fill(SENTINEL);
  w(t, 1);
  expect([t[0], t[1], t[4], t[5]]).toEqual([SENTINEL, SENTINEL, SENTINEL, SENTINEL]);
  const lo = t[2]!;
  const hi = t[3]!;
  return { lo, hi, v: (BigInt(hi) << 32n) | BigInt(lo) };
}
const leaf = (a: ArchCodec, pfn: number, flags: number, level: Level) =>
  write((t, i) => a.encodeLeaf(t, i, pfn, flags, level));
const swp = (a: ArchCodec, type: number, off: number, f: number, level: Level = PTE) =>
  write((t, i) => a.encodeSwp(t, i, type, off, f, level));
const hex = (v: bigint) => `0x${v.toString(16).padStart(16, "0")}`;
const split = (v: bigint) => ({ lo: Number(v & 0xffffffffn), hi: Number(v >> 32n) });

/** Oracle: a present/PROT_NONE leaf from the bit table of arch.md §1.2-1.4, in BigInt. */
function refLeaf(pfn: bigint, flags: number, level: Level): bigint {
  const order = LEAF_ORDER[level]!;
  let field = (pfn >> order) << order;
  let v = level === PTE ? 0n : 0x80n; // PSE
  let writable = false;
  if (flags & PteFlag.PROTNONE) {
    v |= 0x100n;
    field = ((~field & M40) >> order) << order; // L1TF inversion within the leaf PFN mask
  } else {
    v |= 1n;
    if (flags & PteFlag.WRITE) {
      v |= 2n;
      writable = true;
    }
    if (!(flags & PteFlag.KERNEL)) v |= 4n;
    if (flags & PteFlag.GLOBAL) v |= 0x100n;
    if (!(flags & PteFlag.EXEC)) v |= NX;
  }
  if (flags & PteFlag.YOUNG) v |= 0x20n;
  if (flags & PteFlag.DIRTY) v |= writable ? D : SAVED_DIRTY;
  if (flags & PteFlag.SPECIAL) v |= 0x200n;
  if (flags & PteFlag.UFFD_WP) v |= 0x400n;
  if (flags & PteFlag.SOFT_DIRTY) v |= 0x800n;
  return v | (field << 12n);
}

/** Oracle: the swap format of arch.md §1.6, `((~offset) << 14 >> 5) | type << 59`. */
function refSwp(type: number, offset: bigint, f: number): bigint {
  let v = ((~offset & M50) << 9n) | (BigInt(type) << 59n);
  if (f & SwpFlag.SOFT_DIRTY) v |= 2n;
  if (f & SwpFlag.UFFD_WP) v |= 4n;
  if (f & SwpFlag.EXCLUSIVE) v |= 8n;
  return v;
}

/** Expected PteFlag view after a round trip: PROT_NONE entries keep no access bits. */
const decodedFlags = (f: number) => (f & PteFlag.PROTNONE ? f & PROTNONE_KEPT : f);

// ---- arbitraries ----
const pfnArb = fc.bigInt({ min: 0n, max: M40 });
const levelArb = fc.constantFrom<Level>(PTE, PMD, PUD);
const flagsArb = fc.integer({ min: 0, max: ALL_FLAGS });
const presentFlagsArb = flagsArb.map((f) => f & ~PteFlag.PROTNONE);
const alignedLeafArb = fc
  .tuple(pfnArb, levelArb)
  .map(([p, level]) => ({ level, pfn: Number((p >> LEAF_ORDER[level]!) << LEAF_ORDER[level]!) }));
const typeArb = fc.integer({ min: 0, max: 31 });
const offsetArb = fc.bigInt({ min: 0n, max: M50 });
const swpFlagsArb = fc.integer({ min: 0, max: 7 });

/** Decode a leaf, change its flags, encode it again: the model of pte_mk*() / pte_wrprotect(). */
function remake(a: ArchCodec, e: { lo: number; hi: number }, level: Level, set: number, clear = 0) {
  const f = (a.leafFlags(e.lo, e.hi, level) | set) & ~clear;
  return leaf(a, a.leafPfn(e.lo, e.hi, level), f, level);
}

describe.each([
  ["x86_64", x86_64],
  ["x86_64-la57", x86_64La57],
])("%s entry codec", (_name, a) => {
  describe("present leaves", () => {
    it("encodes leaves bit for bit as the arch.md §1.2 table says (pfn_pte, pfn_pmd, pfn_pud)", () => {
      fc.assert(
        fc.property(pfnArb, flagsArb, levelArb, (pfn, flags, level) => {
          expect(hex(leaf(a, Number(pfn), flags, level).v)).toBe(hex(refLeaf(pfn, flags, level)));
        }),
        FC,
      );
    });

    it("round-trips PFN and flags of a leaf at pte, pmd and pud level", () => {
      fc.assert(
        fc.property(alignedLeafArb, flagsArb, ({ pfn, level }, flags) => {
          const e = leaf(a, pfn, flags, level);
          expect(a.leafPfn(e.lo, e.hi, level)).toBe(pfn);
          expect(a.leafFlags(e.lo, e.hi, level)).toBe(decodedFlags(flags));
          expect(a.isLeaf(e.lo, e.hi, level)).toBe(true);
          expect(a.isNone(e.lo, e.hi, level)).toBe(false);
        }),
        FC,
      );
    });

    it("aligns a huge leaf's PFN down to the leaf size, as pfn_pmd()/pfn_pud() mask it", () => {
      fc.assert(
        fc.property(pfnArb, flagsArb, fc.constantFrom<Level>(PMD, PUD), (pfn, flags, level) => {
          const e = leaf(a, Number(pfn), flags, level);
          const order = LEAF_ORDER[level]!;
          expect(a.leafPfn(e.lo, e.hi, level)).toBe(Number((pfn >> order) << order));
          expect(e.v & 0x1000n).toBe(0n); // _PAGE_PAT_LARGE never set by a PFN
        }),
        FC,
      );
    });

    it("makes every present leaf pte_present/pmd_present/pud_present, and a PMD leaf pmd_leaf", () => {
      fc.assert(
        fc.property(alignedLeafArb, presentFlagsArb, ({ pfn, level }, flags) => {
          const e = leaf(a, pfn, flags, level);
          expect(e.lo & 1).toBe(1);
          expect(a.isPresent(e.lo, e.hi, level)).toBe(true);
          expect(a.isLeaf(e.lo, e.hi, level)).toBe(true);
          expect((e.lo & 0x80) !== 0).toBe(level !== PTE); // PSE only on huge leaves
        }),
        FC,
      );
    });

    it("is young after pte_mkyoung and old after pte_mkold", () => {
      fc.assert(
        fc.property(alignedLeafArb, flagsArb, ({ pfn, level }, flags) => {
          const young = remake(a, leaf(a, pfn, flags, level), level, PteFlag.YOUNG);
          expect(a.leafFlags(young.lo, young.hi, level) & PteFlag.YOUNG).toBeTruthy();
          expect(young.lo & 0x20).toBe(0x20);
          const old = remake(a, young, level, 0, PteFlag.YOUNG);
          expect(a.leafFlags(old.lo, old.hi, level) & PteFlag.YOUNG).toBe(0);
          expect(old.lo & 0x20).toBe(0);
          expect(a.leafPfn(old.lo, old.hi, level)).toBe(pfn);
        }),
        FC,
      );
    });

    it("is dirty after pte_mkdirty: D when writable, SavedDirty when write-protected", () => {
      fc.assert(
        fc.property(alignedLeafArb, flagsArb, ({ pfn, level }, flags) => {
          const e = remake(a, leaf(a, pfn, flags, level), level, PteFlag.DIRTY);
          expect(a.leafFlags(e.lo, e.hi, level) & PteFlag.DIRTY).toBeTruthy();
          const writable = (a.leafFlags(e.lo, e.hi, level) & PteFlag.WRITE) !== 0;
          expect((e.v & D) !== 0n).toBe(writable);
          expect((e.v & SAVED_DIRTY) !== 0n).toBe(!writable);
        }),
        FC,
      );
    });

    it("is clean after pte_mkclean, with neither D nor SavedDirty", () => {
      fc.assert(
        fc.property(alignedLeafArb, flagsArb, ({ pfn, level }, flags) => {
          const e = remake(a, leaf(a, pfn, flags, level), level, 0, PteFlag.DIRTY);
          expect(a.leafFlags(e.lo, e.hi, level) & PteFlag.DIRTY).toBe(0);
          expect(e.v & (D | SAVED_DIRTY)).toBe(0n);
        }),
        FC,
      );
    });

    it("keeps dirty in SavedDirty when a dirty PTE is write-protected (pte_wrprotect)", () => {
      fc.assert(
        fc.property(alignedLeafArb, presentFlagsArb, ({ pfn, level }, flags) => {
          const rw = leaf(a, pfn, flags | PteFlag.WRITE | PteFlag.DIRTY, level);
          expect(rw.v & (D | SAVED_DIRTY)).toBe(D);
          const ro = remake(a, rw, level, 0, PteFlag.WRITE);
          const f = a.leafFlags(ro.lo, ro.hi, level);
          expect(f & PteFlag.WRITE).toBe(0);
          expect(f & PteFlag.DIRTY).toBeTruthy();
          expect(ro.v & (D | SAVED_DIRTY)).toBe(SAVED_DIRTY);
          expect(ro.v & 2n).toBe(0n);
          expect(a.leafPfn(ro.lo, ro.hi, level)).toBe(pfn);
        }),
        FC,
      );
    });

    it("moves SavedDirty back to D when a write-protected dirty entry is made writable (pte_mkwrite)", () => {
      fc.assert(
        fc.property(alignedLeafArb, presentFlagsArb, ({ pfn, level }, flags) => {
          const ro = leaf(a, pfn, (flags | PteFlag.DIRTY) & ~PteFlag.WRITE, level);
          expect(ro.v & (D | SAVED_DIRTY)).toBe(SAVED_DIRTY);
          const rw = remake(a, ro, level, PteFlag.WRITE);
          expect(rw.v & (D | SAVED_DIRTY)).toBe(D);
          expect(a.leafFlags(rw.lo, rw.hi, level) & (PteFlag.WRITE | PteFlag.DIRTY)).toBe(
            PteFlag.WRITE | PteFlag.DIRTY,
          );
        }),
        FC,
      );
    });

    it("sets NX exactly when EXEC is absent and USER exactly when KERNEL is absent", () => {
      fc.assert(
        fc.property(alignedLeafArb, presentFlagsArb, ({ pfn, level }, flags) => {
          const e = leaf(a, pfn, flags, level);
          expect((e.v & NX) !== 0n).toBe((flags & PteFlag.EXEC) === 0);
          expect((e.lo & 4) !== 0).toBe((flags & PteFlag.KERNEL) === 0);
        }),
        FC,
      );
    });
  });

  describe("PROT_NONE leaves and L1TF inversion", () => {
    it("round-trips the PFN of a PROT_NONE leaf while its raw PFN field is inverted", () => {
      fc.assert(
        fc.property(alignedLeafArb, flagsArb, ({ pfn, level }, flags) => {
          const e = leaf(a, pfn, flags | PteFlag.PROTNONE, level);
          const order = LEAF_ORDER[level]!;
          const rawField = (e.v >> 12n) & M40;
          expect(rawField).toBe(((~BigInt(pfn) & M40) >> order) << order);
          expect(e.v & 0x101n).toBe(0x100n); // P clear, PROTNONE set
          expect(a.leafPfn(e.lo, e.hi, level)).toBe(pfn);
          expect(a.leafFlags(e.lo, e.hi, level)).toBe((flags | PteFlag.PROTNONE) & PROTNONE_KEPT);
        }),
        FC,
      );
    });

    it("keeps PROT_NONE PTEs and PMDs present (pte_present/pmd_present) but not PUDs (pud_present tests only P)", () => {
      fc.assert(
        fc.property(alignedLeafArb, flagsArb, ({ pfn, level }, flags) => {
          const e = leaf(a, pfn, flags | PteFlag.PROTNONE, level);
          expect(a.isPresent(e.lo, e.hi, level)).toBe(level !== PUD);
          expect(a.isNone(e.lo, e.hi, level)).toBe(false);
        }),
        FC,
      );
    });

    it("keeps an invalidated huge PMD (pmd_mkinvalid: P and PROTNONE clear, PSE kept) present and a leaf", () => {
      fc.assert(
        fc.property(pfnArb, (p) => {
          const pfn = Number((p >> 9n) << 9n);
          const valid = leaf(a, pfn, PteFlag.WRITE | PteFlag.YOUNG | PteFlag.DIRTY, PMD);
          const inv = split(
            (valid.v & ~(0x101n | (M40 << 12n))) | (((~BigInt(pfn) & M40) >> 9n) << 21n),
          );
          expect(a.isPresent(inv.lo, inv.hi, PMD)).toBe(true);
          expect(a.isLeaf(inv.lo, inv.hi, PMD)).toBe(true);
          expect(a.leafPfn(inv.lo, inv.hi, PMD)).toBe(pfn);
        }),
        FC,
      );
    });
  });

  describe("swap-format entries", () => {
    it("encodes swap entries bit for bit as arch.md §1.6 says (__swp_entry)", () => {
      fc.assert(
        fc.property(typeArb, offsetArb, swpFlagsArb, (type, off, f) => {
          expect(hex(swp(a, type, Number(off), f).v)).toBe(hex(refSwp(type, off, f)));
        }),
        FC,
      );
    });

    it("round-trips type, offset and every SwpFlag subset at pte, pmd and pud level", () => {
      fc.assert(
        fc.property(typeArb, offsetArb, swpFlagsArb, levelArb, (type, off, f, level) => {
          const e = swp(a, type, Number(off), f, level);
          expect(a.swpType(e.lo, e.hi, level)).toBe(type);
          expect(a.swpOffset(e.lo, e.hi, level)).toBe(Number(off));
          expect(a.swpFlags(e.lo, e.hi, level)).toBe(f);
        }),
        FC,
      );
    });

    it("makes a swap entry neither none nor present at pte, pmd and pud level", () => {
      const notAllOnes = fc.bigInt({ min: 0n, max: M50 - 1n });
      fc.assert(
        fc.property(typeArb, notAllOnes, swpFlagsArb, levelArb, (type, off, f, level) => {
          const e = swp(a, type, Number(off), f, level);
          expect(e.v & 0x181n).toBe(0n); // P, PSE, PROTNONE all clear
          expect(a.isNone(e.lo, e.hi, level)).toBe(false);
          expect(a.isPresent(e.lo, e.hi, level)).toBe(false);
        }),
        FC,
      );
    });

    it("maps only type 0 with the all-ones offset and no flags to the zero entry", () => {
      const e = swp(a, 0, 2 ** 50 - 1, 0);
      expect(e.v).toBe(0n);
      expect(a.isNone(e.lo, e.hi, PTE)).toBe(true);
    });

    it("stores a migration entry's PFN and young/dirty bits within the offset (SWP_PFN_BITS)", () => {
      const bits = a.geometry.swpPfnBits;
      fc.assert(
        fc.property(
          fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n }),
          fc.nat(3),
          (pfn, ad) => {
            const off = Number(pfn) + ad * 2 ** bits;
            const e = swp(a, 27, off, 0);
            const back = a.swpOffset(e.lo, e.hi, PTE);
            expect(back % 2 ** bits).toBe(Number(pfn));
            expect(Math.floor(back / 2 ** bits)).toBe(ad);
          },
        ),
        FC,
      );
      expect(a.migrationSupportsAd).toBe(true);
    });
  });

  describe("none and table entries", () => {
    it("treats zero apart from A and D as none and not present at every level (pte_none ignores 0x60)", () => {
      for (const lo of [0, 0x20, 0x40, 0x60]) {
        for (const level of [Level.PGD, Level.P4D, PUD, PMD, PTE] as Level[]) {
          expect(a.isNone(lo, 0, level)).toBe(true);
          expect(a.isPresent(lo, 0, level)).toBe(false);
        }
      }
    });

    it("treats any entry with a bit outside A and D as not none", () => {
      fc.assert(
        fc.property(fc.nat(0xffffffff), fc.nat(0xffffffff), levelArb, (lo, hi, level) => {
          fc.pre((lo & ~0x60) !== 0 || hi !== 0);
          expect(a.isNone(lo, hi, level)).toBe(false);
        }),
        FC,
      );
    });

    it("encodes table entries as _PAGE_TABLE (0x67) or _KERNPG_TABLE (0x63) plus the table address", () => {
      const tableLevels = fc.constantFrom<Level>(Level.PGD, Level.P4D, PUD, PMD);
      fc.assert(
        fc.property(pfnArb, tableLevels, fc.boolean(), (pfn, level, kernel) => {
          const e = write((t, i) => a.encodeTable(t, i, Number(pfn), level, kernel));
          expect(hex(e.v)).toBe(hex((pfn << 12n) | (kernel ? 0x63n : 0x67n)));
          expect(a.tablePfn(e.lo, e.hi, level)).toBe(Number(pfn));
          expect(a.isPresent(e.lo, e.hi, level)).toBe(true);
          expect(a.isLeaf(e.lo, e.hi, level)).toBe(false);
          expect(a.isNone(e.lo, e.hi, level)).toBe(false);
        }),
        FC,
      );
    });

    it("inverts nothing in the zero entry (__pte_needs_invert needs a non-zero value)", () => {
      for (const level of [PTE, PMD, PUD] as Level[]) expect(a.leafPfn(0, 0, level)).toBe(0);
    });

    it("refuses leaves at pgd/p4d level and tables at pte level", () => {
      const t = new Uint32Array(2);
      expect(() => a.encodeLeaf(t, 0, 0, 0, Level.PGD)).toThrow(RangeError);
      expect(() => a.encodeLeaf(t, 0, 0, 0, Level.P4D)).toThrow(RangeError);
      expect(() => a.encodeTable(t, 0, 0, PTE, false)).toThrow(RangeError);
    });
  });
});

describe("x86_64 worked values (arch.md §9, PFN 0x123456)", () => {
  const a = x86_64;
  const F = PteFlag;
  const anon = F.WRITE | F.YOUNG | F.DIRTY;
  const SD = F.SOFT_DIRTY;
  const ro = F.YOUNG | F.DIRTY;
  const numa = F.PROTNONE | F.YOUNG | F.DIRTY;
  const migAd = 0x123456 + 3 * 2 ** 34; // PFN | SWP_MIG_YOUNG | SWP_MIG_DIRTY (SWP_PFN_BITS 34)
  const leaves: [string, number, number, Level, string][] = [
    ["anon RW after write fault", 0x123456, anon | SD, PTE, "0x8000000123456867"],
    ["anon RW after write fault, no soft-dirty", 0x123456, anon, PTE, "0x8000000123456067"],
    ["parent PTE after fork (D to SavedDirty)", 0x123456, ro | SD, PTE, "0x8400000123456825"],
    ["parent PTE after fork, no soft-dirty", 0x123456, ro, PTE, "0x8400000123456025"],
    ["NUMA-hint PROT_NONE PTE", 0x123456, numa | SD, PTE, "0x040ffffedcba9920"],
    ["NUMA-hint PTE, no soft-dirty", 0x123456, numa, PTE, "0x040ffffedcba9120"],
    ["THP anon PMD after write", 0x200, anon | SD, PMD, "0x80000000002008e7"],
    ["THP anon PMD, no soft-dirty", 0x200, anon, PMD, "0x80000000002000e7"],
    ["huge zero PMD", 0x200, F.YOUNG | F.SPECIAL, PMD, "0x80000000002002a5"],
    ["small zero page PTE", 0, F.YOUNG | F.SPECIAL, PTE, "0x8000000000000225"],
    ["PAGE_SHARED", 0, F.WRITE | F.YOUNG, PTE, "0x8000000000000027"],
    ["PAGE_SHARED_EXEC", 0, F.WRITE | F.YOUNG | F.EXEC, PTE, "0x0000000000000027"],
    ["PAGE_READONLY", 0, F.YOUNG, PTE, "0x8000000000000025"],
    ["PAGE_READONLY_EXEC", 0, F.YOUNG | F.EXEC, PTE, "0x0000000000000025"],
  ];
  it.each(leaves)("encodes the %s", (_what, pfn, flags, level, expected) => {
    expect(hex(leaf(a, pfn, flags, level).v)).toBe(expected);
  });

  const X = SwpFlag.EXCLUSIVE;
  const swaps: [string, number, number, number, string][] = [
    ["swap type 0, offset 0x1234", 0, 0x1234, 0, "0x07ffffffffdb9600"],
    [
      "swap 0/0x1234 + exclusive + swp-soft-dirty",
      0,
      0x1234,
      X | SwpFlag.SOFT_DIRTY,
      "0x07ffffffffdb960a",
    ],
    ["swap 0/0x1234 + exclusive", 0, 0x1234, X, "0x07ffffffffdb9608"],
    ["swap type 1, offset 0x1234", 1, 0x1234, 0, "0x0fffffffffdb9600"],
    ["PTE marker uffd-wp (type 31, offset 1)", 31, 1, 0, "0xfffffffffffffc00"],
    ["PTE marker guard (type 31, offset 4)", 31, 4, 0, "0xfffffffffffff600"],
    ["migration-write young+dirty (bits 34, 35)", 27, migAd, 0, "0xdfffe7ffdb975200"],
  ];
  it.each(swaps)("encodes the %s", (_what, type, offset, f, expected) => {
    expect(hex(swp(a, type, offset, f).v)).toBe(expected);
  });

  it("decodes the worked values back to their fields", () => {
    const at = (h: string) => entryFromHex(h);
    let e = at("0x040ffffedcba9920");
    expect(a.leafPfn(e.lo, e.hi, PTE)).toBe(0x123456);
    expect(a.leafFlags(e.lo, e.hi, PTE)).toBe(F.PROTNONE | F.YOUNG | F.DIRTY | F.SOFT_DIRTY);
    e = at("0x8400000123456825");
    expect(a.leafFlags(e.lo, e.hi, PTE)).toBe(F.YOUNG | F.DIRTY | F.SOFT_DIRTY);
    e = at("0x07ffffffffdb960a");
    expect([a.swpType(e.lo, e.hi, PTE), a.swpOffset(e.lo, e.hi, PTE)]).toEqual([0, 0x1234]);
    expect(a.swpFlags(e.lo, e.hi, PTE)).toBe(SwpFlag.EXCLUSIVE | SwpFlag.SOFT_DIRTY);
    e = at("0xdfffe7ffdb975200");
    expect(a.swpType(e.lo, e.hi, PTE)).toBe(27);
    expect(a.swpOffset(e.lo, e.hi, PTE)).toBe(migAd);
    e = at("0x80000000002002a5");
    expect(a.isLeaf(e.lo, e.hi, PMD) && a.isPresent(e.lo, e.hi, PMD)).toBe(true);
    expect(a.leafPfn(e.lo, e.hi, PMD)).toBe(0x200);
    expect(a.leafFlags(e.lo, e.hi, PMD)).toBe(F.YOUNG | F.SPECIAL);
    // PAGE_NONE (0x120) as a bare protection: PROT_NONE, young, not writable.
    expect(a.leafFlags(0x120, 0, PTE)).toBe(F.PROTNONE | F.YOUNG);
  });
});

describe("x86_64 geometry", () => {
  it("describes 4-level paging with the P4D folded at run time", () => {
    const g = x86_64.geometry;
    expect(g.levels.map((l) => [l.level, l.shift, l.entries, l.leafAllowed, l.folded])).toEqual([
      [Level.PGD, 39, 512, false, false],
      [Level.P4D, 39, 1, false, true],
      [PUD, 30, 512, true, false],
      [PMD, 21, 512, true, false],
      [PTE, 12, 512, true, false],
    ]);
    expect([g.name, g.pageShift, g.pageSize, g.userTop, g.swpPfnBits]).toEqual([
      "x86_64",
      12,
      4096,
      2 ** 47,
      34,
    ]);
  });

  it("describes 5-level paging (LA57) with a 57-bit VA", () => {
    const g = x86_64La57.geometry;
    expect(g.levels.map((l) => [l.shift, l.entries, l.folded])).toEqual([
      [48, 512, false],
      [39, 512, false],
      [30, 512, false],
      [21, 512, false],
      [12, 512, false],
    ]);
    expect([g.name, g.userTop, g.swpPfnBits]).toEqual(["x86_64-la57", 2 ** 56, 40]);
  });

  it.each([x86_64, x86_64La57])(
    "offers 2M/1G hugetlb and mTHP orders 9..2 ($geometry.name)",
    (a) => {
      const g = a.geometry;
      expect(g.hugetlbSizes).toEqual([
        { name: "2M", bytes: 2 ** 21, level: PMD, contig: 1 },
        { name: "1G", bytes: 2 ** 30, level: PUD, contig: 1 },
      ]);
      expect(g.mthpOrders).toEqual([9, 8, 7, 6, 5, 4, 3, 2]);
      expect([g.pmdShift, g.pudShift]).toEqual([21, 30]);
      const sum = g.levels.reduce((s, l) => (l.folded ? s : s + Math.log2(l.entries)), g.pageShift);
      expect(sum).toBe(g.levels[0]!.shift + 9);
    },
  );
});

describe("arch registry and entry helpers", () => {
  it("finds both x86_64 codecs by name", () => {
    expect(ARCH_NAMES).toEqual(["x86_64", "x86_64-la57"]);
    expect(getArch("x86_64")).toBe(x86_64);
    expect(getArch("x86_64-la57")).toBe(x86_64La57);
  });

  it("rejects an unknown name and lists the known ones", () => {
    expect(() => getArch("arm64")).toThrow(/unknown architecture "arm64".*x86_64, x86_64-la57/);
  });

  it("formats and parses entries as 16 lowercase hex digits", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (v) => {
        const { lo, hi } = split(v);
        expect(entryToHex(lo, hi)).toBe(hex(v));
        expect(entryToHex(lo | 0, hi | 0)).toBe(hex(v)); // signed halves too
        expect(entryFromHex(hex(v))).toEqual({ lo, hi });
      }),
      FC,
    );
    expect(entryFromHex("2a5")).toEqual({ lo: 0x2a5, hi: 0 });
    expect(() => entryFromHex("0x1ffffffffffffffff")).toThrow();
  });

  it("keeps BigInt out of src/arch", () => {
    const dir = new URL("../../src/arch/", import.meta.url);
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
      const code = readFileSync(new URL(file, dir), "utf8");
      expect(code, file).not.toMatch(/\bBigInt\s*\(|\b0x[0-9a-f_]+n\b|\b\d[\d_]*n\b|:\s*bigint\b/i);
    }
  });
});
