/**
 * From configuration and command line to client options: the account with
 * command-line overrides applied, the server to talk to, and the
 * {@link ClientOptions} for it (certificate files read through the Host).
 *
 * Precedence: command-line options, then the chosen account, then
 * `SMTPSERVER` (already folded in by `selectAccount`), then the defaults.
 *
 * Port when none is configured: 465 with implicit TLS; 587 when the account
 * is set up to authenticate (a user, a password, a password command,
 * `auth on`); else 25. TLS mode when none is configured: implicit on port
 * 465; STARTTLS required when the account is set up to authenticate; else
 * STARTTLS when offered. Both are decided once, so an on-demand
 * authentication (after a 530) reconnects the same way — and the client
 * still refuses to send credentials without TLS.
 *
 * @module
 */
import type { Connector, Host } from "../../deps.ts";
import { type Config, requireHost, selectAccount } from "../config/account.ts";
import { shellCommand } from "../config/passwordeval.ts";
import type { Account, TlsMode } from "../config/types.ts";
import { ConfigError } from "../errors.ts";
import {
  type AuthOptions,
  type ClientOptions,
  DEFAULT_TIMEOUTS,
  defaultEndpoint,
  type Timeouts,
  type TraceEvent,
} from "../options.ts";
import type { QueueEntry, QueueServer } from "../queue/types.ts";
import type { CliArgs } from "./args.ts";
import { cliRemedy } from "./errors.ts";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The server settings the command line gives (`--host`, `--port`, `--tls`,
 * `--user`, `--auth`, `--password-eval`, `--ca-file`, `--cert-file`,
 * `--key-file`, `--helo`, `--allow-plaintext-auth`, `--tls-no-verify`,
 * `--timeout`), in the form a queue entry keeps them: a password command is
 * kept as the command, never its output.
 */
function commandLineServer(args: CliArgs): Mutable<QueueServer> {
  const s: Mutable<QueueServer> = {};
  if (args.host !== undefined) s.host = args.host;
  if (args.port !== undefined) s.port = args.port;
  if (args.tls !== undefined) s.tls = args.tls;
  if (args.user !== undefined) s.user = args.user;
  if (args.auth !== undefined) {
    s.auth = args.auth.auth;
    if (args.auth.method !== undefined) s.authMethod = args.auth.method;
  }
  if (args.passwordEval !== undefined) s.passwordCommand = shellCommand(args.passwordEval).argv;
  if (args.caFile !== undefined) s.caFile = args.caFile;
  if (args.certFile !== undefined) s.certFile = args.certFile;
  if (args.keyFile !== undefined) s.keyFile = args.keyFile;
  if (args.helo !== undefined) s.helo = args.helo;
  if (args.allowPlaintextAuth) s.allowPlaintextAuth = true;
  if (args.tlsNoVerify) s.tlsVerify = false;
  if (args.timeoutMs !== undefined) s.timeoutMs = args.timeoutMs;
  return s;
}

/**
 * The account with server settings applied over it: a different host does
 * not inherit the account's port or TLS name; a password command replaces
 * the configured password.
 *
 * @param account The account.
 * @param server The settings (from the command line or a queue entry).
 * @param passwordOrigin Where a password command came from (named in its errors).
 * @returns A new account.
 */
function applyServer(account: Account, server: QueueServer, passwordOrigin: string): Account {
  const a: Mutable<Account> = { ...account };
  if (server.host !== undefined) {
    a.host = server.host;
    if (account.host !== undefined && account.host !== server.host) {
      delete a.port;
      delete a.servername;
    }
  }
  if (server.port !== undefined) a.port = server.port;
  if (server.tls !== undefined) a.tls = server.tls;
  if (server.servername !== undefined) a.servername = server.servername;
  if (server.tlsVerify !== undefined) a.tlsVerify = server.tlsVerify;
  if (server.caFile !== undefined) a.caFile = server.caFile;
  if (server.certFile !== undefined) a.certFile = server.certFile;
  if (server.keyFile !== undefined) a.keyFile = server.keyFile;
  if (server.user !== undefined) a.user = server.user;
  if (server.auth !== undefined) a.auth = server.auth;
  if (server.authMethod !== undefined) a.authMethod = server.authMethod;
  if (server.passwordCommand !== undefined) {
    a.passwordEval = { argv: [...server.passwordCommand], origin: passwordOrigin };
    delete a.password;
  }
  if (server.allowPlaintextAuth !== undefined) a.allowPlaintextAuth = server.allowPlaintextAuth;
  if (server.helo !== undefined) a.helo = server.helo;
  if (server.timeoutMs !== undefined) a.timeoutMs = server.timeoutMs;
  return Object.freeze(a);
}

