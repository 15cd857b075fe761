/**
 * The CLI's exit statuses (`sysexits.h`) and the one function that maps any
 * error to one of them, plus the one-line message printed for it.
 *
 * | status | name | when |
 * | --- | --- | --- |
 * | 0 | `EX_OK` | sent (or queued, listed, removed) |
 * | 64 | `EX_USAGE` | bad command line, no recipients |
 * | 65 | `EX_DATAERR` | bad message or address; 5xx to MAIL, DATA or the message; every recipient refused with 5xx (not all 5.1.1) |
 * | 66 | `EX_NOINPUT` | an `--attach`/`--html` file cannot be read; `--queue-remove` of an unknown id |
 * | 67 | `EX_NOUSER` | every recipient refused with 5.1.1 |
 * | 68 | `EX_NOHOST` | the server's name does not resolve |
 * | 69 | `EX_UNAVAILABLE` | greeting/EHLO/STARTTLS refused, TLS failure, other permanent failures |
 * | 70 | `EX_SOFTWARE` | an internal error (a bug) |
 * | 74 | `EX_IOERR` | the queue directory cannot be used (permanent I/O error) |
 * | 75 | `EX_TEMPFAIL` | any 4xx, time-outs, connection failures, MDA killed or failing with a non-sysexits status |
 * | 76 | `EX_PROTOCOL` | the server broke the protocol |
 * | 77 | `EX_NOPERM` | authentication failed or impossible (no credentials, no TLS); Deno denied a permission (`--allow-…`) |
 * | 78 | `EX_CONFIG` | configuration or credentials file invalid, no server configured |
 *
 * The CLI speaks CLI: library errors that carry a {@link SmtpErrorHint} are
 * printed with their problem and the CLI's own remedy — the flag and the
 * configuration keyword that fix it (msmtp keywords when the account came
 * from an msmtprc) — never the library's option names.
 *
 * @module
 */
import type { ConfigFormat } from "../config/types.ts";
import {
  AuthError,
  ConfigError,
  ConnectionError,
  PermissionError,
  ProtocolError,
  ReplyError,
  SmtpError,
  type SmtpErrorHint,
  TimeoutError,
  TlsError,
} from "../errors.ts";

/** Successful termination. */
export const EX_OK = 0;
/** The command was used incorrectly. */
export const EX_USAGE = 64;
/** The input data was incorrect. */
export const EX_DATAERR = 65;
/** An input file did not exist or was not readable. */
export const EX_NOINPUT = 66;
/** The addressee is unknown. */
export const EX_NOUSER = 67;
/** The host name is unknown. */
export const EX_NOHOST = 68;
/** A service is unavailable. */
export const EX_UNAVAILABLE = 69;
/** An internal software error. */
export const EX_SOFTWARE = 70;
/** An error occurred while doing I/O on some file. */
export const EX_IOERR = 74;
/** Temporary failure; the user is invited to retry. */
export const EX_TEMPFAIL = 75;
/** The remote system returned something "not possible" during a protocol exchange. */
export const EX_PROTOCOL = 76;
/** Insufficient permission. */
export const EX_NOPERM = 77;
/** Something was found in an unconfigured or misconfigured state. */
export const EX_CONFIG = 78;

/** An error the CLI raises itself, carrying its exit status. */
export class CliError extends Error {
  /** The `sysexits.h` status to exit with. */
  readonly exitCode: number;
  /**
   * @param message One sentence, values quoted.
   * @param exitCode The exit status.
   * @param options The underlying error.
   */
  constructor(message: string, exitCode: number, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** A bad command line (exit 64). */
export function usageError(message: string): CliError {
  return new CliError(message, EX_USAGE);
}

const DNS_CODES = new Set(["ENOTFOUND", "EAI_NONAME", "EAI_NODATA", "EAI_FAIL"]);
const DNS_TEXT = /getaddrinfo ENOTFOUND|Name or service not known|nodename nor servname|No address associated with hostname|failed to lookup address|dns error|could not resolve/i;

/** Whether a connection error (or one of its causes) says the name does not resolve. */
function isDnsFailure(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && DNS_CODES.has(code)) return true;
    if (code === "EAI_AGAIN") return false; // the resolver is unreachable: temporary
    const message = (e as { message?: unknown }).message;
    if (typeof message === "string" && /EAI_AGAIN|Temporary failure in name resolution/i.test(message)) return false;
    if (typeof message === "string" && DNS_TEXT.test(message)) return true;
  }
  return false;
}

