/**
 * {@link Host} on `node:fs`, `node:os`, `node:child_process` and
 * `node:process`. Node uses it natively; the Bun and Deno adapters use it
 * too, through their Node compatibility (both implement these modules, and
 * their own file and process APIs would add nothing here).
 *
 * The modules are loaded with `await import()` when the host is made, so
 * the bundled library still loads where `node:*` does not exist.
 *
 * @module
 */
import type { FileInfo, Host, RunResult } from "./types.ts";
import { TimeoutError } from "../errors.ts";
import { asBytes } from "./shared.ts";
import { concatBytes } from "../protocol/bytes.ts";

/** How long a timed-out process gets between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 2000;

function isMissing(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/**
 * Whether a runtime's permission system refused the call (Deno's
 * `NotCapable`, when this host runs on Deno): never swallowed as "no home
 * directory" or "no terminal", so the Deno adapter can report it.
 */
function isRefusedByRuntime(e: unknown): boolean {
  return (e as { name?: unknown } | null)?.name === "NotCapable";
}

async function* chunksOf(data: Uint8Array | AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  if (data instanceof Uint8Array) yield data;
  else yield* data;
}

/**
 * Makes the Node-API based host.
 *
 * @returns The host services.
 */
export async function nodeHost(): Promise<Host> {
  const [fs, os, cp, proc] = await Promise.all([
    import("node:fs/promises"),
    import("node:os"),
    import("node:child_process"),
    import("node:process"),
  ]);
  const process = proc.default;

  const writeAll = async (fh: import("node:fs/promises").FileHandle, data: Uint8Array | AsyncIterable<Uint8Array>) => {
    for await (const chunk of chunksOf(data)) {
      let off = 0;
      while (off < chunk.byteLength) {
        const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
        off += bytesWritten;
      }
    }
  };

  const host: Host = {
    env: (name) => process.env[name],
    homeDir: () => {
      try {
        return os.homedir() || undefined;
      } catch (e) {
        if (isRefusedByRuntime(e)) throw e;
        return undefined;
      }
    },
    hostname: () => os.hostname(),
    pid: () => process.pid,

    async readFile(path) {
      return asBytes(await fs.readFile(path));
    },

    async *readStream(path) {
      const fh = await fs.open(path, "r");
      try {
        for (;;) {
          const buf = new Uint8Array(64 * 1024);
          const { bytesRead } = await fh.read(buf, 0, buf.byteLength, null);
          if (bytesRead === 0) return;
          yield buf.subarray(0, bytesRead);
        }
      } finally {
        await fh.close();
      }
    },

    async stat(path): Promise<FileInfo | null> {
      try {
        const st = await fs.stat(path);
        return {
          isFile: st.isFile(),
          isDirectory: st.isDirectory(),
          mode: process.platform === "win32" ? null : st.mode & 0o7777,
          size: st.size,
          mtimeMs: st.mtimeMs,
        };
      } catch (e) {
        if (isMissing(e)) return null;
        throw e;
      }
    },

    async writeFile(path, data, options = {}) {
      const fh = await fs.open(path, options.exclusive ? "wx" : "w", options.mode ?? 0o666);
      try {
        await writeAll(fh, data);
        if (options.sync) await fh.sync();
      } finally {
        await fh.close();
      }
    },

    async appendFile(path, data, options = {}) {
      const fh = await fs.open(path, "a", options.mode ?? 0o600);
      try {
        await writeAll(fh, data);
      } finally {
        await fh.close();
      }
    },

    rename: (from, to) => fs.rename(from, to),

    async remove(path, options = {}) {
      try {
        await fs.unlink(path);
      } catch (e) {
        if (options.force && isMissing(e)) return;
        throw e;
      }
    },

    async mkdir(path, options = {}) {
      await fs.mkdir(path, { mode: options.mode ?? 0o777, recursive: options.recursive ?? false });
    },

    readDir: (path) => fs.readdir(path),

    async syncDir(path) {
      if (process.platform === "win32") return; // directories cannot be opened for fsync there
      const fh = await fs.open(path, "r");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    },

    run(argv, options = {}) {
      return new Promise<RunResult>((resolve, reject) => {
        const [command, ...args] = argv;
        if (!command) {
          reject(new TypeError("run() needs a command"));
          return;
        }
        const child = cp.spawn(command, args, {
          shell: false,
          stdio: [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
          env: options.env ? { ...process.env, ...options.env } : process.env,
          windowsHide: true,
        });
        const out: Uint8Array[] = [];
        const err: Uint8Array[] = [];
        child.stdout!.on("data", (c: Uint8Array) => out.push(asBytes(c)));
        child.stderr!.on("data", (c: Uint8Array) => err.push(asBytes(c)));
        let settled = false;
        let timedOut = false;
        let killTimer: ReturnType<typeof setTimeout> | undefined;
        const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
          timedOut = true;
          child.kill("SIGTERM");
          killTimer = setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS);
        }, options.timeoutMs);
        const done = (e: unknown, result?: RunResult) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          clearTimeout(killTimer);
          if (e) reject(e);
          else resolve(result!);
        };
        child.once("error", (e) => done(e));
        child.once("close", (code, signal) => {
          if (timedOut) {
            done(new TimeoutError(`Command "${command}" did not finish within ${options.timeoutMs} ms`, options.timeoutMs!));
            return;
          }
          done(undefined, {
            status: signal ? null : code,
            stdout: concatBytes(out),
            stderr: concatBytes(err),
          });
        });
        if (options.stdin !== undefined) {
          const stdin = child.stdin!;
          stdin.on("error", () => {}); // EPIPE when the child does not read its input: its status tells
          const feed = async () => {
            for await (const chunk of chunksOf(options.stdin!)) {
              if (stdin.destroyed) return;
              if (!stdin.write(chunk)) {
                await new Promise<void>((r) => {
                  const go = () => {
                    stdin.off("drain", go);
                    stdin.off("close", go);
                    r();
                  };
                  stdin.on("drain", go);
                  stdin.on("close", go);
                });
              }
            }
            stdin.end();
          };
          feed().catch((e) => {
            stdin.destroy();
            child.kill("SIGTERM");
            done(e);
          });
        }
      });
    },

    async *stdin() {
      for await (const chunk of process.stdin) {
        yield typeof chunk === "string" ? new TextEncoder().encode(chunk) : asBytes(chunk as Uint8Array);
      }
    },

    writeStderr: (text) => void process.stderr.write(text),
    writeStdout: (text) => void process.stdout.write(text),
    isTerminal: (stream) => process[stream].isTTY === true,

    /**
     * Prompts on the controlling terminal (`/dev/tty`), never on stdin: in
     * sendmail mode stdin carries the message. Resolves `null` when there is
     * no terminal.
     */
    async prompt(question, options = {}) {
      const echo = options.echo ?? true;
      let fd: number;
      let input: import("node:tty").ReadStream;
      let output: import("node:tty").WriteStream;
      try {
        const [{ openSync }, tty] = await Promise.all([import("node:fs"), import("node:tty")]);
        fd = openSync("/dev/tty", "r+");
        input = new tty.ReadStream(fd);
        output = new tty.WriteStream(fd);
      } catch (e) {
        if (isRefusedByRuntime(e)) throw e;
        return null;
      }
      // Raw mode before the question: keys typed as soon as it shows must not be echoed.
      input.setRawMode(true);
      output.write(question);
      return await new Promise<string | null>((resolve) => {
        const decoder = new TextDecoder();
        let line = "";
        const finish = (value: string | null, interrupted = false) => {
          input.off("data", onData);
          input.setRawMode(false);
          output.write("\r\n", () => {
            input.destroy();
            output.destroy();
            resolve(value);
            if (interrupted) process.kill(process.pid, "SIGINT");
          });
        };
        const onData = (chunk: Uint8Array) => {
          for (const ch of decoder.decode(chunk, { stream: true })) {
            if (ch === "\r" || ch === "\n") return finish(line);
            if (ch === "\u0003") return finish(null, true); // Ctrl-C
            if (ch === "\u0004") {
              if (line === "") return finish(null); // Ctrl-D on an empty line
              continue;
            }
            if (ch === "\u007f" || ch === "\b") {
              if (line) {
                line = [...line].slice(0, -1).join("");
                if (echo) output.write("\b \b");
              }
              continue;
            }
            if (ch === "\u0015") { // Ctrl-U
              if (echo) output.write("\b \b".repeat([...line].length));
              line = "";
              continue;
            }
            if (ch < " ") continue;
            line += ch;
            if (echo) output.write(ch);
          }
        };
        input.on("data", onData);
      });
    },
  };
  return host;
}

