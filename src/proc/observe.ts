/**
 * The `observe` step (observation.md): per observed process, the /proc
 * files its `what` names, restricted to the scenario's memory, with PFNs and
 * swap slots replaced by canonical ids and pages run-length encoded.
 */
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { Vma } from "../mm/vma.js";
import type { RunState } from "../scenario/run.js";
import type { ObserveStep } from "../scenario/types.js";
import { type Generation, isHugeZero } from "./common.js";
import { type KpageFlags, kpagecountOf, kpageflagsOf, kpfNames } from "./kpageflags.js";
import { vmaName, vmaOffset, vmaPerms } from "./maps.js";
import { doMincore } from "./mincore.js";
import { numaMapsVma } from "./numa-maps.js";
import {
  hex,
  type KpageflagsRun,
  type MincoreRun,
  type NumaMapsRecord,
  type PagemapRun,
  type ProcRecord,
  type SmapsRecord,
} from "./observation-types.js";
import { PM, pagemapRead } from "./pagemap.js";
import { smapsVma } from "./smaps.js";
import { smapsRollup } from "./smaps-rollup.js";

type Flavour = Generation;

const GIB = 2 ** 30;

/** Pagemap flag names in observation order. */
const PM_NAMES: ReadonlyArray<[number, string]> = [
  [PM.PRESENT, "present"],
  [PM.SWAP, "swapped"],
  [PM.FILE, "file_shared"],
  [PM.MMAP_EXCLUSIVE, "exclusive"],
  [PM.UFFD_WP, "uffd_wp"],
  [PM.GUARD_REGION, "guard"],
  [PM.SOFT_DIRTY, "soft_dirty"],
];

/** Canonical ids of one observation: PFNs and swap entries, in walk order. */
class CanonicalIds {
  private readonly pfns = new Map<number, number>();
  private readonly swaps = new Map<number, number>();

  pfn(m: Machine, pfn: number): number | string {
    if (pfn === m.phys.zeroPfn) return "zero";
    if (isHugeZero(m, pfn)) return "hzero";
    let id = this.pfns.get(pfn);
    if (id === undefined) {
      id = this.pfns.size;
      this.pfns.set(pfn, id);
    }
    return id;
  }

  swap(type: number, offset: number): number {
    const key = type * 2 ** 48 + offset;
    let id = this.swaps.get(key);
    if (id === undefined) {
      id = this.swaps.size;
      this.swaps.set(key, id);
    }
    return id;
  }
}

/** The pieces of [vma.start, vma.end) inside the observed ranges. */
function observedPieces(
  vma: Vma,
  ranges: ReadonlyArray<[number, number]>,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [a, b] of ranges) {
    const s = Math.max(a, vma.start);
    const e = Math.min(b, vma.end);
    if (s < e) out.push([s, e]);
  }
  return out;
}

function flagNames(f: number): string[] {
  const out: string[] = [];
  for (const [bit, name] of PM_NAMES) if (f & bit) out.push(name);
  return out;
}

function markerKinds(bits: number): string[] {
  const out: string[] = [];
  if (bits & 1) out.push("uffd_wp");
  if (bits & 2) out.push("poisoned");
  if (bits & 4) out.push("guard");
  return out;
}

/** One page's pagemap observation before run-length encoding. */
interface PageObs {
  flags: number;
  /** Which member carries the id: "pfn", "swap" or "" (none). */
  idKind: "pfn" | "swap" | "";
  id: number | string;
  /** Extra member, compared for equality: marker kinds / migration / device / hwpoison. */
  extraKey: string;
  extra: Partial<PagemapRun>;
}

function pageObs(m: Machine, ids: CanonicalIds, flags: number, frame: number): PageObs {
  const o: PageObs = { flags, idKind: "", id: 0, extraKey: "", extra: {} };
  if (flags & PM.PRESENT) {
    o.idKind = "pfn";
    o.id = ids.pfn(m, frame);
  } else if (flags & PM.SWAP) {
    const type = frame % 32;
    const off = Math.floor(frame / 32);
    const st = m.swapTypes;
    if (type < st.maxSwapfiles) {
      o.idKind = "swap";
      o.id = ids.swap(type, off);
    } else if (type === st.marker) {
      const kinds = markerKinds(off);
      o.extraKey = `marker:${kinds.join(",")}`;
      o.extra = { marker: kinds };
    } else {
      o.idKind = "pfn";
      o.id = ids.pfn(m, off);
      if (type === st.hwpoison) {
        o.extraKey = "hwpoison";
        o.extra = { hwpoison: true };
      } else if (
        type === st.migrationRead ||
        type === st.migrationReadExclusive ||
        type === st.migrationWrite
      ) {
        const k =
          type === st.migrationRead
            ? "read"
            : type === st.migrationReadExclusive
              ? "read_exclusive"
              : "write";
        o.extraKey = `migration:${k}`;
        o.extra = { migration: k };
      } else {
        const k =
          type === st.deviceRead
            ? "private_read"
            : type === st.deviceWrite
              ? "private_write"
              : "exclusive";
        o.extraKey = `device:${k}`;
        o.extra = { device: k };
      }
    }
  }
  return o;
}

