/**
 * Public types of the durable outgoing queue.
 * @module
 */
import type { Host } from "../../deps.ts";
import type { ClientOptions, DsnNotify, RecipientSpec, SendResult, TlsMode } from "../options.ts";

/**
 * Where and how to deliver a queued message, without secrets: the one-off
 * server settings a caller used when it queued the message (for the CLI,
 * `--host`, `--port`, `--tls` and the like), so that a later flush goes to
 * the same place. Stored as data in the entry's JSON record; every field is
 * checked on writing and on reading, unknown ones are dropped. Passwords,
 * tokens and key passphrases are never part of it: credentials are looked up
 * again at flush time (a password command is a command, run again then).
 */
export interface QueueServer {
  /** SMTP server host name or IP address. */
  readonly host?: string;
  /** TCP port (1–65535). */
  readonly port?: number;
  /** TLS mode. */
  readonly tls?: TlsMode;
  /** The name the server certificate must match, when it is not `host`. */
  readonly servername?: string;
  /** `false`: the server certificate is not checked (only when the caller asked for that). */
  readonly tlsVerify?: boolean;
  /** PEM file of trusted CAs. */
  readonly caFile?: string;
  /** PEM client certificate file. */
  readonly certFile?: string;
  /** PEM client key file (its passphrase is never stored). */
  readonly keyFile?: string;
  /** User name for SMTP AUTH. */
  readonly user?: string;
  /** `true`: authenticate; `false`: never. */
  readonly auth?: boolean;
  /** Forced SASL mechanism, e.g. `"PLAIN"`. */
  readonly authMethod?: string;
  /** A command printing the password (program and arguments), run again at flush time. */
  readonly passwordCommand?: readonly string[];
  /** Allow credentials over a connection without TLS. */
  readonly allowPlaintextAuth?: boolean;
  /** EHLO name. */
  readonly helo?: string;
  /** Network timeout in milliseconds. */
  readonly timeoutMs?: number;
}

/**
 * The envelope stored with a queued message. It is written to disk as JSON,
 * so it holds only data: addresses, DSN options, the *name* of the
 * account to send with later and one-off server settings. It never holds
 * credentials; unknown properties are ignored and never written.
 */
export interface QueueEnvelope {
  /** The reverse-path; `""` for the null sender `<>`. */
  readonly from: string;
  /** Forward-paths (at least one). */
  readonly to: readonly (string | RecipientSpec)[];
  /** DSN: return full message or headers only. */
  readonly dsnReturn?: "FULL" | "HDRS";
  /** DSN envelope identifier. */
  readonly dsnEnvelopeId?: string;
  /** DSN NOTIFY applied to every recipient without its own. */
  readonly dsnNotify?: DsnNotify;
  /** Request SMTPUTF8 when sending. */
  readonly smtpUtf8?: boolean;
  /**
   * Which configured identity (account) to send with, by name. Resolved
   * again from the configuration at flush time. Never a password.
   */
  readonly account?: string;
  /**
   * One-off server settings to deliver with (no secrets), applied over the
   * account's at flush time. See {@link QueueServer}.
   */
  readonly server?: QueueServer;
}

/** Delivery state of one recipient of a queued message. */
export type RecipientState = "pending" | "delivered" | "failed";

/** One recipient of a queued message and what happened to it so far. */
export interface QueueRecipient {
  /** The forward-path address. */
  readonly address: string;
  /** DSN NOTIFY for this recipient, when set. */
  readonly notify?: DsnNotify;
  /** DSN ORCPT, when set. */
  readonly orcpt?: string;
  /** `"pending"`: still to send; `"delivered"`: a server accepted it; `"failed"`: permanently refused. */
  readonly state: RecipientState;
  /** The last reply code for this recipient, when there was one. */
  readonly code: number | null;
  /** The last enhanced status code, when the server sent one. */
  readonly enhancedCode: string | null;
  /** The last reply text (or error message) for this recipient. */
  readonly message: string | null;
  /** When `state` last changed or the last reply arrived (ms since the epoch). */
  readonly at: number | null;
}

/** The last failure of a queued message. */
export interface QueueLastError {
  /** Description (the server's reply text for reply errors). */
  readonly message: string;
  /** Reply code, when the failure was a server reply. */
  readonly code: number | null;
  /** Enhanced status code, when the server sent one. */
  readonly enhancedCode: string | null;
  /** SMTP phase where it happened, when known. */
  readonly phase: string | null;
  /** Whether it was a temporary failure. */
  readonly temporary: boolean;
  /** When it happened (ms since the epoch). */
  readonly at: number;
}

