/**
 * Finding, loading and choosing the account to send with.
 *
 * {@link loadConfig} reads the first configuration file that exists, in this
 * order (first found wins, files are never merged):
 *
 * 1. `-C FILE` (must exist);
 * 2. `~/.smtpsendrc`, then `$XDG_CONFIG_HOME/smtpsend/config`
 *    (`~/.config/smtpsend/config`) — smtpsend's format (the esmtp one);
 * 3. `~/.esmtprc` — esmtp;
 * 4. `~/.msmtprc`, then `$XDG_CONFIG_HOME/msmtp/config` — msmtp.
 *
 * The dot file comes before the XDG file, as msmtp does. A `-C` file is read
 * as msmtp when its first command is `account` or `defaults` (or its name
 * contains "msmtp"), otherwise as the esmtp/smtpsend format.
 *
 * A file writable by group or others is refused (it can name commands and
 * servers); one that holds a password or passphrase and is readable by group
 * or others is refused too, as esmtp and msmtp do.
 *
 * {@link selectAccount} picks by `-a NAME`, else by the envelope sender,
 * else the default; `SMTPSERVER` supplies the host when no file names one.
 *
 * @module
 */
import type { Host } from "../../deps.ts";
import { ConfigError, PermissionError } from "../errors.ts";
import { addressMatches, checkPrivate, joinPath, portOf, readTextFile } from "./common.ts";
import { type MsmtpVars, parseMsmtprc } from "./msmtprc.ts";
import { parseRcfile } from "./rcfile.ts";
import type { Account, ConfigFormat, ParsedConfig } from "./types.ts";

export type {
  Account,
  AccountSource,
  ConfigFormat,
  DsnNotify,
  ParsedConfig,
  PasswordCommand,
  TlsMode,
} from "./types.ts";

/** The loaded configuration: one file's accounts plus what the environment says. */
export interface Config {
  /** The file read, or `null` when none was found. */
  readonly file: string | null;
  /** Its format, or `null` when no file was found. */
  readonly format: ConfigFormat | null;
  /** Accounts in file order (empty without a file). */
  readonly accounts: readonly Account[];
  /** Name of the default account, when the file designates one. */
  readonly defaultAccount?: string;
  /** Settings accepted but ignored, as `"file:line: text"`. */
  readonly warnings: readonly string[];
  /** Files looked for, in order (for "no configuration" messages). */
  readonly searched: readonly string[];
  /** The `SMTPSERVER` environment variable (`host` or `host:port`), when set. */
  readonly smtpServer?: string;
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** The `-C FILE` path; it must exist. */
  readonly configPath?: string;
  /** Force the format of `configPath` instead of detecting it. */
  readonly format?: ConfigFormat;
}

/** Criteria of {@link selectAccount}. */
export interface SelectAccountOptions {
  /** `-a NAME`: an account (msmtp) or identity (esmtp) name. */
  readonly account?: string;
  /** The envelope sender (`-f`, else the From: address). */
  readonly sender?: string;
}

/**
 * Guesses a file's format: msmtp when its first command is `account` or
 * `defaults`, or the file name contains "msmtp"; otherwise the esmtp-style
 * smtpsend format.
 *
 * @param text The file's contents.
 * @param path Its name.
 * @returns The format.
 */
export function detectFormat(text: string, path = ""): ConfigFormat {
  if (/msmtp/i.test(path.split("/").pop() ?? "") || /(^|\/)msmtp\//.test(path)) return "msmtp";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    return /^(account|defaults)(\s|$)/.test(line) ? "msmtp" : /esmtp/i.test(path) ? "esmtp" : "smtpsend";
  }
  return /esmtp/i.test(path) ? "esmtp" : "smtpsend";
}

/**
 * Parses a configuration file's text in the given format (pure).
 *
 * @param text The contents.
 * @param format The syntax.
 * @param options File name, home directory, msmtp `%` values.
 * @returns The parsed accounts.
 * @throws {ConfigError} On syntax errors, naming `file:line`.
 */