/**
 * The account with the command-line server options applied over it (see
 * {@link commandLineServer} for the list).
 *
 * @param account The account chosen from the configuration.
 * @param args The command line.
 * @returns A new account.
 */
export function applyOverrides(account: Account, args: CliArgs): Account {
  return applyServer(account, commandLineServer(args), "--password-eval");
}

/**
 * The account a command uses: the one `-a`/`--account` names, else the one
 * whose `from` matches the sender, else the default; with the command-line
 * options over it. The one place where account selection and overrides meet.
 *
 * @param config The configuration.
 * @param args The command line.
 * @param sender The address that selects the account (default: `-f`).
 * @returns The account, after overrides.
 */
export function accountFor(config: Config, args: CliArgs, sender: string | undefined = args.sender): Account {
  return applyOverrides(
    selectAccount(config, {
      ...(args.account !== undefined ? { account: args.account } : {}),
      ...(sender !== undefined ? { sender } : {}),
    }),
    args,
  );
}

/**
 * The account to deliver a queued entry with: its stored name, else by
 * sender; then the entry's one-off server settings; then this command
 * line's options (`smtpsend -q --host other` still redirects the flush).
 *
 * @param config The configuration.
 * @param args The flushing command line.
 * @param entry The queued entry.
 * @returns The account, after both sets of overrides.
 */
export function accountForEntry(config: Config, args: CliArgs, entry: QueueEntry): Account {
  const named = entry.account !== null && config.accounts.some((a) => a.name === entry.account);
  const account = named ? selectAccount(config, { account: entry.account! }) : selectAccount(config, { sender: entry.from });
  const queued = entry.server === null
    ? account
    : applyServer(account, entry.server, `--password-eval, kept in queue entry ${entry.id}`);
  return applyOverrides(queued, args);
}

/**
 * The one-off server settings of a command line, for a queue entry
 * (`--queue`, `--queue-on-failure`, `queue on`): what the command line sets
 * (see {@link commandLineServer}), and the host and port when the server
 * came from `SMTPSERVER`. No secrets. The configuration file's own settings
 * are not copied: the account is looked up again at flush time.
 *
 * @param args The command line.
 * @param account The account after {@link applyOverrides}.
 * @param hostFromEnv Whether the account's server came from `SMTPSERVER`.
 * @returns The settings, or `undefined` when there are none.
 */
export function oneOffServer(args: CliArgs, account: Account, hostFromEnv: boolean): QueueServer | undefined {
  const s = commandLineServer(args);
  delete s.host;
  if ((args.host !== undefined || hostFromEnv) && account.host !== undefined) {
    s.host = account.host;
    if (s.port === undefined && account.port !== undefined) s.port = account.port;
  }
  return Object.keys(s).length === 0 ? undefined : s;
}

/** Where to connect, with the defaults decided. */
export interface Server {
  /** Host name or IP address. */
  readonly host: string;
  /** Port. */
  readonly port: number;
  /** TLS mode. */
  readonly tls: TlsMode;
  /** Whether the TLS mode is the default rather than configured. */
  readonly tlsDefault: boolean;
}

/** Whether the account is set up to authenticate (decides the default port). */
export function wantsAuth(account: Account): boolean {
  return account.auth === true || account.user !== undefined || account.password !== undefined ||
    account.passwordEval !== undefined;
}

/**
 * The server of an account.
 *
 * @param account The account (after overrides).
 * @returns Host, port and TLS mode.
 * @throws {ConfigError} When no server is configured.
 */
export function serverOf(account: Account): Server {
  const host = requireHost(account);
  const { port, tls } = defaultEndpoint(account.port, account.tls, wantsAuth(account));
  return { host, port, tls, tlsDefault: account.tls === undefined };
}

async function readPem(host: Host, path: string, what: string): Promise<string> {
  try {
    return new TextDecoder().decode(await host.readFile(path));
  } catch (cause) {
    throw new ConfigError(`Cannot read the ${what} "${path}": ${(cause as Error)?.message ?? cause}`, { cause });
  }
}

