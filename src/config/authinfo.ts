/**
 * `~/.authinfo` and `~/.netrc` credentials, in the syntax Emacs auth-source
 * reads (the seeds): `machine H port P login U password W`, tokens in any
 * order, one entry per line or spread over several lines.
 *
 * Syntax accepted by {@link parseAuthinfo}:
 * - An entry starts with `machine NAME` or `default` and runs until the next
 *   `machine`/`default`, so netrc entries may span lines.
 * - Keys: `machine`, `default`, `port` (or `protocol`), `login` (or `user`),
 *   `password`; `account` is read and ignored (it is netrc's FTP account
 *   password, not a user name); other keys are ignored with their value.
 * - Tokens are separated by ASCII blanks (space, tab, CR, LF, FF, VT), as in
 *   netrc and auth-source; other Unicode spaces belong to the token. A key,
 *   machine or port holding one (a pasted U+00A0) is an error naming the line.
 * - `macdef NAME` skips the macro body up to the next empty (or blank) line (netrc).
 * - Values may be double-quoted (`"pass word"`, with `\"` and `\\` escapes;
 *   other backslashes are kept) or single-quoted (`'a"b'`, no escapes).
 * - `#` where a key is expected starts a comment to the end of the line; in a
 *   value it is data, so `password #s3cret` is the password `#s3cret`.
 * - An unquoted `machine` where a value is expected is an error (a missing
 *   value), as in auth-source; quote it (`"machine"`) to use it as data.
 *
 * Encrypted `~/.authinfo.gpg` is NOT read: smtpsend has no OpenPGP code. Keep
 * the password in a password manager and use `passwordeval`, or keep a
 * plaintext `~/.authinfo` with mode 0600.
 *
 * @module
 */
import type { Host } from "../../deps.ts";
import { ConfigError } from "../errors.ts";
import { checkPrivate, errorText, joinPath, portOf, readTextFile, shellQuote } from "./common.ts";

/** One credentials entry. */
export interface AuthinfoEntry {
  /** The host name, or `null` for the `default` entry. */
  readonly machine: string | null;
  /** Port number or service name as written (`"25"`, `"submission"`); absent matches any port. */
  readonly port?: string;
  /** The user name (`login` or `user`). */
  readonly login?: string;
  /** The password. */
  readonly password?: string;
  /** The file it came from, when known. */
  readonly file?: string;
  /** Line where the entry starts (1-based). */
  readonly line: number;
}

/** What to look credentials up for. */
export interface CredentialsQuery {
  /** The SMTP server host name (compared case-insensitively). */
  readonly host: string;
  /** The port, as a number or service name; omitted matches any entry port. */
  readonly port?: number | string;
  /** Only entries for this user (the seeds' `smtpmail-smtp-user`). */
  readonly user?: string;
}

/** Credentials files read by {@link loadAuthinfo}. */
export interface AuthinfoSources {
  /** Entries of every file read, in file order. */
  readonly entries: readonly AuthinfoEntry[];
  /** The files that existed and were read. */
  readonly files: readonly string[];
  /** Notes about files that exist but were not read (e.g. `~/.authinfo.gpg`). */
  readonly notes: readonly string[];
}

const LF = 0x0a;

/**
 * The one definition of a blank for the whole scanner (the skipper and the
 * token reader): ASCII space, tab, CR, FF and VT, as in netrc (C `isspace`)
 * and Emacs auth-source. Other Unicode spaces (U+00A0, U+2003, …) are token
 * characters there, so they are here too: the same file must mean the same
 * credentials to every program that reads it. LF is handled apart (it counts
 * lines).
 */
function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0c || c === 0x0b;
}

/** White space that is not an ASCII blank or LF. */
const UNICODE_SPACE = /[^\S \t\r\n\f\v]/u;

interface Token {
  readonly value: string;
  readonly line: number;
  readonly quoted: boolean;
}

class Scanner {
  #pos = 0;
  #line = 1;
  readonly #text: string;
  readonly #file: string;

  constructor(text: string, file: string) {
    this.#text = text;
    this.#file = file;
  }

  #skipBlanks(): void {
    const t = this.#text;
    while (this.#pos < t.length) {
      const c = t.charCodeAt(this.#pos);
      if (c === LF) this.#line++;
      else if (!isBlank(c)) return;
      this.#pos++;
    }
  }

