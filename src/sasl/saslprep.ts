/**
 * SASLprep (RFC 4013), the stringprep profile SCRAM applies to passwords,
 * treating the input as a "query" (unassigned code points allowed, RFC 5802
 * §5.1).
 *
 * Covered:
 * - mapping (RFC 3454 B.1 and C.1.2): "commonly mapped to nothing" characters
 *   are removed; non-ASCII spaces become U+0020;
 * - normalisation: NFKC through `String.prototype.normalize` (the runtime's
 *   Unicode version, newer than stringprep's 3.2 — identical for all
 *   characters assigned in 3.2);
 * - prohibited output (RFC 3454 C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7,
 *   C.8, C.9): rejected, including lone surrogates.
 *
 * Not covered: the bidirectional check (RFC 3454 §6), because JavaScript
 * regular expressions cannot test `Bidi_Class`; strings mixing
 * right-to-left and left-to-right text are passed through unchanged.
 *
 * @module
 */

// B.1: commonly mapped to nothing.
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/g;
// C.1.2: non-ASCII space characters (U+200B is in B.1 too; it is removed first).
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g;

// Prohibited output, by RFC 3454 table.
const PROHIBITED = new RegExp(
  "[" +
    "\\u00A0\\u1680\\u2000-\\u200B\\u202F\\u205F\\u3000" + // C.1.2
    "\\u0000-\\u001F\\u007F" + // C.2.1
    "\\u0080-\\u009F\\u06DD\\u070F\\u180E\\u200C\\u200D\\u2028\\u2029\\u2060-\\u2063\\u206A-\\u206F\\uFEFF\\uFFF9-\\uFFFC\\u{1D173}-\\u{1D17A}" + // C.2.2
    "\\uE000-\\uF8FF\\u{F0000}-\\u{FFFFD}\\u{100000}-\\u{10FFFD}" + // C.3
    "\\uFDD0-\\uFDEF\\uFFFE\\uFFFF\\u{1FFFE}\\u{1FFFF}\\u{2FFFE}\\u{2FFFF}\\u{3FFFE}\\u{3FFFF}\\u{4FFFE}\\u{4FFFF}" +
    "\\u{5FFFE}\\u{5FFFF}\\u{6FFFE}\\u{6FFFF}\\u{7FFFE}\\u{7FFFF}\\u{8FFFE}\\u{8FFFF}\\u{9FFFE}\\u{9FFFF}" +
    "\\u{AFFFE}\\u{AFFFF}\\u{BFFFE}\\u{BFFFF}\\u{CFFFE}\\u{CFFFF}\\u{DFFFE}\\u{DFFFF}\\u{EFFFE}\\u{EFFFF}" +
    "\\u{FFFFE}\\u{FFFFF}\\u{10FFFE}\\u{10FFFF}" + // C.4
    "\\uD800-\\uDFFF" + // C.5 (only lone surrogates can match with the u flag)
    "\\uFFF9-\\uFFFD" + // C.6
    "\\u2FF0-\\u2FFB" + // C.7
    "\\u0340\\u0341\\u200E\\u200F\\u202A-\\u202E" + // C.8
    "\\u{E0001}\\u{E0020}-\\u{E007F}" + // C.9
    "]",
  "u",
);

/**
 * Applies SASLprep (RFC 4013) to a string, as a query.
 *
 * @param input The string (a password, typically).
 * @returns The prepared string.
 * @throws {RangeError} When the result contains a prohibited character. The
 *   message names neither the input nor the character (it may be a password).
 * @example
 * ```ts
 * saslprep("I\u00ADX"); // "IX"
 * saslprep("\u2168"); // "IX" (NFKC)
 * saslprep("a\u00A0b"); // "a b"
 * ```
 */
export function saslprep(input: string): string {
  const mapped = input.replace(MAPPED_TO_NOTHING, "").replace(NON_ASCII_SPACE, " ");
  const normalized = mapped.normalize("NFKC");
  if (PROHIBITED.test(normalized)) {
    throw new RangeError("The string contains a character that SASLprep prohibits");
  }
  return normalized;
}
