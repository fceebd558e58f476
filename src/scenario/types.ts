/**
 * The parsed, normalised form of a scenario file (`shared/spec/scenario.md`,
 * `shared/spec/scenario-model.md`). Field names are camelCase; sizes, offsets
 * and addresses are numbers of bytes; every default is filled in, except the
 * few that depend on simulation state (a range's `len`, an mremap's `newLen`).
 */

/** The only format string this parser accepts. */
export const SCENARIO_FORMAT = "pagewalk-scenario/1";

/** The keys of a scenario's top-level object. */
export const SCENARIO_KEYS = ["format", "name", "description", "arch", "setup", "steps"] as const;

/** The keys `setup` may hold (scenario.md and scenario-model.md). */
export const SETUP_KEYS = [
  "thp",
  "swap",
  "thp_sizes",
  "nodes",
  "node_mem",
  "soft_dirty",
  "device_mem",
  "memory",
  "hugetlb_pages",
] as const;

/** Architecture names a scenario may give in `arch`. */
export const ARCH_NAMES = [
  "x86_64",
  "x86_64-la57",
  "arm64-4k",
  "arm64-16k",
  "arm64-64k",
  "riscv64-sv39",
  "riscv64-sv48",
  "riscv64-sv57",
  "ppc64-radix",
  "s390x",
  "loongarch64",
] as const;
export type ArchName = (typeof ARCH_NAMES)[number];

export type ThpMode = "always" | "madvise" | "never";
export const THP_MODES: readonly ThpMode[] = ["always", "madvise", "never"];

/** `setup`, every default filled in. */
export interface Setup {
  thp: ThpMode;
  /** Whether a swap device exists (default true, as on the reference machine). */
  swap: boolean;
  /** Enabled anonymous THP sizes in bytes, ascending (default: PMD size only). */
  thpSizes: number[];
  /** NUMA nodes (default 1). */
  nodes: number;
  /** Bytes per node when `nodes` > 1 (default 4 GiB). */
  nodeMem: number;
  softDirty: boolean;
  /** Bytes of device-private memory (default 0). */
  deviceMem: number;
  /** System RAM in bytes when `nodes` is 1 (default 8 GiB). */
  memory: number;
  /** Hugetlb pool per size name ("2M") of the architecture; every offered size is present. */
  hugetlbPages: Record<string, number>;
}

/** Errno names `expect_error` may give. */
export const ERRNO_NAMES = [
  "EINVAL",
  "ENOMEM",
  "EFAULT",
  "EEXIST",
  "EPERM",
  "EAGAIN",
  "EBUSY",
  "ENOENT",
  "ENOTTY",
  "EOPNOTSUPP",
  "ENOTSUP",
  "ESRCH",
  "EACCES",
  "ENOSPC",
  "E2BIG",
  "EBADF",
  "ENXIO",
  "EIO",
] as const;
/** An errno name as written; the parser normalises `ENOTSUP` to `EOPNOTSUPP` (same value on Linux). */
export type ErrnoName = (typeof ERRNO_NAMES)[number];

/** Every op a step may name, in the order of the spec tables. */
export const STEP_OPS = [
  "mmap",
  "munmap",
  "mprotect",
  "touch",
  "madvise",
  "mlock",
  "mremap",
  "munlock",
  "fork",
  "exit",
  "uffd_register",
  "uffd_wp",
  "clear_refs",
  "pagemap_scan",
  "ksm_merge",
  "observe",
  "mbind",
  "set_mempolicy",
  "migrate",
  "hwpoison",
  "device_private",
  "device_exclusive",
  "split_thp",
  "khugepaged",
] as const;
export type StepOp = (typeof STEP_OPS)[number];

/** Ops whose target is a range (`region`, `off`, `len`) of an existing region. */
export const RANGE_OPS = [
  "munmap",
  "mprotect",
  "touch",
  "madvise",
  "mlock",
  "mremap",
  "munlock",
  "uffd_register",
  "uffd_wp",
  "pagemap_scan",
  "mbind",
  "migrate",
  "hwpoison",
  "device_private",
  "device_exclusive",
  "split_thp",
] as const satisfies readonly StepOp[];
export type RangeOp = (typeof RANGE_OPS)[number];

const RANGE = ["region", "off", "len"] as const;

/**
 * The JSON keys each op accepts besides `op` and `expect_error` (snake_case,
 * as written). `proc` is listed where the op acts on one process.
 */
