/**
 * Software leaf entries (include/linux/leafops.h, merged for 6.19; seed 004;
 * shared/spec/kernel-api.md §4): one type for every leaf entry that is not
 * present — none, swap, migration (read, read-exclusive, write), device
 * private (read, write), device exclusive, hwpoison and PTE markers (uffd-wp,
 * poison, guard).
 *
 * The kernel's softleaf_t is `type << 58 | offset` in one 64-bit word. Here a
 * softleaf is a small mutable struct ({@link Softleaf}): the classified type
 * (enum softleaf_type), the raw swap type number, the offset, and — unlike the
 * kernel's value — the swp flag bits of the entry it came from (exclusive,
 * soft-dirty, uffd-wp). The kernel strips those from the softleaf and leaves
 * them in the arch entry; keeping them beside the value saves hot paths a
 * second decode, and {@link softleafToEntry} puts them back.
 *
 * Hot paths pass one struct and reuse it (`softleafFromPte(m, t, i, scratch)`)
 * or ask only for the type code ({@link softleafTypeOfEntry}): nothing here
 * allocates unless the caller omits the struct.
 *
 * Type numbers come from the machine's configuration ({@link SwapTypes}:
 * MAX_SWAPFILES and the special types above it shift with
 * CONFIG_MEMORY_FAILURE / CONFIG_DEVICE_PRIVATE, §4.2).
 *
 * Levels: softleaf_from_pte() decodes PTE-format entries; hugetlb code reads
 * every hugetlb entry as a PTE (huge_ptep_get()), so it may be given a PMD or
 * PUD slot of a hugetlb VMA. softleaf_from_pmd() decodes every kind on x86
 * (CONFIG_ARCH_ENABLE_THP_MIGRATION is set, and a non-present PMD shares the
 * PTE swap layout); softleaf_from_pud() is the pt_range RFC's (seed 000) and
 * likewise decodes every kind, markers included — our decision on open
 * questions 5 and 6 of §9 (on x86 the PUD swp flag bits sit where the PTE's
 * do).
 */
import { Level, SwpFlag } from "../arch/types.js";
import type { SwapTypes } from "../mm/config.js";
import type { Machine } from "../mm/machine.js";
import type { PageTable } from "../mm/pgtable.js";

/** enum softleaf_type, in the kernel's order (0…9). */
export const SoftleafType = {
  NONE: 0,
  SWAP: 1,
  MIGRATION_READ: 2,
  MIGRATION_READ_EXCLUSIVE: 3,
  MIGRATION_WRITE: 4,
  DEVICE_PRIVATE_READ: 5,
  DEVICE_PRIVATE_WRITE: 6,
  DEVICE_EXCLUSIVE: 7,
  HWPOISON: 8,
  MARKER: 9,
} as const;
export type SoftleafType = (typeof SoftleafType)[keyof typeof SoftleafType];

/** Names of {@link SoftleafType}, indexed by the type code. */
export const SOFTLEAF_TYPE_NAMES = [
  "none",
  "swap",
  "migration_read",
  "migration_read_exclusive",
  "migration_write",
  "device_private_read",
  "device_private_write",
  "device_exclusive",
  "hwpoison",
  "marker",
] as const;

/** PTE marker bits (the marker's offset): PTE_MARKER_UFFD_WP, _POISONED, _GUARD. */
export const PTE_MARKER_UFFD_WP = 1 << 0;
export const PTE_MARKER_POISONED = 1 << 1;
export const PTE_MARKER_GUARD = 1 << 2;
export const PTE_MARKER_MASK = (1 << 3) - 1;

/**
 * A decoded softleaf. `type` is the classification; `swpType` the raw type
 * number (0…31, -1 for none); `offset` the swap offset (for PFN-carrying
 * entries the PFN plus, for migration entries, the A/D bits above it; for
 * markers the marker bits); `flags` the entry's {@link SwpFlag} bits.
 */
export class Softleaf {
  type: SoftleafType = SoftleafType.NONE;
  swpType = -1;
  offset = 0;
  flags = 0;
  /** SWP_PFN_BITS of the machine it was decoded on (for softleafToPfn). */
  pfnBits = 0;

  /** Copy another softleaf into this one (no allocation). */
  copyFrom(o: Softleaf): this {
    this.type = o.type;
    this.swpType = o.swpType;
    this.offset = o.offset;
    this.flags = o.flags;
    this.pfnBits = o.pfnBits;
    return this;
  }
}