/** Whether `next` continues a run whose previous page was `prev` (ids grow by one). */
function continues(prev: PageObs, next: PageObs): boolean {
  if (prev.flags !== next.flags || prev.idKind !== next.idKind || prev.extraKey !== next.extraKey)
    return false;
  if (prev.idKind === "") return true;
  if (typeof prev.id === "string" || typeof next.id === "string") return prev.id === next.id;
  return next.id === prev.id + 1;
}

interface PageState {
  pagemap: PagemapRun[];
  kpageflags: KpageflagsRun[];
}

/** Pagemap and kpageflags runs of one VMA piece, numbering ids as it goes. */
function pagesOfPiece(
  m: Machine,
  mm: MmStruct,
  vma: Vma,
  start: number,
  end: number,
  flavour: Flavour,
  ids: CanonicalIds,
  out: PageState,
): void {
  const ps = m.arch.geometry.pageSize;
  const r = pagemapRead(m, mm, start, end, flavour);
  const dropExclusive = vma.backing.kind === "hugetlb" && vma.backing.hugeSize === GIB;
  const kpf: KpageFlags = { lo: 0, hi: 0 };
  let prev: PageObs | null = null;
  let run: PagemapRun | null = null;
  let kPrev: { id: number | string; key: string; count: number } | null = null;
  let kRun: KpageflagsRun | null = null;
  const n = r.flags.length;
  for (let k = 0; k < n; k++) {
    const addr = start + k * ps;
    let flags = r.flags[k]!;
    if (dropExclusive) flags &= ~PM.MMAP_EXCLUSIVE;
    const o = pageObs(m, ids, flags, r.frame[k]!);
    if (prev !== null && run !== null && continues(prev, o)) {
      run.pages++;
    } else {
      run = { start: hex(addr), pages: 1, flags: flagNames(flags) };
      if (o.idKind === "pfn") run.pfn = o.id;
      else if (o.idKind === "swap") run.swap = o.id as number;
      Object.assign(run, o.extra);
      out.pagemap.push(run);
    }
    prev = o;
    // kpageflags: present pages only; a skipped page ends a run.
    if ((flags & PM.PRESENT) === 0) {
      kPrev = null;
      continue;
    }
    const pfn = r.frame[k]!;
    kpageflagsOf(m, pfn, kpf);
    const huge = (kpf.lo & (1 << 17)) !== 0;
    kpf.lo &= ~(1 << 25); // IDLE: dropped (observation.md, "Stability")
    if (huge) kpf.lo &= ~(1 << 4); // DIRTY of hugetlb pages: dropped
    const names = kpfNames(kpf);
    const key = names.join(",");
    const count = kpagecountOf(m, pfn);
    const id = o.id;
    const cont =
      kPrev !== null &&
      kRun !== null &&
      kPrev.key === key &&
      kPrev.count === count &&
      (typeof id === "string" || typeof kPrev.id === "string"
        ? id === kPrev.id
        : id === kPrev.id + 1);
    if (cont) kRun!.pages++;
    else {
      kRun = { start: hex(addr), pages: 1, pfn: id, flags: names, count };
      out.kpageflags.push(kRun);
    }
    kPrev = { id, key, count };
  }
}

function mincoreRuns(
  m: Machine,
  mm: MmStruct,
  start: number,
  end: number,
  flavour: Flavour,
  out: MincoreRun[],
): void {
  const vec = doMincore(m, mm, start, end, flavour);
  if (vec === "ENOMEM") return;
  const ps = m.arch.geometry.pageSize;
  let run: MincoreRun | null = null;
  for (let k = 0; k < vec.length; k++) {
    const v = vec[k]! & 1;
    if (run !== null && run.resident === v) run.pages++;
    else {
      run = { start: hex(start + k * ps), pages: 1, resident: v };
      out.push(run);
    }
  }
}

