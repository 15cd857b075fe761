/**
 * The SMTP session as data (design note 2, h11's `_state.py`): which command
 * is legal in which state, where each reply class leads, which commands end a
 * pipelined group, and each command's error phase. One table, no I/O, no
 * class: the session core (`session.ts`) is its only user, and the only place
 * that moves a session from state to state.
 *
 * With PIPELINING (RFC 2920) commands go out before earlier replies are in.
 * Legality is then judged against the *expected* state (every pending
 * command assumed to succeed, {@link afterSuccess}); replies move the
 * *confirmed* state, one pending command at a time, in order
 * ({@link afterReply}).
 *
 * Grouping (RFC 2920 §3.1): MAIL, RCPT, RSET and the end of message data
 * (the lone dot, or BDAT) may be followed by more commands; EHLO, HELO, DATA,
 * VRFY, NOOP, QUIT, VERB, AUTH (RFC 4954 §4) and STARTTLS (RFC 3207 §4.2)
 * end a group: wait for their reply. BDAT is not pipelined behind MAIL/RCPT:
 * RFC 3030 §2 sends it "after all MAIL and RCPT responses are collected".
 *
 * @module
 */

import type { SmtpPhase } from "../errors.ts";

/** Where a session is. */
export type SessionStateName =
  /** Connected, waiting for the 220 greeting. */
  | "greeting"
  /** The greeting was negative (554 or 4xx, RFC 5321 §3.1): only QUIT. */
  | "refused"
  /** Greeted (or TLS just started): EHLO/HELO next. */
  | "greeted"
  /** EHLO/HELO accepted, no transaction. */
  | "ready"
  /** STARTTLS accepted: nothing may be sent until the TLS handshake is done. */
  | "tls"
  /** AUTH in progress: the server sent a 334 challenge. */
  | "auth"
  /** MAIL accepted. */
  | "mail"
  /** At least one RCPT accepted. */
  | "rcpt"
  /** DATA accepted (354): message content, then the lone dot. */
  | "data"
  /** BDAT chunks accepted, BDAT LAST not yet. */
  | "bdat"
  /** A BDAT failed: the transaction state is indeterminate, RSET required (RFC 3030 §2). */
  | "failed"
  /** QUIT answered, the server sent 421, or the connection ended. */
  | "closed"
  /** The server broke the protocol (stray reply, wrong reply class, malformed reply): nothing more. */
  | "error";

/**
 * A command as the state machine sees it. `END-OF-DATA` is the end of the
 * message content (the lone dot); `AUTH-RESPONSE` a SASL response line;
 * `AUTH-CANCEL` the `*` line (RFC 4954 §4).
 */
export type SessionCommand =
  | "EHLO"
  | "HELO"
  | "STARTTLS"
  | "AUTH"
  | "AUTH-RESPONSE"
  | "AUTH-CANCEL"
  | "MAIL"
  | "RCPT"
  | "DATA"
  | "END-OF-DATA"
  | "BDAT"
  | "BDAT-LAST"
  | "RSET"
  | "NOOP"
  | "VRFY"
  | "VERB"
  | "QUIT";

/** What a reply answers: a command, or the connection itself (the greeting). */
export type ReplyTo = SessionCommand | "GREETING";

/** Every command, in a fixed order (for diagnostics and tests). */
export const SESSION_COMMANDS: readonly SessionCommand[] = Object.freeze([
  "EHLO", "HELO", "STARTTLS", "AUTH", "AUTH-RESPONSE", "AUTH-CANCEL", "MAIL", "RCPT", "DATA", "END-OF-DATA",
  "BDAT", "BDAT-LAST", "RSET", "NOOP", "VRFY", "VERB", "QUIT",
]);

/** `"="`: the state does not change. */
type Target = SessionStateName | "=";
/** Where a 2xx (`ok`), 3xx (`more`) or 4xx/5xx (`fail`) reply leads; a missing class is a protocol error. */
interface Row {
  readonly ok?: Target;
  readonly more?: Target;
  readonly fail: Target;
  /** Only reachable as the reply to a command pipelined behind one that failed: never legal to send here. */
  readonly late?: true;
}

const STAY: Row = { ok: "=", fail: "=" };
const QUIT: Row = { ok: "closed", fail: "closed" };
const HELLO: Row = { ok: "ready", fail: "=" };
const RSET: Row = { ok: "ready", fail: "=" };

