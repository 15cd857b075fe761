/**
 * Header fields (pure): name and value validation against injection, folding
 * at 78 columns with RFC 2047 encoded words, `Date` and `Message-ID` values,
 * and parsing a raw header block (folded lines; lines end as on the wire:
 * CRLF, bare LF or bare CR).
 *
 * Encoded words are never trusted from the caller: text containing `=?` is
 * itself encoded (so it displays literally, RFC 2047 §5), or refused where it
 * cannot be encoded (message ids, dates). Only words this module writes reach
 * the header, and those never decode to CR, LF or NUL.
 *
 * @module
 */

import { encodeWords, fromUtf8, utf8 } from "./encoding.ts";

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
 * that contains CR, LF or NUL.
 *
 * Encoded words in the text are not looked into: they are not trusted, so
 * the writers encode text containing `=?` ({@link needsEncoding}) and it
 * displays literally; text that cannot be encoded is checked with
 * {@link assertNoEncodedWord}.
 *
 * @param value The text.
 * @param what What the text is, for the error message (e.g. `"Subject"`).
 * @returns The value unchanged.
 * @throws {TypeError} When the value is not a string or would break the header.
 */
export function assertHeaderText(value: string, what: string): string {
  if (typeof value !== "string") throw new TypeError(`${what} must be a string`);
  if (/[\r\n\0]/.test(value)) throw new TypeError(`${what} must not contain CR, LF or NUL`);
  return value;
}

/**
 * Refuses `=?` in text that goes into a header verbatim and cannot be
 * encoded (message ids, dates, media types, Content-IDs, addresses): lenient
 * readers would decode it as an encoded word, whatever it decodes to.
 *
 * @param value The text (already checked with {@link assertHeaderText}).
 * @param what What the text is, for the error message.
 * @returns The value unchanged.
 * @throws {TypeError} When the value contains `=?`.
 */
export function assertNoEncodedWord(value: string, what: string): string {
  if (value.includes("=?")) throw new TypeError(`${what} must not contain "=?" (it would be read as an encoded word)`);
  return value;
}

/**
 * Whether text must be carried in encoded words: it has non-ASCII or control
 * characters, or contains `=?`, which readers would take for the start of an
 * encoded word (RFC 2047 §5: such text is itself encoded, so it displays
 * literally; caller text is never passed through as encoded words).
 *
 * @param text Header text.
 * @returns `true` when it has characters outside printable ASCII and tab, or `=?`.
 */