/**
 * softleaf_type() of a raw swap type number under the machine's numbering.
 * A number that no configured type has (e.g. a device type with
 * CONFIG_DEVICE_PRIVATE off) is a bug in whoever wrote the entry: the
 * kernel WARNs and says NONE; the model throws.
 */
export function softleafTypeFromSwpType(st: SwapTypes, type: number): SoftleafType {
  if (type < st.maxSwapfiles) return SoftleafType.SWAP;
  if (type === st.marker) return SoftleafType.MARKER;
  if (type === st.migrationRead) return SoftleafType.MIGRATION_READ;
  if (type === st.migrationReadExclusive) return SoftleafType.MIGRATION_READ_EXCLUSIVE;
  if (type === st.migrationWrite) return SoftleafType.MIGRATION_WRITE;
  if (type === st.hwpoison) return SoftleafType.HWPOISON;
  if (type === st.deviceRead) return SoftleafType.DEVICE_PRIVATE_READ;
  if (type === st.deviceWrite) return SoftleafType.DEVICE_PRIVATE_WRITE;
  if (type === st.deviceExclusive) return SoftleafType.DEVICE_EXCLUSIVE;
  throw new Error(`softleaf: swap type ${type} is not configured on this machine`);
}

/** The raw swap type number of a classified type (the inverse of the above); -1 for none. */
export function swpTypeOfSoftleafType(st: SwapTypes, type: SoftleafType, swapDevice = 0): number {
  switch (type) {
    case SoftleafType.NONE:
      return -1;
    case SoftleafType.SWAP:
      return swapDevice;
    case SoftleafType.MIGRATION_READ:
      return st.migrationRead;
    case SoftleafType.MIGRATION_READ_EXCLUSIVE:
      return st.migrationReadExclusive;
    case SoftleafType.MIGRATION_WRITE:
      return st.migrationWrite;
    case SoftleafType.DEVICE_PRIVATE_READ:
      return st.deviceRead;
    case SoftleafType.DEVICE_PRIVATE_WRITE:
      return st.deviceWrite;
    case SoftleafType.DEVICE_EXCLUSIVE:
      return st.deviceExclusive;
    case SoftleafType.HWPOISON:
      return st.hwpoison;
    default:
      return st.marker;
  }
}

function decode(
  m: Machine,
  lo: number,
  hi: number,
  level: Level,
  presentLevel: Level,
  out: Softleaf,
): Softleaf {
  const a = m.arch;
  out.pfnBits = a.geometry.swpPfnBits;
  if (a.isNone(lo, hi, level) || a.isPresent(lo, hi, presentLevel)) {
    out.type = SoftleafType.NONE;
    out.swpType = -1;
    out.offset = 0;
    out.flags = 0;
    return out;
  }
  const type = a.swpType(lo, hi, level);
  out.swpType = type;
  out.type = softleafTypeFromSwpType(m.swapTypes, type);
  out.offset = a.swpOffset(lo, hi, level);
  out.flags = a.swpFlags(lo, hi, level);
  return out;
}

/**
 * softleaf_from_pte - the softleaf of the PTE-format entry in slot @i of @t.
 * @out: the struct to fill (reuse one on hot paths).
 *
 * A present or none entry gives NONE (check pte_present() first to tell them
 * apart). Hugetlb entries of any level may be read here: huge_ptep_get()
 * reads them as PTEs.
 *
 * Locking: none taken; the caller holds what makes the entry stable (PTL) or
 * treats the value as a hint.
 *
 * Return: @out.
 */
export function softleafFromPte(
  m: Machine,
  t: PageTable,
  i: number,
  out: Softleaf = new Softleaf(),
): Softleaf {
  return decode(m, t.words[i * 2]!, t.words[i * 2 + 1]!, t.level, Level.PTE, out);
}

/**
 * softleaf_from_pmd - the softleaf of the PMD entry in slot @i of @t (a PMD
 * table). Present (leaf or table) and none PMDs give NONE. On x86 every
 * kind decodes (§9 item 6, our decision): THP PMDs only ever hold migration
 * (or, post-6.18, device-private) entries; hugetlb PMDs may hold any.
 *
 * Locking: as softleafFromPte().
 *
 * Return: @out.
 */
export function softleafFromPmd(
  m: Machine,
  t: PageTable,
  i: number,
  out: Softleaf = new Softleaf(),
): Softleaf {
  return decode(m, t.words[i * 2]!, t.words[i * 2 + 1]!, Level.PMD, Level.PMD, out);
}

