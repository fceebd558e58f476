/**
 * /proc/pid/smaps_rollup (proc.md §2.6): every VMA gathered into one
 * accumulator; the PSS lines are rounded once, from the fixed-point sums.
 */
import type { Machine } from "../mm/machine.js";
import type { MmStruct } from "../mm/mm.js";
import type { Vma } from "../mm/vma.js";
import { MemSizeStats, mssLines, smapGatherStats } from "./smaps.js";

/** The rollup of a set of VMAs: header range and the kB lines. */
export interface SmapsRollup {
  /** First VMA's start and last VMA's end; both 0 when there is none. */
  start: number;
  end: number;
  mss: MemSizeStats;
  /** Rss … Locked with Pss_Anon/File/Shmem, in print order. */
  lines: Array<[string, number]>;
}

/**
 * show_smaps_rollup - gather @vmas (address order; default every VMA of
 * @mm, the gate VMA never) into one record.
 *
 * Locking: takes @mm's mmap lock for read for the whole gathering.
 */
export function smapsRollup(
  m: Machine,
  mm: MmStruct,
  flavour: "mainline" | "unified" | "pt_range",
  vmas: readonly Vma[] = mm.vmas,
): SmapsRollup {
  const mss = new MemSizeStats();
  mm.mmapLock.readLock("smaps_rollup");
  try {
    for (const vma of vmas) smapGatherStats(m, mm, vma, flavour, mss);
  } finally {
    mm.mmapLock.readUnlock();
  }
  const start = vmas.length > 0 ? vmas[0]!.start : 0;
  const end = vmas.length > 0 ? vmas[vmas.length - 1]!.end : 0;
  return { start, end, mss, lines: mssLines(mss, true) };
}
