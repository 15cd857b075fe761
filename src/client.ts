/**
 * The SMTP session driver: one connection, driven through a {@link Transport}
 * with the pure protocol core doing every parse and serialisation.
 *
 * Timeouts, TLS upgrade, authentication, pipelining and connection reuse live
 * here; nothing here parses bytes by hand.
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
  SLOW_GREETING_MS,
  type MessageData,
  type OutgoingMessage,
  type RecipientResult,
  type RecipientSpec,
  type SendResult,
  type ServerInfo,
  type Timeouts,
  type TlsMode,
} from "./options.ts";
import { concatBytes } from "./protocol/bytes.ts";
import { ReplyParser, replyText } from "./protocol/reply.ts";
import { parseCapabilities } from "./protocol/capabilities.ts";
import * as cmd from "./protocol/commands.ts";
import { DataEncoder, scanMessage } from "./protocol/data.ts";
import { BdatEncoder } from "./protocol/bdat.ts";
import { envelopeIdValue, orcptValue } from "./protocol/xtext.ts";
import type { Capabilities, Reply } from "./protocol/types.ts";
import { authenticate } from "./auth.ts";
import type { ComposedMessage } from "./message/compose.ts";
import { envelopeForServer } from "./message/idna.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** How long to wait for the reply to the QUIT sent after a failure, in milliseconds. */
const FAILURE_QUIT_TIMEOUT = 5_000;

/** Target size of one write of message data, and of one BDAT chunk. */
const DATA_WRITE_SIZE = 64 * 1024;
const BDAT_CHUNK_SIZE = 1024 * 1024;

