/**
 * xtext (RFC 3461 §4) and the RFC 6533 `utf-8-addr-xtext` form, for the
 * ENVID, ORCPT and AUTH= parameters.
 *
 * xtext keeps the octets `!` to `~` except `+` and `=`; every other octet
 * (of the UTF-8 encoding) becomes `+` and two upper-case hex digits.
 *
 * @module
 */

import { isAscii, quote, utf8Decode, utf8Encode } from "./bytes.ts";

const XTEXT = /^(?:[!-*,-<>-~]|\+[0-9A-F]{2})*$/;

/**
 * Encodes text as xtext (RFC 3461 §4), octet by octet of its UTF-8 form.
 *
 * @param text Any text.
 * @returns Its xtext form (pure ASCII).
 * @example
 * ```ts
 * xtextEncode("a+b=c d"); // "a+2Bb+3Dc+20d"
 * ```
 */
export function xtextEncode(text: string): string {
  let out = "";
  for (const b of utf8Encode(text)) {
    out += b >= 0x21 && b <= 0x7e && b !== 0x2b && b !== 0x3d
      ? String.fromCharCode(b)
      : `+${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * Whether `text` is well-formed xtext: only `!`–`~` without `=`, and every
 * `+` followed by two upper-case hex digits.
 *
 * @param text The text to check.
 * @returns `true` when it is xtext.
 */
export function isXtext(text: string): boolean {
  return XTEXT.test(text);
}

/**
 * Decodes xtext; the octets are read as UTF-8.
 *
 * @param text Well-formed xtext.
 * @returns The decoded text.
 * @throws {TypeError} When `text` is not xtext.
 * @example
 * ```ts
 * xtextDecode("a+2Bb"); // "a+b"
 * ```
 */
export function xtextDecode(text: string): string {
  if (!XTEXT.test(text)) throw new TypeError(`Value is not xtext: ${quote(text)}`);
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "+") {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(text.charCodeAt(i));
    }
  }
  return utf8Decode(Uint8Array.from(bytes));
}

/**
 * The RFC 6533 §3 `utf-8-addr-xtext` form of an address: ASCII `!`–`~`
 * except `+`, `=` and `\` kept, every other character written as
 * `\x{HEX}` (upper case, at least two digits). Pure ASCII, so it is safe
 * in ORCPT even without SMTPUTF8.
 *
 * @param address The address (may contain any Unicode).
 * @returns The encoded form.
 * @example
 * ```ts
 * utf8AddrXtext("jö@example.org"); // "j\\x{F6}@example.org"
 * ```
 */
export function utf8AddrXtext(address: string): string {
  let out = "";
  for (const ch of address) {
    const cp = ch.codePointAt(0)!;
    out += cp >= 0x21 && cp <= 0x7e && ch !== "+" && ch !== "=" && ch !== "\\"
      ? ch
      : `\\x{${cp.toString(16).toUpperCase().padStart(2, "0")}}`;
  }
  return out;
}

/**
 * The value of an ORCPT parameter (RFC 3461 §4.2) for an original
 * recipient: `rfc822;` + xtext for an ASCII address, `utf-8;` +
 * {@link utf8AddrXtext} for an internationalised one (RFC 6533 §3).
 *
 * @param address The original recipient address, without angle brackets.
 * @returns The ready-to-send parameter value.
 * @example
 * ```ts
 * orcptValue("a+b@example.org"); // "rfc822;a+2Bb@example.org"
 * ```
 */
export function orcptValue(address: string): string {
  return isAscii(address) ? `rfc822;${xtextEncode(address)}` : `utf-8;${utf8AddrXtext(address)}`;
}

/** Longest ENVID value, in characters of its xtext form (RFC 3461 §4.4). */
export const MAX_ENVID = 100;

/**
 * The value of an ENVID parameter (RFC 3461 §4.4) for an envelope id:
 * checked, then xtext-encoded. The id may hold any printable US-ASCII
 * character and spaces (`"batch 42"` is sent as `ENVID=batch+2042`). Refused:
 * an empty id, any other character (controls, tab, non-ASCII: §4.4 allows
 * only printable US-ASCII before encoding, and Postfix answers `501 Bad
 * ENVID parameter syntax` to a tab), and an encoded value longer than
 * 100 characters (the stricter reading of §4.4's limit: every server
 * accepts it).
 *
 * @param id The envelope id as the user wrote it (not yet encoded).
 * @returns The xtext form to send after `ENVID=`.
 * @throws {TypeError} When the id is empty or holds a character §4.4 forbids.
 * @throws {RangeError} When the encoded id is longer than 100 characters.
 * @example
 * ```ts
 * envelopeIdValue("id x"); // "id+20x"
 * ```
 */
export function envelopeIdValue(id: string): string {
  if (typeof id !== "string" || id === "") throw new TypeError("Envelope id must be a non-empty string");
  const bad = /[^\x20-\x7e]/.exec(id);
  if (bad) {
    const cp = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    throw new TypeError(
      `Envelope id ${quote(id)} has the character U+${cp}; RFC 3461 allows only printable US-ASCII characters and spaces`,
    );
  }
  const value = xtextEncode(id);
  if (value.length > MAX_ENVID) {
    throw new RangeError(
      `Envelope id ${quote(id)} is ${value.length} characters once encoded as xtext; RFC 3461 allows ${MAX_ENVID}`,
    );
  }
  return value;
}
