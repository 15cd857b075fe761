/**
 * The SMTP session driver: one connection, one {@link Session} (the sans-I/O
 * core in `src/protocol/session.ts`) and a {@link Transport}.
 *
 * The driver owns sockets, deadlines, the TLS upgrade and policy (the TLS
 * mode, credentials only over verified TLS, the HELO fallback, which
 * recipients are enough, when to give up). Every protocol decision is the
 * core's: which command is legal now, what bytes it is, which reply answers
 * which command and what it means, capabilities, SASL lines and their
 * redaction, message encoding and BDAT framing, MAIL/RCPT parameters
 * (`mailParameters`, `rcptParameters`). The driver loop is always: `send` →
 * write → read → `receive` → `nextEvent`.
 *
 * This module has no import path to `src/runtime/*`: it needs a
 * `connector`. `src/default_client.ts` (the `SmtpClient` of `mod.ts`) adds
 * the runtime's own.
 *
 * @module
 */
import type { Connector, TlsInfo, TlsOptions, Transport } from "../deps.ts";
import {
  AuthError,
  ConnectionError,
  ProtocolError,
  ReplyError,
  SmtpError,
  type SmtpPhase,
  TimeoutError,
  TlsError,
} from "./errors.ts";
import {
  type ClientOptions,
  DEFAULT_TIMEOUTS,
  defaultEndpoint,
  type MessageData,
  type OutgoingMessage,
  type RecipientResult,
  type RecipientSpec,
  type SendResult,
  type ServerInfo,
  SLOW_GREETING_MS,
  type Timeouts,
  type TlsMode,
} from "./options.ts";
import { concatBytes } from "./protocol/bytes.ts";
import { replyText } from "./protocol/reply.ts";
import { scanMessage } from "./protocol/data.ts";
import { mailParameters, type Parameter, rcptParameters } from "./protocol/params.ts";
import { type ClosedEvent, type Command, type ReplyEvent, saslCommand, Session } from "./protocol/session.ts";
import { commandPhase } from "./protocol/state.ts";
import type { Capabilities, Reply } from "./protocol/types.ts";
import { authenticate, type SaslIo } from "./auth.ts";
import type { ComposedMessage } from "./message/compose.ts";
import { isValidEnvelopeAddress } from "./message/address.ts";
import { envelopeForServer } from "./message/idna.ts";

const encoder = new TextEncoder();

/** How long to wait for the reply to the QUIT sent after a failure, in milliseconds. */
const FAILURE_QUIT_TIMEOUT = 5_000;

/** Target size of one write of message data, and of one BDAT chunk. */
const DATA_WRITE_SIZE = 64 * 1024;
const BDAT_CHUNK_SIZE = 1024 * 1024;

/** Resolved defaults for the options a session needs (one rule, shared with the CLI). */
function resolve(options: ClientOptions): { port: number; tls: TlsMode } {
  return defaultEndpoint(options.port, options.tls, options.auth !== undefined);
}

function checkOptions(options: ClientOptions): void {
  if (typeof options !== "object" || options === null) throw new TypeError("Client options must be an object");
  if (typeof options.host !== "string" || options.host === "") {
    throw new TypeError("Option \"host\" must be a non-empty string");
  }
  if (/[\s\0]/.test(options.host)) throw new TypeError(`Option "host" contains whitespace: ${JSON.stringify(options.host)}`);
  if (options.port !== undefined && !(Number.isInteger(options.port) && options.port > 0 && options.port < 65536)) {
    throw new RangeError(`Option "port" must be an integer 1–65535, got ${JSON.stringify(options.port)}`);
  }
  const modes: readonly string[] = ["implicit", "starttls-required", "starttls-opportunistic", "none"];
  if (options.tls !== undefined && !modes.includes(options.tls)) {
    throw new TypeError(`Option "tls" must be one of ${modes.map((m) => `"${m}"`).join(", ")}, got ${JSON.stringify(options.tls)}`);
  }
  for (const [k, v] of Object.entries(options.timeouts ?? {})) {
    if (!(k in DEFAULT_TIMEOUTS)) throw new TypeError(`Unknown timeout "${k}"`);
    if (typeof v !== "number" || !(v > 0)) throw new RangeError(`Timeout "${k}" must be a positive number of milliseconds`);
  }
  if (options.name !== undefined && !/^[\x21-\x7e]+$/.test(options.name)) {
    throw new TypeError(`Option "name" must be a domain or address literal, got ${JSON.stringify(options.name)}`);
  }
}

