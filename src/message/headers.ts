/**
 * Header fields (pure): name and value validation against injection, folding
 * at 78 columns with RFC 2047 encoded words, `Date` and `Message-ID` values,
 * and parsing a raw header block (folded lines, CRLF or bare LF).
 *
 * @module
 */

import { encodeWords, fromUtf8, hidesLineBreak, utf8 } from "./encoding.ts";

/** Preferred maximum line length, excluding CRLF (RFC 5322 §2.1.1). */
export const FOLD_AT = 78;
/** Hard maximum line length, excluding CRLF (RFC 5322 §2.1.1). */
export const MAX_LINE = 998;

const FTEXT = /^[!-9;-~]+$/;

/**
 * Checks a header field name: 1–76 printable ASCII characters except `:`
 * (RFC 5322 `ftext`).
 *
 * @param name The field name.
 * @returns The name unchanged.
 * @throws {TypeError} When the name is empty or has other characters.
 */
export function assertHeaderName(name: string): string {
  if (typeof name !== "string" || !FTEXT.test(name)) {
    throw new TypeError(`Header name ${JSON.stringify(name)} is not valid (printable ASCII except ":" only)`);
  }
  if (name.length > 76) throw new RangeError(`Header name "${name.slice(0, 20)}…" is longer than 76 characters`);
  return name;
}

/**
 * Refuses a header value (or a piece of one: a name, subject, file name)
 * that contains CR, LF or NUL, also when hidden in an RFC 2047 encoded word
 * such as `=?UTF-8?Q?=0D=0A?=`.
 *
 * @param value The text.
 * @param what What the text is, for the error message (e.g. `"Subject"`).
 * @returns The value unchanged.
 * @throws {TypeError} When the value is not a string or would break the header.
 */
export function assertHeaderText(value: string, what: string): string {
  if (typeof value !== "string") throw new TypeError(`${what} must be a string`);
  if (/[\r\n\0]/.test(value)) throw new TypeError(`${what} must not contain CR, LF or NUL`);
  if (hidesLineBreak(value)) throw new TypeError(`${what} must not contain an encoded word that decodes to CR, LF or NUL`);
  return value;
}

/**
 * Whether text must be carried in encoded words (non-ASCII or control characters).
 *
 * @param text Header text.
 * @returns `true` when it has characters outside printable ASCII and tab.
 */
export function needsEncoding(text: string): boolean {
  return /[^\t\x20-\x7e]/.test(text);
}

/**
 * Builds one header field folded at 78 columns: tokens are separated by
 * single spaces where a line may break; encoded words are sized to the room
 * left on the line.
 *
 * @example
 * ```ts
 * const f = new HeaderFolder("Subject");
 * f.token("Hello");
 * f.encoded("wörld");
 * f.toString(); // "Subject: Hello =?UTF-8?Q?w=C3=B6rld?="
 * ```
 */
export class HeaderFolder {
  #lines: string[] = [];
  #cur: string;
  #tokens = 0;

  /**
   * Starts a field.
   *
   * @param name The field name (validated).
   */
  constructor(name: string) {
    this.#cur = assertHeaderName(name) + ":";
  }

  /**
   * Adds a token preceded by one space, breaking the line before it when it
   * would pass 78 columns. An empty token (a second space) never breaks.
   *
   * @param token Text without CR/LF.
   */
  token(token: string): void {
    if (token !== "" && this.#tokens > 0 && this.#cur.length + 1 + token.length > FOLD_AT) {
      this.#lines.push(this.#cur);
      this.#cur = "";
    }
    this.#cur += " " + token;
    this.#tokens++;
  }

  /**
   * Adds text as RFC 2047 encoded words, the first sized to fit the line.
   *
   * @param text Text of any characters (spaces included).
   */
  encoded(text: string): void {
    const room = FOLD_AT - this.#cur.length - 1;
    const words = encodeWords(text, Math.max(24, Math.min(75, room)), 75);
    for (const w of words) this.token(w);
  }

