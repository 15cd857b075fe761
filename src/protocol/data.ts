/**
 * The DATA encoder (RFC 5321 §4.1.1.4, §4.5.2): line endings normalised to
 * CRLF, leading dots doubled, then the `.` terminator line — streaming, with
 * state kept across chunks.
 *
 * Invariant (SMTP smuggling, CVE-2023-51764/51765/51766): the output has
 * exactly one line that is a lone `.`, the last. Bare CR and bare LF are
 * turned into CRLF *before* dot stuffing sees the line starts, so `\n.\n`,
 * `\r.\r`, `\n.\r\n` and the like all arrive as `\r\n..\r\n`.
 *
 * Long lines (over 998 octets, RFC 5321 §4.5.3.1.6) are reported, never
 * silently sent: by default the encoder throws a `RangeError` before
 * returning the chunk that holds one. To choose SIZE / BODY parameters and
 * refuse long lines before anything is sent, run {@link scanMessage} first.
 *
 * @module
 */

import { CR, DOT, LF } from "./bytes.ts";
import { LineNormalizer, type LongLinePolicy } from "./bdat.ts";

const END = Uint8Array.of(DOT, CR, LF);
const CRLF_END = Uint8Array.of(CR, LF, DOT, CR, LF);

/** Options of {@link DataEncoder}. */
export interface DataEncoderOptions {
  /** `"error"` (default): throw `RangeError` on a line over 998 octets; `"allow"`: send it and count it. */
  readonly onLongLine?: LongLinePolicy;
}

/**
 * Streaming DATA encoder.
 *
 * @example
 * ```ts
 * const enc = new DataEncoder();
 * const body = enc.push(new TextEncoder().encode("Subject: hi\n\n.hidden\n"));
 * // "Subject: hi\r\n\r\n..hidden\r\n"
 * const tail = enc.end(); // ".\r\n"
 * ```
 */
export class DataEncoder {
  readonly #n: LineNormalizer;

  /**
   * Creates an encoder at the start of a message.
   *
   * @param options The long-line policy.
   */
  constructor(options: DataEncoderOptions = {}) {
    this.#n = new LineNormalizer({ dotStuff: true, onLongLine: options.onLongLine ?? "error" });
  }

  /**
   * Encodes the next chunk of the message.
   *
   * @param chunk The next octets. Do not modify it until the result is written:
   *   when nothing changes, the result is a view of it.
   * @returns The octets to send.
   * @throws {RangeError} On a line over 998 octets with `onLongLine: "error"`
   *   (the encoder cannot continue; do not send the terminator).
   * @throws {TypeError} After {@link end}.
   */
  push(chunk: Uint8Array): Uint8Array {
    return this.#n.push(chunk);
  }

  /**
   * Ends the message.
   *
   * @returns `\r\n.\r\n` when the last line had no line ending, else `.\r\n`.
   * @throws {TypeError} When called twice.
   */
  end(): Uint8Array {
    return this.#n.finish().length > 0 ? CRLF_END.slice() : END.slice();
  }

  /** Octets of the message as the server stores it (normalised, no stuffing dots, no terminator). */
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
  /** Whether any octet ≥ 0x80 was seen (BODY=8BITMIME is needed). */
  get eightBit(): boolean {
    return this.#n.eightBit;
  }
  /** Whether a NUL octet was seen. */
  get hasNul(): boolean {
    return this.#n.hasNul;
  }
}

/** What {@link scanMessage} found. */
export interface MessageScan {
  /** Octets after line-ending normalisation, final CRLF included: the RFC 1870 SIZE value. */
  readonly size: number;
  /** Longest line in octets, without its line ending. */
  readonly maxLineLength: number;
  /** Lines longer than 998 octets. */
  readonly longLines: number;
  /** Whether any octet ≥ 0x80 occurs (BODY=8BITMIME). */
  readonly eightBit: boolean;
  /** Whether one occurs before the first empty line (UTF-8 headers: SMTPUTF8, RFC 6532). */
  readonly headerEightBit: boolean;
  /** Whether a NUL octet occurs (not allowed in DATA text). */
  readonly hasNul: boolean;
}

/**
 * Measures a whole message without encoding it, so the client can pick
 * SIZE, BODY and SMTPUTF8 and refuse long lines before sending anything.
 *
 * @param message The raw message (any line endings).
 * @returns Its size after normalisation and what it contains.
 * @example
 * ```ts
 * const scan = scanMessage(new TextEncoder().encode("Subject: é\n\nhi"));
 * // { size: 19, maxLineLength: 11, longLines: 0, eightBit: true, headerEightBit: true, hasNul: false }
 * ```
 */
export function scanMessage(message: Uint8Array): MessageScan {
  const n = new LineNormalizer({ onLongLine: "allow" });
  n.scan(message);
  n.finish();
  return {
    size: n.size,
    maxLineLength: n.maxLineLength,
    longLines: n.longLines,
    eightBit: n.eightBit,
    headerEightBit: n.headerEightBit,
    hasNul: n.hasNul,
  };
}
