/**
 * x86_64 page-table entries, bit for bit (arch/x86/include/asm/pgtable*.h as of
 * ≈6.18; spec: arch.md §1). Two codecs share every function and differ only in
 * geometry: `x86_64` (4-level paging, 48-bit VA, P4D folded at run time) and
 * `x86_64La57` (5-level paging, 57-bit VA).
 *
 * All arithmetic is on the two 32-bit halves with plain numbers; fields that
 * straddle bit 32 (the PFN at 12..51, the swap offset at 9..58) are split with
 * multiplication/division by powers of two, never with shifts past bit 31.
 */

import type { ArchCodec, Geometry, HugetlbSize, LevelGeometry } from "./types.js";
import { Level, PteFlag, SwpFlag } from "./types.js";

// ---- bits of the low half (bits 0..31) ----
const P = 0x1; // _PAGE_PRESENT
const RW = 0x2; // _PAGE_RW
const USER = 0x4; // _PAGE_USER
const ACCESSED = 0x20; // _PAGE_ACCESSED (young)
const DIRTY_HW = 0x40; // _PAGE_DIRTY
const PSE = 0x80; // _PAGE_PSE on PMD/PUD (PAT on a 4 KiB PTE)
const GLOBAL = 0x100; // _PAGE_GLOBAL when P is set ...
const PROTNONE = 0x100; // ... _PAGE_PROTNONE when P is clear
const SPECIAL = 0x200; // _PAGE_SPECIAL (SOFTW1)
const UFFD_WP = 0x400; // _PAGE_UFFD_WP (SOFTW2)
const SOFT_DIRTY = 0x800; // _PAGE_SOFT_DIRTY (SOFTW3)
/** pte_none() ignores A and D (Xeon Phi erratum: _PAGE_KNL_ERRATUM_MASK). */
const KNL_ERRATUM_MASK = ACCESSED | DIRTY_HW;
/** _PAGE_TABLE = P|RW|USER|A|D; _KERNPG_TABLE drops USER. */
const PAGE_TABLE = 0x67;
const KERNPG_TABLE = 0x63;

// ---- bits of the high half (bits 32..63), as values of `hi` ----
const SAVED_DIRTY_HI = 1 << 26; // bit 58, _PAGE_SAVED_DIRTY (SOFTW5)
const NX_HI = 0x8000_0000; // bit 63, _PAGE_NX
const PFN_HI_MASK = 0xf_ffff; // PFN bits 32..51 = pfn bits 20..39

// ---- PFN field (bits 12..51) split as 20 + 20 bits of the PFN ----
const PFN_LO_BITS = 20;
const PFN_LO_SPAN = 2 ** PFN_LO_BITS;
const PFN_LO_MASK = PFN_LO_SPAN - 1;
/** Low-20-bit PFN masks of a leaf: pmd_pfn_mask()/pud_pfn_mask() with PSE set. */
const PMD_LEAF_PFN_LO_MASK = PFN_LO_MASK & ~0x1ff; // PFN bits 21..51
const PUD_LEAF_PFN_LO_MASK = PFN_LO_MASK & ~0x3_ffff; // PFN bits 30..51

// ---- swap format (arch.md §1.6) ----
const SWP_SOFT_DIRTY = 0x2; // _PAGE_SWP_SOFT_DIRTY (RW position)
const SWP_UFFD_WP = 0x4; // _PAGE_SWP_UFFD_WP (USER position)
const SWP_EXCLUSIVE = 0x8; // _PAGE_SWP_EXCLUSIVE (PWT position)
const SWP_OFFSET_FIRST_BIT = 9;
const SWP_OFFSET_BITS = 50; // bits 9..58
const SWP_OFFSET_SPAN = 2 ** SWP_OFFSET_BITS;
const SWP_OFFSET_MAX = SWP_OFFSET_SPAN - 1;
/** How many offset bits fit in `lo` above bit 9. */
const SWP_OFFSET_LO_BITS = 32 - SWP_OFFSET_FIRST_BIT; // 23
const SWP_OFFSET_LO_SPAN = 2 ** SWP_OFFSET_LO_BITS;
const SWP_OFFSET_HI_MASK = 2 ** (SWP_OFFSET_BITS - SWP_OFFSET_LO_BITS) - 1; // 27 bits
const SWP_TYPE_HI_SHIFT = 27; // type at bits 59..63
const SWP_TYPE_MASK = 0x1f;

