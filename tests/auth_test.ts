/**
 * The AUTH driver (src/auth.ts) through SmtpClient against scripted servers:
 * exact bytes for fallback, cancellation and long initial responses.
 * Every mechanism against real servers: tests/interop_auth_test.ts.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { SmtpClient } from "../src/default_client.ts";
import { AuthError, ReplyError } from "../src/errors.ts";
import type { AuthOptions, TraceEvent } from "../src/options.ts";
import { scripted, type Step } from "./support/scripted.ts";

const b64 = (s: string) => btoa(s);
const HELLO: Step[] = [
  { send: "220 mx\r\n" },
  { expect: "EHLO [192.0.2.7]\r\n" },
];
const caps = (mechs: string) => ({ send: `250-mx\r\n250 AUTH ${mechs}\r\n` });

async function run(script: Step[], auth: AuthOptions, trace?: (e: TraceEvent) => void) {
  const s = scripted(script);
  const timeouts = { greeting: 3000, mail: 3000 };
  const c = new SmtpClient({ host: "mx.test", port: 587, tls: "none", allowPlaintextAuth: true, connector: s.connector, auth, timeouts, trace });
  return { s, c };
}

describe("AUTH driver", () => {
  test("PLAIN sends its initial response on the AUTH line", async () => {
    const { s, c } = await run([...HELLO, caps("PLAIN"), { expect: `AUTH PLAIN ${b64("\0u\0p")}\r\n` }, { send: "235 2.7.0 ok\r\n" }], {
      user: "u",
      pass: "p",
    });
    await c.connect();
    assert.equal(c.serverInfo.authenticated, "PLAIN");
    assert.deepEqual(s.errors, []);
  });

  test("LOGIN answers the user and password prompts in order", async () => {
    const { s, c } = await run([
      ...HELLO,
      caps("LOGIN"),
      { expect: "AUTH LOGIN\r\n" },
      { send: `334 ${b64("Username:")}\r\n` },
      { expect: `${b64("u")}\r\n` },
      { send: `334 ${b64("Password:")}\r\n` },
      { expect: `${b64("p")}\r\n` },
      { send: "235 ok\r\n" },
    ], { user: "u", pass: "p" });
    await c.connect();
    assert.deepEqual(s.errors, []);
  });

  test("a 535 to CRAM-MD5 falls back straight to PLAIN (the server may store only hashes)", async () => {
    const challenge = "<1896.697170952@mx.test>";
    const digest = createHmac("md5", "p").update(challenge).digest("hex"); // independent of src/sasl
    const { s, c } = await run([
      ...HELLO,
      caps("LOGIN PLAIN CRAM-MD5"),
      { expect: "AUTH CRAM-MD5\r\n" },
      { send: `334 ${b64(challenge)}\r\n` },
      { expect: `${b64(`u ${digest}`)}\r\n` },
      { send: "535 5.7.8 authentication failed\r\n" },
      { expect: `AUTH PLAIN ${b64("\0u\0p")}\r\n` },
      { send: "235 ok\r\n" },
    ], { user: "u", pass: "p" });
    await c.connect();
    assert.deepEqual(s.errors, []);
    assert.equal(c.serverInfo.authenticated, "PLAIN");
  });

  test("a 535 to PLAIN stops: the password is wrong, LOGIN is not tried, QUIT follows", async () => {
    const { s, c } = await run([
      ...HELLO,
      caps("LOGIN PLAIN"),
      { expect: `AUTH PLAIN ${b64("\0u\0bad")}\r\n` },
      { send: "535 5.7.8 authentication failed\r\n" },
      { expect: "QUIT\r\n" },
      { send: "221 bye\r\n" },
    ], { user: "u", pass: "bad" });
    await assert.rejects(c.connect(), (e: unknown) => e instanceof ReplyError && e.code === 535 && e.phase === "auth" && !e.temporary);
    assert.deepEqual(s.errors, []);
    assert.ok(!s.writes.some((w) => w.startsWith("AUTH LOGIN")));
  });

  test("a temporary failure (454) stops at once and is temporary", async () => {
    const { s, c } = await run([
      ...HELLO,
      caps("LOGIN PLAIN CRAM-MD5"),
      { expect: "AUTH CRAM-MD5\r\n" },
      { send: "454 4.7.0 temporary authentication failure\r\n" },
    ], { user: "u", pass: "p" });
    await assert.rejects(c.connect(), (e: unknown) => e instanceof ReplyError && e.code === 454 && e.temporary);
    assert.equal(s.writes.filter((w) => w.startsWith("AUTH")).length, 1);
  });

  test("a 334 that is not base64 is cancelled with \"*\"", async () => {
    const { s, c } = await run([
      ...HELLO,
      caps("LOGIN"),
      { expect: "AUTH LOGIN\r\n" },
      { send: "334 this is not base64!\r\n" },
      { expect: "*\r\n" },
      { send: "501 5.7.0 authentication cancelled\r\n" },
      { expect: "QUIT\r\n" },
      { send: "221 bye\r\n" },
    ], { user: "u", pass: "p" });
    await assert.rejects(c.connect(), (e: unknown) => e instanceof AuthError && /not base64/.test((e as Error).message));
    assert.deepEqual(s.errors, []);
  });

  test("a 334 loop (a challenge after the exchange is complete) is cancelled with \"*\"", async () => {
    const { s, c } = await run([
      ...HELLO,
      caps("LOGIN"),
      { expect: "AUTH LOGIN\r\n" },
      { send: `334 ${b64("Username:")}\r\n` },
      { expect: `${b64("u")}\r\n` },
      { send: `334 ${b64("Password:")}\r\n` },
      { expect: `${b64("p")}\r\n` },
      { send: `334 ${b64("Password:")}\r\n` },
      { expect: "*\r\n" },
      { send: "501 cancelled\r\n" },
      { expect: "QUIT\r\n" },
      { send: "221 bye\r\n" },
    ], { user: "u", pass: "p" });
    await assert.rejects(c.connect(), (e: unknown) => e instanceof AuthError && e.phase === "auth");
    assert.deepEqual(s.errors, []);
    assert.equal(s.position(), 13, "the whole script ran: nothing after the cancel but QUIT");
  });

  test("an initial response that would pass 512 octets goes on its own line after an empty 334", async () => {
    const token = "t".repeat(600);
    const ir = b64(`user=u\x01auth=Bearer ${token}\x01\x01`);
    const { s, c } = await run([
      ...HELLO,
      caps("XOAUTH2"),
      { expect: "AUTH XOAUTH2\r\n" },
      { send: "334 \r\n" },
      { expect: `${ir}\r\n` },
      { send: "235 ok\r\n" },
    ], { user: "u", token });
    await c.connect();
    assert.deepEqual(s.errors, []);
  });

  test("NTLM with ntlmVersion 1 sends the NTLMv1 response of MS-NLMP §4.2.2.2.1, byte for byte", async () => {
    const hex = (h: string) => btoa(String.fromCharCode(...(h.match(/../g) ?? []).map((x) => parseInt(x, 16))));
    // NEGOTIATE: UNICODE|OEM|REQUEST_TARGET|NTLM|ALWAYS_SIGN (0x00008207), no extended session security.
    const negotiate = hex("4e544c4d53535000" + "01000000" + "07820000" + "0000000020000000" + "0000000020000000");
    // A CHALLENGE shaped like Exim's spa (empty target name at offset 0x2800) with the spec's server challenge.
    const challenge = hex("4e544c4d53535000" + "02000000" + "0000000000280000" + "01820000" + "0123456789abcdef" + "00".repeat(16));
    const nt = "67c43011f30298a2ad35ece64f16331c44bdbed927841f94"; // DESL(NTOWFv1("Password"), challenge)
    const authenticate = hex(
      "4e544c4d53535000" + "03000000" +
        "1800180048000000" + // LM (a copy of the NT response) at 72
        "1800180060000000" + // NT at 96
        "0000000040000000" + // domain: empty
        "0800080040000000" + // user "User" (UTF-16LE) at 64
        "0000000048000000" + // workstation: empty
        "0000000078000000" + // session key: none
        "01820000" + // UNICODE|NTLM|ALWAYS_SIGN
        "5500730065007200" + nt + nt,
    );
    const events: TraceEvent[] = [];
    const { s, c } = await run([
      ...HELLO,
      caps("NTLM"),
      { expect: `AUTH NTLM ${negotiate}\r\n` },
      { send: `334 ${challenge}\r\n` },
      { expect: `${authenticate}\r\n` },
      { send: "235 2.7.0 ok\r\n" },
    ], { user: "User", pass: "Password", method: "NTLM", ntlmVersion: 1 }, (e) => events.push(e));
    await c.connect();
    assert.deepEqual(s.errors, []);
    assert.equal(c.serverInfo.authenticated, "NTLM");
    const sent = events.filter((e) => e.direction === "send").map((e) => e.line);
    assert.deepEqual(sent, ["EHLO [192.0.2.7]", "AUTH NTLM <redacted>", "<redacted>"]);
  });

  test("ntlmVersion 1 is refused unless NTLM is named, and only 1 or 2 are accepted; no AUTH is sent", async () => {
    for (const [auth, type] of [
      [{ user: "u", pass: "p", ntlmVersion: 1 }, TypeError],
      [{ user: "u", pass: "p", method: "PLAIN", ntlmVersion: 1 }, TypeError],
      [{ user: "u", pass: "p", method: "NTLM", ntlmVersion: 3 }, RangeError],
    ] as const) {
      const { s, c } = await run([...HELLO, caps("NTLM PLAIN")], auth as AuthOptions);
      await assert.rejects(c.connect(), (e: unknown) => e instanceof type && /ntlmVersion/.test((e as Error).message));
      assert.ok(!s.writes.some((w) => w.startsWith("AUTH")), "nothing was sent for AUTH");
      await c.close();
    }
  });

  test("the trace shows AUTH payloads as <redacted>", async () => {
    const events: TraceEvent[] = [];
    const { c } = await run([
      ...HELLO,
      caps("LOGIN"),
      { expect: "AUTH LOGIN\r\n" },
      { send: `334 ${b64("Username:")}\r\n` },
      { expect: `${b64("u")}\r\n` },
      { send: `334 ${b64("Password:")}\r\n` },
      { expect: `${b64("secret")}\r\n` },
      { send: "235 ok\r\n" },
    ], { user: "u", pass: "secret" }, (e) => events.push(e));
    await c.connect();
    const sent = events.filter((e) => e.direction === "send").map((e) => e.line);
    assert.deepEqual(sent, ["EHLO [192.0.2.7]", "AUTH LOGIN", "<redacted>", "<redacted>"]);
    assert.ok(!events.some((e) => e.line.includes(b64("secret"))));
  });
});
