import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { Buffer } from "node:buffer";
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compose, type ComposeOptions, composeToBytes, mediaTypeOf } from "../src/message/compose.ts";
import { decodeWords } from "../src/message/encoding.ts";

// ---------------------------------------------------------------- parsers

interface PyAddress {
  name: string;
  address: string;
  group: string | null;
}
interface PyPart {
  contentType: string;
  charset: string | null;
  filename: string | null;
  disposition: string | null;
  contentId: string | null;
  cte: string | null;
  body: string;
  defects: string[];
}
interface PyMessage {
  headers: [string, string][];
  subject: string | null;
  from: PyAddress[] | null;
  sender: PyAddress[] | null;
  to: PyAddress[] | null;
  cc: PyAddress[] | null;
  bcc: PyAddress[] | null;
  replyTo: PyAddress[] | null;
  messageId: string | null;
  date: string | null;
  tree: string[];
  parts: PyPart[];
  defects: string[];
}

const PY_SCRIPT = fileURLToPath(new URL("./support/parse_python.py", import.meta.url));

/** Parses messages with Python's standard `email` package (tests/support/parse_python.py), one process per call. */
function parsePythonMany(messages: readonly Uint8Array[]): PyMessage[] {
  const input = JSON.stringify(messages.map((m) => Buffer.from(m).toString("base64")));
  const r = spawnSync("/usr/bin/python3", [PY_SCRIPT, "--batch"], { input, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`parse_python.py failed: ${r.stderr?.toString()}`);
  return JSON.parse(r.stdout.toString("utf8")) as PyMessage[];
}

/** Parses one message with Python's standard `email` package. */
function parsePython(bytes: Uint8Array): PyMessage {
  return parsePythonMany([bytes])[0]!;
}

interface MpAddress {
  name: string;
  address?: string;
  group?: MpAddress[];
}
interface MpAddressObject {
  value: MpAddress[];
}
interface MpAttachment {
  filename?: string;
  contentType: string;
  contentDisposition: string;
  cid?: string;
  related?: boolean;
  content: Uint8Array;
}
interface MpMessage {
  subject?: string;
  from?: MpAddressObject;
  to?: MpAddressObject | MpAddressObject[];
  cc?: MpAddressObject | MpAddressObject[];
  bcc?: MpAddressObject | MpAddressObject[];
  replyTo?: MpAddressObject;
  messageId?: string;
  inReplyTo?: string;
  references?: string | string[];
  date?: Date;
  text?: string;
  html?: string | false;
  attachments: MpAttachment[];
  headers: Map<string, unknown>;
}

/** Parses with mailparser (npm dev dependency), imported by name at run time. */
async function parseMailparser(bytes: Uint8Array): Promise<MpMessage> {
  const mod = (await import("mailparser" as string)) as { simpleParser(b: Uint8Array): Promise<MpMessage> };
  return mod.simpleParser(Buffer.from(bytes));
}

const mpList = (o: MpAddressObject | MpAddressObject[] | undefined): MpAddress[] =>
  o === undefined ? [] : (Array.isArray(o) ? o : [o]).flatMap((x) => x.value);

// ---------------------------------------------------------------- helpers

const enc = new TextEncoder();
const crlf = (s: string) => s.replace(/\r\n|\r|\n/g, "\r\n");

function seeded(seed = 1): (n: number) => Uint8Array {
  let s = seed;
  return (n) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
    return b;
  };
}

function pseudoBytes(n: number, seed = 3): Uint8Array {
  return seeded(seed)(n);
}

/** Every line ends in CRLF (no bare CR or LF) and is at most 998 octets; header lines at most 78. */
function assertWellFormed(bytes: Uint8Array): void {
  let start = 0;
  let inHeader = true;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 13) assert.equal(bytes[i + 1], 10, `bare CR at ${i}`);
    if (bytes[i] === 10) {
      assert.equal(bytes[i - 1], 13, `bare LF at ${i}`);
      const len = i - 1 - start;
      assert.ok(len <= 998, `line of ${len} octets at ${start}`);
      if (inHeader) {
        if (len === 0) inHeader = false;
        else assert.ok(len <= 78, `header line of ${len} octets: ${Buffer.from(bytes.subarray(start, i - 1)).toString()}`);
      }
      start = i + 1;
    }
    assert.notEqual(bytes[i], 0, `NUL at ${i}`);
  }
}

