import { BuddyAllocator } from "./buddy.js";
import { PG } from "./pageflags.js";

/**
 * Mapcount state of one large (non-small) folio: the 6.15+ rmap model
 * (folio->_large_mapcount, _entire_mapcount and the two MM-ID slots with the
 * "maybe mapped shared" bit; include/linux/rmap.h). Per-page PTE mapcounts
 * live in {@link PhysMem.mapcount}. Objects exist per large folio, never per
 * page.
 */
export interface LargeFolioState {
  order: number;
  /** Number of PMD/PUD mappings (hugetlb: every mapping). */
  entire: number;
  /** Sum of per-page PTE mappings + entire. */
  large: number;
  mmId0: number;
  mmCount0: number;
  mmId1: number;
  mmCount1: number;
  maybeShared: boolean;
}

export interface NodeRange {
  basePfn: number;
  nrPages: number;
  buddy: BuddyAllocator;
}

/**
 * Where RAM starts: 16 MiB (the end of ZONE_DMA). The buddy allocator keeps
 * every block naturally aligned in PFN space whatever the base.
 */
export const RAM_BASE_PFN = 0x1000;

/** 2^k for every folio order (a table read: `2 ** k` of a variable is a pow() call). */
const POW2 = Float64Array.from({ length: 64 }, (_, k) => 2 ** k);

/**
 * Physical memory: frames and their struct page metadata, as typed arrays
 * indexed by PFN (no object per page). 18 bytes per frame: flags, PTE
 * mapcount, mapping id, content token, order, node. (A page-cache page's
 * index is its position in its AddressSpace; the model keeps no anonymous
 * page index.)
 */
export class PhysMem {
  readonly maxPfn: number;
  readonly flags: Uint32Array;
  /** Per-page PTE mapcount (small folio: the folio's mapcount). */
  readonly mapcount: Int32Array;
  /** anon_vma id (anonymous) or file id (page cache), 0 when none. */
  readonly mapping: Uint32Array;
  /** Content token of the 4 KiB page: 0 = all zero. */
  readonly content: Uint32Array;
  /** Order of the folio this page belongs to (same on every page of it). */
  readonly order: Uint8Array;
  readonly node: Uint8Array;
  readonly large = new Map<number, LargeFolioState>();
  /**
   * One-entry cache of {@link largeOf} (consecutive lookups hit the same
   * folio); reset wherever `large` changes (allocFolio, freeFolio, splitFolio).
   */
  private cachedHead = -1;
  private cachedState: LargeFolioState | undefined = undefined;
  /** Swap slot of each page in the swap cache (page->private of a swapcache folio). */
  readonly swapSlot = new Map<number, number>();
  readonly nodes: NodeRange[] = [];
  zeroPfn = -1;
  hugeZeroPfn = -1;
  private contentCounter = 0x10000;

  constructor(nodeMemBytes: readonly number[], pageShift: number, maxOrder: number) {
    let total = 0;
    for (const b of nodeMemBytes) total += Math.floor(b / 2 ** pageShift);
    this.maxPfn = RAM_BASE_PFN + total;
    this.flags = new Uint32Array(this.maxPfn);
    this.mapcount = new Int32Array(this.maxPfn);
    this.mapping = new Uint32Array(this.maxPfn);
    this.content = new Uint32Array(this.maxPfn);
    this.order = new Uint8Array(this.maxPfn);
    this.node = new Uint8Array(this.maxPfn);
    let base = RAM_BASE_PFN;
    nodeMemBytes.forEach((bytes, nid) => {
      const nr = Math.floor(bytes / 2 ** pageShift);
      if (nid > 0) this.node.fill(nid, base, base + nr);
      this.nodes.push({
        basePfn: base,
        nrPages: nr,
        buddy: new BuddyAllocator(base, nr, maxOrder),
      });
      base += nr;
    });
  }

  /** A fresh content token (a page written with a value unique to it). */
  newContent(): number {
    return this.contentCounter++;
  }

