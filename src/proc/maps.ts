/**
 * The maps header line and the per-VMA facts maps, smaps, smaps_rollup and
 * numa_maps share (proc.md §1.4, §2.3, §2.4).
 */
import type { Machine } from "../mm/machine.js";
import { VM, VM_HI_MNEMONICS, VM_MNEMONICS, type Vma } from "../mm/vma.js";

/** The four permission characters: r/w/x from VM_READ/WRITE/EXEC, s iff VM_MAYSHARE. */
export function vmaPerms(vma: Vma): string {
  return (
    (vma.has(VM.READ) ? "r" : "-") +
    (vma.has(VM.WRITE) ? "w" : "-") +
    (vma.has(VM.EXEC) ? "x" : "-") +
    (vma.has(VM.MAYSHARE) ? "s" : "p")
  );
}

/** File offset in bytes of the maps line: vm_pgoff << PAGE_SHIFT; 0 for private anonymous memory. */
export function vmaOffset(m: Machine, vma: Vma): number {
  if (vma.backing.kind === "anon") return 0;
  return vma.pgoff * m.arch.geometry.pageSize;
}

/** The maps line's name ("" when none): the backing object's path. */
export function vmaName(vma: Vma): string {
  const s = vma.space;
  return s === null ? "" : s.name;
}

/** Device "MAJ:MIN" and inode of the backing file as maps prints them (model: 00:00 0). */
export function vmaDevIno(_vma: Vma): [string, number] {
  return ["00:00", 0];
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/**
 * show_vma_header_prefix() + name: `start-end perms pgoff MAJ:MIN ino ` and,
 * with a name, padding to column 72 then one space and the name.
 */
export function mapsHeader(
  start: number,
  end: number,
  perms: string,
  offset: number,
  dev: string,
  ino: number,
  name: string,
): string {
  const prefix = `${hex8(start)}-${hex8(end)} ${perms} ${hex8(offset)} ${dev} ${ino} `;
  if (name === "") return prefix;
  return `${prefix.padEnd(72, " ")} ${name}`;
}

/** The maps/smaps header line of a VMA (no newline). */
export function vmaHeader(m: Machine, vma: Vma): string {
  const [dev, ino] = vmaDevIno(vma);
  return mapsHeader(vma.start, vma.end, vmaPerms(vma), vmaOffset(m, vma), dev, ino, vmaName(vma));
}

/**
 * show_smap_vma_flags(): the mnemonics of the set bits in bit order; bits
 * without a mnemonic print "??", hidden ones (protection keys) nothing.
 */
export function vmFlagNames(m: Machine, vma: Vma): string[] {
  const out: string[] = [];
  for (let b = 0; b < 32; b++) {
    if ((vma.flags & (1 << b)) === 0) continue;
    if (b === 27 && !m.config.softDirty) continue;
    out.push(VM_MNEMONICS[b] || "??");
  }
  for (let b = 0; b < 32; b++) {
    if ((vma.flagsHi & (1 << b)) === 0) continue;
    if (b <= 3) continue; // PKEY_BIT0..3: shown through ProtectionKey
    const name = VM_HI_MNEMONICS.get(b);
    out.push(name === undefined ? "??" : name);
  }
  return out;
}

/**
 * THPeligible (proc.md §2.3, thp_vma_allowable_orders() for the smaps
 * query with sysfs enforced): only private anonymous VMAs can be eligible
 * on the reference (shmem is `never`, no READ_ONLY_THP_FOR_FS, hugetlb and
 * files end at 0); an anonymous VMA needs an allowed order whose naturally
 * aligned block fits inside it.
 */
export function thpEligible(m: Machine, vma: Vma): number {
  if (!vma.isAnon || vma.isHugetlb) return 0;
  if (vma.has(VM.NOHUGEPAGE)) return 0;
  const mode = m.config.thp;
  if (mode === "never") return 0;
  if (mode === "madvise" && !vma.has(VM.HUGEPAGE)) return 0;
  const ps = m.arch.geometry.pageSize;
  for (const order of m.config.thpOrders) {
    const size = ps * 2 ** order;
    const first = Math.ceil(vma.start / size) * size;
    if (first + size <= vma.end) return 1;
  }
  return 0;
}
