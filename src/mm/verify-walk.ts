import { Level, PteFlag } from "../arch/types.js";
import type { Machine } from "./machine.js";
import type { MmStruct } from "./mm.js";
import { PG } from "./pageflags.js";
import type { PageTable } from "./pgtable.js";
import { RAM_BASE_PFN } from "./phys.js";
import { liveMms } from "./verify.js";
import {
  flagNames,
  hex,
  type MmCounts,
  mmName,
  type Problems,
  type Scratch,
  type WalkResult,
} from "./verify-common.js";
import { VM, type Vma } from "./vma.js";

/** The verifier's page-table walk: every live mm, one pass, counts recomputed. */

// ---------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------

export function walkAll(m: Machine, sc: Scratch, p: Problems): WalkResult {
  const res: WalkResult = {
    counts: [],
    entire: new Map(),
    migrating: new Set(),
    reached: new Map(),
    swapRefs: new Map(),
  };
  for (const mm of liveMms(m)) {
    const c: MmCounts = {
      mm,
      anon: 0,
      file: 0,
      shmem: 0,
      swapEnts: 0,
      tables: 0,
      largeMaps: new Map(),
    };
    res.counts.push(c);
    new MmWalker(m, mm, c, sc, res, p).run();
  }
  return res;
}

/** Walks one mm's page tables in address order, with a VMA cursor. */
export class MmWalker {
  private vi = 0;
  private readonly vmas: Vma[];
  private readonly levelOrder: Level[];
  private readonly pfnMask: number;

  constructor(
    private readonly m: Machine,
    private readonly mm: MmStruct,
    private readonly c: MmCounts,
    private readonly sc: Scratch,
    private readonly res: WalkResult,
    private readonly p: Problems,
  ) {
    this.vmas = mm.vmas;
    const geo = m.arch.geometry;
    this.levelOrder = geo.levels.filter((l) => !l.folded).map((l) => l.level);
    this.pfnMask = 2 ** geo.swpPfnBits;
  }

  run(): void {
    // VMAs must be sorted and disjoint for the cursor (and for the kernel's maple tree).
    for (let i = 1; i < this.vmas.length; i++) {
      const a = this.vmas[i - 1]!;
      const b = this.vmas[i]!;
      if (a.end > b.start) {
        this.p.add(
          "vma-order",
          `${mmName(this.mm)}: VMAs [${hex(a.start)}, ${hex(a.end)}) and [${hex(b.start)}, ${hex(b.end)}) overlap or are out of order`,
        );
      }
    }
    for (const v of this.vmas) {
      if (v.start >= v.end) {
        this.p.add("vma-order", `${mmName(this.mm)}: empty VMA at ${hex(v.start)}`);
      }
    }
    this.table(this.mm.pt.root, 0, this.levelOrder[0]!);
  }

  /** The VMA containing `addr` (addresses must come in increasing order). */
  private vmaAt(addr: number): Vma | null {
    const v = this.vmas;
    while (this.vi < v.length && v[this.vi]!.end <= addr) this.vi++;
    const cur = v[this.vi];
    return cur !== undefined && cur.start <= addr ? cur : null;
  }

  private childLevel(level: Level): Level | -1 {
    const i = this.levelOrder.indexOf(level);
    return i + 1 < this.levelOrder.length ? this.levelOrder[i + 1]! : -1;
  }

  private table(t: PageTable, base: number, expectLevel: Level): void {
    const { m, mm, p, res } = this;
    const prev = res.reached.get(t.pfn);
    if (prev !== undefined) {
      p.add(
        "pt-shared",
        `page table at pfn ${hex(t.pfn)} is reached twice (${mmName(prev)} and ${mmName(mm)})`,
      );
      return;
    }
    res.reached.set(t.pfn, mm);
    this.c.tables++;
    if (t.level !== expectLevel) {
      p.add(
        "pt-level",
        `${mmName(mm)}: table at pfn ${hex(t.pfn)} (va ${hex(base)}) has level ${t.level}, its parent expects ${expectLevel}`,
      );
    }
    if ((m.phys.flags[t.pfn]! & PG.PGTABLE) === 0) {
      p.add(
        "pt-flag",
        `${mmName(mm)}: table at pfn ${hex(t.pfn)} lacks PG_PGTABLE (flags ${flagNames(m.phys.flags[t.pfn]!)})`,
      );
    }
    const used = t.level === Level.PTE ? this.pteTable(t, base) : this.upperTable(t, base);
    if (used !== t.used) {
      p.add(
        "pt-used",
        `${mmName(mm)}: table at pfn ${hex(t.pfn)} (level ${t.level}, va ${hex(base)}): used is ${t.used}, ${used} entries are not none`,
      );
    }
  }