const FIXED: Pick<ComposeOptions, "date" | "utcOffset" | "random" | "messageId"> = {
  date: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),
  utcOffset: 0,
  random: seeded(42),
};

const PNG = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, ...pseudoBytes(300)]);

// ---------------------------------------------------------------- tests

test("compose() round-trips a full message through Python email and mailparser field by field", async () => {
  const text = "Hallo Welt!\nSecond line — with ümlauts.\n" + "long ".repeat(300) + "\n.\n.hidden dot\nFrom the start\n";
  const html = '<p>Hallo <b>Welt</b> <img src="cid:logo@smtpsend.test"></p>\n' + "<p>ünïcödé</p>\n";
  const streamed = pseudoBytes(200_000, 9);
  const subject = "Grüße aus Köln — a rather long subject line that needs folding, with ünïcödé here and there 日本語のテキスト";
  const options: ComposeOptions = {
    ...FIXED,
    from: { name: "Jörg Müller, Esq.", address: "joerg@example.org" },
    sender: "Mail Robot <robot@example.org>",
    to: ['"Doe, Jane" <jane@example.org>', { name: 'He said "hi", then left', address: "x@example.com" }],
    cc: ["Team: a@example.net, b@example.net;", { name: "日本 太郎", address: "taro@example.jp" }],
    bcc: "Secret <secret@example.com>",
    replyTo: { name: "Replies", address: "reply@example.org" },
    subject,
    text,
    html,
    inReplyTo: "parent@example.org",
    references: ["root@example.org", "<parent@example.org>"],
    headers: { "X-Mailer": "smtpsend test", "X-Note": "naïve café" },
    attachments: [
      { filename: "logo.png", content: PNG, cid: "logo@smtpsend.test" },
      { filename: "Résumé of a very long file name — 履歴書 (final, v2).pdf", content: "pdf-ish data" },
      { filename: 'plain "quoted"; name.txt', content: "some text\n" },
      { filename: "stream.bin", content: (async function* () {
        for (let i = 0; i < streamed.length; i += 7001) yield streamed.subarray(i, i + 7001);
      })() },
    ],
  };
  const msg = compose(options);
  const bytes = await msg.toBytes();
  assertWellFormed(bytes);
  assert.deepEqual(msg.envelope, {
    from: "robot@example.org",
    to: ["jane@example.org", "x@example.com", "a@example.net", "b@example.net", "taro@example.jp", "secret@example.com"],
  });
  assert.equal(msg.smtputf8, false);
  const raw = Buffer.from(bytes).toString("latin1");
  assert.ok(!/^bcc:/im.test(raw), "no Bcc field");
  assert.ok(!raw.includes("secret@example.com"), "Bcc address not in the message");

  const expectText = enc.encode(crlf(text));
  const expectHtml = enc.encode(crlf(html));

  // --- Python
  const py = parsePython(bytes);
  assert.deepEqual(py.defects, []);
  assert.equal(py.subject, subject);
  assert.deepEqual(py.from, [{ name: "Jörg Müller, Esq.", address: "joerg@example.org", group: null }]);
  assert.deepEqual(py.sender, [{ name: "Mail Robot", address: "robot@example.org", group: null }]);
  assert.deepEqual(py.to, [
    { name: "Doe, Jane", address: "jane@example.org", group: null },
    { name: 'He said "hi", then left', address: "x@example.com", group: null },
  ]);
  assert.deepEqual(py.cc, [
    { name: "", address: "a@example.net", group: "Team" },
    { name: "", address: "b@example.net", group: "Team" },
    { name: "日本 太郎", address: "taro@example.jp", group: null },
  ]);
  assert.equal(py.bcc, null);
  assert.deepEqual(py.replyTo, [{ name: "Replies", address: "reply@example.org", group: null }]);
  assert.equal(py.messageId, msg.messageId);
  assert.equal(py.date, "Tue, 02 Jan 2024 03:04:05 +0000");
  const pyHeader = (n: string) => py.headers.find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1];
  assert.equal(pyHeader("X-Note"), "naïve café");
  assert.equal(pyHeader("In-Reply-To"), "<parent@example.org>");
  assert.equal(pyHeader("References"), "<root@example.org> <parent@example.org>");
  assert.deepEqual(py.tree, [
    "multipart/mixed",
    "multipart/alternative",
    "text/plain",
    "multipart/related",
    "text/html",
    "image/png",
    "application/pdf",
    "text/plain",
    "application/octet-stream",
  ]);
  const [pText, pHtml, pPng, pPdf, pTxt, pBin] = py.parts;
  for (const p of py.parts) assert.deepEqual(p.defects, []);
  assert.deepEqual(Buffer.from(pText!.body, "base64"), Buffer.from(expectText));
  assert.deepEqual(Buffer.from(pHtml!.body, "base64"), Buffer.from(expectHtml));
  assert.equal(pText!.charset, "utf-8");
  assert.equal(pPng!.disposition, "inline");
  assert.equal(pPng!.contentId, "<logo@smtpsend.test>");
  assert.deepEqual(Buffer.from(pPng!.body, "base64"), Buffer.from(PNG));
  assert.equal(pPdf!.filename, "Résumé of a very long file name — 履歴書 (final, v2).pdf");
  assert.equal(pPdf!.disposition, "attachment");
  assert.equal(Buffer.from(pPdf!.body, "base64").toString(), "pdf-ish data");
  assert.equal(pTxt!.filename, 'plain "quoted"; name.txt');
  assert.equal(Buffer.from(pTxt!.body, "base64").toString(), "some text\n");
  assert.equal(pBin!.filename, "stream.bin");
  assert.deepEqual(Buffer.from(pBin!.body, "base64"), Buffer.from(streamed));

  // --- mailparser (the stream attachment was one-shot: compose again)
  const again = compose({
    ...options,
    attachments: [...options.attachments!.slice(0, 3), { filename: "stream.bin", content: [streamed] }],
  });
  const mp = await parseMailparser(await again.toBytes());
  assert.equal(mp.subject, subject);
  assert.deepEqual(mp.from!.value.map((a) => [a.name, a.address]), [["Jörg Müller, Esq.", "joerg@example.org"]]);
  assert.deepEqual(mpList(mp.to).map((a) => [a.name, a.address]), [["Doe, Jane", "jane@example.org"], ['He said "hi", then left', "x@example.com"]]);
  const cc = mpList(mp.cc);
  assert.equal(cc[0]!.name, "Team");
  assert.deepEqual(cc[0]!.group!.map((a) => a.address), ["a@example.net", "b@example.net"]);
  assert.deepEqual([cc[1]!.name, cc[1]!.address], ["日本 太郎", "taro@example.jp"]);
  assert.equal(mp.bcc, undefined);
  assert.deepEqual(mp.replyTo!.value.map((a) => a.address), ["reply@example.org"]);
  assert.equal(mp.messageId, again.messageId);
  assert.equal(mp.inReplyTo, "<parent@example.org>");
  assert.deepEqual(mp.references, ["<root@example.org>", "<parent@example.org>"]);
  assert.equal(mp.date!.toISOString(), "2024-01-02T03:04:05.000Z");
  // mailparser leaves unknown fields encoded; Python decoded it above.
  assert.equal(mp.headers.get("x-note"), "=?UTF-8?Q?na=C3=AFve_caf=C3=A9?=");
  assert.equal(enc.encode(crlf(mp.text!)).length >= expectText.length - 2, true);
  assert.equal(crlf(mp.text!).replace(/\r\n$/, ""), crlf(text).replace(/\r\n$/, ""));
  // mailparser resolves the cid: reference to the inline image, proving the link.
  const inlined = html.replace("cid:logo@smtpsend.test", `data:image/png;base64,${Buffer.from(PNG).toString("base64")}`);
  assert.equal(crlf(mp.html as string).replace(/\r\n$/, ""), crlf(inlined).replace(/\r\n$/, ""));
  const att = mp.attachments;
  assert.deepEqual(att.map((a) => a.filename), ["logo.png", "Résumé of a very long file name — 履歴書 (final, v2).pdf", 'plain "quoted"; name.txt', "stream.bin"]);
  assert.equal(att[0]!.cid, "logo@smtpsend.test");
  assert.equal(att[0]!.related, true);
  assert.equal(att[0]!.contentDisposition, "inline");
  assert.deepEqual(Buffer.from(att[0]!.content), Buffer.from(PNG));
  assert.equal(att[1]!.contentType, "application/pdf");
  assert.deepEqual(Buffer.from(att[3]!.content), Buffer.from(streamed));
});

