/**
 * The SMTP session core, sans-I/O (h11's `Connection`, for an SMTP client):
 * commands go in and bytes come out; bytes go in and events come out. It
 * owns the state table (`state.ts`), the writers (`commands.ts`, the DATA
 * encoder, BDAT framing), the reply reader (`reply.ts`, with its caps), the
 * matching of replies to a pipelined group of commands — in order, across
 * message boundaries — and every rule of the protocol. It never reads or
 * writes a socket, never looks at a clock, arms no timer and draws no random
 * number: deadlines, TLS handshakes, retries and policy are the driver's.
 *
 * ## API
 *
 * - `send(command) → Uint8Array`: checks that `command` is legal now (state
 *   table, RFC 2920 grouping, STARTTLS/AUTH once, BDAT order, no message
 *   content without an accepted recipient), records it as pending and returns
 *   the exact octets to write. An illegal command or argument throws
 *   `TypeError` (or `RangeError`) and changes nothing; a closed session
 *   throws `ConnectionError`, a stopped one its `ProtocolError`. Octets
 *   already received while nothing was pending are found here: a 421 closes
 *   the session, anything else answers no command (`ProtocolError`).
 *   `sendAll(commands)` does the same for a pipelined group, in one array.
 * - `receive(bytes)`: hands over octets read from the server (never throws).
 *   `receiveEof()`: the server closed its end.
 * - `nextEvent() → SessionEvent`: the next thing the received bytes mean —
 *   a readonly discriminated union:
 *   - `{ type: "reply", command, reply, outcome, … }`: the reply to the oldest
 *     pending command (`"GREETING"` for the server's first reply), with the
 *     confirmed state after it, its transaction number, the recipient (RCPT)
 *     and, for DATA and the end of data, every recipient's reply so far;
 *   - `{ type: "closed", reason, … }`: QUIT answered, a 421 (to any command,
 *     or unsolicited; RFC 5321 §3.8), or end of stream; `unanswered` lists the
 *     pending commands that will get no reply. Returned again on every call;
 *   - `{ type: "protocol-error", error }`: a malformed or oversized reply, a
 *     reply with no command pending (stray), a reply class the command cannot
 *     get (250 to DATA), octets after the STARTTLS 220. The session is then in
 *     state `"error"`; returned again on every call. Close the connection;
 *   - {@link NEED_DATA}: commands are pending and their replies are not all
 *     in — read from the socket and call `receive()`;
 *   - {@link IDLE}: nothing is pending and nothing is buffered: do not read.
 * - `tlsEstablished()`: the driver finished the TLS handshake after the
 *   STARTTLS 220: the session starts over (RFC 3207 §4.2: capabilities and
 *   authentication are forgotten, EHLO again).
 * - Readable state: `state`, `expectedState`, `pending`, `capabilities`,
 *   `pipelining`, `tls`, `authenticated`, `acceptedRecipients`,
 *   `needsReset`, `canSend(type)`, `redact(text)`.
 *
 * ## How a driver uses it
 *
 * ```ts
 * const s = new Session({ trace: (t) => log(t.direction, t.line) });
 * // connect the socket, then:
 * for (;;) {                                  // wait for the greeting
 *   const ev = s.nextEvent();
 *   if (ev.type === "need-data") {
 *     const chunk = await socket.read();       // under the driver's deadline
 *     if (chunk === null) s.receiveEof(); else s.receive(chunk);
 *     continue;
 *   }
 *   if (ev.type === "reply") break;          // ev.command === "GREETING"
 *   throw toError(ev);                        // closed / protocol-error
 * }
 * await socket.write(s.send({ type: "EHLO", name: "client.example" }));
 * // … read → receive → nextEvent until the EHLO reply is in; s.capabilities is set.
 * // A pipelined group: one write, then one reply event per command, in order.
 * await socket.write(s.sendAll([
 *   { type: "MAIL", from: "a@example.org", parameters: mailParameters(facts, s.capabilities) },
 *   { type: "RCPT", to: "b@example.net" },
 *   { type: "DATA" },
 * ]));
 * // … events: reply MAIL, reply RCPT (recipient "b@example.net"), reply DATA 354.
 * await socket.write(s.send({ type: "CONTENT", chunk: body })); // dot-stuffed, CRLF-normalised
 * await socket.write(s.sendAll([{ type: "END-OF-DATA" }, nextMail, nextRcpt, { type: "DATA" }])); // RFC 2920 §3.1
 * ```
 *
 * The loop is always: `send` → write the bytes → read → `receive` →
 * `nextEvent` until the replies the driver waits for are in (`NEED_DATA`
 * means read again). Replies come back in the order the commands went out,
 * one per command; the event says which command (and which transaction and
 * recipient) each one answers.
 *
 * ## Rules the core applies
 *
 * - The table in `state.ts`: which command in which state; which reply class
 *   may answer it (anything else is a protocol error); where it leads.
 * - Without PIPELINING (or with `pipelining: false`) one command at a time.
 *   With it, EHLO, HELO, STARTTLS, AUTH, DATA, NOOP, VRFY, VERB and QUIT end
 *   a group (RFC 2920 §3.1, RFC 3207, RFC 4954); BDAT waits for the MAIL and
 *   RCPT replies (RFC 3030 §2) unless `pipelineBdat` is set.
 * - Capabilities come from the EHLO reply and are forgotten after STARTTLS
 *   and HELO; AUTH succeeds once; STARTTLS never on a TLS connection.
 * - Message content (`CONTENT`) only after a 354 and only when a recipient
 *   was accepted: a 354 to a pipelined DATA after every RCPT failed is
 *   answered with a lone dot (`END-OF-DATA` straight away).
 * - DATA and BDAT do not mix in one transaction; BDAT LAST ends it; a failed
 *   BDAT requires RSET.
 * - SASL: AUTH and its response lines go through `commands.auth*`; every
 *   payload is a secret: traced as `<redacted>`, and removed from any reply
 *   text the trace shows (use {@link Session.redact} for error messages).
 *   An initial response too long for the AUTH line (RFC 4954 §4) is held and
 *   sent as the first response (`{ type: "AUTH-RESPONSE" }` without one).
 * - Caps: every reply is bounded by `reply.ts` ({@link MAX_REPLY_SIZE} …);
 *   unread reply octets by {@link MAX_REPLY_SIZE} per pending command (plus
 *   one for an unsolicited 421); pending commands by {@link MAX_PENDING}.
 * - Several messages per connection: {@link Session.needsReset} says when the
 *   last transaction failed or is unfinished, so RSET goes out only then.
 *
 * ## Compared with h11
 *
 * Same shape: a state table as data (`state.ts` ↔ `_state.py`), readers and
 * writers apart (`reply.ts`, `commands.ts`, `data.ts`, `bdat.ts` ↔
 * `_readers.py`, `_writers.py`), one object tying them together, a
 * `NEED_DATA` sentinel, sticky terminal states, caps on buffered input.
 * Different where SMTP differs: one role (a client), so one state, not two;
 * replies are matched to a FIFO of pending commands (HTTP/1.1 has one request
 * in flight per cycle, SMTP pipelining has many, across transactions), so the
 * table is judged twice — legality against the *expected* state, replies
 * against the *confirmed* one; peer errors are events rather than exceptions,
 * because a 421 or a stray reply is an ordinary outcome the driver must map
 * to its own errors; local misuse throws (`TypeError`) and changes nothing,
 * so a refused command never poisons a usable session.
 *
 * @module
 */

