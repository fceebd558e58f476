/**
 * Parsing and static validation of scenario files (`shared/spec/scenario.md`
 * and `scenario-model.md`). Everything that can be checked without
 * simulating is checked here: shapes, names, sizes and alignment, and the
 * bookkeeping of regions, files and processes along the steps.
 */
import { readFileSync } from "node:fs";
import { findJsonProblem, lineColumn, ScenarioError, showValue } from "./errors.js";
import {
  ARCH_NAMES,
  type ArchName,
  type Backing,
  DEFAULT_OBSERVE_WHAT,
  ERRNO_NAMES,
  type FileFs,
  MADVISE_ADVICE,
  MBIND_FLAGS,
  MEMPOLICY_MODES,
  MIGRATE_PHASES,
  MREMAP_FLAGS,
  OBSERVE_WHAT,
  OP_FIELDS,
  PAGEMAP_SCAN_ALL_CATEGORIES,
  PAGEMAP_SCAN_CATEGORIES,
  PAGEMAP_SCAN_FLAGS,
  PROT_NAMES,
  type Prot,
  type ProtName,
  type RangeFields,
  SCENARIO_FORMAT,
  SCENARIO_KEYS,
  type Scenario,
  type Setup,
  STEP_OPS,
  type Step,
  type StepBase,
  type StepOp,
  UFFD_MODES,
} from "./types.js";
import {
  ARCH_INFO,
  type ArchScenarioInfo,
  FieldReader,
  formatSize,
  isRecord,
  parseSetup,
  parseSize,
  type ReadContext,
} from "./values.js";

/** Options of {@link parseScenario}. */
export interface ParseOptions {
  /** The file name errors are reported against. */
  file?: string;
}

/** Steps that act on the whole system rather than on one process. */
const GLOBAL_OPS: readonly StepOp[] = ["ksm_merge", "observe"];
const FILE_NAME_RE = /^(?!\.\.?$)[A-Za-z0-9._-]+$/;

/**
 * Validates a parsed JSON value as a scenario and returns it normalised
 * (defaults filled in, sizes and addresses in bytes, fields camelCase).
 * Throws a {@link ScenarioError} naming the step, field and value at fault.
 */
export function parseScenario(json: unknown, opts: ParseOptions = {}): Scenario {
  const file = opts.file;
  const top: ReadContext = { file, section: "top" };
  if (!isRecord(json)) {
    throw new ScenarioError(`bad value ${showValue(json)} (expected a JSON object)`, {
      ...top,
      value: json,
    });
  }
  // The format first: a file of another format fails on that, not on its keys.
  if (json.format !== SCENARIO_FORMAT) {
    const detail =
      json.format === undefined
        ? "missing required field"
        : `bad value ${showValue(json.format)} (expected "${SCENARIO_FORMAT}")`;
    throw new ScenarioError(detail, { ...top, field: "format", value: json.format });
  }
  const r: FieldReader = new FieldReader(json, top, SCENARIO_KEYS);
  const name = r.need("name", r.string("name"));
  const description = r.text("description") ?? "";
  const arch: ArchName = r.oneOf("arch", ARCH_NAMES) ?? "x86_64";
  const setup = parseSetup(r.get("setup"), arch, file);
  const rawSteps = r.need("steps", r.get("steps"));
  if (!Array.isArray(rawSteps)) r.bad("steps", "a list of steps");
  const tracker = new Tracker(ARCH_INFO[arch], arch, setup, file);
  const steps = rawSteps.map((raw: unknown, index: number) => tracker.step(raw, index));
  return { format: SCENARIO_FORMAT, name, description, arch, setup, steps };
}

/**
 * Reads a scenario file and parses it with {@link parseScenario}. Bad JSON is
 * reported with the file name, line and column; so is a key given twice in
 * one object (which `JSON.parse` would silently resolve).
 */
export function loadScenarioFile(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new ScenarioError(`cannot read the file: ${why}`, { file: path });
  }
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const problem = findJsonProblem(text);
    const why = problem?.message ?? (e instanceof Error ? e.message : String(e));
    const { line, column } = lineColumn(text, problem?.offset ?? text.length);
    throw new ScenarioError(`invalid JSON at line ${line}, column ${column}: ${why}`, {
      file: path,
    });
  }
  const dup = findJsonProblem(text);
  if (dup?.path !== undefined) throw duplicateKeyError(json, dup.path, text, dup.offset, path);
  return parseScenario(json, { file: path });
}

