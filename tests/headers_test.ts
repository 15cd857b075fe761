import { test } from "node:test";
import assert from "node:assert/strict";
import {
  assertHeaderName,
  assertHeaderText,
  assertNoEncodedWord,
  assertRawHeader,
  foldUnstructured,
  formatDate,
  HeaderFolder,
  lineEnd,
  needsEncoding,
  newMessageId,
  normalizeMessageId,
  parseHeaderBlock,
  randomToken,
} from "../src/message/headers.ts";
import { decodeWords } from "../src/message/encoding.ts";
import { DataEncoder } from "../src/protocol/data.ts";

const unfold = (field: string) => field.replace(/\r\n(?=[ \t])/g, "");
const valueOf = (field: string) => unfold(field).replace(/^[^:]*: ?/, "");

test("assertHeaderName() accepts ftext only", () => {
  assert.equal(assertHeaderName("X-Custom_1"), "X-Custom_1");
  for (const bad of ["", "X Bad", "X:Bad", "X-\u00e4", "X\r\nBcc", "X\t"]) assert.throws(() => assertHeaderName(bad), TypeError, bad);
  assert.throws(() => assertHeaderName("X".repeat(77)), RangeError);
});

test("assertHeaderText() refuses CR, LF and NUL; encoded words are left to the writers", () => {
  for (const bad of ["a\r\nBcc: x@example.org", "a\nb", "a\rb", "a\0b", 42 as unknown as string]) {
    assert.throws(() => assertHeaderText(bad, "Subject"), TypeError, JSON.stringify(bad));
  }
  // Not decoded, not trusted: the writers encode such text, so it is shown literally.
  assert.equal(assertHeaderText("=?UTF-8?Q?=0D=0A?=", "Subject"), "=?UTF-8?Q?=0D=0A?=");
  assert.equal(needsEncoding("=?UTF-8?Q?fine?="), true);
  assert.equal(needsEncoding("a=b ?= ? ="), false);
  assert.equal(needsEncoding("Grüße"), true);
  assert.throws(() => assertNoEncodedWord("a=?b", "Message-ID"), /must not contain "=\?"/);
  assert.equal(assertNoEncodedWord("a=b?c", "Message-ID"), "a=b?c");
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
  // Encoded words the caller writes are not passed through: they are encoded, and decode to themselves.
  assert.equal(foldUnstructured("Subject", "pre =?UTF-8?Q?encoded_w=C3=B6rd?= ok"), "Subject: pre =?UTF-8?Q?=3D=3FUTF-8=3FQ=3Fencoded=5Fw=3DC3=3DB6rd=3F=3D?= ok");
  for (const v of ["=?UTF-8?B?DQ oQmNj?=", "x=?UTF-8?Q?=0D=0A?=y", "=?utf-8?q?a?= =?utf-8?q?b?=", "a =?x \t?= b", "trailing=?"]) {
    const field = foldUnstructured("X-Test", v);
    assert.equal(decodeWords(valueOf(field)), v);
    // Outside the words we wrote (UTF-8, no "?" or white space inside) no "=?" is left.
    assert.ok(!valueOf(field).replace(/(?:^| )=\?UTF-8\?[QB]\?[^?\s]*\?=(?= |$)/g, " ").includes("=?"), field);
  }
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

test("normalizeMessageId() refuses =? (readers decode encoded words in message ids)", () => {
  for (const bad of ["=?UTF-8?B?DQ-o=?=@example.org", "<a=?UTF-8?Q?=0D=0A?=@example.org>"]) {
    assert.throws(() => normalizeMessageId(bad), /must not contain "=\?"/, bad);
  }
  assert.equal(normalizeMessageId("a=b?c@example.org"), "<a=b?c@example.org>");
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

test("lineEnd() ends lines at CRLF, bare LF and bare CR, and waits for more after a final CR", () => {
  const b = new TextEncoder().encode("A: 1\rB: 2\r\nC: 3\nD\r");
  assert.equal(lineEnd(b, 0), 5);
  assert.equal(lineEnd(b, 5), 11);
  assert.equal(lineEnd(b, 11), 16);
  assert.equal(lineEnd(b, 16), 18);
  assert.equal(lineEnd(b, 16, b.length, true), -1, "a final CR may be half of a CRLF");
  assert.equal(lineEnd(b, 16, 17), -1);
  assert.equal(lineEnd(b, b.length), -1);
});

test("parseHeaderBlock() splits lines as the wire does: a bare CR ends a line", () => {
  const names = (s: string) => parseHeaderBlock(s).map((f) => [f.name, f.value]);
  assert.deepEqual(names("Subject: hi\rBcc: secret@example.net\n\nbody"), [["Subject", "hi"], ["Bcc", "secret@example.net"]]);
  assert.deepEqual(names("Subject: hi\r\rX-Injected: 1\n\nbody"), [["Subject", "hi"]], "CR CR is an empty line");
  assert.deepEqual(names("To: a@example.org,\r b@example.org\r\n\r\n"), [["To", "a@example.org, b@example.org"]]);
  const f = parseHeaderBlock("A: 1\rB: 2\r\n");
  assert.deepEqual(f.map((x) => [x.start, x.end]), [[0, 5], [5, 11]]);
});

test("parseHeaderBlock() sees exactly the header lines the DATA encoder puts on the wire", () => {
  const enc = new TextEncoder();
  const wire = (raw: Uint8Array) => {
    const e = new DataEncoder({ onLongLine: "allow" });
    return e.push(raw);
  };
  const pieces = ["From: me@example.org", "To: a@example.net", "Bcc: s@example.net", " folded", "\tfolded", "Subject: hi", "X: 1", "", "not a field", ".dot"];
  const ends = ["\r\n", "\n", "\r", "\r\r", "\n\r", "\r\r\n"];
  let seed = 3;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) % n;
  for (let round = 0; round < 500; round++) {
    let text = "";
    for (let i = rnd(8) + 1; i > 0; i--) text += pieces[rnd(pieces.length)]! + ends[rnd(ends.length)]!;
    const raw = enc.encode(text);
    const direct = parseHeaderBlock(raw).map((x) => [x.name, x.value]);
    const onWire = parseHeaderBlock(wire(raw)).map((x) => [x.name, x.value]);
    assert.deepEqual(direct, onWire, JSON.stringify(text));
  }
});

test("assertRawHeader() refuses a bare CR or a NUL and names the line", () => {
  const enc = new TextEncoder();
  const check = (s: string) => () => assertRawHeader(enc.encode(s), 0, enc.encode(s).length);
  assert.throws(check("From: a@example.org\nSubject: hi\rBcc: x@example.net\n\n"), /line 2 contains a bare CR/);
  assert.throws(check("Subject: hi\r"), /bare CR/);
  assert.throws(check("Subject: a\0b\r\n"), /line 1 contains a NUL/);
  check("From: a@example.org\r\nTo: b@example.org\n\r\n")();
});

test("normalizeMessageId() reads ids in one pass: many dots before a mismatch return at once", () => {
  // The old pattern x+(?:\.x+)* (x holding ".") backtracked exponentially:
  // "a.".repeat(26) + "a," took about a second and doubled every two dots.
  for (const n of [26, 40, 100_000]) {
    const id = "a.".repeat(n) + "a,";
    assert.throws(() => normalizeMessageId(id), /is not a valid message id/);
    assert.throws(() => normalizeMessageId(`<${id}@example.org>`), /is not a valid message id/);
    assert.throws(() => normalizeMessageId(`x@${id}`), /is not a valid message id/);
  }
  // What was accepted still is (loose dots included: received mail's ids are kept).
  for (const [id, want] of [
    ["a.b@c.d", "<a.b@c.d>"],
    ["<a..b.@c>", "<a..b.@c>"],
    ['"q@x"@h', '<"q@x"@h>'],
    ["a@[1.2.3.4]", "<a@[1.2.3.4]>"],
    ["<a@b>", "<a@b>"],
  ]) assert.equal(normalizeMessageId(id!), want);
  for (const bad of ["<a@b", "a@b>", '"a b"@c', '"a\\"@c', "a@[x]]", "a@", "@b", "a@b@c", "a@[\\]"]) {
    assert.throws(() => normalizeMessageId(bad), TypeError, bad);
  }
});
