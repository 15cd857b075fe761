/**
 * Crash, concurrency and disk-full runs of the queue against a counting
 * aiosmtpd server (tests/fixtures/counting_smtpd.py) on 127.0.0.1.
 *
 * The sender (enqueue) and the flusher run in child processes under the same
 * runtime as this test (tests/support/queue_worker.ts) and SIGKILL themselves
 * at named points. Afterwards a clean flush runs and the server's log (one
 * line per message it answered 250 to) is checked: every message whose
 * enqueue resolved is delivered at least once, none is lost, and a duplicate
 * appears only when the kill fell between the final 250 and the removal.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import process from "node:process";
import type { Connector, Host } from "../deps.ts";
import { Queue, QueueError } from "../src/queue.ts";
import type { SendResult } from "../src/options.ts";
import { testConnector, testHost } from "./support/queue_host.ts";
import { runtimeCommand, testRuntime } from "./support/runtime_command.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const WORKER = path.join(REPO, "tests", "support", "queue_worker.ts");
const SERVER = path.join(REPO, "tests", "fixtures", "counting_smtpd.py");
const PYTHON = "/usr/bin/python3"; // Debian's, with python3-aiosmtpd

/** How to run the worker under the runtime running this test. */
function workerCommand(): { runtime: string; argv: string[] } {
  return { runtime: testRuntime(), argv: [...runtimeCommand(), WORKER] };
}

interface WorkerRun {
  readonly code: number | null;
  readonly signal: string | null;
  readonly lines: string[];
  readonly stderr: string;
}

/** Worker command lines for all three runtimes, for mixed-runtime runs (those not installed are left out). */
function allRuntimeCommands(): { runtime: string; argv: string[] }[] {
  const bin = path.join(REPO, "node_modules", ".bin");
  const here = workerCommand();
  const candidates = [
    { runtime: "node", argv: [here.runtime === "node" ? process.execPath : "node", "--import", "tsx", WORKER] },
    { runtime: "bun", argv: [here.runtime === "bun" ? process.execPath : path.join(bin, "bun"), WORKER] },
    { runtime: "deno", argv: [here.runtime === "deno" ? here.argv[0]! : path.join(bin, "deno"), "run", "-A", "--quiet", WORKER] },
  ];
  const found = [];
  for (const c of candidates) {
    try {
      execFileSync(c.argv[0]!, ["--version"], { stdio: "ignore" });
      found.push(c);
    } catch {
      // not installed
    }
  }
  return found;
}

function runWorker(
  args: string[],
  crashAt?: string,
  opts: { gate?: string; onLine?: (line: string) => void; timeoutMs?: number; argv?: string[] } = {},
): Promise<WorkerRun> {
  const argv = opts.argv ?? workerCommand().argv;
  const timeoutMs = opts.timeoutMs ?? 40_000;
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" };
  if (crashAt) env.SMTPSEND_QUEUE_CRASH_AT = crashAt;
  else delete env.SMTPSEND_QUEUE_CRASH_AT;
  if (opts.gate) env.SMTPSEND_QUEUE_START_GATE = opts.gate;
  else delete env.SMTPSEND_QUEUE_START_GATE;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, [...argv.slice(1), ...args], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (b: Uint8Array) => {
      const before = stdout.length;
      stdout += new TextDecoder().decode(b);
      const start = stdout.lastIndexOf("\n", before - 1) + 1;
      const complete = stdout.slice(start, stdout.lastIndexOf("\n") + 1);
      for (const line of complete.split("\n").filter(Boolean)) opts.onLine?.(line);
    });
    child.stderr!.on("data", (b: Uint8Array) => (stderr += new TextDecoder().decode(b)));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, lines: stdout.split("\n").filter(Boolean), stderr });
    });
  });
}

let host: Host;
let connector: Connector;
let root: string;
let port = 0;
let logFile = "";
let server: ReturnType<typeof spawn> | null = null;
let serverProblem: string | null = null;

