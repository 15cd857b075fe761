/**
 * Byte-exact transcripts of SmtpClient when things go wrong (issue 10):
 * content the server did not agree to, goodbyes after failures, a BDAT chunk
 * refused mid-message, no reply to the end of the message. The same cases
 * against real servers are in tests/interop_failures_test.ts.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SmtpClient } from "../src/default_client.ts";
import { send } from "../src/send.ts";
import { smtpDeliverer } from "../src/queue/smtp.ts";
import type { QueueEntry } from "../src/queue/types.ts";
import { ConnectionError, ProtocolError, ReplyError, SmtpError, TimeoutError, TlsError } from "../src/errors.ts";
import type { TraceEvent } from "../src/options.ts";
import type { Connector } from "../deps.ts";
import { scripted, type Step } from "./support/scripted.ts";

const te = new TextEncoder();
const timeouts = { greeting: 3000, mail: 3000, rcpt: 3000, data: 3000, dataBlock: 3000, dataEnd: 3000 };
const HELLO: Step[] = [{ send: "220 mx\r\n" }, { expect: "EHLO [192.0.2.7]\r\n" }];
/** EHLO without 8BITMIME (and without SMTPUTF8, PIPELINING). */
const EHLO_7BIT = "250-mx\r\n250 SIZE 10000000\r\n";

function client(script: readonly Step[], extra: Record<string, unknown> = {}) {
  const s = scripted(script);
  const events: TraceEvent[] = [];
  const c = new SmtpClient({
    host: "mx.test",
    port: 25,
    tls: "none",
    connector: s.connector,
    timeouts,
    trace: (e: TraceEvent) => events.push(e),
    ...extra,
  });
  return { s, c, events, received: () => events.filter((e) => e.direction === "recv").map((e) => e.line) };
}

/** ASCII lines of 78 octets + CRLF, `count` of them. */
function asciiLines(count: number, tag = "x"): string {
  return Array.from({ length: count }, (_, i) => `${tag}${String(i).padStart(6, "0")}`.padEnd(78, "-") + "\r\n").join("");
}

