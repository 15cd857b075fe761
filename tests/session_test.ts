// Byte-exact transcript tests of the sans-I/O session core (src/protocol/session.ts):
// feed server replies, assert the exact octets the core produces and the events it returns.
import { test } from "node:test";
import assert from "node:assert/strict";
import { authenticate, type SaslIo } from "../src/auth.ts";
import { ConnectionError, ProtocolError, ReplyError } from "../src/errors.ts";
import { MAX_REPLY_SIZE } from "../src/protocol/reply.ts";
import {
  type ClosedEvent,
  type Command,
  IDLE,
  MAX_PENDING,
  NEED_DATA,
  type ProtocolErrorEvent,
  type ReplyEvent,
  saslCommand,
  Session,
  type SessionEvent,
  type SessionOptions,
  type SessionTrace,
} from "../src/protocol/session.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const b = (s: string): Uint8Array => te.encode(s);
const text = (u: Uint8Array): string => td.decode(u);

const ALL_TYPES: readonly Command["type"][] = [
  "EHLO", "HELO", "STARTTLS", "AUTH", "AUTH-RESPONSE", "AUTH-CANCEL", "MAIL", "RCPT", "DATA", "CONTENT",
  "END-OF-DATA", "BDAT", "RSET", "NOOP", "VRFY", "VERB", "QUIT",
];
const allowed = (s: Session): Command["type"][] => ALL_TYPES.filter((t) => s.canSend(t));

/** Every event up to (not including) NEED_DATA / IDLE; a terminal event ends the list. */
function drain(s: Session): SessionEvent[] {
  const out: SessionEvent[] = [];
  for (let i = 0; i < 10_000; i++) {
    const ev = s.nextEvent();
    if (ev === NEED_DATA || ev === IDLE) return out;
    out.push(ev);
    if (ev.type === "closed" || ev.type === "protocol-error") return out;
  }
  throw new Error("nextEvent() never returned NEED_DATA or IDLE");
}

/** Feeds `server` and returns the reply events; anything else fails the test. */
function replies(s: Session, server: string): ReplyEvent[] {
  s.receive(b(server));
  return drain(s).map((ev) => {
    assert.equal(ev.type, "reply", `unexpected ${JSON.stringify(ev)}`);
    return ev as ReplyEvent;
  });
}

/** One reply event, as a compact string: `COMMAND code outcome state`. */
const short = (ev: SessionEvent): string =>
  ev.type === "reply" ? `${ev.command} ${ev.reply.code} ${ev.outcome} ${ev.state}` : ev.type;

function sent(s: Session, commands: Command | readonly Command[]): string {
  return text(Array.isArray(commands) ? s.sendAll(commands) : s.send(commands as Command));
}

/** A greeted session after an EHLO whose reply advertises `caps`. */
function ready(caps: readonly string[] = ["PIPELINING"], options: SessionOptions = {}): Session {
  const s = new Session(options);
  assert.deepEqual(replies(s, "220 mx.example ESMTP\r\n").map(short), ["GREETING 220 accepted greeted"]);
  assert.equal(sent(s, { type: "EHLO", name: "client.example" }), "EHLO client.example\r\n");
  const lines = ["mx.example", ...caps];
  const ehlo = lines.map((l, i) => `250${i < lines.length - 1 ? "-" : " "}${l}\r\n`).join("");
  assert.deepEqual(replies(s, ehlo).map(short), ["EHLO 250 accepted ready"]);
  return s;
}

const MAIL = (from = "a@example.org"): Command => ({ type: "MAIL", from });
const RCPT = (to: string): Command => ({ type: "RCPT", to });
const DATA: Command = { type: "DATA" };
const EOD: Command = { type: "END-OF-DATA" };
const content = (s: string): Command => ({ type: "CONTENT", chunk: b(s) });

// ------------------------------------------------------------------ basics