export function needsEncoding(text: string): boolean {
  return /[^\t\x20-\x7e]|=\?/.test(text);
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
   * Adds text as RFC 2047 encoded words, the first sized to fit the line —
   * unless that splits text that fits one word on a new line: then the line
   * is broken before it (fewer words; some readers, such as Python's `email`,
   * wrongly keep the space between adjacent encoded words in a display name).
   *
   * @param text Text of any characters (spaces included) except CR, LF and NUL.
   * @throws {TypeError} When the text contains CR, LF or NUL.
   */
  encoded(text: string): void {
    const room = FOLD_AT - this.#cur.length - 1;
    let words = encodeWords(text, Math.max(24, Math.min(75, room)), 75);
    if (words.length > 1 && this.#tokens > 0) {
      const whole = encodeWords(text, 75, 75);
      if (whole.length < words.length) words = whole;
    }
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
 * words with non-ASCII or control characters, containing `=?`, or longer than
 * 898 characters, become encoded words. Encoded words the caller wrote are not
 * passed through: they are encoded again, so readers show them literally and
 * no reader, however lenient, can decode a line break out of them.
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

/**
 * `atext` and `.` (0x21 0x23-27 0x2A 0x2B 0x2D-39 0x3D 0x3F 0x41-5A 0x5E-7E):
 * the characters of an unquoted id-left or id-right. Dots are taken anywhere
 * (obsolete and broken ids in received mail's References are kept, not refused).
 */
function isIdChar(c: number): boolean {
  return c === 0x21 || (c >= 0x23 && c <= 0x27) || c === 0x2a || c === 0x2b || (c >= 0x2d && c <= 0x39) ||
    c === 0x3d || c === 0x3f || (c >= 0x41 && c <= 0x5a) || (c >= 0x5e && c <= 0x7e);
}

/** `dtext` (0x21-5A 0x5E-7E): the inside of a `[literal]` id-right. */
function isDtext(c: number): boolean {
  return (c >= 0x21 && c <= 0x5a) || (c >= 0x5e && c <= 0x7e);
}

/**
 * Whether `t` is `[<] id-left @ id-right [>]`, read in one pass: each
 * character is looked at once, so no input can make it backtrack (a
 * `x+(?:\.x+)*` pattern whose `x` also holds `.` took time exponential in
 * the number of dots before a mismatch).
 */
function isMsgId(t: string): boolean {
  const n = t.length;
  let i = 0;
  if (t[i] === "<") i++;
  if (t[i] === '"') {
    // A quoted id-left: no quote, backslash or white space inside.
    for (i++; i < n && t[i] !== '"'; i++) {
      if (t[i] === "\\" || /\s/.test(t[i]!)) return false;
    }
    if (i >= n) return false;
    i++;
  } else {
    const start = i;
    while (i < n && isIdChar(t.charCodeAt(i))) i++;
    if (i === start) return false;
  }
  if (t[i] !== "@") return false;
  i++;
  if (t[i] === "[") {
    for (i++; i < n && isDtext(t.charCodeAt(i)); i++);
    if (t[i] !== "]") return false;
    i++;
  } else {
    const start = i;
    while (i < n && isIdChar(t.charCodeAt(i))) i++;
    if (i === start) return false;
  }
  if (t[i] === ">") i++;
  return i === n;
}

/**
 * Normalizes a message id to `<left@right>`, checking RFC 5322 `msg-id`
 * syntax (brackets optional on input).
 *
 * @param id A message id such as `"abc@example.org"` or `"<abc@example.org>"`.
 * @param what What the id is, for the error message.
 * @returns The id in angle brackets.
 * @throws {TypeError} When the id is not a valid `msg-id`, or contains `=?`
 *   (readers decode encoded words in message ids).
 */
export function normalizeMessageId(id: string, what = "Message-ID"): string {
  assertHeaderText(id, what);
  assertNoEncodedWord(id, what);
  const t = id.trim();
  if (!isMsgId(t) || (t.startsWith("<") !== t.endsWith(">"))) {
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
 * Where the line starting at `pos` ends, by the one definition of a line that
 * the header parser, `prepareRaw` and the wire share: CRLF, a bare LF and a
 * bare CR each end a line (the DATA and BDAT encoders send each as CRLF). So
 * `"Subject: hi\rBcc: x"` is two lines here exactly as it is two header lines
 * for the server.
 *
 * @param bytes The buffer.
 * @param pos Offset of the line's first byte.
 * @param end Offset just past the last byte to look at (default: the buffer's length).
 * @param more More bytes may follow `end`: a CR as the last byte cannot be
 *   told from the first half of a CRLF yet, so `-1` is returned for it.
 * @returns The offset just past the line ending, or `-1` when the line has
 *   no (complete) line ending before `end`.
 * @example
 * ```ts
 * const b = new TextEncoder().encode("A: 1\rB: 2\r\n");
 * lineEnd(b, 0); // 5 (after the bare CR)
 * lineEnd(b, 5); // 12 (after the CRLF)
 * ```
 */
export function lineEnd(bytes: Uint8Array, pos: number, end: number = bytes.length, more = false): number {
  for (let i = pos; i < end; i++) {
    const b = bytes[i];
    if (b === 10) return i + 1;
    if (b === 13) {
      if (i + 1 < end) return bytes[i + 1] === 10 ? i + 2 : i + 1;
      return more ? -1 : i + 1;
    }
  }
  return -1;
}

/**
 * Refuses a bare CR (one not followed by LF) or a NUL in the header section
 * of a raw message. The wire turns a bare CR into a line break, so it would
 * start a header line of its own (a `Bcc:` that is neither removed nor sent
 * to, or an empty line that ends the header early); NUL is not text.
 *
 * @param bytes The buffer.
 * @param start Offset of the header section.
 * @param end Offset just past it (the empty line included).
 * @throws {TypeError} On a bare CR or a NUL, naming the line.
 */
export function assertRawHeader(bytes: Uint8Array, start: number, end: number): void {
  let line = 1;
  for (let i = start; i < end; i++) {
    const b = bytes[i];
    if (b === 10) line++;
    else if (b === 0) throw new TypeError(`Message header line ${line} contains a NUL byte`);
    else if (b === 13) {
      if (bytes[i + 1] !== 10 || i + 1 >= end) {
        throw new TypeError(`Message header line ${line} contains a bare CR (not followed by LF), which would start a new header line`);
      }
    }
  }
}

/**
 * Splits a raw header block into fields. Handles folded lines, any line
 * ending the wire accepts (CRLF, bare LF, bare CR: see {@link lineEnd}),
 * white space before the colon (obsolete syntax) and a missing final line
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
    const value = raw.replace(/(?:\r\n|\r|\n)(?=[ \t])/g, "").replace(/(?:\r\n|\r|\n)$/, "").replace(/^[ \t]+/, "");
    fields.push({ name: current.name, value, start: current.start, end: current.end });
    current = null;
  };
  while (pos < bytes.length) {
    const le = lineEnd(bytes, pos);
    const end = le < 0 ? bytes.length : le;
    const first = bytes[pos]!;
    if (first === 10 || first === 13) break; // an empty line
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