async function* chunks(...parts: (string | Uint8Array)[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield typeof p === "string" ? te.encode(p) : p;
}

const isDataError = (e: unknown, what: RegExp) =>
  e instanceof SmtpError && !(e instanceof ReplyError) && e.phase === "message" && !e.temporary && what.test(e.message);

describe("SmtpClient: only bytes the server agreed to (issue 10 item 2)", () => {
  // 900 lines of 80 octets = 72 000 octets: more than one 64 KiB write, so part
  // of the message is on the wire when the bad octet turns up.
  const head = "Subject: s\r\n\r\n" + asciiLines(900);

  test("an 8-bit octet mid-stream to a server without 8BITMIME: connection closed, no final dot, data error", async () => {
    const { s, c } = client([
      ...HELLO,
      { send: EHLO_7BIT },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "DATA\r\n" },
      { send: "354 go\r\n" },
      { expect: head },
    ]);
    await c.connect();
    await assert.rejects(
      c.send({ from: "a@x.test", to: ["b@y.test"], data: chunks(head, "caf\u00e9 au lait\r\n", "tail\r\n") }),
      (e: unknown) => isDataError(e, /8-bit.*does not offer 8BITMIME.*nothing was delivered/),
    );
    assert.deepEqual(s.errors, [], "the client wrote nothing after the chunk before the 8-bit one");
    const wire = s.writes.join("");
    assert.ok(!wire.includes("caf"), "the 8-bit line never went out");
    assert.ok(!wire.endsWith(".\r\n") && !wire.includes("\r\n.\r\n"), "no end-of-data");
    assert.equal(c.connected, false, "the only safe abort inside DATA is closing the connection");
    await assert.rejects(c.send({ from: "a@x.test", to: ["b@y.test"], data: "x\r\n" }), (e: unknown) =>
      e instanceof ConnectionError && /8-bit octet/.test((e as Error).message));
  });

  test("a stream to a server with 8BITMIME is announced as BODY=8BITMIME and its 8-bit octets go out", async () => {
    const { s, c } = client([
      ...HELLO,
      { send: "250-mx\r\n250 8BITMIME\r\n" },
      { expect: "MAIL FROM:<a@x.test> BODY=8BITMIME\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "DATA\r\n" },
      { send: "354 go\r\n" },
      { expect: "Subject: s\r\n\r\ncaf\u00e9\r\n.\r\n" },
      { send: "250 ok\r\n" },
    ]);
    await c.connect();
    const r = await c.send({ from: "a@x.test", to: ["b@y.test"], data: chunks("Subject: s\n\n", "caf\u00e9\n") });
    assert.equal(r.reply.code, 250);
    assert.deepEqual(s.errors, []);
  });

  test("a stream declared 7-bit (eightBit: false) that holds an 8-bit octet is abandoned even when 8BITMIME is offered", async () => {
    const { s, c } = client([
      ...HELLO,
      { send: "250-mx\r\n250 8BITMIME\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "DATA\r\n" },
      { send: "354 go\r\n" },
    ]);
    await c.connect();
    await assert.rejects(
      c.send({ from: "a@x.test", to: ["b@y.test"], data: chunks("Subject: s\r\n\r\n", "\u00fcber\r\n"), eightBit: false }),
      (e: unknown) => isDataError(e, /declared 7-bit/),
    );
    assert.deepEqual(s.errors, []);
    assert.equal(s.writes.at(-1), "DATA\r\n", "not one octet of data was written");
    assert.equal(c.connected, false);
  });

  test("SMTPUTF8 without 8BITMIME does not let 8-bit content through (RFC 6531 §3.1 requires 8BITMIME beside it)", async () => {
    const { s, c } = client([...HELLO, { send: "250-mx\r\n250 SMTPUTF8\r\n" }]);
    await c.connect();
    await assert.rejects(
      c.send({ from: "a@x.test", to: ["b@y.test"], data: "Subject: caf\u00e9\r\n\r\nx\r\n", smtpUtf8: true }),
      (e: unknown) => e instanceof SmtpError && /8BITMIME/.test((e as Error).message) && !(e as SmtpError).temporary,
    );
    assert.equal(s.writes.length, 1, "refused before MAIL");
    assert.ok(c.connected);
  });

  test("a NUL octet in in-memory data is refused before MAIL with the data error; the session stays usable", async () => {
    const { s, c } = client([...HELLO, { send: "250-mx\r\n250 8BITMIME\r\n" }]);
    await c.connect();
    await assert.rejects(
      c.send({ from: "a@x.test", to: ["b@y.test"], data: "Subject: s\r\n\r\na\0b\r\n" }),
      (e: unknown) => isDataError(e, /NUL/),
    );
    assert.equal(s.writes.length, 1);
    assert.ok(c.connected);
  });

  test("a NUL octet mid-stream closes the connection without the final dot, even with 8BITMIME", async () => {
    const { s, c } = client([
      ...HELLO,
      { send: "250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n" },
      { expect: "MAIL FROM:<a@x.test> BODY=8BITMIME\r\nRCPT TO:<b@y.test>\r\nDATA\r\n" },
      { send: "250 ok\r\n250 ok\r\n354 go\r\n" },
      { expect: head },
    ]);
    await c.connect();
    await assert.rejects(
      c.send({ from: "a@x.test", to: ["b@y.test"], data: chunks(head, Uint8Array.of(0x61, 0, 0x62, 13, 10)) }),
      (e: unknown) => isDataError(e, /NUL.*nothing was delivered/),
    );
    assert.deepEqual(s.errors, []);
    assert.ok(!s.writes.join("").includes("\0"));
    assert.equal(c.connected, false);
  });

  test("BDAT: an 8-bit octet after a non-final chunk closes the connection; no BDAT LAST is ever sent", async () => {
    const mib = asciiLines(Math.ceil((1024 * 1024) / 80));
    const { s, c } = client([
      ...HELLO,
      { send: "250-mx\r\n250-CHUNKING\r\n250 PIPELINING\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n250 ok\r\n" },
      { expect: `BDAT ${mib.length}\r\n${mib}` },
      { send: "250 2.0.0 chunk ok\r\n" },
    ]);
    await c.connect();
    await assert.rejects(
      c.send({ from: "a@x.test", to: ["b@y.test"], data: chunks(mib, "\u00e9t\u00e9\r\n") }),
      (e: unknown) => isDataError(e, /does not offer 8BITMIME/),
    );
    assert.deepEqual(s.errors, []);
    assert.ok(!s.writes.join("").includes("LAST"));
    assert.equal(c.connected, false);
  });
});

describe("SmtpClient: a stream never passes the server's SIZE (RFC 1870 §6)", () => {
  const isSizeError = (e: unknown, limit: number) =>
    e instanceof SmtpError && !(e instanceof ReplyError) && e.code === 552 && e.enhancedCode === "5.3.4" &&
    e.phase === "message" && !e.temporary && !e.maybeDelivered &&
    new RegExp(`SIZE limit of ${limit} octets.*nothing was delivered`).test(e.message);

  test("DATA: the chunk that would pass SIZE is not written; closed without the final dot; permanent 552 5.3.4", async () => {
    const head = "Subject: s\r\n\r\n" + asciiLines(900); // 72 014 octets: written as one block
    const { s, c } = client([
      ...HELLO,
      { send: "250-mx\r\n250 SIZE 100000\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "DATA\r\n" },
      { send: "354 go\r\n" },
      { expect: head },
    ]);
    await c.connect();
    await assert.rejects(
      c.send({ from: "a@x.test", to: ["b@y.test"], data: chunks(head, asciiLines(400, "y"), "tail\r\n") }),
      (e: unknown) => isSizeError(e, 100000),
    );
    assert.deepEqual(s.errors, [], "nothing after the last block under the limit");
    const wire = s.writes.join("");
    assert.ok(!wire.includes("y000000"), "the chunk that crosses the limit never went out");
    assert.ok(!wire.includes("\r\n.\r\n"), "no end-of-data");
    assert.equal(c.connected, false);
    await assert.rejects(c.send({ from: "a@x.test", to: ["b@y.test"], data: "x\r\n" }), (e: unknown) =>
      e instanceof ConnectionError && /SIZE limit of 100000/.test((e as Error).message));
  });

  test("DATA: exactly SIZE octets go out; the CRLF the end of data adds counts", async () => {
    const body = "Subject: s\r\n\r\nbody\r\n"; // 22 octets
    const { s, c } = client([
      ...HELLO,
      { send: "250-mx\r\n250 SIZE 22\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "DATA\r\n" },
      { send: "354 go\r\n" },
      { expect: body + ".\r\n" },
      { send: "250 queued\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "DATA\r\n" },
      { send: "354 go\r\n" },
    ]);
    await c.connect();
    const r = await c.send({ from: "a@x.test", to: ["b@y.test"], data: chunks("Subject: s\r\n", "\r\nbody\r\n") });
    assert.equal(r.reply.code, 250);
    // 21 octets without a final line ending: the end of data makes it 23.
    await assert.rejects(
      c.send({ from: "a@x.test", to: ["b@y.test"], data: chunks("Subject: s\r\n\r\n", "body\r\nx") }),
      (e: unknown) => isSizeError(e, 22),
    );
    assert.deepEqual(s.errors, [], "the last block (with the final dot) was not written");
    assert.equal(c.connected, false);
  });

  test("BDAT: a chunk under the limit goes, the one that would pass it does not; no BDAT LAST", async () => {
    const mib = asciiLines(Math.ceil((1024 * 1024) / 80));
    const { s, c } = client([
      ...HELLO,
      { send: "250-mx\r\n250-CHUNKING\r\n250-SIZE 1500000\r\n250 PIPELINING\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n250 ok\r\n" },
      { expect: `BDAT ${mib.length}\r\n${mib}` },
      { send: "250 2.0.0 chunk ok\r\n" },
    ]);
    await c.connect();
    await assert.rejects(c.send({ from: "a@x.test", to: ["b@y.test"], data: chunks(mib, mib, "end\r\n") }), (e: unknown) =>
      isSizeError(e, 1500000));
    assert.deepEqual(s.errors, []);
    assert.equal(s.writes.filter((w) => w.startsWith("BDAT")).length, 1);
    assert.ok(!s.writes.join("").includes("LAST"));
    assert.equal(c.connected, false);
  });

  test("BDAT: a stream past a 64 KiB SIZE in its first chunk writes no content at all (Exim's EXIM_SMALL)", async () => {
    const { s, c } = client([
      ...HELLO,
      { send: "250-mx\r\n250-CHUNKING\r\n250-SIZE 65536\r\n250 PIPELINING\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n250 ok\r\n" },
    ]);
    await c.connect();
    await assert.rejects(c.send({ from: "a@x.test", to: ["b@y.test"], data: chunks(asciiLines(1000), asciiLines(1000)) }), (e: unknown) =>
      isSizeError(e, 65536));
    assert.deepEqual(s.errors, []);
    assert.deepEqual(s.writes.filter((w) => w.startsWith("BDAT")), []);
    assert.equal(c.connected, false);
  });

  test("SIZE 0 (no fixed limit) never stops a stream", async () => {
    const big = "Subject: s\r\n\r\n" + asciiLines(1000);
    const { s, c } = client([
      ...HELLO,
      { send: "250-mx\r\n250 SIZE 0\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "DATA\r\n" },
      { send: "354 go\r\n" },
      { expect: big + ".\r\n" },
      { send: "250 queued\r\n" },
    ]);
    await c.connect();
    assert.equal((await c.send({ from: "a@x.test", to: ["b@y.test"], data: chunks(big) })).reply.code, 250);
    assert.deepEqual(s.errors, []);
  });
});

describe("SmtpClient says goodbye after a failure on a usable connection (issue 10 item 4)", () => {
  test("a refused password: QUIT is sent and its 221 read before connect() fails", async () => {
    const ir = btoa("\0me\0wrong-password");
    const { s, c, received } = client([
      ...HELLO,
      { send: "250-mx\r\n250 AUTH PLAIN LOGIN\r\n" },
      { expect: `AUTH PLAIN ${ir}\r\n` },
      { send: "535 5.7.8 Error: authentication failed\r\n" },
      { expect: "QUIT\r\n" },
      { send: "221 2.0.0 Bye\r\n" },
    ], { allowPlaintextAuth: true, auth: { user: "me", pass: "wrong-password" } });
    await assert.rejects(c.connect(), (e: unknown) => e instanceof ReplyError && e.code === 535 && e.phase === "auth");
    assert.deepEqual(s.errors, []);
    assert.deepEqual(s.writes, ["EHLO [192.0.2.7]\r\n", `AUTH PLAIN ${ir}\r\n`, "QUIT\r\n"]);
    assert.equal(received().at(-1), "221 2.0.0 Bye", "the reply to QUIT was read");
    assert.equal(c.connected, false);
  });

  test("a 554 greeting: QUIT, then the 554 is reported (RFC 5321 §3.1)", async () => {
    const { s, c, received } = client([
      { send: "554 5.3.0 No SMTP service here\r\n" },
      { expect: "QUIT\r\n" },
      { send: "221 bye\r\n" },
    ]);
    await assert.rejects(c.connect(), (e: unknown) => e instanceof ReplyError && e.code === 554 && e.phase === "greeting");
    assert.deepEqual(s.writes, ["QUIT\r\n"]);
    assert.equal(received().at(-1), "221 bye");
    assert.deepEqual(s.errors, []);
  });

  test("a server that does not answer QUIT does not hold connect() past the short QUIT deadline", async () => {
    const { s, c } = client([
      ...HELLO,
      { send: "250 mx\r\n" },
      { expect: "QUIT\r\n" },
      { hang: true },
    ], { tls: "starttls-required", timeouts: { ...timeouts, mail: 100 } });
    await assert.rejects(c.connect(), (e: unknown) => e instanceof TlsError && /STARTTLS/.test((e as Error).message));
    assert.deepEqual(s.writes, ["EHLO [192.0.2.7]\r\n", "QUIT\r\n"]);
  });

  test("no QUIT after a 421, a protocol error, a time-out or a failed TLS handshake", async () => {
    const cases: { script: Step[]; extra?: Record<string, unknown>; check: (e: unknown) => boolean; wrap?: boolean }[] = [
      { script: [{ send: "421 4.3.2 busy\r\n" }], check: (e) => e instanceof ReplyError && e.code === 421 },
      { script: [...HELLO, { send: "hello there\r\n" }], check: (e) => e instanceof ProtocolError },
      // A reply that answers nothing is still unread when STARTTLS turns out to be missing.
      { script: [...HELLO, { send: "250 mx\r\n250 extra\r\n" }], extra: { tls: "starttls-required" }, check: (e) => e instanceof TlsError },
      {
        script: [...HELLO, { send: "250-mx\r\n250 STARTTLS\r\n" }, { expect: "STARTTLS\r\n" }, { send: "220 go\r\n" }, { startTls: true }],
        wrap: true,
        extra: { tls: "starttls-required" },
        check: (e) => e instanceof TlsError && /verify/.test((e as Error).message),
      },
      { script: [...HELLO, { hang: true }], extra: { timeouts: { ...timeouts, mail: 50 } }, check: (e) => e instanceof TimeoutError },
    ];
    for (const k of cases) {
      const s = scripted(k.script);
      let connector: Connector = s.connector;
      if (k.wrap) {
        connector = {
          name: "tls-fails",
          async connect(o) {
            const t = await s.connector.connect(o);
            return Object.assign(Object.create(t), {
              read: () => t.read(),
              write: (d: Uint8Array) => t.write(d),
              close: () => t.close(),
              startTls: async () => {
                throw new TlsError("certificate verify failed", { phase: "tls" });
              },
            });
          },
        };
      }
      const c = new SmtpClient({ host: "mx.test", port: 25, tls: "none", connector, timeouts, ...k.extra });
      await assert.rejects(c.connect(), (e: unknown) => k.check(e));
      assert.ok(!s.writes.includes("QUIT\r\n"), `no QUIT: ${JSON.stringify(s.writes)}`);
    }
  });

  test("the send() helper says QUIT after a refused sender and reports the refusal", async () => {
    const s = scripted([
      ...HELLO,
      { send: "250 mx\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "553 5.7.1 sender rejected\r\n" },
      { expect: "QUIT\r\n" },
      { send: "221 bye\r\n" },
    ]);
    await assert.rejects(
      send({ host: "mx.test", port: 25, tls: "none", connector: s.connector, timeouts }, { from: "a@x.test", to: ["b@y.test"], data: "x\r\n" }),
      (e: unknown) => e instanceof ReplyError && e.code === 553 && e.phase === "mail",
    );
    assert.deepEqual(s.errors, []);
    assert.equal(s.writes.at(-1), "QUIT\r\n");
  });
});

describe("SmtpClient: a BDAT chunk refused mid-message (issue 10 item 5)", () => {
  const mib = asciiLines(Math.ceil((1024 * 1024) / 80));

  test("552 to a non-final BDAT: no further chunk, the permanent 552 in phase bdat, connection closed", async () => {
    const { s, c } = client([
      ...HELLO,
      { send: "250-mx\r\n250-CHUNKING\r\n250-8BITMIME\r\n250 PIPELINING\r\n" },
      { expect: "MAIL FROM:<a@x.test> BODY=8BITMIME\r\nRCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n250 ok\r\n" },
      { expect: `BDAT ${mib.length}\r\n${mib}` },
      { send: "552 5.3.4 Message size exceeds fixed limit\r\n" },
    ]);
    await c.connect();
    await assert.rejects(
      c.send({ from: "a@x.test", to: ["b@y.test"], data: chunks(mib, mib, "end\r\n") }),
      (e: unknown) =>
        e instanceof ReplyError && e.code === 552 && e.enhancedCode === "5.3.4" && e.phase === "bdat" && !e.temporary &&
        !e.maybeDelivered,
    );
    assert.deepEqual(s.errors, [], "nothing was written after the refused chunk");
    assert.equal(c.connected, false, "the server may read the rest as commands: the connection is not reused");
    await assert.rejects(
      c.send({ from: "a@x.test", to: ["b@y.test"], data: "again\r\n" }),
      (e: unknown) => e instanceof ConnectionError && /BDAT chunk refused/.test((e as Error).message),
      "a later send() on this client fails clearly",
    );
    assert.ok(!s.writes.some((w) => w.startsWith("RSET")), "no RSET on a connection that is not clean");
  });

  test("a reply in the middle of a chunk stops the writing at once (the server stopped reading)", async () => {
    const first = `BDAT ${mib.length} LAST\r\n${mib}`.slice(0, 64 * 1024);
    const { s, c } = client([
      ...HELLO,
      { send: "250-mx\r\n250-CHUNKING\r\n250 PIPELINING\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n250 ok\r\n" },
      { expect: first },
      { send: "552 5.3.4 Message too big for system\r\n" },
    ]);
    await c.connect();
    await assert.rejects(
      c.send({ from: "a@x.test", to: ["b@y.test"], data: mib }),
      (e: unknown) => e instanceof ReplyError && e.code === 552 && e.phase === "bdat" && !e.temporary,
    );
    assert.deepEqual(s.errors, [], "not one octet after the block during which the server replied");
    assert.equal(c.connected, false);
  });

  test("the same for DATA: a reply before the message is written in full ends it and closes", async () => {
    const big = "Subject: s\r\n\r\n" + asciiLines(2000);
    const { s, c } = client([
      ...HELLO,
      { send: "250 mx\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "DATA\r\n" },
      { send: "354 go\r\n" },
      { expect: big.slice(0, 64 * 1024) },
      { send: "550 5.7.0 This violates SMTP\r\n" },
      { close: true },
    ]);
    await assert.doesNotReject(c.connect());
    await assert.rejects(
      c.send({ from: "a@x.test", to: ["b@y.test"], data: big }),
      (e: unknown) => e instanceof ReplyError && e.code === 550 && e.phase === "message" && !e.maybeDelivered,
    );
    assert.deepEqual(s.errors, []);
    assert.equal(c.connected, false);
  });
});

describe("the queue's deliverer after a refused BDAT chunk", () => {
  test("the next entry goes over a new connection, not the closed one", async () => {
    const mib = asciiLines(Math.ceil((1024 * 1024) / 80));
    const first = scripted([
      ...HELLO,
      { send: "250-mx\r\n250 CHUNKING\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: `BDAT ${mib.length}\r\n${mib}` },
      { send: "552 5.3.4 Message size exceeds fixed limit\r\n" },
    ]);
    const second = scripted([
      ...HELLO,
      { send: "250-mx\r\n250 CHUNKING\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "BDAT 7 LAST\r\nsmall\r\n" },
      { send: "250 2.0.0 queued\r\n" },
      { expect: "QUIT\r\n" },
      { send: "221 bye\r\n" },
    ]);
    const servers = [first, second];
    let n = 0;
    const connector: Connector = { name: "two servers", connect: (o) => servers[n++]!.connector.connect(o) };
    const d = smtpDeliverer({ host: "mx.test", port: 25, tls: "none", connector, timeouts });
    const entry = (id: string) =>
      ({
        id,
        from: "a@x.test",
        recipients: [{ address: "b@y.test", state: "pending" }],
        eightBit: false,
        smtpUtf8: false,
        dsnReturn: null,
        dsnEnvelopeId: null,
        dsnNotify: null,
        account: null,
      }) as unknown as QueueEntry;
    await assert.rejects(d.deliver(entry("one"), chunks(mib, mib), ["b@y.test"]), (e: unknown) =>
      e instanceof ReplyError && e.code === 552 && !e.temporary);
    const r = await d.deliver(entry("two"), chunks("small\r\n"), ["b@y.test"]);
    assert.equal(r.reply.code, 250);
    await d.close();
    assert.equal(n, 2, "a second connection");
    assert.deepEqual([...first.errors, ...second.errors], []);
  });
});

describe("SmtpClient: no reply to the end of the message (issue 10 item 10)", () => {
  const dataScript = (after: Step[]): Step[] => [
    ...HELLO,
    { send: "250 mx\r\n" },
    { expect: "MAIL FROM:<a@x.test>\r\n" },
    { send: "250 ok\r\n" },
    { expect: "RCPT TO:<b@y.test>\r\n" },
    { send: "250 ok\r\n" },
    { expect: "DATA\r\n" },
    { send: "354 go\r\n" },
    { expect: "x\r\n.\r\n" },
    ...after,
  ];

  test("a time-out after the final dot says the server may already have accepted it (maybeDelivered)", async () => {
    const { s, c } = client(dataScript([{ hang: true }]), { timeouts: { ...timeouts, dataEnd: 100 } });
    await c.connect();
    await assert.rejects(c.send({ from: "a@x.test", to: ["b@y.test"], data: "x\r\n" }), (e: unknown) =>
      e instanceof TimeoutError && e.maybeDelivered && e.temporary && e.phase === "message" &&
      /may already have accepted/.test(e.message) && /RFC 5321 §6\.1/.test(e.message));
    assert.deepEqual(s.errors, []);
    assert.equal(c.connected, false);
  });

  test("the connection dropped after the final dot: ConnectionError with maybeDelivered", async () => {
    const { c } = client(dataScript([{ close: true }]));
    await c.connect();
    await assert.rejects(c.send({ from: "a@x.test", to: ["b@y.test"], data: "x\r\n" }), (e: unknown) =>
      e instanceof ConnectionError && e.maybeDelivered && /may already have accepted/.test(e.message));
  });

  test("BDAT LAST without a reply is maybeDelivered too; a drop before the end is not", async () => {
    const { c } = client([
      ...HELLO,
      { send: "250-mx\r\n250 CHUNKING\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "BDAT 3 LAST\r\nx\r\n" },
      { close: true },
    ]);
    await c.connect();
    await assert.rejects(c.send({ from: "a@x.test", to: ["b@y.test"], data: "x\r\n" }), (e: unknown) =>
      e instanceof ConnectionError && e.maybeDelivered);

    const early = client([...HELLO, { send: "250 mx\r\n" }, { expect: "MAIL FROM:<a@x.test>\r\n" }, { close: true }]);
    await early.c.connect();
    await assert.rejects(early.c.send({ from: "a@x.test", to: ["b@y.test"], data: "x\r\n" }), (e: unknown) =>
      e instanceof ConnectionError && !e.maybeDelivered);
  });
});

describe("SmtpClient: a refused BDAT LAST (Exim answers before reading the chunk)", () => {
  test("a negative reply to BDAT LAST closes the connection: no RSET, a later send() fails clearly", async () => {
    const body = "Subject: s\r\n\r\n" + asciiLines(10);
    const { s, c, events } = client([
      ...HELLO,
      { send: "250-mx\r\n250-CHUNKING\r\n250 PIPELINING\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n250 ok\r\n" },
      { expect: `BDAT ${body.length} LAST\r\n${body}` },
      { send: "552 Message size exceeds maximum permitted\r\n" },
    ]);
    await c.connect();
    await assert.rejects(
      c.send({ from: "a@x.test", to: ["b@y.test"], data: chunks(body) }),
      (e: unknown) => e instanceof ReplyError && e.code === 552 && !e.temporary && !e.maybeDelivered,
    );
    assert.equal(c.connected, false, "the server may have taken part of the chunk for commands");
    await assert.rejects(
      c.send({ from: "a@x.test", to: ["b@y.test"], data: "x\r\n" }),
      (e: unknown) => e instanceof ConnectionError && /BDAT LAST refused with 552/.test((e as Error).message),
    );
    assert.deepEqual(s.errors, []);
    assert.ok(!events.some((e) => e.direction === "send" && e.line === "RSET"));
  });
});
