import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type CliIO, runCli } from "../../src/cli/commands.js";
import {
  describeFlags,
  PAGE_FLAG_NAMES,
  pageFlagLongname,
  pageFlagName,
  parseAddrRange,
  parseBitsSpec,
} from "../../src/proc/page-types.js";

const SMALL = fileURLToPath(new URL("./scenarios/small.json", import.meta.url));
const AT = "two written, one read";

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: CliIO = { out: (t) => (out += t), err: (t) => (err += t) };
  const code = await runCli(argv, io);
  return { code, out, err };
}

const HEADER = "             flags\tpage-count       MB  symbolic-flags\t\t\tlong-symbolic-flags\n";
/** The 43-column symbolic string with the given (named) bits set. */
const sym = (...bits: number[]) =>
  PAGE_FLAG_NAMES.map((f) => (bits.includes(f.bit) ? f.sym : "_")).join("");

describe("page-types flag symbols (6.18)", () => {
  it("has 43 named bits, printed in bit order", () => {
    expect(PAGE_FLAG_NAMES).toHaveLength(43);
    expect(pageFlagName(0, 0)).toBe("_".repeat(43));
    expect(pageFlagName(0x5828, 0)).toBe("___U_l_____Ma_b____________________________");
    expect(pageFlagLongname(0x5828, 0)).toBe("uptodate,lru,mmap,anonymous,swapbacked");
  });

  it("aborts on a set bit without a name", () => {
    expect(() => pageFlagName(0, 1 << 7)).toThrow("unknown flag bit 39");
  });

  it("parses bit specs as the tool does", () => {
    // a prefix matches the first name in bit order: "a" is "active", not "anonymous"
    expect(parseBitsSpec("a")).toEqual({ mask: { lo: 1 << 6, hi: 0 }, bits: null });
    expect(parseBitsSpec("anon")).toEqual({ mask: { lo: 1 << 12, hi: 0 }, bits: null });
    // any prefix of "compound" (even "c") means head|tail
    expect(parseBitsSpec("c").mask).toEqual({ lo: (1 << 15) | (1 << 16), hi: 0 });
    expect(parseBitsSpec("anon,~lru")).toEqual({
      mask: { lo: (1 << 12) | (1 << 5), hi: 0 },
      bits: { lo: 1 << 12, hi: 0 },
    });
    expect(parseBitsSpec("anon,lru=anon")).toEqual(parseBitsSpec("anon,~lru"));
    expect(parseBitsSpec("=0x10,mmap")).toEqual({
      mask: { lo: 0xffffffff, hi: 0xffffffff },
      bits: { lo: 0x10 | (1 << 11), hi: 0 },
    });
    expect(parseBitsSpec("mmap_exclusive").mask).toEqual({ lo: 0, hi: 0x80000000 });
    expect(() => parseBitsSpec("bogus")).toThrow("invalid name or number: bogus");
  });

  it("parses address ranges as the tool does", () => {
    expect(parseAddrRange("0x10")).toEqual({ offset: 16, size: 1 });
    expect(parseAddrRange("16+4")).toEqual({ offset: 16, size: 4 });
    expect(parseAddrRange("16,20")).toEqual({ offset: 16, size: 4 });
    expect(parseAddrRange(",8")).toEqual({ offset: 0, size: 8 });
    expect(parseAddrRange("16,").offset).toBe(16);
    expect(() => parseAddrRange("20,16")).toThrow("invalid range: 20,16");
  });

  it("describes flags (-d)", () => {
    expect(describeFlags("anon,lru")).toBe(`0x0000000000001020\t${sym(5, 12)}\tlru,anonymous\n`);
  });
});