export const OP_FIELDS: Readonly<Record<StepOp, readonly string[]>> = {
  mmap: ["proc", "region", "addr", "len", "prot", "share", "backing", "populate"],
  munmap: ["proc", ...RANGE],
  mprotect: ["proc", ...RANGE, "prot"],
  touch: ["proc", ...RANGE, "access", "fill"],
  madvise: ["proc", ...RANGE, "advice"],
  mlock: ["proc", ...RANGE, "onfault"],
  mremap: ["proc", ...RANGE, "new_len", "flags", "new_addr"],
  munlock: ["proc", ...RANGE],
  fork: ["proc", "child"],
  exit: ["proc"],
  uffd_register: ["proc", ...RANGE, "mode", "async_wp"],
  uffd_wp: ["proc", ...RANGE, "enable"],
  clear_refs: ["proc", "value"],
  pagemap_scan: [
    "proc",
    ...RANGE,
    "flags",
    "category_mask",
    "category_inverted",
    "category_anyof_mask",
    "return_mask",
    "max_pages",
    "vec_len",
    "raw",
  ],
  ksm_merge: [],
  observe: ["label", "what", "procs"],
  mbind: ["proc", ...RANGE, "policy", "nodes", "flags"],
  set_mempolicy: ["proc", "policy", "nodes"],
  migrate: ["proc", ...RANGE, "to_node", "phase", "undo"],
  hwpoison: ["proc", ...RANGE],
  device_private: ["proc", ...RANGE],
  device_exclusive: ["proc", ...RANGE],
  split_thp: ["proc", ...RANGE, "to_order"],
  khugepaged: ["proc"],
};

export const PROT_NAMES = ["r", "rw", "rx", "rwx", "none"] as const;
export type ProtName = (typeof PROT_NAMES)[number];
/** A protection, normalised from its name. */
export interface Prot {
  read: boolean;
  write: boolean;
  exec: boolean;
}

export type Share = "private" | "shared";
export type FileFs = "tmpfs" | "disk";

export interface AnonBacking {
  kind: "anon";
}
export interface FileBacking {
  kind: "file";
  /** The file's name; mappings naming the same file share it. */
  file: string;
  /** File size in bytes. */
  size: number;
  fs: FileFs;
  /** Offset of the mapping in the file, bytes (from `off_in_file`, default 0). */
  offInFile: number;
}
export interface HugetlbBacking {
  kind: "hugetlb";
  /** Huge page size in bytes. */
  size: number;
  /** The architecture's name of that size ("2M"). */
  sizeName: string;
}
export type Backing = AnonBacking | FileBacking | HugetlbBacking;

export const MADVISE_ADVICE = [
  "hugepage",
  "nohugepage",
  "pageout",
  "cold",
  "dontneed",
  "free",
  "willneed",
  "populate_read",
  "populate_write",
  "collapse",
  "guard_install",
  "guard_remove",
  "mergeable",
  "unmergeable",
  "dontfork",
  "dofork",
  "wipeonfork",
  "keeponfork",
] as const;
export type MadviseAdvice = (typeof MADVISE_ADVICE)[number];

export const MREMAP_FLAGS = ["maymove", "fixed", "dontunmap"] as const;
export type MremapFlag = (typeof MREMAP_FLAGS)[number];

export const UFFD_MODES = ["wp", "missing", "minor"] as const;
export type UffdMode = (typeof UFFD_MODES)[number];

export const OBSERVE_WHAT = [
  "smaps",
  "pagemap",
  "kpageflags",
  "numa_maps",
  "smaps_rollup",
  "mincore",
] as const;
export type ObserveWhat = (typeof OBSERVE_WHAT)[number];
/** What `observe` records when `what` is omitted. */
export const DEFAULT_OBSERVE_WHAT: readonly ObserveWhat[] = [
  "smaps",
  "pagemap",
  "kpageflags",
  "numa_maps",
];

/** PAGEMAP_SCAN flag names and their bits (PM_SCAN_WP_MATCHING, PM_SCAN_CHECK_WPASYNC). */
export const PAGEMAP_SCAN_FLAGS: Readonly<Record<string, number>> = {
  wp_matching: 1,
  check_wpasync: 2,
};
/** PAGEMAP_SCAN category names and their bits (PAGE_IS_*). */
export const PAGEMAP_SCAN_CATEGORIES: Readonly<Record<string, number>> = {
  wpallowed: 1 << 0,
  written: 1 << 1,
  file: 1 << 2,
  present: 1 << 3,
  swapped: 1 << 4,
  pfnzero: 1 << 5,
  huge: 1 << 6,
  soft_dirty: 1 << 7,
  guard: 1 << 8,
};
/** Every category bit: the default `return_mask`. */
export const PAGEMAP_SCAN_ALL_CATEGORIES = 0x1ff;

export const MEMPOLICY_MODES = [
  "default",
  "bind",
  "preferred",
  "interleave",
  "local",
  "weighted_interleave",
] as const;
export type MempolicyMode = (typeof MEMPOLICY_MODES)[number];

export const MBIND_FLAGS = ["strict", "move", "move_all"] as const;
export type MbindFlag = (typeof MBIND_FLAGS)[number];

export const MIGRATE_PHASES = ["all", "begin", "end"] as const;
export type MigratePhase = (typeof MIGRATE_PHASES)[number];

/** Fields every step carries. */
export interface StepBase {
  /** Position in `steps`, from 0. */
  index: number;
  /** The process the step acts in (default "p0"; a placeholder "p0" for global steps). */
  proc: string;
  /** The errno the kernel must refuse the step with (from `expect_error`). */
  expectError?: string;
}

