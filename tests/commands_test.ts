import { test } from "node:test";
import assert from "node:assert/strict";
import * as cmd from "../src/protocol/commands.ts";
import { orcptValue, xtextEncode } from "../src/protocol/xtext.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (b: Uint8Array) => [...b];

test("commands without arguments are exact lines ending in CRLF", () => {
  assert.equal(text(cmd.starttls()), "STARTTLS\r\n");
  assert.equal(text(cmd.data()), "DATA\r\n");
  assert.equal(text(cmd.rset()), "RSET\r\n");
  assert.equal(text(cmd.noop()), "NOOP\r\n");
  assert.equal(text(cmd.quit()), "QUIT\r\n");
  assert.equal(text(cmd.verb()), "VERB\r\n");
  assert.equal(text(cmd.authCancel()), "*\r\n");
});

test("each call returns a fresh array", () => {
  const a = cmd.quit();
  a[0] = 0;
  assert.equal(text(cmd.quit()), "QUIT\r\n");
});

test("ehlo() and helo() write the domain or address literal", () => {
  assert.equal(text(cmd.ehlo("client.example.org")), "EHLO client.example.org\r\n");
  assert.equal(text(cmd.ehlo("[IPv6:2001:db8::1]")), "EHLO [IPv6:2001:db8::1]\r\n");
  assert.equal(text(cmd.helo("[192.0.2.1]")), "HELO [192.0.2.1]\r\n");
});

test("ehlo() refuses empty, spaced, non-ASCII and injected names", () => {
  for (const bad of ["", "a b", "bücher.de", "x\r\nMAIL FROM:<a@b>", "x\n", "x\0"]) {
    assert.throws(() => cmd.ehlo(bad), TypeError, JSON.stringify(bad));
    assert.throws(() => cmd.helo(bad), TypeError, JSON.stringify(bad));
  }
  assert.throws(() => cmd.ehlo("x\r\nQUIT"), /EHLO domain must not contain CR, LF, NUL/);
});

test("mailFrom() writes the reverse-path and the null sender", () => {
  assert.equal(text(cmd.mailFrom("me@example.org")), "MAIL FROM:<me@example.org>\r\n");
  assert.equal(text(cmd.mailFrom("")), "MAIL FROM:<>\r\n");
});

test("mailFrom() writes parameters from a record or from pairs, keys upper-cased", () => {
  assert.equal(
    text(cmd.mailFrom("a@b.c", { size: "123", BODY: "8BITMIME", SMTPUTF8: true })),
    "MAIL FROM:<a@b.c> SIZE=123 BODY=8BITMIME SMTPUTF8\r\n",
  );
  assert.equal(
    text(cmd.mailFrom("a@b.c", [["RET", "HDRS"], ["ENVID", xtextEncode("id=1 x")]])),
    "MAIL FROM:<a@b.c> RET=HDRS ENVID=id+3D1+20x\r\n",
  );
});

test("mailFrom() encodes a UTF-8 address as UTF-8 octets", () => {
  assert.deepEqual(
    bytes(cmd.mailFrom("ö@x")),
    bytes(Uint8Array.of(...new TextEncoder().encode("MAIL FROM:<"), 0xc3, 0xb6, ...new TextEncoder().encode("@x>\r\n"))),
  );
  assert.equal(cmd.needsSmtpUtf8("ö@x"), true);
  assert.equal(cmd.needsSmtpUtf8("o@x"), false);
});

test("rcptTo() writes the forward-path with DSN parameters", () => {
  assert.equal(
    text(cmd.rcptTo("you@example.net", { NOTIFY: "SUCCESS,FAILURE", ORCPT: orcptValue("you+tag@example.net") })),
    "RCPT TO:<you@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;you+2Btag@example.net\r\n",
  );
  assert.equal(text(cmd.rcptTo("Postmaster")), "RCPT TO:<Postmaster>\r\n");
});

test("rcptTo() and mailFrom() accept a quoted local part with spaces", () => {
  assert.equal(text(cmd.rcptTo('"john smith"@example.org')), 'RCPT TO:<"john smith"@example.org>\r\n');
});

test("addresses with CR, LF, NUL, angle brackets or stray spaces are refused before any byte", () => {
  const bad = [
    "a@b>\r\nRCPT TO:<evil@x",
    "a@b\nDATA",
    "a@b\r",
    "a\0@b",
    "a@b\x7f",
    "a\u0085@b",
    "<a@b>",
    "a>b@c",
    "a b@c",
    "a@b c",
    '"a b"@c d',
  ];
  for (const a of bad) {
    assert.throws(() => cmd.mailFrom(a), TypeError, JSON.stringify(a));
    assert.throws(() => cmd.rcptTo(a), TypeError, JSON.stringify(a));
  }
  assert.throws(() => cmd.rcptTo(""), /RCPT TO address must not be empty/);
  assert.throws(() => cmd.mailFrom("a\r\nb"), /MAIL FROM address must not contain CR, LF, NUL/);
});

test("parameters with CR, LF, spaces, = or non-ASCII are refused, naming the parameter", () => {
  const cases: [string, string | true][][] = [
    [["SIZE", "1\r\nRCPT TO:<x@y>"]],
    [["X-A", "a b"]],
    [["X-A", "a=b"]],
    [["X-A", "é"]],
    [["X-A", ""]],
    [["X A", "1"]],
    [["X\r\nA", "1"]],
    [["-X", "1"]],
    [["", true]],
    [["SIZE", "1"], ["size", "2"]],
  ];
  for (const params of cases) {
    assert.throws(() => cmd.mailFrom("a@b", params), TypeError, JSON.stringify(params));
    assert.throws(() => cmd.rcptTo("a@b", params), TypeError, JSON.stringify(params));
  }
  assert.throws(() => cmd.mailFrom("a@b", { "X-A": "a b" }), /MAIL FROM parameter X-A must be printable ASCII/);
  assert.throws(() => cmd.mailFrom("a@b", { SIZE: "1", size: "2" }), /parameter "SIZE" is given twice/);
});

