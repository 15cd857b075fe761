/**
 * The sans-I/O session core driven over a real socket against real servers
 * (Postfix + Dovecot SASL, smtp-sink; started by scripts/test-servers.sh), on
 * the runtime running this file. The driver here is the smallest one the core
 * allows — write what send() returns, read until the expected replies are in —
 * so these tests show the core alone speaks SMTP the way real servers expect:
 * pipelining across the message boundary, BDAT in one group, STARTTLS, AUTH
 * through auth.ts, and a 421 in the middle of a group.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { runtime, type Transport } from "../deps.ts";
import { authenticate, type SaslIo } from "../src/auth.ts";
import { ReplyError } from "../src/errors.ts";
import { concatBytes } from "../src/protocol/bytes.ts";
import { mailParameters } from "../src/protocol/params.ts";
import { scanMessage } from "../src/protocol/data.ts";
import {
  type ClosedEvent,
  type Command,
  IDLE,
  NEED_DATA,
  type ReplyEvent,
  saslCommand,
  Session,
  type SessionEvent,
  type SessionOptions,
} from "../src/protocol/session.ts";
import { servers, waitForMaildirMessage } from "./support/servers.ts";

const S = servers();
const USER = `user@${S.domain}`;
const te = new TextEncoder();
let seq = 0;
const token = (what: string) => `${what}-${Date.now().toString(36)}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;

function message(subject: string, body = "Hello from the session core.\r\n.a line with a leading dot\r\n"): string {
  return `From: sender@example.org\r\nTo: ${USER}\r\nSubject: ${subject}\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n` +
    `Message-ID: <${subject}@example.org>\r\n\r\n${body}`;
}

/** The smallest driver: a real Transport, a Session, and a record of every write. */
class Driver {
  readonly writes: string[] = [];
  // A hung server must not hang the suite: the connection is closed, and the pending read sees the end.
  readonly #guard = setTimeout(() => this.t.close(), 20_000);
  constructor(readonly t: Transport, readonly s: Session) {}

  static async open(port: number, options: SessionOptions = {}): Promise<Driver> {
    const t = await (await runtime()).connector.connect({ hostname: S.host, port });
    const d = new Driver(t, new Session(options));
    assert.equal((await d.replies(1))[0]!.command, "GREETING");
    return d;
  }

