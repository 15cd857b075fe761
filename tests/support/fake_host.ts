/**
 * An in-memory {@link Host} for tests: files with permission bits,
 * directories, environment, scripted processes, prompts and captured
 * output. It implements the whole Host interface of `deps.ts`, touches no real
 * file system or process, and behaves the same on Node, Bun and Deno.
 *
 * @example
 * ```ts
 * const host = new FakeHost({
 *   home: "/home/u",
 *   env: { USER: "u" },
 *   files: { "/home/u/.authinfo": { text: "machine m login u password p\n", mode: 0o600 } },
 *   run: (argv) => ({ status: 0, stdout: "secret\n" }),
 * });
 * ```
 *
 * @module
 */
import type { FileInfo, Host, RunResult } from "../../deps.ts";

/** A file given to the constructor: text (or bytes) plus its mode (default 0o600). */
export interface FakeFileSpec {
  readonly text?: string;
  readonly bytes?: Uint8Array;
  readonly mode?: number;
}

/** What a scripted command returns; strings are UTF-8 encoded. */
export interface FakeRunResult {
  readonly status?: number | null;
  readonly stdout?: string | Uint8Array;
  readonly stderr?: string | Uint8Array;
}

/** Handler for {@link Host.run}; throw to simulate a command that cannot start. */
export type FakeRunHandler = (
  argv: readonly string[],
  options: { stdin?: Uint8Array; timeoutMs?: number; env?: Record<string, string> },
) => FakeRunResult | Promise<FakeRunResult>;

/** Constructor options of {@link FakeHost}. */
export interface FakeHostOptions {
  /** Home directory (default `"/home/user"`); `null` for none. */
  readonly home?: string | null;
  /** Environment variables. */
  readonly env?: Record<string, string>;
  /** Files by absolute path (parent directories are created). */
  readonly files?: Record<string, string | FakeFileSpec>;
  /** Host name (default `"testhost.example"`). */
  readonly hostname?: string;
  /** Process id (default 4242). */
  readonly pid?: number;
  /** Scripted processes; default: every command fails with status 127. */
  readonly run?: FakeRunHandler;
  /** Standard input contents. */
  readonly stdin?: string | Uint8Array;
  /** Standard input as these chunks, in order (instead of `stdin`, which arrives as one chunk). */
  readonly stdinChunks?: readonly (string | Uint8Array)[];
  /** Answers for {@link Host.prompt}, in order; `null` simulates no terminal / end of input. */
  readonly prompts?: (string | null)[];
  /** Which streams are terminals (default none). */
  readonly terminals?: readonly ("stdin" | "stdout" | "stderr")[];
  /** Modification time reported for every file (default 0). */
  readonly mtimeMs?: number;
}

interface Node {
  kind: "file" | "dir";
  data: Uint8Array;
  mode: number;
  mtimeMs: number;
}

