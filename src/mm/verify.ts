import { Level, PteFlag } from "../arch/types.js";
import type { Machine } from "./machine.js";
import type { MmStruct } from "./mm.js";
import type { AddressSpace } from "./pagecache.js";
import { PG } from "./pageflags.js";
import type { PageTable } from "./pgtable.js";
import { RAM_BASE_PFN } from "./phys.js";
import { VM, type Vma } from "./vma.js";

/*
 * The invariant verifier (the model's CONFIG_DEBUG_VM): everything the
 * operations keep incrementally — RSS counters, per-page and per-folio map
 * counts, the mm-id slots, page-table `used` counts and accounting, swap
 * counts and the swap cache, page-cache membership, hugetlb pools, frame
 * conservation — is recomputed from the page tables of every live process
 * and compared. Problems are returned as sentences naming the mm, address,
 * PFN, slot, and the expected and found values; nothing throws.
 *
 * Speed: one pass over the present tables of each mm (entries read through
 * the codec, counts kept in typed arrays reused between calls) and one
 * linear pass over the PFN arrays. Objects are made per table, per large
 * folio and per problem only.
 */

/** How many problems of one kind are listed before the rest are only counted. */
const MAX_PER_KIND = 8;

class Problems {
  readonly out: string[] = [];
  private readonly perKind = new Map<string, number>();

  add(kind: string, msg: string): void {
    const n = (this.perKind.get(kind) ?? 0) + 1;
    this.perKind.set(kind, n);
    if (n <= MAX_PER_KIND) this.out.push(msg);
  }

  finish(): string[] {
    for (const [kind, n] of this.perKind) {
      if (n > MAX_PER_KIND)
        this.out.push(`... and ${n - MAX_PER_KIND} more problems of kind ${kind}`);
    }
    return this.out;
  }
}

/** Reused per-machine count arrays (no 10 MB allocation per step). */
interface Scratch {
  /** Recomputed PTE mapcount per PFN. */
  pteMap: Int32Array;
}

const scratches = new WeakMap<Machine, Scratch>();

function scratch(m: Machine): Scratch {
  let s = scratches.get(m);
  if (!s) {
    s = { pteMap: new Int32Array(m.phys.maxPfn) };
    scratches.set(m, s);
  } else {
    s.pteMap.fill(0);
  }
  return s;
}

const hex = (n: number): string => `0x${n.toString(16)}`;
const mmName = (mm: MmStruct): string => `mm ${mm.name} (id ${mm.id})`;

/** Flags as names, for messages. */
function flagNames(f: number): string {
  const names: string[] = [];
  for (const [k, v] of Object.entries(PG)) if (f & v) names.push(k);
  return names.length > 0 ? names.join("|") : "0";
}

/** Counts recomputed for one mm. */
interface MmCounts {
  readonly mm: MmStruct;
  anon: number;
  file: number;
  shmem: number;
  swapEnts: number;
  tables: number;
  /** Mappings of large non-hugetlb folios by this mm: head → PTEs + PMD/PUD leaves. */
  readonly largeMaps: Map<number, number>;
}

/** What the page-table walk of every mm produced, for the global checks. */
interface WalkResult {
  readonly counts: MmCounts[];
  /** Entire (PMD/PUD, hugetlb: any-level) mappings per folio head. */
  readonly entire: Map<number, number>;
  /** Folio heads referenced by migration entries (locked, unmapped, not leaked). */
  readonly migrating: Set<number>;
  /** Tables reached from an mm root, by PFN → owner. */
  readonly reached: Map<number, MmStruct>;
  /** References per swap slot from page tables (sparse). */
  readonly swapRefs: Map<number, number>;
}

/** Check the machine's invariants (CONFIG_DEBUG_VM); returns the problems found. */
export function verifyMachine(m: Machine): string[] {
  const p = new Problems();
  const sc = scratch(m);
  const walk = walkAll(m, sc, p);
  checkRss(walk, p);
  checkTables(m, walk, p);
  checkSwap(m, walk.swapRefs, p);
  checkPageCache(m, p);
  checkFrames(m, sc, walk, p);
  return p.finish();
}

/** The processes whose page tables count: live and not exited. */
function liveMms(m: Machine): MmStruct[] {
  const out: MmStruct[] = [];
  for (const mm of m.procs.values()) if (!mm.exited) out.push(mm);
  return out;
}

