/**
 * The ESMTP parameters of MAIL and RCPT as pure functions of what is known
 * about the message, what the server offers and what the caller asked for:
 * SIZE (RFC 1870), BODY=8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), DSN
 * RET/ENVID and NOTIFY/ORCPT (RFC 3461). The one place that decides whether
 * an envelope needs SMTPUTF8, and that refuses a message the server cannot
 * take before a byte is written.
 *
 * @module
 */

import { SmtpError } from "../errors.ts";
import { needsSmtpUtf8 } from "./commands.ts";
import { MAX_TEXT_LINE } from "./bdat.ts";
import type { Capabilities, DsnNotify } from "./types.ts";
import { envelopeIdValue, orcptValue } from "./xtext.ts";

/** One ESMTP parameter: `[KEY, value]`, or `[KEY, true]` for a bare keyword. */
export type Parameter = readonly [string, string | true];

/** What is known about a message before it is sent (from `scanMessage`, or the caller for a stream). */
export interface MessageFacts {
  /** The reverse-path (`""` for the null sender). */
  readonly from: string;
  /** The forward-paths. */
  readonly recipients: readonly string[];
  /** Octets after line-ending normalisation (the RFC 1870 SIZE value); `undefined` when unknown. */
  readonly size?: number;
  /** Whether the content has 8-bit octets; `undefined` when unknown (a stream): then assumed. */
  readonly eightBit?: boolean;
  /** Whether the header section has 8-bit octets (UTF-8 headers need SMTPUTF8, RFC 6532). */
  readonly headerEightBit?: boolean;
  /** Longest line in octets without its line ending, when known. */
  readonly maxLineLength?: number;
  /**
   * The content needs SMTPUTF8: its header fields hold UTF-8 (RFC 6532), e.g. an address with a
   * non-ASCII local part written by `compose()`. Refused before MAIL by a server without SMTPUTF8.
   */
  readonly smtpUtf8?: boolean;
}

/** DSN requests for the whole message (RFC 3461), sent only when the server offers DSN. */
export interface DsnOptions {
  /** RET: return the full message or the headers only. */
  readonly dsnReturn?: "FULL" | "HDRS";
  /** ENVID: the envelope identifier (printable ASCII and spaces; sent as xtext, checked even without DSN). */
  readonly dsnEnvelopeId?: string;
  /** NOTIFY for every recipient without its own. */
  readonly dsnNotify?: DsnNotify;
}

/** DSN requests for one recipient. */
export interface RecipientDsn {
  /** NOTIFY for this recipient (overrides {@link DsnOptions.dsnNotify}). */
  readonly notify?: DsnNotify;
  /** ORCPT: the original recipient (default: the address itself, when any DSN option is used). */
  readonly orcpt?: string;
}

/**
 * Whether an envelope needs the SMTPUTF8 extension: a non-ASCII character
 * in the sender or any recipient (RFC 6531 §3.2).
 *
 * @param from The reverse-path.
 * @param recipients The forward-paths.
 * @returns `true` when SMTPUTF8 is required.
 */
export function envelopeNeedsSmtpUtf8(from: string, recipients: readonly string[]): boolean {
  return needsSmtpUtf8(from) || recipients.some(needsSmtpUtf8);
}

/**
 * The MAIL FROM parameters for a message, or the reason it cannot be sent
 * to this server. Nothing is written before this runs, so a refusal here
 * leaves the session usable.
 *
 * Rules: SIZE when the server offers it and the size is known; BODY=8BITMIME
 * when offered and the content is (or may be, for a stream) 8-bit; SMTPUTF8
 * when offered and the envelope, the header section or the caller needs it
 * (`facts.smtpUtf8`: the content needs it — without it, a refusal);
 * RET and ENVID when DSN is offered (the envelope id is checked either way,
 * so a bad one fails the same with every server).
 *
 * `facts.from` and `facts.recipients` are the envelope as it goes to this
 * server: a driver first applies `envelopeForServer` (src/message/idna.ts),
 * which writes IDN domains as A-labels when SMTPUTF8 is not offered and uses
 * {@link envelopeNeedsSmtpUtf8} for the same decision — the one rule.
 *
 * 8-bit content needs 8BITMIME even under SMTPUTF8: RFC 6531 §3.1 (8) makes
 * an SMTPUTF8 server offer 8BITMIME too, and BODY=8BITMIME is the only way
 * to declare 8-bit octets (RFC 6152 §3).
 *
 * @param facts What is known about the message.
 * @param caps The server's capabilities (`null` after HELO: nothing is offered).
 * @param options DSN requests.
 * @returns The parameters, in the order sent.
 * @throws {RangeError} When a line exceeds 998 octets (RFC 5321 §4.5.3.1.6).
 * @throws {SmtpError} (phase `"mail"`) When the envelope or the content
 *   (`facts.smtpUtf8`: UTF-8 header fields; code 554, 5.6.9) needs SMTPUTF8
 *   and the server lacks it; when the size exceeds the server's SIZE (code 552, 5.3.4);
 *   when 8-bit content meets a server without 8BITMIME.
 * @throws {TypeError | RangeError} When the envelope id is not valid (RFC 3461).
 * @example
 * ```ts
 * mailParameters({ from: "a@example.org", recipients: ["b@example.net"], size: 120, eightBit: false }, caps);
 * // [["SIZE", "120"]] when the server offers SIZE
 * ```
 */
