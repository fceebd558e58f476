import type { Machine } from "../mm/machine.js";
import { PG } from "../mm/pageflags.js";
import { folioMapcount } from "../mm/rmap.js";
import { releaseHugetlbFolio } from "./folio.js";

/**
 * Free the unlinked objects no VMA maps any more: shared anonymous memory
 * (`/dev/zero (deleted)`) and hugetlb memory (`/anon_hugepage (deleted)`)
 * die with their last mapping (the final fput → shmem_evict_inode /
 * hugetlbfs_evict_inode): their page-cache pages are freed, their swap
 * slots released, hugetlb folios returned to the pool. Scenario files stay.
 */
export function releaseUnmappedObjects(m: Machine): void {
  const live = new Set<number>();
  for (const mm of m.procs.values()) for (const v of mm.vmas) if (v.space) live.add(v.space.id);
  const files = new Set([...m.files.values()].map((s) => s.id));
  const phys = m.phys;
  for (let k = m.spaces.length - 1; k >= 0; k--) {
    const s = m.spaces[k]!;
    if (live.has(s.id) || files.has(s.id)) continue;
    for (let i = 0; i < s.nrPages; i++) {
      const pfn = s.pages[i]!;
      if (pfn >= 0) {
        s.pages[i] = -1;
        phys.flags[pfn]! &= ~PG.PAGECACHE;
        if (folioMapcount(phys, pfn) === 0) {
          if (phys.flags[pfn]! & PG.HUGETLB) releaseHugetlbFolio(m, pfn);
          else phys.freeFolio(pfn);
        }
      }
      const slot = s.swap[i]!;
      if (slot >= 0 && m.swap) {
        s.swap[i] = -1;
        const cached = m.swap.cached(slot);
        m.swap.put(slot);
        if (cached >= 0 && m.swap.count[slot] === 0) {
          m.swap.dropCache(slot);
          phys.swapSlot.delete(cached);
          phys.freeFolio(cached);
        }
      }
    }
    m.spaces.splice(k, 1);
  }
}
