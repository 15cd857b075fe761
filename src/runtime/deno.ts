/**
 * The Deno adapter: native `Deno.connect`, `Deno.connectTls` and
 * `Deno.startTls` (rustls), and the `node:*` based {@link Host} (Deno
 * implements `node:fs`, `node:child_process` and friends).
 *
 * What Deno's native TLS cannot do, and what this adapter does then:
 * - `ca` is added to Deno's root store (Mozilla's roots, or whatever
 *   `DENO_TLS_CA_STORE` selects); it cannot replace it.
 * - `verify: false` turns off only the name check: Deno always verifies the
 *   certificate chain (unless Deno runs with `--unsafely-ignore-certificate-errors`).
 *   A chain failure then says so.
 * - A client certificate works with implicit TLS (`Deno.connectTls`) but not
 *   with STARTTLS (`Deno.startTls` has no such option), and the key must not
 *   be encrypted: those reject with a `TlsError` that names the limitation.
 *   The Node adapter, which also runs on Deno, has none of these limits.
 * - Protocol and cipher are not reported; the peer certificate is, through
 *   the same internal hook Deno's own `node:tls` uses, when present.
 * - `Deno.startTls` needs the connection idle, so bytes the server sent
 *   before the handshake are still in the kernel, not with us: they reach
 *   rustls as a corrupt first record and the upgrade rejects with a
 *   `ProtocolError` all the same.
 *
 * Permissions: Deno refuses an operation run without its `--allow-…` flag
 * by throwing `NotCapable` from innocent-looking calls (the home directory,
 * an environment variable, a connection). The connector and the host turn
 * every such refusal into a {@link PermissionError} naming the flag to add,
 * so it is never mistaken for a missing file or a network failure.
 *
 * @module
 */
import type { ConnectOptions, Connector, Host, NetAddress, Runtime, TlsInfo, TlsOptions, Transport } from "./types.ts";
import { PermissionError, SmtpError, TlsError } from "../errors.ts";
import { nodeHost } from "./node_host.ts";
import {
  abortError,
  certificateError,
  closedError,
  connectionError,
  handshakeError,
  injectionError,
  type PeerCertLike,
  tlsInfo,
} from "./shared.ts";

// Structural declarations of the Deno APIs used here (design note 7).
interface DenoAddr {
  readonly hostname?: string;
  readonly port?: number;
}
interface DenoConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
  readonly localAddr: DenoAddr;
  readonly remoteAddr: DenoAddr;
}
interface DenoTcpConn extends DenoConn {
  setNoDelay(noDelay?: boolean): void;
}
interface DenoTlsConn extends DenoConn {
  handshake(): Promise<{ alpnProtocol: string | null }>;
}
interface DenoTlsCommon {
  caCerts?: string[];
  unsafelyDisableHostnameVerification?: boolean;
}
declare const Deno: {
  connect(options: { hostname: string; port: number; transport?: "tcp"; signal?: AbortSignal }): Promise<DenoTcpConn>;
  connectTls(
    options: DenoTlsCommon & { hostname: string; port: number; cert?: string; key?: string; [k: symbol]: unknown },
  ): Promise<DenoTlsConn>;
  startTls(conn: DenoTcpConn, options: DenoTlsCommon & { hostname: string }): Promise<DenoTlsConn>;
};

/** What each Deno permission guards, for messages. */
const GUARDS: Readonly<Record<string, string>> = {
  env: "access to the environment",
  sys: "access to system information",
  read: "read access",
  write: "write access",
  net: "network access",
  run: "permission to run programs",
  ffi: "permission to load native libraries",
  import: "permission to import modules",
};

/**
 * The {@link PermissionError} for a refusal by Deno's permission system
 * (`NotCapable`; `PermissionDenied` with Deno's "Requires … access" text on
 * Deno 1), or `null` for any other error.
 *
 * @param e What a Deno call threw.
 * @returns The error to report, or `null`.
 */