  /**
   * The folded field without a trailing CRLF.
   *
   * @returns `Name: value` lines joined by CRLF.
   * @throws {RangeError} When an unbreakable line exceeds 998 octets.
   */
  toString(): string {
    const lines = [...this.#lines, this.#cur];
    for (const l of lines) {
      if (utf8(l).length > MAX_LINE) throw new RangeError(`Header line is longer than ${MAX_LINE} octets and cannot be folded`);
    }
    return lines.join("\r\n");
  }
}

/**
 * Folds an unstructured value (Subject, Comments, custom fields): ASCII words
 * stay as they are (a word too long for 78 columns makes a longer line), runs of
 * words with non-ASCII or control characters, or longer than 898 characters,
 * become encoded words. Encoded words the caller wrote pass through (after
 * the CR/LF/NUL check).
 *
 * @param name Field name.
 * @param value Field value (validated: no CR, LF, NUL).
 * @returns The folded field without a trailing CRLF.
 * @example
 * ```ts
 * foldUnstructured("Subject", "Grüße aus Köln");
 * // "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus =?UTF-8?Q?K=C3=B6ln?="
 * ```
 */
export function foldUnstructured(name: string, value: string): string {
  assertHeaderText(value, `Header "${name}"`);
  const f = new HeaderFolder(name);
  const words = value.split(" ");
  // Long ASCII words (URLs, ids) stay intact on a long line unless they would pass 998 octets.
  const enc = words.map((w) => needsEncoding(w) || w.length > MAX_LINE - 100);
  // Empty words (runs of spaces) between two encoded words join the run, so their spaces survive decoding.
  for (let i = 0; i < words.length; i++) {
    if (enc[i] || words[i] !== "") continue;
    let j = i;
    while (j < words.length && words[j] === "") j++;
    if (i > 0 && enc[i - 1] && j < words.length && enc[j]) for (let k = i; k < j; k++) enc[k] = true;
    i = j - 1;
  }
  for (let i = 0; i < words.length;) {
    if (!enc[i]) {
      f.token(words[i]!);
      i++;
      continue;
    }
    let j = i;
    while (j < words.length && enc[j]) j++;
    f.encoded(words.slice(i, j).join(" "));
    i = j;
  }
  return f.toString();
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const p2 = (n: number) => String(n).padStart(2, "0");

/**
 * Formats a date for the `Date:` field (RFC 5322 §3.3).
 *
 * @param date The moment.
 * @param offsetMinutes Zone offset east of UTC; defaults to the local zone.
 * @returns E.g. `"Tue, 02 Jan 2024 15:04:05 +0100"`.
 * @throws {RangeError} On an invalid date.
 * @example
 * ```ts
 * formatDate(new Date(Date.UTC(2024, 0, 2, 15, 4, 5)), 0); // "Tue, 02 Jan 2024 15:04:05 +0000"
 * ```
 */
export function formatDate(date: Date, offsetMinutes?: number): string {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw new RangeError("Date is not a valid date");
  const off = offsetMinutes ?? -date.getTimezoneOffset();
  const d = new Date(date.getTime() + off * 60_000);
  const sign = off < 0 ? "-" : "+";
  const abs = Math.abs(off);
  return `${DAYS[d.getUTCDay()]}, ${p2(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${sign}${p2(Math.floor(abs / 60))}${p2(abs % 60)}`;
}

/** Source of random bytes: fills and returns `n` bytes. */
export type RandomBytes = (n: number) => Uint8Array;

/**
 * The default random source, `crypto.getRandomValues` (a web-standard global).
 *
 * @param n Number of bytes.
 * @returns `n` random bytes.
 */
export const defaultRandom: RandomBytes = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

const B32 = "abcdefghijklmnopqrstuvwxyz234567";

/**
 * Lower-case base32 of random bytes (for message ids and boundaries).
 *
 * @param random Random source.
 * @param n Number of random bytes.
 * @returns The text (8 characters per 5 bytes).
 */
export function randomToken(random: RandomBytes, n: number): string {
  const bytes = random(n);
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += B32[(acc >>> bits) & 31];
    }
    acc &= 255;
  }
  if (bits > 0) out += B32[(acc << (5 - bits)) & 31];
  return out;
}

/**
 * A new message id `<random@domain>`.
 *
 * @param domain The right-hand side (an ASCII host name).
 * @param random Random source (default `crypto.getRandomValues`).
 * @returns The id with angle brackets.
 * @example
 * ```ts
 * newMessageId("example.org"); // "<k3q…@example.org>"
 * ```
 */
export function newMessageId(domain: string, random: RandomBytes = defaultRandom): string {
  return `<${randomToken(random, 15)}@${domain}>`;
}

