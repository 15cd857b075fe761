/**
 * Small helpers shared by the configuration parsers and loaders: file
 * permission checks, service names, booleans, shell-style patterns.
 *
 * @module
 */
import { SUPPORTED_MECHANISMS as SASL_MECHANISMS } from "../sasl/select.ts";
import type { FileInfo, Host } from "../../deps.ts";
import { ConfigError, PermissionError } from "../errors.ts";
import type { DsnNotify } from "./types.ts";

/** Well-known SMTP service names and their ports (the `/etc/services` entries that matter here). */
export const SERVICE_PORTS: Readonly<Record<string, number>> = Object.freeze({
  smtp: 25,
  submission: 587,
  submissions: 465,
  smtps: 465,
  ssmtp: 465,
  urd: 465,
});

/**
 * Turns a port number or service name into a number.
 *
 * @param value `"587"`, `"submission"`, …
 * @returns The port, or `undefined` when `value` is neither a port number (1–65535) nor a known service.
 * @example
 * ```ts
 * portOf("smtps"); // 465
 * ```
 */
export function portOf(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value > 0 && value < 65536 ? value : undefined;
  const v = value.trim().toLowerCase();
  if (/^\d{1,5}$/.test(v)) {
    const n = Number(v);
    return n > 0 && n < 65536 ? n : undefined;
  }
  return SERVICE_PORTS[v];
}

/**
 * Quotes a path for a shell command shown to the user (e.g. the `chmod` fix).
 *
 * @param path A file name.
 * @returns The path, single-quoted when it holds characters a shell would interpret.
 */
