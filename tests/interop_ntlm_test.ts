/**
 * NTLM against a real server: Exim 4.96's `spa` authenticator (Debian's exim4-daemon-heavy, GnuTLS),
 * started beside Postfix by scripts/test-servers.sh (tests/support/servers.ts, eximServer()). Exim's
 * spa verifies only the NTLMv1 response (as libesmtp/esmtp and libntlm send it), so smtpsend reaches
 * it only when NTLMv1 is asked for by name: `auth: { method: "NTLM", ntlmVersion: 1 }` in the
 * library, `auth ntlmv1` / `--auth ntlmv1` in the CLI. The default NTLM (NTLMv2) is refused by it.
 * Library and CLI run on the runtime running this file; nothing here is scripted by us.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { SmtpClient } from "../src/default_client.ts";
import { ReplyError } from "../src/errors.ts";
import type { ClientOptions, TraceEvent } from "../src/options.ts";
import { base64Decode, base64Encode, toHex } from "../src/sasl/bytes.ts";
import { NtlmMechanism, ntowfv1 } from "../src/sasl/ntlm.ts";
import { eximLogLines, eximServer, readEximMaildir, servers, waitForEximMessage } from "./support/servers.ts";
import { portRecorder } from "./support/tcp_state.ts";
import { runtimeCommand, testRuntime } from "./support/runtime_command.ts";
import { runtime } from "../deps.ts";
import { runCli } from "./support/run_cli.ts";

const S = servers();
const X = eximServer(); // throws (the file fails) when Exim is not running: never a silent skip
const USER = `user@${S.domain}`;
const RT = testRuntime();
let seq = 0;
const token = (what: string) => `${what}-${RT}-${Date.now().toString(36)}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
const quick = { connect: 5000, greeting: 5000, tls: 5000, mail: 5000, rcpt: 5000, data: 5000, dataBlock: 5000, dataEnd: 10000 };
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function tlsOpts(port: number, extra: Partial<ClientOptions> = {}): ClientOptions {
  return {
    host: S.host,
    port,
    tls: port === X.tlsPort ? "implicit" : "starttls-required",
    servername: S.tls.serverName,
    ca: S.tls.ca,
    timeouts: quick,
    name: "client.smtpsend.test",
    ...extra,
  };
}

function message(subject: string): string {
  return `From: ${X.user.user}\r\nTo: ${USER}\r\nSubject: ${subject}\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n` +
    `Message-ID: <${subject}@example.org>\r\n\r\nSent after AUTH NTLM (NTLMv1).\r\n`;
}

/** The AUTHENTICATE message smtpsend must have sent for a challenge (NTLMv1 is deterministic). */
function expectedAuthenticate(challengeLine: string, password: string): string {
  const m = new NtlmMechanism(X.user.user, password, {
    clientChallenge: () => {
      throw new Error("no client challenge in plain NTLMv1");
    },
    now: () => 0,
    version: 1,
  });
  m.start();
  return base64Encode(m.step(base64Decode(challengeLine.slice(4))));
}

/**
 * Exim's log lines for the latest session from one client port: from its last "SMTP connection
 * from [127.0.0.1]:PORT" line on (ports are reused, so older sessions must not count).
 */
