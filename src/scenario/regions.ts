import type { RangeFields } from "./types.js";

/** A named region as the scenario sees it: where it is now. */
export interface Region {
  name: string;
  start: number;
  len: number;
}

/**
 * The scenario's regions and the memory it observes (observation.md,
 * "Which memory is observed"): every range a region has occupied, and the
 * new place of a moved part.
 */
export class Regions {
  private readonly byName = new Map<string, Region>();
  /** Every observed range, [start, end), merged lazily. */
  private readonly observed: Array<[number, number]> = [];

  add(name: string, start: number, len: number): void {
    this.byName.set(name, { name, start, len });
    this.observe(start, start + len);
  }

  get(name: string): Region | undefined {
    return this.byName.get(name);
  }

  /** Record more scenario memory (a move's destination, a grown region). */
  observe(start: number, end: number): void {
    this.observed.push([start, end]);
  }

  /** Resolve a step's range to [start, end). */
  range(r: RangeFields): [number, number] {
    const reg = this.byName.get(r.region);
    if (!reg) throw new Error(`unknown region "${r.region}"`);
    const start = reg.start + r.off;
    const len = r.len ?? reg.len - r.off;
    return [start, start + len];
  }

  /** The observed ranges, sorted and merged. */
  observedRanges(): Array<[number, number]> {
    const s = [...this.observed].sort((a, b) => a[0] - b[0]);
    const out: Array<[number, number]> = [];
    for (const [a, b] of s) {
      const last = out[out.length - 1];
      if (last && a <= last[1]) last[1] = Math.max(last[1], b);
      else out.push([a, b]);
    }
    return out;
  }
}
