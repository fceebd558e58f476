import { LockError, RwLock } from "./locks.js";
import type { AddressSpace } from "./pagecache.js";

/**
 * vm_flags bits 0..31 (include/linux/mm.h), in the kernel's bit order so
 * smaps prints them in order. Bits above 31 live in {@link VmHi}.
 */
export const VM = {
  READ: 1 << 0,
  WRITE: 1 << 1,
  EXEC: 1 << 2,
  SHARED: 1 << 3,
  MAYREAD: 1 << 4,
  MAYWRITE: 1 << 5,
  MAYEXEC: 1 << 6,
  MAYSHARE: 1 << 7,
  GROWSDOWN: 1 << 8,
  UFFD_MISSING: 1 << 9,
  PFNMAP: 1 << 10,
  MAYBE_GUARD: 1 << 11,
  UFFD_WP: 1 << 12,
  LOCKED: 1 << 13,
  IO: 1 << 14,
  SEQ_READ: 1 << 15,
  RAND_READ: 1 << 16,
  DONTCOPY: 1 << 17,
  DONTEXPAND: 1 << 18,
  LOCKONFAULT: 1 << 19,
  ACCOUNT: 1 << 20,
  NORESERVE: 1 << 21,
  HUGETLB: 1 << 22,
  SYNC: 1 << 23,
  ARCH_1: 1 << 24,
  WIPEONFORK: 1 << 25,
  DONTDUMP: 1 << 26,
  SOFTDIRTY: 1 << 27,
  MIXEDMAP: 1 << 28,
  HUGEPAGE: 1 << 29,
  NOHUGEPAGE: 1 << 30,
  MERGEABLE: 1 << 31,
} as const;

/** vm_flags bits 32 and up, as `bit - 32`. */
export const VmHi = {
  UFFD_MINOR: 1 << (41 - 32),
  SEALED: 1 << (42 - 32),
} as const;

/** smaps mnemonics for bits 0..31 (show_smap_vma_flags). */
export const VM_MNEMONICS: readonly string[] = [
  "rd", "wr", "ex", "sh", "mr", "mw", "me", "ms", "gd", "um", "pf", "gu", "uw", "lo", "io", "sr",
  "rr", "dc", "de", "lf", "ac", "nr", "ht", "sf", "ar", "wf", "dd", "sd", "mm", "hg", "nh", "mg",
]; // biome-ignore format: table

/** smaps mnemonics for bits 32..63 ("" = hidden). */
export const VM_HI_MNEMONICS: ReadonlyMap<number, string> = new Map([
  [41 - 32, "ui"],
  [42 - 32, "sl"],
]);

/** The anon_vma a VMA's anonymous pages hang off (mm/rmap.c). */
export interface AnonVma {
  readonly id: number;
  /** Created for a fork child: never reused by a neighbour (anon_vma_clone). */
  readonly forkChild: boolean;
}

/** Swap readahead state kept per VMA (vma->swap_readahead_info). */
export interface SwapRaInfo {
  lastAddr: number;
  win: number;
  hits: number;
}

export type VmaBacking =
  | { kind: "anon" }
  /** A regular file or shmem object, mapped from page `pgoff` on. */
  | { kind: "file"; space: AddressSpace }
  /** hugetlbfs: huge page size in bytes. */
  | { kind: "hugetlb"; space: AddressSpace; hugeSize: number };

export interface UffdCtx {
  readonly id: number;
  readonly async: boolean;
}

/**
 * A vm_area_struct. VMAs are few; plain objects are fine here. `pgoff` is
 * in base pages (vm_pgoff).
 */
export class Vma {
  flags: number;
  flagsHi = 0;
  anonVma: AnonVma | null = null;
  uffd: UffdCtx | null = null;
  swapRa: SwapRaInfo = { lastAddr: 0, win: 0, hits: 4 };
  /** Memory policy: null = the process default. */
  policy: MemPolicy | null = null;
  /** This VMA was created by fork (its anon_vma, if any, is a child's). */
  forkChild = false;
  /** The per-VMA lock's read side (lock_vma_under_rcu / vma_end_read). */
  readonly vmLock: RwLock;
  /** mm_lock_seq of the mmap write lock under which vma_start_write() ran, or -1. */
  lockSeq = -1;
  /** The hugetlb VMA lock (hugetlb_vma_lock_read/write); every VMA has one, hugetlb ones use it. */
  readonly hugetlbLock: RwLock;

  constructor(
    public start: number,
    public end: number,
    flags: number,
    public pgoff: number,
    public backing: VmaBacking,
  ) {
    this.flags = flags;
    this.vmLock = new RwLock(`vma_lock@${start.toString(16)}`);
    this.hugetlbLock = new RwLock(`hugetlb_vma_lock@${start.toString(16)}`);
  }

  get isAnon(): boolean {
    return this.backing.kind === "anon" && (this.flags & VM.SHARED) === 0;
  }

  get isHugetlb(): boolean {
    return this.backing.kind === "hugetlb";
  }

  /** The backing object (file, shmem or hugetlbfs), null for private anon. */
  get space(): AddressSpace | null {
    return this.backing.kind === "anon" ? null : this.backing.space;
  }

  /** File page index of `addr`. */
  pageIndex(addr: number, pageShift: number): number {
    return this.pgoff + Math.floor((addr - this.start) / 2 ** pageShift);
  }

  has(flag: number): boolean {
    return (this.flags & flag) !== 0;
  }

  /** Copy of this VMA (vm_area_dup). */
  clone(): Vma {
    const v = new Vma(this.start, this.end, this.flags, this.pgoff, this.backing);
    v.flagsHi = this.flagsHi;
    v.anonVma = this.anonVma;
    v.uffd = this.uffd;
    v.swapRa = { ...this.swapRa };
    v.policy = this.policy;
    v.forkChild = this.forkChild;
    return v;
  }
}

export interface MemPolicy {
  mode: "default" | "bind" | "preferred" | "interleave" | "local" | "weighted_interleave";
  nodes: number[];
}

/**
 * vma_start_write(): write-lock `vma` until the mmap write lock `mmapLock`
 * is released (the VMA's lock sequence matches the mm's).
 */
export function vmaStartWrite(mmapLock: RwLock, vma: Vma, who: string): void {
  mmapLock.assertWriteLocked(who);
  vma.lockSeq = mmapLock.seq;
}

/** Whether `vma` is write-locked (__is_vma_write_locked). */
export function vmaIsWriteLocked(mmapLock: RwLock, vma: Vma): boolean {
  return mmapLock.writer !== null && vma.lockSeq === mmapLock.seq;
}

/** vma_assert_write_locked(). */
export function vmaAssertWriteLocked(mmapLock: RwLock, vma: Vma, who: string): void {
  if (!vmaIsWriteLocked(mmapLock, vma)) {
    throw new LockError(
      `${who}: VMA ${vma.start.toString(16)}-${vma.end.toString(16)} is not write-locked`,
    );
  }
}

/** vma_assert_locked(): read-locked through the per-VMA lock, or write-locked. */
export function vmaAssertLocked(mmapLock: RwLock, vma: Vma, who: string): void {
  if (vma.vmLock.readers === 0 && !vmaIsWriteLocked(mmapLock, vma)) {
    throw new LockError(
      `${who}: VMA ${vma.start.toString(16)}-${vma.end.toString(16)} is not locked`,
    );
  }
}
