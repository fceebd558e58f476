/**
 * Value parsing for scenarios: sizes, addresses, bit masks, a field reader
 * that turns every problem into a located {@link ScenarioError}, the
 * architectures' value domains (page size, THP and hugetlb sizes) and `setup`.
 */
import { ScenarioError, showValue } from "./errors.js";
import { type ArchName, SETUP_KEYS, type Setup, THP_MODES } from "./types.js";

const SIZE_UNITS: Readonly<Record<string, number>> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };
const SIZE_RE = /^(-?)(\d+)([KMG]?)$/;
const HEX_RE = /^0x[0-9a-fA-F]+$/;

/** What a size looks like, for messages. */
export const SIZE_EXPECTATION = 'a size: a number of bytes or a string like "64K", "2M", "1G"';

/**
 * Parses a size or offset: an integer number of bytes, or a decimal string
 * with an optional `K`/`M`/`G` suffix. Returns undefined when malformed.
 * Negative values are returned as such; the caller decides whether they are allowed.
 */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value !== "string") return undefined;
  const m = SIZE_RE.exec(value);
  if (m === null) return undefined;
  const bytes = Number(m[2]) * SIZE_UNITS[m[3]!]!;
  if (!Number.isSafeInteger(bytes)) return undefined;
  return m[1] === "-" ? -bytes : bytes;
}

/** Parses an address: a hex string `"0x..."` below 2^53. Returns undefined when malformed. */
export function parseAddress(value: unknown): number | undefined {
  if (typeof value !== "string" || !HEX_RE.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Writes a byte count the way scenarios do ("2M", "64K", "12288"). */
export function formatSize(bytes: number): string {
  for (const unit of ["G", "M", "K"]) {
    const u = SIZE_UNITS[unit]!;
    if (bytes !== 0 && bytes % u === 0) return `${bytes / u}${unit}`;
  }
  return String(bytes);
}

/** Where a reader's problems are reported. */
export interface ReadContext {
  file?: string;
  section: "top" | "setup" | "step";
  step?: number;
  op?: string;
}

/** Options for {@link FieldReader.size}. */
export interface SizeOptions {
  /** Smallest value allowed (default 0). */
  min?: number;
  /** Required alignment in bytes (0 or omitted: none). */
  align?: number;
  /** How the alignment is named in messages ("the page size 4096"). */
  alignName?: string;
}

/**
 * Reads the fields of one JSON object. The constructor rejects keys not in
 * `allowed`; each getter returns undefined when the key is absent and throws
 * a located ScenarioError when the value is malformed.
 */
export class FieldReader {
  constructor(
    readonly obj: Readonly<Record<string, unknown>>,
    readonly ctx: ReadContext,
    private readonly allowed: readonly string[],
    private readonly prefix = "",
  ) {
    for (const key of Object.keys(obj)) {
      if (!allowed.includes(key)) {
        const list = allowed.length > 0 ? allowed.join(", ") : "none";
        this.fail(key, `unknown field (allowed: ${list})`, obj[key]);
      }
    }
  }

  /** Throws a ScenarioError about `key` with a free-form detail. */
  fail(key: string, detail: string, value: unknown = this.obj[key]): never {
    throw new ScenarioError(detail, { ...this.ctx, field: this.prefix + key, value });
  }

  /** Throws `bad value <v> (expected <expected>)` about `key`. */
  bad(key: string, expected: string, value: unknown = this.obj[key]): never {
    this.fail(key, `bad value ${showValue(value)} (expected ${expected})`, value);
  }

  /** Whether `key` is present. */
  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** The raw value of `key` (undefined if absent). */
  get(key: string): unknown {
    if (!this.allowed.includes(key))
      throw new Error(`internal: field "${key}" read but not declared`);
    return Object.hasOwn(this.obj, key) ? this.obj[key] : undefined;
  }

  /** `v`, or a "missing required field" error about `key` when undefined. */
  need<T>(key: string, v: T | undefined): T {
    if (v === undefined) this.fail(key, "missing required field", undefined);
    return v;
  }

  /** A non-empty string. */
  string(key: string): string | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== "string" || v.length === 0) this.bad(key, "a non-empty string");
    return v;
  }

  /** A string (empty allowed). */
  text(key: string): string | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== "string") this.bad(key, "a string");
    return v;
  }

  /** One of `values`. */
  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== "string" || !(values as readonly string[]).includes(v)) {
      this.bad(key, `one of ${values.join(", ")}`);
    }
    return v as T;
  }

  /** true or false. */
  bool(key: string): boolean | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== "boolean") this.bad(key, "true or false");
    return v;
  }

  /** An integer in [min, max]. */
  int(key: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
      this.bad(
        key,
        max === Number.MAX_SAFE_INTEGER
          ? `an integer >= ${min}`
          : `an integer from ${min} to ${max}`,
      );
    }
    return v;
  }

  /** A size in bytes: see {@link parseSize}; at least `min`, a multiple of `align`. */
  size(key: string, opts: SizeOptions = {}): number | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    const n = parseSize(v);
    if (n === undefined) this.bad(key, SIZE_EXPECTATION);
    const min = opts.min ?? 0;
    if (n < min) this.bad(key, min === 0 ? "a size >= 0" : `a size >= ${formatSize(min)}`);
    if (opts.align && n % opts.align !== 0) {
      this.bad(key, `a multiple of ${opts.alignName ?? `${opts.align} bytes`}`);
    }
    return n;
  }

  /** An address (hex string), a multiple of `align` when given. */
  address(key: string, align = 0, alignName?: string): number | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    const n = parseAddress(v);
    if (n === undefined) this.bad(key, 'a hex address string like "0x100000000000", below 2^53');
    if (align && n % align !== 0) this.bad(key, `a multiple of ${alignName ?? `${align} bytes`}`);
    return n;
  }

  /**
   * A list whose elements `each` checks; `each` gets a reporter for the
   * element's own field name (`key[i]`), and that name. Duplicates are rejected unless `dups`.
   */
  list<T>(
    key: string,
    each: (v: unknown, bad: (expected: string) => never, field: string) => T,
    opts: { nonEmpty?: boolean; dups?: boolean } = {},
  ): T[] | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) this.bad(key, opts.nonEmpty ? "a non-empty list" : "a list");
    if (opts.nonEmpty && v.length === 0) this.bad(key, "a non-empty list");
    const out: T[] = [];
    v.forEach((el: unknown, i: number) => {
      const field = `${key}[${i}]`;
      const item = each(el, (expected) => this.bad(field, expected, el), field);
      if (!opts.dups && out.includes(item))
        this.fail(field, `duplicate value ${showValue(el)}`, el);
      out.push(item);
    });
    return out;
  }

  /** A list of names from `values`. */
  names<T extends string>(
    key: string,
    values: readonly T[],
    opts: { nonEmpty?: boolean } = {},
  ): T[] | undefined {
    const expected = `one of ${values.join(", ")}`;
    return this.list(
      key,
      (el, bad) => {
        if (typeof el !== "string" || !(values as readonly string[]).includes(el)) bad(expected);
        return el as T;
      },
      opts,
    );
  }

  /**
   * A bit mask: an integer >= 0, a hex string, or a list of names from `bits`
   * (OR-ed together). Unknown bits given as numbers are kept (the kernel refuses them).
   */
  mask(key: string, bits: Readonly<Record<string, number>>): number | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (Array.isArray(v)) {
      const names = Object.keys(bits);
      let m = 0;
      for (const name of this.names(key, names) ?? []) m |= bits[name]!;
      return m;
    }
    const n = typeof v === "string" ? parseAddress(v) : v;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
      this.bad(
        key,
        `an integer >= 0, a hex string or a list of names (${Object.keys(bits).join(", ")})`,
      );
    }
    return n;
  }

  /** A nested object, read with its own allowed keys; its fields are named `key.sub`. */
  object(key: string, allowed: readonly string[]): FieldReader | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (!isRecord(v)) this.bad(key, "an object");
    return new FieldReader(v, this.ctx, allowed, `${this.prefix}${key}.`);
  }
}

