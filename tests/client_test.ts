/**
 * Byte-exact transcript tests of SmtpClient against a scripted server
 * (design note 9). Interop with real servers is in tests/interop_*_test.ts.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SmtpClient } from "../src/client.ts";
import { AuthError, ConnectionError, ProtocolError, ReplyError, SmtpError, TimeoutError, TlsError } from "../src/errors.ts";
import type { TraceEvent } from "../src/options.ts";
import { scripted, type Step } from "./support/scripted.ts";
import { compose } from "../src/message/compose.ts";

const EHLO_PIPE = "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-DSN\r\n250 ENHANCEDSTATUSCODES\r\n";
const EHLO_PLAIN = "250-mx.test\r\n250 8BITMIME\r\n";

function client(script: readonly Step[], extra: Record<string, unknown> = {}) {
  const s = scripted(script);
  const timeouts = { greeting: 3000, mail: 3000, rcpt: 3000, data: 3000, dataBlock: 3000, dataEnd: 3000 };
  const c = new SmtpClient({ host: "mx.test", port: 25, tls: "none", connector: s.connector, timeouts, ...extra });
  return { s, c };
}

describe("SmtpClient session", () => {
  test("connect() sends EHLO with the local address literal, never the server's name", async () => {
    const { s, c } = client([
      { send: "220 mx.test ESMTP\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: EHLO_PLAIN },
      { expect: "QUIT\r\n" },
      { send: "221 bye\r\n" },
    ]);
    await c.connect();
    assert.equal(c.capabilities?.eightBitMime, true);
    await c.quit();
    assert.deepEqual(s.errors, []);
    assert.equal(s.connects[0]?.hostname, "mx.test");
  });

  test("connect() falls back to HELO when EHLO is refused with 502", async () => {
    const { s, c } = client([
      { send: "220 old.test SMTP\r\n" },
      { expect: "EHLO client.example\r\n" },
      { send: "502 5.5.1 command not implemented\r\n" },
      { expect: "HELO client.example\r\n" },
      { send: "250 old.test\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "DATA\r\n" },
      { send: "354 go\r\n" },
      { expect: "Subject: t\r\n\r\nbody\r\n.\r\n" },
      { send: "250 queued\r\n" },
    ], { name: "client.example" });
    await c.connect();
    assert.equal(c.capabilities, null);
    const r = await c.send({ from: "a@x.test", to: ["b@y.test"], data: "Subject: t\n\nbody" });
    assert.equal(r.reply.code, 250);
    assert.deepEqual(s.errors, []);
  });

  test("send() pipelines MAIL, every RCPT and DATA in ONE write when PIPELINING is offered", async () => {
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: EHLO_PIPE },
      {
        expect: "MAIL FROM:<a@x.test> SIZE=20\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<nobody@y.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n",
      },
      { send: "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n250 2.1.5 ok\r\n354 go\r\n" },
      { expect: "Subject: x\r\n\r\n..dot\r\n.\r\n" },
      { send: "250 2.0.0 queued as ABC\r\n" },
    ]);
    await c.connect();
    const r = await c.send({ from: "a@x.test", to: ["b@y.test", "nobody@y.test", "c@y.test"], data: "Subject: x\r\n\r\n.dot\r\n" });
    assert.deepEqual(s.errors, []);
    const groupWrite = s.writes.find((w) => w.startsWith("MAIL"));
    assert.ok(groupWrite?.endsWith("DATA\r\n"), "MAIL..DATA went out in one write");
    assert.deepEqual(r.accepted.map((x) => x.address), ["b@y.test", "c@y.test"]);
    assert.equal(r.rejected.length, 1);
    assert.deepEqual(
      { address: r.rejected[0]!.address, code: r.rejected[0]!.code, enhanced: r.rejected[0]!.enhancedCode },
      { address: "nobody@y.test", code: 550, enhanced: "5.1.1" },
    );
    assert.equal(r.reply.code, 250);
    assert.equal(r.octets, "Subject: x\r\n\r\n..dot\r\n.\r\n".length);
  });

  test("send() never pipelines when PIPELINING is not offered", async () => {
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: EHLO_PLAIN },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "DATA\r\n" },
      { send: "354 go\r\n" },
      { expect: "hi\r\n.\r\n" },
      { send: "250 ok\r\n" },
    ]);
    await c.connect();
    await c.send({ from: "a@x.test", to: ["b@y.test"], data: "hi\r\n" });
    assert.deepEqual(s.errors, []);
    for (const w of s.writes) assert.ok(w.split("\r\n").filter(Boolean).length <= 2 || w.startsWith("hi"), `one command per write: ${JSON.stringify(w)}`);
  });

  test("send() with zero accepted recipients finishes a pipelined 354 with a lone dot and sends no data", async () => {
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: EHLO_PIPE },
      { expect: "MAIL FROM:<a@x.test> SIZE=6\r\nRCPT TO:<b@y.test>\r\nDATA\r\n" },
      { send: "250 ok\r\n550 5.1.1 unknown\r\n354 go ahead anyway\r\n" },
      { expect: ".\r\n" },
      { send: "554 5.5.1 no valid recipients\r\n" },
      { expect: "RSET\r\n" },
      { send: "250 ok\r\n" },
      { expect: "QUIT\r\n" },
      { send: "221 bye\r\n" },
    ]);
    await c.connect();
    await assert.rejects(
      c.send({ from: "a@x.test", to: ["b@y.test"], data: "body\r\n" }),
      (e: unknown) => e instanceof ReplyError && e.code === 550 && e.phase === "rcpt" && !e.temporary,
    );
    assert.ok(c.connected, "a refused transaction leaves the session usable");
    await c.reset();
    await c.quit();
    assert.deepEqual(s.errors, []);
    assert.ok(!s.writes.join("").includes("body"), "no message data was sent");
  });

  test("policy \"all\" does not pipeline DATA and sends nothing when one recipient is refused", async () => {
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: EHLO_PIPE },
      { expect: "MAIL FROM:<a@x.test> SIZE=6\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\n" },
      { send: "250 ok\r\n250 ok\r\n450 4.2.0 greylisted\r\n" },
    ]);
    await c.connect();
    await assert.rejects(
      c.send({ from: "a@x.test", to: ["b@y.test", "c@y.test"], data: "body\r\n", policy: "all" }),
      (e: unknown) => e instanceof ReplyError && e.code === 450 && e.temporary,
    );
    assert.deepEqual(s.errors, []);
    assert.ok(!s.writes.join("").includes("DATA"));
  });

  test("a second message on the same connection sends RSET only after a failed transaction", async () => {
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: EHLO_PLAIN },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "451 4.3.0 try later\r\n" },
      { expect: "RSET\r\n" },
      { send: "250 ok\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "DATA\r\n" },
      { send: "354 go\r\n" },
      { expect: "1\r\n.\r\n" },
      { send: "250 ok\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "DATA\r\n" },
      { send: "354 go\r\n" },
      { expect: "2\r\n.\r\n" },
      { send: "250 ok\r\n" },
    ]);
    await c.connect();
    await assert.rejects(c.send({ from: "a@x.test", to: ["b@y.test"], data: "0" }), (e: unknown) => e instanceof ReplyError && e.temporary);
    await c.send({ from: "a@x.test", to: ["b@y.test"], data: "1" });
    await c.send({ from: "a@x.test", to: ["b@y.test"], data: "2" });
    assert.deepEqual(s.errors, []);
  });

  test("421 at any stage closes the connection and is reported as temporary", async () => {
    const { c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: EHLO_PLAIN },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "421 4.3.2 shutting down\r\n" },
    ]);
    await c.connect();
    await assert.rejects(
      c.send({ from: "a@x.test", to: ["b@y.test"], data: "x" }),
      (e: unknown) => e instanceof ReplyError && e.code === 421 && e.temporary && e.phase === "mail",
    );
    assert.equal(c.connected, false);
  });

  test("a 5xx greeting is a permanent ReplyError in phase greeting", async () => {
    const { c } = client([{ send: "554 5.7.1 go away\r\n" }]);
    await assert.rejects(c.connect(), (e: unknown) => e instanceof ReplyError && e.code === 554 && e.phase === "greeting" && !e.temporary);
  });

  test("a server that never answers hits the greeting deadline with a TimeoutError", async () => {
    const { c } = client([{ hang: true }], { timeouts: { greeting: 150 } });
    await assert.rejects(c.connect(), (e: unknown) => e instanceof TimeoutError && e.phase === "greeting" && e.temporary);
  });

  test("connection closed mid-session is a temporary ConnectionError", async () => {
    const { c } = client([{ send: "220 mx\r\n" }, { expect: "EHLO [192.0.2.7]\r\n" }, { close: true }]);
    await assert.rejects(c.connect(), (e: unknown) => e instanceof ConnectionError && e.temporary && e.phase === "ehlo");
  });
});

describe("SmtpClient STARTTLS", () => {
  test("STARTTLS upgrades with the configured name, forgets capabilities and says EHLO again", async () => {
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: "250-mx\r\n250-STARTTLS\r\n250 PIPELINING\r\n" },
      { expect: "STARTTLS\r\n" },
      { send: "220 2.0.0 ready\r\n" },
      { startTls: true },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: "250-mx\r\n250 AUTH PLAIN\r\n" },
    ], { tls: "starttls-required", servername: "mail.example.org", ca: "PEM" });
    await c.connect();
    assert.deepEqual(s.errors, []);
    assert.equal(s.tlsUpgrades[0]?.servername, "mail.example.org");
    assert.equal(s.tlsUpgrades[0]?.verify, true);
    assert.deepEqual(s.tlsUpgrades[0]?.ca, ["PEM"]);
    assert.equal(c.capabilities?.pipelining, false, "pre-TLS PIPELINING was forgotten");
    assert.deepEqual(c.capabilities?.auth, ["PLAIN"]);
  });

  test("bytes after the STARTTLS 220 in the same packet are refused before the handshake", async () => {
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: "250-mx\r\n250 STARTTLS\r\n" },
      { expect: "STARTTLS\r\n" },
      { send: "220 ready\r\n250-injected\r\n250 AUTH PLAIN\r\n" },
    ], { tls: "starttls-required" });
    await assert.rejects(c.connect(), (e: unknown) => e instanceof ProtocolError && e.phase === "starttls");
    assert.equal(s.tlsUpgrades.length, 0, "no handshake was attempted");
    assert.equal(s.writes.length, 2, "nothing written after STARTTLS");
  });

  test("starttls-required fails when the server does not offer STARTTLS, before any MAIL, and says QUIT", async () => {
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: EHLO_PLAIN },
      { expect: "QUIT\r\n" },
      { send: "221 2.0.0 bye\r\n" },
    ], { tls: "starttls-required" });
    await assert.rejects(c.connect(), (e: unknown) => e instanceof TlsError && /does not offer STARTTLS/.test((e as Error).message));
    assert.deepEqual(s.writes, ["EHLO [192.0.2.7]\r\n", "QUIT\r\n"]);
    assert.deepEqual(s.errors, []);
    assert.equal(s.position(), 5, "the 221 was read");
    assert.equal(c.connected, false);
  });

  test("credentials are never sent without TLS unless explicitly allowed", async () => {
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: "250-mx\r\n250 AUTH PLAIN LOGIN\r\n" },
    ], { tls: "starttls-opportunistic", auth: { user: "u", pass: "secret" } });
    await assert.rejects(c.connect(), (e: unknown) => e instanceof AuthError && e.phase === "auth" && /without TLS/.test((e as Error).message));
    assert.ok(!s.writes.join("").includes("AUTH"));
  });
});

describe("SmtpClient data", () => {
  test("dot-stuffing and CRLF normalisation neutralise smuggling sequences in the body", async () => {
    const body = "Subject: s\n\nline\n.\nmore\r.\rend\n.\r\nx";
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: "250 mx\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "DATA\r\n" },
      { send: "354 go\r\n" },
      { expect: "Subject: s\r\n\r\nline\r\n..\r\nmore\r\n..\r\nend\r\n..\r\nx\r\n.\r\n" },
      { send: "250 ok\r\n" },
    ]);
    await c.connect();
    await c.send({ from: "a@x.test", to: ["b@y.test"], data: body });
    assert.deepEqual(s.errors, []);
  });

  test("a streamed message is coalesced into large writes and ends with one dot", async () => {
    async function* gen() {
      for (let i = 0; i < 1000; i++) yield new TextEncoder().encode(`line ${i}\n`);
    }
    const expected = Array.from({ length: 1000 }, (_, i) => `line ${i}\r\n`).join("") + ".\r\n";
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: EHLO_PIPE },
      { expect: "MAIL FROM:<a@x.test> BODY=8BITMIME\r\nRCPT TO:<b@y.test>\r\nDATA\r\n" },
      { send: "250 ok\r\n250 ok\r\n354 go\r\n" },
      { expect: expected },
      { send: "250 ok\r\n" },
    ]);
    await c.connect();
    const r = await c.send({ from: "a@x.test", to: ["b@y.test"], data: gen() });
    assert.deepEqual(s.errors, []);
    assert.equal(r.octets, expected.length);
    const dataWrites = s.writes.filter((w) => w.startsWith("line"));
    assert.ok(dataWrites.length <= 2, `${dataWrites.length} writes for 1000 small chunks`);
  });

  test("BDAT is used when CHUNKING is offered: exact byte count, no dot-stuffing", async () => {
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: "250-mx\r\n250-CHUNKING\r\n250 PIPELINING\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n250 ok\r\n" },
      { expect: "BDAT 12 LAST\r\nS: x\r\n\r\n.a\r\n" },
      { send: "250 ok\r\n" },
    ]);
    await c.connect();
    await c.send({ from: "a@x.test", to: ["b@y.test"], data: "S: x\n\n.a" });
    assert.deepEqual(s.errors, []);
  });

  test("a line over 998 octets is refused before anything is sent", async () => {
    const { s, c } = client([{ send: "220 mx\r\n" }, { expect: "EHLO [192.0.2.7]\r\n" }, { send: "250 mx\r\n" }]);
    await c.connect();
    await assert.rejects(c.send({ from: "a@x.test", to: ["b@y.test"], data: "S: x\r\n\r\n" + "a".repeat(999) }), RangeError);
    assert.equal(s.writes.length, 1);
  });

  test("CR or LF in an address is refused before any byte is written", async () => {
    const { s, c } = client([{ send: "220 mx\r\n" }, { expect: "EHLO [192.0.2.7]\r\n" }, { send: EHLO_PIPE }]);
    await c.connect();
    await assert.rejects(c.send({ from: "a@x.test", to: ["b@y.test>\r\nRCPT TO:<evil@z.test"], data: "x" }), TypeError);
    await assert.rejects(c.send({ from: "a@x.test\r\nDATA", to: ["b@y.test"], data: "x" }), TypeError);
    assert.equal(s.writes.length, 1);
  });

  test("an envelope address that is not RFC 5321 to the letter is refused before any byte is written", async () => {
    const { s, c } = client([{ send: "220 mx\r\n" }, { expect: "EHLO [192.0.2.7]\r\n" }, { send: EHLO_PIPE }]);
    await c.connect();
    for (const bad of ["a@[255.255.255.256]", "a@[IPv6:1::2:]", "a..b@y.test", "a@y.test.", "b@y\u2028.test", "root"]) {
      await assert.rejects(c.send({ from: "a@x.test", to: [bad], data: "x" }), TypeError, bad);
    }
    await assert.rejects(c.send({ from: "a@[010.0.0.1]", to: ["b@y.test"], data: "x" }), TypeError);
    assert.equal(s.writes.length, 1, "only the EHLO went out");
  });

  test("a non-ASCII address uses SMTPUTF8 when offered and is refused when not", async () => {
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: EHLO_PIPE },
      { expect: "MAIL FROM:<a@x.test> SIZE=3 SMTPUTF8\r\nRCPT TO:<用户@例子.test>\r\nDATA\r\n" },
      { send: "250 ok\r\n250 ok\r\n354 go\r\n" },
      { expect: "x\r\n.\r\n" },
      { send: "250 ok\r\n" },
    ]);
    await c.connect();
    await c.send({ from: "a@x.test", to: ["用户@例子.test"], data: "x" });
    assert.deepEqual(s.errors, []);

    const t = client([{ send: "220 mx\r\n" }, { expect: "EHLO [192.0.2.7]\r\n" }, { send: EHLO_PLAIN }]);
    await t.c.connect();
    await assert.rejects(
      t.c.send({ from: "a@x.test", to: ["用户@例子.test"], data: "x" }),
      (e: unknown) =>
        e instanceof SmtpError && !(e instanceof ReplyError) && e.code === 553 && e.enhancedCode === "5.6.7" && !e.temporary &&
        e.phase === "mail" && /"用户@例子\.test" has a non-ASCII local part, which needs SMTPUTF8/.test(e.message),
    );
    assert.equal(t.s.writes.length, 1);
  });

  test("a UTF-8 header (compose()'s smtputf8) goes under SMTPUTF8 when offered; without it: refused before MAIL, nothing written, session usable", async () => {
    const m = compose({ from: "jörg@example.org", to: "b@y.test", subject: "s", text: "x", envelope: { from: "bounce@x.test", to: ["b@y.test"] } });
    assert.equal(m.smtputf8, true);
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: EHLO_PIPE },
      { expect: "MAIL FROM:<bounce@x.test> BODY=8BITMIME SMTPUTF8\r\nRCPT TO:<b@y.test>\r\nDATA\r\n" },
      { send: "250 ok\r\n250 ok\r\n354 go\r\n" },
      { expect: new TextDecoder().decode(await m.toBytes()).replace(/(?<!\r\n)$/, "\r\n") + ".\r\n" },
      { send: "250 ok\r\n" },
    ]);
    await c.connect();
    await c.send(m);
    assert.deepEqual(s.errors, []);

    const t = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: EHLO_PLAIN },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "DATA\r\n" },
      { send: "354 go\r\n" },
      { expect: "x\r\n.\r\n" },
      { send: "250 ok\r\n" },
    ]);
    await t.c.connect();
    await assert.rejects(
      t.c.send(m),
      (e: unknown) =>
        e instanceof SmtpError && !(e instanceof ReplyError) && e.code === 554 && e.enhancedCode === "5.6.9" && !e.temporary &&
        e.phase === "mail" && /UTF-8 header fields.*does not offer SMTPUTF8.*nothing was sent/.test(e.message),
    );
    assert.equal(t.s.writes.length, 1, "only EHLO was written");
    // The same holds for a message given with smtpUtf8: true …
    await assert.rejects(t.c.send({ from: "a@x.test", to: ["b@y.test"], data: "x\r\n", smtpUtf8: true }), /does not offer SMTPUTF8/);
    assert.equal(t.s.writes.length, 1);
    // … and the session is still usable.
    await t.c.send({ from: "a@x.test", to: ["b@y.test"], data: "x\r\n" });
    assert.deepEqual(t.s.errors, []);
  });

  test("without SMTPUTF8, IDN domains go as A-labels in MAIL and RCPT (ORCPT keeps the original); the session stays usable after a refusal", async () => {
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: "250-mx\r\n250-PIPELINING\r\n250-DSN\r\n250 8BITMIME\r\n" },
      {
        expect: "MAIL FROM:<me@xn--bcher-kva.example>\r\n" +
          "RCPT TO:<a@xn--fsqu00a.xn--4rr70v> NOTIFY=FAILURE ORCPT=utf-8;a@\\x{4F8B}\\x{5B50}.\\x{5E7F}\\x{544A}\r\n" +
          "RCPT TO:<b@example.net> NOTIFY=FAILURE ORCPT=rfc822;b@example.net\r\nDATA\r\n",
      },
      { send: "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n" },
      { expect: "x\r\n.\r\n" },
      { send: "250 ok\r\n" },
      { expect: "MAIL FROM:<me@example.org>\r\nRCPT TO:<c@xn--bcher-kva.example>\r\nDATA\r\n" },
      { send: "250 ok\r\n250 ok\r\n354 go\r\n" },
      { expect: "y\r\n.\r\n" },
      { send: "250 ok\r\n" },
    ]);
    await c.connect();
    const r = await c.send({ from: "me@bücher.example", to: ["a@例子.广告", "b@example.net"], data: "x\r\n", dsnNotify: ["FAILURE"] });
    // Results name the recipients as the caller wrote them.
    assert.deepEqual(r.accepted.map((x) => x.address), ["a@例子.广告", "b@example.net"]);
    // A non-ASCII local part: refused before anything is written, and the connection is still usable.
    await assert.rejects(c.send({ from: "jörg@example.org", to: ["c@bücher.example"], data: "y\r\n" }), /SMTPUTF8/);
    await c.send({ from: "me@example.org", to: ["c@bücher.example"], data: "y\r\n" });
    assert.deepEqual(s.errors, []);
    assert.equal(s.position(), 11);
  });

  test("DSN parameters are sent only when DSN is offered, xtext-encoded", async () => {
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: EHLO_PIPE },
      {
        expect: "MAIL FROM:<a@x.test> SIZE=3 RET=HDRS ENVID=id+2B1\r\nRCPT TO:<b+x@y.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx@y.test\r\nDATA\r\n",
      },
      { send: "250 ok\r\n250 ok\r\n354 go\r\n" },
      { expect: "x\r\n.\r\n" },
      { send: "250 ok\r\n" },
    ]);
    await c.connect();
    await c.send({
      from: "a@x.test",
      to: [{ address: "b+x@y.test", notify: ["SUCCESS", "FAILURE"] }],
      data: "x\r\n",
      dsnReturn: "HDRS",
      dsnEnvelopeId: "id+1",
    });
    assert.deepEqual(s.errors, []);
  });

  test("an ENVID with spaces is xtext-encoded byte for byte; a forbidden one is refused before MAIL, DSN offered or not", async () => {
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: EHLO_PIPE },
      { expect: "MAIL FROM:<a@x.test> SIZE=3 ENVID=batch+2042+20+2B+3D\r\nRCPT TO:<b@y.test>\r\nDATA\r\n" },
      { send: "250 ok\r\n250 ok\r\n354 go\r\n" },
      { expect: "x\r\n.\r\n" },
      { send: "250 ok\r\n" },
    ]);
    await c.connect();
    await c.send({ from: "a@x.test", to: ["b@y.test"], data: "x\r\n", dsnEnvelopeId: "batch 42 +=" });
    await assert.rejects(c.send({ from: "a@x.test", to: ["b@y.test"], data: "x\r\n", dsnEnvelopeId: "a\tb" }), /U\+0009/);
    await assert.rejects(c.send({ from: "a@x.test", to: ["b@y.test"], data: "x\r\n", dsnEnvelopeId: " ".repeat(40) }), RangeError);
    assert.deepEqual(s.errors, []);
    assert.equal(s.position(), 7);
    const t = client([{ send: "220 mx\r\n" }, { expect: "EHLO [192.0.2.7]\r\n" }, { send: EHLO_PLAIN }]);
    await t.c.connect();
    await assert.rejects(t.c.send({ from: "a@x.test", to: ["b@y.test"], data: "x\r\n", dsnEnvelopeId: "caf\u00e9" }), TypeError);
    assert.equal(t.s.writes.length, 1);
  });

  test("a message larger than the advertised SIZE is refused before MAIL", async () => {
    const { s, c } = client([{ send: "220 mx\r\n" }, { expect: "EHLO [192.0.2.7]\r\n" }, { send: "250-mx\r\n250 SIZE 10\r\n" }]);
    await c.connect();
    await assert.rejects(c.send({ from: "a@x.test", to: ["b@y.test"], data: "0123456789abcdef" }), (e: unknown) => e instanceof SmtpError && e.code === 552);
    assert.equal(s.writes.length, 1);
  });
});

describe("SmtpClient trace", () => {
  test("the trace shows every line with directions and hides message data", async () => {
    const events: TraceEvent[] = [];
    const { c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: "250-mx\r\n250 8BITMIME\r\n" },
      { expect: "QUIT\r\n" },
      { send: "221 bye\r\n" },
    ], { trace: (e: TraceEvent) => events.push(e) });
    await c.connect();
    await c.quit();
    const lines = events.filter((e) => e.direction !== "info").map((e) => `${e.direction} ${e.line}`);
    assert.deepEqual(lines, ["recv 220 mx", "send EHLO [192.0.2.7]", "recv 250-mx", "recv 250 8BITMIME", "send QUIT", "recv 221 bye"]);
  });
});

describe("SmtpClient against misbehaving servers (review findings)", () => {
  test("a reply that answers no command (pipelined extra 250) is a protocol error, not the next message's reply", async () => {
    const { s, c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: EHLO_PIPE },
      { expect: "MAIL FROM:<a@x.test> SIZE=3\r\nRCPT TO:<b@y.test>\r\nDATA\r\n" },
      { send: "250 ok\r\n250 ok\r\n354 go\r\n250 queued as FAKE\r\n" },
    ]);
    await c.connect();
    await assert.rejects(c.send({ from: "a@x.test", to: ["b@y.test"], data: "x\r\n" }), (e: unknown) => e instanceof ProtocolError);
    assert.equal(c.connected, false);
    assert.ok(!s.writes.some((w) => w.startsWith("x\r\n")), "no message data went out");
  });

  test("a slow but moving link is not a time-out: in-memory data goes in blocks, each under dataBlock", async () => {
    const body = ("0123456789".repeat(9) + "\r\n").repeat(8000); // ~800 KB
    const s = scripted([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: "250 mx\r\n" },
      { expect: "MAIL FROM:<a@x.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "RCPT TO:<b@y.test>\r\n" },
      { send: "250 ok\r\n" },
      { expect: "DATA\r\n" },
      { send: "354 go\r\n" },
      { expect: body + ".\r\n" },
      { send: "250 ok\r\n" },
    ]);
    // 1 ms per KiB written: 64 KiB blocks take ~64 ms each, the whole message ~800 ms.
    const slow = {
      name: "slow",
      async connect(o: Parameters<typeof s.connector.connect>[0]) {
        const t = await s.connector.connect(o);
        return Object.assign(Object.create(t), {
          write: async (d: Uint8Array) => {
            await new Promise((r) => setTimeout(r, d.length / 1024));
            return t.write(d);
          },
          read: () => t.read(),
          close: () => t.close(),
        });
      },
    };
    const c = new SmtpClient({
      host: "mx.test",
      port: 25,
      tls: "none",
      connector: slow,
      timeouts: { greeting: 3000, mail: 3000, rcpt: 3000, data: 3000, dataBlock: 400, dataEnd: 400 },
    });
    await c.connect();
    const r = await c.send({ from: "a@x.test", to: ["b@y.test"], data: body });
    assert.equal(r.reply.code, 250);
    assert.deepEqual(s.errors, []);
  });

  test("a custom Connector that ignores the abort signal cannot hang connect()", async () => {
    const never = { name: "never", connect: () => new Promise<never>(() => {}) };
    const c = new SmtpClient({ host: "mx.test", port: 25, tls: "none", connector: never, timeouts: { connect: 150 } });
    await assert.rejects(c.connect(), (e: unknown) => e instanceof TimeoutError && e.phase === "connect");
  });

  test("AUTH data the server echoes back is redacted in the error and the trace", async () => {
    const events: TraceEvent[] = [];
    const ir = btoa("\0me\0hunter2-secret");
    const { c } = client([
      { send: "220 mx\r\n" },
      { expect: "EHLO [192.0.2.7]\r\n" },
      { send: "250-mx\r\n250 AUTH PLAIN\r\n" },
      { expect: `AUTH PLAIN ${ir}\r\n` },
      { send: `501 5.5.2 Cannot decode response "${ir}" for hunter2-secret\r\n` },
    ], { allowPlaintextAuth: true, auth: { user: "me", pass: "hunter2-secret" }, trace: (e: TraceEvent) => events.push(e) });
    await assert.rejects(c.connect(), (e: unknown) => {
      const m = (e as Error).message + JSON.stringify((e as ReplyError).lines);
      return e instanceof ReplyError && !m.includes(ir) && !m.includes("hunter2-secret") && m.includes("<redacted>");
    });
    const all = events.map((e) => e.line).join("\n");
    assert.ok(!all.includes(ir) && !all.includes("hunter2-secret"), all);
  });

  test("8-bit data to a server without 8BITMIME or SMTPUTF8 is refused before MAIL (RFC 6152)", async () => {
    const { s, c } = client([{ send: "220 mx\r\n" }, { expect: "EHLO [192.0.2.7]\r\n" }, { send: "250-mx\r\n250 SIZE 1000\r\n" }]);
    await c.connect();
    await assert.rejects(c.send({ from: "a@x.test", to: ["b@y.test"], data: "Subject: café\r\n\r\nüber\r\n" }), /8BITMIME/);
    assert.equal(s.writes.length, 1);
    assert.ok(c.connected, "nothing was written: the session stays usable");
  });
});