/**
 * Where an entry is:
 * - `"queued"`: waiting for its next attempt;
 * - `"in-flight"`: claimed by a flusher right now (or by one that died and
 *   has not been recovered yet);
 * - `"failed"`: moved aside (a permanent refusal, or older than `maxAge`).
 */
export type QueueStatus = "queued" | "in-flight" | "failed";

/** One queued (or failed) message, as {@link Queue.list} reports it. */
export interface QueueEntry {
  /** The queue id (letters and digits only). */
  readonly id: string;
  /** `"queued"`, `"in-flight"` or `"failed"`. */
  readonly status: QueueStatus;
  /** When it was enqueued (ms since the epoch). */
  readonly createdAt: number;
  /** Milliseconds since it was enqueued, at the time of the listing. */
  readonly age: number;
  /** Message size in octets, as stored. */
  readonly size: number;
  /** Whether the message has octets above 127. */
  readonly eightBit: boolean;
  /** The reverse-path (`""` for `<>`). */
  readonly from: string;
  /** Every recipient with its state. */
  readonly recipients: readonly QueueRecipient[];
  /** The account name to send with, or `null` for the default. */
  readonly account: string | null;
  /** One-off server settings recorded when it was queued, or `null` (entries written before they existed, too). */
  readonly server: QueueServer | null;
  /** DSN RET, when set. */
  readonly dsnReturn: "FULL" | "HDRS" | null;
  /** DSN ENVID, when set. */
  readonly dsnEnvelopeId: string | null;
  /** DSN NOTIFY default, when set. */
  readonly dsnNotify: DsnNotify | null;
  /** Whether SMTPUTF8 is requested. */
  readonly smtpUtf8: boolean;
  /** Delivery attempts made so far. */
  readonly attempts: number;
  /** When the last attempt ended, or `null`. */
  readonly lastAttemptAt: number | null;
  /** When the next attempt is due (ms since the epoch); `null` for failed entries. */
  readonly nextAttemptAt: number | null;
  /** The last failure, or `null`. */
  readonly lastError: QueueLastError | null;
  /** For failed entries: `"rejected"` (5xx), `"expired"` (older than `maxAge`) or `"unreadable"`. */
  readonly failReason: "rejected" | "expired" | "unreadable" | null;
}

/** Exponential backoff between attempts: `min(maxMs, initialMs × factor^(attempts−1))`. */
export interface BackoffOptions {
  /** Delay after the first failed attempt. Default 300 000 (5 min, Postfix `minimal_backoff_time`). */
  readonly initialMs?: number;
  /** Growth factor per attempt. Default 2. */
  readonly factor?: number;
  /** Upper bound of the delay. Default 4 000 000 (≈ 67 min, Postfix `maximal_backoff_time`). */
  readonly maxMs?: number;
}

/** Construction options of a {@link Queue}. */
export interface QueueOptions {
  /** The queue directory (created with mode 0700 when missing). */
  readonly dir: string;
  /** File-system access; usually `(await runtime()).host`. */
  readonly host: Host;
  /** Clock in ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
  /** Retry schedule. */
  readonly backoff?: BackoffOptions;
  /**
   * Give up on a message this long after it was enqueued: after a temporary
   * failure past this age it is moved aside as `"expired"`. Default
   * 5 days (Postfix `maximal_queue_lifetime`).
   */
  readonly maxAge?: number;
  /**
   * A claim whose flusher cannot be checked (other host, no `/proc`) is
   * taken over after this long without a refresh (a delivering flusher
   * refreshes its claim every quarter of this). Default 1 hour. Claims of
   * dead processes on this host are taken over at once; claims of live ones
   * never.
   */
  readonly staleClaimMs?: number;
  /**
   * A message file without an envelope (left by a crash between the two
   * renames of `enqueue`, or between the two removals after delivery) is
   * removed once it is this old. Default 15 minutes.
   */
  readonly orphanAgeMs?: number;
}

/**
 * Sends one queued message. Called by {@link Queue.flush} with the entry, a
 * stream of its stored bytes and the recipients still pending. Resolve with
 * the {@link SendResult} (per-recipient outcome); throw on failure (a
 * `ReplyError` with 5xx from MAIL/RCPT/DATA moves the message aside; any
 * other error leaves it queued for a later attempt).
 */
export type DeliverFunction = (
  entry: QueueEntry,
  data: AsyncIterable<Uint8Array>,
  pendingRecipients: readonly string[],
) => Promise<SendResult>;

