/**
 * The runtime boundary's interfaces: {@link Transport} (one TCP/TLS
 * connection), {@link Connector} (opens them) and {@link Host} (files,
 * environment, processes, terminal), beside the adapters that implement them
 * (`deno.ts`, `bun.ts`, `node.ts`). Types only: importing this file loads no
 * runtime code. `deps.ts` re-exports them with the runtime picker.
 *
 * @module
 */

/** A local or remote socket address. */
export interface NetAddress {
  /** IP address (IPv6 without brackets). */
  readonly address: string;
  /** Port number. */
  readonly port: number;
}

/** TLS settings for implicit TLS or a STARTTLS upgrade. */
export interface TlsOptions {
  /**
   * The server name: sent as SNI and the name the certificate must match.
   * Adapters must always pass it explicitly (runtimes default to other names).
   */
  readonly servername: string;
  /**
   * Trusted CA certificates (PEM). On Node and Bun they replace the system
   * store (pinning); Deno's TLS API can only add them to its root store.
   */
  readonly ca?: readonly string[];
  /** Client certificate chain (PEM). */
  readonly cert?: string;
  /** Client private key (PEM). */
  readonly key?: string;
  /** Passphrase for an encrypted client key. */
  readonly passphrase?: string;
  /**
   * Verify the certificate chain and host name. Defaults to `true`;
   * `false` only when the caller explicitly asks for it.
   */
  readonly verify?: boolean;
}

/** What an adapter reports about an established TLS session. */
export interface TlsInfo {
  /** Protocol version, e.g. `"TLSv1.3"`, when the runtime tells. */
  readonly protocol?: string;
  /** Cipher suite name, when the runtime tells. */
  readonly cipher?: string;
  /** Peer certificate summary, when the runtime tells. */
  readonly peerCertificate?: {
    readonly subject?: string;
    readonly issuer?: string;
    readonly validTo?: string;
    readonly fingerprint256?: string;
  };
}

/** Where and how to connect. */
export interface ConnectOptions {
  /** Host name or IP address to connect to. */
  readonly hostname: string;
  /** TCP port. */
  readonly port: number;
  /** When set, the connection is TLS from the first byte (implicit TLS, RFC 8314). */
  readonly tls?: TlsOptions;
  /** Aborts the connection attempt (used for the connect deadline). */
  readonly signal?: AbortSignal;
}

/**
 * One bidirectional byte stream to an SMTP server.
 *
 * Contract:
 * - `read()` resolves the next chunk of bytes in order, or `null` at end of
 *   stream; after `close()` it resolves `null`. Only one `read()` is pending
 *   at a time.
 * - `write()` resolves once the bytes are handed to the runtime; adapters turn
 *   Nagle off so a command and its data are not held back by delayed ACKs.
 * - `startTls()` upgrades in place. It rejects with a `ProtocolError` if bytes
 *   were received but not yet read (a server that sends data before the
 *   handshake, CVE-2011-0411 style injection), and with a `TlsError` when the
 *   handshake or verification fails.
 */
export interface Transport {
  /** Reads the next chunk; `null` at end of stream. */
  read(): Promise<Uint8Array | null>;
  /** Writes all of `data`. */
  write(data: Uint8Array): Promise<void>;
  /** Upgrades the connection to TLS (STARTTLS). */
  startTls(options: TlsOptions): Promise<TlsInfo>;
  /**
   * Closes the connection at once; pending reads resolve `null`. Idempotent. Over TLS it sends
   * close_notify and then the TCP FIN without waiting for the peer's close_notify (GnuTLS servers
   * such as Exim never send one); the peer must see the connection end on every runtime.
   */
  close(): void;
  /** The TLS session, or `null` while the connection is plain. */
  readonly tls: TlsInfo | null;
  /** Our end of the connection. */
  readonly localAddress: NetAddress | null;
  /** The server's end of the connection. */
  readonly remoteAddress: NetAddress | null;
}

/** Opens {@link Transport}s. */
export interface Connector {
  /** A short name such as `"node"`, `"bun"`, `"deno"` or a custom one. */
  readonly name: string;
  /** Opens a connection (TLS from the start when `options.tls` is set). */
  connect(options: ConnectOptions): Promise<Transport>;
}

