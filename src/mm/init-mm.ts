/**
 * init_mm: the kernel's own address space, simulated for x86_64 (4-level)
 * and x86_64-la57 (5-level), for the kernel page-table walkers and ptdump.
 *
 * What is mapped (addresses: Documentation/arch/x86/x86_64/mm.rst and
 * arch/x86/include/asm/{page_64_types,pgtable_64_types,fixmap}.h, Linux
 * 6.12; a distro configuration — Debian's amd64 config: RANDOMIZE_BASE,
 * MODIFY_LDT_SYSCALL, X86_ESPFIX64, EFI, PARAVIRT_XXL, ACPI_APEI_GHES, no
 * KASAN — booted with `nokaslr`, so every region sits at its default base):
 *
 * - the direct map of all RAM at PAGE_OFFSET, built the way
 *   init_mem_mapping() / split_mem_range() (arch/x86/mm/init.c) do it: the
 *   ISA range [0, 1 MiB) first with 4 KiB pages, then the rest with 4 KiB
 *   pages up to the first 2 MiB boundary, 2 MiB pages up to the first 1 GiB
 *   boundary, 1 GiB pages (X86_FEATURE_GBPAGES assumed), and 2 MiB / 4 KiB
 *   pages for the tail; PAGE_KERNEL (RW, NX, global, accessed, dirty);
 * - a few vmalloc() allocations of 4 KiB pages at VMALLOC_START, each
 *   followed by its one-page guard hole (__get_vm_area_node() adds
 *   PAGE_SIZE unless VM_NO_GUARD); PAGE_KERNEL;
 * - the kernel image at __START_KERNEL = __START_KERNEL_map +
 *   CONFIG_PHYSICAL_START (16 MiB) with 2 MiB pages, as head_64.S maps it
 *   and mark_rodata_ro() leaves it: text read-only executable, rodata
 *   read-only NX, data/bss read-write NX (set_memory_ro() also clears
 *   DIRTY since the shadow-stack work, so RO entries carry no D); the rest
 *   of the kernel PMD table is empty, as cleanup_highmap() leaves it;
 * - the fixmap's two PTE tables (level1_fixmap_pgt: PMD slots 506 and 507
 *   of the last PUD, FIXMAP_PMD_TOP / FIXMAP_PMD_NUM) with the local APIC
 *   (FIX_APIC_BASE) and the first I/O APIC (FIX_IO_APIC_BASE_0) mapped
 *   PAGE_KERNEL_IO_NOCACHE (UC). vsyscall=xonly (the default) maps no
 *   vsyscall page.
 *
 * Not modelled: vmemmap, the LDT remap, the CPU entry area, ESPfix, EFI
 * runtime services and modules — their ptdump sections print as holes.
 * PTI is taken as off (an AMD machine, like the reference one), so kernel
 * mappings keep _PAGE_GLOBAL.
 *
 * Determinism: building init_mm never touches the buddy allocator, the
 * page-table registry the verifier checks, or the machine's id counter, so
 * it may be built at any time (lazily, by {@link getInitMm}) without
 * changing what a scenario allocates. Its page-table pages and the frames
 * behind its vmalloc area come from the physical memory below the model's
 * RAM (PFNs under RAM_BASE_PFN = 16 MiB, which PhysMem never allocates):
 * the kernel allocates its early tables from the brk area / memblock, not
 * the buddy allocator, either.
 */

import { type ArchCodec, Level, PteFlag } from "../arch/types.js";
import { x86SetCacheMode } from "../arch/x86_64-kernel.js";
import type { Machine } from "./machine.js";
import { MmStruct } from "./mm.js";
import { type PageTable, PageTables } from "./pgtable.js";
import type { PhysMem } from "./phys.js";

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;
const TWO64 = 2 ** 64;

/** An unsigned 64-bit value given as a negative offset from 2^64 (e.g. `-256UL << 39`). */
function neg(bytes: number): number {
  return TWO64 - bytes;
}