const MSG_ID = /^<?([!#-'*-+\--9=?A-Z^-~]+(?:\.[!#-'*-+\--9=?A-Z^-~]+)*|"[^"\\\s]*")@([!#-'*-+\--9=?A-Z^-~]+(?:\.[!#-'*-+\--9=?A-Z^-~]+)*|\[[!-Z^-~]*\])>?$/;

/**
 * Normalizes a message id to `<left@right>`, checking RFC 5322 `msg-id`
 * syntax (brackets optional on input).
 *
 * @param id A message id such as `"abc@example.org"` or `"<abc@example.org>"`.
 * @param what What the id is, for the error message.
 * @returns The id in angle brackets.
 * @throws {TypeError} When the id is not a valid `msg-id`.
 */
export function normalizeMessageId(id: string, what = "Message-ID"): string {
  assertHeaderText(id, what);
  const t = id.trim();
  if (!MSG_ID.test(t) || (t.startsWith("<") !== t.endsWith(">"))) {
    throw new TypeError(`${what} ${JSON.stringify(id)} is not a valid message id (id-left@id-right)`);
  }
  return t.startsWith("<") ? t : `<${t}>`;
}

/** One field of a parsed raw header block. */
export interface HeaderField {
  /** The name as written (case kept; compare case-insensitively). */
  readonly name: string;
  /** The value unfolded, UTF-8 decoded, without leading white space or the line ending. */
  readonly value: string;
  /** Byte offset of the field's first line in the block. */
  readonly start: number;
  /** Byte offset just past the field's last line ending. */
  readonly end: number;
}

/**
 * Splits a raw header block into fields. Handles folded lines, CRLF or bare
 * LF, white space before the colon (obsolete syntax) and a missing final line
 * ending. Parsing stops at the first empty line or at the first line that is
 * neither a field nor a continuation.
 *
 * @param block The header block (or a whole message; the body is ignored).
 * @returns The fields in order.
 * @example
 * ```ts
 * parseHeaderBlock("To: a@example.org,\n b@example.org\nSubject: hi\n\nbody");
 * // [{ name: "To", value: "a@example.org, b@example.org", … }, { name: "Subject", value: "hi", … }]
 * ```
 */
export function parseHeaderBlock(block: Uint8Array | string): HeaderField[] {
  const bytes = typeof block === "string" ? utf8(block) : block;
  const fields: HeaderField[] = [];
  let pos = 0;
  let current: { name: string; start: number; valueStart: number; end: number } | null = null;
  const finish = () => {
    if (!current) return;
    const raw = fromUtf8(bytes.subarray(current.valueStart, current.end));
    const value = raw.replace(/\r?\n(?=[ \t])/g, "").replace(/\r?\n$/, "").replace(/^[ \t]+/, "");
    fields.push({ name: current.name, value, start: current.start, end: current.end });
    current = null;
  };
  while (pos < bytes.length) {
    const nl = bytes.indexOf(10, pos);
    const end = nl < 0 ? bytes.length : nl + 1;
    const first = bytes[pos]!;
    if (first === 10 || (first === 13 && bytes[pos + 1] === 10)) break;
    if (first === 32 || first === 9) {
      if (!current) break;
      current.end = end;
    } else {
      const colon = headerColon(bytes, pos, end);
      if (colon < 0) break;
      finish();
      let nameEnd = colon;
      while (nameEnd > pos && (bytes[nameEnd - 1] === 32 || bytes[nameEnd - 1] === 9)) nameEnd--;
      current = { name: fromUtf8(bytes.subarray(pos, nameEnd)), start: pos, valueStart: colon + 1, end };
    }
    pos = end;
  }
  finish();
  return fields;
}

/**
 * Where the colon of a header field line is (`ftext` name, optional WSP, colon).
 *
 * @param bytes The buffer.
 * @param start Offset of the line.
 * @param end Offset just past the line.
 * @returns The colon's offset, or -1 when the line is not a field.
 */
export function headerColon(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end && bytes[i]! >= 33 && bytes[i]! <= 126 && bytes[i] !== 58) i++;
  if (i === start) return -1;
  while (i < end && (bytes[i] === 32 || bytes[i] === 9)) i++;
  return i < end && bytes[i] === 58 ? i : -1;
}