function duplicateKeyError(
  json: unknown,
  path: (string | number)[],
  text: string,
  offset: number,
  file: string,
): ScenarioError {
  const { line, column } = lineColumn(text, offset);
  const detail = `key given twice (at line ${line}, column ${column})`;
  const fieldOf = (rest: (string | number)[]) =>
    rest.map((p, i) => (typeof p === "number" ? `[${p}]` : i > 0 ? `.${p}` : p)).join("");
  const [head, second] = path;
  if (head === "steps" && typeof second === "number" && path.length > 2) {
    const steps = isRecord(json) && Array.isArray(json.steps) ? json.steps : [];
    const raw: unknown = steps[second];
    const op = isRecord(raw) && typeof raw.op === "string" ? raw.op : undefined;
    return new ScenarioError(detail, { file, step: second, op, field: fieldOf(path.slice(2)) });
  }
  if (head === "setup" && path.length > 1) {
    return new ScenarioError(detail, { file, section: "setup", field: fieldOf(path.slice(1)) });
  }
  return new ScenarioError(detail, { file, field: fieldOf(path) });
}

/** What the parser knows of a process at a point of the steps. */
interface ProcState {
  createdAt: number | undefined;
  exitedAt?: number;
  /** Regions this process certainly holds, with their length while known. */
  maps: Map<string, number | undefined>;
  /** Regions this process certainly no longer holds, with the reason. */
  gone: Map<string, string>;
}

const PROTS: Readonly<Record<ProtName, Prot>> = {
  r: { read: true, write: false, exec: false },
  rw: { read: true, write: true, exec: false },
  rx: { read: true, write: false, exec: true },
  rwx: { read: true, write: true, exec: true },
  none: { read: false, write: false, exec: false },
};

/** Walks the steps in order, parsing each and keeping the bookkeeping. */
class Tracker {
  private readonly procs = new Map<string, ProcState>([
    ["p0", { createdAt: undefined, maps: new Map(), gone: new Map() }],
  ]);
  private readonly regions = new Map<string, number>();
  private readonly files = new Map<string, { size: number; fs: FileFs; step: number }>();
  private readonly page: { align: number; alignName: string };

  constructor(
    private readonly info: ArchScenarioInfo,
    private readonly arch: ArchName,
    private readonly setup: Setup,
    private readonly file: string | undefined,
  ) {
    this.page = { align: info.pageSize, alignName: `the page size ${info.pageSize}` };
  }

  step(raw: unknown, index: number): Step {
    const ctx: ReadContext = { file: this.file, section: "step", step: index };
    if (!isRecord(raw)) {
      throw new ScenarioError(`bad value ${showValue(raw)} (expected an object with "op")`, {
        ...ctx,
        value: raw,
      });
    }
    const opValue = raw.op;
    if (typeof opValue !== "string" || !(STEP_OPS as readonly string[]).includes(opValue)) {
      const detail =
        opValue === undefined
          ? "missing required field"
          : `bad value ${showValue(opValue)} (expected one of ${STEP_OPS.join(", ")})`;
      throw new ScenarioError(detail, { ...ctx, field: "op", value: opValue });
    }
    const op = opValue as StepOp;
    const r: FieldReader = new FieldReader(raw, { ...ctx, op }, [
      "op",
      ...OP_FIELDS[op],
      "expect_error",
    ]);
    const errno = r.oneOf("expect_error", ERRNO_NAMES);
    const given = OP_FIELDS[op].includes("proc") ? r.string("proc") : undefined;
    const proc = given ?? "p0";
    if (!GLOBAL_OPS.includes(op) && (op !== "khugepaged" || given !== undefined)) {
      this.checkLive(r, "proc", proc, given === undefined);
    }
    const base: StepBase = { index, proc };
    if (errno !== undefined) base.expectError = errno === "ENOTSUP" ? "EOPNOTSUPP" : errno;
    return this.body(op, r, base);
  }

