// Smoke test for the interop test servers (scripts/test-servers.sh): each port
// answers its greeting and EHLO as tests/fixtures/servers/README.md says. Talks raw
// SMTP over node:net / node:tls, so it checks the servers, not smtpsend.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chownSync, existsSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import process from "node:process";
import net from "node:net";
import tls from "node:tls";
import {
  maildirOf,
  readOAuthAttempts,
  servers,
  waitForMaildirMessage,
  waitForOAuthMessage,
  waitForSinkMessage,
} from "./support/servers.ts";

interface Reply {
  readonly code: number;
  readonly lines: string[];
  /** All lines' text after the code, joined with "\n". */
  readonly text: string;
}

const STEP_TIMEOUT_MS = 10_000;

/** One raw SMTP connection: line buffer, multi-line replies, STARTTLS upgrade. */
class Conn {
  #buf = "";
  #closed = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  readonly #onData = (chunk: Buffer | string): void => {
    this.#buf += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    this.#notify();
  };
  readonly #onClose = (): void => {
    this.#closed = true;
    this.#notify();
  };
  readonly #onError = (err: Error): void => {
    this.#error = err;
    this.#notify();
  };

  private constructor(readonly socket: net.Socket) {
    socket.on("data", this.#onData);
    socket.on("close", this.#onClose);
    socket.on("end", this.#onClose);
    socket.on("error", this.#onError);
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #detach(): void {
    this.socket.off("data", this.#onData);
    this.socket.off("close", this.#onClose);
    this.socket.off("end", this.#onClose);
    this.socket.off("error", this.#onError);
  }

  static open(port: number): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: servers().host, port });
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new Conn(socket));
      });
      socket.once("error", reject);
    });
  }

  static openTls(port: number, options: tls.ConnectionOptions = {}): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: servers().host,
        port,
        ca: servers().tls.ca,
        servername: servers().tls.serverName,
        ...options,
      });
      socket.once("secureConnect", () => {
        socket.off("error", reject);
        resolve(new Conn(socket));
      });
      socket.once("error", (err) => {
        socket.destroy();
        reject(err);
      });
    });
  }

  /** Waits until `ready()` returns a value, the peer closes, or the step times out. */
  async #until<T>(ready: () => T | undefined, what: string, timeoutMs = STEP_TIMEOUT_MS): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      if (this.#error) throw this.#error;
      if (this.#closed) {
        throw new Error(`connection closed while waiting for ${what} (buffer: ${JSON.stringify(this.#buf)})`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what} (buffer: ${JSON.stringify(this.#buf)})`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  #takeReply(): Reply | undefined {
    const lines: string[] = [];
    let pos = 0;
    for (;;) {
      const nl = this.#buf.indexOf("\n", pos);
      if (nl < 0) return undefined;
      const line = this.#buf.slice(pos, nl).replace(/\r$/, "");
      pos = nl + 1;
      lines.push(line);
      if (!/^\d{3}-/.test(line)) {
        this.#buf = this.#buf.slice(pos);
        const code = Number(line.slice(0, 3));
        return { code, lines, text: lines.map((l) => l.slice(4)).join("\n") };
      }
    }
  }

  reply(timeoutMs?: number): Promise<Reply> {
    return this.#until(() => this.#takeReply(), "a reply", timeoutMs);
  }

  send(line: string): void {
    this.socket.write(`${line}\r\n`);
  }

  cmd(line: string): Promise<Reply> {
    this.send(line);
    return this.reply();
  }

  /** Resolves when the peer has closed the connection (any unread data is discarded). */
  async closedByPeer(timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
    await this.#until(() => (this.#closed ? true : undefined), "the peer to close", timeoutMs).catch((err: Error) => {
      if (!this.#closed) throw err;
    });
  }

  /** True if no byte arrives within `ms`. */
  async silentFor(ms: number): Promise<boolean> {
    try {
      await this.#until(() => (this.#buf.length > 0 ? true : undefined), "data", ms);
      return false;
    } catch (err) {
      if (/timed out/.test((err as Error).message)) return true;
      throw err;
    }
  }

  /** Sends STARTTLS, expects 220, then upgrades; resolves with the TLS connection. */
  async startTls(options: tls.ConnectionOptions = {}): Promise<Conn> {
    const r = await this.cmd("STARTTLS");
    assert.equal(r.code, 220, `STARTTLS reply: ${r.lines.join(" / ")}`);
    this.#detach();
    const raw = this.socket;
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        socket: raw,
        ca: servers().tls.ca,
        servername: servers().tls.serverName,
        ...options,
      });
      socket.once("secureConnect", () => {
        socket.off("error", reject);
        resolve(new Conn(socket));
      });
      socket.once("error", (err) => {
        socket.destroy();
        raw.destroy();
        reject(err);
      });
    });
  }

  close(): void {
    this.#detach();
    this.socket.destroy();
  }
}

