/**
 * Options and result types of the SMTP client, shared by the library API and the CLI.
 * @module
 */
import type { Connector, TlsInfo } from "../deps.ts";
import type { Capabilities, DsnNotify, Reply } from "./protocol/types.ts";

/**
 * How the connection is secured.
 *
 * - `"implicit"`: TLS from the first byte (RFC 8314; port 465).
 * - `"starttls-required"`: plain connect, then STARTTLS; fail if the server does not offer it.
 * - `"starttls-opportunistic"`: STARTTLS when offered, plain otherwise (a failed handshake is still an error).
 * - `"none"`: never TLS.
 */
export type TlsMode = "implicit" | "starttls-required" | "starttls-opportunistic" | "none";

/**
 * The port and TLS mode of a session whose options leave them out, decided in
 * one place for the client and the CLI: the port is 465 with implicit TLS,
 * else 587 when authenticating, else 25; the TLS mode is implicit on port
 * 465, else STARTTLS required when authenticating, else STARTTLS when offered.
 *
 * @param port The configured port, if any.
 * @param tls The configured TLS mode, if any.
 * @param authenticating Whether the session is set up to authenticate.
 * @returns Both, decided.
 */
export function defaultEndpoint(
  port: number | undefined,
  tls: TlsMode | undefined,
  authenticating: boolean,
): { readonly port: number; readonly tls: TlsMode } {
  const mode: TlsMode = tls ?? (port === 465 ? "implicit" : authenticating ? "starttls-required" : "starttls-opportunistic");
  return { port: port ?? (mode === "implicit" ? 465 : authenticating ? 587 : 25), tls: mode };
}

/** Deadlines in milliseconds, per stage (RFC 5321 §4.5.3.2), each measured as total time for the stage. */
export interface Timeouts {
  /** TCP connect (and implicit-TLS handshake). Default 30 s. */
  readonly connect: number;
  /** Waiting for the 220 greeting. Default 5 min. */
  readonly greeting: number;
  /** TLS handshake after STARTTLS. Default 60 s. */
  readonly tls: number;
  /** MAIL and other commands (EHLO, RSET, NOOP, AUTH, QUIT). Default 5 min. */
  readonly mail: number;
  /** Each RCPT. Default 5 min. */
  readonly rcpt: number;
  /** DATA command until 354. Default 2 min. */
  readonly data: number;
  /** Each block of message data written. Default 3 min. */
  readonly dataBlock: number;
  /** The final dot (or last BDAT) until its reply. Default 10 min. */
  readonly dataEnd: number;
}

/** The RFC 5321 §4.5.3.2 defaults. */
export const DEFAULT_TIMEOUTS: Timeouts = Object.freeze({
  connect: 30_000,
  greeting: 300_000,
  tls: 60_000,
  mail: 300_000,
  rcpt: 300_000,
  data: 120_000,
  dataBlock: 180_000,
  dataEnd: 600_000,
});

/**
 * How long a session waits for the greeting before it calls
 * {@link ClientOptions.onSlowGreeting} (it keeps waiting until the greeting
 * deadline).
 */
export const SLOW_GREETING_MS = 5_000;

/** What {@link ClientOptions.onSlowGreeting} is told. */
export interface SlowGreeting {
  /** The server. */
  readonly host: string;
  /** The port. */
  readonly port: number;
  /** The TLS mode in use (a silent server on a plain connection is often an implicit-TLS port). */
  readonly tls: TlsMode;
  /** How long the session has waited, in milliseconds. */
  readonly waitedMs: number;
}

/** One line of the protocol trace. Secrets are already replaced by `<redacted>`. */
export interface TraceEvent {
  /** `"send"`: client to server; `"recv"`: server to client; `"info"`: a note (TLS established, …). */
  readonly direction: "send" | "recv" | "info";
  /** The line without CRLF. */
  readonly line: string;
}

