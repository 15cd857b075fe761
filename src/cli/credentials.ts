/**
 * Where the CLI gets credentials, in order (first hit wins):
 *
 * 1. `password` in the configuration (with `username`);
 * 2. `passwordeval` (or `--password-eval`): the first line its command prints;
 * 3. `~/.authinfo`, then `$NETRC` or `~/.netrc`: the first entry matching the
 *    server's host and port (and the configured user, when there is one), as
 *    Emacs smtpmail does; an entry may give the login only;
 * 4. a prompt on the terminal for whatever is still missing (the password
 *    without echo) — only when a terminal is attached. After a successful
 *    authentication with prompted values, smtpsend offers to save them to
 *    `~/.authinfo` (created with mode 0600), as the seeds describe.
 *
 * With `auth` set to XOAUTH2 or OAUTHBEARER the secret is a bearer token.
 *
 * @module
 */
import type { Host } from "../../deps.ts";
import { appendAuthinfo, findCredentials, loadAuthinfo } from "../config/authinfo.ts";
import { joinPath } from "../config/common.ts";
import { runPasswordCommand } from "../config/passwordeval.ts";
import type { Account } from "../config/types.ts";
import type { AuthOptions } from "../options.ts";
import type { Server } from "./resolve.ts";

/** Where a credential came from. */
export type CredentialSource = "config" | "passwordeval" | "authinfo" | "prompt";

/** Credentials for one server. */
export interface Credentials {
  /** The user name. */
  readonly user: string;
  /** The password or bearer token. */
  readonly secret: string;
  /** Where the secret came from. */
  readonly source: CredentialSource;
  /** The authinfo/netrc file, when the source is `"authinfo"`. */
  readonly file?: string;
  /** Whether the user or the secret was typed at a prompt (then saving is offered). */
  readonly prompted: boolean;
}

/** A partial result of the stored sources: a user without a secret still means "authenticate". */
export interface StoredCredentials {
  /** The user name, when known. */
  readonly user?: string;
  /** The secret, when known. */
  readonly secret?: string;
  /** Where it came from. */
  readonly source: Exclude<CredentialSource, "prompt">;
  /** The file, for `"authinfo"`. */
  readonly file?: string;
}

const TOKEN_MECHANISMS = new Set(["XOAUTH2", "OAUTHBEARER"]);

/**
 * Looks in the stored sources (config password, password command,
 * authinfo/netrc) without prompting. Runs the password command when one is
 * configured.
 *
 * @param host Files and processes.
 * @param account The account.
 * @param server The server (host and port for authinfo matching).
 * @returns What was found, or `null` when nothing applies to this server.
 * @throws {ConfigError} When the password command fails or a credentials file is unsafe or invalid.
 */
export async function storedCredentials(host: Host, account: Account, server: Server): Promise<StoredCredentials | null> {
  if (account.password !== undefined) {
    return { ...(account.user !== undefined ? { user: account.user } : {}), secret: account.password, source: "config" };
  }
  if (account.passwordEval !== undefined) {
    const secret = await runPasswordCommand(host, account.passwordEval);
    return { ...(account.user !== undefined ? { user: account.user } : {}), secret, source: "passwordeval" };
  }
  const { entries } = await loadAuthinfo(host);
  const entry = findCredentials(entries, {
    host: server.host,
    port: server.port,
    ...(account.user !== undefined ? { user: account.user } : {}),
  });
  if (!entry) return null;
  const user = account.user ?? entry.login;
  return {
    ...(user !== undefined ? { user } : {}),
    ...(entry.password !== undefined ? { secret: entry.password } : {}),
    source: "authinfo",
    ...(entry.file !== undefined ? { file: entry.file } : {}),
  };
}

/**
 * Whether prompting is possible: standard input is a terminal that the
 * message was not read from, or standard error is a terminal (the Host reads
 * the answer from the terminal; when it cannot, `prompt()` resolves `null`).
 *
 * Prompts go to the controlling terminal, not standard input, so a message
 * piped or typed in does not get in the way. A mail client that captures
 * standard error (Mutt, git send-email) gets no prompt, only the error.
 *
 * @param host The terminal.
 * @returns `true` when a prompt may be shown.
 */
export function canPrompt(host: Host): boolean {
  return host.isTerminal("stdin") || host.isTerminal("stderr");
}

/**
 * Completes credentials: stored values first, then prompts for what is
 * missing when a terminal is attached.
 *
 * @param host Files, processes and the terminal.
 * @param account The account.
 * @param server The server.
 * @param stored What {@link storedCredentials} found (pass `undefined` to look now).
 * @param interactive Whether prompting is allowed (see {@link canPrompt}).
 * @returns The credentials, or `null` when they are incomplete and cannot be asked for.
 */
export async function completeCredentials(
  host: Host,
  account: Account,
  server: Server,
  stored: StoredCredentials | null | undefined,
  interactive: boolean,
): Promise<Credentials | null> {
  const found = stored === undefined ? await storedCredentials(host, account, server) : stored;
  let user = found?.user ?? account.user;
  let secret = found?.secret;
  let prompted = false;
  if (user === undefined || secret === undefined) {
    if (!interactive) return null;
    const where = `${server.host}:${server.port}`;
    if (user === undefined) {
      const u = await host.prompt(`SMTP user name for ${where}: `, { echo: true });
      if (u === null || u.trim() === "") return null;
      user = u.trim();
      prompted = true;
    }
    const token = TOKEN_MECHANISMS.has(account.authMethod ?? "");
    const s = await host.prompt(`SMTP ${token ? "token" : "password"} for ${user} at ${where}: `, { echo: false });
    if (s === null || s === "") return null;
    secret = s;
    prompted = true;
  }
  return {
    user,
    secret,
    source: prompted ? "prompt" : found!.source,
    ...(found?.file !== undefined && !prompted ? { file: found.file } : {}),
    prompted,
  };
}

/**
 * The client's auth options for credentials.
 *
 * @param account The account (mechanism).
 * @param creds The credentials.
 * @returns `{ user, pass }` or `{ user, token }`, with `method` when forced.
 */
export function authOptions(account: Account, creds: Credentials): AuthOptions {
  const method = account.authMethod;
  const token = TOKEN_MECHANISMS.has(method ?? "");
  return {
    user: creds.user,
    ...(token ? { token: creds.secret } : { pass: creds.secret }),
    ...(method === "NTLMV1" ? { method: "NTLM", ntlmVersion: 1 as const } : method !== undefined ? { method } : {}),
  };
}

/**
 * After a successful authentication with prompted values, asks whether to
 * save them to `~/.authinfo` (mode 0600) and does so on "y"/"yes".
 *
 * @param host The terminal and files.
 * @param server Host and port of the entry.
 * @param creds The credentials that worked.
 * @param interactive Whether prompting is allowed (see {@link canPrompt}).
 * @returns The file written, or `null`.
 */
export async function offerToSave(host: Host, server: Server, creds: Credentials, interactive: boolean): Promise<string | null> {
  if (!creds.prompted || !interactive) return null;
  const home = host.homeDir();
  if (!home) return null;
  const path = joinPath(home, ".authinfo");
  const answer = await host.prompt(`Save the credentials for ${creds.user} at ${server.host}:${server.port} to ${path} (mode 0600)? [y/N] `, {
    echo: true,
  });
  if (answer === null || !/^\s*y(es)?\s*$/i.test(answer)) return null;
  await appendAuthinfo(host, path, { machine: server.host, port: server.port, login: creds.user, password: creds.secret });
  return path;
}
