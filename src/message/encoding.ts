/**
 * Content and header encodings for the message layer (pure, no I/O):
 * UTF-8, base64 (whole and streaming, 76-column lines), quoted-printable,
 * RFC 2047 encoded words and RFC 2231 parameter values.
 *
 * @module
 */

const encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8");

/**
 * Encodes a string as UTF-8.
 *
 * @param text Any string (lone surrogates become U+FFFD).
 * @returns The UTF-8 bytes.
 */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Decodes UTF-8 bytes, replacing malformed sequences with U+FFFD.
 *
 * @param bytes The bytes.
 * @returns The text.
 */
export function fromUtf8(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

const B64 = encoder.encode("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
const B64_REV = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64_REV[B64[i]!] = i;

/** Input bytes per 76-column base64 line. */
export const BASE64_LINE_BYTES = 57;

function b64Into(src: Uint8Array, start: number, end: number, out: Uint8Array, pos: number): number {
  let i = start;
  for (; i + 2 < end; i += 3) {
    const n = (src[i]! << 16) | (src[i + 1]! << 8) | src[i + 2]!;
    out[pos++] = B64[n >>> 18]!;
    out[pos++] = B64[(n >>> 12) & 63]!;
    out[pos++] = B64[(n >>> 6) & 63]!;
    out[pos++] = B64[n & 63]!;
  }
  const rest = end - i;
  if (rest === 1) {
    const n = src[i]! << 16;
    out[pos++] = B64[n >>> 18]!;
    out[pos++] = B64[(n >>> 12) & 63]!;
    out[pos++] = 61;
    out[pos++] = 61;
  } else if (rest === 2) {
    const n = (src[i]! << 16) | (src[i + 1]! << 8);
    out[pos++] = B64[n >>> 18]!;
    out[pos++] = B64[(n >>> 12) & 63]!;
    out[pos++] = B64[(n >>> 6) & 63]!;
    out[pos++] = 61;
  }
  return pos;
}

/**
 * Base64 without line breaks.
 *
 * @param bytes The data.
 * @returns The base64 text.
 * @example
 * ```ts
 * base64(new TextEncoder().encode("hi")); // "aGk="
 * ```
 */
export function base64(bytes: Uint8Array): string {
  const out = new Uint8Array(Math.ceil(bytes.length / 3) * 4);
  b64Into(bytes, 0, bytes.length, out, 0);
  let s = "";
  for (let i = 0; i < out.length; i += 8192) s += String.fromCharCode(...out.subarray(i, i + 8192));
  return s;
}

/**
 * Base64 in lines of 76 characters, each ended by CRLF (the MIME body form).
 *
 * @param bytes The data (any length; only the last line may be short).
 * @returns ASCII bytes ready for the wire; empty input gives empty output.
 */
export function base64Lines(bytes: Uint8Array): Uint8Array {
  const lines = Math.ceil(bytes.length / BASE64_LINE_BYTES);
  const out = new Uint8Array(Math.ceil(bytes.length / 3) * 4 + lines * 2);
  let pos = 0;
  for (let i = 0; i < bytes.length; i += BASE64_LINE_BYTES) {
    pos = b64Into(bytes, i, Math.min(bytes.length, i + BASE64_LINE_BYTES), out, pos);
    out[pos++] = 13;
    out[pos++] = 10;
  }
  return out;
}

/** Largest slice of input encoded into one output chunk by {@link base64Stream} (1024 lines). */
const STREAM_SLICE = BASE64_LINE_BYTES * 1024;

/**
 * Streams base64 in 76-column CRLF lines. Only whole lines are emitted per
 * chunk; fewer than 57 bytes are carried over between input chunks, so memory
 * is bounded by one input chunk (large chunks are encoded in 57 KiB slices).
 *
 * @param source The raw data, in chunks of any size.
 * @returns The encoded lines, in chunks.
 * @example
 * ```ts
 * for await (const part of base64Stream(fileChunks)) await transport.write(part);
 * ```
 */
export async function* base64Stream(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let carry = new Uint8Array(0);
  for await (const chunk of source as AsyncIterable<Uint8Array>) {
    if (!(chunk instanceof Uint8Array)) throw new TypeError("Attachment stream yielded a value that is not a Uint8Array");
    if (chunk.length === 0) continue;
    let data = chunk;
    if (carry.length) {
      data = new Uint8Array(carry.length + chunk.length);
      data.set(carry);
      data.set(chunk, carry.length);
    }
    const whole = data.length - (data.length % BASE64_LINE_BYTES);
    for (let i = 0; i < whole; i += STREAM_SLICE) {
      yield base64Lines(data.subarray(i, Math.min(whole, i + STREAM_SLICE)));
    }
    carry = data.slice(whole);
  }
  if (carry.length) yield base64Lines(carry);
}

/**
 * Decodes base64, ignoring whitespace and stopping at the first `=`.
 *
 * @param text Base64 text.
 * @returns The bytes.
 * @throws {TypeError} On a character outside the base64 alphabet.
 */
export function fromBase64(text: string): Uint8Array {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 61) break;
    if (c === 32 || c === 9 || c === 13 || c === 10) continue;
    const v = c < 256 ? B64_REV[c]! : -1;
    if (v < 0) throw new TypeError(`Invalid base64 character "${text[i]}"`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >>> bits) & 255);
    }
  }
  return Uint8Array.from(out);
}