import { ConnectionError, ProtocolError, type SmtpPhase } from "../errors.ts";
import { BdatEncoder, bdatChunk } from "./bdat.ts";
import { concatBytes, utf8Decode } from "./bytes.ts";
import { parseCapabilities } from "./capabilities.ts";
import * as cmd from "./commands.ts";
import { DataEncoder } from "./data.ts";
import { MAX_REPLY_SIZE, ReplyParser } from "./reply.ts";
import {
  afterReply,
  afterSuccess,
  allowedIn,
  commandPhase,
  endsGroup,
  type ReplyTo,
  type SessionCommand,
  type SessionStateName,
} from "./state.ts";
import type { Capabilities, Reply } from "./types.ts";
import {
  type ClosedEvent,
  type Command,
  IDLE,
  NEED_DATA,
  type PendingCommand,
  type ProtocolErrorEvent,
  type RecipientReply,
  type ReplyEvent,
  type SessionEvent,
  type SessionOptions,
} from "./events.ts";

export type { ReplyTo, SessionCommand, SessionStateName } from "./state.ts";
export {
  type ClosedEvent,
  type Command,
  IDLE,
  NEED_DATA,
  type PendingCommand,
  type ProtocolErrorEvent,
  type RecipientReply,
  type ReplyEvent,
  type SessionEvent,
  type SessionOptions,
  type SessionTrace,
} from "./events.ts";

/** Most commands that may wait for their replies at once (a cap on the pending queue). */
export const MAX_PENDING = 10_000;

/** What the trace shows in place of a secret. */
export const REDACTED = "<redacted>";

/** A transaction: from a MAIL sent to its end. */
interface Txn {
  readonly id: number;
  readonly recipients: RecipientReply[];
  accepted: number;
  octets: number;
  /** `open` until it ends: `delivered` (2xx to the end of data), `failed`, or `reset` (RSET/EHLO). */
  status: "open" | "delivered" | "failed" | "reset";
}

interface Entry extends PendingCommand {
  readonly txn: Txn | null;
}

