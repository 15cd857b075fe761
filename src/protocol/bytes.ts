/**
 * Small byte helpers for the protocol core: UTF-8 conversion, concatenation,
 * ASCII checks and quoting values for error messages.
 *
 * @module
 */

/** Carriage return, `\r`. */
export const CR = 0x0d;
/** Line feed, `\n`. */
export const LF = 0x0a;
/** Full stop, `.`. */
export const DOT = 0x2e;

const encoder = new TextEncoder();
// Not fatal: invalid UTF-8 from a server becomes U+FFFD instead of an exception.
// ignoreBOM keeps a stray BOM visible rather than silently dropping it.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Encodes text as UTF-8.
 *
 * @param text The text to encode.
 * @returns A new array with the UTF-8 octets.
 * @example
 * ```ts
 * utf8Encode("é"); // Uint8Array [0xc3, 0xa9]
 * ```
 */
export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Decodes UTF-8; invalid sequences become U+FFFD.
 *
 * @param bytes The octets to decode.
 * @returns The decoded text.
 */
export function utf8Decode(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/**
 * Joins arrays into one new array.
 *
 * @param parts The arrays, in order.
 * @returns Their concatenation (always a fresh array).
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Reads a stream of byte chunks to its end and joins them.
 *
 * @param stream The chunks, in order.
 * @returns All the bytes in one array.
 */
export async function collectBytes(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of stream) parts.push(p);
  return concatBytes(parts);
}

/**
 * Whether every character of `text` is US-ASCII (U+0000–U+007F).
 *
 * @param text The text to check.
 * @returns `true` when the text is pure ASCII.
 */
export function isAscii(text: string): boolean {
  return /^\p{ASCII}*$/u.test(text);
}

/**
 * Whether any octet in `bytes[start, end)` has its high bit set.
 *
 * @param bytes The octets to scan.
 * @param start First index (default 0).
 * @param end Index after the last (default `bytes.length`).
 * @returns `true` at the first octet ≥ 0x80.
 */
export function hasHighBit(bytes: Uint8Array, start = 0, end: number = bytes.length): boolean {
  let i = start;
  // Eight octets at a time: OR them and test once (fewer branches on long ASCII runs).
  for (; i + 8 <= end; i += 8) {
    if (
      ((bytes[i]! | bytes[i + 1]! | bytes[i + 2]! | bytes[i + 3]! | bytes[i + 4]! | bytes[i + 5]! |
        bytes[i + 6]! | bytes[i + 7]!) & 0x80) !== 0
    ) return true;
  }
  for (; i < end; i++) if ((bytes[i]! & 0x80) !== 0) return true;
  return false;
}

/**
 * Quotes a value for an error message: JSON string syntax (so control
 * characters show as escapes), cut to `max` characters with an ellipsis.
 *
 * @param value The text to quote.
 * @param max Longest part of `value` to show (default 60).
 * @returns The quoted text, e.g. `"250 ok\r"`.
 */
export function quote(value: string, max = 60): string {
  return value.length > max ? `${JSON.stringify(value.slice(0, max))}…` : JSON.stringify(value);
}
