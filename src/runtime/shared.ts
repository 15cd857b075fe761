/**
 * Pieces the runtime adapters share: a read queue for push-style sockets,
 * error mapping into the smtpsend hierarchy, and small TLS helpers.
 * No runtime APIs are touched here.
 *
 * @module
 */
import type { TlsInfo } from "./types.ts";
import { ConnectionError, ProtocolError, SmtpError, TlsError } from "../errors.ts";

/** Above this many unread bytes a push-style socket is paused. */
export const HIGH_WATER = 1 << 20;

/**
 * Received chunks waiting for `read()`, for runtimes that push data at us
 * (Node, Bun). At most one reader waits at a time.
 */
export class ChunkQueue {
  #chunks: Uint8Array[] = [];
  #size = 0;
  #done = false;
  #error: unknown = undefined;
  #waiter: { resolve(v: Uint8Array | null): void; reject(e: unknown): void } | null = null;
  /** Called when a read drops the buffered size below {@link HIGH_WATER}. */
  onLow: (() => void) | null = null;

  /** Bytes received and not yet read. */
  get buffered(): number {
    return this.#size;
  }

  /** Whether a `read()` is waiting. */
  get waiting(): boolean {
    return this.#waiter !== null;
  }

  /** Whether the stream has ended (no more chunks will be pushed). */
  get done(): boolean {
    return this.#done;
  }

