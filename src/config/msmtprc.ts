/**
 * msmtp's configuration format (`~/.msmtprc`, `$XDG_CONFIG_HOME/msmtp/config`),
 * read so msmtp users can switch without rewriting their file.
 *
 * Syntax, as msmtp reads it: one `command [argument]` per line; the argument
 * is the rest of the line with surrounding blanks removed and, when it starts
 * and ends with `"`, those quotes removed (no escapes). Lines whose first
 * non-blank character is `#` are comments; a `#` later in a line is data.
 * `on` may be written as an empty argument. A leading `~` in file names is
 * the home directory. In `from` and `domain`, `%U` (user), `%H`/`%C` (host
 * name), `%M` (`/etc/mailname`) and `%%` are expanded.
 *
 * Structure: `defaults` settings apply to the accounts defined after them;
 * `account NAME [: PARENT[,PARENT…]]` starts an account that inherits the
 * settings written in its parents; `account default : NAME` makes the
 * default. `from` may be a shell pattern (msmtp 1.8.16: `*`, `?`, `[a-z]`,
 * `[!a-z]`, `\` quoting) matched against the envelope sender, ignoring case;
 * a reversed range such as `[b-a]` is an error naming the line.
 *
 * Mapping: `tls off` → `"none"`; `tls on` → `"starttls-required"`, or
 * `"implicit"` with `tls_starttls off`; no `tls` → the client's default
 * (opportunistic STARTTLS, never plaintext authentication). The port defaults
 * to 465 for implicit TLS, else 25, as in msmtp.
 *
 * Supported: host, port, timeout (connect_timeout), protocol smtp, domain,
 * from, from_full_name, auth, user, password, passwordeval, ntlmdomain, tls,
 * tls_starttls (tls_nostarttls), tls_trust_file (`system`), tls_cert_file,
 * tls_key_file, tls_certcheck (tls_nocertcheck), tls_host_override,
 * dsn_notify, dsn_return, pipelining, auto_from + maildomain (as `from
 * %U@maildomain`).
 *
 * Ignored with a warning: logfile, logfile_time_format, syslog,
 * tls_priorities, tls_min_dh_prime_bits. Accepted only with their default
 * value (anything else is an error): keepbcc off, remove_bcc_headers on,
 * undisclosed_recipients off, set_from_header auto, set_date_header auto,
 * add_missing_from_header on, add_missing_date_header on,
 * allow_from_override on, tls_force_sslv3 off, aliases (empty).
 *
 * Rejected as unsupported: tls_fingerprint, tls_crl_file, protocol lmtp,
 * source_ip, proxy_host, proxy_port, socket, eval, and auth methods
 * gssapi, external, digest-md5.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { dsnNotifyOf, dsnReturnOf, expandHome, parseGlob, portOf, timeoutMsOf } from "./common.ts";
import { shellCommand } from "./passwordeval.ts";
import { parseAuthValue } from "./rcfile.ts";
import type { Account, DsnNotify, ParsedConfig, PasswordCommand } from "./types.ts";

/** Values for msmtp's `%U`, `%H`, `%C`, `%M` expansions. */
export interface MsmtpVars {
  /** `%U`: the user name (`$USER`, else `$LOGNAME`). */
  readonly user?: string;
  /** `%H` (and `%C`): this machine's host name. */
  readonly hostname?: string;
  /** `%M`: the contents of `/etc/mailname`. */
  readonly mailname?: string;
}

/** Options of {@link parseMsmtprc}. */
export interface MsmtprcOptions {
  /** File name for messages and {@link Account.source}. Default `"msmtprc"`. */
  readonly file?: string;
  /** Home directory for `~` in file names. */
  readonly home?: string;
  /** Values for `%U`, `%H`, `%C`, `%M`. */
  readonly vars?: MsmtpVars;
}

interface Settings {
  host?: string;
  port?: number;
  timeoutMs?: number | null;
  domain?: string | null;
  from?: string | null;
  fromName?: string | null;
  autoFrom?: boolean;
  maildomain?: string | null;
  auth?: { auth: boolean; method?: string };
  user?: string | null;
  password?: string | null;
  passwordEval?: PasswordCommand | null;
  ntlmDomain?: string | null;
  tls?: boolean;
  starttls?: boolean;
  caFile?: string | null;
  certFile?: string | null;
  keyFile?: string | null;
  certcheck?: boolean;
  servername?: string | null;
  dsnNotify?: DsnNotify | null;
  dsnReturn?: "FULL" | "HDRS" | null;
  pipelining?: boolean;
}

interface AccountDef {
  name: string;
  line: number;
  explicit: Settings;
  effective: Settings;
}

const IGNORED = new Set(["logfile", "logfile_time_format", "syslog", "tls_priorities", "tls_min_dh_prime_bits"]);

