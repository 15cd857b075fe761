/**
 * Message bytes to the wire: the one streaming line-ending normaliser
 * ({@link LineNormalizer}, shared with `data.ts`), and BDAT framing
 * (RFC 3030 §2).
 *
 * @module
 */

import { CR, DOT, hasHighBit, LF } from "./bytes.ts";
import { bdat } from "./commands.ts";

/** Longest text line in octets without its CRLF (RFC 5321 §4.5.3.1.6, RFC 5322 §2.1.1). */
export const MAX_TEXT_LINE = 998;

/** What to do with a line longer than {@link MAX_TEXT_LINE}. */
export type LongLinePolicy = "error" | "allow";

/** Options of {@link LineNormalizer}. */
export interface LineNormalizerOptions {
  /** Double a `.` at the start of every line (DATA, RFC 5321 §4.5.2). Default `false`. */
  readonly dotStuff?: boolean;
  /**
   * `"error"` (default): throw a `RangeError` as soon as a line passes
   * {@link MAX_TEXT_LINE}, before the chunk holding it is returned.
   * `"allow"`: pass it on and count it in `longLines`.
   */
  readonly onLongLine?: LongLinePolicy;
}

const EMPTY = new Uint8Array(0);
const CRLF = Uint8Array.of(CR, LF);
const NO_WORDS = new Uint32Array(0);

// Edit kinds, packed with their position as position * 4 + kind.
const INSERT_DOT = 0, INSERT_CR = 1, INSERT_LF = 2, SKIP = 3;

/**
 * Finds line breaks in one chunk, four octets at a time (SWAR: a zero-byte
 * test on `word ^ 0x0d0d0d0d` and `word ^ 0x0a0a0a0a`), and on the way ORs
 * every octet into `high` and flags NUL octets in `zero`: one pass over the
 * data instead of three.
 */
class BreakScanner {
  bytes: Uint8Array = EMPTY;
  words: Uint32Array = NO_WORDS;
  /** Index in `bytes` of `words[0]`. */
  start = 0;
  high = 0;
  zero = 0;

  reset(bytes: Uint8Array): void {
    this.bytes = bytes;
    const start = (4 - (bytes.byteOffset & 3)) & 3;
    const count = bytes.length > start ? (bytes.length - start) >> 2 : 0;
    this.start = start;
    this.words = count === 0 ? NO_WORDS : new Uint32Array(bytes.buffer, bytes.byteOffset + start, count);
    this.high = 0;
    this.zero = 0;
  }

  /** Index of the first CR or LF at or after `i`, or the chunk length. */
  next(i: number): number {
    const bytes = this.bytes, words = this.words, start = this.start, n = bytes.length;
    const wordsEnd = start + words.length * 4;
    let j = i;
    if (j < wordsEnd) {
      const aligned = j <= start ? start : start + ((j - start + 3) & ~3);
      for (; j < aligned; j++) {
        const b = bytes[j]!;
        if (b === CR || b === LF) return j;
        this.high |= b;
        if (b === 0) this.zero = 1;
      }
      let high = 0, zero = 0;
      for (let w = (j - start) >> 2; w < words.length; w++) {
        const v = words[w]!;
        const x = v ^ 0x0d0d0d0d, y = v ^ 0x0a0a0a0a;
        if ((((x - 0x01010101) & ~x) | ((y - 0x01010101) & ~y)) & 0x80808080) {
          // The test is exact for "some octet is CR or LF": find which one.
          for (j = start + w * 4; j < start + w * 4 + 4; j++) {
            const b = bytes[j]!;
            if (b === CR || b === LF) {
              this.high |= high;
              if (zero !== 0) this.zero = 1;
              return j;
            }
            this.high |= b;
            if (b === 0) this.zero = 1;
          }
        }
        high |= v;
        zero |= (v - 0x01010101) & ~v & 0x80808080;
      }
      this.high |= high;
      if (zero !== 0) this.zero = 1;
      j = wordsEnd;
    }
    for (; j < n; j++) {
      const b = bytes[j]!;
      if (b === CR || b === LF) return j;
      this.high |= b;
      if (b === 0) this.zero = 1;
    }
    return n;
  }
}

/**
 * Streaming line-ending normaliser. Every line ending becomes CRLF: CRLF
 * stays, and a bare CR or bare LF becomes CRLF. A CR at the end of one
 * chunk and an LF at the start of the next give one CRLF. With `dotStuff`
 * every line starting with `.` gets a second `.`.
 *
 * It also measures the message: normalised size, longest line, whether it
 * has 8-bit octets (in the header section, in the whole), NUL octets.
 *
 * Output shares memory with the input chunk when nothing had to change
 * (the common case for CRLF text): do not modify a chunk until its output
 * has been written. Otherwise one array is allocated per chunk.
 *
 * @example
 * ```ts
 * const n = new LineNormalizer();
 * n.push(new TextEncoder().encode("a\nb\r")); // "a\r\nb\r\n"
 * n.push(new TextEncoder().encode("\nc"));    // "c"
 * n.finish();                                 // "\r\n"
 * ```
 */
