/**
 * The real command against the real test servers (scripts/test-servers.sh:
 * Postfix with Dovecot SASL, smtp-sink fault ports), on the runtime running
 * this file: under Node the built `bin/smtpsend.js` (or `cli.ts` through tsx
 * when it is not built), under Bun `bun cli.ts`, under Deno
 * `deno run -A cli.ts` — each as a child process with its own HOME, a config
 * file, and the message on standard input. Plus the on-demand
 * authentication path in-process with the runtime's real connector.
 *
 * Skipped (with the reason) when the servers or the runtime adapter are not
 * there. `npm test` starts the servers and builds first.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { detectRuntime, runtime } from "../deps.ts";
import { main } from "../src/cli/main.ts";
import { FakeHost } from "./support/fake_host.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const RT = detectRuntime();

/** The servers' env file, from the environment (npm test) or the state directory. */
function serverEnv(): Record<string, string> | null {
  if (process.env.SMTPSEND_TEST_SUBMISSION_PORT) {
    return Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("SMTPSEND_TEST_"))) as Record<string, string>;
  }
  const file = join(process.env.SMTPSEND_TEST_DIR ?? "/tmp/smtpsend-test", "env");
  if (!existsSync(file)) return null;
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  return env.SMTPSEND_TEST_SUBMISSION_PORT ? env : null;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
    setTimeout(() => done(false), 2000);
  });
}

const E = serverEnv();
const port = (name: string): number => Number(E![`SMTPSEND_TEST_${name}_PORT`]);
// Like every interop test, this one fails (never skips) without the servers.
if (!E) throw new Error("The test servers are not running: start them with scripts/test-servers.sh start, or run npm test");

/** The command line that runs the CLI on this runtime. */
function cliCommand(): string[] {
  const exe = process.execPath;
  if (RT === "deno") return [exe, "run", "-A", "--quiet", join(ROOT, "cli.ts")];
  if (RT === "bun") return [exe, join(ROOT, "cli.ts")];
  const bin = join(ROOT, "bin/smtpsend.js");
  return existsSync(bin) ? [exe, bin] : [exe, "--import", "tsx", join(ROOT, "cli.ts")];
}

// Made up front so that no failure path can leave `base` empty (homes would land in the working directory).
const base = mkdtempSync(join(tmpdir(), "smtpsend-e2e-"));
let home = "";

/** A fresh, empty HOME for the next runs (no configuration left over from another test). */
function freshHome(): string {
  home = mkdtempSync(join(base, "home-"));
  return home;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function smtpsend(args: string[], input: string, extraEnv: Record<string, string> = {}): Promise<Run> {
  const [cmd, ...pre] = cliCommand();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, [...pre, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, USER: "tester", NO_COLOR: "1", ...extraEnv },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Uint8Array) => (stdout += new TextDecoder().decode(c)));
    child.stderr.on("data", (c: Uint8Array) => (stderr += new TextDecoder().decode(c)));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin.on("error", () => {});
    child.stdin.end(input);
  });
}