function sessionLog(port: number): string {
  const lines = eximLogLines(port);
  let start = 0;
  lines.forEach((l, i) => {
    if (/SMTP connection from \[127\.0\.0\.1\]:\d+ \(TCP\/IP connection count/.test(l)) start = i;
  });
  return lines.slice(start).join("\n");
}

/** Secrets and password equivalents that must never appear in a trace or log. */
function secrets(password: string): string[] {
  return [password, base64Encode(new TextEncoder().encode(password)), toHex(ntowfv1(password))];
}

describe(`NTLM against Exim's spa authenticator (${RT})`, () => {
  for (const [name, port] of [["STARTTLS", X.port], ["implicit TLS", X.tlsPort]] as const) {
    test(`${name}: auth { method: "NTLM", ntlmVersion: 1 } gets 235 and the message is delivered`, async () => {
      const subject = token("exim-ntlm");
      const events: TraceEvent[] = [];
      const rec = portRecorder((await runtime()).connector);
      const client = await SmtpClient.connect(tlsOpts(port, {
        auth: { user: X.user.user, pass: X.user.password, method: "NTLM", ntlmVersion: 1 },
        connector: rec.connector,
        trace: (e) => events.push(e),
      }));
      try {
        assert.ok(client.serverInfo.tls, "over TLS");
        assert.equal(client.serverInfo.authenticated, "NTLM");
        await client.send({ from: X.user.user, to: [USER], data: message(subject) });
      } finally {
        await client.quit();
      }
      const got = await waitForEximMessage(USER, (m) => m.header("subject") === subject);
      assert.match(got.header("received") ?? "", /with esmtpsa\s+\(TLS1\.[23]\)/, "Exim received it authenticated, over TLS");
      const log = sessionLog(rec.ports[0]!);
      assert.match(log, new RegExp(`<= ${escape(X.user.user)} .*A=ntlm:${escape(X.user.user)}`), "Exim's ntlm (spa) authenticator accepted it");
      // The trace: AUTH NTLM with the payloads redacted, the server's challenge shown, no secret.
      const lines = events.map((e) => `${e.direction} ${e.line}`);
      assert.ok(lines.includes("send AUTH NTLM <redacted>"), lines.join("\n"));
      const challenge = events.find((e) => e.direction === "recv" && /^334 /.test(e.line));
      assert.ok(challenge, "the CHALLENGE is in the trace");
      const authenticate = expectedAuthenticate(challenge.line, X.user.password);
      for (const s of [...secrets(X.user.password), authenticate]) assert.ok(!lines.some((l) => l.includes(s)), "a secret in the trace");
    });
  }

  test("a wrong password with NTLMv1: Exim's 535, permanent, in phase auth, then QUIT (closed by QUIT)", async () => {
    const rec = portRecorder((await runtime()).connector);
    const events: TraceEvent[] = [];
    await assert.rejects(
      SmtpClient.connect(tlsOpts(X.port, {
        auth: { user: X.user.user, pass: `${X.user.password}-wrong`, method: "NTLM", ntlmVersion: 1 },
        connector: rec.connector,
        trace: (e) => events.push(e),
      })),
      (e: unknown) => e instanceof ReplyError && e.code === 535 && e.phase === "auth" && !e.temporary,
    );
    assert.equal(events.filter((e) => e.direction === "send" && e.line.startsWith("AUTH")).length, 1, "one attempt, no fallback when forced");
    let log = "";
    for (let i = 0; i < 50 && !/closed by QUIT/.test(log); i++) {
      await new Promise((r) => setTimeout(r, 100));
      log = sessionLog(rec.ports[0]!);
    }
    assert.match(log, /ntlm authenticator failed .*535/);
    assert.match(log, /closed by QUIT/);
  });

  test("NTLM without ntlmVersion sends NTLMv2, which spa cannot verify: 535, never a silent NTLMv1 retry", async () => {
    const events: TraceEvent[] = [];
    await assert.rejects(
      SmtpClient.connect(tlsOpts(X.port, {
        auth: { user: X.user.user, pass: X.user.password, method: "NTLM" },
        trace: (e) => events.push(e),
      })),
      (e: unknown) => e instanceof ReplyError && e.code === 535 && e.phase === "auth",
    );
    const auths = events.filter((e) => e.direction === "send" && e.line.startsWith("AUTH"));
    assert.deepEqual(auths.map((e) => e.line), ["AUTH NTLM <redacted>"]);
  });
});

// --- The CLI: the real command as a child process on this runtime, with its own HOME.

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const base = mkdtempSync(join(tmpdir(), "smtpsend-ntlm-"));

interface Run {
  status: number | null;
  stderr: string;
}

function smtpsend(home: string, args: string[], input: string): Promise<Run> {
  return runCli([...runtimeCommand(), join(ROOT, "cli.ts")], args, input, { home, cwd: ROOT });
}

function home(files: Record<string, string>): string {
  const h = mkdtempSync(join(base, "home-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(h, name), text, { mode: 0o600 });
  return h;
}

/** The -v trace's AUTHENTICATE line must not hold the response smtpsend computed, nor any secret. */
function assertNoSecretInTrace(stderr: string, password: string): void {
  for (const s of secrets(password)) assert.ok(!stderr.includes(s), "a secret in the trace");
  const challenge = /<- (334 \S+)/.exec(stderr);
  assert.ok(challenge, `the CHALLENGE is in the trace:\n${stderr}`);
  assert.ok(!stderr.includes(expectedAuthenticate(challenge[1]!, password)), "the AUTHENTICATE message is in the trace");
}

describe(`smtpsend (${RT}) with NTLMv1 against Exim's spa`, () => {
  after(() => rmSync(base, { recursive: true, force: true }));

  test("~/.smtpsendrc with `auth ntlmv1`: delivered, exit 0; the -v trace holds no secret", async () => {
    const subject = token("cli-ntlm-rc");
    const h = home({
      ".smtpsendrc": `hostname 127.0.0.1:${X.port}\nusername "${X.user.user}"\npassword "${X.user.password}"\n` +
        `starttls required\nca_file "${S.tls.caFile}"\nauth ntlmv1\n`,
    });
    const r = await smtpsend(h, ["-v", "-f", X.user.user, USER], `Subject: ${subject}\n\nvia the CLI\n`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /-> AUTH NTLM <redacted>/);
    assert.match(r.stderr, /<- 235 /);
    assertNoSecretInTrace(r.stderr, X.user.password);
    const got = await waitForEximMessage(USER, (m) => m.header("subject") === subject);
    assert.match(got.header("received") ?? "", /with esmtpsa/);
  });

  test("--auth ntlmv1 on the command line, password from ~/.authinfo; a wrong one exits 77 and delivers nothing", async () => {
    const args = (subject: string) => [
      "--host", "127.0.0.1", "--port", String(X.tlsPort), "--tls", "implicit", "--ca-file", S.tls.caFile,
      "--user", X.user.user, "--auth", "ntlmv1", "-v", "-f", X.user.user, USER, subject,
    ];
    const good = token("cli-ntlm-flag");
    const h = home({ ".authinfo": `machine 127.0.0.1 port ${X.tlsPort} login ${X.user.user} password ${X.user.password}\n` });
    const r = await smtpsend(h, args(good).slice(0, -1), `Subject: ${good}\n\nvia --auth ntlmv1\n`);
    assert.equal(r.status, 0, r.stderr);
    assertNoSecretInTrace(r.stderr, X.user.password);
    await waitForEximMessage(USER, (m) => m.header("subject") === good);

    const bad = token("cli-ntlm-wrong");
    const wrong = `${X.user.password}-wrong`;
    const h2 = home({ ".authinfo": `machine 127.0.0.1 port ${X.tlsPort} login ${X.user.user} password ${wrong}\n` });
    const r2 = await smtpsend(h2, args(bad).slice(0, -1), `Subject: ${bad}\n\nmust not arrive\n`);
    assert.equal(r2.status, 77, r2.stderr);
    assert.match(r2.stderr, /535/);
    assertNoSecretInTrace(r2.stderr, wrong);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(readEximMaildir(USER).filter((m) => m.header("subject") === bad).length, 0);
  });
});
