import { Level, PteFlag, SwpFlag } from "../arch/types.js";
import type { Machine } from "../mm/machine.js";
import { MmStruct } from "../mm/mm.js";
import { PG } from "../mm/pageflags.js";
import { type PageTable, PageTables } from "../mm/pgtable.js";
import { addRmapEntire, addRmapPtes } from "../mm/rmap.js";
import { VM, type Vma, VmHi } from "../mm/vma.js";
import * as E from "./entries.js";
import { hugeLevel } from "./hugetlb.js";
import { releaseUnmappedObjects } from "./objects.js";
import { freeEmptyTables, zapRange } from "./zap.js";

/** A new process with an empty address space (mm_alloc). */
export function createProcess(m: Machine, name: string): MmStruct {
  const pt = new PageTables(m.arch, m.phys, m.tables);
  const mm = new MmStruct(m.newId(), name, pt);
  m.procs.set(name, mm);
  return mm;
}

/**
 * fork(): dup_mmap() + copy_page_range(). The child gets every VMA except
 * VM_DONTCOPY ones (VM_WIPEONFORK ones empty); page tables are copied only
 * for VMAs with an anon_vma or VM_PFNMAP (vma_needs_copy). Private writable
 * entries are write-protected in both; the child's entries are old;
 * anonymous pages lose their exclusive mark; swap counts go up.
 *
 * Locking: parent's mmap lock for write, child's for write.
 */
export function doFork(m: Machine, parent: MmStruct, childName: string): MmStruct {
  const child = createProcess(m, childName);
  child.policy = parent.policy;
  for (const pv of parent.vmas) {
    if (pv.flags & VM.DONTCOPY) continue;
    const cv = pv.clone();
    cv.forkChild = true;
    cv.flags &= ~(VM.LOCKED | VM.LOCKONFAULT | VM.UFFD_MISSING | VM.UFFD_WP);
    cv.flagsHi &= ~VmHi.UFFD_MINOR;
    cv.uffd = null;
    cv.anonVma = pv.anonVma ? { id: m.newId(), forkChild: true } : null;
    child.insertVma(cv);
    if (pv.flags & VM.WIPEONFORK) {
      cv.anonVma = null;
      continue;
    }
    if (pv.anonVma === null && (pv.flags & VM.PFNMAP) === 0) continue;
    copyPageRange(m, parent, child, pv, cv);
  }
  return child;
}

function isCowMapping(v: Vma): boolean {
  return (v.flags & (VM.SHARED | VM.MAYWRITE)) === VM.MAYWRITE;
}

function copyPageRange(m: Machine, src: MmStruct, dst: MmStruct, sv: Vma, dv: Vma): void {
  if (sv.backing.kind === "hugetlb") {
    copyHugetlb(m, src, dst, sv);
    return;
  }
  const pmdSize = 2 ** m.arch.geometry.pmdShift;
  const ps = m.arch.geometry.pageSize;
  for (let a = sv.start; a < sv.end; ) {
    const next = Math.min(sv.end, a - (a % pmdSize) + pmdSize);
    const spmd = src.pt.tableFor(a, Level.PMD, false);
    if (spmd === null) {
      a = next;
      continue;
    }
    const pi = src.pt.index(Level.PMD, a);
    if (E.isHugeLeaf(m, spmd, pi)) {
      const dpmd = dst.pt.tableFor(a, Level.PMD, true)!;
      copyHugePmd(m, dst, sv, spmd, dpmd, pi);
      a = next;
      continue;
    }
    const st = src.pt.child(spmd, pi);
    if (st === null) {
      a = next;
      continue;
    }
    let dt: PageTable | null = null;
    for (let b = a; b < next; b += ps) {
      const i = src.pt.index(Level.PTE, b);
      if (E.isNone(m, st, i)) continue;
      if (dt === null) dt = dst.pt.tableFor(b, Level.PTE, true)!;
      copyOnePte(m, dst, sv, dv, st, dt, i);
    }
    a = next;
  }
}