/**
 * Whether a reply means "authenticate first": 530, or 5.7.0 with a 5xx, to
 * MAIL (or RCPT, where some servers say it).
 *
 * @param err An error from sending.
 * @returns `true` for an authentication-required refusal.
 */
export function isAuthRequired(err: unknown): boolean {
  if (!(err instanceof ReplyError)) return false;
  if (err.phase !== "mail" && err.phase !== "rcpt") return false;
  const code = err.code ?? 0;
  return code === 530 || (code >= 500 && err.enhancedCode === "5.7.0");
}

/**
 * Maps any error to the `sysexits.h` status the command exits with (see the
 * module documentation for the table).
 *
 * @param err What was thrown.
 * @returns The exit status (never 0).
 */
export function exitCodeFor(err: unknown): number {
  if (permissionDenied(err)) return EX_NOPERM;
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof ConfigError) return EX_CONFIG;
  if (err instanceof SmtpError && err.phase === "queue") return err.temporary ? EX_TEMPFAIL : EX_IOERR;
  if (err instanceof AuthError) return EX_NOPERM;
  if (err instanceof ProtocolError) return EX_PROTOCOL;
  if (err instanceof TimeoutError) return EX_TEMPFAIL;
  if (err instanceof ConnectionError) return isDnsFailure(err) ? EX_NOHOST : EX_TEMPFAIL;
  if (err instanceof TlsError) return err.temporary ? EX_TEMPFAIL : EX_UNAVAILABLE;
  if (err instanceof ReplyError) {
    const code = err.code ?? 0;
    if (code >= 400 && code < 500) return EX_TEMPFAIL;
    switch (err.phase) {
      case "auth":
        return EX_NOPERM;
      case "rcpt": {
        if (isAuthRequired(err)) return EX_NOPERM;
        const rejected = err.rejected ?? [];
        if (rejected.some((r) => r.code >= 400 && r.code < 500)) return EX_TEMPFAIL;
        if (rejected.length > 0 && rejected.every((r) => r.enhancedCode === "5.1.1")) return EX_NOUSER;
        if (rejected.length === 0 && err.enhancedCode === "5.1.1") return EX_NOUSER;
        return EX_DATAERR;
      }
      case "mail":
        return isAuthRequired(err) ? EX_NOPERM : EX_DATAERR;
      case "data":
      case "bdat":
      case "message":
        return EX_DATAERR;
      default:
        return EX_UNAVAILABLE;
    }
  }
  if (err instanceof SmtpError) {
    if (err.temporary) return EX_TEMPFAIL;
    switch (err.phase) {
      case "mail":
      case "rcpt":
      case "data":
      case "bdat":
      case "message":
      case "compose":
        return EX_DATAERR;
      case "auth":
        return EX_NOPERM;
      case "config":
        return EX_CONFIG;
      default:
        return EX_UNAVAILABLE;
    }
  }
  return EX_SOFTWARE;
}

/** The {@link PermissionError} an error is or wraps (a queue or configuration error caused by one), if any. */
function permissionDenied(err: unknown): PermissionError | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof PermissionError) return e;
  }
  return undefined;
}

/** Which configuration syntax to name keywords in: msmtp's, or smtpsend's (also for esmtp files and no file). */
export type KeywordStyle = ConfigFormat | "env" | null | undefined;

/** `" (configuration file: …)"` or `" (msmtprc: …)"`; msmtp `null` when msmtp has no keyword for it. */
function inConfig(style: KeywordStyle, rc: string, msmtp: string | null): string {
  if (style === "msmtp") return msmtp === null ? "" : ` (msmtprc: ${msmtp})`;
  return ` (configuration file: ${rc})`;
}

/**
 * The CLI's remedy for a library error's hint: the flag and the
 * configuration keyword (smtpsendrc or msmtprc) that fix it.
 *
 * @param hint The error's hint.
 * @param style The syntax of the configuration the account came from.
 * @returns One clause, without a leading separator.
 */