/** `[192.0.2.1]` or `[IPv6:2001:db8::1]` for our end of the connection (RFC 5321 §4.1.3). */
function addressLiteral(address: string | undefined): string {
  if (!address) return "[127.0.0.1]";
  const v4 = /^(?:::ffff:)?(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (v4) return `[${v4[1]}]`;
  return `[IPv6:${address.replace(/%.*$/, "")}]`;
}

function isReadableStream(x: unknown): x is ReadableStream<Uint8Array> {
  return typeof x === "object" && x !== null && typeof (x as ReadableStream).getReader === "function";
}

async function* chunksOf(data: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  if (isReadableStream(data)) {
    const reader = data.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        if (!(value instanceof Uint8Array)) throw new TypeError("Message stream must yield Uint8Array chunks");
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  } else {
    for await (const chunk of data) {
      if (!(chunk instanceof Uint8Array)) throw new TypeError("Message stream must yield Uint8Array chunks");
      yield chunk;
    }
  }
}

/** `{ bytes }` for in-memory content, `{ stream }` otherwise. */
function normaliseData(data: MessageData): { bytes: Uint8Array } | { stream: AsyncIterable<Uint8Array> } {
  if (typeof data === "string") return { bytes: encoder.encode(data) };
  if (data instanceof Uint8Array) return { bytes: data };
  if (data && (isReadableStream(data) || Symbol.asyncIterator in (data as object))) {
    return { stream: chunksOf(data as AsyncIterable<Uint8Array>) };
  }
  throw new TypeError("Message \"data\" must be a string, a Uint8Array, an AsyncIterable<Uint8Array> or a ReadableStream");
}

function recipientSpec(r: string | RecipientSpec): RecipientSpec {
  if (typeof r === "string") return { address: r };
  if (typeof r === "object" && r !== null && typeof r.address === "string") return r;
  throw new TypeError(`Invalid recipient ${JSON.stringify(r)}`);
}

/**
 * One SMTP session: the driver of a {@link Session} over a {@link Transport}.
 *
 * This class needs `options.connector`; the `SmtpClient` that `mod.ts`
 * exports (`src/default_client.ts`) uses the runtime's own when none is given.
 *
 * @example
 * ```ts
 * const client = await SmtpClient.connect({ host: "mail.example.org", port: 587, auth: { user: "me", pass: "pw" }, connector });
 * try {
 *   const r = await client.send({ from: "me@example.org", to: ["you@example.net"], data: "Subject: hi\r\n\r\nhello\r\n" });
 *   console.log(r.accepted.length, r.reply.code);
 * } finally {
 *   await client.quit();
 * }
 * ```
 */
export class SmtpClient {
  readonly #options: ClientOptions;
  readonly #timeouts: Timeouts;
  readonly #port: number;
  readonly #tlsMode: TlsMode;
  #transport: Transport | null = null;
  /** The protocol core; `null` until the connection is open. */
  #session: Session | null = null;
  #greeting: Reply | null = null;
  #authenticated: string | null = null;
  #started = false;
  /** Why the connection was closed (the first reason wins); `null` while it is usable. */
  #closedBecause: string | null = null;
  #busy = false;
  /** Whether the current send() has written anything (errors before that leave the session intact). */
  #wrote = false;
  /**
   * Set while the connection is inside an exchange that a QUIT may not
   * interrupt: the TLS handshake, an AUTH exchange awaiting its reply,
   * message data up to the reply to its end.
   */
  #midExchange = false;
  /** See {@link ReadAhead}. */
  #readAhead: ReadAhead | null = null;
  /** Reads and writes waiting under a deadline (see #withDeadline). */
  readonly #pending = new Set<PendingOp>();
  /** The one deadline timer, armed for #timerAt and shared by all pending operations. */
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #timerAt = 0;

  /**
   * Creates a client; nothing is opened until {@link SmtpClient.connect}.
   *
   * @param options Server, TLS, credentials, timeouts, connector.
   * @throws {TypeError | RangeError} On invalid options.
   */
  constructor(options: ClientOptions) {
    checkOptions(options);
    this.#options = options;
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    const r = resolve(options);
    this.#port = r.port;
    this.#tlsMode = r.tls;
  }

  /**
   * Creates a client and opens the session (greeting, EHLO, TLS, AUTH).
   *
   * @param options Server, TLS, credentials, timeouts.
   * @returns A ready client.
   */
  static async connect<T extends SmtpClient>(
    this: new (options: ClientOptions) => T,
    options: ClientOptions,
  ): Promise<T> {
    const client = new this(options);
    await client.connect();
    return client;
  }

  /**
   * The connector used when the options name none. This module loads no
   * runtime code, so here there is none: pass `connector`, or use the
   * `SmtpClient` that `mod.ts` exports (`src/default_client.ts`), which
   * loads the adapter for the runtime it runs on.
   *
   * @returns Never resolves here; rejects with a `TypeError`.
   */
  protected defaultConnector(): Promise<Connector> {
    return Promise.reject(
      new TypeError(
        'Option "connector" is required for the SmtpClient of src/client.ts; the SmtpClient that mod.ts exports picks the runtime\'s own',
      ),
    );
  }

  /** The port in use (after defaults). */
  get port(): number {
    return this.#port;
  }

  /** The TLS mode in use (after defaults). */
  get tlsMode(): TlsMode {
    return this.#tlsMode;
  }

  /** What the server advertised in its last EHLO reply (`null` after a HELO fallback). */
  get capabilities(): Capabilities | null {
    return this.#session?.capabilities ?? null;
  }

  /** Greeting, capabilities, TLS session and authenticated mechanism. */
  get serverInfo(): ServerInfo {
    if (!this.#greeting) throw new TypeError("Not connected");
    return {
      greeting: this.#greeting,
      capabilities: this.capabilities,
      tls: this.#transport?.tls ?? null,
      authenticated: this.#authenticated,
    };
  }

  /** Whether the session can still be used. */
  get connected(): boolean {
    return this.#started && this.#closedBecause === null;
  }

  /**
   * Opens the connection and brings the session to the point where mail can
   * be sent: greeting, EHLO (HELO fallback), STARTTLS per the TLS mode, EHLO
   * again, AUTH when credentials are configured.
   *
   * When this fails after the greeting with the connection still in a clean
   * state (a refused EHLO, STARTTLS or AUTH, STARTTLS required but not
   * offered, credentials refused before sending), the client says QUIT and
   * reads its reply, within a short deadline, before closing (RFC 5321
   * §4.1.1.10). After a time-out, a protocol error, a 421, a lost connection
   * or a failed TLS handshake it just closes.
   *
   * @returns Resolves when ready.
   * @throws {SmtpError} Connection, TLS, protocol, reply or timeout errors; the connection is closed.
   */
  async connect(): Promise<void> {
    if (this.#started) throw new TypeError("connect() may be called only once");
    this.#started = true;
    try {
      await this.#dial();
      await this.#greet();
      await this.#establish();
    } catch (err) {
      if (this.#cleanForQuit(err)) await this.#goodbye();
      this.#shut(`connect() failed: ${(err as Error)?.message ?? err}`);
      throw err;
    } finally {
      this.#disarmIfIdle();
    }
  }

  /** Opens the transport (TLS from the start for implicit TLS) under the connect deadline, and the session. */
  async #dial(): Promise<void> {
    const o = this.#options;
    const connector = o.connector ?? (await this.defaultConnector());
    this.#info(`connecting to ${o.host}:${this.#port} (${this.#tlsMode}) via ${connector.name}`);
    // The deadline is enforced here, not only through `signal`: a caller's
    // Connector that ignores the signal must not hang connect() forever.
    const abort = new AbortController();
    const limit = this.#timeouts.connect;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        const err = new TimeoutError(
          `Connecting to ${o.host}:${this.#port} took longer than ${limit} ms` +
            (this.#tlsMode === "implicit" ? " (with the TLS handshake; is it an implicit-TLS port?)" : ""),
          limit,
          { phase: "connect" },
        );
        abort.abort(err);
        reject(err);
      }, limit);
    });
    const connecting = connector.connect({
      hostname: o.host,
      port: this.#port,
      tls: this.#tlsMode === "implicit" ? this.#tlsOptions() : undefined,
      signal: abort.signal,
    });
    // A transport that arrives after the deadline is closed at once.
    connecting.then((t) => timedOut && t.close(), () => {});
    try {
      this.#transport = await Promise.race([connecting, expired]);
    } catch (err) {
      if (timedOut) {
        throw err instanceof TimeoutError ? err : new TimeoutError(`Connecting to ${o.host}:${this.#port} took longer than ${limit} ms`, limit, {
          phase: "connect",
          cause: err,
        });
      }
      if (err instanceof SmtpError) throw err;
      throw new ConnectionError(`Cannot connect to ${o.host}:${this.#port}: ${(err as Error)?.message ?? err}`, {
        phase: "connect",
        cause: err,
      });
    } finally {
      clearTimeout(timer);
    }
    if (this.#transport.tls) this.#traceTls(this.#transport.tls);
    const trace = o.trace ? (t: { direction: "send" | "recv"; line: string }) => this.#trace(t.direction, t.line) : undefined;
    this.#session = new Session({ tls: this.#tlsMode === "implicit", pipelining: o.pipelining !== false, trace });
    for (const secret of [o.auth?.pass, o.auth?.token]) if (secret) this.#session.addSecret(secret);
  }

  /** Waits for the greeting; a silent server is often an implicit-TLS port reached without TLS. */
  async #greet(): Promise<void> {
    const o = this.#options;
    // Tell the caller early (it may say so), and keep waiting until the deadline.
    const slow = o.onSlowGreeting && SLOW_GREETING_MS < this.#timeouts.greeting
      ? setTimeout(() => {
        try {
          o.onSlowGreeting!({ host: o.host, port: this.#port, tls: this.#tlsMode, waitedMs: SLOW_GREETING_MS });
        } catch { /* the caller's notice must not break the session */ }
      }, SLOW_GREETING_MS)
      : undefined;
    let greeting: ReplyEvent;
    try {
      greeting = await this.#reply();
    } catch (err) {
      if (err instanceof TimeoutError && this.#tlsMode !== "implicit") {
        throw new TimeoutError(
          `No greeting from ${o.host}:${this.#port} within ${this.#timeouts.greeting} ms`,
          this.#timeouts.greeting,
          {
            phase: "greeting",
            cause: err,
            hint: "implicit-tls-expected",
            remedy: 'if this is an implicit-TLS port (usually 465), use tls: "implicit"',
          },
        );
      }
      throw err;
    } finally {
      clearTimeout(slow);
    }
    this.#greeting = greeting.reply;
    if (greeting.reply.code !== 220) throw this.#replyError(greeting.reply, "greeting", "Server refused the session");
  }

  /** EHLO, STARTTLS per the TLS mode and EHLO again, VERB, AUTH. */
  async #establish(): Promise<void> {
    const o = this.#options;
    await this.#hello();
    if (this.#tlsMode === "starttls-required" || this.#tlsMode === "starttls-opportunistic") {
      if (this.capabilities?.startTls) {
        await this.#startTls();
        await this.#hello();
      } else if (this.#tlsMode === "starttls-required") {
        throw new TlsError(`Server ${o.host}:${this.#port} does not offer STARTTLS, and TLS is required`, {
          phase: "starttls",
          hint: "starttls-not-offered",
          remedy: 'tls is "starttls-required"; use "implicit" for an implicit-TLS port',
        });
      } else {
        this.#info("server does not offer STARTTLS; continuing without TLS (opportunistic STARTTLS)");
      }
    }
    if (o.verb) await this.#simple({ type: "VERB" }, "VERB");
    if (o.auth) {
      this.#checkAuthAllowed();
      this.#authenticated = await authenticate(this.#saslIo(), this.capabilities?.auth ?? [], o.auth, {
        host: o.servername ?? o.host,
        port: this.#port,
        random: o.random,
      });
      this.#info(`authenticated with ${this.#authenticated}`);
    }
  }

  #tlsOptions(): TlsOptions {
    const o = this.#options;
    return {
      servername: o.servername ?? o.host,
      ca: o.ca === undefined ? undefined : typeof o.ca === "string" ? [o.ca] : o.ca,
      cert: o.cert,
      key: o.key,
      passphrase: o.passphrase,
      verify: o.tlsVerify ?? true,
    };
  }

  /** Credentials go only over TLS whose certificate and name verified, unless explicitly allowed. */
  #checkAuthAllowed(): void {
    const o = this.#options;
    if (o.allowPlaintextAuth) return;
    if (!this.#transport?.tls) {
      throw new AuthError(`Refusing to send credentials to ${o.host}:${this.#port} over a connection without TLS`, {
        phase: "auth",
        hint: "auth-needs-tls",
        remedy: "use TLS, or set allowPlaintextAuth if the network is trusted",
      });
    }
    if (o.tlsVerify === false) {
      throw new AuthError(`Refusing to send credentials to ${o.host}:${this.#port}: the server certificate was not verified`, {
        phase: "auth",
        hint: "auth-needs-verified-tls",
        remedy: 'tlsVerify is false; pass its CA with "ca" instead, or set allowPlaintextAuth',
      });
    }
  }

  /** EHLO; on a 5xx (a server that does not know EHLO, RFC 5321 §3.2) HELO. Capabilities are the core's. */
  async #hello(): Promise<void> {
    const name = this.#options.name ?? addressLiteral(this.#transport?.localAddress?.address);
    const ehlo = await this.#exchange({ type: "EHLO", name });
    if (ehlo.outcome === "accepted") return;
    if (ehlo.reply.code < 500) throw this.#replyError(ehlo.reply, "ehlo", "EHLO refused");
    this.#info(`EHLO refused (${ehlo.reply.code}); falling back to HELO`);
    const helo = await this.#exchange({ type: "HELO", name });
    if (helo.outcome !== "accepted") throw this.#replyError(helo.reply, "helo", "HELO refused");
  }

  /**
   * STARTTLS, the handshake under the TLS deadline, then the core starts
   * over (it refuses octets that came after the 220, CVE-2011-0411, and
   * forgets what it learnt before TLS, RFC 3207 §4.2).
   */
  async #startTls(): Promise<void> {
    const ev = await this.#exchange({ type: "STARTTLS" });
    if (ev.reply.code !== 220) throw this.#replyError(ev.reply, "starttls", "STARTTLS refused");
    this.#midExchange = true; // until the handshake succeeds: no cleartext QUIT after a failed one
    const info = await this.#withDeadline(
      this.#transport!.startTls(this.#tlsOptions()),
      Date.now() + this.#timeouts.tls,
      "tls",
      this.#timeouts.tls,
      "TLS handshake",
    );
    this.#midExchange = false;
    this.#session!.tlsEstablished();
    this.#traceTls(info);
  }

  #traceTls(info: TlsInfo): void {
    const cert = info.peerCertificate;
    this.#info(
      `TLS established: ${info.protocol ?? "?"} ${info.cipher ?? ""}` +
        (cert?.subject ? `; certificate subject ${cert.subject}, issuer ${cert.issuer ?? "?"}, valid to ${cert.validTo ?? "?"}` : ""),
    );
  }

  /**
   * Sends one message on this connection: an {@link OutgoingMessage}, or a
   * message built by `compose()` (its envelope is used).
   *
   * MAIL FROM (with SIZE, BODY, SMTPUTF8 and DSN parameters when offered),
   * RCPT TO for each recipient, then DATA or BDAT — pipelined when the server
   * offers PIPELINING. Per-recipient results are returned; rejected
   * recipients do not fail the message unless `policy` is `"all"` or nobody
   * was accepted.
   *
   * Only content the server agreed to is sent. 8-bit octets need 8BITMIME and
   * go under `BODY=8BITMIME` (announced for a stream whenever 8BITMIME is
   * offered, unless `eightBit: false`); NUL octets never go; no more octets
   * than the server's advertised SIZE go (RFC 1870 §6). In-memory data is
   * checked before MAIL. A stream is checked as it is sent, before each block
   * or chunk is written: when it turns out to hold what may not go, or would
   * pass the SIZE limit, the transaction is abandoned by closing the
   * connection without the end of data — inside DATA or BDAT that is the
   * only abort that cannot deliver the part already sent — and a permanent
   * {@link SmtpError} in phase `"message"` is thrown (over SIZE: code 552,
   * `enhancedCode` `"5.3.4"`).
   *
   * A negative reply to any BDAT chunk (Exim answers before reading it all), or any reply that
   * arrives while message data is still being written, stops the sending and
   * closes the connection (the server may take the rest for commands); the
   * reply is thrown as a {@link ReplyError}. A later `send()` on this client
   * then throws a {@link ConnectionError} saying why it was closed: connect a
   * new client (the `send()` helper does so for every message).
   *
   * @param message Envelope and content.
   * @returns Accepted and rejected recipients and the final reply.
   * @throws {ReplyError} When MAIL is refused, no recipient is accepted (or not all, with `policy: "all"`), or the data is refused.
   * @throws {SmtpError} Content the server did not agree to (8-bit, NUL, over SIZE: permanent, phase `"mail"`
   *   before anything is written, `"message"` for a stream abandoned mid-way; nothing delivered).
   *   Connection, protocol and timeout errors; the connection is then closed. When the
   *   end of the message was sent but no reply came (time-out, connection lost), `maybeDelivered` is `true`:
   *   the server may already have accepted it (RFC 5321 §6.1).
   */
  async send(message: OutgoingMessage | ComposedMessage): Promise<SendResult> {
    if (!this.#started) throw new TypeError("Call connect() before send()");
    if (this.#closedBecause !== null) throw this.#closedError("mail");
    if (this.#busy) throw new TypeError("send() called while another operation is in progress on this client");
    this.#busy = true;
    this.#wrote = false;
    try {
      return await this.#send(isComposed(message) ? fromComposed(message) : message);
    } catch (err) {
      // Errors before the first write (bad arguments, SIZE, SMTPUTF8) and
      // negative replies leave the session usable; anything else closes it.
      if (this.#wrote && !(err instanceof ReplyError && err.code !== 421)) this.#shut("a send() failed in the middle of a transaction");
      throw err;
    } finally {
      this.#busy = false;
      this.#disarmIfIdle();
    }
  }

  async #send(message: OutgoingMessage): Promise<SendResult> {
    const plan = this.#plan(message);
    if (this.#session!.needsReset) await this.reset();
    const env = await this.#envelope(plan);
    await this.#checkRecipients(plan, env);
    let end: ReplyEvent;
    if (plan.bdat) {
      end = await this.#sendBdat(plan.content, plan.allow8bit);
    } else {
      const data = env.data ?? (await this.#exchange({ type: "DATA" }));
      if (data.reply.code !== 354) throw this.#replyError(data.reply, "data", "DATA refused");
      end = await this.#sendData(plan.content, plan.allow8bit);
    }
    if (plan.bdat && end.reply.code !== 250) {
      this.#shut(`BDAT LAST refused with ${end.reply.code}; the server may have taken part of the chunk for commands (Exim does)`);
    }
    if (end.reply.code !== 250) throw this.#replyError(end.reply, "message", "Message refused");
    return { accepted: env.accepted, rejected: env.rejected, reply: end.reply, octets: end.octets ?? 0 };
  }

  /**
   * Everything decided before a byte is written: arguments, the content's
   * facts (in-memory data is scanned), the envelope as it goes to this server
   * and its parameters (the core's pure functions), DATA or BDAT. A refusal
   * here leaves the session usable.
   */
  #plan(message: OutgoingMessage): SendPlan {
    if (typeof message !== "object" || message === null) throw new TypeError("Message must be an object");
    if (typeof message.from !== "string") throw new TypeError("Message \"from\" must be a string (\"\" for the null sender)");
    if (!Array.isArray(message.to) || message.to.length === 0) throw new TypeError("Message \"to\" must list at least one recipient");
    const policy = message.policy ?? "any";
    if (policy !== "any" && policy !== "all") throw new TypeError(`Message "policy" must be "any" or "all"`);
    const recipients = message.to.map(recipientSpec);
    // RFC 5321 §4.1.2 to the letter (address literals, no controls), before any byte is written.
    if (!isValidEnvelopeAddress(message.from, { allowEmpty: true })) {
      throw new TypeError(`Invalid sender address ${JSON.stringify(message.from)} (RFC 5321 §4.1.2)`);
    }
    for (const r of recipients) {
      // "Postmaster" alone is the one forward-path without a domain (RFC 5321 §4.1.1.3).
      if (!isValidEnvelopeAddress(r.address) && r.address.toLowerCase() !== "postmaster") {
        throw new TypeError(`Invalid recipient address ${JSON.stringify(r.address)} (RFC 5321 §4.1.2)`);
      }
    }
    const caps = this.capabilities;
    const content = normaliseData(message.data);
    const scan = "bytes" in content ? scanMessage(content.bytes) : null;
    // A long line is the first thing to report (mailParameters), then a NUL octet.
    if (scan?.hasNul && scan.maxLineLength <= 998) throw nulError(false);
    // One rule for internationalised addresses (src/message/idna.ts): as written
    // with SMTPUTF8, IDN domains as A-labels without it; a UTF-8 local part
    // without it is a permanent error before anything is written.
    const env = envelopeForServer(message.from, recipients.map((r) => r.address), caps?.smtpUtf8 === true);
    if ("error" in env) throw new SmtpError(env.error, { phase: "mail", code: 553, enhancedCode: "5.6.7", temporary: false });
    const eightBit = scan ? scan.eightBit : message.eightBit;
    const mail = mailParameters({
      from: env.from,
      recipients: env.to,
      size: scan ? scan.size : message.size,
      eightBit,
      headerEightBit: scan?.headerEightBit,
      maxLineLength: scan?.maxLineLength,
      smtpUtf8: message.smtpUtf8,
    }, caps, message);
    // ORCPT keeps the address as the caller wrote it (RFC 3461 §4.2), not its A-label form.
    const rcpt = recipients.map((r) => rcptParameters(r.address, caps, r, message));
    return {
      from: env.from,
      to: env.to,
      sender: message.from,
      recipients,
      mail,
      rcpt,
      policy,
      content,
      // A stream is not known to be 7-bit unless the caller says so (eightBit: false).
      allow8bit: mail.some(([k]) => k === "BODY"),
      bdat: caps?.chunking === true && this.#options.chunking !== false,
    };
  }

  /**
   * MAIL and RCPT — one pipelined group with PIPELINING (with DATA when
   * policy is "any": with "all", a 354 could not be taken back without
   * delivering to the accepted ones), else one at a time, stopping after a
   * refused MAIL. Per-recipient results come from the RCPT reply events.
   */
  async #envelope(plan: SendPlan): Promise<EnvelopeOutcome> {
    const s = this.#session!;
    const mail: Command = { type: "MAIL", from: plan.from, parameters: plan.mail };
    const rcpts: Command[] = plan.to.map((to, i) => ({ type: "RCPT", to, parameters: plan.rcpt[i] }));
    let mailEv: ReplyEvent;
    const rcptEvs: ReplyEvent[] = [];
    let data: ReplyEvent | null = null;
    if (s.pipelining) {
      const withData = !plan.bdat && plan.policy === "any";
      await this.#writeCommand(this.#command(() => s.sendAll(withData ? [mail, ...rcpts, { type: "DATA" }] : [mail, ...rcpts])));
      mailEv = await this.#reply();
      for (let i = 0; i < rcpts.length; i++) rcptEvs.push(await this.#reply());
      if (withData) data = await this.#reply();
    } else {
      mailEv = await this.#exchange(mail);
      if (mailEv.outcome === "accepted") for (const r of rcpts) rcptEvs.push(await this.#exchange(r));
    }
    const accepted: RecipientResult[] = [];
    const rejected: RecipientResult[] = [];
    plan.recipients.forEach((r, i) => {
      const reply = rcptEvs[i]?.reply;
      const result: RecipientResult = {
        address: r.address,
        accepted: rcptEvs[i]?.outcome === "accepted",
        code: reply?.code ?? mailEv.reply.code,
        enhancedCode: reply?.enhanced ?? null,
        message: reply ? replyText(reply) : "not attempted: MAIL FROM was refused",
      };
      (result.accepted ? accepted : rejected).push(result);
    });
    return { mail: mailEv, data, accepted, rejected };
  }

  /**
   * Throws when MAIL was refused, nobody was accepted, or not everybody with
   * policy "all"; a pipelined DATA the server accepted is first ended with a
   * lone dot (RFC 2920 §3.1), which the core allows only then.
   */
  #checkRecipients(plan: SendPlan, env: EnvelopeOutcome): void | Promise<never> {
    const { accepted, rejected } = env;
    const refused = env.mail.outcome !== "accepted";
    if (!refused && accepted.length > 0 && !(plan.policy === "all" && rejected.length > 0)) return;
    return (async () => {
      if (env.data?.reply.code === 354) await this.#exchange({ type: "END-OF-DATA" });
      if (refused) throw this.#replyError(env.mail.reply, "mail", `Sender <${plan.sender}> refused`);
      const first = rejected[0]!;
      const err = new ReplyError(
        accepted.length === 0
          ? `No recipient accepted: ${rejected.map((r) => `<${r.address}> ${r.code} ${r.message}`).join("; ")}`
          : `Not every recipient accepted (policy "all"): ${rejected.map((r) => `<${r.address}> ${r.code} ${r.message}`).join("; ")}`,
        { code: first.code, enhanced: first.enhancedCode, lines: [first.message] },
        "rcpt",
        rejected,
      );
      throw err;
    })();
  }

  /**
   * DATA content (RFC 5321 §4.1.1.4) through the core (dot-stuffing, the
   * final dot), written in blocks.
   *
   * A streamed message is checked as it goes: a NUL octet, an 8-bit octet
   * when BODY=8BITMIME was not announced, or content past the server's SIZE
   * (checked before the block that would pass it is written) abandons the
   * transaction. Inside
   * DATA the only safe way to do that is to close the connection without the
   * final dot: anything else (a dot, RSET) would end the message and deliver
   * the part already sent.
   */
  async #sendData(content: Content, allow8bit: boolean): Promise<ReplyEvent> {
    const s = this.#session!;
    this.#midExchange = true;
    // Octets that came with (or after) the 354 answer no command: the server's early verdict on the message.
    if (s.bufferedBytes > 0) return await this.#earlyReply("message", null);
    if ("bytes" in content) {
      const body = this.#command(() => s.send({ type: "CONTENT", chunk: content.bytes }));
      await this.#writeMessage(concatAll([body, this.#command(() => s.send({ type: "END-OF-DATA" }))]), "message");
      return await this.#readEndOfData();
    }
    let pending: Uint8Array[] = [];
    let pendingSize = 0;
    try {
      for await (const chunk of content.stream) {
        const out = this.#command(() => s.send({ type: "CONTENT", chunk }));
        this.#checkStreamed(allow8bit);
        if (out.length === 0) continue;
        pending.push(out);
        pendingSize += out.length;
        if (pendingSize >= DATA_WRITE_SIZE) {
          const block = concatAll(pending);
          pending = [];
          pendingSize = 0;
          await this.#writeMessage(block, "message");
        }
      }
    } catch (err) {
      // The server must not see a partial message as complete: drop the connection without the dot.
      this.#shut("the message stream failed in the middle of DATA");
      throw err;
    }
    pending.push(this.#command(() => s.send({ type: "END-OF-DATA" })));
    // The end of data may add a final CRLF, which counts towards SIZE.
    this.#checkStreamed(allow8bit);
    await this.#writeMessage(concatAll(pending), "message");
    return await this.#readEndOfData();
  }

  /**
   * BDAT (RFC 3030) through the core (its encoder and framing): chunks of
   * about {@link BDAT_CHUNK_SIZE} octets, the last one `BDAT n LAST`.
   *
   * A negative reply to a chunk that is not the last ends the message: no
   * further chunk is sent, the reply is thrown as a {@link ReplyError} in
   * phase `"bdat"`, and the connection is closed — the server may have stopped
   * reading at its reply and taken the rest of the chunk for commands. The
   * same holds for any reply that arrives before a chunk is written in full.
   * A stream's content is checked as for DATA (8-bit, NUL, SIZE), each chunk
   * before it is written; abandoning it closes the connection without
   * `BDAT … LAST`.
   */
  async #sendBdat(content: Content, allow8bit: boolean): Promise<ReplyEvent> {
    this.#midExchange = true;
    if ("bytes" in content) return await this.#bdatChunk(content.bytes, true, allow8bit);
    let held: Uint8Array[] = [];
    let heldSize = 0;
    try {
      for await (const chunk of content.stream) {
        held.push(chunk);
        heldSize += chunk.length;
        if (heldSize >= BDAT_CHUNK_SIZE) {
          const block = concatAll(held);
          held = [];
          heldSize = 0;
          await this.#bdatChunk(block, false, allow8bit);
        }
      }
    } catch (err) {
      this.#shut("the message stream failed in the middle of BDAT");
      throw err;
    }
    return await this.#bdatChunk(held.length === 0 ? new Uint8Array(0) : concatAll(held), true, allow8bit);
  }

  /** One BDAT chunk: encoded and framed by the core, checked, written, its reply read. */
  async #bdatChunk(chunk: Uint8Array, last: boolean, allow8bit: boolean): Promise<ReplyEvent> {
    const s = this.#session!;
    const bytes = this.#command(() => s.send({ type: "BDAT", chunk, last }));
    this.#checkStreamed(allow8bit);
    await this.#writeMessage(bytes, "bdat");
    if (last) return await this.#readEndOfData();
    const ev = await this.#reply();
    if (ev.outcome !== "accepted") {
      this.#shut(`BDAT chunk refused with ${ev.reply.code} in the middle of the message`);
      throw this.#replyError(ev.reply, "bdat", "BDAT chunk refused; the rest of the message was not sent and the connection was closed");
    }
    return ev;
  }

  /**
   * Throws the data error when the message content so far holds what may not
   * be sent (see #sendData). It runs after the core encoded the chunk (so a
   * trace may already show its BDAT line) and before any of it is written.
   */
  #checkStreamed(allow8bit: boolean): void {
    const facts = this.#session!.contentFacts;
    if (facts === null) return;
    if (facts.hasNul) {
      this.#abandon("a NUL octet turned up in the message stream");
      throw nulError(true);
    }
    if (facts.eightBit && !allow8bit) {
      this.#abandon("an 8-bit octet turned up in the message stream");
      throw new SmtpError(
        `Message has 8-bit data but ${
          this.capabilities?.eightBitMime ? "the message was declared 7-bit (BODY=7BIT)" : "the server does not offer 8BITMIME (RFC 6152)"
        }; the transaction was abandoned by closing the connection, and nothing was delivered. Encode the body as quoted-printable or base64`,
        { phase: "message" },
      );
    }
    // RFC 1870 §6: never send more than the server's advertised SIZE (0: no fixed limit).
    const limit = this.capabilities?.size;
    if (limit && facts.size > limit) {
      this.#abandon(`the message stream passed the server's SIZE limit of ${limit} octets`);
      throw new SmtpError(
        `Message exceeds the server's SIZE limit of ${limit} octets (RFC 1870); the transaction was abandoned by closing the connection before the content passed the limit, and nothing was delivered`,
        { phase: "message", code: 552, enhancedCode: "5.3.4", temporary: false },
      );
    }
  }

  /** Abandons the transaction: closes without the end of data; the trace says the last chunk was not written. */
  #abandon(reason: string): void {
    this.#info(`abandoning the message, nothing more is written (the last chunk encoded was not): ${reason}`);
    this.#shut(reason);
  }

  /**
   * Reads the reply to the end of the message (the final dot, or BDAT LAST).
   * Without one — a time-out, or the connection lost — the server may have
   * accepted the message all the same (RFC 5321 §6.1): the error says so and
   * carries `maybeDelivered: true`.
   */
  async #readEndOfData(): Promise<ReplyEvent> {
    try {
      const reply = await this.#reply();
      this.#midExchange = false;
      return reply;
    } catch (err) {
      const note = "the server may already have accepted the message (RFC 5321 §6.1), so sending it again may deliver it twice";
      if (err instanceof TimeoutError) {
        throw new TimeoutError(
          `No reply to the end of the message within ${this.#timeouts.dataEnd} ms; ${note}`,
          this.#timeouts.dataEnd,
          { phase: "message", cause: err, maybeDelivered: true },
        );
      }
      if (err instanceof ConnectionError) {
        throw new ConnectionError(`The connection was lost before the reply to the end of the message; ${note}`, {
          phase: "message",
          cause: err,
          maybeDelivered: true,
        });
      }
      throw err;
    }
  }

  /**
   * Writes message data (DATA content or a BDAT chunk) in blocks of
   * {@link DATA_WRITE_SIZE}, each under the data-block deadline (a slow but
   * moving link is not a time-out; a stalled one is), while a read
   * waits for a reply that comes early. A server may answer before it has
   * read everything (a refused BDAT chunk, smtp-sink -A, a size limit); the
   * rest of what we would write could then be read as commands. So on an
   * early reply nothing more is written, the reply is read, and the connection
   * closed: a negative reply is thrown as a {@link ReplyError}, anything else
   * as a {@link ProtocolError}.
   */
  async #writeMessage(bytes: Uint8Array, phase: SmtpPhase): Promise<void> {
    const t = this.#transport;
    if (!t || this.#closedBecause !== null) throw this.#closedError(phase);
    if (!this.#readAhead) {
      const ahead = t.read();
      const watch = { settled: false };
      const early: Promise<typeof EARLY> = ahead.then(() => EARLY as typeof EARLY, () => EARLY as typeof EARLY);
      void early.then(() => (watch.settled = true));
      this.#readAhead = { read: ahead, early, watch };
    }
    const { early, watch } = this.#readAhead!;
    for (let at = 0; at < bytes.length; at += DATA_WRITE_SIZE) {
      if (watch.settled) return await this.#earlyReply(phase, null);
      const block = bytes.subarray(at, at + DATA_WRITE_SIZE);
      const lastBlock = at + DATA_WRITE_SIZE >= bytes.length;
      const writing = this.#write(block, phase, Date.now() + this.#timeouts.dataBlock);
      const outcome: Promise<typeof WRITTEN | { err: unknown }> = writing.then(() => WRITTEN as typeof WRITTEN, (err: unknown) => ({ err }));
      let done: typeof WRITTEN | typeof EARLY | { err: unknown } = await Promise.race([outcome, early]);
      if (done === EARLY) {
        // The server spoke while this block was being written. After the last
        // block that is its ordinary reply (it can arrive before our write
        // settles); before it, the reply came early.
        if (!lastBlock) return await this.#earlyReply(phase, null);
        done = await outcome;
      }
      if (done === WRITTEN) continue;
      // The write failed. A time-out stands; a broken connection may be the
      // server closing after a reply that says why (smtp-sink -A, Exim).
      if (done.err instanceof TimeoutError) throw done.err;
      return await this.#earlyReply(phase, done.err);
    }
  }

  /**
   * A reply came while message data was still being written, or the write
   * failed: read the reply, close, throw it. Without a reply, `writeError`
   * (when there is one) is thrown.
   */
  async #earlyReply(phase: SmtpPhase, writeError: unknown): Promise<never> {
    let reply: Reply;
    try {
      reply = await this.#anyReply(phase);
    } catch (err) {
      const lost = writeError ?? err;
      if (lost instanceof ConnectionError && lost.phase === "connect") {
        // The transport names the connection (a failed write, or a read after a reset); the
        // failure belongs to the message being sent.
        throw new ConnectionError(`Connection lost while the message was being sent: ${lost.message}`, { phase, cause: lost });
      }
      throw lost;
    } finally {
      this.#shut(`the server replied before the message data was sent in full`);
    }
    if (reply.code >= 400) {
      throw this.#replyError(reply, phase, `Message refused before it was sent in full; the connection was closed`);
    }
    throw new ProtocolError(`Server answered ${reply.code} before the message data was sent in full; closing the connection`, {
      phase,
      code: reply.code,
    });
  }

  /**
   * Resets the transaction (RSET). Called automatically between messages when needed.
   *
   * @returns Resolves on 250.
   */
  async reset(): Promise<void> {
    try {
      await this.#simple({ type: "RSET" }, "RSET");
    } finally {
      this.#disarmIfIdle();
    }
  }

  /**
   * Sends NOOP, e.g. to keep a pooled connection alive.
   *
   * @returns The server's reply.
   */
  async noop(): Promise<Reply> {
    try {
      return await this.#simple({ type: "NOOP" }, "NOOP");
    } finally {
      this.#disarmIfIdle();
    }
  }

  /**
   * Ends the session politely (QUIT) and closes the connection. Never throws
   * for a server that has already gone away.
   *
   * @returns Resolves when closed.
   */
  async quit(): Promise<void> {
    if (this.#closedBecause === null && this.#session !== null && !this.#midExchange) {
      await this.#sayQuit(Math.min(this.#timeouts.mail, 10_000));
    }
    this.#shut("quit() was called");
    this.#disarmIfIdle();
  }

  /**
   * Whether, after `err`, the connection can still carry a QUIT: open, no
   * exchange half done, nothing unread, and not a protocol error or a 421.
   */
  #cleanForQuit(err: unknown): boolean {
    const s = this.#session;
    if (this.#closedBecause !== null || !this.#transport || !s || this.#midExchange) return false;
    if (s.bufferedBytes > 0 || this.#readAhead || !s.canSend("QUIT")) return false;
    if (err instanceof ProtocolError || err instanceof TimeoutError || err instanceof ConnectionError) return false;
    if (err instanceof SmtpError && err.code === 421) return false;
    return this.#greeting !== null;
  }

  /** QUIT after a failure (RFC 5321 §4.1.1.10), its reply read within {@link FAILURE_QUIT_TIMEOUT}; errors ignored. */
  async #goodbye(): Promise<void> {
    await this.#sayQuit(Math.min(this.#timeouts.mail, FAILURE_QUIT_TIMEOUT));
  }

  /** QUIT and its reply within `limit` ms; any failure is ignored (the session is over either way). */
  async #sayQuit(limit: number): Promise<void> {
    try {
      const s = this.#session!;
      const deadline = Date.now() + limit;
      await this.#writeCommand(this.#command(() => s.send({ type: "QUIT" })), deadline);
      await this.#event(deadline, "quit");
    } catch {
      // Best effort.
    }
  }

  /**
   * Closes the connection at once, without QUIT. Idempotent. Operations
   * still waiting on the connection fail with a {@link ConnectionError}.
   */
  close(): void {
    this.#shut("close() was called");
  }

  /** Closes the connection, remembering why for later calls (the first reason wins). */
  #shut(reason: string): void {
    this.#closedBecause ??= reason;
    this.#readAhead = null;
    const t = this.#transport;
    if (t) t.close();
    for (const op of this.#pending) op.fail(new ConnectionError(`The connection was closed: ${reason}`, {}));
    this.#pending.clear();
    this.#disarmIfIdle();
  }

  /** The error for using a closed connection, saying why it was closed. */
  #closedError(phase: SmtpPhase): ConnectionError {
    return new ConnectionError(
      this.#closedBecause ? `The connection is closed (${this.#closedBecause}); connect again` : "The connection is closed",
      { phase },
    );
  }

  // ---------------------------------------------------------------- plumbing

  /**
   * Asks the core for a command's octets. A local misuse (`TypeError`,
   * `RangeError` before anything changed) leaves the connection alone; the
   * core refusing because the server broke the protocol, or because the
   * session is over, closes it.
   */
  #command(make: () => Uint8Array): Uint8Array {
    if (this.#closedBecause !== null) throw this.#closedError(this.#phase("mail"));
    try {
      return make();
    } catch (err) {
      if (err instanceof SmtpError || this.#session!.state === "error") this.#shut(`the session core refused: ${(err as Error)?.message ?? err}`);
      throw err;
    }
  }

  /** One command and its reply (the core must allow it now). */
  async #exchange(command: Command): Promise<ReplyEvent> {
    const s = this.#session!;
    await this.#writeCommand(this.#command(() => s.send(command)));
    return await this.#reply();
  }

  /** A command whose reply must be 2xx. */
  async #simple(command: Command, what: string): Promise<Reply> {
    if (!this.#session || this.#closedBecause !== null) throw this.#closedError(this.#phase("mail"));
    const ev = await this.#exchange(command);
    if (ev.outcome !== "accepted") throw this.#replyError(ev.reply, commandPhase(ev.command), `${what} refused`);
    return ev.reply;
  }

  /** The I/O the SASL layer needs: its lines become the core's AUTH commands (payloads redacted by the core). */
  #saslIo(): SaslIo {
    const s = this.#session!;
    return {
      send: async (line: string) => {
        const bytes = this.#command(() => s.send(saslCommand(line)));
        this.#midExchange = true; // until the reply to this line is read
        await this.#writeCommand(bytes);
      },
      read: async () => {
        let ev = await this.#reply();
        if (ev.initialResponseHeld) {
          // The core held an initial response too long for the AUTH line (RFC 4954 §4): it goes now.
          await this.#writeCommand(this.#command(() => s.send({ type: "AUTH-RESPONSE" })));
          ev = await this.#reply();
        }
        this.#midExchange = false;
        return ev.reply;
      },
      replyError: (reply: Reply, message: string) => this.#replyError(reply, "auth", message),
    };
  }

  /** The phase of the command the next reply answers, or `fallback`. */
  #phase(fallback: SmtpPhase): SmtpPhase {
    const awaiting = this.#session?.awaiting;
    return awaiting ? commandPhase(awaiting) : fallback;
  }

  /** Writes command octets under the deadline of the stage they start (default: the oldest pending command's). */
  async #writeCommand(bytes: Uint8Array, deadline?: number): Promise<void> {
    const phase = this.#phase("mail");
    await this.#write(bytes, phase, deadline ?? Date.now() + this.#stageTimeout(phase));
  }

  async #write(bytes: Uint8Array, phase: SmtpPhase, deadline: number): Promise<void> {
    const t = this.#transport;
    if (!t || this.#closedBecause !== null) throw this.#closedError(phase);
    this.#wrote = true;
    await this.#withDeadline(t.write(bytes), deadline, phase, undefined, "writing");
  }

  /** The next reply, read under the stage deadline of the command it answers. */
  async #reply(): Promise<ReplyEvent> {
    const phase = this.#phase("mail");
    const ev = await this.#event(Date.now() + this.#stageTimeout(phase), phase);
    if (ev.type !== "reply") throw new ProtocolError("Server closed the session after QUIT, which was not sent", { phase });
    return ev;
  }

  /**
   * Reads until the core has an event: a reply (or the closing reply to
   * QUIT) is returned; a protocol error, a 421 or the end of the stream
   * closes the connection and is thrown.
   */
  async #event(deadline: number, phase: SmtpPhase): Promise<ReplyEvent | ClosedEvent> {
    const s = this.#session!;
    for (;;) {
      const ev = s.nextEvent();
      switch (ev.type) {
        case "reply":
          return ev;
        case "need-data":
          await this.#read(deadline, phase);
          continue;
        case "idle":
          throw new TypeError("No reply is awaited (no command pending)");
        case "protocol-error":
          this.#shut("the server broke the protocol");
          throw ev.error;
        case "closed":
          if (ev.reason === "quit") return ev;
          throw this.#closedEventError(ev, phase);
      }
    }
  }

  /** Like {@link #event}, for a reply that came while message data was written: any reply, even one the core refuses. */
  async #anyReply(phase: SmtpPhase): Promise<Reply> {
    const s = this.#session!;
    const deadline = Date.now() + this.#timeouts.dataBlock;
    for (;;) {
      const ev = s.nextEvent();
      if (ev.type === "reply") return ev.reply;
      if (ev.type === "need-data" || ev.type === "idle") {
        await this.#read(deadline, phase);
        continue;
      }
      if (ev.type === "protocol-error") {
        if (ev.reply) return ev.reply;
        throw ev.error;
      }
      if (ev.reply) return ev.reply;
      throw this.#closedEventError(ev, phase);
    }
  }

  /** One read into the core (a read started while message data was written is used first). */
  async #read(deadline: number, phase: SmtpPhase): Promise<void> {
    // A read started while message data was written may hold the reply even
    // when the connection has been closed since (an early reply, then a failed write).
    const ahead = this.#readAhead;
    this.#readAhead = null;
    const t = this.#transport;
    if (!ahead && (!t || this.#closedBecause !== null)) throw this.#closedError(phase);
    const chunk = await this.#withDeadline(ahead ? ahead.read : t!.read(), deadline, phase, undefined, "waiting for the server's reply");
    if (chunk === null) this.#session!.receiveEof();
    else this.#session!.receive(chunk);
  }

  /** The error for a session the server ended: a 421 (RFC 5321 §3.8), or the end of the stream. */
  #closedEventError(ev: ClosedEvent, fallback: SmtpPhase): SmtpError {
    const first = ev.command ?? ev.unanswered[0]?.command;
    const phase = first ? commandPhase(first) : fallback;
    if (ev.reason === "421" && ev.reply) {
      this.#shut("the server said 421, closing");
      return this.#replyError(ev.reply, phase, "Server is closing the connection");
    }
    this.#shut(`the server closed it during ${phase}`);
    // The end of a message went out and got no reply: the server may have taken it (RFC 5321 §6.1).
    const maybeDelivered = ev.unanswered.some((p) => p.command === "END-OF-DATA" || p.command === "BDAT-LAST");
    return new ConnectionError(`Server closed the connection during ${phase}`, maybeDelivered ? { phase, maybeDelivered } : { phase });
  }

  /**
   * Races `promise` against `deadline` (a `Date.now()` time): on expiry the
   * connection is closed and a {@link TimeoutError} raised.
   *
   * All pending operations share one timer, armed for the earliest deadline
   * and left armed when an operation settles; it is re-armed only for an
   * earlier deadline, and cleared when a public operation ends with nothing
   * pending (#disarmIfIdle). A timer per read and write
   * (setTimeout + clearTimeout) cost several microseconds each on Deno.
   */
  async #withDeadline<T>(
    promise: Promise<T>,
    deadline: number,
    phase: SmtpPhase,
    timeoutMs: number | undefined,
    what: string,
  ): Promise<T> {
    let op!: PendingOp;
    const expired = new Promise<never>((_, reject) => {
      op = {
        deadline,
        fail: (err: Error) => reject(err),
        expire: () => {
          const limit = timeoutMs ?? this.#stageTimeout(phase);
          reject(new TimeoutError(`Timed out ${what} during ${phase} (limit ${limit} ms)`, limit, { phase }));
        },
      };
    });
    this.#pending.add(op);
    this.#arm(deadline);
    promise.catch(() => {}); // settled later after a timeout: not an unhandled rejection
    try {
      return await Promise.race([promise, expired]);
    } catch (err) {
      if (err instanceof TimeoutError) this.#shut(`timed out during ${phase}`);
      else if (!(err instanceof SmtpError)) {
        this.#shut(`it failed during ${phase}`);
        throw new ConnectionError(`Connection failed during ${phase}: ${(err as Error)?.message ?? err}`, {
          phase,
          cause: err,
        });
      }
      throw err;
    } finally {
      this.#pending.delete(op);
    }
  }

  /** Makes sure the timer fires no later than `deadline`. */
  #arm(deadline: number): void {
    if (this.#timer !== undefined) {
      if (this.#timerAt <= deadline) return;
      clearTimeout(this.#timer);
    }
    this.#timerAt = deadline;
    this.#timer = setTimeout(this.#onTimer, Math.max(0, deadline - Date.now()));
  }

  /** Expires the operations whose deadline the timer was armed for; re-arms for the rest. */
  readonly #onTimer = (): void => {
    const due = this.#timerAt;
    this.#timer = undefined;
    let next = Infinity;
    for (const op of this.#pending) {
      if (op.deadline <= due) {
        this.#pending.delete(op);
        op.expire();
      } else if (op.deadline < next) {
        next = op.deadline;
      }
    }
    if (next !== Infinity) this.#arm(next);
  };

  /** Clears the timer when nothing waits under a deadline (end of a public operation, close()). */
  #disarmIfIdle(): void {
    if (this.#timer !== undefined && this.#pending.size === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #stageTimeout(phase: SmtpPhase): number {
    const t = this.#timeouts;
    switch (phase) {
      case "greeting":
        return t.greeting;
      case "tls":
        return t.tls;
      case "rcpt":
        return t.rcpt;
      case "data":
        return t.data;
      case "bdat":
        return t.dataBlock;
      case "message":
        return t.dataEnd;
      default:
        return t.mail;
    }
  }

  #replyError(reply: Reply, phase: SmtpPhase, what: string): ReplyError {
    const s = this.#session;
    const safe = s ? { ...reply, lines: reply.lines.map((l) => s.redact(l)) } : reply;
    return new ReplyError(`${what}: ${reply.code} ${replyText(safe)}`, safe, phase);
  }

  #trace(direction: "send" | "recv" | "info", line: string): void {
    const fn = this.#options.trace;
    if (!fn) return;
    try {
      fn({ direction, line });
    } catch {
      // A failing trace hook must not break the session.
    }
  }

  #info(line: string): void {
    this.#trace("info", line);
  }
}

