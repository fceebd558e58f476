import type { Machine } from "./machine.js";
import type { AddressSpace } from "./pagecache.js";
import { PG } from "./pageflags.js";
import { RAM_BASE_PFN } from "./phys.js";
import { flagNames, hex, type Problems, type Scratch, type WalkResult } from "./verify-common.js";

/** The verifier's per-frame checks: folio shape, map counts, owners, pools. */

export function checkFrames(m: Machine, sc: Scratch, walk: WalkResult, p: Problems): void {
  const phys = m.phys;
  const flags = phys.flags;
  const order = phys.order;
  const mapcount = phys.mapcount;
  const pte = sc.pteMap;
  const spaces = new Map<number, AddressSpace>();
  for (const s of m.spaces) spaces.set(s.id, s);
  const poolFree = new Set<number>();
  for (const pool of m.hugetlb.values()) {
    for (const h of pool.free) {
      if (poolFree.has(h))
        p.add("hugetlb-pool", `hugetlb pool ${pool.name}: folio ${hex(h)} is free twice`);
      poolFree.add(h);
      if (
        (flags[h]! & (PG.HUGETLB | PG.HEAD | PG.ALLOCATED)) !==
          (PG.HUGETLB | PG.HEAD | PG.ALLOCATED) ||
        order[h] !== pool.order
      ) {
        p.add(
          "hugetlb-pool",
          `hugetlb pool ${pool.name}: free folio ${hex(h)} is not an allocated order-${pool.order} hugetlb head (flags ${flagNames(flags[h]!)}, order ${order[h]})`,
        );
      }
    }
  }
  const hugetlbByOrder = new Map<number, number>();
  const hz = phys.hugeZeroPfn;
  const hzEnd = hz + 2 ** (m.arch.geometry.pmdShift - m.arch.geometry.pageShift);
  let allocated = 0;
  let total = 0;
  for (const node of phys.nodes) total += node.nrPages;
  // Pages below RAM must be untouched.
  const end = phys.maxPfn;
  let pfn = RAM_BASE_PFN;
  while (pfn < end) {
    // Free frames in a tight loop: flags all zero (a PTE mapping a free
    // frame was reported by the walk; freeFolio() zeroes the mapcount).
    pfn = skipCleanFree(flags, pfn, end);
    if (pfn >= end) break;
    const f = flags[pfn]!;
    if ((f & PG.ALLOCATED) === 0) {
      p.add(
        "free-frame",
        `free frame ${hex(pfn)}: flags ${flagNames(f)}, mapcount ${mapcount[pfn]}, ${pte[pfn]} PTEs map it`,
      );
      pfn++;
      continue;
    }
    // An allocated folio: head, then its tails.
    const o = order[pfn]!;
    const nr = 2 ** o;
    if ((f & PG.TAIL) !== 0 || (o > 0 && (f & PG.HEAD) === 0) || pfn % nr !== 0) {
      p.add(
        "folio-shape",
        `pfn ${hex(pfn)}: allocated frame where a folio head was expected (flags ${flagNames(f)}, order ${o})`,
      );
      allocated++;
      if (mapcount[pfn] !== pte[pfn]) mapcountProblem(p, pfn, mapcount[pfn]!, pte[pfn]!);
      pfn++;
      continue;
    }
    const last = Math.min(pfn + nr, end);
    allocated += last - pfn;
    if (f & PG.HUGETLB && o > 0 && poolFree.has(pfn)) {
      // A free pool folio: reset as a whole by free_huge_folio; only its head is looked at.
      if (mapcount[pfn] !== 0 || pte[pfn] !== 0) mapcountProblem(p, pfn, mapcount[pfn]!, pte[pfn]!);
    } else {
      const badTail = o > 0 ? findBadTail(flags, order, pfn + 1, last, o) : -1;
      if (badTail >= 0) {
        p.add(
          "folio-shape",
          `pfn ${hex(badTail)}: tail of the order-${o} folio ${hex(pfn)} has flags ${flagNames(flags[badTail]!)} and order ${order[badTail]}`,
        );
      }
      const badCount = findMapcountMismatch(mapcount, pte, pfn, last);
      if (badCount >= 0) mapcountProblem(p, badCount, mapcount[badCount]!, pte[badCount]!);
    }
    const pteSum = o > 0 ? sumRange(pte, pfn, last) : pte[pfn]!;
    const head = pfn;
    pfn += nr;
    const entire = walk.entire.get(head) ?? 0;
    const inHugeZero = head >= hz && head < hzEnd;
    if (o > 0) checkLarge(m, walk, p, head, f, o, pteSum, entire);
    else if (entire > 0)
      p.add("mapcount", `small folio ${hex(head)} has ${entire} PMD/PUD mappings`);
    // Who owns the folio.
    if (f & PG.ZERO) {
      if (head !== phys.zeroPfn && !inHugeZero) {
        p.add(
          "owner",
          `folio ${hex(head)} is marked ZERO but is neither the zero page nor the huge zero folio`,
        );
      }
      continue;
    }
    if (f & PG.PGTABLE) {
      if (!m.tables.has(head)) {
        p.add(
          "owner",
          `frame ${hex(head)} is a page-table page (PG_PGTABLE) not registered in m.tables`,
        );
      }
      continue;
    }
    if (f & PG.HUGETLB) {
      hugetlbByOrder.set(o, (hugetlbByOrder.get(o) ?? 0) + 1);
      const free = poolFree.has(head);
      const mapped = entire > 0;
      const cached = (f & PG.PAGECACHE) !== 0;
      if (free && (mapped || cached)) {
        p.add(
          "hugetlb-pool",
          `hugetlb folio ${hex(head)} is in the free pool but ${mapped ? "mapped" : "in a page cache"}`,
        );
      } else if (!free && !mapped && !cached && !walk.migrating.has(head)) {
        p.add(
          "leak",
          `hugetlb folio ${hex(head)} is neither free in its pool nor mapped nor in a page cache (leaked)`,
        );
      }
      if (cached) checkCacheOwner(m, spaces, p, head, f);
      continue;
    }
    if (f & PG.PAGECACHE) {
      checkCacheOwner(m, spaces, p, head, f);
      continue;
    }
    if (f & PG.SWAPCACHE) {
      for (let q = head; q < head + nr; q++) {
        const slot = phys.swapSlot.get(q);
        if (slot === undefined) {
          p.add(
            "swapcache",
            `pfn ${hex(q)} of swap-cache folio ${hex(head)} has no swap slot (phys.swapSlot)`,
          );
        }
      }
      continue;
    }
    const mapped = pteSum + entire > 0;
    if (f & PG.ANON) {
      // Poisoned pages stay out of the allocator for good (memory_failure).
      const kept = (f & (PG.LOCKED | PG.HWPOISON)) !== 0;
      if (!mapped && !walk.migrating.has(head) && !kept) {
        p.add(
          "leak",
          `anonymous folio ${hex(head)} (order ${o}) is mapped nowhere and not in the swap cache (leaked; flags ${flagNames(f)})`,
        );
      }
      continue;
    }
    if (f & PG.DEVICE) continue;
    p.add("leak", `allocated folio ${hex(head)} (order ${o}, flags ${flagNames(f)}) has no owner`);
  }
  for (const pool of m.hugetlb.values()) {
    const n = hugetlbByOrder.get(pool.order) ?? 0;
    if (n !== pool.total) {
      p.add(
        "hugetlb-pool",
        `hugetlb pool ${pool.name}: ${pool.total} folios in the pool, ${n} order-${pool.order} hugetlb folios exist (${pool.free.length} free)`,
      );
    }
  }
  if (allocated + phys.freePages() !== total) {
    p.add(
      "frames",
      `frame conservation: ${allocated} allocated + ${phys.freePages()} free in the buddy allocator != ${total} frames`,
    );
  }
  for (const head of phys.large.keys()) {
    if ((flags[head]! & (PG.HEAD | PG.ALLOCATED)) !== (PG.HEAD | PG.ALLOCATED)) {
      p.add(
        "large-state",
        `large-folio state kept for ${hex(head)}, which is not an allocated folio head`,
      );
    }
  }
}

