/**
 * Display names are data, never header text (src/message/address.ts):
 * encoded words are decoded only where RFC 2047 §5 allows them (whole words
 * of a phrase or a comment, never inside a quoted string), a control in a
 * parsed name is replaced by U+FFFD, and a control in a name the caller gives
 * is refused — so no name reaches a header with a line break, whichever way
 * it flows (compose(), prepareRaw() with -F, the CLI).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type Address,
  assertDisplayName,
  cleanDisplayName,
  flattenAddresses,
  foldAddresses,
  formatAddress,
  parseAddressList,
  parseMailbox,
} from "../src/message/address.ts";
import { compose } from "../src/message/compose.ts";
import { prepareRaw } from "../src/message/envelope.ts";
import { main } from "../src/cli/main.ts";
import { FakeHost } from "./support/fake_host.ts";
import { fakeSmtp } from "./fixtures/cli/fake_smtp.ts";

const names = (s: string) => parseAddressList(s).map((a) => a.name);
const b64 = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));
/** Every control the names must never hold: C0, DEL, C1, U+2028, U+2029. */
const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/;

describe("parseAddressList(): where encoded words are decoded", () => {
  test("never inside a quoted string (the issue's example: the name stays literal, no CR LF)", () => {
    const [mb] = parseAddressList('"=?utf-8?q?a=0D=0ABcc:_x@evil.example?=" <a@b.example>');
    assert.equal(mb!.name, "=?utf-8?q?a=0D=0ABcc:_x@evil.example?=");
    assert.equal((mb as { address: string }).address, "a@b.example");
    assert.deepEqual(names('"=?UTF-8?Q?J=C3=B6rg?=" <j@example.org>'), ["=?UTF-8?Q?J=C3=B6rg?="]);
    assert.deepEqual(names('"Jörg =?UTF-8?B?eA==?=" <j@example.org>'), ["Jörg =?UTF-8?B?eA==?="]);
  });

  test("a whole phrase word is decoded; adjacent encoded words join without the space between them (§6.2)", () => {
    assert.deepEqual(names("=?UTF-8?Q?J=C3=B6rg?= <j@example.org>"), ["Jörg"]);
    assert.deepEqual(names("=?ISO-8859-1?Q?K=F6ln?= Team <k@example.org>"), ["Köln Team"]);
    assert.deepEqual(names("=?UTF-8?Q?a?= =?UTF-8?Q?b?=  c <x@example.org>"), ["ab c"]);
    assert.deepEqual(names("=?UTF-8?Q?a?=\t =?UTF-8?Q?_b?= <x@example.org>"), ["a b"]);
    assert.deepEqual(names(`=?UTF-8?B?${b64("Grüße")}?= "aus" Köln <x@example.org>`), ["Grüße aus Köln"]);
    assert.deepEqual(names("Team: =?UTF-8?Q?J=C3=B6rg?= <j@example.org>;").length, 1);
    assert.equal(parseAddressList("=?UTF-8?Q?T=C3=A9am?=: a@example.org;")[0]!.name, "Téam");
  });

  test("an encoded word glued to other text, or malformed, or in an unknown charset stays literal", () => {
    assert.deepEqual(names("x=?UTF-8?Q?J=C3=B6rg?= <j@example.org>"), ["x=?UTF-8?Q?J=C3=B6rg?="]);
    assert.deepEqual(names('"x"=?UTF-8?Q?a?= <j@example.org>'), ["x=?UTF-8?Q?a?="]);
    assert.deepEqual(names("=?UTF-8?Q?a?=. b <j@example.org>"), ["=?UTF-8?Q?a?=. b"]);
    assert.deepEqual(names("=?x-unknown?Q?a?= <j@example.org>"), ["=?x-unknown?Q?a?="]);
    assert.deepEqual(names("=?UTF-8?X?a?= <j@example.org>"), ["=?UTF-8?X?a?="]);
  });

  test("a decoded CR LF, NUL, DEL, C1 or line separator is replaced by U+FFFD; a tab by a space", () => {
    for (const bad of ["\r\n", "\0", "\x7f", "\x1b", "\u0085", "\u009b", "\u2028", "\u2029"]) {
      const got = names(`=?UTF-8?B?${b64(`a${bad}Bcc: x@evil.example`)}?= <a@b.example>`)[0]!;
      assert.equal(got, `a${"\ufffd".repeat(bad.length)}Bcc: x@evil.example`, JSON.stringify(bad));
    }
    assert.deepEqual(names(`=?UTF-8?B?${b64("a\tb")}?= <a@b.example>`), ["a b"]);
    assert.deepEqual(names(`=?UTF-8?B?${b64("  a  ")}?= <a@b.example>`), ["a"]);
  });

  test("controls written in the header itself are replaced too (atoms, quoted strings, comments)", () => {
    assert.deepEqual(names("Na\u2028me <a@b.example>"), ["Na\ufffdme"]);
    assert.deepEqual(names('"a\u0085b\tc" <a@b.example>'), ["a\ufffdb c"]);
    assert.deepEqual(names("a@b.example (x\u2029y)"), ["x\ufffdy"]);
    assert.deepEqual(names("a\ud800b <a@b.example>"), ["a\ufffdb"]);
  });

  test("an address with a control is refused, not repaired (it routes the mail)", () => {
    assert.throws(() => parseAddressList("a\u0085@b.example"), /U\+0085/);
    assert.throws(() => parseAddressList("Name <a@b\u2028.example>"), TypeError);
    assert.throws(() => parseAddressList('"a\u2028"@b.example'), /U\+2028/);
  });
});