type Content = { bytes: Uint8Array } | { stream: AsyncIterable<Uint8Array> };

/** What {@link SmtpClient} decided about a message before writing anything. */
interface SendPlan {
  /** The reverse-path and forward-paths as they go to this server. */
  readonly from: string;
  readonly to: readonly string[];
  /** The caller's sender, for messages. */
  readonly sender: string;
  readonly recipients: readonly RecipientSpec[];
  readonly mail: Parameter[];
  readonly rcpt: Parameter[][];
  readonly policy: "any" | "all";
  readonly content: Content;
  /** Whether BODY=8BITMIME was announced (8-bit octets may go). */
  readonly allow8bit: boolean;
  readonly bdat: boolean;
}

/** The replies to MAIL, RCPT (as results) and a pipelined DATA. */
interface EnvelopeOutcome {
  readonly mail: ReplyEvent;
  readonly data: ReplyEvent | null;
  readonly accepted: RecipientResult[];
  readonly rejected: RecipientResult[];
}

/** A read or write waiting under a deadline. */
interface PendingOp {
  readonly deadline: number;
  expire(): void;
  /** Fails the operation at once (the connection was closed under it). */
  fail(err: Error): void;
}

/** A read started while message data is written, to notice a reply that comes early. */
interface ReadAhead {
  readonly read: Promise<Uint8Array | null>;
  /** Settles with {@link EARLY} when the read does. */
  readonly early: Promise<typeof EARLY>;
  readonly watch: { settled: boolean };
}

