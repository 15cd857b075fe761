/**
 * The runtime's Host (files, processes, terminal) as `runtime()` picks it,
 * on Node, Bun and Deno alike.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { detectRuntime, type Host, runtime } from "../deps.ts";
import { TimeoutError } from "../src/errors.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const posix = (globalThis as { process?: { platform?: string } }).process?.platform !== "win32";

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: string }).code;
  }
  assert.fail("expected a rejection");
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  const out = new Uint8Array(parts.reduce((n, c) => n + c.byteLength, 0));
  let off = 0;
  for (const c of parts) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

async function* chunks(n: number, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < n; i++) yield new Uint8Array(size).fill(65 + (i % 26));
}

let host: Host;
let dir: string;

describe("host", () => {
  before(async () => {
    const rt = await runtime();
    assert.equal(rt.name, detectRuntime());
    host = rt.host;
    dir = mkdtempSync(join(tmpdir(), "smtpsend-host-"));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("env, homeDir, hostname, pid", () => {
    assert.equal(typeof host.env("PATH"), "string");
    assert.equal(host.env("SMTPSEND_SURELY_UNSET_VARIABLE"), undefined);
    assert.ok(host.homeDir());
    assert.ok(host.hostname().length > 0);
    assert.ok(Number.isInteger(host.pid()) && host.pid() > 0);
  });

  test("writeFile exclusive creates, then fails with EEXIST", async () => {
    const p = join(dir, "excl");
    await host.writeFile(p, enc.encode("one"), { exclusive: true, mode: 0o600 });
    assert.equal(await codeOf(host.writeFile(p, enc.encode("two"), { exclusive: true })), "EEXIST");
    assert.equal(dec.decode(await host.readFile(p)), "one");
  });

  test("writeFile honours mode 0600 on creation", { skip: !posix }, async () => {
    const p = join(dir, "secret");
    await host.writeFile(p, enc.encode("pw"), { mode: 0o600 });
    const st = await host.stat(p);
    assert.equal(st?.mode, 0o600);
    assert.equal(st?.isFile, true);
    assert.equal(st?.isDirectory, false);
    assert.equal(st?.size, 2);
  });

  test("writeFile streams an async iterable and fsyncs", async () => {
    const p = join(dir, "streamed");
    await host.writeFile(p, chunks(40, 10_000), { sync: true });
    const back = await host.readFile(p);
    assert.equal(back.byteLength, 400_000);
    assert.equal(back[0], 65);
    assert.equal(back[399_999], 65 + (39 % 26));
  });

  test("readStream yields the file in chunks", async () => {
    const p = join(dir, "big");
    const data = new Uint8Array(300_000).map((_, i) => i & 0xff);
    await host.writeFile(p, data);
    let count = 0;
    const parts: Uint8Array[] = [];
    for await (const c of host.readStream(p)) {
      count++;
      parts.push(c);
    }
    assert.ok(count > 1, "more than one chunk");
    assert.deepEqual(await collect((async function* () { yield* parts; })()), data);
    assert.equal(await codeOf(collect(host.readStream(join(dir, "missing")))), "ENOENT");
  });

  test("appendFile creates with 0600 and appends", async () => {
    const p = join(dir, "log");
    await host.appendFile(p, enc.encode("a\n"));
    await host.appendFile(p, enc.encode("b\n"));
    assert.equal(dec.decode(await host.readFile(p)), "a\nb\n");
    if (posix) assert.equal((await host.stat(p))?.mode, 0o600);
  });

  test("stat is null for a missing path; readFile fails with ENOENT", async () => {
    assert.equal(await host.stat(join(dir, "nope")), null);
    assert.equal(await host.stat(join(dir, "nope", "deeper")), null);
    assert.equal(await codeOf(host.readFile(join(dir, "nope"))), "ENOENT");
  });

  test("mkdir, rename, readDir, remove, syncDir", async () => {
    const q = join(dir, "queue", "new");
    await host.mkdir(q, { recursive: true, mode: 0o700 });
    if (posix) assert.equal((await host.stat(q))?.mode, 0o700);
    assert.equal((await host.stat(q))?.isDirectory, true);
    await host.writeFile(join(q, "tmp-1"), enc.encode("m1"), { exclusive: true, sync: true });
    await host.writeFile(join(q, "tmp-2"), enc.encode("m2"), { exclusive: true, sync: true });
    await host.rename(join(q, "tmp-1"), join(q, "msg-1"));
    await host.syncDir(q);
    assert.deepEqual((await host.readDir(q)).sort(), ["msg-1", "tmp-2"]);
    assert.equal(dec.decode(await host.readFile(join(q, "msg-1"))), "m1");
    await host.remove(join(q, "tmp-2"));
    assert.deepEqual(await host.readDir(q), ["msg-1"]);
    await host.remove(join(q, "tmp-2"), { force: true });
    assert.equal(await codeOf(host.remove(join(q, "tmp-2"))), "ENOENT");
    assert.equal(await codeOf(host.mkdir(q)), "EEXIST");
    assert.equal(await codeOf(host.readDir(join(dir, "nope"))), "ENOENT");
  });

  test("run() passes argv without a shell", { skip: !posix }, async () => {
    const marker = join(dir, "pwned");
    const arg = `$(touch ${marker}); touch ${marker} \`touch ${marker}\``;
    const r = await host.run(["printf", "%s|%s", arg, "*"]);
    assert.equal(r.status, 0);
    assert.equal(dec.decode(r.stdout), `${arg}|*`);
    assert.equal(existsSync(marker), false, "no shell ran the substitution");
  });

  test("run() feeds stdin bytes and collects stdout", { skip: !posix }, async () => {
    const r = await host.run(["cat"], { stdin: enc.encode("hello\nworld\n") });
    assert.equal(r.status, 0);
    assert.equal(dec.decode(r.stdout), "hello\nworld\n");
    assert.equal(r.stderr.byteLength, 0);
  });

  test("run() feeds a large async iterable stdin (back-pressure)", { skip: !posix }, async () => {
    const r = await host.run(["wc", "-c"], { stdin: chunks(64, 32_768) });
    assert.equal(r.status, 0);
    assert.equal(dec.decode(r.stdout).trim(), String(64 * 32_768));
  });

  test("run() reports the exit status, stderr, env and signals", { skip: !posix }, async () => {
    const r = await host.run(["sh", "-c", 'printf "%s" "$SMTPSEND_T" >&2; exit 3'], { env: { SMTPSEND_T: "v1" } });
    assert.equal(r.status, 3);
    assert.equal(dec.decode(r.stderr), "v1");
    const killed = await host.run(["sh", "-c", "kill -TERM $$"]);
    assert.equal(killed.status, null);
  });

  test("run() with a child that ignores its stdin", { skip: !posix }, async () => {
    const r = await host.run(["true"], { stdin: chunks(64, 65_536) });
    assert.equal(r.status, 0);
  });

  test("run() times out with TimeoutError and kills the child", { skip: !posix }, async () => {
    const started = Date.now();
    await assert.rejects(host.run(["sleep", "30"], { timeoutMs: 200 }), (e: unknown) => {
      assert.ok(e instanceof TimeoutError, String(e));
      assert.equal(e.timeoutMs, 200);
      return true;
    });
    assert.ok(Date.now() - started < 10_000);
  });

  test("run() of a missing command fails with ENOENT", async () => {
    assert.equal(await codeOf(host.run([join(dir, "no-such-command")])), "ENOENT");
  });

  test("isTerminal answers for each stream; prompt() is null without a terminal", async () => {
    for (const s of ["stdin", "stdout", "stderr"] as const) assert.equal(typeof host.isTerminal(s), "boolean");
    if (!host.isTerminal("stdin")) assert.equal(await host.prompt("Password: ", { echo: false }), null);
  });
});