describe("names taken from comments (a@b (Name))", () => {
  test("get the phrase's white space rules: runs become one space, ends trimmed", () => {
    assert.deepEqual(names("a@b.example (  Jane \t  Doe  )"), ["Jane Doe"]);
    assert.deepEqual(names("a@b.example (Jane Doe)"), ["Jane Doe"]);
    assert.deepEqual(names("a@b.example ()"), [""]);
  });

  test("decode whole encoded words (RFC 2047 §5(2)), not escaped or glued ones, and unescape quoted pairs", () => {
    assert.deepEqual(names("a@b.example (=?UTF-8?Q?J=C3=B6rg?= =?UTF-8?Q?_M?=)"), ["Jörg M"]);
    assert.deepEqual(names("a@b.example (x=?UTF-8?Q?J=C3=B6rg?=)"), ["x=?UTF-8?Q?J=C3=B6rg?="]);
    assert.deepEqual(names("a@b.example (\\=?UTF-8?Q?J=C3=B6rg?=)"), ["=?UTF-8?Q?J=C3=B6rg?="]);
    assert.deepEqual(names("a@b.example (a \\(b\\) c)"), ["a (b) c"]);
    assert.deepEqual(names(`a@b.example (=?UTF-8?B?${b64("x\r\nBcc: v@evil.example")}?=)`), ["x\ufffd\ufffdBcc: v@evil.example"]);
  });
});

