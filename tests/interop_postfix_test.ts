/**
 * SmtpClient against a real Postfix and Postfix's smtp-sink on 127.0.0.1
 * (started by scripts/test-servers.sh; see tests/support/servers.ts), on the
 * runtime running this file. Nothing here is scripted by us.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runtime, type Connector } from "../deps.ts";
import { compose } from "../src/message/compose.ts";
import { Queue } from "../src/queue.ts";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { SmtpClient } from "../src/default_client.ts";
import { recordingConnector } from "./support/wrap_transport.ts";
import { ConnectionError, ProtocolError, ReplyError, SmtpError, TimeoutError, TlsError } from "../src/errors.ts";
import type { ClientOptions, TraceEvent } from "../src/options.ts";
import { servers, waitForMaildirMessage, waitForSinkMessage } from "./support/servers.ts";

const S = servers();
const USER = `user@${S.domain}`;
let seq = 0;
const token = (what: string) => `${what}-${Date.now().toString(36)}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
const quick = { connect: 5000, greeting: 5000, tls: 5000, mail: 5000, rcpt: 5000, data: 5000, dataBlock: 5000, dataEnd: 10000 };

function opts(port: number, extra: Partial<ClientOptions> = {}): ClientOptions {
  return { host: S.host, port, tls: "none", timeouts: quick, name: "client.smtpsend.test", ...extra };
}
const tlsOpts = (port: number, extra: Partial<ClientOptions> = {}): ClientOptions =>
  opts(port, { tls: "starttls-required", servername: S.tls.serverName, ca: S.tls.ca, ...extra });

function message(subject: string, body = "Hello from smtpsend.\r\n", extraHeaders = ""): string {
  // A complete header, so Postfix adds nothing but its trace fields.
  return `From: Sender <sender@example.org>\r\nTo: ${USER}\r\nSubject: ${subject}\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n` +
    `Message-ID: <${subject}@example.org>\r\n${extraHeaders}\r\n${body}`;
}

/** The delivered file is our message after Postfix's own trace headers, with LF line endings. */
function assertDeliveredVerbatim(delivered: Uint8Array, sent: string): void {
  const text = new TextDecoder().decode(delivered);
  const expected = sent.replace(/\r\n/g, "\n");
  assert.ok(text.endsWith(expected), `delivered file ends with exactly what was sent\n--- delivered\n${text}\n--- sent\n${expected}`);
  const prefix = text.slice(0, text.length - expected.length);
  for (const line of prefix.split("\n").filter(Boolean)) {
    assert.match(line, /^(Return-Path|Delivered-To|Received|X-Original-To|\s)/, `only trace headers precede it: ${JSON.stringify(line)}`);
  }
}


