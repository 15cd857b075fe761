/**
 * The Bun adapter: native `Bun.connect` sockets, STARTTLS through
 * `socket.upgradeTLS()`, and the `node:*` based {@link Host} (Bun implements
 * `node:fs`, `node:child_process` and friends natively).
 *
 * TLS, implicit or STARTTLS, is always `upgradeTLS()` on a plain TCP socket, so
 * the adapter holds both halves it returns: the TLS socket (reads, writes) and
 * the TCP socket under it. Closing needs both: Bun's `end()` on a TLS socket
 * sends `close_notify` and then waits for the peer's `close_notify` before it
 * sends the TCP FIN, and detaches the socket (a later `terminate()` is a
 * no-op). GnuTLS servers (Exim) never answer a `close_notify`: they wait for
 * the FIN, so both ends waited and the connection stayed ESTABLISHED until
 * Bun's own timeout or process exit. `close()` therefore ends the TLS socket
 * (`close_notify`) and then the TCP half (FIN) at once.
 *
 * Certificate checks: Bun verifies the chain and the name natively; the
 * adapter additionally runs `node:tls` `checkServerIdentity()` against the
 * configured server name in the `handshake` callback, before anything is
 * written, so an IP-address server name (sent without SNI) is still checked
 * against the certificate's IP SANs.
 *
 * @module
 */
import type { ConnectOptions, Connector, NetAddress, Runtime, TlsInfo, TlsOptions, Transport } from "./types.ts";
import { SmtpError } from "../errors.ts";
import { nodeHost } from "./node_host.ts";
import {
  abortError,
  certificateError,
  ChunkQueue,
  closedError,
  connectionError,
  errorCode,
  handshakeError,
  HIGH_WATER,
  injectionError,
  isIpAddress,
  isVerifyCode,
  onAbort,
  type PeerCertLike,
  tlsInfo,
} from "./shared.ts";

// Structural declarations of the Bun APIs used here (design note 7).
interface BunTlsOptions {
  serverName?: string;
  rejectUnauthorized?: boolean;
  ca?: string[];
  cert?: string;
  key?: string;
  passphrase?: string;
}
interface BunSocket {
  write(data: Uint8Array): number;
  end(): unknown;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay(noDelay?: boolean): boolean;
  upgradeTLS(options: { tls: BunTlsOptions; socket: BunHandlers }): [BunSocket, BunSocket];
  getPeerCertificate(): PeerCertLike | null;
  getCipher(): { name?: string | null } | null;
  getTLSVersion(): string | null;
  readonly localAddress?: string;
  readonly localPort?: number;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
}
interface BunHandlers {
  binaryType?: "uint8array";
  open?(socket: BunSocket): void;
  data?(socket: BunSocket, data: Uint8Array): void;
  drain?(socket: BunSocket): void;
  end?(socket: BunSocket): void;
  close?(socket: BunSocket, error?: Error): void;
  error?(socket: BunSocket, error: Error): void;
  connectError?(socket: BunSocket, error: Error): void;
  handshake?(socket: BunSocket, success: boolean, authorizationError: Error | null): void;
}
declare const Bun: {
  connect(options: { hostname: string; port: number; tls?: BunTlsOptions; socket: BunHandlers }): Promise<BunSocket>;
};

type CheckServerIdentity = (hostname: string, cert: never) => Error | undefined;

function bunTlsOptions(options: TlsOptions): BunTlsOptions {
  const { servername } = options;
  if (typeof servername !== "string" || servername === "") {
    throw new TypeError("TLS options need a non-empty servername");
  }
  const o: BunTlsOptions = {
    // "" turns SNI off (Bun would otherwise send the IP or the host we
    // connect to); the name is checked in the handshake callback.
    serverName: isIpAddress(servername) ? "" : servername,
    rejectUnauthorized: options.verify !== false,
  };
  if (options.ca) o.ca = [...options.ca];
  if (options.cert !== undefined) o.cert = options.cert;
  if (options.key !== undefined) o.key = options.key;
  if (options.passphrase !== undefined) o.passphrase = options.passphrase;
  return o;
}