/** The first PFN from `pfn` whose flags are not zero (allocated, or a dirty free frame). */
export function skipCleanFree(flags: Uint32Array, pfn: number, end: number): number {
  while (pfn < end && flags[pfn] === 0) pfn++;
  return pfn;
}

/** The first tail in [from, to) that is not an allocated order-`o` tail, or -1. */
export function findBadTail(
  flags: Uint32Array,
  order: Uint8Array,
  from: number,
  to: number,
  o: number,
): number {
  const want = PG.ALLOCATED | PG.TAIL;
  for (let q = from; q < to; q++) if ((flags[q]! & want) !== want || order[q] !== o) return q;
  return -1;
}

/** The first PFN in [from, to) whose stored mapcount differs from the recomputed one, or -1. */
export function findMapcountMismatch(
  mapcount: Int32Array,
  pte: Int32Array,
  from: number,
  to: number,
): number {
  for (let q = from; q < to; q++) if (mapcount[q] !== pte[q]) return q;
  return -1;
}

export function sumRange(a: Int32Array, from: number, to: number): number {
  let n = 0;
  for (let q = from; q < to; q++) n += a[q]!;
  return n;
}

export function mapcountProblem(p: Problems, pfn: number, found: number, want: number): void {
  p.add("mapcount", `pfn ${hex(pfn)}: mapcount is ${found}, ${want} PTEs map it`);
}

