/**
 * How pt_range_walk (pt-range.ts) fills a result: NONE results and the
 * classification of one leaf entry into FOLIO, PFN, SWAP, MIGRATION,
 * DEVICE, HWPOISON or MARKER (kernel-api.md §5.3, "Classification").
 */
import { Level, PteFlag, SwpFlag } from "../arch/types.js";
import type { PageTable } from "../mm/pgtable.js";
import type { Vma } from "../mm/vma.js";
import { type PtLevel, type PtRangeWalk, PtType, ptLevelOf } from "./pt-range-types.js";
import {
  SoftleafType,
  softleafFromPmd,
  softleafFromPte,
  softleafFromPud,
  softleafHasPfn,
  softleafToPfn,
} from "./softleaf.js";

/** Reset the per-result fields a classification may leave unset. */
export function clearResult(w: PtRangeWalk): void {
  w.pteInv = false;
  w.cont = false;
  w.folio = -1;
  w.page = -1;
  w.pfn = -1;
  w.zero = false;
  w.write = false;
  w.young = false;
  w.dirty = false;
  w.softDirty = false;
  w.uffdWp = false;
  w.swpExclusive = false;
}

/** Make the current result a NONE over [addr, next). No PTL may be held. */
export function setNone(
  w: PtRangeWalk,
  addr: number,
  next: number,
  level: PtLevel,
  vma: Vma | null,
  t: PageTable | null,
  i: number,
  nrEntries: number,
): PtType {
  const ps = w.m!.arch.geometry.pageSize;
  clearResult(w);
  w.type = PtType.NONE;
  w.level = level;
  w.addr = addr;
  w.next = next;
  w.entryStart = addr;
  w.nrPages = (next - addr) / ps;
  w.nrEntries = nrEntries;
  w.vma = vma;
  w.hugetlb = vma?.isHugetlb === true;
  w.table = t;
  w.index = i;
  w.leaf.type = SoftleafType.NONE;
  w.leaf.swpType = -1;
  w.leaf.offset = 0;
  w.leaf.flags = 0;
  return PtType.NONE;
}

/**
 * Classify the leaf in slot @i of @t (arch level @lvl) as the current
 * result starting at @addr, its entry spanning from @entryStart.
 */
export function classify(
  w: PtRangeWalk,
  t: PageTable,
  i: number,
  lvl: Level,
  addr: number,
  entryStart: number,
): PtType {
  const m = w.m!;
  const a = m.arch;
  const lo = t.words[i * 2]!;
  const hi = t.words[i * 2 + 1]!;
  const vma = w.curVma!;
  clearResult(w);
  w.vma = vma;
  w.hugetlb = w.hugeSize !== 0;
  w.table = t;
  w.index = i;
  w.addr = addr;
  w.entryStart = entryStart;
  w.level = ptLevelOf(lvl);
  const sub = (addr - entryStart) / a.geometry.pageSize;
  const present = a.isPresent(lo, hi, w.hugetlb || lvl === Level.PTE ? Level.PTE : lvl);
  if (present) {
    const f = a.leafFlags(lo, hi, lvl);
    const pfn0 = a.leafPfn(lo, hi, lvl);
    w.write = (f & PteFlag.WRITE) !== 0;
    w.young = (f & PteFlag.YOUNG) !== 0;
    w.dirty = (f & PteFlag.DIRTY) !== 0;
    w.softDirty = (f & PteFlag.SOFT_DIRTY) !== 0;
    w.uffdWp = (f & PteFlag.UFFD_WP) !== 0;
    w.leaf.type = SoftleafType.NONE;
    w.leaf.swpType = -1;
    w.leaf.offset = 0;
    w.leaf.flags = 0;
    w.pfn = pfn0 + sub;
    const phys = m.phys;
    if (
      (lvl === Level.PTE && pfn0 === phys.zeroPfn) ||
      (lvl === Level.PMD && pfn0 === phys.hugeZeroPfn)
    ) {
      w.zero = true;
      w.folio = phys.folioHead(pfn0);
      w.page = w.pfn;
      w.type = PtType.PFN;
    } else if ((f & PteFlag.SPECIAL) !== 0) {
      w.type = PtType.PFN;
    } else {
      w.folio = phys.folioHead(pfn0);
      w.page = w.pfn;
      w.type = PtType.FOLIO;
    }
    return w.type;
  }
  const e =
    lvl === Level.PTE
      ? softleafFromPte(m, t, i, w.leaf)
      : lvl === Level.PMD
        ? softleafFromPmd(m, t, i, w.leaf)
        : softleafFromPud(m, t, i, w.leaf);
  w.softDirty = (e.flags & SwpFlag.SOFT_DIRTY) !== 0;
  w.uffdWp = (e.flags & SwpFlag.UFFD_WP) !== 0;
  w.swpExclusive = (e.flags & SwpFlag.EXCLUSIVE) !== 0;
  if (softleafHasPfn(e)) {
    const pfn = softleafToPfn(e);
    w.folio = m.phys.folioHead(pfn);
    w.page = pfn + sub;
  }
  switch (e.type) {
    case SoftleafType.SWAP:
      w.type = PtType.SWAP;
      break;
    case SoftleafType.MARKER:
      w.type = PtType.MARKER;
      break;
    case SoftleafType.HWPOISON:
      w.type = PtType.HWPOISON;
      break;
    case SoftleafType.DEVICE_PRIVATE_READ:
    case SoftleafType.DEVICE_PRIVATE_WRITE:
    case SoftleafType.DEVICE_EXCLUSIVE:
      w.type = PtType.DEVICE;
      break;
    case SoftleafType.NONE:
      throw new Error(`pt_range_walk at 0x${addr.toString(16)}: a none entry reached classify()`);
    default:
      w.type = PtType.MIGRATION;
  }
  return w.type;
}