/** Low-20-bit PFN mask of a leaf at `level`, or -1 when no leaf may sit there. */
function leafPfnLoMask(level: Level): number {
  switch (level) {
    case Level.PTE:
      return PFN_LO_MASK;
    case Level.PMD:
      return PMD_LEAF_PFN_LO_MASK;
    case Level.PUD:
      return PUD_LEAF_PFN_LO_MASK;
    default:
      return -1;
  }
}

/** __pte_needs_invert(): a non-zero entry with P clear holds its PFN inverted (L1TF). */
function needsInvert(lo: number, hi: number): boolean {
  return (lo & P) === 0 && (lo !== 0 || hi !== 0);
}

/** pte_none() / pmd_none() / pud_none(): zero apart from A and D. */
function isNone(lo: number, hi: number, _level: Level): boolean {
  return (lo & ~KNL_ERRATUM_MASK) === 0 && hi === 0;
}

/**
 * pte_present() (P or PROTNONE), pmd_present() (P, PROTNONE or PSE: an
 * invalidated huge PMD stays present), pud_present() / p4d_present() /
 * pgd_present() (P only).
 */
function isPresent(lo: number, _hi: number, level: Level): boolean {
  switch (level) {
    case Level.PTE:
      return (lo & (P | PROTNONE)) !== 0;
    case Level.PMD:
      return (lo & (P | PROTNONE | PSE)) !== 0;
    default:
      return (lo & P) !== 0;
  }
}

/** pmd_leaf() / pud_leaf(): PSE set, no present check. Every PTE is a leaf; PGD/P4D never. */
function isLeaf(lo: number, _hi: number, level: Level): boolean {
  switch (level) {
    case Level.PTE:
      return true;
    case Level.PMD:
    case Level.PUD:
      return (lo & PSE) !== 0;
    default:
      return false;
  }
}

/**
 * pte_pfn() / pmd_pfn() / pud_pfn(): the PFN field, un-inverted when P is
 * clear (protnone_mask()), masked to the leaf alignment when PSE is set
 * (pmd_pfn_mask() / pud_pfn_mask()).
 */
function leafPfn(lo: number, hi: number, level: Level): number {
  let pfnLo = lo >>> 12;
  let pfnHi = hi & PFN_HI_MASK;
  if (needsInvert(lo, hi)) {
    pfnLo ^= PFN_LO_MASK;
    pfnHi ^= PFN_HI_MASK;
  }
  if ((lo & PSE) !== 0 && (level === Level.PMD || level === Level.PUD)) {
    pfnLo &= leafPfnLoMask(level);
  }
  return pfnLo + pfnHi * PFN_LO_SPAN;
}

/**
 * PteFlag view of a leaf: pte_write() (RW; no shadow stacks modelled),
 * pte_young() (A), pte_dirty() (D or SavedDirty), pte_exec() (!NX),
 * pte_special(), pte_uffd_wp(), pte_soft_dirty(), pte_protnone(). An entry with
 * P clear grants no access, so WRITE/EXEC/KERNEL/GLOBAL are reported only when P is set.
 */
function leafFlags(lo: number, hi: number, _level: Level): number {
  let f = 0;
  if ((lo & P) !== 0) {
    if ((lo & RW) !== 0) f |= PteFlag.WRITE;
    if ((lo & USER) === 0) f |= PteFlag.KERNEL;
    if ((lo & GLOBAL) !== 0) f |= PteFlag.GLOBAL;
    if ((hi & NX_HI) === 0) f |= PteFlag.EXEC;
  } else if ((lo & PROTNONE) !== 0) {
    f |= PteFlag.PROTNONE;
  }
  if ((lo & ACCESSED) !== 0) f |= PteFlag.YOUNG;
  if ((lo & DIRTY_HW) !== 0 || (hi & SAVED_DIRTY_HI) !== 0) f |= PteFlag.DIRTY;
  if ((lo & SPECIAL) !== 0) f |= PteFlag.SPECIAL;
  if ((lo & UFFD_WP) !== 0) f |= PteFlag.UFFD_WP;
  if ((lo & SOFT_DIRTY) !== 0) f |= PteFlag.SOFT_DIRTY;
  return f;
}

/**
 * pfn_pte() / pfn_pmd() / pfn_pud() with a protection built from `flags`
 * (pte_mkwrite, pte_mkyoung, pte_mkdirty, pte_mkspecial, pmd_mkhuge ...):
 *
 * - DIRTY on a non-writable entry goes to SavedDirty (bit 58), as
 *   pte_wrprotect()/pte_mkdirty() shift it; writable + DIRTY uses D.
 * - EXEC absent sets NX; KERNEL leaves USER clear; GLOBAL sets bit 8.
 * - PROTNONE builds a PAGE_NONE-style entry (P clear, bit 8 set, no RW, USER or
 *   NX; WRITE/EXEC/KERNEL/GLOBAL are ignored) with the PFN field inverted (L1TF).
 * - PMD/PUD leaves get PSE; the PFN is aligned down to the leaf size, as the
 *   kernel masks it with PHYSICAL_PMD_PAGE_MASK / PHYSICAL_PUD_PAGE_MASK.
 */
