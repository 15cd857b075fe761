/**
 * The SMTP session as data (design note 2): which command is legal in which
 * state, where each reply class leads, and which commands may be pipelined.
 * Pure: the driver reports what it sent and what it received.
 *
 * With PIPELINING (RFC 2920) commands go out before earlier replies are in.
 * Legality is then judged against the *expected* state (every pending
 * command assumed to succeed); replies move the *confirmed* state, one
 * pending command at a time, in order.
 *
 * Grouping (RFC 2920 §3.1): MAIL, RCPT, RSET and the end of message data
 * (the lone dot, or BDAT) may be followed by more commands; EHLO, HELO, DATA,
 * VRFY, NOOP, QUIT, VERB, AUTH (RFC 4954 §4) and STARTTLS (RFC 3207 §4.2)
 * end a group: wait for their reply. BDAT is not pipelined behind MAIL/RCPT:
 * RFC 3030 §2 sends it "after all MAIL and RCPT responses are collected".
 *
 * @module
 */

import { ProtocolError, type SmtpPhase } from "../errors.ts";
import type { Reply } from "./types.ts";

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
  /** STARTTLS accepted: nothing may be sent until the handshake (see {@link SessionState.tlsEstablished}). */
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
  /** QUIT answered, or the server sent 421. */
  | "closed";

/** A command as the state machine sees it. `END-OF-DATA` is the message content with its lone dot. */
export type SessionCommand =
  | "EHLO"
  | "HELO"
  | "STARTTLS"
  | "AUTH"
  | "AUTH-RESPONSE"
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

/** What a reply did, returned by {@link SessionState.received}. */
export type SessionEvent =
  | {
    /** 2xx. */
    readonly type: "accepted";
    readonly command: ReplyTo;
    readonly reply: Reply;
    /** The confirmed state after the reply. */
    readonly state: SessionStateName;
  }
  | {
    /** 3xx: 354 to DATA, 334 to AUTH. */
    readonly type: "continue";
    readonly command: ReplyTo;
    readonly reply: Reply;
    readonly state: SessionStateName;
  }
  | {
    /** 4xx or 5xx. */
    readonly type: "rejected";
    readonly command: ReplyTo;
    readonly reply: Reply;
    readonly state: SessionStateName;
    /** 4xx: trying later may succeed. */
    readonly temporary: boolean;
  }
  | {
    /** The reply to QUIT, or a 421 (to any command, or unsolicited: `command` is `null`). */
    readonly type: "closed";
    readonly command: ReplyTo | null;
    readonly reply: Reply;
    readonly state: "closed";
  };

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
  auth: { "AUTH-RESPONSE": { ok: "ready", more: "auth", fail: "ready" } },
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
};