async function startServer(): Promise<void> {
  logFile = path.join(root, "counting.log");
  const child = spawn(PYTHON, [
    SERVER,
    "--log", logFile,
    "--rcpt", "later-state@queue.test=451:1",
    "--close-mid-data", "drop@queue.test:1",
  ], { stdio: ["ignore", "pipe", "pipe"] });
  server = child;
  let err = "";
  child.stderr!.on("data", (b: Uint8Array) => (err += new TextDecoder().decode(b)));
  port = await new Promise<number>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`counting server did not start: ${err}`)), 10_000);
    child.stdout!.on("data", (b: Uint8Array) => {
      out += new TextDecoder().decode(b);
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`counting server exited with ${code}: ${err}`));
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

before(async () => {
  host = (await testHost()).host;
  connector = await testConnector();
  root = await fs.mkdtemp(path.join(os.tmpdir(), "smtpsend-qcrash-"));
  try {
    await startServer();
  } catch (e) {
    // Kept to fail each test with (a failing hook is reported differently by each runtime).
    serverProblem = `counting aiosmtpd server unavailable (${e instanceof Error ? e.message.trim() : e})`;
  }
});
after(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.on("exit", r));
    server.kill("SIGTERM");
    await exited;
  }
  await fs.rm(root, { recursive: true, force: true });
});

interface Logged {
  mid: string | null;
  rcpts: string[];
  size: number;
}
async function logged(prefix: string): Promise<Logged[]> {
  const text = await fs.readFile(logFile, "utf8").catch(() => "");
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Logged)
    .filter((r) => r.mid?.startsWith(`<${prefix}-`));
}
/** Message number → how many times the server accepted it. */
async function counts(prefix: string): Promise<Map<number, number>> {
  const m = new Map<number, number>();
  for (const r of await logged(prefix)) {
    const n = Number(/-(\d+)@/.exec(r.mid!)![1]);
    m.set(n, (m.get(n) ?? 0) + 1);
  }
  return m;
}
function sorted(m: Map<number, number>): [number, number][] {
  return [...m.entries()].sort((a, b) => a[0] - b[0]);
}

let seq = 0;
function scenario(name: string): { dir: string; prefix: string } {
  seq++;
  return { dir: path.join(root, `${seq}-${name}`, "queue"), prefix: `${workerCommand().runtime}${seq}${name.replace(/[^a-z0-9]/g, "")}` };
}
function message(prefix: string, n: number, to: readonly string[]): Uint8Array {
  const body = `This is message ${n} of the crash test.\r\n`.repeat(60);
  return new TextEncoder().encode(
    `From: sender@queue.test\r\nTo: ${to.join(", ")}\r\nSubject: crash test ${n}\r\nMessage-ID: <${prefix}-${n}@queue.test>\r\n\r\n${body}`,
  );
}
function clientOptions() {
  return { host: "127.0.0.1", port, tls: "none" as const, name: "test.queue.test", connector };
}
/** Flushes in this process (force) and returns the summary. */
async function cleanFlush(dir: string) {
  return await new Queue({ dir, host }).flushWith(clientOptions(), { force: true });
}
/** Nothing left: no entries (queued or failed), no claims, no temp files, no orphans (after an orphan sweep). */
async function assertDrained(dir: string): Promise<void> {
  const q = new Queue({ dir, host, orphanAgeMs: 0 });
  assert.deepEqual(await q.list({ includeFailed: true }), []);
  await q.cleanup();
  assert.deepEqual((await fs.readdir(dir)).sort(), ["failed", "tmp"]);
  assert.deepEqual(await fs.readdir(path.join(dir, "tmp")), []);
  assert.deepEqual(await fs.readdir(path.join(dir, "failed")), []);
}

/** Fails the test (never skips it) when the counting server did not start. */
const requireServer = (): void => {
  if (serverProblem) throw new Error(serverProblem);
};

