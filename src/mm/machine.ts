import type { ArchCodec } from "../arch/types.js";
import { type KernelConfig, type SwapTypes, swapTypes } from "./config.js";
import type { MmStruct } from "./mm.js";
import { AddressSpace, type SpaceKind } from "./pagecache.js";
import { PG } from "./pageflags.js";
import type { PageTable } from "./pgtable.js";
import { PhysMem } from "./phys.js";
import { SwapDevice } from "./swap.js";

/** The hugetlb pool of one huge page size (struct hstate). */
export interface HugetlbPool {
  readonly name: string;
  readonly bytes: number;
  readonly order: number;
  /** Free huge folios (head PFNs), used LIFO. */
  readonly free: number[];
  readonly total: number;
}

/**
 * The simulated machine: physical memory, the swap device, the page caches,
 * the hugetlb pools and every process's mm. It only holds state; the
 * operations that change it live in src/ops.
 */
export class Machine {
  readonly phys: PhysMem;
  readonly swap: SwapDevice | null;
  readonly swapTypes: SwapTypes;
  /** Every page-table page of every mm, by PFN. */
  readonly tables = new Map<number, PageTable>();
  readonly files = new Map<string, AddressSpace>();
  readonly spaces: AddressSpace[] = [];
  readonly procs = new Map<string, MmStruct>();
  readonly hugetlb = new Map<string, HugetlbPool>();
  /** KSM's stable tree: content token → KSM pages with that content (ksm.c). */
  readonly ksmStable = new Map<number, number[]>();
  /** Swap-cache pages read ahead and not hit yet (PG_readahead). */
  readonly swapReadahead = new Set<number>();
  /** Folios whose migration has begun (the model-only `migrate` phase `begin`): head → target node. */
  readonly migrations = new Map<number, number>();
  private nextId = 1;

  constructor(
    readonly arch: ArchCodec,
    readonly config: KernelConfig,
  ) {
    const geo = arch.geometry;
    const maxOrder = geo.pudShift - geo.pageShift;
    const nodeMem = Array.from({ length: config.nodes }, () => config.nodeMem);
    this.phys = new PhysMem(nodeMem, geo.pageShift, maxOrder);
    this.swapTypes = swapTypes(config);
    this.swap = config.swap ? new SwapDevice(0, 2 ** 21) : null;
    // The zero page and the huge zero folio.
    this.phys.zeroPfn = this.phys.allocFolio(0, 0, PG.ZERO | PG.RESERVED);
    const hzOrder = geo.pmdShift - geo.pageShift;
    const hz = this.phys.allocFolio(hzOrder, 0, PG.ZERO | PG.LARGE_RMAPPABLE);
    this.phys.hugeZeroPfn = hz;
    for (let i = 1; i < 2 ** hzOrder; i++) this.phys.flags[hz + i]! |= PG.ZERO;
    // Hugetlb pools, largest size first so big blocks are found.
    const sizes = [...geo.hugetlbSizes].sort((a, b) => b.bytes - a.bytes);
    for (const hs of sizes) {
      const n = config.hugetlbPages[hs.name] ?? 0;
      const order = Math.log2(hs.bytes / geo.pageSize);
      const free: number[] = [];
      for (let i = 0; i < n; i++) {
        const pfn = this.phys.allocFolio(order, 0, PG.HUGETLB);
        free.push(pfn);
      }
      free.reverse();
      this.hugetlb.set(hs.name, { name: hs.name, bytes: hs.bytes, order, free, total: n });
    }
  }

  /** A fresh id for an mm, anon_vma, address space or userfaultfd. */
  newId(): number {
    return this.nextId++;
  }

  newSpace(name: string, kind: SpaceKind, nrPages: number): AddressSpace {
    const s = new AddressSpace(this.newId(), name, kind, nrPages);
    this.spaces.push(s);
    return s;
  }

  /** Pages taken out of the buddy allocator at boot (zero pages, pools). */
  bootReservedPages(): number {
    let n = 1 + 2 ** (this.arch.geometry.pmdShift - this.arch.geometry.pageShift);
    for (const p of this.hugetlb.values()) n += p.total * 2 ** p.order;
    return n;
  }
}
