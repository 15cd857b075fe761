/**
 * The reply reader: server bytes in, {@link Reply} events out (sans-I/O).
 *
 * Grammar (RFC 5321 §4.2): every line is a three-digit code, then `-` (more
 * lines follow), a space, or nothing (`250\r\n`), then text. All lines of one
 * reply carry the same code.
 *
 * Policies:
 * - Codes are strict: `[2-5][0-5][0-9]` (the ABNF of RFC 5321 §4.2). `1yz`
 *   replies are refused: RFC 5321 §4.2.1 notes SMTP has no command that
 *   allows one, so a client cannot act on it.
 * - Line endings: CRLF, and a bare LF is tolerated (some servers and proxies
 *   send it; on the reading side it cannot smuggle anything). A CR anywhere
 *   but just before the LF, and NUL, are refused: both can rewrite what a log
 *   or terminal shows.
 * - Text is decoded as UTF-8 (RFC 6531 servers may send it); invalid octets
 *   become U+FFFD.
 * - Caps (design note 4), each a {@link ProtocolError} when passed, checked
 *   as bytes arrive so an unterminated line never buffers past its cap:
 *   {@link MAX_REPLY_LINE}, {@link MAX_REPLY_SIZE}, {@link MAX_REPLY_LINES}.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import { CR, LF, quote, utf8Decode } from "./bytes.ts";
import type { Reply } from "./types.ts";

/**
 * Longest reply line in octets, code included, line ending excluded.
 * RFC 5321 §4.5.3.1.5 says 512 with the CRLF, but real servers send longer
 * EHLO and rejection lines (Exchange, Gmail); 4096 leaves room for those and
 * still bounds memory.
 */
export const MAX_REPLY_LINE = 4096;
/** Largest reply in octets, all lines and line endings included (64 KiB). */
export const MAX_REPLY_SIZE = 65536;
/**
 * Most lines in one reply. Real EHLO replies have about twenty; an endless
 * `250-` stream must end in a clear error, not in memory growth.
 */
export const MAX_REPLY_LINES = 1000;

const NUL = 0;

interface Queued {
  readonly reply: Reply;
  readonly octets: number;
}

/**
 * Incremental SMTP reply parser. Feed it bytes with {@link receiveData},
 * take complete replies with {@link nextEvent}.
 *
 * Replies that were complete before a protocol error are still returned;
 * then `nextEvent()` throws the error, and keeps throwing it. Complete
 * replies wait in a queue until taken: call `nextEvent()` until it returns
 * `null` after every `receiveData()`.
 *
 * @example
 * ```ts
 * const parser = new ReplyParser();
 * parser.receiveData(new TextEncoder().encode("250-mx.example.org\r\n250 SIZE 1000\r\n"));
 * const reply = parser.nextEvent(); // { type: "reply", code: 250, enhanced: null, lines: [...] }
 * ```
 */
export class ReplyParser {
  #partial = new Uint8Array(128);
  #partialLen = 0;
  #code = 0;
  #lines: string[] = [];
  #enhanced: string | null = null;
  #replyOctets = 0;
  #queue: (Queued | undefined)[] = [];
  /** Index of the next reply in #queue: shift() on a long array copies it, quadratic over a big read. */
  #head = 0;
  #buffered = 0;
  #error: ProtocolError | null = null;
  #eof = false;

  /**
   * Octets received but not yet returned by {@link nextEvent}: queued
   * replies, the lines of a reply in progress and an unterminated line.
   * The driver checks it is 0 before a TLS handshake (bytes sent before it
   * would otherwise be trusted as if they came over TLS).
   *
   * @returns The count of unconsumed octets.
   */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * Adds bytes from the server. Never throws for bad input: errors are
   * reported by {@link nextEvent}. After an error, further bytes are counted
   * in {@link bufferedBytes} and discarded.
   *
   * @param data The next octets, in order. Not kept: the parser copies what it needs.
   * @throws {TypeError} When called after {@link receiveEof}.
   */
  receiveData(data: Uint8Array): void {
    if (this.#eof) throw new TypeError("receiveData() called after receiveEof()");
    this.#buffered += data.length;
    let pos = 0;
    while (this.#error === null && pos < data.length) {
      const lf = data.indexOf(LF, pos);
      if (lf === -1) {
        this.#appendPartial(data, pos, data.length);
        return;
      }
      if (this.#partialLen === 0) {
        this.#line(data, pos, lf);
      } else {
        this.#appendPartial(data, pos, lf);
        if (this.#error === null) this.#line(this.#partial, 0, this.#partialLen);
        this.#partialLen = 0;
      }
      pos = lf + 1;
    }
  }

  /**
   * Marks the end of the stream. Afterwards {@link nextEvent} returns the
   * remaining complete replies, then throws a {@link ProtocolError} if a
   * reply was cut off, or returns `null`.
   */
  receiveEof(): void {
    this.#eof = true;
  }

  /**
   * The next complete reply.
   *
   * @returns The reply, or `null` when more bytes are needed (or the stream ended cleanly).
   * @throws {ProtocolError} When the server broke the reply grammar or a cap,
   *   or the stream ended inside a reply.
   */
  nextEvent(): Reply | null {
    const next = this.#queue[this.#head];
    if (next) {
      this.#queue[this.#head++] = undefined; // let it be collected
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      } else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      this.#buffered -= next.octets;
      return next.reply;
    }
    if (this.#error) throw this.#error;
    if (this.#eof && (this.#partialLen > 0 || this.#lines.length > 0)) {
      this.#error = new ProtocolError(
        this.#lines.length > 0
          ? `Connection closed in the middle of a multi-line ${this.#code} reply`
          : "Connection closed in the middle of a reply line",
      );
      throw this.#error;
    }
    return null;
  }

  #fail(message: string): void {
    this.#error = new ProtocolError(message);
  }