/** Decides a finished handshake: `null` when it is accepted. */
function judge(
  socket: BunSocket,
  options: TlsOptions,
  authorizationError: Error | null,
  check: CheckServerIdentity,
): SmtpError | null {
  const { servername } = options;
  const code = errorCode(authorizationError);
  if (authorizationError && !isVerifyCode(code)) {
    // Not a certificate problem: the handshake itself failed (e.g. EPROTO).
    return handshakeError(servername, authorizationError.message, authorizationError);
  }
  if (options.verify === false) return null;
  // Bun checks the name itself against serverName, or against the host we
  // connected to when serverName is "" (IP server names): leave name checks
  // to checkServerIdentity below, which always uses the configured name.
  if (authorizationError && code !== "ERR_TLS_CERT_ALTNAME_INVALID") {
    return certificateError(servername, authorizationError.message, authorizationError);
  }
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.subject && !(cert as { subjectaltname?: string }).subjectaltname) {
    return certificateError(servername, "the server sent no certificate", authorizationError);
  }
  const e = check(servername, cert as never);
  return e ? certificateError(servername, e.message, e) : null;
}

function infoOf(socket: BunSocket): TlsInfo {
  return tlsInfo(socket.getTLSVersion(), socket.getCipher()?.name, socket.getPeerCertificate());
}

function mapTlsFailure(e: unknown, servername: string, starttls: boolean): SmtpError {
  if (e instanceof SmtpError) return e;
  const code = errorCode(e);
  const message = e instanceof Error ? e.message : String(e);
  if (code === "ECONNRESET" || code === "EPIPE") {
    return handshakeError(servername, "the connection was closed by the server", e, true);
  }
  if (starttls && /wrong version number|WRONG_VERSION_NUMBER|packet length too long/i.test(message)) {
    return injectionError(null, e);
  }
  return handshakeError(servername, message, e);
}

class BunTransport implements Transport {
  /** The socket reads and writes go through: the TCP socket, then the TLS socket after an upgrade. */
  #socket: BunSocket | null = null;
  /** After an upgrade: the TCP half `upgradeTLS()` returned, under {@link #socket}. */
  #tcp: BunSocket | null = null;
  #queue = new ChunkQueue();
  #closed = false;
  #gen = 0;
  #tls: TlsInfo | null = null;
  #upgrading: Promise<void> | null = null;
  #handshake: { resolve(): void; reject(e: unknown): void; options: TlsOptions; starttls: boolean } | null = null;
  #drainWaiters = new Set<{ resolve(): void; reject(e: unknown): void }>();
  #check: CheckServerIdentity;
  #where: { hostname: string; port: number };
  localAddress: NetAddress | null = null;
  remoteAddress: NetAddress | null = null;

  constructor(where: { hostname: string; port: number }, check: CheckServerIdentity) {
    this.#where = where;
    this.#check = check;
    this.#queue.onLow = () => this.#socket?.resume();
  }

  get tls(): TlsInfo | null {
    return this.#tls;
  }

