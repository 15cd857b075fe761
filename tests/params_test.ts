// MAIL and RCPT parameters as pure functions (src/protocol/params.ts), checked
// against the writers so the bytes are the ones the session core sends.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SmtpError } from "../src/errors.ts";
import { parseCapabilities } from "../src/protocol/capabilities.ts";
import { mailFrom, rcptTo } from "../src/protocol/commands.ts";
import { envelopeNeedsSmtpUtf8, mailParameters, rcptParameters } from "../src/protocol/params.ts";
import type { Capabilities } from "../src/protocol/types.ts";

const caps = (...keywords: string[]): Capabilities =>
  parseCapabilities({ type: "reply", code: 250, enhanced: null, lines: ["mx.example", ...keywords] });
const ALL = caps("SIZE 1000", "8BITMIME", "SMTPUTF8", "DSN");
const mail = (from: string, p: ReturnType<typeof mailParameters>) => new TextDecoder().decode(mailFrom(from, p));
const rcpt = (to: string, p: ReturnType<typeof rcptParameters>) => new TextDecoder().decode(rcptTo(to, p));

test("mailParameters() sends SIZE only when offered and known, BODY=8BITMIME only for 8-bit content", () => {
  const facts = { from: "a@example.org", recipients: ["b@example.net"], size: 20, eightBit: false };
  assert.equal(mail("a@example.org", mailParameters(facts, ALL)), "MAIL FROM:<a@example.org> SIZE=20\r\n");
  assert.deepEqual(mailParameters({ ...facts, eightBit: true }, ALL), [["SIZE", "20"], ["BODY", "8BITMIME"]]);
  assert.deepEqual(mailParameters({ ...facts, size: undefined }, ALL), []);
  assert.deepEqual(mailParameters(facts, caps("8BITMIME")), []);
  assert.deepEqual(mailParameters(facts, null), []);
  // SIZE with no fixed limit (SIZE 0) is still sent.
  assert.deepEqual(mailParameters(facts, caps("SIZE")), [["SIZE", "20"]]);
});

test("mailParameters() assumes 8-bit for a stream whose content is unknown", () => {
  const facts = { from: "a@example.org", recipients: ["b@example.net"] };
  assert.deepEqual(mailParameters(facts, caps("8BITMIME")), [["BODY", "8BITMIME"]]);
  // …but does not refuse it for a server without 8BITMIME: the caller did not say it is 8-bit.
  assert.deepEqual(mailParameters(facts, caps("PIPELINING")), []);
});

test("mailParameters() asks for SMTPUTF8 for UTF-8 addresses, UTF-8 headers or on request, and refuses without it", () => {
  const base = { from: "a@example.org", recipients: ["b@example.net"], size: 3, eightBit: false };
  assert.equal(
    mail("a@example.org", mailParameters({ ...base, recipients: ["用户@例子.test"] }, ALL)),
    "MAIL FROM:<a@example.org> SIZE=3 SMTPUTF8\r\n",
  );
  assert.deepEqual(mailParameters({ ...base, headerEightBit: true, eightBit: true }, ALL), [
    ["SIZE", "3"], ["BODY", "8BITMIME"], ["SMTPUTF8", true],
  ]);
  assert.deepEqual(mailParameters({ ...base, smtpUtf8: true }, ALL), [["SIZE", "3"], ["SMTPUTF8", true]]);
  // The content needs it (UTF-8 header fields) and the server lacks it: refused before MAIL, permanent.
  assert.throws(
    () => mailParameters({ ...base, smtpUtf8: true }, caps("8BITMIME")),
    (e: unknown) =>
      e instanceof SmtpError && e.phase === "mail" && e.code === 554 && e.enhancedCode === "5.6.9" && !e.temporary &&
      /UTF-8 header fields.*does not offer SMTPUTF8.*nothing was sent/.test(e.message),
  );
  assert.throws(
    () => mailParameters({ ...base, from: "jö@example.org", recipients: ["b@example.net", "c@example.net"] }, caps("8BITMIME")),
    (e: unknown) => e instanceof SmtpError && e.phase === "mail" && /does not offer SMTPUTF8, which the non-ASCII addresses/.test(e.message),
  );
});

