/**
 * src/message/idna.ts: RFC 3492 Punycode with the test vectors of its §7.1,
 * domain to A-labels (and what it refuses), and envelopeForServer(), the one
 * rule that decides how an envelope goes to a server with or without SMTPUTF8.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { domainToAscii, envelopeForServer, punycodeDecode, punycodeEncode } from "../src/message/idna.ts";

/** "u+0644 u+064A …" → the string; RFC 3492 writes upper-case "U+" for code points it shows upper-case. */
const cp = (s: string) => String.fromCodePoint(...s.trim().split(/\s+/).map((h) => parseInt(h.slice(2), 16)));

// RFC 3492 §7.1 sample strings (A)–(S) except (H), Korean, left out for length; (I)'s mixed-case output is given in lower case.
const VECTORS: [string, string][] = [
 ["u+0644 u+064A u+0647 u+0645 u+0627 u+0628 u+062A u+0643 u+0644 u+0645 u+0648 u+0634 u+0639 u+0631 u+0628 u+064A u+061F", "egbpdaj6bu4bxfgehfvwxn"],
 ["u+4ED6 u+4EEC u+4E3A u+4EC0 u+4E48 u+4E0D u+8BF4 u+4E2D u+6587", "ihqwcrb4cv8a8dqg056pqjye"],
 ["u+4ED6 u+5011 u+7232 u+4EC0 u+9EBD u+4E0D u+8AAA u+4E2D u+6587", "ihqwctvzc91f659drss3x8bo0yb"],
 ["U+0050 u+0072 u+006F u+010D u+0070 u+0072 u+006F u+0073 u+0074 u+011B u+006E u+0065 u+006D u+006C u+0075 u+0076 u+00ED u+010D u+0065 u+0073 u+006B u+0079", "Proprostnemluvesky-uyb24dma41a"],
 ["u+05DC u+05DE u+05D4 u+05D4 u+05DD u+05E4 u+05E9 u+05D5 u+05D8 u+05DC u+05D0 u+05DE u+05D3 u+05D1 u+05E8 u+05D9 u+05DD u+05E2 u+05D1 u+05E8 u+05D9 u+05EA", "4dbcagdahymbxekheh6e0a7fei0b"],
 ["u+092F u+0939 u+0932 u+094B u+0917 u+0939 u+093F u+0928 u+094D u+0926 u+0940 u+0915 u+094D u+092F u+094B u+0902 u+0928 u+0939 u+0940 u+0902 u+092C u+094B u+0932 u+0938 u+0915 u+0924 u+0947 u+0939 u+0948 u+0902", "i1baa7eci9glrd9b2ae1bj0hfcgg6iyaf8o0a1dig0cd"],
 ["u+306A u+305C u+307F u+3093 u+306A u+65E5 u+672C u+8A9E u+3092 u+8A71 u+3057 u+3066 u+304F u+308C u+306A u+3044 u+306E u+304B", "n8jok5ay5dzabd5bym9f0cm5685rrjetr6pdxa"],
 ["U+043F u+043E u+0447 u+0435 u+043C u+0443 u+0436 u+0435 u+043E u+043D u+0438 u+043D u+0435 u+0433 u+043E u+0432 u+043E u+0440 u+044F u+0442 u+043F u+043E u+0440 u+0443 u+0441 u+0441 u+043A u+0438", "b1abfaaepdrnnbgefbadotcwatmq2g4l"],
 ["U+0050 u+006F u+0072 u+0071 u+0075 u+00E9 u+006E u+006F u+0070 u+0075 u+0065 u+0064 u+0065 u+006E u+0073 u+0069 u+006D u+0070 u+006C u+0065 u+006D u+0065 u+006E u+0074 u+0065 u+0068 u+0061 u+0062 u+006C u+0061 u+0072 u+0065 u+006E U+0045 u+0073 u+0070 u+0061 u+00F1 u+006F u+006C", "PorqunopuedensimplementehablarenEspaol-fmd56a"],
 ["U+0054 u+1EA1 u+0069 u+0073 u+0061 u+006F u+0068 u+1ECD u+006B u+0068 u+00F4 u+006E u+0067 u+0074 u+0068 u+1EC3 u+0063 u+0068 u+1EC9 u+006E u+00F3 u+0069 u+0074 u+0069 u+1EBF u+006E u+0067 U+0056 u+0069 u+1EC7 u+0074", "TisaohkhngthchnitingVit-kjcr8268qyxafd2f1b9g"],
 ["u+0033 u+5E74 U+0042 u+7D44 u+91D1 u+516B u+5148 u+751F", "3B-ww4c5e180e575a65lsy2b"],
 ["u+5B89 u+5BA4 u+5948 u+7F8E u+6075 u+002D u+0077 u+0069 u+0074 u+0068 u+002D U+0053 U+0055 U+0050 U+0045 U+0052 u+002D U+004D U+004F U+004E U+004B U+0045 U+0059 U+0053", "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n"],
 ["U+0048 u+0065 u+006C u+006C u+006F u+002D U+0041 u+006E u+006F u+0074 u+0068 u+0065 u+0072 u+002D U+0057 u+0061 u+0079 u+002D u+305D u+308C u+305E u+308C u+306E u+5834 u+6240", "Hello-Another-Way--fc4qua05auwb3674vfr0b"],
 ["u+3072 u+3068 u+3064 u+5C4B u+6839 u+306E u+4E0B u+0032", "2-u9tlzr9756bt3uc0v"],
 ["U+004D u+0061 u+006A u+0069 u+3067 U+004B u+006F u+0069 u+3059 u+308B u+0035 u+79D2 u+524D", "MajiKoi5-783gue6qz075azm5e"],
 ["u+30D1 u+30D5 u+30A3 u+30FC u+0064 u+0065 u+30EB u+30F3 u+30D0", "de-jg4avhby1noc0d"],
 ["u+305D u+306E u+30B9 u+30D4 u+30FC u+30C9 u+3067", "d9juau41awczczp"],
 ["u+002D u+003E u+0020 u+0024 u+0031 u+002E u+0030 u+0030 u+0020 u+003C u+002D", "-> $1.00 <--"],
];

