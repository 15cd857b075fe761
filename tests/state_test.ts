import { test } from "node:test";
import assert from "node:assert/strict";
import { ProtocolError } from "../src/errors.ts";
import { commandPhase, type SessionCommand, SessionState } from "../src/protocol/state.ts";
import type { Reply } from "../src/protocol/types.ts";

const r = (code: number): Reply => ({ type: "reply", code, enhanced: null, lines: ["text"] });

/** A session that got its greeting and an EHLO reply. */
function ready(pipelining = false): SessionState {
  const s = new SessionState();
  s.received(r(220));
  s.sent("EHLO");
  s.received(r(250));
  s.pipelining = pipelining;
  return s;
}

const ALL: SessionCommand[] = [
  "EHLO", "HELO", "STARTTLS", "AUTH", "AUTH-RESPONSE", "MAIL", "RCPT", "DATA", "END-OF-DATA", "BDAT", "BDAT-LAST",
  "RSET", "NOOP", "VRFY", "VERB", "QUIT",
];
const allowed = (s: SessionState) => ALL.filter((c) => s.canSend(c));

test("SessionState allows nothing before the greeting", () => {
  const s = new SessionState();
  assert.equal(s.state, "greeting");
  assert.deepEqual(allowed(s), []);
  assert.throws(() => s.sent("EHLO"), /Wait for the server's greeting before sending EHLO/);
});

test("SessionState walks one plain transaction to QUIT", () => {
  const s = new SessionState();
  assert.deepEqual(s.received(r(220)), { type: "accepted", command: "GREETING", reply: r(220), state: "greeted" });
  assert.deepEqual(allowed(s), ["EHLO", "HELO", "RSET", "NOOP", "VRFY", "QUIT"]);
  s.sent("EHLO");
  assert.equal(s.received(r(250)).state, "ready");
  assert.deepEqual(allowed(s), ["EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RSET", "NOOP", "VRFY", "VERB", "QUIT"]);
  s.sent("MAIL");
  assert.equal(s.received(r(250)).state, "mail");
  assert.equal(s.canSend("DATA"), false);
  s.sent("RCPT");
  assert.equal(s.received(r(250)).state, "rcpt");
  assert.equal(s.acceptedRecipients, 1);
  s.sent("DATA");
  assert.deepEqual(s.received(r(354)), { type: "continue", command: "DATA", reply: r(354), state: "data" });
  assert.deepEqual(allowed(s), ["END-OF-DATA"]);
  s.sent("END-OF-DATA");
  assert.equal(s.received(r(250)).state, "ready");
  s.sent("QUIT");
  assert.deepEqual(s.received(r(221)), { type: "closed", command: "QUIT", reply: r(221), state: "closed" });
  assert.deepEqual(allowed(s), []);
});

test("SessionState moves a 554 greeting to refused, where only QUIT is allowed", () => {
  const s = new SessionState();
  const ev = s.received(r(554));
  assert.deepEqual(ev, { type: "rejected", command: "GREETING", reply: r(554), state: "refused", temporary: false });
  assert.deepEqual(allowed(s), ["QUIT"]);
});

test("SessionState closes on a 421, to any command or unsolicited", () => {
  const s = new SessionState();
  assert.deepEqual(s.received(r(421)), { type: "closed", command: "GREETING", reply: r(421), state: "closed" });
  const t = ready();
  assert.deepEqual(t.received(r(421)), { type: "closed", command: null, reply: r(421), state: "closed" });
  assert.throws(() => t.received(r(250)), /after the session closed/);
});

test("SessionState refuses a reply nothing asked for", () => {
  const s = ready();
  assert.throws(() => s.received(r(250)), (e: unknown) => e instanceof ProtocolError && /no command pending/.test(e.message));
});

test("SessionState refuses a reply class the command cannot get", () => {
  const s = ready();
  s.sent("MAIL");
  assert.throws(() => s.received(r(354)), /Reply 354 is not a valid answer to MAIL/);
  const t = ready();
  t.sent("QUIT");
  assert.throws(() => t.received(r(334)), ProtocolError);
});

test("SessionState without PIPELINING waits for each reply", () => {
  const s = ready(false);
  s.sent("MAIL");
  assert.throws(() => s.sent("RCPT"), /Wait for the reply to MAIL before sending RCPT \(no PIPELINING\)/);
});

test("SessionState pipelines MAIL, RCPT and DATA in one group, DATA last", () => {
  const s = ready(true);
  for (const c of ["MAIL", "RCPT", "RCPT", "DATA"] as const) s.sent(c);
  assert.deepEqual(s.pending, ["MAIL", "RCPT", "RCPT", "DATA"]);
  assert.equal(s.expectedState, "data");
  assert.equal(s.state, "ready");
  assert.throws(() => s.sent("RSET"), /DATA ends a pipelined group/);
  assert.equal(s.received(r(250)).type, "accepted");
  assert.equal(s.received(r(550)).type, "rejected");
  assert.equal(s.received(r(250)).state, "rcpt");
  assert.equal(s.acceptedRecipients, 1);
  assert.equal(s.received(r(354)).state, "data");
});

test("SessionState: EHLO, NOOP, VRFY, QUIT, AUTH and STARTTLS each end a group", () => {
  for (const last of ["EHLO", "NOOP", "VRFY", "QUIT", "AUTH", "STARTTLS", "VERB", "HELO"] as const) {
    const s = ready(true);
    s.sent(last);
    assert.equal(s.canSend("RSET"), false, last);
    assert.equal(s.canSend("NOOP"), false, last);
  }
  const s = ready(true);
  s.sent("RSET");
  s.sent("MAIL");
  s.sent("EHLO"); // may close a group that MAIL opened
  assert.equal(s.canSend("MAIL"), false);
});

test("SessionState: replies to commands pipelined behind a failed MAIL are rejections", () => {
  const s = ready(true);
  for (const c of ["MAIL", "RCPT", "DATA"] as const) s.sent(c);
  assert.equal(s.received(r(550)).state, "ready");
  const rcpt = s.received(r(503));
  assert.deepEqual(rcpt, { type: "rejected", command: "RCPT", reply: r(503), state: "ready", temporary: false });
  assert.equal(s.received(r(554)).type, "rejected");
  assert.equal(s.state, "ready");
  assert.deepEqual(s.pending, []);
});

test("SessionState refuses a 250 to RCPT sent behind a failed MAIL", () => {
  const s = ready(true);
  s.sent("MAIL");
  s.sent("RCPT");
  s.received(r(451));
  assert.throws(() => s.received(r(250)), /accepts RCPT although it is out of sequence in state "ready"/);
});

test("SessionState follows a 354 to DATA after every RCPT failed, with zero recipients (RFC 2920)", () => {
  const s = ready(true);
  for (const c of ["MAIL", "RCPT", "DATA"] as const) s.sent(c);
  s.received(r(250));
  s.received(r(550));
  assert.equal(s.state, "mail");
  assert.equal(s.received(r(354)).state, "data");
  assert.equal(s.acceptedRecipients, 0);
  assert.equal(s.canSend("END-OF-DATA"), true);
});

test("SessionState does not allow DATA without an accepted or pending RCPT", () => {
  const s = ready(false);
  s.sent("MAIL");
  s.received(r(250));
  s.sent("RCPT");
  s.received(r(550));
  assert.equal(s.canSend("DATA"), false);
  assert.throws(() => s.sent("DATA"), /DATA is not allowed in state "mail"/);
});

test("SessionState pipelines the next transaction behind the end of data", () => {
  const s = ready(true);
  for (const c of ["MAIL", "RCPT", "DATA"] as const) s.sent(c);
  for (const code of [250, 250, 354]) s.received(r(code));
  for (const c of ["END-OF-DATA", "MAIL", "RCPT", "DATA"] as const) s.sent(c);
  assert.equal(s.received(r(250)).command, "END-OF-DATA");
  assert.equal(s.received(r(250)).state, "mail");
  assert.equal(s.acceptedRecipients, 0);
});

test("SessionState: STARTTLS, then nothing until tlsEstablished(), then EHLO again", () => {
  const s = ready(true);
  s.sent("STARTTLS");
  assert.equal(s.received(r(220)).state, "tls");
  assert.deepEqual(allowed(s), []);
  s.tlsEstablished();
  assert.equal(s.state, "greeted");
  assert.equal(s.tls, true);
  assert.equal(s.pipelining, false);
  s.sent("EHLO");
  s.received(r(250));
  assert.equal(s.canSend("STARTTLS"), false);
  assert.throws(() => s.sent("STARTTLS"), /TLS is already active/);
});

test("SessionState stays ready after a refused STARTTLS", () => {
  const s = ready();
  s.sent("STARTTLS");
  assert.equal(s.received(r(454)).state, "ready");
  assert.throws(() => s.tlsEstablished(), TypeError);
});

test("SessionState with implicit TLS never allows STARTTLS", () => {
  const s = new SessionState({ tls: true });
  s.received(r(220));
  s.sent("EHLO");
  s.received(r(250));
  assert.equal(s.canSend("STARTTLS"), false);
});

test("SessionState runs an AUTH exchange and allows no second AUTH", () => {
  const s = ready();
  s.sent("AUTH");
  assert.equal(s.received(r(334)).state, "auth");
  assert.deepEqual(allowed(s), ["AUTH-RESPONSE"]);
  s.sent("AUTH-RESPONSE");
  assert.equal(s.received(r(334)).state, "auth");
  s.sent("AUTH-RESPONSE");
  assert.equal(s.received(r(235)).state, "ready");
  assert.equal(s.authenticated, true);
  assert.throws(() => s.sent("AUTH"), /after a successful AUTH/);
});

test("SessionState returns to ready after a failed AUTH and allows another try", () => {
  const s = ready();
  s.sent("AUTH");
  const ev = s.received(r(454));
  assert.deepEqual(ev, { type: "rejected", command: "AUTH", reply: r(454), state: "ready", temporary: true });
  assert.equal(s.authenticated, false);
  assert.equal(s.canSend("AUTH"), true);
});

test("SessionState refuses AUTH inside a transaction", () => {
  const s = ready();
  s.sent("MAIL");
  s.received(r(250));
  assert.equal(s.canSend("AUTH"), false);
});

test("SessionState sends BDAT only after the envelope replies, and pipelines chunks", () => {
  const s = ready(true);
  s.sent("MAIL");
  s.sent("RCPT");
  assert.throws(() => s.sent("BDAT"), /Wait for the MAIL and RCPT replies before sending BDAT/);
  s.received(r(250));
  s.received(r(250));
  for (const c of ["BDAT", "BDAT", "BDAT-LAST", "MAIL"] as const) s.sent(c);
  assert.equal(s.received(r(250)).state, "bdat");
  assert.equal(s.received(r(250)).state, "bdat");
  assert.equal(s.received(r(250)).state, "ready");
  assert.equal(s.received(r(250)).state, "mail");
});

test("SessionState requires RSET after a failed BDAT, discarding chunks already pipelined", () => {
  const s = ready(true);
  for (const c of ["MAIL", "RCPT"] as const) s.sent(c);
  s.received(r(250));
  s.received(r(250));
  for (const c of ["BDAT", "BDAT", "BDAT-LAST"] as const) s.sent(c);
  assert.equal(s.received(r(552)).state, "failed");
  assert.equal(s.received(r(250)).state, "failed");
  assert.equal(s.received(r(503)).state, "failed");
  assert.deepEqual(allowed(s), ["RSET", "QUIT"]);
  s.sent("RSET");
  assert.equal(s.received(r(250)).state, "ready");
});

test("SessionState accepts a MAIL pipelined after a failed BDAT LAST when the server answers 250", () => {
  const s = ready(true);
  for (const c of ["MAIL", "RCPT"] as const) s.sent(c);
  s.received(r(250));
  s.received(r(250));
  s.sent("BDAT-LAST");
  s.sent("MAIL");
  assert.equal(s.received(r(554)).state, "failed");
  assert.equal(s.received(r(250)).state, "mail");
});

test("SessionState refuses DATA and BDAT in the same transaction", () => {
  const s = ready();
  s.sent("MAIL");
  s.received(r(250));
  s.sent("RCPT");
  s.received(r(250));
  s.sent("BDAT");
  s.received(r(250));
  assert.equal(s.canSend("DATA"), false);
  assert.equal(s.canSend("MAIL"), false);
});

test("SessionState: RSET ends a transaction and EHLO inside one resets it", () => {
  const s = ready();
  s.sent("MAIL");
  s.received(r(250));
  s.sent("RSET");
  assert.equal(s.received(r(250)).state, "ready");
  s.sent("MAIL");
  s.received(r(250));
  s.sent("EHLO");
  assert.equal(s.received(r(250)).state, "ready");
});

test("commandPhase() names the SMTP phase for errors", () => {
  assert.equal(commandPhase("GREETING"), "greeting");
  assert.equal(commandPhase("RCPT"), "rcpt");
  assert.equal(commandPhase("END-OF-DATA"), "message");
  assert.equal(commandPhase("BDAT-LAST"), "message");
  assert.equal(commandPhase("AUTH-RESPONSE"), "auth");
});
