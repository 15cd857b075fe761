/**
 * The esmtp configuration format (esmtprc(5)), smtpsend's native format for
 * `~/.smtpsendrc`, also read from `~/.esmtprc`.
 *
 * Syntax: statements `keyword [=] value`, usually one per line; as in
 * esmtp, whose lexer ignores newlines, several may share a line. A value
 * starts on its keyword's line and is a bare word or enclosed in double or
 * single quotes; C escapes (`\n`, `\t`, `\\`, `\"`, `\xHH`, `\0ooo`) apply
 * inside and outside quotes, as in esmtp. A `#` that starts a word begins a
 * comment to the end of the line (inside a word it is data). Keywords are
 * case-insensitive. A value with spaces must be quoted. Blanks are ASCII
 * space, tab, CR, FF and VT; another Unicode space (a pasted U+00A0) outside
 * quotes is an error naming the line.
 *
 * Structure: settings before the first `identity ADDRESS` (or
 * `identity = ADDRESS`) form the account named `"default"`; each identity
 * is an account chosen by the envelope sender; settings are NOT inherited.
 * `default` marks the current identity as the default; without it the first
 * block with a setting is (esmtp's rule). `mda` is global, as in esmtp.
 *
 * esmtp keywords: `hostname`/`host` (`host[:port]`, `[ipv6]:port`; the port
 * may be a service name; default 587), `username`/`user`, `password`/`pass`,
 * `starttls`/`tls` (`enabled|disabled|required`), `certificate_passphrase`/
 * `passphrase`, `helo`, `qualifydomain`, `force sender`, `force
 * reverse_path`, `mda`, `identity`, `default`. `preconnect` and
 * `postconnect` are rejected: smtpsend runs no shell commands around a
 * connection (start an ssh tunnel yourself).
 *
 * smtpsend keywords: `tls` also takes `none`, `starttls` (= required),
 * `starttls-required`, `starttls-opportunistic`, `implicit`; `port`,
 * `auth` (on/off/mechanism), `passwordeval` (shell command line),
 * `ca_file`, `cert_file`, `key_file`, `requires_auth` (on/off or a regular
 * expression matched against the server name), `queue`, `queue_dir`,
 * `tls_verify` (discouraged), `force_mda`, `timeout` (seconds or off),
 * `dsn_notify`, `dsn_return`, `allow_plaintext_auth`, `message_id`,
 * `pipelining`, and `force_sender`/`force_reverse_path` spellings.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import {
  booleanOf,
  dsnNotifyOf,
  dsnReturnOf,
  expandHome,
  portOf,
  SUPPORTED_MECHANISMS,
  timeoutMsOf,
} from "./common.ts";
import { shellCommand } from "./passwordeval.ts";
import type { Account, ConfigFormat, ParsedConfig, TlsMode } from "./types.ts";

/** Options of {@link parseRcfile}. */
export interface RcfileOptions {
  /** File name for messages and {@link Account.source}. Default `"smtpsendrc"`. */
  readonly file?: string;
  /** `"smtpsend"` (default) or `"esmtp"`; only recorded in the result. */
  readonly format?: Extract<ConfigFormat, "smtpsend" | "esmtp">;
  /** Home directory for `~/` in file names. */
  readonly home?: string;
}

/** Port esmtp uses when `hostname` gives none. */
export const ESMTP_DEFAULT_PORT = 587;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface Block {
  name: string;
  line: number | null;
  used: boolean;
  fields: Partial<Mutable<Account>>;
  portExplicit: boolean;
}

/** Up to `max` digits of `radix` at `s[i]…`: their count and value. */
function digits(s: string, i: number, max: number, radix: number): { n: number; value: number } {
  let n = 0;
  let value = 0;
  while (n < max && i + n < s.length) {
    const d = parseInt(s[i + n]!, radix);
    if (Number.isNaN(d)) break;
    value = value * radix + d;
    n++;
  }
  return { n, value };
}

/**
 * C-style escapes as esmtp's lexer processes them. One pass: runs without
 * escapes are copied as slices, and each escape reads at most three
 * characters (no slice of the rest of the text per escape).
 */