/** Opens, checks the greeting, sends EHLO; returns the connection and the EHLO keywords. */
async function ehlo(conn: Conn, greeting?: RegExp): Promise<string[]> {
  if (greeting) {
    const g = await conn.reply();
    assert.equal(g.code, 220, g.text);
    assert.match(g.text, greeting);
  }
  const r = await conn.cmd("EHLO client.smtpsend.test");
  assert.equal(r.code, 250, r.text);
  return r.lines.slice(1).map((l) => l.slice(4));
}

const has = (keywords: string[], word: string): boolean =>
  keywords.some((k) => k.toUpperCase() === word || k.toUpperCase().startsWith(`${word} `));
const authLine = (keywords: string[]): string[] =>
  (keywords.find((k) => /^AUTH /i.test(k)) ?? "").split(" ").slice(1).map((m) => m.toUpperCase());
const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");
const token = (): string => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;

async function withConn<T>(conn: Conn | Promise<Conn>, fn: (c: Conn) => Promise<T>): Promise<T> {
  const c = await conn;
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

test("servers() reads the env written by test-servers.sh", () => {
  const s = servers();
  assert.equal(s.host, "127.0.0.1");
  const ports = [
    ...Object.values(s.ports),
    ...Object.entries(s.sink).filter(([k]) => k !== "delaySeconds" && k !== "dumpDir").map(([, v]) => v),
  ];
  assert.equal(new Set(ports).size, ports.length, "ports are distinct");
  for (const f of [s.tls.caFile, s.tls.unknownCaFile, s.tls.clientCertFile, s.tls.clientKeyFile]) {
    assert.ok(existsSync(f), f);
  }
  assert.match(s.tls.ca, /BEGIN CERTIFICATE/);
  assert.ok(existsSync(`${s.maildir}/new`));
  assert.equal(maildirOf("user@smtpsend.test"), s.maildir);
  assert.deepEqual([...s.mechanisms], ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]);
});

test("PLAIN port: ESMTP without TLS or AUTH; unknown recipient 550 5.1.1; delivery to the Maildir", async () => {
  const s = servers();
  await withConn(Conn.open(s.ports.plain), async (c) => {
    const kw = await ehlo(c, /^mx\.smtpsend\.test ESMTP/);
    for (const k of ["PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING"]) assert.ok(has(kw, k), k);
    assert.ok(kw.includes("SIZE 10485760"), kw.join(","));
    assert.ok(!has(kw, "STARTTLS") && !has(kw, "AUTH"), kw.join(","));
    const id = token();
    assert.equal((await c.cmd("MAIL FROM:<sender@example.com>")).code, 250);
    assert.equal((await c.cmd("RCPT TO:<user@smtpsend.test>")).code, 250);
    const bad = await c.cmd("RCPT TO:<nobody@smtpsend.test>");
    assert.equal(bad.code, 550);
    assert.match(bad.text, /^5\.1\.1 /);
    assert.equal((await c.cmd("DATA")).code, 354);
    const done = await c.cmd(`Subject: smoke ${id}\r\nFrom: sender@example.com\r\n\r\nhello\r\n.`);
    assert.equal(done.code, 250, done.text);
    assert.equal((await c.cmd("QUIT")).code, 221);
    const msg = await waitForMaildirMessage("user", (m) => m.header("subject") === `smoke ${id}`);
    assert.equal(msg.header("return-path"), "<sender@example.com>");
    assert.equal(msg.header("delivered-to"), "user@smtpsend.test");
    assert.match(msg.body, /^hello/);
  });
});

