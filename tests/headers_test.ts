import { test } from "node:test";
import assert from "node:assert/strict";
import {
  assertHeaderName,
  assertHeaderText,
  foldUnstructured,
  formatDate,
  HeaderFolder,
  newMessageId,
  normalizeMessageId,
  parseHeaderBlock,
  randomToken,
} from "../src/message/headers.ts";
import { decodeWords } from "../src/message/encoding.ts";

const unfold = (field: string) => field.replace(/\r\n(?=[ \t])/g, "");
const valueOf = (field: string) => unfold(field).replace(/^[^:]*: ?/, "");

test("assertHeaderName() accepts ftext only", () => {
  assert.equal(assertHeaderName("X-Custom_1"), "X-Custom_1");
  for (const bad of ["", "X Bad", "X:Bad", "X-\u00e4", "X\r\nBcc", "X\t"]) assert.throws(() => assertHeaderName(bad), TypeError, bad);
  assert.throws(() => assertHeaderName("X".repeat(77)), RangeError);
});

test("assertHeaderText() refuses CR, LF, NUL, plain or encoded", () => {
  for (const bad of ["a\r\nBcc: x@example.org", "a\nb", "a\rb", "a\0b", "=?UTF-8?Q?=0D=0A?=Bcc: x@example.org", "ok =?utf-8?b?DQo=?="]) {
    assert.throws(() => assertHeaderText(bad, "Subject"), TypeError, JSON.stringify(bad));
  }
  assert.equal(assertHeaderText("=?UTF-8?Q?fine?=", "Subject"), "=?UTF-8?Q?fine?=");
});

test("foldUnstructured() folds at 78, encodes only what needs it, and unfolds back exactly", () => {
  const values = [
    "Hello world",
    "Grüße aus Köln — a rather long subject line that needs folding, with ünïcödé here and there 日本語のテキスト",
    "two  spaces  and ä  ö  double",
    " leading and trailing ",
    "x".repeat(1200),
    "tab\tinside and control \u0001 char",
    "🎉".repeat(60),
  ];
  for (const v of values) {
    const field = foldUnstructured("Subject", v);
    for (const line of field.split("\r\n")) {
      assert.ok(line.length <= 78, `${line.length}: ${line}`);
      assert.ok(/^[\x20-\x7e\t]*$/.test(line), "ASCII only");
      assert.ok(line.trim() !== "", "no whitespace-only line");
    }
    const decoded = decodeWords(valueOf(field));
    assert.equal(decoded, v);
  }
  // A long ASCII word (a URL) is not encoded; its line is simply longer than 78.
  const url = "<https://example.org/" + "u".repeat(120) + ">";
  assert.equal(foldUnstructured("List-Unsubscribe", `${url}, <mailto:u@example.org>`), `List-Unsubscribe: ${url},\r\n <mailto:u@example.org>`);
  // Encoded words the caller supplies pass through (after the CR/LF/NUL check).
  assert.equal(foldUnstructured("Subject", "pre =?UTF-8?Q?encoded_w=C3=B6rd?= ok"), "Subject: pre =?UTF-8?Q?encoded_w=C3=B6rd?= ok");
  assert.equal(foldUnstructured("Subject", "Grüße aus Köln"), "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus =?UTF-8?Q?K=C3=B6ln?=");
});

test("HeaderFolder refuses a line that cannot be folded under 998 octets", () => {
  const f = new HeaderFolder("X-Long");
  f.token("a".repeat(1000));
  assert.throws(() => f.toString(), RangeError);
});

test("formatDate() writes RFC 5322 dates with the zone offset", () => {
  const d = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
  assert.equal(formatDate(d, 0), "Tue, 02 Jan 2024 03:04:05 +0000");
  assert.equal(formatDate(d, 330), "Tue, 02 Jan 2024 08:34:05 +0530");
  assert.equal(formatDate(d, -480), "Mon, 01 Jan 2024 19:04:05 -0800");
  assert.match(formatDate(d), /^(Mon|Tue|Wed), 0[1-3] Jan 2024 \d\d:\d\d:05 [+-]\d{4}$/);
  assert.throws(() => formatDate(new Date(NaN)), RangeError);
});

test("newMessageId() and normalizeMessageId() use an injectable random source", () => {
  const random = (n: number) => new Uint8Array(n).fill(0xab);
  assert.equal(newMessageId("example.org", random), `<${randomToken(random, 15)}@example.org>`);
  assert.match(newMessageId("example.org"), /^<[a-z2-7]{24}@example\.org>$/);
  assert.notEqual(newMessageId("x.example"), newMessageId("x.example"));
  assert.equal(normalizeMessageId("abc@example.org"), "<abc@example.org>");
  assert.equal(normalizeMessageId("<a.b@[1.2.3.4]>"), "<a.b@[1.2.3.4]>");
  for (const bad of ["abc", "<a@b", "a b@c", "<a@b>\r\nBcc: x", "a@b@c"]) assert.throws(() => normalizeMessageId(bad), TypeError, bad);
});

test("parseHeaderBlock() handles folding, bare LF, obsolete spacing and a missing final newline", () => {
  const block = "To: a@example.org,\n b@example.org\r\nSubject : hi\r\n\tthere\r\nX-Empty:\r\nX-Last: end";
  const fields = parseHeaderBlock(block);
  assert.deepEqual(fields.map((f) => [f.name, f.value]), [
    ["To", "a@example.org, b@example.org"],
    ["Subject", "hi\tthere"],
    ["X-Empty", ""],
    ["X-Last", "end"],
  ]);
  assert.equal(fields[0]!.start, 0);
  assert.equal(fields[1]!.start, fields[0]!.end);
  assert.equal(fields[3]!.end, new TextEncoder().encode(block).length);
  assert.deepEqual(parseHeaderBlock("A: 1\n\nB: 2").map((f) => f.name), ["A"]);
  assert.deepEqual(parseHeaderBlock("A: 1\nnot a header\nB: 2").map((f) => f.name), ["A"]);
  assert.deepEqual(parseHeaderBlock(" continuation first\nA: 1"), []);
  assert.equal(parseHeaderBlock("Subject: =?UTF-8?Q?x?= Grüße\r\n")[0]!.value, "=?UTF-8?Q?x?= Grüße");
});