function unescape(s: string): string {
  if (!s.includes("\\")) return s;
  const out: string[] = [];
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== "\\" || i + 1 >= s.length) continue;
    out.push(s.slice(from, i));
    const n = s[++i]!;
    if (n === "x" || n === "X") {
      const h = digits(s, i + 1, 2, 16);
      out.push(String.fromCharCode(h.value));
      i += h.n;
    } else if (n === "0") {
      const o = digits(s, i + 1, 2, 8);
      out.push(String.fromCharCode(o.value));
      i += o.n;
    } else if (n >= "1" && n <= "9") {
      const d = digits(s, i + 1, 2, 10);
      out.push(String.fromCharCode(Number(n) * 10 ** d.n + d.value));
      i += d.n;
    } else {
      out.push(n === "n" ? "\n" : n === "t" ? "\t" : n === "b" ? "\b" : n === "r" ? "\r" : n);
    }
    from = i + 1;
  }
  out.push(s.slice(from));
  return out.join("");
}

/**
 * The one definition of a blank for the whole scanner (skipping between
 * statements, around `=`, and ending a bare word): ASCII space, tab, CR, FF,
 * VT, as in esmtp's lexer; LF is handled apart (it counts lines). Other
 * Unicode spaces (U+00A0, …) are not blanks: outside quotes they are an
 * error naming the line (a pasted non-breaking space), inside quotes data.
 */
function isBlank(c: string | undefined): boolean {
  return c === " " || c === "\t" || c === "\r" || c === "\f" || c === "\v";
}

/** White space that is not an ASCII blank or LF. */
const UNICODE_SPACE = /[^\S \t\r\n\f\v]/u;

/**
 * Reads statements the way esmtp's lexer does: newlines are mere blanks, so
 * several statements may share a line (the seed's flattened samples), and a
 * `#` that starts a word comments out the rest of the line. Unlike esmtp, a
 * value must start on its keyword's line and a bare value may contain `=`.
 */
class Scanner {
  pos = 0;
  line = 1;
  readonly #text: string;
  readonly #file: string;

  constructor(text: string, file: string) {
    this.#text = text;
    this.#file = file;
  }

  where(line = this.line): string {
    return `${this.#file}:${line}`;
  }

  /** Skips blanks, newlines and comments; `false` at the end of the text. */
  skip(): boolean {
    const t = this.#text;
    while (this.pos < t.length) {
      const c = t[this.pos]!;
      if (c === "\n") this.line++;
      else if (c === "#") {
        const nl = t.indexOf("\n", this.pos);
        this.pos = nl === -1 ? t.length : nl;
        continue;
      } else if (!isBlank(c)) return true;
      this.pos++;
    }
    return false;
  }

  /** Skips blanks on the current line only. */
  #skipInline(): void {
    while (this.pos < this.#text.length && isBlank(this.#text[this.pos])) this.pos++;
  }

  /** The next whitespace-delimited word, raw (for keywords and messages). */
  word(): string {
    const t = this.#text;
    const start = this.pos;
    while (this.pos < t.length && !isBlank(t[this.pos]) && t[this.pos] !== "\n" && t[this.pos] !== "=") this.pos++;
    return this.#bare(t.slice(start, this.pos));
  }

