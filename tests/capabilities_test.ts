import { test } from "node:test";
import assert from "node:assert/strict";
import { parseCapabilities } from "../src/protocol/capabilities.ts";
import { parseReplies } from "../src/protocol/reply.ts";

const ehlo = (text: string) => parseCapabilities(parseReplies(text)[0]!);

test("parseCapabilities() reads a Postfix EHLO reply", () => {
  const caps = ehlo(
    "250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n" +
      "250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
  );
  assert.equal(caps.greeting, "mail.example.org");
  assert.equal(caps.size, 10240000);
  assert.deepEqual(caps.auth, []);
  assert.deepEqual(
    [caps.pipelining, caps.startTls, caps.eightBitMime, caps.smtpUtf8, caps.dsn, caps.chunking, caps.binaryMime,
      caps.enhancedStatusCodes],
    [true, true, true, true, true, true, false, true],
  );
  assert.deepEqual([...caps.keywords.keys()], [
    "PIPELINING", "SIZE", "VRFY", "ETRN", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING",
  ]);
  assert.deepEqual(caps.keywords.get("SIZE"), ["10240000"]);
});

test("parseCapabilities() reports every flag false and SIZE null for a bare reply", () => {
  const caps = ehlo("250 mx.example.org\r\n");
  assert.equal(caps.greeting, "mx.example.org");
  assert.equal(caps.size, null);
  assert.equal(caps.keywords.size, 0);
  assert.deepEqual(
    [caps.pipelining, caps.startTls, caps.eightBitMime, caps.smtpUtf8, caps.dsn, caps.chunking, caps.binaryMime,
      caps.enhancedStatusCodes],
    [false, false, false, false, false, false, false, false],
  );
});

test("parseCapabilities() matches keywords case-insensitively and keeps parameters as sent", () => {
  const caps = ehlo("250-mx\r\n250-pipelining\r\n250-StartTLS\r\n250 x-Custom Foo bar\r\n");
  assert.equal(caps.pipelining, true);
  assert.equal(caps.startTls, true);
  assert.deepEqual(caps.keywords.get("X-CUSTOM"), ["Foo", "bar"]);
});

test("parseCapabilities() splits parameters on runs of spaces and tabs", () => {
  const caps = ehlo("250-mx\r\n250-AUTH  PLAIN\tLOGIN \r\n250 BINARYMIME\r\n");
  assert.deepEqual(caps.keywords.get("AUTH"), ["PLAIN", "LOGIN"]);
  assert.equal(caps.binaryMime, true);
});

test("parseCapabilities() upper-cases AUTH mechanisms and merges the old AUTH= form without duplicates", () => {
  const caps = ehlo("250-mx\r\n250-AUTH login plain XOAUTH2\r\n250-AUTH=LOGIN PLAIN CRAM-MD5\r\n250 OK\r\n");
  assert.deepEqual(caps.auth, ["LOGIN", "PLAIN", "XOAUTH2", "CRAM-MD5"]);
});

test("parseCapabilities() reads AUTH mechanisms from the AUTH= form alone", () => {
  assert.deepEqual(ehlo("250-mx\r\n250 AUTH=LOGIN\r\n").auth, ["LOGIN"]);
});

test("parseCapabilities() leaves out AUTH entries that are not SASL mechanism names", () => {
  assert.deepEqual(ehlo("250-mx\r\n250 AUTH PLAIN ABCDEFGHIJKLMNOPQRSTU bad/name GSSAPI\r\n").auth, ["PLAIN", "GSSAPI"]);
});

test("parseCapabilities() reads SIZE without a number, or with a bad one, as 0 (no fixed limit)", () => {
  assert.equal(ehlo("250-mx\r\n250 SIZE\r\n").size, 0);
  assert.equal(ehlo("250-mx\r\n250 SIZE 0\r\n").size, 0);
  assert.equal(ehlo("250-mx\r\n250 SIZE ten\r\n").size, 0);
  assert.equal(ehlo("250-mx\r\n250 SIZE -5\r\n").size, 0);
  assert.equal(ehlo("250-mx\r\n250 SIZE 99999999999999999999\r\n").size, 0);
  assert.equal(ehlo("250-mx\r\n250 SIZE 52428800\r\n").size, 52428800);
});

test("parseCapabilities() skips lines that are not EHLO keywords", () => {
  const caps = ehlo("250-mx\r\n250--DASH\r\n250-\r\n250-A_B\r\n250 DSN\r\n");
  assert.deepEqual([...caps.keywords.keys()], ["DSN"]);
});

test("parseCapabilities() refuses a reply that is not 2xx", () => {
  assert.throws(() => parseCapabilities(parseReplies("502 5.5.1 EHLO not supported\r\n")[0]!), TypeError);
});

test("parseCapabilities() merges many distinct parameters and mechanisms, each once, in order", () => {
  // Merging used Array.includes: quadratic in distinct parameters, which a
  // hostile server controls (~0.3 s of client CPU per EHLO within 64 KiB).
  const lines = ["mx"];
  for (let i = 0; i < 20_000; i++) lines.push(`X-K p${i} p${i % 7}`, `AUTH M${i} PLAIN`);
  const caps = parseCapabilities({ type: "reply", code: 250, enhanced: null, lines });
  const params = caps.keywords.get("X-K")!;
  assert.equal(params.length, 20_000);
  assert.deepEqual(params.slice(0, 9), ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"]);
  assert.equal(caps.auth.length, 20_001);
  assert.deepEqual(caps.auth.slice(0, 3), ["M0", "PLAIN", "M1"]);
});

test("parseCapabilities() separates by SP and HT only: another space is part of a word", () => {
  const caps = ehlo("250-mx\r\n250-SIZE\u00a0100\r\n250-\tPIPELINING \r\n250 X-A a\u00a0b\r\n");
  assert.equal(caps.size, null); // "SIZE\u00a0100" is not a keyword
  assert.equal(caps.pipelining, true);
  assert.deepEqual(caps.keywords.get("X-A"), ["a\u00a0b"]);
});