  private upperTable(t: PageTable, base: number): number {
    const { m, mm, p } = this;
    const arch = m.arch;
    const w = t.words;
    const level = t.level;
    const geo = arch.geometry.levels[level]!;
    const span = 2 ** geo.shift;
    const n = t.entries;
    const child = this.childLevel(level);
    let used = 0;
    for (let i = 0; i < n; i++) {
      const lo = w[2 * i]!;
      const hi = w[2 * i + 1]!;
      if (arch.isNone(lo, hi, level)) continue;
      used++;
      const addr = base + i * span;
      const present = arch.isPresent(lo, hi, level);
      if (geo.leafAllowed && (!present || arch.isLeaf(lo, hi, level))) {
        if (present) this.presentLeaf(lo, hi, level, addr, span);
        else this.swpLeaf(lo, hi, level, addr, span);
        continue;
      }
      if (!present) {
        p.add(
          "pt-bad-entry",
          `${mmName(mm)}: non-present entry ${hex(hi)}:${hex(lo)} at level ${level} (va ${hex(addr)}) where no leaf may sit`,
        );
        continue;
      }
      if (child === -1) {
        p.add("pt-bad-entry", `${mmName(mm)}: table entry below the last level at ${hex(addr)}`);
        continue;
      }
      const cpfn = arch.tablePfn(lo, hi, level);
      const c = m.tables.get(cpfn);
      if (c === undefined) {
        p.add(
          "pt-unregistered",
          `${mmName(mm)}: entry at level ${level} (va ${hex(addr)}) points to pfn ${hex(cpfn)}, which is not a registered page table`,
        );
        continue;
      }
      this.table(c, addr, child);
    }
    return used;
  }

  private pteTable(t: PageTable, base: number): number {
    const arch = this.m.arch;
    const w = t.words;
    const ps = arch.geometry.pageSize;
    const n = t.entries;
    let used = 0;
    for (let i = 0; i < n; i++) {
      const lo = w[2 * i]!;
      const hi = w[2 * i + 1]!;
      if (arch.isNone(lo, hi, Level.PTE)) continue;
      used++;
      if (arch.isPresent(lo, hi, Level.PTE)) this.presentLeaf(lo, hi, Level.PTE, base + i * ps, ps);
      else this.swpLeaf(lo, hi, Level.PTE, base + i * ps, ps);
    }
    return used;
  }

