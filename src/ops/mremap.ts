import { Level, PteFlag, SwpFlag } from "../arch/types.js";
import { PteMarker } from "../mm/config.js";
import { hugetlbWpForget } from "../mm/hugetlb-uffd-wp.js";
import type { PageTable } from "../mm/pgtable.js";
import { VM, type Vma, VmHi } from "../mm/vma.js";
import { KernelError } from "../scenario/errors.js";
import type { Regions } from "../scenario/regions.js";
import type { MremapStep } from "../scenario/types.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { hugeLevel } from "./hugetlb.js";
import { doMunmap } from "./mmap.js";
import { splitHugePmd, splitPmdsCutBy } from "./thp.js";
import { isolateRange, mergeAround } from "./vma-ops.js";
import { freeEmptyTables } from "./zap.js";

/**
 * mremap(addr, len, new_len, flags, new_addr) (mm/mremap.c) with the
 * scenario's region bookkeeping (scenario.md, `mremap` row). A move never
 * faults, copies or frees a page: entries move as they are; a PMD leaf
 * moves whole only when both addresses are PMD-aligned.
 *
 * Locking: mmap lock for write.
 */
export function doMremap(
  ctx: OpCtx,
  regions: Regions,
  step: MremapStep,
  start: number,
  end: number,
): void {
  const { m, mm } = ctx;
  const len = end - start;
  const newLen = step.newLen ?? len;
  const flags = step.flags;
  const maymove = flags.includes("maymove");
  const fixed = flags.includes("fixed");
  const dontunmap = flags.includes("dontunmap");
  if ((fixed || dontunmap) && !maymove)
    throw new KernelError("EINVAL", "fixed/dontunmap without maymove");
  if (dontunmap && newLen !== len) throw new KernelError("EINVAL", "dontunmap with a new length");
  const vma = mm.findVma(start);
  if (vma === null || end > vma.end) throw new KernelError("EFAULT", "range not inside one VMA");
  let nl = newLen;
  if (vma.backing.kind === "hugetlb") {
    const hs = vma.backing.hugeSize;
    if (start % hs !== 0 || (step.newAddr !== undefined && step.newAddr % hs !== 0)) {
      throw new KernelError("EINVAL", "hugetlb mremap not huge-page aligned");
    }
    nl = Math.ceil(newLen / hs) * hs;
    const ol = Math.ceil(len / hs) * hs;
    if (nl > ol || dontunmap)
      throw new KernelError("EINVAL", "hugetlb mremap cannot grow or dontunmap");
  }
  const region = regions.get(step.region)!;
  const wholeRegion = start === region.start && len === region.len;
  const endsRegion = end === region.start + region.len;
  if (!fixed && !dontunmap) {
    if (nl <= len) {
      if (nl < len) doMunmap(ctx, start + nl, end);
      if (endsRegion) region.len -= len - nl;
      return;
    }
    // Grow in place if the VMA ends here and the addresses after are free.
    if (end === vma.end && mm.vmasIn(end, start + nl).length === 0) {
      vma.end = start + nl;
      mergeAround(m, mm, vma);
      if (endsRegion) region.len += nl - len;
      regions.observe(start, start + nl);
      return;
    }
    if (!maymove) throw new KernelError("ENOMEM", "cannot grow in place");
    throw new KernelError(
      "ENOMEM",
      "a move to an address the kernel picks lands among the runner's mappings",
    );
  }
  const dest = step.newAddr!;
  if (fixed) doMunmap(ctx, dest, dest + nl);
  else if (mm.vmasIn(dest, dest + nl).length > 0) {
    throw new KernelError(
      "ENOMEM",
      "the dontunmap hint is taken and the kernel would pick an address",
    );
  }
  moveRange(ctx, vma, start, end, dest, Math.min(nl, len), dontunmap);
  if (nl > len) {
    const nv = mm.findVma(dest)!;
    nv.end = dest + nl;
  } else if (nl < len && !dontunmap) {
    // The part beyond new_len was unmapped by the move's shrink.
  }
  regions.observe(dest, dest + nl);
  if (wholeRegion) {
    region.start = dest;
    region.len = nl;
  }
}

