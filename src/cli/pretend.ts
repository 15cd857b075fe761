/**
 * `--pretend` (msmtp's `-P`): print the configuration that would be used —
 * file, account, server, TLS, authentication, local delivery, queue — and
 * exit without connecting, reading the message or running a password
 * command. Passwords and passphrases are shown as `*`.
 *
 * @module
 */
import { findCredentials, loadAuthinfo } from "../config/authinfo.ts";
import type { Config } from "../config/account.ts";
import { commandName } from "../config/passwordeval.ts";
import type { Account } from "../config/types.ts";
import type { CliArgs } from "./args.ts";
import type { Host } from "../../deps.ts";
import { requiresAuthFor, type Server } from "./resolve.ts";

function onOff(b: boolean): string {
  return b ? "on" : "off";
}

/**
 * Formats the resolved configuration (pure, except the authinfo lookup
 * done by the caller).
 *
 * @param config The loaded configuration.
 * @param account The account after command-line overrides.
 * @param server Its server, or the error text when none is configured.
 * @param args The command line.
 * @param authinfo Where a stored password for the server was found (`null`: none).
 * @returns `key = value` lines ending in a newline.
 */
export function formatPretend(
  config: Config,
  account: Account,
  server: Server | string,
  args: CliArgs,
  authinfo: string | null,
): string {
  const out: [string, string][] = [];
  const add = (k: string, v: string | undefined): void => {
    if (v !== undefined) out.push([k, v]);
  };
  add("configuration file", config.file === null ? `none (looked for ${config.searched.join(", ")})` : `${config.file} (${config.format})`);
  add("SMTPSERVER", config.smtpServer);
  const src = account.source;
  add("account", `${account.name}${src.file !== null ? ` (${src.file}${src.line !== null ? `:${src.line}` : ""})` : src.format === "env" ? " (from the environment)" : ""}`);
  if (typeof server === "string") add("host", `none: ${server}`);
  else {
    add("host", server.host);
    add("port", String(server.port));
  }
  if (typeof server !== "string") add("tls", `${server.tls}${server.tlsDefault ? " (default)" : ""}`);
  add("tls_verify", onOff(account.tlsVerify));
  add("tls_servername", account.servername);
  add("ca_file", account.caFile);
  add("cert_file", account.certFile);
  add("key_file", account.keyFile);
  add("certificate_passphrase", account.passphrase !== undefined ? "*" : undefined);
  add("helo", account.helo ?? "default (the address literal of this end of the connection)");
  const host = typeof server === "string" ? "" : server.host;
  let auth: string;
  if (account.auth === false) auth = "off";
  else if (account.auth === true) auth = "on";
  else if (requiresAuthFor(account, host)) auth = "on (requires_auth matches the server)";
  else auth = "when credentials exist, else on demand after a 530 reply";
  add("auth", auth);
  add("auth_method", account.authMethod ?? "strongest offered");
  add("user", account.user);
  let password: string;
  if (account.password !== undefined) password = "* (configured)";
  else if (account.passwordEval !== undefined) {
    password = `* (from the command "${commandName(account.passwordEval.argv)}"${account.passwordEval.origin ? `, ${account.passwordEval.origin}` : ""})`;
  } else if (authinfo !== null) password = `* (${authinfo})`;
  else password = "none (asked for on a terminal when the server requires it)";
  add("password", account.auth === false ? "not used" : password);
  add("allow_plaintext_auth", onOff(account.allowPlaintextAuth));
  add("from", account.from);
  add("from_full_name", account.fromName);
  add("envelope from (-f)", args.sender);
  add("force_reverse_path", account.forceReversePath);
  add("force_sender", account.forceSender);
  add("qualifydomain", account.qualifyDomain);
  add("message_id", account.messageId === false ? "off (not added)" : "on (added when missing)");
  add("mda", account.mda);
  add("force_mda", account.mda !== undefined ? onOff(account.forceMda) : undefined);
  add("queue", onOff(account.queue || args.queue));
  add("queue_dir", account.queueDir);
  add("timeout", account.timeoutMs !== undefined ? `${account.timeoutMs / 1000} s` : "default (RFC 5321 per stage)");
  add("pipelining", account.pipelining === false ? "off" : "on (when offered)");
  const notify = args.dsnNotify ?? account.dsnNotify;
  add("dsn_notify", notify === undefined ? undefined : notify === "NEVER" ? "never" : notify.join(","));
  add("dsn_return", (args.dsnReturn ?? account.dsnReturn)?.toLowerCase());
  add("dsn_envelope_id (-V)", args.envelopeId);
  add("recipients", args.recipients.length ? args.recipients.join(", ") : undefined);
  const width = Math.max(...out.map(([k]) => k.length));
  // deno-lint-ignore no-control-regex
  const control = /[\x00-\x1f\x7f]/g;
  let text = out.map(([k, v]) => `${k.padEnd(width)} = ${v.replace(control, "?")}`).join("\n") + "\n";
  for (const w of config.warnings) text += `warning: ${w}\n`;
  return text;
}

/**
 * Where the stored password for the server would come from (authinfo/netrc),
 * without revealing it.
 *
 * @param host Files.
 * @param account The account.
 * @param server The server.
 * @returns E.g. `"from /home/u/.authinfo:3"`, or `null`.
 */
export async function authinfoSource(host: Host, account: Account, server: Server): Promise<string | null> {
  if (account.password !== undefined || account.passwordEval !== undefined || account.auth === false) return null;
  try {
    const { entries } = await loadAuthinfo(host);
    const e = findCredentials(entries, {
      host: server.host,
      port: server.port,
      ...(account.user !== undefined ? { user: account.user } : {}),
    });
    if (!e) return null;
    const where = `${e.file ?? "authinfo"}:${e.line}`;
    return e.password !== undefined ? `from ${where}` : `login from ${where}; password asked for on a terminal`;
  } catch (err) {
    return `credentials files unreadable: ${(err as Error).message}`;
  }
}