  private body(op: StepOp, r: FieldReader, base: StepBase): Step {
    const { proc, index } = base;
    const failing = base.expectError !== undefined;
    switch (op) {
      case "mmap":
        return this.mmap(r, base);
      case "munmap": {
        const range = this.range(r, proc);
        const st = this.procs.get(proc)!;
        const known = st.maps.get(range.region);
        if (!failing && st.maps.has(range.region)) {
          const whole =
            range.off === 0 &&
            (range.len === undefined || (known !== undefined && range.len >= known));
          if (whole) {
            st.maps.delete(range.region);
            st.gone.set(range.region, `${proc} unmapped it whole at step ${index}`);
          } else st.maps.set(range.region, undefined);
        }
        return { ...base, op, ...range };
      }
      case "mprotect": {
        const range = this.range(r, proc);
        return { ...base, op, ...range, prot: PROTS[r.need("prot", r.oneOf("prot", PROT_NAMES))] };
      }
      case "touch": {
        const range = this.range(r, proc);
        const access = r.need("access", r.oneOf("access", ["read", "write"] as const));
        const fill = r.int("fill", 0, 255);
        return { ...base, op, ...range, access, ...(fill !== undefined && { fill }) };
      }
      case "madvise": {
        const range = this.range(r, proc);
        return {
          ...base,
          op,
          ...range,
          advice: r.need("advice", r.oneOf("advice", MADVISE_ADVICE)),
        };
      }
      case "mlock":
        return { ...base, op, ...this.range(r, proc), onfault: r.bool("onfault") ?? false };
      case "munlock":
      case "hwpoison":
      case "device_private":
      case "device_exclusive":
        return { ...base, op, ...this.range(r, proc) };
      case "mremap":
        return this.mremap(r, base);
      case "fork": {
        const child = r.need("child", r.string("child"));
        const existing = this.procs.get(child);
        if (existing !== undefined) {
          const when =
            existing.createdAt === undefined
              ? "exists from the start"
              : `was created at step ${existing.createdAt}`;
          r.bad("child", `a new process name: ${child} ${when}`);
        }
        if (!failing) {
          const parent = this.procs.get(proc)!;
          this.procs.set(child, {
            createdAt: index,
            maps: new Map(parent.maps),
            gone: new Map(parent.gone),
          });
        }
        return { ...base, op, child };
      }
      case "exit":
        if (!failing) this.procs.get(proc)!.exitedAt = index;
        return { ...base, op };
      case "uffd_register": {
        const range = this.range(r, proc);
        const mode = r.need("mode", r.names("mode", UFFD_MODES, { nonEmpty: true }));
        const asyncWp = r.bool("async_wp") ?? false;
        if (asyncWp && (mode.length !== 1 || mode[0] !== "wp"))
          r.bad("async_wp", 'false unless mode is ["wp"]');
        return { ...base, op, ...range, mode, asyncWp };
      }
      case "uffd_wp":
        return { ...base, op, ...this.range(r, proc), enable: r.need("enable", r.bool("enable")) };
      case "clear_refs": {
        const value = r.need("value", r.int("value", 1, 5)) as 1 | 2 | 3 | 4 | 5;
        return { ...base, op, value };
      }
      case "pagemap_scan":
        return this.pagemapScan(r, base);
      case "ksm_merge":
        return { ...base, op };
      case "observe": {
        const what = r.names("what", OBSERVE_WHAT, { nonEmpty: true }) ?? [...DEFAULT_OBSERVE_WHAT];
        const procs = r.list(
          "procs",
          (el, bad, field) => {
            if (typeof el !== "string" || el.length === 0) return bad("a process name");
            this.checkLive(r, field, el, false);
            return el;
          },
          { nonEmpty: true },
        );
        const label = r.text("label") ?? `step ${index}`;
        return { ...base, op, label, what, ...(procs !== undefined && { procs }) };
      }
      case "mbind": {
        const range = this.range(r, proc);
        const policy = r.need("policy", r.oneOf("policy", MEMPOLICY_MODES));
        const flags = r.names("flags", MBIND_FLAGS) ?? [];
        return { ...base, op, ...range, policy, nodes: this.nodes(r), flags };
      }
      case "set_mempolicy": {
        const policy = r.need("policy", r.oneOf("policy", MEMPOLICY_MODES));
        return { ...base, op, policy, nodes: this.nodes(r) };
      }
      case "migrate": {
        const range = this.range(r, proc);
        const toNode = r.need("to_node", r.int("to_node", 0, this.setup.nodes - 1));
        const phase = r.oneOf("phase", MIGRATE_PHASES) ?? "all";
        const undo = r.bool("undo") ?? false;
        if (undo && phase !== "end") r.bad("undo", 'false unless phase is "end"');
        return { ...base, op, ...range, toNode, phase, undo };
      }
      case "split_thp": {
        const range = this.range(r, proc);
        const toOrder = r.int("to_order", 0, 30);
        return { ...base, op, ...range, ...(toOrder !== undefined && { toOrder }) };
      }
      case "khugepaged":
        return { ...base, op, allProcs: !r.has("proc") };
      default: {
        const never: never = op;
        throw new Error(`internal: op ${String(never)} not handled`);
      }
    }
  }