/** Commands waiting for replies: a FIFO with O(1) push and shift (a pipelined group may be long). */
class PendingQueue {
  #items: (Entry | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }
  get first(): Entry | undefined {
    return this.#items[this.#head];
  }
  get last(): Entry | undefined {
    return this.length > 0 ? this.#items[this.#items.length - 1] : undefined;
  }
  push(entry: Entry): void {
    this.#items.push(entry);
  }
  shift(): Entry | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const entry = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return entry;
  }
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
  toArray(): Entry[] {
    return this.#items.slice(this.#head) as Entry[];
  }
}

const enc = new TextEncoder();

/** A command's octets, and its trace line when it differs from the octets (secrets, message data). */
interface Written {
  readonly bytes: Uint8Array;
  readonly traced: string | null;
}

/**
 * One SMTP client session, sans-I/O. See the module documentation for the
 * API and the driver loop.
 *
 * @example
 * ```ts
 * const s = new Session();
 * s.receive(new TextEncoder().encode("220 mx ESMTP\r\n"));
 * s.nextEvent(); // { type: "reply", command: "GREETING", reply: { code: 220, … }, … }
 * s.send({ type: "EHLO", name: "me.example" }); // "EHLO me.example\r\n"
 * ```
 */
export class Session {
  readonly #options: SessionOptions;
  #parser = new ReplyParser();
  #state: SessionStateName = "greeting";
  // The greeting is pending: expected is where a 220 leads (invariant: the pending commands replayed from #state).
  #expected: SessionStateName = "greeted";
  readonly #pending = new PendingQueue();
  #capabilities: Capabilities | null = null;
  #tls: boolean;
  #authenticated = false;
  #eof = false;
  #terminal: ClosedEvent | ProtocolErrorEvent | null = null;
  /** The transaction commands are being sent for (the last MAIL sent). */
  #sending: Txn | null = null;
  /** The transaction replies have confirmed (the last MAIL accepted). */
  #current: Txn | null = null;
  #transactions = 0;
  #data: DataEncoder | null = null;
  #bdat: BdatEncoder | null = null;
  /** The encoder of the message content being (or last) written, for {@link contentFacts}. */
  #facts: DataEncoder | BdatEncoder | null = null;
  /** Base64 initial response held back from a too-long AUTH line. */
  #heldResponse: string | null = null;
  readonly #secrets: string[] = [];

  /**
   * Starts a session waiting for the server's greeting.
   *
   * @param options Implicit TLS, pipelining, long-line policy, trace hook.
   */
  constructor(options: SessionOptions = {}) {
    this.#options = options;
    this.#tls = options.tls === true;
    this.#pending.push({ command: "GREETING", transaction: null, txn: null });
    const policy = options.onLongLine;
    if (policy !== undefined && policy !== "error" && policy !== "allow") {
      throw new TypeError(`onLongLine must be "error" or "allow", got ${JSON.stringify(policy)}`);
    }
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
  get pending(): readonly PendingCommand[] {
    return this.#pending.toArray().map(({ command, transaction, recipient }) =>
      recipient === undefined ? { command, transaction } : { command, transaction, recipient }
    );
  }
  /** What the last EHLO reply advertised; `null` before it, after HELO and after STARTTLS. */
  get capabilities(): Capabilities | null {
    return this.#capabilities;
  }
  /** Whether commands may be pipelined now: the server offers PIPELINING and the options allow it. */
  get pipelining(): boolean {
    return this.#options.pipelining !== false && this.#capabilities?.pipelining === true;
  }
  /** Whether the connection is TLS (implicit, or after {@link tlsEstablished}). */
  get tls(): boolean {
    return this.#tls;
  }
  /** Whether AUTH succeeded in this session (since the last TLS start). */
  get authenticated(): boolean {
    return this.#authenticated;
  }
  /** RCPT commands accepted in the confirmed transaction. Zero after a 354: only END-OF-DATA is allowed. */
  get acceptedRecipients(): number {
    return this.#current?.accepted ?? 0;
  }
  /**
   * Whether RSET should go out before the next MAIL: a transaction is open
   * with nothing more to send (MAIL or RCPT answered but no data), or the last
   * one failed and was not reset. `false` while only an end of data is
   * pending: the next MAIL may be pipelined behind it (RFC 2920 §3.1).
   */
  get needsReset(): boolean {
    const e = this.#expected;
    return e === "mail" || e === "rcpt" || e === "bdat" || e === "failed" || this.#sending?.status === "failed";
  }
  /** The command the next reply answers (the oldest pending one), or `null` when none is pending. */
  get awaiting(): ReplyTo | null {
    return this.#pending.first?.command ?? null;
  }
  /**
   * What the content of the current transaction's message holds so far (all
   * CONTENT or BDAT chunks given to {@link send}, the last one included), or
   * `null` before any. The session takes any octets; the driver checks these
   * after each chunk, before writing its octets, against what it declared
   * (BODY=8BITMIME), what SMTP text may carry (no NUL, RFC 5321 §2.3.8) and
   * the server's SIZE limit (RFC 1870 §6: `size` is the octet count the
   * server would store, normalised, without stuffing dots; after the end of
   * data it includes a final CRLF the encoder added), and drops the
   * connection to abandon the message.
   */
  get contentFacts(): { readonly eightBit: boolean; readonly hasNul: boolean; readonly size: number } | null {
    const f = this.#facts;
    return f === null ? null : { eightBit: f.eightBit, hasNul: f.hasNul, size: f.size };
  }
  /** Unread octets from the server (the driver checks it is 0 before a TLS handshake). */
  get bufferedBytes(): number {
    return this.#parser.bufferedBytes;
  }

