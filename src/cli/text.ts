import { entryToHex } from "../arch/entry.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { Generation } from "../proc/common.js";
import { mapsHeader, vmaHeader, vmFlagNames } from "../proc/maps.js";
import { numaEscape, numaMapsVma } from "../proc/numa-maps.js";
import type { ObservationDocument } from "../proc/observation-types.js";
import { pagemapHalves, pagemapRead } from "../proc/pagemap.js";
import { MemSizeStats, mssLines, smapGatherStats, smapsVmaLines } from "../proc/smaps.js";
import { smapsRollup } from "../proc/smaps-rollup.js";

/** A short human-readable rendering of an observation document. */
export function formatObservationText(doc: ObservationDocument): string {
  const out: string[] = [`scenario ${doc.scenario}`];
  for (const o of doc.observations) {
    out.push(`\n== step ${o.step}: ${o.label}`);
    for (const [proc, rec] of Object.entries(o.procs)) {
      out.push(`-- ${proc}`);
      for (const s of rec.smaps ?? []) {
        const f = s.fields;
        const thp = f.AnonHugePages ? `  AnonHugePages ${f.AnonHugePages} kB (PMD-mapped)` : "";
        out.push(
          `${s.start}-${s.end} ${s.perms} ${s.name}  Rss ${f.Rss} kB  Pss ${f.Pss} kB${thp}  [${s.VmFlags.join(" ")}]`,
        );
      }
      for (const r of rec.pagemap ?? []) {
        const id =
          r.pfn !== undefined ? ` pfn#${r.pfn}` : r.swap !== undefined ? ` swap#${r.swap}` : "";
        out.push(`  pagemap     ${r.start} x${r.pages} ${r.flags.join(",") || "-"}${id}`);
      }
      for (const r of rec.kpageflags ?? []) {
        out.push(
          `  kpageflags  ${r.start} x${r.pages} pfn#${r.pfn} count ${r.count} ${r.flags.join(",")}`,
        );
      }
    }
  }
  for (const e of doc.errors) out.push(`error: step ${e.step} ${e.op} -> ${e.errno}`);
  for (const e of doc.uffd_events)
    out.push(`uffd: step ${e.step} ${e.addr} [${e.flags.join(",")}]`);
  return `${out.join("\n")}\n`;
}

/** `Label:` padded to 16 columns, value right-aligned in 8, " kB" (show_val_kb). */
function kbLine(label: string, value: number, width = 8): string {
  return `${`${label}:`.padEnd(16, " ")}${String(value).padStart(width, " ")} kB\n`;
}

/** gateSmaps() is constant: built once. */
let GATE_SMAPS: string | null = null;

/** The x86_64 gate VMA's smaps record ([vsyscall]), printed last (scenario-model.md). */
function gateSmaps(): string {
  if (GATE_SMAPS === null) GATE_SMAPS = buildGateSmaps();
  return GATE_SMAPS;
}

function buildGateSmaps(): string {
  const GATE_START = 0xffffffffff600000;
  let s = `${mapsHeader(GATE_START, GATE_START + 4096, "--xp", 0, "00:00", 0, "[vsyscall]")}\n`;
  s += kbLine("Size", 4) + kbLine("KernelPageSize", 4) + kbLine("MMUPageSize", 4);
  for (const [k, v] of mssLines(new MemSizeStats(), false)) s += smapsKbLine(k, v);
  s += `${"THPeligible:".padEnd(16, " ")}${"0".padStart(8, " ")}\nVmFlags: ex \n`;
  return s;
}

function smapsKbLine(label: string, value: number): string {
  // "Private_Hugetlb: " is 17 characters wide: its value field is 7.
  return label === "Private_Hugetlb"
    ? `Private_Hugetlb: ${String(value).padStart(7, " ")} kB\n`
    : kbLine(label, value);
}

/**
 * The exact text of /proc/pid/smaps for @mm: every VMA in address order
 * (proc.md §1.4 header, §2.1 lines, VmFlags with its trailing space), then
 * the [vsyscall] gate VMA on x86_64. @gen: the walker generation the
 * gathering runs on (mainline or unified callback walker, or pt_range_walk).
 *
 * Locking: takes @mm's mmap lock for read.
 */
export function renderSmaps(machine: Machine, mm: MmStruct, gen: Generation): string {
  let out = "";
  mm.mmapLock.readLock("smaps");
  try {
    for (const vma of mm.vmas) {
      const mss = new MemSizeStats();
      smapGatherStats(machine, mm, vma, gen, mss);
      out += `${vmaHeader(machine, vma)}\n`;
      for (const [k, v] of smapsVmaLines(machine, vma, mss)) {
        if (k === "THPeligible")
          out += `${"THPeligible:".padEnd(16, " ")}${String(v).padStart(8, " ")}\n`;
        else out += smapsKbLine(k, v);
      }
      out += "VmFlags: ";
      for (const f of vmFlagNames(machine, vma)) out += `${f} `;
      out += "\n";
    }
  } finally {
    mm.mmapLock.readUnlock();
  }
  if (machine.arch.geometry.name.startsWith("x86_64")) out += gateSmaps();
  return out;
}

/** The exact text of /proc/pid/smaps_rollup for @mm (proc.md §2.6), on walker generation @gen. */
export function renderSmapsRollup(machine: Machine, mm: MmStruct, gen: Generation): string {
  const r = smapsRollup(machine, mm, gen);
  let out = `${mapsHeader(r.start, r.end, "---p", 0, "00:00", 0, "[rollup]")}\n`;
  for (const [k, v] of r.lines) out += smapsKbLine(k, v);
  return out;
}

/** The exact text of /proc/pid/numa_maps for @mm (proc.md §3), on walker generation @gen. */
export function renderNumaMaps(machine: Machine, mm: MmStruct, gen: Generation): string {
  let out = "";
  mm.mmapLock.readLock("numa_maps");
  try {
    for (const vma of mm.vmas) {
      const l = numaMapsVma(machine, mm, vma, gen);
      let s = `${l.start.toString(16).padStart(8, "0")} ${l.policy}`;
      if (l.file !== null) s += ` file=${numaEscape(l.file)}`;
      for (const f of l.flags) s += ` ${f}`;
      for (const [k, v] of l.fields) s += ` ${k}=${v}`;
      out += `${s}\n`;
    }
  } finally {
    mm.mmapLock.readUnlock();
  }
  return out;
}

/**
 * pagemap as text (proc.md §12): one line per page of [start, end),
 * `<vaddr hex> 0x<entry %016x>`, read on walker generation @gen; with
 * `showPfn` false the PFN field reads 0.
 */
export function renderPagemap(
  machine: Machine,
  mm: MmStruct,
  start: number,
  end: number,
  gen: Generation,
  showPfn = true,
): string {
  const r = pagemapRead(machine, mm, start, end, gen, showPfn);
  const ps = machine.arch.geometry.pageSize;
  const lines: string[] = [];
  for (let k = 0; k < r.flags.length; k++) {
    const [lo, hi] = pagemapHalves(r, k);
    lines.push(`${(start + k * ps).toString(16)} ${entryToHex(lo, hi)}`);
  }
  return lines.length > 0 ? `${lines.join("\n")}\n` : "";
}
