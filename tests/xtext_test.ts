import { test } from "node:test";
import assert from "node:assert/strict";
import { envelopeIdValue, isXtext, orcptValue, utf8AddrXtext, xtextDecode, xtextEncode } from "../src/protocol/xtext.ts";

test("xtextEncode() keeps ! to ~ except + and =", () => {
  let printable = "";
  for (let c = 0x21; c <= 0x7e; c++) if (c !== 0x2b && c !== 0x3d) printable += String.fromCharCode(c);
  assert.equal(xtextEncode(printable), printable);
});

test("xtextEncode() writes +, =, space and controls as +HH in upper case", () => {
  assert.equal(xtextEncode("a+b=c d"), "a+2Bb+3Dc+20d");
  assert.equal(xtextEncode("\x00\x1f\x7f"), "+00+1F+7F");
});

test("xtextEncode() encodes each UTF-8 octet of non-ASCII text", () => {
  assert.equal(xtextEncode("é"), "+C3+A9");
  assert.equal(xtextEncode("😀"), "+F0+9F+98+80");
});

test("xtextDecode() reverses xtextEncode()", () => {
  for (const s of ["", "plain", "a+b=c d", "jörg@ex.org", "😀+=\t"]) assert.equal(xtextDecode(xtextEncode(s)), s);
});

test("xtextDecode() refuses malformed xtext", () => {
  for (const bad of ["a b", "a=b", "+", "+2", "+2b", "+GG", "é"]) {
    assert.throws(() => xtextDecode(bad), TypeError, bad);
    assert.equal(isXtext(bad), false, bad);
  }
  assert.equal(isXtext("a+2Bb"), true);
});

test("orcptValue() writes rfc822; and xtext for an ASCII address", () => {
  assert.equal(orcptValue("a+b@example.org"), "rfc822;a+2Bb@example.org");
  assert.equal(orcptValue('"x=y"@example.org'), 'rfc822;"x+3Dy"@example.org');
});

test("orcptValue() writes utf-8; and \\x{HEX} escapes for an internationalised address (RFC 6533)", () => {
  assert.equal(orcptValue("jörg@bücher.de"), "utf-8;j\\x{F6}rg@b\\x{FC}cher.de");
  assert.equal(utf8AddrXtext("a+b=c\\d 😀"), "a\\x{2B}b\\x{3D}c\\x{5C}d\\x{20}\\x{1F600}");
  assert.equal(isXtext(orcptValue("用户@例子.广告").slice("utf-8;".length)), true);
});

test("envelopeIdValue() xtext-encodes spaces, + and = (RFC 3461 §4.4 allows white space in ENVID)", () => {
  assert.equal(envelopeIdValue("id x"), "id+20x");
  assert.equal(envelopeIdValue(" a+b=c "), "+20a+2Bb+3Dc+20");
  assert.equal(envelopeIdValue("~!\"#$%&'()*,-./:;<>?@[\\]^_`{|}"), "~!\"#$%&'()*,-./:;<>?@[\\]^_`{|}");
  for (const id of ["id x", "a+b", "a b c", "x".repeat(100)]) assert.equal(xtextDecode(envelopeIdValue(id)), id);
});

test("envelopeIdValue() refuses what RFC 3461 forbids: empty, controls, tab, DEL, non-ASCII, > 100 encoded", () => {
  for (const id of ["", "a\tb", "a\r\nMAIL FROM:<x@y>", "a\x00", "a\x7f", "caf\u00e9", "a\u2028b", "\ud800"]) {
    assert.throws(() => envelopeIdValue(id), TypeError, JSON.stringify(id));
  }
  assert.throws(() => envelopeIdValue("x".repeat(101)), RangeError);
  // 34 spaces are 102 characters once encoded.
  assert.throws(() => envelopeIdValue(" ".repeat(34)), RangeError);
  assert.equal(envelopeIdValue(" ".repeat(33)).length, 99);
  assert.equal(envelopeIdValue("x".repeat(100)).length, 100);
});