export function denoPermissionError(e: unknown): PermissionError | null {
  if (e instanceof PermissionError) return e;
  if (!(e instanceof Error)) return null;
  const m = /Requires (\w+) access(?: to ("[^"]*"|[^,\s]+))?,.*?(--allow-[\w-]+)/.exec(e.message);
  if (e.name !== "NotCapable" && !(e.name === "PermissionDenied" && m)) return null;
  if (!m) {
    return new PermissionError(`Deno denied a permission smtpsend needs (${e.message}); run with the flag it names, or -A`, "unknown", "-A", {
      cause: e,
    });
  }
  const permission = m[1]!;
  const target = m[2];
  const flag = m[3]!;
  const guard = GUARDS[permission] ?? `${permission} access`;
  const what = target === undefined
    ? guard
    : guard.endsWith(" access") ? `${guard} to ${target}` : `${guard} (${target})`;
  return new PermissionError(`Deno denied ${what}: run with ${flag} (or -A)`, permission, flag, { cause: e });
}

function rethrow(e: unknown): never {
  throw denoPermissionError(e) ?? e;
}

/**
 * Wraps a {@link Host} so that every Deno permission refusal surfaces as a
 * {@link PermissionError}; everything else passes through unchanged.
 *
 * @param host The Node-API host running on Deno.
 * @returns The guarded host.
 */
export function guardPermissions(host: Host): Host {
  const sync = <A extends unknown[], R>(f: (...a: A) => R) => (...a: A): R => {
    try {
      return f(...a);
    } catch (e) {
      return rethrow(e);
    }
  };
  const later = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
    try {
      return await f(...a);
    } catch (e) {
      return rethrow(e);
    }
  };
  const stream = <A extends unknown[]>(f: (...a: A) => AsyncIterable<Uint8Array>) =>
    async function* (...a: A): AsyncIterable<Uint8Array> {
      try {
        yield* f(...a);
      } catch (e) {
        rethrow(e);
      }
    };
  return {
    env: sync(host.env.bind(host)),
    homeDir: sync(host.homeDir.bind(host)),
    hostname: sync(host.hostname.bind(host)),
    pid: sync(host.pid.bind(host)),
    readFile: later(host.readFile.bind(host)),
    readStream: stream(host.readStream.bind(host)),
    stat: later(host.stat.bind(host)),
    writeFile: later(host.writeFile.bind(host)),
    appendFile: later(host.appendFile.bind(host)),
    rename: later(host.rename.bind(host)),
    remove: later(host.remove.bind(host)),
    mkdir: later(host.mkdir.bind(host)),
    readDir: later(host.readDir.bind(host)),
    syncDir: later(host.syncDir.bind(host)),
    run: later(host.run.bind(host)),
    stdin: stream(host.stdin.bind(host)),
    writeStderr: sync(host.writeStderr.bind(host)),
    writeStdout: sync(host.writeStdout.bind(host)),
    isTerminal: sync(host.isTerminal.bind(host)),
    prompt: later(host.prompt.bind(host)),
  };
}

/** Deno's unstable hook for a server name other than the host connected to. */
const SERVER_NAME = Symbol.for("unstableServerName");

function tlsCommon(options: TlsOptions): DenoTlsCommon {
  if (typeof options.servername !== "string" || options.servername === "") {
    throw new TypeError("TLS options need a non-empty servername");
  }
  const o: DenoTlsCommon = {};
  if (options.ca) o.caCerts = [...options.ca];
  if (options.verify === false) o.unsafelyDisableHostnameVerification = true;
  return o;
}

function unsupported(servername: string, what: string): TlsError {
  return new TlsError(`TLS with "${servername}" is not possible: ${what}`, {
    phase: "tls",
    hint: "runtime-tls-limit",
    remedy: "use the Node adapter (nodeRuntime()) on Deno for this",
  });
}

/** Maps a Deno handshake failure. */
function mapTlsError(e: unknown, options: TlsOptions, starttls: boolean): SmtpError {
  if (e instanceof SmtpError) return e;
  const { servername } = options;
  const name = e instanceof Error ? e.name : "";
  const message = e instanceof Error ? e.message : String(e);
  if (/invalid peer certificate/i.test(message)) {
    const remedy = options.verify === false
      ? "with verify: false Deno still checks the certificate chain; pass its CA as \"ca\", run Deno with --unsafely-ignore-certificate-errors, or use the Node adapter"
      : undefined;
    return certificateError(servername, message, e, remedy);
  }
  if (starttls && /InvalidContentType|corrupt message/i.test(message)) return injectionError(null, e);
  if (name === "ConnectionReset" || name === "UnexpectedEof" || name === "BrokenPipe" || /unexpected eof|reset/i.test(message)) {
    return handshakeError(servername, "the connection was closed by the server", e, true);
  }
  return handshakeError(servername, message, e);
}