/** A named kernel region, for ptdump markers and tests. */
export interface KernelRange {
  readonly start: number;
  readonly end: number;
}

/**
 * The kernel virtual layout of one paging mode (default bases, no KASLR).
 * Every address is an unsigned 64-bit value held in a number: all of them
 * are multiples of 4 KiB, which doubles represent exactly up to 2^64.
 */
export interface KernelLayout {
  readonly la57: boolean;
  /** End of the user half walked by ptdump: PTRS_PER_PGD * PGD_LEVEL_MULT / 2. */
  readonly userHalfEnd: number;
  /** GUARD_HOLE_END_ADDR: -256 PGD entries + 16 PGD entries (hypervisor hole). */
  readonly guardHoleEnd: number;
  /** LDT_BASE_ADDR: PGD entry -240. */
  readonly ldtBase: number;
  /** PAGE_OFFSET: __PAGE_OFFSET_BASE_L4 / _L5. */
  readonly pageOffset: number;
  /** VMALLOC_START: __VMALLOC_BASE_L4 / _L5. */
  readonly vmallocStart: number;
  /** VMEMMAP_START: __VMEMMAP_BASE_L4 / _L5. */
  readonly vmemmapStart: number;
  /** CPU_ENTRY_AREA_BASE: P4D entry -4 (P4D_SHIFT is 39 in both modes). */
  readonly cpuEntryArea: number;
  /** ESPFIX_BASE_ADDR: P4D entry -2. */
  readonly espfixBase: number;
  /** EFI_VA_END: -68 GiB. */
  readonly efiVaEnd: number;
  /** __START_KERNEL_map. */
  readonly startKernelMap: number;
  /** MODULES_VADDR: __START_KERNEL_map + KERNEL_IMAGE_SIZE (1 GiB with RANDOMIZE_BASE). */
  readonly modulesVaddr: number;
  /** MODULES_END. */
  readonly modulesEnd: number;
  /** FIXADDR_START = FIXADDR_TOP - FIXADDR_SIZE. */
  readonly fixaddrStart: number;
  /** FIXADDR_TOP = round_up(VSYSCALL_ADDR + PAGE_SIZE, PMD_SIZE) - PAGE_SIZE. */
  readonly fixaddrTop: number;
  /** Kernel image sections (virtual), 2 MiB aligned. */
  readonly text: KernelRange;
  readonly rodata: KernelRange;
  readonly data: KernelRange;
  /** The vmalloc() allocations (mapped pages only; each is followed by a guard page). */
  readonly vmalloc: readonly KernelRange[];
  /** Fixmap pages mapped (virtual address of each). */
  readonly fixmapPages: readonly number[];
}

/** CONFIG_PHYSICAL_START: where the image is linked to run (__START_KERNEL offset). */
const PHYSICAL_START = 16 * MIB;
/**
 * Section sizes of the model's kernel image (text, rodata, data+bss+brk),
 * each a whole number of 2 MiB pages. Smaller than a distro kernel's
 * (~20/10/4 MiB) so that the image fits below the model's RAM.
 */
const TEXT_SIZE = 4 * MIB;
const RODATA_SIZE = 2 * MIB;
const DATA_SIZE = 2 * MIB;
/** Physical load address of the image in the model (see {@link PHYS_POOLS}). */
const IMAGE_PHYS = 4 * MIB;

/**
 * Physical memory below the model's RAM (PFNs under 0x1000 = 16 MiB), laid
 * out by the model: [2 MiB, 4 MiB) backs the vmalloc pages, [4 MiB, 12 MiB)
 * holds the kernel image (the real kernel sits at 16 MiB and up, where the
 * model's buddy allocator starts, so the model loads it lower: phys_base
 * absorbs the difference, as it does for any relocated kernel), and
 * [12 MiB, 16 MiB) is the page-table pool (the brk area's role).
 */