/** Credentials for SMTP AUTH. */
export interface AuthOptions {
  /** The user name. */
  readonly user: string;
  /** The password (for PLAIN, LOGIN, CRAM-MD5, SCRAM, NTLM). */
  readonly pass?: string;
  /** An OAuth 2 bearer token (for XOAUTH2, OAUTHBEARER). */
  readonly token?: string;
  /** Force one mechanism (e.g. `"PLAIN"`); otherwise the strongest offered is tried first. */
  readonly method?: string;
  /**
   * Which NTLM responses to send: `2` (default) NTLMv2, or `1` NTLMv1, which
   * some servers require (Exim's `spa` authenticator verifies only NTLMv1, as
   * libesmtp/esmtp send). Only with `method: "NTLM"`, so it is never used by
   * accident.
   *
   * **NTLMv1 is weak**: it is DES-based; whoever sees the exchange (or runs
   * the server) can recover the MD4 hash of the password, which is enough to
   * log in as the user on any NTLM service, and can guess weak passwords
   * offline. Use it only over TLS (the default TLS mode when `auth` is set
   * refuses a server without STARTTLS) to a server you trust, and prefer any
   * other mechanism the server offers.
   */
  readonly ntlmVersion?: 1 | 2;
  /** Authorization identity (PLAIN), rarely needed. */
  readonly authzid?: string;
}

/** Where and how to connect. */
export interface ClientOptions {
  /** Server host name or IP address. */
  readonly host: string;
  /** Port. Default 465 for `tls: "implicit"`, otherwise 587 when `auth` is set, else 25. */
  readonly port?: number;
  /** TLS mode. Default: `"implicit"` on port 465; `"starttls-required"` when `auth` is set; else `"starttls-opportunistic"`. */
  readonly tls?: TlsMode;
  /** The name the certificate must match (and SNI). Default: `host`. */
  readonly servername?: string;
  /**
   * Trusted CA certificates (PEM). On Node and Bun they replace the system
   * store, so only these CAs are trusted; on Deno they are added to its root
   * store (Deno's TLS API cannot replace it).
   */
  readonly ca?: string | readonly string[];
  /** Client certificate (PEM) for TLS client authentication. */
  readonly cert?: string;
  /** Client private key (PEM). */
  readonly key?: string;
  /** Passphrase of the client key. */
  readonly passphrase?: string;
  /**
   * Verify the server certificate and name. Default `true`. Setting `false`
   * exposes the session (and any password) to interception.
   */
  readonly tlsVerify?: boolean;
  /** The EHLO/HELO name. Default: the address literal of our end, e.g. `[192.0.2.1]`. */
  readonly name?: string;
  /** Credentials; authentication happens right after EHLO (and TLS). */
  readonly auth?: AuthOptions;
  /** Allow sending credentials over a connection without TLS. Default `false`. */
  readonly allowPlaintextAuth?: boolean;
  /** Use PIPELINING when offered. Default `true`. */
  readonly pipelining?: boolean;
  /** Use BDAT when CHUNKING is offered. Default `true`. */
  readonly chunking?: boolean;
  /** Send VERB after EHLO (the seeds' smtpmail-debug-verb). Default `false`. */
  readonly verb?: boolean;
  /** Deadlines; unspecified stages use {@link DEFAULT_TIMEOUTS}. */
  readonly timeouts?: Partial<Timeouts>;
  /** Opens the connection; default: the adapter for the current runtime. */
  readonly connector?: Connector;
  /** Receives every protocol line, secrets redacted. */
  readonly trace?: (event: TraceEvent) => void;
  /**
   * Called once when no greeting has come {@link SLOW_GREETING_MS} after the
   * connection opened (only when the greeting deadline is longer); the
   * session keeps waiting until that deadline. Lets an application say early
   * what is probably wrong, e.g. an implicit-TLS port reached without TLS.
   */
  readonly onSlowGreeting?: (info: SlowGreeting) => void;
  /** Random source for SASL nonces; default `crypto.getRandomValues`. */
  readonly random?: (bytes: Uint8Array) => Uint8Array;
}

/** DSN request for one recipient (RFC 3461); declared by the protocol core. */
export type { DsnNotify };

/** A recipient with per-recipient options. */
export interface RecipientSpec {
  /** The forward-path address. */
  readonly address: string;
  /** DSN NOTIFY; sent only when the server offers DSN. */
  readonly notify?: DsnNotify;
  /** DSN ORCPT (original recipient); defaults to `address` when DSN options are used. */
  readonly orcpt?: string;
}