test("SIZE, ENVID and ORCPT values are checked", () => {
  assert.throws(() => cmd.mailFrom("a@b", { SIZE: "12k" }), /SIZE must be a decimal number/);
  assert.throws(() => cmd.mailFrom("a@b", { ENVID: "a+b" }), /ENVID must be xtext/);
  assert.throws(() => cmd.mailFrom("a@b", { ENVID: "x".repeat(101) }), /at most 100 characters/);
  assert.equal(text(cmd.mailFrom("a@b", { ENVID: "x".repeat(100) })).length, 124);
  assert.throws(() => cmd.rcptTo("a@b", { ORCPT: "a@b" }), /addr-type;xtext/);
  assert.throws(() => cmd.rcptTo("a@b", { ORCPT: "rfc822;a+b" }), /addr-type;xtext/);
  assert.throws(() => cmd.rcptTo("a@b", { ORCPT: "rfc822;" + "x".repeat(494) }), /at most 500/);
  assert.equal(
    text(cmd.rcptTo("j@x", { ORCPT: orcptValue("jö@x") })),
    "RCPT TO:<j@x> ORCPT=utf-8;j\\x{F6}@x\r\n",
  );
});

test("MAIL and RCPT lines: 512 octets without parameters, up to 512 more per parameter", () => {
  const local = "a".repeat(512 - "MAIL FROM:<@b>\r\n".length);
  assert.equal(cmd.mailFrom(`${local}@b`).length, 512);
  assert.throws(() => cmd.mailFrom(`${local}a@b`), RangeError);
  assert.throws(() => cmd.rcptTo(`${"r".repeat(512)}@b`), RangeError);
  // " X-A=" + 507 octets = 512.
  const long = cmd.mailFrom(`${local}@b`, { "X-A": "v".repeat(507), "X-B": "w".repeat(507) });
  assert.equal(long.length, 512 + 2 * 512);
  assert.throws(() => cmd.mailFrom("a@b", { "X-A": "v".repeat(508) }), RangeError);
});

test("auth() writes the mechanism, the initial response, and = for an empty one", () => {
  assert.equal(text(cmd.auth("plain", "AHVzZXIAcGFzcw==")), "AUTH PLAIN AHVzZXIAcGFzcw==\r\n");
  assert.equal(text(cmd.auth("PLAIN", "")), "AUTH PLAIN =\r\n");
  assert.equal(text(cmd.auth("LOGIN")), "AUTH LOGIN\r\n");
  assert.equal(text(cmd.auth("SCRAM-SHA-256", "biws")), "AUTH SCRAM-SHA-256 biws\r\n");
});

test("auth() refuses bad mechanisms and responses that are not base64", () => {
  for (const m of ["", "PL AIN", "PLAIN\r\nQUIT", "ABCDEFGHIJKLMNOPQRSTU", "ö"]) assert.throws(() => cmd.auth(m), TypeError);
  for (const r of ["=", "abc", "ab c=", "a\r\nb", "*", "YQ==YQ=="]) assert.throws(() => cmd.auth("PLAIN", r), TypeError, r);
});

test("auth() refuses a line over MAX_AUTH_LINE so the response can move to a continuation", () => {
  const fits = "A".repeat(cmd.MAX_AUTH_LINE - "AUTH CRAM-MD5 \r\n".length);
  assert.equal(fits.length % 4, 0);
  assert.equal(cmd.auth("CRAM-MD5", fits).length, cmd.MAX_AUTH_LINE);
  assert.throws(() => cmd.auth("CRAM-MD5", fits + "AAAA"), RangeError);
});

test("authResponse() writes a base64 line, an empty line for an empty response, up to 12288 octets", () => {
  assert.equal(text(cmd.authResponse("dXNlcg==")), "dXNlcg==\r\n");
  assert.equal(text(cmd.authResponse("")), "\r\n");
  assert.equal(cmd.authResponse("A".repeat(12284)).length, 12286);
  assert.throws(() => cmd.authResponse("A".repeat(12288)), RangeError);
  assert.throws(() => cmd.authResponse("*"), TypeError);
  assert.throws(() => cmd.authResponse("dXNl\r\ncg=="), TypeError);
});

test("bdat() writes the size and LAST", () => {
  assert.equal(text(cmd.bdat(123, false)), "BDAT 123\r\n");
  assert.equal(text(cmd.bdat(0, true)), "BDAT 0 LAST\r\n");
  for (const n of [-1, 1.5, NaN, Infinity, 2 ** 53]) assert.throws(() => cmd.bdat(n, true), RangeError);
});

test("vrfy() writes its argument and refuses control characters", () => {
  assert.equal(text(cmd.vrfy("Smith")), "VRFY Smith\r\n");
  assert.equal(text(cmd.vrfy("John Smith")), "VRFY John Smith\r\n");
  assert.throws(() => cmd.vrfy("a\r\nQUIT"), TypeError);
  assert.throws(() => cmd.vrfy(" "), TypeError);
  assert.throws(() => cmd.vrfy("x".repeat(510)), RangeError);
});