/** Whether `v` is a plain JSON object. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** What the scenario parser needs to know about an architecture. */
export interface ArchScenarioInfo {
  /** Base page size in bytes: sizes, offsets and addresses must be multiples of it. */
  readonly pageSize: number;
  /** Bytes mapped by a PMD leaf: the PMD THP size, the largest anonymous mTHP size. */
  readonly pmdSize: number;
  /** Hugetlb page sizes offered, as [name, bytes], smallest first. */
  readonly hugetlbSizes: readonly (readonly [name: string, bytes: number])[];
}

function archInfo(page: string, pmd: string, hugetlb: string): ArchScenarioInfo {
  const names = hugetlb.split(" ");
  return {
    pageSize: parseSize(page)!,
    pmdSize: parseSize(pmd)!,
    hugetlbSizes: names.map((n) => [n, parseSize(n)!] as const),
  };
}

const GIB = 1024 ** 3;
const X86 = archInfo("4K", "2M", "2M 1G");
const RISCV = archInfo("4K", "2M", "64K 2M 1G");

/** Per-architecture geometry as scenario-model.md and arch.md give it. */
export const ARCH_INFO: Readonly<Record<ArchName, ArchScenarioInfo>> = {
  x86_64: X86,
  "x86_64-la57": X86,
  "arm64-4k": archInfo("4K", "2M", "64K 2M 32M 1G"),
  "arm64-16k": archInfo("16K", "32M", "2M 32M 1G"),
  "arm64-64k": archInfo("64K", "512M", "2M 512M 16G"),
  "riscv64-sv39": RISCV,
  "riscv64-sv48": RISCV,
  "riscv64-sv57": RISCV,
  "ppc64-radix": archInfo("64K", "2M", "2M 1G"),
  s390x: archInfo("4K", "1M", "1M 2G"),
  loongarch64: archInfo("16K", "32M", "32M"),
};