test("compose() chooses 7bit, quoted-printable or base64 per text part and decodes byte-exact", async () => {
  const cases: [string, string][] = [
    ["plain ascii\nshort lines\n", "7bit"],
    ["ascii but one very long line " + "x".repeat(2000) + "\n", "quoted-printable"],
    ["mostly ascii with é and — here\n", "quoted-printable"],
    ["日本語のテキストです。".repeat(50) + "\n", "base64"],
    ["mentions the boundary prefix =_smtpsend_ in text\n", "quoted-printable"],
    ["trailing spaces   \nand tabs\t\n", "7bit"],
    ["no final newline", "7bit"],
    ["bare\rCR and\r\nmixed\nendings", "7bit"],
  ];
  const messages = await Promise.all(cases.map(async ([text]) => (await composeToBytes({ ...FIXED, from: "a@example.org", to: "b@example.org", subject: "t", text })).bytes));
  const parsed = parsePythonMany(messages);
  for (const [i, [text, cte]] of cases.entries()) {
    const bytes = messages[i]!;
    assertWellFormed(bytes);
    const py = parsed[i]!;
    assert.equal(py.parts.length, 1);
    assert.equal(py.parts[0]!.cte, cte, JSON.stringify(text.slice(0, 40)));
    assert.deepEqual(Buffer.from(py.parts[0]!.body, "base64").toString("utf8"), crlf(text));
    const mp = await parseMailparser(bytes);
    assert.equal(crlf(mp.text!).replace(/\r\n$/, ""), crlf(text).replace(/\r\n$/, ""));
  }
});