export function checkCacheOwner(
  m: Machine,
  spaces: Map<number, AddressSpace>,
  p: Problems,
  head: number,
  f: number,
): void {
  const phys = m.phys;
  const id = phys.mapping[head]!;
  const s = spaces.get(id);
  if (s === undefined) {
    p.add("owner", `page-cache folio ${hex(head)} names space ${id}, which does not exist`);
  } else if (!s.pages.includes(head)) {
    p.add(
      "owner",
      `page-cache folio ${hex(head)} says it belongs to space ${id} (${s.name}), which does not hold it (leaked)`,
    );
  }
  void f;
}

export function checkLarge(
  m: Machine,
  walk: WalkResult,
  p: Problems,
  head: number,
  f: number,
  o: number,
  pteSum: number,
  entire: number,
): void {
  const phys = m.phys;
  const s = phys.large.get(head);
  if (s === undefined) {
    p.add("large-state", `large folio ${hex(head)} (order ${o}) has no large-folio state`);
    return;
  }
  if (s.order !== o) {
    p.add("large-state", `large folio ${hex(head)}: state order ${s.order}, folio order ${o}`);
  }
  if (head === phys.hugeZeroPfn) {
    if (s.entire !== 0 || s.large !== 0) {
      p.add(
        "mapcount",
        `huge zero folio ${hex(head)}: entire ${s.entire}, large ${s.large} (expected 0: never counted)`,
      );
    }
    return;
  }
  const hugetlb = (f & PG.HUGETLB) !== 0;
  const large = hugetlb ? entire : pteSum + entire;
  if (s.entire !== entire || s.large !== large) {
    p.add(
      "mapcount",
      `large folio ${hex(head)} (order ${o}${hugetlb ? ", hugetlb" : ""}): entire mapcount ${s.entire}, large mapcount ${s.large}; the page tables give entire ${entire}, large ${large} (${pteSum} PTEs)`,
    );
  }
  if (hugetlb) return;
  // The two mm-id slots.
  const perMm = new Map<number, number>();
  let mappers = 0;
  for (const c of walk.counts) {
    const n = c.largeMaps.get(head);
    if (n !== undefined && n > 0) {
      perMm.set(c.mm.id, n);
      mappers++;
    }
  }
  if (s.mmCount0 < 0 || s.mmCount1 < 0) {
    p.add(
      "mm-slot",
      `large folio ${hex(head)}: negative mm slot count (${s.mmCount0}, ${s.mmCount1})`,
    );
  }
  if (s.mmCount0 > 0 && s.mmCount1 > 0 && s.mmId0 === s.mmId1) {
    p.add("mm-slot", `large folio ${hex(head)}: both mm slots hold mm id ${s.mmId0}`);
  }
  const slots: Array<[number, number, number]> = [
    [0, s.mmId0, s.mmCount0],
    [1, s.mmId1, s.mmCount1],
  ];
  for (const [k, id, cnt] of slots) {
    if (cnt <= 0) continue;
    const real = perMm.get(id) ?? 0;
    if (real !== cnt) {
      p.add(
        "mm-slot",
        `large folio ${hex(head)}: mm slot ${k} holds mm id ${id} with count ${cnt}, that mm maps it ${real} times`,
      );
    }
  }
  if (mappers > 1 && !s.maybeShared) {
    p.add(
      "mm-slot",
      `large folio ${hex(head)} is mapped by ${mappers} mms but not marked maybe-mapped-shared`,
    );
  }
}

// ---------------------------------------------------------------------------
// After every process exited
// ---------------------------------------------------------------------------
