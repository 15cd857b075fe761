/**
 * The command writer: every function returns exactly one command line,
 * ending in CRLF, as UTF-8 octets (sans-I/O).
 *
 * Every argument is checked before a byte is produced: CR, LF, NUL and the
 * other control characters are refused everywhere (they would let a caller's
 * data inject a second command), with a `TypeError` naming the argument.
 *
 * Line lengths:
 * - {@link MAX_COMMAND_LINE}: 512 octets with the CRLF (RFC 5321 §4.5.3.1.4).
 * - MAIL and RCPT: the line *without* parameters must fit 512 octets; each
 *   ESMTP parameter may add up to {@link MAX_PARAMETER} octets more.
 *   RFC 5321 §4.5.3.1.4 lets extensions raise the limit, each by what its
 *   parameter needs; the largest any registered extension claims is 500
 *   (AUTH=, RFC 4954 §5; NOTIFY with ORCPT, RFC 3461 §4).
 * - AUTH: {@link MAX_AUTH_LINE}; continuation lines {@link MAX_AUTH_RESPONSE_LINE}.
 *
 * @module
 */

import { isAscii, quote, utf8Encode } from "./bytes.ts";
import { isXtext } from "./xtext.ts";

/** Longest command line in octets, CRLF included (RFC 5321 §4.5.3.1.4). */
export const MAX_COMMAND_LINE = 512;
/** Most octets one ESMTP parameter (` KEY=VALUE`) may add to a MAIL or RCPT line. */
export const MAX_PARAMETER = 512;
/**
 * Longest AUTH command line in octets, CRLF included (RFC 4954 §4): when
 * the initial response would not fit, send it on a continuation line.
 */
export const MAX_AUTH_LINE = 512;
/** Longest SASL continuation line in octets, CRLF included (RFC 4954 §4). */
export const MAX_AUTH_RESPONSE_LINE = 12288;

/**
 * ESMTP parameters for MAIL or RCPT: `KEY=value`, or `true` for a bare
 * keyword. Values are sent as given: encode ENVID and ORCPT values with
 * `xtextEncode` / `orcptValue` from `xtext.ts` first.
 */
export type EsmtpParams =
  | Readonly<Record<string, string | true>>
  | readonly (readonly [string, string | true])[];

// C0, DEL and C1 (U+0085 NEL is a line break to some software).
const CONTROL = /\p{Cc}/u;
const PARAM_KEY = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const PARAM_VALUE = /^[!-<>-~]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function noControls(what: string, value: string): void {
  if (typeof value !== "string") throw new TypeError(`${what} must be a string`);
  if (CONTROL.test(value)) {
    throw new TypeError(`${what} must not contain CR, LF, NUL or other control characters: ${quote(value)}`);
  }
}

function line(text: string, max: number, what: string): Uint8Array {
  const bytes = utf8Encode(`${text}\r\n`);
  if (bytes.length > max) {
    throw new RangeError(`${what} command line would be ${bytes.length} octets; the limit is ${max}`);
  }
  return bytes;
}

function domain(what: string, name: string): string {
  noControls(`${what} domain`, name);
  if (!/^[!-~]+$/.test(name)) {
    throw new TypeError(
      `${what} domain must be non-empty printable ASCII without spaces (use A-labels for IDNs): ${quote(name)}`,
    );
  }
  return name;
}

/** Never in an address on the wire: line/paragraph separators, lone surrogates, non-characters. */
const NOT_IN_ADDRESS = /[\u2028\u2029]|\p{Cs}|\p{Noncharacter_Code_Point}/u;

function address(what: string, addr: string, allowEmpty: boolean): string {
  noControls(`${what} address`, addr);
  if (NOT_IN_ADDRESS.test(addr)) {
    throw new TypeError(`${what} address must not contain a line or paragraph separator, lone surrogate or non-character: ${quote(addr)}`);
  }
  if (addr === "" && !allowEmpty) throw new TypeError(`${what} address must not be empty`);
  if (/[<>]/.test(addr)) throw new TypeError(`${what} address must not contain "<" or ">": ${quote(addr)}`);
  // Spaces are only possible inside a quoted local part: "john smith"@example.org.
  if (/\s/.test(addr) && !/^"(?:[^"\\]|\\.)*"@\S*$/.test(addr)) {
    throw new TypeError(`${what} address must not contain spaces outside a quoted local part: ${quote(addr)}`);
  }
  return addr;
}