test("compose() keeps a text line that looks like a boundary inside its part", async () => {
  const random = seeded(5);
  const probe = compose({ ...FIXED, random, from: "a@example.org", to: "b@example.org", text: "x", html: "<p>x</p>" });
  const boundary = /boundary="([^"]+)"/.exec(probe.header)![1]!;
  const text = `--${boundary}\r\nContent-Type: text/html\r\n\r\nforged\r\n--${boundary}--\r\n`;
  const { bytes } = await composeToBytes({ ...FIXED, random: seeded(5), from: "a@example.org", to: "b@example.org", text, html: "<p>x</p>" });
  const py = parsePython(bytes);
  assert.deepEqual(py.tree, ["multipart/alternative", "text/plain", "text/html"]);
  assert.equal(Buffer.from(py.parts[0]!.body, "base64").toString(), text);
});

test("compose() writes html-only and empty messages, and related only with html", async () => {
  const html = await composeToBytes({ ...FIXED, from: "a@example.org", to: "b@example.org", html: "<p>hi</p>" });
  const empty = await composeToBytes({ ...FIXED, from: "a@example.org", to: "b@example.org" });
  const inlineNoHtml = await composeToBytes({
    ...FIXED,
    from: "a@example.org",
    to: "b@example.org",
    text: "see image",
    attachments: [{ filename: "i.png", content: PNG, cid: "i@x" }],
  });
  const [pyHtml, pyEmpty, pyInline] = parsePythonMany([html.bytes, empty.bytes, inlineNoHtml.bytes]);
  assert.deepEqual(pyHtml!.tree, ["text/html"]);
  assert.deepEqual(pyEmpty!.tree, ["text/plain"]);
  assert.equal(pyEmpty!.subject, null);
  assert.deepEqual(pyInline!.tree, ["multipart/mixed", "text/plain", "image/png"]);
});

test("compose() adds Date and Message-ID from the injected clock and random source", async () => {
  const now = () => new Date(Date.UTC(2030, 5, 7, 8, 9, 10));
  const a = compose({ from: "a@example.org", to: "b@example.org", now, utcOffset: 120, random: seeded(1) });
  const b = compose({ from: "a@example.org", to: "b@example.org", now, utcOffset: 120, random: seeded(1) });
  assert.match(a.header, /^Date: Fri, 07 Jun 2030 10:09:10 \+0200\r\n/);
  assert.match(a.messageId, /^<[a-z2-7]{24}@example\.org>$/);
  assert.equal(a.messageId, b.messageId);
  assert.deepEqual(await a.toBytes(), await b.toBytes());
  const c = compose({ from: "a@bücher.example", to: "b@example.org" });
  assert.match(c.messageId, /@xn--bcher-kva\.example>$/);
  assert.match(c.header, /^From: a@xn--bcher-kva\.example$/m);
  const d = compose({ from: "a@example.org", to: "b@example.org", date: "Mon, 1 Jan 2024 00:00:00 +0000", messageId: "given@example.org" });
  assert.match(d.header, /^Date: Mon, 1 Jan 2024 00:00:00 \+0000$/m);
  assert.equal(d.messageId, "<given@example.org>");
});

