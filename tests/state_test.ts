// The session table (src/protocol/state.ts) read directly. The behaviour it
// drives — pipelined groups, 421, stray replies, STARTTLS, AUTH, BDAT — is
// tested through the session core in session_test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  afterReply,
  afterSuccess,
  allowedIn,
  commandPhase,
  endsGroup,
  SESSION_COMMANDS,
  type SessionStateName,
} from "../src/protocol/state.ts";

const legal = (state: SessionStateName) => SESSION_COMMANDS.filter((c) => allowedIn(state, c));

test("the table allows each state's commands and nothing else", () => {
  assert.deepEqual(legal("greeting"), []);
  assert.deepEqual(legal("refused"), ["QUIT"]);
  assert.deepEqual(legal("greeted"), ["EHLO", "HELO", "RSET", "NOOP", "VRFY", "QUIT"]);
  assert.deepEqual(legal("ready"), ["EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RSET", "NOOP", "VRFY", "VERB", "QUIT"]);
  assert.deepEqual(legal("tls"), []);
  assert.deepEqual(legal("auth"), ["AUTH-RESPONSE", "AUTH-CANCEL"]);
  // DATA in "mail" is only reachable late (pipelined behind RCPTs that all failed).
  assert.deepEqual(legal("mail"), ["EHLO", "HELO", "RCPT", "RSET", "NOOP", "VRFY", "QUIT"]);
  assert.deepEqual(legal("rcpt"), ["EHLO", "HELO", "RCPT", "DATA", "BDAT", "BDAT-LAST", "RSET", "NOOP", "VRFY", "QUIT"]);
  assert.deepEqual(legal("data"), ["END-OF-DATA"]);
  assert.deepEqual(legal("bdat"), ["BDAT", "BDAT-LAST", "RSET", "QUIT"]);
  assert.deepEqual(legal("failed"), ["RSET", "QUIT"]);
  assert.deepEqual(legal("closed"), []);
  assert.deepEqual(legal("error"), []);
});

test("afterReply() follows the reply class and refuses classes a command cannot get", () => {
  assert.deepEqual(afterReply("greeting", "GREETING", 220), { next: "greeted" });
  assert.deepEqual(afterReply("greeting", "GREETING", 554), { next: "refused" });
  assert.deepEqual(afterReply("rcpt", "DATA", 354), { next: "data" });
  assert.deepEqual(afterReply("rcpt", "DATA", 250), { error: "Reply 250 is not a valid answer to DATA" });
  assert.deepEqual(afterReply("ready", "MAIL", 354), { error: "Reply 354 is not a valid answer to MAIL" });
  assert.deepEqual(afterReply("ready", "QUIT", 500), { next: "closed" });
  assert.deepEqual(afterReply("auth", "AUTH-CANCEL", 501), { next: "ready" });
  assert.deepEqual(afterReply("auth", "AUTH-CANCEL", 235), { error: "Reply 235 is not a valid answer to AUTH-CANCEL" });
  // Pipelined behind a failure: a rejection is expected, an acceptance is out of sequence.
  assert.deepEqual(afterReply("ready", "RCPT", 503), { next: "ready" });
  assert.deepEqual(afterReply("ready", "RCPT", 250), {
    error: 'Reply 250 accepts RCPT although it is out of sequence in state "ready"',
  });
  assert.deepEqual(afterReply("bdat", "BDAT", 552), { next: "failed" });
  assert.deepEqual(afterReply("failed", "MAIL", 250), { next: "mail" });
});

test("afterSuccess() gives the expected state a pipelined command leads to", () => {
  assert.equal(afterSuccess("ready", "MAIL"), "mail");
  assert.equal(afterSuccess("mail", "RCPT"), "rcpt");
  assert.equal(afterSuccess("rcpt", "DATA"), "data");
  assert.equal(afterSuccess("data", "END-OF-DATA"), "ready");
  assert.equal(afterSuccess("rcpt", "BDAT-LAST"), "ready");
  assert.equal(afterSuccess("ready", "QUIT"), "closed");
  assert.equal(afterSuccess("ready", "RCPT"), "ready"); // no row: unchanged
});

test("endsGroup() marks the commands RFC 2920 §3.1, RFC 3207 and RFC 4954 put last in a group", () => {
  const enders = SESSION_COMMANDS.filter(endsGroup);
  assert.deepEqual(enders, ["EHLO", "HELO", "STARTTLS", "AUTH", "AUTH-RESPONSE", "AUTH-CANCEL", "DATA", "NOOP", "VRFY", "VERB", "QUIT"]);
  assert.equal(endsGroup("GREETING"), true);
});

test("commandPhase() names the SMTP phase for errors", () => {
  assert.equal(commandPhase("GREETING"), "greeting");
  assert.equal(commandPhase("RCPT"), "rcpt");
  assert.equal(commandPhase("END-OF-DATA"), "message");
  assert.equal(commandPhase("BDAT-LAST"), "message");
  assert.equal(commandPhase("AUTH-RESPONSE"), "auth");
  assert.equal(commandPhase("AUTH-CANCEL"), "auth");
});
