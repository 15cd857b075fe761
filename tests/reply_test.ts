import { test } from "node:test";
import assert from "node:assert/strict";
import { ProtocolError } from "../src/errors.ts";
import {
  MAX_REPLY_LINE,
  MAX_REPLY_LINES,
  MAX_REPLY_SIZE,
  parseReplies,
  ReplyParser,
  replyText,
} from "../src/protocol/reply.ts";
import type { Reply } from "../src/protocol/types.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const reply = (code: number, lines: string[], enhanced: string | null = null): Reply => ({
  type: "reply",
  code,
  enhanced,
  lines,
});
const drain = (p: ReplyParser): Reply[] => {
  const out: Reply[] = [];
  for (let r = p.nextEvent(); r; r = p.nextEvent()) out.push(r);
  return out;
};
const rejects = (text: string, pattern: RegExp) =>
  assert.throws(() => parseReplies(text), (e: unknown) => e instanceof ProtocolError && pattern.test(e.message));

test("parseReplies() reads a single-line 220 greeting", () => {
  assert.deepEqual(parseReplies("220 mx.example.org ESMTP ready\r\n"), [reply(220, ["mx.example.org ESMTP ready"])]);
});

test("parseReplies() joins a multi-line 250 reply", () => {
  assert.deepEqual(parseReplies("250-mx.example.org\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"), [
    reply(250, ["mx.example.org", "PIPELINING", "SIZE 1000"]),
  ]);
});

test("parseReplies() accepts a last line with no text (250 then CRLF)", () => {
  assert.deepEqual(parseReplies("250-first\r\n250\r\n"), [reply(250, ["first", ""])]);
  assert.deepEqual(parseReplies("354\r\n"), [reply(354, [""])]);
});

test("parseReplies() keeps text after the separator verbatim, spaces included", () => {
  assert.deepEqual(parseReplies("250  two spaces \r\n"), [reply(250, [" two spaces "])]);
});

test("parseReplies() tolerates bare LF line endings", () => {
  assert.deepEqual(parseReplies("250-a\n250 b\n220 c\r\n"), [reply(250, ["a", "b"]), reply(220, ["c"])]);
});

test("parseReplies() decodes UTF-8 text and replaces invalid octets", () => {
  assert.deepEqual(parseReplies("250 Grüße\r\n"), [reply(250, ["Grüße"])]);
  const p = new ReplyParser();
  p.receiveData(Uint8Array.of(0x32, 0x35, 0x30, 0x20, 0xff, 0x0d, 0x0a));
  assert.deepEqual(p.nextEvent(), reply(250, ["\ufffd"]));
});

test("parseReplies() extracts the enhanced status code of the first line", () => {
  assert.deepEqual(parseReplies("550-5.1.1 No such user\r\n550 5.1.1 Bye\r\n"), [
    reply(550, ["5.1.1 No such user", "5.1.1 Bye"], "5.1.1"),
  ]);
  assert.equal(parseReplies("250 2.0.0\r\n")[0]!.enhanced, "2.0.0");
  assert.equal(parseReplies("451 4.7.650 Try later\r\n")[0]!.enhanced, "4.7.650");
});

test("parseReplies() ignores an enhanced code whose class differs from the reply's", () => {
  assert.equal(parseReplies("250 5.1.1 odd\r\n")[0]!.enhanced, null);
  assert.equal(parseReplies("354 3.0.0 go ahead\r\n")[0]!.enhanced, null);
});

test("parseReplies() ignores text that only looks like an enhanced code", () => {
  for (const text of ["2.0.0.1 x", "2.0 x", "2.1234.0 x", "2.0.0x", "v2.0.0 x"]) {
    assert.equal(parseReplies(`250 ${text}\r\n`)[0]!.enhanced, null, text);
  }
});

test("parseReplies() refuses codes outside 200–559 and malformed codes", () => {
  for (const line of ["099 x", "100 x", "199 x", "600 x", "260 x", "25 x", "25x x", "2a0 x", "x250", "", "   "]) {
    rejects(`${line}\r\n`, /reply code from 200 to 559/);
  }
});

