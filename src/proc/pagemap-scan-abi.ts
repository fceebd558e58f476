import { KernelError } from "../scenario/errors.js";
import type { WalkerGeneration } from "../scenario/run.js";
import type { WalkFlavour } from "../walk/types.js";
import type { HugetlbWpDesign } from "./pagemap-scan-wp.js";

/** PAGE_IS_* category bits (uapi linux/fs.h). */
export const PAGE_IS = {
  WPALLOWED: 1 << 0,
  WRITTEN: 1 << 1,
  FILE: 1 << 2,
  PRESENT: 1 << 3,
  SWAPPED: 1 << 4,
  PFNZERO: 1 << 5,
  HUGE: 1 << 6,
  SOFT_DIRTY: 1 << 7,
  GUARD: 1 << 8,
} as const;

/** Category names in bit order (observation.md, `scans`). */
export const PAGE_IS_NAMES: readonly string[] = [
  "wpallowed",
  "written",
  "file",
  "present",
  "swapped",
  "pfnzero",
  "huge",
  "soft_dirty",
  "guard",
];

/** PM_SCAN_CATEGORIES: every valid category bit. */
export const PM_SCAN_CATEGORIES = 0x1ff;
export const PM_SCAN_WP_MATCHING = 1;
export const PM_SCAN_CHECK_WPASYNC = 2;
/** PM_SCAN_FLAGS: every valid flag bit. */
export const PM_SCAN_FLAGS = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
/** sizeof(struct pm_scan_arg). */
export const PM_SCAN_ARG_SIZE = 96;
/** sizeof(struct page_region). */
export const PAGE_REGION_SIZE = 24;
/** PAGEMAP_WALK_SIZE >> PAGE_SHIFT: the most slots the bounce buffer holds. */
export const PM_SCAN_BOUNCE_SLOTS = 512;

/** Errno values used inside a walk (returned negated). */
export const EPERM = 1;
export const ENOSPC = 28;

/**
 * struct pm_scan_arg as the caller passes it (walk_end is output only).
 * Addresses may be bigint to express any u64 (a refused argument); valid
 * ones are below TASK_SIZE and fit a number.
 */
export interface PmScanArg {
  /** Struct size; must be {@link PM_SCAN_ARG_SIZE}. */
  size: number;
  flags: number;
  start: number | bigint;
  end: number | bigint;
  /** User address of the page_region vector; 0 = NULL. */
  vec: number | bigint;
  vecLen: number;
  /** 0 = no limit. */
  maxPages: number;
  categoryInverted: number;
  categoryMask: number;
  categoryAnyofMask: number;
  returnMask: number;
}

/** struct page_region. */
export interface PageRegion {
  start: number;
  end: number;
  categories: number;
}

/** What the ioctl returns: its value, the walk_end written back, the regions copied out. */
export interface PmScanResult {
  ret: number;
  walkEnd: number;
  /** The `ret` regions copied to the user vector, in order. */
  regions: PageRegion[];
}

export interface PmScanOptions {
  /**
   * Walker generation (a callback flavour is accepted as the generation of
   * that name): the mainline or unified callback walker, or pt_range_walk.
   */
  walker?: WalkerGeneration | WalkFlavour;
  /** How none hugetlb entries are write-protected; default "markers" (6.18). */
  hugetlbWp?: HugetlbWpDesign;
  /** Step index passed to the ops a write-protect calls (uffd event records). */
  step?: number;
}

/** The arguments after pagemap_scan_get_args(): validated and fixed up. */
export interface PmScanArgs {
  flags: number;
  start: number;
  /** Rounded up to a page. */
  end: number;
  /** Whether a vector was passed (vec != NULL). */
  hasVec: boolean;
  vecLen: number;
  /** Infinity for "no limit" (ULONG_MAX). */
  maxPages: number;
  categoryInverted: number;
  categoryMask: number;
  categoryAnyofMask: number;
  returnMask: number;
}

const U64 = (x: number | bigint): bigint => BigInt.asUintN(64, BigInt(x));

/** Whether an integer argument lies in [0, max] (u64 semantics: negatives wrap high). */
function inRange(x: number, max: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= max;
}

/**
 * pagemap_scan_get_args(): validate in the kernel's order and fix up.
 * @userMax: the highest valid user address (x86_64: TASK_SIZE_MAX).
 *
 * Return: the fixed-up arguments. Throws KernelError EINVAL or EFAULT.
 */