test("STARTTLS port: STARTTLS offered, certificate for localhost from the test CA, no AUTH", async () => {
  const s = servers();
  await withConn(Conn.open(s.ports.starttls), async (plain) => {
    const kw = await ehlo(plain, /ESMTP/);
    assert.ok(has(kw, "STARTTLS") && !has(kw, "AUTH"), kw.join(","));
    await withConn(plain.startTls(), async (c) => {
      assert.ok((c.socket as tls.TLSSocket).authorized);
      const after = await ehlo(c);
      assert.ok(!has(after, "STARTTLS") && !has(after, "AUTH"), after.join(","));
    });
  });
});

test("SUBMISSION port: TLS required, then AUTH with every mechanism advertised, MAIL without AUTH 530", async () => {
  const s = servers();
  await withConn(Conn.open(s.ports.submission), async (plain) => {
    const kw = await ehlo(plain, /ESMTP/);
    assert.ok(has(kw, "STARTTLS") && !has(kw, "AUTH"), kw.join(","));
    const early = await plain.cmd("MAIL FROM:<alice@smtpsend.test>");
    assert.equal(early.code, 530, early.text);
    await withConn(plain.startTls(), async (c) => {
      const after = await ehlo(c);
      assert.deepEqual(authLine(after), [...s.mechanisms]);
      const noAuth = await c.cmd("MAIL FROM:<alice@smtpsend.test>");
      assert.equal(noAuth.code, 530, noAuth.text);
      assert.match(noAuth.text, /^5\.7\.0 /);
      const { user, password } = s.users.alice;
      const wrong = await c.cmd(`AUTH PLAIN ${b64(`\0${user}\0not-the-password`)}`);
      assert.equal(wrong.code, 535, wrong.text);
      const ok = await c.cmd(`AUTH PLAIN ${b64(`\0${user}\0${password}`)}`);
      assert.equal(ok.code, 235, ok.text);
      assert.equal((await c.cmd("MAIL FROM:<alice@smtpsend.test>")).code, 250);
      assert.equal((await c.cmd("RCPT TO:<user@smtpsend.test>")).code, 250);
      assert.equal((await c.cmd("QUIT")).code, 221);
    });
  });
});

test("SUBMISSIONS port: implicit TLS, AUTH advertised at once", async () => {
  const s = servers();
  await withConn(Conn.openTls(s.ports.submissions), async (c) => {
    assert.ok((c.socket as tls.TLSSocket).authorized);
    const kw = await ehlo(c, /ESMTP/);
    assert.ok(!has(kw, "STARTTLS"), kw.join(","));
    assert.deepEqual(authLine(kw), [...s.mechanisms]);
    const { user, password } = s.users.bob;
    assert.equal((await c.cmd(`AUTH PLAIN ${b64(`\0${user}\0${password}`)}`)).code, 235);
  });
});

test("WRONGNAME port: certificate names other.example, refused for localhost", async () => {
  const s = servers();
  await withConn(Conn.open(s.ports.wrongName), async (c1) => {
    await ehlo(c1, /ESMTP/);
    await assert.rejects(c1.startTls(), { code: "ERR_TLS_CERT_ALTNAME_INVALID" });
  });
  await withConn(Conn.open(s.ports.wrongName), async (c2) => {
    await ehlo(c2, /ESMTP/);
    await withConn(c2.startTls({ servername: s.tls.wrongServerName }), async (c) => {
      assert.equal((await c.cmd("NOOP")).code, 250);
    });
  });
});