describe("Postfix: delivery", () => {
  test("a plain session delivers the message byte for byte into the maildir", async () => {
    const subject = token("plain");
    const sent = message(subject, "Line one.\r\n..leading dot stays one dot\r\n.\r\nlast line\r\n");
    const client = await SmtpClient.connect(opts(S.ports.plain));
    try {
      const r = await client.send({ from: "sender@example.org", to: [USER], data: sent });
      assert.equal(r.reply.code, 250);
      assert.deepEqual(r.accepted.map((a) => a.address), [USER]);
    } finally {
      await client.quit();
    }
    const got = await waitForMaildirMessage(USER, (m) => m.header("subject") === subject);
    assertDeliveredVerbatim(got.bytes, sent);
  });

  test("STARTTLS with the test CA verifies the name, says EHLO again and delivers", async () => {
    const subject = token("starttls");
    const events: TraceEvent[] = [];
    const client = await SmtpClient.connect(tlsOpts(S.ports.starttls, { trace: (e) => events.push(e) }));
    try {
      assert.ok(client.serverInfo.tls, "TLS is up");
      assert.equal(client.capabilities?.startTls, false, "capabilities are the post-TLS ones");
      await client.send({ from: "sender@example.org", to: [USER], data: message(subject) });
    } finally {
      await client.quit();
    }
    const ehlos = events.filter((e) => e.direction === "send" && e.line.startsWith("EHLO"));
    assert.equal(ehlos.length, 2);
    await waitForMaildirMessage(USER, (m) => m.header("subject") === subject);
  });

  test("implicit TLS (RFC 8314) on the submissions port, with AUTH", async () => {
    const subject = token("implicit");
    const client = await SmtpClient.connect(opts(S.ports.submissions, {
      tls: "implicit",
      servername: S.tls.serverName,
      ca: S.tls.ca,
      auth: { user: S.users.alice.user, pass: S.users.alice.password },
    }));
    try {
      assert.ok(client.serverInfo.tls);
      assert.ok(client.serverInfo.authenticated);
      await client.send({ from: S.users.alice.user, to: [USER], data: message(subject) });
    } finally {
      await client.quit();
    }
    await waitForMaildirMessage(USER, (m) => m.header("subject") === subject);
  });

  test("one rejected recipient among several: per-recipient results, the others get the message", async () => {
    const subject = token("multi");
    const nobody = `nobody-${subject}@${S.domain}`;
    const client = await SmtpClient.connect(opts(S.ports.plain));
    try {
      const r = await client.send({ from: "sender@example.org", to: [USER, nobody, `bob@${S.domain}`], data: message(subject) });
      assert.deepEqual(r.accepted.map((a) => a.address), [USER, `bob@${S.domain}`]);
      assert.equal(r.rejected.length, 1);
      assert.equal(r.rejected[0]!.address, nobody);
      assert.equal(r.rejected[0]!.code, 550);
      assert.equal(r.rejected[0]!.enhancedCode, "5.1.1");
    } finally {
      await client.quit();
    }
    await waitForMaildirMessage(USER, (m) => m.header("subject") === subject);
    await waitForMaildirMessage(`bob@${S.domain}`, (m) => m.header("subject") === subject);
  });

  test("policy \"all\" sends nothing when one recipient is rejected", async () => {
    const subject = token("all");
    const client = await SmtpClient.connect(opts(S.ports.plain));
    try {
      await assert.rejects(
        client.send({ from: "sender@example.org", to: [USER, `nobody@${S.domain}`], data: message(subject), policy: "all" }),
        (e: unknown) => e instanceof ReplyError && e.code === 550 && !e.temporary,
      );
      // The session is still usable afterwards.
      await client.noop();
    } finally {
      await client.quit();
    }
    await new Promise((r) => setTimeout(r, 500));
    await assert.rejects(waitForMaildirMessage(USER, (m) => m.header("subject") === subject, 300));
  });

  test("an 8-bit body goes with BODY=8BITMIME and arrives unchanged", async () => {
    const subject = token("8bit");
    const sent = message(subject, "Grüße aus Köln — ½ € 日本語\r\n", "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n");
    const events: TraceEvent[] = [];
    const client = await SmtpClient.connect(opts(S.ports.plain, { trace: (e) => events.push(e) }));
    try {
      await client.send({ from: "sender@example.org", to: [USER], data: sent });
    } finally {
      await client.quit();
    }
    assert.ok(events.some((e) => e.direction === "send" && /^MAIL FROM:<sender@example\.org> SIZE=\d+ BODY=8BITMIME/.test(e.line)));
    const got = await waitForMaildirMessage(USER, (m) => m.header("subject") === subject);
    assertDeliveredVerbatim(got.bytes, sent);
  });

  test("a non-ASCII sender address goes with SMTPUTF8", async () => {
    const subject = token("utf8");
    const from = "jörg.müller@bücher.example";
    const events: TraceEvent[] = [];
    const client = await SmtpClient.connect(opts(S.ports.plain, { trace: (e) => events.push(e) }));
    try {
      assert.equal(client.capabilities?.smtpUtf8, true);
      await client.send({ from, to: [USER], data: message(subject).replace("sender@example.org", from) });
    } finally {
      await client.quit();
    }
    assert.ok(events.some((e) => e.direction === "send" && e.line.startsWith(`MAIL FROM:<${from}>`) && e.line.includes("SMTPUTF8")));
    const got = await waitForMaildirMessage(USER, (m) => m.header("subject") === subject);
    assert.equal(got.header("return-path"), `<${from}>`);
  });

  test("several messages on one connection, with NOOP between them", async () => {
    const subjects = [token("reuse"), token("reuse"), token("reuse")];
    const client = await SmtpClient.connect(opts(S.ports.plain));
    try {
      for (const s of subjects) {
        await client.send({ from: "sender@example.org", to: [USER], data: message(s) });
        assert.equal((await client.noop()).code, 250);
      }
    } finally {
      await client.quit();
    }
    for (const s of subjects) await waitForMaildirMessage(USER, (m) => m.header("subject") === s);
  });

  test("wire capture with DATA: MAIL, RCPTs and DATA leave in one write; nothing is written between STARTTLS and the handshake", async () => {
    const rec = await recordingConnector();
    const subject = token("wire");
    const client = await SmtpClient.connect(tlsOpts(S.ports.starttls, { connector: rec.connector, chunking: false }));
    try {
      await client.send({ from: "sender@example.org", to: [USER, `bob@${S.domain}`], data: message(subject) });
    } finally {
      await client.quit();
    }
    const i = rec.writes.indexOf("STARTTLS\r\n");
    assert.ok(i >= 0);
    assert.equal(rec.writes[i + 1], "<starttls handshake>", "the handshake directly follows STARTTLS");
    const group = rec.writes.find((w) => w.startsWith("MAIL FROM"));
    assert.equal(group, `MAIL FROM:<sender@example.org> SIZE=${message(subject).length}\r\nRCPT TO:<${USER}>\r\nRCPT TO:<bob@${S.domain}>\r\nDATA\r\n`);
    assert.ok(rec.writes.some((w) => w.startsWith("From: Sender") && w.endsWith("\r\n.\r\n")), "message and dot in one write");
    await waitForMaildirMessage(USER, (m) => m.header("subject") === subject);
  });

  test("wire capture with CHUNKING: MAIL and RCPTs in one write, then BDAT LAST with the whole message in one write", async () => {
    const rec = await recordingConnector();
    const subject = token("bdat");
    const sent = message(subject, "body with\r\n.a leading dot, not stuffed\r\n");
    const client = await SmtpClient.connect(opts(S.ports.plain, { connector: rec.connector }));
    try {
      assert.equal(client.capabilities?.chunking, true, "Postfix offers CHUNKING");
      await client.send({ from: "sender@example.org", to: [USER], data: sent });
    } finally {
      await client.quit();
    }
    assert.ok(rec.writes.includes(`MAIL FROM:<sender@example.org> SIZE=${sent.length}\r\nRCPT TO:<${USER}>\r\n`));
    assert.ok(rec.writes.includes(`BDAT ${sent.length} LAST\r\n${sent}`));
    assertDeliveredVerbatim((await waitForMaildirMessage(USER, (m) => m.header("subject") === subject)).bytes, sent);
  });
});

