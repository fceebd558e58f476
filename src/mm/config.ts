/**
 * Build and run-time configuration of the simulated kernel: the THP sysfs
 * knobs, which optional features are compiled in (they decide the softleaf
 * type numbers, include/linux/swap.h) and the machine's size.
 */
export type ThpMode = "always" | "madvise" | "never";

export interface KernelConfig {
  thp: ThpMode;
  /** Enabled anonymous THP orders (in pages: 9 = 2 MiB on x86_64). */
  thpOrders: readonly number[];
  softDirty: boolean;
  swap: boolean;
  /** CONFIG_MEMORY_FAILURE and CONFIG_DEVICE_PRIVATE: both off on the reference. */
  memoryFailure: boolean;
  devicePrivate: boolean;
  nodes: number;
  nodeMem: number;
  deviceMem: number;
  hugetlbPages: Readonly<Record<string, number>>;
  /** fault_around_bytes / PAGE_SIZE. */
  faultAroundPages: number;
  /**
   * How a none hugetlb entry is write-protected for userfaultfd: with a PTE
   * marker as 6.18 does, or marker-free (the protection recorded beside the
   * page tables; the hugetlb unification RFC's open item). Both give the
   * same observable results.
   */
  hugetlbUffdWp: "markers" | "marker-free";
}

/** Softleaf type numbers of a configuration (MAX_SWAPFILES and the special types above it). */
export interface SwapTypes {
  maxSwapfiles: number;
  hwpoison: number; // -1 when not configured
  migrationRead: number;
  migrationReadExclusive: number;
  migrationWrite: number;
  deviceWrite: number; // -1 when not configured
  deviceRead: number;
  deviceExclusive: number;
  marker: number;
}

/** The type numbering rule of include/linux/swap.h (kernel-api.md §4.2). */
export function swapTypes(cfg: Pick<KernelConfig, "memoryFailure" | "devicePrivate">): SwapTypes {
  const dev = cfg.devicePrivate ? 3 : 0;
  const hwp = cfg.memoryFailure ? 1 : 0;
  const mig = 3;
  const max = 32 - dev - mig - hwp - 1;
  return {
    maxSwapfiles: max,
    hwpoison: hwp ? max : -1,
    migrationRead: max + hwp,
    migrationReadExclusive: max + hwp + 1,
    migrationWrite: max + hwp + 2,
    deviceWrite: dev ? max + hwp + mig : -1,
    deviceRead: dev ? max + hwp + mig + 1 : -1,
    deviceExclusive: dev ? max + hwp + mig + 2 : -1,
    marker: 31,
  };
}

/** PTE marker bits (the marker's "offset"). */
export const PteMarker = { UFFD_WP: 1, POISONED: 2, GUARD: 4 } as const;
