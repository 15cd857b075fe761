/**
 * One error hierarchy for everything smtpsend reports.
 *
 * Every error carries the SMTP `phase` it happened in and whether it is
 * `temporary` (retrying later may succeed: 4xx replies, time-outs, network
 * failures) or permanent. Bad arguments are reported with the built-in
 * `TypeError` / `RangeError` instead.
 *
 * @module
 */

import type { RecipientResult } from "./options.ts";

/** The stage of an SMTP session an error or reply belongs to. */
export type SmtpPhase =
  | "connect"
  | "greeting"
  | "ehlo"
  | "helo"
  | "starttls"
  | "tls"
  | "auth"
  | "mail"
  | "rcpt"
  | "data"
  | "bdat"
  | "message"
  | "rset"
  | "noop"
  | "vrfy"
  | "verb"
  | "quit"
  | "mda"
  | "queue"
  | "config"
  | "compose";

/**
 * Why an error happened, as a machine-readable kind an application can turn
 * into its own advice (the CLI names its flags and configuration keywords);
 * the error's `message` words the remedy for library callers.
 *
 * - `"implicit-tls-expected"`: no greeting on a plain connection; the port
 *   probably speaks TLS from the first byte (RFC 8314, port 465).
 * - `"plain-smtp-port"`: the TLS handshake met plain text; the port speaks
 *   plain SMTP (STARTTLS, ports 587 and 25).
 * - `"certificate-untrusted"`: the certificate chain did not verify
 *   (self-signed, unknown CA).
 * - `"certificate-name"`: the certificate does not name the server.
 * - `"starttls-not-offered"`: TLS is required and the server offers no STARTTLS.
 * - `"auth-needs-tls"`: credentials were not sent over a connection without TLS.
 * - `"auth-needs-verified-tls"`: credentials were not sent because the
 *   certificate was not verified.
 * - `"auth-method-not-offered"`: the forced SASL mechanism is not offered.
 * - `"runtime-tls-limit"`: this runtime's TLS cannot do what was asked.
 */
export type SmtpErrorHint =
  | "implicit-tls-expected"
  | "plain-smtp-port"
  | "certificate-untrusted"
  | "certificate-name"
  | "starttls-not-offered"
  | "auth-needs-tls"
  | "auth-needs-verified-tls"
  | "auth-method-not-offered"
  | "runtime-tls-limit";

/** Fields every {@link SmtpError} may carry. */
export interface SmtpErrorOptions {
  /** The SMTP session stage where it happened. */
  phase?: SmtpPhase;
  /** Three-digit reply code, when the error comes from a server reply. */
  code?: number;
  /** RFC 3463 enhanced status code such as `"5.1.1"`, when the server sent one. */
  enhancedCode?: string;
  /** Whether trying again later may succeed. */
  temporary?: boolean;
  /**
   * The whole message, end-of-data included, reached the server but no final
   * reply arrived (timeout or dropped connection): the server may already have
   * accepted it (RFC 5321 §6.1), so sending it again may deliver it twice.
   */
  maybeDelivered?: boolean;
  /** The underlying error. */
  cause?: unknown;
  /** Why it happened, for applications that word their own advice. */
  hint?: SmtpErrorHint;
  /**
   * Advice for library callers (naming library options), appended to the
   * message after `"; "`; {@link SmtpError.problem} is the message without it.
   */
  remedy?: string;
}

/** Base class of every error smtpsend throws for a failed mail operation. */
export class SmtpError extends Error {
  /** The SMTP session stage where it happened, when known. */
  readonly phase: SmtpPhase | undefined;
  /** Three-digit reply code, when the error comes from a server reply. */
  readonly code: number | undefined;
  /** RFC 3463 enhanced status code such as `"5.1.1"`, when known. */
  readonly enhancedCode: string | undefined;
  /** Whether trying again later may succeed. */
  readonly temporary: boolean;
  /**
   * `true` when the message was sent in full but its final reply never came:
   * the server may already have accepted it (RFC 5321 §6.1).
   */
  readonly maybeDelivered: boolean;
  /** Why it happened, when known, for applications that word their own advice. */
  readonly hint: SmtpErrorHint | undefined;
  /** The message without the library-worded remedy (equal to `message` when there is none). */
  readonly problem: string;