function copyOnePte(
  m: Machine,
  dst: MmStruct,
  sv: Vma,
  dv: Vma,
  st: PageTable,
  dt: PageTable,
  i: number,
): void {
  const phys = m.phys;
  if (E.isPresent(m, st, i)) {
    const pfn = E.leafPfn(m, st, i);
    let fl = E.leafFlags(m, st, i);
    if (isCowMapping(sv) && fl & PteFlag.WRITE) {
      E.updateLeafFlags(m, st, i, 0, PteFlag.WRITE);
      fl &= ~PteFlag.WRITE;
    }
    let cfl = fl & ~(PteFlag.YOUNG | PteFlag.UFFD_WP);
    if (sv.flags & VM.SHARED) cfl &= ~PteFlag.DIRTY;
    E.setLeaf(m, dt, i, pfn, cfl);
    if (pfn === phys.zeroPfn || fl & PteFlag.SPECIAL) return;
    const head = phys.folioHead(pfn);
    const hf = phys.flags[head]!;
    phys.flags[pfn]! &= ~PG.ANON_EXCLUSIVE;
    addRmapPtes(phys, pfn, 1, dst.id);
    if (hf & PG.ANON) dst.rss.anon++;
    else if (hf & PG.SWAPBACKED) dst.rss.shmem++;
    else dst.rss.file++;
    return;
  }
  const marker = E.markerBits(m, st, i);
  if (marker !== 0) {
    if (marker & 4) E.setMarker(m, dt, i, 4);
    return;
  }
  const type = E.swpType(m, st, i);
  const off = E.swpOffset(m, st, i);
  const sf = E.swpFlags(m, st, i);
  if (type < m.swapTypes.maxSwapfiles) {
    m.swap!.dup(off);
    const nsf = sf & ~SwpFlag.EXCLUSIVE;
    m.arch.encodeSwp(st.words, i, type, off, nsf, Level.PTE);
    E.setSwp(m, dt, i, type, off, nsf & ~SwpFlag.UFFD_WP);
    dst.rss.swapEnts++;
    return;
  }
  // Migration / device / hwpoison entries: copied (a write migration entry
  // becomes a read one in a COW mapping).
  let t = type;
  if (isCowMapping(sv) && type === m.swapTypes.migrationWrite) {
    t = m.swapTypes.migrationRead;
    m.arch.encodeSwp(st.words, i, t, off, sf, Level.PTE);
  }
  E.setSwp(m, dt, i, t, off, sf & ~SwpFlag.UFFD_WP);
  void dv;
}

/** copy_huge_pmd(): the THP stays PMD-mapped in both, write-protected. */
function copyHugePmd(
  m: Machine,
  dst: MmStruct,
  sv: Vma,
  spmd: PageTable,
  dpmd: PageTable,
  pi: number,
): void {
  const phys = m.phys;
  const pfn = E.leafPfn(m, spmd, pi);
  let fl = E.leafFlags(m, spmd, pi);
  if (isCowMapping(sv) && fl & PteFlag.WRITE) {
    E.updateLeafFlags(m, spmd, pi, 0, PteFlag.WRITE);
    fl &= ~PteFlag.WRITE;
  }
  E.setLeaf(m, dpmd, pi, pfn, fl & ~(PteFlag.YOUNG | PteFlag.UFFD_WP));
  if (pfn === phys.hugeZeroPfn) return;
  const nr = phys.folioNr(pfn);
  for (let k = 0; k < nr; k++) phys.flags[pfn + k]! &= ~PG.ANON_EXCLUSIVE;
  addRmapEntire(phys, pfn, dst.id);
  dst.rss.anon += nr;
}

/** copy_hugetlb_page_range(): private pages shared read-only. */
function copyHugetlb(m: Machine, src: MmStruct, dst: MmStruct, sv: Vma): void {
  if (sv.backing.kind !== "hugetlb") return;
  const hs = sv.backing.hugeSize;
  const level = hugeLevel(m, hs);
  for (let a = sv.start; a < sv.end; a += hs) {
    const st = src.pt.tableFor(a, level, false);
    if (st === null) continue;
    const i = src.pt.index(level, a);
    if (E.isNone(m, st, i)) continue;
    const dt = dst.pt.tableFor(a, level, true)!;
    if (E.isPresent(m, st, i)) {
      const pfn = E.leafPfn(m, st, i);
      let fl = E.leafFlags(m, st, i);
      if (isCowMapping(sv) && fl & PteFlag.WRITE) {
        E.updateLeafFlags(m, st, i, 0, PteFlag.WRITE);
        fl &= ~PteFlag.WRITE;
      }
      E.setLeaf(m, dt, i, pfn, fl & ~PteFlag.UFFD_WP);
      m.phys.flags[pfn]! &= ~PG.ANON_EXCLUSIVE;
      addRmapEntire(m.phys, pfn, dst.id);
    } else if (E.markerBits(m, st, i) === 0) {
      const lo = st.words[i * 2]!;
      const hi = st.words[i * 2 + 1]!;
      dt.words[i * 2] = lo;
      dt.words[i * 2 + 1] = hi;
      dt.used++;
    }
  }
}

/**
 * exit(): every VMA is unmapped, every page table freed (exit_mmap).
 * Pages and swap slots no one maps any more are freed.
 */
export function doExit(m: Machine, mm: MmStruct): void {
  for (const v of [...mm.vmas]) {
    zapRange(m, mm, v, v.start, v.end, { keepGuard: false, teardown: true });
    mm.removeVma(v);
  }
  freeEmptyTables(m, mm, 0, m.arch.geometry.userTop);
  mm.pt.freeTable(mm.pt.root);
  mm.exited = true;
  m.procs.delete(mm.name);
  releaseUnmappedObjects(m);
}