test("punycodeEncode() and punycodeDecode() reproduce the RFC 3492 §7.1 test vectors", () => {
  for (const [u, p] of VECTORS) {
    const s = cp(u);
    assert.equal(punycodeEncode(s), p, u);
    assert.equal(punycodeDecode(p), s, p);
    assert.equal(punycodeDecode(p.toUpperCase()).toLowerCase(), s.toLowerCase(), `${p} upper case`);
  }
  assert.equal(punycodeEncode(""), "");
  assert.equal(punycodeEncode("abc"), "abc-");
  assert.equal(punycodeEncode("ü"), "tda");
  assert.equal(punycodeEncode("😀"), "e28h");
  assert.equal(punycodeDecode("e28h"), "😀");
});

test("punycodeDecode() refuses malformed input; punycodeEncode() refuses lone surrogates", () => {
  for (const bad of ["ü-abc", "abc-!", "a-b-c-$", "99999999999", "a-z", "a-9"]) {
    assert.throws(() => punycodeDecode(bad), TypeError, bad);
  }
  assert.throws(() => punycodeEncode("a\ud800"), TypeError);
});

test("domainToAscii() writes each non-ASCII label as an A-label after NFC and lower case", () => {
  const cases: [string, string][] = [
    ["bücher.example", "xn--bcher-kva.example"],
    ["Bücher.example", "xn--bcher-kva.example"],
    ["BÜCHER.example", "xn--bcher-kva.example"],
    ["bu\u0308cher.example", "xn--bcher-kva.example"], // decomposed ü: NFC first
    ["例子.广告", "xn--fsqu00a.xn--4rr70v"],
    ["παράδειγμα.δοκιμή", "xn--hxajbheg2az3al.xn--jxalpdlp"],
    ["straße.de", "xn--strae-oqa.de"], // IDNA2008 keeps ß (no transitional mapping to "ss")
    ["bücher。example", "xn--bcher-kva.example"], // ideographic full stop (RFC 3490 §3.1)
    ["bücher．example｡org", "xn--bcher-kva.example.org"],
    ["sub.bücher.example", "sub.xn--bcher-kva.example"],
    ["xn--bcher-kva.example", "xn--bcher-kva.example"],
    ["example.org", "example.org"],
    ["[IPv6:::1]", "[IPv6:::1]"],
    ["münchen-ost.example", "xn--mnchen-ost-9db.example"],
    ["😀.example", "xn--e28h.example"],
  ];
  for (const [d, a] of cases) assert.equal(domainToAscii(d), a, d);
});

