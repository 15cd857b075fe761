/**
 * The Node adapter: `node:net` and `node:tls` sockets, and the `node:*`
 * based {@link Host}. Also usable on Bun and Deno through their Node
 * compatibility (pass `nodeRuntime()` explicitly).
 *
 * `node:*` modules are only ever loaded with `await import()`, so the bundled
 * module still loads where they do not exist.
 *
 * @module
 */
import type { Socket } from "node:net";
import type { ConnectionOptions, TLSSocket } from "node:tls";
import type { ConnectOptions, Connector, NetAddress, Runtime, TlsInfo, TlsOptions, Transport } from "./types.ts";
import { SmtpError } from "../errors.ts";
import { nodeHost } from "./node_host.ts";
import {
  abortError,
  asBytes,
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
  tlsInfo,
} from "./shared.ts";

type NetModule = typeof import("node:net");
type TlsModule = typeof import("node:tls");

/** How long close() lets a TLS peer answer our close_notify + FIN before destroying the socket. */
const CLOSE_GRACE_MS = 2000;

/** Maps an error raised while a TLS handshake was running. */
function mapHandshakeError(e: unknown, servername: string, starttls: boolean): SmtpError {
  if (e instanceof SmtpError) return e;
  const code = errorCode(e);
  const message = e instanceof Error ? e.message : String(e);
  if (isVerifyCode(code)) return certificateError(servername, message, e);
  if (code === "ECONNRESET" || code === "EPIPE" || code === "ETIMEDOUT" || /socket disconnected/i.test(message)) {
    return handshakeError(servername, "the connection was closed by the server", e, true);
  }
  if (starttls && /wrong version number|packet length too long|http request/i.test(message)) {
    // Plain text where the first TLS record should be: the server sent data
    // after its STARTTLS reply that reached us only once the handshake began.
    return injectionError(null, e);
  }
  return handshakeError(servername, message, e);
}

/** The `node:tls` options for one handshake; `servername` is always explicit. */
export function nodeTlsOptions(tls: TlsModule, options: TlsOptions): ConnectionOptions {
  const { servername } = options;
  if (typeof servername !== "string" || servername === "") {
    throw new TypeError("TLS options need a non-empty servername");
  }
  const verify = options.verify !== false;
  const o: ConnectionOptions = {
    // RFC 6066: no SNI for an IP address ("" turns Node's default off); the
    // certificate is still checked against the address by checkServerIdentity.
    servername: isIpAddress(servername) ? "" : servername,
    // Node checks against `host` (default "localhost" when wrapping a socket):
    // always check against the configured server name instead.
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(servername, cert),
    rejectUnauthorized: verify,
    minVersion: "TLSv1.2",
  };
  if (options.ca) o.ca = [...options.ca];
  if (options.cert !== undefined) o.cert = options.cert;
  if (options.key !== undefined) o.key = options.key;
  if (options.passphrase !== undefined) o.passphrase = options.passphrase;
  return o;
}

function infoOf(sock: TLSSocket): TlsInfo {
  const cipher = sock.getCipher() as { name?: string } | null;
  const cert = sock.getPeerCertificate() as unknown as Parameters<typeof tlsInfo>[2];
  return tlsInfo(sock.getProtocol(), cipher?.name, cert);
}

function addressOf(address: string | undefined, port: number | undefined): NetAddress | null {
  return address && port !== undefined ? { address, port } : null;
}

/** Waits for a TLS socket's handshake; rejects with a mapped error. */
function handshake(sock: TLSSocket, servername: string, starttls: boolean, onSettle: (cancel: (e: unknown) => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (e?: unknown) => {
      if (settled) return;
      settled = true;
      sock.off("secureConnect", onSecure);
      sock.off("error", onError);
      sock.off("close", onClose);
      if (e === undefined) resolve();
      else {
        sock.on("error", () => {}); // late errors of a socket we gave up on
        sock.destroy();
        reject(mapHandshakeError(e, servername, starttls));
      }
    };
    const onSecure = () => finish();
    const onError = (e: Error) => finish(e);
    const onClose = () => finish(handshakeError(servername, "the connection was closed by the server", undefined, true));
    sock.once("secureConnect", onSecure);
    sock.once("error", onError);
    sock.once("close", onClose);
    onSettle((e) => finish(e));
  });
}