  close(): void {
    clearTimeout(this.#guard);
    this.t.close();
  }

  async write(bytes: Uint8Array): Promise<void> {
    this.writes.push(new TextDecoder().decode(bytes));
    await this.t.write(bytes);
  }

  async send(commands: Command | readonly Command[]): Promise<void> {
    await this.write(Array.isArray(commands) ? this.s.sendAll(commands) : this.s.send(commands as Command));
  }

  /** Events until `n` replies (or a terminal event) are in: read → receive → nextEvent. */
  async events(n: number): Promise<SessionEvent[]> {
    const out: SessionEvent[] = [];
    for (let reads = 0; reads < 100_000;) {
      const ev = this.s.nextEvent();
      if (ev === IDLE) throw new Error(`only ${out.length} of ${n} replies came before nothing was pending`);
      if (ev === NEED_DATA) {
        const chunk = await this.t.read();
        reads++;
        if (chunk === null) this.s.receiveEof();
        else this.s.receive(chunk);
        continue;
      }
      out.push(ev);
      if (ev.type !== "reply" || out.length === n) return out;
    }
    throw new Error("too many reads");
  }

  async replies(n: number): Promise<ReplyEvent[]> {
    const evs = await this.events(n);
    for (const ev of evs) assert.equal(ev.type, "reply", JSON.stringify(ev));
    return evs as ReplyEvent[];
  }

  async ehlo(): Promise<void> {
    await this.send({ type: "EHLO", name: "client.smtpsend.test" });
    assert.equal((await this.replies(1))[0]!.outcome, "accepted");
  }

  async quit(): Promise<void> {
    await this.send({ type: "QUIT" });
    const [closed] = await this.events(1);
    assert.equal(closed!.type === "closed" && closed!.reason, "quit");
    this.close();
  }
}

/** Opens a Driver, runs `fn`, and always closes the connection. */
async function withDriver(port: number, options: SessionOptions, fn: (d: Driver) => Promise<void>): Promise<void>;
async function withDriver(port: number, fn: (d: Driver) => Promise<void>): Promise<void>;
async function withDriver(
  port: number,
  a: SessionOptions | ((d: Driver) => Promise<void>),
  b?: (d: Driver) => Promise<void>,
): Promise<void> {
  const d = await Driver.open(port, typeof a === "function" ? {} : a);
  try {
    await (typeof a === "function" ? a : b!)(d);
  } finally {
    d.close();
  }
}

/** Read through a function: an assert.equal(…, null) above must not narrow the type for later reads. */
const capabilitiesOf = (s: Session) => s.capabilities;

const short = (ev: SessionEvent): string =>
  ev.type === "reply" ? `${ev.command} ${ev.reply.code} ${ev.transaction ?? "-"}` : ev.type === "closed" ? `closed ${ev.reason}` : ev.type;

function envelope(d: Driver, text: string): Command[] {
  const scan = scanMessage(te.encode(text));
  const params = mailParameters({ from: "sender@example.org", recipients: [USER], ...scan }, d.s.capabilities);
  return [{ type: "MAIL", from: "sender@example.org", parameters: params }, { type: "RCPT", to: USER }];
}

test("Session against Postfix: two messages with one write at the boundary (RFC 2920 §3.1), both delivered", () =>
  withDriver(S.ports.plain, async (d) => {
    await d.ehlo();
    assert.equal(d.s.pipelining, true, "Postfix offers PIPELINING");
    const [one, two] = [message(token("core-one")), message(token("core-two"))];
    await d.send([...envelope(d, one), { type: "DATA" }]);
    assert.deepEqual((await d.replies(3)).map(short), ["MAIL 250 1", "RCPT 250 1", "DATA 354 1"]);
    // Message one's content and end of data, then message two's MAIL, RCPT and DATA: one write.
    await d.write(concatBytes([
      d.s.send({ type: "CONTENT", chunk: te.encode(one) }),
      d.s.sendAll([{ type: "END-OF-DATA" }, ...envelope(d, two), { type: "DATA" }]),
    ]));
    const evs = await d.replies(4);
    assert.deepEqual(evs.map(short), ["END-OF-DATA 250 1", "MAIL 250 2", "RCPT 250 2", "DATA 354 2"]);
    assert.equal(evs[0]!.octets, one.length + ".\r\n".length + 1); // the leading dot was doubled
    assert.deepEqual(evs[0]!.recipients?.map((r) => [r.address, r.accepted]), [[USER, true]]);
    await d.write(concatBytes([d.s.send({ type: "CONTENT", chunk: te.encode(two) }), d.s.sendAll([{ type: "END-OF-DATA" }, { type: "QUIT" }])]));
    assert.deepEqual((await d.events(2)).map(short), ["END-OF-DATA 250 2", "closed quit"]);
    d.close();
    assert.match(d.writes[2]!, /\r\n\.\r\nMAIL FROM:<sender@example\.org> SIZE=\d+\r\nRCPT TO:<[^>]+>\r\nDATA\r\n$/);
    for (const sent of [one, two]) {
      const subject = /Subject: (\S+)/.exec(sent)![1]!;
      const got = await waitForMaildirMessage(USER, (m) => m.header("subject") === subject);
      assert.ok(got.text.endsWith(sent.replace(/\r\n/g, "\n")), "delivered as sent");
    }
  }));

test("Session against Postfix with CHUNKING: two whole messages (MAIL, RCPT, BDAT LAST each) in one write", () =>
  withDriver(S.ports.plain, { pipelineBdat: true }, async (d) => {
    await d.ehlo();
    assert.equal(d.s.capabilities?.chunking, true, "Postfix offers CHUNKING");
    const [one, two] = [message(token("bdat-one")), message(token("bdat-two"), "no dot stuffing\n.in BDAT\n")];
    const before = d.writes.length;
    await d.send([
      ...envelope(d, one), { type: "BDAT", chunk: te.encode(one), last: true },
      ...envelope(d, two), { type: "BDAT", chunk: te.encode(two), last: true },
    ]);
    assert.equal(d.writes.length, before + 1);
    const evs = await d.replies(6);
    assert.deepEqual(evs.map(short), ["MAIL 250 1", "RCPT 250 1", "BDAT-LAST 250 1", "MAIL 250 2", "RCPT 250 2", "BDAT-LAST 250 2"]);
    assert.equal(evs[5]!.octets, two.replace(/\r?\n/g, "\r\n").length);
    await d.quit();
    await waitForMaildirMessage(USER, (m) => m.header("subject") === /Subject: (\S+)/.exec(one)![1]);
    const got = await waitForMaildirMessage(USER, (m) => m.header("subject") === /Subject: (\S+)/.exec(two)![1]);
    assert.ok(got.text.endsWith("no dot stuffing\n.in BDAT\n"));
  }));

test("Session against Postfix submission: STARTTLS forgets the capabilities, then AUTH through auth.ts and the core's writers", () =>
  withDriver(S.ports.submission, async (d) => {
    await d.ehlo();
    assert.equal(d.s.capabilities?.startTls, true);
    await d.send({ type: "STARTTLS" });
    assert.equal((await d.replies(1))[0]!.state, "tls");
    assert.equal(d.s.capabilities, null);
    await d.t.startTls({ servername: S.tls.serverName, ca: [S.tls.ca], verify: true });
    d.s.tlsEstablished();
    await d.ehlo();
    const offered = capabilitiesOf(d.s)?.auth ?? [];
    assert.ok(offered.includes("PLAIN"), `AUTH offered after TLS: ${offered.join(" ")}`);
    const io: SaslIo = {
      send: (line) => d.send(saslCommand(line)),
      read: async () => (await d.replies(1))[0]!.reply,
      replyError: (reply, msg) => new ReplyError(`${msg}: ${reply.code}`, reply, "auth"),
    };
    const { user, password } = S.users.alice;
    d.s.addSecret(password);
    assert.equal(await authenticate(io, offered, { user, pass: password, method: "PLAIN" }, { host: S.host, port: S.ports.submission }), "PLAIN");
    assert.equal(d.s.authenticated, true);
    const sent = message(token("core-auth"));
    await d.send([...envelope(d, sent), { type: "DATA" }]);
    assert.deepEqual((await d.replies(3)).map(short), ["MAIL 250 1", "RCPT 250 1", "DATA 354 1"]);
    await d.write(d.s.send({ type: "CONTENT", chunk: te.encode(sent) }));
    await d.send({ type: "END-OF-DATA" });
    assert.equal((await d.replies(1))[0]!.outcome, "accepted");
    await d.quit();
    assert.ok(d.writes.some((w) => w.startsWith("AUTH PLAIN ")), "AUTH went through the core");
    await waitForMaildirMessage(USER, (m) => m.header("subject") === /Subject: (\S+)/.exec(sent)![1]);
  }));

test("Session against smtp-sink: a 421 to MAIL closes the session and lists the pipelined commands left unanswered", () =>
  withDriver(S.sink.tempfailMailClose, async (d) => {
    await d.ehlo();
    assert.equal(d.s.pipelining, true);
    await d.send([{ type: "MAIL", from: "a@example.org" }, { type: "RCPT", to: "b@example.net" }, { type: "DATA" }]);
    const [ev] = await d.events(1);
    const closed = ev as ClosedEvent;
    assert.equal(closed.type, "closed");
    assert.equal(closed.reason, "421");
    assert.equal(closed.command, "MAIL");
    assert.deepEqual(closed.unanswered.map((p) => p.command), ["RCPT", "DATA"]);
    assert.throws(() => d.s.send({ type: "NOOP" }), /closed: 421/);
    d.close();
  }));

test("Session against smtp-sink without PIPELINING: one command at a time, RSET after every RCPT was refused", () =>
  withDriver(S.sink.rejectRcpt, async (d) => {
    await d.ehlo();
    assert.equal(d.s.pipelining, false);
    await d.send({ type: "MAIL", from: "a@example.org" });
    assert.throws(() => d.s.send({ type: "RCPT", to: "b@example.net" }), /no PIPELINING/);
    await d.replies(1);
    await d.send({ type: "RCPT", to: "b@example.net" });
    const [rcpt] = await d.replies(1);
    assert.equal(rcpt!.outcome, "rejected");
    assert.equal(rcpt!.reply.enhanced, "5.1.1");
    assert.equal(d.s.canSend("DATA"), false);
    assert.equal(d.s.needsReset, true);
    await d.send({ type: "RSET" });
    assert.equal(short((await d.replies(1))[0]!), "RSET 250 -");
    assert.equal(d.s.needsReset, false);
    await d.quit();
  }));
