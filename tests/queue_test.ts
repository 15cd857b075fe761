/**
 * Unit tests of the durable queue (src/queue.ts) with an injected deliver
 * function and clock. Crash and concurrency runs against a real server are
 * in tests/queue_crash_test.ts.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import process from "node:process";
import type { Host } from "../deps.ts";
import { ConnectionError, ReplyError } from "../src/errors.ts";
import type { RecipientResult, SendResult } from "../src/options.ts";
import {
  type DeliverFunction,
  type FlushProgress,
  formatEntries,
  Queue,
  type QueueEntry,
  QueueError,
  queueMessage,
} from "../src/queue.ts";
import { faultyHost, HOST_METHODS, testHost } from "./support/queue_host.ts";
import { currentOwner } from "../src/queue/files.ts";
import { decodeRecord } from "../src/queue/record.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const MSG = enc.encode("From: a@x.test\r\nTo: b@y.test\r\nSubject: t\r\nMessage-ID: <t1@x.test>\r\n\r\nhello\r\n");

let host: Host;
let root: string;

before(async () => {
  const h = await testHost();
  host = h.host;
  root = await fs.mkdtemp(path.join(os.tmpdir(), "smtpsend-queue-"));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

let counter = 0;
function setup(options: Partial<ConstructorParameters<typeof Queue>[0]> = {}, h?: Host) {
  const dir = path.join(root, `q${++counter}`, "queue");
  const clock = { t: Date.now() };
  const queue = new Queue({ dir, host: h ?? host, now: () => clock.t, backoff: { initialMs: 1000, factor: 2, maxMs: 5000 }, ...options });
  return { dir, clock, queue };
}

function reply(code: number, text = "ok") {
  return { type: "reply" as const, code, enhanced: null, lines: [text] };
}
function rr(address: string, code: number, message = "x", enhancedCode: string | null = null): RecipientResult {
  return { address, accepted: code < 300, code, enhancedCode, message };
}
/** A deliver function that fails with `err`. */
function failing(err: unknown): DeliverFunction {
  return () => Promise.reject(err);
}
async function readAll(data: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of data) parts.push(c);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, (o += p.length) - p.length);
  return out;
}
/** A deliver that reads the data and accepts every pending recipient; records calls. */
function accepting(calls: { id: string; pending: readonly string[]; data: string }[] = []): DeliverFunction {
  return async (entry, data, pending): Promise<SendResult> => {
    calls.push({ id: entry.id, pending, data: dec.decode(await readAll(data)) });
    return { accepted: pending.map((a) => rr(a, 250)), rejected: [], reply: reply(250, "2.0.0 queued as X"), octets: 0 };
  };
}
async function ls(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch {
    return [];
  }
}
function mode(st: { mode: number }): number {
  return st.mode & 0o777;
}
async function deadPid(): Promise<number> {
  const child = spawn(process.platform === "win32" ? "cmd" : "true", [], { stdio: "ignore" });
  const pid = child.pid!;
  await new Promise((r) => child.on("exit", r));
  return pid;
}