describe("queue: kill -9 of the sender (enqueue)", { timeout: 60_000 }, () => {
  // point → is the 3rd message (in progress when killed) committed?
  const points: [string, boolean][] = [
    ["enqueue-mid-write", false],
    ["enqueue-before-fsync", false],
    ["enqueue-after-msg-rename", false],
    ["enqueue-before-commit", false],
    ["enqueue-after-commit", true],
  ];
  for (const [point, committed] of points) {
    test(`killed at ${point}: acknowledged messages all delivered once, the interrupted one ${committed ? "delivered once" : "never visible"}`, async () => {
      requireServer();
      const { dir, prefix } = scenario(point);
      const run = await runWorker(["enqueue", dir, "4", prefix], `${point}:3`);
      assert.equal(run.signal, "SIGKILL", `worker was not killed: ${run.lines.join(" | ")} ${run.stderr}`);
      assert.deepEqual(run.lines.map((l) => l.split(" ").slice(0, 2).join(" ")), ["ENQUEUED 1", "ENQUEUED 2", `CRASH ${point}`]);
      const acked = run.lines.filter((l) => l.startsWith("ENQUEUED")).map((l) => l.split(" ")[2]!);
      const listed = (await new Queue({ dir, host }).list()).map((e) => e.id);
      assert.deepEqual(listed.slice(0, 2), acked);
      assert.equal(listed.length, committed ? 3 : 2);
      const s = await cleanFlush(dir);
      assert.equal(s.sent, listed.length);
      assert.deepEqual(sorted(await counts(prefix)), committed ? [[1, 1], [2, 1], [3, 1]] : [[1, 1], [2, 1]]);
      // Complete bytes, never a torn message.
      for (const r of await logged(prefix)) assert.equal(r.size, message(prefix, 1, ["rcpt@queue.test"]).length);
      await assertDrained(dir);
    });
  }
});

