// Property tests for the protocol core with a seeded PRNG: the seed is in each
// test name; rerun one with FUZZ_SEED=<n>.
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { ProtocolError, SmtpError } from "../src/errors.ts";
import { BdatEncoder } from "../src/protocol/bdat.ts";
import * as cmd from "../src/protocol/commands.ts";
import { DataEncoder, scanMessage } from "../src/protocol/data.ts";
import { parseReplies, ReplyParser } from "../src/protocol/reply.ts";
import { type Command, Session } from "../src/protocol/session.ts";
import { afterSuccess, type SessionStateName } from "../src/protocol/state.ts";
import type { Reply } from "../src/protocol/types.ts";
import { xtextDecode, xtextEncode } from "../src/protocol/xtext.ts";

const SEED = Number(process.env.FUZZ_SEED) || 0x5eed2024;

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): { int(n: number): number; pick<T>(xs: readonly T[]): T } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { int: (n) => Math.floor(next() * n), pick: (xs) => xs[Math.floor(next() * xs.length)]! };
}
type Rng = ReturnType<typeof prng>;

const latin1 = (b: Uint8Array): string => {
  let s = "";
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
};
const fromLatin1 = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** Cuts `bytes` into random pieces (empty ones included). */
function chunks(rng: Rng, bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < bytes.length) {
    const n = rng.int(4) === 0 ? rng.int(3) : 1 + rng.int(40);
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

/** Text made mostly of the octets that matter to line handling. */
function messageText(rng: Rng, length: number): string {
  const alphabet = ["\r", "\n", ".", ".", "a", "b", " ", "\r\n", "\0", "\xe9", "\r\n.\r\n", "\n.\n", "\r.\r"];
  let s = "";
  while (s.length < length) s += rng.pick(alphabet);
  return s;
}

test(`ReplyParser throws only ProtocolError on random bytes in random chunks (seed ${SEED})`, () => {
  const rng = prng(SEED);
  const pieces = ["250", "-", " ", "\r", "\n", "\r\n", "2", "5", "0", "x", "\0", "5.1.1", "\xff", "421 ", "250-"];
  for (let round = 0; round < 400; round++) {
    let text = "";
    while (text.length < 200) text += rng.pick(pieces);
    const bytes = fromLatin1(text);
    const p = new ReplyParser();
    let received = 0;
    try {
      for (const c of chunks(rng, bytes)) {
        p.receiveData(c);
        received += c.length;
        while (p.nextEvent());
        assert.ok(p.bufferedBytes >= 0 && p.bufferedBytes <= received);
      }
      p.receiveEof();
      while (p.nextEvent());
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
    }
  }
});

test(`ReplyParser gives the same replies for any chunking of a valid transcript (seed ${SEED})`, () => {
  const rng = prng(SEED + 1);
  for (let round = 0; round < 200; round++) {
    let text = "";
    const want: Reply[] = [];
    for (let n = 1 + rng.int(5); n > 0; n--) {
      const code = (2 + rng.int(4)) * 100 + rng.int(6) * 10 + rng.int(10);
      const lines: string[] = [];
      for (let l = rng.int(4); l >= 0; l--) lines.push(rng.pick(["", "ok", "2.0.0 fine", "x y  z", "SIZE 100"]));
      lines.forEach((line, i) => {
        text += `${code}${i < lines.length - 1 ? "-" : line === "" && rng.int(2) ? "" : " "}${line}${rng.pick(["\r\n", "\n"])}`;
      });
      const enhanced = /^([245])\.\d\.\d(?= |$)/.test(lines[0]!) && lines[0]![0] === String(code)[0] ? "2.0.0" : null;
      want.push({ type: "reply", code, enhanced, lines });
    }
    assert.deepEqual(parseReplies(text), want);
    const p = new ReplyParser();
    const got: Reply[] = [];
    for (const c of chunks(rng, new TextEncoder().encode(text))) {
      p.receiveData(c);
      for (let r = p.nextEvent(); r; r = p.nextEvent()) got.push(r);
    }
    assert.deepEqual(got, want);
    assert.equal(p.bufferedBytes, 0);
  }
});

/** Reference normalisation, written differently from the encoder: a regex on the whole text. */
function normalised(text: string): string {
  const s = text.replace(/\r\n|\r|\n/g, "\r\n");
  return s === "" || s.endsWith("\r\n") ? s : s + "\r\n";
}

test(`DataEncoder output has exactly one lone-dot line, the last, for any input and chunking (seed ${SEED})`, () => {
  const rng = prng(SEED + 2);
  for (let round = 0; round < 600; round++) {
    const input = messageText(rng, rng.int(300));
    const bytes = fromLatin1(input);
    const e = new DataEncoder();
    const outs = chunks(rng, bytes).map((c) => latin1(e.push(c)));
    const out = outs.join("") + latin1(e.end());

    // Only CRLF line endings.
    assert.doesNotMatch(out, /\r(?!\n)|(?<!\r)\n/, JSON.stringify(input));
    const lines = out.split("\r\n");
    assert.equal(lines.pop(), "");
    assert.equal(lines.filter((l) => l === ".").length, 1, JSON.stringify(input));
    assert.equal(lines[lines.length - 1], ".");
    // Undoing the stuffing gives back the normalised input.
    const body = lines.slice(0, -1).map((l) => (l.startsWith(".") ? l.slice(1) : l));
    assert.equal(body.map((l) => l + "\r\n").join(""), normalised(input), JSON.stringify(input));
    assert.equal(e.size, normalised(input).length);
    assert.equal(scanMessage(bytes).size, e.size);
    // And the chunking does not matter.
    const whole = new DataEncoder();
    assert.equal(latin1(whole.push(bytes)) + latin1(whole.end()), out);
  }
});

test(`scanMessage() agrees with a byte-by-byte reference on random octets at random offsets (seed ${SEED})`, () => {
  const rng = prng(SEED + 8);
  const specials = [0x00, 0x0a, 0x0d, 0x2e, 0x7f, 0x80, 0xff];
  for (let round = 0; round < 400; round++) {
    const buffer = new Uint8Array(8 + rng.int(200));
    for (let i = 0; i < buffer.length; i++) {
      buffer[i] = rng.int(3) === 0 ? rng.pick(specials) : rng.int(4) === 0 ? rng.int(256) : 0x61;
    }
    const bytes = buffer.subarray(rng.int(4), buffer.length - rng.int(4));
    const text = latin1(bytes);
    const norm = normalised(text);
    const lines = norm.split("\r\n").slice(0, -1);
    const blank = lines.indexOf("");
    const header = (blank === -1 ? lines : lines.slice(0, blank)).join("\n");
    const scan = scanMessage(bytes);
    assert.equal(scan.size, norm.length);
    assert.equal(scan.eightBit, /[\x80-\xff]/.test(text));
    assert.equal(scan.hasNul, text.includes("\0"));
    assert.equal(scan.maxLineLength, Math.max(0, ...lines.map((l) => l.length)));
    assert.equal(scan.headerEightBit, /[\x80-\xff]/.test(header), JSON.stringify(text));
  }
});

test(`BdatEncoder output is the normalised input for any chunking (seed ${SEED})`, () => {
  const rng = prng(SEED + 3);
  for (let round = 0; round < 600; round++) {
    const input = messageText(rng, rng.int(300));
    const e = new BdatEncoder();
    const out = chunks(rng, fromLatin1(input)).map((c) => latin1(e.push(c))).join("") + latin1(e.end());
    assert.equal(out, normalised(input), JSON.stringify(input));
    assert.equal(e.size, out.length);
  }
});

test(`DataEncoder handles a 1 MiB message in 64 KiB chunks quickly (seed ${SEED})`, () => {
  const rng = prng(SEED + 4);
  const line = "x".repeat(70);
  let text = "";
  while (text.length < 1 << 20) text += rng.int(50) === 0 ? ".dot\n" : line + (rng.int(20) === 0 ? "\n" : "\r\n");
  const bytes = fromLatin1(text);
  const e = new DataEncoder();
  let size = 0;
  for (let i = 0; i < bytes.length; i += 65536) size += e.push(bytes.subarray(i, i + 65536)).length;
  size += e.end().length;
  const dots = text.split(".dot\n").length - 1;
  const bareLf = (text.match(/(?<!\r)\n/g) ?? []).length;
  assert.equal(size, bytes.length + bareLf + dots + 3);
});

test(`command writers never emit a CR or LF except the final CRLF (seed ${SEED})`, () => {
  const rng = prng(SEED + 5);
  const alphabet = ["a", "@", ".", " ", "\r", "\n", "\0", "<", ">", "\"", "=", "+", "é", "\t", "A", "1"];
  const str = (n: number) => {
    let s = "";
    for (let i = rng.int(n); i > 0; i--) s += rng.pick(alphabet);
    return s;
  };
  const writers: ((s: string) => Uint8Array)[] = [
    (s) => cmd.ehlo(s),
    (s) => cmd.helo(s),
    (s) => cmd.mailFrom(s),
    (s) => cmd.rcptTo(s),
    (s) => cmd.vrfy(s),
    (s) => cmd.auth(s),
    (s) => cmd.auth("PLAIN", s),
    (s) => cmd.authResponse(s),
    (s) => cmd.mailFrom("a@b", { [s]: "1" }),
    (s) => cmd.rcptTo("a@b", [["X-P", s]]),
  ];
  let produced = 0;
  for (let round = 0; round < 3000; round++) {
    const arg = str(12);
    const write = rng.pick(writers);
    let out: Uint8Array;
    try {
      out = write(arg);
    } catch (e) {
      assert.ok(e instanceof TypeError || e instanceof RangeError, String(e));
      continue;
    }
    produced++;
    const text = latin1(out);
    assert.ok(text.endsWith("\r\n"), JSON.stringify(arg));
    assert.doesNotMatch(text.slice(0, -2), /[\r\n\0]/, JSON.stringify(arg));
  }
  assert.ok(produced > 100, `only ${produced} commands were valid`); // the property is not vacuous
});

test(`xtextDecode(xtextEncode(s)) is s for random text (seed ${SEED})`, () => {
  const rng = prng(SEED + 6);
  for (let round = 0; round < 500; round++) {
    let s = "";
    for (let i = rng.int(20); i > 0; i--) s += String.fromCodePoint(rng.pick([rng.int(128), rng.int(0xd7ff), 0x1f600 + rng.int(50)]));
    const x = xtextEncode(s);
    assert.match(x, /^[!-~]*$/);
    assert.equal(xtextDecode(x), s);
  }
});

test(`Session throws only TypeError from send() and never throws from nextEvent() (seed ${SEED})`, () => {
  const rng = prng(SEED + 7);
  const enc = new TextEncoder();
  const commands: Command[] = [
    { type: "EHLO", name: "x.example" }, { type: "HELO", name: "x.example" }, { type: "STARTTLS" },
    { type: "AUTH", mechanism: "PLAIN", initialResponse: "AHUAcA==" }, { type: "AUTH-RESPONSE", response: "eA==" },
    { type: "AUTH-CANCEL" }, { type: "MAIL", from: "a@example.org" }, { type: "RCPT", to: "b@example.net" },
    { type: "DATA" }, { type: "CONTENT", chunk: enc.encode("x\r\n") }, { type: "END-OF-DATA" },
    { type: "BDAT", chunk: enc.encode("y\r\n"), last: false }, { type: "BDAT", chunk: enc.encode("z"), last: true },
    { type: "RSET" }, { type: "NOOP" }, { type: "VRFY", query: "u" }, { type: "VERB" }, { type: "QUIT" },
  ];
  const codes = [220, 221, 235, 250, 251, 334, 354, 421, 450, 451, 454, 501, 503, 535, 550, 552, 554];
  const ehlo = ["250-mx\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 STARTTLS\r\n", "250 mx\r\n"];
  const PLAUSIBLE: Partial<Record<string, number>> = {
    GREETING: 220, STARTTLS: 220, AUTH: 334, "AUTH-RESPONSE": 235, "AUTH-CANCEL": 501, DATA: 354, QUIT: 221,
  };
  let produced = 0, events = 0;
  for (let round = 0; round < 300; round++) {
    const s = new Session();
    for (let step = 0; step < 40 && s.state !== "closed" && s.state !== "error"; step++) {
      const choice = rng.int(3);
      if (choice === 0) {
        const legal = commands.filter((x) => x.type !== "QUIT" && s.canSend(x.type)); // QUIT ends a round early
        const c = legal.length > 0 && rng.int(3) > 0 ? rng.pick(legal) : rng.pick(commands);
        if (s.canSend(c.type)) {
          try {
            s.send(c);
            produced++;
          } catch (e) {
            // The only legal-type refusal left is a BDAT whose LAST flag the state does not allow.
            if (!(e instanceof TypeError)) throw e;
          }
        } else {
          assert.throws(() => s.send(c), (e: unknown) => e instanceof TypeError || e instanceof SmtpError);
        }
      } else if (choice === 1) {
        const before = s.pending.length;
        if (before === 0 && rng.int(10) > 0) continue; // a stray reply now and then, not every time
        const next = s.pending[0]?.command;
        // Mostly a plausible reply for the oldest pending command, sometimes any code.
        const plausible = next === "EHLO" ? rng.pick(ehlo) : `${next === undefined ? 250 : PLAUSIBLE[next] ?? 250} t\r\n`;
        const text = rng.int(4) > 0 ? plausible : `${rng.pick(codes)} t\r\n`;
        const cut = rng.int(text.length + 1);
        s.receive(enc.encode(text.slice(0, cut)));
        s.receive(enc.encode(text.slice(cut)));
        const ev = s.nextEvent();
        events++;
        if (ev.type === "reply") {
          assert.equal(ev.state, s.state);
          assert.equal(s.pending.length, before - 1);
          // The expected state is always the pending commands replayed, as if each succeeds, from the confirmed one.
          assert.equal(s.expectedState, s.pending.reduce<SessionStateName>((st, p) => afterSuccess(st, p.command), s.state));
        } else {
          assert.ok(ev.type === "closed" || ev.type === "protocol-error", ev.type);
        }
      } else if (s.state === "tls") {
        s.tlsEstablished();
      }
    }
  }
  assert.ok(produced > 500, `only ${produced} commands were valid`); // the property is not vacuous
  assert.ok(events > 500, `only ${events} events`);
});
