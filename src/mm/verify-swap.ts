import type { Machine } from "./machine.js";
import { PG } from "./pageflags.js";
import { RAM_BASE_PFN } from "./phys.js";
import { flagNames, hex, type Problems } from "./verify-common.js";

/** The verifier's swap-device and page-cache checks. */

export function checkSwap(m: Machine, refs: Map<number, number>, p: Problems): void {
  const sw = m.swap;
  const phys = m.phys;
  if (sw === null) {
    for (const s of m.spaces) {
      for (let i = 0; i < s.nrPages; i++) {
        if (s.swap[i]! >= 0) {
          p.add(
            "swap-none",
            `space ${s.id} (${s.name}) index ${i} refers to swap, but there is no swap device`,
          );
        }
      }
    }
    for (const pfn of phys.swapSlot.keys()) {
      p.add("swap-none", `pfn ${hex(pfn)} has a swap slot, but there is no swap device`);
    }
    return;
  }
  for (const s of m.spaces) {
    const sv = s.swap;
    for (let i = 0; i < s.nrPages; i++) {
      const slot = sv[i]!;
      if (slot < 0) continue;
      if (slot === 0 || slot >= sw.nrSlots) {
        p.add(
          "swap-offset",
          `space ${s.id} (${s.name}) index ${i} refers to swap slot ${slot} outside the device`,
        );
        continue;
      }
      refs.set(slot, (refs.get(slot) ?? 0) + 1);
      if (!s.swapBacked) {
        p.add(
          "swap-space",
          `space ${s.id} (${s.name}, ${s.kind}) index ${i} is in swap but the space is not swap-backed`,
        );
      }
    }
  }
  const count = sw.count;
  /** PFN + 1 of each slot's swap-cache page, 0 when none. */
  const cache = sw.cacheTable;
  let used = 0;
  if (count[0] !== 0 || cache[0] !== 0) p.add("swap-header", "swap slot 0 (the header) is in use");
  const count32 =
    count.byteOffset % 4 === 0
      ? new Uint32Array(count.buffer, count.byteOffset, count.length >> 1)
      : null;
  for (let slot = 0; slot < sw.nrSlots; slot++) {
    slot = skipIdleSlots(count, count32, cache, slot, sw.nrSlots);
    if (slot >= sw.nrSlots) break;
    const c = count[slot]!;
    const r = refs.get(slot) ?? 0;
    const pfn = cache[slot]! - 1;
    if (c === 0 && pfn === -1 && r === 0) continue;
    if (c !== r) {
      p.add(
        "swap-count",
        `swap slot ${slot}: swap count is ${c}, ${r} entries refer to it (page tables and shmem)`,
      );
    }
    if (c > 0 || pfn !== -1) used++;
    if (pfn === -1) continue;
    if (pfn < RAM_BASE_PFN || pfn >= phys.maxPfn) {
      p.add("swapcache", `swap slot ${slot}: cached pfn ${pfn} is not a RAM frame`);
      continue;
    }
    const f = phys.flags[pfn]!;
    if ((f & PG.ALLOCATED) === 0 || (phys.flags[phys.folioHead(pfn)]! & PG.SWAPCACHE) === 0) {
      p.add(
        "swapcache",
        `swap slot ${slot}: cached pfn ${hex(pfn)} is not an allocated swap-cache page (flags ${flagNames(f)})`,
      );
    }
    const back = phys.swapSlot.get(pfn);
    if (back !== slot) {
      p.add(
        "swapcache",
        `swap slot ${slot}: cached pfn ${hex(pfn)} maps back to slot ${back ?? "none"} (phys.swapSlot)`,
      );
    }
  }
  for (const [slot, r] of refs) {
    if (count[slot] === 0 && cache[slot] === 0) {
      p.add(
        "swap-count",
        `swap slot ${slot}: swap count is 0, ${r} entries refer to it (page tables and shmem)`,
      );
    }
  }
  if (used !== sw.used) {
    p.add("swap-used", `swap device: used is ${sw.used}, ${used} slots are counted or cached`);
  }
  for (const [pfn, slot] of phys.swapSlot) {
    if (slot <= 0 || slot >= sw.nrSlots || cache[slot]! - 1 !== pfn) {
      p.add(
        "swapcache",
        `pfn ${hex(pfn)} says it caches swap slot ${slot}, but the swap cache holds ${slot > 0 && slot < sw.nrSlots ? cache[slot]! - 1 : "nothing"} there`,
      );
    }
  }
}

/**
 * The first slot from `slot` that may be counted or cached (two slots at a
 * time through a 32-bit view of the counts: the scan is memory-bound).
 */
export function skipIdleSlots(
  count: Uint16Array,
  count32: Uint32Array | null,
  cache: Int32Array,
  slot: number,
  end: number,
): number {
  if (count32 !== null) {
    if (slot & 1) {
      if ((count[slot]! | cache[slot]!) !== 0) return slot;
      slot++;
    }
    let k = slot >> 1;
    const e = end >> 1;
    while (k < e && (count32[k]! | cache[2 * k]! | cache[2 * k + 1]!) === 0) k++;
    slot = k << 1;
  }
  while (slot < end && (count[slot]! | cache[slot]!) === 0) slot++;
  return slot;
}

// ---------------------------------------------------------------------------
// (e) page cache
// ---------------------------------------------------------------------------

export function checkPageCache(m: Machine, p: Problems): void {
  const phys = m.phys;
  const ids = new Set<number>();
  for (const s of m.spaces) {
    if (ids.has(s.id)) p.add("space-id", `two address spaces share id ${s.id}`);
    ids.add(s.id);
    if (s.pages.length < s.nrPages || s.swap.length < s.nrPages) {
      p.add("space-size", `space ${s.id} (${s.name}): arrays shorter than nrPages ${s.nrPages}`);
      continue;
    }
    const hugeNr = s.kind === "hugetlb" ? -1 : 1;
    for (let i = 0; i < s.nrPages; i++) {
      const pfn = s.pages[i]!;
      if (pfn < 0) continue;
      const where = `space ${s.id} (${s.name}) index ${i}`;
      if (pfn < RAM_BASE_PFN || pfn >= phys.maxPfn) {
        p.add("pagecache", `${where}: pfn ${pfn} is not a RAM frame`);
        continue;
      }
      const f = phys.flags[pfn]!;
      const head = phys.folioHead(pfn);
      const hf = phys.flags[head]!;
      if ((f & PG.ALLOCATED) === 0 || (hf & PG.PAGECACHE) === 0) {
        p.add(
          "pagecache",
          `${where}: pfn ${hex(pfn)} is not an allocated page-cache page (flags ${flagNames(hf)})`,
        );
        continue;
      }
      if (phys.mapping[head] !== s.id) {
        p.add(
          "pagecache",
          `${where}: pfn ${hex(pfn)} has mapping ${phys.mapping[head]}, expected ${s.id}`,
        );
      }
      if (hugeNr < 0 && (hf & PG.HUGETLB) === 0) {
        p.add("pagecache", `${where}: pfn ${hex(pfn)} in a hugetlbfs file is not a hugetlb folio`);
      }
      if (s.swap[i]! >= 0) {
        p.add(
          "pagecache",
          `${where}: both a page (${hex(pfn)}) and a swap slot (${s.swap[i]}) are recorded`,
        );
      }
    }
  }
}

// ---------------------------------------------------------------------------
// (b) mapcounts, (e) owners and pools, (f) frame conservation: one PFN pass
// ---------------------------------------------------------------------------