  #skipLine(): void {
    const nl = this.#text.indexOf("\n", this.#pos);
    this.#pos = nl === -1 ? this.#text.length : nl;
  }

  /** Next token; in key position a `#` starts a comment. */
  next(keyPosition: boolean): Token | null {
    const t = this.#text;
    for (;;) {
      this.#skipBlanks();
      if (this.#pos >= t.length) return null;
      if (keyPosition && t[this.#pos] === "#") {
        this.#skipLine();
        continue;
      }
      break;
    }
    const line = this.#line;
    const q = t[this.#pos]!;
    if (q === '"' || q === "'") {
      // Copy runs between escapes in slices: one pass, no per-character concatenation.
      const parts: string[] = [];
      let from = this.#pos + 1;
      let i = from;
      for (;;) {
        const c = t[i];
        if (c === undefined || c === "\n") {
          throw new ConfigError(`${this.#file}:${line}: Unterminated ${q === '"' ? "double" : "single"} quote`);
        }
        if (c === q) break;
        if (q === '"' && c === "\\" && (t[i + 1] === '"' || t[i + 1] === "\\")) {
          parts.push(t.slice(from, i));
          from = i + 1; // the escaped character starts the next run
          i += 2;
          continue;
        }
        i++;
      }
      parts.push(t.slice(from, i));
      this.#pos = i + 1;
      return { value: parts.join(""), line, quoted: true };
    }
    const start = this.#pos;
    while (this.#pos < t.length && !isBlank(t.charCodeAt(this.#pos)) && t.charCodeAt(this.#pos) !== LF) this.#pos++;
    return { value: t.slice(start, this.#pos), line, quoted: false };
  }

  /**
   * Refuses a token holding a Unicode space (a pasted U+00A0, say): as in
   * Emacs auth-source and netrc it does not separate tokens, so a key or host
   * name holding one would be silently ignored or never match.
   */
  assertNoUnicodeSpace(token: Token, what: string): void {
    const m = UNICODE_SPACE.exec(token.value);
    if (m === null) return;
    const code = m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    throw new ConfigError(
      `${this.#file}:${token.line}: ${what} ${JSON.stringify(token.value)} contains the space character U+${code}, which does not separate tokens; use a plain space or tab`,
    );
  }

  /** Skips a netrc macro body: the rest of this line, then lines up to an empty one. */
  skipMacro(): void {
    const t = this.#text;
    this.#skipLine();
    while (this.#pos < t.length) {
      this.#pos++; // the newline
      this.#line++;
      const nl = t.indexOf("\n", this.#pos);
      const end = nl === -1 ? t.length : nl;
      let blank = true;
      for (let i = this.#pos; i < end && blank; i++) blank = isBlank(t.charCodeAt(i));
      this.#pos = end;
      if (blank) return;
    }
  }
}

/**
 * Parses an authinfo/netrc file.
 *
 * @param text The file's contents.
 * @param file The file name used in entries and error messages.
 * @returns The entries in file order.
 * @throws {ConfigError} On an unterminated quote, a key before any `machine`,
 *   `machine` where a value is expected, or a Unicode space in a key, machine
 *   or port, naming `file:line`.
 * @example
 * ```ts
 * const entries = parseAuthinfo("machine mail.example.org port 25 login myuser password mypassword\n");
 * entries[0]?.login; // "myuser"
 * ```
 */
export function parseAuthinfo(text: string, file = "authinfo"): AuthinfoEntry[] {
  const scanner = new Scanner(text, file);
  const entries: AuthinfoEntry[] = [];
  let current: { machine: string | null; port?: string; login?: string; password?: string; line: number } | null =
    null;
  const flush = (): void => {
    if (current) entries.push(Object.freeze({ ...current, file }));
    current = null;
  };
  for (;;) {
    const key = scanner.next(true);
    if (key === null) break;
    if (!key.quoted) scanner.assertNoUnicodeSpace(key, "The key");
    const k = key.value;
    if (k === "default") {
      flush();
      current = { machine: null, line: key.line };
      continue;
    }
    if (k === "macdef") {
      const name = scanner.next(false);
      if (name === null) break;
      scanner.skipMacro();
      continue;
    }
    const value = scanner.next(false);
    if (value !== null && value.value === "machine" && !value.quoted) {
      throw new ConfigError(`${file}:${value.line}: Unexpected "machine" after "${k}"; "${k}" needs a value`);
    }
    if (value !== null && !value.quoted && (k === "machine" || k === "port" || k === "protocol")) {
      scanner.assertNoUnicodeSpace(value, `The ${k}`);
    }
    if (k === "machine") {
      flush();
      if (value === null) break;
      current = { machine: value.value, line: key.line };
      continue;
    }
    if (current === null) {
      throw new ConfigError(`${file}:${key.line}: Expected "machine" or "default" before "${k}"`);
    }
    if (value === null) break; // a key without a value at the end of the file
    switch (k) {
      case "port":
      case "protocol":
        current.port = value.value;
        break;
      case "login":
      case "user":
        current.login = value.value;
        break;
      case "password":
        current.password = value.value;
        break;
      default:
        // `account` (netrc's FTP account password) and unknown keys are ignored.
        break;
    }
  }
  flush();
  return entries;
}

function sameHost(a: string, b: string): boolean {
  const norm = (h: string): string => h.trim().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "").toLowerCase();
  return norm(a) === norm(b);
}

function samePort(entryPort: string | undefined, port: number | string | undefined): boolean {
  if (entryPort === undefined || port === undefined) return true;
  const a = portOf(entryPort);
  const b = portOf(port);
  if (a !== undefined && b !== undefined) return a === b;
  return entryPort.trim().toLowerCase() === String(port).trim().toLowerCase();
}

/**
 * Finds the credentials for a server: the first `machine` entry that matches
 * host, port and user wins; `default` entries are considered only after every
 * `machine` entry, in order.
 *
 * Ports match by number, so an entry's `smtp`, `submission`, `submissions`/`smtps`
 * equal 25, 587, 465. An entry without a port matches any port. With
 * `query.user` set, only entries with that exact `login` match.
 *
 * @param entries Entries from {@link parseAuthinfo} or {@link loadAuthinfo}.
 * @param query Host, port and optional user.
 * @returns The matching entry, or `undefined`.
 * @example
 * ```ts
 * const e = findCredentials(entries, { host: "mail.example.org", port: 25 });
 * ```
 */
export function findCredentials(
  entries: readonly AuthinfoEntry[],
  query: CredentialsQuery,
): AuthinfoEntry | undefined {
  const ok = (e: AuthinfoEntry): boolean =>
    samePort(e.port, query.port) && (query.user === undefined || e.login === query.user);
  return entries.find((e) => e.machine !== null && sameHost(e.machine, query.host) && ok(e)) ??
    entries.find((e) => e.machine === null && ok(e));
}

/**
 * The default credentials files: `~/.authinfo`, then `$NETRC` or `~/.netrc`.
 *
 * @param host Environment and home directory.
 * @returns Absolute paths, in search order.
 */
export function defaultAuthinfoPaths(host: Host): string[] {
  const home = host.homeDir();
  const paths: string[] = [];
  if (home) paths.push(joinPath(home, ".authinfo"));
  const netrc = host.env("NETRC");
  if (netrc) paths.push(netrc);
  else if (home) paths.push(joinPath(home, ".netrc"));
  return paths;
}

/**
 * Reads credentials files that exist, in order. A file holding a password that
 * is readable (or writable) by group or others is refused. Encrypted
 * `*.gpg` files are not supported: given explicitly they are an error; the
 * default `~/.authinfo.gpg` only produces a note.
 *
 * @param host File access.
 * @param paths Files to read; default {@link defaultAuthinfoPaths}.
 * @returns Entries of all files (search them with {@link findCredentials}).
 * @throws {ConfigError} `Refusing to read "/home/u/.authinfo": it is readable by others; run: chmod 600 /home/u/.authinfo`,
 *   or a syntax error naming `file:line`.
 * @example
 * ```ts
 * const { entries } = await loadAuthinfo(host);
 * const cred = findCredentials(entries, { host: "smtp.example.org", port: 587 });
 * ```
 */
export async function loadAuthinfo(host: Host, paths?: readonly string[]): Promise<AuthinfoSources> {
  const entries: AuthinfoEntry[] = [];
  const files: string[] = [];
  const notes: string[] = [];
  const list = paths ?? defaultAuthinfoPaths(host);
  for (const path of list) {
    if (/\.gpg$/i.test(path)) {
      throw new ConfigError(
        `Cannot read "${path}": encrypted authinfo files are not supported; use passwordeval with your password manager, or a plaintext file with mode 0600`,
      );
    }
    const file = await readTextFile(host, path);
    if (file === null) continue;
    const parsed = parseAuthinfo(file.text, path);
    checkPrivate(path, file.info, parsed.some((e) => e.password !== undefined));
    entries.push(...parsed);
    files.push(path);
  }
  const home = host.homeDir();
  if (paths === undefined && home) {
    const gpg = joinPath(home, ".authinfo.gpg");
    try {
      if (await host.stat(gpg)) {
        notes.push(`"${gpg}" is encrypted and was not read: smtpsend does not decrypt OpenPGP files`);
      }
    } catch {
      // only a note; ignore
    }
  }
  return { entries, files, notes };
}

/** A new credentials entry to save. */
export interface NewAuthinfoEntry {
  /** Host name (required: smtpsend never writes `default` entries). */
  readonly machine: string;
  /** Port number or service name. */
  readonly port?: number | string;
  /** User name. */
  readonly login?: string;
  /** Password. */
  readonly password?: string;
}

/**
 * Quotes a value so that smtpsend and Emacs auth-source both read it back
 * unchanged where possible: bare when safe, else `"…"`, else `'…'`; only a
 * value holding both quote kinds plus a backslash or `"` needs smtpsend's
 * `\"` escapes.
 *
 * @param value The value.
 * @returns The token to write.
 */
export function quoteAuthinfoValue(value: string): string {
  if (value !== "" && !/\s/.test(value) && !/^["'#]/.test(value)) return value;
  if (!/["\\]/.test(value)) return `"${value}"`;
  if (!value.includes("'")) return `'${value}'`;
  return `"${value.replace(/[\\"]/g, "\\$&")}"`;
}

/**
 * Formats one entry as an authinfo line (`machine H port P login U password W`).
 *
 * @param entry The entry.
 * @returns The line, with a trailing newline.
 * @throws {TypeError} When a value contains a line break or NUL, or the machine is empty.
 */
export function formatAuthinfoEntry(entry: NewAuthinfoEntry): string {
  const parts: string[] = [];
  const add = (key: string, value: string | number | undefined): void => {
    if (value === undefined) return;
    const v = String(value);
    if (/[\r\n\0]/.test(v)) throw new TypeError(`The authinfo ${key} must not contain line breaks`);
    parts.push(key, quoteAuthinfoValue(v));
  };
  if (!entry.machine) throw new TypeError("The authinfo machine must not be empty");
  add("machine", entry.machine);
  add("port", entry.port);
  add("login", entry.login);
  add("password", entry.password);
  return parts.join(" ") + "\n";
}

/**
 * Appends an entry to a credentials file (the "offer to save" flow of the
 * seeds), creating it with mode 0600. An existing file that others can read
 * or write is refused rather than extended with a password.
 *
 * @param host File access.
 * @param path The file, usually `~/.authinfo`.
 * @param entry What to save.
 * @throws {ConfigError} On unsafe permissions or a write failure.
 * @example
 * ```ts
 * await appendAuthinfo(host, "/home/u/.authinfo", { machine: "smtp.example.org", port: 587, login: "u", password: "p" });
 * ```
 */
export async function appendAuthinfo(host: Host, path: string, entry: NewAuthinfoEntry): Promise<void> {
  let line = formatAuthinfoEntry(entry);
  const existing = await readTextFile(host, path);
  if (existing !== null) {
    checkPrivate(path, existing.info, true);
    if (existing.text !== "" && !existing.text.endsWith("\n")) line = "\n" + line;
  }
  try {
    await host.appendFile(path, new TextEncoder().encode(line), { mode: 0o600 });
  } catch (cause) {
    throw new ConfigError(`Cannot write "${path}": ${errorText(cause)}`, { cause });
  }
  const after = await host.stat(path);
  if (after && after.mode !== null && (after.mode & 0o077) !== 0) {
    throw new ConfigError(
      `"${path}" was saved but is accessible by others; run: chmod 600 ${shellQuote(path)}`,
    );
  }
}
