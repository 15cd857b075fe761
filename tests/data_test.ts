import { test } from "node:test";
import assert from "node:assert/strict";
import { DataEncoder, scanMessage } from "../src/protocol/data.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const latin1 = (b: Uint8Array) => String.fromCharCode(...b);

/** Encodes `chunks` with one DataEncoder and returns the whole output as a string. */
function data(chunks: string[], options?: ConstructorParameters<typeof DataEncoder>[0]): string {
  const e = new DataEncoder(options);
  return chunks.map((c) => latin1(e.push(enc(c)))).join("") + latin1(e.end());
}

test("DataEncoder passes CRLF text through and adds the terminator", () => {
  assert.equal(data(["Subject: hi\r\n\r\nbody\r\n"]), "Subject: hi\r\n\r\nbody\r\n.\r\n");
});

test("DataEncoder adds the missing final CRLF before the terminator", () => {
  assert.equal(data(["body"]), "body\r\n.\r\n");
});

test("DataEncoder sends only the terminator for an empty message", () => {
  assert.equal(data([]), ".\r\n");
  assert.equal(data([""]), ".\r\n");
});

test("DataEncoder turns bare LF and bare CR into CRLF", () => {
  assert.equal(data(["a\nb\rc\r\nd"]), "a\r\nb\r\nc\r\nd\r\n.\r\n");
  assert.equal(data(["\n\n"]), "\r\n\r\n.\r\n");
  assert.equal(data(["\r\r\n"]), "\r\n\r\n.\r\n");
  assert.equal(data(["\n\r"]), "\r\n\r\n.\r\n");
});

test("DataEncoder gives one CRLF for a CR and LF split across chunks", () => {
  assert.equal(data(["a\r", "\nb"]), "a\r\nb\r\n.\r\n");
  assert.equal(data(["a\r", "", "\nb"]), "a\r\nb\r\n.\r\n"); // an empty chunk carries nothing
  assert.equal(data(["a\r", "\r", "\n"]), "a\r\n\r\n.\r\n");
});

test("DataEncoder keeps a CR at a chunk end from swallowing a later LF", () => {
  // The LF that follows the CR is consumed only if it comes first in the next chunk.
  assert.equal(data(["a\r", "b\n"]), "a\r\nb\r\n.\r\n");
});

test("DataEncoder doubles a dot at the start of every line", () => {
  assert.equal(data([".start\r\nmid.dle\r\n..two\r\n.\r\n"]), "..start\r\nmid.dle\r\n...two\r\n..\r\n.\r\n");
});

test("DataEncoder stuffs a dot that starts the next chunk", () => {
  assert.equal(data(["line\r\n", ".next"]), "line\r\n..next\r\n.\r\n");
  assert.equal(data(["line\r", "\n", "."]), "line\r\n..\r\n.\r\n");
  assert.equal(data(["line\r", ".x"]), "line\r\n..x\r\n.\r\n");
  assert.equal(data(["line\n", "."]), "line\r\n..\r\n.\r\n");
  assert.equal(data(["x", ".y"]), "x.y\r\n.\r\n");
});

test("DataEncoder neutralises every SMTP smuggling end-of-data variant", () => {
  // CVE-2023-51764/51765/51766: each must arrive as a stuffed dot, never as a lone dot.
  const vectors: [string, string][] = [
    ["a\n.\nb", "a\r\n..\r\nb\r\n.\r\n"],
    ["a\r.\rb", "a\r\n..\r\nb\r\n.\r\n"],
    ["a\n.\r\nb", "a\r\n..\r\nb\r\n.\r\n"],
    ["a\r\n.\nb", "a\r\n..\r\nb\r\n.\r\n"],
    ["a\r.\r\nb", "a\r\n..\r\nb\r\n.\r\n"],
    ["a\r\n.\rb", "a\r\n..\r\nb\r\n.\r\n"],
    ["a\r\n.\r\nb", "a\r\n..\r\nb\r\n.\r\n"],
    [".\r\nMAIL FROM:<x@y>\r\n", "..\r\nMAIL FROM:<x@y>\r\n.\r\n"],
    ["a\r\n.", "a\r\n..\r\n.\r\n"],
  ];
  for (const [input, want] of vectors) {
    assert.equal(data([input]), want, JSON.stringify(input));
    assert.equal(data(input.split("")), want, `one octet at a time: ${JSON.stringify(input)}`);
  }
});