/**
 * Anonymous THP sizes an architecture offers for `setup.thp_sizes`: orders 2
 * up to PMD order (the kernel's THP_ORDERS_ALL_ANON), in bytes, smallest first.
 */
export function offeredThpSizes(info: ArchScenarioInfo): number[] {
  const sizes: number[] = [];
  for (let s = info.pageSize * 4; s <= info.pmdSize; s *= 2) sizes.push(s);
  return sizes;
}

/**
 * The default hugetlb pools: the reference machine's on x86_64 (1024 × 2M,
 * 2 × 1G); elsewhere 2 GiB of each size up to 1 GiB and none of larger sizes.
 */
export function defaultHugetlbPages(arch: ArchName): Record<string, number> {
  if (arch === "x86_64" || arch === "x86_64-la57") return { "2M": 1024, "1G": 2 };
  const pools: Record<string, number> = {};
  for (const [name, bytes] of ARCH_INFO[arch].hugetlbSizes) {
    pools[name] = bytes <= GIB ? (2 * GIB) / bytes : 0;
  }
  return pools;
}

/**
 * Parses `setup` (absent: all defaults) for `arch`; checks sizes against the
 * architecture and the hugetlb pools against the memory they come out of.
 */
export function parseSetup(v: unknown, arch: ArchName, file: string | undefined): Setup {
  if (v !== undefined && !isRecord(v)) {
    throw new ScenarioError(`bad value ${showValue(v)} (expected an object)`, {
      file,
      field: "setup",
      value: v,
    });
  }
  const r: FieldReader = new FieldReader(v ?? {}, { file, section: "setup" }, SETUP_KEYS);
  const info = ARCH_INFO[arch];
  const page = { align: info.pageSize, alignName: `the page size ${info.pageSize}` };
  const offered = offeredThpSizes(info);
  const offeredText = `one of the THP sizes ${arch} offers: ${offered.map(formatSize).join(", ")}`;
  const thpSizes = r.list("thp_sizes", (el, bad) => {
    const n = parseSize(el);
    return n !== undefined && offered.includes(n) ? n : bad(offeredText);
  }) ?? [info.pmdSize];
  const setup: Setup = {
    thp: r.oneOf("thp", THP_MODES) ?? "madvise",
    swap: r.bool("swap") ?? true,
    thpSizes: thpSizes.sort((a, b) => a - b),
    nodes: r.int("nodes", 1, 1024) ?? 1,
    nodeMem: r.size("node_mem", { ...page, min: info.pageSize }) ?? 4 * GIB,
    softDirty: r.bool("soft_dirty") ?? false,
    deviceMem: r.size("device_mem", page) ?? 0,
    memory: r.size("memory", { ...page, min: info.pageSize }) ?? 8 * GIB,
    hugetlbPages: defaultHugetlbPages(arch),
  };
  const pools = r.get("hugetlb_pages");
  if (pools !== undefined) setup.hugetlbPages = parsePools(r, pools, arch, info);
  let poolBytes = 0;
  for (const [sizeName, bytes] of info.hugetlbSizes) {
    poolBytes += (setup.hugetlbPages[sizeName] ?? 0) * bytes;
  }
  const ram = setup.nodes === 1 ? setup.memory : setup.nodes * setup.nodeMem;
  if (poolBytes > ram) {
    const field = pools !== undefined ? "hugetlb_pages" : setup.nodes === 1 ? "memory" : "node_mem";
    r.fail(
      field,
      `hugetlb pools of ${formatSize(poolBytes)}${pools === undefined ? " (the default)" : ""} ` +
        `exceed the ${formatSize(ram)} of memory`,
    );
  }
  return setup;
}

function parsePools(
  r: FieldReader,
  pools: unknown,
  arch: ArchName,
  info: ArchScenarioInfo,
): Record<string, number> {
  const names = info.hugetlbSizes.map(([n]) => n);
  if (!isRecord(pools)) r.bad("hugetlb_pages", `an object of pool sizes, like {"${names[0]}": 16}`);
  const out: Record<string, number> = {};
  for (const [n] of info.hugetlbSizes) out[n] = 0;
  const given = new Set<string>();
  for (const [key, count] of Object.entries(pools)) {
    const field = `hugetlb_pages.${key}`;
    const bytes = parseSize(key);
    const entry = info.hugetlbSizes.find(([, b]) => b === bytes);
    if (entry === undefined) {
      r.bad(field, `one of the hugetlb sizes ${arch} offers: ${names.join(", ")}`, key);
    }
    if (given.has(entry[0])) r.fail(field, `hugetlb size ${entry[0]} given twice`, key);
    given.add(entry[0]);
    if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0) {
      r.bad(field, "a number of pages >= 0", count);
    }
    out[entry[0]] = count;
  }
  return out;
}