/** Commands accepted only with the value that matches what smtpsend does anyway. */
const DEFAULT_ONLY: Readonly<Record<string, readonly string[]>> = {
  keepbcc: ["off"],
  remove_bcc_headers: ["on", ""],
  undisclosed_recipients: ["off"],
  set_from_header: ["auto"],
  set_date_header: ["auto"],
  add_missing_from_header: ["on", ""],
  add_missing_date_header: ["on", ""],
  allow_from_override: ["on", ""],
  tls_force_sslv3: ["off"],
  aliases: [""],
};

const UNSUPPORTED: Readonly<Record<string, string>> = {
  tls_fingerprint: "certificate pinning is not supported; use tls_trust_file with the server's CA certificate",
  tls_crl_file: "certificate revocation lists are not supported",
  source_ip: "choosing the source address is not supported",
  proxy_host: "SOCKS proxies are not supported",
  proxy_port: "SOCKS proxies are not supported",
  socket: "local sockets are not supported",
  eval: "eval is not supported; write the commands out",
};

/** A table's own entry (never one inherited from `Object.prototype`, such as `constructor`). */
function own<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** `account NAME [: PARENT[,PARENT…]]`: a new account with its parents' settings, after the defaults. */
function startAccount(
  arg: string,
  lineNo: number,
  where: string,
  accounts: AccountDef[],
  byName: Map<string, AccountDef>,
  defaults: Settings,
): AccountDef {
  const colon = arg.indexOf(":");
  const name = trimArg(colon === -1 ? arg : arg.slice(0, colon));
  if (name === "") throw new ConfigError(`${where}: Missing account name`);
  if (/[:,]/.test(name)) throw new ConfigError(`${where}: An account name must not contain colons or commas`);
  if (byName.has(name)) throw new ConfigError(`${where}: Account "${name}" is already defined`);
  const explicit: Settings = {};
  if (colon !== -1) {
    for (const p of arg.slice(colon + 1).split(",")) {
      const parentName = trimArg(p);
      if (parentName === "") throw new ConfigError(`${where}: Missing account name after ":"`);
      const parent = byName.get(parentName);
      if (!parent) throw new ConfigError(`${where}: Account "${parentName}" is not (yet) defined`);
      Object.assign(explicit, parent.explicit);
    }
  }
  const def: AccountDef = { name, line: lineNo, explicit, effective: { ...defaults, ...explicit } };
  accounts.push(def);
  byName.set(name, def);
  return def;
}

/**
 * The commands msmtp has that smtpsend does not carry out: ignored with a
 * warning naming the command, accepted only with the value smtpsend's
 * behaviour matches, or refused with the reason.
 *
 * @returns `"ignored"` when the command is to be skipped, else `null` (go on).
 * @throws {ConfigError} When it is refused.
 */
function refusal(cmd: string, arg: string, where: string, warnings: string[]): "ignored" | null {
  if (IGNORED.has(cmd)) {
    warnings.push(`${where}: "${cmd}" is ignored by smtpsend`);
    return "ignored";
  }
  const allowed = own(DEFAULT_ONLY, cmd);
  if (allowed) {
    if (!allowed.includes(arg)) {
      throw new ConfigError(
        `${where}: "${cmd} ${arg}" is not supported by smtpsend; only "${cmd} ${allowed[0]}" (what smtpsend does) is accepted`,
      );
    }
    return "ignored";
  }
  const why = own(UNSUPPORTED, cmd);
  if (why !== undefined) throw new ConfigError(`${where}: "${cmd}" is not supported by smtpsend: ${why}`);
  return null;
}

/** What a command's handler may touch: the current account's settings, and how to name things in messages. */
interface Command {
  readonly cmd: string;
  /** `file:line`. */
  readonly where: string;
  readonly options: MsmtprcOptions;
  /** Sets a setting of the current account (and records it as written there, for inheritance). */
  set<K extends keyof Settings>(key: K, value: Settings[K]): void;
  /** Marks the file as holding a secret. */
  secret(): void;
}

type Handler = (arg: string, c: Command) => void;
type TextSetting = "fromName" | "maildomain" | "user" | "password" | "ntlmDomain" | "servername";
type FlagSetting = "autoFrom" | "tls" | "starttls" | "certcheck";
type FileSetting = "certFile" | "keyFile";