const EARLY: unique symbol = Symbol("early reply");
const WRITTEN: unique symbol = Symbol("written");


/**
 * The data error for a NUL octet: SMTP text may not hold one (RFC 5321
 * §4.5.2; only BINARYMIME content may, which smtpsend does not send).
 */
function nulError(midStream: boolean): SmtpError {
  return new SmtpError(
    midStream
      ? "Message contains a NUL octet, which SMTP cannot carry in text (RFC 5321 §2.3.8); the transaction was abandoned by closing the connection, and nothing was delivered. Encode the content (base64)"
      : "Message contains a NUL octet, which SMTP cannot carry in text (RFC 5321 §2.3.8); encode the content (base64)",
    { phase: "message" },
  );
}

function isComposed(m: OutgoingMessage | ComposedMessage): m is ComposedMessage {
  return typeof (m as ComposedMessage).stream === "function" && typeof (m as ComposedMessage).envelope === "object";
}

/**
 * The envelope and content of a message built by `compose()`.
 *
 * @param m A composed message.
 * @returns The message to send: envelope from its headers, content streamed.
 */
export function fromComposed(m: ComposedMessage): OutgoingMessage {
  return { from: m.envelope.from, to: m.envelope.to, data: m.stream(), smtpUtf8: m.smtputf8 };
}

/** Joins write buffers; a single buffer is passed through without a copy. */
function concatAll(parts: readonly Uint8Array[]): Uint8Array {
  return parts.length === 1 ? parts[0]! : concatBytes(parts);
}