describe("Postfix: composed messages read back from the maildir", () => {
  test("compose() output goes through Postfix and Python's email package reads back every field and part", async () => {
    const subject = token("composed");
    const png = new Uint8Array(3000).map((_, i) => (i * 7919) & 0xff);
    const message = compose({
      from: { name: "Zoë Ünïcode, Jr.", address: "sender@example.org" },
      to: [{ name: "Üser", address: USER }],
      cc: [`bob@${S.domain}`],
      bcc: [`alice@${S.domain}`],
      subject: `${subject} — Grüße, 日本語, and a long tail to force folding of the encoded words in this subject line`,
      text: "Plain text with ümlauts\n.\nand a lone dot line.\n",
      html: '<p>HTML with <img src="cid:logo@smtpsend"></p>',
      attachments: [
        { filename: "logo.png", content: png, cid: "logo@smtpsend" },
        { filename: "Bericht für März.txt", content: "attached text\n" },
      ],
    });
    const client = await SmtpClient.connect(opts(S.ports.plain));
    try {
      const r = await client.send(message);
      assert.deepEqual([...r.accepted.map((a) => a.address)].sort(), [`alice@${S.domain}`, `bob@${S.domain}`, USER].sort());
    } finally {
      await client.quit();
    }
    const got = await waitForMaildirMessage(USER, (m) => (m.header("subject") ?? "").includes(subject) || m.text.includes(subject.slice(-8)));
    assert.equal(got.header("bcc"), undefined, "Bcc is not in the delivered header");
    const py = spawnSync("/usr/bin/python3", [fileURLToPath(new URL("./support/parse_python.py", import.meta.url))], { input: got.bytes });
    assert.equal(py.status, 0, py.stderr?.toString());
    const parsed = JSON.parse(py.stdout.toString());
    assert.equal(parsed.subject, `${subject} — Grüße, 日本語, and a long tail to force folding of the encoded words in this subject line`);
    assert.deepEqual(parsed.from, [{ name: "Zoë Ünïcode, Jr.", address: "sender@example.org", group: null }]);
    assert.deepEqual(parsed.to, [{ name: "Üser", address: USER, group: null }]);
    assert.deepEqual(parsed.defects, []);
    const parts = parsed.parts as { contentType: string; filename: string | null; contentId: string | null; body: string; defects: string[] }[];
    const text = parts.find((p) => p.contentType === "text/plain" && !p.filename)!;
    assert.equal(new TextDecoder().decode(Uint8Array.from(atob(text.body), (c) => c.charCodeAt(0))).replace(/\r\n/g, "\n"), "Plain text with ümlauts\n.\nand a lone dot line.\n");
    const logo = parts.find((p) => p.filename === "logo.png")!;
    assert.equal(logo.contentId, "<logo@smtpsend>");
    assert.deepEqual(Uint8Array.from(atob(logo.body), (c) => c.charCodeAt(0)), png);
    assert.ok(parts.some((p) => p.filename === "Bericht für März.txt"));
    for (const p of parts) assert.deepEqual(p.defects, [], p.contentType);
    for (const line of got.text.split("\n")) assert.ok(new TextEncoder().encode(line).length <= 998);
  });
});