function posixError(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

function bytesOf(v: string | Uint8Array | undefined): Uint8Array {
  if (v === undefined) return new Uint8Array(0);
  return typeof v === "string" ? new TextEncoder().encode(v) : v;
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

async function collect(data: Uint8Array | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  if (data instanceof Uint8Array) return data;
  const parts: Uint8Array[] = [];
  for await (const chunk of data) parts.push(chunk);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** In-memory implementation of {@link Host}. */
export class FakeHost implements Host {
  /** Every file and directory by absolute path. */
  readonly nodes: Map<string, Node> = new Map();
  /** Environment (mutable). */
  readonly envVars: Map<string, string>;
  /** Every argv passed to {@link FakeHost.run}, in order. */
  readonly runs: { argv: readonly string[]; timeoutMs?: number }[] = [];
  /** Questions asked through {@link FakeHost.prompt}. */
  readonly questions: { question: string; echo: boolean }[] = [];
  /** Everything written to standard error. */
  stderr = "";
  /** Everything written to standard output. */
  stdout = "";
  /** Paths fsynced with {@link FakeHost.syncDir}. */
  readonly syncedDirs: string[] = [];
  #home: string | null;
  #hostname: string;
  #pid: number;
  #runHandler: FakeRunHandler;
  #stdin: Uint8Array;
  #stdinChunks: readonly Uint8Array[] | undefined;
  #prompts: (string | null)[];
  #terminals: Set<string>;
  #mtime: number;

  /** @param options Files, environment and scripts. */
  constructor(options: FakeHostOptions = {}) {
    this.#home = options.home === undefined ? "/home/user" : options.home;
    this.envVars = new Map(Object.entries(options.env ?? {}));
    this.#hostname = options.hostname ?? "testhost.example";
    this.#pid = options.pid ?? 4242;
    this.#runHandler = options.run ?? ((argv) => ({ status: 127, stderr: `${argv[0]}: command not found\n` }));
    this.#stdin = bytesOf(options.stdin);
    this.#stdinChunks = options.stdinChunks?.map((c) => bytesOf(c));
    this.#prompts = [...(options.prompts ?? [])];
    this.#terminals = new Set(options.terminals ?? []);
    this.#mtime = options.mtimeMs ?? 0;
    this.nodes.set("/", { kind: "dir", data: new Uint8Array(0), mode: 0o755, mtimeMs: this.#mtime });
    if (this.#home) this.mkdirp(this.#home, 0o700);
    for (const [path, spec] of Object.entries(options.files ?? {})) {
      const s: FakeFileSpec = typeof spec === "string" ? { text: spec } : spec;
      this.setFile(path, s.bytes ?? s.text ?? "", s.mode ?? 0o600);
    }
  }

  /** Creates a directory and its parents (test setup helper). */
  mkdirp(path: string, mode = 0o755): void {
    if (this.nodes.has(path)) return;
    const parent = parentOf(path);
    if (parent !== path) this.mkdirp(parent, mode);
    this.nodes.set(path, { kind: "dir", data: new Uint8Array(0), mode, mtimeMs: this.#mtime });
  }

  /** Creates or replaces a file (test setup helper); parent directories are created. */
  setFile(path: string, content: string | Uint8Array, mode = 0o600): void {
    this.mkdirp(parentOf(path));
    this.nodes.set(path, { kind: "file", data: bytesOf(content), mode, mtimeMs: this.#mtime });
  }

  /** A file's text, or `undefined` when absent (test assertion helper). */
  fileText(path: string): string | undefined {
    const n = this.nodes.get(path);
    return n && n.kind === "file" ? new TextDecoder().decode(n.data) : undefined;
  }

  /** A file's permission bits, or `undefined` when absent. */
  fileMode(path: string): number | undefined {
    return this.nodes.get(path)?.mode;
  }

  /** Changes a path's permission bits. */
  chmod(path: string, mode: number): void {
    const n = this.nodes.get(path);
    if (!n) throw posixError("ENOENT", path);
    n.mode = mode;
  }

  /** Replaces the process script. */
  onRun(handler: FakeRunHandler): void {
    this.#runHandler = handler;
  }

  #file(path: string): Node {
    const n = this.nodes.get(path);
    if (!n) throw posixError("ENOENT", `no such file or directory, '${path}'`);
    if (n.kind !== "file") throw posixError("EISDIR", `illegal operation on a directory, '${path}'`);
    return n;
  }

  #parentDir(path: string): void {
    const p = this.nodes.get(parentOf(path));
    if (!p) throw posixError("ENOENT", `no such file or directory, '${path}'`);
    if (p.kind !== "dir") throw posixError("ENOTDIR", `not a directory, '${path}'`);
  }

  env(name: string): string | undefined {
    return this.envVars.get(name);
  }

  homeDir(): string | undefined {
    return this.#home ?? undefined;
  }

  hostname(): string {
    return this.#hostname;
  }

  pid(): number {
    return this.#pid;
  }

  readFile(path: string): Promise<Uint8Array> {
    try {
      return Promise.resolve(this.#file(path).data.slice());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async *readStream(path: string): AsyncIterable<Uint8Array> {
    const data = this.#file(path).data;
    for (let i = 0; i < data.length; i += 65536) yield data.slice(i, i + 65536);
  }

  stat(path: string): Promise<FileInfo | null> {
    const n = this.nodes.get(path);
    if (!n) return Promise.resolve(null);
    return Promise.resolve({
      isFile: n.kind === "file",
      isDirectory: n.kind === "dir",
      mode: n.mode,
      size: n.data.length,
      mtimeMs: n.mtimeMs,
    });
  }

  async writeFile(
    path: string,
    data: Uint8Array | AsyncIterable<Uint8Array>,
    options: { mode?: number; exclusive?: boolean; sync?: boolean } = {},
  ): Promise<void> {
    this.#parentDir(path);
    const existing = this.nodes.get(path);
    if (existing && options.exclusive) throw posixError("EEXIST", `file already exists, '${path}'`);
    if (existing && existing.kind === "dir") throw posixError("EISDIR", path);
    const bytes = await collect(data);
    if (existing) existing.data = bytes.slice();
    else this.nodes.set(path, { kind: "file", data: bytes.slice(), mode: options.mode ?? 0o644, mtimeMs: this.#mtime });
  }

  appendFile(path: string, data: Uint8Array, options: { mode?: number } = {}): Promise<void> {
    try {
      this.#parentDir(path);
      const existing = this.nodes.get(path);
      if (existing) {
        if (existing.kind === "dir") throw posixError("EISDIR", path);
        const out = new Uint8Array(existing.data.length + data.length);
        out.set(existing.data);
        out.set(data, existing.data.length);
        existing.data = out;
      } else {
        this.nodes.set(path, { kind: "file", data: data.slice(), mode: options.mode ?? 0o600, mtimeMs: this.#mtime });
      }
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  rename(from: string, to: string): Promise<void> {
    const n = this.nodes.get(from);
    if (!n) return Promise.reject(posixError("ENOENT", from));
    try {
      this.#parentDir(to);
    } catch (e) {
      return Promise.reject(e);
    }
    this.nodes.delete(from);
    this.nodes.set(to, n);
    return Promise.resolve();
  }

  remove(path: string, options: { force?: boolean } = {}): Promise<void> {
    if (!this.nodes.has(path)) {
      return options.force ? Promise.resolve() : Promise.reject(posixError("ENOENT", path));
    }
    const prefix = path.endsWith("/") ? path : path + "/";
    if ([...this.nodes.keys()].some((k) => k.startsWith(prefix))) {
      return Promise.reject(posixError("ENOTEMPTY", path));
    }
    this.nodes.delete(path);
    return Promise.resolve();
  }

  mkdir(path: string, options: { mode?: number; recursive?: boolean } = {}): Promise<void> {
    const mode = options.mode ?? 0o755;
    const existing = this.nodes.get(path);
    if (existing) {
      return options.recursive && existing.kind === "dir"
        ? Promise.resolve()
        : Promise.reject(posixError("EEXIST", path));
    }
    if (options.recursive) this.mkdirp(path, mode);
    else {
      try {
        this.#parentDir(path);
      } catch (e) {
        return Promise.reject(e);
      }
      this.nodes.set(path, { kind: "dir", data: new Uint8Array(0), mode, mtimeMs: this.#mtime });
    }
    return Promise.resolve();
  }

  readDir(path: string): Promise<string[]> {
    const n = this.nodes.get(path);
    if (!n) return Promise.reject(posixError("ENOENT", path));
    if (n.kind !== "dir") return Promise.reject(posixError("ENOTDIR", path));
    const prefix = path === "/" ? "/" : path + "/";
    const names = [...this.nodes.keys()]
      .filter((k) => k !== path && k.startsWith(prefix) && !k.slice(prefix.length).includes("/"))
      .map((k) => k.slice(prefix.length));
    return Promise.resolve(names.sort());
  }

  syncDir(path: string): Promise<void> {
    this.syncedDirs.push(path);
    return Promise.resolve();
  }

  async run(
    argv: readonly string[],
    options: { stdin?: Uint8Array | AsyncIterable<Uint8Array>; timeoutMs?: number; env?: Record<string, string> } = {},
  ): Promise<RunResult> {
    this.runs.push(options.timeoutMs === undefined ? { argv: [...argv] } : { argv: [...argv], timeoutMs: options.timeoutMs });
    const stdin = options.stdin === undefined ? undefined : await collect(options.stdin);
    const r = await this.#runHandler(argv, {
      ...(stdin !== undefined ? { stdin } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.env !== undefined ? { env: options.env } : {}),
    });
    return { status: r.status === undefined ? 0 : r.status, stdout: bytesOf(r.stdout), stderr: bytesOf(r.stderr) };
  }

  async *stdin(): AsyncIterable<Uint8Array> {
    if (this.#stdinChunks) {
      for (const c of this.#stdinChunks) yield c.slice();
      return;
    }
    if (this.#stdin.length > 0) yield this.#stdin;
  }

  writeStderr(text: string): void {
    this.stderr += text;
  }

  writeStdout(text: string): void {
    this.stdout += text;
  }

  isTerminal(stream: "stdin" | "stdout" | "stderr"): boolean {
    return this.#terminals.has(stream);
  }

  prompt(question: string, options: { echo?: boolean } = {}): Promise<string | null> {
    this.questions.push({ question, echo: options.echo ?? true });
    return Promise.resolve(this.#prompts.length > 0 ? this.#prompts.shift()! : null);
  }
}