  /** Count one present leaf mapping `size` bytes at `addr`. */
  private presentLeaf(lo: number, hi: number, level: Level, addr: number, size: number): void {
    const { m, mm, p, c, res } = this;
    const phys = m.phys;
    const vma = this.vmaAt(addr);
    if (vma === null || vma.end < addr + size) {
      p.add(
        "map-outside-vma",
        `${mmName(mm)}: present entry at ${hex(addr)} (level ${level}) lies outside any VMA`,
      );
    }
    const pfn = m.arch.leafPfn(lo, hi, level);
    const fl = m.arch.leafFlags(lo, hi, level);
    if (pfn === phys.zeroPfn || pfn === phys.hugeZeroPfn) return;
    if ((fl & PteFlag.SPECIAL) !== 0) {
      if (pfn >= RAM_BASE_PFN && pfn < phys.maxPfn && (phys.flags[pfn]! & PG.ZERO) !== 0) return;
      if (vma !== null && (vma.flags & (VM.PFNMAP | VM.MIXEDMAP)) !== 0) return;
      if (pfn < RAM_BASE_PFN || pfn >= phys.maxPfn) return;
      p.add(
        "special",
        `${mmName(mm)}: special entry at ${hex(addr)} maps RAM pfn ${hex(pfn)} in a VMA without VM_PFNMAP/VM_MIXEDMAP`,
      );
      return;
    }
    if (pfn < RAM_BASE_PFN || pfn >= phys.maxPfn) {
      p.add("pfn-range", `${mmName(mm)}: entry at ${hex(addr)} maps pfn ${hex(pfn)} outside RAM`);
      return;
    }
    const f = phys.flags[pfn]!;
    if ((f & PG.ALLOCATED) === 0) {
      p.add("map-free", `${mmName(mm)}: entry at ${hex(addr)} maps free frame ${hex(pfn)}`);
      return;
    }
    if ((f & PG.ZERO) !== 0) {
      p.add(
        "zero-nonspecial",
        `${mmName(mm)}: a zero-folio page ${hex(pfn)} is mapped at ${hex(addr)} without being the zero page`,
      );
      return;
    }
    const head = phys.folioHead(pfn);
    const hf = phys.flags[head]!;
    const order = phys.order[head]!;
    const nr = size / m.arch.geometry.pageSize;
    if (hf & PG.HUGETLB) {
      if (vma !== null && vma.backing.kind !== "hugetlb") {
        p.add(
          "hugetlb-vma",
          `${mmName(mm)}: hugetlb folio ${hex(head)} mapped at ${hex(addr)} in a non-hugetlb VMA`,
        );
      }
      // One hugetlb mapping per huge page (a contiguous group counts once, at its head).
      if (level !== Level.PTE || pfn === head)
        res.entire.set(head, (res.entire.get(head) ?? 0) + 1);
      this.checkOwner(vma, addr, pfn, head, hf);
      return;
    }
    if (vma !== null && vma.backing.kind === "hugetlb") {
      p.add(
        "hugetlb-vma",
        `${mmName(mm)}: non-hugetlb pfn ${hex(pfn)} mapped at ${hex(addr)} in a hugetlb VMA`,
      );
    }
    if (level !== Level.PTE) {
      if (pfn !== head || 2 ** order !== nr) {
        p.add(
          "leaf-folio",
          `${mmName(mm)}: level-${level} leaf at ${hex(addr)} maps pfn ${hex(pfn)} of an order-${order} folio headed ${hex(head)} (expected a whole folio of ${nr} pages)`,
        );
        return;
      }
      res.entire.set(head, (res.entire.get(head) ?? 0) + 1);
      c.largeMaps.set(head, (c.largeMaps.get(head) ?? 0) + 1);
    } else {
      this.sc.pteMap[pfn]!++;
      if (order > 0) c.largeMaps.set(head, (c.largeMaps.get(head) ?? 0) + 1);
    }
    this.account(hf, nr);
    this.checkOwner(vma, addr, pfn, head, hf);
  }

  /** RSS class of a folio (mm_counter()). */
  private account(hf: number, nr: number): void {
    if (hf & PG.ANON) this.c.anon += nr;
    else if (hf & PG.SWAPBACKED) this.c.shmem += nr;
    else this.c.file += nr;
  }

  /** The folio mapped at `addr` belongs where it is mapped. */
  private checkOwner(vma: Vma | null, addr: number, pfn: number, head: number, hf: number): void {
    if (vma === null) return;
    const { m, mm, p } = this;
    const phys = m.phys;
    if (hf & PG.ANON) {
      if (vma.anonVma === null) {
        p.add(
          "anon-no-anonvma",
          `${mmName(mm)}: anonymous pfn ${hex(pfn)} mapped at ${hex(addr)} in VMA [${hex(vma.start)}, ${hex(vma.end)}) without an anon_vma`,
        );
      }
      if (vma.flags & VM.SHARED && (hf & PG.HUGETLB) === 0) {
        p.add(
          "anon-in-shared",
          `${mmName(mm)}: anonymous pfn ${hex(pfn)} mapped at ${hex(addr)} in a shared VMA`,
        );
      }
      return;
    }
    if (hf & PG.PAGECACHE) {
      const space = vma.space;
      if (space === null || phys.mapping[head] !== space.id) {
        p.add(
          "pagecache-vma",
          `${mmName(mm)}: page-cache pfn ${hex(pfn)} of space ${phys.mapping[head]} mapped at ${hex(addr)} in a VMA backed by ${space ? `space ${space.id}` : "anonymous memory"}`,
        );
        return;
      }
      if (space.kind !== "hugetlb" && phys.order[head] === 0) {
        const idx = vma.pageIndex(addr, m.arch.geometry.pageShift);
        if (space.pages[idx] !== pfn) {
          p.add(
            "pagecache-index",
            `${mmName(mm)}: page-cache pfn ${hex(pfn)} is mapped at ${hex(addr)}, file index ${idx}, where the file holds ${space.pages[idx]}`,
          );
        }
      }
      return;
    }
    if (hf & PG.DEVICE) return;
    p.add(
      "map-unowned",
      `${mmName(mm)}: pfn ${hex(pfn)} mapped at ${hex(addr)} is neither anonymous nor page cache (flags ${flagNames(hf)})`,
    );
  }