function params(what: string, list: EsmtpParams | undefined): string {
  if (list === undefined) return "";
  const entries = Array.isArray(list) ? list : Object.entries(list);
  const seen = new Set<string>();
  let out = "";
  for (const [rawKey, value] of entries as Iterable<readonly [string, string | true]>) {
    noControls(`${what} parameter name`, rawKey);
    if (!PARAM_KEY.test(rawKey)) throw new TypeError(`${what} parameter name is not an ESMTP keyword: ${quote(rawKey)}`);
    const key = rawKey.toUpperCase();
    if (seen.has(key)) throw new TypeError(`${what} parameter ${quote(key)} is given twice`);
    seen.add(key);
    let piece = ` ${key}`;
    if (value !== true) {
      noControls(`${what} parameter ${key}`, value);
      if (!PARAM_VALUE.test(value)) {
        throw new TypeError(
          `${what} parameter ${key} must be printable ASCII without spaces or "=": ${quote(value)}`,
        );
      }
      checkKnown(what, key, value);
      piece += `=${value}`;
    }
    if (piece.length > MAX_PARAMETER) {
      throw new RangeError(`${what} parameter ${key} is ${piece.length} octets; the limit is ${MAX_PARAMETER}`);
    }
    out += piece;
  }
  return out;
}

/** Value rules of the parameters this client sends itself. */
function checkKnown(what: string, key: string, value: string): void {
  const bad = (rule: string): never => {
    throw new TypeError(`${what} parameter ${key} ${rule}: ${quote(value)}`);
  };
  if (key === "SIZE" && !/^\d{1,20}$/.test(value)) bad("must be a decimal number of octets");
  if (key === "ENVID") {
    if (!isXtext(value)) bad("must be xtext (use xtextEncode)");
    if (value.length > 100) bad("must be at most 100 characters (RFC 3461 §4.4)");
  }
  if (key === "ORCPT") {
    const semi = value.indexOf(";");
    if (semi < 1 || !/^[A-Za-z0-9-]+$/.test(value.slice(0, semi)) || !isXtext(value.slice(semi + 1))) {
      bad('must be "addr-type;xtext" (use orcptValue)');
    }
    if (value.length > 500) bad("must be at most 500 characters (RFC 3461 §4.2)");
  }
}

function bare(verb: string): Uint8Array {
  return utf8Encode(`${verb}\r\n`);
}

/**
 * `EHLO <domain>` (RFC 5321 §4.1.1.1).
 *
 * @param name Our host name, or an address literal such as `[192.0.2.1]`; ASCII only.
 * @returns The command line.
 * @throws {TypeError} When `name` is empty, has spaces, control or non-ASCII characters.
 * @example
 * ```ts
 * ehlo("client.example.org"); // "EHLO client.example.org\r\n"
 * ```
 */
export function ehlo(name: string): Uint8Array {
  return line(`EHLO ${domain("EHLO", name)}`, MAX_COMMAND_LINE, "EHLO");
}

/**
 * `HELO <domain>` (RFC 5321 §4.1.1.1), for servers that refuse EHLO.
 *
 * @param name Our host name or address literal; ASCII only.
 * @returns The command line.
 * @throws {TypeError} As {@link ehlo}.
 */
export function helo(name: string): Uint8Array {
  return line(`HELO ${domain("HELO", name)}`, MAX_COMMAND_LINE, "HELO");
}

/**
 * `STARTTLS` (RFC 3207).
 *
 * @returns The command line.
 */
export function starttls(): Uint8Array {
  return bare("STARTTLS");
}

/**
 * `AUTH <mechanism> [initial-response]` (RFC 4954 §4).
 *
 * @param mechanism SASL mechanism name, e.g. `"PLAIN"` (sent upper-cased).
 * @param initialResponse Base64 initial response; `""` is sent as `=` (an
 *   empty response); `undefined` sends none.
 * @returns The command line.
 * @throws {TypeError} When the mechanism is not a SASL name or the response is not base64.
 * @throws {RangeError} When the line would exceed {@link MAX_AUTH_LINE}: send
 *   the response with {@link authResponse} after the server's 334 instead.
 * @example
 * ```ts
 * auth("PLAIN", "AHVzZXIAcGFzcw=="); // "AUTH PLAIN AHVzZXIAcGFzcw==\r\n"
 * auth("PLAIN", "");                 // "AUTH PLAIN =\r\n"
 * ```
 */
export function auth(mechanism: string, initialResponse?: string): Uint8Array {
  noControls("AUTH mechanism", mechanism);
  if (!/^[A-Za-z0-9_-]{1,20}$/.test(mechanism)) {
    throw new TypeError(`AUTH mechanism is not a SASL mechanism name: ${quote(mechanism)}`);
  }
  let text = `AUTH ${mechanism.toUpperCase()}`;
  if (initialResponse !== undefined) {
    noControls("AUTH initial response", initialResponse);
    if (!BASE64.test(initialResponse)) throw new TypeError("AUTH initial response must be base64");
    text += ` ${initialResponse === "" ? "=" : initialResponse}`;
  }
  return line(text, MAX_AUTH_LINE, "AUTH");
}

/**
 * One SASL client response line (RFC 4954 §4), sent after a 334 challenge.
 *
 * @param base64 The base64 response; `""` sends an empty line (an empty response).
 * @returns The line.
 * @throws {TypeError} When `base64` is not base64 (use {@link authCancel} to cancel).
 * @throws {RangeError} When the line would exceed {@link MAX_AUTH_RESPONSE_LINE}.
 */