describe("Queue.enqueue()", () => {
  test("enqueue() stores the message and envelope with modes 0600 in 0700 directories", async () => {
    const { dir, queue } = setup();
    const id = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    assert.match(id, /^[0-9a-z]{17}$/);
    assert.equal(mode(await fs.stat(dir)), 0o700);
    assert.equal(mode(await fs.stat(path.join(dir, "tmp"))), 0o700);
    assert.equal(mode(await fs.stat(path.join(dir, "failed"))), 0o700);
    assert.deepEqual(await ls(dir), [`${id}.eml`, `${id}.json`, "failed", "tmp"]);
    assert.equal(mode(await fs.stat(path.join(dir, `${id}.eml`))), 0o600);
    assert.equal(mode(await fs.stat(path.join(dir, `${id}.json`))), 0o600);
    assert.deepEqual(new Uint8Array(await fs.readFile(path.join(dir, `${id}.eml`))), MSG);
    assert.deepEqual(await ls(path.join(dir, "tmp")), []);
  });

  test("enqueue() streams an AsyncIterable and records size and 8-bit content", async () => {
    const { queue } = setup();
    async function* chunks() {
      yield enc.encode("Subject: caf");
      yield new Uint8Array([0xc3, 0xa9]);
      yield enc.encode("\r\n\r\nbody\r\n");
    }
    const id = await queue.enqueue({ from: "", to: [{ address: "b@y.test", notify: ["FAILURE"], orcpt: "rfc822;b@y.test" }] }, chunks());
    const [e] = await queue.list();
    assert.equal(e!.id, id);
    assert.equal(e!.size, 12 + 2 + 10);
    assert.equal(e!.eightBit, true);
    assert.equal(e!.from, "");
    assert.deepEqual(e!.recipients[0]!.notify, ["FAILURE"]);
  });

  test("the JSON record holds only envelope fields: never a password, token or other extra property", async () => {
    const { dir, queue } = setup();
    const envelope = {
      from: "a@x.test",
      to: ["b@y.test"],
      account: "work",
      pass: "hunter2-SECRET",
      auth: { user: "me", pass: "hunter2-SECRET", token: "ya29.TOKEN" },
      password: "hunter2-SECRET",
    };
    const id = await queue.enqueue(envelope as unknown as Parameters<Queue["enqueue"]>[0], MSG);
    const text = await fs.readFile(path.join(dir, `${id}.json`), "utf8");
    assert.doesNotMatch(text, /hunter2|SECRET|TOKEN|pass|auth/i);
    const doc = JSON.parse(text);
    assert.equal(doc.account, "work");
    assert.deepEqual(
      Object.keys(doc).sort(),
      ["v", "id", "createdAt", "size", "eightBit", "from", "recipients", "account", "server", "dsnReturn", "dsnEnvelopeId", "dsnNotify", "smtpUtf8", "attempts", "lastAttemptAt", "nextAttemptAt", "lastError", "failReason"].sort(),
    );
    assert.equal(doc.server, null);
    // After a failed attempt the state file still has no secret.
    await queue.flush({ deliver: failing(new ConnectionError("Connection refused by \"127.0.0.1:1\"")) });
    const again = await fs.readFile(path.join(dir, `${id}.json`), "utf8");
    assert.doesNotMatch(again, /hunter2|SECRET|TOKEN/);
  });

  test("one-off server settings are kept field by field; a password or passphrase among them is never written", async () => {
    const { dir, queue } = setup();
    const server = {
      host: "smtp.example.org",
      port: 2587,
      tls: "starttls-required",
      tlsVerify: false,
      caFile: "/etc/ca.pem",
      certFile: "/home/me/c.pem",
      keyFile: "/home/me/k.pem",
      user: "me@example.org",
      auth: true,
      authMethod: "PLAIN",
      passwordCommand: ["/bin/sh", "-c", "pass show mail"],
      allowPlaintextAuth: true,
      helo: "client.example.org",
      timeoutMs: 30000,
      // Not settings: never written.
      password: "hunter2-SECRET",
      passphrase: "hunter2-SECRET",
      auth2: { pass: "hunter2-SECRET" },
    };
    const id = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"], server } as unknown as Parameters<Queue["enqueue"]>[0], MSG);
    const text = await fs.readFile(path.join(dir, `${id}.json`), "utf8");
    assert.doesNotMatch(text, /hunter2|SECRET|passphrase|"password"/);
    const { password: _p, passphrase: _q, auth2: _a, ...kept } = server;
    assert.deepEqual(JSON.parse(text).server, kept);
    const [e] = await queue.list();
    assert.deepEqual(e!.server, kept);
  });

  test("bad server settings are refused before anything is written", async () => {
    const { dir, queue } = setup();
    const bad: unknown[] = [
      { host: "mx.example.org\r\nMAIL FROM:<x>" },
      { host: "" },
      { port: 0 },
      { port: 70000 },
      { port: "25" },
      { tls: "ssl" },
      { auth: "yes" },
      { passwordCommand: [] },
      { passwordCommand: ["pass\0"] },
      { helo: "a b" },
      { timeoutMs: -1 },
      "smtp.example.org",
    ];
    for (const server of bad) {
      await assert.rejects(
        queue.enqueue({ from: "a@x.test", to: ["b@y.test"], server } as unknown as Parameters<Queue["enqueue"]>[0], MSG),
        (e) => e instanceof TypeError || e instanceof RangeError,
        JSON.stringify(server),
      );
    }
    assert.deepEqual(await ls(dir), []);
  });

  test("records written before server settings existed are read (server null); a tampered one is refused", async () => {
    const { dir, queue } = setup();
    const id = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"], server: { host: "mx.example.org", port: 25 } }, MSG);
    const file = path.join(dir, `${id}.json`);
    const doc = JSON.parse(await fs.readFile(file, "utf8"));
    delete doc.server;
    await fs.writeFile(file, JSON.stringify(doc));
    const [old] = await queue.list();
    assert.equal(old!.server, null);
    assert.equal(old!.from, "a@x.test");
    doc.server = { host: "mx.example.org\r\nRSET", port: 25 };
    await fs.writeFile(file, JSON.stringify(doc));
    assert.throws(
      () => decodeRecord(enc.encode(JSON.stringify(doc)), id, file),
      (e) => e instanceof QueueError && /"server" "host" contains a control character/.test(e.message),
    );
    assert.deepEqual(await queue.list(), [], "an unreadable record is left out of the listing");
    // …and never sent.
    let called = 0;
    await queue.flush({ force: true, deliver: () => (called++, Promise.reject(new Error("must not be called"))) });
    assert.equal(called, 0);
  });

  test("enqueue() rejects bad envelopes before writing anything", async () => {
    const { dir, queue } = setup();
    await assert.rejects(queue.enqueue({ from: "a@x.test", to: [] }, MSG), TypeError);
    await assert.rejects(queue.enqueue({ from: "a@x.test\r\nRCPT TO:<evil@x>", to: ["b@y.test"] }, MSG), TypeError);
    await assert.rejects(queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, "text" as unknown as Uint8Array), TypeError);
    assert.deepEqual(await ls(dir), []);
  });

  for (
    const fault of [
      { name: "the message write (ENOSPC, half written)", f: { op: "writeFile", path: /\.eml\./, partial: true } },
      { name: "the message rename (EIO)", f: { op: "rename", path: /\.eml\./, code: "EIO" } },
      { name: "the envelope write (ENOSPC)", f: { op: "writeFile", path: /\.json\./, partial: true } },
      { name: "the envelope rename (EDQUOT)", f: { op: "rename", path: /\.json\./, code: "EDQUOT" } },
      { name: "the directory fsync (EIO)", f: { op: "syncDir", code: "EIO" } },
    ] as const
  ) {
    test(`a failure in ${fault.name} rejects with a QueueError and leaves no entry or temp file`, async () => {
      const { dir, queue } = setup({}, faultyHost(host, [fault.f]));
      const err = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG).then(() => null, (e) => e);
      assert.ok(err instanceof QueueError, String(err));
      assert.equal(err.phase, "queue");
      const code: string = ("code" in fault.f ? fault.f.code : undefined) ?? "ENOSPC";
      assert.equal(err.osCode, code);
      assert.equal(err.temporary, true);
      assert.match(err.message, new RegExp(code));
      assert.deepEqual(await ls(dir), ["failed", "tmp"]);
      assert.deepEqual(await ls(path.join(dir, "tmp")), []);
      assert.deepEqual(await queue.list(), []);
    });
  }

  test("EACCES on the queue directory is a permanent QueueError", async () => {
    const { queue } = setup({}, faultyHost(host, [{ op: "writeFile", code: "EACCES" }]));
    const err = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG).then(() => null, (e) => e);
    assert.ok(err instanceof QueueError);
    assert.equal(err.temporary, false);
  });

  test("an error from the data stream is passed through and nothing is left", async () => {
    const { dir, queue } = setup();
    const boom = new Error("stdin broke");
    async function* chunks() {
      yield enc.encode("Subject: x\r\n");
      throw boom;
    }
    await assert.rejects(queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, chunks()), (e) => e === boom);
    assert.deepEqual(await ls(dir), ["failed", "tmp"]);
    assert.deepEqual(await ls(path.join(dir, "tmp")), []);
  });

  test("a queue directory writable by others is refused", async () => {
    const { dir, queue } = setup();
    await fs.mkdir(dir, { recursive: true });
    await fs.chmod(dir, 0o777);
    await assert.rejects(queue.list(), (e) => e instanceof QueueError && /writable by other users/.test(e.message));
  });
});

