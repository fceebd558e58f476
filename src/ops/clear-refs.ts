import { PteFlag } from "../arch/types.js";
import { PG } from "../mm/pageflags.js";
import { VM } from "../mm/vma.js";
import type { OpCtx } from "./context.js";
import * as E from "./entries.js";
import { forEachLeaf } from "./range-walk.js";

/**
 * A write to /proc/pid/clear_refs (fs/proc/task_mmu.c, clear_refs_write):
 * 1 all VMAs, 2 anonymous only, 3 file-backed only — entries made old and
 * PG_referenced cleared; 4 clears soft-dirty (only with CONFIG_MEM_SOFT_DIRTY);
 * 5 resets the peak RSS (nothing the model shows).
 *
 * Locking: mmap lock for read (write for 4); PTLs inside.
 */
export function clearRefs(ctx: OpCtx, value: number): void {
  const { m, mm } = ctx;
  if (value === 5) return;
  if (value === 4) {
    if (!m.config.softDirty) return;
    for (const v of mm.vmas) {
      v.flags &= ~VM.SOFTDIRTY;
      forEachLeaf(m, mm, v.start, v.end, {
        pmd: (t, i) => {
          if (E.isPresent(m, t, i))
            E.updateLeafFlags(m, t, i, 0, PteFlag.SOFT_DIRTY | PteFlag.WRITE);
        },
        pte: (t, i) => {
          if (E.isPresent(m, t, i))
            E.updateLeafFlags(m, t, i, 0, PteFlag.SOFT_DIRTY | PteFlag.WRITE);
        },
      });
    }
    return;
  }
  /** Clear young and PG_referenced where the entry maps a normal page. */
  const clearEntry = (t: import("../mm/pgtable.js").PageTable, i: number): void => {
    if (!E.isPresent(m, t, i)) return;
    const pfn = E.leafPfn(m, t, i);
    const fl = E.leafFlags(m, t, i);
    if (pfn === m.phys.zeroPfn || pfn === m.phys.hugeZeroPfn || fl & PteFlag.SPECIAL) return;
    m.phys.flags[m.phys.folioHead(pfn)]! &= ~PG.REFERENCED;
    E.updateLeafFlags(m, t, i, 0, PteFlag.YOUNG);
  };
  for (const v of mm.vmas) {
    const anon = v.isAnon;
    if (value === 2 && !anon) continue;
    if (value === 3 && anon) continue;
    if (v.backing.kind === "hugetlb") {
      // clear_refs_pte_range has no hugetlb callback: hugetlb is untouched.
      continue;
    }
    if (v.flags & VM.PFNMAP) continue;
    forEachLeaf(m, mm, v.start, v.end, { pmd: clearEntry, pte: clearEntry });
  }
}
