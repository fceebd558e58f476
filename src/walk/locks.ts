import { RwLock } from "../mm/locks.js";
import type { AddressSpace } from "../mm/pagecache.js";
import type { Vma } from "../mm/vma.js";

/*
 * Locks the walkers need that src/mm does not (yet) carry as fields: the
 * hugetlb VMA lock and a mapping's i_mmap_rwsem. They are kept beside the
 * objects they protect (a WeakMap, so no field is added to Vma or
 * AddressSpace) until src/mm grows them.
 */

const hugetlbLocks = new WeakMap<object, RwLock>();
const iMmapLocks = new WeakMap<AddressSpace, RwLock>();

/**
 * hugetlb_vma_lock_read() and friends operate on this lock: the VMA's
 * hugetlb_vma_lock for a shareable VMA, the reservation map's semaphore
 * for a private one (kernel-api.md §1.7). Shareable VMAs of one hugetlbfs
 * file share nothing here: the kernel's lock is per VMA, as is this one.
 *
 * Return: the lock object (created on first use).
 */
export function hugetlbVmaLock(vma: Vma): RwLock {
  let l = hugetlbLocks.get(vma);
  if (l === undefined) {
    l = new RwLock(`hugetlb_vma_lock@${vma.start.toString(16)}`);
    hugetlbLocks.set(vma, l);
  }
  return l;
}

/**
 * The i_mmap_rwsem of an address space (i_mmap_lock_read/write()), asserted
 * by walk_page_mapping().
 *
 * Return: the lock object (created on first use).
 */
export function iMmapLock(space: AddressSpace): RwLock {
  let l = iMmapLocks.get(space);
  if (l === undefined) {
    l = new RwLock(`i_mmap_rwsem(${space.name})`);
    iMmapLocks.set(space, l);
  }
  return l;
}
