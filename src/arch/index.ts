/**
 * Registry of architecture codecs, by the names scenarios use (`arch:` field).
 */

import type { ArchCodec } from "./types.js";
import { x86_64, x86_64La57 } from "./x86_64.js";

const ARCHES: ReadonlyMap<string, ArchCodec> = new Map([
  ["x86_64", x86_64],
  ["x86_64-la57", x86_64La57],
]);

/** Names accepted by {@link getArch}, in registration order. */
export const ARCH_NAMES: readonly string[] = Object.freeze([...ARCHES.keys()]);

/**
 * The codec for an architecture name (the model's counterpart of picking an
 * arch/ directory at build time plus pgtable_l5_enabled() at boot).
 * Throws an Error listing the known names when `name` is unknown.
 */
export function getArch(name: string): ArchCodec {
  const codec = ARCHES.get(name);
  if (codec === undefined) {
    throw new Error(
      `unknown architecture ${JSON.stringify(name)}; known: ${ARCH_NAMES.join(", ")}`,
    );
  }
  return codec;
}

export { x86_64, x86_64La57 } from "./x86_64.js";
