/**
 * Internationalised addresses (issue 10 item 8) and DSN envelope ids (item 9)
 * against real servers nobody here wrote, through the library and through the
 * CLI as a child process on the runtime running this file:
 * - smtp-sink (Postfix's test server) does NOT offer SMTPUTF8: IDN domains go
 *   as A-labels, a non-ASCII local part is refused before MAIL; its dump shows
 *   the MAIL and RCPT arguments it received;
 * - Postfix with `smtputf8_enable = yes` offers SMTPUTF8: addresses go as
 *   written with the SMTPUTF8 parameter; Postfix offers DSN too, and its
 *   success notice carries the envelope id back (`Original-Envelope-Id:`).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { SmtpClient } from "../src/default_client.ts";
import { compose } from "../src/message/compose.ts";
import { ReplyError, SmtpError } from "../src/errors.ts";
import type { ClientOptions, TraceEvent } from "../src/options.ts";
import { readSinkMessages, servers, type StoredMessage, waitForMaildirMessage, waitForSinkMessage } from "./support/servers.ts";
import { runtimeCommand, testRuntime } from "./support/runtime_command.ts";
import { runCli } from "./support/run_cli.ts";

const S = servers();
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const USER = `user@${S.domain}`;
const ALICE = `alice@${S.domain}`;
let seq = 0;
const token = (what: string) => `${what}-${testRuntime()}-${Date.now().toString(36)}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
const quick = { connect: 5000, greeting: 5000, tls: 5000, mail: 5000, rcpt: 5000, data: 5000, dataBlock: 5000, dataEnd: 10000 };

function opts(port: number, trace?: TraceEvent[]): ClientOptions {
  return {
    host: S.host,
    port,
    tls: "none",
    timeouts: quick,
    name: "client.smtpsend.test",
    ...(trace ? { trace: (e: TraceEvent) => void trace.push(e) } : {}),
  };
}

const message = (subject: string) => `From: me@example.org\r\nTo: someone@example.org\r\nSubject: ${subject}\r\n\r\nbody\r\n`;
const sent = (trace: TraceEvent[]) => trace.filter((e) => e.direction === "send").map((e) => e.line);

async function send(port: number, m: { from: string; to: string[]; subject: string; envid?: string; notify?: boolean }, trace: TraceEvent[] = []) {
  const client = await SmtpClient.connect(opts(port, trace));
  try {
    return await client.send({
      from: m.from,
      to: m.to,
      data: message(m.subject),
      ...(m.envid !== undefined ? { dsnEnvelopeId: m.envid } : {}),
      ...(m.notify ? { dsnNotify: ["SUCCESS", "FAILURE"] as const } : {}),
    });
  } finally {
    await client.quit();
  }
}

interface Run {
  status: number | null;
  stderr: string;
}

/** The CLI as a child process on this runtime, with an empty HOME. */
async function smtpsend(args: string[], input: string): Promise<Run> {
  const home = mkdtempSync(join(tmpdir(), "smtpsend-intl-"));
  try {
    return await runCli([...runtimeCommand(), join(ROOT, "cli.ts")], args, input, { home, cwd: ROOT });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
const server = (port: number) => ["--host", S.host, "--port", String(port), "--tls", "none"];

/** The Postfix log lines about one queue id's recipients. */
function postfixLog(): string {
  try {
    return readFileSync(join(process.env.SMTPSEND_TEST_DIR ?? "/tmp/smtpsend-test", "log", "postfix.log"), "utf8");
  } catch {
    return "";
  }
}

describe("internationalised addresses: smtp-sink, which does not offer SMTPUTF8", () => {
  const sink = S.sink.normal;
  const rcptArgs = (m: StoredMessage) => m.headerAll("X-Rcpt-Args");

  test("the test sink really offers no SMTPUTF8 (the premise of these tests)", async () => {
    const client = await SmtpClient.connect(opts(sink));
    try {
      assert.equal(client.capabilities?.smtpUtf8, false);
    } finally {
      await client.quit();
    }
  });

  test("library: IDN domains go as A-labels in MAIL FROM and RCPT TO, no SMTPUTF8 parameter", async () => {
    const subject = token("idn-lib");
    const trace: TraceEvent[] = [];
    await send(sink, { from: "me@bücher.example", to: ["a@例子.广告", "b@bücher.example"], subject }, trace);
    const m = await waitForSinkMessage((x) => x.text.includes(subject));
    assert.match(m.header("X-Mail-Args")!, /^<me@xn--bcher-kva\.example>/);
    assert.doesNotMatch(m.header("X-Mail-Args")!, /SMTPUTF8/);
    assert.deepEqual(rcptArgs(m), ["<a@xn--fsqu00a.xn--4rr70v>", "<b@xn--bcher-kva.example>"]);
    assert.ok(sent(trace).every((l) => !/[^\x00-\x7f]/.test(l)), sent(trace).join("\n"));
  });

  test("library: a non-ASCII local part is a permanent 553 5.6.7 before MAIL; nothing reaches the sink", async () => {
    const subject = token("idn-local");
    const trace: TraceEvent[] = [];
    const before = readSinkMessages().length;
    await assert.rejects(
      send(sink, { from: "me@example.org", to: ["jörg@bücher.example"], subject }, trace),
      (e: unknown) => e instanceof SmtpError && !(e instanceof ReplyError) && e.code === 553 && e.enhancedCode === "5.6.7" && !e.temporary,
    );
    assert.ok(!sent(trace).some((l) => /^(MAIL|RCPT|DATA)/.test(l)), sent(trace).join("\n"));
    assert.ok(!readSinkMessages().some((x) => x.text.includes(subject)));
    assert.ok(readSinkMessages().length >= before);
  });

  test("CLI: the recipient's IDN domain goes as an A-label (the same rule as the library)", async () => {
    const subject = token("idn-cli");
    const r = await smtpsend([...server(sink), "-f", "me@bücher.example", "a@bücher.example"], message(subject));
    assert.equal(r.status, 0, r.stderr);
    const m = await waitForSinkMessage((x) => x.text.includes(subject));
    assert.match(m.header("X-Mail-Args")!, /^<me@xn--bcher-kva\.example>/);
    assert.deepEqual(rcptArgs(m), ["<a@xn--bcher-kva.example>"]);
  });

  test("library: a composed UTF-8 header (non-ASCII local part) with an ASCII envelope is refused before MAIL; nothing reaches the sink", async () => {
    const subject = token("utf8-header");
    const m = compose({ from: "jörg@example.org", to: USER, subject, text: "body", envelope: { from: "bounce@example.org", to: [USER] } });
    assert.equal(m.smtputf8, true, "compose() wrote the From: address in UTF-8");
    const trace: TraceEvent[] = [];
    const client = await SmtpClient.connect(opts(sink, trace));
    try {
      await assert.rejects(
        client.send(m),
        (e: unknown) =>
          e instanceof SmtpError && !(e instanceof ReplyError) && e.phase === "mail" && e.code === 554 && e.enhancedCode === "5.6.9" &&
          !e.temporary && /UTF-8 header fields.*does not offer SMTPUTF8/.test(e.message),
      );
      assert.ok(!sent(trace).some((l) => /^(MAIL|RCPT|DATA|BDAT)/.test(l)), sent(trace).join("\n"));
      // Nothing was written: the session is still usable.
      const marker = token("utf8-header-marker");
      await client.send({ from: "me@example.org", to: [USER], data: message(marker) });
      await waitForSinkMessage((x) => x.text.includes(marker));
    } finally {
      await client.quit();
    }
    assert.ok(!readSinkMessages().some((x) => x.text.includes(subject)));
  });

  test("library: a composed message whose only non-ASCII is an IDN domain still goes (header in A-labels, no SMTPUTF8)", async () => {
    const subject = token("idn-header");
    const m = compose({ from: "me@bücher.example", to: "a@bücher.example", subject, text: "body" });
    assert.equal(m.smtputf8, false);
    const client = await SmtpClient.connect(opts(sink));
    try {
      await client.send(m);
    } finally {
      await client.quit();
    }
    const got = await waitForSinkMessage((x) => x.text.includes(subject));
    assert.match(got.header("From")!, /me@xn--bcher-kva\.example/);
  });

  test("CLI: a non-ASCII local part exits 65 with the reason; nothing reaches the sink", async () => {
    const subject = token("idn-cli-local");
    const r = await smtpsend([...server(sink), "-f", "me@example.org", "jörg@bücher.example"], message(subject));
    assert.equal(r.status, 65, r.stderr);
    assert.match(r.stderr, /"jörg@bücher\.example" has a non-ASCII local part, which needs SMTPUTF8/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(!readSinkMessages().some((x) => x.text.includes(subject)));
  });
});

describe("internationalised addresses: Postfix with smtputf8_enable = yes", () => {
  const plain = S.ports.plain;

  test("library: addresses go as written with SMTPUTF8; Postfix delivers with the UTF-8 Return-Path", async () => {
    const subject = token("utf8-lib");
    const trace: TraceEvent[] = [];
    await send(plain, { from: "jörg@bücher.example", to: [USER], subject }, trace);
    assert.ok(sent(trace).some((l) => /^MAIL FROM:<jörg@bücher\.example>.* SMTPUTF8/.test(l)), sent(trace).join("\n"));
    const m = await waitForMaildirMessage(USER, (x) => x.text.includes(subject));
    assert.equal(m.header("Return-Path"), "<jörg@bücher.example>");
  });

  test("library: a U-label recipient domain goes as written (Postfix logs it so)", async () => {
    const subject = token("utf8-rcpt");
    const trace: TraceEvent[] = [];
    const r = await send(plain, { from: "me@example.org", to: ["a@bücher.example", USER], subject }, trace);
    assert.equal(r.accepted.length, 2);
    assert.ok(sent(trace).some((l) => l.startsWith("RCPT TO:<a@bücher.example>")), sent(trace).join("\n"));
    await waitForMaildirMessage(USER, (x) => x.text.includes(subject));
    for (let i = 0; i < 100 && !postfixLog().includes("to=<a@bücher.example>"); i++) await new Promise((res) => setTimeout(res, 50));
    assert.ok(postfixLog().includes("to=<a@bücher.example>"), "Postfix logged the recipient as written");
  });

  test("library: a composed UTF-8 header with an ASCII envelope goes with SMTPUTF8 and arrives in UTF-8", async () => {
    const subject = token("utf8-header-pf");
    const m = compose({ from: "jörg@example.org", to: USER, subject, text: "body", envelope: { from: "bounce@example.org", to: [USER] } });
    const trace: TraceEvent[] = [];
    const client = await SmtpClient.connect(opts(plain, trace));
    try {
      await client.send(m);
    } finally {
      await client.quit();
    }
    assert.ok(sent(trace).some((l) => /^MAIL FROM:<bounce@example\.org>.* SMTPUTF8/.test(l)), sent(trace).join("\n"));
    const got = await waitForMaildirMessage(USER, (x) => x.text.includes(subject));
    assert.match(got.header("From")!, /jörg@example\.org/);
    assert.equal(got.header("Return-Path"), "<bounce@example.org>");
  });

  test("CLI: the same message goes with SMTPUTF8 and arrives with the UTF-8 Return-Path", async () => {
    const subject = token("utf8-cli");
    const r = await smtpsend([...server(plain), "-f", "jörg@bücher.example", USER], message(subject));
    assert.equal(r.status, 0, r.stderr);
    const m = await waitForMaildirMessage(USER, (x) => x.text.includes(subject));
    assert.equal(m.header("Return-Path"), "<jörg@bücher.example>");
  });
});

describe("DSN envelope ids with spaces (RFC 3461 xtext)", () => {
  /** Postfix's success notice for `subject`, delivered to the sender alice. */
  const notice = (subject: string) =>
    waitForMaildirMessage(ALICE, (x) => /Original-Envelope-Id:/i.test(x.text) && x.text.includes(subject), 15_000);

  test("library → Postfix: ENVID=id+20… on the wire; the success notice gives the id back with its spaces", async () => {
    const subject = token("envid-lib");
    const id = `id x ${subject}`;
    const trace: TraceEvent[] = [];
    await send(S.ports.plain, { from: ALICE, to: [USER], subject, envid: id, notify: true }, trace);
    const mail = sent(trace).find((l) => l.startsWith("MAIL FROM:"))!;
    assert.ok(mail.includes(` ENVID=id+20x+20${subject}`), mail);
    const dsn = await notice(subject);
    assert.match(dsn.text, new RegExp(`^Original-Envelope-Id: ${id}$`, "mi"));
  });

  test("CLI -V 'id x …' → Postfix: accepted, and the success notice gives the id back", async () => {
    const subject = token("envid-cli");
    const id = `id x ${subject}`;
    const r = await smtpsend([...server(S.ports.plain), "-f", ALICE, "-N", "success", "-V", id, USER], message(subject));
    assert.equal(r.status, 0, r.stderr);
    const dsn = await notice(subject);
    assert.match(dsn.text, new RegExp(`^Original-Envelope-Id: ${id}$`, "mi"));
  });

  test("CLI -V with a tab is a usage error (64), nothing sent", async () => {
    const r = await smtpsend([...server(S.ports.plain), "-f", ALICE, "-V", "id\tx", USER], message(token("envid-bad")));
    assert.equal(r.status, 64, r.stderr);
    assert.match(r.stderr, /-V/);
  });
});
