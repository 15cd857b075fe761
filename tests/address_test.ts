import { test } from "node:test";
import assert from "node:assert/strict";
import {
  asciiAddress,
  domainOf,
  flattenAddresses,
  foldAddresses,
  formatAddress,
  isValidEnvelopeAddress,
  type Mailbox,
  parseAddressList,
  parseMailbox,
} from "../src/message/address.ts";

const addr = (s: string) => flattenAddresses(parseAddressList(s)).map((m) => m.address);

test("parseMailbox() keeps an @ inside a quoted local part out of the domain", () => {
  const mb = parseMailbox('"a@gmail.com x"@internal.example');
  assert.equal(mb.domain, "internal.example");
  assert.equal(mb.local, "a@gmail.com x");
  assert.equal(mb.address, '"a@gmail.com x"@internal.example');
  assert.equal(domainOf('"a@gmail.com x"@internal.example'), "internal.example");
});

test("parseMailbox() rejects a second @ (a@evil.example@good.example)", () => {
  assert.throws(() => parseMailbox("a@evil.example@good.example"), TypeError);
  assert.throws(() => domainOf("a@evil.example@good.example"), TypeError);
  assert.throws(() => parseAddressList("x <a@evil.example@good.example>"), TypeError);
});

test("parseMailbox() never takes the text after a comment as the domain (u@good.example(x)evil.example)", () => {
  // The comment is CFWS, so "evil.example" is trailing garbage: refused, never routed to.
  assert.throws(() => parseMailbox("u@good.example(x)evil.example"), /Unexpected "evil"/);
  assert.throws(() => parseAddressList("u@good.example(x)evil.example, v@ok.example"), TypeError);
  assert.throws(() => parseMailbox("u@good.example (x) .evil.example"), TypeError);
  assert.throws(() => parseMailbox("u@good .example"), TypeError);
  // A comment alone after the address is the legacy name form and keeps the domain.
  const mb = parseMailbox("u@good.example(x)");
  assert.equal(mb.domain, "good.example");
  assert.equal(mb.name, "x");
});

test("an address inside a display name is only a name", () => {
  const mb = parseMailbox('"boss@bank.example" <attacker@evil.example>');
  assert.equal(mb.address, "attacker@evil.example");
  assert.equal(mb.name, "boss@bank.example");
  assert.equal(domainOf('"boss@bank.example" <attacker@evil.example>'), "evil.example");
  // Unquoted, the @ cannot be part of a phrase: refused instead of guessed.
  assert.throws(() => parseMailbox("boss@bank.example <attacker@evil.example>"), TypeError);
  // An encoded word that decodes to an address stays a name too.
  const enc = parseMailbox("=?UTF-8?Q?boss=40bank=2Eexample?= <attacker@evil.example>");
  assert.equal(enc.name, "boss@bank.example");
  assert.equal(enc.domain, "evil.example");
});

test("parseAddressList() reads display names, quoted strings, comments and groups", () => {
  const list = parseAddressList(
    '"Doe, Jane" <jane@example.org>, John Q. Public <jqp@example.org> (the man), ' +
      "Team: a@example.net, (nobody) b@example.net;, undisclosed-recipients:;, c@example.com (Legacy Name)",
  );
  assert.equal(list.length, 5);
  assert.deepEqual(list[0], { type: "mailbox", name: "Doe, Jane", address: "jane@example.org", local: "jane", domain: "example.org" });
  assert.equal((list[1] as Mailbox).name, "John Q. Public");
  assert.equal(list[2]!.type, "group");
  assert.deepEqual(list[2]!.type === "group" && list[2]!.members.map((m) => m.address), ["a@example.net", "b@example.net"]);
  assert.deepEqual(list[3], { type: "group", name: "undisclosed-recipients", members: [] });
  assert.equal((list[4] as Mailbox).name, "Legacy Name");
});

test("parseAddressList() unfolds folded input and tolerates empty list elements", () => {
  assert.deepEqual(addr("a@example.org,\r\n b@example.org ,, \r\n\tc@example.org"), ["a@example.org", "b@example.org", "c@example.org"]);
  assert.deepEqual(parseAddressList(""), []);
  assert.throws(() => parseAddressList("a@example.org\r\nBcc: x@example.org"), TypeError);
  assert.throws(() => parseAddressList("a@example.org\0"), TypeError);
});

