/**
 * Standard input handling for sendmail mode (pure stream transforms).
 *
 * - {@link endAtLoneDot}: without `-i`, a line holding only `.` ends the
 *   message, as in sendmail and Postfix; that line and everything after it are
 *   not read. Other lines pass through byte for byte (a leading dot is not
 *   removed, as Postfix does).
 * - {@link peekHeader}: reads just the header block so the account can be
 *   chosen by the `From:` address before the message is prepared; the bytes
 *   read are replayed in front of the rest of the stream.
 *
 * @module
 */
import { flattenAddresses, parseAddressList } from "../message/address.ts";
import { type HeaderField, parseHeaderBlock } from "../message/headers.ts";

const LF = 10;
const CR = 13;
const DOT = 46;

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Ends a message at the first line that holds only `.` (`.\n`, `.\r\n`, or a
 * final `.` without a line ending). Streams: at most two bytes are held back
 * across chunk boundaries; reading stops at the dot line and the source is
 * closed (a sender that keeps the pipe open does not keep smtpsend waiting).
 *
 * @param source The raw input.
 * @returns The input up to (not including) the dot line.
 * @example
 * ```ts
 * const body = args.ignoreDots ? host.stdin() : endAtLoneDot(host.stdin());
 * ```
 */
export async function* endAtLoneDot(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  // "." or ".\r" seen at a line start at the end of the previous chunk: undecided until more arrives.
  let carry: Uint8Array = new Uint8Array(0);
  let atLineStart = true;
  for await (const piece of source) {
    if (piece.length === 0) continue;
    let buf = piece;
    let pos: number;
    if (carry.length > 0) {
      buf = concat(carry, piece);
      carry = new Uint8Array(0);
      pos = 0;
    } else if (atLineStart) {
      pos = 0;
    } else {
      const nl = buf.indexOf(LF);
      pos = nl === -1 ? buf.length : nl + 1;
    }
    let held = false;
    while (pos < buf.length) {
      if (buf[pos] === DOT) {
        const n1 = buf[pos + 1];
        if (n1 === LF || (n1 === CR && buf[pos + 2] === LF)) {
          if (pos > 0) yield buf.subarray(0, pos);
          return;
        }
        if (pos + 1 === buf.length || (n1 === CR && pos + 2 === buf.length)) {
          if (pos > 0) yield buf.subarray(0, pos);
          carry = buf.slice(pos);
          held = true;
          break;
        }
      }
      const nl = buf.indexOf(LF, pos);
      if (nl === -1) break;
      pos = nl + 1;
    }
    if (held) {
      atLineStart = true;
      continue;
    }
    yield buf;
    atLineStart = buf[buf.length - 1] === LF;
  }
  // A final "." (or ".\r") without a line ending is a lone dot line too: dropped.
}

/** The header of a message read from a stream, and the whole stream again. */
export interface PeekedMessage {
  /** The header fields (empty when the message has no header). */
  readonly fields: readonly HeaderField[];
  /** The complete input: the bytes already read, then the rest. Read it once. */
  readonly stream: AsyncIterable<Uint8Array>;
}

/** Where the header block ends in `buf` (index after the empty line), or -1 if not yet seen. */
function headerEnd(buf: Uint8Array): number {
  if (buf[0] === LF) return 1;
  if (buf[0] === CR && buf[1] === LF) return 2;
  for (let i = buf.indexOf(LF); i !== -1; i = buf.indexOf(LF, i + 1)) {
    if (buf[i + 1] === LF) return i + 2;
    if (buf[i + 1] === CR && buf[i + 2] === LF) return i + 3;
  }
  return -1;
}

/**
 * Reads a message's header block (up to `max` bytes) without losing it.
 *
 * @param source The message.
 * @param max Stop looking after this many bytes (default 1 MiB); the message
 *   is still replayed whole.
 * @returns The header fields and the replayed stream.
 */
export async function peekHeader(source: AsyncIterable<Uint8Array>, max = 1024 * 1024): Promise<PeekedMessage> {
  const it = source[Symbol.asyncIterator]();
  let buf: Uint8Array = new Uint8Array(0);
  let done = false;
  while (headerEnd(buf) === -1 && buf.length <= max) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    buf = buf.length ? concat(buf, r.value) : r.value;
  }
  let block = buf;
  // An mbox "From " line is not a header field.
  if (block.length >= 5 && String.fromCharCode(...block.subarray(0, 5)) === "From ") {
    const nl = block.indexOf(LF);
    block = nl === -1 ? new Uint8Array(0) : block.subarray(nl + 1);
  }
  const fields = parseHeaderBlock(block);
  const head = buf;
  const stream = (async function* (): AsyncGenerator<Uint8Array> {
    if (head.length) yield head;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  })();
  return { fields, stream };
}

/**
 * The address of the first mailbox in the (`Resent-`)`From:` field, for
 * choosing the account; `undefined` when there is none or it does not parse.
 *
 * @param fields Header fields.
 * @returns The bare address.
 */
export function headerSender(fields: readonly HeaderField[]): string | undefined {
  const resent = fields.some((f) => f.name.toLowerCase().startsWith("resent-"));
  const name = resent ? "resent-from" : "from";
  const field = fields.find((f) => f.name.toLowerCase() === name && f.value.trim() !== "");
  if (!field) return undefined;
  try {
    return flattenAddresses(parseAddressList(field.value))[0]?.address;
  } catch {
    return undefined;
  }
}