test("compose() refuses header injection in every header value", () => {
  const base: ComposeOptions = { from: "a@example.org", to: "b@example.org" };
  const attempts: Partial<ComposeOptions>[] = [
    { subject: "hi\r\nBcc: victim@example.org" },
    { subject: "hi\nBcc: victim@example.org" },
    { subject: "hi\rBcc: victim@example.org" },
    { subject: "nul\0byte" },
    { from: { name: "x\r\nBcc: victim@example.org", address: "a@example.org" } },
    { from: "x\r\nBcc: victim@example.org <a@example.org>" },
    { to: "b@example.org\r\nBcc: victim@example.org" },
    { replyTo: "r@example.org\nBcc: v@example.org" },
    { attachments: [{ filename: "a.txt\r\nBcc: victim@example.org", content: "x" }] },
    { attachments: [{ filename: "a.txt", content: "x", contentType: "text/plain\r\nBcc: v@example.org" }] },
    { attachments: [{ filename: "a.txt", content: "x", cid: "x\r\nBcc: v@example.org" }] },
    { headers: { "X-Test": "v\r\nBcc: victim@example.org" } },
    { headers: [["X-Test\r\nBcc", "v"]] },
    { headers: { "X Bad": "v" } },
    { headers: { "X:Bad": "v" } },
    { headers: { "Bcc": "victim@example.org" } },
    { headers: { "content-type": "text/html" } },
    { messageId: "<a@b>\r\nBcc: victim@example.org" },
    { inReplyTo: "a@b\r\nBcc: victim@example.org" },
    { references: ["a@b", "c@d\nBcc: v@example.org"] },
    { date: "Mon, 1 Jan 2024 00:00:00 +0000\r\nBcc: v@example.org" },
    // A name the caller gives holding a control or a line separator (it would be carried in an encoded word).
    { from: { name: "x\u2028Bcc: victim@example.org", address: "a@example.org" } },
    { to: [{ name: "x\u0085y", address: "b@example.org" }] },
    { from: { name: "x\x1by", address: "a@example.org" } },
    // Text that cannot be encoded may not look like an encoded word at all (readers decode it there too).
    { to: "=?UTF-8?B?DQ-o=?=@example.org" },
    { replyTo: '"=?utf-8?q?=0d=0a?="@example.org' },
    { messageId: "=?UTF-8?B?DQ-o=?=@example.org" },
    { inReplyTo: "<a=?UTF-8?B?DQ oQ?=@example.org>".replace(" ", "") },
    { references: ["a@b", "=?utf-8?q?=0d=0a?=@example.org"] },
    { date: "Mon, 1 Jan 2024 00:00:00 +0000 =?UTF-8?B?DQ-o=?=" },
    { attachments: [{ filename: "a.txt", content: "x", contentType: 'text/plain; x="=?UTF-8?B?DQ o=?="' }] },
    { attachments: [{ filename: "a.txt", content: "x", cid: "=?UTF-8?B?DQ-o=?=" }] },
  ];
  for (const extra of attempts) {
    assert.throws(() => compose({ ...base, ...extra }), TypeError, JSON.stringify(extra));
  }
});

// ------------------------------------------------- encoded-word look-alikes

/** Caller text that lenient decoders (libmime, Python) would decode to CR/LF if it were passed through. */
const LOOKALIKES = [
  "=?UTF-8?B?DQ oQmNjOiB2aWN0aW1AZXhhbXBsZS5vcmc=?=", // space inside: the reviewer's payload
  "Hi =?UTF-8?B?DQ oQmNjOiB2aWN0aW1AZXhhbXBsZS5vcmc=?= there",
  "=?UTF-8?B?DQ-o=?=", // a character outside base64
  "=?UTF-8?B?DQ\toQmNj?=", // a tab inside
  "=?UTF-8?B?D Q o=?=",
  "=?UTF-8?B?!!DQo=?=",
  "=?UTF-8?Q?=0D=0ABcc:_victim@example.org?=", // plain Q
  "=?utf-8?q?=0d=0a?=", // lower case
  "=?UTF-8?Q?=0D =0A?=",
  "=?UTF-8?Q?a?= =?UTF-8?Q?=0A?= b", // adjacent words: the space between them must survive
  "x=?utf-8?b?DQo=?=y", // glued to text
  "=?UTF-8?B?DQo=?==?UTF-8?B?DQo=?=",
  "=?ISO-8859-1?Q?=0D?=x",
  "=?UTF-8*en?B?DQo=?=",
  "Grüße =?UTF-8?Q?=0D=0A?= aus Köln",
  "?= =? =?= ?=?",
];

