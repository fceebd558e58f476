import { Level } from "../arch/types.js";
import { VM, type Vma } from "../mm/vma.js";
import { KernelError } from "../scenario/errors.js";
import type { MadviseAdvice } from "../scenario/types.js";
import { madviseCollapse } from "./collapse.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { readDiskPage } from "./fault-file.js";
import { guardInstall, guardRemove } from "./guard.js";
import { breakKsm } from "./ksm.js";
import { populateRange } from "./populate.js";
import { adviseReclaim } from "./reclaim.js";
import { readIntoSwapCache } from "./swapin.js";
import { modifyRange, requireMapped } from "./vma-ops.js";
import { reclaimEmptyPteTables, zapRange } from "./zap.js";

/**
 * madvise(start, len, advice) (mm/madvise.c). Advice that changes VMA
 * flags splits and merges VMAs; the others act on the entries of each VMA
 * in the range in turn, and a VMA that refuses the advice stops the call
 * with its errno (earlier VMAs keep what was done).
 *
 * Locking: mmap lock for read (write for the flag-changing advice).
 */
export function doMadvise(ctx: OpCtx, start: number, end: number, advice: MadviseAdvice): void {
  const { m, mm } = ctx;
  switch (advice) {
    case "hugepage":
      modifyRange(m, mm, start, end, (v) => {
        v.flags = (v.flags | VM.HUGEPAGE) & ~VM.NOHUGEPAGE;
      });
      return;
    case "nohugepage":
      modifyRange(m, mm, start, end, (v) => {
        v.flags = (v.flags | VM.NOHUGEPAGE) & ~VM.HUGEPAGE;
      });
      return;
    case "mergeable":
      requireMapped(mm, start, end);
      for (const v of mm.vmasIn(start, end)) {
        if (v.flags & (VM.SHARED | VM.MAYSHARE) || v.backing.kind === "hugetlb") continue;
        modifyRange(m, mm, Math.max(start, v.start), Math.min(end, v.end), (p) => {
          p.flags |= VM.MERGEABLE;
        });
      }
      return;
    case "unmergeable":
      requireMapped(mm, start, end);
      breakKsm(ctx, start, end);
      modifyRange(m, mm, start, end, (v) => {
        v.flags &= ~VM.MERGEABLE;
      });
      return;
    case "dontfork":
      modifyRange(m, mm, start, end, (v) => {
        v.flags |= VM.DONTCOPY;
      });
      return;
    case "dofork":
      modifyRange(m, mm, start, end, (v) => {
        v.flags &= ~VM.DONTCOPY;
      });
      return;
    case "wipeonfork":
      modifyRange(m, mm, start, end, (v) => {
        if (!v.isAnon) throw new KernelError("EINVAL", "MADV_WIPEONFORK on a shared or file VMA");
        v.flags |= VM.WIPEONFORK;
      });
      return;
    case "keeponfork":
      modifyRange(m, mm, start, end, (v) => {
        v.flags &= ~VM.WIPEONFORK;
      });
      return;
    case "populate_read":
    case "populate_write":
      requireMapped(mm, start, end);
      populateRange(ctx, start, end, advice === "populate_read" ? "read" : "write");
      return;
    case "collapse":
      requireMapped(mm, start, end);
      madviseCollapse(ctx, start, end);
      return;
    case "guard_install":
      requireMapped(mm, start, end);
      guardInstall(ctx, start, end);
      return;
    case "guard_remove":
      requireMapped(mm, start, end);
      guardRemove(ctx, start, end);
      return;
    default:
      break;
  }
  requireMapped(mm, start, end);
  for (const v of mm.vmasIn(start, end)) {
    const s = Math.max(start, v.start);
    const e = Math.min(end, v.end);
    switch (advice) {
      case "dontneed":
        dontneed(ctx, v, s, e);
        break;
      case "free":
      case "cold":
      case "pageout":
        adviseReclaim(ctx, v, s, e, advice);
        break;
      case "willneed":
        willneed(ctx, v, s, e);
        break;
    }
  }
}

/**
 * MADV_DONTNEED: zap the range (guard markers stay), then free PTE tables
 * left empty whose whole block lies in the range (CONFIG_PT_RECLAIM).
 * Hugetlb: the start must be huge-page aligned; the end is rounded down.
 */
function dontneed(ctx: OpCtx, v: Vma, s: number, e: number): void {
  const { m, mm } = ctx;
  if (v.flags & VM.LOCKED) throw new KernelError("EINVAL", "MADV_DONTNEED on an mlocked VMA");
  if (v.backing.kind === "hugetlb") {
    const hs = v.backing.hugeSize;
    if (s % hs !== 0) throw new KernelError("EINVAL", "MADV_DONTNEED not huge-page aligned");
    const e2 = e - (e % hs);
    if (e2 > s) zapRange(m, mm, v, s, e2, { keepGuard: true, teardown: false });
    return;
  }
  zapRange(m, mm, v, s, e, { keepGuard: true, teardown: false });
  reclaimEmptyPteTables(m, mm, s, e);
}

/**
 * MADV_WILLNEED: private anonymous — read the range's swap entries into the
 * swap cache; shmem/tmpfs — read the object's swapped pages into the swap
 * cache only; disk file — read uncached pages into the page cache.
 */
function willneed(ctx: OpCtx, v: Vma, s: number, e: number): void {
  const { m, mm } = ctx;
  const ps = m.arch.geometry.pageSize;
  if (v.backing.kind === "hugetlb") return;
  if (v.isAnon) {
    for (let a = s; a < e; a += ps) {
      const t = mm.pt.tableFor(a, Level.PTE, false);
      if (t === null) continue;
      const i = mm.pt.index(Level.PTE, a);
      if (!E.isRealSwap(m, t, i)) continue;
      const slot = E.swpOffset(m, t, i);
      if (m.swap!.cached(slot) < 0) readIntoSwapCache(m, mm, v, slot);
    }
    return;
  }
  const space = v.space!;
  for (let a = s; a < e; a += ps) {
    const idx = v.pageIndex(a, m.arch.geometry.pageShift);
    if (idx >= space.nrPages) break;
    if (space.swapBacked) {
      const slot = space.swap[idx]!;
      if (slot >= 0 && m.swap!.cached(slot) < 0) readIntoSwapCache(m, mm, v, slot);
    } else if (space.pages[idx]! < 0) {
      readDiskPage(m, space, idx);
    }
  }
}