  private mmap(r: FieldReader, base: StepBase): Step {
    const { proc, index } = base;
    const region = r.need("region", r.string("region"));
    const earlier = this.regions.get(region);
    if (earlier !== undefined)
      r.bad("region", `a new region name: ${region} was mapped at step ${earlier}`);
    const addr = r.need("addr", r.address("addr", this.page.align, this.page.alignName));
    const len = r.need("len", r.size("len", { ...this.page, min: this.info.pageSize }));
    if (!Number.isSafeInteger(addr + len)) r.bad("len", "a length ending below 2^53");
    const prot = PROTS[r.need("prot", r.oneOf("prot", PROT_NAMES))];
    const share = r.oneOf("share", ["private", "shared"] as const) ?? "private";
    const backing = this.backing(r, index);
    if (backing.kind === "hugetlb") {
      const alignName = `the hugetlb page size ${backing.sizeName}`;
      if (addr % backing.size !== 0) r.bad("addr", `a multiple of ${alignName}`);
      if (len % backing.size !== 0) r.bad("len", `a multiple of ${alignName}`);
    }
    const populate = r.bool("populate") ?? false;
    this.regions.set(region, index);
    const st = this.procs.get(proc)!;
    if (base.expectError === undefined) st.maps.set(region, len);
    else st.gone.set(region, `its mmap at step ${index} was expected to fail`);
    return { ...base, op: "mmap", region, addr, len, prot, share, backing, populate };
  }

  private backing(r: FieldReader, index: number): Backing {
    const v = r.get("backing");
    const expected = '"anon", {"file": ..., "size": ...} or {"hugetlb": "2M"}';
    if (v === undefined || v === "anon") return { kind: "anon" };
    if (!isRecord(v)) r.bad("backing", expected);
    if (Object.hasOwn(v, "hugetlb")) {
      const b: FieldReader = r.object("backing", ["hugetlb"])!;
      const bytes = parseSize(b.get("hugetlb"));
      const entry = this.info.hugetlbSizes.find(([, s]) => s === bytes);
      if (entry === undefined) {
        const names = this.info.hugetlbSizes.map(([n]) => n).join(", ");
        b.bad("hugetlb", `one of the hugetlb sizes ${this.arch} offers: ${names}`);
      }
      return { kind: "hugetlb", size: entry[1], sizeName: entry[0] };
    }
    if (!Object.hasOwn(v, "file")) r.bad("backing", expected);
    const b: FieldReader = r.object("backing", ["file", "size", "fs", "off_in_file"])!;
    const file = b.need("file", b.string("file"));
    if (!FILE_NAME_RE.test(file)) b.bad("file", "a file name of letters, digits, '.', '_' or '-'");
    const size = b.need("size", b.size("size", this.page));
    const fs = b.oneOf("fs", ["tmpfs", "disk"] as const) ?? "tmpfs";
    const offInFile = b.size("off_in_file", this.page) ?? 0;
    const prev = this.files.get(file);
    if (prev !== undefined && prev.size !== size) {
      b.bad(
        "size",
        `${formatSize(prev.size)}, as file ${file} was first mapped at step ${prev.step}`,
      );
    }
    if (prev !== undefined && prev.fs !== fs) {
      b.bad("fs", `"${prev.fs}", as file ${file} was first mapped at step ${prev.step}`);
    }
    if (prev === undefined) this.files.set(file, { size, fs, step: index });
    return { kind: "file", file, size, fs, offInFile };
  }