/** Seeded variants: white space or stray characters inserted, random case. */
function fuzzedLookalikes(n: number): string[] {
  const bases = ["=?UTF-8?B?DQo=?=", "=?UTF-8?Q?=0D=0A?=", "=?UTF-8?B?DQpCY2M6IHZAZXhhbXBsZS5vcmc=?=", "=?iso-8859-1?q?=0a?=", "=?UTF-8?B?AA==?="];
  const noise = [" ", "\t", "-", "!", ".", "*", "~", "=", "_", "  ", "?"];
  const bytes = seeded(77)(n * 32);
  let k = 0;
  const next = (m: number) => bytes[k++]! % m;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let t = bases[next(bases.length)]!;
    for (let j = next(3) + 1; j > 0; j--) {
      const at = 2 + next(t.length - 3); // inside, so no leading or trailing white space
      t = t.slice(0, at) + noise[next(noise.length)]! + t.slice(at);
    }
    if (next(2)) t = next(2) ? t.toLowerCase() : t.toUpperCase();
    out.push(next(3) === 0 ? `Re: ${t} x` : t);
  }
  return out;
}

/** Python's phrase parser turns each run of white space in a display name into one space, and (against RFC 2047 §6.2) keeps the space between adjacent encoded words. */
const pyName = (s: string) => s.replace(/[ \t]+/g, " ");

test("compose() never passes caller encoded words through: look-alikes decode to exactly the caller's text in mailparser and Python", async () => {
  const libmime = ((await import("libmime" as string)) as { default: { decodeWords(s: string): string } }).default;
  const texts = [...LOOKALIKES, ...fuzzedLookalikes(40)];
  // An address string is header syntax, whose (valid) encoded words are decoded first; the others are names as given.
  const asString = (t: string) => decodeWords(t) === t;
  const msgs = texts.map((t) =>
    compose({
      ...FIXED,
      from: { name: t, address: "a@example.org" },
      to: [{ name: t, address: "b@example.org" }, ...(asString(t) ? [`"${t.replace(/["\\]/g, "\\$&")}" <c@example.org>`] : [])],
      subject: t,
      headers: { "X-Note": t },
      text: "body",
      attachments: [{ filename: t, content: "x" }],
    })
  );
  const all = await Promise.all(msgs.map((m) => m.toBytes()));
  const parsed = parsePythonMany(all);
  for (const [i, t] of texts.entries()) {
    const what = JSON.stringify(t);
    const bytes = all[i]!;
    assertWellFormed(bytes);
    const header = msgs[i]!.header.replace(/\r\n(?=[ \t])/g, "");
    // Outside the encoded words we wrote (UTF-8, no "?" or white space inside), no "=?" is left on the wire.
    assert.ok(!header.replace(/=\?UTF-8\?[QB]\?[^?\s]*\?=/g, "").includes("=?"), `${what}\n${header}`);

    const mp = await parseMailparser(bytes);
    assert.equal(mp.subject, t, what);
    // A display name's tab is written as a space (both for a name given and a name parsed).
    const name = t.replaceAll("\t", " ").trim();
    assert.equal(mp.from!.value[0]!.name, name, what);
    assert.deepEqual(mpList(mp.to).map((a) => a.name), asString(t) ? [name, name] : [name], what);
    assert.equal(libmime.decodeWords(mp.headers.get("x-note") as string), t, what);
    assert.deepEqual(mp.attachments.map((a) => a.filename), [t], what);

    const py = parsed[i]!;
    assert.deepEqual(py.defects, [], what);
    assert.equal(py.subject, t, what);
    assert.equal(py.headers.find(([k]) => k === "X-Note")?.[1], t, what);
    assert.equal(py.parts[1]!.filename, t, what);
    const field = (n: string) => header.split("\r\n").find((l) => l.startsWith(`${n}: `))!;
    for (const [n, list] of [["From", py.from!], ["To", py.to!]] as const) {
      const split = /\?=\s+=\?/.test(field(n)); // a name written as several adjacent encoded words
      for (const a of list) {
        assert.ok(!/[\r\n]/.test(a.name), what);
        if (!split) assert.equal(a.name, pyName(t), what);
        else assert.equal(a.name.replace(/\s+/g, ""), t.replace(/\s+/g, ""), what);
      }
    }
  }
});