export function authResponse(base64: string): Uint8Array {
  noControls("AUTH response", base64);
  if (!BASE64.test(base64)) throw new TypeError("AUTH response must be base64");
  return line(base64, MAX_AUTH_RESPONSE_LINE, "AUTH response");
}

/**
 * `*`: cancels a SASL exchange (RFC 4954 §4); the server answers 501.
 *
 * @returns The line.
 */
export function authCancel(): Uint8Array {
  return bare("*");
}

/**
 * `MAIL FROM:<address> [params]` (RFC 5321 §4.1.1.2).
 *
 * @param from The reverse-path; `""` for the null sender `<>`. May be UTF-8
 *   (then the driver must add `SMTPUTF8`, see {@link needsSmtpUtf8}).
 * @param parameters ESMTP parameters, e.g. `[["SIZE", "1234"], ["BODY", "8BITMIME"], ["SMTPUTF8", true]]`.
 * @returns The command line.
 * @throws {TypeError} On control characters, `<`/`>`, stray spaces, bad parameter names or values.
 * @throws {RangeError} When the line is too long.
 * @example
 * ```ts
 * mailFrom("me@example.org", { SIZE: "1234", BODY: "8BITMIME" });
 * // "MAIL FROM:<me@example.org> SIZE=1234 BODY=8BITMIME\r\n"
 * ```
 */
export function mailFrom(from: string, parameters?: EsmtpParams): Uint8Array {
  const base = `MAIL FROM:<${address("MAIL FROM", from, true)}>`;
  const extra = params("MAIL FROM", parameters);
  line(base, MAX_COMMAND_LINE, "MAIL FROM");
  return utf8Encode(`${base}${extra}\r\n`);
}

/**
 * `RCPT TO:<address> [params]` (RFC 5321 §4.1.1.3).
 *
 * @param to The forward-path (not empty; `Postmaster` alone is allowed). May be UTF-8.
 * @param parameters ESMTP parameters, e.g. `{ NOTIFY: "FAILURE,DELAY", ORCPT: orcptValue(to) }`.
 * @returns The command line.
 * @throws {TypeError} As {@link mailFrom}, and for an empty address.
 * @throws {RangeError} When the line is too long.
 * @example
 * ```ts
 * rcptTo("you@example.net", [["NOTIFY", "NEVER"]]); // "RCPT TO:<you@example.net> NOTIFY=NEVER\r\n"
 * ```
 */
export function rcptTo(to: string, parameters?: EsmtpParams): Uint8Array {
  const base = `RCPT TO:<${address("RCPT TO", to, false)}>`;
  const extra = params("RCPT TO", parameters);
  line(base, MAX_COMMAND_LINE, "RCPT TO");
  return utf8Encode(`${base}${extra}\r\n`);
}

/**
 * Whether an address needs the SMTPUTF8 extension (RFC 6531): it has a
 * non-ASCII character.
 *
 * @param addr The address.
 * @returns `true` when SMTPUTF8 is needed.
 */
export function needsSmtpUtf8(addr: string): boolean {
  return !isAscii(addr);
}

/**
 * `DATA` (RFC 5321 §4.1.1.4).
 *
 * @returns The command line.
 */
export function data(): Uint8Array {
  return bare("DATA");
}

/**
 * `BDAT <size>[ LAST]` (RFC 3030 §2); exactly `size` octets must follow.
 *
 * @param size Octets in the chunk (a non-negative safe integer).
 * @param last Whether this is the last chunk.
 * @returns The command line.
 * @throws {RangeError} When `size` is not a non-negative safe integer.
 * @example
 * ```ts
 * bdat(123, true); // "BDAT 123 LAST\r\n"
 * ```
 */
export function bdat(size: number, last: boolean): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`BDAT size must be a non-negative integer, got ${String(size)}`);
  }
  return bare(last ? `BDAT ${size} LAST` : `BDAT ${size}`);
}

/**
 * `RSET` (RFC 5321 §4.1.1.5).
 *
 * @returns The command line.
 */
export function rset(): Uint8Array {
  return bare("RSET");
}

/**
 * `NOOP` (RFC 5321 §4.1.1.9).
 *
 * @returns The command line.
 */
export function noop(): Uint8Array {
  return bare("NOOP");
}

/**
 * `VRFY <string>` (RFC 5321 §4.1.1.6).
 *
 * @param query A user name or address (may be UTF-8; no control characters).
 * @returns The command line.
 * @throws {TypeError} When `query` is empty or has control characters.
 * @throws {RangeError} When the line is too long.
 */
export function vrfy(query: string): Uint8Array {
  noControls("VRFY argument", query);
  if (query.trim() === "") throw new TypeError("VRFY argument must not be empty");
  return line(`VRFY ${query}`, MAX_COMMAND_LINE, "VRFY");
}

/**
 * `QUIT` (RFC 5321 §4.1.1.10).
 *
 * @returns The command line.
 */
export function quit(): Uint8Array {
  return bare("QUIT");
}

/**
 * `VERB`: asks a Sendmail server for verbose delivery reports.
 *
 * @returns The command line.
 */
export function verb(): Uint8Array {
  return bare("VERB");
}