  /**
   * Allocate a folio of 2^order frames on `nid` (falling back to other nodes
   * in order) and initialise its struct pages: `folioFlags` on the head,
   * HEAD/TAIL for large folios, content zero. Throws when memory is exhausted
   * (the model does not simulate reclaim under pressure).
   */
  allocFolio(order: number, nid: number, folioFlags: number): number {
    let pfn = -1;
    for (let i = 0; i < this.nodes.length && pfn < 0; i++) {
      pfn = this.nodes[(nid + i) % this.nodes.length]!.buddy.alloc(order);
    }
    if (pfn < 0) throw new Error(`out of memory allocating an order-${order} folio`);
    const nr = 2 ** order;
    const tailFlags = PG.ALLOCATED | (order > 0 ? PG.TAIL : 0);
    this.flags.fill(tailFlags, pfn + 1, pfn + nr);
    this.flags[pfn] = folioFlags | PG.ALLOCATED | (order > 0 ? PG.HEAD : 0);
    this.mapcount.fill(0, pfn, pfn + nr);
    this.mapping.fill(0, pfn, pfn + nr);
    this.content.fill(0, pfn, pfn + nr);
    this.order.fill(order, pfn, pfn + nr);
    if (order > 0) this.large.set(pfn, newLargeState(order));
    this.cachedHead = -1;
    return pfn;
  }

  /** Free a folio (all its frames) back to the buddy allocator. */
  freeFolio(head: number): void {
    const order = this.order[head]!;
    const nr = 2 ** order;
    this.flags.fill(0, head, head + nr);
    this.mapcount.fill(0, head, head + nr);
    this.mapping.fill(0, head, head + nr);
    this.order.fill(0, head, head + nr);
    this.large.delete(head);
    this.cachedHead = -1;
    const nid = this.node[head]!;
    this.nodes[nid]!.buddy.free(head, order);
  }

  /** The large-folio state of folio `head` (large.get(head)), cached for runs of one folio. */
  largeOf(head: number): LargeFolioState | undefined {
    if (head === this.cachedHead) return this.cachedState;
    const s = this.large.get(head);
    this.cachedHead = head;
    this.cachedState = s;
    return s;
  }

  /** Head PFN of the folio containing `pfn` (folios are naturally aligned). */
  folioHead(pfn: number): number {
    const order = this.order[pfn]!;
    return order === 0 ? pfn : pfn - (pfn % POW2[order]!);
  }

  folioNr(pfn: number): number {
    return POW2[this.order[pfn]!]!;
  }

  isLarge(pfn: number): boolean {
    return this.order[pfn]! > 0;
  }

  isFree(pfn: number): boolean {
    return (this.flags[pfn]! & PG.ALLOCATED) === 0;
  }

  /** Whether `pfn` heads a free buddy block (KPF_BUDDY). */
  isBuddyHead(pfn: number): boolean {
    const n = this.nodes[this.node[pfn]!];
    return n?.buddy.isFreeHead(pfn) ?? false;
  }

  freePages(): number {
    let n = 0;
    for (const node of this.nodes) n += node.buddy.freePages;
    return n;
  }

  /**
   * Split a large folio into order-`newOrder` folios (split_folio_to_order):
   * each new folio inherits the head's folio flags; per-page mapcounts stay;
   * the large-folio state is rebuilt for each piece from its pages.
   */
  splitFolio(head: number, newOrder: number, folioMask: number): void {
    const order = this.order[head]!;
    const nr = 2 ** order;
    const inherited = this.flags[head]! & folioMask;
    const state = this.large.get(head);
    this.large.delete(head);
    this.cachedHead = -1;
    const step = 2 ** newOrder;
    for (let p = head; p < head + nr; p += step) {
      for (let q = p; q < p + step; q++) {
        const keep = this.flags[q]! & ~(PG.HEAD | PG.TAIL | folioMask);
        this.flags[q] =
          keep | (q === p ? inherited : 0) | (newOrder > 0 ? (q === p ? PG.HEAD : PG.TAIL) : 0);
        this.order[q] = newOrder;
      }
      if (newOrder > 0) {
        const s = newLargeState(newOrder);
        let sum = 0;
        for (let q = p; q < p + step; q++) sum += this.mapcount[q]!;
        s.large = sum;
        if (state && sum > 0) {
          s.mmId0 = state.mmId0;
          s.mmCount0 = sum;
        }
        this.large.set(p, s);
        this.flags[p] = (this.flags[p]! & ~PG.LARGE_RMAPPABLE) | PG.LARGE_RMAPPABLE;
      }
    }
  }
}

export function newLargeState(order: number): LargeFolioState {
  return {
    order,
    entire: 0,
    large: 0,
    mmId0: 0,
    mmCount0: 0,
    mmId1: 0,
    mmCount1: 0,
    maybeShared: false,
  };
}