/** Resolved defaults for the options a session needs. */
function resolve(options: ClientOptions): { port: number; tls: TlsMode } {
  const tls: TlsMode = options.tls ??
    (options.port === 465 ? "implicit" : options.auth ? "starttls-required" : "starttls-opportunistic");
  const port = options.port ?? (tls === "implicit" ? 465 : options.auth ? 587 : 25);
  return { port, tls };
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
 * One SMTP session.
 *
 * @example
 * ```ts
 * const client = await SmtpClient.connect({ host: "mail.example.org", port: 587, auth: { user: "me", pass: "pw" } });
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
  #parser = new ReplyParser();
  #greeting: Reply | null = null;
  #capabilities: Capabilities | null = null;
  #authenticated: string | null = null;
  /** `"idle"`: no transaction open; `"dirty"`: a transaction needs RSET; `"closed"`: unusable. */
  #state: "new" | "idle" | "dirty" | "closed" = "new";
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
  /** Why the connection was closed, for the error of a later call. */
  #closedBecause = "";
  /** Strings never to show in a trace line or error message (set while authenticating). */
  #redact: string[] = [];
  /** Reads and writes waiting under a deadline (see #withDeadline). */
  readonly #pending = new Set<PendingOp>();
  /** The one deadline timer, armed for #timerAt and shared by all pending operations. */
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #timerAt = 0;

  /**
   * Creates a client; nothing is opened until {@link SmtpClient.connect}.
   *
   * @param options Server, TLS, credentials, timeouts.
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
    return this.#capabilities;
  }

  /** Greeting, capabilities, TLS session and authenticated mechanism. */
  get serverInfo(): ServerInfo {
    if (!this.#greeting) throw new TypeError("Not connected");
    return {
      greeting: this.#greeting,
      capabilities: this.#capabilities,
      tls: this.#transport?.tls ?? null,
      authenticated: this.#authenticated,
    };
  }

  /** Whether the session can still be used. */
  get connected(): boolean {
    return this.#state === "idle" || this.#state === "dirty";
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
    if (this.#state !== "new") throw new TypeError("connect() may be called only once");
    this.#state = "dirty";
    try {
      await this.#open();
      this.#state = "idle";
    } catch (err) {
      if (this.#cleanForQuit(err)) await this.#goodbye();
      this.#shut(`connect() failed: ${(err as Error)?.message ?? err}`);
      throw err;
    } finally {
      this.#disarmIfIdle();
    }
  }

  async #open(): Promise<void> {
    const o = this.#options;
    const connector = o.connector ?? (await this.defaultConnector());
    const tlsOptions = this.#tlsOptions();
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
      tls: this.#tlsMode === "implicit" ? tlsOptions : undefined,
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

    const greetingDeadline = Date.now() + this.#timeouts.greeting;
    let greeting: Reply;
    // A silent server is often an implicit-TLS port reached without TLS: tell
    // the caller early (it may say so), and keep waiting until the deadline.
    const slow = o.onSlowGreeting && SLOW_GREETING_MS < this.#timeouts.greeting
      ? setTimeout(() => {
        try {
          o.onSlowGreeting!({ host: o.host, port: this.#port, tls: this.#tlsMode, waitedMs: SLOW_GREETING_MS });
        } catch { /* the caller's notice must not break the session */ }
      }, SLOW_GREETING_MS)
      : undefined;
    try {
      greeting = await this.#readReply("greeting", greetingDeadline);
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
    this.#greeting = greeting;
    if (greeting.code !== 220) throw this.#replyError(greeting, "greeting", "Server refused the session");

    await this.#hello();

    if (this.#tlsMode === "starttls-required" || this.#tlsMode === "starttls-opportunistic") {
      if (this.#capabilities?.startTls) {
        await this.#startTls(tlsOptions);
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

    if (o.verb) await this.#simple(cmd.verb(), "verb", "VERB", [2], this.#timeouts.mail, false);

    if (o.auth) {
      this.#checkAuthAllowed();
      for (const secret of [o.auth.pass, o.auth.token]) if (secret && secret.length >= 4) this.#redact.push(secret);
      this.#authenticated = await authenticate(this.#saslIo(), this.#capabilities?.auth ?? [], o.auth, {
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

  async #hello(): Promise<void> {
    const name = this.#options.name ?? addressLiteral(this.#transport?.localAddress?.address);
    const deadline = Date.now() + this.#timeouts.mail;
    await this.#write(cmd.ehlo(name), "ehlo", deadline);
    const reply = await this.#readReply("ehlo", deadline);
    if (reply.code === 250) {
      this.#capabilities = parseCapabilities(reply);
      return;
    }
    if (reply.code >= 500) {
      // RFC 5321 §3.2: a server that does not know EHLO answers 500/502; fall back to HELO.
      this.#info(`EHLO refused (${reply.code}); falling back to HELO`);
      this.#capabilities = null;
      await this.#write(cmd.helo(name), "helo", deadline);
      const helo = await this.#readReply("helo", deadline);
      if (helo.code !== 250) throw this.#replyError(helo, "helo", "HELO refused");
      return;
    }
    throw this.#replyError(reply, "ehlo", "EHLO refused");
  }

  async #startTls(tlsOptions: TlsOptions): Promise<void> {
    const deadline = Date.now() + this.#timeouts.mail;
    await this.#write(cmd.starttls(), "starttls", deadline);
    const reply = await this.#readReply("starttls", deadline);
    if (reply.code !== 220) throw this.#replyError(reply, "starttls", "STARTTLS refused");
    // Anything the server sent after its 220 arrived before the handshake and
    // would be read as if it came over TLS (CVE-2011-0411): refuse it.
    if (this.#parser.bufferedBytes > 0) {
      throw new ProtocolError(
        `Server sent ${this.#parser.bufferedBytes} octets after its STARTTLS reply, before the TLS handshake; refusing them`,
        { phase: "starttls" },
      );
    }
    const transport = this.#transport!;
    this.#midExchange = true; // until the handshake succeeds: no cleartext QUIT after a failed one
    const info = await this.#withDeadline(
      transport.startTls(tlsOptions),
      Date.now() + this.#timeouts.tls,
      "tls",
      this.#timeouts.tls,
      "TLS handshake",
    );
    this.#midExchange = false;
    this.#parser = new ReplyParser();
    // RFC 3207 §4.2: forget everything learnt before TLS.
    this.#capabilities = null;
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
   * offered, unless `eightBit: false`); NUL octets never go. In-memory data
   * is checked before MAIL. A stream is checked as it is sent: when it turns
   * out to hold what may not go, the transaction is abandoned by closing the
   * connection without the end of data — inside DATA or BDAT that is the only
   * abort that cannot deliver the part already sent — and a permanent
   * {@link SmtpError} in phase `"message"` is thrown.
   *
   * A negative reply to a BDAT chunk that is not the last, or any reply that
   * arrives while message data is still being written, stops the sending and
   * closes the connection (the server may take the rest for commands); the
   * reply is thrown as a {@link ReplyError}. A later `send()` on this client
   * then throws a {@link ConnectionError} saying why it was closed: connect a
   * new client (the `send()` helper does so for every message).
   *
   * @param message Envelope and content.
   * @returns Accepted and rejected recipients and the final reply.
   * @throws {ReplyError} When MAIL is refused, no recipient is accepted (or not all, with `policy: "all"`), or the data is refused.
   * @throws {SmtpError} Connection, protocol and timeout errors; the connection is then closed. When the
   *   end of the message was sent but no reply came (time-out, connection lost), `maybeDelivered` is `true`:
   *   the server may already have accepted it (RFC 5321 §6.1).
   */
  async send(message: OutgoingMessage | ComposedMessage): Promise<SendResult> {
    if (this.#state === "new") throw new TypeError("Call connect() before send()");
    if (this.#state === "closed") throw this.#closedError("mail");
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
    if (typeof message !== "object" || message === null) throw new TypeError("Message must be an object");
    if (typeof message.from !== "string") throw new TypeError("Message \"from\" must be a string (\"\" for the null sender)");
    if (!Array.isArray(message.to) || message.to.length === 0) throw new TypeError("Message \"to\" must list at least one recipient");
    const policy = message.policy ?? "any";
    if (policy !== "any" && policy !== "all") throw new TypeError(`Message "policy" must be "any" or "all"`);
    const recipients = message.to.map(recipientSpec);
    const caps = this.#capabilities;
    const content = normaliseData(message.data);

    // Decide the MAIL parameters before anything is written.
    let size = message.size;
    let eightBit = message.eightBit;
    let headerUtf8 = false;
    if ("bytes" in content) {
      const scan = scanMessage(content.bytes);
      if (scan.maxLineLength > 998) {
        throw new RangeError(
          `Message has a line of ${scan.maxLineLength} octets; RFC 5321 allows 998 — encode the body (quoted-printable or base64)`,
        );
      }
      if (scan.hasNul) throw nulError(false);
      size = scan.size;
      eightBit = scan.eightBit;
      headerUtf8 = scan.headerEightBit;
    }
    // One rule for internationalised addresses (src/message/idna.ts): as written
    // with SMTPUTF8, IDN domains as A-labels without it; a UTF-8 local part
    // without it is a permanent error before anything is written.
    const env = envelopeForServer(message.from, recipients.map((r) => r.address), caps?.smtpUtf8 === true);
    if ("error" in env) throw new SmtpError(env.error, { phase: "mail", code: 553, enhancedCode: "5.6.7", temporary: false });
    const needUtf8 = env.smtpUtf8;
    const smtpUtf8 = needUtf8 || message.smtpUtf8 === true || headerUtf8;
    if (caps?.size && size !== undefined && size > caps.size) {
      throw new SmtpError(`Message of ${size} octets exceeds the server's SIZE limit of ${caps.size} octets`, {
        phase: "mail",
        code: 552,
        enhancedCode: "5.3.4",
      });
    }
    // 8-bit octets go only under BODY=8BITMIME (RFC 6152 §3), which needs 8BITMIME offered.
    // SMTPUTF8 does not replace it: RFC 6531 §3.1 (8) makes an SMTPUTF8 server offer
    // 8BITMIME too, and UTF-8 header octets are 8-bit content like any other.
    if (eightBit === true && !caps?.eightBitMime) {
      throw new SmtpError(
        "Message has 8-bit data but the server does not offer 8BITMIME (RFC 6152); encode the body as quoted-printable or base64 (compose() does)",
        { phase: "mail" },
      );
    }
    // A stream is not known to be 7-bit unless the caller says so (eightBit: false).
    const body8bit = caps?.eightBitMime === true && (eightBit ?? !("bytes" in content));
    const params: [string, string | true][] = [];
    if (caps?.size !== null && caps?.size !== undefined && size !== undefined) params.push(["SIZE", String(size)]);
    if (body8bit) params.push(["BODY", "8BITMIME"]);
    if (smtpUtf8 && caps?.smtpUtf8) params.push(["SMTPUTF8", true]);
    // Checked whether or not the server offers DSN, so a bad id fails the same way everywhere.
    const envid = message.dsnEnvelopeId ? envelopeIdValue(message.dsnEnvelopeId) : undefined;
    if (caps?.dsn) {
      if (message.dsnReturn) params.push(["RET", message.dsnReturn]);
      if (envid !== undefined) params.push(["ENVID", envid]);
    }
    const commands: Uint8Array[] = [cmd.mailFrom(env.from, params)];
    for (const [i, r] of recipients.entries()) {
      const rp: [string, string | true][] = [];
      const notify = r.notify ?? message.dsnNotify;
      if (caps?.dsn && (notify || r.orcpt)) {
        if (notify) rp.push(["NOTIFY", notify === "NEVER" ? "NEVER" : notify.join(",")]);
        rp.push(["ORCPT", orcptValue(r.orcpt ?? r.address)]);
      }
      commands.push(cmd.rcptTo(env.to[i]!, rp));
    }

    if (this.#state === "dirty") await this.reset();
    this.#state = "dirty";

    const useBdat = caps?.chunking === true && this.#options.chunking !== false;
    const pipelining = caps?.pipelining === true && this.#options.pipelining !== false;
    // With "all", DATA is only sent after every RCPT reply is known: a 354
    // could not be taken back without delivering to the accepted ones.
    const pipelineData = pipelining && !useBdat && policy === "any";

    const mailDeadline = Date.now() + this.#timeouts.mail;
    let mailReply: Reply;
    const rcptReplies: Reply[] = [];
    let dataReply: Reply | null = null;
    if (pipelining) {
      const group = pipelineData ? [...commands, cmd.data()] : commands;
      await this.#write(concatAll(group), "mail", mailDeadline);
      mailReply = await this.#readReply("mail", mailDeadline);
      for (let i = 0; i < recipients.length; i++) {
        rcptReplies.push(await this.#readReply("rcpt", Date.now() + this.#timeouts.rcpt));
      }
      if (pipelineData) dataReply = await this.#readReply("data", Date.now() + this.#timeouts.data);
    } else {
      await this.#write(commands[0]!, "mail", mailDeadline);
      mailReply = await this.#readReply("mail", mailDeadline);
      if (mailReply.code === 250) {
        for (let i = 0; i < recipients.length; i++) {
          const deadline = Date.now() + this.#timeouts.rcpt;
          await this.#write(commands[i + 1]!, "rcpt", deadline);
          rcptReplies.push(await this.#readReply("rcpt", deadline));
        }
      }
    }

    const accepted: RecipientResult[] = [];
    const rejected: RecipientResult[] = [];
    recipients.forEach((r, i) => {
      const reply = rcptReplies[i];
      const result: RecipientResult = {
        address: r.address,
        accepted: reply !== undefined && reply.code >= 200 && reply.code < 300,
        code: reply?.code ?? mailReply.code,
        enhancedCode: reply?.enhanced ?? null,
        message: reply ? replyText(reply) : "not attempted: MAIL FROM was refused",
      };
      (result.accepted ? accepted : rejected).push(result);
    });

    // A pipelined DATA that the server accepted must be finished with a lone dot (RFC 2920 §3.1).
    const abortPipelinedData = async (): Promise<void> => {
      if (dataReply?.code === 354) {
        await this.#write(encoder.encode(".\r\n"), "data", Date.now() + this.#timeouts.dataEnd);
        await this.#readReply("message", Date.now() + this.#timeouts.dataEnd);
      }
    };

    if (mailReply.code !== 250) {
      await abortPipelinedData();
      throw this.#replyError(mailReply, "mail", `Sender <${message.from}> refused`);
    }
    if (accepted.length === 0 || (policy === "all" && rejected.length > 0)) {
      await abortPipelinedData();
      const first = rejected[0]!;
      const err = new ReplyError(
        accepted.length === 0
          ? `No recipient accepted: ${rejected.map((r) => `<${r.address}> ${r.code} ${r.message}`).join("; ")}`
          : `Not every recipient accepted (policy "all"): ${rejected.map((r) => `<${r.address}> ${r.code} ${r.message}`).join("; ")}`,
        { code: first.code, enhanced: first.enhancedCode, lines: [first.message] },
        "rcpt",
      );
      throw Object.assign(err, { rejected });
    }

    let finalReply: Reply;
    let octets: number;
    if (useBdat) {
      ({ reply: finalReply, octets } = await this.#sendBdat(content, body8bit));
    } else {
      if (!pipelineData) {
        const deadline = Date.now() + this.#timeouts.data;
        await this.#write(cmd.data(), "data", deadline);
        dataReply = await this.#readReply("data", deadline);
      }
      if (dataReply!.code !== 354) throw this.#replyError(dataReply!, "data", "DATA refused");
      ({ reply: finalReply, octets } = await this.#sendData(content, body8bit));
    }
    if (finalReply.code !== 250) throw this.#replyError(finalReply, "message", "Message refused");
    this.#state = "idle";
    return { accepted, rejected, reply: finalReply, octets };
  }

  /**
   * DATA (RFC 5321 §4.1.1.4): the message, dot-stuffed, then the final dot.
   *
   * A streamed message is checked as it goes: a NUL octet, or an 8-bit octet
   * when BODY=8BITMIME was not announced, abandons the transaction. Inside
   * DATA the only safe way to do that is to close the connection without the
   * final dot: anything else (a dot, RSET) would end the message and deliver
   * the part already sent.
   */
  async #sendData(
    content: { bytes: Uint8Array } | { stream: AsyncIterable<Uint8Array> },
    allow8bit: boolean,
  ): Promise<{ reply: Reply; octets: number }> {
    const enc = new DataEncoder();
    let octets = 0;
    this.#midExchange = true;
    if ("bytes" in content) {
      const out = concatAll([enc.push(content.bytes), enc.end()]);
      octets = out.length;
      if (this.#options.trace) this.#trace("send", `[${out.length} octets of message data, ending with "."]`);
      await this.#writeMessage(out, "message");
    } else {
      let pending: Uint8Array[] = [];
      let pendingSize = 0;
      const flush = async () => {
        if (pendingSize === 0) return;
        const out = concatAll(pending);
        pending = [];
        pendingSize = 0;
        octets += out.length;
        await this.#writeMessage(out, "message");
      };
      try {
        for await (const chunk of content.stream) {
          const out = enc.push(chunk);
          this.#checkStreamed(enc, allow8bit);
          if (out.length === 0) continue;
          pending.push(out);
          pendingSize += out.length;
          if (pendingSize >= DATA_WRITE_SIZE) await flush();
        }
      } catch (err) {
        // The server must not see a partial message as complete: drop the connection without the dot.
        this.#shut("the message stream failed in the middle of DATA");
        throw err;
      }
      pending.push(enc.end());
      pendingSize += 1;
      await flush();
      this.#trace("send", `[${octets} octets of message data, ending with "."]`);
    }
    const reply = await this.#readEndOfData(Date.now() + this.#timeouts.dataEnd);
    return { reply, octets };
  }

  /**
   * BDAT (RFC 3030): chunks of {@link BDAT_CHUNK_SIZE}, the last one `BDAT n LAST`.
   *
   * A negative reply to a chunk that is not the last ends the message: no
   * further chunk is sent, the reply is thrown as a {@link ReplyError} in
   * phase `"bdat"`, and the connection is closed — the server may have stopped
   * reading at its reply and taken the rest of the chunk for commands. The
   * same holds for any reply that arrives before a chunk is written in full.
   * A stream's content is checked as for DATA; abandoning it closes the
   * connection without `BDAT … LAST`.
   */
  async #sendBdat(
    content: { bytes: Uint8Array } | { stream: AsyncIterable<Uint8Array> },
    allow8bit: boolean,
  ): Promise<{ reply: Reply; octets: number }> {
    const bdat = new BdatEncoder();
    let octets = 0;
    this.#midExchange = true;
    const sendChunk = async (chunk: Uint8Array, last: boolean): Promise<Reply> => {
      const head = cmd.bdat(chunk.length, last);
      octets += chunk.length;
      if (this.#options.trace) this.#trace("send", `${decoder.decode(head).trimEnd()} [${chunk.length} octets]`);
      await this.#writeMessage(concatAll([head, chunk]), "bdat");
      if (last) return await this.#readEndOfData(Date.now() + this.#timeouts.dataEnd);
      const reply = await this.#readReply("bdat", Date.now() + this.#timeouts.dataBlock);
      if (reply.code !== 250) {
        this.#shut(`BDAT chunk refused with ${reply.code} in the middle of the message`);
        throw this.#replyError(reply, "bdat", "BDAT chunk refused; the rest of the message was not sent and the connection was closed");
      }
      return reply;
    };
    if ("bytes" in content) {
      const body = concatAll([bdat.push(content.bytes), bdat.end()]);
      return { reply: await sendChunk(body, true), octets };
    }
    let held: Uint8Array[] = [];
    let heldSize = 0;
    try {
      for await (const chunk of content.stream) {
        const out = bdat.push(chunk);
        this.#checkStreamed(bdat, allow8bit);
        held.push(out);
        heldSize += out.length;
        if (heldSize >= BDAT_CHUNK_SIZE) {
          await sendChunk(concatAll(held), false);
          held = [];
          heldSize = 0;
        }
      }
    } catch (err) {
      this.#shut("the message stream failed in the middle of BDAT");
      throw err;
    }
    held.push(bdat.end());
    return { reply: await sendChunk(concatAll(held), true), octets };
  }

  /** Throws the data error when a streamed message holds what may not be sent (see #sendData). */
  #checkStreamed(enc: { readonly hasNul: boolean; readonly eightBit: boolean }, allow8bit: boolean): void {
    if (enc.hasNul) {
      this.#shut("a NUL octet turned up in the message stream");
      throw nulError(true);
    }
    if (enc.eightBit && !allow8bit) {
      this.#shut("an 8-bit octet turned up in the message stream");
      throw new SmtpError(
        `Message has 8-bit data but ${
          this.#capabilities?.eightBitMime ? "the message was declared 7-bit (BODY=7BIT)" : "the server does not offer 8BITMIME (RFC 6152)"
        }; the transaction was abandoned by closing the connection, and nothing was delivered. Encode the body as quoted-printable or base64`,
        { phase: "message" },
      );
    }
  }

  /**
   * Reads the reply to the end of the message (the final dot, or BDAT LAST).
   * Without one — a time-out, or the connection lost — the server may have
   * accepted the message all the same (RFC 5321 §6.1): the error says so and
   * carries `maybeDelivered: true`.
   */
  async #readEndOfData(deadline: number): Promise<Reply> {
    try {
      const reply = await this.#readReply("message", deadline);
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
    if (!t || this.#state === "closed") throw this.#closedError(phase);
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
      const writing = this.#write(block, phase, Date.now() + this.#timeouts.dataBlock, false);
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
      reply = await this.#readReply(phase, Date.now() + this.#timeouts.dataBlock);
    } catch (err) {
      throw writeError ?? err;
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
      await this.#simple(cmd.rset(), "rset", "RSET", [2], this.#timeouts.mail, true);
      this.#state = "idle";
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
      return await this.#simple(cmd.noop(), "noop", "NOOP", [2], this.#timeouts.mail, true);
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
    if (this.#state === "closed" || this.#state === "new" || this.#midExchange) {
      this.#shut("quit() was called");
      return;
    }
    try {
      await this.#simple(cmd.quit(), "quit", "QUIT", [2], Math.min(this.#timeouts.mail, 10_000), true);
    } catch {
      // The session is over either way.
    } finally {
      this.#shut("quit() was called");
      this.#disarmIfIdle();
    }
  }

  /**
   * Whether, after `err`, the connection can still carry a QUIT: open, no
   * exchange half done, nothing unread, and not a protocol error or a 421.
   */
  #cleanForQuit(err: unknown): boolean {
    if (this.#state === "closed" || !this.#transport || this.#midExchange) return false;
    if (this.#parser.bufferedBytes > 0 || this.#readAhead) return false;
    if (err instanceof ProtocolError || err instanceof TimeoutError || err instanceof ConnectionError) return false;
    if (err instanceof SmtpError && err.code === 421) return false;
    return this.#greeting !== null;
  }

  /** QUIT after a failure (RFC 5321 §4.1.1.10), its reply read within {@link FAILURE_QUIT_TIMEOUT}; errors ignored. */
  async #goodbye(): Promise<void> {
    try {
      await this.#simple(cmd.quit(), "quit", "QUIT", [2], Math.min(this.#timeouts.mail, FAILURE_QUIT_TIMEOUT), true);
    } catch {
      // Best effort: the failure being reported is the one that matters.
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
    if (this.#state !== "closed") this.#closedBecause = reason;
    this.#state = "closed";
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

  async #simple(
    bytes: Uint8Array,
    phase: SmtpPhase,
    what: string,
    ok: readonly number[],
    timeout: number,
    checkOpen: boolean,
  ): Promise<Reply> {
    if (checkOpen && this.#state === "closed") throw this.#closedError(phase);
    const deadline = Date.now() + timeout;
    await this.#write(bytes, phase, deadline);
    const reply = await this.#readReply(phase, deadline);
    if (!ok.includes(Math.floor(reply.code / 100))) throw this.#replyError(reply, phase, `${what} refused`);
    return reply;
  }

  /** The I/O the SASL layer needs, with AUTH payloads redacted in the trace. */
  #saslIo(): import("./auth.ts").SaslIo {
    return {
      send: async (line: string, traced: string) => {
        const deadline = Date.now() + this.#timeouts.mail;
        // A payload the trace hides is also hidden if the server echoes it back.
        if (traced !== line) {
          for (const part of line.split(" ")) if (part.length >= 8 && !traced.includes(part)) this.#redact.push(part);
        }
        this.#trace("send", traced);
        this.#midExchange = true; // until the reply to this line is read
        await this.#write(encoder.encode(line + "\r\n"), "auth", deadline, false);
      },
      read: async () => {
        const reply = await this.#readReply("auth", Date.now() + this.#timeouts.mail);
        this.#midExchange = false;
        return reply;
      },
      replyError: (reply: Reply, message: string) => this.#replyError(reply, "auth", message),
    };
  }

  async #write(bytes: Uint8Array, phase: SmtpPhase, deadline: number, trace = true): Promise<void> {
    const t = this.#transport;
    if (!t || this.#state === "closed") throw this.#closedError(phase);
    // Every reply must answer a command we sent: anything still unread now answers none
    // (a server that replies twice, or early), and would shift every later reply.
    const stray = this.#parser.bufferedBytes;
    if (stray > 0) {
      this.#shut("the server sent a reply that answers no command");
      throw new ProtocolError(`Server sent ${stray} octets that answer no command (before ${phase}); closing the connection`, { phase });
    }
    if (trace && this.#options.trace) {
      for (const line of decoder.decode(bytes).split("\r\n")) if (line) this.#trace("send", line);
    }
    this.#wrote = true;
    await this.#withDeadline(t.write(bytes), deadline, phase, undefined, "writing");
  }

  async #readReply(phase: SmtpPhase, deadline: number): Promise<Reply> {
    for (;;) {
      let reply: Reply | null;
      try {
        reply = this.#parser.nextEvent();
      } catch (err) {
        this.#shut("the server sent a malformed reply");
        if (err instanceof ProtocolError) throw new ProtocolError(err.message, { phase, cause: err });
        throw err;
      }
      if (reply) {
        if (this.#options.trace) {
          reply.lines.forEach((l, i) => this.#trace("recv", this.#redactText(`${reply!.code}${i < reply!.lines.length - 1 ? "-" : " "}${l}`)));
        }
        const allowed = REPLY_CLASSES[phase] ?? "245";
        if (!allowed.includes(String(reply.code)[0]!)) {
          this.#shut(`the server answered ${phase} with ${reply.code}`);
          throw new ProtocolError(`Server answered ${phase} with ${reply.code}, which cannot answer it; closing the connection`, {
            phase,
            code: reply.code,
          });
        }
        if (reply.code === 421) {
          this.#shut("the server said 421, closing");
          throw this.#replyError(reply, phase, "Server is closing the connection");
        }
        return reply;
      }
      // A read started while message data was written may hold the reply even
      // when the connection has been closed since (an early reply, then a failed write).
      const ahead = this.#readAhead;
      this.#readAhead = null;
      const t = this.#transport;
      if (!ahead && (!t || this.#state === "closed")) throw this.#closedError(phase);
      const chunk = await this.#withDeadline(ahead ? ahead.read : t!.read(), deadline, phase, undefined, "waiting for the server's reply");
      if (chunk === null) {
        this.#shut(`the server closed it during ${phase}`);
        throw new ConnectionError(`Server closed the connection during ${phase}`, { phase });
      }
      this.#parser.receiveData(chunk);
    }
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
    const safe = this.#redact.length ? { ...reply, lines: reply.lines.map((l) => this.#redactText(l)) } : reply;
    return new ReplyError(`${what}: ${reply.code} ${replyText(safe)}`, safe, phase);
  }

  /** Replaces secrets a server might echo back (AUTH payloads, the password, the token). */
  #redactText(text: string): string {
    for (const secret of this.#redact) if (text.includes(secret)) text = text.split(secret).join("<redacted>");
    return text;
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

/** Which reply classes may answer each stage; anything else is a protocol error. Default: 2, 4, 5. */
const REPLY_CLASSES: Partial<Record<SmtpPhase, string>> = { data: "345", auth: "2345" };

/** Joins write buffers; a single buffer is passed through without a copy. */
function concatAll(parts: readonly Uint8Array[]): Uint8Array {
  return parts.length === 1 ? parts[0]! : concatBytes(parts);
}
