import { PteFlag } from "../arch/types.js";
import { PG } from "../mm/pageflags.js";
import type { PageTable } from "../mm/pgtable.js";
import { addRmapPtes } from "../mm/rmap.js";
import { VM, type Vma } from "../mm/vma.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { type FaultResult, handlePteFault } from "./fault.js";
import { pageCacheGet } from "./fault-file.js";
import { anonVmaPrepare, newAnonFolio, vmaBaseFlags } from "./folio.js";

/*
 * Userfaultfd faults and the scenario's monitor (scenario.md,
 * "userfaultfd"): handle_userfault() records the message, the monitor
 * answers at once with UFFDIO_ZEROPAGE / UFFDIO_COPY / UFFDIO_CONTINUE or
 * un-protects, and the access is retried.
 */

/** Record one fault message (hugetlb: at the huge page's start). */
export function recordUffdEvent(ctx: OpCtx, vma: Vma, addr: number, flags: string[]): void {
  let a = addr;
  if (vma.backing.kind === "hugetlb") a -= a % vma.backing.hugeSize;
  else a -= a % ctx.m.arch.geometry.pageSize;
  ctx.uffdEvents.push({ step: ctx.step, proc: ctx.mm.name, addr: a, flags });
}

/**
 * A missing fault on a none PTE of a private anonymous VMA: a read is
 * answered by UFFDIO_ZEROPAGE (the zero page), a write by UFFDIO_COPY of a
 * zero-filled page, mapped writable and dirty.
 */
export function uffdMissing(
  ctx: OpCtx,
  vma: Vma,
  t: PageTable,
  i: number,
  addr: number,
  write: boolean,
): FaultResult {
  const { m, mm } = ctx;
  recordUffdEvent(ctx, vma, addr, write ? ["write"] : []);
  anonVmaPrepare(m, mm, vma);
  const base = vmaBaseFlags(vma);
  if (!write) {
    E.setLeaf(m, t, i, m.phys.zeroPfn, base | PteFlag.YOUNG | PteFlag.SPECIAL);
    return null;
  }
  const pfn = newAnonFolio(m, mm, vma, addr, 0);
  E.setLeaf(m, t, i, pfn, base | PteFlag.WRITE | PteFlag.YOUNG | PteFlag.DIRTY);
  addRmapPtes(m.phys, pfn, 1, mm.id);
  mm.rss.anon++;
  return null;
}

/**
 * A write to a write-protected entry (the uffd-wp bit on a present PTE, or
 * a uffd-wp marker). Asynchronous mode resolves it in the kernel; the
 * synchronous monitor un-protects the page. Then the write is retried.
 */
export function uffdWpFault(
  ctx: OpCtx,
  vma: Vma,
  t: PageTable,
  i: number,
  addr: number,
): FaultResult {
  const { m } = ctx;
  const async = vma.uffd?.async ?? true;
  if (!async) recordUffdEvent(ctx, vma, addr, ["write", "wp"]);
  if (E.isPresent(m, t, i)) {
    E.updateLeafFlags(m, t, i, 0, PteFlag.UFFD_WP);
    if (!async) tryMakeWritable(ctx, vma, t, i);
  } else {
    E.clearEntry(t, i);
  }
  return handlePteFault(ctx, vma, t, i, addr, true);
}

/**
 * MM_CP_TRY_CHANGE_WRITABLE on un-protect: an exclusive anonymous page in a
 * writable private VMA becomes writable at once (can_change_pte_writable).
 */
function tryMakeWritable(ctx: OpCtx, vma: Vma, t: PageTable, i: number): void {
  const { m } = ctx;
  if (!vma.has(VM.WRITE)) return;
  const pfn = E.leafPfn(m, t, i);
  if (pfn === m.phys.zeroPfn || (E.leafFlags(m, t, i) & PteFlag.SPECIAL) !== 0) return;
  if (vma.isAnon && (m.phys.flags[pfn]! & PG.ANON_EXCLUSIVE) !== 0) {
    E.updateLeafFlags(m, t, i, PteFlag.WRITE, 0);
  }
}

/**
 * A read of a uffd-wp marker maps the page still protected: the zero page
 * in an anonymous VMA, the page-cache page in a file or shmem VMA.
 */
export function uffdWpMarkerRead(
  ctx: OpCtx,
  vma: Vma,
  t: PageTable,
  i: number,
  addr: number,
): FaultResult {
  const { m, mm } = ctx;
  E.clearEntry(t, i);
  const base = vmaBaseFlags(vma) | PteFlag.YOUNG | PteFlag.UFFD_WP;
  if (vma.isAnon) {
    E.setLeaf(m, t, i, m.phys.zeroPfn, base | PteFlag.SPECIAL);
    return null;
  }
  const space = vma.space!;
  const idx = vma.pageIndex(addr, m.arch.geometry.pageShift);
  const pfn = pageCacheGet(ctx, vma, space, idx, addr);
  if (pfn < 0) return handlePteFault(ctx, vma, t, i, addr, false);
  E.setLeaf(m, t, i, pfn, base);
  addRmapPtes(m.phys, pfn, 1, mm.id);
  if (space.swapBacked) mm.rss.shmem++;
  else mm.rss.file++;
  return null;
}