export function shellQuote(path: string): string {
  return /^[\w@%+=:,./~-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}

/**
 * Refuses a file whose permissions expose it.
 *
 * A file that holds secrets must not be readable by group or others; a file
 * that can make smtpsend run commands or redirect mail must not be writable by
 * them. Platforms without permission bits (`mode === null`) are not checked.
 *
 * @param path The file, as shown in the message.
 * @param info Its metadata.
 * @param secret Whether the file holds a password or passphrase.
 * @throws {ConfigError} `Refusing to read "F": it is readable by others; run: chmod 600 F`.
 */
export function checkPrivate(path: string, info: FileInfo, secret: boolean): void {
  if (info.mode === null) return;
  const fix = `run: chmod 600 ${shellQuote(path)}`;
  if ((info.mode & 0o022) !== 0) {
    throw new ConfigError(`Refusing to read "${path}": it is writable by others; ${fix}`);
  }
  if (secret && (info.mode & 0o044) !== 0) {
    throw new ConfigError(`Refusing to read "${path}": it is readable by others; ${fix}`);
  }
}

/**
 * Reads a text file through the Host, or `null` when it does not exist.
 *
 * @param host File access.
 * @param path The file.
 * @returns The file's metadata and UTF-8 text, or `null`.
 * @throws {ConfigError} When the path is not a regular file or cannot be read.
 */
export async function readTextFile(host: Host, path: string): Promise<{ info: FileInfo; text: string } | null> {
  let info: FileInfo | null;
  try {
    info = await host.stat(path);
  } catch (cause) {
    if (cause instanceof PermissionError) throw cause;
    throw new ConfigError(`Cannot read "${path}": ${errorText(cause)}`, { cause });
  }
  if (info === null) return null;
  if (!info.isFile) throw new ConfigError(`Cannot read "${path}": it is not a regular file`);
  try {
    const bytes = await host.readFile(path);
    return { info, text: new TextDecoder("utf-8").decode(bytes) };
  } catch (cause) {
    if (cause instanceof PermissionError) throw cause;
    if ((cause as { code?: unknown })?.code === "ENOENT") return null;
    throw new ConfigError(`Cannot read "${path}": ${errorText(cause)}`, { cause });
  }
}

/**
 * A short description of an unknown thrown value.
 *
 * @param err What was thrown.
 * @returns Its message.
 */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Joins a directory and a name with one slash.
 *
 * @param dir Directory.
 * @param name File name.
 * @returns `dir/name`.
 */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

/**
 * Replaces a leading `~` (alone or before `/`) by the home directory.
 *
 * @param path A file name from a configuration file.
 * @param home The home directory, when known.
 * @returns The expanded path (unchanged when there is no home).
 */
export function expandHome(path: string, home: string | undefined): string {
  if (home === undefined) return path;
  if (path === "~") return home;
  if (path.startsWith("~/")) return joinPath(home, path.slice(2));
  return path;
}

/**
 * Parses a boolean setting: on/off, yes/no, true/false, enabled/disabled, 1/0.
 *
 * @param value The value as written.
 * @returns The boolean, or `undefined` when it is not a boolean word.
 */
export function booleanOf(value: string): boolean | undefined {
  switch (value.toLowerCase()) {
    case "on": case "yes": case "true": case "enabled": case "enable": case "1":
      return true;
    case "off": case "no": case "false": case "disabled": case "disable": case "0":
      return false;
    default:
      return undefined;
  }
}

/**
 * Parses a DSN NOTIFY value: `never`, or a comma-separated list of
 * `success`, `failure`, `delay` (case-insensitive).
 *
 * @param value The value as written.
 * @returns The conditions, or `undefined` when the value is invalid.
 */
export function dsnNotifyOf(value: string): DsnNotify | undefined {
  const v = value.trim().toUpperCase();
  if (v === "NEVER") return "NEVER";
  const parts = v.split(",").map((p) => p.trim());
  const out: ("SUCCESS" | "FAILURE" | "DELAY")[] = [];
  for (const p of parts) {
    if (p !== "SUCCESS" && p !== "FAILURE" && p !== "DELAY") return undefined;
    if (!out.includes(p)) out.push(p);
  }
  return out.length > 0 ? out : undefined;
}

/**
 * Parses a DSN RET value: `full`, or `hdrs`/`headers`.
 *
 * @param value The value as written.
 * @returns `"FULL"`, `"HDRS"`, or `undefined` when invalid.
 */
export function dsnReturnOf(value: string): "FULL" | "HDRS" | undefined {
  const v = value.trim().toLowerCase();
  if (v === "full") return "FULL";
  if (v === "hdrs" || v === "headers") return "HDRS";
  return undefined;
}

/**
 * A `timeout` value in whole seconds (both formats), as milliseconds.
 *
 * @param value The value.
 * @returns Milliseconds, or `undefined` unless a positive whole number of seconds.
 */
export function timeoutMsOf(value: string): number | undefined {
  const s = /^\d+$/.test(value) ? Number(value) : 0;
  return s >= 1 ? s * 1000 : undefined;
}

/**
 * The mechanism words a configuration file or `--auth` may name: the SASL
 * layer's mechanisms (declared once, there) plus `NTLMV1`, NTLM with NTLMv1
 * responses (Exim's spa; weak, so only when named).
 */
export const SUPPORTED_MECHANISMS: readonly string[] = Object.freeze([...SASL_MECHANISMS, "NTLMV1"]);

type GlobToken =
  | { readonly kind: "char"; readonly ch: string }
  | { readonly kind: "any" }
  | { readonly kind: "star" }
  | { readonly kind: "class"; readonly negate: boolean; readonly ranges: readonly (readonly [string, string])[] };

const STAR: GlobToken = Object.freeze({ kind: "star" });
const ANY: GlobToken = Object.freeze({ kind: "any" });

/**
 * Reads a shell pattern (fnmatch(3) without flags, as msmtp uses for `from`):
 * `*` any run, `?` one character, `[abc]`, `[a-z]`, `[!abc]`/`[^abc]` one of
 * (not of) a set, `\` quotes the next character. A `]` first in a set is a
 * member; a `[` without its `]` is a literal. No RegExp is built from the
 * text, so no pattern can fail to compile or backtrack.
 *
 * @param pattern The pattern.
 * @returns Its tokens, and the first problem a user should hear about (a
 *   reversed range such as `[b-a]`, which matches nothing), or `null`.
 */
export function parseGlob(pattern: string): { tokens: GlobToken[]; problem: string | null } {
  // UTF-16 code units, as the RegExp this replaces (no "u" flag) read them.
  const p = pattern;
  const tokens: GlobToken[] = [];
  const chars = new Map<string, GlobToken>(); // one token per distinct character, not per occurrence
  const char = (ch: string): GlobToken => {
    let t = chars.get(ch);
    if (t === undefined) chars.set(ch, t = { kind: "char", ch });
    return t;
  };
  let problem: string | null = null;
  // Once a "[" at i finds no "]", no later "[" can: remember it, so that a
  // run of unclosed brackets is read in one pass, not once per bracket.
  let unclosedFrom = p.length;
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === "*") {
      if (tokens[tokens.length - 1]?.kind !== "star") tokens.push(STAR);
    } else if (c === "?") tokens.push(ANY);
    else if (c === "\\" && i + 1 < p.length) tokens.push(char(p[++i]!));
    else if (c === "[" && i >= unclosedFrom) tokens.push(char("["));
    else if (c === "[") {
      let j = i + 1;
      const negate = p[j] === "!" || p[j] === "^";
      if (negate) j++;
      const first = j;
      while (j < p.length && (p[j] !== "]" || j === first)) j++;
      if (j >= p.length) {
        unclosedFrom = i;
        tokens.push(char("["));
        continue;
      }
      const ranges: [string, string][] = [];
      for (let k = first; k < j; k++) {
        const lo = p[k]!;
        if (p[k + 1] === "-" && k + 2 < j) {
          const hi = p[k + 2]!;
          if (lo > hi) problem ??= `the range "${lo}-${hi}" is reversed and matches nothing`;
          ranges.push([lo, hi]);
          k += 2;
        } else ranges.push([lo, lo]);
      }
      tokens.push({ kind: "class", negate, ranges });
      i = j;
    } else tokens.push(char(c));
  }
  return { tokens, problem };
}