class NodeTransport implements Transport {
  #sock: Socket;
  #queue = new ChunkQueue();
  #closed = false;
  #tls: TlsInfo | null;
  #upgrading: Promise<void> | null = null;
  #cancelUpgrade: ((e: unknown) => void) | null = null;
  #drainWaiters = new Set<{ resolve(): void; reject(e: unknown): void }>();
  #detach: () => void = () => {};
  readonly localAddress: NetAddress | null;
  readonly remoteAddress: NetAddress | null;
  readonly #where: { hostname: string; port: number };

  constructor(sock: Socket, tls: TlsInfo | null, where: { hostname: string; port: number }) {
    this.#sock = sock;
    this.#tls = tls;
    this.#where = where;
    this.localAddress = addressOf(sock.localAddress, sock.localPort);
    this.remoteAddress = addressOf(sock.remoteAddress, sock.remotePort);
    this.#queue.onLow = () => this.#sock.resume();
    this.#attach(sock);
  }

  get tls(): TlsInfo | null {
    return this.#tls;
  }

  #attach(sock: Socket): void {
    const onData = (chunk: Uint8Array) => {
      this.#queue.push(asBytes(chunk));
      if (this.#queue.buffered >= HIGH_WATER) sock.pause();
    };
    const onEnd = () => this.#queue.end();
    const onError = (e: Error) => {
      this.#queue.end(connectionError(e, this.#where.hostname, this.#where.port, "Connection to"));
      this.#failWriters(e);
    };
    const onClose = () => {
      this.#queue.end();
      this.#failWriters(undefined);
    };
    const onDrain = () => {
      const waiters = [...this.#drainWaiters];
      this.#drainWaiters.clear();
      for (const w of waiters) w.resolve();
    };
    sock.on("data", onData);
    sock.on("end", onEnd);
    sock.on("error", onError);
    sock.on("close", onClose);
    sock.on("drain", onDrain);
    this.#detach = () => {
      sock.off("data", onData);
      sock.off("end", onEnd);
      sock.off("error", onError);
      sock.off("close", onClose);
      sock.off("drain", onDrain);
    };
  }