/** What a flush did with one message. */
export type FlushOutcome =
  /** Every pending recipient accepted; the entry is removed. */
  | "sent"
  /** Some recipients still pending after a temporary failure; retried later. */
  | "deferred"
  /** Moved aside to `failed/` (permanent refusal, expiry or unreadable files). */
  | "failed"
  /** Not due yet (without `force`), or another flusher holds it. */
  | "skipped";

/** Progress reports of {@link Queue.flush}, for a progress bar or a log. */
export type FlushProgress =
  /** The flush found `total` entries to look at. */
  | { readonly type: "start"; readonly total: number }
  /** Delivery of entry number `index` (0-based) of `total` begins. */
  | { readonly type: "attempt"; readonly index: number; readonly total: number; readonly entry: QueueEntry }
  /** `octets` of the message's `size` have been read for sending. */
  | { readonly type: "data"; readonly id: string; readonly octets: number; readonly size: number }
  /** An entry is done for this flush. */
  | {
    readonly type: "result";
    readonly index: number;
    readonly total: number;
    readonly id: string;
    readonly outcome: FlushOutcome;
    /** Why it was skipped (`"not-due"`, `"busy"`) or the error message. */
    readonly reason: string | null;
    /** The entry as it now stands (`null` once removed after delivery… or when unreadable). */
    readonly entry: QueueEntry | null;
  }
  /** The flush finished. */
  | { readonly type: "done"; readonly summary: FlushSummary };

/** Per-entry result of a flush. */
export interface FlushItem {
  /** Queue id. */
  readonly id: string;
  /** What happened. */
  readonly outcome: FlushOutcome;
  /**
   * Skip reason or error message, else `null`. For `"sent"`: a note when the
   * claim was taken over by another flusher after the server accepted the
   * message (that flusher owns the entry now and may send it again).
   */
  readonly reason: string | null;
  /** Recipients accepted in this flush. */
  readonly delivered: readonly string[];
  /** Recipients permanently refused in this flush. */
  readonly failed: readonly string[];
  /**
   * What the delivery threw, when it threw (`"failed"` or `"deferred"`
   * items): e.g. an `SmtpError` whose `maybeDelivered` says the server may
   * already have the message.
   */
  readonly error?: unknown;
}

/** Totals of a flush. */
export interface FlushSummary {
  /** Entries fully delivered and removed. */
  readonly sent: number;
  /** Entries left queued for a later attempt. */
  readonly deferred: number;
  /** Entries moved aside. */
  readonly failed: number;
  /** Entries not due or held by another flusher. */
  readonly skipped: number;
  /** One item per entry looked at, in order. */
  readonly items: readonly FlushItem[];
}

/** Options of {@link Queue.flush}. */
export interface FlushOptions {
  /** Sends one message; see {@link DeliverFunction}. */
  readonly deliver: DeliverFunction;
  /** Receives progress reports. Exceptions it throws are ignored. */
  readonly onProgress?: (event: FlushProgress) => void;
  /** Attempt entries even when their next attempt is not due yet. Default `false`. */
  readonly force?: boolean;
  /** Only these ids (e.g. the one just enqueued, for `--queue-on-failure`). */
  readonly ids?: readonly string[];
  /** Stop before the next entry once aborted. */
  readonly signal?: AbortSignal;
}

/**
 * Connection options for {@link Queue.flushWith}: fixed, or a function giving
 * them for an entry's account name (`null`: none stored), with the entry
 * itself as second argument.
 */
export type ClientOptionsFor =
  | ClientOptions
  | ((account: string | null, entry: QueueEntry) => ClientOptions | Promise<ClientOptions>);

/** Options of {@link Queue.flushWith}: those of {@link Queue.flush} without `deliver`, and two hooks. */
export interface FlushWithOptions extends Omit<FlushOptions, "deliver"> {
  /**
   * Which entries share a connection: entries with the same key are sent over
   * one connection, reused. Default: the entry's account name.
   */
  readonly connectionKey?: (entry: QueueEntry) => string;
  /**
   * Called when an entry is refused before any of its data was read (for
   * example 530 "authentication required" to MAIL): return options to
   * reconnect with and try that entry once more (they serve the key's later
   * entries too), or `null` to let the refusal stand.
   */
  readonly retryWith?: (
    error: unknown,
    entry: QueueEntry,
  ) => ClientOptions | null | Promise<ClientOptions | null>;
}

/** Options of {@link Queue.list}. */
export interface ListOptions {
  /** Also list entries moved aside to `failed/`. Default `false`. */
  readonly includeFailed?: boolean;
}
