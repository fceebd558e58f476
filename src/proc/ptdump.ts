/**
 * The x86 page-table dump: /sys/kernel/debug/page_tables/kernel and
 * current_kernel (arch/x86/mm/dump_pagetables.c on top of mm/ptdump.c,
 * Linux 6.12–6.18), byte for byte.
 *
 * How the kernel produces it, and so this file:
 *
 * - ptdump_walk_pgd() takes the mm's mmap write lock (and, for a user mm,
 *   init_mm's, nested) and calls walk_page_range_debug() for each range:
 *   [0, PTRS_PER_PGD * PGD_LEVEL_MULT / 2) and [GUARD_HOLE_END_ADDR, ~0) —
 *   the hypervisor guard hole is never walked. Then it flushes the last run.
 * - The walk ops note a page (note_page(addr, level, value)) for every PTE
 *   (none ones included), for every leaf at PGD…PMD level (then
 *   ACTION_CONTINUE), and for every hole of depth 0…4 with a zero value.
 *   Before that, each entry callback records the level's effective
 *   protection (USER and RW only if every level grants them, NX if any
 *   level sets it).
 * - note_page() extends the current run while `value & PTE_FLAGS_MASK`,
 *   the effective protection (0 for a zero value) and the level stay the
 *   same and no address marker is reached; otherwise it prints the run
 *   `0x%016lx-0x%016lx   %9lu%c <flags> <level>` (size in the largest
 *   unit B/K/M/G/T/P/E that divides it) and, when the new address is at or
 *   past the next marker, advances by **one** marker and prints its
 *   `---[ name ]---` header (so a run that spans several markers shows the
 *   later headers one note late, as the kernel does). The flush is a note
 *   at address 0, so the last line ends at 0x0000000000000000.
 * - Every bit outside the PFN counts: runs break on accessed, dirty,
 *   soft-dirty, special, saved-dirty and swap-entry bits alike.
 *
 * The markers are those of a distro configuration (MODIFY_LDT_SYSCALL,
 * X86_ESPFIX64, EFI; no KASAN) at their default (nokaslr) addresses; see
 * src/mm/init-mm.ts for the layout. The flag columns come from the arch
 * layer (src/arch/x86_64-kernel.ts); this file names no bit.
 *
 * Processes: the model's process page tables hold only the user half; the
 * kernel half of every real PGD is a copy of init_mm's top-level entries
 * (pgd_ctor(), sync_global_pgds()), so current_kernel's kernel half is
 * walked in init_mm. PTI's current_user view (the user-mode PGD copy) is
 * not modelled.
 */
import { LEVEL_NAMES, Level } from "../arch/types.js";
import { x86PtdumpEffective, x86PtdumpProt, x86PtdumpProtText } from "../arch/x86_64-kernel.js";
import { getInitMm, initMmLayout, type KernelLayout } from "../mm/init-mm.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { PageTable } from "../mm/pgtable.js";
import { walkPageRangeDebug } from "../walk/kernel-walk.js";
import { type MmWalk, type MmWalkOps, WalkAction } from "../walk/types.js";

const TWO32 = 2 ** 32;
const TWO64 = 2 ** 64;

/** struct addr_marker: where a section starts, its name, an optional line limit. */
export interface AddressMarker {
  readonly start: number;
  readonly name: string;
  /** 0: unlimited. */
  readonly maxLines: number;
}

/**
 * address_markers[] of x86_64 for the layout (END_OF_SPACE_NR's start is
 * -1UL, kept as 2^64: no note address reaches it).
 */