const HEX = "0123456789ABCDEF";

/**
 * Quoted-printable (RFC 2045 §6.7) for text whose line breaks are CRLF: line
 * breaks stay hard breaks, encoded lines are at most 76 characters, trailing
 * white space and `=` are escaped, and an `=XX` triplet is never split.
 *
 * @param text Text with CRLF line breaks (other CR or LF are escaped).
 * @returns The encoded text with CRLF line breaks.
 * @example
 * ```ts
 * quotedPrintable("Grüße\r\n"); // "Gr=C3=BC=C3=9Fe\r\n"
 * ```
 */
export function quotedPrintable(text: string): string {
  const out: string[] = [];
  const lines = text.split("\r\n");
  for (let li = 0; li < lines.length; li++) {
    const bytes = utf8(lines[li]!);
    let line = "";
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      const last = i === bytes.length - 1;
      let piece: string;
      if ((b >= 33 && b <= 126 && b !== 61) || ((b === 32 || b === 9) && !last)) piece = String.fromCharCode(b);
      else piece = "=" + HEX[b >> 4] + HEX[b & 15];
      // Keep room for a soft break "=" (76 total); the final piece of a line may use all 76.
      const limit = last ? 76 : 75;
      if (line.length + piece.length > limit) {
        out.push(line + "=\r\n");
        line = "";
      }
      line += piece;
    }
    out.push(li < lines.length - 1 ? line + "\r\n" : line);
  }
  return out.join("");
}

/** Characters that may appear literally in a Q-encoded word in any position (RFC 2047 §5(3)). */
function qSafe(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) ||
    c === 33 || c === 42 || c === 43 || c === 45 || c === 47;
}

/** Longest encoded word (RFC 2047 §2). */
export const MAX_ENCODED_WORD = 75;
const EW_OVERHEAD = "=?UTF-8?Q??=".length;

/**
 * Encodes text as RFC 2047 encoded words (UTF-8), Q unless B is clearly
 * (20%) shorter. Every word holds whole code points (a UTF-8 sequence is never
 * split) and is at most `maxFirst` (first word) or `maxRest` characters long.
 * Only the characters allowed in a `phrase` are left literal, so the result
 * is valid in display names as well as in unstructured text; `=`, `?` and
 * `_` are always escaped, so a word never contains `?` inside and ends at its
 * own `?=`.
 *
 * CR, LF and NUL are refused: an encoded word that decodes to a line break
 * would put one into the header of any reader that unfolds and decodes.
 *
 * @param text The text (may contain spaces; they are encoded).
 * @param maxFirst Maximum length of the first word, 24 to 75 (room for any one code point).
 * @param maxRest Maximum length of the other words, 24 to 75.
 * @returns The encoded words (to be separated by folding white space).
 * @throws {TypeError} When the text contains CR, LF or NUL.
 * @example
 * ```ts
 * encodeWords("Grüße"); // ["=?UTF-8?Q?Gr=C3=BC=C3=9Fe?="]
 * ```
 */
export function encodeWords(text: string, maxFirst: number = MAX_ENCODED_WORD, maxRest: number = MAX_ENCODED_WORD): string[] {
  if (maxFirst < 24 || maxRest < 24 || maxFirst > MAX_ENCODED_WORD || maxRest > MAX_ENCODED_WORD) {
    throw new RangeError("Encoded word length must be between 24 and 75");
  }
  if (/[\r\n\0]/.test(text)) throw new TypeError("Text for an encoded word must not contain CR, LF or NUL");
  const bytes = utf8(text);
  let qLen = 0;
  for (const b of bytes) qLen += qSafe(b) || b === 32 ? 1 : 3;
  // Q keeps mostly-ASCII text readable; B only when clearly shorter.
  const useB = Math.ceil(bytes.length / 3) * 4 < qLen * 0.8;
  const words: string[] = [];
  let max = maxFirst - EW_OVERHEAD;
  let cur: number[] = []; // bytes of the current word
  let curLen = 0; // encoded length of `cur`
  const flush = () => {
    if (!cur.length) return;
    const chunk = Uint8Array.from(cur);
    let body = "";
    if (useB) body = base64(chunk);
    else {
      for (const b of chunk) body += b === 32 ? "_" : qSafe(b) ? String.fromCharCode(b) : "=" + HEX[b >> 4] + HEX[b & 15];
    }
    words.push(`=?UTF-8?${useB ? "B" : "Q"}?${body}?=`);
    cur = [];
    curLen = 0;
    max = maxRest - EW_OVERHEAD;
  };
  const encLen = (n: number) => (useB ? Math.ceil(n / 3) * 4 : 0);
  for (const ch of text) {
    const cb = utf8(ch);
    let add = 0;
    if (!useB) for (const b of cb) add += qSafe(b) || b === 32 ? 1 : 3;
    const next = useB ? encLen(cur.length + cb.length) : curLen + add;
    if (next > max && cur.length) flush();
    for (const b of cb) cur.push(b);
    curLen = useB ? encLen(cur.length) : curLen + add;
  }
  flush();
  return words;
}