describe("Postfix: queued delivery", () => {
  test("a message queued while the server is down is delivered by a later flush through Postfix, then removed", async () => {
    // A port nothing listens on: taken from the OS, then released.
    const downPort = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, "127.0.0.1", () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const dir = join(mkdtempSync(join(tmpdir(), "smtpsend-queue-")), "q");
    try {
      const queue = new Queue({ dir, host: (await runtime()).host });
      const subject = token("queued");
      const id = await queue.enqueue({ from: "sender@example.org", to: [USER] }, new TextEncoder().encode(message(subject)));
      const json = readFileSync(join(dir, `${id}.json`), "utf8");
      assert.ok(!json.includes(S.users.alice.password), "no secret in the queue record");

      const down = await queue.flushWith(opts(downPort));
      assert.deepEqual([down.sent, down.deferred], [0, 1], "server down: deferred");
      assert.equal((await queue.list()).length, 1);

      const up = await queue.flushWith(opts(S.ports.plain), { force: true });
      assert.deepEqual([up.sent, up.deferred, up.failed], [1, 0, 0]);
      assert.deepEqual(await queue.list(), []);
      assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith(".eml") || f.endsWith(".json")), [], "removed after the 250");
      await waitForMaildirMessage(USER, (m) => m.header("subject") === subject);
    } finally {
      rmSync(dirname(dir), { recursive: true, force: true });
    }
  });
});

