/**
 * Host services for the queue tests and the crash worker: the runtime's own
 * adapter (deps.ts `runtime()`), or — while the adapters are not there yet —
 * a minimal node:fs implementation of the file part of the Host interface
 * (node:fs works on Node, Bun and Deno alike). Plus a fault-injecting wrapper.
 */
import type { Connector, FileInfo, Host, Transport } from "../../deps.ts";
import * as fs from "node:fs/promises";
import * as net from "node:net";
import { createReadStream } from "node:fs";
import * as os from "node:os";
import process from "node:process";

/** node:fs implementation of what the queue needs from Host. */
export function nodeFsHost(): Host {
  const unsupported = (name: string) => () => {
    throw new Error(`queue_host: ${name} is not implemented`);
  };
  return {
    env: (name) => process.env[name],
    homeDir: () => os.homedir(),
    hostname: () => os.hostname(),
    pid: () => process.pid,
    readFile: async (path) => new Uint8Array(await fs.readFile(path)),
    readStream: (path) => ({
      async *[Symbol.asyncIterator]() {
        for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 })) {
          yield new Uint8Array(chunk as Buffer);
        }
      },
    }),
    stat: async (path): Promise<FileInfo | null> => {
      try {
        const st = await fs.stat(path);
        return { isFile: st.isFile(), isDirectory: st.isDirectory(), mode: st.mode & 0o7777, size: st.size, mtimeMs: st.mtimeMs };
      } catch (e) {
        if ((e as { code?: string }).code === "ENOENT") return null;
        throw e;
      }
    },
    writeFile: async (path, data, options = {}) => {
      const fh = await fs.open(path, options.exclusive ? "wx" : "w", options.mode ?? 0o666);
      try {
        if (data instanceof Uint8Array) {
          await fh.write(data);
        } else {
          for await (const chunk of data) await fh.write(chunk);
        }
        if (options.sync) await fh.sync();
      } finally {
        await fh.close();
      }
    },
    appendFile: async (path, data, options = {}) => {
      await fs.appendFile(path, data, { mode: options.mode ?? 0o600 });
    },
    rename: (from, to) => fs.rename(from, to),
    remove: (path, options = {}) => fs.rm(path, { force: options.force ?? false }),
    mkdir: async (path, options = {}) => {
      await fs.mkdir(path, { mode: options.mode, recursive: options.recursive ?? false });
    },
    readDir: (path) => fs.readdir(path),
    syncDir: async (path) => {
      const fh = await fs.open(path, "r");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    },
    run: unsupported("run"),
    stdin: unsupported("stdin"),
    writeStderr: (text) => void process.stderr.write(text),
    writeStdout: (text) => void process.stdout.write(text),
    isTerminal: () => false,
    prompt: () => Promise.resolve(null),
  };
}

let chosen: Promise<{ host: Host; name: string }> | undefined;

/** The runtime adapter's Host when it loads, else {@link nodeFsHost}. */
export function testHost(): Promise<{ host: Host; name: string }> {
  chosen ??= (async () => {
    try {
      const { runtime } = await import("../../deps.ts");
      const rt = await runtime();
      return { host: rt.host, name: `${rt.name} adapter` };
    } catch {
      return { host: nodeFsHost(), name: "node:fs fallback (runtime adapter not available)" };
    }
  })();
  return chosen;
}