/** The session table: state → command → where its reply leads. */
const TABLE: { readonly [S in SessionStateName]: { readonly [C in ReplyTo]?: Row } } = {
  greeting: { GREETING: { ok: "greeted", fail: "refused" } },
  refused: { QUIT },
  greeted: { EHLO: HELLO, HELO: HELLO, RSET: STAY, NOOP: STAY, VRFY: STAY, QUIT },
  ready: {
    EHLO: HELLO,
    HELO: HELLO,
    STARTTLS: { ok: "tls", fail: "=" },
    AUTH: { ok: "ready", more: "auth", fail: "=" },
    MAIL: { ok: "mail", fail: "=" },
    RSET,
    NOOP: STAY,
    VRFY: STAY,
    VERB: STAY,
    QUIT,
  },
  tls: {},
  auth: {
    "AUTH-RESPONSE": { ok: "ready", more: "auth", fail: "ready" },
    // RFC 4954 §4: the server MUST reject a cancelled exchange with 501.
    "AUTH-CANCEL": { fail: "ready" },
  },
  mail: {
    RCPT: { ok: "rcpt", fail: "=" },
    // Pipelined DATA after every RCPT failed: some servers still say 354 (RFC 2920 §3.1); send the lone dot.
    DATA: { more: "data", fail: "=", late: true },
    EHLO: HELLO,
    HELO: HELLO,
    RSET,
    NOOP: STAY,
    VRFY: STAY,
    QUIT,
  },
  rcpt: {
    RCPT: { ok: "rcpt", fail: "=" },
    DATA: { more: "data", fail: "=" },
    BDAT: { ok: "bdat", fail: "failed" },
    "BDAT-LAST": { ok: "ready", fail: "failed" },
    EHLO: HELLO,
    HELO: HELLO,
    RSET,
    NOOP: STAY,
    VRFY: STAY,
    QUIT,
  },
  data: { "END-OF-DATA": { ok: "ready", fail: "ready" } },
  bdat: {
    BDAT: { ok: "bdat", fail: "failed" },
    "BDAT-LAST": { ok: "ready", fail: "failed" },
    RSET,
    QUIT,
  },
  failed: {
    RSET,
    QUIT,
    // Chunks already in the pipeline when a BDAT failed are discarded by the server, whatever it answers.
    BDAT: { ok: "=", fail: "=", late: true },
    "BDAT-LAST": { ok: "=", fail: "=", late: true },
    // A MAIL pipelined after BDAT LAST: a 250 shows the server did reset the transaction itself.
    MAIL: { ok: "mail", fail: "=", late: true },
  },
  closed: {},
  error: {},
};

/** Per command: may more commands follow it before its reply (RFC 2920 §3.1), and its error phase. */
const COMMANDS: { readonly [C in ReplyTo]: { readonly more: boolean; readonly phase: SmtpPhase } } = {
  GREETING: { more: false, phase: "greeting" },
  EHLO: { more: false, phase: "ehlo" },
  HELO: { more: false, phase: "helo" },
  STARTTLS: { more: false, phase: "starttls" },
  AUTH: { more: false, phase: "auth" },
  "AUTH-RESPONSE": { more: false, phase: "auth" },
  "AUTH-CANCEL": { more: false, phase: "auth" },
  MAIL: { more: true, phase: "mail" },
  RCPT: { more: true, phase: "rcpt" },
  DATA: { more: false, phase: "data" },
  "END-OF-DATA": { more: true, phase: "message" },
  BDAT: { more: true, phase: "bdat" },
  "BDAT-LAST": { more: true, phase: "message" },
  RSET: { more: true, phase: "rset" },
  NOOP: { more: false, phase: "noop" },
  VRFY: { more: false, phase: "vrfy" },
  VERB: { more: false, phase: "verb" },
  QUIT: { more: false, phase: "quit" },
};

/**
 * The session stage a command's errors belong to (for `SmtpError.phase`).
 *
 * @param command A command, or `"GREETING"`.
 * @returns Its phase; the lone dot and `BDAT LAST` are `"message"`.
 */
export function commandPhase(command: ReplyTo): SmtpPhase {
  return COMMANDS[command].phase;
}

/**
 * Whether a command ends a pipelined group (RFC 2920 §3.1): nothing may be
 * sent after it until its reply is in.
 *
 * @param command A command, or `"GREETING"` (the greeting must be awaited too).
 * @returns `true` for EHLO, HELO, STARTTLS, AUTH (and its responses), DATA, NOOP, VRFY, VERB, QUIT.
 */
export function endsGroup(command: ReplyTo): boolean {
  return !COMMANDS[command].more;
}

/**
 * Whether the table lets `command` be sent in `state` (the expected state,
 * with PIPELINING). Rules outside the table (grouping, STARTTLS once, AUTH
 * once) are the session core's.
 *
 * @param state The expected state.
 * @param command The command.
 * @returns `true` when a row exists and is not reachable only late.
 */
export function allowedIn(state: SessionStateName, command: SessionCommand): boolean {
  const row = TABLE[state][command];
  return row !== undefined && row.late !== true;
}

/**
 * Where a command leads when it succeeds: 2xx, or 3xx for commands that only
 * continue (DATA).
 *
 * @param state The expected state before it.
 * @param command The command.
 * @returns The expected state after it (unchanged when the table has no row).
 */
export function afterSuccess(state: SessionStateName, command: ReplyTo): SessionStateName {
  const row = TABLE[state][command];
  return row ? resolve(row.ok ?? row.more ?? row.fail, state) : state;
}

/**
 * Where a reply to `command` leads from the confirmed `state`.
 *
 * A command with no row in `state` was pipelined behind one that failed
 * (e.g. RCPT after a refused MAIL): a 4xx/5xx to it is expected and leaves the
 * state alone; a 2xx/3xx is a protocol error.
 *
 * @param state The confirmed state.
 * @param command The oldest pending command.
 * @param code The reply code (200–559).
 * @returns `{ next }`, or `{ error }` naming why this reply cannot answer it.
 */
export function afterReply(
  state: SessionStateName,
  command: ReplyTo,
  code: number,
): { readonly next: SessionStateName } | { readonly error: string } {
  const cls = Math.floor(code / 100);
  const row = TABLE[state][command];
  let target: Target | undefined;
  if (row) target = cls === 2 ? row.ok : cls === 3 ? row.more : row.fail;
  else if (cls >= 4) target = "=";
  if (target === undefined) {
    return {
      error: row
        ? `Reply ${code} is not a valid answer to ${command}`
        : `Reply ${code} accepts ${command} although it is out of sequence in state "${state}"`,
    };
  }
  return { next: resolve(target, state) };
}

function resolve(target: Target, current: SessionStateName): SessionStateName {
  return target === "=" ? current : target;
}