  /** Adds a received chunk. */
  push(chunk: Uint8Array): void {
    if (this.#done || chunk.byteLength === 0) return;
    const w = this.#waiter;
    if (w) {
      this.#waiter = null;
      w.resolve(chunk);
      return;
    }
    this.#chunks.push(chunk);
    this.#size += chunk.byteLength;
  }

  /** Ends the stream; `error` is raised by the next read after the buffered data. */
  end(error?: unknown): void {
    if (this.#done) return;
    this.#done = true;
    if (error !== undefined) this.#error = error;
    const w = this.#waiter;
    if (w) {
      this.#waiter = null;
      this.#settleEnd(w);
    }
  }

  /** Drops everything buffered and ends the stream without an error (close()). */
  clear(): void {
    this.#chunks = [];
    this.#size = 0;
    this.#error = undefined;
    this.end();
  }

  /** The next chunk, `null` at the end. */
  read(): Promise<Uint8Array | null> {
    if (this.#waiter) return Promise.reject(new TypeError("Only one read() may be pending at a time"));
    const chunk = this.#chunks.shift();
    if (chunk) {
      const before = this.#size;
      this.#size -= chunk.byteLength;
      if (before >= HIGH_WATER && this.#size < HIGH_WATER) this.onLow?.();
      return Promise.resolve(chunk);
    }
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      if (this.#done) this.#settleEnd(w);
      else this.#waiter = w;
    });
  }

  #settleEnd(w: { resolve(v: Uint8Array | null): void; reject(e: unknown): void }): void {
    const e = this.#error;
    if (e !== undefined) {
      this.#error = undefined;
      w.reject(e);
    } else {
      w.resolve(null);
    }
  }
}

/** Whether `name` is an IPv4 or IPv6 literal (no brackets). */
export function isIpAddress(name: string): boolean {
  if (/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(name)) {
    return name.split(".").every((p) => Number(p) <= 255);
  }
  return name.includes(":") && /^[0-9a-fA-F:.]+(%[\w.-]+)?$/.test(name);
}

/** `host:port`, with brackets around IPv6 literals. */
export function hostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

function describe(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** The `code` property of an error-like value, when it is a string. */
export function errorCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * Whether an OpenSSL / Node TLS error code (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`,
 * `ERR_TLS_CERT_ALTNAME_INVALID`, …) is a certificate verification failure.
 */
export function isVerifyCode(code: string | undefined): boolean {
  if (!code) return false;
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return true;
  return /^[A-Z][A-Z0-9]*_[A-Z0-9_]+$/.test(code) && !code.startsWith("ERR_");
}

/** A failed connection attempt or a broken connection. */
export function connectionError(e: unknown, hostname: string, port: number, what = "Connection to"): ConnectionError {
  if (e instanceof SmtpError) return e;
  const code = errorCode(e);
  const detail = code === "ECONNREFUSED"
    ? "connection refused"
    : code === "ENOTFOUND" || code === "EAI_AGAIN" || /lookup|resolve|getaddrinfo|not known/i.test(describe(e))
    ? `host name not found (${describe(e)})`
    : describe(e);
  return new ConnectionError(`${what} "${hostPort(hostname, port)}" failed: ${detail}`, {
    phase: "connect",
    cause: e,
  });
}

/** The error a connect attempt rejects with when its signal aborts. */
export function abortError(signal: AbortSignal, hostname: string, port: number): SmtpError {
  const reason: unknown = signal.reason;
  if (reason instanceof SmtpError) return reason;
  return new ConnectionError(`Connection to "${hostPort(hostname, port)}" was aborted`, {
    phase: "connect",
    cause: reason,
  });
}

/** What OpenSSL (Node), BoringSSL (Bun) and rustls (Deno) say when a certificate does not name the server. */
const NAME_MISMATCH = /altname|not valid for name|NotValidForName|hostname mismatch|does not match/i;
/** …when it has expired or is not valid yet (trusting it would not help). */
const EXPIRED = /expired|not yet valid|NotValidYet|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID/i;

/**
 * A certificate verification failure, with the hint `"certificate-name"` or
 * `"certificate-untrusted"` (self-signed, unknown CA) and a remedy.
 *
 * @param servername The name the certificate was checked against.
 * @param reason The runtime's explanation.
 * @param cause The runtime's error.
 * @param remedy Advice replacing the default one.
 */
export function certificateError(servername: string, reason: string, cause: unknown, remedy?: string): TlsError {
  // Node ends its name-mismatch text with "…is not in the cert's list: ".
  const text = `Certificate for "${servername}" was not accepted: ${reason.replace(/[\s:]+$/, "")}`;
  if (NAME_MISMATCH.test(reason)) {
    return new TlsError(text, {
      phase: "tls",
      cause,
      hint: "certificate-name",
      remedy: remedy ?? 'connect with a name the certificate holds, or give it as "servername"',
    });
  }
  if (EXPIRED.test(reason)) return new TlsError(text, { phase: "tls", cause });
  return new TlsError(text, {
    phase: "tls",
    cause,
    hint: "certificate-untrusted",
    remedy: remedy ?? 'to trust it, pass the certificate of the CA that signed it (or the self-signed certificate) as "ca"',
  });
}

/**
 * What the TLS libraries say when the first bytes from the server are not a
 * TLS record: OpenSSL "wrong version number" / "packet length too long",
 * BoringSSL "WRONG_VERSION_NUMBER", rustls "corrupt message of type
 * InvalidContentType".
 */
const PLAIN_TEXT = /wrong[ _]version[ _]number|packet length too long|unknown protocol|http request|InvalidContentType/i;

/**
 * A handshake failure other than certificate verification. When the server
 * answered in plain text (an SMTP greeting where a TLS record belongs), the
 * raw library text is replaced by that explanation (the runtime's error stays
 * the `cause`) and the hint is `"plain-smtp-port"`.
 */
export function handshakeError(servername: string, reason: string, cause: unknown, temporary = false): TlsError {
  if (PLAIN_TEXT.test(reason)) {
    return new TlsError(`TLS handshake with "${servername}" failed: the server answered in plain text, not TLS`, {
      phase: "tls",
      cause,
      hint: "plain-smtp-port",
      remedy: 'the port probably speaks plain SMTP with STARTTLS (as 587 and 25 do): use tls: "starttls-required"',
    });
  }
  return new TlsError(`TLS handshake with "${servername}" failed: ${reason}`, { phase: "tls", cause, temporary });
}

/** Bytes the server sent before the TLS handshake (STARTTLS injection). */
export function injectionError(count: number | null, cause?: unknown): ProtocolError {
  const what = count === null ? "data" : `${count} byte${count === 1 ? "" : "s"}`;
  return new ProtocolError(
    `Server sent ${what} after the STARTTLS reply and before the TLS handshake (possible injection); refusing to upgrade`,
    { phase: "starttls", cause },
  );
}

/** The transport was closed while an operation was in flight. */
export function closedError(what: string): ConnectionError {
  return new ConnectionError(`Connection closed ${what}`, { phase: "connect" });
}

/** The shape of Node's `getPeerCertificate()` result we read (also Bun's and Deno's). */
export interface PeerCertLike {
  subject?: Record<string, string | string[]> | null;
  issuer?: Record<string, string | string[]> | null;
  valid_to?: string;
  fingerprint256?: string;
}

function dn(name: Record<string, string | string[]> | null | undefined): string | undefined {
  if (!name) return undefined;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(name)) {
    for (const one of Array.isArray(v) ? v : [v]) parts.push(`${k}=${one}`);
  }
  return parts.length ? parts.join(", ") : undefined;
}

/** Builds a {@link TlsInfo} from what a runtime reports. */
export function tlsInfo(protocol: string | null | undefined, cipher: string | null | undefined, cert: PeerCertLike | null | undefined): TlsInfo {
  const info: { protocol?: string; cipher?: string; peerCertificate?: TlsInfo["peerCertificate"] } = {};
  if (protocol) info.protocol = protocol;
  if (cipher) info.cipher = cipher;
  if (cert && (cert.subject || cert.fingerprint256)) {
    const pc: { subject?: string; issuer?: string; validTo?: string; fingerprint256?: string } = {};
    const subject = dn(cert.subject);
    const issuer = dn(cert.issuer);
    if (subject) pc.subject = subject;
    if (issuer) pc.issuer = issuer;
    if (cert.valid_to) pc.validTo = cert.valid_to;
    if (cert.fingerprint256) pc.fingerprint256 = cert.fingerprint256;
    info.peerCertificate = pc;
  }
  return info;
}

/** Copies a Node `Buffer` (or any view) into a plain `Uint8Array` view without copying bytes. */
export function asBytes(chunk: ArrayBufferView): Uint8Array {
  return chunk instanceof Uint8Array && chunk.constructor === Uint8Array
    ? chunk
    : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** Calls `fn` once when `signal` aborts; returns a function that removes the listener. */
export function onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (!signal) return () => {};
  const listener = () => fn();
  signal.addEventListener("abort", listener, { once: true });
  return () => signal.removeEventListener("abort", listener);
}