export function cliRemedy(hint: SmtpErrorHint, style: KeywordStyle): string {
  switch (hint) {
    case "implicit-tls-expected":
      return "the port probably expects TLS from the first byte (implicit TLS, as port 465 does): use --tls implicit" +
        inConfig(style, "tls implicit", "tls on and tls_starttls off");
    case "plain-smtp-port":
      return "the port speaks plain SMTP (with STARTTLS, as ports 587 and 25 do), not implicit TLS: use --tls starttls" +
        inConfig(style, "tls starttls", "tls on and tls_starttls on");
    case "certificate-untrusted":
      return "to trust it, give the certificate of the CA that signed it (or the server's self-signed certificate) with --ca-file FILE" +
        inConfig(style, "ca_file FILE", "tls_trust_file FILE");
    case "certificate-name":
      return "the certificate was issued for another name: connect to a name it holds with --host NAME" +
        inConfig(style, "hostname NAME", "host NAME, or tls_host_override NAME");
    case "starttls-not-offered":
      return "if the port expects TLS from the first byte, use --tls implicit" + inConfig(style, "tls implicit", "tls_starttls off") +
        "; only on a trusted network, --tls starttls-opportunistic sends without TLS";
    case "auth-needs-tls":
      return "use --tls starttls or --tls implicit" + inConfig(style, "tls starttls", "tls on") +
        "; only on a trusted network, --allow-plaintext-auth" + inConfig(style, "allow_plaintext_auth on", null) +
        " sends them without TLS";
    case "auth-needs-verified-tls":
      return "the certificate check is off (--tls-no-verify): trust the certificate with --ca-file FILE instead" +
        inConfig(style, "ca_file FILE, not tls_verify off", "tls_trust_file FILE, not tls_certcheck off") +
        "; only on a trusted network, --allow-plaintext-auth" + inConfig(style, "allow_plaintext_auth on", null);
    case "auth-method-not-offered":
      return "choose one it offers with --auth MECHANISM, or --auth on to let smtpsend choose" +
        inConfig(style, "auth MECHANISM", "auth MECHANISM");
    case "runtime-tls-limit":
      return "run smtpsend under Node or Bun for this (npx smtpsend, bunx smtpsend)";
  }
}

/** The keyword style of the account an error came from (see {@link noteKeywordStyle}). */
const styles = new WeakMap<object, KeywordStyle>();

/**
 * Records which configuration syntax the account behind an error was written
 * in, so that {@link errorLine} names msmtp keywords for msmtprc accounts.
 *
 * @param err The error (non-objects are ignored).
 * @param style The account's configuration format.
 */
export function noteKeywordStyle(err: unknown, style: KeywordStyle): void {
  if (typeof err === "object" && err !== null && !styles.has(err)) styles.set(err, style);
}

/**
 * An error's text as the CLI shows it: a library error with a hint gets the
 * CLI's remedy instead of the library's; a time-out says how to wait longer.
 */
function cliText(err: unknown, style: KeywordStyle): string {
  if (!(err instanceof Error)) return String(err);
  if (err instanceof SmtpError && err.hint !== undefined) return `${err.problem}; ${cliRemedy(err.hint, style)}`;
  if (err instanceof TimeoutError) {
    return `${err.message}; to wait longer, use --timeout SECONDS${inConfig(style, "timeout SECONDS", "timeout SECONDS")}`;
  }
  return err.message;
}

// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/**
 * The one line printed on standard error for an error: `smtpsend: …`, with
 * line breaks folded into spaces and control characters (which a hostile
 * server could send) replaced by `?`. Library advice is replaced by the
 * CLI's (flags and configuration keywords; see {@link cliRemedy}).
 *
 * @param err What was thrown.
 * @param style Keyword style; default: what {@link noteKeywordStyle} recorded for it.
 * @returns The line, with a trailing newline.
 */
export function errorLine(err: unknown, style?: KeywordStyle): string {
  const denied = permissionDenied(err);
  let text = denied !== undefined && !(err instanceof Error && err.message.includes(denied.message))
    ? `${(err as Error).message}: ${denied.message}`
    : cliText(err, style ?? (typeof err === "object" && err !== null ? styles.get(err) : undefined));
  if (exitCodeFor(err) === EX_SOFTWARE && err instanceof Error) text = `internal error: ${err.name}: ${text}`;
  text = text.replace(/\r?\n/g, " ").replace(CONTROL, "?").trim();
  return `smtpsend: ${text}\n`;
}