test("parseAddressList() decodes encoded words in display names", () => {
  const mb = parseMailbox("=?UTF-8?Q?J=C3=B6rg?= =?ISO-8859-1?Q?_M=FCller?= <j@example.org>");
  assert.equal(mb.name, "Jörg Müller");
});

test("parseAddressList() accepts domain literals, quoted locals, UTF-8 and source routes", () => {
  assert.equal(parseMailbox("root@[192.0.2.1]").domain, "[192.0.2.1]");
  assert.equal(parseMailbox("root@[IPv6:2001:db8::1]").domain, "[IPv6:2001:db8::1]");
  assert.equal(parseMailbox('"john..doe"@example.org').address, '"john..doe"@example.org');
  assert.equal(parseMailbox('"simple"@example.org').address, "simple@example.org");
  assert.equal(parseMailbox('"a\\"b"@example.org').local, 'a"b');
  assert.equal(parseMailbox("用户@例子.广告").domain, "例子.广告");
  assert.equal(parseMailbox("Ünïcode <jörg@bücher.example>").address, "jörg@bücher.example");
  assert.equal(parseMailbox("<@relay.example,@other.example:user@real.example>").address, "user@real.example");
});

test("parseAddressList() refuses malformed addresses with a quoted token", () => {
  for (const bad of ["a..b@example.org", ".a@example.org", "a.@example.org", "a@", "@example.org", "a@b..c", "a b@example.org", "<a@example.org", "a@example.org>", "Name <>", "a@-bad-.example", '"unterminated@example.org', "(unterminated a@example.org", "a@[1.2.3.4", "G: a@b.example; extra", "G: H: a@b.example;;"]) {
    assert.throws(() => parseAddressList(bad), TypeError, bad);
  }
  assert.throws(() => parseMailbox("root"), /no "@"/);
  assert.throws(() => parseMailbox("a@example.org, b@example.org"), /exactly one mailbox/);
});

test("parseAddressList() accepts bare local parts only with allowBare", () => {
  assert.deepEqual(parseAddressList("root, Team: admin;", { allowBare: true }).flatMap((a) => (a.type === "group" ? a.members : [a])).map((m) => [m.address, m.domain]), [["root", ""], ["admin", ""]]);
});

test("parseAddressList() enforces length and nesting limits in linear time", () => {
  assert.throws(() => parseAddressList("a@b.example" + " ".repeat(300000)), RangeError);
  assert.throws(() => parseAddressList("(".repeat(20) + ")".repeat(20) + "a@b.example"), RangeError);
  assert.equal(parseMailbox("((((x)))) a@b.example").address, "a@b.example");
  assert.throws(() => parseAddressList(`${"a".repeat(1000)}@example.org`), RangeError);
  const many = Array.from({ length: 5000 }, (_, i) => `"User ${i}" <u${i}@example.org>`).join(", ");
  const t0 = Date.now();
  assert.equal(parseAddressList(many).length, 5000);
  assert.ok(Date.now() - t0 < 2000);
  const t1 = Date.now();
  assert.throws(() => parseAddressList("(" + "\\(".repeat(100000)), TypeError);
  assert.throws(() => parseAddressList('"' + "\\\"".repeat(100000)), TypeError);
  assert.ok(Date.now() - t1 < 2000);
});

test("formatAddress() quotes or encodes names and round-trips through parseMailbox()", () => {
  assert.equal(formatAddress("a@example.org"), "a@example.org");
  assert.equal(formatAddress({ name: "Jane Doe", address: "jane@example.org" }), "Jane Doe <jane@example.org>");
  assert.equal(formatAddress({ name: "Doe, Jane", address: "jane@example.org" }), '"Doe, Jane" <jane@example.org>');
  assert.equal(formatAddress({ name: 'say "hi" \\o/', address: "x@example.org" }), '"say \\"hi\\" \\\\o/" <x@example.org>');
  assert.equal(formatAddress({ name: "Jörg", address: "j@bücher.example" }), "=?UTF-8?Q?J=C3=B6rg?= <j@xn--bcher-kva.example>");
  for (const name of ["Doe, Jane", 'a "quoted" name', "Jörg Müller, Esq.", "日本語 の 名前", "x".repeat(200), "(not a comment)", "a\\b"]) {
    const mb = parseMailbox(formatAddress({ name, address: '"odd local"@example.org' }));
    assert.equal(mb.name, name);
    assert.equal(mb.address, '"odd local"@example.org');
  }
});

