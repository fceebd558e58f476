/**
 * struct page / struct folio flags of the model, one bit each in a Uint32Array
 * indexed by PFN. Names follow include/linux/page-flags.h. Flags that the
 * kernel keeps on the folio are kept on the folio's head page; tail pages
 * carry only the per-page ones (PG.ANON_EXCLUSIVE lives on every page, as
 * PageAnonExclusive does).
 */
export const PG = {
  LOCKED: 1 << 0,
  REFERENCED: 1 << 1,
  UPTODATE: 1 << 2,
  DIRTY: 1 << 3,
  LRU: 1 << 4,
  ACTIVE: 1 << 5,
  SWAPBACKED: 1 << 6,
  /** PG_swapcache (PG_owner_priv_1 on a swap-backed folio). */
  SWAPCACHE: 1 << 7,
  MLOCKED: 1 << 8,
  UNEVICTABLE: 1 << 9,
  /** PageAnonExclusive (PG_owner_2 / PG_mappedtodisk on file folios). Per page. */
  ANON_EXCLUSIVE: 1 << 10,
  /** PG_mappedtodisk: the OWNER_2 bit of a file folio read from disk. */
  MAPPEDTODISK: 1 << 11,
  /** PG_private: buffer heads attached (ext4 page cache). */
  PRIVATE: 1 << 12,
  /** Folio is anonymous (folio->mapping has PAGE_MAPPING_ANON). */
  ANON: 1 << 13,
  /** Anonymous KSM folio (PAGE_MAPPING_KSM). */
  KSM: 1 << 14,
  /** Large folio head (PG_head). */
  HEAD: 1 << 15,
  /** Tail page of a large folio. */
  TAIL: 1 << 16,
  /** Hugetlb folio. */
  HUGETLB: 1 << 17,
  HWPOISON: 1 << 18,
  RESERVED: 1 << 19,
  /** Page type: page table. */
  PGTABLE: 1 << 20,
  /** Page type: first page of a free buddy block. */
  BUDDY: 1 << 21,
  /** The shared zero page or a page of the huge zero folio. */
  ZERO: 1 << 22,
  /** Allocated (not free): model bookkeeping. */
  ALLOCATED: 1 << 23,
  /** Folio lives in a page cache (file or shmem). */
  PAGECACHE: 1 << 24,
  /** Device-private (ZONE_DEVICE) page. */
  DEVICE: 1 << 25,
  /** PG_owner_priv_1 on a non-swapbacked folio (e.g. PG_checked): unused but kept for kpageflags. */
  OWNER_PRIVATE: 1 << 26,
  /** Large folio is "large-rmappable" (THP / mTHP / large page cache). */
  LARGE_RMAPPABLE: 1 << 27,
} as const;

/** Flags copied from the head page to every page when a folio is split. */
export const PG_FOLIO_MASK =
  PG.LOCKED |
  PG.REFERENCED |
  PG.UPTODATE |
  PG.DIRTY |
  PG.LRU |
  PG.ACTIVE |
  PG.SWAPBACKED |
  PG.SWAPCACHE |
  PG.MLOCKED |
  PG.UNEVICTABLE |
  PG.MAPPEDTODISK |
  PG.PRIVATE |
  PG.ANON |
  PG.KSM |
  PG.HUGETLB |
  PG.PAGECACHE |
  PG.DEVICE |
  PG.OWNER_PRIVATE;