/** File metadata the config and queue code needs. */
export interface FileInfo {
  /** A regular file. */
  readonly isFile: boolean;
  /** A directory. */
  readonly isDirectory: boolean;
  /** Permission bits (e.g. `0o600`), or `null` where the platform has none. */
  readonly mode: number | null;
  /** Size in octets. */
  readonly size: number;
  /** Modification time, milliseconds since the epoch. */
  readonly mtimeMs: number;
}

/** Result of running a command. */
export interface RunResult {
  /** Exit status; `null` when killed by a signal. */
  readonly status: number | null;
  /** Everything the command wrote to standard output. */
  readonly stdout: Uint8Array;
  /** Everything the command wrote to standard error. */
  readonly stderr: Uint8Array;
}

/**
 * Operating-system services: files, environment, processes and the terminal.
 * Paths are plain strings; no shell is ever involved in {@link Host.run}.
 * Failing file operations reject with the runtime's error; adapters set
 * `code` on it to the POSIX name (`"ENOENT"`, `"EEXIST"`, `"ENOSPC"`, …).
 */
export interface Host {
  /** An environment variable, or `undefined`. */
  env(name: string): string | undefined;
  /** The user's home directory. */
  homeDir(): string | undefined;
  /** This machine's host name. */
  hostname(): string;
  /** This process's id. */
  pid(): number;
  /** Reads a whole file. */
  readFile(path: string): Promise<Uint8Array>;
  /** Streams a file in chunks without reading it whole. */
  readStream(path: string): AsyncIterable<Uint8Array>;
  /** Metadata, or `null` when the path does not exist. */
  stat(path: string): Promise<FileInfo | null>;
  /**
   * Writes a file. `exclusive` fails with `EEXIST` if it exists; `mode`
   * applies on creation; `sync` fsyncs the file before resolving.
   */
  writeFile(
    path: string,
    data: Uint8Array | AsyncIterable<Uint8Array>,
    options?: { mode?: number; exclusive?: boolean; sync?: boolean },
  ): Promise<void>;
  /** Appends to a file, creating it with `mode` (default 0o600). */
  appendFile(path: string, data: Uint8Array, options?: { mode?: number }): Promise<void>;
  /** Atomic rename within one file system. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file (not an error if it is already gone when `force`). */
  remove(path: string, options?: { force?: boolean }): Promise<void>;
  /** Creates a directory (and parents with `recursive`), with `mode` on creation. */
  mkdir(path: string, options?: { mode?: number; recursive?: boolean }): Promise<void>;
  /** Names (not paths) of a directory's entries. */
  readDir(path: string): Promise<string[]>;
  /** fsyncs a directory so renames and creations in it are durable. */
  syncDir(path: string): Promise<void>;
  /**
   * Runs `argv[0]` with arguments `argv.slice(1)` (no shell), feeding
   * `stdin` when given, and collects its output.
   */
  run(
    argv: readonly string[],
    options?: { stdin?: Uint8Array | AsyncIterable<Uint8Array>; timeoutMs?: number; env?: Record<string, string> },
  ): Promise<RunResult>;
  /** Standard input as a stream of chunks. */
  stdin(): AsyncIterable<Uint8Array>;
  /** Writes to standard error without a newline being added. */
  writeStderr(text: string): void;
  /** Writes to standard output without a newline being added. */
  writeStdout(text: string): void;
  /** Whether the stream is attached to a terminal. */
  isTerminal(stream: "stdin" | "stdout" | "stderr"): boolean;
  /**
   * Asks a question on the controlling terminal (not stdin, which may carry
   * the message) and reads one line. With `echo: false`
   * the typed characters are not shown (passwords). Resolves `null` when no
   * terminal is attached or input ends.
   */
  prompt(question: string, options?: { echo?: boolean }): Promise<string | null>;
}

/** What a runtime adapter provides. */
export interface Runtime {
  /** Which runtime the adapter is for. */
  readonly name: "deno" | "bun" | "node";
  /** Opens connections. */
  readonly connector: Connector;
  /** Files, environment, processes, terminal. */
  readonly host: Host;
}
