/**
 * isValidEnvelopeAddress() and isAddressLiteral() (src/message/address.ts)
 * against tables of valid and invalid addresses: RFC 5321 §4.1.2/§4.1.3
 * grammar cases, and edge cases in the style of the public corpora (isemail,
 * Go net/mail, CPython's email package, nodemailer).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { isAddressLiteral, isValidEnvelopeAddress } from "../src/message/address.ts";
import { firstForbidden, isControl, isNonCharacter } from "../src/message/chars.ts";

const VALID_LITERALS = [
  "[0.0.0.0]", "[255.255.255.255]", "[192.0.2.1]", "[10.0.0.1]", "[1.2.3.4]", "[199.249.100.99]",
  "[IPv6:1:2:3:4:5:6:7:8]", "[IPv6:ffff:FFFF:0:0:0:0:0:1]", "[IPv6:2001:db8:0:0:0:0:0:1]",
  "[IPv6:::]", "[IPv6:::1]", "[IPv6:1::]", "[IPv6:2001:db8::1]", "[IPv6:1:2:3::6:7:8]", "[IPv6:1::3:4:5:6:7]",
  "[IPv6:1:2:3:4:5:6::]", "[IPv6:::3:4:5:6:7:8]", "[ipv6:::1]", "[IPV6:abcd::]",
  "[IPv6:1:2:3:4:5:6:192.0.2.1]", "[IPv6:::192.0.2.1]", "[IPv6:::ffff:192.0.2.1]", "[IPv6:1:2:3:4::192.0.2.1]",
  "[IPv6:1::4:5:6:192.0.2.1]", "[IPv6:1:2::192.0.2.1]", "[IPv6:::3:4:5:6:255.255.255.255]",
];

const INVALID_LITERALS = [
  // IPv4: range, count, leading zeros (octal to inet_aton), empty or extra parts, signs, spaces
  "[255.255.255.256]", "[256.0.0.0]", "[1.2.3]", "[1.2.3.4.5]", "[1.2.3.]", "[.1.2.3]", "[1..2.3]",
  "[01.2.3.4]", "[1.2.3.04]", "[010.0.0.1]", "[000.0.0.0]", "[1.2.3.1000]", "[+1.2.3.4]", "[1.2.3.4 ]",
  "[ 1.2.3.4]", "[1.2.3.4x]", "[0x7f.0.0.1]", "[]", "[1.2.3.4", "1.2.3.4]", "[１.2.3.4]",
  // IPv6: the example, group counts, one "::" only, group width, stray colons, tag
  "[IPv6:1::2:]", "[IPv6::1::2]", "[IPv6:1:2:3:4:5:6:7]", "[IPv6:1:2:3:4:5:6:7:8:9]", "[IPv6:1:2:3:4:5:6:7::]",
  "[IPv6:::2:3:4:5:6:7:8]", "[IPv6:1:2:3:4::5:6:7]", "[IPv6:1::2::3]", "[IPv6:::1::]", "[IPv6:12345::]",
  "[IPv6:g::1]", "[IPv6::1]", "[IPv6:1:]", "[IPv6:]", "[IPv6:1:2:3:4:5:6:7:8:]", "[IPv6::::]", "[IPv6 ::1]",
  "[IPv6:::1 ]", "[IPv6::ffff:1.2.3.4]", "[::1]", "[2001:db8::1]", "[IPv7:::1]", "[IPv6:1:2:3:4:5:192.0.2.1]",
  "[IPv6:1:2:3:4:5:6:7:192.0.2.1]", "[IPv6:1:2:3:4:5::192.0.2.1]", "[IPv6:::3:4:5:6:7:192.0.2.1]",
  "[IPv6:::192.0.2.256]", "[IPv6:::192.0.2]", "[IPv6:::01.2.3.4]", "[IPv6:1.2.3.4]", "[IPv6:1::2:1.2.3.4:5]",
  // General-address-literals: no tag but IPv6 is registered with IANA
  "[x400:abc]", "[tag:content]", "[a-b:c]", "[IPv4:1.2.3.4]", "[:1.2.3.4]",
];

test("isAddressLiteral() accepts IPv4 0–255 and every IPv6 form of RFC 5321 §4.1.3", () => {
  for (const l of VALID_LITERALS) assert.equal(isAddressLiteral(l), true, l);
});

test("isAddressLiteral() refuses bad octets, leading zeros, wrong IPv6 group counts and unregistered tags", () => {
  for (const l of INVALID_LITERALS) assert.equal(isAddressLiteral(l), false, l);
});

const VALID = [
  "a@example.org", "A@EXAMPLE.ORG", "first.last@example.org", "x@a", "1234567890@example.org",
  "!#$%&'*+-/=?^_`{|}~@example.org", "user+tag@sub.example.co.uk", "a@xn--bcher-kva.example",
  "a@a-b.example", "a@1example.org", "a@_dmarc.example.org", "a@1.2.3.4",
  '"a b"@example.org', '""@example.org', '"a\\"b"@example.org', '"a\\\\b"@example.org', '"a@b"@example.org',
  '"very.(),:;<>[]\\".VERY.\\"very@\\\\ \\"very\\".unusual"@strange.example.com', '"a..b"@example.org',
  "a@[192.0.2.1]", "a@[IPv6:2001:db8::1]", "a@[IPv6:::ffff:192.0.2.1]",
  `${"x".repeat(64)}@example.org`, `${"x".repeat(100)}@example.org`, // long local parts (SRS, VERP) are accepted
  `a@${"l".repeat(63)}.example`, `a@${Array(4).fill("d".repeat(61)).join(".")}.example`.slice(0, 254),
  // RFC 6531 (SMTPUTF8)
  "用户@例子.广告", "jörg@bücher.example", "δοκιμή@παράδειγμα.δοκιμή", "a@xn--80ak6aa92e.com", "😀@example.org",
  '"jö rg"@example.org',
];

const INVALID = [
  // structure
  "", "a", "@example.org", "a@", "a@@example.org", "a@b@example.org".replace("@b", "@"), ".a@example.org",
  "a.@example.org", "a..b@example.org", "a b@example.org", "a@exa mple.org", "a@example.org.", "a@.example.org",
  "a@example..org", "a@-example.org", "a@example-.org", "a@exam_ple.org<", "<a@example.org>", "a@example.org>",
  "a(comment)@example.org", "a@example.org (Name)", "Name <a@example.org>", '"a"b@example.org', '"a@example.org',
  '"a\\"@example.org', 'a"b"@example.org', "a\\b@example.org", "a,b@example.org", "a:b@example.org",
  "a;b@example.org", "a[b]@example.org",
  // lengths
  `${"x".repeat(250)}@e.org`, `a@${"l".repeat(64)}.example`,
  // address literals (the examples)
  "a@[255.255.255.256]", "a@[IPv6:1::2:]", "a@[1.2.3]", "a@[010.0.0.1]", "a@[tag:content]", "a@[IPv6:1:2:3:4:5:6:7]",
  "a@[192.0.2.1", "a@192.0.2.1]", "a@[192.0.2.1].example",
  // controls: C0, DEL, C1, line/paragraph separators — in the local part, the domain and quoted strings
  "a\r\n@example.org", "a@example.org\r\nRCPT TO:<b@example.org>", "a\0@example.org", "a\t@example.org",
  '"a\tb"@example.org', '"a\x7fb"@example.org', "a\x7f@example.org", "a\x1b@example.org",
  "a\u0085@example.org", "a@exa\u0085mple.org", '"a\u0080b"@example.org', "a\u009f@example.org",
  "a\u2028@example.org", "a@example.org\u2029", '"a\u2028b"@example.org',
  // lone surrogates and non-characters
  "a\ud800@example.org", "a\udc00@example.org", "a@exa\udbffmple.org", "\udc00\ud800@example.org",
  "a\ufdd0@example.org", "a\ufdef@example.org", "a\ufffe@example.org", "a@example.\uffff",
  "a\u{1fffe}@example.org", "a\u{10ffff}@example.org", '"\ufffe"@example.org',
];

test("isValidEnvelopeAddress() accepts RFC 5321/6531 paths, quoted local parts and valid literals", () => {
  for (const a of VALID) assert.equal(isValidEnvelopeAddress(a), true, JSON.stringify(a));
});

test("isValidEnvelopeAddress() refuses bad syntax, bad literals, controls, lone surrogates and non-characters", () => {
  for (const a of INVALID) assert.equal(isValidEnvelopeAddress(a), false, JSON.stringify(a));
});

test("isValidEnvelopeAddress() with utf8: false refuses every non-ASCII character, also in quoted strings", () => {
  assert.equal(isValidEnvelopeAddress("a@example.org", { utf8: false }), true);
  for (const a of ["jörg@example.org", "a@bücher.example", '"jö"@example.org', "😀@example.org", "a\u00a0@example.org"]) {
    assert.equal(isValidEnvelopeAddress(a, { utf8: false }), false, a);
  }
});

test("isValidEnvelopeAddress() takes the null sender only with allowEmpty", () => {
  assert.equal(isValidEnvelopeAddress(""), false);
  assert.equal(isValidEnvelopeAddress("", { allowEmpty: true }), true);
  assert.equal(isValidEnvelopeAddress(null as unknown as string), false);
});

test("firstForbidden() finds controls (C0, DEL, C1, U+2028/9), lone surrogates and non-characters; astral pairs pass", () => {
  for (let cp = 0; cp < 0x20; cp++) assert.equal(isControl(cp), true);
  for (let cp = 0x7f; cp <= 0x9f; cp++) assert.equal(isControl(cp), true);
  assert.equal(isControl(0x20), false);
  assert.equal(isControl(0xa0), false);
  for (let plane = 0; plane <= 16; plane++) {
    assert.equal(isNonCharacter(plane * 0x10000 + 0xfffe), true);
    assert.equal(isNonCharacter(plane * 0x10000 + 0xffff), true);
    assert.equal(isNonCharacter(plane * 0x10000 + 0xfffd), false);
  }
  assert.deepEqual(firstForbidden("ab\u2028"), { index: 2, codePoint: 0x2028, kind: "control" });
  assert.deepEqual(firstForbidden("a\ud83d"), { index: 1, codePoint: 0xd83d, kind: "lone surrogate" });
  assert.deepEqual(firstForbidden("\ude00a"), { index: 0, codePoint: 0xde00, kind: "lone surrogate" });
  assert.deepEqual(firstForbidden("x\u{10ffff}"), { index: 1, codePoint: 0x10ffff, kind: "non-character" });
  assert.equal(firstForbidden("😀 Grüße \u00a0 ok ~"), null);
});

test("the command writer refuses the same characters in MAIL FROM and RCPT TO (the client's last line of defence)", async () => {
  const cmd = await import("../src/protocol/commands.ts");
  for (const bad of ["a\u2028@example.org", "a@example.org\u2029", "a\ud800@example.org", "a\ufdd0@example.org", "a@exa\uffffmple.org", "a\u{10fffe}@example.org", "a\u0085@example.org", "a\x7f@example.org"]) {
    assert.throws(() => cmd.mailFrom(bad), TypeError, JSON.stringify(bad));
    assert.throws(() => cmd.rcptTo(bad), TypeError, JSON.stringify(bad));
  }
  assert.equal(new TextDecoder().decode(cmd.rcptTo("😀@bücher.example")), "RCPT TO:<😀@bücher.example>\r\n");
});
