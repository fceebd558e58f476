/**
 * x86_64 bits that only kernel mappings and the x86 page-table dumper need:
 * the PAT cache-mode bits of a kernel leaf (fixmap MMIO pages) and the
 * protection view of arch/x86/mm/dump_pagetables.c (ptdump). Kept beside the
 * codec so that nothing above src/arch names a bit.
 *
 * Protection values are packed into one small integer: entry bits 0..11
 * (the low flag bits) as bits 0..11, entry bits 52..63 (the high flag bits:
 * SOFTW4/5, protection keys, NX) as bits 12..23. That is exactly the set of
 * bits `PTE_FLAGS_MASK` (= ~PTE_PFN_MASK, PFN bits 12..51) keeps, so two
 * packed values compare equal exactly when the kernel's `val & PTE_FLAGS_MASK`
 * do. Bit 12 (`_PAGE_PAT_LARGE`) is a PFN bit to that mask, so it never
 * reaches the dumper — a quirk of the kernel's printer reproduced here.
 */
import { Level } from "./types.js";

// Low-half bits (arch/x86/include/asm/pgtable_types.h).
const P = 0x1; // _PAGE_PRESENT
const RW = 0x2; // _PAGE_RW
const USER = 0x4; // _PAGE_USER
const PWT = 0x8; // _PAGE_PWT
const PCD = 0x10; // _PAGE_PCD
const PSE = 0x80; // _PAGE_PSE (PMD/PUD); _PAGE_PAT on a 4 KiB PTE
const GLOBAL = 0x100; // _PAGE_GLOBAL
const PAT_LARGE_LO = 0x1000; // _PAGE_PAT_LARGE, bit 12 of a PMD/PUD leaf
/** NX (bit 63) in the packed protection (bit 23). */
const NX_PACKED = 1 << 23;
/** Bit 12 of the packed value would be entry bit 52; bit 12 of the entry is not kept. */
const PACKED_HI_SHIFT = 12;

/**
 * Page cache modes (enum page_cache_mode) and their PWT/PCD/PAT encoding
 * with the PAT MSR layout Linux programs at boot (arch/x86/mm/pat/memtype.c
 * pat_bp_init(): 0 WB, 1 WC, 2 UC-, 3 UC, 4 WB, 5 WP, 6 UC-, 7 WT).
 */
export type X86CacheMode = "WB" | "WC" | "UC-" | "UC" | "WP" | "WT";

/** PAT index (PAT<<2 | PCD<<1 | PWT) of each mode. */
const PAT_INDEX: Readonly<Record<X86CacheMode, number>> = {
  WB: 0,
  WC: 1,
  "UC-": 2,
  UC: 3,
  WP: 5,
  WT: 7,
};

/**
 * Apply a cache mode to the leaf entry at `idx` of `dst` (a table of
 * `level`), as cachemode2protval() does when the kernel builds a protection
 * such as PAGE_KERNEL_IO_NOCACHE (UC: PCD|PWT). The PAT bit is bit 7 on a
 * 4 KiB PTE and bit 12 (`_PAGE_PAT_LARGE`) on a PMD/PUD leaf.
 */
export function x86SetCacheMode(
  dst: Uint32Array,
  idx: number,
  mode: X86CacheMode,
  level: Level,
): void {
  const pat = PAT_INDEX[mode];
  let lo = dst[2 * idx]! & ~(PWT | PCD);
  if (level === Level.PTE) lo &= ~PSE;
  else lo &= ~PAT_LARGE_LO;
  if (pat & 1) lo |= PWT;
  if (pat & 2) lo |= PCD;
  if (pat & 4) lo |= level === Level.PTE ? PSE : PAT_LARGE_LO;
  dst[2 * idx] = lo >>> 0;
}

/** `val & PTE_FLAGS_MASK`, packed (see the file comment). */
export function x86PtdumpProt(lo: number, hi: number): number {
  return (hi >>> 20) * 2 ** PACKED_HI_SHIFT + (lo & 0xfff);
}

/**
 * The effective protection of an entry under a higher level's effective
 * protection (dump_pagetables.c effective_prot()): USER and RW only when
 * every level grants them, NX when any level sets it.
 */
export function x86PtdumpEffective(higher: number, prot: number): number {
  return (higher & prot & (USER | RW)) | ((higher | prot) & NX_PACKED);
}

/**
 * The flag columns printk_prot() prints for a packed protection at ptdump
 * level `level` (0 pgd … 4 pte): 30 characters, blank when not present;
 * "USR", "RW"/"ro", "PWT", "PCD", "PSE" (levels ≤ 3), "PAT" (bit 7 at pte
 * level, bit 12 at pud/pmd — never set in a packed value), "GLB", "NX"/"x ".
 * The level name is not included.
 */
export function x86PtdumpProtText(prot: number, level: number): string {
  if ((prot & P) === 0) return "                              ";
  let s = prot & USER ? "USR " : "    ";
  s += prot & RW ? "RW " : "ro ";
  s += prot & PWT ? "PWT " : "    ";
  s += prot & PCD ? "PCD " : "    ";
  s += level <= 3 && prot & PSE ? "PSE " : "    ";
  // PAT: bit 7 of a PTE. At pud/pmd level the kernel tests _PAGE_PAT_LARGE
  // (entry bit 12), which PTE_FLAGS_MASK has already removed: never printed.
  s += level === 4 && prot & PSE ? "PAT " : "    ";
  s += prot & GLOBAL ? "GLB " : "    ";
  s += prot & NX_PACKED ? "NX " : "x  ";
  return s;
}
