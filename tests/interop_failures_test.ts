/**
 * Issue 10 against real servers on 127.0.0.1 (scripts/test-servers.sh):
 * content a 7-bit-only Postfix did not agree to is never delivered (library
 * and CLI), a stream never passes Postfix's advertised SIZE (RFC 1870 §6),
 * QUIT after a refused password (Postfix logs `quit=1`), a BDAT chunk refused
 * by Postfix's size limit when SIZE is not advertised, and smtp-sink ports that never answer
 * the end of data. The byte-exact versions are in tests/client_failures_test.ts.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { detectRuntime } from "../deps.ts";
import { SmtpClient } from "../src/default_client.ts";
import { recordingConnector } from "./support/wrap_transport.ts";
import { send } from "../src/send.ts";
import { ConnectionError, ReplyError, SmtpError, TimeoutError } from "../src/errors.ts";
import type { ClientOptions, TraceEvent } from "../src/options.ts";
import { readMaildir, servers, waitForMaildirMessage } from "./support/servers.ts";
import { type CliRun, runCli } from "./support/run_cli.ts";

const S = servers();
const RT = detectRuntime();
const USER = `user@${S.domain}`;
const te = new TextEncoder();
let seq = 0;
const token = (what: string) => `${what}-${RT}-${Date.now().toString(36)}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
const quick = { connect: 5000, greeting: 5000, tls: 5000, mail: 5000, rcpt: 5000, data: 5000, dataBlock: 5000, dataEnd: 10000 };
const opts = (port: number, extra: Partial<ClientOptions> = {}): ClientOptions => ({
  host: S.host,
  port,
  tls: "none",
  timeouts: quick,
  name: "client.smtpsend.test",
  ...extra,
});


function postfixLog(): string[] {
  return readFileSync(join(S.dir, "log", "postfix.log"), "utf8").split("\n");
}

/** Log lines that appeared since `before` lines were there and match `re`. */
async function newLogLines(before: number, re: RegExp): Promise<string[]> {
  for (let i = 0; i < 100; i++) {
    const hits = postfixLog().slice(before).filter((l) => re.test(l));
    if (hits.length > 0) return hits;
    await new Promise((r) => setTimeout(r, 50));
  }
  return [];
}

function header(subject: string): string {
  return `From: <sender@example.org>\r\nTo: ${USER}\r\nSubject: ${subject}\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n` +
    `Message-ID: <${subject}@example.org>\r\n\r\n`;
}

/** 80-octet ASCII lines, `count` of them. */
const asciiLines = (count: number) => Array.from({ length: count }, (_, i) => `line ${i}`.padEnd(78, "-") + "\r\n").join("");

