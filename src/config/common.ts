/**
 * Small helpers shared by the configuration parsers and loaders: file
 * permission checks, service names, booleans, shell-style patterns.
 *
 * @module
 */
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

/** SASL mechanisms smtpsend implements (declared once, in the SASL layer). */
export { SUPPORTED_MECHANISMS } from "../sasl/select.ts";

/**
 * Compiles a shell-style pattern (`*`, `?`, `[abc]`, `[!abc]`) into an
 * anchored, case-insensitive regular expression.
 *
 * @param pattern E.g. `"*@example.org"`.
 * @returns The regular expression.
 */
export function globToRegExp(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end === -1) {
        re += "\\[";
        continue;
      }
      let body = pattern.slice(i + 1, end);
      const negate = body.startsWith("!") || body.startsWith("^");
      if (negate) body = body.slice(1);
      re += `[${negate ? "^" : ""}${body.replace(/[\\\]^]/g, "\\$&")}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\/]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, "i");
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
  return globToRegExp(pattern).test(address);
}