  #appendPartial(data: Uint8Array, start: number, end: number): void {
    const add = end - start;
    const len = this.#partialLen + add;
    // +1: the last octet may be the CR of a CRLF split across reads.
    if (len > MAX_REPLY_LINE + 1) {
      this.#fail(`Reply line exceeds ${MAX_REPLY_LINE} octets without a line ending`);
      return;
    }
    if (this.#replyOctets + len > MAX_REPLY_SIZE) {
      this.#fail(`Reply exceeds ${MAX_REPLY_SIZE} octets`);
      return;
    }
    if (len > this.#partial.length) {
      const grown = new Uint8Array(Math.min(Math.max(len, this.#partial.length * 2), MAX_REPLY_LINE + 1));
      grown.set(this.#partial.subarray(0, this.#partialLen));
      this.#partial = grown;
    }
    this.#partial.set(data.subarray(start, end), this.#partialLen);
    this.#partialLen = len;
  }

  /** One complete line `bytes[start, lf)`; `lf` is the index of its LF. */
  #line(bytes: Uint8Array, start: number, lf: number): void {
    const octets = lf - start + 1;
    let end = lf;
    if (end > start && bytes[end - 1] === CR) end--;
    const raw = bytes.subarray(start, end);
    const shown = (): string => quote(utf8Decode(raw));
    if (raw.length > MAX_REPLY_LINE) return this.#fail(`Reply line exceeds ${MAX_REPLY_LINE} octets`);
    this.#replyOctets += octets;
    if (this.#replyOctets > MAX_REPLY_SIZE) return this.#fail(`Reply exceeds ${MAX_REPLY_SIZE} octets`);
    if (this.#lines.length >= MAX_REPLY_LINES) return this.#fail(`Reply has more than ${MAX_REPLY_LINES} lines`);
    if (raw.indexOf(CR) !== -1) return this.#fail(`Reply line contains a bare CR: ${shown()}`);
    if (raw.indexOf(NUL) !== -1) return this.#fail(`Reply line contains a NUL octet: ${shown()}`);

    const d0 = raw[0], d1 = raw[1], d2 = raw[2], sep = raw[3];
    if (
      raw.length < 3 || d0 === undefined || d1 === undefined || d2 === undefined ||
      d0 < 0x32 || d0 > 0x35 || d1 < 0x30 || d1 > 0x35 || d2 < 0x30 || d2 > 0x39
    ) {
      const hint = d0 === 0x31 ? " (1yz replies are not used in SMTP)" : "";
      return this.#fail(`Reply line does not start with a reply code from 200 to 559${hint}: ${shown()}`);
    }
    if (sep !== undefined && sep !== 0x20 && sep !== 0x2d) {
      return this.#fail(`Reply code must be followed by a space, "-" or the line end: ${shown()}`);
    }
    const code = (d0 - 0x30) * 100 + (d1 - 0x30) * 10 + (d2 - 0x30);
    const text = raw.length > 4 ? utf8Decode(raw.subarray(4)) : "";
    if (this.#lines.length === 0) {
      this.#code = code;
      this.#enhanced = enhancedCode(code, text);
    } else if (code !== this.#code) {
      return this.#fail(`Continuation line has code ${code} inside a ${this.#code} reply: ${shown()}`);
    }
    this.#lines.push(text);
    if (sep === 0x2d) return;

    this.#queue.push({
      reply: { type: "reply", code, enhanced: this.#enhanced, lines: this.#lines },
      octets: this.#replyOctets,
    });
    this.#lines = [];
    this.#enhanced = null;
    this.#replyOctets = 0;
  }
}

/**
 * The RFC 3463 enhanced status code (`class.subject.detail`) at the start of
 * a reply text, if its class matches the reply's first digit.
 */
function enhancedCode(code: number, text: string): string | null {
  const m = /^([245])\.(\d{1,3})\.(\d{1,3})(?=[ \t]|$)/.exec(text);
  return m && Number(m[1]) === Math.floor(code / 100) ? m[0] : null;
}

/**
 * The reply's text: its lines joined by `separator`, each line's leading
 * enhanced status code (the one in {@link Reply.enhanced}) removed.
 *
 * @param reply A parsed reply.
 * @param separator What goes between lines (default one space, so error messages stay on one line).
 * @returns The human-readable text.
 * @example
 * ```ts
 * replyText({ type: "reply", code: 550, enhanced: "5.1.1", lines: ["5.1.1 No such user", "5.1.1 Try again"] });
 * // "No such user Try again"
 * ```
 */
export function replyText(reply: Reply, separator = " "): string {
  const code = reply.enhanced;
  return reply.lines
    .map((line) => {
      if (code === null || !line.startsWith(code)) return line;
      const rest = line.slice(code.length);
      return rest === "" || rest[0] === " " || rest[0] === "\t" ? rest.replace(/^[ \t]+/, "") : line;
    })
    .join(separator);
}

/**
 * Parses a whole transcript of replies at once (tests, fixtures).
 *
 * @param text Server output; `\n` alone is accepted as a line ending.
 * @returns Every reply in order.
 * @throws {ProtocolError} On malformed input or a reply cut off at the end.
 * @example
 * ```ts
 * parseReplies("220 hi\r\n250 ok\r\n").map((r) => r.code); // [220, 250]
 * ```
 */
export function parseReplies(text: string): Reply[] {
  const parser = new ReplyParser();
  parser.receiveData(new TextEncoder().encode(text));
  parser.receiveEof();
  const out: Reply[] = [];
  for (let r = parser.nextEvent(); r; r = parser.nextEvent()) out.push(r);
  return out;
}
