/**
 * tools/mm/page-types (proc.md §8): the per-page flag processing, the PFN
 * and process walks, and the listing and summary text, byte for byte as the
 * tool prints them. The reference is the 6.18 tool: 43 named bits (no
 * `c:uncached`; bit 9 is `I:reclaim`, bit 48 the overloaded `I:readahead`).
 *
 * Flag values are 64-bit; the hot path keeps them as two 32-bit halves
 * (`lo` = bits 0..31, `hi` = bits 32..63). BigInt is used only to parse
 * options and to print.
 */
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import { RAM_BASE_PFN } from "../mm/phys.js";
import type { Generation } from "./common.js";
import { type KpageFlags, kpagecountOf, kpageflagsOf } from "./kpageflags.js";
import { pagemapHalves, pagemapRead } from "./pagemap.js";

/** One named bit of the tool's `page_flag_names[]`: bit, symbol, long name. */
export interface PageFlagName {
  bit: number;
  sym: string;
  name: string;
}

/** `page_flag_names[]` of the 6.18 tool, in index order (= print order). */
export const PAGE_FLAG_NAMES: readonly PageFlagName[] = (
  [
    [0, "L:locked"],
    [1, "E:error"],
    [2, "R:referenced"],
    [3, "U:uptodate"],
    [4, "D:dirty"],
    [5, "l:lru"],
    [6, "A:active"],
    [7, "S:slab"],
    [8, "W:writeback"],
    [9, "I:reclaim"],
    [10, "B:buddy"],
    [11, "M:mmap"],
    [12, "a:anonymous"],
    [13, "s:swapcache"],
    [14, "b:swapbacked"],
    [15, "H:compound_head"],
    [16, "T:compound_tail"],
    [17, "G:huge"],
    [18, "u:unevictable"],
    [19, "X:hwpoison"],
    [20, "n:nopage"],
    [21, "x:ksm"],
    [22, "t:thp"],
    [23, "o:offline"],
    [24, "z:zero_page"],
    [25, "i:idle_page"],
    [26, "g:pgtable"],
    [32, "r:reserved"],
    [33, "m:mlocked"],
    [34, "d:owner_2"],
    [35, "P:private"],
    [36, "p:private_2"],
    [37, "O:owner_private"],
    [38, "h:arch"],
    [40, "f:softdirty"],
    [41, "H:arch_2"],
    [47, "d:anon_exclusive"],
    [48, "I:readahead"],
    [50, "A:slub_frozen"],
    [51, "E:slub_debug"],
    [61, "F:file"],
    [62, "w:swap"],
    [63, "1:mmap_exclusive"],
  ] as const
).map(([bit, s]) => ({ bit, sym: s[0]!, name: s.slice(2) }));

const NAMED = new Uint8Array(64);
for (const f of PAGE_FLAG_NAMES) NAMED[f.bit] = 1;

/** The tool's own bits beyond the kernel ABI (not part of kpageflags). */
const KPF_ANON_EXCLUSIVE = 47;
const KPF_READAHEAD = 48;
const KPF_SLUB_FROZEN = 50;
const KPF_SLUB_DEBUG = 51;
const KPF_SOFTDIRTY = 40;
const KPF_FILE = 61;
const KPF_SWAP = 62;
const KPF_MMAP_EXCLUSIVE = 63;

/** Bit `b` (32..63) as a mask of the high half. */
const H = (b: number) => (1 << (b - 32)) >>> 0;
/** Bit `b` (0..31) as a mask of the low half. */
const L = (b: number) => (1 << b) >>> 0;

/** pagemap bits, in the high half of an entry. */
const PM_HI_SOFT_DIRTY = H(55);
const PM_HI_MMAP_EXCLUSIVE = H(56);
const PM_HI_FILE = H(61);
const PM_HI_SWAP = H(62);
const PM_HI_PRESENT = H(63);
/** PM_PFRAME_MASK's part in the high half (bits 32..54). */
const PM_HI_PFRAME = 0x7fffff;

/** SECTION_SIZE_BITS on x86_64: kpageflags ends at max_pfn rounded up to a section. */
const SECTION_SIZE_BITS = 27;
/** KPAGEFLAGS_BATCH / PAGEMAP_BATCH: 64k entries per read. */
const BATCH = 64 << 10;
/** HASH_SHIFT 13: the summary's open-addressing table. */
const HASH_SIZE = 1 << 13;