export function x86AddressMarkers(L: KernelLayout): AddressMarker[] {
  const m = (start: number, name: string, maxLines = 0): AddressMarker => ({
    start,
    name,
    maxLines,
  });
  return [
    m(0, "User Space"),
    m(2 ** 63, "Kernel Space"),
    m(L.ldtBase, "LDT remap"),
    m(L.pageOffset, "Low Kernel Mapping"),
    m(L.vmallocStart, "vmalloc() Area"),
    m(L.vmemmapStart, "Vmemmap"),
    m(L.cpuEntryArea, "CPU entry Area"),
    m(L.espfixBase, "ESPfix Area", 16),
    m(L.efiVaEnd, "EFI Runtime Services"),
    m(L.startKernelMap, "High Kernel Mapping"),
    m(L.modulesVaddr, "Modules"),
    m(L.modulesEnd, "End Modules"),
    m(L.fixaddrStart, "Fixmap Area"),
    m(TWO64, ""),
  ];
}

/** `%016lx` of an unsigned 64-bit value held in a number. */
function hex16(n: number): string {
  const hi = Math.floor(n / TWO32);
  const lo = n - hi * TWO32;
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}

const UNITS = "BKMGTPE";

/** struct pg_state. */
class PgState {
  level = -1;
  currentProt = 0;
  effectiveProt = 0;
  readonly protLevels = [0, 0, 0, 0, 0];
  startAddress = 0;
  marker = 0;
  lines = 0;
  readonly out: string[] = [];

  constructor(readonly markers: readonly AddressMarker[]) {}

  /** effective_prot(): record the level's effective protection. */
  effective(level: number, lo: number, hi: number): void {
    const prot = x86PtdumpProt(lo, hi);
    this.protLevels[level] =
      level > 0 ? x86PtdumpEffective(this.protLevels[level - 1]!, prot) : prot;
  }

  /** note_page(). `addr` is unsigned 64-bit; `level` -1 only for the flush. */
  note(addr: number, level: number, lo: number, hi: number): void {
    const zero = lo === 0 && hi === 0;
    const newProt = x86PtdumpProt(lo, hi);
    const newEff = zero ? 0 : this.protLevels[level]!;
    const mk = this.markers;
    if (this.level === -1) {
      this.currentProt = newProt;
      this.effectiveProt = newEff;
      this.level = level;
      this.marker = 0;
      this.lines = 0;
      this.out.push(`---[ ${mk[0]!.name} ]---\n`);
      return;
    }
    const atMarker = addr >= mk[this.marker + 1]!.start;
    if (
      newProt === this.currentProt &&
      newEff === this.effectiveProt &&
      level === this.level &&
      !atMarker
    ) {
      return;
    }
    const cur = mk[this.marker]!;
    if (cur.maxLines === 0 || this.lines < cur.maxLines) {
      let delta = addr - this.startAddress;
      if (delta < 0) delta += TWO64;
      let u = 0;
      while (delta % 1024 === 0 && u < UNITS.length - 1) {
        delta /= 1024;
        u++;
      }
      this.out.push(
        `0x${hex16(this.startAddress)}-0x${hex16(addr)}   ${String(delta).padStart(9)}${UNITS[u]} ` +
          `${x86PtdumpProtText(this.currentProt, this.level)}${LEVEL_NAMES[this.level]}\n`,
      );
    }
    this.lines++;
    if (atMarker) {
      if (cur.maxLines && this.lines > cur.maxLines) {
        const nskip = this.lines - cur.maxLines;
        this.out.push(`... ${nskip} entr${nskip === 1 ? "y" : "ies"} skipped ... \n`);
      }
      this.marker++;
      this.lines = 0;
      this.out.push(`---[ ${mk[this.marker]!.name} ]---\n`);
    }
    this.startAddress = addr;
    this.currentProt = newProt;
    this.effectiveProt = newEff;
    this.level = level;
  }

  /** note_page_flush(): a zero note at address 0. */
  flush(): void {
    this.note(0, -1, 0, 0);
  }
}

/** The per-level entry callback of mm/ptdump.c: effective prot, then note leaves. */
function entryOp(level: Level) {
  return (t: PageTable, i: number, addr: number, _next: number, w: MmWalk<PgState>): number => {
    const lo = t.words[i * 2]!;
    const hi = t.words[i * 2 + 1]!;
    const st = w.private;
    st.effective(level, lo, hi);
    if (w.machine.arch.isLeaf(lo, hi, level)) {
      st.note(addr, level, lo, hi);
      w.action = WalkAction.CONTINUE;
    }
    return 0;
  };
}