test("Session allows nothing before the greeting, and nothing is read while idle", () => {
  const s = new Session();
  assert.equal(s.state, "greeting");
  assert.deepEqual(allowed(s), []);
  assert.equal(s.nextEvent(), NEED_DATA);
  assert.throws(() => s.send({ type: "EHLO", name: "x" }), /Wait for the server's greeting before sending EHLO/);
  s.receive(b("220 hi\r\n"));
  assert.equal(short(s.nextEvent()), "GREETING 220 accepted greeted");
  assert.equal(s.nextEvent(), IDLE);
  assert.deepEqual(allowed(s), ["EHLO", "HELO", "RSET", "NOOP", "VRFY", "QUIT"]);
});

test("Session writes one plain transaction byte for byte and closes on the QUIT reply", () => {
  const s = ready(["SIZE 1000"]);
  assert.deepEqual(allowed(s), ["EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RSET", "NOOP", "VRFY", "VERB", "QUIT"]);
  assert.equal(s.capabilities?.size, 1000);
  assert.equal(s.pipelining, false);
  assert.equal(sent(s, { type: "MAIL", from: "a@example.org", parameters: [["SIZE", "12"]] }), "MAIL FROM:<a@example.org> SIZE=12\r\n");
  assert.equal(s.nextEvent(), NEED_DATA);
  const [mail] = replies(s, "250 2.1.0 ok\r\n");
  assert.deepEqual(mail, {
    type: "reply",
    command: "MAIL",
    reply: { type: "reply", code: 250, enhanced: "2.1.0", lines: ["2.1.0 ok"] },
    outcome: "accepted",
    temporary: false,
    state: "mail",
    transaction: 1,
  });
  assert.equal(s.canSend("DATA"), false);
  assert.equal(sent(s, RCPT("b@example.net")), "RCPT TO:<b@example.net>\r\n");
  const [rcpt] = replies(s, "250 ok\r\n");
  assert.equal(rcpt!.recipient, "b@example.net");
  assert.equal(s.acceptedRecipients, 1);
  assert.equal(sent(s, DATA), "DATA\r\n");
  const [data] = replies(s, "354 go ahead\r\n");
  assert.equal(short(data!), "DATA 354 continue data");
  assert.deepEqual(allowed(s), ["CONTENT", "END-OF-DATA"]);
  assert.equal(sent(s, content("Subject: x\n\n.dot\nend")), "Subject: x\r\n\r\n..dot\r\nend");
  assert.equal(sent(s, EOD), "\r\n.\r\n");
  const [done] = replies(s, "250 queued as 1\r\n");
  assert.equal(short(done!), "END-OF-DATA 250 accepted ready");
  assert.equal(done!.octets, "Subject: x\r\n\r\n..dot\r\nend\r\n.\r\n".length);
  assert.deepEqual(done!.recipients?.map((r) => [r.address, r.reply.code, r.accepted]), [["b@example.net", 250, true]]);
  assert.equal(s.needsReset, false);
  assert.equal(sent(s, { type: "QUIT" }), "QUIT\r\n");
  s.receive(b("221 bye\r\n"));
  const closed = s.nextEvent();
  assert.deepEqual(closed, {
    type: "closed",
    reason: "quit",
    command: "QUIT",
    reply: { type: "reply", code: 221, enhanced: null, lines: ["bye"] },
    unanswered: [],
  });
  assert.equal(s.nextEvent(), closed); // sticky
  assert.deepEqual(allowed(s), []);
  assert.throws(() => s.send({ type: "NOOP" }), (e: unknown) => e instanceof ConnectionError && /closed: 221 bye/.test(e.message));
});

test("Session moves a 554 greeting to refused, where only QUIT is allowed", () => {
  const s = new Session();
  const [ev] = replies(s, "554 go away\r\n");
  assert.equal(short(ev!), "GREETING 554 rejected refused");
  assert.equal(ev!.temporary, false);
  assert.deepEqual(allowed(s), ["QUIT"]);
});

test("Session refuses an invalid argument without changing anything", () => {
  const s = ready();
  assert.throws(() => s.send({ type: "MAIL", from: "a@b\r\nRCPT TO:<x@y>" }), TypeError);
  assert.throws(() => s.send({ type: "EHLO", name: "bad name" }), TypeError);
  assert.deepEqual(s.pending, []);
  assert.equal(s.expectedState, "ready");
  assert.equal(sent(s, MAIL()), "MAIL FROM:<a@example.org>\r\n");
});

test("Session traces every line, with message data summarised", () => {
  const trace: SessionTrace[] = [];
  const s = ready(["PIPELINING"], { trace: (t) => trace.push(t) });
  sent(s, [MAIL(), RCPT("b@example.net"), DATA]);
  replies(s, "250 ok\r\n250 ok\r\n354 go\r\n");
  sent(s, content("hi\r\n"));
  sent(s, EOD);
  replies(s, "250-queued\r\n250 as X\r\n");
  assert.deepEqual(trace.slice(-9).map((t) => `${t.direction} ${t.line}`), [
    "send MAIL FROM:<a@example.org>",
    "send RCPT TO:<b@example.net>",
    "send DATA",
    "recv 250 ok",
    "recv 250 ok",
    "recv 354 go",
    'send [7 octets of message data, ending with "."]',
    "recv 250-queued",
    "recv 250 as X",
  ]);
});

// ------------------------------------------------------------------ 421, stray, wrong class, EOF

test("Session closes on a 421 to the greeting", () => {
  const s = new Session();
  s.receive(b("421 too busy\r\n"));
  const ev = s.nextEvent() as ClosedEvent;
  assert.equal(ev.type, "closed");
  assert.equal(ev.reason, "421");
  assert.equal(ev.command, "GREETING");
  assert.deepEqual(ev.unanswered, []);
  assert.equal(s.state, "closed");
});

test("Session closes on a 421 in the middle of a pipelined group and lists what went unanswered", () => {
  const s = ready();
  sent(s, [MAIL(), RCPT("b@example.net"), RCPT("c@example.net"), DATA]);
  s.receive(b("250 ok\r\n421 4.3.2 shutting down\r\n250 ignored after the 421\r\n"));
  const events = drain(s);
  assert.equal(short(events[0]!), "MAIL 250 accepted mail");
  const closed = events[1] as ClosedEvent;
  assert.equal(closed.type, "closed");
  assert.equal(closed.reason, "421");
  assert.equal(closed.command, "RCPT");
  assert.equal(closed.reply?.enhanced, "4.3.2");
  assert.deepEqual(closed.unanswered, [
    { command: "RCPT", transaction: 1, recipient: "c@example.net" },
    { command: "DATA", transaction: 1 },
  ]);
  assert.equal(s.nextEvent(), closed);
  s.receive(b("250 more\r\n")); // ignored once closed
  assert.equal(s.nextEvent(), closed);
});

test("Session treats an unsolicited 421 between commands as the close it is, not a stray reply", () => {
  const s = ready();
  s.receive(b("421 idle too long\r\n"));
  assert.throws(() => s.send({ type: "NOOP" }), (e: unknown) => e instanceof ConnectionError && /421 idle too long/.test(e.message));
  assert.equal((s.nextEvent() as ClosedEvent).reason, "421");
});

test("Session reports a reply with no command pending as a protocol error, and stays stopped", () => {
  const s = ready();
  s.receive(b("250 surprise\r\n"));
  const ev = s.nextEvent() as ProtocolErrorEvent;
  assert.equal(ev.type, "protocol-error");
  assert.ok(ev.error instanceof ProtocolError);
  assert.match(ev.error.message, /Reply 250 arrived with no command pending/);
  assert.equal(s.state, "error");
  assert.equal(s.nextEvent(), ev);
  assert.throws(() => s.send({ type: "NOOP" }), (e: unknown) => e === ev.error);
});

test("Session refuses to send while unread octets answer no command (a server that replied twice)", () => {
  const s = ready();
  sent(s, { type: "NOOP" });
  s.receive(b("250 ok\r\n250 again\r\n"));
  assert.equal(short(s.nextEvent()), "NOOP 250 accepted ready");
  // The driver did not drain: the second reply is found before the next command goes out.
  assert.throws(() => s.send(MAIL()), (e: unknown) => e instanceof ProtocolError && /no command pending/.test(e.message));
  assert.equal(s.state, "error");

  const t = ready();
  t.receive(b("25"));
  assert.throws(() => t.send(MAIL()), (e: unknown) => e instanceof ProtocolError && /2 octets that answer no command/.test(e.message));
});

test("Session refuses a reply class the command cannot get", () => {
  const cases: [Command[], string, RegExp, string][] = [
    [[MAIL(), RCPT("b@example.net"), DATA], "250 ok\r\n250 ok\r\n250 ok\r\n", /Reply 250 is not a valid answer to DATA/, "data"],
    [[MAIL()], "354 go\r\n", /Reply 354 is not a valid answer to MAIL/, "mail"],
    [[{ type: "QUIT" }], "334 what\r\n", /Reply 334 is not a valid answer to QUIT/, "quit"],
    [[{ type: "EHLO", name: "x" }], "354 no\r\n", /Reply 354 is not a valid answer to EHLO/, "ehlo"],
  ];
  for (const [commands, server, pattern, phase] of cases) {
    const s = ready();
    sent(s, commands);
    s.receive(b(server));
    const last = drain(s).at(-1) as ProtocolErrorEvent;
    assert.equal(last.type, "protocol-error", server);
    assert.match(last.error.message, pattern);
    assert.equal(last.error.phase, phase);
  }
});

test("Session reports the end of the stream: closed with what went unanswered, or an error inside a reply", () => {
  const s = ready();
  sent(s, { type: "NOOP" });
  s.receiveEof();
  const ev = s.nextEvent() as ClosedEvent;
  assert.equal(ev.reason, "eof");
  assert.equal(ev.reply, null);
  assert.deepEqual(ev.unanswered, [{ command: "NOOP", transaction: null }]);

  const t = ready();
  sent(t, { type: "NOOP" });
  t.receive(b("250-first line\r\n"));
  t.receiveEof();
  const err = t.nextEvent() as ProtocolErrorEvent;
  assert.equal(err.type, "protocol-error");
  assert.match(err.error.message, /closed in the middle of a multi-line 250 reply/);
  assert.equal(err.error.phase, "noop");
});

test("Session passes the reply reader's caps on as protocol errors", () => {
  const s = ready();
  sent(s, { type: "NOOP" });
  s.receive(b(`250 ${"x".repeat(5000)}`));
  const ev = s.nextEvent() as ProtocolErrorEvent;
  assert.equal(ev.type, "protocol-error");
  assert.match(ev.error.message, /Reply line exceeds 4096 octets/);

  // A server dribbling an endless multi-line reply is stopped by the reply cap, not memory (moved from client_test).
  const t = ready();
  sent(t, { type: "EHLO", name: "x" });
  let stopped: ProtocolErrorEvent | null = null;
  for (let i = 0; i < 3000 && stopped === null; i++) {
    t.receive(b("250-" + "x".repeat(70) + "\r\n"));
    const e = t.nextEvent();
    if (e.type === "protocol-error") stopped = e;
    else assert.equal(e.type, "need-data");
  }
  assert.ok(stopped !== null, "3000 continuation lines were taken as one reply");
  assert.equal(stopped.error.phase, "ehlo");
  assert.equal(t.state, "error");
});

test("Session bounds unread reply octets by the commands pending", () => {
  const s = ready();
  sent(s, { type: "NOOP" });
  // Many small complete replies the driver never takes: more than two replies' worth is refused.
  const flood = "250-x\r\n".repeat(Math.ceil((2 * MAX_REPLY_SIZE) / 7) + 1);
  s.receive(b(flood));
  const ev = s.nextEvent() as ProtocolErrorEvent;
  assert.equal(ev.type, "protocol-error");
  assert.match(ev.error.message, /unread octets, more than 1 pending command can be answered with/);
});

test("Session caps the commands waiting for replies", () => {
  const s = ready();
  sent(s, MAIL());
  for (let i = 0; i < MAX_PENDING - 1; i++) s.send(RCPT(`r${i}@example.net`));
  assert.throws(() => s.send(RCPT("one-too-many@example.net")), RangeError);
  assert.equal(s.pending.length, MAX_PENDING);
});

// ------------------------------------------------------------------ pipelining

test("Session without PIPELINING waits for each reply", () => {
  const s = ready([]);
  sent(s, MAIL());
  assert.throws(() => s.send(RCPT("b@example.net")), /Wait for the reply to MAIL before sending RCPT \(no PIPELINING\)/);
  const off = ready(["PIPELINING"], { pipelining: false });
  assert.equal(off.pipelining, false);
  sent(off, MAIL());
  assert.equal(off.canSend("RCPT"), false);
});

test("Session pipelines MAIL, RCPT and DATA in one group, DATA last, and matches replies in order", () => {
  const s = ready();
  assert.equal(sent(s, [MAIL(), RCPT("b@example.net"), RCPT("c@example.net"), DATA]),
    "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n");
  assert.deepEqual(s.pending.map((p) => p.command), ["MAIL", "RCPT", "RCPT", "DATA"]);
  assert.equal(s.expectedState, "data");
  assert.equal(s.state, "ready");
  assert.throws(() => s.send({ type: "RSET" }), /DATA ends a pipelined group/);
  const events = replies(s, "250 ok\r\n550 5.1.1 no such user\r\n250 ok\r\n354 go\r\n");
  assert.deepEqual(events.map(short), [
    "MAIL 250 accepted mail", "RCPT 550 rejected mail", "RCPT 250 accepted rcpt", "DATA 354 continue data",
  ]);
  assert.deepEqual(events.map((e) => e.recipient), [undefined, "b@example.net", "c@example.net", undefined]);
  assert.deepEqual(events[3]!.recipients?.map((r) => [r.address, r.accepted, r.reply.enhanced]), [
    ["b@example.net", false, "5.1.1"],
    ["c@example.net", true, null],
  ]);
  assert.equal(s.acceptedRecipients, 1);
});

test("Session: EHLO, HELO, NOOP, VRFY, QUIT, AUTH, STARTTLS and VERB each end a group; RSET and MAIL do not", () => {
  const enders: Command[] = [
    { type: "EHLO", name: "x" }, { type: "HELO", name: "x" }, { type: "NOOP" }, { type: "VRFY", query: "u" },
    { type: "QUIT" }, { type: "AUTH", mechanism: "PLAIN" }, { type: "STARTTLS" }, { type: "VERB" },
  ];
  for (const last of enders) {
    const s = ready(["PIPELINING", "AUTH PLAIN", "STARTTLS"]);
    s.send(last);
    assert.equal(s.canSend("RSET"), false, last.type);
    assert.equal(s.canSend("NOOP"), false, last.type);
  }
  const s = ready();
  sent(s, [{ type: "RSET" }, MAIL(), { type: "EHLO", name: "x" }]); // EHLO may close a group MAIL opened
  assert.equal(s.canSend("MAIL"), false);
});

test("Session: replies to commands pipelined behind a failed MAIL are rejections, recorded per recipient", () => {
  const s = ready();
  sent(s, [MAIL(), RCPT("b@example.net"), DATA]);
  const events = replies(s, "550 sender refused\r\n503 need MAIL\r\n503 need RCPT\r\n");
  assert.deepEqual(events.map(short), ["MAIL 550 rejected ready", "RCPT 503 rejected ready", "DATA 503 rejected ready"]);
  assert.deepEqual(events[2]!.recipients?.map((r) => [r.address, r.reply.code]), [["b@example.net", 503]]);
  assert.deepEqual(s.pending, []);
  assert.equal(s.needsReset, true); // the transaction failed: RSET before the next, as the client does
});

test("Session refuses a 250 to a RCPT sent behind a failed MAIL", () => {
  const s = ready();
  sent(s, [MAIL(), RCPT("b@example.net")]);
  s.receive(b("451 later\r\n250 ok\r\n"));
  const events = drain(s);
  assert.equal(short(events[0]!), "MAIL 451 rejected ready");
  assert.equal(events[0]!.type === "reply" && events[0]!.temporary, true);
  assert.match((events[1] as ProtocolErrorEvent).error.message, /accepts RCPT although it is out of sequence in state "ready"/);
});

test("Session answers a 354 after every RCPT failed with a lone dot, and refuses message content", () => {
  const s = ready();
  sent(s, [MAIL(), RCPT("b@example.net"), DATA]);
  const events = replies(s, "250 ok\r\n550 no\r\n354 go\r\n");
  assert.equal(short(events[2]!), "DATA 354 continue data");
  assert.equal(s.acceptedRecipients, 0);
  assert.deepEqual(allowed(s), ["END-OF-DATA"]);
  assert.throws(() => s.send(content("hello\r\n")), /No recipient was accepted: answer the 354 with END-OF-DATA alone/);
  assert.equal(sent(s, EOD), ".\r\n");
  const [end] = replies(s, "554 no valid recipients\r\n");
  assert.equal(short(end!), "END-OF-DATA 554 rejected ready");
  assert.equal(end!.octets, 3);
  assert.equal(s.needsReset, true);
});

test("Session does not allow DATA without an accepted or pending RCPT", () => {
  const s = ready([]);
  sent(s, MAIL());
  replies(s, "250 ok\r\n");
  sent(s, RCPT("b@example.net"));
  replies(s, "550 no\r\n");
  assert.equal(s.canSend("DATA"), false);
  assert.throws(() => s.send(DATA), /DATA is not allowed in state "mail"/);
  assert.equal(s.needsReset, true);
  sent(s, { type: "RSET" });
  replies(s, "250 ok\r\n");
  assert.equal(s.needsReset, false);
});

test("Session pipelines two messages across the message boundary, whatever the reply chunking", () => {
  // RFC 2920 §3.1: message 1's content and end of data, then message 2's MAIL, RCPT and DATA, in one write.
  const group1 = [MAIL("a@example.org"), RCPT("b@example.net"), DATA];
  const server1 = "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n";
  const server2 = "250 2.0.0 queued as A\r\n250 2.1.0 ok\r\n550 5.1.1 no\r\n250 2.1.5 ok\r\n354 go\r\n";
  const server3 = "250 2.0.0 queued as B\r\n221 2.0.0 bye\r\n";
  const expected2 = [
    "END-OF-DATA 250 accepted ready 1", "MAIL 250 accepted mail 2", "RCPT 550 rejected mail 2",
    "RCPT 250 accepted rcpt 2", "DATA 354 continue data 2",
  ];
  const run = (split: (server: string) => Uint8Array[]) => {
    const s = ready(["PIPELINING", "SIZE 0"]);
    const out: string[] = [];
    const feed = (server: string): SessionEvent[] => {
      const evs: SessionEvent[] = [];
      for (const piece of split(server)) {
        s.receive(piece);
        evs.push(...drain(s));
        if (s.state === "closed") break; // the closed event repeats: take it once
      }
      return evs;
    };
    out.push(sent(s, group1));
    assert.deepEqual(feed(server1).map(short), ["MAIL 250 accepted mail", "RCPT 250 accepted rcpt", "DATA 354 continue data"]);
    out.push(sent(s, [content("one\n"), EOD, MAIL("a@example.org"), RCPT("x@example.net"), RCPT("c@example.net"), DATA]));
    assert.equal(s.state, "data");
    assert.equal(s.expectedState, "data");
    assert.equal(s.needsReset, false);
    const evs2 = feed(server2) as ReplyEvent[];
    assert.deepEqual(evs2.map((e) => `${short(e)} ${e.transaction}`), expected2);
    assert.equal(evs2[0]!.octets, 8);
    assert.deepEqual(evs2[0]!.recipients?.map((r) => r.address), ["b@example.net"]);
    assert.deepEqual(evs2[4]!.recipients?.map((r) => [r.address, r.accepted]), [["x@example.net", false], ["c@example.net", true]]);
    out.push(sent(s, [content("two\r\n"), EOD, { type: "QUIT" }]));
    const evs3 = feed(server3);
    assert.deepEqual(evs3.map((e) => e.type === "closed" ? `closed ${e.reason}` : short(e)), [
      "END-OF-DATA 250 accepted ready",
      "closed quit",
    ]);
    return out.join("");
  };
  const wire = "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n" +
    "one\r\n.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<x@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n" +
    "two\r\n.\r\nQUIT\r\n";
  assert.equal(run((s) => [b(s)]), wire);
  // Every two-piece split of every reply batch, and one octet at a time.
  let splits = 0;
  for (const server of [server1, server2, server3]) {
    for (let at = 0; at <= server.length; at++) {
      const cut = (x: string) => x === server ? [b(x.slice(0, at)), b(x.slice(at))] : [b(x)];
      assert.equal(run(cut), wire);
      splits++;
    }
  }
  assert.equal(splits, server1.length + server2.length + server3.length + 3);
  assert.equal(run((x) => [...b(x)].map((o) => Uint8Array.of(o))), wire);
});

test("Session pipelines the next MAIL behind an end of data that then fails, without RSET", () => {
  const s = ready();
  sent(s, [MAIL(), RCPT("b@example.net"), DATA]);
  replies(s, "250 ok\r\n250 ok\r\n354 go\r\n");
  sent(s, [content("x\r\n"), EOD, MAIL(), RCPT("b@example.net"), DATA]);
  const evs = replies(s, "554 5.7.1 spam\r\n250 ok\r\n250 ok\r\n354 go\r\n");
  assert.deepEqual(evs.map((e) => `${short(e)} ${e.transaction}`), [
    "END-OF-DATA 554 rejected ready 1", "MAIL 250 accepted mail 2", "RCPT 250 accepted rcpt 2", "DATA 354 continue data 2",
  ]);
  assert.equal(s.acceptedRecipients, 1);
  assert.equal(s.needsReset, false);
});

// ------------------------------------------------------------------ STARTTLS

test("Session: STARTTLS forgets the capabilities; nothing until tlsEstablished(); EHLO again", () => {
  const s = ready(["PIPELINING", "STARTTLS", "AUTH PLAIN"]);
  assert.deepEqual(s.capabilities?.auth, ["PLAIN"]);
  assert.equal(sent(s, { type: "STARTTLS" }), "STARTTLS\r\n");
  const [ev] = replies(s, "220 2.0.0 ready to start TLS\r\n");
  assert.equal(short(ev!), "STARTTLS 220 accepted tls");
  assert.equal(s.capabilities, null);
  assert.equal(s.pipelining, false);
  assert.deepEqual(allowed(s), []);
  s.tlsEstablished();
  assert.equal(s.state, "greeted");
  assert.equal(s.tls, true);
  assert.equal(sent(s, { type: "EHLO", name: "client.example" }), "EHLO client.example\r\n");
  replies(s, "250-mx.example\r\n250 AUTH LOGIN\r\n");
  const after: Session = s; // (assert.equal above narrowed s.capabilities to null)
  assert.deepEqual(after.capabilities?.auth, ["LOGIN"]);
  assert.equal(s.canSend("STARTTLS"), false);
  assert.throws(() => s.send({ type: "STARTTLS" }), /TLS is already active/);
});

test("Session refuses octets that arrive after the STARTTLS 220, before the handshake", () => {
  const s = ready(["STARTTLS"]);
  sent(s, { type: "STARTTLS" });
  s.receive(b("220 go\r\n250-injected\r\n"));
  const ev = s.nextEvent() as ProtocolErrorEvent;
  assert.equal(ev.type, "protocol-error");
  assert.match(ev.error.message, /octets after its STARTTLS reply, before the TLS handshake/);
  assert.equal(ev.error.phase, "starttls");

  const t = ready(["STARTTLS"]);
  sent(t, { type: "STARTTLS" });
  replies(t, "220 go\r\n");
  t.receive(b("250 late injection\r\n"));
  assert.throws(() => t.tlsEstablished(), ProtocolError);
  assert.equal(t.state, "error");
});

test("Session stays ready after a refused STARTTLS; implicit TLS never allows it", () => {
  const s = ready(["STARTTLS"]);
  sent(s, { type: "STARTTLS" });
  assert.equal(short(replies(s, "454 TLS not available\r\n")[0]!), "STARTTLS 454 rejected ready");
  assert.throws(() => s.tlsEstablished(), TypeError);
  const t = ready(["STARTTLS"], { tls: true });
  assert.equal(t.tls, true);
  assert.equal(t.canSend("STARTTLS"), false);
});

test("Session falls back to HELO after a refused EHLO, and forgets capabilities after HELO", () => {
  const s = new Session();
  replies(s, "220 old server\r\n");
  sent(s, { type: "EHLO", name: "client.example" });
  assert.equal(short(replies(s, "502 command not recognised\r\n")[0]!), "EHLO 502 rejected greeted");
  assert.equal(sent(s, { type: "HELO", name: "client.example" }), "HELO client.example\r\n");
  assert.equal(short(replies(s, "250 hello\r\n")[0]!), "HELO 250 accepted ready");
  assert.equal(s.capabilities, null);
  assert.equal(s.pipelining, false);
});

// ------------------------------------------------------------------ AUTH

test("Session runs AUTH LOGIN over 334 rounds, redacting every payload, and allows no second AUTH", () => {
  const trace: SessionTrace[] = [];
  const s = ready(["AUTH LOGIN"], { trace: (t) => trace.push(t) });
  assert.equal(sent(s, { type: "AUTH", mechanism: "login" }), "AUTH LOGIN\r\n");
  const [c1] = replies(s, "334 VXNlcm5hbWU6\r\n");
  assert.equal(short(c1!), "AUTH 334 continue auth");
  assert.equal(c1!.initialResponseHeld, undefined);
  assert.deepEqual(allowed(s), ["AUTH-RESPONSE", "AUTH-CANCEL"]);
  assert.equal(sent(s, { type: "AUTH-RESPONSE", response: "dXNlckBleGFtcGxl" }), "dXNlckBleGFtcGxl\r\n");
  assert.equal(short(replies(s, "334 UGFzc3dvcmQ6\r\n")[0]!), "AUTH-RESPONSE 334 continue auth");
  assert.equal(sent(s, { type: "AUTH-RESPONSE", response: "c2VjcmV0IHBhc3N3b3Jk" }), "c2VjcmV0IHBhc3N3b3Jk\r\n");
  // A server that echoes the payload back must not put it in the trace.
  assert.equal(short(replies(s, "235 2.7.0 welcome c2VjcmV0IHBhc3N3b3Jk\r\n")[0]!), "AUTH-RESPONSE 235 accepted ready");
  assert.equal(s.authenticated, true);
  assert.throws(() => s.send({ type: "AUTH", mechanism: "LOGIN" }), /after a successful AUTH/);
  const lines = trace.map((t) => `${t.direction} ${t.line}`).slice(-6);
  assert.deepEqual(lines, [
    "send AUTH LOGIN",
    "recv 334 VXNlcm5hbWU6",
    "send <redacted>",
    "recv 334 UGFzc3dvcmQ6",
    "send <redacted>",
    "recv 235 2.7.0 welcome <redacted>",
  ]);
  assert.equal(s.redact("echo c2VjcmV0IHBhc3N3b3Jk"), "echo <redacted>");
  s.addSecret("hunter22");
  assert.equal(s.redact("pw hunter22"), "pw <redacted>");
});

test("Session sends AUTH PLAIN with an initial response, traced redacted; a refusal allows another try", () => {
  const trace: SessionTrace[] = [];
  const s = ready(["AUTH PLAIN"], { trace: (t) => trace.push(t) });
  assert.equal(sent(s, { type: "AUTH", mechanism: "PLAIN", initialResponse: "AHVzZXIAcGFzc3dvcmQ=" }), "AUTH PLAIN AHVzZXIAcGFzc3dvcmQ=\r\n");
  assert.equal(trace.at(-1)?.line, "AUTH PLAIN <redacted>");
  const [ev] = replies(s, "454 4.7.0 try later\r\n");
  assert.equal(short(ev!), "AUTH 454 rejected ready");
  assert.equal(ev!.temporary, true);
  assert.equal(s.authenticated, false);
  assert.equal(s.canSend("AUTH"), true);
  assert.equal(sent(s, { type: "AUTH", mechanism: "PLAIN", initialResponse: "" }), "AUTH PLAIN =\r\n");
});

test("Session cancels a SASL exchange with * and refuses a 334 to the cancel", () => {
  const s = ready(["AUTH CRAM-MD5"]);
  sent(s, { type: "AUTH", mechanism: "CRAM-MD5" });
  replies(s, "334 PDEyMzQ1QGV4YW1wbGU+\r\n");
  assert.equal(sent(s, { type: "AUTH-CANCEL" }), "*\r\n");
  assert.equal(short(replies(s, "501 5.7.0 cancelled\r\n")[0]!), "AUTH-CANCEL 501 rejected ready");
  sent(s, { type: "AUTH", mechanism: "CRAM-MD5" });
  replies(s, "334 PDEyMzQ1QGV4YW1wbGU+\r\n");
  sent(s, { type: "AUTH-CANCEL" });
  s.receive(b("334 more\r\n"));
  assert.match((s.nextEvent() as ProtocolErrorEvent).error.message, /Reply 334 is not a valid answer to AUTH-CANCEL/);
});

test("Session holds an initial response too long for the AUTH line and sends it after the 334 (RFC 4954 §4)", () => {
  const s = ready(["AUTH XOAUTH2"]);
  const ir = "A".repeat(600);
  assert.equal(sent(s, { type: "AUTH", mechanism: "XOAUTH2", initialResponse: ir }), "AUTH XOAUTH2\r\n");
  const [ev] = replies(s, "334 \r\n");
  assert.equal(ev!.initialResponseHeld, true);
  assert.equal(sent(s, { type: "AUTH-RESPONSE" }), `${ir}\r\n`);
  assert.equal(short(replies(s, "235 ok\r\n")[0]!), "AUTH-RESPONSE 235 accepted ready");
  assert.equal(s.redact(`x ${ir}`), "x <redacted>");
  const t = ready(["AUTH PLAIN"]);
  sent(t, { type: "AUTH", mechanism: "PLAIN" });
  replies(t, "334 \r\n");
  assert.throws(() => t.send({ type: "AUTH-RESPONSE" }), /needs a response/);
});

test("Session refuses AUTH inside a transaction and invalid SASL input", () => {
  const s = ready(["AUTH PLAIN"]);
  sent(s, MAIL());
  replies(s, "250 ok\r\n");
  assert.equal(s.canSend("AUTH"), false);
  const t = ready(["AUTH PLAIN"]);
  assert.throws(() => t.send({ type: "AUTH", mechanism: "PLAIN", initialResponse: "not base64!" }), TypeError);
  assert.throws(() => t.send({ type: "AUTH", mechanism: "PL AIN" }), TypeError);
  assert.deepEqual(t.pending, []);
});

// ------------------------------------------------------------------ BDAT

test("Session sends BDAT only after the envelope replies, normalises and frames chunks, pipelines the next MAIL", () => {
  const s = ready(["PIPELINING", "CHUNKING"]);
  sent(s, [MAIL(), RCPT("b@example.net")]);
  assert.throws(() => s.send({ type: "BDAT", chunk: b("x"), last: false }), /Wait for the MAIL and RCPT replies before sending BDAT/);
  replies(s, "250 ok\r\n250 ok\r\n");
  const wire = sent(s, [
    { type: "BDAT", chunk: b("Subject: x\n"), last: false },
    { type: "BDAT", chunk: b("\n.body"), last: false },
    { type: "BDAT", chunk: b(" end"), last: true },
    MAIL(),
  ]);
  assert.equal(wire, "BDAT 12\r\nSubject: x\r\nBDAT 7\r\n\r\n.bodyBDAT 6 LAST\r\n end\r\nMAIL FROM:<a@example.org>\r\n");
  const evs = replies(s, "250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n250 ok\r\n");
  assert.deepEqual(evs.map((e) => `${short(e)} ${e.transaction}`), [
    "BDAT 250 accepted bdat 1", "BDAT 250 accepted bdat 1", "BDAT-LAST 250 accepted ready 1", "MAIL 250 accepted mail 2",
  ]);
  assert.equal(evs[2]!.octets, 12 + 7 + 6);
  assert.deepEqual(evs[2]!.recipients?.map((r) => r.address), ["b@example.net"]);
});

test("Session frames an empty last BDAT chunk as BDAT 0 LAST", () => {
  const s = ready(["CHUNKING"]);
  sent(s, MAIL());
  replies(s, "250 ok\r\n");
  sent(s, RCPT("b@example.net"));
  replies(s, "250 ok\r\n");
  assert.equal(sent(s, { type: "BDAT", chunk: b("a\r\n"), last: false }), "BDAT 3\r\na\r\n");
  replies(s, "250 ok\r\n");
  assert.equal(sent(s, { type: "BDAT", chunk: new Uint8Array(0), last: true }), "BDAT 0 LAST\r\n");
});

test("Session requires RSET after a failed BDAT, discarding chunks already pipelined", () => {
  const s = ready(["PIPELINING", "CHUNKING"]);
  sent(s, [MAIL(), RCPT("b@example.net")]);
  replies(s, "250 ok\r\n250 ok\r\n");
  sent(s, [
    { type: "BDAT", chunk: b("a\r\n"), last: false },
    { type: "BDAT", chunk: b("b\r\n"), last: false },
    { type: "BDAT", chunk: b("c\r\n"), last: true },
  ]);
  const evs = replies(s, "552 too big\r\n250 ok\r\n503 no\r\n");
  assert.deepEqual(evs.map(short), ["BDAT 552 rejected failed", "BDAT 250 accepted failed", "BDAT-LAST 503 rejected failed"]);
  assert.deepEqual(allowed(s), ["RSET", "QUIT"]);
  assert.equal(s.needsReset, true);
  assert.equal(sent(s, { type: "RSET" }), "RSET\r\n");
  assert.equal(short(replies(s, "250 ok\r\n")[0]!), "RSET 250 accepted ready");
  assert.equal(s.needsReset, false);
});

test("Session accepts a MAIL pipelined after a failed BDAT LAST when the server answers 250", () => {
  const s = ready(["PIPELINING", "CHUNKING"]);
  sent(s, [MAIL(), RCPT("b@example.net")]);
  replies(s, "250 ok\r\n250 ok\r\n");
  sent(s, [{ type: "BDAT", chunk: b("a\r\n"), last: true }, MAIL()]);
  assert.deepEqual(replies(s, "554 no\r\n250 ok\r\n").map(short), ["BDAT-LAST 554 rejected failed", "MAIL 250 accepted mail"]);
});

test("Session refuses DATA after BDAT in one transaction", () => {
  const s = ready(["CHUNKING"]);
  sent(s, MAIL());
  replies(s, "250 ok\r\n");
  sent(s, RCPT("b@example.net"));
  replies(s, "250 ok\r\n");
  sent(s, { type: "BDAT", chunk: b("a\r\n"), last: false });
  replies(s, "250 ok\r\n");
  assert.equal(s.canSend("DATA"), false);
  assert.equal(s.canSend("MAIL"), false);
  assert.throws(() => s.send(DATA), /DATA is not allowed in state "bdat"/);
});

// ------------------------------------------------------------------ transactions, RSET, message data

test("Session: RSET ends a transaction and EHLO inside one resets it", () => {
  const s = ready([]);
  sent(s, MAIL());
  replies(s, "250 ok\r\n");
  assert.equal(s.needsReset, true);
  sent(s, { type: "RSET" });
  assert.equal(short(replies(s, "250 ok\r\n")[0]!), "RSET 250 accepted ready");
  assert.equal(s.needsReset, false);
  sent(s, MAIL());
  replies(s, "250 ok\r\n");
  sent(s, { type: "EHLO", name: "x" });
  assert.equal(short(replies(s, "250 mx\r\n")[0]!), "EHLO 250 accepted ready");
  assert.equal(s.needsReset, false);
});

test("Session sends several messages on one connection with RSET only after a failed one", () => {
  const trace: string[] = [];
  const s = ready([], { trace: (t) => t.direction === "send" && trace.push(t.line) });
  const one = (to: string, rcptReply: string): boolean => {
    if (s.needsReset) {
      sent(s, { type: "RSET" });
      replies(s, "250 ok\r\n");
    }
    sent(s, MAIL());
    replies(s, "250 ok\r\n");
    sent(s, RCPT(to));
    if (replies(s, rcptReply)[0]!.outcome !== "accepted") return false;
    sent(s, DATA);
    replies(s, "354 go\r\n");
    sent(s, content("x\r\n"));
    sent(s, EOD);
    return replies(s, "250 ok\r\n")[0]!.outcome === "accepted";
  };
  assert.equal(one("b@example.net", "250 ok\r\n"), true);
  assert.equal(s.needsReset, false);
  assert.equal(one("c@example.net", "550 no\r\n"), false);
  assert.equal(s.needsReset, true);
  assert.equal(one("d@example.net", "250 ok\r\n"), true);
  assert.equal(s.needsReset, false);
  assert.deepEqual(trace.filter((l) => !l.startsWith("[")), [
    "EHLO client.example",
    "MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>", "DATA",
    "MAIL FROM:<a@example.org>", "RCPT TO:<c@example.net>",
    "RSET", "MAIL FROM:<a@example.org>", "RCPT TO:<d@example.net>", "DATA",
  ]);
});

test("Session refuses message content outside the data phase, and a long line stops the session", () => {
  const s = ready();
  assert.throws(() => s.send(content("x")), /Message content may only follow a 354 reply to DATA/);
  sent(s, [MAIL(), RCPT("b@example.net"), DATA]);
  assert.throws(() => s.send(content("x")), /Message content may only follow a 354/);
  replies(s, "250 ok\r\n250 ok\r\n354 go\r\n");
  assert.throws(() => s.send(content(`${"x".repeat(999)}\r\n`)), RangeError);
  assert.equal(s.state, "error");
  assert.throws(() => s.send(EOD), (e: unknown) => e instanceof ProtocolError && /cannot be ended/.test(e.message));
  const t = ready(["PIPELINING"], { onLongLine: "allow" });
  sent(t, [MAIL(), RCPT("b@example.net"), DATA]);
  replies(t, "250 ok\r\n250 ok\r\n354 go\r\n");
  assert.equal(sent(t, content(`${"x".repeat(999)}\n`)).length, 1001);
});

test("Session: the closing event after QUIT lists nothing unanswered, and QUIT may follow an end of data", () => {
  const s = ready();
  sent(s, [MAIL(), RCPT("b@example.net"), DATA]);
  replies(s, "250 ok\r\n250 ok\r\n354 go\r\n");
  assert.equal(sent(s, [content("x\r\n"), EOD, { type: "QUIT" }]), "x\r\n.\r\nQUIT\r\n");
  s.receive(b("250 ok\r\n"));
  const first = s.nextEvent();
  assert.equal(short(first), "END-OF-DATA 250 accepted ready");
  assert.equal(s.nextEvent(), NEED_DATA);
  s.receive(b("221 bye\r\n"));
  assert.equal((s.nextEvent() as ClosedEvent).reason, "quit");
});

// ------------------------------------------------------------------ auth.ts on the core's writers

/** auth.ts's SaslIo on a Session: every line goes through saslCommand() and Session.send(). */
function saslOnSession(s: Session, server: string[], wire: string[]): SaslIo {
  return {
    send: (line: string) => {
      wire.push(text(s.send(saslCommand(line))));
      s.receive(b(server.shift() ?? ""));
      return Promise.resolve();
    },
    read: () => {
      let ev = s.nextEvent();
      if (ev.type === "reply" && ev.initialResponseHeld) {
        // As a driver does: the core held a too-long initial response; it goes after this 334.
        wire.push(text(s.send({ type: "AUTH-RESPONSE" })));
        s.receive(b(server.shift() ?? ""));
        ev = s.nextEvent();
      }
      if (ev.type !== "reply") return Promise.reject(new Error(`expected a reply, got ${ev.type}`));
      return Promise.resolve(ev.reply);
    },
    replyError: (reply, message) => new ReplyError(`${message}: ${reply.code}`, reply, "auth"),
  };
}

test("saslCommand() maps auth.ts's lines onto the core's AUTH commands", () => {
  assert.deepEqual(saslCommand("AUTH PLAIN AHUAcA=="), { type: "AUTH", mechanism: "PLAIN", initialResponse: "AHUAcA==" });
  assert.deepEqual(saslCommand("AUTH PLAIN ="), { type: "AUTH", mechanism: "PLAIN", initialResponse: "" });
  assert.deepEqual(saslCommand("AUTH LOGIN"), { type: "AUTH", mechanism: "LOGIN" });
  assert.deepEqual(saslCommand("*"), { type: "AUTH-CANCEL" });
  assert.deepEqual(saslCommand("dXNlcg=="), { type: "AUTH-RESPONSE", response: "dXNlcg==" });
  assert.deepEqual(saslCommand(""), { type: "AUTH-RESPONSE", response: "" });
});

test("auth.ts's authenticate() runs PLAIN and LOGIN through the core's writers, byte for byte, secrets redacted", async () => {
  const trace: SessionTrace[] = [];
  const s = ready(["AUTH PLAIN LOGIN"], { trace: (t) => trace.push(t) });
  const wire: string[] = [];
  const mech = await authenticate(saslOnSession(s, ["235 2.7.0 ok\r\n"], wire), ["PLAIN"], { user: "user", pass: "password" }, {
    host: "mx.example",
    port: 587,
  });
  assert.equal(mech, "PLAIN");
  assert.deepEqual(wire, ["AUTH PLAIN AHVzZXIAcGFzc3dvcmQ=\r\n"]);
  assert.equal(s.authenticated, true);
  assert.equal(trace.at(-2)?.line, "AUTH PLAIN <redacted>");

  const t = ready(["AUTH LOGIN"]);
  const wire2: string[] = [];
  await authenticate(
    saslOnSession(t, ["334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n", "235 ok\r\n"], wire2),
    ["LOGIN"],
    { user: "user", pass: "password" },
    { host: "mx.example", port: 587 },
  );
  assert.deepEqual(wire2, ["AUTH LOGIN\r\n", "dXNlcg==\r\n", "cGFzc3dvcmQ=\r\n"]);
  assert.equal(t.authenticated, true);
});

test("auth.ts's long initial response goes after the 334 on the core, and a refused one falls back", async () => {
  const s = ready(["AUTH XOAUTH2"]);
  const wire: string[] = [];
  const token = "t".repeat(600);
  await authenticate(saslOnSession(s, ["334 \r\n", "235 ok\r\n"], wire), ["XOAUTH2"], { user: "u@example.org", token }, {
    host: "mx.example",
    port: 587,
  });
  assert.equal(wire[0], "AUTH XOAUTH2\r\n");
  assert.equal(wire.length, 2);
  assert.ok(wire[1]!.length > 600 && wire[1]!.endsWith("\r\n"));
  assert.equal(s.redact(wire[1]!.slice(0, -2)), "<redacted>");

  // CRAM-MD5 refused with 535 → auth.ts falls back to PLAIN; the core allows the second AUTH.
  const t = ready(["AUTH CRAM-MD5 PLAIN"]);
  const wire2: string[] = [];
  await authenticate(
    saslOnSession(t, ["334 PDEyMzQ1QGV4YW1wbGU+\r\n", "535 5.7.8 no\r\n", "235 ok\r\n"], wire2),
    ["CRAM-MD5", "PLAIN"],
    { user: "user", pass: "password" },
    { host: "mx.example", port: 587 },
  );
  assert.equal(wire2.length, 3);
  assert.equal(wire2[0], "AUTH CRAM-MD5\r\n");
  assert.match(wire2[1]!, /^[A-Za-z0-9+/]+=*\r\n$/); // the CRAM-MD5 response, base64
  assert.equal(wire2[2], "AUTH PLAIN AHVzZXIAcGFzc3dvcmQ=\r\n");
  assert.equal(t.authenticated, true);
});

test("Session with pipelineBdat sends MAIL, RCPT and BDAT LAST in one group, and a refused envelope fails the chunk", () => {
  const s = ready(["PIPELINING", "CHUNKING"], { pipelineBdat: true });
  const wire = sent(s, [MAIL(), RCPT("b@example.net"), { type: "BDAT", chunk: b("hi\n"), last: true }]);
  assert.equal(wire, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nBDAT 4 LAST\r\nhi\r\n");
  const evs = replies(s, "250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n");
  assert.deepEqual(evs.map(short), ["MAIL 250 accepted mail", "RCPT 250 accepted rcpt", "BDAT-LAST 250 accepted ready"]);
  assert.equal(evs[2]!.octets, 4);
  assert.equal(s.needsReset, false);

  // Every RCPT refused: the BDAT LAST is refused too, the transaction failed, RSET comes next.
  sent(s, [MAIL(), RCPT("x@example.net"), { type: "BDAT", chunk: b("hi\r\n"), last: true }]);
  assert.deepEqual(replies(s, "250 ok\r\n550 no\r\n554 5.5.1 no valid recipients\r\n").map(short), [
    "MAIL 250 accepted mail", "RCPT 550 rejected mail", "BDAT-LAST 554 rejected mail",
  ]);
  assert.equal(s.needsReset, true);
  assert.equal(s.canSend("MAIL"), false);

  // A 250 to that BDAT LAST would claim a delivery to nobody: a protocol error.
  const t = ready(["PIPELINING", "CHUNKING"], { pipelineBdat: true });
  sent(t, [MAIL(), RCPT("x@example.net"), { type: "BDAT", chunk: b("hi\r\n"), last: true }]);
  t.receive(b("250 ok\r\n550 no\r\n250 queued\r\n"));
  const last = drain(t).at(-1) as ProtocolErrorEvent;
  assert.match(last.error.message, /accepts BDAT-LAST although it is out of sequence in state "mail"/);
});