function needArg(arg: string, c: Command): void {
  if (arg === "") throw new ConfigError(`${c.where}: Command "${c.cmd}" needs an argument`);
}
function invalid(arg: string, c: Command): ConfigError {
  return new ConfigError(`${c.where}: Invalid argument "${arg}" for command "${c.cmd}"`);
}
const text = (key: TextSetting): Handler => (arg, c) => c.set(key, arg === "" ? null : arg);
const flag = (key: FlagSetting): Handler => (arg, c) => c.set(key, onOff(arg, c.cmd, c.where));
const fixed = (key: FlagSetting, value: boolean): Handler => (_, c) => c.set(key, value);
const fileOf = (arg: string, c: Command): string | null => (arg === "" ? null : expandHome(arg, c.options.home));
const file = (key: FileSetting): Handler => (arg, c) => c.set(key, fileOf(arg, c));
const expanded = (key: "domain"): Handler => (arg, c) => c.set(key, arg === "" ? null : expandVars(arg, c.options.vars, c.where));
/** A required argument that may be `off` (unset), else `parse` (`undefined`: invalid). */
const offOr = <K extends "timeoutMs" | "dsnNotify" | "dsnReturn">(key: K, parse: (arg: string) => Settings[K] | undefined): Handler => (arg, c) => {
  needArg(arg, c);
  if (arg === "off") return c.set(key, null);
  const value = parse(arg);
  if (value === undefined) throw invalid(arg, c);
  c.set(key, value);
};

/** The commands smtpsend carries out, one row each. */
const COMMANDS: Readonly<Record<string, Handler>> = {
  host: (arg, c) => {
    needArg(arg, c);
    c.set("host", arg);
  },
  port: (arg, c) => {
    needArg(arg, c);
    const p = /^\d+$/.test(arg) ? portOf(arg) : undefined;
    if (p === undefined) throw invalid(arg, c);
    c.set("port", p);
  },
  timeout: offOr("timeoutMs", timeoutMsOf),
  connect_timeout: offOr("timeoutMs", timeoutMsOf),
  protocol: (arg, c) => {
    if (arg === "lmtp") throw new ConfigError(`${c.where}: "protocol lmtp" is not supported by smtpsend`);
    if (arg !== "smtp") throw invalid(arg, c);
  },
  domain: expanded("domain"),
  from: (arg, c) => {
    const from = arg === "" ? null : expandVars(arg, c.options.vars, c.where);
    const problem = from === null ? null : parseGlob(from).problem;
    if (problem !== null) throw new ConfigError(`${c.where}: Invalid pattern "${from}" for command "from": ${problem}`);
    c.set("from", from);
  },
  from_full_name: text("fromName"),
  auto_from: flag("autoFrom"),
  maildomain: text("maildomain"),
  auth: (arg, c) => c.set("auth", parseAuthValue(arg, c.where)),
  user: text("user"),
  password: (arg, c) => {
    text("password")(arg, c);
    if (arg !== "") c.secret();
  },
  passwordeval: (arg, c) => c.set("passwordEval", arg === "" ? null : shellCommand(arg, c.where)),
  ntlmdomain: text("ntlmDomain"),
  tls: flag("tls"),
  tls_starttls: flag("starttls"),
  tls_nostarttls: fixed("starttls", false),
  tls_trust_file: (arg, c) => c.set("caFile", arg === "system" ? null : fileOf(arg, c)),
  tls_cert_file: file("certFile"),
  tls_key_file: file("keyFile"),
  tls_certcheck: flag("certcheck"),
  tls_nocertcheck: fixed("certcheck", false),
  tls_host_override: text("servername"),
  dsn_notify: offOr("dsnNotify", dsnNotifyOf),
  dsn_return: offOr("dsnReturn", dsnReturnOf),
  pipelining: (arg, c) => c.set("pipelining", arg === "auto" ? true : onOff(arg, c.cmd, c.where)),
};

function expandVars(value: string, vars: MsmtpVars | undefined, where: string): string {
  return value.replace(/%([%UHCM])/g, (_, c: string) => {
    switch (c) {
      case "%":
        return "%";
      case "U":
        if (vars?.user === undefined) throw new ConfigError(`${where}: "%U" cannot be expanded: the user name is unknown`);
        return vars.user;
      case "M":
        if (vars?.mailname !== undefined) return vars.mailname;
      // falls through: without /etc/mailname, the host name
      default:
        if (vars?.hostname === undefined) throw new ConfigError(`${where}: "%${c}" cannot be expanded: the host name is unknown`);
        return vars.hostname;
    }
  });
}

function onOff(arg: string, cmd: string, where: string): boolean {
  if (arg === "" || arg === "on") return true;
  if (arg === "off") return false;
  throw new ConfigError(`${where}: Invalid argument "${arg}" for command "${cmd}"; use on or off`);
}