describe("Queue.flush()", () => {
  test("flush() delivers the stored bytes to every recipient, then removes the entry", async () => {
    const { dir, queue } = setup();
    const id = await queue.enqueue({ from: "a@x.test", to: ["b@y.test", "c@y.test"] }, MSG);
    const calls: { id: string; pending: readonly string[]; data: string }[] = [];
    const s = await queue.flush({ deliver: accepting(calls) });
    assert.equal(s.sent, 1);
    assert.deepEqual(s.items[0]!.delivered, ["b@y.test", "c@y.test"]);
    assert.deepEqual(calls, [{ id, pending: ["b@y.test", "c@y.test"], data: dec.decode(MSG) }]);
    assert.deepEqual(await ls(dir), ["failed", "tmp"]);
    assert.deepEqual(await queue.list({ includeFailed: true }), []);
  });

  test("a 4xx defers with attempts and backoff; not retried before it is due; sent once due", async () => {
    const { clock, queue } = setup();
    const id = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    const t0 = clock.t;
    let s = await queue.flush({
      deliver: failing(new ReplyError("Server refused MAIL: 451 4.3.0 try later", { code: 451, enhanced: "4.3.0", lines: ["4.3.0 try later"] }, "mail")),
    });
    assert.equal(s.deferred, 1);
    let [e] = await queue.list();
    assert.equal(e!.attempts, 1);
    assert.equal(e!.lastAttemptAt, t0);
    assert.equal(e!.nextAttemptAt, t0 + 1000);
    assert.equal(e!.lastError?.code, 451);
    assert.equal(e!.lastError?.temporary, true);
    assert.equal(e!.recipients[0]!.state, "pending");
    const calls: { id: string; pending: readonly string[]; data: string }[] = [];
    clock.t += 999;
    s = await queue.flush({ deliver: accepting(calls) });
    assert.deepEqual([s.skipped, s.items[0]!.reason, calls.length], [1, "not-due", 0]);
    clock.t += 1;
    s = await queue.flush({ deliver: accepting(calls) });
    assert.equal(s.sent, 1);
    assert.deepEqual(calls.map((c) => c.id), [id]);
    [e] = await queue.list();
    assert.equal(e, undefined);
  });

  test("force ignores the next-attempt time", async () => {
    const { queue } = setup();
    await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    await queue.flush({ deliver: failing(new ConnectionError("refused")) });
    assert.equal((await queue.flush({ deliver: accepting() })).skipped, 1);
    assert.equal((await queue.flush({ deliver: accepting(), force: true })).sent, 1);
  });

  test("backoff grows by the factor up to maxMs, and a message older than maxAge is moved aside as expired", async () => {
    const { dir, clock, queue } = setup({ maxAge: 20_000 });
    const id = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    const delays: number[] = [];
    const fail = failing(new ConnectionError("Connection refused"));
    for (let i = 0; i < 5; i++) {
      await queue.flush({ deliver: fail });
      const [e] = await queue.list();
      delays.push(e!.nextAttemptAt! - clock.t);
      clock.t = e!.nextAttemptAt!;
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 5000, 5000]); // 17 s in
    clock.t += 3000; // 20 s old
    const s = await queue.flush({ deliver: fail });
    assert.equal(s.failed, 1);
    assert.deepEqual(await queue.list(), []);
    const [f] = await queue.list({ includeFailed: true });
    assert.equal(f!.status, "failed");
    assert.equal(f!.failReason, "expired");
    assert.equal(f!.attempts, 6);
    assert.equal(f!.recipients[0]!.state, "failed");
    assert.match(f!.recipients[0]!.message!, /Gave up.*Connection refused/);
    assert.deepEqual(await ls(path.join(dir, "failed")), [`${id}.eml`, `${id}.json`]);
  });

  test("a 5xx moves the entry aside to failed/ with the server's reply", async () => {
    const { dir, queue } = setup();
    const id = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    const progress: FlushProgress[] = [];
    const s = await queue.flush({
      deliver: async (_e, data) => {
        await readAll(data);
        throw new ReplyError("Server refused the message: 554 5.7.1 spam", { code: 554, enhanced: "5.7.1", lines: ["5.7.1 spam"] }, "data");
      },
      onProgress: (p) => progress.push(p),
    });
    assert.equal(s.failed, 1);
    assert.deepEqual(await ls(dir), ["failed", "tmp"]);
    assert.deepEqual(await ls(path.join(dir, "failed")), [`${id}.eml`, `${id}.json`]);
    assert.equal(mode(await fs.stat(path.join(dir, "failed", `${id}.json`))), 0o600);
    const e = await queue.get(id);
    assert.equal(e?.status, "failed");
    assert.equal(e?.failReason, "rejected");
    assert.equal(e?.lastError?.code, 554);
    assert.equal(e?.lastError?.enhancedCode, "5.7.1");
    assert.match(e!.lastError!.message, /spam/);
    assert.equal(e!.recipients[0]!.state, "failed");
    assert.equal(e!.recipients[0]!.code, 554);
    assert.deepEqual(progress.map((p) => p.type), ["start", "attempt", "data", "result", "done"]);
    const result = progress.find((p) => p.type === "result");
    assert.equal(result?.type === "result" && result.outcome, "failed");
    // A later flush does not touch it.
    assert.equal((await queue.flush({ deliver: accepting(), force: true })).items.length, 0);
  });

  test("a 5xx in the greeting (not about this message) defers instead", async () => {
    const { queue } = setup();
    await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    const s = await queue.flush({
      deliver: failing(new ReplyError("Server refused the session: 554 no service", { code: 554, enhanced: null, lines: ["no service"] }, "greeting")),
    });
    assert.equal(s.deferred, 1);
  });

  test("per-recipient progress: accepted recipients are never sent again; 5xx ones fail; the rest are retried", async () => {
    const { clock, queue } = setup();
    const id = await queue.enqueue({ from: "a@x.test", to: ["ok@y.test", "later@y.test", "bad@y.test"] }, MSG);
    let s = await queue.flush({
      deliver: async (_e, data, pending) => {
        assert.deepEqual(pending, ["ok@y.test", "later@y.test", "bad@y.test"]);
        await readAll(data);
        return {
          accepted: [rr("ok@y.test", 250)],
          rejected: [rr("later@y.test", 450, "4.2.0 mailbox busy", "4.2.0"), rr("bad@y.test", 550, "5.1.1 no such user", "5.1.1")],
          reply: reply(250),
          octets: MSG.length,
        };
      },
    });
    assert.equal(s.deferred, 1);
    assert.deepEqual(s.items[0]!.delivered, ["ok@y.test"]);
    assert.deepEqual(s.items[0]!.failed, ["bad@y.test"]);
    const [e] = await queue.list();
    assert.deepEqual(e!.recipients.map((r) => [r.address, r.state, r.code]), [
      ["ok@y.test", "delivered", 250],
      ["later@y.test", "pending", 450],
      ["bad@y.test", "failed", 550],
    ]);
    assert.match(e!.lastError!.message, /later@y\.test.*450/);
    clock.t = e!.nextAttemptAt!;
    const calls: { id: string; pending: readonly string[]; data: string }[] = [];
    s = await queue.flush({ deliver: accepting(calls) });
    assert.deepEqual(calls.map((c) => c.pending), [["later@y.test"]]);
    // Everyone settled, one permanently refused: moved aside, with the whole story.
    assert.equal(s.failed, 1);
    const f = await queue.get(id);
    assert.equal(f?.status, "failed");
    assert.deepEqual(f!.recipients.map((r) => r.state), ["delivered", "delivered", "failed"]);
  });

  test("a ReplyError listing every refused recipient records each one's code", async () => {
    const { queue } = setup();
    await queue.enqueue({ from: "a@x.test", to: ["t@y.test", "p@y.test"] }, MSG);
    const err = Object.assign(
      new ReplyError("No recipient accepted", { code: 451, enhanced: null, lines: ["x"] }, "rcpt"),
      { rejected: [rr("t@y.test", 451, "greylisted"), rr("p@y.test", 550, "unknown")] },
    );
    const s = await queue.flush({ deliver: failing(err) });
    assert.equal(s.deferred, 1);
    const [e] = await queue.list();
    assert.deepEqual(e!.recipients.map((r) => [r.state, r.code]), [["pending", 451], ["failed", 550]]);
  });

  test("a recipient missing from the SendResult stays pending", async () => {
    const { queue } = setup();
    await queue.enqueue({ from: "a@x.test", to: ["a@y.test", "b@y.test"] }, MSG);
    const s = await queue.flush({
      deliver: () => Promise.resolve({ accepted: [rr("a@y.test", 250)], rejected: [], reply: reply(250), octets: 1 }),
    });
    assert.equal(s.deferred, 1);
    const [e] = await queue.list();
    assert.deepEqual(e!.recipients.map((r) => r.state), ["delivered", "pending"]);
  });

  test("queueMessage() rebuilds the message for the pending recipients with DSN options", async () => {
    const { queue } = setup();
    await queue.enqueue(
      { from: "a@x.test", to: [{ address: "b@y.test", notify: "NEVER" }, "c@y.test"], dsnReturn: "HDRS", dsnEnvelopeId: "env1", smtpUtf8: true },
      MSG,
    );
    const [e] = await queue.list();
    const data = (async function* () {})();
    const m = queueMessage(e!, data, ["b@y.test"]);
    assert.deepEqual(m.to, [{ address: "b@y.test", notify: "NEVER" }]);
    assert.equal(m.from, "a@x.test");
    assert.equal(m.size, MSG.length);
    assert.equal(m.eightBit, false);
    assert.equal(m.dsnReturn, "HDRS");
    assert.equal(m.dsnEnvelopeId, "env1");
    assert.equal(m.smtpUtf8, true);
    assert.equal(m.data, data);
  });

  test("two flushes running at once in one process deliver each message exactly once", async () => {
    const { queue, dir } = setup();
    for (let i = 0; i < 20; i++) await queue.enqueue({ from: "a@x.test", to: [`r${i}@y.test`] }, MSG);
    const other = new Queue({ dir, host });
    const seen: string[] = [];
    const slow: DeliverFunction = async (entry, data, pending) => {
      seen.push(entry.id);
      await readAll(data);
      await new Promise((r) => setTimeout(r, 2));
      return { accepted: pending.map((a) => rr(a, 250)), rejected: [], reply: reply(250), octets: 1 };
    };
    const [a, b] = await Promise.all([queue.flush({ deliver: slow }), other.flush({ deliver: slow })]);
    assert.equal(a.sent + b.sent, 20);
    assert.equal(new Set(seen).size, 20);
    assert.equal(seen.length, 20);
    assert.deepEqual(await queue.list(), []);
  });

  test("an entry claimed by a live flusher is listed as in-flight and skipped as busy", async () => {
    const { queue } = setup();
    const id = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const inside = new Promise<void>((r) => (started = r));
    const first = queue.flush({
      deliver: async (_e, data, pending) => {
        started();
        await gate;
        await readAll(data);
        return { accepted: pending.map((a) => rr(a, 250)), rejected: [], reply: reply(250), octets: 1 };
      },
    });
    await inside;
    const [e] = await queue.list();
    assert.equal(e!.id, id);
    assert.equal(e!.status, "in-flight");
    assert.match(formatEntries([e!]), new RegExp(`^${id}\\*`, "m"));
    const second = await queue.flush({ deliver: accepting(), force: true });
    assert.deepEqual(second.items.map((i) => [i.outcome, i.reason]), [["skipped", "busy"]]);
    await assert.rejects(queue.remove(id), (err) => err instanceof QueueError && /being delivered/.test(err.message));
    release();
    assert.equal((await first).sent, 1);
  });
});