test("UNKNOWNCA port: certificate from a CA the client does not trust", async () => {
  const s = servers();
  await withConn(Conn.open(s.ports.unknownCa), async (c1) => {
    await ehlo(c1, /ESMTP/);
    await assert.rejects(c1.startTls(), { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
  });
  await withConn(Conn.open(s.ports.unknownCa), async (c2) => {
    await ehlo(c2, /ESMTP/);
    await withConn(c2.startTls({ ca: s.tls.unknownCa }), async (c) => {
      assert.equal((await c.cmd("NOOP")).code, 250);
    });
  });
});

test("CLEARAUTH port: AUTH offered without TLS", async () => {
  const s = servers();
  await withConn(Conn.open(s.ports.clearAuth), async (c) => {
    const kw = await ehlo(c, /ESMTP/);
    assert.ok(!has(kw, "STARTTLS"), kw.join(","));
    assert.deepEqual(authLine(kw), [...s.mechanisms]);
    assert.equal((await c.cmd("MAIL FROM:<alice@smtpsend.test>")).code, 530);
  });
});

test("CLIENTCERT port: mail accepted with the test client certificate, 421 without one", async () => {
  const s = servers();
  await withConn(Conn.open(s.ports.clientCert), async (c1) => {
    await ehlo(c1, /ESMTP/);
    await withConn(c1.startTls({ cert: s.tls.clientCert, key: s.tls.clientKey }), async (c) => {
      await ehlo(c);
      assert.equal((await c.cmd("MAIL FROM:<alice@smtpsend.test>")).code, 250);
    });
  });
  await withConn(Conn.open(s.ports.clientCert), async (c2) => {
    await ehlo(c2, /ESMTP/);
    await withConn(c2.startTls(), async (c) => {
      c.send("EHLO client.smtpsend.test");
      const r = await c.reply();
      assert.equal(r.code, 421, r.text);
      assert.match(r.text, /client certificate/i);
    });
  });
});

test("OAUTH port: STARTTLS, XOAUTH2 and OAUTHBEARER, RFC 7628 error flow, messages recorded", async () => {
  const s = servers();
  await withConn(Conn.open(s.ports.oauth), async (plain) => {
    const kw = await ehlo(plain, /ESMTP/);
    assert.ok(has(kw, "STARTTLS") && !has(kw, "AUTH"), kw.join(","));
    await withConn(plain.startTls(), async (c) => {
      assert.deepEqual(authLine(await ehlo(c)).sort(), ["OAUTHBEARER", "XOAUTH2"]);
      assert.equal((await c.cmd("MAIL FROM:<alice@smtpsend.test>")).code, 530);
      // OAUTHBEARER, bad token: 334 + JSON error, client sends %x01, then 535.
      const bad = await c.cmd(`AUTH OAUTHBEARER ${b64(`n,a=${s.oauth.user},\x01auth=Bearer wrong\x01\x01`)}`);
      assert.equal(bad.code, 334, bad.text);
      assert.equal(JSON.parse(Buffer.from(bad.text, "base64").toString("utf8")).status, "invalid_token");
      const fin = await c.cmd("AQ==");
      assert.equal(fin.code, 535, fin.text);
      assert.match(fin.text, /^5\.7\.8 /);
      // XOAUTH2, bad token, Google style: empty response, then 535.
      const badX = await c.cmd(`AUTH XOAUTH2 ${b64(`user=${s.oauth.user}\x01auth=Bearer wrong\x01\x01`)}`);
      assert.equal(badX.code, 334, badX.text);
      assert.equal((await c.cmd("")).code, 535);
      const attempts = readOAuthAttempts().slice(-2);
      assert.deepEqual(attempts.map((a) => [a.mechanism, a.ok, a.errorAck]), [["OAUTHBEARER", false, "AQ=="], [
        "XOAUTH2",
        false,
        "",
      ]]);
      // OAUTHBEARER, good token.
      const ok = await c.cmd(`AUTH OAUTHBEARER ${b64(`n,a=${s.oauth.user},\x01auth=Bearer ${s.oauth.token}\x01\x01`)}`);
      assert.equal(ok.code, 235, ok.text);
      const id = token();
      assert.equal((await c.cmd("MAIL FROM:<alice@smtpsend.test>")).code, 250);
      assert.equal((await c.cmd("RCPT TO:<someone@example.com>")).code, 250);
      assert.equal((await c.cmd("DATA")).code, 354);
      assert.equal((await c.cmd(`Subject: oauth ${id}\r\n\r\nhi\r\n.`)).code, 250);
      const msg = await waitForOAuthMessage((m) => m.header("subject") === `oauth ${id}`);
      assert.deepEqual(msg.envelope.rcptTos, ["someone@example.com"]);
      assert.equal(msg.envelope.authUser, s.oauth.user);
      assert.equal(msg.envelope.mechanism, "OAUTHBEARER");
      assert.equal(msg.envelope.tls, true);
    });
  });
});

test("OAUTH_TLS port: implicit TLS, XOAUTH2 without an initial response", async () => {
  const s = servers();
  await withConn(Conn.openTls(s.ports.oauthTls), async (c) => {
    assert.deepEqual(authLine(await ehlo(c, /ESMTP/)).sort(), ["OAUTHBEARER", "XOAUTH2"]);
    const r = await c.cmd("AUTH XOAUTH2");
    assert.equal(r.code, 334);
    assert.equal((await c.cmd(b64(`user=${s.oauth.user}\x01auth=Bearer ${s.oauth.token}\x01\x01`))).code, 235);
  });
});

// --- smtp-sink fault ports -------------------------------------------------

async function transaction(c: Conn): Promise<void> {
  await ehlo(c, /ESMTP/);
  assert.equal((await c.cmd("MAIL FROM:<a@example.com>")).code, 250);
  assert.equal((await c.cmd("RCPT TO:<b@example.com>")).code, 250);
  assert.equal((await c.cmd("DATA")).code, 354);
  c.send("Subject: sink\r\n\r\nbody\r\n.");
}

test("SINK port: accepts and dumps messages", async () => {
  const s = servers();
  const id = token();
  await withConn(Conn.open(s.sink.normal), async (c) => {
    const kw = await ehlo(c, /^sink\.smtpsend\.test ESMTP$/);
    assert.ok(has(kw, "PIPELINING") && has(kw, "ENHANCEDSTATUSCODES") && has(kw, "8BITMIME"), kw.join(","));
    assert.equal((await c.cmd("MAIL FROM:<a@example.com>")).code, 250);
    assert.equal((await c.cmd("RCPT TO:<b@example.com>")).code, 250);
    assert.equal((await c.cmd("DATA")).code, 354);
    assert.equal((await c.cmd(`Subject: ${id}\r\n\r\nbody\r\n.`)).code, 250);
  });
  const msg = await waitForSinkMessage((m) => m.header("subject") === id);
  assert.equal(msg.header("x-mail-args"), "<a@example.com>");
});

test("SINK_HELO and SINK_PIX ports: no ESMTP, EHLO 500, HELO works", async () => {
  const s = servers();
  for (const [port, greeting] of [[s.sink.helo, /^sink\.smtpsend\.test$/], [s.sink.pix, /^\*+$/]] as const) {
    await withConn(Conn.open(port), async (c) => {
      const g = await c.reply();
      assert.equal(g.code, 220);
      assert.match(g.text, greeting);
      assert.equal((await c.cmd("EHLO client.smtpsend.test")).code, 500);
      assert.equal((await c.cmd("HELO client.smtpsend.test")).code, 250);
    });
  }
});

test("SINK_NOPIPELINING and SINK_NOENH ports: EHLO lacks one keyword", async () => {
  const s = servers();
  await withConn(Conn.open(s.sink.noPipelining), async (c) => {
    const kw = await ehlo(c, /ESMTP/);
    assert.ok(!has(kw, "PIPELINING") && has(kw, "ENHANCEDSTATUSCODES"), kw.join(","));
  });
  await withConn(Conn.open(s.sink.noEnhanced), async (c) => {
    const kw = await ehlo(c, /ESMTP/);
    assert.ok(has(kw, "PIPELINING") && !has(kw, "ENHANCEDSTATUSCODES"), kw.join(","));
  });
});

test("SINK greeting faults: drop, 421, 554, slow", async () => {
  const s = servers();
  await withConn(Conn.open(s.sink.dropConnect), (c) => c.closedByPeer());
  await withConn(Conn.open(s.sink.tempfailConnect), async (c) => {
    assert.equal((await c.reply()).code, 421);
    await c.closedByPeer();
  });
  await withConn(Conn.open(s.sink.rejectConnect), async (c) => {
    const r = await c.reply();
    assert.equal(r.code, 554);
    assert.match(r.text, /^5\.3\.0 No SMTP service here$/);
  });
  await withConn(Conn.open(s.sink.slowGreeting), async (c) => {
    assert.ok(s.sink.delaySeconds >= 1);
    assert.ok(await c.silentFor(500), "no greeting within 500 ms");
  });
});

test("SINK command faults: 421 at MAIL, 450/550 at RCPT, 500 at MAIL", async () => {
  const s = servers();
  await withConn(Conn.open(s.sink.tempfailMailClose), async (c) => {
    await ehlo(c, /ESMTP/);
    assert.equal((await c.cmd("MAIL FROM:<a@example.com>")).code, 421);
    await c.closedByPeer();
  });
  await withConn(Conn.open(s.sink.rejectMail), async (c) => {
    await ehlo(c, /ESMTP/);
    assert.equal((await c.cmd("MAIL FROM:<a@example.com>")).code, 500);
  });
  await withConn(Conn.open(s.sink.tempfailRcpt), async (c) => {
    await ehlo(c, /ESMTP/);
    assert.equal((await c.cmd("MAIL FROM:<a@example.com>")).code, 250);
    const r = await c.cmd("RCPT TO:<b@example.com>");
    assert.equal(r.code, 450);
    assert.match(r.text, /^4\.3\.0 /);
  });
  await withConn(Conn.open(s.sink.rejectRcpt), async (c) => {
    await ehlo(c, /ESMTP/);
    assert.equal((await c.cmd("MAIL FROM:<a@example.com>")).code, 250);
    const r = await c.cmd("RCPT TO:<b@example.com>");
    assert.equal(r.code, 550);
    assert.match(r.text, /^5\.1\.1 /);
  });
});

test("SINK data faults: end-of-data 450, 500, dropped; 550 abort after 354; slow DATA and dot", async () => {
  const s = servers();
  for (const [port, code] of [[s.sink.tempfailDot, 450], [s.sink.rejectDot, 500]] as const) {
    await withConn(Conn.open(port), async (c) => {
      await transaction(c);
      assert.equal((await c.reply()).code, code);
    });
  }
  await withConn(Conn.open(s.sink.dropDot), async (c) => {
    await transaction(c);
    await assert.rejects(c.reply(), /closed/);
  });
  await withConn(Conn.open(s.sink.abortData), async (c) => {
    await ehlo(c, /ESMTP/);
    assert.equal((await c.cmd("MAIL FROM:<a@example.com>")).code, 250);
    assert.equal((await c.cmd("RCPT TO:<b@example.com>")).code, 250);
    assert.equal((await c.cmd("DATA")).code, 354);
    const r = await c.reply(); // unsolicited, before any data is sent
    assert.equal(r.code, 550);
    await c.closedByPeer();
  });
  await withConn(Conn.open(s.sink.slowData), async (c) => {
    await ehlo(c, /ESMTP/);
    assert.equal((await c.cmd("MAIL FROM:<a@example.com>")).code, 250);
    assert.equal((await c.cmd("RCPT TO:<b@example.com>")).code, 250);
    c.send("DATA");
    assert.ok(await c.silentFor(500), "no 354 within 500 ms");
  });
  await withConn(Conn.open(s.sink.slowDot), async (c) => {
    await transaction(c);
    assert.ok(await c.silentFor(500), "no reply to the dot within 500 ms");
  });
});

/** A raw POP3 session: send a line, read one status line (or a multi-line answer up to "."). */
async function pop3(port: number, steps: { cmd: string | null; multi?: boolean }[]): Promise<string[]> {
  const socket = net.connect({ host: servers().host, port });
  let buf = "";
  let closed = false;
  let wake: (() => void) | undefined;
  socket.on("data", (c: Buffer) => ((buf += c.toString("latin1")), wake?.()));
  socket.on("close", () => ((closed = true), wake?.()));
  socket.on("error", () => ((closed = true), wake?.()));
  const answers: string[] = [];
  try {
    for (const step of steps) {
      if (step.cmd !== null) socket.write(`${step.cmd}\r\n`);
      const deadline = Date.now() + STEP_TIMEOUT_MS;
      for (;;) {
        const end = step.multi && buf.startsWith("+OK") ? buf.indexOf("\r\n.\r\n") : buf.indexOf("\r\n");
        if (end >= 0) {
          const len = step.multi && buf.startsWith("+OK") ? end + 5 : end + 2;
          answers.push(buf.slice(0, len));
          buf = buf.slice(len);
          break;
        }
        if (closed || Date.now() > deadline) throw new Error(`POP3: no answer to ${step.cmd ?? "the greeting"} (buffer: ${JSON.stringify(buf)})`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 200);
        });
      }
    }
  } finally {
    socket.destroy();
  }
  return answers;
}