test("parseReplies() explains that 1yz replies are not SMTP", () => {
  rejects("150 wait\r\n", /1yz replies are not used/);
});

test("parseReplies() refuses a fourth digit or another separator", () => {
  rejects("2500 x\r\n", /followed by a space, "-" or the line end/);
  rejects("250_x\r\n", /followed by a space/);
  rejects("250\tx\r\n", /followed by a space/);
});

test("parseReplies() refuses a continuation line with a different code", () => {
  rejects("250-a\r\n251 b\r\n", /code 251 inside a 250 reply/);
});

test("parseReplies() refuses a bare CR and NUL inside a line", () => {
  rejects("250 a\rb\r\n", /bare CR/);
  rejects("250 a\r\r\n", /bare CR/);
  rejects("250 a\0b\r\n", /NUL/);
});

test("parseReplies() reports a reply cut off by the end of the stream", () => {
  rejects("250-a\r\n", /middle of a multi-line 250 reply/);
  rejects("250 partial", /middle of a reply line/);
});

test("ReplyParser reassembles replies from one-octet chunks", () => {
  const text = "220 hi\r\n250-a\r\n250-b\n250 c\r\n";
  const p = new ReplyParser();
  const got: Reply[] = [];
  for (const b of enc(text)) {
    p.receiveData(Uint8Array.of(b));
    got.push(...drain(p));
  }
  assert.deepEqual(got, [reply(220, ["hi"]), reply(250, ["a", "b", "c"])]);
  assert.equal(p.bufferedBytes, 0);
});

test("ReplyParser handles a CRLF split across chunks", () => {
  const p = new ReplyParser();
  p.receiveData(enc("250 ok\r"));
  assert.equal(p.nextEvent(), null);
  p.receiveData(enc("\n"));
  assert.deepEqual(p.nextEvent(), reply(250, ["ok"]));
});

test("ReplyParser returns replies one at a time, in order, from one chunk", () => {
  const p = new ReplyParser();
  p.receiveData(enc("250 a\r\n251 b\r\n252 c\r\n"));
  assert.deepEqual(drain(p).map((r) => r.code), [250, 251, 252]);
  assert.equal(p.nextEvent(), null);
});

test("ReplyParser.bufferedBytes counts every received octet not yet returned", () => {
  const p = new ReplyParser();
  assert.equal(p.bufferedBytes, 0);
  p.receiveData(enc("220 go ahead\r\n250-x"));
  assert.equal(p.bufferedBytes, 19);
  assert.equal(p.nextEvent()!.code, 220);
  assert.equal(p.bufferedBytes, 5); // "250-x": injected before the TLS handshake
  p.receiveData(enc("\r\n250 y\r\n"));
  assert.equal(p.bufferedBytes, 14);
  assert.deepEqual(p.nextEvent(), reply(250, ["x", "y"]));
  assert.equal(p.bufferedBytes, 0);
});

test("ReplyParser still returns replies completed before a protocol error, then keeps throwing", () => {
  const p = new ReplyParser();
  p.receiveData(enc("221 bye\r\nGARBAGE\r\n250 never\r\n"));
  assert.deepEqual(p.nextEvent(), reply(221, ["bye"]));
  assert.throws(() => p.nextEvent(), ProtocolError);
  assert.throws(() => p.nextEvent(), ProtocolError);
  p.receiveData(enc("250 more\r\n")); // ignored after the error
  assert.throws(() => p.nextEvent(), ProtocolError);
});

test("ReplyParser refuses data after receiveEof()", () => {
  const p = new ReplyParser();
  p.receiveEof();
  assert.equal(p.nextEvent(), null);
  assert.throws(() => p.receiveData(enc("250 x\r\n")), TypeError);
});

