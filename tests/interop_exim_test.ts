/**
 * SmtpClient against a real Exim 4.96 (Debian's exim4-daemon-heavy, built with GnuTLS) on
 * 127.0.0.1, started beside Postfix by scripts/test-servers.sh (see tests/support/servers.ts,
 * eximServer()), on the runtime running this file. Nothing here is scripted by us.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SmtpClient } from "../src/default_client.ts";
import { ConnectionError, ReplyError, SmtpError, TlsError } from "../src/errors.ts";
import type { ClientOptions, TraceEvent } from "../src/options.ts";
import { eximLogLines, eximServer, readEximMaildir, servers, waitForEximMessage } from "./support/servers.ts";
import { portRecorder } from "./support/tcp_state.ts";
import { type Connector, runtime, type Transport } from "../deps.ts";

const S = servers();
const X = eximServer(); // throws (the file fails) when Exim is not running: never a silent skip
const USER = `user@${S.domain}`;
let seq = 0;
const token = (what: string) => `${what}-${Date.now().toString(36)}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
const quick = { connect: 5000, greeting: 5000, tls: 5000, mail: 5000, rcpt: 5000, data: 5000, dataBlock: 5000, dataEnd: 10000 };

function opts(port: number, extra: Partial<ClientOptions> = {}): ClientOptions {
  return { host: S.host, port, tls: "none", timeouts: quick, name: "client.smtpsend.test", ...extra };
}
const tlsOpts = (port: number, extra: Partial<ClientOptions> = {}): ClientOptions =>
  opts(port, { tls: "starttls-required", servername: S.tls.serverName, ca: S.tls.ca, ...extra });
const implicitOpts = (extra: Partial<ClientOptions> = {}): ClientOptions =>
  opts(X.tlsPort, { tls: "implicit", servername: S.tls.serverName, ca: S.tls.ca, ...extra });
const auth = (method?: string) => ({ user: X.user.user, pass: X.user.password, ...(method ? { method } : {}) });

/** A complete header, so Exim adds nothing but its trace fields; a body with the awkward lines. */
function message(subject: string, body?: string): string {
  return `From: Sender <sender@example.org>\r\nTo: ${USER}\r\nSubject: ${subject}\r\n` +
    `Date: Mon, 23 Nov 2026 12:00:00 +0000\r\nMessage-ID: <${subject}@example.org>\r\nMIME-Version: 1.0\r\n\r\n` +
    (body ??
      "First line.\r\n.\r\n..two dots stay two dots\r\n.leading dot\r\n\r\n \r\ntrailing blanks   \r\n" +
        `${"x".repeat(998)}\r\n${"0123456789".repeat(200).replace(/(.{76})/g, "$1\r\n")}\r\nlast line\r\n`);
}

/** The delivered file is our message after Exim's own trace headers, with LF line endings. */
function assertDeliveredVerbatim(delivered: Uint8Array, sent: string): void {
  const text = new TextDecoder().decode(delivered);
  const expected = sent.replace(/\r\n/g, "\n");
  assert.ok(text.endsWith(expected), `delivered file ends with exactly what was sent\n--- delivered\n${text}\n--- sent\n${expected}`);
  const prefix = text.slice(0, text.length - expected.length);
  for (const line of prefix.split("\n").filter(Boolean)) {
    assert.match(line, /^(Return-path|Envelope-to|Received|\s)/, `only Exim's trace headers precede it: ${JSON.stringify(line)}`);
  }
}

async function sendAndQuit(o: ClientOptions, from: string, data: string, chunking = true): Promise<{ events: TraceEvent[] }> {
  const events: TraceEvent[] = [];
  const client = await SmtpClient.connect({ ...o, chunking, trace: (e) => events.push(e) });
  try {
    const r = await client.send({ from, to: [USER], data });
    assert.equal(r.reply.code, 250);
    assert.deepEqual(r.accepted.map((a) => a.address), [USER]);
  } finally {
    await client.quit();
  }
  return { events };
}