async function* chunks(...parts: (string | Uint8Array)[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield typeof p === "string" ? te.encode(p) : p;
}

/**
 * Proves a message with `tok` was not delivered: a later message on a new
 * connection is delivered first, and nothing with `tok` is in the Maildir.
 */
async function assertNotDelivered(tok: string): Promise<void> {
  const marker = token("marker");
  await send(opts(S.ports.plain), { from: "sender@example.org", to: [USER], data: header(marker) + "marker\r\n" });
  await waitForMaildirMessage("user", (m) => m.header("subject") === marker);
  assert.deepEqual(readMaildir("user").filter((m) => m.text.includes(tok)).map((m) => m.file), [], "nothing delivered");
}

describe(`issue 10 against real servers (${RT})`, () => {
  test("Postfix without 8BITMIME: an 8-bit octet mid-stream abandons DATA, nothing is delivered", async () => {
    const tok = token("eightbit");
    const before = postfixLog().length;
    const c = await SmtpClient.connect(opts(S.ports.no8bit));
    assert.equal(c.capabilities?.eightBitMime, false, "the NO8BIT port hides 8BITMIME");
    await assert.rejects(
      c.send({ from: "sender@example.org", to: [USER], data: chunks(header(tok), asciiLines(1500), "na\u00efve\r\n", "end\r\n") }),
      (e: unknown) =>
        e instanceof SmtpError && !(e instanceof ReplyError) && e.phase === "message" && !e.temporary && /8BITMIME/.test(e.message),
    );
    assert.equal(c.connected, false);
    // Postfix saw part of the data, then the connection go: no end-of-data.
    const lost = await newLogLines(before, /postfix-smtpsend\/no8bit\/smtpd.*lost connection after DATA \((\d+) bytes\)/);
    assert.ok(lost.length > 0, "Postfix logged the lost connection in DATA");
    assert.ok(Number(/\((\d+) bytes\)/.exec(lost[0]!)![1]) >= 64 * 1024, lost[0]);
    await assertNotDelivered(tok);
  });

  test("Postfix with CHUNKING: a NUL mid-stream after a non-final BDAT chunk closes without BDAT LAST, nothing is delivered", async () => {
    const tok = token("nul");
    const before = postfixLog().length;
    const { connector, writes } = await recordingConnector();
    const c = await SmtpClient.connect(opts(S.ports.plain, { connector }));
    assert.equal(c.capabilities?.chunking, true);
    await assert.rejects(
      c.send({ from: "sender@example.org", to: [USER], data: chunks(header(tok), asciiLines(14000), Uint8Array.of(0x61, 0, 13, 10)) }),
      (e: unknown) => e instanceof SmtpError && e.phase === "message" && !e.temporary && /NUL/.test(e.message),
    );
    assert.ok(writes.some((w) => /^BDAT \d+\r\n/.test(w)), "a non-final chunk went out");
    assert.ok(!writes.some((w) => w.includes("LAST")), "no BDAT LAST");
    assert.ok(!writes.some((w) => w.includes("\0")), "no NUL on the wire");
    assert.ok((await newLogLines(before, /postfix-smtpsend\/plain\/smtpd.*lost connection after BDAT/)).length > 0);
    await assertNotDelivered(tok);
  });

  test("the CLI: 8-bit standard input to Postfix without 8BITMIME exits 65, nothing delivered", async () => {
    const tok = token("cli8bit");
    const input = `From: <sender@example.org>\nTo: ${USER}\nSubject: ${tok}\n\n${asciiLines(1500).replace(/\r\n/g, "\n")}gr\u00fc\u00dfe\n`;
    const r = await cli(["--host", S.host, "--port", String(S.ports.no8bit), "-f", "sender@example.org", USER], input);
    assert.equal(r.status, 65, r.stderr);
    assert.match(r.stderr, /^smtpsend: .*8BITMIME/);
    assert.match(r.stderr, /nothing was delivered/);
    await assertNotDelivered(tok);
  });

  test("the CLI: 1.2 MB on standard input to Postfix's SIZE 100000 port exits 65 (the SIZE limit), not 75", async () => {
    const tok = token("clibig");
    const input = `From: <sender@example.org>\nTo: ${USER}\nSubject: ${tok}\n\n${asciiLines(15000).replace(/\r\n/g, "\n")}`;
    const r = await cli(["--host", S.host, "--port", String(S.ports.small), "-f", "sender@example.org", USER], input);
    assert.equal(r.status, 65, r.stderr);
    assert.match(r.stderr, /^smtpsend: .*SIZE limit of 100000 octets/);
    assert.match(r.stderr, /nothing was delivered/);
    await assertNotDelivered(tok);
  });

  test("the CLI: the same to Postfix without SIZE advertised: Postfix's 552 mid-message, exit 65", async () => {
    const tok = token("clibignosize");
    const input = `From: <sender@example.org>\nTo: ${USER}\nSubject: ${tok}\n\n${asciiLines(15000).replace(/\r\n/g, "\n")}`;
    const r = await cli(["--host", S.host, "--port", String(S.ports.smallNoSize), "-f", "sender@example.org", USER], input);
    assert.equal(r.status, 65, r.stderr);
    assert.match(r.stderr, /^smtpsend: .*552/);
    await assertNotDelivered(tok);
  });

  test("a wrong password on the submission port: QUIT follows the 535 and Postfix logs quit=1", async () => {
    const before = postfixLog().length;
    const { connector, writes } = await recordingConnector();
    const events: TraceEvent[] = [];
    await assert.rejects(
      SmtpClient.connect(opts(S.ports.submission, {
        connector,
        tls: "starttls-required",
        servername: S.tls.serverName,
        ca: S.tls.ca,
        auth: { user: S.users.alice.user, pass: "not-the-password", method: "PLAIN" },
        trace: (e) => events.push(e),
      })),
      (e: unknown) => e instanceof ReplyError && e.code === 535 && e.phase === "auth",
    );
    assert.equal(writes.at(-1), "QUIT\r\n");
    assert.match(events.filter((e) => e.direction === "recv").at(-1)!.line, /^221 /, "the reply to QUIT was read");
    const bye = await newLogLines(before, /postfix-smtpsend\/submission\/smtpd.*disconnect from .* auth=0\/1 quit=1/);
    assert.ok(bye.length > 0, "Postfix counted the QUIT");
  });

  test("smtp-sink greeting 554: QUIT, its 221 read, then the 554", async () => {
    const { connector, writes } = await recordingConnector();
    const events: TraceEvent[] = [];
    await assert.rejects(
      SmtpClient.connect(opts(S.sink.rejectConnect, { connector, trace: (e) => events.push(e) })),
      (e: unknown) => e instanceof ReplyError && e.code === 554 && e.phase === "greeting",
    );
    assert.deepEqual(writes, ["QUIT\r\n"]);
    assert.match(events.filter((e) => e.direction === "recv").at(-1)!.line, /^221 /);
  });

  for (const chunking of [true, false]) {
    test(`Postfix SIZE 100000, a stream of unknown size over it (${chunking ? "BDAT" : "DATA"}): abandoned before the limit, permanent 552 5.3.4, nothing delivered`, async () => {
      const tok = token(chunking ? "sizebdat" : "sizedata");
      const before = postfixLog().length;
      const { connector, writes } = await recordingConnector();
      const c = await SmtpClient.connect(opts(S.ports.small, { connector, chunking }));
      assert.equal(c.capabilities?.size, 100000);
      await assert.rejects(
        c.send({ from: "sender@example.org", to: [USER], data: chunks(header(tok), asciiLines(1000), asciiLines(1000), asciiLines(14000)) }),
        (e: unknown) =>
          e instanceof SmtpError && !(e instanceof ReplyError) && e.code === 552 && e.enhancedCode === "5.3.4" && e.phase === "message" &&
          !e.temporary && /SIZE limit of 100000 octets.*nothing was delivered/.test(e.message),
      );
      assert.equal(c.connected, false);
      const content = writes.filter((w) => !/^(MAIL|RCPT|DATA\r\n$|EHLO|QUIT)/.test(w));
      const octets = content.reduce((n, w) => n + te.encode(w).length, 0);
      assert.ok(octets <= 100000 + 64, `no more than SIZE octets (plus one BDAT command line) went out: ${octets}`);
      assert.ok(!writes.some((w) => w.includes("LAST") || w.includes("\r\n.\r\n")), "no end of data");
      const lost = await newLogLines(before, /postfix-smtpsend\/small\/smtpd.*lost connection after (DATA|RCPT|BDAT)/);
      assert.ok(lost.length > 0, "Postfix saw the connection go without an end of data");
      await assertNotDelivered(tok);
    });
  }

  test("Postfix without SIZE advertised refuses a non-final BDAT chunk (message_size_limit): the permanent 552, no more chunks, connection closed", async () => {
    const tok = token("big");
    const { connector, writes } = await recordingConnector();
    const c = await SmtpClient.connect(opts(S.ports.smallNoSize, { connector }));
    assert.equal(c.capabilities?.chunking, true);
    assert.equal(c.capabilities?.size, null, "the limit is not advertised: only the server can enforce it");
    await assert.rejects(
      c.send({ from: "sender@example.org", to: [USER], data: chunks(header(tok), asciiLines(14000), asciiLines(14000)) }),
      (e: unknown) => e instanceof ReplyError && e.code === 552 && e.enhancedCode === "5.3.4" && e.phase === "bdat" && !e.temporary,
    );
    assert.equal(writes.filter((w) => w.startsWith("BDAT")).length, 1, "one chunk, then nothing");
    assert.ok(!writes.some((w) => w.includes("LAST") || w.startsWith("RSET")));
    assert.equal(c.connected, false);
    await assert.rejects(
      c.send({ from: "sender@example.org", to: [USER], data: "Subject: again\r\n\r\nx\r\n" }),
      (e: unknown) => e instanceof ConnectionError && /BDAT chunk refused/.test(e.message),
    );
    // The send() helper connects afresh: a message that fits goes through.
    const small = token("fits");
    const r = await send(opts(S.ports.smallNoSize), { from: "sender@example.org", to: [USER], data: header(small) + "small\r\n" });
    assert.equal(r.reply.code, 250);
    await waitForMaildirMessage("user", (m) => m.header("subject") === small);
  });

  test("smtp-sink answering 550 right after 354 without reading the data: the 550 is reported, not a broken pipe", async () => {
    // 2 MB: far more than the socket buffers hold, so the server's reply and
    // close come while the data is still being written.
    const c = await SmtpClient.connect(opts(S.sink.abortData));
    await assert.rejects(
      c.send({ from: "sender@example.org", to: [USER], data: header(token("abort")) + asciiLines(25000) }),
      (e: unknown) => e instanceof ReplyError && e.code === 550 && e.phase === "message" && !e.temporary && !e.maybeDelivered,
    );
    assert.equal(c.connected, false);
  });

  test("smtp-sink never answering the final dot: TimeoutError saying it may have been accepted (maybeDelivered)", async () => {
    const limit = 500;
    await assert.rejects(
      send(opts(S.sink.slowDot, { timeouts: { ...quick, dataEnd: limit } }), {
        from: "sender@example.org",
        to: [USER],
        data: header(token("slow")) + "x\r\n",
      }),
      (e: unknown) =>
        e instanceof TimeoutError && e.maybeDelivered && e.temporary && e.phase === "message" && e.timeoutMs === limit &&
        /may already have accepted/.test(e.message),
    );
  });

  test("smtp-sink dropping the connection after the final dot: ConnectionError with maybeDelivered", async () => {
    await assert.rejects(
      send(opts(S.sink.dropDot), { from: "sender@example.org", to: [USER], data: header(token("drop")) + "x\r\n" }),
      (e: unknown) => e instanceof ConnectionError && e.maybeDelivered && e.phase === "message" && /may already have accepted/.test(e.message),
    );
  });
});

// ------------------------------------------------------------------ the CLI

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** The command line that runs the CLI on this runtime (as in tests/cli_e2e_test.ts). */
function cliCommand(): string[] {
  const exe = process.execPath;
  if (RT === "deno") return [exe, "run", "-A", "--quiet", join(ROOT, "cli.ts")];
  if (RT === "bun") return [exe, join(ROOT, "cli.ts")];
  const bin = join(ROOT, "bin/smtpsend.js");
  return existsSync(bin) ? [exe, bin] : [exe, "--import", "tsx", join(ROOT, "cli.ts")];
}

function cli(args: string[], input: string): Promise<CliRun> {
  return runCli(cliCommand(), args, input, { home: mkdtempSync(join(tmpdir(), "smtpsend-i10-")), cwd: ROOT });
}