function encodeLeaf(dst: Uint32Array, idx: number, pfn: number, flags: number, level: Level): void {
  const alignMask = leafPfnLoMask(level);
  if (alignMask < 0) {
    throw new RangeError(`x86_64: no leaf entries at level ${level} (pgd/p4d)`);
  }
  let pfnLo = pfn % PFN_LO_SPAN;
  let pfnHi = Math.floor(pfn / PFN_LO_SPAN) & PFN_HI_MASK;
  let lo = level === Level.PTE ? 0 : PSE;
  let hi = 0;
  let writable = false;
  if ((flags & PteFlag.PROTNONE) !== 0) {
    lo |= PROTNONE;
    pfnLo ^= PFN_LO_MASK;
    pfnHi ^= PFN_HI_MASK;
  } else {
    lo |= P;
    if ((flags & PteFlag.WRITE) !== 0) {
      lo |= RW;
      writable = true;
    }
    if ((flags & PteFlag.KERNEL) === 0) lo |= USER;
    if ((flags & PteFlag.GLOBAL) !== 0) lo |= GLOBAL;
    if ((flags & PteFlag.EXEC) === 0) hi |= NX_HI;
  }
  if ((flags & PteFlag.YOUNG) !== 0) lo |= ACCESSED;
  if ((flags & PteFlag.DIRTY) !== 0) {
    if (writable) lo |= DIRTY_HW;
    else hi |= SAVED_DIRTY_HI;
  }
  if ((flags & PteFlag.SPECIAL) !== 0) lo |= SPECIAL;
  if ((flags & PteFlag.UFFD_WP) !== 0) lo |= UFFD_WP;
  if ((flags & PteFlag.SOFT_DIRTY) !== 0) lo |= SOFT_DIRTY;
  lo |= (pfnLo & alignMask) << 12;
  hi |= pfnHi;
  dst[2 * idx] = lo >>> 0;
  dst[2 * idx + 1] = hi >>> 0;
}

/**
 * pmd_populate() / pud_populate() / p4d_populate() / pgd_populate(): the
 * table's physical address with _PAGE_TABLE (0x67), or _KERNPG_TABLE (0x63)
 * for kernel page tables (pmd_populate_kernel()).
 */
function encodeTable(
  dst: Uint32Array,
  idx: number,
  tablePfn: number,
  level: Level,
  kernel: boolean,
): void {
  if (level === Level.PTE) {
    throw new RangeError("x86_64: a PTE cannot point to a table");
  }
  const pfnLo = tablePfn % PFN_LO_SPAN;
  const pfnHi = Math.floor(tablePfn / PFN_LO_SPAN) & PFN_HI_MASK;
  dst[2 * idx] = ((pfnLo << 12) | (kernel ? KERNPG_TABLE : PAGE_TABLE)) >>> 0;
  dst[2 * idx + 1] = pfnHi;
}

/** pmd_pfn() / pud_pfn() / p4d_pfn() of a table entry (PTE_PFN_MASK, PSE clear). */
function tablePfn(lo: number, hi: number, _level: Level): number {
  return (lo >>> 12) + (hi & PFN_HI_MASK) * PFN_LO_SPAN;
}

/**
 * __swp_entry() + __swp_entry_to_pte() (or swp_entry_to_pmd()), then
 * pte_swp_mkexclusive() / pte_swp_mksoft_dirty() / pte_swp_mkuffd_wp() (pmd_swp_*
 * for PMDs): bits 9..58 hold the bitwise NOT of the 50-bit offset (offsets are
 * truncated to 50 bits, as the kernel's shifts do), bits 59..63 the type.
 */
function encodeSwp(
  dst: Uint32Array,
  idx: number,
  type: number,
  offset: number,
  swpFlags: number,
  _level: Level,
): void {
  const inv = SWP_OFFSET_MAX - (offset % SWP_OFFSET_SPAN);
  let lo = (inv % SWP_OFFSET_LO_SPAN) << SWP_OFFSET_FIRST_BIT;
  if ((swpFlags & SwpFlag.SOFT_DIRTY) !== 0) lo |= SWP_SOFT_DIRTY;
  if ((swpFlags & SwpFlag.UFFD_WP) !== 0) lo |= SWP_UFFD_WP;
  if ((swpFlags & SwpFlag.EXCLUSIVE) !== 0) lo |= SWP_EXCLUSIVE;
  const hi = Math.floor(inv / SWP_OFFSET_LO_SPAN) | ((type & SWP_TYPE_MASK) << SWP_TYPE_HI_SHIFT);
  dst[2 * idx] = lo >>> 0;
  dst[2 * idx + 1] = hi >>> 0;
}

