/**
 * Errors of scenario files (found while parsing) and of the simulated kernel
 * (found while running). Also a small JSON scanner that locates syntax errors
 * and duplicate keys, which `JSON.parse` does not report (or not with a position).
 */

/** Where in a scenario a problem lies. */
export interface ScenarioErrorLocation {
  /** The scenario file, when known. */
  file?: string;
  /** The part of the file: top level, `setup`, or a step. */
  section?: "top" | "setup" | "step";
  /** Step number (position in `steps`, from 0). */
  step?: number;
  /** The step's op, when it has a valid one. */
  op?: string;
  /** The offending field as written ("prot", "backing.size", "what[1]"). */
  field?: string;
  /** The offending value as written. */
  value?: unknown;
}

/**
 * A scenario file that is malformed or inconsistent. The message names the
 * file, the step (or `setup`), the field and the offending value, e.g.
 * `s.json: step 3 (mprotect): field "prot": bad value "rwz" (expected one of r, rw, rx, rwx, none)`.
 */
export class ScenarioError extends Error {
  override readonly name = "ScenarioError";
  readonly file?: string;
  readonly section: "top" | "setup" | "step";
  readonly step?: number;
  readonly op?: string;
  readonly field?: string;
  readonly value?: unknown;
  /** The message without its location prefix. */
  readonly detail: string;

  /** Builds the error; `detail` is the message after the location prefix. */
  constructor(detail: string, where: ScenarioErrorLocation = {}) {
    super(formatScenarioMessage(detail, where));
    this.detail = detail;
    this.file = where.file;
    this.section = where.section ?? (where.step !== undefined ? "step" : "top");
    this.step = where.step;
    this.op = where.op;
    this.field = where.field;
    this.value = where.value;
  }
}

/** Formats `<file>: step N (op): field "f": detail` (omitting the parts not known). */
export function formatScenarioMessage(detail: string, where: ScenarioErrorLocation): string {
  let out = where.file !== undefined ? `${where.file}: ` : "";
  if (where.step !== undefined) {
    out += `step ${where.step}${where.op !== undefined ? ` (${where.op})` : ""}: `;
  } else if (where.section === "setup") {
    out += "setup: ";
  }
  if (where.field !== undefined) out += `field "${where.field}": `;
  return out + detail;
}

/** Renders a value as written in JSON, shortened for messages. */
export function showValue(value: unknown): string {
  let text: string;
  try {
    text = value === undefined ? "undefined" : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * A refusal by the simulated kernel: the operation fails with `errno` (a
 * name such as "EINVAL"). A step with a matching `expect_error` accepts it.
 */
export class KernelError extends Error {
  override readonly name = "KernelError";
  readonly errno: string;

  /** `errno` is the errno name; `message` says why (defaults to the name). */
  constructor(errno: string, message?: string) {
    super(message === undefined ? errno : `${errno}: ${message}`);
    this.errno = errno;
  }
}

/** A problem in JSON text: a syntax error, or a key given twice in one object. */
export interface JsonProblem {
  /** Offset of the problem in the text (UTF-16 units). */
  offset: number;
  message: string;
  /** For a duplicate key: the path to it (object keys and array indices). */
  path?: (string | number)[];
}

class JsonSyntax {
  constructor(
    readonly offset: number,
    readonly message: string,
  ) {}
}

/**
 * Scans JSON text and returns its first syntax error, or (for valid text)
 * the first key given twice in one object; undefined when neither.
 */
export function findJsonProblem(text: string): JsonProblem | undefined {
  let i = 0;
  let dup: JsonProblem | undefined;
  const err = (message: string, at = i): never => {
    throw new JsonSyntax(at, message);
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const str = (): string => {
    const start = i++;
    while (i < text.length && text[i] !== '"') {
      const c = text.charCodeAt(i);
      if (c < 0x20) err("control character in a string");
      if (text[i] === "\\") {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) err("bad \\u escape");
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else err("bad escape in a string");
      } else i++;
    }
    if (i >= text.length) err("unterminated string", start);
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (path: (string | number)[], depth: number): void => {
    if (depth > 512) err("nesting too deep");
    ws();
    const c = text[i];
    if (c === undefined) err("unexpected end of input");
    if (c === "{") {
      i++;
      const seen = new Set<string>();
      ws();
      if (text[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') err("expected a double-quoted property name");
        const keyAt = i;
        const key = str();
        if (seen.has(key) && dup === undefined) {
          dup = { offset: keyAt, message: `duplicate key "${key}"`, path: [...path, key] };
        }
        seen.add(key);
        ws();
        if (text[i] !== ":") err("expected ':' after a property name");
        i++;
        value([...path, key], depth + 1);
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") {
          i++;
          return;
        } else err("expected ',' or '}' after a property value");
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") {
        i++;
        return;
      }
      for (let n = 0; ; n++) {
        value([...path, n], depth + 1);
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") {
          i++;
          return;
        } else err("expected ',' or ']' after an array element");
      }
    }
    if (c === '"') {
      str();
      return;
    }
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (m !== null) {
      i += m[0].length;
      return;
    }
    for (const lit of ["true", "false", "null"]) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return;
      }
    }
    err(`unexpected character ${JSON.stringify(c)}`);
  };
  try {
    value([], 0);
    ws();
    if (i < text.length) err("unexpected text after the JSON value");
  } catch (e) {
    if (e instanceof JsonSyntax) return { offset: e.offset, message: e.message };
    throw e;
  }
  return dup;
}

/** 1-based line and column of `offset` in `text`. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}