/** move_vma(): move [start, start+len) of `vma` to `dest`. */
function moveRange(
  ctx: OpCtx,
  vma: Vma,
  start: number,
  end: number,
  dest: number,
  moveLen: number,
  dontunmap: boolean,
): void {
  const { m, mm } = ctx;
  const ps = m.arch.geometry.pageSize;
  const shrinkEnd = start + moveLen;
  if (shrinkEnd < end && !dontunmap) doMunmap(ctx, shrinkEnd, end);
  let src: Vma;
  let moved: Vma;
  if (dontunmap) {
    src = vma;
    moved = vma.clone();
    moved.start = start;
    moved.end = shrinkEnd;
    moved.pgoff = vma.pgoff + (start - vma.start) / ps;
    vma.flags &= ~(VM.LOCKED | VM.LOCKONFAULT);
  } else {
    splitPmdsCutBy(m, mm, start, shrinkEnd);
    src = isolateRange(m, mm, mm.findVma(start)!, start, shrinkEnd);
    moved = src;
    mm.removeVma(src);
  }
  const lostUffd = moved.uffd !== null;
  moveEntries(ctx, moved, start, shrinkEnd, dest, lostUffd);
  const delta = dest - start;
  moved.start = start + delta;
  moved.end = shrinkEnd + delta;
  if (moved.isAnon && moved.anonVma === null) moved.pgoff = moved.start / ps;
  moved.flags &= ~(VM.UFFD_MISSING | VM.UFFD_WP);
  moved.flagsHi &= ~VmHi.UFFD_MINOR;
  moved.uffd = null;
  mm.insertVma(moved);
  mergeAround(m, mm, moved);
  if (!dontunmap) freeEmptyTables(m, mm, start, shrinkEnd);
}

/** move_page_tables(): carry every entry of [start, end) to the same offset at `dest`. */
function moveEntries(
  ctx: OpCtx,
  v: Vma,
  start: number,
  end: number,
  dest: number,
  dropWp: boolean,
): void {
  const { m, mm } = ctx;
  const pt = mm.pt;
  if (v.backing.kind === "hugetlb") {
    if (dropWp) hugetlbWpForget(mm, start, end);
    const hs = v.backing.hugeSize;
    const level = hugeLevel(m, hs);
    for (let a = start; a < end; a += hs) {
      const st = pt.tableFor(a, level, false);
      if (st === null) continue;
      const i = pt.index(level, a);
      if (E.isNone(m, st, i)) continue;
      const dt = pt.tableFor(a - start + dest, level, true)!;
      moveOne(ctx, st, i, dt, pt.index(level, a - start + dest), dropWp);
    }
    return;
  }
  const pmdSize = 2 ** m.arch.geometry.pmdShift;
  const ps = m.arch.geometry.pageSize;
  for (let a = start; a < end; ) {
    const next = Math.min(end, a - (a % pmdSize) + pmdSize);
    const d = a - start + dest;
    const spmd = pt.tableFor(a, Level.PMD, false);
    if (spmd === null) {
      a = next;
      continue;
    }
    const pi = pt.index(Level.PMD, a);
    if (E.isHugeLeaf(m, spmd, pi)) {
      if (a % pmdSize === 0 && d % pmdSize === 0 && next - a === pmdSize) {
        const dpmd = pt.tableFor(d, Level.PMD, true)!;
        moveOne(ctx, spmd, pi, dpmd, pt.index(Level.PMD, d), dropWp);
        a = next;
        continue;
      }
      splitHugePmd(m, mm, spmd, pi);
    }
    const st = pt.child(spmd, pi);
    if (st !== null) {
      for (let b = a; b < next; b += ps) {
        const i = pt.index(Level.PTE, b);
        if (E.isNone(m, st, i)) continue;
        const db = b - start + dest;
        const dt = pt.tableFor(db, Level.PTE, true)!;
        moveOne(ctx, st, i, dt, pt.index(Level.PTE, db), dropWp);
      }
    }
    a = next;
  }
}

function moveOne(
  ctx: OpCtx,
  st: PageTable,
  si: number,
  dt: PageTable,
  di: number,
  dropWp: boolean,
): void {
  const { m } = ctx;
  if (dropWp) {
    const marker = E.markerBits(m, st, si);
    if (marker === PteMarker.UFFD_WP) {
      E.clearEntry(st, si);
      return;
    }
    if (E.isPresent(m, st, si)) E.updateLeafFlags(m, st, si, 0, PteFlag.UFFD_WP);
    else if (E.isRealSwap(m, st, si)) {
      const sf = E.swpFlags(m, st, si) & ~SwpFlag.UFFD_WP;
      m.arch.encodeSwp(st.words, si, E.swpType(m, st, si), E.swpOffset(m, st, si), sf, st.level);
    }
  }
  if (!E.isNone(m, dt, di)) E.clearEntry(dt, di);
  dt.words[di * 2] = st.words[si * 2]!;
  dt.words[di * 2 + 1] = st.words[si * 2 + 1]!;
  dt.used++;
  E.clearEntry(st, si);
}