describe("queue: kill -9 of the flusher", { timeout: 60_000 }, () => {
  const points: [string, [number, number][]][] = [
    ["flush-after-claim", [[1, 1], [2, 1], [3, 1], [4, 1]]],
    ["flush-mid-data", [[1, 1], [2, 1], [3, 1], [4, 1]]],
    ["flush-after-250", [[1, 1], [2, 2], [3, 1], [4, 1]]], // the documented duplicate window
    ["flush-after-remove", [[1, 1], [2, 1], [3, 1], [4, 1]]],
  ];
  for (const [point, expected] of points) {
    test(`killed at ${point} on the 2nd message: ${expected.some(([, c]) => c > 1) ? "2nd delivered twice (250→removal window)" : "each delivered exactly once"}`, async () => {
      requireServer();
      const { dir, prefix } = scenario(point);
      const q = new Queue({ dir, host });
      for (let n = 1; n <= 4; n++) await q.enqueue({ from: "sender@queue.test", to: ["rcpt@queue.test"] }, message(prefix, n, ["rcpt@queue.test"]));
      const run = await runWorker(["flush", dir, String(port)], `${point}:2`);
      assert.equal(run.signal, "SIGKILL", `worker was not killed: ${run.lines.join(" | ")} ${run.stderr}`);
      assert.equal(run.lines.at(-1), `CRASH ${point}`);
      const s = await cleanFlush(dir);
      assert.equal(s.sent, point === "flush-after-remove" ? 2 : 3); // the worker finished the 1st (and, here, the 2nd)
      assert.deepEqual(sorted(await counts(prefix)), expected);
      await assertDrained(dir);
    });
  }

  test("killed after recording per-recipient state: the accepted recipient is not sent again", async () => {
    requireServer();
    const { dir, prefix } = scenario("flush-after-state");
    const to = ["ok-state@queue.test", "later-state@queue.test"]; // the server answers 451 to later-state once
    await new Queue({ dir, host }).enqueue({ from: "sender@queue.test", to }, message(prefix, 1, to));
    const run = await runWorker(["flush", dir, String(port)], "flush-after-state:1");
    assert.equal(run.signal, "SIGKILL", `worker was not killed: ${run.lines.join(" | ")} ${run.stderr}`);
    const [e] = await new Queue({ dir, host }).list();
    assert.equal(e!.status, "in-flight");
    assert.deepEqual(e!.recipients.map((r) => [r.address, r.state]), [["ok-state@queue.test", "delivered"], ["later-state@queue.test", "pending"]]);
    const s = await cleanFlush(dir);
    assert.equal(s.sent, 1);
    assert.deepEqual((await logged(prefix)).map((r) => r.rcpts), [["ok-state@queue.test"], ["later-state@queue.test"]]);
    await assertDrained(dir);
  });

  test("the server closing mid-DATA defers the message; the next flush delivers it once", async () => {
    requireServer();
    const { dir, prefix } = scenario("server-mid-data");
    await new Queue({ dir, host }).enqueue({ from: "sender@queue.test", to: ["drop@queue.test"] }, message(prefix, 1, ["drop@queue.test"]));
    const run = await runWorker(["flush", dir, String(port)]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.lines.at(-1)!, /^SUMMARY \{"sent":0,"deferred":1,/);
    const [e] = await new Queue({ dir, host }).list();
    assert.equal(e!.attempts, 1);
    assert.equal(e!.lastError?.temporary, true);
    assert.deepEqual(sorted(await counts(prefix)), []);
    assert.equal((await cleanFlush(dir)).sent, 1);
    assert.deepEqual(sorted(await counts(prefix)), [[1, 1]]);
    await assertDrained(dir);
  });
});

describe("queue: flushWith()", { timeout: 60_000 }, () => {
  test("server down at flush time: one connection attempt defers every entry; once it is up, all are sent once", async () => {
    requireServer();
    const { dir, prefix } = scenario("server-down");
    const q = new Queue({ dir, host });
    for (let n = 1; n <= 5; n++) await q.enqueue({ from: "sender@queue.test", to: ["rcpt@queue.test"], account: "work" }, message(prefix, n, ["rcpt@queue.test"]));
    // A port nobody listens on: the counting server's port + 1 is free often enough; check it.
    const net = await import("node:net");
    const deadPort = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    let connects = 0;
    const counting: Connector = { name: "counting", connect: (o) => (connects++, connector.connect(o)) };
    const accounts: (string | null)[] = [];
    const down = await q.flushWith((account) => {
      accounts.push(account);
      return { ...clientOptions(), port: deadPort, connector: counting };
    });
    assert.equal(down.deferred, 5);
    assert.equal(connects, 1);
    assert.deepEqual(accounts, ["work"]);
    const listed = await q.list();
    assert.ok(listed.every((e) => e.attempts === 1 && e.lastError?.temporary === true && e.lastError.phase === "connect"), JSON.stringify(listed[0]?.lastError));
    connects = 0;
    const up = await q.flushWith({ ...clientOptions(), connector: counting }, { force: true });
    assert.equal(up.sent, 5);
    assert.equal(connects, 1); // one connection for all five
    assert.deepEqual(sorted(await counts(prefix)), [[1, 1], [2, 1], [3, 1], [4, 1], [5, 1]]);
    await assertDrained(dir);
  });
});

describe("queue: concurrent flushers", { timeout: 60_000 }, () => {
  test("8 flusher processes over 200 messages deliver each exactly once", async () => {
    requireServer();
    const { dir, prefix } = scenario("concurrent");
    const q = new Queue({ dir, host });
    const t0 = Date.now();
    for (let n = 1; n <= 200; n++) await q.enqueue({ from: "sender@queue.test", to: ["rcpt@queue.test"] }, message(prefix, n, ["rcpt@queue.test"]));
    const t1 = Date.now();
    const gate = path.join(root, `${seq}-gate`);
    let ready = 0;
    let allReady!: () => void;
    const lined = new Promise<void>((r) => (allReady = r));
    const pending = Array.from({ length: 8 }, () =>
      runWorker(["flush", dir, String(port)], undefined, { gate, onLine: (l) => l === "READY" && ++ready === 8 && allReady() })
    );
    await Promise.race([lined, Promise.all(pending)]);
    const t15 = Date.now();
    await fs.writeFile(gate, ""); // all 8 start together
    const runs = await Promise.all(pending);
    const t2 = Date.now();
    let sent = 0;
    const perWorker: number[] = [];
    for (const r of runs) {
      assert.equal(r.code, 0, `${r.lines.join(" | ")} ${r.stderr}`);
      const summary = JSON.parse(r.lines.find((l) => l.startsWith("SUMMARY "))!.slice(8));
      assert.equal(summary.deferred + summary.failed, 0);
      sent += summary.sent;
      perWorker.push(summary.sent);
    }
    const c = await counts(prefix);
    console.log(`# ${workerCommand().runtime}: enqueue 200 in ${t1 - t0} ms; 8 flushers started in ${t15 - t1} ms, flushed in ${t2 - t15} ms; sent per flusher ${perWorker.join(",")}; server saw ${[...c.values()].reduce((a, b) => a + b, 0)} messages, ${c.size} distinct`);
    assert.equal(ready, 8);
    assert.equal(sent, 200);
    assert.equal(c.size, 200);
    assert.deepEqual([...new Set(c.values())], [1]);
    await assertDrained(dir);
  });
});

describe("queue: concurrent flushers on different runtimes", { timeout: 60_000 }, () => {
  test("Node, Bun and Deno flushers (2 each) over 90 messages deliver each exactly once", async () => {
    requireServer();
    const commands = allRuntimeCommands();
    assert.deepEqual(commands.map((c) => c.runtime), ["node", "bun", "deno"], "every runtime of the suite must be installed");
    const { dir, prefix } = scenario("mixed");
    const q = new Queue({ dir, host });
    for (let n = 1; n <= 90; n++) await q.enqueue({ from: "sender@queue.test", to: ["rcpt@queue.test"] }, message(prefix, n, ["rcpt@queue.test"]));
    const gate = path.join(root, `${seq}-gate`);
    const flushers = [...commands, ...commands];
    let ready = 0;
    let allReady!: () => void;
    const lined = new Promise<void>((r) => (allReady = r));
    const pending = flushers.map((c) =>
      runWorker(["flush", dir, String(port)], undefined, { argv: c.argv, gate, onLine: (l) => l === "READY" && ++ready === flushers.length && allReady() })
    );
    await Promise.race([lined, Promise.all(pending)]);
    await fs.writeFile(gate, "");
    const runs = await Promise.all(pending);
    const sentBy: string[] = [];
    let sent = 0;
    runs.forEach((r, i) => {
      assert.equal(r.code, 0, `${flushers[i]!.runtime}: ${r.lines.join(" | ")} ${r.stderr}`);
      const summary = JSON.parse(r.lines.find((l) => l.startsWith("SUMMARY "))!.slice(8));
      sent += summary.sent;
      sentBy.push(`${flushers[i]!.runtime}=${summary.sent}`);
    });
    const c = await counts(prefix);
    console.log(`# mixed runtimes: sent ${sentBy.join(", ")}; server saw ${[...c.values()].reduce((a, b) => a + b, 0)} messages, ${c.size} distinct`);
    assert.equal(sent, 90);
    assert.equal(c.size, 90);
    assert.deepEqual([...new Set(c.values())], [1]);
    await assertDrained(dir);
  });
});

// ---- disk full: a 64 KiB tmpfs --------------------------------------------------------------

let diskFullSkip: string | false = false;
let mountPoint = "";
try {
  mountPoint = await fs.mkdtemp(path.join(os.tmpdir(), "smtpsend-tmpfs-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", mountPoint], { stdio: "pipe" });
} catch (e) {
  const why = e instanceof Error ? (e as { stderr?: Uint8Array }).stderr?.toString().trim() || e.message : String(e);
  diskFullSkip = `cannot mount a tmpfs (needs root / CAP_SYS_ADMIN): ${why}`;
  console.log(`# SKIP disk-full test: ${diskFullSkip}`);
  await fs.rm(mountPoint, { recursive: true, force: true }).catch(() => {});
}

describe("queue: disk full", { timeout: 60_000 }, () => {
  after(async () => {
    if (diskFullSkip) return;
    try {
      execFileSync("umount", [mountPoint], { stdio: "pipe" });
      await fs.rmdir(mountPoint);
    } catch {
      // leave it
    }
  });

  test("a full disk fails enqueue with ENOSPC as a temporary QueueError and leaves the queue consistent", { skip: diskFullSkip }, async () => {
    const dir = path.join(mountPoint, "queue");
    const q = new Queue({ dir, host });
    const ok: string[] = [];
    let failure: unknown = null;
    for (let n = 1; n <= 40 && !failure; n++) {
      const body = new Uint8Array(6000).fill(0x61);
      try {
        ok.push(await q.enqueue({ from: "sender@queue.test", to: [`r${n}@queue.test`] }, body));
      } catch (e) {
        failure = e;
      }
    }
    assert.ok(failure instanceof QueueError, `expected a QueueError, got ${failure}`);
    assert.equal(failure.osCode, "ENOSPC");
    assert.equal(failure.temporary, true);
    assert.equal(failure.phase, "queue");
    assert.match(failure.message, /no space left on device \(ENOSPC\)/);
    assert.ok(ok.length >= 1, "at least one message fit");
    const consistent = async (): Promise<void> => {
      const entries = await q.list();
      assert.deepEqual(entries.map((e) => e.id), ok);
      const names = (await fs.readdir(dir)).sort();
      assert.deepEqual(names, [...ok.flatMap((id) => [`${id}.eml`, `${id}.json`]), "failed", "tmp"].sort());
      assert.deepEqual(await fs.readdir(path.join(dir, "tmp")), []);
      for (const id of ok) assert.equal((await fs.stat(path.join(dir, `${id}.eml`))).size, 6000);
    };
    await consistent();

    // A message bigger than the whole file system: same clean failure.
    await assert.rejects(
      q.enqueue({ from: "sender@queue.test", to: ["big@queue.test"] }, new Uint8Array(200_000)),
      (e) => e instanceof QueueError && e.osCode === "ENOSPC",
    );
    await consistent();

    // Streamed data that runs out of space half way.
    async function* stream() {
      for (let i = 0; i < 40; i++) yield new Uint8Array(4096).fill(0x62);
    }
    await assert.rejects(q.enqueue({ from: "sender@queue.test", to: ["s@queue.test"] }, stream()), (e) => e instanceof QueueError && e.osCode === "ENOSPC");
    await consistent();

    // Flushing while full: a deferral cannot record its state, so the entry is put back untouched.
    const before = await q.list();
    const filler = path.join(mountPoint, "filler");
    await fs.writeFile(filler, new Uint8Array(64 * 1024)).catch(() => {}); // take whatever is left
    const s = await q.flush({
      deliver: () => Promise.reject(Object.assign(new Error("451 try later"), { temporary: true })),
    });
    assert.equal(s.deferred, ok.length);
    assert.ok(s.items.every((i) => /ENOSPC/.test(i.reason ?? "")), JSON.stringify(s.items));
    assert.deepEqual((await q.list()).map((e) => [e.id, e.attempts]), before.map((e) => [e.id, e.attempts]));
    await consistent();
    await fs.rm(filler, { force: true });

    // Delivering frees the space; enqueue works again.
    const delivered = await q.flush({
      deliver: async (_e, data, pending): Promise<SendResult> => {
        for await (const _ of data) { /* read */ }
        return { accepted: pending.map((a) => ({ address: a, accepted: true, code: 250, enhancedCode: null, message: "ok" })), rejected: [], reply: { type: "reply", code: 250, enhanced: null, lines: ["ok"] }, octets: 6000 };
      },
    });
    assert.equal(delivered.sent, ok.length);
    const id = await q.enqueue({ from: "sender@queue.test", to: ["again@queue.test"] }, new Uint8Array(100));
    assert.deepEqual((await q.list()).map((e) => e.id), [id]);
    console.log(`# disk full: ${ok.length} messages of 6000 bytes fit in 64 KiB; the next enqueue failed cleanly with ENOSPC`);
  });
});
