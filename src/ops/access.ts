import { Level } from "../arch/types.js";
import { VM, type Vma } from "../mm/vma.js";
import { KernelError } from "../scenario/errors.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { handleMmFault } from "./fault.js";
import { hugeSlot } from "./hugetlb.js";

/** What a `touch` write stores: `fill` byte everywhere, or a unique first word. */
export interface WriteContent {
  fill?: number;
}

/**
 * The `touch` step: access every base page of [start, end) in address
 * order, as the process's loads and stores would (the MMU, then the fault
 * handler). A refused access (no VMA, PROT_NONE, write to read-only, a
 * guard page, beyond the end of a file) fails with EFAULT after the pages
 * before it were accessed.
 */
export function touchRange(
  ctx: OpCtx,
  start: number,
  end: number,
  write: boolean,
  content: WriteContent,
): void {
  const { m, mm } = ctx;
  const ps = m.arch.geometry.pageSize;
  mm.mmapLock.readLock("touch");
  try {
    for (let a = start; a < end; a += ps) {
      const vma = mm.findVma(a);
      if (vma === null) throw new KernelError("EFAULT", "no mapping");
      if (
        write ? (vma.flags & VM.WRITE) === 0 : (vma.flags & (VM.READ | VM.WRITE | VM.EXEC)) === 0
      ) {
        throw new KernelError("EFAULT", "access not permitted");
      }
      const r = handleMmFault(ctx, vma, a, write);
      if (r !== null) throw new KernelError(r, "fault failed");
      if (write) storeContent(ctx, vma, a, content);
    }
  } finally {
    mm.mmapLock.readUnlock();
  }
}

/** The physical page mapped at `addr` after a successful access. */
export function pageAt(ctx: OpCtx, vma: Vma, addr: number): number {
  const { m, mm } = ctx;
  const ps = m.arch.geometry.pageSize;
  if (vma.backing.kind === "hugetlb") {
    const slot = hugeSlot(m, mm, vma, addr, false)!;
    const hs = vma.backing.hugeSize;
    return E.leafPfn(m, slot[0], slot[1]) + Math.floor((addr % hs) / ps);
  }
  const pmdT = mm.pt.tableFor(addr, Level.PMD, false)!;
  const pi = mm.pt.index(Level.PMD, addr);
  if (E.isHugeLeaf(m, pmdT, pi)) {
    const size = 2 ** m.arch.geometry.pmdShift;
    return E.leafPfn(m, pmdT, pi) + Math.floor((addr % size) / ps);
  }
  const t = mm.pt.tableFor(addr, Level.PTE, false)!;
  return E.leafPfn(m, t, mm.pt.index(Level.PTE, addr));
}

function storeContent(ctx: OpCtx, vma: Vma, addr: number, c: WriteContent): void {
  const pfn = pageAt(ctx, vma, addr);
  const phys = ctx.m.phys;
  if (c.fill === undefined) phys.content[pfn] = phys.newContent();
  else phys.content[pfn] = c.fill === 0 ? 0 : 0x100 + c.fill;
}