/**
 * softleaf_from_pud - the softleaf of the PUD entry in slot @i of @t (the
 * pt_range RFC's addition, seed 000): hugetlb PUDs can hold migration,
 * hwpoison and marker entries. Present and none PUDs give NONE; a PROT_NONE
 * hugetlb PUD (P clear, PROTNONE set) is present to hugetlb, so present is
 * tested as for a huge PTE.
 *
 * Locking: as softleafFromPte().
 *
 * Return: @out.
 */
export function softleafFromPud(
  m: Machine,
  t: PageTable,
  i: number,
  out: Softleaf = new Softleaf(),
): Softleaf {
  return decode(m, t.words[i * 2]!, t.words[i * 2 + 1]!, Level.PUD, Level.PTE, out);
}

/**
 * The {@link SoftleafType} of the entry in slot @i of @t, without a struct:
 * NONE for none and present entries. Present is tested as for a PTE at PTE
 * level and a huge PTE above (PROTNONE counts).
 *
 * Return: the type code.
 */
export function softleafTypeOfEntry(m: Machine, t: PageTable, i: number): SoftleafType {
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  const a = m.arch;
  const presentLevel = t.level === Level.PMD ? Level.PMD : Level.PTE;
  if (a.isNone(lo, hi, t.level) || a.isPresent(lo, hi, presentLevel)) return SoftleafType.NONE;
  return softleafTypeFromSwpType(m.swapTypes, a.swpType(lo, hi, t.level));
}

/** softleaf_mk_none(). */
export function softleafMkNone(out: Softleaf = new Softleaf()): Softleaf {
  out.type = SoftleafType.NONE;
  out.swpType = -1;
  out.offset = 0;
  out.flags = 0;
  return out;
}

/**
 * softleaf_to_pte() (plus the flag bits the struct carries): write @e as an
 * entry into slot @i of @dst at @level. A NONE softleaf writes a zero entry.
 * This only encodes; it does not keep PageTable.used (use src/ops/entries.ts
 * to change page tables).
 */
export function softleafToEntry(
  m: Machine,
  e: Softleaf,
  dst: Uint32Array,
  i: number,
  level: Level,
): void {
  if (e.type === SoftleafType.NONE) {
    dst[i * 2] = 0;
    dst[i * 2 + 1] = 0;
    return;
  }
  m.arch.encodeSwp(dst, i, e.swpType, e.offset, e.flags, level);
}

// ---- predicates (kernel-api.md §4.3) ----

export function softleafIsNone(e: Softleaf): boolean {
  return e.type === SoftleafType.NONE;
}

export function softleafIsSwap(e: Softleaf): boolean {
  return e.type === SoftleafType.SWAP;
}

export function softleafIsMigration(e: Softleaf): boolean {
  return (
    e.type === SoftleafType.MIGRATION_READ ||
    e.type === SoftleafType.MIGRATION_READ_EXCLUSIVE ||
    e.type === SoftleafType.MIGRATION_WRITE
  );
}

export function softleafIsMigrationRead(e: Softleaf): boolean {
  return e.type === SoftleafType.MIGRATION_READ;
}

export function softleafIsMigrationReadExclusive(e: Softleaf): boolean {
  return e.type === SoftleafType.MIGRATION_READ_EXCLUSIVE;
}

export function softleafIsMigrationWrite(e: Softleaf): boolean {
  return e.type === SoftleafType.MIGRATION_WRITE;
}

/**
 * softleaf_is_migration_young(): the A bit stored above the PFN, when the
 * machine stores it (migration_entry_supports_ad()); false otherwise.
 * Throws (the kernel WARNs) when @e is not a migration entry.
 */
export function softleafIsMigrationYoung(m: Machine, e: Softleaf): boolean {
  if (!softleafIsMigration(e)) throw new Error("softleafIsMigrationYoung: not a migration entry");
  if (!m.arch.migrationSupportsAd) return false;
  return Math.floor(e.offset / 2 ** e.pfnBits) % 2 === 1;
}

/** softleaf_is_migration_dirty(): the D bit above the A bit; see the young variant. */
export function softleafIsMigrationDirty(m: Machine, e: Softleaf): boolean {
  if (!softleafIsMigration(e)) throw new Error("softleafIsMigrationDirty: not a migration entry");
  if (!m.arch.migrationSupportsAd) return false;
  return Math.floor(e.offset / 2 ** (e.pfnBits + 1)) % 2 === 1;
}