const PHYS_POOLS = {
  vmalloc: { first: (2 * MIB) / 4096, end: (4 * MIB) / 4096 },
  pgtable: { first: (12 * MIB) / 4096, end: (16 * MIB) / 4096 },
} as const;

/**
 * vmalloc() allocations made at boot, in pages, placed first-fit from
 * VMALLOC_START: a 16 KiB one (THREAD_SIZE, a vmap'ed task stack), an
 * 8 KiB one and a 32 KiB one. Page-aligned (a vmap stack is THREAD_ALIGN
 * aligned: VMALLOC_START is, the others are not stacks).
 */
const VMALLOC_PAGES = [4, 2, 8] as const;

/**
 * Fixmap slots mapped, as enum fixed_addresses indices for the distro
 * configuration: VSYSCALL_PAGE = 511, FIX_DBGP_BASE 512,
 * FIX_EARLYCON_MEM_BASE 513, FIX_APIC_BASE 514, FIX_IO_APIC_BASE_0 515 …
 * +127 (MAX_IO_APICS 128), FIX_PARAVIRT_BOOTMAP 643, FIX_APEI_GHES_IRQ 644,
 * FIX_APEI_GHES_NMI 645, __end_of_permanent_fixed_addresses 646.
 */
const FIX_APIC_BASE = 514;
const FIX_IO_APIC_BASE_0 = 515;
const END_OF_PERMANENT_FIXED_ADDRESSES = 646;
/** The MMIO frames they map: the default local APIC and I/O APIC bases. */
const APIC_DEFAULT_PHYS_BASE = 0xfee00000;
const IO_APIC_DEFAULT_PHYS_BASE = 0xfec00000;

/** The layout of the paging mode `arch` describes. */
export function kernelLayout(arch: ArchCodec): KernelLayout {
  const la57 = !arch.geometry.levels[Level.P4D]!.folded;
  const pgdirShift = arch.geometry.levels[Level.PGD]!.shift;
  const p4dShift = 39;
  const pgdSize = 2 ** pgdirShift;
  const guardHoleBase = neg(256 * pgdSize);
  const startKernelMap = neg(2 * GIB); // 0xffffffff80000000
  const text0 = startKernelMap + PHYSICAL_START;
  const vsyscallAddr = neg(10 * MIB); // 0xffffffffff600000 (-10UL << 20)
  const fixaddrTop = vsyscallAddr + 2 * MIB - 4096; // round_up(+4K, 2M) - 4K
  const fixToVirt = (idx: number) => fixaddrTop - idx * 4096;
  const vmallocStart = la57 ? 0xffa0000000000000 : 0xffffc90000000000;
  const vmalloc: KernelRange[] = [];
  let va = vmallocStart;
  for (const n of VMALLOC_PAGES) {
    vmalloc.push({ start: va, end: va + n * 4096 });
    va += (n + 1) * 4096; // the guard page
  }
  return {
    la57,
    userHalfEnd: 256 * pgdSize,
    guardHoleEnd: guardHoleBase + 16 * pgdSize,
    ldtBase: neg(240 * pgdSize),
    pageOffset: la57 ? 0xff11000000000000 : 0xffff888000000000,
    vmallocStart,
    vmemmapStart: la57 ? 0xffd4000000000000 : 0xffffea0000000000,
    cpuEntryArea: neg(4 * 2 ** p4dShift),
    espfixBase: neg(2 * 2 ** p4dShift),
    efiVaEnd: neg(68 * GIB),
    startKernelMap,
    modulesVaddr: startKernelMap + GIB,
    modulesEnd: neg(16 * MIB), // 0xffffffffff000000
    fixaddrStart: fixaddrTop - END_OF_PERMANENT_FIXED_ADDRESSES * 4096,
    fixaddrTop,
    text: { start: text0, end: text0 + TEXT_SIZE },
    rodata: { start: text0 + TEXT_SIZE, end: text0 + TEXT_SIZE + RODATA_SIZE },
    data: {
      start: text0 + TEXT_SIZE + RODATA_SIZE,
      end: text0 + TEXT_SIZE + RODATA_SIZE + DATA_SIZE,
    },
    vmalloc,
    fixmapPages: [fixToVirt(FIX_APIC_BASE), fixToVirt(FIX_IO_APIC_BASE_0)],
  };
}