/** Removes surrounding blanks and, when present on both ends, double quotes (msmtp's `trim_string`). */
function trimArg(s: string): string {
  // By index, not by a /[ \t]+$/ regex: that one rescans the run of blanks
  // from every position in it, quadratic in a long line of spaces.
  let a = 0;
  let b = s.length;
  while (a < b && (s[a] === " " || s[a] === "\t")) a++;
  while (b > a && (s[b - 1] === " " || s[b - 1] === "\t")) b--;
  const t = s.slice(a, b);
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

function trimStart(s: string): string {
  let a = 0;
  while (a < s.length && (s[a] === " " || s[a] === "\t")) a++;
  return a === 0 ? s : s.slice(a);
}

/**
 * Parses an msmtp configuration file.
 *
 * @param text The file's contents.
 * @param options File name, home directory and `%` expansion values.
 * @returns The accounts in file order, the default account, and whether it holds secrets.
 * @throws {ConfigError} On an unknown or unsupported command or a bad argument, naming `file:line`.
 * @example
 * ```ts
 * const cfg = parseMsmtprc("account work\nhost smtp.example.org\nfrom me@example.org\naccount default : work\n");
 * cfg.defaultAccount; // "default"
 * ```
 */
export function parseMsmtprc(text: string, options: MsmtprcOptions = {}): ParsedConfig {
  const file = options.file ?? "msmtprc";
  const defaults: Settings = {};
  const accounts: AccountDef[] = [];
  const byName = new Map<string, AccountDef>(); // account names are looked up, never scanned
  const warnings: string[] = [];
  let current: Settings | null = null;
  let currentDef: AccountDef | null = null;
  let containsSecrets = false;

  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const lineNo = n + 1;
    const where = `${file}:${lineNo}`;
    const raw = lines[n]!;
    const line = trimStart(raw.endsWith("\r") ? raw.slice(0, -1) : raw);
    if (line === "" || line.startsWith("#")) continue;
    const sp = line.search(/[ \t]/);
    const cmd = sp === -1 ? line : line.slice(0, sp);
    const arg = sp === -1 ? "" : trimArg(line.slice(sp));

    if (cmd === "defaults") {
      if (arg !== "") throw new ConfigError(`${where}: Command "defaults" does not take an argument`);
      current = defaults;
      currentDef = null;
      continue;
    }
    if (cmd === "account") {
      currentDef = startAccount(arg, lineNo, where, accounts, byName, defaults);
      current = currentDef.effective;
      continue;
    }
    if (current === null) {
      // msmtp before 1.4 allowed settings without an account: they form "default".
      currentDef = { name: "default", line: lineNo, explicit: {}, effective: { ...defaults } };
      accounts.push(currentDef);
      byName.set("default", currentDef);
      current = currentDef.effective;
    }
    const target = current;
    const def = currentDef;
    const why = refusal(cmd, arg, where, warnings);
    if (why === "ignored") continue;
    const handler = own(COMMANDS, cmd);
    if (handler === undefined) throw new ConfigError(`${where}: Unknown command "${cmd}"`);
    handler(arg, {
      cmd,
      where,
      options,
      set: (key, value) => {
        target[key] = value;
        if (def) def.explicit[key] = value;
      },
      secret: () => {
        containsSecrets = true;
      },
    });
  }

  const result = accounts.map((a) => finish(a, file, options.vars));
  const def = byName.get("default");
  return {
    file,
    format: "msmtp",
    accounts: result,
    containsSecrets,
    warnings,
    ...(def ? { defaultAccount: def.name } : {}),
  };
}

function finish(def: AccountDef, file: string, vars: MsmtpVars | undefined): Account {
  const s = def.effective;
  const tls = s.tls === undefined ? undefined : !s.tls ? "none" : s.starttls === false ? "implicit" : "starttls-required";
  const out: Record<string, unknown> = {
    name: def.name,
    source: { file, format: "msmtp", line: def.line },
    tlsVerify: s.certcheck ?? true,
    allowPlaintextAuth: false,
    forceMda: false,
    queue: false,
  };
  const put = (key: keyof Account, value: unknown): void => {
    if (value !== undefined && value !== null) out[key] = value;
  };
  let from = s.from;
  if ((from === undefined || from === null) && s.autoFrom) {
    const where = `${file}:${def.line}`;
    from = expandVars(s.maildomain ? `%U@${s.maildomain}` : "%U", vars, where);
  }
  put("from", from);
  put("fromName", s.fromName);
  put("host", s.host);
  put("port", s.port ?? (tls === "implicit" ? 465 : 25));
  put("tls", tls);
  put("servername", s.servername);
  put("caFile", s.caFile);
  put("certFile", s.certFile);
  put("keyFile", s.keyFile);
  put("auth", s.auth?.auth);
  put("authMethod", s.auth?.method);
  put("user", s.user);
  put("password", s.password);
  put("passwordEval", s.passwordEval);
  put("ntlmDomain", s.ntlmDomain);
  put("helo", s.domain);
  put("timeoutMs", s.timeoutMs);
  put("pipelining", s.pipelining);
  put("dsnNotify", s.dsnNotify);
  put("dsnReturn", s.dsnReturn);
  return Object.freeze(out) as unknown as Account;
}