/** Runs the CLI with standard input from an open file descriptor (`smtpsend … < file`), as a shell would. */
function smtpsendFromFd(args: string[], fd: number): Promise<Run> {
  const [cmd, ...pre] = cliCommand();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, [...pre, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, USER: "tester", NO_COLOR: "1" },
      stdio: [fd, "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (c: Uint8Array) => (stdout += new TextDecoder().decode(c)));
    child.stderr!.on("data", (c: Uint8Array) => (stderr += new TextDecoder().decode(c)));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

function writeHome(name: string, text: string): string {
  const p = join(home, name);
  writeFileSync(p, text, { mode: 0o600 });
  return p;
}

/** Waits for a message containing `token` in the maildir of `user`. */
async function delivered(user: string, token: string): Promise<string | null> {
  const base = join(E!.SMTPSEND_TEST_MAIL_BASE!, user);
  for (let i = 0; i < 100; i++) {
    for (const sub of ["new", "cur"]) {
      const dir = join(base, sub);
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir)) {
        const text = readFileSync(join(dir, f), "utf8");
        if (text.includes(token)) return text;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

function token(): string {
  return `tok-${RT}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

function b64(s: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(s)));
}

describe(`smtpsend (${RT}) against the real test servers`, () => {
  before(async () => {
    assert.ok(await listening(port("SUBMISSION")), "the test servers do not answer");
  });
  after(() => {
    rmSync(base, { recursive: true, force: true });
  });

  const user = () => E!.SMTPSEND_TEST_USER!;
  const pass = () => E!.SMTPSEND_TEST_PASSWORD!;
  const ca = () => E!.SMTPSEND_TEST_CA!;

  test("STARTTLS + SASL from ~/.smtpsendrc: the message lands in the maildir; the -v trace holds no secret", async () => {
    freshHome();
    writeHome(
      ".smtpsendrc",
      `hostname 127.0.0.1:${port("SUBMISSION")}\nusername "${user()}"\npassword "${pass()}"\nstarttls required\nca_file "${ca()}"\n`,
    );
    const tok = token();
    const r = await smtpsend(["-v", "-f", user(), "user@smtpsend.test"], `From: Alice <${user()}>\nTo: user@smtpsend.test\nSubject: ${tok}\n\nbody ${tok}\n`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /-> STARTTLS/);
    assert.match(r.stderr, /-- TLS established: /);
    assert.match(r.stderr, /-> AUTH \S+/);
    assert.match(r.stderr, /<- 235 /);
    for (const s of [pass(), b64(pass()), b64(`\0${user()}\0${pass()}`)]) assert.ok(!r.stderr.includes(s), "secret in the trace");
    const mail = await delivered("user", tok);
    assert.ok(mail, "message not delivered");
    assert.match(mail!, /^Message-ID: </m);
    assert.match(mail!, /^Date: /m);
  });

  test("an msmtprc account (tls on, tls_trust_file) and -t", async () => {
    freshHome();
    writeHome(
      ".msmtprc",
      `defaults\ntls on\ntls_trust_file ${ca()}\n\naccount alice\nhost 127.0.0.1\nport ${port("SUBMISSION")}\nfrom ${user()}\nauth on\nuser ${user()}\npassword ${pass()}\n\naccount default : alice\n`,
    );
    const tok = token();
    const r = await smtpsend(["-t", "-i"], `From: ${user()}\nTo: user@smtpsend.test\nBcc: bob@smtpsend.test\nSubject: ${tok}\n\n.\nbody\n`);
    assert.equal(r.status, 0, r.stderr);
    const mail = await delivered("user", tok);
    assert.ok(mail, "message not delivered");
    assert.ok(!/^Bcc:/m.test(mail!));
    assert.match(mail!, /\n\.\nbody\n/); // the lone dot is data (with -i or without)
    assert.ok(await delivered("bob", tok), "Bcc recipient did not get it");
  });

  test("implicit TLS with the password from ~/.authinfo (--host/--port/--tls/--ca-file)", async () => {
    freshHome();
    writeHome(".authinfo", `machine 127.0.0.1 port ${port("SUBMISSIONS")} login ${user()} password ${pass()}\n`);
    const tok = token();
    const r = await smtpsend(
      ["--host", "127.0.0.1", "--port", String(port("SUBMISSIONS")), "--tls", "implicit", "--ca-file", ca(), "-f", user(), "user@smtpsend.test"],
      `Subject: ${tok}\n\nbody\n`,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.ok(await delivered("user", tok), "message not delivered");
  });

  /** The queue records (`.json`) in HOME's default queue directory. */
  function queueRecords(): { id: string; text: string }[] {
    const dir = join(home, "Mail/queued-mail");
    if (!existsSync(dir)) return [];
    return readdirSync(dir).filter((f) => f.endsWith(".json")).map((f) => ({ id: f.slice(0, -5), text: readFileSync(join(dir, f), "utf8") }));
  }

  test("--queue with one-off --host/--port/--tls/--ca-file/--user/--password-eval, then a plain -q without any configuration: delivered", async () => {
    freshHome();
    const pwFile = writeHome("pw", `${pass()}\n`);
    const tok = token();
    const r = await smtpsend(
      [
        "--queue", "--host", "127.0.0.1", "--port", String(port("SUBMISSION")), "--tls", "starttls", "--ca-file", ca(),
        "--user", user(), "--password-eval", `cat ${pwFile}`, "--helo", "queue-test.smtpsend.test", "-f", user(), "user@smtpsend.test",
      ],
      `Subject: ${tok}\n\nqueued with one-off flags\n`,
    );
    assert.equal(r.status, 0, r.stderr);
    const records = queueRecords();
    assert.equal(records.length, 1);
    const rec = records[0]!;
    assert.ok(!rec.text.includes(pass()) && !rec.text.includes(b64(pass())), "the record holds no password");
    assert.deepEqual(JSON.parse(rec.text).server, {
      host: "127.0.0.1",
      port: port("SUBMISSION"),
      tls: "starttls-required",
      caFile: ca(),
      user: user(),
      passwordCommand: ["/bin/sh", "-c", `cat ${pwFile}`],
      helo: "queue-test.smtpsend.test",
    });

    const q = await smtpsend(["-q"], "");
    assert.equal(q.status, 0, q.stderr);
    const mail = await delivered("user", tok);
    assert.ok(mail, "message not delivered");
    assert.match(mail!, /\(using TLS[\s\S]*with ESMTPSA/);
    assert.match(mail!, /from queue-test\.smtpsend\.test/);
    assert.deepEqual(queueRecords(), [], "the entry is gone after delivery");
  });

  test("--queue with --user and no password: the password comes from ~/.authinfo written after queueing", async () => {
    freshHome();
    const tok = token();
    const r = await smtpsend(
      ["-odq", "--host", "127.0.0.1", "--port", String(port("SUBMISSIONS")), "--tls", "implicit", "--ca-file", ca(), "--user", user(), "-f", user(), "user@smtpsend.test"],
      `Subject: ${tok}\n\nbody\n`,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(queueRecords().length, 1);
    writeHome(".authinfo", `machine 127.0.0.1 port ${port("SUBMISSIONS")} login ${user()} password ${pass()}\n`);
    const q = await smtpsend(["-q"], "");
    assert.equal(q.status, 0, q.stderr);
    assert.ok(await delivered("user", tok), "message not delivered");
    assert.deepEqual(queueRecords(), []);
  });

  test("standard input from a file: SIZE= with its size goes to Postfix (also for a file partly read before); from a pipe: no SIZE=", async () => {
    freshHome();
    writeHome(
      ".smtpsendrc",
      `hostname 127.0.0.1:${port("SUBMISSION")}\nusername "${user()}"\npassword "${pass()}"\nstarttls required\nca_file "${ca()}"\n`,
    );
    const mailFrom = (trace: string): string => /^-> MAIL FROM:.*$/m.exec(trace)?.[0] ?? "(no MAIL FROM in the trace)";
    // A file partly read before (e.g. `(read line; smtpsend …) < file`): SIZE= counts only the rest. Not on
    // Bun: its process.stdin reads a regular file from offset 0, ignoring the inherited file offset (Bun
    // 1.4.5; `(read l; bun -e '…process.stdin…') < f` prints the line already read), a runtime-adapter matter.
    for (const skip of RT === "bun" ? [""] : ["", "already read by the caller\n"]) {
      const tok = token();
      // Date:, Message-ID: and From: present and CRLF line ends: what is sent is exactly the file's rest.
      const message = `From: <${user()}>\r\nTo: user@smtpsend.test\r\nDate: Fri, 02 Jan 2026 03:04:05 +0000\r\n` +
        `Message-ID: <${tok}@smtpsend.test>\r\nSubject: ${tok}\r\n\r\nfrom a file\r\n.\r\n${"line\r\n".repeat(500)}`;
      const file = writeHome(`m-${tok}.eml`, skip + message);
      const fd = openSync(file, "r");
      try {
        if (skip) assert.equal(readSync(fd, new Uint8Array(skip.length)), skip.length);
        const r = await smtpsendFromFd(["-v", "-t"], fd);
        assert.equal(r.status, 0, r.stderr);
        const sent = mailFrom(r.stderr);
        assert.ok(sent.startsWith(`-> MAIL FROM:<${user()}> `), sent);
        assert.equal(/ SIZE=(\d+)/.exec(sent)?.[1], String(message.length), sent);
      } finally {
        closeSync(fd);
      }
      const mail = await delivered("user", tok);
      assert.ok(mail, "message not delivered");
      assert.ok(mail!.endsWith(message.replaceAll("\r\n", "\n")), "delivered whole");
    }
    const tok = token();
    const r = await smtpsend(["-v", "-f", user(), "user@smtpsend.test"], `Subject: ${tok}\n\nfrom a pipe\n`);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(mailFrom(r.stderr), /SIZE=/);
  });

  test("--serverinfo on the STARTTLS port: greeting, TLS, certificate, capabilities", async () => {
    freshHome();
    const r = await smtpsend(["--serverinfo", "--host", "127.0.0.1", "--port", String(port("SUBMISSION")), "--tls", "starttls", "--ca-file", ca()], "");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ {4}220 mx\.smtpsend\.test ESMTP Postfix/m);
    // Deno does not tell the protocol version or cipher.
    assert.match(r.stdout, RT === "deno" ? /^ {4}Protocol: /m : /^ {4}Protocol: TLSv1\.[23]$/m);
    assert.match(r.stdout, /Certificate subject: .*localhost/);
    assert.match(r.stdout, /Certificate issuer: .*smtpsend test CA/);
    assert.match(r.stdout, /^Authentication mechanisms: .*PLAIN/m);
    assert.match(r.stdout, /^Maximum message size: 10485760 octets/m);
  });

  const faults: [string, () => string[], number, RegExp][] = [
    ["every recipient 550 5.1.1 (smtp-sink) → 67", () => ["--port", String(port("SINK_REJECT_RCPT"))], 67, /550/],
    ["every recipient 450 → 75", () => ["--port", String(port("SINK_TEMPFAIL_RCPT"))], 75, /450/],
    ["MAIL refused with 5xx → 65", () => ["--port", String(port("SINK_REJECT_MAIL"))], 65, /refused/],
    ["end of data refused with 5xx → 65", () => ["--port", String(port("SINK_REJECT_DOT"))], 65, /refused/],
    ["greeting 554 → 69", () => ["--port", String(port("SINK_REJECT_CONNECT"))], 69, /554/],
    ["greeting 421 → 75", () => ["--port", String(port("SINK_421_CONNECT"))], 75, /421/],
    ["connection closed before the greeting → 75", () => ["--port", String(port("SINK_DROP_CONNECT"))], 75, /closed/],
    ["slow greeting past --timeout → 75", () => ["--port", String(port("SINK_SLOW_GREETING")), "--timeout", "1"], 75, /Timed out|took longer|within/],
    ["nothing listening → 75", () => ["--port", "1"], 75, /refused|ECONNREFUSED/i],
    ["a name that does not resolve → 68", () => ["--host", "no-such-host.invalid", "--port", "25"], 68, /not found|ENOTFOUND|not known/],
    ["the submission port without credentials (530 to MAIL, no terminal) → 77", () => [
      "--port", String(port("SUBMISSION")), "--tls", "starttls", "--ca-file", ca(),
    ], 77, /requires authentication .*530/],
    ["a certificate from an unknown CA → 69", () => ["--port", String(port("UNKNOWNCA")), "--tls", "starttls", "--ca-file", ca()], 69, /certif/i],
  ];
  for (const [name, args, code, pattern] of faults) {
    test(name, async () => {
    freshHome();
      const argv = args();
      if (!argv.includes("--host")) argv.unshift("--host", "127.0.0.1");
      const r = await smtpsend([...argv, "-f", "me@smtpsend.test", "user@smtpsend.test"], "Subject: fault\n\nbody\n");
      assert.equal(r.status, code, r.stderr);
      assert.match(r.stderr, /^smtpsend: /);
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, pattern);
    });
  }

  test("on-demand authentication in-process: 530 → prompt → reconnect with AUTH → delivered, credentials saved", async () => {
    freshHome();
    const rt = await runtime();
    const tok = token();
    const host = new FakeHost({
      files: {
        "/home/user/.smtpsendrc": { text: `hostname 127.0.0.1:${port("SUBMISSION")}\nstarttls required\nca_file /ca.pem\n`, mode: 0o600 },
        "/ca.pem": { text: readFileSync(ca(), "utf8"), mode: 0o644 },
      },
      stdin: `From: ${user()}\nSubject: ${tok}\n\nbody\n`,
      terminals: ["stderr"],
      prompts: [user(), pass(), "yes"],
    });
    const code = await main(["-v", "user@smtpsend.test"], { host, connector: rt.connector });
    assert.equal(code, 0, host.stderr);
    assert.match(host.stderr, /<- 530 5\.7\.0 .*Authentication required/);
    assert.match(host.stderr, /requires authentication; getting credentials and reconnecting/);
    assert.equal(host.stderr.match(/-- connecting to/g)?.length, 2);
    assert.ok(!host.stderr.includes(pass()));
    assert.ok(await delivered("user", tok), "message not delivered");
    assert.equal(host.fileText("/home/user/.authinfo"), `machine 127.0.0.1 port ${port("SUBMISSION")} login ${user()} password ${pass()}\n`);
    assert.equal(host.fileMode("/home/user/.authinfo"), 0o600);
  });

  // Last, and as the second test user with one forced mechanism: Dovecot delays
  // authentication after failures, which would slow the tests that follow.
  test("a wrong password on the submission port → 77", async () => {
    freshHome();
    const r = await smtpsend([
      "--host", "127.0.0.1", "--port", String(port("SUBMISSION")), "--tls", "starttls", "--ca-file", ca(),
      "--user", E!.SMTPSEND_TEST_USER2!, "--auth", "plain", "--password-eval", "echo wrong-password",
      "-f", "me@smtpsend.test", "user@smtpsend.test",
    ], "Subject: fault\n\nbody\n");
    assert.equal(r.status, 77, r.stderr);
    assert.match(r.stderr, /^smtpsend: Authentication with PLAIN failed: 535 /);
    assert.ok(!r.stderr.includes("wrong-password"));
  });
});