export function softleafIsDevicePrivate(e: Softleaf): boolean {
  return (
    e.type === SoftleafType.DEVICE_PRIVATE_READ || e.type === SoftleafType.DEVICE_PRIVATE_WRITE
  );
}

export function softleafIsDevicePrivateWrite(e: Softleaf): boolean {
  return e.type === SoftleafType.DEVICE_PRIVATE_WRITE;
}

export function softleafIsDeviceExclusive(e: Softleaf): boolean {
  return e.type === SoftleafType.DEVICE_EXCLUSIVE;
}

/** Device private (read or write) or device exclusive: pt_range's DEVICE. */
export function softleafIsDevice(e: Softleaf): boolean {
  return softleafIsDevicePrivate(e) || e.type === SoftleafType.DEVICE_EXCLUSIVE;
}

export function softleafIsHwpoison(e: Softleaf): boolean {
  return e.type === SoftleafType.HWPOISON;
}

export function softleafIsMarker(e: Softleaf): boolean {
  return e.type === SoftleafType.MARKER;
}

/** softleaf_to_marker(): the marker bits. Throws (the kernel WARNs) when @e is not a marker. */
export function softleafToMarker(e: Softleaf): number {
  if (e.type !== SoftleafType.MARKER) throw new Error("softleafToMarker: not a marker");
  return e.offset & PTE_MARKER_MASK;
}

export function softleafIsUffdWpMarker(e: Softleaf): boolean {
  return e.type === SoftleafType.MARKER && (e.offset & PTE_MARKER_UFFD_WP) !== 0;
}

export function softleafIsPoisonMarker(e: Softleaf): boolean {
  return e.type === SoftleafType.MARKER && (e.offset & PTE_MARKER_POISONED) !== 0;
}

export function softleafIsGuardMarker(e: Softleaf): boolean {
  return e.type === SoftleafType.MARKER && (e.offset & PTE_MARKER_GUARD) !== 0;
}

/** pte_is_uffd_marker(): a uffd-wp or poison marker. */
export function softleafIsUffdMarker(e: Softleaf): boolean {
  return (
    e.type === SoftleafType.MARKER && (e.offset & (PTE_MARKER_UFFD_WP | PTE_MARKER_POISONED)) !== 0
  );
}

/** softleaf_has_pfn(): migration, device private/exclusive or hwpoison. */
export function softleafHasPfn(e: Softleaf): boolean {
  return e.type >= SoftleafType.MIGRATION_READ && e.type <= SoftleafType.HWPOISON;
}

/**
 * softleaf_to_pfn(): `offset & SWP_PFN_MASK` (migration A/D bits dropped).
 * Throws (the kernel WARNs) unless softleafHasPfn(@e).
 */
export function softleafToPfn(e: Softleaf): number {
  if (!softleafHasPfn(e)) throw new Error("softleafToPfn: entry carries no PFN");
  return e.offset % 2 ** e.pfnBits;
}

/**
 * softleaf_to_folio(): the head PFN of the folio the entry's PFN belongs to.
 * (The kernel asserts a migration entry's folio is locked; the model's
 * migration keeps it locked while entries exist.)
 */
export function softleafToFolio(m: Machine, e: Softleaf): number {
  return m.phys.folioHead(softleafToPfn(e));
}

/** softleaf_to_page(): the exact page (PFN) the entry names. */
export function softleafToPage(e: Softleaf): number {
  return softleafToPfn(e);
}

/** pte_swp_exclusive() etc. of the entry the softleaf came from. */
export function softleafSwpExclusive(e: Softleaf): boolean {
  return (e.flags & SwpFlag.EXCLUSIVE) !== 0;
}

export function softleafSwpSoftDirty(e: Softleaf): boolean {
  return (e.flags & SwpFlag.SOFT_DIRTY) !== 0;
}

export function softleafSwpUffdWp(e: Softleaf): boolean {
  return (e.flags & SwpFlag.UFFD_WP) !== 0;
}

/**
 * pmd_is_valid_softleaf() / softleaf_is_valid_pmd_entry(): the only
 * non-present entries a THP PMD may hold (migration; device private is not
 * in 6.18, §9 item 14, but is accepted as the newest tree does).
 */
export function softleafIsValidPmdEntry(e: Softleaf): boolean {
  return softleafIsMigration(e) || softleafIsDevicePrivate(e);
}

/** pte_none_mostly() of a *non-present* entry's softleaf: none, or any marker. */
export function softleafIsNoneMostly(e: Softleaf): boolean {
  return e.type === SoftleafType.NONE || e.type === SoftleafType.MARKER;
}