  /** Count one non-present, non-none leaf. */
  private swpLeaf(lo: number, hi: number, level: Level, addr: number, size: number): void {
    const { m, mm, p, c, res } = this;
    const a = m.arch;
    const st = m.swapTypes;
    const type = a.swpType(lo, hi, level);
    const off = a.swpOffset(lo, hi, level);
    const vma = this.vmaAt(addr);
    if (vma === null || vma.end < addr + size) {
      p.add(
        "map-outside-vma",
        `${mmName(mm)}: swap-format entry (type ${type}) at ${hex(addr)} lies outside any VMA`,
      );
    }
    if (type === st.marker) return;
    if (type < st.maxSwapfiles) {
      const sw = m.swap;
      if (level !== Level.PTE) {
        p.add("swap-level", `${mmName(mm)}: swap entry at level ${level} (va ${hex(addr)})`);
        return;
      }
      if (sw === null || type !== sw.type) {
        p.add(
          "swap-type",
          `${mmName(mm)}: swap entry of type ${type} at ${hex(addr)}, no such swap device`,
        );
        return;
      }
      if (off <= 0 || off >= sw.nrSlots) {
        p.add(
          "swap-offset",
          `${mmName(mm)}: swap entry at ${hex(addr)} has offset ${off} outside the device`,
        );
        return;
      }
      res.swapRefs.set(off, (res.swapRefs.get(off) ?? 0) + 1);
      c.swapEnts++;
      return;
    }
    if (type === st.hwpoison) return;
    const migration =
      type === st.migrationRead || type === st.migrationReadExclusive || type === st.migrationWrite;
    const device = type === st.deviceRead || type === st.deviceWrite || type === st.deviceExclusive;
    if (!migration && !device) {
      p.add(
        "swap-type",
        `${mmName(mm)}: swap-format entry of unknown type ${type} at ${hex(addr)}`,
      );
      return;
    }
    const pfn = off % this.pfnMask;
    const phys = m.phys;
    if (pfn < RAM_BASE_PFN || pfn >= phys.maxPfn) {
      p.add(
        "pfn-range",
        `${mmName(mm)}: pfn-swap entry at ${hex(addr)} names pfn ${hex(pfn)} outside RAM`,
      );
      return;
    }
    if ((phys.flags[pfn]! & PG.ALLOCATED) === 0) {
      p.add(
        "map-free",
        `${mmName(mm)}: pfn-swap entry at ${hex(addr)} names free frame ${hex(pfn)}`,
      );
      return;
    }
    const head = phys.folioHead(pfn);
    const hf = phys.flags[head]!;
    if (hf & PG.HUGETLB) {
      if (device) res.entire.set(head, (res.entire.get(head) ?? 0) + 1);
      else res.migrating.add(head);
      return;
    }
    // Migration and device entries keep the folio's RSS (zap_nonpresent_ptes);
    // device entries also keep its mapcount; migration entries do not.
    const nr = size / m.arch.geometry.pageSize;
    this.account(hf, nr);
    if (migration) {
      res.migrating.add(head);
      return;
    }
    if (level === Level.PTE) {
      this.sc.pteMap[pfn]!++;
      if (phys.order[head]! > 0) c.largeMaps.set(head, (c.largeMaps.get(head) ?? 0) + 1);
    } else {
      res.entire.set(head, (res.entire.get(head) ?? 0) + 1);
      c.largeMaps.set(head, (c.largeMaps.get(head) ?? 0) + 1);
    }
  }
}

// ---------------------------------------------------------------------------
// (a) RSS, (c) page tables
// ---------------------------------------------------------------------------