/** Everything {@link clientOptions} needs besides the account. */
export interface ClientContext {
  /** File access. */
  readonly host: Host;
  /** Opens connections. */
  readonly connector: Connector;
  /** The trace hook. */
  readonly trace?: (event: TraceEvent) => void;
  /** Credentials to authenticate with, if any. */
  readonly auth?: AuthOptions;
}

/**
 * Builds the client options for an account.
 *
 * @param account The account (after overrides).
 * @param ctx Host, connector, trace hook and credentials.
 * @returns Options for `SmtpClient`.
 * @throws {ConfigError} When a certificate file cannot be read or no server is configured.
 */
export async function clientOptions(account: Account, ctx: ClientContext): Promise<ClientOptions> {
  const server = serverOf(account);
  checkNames(account, server);
  const o: Mutable<ClientOptions> = {
    host: server.host,
    port: server.port,
    connector: ctx.connector,
    tls: server.tls,
    tlsVerify: account.tlsVerify,
    allowPlaintextAuth: account.allowPlaintextAuth,
  };
  if (account.servername !== undefined) o.servername = account.servername;
  if (account.caFile !== undefined) o.ca = await readPem(ctx.host, account.caFile, "CA file");
  if (account.certFile !== undefined) o.cert = await readPem(ctx.host, account.certFile, "client certificate file");
  if (account.keyFile !== undefined) o.key = await readPem(ctx.host, account.keyFile, "client key file");
  else if (account.certFile !== undefined) {
    // esmtp keeps the key in the certificate file (~/.authenticate/private/smtp-starttls.pem).
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(o.cert!)) o.key = o.cert;
    else {
      // Without its key the certificate could not be presented, and the server's refusal would look
      // temporary (a 421 after the handshake): say what is missing instead.
      const keyword = account.source.format === "msmtp" ? "tls_key_file" : "key_file";
      throw new ConfigError(
        `The client certificate file "${account.certFile}" holds no private key: give the key with --key-file FILE ` +
          `(configuration: ${keyword}), or put the key in the certificate file`,
      );
    }
  }
  if (account.passphrase !== undefined) o.passphrase = account.passphrase;
  if (account.helo !== undefined) o.name = account.helo;
  if (account.pipelining !== undefined) o.pipelining = account.pipelining;
  if (account.timeoutMs !== undefined) {
    const t = account.timeoutMs;
    const timeouts: Timeouts = { connect: t, greeting: t, tls: t, mail: t, rcpt: t, data: t, dataBlock: t, dataEnd: t };
    o.timeouts = timeouts;
  }
  if (ctx.trace) o.trace = ctx.trace;
  if (ctx.auth) o.auth = ctx.auth;
  const style = account.source.format;
  const greetingMs = o.timeouts?.greeting ?? DEFAULT_TIMEOUTS.greeting;
  o.onSlowGreeting = (info) => {
    if (info.tls === "implicit") return;
    ctx.host.writeStderr(
      `smtpsend: no greeting from ${info.host}:${info.port} after ${Math.round(info.waitedMs / 1000)} s; ` +
        `${cliRemedy("implicit-tls-expected", style)}; still waiting (up to ${Math.round(greetingMs / 1000)} s)\n`,
    );
  };
  return o;
}

/**
 * Checks the names the library would refuse with a `TypeError` naming its own
 * options, and names the configuration keyword instead (`--host` and `--helo`
 * are checked when the command line is parsed).
 */
function checkNames(account: Account, server: Server): void {
  const msmtp = account.source.format === "msmtp";
  const where = account.source.file === null ? "" : ` in "${account.source.file}"`;
  if (/[\s\0]/.test(server.host)) {
    const keyword = account.source.format === "env" ? "SMTPSERVER" : msmtp ? '"host"' : '"hostname"';
    throw new ConfigError(`The server name ${JSON.stringify(server.host)} contains whitespace; check ${keyword}${where}`);
  }
  if (account.helo !== undefined && !/^[\x21-\x7e]+$/.test(account.helo)) {
    throw new ConfigError(
      `The EHLO name ${JSON.stringify(account.helo)} must be a domain or address literal; check ${msmtp ? '"domain"' : '"helo"'}${where}`,
    );
  }
}

/** Whether the account's `requires_auth` says to authenticate to this server on the first attempt. */
export function requiresAuthFor(account: Account, host: string): boolean {
  const r = account.requiresAuth;
  if (r === undefined || r === false) return false;
  if (r === true) return true;
  r.lastIndex = 0;
  return r.test(host);
}