describe("Queue recovery", () => {
  test("a claim left by a dead process is taken over and the message delivered", async () => {
    const { dir, queue } = setup();
    const id = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    const pid = await deadPid();
    // Simulate a flusher killed after claiming: same host tag as ours, dead pid.
    const ourTag = await hostTagOf(dir, queue);
    await fs.rename(path.join(dir, `${id}.json`), path.join(dir, `${id}.claim.${ourTag}-${pid}-0-${Date.now().toString(36)}-abcdef`));
    assert.equal((await queue.list())[0]!.status, "in-flight");
    const calls: { id: string; pending: readonly string[]; data: string }[] = [];
    const s = await queue.flush({ deliver: accepting(calls) });
    assert.equal(s.sent, 1);
    assert.equal(calls.length, 1);
    assert.deepEqual(await ls(dir), ["failed", "tmp"]);
  });

  test("a claim of another host is taken over only after staleClaimMs", async () => {
    const { dir, clock, queue } = setup({ staleClaimMs: 60_000 });
    const id = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    await fs.rename(path.join(dir, `${id}.json`), path.join(dir, `${id}.claim.00000000-1-0-${clock.t.toString(36)}-abcdef`));
    assert.equal((await queue.flush({ deliver: accepting(), force: true })).skipped, 1);
    clock.t += 60_000;
    assert.equal((await queue.flush({ deliver: accepting() })).sent, 1);
  });

  test("a live flusher's claim on this host is never taken over by age (no second delivery)", async () => {
    // The other flusher: another live process of this host (our parent's pid), so liveness can be checked.
    const other = hostWith(host, { pid: () => process.ppid });
    // Linux (the only place the suite runs) always has /proc; without it this test cannot check anything.
    assert.ok((await currentOwner(other)).proc, "no readable /proc/<pid>/stat: liveness cannot be checked here");
    const { dir, clock, queue } = setup({ staleClaimMs: 60_000 });
    const id = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    const gate = holdOpen();
    const first = queue.flush({ deliver: gate.deliver });
    await gate.inside;
    clock.t += 10 * 60_000; // the claim is now ten times older than staleClaimMs: its holder is alive all the same
    const second = new Queue({ dir, host: other, now: () => clock.t, staleClaimMs: 60_000 });
    const calls: { id: string; pending: readonly string[]; data: string }[] = [];
    const s = await second.flush({ deliver: accepting(calls), force: true });
    assert.deepEqual(s.items.map((i) => [i.outcome, i.reason]), [["skipped", "busy"]]);
    assert.equal(calls.length, 0);
    await assert.rejects(second.remove(id), (err) => err instanceof QueueError && /being delivered/.test(err.message));
    gate.release();
    const r = await first;
    assert.deepEqual(r.items.map((i) => [i.outcome, i.reason]), [["sent", null]]);
    assert.equal(gate.calls, 1);
    assert.deepEqual(await ls(dir), ["failed", "tmp"]);
  });

  test("a delivering flusher refreshes its claim, so one that cannot check it (other host) does not take it over", async () => {
    const { dir, queue } = setup({ now: Date.now, staleClaimMs: 600 });
    const id = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    const gate = holdOpen();
    const first = queue.flush({ deliver: gate.deliver });
    await gate.inside;
    await new Promise((r) => setTimeout(r, 1500)); // 2.5 × staleClaimMs since the claim was made
    const elsewhere = new Queue({ dir, host: hostWith(host, { hostname: () => "elsewhere.example" }), staleClaimMs: 600 });
    const calls: { id: string; pending: readonly string[]; data: string }[] = [];
    const s = await elsewhere.flush({ deliver: accepting(calls), force: true });
    assert.deepEqual(s.items.map((i) => [i.id, i.outcome, i.reason]), [[id, "skipped", "busy"]]);
    assert.equal(calls.length, 0);
    gate.release();
    assert.deepEqual((await first).items.map((i) => [i.outcome, i.reason]), [["sent", null]]);
    assert.deepEqual(await ls(dir), ["failed", "tmp"]);
  });

  test("a claim that vanished after the server's 250 is reported sent, not deferred; the new holder's files stay", async () => {
    const { dir, queue } = setup();
    const id = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    const taken = `${id}.claim.00000000-1-0-${Date.now().toString(36)}-zzzzzz`;
    const s = await queue.flush({
      deliver: async (_e, data, pending) => {
        await readAll(data);
        const mine = (await fs.readdir(dir)).find((n) => n.startsWith(`${id}.claim.`))!;
        await fs.rename(path.join(dir, mine), path.join(dir, taken)); // another flusher takes it over
        return { accepted: pending.map((a) => rr(a, 250)), rejected: [], reply: reply(250), octets: 1 };
      },
    });
    assert.equal(s.sent, 1, JSON.stringify(s.items));
    assert.equal(s.deferred, 0);
    assert.match(s.items[0]!.reason ?? "", /another flusher had taken the entry over/);
    assert.deepEqual(s.items[0]!.delivered, ["b@y.test"]);
    assert.deepEqual(await ls(dir), [taken, `${id}.eml`, "failed", "tmp"].sort());
  });

  test("an interrupted move to failed/ is completed by the next flush", async () => {
    const { dir, queue } = setup();
    const id = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    // Make the failed record the way #moveAside does, then "crash" before the message moves.
    await queue.flush({
      deliver: failing(new ReplyError("550 no", { code: 550, enhanced: null, lines: ["no"] }, "rcpt")),
    });
    const failedJson = await fs.readFile(path.join(dir, "failed", `${id}.json`));
    await fs.rename(path.join(dir, "failed", `${id}.eml`), path.join(dir, `${id}.eml`));
    const pid = await deadPid();
    await fs.writeFile(path.join(dir, `${id}.claim.${await hostTagOf(dir, queue)}-${pid}-0-${Date.now().toString(36)}-abcdef`), failedJson);
    const s = await queue.flush({ deliver: accepting() });
    assert.deepEqual(s.items.map((i) => i.outcome), ["failed"]);
    assert.deepEqual(await ls(dir), ["failed", "tmp"]);
    assert.deepEqual(await ls(path.join(dir, "failed")), [`${id}.eml`, `${id}.json`]);
  });

  test("an entry whose message file vanished is moved aside as unreadable", async () => {
    const { dir, queue } = setup();
    const id = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    await fs.rm(path.join(dir, `${id}.eml`));
    const s = await queue.flush({ deliver: accepting() });
    assert.equal(s.failed, 1);
    assert.equal((await queue.get(id))?.failReason, "unreadable");
  });

  test("cleanup() removes old orphan message files and temp files of dead writers, and nothing else", async () => {
    const { dir, clock, queue } = setup({ orphanAgeMs: 15 * 60_000 });
    const keep = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    const pid = await deadPid();
    const tag = await hostTagOf(dir, queue);
    await fs.writeFile(path.join(dir, "aaaaaaaaaaaaaaaaa.eml"), MSG, { mode: 0o600 }); // orphan: no envelope
    await fs.writeFile(path.join(dir, "tmp", `bbbbbbbbbbbbbbbbb.eml.${tag}-${pid}-0-xyz`), "half");
    await fs.writeFile(path.join(dir, "tmp", `ccccccccccccccccc.eml.${tag}-${process.pid}-0-xyz`), "live writer (us)");
    await fs.writeFile(path.join(dir, "unrelated.txt"), "not ours");
    assert.equal(await queue.cleanup(), 1); // only the dead writer's temp file: the orphan is too young
    clock.t = Date.now() + 15 * 60_000;
    assert.equal(await queue.cleanup(), 1); // now the orphan too
    assert.deepEqual(await ls(dir), [`${keep}.eml`, `${keep}.json`, "failed", "tmp", "unrelated.txt"]);
    assert.deepEqual(await ls(path.join(dir, "tmp")), [`ccccccccccccccccc.eml.${tag}-${process.pid}-0-xyz`]);
    assert.deepEqual((await queue.list()).map((e) => e.id), [keep]);
  });

  test("list() and flush() ignore a message file without an envelope", async () => {
    const { dir, queue } = setup();
    await queue.list(); // creates the directory
    await fs.writeFile(path.join(dir, "aaaaaaaaaaaaaaaaa.eml"), MSG, { mode: 0o600 });
    assert.deepEqual(await queue.list(), []);
    const s = await queue.flush({ deliver: accepting(), force: true });
    assert.equal(s.items.length, 0);
  });

  test("a tampered record (CR/LF in an address, wrong id, bad JSON) is never used", async () => {
    const { dir, queue } = setup();
    const id = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    const file = path.join(dir, `${id}.json`);
    const doc = JSON.parse(await fs.readFile(file, "utf8"));
    doc.recipients[0].address = "b@y.test>\r\nRCPT TO:<evil@z.test";
    await fs.writeFile(file, JSON.stringify(doc));
    assert.deepEqual(await queue.list(), []);
    const calls: { id: string; pending: readonly string[]; data: string }[] = [];
    const s = await queue.flush({ deliver: accepting(calls), force: true });
    assert.equal(calls.length, 0);
    assert.match(s.items[0]!.reason!, /unreadable.*control character/);
    await fs.writeFile(file, "{\"v\":1, \"id\": \"x\" ");
    assert.deepEqual(await queue.list(), []);
    assert.equal((await queue.flush({ deliver: accepting(calls), force: true })).items[0]!.outcome, "skipped");
    assert.ok(await fs.stat(file)); // left for a human to look at
  });
});