/** Per command: may more commands follow it before its reply (RFC 2920 §3.1), and its error phase. */
const COMMANDS: { readonly [C in ReplyTo]: { readonly more: boolean; readonly phase: SmtpPhase } } = {
  GREETING: { more: false, phase: "greeting" },
  EHLO: { more: false, phase: "ehlo" },
  HELO: { more: false, phase: "helo" },
  STARTTLS: { more: false, phase: "starttls" },
  AUTH: { more: false, phase: "auth" },
  "AUTH-RESPONSE": { more: false, phase: "auth" },
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
 * The session state machine.
 *
 * @example
 * ```ts
 * const s = new SessionState();
 * s.received({ type: "reply", code: 220, enhanced: null, lines: ["mx ESMTP"] }); // greeted
 * s.sent("EHLO");
 * s.received({ type: "reply", code: 250, enhanced: null, lines: ["mx", "PIPELINING"] });
 * s.pipelining = true;
 * s.sent("MAIL"); s.sent("RCPT"); s.sent("DATA"); // one pipelined group
 * s.canSend("RCPT"); // false: DATA ends the group
 * ```
 */
export class SessionState {
  #state: SessionStateName = "greeting";
  #expected: SessionStateName = "greeting";
  readonly #pending: ReplyTo[] = ["GREETING"];
  #tls = false;
  #authenticated = false;
  #recipients = 0;

  /** Whether the server offered PIPELINING (set by the driver after EHLO; cleared by {@link tlsEstablished}). */
  pipelining = false;

  /**
   * Starts a session in state `"greeting"`, waiting for the server's greeting.
   *
   * @param options `tls: true` for implicit TLS (RFC 8314): STARTTLS is then never legal.
   */
  constructor(options: { readonly tls?: boolean } = {}) {
    this.#tls = options.tls === true;
  }

  /** The confirmed state: what the replies so far establish. */
  get state(): SessionStateName {
    return this.#state;
  }
  /** The state once every pending command succeeds. */
  get expectedState(): SessionStateName {
    return this.#expected;
  }
  /** Commands sent and not yet answered, oldest first. */
  get pending(): readonly ReplyTo[] {
    return this.#pending.slice();
  }
  /** Whether the connection is TLS (implicit, or after {@link tlsEstablished}). */
  get tls(): boolean {
    return this.#tls;
  }
  /** Whether AUTH succeeded in this session. */
  get authenticated(): boolean {
    return this.#authenticated;
  }
  /** RCPT commands accepted since the last accepted MAIL. Zero after a 354: send just the lone dot. */
  get acceptedRecipients(): number {
    return this.#recipients;
  }

  /**
   * Whether `command` may be sent now.
   *
   * @param command The command.
   * @returns `true` when {@link sent} would accept it.
   */
  canSend(command: SessionCommand): boolean {
    return this.#refusal(command) === null;
  }

  /**
   * Records that `command` was sent.
   *
   * @param command The command written to the server.
   * @throws {TypeError} When it is not legal now (the message says why).
   */
  sent(command: SessionCommand): void {
    const why = this.#refusal(command);
    if (why !== null) throw new TypeError(why);
    this.#pending.push(command);
    const row = TABLE[this.#expected][command]!;
    this.#expected = resolve(row.ok ?? row.more ?? row.fail, this.#expected);
  }

  /**
   * Applies the server's reply to the oldest pending command.
   *
   * @param reply The parsed reply.
   * @returns What the reply did.
   * @throws {ProtocolError} On a reply nothing asked for, or a reply class
   *   the command cannot get (e.g. 354 to RCPT, or 250 to a RCPT sent after MAIL failed).
   */
  received(reply: Reply): SessionEvent {
    if (this.#state === "closed") throw new ProtocolError(`Reply ${reply.code} after the session closed`);
    const command = this.#pending.shift();
    if (reply.code === 421 || command === undefined) {
      if (reply.code !== 421) {
        throw new ProtocolError(`Reply ${reply.code} arrived with no command pending`);
      }
      this.#close();
      return { type: "closed", command: command ?? null, reply, state: "closed" };
    }
    const cls = Math.floor(reply.code / 100);
    const row = TABLE[this.#state][command];
    let target: Target | undefined;
    if (row) target = cls === 2 ? row.ok : cls === 3 ? row.more : row.fail;
    else if (cls >= 4) target = "="; // a pipelined command behind one that failed: refused, as it should be
    if (target === undefined) {
      throw new ProtocolError(
        row
          ? `Reply ${reply.code} is not a valid answer to ${command}`
          : `Reply ${reply.code} accepts ${command} although it is out of sequence in state "${this.#state}"`,
      );
    }
    const next = resolve(target, this.#state);
    if (next === "closed") {
      this.#close();
      return { type: "closed", command, reply, state: "closed" };
    }
    if (cls === 2 && command === "MAIL") this.#recipients = 0;
    if (cls === 2 && command === "RCPT") this.#recipients++;
    if (cls === 2 && (command === "AUTH" || command === "AUTH-RESPONSE")) this.#authenticated = true;
    this.#state = next;
    this.#expected = this.#pending.reduce<SessionStateName>((s, c) => {
      const r = TABLE[s][c];
      return r ? resolve(r.ok ?? r.more ?? r.fail, s) : s;
    }, next);
    if (cls === 2) return { type: "accepted", command, reply, state: next };
    if (cls === 3) return { type: "continue", command, reply, state: next };
    return { type: "rejected", command, reply, state: next, temporary: cls === 4 };
  }

  /**
   * Records that the TLS handshake after STARTTLS succeeded: the session
   * starts over (RFC 3207 §4.2: forget all knowledge, send EHLO again).
   *
   * @throws {TypeError} When no STARTTLS was accepted.
   */
  tlsEstablished(): void {
    if (this.#state !== "tls") throw new TypeError(`tlsEstablished() in state "${this.#state}", expected "tls"`);
    this.#state = this.#expected = "greeted";
    this.#tls = true;
    this.#authenticated = false;
    this.pipelining = false;
  }

  #close(): void {
    this.#state = this.#expected = "closed";
    this.#pending.length = 0;
  }

  /** Why `command` may not be sent now, or `null`. */
  #refusal(command: SessionCommand): string | null {
    const last = this.#pending[this.#pending.length - 1];
    if (last !== undefined) {
      if (last === "GREETING") return `Wait for the server's greeting before sending ${command}`;
      if (!this.pipelining) return `Wait for the reply to ${last} before sending ${command} (no PIPELINING)`;
      if (!COMMANDS[last].more) return `${last} ends a pipelined group: wait for its reply before sending ${command}`;
      if ((command === "BDAT" || command === "BDAT-LAST") && (last === "MAIL" || last === "RCPT")) {
        return `Wait for the MAIL and RCPT replies before sending BDAT (RFC 3030 §2)`;
      }
    }
    const row = TABLE[this.#expected][command];
    if (!row || row.late) return `${command} is not allowed in state "${this.#expected}"`;
    if (command === "STARTTLS" && this.#tls) return "STARTTLS is not allowed: TLS is already active";
    if (command === "AUTH" && this.#authenticated) return "AUTH is not allowed after a successful AUTH (RFC 4954 §4)";
    return null;
  }
}

function resolve(target: Target, current: SessionStateName): SessionStateName {
  return target === "=" ? current : target;
}