/** ptdump_ops. */
const PTDUMP_OPS: MmWalkOps<PgState> = {
  pgdEntry: entryOp(Level.PGD),
  p4dEntry: entryOp(Level.P4D),
  pudEntry: entryOp(Level.PUD),
  pmdEntry: entryOp(Level.PMD),
  pteEntry(t, i, addr, _next, w) {
    const lo = t.words[i * 2]!;
    const hi = t.words[i * 2 + 1]!;
    w.private.effective(Level.PTE, lo, hi);
    w.private.note(addr, Level.PTE, lo, hi);
    return 0;
  },
  pteHole(addr, _next, depth, w) {
    if (depth >= 0 && depth <= 4) w.private.note(addr, depth, 0, 0);
    return 0;
  },
};

function checkX86(machine: Machine): void {
  if (!machine.arch.geometry.name.startsWith("x86_64")) {
    throw new Error(`ptdump: the x86 dump format needs x86_64, not ${machine.arch.geometry.name}`);
  }
}

/**
 * ptdump_walk_pgd() for the x86 ranges: the user half walked in @userMm,
 * the kernel half in init_mm (shared by every PGD). Takes and drops the
 * locks itself, as the kernel does.
 */
function dump(machine: Machine, userMm: MmStruct): string {
  checkX86(machine);
  const initMm = getInitMm(machine);
  const L = initMmLayout(machine);
  const st = new PgState(x86AddressMarkers(L));
  const user = userMm !== initMm;
  userMm.mmapLock.writeLock("ptdump_walk_pgd");
  try {
    if (user) initMm.mmapLock.writeLock("ptdump_walk_pgd (nested)");
    try {
      walkPageRangeDebug(machine, userMm, 0, L.userHalfEnd, PTDUMP_OPS, null, st);
      walkPageRangeDebug(machine, initMm, L.guardHoleEnd, TWO64, PTDUMP_OPS, null, st);
    } finally {
      if (user) initMm.mmapLock.writeUnlock();
    }
  } finally {
    userMm.mmapLock.writeUnlock();
  }
  st.flush();
  return st.out.join("");
}

/**
 * /sys/kernel/debug/page_tables/kernel: init_mm's page tables, every
 * section from "User Space" (empty) to "Fixmap Area".
 *
 * Locking: takes init_mm's mmap lock for write; it must be free.
 *
 * Return: the file's text. Throws for a non-x86_64 machine.
 */
export function ptdumpKernel(machine: Machine): string {
  return dump(machine, getInitMm(machine));
}

/** Options of {@link ptdumpProcess}. */
export interface PtdumpProcessOptions {
  /** true: the whole current_kernel file; false (default): its User Space section only. */
  kernelHalf?: boolean;
}

const KERNEL_SPACE_HEADER = "---[ Kernel Space ]---\n";

/**
 * /sys/kernel/debug/page_tables/current_kernel as read by the process of
 * @mm: its user half, then the kernel half it shares with init_mm. By
 * default only the "User Space" section is returned — the file up to the
 * "---[ Kernel Space ]---" header; its last line is the run that the first
 * kernel-half note (at GUARD_HOLE_END_ADDR) ends.
 *
 * Locking: takes @mm's mmap lock for write and init_mm's (nested); both
 * must be free.
 *
 * Return: the text. Throws for a non-x86_64 machine.
 */
export function ptdumpProcess(
  machine: Machine,
  mm: MmStruct,
  opts: PtdumpProcessOptions = {},
): string {
  const text = dump(machine, mm);
  if (opts.kernelHalf) return text;
  const cut = text.indexOf(KERNEL_SPACE_HEADER);
  return cut < 0 ? text : text.slice(0, cut);
}