describe("Exim (GnuTLS): delivery", () => {
  test("the EHLO reply is Exim's, with CHUNKING, STARTTLS and no AUTH before TLS", async () => {
    const client = await SmtpClient.connect(opts(X.port));
    try {
      assert.match(client.serverInfo.greeting.lines[0] ?? "", /ESMTP Exim 4\.\d+/);
      const caps = client.capabilities!;
      assert.equal(caps.startTls, true);
      assert.equal(caps.chunking, true);
      assert.deepEqual([...caps.auth], [], "AUTH is offered only over TLS");
    } finally {
      await client.quit();
    }
  });

  test("a plain session delivers the message byte for byte with BDAT", async () => {
    const subject = token("exim-plain-bdat");
    const sent = message(subject);
    const { events } = await sendAndQuit(opts(X.port), "sender@example.org", sent);
    assert.ok(events.some((e) => e.direction === "send" && /^BDAT \d+ LAST\b/.test(e.line)), "BDAT was used");
    const got = await waitForEximMessage(USER, (m) => m.header("subject") === subject);
    assertDeliveredVerbatim(got.bytes, sent);
    assert.equal(got.header("return-path"), "<sender@example.org>");
  });

  test("a plain session delivers the message byte for byte with DATA (chunking off)", async () => {
    const subject = token("exim-plain-data");
    const sent = message(subject);
    const { events } = await sendAndQuit(opts(X.port), "sender@example.org", sent, false);
    assert.ok(events.some((e) => e.direction === "send" && e.line === "DATA"), "DATA was used");
    const got = await waitForEximMessage(USER, (m) => m.header("subject") === subject);
    assertDeliveredVerbatim(got.bytes, sent);
  });

  test("STARTTLS with the test CA: GnuTLS session, EHLO again, delivered over TLS", async () => {
    const subject = token("exim-starttls");
    const sent = message(subject);
    const client = await SmtpClient.connect(tlsOpts(X.port));
    try {
      assert.ok(client.serverInfo.tls, "TLS is up");
      assert.equal(client.capabilities?.startTls, false, "capabilities are the post-TLS ones");
      assert.ok(client.capabilities?.auth.includes("PLAIN"), "AUTH PLAIN is offered after STARTTLS");
      await client.send({ from: "sender@example.org", to: [USER], data: sent });
    } finally {
      await client.quit();
    }
    const got = await waitForEximMessage(USER, (m) => m.header("subject") === subject);
    assertDeliveredVerbatim(got.bytes, sent);
    assert.match(got.header("received") ?? "", /with esmtps\s+\(TLS1\.[23]\)/, "Exim received it over TLS");
  });

  test("implicit TLS with AUTH PLAIN: authenticated, delivered byte for byte", async () => {
    const subject = token("exim-implicit-plain");
    const sent = message(subject);
    const rec = portRecorder((await runtime()).connector);
    const client = await SmtpClient.connect(implicitOpts({ auth: auth("PLAIN"), connector: rec.connector }));
    try {
      assert.ok(client.serverInfo.tls);
      assert.equal(client.serverInfo.authenticated, "PLAIN");
      await client.send({ from: X.user.user, to: [USER], data: sent });
    } finally {
      await client.quit();
    }
    const got = await waitForEximMessage(USER, (m) => m.header("subject") === subject);
    assertDeliveredVerbatim(got.bytes, sent);
    assert.match(got.header("received") ?? "", /with esmtpsa\s+\(TLS1\.[23]\)/, "received over TLS after AUTH");
    const log = eximLogLines(rec.ports[0]!).join("\n");
    assert.match(log, new RegExp(`A=plain:${X.user.user.replace(/[.]/g, "\\.")}`), "Exim logged the PLAIN login");
  });

  test("STARTTLS with AUTH LOGIN", async () => {
    const subject = token("exim-login");
    const client = await SmtpClient.connect(tlsOpts(X.port, { auth: auth("LOGIN") }));
    try {
      assert.equal(client.serverInfo.authenticated, "LOGIN");
      await client.send({ from: X.user.user, to: [USER], data: message(subject) });
    } finally {
      await client.quit();
    }
    await waitForEximMessage(USER, (m) => m.header("subject") === subject);
  });

  test("a wrong password: Exim's 535, permanent, in phase auth", async () => {
    await assert.rejects(
      SmtpClient.connect(tlsOpts(X.port, { auth: { user: X.user.user, pass: `${X.user.password}-wrong`, method: "PLAIN" } })),
      (e: unknown) => e instanceof ReplyError && e.code === 535 && e.phase === "auth" && !e.temporary,
    );
  });

  test("implicit TLS without AUTH: MAIL is refused with 530", async () => {
    const client = await SmtpClient.connect(implicitOpts());
    try {
      await assert.rejects(
        client.send({ from: "sender@example.org", to: [USER], data: message(token("exim-noauth")) }),
        (e: unknown) => e instanceof ReplyError && e.code === 530,
      );
    } finally {
      await client.quit();
    }
  });

  test("an unknown local part is refused at RCPT with 550; the other recipient gets the message", async () => {
    const subject = token("exim-rcpt");
    const client = await SmtpClient.connect(opts(X.port));
    try {
      const r = await client.send({ from: "sender@example.org", to: [USER, `nobody-${subject}@${S.domain}`], data: message(subject) });
      assert.deepEqual(r.accepted.map((a) => a.address), [USER]);
      assert.equal(r.rejected.length, 1);
      assert.equal(r.rejected[0]!.code, 550);
    } finally {
      await client.quit();
    }
    await waitForEximMessage(USER, (m) => m.header("subject") === subject);
  });

  test("the server's NTLM (spa) account works: a reference NTLMv1 client gets 235, a wrong password 535", () => {
    // Checks the fixture, not smtpsend: Exim's spa verifies only NTLMv1 responses (issue 13 uses it).
    const script = fileURLToPath(new URL("./support/ntlmv1_login.py", import.meta.url));
    const run = (pass: string) => spawnSync("/usr/bin/python3", [script, X.user.user, pass, String(X.port)], { encoding: "utf8" });
    const ok = run(X.user.password);
    assert.equal(ok.status, 0, `${ok.stdout}${ok.stderr}`);
    assert.match(ok.stdout, /^235 /);
    const bad = run(`${X.user.password}-wrong`);
    assert.equal(bad.status, 1, `${bad.stdout}${bad.stderr}`);
    assert.match(bad.stdout, /^535 /);
  });

  test("a certificate from an unknown CA is refused (TlsError), GnuTLS or not", async () => {
    await assert.rejects(SmtpClient.connect(tlsOpts(X.port, { ca: S.tls.unknownCa })), (e: unknown) => e instanceof TlsError);
  });
});

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