  /**
   * Creates the error.
   *
   * @param message Sentence-case description; quote values.
   * @param options Phase, codes, temporariness, cause, hint and remedy.
   */
  constructor(message: string, options: SmtpErrorOptions = {}) {
    super(
      options.remedy ? `${message}; ${options.remedy}` : message,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.problem = message;
    this.hint = options.hint;
    this.name = new.target.name;
    this.phase = options.phase;
    this.code = options.code;
    this.enhancedCode = options.enhancedCode;
    this.temporary = options.temporary ?? false;
    this.maybeDelivered = options.maybeDelivered ?? false;
  }
}

/** The connection could not be opened, or broke. Temporary by default. */
export class ConnectionError extends SmtpError {
  /**
   * Creates the error.
   *
   * @param message What failed.
   * @param options Phase and cause; `temporary` defaults to `true`.
   */
  constructor(message: string, options: SmtpErrorOptions = {}) {
    super(message, { temporary: true, ...options });
  }
}

/** TLS could not be established or the peer's certificate was refused. Permanent by default. */
export class TlsError extends SmtpError {}

/** The peer broke the SMTP protocol (malformed reply, oversized reply, unexpected bytes). */
export class ProtocolError extends SmtpError {}

/** A stage did not finish within its deadline. Temporary. */
export class TimeoutError extends SmtpError {
  /** The deadline that was exceeded, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * Creates the error.
   *
   * @param message What timed out.
   * @param timeoutMs The deadline, in milliseconds.
   * @param options Phase and cause.
   */
  constructor(message: string, timeoutMs: number, options: SmtpErrorOptions = {}) {
    super(message, { temporary: true, ...options });
    this.timeoutMs = timeoutMs;
  }
}

/** The server answered with a negative reply (4xx temporary, 5xx permanent). */
export class ReplyError extends SmtpError {
  /** The reply's text lines, without the code. */
  readonly lines: readonly string[];
  /**
   * When no recipient (or, with the `"all"` policy, not every recipient) was
   * accepted: each refused recipient with the server's reply to its RCPT.
   */
  readonly rejected?: readonly RecipientResult[];
  /**
   * Creates the error.
   *
   * @param message Description including the server's text.
   * @param reply The server's reply.
   * @param phase The stage the reply answered.
   * @param rejected The refused recipients, for a refusal of the recipients.
   */
  constructor(
    message: string,
    reply: { readonly code: number; readonly enhanced: string | null; readonly lines: readonly string[] },
    phase: SmtpPhase,
    rejected?: readonly RecipientResult[],
  ) {
    super(message, {
      phase,
      code: reply.code,
      enhancedCode: reply.enhanced ?? undefined,
      temporary: reply.code >= 400 && reply.code < 500,
    });
    this.lines = reply.lines;
    if (rejected !== undefined) this.rejected = rejected;
  }
}

/** Authentication failed, was refused, or would have been unsafe (no TLS). */
export class AuthError extends SmtpError {}

/**
 * The runtime refused an operation smtpsend needs: Deno run without the
 * `--allow-…` permission (reading the environment or a file, the home
 * directory, the network, running a password command). Permanent.
 */
export class PermissionError extends SmtpError {
  /** The permission as Deno names it: `"env"`, `"sys"`, `"read"`, `"write"`, `"net"`, `"run"`, …. */
  readonly permission: string;
  /** The flag that grants it, e.g. `"--allow-env"`. */
  readonly flag: string;
  /**
   * Creates the error.
   *
   * @param message What was denied and the flag to add.
   * @param permission The permission's name.
   * @param flag The flag that grants it.
   * @param options Cause.
   */
  constructor(message: string, permission: string, flag: string, options: SmtpErrorOptions = {}) {
    super(message, options);
    this.permission = permission;
    this.flag = flag;
  }
}

/** The configuration, a credentials file or a command line is invalid. Permanent. */
export class ConfigError extends SmtpError {
  /**
   * Creates the error.
   *
   * @param message What is wrong, naming the file or option.
   * @param options Cause.
   */
  constructor(message: string, options: SmtpErrorOptions = {}) {
    super(message, { phase: "config", ...options });
  }
}