// Kernel protections as codec flags (arch/x86/include/asm/pgtable_types.h).
/** __PAGE_KERNEL: present, RW, accessed, dirty, NX, global. */
const PAGE_KERNEL = PteFlag.KERNEL | PteFlag.GLOBAL | PteFlag.WRITE | PteFlag.YOUNG | PteFlag.DIRTY;
/** __PAGE_KERNEL_RO: present, accessed, NX, global. */
const PAGE_KERNEL_RO = PteFlag.KERNEL | PteFlag.GLOBAL | PteFlag.YOUNG;
/** __PAGE_KERNEL_ROX: present, accessed, global (executable). */
const PAGE_KERNEL_ROX = PAGE_KERNEL_RO | PteFlag.EXEC;

/**
 * A bump allocator standing in for PhysMem inside init_mm's PageTables: it
 * hands out frames of the page-table pool below the model's RAM and never
 * frees (kernel page tables of these regions are never freed).
 */
class BootPool {
  private next: number;

  constructor(
    first: number,
    private readonly end: number,
    private readonly what: string,
  ) {
    this.next = first;
  }

  allocFolio(order: number, _nid: number, _flags: number): number {
    const n = 2 ** order;
    if (this.next + n > this.end) throw new Error(`init_mm: ${this.what} pool exhausted`);
    const pfn = this.next;
    this.next += n;
    return pfn;
  }

  freeFolio(pfn: number): void {
    throw new Error(`init_mm: ${this.what} frame ${pfn.toString(16)} is never freed`);
  }
}

const initMms = new WeakMap<Machine, MmStruct>();
const layouts = new WeakMap<MmStruct, KernelLayout>();

/** Write one leaf of `level` at `va` mapping `pfn` with `flags`. */
function mapLeaf(
  pt: PageTables,
  va: number,
  pfn: number,
  level: Level,
  flags: number,
): { t: PageTable; i: number } {
  const t = pt.tableFor(va, level, true)!;
  const i = pt.index(level, va);
  pt.arch.encodeLeaf(t.words, i, pfn, flags, level);
  t.used++;
  return { t, i };
}

/**
 * split_mem_range() for [start, end) of physical memory mapped at
 * `pageOffset + phys`: 4 KiB up to the first 2 MiB boundary, 2 MiB up to
 * the first 1 GiB boundary, 1 GiB pages, then 2 MiB and 4 KiB for the tail.
 */
function mapDirect(pt: PageTables, pageOffset: number, start: number, end: number): void {
  const up = (x: number, a: number) => Math.ceil(x / a) * a;
  const down = (x: number, a: number) => Math.floor(x / a) * a;
  const segments: Array<[number, number, Level, number]> = [];
  let p = start;
  const head4k = Math.min(up(p, 2 * MIB), end);
  segments.push([p, head4k, Level.PTE, 4096]);
  p = head4k;
  const head2m = Math.min(up(p, GIB), down(end, 2 * MIB));
  if (head2m > p) {
    segments.push([p, head2m, Level.PMD, 2 * MIB]);
    p = head2m;
  }
  const mid1g = down(end, GIB);
  if (mid1g > p) {
    segments.push([p, mid1g, Level.PUD, GIB]);
    p = mid1g;
  }
  const tail2m = down(end, 2 * MIB);
  if (tail2m > p) {
    segments.push([p, tail2m, Level.PMD, 2 * MIB]);
    p = tail2m;
  }
  segments.push([p, end, Level.PTE, 4096]);
  for (const [s, e, level, size] of segments) {
    for (let a = s; a < e; a += size) mapLeaf(pt, pageOffset + a, a / 4096, level, PAGE_KERNEL);
  }
}