test("DataEncoder returns the input itself when nothing changes, one new array otherwise", () => {
  const e = new DataEncoder();
  const clean = enc("Subject: x\r\n\r\nbody\r\n");
  assert.equal(e.push(clean), clean);
  const bare = enc("a\nb");
  const out = e.push(bare);
  assert.notEqual(out.buffer, bare.buffer);
  assert.equal(latin1(out), "a\r\nb");
  // After a trailing CR, the LF in the next chunk is skipped by a view, not a copy.
  const e2 = new DataEncoder();
  e2.push(enc("a\r"));
  const next = enc("\nb\r\n");
  const view = e2.push(next);
  assert.equal(view.buffer, next.buffer);
  assert.equal(latin1(view), "b\r\n");
});

test("DataEncoder passes 8-bit and NUL octets through and reports them", () => {
  const e = new DataEncoder();
  assert.deepEqual([...e.push(Uint8Array.of(0xc3, 0xa9, 0x00, 0x0a))], [0xc3, 0xa9, 0x00, 0x0d, 0x0a]);
  assert.equal(e.eightBit, true);
  assert.equal(e.hasNul, true);
  const plain = new DataEncoder();
  plain.push(enc("ascii\r\n"));
  assert.equal(plain.eightBit, false);
  assert.equal(plain.hasNul, false);
});

test("DataEncoder reports size without stuffing dots and terminator", () => {
  const e = new DataEncoder();
  e.push(enc(".a\nb"));
  e.end();
  assert.equal(e.size, ".a\r\nb\r\n".length);
});

test("DataEncoder accepts a 998-octet line and throws RangeError on 999 before returning the chunk", () => {
  assert.equal(data(["x".repeat(998)]).length, 998 + 5);
  const e = new DataEncoder();
  assert.throws(() => e.push(enc("ok\r\n" + "x".repeat(999) + "\r\n")), (err: unknown) => {
    assert.ok(err instanceof RangeError);
    assert.match(err.message, /exceeds 998 octets/);
    return true;
  });
  assert.throws(() => e.push(enc("more")), TypeError);
  assert.throws(() => e.end(), TypeError);
});

test("DataEncoder detects a long line that spans chunks", () => {
  const e = new DataEncoder();
  e.push(enc("y".repeat(500)));
  assert.throws(() => e.push(enc("y".repeat(499))), RangeError);
});

test("DataEncoder with onLongLine \"allow\" sends long lines and counts them", () => {
  const e = new DataEncoder({ onLongLine: "allow" });
  const out = [e.push(enc("a".repeat(1200) + "\n" + "b".repeat(10) + "\n" + "c".repeat(999))), e.end()];
  assert.equal(out.reduce((n, o) => n + o.length, 0), 1200 + 2 + 10 + 2 + 999 + 2 + 3);
  assert.equal(e.longLines, 2);
  assert.equal(e.maxLineLength, 1200);
});

test("DataEncoder refuses an unknown long-line policy", () => {
  assert.throws(() => new DataEncoder({ onLongLine: "skip" as "allow" }), TypeError);
});

test("DataEncoder.end() may be called only once", () => {
  const e = new DataEncoder();
  e.end();
  assert.throws(() => e.end(), TypeError);
  assert.throws(() => e.push(enc("x")), TypeError);
});

test("scanMessage() measures size, longest line and 8-bit content", () => {
  assert.deepEqual(scanMessage(enc("Subject: é\n\nhi")), {
    size: 19,
    maxLineLength: 11,
    longLines: 0,
    eightBit: true,
    headerEightBit: true,
    hasNul: false,
  });
});

test("scanMessage() counts the final CRLF once and dots not at all", () => {
  assert.equal(scanMessage(enc("a\r\n")).size, 3);
  assert.equal(scanMessage(enc(".a\r\n.")).size, 7);
  assert.equal(scanMessage(enc("")).size, 0);
});

test("scanMessage() separates 8-bit headers from an 8-bit body", () => {
  const body = scanMessage(enc("Subject: x\r\n\r\nGrüße\r\n"));
  assert.equal(body.eightBit, true);
  assert.equal(body.headerEightBit, false);
  const header = scanMessage(enc("Subject: Grüße\r\n\r\nx\r\n"));
  assert.equal(header.headerEightBit, true);
});

test("scanMessage() reports long lines and NUL instead of throwing", () => {
  const s = scanMessage(enc("a".repeat(2000) + "\r\n\0\r\n"));
  assert.equal(s.maxLineLength, 2000);
  assert.equal(s.longLines, 1);
  assert.equal(s.hasNul, true);
});

test("scanMessage() and DataEncoder agree on the size", () => {
  const msg = enc("From: a\n\r\n.x\r..\n\nend");
  const e = new DataEncoder();
  e.push(msg);
  e.end();
  assert.equal(scanMessage(msg).size, e.size);
});