function globOne(t: GlobToken, c: string): boolean {
  if (t.kind === "any") return true;
  if (t.kind === "star") return false; // stars are handled by globMatch()
  const lower = c.toLowerCase();
  const upper = c.toUpperCase();
  if (t.kind === "char") return t.ch === c || t.ch.toLowerCase() === lower;
  const inSet = t.ranges.some(([lo, hi]) =>
    (lo <= c && c <= hi) || (lo <= lower && lower <= hi) || (lo <= upper && upper <= hi)
  );
  return inSet !== t.negate;
}

/**
 * Matches a text against a shell pattern, ignoring case. Runs in
 * O(pattern × text) steps whatever the input (a star is retried from one
 * position only, never nested).
 *
 * @param pattern E.g. `"*@example.org"` (see {@link parseGlob}).
 * @param text The text.
 * @returns `true` when the whole text matches.
 */
export function globMatch(pattern: string, text: string): boolean {
  const { tokens } = parseGlob(pattern);
  const t = text;
  let p = 0;
  let i = 0;
  let starP = -1;
  let starI = 0;
  while (i < t.length) {
    const tok = tokens[p];
    if (tok !== undefined && tok.kind === "star") {
      starP = p++;
      starI = i;
    } else if (tok !== undefined && globOne(tok, t[i]!)) {
      p++;
      i++;
    } else if (starP >= 0) {
      p = starP + 1;
      i = ++starI;
    } else return false;
  }
  while (tokens[p]?.kind === "star") p++;
  return p === tokens.length;
}

/**
 * Whether an address matches an account's `from` (address or shell pattern),
 * ignoring case.
 *
 * @param pattern The account's address or pattern.
 * @param address The envelope sender.
 * @returns `true` on a match.
 */
export function addressMatches(pattern: string, address: string): boolean {
  if (!/[*?[]/.test(pattern)) return pattern.toLowerCase() === address.toLowerCase();
  return globMatch(pattern, address);
}