  /** Socket event handlers for one generation (plain, then TLS after an upgrade). */
  handlers(): BunHandlers {
    const gen = ++this.#gen;
    const live = () => gen === this.#gen;
    return {
      binaryType: "uint8array",
      data: (socket, data) => {
        if (!live() || this.#closed) return;
        this.#queue.push(data);
        if (this.#queue.buffered >= HIGH_WATER) socket.pause();
      },
      drain: () => {
        if (!live()) return;
        const waiters = [...this.#drainWaiters];
        this.#drainWaiters.clear();
        for (const w of waiters) w.resolve();
      },
      end: () => {
        if (live()) this.#queue.end();
      },
      close: (_socket, error) => {
        if (!live()) return;
        this.#ended(error);
      },
      error: (_socket, error) => {
        if (!live()) return;
        this.#ended(error);
      },
      handshake: (socket, _success, authorizationError) => {
        if (!live()) return;
        const h = this.#handshake;
        if (!h) return;
        this.#handshake = null;
        let verdict: SmtpError | null;
        try {
          verdict = judge(socket, h.options, authorizationError, this.#check);
        } catch (e) {
          verdict = certificateError(h.options.servername, e instanceof Error ? e.message : String(e), e);
        }
        if (verdict) {
          socket.terminate();
          h.reject(verdict);
        } else {
          this.#socket = socket;
          this.#tls = infoOf(socket);
          h.resolve();
        }
      },
    };
  }

  #ended(error: Error | undefined): void {
    const h = this.#handshake;
    if (h) {
      this.#handshake = null;
      h.reject(
        error
          ? mapTlsFailure(error, h.options.servername, h.starttls)
          : handshakeError(h.options.servername, "the connection was closed by the server", undefined, true),
      );
    }
    const err = error ? connectionError(error, this.#where.hostname, this.#where.port) : undefined;
    this.#queue.end(err);
    const waiters = [...this.#drainWaiters];
    this.#drainWaiters.clear();
    for (const w of waiters) w.reject(err ?? closedError("while writing"));
  }

  /** Waits for the `handshake` callback of the current generation. */
  expectHandshake(options: TlsOptions, starttls: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#handshake = { resolve, reject, options, starttls };
    });
  }

  /** Rejects a handshake in progress (abort, close). */
  cancelHandshake(e: SmtpError): void {
    const h = this.#handshake;
    if (h) {
      this.#handshake = null;
      h.reject(e);
    }
  }

  attach(socket: BunSocket): void {
    this.#socket = socket;
    socket.setNoDelay(true);
    if (socket.localAddress && socket.localPort !== undefined) {
      this.localAddress = { address: socket.localAddress, port: socket.localPort };
    }
    if (socket.remoteAddress) {
      this.remoteAddress = { address: socket.remoteAddress, port: socket.remotePort ?? this.#where.port };
    }
  }

  read(): Promise<Uint8Array | null> {
    if (this.#closed) return Promise.resolve(null);
    return this.#queue.read();
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.#upgrading) await this.#upgrading;
    let rest = data;
    while (rest.byteLength > 0) {
      const socket = this.#socket;
      if (this.#closed || !socket || this.#queue.done) throw closedError("before writing");
      const n = socket.write(rest);
      if (n < 0) throw closedError("before writing");
      rest = rest.subarray(n);
      if (rest.byteLength > 0) {
        await new Promise<void>((resolve, reject) => this.#drainWaiters.add({ resolve, reject }));
      }
    }
  }

  async startTls(options: TlsOptions): Promise<TlsInfo> {
    if (this.#tls || this.#upgrading) throw new TypeError("The connection already uses TLS");
    if (this.#queue.waiting) throw new TypeError("startTls() was called while a read() is pending");
    if (this.#closed || !this.#socket) throw closedError("before the TLS handshake");
    if (this.#queue.buffered > 0) {
      const n = this.#queue.buffered;
      this.close();
      throw injectionError(n);
    }
    if (this.#queue.done) throw closedError("by the server before the TLS handshake");
    return await this.upgrade(options, true);
  }

  /**
   * The TLS handshake on the current TCP socket: right after connecting
   * (implicit TLS) or after the server's 220 to STARTTLS.
   */
  async upgrade(options: TlsOptions, starttls: boolean): Promise<TlsInfo> {
    const tlsOptions = bunTlsOptions(options);
    if (!starttls && this.#queue.buffered > 0) {
      // Implicit TLS: plaintext must never be read as if it came over TLS.
      this.close();
      throw handshakeError(options.servername, "the server sent plaintext before the TLS handshake", undefined);
    }
    const raw = this.#socket!;
    const done = this.expectHandshake(options, starttls);
    this.#upgrading = done.catch(() => {});
    try {
      // upgradeTLS() may run the TLS socket's `open` synchronously; the old
      // generation's handlers ignore the raw TLS records from now on.
      const [tcp, tlsSocket] = raw.upgradeTLS({ tls: tlsOptions, socket: this.handlers() });
      tlsSocket.setNoDelay(true);
      this.#tcp = tcp;
      this.#socket = tlsSocket;
      await done;
      return this.#tls!;
    } catch (e) {
      this.#closed = true;
      this.#queue.end();
      this.#terminate();
      throw e instanceof SmtpError ? e : mapTlsFailure(e, options.servername, starttls);
    } finally {
      this.#upgrading = null;
    }
  }

  /** Resets the connection at once (no close_notify, no FIN): both halves. */
  #terminate(): void {
    for (const socket of [this.#socket, this.#tcp]) {
      try {
        socket?.terminate();
      } catch { /* already gone */ }
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.clear();
    this.cancelHandshake(closedError("during the TLS handshake"));
    const waiters = [...this.#drainWaiters];
    this.#drainWaiters.clear();
    for (const w of waiters) w.reject(closedError("while writing"));
    const socket = this.#socket;
    if (!socket) return;
    if (!this.#tls && this.#tcp) {
      // Closed during the handshake: nothing to say goodbye with.
      this.#terminate();
      return;
    }
    // TLS: close_notify, then (Bun would wait for the peer's close_notify
    // first, which GnuTLS servers never send) the TCP FIN. Plain: the FIN.
    try {
      socket.end();
    } catch { /* already closed */ }
    try {
      this.#tcp?.end();
    } catch { /* already closed */ }
  }
}

async function connect(options: ConnectOptions): Promise<Transport> {
  const { hostname, port, signal } = options;
  if (signal?.aborted) throw abortError(signal, hostname, port);
  const nodeTls = await import("node:tls");
  const check = nodeTls.checkServerIdentity as unknown as CheckServerIdentity;
  if (options.tls) bunTlsOptions(options.tls); // bad TLS options: TypeError before connecting
  const transport = new BunTransport({ hostname, port }, check);
  const handlers = transport.handlers();

  let aborted: SmtpError | null = null;
  let abortNow: (e: SmtpError) => void = () => {};
  const abortable = new Promise<never>((_, reject) => (abortNow = reject));
  abortable.catch(() => {});
  const removeAbort = onAbort(signal, () => {
    aborted = abortError(signal!, hostname, port);
    transport.cancelHandshake(aborted);
    abortNow(aborted);
  });
  try {
    // Implicit TLS too is a plain connection upgraded at once (see the module
    // doc: close() needs the TCP half that only upgradeTLS() returns).
    const opening = Bun.connect({ hostname, port, socket: { ...handlers, connectError: () => {} } });
    opening.then(
      (socket) => {
        if (aborted) socket.terminate();
      },
      () => {},
    );
    let socket: BunSocket;
    try {
      socket = await Promise.race([opening, abortable]);
    } catch (e) {
      throw e instanceof SmtpError ? e : connectionError(e, hostname, port);
    }
    transport.attach(socket);
    if (options.tls) {
      const handshake = transport.upgrade(options.tls, false);
      handshake.catch(() => {});
      try {
        await Promise.race([handshake, abortable]);
      } catch (e) {
        transport.close();
        throw e instanceof SmtpError ? e : mapTlsFailure(e, options.tls.servername, false);
      }
    }
    return transport;
  } finally {
    removeAbort();
  }
}

/** A {@link Connector} on Bun's native sockets. */
export const bunConnector: Connector = { name: "bun", connect };

/**
 * The Bun runtime adapter.
 *
 * @returns The connector and host services.
 */
export async function bunRuntime(): Promise<Runtime> {
  return { name: "bun", connector: bunConnector, host: await nodeHost() };
}
