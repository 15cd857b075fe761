// DES known answers: FIPS 81 (1980) Appendix B, the ECB example ("Now is the time for all " under key
// 0123456789abcdef), and NBS SP 500-20 / NIST SP 800-17 Table A.1 (variable plaintext) and A.2 (variable
// key), first rows. The DESL values are MS-NLMP §4.2.2 (NTLMv1), checked in ntlm_test.ts too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fromHex, toHex, utf8 } from "../src/sasl/bytes.ts";
import { desEncryptBlock, desKeyFrom56, desl } from "../src/sasl/des.ts";

test("desEncryptBlock() matches the FIPS 81 ECB example block by block", () => {
  const key = fromHex("0123456789abcdef");
  const plain = utf8("Now is the time for all ");
  const expected = ["3fa40e8a984d4815", "6a271787ab8883f9", "893d51ec4b563b53"];
  for (let i = 0; i < 3; i++) assert.equal(toHex(desEncryptBlock(key, plain.subarray(8 * i, 8 * i + 8))), expected[i]);
});

test("desEncryptBlock() matches the SP 800-17 variable-plaintext and variable-key known answers", () => {
  assert.equal(toHex(desEncryptBlock(fromHex("0101010101010101"), fromHex("8000000000000000"))), "95f8a5e5dd31d900");
  assert.equal(toHex(desEncryptBlock(fromHex("0101010101010101"), fromHex("4000000000000000"))), "dd7f121ca5015619");
  assert.equal(toHex(desEncryptBlock(fromHex("8001010101010101"), fromHex("0000000000000000"))), "95a8d72813daa94d");
  assert.equal(toHex(desEncryptBlock(fromHex("4001010101010101"), fromHex("0000000000000000"))), "0eec1487dd8c26d5");
});

test("desEncryptBlock() ignores the parity bits of the key", () => {
  const block = fromHex("0123456789abcdef");
  assert.equal(toHex(desEncryptBlock(fromHex("0000000000000000"), block)), toHex(desEncryptBlock(fromHex("0101010101010101"), block)));
  assert.equal(toHex(desEncryptBlock(fromHex("133457799bbcdff1"), block)), "85e813540f0ab405");
});

test("desEncryptBlock() refuses keys and blocks that are not 8 bytes", () => {
  assert.throws(() => desEncryptBlock(new Uint8Array(7), new Uint8Array(8)), RangeError);
  assert.throws(() => desEncryptBlock(new Uint8Array(8), new Uint8Array(9)), RangeError);
});

test("desKeyFrom56() spreads 56 bits over 8 bytes with odd parity", () => {
  assert.equal(toHex(desKeyFrom56(fromHex("ffffffffffffff"))), "fefefefefefefefe");
  assert.equal(toHex(desKeyFrom56(fromHex("00000000000000"))), "0101010101010101");
  // 0x80 then zeros: the first key byte takes the top 7 bits (1000000 -> 1000000p).
  assert.equal(toHex(desKeyFrom56(fromHex("80000000000000"))), "8001010101010101");
  assert.throws(() => desKeyFrom56(new Uint8Array(8)), RangeError);
});

test("desl() is MS-NLMP's DESL: three DES blocks under the 16-byte key padded to 21", () => {
  const ntHash = fromHex("a4f49c406510bdcab6824ee7c30fd852"); // NTOWFv1("Password"), MS-NLMP §4.2.2.1.2
  assert.equal(toHex(desl(ntHash, fromHex("0123456789abcdef"))), "67c43011f30298a2ad35ece64f16331c44bdbed927841f94");
  assert.throws(() => desl(new Uint8Array(15), new Uint8Array(8)), RangeError);
  assert.throws(() => desl(new Uint8Array(16), new Uint8Array(7)), RangeError);
});
