/**
 * The normalised account every configuration format is mapped onto.
 *
 * `~/.smtpsendrc` (the esmtp format plus extras), `~/.esmtprc` and
 * `~/.msmtprc` all produce the same {@link Account}; a field left
 * `undefined` means "the file did not say": the client's own default applies.
 *
 * @module
 */

import type { DsnNotify, TlsMode } from "../options.ts";

/** How the connection is secured, and DSN NOTIFY conditions: the client's own types. */
export type { DsnNotify, TlsMode };

/** Which syntax a configuration file is written in. */
export type ConfigFormat = "smtpsend" | "esmtp" | "msmtp";

/**
 * A command whose first output line is the password (or OAuth token).
 *
 * `argv` is run without a shell. A `passwordeval` line from a configuration
 * file becomes `["/bin/sh", "-c", line]`: the user wrote that shell command in
 * their own private file, which is the msmtp/esmtp contract.
 */
export interface PasswordCommand {
  /** Program and arguments. */
  readonly argv: readonly string[];
  /** Where it was configured, e.g. `"/home/u/.msmtprc:12"`, for error messages. */
  readonly origin?: string;
}

/** Where an {@link Account} came from. */
export interface AccountSource {
  /** The configuration file, or `null` for an account made from the environment. */
  readonly file: string | null;
  /** The file's syntax, or `"env"` for `SMTPSERVER`. */
  readonly format: ConfigFormat | "env";
  /** Line of the `identity`/`account` command (or first setting); `null` when not from a file. */
  readonly line: number | null;
}

/** One SMTP account (an esmtp identity, an msmtp account), normalised. */
export interface Account {
  /** The esmtp identity address, the msmtp account name, or `"default"`. */
  readonly name: string;
  /** The file and line it was defined at. */
  readonly source: AccountSource;
  /**
   * The envelope sender this account is chosen for: an address, or a shell
   * pattern (`*`, `?`, `[…]`) as msmtp 1.8.16+ allows; compared case-insensitively.
   * msmtp also uses it as the envelope-from when none is given.
   */
  readonly from?: string;
  /** Display name for a generated From header (msmtp `from_full_name`). */
  readonly fromName?: string;
  /** SMTP server host name or IP address (IPv6 without brackets). */
  readonly host?: string;
  /** TCP port. */
  readonly port?: number;
  /** TLS mode. */
  readonly tls?: TlsMode;
  /** Verify the server certificate and name; `false` only when the file says so explicitly. */
  readonly tlsVerify: boolean;
  /** The name the certificate must match, when it is not `host` (msmtp `tls_host_override`). */
  readonly servername?: string;
  /** PEM file of trusted CAs replacing the system store. */
  readonly caFile?: string;
  /** PEM client certificate file. */
  readonly certFile?: string;
  /** PEM client key file. */
  readonly keyFile?: string;
  /** Passphrase of the client key (esmtp `certificate_passphrase`). */
  readonly passphrase?: string;
  /**
   * `true`: authenticate right after EHLO; `false`: never (msmtp `auth off`);
   * `undefined`: when credentials exist or the server asks (530).
   */
  readonly auth?: boolean;
  /** Forced SASL mechanism, upper case (`"PLAIN"`, `"XOAUTH2"`, …). */
  readonly authMethod?: string;
  /** User name for SMTP AUTH. */
  readonly user?: string;
  /** Password (or, with XOAUTH2/OAUTHBEARER, the bearer token). */
  readonly password?: string;
  /** Command printing the password or token (esmtp/msmtp `passwordeval`). */
  readonly passwordEval?: PasswordCommand;
  /** Domain for NTLM (msmtp `ntlmdomain`). */
  readonly ntlmDomain?: string;
  /** Allow credentials over a connection without TLS. */
  readonly allowPlaintextAuth: boolean;
  /**
   * Authenticate on the first attempt (the seeds' `smtpmail-servers-requiring-authorization`):
   * `true`, or a case-insensitive pattern matched against the server name.
   */
  readonly requiresAuth?: boolean | RegExp;
  /** EHLO/HELO name (esmtp `helo`, msmtp `domain`). */
  readonly helo?: string;
  /** Domain appended to local (domain-less) addresses (esmtp `qualifydomain`). */
  readonly qualifyDomain?: string;
  /**
   * Local delivery command as written, with `%T` (recipients) and `%F` (sender)
   * placeholders, e.g. `"/usr/bin/procmail -d %T"`. Never to be run through a
   * shell with user data substituted.
   */
  readonly mda?: string;
  /** Deliver every recipient through the MDA. */
  readonly forceMda: boolean;
  /** Sender header to set (esmtp `force sender`; `%u` = user name). */
  readonly forceSender?: string;
  /** Envelope-from to force (esmtp `force reverse_path`; `%u` = user name). */
  readonly forceReversePath?: string;
  /** Add a Message-ID header when the message has none. */
  readonly messageId?: boolean;
  /** Queue messages instead of sending at once. */
  readonly queue: boolean;
  /** Queue directory. */
  readonly queueDir?: string;
  /** Network timeout in milliseconds. */
  readonly timeoutMs?: number;
  /** Use PIPELINING when offered. */
  readonly pipelining?: boolean;
  /** Default DSN NOTIFY. */
  readonly dsnNotify?: DsnNotify;
  /** Default DSN RET. */
  readonly dsnReturn?: "FULL" | "HDRS";
}

/** A configuration file parsed into accounts. */
export interface ParsedConfig {
  /** The file name used in messages. */
  readonly file: string;
  /** Its syntax. */
  readonly format: ConfigFormat;
  /** Accounts in file order. */
  readonly accounts: readonly Account[];
  /** Name of the default account, when the file designates one. */
  readonly defaultAccount?: string;
  /** Whether the file holds a password or passphrase (then it must be private). */
  readonly containsSecrets: boolean;
  /** Settings accepted but ignored, as `"file:line: text"`. */
  readonly warnings: readonly string[];
}