  #failWriters(e: unknown): void {
    const waiters = [...this.#drainWaiters];
    this.#drainWaiters.clear();
    const err = e === undefined
      ? closedError("while writing")
      : connectionError(e, this.#where.hostname, this.#where.port, "Connection to");
    for (const w of waiters) w.reject(err);
  }

  read(): Promise<Uint8Array | null> {
    if (this.#closed) return Promise.resolve(null);
    return this.#queue.read();
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.#upgrading) await this.#upgrading;
    if (this.#closed || this.#sock.destroyed || this.#sock.writableEnded) throw closedError("before writing");
    if (data.byteLength === 0) return;
    if (this.#sock.write(data)) {
      // Let the event loop poll the socket before the caller's next write: a reply the server
      // sent before resetting the connection (Exim's 552 to a chunk it will not read) is then
      // read, not lost when a later write fails with ECONNRESET and Node destroys the socket.
      // Node's global (no static node:timers import: dist/mod.js must load where node:* does not exist).
      await new Promise<void>((resolve) => setImmediate(resolve));
      return;
    }
    await new Promise<void>((resolve, reject) => this.#drainWaiters.add({ resolve, reject }));
  }

  startTls(options: TlsOptions): Promise<TlsInfo> {
    try {
      this.#checkUpgrade();
    } catch (e) {
      return Promise.reject(e);
    }
    // Writes issued from now on wait for the handshake (set before any await).
    let release = () => {};
    this.#upgrading = new Promise<void>((r) => (release = r));
    return this.#upgrade(options).finally(() => {
      this.#upgrading = null;
      this.#cancelUpgrade = null;
      release();
    });
  }

  #checkUpgrade(): void {
    if (this.#tls || this.#upgrading) throw new TypeError("The connection already uses TLS");
    if (this.#queue.waiting) throw new TypeError("startTls() was called while a read() is pending");
    if (this.#closed) throw closedError("before the TLS handshake");
    if (this.#queue.buffered > 0) {
      const n = this.#queue.buffered;
      this.close();
      throw injectionError(n);
    }
    if (this.#queue.done) throw closedError("by the server before the TLS handshake");
  }

  async #upgrade(options: TlsOptions): Promise<TlsInfo> {
    const tls = await import("node:tls");
    const tlsOptions = nodeTlsOptions(tls, options);
    // Re-check: bytes may have arrived while node:tls was loading.
    if (this.#closed) throw closedError("before the TLS handshake");
    if (this.#queue.buffered > 0) {
      const n = this.#queue.buffered;
      this.close();
      throw injectionError(n);
    }
    const raw = this.#sock;
    this.#detach();
    const sock = tls.connect({ ...tlsOptions, socket: raw });
    sock.setNoDelay?.(true);
    this.#sock = sock;
    this.#queue.onLow = () => sock.resume();
    try {
      await handshake(sock, options.servername, true, (cancel) => (this.#cancelUpgrade = cancel));
    } catch (e) {
      this.#closed = true;
      this.#queue.end();
      raw.destroy();
      throw e;
    }
    this.#attach(sock);
    this.#tls = infoOf(sock);
    return this.#tls;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.clear();
    this.#cancelUpgrade?.(closedError("during the TLS handshake"));
    this.#failWriters(undefined);
    const sock = this.#sock;
    sock.on("error", () => {}); // nobody reads this socket's errors any more
    if (!this.#tls || sock.destroyed || sock.writableLength > 0) {
      // Plain TCP (destroy() sends the FIN), or unsent bytes that must not go out after close().
      sock.destroy();
      return;
    }
    // TLS: end() sends close_notify and then the FIN (RFC 8446 §6.1: a party MUST send close_notify
    // before closing its write side; GnuTLS servers such as Exim log "The TLS connection was
    // non-properly terminated" otherwise). The socket is destroyed when the peer closes, or after
    // a grace period; it does not keep the process alive meanwhile.
    sock.end();
    sock.unref();
    const timer = setTimeout(() => sock.destroy(), CLOSE_GRACE_MS);
    timer.unref();
    sock.once("close", () => clearTimeout(timer));
  }
}

async function connect(options: ConnectOptions): Promise<Transport> {
  const { hostname, port, signal } = options;
  if (signal?.aborted) throw abortError(signal, hostname, port);
  const net: NetModule = await import("node:net");
  const tls: TlsModule | null = options.tls ? await import("node:tls") : null;
  const tlsOptions = tls && options.tls ? nodeTlsOptions(tls, options.tls) : null;
  if (signal?.aborted) throw abortError(signal, hostname, port);
  const where = { hostname, port };

  return await new Promise<Transport>((resolve, reject) => {
    const sock: Socket = tls && tlsOptions
      ? tls.connect({ ...tlsOptions, host: hostname, port })
      : net.connect({ host: hostname, port, noDelay: true });
    sock.setNoDelay(true);
    let tcpUp = false;
    let settled = false;
    const finish = (e?: unknown) => {
      if (settled) return;
      settled = true;
      removeAbort();
      sock.off("connect", onConnect);
      sock.off("secureConnect", onReady);
      sock.off("error", onError);
      sock.off("close", onClose);
      if (e === undefined) {
        const info = tls ? infoOf(sock as TLSSocket) : null;
        resolve(new NodeTransport(sock, info, where));
      } else {
        sock.on("error", () => {}); // late errors of a socket we gave up on
        sock.destroy();
        reject(e);
      }
    };
    const onConnect = () => {
      tcpUp = true;
      if (!tls) finish();
    };
    const onReady = () => finish();
    const onError = (e: Error) => {
      finish(tcpUp && options.tls ? mapHandshakeError(e, options.tls.servername, false) : connectionError(e, hostname, port));
    };
    const onClose = () => {
      finish(
        tcpUp && options.tls
          ? handshakeError(options.tls.servername, "the connection was closed by the server", undefined, true)
          : connectionError(new Error("connection closed"), hostname, port),
      );
    };
    const removeAbort = onAbort(signal, () => finish(abortError(signal!, hostname, port)));
    sock.once("connect", onConnect);
    if (tls) sock.once("secureConnect", onReady);
    sock.once("error", onError);
    sock.once("close", onClose);
  });
}

/** A {@link Connector} on `node:net` / `node:tls`. */
export const nodeConnector: Connector = { name: "node", connect };

/**
 * The Node runtime adapter (also works on Bun and Deno through their Node
 * compatibility).
 *
 * @returns The connector and host services.
 */
export async function nodeRuntime(): Promise<Runtime> {
  return { name: "node", connector: nodeConnector, host: await nodeHost() };
}