export function parseConfig(
  text: string,
  format: ConfigFormat,
  options: { readonly file?: string; readonly home?: string; readonly vars?: MsmtpVars } = {},
): ParsedConfig {
  const common = {
    ...(options.file !== undefined ? { file: options.file } : {}),
    ...(options.home !== undefined ? { home: options.home } : {}),
  };
  if (format === "msmtp") return parseMsmtprc(text, { ...common, ...(options.vars ? { vars: options.vars } : {}) });
  return parseRcfile(text, { ...common, format });
}

/**
 * The configuration files looked for, in order, without `-C`.
 *
 * @param host Environment and home directory.
 * @returns Paths with their formats.
 */
export function configCandidates(host: Host): { path: string; format: ConfigFormat }[] {
  const home = host.homeDir();
  const xdgEnv = host.env("XDG_CONFIG_HOME");
  const xdg = xdgEnv && xdgEnv.startsWith("/") ? xdgEnv : home ? joinPath(home, ".config") : undefined;
  const out: { path: string; format: ConfigFormat }[] = [];
  if (home) out.push({ path: joinPath(home, ".smtpsendrc"), format: "smtpsend" });
  if (xdg) out.push({ path: joinPath(xdg, "smtpsend/config"), format: "smtpsend" });
  if (home) out.push({ path: joinPath(home, ".esmtprc"), format: "esmtp" });
  if (home) out.push({ path: joinPath(home, ".msmtprc"), format: "msmtp" });
  if (xdg) out.push({ path: joinPath(xdg, "msmtp/config"), format: "msmtp" });
  return out;
}

async function msmtpVars(host: Host, text: string): Promise<MsmtpVars> {
  const user = host.env("USER") || host.env("LOGNAME");
  let mailname: string | undefined;
  if (text.includes("%M")) {
    try {
      const bytes = await host.readFile("/etc/mailname");
      mailname = new TextDecoder().decode(bytes).split("\n")[0]!.trim() || undefined;
    } catch (e) {
      if (e instanceof PermissionError) throw e;
      mailname = undefined;
    }
  }
  let hostname: string | undefined;
  try {
    hostname = host.hostname();
  } catch (e) {
    if (e instanceof PermissionError) throw e;
    hostname = undefined;
  }
  return {
    ...(user ? { user } : {}),
    ...(hostname ? { hostname } : {}),
    ...(mailname ? { mailname } : {}),
  };
}

/**
 * Finds, checks and parses the configuration file (see the module
 * documentation for the search order).
 *
 * @param host Files and environment.
 * @param options `configPath` (`-C`) and an optional forced format.
 * @returns The accounts; `file: null` when no file exists.
 * @throws {ConfigError} When `-C FILE` does not exist, a file has unsafe
 *   permissions (`Refusing to read "F": it is readable by others; run: chmod 600 F`),
 *   or has a syntax error (`file:line: …`).
 * @example
 * ```ts
 * const config = await loadConfig(host, { configPath: args.C });
 * const account = selectAccount(config, { account: args.a, sender: args.f });
 * ```
 */
export async function loadConfig(host: Host, options: LoadConfigOptions = {}): Promise<Config> {
  const smtpServer = host.env("SMTPSERVER")?.trim() || undefined;
  const env = smtpServer ? { smtpServer } : {};
  const candidates = options.configPath !== undefined
    ? [{ path: options.configPath, format: options.format }]
    : configCandidates(host);
  const searched = candidates.map((c) => c.path);
  for (const c of candidates) {
    const read = await readTextFile(host, c.path);
    if (read === null) {
      if (options.configPath !== undefined) {
        throw new ConfigError(`Configuration file "${c.path}" does not exist`);
      }
      continue;
    }
    checkPrivate(c.path, read.info, false);
    const format = c.format ?? detectFormat(read.text, c.path);
    const home = host.homeDir();
    const parsed = parseConfig(read.text, format, {
      file: c.path,
      ...(home ? { home } : {}),
      ...(format === "msmtp" ? { vars: await msmtpVars(host, read.text) } : {}),
    });
    checkPrivate(c.path, read.info, parsed.containsSecrets);
    return {
      file: c.path,
      format,
      accounts: parsed.accounts,
      ...(parsed.defaultAccount !== undefined ? { defaultAccount: parsed.defaultAccount } : {}),
      warnings: parsed.warnings,
      searched,
      ...env,
    };
  }
  return { file: null, format: null, accounts: [], warnings: [], searched, ...env };
}

