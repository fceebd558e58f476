import type { MmStruct } from "./mm.js";

/**
 * Marker-free uffd-wp of unpopulated hugetlb pages (a design alternative to
 * 6.18's PTE markers in hugetlb entries, the unification RFC's open item;
 * selected by the PAGEMAP_SCAN option `hugetlbWp: "marker-free"`).
 *
 * Instead of writing a uffd-wp marker into a none hugetlb entry, the
 * protection is recorded here: per mm, the start address of each huge page
 * whose (none) entry is write-protected. A none hugetlb entry whose page is
 * recorded reads exactly as a uffd-wp marker would (pagemap `uffd_wp`,
 * PAGEMAP_SCAN `swapped|huge` without `written`). A record means nothing
 * once the entry is not none; whoever installs an entry, zaps, unmaps,
 * moves or un-protects the range must forget it (see the PAGEMAP_SCAN
 * report for the fault-path and ops changes this needs).
 */
/** Record that the none hugetlb entry of the huge page at `hugeStart` is uffd-wp protected. */
export function hugetlbWpRecord(mm: MmStruct, hugeStart: number): void {
  mm.hugetlbWpNone.add(hugeStart);
}

/** Whether the huge page at `hugeStart` carries a marker-free uffd-wp record. */
export function hugetlbWpRecorded(mm: MmStruct, hugeStart: number): boolean {
  return mm.hugetlbWpNone.has(hugeStart);
}

/** Drop the records of the huge pages starting in [start, end). */
export function hugetlbWpForget(mm: MmStruct, start: number, end: number): void {
  for (const a of mm.hugetlbWpNone) if (a >= start && a < end) mm.hugetlbWpNone.delete(a);
}
