import type { Machine } from "./machine.js";
import type { MmStruct } from "./mm.js";
import type { AddressSpace } from "./pagecache.js";
import { PG } from "./pageflags.js";
import { RAM_BASE_PFN } from "./phys.js";
import { flagNames, hex, mmName, Problems, scratch, type WalkResult } from "./verify-common.js";
import { checkFrames } from "./verify-frames.js";
import { checkPageCache, checkSwap } from "./verify-swap.js";
import { walkAll } from "./verify-walk.js";

/*
 * The invariant verifier (the model's CONFIG_DEBUG_VM): everything the
 * operations keep incrementally — RSS counters, per-page and per-folio map
 * counts, the mm-id slots, page-table `used` counts and accounting, swap
 * counts and the swap cache, page-cache membership, hugetlb pools, frame
 * conservation — is recomputed from the page tables of every live process
 * and compared. Problems are returned as sentences naming the mm, address,
 * PFN, slot, and the expected and found values; nothing throws.
 *
 * Speed: one pass over the present tables of each mm (entries read through
 * the codec, counts kept in typed arrays reused between calls) and one
 * linear pass over the PFN arrays. Objects are made per table, per large
 * folio and per problem only.
 */

/** Check the machine's invariants (CONFIG_DEBUG_VM); returns the problems found. */
export function verifyMachine(m: Machine): string[] {
  const p = new Problems();
  const sc = scratch(m);
  const walk = walkAll(m, sc, p);
  checkRss(walk, p);
  checkTables(m, walk, p);
  checkSwap(m, walk.swapRefs, p);
  checkPageCache(m, p);
  checkFrames(m, sc, walk, p);
  return p.finish();
}

/** The processes whose page tables count: live and not exited. */
export function liveMms(m: Machine): MmStruct[] {
  const out: MmStruct[] = [];
  for (const mm of m.procs.values()) if (!mm.exited) out.push(mm);
  return out;
}

export function checkRss(walk: WalkResult, p: Problems): void {
  for (const c of walk.counts) {
    const r = c.mm.rss;
    const pairs: Array<[string, number, number]> = [
      ["MM_ANONPAGES", r.anon, c.anon],
      ["MM_FILEPAGES", r.file, c.file],
      ["MM_SHMEMPAGES", r.shmem, c.shmem],
      ["MM_SWAPENTS", r.swapEnts, c.swapEnts],
    ];
    for (const [name, found, expected] of pairs) {
      if (found !== expected) {
        p.add("rss", `${mmName(c.mm)}: RSS ${name} is ${found}, the page tables give ${expected}`);
      }
    }
  }
}

export function checkTables(m: Machine, walk: WalkResult, p: Problems): void {
  const ps = m.arch.geometry.pageSize;
  for (const c of walk.counts) {
    const want = c.tables * ps;
    if (c.mm.pt.bytes !== want) {
      p.add(
        "pt-bytes",
        `${mmName(c.mm)}: pgtables_bytes is ${c.mm.pt.bytes}, ${c.tables} tables are reachable (${want} bytes)`,
      );
    }
  }
  for (const [pfn, t] of m.tables) {
    if (t.pfn !== pfn) {
      p.add(
        "pt-registry",
        `page table registered at pfn ${hex(pfn)} says it lives at ${hex(t.pfn)}`,
      );
    }
    if (!walk.reached.has(pfn)) {
      p.add(
        "pt-unreachable",
        `page table at pfn ${hex(pfn)} (level ${t.level}, used ${t.used}) is registered but reachable from no live mm`,
      );
    }
  }
}

// ---------------------------------------------------------------------------
// (d) swap
// ---------------------------------------------------------------------------

/**
 * After every process has exited: every frame is free except the boot-time
 * ones (zero page, huge zero folio, hugetlb pool folios) and the page cache
 * of objects still alive — the scenario's files (`m.files`), which persist,
 * and any shmem or hugetlbfs object a live VMA still maps — plus the
 * swap-cache pages of their swapped-out pages; every swap slot is free
 * except those such objects hold. Objects nothing refers to any more
 * (`/dev/zero (deleted)`, `/anon_hugepage (deleted)` after their last
 * unmap) must have given back their pages, pool folios and swap slots.
 * Returns the leaks found (run {@link verifyMachine} too for consistency).
 */
export function verifyAllFree(m: Machine): string[] {
  const p = new Problems();
  const phys = m.phys;
  const live = liveMms(m);
  for (const mm of live) p.add("live", `${mmName(mm)} has not exited`);
  for (const [pfn, t] of m.tables) {
    p.add(
      "pt-leak",
      `page table at pfn ${hex(pfn)} (level ${t.level}, used ${t.used}) is still allocated`,
    );
  }
  const alive = new Set<AddressSpace>(m.files.values());
  for (const mm of live) for (const v of mm.vmas) if (v.space) alive.add(v.space);
  // Frames and slots the living objects hold.
  const held = new Set<number>();
  const heldSlots = new Set<number>();
  for (const s of alive) {
    for (let i = 0; i < s.nrPages; i++) {
      if (s.pages[i]! >= 0) held.add(phys.folioHead(s.pages[i]!));
      if (s.swap[i]! >= 0) heldSlots.add(s.swap[i]!);
    }
  }
  for (const s of m.spaces) {
    if (alive.has(s)) continue;
    let pages = 0;
    let slots = 0;
    for (let i = 0; i < s.nrPages; i++) {
      if (s.pages[i]! >= 0) pages++;
      if (s.swap[i]! >= 0) slots++;
    }
    if (pages > 0 || slots > 0) {
      p.add(
        "dead-space",
        `space ${s.id} (${s.name}, ${s.kind}) is mapped by no one and is not a file, yet holds ${pages} pages and ${slots} swap slots (the kernel frees them with the object)`,
      );
    }
  }
  const sw = m.swap;
  if (sw !== null) {
    for (let slot = 0; slot < sw.nrSlots; slot++) {
      if (!sw.inUse(slot)) continue;
      if (heldSlots.has(slot)) {
        const c = sw.cached(slot);
        if (c >= 0) held.add(phys.folioHead(c));
        continue;
      }
      p.add(
        "swap-leak",
        `swap slot ${slot} is in use (count ${sw.count[slot]}, cache ${sw.cached(slot)}) but no living object refers to it`,
      );
    }
  }
  const poolFree = new Set<number>();
  for (const pool of m.hugetlb.values()) for (const h of pool.free) poolFree.add(h);
  const hz = phys.hugeZeroPfn;
  const flags = phys.flags;
  for (let pfn = RAM_BASE_PFN; pfn < phys.maxPfn; ) {
    const f = flags[pfn]!;
    if ((f & PG.ALLOCATED) === 0 || (f & PG.TAIL) !== 0) {
      pfn++;
      continue;
    }
    const nr = 2 ** phys.order[pfn]!;
    const head = pfn;
    pfn += nr;
    if (head === phys.zeroPfn || head === hz) continue;
    if (held.has(head)) continue;
    if (f & PG.HUGETLB && poolFree.has(head)) continue;
    if (f & PG.HWPOISON) continue; // memory_failure() never frees a poisoned page
    p.add(
      "frame-leak",
      `folio ${hex(head)} (order ${phys.order[head]}, flags ${flagNames(f)}, mapping ${phys.mapping[head]}) is still allocated`,
    );
  }
  return p.finish();
}