const ENCODED_WORD = /=\?([^?\s*]+)(?:\*[^?\s]*)?\?([QqBb])\?([^?\s]*)\?=/g;

function decodeQ(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "_") out.push(32);
    else if (c === "=" && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(text.charCodeAt(i) & 255);
  }
  return Uint8Array.from(out);
}

function decodeWordBytes(kind: string, text: string): Uint8Array | null {
  try {
    return kind === "Q" || kind === "q" ? decodeQ(text) : fromBase64(text);
  } catch {
    return null;
  }
}

const ONE_ENCODED_WORD = /^=\?([^?\s*]+)(?:\*[^?\s]*)?\?([QqBb])\?([^?\s]*)\?=$/;

/**
 * Decodes one RFC 2047 encoded word that is the whole of `word` (a phrase
 * word or a comment word, RFC 2047 §5). The result is raw text: it may hold
 * any character, CR and LF included, so treat it as data.
 *
 * @param word The candidate word, e.g. `"=?UTF-8?Q?J=C3=B6rg?="`.
 * @returns The decoded text, or `null` when `word` is not exactly one
 *   well-formed encoded word in a known charset.
 * @example
 * ```ts
 * decodeEncodedWord("=?ISO-8859-1?Q?K=F6ln?="); // "Köln"
 * decodeEncodedWord("x=?UTF-8?Q?a?="); // null (not a whole word)
 * ```
 */
export function decodeEncodedWord(word: string): string | null {
  const m = ONE_ENCODED_WORD.exec(word);
  if (!m) return null;
  const bytes = decodeWordBytes(m[2]!, m[3]!);
  if (bytes === null) return null;
  try {
    return new TextDecoder(m[1]!.toLowerCase()).decode(bytes);
  } catch {
    return null;
  }
}

/**
 * Decodes RFC 2047 encoded words in header text. White space between adjacent
 * encoded words is dropped (RFC 2047 §6.2); words in an unknown charset or
 * malformed are left as they are.
 *
 * This decoder is strict; other readers are more lenient (they accept white
 * space or stray characters inside a word). Never use it to decide whether
 * caller text is safe to pass through as encoded words: writers here encode
 * any text containing `=?` instead, so it displays literally.
 *
 * @param value Unfolded header text.
 * @returns The decoded text.
 * @example
 * ```ts
 * decodeWords("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus =?ISO-8859-1?Q?K=F6ln?="); // "Grüße aus Köln"
 * ```
 */
export function decodeWords(value: string): string {
  if (!value.includes("=?")) return value;
  let out = "";
  let last = 0;
  let prevEncodedEnd = -1;
  for (const m of value.matchAll(ENCODED_WORD)) {
    const start = m.index!;
    let decoded: string | null = null;
    const bytes = decodeWordBytes(m[2]!, m[3]!);
    if (bytes !== null) {
      try {
        decoded = new TextDecoder(m[1]!.toLowerCase()).decode(bytes);
      } catch {
        decoded = null;
      }
    }
    if (decoded === null) continue;
    const between = value.slice(last, start);
    if (!(prevEncodedEnd === last && /^[ \t]*$/.test(between))) out += between;
    out += decoded;
    last = start + m[0].length;
    prevEncodedEnd = last;
  }
  return out + value.slice(last);
}

/**
 * Percent-encodes a value for an RFC 2231 extended parameter (`attr-char`
 * stays literal, everything else is `%XX` of its UTF-8 bytes).
 *
 * @param value The parameter value.
 * @returns The encoded value, without the `UTF-8''` prefix.
 */
export function percentEncode2231(value: string): string {
  let out = "";
  for (const b of utf8(value)) {
    const ok = (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) ||
      "!#$&+-.^_`|~".includes(String.fromCharCode(b));
    out += ok ? String.fromCharCode(b) : "%" + HEX[b >> 4] + HEX[b & 15];
  }
  return out;
}