/** Message content: bytes, text, or a stream of bytes (RFC 5322 message with headers). */
export type MessageData =
  | Uint8Array
  | string
  | AsyncIterable<Uint8Array>
  | ReadableStream<Uint8Array>;

/** One message to send: envelope plus content. */
export interface OutgoingMessage {
  /** The reverse-path; `""` for the null sender `<>`. */
  readonly from: string;
  /** Forward-paths. */
  readonly to: readonly (string | RecipientSpec)[];
  /** The message (headers and body). Line endings are normalised to CRLF. */
  readonly data: MessageData;
  /**
   * Size in octets, for `SIZE=` when `data` is a stream (computed for bytes and strings). Over the
   * server's SIZE limit, the message is refused before MAIL; a stream without it is counted as it is
   * sent and abandoned before it passes the limit (see `SmtpClient.send()`).
   */
  readonly size?: number;
  /**
   * Whether the content has 8-bit octets; computed for bytes and strings. For a
   * stream, unset means "maybe": `BODY=8BITMIME` is announced when the server
   * offers 8BITMIME. `false` declares a stream 7-bit. A stream that turns out
   * to hold an 8-bit octet that was not announced is abandoned (see
   * `SmtpClient.send()`).
   */
  readonly eightBit?: boolean;
  /**
   * The content needs SMTPUTF8: its header fields hold UTF-8 (RFC 6532), as `compose()` writes an
   * address with a non-ASCII local part (its `smtputf8`). Sent with the `SMTPUTF8` parameter; a
   * server without SMTPUTF8 gets nothing: a permanent `SmtpError` (554 5.6.9, phase `"mail"`) before
   * MAIL. Not needed for non-ASCII envelope addresses: the client decides those itself
   * (`envelopeForServer()`: SMTPUTF8 when offered, else IDN domains as A-labels).
   */
  readonly smtpUtf8?: boolean;
  /** DSN: return full message or headers only. */
  readonly dsnReturn?: "FULL" | "HDRS";
  /**
   * DSN envelope identifier (RFC 3461 §4.4): printable US-ASCII and spaces, sent
   * xtext-encoded (`"id x"` → `ENVID=id+20x`), at most 100 characters encoded.
   * Anything else is refused with a `TypeError`/`RangeError` before the first command.
   */
  readonly dsnEnvelopeId?: string;
  /** DSN NOTIFY applied to every recipient without its own. */
  readonly dsnNotify?: DsnNotify;
  /**
   * `"any"` (default): send when at least one recipient is accepted.
   * `"all"`: send only when every recipient is accepted.
   */
  readonly policy?: "any" | "all";
}

/** What happened to one recipient. */
export interface RecipientResult {
  /** The forward-path as given. */
  readonly address: string;
  /** Whether the server accepted it. */
  readonly accepted: boolean;
  /** The server's reply to RCPT (or to the final dot, for LMTP-like per-recipient data replies). */
  readonly code: number;
  /** The reply's RFC 3463 enhanced status code, when sent. */
  readonly enhancedCode: string | null;
  /** The reply's text (or why the recipient was not tried). */
  readonly message: string;
}

/** The outcome of a sent message. */
export interface SendResult {
  /** Recipients the server accepted (and the message was delivered to them). */
  readonly accepted: readonly RecipientResult[];
  /** Recipients the server refused. */
  readonly rejected: readonly RecipientResult[];
  /** The server's reply to the end of data (queue id is usually in it). */
  readonly reply: Reply;
  /** Octets of message data transmitted (after CRLF normalisation and dot-stuffing). */
  readonly octets: number;
}

/** What the session learnt about the server (for diagnostics such as `--serverinfo`). */
export interface ServerInfo {
  /** The server's 220 greeting. */
  readonly greeting: Reply;
  /** The last EHLO reply, parsed; `null` after a HELO fallback. */
  readonly capabilities: Capabilities | null;
  /** The TLS session, or `null` on a plain connection. */
  readonly tls: TlsInfo | null;
  /** The SASL mechanism that authenticated the session, or `null`. */
  readonly authenticated: string | null;
}