test("compose() shows a subject, name and file name with encoded-word look-alikes literally (CLI -F and --subject)", async () => {
  // echo b | smtpsend -f me@example.org -F '=?UTF-8?B?DQ oQmNj…?=' --subject 'Hi =?UTF-8?B?DQ oQmNj…?=' a@example.net
  const p = "=?UTF-8?B?DQ oQmNjOiB2aWN0aW1AZXhhbXBsZS5vcmc=?=";
  const m = compose({ ...FIXED, from: { name: p, address: "me@example.org" }, to: "a@example.net", subject: `Hi ${p}`, text: "b\n" });
  assert.match(m.header, /^Subject: Hi\r\n =\?UTF-8\?Q\?=3D=3FUTF-8=3FB=3FDQ_oQmNjOiB2aWN0aW1AZXhhbXBsZS5vcmc=3D=3F=3D\?=$/m);
  const bytes = await m.toBytes();
  const mp = await parseMailparser(bytes);
  assert.equal(mp.subject, `Hi ${p}`);
  assert.equal(mp.from!.value[0]!.name, p);
  const py = parsePython(bytes);
  assert.equal(py.subject, `Hi ${p}`);
  assert.ok(!/[\r\n]/.test(py.from![0]!.name));
});

test("compose() refuses invalid addresses and attachments", () => {
  const base: ComposeOptions = { from: "a@example.org", to: "b@example.org" };
  for (const extra of [
    { from: "a@evil.example@good.example" },
    { from: "a@example.org, c@example.org" },
    { to: "u@good.example(x)evil.example" },
    { to: { address: "Name <b@example.org>" } },
    { attachments: [{ filename: "x" }] },
    { attachments: [{ path: "/tmp/x", content: "x" }] },
    { attachments: [{ path: "/tmp/x" }] },
    { attachments: [{ content: "x", contentType: "not a type" }] },
    { attachments: [{ content: "x", cid: "has space" }] },
    { attachments: [{ content: 42 as unknown as string }] },
    { envelope: { to: ["bad address"] } },
  ] as Partial<ComposeOptions>[]) {
    assert.throws(() => compose({ ...base, ...extra }), TypeError, JSON.stringify(extra));
  }
});

test("compose() puts Bcc only in the envelope and dedupes recipients", () => {
  const m = compose({ from: "a@example.org", to: ["b@example.org", "B <b@EXAMPLE.org>"], cc: "c@example.org", bcc: ["c@example.org", "d@example.org"] });
  assert.deepEqual(m.envelope, { from: "a@example.org", to: ["b@example.org", "c@example.org", "d@example.org"] });
  assert.ok(!/^bcc:/im.test(m.header));
  assert.ok(!/(?:^|[\s<,])d@example\.org/im.test(m.header), "d@example.org only in the envelope (the random message id may end in d)");
  const o = compose({ from: "a@example.org", to: "b@example.org", envelope: { from: "", to: ["x@example.net"] } });
  assert.deepEqual(o.envelope, { from: "", to: ["x@example.net"] });
  const u = compose({ from: "jörg@example.org", to: "b@bücher.example" });
  assert.equal(u.smtputf8, true);
  // The envelope keeps the addresses as written; the client converts the domain for a server without SMTPUTF8.
  assert.deepEqual(u.envelope, { from: "jörg@example.org", to: ["b@bücher.example"] });
  // …and dedupes by the A-label form.
  const v = compose({ from: "a@example.org", to: ["b@bücher.example", "b@XN--BCHER-KVA.example"] });
  assert.deepEqual(v.envelope.to, ["b@bücher.example"]);
});