function smapsRecord(m: Machine, mm: MmStruct, vma: Vma, flavour: Flavour): SmapsRecord {
  const { fields, vmFlags } = smapsVma(m, mm, vma, flavour);
  if (vma.backing.kind === "hugetlb" && vma.backing.hugeSize === GIB) {
    delete fields.Shared_Hugetlb;
    delete fields.Private_Hugetlb;
  }
  return {
    start: hex(vma.start),
    end: hex(vma.end),
    perms: vmaPerms(vma),
    offset: hex(vmaOffset(m, vma)),
    name: vmaName(vma),
    fields,
    VmFlags: vmFlags,
  };
}

function numaRecord(m: Machine, mm: MmStruct, vma: Vma, flavour: Flavour): NumaMapsRecord {
  const line = numaMapsVma(m, mm, vma, flavour);
  const rec: NumaMapsRecord = { start: hex(line.start), policy: line.policy, fields: {} };
  if (line.file !== null) rec.file = line.file;
  if (line.flags.length > 0) rec.flags = line.flags;
  for (const [k, v] of line.fields) rec.fields[k] = v;
  return rec;
}

/** One process's record. */
function procRecord(
  m: Machine,
  mm: MmStruct,
  ranges: ReadonlyArray<[number, number]>,
  what: readonly string[],
  flavour: Flavour,
  ids: CanonicalIds,
): ProcRecord {
  const vmas = mm.vmas.filter((v) => observedPieces(v, ranges).length > 0);
  const rec: ProcRecord = {};
  const want = (w: string) => what.includes(w);
  if (want("smaps") || want("numa_maps")) {
    mm.mmapLock.readLock("observe");
    try {
      if (want("smaps")) rec.smaps = vmas.map((v) => smapsRecord(m, mm, v, flavour));
      if (want("numa_maps")) rec.numa_maps = vmas.map((v) => numaRecord(m, mm, v, flavour));
    } finally {
      mm.mmapLock.readUnlock();
    }
  }
  if (want("pagemap") || want("kpageflags")) {
    const st: PageState = { pagemap: [], kpageflags: [] };
    for (const v of vmas) {
      for (const [s, e] of observedPieces(v, ranges)) {
        pagesOfPiece(m, mm, v, s, e, flavour, ids, st);
      }
    }
    if (want("pagemap")) rec.pagemap = st.pagemap;
    if (want("kpageflags")) rec.kpageflags = st.kpageflags;
  }
  if (want("smaps_rollup")) {
    const r = smapsRollup(m, mm, flavour, vmas);
    const has1G = vmas.some((v) => v.backing.kind === "hugetlb" && v.backing.hugeSize === GIB);
    const fields: Record<string, number> = {};
    for (const [k, v] of r.lines) {
      if (k.startsWith("Pss")) continue;
      if (has1G && (k === "Shared_Hugetlb" || k === "Private_Hugetlb")) continue;
      fields[k] = v;
    }
    rec.smaps_rollup = { start: hex(r.start), end: hex(r.end), fields };
  }
  if (want("mincore")) {
    const runs: MincoreRun[] = [];
    for (const v of vmas) {
      for (const [s, e] of observedPieces(v, ranges)) mincoreRuns(m, mm, s, e, flavour, runs);
    }
    rec.mincore = runs;
  }
  return rec;
}

/**
 * observe - record an `observe` step's observation in the run's document:
 * the named (default: every live) processes in name order, each with the
 * files of `what` over the VMAs overlapping the scenario's memory. The
 * users run on the walker generation of the run: the mainline or unified
 * callback walker, or pt_range_walk (smaps, smaps_rollup, numa_maps,
 * pagemap and mincore have pt_range ports; kpageflags does not walk).
 *
 * Locking: each user takes the mmap lock of the process for read.
 */
export function observe(st: RunState, step: ObserveStep): void {
  const m = st.machine;
  const flavour: Generation = st.walker;
  const ranges = st.regions.observedRanges();
  const names = (step.procs ?? [...m.procs.keys()])
    .filter((n) => {
      const mm = m.procs.get(n);
      return mm !== undefined && !mm.exited;
    })
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const ids = new CanonicalIds();
  const procs: Record<string, ProcRecord> = {};
  for (const name of names) {
    procs[name] = procRecord(m, m.procs.get(name)!, ranges, step.what, flavour, ids);
  }
  st.doc.observations.push({ step: step.index, label: step.label, procs });
}