test("ReplyParser accepts a line of exactly MAX_REPLY_LINE octets", () => {
  const line = "250 " + "a".repeat(MAX_REPLY_LINE - 4);
  assert.equal(parseReplies(line + "\r\n")[0]!.lines[0]!.length, MAX_REPLY_LINE - 4);
  // Also when it arrives in pieces, with its CR in one chunk and its LF in the next.
  const p = new ReplyParser();
  p.receiveData(enc(line + "\r"));
  p.receiveData(enc("\n"));
  assert.equal(p.nextEvent()!.code, 250);
});

test("ReplyParser refuses a line one octet over MAX_REPLY_LINE", () => {
  rejects("250 " + "a".repeat(MAX_REPLY_LINE - 3) + "\r\n", /exceeds 4096 octets/);
});

test("ReplyParser errors on an endless line without buffering it", () => {
  const p = new ReplyParser();
  const chunk = enc("250 " + "x".repeat(65532));
  let fed = 0;
  // 10 MB without a line feed: the error must come after the first 64 KiB chunk.
  for (let i = 0; i < 160; i++) {
    p.receiveData(chunk);
    fed += chunk.length;
    try {
      p.nextEvent();
    } catch (e) {
      assert.ok(e instanceof ProtocolError);
      assert.match(e.message, /exceeds 4096 octets without a line ending/);
      break;
    }
  }
  assert.equal(fed, chunk.length);
});

test("ReplyParser errors on a long line fed one small chunk at a time, at the cap", () => {
  const p = new ReplyParser();
  p.receiveData(enc("250 "));
  let fed = 4;
  const piece = enc("y".repeat(100));
  for (;;) {
    p.receiveData(piece);
    fed += piece.length;
    assert.ok(fed < 100_000, "no error after 100000 octets");
    try {
      assert.equal(p.nextEvent(), null);
    } catch (e) {
      assert.ok(e instanceof ProtocolError);
      break;
    }
  }
  // The first chunk that takes the line past the cap (+1 for a CR awaiting its LF) fails.
  assert.ok(fed > MAX_REPLY_LINE + 1 && fed <= MAX_REPLY_LINE + 1 + piece.length, `failed after ${fed} octets`);
});

test("ReplyParser refuses a reply with more than MAX_REPLY_LINES lines", () => {
  const ok = "250-x\r\n".repeat(MAX_REPLY_LINES - 1) + "250 end\r\n";
  assert.equal(parseReplies(ok)[0]!.lines.length, MAX_REPLY_LINES);
  rejects("250-x\r\n".repeat(MAX_REPLY_LINES) + "250 end\r\n", /more than 1000 lines/);
});

test("ReplyParser refuses a reply larger than MAX_REPLY_SIZE", () => {
  const line = "250-" + "z".repeat(996) + "\r\n"; // 1002 octets
  const lines = Math.ceil(MAX_REPLY_SIZE / line.length);
  rejects(line.repeat(lines) + "250 end\r\n", /Reply exceeds 65536 octets/);
});

test("ReplyParser refuses an endless multi-line reply as it streams in", () => {
  const p = new ReplyParser();
  const chunk = enc("250-keep going\r\n".repeat(64));
  let threw = false;
  for (let i = 0; i < 200 && !threw; i++) {
    p.receiveData(chunk);
    try {
      p.nextEvent();
    } catch (e) {
      assert.ok(e instanceof ProtocolError);
      threw = true;
    }
  }
  assert.ok(threw);
});

test("replyText() strips the enhanced code from each line and joins with a space", () => {
  const r = reply(550, ["5.1.1 No such user", "5.1.1 Please check", "plain"], "5.1.1");
  assert.equal(replyText(r), "No such user Please check plain");
  assert.equal(replyText(r, "\n"), "No such user\nPlease check\nplain");
});

test("replyText() keeps text when there is no enhanced code or it is not a prefix token", () => {
  assert.equal(replyText(reply(250, ["2.0.0 ok"])), "2.0.0 ok");
  assert.equal(replyText(reply(250, ["2.0.00 odd", "2.0.0"], "2.0.0")), "2.0.00 odd ");
});
