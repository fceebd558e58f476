/**
 * Architecture-neutral helpers for 64-bit entries held as two 32-bit halves
 * (`lo` = bits 0..31, `hi` = bits 32..63). No BigInt: the halves are plain
 * numbers, kept unsigned with `>>> 0`.
 */

/** 2^32, the weight of the `hi` half. */
export const TWO32 = 0x1_0000_0000;

/**
 * Format an entry as the kernel prints a `pte_val()` with `%016llx`
 * (ptdump, page_table_check, debug_vm_pgtable): "0x" and 16 lowercase hex digits.
 */
export function entryToHex(lo: number, hi: number): string {
  const h = (hi >>> 0).toString(16).padStart(8, "0");
  const l = (lo >>> 0).toString(16).padStart(8, "0");
  return `0x${h}${l}`;
}

/**
 * Parse a hex entry value ("0x…" optional, up to 16 digits) into its halves;
 * the inverse of {@link entryToHex}, for golden files written by pr_info("%llx").
 * Throws on anything that is not 1..16 hex digits.
 */
export function entryFromHex(text: string): { lo: number; hi: number } {
  const digits = text.startsWith("0x") || text.startsWith("0X") ? text.slice(2) : text;
  if (!/^[0-9a-fA-F]{1,16}$/.test(digits)) {
    throw new Error(`not a 64-bit hex entry value: ${JSON.stringify(text)}`);
  }
  const padded = digits.padStart(16, "0");
  return { hi: Number.parseInt(padded.slice(0, 8), 16), lo: Number.parseInt(padded.slice(8), 16) };
}
