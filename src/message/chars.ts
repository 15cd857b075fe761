/**
 * Character classes the message layer refuses or replaces (pure): controls
 * (C0, DEL, C1 and the Unicode line and paragraph separators), lone
 * surrogates and non-characters.
 *
 * One definition, used by the envelope-address check (which refuses them
 * all), the display-name reader (which replaces controls in names read from
 * headers) and the display-name writers (which refuse controls in names the
 * caller gives).
 *
 * @module
 */

/**
 * Whether a code point is a control for the message layer: C0 (U+0000–U+001F),
 * DEL (U+007F), C1 (U+0080–U+009F), or the line and paragraph separators
 * U+2028 and U+2029 (which some readers and terminals take for line breaks).
 *
 * @param cp A code point.
 * @returns `true` for a control.
 */
export function isControl(cp: number): boolean {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp === 0x2028 || cp === 0x2029;
}

/**
 * Whether a code point is a Unicode non-character: U+FDD0–U+FDEF, or the last
 * two code points of any plane (U+FFFE, U+FFFF, U+1FFFE, …, U+10FFFF).
 *
 * @param cp A code point.
 * @returns `true` for a non-character.
 */
export function isNonCharacter(cp: number): boolean {
  return (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe;
}

/** A character found by {@link firstForbidden}. */
export interface ForbiddenChar {
  /** Offset in UTF-16 code units. */
  readonly index: number;
  /** The code point (a lone surrogate is its own code unit). */
  readonly codePoint: number;
  /** Why it is refused. */
  readonly kind: "control" | "lone surrogate" | "non-character";
}

/**
 * The first control, lone surrogate or non-character in a string, or `null`.
 *
 * @param text The text.
 * @returns The offending character, or `null` when there is none.
 * @example
 * ```ts
 * firstForbidden("a\u2028b"); // { index: 1, codePoint: 0x2028, kind: "control" }
 * ```
 */
export function firstForbidden(text: string): ForbiddenChar | null {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f) continue;
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = text.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        if (isNonCharacter(cp)) return { index: i, codePoint: cp, kind: "non-character" };
        i++;
        continue;
      }
      return { index: i, codePoint: c, kind: "lone surrogate" };
    }
    if (isControl(c)) return { index: i, codePoint: c, kind: "control" };
    if (isNonCharacter(c)) return { index: i, codePoint: c, kind: "non-character" };
  }
  return null;
}

/**
 * `U+XXXX` for a code point, for error messages.
 *
 * @param cp The code point.
 * @returns E.g. `"U+2028"`.
 */
export function codePointName(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * Describes a forbidden character for an error message.
 *
 * @param f The character found by {@link firstForbidden}.
 * @returns E.g. `"the control character U+0085"`.
 */
export function describeForbidden(f: ForbiddenChar): string {
  return `the ${f.kind === "control" ? "control character" : f.kind} ${codePointName(f.codePoint)}`;
}

/**
 * Quotes text for an error message so that no control, separator or lone
 * surrogate is printed raw: JSON string syntax, with C1 controls, U+2028,
 * U+2029 and DEL escaped as well (`JSON.stringify` leaves them raw).
 *
 * @param text The text.
 * @returns The quoted text, e.g. `"a\u2028b"`.
 */
export function quoteText(text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
