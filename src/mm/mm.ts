import { RwLock } from "./locks.js";
import type { PageTables } from "./pgtable.js";
import type { MemPolicy, UffdCtx, Vma } from "./vma.js";

/** mm_struct RSS counters (MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES). */
export interface RssCounters {
  file: number;
  anon: number;
  swapEnts: number;
  shmem: number;
}

/**
 * An mm_struct: the VMAs (sorted by address; the maple tree's order), the
 * page tables, the RSS counters and the mmap lock.
 */
export class MmStruct {
  readonly vmas: Vma[] = [];
  readonly rss: RssCounters = { file: 0, anon: 0, swapEnts: 0, shmem: 0 };
  readonly mmapLock: RwLock;
  policy: MemPolicy = { mode: "default", nodes: [] };
  /** The process's userfaultfds: one synchronous, one asynchronous. */
  uffdSync: UffdCtx | null = null;
  uffdAsync: UffdCtx | null = null;
  exited = false;
  /**
   * Marker-free hugetlb uffd-wp: start addresses of the huge pages whose none
   * entry is write-protected (src/mm/hugetlb-uffd-wp.ts).
   */
  readonly hugetlbWpNone = new Set<number>();

  constructor(
    readonly id: number,
    readonly name: string,
    readonly pt: PageTables,
  ) {
    this.mmapLock = new RwLock(`mmap_lock(${name})`);
  }

  /** find_vma_intersection(addr, addr+1): the VMA containing `addr`. */
  findVma(addr: number): Vma | null {
    const v = this.vmas;
    let lo = 0;
    let hi = v.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = v[mid]!;
      if (addr < m.start) hi = mid - 1;
      else if (addr >= m.end) lo = mid + 1;
      else return m;
    }
    return null;
  }

  /** VMAs overlapping [start, end), in order. */
  vmasIn(start: number, end: number): Vma[] {
    return this.vmas.filter((v) => v.start < end && v.end > start);
  }

  insertVma(vma: Vma): void {
    let i = 0;
    while (i < this.vmas.length && this.vmas[i]!.start < vma.start) i++;
    this.vmas.splice(i, 0, vma);
  }

  removeVma(vma: Vma): void {
    const i = this.vmas.indexOf(vma);
    if (i >= 0) this.vmas.splice(i, 1);
  }
}