function bareAddress(sender: string): string {
  const m = /<([^>]*)>/.exec(sender);
  return (m ? m[1]! : sender).trim();
}

function envAccount(): Account {
  return {
    name: "default",
    source: { file: null, format: "env", line: null },
    tlsVerify: true,
    allowPlaintextAuth: false,
    forceMda: false,
    queue: false,
  };
}

function withServer(account: Account, smtpServer: string | undefined): Account {
  if (account.host !== undefined || smtpServer === undefined) return account;
  let host = smtpServer;
  let port: number | undefined;
  const m = /^\[([^\]]+)\](?::(\w+))?$/.exec(smtpServer) ?? /^([^:]+):(\w+)$/.exec(smtpServer);
  if (m) {
    host = m[1]!;
    port = m[2] === undefined ? undefined : portOf(m[2]);
    if (m[2] !== undefined && port === undefined) {
      throw new ConfigError(`SMTPSERVER="${smtpServer}" names an unknown port or service "${m[2]}"`);
    }
  }
  return Object.freeze({ ...account, host, ...(port !== undefined ? { port } : account.port === undefined ? { port: 25 } : {}) });
}

/**
 * Chooses the account to send with.
 *
 * 1. `account` (`-a`): the account or identity with that name (identity
 *    addresses compare case-insensitively); unknown names are an error.
 * 2. `sender`: the first account whose `from` (address or shell pattern)
 *    matches it, ignoring case; `Name <addr>` is reduced to `addr`.
 * 3. The file's default account; without one, an account made from
 *    `SMTPSERVER` when it is set, else the first account.
 *
 * When the chosen account names no host, `SMTPSERVER` (`host` or
 * `host:port`, port 25 by default) supplies it; the host may still be
 * `undefined` (see {@link requireHost}).
 *
 * @param config From {@link loadConfig}.
 * @param options `account` and `sender`.
 * @returns The account.
 * @throws {ConfigError} When `account` names no account.
 * @example
 * ```ts
 * const account = selectAccount(config, { sender: "me@example.org" });
 * ```
 */
export function selectAccount(config: Config, options: SelectAccountOptions = {}): Account {
  const { accounts } = config;
  if (options.account !== undefined) {
    const name = options.account;
    const found = accounts.find((a) => a.name === name) ??
      accounts.find((a) => a.source.format !== "msmtp" && a.name.toLowerCase() === name.toLowerCase());
    if (!found) {
      const where = config.file === null
        ? `no configuration file was found (looked for ${config.searched.map((s) => `"${s}"`).join(", ")})`
        : accounts.length === 0
        ? `"${config.file}" defines no accounts`
        : `"${config.file}" defines ${accounts.map((a) => `"${a.name}"`).join(", ")}`;
      throw new ConfigError(`No account "${name}": ${where}`);
    }
    return withServer(found, config.smtpServer);
  }
  if (options.sender !== undefined && options.sender.trim() !== "") {
    const address = bareAddress(options.sender);
    const found = accounts.find((a) => a.from !== undefined && addressMatches(a.from, address));
    if (found) return withServer(found, config.smtpServer);
  }
  const def = config.defaultAccount === undefined
    ? undefined
    : accounts.find((a) => a.name === config.defaultAccount);
  if (def) return withServer(def, config.smtpServer);
  if (accounts.length === 0 || config.smtpServer !== undefined) return withServer(envAccount(), config.smtpServer);
  return withServer(accounts[0]!, config.smtpServer);
}

/**
 * Returns the account's host, or explains how to configure one.
 *
 * @param account The chosen account (after command-line overrides).
 * @returns The host name.
 * @throws {ConfigError} When no host is configured.
 */
export function requireHost(account: Account): string {
  if (account.host !== undefined && account.host !== "") return account.host;
  const src = account.source.file === null
    ? "no configuration file names a server"
    : `"${account.name}" in "${account.source.file}" names no server`;
  const where = account.source.file === null
    ? `"hostname" in ~/.smtpsendrc`
    : account.source.format === "msmtp"
    ? `"host" in "${account.source.file}"`
    : `"hostname" in "${account.source.file}"`;
  throw new ConfigError(`No SMTP server configured: ${src}; set ${where}, the SMTPSERVER environment variable, or --host`);
}