export function mailParameters(
  facts: MessageFacts,
  caps: Capabilities | null,
  options: DsnOptions = {},
): Parameter[] {
  if (facts.maxLineLength !== undefined && facts.maxLineLength > MAX_TEXT_LINE) {
    throw new RangeError(
      `Message has a line of ${facts.maxLineLength} octets; RFC 5321 allows ${MAX_TEXT_LINE} — encode the body (quoted-printable or base64)`,
    );
  }
  const needUtf8 = envelopeNeedsSmtpUtf8(facts.from, facts.recipients);
  const smtpUtf8 = needUtf8 || facts.smtpUtf8 === true || facts.headerEightBit === true;
  if (needUtf8 && !caps?.smtpUtf8) {
    throw new SmtpError(
      `Server does not offer SMTPUTF8, which the non-ASCII address${facts.recipients.length > 1 ? "es" : ""} in this envelope need`,
      { phase: "mail" },
    );
  }
  if (facts.smtpUtf8 === true && !caps?.smtpUtf8) {
    // RFC 6532 §3: UTF-8 header fields go only to a server that offers SMTPUTF8 (RFC 6531 §3.7.5: 5.6.9).
    throw new SmtpError(
      "Message has UTF-8 header fields (RFC 6532), e.g. an address with a non-ASCII local part, and the server " +
        "does not offer SMTPUTF8 (RFC 6531); nothing was sent. Use an ASCII address in the header, or a server that offers SMTPUTF8",
      { phase: "mail", code: 554, enhancedCode: "5.6.9", temporary: false },
    );
  }
  const size = facts.size;
  if (caps?.size && size !== undefined && size > caps.size) {
    throw new SmtpError(`Message of ${size} octets exceeds the server's SIZE limit of ${caps.size} octets`, {
      phase: "mail",
      code: 552,
      enhancedCode: "5.3.4",
    });
  }
  if (facts.eightBit === true && !caps?.eightBitMime) {
    throw new SmtpError(
      "Message has 8-bit data but the server does not offer 8BITMIME (RFC 6152); encode the body as quoted-printable or base64 (compose() does)",
      { phase: "mail" },
    );
  }
  const envid = options.dsnEnvelopeId ? envelopeIdValue(options.dsnEnvelopeId) : undefined;
  const params: Parameter[] = [];
  if (caps?.size !== null && caps?.size !== undefined && size !== undefined) params.push(["SIZE", String(size)]);
  if (caps?.eightBitMime && (facts.eightBit ?? true)) params.push(["BODY", "8BITMIME"]);
  if (smtpUtf8 && caps?.smtpUtf8) params.push(["SMTPUTF8", true]);
  if (caps?.dsn) {
    if (options.dsnReturn) params.push(["RET", options.dsnReturn]);
    if (envid !== undefined) params.push(["ENVID", envid]);
  }
  return params;
}

/**
 * The RCPT TO parameters for one recipient: NOTIFY and ORCPT when the
 * server offers DSN and a DSN option applies (ORCPT defaults to the address).
 *
 * @param address The forward-path.
 * @param caps The server's capabilities.
 * @param recipient This recipient's DSN requests.
 * @param options The message's DSN requests (its `dsnNotify` is the default NOTIFY).
 * @returns The parameters, in the order sent.
 * @example
 * ```ts
 * rcptParameters("b@example.net", caps, {}, { dsnNotify: ["FAILURE"] });
 * // [["NOTIFY", "FAILURE"], ["ORCPT", "rfc822;b@example.net"]] when the server offers DSN
 * ```
 */
export function rcptParameters(
  address: string,
  caps: Capabilities | null,
  recipient: RecipientDsn = {},
  options: DsnOptions = {},
): Parameter[] {
  const params: Parameter[] = [];
  const notify = recipient.notify ?? options.dsnNotify;
  if (caps?.dsn && (notify || recipient.orcpt)) {
    if (notify) params.push(["NOTIFY", notify === "NEVER" ? "NEVER" : notify.join(",")]);
    params.push(["ORCPT", orcptValue(recipient.orcpt ?? address)]);
  }
  return params;
}