describe("Postfix: TLS failures", () => {
  test("a certificate from an unknown CA is refused", async () => {
    await assert.rejects(SmtpClient.connect(tlsOpts(S.ports.unknownCa)), (e: unknown) => e instanceof TlsError);
  });

  test("the test CA is not trusted without \"ca\" (system store only)", async () => {
    await assert.rejects(SmtpClient.connect(tlsOpts(S.ports.starttls, { ca: undefined })), (e: unknown) => e instanceof TlsError);
  });

  test("a certificate for another name is refused, and accepted for that name", async () => {
    await assert.rejects(SmtpClient.connect(tlsOpts(S.ports.wrongName)), (e: unknown) => e instanceof TlsError);
    const ok = await SmtpClient.connect(tlsOpts(S.ports.wrongName, { servername: S.tls.wrongServerName }));
    await ok.quit();
  });

  test("implicit TLS against a STARTTLS port fails fast with a TLS or connection error", async () => {
    const t0 = Date.now();
    await assert.rejects(
      SmtpClient.connect(opts(S.ports.starttls, { tls: "implicit", servername: S.tls.serverName, ca: S.tls.ca })),
      (e: unknown) => e instanceof TlsError || e instanceof ConnectionError,
    );
    assert.ok(Date.now() - t0 < quick.greeting, "well within the deadlines");
  });

  test("STARTTLS against an implicit-TLS port ends at the greeting deadline with a hint", async () => {
    await assert.rejects(
      SmtpClient.connect(tlsOpts(S.ports.submissions, { timeouts: { ...quick, greeting: 1500 } })),
      (e: unknown) => e instanceof TimeoutError && e.phase === "greeting" && /implicit/.test((e as Error).message),
    );
  });
});