export class LineNormalizer {
  readonly #stuff: boolean;
  readonly #errorOnLong: boolean;
  #skipLf = false;
  #lineLen = 0;
  #lineIsLong = false;
  #inHeader = true;
  #size = 0;
  #maxLine = 0;
  #longLines = 0;
  #eightBit = false;
  #headerEightBit = false;
  #nul = false;
  #done = false;
  #broken = false;
  readonly #edits: number[] = [];
  readonly #scanner = new BreakScanner();

  /**
   * Creates a normaliser at the start of a message.
   *
   * @param options Dot stuffing and the long-line policy.
   */
  constructor(options: LineNormalizerOptions = {}) {
    this.#stuff = options.dotStuff === true;
    const policy = options.onLongLine ?? "error";
    if (policy !== "error" && policy !== "allow") {
      throw new TypeError(`onLongLine must be "error" or "allow", got ${JSON.stringify(policy)}`);
    }
    this.#errorOnLong = policy === "error";
  }

  /** Octets of the normalised message so far, without stuffing dots (the RFC 1870 SIZE). */
  get size(): number {
    return this.#size;
  }
  /** Longest line so far in octets, without its line ending. */
  get maxLineLength(): number {
    return Math.max(this.#maxLine, this.#lineLen);
  }
  /** Lines longer than {@link MAX_TEXT_LINE} so far. */
  get longLines(): number {
    return this.#longLines;
  }
  /** Whether any octet ≥ 0x80 was seen. */
  get eightBit(): boolean {
    return this.#eightBit;
  }
  /** Whether an octet ≥ 0x80 was seen before the first empty line (the header section). */
  get headerEightBit(): boolean {
    return this.#headerEightBit;
  }
  /** Whether a NUL octet was seen (not allowed in text; BINARYMIME only). */
  get hasNul(): boolean {
    return this.#nul;
  }
  /** Whether the output so far ends at the start of a line (after a CRLF, or nothing yet). */
  get atLineStart(): boolean {
    return this.#lineLen === 0;
  }

  /**
   * Normalises the next chunk.
   *
   * @param chunk The next octets of the message.
   * @returns The normalised (and stuffed) octets; may be a view of `chunk`.
   * @throws {RangeError} On a line over {@link MAX_TEXT_LINE} with `onLongLine: "error"`;
   *   the normaliser is unusable afterwards.
   * @throws {TypeError} After {@link finish}.
   */
  push(chunk: Uint8Array): Uint8Array {
    const delta = this.#walk(chunk);
    const edits = this.#edits;
    if (edits.length === 0) return chunk;
    if (edits.length === 1 && edits[0] === SKIP) return chunk.subarray(1);
    const out = new Uint8Array(chunk.length + delta);
    let o = 0, from = 0;
    for (const e of edits) {
      const kind = e % 4, at = (e - kind) / 4;
      out.set(chunk.subarray(from, at), o);
      o += at - from;
      from = at;
      if (kind === SKIP) from++;
      else out[o++] = kind === INSERT_DOT ? DOT : kind === INSERT_CR ? CR : LF;
    }
    out.set(chunk.subarray(from), o);
    return out;
  }

  /**
   * Measures the next chunk without producing output (see `scanMessage`).
   *
   * @param chunk The next octets of the message.
   * @throws {RangeError} As {@link push}.
   */
  scan(chunk: Uint8Array): void {
    this.#walk(chunk);
  }

  /**
   * Ends the message.
   *
   * @returns CRLF when the last line had no line ending, else an empty array.
   * @throws {TypeError} When called twice.
   */
  finish(): Uint8Array {
    this.#check();
    this.#done = true;
    if (this.#lineLen === 0) return EMPTY;
    this.#endLine();
    this.#size += 2;
    return CRLF.slice();
  }

  #check(): void {
    if (this.#done) throw new TypeError("The message was already finished");
    if (this.#broken) throw new TypeError("The encoder failed earlier and cannot continue");
  }

  #endLine(): void {
    if (this.#lineLen > this.#maxLine) this.#maxLine = this.#lineLen;
    if (this.#lineLen === 0) this.#inHeader = false;
    this.#lineLen = 0;
    this.#lineIsLong = false;
  }

  /** Records the edits `chunk` needs in `#edits` and updates the stats; returns the output size change. */
  #walk(chunk: Uint8Array): number {
    this.#check();
    const edits = this.#edits;
    edits.length = 0;
    const n = chunk.length;
    if (n === 0) return 0;
    const scanner = this.#scanner;
    scanner.reset(chunk);

    let delta = 0, dots = 0, i = 0;
    if (this.#skipLf) {
      this.#skipLf = false;
      if (chunk[0] === LF) {
        edits.push(SKIP);
        delta--;
        i = 1;
      }
    }
    while (i < n) {
      const b = scanner.next(i);
      if (b > i) {
        if (this.#lineLen === 0 && this.#stuff && chunk[i] === DOT) {
          edits.push(i * 4 + INSERT_DOT);
          dots++;
        }
        if (this.#inHeader && !this.#headerEightBit && hasHighBit(chunk, i, b)) {
          this.#headerEightBit = true;
        }
        this.#lineLen += b - i;
        if (this.#lineLen > MAX_TEXT_LINE && !this.#lineIsLong) {
          this.#lineIsLong = true;
          this.#longLines++;
          if (this.#errorOnLong) {
            this.#broken = true;
            throw new RangeError(
              `Message line exceeds ${MAX_TEXT_LINE} octets (RFC 5321 §4.5.3.1.6); ` +
                "encode the body (quoted-printable or base64) or allow long lines",
            );
          }
        }
      }
      if (b === n) break;
      if (chunk[b] === CR) {
        if (b + 1 === n) {
          edits.push(n * 4 + INSERT_LF);
          delta++;
          this.#skipLf = true;
          i = n;
        } else if (chunk[b + 1] === LF) {
          i = b + 2;
        } else {
          edits.push((b + 1) * 4 + INSERT_LF);
          delta++;
          i = b + 1;
        }
      } else {
        edits.push(b * 4 + INSERT_CR);
        delta++;
        i = b + 1;
      }
      this.#endLine();
    }
    if ((scanner.high & 0x80808080) !== 0) this.#eightBit = true;
    if (scanner.zero !== 0) this.#nul = true;
    scanner.reset(EMPTY);
    this.#size += n + delta;
    return delta + dots;
  }
}

/**
 * Normalises a message for BDAT (RFC 3030): line endings to CRLF, no dot
 * stuffing, and a final CRLF when the last line lacks one (so DATA and BDAT
 * deliver the same octets). Frame its output with {@link bdatChunk}. For
 * BINARYMIME content, which must not be touched, frame the raw octets.
 *
 * @example
 * ```ts
 * const enc = new BdatEncoder();
 * const body = enc.push(new TextEncoder().encode("Subject: hi\n\nbody"));
 * const tail = enc.end(); // "\r\n"
 * ```
 */
export class BdatEncoder {
  readonly #n: LineNormalizer;

  /**
   * Creates an encoder at the start of a message.
   *
   * @param options The long-line policy (default `"error"`).
   */
  constructor(options: { readonly onLongLine?: LongLinePolicy } = {}) {
    this.#n = new LineNormalizer({ onLongLine: options.onLongLine ?? "error" });
  }

  /**
   * Normalises the next chunk.
   *
   * @param chunk The next octets of the message.
   * @returns The normalised octets (may be a view of `chunk`).
   * @throws {RangeError} On a too-long line with `onLongLine: "error"`.
   */
  push(chunk: Uint8Array): Uint8Array {
    return this.#n.push(chunk);
  }

  /**
   * Ends the message.
   *
   * @returns CRLF when the last line had none, else an empty array.
   */
  end(): Uint8Array {
    return this.#n.finish();
  }

  /** Octets of the normalised message so far (what BDAT sizes add up to). */
  get size(): number {
    return this.#n.size;
  }
  /** Longest line so far in octets, without its CRLF. */
  get maxLineLength(): number {
    return this.#n.maxLineLength;
  }
  /** Lines longer than 998 octets so far. */
  get longLines(): number {
    return this.#n.longLines;
  }
  /** Whether any octet ≥ 0x80 was seen. */
  get eightBit(): boolean {
    return this.#n.eightBit;
  }
  /** Whether a NUL octet was seen (not allowed in text; BINARYMIME only). */
  get hasNul(): boolean {
    return this.#n.hasNul;
  }
}

/**
 * Frames one BDAT chunk: the command line, then exactly the chunk's octets.
 * An empty last chunk is `BDAT 0 LAST`.
 *
 * @param data The chunk's octets (sent as they are).
 * @param last Whether this is the last chunk.
 * @returns `[command]` for an empty chunk, else `[command, data]` (data not copied).
 * @example
 * ```ts
 * bdatChunk(new TextEncoder().encode("hi\r\n"), true); // ["BDAT 4 LAST\r\n", "hi\r\n"]
 * ```
 */
export function bdatChunk(data: Uint8Array, last: boolean): Uint8Array[] {
  const head = bdat(data.length, last);
  return data.length === 0 ? [head] : [head, data];
}
