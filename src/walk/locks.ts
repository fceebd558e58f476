import type { RwLock } from "../mm/locks.js";
import type { AddressSpace } from "../mm/pagecache.js";
import type { Vma } from "../mm/vma.js";

/**
 * hugetlb_vma_lock_read() and friends operate on this lock: the VMA's
 * hugetlb_vma_lock for a shareable VMA, the reservation map's semaphore
 * for a private one (kernel-api.md §1.7). The kernel's lock is per VMA, as
 * is this one.
 *
 * Return: the lock object.
 */
export function hugetlbVmaLock(vma: Vma): RwLock {
  return vma.hugetlbLock;
}

/**
 * The i_mmap_rwsem of an address space (i_mmap_lock_read/write()), asserted
 * by walk_page_mapping().
 *
 * Return: the lock object.
 */
export function iMmapLock(space: AddressSpace): RwLock {
  return space.iMmap;
}