describe("pagewalk page-types --proc", () => {
  // At the label: two written anonymous pages (kpageflags UPTODATE LRU MMAP ANON
  // SWAPBACKED + OWNER_2, kpagecount 1), one read of the zero page (ZERO_PAGE
  // RESERVED), one untouched page (pagemap 0: not counted).
  it("prints the summary table with the well-known flags", async () => {
    const r = await cli("page-types", SMALL, "--proc", "p0", "--at", AT);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    // Row order is hash-slot order: 0x1000000 & 8191 = 0 -> slot 1; 0x5828 -> slot 0x1828.
    expect(r.out).toBe(
      HEADER +
        `0x0000000001000000\t         1        0  ${sym(24)}\tzero_page\n` +
        `0x0000000000005828\t         2        0  ${sym(3, 5, 11, 12, 14)}\tuptodate,lru,mmap,anonymous,swapbacked\n` +
        "             total\t         3        0\n",
    );
  });

  it("-r expands overloaded bits and adds the pagemap bits", async () => {
    const r = await cli("page-types", SMALL, "--proc", "p0", "--at", AT, "-r", "-N", "-L");
    // anon + OWNER_2 -> anon_exclusive (47); PM_MMAP_EXCLUSIVE -> 63; the zero
    // page keeps RESERVED (32) and has neither FILE nor EXCLUSIVE.
    const rows = r.out.split("\n");
    expect(rows[0]).toBe("voffset\toffset\tflags");
    expect(rows[1]).toMatch(new RegExp(`^100000000\t[0-9a-f]+\t${sym(3, 5, 11, 12, 14, 47, 63)}$`));
    expect(rows[2]).toMatch(new RegExp(`^100000001\t[0-9a-f]+\t${sym(3, 5, 11, 12, 14, 47, 63)}$`));
    expect(rows[3]).toMatch(new RegExp(`^100000002\t[0-9a-f]+\t${sym(24, 32)}$`));
    expect(rows).toHaveLength(5);
  });

  it("-l lists runs and -M adds the map count; the summary follows two blank lines", async () => {
    const r = await cli("page-types", SMALL, "--proc", "p0", "--at", AT, "-l", "-M");
    const [head, ...rest] = r.out.split("\n");
    expect(head).toBe("voffset\tmap-cnt\toffset\tlen\tflags");
    // The two written pages are one run only if their PFNs are consecutive.
    expect(rest[0]).toMatch(
      new RegExp(`^100000000\t1\t[0-9a-f]+\t(2|1)\t${sym(3, 5, 11, 12, 14)}$`),
    );
    expect(rest[1]).toMatch(new RegExp(`^100000002\t0\t[0-9a-f]+\t1\t${sym(24)}$`));
    expect(r.out).toContain(`\n\n\n${HEADER}`);
  });

  it("-b filters on the processed flags", async () => {
    const r = await cli("page-types", SMALL, "--proc", "p0", "--at", AT, "-b", "zero_page");
    expect(r.out).toBe(
      `${HEADER}0x0000000001000000\t         1        0  ${sym(24)}\tzero_page\n` +
        "             total\t         1        0\n",
    );
    const none = await cli("page-types", SMALL, "--proc", "p0", "--at", AT, "-b", "anon,~lru");
    expect(none.out).toBe(`${HEADER}             total\t         0        0\n`);
  });

  it("counts shared pages after fork without the exclusive bit", async () => {
    const r = await cli("page-types", SMALL, "--proc", "p1", "-r", "-b", "anon");
    // Three pages written by p0 and shared with p1 after fork: not exclusive, no OWNER_2.
    expect(r.out).toContain(`\t         3        0  ${sym(3, 5, 11, 12, 14)}\t`);
  });
});

describe("pagewalk page-types over the whole machine", () => {
  it("walks every PFN up to max_pfn rounded up to a 128 MiB section", async () => {
    const r = await cli("page-types", SMALL, "--at", AT);
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    // 64 MiB of RAM above 16 MiB: max_pfn 0x5000, kpageflags ends at 0x8000.
    expect(lines.at(-1)).toBe("             total\t     32768      128");
    // flags 0 (holes, free non-head pages) always takes slot 0, the first row.
    expect(lines[1]).toMatch(/^0x0000000000000000\t +\d+ +\d+ {2}_{43}\t$/);
    expect(r.out).toMatch(/\tbuddy\n/);
    expect(r.out).toMatch(new RegExp(`\t +2 +0  ${sym(3, 5, 11, 12, 14)}\t`));
    const total = lines
      .slice(1, -1)
      .reduce((n, l) => n + Number(l.split("\t")[1]!.trim().split(/ +/)[0]), 0);
    expect(total).toBe(32768);
  });

  it("-a restricts the walk to PFN ranges", async () => {
    const r = await cli("page-types", SMALL, "--at", AT, "-a", "0,0x1000", "-N", "-l");
    expect(r.out).toBe(`offset\tlen\tflags\n0\t1000\t${"_".repeat(43)}\n`);
  });
});
