import { Level } from "../arch/types.js";
import { PteMarker } from "../mm/config.js";
import { VM } from "../mm/vma.js";
import { KernelError } from "../scenario/errors.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { anonVmaPrepare } from "./folio.js";
import { zapRange } from "./zap.js";

/**
 * MADV_GUARD_INSTALL: zap the range and put a guard marker in every entry
 * (page tables allocated as needed). The VMA gets VM_MAYBE_GUARD without
 * being split, and an anon_vma. Refused (EINVAL) on mlocked and hugetlb VMAs.
 *
 * Locking: mmap lock for read; PTLs inside.
 */
export function guardInstall(ctx: OpCtx, start: number, end: number): void {
  const { m, mm } = ctx;
  const ps = m.arch.geometry.pageSize;
  for (const v of mm.vmasIn(start, end)) {
    if (v.flags & VM.LOCKED || v.backing.kind === "hugetlb") {
      throw new KernelError("EINVAL", "guard install on an mlocked or hugetlb VMA");
    }
    const s = Math.max(start, v.start);
    const e = Math.min(end, v.end);
    v.flags |= VM.MAYBE_GUARD;
    anonVmaPrepare(m, mm, v);
    zapRange(m, mm, v, s, e, { keepGuard: true, teardown: false });
    for (let a = s; a < e; a += ps) {
      const t = mm.pt.tableFor(a, Level.PTE, true)!;
      const i = mm.pt.index(Level.PTE, a);
      const marker = E.markerBits(m, t, i);
      if (marker & PteMarker.GUARD) continue;
      E.clearEntry(t, i);
      E.setMarker(m, t, i, PteMarker.GUARD);
    }
  }
}

/** MADV_GUARD_REMOVE: clear the guard markers of the range (VM_MAYBE_GUARD stays). */
export function guardRemove(ctx: OpCtx, start: number, end: number): void {
  const { m, mm } = ctx;
  const ps = m.arch.geometry.pageSize;
  for (let a = start; a < end; a += ps) {
    const t = mm.pt.tableFor(a, Level.PTE, false);
    if (t === null) continue;
    const i = mm.pt.index(Level.PTE, a);
    if (E.markerBits(m, t, i) & PteMarker.GUARD) E.clearEntry(t, i);
  }
}