/** A range of a region: `len` undefined means to the region's current end. */
export interface RangeFields {
  region: string;
  off: number;
  len?: number;
}

export interface MmapStep extends StepBase {
  op: "mmap";
  region: string;
  addr: number;
  len: number;
  prot: Prot;
  share: Share;
  backing: Backing;
  populate: boolean;
}
export interface MunmapStep extends StepBase, RangeFields {
  op: "munmap";
}
export interface MprotectStep extends StepBase, RangeFields {
  op: "mprotect";
  prot: Prot;
}
export interface TouchStep extends StepBase, RangeFields {
  op: "touch";
  access: "read" | "write";
  /** Byte written over each whole page; undefined: a unique 8-byte value. */
  fill?: number;
}
export interface MadviseStep extends StepBase, RangeFields {
  op: "madvise";
  advice: MadviseAdvice;
}
export interface MlockStep extends StepBase, RangeFields {
  op: "mlock";
  onfault: boolean;
}
export interface MunlockStep extends StepBase, RangeFields {
  op: "munlock";
}
export interface MremapStep extends StepBase, RangeFields {
  op: "mremap";
  /** Undefined: the range's length. */
  newLen?: number;
  flags: MremapFlag[];
  /** With `fixed`: the destination; with `dontunmap`: a hint. */
  newAddr?: number;
}
export interface ForkStep extends StepBase {
  op: "fork";
  child: string;
}
export interface ExitStep extends StepBase {
  op: "exit";
}
export interface UffdRegisterStep extends StepBase, RangeFields {
  op: "uffd_register";
  mode: UffdMode[];
  asyncWp: boolean;
}
export interface UffdWpStep extends StepBase, RangeFields {
  op: "uffd_wp";
  enable: boolean;
}
export interface ClearRefsStep extends StepBase {
  op: "clear_refs";
  value: 1 | 2 | 3 | 4 | 5;
}
/** `raw` overrides of PAGEMAP_SCAN arguments (for refusals). */
export interface PagemapScanRaw {
  /** Replaces the struct size (96). */
  size?: number;
  /** Added to the range's start, bytes (may be negative or unaligned). */
  startOffset?: number;
  /** Added to the range's end, bytes (may be negative or unaligned). */
  endOffset?: number;
  /** Replaces the end address. */
  end?: number;
  /** 0: pass a NULL vector. */
  vec?: 0;
}
export interface PagemapScanStep extends StepBase, RangeFields {
  op: "pagemap_scan";
  flags: number;
  categoryMask: number;
  categoryInverted: number;
  categoryAnyofMask: number;
  returnMask: number;
  maxPages: number;
  /** Undefined: one slot per page of the range. */
  vecLen?: number;
  raw?: PagemapScanRaw;
}
export interface KsmMergeStep extends StepBase {
  op: "ksm_merge";
}
export interface ObserveStep extends StepBase {
  op: "observe";
  label: string;
  what: ObserveWhat[];
  /** Undefined: every live process. */
  procs?: string[];
}
export interface MbindStep extends StepBase, RangeFields {
  op: "mbind";
  policy: MempolicyMode;
  nodes: number[];
  flags: MbindFlag[];
}
export interface SetMempolicyStep extends StepBase {
  op: "set_mempolicy";
  policy: MempolicyMode;
  nodes: number[];
}
export interface MigrateStep extends StepBase, RangeFields {
  op: "migrate";
  toNode: number;
  phase: MigratePhase;
  undo: boolean;
}
export interface HwpoisonStep extends StepBase, RangeFields {
  op: "hwpoison";
}
export interface DevicePrivateStep extends StepBase, RangeFields {
  op: "device_private";
}
export interface DeviceExclusiveStep extends StepBase, RangeFields {
  op: "device_exclusive";
}
export interface SplitThpStep extends StepBase, RangeFields {
  op: "split_thp";
  toOrder?: number;
}
export interface KhugepagedStep extends StepBase {
  op: "khugepaged";
  /** True when `proc` was omitted: the pass covers every live process. */
  allProcs: boolean;
}

export type Step =
  | MmapStep
  | MunmapStep
  | MprotectStep
  | TouchStep
  | MadviseStep
  | MlockStep
  | MremapStep
  | MunlockStep
  | ForkStep
  | ExitStep
  | UffdRegisterStep
  | UffdWpStep
  | ClearRefsStep
  | PagemapScanStep
  | KsmMergeStep
  | ObserveStep
  | MbindStep
  | SetMempolicyStep
  | MigrateStep
  | HwpoisonStep
  | DevicePrivateStep
  | DeviceExclusiveStep
  | SplitThpStep
  | KhugepagedStep;

/** A step acting on a range of a region. */
export type RangeStep = Extract<Step, { op: RangeOp }>;

/** A whole scenario, normalised. */
export interface Scenario {
  format: typeof SCENARIO_FORMAT;
  name: string;
  description: string;
  arch: string;
  setup: Setup;
  steps: Step[];
}