/** The peer certificate, through Deno's internal hook when it exists. */
function peerCertificate(conn: DenoTlsConn): PeerCertLike | null {
  try {
    const proto = Object.getPrototypeOf(conn) as object | null;
    if (!proto) return null;
    const sym = Object.getOwnPropertySymbols(proto).find((s) => s.description === "getPeerCertificate");
    if (!sym) return null;
    const fn = (conn as unknown as Record<symbol, unknown>)[sym];
    return typeof fn === "function" ? (fn.call(conn, false) as PeerCertLike | null) : null;
  } catch {
    return null;
  }
}

function address(a: DenoAddr): NetAddress | null {
  return a && typeof a.hostname === "string" && typeof a.port === "number" ? { address: a.hostname, port: a.port } : null;
}

class DenoTransport implements Transport {
  #conn: DenoConn;
  #tcp: DenoTcpConn | null;
  #tls: TlsInfo | null;
  #closed = false;
  #reading = false;
  #writes: Promise<void> = Promise.resolve();
  #upgrading: Promise<void> | null = null;
  #buf = new Uint8Array(64 * 1024);
  #where: { hostname: string; port: number };
  readonly localAddress: NetAddress | null;
  readonly remoteAddress: NetAddress | null;

  constructor(conn: DenoConn, tcp: DenoTcpConn | null, tls: TlsInfo | null, where: { hostname: string; port: number }) {
    this.#conn = conn;
    this.#tcp = tcp;
    this.#tls = tls;
    this.#where = where;
    this.localAddress = address(conn.localAddr);
    this.remoteAddress = address(conn.remoteAddr);
  }

