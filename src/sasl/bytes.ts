/**
 * Byte helpers for the SASL core: UTF-8, UTF-16LE, hex, strict base64,
 * concatenation and a constant-time comparison. Pure and synchronous.
 *
 * @module
 */
import { concatBytes } from "../protocol/bytes.ts";

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });
const lenientDecoder = new TextDecoder("utf-8");

/**
 * Encodes a string as UTF-8.
 *
 * @param text The string.
 * @returns Its UTF-8 bytes.
 * @example
 * ```ts
 * utf8("é"); // Uint8Array [0xc3, 0xa9]
 * ```
 */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Decodes UTF-8 bytes to a string.
 *
 * @param bytes The bytes.
 * @param fatal When `true`, malformed UTF-8 throws a `TypeError`; otherwise
 *   it is replaced with U+FFFD.
 * @returns The decoded text.
 * @example
 * ```ts
 * fromUtf8(utf8("Username:")); // "Username:"
 * ```
 */
export function fromUtf8(bytes: Uint8Array, fatal = false): string {
  return (fatal ? strictDecoder : lenientDecoder).decode(bytes);
}

/**
 * Encodes a string as UTF-16 little-endian (the NTLM "Unicode" encoding).
 *
 * @param text The string.
 * @returns Two bytes per UTF-16 code unit, low byte first.
 * @example
 * ```ts
 * utf16le("Hi"); // Uint8Array [0x48, 0, 0x69, 0]
 * ```
 */
export function utf16le(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out[2 * i] = c & 0xff;
    out[2 * i + 1] = c >>> 8;
  }
  return out;
}

/**
 * Joins byte arrays.
 *
 * @param parts The arrays, in order.
 * @returns A new array holding all of them.
 * @example
 * ```ts
 * concat(utf8("a"), utf8("b")); // bytes of "ab"
 * ```
 */
export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  return concatBytes(parts);
}

const HEX = "0123456789abcdef";

/**
 * Lower-case hexadecimal rendering.
 *
 * @param bytes The bytes.
 * @returns Two hex digits per byte.
 * @example
 * ```ts
 * toHex(new Uint8Array([1, 255])); // "01ff"
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += HEX[b >>> 4]! + HEX[b & 15]!;
  return s;
}

/**
 * Parses hexadecimal (either case; spaces are ignored).
 *
 * @param hex Hex digits, an even number of them.
 * @returns The bytes.
 * @throws {SyntaxError} On an odd length or a non-hex character.
 * @example
 * ```ts
 * fromHex("01ff"); // Uint8Array [1, 255]
 * ```
 */
export function fromHex(hex: string): Uint8Array {
  const s = hex.replace(/\s+/g, "");
  if (s.length % 2 !== 0 || /[^0-9a-fA-F]/.test(s)) throw new SyntaxError("Invalid hexadecimal string");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX: Int16Array = (() => {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) t[B64.charCodeAt(i)] = i;
  return t;
})();

/**
 * Standard base64 (RFC 4648 §4) with padding.
 *
 * @param bytes The bytes.
 * @returns The base64 text (empty for empty input).
 * @example
 * ```ts
 * base64Encode(utf8("\x00user\x00pass")); // "AHVzZXIAcGFzcw=="
 * ```
 */
export function base64Encode(bytes: Uint8Array): string {
  let s = "";
  const n = bytes.length;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    s += B64[v >>> 18]! + B64[(v >>> 12) & 63]! + B64[(v >>> 6) & 63]! + B64[v & 63]!;
  }
  if (i < n) {
    const b0 = bytes[i]!;
    const b1 = i + 1 < n ? bytes[i + 1]! : 0;
    const v = (b0 << 16) | (b1 << 8);
    s += B64[v >>> 18]! + B64[(v >>> 12) & 63]!;
    s += i + 1 < n ? B64[(v >>> 6) & 63]! + "=" : "==";
  }
  return s;
}

/**
 * Strict base64 decoding (RFC 4648 §4): the standard alphabet only, length a
 * multiple of four, at most two `=` and only at the end, and unused bits of
 * the last character zero (canonical encoding). No whitespace is accepted:
 * the caller strips the line's CRLF first.
 *
 * @param text The base64 text; `""` decodes to no bytes.
 * @returns The decoded bytes.
 * @throws {SyntaxError} When `text` is not canonical base64; the message says why
 *   but never repeats the input (it may carry a secret).
 * @example
 * ```ts
 * base64Decode("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+");
 * ```
 */
export function base64Decode(text: string): Uint8Array {
  const n = text.length;
  if (n % 4 !== 0) throw new SyntaxError(`Invalid base64: length ${n} is not a multiple of 4`);
  let pad = 0;
  if (n > 0 && text.charCodeAt(n - 1) === 61) pad = text.charCodeAt(n - 2) === 61 ? 2 : 1;
  const out = new Uint8Array((n / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < n; i += 4) {
    const last = i + 4 === n;
    const vals = [0, 0, 0, 0];
    for (let j = 0; j < 4; j++) {
      const c = text.charCodeAt(i + j);
      if (last && c === 61 && j >= 4 - pad) continue;
      const v = c < 128 ? B64_INDEX[c]! : -1;
      if (v < 0) {
        throw new SyntaxError(
          c === 61 ? `Invalid base64: padding at position ${i + j}` : `Invalid base64: unexpected character at position ${i + j}`,
        );
      }
      vals[j] = v;
    }
    const v = (vals[0]! << 18) | (vals[1]! << 12) | (vals[2]! << 6) | vals[3]!;
    if (last && pad === 2 && (v & 0xffff) !== 0) throw new SyntaxError("Invalid base64: non-zero trailing bits");
    if (last && pad === 1 && (v & 0xff) !== 0) throw new SyntaxError("Invalid base64: non-zero trailing bits");
    out[o++] = v >>> 16;
    if (o < out.length) out[o++] = (v >>> 8) & 0xff;
    if (o < out.length) out[o++] = v & 0xff;
  }
  return out;
}

/**
 * Compares two byte arrays in time that depends only on their lengths, not
 * on where they differ (for MACs and signatures).
 *
 * @param a First array.
 * @param b Second array.
 * @returns Whether they are equal.
 * @example
 * ```ts
 * timingSafeEqual(expected, received);
 * ```
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