test("POP3 port (Dovecot): USER/PASS without TLS, a message put in the mailbox is listed, retrieved and deleted", async () => {
  const s = servers();
  const id = token();
  const name = `${id}.smoke`;
  const file = `${s.pop3.maildir}/new/${name}`;
  // The mailbox holds only what tests put there: start empty.
  for (const d of ["new", "cur"]) for (const f of readdirSync(`${s.pop3.maildir}/${d}`)) rmSync(`${s.pop3.maildir}/${d}/${f}`);
  writeFileSync(file, `Subject: pop smoke ${id}\n\nline\n.\nafter\n`);
  const owner = statSync(s.pop3.maildir);
  if (process.getuid?.() === 0) chownSync(file, owner.uid, owner.gid);
  const wrong = await pop3(s.pop3.port, [{ cmd: null }, { cmd: `USER ${s.pop3.user}` }, { cmd: "PASS wrong-password" }]);
  assert.match(wrong[0]!, /^\+OK /);
  assert.match(wrong[2]!, /^-ERR /);
  const a = await pop3(s.pop3.port, [
    { cmd: null },
    { cmd: `USER ${s.pop3.user}` },
    { cmd: `PASS ${s.pop3.password}` },
    { cmd: "LIST", multi: true },
    { cmd: "RETR 1", multi: true },
    { cmd: "DELE 1" },
    { cmd: "QUIT" },
  ]);
  assert.match(a[2]!, /^\+OK /, a[2]);
  assert.match(a[3]!, /^\+OK [\s\S]*\r\n1 \d+\r\n\.\r\n$/, a[3]);
  // Byte-stuffed on the wire: the lone "." line of the body comes as "..".
  assert.ok(a[4]!.includes(`Subject: pop smoke ${id}\r\n\r\nline\r\n..\r\nafter\r\n.\r\n`), a[4]);
  assert.match(a[5]!, /^\+OK /);
  assert.match(a[6]!, /^\+OK /);
  assert.ok(!readdirSync(`${s.pop3.maildir}/new`).concat(readdirSync(`${s.pop3.maildir}/cur`)).some((f) => f.startsWith(name)), "deleted after QUIT");
});
