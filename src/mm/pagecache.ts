import { RwLock } from "./locks.js";

/**
 * An address_space: the page cache of a regular file (tmpfs or disk), of a
 * shmem object (shared anonymous memory) or of a hugetlbfs file. Pages are
 * indexed by base-page index; a hugetlb folio sits at the index of its head.
 * Shmem swap slots are kept per index too (shmem's swap entries in the
 * mapping's xarray).
 */
export type SpaceKind = "tmpfs" | "disk" | "shmem" | "hugetlb";

export class AddressSpace {
  /** i_mmap_rwsem of the mapping (i_mmap_lock_read/write). */
  readonly iMmap: RwLock;
  /** PFN of the folio page at each index, -1 when not cached. */
  pages: Int32Array;
  /** Shmem/tmpfs: swap slot holding the page at each index, -1 when none. */
  swap: Int32Array;

  constructor(
    readonly id: number,
    /** The maps/smaps name: `file:f1`, `/dev/zero (deleted)`, `/anon_hugepage (deleted)`. */
    readonly name: string,
    readonly kind: SpaceKind,
    public nrPages: number,
  ) {
    this.iMmap = new RwLock(`i_mmap_rwsem(${name})`);
    this.pages = new Int32Array(nrPages).fill(-1);
    this.swap = new Int32Array(nrPages).fill(-1);
  }

  /** The original content token of the file page at `idx` (unique per file and page). */
  contentOf(idx: number): number {
    return (0x80000000 + this.id * 0x100000 + idx) >>> 0;
  }

  /** Grow the object to hold at least `nr` pages (shmem objects only grow). */
  ensure(nr: number): void {
    if (nr <= this.nrPages) return;
    const p = new Int32Array(nr).fill(-1);
    p.set(this.pages);
    const s = new Int32Array(nr).fill(-1);
    s.set(this.swap);
    this.pages = p;
    this.swap = s;
    this.nrPages = nr;
  }

  /** Swap-backed (shmem, tmpfs): pages go to swap rather than being dropped. */
  get swapBacked(): boolean {
    return this.kind === "tmpfs" || this.kind === "shmem";
  }
}