describe("smtp-sink: faults", () => {
  const K = S.sink;
  const send = async (port: number, extra: Partial<ClientOptions> = {}, to = [USER]) => {
    const client = await SmtpClient.connect(opts(port, extra));
    try {
      return await client.send({ from: "sender@example.org", to, data: message(token("sink")) });
    } finally {
      await client.quit();
    }
  };

  test("normal sink accepts, and the dump shows the message", async () => {
    const subject = token("sink");
    const client = await SmtpClient.connect(opts(K.normal));
    try {
      await client.send({ from: "sender@example.org", to: [USER], data: message(subject) });
    } finally {
      await client.quit();
    }
    await waitForSinkMessage((m) => m.text.includes(subject));
  });

  test("[-e] EHLO refused: HELO fallback still sends", async () => {
    const r = await send(K.helo);
    assert.equal(r.reply.code, 250);
  });

  test("[-P] PIX-style greeting, EHLO refused: HELO fallback still sends", async () => {
    const r = await send(K.pix);
    assert.equal(r.reply.code, 250);
  });

  test("[-p] without PIPELINING every command is its own write", async () => {
    const rec = await recordingConnector();
    await send(K.noPipelining, { connector: rec.connector });
    const commands = rec.writes.filter((x) => /^(MAIL|RCPT|DATA)/.test(x));
    assert.ok(commands.length >= 3, `MAIL, RCPT and DATA were not recorded: ${JSON.stringify(rec.writes)}`);
    for (const w of commands) {
      assert.equal(w.split("\r\n").filter(Boolean).length, 1, JSON.stringify(w));
    }
  });

  test("[-E] without ENHANCEDSTATUSCODES replies still parse", async () => {
    const r = await send(K.noEnhanced);
    assert.equal(r.reply.code, 250);
  });

  test("[-q CONNECT] closed before greeting: temporary ConnectionError", async () => {
    await assert.rejects(send(K.dropConnect), (e: unknown) => e instanceof ConnectionError && e.temporary && e.phase === "greeting");
  });

  test("[-q .] closed after the dot: temporary ConnectionError in phase message", async () => {
    await assert.rejects(send(K.dropDot), (e: unknown) => e instanceof ConnectionError && e.temporary && e.phase === "message");
  });

  test("[-Q CONNECT] 421 greeting: temporary", async () => {
    await assert.rejects(send(K.tempfailConnect), (e: unknown) => e instanceof ReplyError && e.code === 421 && e.temporary);
  });

  test("[-Q MAIL] 421 to MAIL: temporary, connection closed", async () => {
    await assert.rejects(send(K.tempfailMailClose), (e: unknown) => e instanceof ReplyError && e.code === 421 && e.phase === "mail");
  });

  test("[-r RCPT] 450 to every RCPT: temporary, no data sent", async () => {
    await assert.rejects(send(K.tempfailRcpt), (e: unknown) => e instanceof ReplyError && e.code === 450 && e.temporary && e.phase === "rcpt");
  });

  test("[-r .] 450 to the end of data: temporary", async () => {
    await assert.rejects(send(K.tempfailDot), (e: unknown) => e instanceof ReplyError && e.code === 450 && e.temporary && e.phase === "message");
  });

  test("[-f CONNECT] 554 greeting: permanent", async () => {
    await assert.rejects(send(K.rejectConnect), (e: unknown) => e instanceof ReplyError && e.code === 554 && !e.temporary && e.phase === "greeting");
  });

  test("[-f MAIL] 500 to MAIL: permanent", async () => {
    await assert.rejects(send(K.rejectMail), (e: unknown) => e instanceof ReplyError && e.code === 500 && e.phase === "mail");
  });

  test("[-f RCPT] 550 5.1.1 to every RCPT: permanent, per-recipient detail", async () => {
    await assert.rejects(send(K.rejectRcpt), (e: unknown) => e instanceof ReplyError && e.code === 550 && e.enhancedCode === "5.1.1");
  });

  test("[-f .] 500 to the end of data: permanent", async () => {
    await assert.rejects(send(K.rejectDot), (e: unknown) => e instanceof ReplyError && e.code === 500 && e.phase === "message");
  });

  test("[-W CONNECT] slow greeting beyond the greeting deadline: TimeoutError", async () => {
    const limit = (K.delaySeconds * 1000) / 3;
    await assert.rejects(send(K.slowGreeting, { timeouts: { ...quick, greeting: limit } }), (e: unknown) => e instanceof TimeoutError && e.phase === "greeting");
  });

  test("[-w] slow 354 beyond the DATA deadline: TimeoutError", async () => {
    const limit = (K.delaySeconds * 1000) / 3;
    await assert.rejects(
      send(K.slowData, { chunking: false, pipelining: false, timeouts: { ...quick, data: limit } }),
      (e: unknown) => e instanceof TimeoutError && e.phase === "data",
    );
  });

  test("[-W .] slow final reply beyond the end-of-data deadline: TimeoutError", async () => {
    const limit = (K.delaySeconds * 1000) / 3;
    await assert.rejects(send(K.slowDot, { timeouts: { ...quick, dataEnd: limit } }), (e: unknown) => e instanceof TimeoutError && e.phase === "message");
  });

  test("[-W .] within the deadline the slow server is waited for", async () => {
    const r = await send(K.slowDot, { timeouts: { ...quick, dataEnd: K.delaySeconds * 1000 + 5000 } });
    assert.equal(r.reply.code, 250);
  });

  test("[-A 0] 550 right after 354: a permanent error, no hang", async () => {
    // Today the client takes a reply that comes before it has sent the message for a stray reply
    // (ProtocolError); the 550 itself (ReplyError) is the better answer. Either way: permanent, no hang.
    await assert.rejects(send(K.abortData), (e: unknown) =>
      ((e instanceof ReplyError && e.code === 550) || (e instanceof ProtocolError && /answer no command/.test(e.message))) &&
      e.temporary === false);
  });
});
