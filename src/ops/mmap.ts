import { Level, PteFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { AddressSpace } from "../mm/pagecache.js";
import { PG } from "../mm/pageflags.js";
import { VM, Vma, type VmaBacking } from "../mm/vma.js";
import { KernelError } from "../scenario/errors.js";
import type { Backing, Prot } from "../scenario/types.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { pageProtWritable, softDirtyTracking } from "./fault-file.js";
import { hugeLevel } from "./hugetlb.js";
import { releaseUnmappedObjects } from "./objects.js";
import { populateRange } from "./populate.js";
import { mergeAround, modifyRange } from "./vma-ops.js";
import { freeEmptyTables, zapRange } from "./zap.js";

export interface MmapArgs {
  addr: number;
  len: number;
  prot: Prot;
  shared: boolean;
  backing: Backing;
  populate: boolean;
}

/** The page cache of a scenario file, created full on first use. */
function scenarioFile(m: Machine, name: string, size: number, fs: "tmpfs" | "disk"): AddressSpace {
  const existing = m.files.get(name);
  if (existing) return existing;
  const ps = m.arch.geometry.pageSize;
  const nr = Math.ceil(size / ps);
  const space = m.newSpace(`file:${name}`, fs, nr);
  // One 4 KiB write() per page: small folios, all in the page cache.
  const flags =
    fs === "tmpfs"
      ? PG.UPTODATE | PG.DIRTY | PG.LRU | PG.SWAPBACKED | PG.REFERENCED | PG.PAGECACHE
      : PG.UPTODATE | PG.LRU | PG.PRIVATE | PG.PAGECACHE;
  for (let i = 0; i < nr; i++) {
    const pfn = m.phys.allocFolio(0, 0, flags);
    m.phys.mapping[pfn] = space.id;
    m.phys.content[pfn] = space.contentOf(i);
    space.pages[i] = pfn;
  }
  m.files.set(name, space);
  return space;
}

/** VM_* flags of a new mapping (do_mmap, calc_vm_prot_bits + calc_vm_flag_bits). */
export function protFlags(prot: Prot): number {
  return (prot.read ? VM.READ : 0) | (prot.write ? VM.WRITE : 0) | (prot.exec ? VM.EXEC : 0);
}

/**
 * mmap(addr, len, prot, MAP_FIXED_NOREPLACE | ...): creates the VMA (merged
 * with compatible neighbours) and, with `populate`, faults it in.
 *
 * Locking: takes the mmap lock for write.
 * Return: the new VMA's start; EEXIST if the range overlaps a mapping.
 */
export function doMmap(ctx: OpCtx, a: MmapArgs): void {
  const { m, mm } = ctx;
  if (mm.vmasIn(a.addr, a.addr + a.len).length > 0)
    throw new KernelError("EEXIST", "MAP_FIXED_NOREPLACE overlap");
  const ps = m.arch.geometry.pageSize;
  let flags = protFlags(a.prot) | VM.MAYREAD | VM.MAYWRITE | VM.MAYEXEC;
  // __mmap_region(): a new VMA is soft-dirty as a whole (CONFIG_MEM_SOFT_DIRTY).
  if (m.config.softDirty) flags |= VM.SOFTDIRTY;
  if (a.shared) flags |= VM.SHARED | VM.MAYSHARE;
  let backing: VmaBacking;
  let pgoff: number;
  const b = a.backing;
  if (b.kind === "hugetlb") {
    flags |= VM.DONTEXPAND | VM.HUGETLB;
    const space = m.newSpace("/anon_hugepage (deleted)", "hugetlb", Math.ceil(a.len / b.size));
    backing = { kind: "hugetlb", space, hugeSize: b.size };
    pgoff = 0;
  } else if (b.kind === "file") {
    backing = { kind: "file", space: scenarioFile(m, b.file, b.size, b.fs) };
    pgoff = b.offInFile / ps;
    if (!a.shared && a.prot.write) flags |= VM.ACCOUNT;
  } else if (a.shared) {
    backing = { kind: "file", space: m.newSpace("/dev/zero (deleted)", "shmem", a.len / ps) };
    pgoff = 0;
  } else {
    backing = { kind: "anon" };
    pgoff = a.addr / ps;
    if (a.prot.write) flags |= VM.ACCOUNT;
  }
  const vma = new Vma(a.addr, a.addr + a.len, flags, pgoff, backing);
  mm.insertVma(vma);
  mergeAround(m, mm, vma);
  if (a.populate) populateRange(ctx, a.addr, a.addr + a.len, "mmap");
}

/**
 * munmap(): splits the VMAs at the range's ends, zaps and removes them,
 * then frees the page tables left covering no VMA.
 *
 * Locking: mmap lock for write.
 */
export function doMunmap(ctx: OpCtx, start: number, end: number): void {
  const { m, mm } = ctx;
  const victims = mm.vmasIn(start, end);
  for (const v of victims) {
    if (v.backing.kind === "hugetlb") {
      const hs = v.backing.hugeSize;
      if ((start > v.start && start % hs !== 0) || (end < v.end && end % hs !== 0)) {
        throw new KernelError("EINVAL", "munmap splits a huge page");
      }
    }
  }
  for (const v of victims) unmapVmaRange(m, mm, v, Math.max(start, v.start), Math.min(end, v.end));
  freeEmptyTables(m, mm, start, end);
  releaseUnmappedObjects(m);
}

/** Remove [start, end) of `v` (a part or all of it). */
export function unmapVmaRange(m: Machine, mm: MmStruct, v: Vma, start: number, end: number): void {
  zapRange(m, mm, v, start, end, { keepGuard: false, teardown: true });
  if (start <= v.start && end >= v.end) {
    mm.removeVma(v);
  } else if (start <= v.start) {
    v.pgoff += (end - v.start) / m.arch.geometry.pageSize;
    v.start = end;
  } else if (end >= v.end) {
    v.end = start;
  } else {
    const upper = v.clone();
    upper.start = end;
    upper.pgoff = v.pgoff + (end - v.start) / m.arch.geometry.pageSize;
    v.end = start;
    mm.insertVma(upper);
  }
}

/**
 * mprotect(): new permissions for [start, end) (splitting and merging
 * VMAs), then change_protection() over the present entries.
 *
 * Locking: mmap lock for write; PTLs inside.
 */
export function doMprotect(ctx: OpCtx, start: number, end: number, prot: Prot): void {
  const { m, mm } = ctx;
  const newProt = protFlags(prot);
  modifyRange(m, mm, start, end, (v) => {
    const wasWrite = (v.flags & VM.WRITE) !== 0;
    let f = (v.flags & ~(VM.READ | VM.WRITE | VM.EXEC)) | newProt;
    const privateNonHuge = (v.flags & VM.SHARED) === 0 && v.backing.kind !== "hugetlb";
    if (prot.write && privateNonHuge) f |= VM.ACCOUNT;
    if (!prot.write && wasWrite && v.isAnon && v.anonVma === null) f &= ~VM.ACCOUNT;
    v.flags = f;
    changeProtection(m, mm, v, wasWrite);
  });
}

/**
 * change_protection() over a VMA whose flags were just changed: entries
 * keep young/dirty/uffd-wp; PROT_NONE entries become protnone; write is
 * granted at once only where the kernel may (can_change_pte_writable).
 */
function changeProtection(m: Machine, mm: MmStruct, v: Vma, wasWrite: boolean): void {
  const ps = m.arch.geometry.pageSize;
  const none = (v.flags & (VM.READ | VM.WRITE | VM.EXEC)) === 0;
  const exec = (v.flags & VM.EXEC) !== 0;
  const write = (v.flags & VM.WRITE) !== 0;
  const adjust = (t: import("../mm/pgtable.js").PageTable, i: number, pmd: boolean): void => {
    const fl = E.leafFlags(m, t, i);
    let nf = fl & ~(PteFlag.EXEC | PteFlag.PROTNONE);
    if (exec) nf |= PteFlag.EXEC;
    if (none) nf |= PteFlag.PROTNONE;
    if (!write || none) nf &= ~PteFlag.WRITE;
    else if (!wasWrite && !(fl & PteFlag.UFFD_WP)) {
      const pfn = E.leafPfn(m, t, i);
      if (canMakeWritable(m, v, pfn, fl)) nf |= PteFlag.WRITE;
    }
    if (nf !== fl) m.arch.encodeLeaf(t.words, i, E.leafPfn(m, t, i), nf, t.level);
    void pmd;
  };
  if (v.backing.kind === "hugetlb") {
    const hs = v.backing.hugeSize;
    const level = hugeLevel(m, hs);
    for (let a = v.start; a < v.end; a += hs) {
      const t = mm.pt.tableFor(a, level, false);
      if (t === null) continue;
      const i = mm.pt.index(level, a);
      if (E.isPresent(m, t, i)) adjust(t, i, true);
    }
    return;
  }
  const pmdSize = 2 ** m.arch.geometry.pmdShift;
  for (let a = v.start; a < v.end; ) {
    const next = Math.min(v.end, a - (a % pmdSize) + pmdSize);
    const pmdT = mm.pt.tableFor(a, Level.PMD, false);
    if (pmdT !== null) {
      const pi = mm.pt.index(Level.PMD, a);
      if (E.isHugeLeaf(m, pmdT, pi)) adjust(pmdT, pi, true);
      else {
        const t = mm.pt.child(pmdT, pi);
        if (t !== null) {
          for (let b = a; b < next; b += ps) {
            const i = mm.pt.index(Level.PTE, b);
            if (E.isPresent(m, t, i)) adjust(t, i, false);
          }
        }
      }
    }
    a = next;
  }
}

/** can_change_pte_writable(): may an entry be made writable without a fault? */
function canMakeWritable(m: Machine, v: Vma, pfn: number, fl: number): boolean {
  if (fl & PteFlag.SPECIAL || pfn === m.phys.zeroPfn || pfn === m.phys.hugeZeroPfn) return false;
  // pte_needs_soft_dirty_wp(): an entry not soft-dirty under tracking must fault.
  if (softDirtyTracking(m, v) && (fl & PteFlag.SOFT_DIRTY) === 0) return false;
  if (v.flags & VM.SHARED) {
    if (v.backing.kind === "hugetlb") return true;
    if (pageProtWritable(m, v)) return true;
    return (fl & PteFlag.DIRTY) !== 0;
  }
  if (v.backing.kind === "hugetlb") return false;
  const f = m.phys.flags[pfn]!;
  return (f & PG.ANON) !== 0 && (f & PG.KSM) === 0 && (f & PG.ANON_EXCLUSIVE) !== 0;
}