test("domainToAscii() agrees with the WHATWG URL parser (UTS #46) on ordinary names", () => {
  const names = ["bücher.example", "例子.广告", "παράδειγμα.δοκιμή", "пример.рф", "münchen.de", "straße.de", "日本語.jp", "ação.br", "الاختبار.مصر"];
  for (const d of names) assert.equal(domainToAscii(d), new URL(`http://${d}/`).hostname, d);
});

test("domainToAscii() refuses what it would have to guess: compatibility characters, ASCII look-alikes, controls, bad labels", () => {
  const refused: [string, RegExp][] = [
    ["ｅxample.com", /compatibility characters/], // URL maps this to example.com
    ["\u212Aelvin.example", /maps to the ASCII "kelvin"/], // Kelvin sign; URL maps it to kelvin.example
    ["ﬁle.example", /compatibility characters/], // ligature
    ["bü cher.example", /not allowed/],
    ["bü\u0085cher.example", /control character U\+0085/],
    ["bü\u2028cher.example", /U\+2028/],
    ["bü\ufffe.example", /non-character/],
    ["bü\ud800.example", /lone surrogate/],
    ["bücher..example", /empty label/],
    ["bücher.example.", /empty label/],
    ["-bücher.example", /starts or ends with "-"/],
    ["bücher-.example", /starts or ends with "-"/],
    ["\u0301a.example", /combining mark/],
    ["bü!cher.example", /not allowed/],
    [`${"ü".repeat(60)}.example`, /longer than 63 octets/],
  ];
  for (const [d, re] of refused) assert.throws(() => domainToAscii(d), re, d);
});

test("envelopeForServer(): all ASCII is unchanged and needs no SMTPUTF8", () => {
  assert.deepEqual(envelopeForServer("a@example.org", ["b@example.net"], false), { from: "a@example.org", to: ["b@example.net"], smtpUtf8: false });
  assert.deepEqual(envelopeForServer("", ["b@example.net"], true), { from: "", to: ["b@example.net"], smtpUtf8: false });
});

test("envelopeForServer(): with SMTPUTF8 offered, addresses go as written with SMTPUTF8", () => {
  assert.deepEqual(envelopeForServer("jörg@bücher.example", ["用户@例子.广告", "b@example.net"], true), {
    from: "jörg@bücher.example",
    to: ["用户@例子.广告", "b@example.net"],
    smtpUtf8: true,
  });
});

test("envelopeForServer(): without SMTPUTF8, domains become A-labels; a non-ASCII local part is an error naming it", () => {
  assert.deepEqual(envelopeForServer("me@bücher.example", ["a@例子.广告", "b@example.net", '"x y"@bücher.example'], false), {
    from: "me@xn--bcher-kva.example",
    to: ["a@xn--fsqu00a.xn--4rr70v", "b@example.net", '"x y"@xn--bcher-kva.example'],
    smtpUtf8: false,
  });
  const e = envelopeForServer("me@example.org", ["ok@bücher.example", "jörg@example.org"], false);
  assert.ok("error" in e);
  assert.equal(e.address, "jörg@example.org");
  assert.match(e.error, /"jörg@example\.org" has a non-ASCII local part, which needs SMTPUTF8/);
  const s = envelopeForServer("jörg@example.org", ["b@example.net"], false);
  assert.ok("error" in s && s.address === "jörg@example.org");
  const d = envelopeForServer("me@example.org", ["a@ｅxample.com"], false);
  assert.ok("error" in d && /compatibility characters/.test(d.error) && /does not offer SMTPUTF8/.test(d.error));
});