test("mailParameters() refuses a message over the server's SIZE, before MAIL", () => {
  assert.throws(
    () => mailParameters({ from: "a@example.org", recipients: ["b@example.net"], size: 11 }, caps("SIZE 10")),
    (e: unknown) => e instanceof SmtpError && e.code === 552 && e.enhancedCode === "5.3.4" && /exceeds the server's SIZE limit of 10/.test(e.message),
  );
  assert.deepEqual(mailParameters({ from: "a@example.org", recipients: ["b@example.net"], size: 10 }, caps("SIZE 10")), [["SIZE", "10"]]);
});

test("mailParameters() refuses 8-bit content for a server without 8BITMIME, even under SMTPUTF8, and long lines", () => {
  const facts = { from: "a@example.org", recipients: ["b@example.net"], eightBit: true };
  assert.throws(() => mailParameters(facts, caps("SIZE 1000")), (e: unknown) => e instanceof SmtpError && /8BITMIME/.test(e.message));
  // SMTPUTF8 does not declare 8-bit octets: only BODY=8BITMIME does (RFC 6152 §3; RFC 6531 §3.1 (8)).
  assert.throws(
    () => mailParameters({ ...facts, smtpUtf8: true }, caps("SMTPUTF8")),
    (e: unknown) => e instanceof SmtpError && /does not offer 8BITMIME/.test(e.message),
  );
  assert.deepEqual(mailParameters({ ...facts, smtpUtf8: true }, caps("SMTPUTF8", "8BITMIME")), [["BODY", "8BITMIME"], ["SMTPUTF8", true]]);
  assert.throws(() => mailParameters({ ...facts, maxLineLength: 999 }, ALL), RangeError);
  assert.doesNotThrow(() => mailParameters({ ...facts, maxLineLength: 998 }, ALL));
});

test("mailParameters() sends RET and ENVID (as xtext) only when DSN is offered", () => {
  const facts = { from: "a@example.org", recipients: ["b@example.net"], size: 3, eightBit: false };
  const dsn = { dsnReturn: "HDRS" as const, dsnEnvelopeId: "id+1" };
  assert.equal(mail("a@example.org", mailParameters(facts, ALL, dsn)), "MAIL FROM:<a@example.org> SIZE=3 RET=HDRS ENVID=id+2B1\r\n");
  assert.deepEqual(mailParameters(facts, caps("SIZE 1000"), dsn), [["SIZE", "3"]]);
  // A bad envelope id fails whether or not the server offers DSN.
  for (const c of [ALL, caps("SIZE 1000")]) {
    assert.throws(() => mailParameters(facts, c, { dsnEnvelopeId: "id\u00e9" }), (e: unknown) => e instanceof TypeError && /U\+00E9/.test(e.message));
  }
});

test("rcptParameters() sends NOTIFY and ORCPT only with DSN and a DSN option", () => {
  assert.equal(
    rcpt("b+x@y.test", rcptParameters("b+x@y.test", ALL, { notify: ["SUCCESS", "FAILURE"] })),
    "RCPT TO:<b+x@y.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx@y.test\r\n",
  );
  assert.deepEqual(rcptParameters("b@y.test", ALL, {}, { dsnNotify: "NEVER" }), [["NOTIFY", "NEVER"], ["ORCPT", "rfc822;b@y.test"]]);
  assert.deepEqual(rcptParameters("b@y.test", ALL, { notify: ["DELAY"] }, { dsnNotify: "NEVER" }), [
    ["NOTIFY", "DELAY"], ["ORCPT", "rfc822;b@y.test"],
  ]);
  assert.deepEqual(rcptParameters("b@y.test", ALL, { orcpt: "orig@y.test" }), [["ORCPT", "rfc822;orig@y.test"]]);
  assert.deepEqual(rcptParameters("用户@例子.test", ALL, { notify: "NEVER" })[1], ["ORCPT", "utf-8;\\x{7528}\\x{6237}@\\x{4F8B}\\x{5B50}.test"]);
  assert.deepEqual(rcptParameters("b@y.test", ALL), []);
  assert.deepEqual(rcptParameters("b@y.test", caps("SIZE"), { notify: "NEVER" }), []);
});

test("envelopeNeedsSmtpUtf8() looks at the sender and every recipient", () => {
  assert.equal(envelopeNeedsSmtpUtf8("a@example.org", ["b@example.net"]), false);
  assert.equal(envelopeNeedsSmtpUtf8("jö@example.org", []), true);
  assert.equal(envelopeNeedsSmtpUtf8("", ["b@example.net", "ü@example.net"]), true);
});
