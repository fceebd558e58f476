import type { Machine } from "../mm/machine.js";
import { VM, type Vma } from "../mm/vma.js";

/**
 * Which anonymous THP orders a VMA allows (thp_vma_allowable_orders for a
 * fault): each enabled order follows the global mode (`always`: any VMA,
 * `madvise`: VMAs with VM_HUGEPAGE, `never`: none) and none in a VMA with
 * VM_NOHUGEPAGE. Largest first.
 */
export function anonThpOrders(m: Machine, vma: Vma): readonly number[] {
  if (!vma.isAnon || vma.isHugetlb) return [];
  if (vma.flags & VM.NOHUGEPAGE) return [];
  const mode = m.config.thp;
  if (mode === "never") return [];
  if (mode === "madvise" && (vma.flags & VM.HUGEPAGE) === 0) return [];
  return m.config.thpOrders;
}

/** PMD order of the architecture (HPAGE_PMD_ORDER). */
export function pmdOrder(m: Machine): number {
  return m.arch.geometry.pmdShift - m.arch.geometry.pageShift;
}

/** Whether the naturally aligned block of `order` around `addr` lies inside `vma`. */
export function blockInVma(m: Machine, vma: Vma, addr: number, order: number): boolean {
  const size = 2 ** (order + m.arch.geometry.pageShift);
  const start = addr - (addr % size);
  return start >= vma.start && start + size <= vma.end;
}
