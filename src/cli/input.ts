/**
 * Standard input handling for sendmail mode (pure stream transforms).
 *
 * The message is always read to the end of the input: a line holding only
 * `.` is data, whatever `-i`/`-oi` say (as esmtp and msmtp do). Ending the
 * input there, as sendmail does without `-i`, lost the rest of the message
 * for callers that do not pass `-i` (fetchmail's `mda`, mutt with its own
 * `sendmail` setting) while reporting success.
 *
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

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The header of a message read from a stream, and the whole stream again. */
export interface PeekedMessage {
  /** The header fields (empty when the message has no header). */
  readonly fields: readonly HeaderField[];
  /** The complete input: the bytes already read, then the rest. Read it once. */
  readonly stream: AsyncIterable<Uint8Array>;
  /** Length in octets of a leading mbox `From ` line (0 when there is none); it is not a header field. */
  readonly mboxLine: number;
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
  let mboxLine = 0;
  // An mbox "From " line is not a header field.
  if (block.length >= 5 && String.fromCharCode(...block.subarray(0, 5)) === "From ") {
    const nl = block.indexOf(LF);
    mboxLine = nl === -1 ? block.length : nl + 1;
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
  return { fields, stream, mboxLine };
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