  /** A bare (unquoted) word, refused when it holds a Unicode space. */
  #bare(word: string): string {
    const m = UNICODE_SPACE.exec(word);
    if (m === null) return word;
    const code = m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    throw new ConfigError(
      `${this.where()}: ${JSON.stringify(word)} contains the space character U+${code}, which does not separate words; use a plain space or tab, or quote the value if it is meant`,
    );
  }

  /** Consumes an optional `=` (with blanks around it) on the current line. */
  map(): void {
    this.#skipInline();
    if (this.#text[this.pos] === "=") this.pos++;
    this.#skipInline();
  }

  /** A value on the current line (quoted or bare, escapes applied), or `null` when the line ends. */
  value(): string | null {
    const t = this.#text;
    const c = t[this.pos];
    if (c === undefined || c === "\n" || c === "#") return null;
    if (c === '"' || c === "'") {
      let j = this.pos + 1;
      while (j < t.length && t[j] !== c && t[j] !== "\n") j += t[j] === "\\" && t[j + 1] !== "\n" ? 2 : 1;
      if (j >= t.length || t[j] !== c) throw new ConfigError(`${this.where()}: Unterminated quote`);
      const v = unescape(t.slice(this.pos + 1, j));
      this.pos = j + 1;
      return v;
    }
    const start = this.pos;
    while (this.pos < t.length && !isBlank(t[this.pos]) && t[this.pos] !== "\n") this.pos++;
    return unescape(this.#bare(t.slice(start, this.pos)));
  }
}

/**
 * Splits `host[:port]` / `[ipv6]:port` as esmtp's `hostname` takes it.
 *
 * @param value The value.
 * @param where `file:line` for messages.
 * @returns Host (IPv6 without brackets) and port when given.
 * @throws {ConfigError} On an empty host or an unknown port/service.
 */
export function parseHostPort(value: string, where: string): { host: string; port?: number } {
  let host = value;
  let port: string | undefined;
  const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(value);
  if (v6) {
    host = v6[1]!;
    port = v6[2];
  } else if (value.indexOf(":") !== -1 && value.indexOf(":") === value.lastIndexOf(":")) {
    const i = value.indexOf(":");
    host = value.slice(0, i);
    port = value.slice(i + 1);
  }
  if (host === "") throw new ConfigError(`${where}: Missing host name in "${value}"`);
  if (port === undefined) return { host };
  const n = portOf(port);
  if (n === undefined) throw new ConfigError(`${where}: Unknown port or service "${port}" in "${value}"`);
  return { host, port: n };
}

const SECRET_KEYWORDS = new Set(["password", "pass", "certificate_passphrase", "passphrase"]);

const TLS_WORDS: Readonly<Record<string, TlsMode>> = {
  enabled: "starttls-opportunistic",
  disabled: "none",
  required: "starttls-required",
  none: "none",
  starttls: "starttls-required",
  "starttls-required": "starttls-required",
  "starttls-opportunistic": "starttls-opportunistic",
  implicit: "implicit",
};

/** What a keyword's handler may touch: the current block's fields, and how to name things in messages. */
interface Statement {
  readonly block: Block;
  /** `file:line`. */
  readonly where: string;
  /** The keyword as the user knows it (`force sender`). */
  readonly shown: string;
  readonly home: string | undefined;
  /** Marks the file as holding a secret (its permissions are then checked). */
  secret(): void;
}

/** Sets one field of the current block from a value (`""` unsets it where that makes sense). */
type Handler = (value: string, st: Statement) => void;

type Fields = Partial<Mutable<Account>>;
type TextField = "user" | "password" | "passphrase" | "helo" | "qualifyDomain" | "forceSender" | "forceReversePath";
type PathField = "caFile" | "certFile" | "keyFile" | "queueDir";
type FlagField = "messageId" | "queue" | "tlsVerify" | "forceMda" | "allowPlaintextAuth" | "pipelining";

const text = (key: TextField): Handler => (v, st) => {
  st.block.fields[key] = v === "" ? undefined : v;
};
const secret = (key: TextField): Handler => (v, st) => {
  text(key)(v, st);
  if (v !== "") st.secret();
};
const path = (key: PathField): Handler => (v, st) => {
  st.block.fields[key] = v === "" ? undefined : expandHome(v, st.home);
};
const flag = (key: FlagField): Handler => (v, st) => {
  const b = booleanOf(v);
  if (b === undefined) throw new ConfigError(`${st.where}: "${st.shown}" must be on or off, not "${v}"`);
  st.block.fields[key] = b;
};
/** A value that may be `off` (any case: unset), else `parse` (`undefined`: invalid, `invalid` then the value). */
const offOr = <K extends keyof Fields>(key: K, parse: (v: string) => Fields[K] | undefined, invalid: string): Handler => (v, st) => {
  if (v.toLowerCase() === "off") {
    st.block.fields[key] = undefined;
    return;
  }
  const value = parse(v);
  if (value === undefined) throw new ConfigError(`${st.where}: ${invalid} "${v}"`);
  st.block.fields[key] = value;
};
const setPort = (st: Statement, port: number): void => {
  st.block.fields.port = port;
  st.block.portExplicit = true;
};
const hostname: Handler = (v, st) => {
  const hp = parseHostPort(v, st.where);
  st.block.fields.host = hp.host;
  if (hp.port !== undefined) setPort(st, hp.port);
};
const tlsMode: Handler = (v, st) => {
  const mode = TLS_WORDS[v.toLowerCase()];
  if (mode === undefined) {
    throw new ConfigError(
      `${st.where}: "${st.shown}" must be one of enabled, disabled, required, none, starttls, starttls-required, starttls-opportunistic, implicit; not "${v}"`,
    );
  }
  st.block.fields.tls = mode;
};

/**
 * The account keywords, one row each (after `force sender` → `force_sender`;
 * `identity`, `default` and `mda` shape the file and are read by the loop).
 */
const KEYWORDS: Readonly<Record<string, Handler>> = {
  hostname,
  host: hostname,
  port: (v, st) => {
    const p = portOf(v);
    if (p === undefined) throw new ConfigError(`${st.where}: Invalid port "${v}"`);
    setPort(st, p);
  },
  username: text("user"),
  user: text("user"),
  password: secret("password"),
  pass: secret("password"),
  passwordeval: (v, st) => {
    st.block.fields.passwordEval = v === "" ? undefined : shellCommand(v, st.where);
  },
  certificate_passphrase: secret("passphrase"),
  passphrase: secret("passphrase"),
  starttls: tlsMode,
  tls: tlsMode,
  helo: text("helo"),
  qualifydomain: text("qualifyDomain"),
  force_sender: text("forceSender"),
  force_reverse_path: text("forceReversePath"),
  message_id: flag("messageId"),
  auth: (v, st) => {
    const a = parseAuthValue(v, st.where);
    st.block.fields.auth = a.auth;
    st.block.fields.authMethod = a.method;
  },
  ca_file: path("caFile"),
  cert_file: path("certFile"),
  key_file: path("keyFile"),
  requires_auth: (v, st) => {
    const b = booleanOf(v);
    if (b !== undefined) st.block.fields.requiresAuth = b;
    else {
      try {
        st.block.fields.requiresAuth = new RegExp(v, "i");
      } catch {
        throw new ConfigError(`${st.where}: "requires_auth" is neither on/off nor a valid regular expression: "${v}"`);
      }
    }
  },
  queue: flag("queue"),
  queue_dir: path("queueDir"),
  tls_verify: flag("tlsVerify"),
  force_mda: flag("forceMda"),
  allow_plaintext_auth: flag("allowPlaintextAuth"),
  pipelining: flag("pipelining"),
  timeout: offOr("timeoutMs", timeoutMsOf, `"timeout" must be a number of seconds or off, not`),
  dsn_notify: offOr("dsnNotify", dsnNotifyOf, `"dsn_notify" must be never, off, or a list of success,failure,delay; not`),
  dsn_return: offOr("dsnReturn", dsnReturnOf, `"dsn_return" must be full, hdrs or off; not`),
};

/** Keywords that shape the file rather than set a field. */
const STRUCTURE: ReadonlySet<string> = new Set(["identity", "default", "mda"]);

/**
 * Checks an `auth` value: on/off or a supported mechanism.
 *
 * @param value The value.
 * @param where `file:line`.
 * @returns `auth` and the upper-case mechanism.
 * @throws {ConfigError} On an unsupported mechanism.
 */
export function parseAuthValue(value: string, where: string): { auth: boolean; method?: string } {
  const b = booleanOf(value);
  if (b !== undefined || value === "") return { auth: b ?? true };
  const m = value.toUpperCase();
  if (!SUPPORTED_MECHANISMS.includes(m)) {
    throw new ConfigError(
      `${where}: Unsupported authentication mechanism "${value}"; use on, off or one of ${SUPPORTED_MECHANISMS.join(", ")}`,
    );
  }
  return { auth: true, method: m };
}

/**
 * Parses an esmtp-format configuration file (also smtpsend's own format).
 *
 * @param text The file's contents.
 * @param options File name, format tag and home directory.
 * @returns The accounts (identities), the default, and whether it holds secrets.
 * @throws {ConfigError} On an unknown or unsupported keyword or a bad value, naming `file:line`.
 * @example
 * ```ts
 * const cfg = parseRcfile('hostname = mail.myisp.com:25\nusername = "myself"\n', { file: "~/.esmtprc" });
 * cfg.accounts[0]?.host; // "mail.myisp.com"
 * ```
 */
export function parseRcfile(text: string, options: RcfileOptions = {}): ParsedConfig {
  const file = options.file ?? "smtpsendrc";
  const format = options.format ?? "smtpsend";
  const global: Block = { name: "default", line: null, used: false, fields: {}, portExplicit: false };
  const blocks: Block[] = [global];
  let current = global;
  let defaultBlock: Block | undefined;
  let mda: string | undefined;
  let containsSecrets = false;
  const seen = new Map<string, number>();

  const sc = new Scanner(text, file);
  // The previous statement, to explain a stray word after an unquoted value.
  let prev: Previous | undefined;
  while (sc.skip()) {
    const lineNo = sc.line;
    const where = sc.where();
    const { keyword, word, shown } = readKeyword(sc, prev);
    if (keyword === "default") {
      prev = undefined;
      defaultBlock = current;
      current.used = true;
      current.line ??= lineNo;
      continue;
    }
    sc.map();
    const value = sc.value();
    if (value === null) {
      // `helo my host`: "host" is the second word of an unquoted value.
      if (prev && prev.line === lineNo) throw strayWord(where, prev, `"${word}"`);
      throw new ConfigError(`${where}: "${shown}" needs a value`);
    }
    prev = { keyword, line: sc.line };

    if (keyword === "identity") {
      if (value === "") throw new ConfigError(`${where}: "identity" needs an address`);
      const key = value.toLowerCase();
      const first = seen.get(key);
      if (first !== undefined) throw new ConfigError(`${where}: Identity "${value}" is already defined at line ${first}`);
      seen.set(key, lineNo);
      current = { name: value, line: lineNo, used: true, fields: { from: value }, portExplicit: false };
      blocks.push(current);
      continue;
    }
    if (keyword === "mda") {
      mda = value;
      continue;
    }
    KEYWORDS[keyword]!(value, {
      block: current,
      where,
      shown,
      home: options.home,
      secret: () => {
        containsSecrets = true;
      },
    });
    current.used = true;
    current.line ??= lineNo;
    defaultBlock ??= current;
  }

  const accounts: Account[] = [];
  for (const b of blocks) {
    if (b === global && !b.used) continue;
    accounts.push(finish(b, file, format, mda));
  }
  const def = defaultBlock ?? blocks.find((b) => b !== global);
  const result: ParsedConfig = {
    file,
    format,
    accounts,
    containsSecrets,
    warnings: [],
    ...(def ? { defaultAccount: def.name } : {}),
  };
  return result;
}

/** The statement before, to explain a stray word after an unquoted value. */
interface Previous {
  readonly keyword: string;
  readonly line: number;
}

function strayWord(where: string, prev: Previous, found: string): ConfigError {
  const extra = SECRET_KEYWORDS.has(prev.keyword) ? "a second word" : found;
  return new ConfigError(`${where}: Unexpected ${extra} after the value of "${prev.keyword.replace("_", " ")}"; quote values that contain spaces`);
}

/**
 * Reads a statement's keyword (`force sender` as `force_sender`), refusing
 * what is not one: a stray word after an unquoted value, `preconnect` and
 * `postconnect`, an unknown keyword (never ignored).
 */
function readKeyword(sc: Scanner, prev: Previous | undefined): { keyword: string; word: string; shown: string } {
  const lineNo = sc.line;
  const where = sc.where();
  const word = sc.word();
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(word)) {
    const found = word === "" ? sc.value() ?? "=" : word;
    if (prev && prev.line === lineNo) throw strayWord(where, prev, `"${found}"`);
    throw new ConfigError(`${where}: Expected a keyword, found "${found}"`);
  }
  let keyword = word.toLowerCase();
  if (keyword === "force") {
    sc.map();
    const sub = sc.word().toLowerCase();
    if (sub !== "sender" && sub !== "reverse_path") {
      throw new ConfigError(`${where}: "force" must be followed by "sender" or "reverse_path"`);
    }
    keyword = `force_${sub}`;
  }
  const shown = keyword.startsWith("force_") ? keyword.replace("_", " ") : keyword;
  if (!Object.hasOwn(KEYWORDS, keyword) && !STRUCTURE.has(keyword)) {
    if (prev && prev.line === lineNo) throw strayWord(where, prev, `"${word}"`);
    if (keyword === "preconnect" || keyword === "postconnect") {
      throw new ConfigError(
        `${where}: "${keyword}" is not supported: smtpsend does not run shell commands around a connection; start the tunnel (e.g. ssh -L) before sending`,
      );
    }
    throw new ConfigError(`${where}: Unknown keyword "${word}"`);
  }
  return { keyword, word, shown };
}

function finish(b: Block, file: string, format: ConfigFormat, mda: string | undefined): Account {
  const f = b.fields;
  let port = f.port;
  if (!b.portExplicit && f.host !== undefined) port = f.tls === "implicit" ? 465 : ESMTP_DEFAULT_PORT;
  const account: Mutable<Account> = {
    name: b.name,
    source: { file, format, line: b.line },
    tlsVerify: f.tlsVerify ?? true,
    allowPlaintextAuth: f.allowPlaintextAuth ?? false,
    forceMda: f.forceMda ?? false,
    queue: f.queue ?? false,
  };
  for (const [k, v] of Object.entries(f)) {
    if (v !== undefined && !(k in account)) (account as Record<string, unknown>)[k] = v;
  }
  if (port !== undefined) account.port = port;
  if (mda !== undefined) account.mda = mda;
  return Object.freeze(account);
}
