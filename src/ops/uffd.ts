import { Level, PteFlag, SwpFlag } from "../arch/types.js";
import { PteMarker } from "../mm/config.js";
import { hugetlbWpForget, hugetlbWpRecord } from "../mm/hugetlb-uffd-wp.js";
import { PG } from "../mm/pageflags.js";
import type { PageTable } from "../mm/pgtable.js";
import { type UffdCtx, VM, type Vma, VmHi } from "../mm/vma.js";
import { KernelError } from "../scenario/errors.js";
import type { UffdMode } from "../scenario/types.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { hugeLevel } from "./hugetlb.js";
import { splitPmdsCutBy } from "./thp.js";
import { modifyRange, requireMapped } from "./vma-ops.js";

/**
 * UFFDIO_REGISTER on the process's synchronous or asynchronous
 * userfaultfd (opened with WP_UNPOPULATED, WP_HUGETLBFS_SHMEM and the
 * shmem/hugetlbfs missing and minor features; WP_ASYNC for `asyncWp`).
 *
 * Locking: mmap lock for write.
 */
export function uffdRegister(
  ctx: OpCtx,
  start: number,
  end: number,
  mode: UffdMode[],
  asyncWp: boolean,
): void {
  const { m, mm } = ctx;
  requireMapped(mm, start, end);
  let uffd: UffdCtx;
  if (asyncWp) {
    mm.uffdAsync ??= { id: m.newId(), async: true };
    uffd = mm.uffdAsync;
  } else {
    mm.uffdSync ??= { id: m.newId(), async: false };
    uffd = mm.uffdSync;
  }
  for (const v of mm.vmasIn(start, end)) {
    if (mode.includes("minor") && v.isAnon)
      throw new KernelError("EINVAL", "minor mode on private anonymous memory");
  }
  modifyRange(m, mm, start, end, (v) => {
    if (mode.includes("missing")) v.flags |= VM.UFFD_MISSING;
    if (mode.includes("wp")) v.flags |= VM.UFFD_WP;
    if (mode.includes("minor")) v.flagsHi |= VmHi.UFFD_MINOR;
    v.uffd = uffd;
  });
}

/**
 * UFFDIO_WRITEPROTECT: with `enable`, set the uffd-wp bit on every present
 * and swap entry of the range and a uffd-wp marker in every none entry
 * (page tables allocated); hugetlb acts on whole huge entries. Without,
 * clear the bits and drop the markers; exclusive anonymous pages in a
 * writable VMA become writable again (MM_CP_TRY_CHANGE_WRITABLE).
 *
 * Locking: mmap lock for read; PTLs inside.
 */
export function uffdWriteprotect(ctx: OpCtx, start: number, end: number, enable: boolean): void {
  const { m, mm } = ctx;
  requireMapped(mm, start, end);
  for (const v of mm.vmasIn(start, end)) {
    if ((v.flags & VM.UFFD_WP) === 0)
      throw new KernelError("ENOENT", "range not registered for write-protect");
    const s = Math.max(start, v.start);
    const e = Math.min(end, v.end);
    if (v.backing.kind === "hugetlb") {
      const hs = v.backing.hugeSize;
      const level = hugeLevel(m, hs);
      for (let a = s - (s % hs); a < e; a += hs) {
        const t = mm.pt.tableFor(a, level, true)!;
        const i = mm.pt.index(level, a);
        if (m.config.hugetlbUffdWp === "marker-free" && E.isNone(m, t, i)) {
          // The marker-free design: the protection of a none entry is recorded.
          if (enable) hugetlbWpRecord(mm, a);
          else hugetlbWpForget(mm, a, a + hs);
          continue;
        }
        wpEntry(ctx, v, t, i, enable);
      }
      continue;
    }
    splitPmdsCutBy(m, mm, s, e);
    const pmdSize = 2 ** m.arch.geometry.pmdShift;
    const ps = m.arch.geometry.pageSize;
    for (let a = s; a < e; ) {
      const next = Math.min(e, a - (a % pmdSize) + pmdSize);
      const pmdT = mm.pt.tableFor(a, Level.PMD, enable);
      if (pmdT !== null) {
        const pi = mm.pt.index(Level.PMD, a);
        if (E.isHugeLeaf(m, pmdT, pi)) {
          wpEntry(ctx, v, pmdT, pi, enable);
        } else {
          const t = enable ? mm.pt.tableFor(a, Level.PTE, true) : mm.pt.child(pmdT, pi);
          if (t !== null)
            for (let b = a; b < next; b += ps)
              wpEntry(ctx, v, t, mm.pt.index(Level.PTE, b), enable);
        }
      }
      a = next;
    }
  }
}

function wpEntry(ctx: OpCtx, v: Vma, t: PageTable, i: number, enable: boolean): void {
  const { m } = ctx;
  if (E.isNone(m, t, i)) {
    if (enable) E.setMarker(m, t, i, PteMarker.UFFD_WP);
    return;
  }
  if (E.isPresent(m, t, i)) {
    if (enable) {
      E.updateLeafFlags(m, t, i, PteFlag.UFFD_WP, PteFlag.WRITE);
      return;
    }
    E.updateLeafFlags(m, t, i, 0, PteFlag.UFFD_WP);
    const pfn = E.leafPfn(m, t, i);
    const f = m.phys.flags[m.phys.folioHead(pfn)]!;
    const exclusive = (m.phys.flags[pfn]! & PG.ANON_EXCLUSIVE) !== 0 && (f & PG.KSM) === 0;
    if (
      v.flags & VM.WRITE &&
      v.isAnon &&
      exclusive &&
      (E.leafFlags(m, t, i) & PteFlag.SPECIAL) === 0
    ) {
      E.updateLeafFlags(m, t, i, PteFlag.WRITE, 0);
    }
    return;
  }
  const marker = E.markerBits(m, t, i);
  if (marker !== 0) {
    // change_pte_range(): guard and poison markers are left alone; a uffd-wp
    // marker is dropped on un-protect.
    if (marker & (PteMarker.GUARD | PteMarker.POISONED)) return;
    if (!enable) E.clearEntry(t, i);
    return;
  }
  const type = E.swpType(m, t, i);
  const off = E.swpOffset(m, t, i);
  const sf = E.swpFlags(m, t, i);
  m.arch.encodeSwp(
    t.words,
    i,
    type,
    off,
    enable ? sf | SwpFlag.UFFD_WP : sf & ~SwpFlag.UFFD_WP,
    t.level,
  );
}