/** A plain-TCP node:net Connector (no TLS): enough for the loopback counting server. */
export function nodeNetConnector(): Connector {
  return {
    name: "node-net-test",
    connect: (options) =>
      new Promise<Transport>((resolve, reject) => {
        const socket = net.connect({ host: options.hostname, port: options.port });
        socket.setNoDelay(true);
        const inbox: Uint8Array[] = [];
        let waiting: ((v: Uint8Array | null) => void) | null = null;
        let ended = false;
        const wake = () => {
          if (!waiting) return;
          const w = waiting;
          if (inbox.length) {
            waiting = null;
            w(inbox.shift()!);
          } else if (ended) {
            waiting = null;
            w(null);
          }
        };
        socket.on("data", (b: Buffer) => {
          inbox.push(new Uint8Array(b));
          wake();
        });
        socket.on("close", () => {
          ended = true;
          wake();
        });
        socket.on("error", (e) => {
          ended = true;
          reject(e);
          wake();
        });
        socket.on("connect", () =>
          resolve({
            read: () => new Promise((r) => {
              waiting = r;
              wake();
            }),
            write: (data) => new Promise((r, j) => socket.write(data, (e) => (e ? j(e) : r()))),
            startTls: () => Promise.reject(new Error("no TLS in the test connector")),
            close: () => {
              ended = true;
              socket.destroy();
              wake();
            },
            tls: null,
            localAddress: { address: socket.localAddress ?? "127.0.0.1", port: socket.localPort ?? 0 },
            remoteAddress: { address: socket.remoteAddress ?? "127.0.0.1", port: socket.remotePort ?? 0 },
          })
        );
      }),
  };
}

let chosenConnector: Promise<Connector> | undefined;

/** The runtime adapter's Connector when it loads, else {@link nodeNetConnector}. */
export function testConnector(): Promise<Connector> {
  chosenConnector ??= (async () => {
    try {
      const { runtime } = await import("../../deps.ts");
      return (await runtime()).connector;
    } catch {
      return nodeNetConnector();
    }
  })();
  return chosenConnector;
}

/** Which Host method call to fail, and how. */
export interface Fault {
  /** Method name, e.g. "writeFile", "rename", "syncDir". */
  readonly op: keyof Host;
  /** Only calls whose first argument matches. */
  readonly path?: RegExp;
  /** The error code to throw (default "ENOSPC"). */
  readonly code?: string;
  /** Skip this many matching calls first. */
  readonly after?: number;
  /** For writeFile: create the file with a few bytes first, as a real half-done write would. */
  readonly partial?: boolean;
}

/** Every method of the Host interface (adapters may keep them on a prototype, so Object.keys will not do). */
export const HOST_METHODS: readonly (keyof Host)[] = [
  "env", "homeDir", "hostname", "pid", "readFile", "readStream", "stat", "writeFile", "appendFile", "rename", "remove",
  "mkdir", "readDir", "syncDir", "run", "stdin", "writeStderr", "writeStdout", "isTerminal", "prompt",
];

/** A Host that throws `code` errors on the matching calls; `calls` records every file operation. */
export function faultyHost(base: Host, faults: Fault[]): Host & { calls: string[] } {
  const seen = new Map<Fault, number>();
  const calls: string[] = [];
  const wrapped: Record<string, unknown> = { calls };
  for (const key of HOST_METHODS) {
    const fn = base[key] as unknown as (...a: unknown[]) => unknown;
    if (typeof fn !== "function") continue;
    wrapped[key] = (...args: unknown[]) => {
      if (typeof args[0] === "string") calls.push(`${key} ${args[0]}`);
      for (const f of faults) {
        if (f.op !== key || (f.path && !f.path.test(String(args[0])))) continue;
        const n = seen.get(f) ?? 0;
        seen.set(f, n + 1);
        if (n < (f.after ?? 0)) continue;
        const code = f.code ?? "ENOSPC";
        const err = Object.assign(new Error(`${code}: injected failure, ${key} '${String(args[0])}'`), { code });
        if (key === "readStream") throw err;
        if (f.partial && key === "writeFile") {
          const opts = args[2] as Parameters<Host["writeFile"]>[2];
          return base.writeFile(String(args[0]), new Uint8Array([70, 114, 111]), { ...opts, sync: false })
            .then(() => Promise.reject(err));
        }
        return Promise.reject(err);
      }
      return fn.apply(base, args);
    };
  }
  return wrapped as unknown as Host & { calls: string[] };
}