export function pagemapScanGetArgs(arg: PmScanArg, pageSize: number, userMax: number): PmScanArgs {
  if (arg.size !== PM_SCAN_ARG_SIZE) throw new KernelError("EINVAL", "struct size");
  if (!inRange(arg.flags, PM_SCAN_FLAGS)) throw new KernelError("EINVAL", "unknown flags");
  for (const mask of [
    arg.categoryInverted,
    arg.categoryMask,
    arg.categoryAnyofMask,
    arg.returnMask,
  ]) {
    if (!inRange(mask, PM_SCAN_CATEGORIES))
      throw new KernelError("EINVAL", "unknown category bits");
  }
  const start = U64(arg.start);
  const end = U64(arg.end);
  const vec = U64(arg.vec);
  const ps = BigInt(pageSize);
  const max = BigInt(userMax);
  if (start % ps !== 0n) throw new KernelError("EINVAL", "start not page aligned");
  // access_ok(start, end - start): the u64 sum must not wrap and must stay <= USER_PTR_MAX.
  const len = BigInt.asUintN(64, end - start);
  const sum = BigInt.asUintN(64, start + len);
  if (sum > max || sum < start) throw new KernelError("EFAULT", "range is not user memory");
  if (vec === 0n && arg.vecLen !== 0) throw new KernelError("EINVAL", "NULL vector with a length");
  if (vec !== 0n) {
    // size_mul() saturates; access_ok(vec, vec_len * 24).
    const vsize = BigInt(arg.vecLen) * BigInt(PAGE_REGION_SIZE);
    const vsum = vec + vsize;
    if (vsize >= 2n ** 64n || vsum >= 2n ** 64n || vsum > max)
      throw new KernelError("EFAULT", "vector is not user memory");
  }
  const endUp = ((end + ps - 1n) / ps) * ps;
  return {
    flags: arg.flags,
    start: Number(start),
    end: Number(endUp),
    hasVec: vec !== 0n,
    vecLen: arg.vecLen,
    maxPages: arg.maxPages === 0 ? Number.POSITIVE_INFINITY : arg.maxPages,
    categoryInverted: arg.categoryInverted,
    categoryMask: arg.categoryMask,
    categoryAnyofMask: arg.categoryAnyofMask,
    returnMask: arg.returnMask,
  };
}

// ---------------------------------------------------------------------------
// the bounce buffer and output (walker independent)

/**
 * The kernel bounce buffer of min(512, vec_len) page_region slots, the
 * found-page count and walk_end (pagemap_scan_private's output half). With
 * vec_len 0 there is no buffer (`present` false): nothing is recorded, but
 * walk_end can still be set (the hugetlb back-out).
 */
export class ScanBuffer {
  /** vec_buf != NULL. */
  readonly present: boolean;
  readonly starts: number[];
  readonly ends: number[];
  readonly cats: number[];
  /** vec_buf_len: usable slots (shrinks as the user vector fills). */
  len: number;
  /** vec_buf_index: the current (last) slot. */
  index = 0;
  /** found_pages. */
  found = 0;
  /** The end of the run the last scanOutput() recorded (its `end`, possibly cut). */
  cut = 0;
  /** p->arg.walk_end; 0 = never set. */
  walkEnd = 0;
  /** Remaining user vector length (p->arg.vec_len). */
  vecLen: number;
  /** Everything copied out to the user vector so far. */
  readonly copied: PageRegion[] = [];

  constructor(
    vecLen: number,
    readonly maxPages: number,
    readonly returnMask: number,
    readonly pageSize: number,
  ) {
    this.vecLen = vecLen;
    this.present = vecLen !== 0;
    this.len = Math.min(PM_SCAN_BOUNCE_SLOTS, vecLen);
    this.starts = new Array<number>(this.len).fill(0);
    this.ends = new Array<number>(this.len).fill(0);
    // kmalloc'd: the first slot's categories are garbage; -1 never equals a real value.
    this.cats = new Array<number>(this.len).fill(-1);
  }

  /** pagemap_scan_push_range(). */
  push(categories: number, addr: number, end: number): boolean {
    let k = this.index;
    if (addr === this.ends[k] && categories === this.cats[k]) {
      this.ends[k] = end;
      return true;
    }
    if (this.ends[k] !== 0) {
      if (k >= this.len - 1) return false;
      k = ++this.index;
    }
    this.starts[k] = addr;
    this.ends[k] = end;
    this.cats[k] = categories;
    return true;
  }

  /** pagemap_scan_backout_range(): undo the output of the run [addr, end). */
  backout(addr: number, end: number): void {
    if (!this.present) return;
    const k = this.index;
    if (this.starts[k] !== addr) this.ends[k] = addr;
    else this.starts[k] = this.ends[k] = 0;
    this.found -= (end - addr) / this.pageSize;
  }

  /**
   * pagemap_scan_flush_buffer(): copy the filled slots (the current one
   * only if non-empty) to the user vector and reset.
   *
   * Return: the number of regions copied.
   */
  flush(): number {
    if (!this.present) return 0;
    let n = this.index;
    if (this.ends[n] !== this.starts[n]) n++;
    if (n === 0) return 0;
    for (let k = 0; k < n; k++) {
      this.copied.push({ start: this.starts[k]!, end: this.ends[k]!, categories: this.cats[k]! });
    }
    this.vecLen -= n;
    this.index = 0;
    this.len = Math.min(this.len, this.vecLen);
    this.starts[0] = this.ends[0] = 0;
    return n;
  }
}

/**
 * pagemap_scan_output(): report the matching run [addr, end) with
 * `categories` (masked by return_mask): cut by max_pages, pushed into the
 * buffer. Without a buffer nothing is recorded.
 *
 * Return: [ret, end]: ret 0 or -ENOSPC (walk_end then set), end the run's
 * possibly cut end (addr when nothing was taken).
 */
export function scanOutput(buf: ScanBuffer, categories: number, addr: number, end: number): number {
  if (!buf.present) {
    buf.cut = end;
    return 0;
  }
  const cats = categories & buf.returnMask;
  const ps = buf.pageSize;
  let n = (end - addr) / ps;
  let ret = 0;
  const total = buf.found + n;
  if (total > buf.maxPages) {
    const tooMuch = total - buf.maxPages;
    end -= tooMuch * ps;
    n -= tooMuch;
    ret = -ENOSPC;
  }
  if (!buf.push(cats, addr, end)) {
    end = addr;
    n = 0;
    ret = -ENOSPC;
  }
  buf.found += n;
  if (ret) buf.walkEnd = end;
  buf.cut = end;
  return ret;
}