/** {@link sessionLog}, once `done` holds for it (bounded polling). */
async function eximLogFor(port: number, done: (log: string) => boolean): Promise<string> {
  let log = "";
  for (let i = 0; i < 50; i++) {
    log = sessionLog(port);
    if (done(log)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return log;
}

/** A message of about `octets` octets as a stream of 8 KiB pieces (its size is unknown to the client). */
function bigStream(subject: string, octets: number): { stream: () => AsyncIterable<Uint8Array>; length: number } {
  const bytes = new TextEncoder().encode(message(subject, `${"y".repeat(76)}\r\n`.repeat(Math.ceil(octets / 78))));
  return {
    length: bytes.length,
    stream: async function* () {
      for (let i = 0; i < bytes.length; i += 8192) yield bytes.subarray(i, i + 8192);
    },
  };
}

describe("Exim (GnuTLS): a message over SIZE (EXIM_SMALL, SIZE 65536, CHUNKING)", () => {
  const sends = (events: TraceEvent[]) => events.filter((e) => e.direction === "send").map((e) => e.line);

  // RFC 1870 §6: the client never sends more than the advertised SIZE. A stream of unknown size
  // is abandoned (closed, no end of data) before the chunk or block that would pass 65536 octets,
  // so Exim never gets to refuse a chunk and reset the connection (which on Node could lose its
  // 552 to ECONNRESET): the error is the client's own permanent 552 5.3.4 on every runtime.
  // Exim's own mid-message refusal cannot happen any more (it always advertises its limit); a
  // server refusing a chunk mid-message is tested against Postfix without SIZE advertised
  // (tests/interop_failures_test.ts) and byte for byte in tests/client_failures_test.ts.
  const overSize = (e: unknown) =>
    e instanceof SmtpError && !(e instanceof ReplyError) && e.code === 552 && e.enhancedCode === "5.3.4" && e.phase === "message" &&
    !e.temporary && !e.maybeDelivered && /SIZE limit of 65536 octets.*nothing was delivered/.test(e.message);

  const cases = [
    { name: "a stream over 1 MiB (BDAT)", octets: 1536 * 1024, chunking: true },
    { name: "a stream under 1 MiB (BDAT)", octets: 4 * 65536, chunking: true },
    { name: "a stream over SIZE with DATA", octets: 4 * 65536, chunking: false },
  ];
  for (const c of cases) {
    test(`${c.name}: abandoned before passing 65536 octets, the client's permanent 552 5.3.4, nothing delivered`, async () => {
      const subject = token("exim-over-size");
      const big = bigStream(subject, c.octets);
      const events: TraceEvent[] = [];
      const rec = portRecorder((await runtime()).connector);
      // What went on the wire after the envelope (MAIL and RCPT), in octets.
      const written = { envelopeSent: false, sinceRcpt: 0 };
      const counting: Connector = {
        name: "counting",
        async connect(o) {
          const t = await rec.connector.connect(o);
          return {
            read: () => t.read(),
            write: (d: Uint8Array) => {
              if (written.envelopeSent) written.sinceRcpt += d.length;
              else if (new TextDecoder().decode(d).includes("RCPT TO:")) written.envelopeSent = true;
              return t.write(d);
            },
            startTls: (x) => t.startTls(x),
            close: () => t.close(),
            get tls() {
              return t.tls;
            },
            get localAddress() {
              return t.localAddress;
            },
            get remoteAddress() {
              return t.remoteAddress;
            },
          };
        },
      };
      const client = await SmtpClient.connect(opts(X.smallPort, { connector: counting, chunking: c.chunking, trace: (e) => events.push(e) }));
      try {
        assert.equal(client.capabilities?.size, X.sizeLimit);
        assert.equal(client.capabilities?.chunking, true);
        await assert.rejects(client.send({ from: "sender@example.org", to: [USER], data: big.stream() }), overSize);
        // Every write after the envelope: at most SIZE octets of content (with DATA, plus its command).
        if (c.chunking) assert.ok(written.sinceRcpt < 200, `no chunk went out (the first one would pass the limit): ${written.sinceRcpt}`);
        else assert.ok(written.sinceRcpt <= X.sizeLimit + 200, `no more than SIZE octets went out: ${written.sinceRcpt}`);
        assert.ok(events.some((e) => e.direction === "info" && /abandoning the message/.test(e.line)), "the trace says the chunk was not written");
        assert.equal(client.connected, false, "abandoned by closing the connection");
        await assert.rejects(
          client.send({ from: "sender@example.org", to: [USER], data: message(`${subject}-again`) }),
          (e: unknown) => e instanceof ConnectionError && /SIZE limit of 65536/.test((e as Error).message),
          "a later send() on this client says why it was closed",
        );
      } finally {
        await client.quit();
      }
      // A new client delivers a message that fits.
      await sendAndQuit(opts(X.smallPort), "sender@example.org", message(`${subject}-small`), c.chunking);
      await waitForEximMessage(USER, (m) => m.header("subject") === `${subject}-small`);
      const log = sessionLog(rec.ports[0]!);
      assert.doesNotMatch(log, / <= /, "Exim accepted no message on that connection");
      assert.equal(readEximMaildir(USER).filter((m) => m.header("subject") === subject).length, 0, "nothing delivered");
    });
  }

  test("a Uint8Array over SIZE is refused before MAIL (permanent 552, nothing written); the session stays usable", async () => {
    const subject = token("exim-size-bytes");
    const bytes = new TextEncoder().encode(message(subject, `${"y".repeat(76)}\r\n`.repeat(Math.ceil((2 * X.sizeLimit) / 78))));
    const events: TraceEvent[] = [];
    const client = await SmtpClient.connect(opts(X.smallPort, { trace: (e) => events.push(e) }));
    try {
      await assert.rejects(
        client.send({ from: "sender@example.org", to: [USER], data: bytes }),
        (e: unknown) => e instanceof SmtpError && e.code === 552 && e.enhancedCode === "5.3.4" && !e.temporary && /SIZE limit of 65536/.test(e.message),
      );
      assert.ok(!sends(events).some((l) => /^(MAIL|BDAT|DATA)/.test(l)), "nothing of the transaction was written");
      await client.send({ from: "sender@example.org", to: [USER], data: message(`${subject}-small`) });
    } finally {
      await client.quit();
    }
    await waitForEximMessage(USER, (m) => m.header("subject") === `${subject}-small`);
    assert.equal(readEximMaildir(USER).filter((m) => m.header("subject") === subject).length, 0);
  });
});

describe("Exim (GnuTLS): goodbye after a failed AUTH", () => {
  for (const [name, o] of [["STARTTLS", () => tlsOpts(X.port)], ["implicit TLS", () => implicitOpts()]] as const) {
    test(`${name}: a wrong password (535) is followed by QUIT; Exim logs "closed by QUIT", no TLS error`, async () => {
      const rec = portRecorder((await runtime()).connector);
      const events: TraceEvent[] = [];
      await assert.rejects(
        SmtpClient.connect({
          ...o(),
          auth: { user: X.user.user, pass: `${X.user.password}-wrong`, method: "PLAIN" },
          connector: rec.connector,
          trace: (e) => events.push(e),
        }),
        (e: unknown) => e instanceof ReplyError && e.code === 535 && e.phase === "auth" && !e.temporary,
      );
      const sent = events.filter((e) => e.direction === "send").map((e) => e.line);
      assert.equal(sent.at(-1), "QUIT", `the last command is QUIT: ${sent.join(" | ")}`);
      assert.ok(events.some((e) => e.direction === "recv" && /^221 /.test(e.line)), "QUIT's 221 was read");
      const log = await eximLogFor(rec.ports[0]!, (l) => /closed by QUIT|lost|terminated/.test(l));
      assert.match(log, /authenticator failed .*535/);
      assert.match(log, /closed by QUIT/);
      assert.doesNotMatch(log, /non-properly terminated|connection lost|unexpected disconnection/i);
    });
  }
});
