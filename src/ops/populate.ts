import { Level, PteFlag } from "../arch/types.js";
import { PG } from "../mm/pageflags.js";
import { VM, type Vma } from "../mm/vma.js";
import { KernelError } from "../scenario/errors.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { handleMmFault } from "./fault.js";
import { markAccessed } from "./folio.js";
import { hugeSlot } from "./hugetlb.js";

/** Why a range is populated: decides read or write faults (populate_vma_page_range). */
export type PopulateKind = "mmap" | "mlock" | "read" | "write";

/** Whether an access of this kind is allowed by a present entry without a fault. */
function accessAllowed(fl: number, write: boolean): boolean {
  if (fl & PteFlag.PROTNONE) return false;
  if (write && (fl & PteFlag.WRITE) === 0) return false;
  if (write && fl & PteFlag.UFFD_WP) return false;
  return true;
}

/**
 * GUP-style population of [start, end): each page is faulted in (read or
 * write) unless an entry already allows the access, then touched
 * (FOLL_TOUCH: mark_page_accessed, and set_page_dirty for a write through a
 * clean writable PTE; a PMD is only made young, and dirty for a write).
 *
 * Locking: mmap lock for read.
 * Errors: EINVAL for populate_read/write of PROT_NONE, populate_write of a
 * read-only VMA (nothing from that VMA on is populated); EFAULT if a page
 * cannot be faulted (guard marker, beyond EOF).
 */
export function populateRange(ctx: OpCtx, start: number, end: number, kind: PopulateKind): void {
  const { m, mm } = ctx;
  const ps = m.arch.geometry.pageSize;
  for (const v of mm.vmasIn(start, end)) {
    const none = (v.flags & (VM.READ | VM.WRITE | VM.EXEC)) === 0;
    if (kind === "read" || kind === "write") {
      if (none) throw new KernelError("EINVAL", "populate of PROT_NONE");
      if (kind === "write" && (v.flags & VM.WRITE) === 0)
        throw new KernelError("EINVAL", "populate_write of read-only");
    } else if (none) {
      continue;
    }
    const write =
      kind === "write" ||
      ((kind === "mmap" || kind === "mlock") && (v.flags & (VM.SHARED | VM.WRITE)) === VM.WRITE);
    const s = Math.max(start, v.start);
    const e = Math.min(end, v.end);
    if (v.backing.kind === "hugetlb") {
      const hs = v.backing.hugeSize;
      for (let a = s - (s % hs); a < e; a += hs) populateHuge(ctx, v, a, write);
      continue;
    }
    for (let a = s; a < e; a += ps) {
      const r = populatePage(ctx, v, a, write);
      if (r !== null) throw new KernelError(r, "populate fault failed");
    }
  }
}

function populateHuge(ctx: OpCtx, v: Vma, a: number, write: boolean): void {
  const { m, mm } = ctx;
  const slot = hugeSlot(m, mm, v, a, false);
  if (
    slot !== null &&
    E.isPresent(m, slot[0], slot[1]) &&
    accessAllowed(E.leafFlags(m, slot[0], slot[1]), write)
  ) {
    return;
  }
  handleMmFault(ctx, v, a, write);
}

/** Fault (if needed) and touch one base page. */
function populatePage(ctx: OpCtx, v: Vma, a: number, write: boolean): "EFAULT" | null {
  const { m, mm } = ctx;
  const pmdT = mm.pt.tableFor(a, Level.PMD, false);
  const pi = mm.pt.index(Level.PMD, a);
  const leafOk = (): boolean => {
    const pmd = mm.pt.tableFor(a, Level.PMD, false);
    if (pmd !== null && E.isHugeLeaf(m, pmd, pi))
      return accessAllowed(E.leafFlags(m, pmd, pi), write);
    const t = mm.pt.tableFor(a, Level.PTE, false);
    if (t === null) return false;
    const i = mm.pt.index(Level.PTE, a);
    return E.isPresent(m, t, i) && accessAllowed(E.leafFlags(m, t, i), write);
  };
  if (!(pmdT !== null && leafOk())) {
    const r = handleMmFault(ctx, v, a, write);
    if (r !== null) return r;
  }
  // FOLL_TOUCH.
  const pmd = mm.pt.tableFor(a, Level.PMD, false)!;
  if (E.isHugeLeaf(m, pmd, pi)) {
    E.updateLeafFlags(m, pmd, pi, PteFlag.YOUNG | (write ? PteFlag.DIRTY : 0), 0);
    return null;
  }
  const t = mm.pt.tableFor(a, Level.PTE, false)!;
  const i = mm.pt.index(Level.PTE, a);
  const fl = E.leafFlags(m, t, i);
  const pfn = E.leafPfn(m, t, i);
  if (pfn === m.phys.zeroPfn || fl & PteFlag.SPECIAL) return null;
  const head = m.phys.folioHead(pfn);
  if (write && (fl & PteFlag.DIRTY) === 0) m.phys.flags[head]! |= PG.DIRTY;
  markAccessed(m, head);
  return null;
}
