import { test } from "node:test";
import assert from "node:assert/strict";
import { BdatEncoder, bdatChunk, LineNormalizer } from "../src/protocol/bdat.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const latin1 = (b: Uint8Array) => String.fromCharCode(...b);

function bdat(chunks: string[]): string {
  const e = new BdatEncoder();
  return chunks.map((c) => latin1(e.push(enc(c)))).join("") + latin1(e.end());
}

test("BdatEncoder normalises line endings to CRLF and does not stuff dots", () => {
  assert.equal(bdat([".a\n.\rb\r\n.\r\n"]), ".a\r\n.\r\nb\r\n.\r\n");
});

test("BdatEncoder adds a final CRLF only when the last line lacks one", () => {
  assert.equal(bdat(["x"]), "x\r\n");
  assert.equal(bdat(["x\r\n"]), "x\r\n");
  assert.equal(bdat(["x\r"]), "x\r\n");
  assert.equal(bdat([]), "");
});

test("BdatEncoder gives one CRLF for a CR and LF split across chunks", () => {
  assert.equal(bdat(["a\r", "\nb\r", "\n"]), "a\r\nb\r\n");
});

test("BdatEncoder reports the normalised size, longest line and 8-bit content", () => {
  const e = new BdatEncoder();
  e.push(enc("ab\ncdé"));
  e.end();
  assert.equal(e.size, 4 + 4 + 2); // "ab" CRLF, "cdé" (4 octets), CRLF
  assert.equal(e.maxLineLength, 4);
  assert.equal(e.eightBit, true);
  assert.equal(e.longLines, 0);
});

test("BdatEncoder throws RangeError on a line over 998 octets unless allowed", () => {
  assert.throws(() => new BdatEncoder().push(enc("x".repeat(999))), RangeError);
  const e = new BdatEncoder({ onLongLine: "allow" });
  assert.equal(e.push(enc("x".repeat(999))).length, 999);
  assert.equal(e.longLines, 1);
});

test("bdatChunk() frames a chunk with its exact octet count", () => {
  const body = enc("héllo\r\n");
  const [head, payload, ...rest] = bdatChunk(body, false);
  assert.equal(latin1(head!), "BDAT 8\r\n");
  assert.equal(payload, body);
  assert.equal(rest.length, 0);
  assert.equal(latin1(bdatChunk(body, true)[0]!), "BDAT 8 LAST\r\n");
});

test("bdatChunk() sends BDAT 0 LAST alone for an empty last chunk", () => {
  const parts = bdatChunk(new Uint8Array(0), true);
  assert.equal(parts.length, 1);
  assert.equal(latin1(parts[0]!), "BDAT 0 LAST\r\n");
});

test("LineNormalizer tracks whether the output ends at a line start", () => {
  const n = new LineNormalizer();
  assert.equal(n.atLineStart, true);
  n.push(enc("a"));
  assert.equal(n.atLineStart, false);
  n.push(enc("\r"));
  assert.equal(n.atLineStart, true);
  assert.equal(latin1(n.push(enc("\nb\n"))), "b\r\n");
  assert.equal(n.finish().length, 0);
});

test("LineNormalizer normalises a bare-LF chunk with one output array of the exact size", () => {
  const n = new LineNormalizer({ dotStuff: true });
  const out = n.push(enc("a\n.b\n\n.\n"));
  assert.equal(latin1(out), "a\r\n..b\r\n\r\n..\r\n");
  assert.equal(out.byteLength, out.buffer.byteLength);
});
