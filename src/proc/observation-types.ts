/**
 * The observation document (shared/spec/observation.md), as produced by a
 * run of a scenario. Field names are the document's own.
 */
export interface SmapsRecord {
  start: string;
  end: string;
  perms: string;
  offset: string;
  name: string;
  fields: Record<string, number>;
  VmFlags: string[];
}

export interface NumaMapsRecord {
  start: string;
  policy: string;
  file?: string;
  flags?: string[];
  fields: Record<string, number>;
}

export interface PagemapRun {
  start: string;
  pages: number;
  flags: string[];
  pfn?: number | string;
  swap?: number;
  marker?: string[];
  migration?: string;
  hwpoison?: boolean;
  device?: string;
}

export interface KpageflagsRun {
  start: string;
  pages: number;
  pfn: number | string;
  flags: string[];
  count: number;
}

export interface SmapsRollupRecord {
  start: string;
  end: string;
  fields: Record<string, number>;
}

export interface MincoreRun {
  start: string;
  pages: number;
  resident: number;
}

export interface ProcRecord {
  smaps?: SmapsRecord[];
  numa_maps?: NumaMapsRecord[];
  pagemap?: PagemapRun[];
  kpageflags?: KpageflagsRun[];
  smaps_rollup?: SmapsRollupRecord;
  mincore?: MincoreRun[];
}

export interface Observation {
  step: number;
  label: string;
  procs: Record<string, ProcRecord>;
}

export interface ScanRegion {
  start: string;
  end: string;
  pages: number;
  categories: Array<string | number>;
}

export type ScanResult =
  | { step: number; proc: string; ret: number; walk_end: string; regions: ScanRegion[] }
  | { step: number; proc: string; errno: string };

export interface ErrorRecord {
  step: number;
  proc: string;
  op: string;
  errno: string;
}

export interface UffdEventRecord {
  step: number;
  proc: string;
  event: "pagefault";
  addr: string;
  flags: string[];
}

export interface ObservationDocument {
  format: "pagewalk-observations/1";
  scenario: string;
  source: string;
  dropped: Record<string, string[]>;
  observations: Observation[];
  scans: ScanResult[];
  errors: ErrorRecord[];
  uffd_events: UffdEventRecord[];
}

/** The `dropped` member every document carries (observation.md, "Stability"). */
export const DROPPED: Record<string, string[]> = {
  kpageflags: ["IDLE"],
  kpageflags_of_hugetlb_pages: ["DIRTY"],
  smaps_of_1G_hugetlb_vmas: ["Shared_Hugetlb", "Private_Hugetlb"],
  pagemap_of_1G_hugetlb_vmas: ["exclusive"],
};

/** Lowercase 0x-prefixed hex of an address. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