function buildInitMm(machine: Machine): MmStruct {
  const arch = machine.arch;
  if (!arch.geometry.name.startsWith("x86_64")) {
    throw new Error(`init_mm is modelled for x86_64 only, not ${arch.geometry.name}`);
  }
  const L = kernelLayout(arch);
  const pool = new BootPool(PHYS_POOLS.pgtable.first, PHYS_POOLS.pgtable.end, "page-table");
  // A private registry: the verifier checks m.tables against live processes.
  const pt = new PageTables(arch, pool as unknown as PhysMem, new Map(), true);
  // id 0: Machine.newId() starts at 1, and init_mm must not consume an id.
  const mm = new MmStruct(0, "init_mm", pt);

  // Direct map: all of physical memory the machine has, [0, maxPfn).
  const physEnd = machine.phys.maxPfn * 4096;
  const isaEnd = 1 * MIB; // ISA_END_ADDRESS
  mapDirect(pt, L.pageOffset, 0, Math.min(isaEnd, physEnd));
  if (physEnd > isaEnd) mapDirect(pt, L.pageOffset, isaEnd, physEnd);

  // vmalloc area.
  let vpfn = PHYS_POOLS.vmalloc.first;
  for (const r of L.vmalloc) {
    for (let va = r.start; va < r.end; va += 4096) {
      if (vpfn >= PHYS_POOLS.vmalloc.end) throw new Error("init_mm: vmalloc pool exhausted");
      mapLeaf(pt, va, vpfn++, Level.PTE, PAGE_KERNEL);
    }
  }

  // Kernel image, 2 MiB pages.
  const sections: Array<[KernelRange, number]> = [
    [L.text, PAGE_KERNEL_ROX],
    [L.rodata, PAGE_KERNEL_RO],
    [L.data, PAGE_KERNEL],
  ];
  for (const [r, flags] of sections) {
    for (let va = r.start; va < r.end; va += 2 * MIB) {
      mapLeaf(pt, va, (IMAGE_PHYS + (va - L.text.start)) / 4096, Level.PMD, flags);
    }
  }

  // Fixmap: both PTE tables exist from boot (level1_fixmap_pgt), mapped or not.
  pt.tableFor(L.fixaddrTop + 4096 - 4 * MIB, Level.PTE, true);
  pt.tableFor(L.fixaddrTop + 4096 - 2 * MIB, Level.PTE, true);
  const mmio = [APIC_DEFAULT_PHYS_BASE, IO_APIC_DEFAULT_PHYS_BASE];
  L.fixmapPages.forEach((va, k) => {
    const { t, i } = mapLeaf(pt, va, mmio[k]! / 4096, Level.PTE, PAGE_KERNEL);
    x86SetCacheMode(t.words, i, "UC", Level.PTE);
  });

  layouts.set(mm, L);
  return mm;
}

/**
 * getInitMm - the machine's init_mm, built on first use.
 * @machine: the machine (its architecture decides 4- or 5-level layout;
 *           its physical memory size decides the direct map's extent).
 *
 * init_mm is not one of `machine.procs` and has no VMAs. Building it changes
 * no other state of the machine (see the file comment).
 *
 * Return: the same MmStruct on every call for one machine. Throws for an
 * architecture other than x86_64 / x86_64-la57.
 */
export function getInitMm(machine: Machine): MmStruct {
  let mm = initMms.get(machine);
  if (mm === undefined) {
    mm = buildInitMm(machine);
    initMms.set(machine, mm);
  }
  return mm;
}

/** Whether `mm` is `machine`'s init_mm (false when it has not been built). */
export function isInitMm(machine: Machine, mm: MmStruct): boolean {
  return initMms.get(machine) === mm;
}

/** The layout init_mm was built with. */
export function initMmLayout(machine: Machine): KernelLayout {
  return layouts.get(getInitMm(machine))!;
}