const U64_MASK = (1n << 64n) - 1n;
/** ULONG_MAX as a page count: larger than any range that can matter. */
export const ULONG_MAX = 2 ** 64;

/** A 64-bit flag value as halves. */
export interface Flags64 {
  lo: number;
  hi: number;
}

/** One `-b` filter: `(flags & mask) == bits`, or `!= 0` when `bits` is null (KPF_ALL_BITS). */
export interface BitFilter {
  mask: Flags64;
  bits: Flags64 | null;
}

/** An `-a` range: `size` pages from `offset` (PFNs, or virtual page numbers with a process). */
export interface AddrRange {
  offset: number;
  size: number;
}

/** A usage problem the real tool reports with `fatal()` (exit 1); the CLI maps it to exit 2. */
export class PageTypesError extends Error {
  override readonly name = "PageTypesError";
}

function toHalves(v: bigint): Flags64 {
  const x = BigInt.asUintN(64, v);
  return { lo: Number(x & 0xffffffffn) >>> 0, hi: Number(x >> 32n) >>> 0 };
}

function fromHalves(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/**
 * strtoll(str, NULL, 0) followed by the tool's check: leading blanks, a
 * sign, `0x` hex, `0` octal or decimal, the longest valid prefix; a result
 * of 0 is accepted only when `str` starts with `0` ("invalid name or number").
 * Overflow saturates as strtoll does.
 */
export function parseNumber(str: string): bigint {
  let i = 0;
  while (i < str.length && " \t\n\v\f\r".includes(str[i]!)) i++;
  let neg = false;
  if (str[i] === "+" || str[i] === "-") {
    neg = str[i] === "-";
    i++;
  }
  let base = 10;
  if (
    str[i] === "0" &&
    (str[i + 1] === "x" || str[i + 1] === "X") &&
    /[0-9a-f]/i.test(str[i + 2] ?? "")
  ) {
    base = 16;
    i += 2;
  } else if (str[i] === "0") {
    base = 8;
  }
  let n = 0n;
  const digits = "0123456789abcdef".slice(0, base);
  while (i < str.length && digits.includes(str[i]!.toLowerCase())) {
    n = n * BigInt(base) + BigInt(digits.indexOf(str[i]!.toLowerCase()));
    i++;
  }
  const LLONG_MAX = (1n << 63n) - 1n;
  if (!neg && n > LLONG_MAX) n = LLONG_MAX;
  if (neg && n > LLONG_MAX + 1n) n = LLONG_MAX + 1n;
  const v = BigInt.asUintN(64, neg ? -n : n);
  if (v === 0n && str[0] !== "0") throw new PageTypesError(`invalid name or number: ${str}`);
  return v;
}

/** parse_flag_name(): `compound`, a prefix of a long name (first in bit order), or a number. */
function parseFlagName(str: string, len: number): bigint {
  if (str.length === 0 || len === 0) return 0n;
  const part = str.slice(0, len);
  if (len <= 8 && "compound".startsWith(part)) return (1n << 15n) | (1n << 16n);
  for (const f of PAGE_FLAG_NAMES) if (f.name.startsWith(part)) return 1n << BigInt(f.bit);
  return parseNumber(str);
}

/**
 * parse_flag_names(): OR of the comma-separated names up to `=` or the end;
 * `~name` items count only when `all` (the mask side of `a,~b`).
 */
export function parseFlagNames(spec: string, all: boolean): bigint {
  let flags = 0n;
  let s = 0;
  for (let p = 0; ; p++) {
    const c = spec[p];
    if (c === "," || c === "=" || c === undefined) {
      let start = s;
      let take = spec[start] !== "~";
      if (!take && all) {
        start++;
        take = spec[start] !== undefined;
      }
      if (take) flags |= parseFlagName(spec.slice(start), p - start);
      if (c !== ",") break;
      s = p + 1;
    }
  }
  return flags & U64_MASK;
}

/**
 * parse_bits_mask(): one `-b` spec. `a,b` → any of them set; `a,b=a` →
 * (flags & (a|b)) == a; `a,~b` → the same as `a,b=a`; `=a,b` → flags == a|b.
 */
export function parseBitsSpec(spec: string): BitFilter {
  const eq = spec.indexOf("=");
  let mask: bigint;
  let bits: bigint | null;
  if (eq === 0) {
    mask = U64_MASK;
    bits = parseFlagNames(spec.slice(1), false);
  } else if (eq > 0) {
    mask = parseFlagNames(spec, false);
    bits = parseFlagNames(spec.slice(eq + 1), false);
  } else if (spec.includes("~")) {
    mask = parseFlagNames(spec, true);
    bits = parseFlagNames(spec, false);
  } else {
    mask = parseFlagNames(spec, false);
    bits = null;
  }
  // opt_bits == KPF_ALL_BITS selects the "any bit set" test, however it came about.
  if (bits === U64_MASK) bits = null;
  return { mask: toHalves(mask), bits: bits === null ? null : toHalves(bits) };
}

/** parse_addr_range(): `N`, `N+M`, `N,M` (N..M-1), `N,` (to the end), `,M` (0..M-1). */
export function parseAddrRange(spec: string): AddrRange {
  let p = spec.indexOf(",");
  if (p < 0) p = spec.indexOf("+");
  let offset: bigint;
  let size: bigint;
  if (p === 0) {
    offset = 0n;
    size = parseNumber(spec.slice(1));
  } else if (p > 0) {
    offset = parseNumber(spec);
    if (p === spec.length - 1) size = U64_MASK;
    else {
      size = parseNumber(spec.slice(p + 1));
      if (spec[p] === ",") {
        if (size < offset) throw new PageTypesError(`invalid range: ${offset},${size}`);
        size -= offset;
      }
    }
  } else {
    offset = parseNumber(spec);
    size = 1n;
  }
  const lim = U64_MASK - offset;
  if (size > lim) size = lim;
  return { offset: Number(offset), size: Number(size) };
}

/** page_flag_name(): one character per named bit, the symbol if set, else `_`. */
export function pageFlagName(lo: number, hi: number): string {
  let s = "";
  for (let b = 0; b < 64; b++) {
    const set = b < 32 ? (lo >>> b) & 1 : (hi >>> (b - 32)) & 1;
    if (!NAMED[b]) {
      if (set) throw new PageTypesError(`unknown flag bit ${b}`);
    }
  }
  for (const f of PAGE_FLAG_NAMES) {
    const set = f.bit < 32 ? (lo >>> f.bit) & 1 : (hi >>> (f.bit - 32)) & 1;
    s += set ? f.sym : "_";
  }
  return s;
}

/** page_flag_longname(): the long names of the set bits, joined by `,`. */
export function pageFlagLongname(lo: number, hi: number): string {
  const out: string[] = [];
  for (const f of PAGE_FLAG_NAMES) {
    const set = f.bit < 32 ? (lo >>> f.bit) & 1 : (hi >>> (f.bit - 32)) & 1;
    if (set) out.push(f.name);
  }
  return out.join(",");
}

function hex16(lo: number, hi: number): string {
  return `0x${fromHalves(lo, hi).toString(16).padStart(16, "0")}`;
}

/** `-d FLAGS`: the tool's one describe line. */
export function describeFlags(spec: string): string {
  const h = toHalves(parseFlagNames(spec, false));
  return `${hex16(h.lo, h.hi)}\t${pageFlagName(h.lo, h.hi)}\t${pageFlagLongname(h.lo, h.hi)}\n`;
}

/** The `bit-names:` block of the tool's usage text (4 names a line, `(r)`/`(o)` marks). */
export function bitNamesHelp(): string {
  let s = "";
  let j = 0;
  for (const f of PAGE_FLAG_NAMES) {
    const type = f.bit >= 48 ? "(o)" : f.bit >= 32 ? "(r)" : "   ";
    s += `${f.name.padStart(16, " ")}${type}`;
    if (++j > 3) {
      j = 0;
      s += "\n";
    }
  }
  return `${s}\n                                   (r) raw mode bits  (o) overloaded bits\n`;
}

/** What to walk and how to print it: the tool's options that the model supports. */
export interface PageTypesOptions {
  /** `-r`: raw mode (expand overloaded bits, add the pagemap-derived bits). */
  raw?: boolean;
  /** `-l` (1: ranges) or `-L` (2: every page). */
  list?: 0 | 1 | 2;
  /** `-M`: the map-count column (kpagecount; read only when listing). */
  listMapcnt?: boolean;
  /** `-N`: no summary. */
  noSummary?: boolean;
  /** `-b` filters; every one must pass. */
  bits?: readonly BitFilter[];
  /** `-a` ranges, in order (default: everything). */
  addr?: readonly AddrRange[];
  /** `-p`: walk this process's VMAs through its pagemap. */
  /** (`flavour`: the walker generation pagemap is read on, pt_range included.) */
  proc?: { mm: MmStruct; flavour: Generation; showPfn: boolean };
}

/**
 * page_types - run the tool over the model's current state and return what
 * it prints on stdout: the listing header and rows (`-l`/`-L`), then unless
 * `-N` the summary table (proc.md §8.5).
 *
 * Without `proc` the walk covers kpageflags from PFN 0 to max_pfn rounded up
 * to a memory section (holes read 0 and count under flags 0). With `proc`
 * it walks the process's maps VMAs (the `[vsyscall]` gate lies above
 * TASK_SIZE and reads nothing), reads pagemap and, for each present page,
 * kpageflags (and kpagecount with `-l -M`); entries with the swap bit
 * (swap, migration, device, markers) count as swap pages.
 *
 * Locking: pagemap reads take the process's mmap lock for read per chunk;
 * kpageflags reads take none.
 *
 * Return: the text.
 */
export function pageTypes(m: Machine, opts: PageTypesOptions): string {
  return new PageTypesRun(m, opts).run();
}

class PageTypesRun {
  private readonly out: string[] = [];
  private readonly raw: boolean;
  private readonly list: 0 | 1 | 2;
  private readonly mapcntCol: boolean;
  private readonly readCount: boolean;
  private readonly filters: readonly BitFilter[];
  private readonly isPid: boolean;
  private readonly kpfEnd: number;
  private readonly kpf: KpageFlags = { lo: 0, hi: 0 };
  // Summary hash table (page_flags[], nr_pages[]).
  private readonly slotLo = new Uint32Array(HASH_SIZE);
  private readonly slotHi = new Uint32Array(HASH_SIZE);
  private readonly nrPages = new Float64Array(HASH_SIZE);
  private total = 0;
  // show_page_range()'s static state.
  private rFlagsLo = 0;
  private rFlagsHi = 0;
  private rMapcnt = 0;
  private rVoff = 0;
  private rIndex = 0;
  private rCount = 0;
  // Scratch result of processFlags().
  private fLo = 0;
  private fHi = 0;

  constructor(
    private readonly m: Machine,
    private readonly opts: PageTypesOptions,
  ) {
    this.raw = opts.raw ?? false;
    this.list = opts.list ?? 0;
    this.mapcntCol = opts.listMapcnt ?? false;
    this.readCount = this.list !== 0 && this.mapcntCol;
    this.filters = opts.bits ?? [];
    this.isPid = opts.proc !== undefined;
    const sec = 2 ** (SECTION_SIZE_BITS - Math.log2(m.arch.geometry.pageSize));
    this.kpfEnd = Math.ceil(m.phys.maxPfn / sec) * sec;
  }

  run(): string {
    const { list, isPid, mapcntCol } = this;
    let head = "";
    if (list && isPid) head += "voffset\t";
    if (list && mapcntCol) head += "map-cnt\t";
    if (list === 1) head += "offset\tlen\tflags\n";
    if (list === 2) head += "offset\tflags\n";
    if (head) this.out.push(head);

    const ranges = this.opts.addr && this.opts.addr.length > 0 ? this.opts.addr : null;
    for (const r of ranges ?? [{ offset: 0, size: ULONG_MAX }]) {
      if (this.opts.proc) this.walkTask(r.offset, r.size);
      else this.walkPfn(r.offset, r.offset, r.size, 0);
    }
    if (list === 1) this.flushRange();
    if (this.opts.noSummary) return this.out.join("");
    if (list) this.out.push("\n\n");
    this.showSummary();
    return this.out.join("");
  }

  /** kpageflags_flags(): raw expansion or the well-known subset; result in fLo/fHi. */
  private processFlags(lo: number, hi: number, pmeHi: number): void {
    if (this.raw) {
      // expand_overloaded_flags()
      if (lo & L(12) && hi & H(34)) hi = (hi & ~H(34)) | H(KPF_ANON_EXCLUSIVE);
      if (lo & L(7)) {
        if (lo & L(6)) {
          lo &= ~L(6);
          hi |= H(KPF_SLUB_FROZEN);
        }
        if (lo & L(1)) {
          lo &= ~L(1);
          hi |= H(KPF_SLUB_DEBUG);
        }
      }
      if ((lo & (L(9) | L(8))) === L(9)) {
        lo &= ~L(9);
        hi |= H(KPF_READAHEAD);
      }
      if (pmeHi & PM_HI_SOFT_DIRTY) hi |= H(KPF_SOFTDIRTY);
      if (pmeHi & PM_HI_FILE) hi |= H(KPF_FILE);
      if (pmeHi & PM_HI_SWAP) hi |= H(KPF_SWAP);
      if (pmeHi & PM_HI_MMAP_EXCLUSIVE) hi |= H(KPF_MMAP_EXCLUSIVE);
    } else {
      // well_known_flags(): hide bits 32..47, and compound bits of non-hugetlb pages.
      hi &= 0xffff0000;
      if (lo & (L(15) | L(16)) && !(lo & L(17))) lo &= ~(L(15) | L(16));
    }
    this.fLo = lo >>> 0;
    this.fHi = hi >>> 0;
  }

  private bitMaskOk(lo: number, hi: number): boolean {
    for (const f of this.filters) {
      const ml = (lo & f.mask.lo) >>> 0;
      const mh = (hi & f.mask.hi) >>> 0;
      if (f.bits === null) {
        if (ml === 0 && mh === 0) return false;
      } else if (ml !== f.bits.lo || mh !== f.bits.hi) return false;
    }
    return true;
  }

  private hashSlot(lo: number, hi: number): number {
    if (lo === 0 && hi === 0) return 0;
    let k = lo & (HASH_SIZE - 1);
    for (let i = 1; i < HASH_SIZE; i++, k++) {
      if (k === 0 || k >= HASH_SIZE) k = 1;
      const sl = this.slotLo[k]!;
      const sh = this.slotHi[k]!;
      if (sl === 0 && sh === 0) {
        this.slotLo[k] = lo;
        this.slotHi[k] = hi;
        return k;
      }
      if (sl === lo && sh === hi) return k;
    }
    throw new PageTypesError("hash table full: bump up HASH_SHIFT?");
  }

  /** Count a page whose processed flags are in fLo/fHi (after the filter passed). */
  private count(voffset: number, offset: number, mapcnt: number): void {
    const lo = this.fLo;
    const hi = this.fHi;
    if (this.list === 1) this.showRange(voffset, offset, 1, lo, hi, mapcnt);
    else if (this.list === 2) this.showPage(voffset, offset, lo, hi, mapcnt);
    this.nrPages[this.hashSlot(lo, hi)]!++;
    this.total++;
  }

  private prefix(voffset: number, mapcnt: number): string {
    let s = "";
    if (this.isPid) s += `${voffset.toString(16)}\t`;
    if (this.mapcntCol) s += `${mapcnt}\t`;
    return s;
  }

  /** show_page_range(): extend the pending row, or print it and start another. */
  private showRange(
    voffset: number,
    offset: number,
    size: number,
    lo: number,
    hi: number,
    mapcnt: number,
  ): void {
    if (
      lo === this.rFlagsLo &&
      hi === this.rFlagsHi &&
      mapcnt === this.rMapcnt &&
      offset === this.rIndex + this.rCount &&
      size !== 0 &&
      voffset === this.rVoff + this.rCount
    ) {
      this.rCount += size;
      return;
    }
    if (this.rCount) {
      this.out.push(
        `${this.prefix(this.rVoff, this.rMapcnt)}${this.rIndex.toString(16)}\t${this.rCount.toString(16)}\t${pageFlagName(this.rFlagsLo, this.rFlagsHi)}\n`,
      );
    }
    this.rFlagsLo = lo;
    this.rFlagsHi = hi;
    this.rMapcnt = mapcnt;
    this.rIndex = offset;
    this.rVoff = voffset;
    this.rCount = size;
  }

  private flushRange(): void {
    this.showRange(0, 0, 0, 0, 0, 0);
  }

  private showPage(voffset: number, offset: number, lo: number, hi: number, mapcnt: number): void {
    this.out.push(
      `${this.prefix(voffset, mapcnt)}${offset.toString(16)}\t${pageFlagName(lo, hi)}\n`,
    );
  }

  private showSummary(): void {
    const rows: string[] = [
      "             flags\tpage-count       MB  symbolic-flags\t\t\tlong-symbolic-flags\n",
    ];
    for (let i = 0; i < HASH_SIZE; i++) {
      const n = this.nrPages[i]!;
      if (!n) continue;
      const lo = this.slotLo[i]!;
      const hi = this.slotHi[i]!;
      rows.push(
        `${hex16(lo, hi)}\t${String(n).padStart(10, " ")} ${String(this.mb(n)).padStart(8, " ")}  ${pageFlagName(lo, hi)}\t${pageFlagLongname(lo, hi)}\n`,
      );
    }
    rows.push(
      `             total\t${String(this.total).padStart(10, " ")} ${String(this.mb(this.total)).padStart(8, " ")}\n`,
    );
    this.out.push(rows.join(""));
  }

  private mb(pages: number): number {
    return Math.floor((pages * this.m.arch.geometry.pageSize) / 2 ** 20);
  }

  /** walk_pfn(): `count` PFNs from `index` (clipped at the end of kpageflags). */
  private walkPfn(voffset: number, index: number, count: number, pmeHi: number): void {
    const m = this.m;
    if (index >= this.kpfEnd) return;
    const end = Math.min(index + count, this.kpfEnd);
    for (let pfn = index; pfn < end; pfn++, voffset++) {
      let lo = 0;
      let hi = 0;
      if (pfn >= RAM_BASE_PFN) {
        kpageflagsOf(m, pfn, this.kpf);
        lo = this.kpf.lo;
        hi = this.kpf.hi;
      }
      this.processFlags(lo, hi, pmeHi);
      if (!this.bitMaskOk(this.fLo, this.fHi)) continue;
      const mapcnt = this.readCount && pfn >= RAM_BASE_PFN ? kpagecountOf(m, pfn) : 0;
      this.count(voffset, pfn, mapcnt);
    }
  }

  /** walk_swap(): a pagemap entry with the swap bit; "offset" is the swap offset. */
  private walkSwap(voffset: number, pmeHi: number, swapOffset: number): void {
    this.processFlags(0, 0, pmeHi);
    if (!this.bitMaskOk(this.fLo, this.fHi)) return;
    this.count(voffset, swapOffset, 0);
  }

  /** walk_task(): the maps VMAs (in page units) intersected with [index, index+count). */
  private walkTask(index: number, count: number): void {
    const p = this.opts.proc!;
    const ps = this.m.arch.geometry.pageSize;
    const end = index + count;
    for (const vma of p.mm.vmas) {
      const vs = vma.start / ps;
      const ve = vma.end / ps;
      if (ve <= index) continue;
      if (vs >= end) return;
      const start = Math.max(vs, index);
      index = Math.min(ve, end);
      this.walkVma(start, index - start);
    }
    // The [vsyscall] gate VMA follows; it lies above TASK_SIZE, where pagemap reads 0 bytes.
  }

  /** walk_vma(): read pagemap in batches; present pages → walk_pfn, swap bit → walk_swap. */
  private walkVma(index: number, count: number): void {
    const p = this.opts.proc!;
    const ps = this.m.arch.geometry.pageSize;
    const top = this.m.arch.geometry.userTop / ps;
    while (count > 0) {
      const batch = Math.min(count, BATCH, Math.max(0, top - index));
      if (batch <= 0) break;
      const r = pagemapRead(this.m, p.mm, index * ps, (index + batch) * ps, p.flavour, p.showPfn);
      for (let i = 0; i < batch; i++) {
        const [lo, hi] = pagemapHalves(r, i);
        const frame = lo + (hi & PM_HI_PFRAME) * 2 ** 32;
        if (hi & PM_HI_PRESENT && frame !== 0) this.walkPfn(index + i, frame, 1, hi);
        if (hi & PM_HI_SWAP) this.walkSwap(index + i, hi, Math.floor(frame / 32));
      }
      index += batch;
      count -= batch;
    }
  }
}
