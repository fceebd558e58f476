/**
 * One swap device (the reference machine's zram): per-slot swap counts
 * (swap_map), the swap cache (slot → PFN) and each slot's content token.
 * Slot 0 is the header and never handed out. Allocation is deterministic:
 * the lowest free, naturally aligned run of the requested size at or after a
 * moving cursor (the kernel's per-order cluster allocation in miniature).
 */
export class SwapDevice {
  /** Swap count of each slot (swap_map without SWAP_HAS_CACHE). */
  readonly count: Uint16Array;
  /** PFN of the swap-cache page of each slot + 1 (0: none, so the array starts zeroed). */
  readonly cacheTable: Int32Array;
  readonly content: Uint32Array;
  /** Pages in the slot were all zero when written (the kernel's zeromap). */
  private cursor = 1;
  used = 0;

  constructor(
    readonly type: number,
    readonly nrSlots: number,
  ) {
    // Zero-filled arrays are committed lazily by the OS: an unused swap
    // device costs address space, not memory.
    this.count = new Uint16Array(nrSlots);
    this.cacheTable = new Int32Array(nrSlots);
    this.content = new Uint32Array(nrSlots);
  }

  /** The swap-cache page of `slot` (a PFN), or -1. */
  cached(slot: number): number {
    return this.cacheTable[slot]! - 1;
  }

  /** Put `pfn` in the swap cache for `slot` (-1: none). */
  setCached(slot: number, pfn: number): void {
    this.cacheTable[slot] = pfn + 1;
  }

  private isFree(slot: number): boolean {
    return this.count[slot] === 0 && this.cached(slot) === -1;
  }

  /** Allocate `nr` consecutive slots, the first a multiple of `nr`; -1 if none. */
  alloc(nr: number): number {
    const tryFrom = (from: number, to: number): number => {
      let s = Math.ceil(from / nr) * nr;
      if (s === 0) s = nr === 1 ? 1 : nr;
      for (; s + nr <= to; s += nr) {
        let ok = true;
        for (let i = 0; i < nr; i++) {
          if (!this.isFree(s + i)) {
            ok = false;
            break;
          }
        }
        if (ok) return s;
      }
      return -1;
    };
    let s = tryFrom(this.cursor, this.nrSlots);
    if (s < 0) s = tryFrom(1, this.nrSlots);
    if (s < 0) return -1;
    for (let i = 0; i < nr; i++) this.count[s + i] = 1;
    this.used += nr;
    this.cursor = s + nr;
    return s;
  }

  /** swap_duplicate(): one more reference (fork). */
  dup(slot: number): void {
    this.count[slot]!++;
  }

  /**
   * swap_free(): drop one reference. The slot is released when no reference
   * and no swap-cache page remain.
   */
  put(slot: number): void {
    if (this.count[slot] === 0) throw new Error(`swap slot ${slot} freed twice`);
    this.count[slot]!--;
    if (this.count[slot] === 0 && this.cached(slot) === -1) this.release(slot);
  }

  private release(slot: number): void {
    this.content[slot] = 0;
    this.used--;
  }

  /** Remove a page from the swap cache; frees the slot if nothing refers to it. */
  dropCache(slot: number): void {
    this.setCached(slot, -1);
    if (this.count[slot] === 0) this.release(slot);
  }

  /** Whether a slot is in use (counted or cached). */
  inUse(slot: number): boolean {
    return !this.isFree(slot);
  }
}