describe("writers: a name reaches a header only encoded or quoted, never with a line break", () => {
  test("a name the caller gives with a control is refused naming the character; a tab is written as a space", () => {
    for (const bad of ["\r", "\n", "\0", "\x01", "\x7f", "\u0085", "\u2028", "\u2029", "\ud800"]) {
      assert.throws(() => formatAddress({ name: `a${bad}b`, address: "a@b.example" }), TypeError, JSON.stringify(bad));
      assert.throws(() => assertDisplayName(`a${bad}b`, "Name"), /Name "[^\u2028\u2029\x85]*" contains the (control character|lone surrogate) U\+/);
    }
    assert.equal(formatAddress({ name: "Jane\tDoe", address: "a@b.example" }), "Jane Doe <a@b.example>");
    assert.equal(cleanDisplayName("\tJane\tDoe\t"), "Jane Doe");
  });

  test("hand-built mailboxes with a control in the name are refused by foldAddresses()", () => {
    const evil: Address = { type: "mailbox", name: "x\u2028y", address: "a@b.example", local: "a", domain: "b.example" };
    assert.throws(() => foldAddresses("To", [evil]), /U\+2028/);
    const group: Address = { type: "group", name: "T\u0085", members: [] };
    assert.throws(() => foldAddresses("To", [group]), /U\+0085/);
  });

  test("seeded round trip: whatever a received header holds, parse → fold writes no bare CR/LF and reads back the same names", () => {
    let x = 12345;
    const rnd = (n: number) => ((x = (x * 1103515245 + 12345) >>> 0) >>> 8) % n;
    const alphabet = ["a", "Z", " ", "\t", "\r\n", "\0", "\x1b", "\x7f", "\u0085", "\u2028", "\u2029", "ö", "😀", '"', "\\", "(", ")", ",", ":", "@", "<", ";", "=?", "?="];
    for (let i = 0; i < 300; i++) {
      let raw = "";
      for (let k = rnd(12); k >= 0; k--) raw += alphabet[rnd(alphabet.length)];
      const header = `=?UTF-8?B?${b64(raw)}?= <a${i}@b.example>, c@d.example (=?UTF-8?B?${b64(raw)}?=)`;
      const list = parseAddressList(header);
      for (const mb of flattenAddresses(list)) assert.doesNotMatch(mb.name, CONTROL, JSON.stringify(raw));
      const folded = foldAddresses("To", list);
      assert.doesNotMatch(folded.replace(/\r\n[ \t]/g, ""), /[\r\n\0\u2028\u2029\x85]/, folded);
      const again = parseAddressList(folded.slice(4).replace(/\r\n(?=[ \t])/g, ""));
      assert.deepEqual(flattenAddresses(again).map((m) => m.name), flattenAddresses(list).map((m) => m.name), JSON.stringify(raw));
    }
  });

  test("compose(): a parsed To: name with a decoded line break is written encoded, no Bcc: line appears", async () => {
    const to = `=?UTF-8?B?${b64("x\r\nBcc: victim@evil.example")}?= <b@example.org>`;
    const m = compose({ from: "a@example.org", to, subject: "s", text: "t", now: () => new Date(0) });
    assert.ok(!/^Bcc:/im.test(m.header), m.header);
    assert.deepEqual(m.envelope.to, ["b@example.org"]);
    const toLine = m.header.replace(/\r\n(?=[ \t])/g, "").split("\r\n").find((l) => l.startsWith("To: "))!;
    assert.equal(parseMailbox(toLine.slice(4)).name, "x\ufffd\ufffdBcc: victim@evil.example");
    assert.throws(() => compose({ from: { name: "Me\u2028Bcc: v@evil.example", address: "a@example.org" }, to: "b@example.org" }), /U\+2028/);
  });

  test("prepareRaw(): -F with a control is refused; the message's own header lines pass unchanged", async () => {
    const msg = new TextEncoder().encode(`To: "=?utf-8?q?a=0D=0ABcc:_x@evil.example?=" <to@example.org>\r\nSubject: s\r\n\r\nbody\r\n`);
    await assert.rejects(prepareRaw(msg, { sender: "me@example.org", readRecipients: true, fullName: "Me\u2028x" }), /Full name \(-F\) "Me\\u2028x" contains the control character U\+2028/);
    const ok = await prepareRaw(msg, { sender: "me@example.org", readRecipients: true, fullName: "Me\tToo", now: () => new Date(0) });
    assert.deepEqual(ok.envelope.to, ["to@example.org"]);
    assert.ok(ok.added.includes("From: Me Too <me@example.org>"), ok.added.join("|"));
  });
});

describe("CLI: -F and from_full_name", () => {
  const HOME = "/home/user";
  const run = async (argv: string[], rc = "hostname = mx.example.org:25\n") => {
    const host = new FakeHost({ files: { [`${HOME}/.smtpsendrc`]: { text: rc, mode: 0o600 } }, stdin: "Subject: x\n\nbody\n" });
    const srv = fakeSmtp({});
    const code = await main(argv, { host, connector: srv.connector, now: () => new Date(0), random: (n) => new Uint8Array(n).fill(7) });
    return { code, host, srv };
  };

  test("-F holding a line separator is a usage error (64) naming -F; nothing is sent", async () => {
    const r = await run(["-f", "me@example.org", "-F", "Me\u2028Bcc: v@evil.example", "you@example.net"]);
    assert.equal(r.code, 64, r.host.stderr);
    assert.match(r.host.stderr, /Full name \(-F\) "Me\\u2028Bcc: v@evil\.example" contains the control character U\+2028/);
    assert.equal(r.srv.sessions.length, 0);
  });

  test("-F holding a C1 control (U+0085, NEL) is refused too", async () => {
    const r = await run(["-f", "me@example.org", "-F", "Me\u0085x", "you@example.net"]);
    assert.equal(r.code, 64, r.host.stderr);
    assert.equal(r.srv.sessions.length, 0);
  });
});