  private mremap(r: FieldReader, base: StepBase): Step {
    const range = this.range(r, base.proc);
    const newLen = r.size("new_len", this.page);
    const flags = r.names("flags", MREMAP_FLAGS) ?? [];
    const newAddr = r.address("new_addr", this.page.align, this.page.alignName);
    if (flags.includes("fixed") && newAddr === undefined) {
      r.fail("new_addr", 'missing required field (flag "fixed" needs the destination)', undefined);
    }
    if (newAddr !== undefined && !flags.includes("fixed") && !flags.includes("dontunmap")) {
      r.bad("new_addr", 'no new_addr without flag "fixed" or "dontunmap"');
    }
    const st = this.procs.get(base.proc)!;
    if (base.expectError === undefined && st.maps.has(range.region))
      st.maps.set(range.region, undefined);
    return {
      ...base,
      op: "mremap",
      ...range,
      ...(newLen !== undefined && { newLen }),
      flags,
      ...(newAddr !== undefined && { newAddr }),
    };
  }

  private pagemapScan(r: FieldReader, base: StepBase): Step {
    const range = this.range(r, base.proc);
    const cats = PAGEMAP_SCAN_CATEGORIES;
    const vecLen = r.int("vec_len", 0);
    const step: Step = {
      ...base,
      op: "pagemap_scan",
      ...range,
      flags: r.mask("flags", PAGEMAP_SCAN_FLAGS) ?? 0,
      categoryMask: r.mask("category_mask", cats) ?? 0,
      categoryInverted: r.mask("category_inverted", cats) ?? 0,
      categoryAnyofMask: r.mask("category_anyof_mask", cats) ?? 0,
      returnMask: r.mask("return_mask", cats) ?? PAGEMAP_SCAN_ALL_CATEGORIES,
      maxPages: r.int("max_pages", 0) ?? 0,
      ...(vecLen !== undefined && { vecLen }),
    };
    const raw = r.object("raw", ["size", "start_offset", "end_offset", "end", "vec"]);
    if (raw !== undefined) {
      const signed = { min: Number.MIN_SAFE_INTEGER };
      const fields = {
        size: raw.int("size", 0),
        startOffset: raw.size("start_offset", signed),
        endOffset: raw.size("end_offset", signed),
        end: raw.address("end"),
        vec: raw.int("vec", 0, 0) as 0 | undefined,
      };
      step.raw = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
    }
    return step;
  }

  /** `region`, `off`, `len` of a range step, the region checked against the bookkeeping. */
  private range(r: FieldReader, proc: string): RangeFields {
    const region = r.need("region", r.string("region"));
    if (!this.regions.has(region)) {
      const known = [...this.regions.keys()];
      r.bad(
        "region",
        `a region an earlier mmap created${known.length > 0 ? `: ${known.join(", ")}` : " (none so far)"}`,
      );
    }
    const gone = this.procs.get(proc)!.gone.get(region);
    if (gone !== undefined) r.bad("region", `a region ${proc} still maps: ${gone}`);
    const off = r.size("off", this.page) ?? 0;
    const len = r.size("len", this.page);
    return { region, off, ...(len !== undefined && { len }) };
  }

  private nodes(r: FieldReader): number[] {
    return (
      r.list("nodes", (el, bad) =>
        typeof el === "number" && Number.isSafeInteger(el) && el >= 0
          ? el
          : bad("a node number >= 0"),
      ) ?? []
    );
  }

  /** Checks that `name` (the value of `field`) is a process that exists and has not exited. */
  private checkLive(r: FieldReader, field: string, name: string, defaulted: boolean): void {
    const st = this.procs.get(name);
    const live = [...this.procs].filter(([, p]) => p.exitedAt === undefined).map(([n]) => n);
    const liveText = live.length > 0 ? live.join(", ") : "none left";
    if (st === undefined) r.bad(field, `a live process: ${liveText}`, name);
    if (st.exitedAt === undefined) return;
    if (defaulted) {
      r.fail(field, `missing, and the default process p0 exited at step ${st.exitedAt}`, undefined);
    }
    r.bad(field, `a live process (${name} exited at step ${st.exitedAt}): ${liveText}`, name);
  }
}