  /**
   * Whether a command of this type may be sent now (legality only: its
   * arguments are checked by {@link send}).
   *
   * @param type The command type.
   * @returns `true` when {@link send} would not refuse it for the session's state.
   */
  canSend(type: Command["type"]): boolean {
    return this.#terminal === null && this.#refusal(type === "CONTENT" ? type : sessionCommand({ type } as Command)) === null;
  }

  /**
   * Registers a secret (a password, a token) that must never appear in a
   * trace line: {@link redact} replaces it. AUTH payloads are registered
   * automatically.
   *
   * @param secret The secret; ignored when shorter than 4 characters (it would redact ordinary words).
   */
  addSecret(secret: string): void {
    if (secret.length >= 4 && !this.#secrets.includes(secret)) this.#secrets.push(secret);
  }

  /**
   * Replaces every registered secret in `text` with `<redacted>` (for error
   * messages built from reply text: a server may echo a payload back).
   *
   * @param text Any text.
   * @returns The text without secrets.
   */
  redact(text: string): string {
    for (const secret of this.#secrets) if (text.includes(secret)) text = text.split(secret).join(REDACTED);
    return text;
  }

  /**
   * Turns a command into the octets to write, and records it as pending.
   *
   * @param command The command.
   * @returns The octets to write (for CONTENT possibly a view of the chunk:
   *   do not modify the chunk until they are written).
   * @throws {TypeError} When the command is not legal now (the message says
   *   why) or an argument is invalid (CR/LF, bad address…): nothing changed.
   * @throws {RangeError} On a command line over its limit (nothing changed),
   *   or, for CONTENT and BDAT, a message line over 998 octets with
   *   `onLongLine: "error"`: the message can then not be ended, the session
   *   stops (state `"error"`) and the driver must drop the connection.
   * @throws {RangeError} When {@link MAX_PENDING} commands already wait for replies.
   * @throws {ConnectionError} When the session is closed.
   * @throws {ProtocolError} When the server sent octets that answer no command.
   */
  send(command: Command): Uint8Array {
    return this.#send(command, null);
  }

  #send(command: Command, written: Written | null): Uint8Array {
    if (typeof command !== "object" || command === null) throw new TypeError("send() needs a command object");
    if (this.#pending.length === 0 && this.#parser.bufferedBytes > 0 && this.#terminal === null) this.#stray(command);
    this.#checkOpen(command.type);
    const name = command.type === "CONTENT" ? "CONTENT" : sessionCommand(command);
    const why = this.#refusal(name);
    if (why !== null) throw new TypeError(why);
    if (command.type === "CONTENT") return this.#content(command.chunk);
    if (this.#pending.length >= MAX_PENDING) {
      throw new RangeError(`More than ${MAX_PENDING} commands are waiting for replies; read them first`);
    }
    const { bytes, traced } = written ?? this.#write(command);
    let txn = this.#sending;
    if (name === "MAIL") {
      this.#facts = null;
      txn = this.#sending = { id: ++this.#transactions, recipients: [], accepted: 0, octets: 0, status: "open" };
    }
    const inTxn = name === "MAIL" || name === "RCPT" || name === "DATA" || name === "END-OF-DATA" ||
      name === "BDAT" || name === "BDAT-LAST";
    const entry: Entry = command.type === "RCPT"
      ? { command: name as SessionCommand, transaction: txn?.id ?? null, recipient: command.to, txn }
      : { command: name as SessionCommand, transaction: inTxn ? txn?.id ?? null : null, txn };
    this.#pending.push(entry);
    this.#expected = afterSuccess(this.#expected, name as SessionCommand);
    if (this.#options.trace) this.#trace("send", traced ?? utf8Decode(bytes).slice(0, -2));
    return bytes;
  }

  /**
   * {@link send} for several commands at once (a pipelined group): one array
   * with every command's octets, in order. The arguments of the envelope
   * commands (MAIL, RCPT, DATA, RSET, NOOP, VRFY, QUIT…) are all checked
   * first, so a bad address anywhere in the group throws with nothing
   * recorded. A command that is not legal at its place stops the group there
   * and throws; the commands before it are then recorded as sent, so only
   * use groups {@link canSend} allows, or close the connection on an error.
   *
   * @param commands The commands, in order.
   * @returns Their octets, concatenated.
   */
  sendAll(commands: readonly Command[]): Uint8Array {
    const written = commands.map((c) => (typeof c === "object" && c !== null && PURE_WRITERS.has(c.type) ? this.#write(c as Exclude<Command, { type: "CONTENT" }>) : null));
    const parts = commands.map((c, i) => this.#send(c, written[i]!));
    return parts.length === 1 ? parts[0]! : concatBytes(parts);
  }

  /**
   * Adds octets read from the server. Never throws: problems are reported
   * by {@link nextEvent}. Octets after the session closed are ignored.
   *
   * @param data The octets, in order (not kept: the reader copies what it needs).
   */
  receive(data: Uint8Array): void {
    if (this.#terminal !== null || this.#eof || data.length === 0) return;
    this.#parser.receiveData(data);
    const limit = MAX_REPLY_SIZE * (this.#pending.length + 1);
    if (this.#parser.bufferedBytes > limit) {
      this.#fail(
        `Server sent ${this.#parser.bufferedBytes} unread octets, more than ${this.#pending.length} pending command${
          this.#pending.length === 1 ? "" : "s"
        } can be answered with`,
        this.#pending.first?.command ?? null,
      );
    }
  }

  /** The server closed its end of the connection. */
  receiveEof(): void {
    if (this.#eof) return;
    this.#eof = true;
    this.#parser.receiveEof();
  }

  /**
   * The next event from the received octets (see the module documentation).
   *
   * @returns A reply, `closed`, `protocol-error`, {@link NEED_DATA} or {@link IDLE}.
   */
  nextEvent(): SessionEvent {
    if (this.#terminal !== null) return this.#terminal;
    let reply: Reply | null;
    try {
      reply = this.#parser.nextEvent();
    } catch (err) {
      return this.#fail((err as Error).message, this.#pending.first?.command ?? null);
    }
    if (reply === null) {
      if (this.#eof) return this.#close("eof", null, null);
      return this.#pending.length > 0 || this.#parser.bufferedBytes > 0 ? NEED_DATA : IDLE;
    }
    if (this.#options.trace) {
      const last = reply.lines.length - 1;
      reply.lines.forEach((l, i) => this.#trace("recv", this.redact(`${reply.code}${i < last ? "-" : " "}${l}`)));
    }
    const entry = this.#pending.shift();
    if (reply.code === 421) return this.#close("421", entry?.command ?? null, reply);
    if (entry === undefined) return this.#fail(`Reply ${reply.code} arrived with no command pending`, null, reply);
    const moved = afterReply(this.#state, entry.command, reply.code);
    if ("error" in moved) return this.#fail(moved.error, entry.command, reply);
    if (moved.next === "closed") return this.#close("quit", entry.command, reply);
    return this.#apply(entry, reply, moved.next);
  }

  /**
   * Records that the TLS handshake after the STARTTLS 220 succeeded: the
   * session starts over (RFC 3207 §4.2: forget all knowledge from before,
   * send EHLO again).
   *
   * @throws {TypeError} When no STARTTLS was accepted.
   * @throws {ProtocolError} When octets arrived after the 220 (they came
   *   before the handshake and must not be trusted as if sent over TLS).
   */
  tlsEstablished(): void {
    if (this.#state !== "tls") throw new TypeError(`tlsEstablished() in state "${this.#state}", expected "tls"`);
    const stray = this.#parser.bufferedBytes;
    if (stray > 0) {
      const ev = this.#fail(
        `Server sent ${stray} octets after its STARTTLS reply, before the TLS handshake; refusing them`,
        "STARTTLS",
      );
      throw ev.error;
    }
    this.#parser = new ReplyParser();
    this.#state = this.#expected = "greeted";
    this.#tls = true;
    this.#authenticated = false;
    this.#capabilities = null;
    this.#sending = this.#current = null;
  }

  // ------------------------------------------------------------------ sending

  /**
   * Octets arrived while no command was pending: a 421 closes the session
   * (RFC 5321 §3.8); anything else answers no command (a server that replies
   * twice, or early) and would shift every later reply.
   */
  #stray(command: Command): void {
    const ev = this.nextEvent();
    if (ev.type === "need-data") {
      this.#fail(
        `Server sent ${this.#parser.bufferedBytes} octets that answer no command (before ${command.type})`,
        null,
      );
    }
  }

  #checkOpen(type: Command["type"]): void {
    const t = this.#terminal;
    if (t === null) return;
    const phase: SmtpPhase = type === "CONTENT" ? "message" : commandPhase(sessionCommand({ type } as Command));
    if (t.type === "protocol-error") throw t.error;
    const why = t.reply ? `: ${t.reply.code} ${this.redact(t.reply.lines.join(" "))}` : "";
    throw new ConnectionError(`The session is closed${why}`, { phase, code: t.reply?.code });
  }

  /** Why a command may not be sent now, or `null`. */
  #refusal(command: SessionCommand | "CONTENT"): string | null {
    if (command === "CONTENT") {
      if (this.#state !== "data" || this.#expected !== "data" || this.#pending.length > 0) {
        return "Message content may only follow a 354 reply to DATA, before END-OF-DATA";
      }
      if (this.acceptedRecipients === 0) {
        return "No recipient was accepted: answer the 354 with END-OF-DATA alone (a lone dot, RFC 2920 §3.1)";
      }
      return null;
    }
    const last = this.#pending.last;
    if (last !== undefined) {
      if (last.command === "GREETING") return `Wait for the server's greeting before sending ${command}`;
      if (!this.pipelining) return `Wait for the reply to ${last.command} before sending ${command} (no PIPELINING)`;
      if (endsGroup(last.command)) {
        return `${last.command} ends a pipelined group: wait for its reply before sending ${command}`;
      }
      const bdat = command === "BDAT" || command === "BDAT-LAST";
      if (bdat && (last.command === "MAIL" || last.command === "RCPT") && this.#options.pipelineBdat !== true) {
        return "Wait for the MAIL and RCPT replies before sending BDAT (RFC 3030 §2)";
      }
    }
    if (!allowedIn(this.#expected, command)) return `${command} is not allowed in state "${this.#expected}"`;
    if (command === "STARTTLS" && this.#tls) return "STARTTLS is not allowed: TLS is already active";
    if (command === "AUTH" && this.#authenticated) return "AUTH is not allowed after a successful AUTH (RFC 4954 §4)";
    return null;
  }

  /** The octets of a command (arguments checked by the writers) and its trace lines. */
  #write(command: Exclude<Command, { type: "CONTENT" }>): Written {
    switch (command.type) {
      case "EHLO":
        return plain(cmd.ehlo(command.name));
      case "HELO":
        return plain(cmd.helo(command.name));
      case "STARTTLS":
        return plain(cmd.starttls());
      case "AUTH":
        return this.#auth(command.mechanism, command.initialResponse);
      case "AUTH-RESPONSE": {
        const held = this.#heldResponse;
        if (command.response === undefined && held === null) {
          throw new TypeError("AUTH-RESPONSE needs a response (no initial response is held)");
        }
        const bytes = cmd.authResponse(command.response ?? held!);
        this.#heldResponse = null;
        this.#secret(command.response ?? held!);
        return { bytes, traced: REDACTED };
      }
      case "AUTH-CANCEL":
        this.#heldResponse = null;
        return plain(cmd.authCancel());
      case "MAIL":
        return plain(cmd.mailFrom(command.from, command.parameters));
      case "RCPT":
        return plain(cmd.rcptTo(command.to, command.parameters));
      case "DATA":
        return plain(cmd.data());
      case "END-OF-DATA": {
        const bytes = this.#data ? this.#data.end() : enc.encode(".\r\n");
        this.#data = null;
        const txn = this.#sending;
        if (txn) txn.octets += bytes.length;
        return { bytes, traced: `[${txn?.octets ?? bytes.length} octets of message data, ending with "."]` };
      }
      case "BDAT":
        return this.#bdatChunk(command.chunk, command.last);
      case "RSET":
        return plain(cmd.rset());
      case "NOOP":
        return plain(cmd.noop());
      case "VRFY":
        return plain(cmd.vrfy(command.query));
      case "VERB":
        return plain(cmd.verb());
      case "QUIT":
        return plain(cmd.quit());
    }
  }

  #auth(mechanism: string, initial: string | undefined): Written {
    const bare = cmd.auth(mechanism); // checks the mechanism name
    const name = mechanism.toUpperCase();
    if (initial === undefined) return { bytes: bare, traced: null };
    let bytes: Uint8Array;
    try {
      bytes = cmd.auth(mechanism, initial);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      // RFC 4954 §4: an initial response that does not fit the 512-octet line goes after the 334.
      cmd.authResponse(initial); // checks it is base64 and fits a response line
      this.#heldResponse = initial;
      this.#secret(initial);
      return { bytes: bare, traced: null };
    }
    this.#heldResponse = null;
    this.#secret(initial);
    return { bytes, traced: `AUTH ${name} ${REDACTED}` };
  }

  #secret(base64: string): void {
    // Long enough not to redact ordinary words from reply text ("=" is the empty response).
    if (base64.length >= 8 && !this.#secrets.includes(base64)) this.#secrets.push(base64);
  }

  #content(chunk: Uint8Array): Uint8Array {
    if (!(chunk instanceof Uint8Array)) throw new TypeError("CONTENT chunk must be a Uint8Array");
    this.#data ??= new DataEncoder({ onLongLine: this.#options.onLongLine ?? "error" });
    this.#facts = this.#data;
    let out: Uint8Array;
    try {
      out = this.#data.push(chunk);
    } catch (err) {
      // The encoder cannot continue: the message cannot be ended cleanly. Drop the connection.
      this.#localFailure(err);
      throw err;
    }
    if (this.#sending) this.#sending.octets += out.length;
    return out;
  }

  #bdatChunk(chunk: Uint8Array, last: boolean): Written {
    if (!(chunk instanceof Uint8Array)) throw new TypeError("BDAT chunk must be a Uint8Array");
    this.#bdat ??= new BdatEncoder({ onLongLine: this.#options.onLongLine ?? "error" });
    this.#facts = this.#bdat;
    let body: Uint8Array;
    try {
      body = this.#bdat.push(chunk);
      if (last) {
        const tail = this.#bdat.end();
        if (tail.length > 0) body = concatBytes([body, tail]);
        this.#bdat = null;
      }
    } catch (err) {
      this.#localFailure(err);
      throw err;
    }
    const framed = bdatChunk(body, last); // [command] or [command, body]
    const bytes = framed.length === 1 ? framed[0]! : concatBytes(framed);
    if (this.#sending) this.#sending.octets += body.length;
    return { bytes, traced: `BDAT ${body.length}${last ? " LAST" : ""} [${body.length} octets]` };
  }

  /** A local error while message data was half written: the session cannot go on. */
  #localFailure(err: unknown): void {
    const error = new ProtocolError(
      `Message data could not be encoded; the message cannot be ended: ${(err as Error)?.message ?? err}`,
      { phase: "message", cause: err },
    );
    this.#terminal = { type: "protocol-error", error };
    this.#state = this.#expected = "error";
    this.#data = this.#bdat = null;
  }

  // ---------------------------------------------------------------- receiving

  /** Applies a reply the table accepts: what it teaches (capabilities, AUTH, transactions), then the event. */
  #apply(entry: Entry, reply: Reply, next: SessionStateName): ReplyEvent | ProtocolErrorEvent {
    const cls = Math.floor(reply.code / 100);
    const learnt = this.#learnSession(entry.command, reply, cls);
    if (learnt !== null && typeof learnt === "object") return learnt;
    const done = this.#learnTransaction(entry, reply, cls);
    // A transaction that ends by the table (RSET, EHLO, end of data) is no longer the confirmed one.
    if (next === "ready" || next === "greeted") this.#current = null;
    // The expected state assumed this command would succeed; only a different outcome changes it.
    const assumed = afterSuccess(this.#state, entry.command);
    this.#state = next;
    if (next !== assumed) {
      let expected = next;
      for (const e of this.#pending.toArray()) expected = afterSuccess(expected, e.command);
      this.#expected = expected;
    }
    return {
      type: "reply",
      command: entry.command,
      reply,
      outcome: cls === 2 ? "accepted" : cls === 3 ? "continue" : "rejected",
      temporary: cls === 4,
      state: next,
      transaction: entry.transaction,
      ...(entry.recipient !== undefined ? { recipient: entry.recipient } : {}),
      ...(done.recipients !== undefined ? { recipients: done.recipients } : {}),
      ...(done.octets !== undefined ? { octets: done.octets } : {}),
      ...(learnt === true ? { initialResponseHeld: true } : {}),
    };
  }

  /**
   * Session-wide knowledge from a reply: capabilities (EHLO, HELO, STARTTLS)
   * and authentication. Returns `true` for a 334 that asks for a held initial
   * response, or a protocol-error event.
   */
  #learnSession(command: ReplyTo, reply: Reply, cls: number): ProtocolErrorEvent | boolean | null {
    const ok = cls === 2;
    switch (command) {
      case "EHLO":
      case "HELO":
        if (ok) {
          this.#capabilities = command === "EHLO" ? parseCapabilities(reply) : null;
          this.#endByHello();
        }
        return null;
      case "STARTTLS":
        if (!ok) return null;
        this.#capabilities = null;
        // Octets after the 220 arrived before the handshake (CVE-2011-0411): refuse them.
        if (this.#parser.bufferedBytes === 0) return null;
        return this.#fail(
          `Server sent ${this.#parser.bufferedBytes} octets after its STARTTLS reply, before the TLS handshake; refusing them`,
          "STARTTLS",
        );
      case "AUTH":
      case "AUTH-RESPONSE":
      case "AUTH-CANCEL": {
        if (ok && command !== "AUTH-CANCEL") this.#authenticated = true;
        const held = command === "AUTH" && cls === 3 && this.#heldResponse !== null;
        if (!held) this.#heldResponse = null;
        return held;
      }
      default:
        return null;
    }
  }

  /** Transaction bookkeeping: per-recipient replies, octets, and how the transaction ended. */
  #learnTransaction(
    entry: Entry,
    reply: Reply,
    cls: number,
  ): { readonly recipients?: readonly RecipientReply[]; readonly octets?: number } {
    const ok = cls === 2;
    const txn = entry.txn;
    if (txn === null) return {};
    switch (entry.command) {
      case "MAIL":
        if (ok) this.#current = txn;
        else txn.status = "failed";
        return {};
      case "RCPT":
        txn.recipients.push({ address: entry.recipient!, reply, accepted: ok });
        if (ok) txn.accepted++;
        return {};
      case "DATA":
        if (cls === 3) this.#data = new DataEncoder({ onLongLine: this.#options.onLongLine ?? "error" });
        else txn.status = "failed";
        return { recipients: txn.recipients.slice() };
      case "BDAT":
        if (!ok) txn.status = "failed";
        return { recipients: txn.recipients.slice() };
      case "END-OF-DATA":
      case "BDAT-LAST":
        if (txn.status === "open") txn.status = ok && txn.accepted > 0 ? "delivered" : "failed";
        return { recipients: txn.recipients.slice(), octets: txn.octets };
      case "RSET":
        if (ok && txn.status !== "delivered") txn.status = "reset";
        return {};
      default:
        return {};
    }
  }

  /** EHLO/HELO accepted: any transaction is reset (RFC 5321 §4.1.4). */
  #endByHello(): void {
    const txn = this.#sending;
    if (txn && txn.status !== "delivered") txn.status = "reset";
    this.#current = null;
  }

  #close(reason: ClosedEvent["reason"], command: ReplyTo | null, reply: Reply | null): ClosedEvent {
    const unanswered = this.pending;
    this.#pending.clear();
    this.#state = this.#expected = "closed";
    this.#data = this.#bdat = null;
    const event: ClosedEvent = { type: "closed", reason, command, reply, unanswered };
    this.#terminal = event;
    return event;
  }

  #fail(message: string, command: ReplyTo | null, reply?: Reply): ProtocolErrorEvent {
    const error = new ProtocolError(`${message}; closing the connection`, {
      phase: command === null ? undefined : commandPhase(command),
      code: reply?.code,
    });
    this.#pending.clear();
    this.#state = this.#expected = "error";
    this.#data = this.#bdat = null;
    const event: ProtocolErrorEvent = reply === undefined
      ? { type: "protocol-error", error }
      : { type: "protocol-error", error, reply };
    this.#terminal = event;
    return event;
  }

  #trace(direction: "send" | "recv", line: string): void {
    try {
      this.#options.trace!({ direction, line });
    } catch {
      // A failing trace hook must not break the session.
    }
  }
}

/**
 * The command for one SASL line as `auth.ts` writes it (its `SaslIo.send`
 * contract: `AUTH <mechanism> [initial-response]`, a base64 response, or
 * `*`), so a driver can put that AUTH driver on the session core and its
 * writers (`commands.auth`, `authResponse`, `authCancel`) without changing it.
 * The order of the lines is still checked by {@link Session.send}.
 *
 * @param line The line without CRLF.
 * @returns The command: `AUTH` (an initial response of `=` is the empty one), `AUTH-CANCEL` or `AUTH-RESPONSE`.
 * @throws {TypeError} When `line` is not a string.
 * @example
 * ```ts
 * saslCommand("AUTH PLAIN AHUAcA=="); // { type: "AUTH", mechanism: "PLAIN", initialResponse: "AHUAcA==" }
 * saslCommand("*");                   // { type: "AUTH-CANCEL" }
 * ```
 */
export function saslCommand(line: string): Command {
  if (typeof line !== "string") throw new TypeError("A SASL line must be a string");
  if (line === "*") return { type: "AUTH-CANCEL" };
  const auth = /^AUTH ([^ ]+)(?: ([^ ]*))?$/i.exec(line);
  if (auth === null) return { type: "AUTH-RESPONSE", response: line };
  const [, mechanism = "", initial] = auth;
  if (initial === undefined) return { type: "AUTH", mechanism };
  return { type: "AUTH", mechanism, initialResponse: initial === "=" ? "" : initial };
}

/** Commands whose octets depend on their arguments only (no encoder, no held secret): checked before a group is recorded. */
const PURE_WRITERS: ReadonlySet<Command["type"]> = new Set<Command["type"]>([
  "EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "VRFY", "VERB", "QUIT",
]);

function plain(bytes: Uint8Array): Written {
  return { bytes, traced: null };
}

/** The state-table name of a command. */
function sessionCommand(command: Command): SessionCommand {
  if (command.type === "BDAT") return command.last ? "BDAT-LAST" : "BDAT";
  if (command.type === "CONTENT") return "END-OF-DATA"; // never recorded: only for phases
  return command.type;
}
