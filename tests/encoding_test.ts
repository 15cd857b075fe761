import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  base64,
  base64Lines,
  base64Stream,
  decodeWords,
  encodeWords,
  fromBase64,
  percentEncode2231,
  quotedPrintable,
} from "../src/message/encoding.ts";

/** Deterministic pseudo-random bytes. */
function bytes(n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) out[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
}

const expectedLines = (data: Uint8Array) =>
  (Buffer.from(data).toString("base64").match(/.{1,76}/g) ?? []).map((l) => l + "\r\n").join("");

/** Independent quoted-printable decoder (RFC 2045 §6.7). */
function decodeQP(text: string): Uint8Array {
  const out: number[] = [];
  const s = text.replace(/=\r\n/g, "");
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "=") {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(s.charCodeAt(i));
  }
  return Uint8Array.from(out);
}

test("base64() and base64Lines() match node:buffer for every length remainder", () => {
  for (const n of [0, 1, 2, 3, 56, 57, 58, 114, 1000]) {
    const data = bytes(n);
    assert.equal(base64(data), Buffer.from(data).toString("base64"));
    assert.equal(new TextDecoder().decode(base64Lines(data)), expectedLines(data));
    assert.deepEqual(fromBase64(base64(data)), data);
  }
});

test("base64Stream() gives the same lines whatever the chunking (carry-over between chunks)", async () => {
  const big = bytes(200_003);
  for (const sizes of [[1], [2], [3], [56, 1], [57], [58], [4096], [65536, 7], [200_003]]) {
    const data = sizes[0]! < 100 ? big.subarray(0, 5003) : big; // keep tiny-chunk cases fast
    const want = expectedLines(data);
    const chunks: Uint8Array[] = [];
    for (let i = 0, k = 0; i < data.length; k++) {
      const n = sizes[k % sizes.length]!;
      chunks.push(data.subarray(i, i + n));
      i += n;
    }
    let got = "";
    for await (const c of base64Stream(chunks)) got += new TextDecoder().decode(c);
    assert.equal(got, want, `chunk sizes ${sizes}`);
  }
});

test("base64Stream() rejects a stream that yields something other than bytes", async () => {
  await assert.rejects(async () => {
    for await (const _ of base64Stream(["text" as unknown as Uint8Array])) { /* drain */ }
  }, TypeError);
});

test("quotedPrintable() keeps lines at 76, escapes trailing space and =, and decodes back exactly", () => {
  const cases = [
    "plain ascii\r\nsecond line",
    "trailing space \r\ntrailing tab\t\r\n",
    "a=b and =?UTF-8?Q?x?= look-alikes",
    "Grüße aus Köln — " + "ä".repeat(100),
    "x".repeat(500) + "\r\n" + "y ".repeat(300),
    "=".repeat(200),
    "line with NUL \0 and bare CR \r and bare LF \n inside",
    "",
  ];
  for (const text of cases) {
    const qp = quotedPrintable(text);
    for (const line of qp.split("\r\n")) {
      assert.ok(line.length <= 76, `line of ${line.length}: ${line}`);
      assert.ok(!/[ \t]$/.test(line), "no trailing white space");
      assert.ok(/^[\x20-\x7e\t]*$/.test(line), "only printable ASCII");
    }
    assert.deepEqual(decodeQP(qp), new TextEncoder().encode(text));
  }
  assert.equal(quotedPrintable("Grüße\r\n"), "Gr=C3=BC=C3=9Fe\r\n");
});

test("encodeWords() never exceeds 75 characters nor splits a UTF-8 sequence", () => {
  const texts = ["Grüße", "日本語のテキストがとても長い場合".repeat(5), "mixed ascii and ünïcödé ".repeat(10), "🎉".repeat(40), "a_b c=d?e"];
  for (const text of texts) {
    for (const [first, rest] of [[75, 75], [24, 75], [30, 40]] as const) {
      const words = encodeWords(text, first, rest);
      let joined = "";
      words.forEach((w, i) => {
        assert.ok(w.length <= (i === 0 ? first : rest), `${w.length} > limit`);
        const m = /^=\?UTF-8\?([QB])\?([^?]*)\?=$/.exec(w);
        assert.ok(m, w);
        const raw = m[1] === "B" ? Buffer.from(m[2]!, "base64") : Buffer.from(decodeQP(m[2]!.replace(/_/g, " ")));
        // fatal: a word that split a UTF-8 sequence would throw here
        joined += new TextDecoder("utf-8", { fatal: true }).decode(raw);
      });
      assert.equal(joined, text);
      assert.equal(decodeWords(words.join(" ")), text);
    }
  }
  assert.throws(() => encodeWords("x", 10), RangeError);
});

test("decodeWords() joins adjacent words, keeps other spacing, and leaves unknown charsets alone", () => {
  assert.equal(decodeWords("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus =?ISO-8859-1?Q?K=F6ln?="), "Grüße aus Köln");
  assert.equal(decodeWords("=?UTF-8?B?w6Q=?=  \t =?UTF-8?B?w7Y=?="), "äö");
  assert.equal(decodeWords("a =?utf-8?q?b?= c"), "a b c");
  assert.equal(decodeWords("=?x-unknown?Q?abc?="), "=?x-unknown?Q?abc?=");
  assert.equal(decodeWords("=?UTF-8*en?Q?hi?="), "hi");
});

test("encodeWords() refuses CR, LF and NUL: no word it writes decodes to a line break", () => {
  for (const bad of ["a\r\nBcc: x@example.org", "a\nb", "a\rb", "a\0b", "ä\r"]) {
    assert.throws(() => encodeWords(bad), TypeError, JSON.stringify(bad));
  }
});

test("encodeWords() escapes =, ? and _ so encoded-word look-alikes come back literally", () => {
  const texts = [
    "=?UTF-8?B?DQo=?=",
    "=?UTF-8?B?DQ oQmNjOiB2aWN0aW1AZXhhbXBsZS5vcmc=?=",
    "=?utf-8?q?=0d=0a?= and =?UTF-8?Q?=0D=0A?=",
    "a_b =?x?= ?= =?",
  ];
  for (const text of texts) {
    for (const w of encodeWords(text, 24, 30)) {
      // Only our delimiters: nothing inside a word a lenient decoder could end it at or start a new one with.
      const m = /^=\?UTF-8\?[QB]\?([^?]*)\?=$/.exec(w);
      assert.ok(m, w);
      assert.ok(!/\s/.test(m[1]!), w);
    }
    assert.equal(decodeWords(encodeWords(text, 24, 30).join(" ")), text);
  }
});

test("percentEncode2231() escapes everything but attr-char", () => {
  assert.equal(percentEncode2231("Résumé 2024.pdf"), "R%C3%A9sum%C3%A9%202024.pdf");
  assert.equal(percentEncode2231("a'b*c%d\"e"), "a%27b%2Ac%25d%22e");
});