test("compose() streams file attachments through the injected reader", async () => {
  const dir = mkdtempSync(join(tmpdir(), "smtpsend-compose-"));
  try {
    const data = pseudoBytes(300_000, 11);
    const path = join(dir, "Bericht über 2024.bin");
    writeFileSync(path, data);
    const opened: string[] = [];
    const openFile = (p: string): AsyncIterable<Uint8Array> => {
      opened.push(p);
      return createReadStream(p, { highWaterMark: 16384 }) as unknown as AsyncIterable<Uint8Array>;
    };
    const m = compose({ ...FIXED, from: "a@example.org", to: "b@example.org", text: "see file", attachments: [{ path }], openFile });
    assert.deepEqual(opened, [], "files are opened only when streamed");
    const first = await m.toBytes();
    const second = await m.toBytes();
    assert.deepEqual(first, second, "path attachments can be streamed again");
    const py = parsePython(first);
    assert.equal(py.parts[1]!.filename, "Bericht über 2024.bin");
    assert.equal(py.parts[1]!.contentType, "application/octet-stream");
    assert.deepEqual(Buffer.from(py.parts[1]!.body, "base64"), Buffer.from(data));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("compose() accepts a web ReadableStream as attachment content", async () => {
  const data = pseudoBytes(100_000, 5);
  const rs = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < data.length; i += 10_000) controller.enqueue(data.slice(i, i + 10_000));
      controller.close();
    },
  });
  const m = compose({ ...FIXED, from: "a@example.org", to: "b@example.org", attachments: [{ filename: "web.bin", content: rs }] });
  const py = parsePython(await m.toBytes());
  assert.deepEqual(Buffer.from(py.parts[1]!.body, "base64"), Buffer.from(data));
  assert.throws(() => m.stream(), TypeError);
});

test("compose() refuses to stream a one-shot attachment twice", async () => {
  const m = compose({ from: "a@example.org", to: "b@example.org", attachments: [{ filename: "s.bin", content: (async function* () {
    yield new Uint8Array([1, 2, 3]);
  })() }] });
  await m.toBytes();
  assert.throws(() => m.stream(), TypeError);
});

test("compose() streams a 5 MB attachment holding at most a couple of source chunks", async () => {
  const CHUNK = 65536;
  const TOTAL = 80; // 5 MiB
  let pulled = 0;
  async function* source(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < TOTAL; i++) {
      pulled++;
      yield new Uint8Array(CHUNK).fill(i);
    }
  }
  const m = compose({ from: "a@example.org", to: "b@example.org", text: "big", attachments: [{ filename: "big.bin", content: source() }] });
  let outBytes = 0;
  let maxAhead = 0;
  let maxChunk = 0;
  const tail: number[] = [];
  for await (const chunk of m.stream()) {
    outBytes += chunk.length;
    maxChunk = Math.max(maxChunk, chunk.length);
    // Source bytes pulled but not yet emitted (base64: 78 output octets per 57 input bytes).
    const emittedInput = (outBytes * 57) / 78;
    maxAhead = Math.max(maxAhead, pulled * CHUNK - emittedInput);
    if (tail.length < 3) tail.push(chunk.length);
  }
  assert.equal(pulled, TOTAL);
  assert.ok(outBytes > (TOTAL * CHUNK * 4) / 3);
  assert.ok(maxAhead <= 2 * CHUNK + 4096, `read ahead ${maxAhead} bytes`);
  assert.ok(maxChunk <= 2 * CHUNK, `largest output chunk ${maxChunk}`);
});

test("mediaTypeOf() maps common extensions", () => {
  assert.equal(mediaTypeOf("a.PDF"), "application/pdf");
  assert.equal(mediaTypeOf("photo.jpeg"), "image/jpeg");
  assert.equal(mediaTypeOf("noext"), "application/octet-stream");
  assert.equal(mediaTypeOf("mail.eml"), "application/octet-stream");
});

test("compose() refuses a hostile In-Reply-To or References at once (no backtracking)", () => {
  const base = { ...FIXED, from: "a@example.org", to: "b@example.org", text: "x" };
  const hostile = "a.".repeat(100_000) + "a,";
  assert.throws(() => compose({ ...base, inReplyTo: hostile }), /In-Reply-To .* is not a valid message id/);
  assert.throws(() => compose({ ...base, references: ["<r@x>", hostile] }), /References .* is not a valid message id/);
  const refs = Array.from({ length: 2000 }, (_, i) => `<m${i}@example.org>`).join(" ");
  const msg = compose({ ...base, references: refs });
  assert.match(msg.header, /^References: <m0@example\.org> <m1@example\.org>/m);
  assert.ok(msg.header.includes(" <m1999@example.org>\r\n"));
  for (const line of msg.header.split("\r\n")) assert.ok(line.length <= 78, line);
});