test("formatAddress() refuses CR, LF, NUL and encoded line breaks in names and addresses", () => {
  assert.throws(() => formatAddress({ name: "x\r\nBcc: victim@example.org", address: "a@example.org" }), TypeError);
  // A name that looks like an encoded word is not trusted but encoded: it displays literally.
  for (const name of ["=?UTF-8?Q?=0D=0A?=Bcc: victim@example.org", "=?UTF-8?B?DQpCY2M6IHZAZXhhbXBsZS5vcmc=?=", "=?UTF-8?B?DQ oQ?="]) {
    const out = formatAddress({ name, address: "a@example.org" });
    assert.ok(!out.includes(name), out);
    assert.equal(parseMailbox(out).name, name);
  }
  // A parsed name that decodes to a line break has it replaced (U+FFFD), then is written encoded.
  const out = formatAddress("=?UTF-8?Q?x=0D=0Ay?= <a@example.org>");
  assert.equal(out, "=?UTF-8?B?eO+/ve+/vXk=?= <a@example.org>");
  assert.equal(parseMailbox(out).name, "x\ufffd\ufffdy");
  assert.throws(() => formatAddress({ name: "x\u2028y", address: "a@example.org" }), /U\+2028/);
  assert.throws(() => formatAddress("=?UTF-8?B?DQ-o=?=@example.org"), TypeError, "an address cannot be encoded");
  assert.throws(() => formatAddress({ name: "x", address: "a@example.org\r\nBcc: v@example.org" }), TypeError);
  assert.throws(() => formatAddress({ name: "x", address: "Other <a@example.org>" }), TypeError);
  assert.throws(() => formatAddress("x\0 <a@example.org>"), TypeError);
});

test("foldAddresses() folds long lists at 78 columns and keeps groups", () => {
  const list = parseAddressList(Array.from({ length: 12 }, (_, i) => `"Person, Number ${i}" <person${i}@example.org>`).join(", ") + ", Team: t@example.org;");
  const folded = foldAddresses("To", list);
  for (const line of folded.split("\r\n")) assert.ok(line.length <= 78, line);
  const reparsed = parseAddressList(folded.slice(4));
  assert.deepEqual(reparsed, list);
});

test("isValidEnvelopeAddress() follows RFC 5321 path syntax", () => {
  for (const ok of ["a@example.org", "a.b+c@sub.example.org", '"a b"@example.org', "a@[192.0.2.1]", "a@[IPv6:2001:db8::1]", "jörg@bücher.example", "x@under_score.example"]) {
    assert.equal(isValidEnvelopeAddress(ok), true, ok);
  }
  for (const bad of ["", "a", "@example.org", "a@", "a@@example.org", "a@example..org", "a@-x.example", "a b@example.org", "a@example.org>", "<a@example.org>", "a@example.org\r\nRCPT TO:<b@example.org>", "a\0@example.org", `${"a".repeat(250)}@example.org`, "a..b@example.org", "a@example.org (comment)"]) {
    assert.equal(isValidEnvelopeAddress(bad), false, bad);
  }
  assert.equal(isValidEnvelopeAddress("", { allowEmpty: true }), true);
  assert.equal(isValidEnvelopeAddress("jörg@example.org", { utf8: false }), false);
});

test("asciiAddress() converts IDN domains only when the local part is ASCII", () => {
  assert.equal(asciiAddress("a@bücher.example"), "a@xn--bcher-kva.example");
  assert.equal(asciiAddress("jörg@bücher.example"), "jörg@bücher.example");
  assert.equal(asciiAddress("a@Example.ORG"), "a@Example.ORG");
});
