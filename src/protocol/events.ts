/**
 * What goes into and comes out of the session core (h11's `_events.py`):
 * the commands {@link Session.send} takes, the events {@link Session.nextEvent}
 * returns, and the core's options. Types and two sentinels only.
 *
 * @module
 */

import type { ProtocolError } from "../errors.ts";
import type { LongLinePolicy } from "./bdat.ts";
import type { EsmtpParams } from "./commands.ts";
import type { ReplyTo, SessionStateName } from "./state.ts";
import type { Reply } from "./types.ts";

/** A command for {@link Session.send}. */
export type Command =
  | { readonly type: "EHLO"; readonly name: string }
  | { readonly type: "HELO"; readonly name: string }
  | { readonly type: "STARTTLS" }
  | {
    readonly type: "AUTH";
    /** SASL mechanism name. */
    readonly mechanism: string;
    /** Base64 initial response (`""` for an empty one); omitted: none. */
    readonly initialResponse?: string;
  }
  | {
    readonly type: "AUTH-RESPONSE";
    /** Base64 response; omitted only to send an initial response the core holds (see {@link ReplyEvent.initialResponseHeld}). */
    readonly response?: string;
  }
  | { readonly type: "AUTH-CANCEL" }
  | { readonly type: "MAIL"; readonly from: string; readonly parameters?: EsmtpParams }
  | { readonly type: "RCPT"; readonly to: string; readonly parameters?: EsmtpParams }
  | { readonly type: "DATA" }
  | {
    /** Message content after a 354: CRLF-normalised and dot-stuffed. Not a command: no reply. */
    readonly type: "CONTENT";
    readonly chunk: Uint8Array;
  }
  | { readonly type: "END-OF-DATA" }
  | {
    /** A BDAT chunk (RFC 3030): the chunk is CRLF-normalised, then framed with its exact size. */
    readonly type: "BDAT";
    readonly chunk: Uint8Array;
    readonly last: boolean;
  }
  | { readonly type: "RSET" }
  | { readonly type: "NOOP" }
  | { readonly type: "VRFY"; readonly query: string }
  | { readonly type: "VERB" }
  | { readonly type: "QUIT" };

/** A command waiting for its reply. */
export interface PendingCommand {
  /** The command (`"GREETING"`: the server's first reply). */
  readonly command: ReplyTo;
  /** The transaction (numbered from 1 by each MAIL sent) it belongs to, or `null`. */
  readonly transaction: number | null;
  /** For RCPT: the recipient. */
  readonly recipient?: string;
}

/** One recipient and the server's reply to its RCPT. */
export interface RecipientReply {
  /** The forward-path as sent. */
  readonly address: string;
  /** The reply to RCPT. */
  readonly reply: Reply;
  /** Whether the reply was 2xx. */
  readonly accepted: boolean;
}

/** The reply to a command. */
export interface ReplyEvent {
  /** Discriminant. */
  readonly type: "reply";
  /** What the reply answers. */
  readonly command: ReplyTo;
  /** The server's reply. */
  readonly reply: Reply;
  /** 2xx `"accepted"`, 3xx `"continue"` (354, 334), 4xx/5xx `"rejected"`. */
  readonly outcome: "accepted" | "continue" | "rejected";
  /** 4xx: trying later may succeed. */
  readonly temporary: boolean;
  /** The confirmed state after the reply. */
  readonly state: SessionStateName;
  /** The transaction the command belongs to (MAIL, RCPT, DATA, content, BDAT), or `null`. */
  readonly transaction: number | null;
  /** RCPT: the recipient this reply is for. */
  readonly recipient?: string;
  /** DATA, END-OF-DATA, BDAT-LAST, BDAT: every RCPT of the transaction and its reply, in order. */
  readonly recipients?: readonly RecipientReply[];
  /** END-OF-DATA, BDAT-LAST: octets of message data written (dot-stuffing and terminator, or BDAT chunks). */
  readonly octets?: number;
  /** A 334 to AUTH whose initial response did not fit the AUTH line: send `{ type: "AUTH-RESPONSE" }` next. */
  readonly initialResponseHeld?: boolean;
}

/** The session ended. */
export interface ClosedEvent {
  /** Discriminant. */
  readonly type: "closed";
  /** `"quit"`: the reply to QUIT; `"421"`: the server is closing; `"eof"`: the stream ended. */
  readonly reason: "quit" | "421" | "eof";
  /** The command the closing reply answered, or `null` (unsolicited 421, or end of stream). */
  readonly command: ReplyTo | null;
  /** The closing reply, or `null` at end of stream. */
  readonly reply: Reply | null;
  /** Commands sent that got no reply, oldest first (their outcome is unknown). */
  readonly unanswered: readonly PendingCommand[];
}

/** The server broke the protocol; the session is unusable. */
export interface ProtocolErrorEvent {
  /** Discriminant. */
  readonly type: "protocol-error";
  /** What the server did wrong, with the phase of the command it concerned. */
  readonly error: ProtocolError;
  /**
   * The reply that broke the protocol, when one did (a stray reply, a wrong
   * class): a driver that was still writing message data reports it as the
   * server's early answer.
   */
  readonly reply?: Reply;
}

/** Commands are pending and their replies are not all in: read and call {@link Session.receive}. */
export const NEED_DATA: { readonly type: "need-data" } = Object.freeze({ type: "need-data" });
/** Nothing is pending: do not read (h11's `PAUSED`, for a client between commands). */
export const IDLE: { readonly type: "idle" } = Object.freeze({ type: "idle" });

/** What {@link Session.nextEvent} returns. */
export type SessionEvent = ReplyEvent | ClosedEvent | ProtocolErrorEvent | typeof NEED_DATA | typeof IDLE;

/** One protocol line for a trace (secrets already replaced by `<redacted>`). */
export interface SessionTrace {
  /** `"send"`: client to server; `"recv"`: server to client. */
  readonly direction: "send" | "recv";
  /** The line without CRLF, or a bracketed summary for message data. */
  readonly line: string;
}

/** Options of {@link Session}. */
export interface SessionOptions {
  /** `true` for implicit TLS (RFC 8314): STARTTLS is then never legal. */
  readonly tls?: boolean;
  /** Pipeline when the server offers PIPELINING. Default `true`. */
  readonly pipelining?: boolean;
  /**
   * Let BDAT follow MAIL and RCPT in one pipelined group (one round trip per
   * message with CHUNKING). Default `false`: RFC 3030 §2 sends BDAT "after all
   * MAIL and RCPT responses are collected and processed"; Postfix and Exim
   * accept the pipelined form (Google sends it), but a server that refuses
   * the envelope must then still read the chunk as data, not as commands.
   */
  readonly pipelineBdat?: boolean;
  /** Lines over 998 octets in CONTENT and BDAT chunks: `"error"` (default, a `RangeError`) or `"allow"`. */
  readonly onLongLine?: LongLinePolicy;
  /** Called for every line sent and received, secrets redacted. Must not throw (errors are ignored). */
  readonly trace?: (line: SessionTrace) => void;
}