  get tls(): TlsInfo | null {
    return this.#tls;
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#closed) return null;
    if (this.#reading) throw new TypeError("Only one read() may be pending at a time");
    this.#reading = true;
    try {
      if (this.#upgrading) await this.#upgrading;
      if (this.#closed) return null;
      const n = await this.#conn.read(this.#buf);
      if (n === null || this.#closed) return null;
      return this.#buf.slice(0, n);
    } catch (e) {
      if (this.#closed) return null;
      // A TLS peer that closes without close_notify: end of stream, as on
      // Node and Bun (SMTP replies carry their own framing).
      if (e instanceof Error && e.name === "UnexpectedEof") return null;
      throw connectionError(e, this.#where.hostname, this.#where.port);
    } finally {
      this.#reading = false;
    }
  }

  write(data: Uint8Array): Promise<void> {
    // Writes issued after startTls() wait for the handshake; earlier ones go
    // out in plain text first (startTls() waits for them).
    const gate = this.#upgrading;
    const run = async () => {
      if (gate) await gate;
      if (this.#closed) throw closedError("before writing");
      const conn = this.#conn;
      let off = 0;
      try {
        while (off < data.byteLength) off += await conn.write(data.subarray(off));
      } catch (e) {
        if (this.#closed) throw closedError("while writing");
        throw connectionError(e, this.#where.hostname, this.#where.port);
      }
    };
    const p = this.#writes.then(run, run);
    this.#writes = p.then(() => {}, () => {});
    return p;
  }

  async startTls(options: TlsOptions): Promise<TlsInfo> {
    if (this.#tls || this.#upgrading) throw new TypeError("The connection already uses TLS");
    if (this.#reading) throw new TypeError("startTls() was called while a read() is pending");
    if (this.#closed || !this.#tcp) throw closedError("before the TLS handshake");
    const common = tlsCommon(options);
    if (options.cert !== undefined || options.key !== undefined) {
      throw unsupported(options.servername, "Deno.startTls() cannot present a client certificate");
    }
    const before = this.#writes;
    let release = () => {};
    this.#upgrading = new Promise<void>((r) => (release = r));
    try {
      await before;
      if (this.#closed) throw closedError("before the TLS handshake");
      let conn: DenoTlsConn;
      try {
        conn = await Deno.startTls(this.#tcp, { ...common, hostname: options.servername });
        this.#conn = conn;
        this.#tcp = null;
        await conn.handshake();
      } catch (e) {
        if (this.#closed) throw closedError("during the TLS handshake");
        this.close();
        throw mapTlsError(e, options, true);
      }
      this.#tls = tlsInfo(null, null, peerCertificate(conn));
      return this.#tls;
    } finally {
      this.#upgrading = null;
      release();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }
}

async function connect(options: ConnectOptions): Promise<Transport> {
  const { hostname, port, signal, tls } = options;
  if (signal?.aborted) throw abortError(signal, hostname, port);
  const where = { hostname, port };
  const common = tls ? tlsCommon(tls) : null;
  if (tls?.passphrase !== undefined) {
    throw unsupported(tls.servername, "Deno cannot use an encrypted client key (passphrase)");
  }

  let conn: DenoConn | null = null;
  const onAbort = () => {
    try {
      conn?.close();
    } catch { /* closed */ }
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  const aborted = () => signal?.aborted === true;
  try {
    if (tls && common && (tls.cert !== undefined || tls.key !== undefined)) {
      // Only Deno.connectTls takes a client certificate; it has no signal.
      const opening = Deno.connectTls({
        ...common,
        hostname,
        port,
        cert: tls.cert,
        key: tls.key,
        ...(tls.servername === hostname ? {} : { [SERVER_NAME]: tls.servername }),
      });
      opening.then((c) => aborted() && c.close(), () => {});
      let tlsConn: DenoTlsConn;
      try {
        tlsConn = await raceAbort(opening, signal);
      } catch (e) {
        if (aborted()) throw abortError(signal!, hostname, port);
        throw denoPermissionError(e) ?? mapConnectError(e, tls, hostname, port);
      }
      conn = tlsConn;
      try {
        await tlsConn.handshake();
      } catch (e) {
        onAbort();
        if (aborted()) throw abortError(signal!, hostname, port);
        throw mapTlsError(e, tls, false);
      }
      return new DenoTransport(tlsConn, null, tlsInfo(null, null, peerCertificate(tlsConn)), where);
    }

    let tcp: DenoTcpConn;
    try {
      tcp = await Deno.connect({ hostname, port, transport: "tcp", ...(signal ? { signal } : {}) });
    } catch (e) {
      if (aborted()) throw abortError(signal!, hostname, port);
      throw denoPermissionError(e) ?? connectionError(e, hostname, port);
    }
    conn = tcp;
    if (aborted()) {
      onAbort();
      throw abortError(signal!, hostname, port);
    }
    tcp.setNoDelay(true);
    if (!tls || !common) return new DenoTransport(tcp, tcp, null, where);

    let tlsConn: DenoTlsConn;
    try {
      tlsConn = await Deno.startTls(tcp, { ...common, hostname: tls.servername });
      conn = tlsConn;
      if (aborted()) throw new Error("aborted");
      await tlsConn.handshake();
    } catch (e) {
      onAbort();
      if (aborted()) throw abortError(signal!, hostname, port);
      throw mapTlsError(e, tls, false);
    }
    return new DenoTransport(tlsConn, null, tlsInfo(null, null, peerCertificate(tlsConn)), where);
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

function mapConnectError(e: unknown, tls: TlsOptions, hostname: string, port: number): SmtpError {
  const message = e instanceof Error ? e.message : String(e);
  if (/certificate|tls|key|pem/i.test(message) && !/refused|lookup/i.test(message)) {
    return handshakeError(tls.servername, message, e);
  }
  return connectionError(e, hostname, port);
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/** A {@link Connector} on Deno's native sockets. */
export const denoConnector: Connector = { name: "deno", connect };

/**
 * The Deno runtime adapter.
 *
 * @returns The connector and host services.
 */
export async function denoRuntime(): Promise<Runtime> {
  return { name: "deno", connector: denoConnector, host: guardPermissions(await nodeHost()) };
}