// ---------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------

function walkAll(m: Machine, sc: Scratch, p: Problems): WalkResult {
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
class MmWalker {
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

function checkRss(walk: WalkResult, p: Problems): void {
  for (const c of walk.counts) {
    const r = c.mm.rss;
    const pairs: Array<[string, number, number]> = [
      ["MM_ANONPAGES", r.anon, c.anon],
      ["MM_FILEPAGES", r.file, c.file],
      ["MM_SHMEMPAGES", r.shmem, c.shmem],
      ["MM_SWAPENTS", r.swapEnts, c.swapEnts],
    ];
    for (const [name, found, expected] of pairs) {
      if (found !== expected) {
        p.add("rss", `${mmName(c.mm)}: RSS ${name} is ${found}, the page tables give ${expected}`);
      }
    }
  }
}

function checkTables(m: Machine, walk: WalkResult, p: Problems): void {
  const ps = m.arch.geometry.pageSize;
  for (const c of walk.counts) {
    const want = c.tables * ps;
    if (c.mm.pt.bytes !== want) {
      p.add(
        "pt-bytes",
        `${mmName(c.mm)}: pgtables_bytes is ${c.mm.pt.bytes}, ${c.tables} tables are reachable (${want} bytes)`,
      );
    }
  }
  for (const [pfn, t] of m.tables) {
    if (t.pfn !== pfn) {
      p.add(
        "pt-registry",
        `page table registered at pfn ${hex(pfn)} says it lives at ${hex(t.pfn)}`,
      );
    }
    if (!walk.reached.has(pfn)) {
      p.add(
        "pt-unreachable",
        `page table at pfn ${hex(pfn)} (level ${t.level}, used ${t.used}) is registered but reachable from no live mm`,
      );
    }
  }
}

// ---------------------------------------------------------------------------
// (d) swap
// ---------------------------------------------------------------------------

function checkSwap(m: Machine, refs: Map<number, number>, p: Problems): void {
  const sw = m.swap;
  const phys = m.phys;
  if (sw === null) {
    for (const s of m.spaces) {
      for (let i = 0; i < s.nrPages; i++) {
        if (s.swap[i]! >= 0) {
          p.add(
            "swap-none",
            `space ${s.id} (${s.name}) index ${i} refers to swap, but there is no swap device`,
          );
        }
      }
    }
    for (const pfn of phys.swapSlot.keys()) {
      p.add("swap-none", `pfn ${hex(pfn)} has a swap slot, but there is no swap device`);
    }
    return;
  }
  for (const s of m.spaces) {
    const sv = s.swap;
    for (let i = 0; i < s.nrPages; i++) {
      const slot = sv[i]!;
      if (slot < 0) continue;
      if (slot === 0 || slot >= sw.nrSlots) {
        p.add(
          "swap-offset",
          `space ${s.id} (${s.name}) index ${i} refers to swap slot ${slot} outside the device`,
        );
        continue;
      }
      refs.set(slot, (refs.get(slot) ?? 0) + 1);
      if (!s.swapBacked) {
        p.add(
          "swap-space",
          `space ${s.id} (${s.name}, ${s.kind}) index ${i} is in swap but the space is not swap-backed`,
        );
      }
    }
  }
  const count = sw.count;
  /** PFN + 1 of each slot's swap-cache page, 0 when none. */
  const cache = sw.cacheTable;
  let used = 0;
  if (count[0] !== 0 || cache[0] !== 0) p.add("swap-header", "swap slot 0 (the header) is in use");
  const count32 =
    count.byteOffset % 4 === 0
      ? new Uint32Array(count.buffer, count.byteOffset, count.length >> 1)
      : null;
  for (let slot = 0; slot < sw.nrSlots; slot++) {
    slot = skipIdleSlots(count, count32, cache, slot, sw.nrSlots);
    if (slot >= sw.nrSlots) break;
    const c = count[slot]!;
    const r = refs.get(slot) ?? 0;
    const pfn = cache[slot]! - 1;
    if (c === 0 && pfn === -1 && r === 0) continue;
    if (c !== r) {
      p.add(
        "swap-count",
        `swap slot ${slot}: swap count is ${c}, ${r} entries refer to it (page tables and shmem)`,
      );
    }
    if (c > 0 || pfn !== -1) used++;
    if (pfn === -1) continue;
    if (pfn < RAM_BASE_PFN || pfn >= phys.maxPfn) {
      p.add("swapcache", `swap slot ${slot}: cached pfn ${pfn} is not a RAM frame`);
      continue;
    }
    const f = phys.flags[pfn]!;
    if ((f & PG.ALLOCATED) === 0 || (phys.flags[phys.folioHead(pfn)]! & PG.SWAPCACHE) === 0) {
      p.add(
        "swapcache",
        `swap slot ${slot}: cached pfn ${hex(pfn)} is not an allocated swap-cache page (flags ${flagNames(f)})`,
      );
    }
    const back = phys.swapSlot.get(pfn);
    if (back !== slot) {
      p.add(
        "swapcache",
        `swap slot ${slot}: cached pfn ${hex(pfn)} maps back to slot ${back ?? "none"} (phys.swapSlot)`,
      );
    }
  }
  for (const [slot, r] of refs) {
    if (count[slot] === 0 && cache[slot] === 0) {
      p.add(
        "swap-count",
        `swap slot ${slot}: swap count is 0, ${r} entries refer to it (page tables and shmem)`,
      );
    }
  }
  if (used !== sw.used) {
    p.add("swap-used", `swap device: used is ${sw.used}, ${used} slots are counted or cached`);
  }
  for (const [pfn, slot] of phys.swapSlot) {
    if (slot <= 0 || slot >= sw.nrSlots || cache[slot]! - 1 !== pfn) {
      p.add(
        "swapcache",
        `pfn ${hex(pfn)} says it caches swap slot ${slot}, but the swap cache holds ${slot > 0 && slot < sw.nrSlots ? cache[slot]! - 1 : "nothing"} there`,
      );
    }
  }
}

/**
 * The first slot from `slot` that may be counted or cached (two slots at a
 * time through a 32-bit view of the counts: the scan is memory-bound).
 */
function skipIdleSlots(
  count: Uint16Array,
  count32: Uint32Array | null,
  cache: Int32Array,
  slot: number,
  end: number,
): number {
  if (count32 !== null) {
    if (slot & 1) {
      if ((count[slot]! | cache[slot]!) !== 0) return slot;
      slot++;
    }
    let k = slot >> 1;
    const e = end >> 1;
    while (k < e && (count32[k]! | cache[2 * k]! | cache[2 * k + 1]!) === 0) k++;
    slot = k << 1;
  }
  while (slot < end && (count[slot]! | cache[slot]!) === 0) slot++;
  return slot;
}

// ---------------------------------------------------------------------------
// (e) page cache
// ---------------------------------------------------------------------------

function checkPageCache(m: Machine, p: Problems): void {
  const phys = m.phys;
  const ids = new Set<number>();
  for (const s of m.spaces) {
    if (ids.has(s.id)) p.add("space-id", `two address spaces share id ${s.id}`);
    ids.add(s.id);
    if (s.pages.length < s.nrPages || s.swap.length < s.nrPages) {
      p.add("space-size", `space ${s.id} (${s.name}): arrays shorter than nrPages ${s.nrPages}`);
      continue;
    }
    const hugeNr = s.kind === "hugetlb" ? -1 : 1;
    for (let i = 0; i < s.nrPages; i++) {
      const pfn = s.pages[i]!;
      if (pfn < 0) continue;
      const where = `space ${s.id} (${s.name}) index ${i}`;
      if (pfn < RAM_BASE_PFN || pfn >= phys.maxPfn) {
        p.add("pagecache", `${where}: pfn ${pfn} is not a RAM frame`);
        continue;
      }
      const f = phys.flags[pfn]!;
      const head = phys.folioHead(pfn);
      const hf = phys.flags[head]!;
      if ((f & PG.ALLOCATED) === 0 || (hf & PG.PAGECACHE) === 0) {
        p.add(
          "pagecache",
          `${where}: pfn ${hex(pfn)} is not an allocated page-cache page (flags ${flagNames(hf)})`,
        );
        continue;
      }
      if (phys.mapping[head] !== s.id) {
        p.add(
          "pagecache",
          `${where}: pfn ${hex(pfn)} has mapping ${phys.mapping[head]}, expected ${s.id}`,
        );
      }
      if (hugeNr < 0 && (hf & PG.HUGETLB) === 0) {
        p.add("pagecache", `${where}: pfn ${hex(pfn)} in a hugetlbfs file is not a hugetlb folio`);
      }
      if (s.swap[i]! >= 0) {
        p.add(
          "pagecache",
          `${where}: both a page (${hex(pfn)}) and a swap slot (${s.swap[i]}) are recorded`,
        );
      }
    }
  }
}

// ---------------------------------------------------------------------------
// (b) mapcounts, (e) owners and pools, (f) frame conservation: one PFN pass
// ---------------------------------------------------------------------------

function checkFrames(m: Machine, sc: Scratch, walk: WalkResult, p: Problems): void {
  const phys = m.phys;
  const flags = phys.flags;
  const order = phys.order;
  const mapcount = phys.mapcount;
  const pte = sc.pteMap;
  const spaces = new Map<number, AddressSpace>();
  for (const s of m.spaces) spaces.set(s.id, s);
  const poolFree = new Set<number>();
  for (const pool of m.hugetlb.values()) {
    for (const h of pool.free) {
      if (poolFree.has(h))
        p.add("hugetlb-pool", `hugetlb pool ${pool.name}: folio ${hex(h)} is free twice`);
      poolFree.add(h);
      if (
        (flags[h]! & (PG.HUGETLB | PG.HEAD | PG.ALLOCATED)) !==
          (PG.HUGETLB | PG.HEAD | PG.ALLOCATED) ||
        order[h] !== pool.order
      ) {
        p.add(
          "hugetlb-pool",
          `hugetlb pool ${pool.name}: free folio ${hex(h)} is not an allocated order-${pool.order} hugetlb head (flags ${flagNames(flags[h]!)}, order ${order[h]})`,
        );
      }
    }
  }
  const hugetlbByOrder = new Map<number, number>();
  const hz = phys.hugeZeroPfn;
  const hzEnd = hz + 2 ** (m.arch.geometry.pmdShift - m.arch.geometry.pageShift);
  let allocated = 0;
  let total = 0;
  for (const node of phys.nodes) total += node.nrPages;
  // Pages below RAM must be untouched.
  const end = phys.maxPfn;
  let pfn = RAM_BASE_PFN;
  while (pfn < end) {
    // Free frames in a tight loop: flags all zero (a PTE mapping a free
    // frame was reported by the walk; freeFolio() zeroes the mapcount).
    pfn = skipCleanFree(flags, pfn, end);
    if (pfn >= end) break;
    const f = flags[pfn]!;
    if ((f & PG.ALLOCATED) === 0) {
      p.add(
        "free-frame",
        `free frame ${hex(pfn)}: flags ${flagNames(f)}, mapcount ${mapcount[pfn]}, ${pte[pfn]} PTEs map it`,
      );
      pfn++;
      continue;
    }
    // An allocated folio: head, then its tails.
    const o = order[pfn]!;
    const nr = 2 ** o;
    if ((f & PG.TAIL) !== 0 || (o > 0 && (f & PG.HEAD) === 0) || pfn % nr !== 0) {
      p.add(
        "folio-shape",
        `pfn ${hex(pfn)}: allocated frame where a folio head was expected (flags ${flagNames(f)}, order ${o})`,
      );
      allocated++;
      if (mapcount[pfn] !== pte[pfn]) mapcountProblem(p, pfn, mapcount[pfn]!, pte[pfn]!);
      pfn++;
      continue;
    }
    const last = Math.min(pfn + nr, end);
    allocated += last - pfn;
    if (f & PG.HUGETLB && o > 0 && poolFree.has(pfn)) {
      // A free pool folio: reset as a whole by free_huge_folio; only its head is looked at.
      if (mapcount[pfn] !== 0 || pte[pfn] !== 0) mapcountProblem(p, pfn, mapcount[pfn]!, pte[pfn]!);
    } else {
      const badTail = o > 0 ? findBadTail(flags, order, pfn + 1, last, o) : -1;
      if (badTail >= 0) {
        p.add(
          "folio-shape",
          `pfn ${hex(badTail)}: tail of the order-${o} folio ${hex(pfn)} has flags ${flagNames(flags[badTail]!)} and order ${order[badTail]}`,
        );
      }
      const badCount = findMapcountMismatch(mapcount, pte, pfn, last);
      if (badCount >= 0) mapcountProblem(p, badCount, mapcount[badCount]!, pte[badCount]!);
    }
    const pteSum = o > 0 ? sumRange(pte, pfn, last) : pte[pfn]!;
    const head = pfn;
    pfn += nr;
    const entire = walk.entire.get(head) ?? 0;
    const inHugeZero = head >= hz && head < hzEnd;
    if (o > 0) checkLarge(m, walk, p, head, f, o, pteSum, entire);
    else if (entire > 0)
      p.add("mapcount", `small folio ${hex(head)} has ${entire} PMD/PUD mappings`);
    // Who owns the folio.
    if (f & PG.ZERO) {
      if (head !== phys.zeroPfn && !inHugeZero) {
        p.add(
          "owner",
          `folio ${hex(head)} is marked ZERO but is neither the zero page nor the huge zero folio`,
        );
      }
      continue;
    }
    if (f & PG.PGTABLE) {
      if (!m.tables.has(head)) {
        p.add(
          "owner",
          `frame ${hex(head)} is a page-table page (PG_PGTABLE) not registered in m.tables`,
        );
      }
      continue;
    }
    if (f & PG.HUGETLB) {
      hugetlbByOrder.set(o, (hugetlbByOrder.get(o) ?? 0) + 1);
      const free = poolFree.has(head);
      const mapped = entire > 0;
      const cached = (f & PG.PAGECACHE) !== 0;
      if (free && (mapped || cached)) {
        p.add(
          "hugetlb-pool",
          `hugetlb folio ${hex(head)} is in the free pool but ${mapped ? "mapped" : "in a page cache"}`,
        );
      } else if (!free && !mapped && !cached && !walk.migrating.has(head)) {
        p.add(
          "leak",
          `hugetlb folio ${hex(head)} is neither free in its pool nor mapped nor in a page cache (leaked)`,
        );
      }
      if (cached) checkCacheOwner(m, spaces, p, head, f);
      continue;
    }
    if (f & PG.PAGECACHE) {
      checkCacheOwner(m, spaces, p, head, f);
      continue;
    }
    if (f & PG.SWAPCACHE) {
      for (let q = head; q < head + nr; q++) {
        const slot = phys.swapSlot.get(q);
        if (slot === undefined) {
          p.add(
            "swapcache",
            `pfn ${hex(q)} of swap-cache folio ${hex(head)} has no swap slot (phys.swapSlot)`,
          );
        }
      }
      continue;
    }
    const mapped = pteSum + entire > 0;
    if (f & PG.ANON) {
      // Poisoned pages stay out of the allocator for good (memory_failure).
      const kept = (f & (PG.LOCKED | PG.HWPOISON)) !== 0;
      if (!mapped && !walk.migrating.has(head) && !kept) {
        p.add(
          "leak",
          `anonymous folio ${hex(head)} (order ${o}) is mapped nowhere and not in the swap cache (leaked; flags ${flagNames(f)})`,
        );
      }
      continue;
    }
    if (f & PG.DEVICE) continue;
    p.add("leak", `allocated folio ${hex(head)} (order ${o}, flags ${flagNames(f)}) has no owner`);
  }
  for (const pool of m.hugetlb.values()) {
    const n = hugetlbByOrder.get(pool.order) ?? 0;
    if (n !== pool.total) {
      p.add(
        "hugetlb-pool",
        `hugetlb pool ${pool.name}: ${pool.total} folios in the pool, ${n} order-${pool.order} hugetlb folios exist (${pool.free.length} free)`,
      );
    }
  }
  if (allocated + phys.freePages() !== total) {
    p.add(
      "frames",
      `frame conservation: ${allocated} allocated + ${phys.freePages()} free in the buddy allocator != ${total} frames`,
    );
  }
  for (const head of phys.large.keys()) {
    if ((flags[head]! & (PG.HEAD | PG.ALLOCATED)) !== (PG.HEAD | PG.ALLOCATED)) {
      p.add(
        "large-state",
        `large-folio state kept for ${hex(head)}, which is not an allocated folio head`,
      );
    }
  }
}

/** The first PFN from `pfn` whose flags are not zero (allocated, or a dirty free frame). */
function skipCleanFree(flags: Uint32Array, pfn: number, end: number): number {
  while (pfn < end && flags[pfn] === 0) pfn++;
  return pfn;
}

/** The first tail in [from, to) that is not an allocated order-`o` tail, or -1. */
function findBadTail(
  flags: Uint32Array,
  order: Uint8Array,
  from: number,
  to: number,
  o: number,
): number {
  const want = PG.ALLOCATED | PG.TAIL;
  for (let q = from; q < to; q++) if ((flags[q]! & want) !== want || order[q] !== o) return q;
  return -1;
}

/** The first PFN in [from, to) whose stored mapcount differs from the recomputed one, or -1. */
function findMapcountMismatch(
  mapcount: Int32Array,
  pte: Int32Array,
  from: number,
  to: number,
): number {
  for (let q = from; q < to; q++) if (mapcount[q] !== pte[q]) return q;
  return -1;
}

function sumRange(a: Int32Array, from: number, to: number): number {
  let n = 0;
  for (let q = from; q < to; q++) n += a[q]!;
  return n;
}

function mapcountProblem(p: Problems, pfn: number, found: number, want: number): void {
  p.add("mapcount", `pfn ${hex(pfn)}: mapcount is ${found}, ${want} PTEs map it`);
}

function checkCacheOwner(
  m: Machine,
  spaces: Map<number, AddressSpace>,
  p: Problems,
  head: number,
  f: number,
): void {
  const phys = m.phys;
  const id = phys.mapping[head]!;
  const s = spaces.get(id);
  if (s === undefined) {
    p.add("owner", `page-cache folio ${hex(head)} names space ${id}, which does not exist`);
  } else if (!s.pages.includes(head)) {
    p.add(
      "owner",
      `page-cache folio ${hex(head)} says it belongs to space ${id} (${s.name}), which does not hold it (leaked)`,
    );
  }
  void f;
}

function checkLarge(
  m: Machine,
  walk: WalkResult,
  p: Problems,
  head: number,
  f: number,
  o: number,
  pteSum: number,
  entire: number,
): void {
  const phys = m.phys;
  const s = phys.large.get(head);
  if (s === undefined) {
    p.add("large-state", `large folio ${hex(head)} (order ${o}) has no large-folio state`);
    return;
  }
  if (s.order !== o) {
    p.add("large-state", `large folio ${hex(head)}: state order ${s.order}, folio order ${o}`);
  }
  if (head === phys.hugeZeroPfn) {
    if (s.entire !== 0 || s.large !== 0) {
      p.add(
        "mapcount",
        `huge zero folio ${hex(head)}: entire ${s.entire}, large ${s.large} (expected 0: never counted)`,
      );
    }
    return;
  }
  const hugetlb = (f & PG.HUGETLB) !== 0;
  const large = hugetlb ? entire : pteSum + entire;
  if (s.entire !== entire || s.large !== large) {
    p.add(
      "mapcount",
      `large folio ${hex(head)} (order ${o}${hugetlb ? ", hugetlb" : ""}): entire mapcount ${s.entire}, large mapcount ${s.large}; the page tables give entire ${entire}, large ${large} (${pteSum} PTEs)`,
    );
  }
  if (hugetlb) return;
  // The two mm-id slots.
  const perMm = new Map<number, number>();
  let mappers = 0;
  for (const c of walk.counts) {
    const n = c.largeMaps.get(head);
    if (n !== undefined && n > 0) {
      perMm.set(c.mm.id, n);
      mappers++;
    }
  }
  if (s.mmCount0 < 0 || s.mmCount1 < 0) {
    p.add(
      "mm-slot",
      `large folio ${hex(head)}: negative mm slot count (${s.mmCount0}, ${s.mmCount1})`,
    );
  }
  if (s.mmCount0 > 0 && s.mmCount1 > 0 && s.mmId0 === s.mmId1) {
    p.add("mm-slot", `large folio ${hex(head)}: both mm slots hold mm id ${s.mmId0}`);
  }
  const slots: Array<[number, number, number]> = [
    [0, s.mmId0, s.mmCount0],
    [1, s.mmId1, s.mmCount1],
  ];
  for (const [k, id, cnt] of slots) {
    if (cnt <= 0) continue;
    const real = perMm.get(id) ?? 0;
    if (real !== cnt) {
      p.add(
        "mm-slot",
        `large folio ${hex(head)}: mm slot ${k} holds mm id ${id} with count ${cnt}, that mm maps it ${real} times`,
      );
    }
  }
  if (mappers > 1 && !s.maybeShared) {
    p.add(
      "mm-slot",
      `large folio ${hex(head)} is mapped by ${mappers} mms but not marked maybe-mapped-shared`,
    );
  }
}

// ---------------------------------------------------------------------------
// After every process exited
// ---------------------------------------------------------------------------

/**
 * After every process has exited: every frame is free except the boot-time
 * ones (zero page, huge zero folio, hugetlb pool folios) and the page cache
 * of objects still alive — the scenario's files (`m.files`), which persist,
 * and any shmem or hugetlbfs object a live VMA still maps — plus the
 * swap-cache pages of their swapped-out pages; every swap slot is free
 * except those such objects hold. Objects nothing refers to any more
 * (`/dev/zero (deleted)`, `/anon_hugepage (deleted)` after their last
 * unmap) must have given back their pages, pool folios and swap slots.
 * Returns the leaks found (run {@link verifyMachine} too for consistency).
 */
export function verifyAllFree(m: Machine): string[] {
  const p = new Problems();
  const phys = m.phys;
  const live = liveMms(m);
  for (const mm of live) p.add("live", `${mmName(mm)} has not exited`);
  for (const [pfn, t] of m.tables) {
    p.add(
      "pt-leak",
      `page table at pfn ${hex(pfn)} (level ${t.level}, used ${t.used}) is still allocated`,
    );
  }
  const alive = new Set<AddressSpace>(m.files.values());
  for (const mm of live) for (const v of mm.vmas) if (v.space) alive.add(v.space);
  // Frames and slots the living objects hold.
  const held = new Set<number>();
  const heldSlots = new Set<number>();
  for (const s of alive) {
    for (let i = 0; i < s.nrPages; i++) {
      if (s.pages[i]! >= 0) held.add(phys.folioHead(s.pages[i]!));
      if (s.swap[i]! >= 0) heldSlots.add(s.swap[i]!);
    }
  }
  for (const s of m.spaces) {
    if (alive.has(s)) continue;
    let pages = 0;
    let slots = 0;
    for (let i = 0; i < s.nrPages; i++) {
      if (s.pages[i]! >= 0) pages++;
      if (s.swap[i]! >= 0) slots++;
    }
    if (pages > 0 || slots > 0) {
      p.add(
        "dead-space",
        `space ${s.id} (${s.name}, ${s.kind}) is mapped by no one and is not a file, yet holds ${pages} pages and ${slots} swap slots (the kernel frees them with the object)`,
      );
    }
  }
  const sw = m.swap;
  if (sw !== null) {
    for (let slot = 0; slot < sw.nrSlots; slot++) {
      if (!sw.inUse(slot)) continue;
      if (heldSlots.has(slot)) {
        const c = sw.cached(slot);
        if (c >= 0) held.add(phys.folioHead(c));
        continue;
      }
      p.add(
        "swap-leak",
        `swap slot ${slot} is in use (count ${sw.count[slot]}, cache ${sw.cached(slot)}) but no living object refers to it`,
      );
    }
  }
  const poolFree = new Set<number>();
  for (const pool of m.hugetlb.values()) for (const h of pool.free) poolFree.add(h);
  const hz = phys.hugeZeroPfn;
  const flags = phys.flags;
  for (let pfn = RAM_BASE_PFN; pfn < phys.maxPfn; ) {
    const f = flags[pfn]!;
    if ((f & PG.ALLOCATED) === 0 || (f & PG.TAIL) !== 0) {
      pfn++;
      continue;
    }
    const nr = 2 ** phys.order[pfn]!;
    const head = pfn;
    pfn += nr;
    if (head === phys.zeroPfn || head === hz) continue;
    if (held.has(head)) continue;
    if (f & PG.HUGETLB && poolFree.has(head)) continue;
    if (f & PG.HWPOISON) continue; // memory_failure() never frees a poisoned page
    p.add(
      "frame-leak",
      `folio ${hex(head)} (order ${phys.order[head]}, flags ${flagNames(f)}, mapping ${phys.mapping[head]}) is still allocated`,
    );
  }
  return p.finish();
}