describe("Queue.remove() and listing", () => {
  test("remove() deletes a queued entry, a failed entry, and reports unknown ids", async () => {
    const { dir, queue } = setup();
    const a = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    const b = await queue.enqueue({ from: "a@x.test", to: ["c@y.test"] }, MSG);
    await queue.flush({
      ids: [b],
      deliver: failing(new ReplyError("550", { code: 550, enhanced: null, lines: ["no"] }, "mail")),
    });
    assert.equal(await queue.remove(a), true);
    assert.equal(await queue.remove(b), true);
    assert.equal(await queue.remove(a), false);
    assert.equal(await queue.remove("../../etc/passwd"), false);
    assert.deepEqual(await ls(dir), ["failed", "tmp"]);
    assert.deepEqual(await ls(path.join(dir, "failed")), []);
  });

  test("list() reports id, age, size, sender, recipients, attempts, last error and next attempt, oldest first", async () => {
    const { clock, queue } = setup();
    const first = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"], account: "work" }, MSG);
    clock.t += 5000;
    const second = await queue.enqueue({ from: "c@x.test", to: ["d@y.test", "e@y.test"] }, enc.encode("x"));
    await queue.flush({ ids: [first], deliver: failing(new ConnectionError("Connection refused")) });
    clock.t += 1000;
    const entries: QueueEntry[] = await queue.list();
    assert.deepEqual(entries.map((e) => e.id), [first, second]);
    const [e1, e2] = entries;
    assert.equal(e1!.age, 6000);
    assert.equal(e1!.size, MSG.length);
    assert.equal(e1!.account, "work");
    assert.equal(e1!.attempts, 1);
    assert.equal(e1!.nextAttemptAt, clock.t - 1000 + 1000);
    assert.match(e1!.lastError!.message, /Connection refused/);
    assert.equal(e2!.attempts, 0);
    assert.equal(e2!.lastError, null);
    assert.deepEqual(e2!.recipients.map((r) => r.address), ["d@y.test", "e@y.test"]);
    const text = formatEntries(entries);
    assert.match(text, new RegExp(`^${first} +${MSG.length} .* a@x\\.test$`, "m"));
    assert.match(text, /\(Connection refused\)/);
    assert.match(text, /attempts: 1, next attempt: .*account: work/);
    assert.match(text, /^ +e@y\.test$/m);
    assert.match(text, /-- 1 Kbytes in 2 Requests\.$/m);
    assert.equal(formatEntries([]), "Mail queue is empty\n");
  });

  test("flush({ ids }) touches only the given entries; a thrown onProgress does not break it", async () => {
    const { queue } = setup();
    const a = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    const b = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    const s = await queue.flush({ ids: [b], deliver: accepting(), onProgress: () => { throw new Error("tty gone"); } });
    assert.deepEqual(s.items.map((i) => [i.id, i.outcome]), [[b, "sent"]]);
    assert.deepEqual((await queue.list()).map((e) => e.id), [a]);
  });
});

