/**
 * A deterministic buddy allocator over a range of PFNs (mm/page_alloc.c in
 * miniature). Blocks of order k are naturally aligned to 2^k frames, so the
 * head of any folio is `pfn & ~(2^order - 1)`. Free lists are LIFO stacks of
 * block heads; `freeOrder[pfn]` is the order + 1 of a free block headed at
 * `pfn` (0: not a free block head), which makes merging O(1) per level.
 * A block merged away stays in its list as a stale entry (its freeOrder no
 * longer matches) and is skipped when popped: one byte per frame in all.
 * Lowest-address-first is not required by the kernel either; determinism is.
 */
export class BuddyAllocator {
  readonly maxOrder: number;
  private readonly lists: number[][];
  /** order + 1 of the free block headed here, or 0. */
  private readonly freeOrder: Uint8Array;
  freePages = 0;

  constructor(
    readonly basePfn: number,
    readonly nrPages: number,
    maxOrder: number,
  ) {
    this.maxOrder = maxOrder;
    this.lists = Array.from({ length: maxOrder + 1 }, () => []);
    this.freeOrder = new Uint8Array(nrPages);
    // Seed with the largest aligned blocks, highest addresses first so that
    // the LIFO lists hand out low addresses first.
    const blocks: Array<[number, number]> = [];
    let pfn = basePfn;
    const end = basePfn + nrPages;
    while (pfn < end) {
      let order = maxOrder;
      while (order > 0 && (pfn % 2 ** order !== 0 || pfn + 2 ** order > end)) order--;
      blocks.push([pfn, order]);
      pfn += 2 ** order;
    }
    for (let i = blocks.length - 1; i >= 0; i--) this.push(blocks[i]![0], blocks[i]![1]);
  }

  private push(pfn: number, order: number): void {
    const list = this.lists[order]!;
    const rel = pfn - this.basePfn;
    this.freeOrder[rel] = order + 1;
    list.push(pfn);
    this.freePages += 2 ** order;
  }

  /** Take a free block out (its list entry goes stale). */
  private remove(pfn: number, order: number): void {
    this.freeOrder[pfn - this.basePfn] = 0;
    this.freePages -= 2 ** order;
  }

  /** Pop the newest valid block of `order`, or -1. */
  private pop(order: number): number {
    const list = this.lists[order]!;
    while (list.length > 0) {
      const pfn = list.pop()!;
      if (this.freeOrder[pfn - this.basePfn] === order + 1) {
        this.remove(pfn, order);
        return pfn;
      }
    }
    return -1;
  }

  /** Allocate a naturally aligned block of 2^order frames; -1 when none is free. */
  alloc(order: number): number {
    let o = order;
    let pfn = -1;
    for (; o <= this.maxOrder; o++) {
      pfn = this.pop(o);
      if (pfn >= 0) break;
    }
    if (pfn < 0) return -1;
    // Split, returning the upper halves.
    while (o > order) {
      o--;
      this.push(pfn + 2 ** o, o);
    }
    return pfn;
  }

  /** Return a block previously allocated with the same order. */
  free(pfn: number, order: number): void {
    let o = order;
    let head = pfn;
    while (o < this.maxOrder) {
      const size = 2 ** o;
      const buddy = head % (size * 2) === 0 ? head + size : head - size;
      const rel = buddy - this.basePfn;
      if (rel < 0 || rel >= this.nrPages || this.freeOrder[rel] !== o + 1) break;
      this.remove(buddy, o);
      head = Math.min(head, buddy);
      o++;
    }
    this.push(head, o);
  }

  /** Whether `pfn` heads a free block (KPF_BUDDY). */
  isFreeHead(pfn: number): boolean {
    const rel = pfn - this.basePfn;
    return rel >= 0 && rel < this.nrPages && this.freeOrder[rel] !== 0;
  }
}