/** __swp_type(): bits 59..63. */
function swpType(_lo: number, hi: number, _level: Level): number {
  return hi >>> SWP_TYPE_HI_SHIFT;
}

/** __swp_offset(): bits 9..58 un-inverted; the flag bits below 9 are not part of it. */
function swpOffset(lo: number, hi: number, _level: Level): number {
  const inv = (hi & SWP_OFFSET_HI_MASK) * SWP_OFFSET_LO_SPAN + (lo >>> SWP_OFFSET_FIRST_BIT);
  return SWP_OFFSET_MAX - inv;
}

/** pte_swp_exclusive() / pte_swp_soft_dirty() / pte_swp_uffd_wp() (and pmd_swp_*). */
function swpFlags(lo: number, _hi: number, _level: Level): number {
  let f = 0;
  if ((lo & SWP_EXCLUSIVE) !== 0) f |= SwpFlag.EXCLUSIVE;
  if ((lo & SWP_SOFT_DIRTY) !== 0) f |= SwpFlag.SOFT_DIRTY;
  if ((lo & SWP_UFFD_WP) !== 0) f |= SwpFlag.UFFD_WP;
  return f;
}

const HUGETLB_SIZES: readonly HugetlbSize[] = Object.freeze([
  Object.freeze({ name: "2M", bytes: 2 ** 21, level: Level.PMD, contig: 1 }),
  Object.freeze({ name: "1G", bytes: 2 ** 30, level: Level.PUD, contig: 1 }),
]);

function row(level: Level, shift: number, entries: number, leafAllowed: boolean): LevelGeometry {
  return Object.freeze({ level, shift, entries, leafAllowed, folded: entries === 1 });
}

/**
 * The x86_64 geometry. With 4 levels PGDIR_SHIFT is 39 and p4d_offset()
 * returns the pgd slot (P4D folded, one entry); with LA57 PGDIR_SHIFT is 48.
 * MAX_PHYSMEM_BITS is 46 / 52, so SWP_PFN_BITS is 34 / 40.
 */
function geometry(la57: boolean): Geometry {
  return Object.freeze({
    name: la57 ? "x86_64-la57" : "x86_64",
    pageShift: 12,
    pageSize: 4096,
    levels: Object.freeze([
      row(Level.PGD, la57 ? 48 : 39, 512, false),
      row(Level.P4D, 39, la57 ? 512 : 1, false),
      row(Level.PUD, 30, 512, true),
      row(Level.PMD, 21, 512, true),
      row(Level.PTE, 12, 512, true),
    ]),
    // Exclusive top of the user half. The kernel's TASK_SIZE_MAX is one page
    // lower (0x7ffffffff000 with 4 levels: a guard page below the
    // non-canonical hole); with LA57 addresses above 2^47 need an mmap hint.
    userTop: la57 ? 2 ** 56 : 2 ** 47,
    hugetlbSizes: HUGETLB_SIZES,
    // THP_ORDERS_ALL_ANON: orders 2..PMD_ORDER (16K..2M), largest first.
    mthpOrders: Object.freeze([9, 8, 7, 6, 5, 4, 3, 2]),
    pmdShift: 21,
    pudShift: 30,
    swpPfnBits: la57 ? 40 : 34,
  });
}

function makeCodec(la57: boolean): ArchCodec {
  return Object.freeze({
    geometry: geometry(la57),
    isNone,
    isPresent,
    isLeaf,
    leafPfn,
    leafFlags,
    encodeLeaf,
    encodeTable,
    tablePfn,
    encodeSwp,
    swpType,
    swpOffset,
    swpFlags,
    // migration_entry_supports_ad(): assumes a CPU without the L1TF swap-size
    // cap (e.g. AMD, as on the reference machine), so the full 50-bit offset
    // holds SWP_MIG_YOUNG/SWP_MIG_DIRTY above the PFN.
    migrationSupportsAd: true,
  });
}

/** x86_64 with 4-level paging (48-bit VA, P4D folded): the reference machine's mode. */
export const x86_64: ArchCodec = makeCodec(false);

/** x86_64 with 5-level paging (LA57, 57-bit VA). */
export const x86_64La57: ArchCodec = makeCodec(true);
