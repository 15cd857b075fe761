// Seeded generators of hostile input for the parser fuzz (tests/parser_fuzz_test.ts):
// structure-aware tokens mixed with random bytes, Unicode spaces, controls,
// very long runs and deep nesting. Deterministic for a given seed.

/** mulberry32: a small deterministic PRNG. */
export function prng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { int: (n) => Math.floor(next() * n), pick: (xs) => xs[Math.floor(next() * xs.length)]! };
}

/** A seeded random source. */
export interface Rng {
  /** An integer in [0, n). */
  int(n: number): number;
  /** One element of `xs`. */
  pick<T>(xs: readonly T[]): T;
}

/** Characters that delimit structure in one format or another. */
export const STRUCTURE: readonly string[] = [
  '"', "'", "\\", "(", ")", "<", ">", "[", "]", "{", "}", ",", ";", ":", "@", ".", "=", "#", "%", "*", "?",
  "!", "-", "/", "+", "=?", "?=", "\\\\", '\\"', "..", "@@",
];

/** White space: ASCII blanks and the Unicode spaces a paste brings along. */
export const SPACES: readonly string[] = [
  " ", "\t", "\v", "\f", "\u00a0", "\u1680", "\u2000", "\u2003", "\u200a", "\u2028", "\u2029", "\u202f",
  "\u205f", "\u3000", "\ufeff", "\u0085", "\u180e",
];

/** Line breaks and other controls. */
export const CONTROLS: readonly string[] = ["\r", "\n", "\r\n", "\0", "\x7f", "\x1b", "\x08", "\x80", "\x9f"];

/** Non-ASCII text, lone surrogates included. */
export const UNICODE: readonly string[] = ["é", "ü", "日本", "😀", "\ud800", "\udc00", "\ufffe", "\uffff", "xn--", "\u0301"];

const NEST: readonly (readonly [string, string])[] = [
  ["(", ")"], ["[", "]"], ["<", ">"], ['"', '"'], ["{", "}"], ["=?utf-8?q?", "?="], ["'", "'"], ["\\", ""],
];

/** Longest input the fuzz produces (64 KiB). */
export const MAX_INPUT = 65536;

/**
 * Hostile text for one parser: its own tokens (`vocabulary`) mixed with
 * structure characters, spaces, controls, non-ASCII, random code units, long
 * runs of one piece and deep nesting; at most {@link MAX_INPUT} characters.
 * Most inputs are short; about one in ten holds a run or nesting thousands deep.
 *
 * @param rng The random source.
 * @param vocabulary Tokens that mean something to the parser under test.
 * @returns The text.
 */
export function hostile(rng: Rng, vocabulary: readonly string[]): string {
  const big = rng.int(10) === 0;
  const pieces = big ? 1 + rng.int(8) : 1 + rng.int(40);
  const out: string[] = [];
  let length = 0;
  const piece = (): string => {
    switch (rng.int(12)) {
      case 0: case 1: case 2: case 3: return rng.pick(vocabulary);
      case 4: case 5: return rng.pick(STRUCTURE);
      case 6: return rng.pick(SPACES);
      case 7: return rng.pick(CONTROLS);
      case 8: return rng.pick(UNICODE);
      case 9: return String.fromCharCode(rng.int(256));
      case 10: return String.fromCharCode(rng.int(0x10000));
      default: return "a".repeat(1 + rng.int(8));
    }
  };
  for (let i = 0; i < pieces && length < MAX_INPUT; i++) {
    let p: string;
    if (big && rng.int(2) === 0) {
      // A very long run of one piece (or of a short mix).
      const unit = rng.int(3) === 0 ? piece() + piece() : piece();
      p = unit.repeat(Math.ceil((100 + rng.int(30000)) / Math.max(1, unit.length)));
    } else if (big) {
      const [open, close] = rng.pick(NEST);
      const depth = 10 + rng.int(5000);
      p = open.repeat(depth) + piece() + (rng.int(4) === 0 ? "" : close.repeat(depth));
    } else p = piece();
    out.push(p);
    length += p.length;
  }
  return out.join("").slice(0, MAX_INPUT);
}

/** The text as bytes, one per UTF-16 unit (low 8 bits), as a server or file may send anything. */
export function latin1Bytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

/** Cuts `bytes` into random pieces (empty ones included). */
export function chunks(rng: Rng, bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < bytes.length) {
    const n = rng.int(4) === 0 ? rng.int(3) : 1 + rng.int(rng.int(8) === 0 ? 8192 : 64);
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}