/** `base` with some methods replaced (the adapters keep methods on a prototype: bind each one). */
function hostWith(base: Host, over: Partial<Host>): Host {
  const h: Record<string, unknown> = {};
  for (const key of HOST_METHODS) {
    const fn = base[key] as unknown as (...a: unknown[]) => unknown;
    if (typeof fn === "function") h[key] = over[key] ?? fn.bind(base);
  }
  return h as unknown as Host;
}

/** A deliver function that waits inside until released; counts its calls. */
function holdOpen() {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let started!: () => void;
  const inside = new Promise<void>((r) => (started = r));
  const state = {
    calls: 0,
    inside,
    release: () => release(),
    deliver: (async (_e, data, pending) => {
      state.calls++;
      started();
      await gate;
      await readAll(data);
      return { accepted: pending.map((a) => rr(a, 250)), rejected: [], reply: reply(250), octets: 1 };
    }) as DeliverFunction,
  };
  return state;
}

/** The host tag our queue uses in claim names, learnt from a claim it makes. */
async function hostTagOf(dir: string, queue: Queue): Promise<string> {
  let tag = "";
  const id = await queue.enqueue({ from: "probe@x.test", to: ["probe@y.test"] }, MSG);
  await queue.flush({
    ids: [id],
    deliver: async (_e, data, pending) => {
      const claim = (await fs.readdir(dir)).find((n) => n.startsWith(`${id}.claim.`))!;
      tag = claim.split(".")[2]!.split("-")[0]!;
      await readAll(data);
      return { accepted: pending.map((a) => rr(a, 250)), rejected: [], reply: reply(250), octets: 1 };
    },
  });
  return tag;
}

