/**
 * exitCodeFor(): one sysexits.h status for every error class and reply code,
 * and errorLine(): one safe line on stderr.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CliError, errorLine, exitCodeFor, isAuthRequired } from "../src/cli/errors.ts";
import {
  AuthError,
  ConfigError,
  ConnectionError,
  ProtocolError,
  ReplyError,
  SmtpError,
  TimeoutError,
  TlsError,
} from "../src/errors.ts";
import type { SmtpPhase } from "../src/errors.ts";
import { QueueError } from "../src/queue.ts";

function reply(code: number, enhanced: string | null, phase: SmtpPhase, rejected?: { code: number; enhancedCode: string | null }[]) {
  const e = new ReplyError(`x: ${code}`, { code, enhanced, lines: ["text"] }, phase);
  return rejected ? Object.assign(e, { rejected }) : e;
}

describe("exitCodeFor()", () => {
  test("CLI errors carry their own status", () => {
    assert.equal(exitCodeFor(new CliError("bad", 64)), 64);
    assert.equal(exitCodeFor(new CliError("data", 65)), 65);
    assert.equal(exitCodeFor(new CliError("no input", 66)), 66);
  });

  test("configuration → 78, authentication → 77, protocol → 76", () => {
    assert.equal(exitCodeFor(new ConfigError("bad file")), 78);
    assert.equal(exitCodeFor(new AuthError("no TLS", { phase: "auth" })), 77);
    assert.equal(exitCodeFor(new ProtocolError("garbage", { phase: "ehlo" })), 76);
  });

  test("time-outs and connection failures → 75; DNS failure → 68", () => {
    assert.equal(exitCodeFor(new TimeoutError("slow", 1000, { phase: "greeting" })), 75);
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    assert.equal(exitCodeFor(new ConnectionError("Cannot connect", { phase: "connect", cause: refused })), 75);
    const nxdomain = Object.assign(new Error("getaddrinfo ENOTFOUND nowhere.invalid"), { code: "ENOTFOUND" });
    assert.equal(exitCodeFor(new ConnectionError("Cannot connect", { phase: "connect", cause: nxdomain })), 68);
    const eai = Object.assign(new Error("x"), { code: "EAI_NONAME" });
    assert.equal(exitCodeFor(new ConnectionError("Cannot connect", { phase: "connect", cause: eai })), 68);
    // Deno reports the resolver's text without a code.
    const deno = new Error("failed to lookup address information: Name or service not known");
    assert.equal(exitCodeFor(new ConnectionError("Cannot connect", { phase: "connect", cause: deno })), 68);
    // A resolver that cannot be reached is temporary.
    const again = Object.assign(new Error("getaddrinfo EAI_AGAIN mx"), { code: "EAI_AGAIN" });
    assert.equal(exitCodeFor(new ConnectionError("Cannot connect", { phase: "connect", cause: again })), 75);
  });

  test("TLS failures → 69 (75 when marked temporary)", () => {
    assert.equal(exitCodeFor(new TlsError("certificate", { phase: "tls" })), 69);
    assert.equal(exitCodeFor(new TlsError("no STARTTLS", { phase: "starttls" })), 69);
    assert.equal(exitCodeFor(new TlsError("reset", { phase: "tls", temporary: true })), 75);
  });

  test("any 4xx → 75, whatever the phase", () => {
    for (const phase of ["greeting", "ehlo", "mail", "rcpt", "data", "message", "auth"] as SmtpPhase[]) {
      assert.equal(exitCodeFor(reply(451, "4.3.0", phase)), 75, phase);
      assert.equal(exitCodeFor(reply(421, "4.7.0", phase)), 75, phase);
    }
  });

  test("5xx: greeting/EHLO/STARTTLS → 69, AUTH → 77, MAIL and the message → 65", () => {
    assert.equal(exitCodeFor(reply(554, "5.3.0", "greeting")), 69);
    assert.equal(exitCodeFor(reply(502, null, "helo")), 69);
    assert.equal(exitCodeFor(reply(454, "4.7.0", "starttls")), 75);
    assert.equal(exitCodeFor(reply(554, null, "starttls")), 69);
    assert.equal(exitCodeFor(reply(535, "5.7.8", "auth")), 77);
    assert.equal(exitCodeFor(reply(553, "5.1.8", "mail")), 65);
    assert.equal(exitCodeFor(reply(554, "5.6.0", "message")), 65);
    assert.equal(exitCodeFor(reply(552, "5.3.4", "data")), 65);
    assert.equal(exitCodeFor(reply(554, null, "bdat")), 65);
  });

  test("530 / 5.7.0 to MAIL (authentication required) → 77", () => {
    assert.equal(exitCodeFor(reply(530, "5.7.0", "mail")), 77);
    assert.equal(exitCodeFor(reply(554, "5.7.0", "mail")), 77);
    assert.equal(isAuthRequired(reply(530, null, "mail")), true);
    assert.equal(isAuthRequired(reply(530, "5.7.0", "rcpt")), true);
    assert.equal(isAuthRequired(reply(550, "5.7.1", "rcpt")), false);
    assert.equal(isAuthRequired(reply(530, "5.7.0", "ehlo")), false);
    assert.equal(isAuthRequired(new Error("x")), false);
  });

  test("recipients: all 5.1.1 → 67, other 5xx → 65, any 4xx among them → 75", () => {
    assert.equal(exitCodeFor(reply(550, "5.1.1", "rcpt", [{ code: 550, enhancedCode: "5.1.1" }, { code: 550, enhancedCode: "5.1.1" }])), 67);
    assert.equal(exitCodeFor(reply(550, "5.1.1", "rcpt", [{ code: 550, enhancedCode: "5.1.1" }, { code: 554, enhancedCode: "5.7.1" }])), 65);
    assert.equal(exitCodeFor(reply(554, "5.7.1", "rcpt", [{ code: 554, enhancedCode: "5.7.1" }])), 65);
    assert.equal(exitCodeFor(reply(550, "5.1.1", "rcpt", [{ code: 550, enhancedCode: "5.1.1" }, { code: 450, enhancedCode: "4.2.0" }])), 75);
    assert.equal(exitCodeFor(reply(550, "5.1.1", "rcpt")), 67);
    assert.equal(exitCodeFor(reply(550, null, "rcpt", [{ code: 550, enhancedCode: null }])), 65);
  });

  test("other SmtpErrors: temporary → 75, message phase → 65, else 69", () => {
    assert.equal(exitCodeFor(new SmtpError("SIZE", { phase: "mail", code: 552, enhancedCode: "5.3.4" })), 65);
    assert.equal(exitCodeFor(new SmtpError("no SMTPUTF8", { phase: "mail" })), 65);
    assert.equal(exitCodeFor(new SmtpError("busy", { phase: "mail", temporary: true })), 75);
    assert.equal(exitCodeFor(new SmtpError("weird", { phase: "vrfy" })), 69);
  });

  test("queue errors: temporary (disk full) → 75, else 74", () => {
    assert.equal(exitCodeFor(new QueueError("full", { osCode: "ENOSPC", temporary: true })), 75);
    assert.equal(exitCodeFor(new QueueError("denied", { osCode: "EACCES" })), 74);
  });

  test("anything else is an internal error → 70", () => {
    assert.equal(exitCodeFor(new TypeError("bug")), 70);
    assert.equal(exitCodeFor("string"), 70);
  });
});

describe("errorLine()", () => {
  test("one line, prefixed, with control characters from a server made harmless", () => {
    const e = new ReplyError("Message refused: 554 evil\r\ntext\x1b[31m", { code: 554, enhanced: null, lines: ["evil"] }, "message");
    const line = errorLine(e);
    assert.equal(line.split("\n").length, 2);
    assert.ok(line.startsWith("smtpsend: Message refused: 554 evil text?[31m"));
    assert.ok(line.endsWith("\n"));
  });

  test("internal errors name their class", () => {
    assert.equal(errorLine(new TypeError("oops")), "smtpsend: internal error: TypeError: oops\n");
  });
});