describe("FlushItem.error and ReplyError.rejected", () => {
  test("a deferred item carries what the delivery threw (maybeDelivered stays readable)", async () => {
    const { queue } = setup();
    const id = await queue.enqueue({ from: "a@x.test", to: ["b@y.test"] }, MSG);
    const lost = new ConnectionError("Connection lost after the end of the message", { phase: "message", maybeDelivered: true });
    const summary = await queue.flush({ force: true, deliver: failing(lost) });
    assert.equal(summary.items.length, 1);
    assert.equal(summary.items[0]!.id, id);
    assert.equal(summary.items[0]!.outcome, "deferred");
    assert.equal(summary.items[0]!.error, lost);
  });

  test("a refusal of every recipient (ReplyError with its typed rejected list) fails each recipient with its own reply", async () => {
    const { queue } = setup();
    await queue.enqueue({ from: "a@x.test", to: ["b@y.test", "c@y.test"] }, MSG);
    const rejected = [rr("b@y.test", 550, "5.1.1 no such user", "5.1.1"), rr("c@y.test", 553, "5.7.1 not here", "5.7.1")];
    const err = new ReplyError("No recipient accepted", { code: 550, enhanced: "5.1.1", lines: ["no"] }, "rcpt", rejected);
    assert.deepEqual(err.rejected, rejected);
    const summary = await queue.flush({ force: true, deliver: failing(err) });
    const item = summary.items[0]!;
    assert.equal(item.outcome, "failed");
    assert.equal(item.error, err);
    assert.deepEqual([...item.failed].sort(), ["b@y.test", "c@y.test"]);
    const [entry] = await queue.list({ includeFailed: true });
    assert.deepEqual(entry!.recipients.map((r) => [r.address, r.code, r.message]), [
      ["b@y.test", 550, "5.1.1 no such user"],
      ["c@y.test", 553, "5.7.1 not here"],
    ]);
  });
});
