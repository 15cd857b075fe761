/**
 * Envelope derivation and header rewriting for raw messages (pure), as a
 * sendmail-compatible command does with a message on standard input.
 *
 * Decisions (sendmail, Postfix, msmtp and Emacs smtpmail differ):
 * - Envelope sender: `-f`, else the configured identity, else the header:
 *   `From:` (as msmtp's `--read-envelope-from` does), falling back to
 *   `Sender:` only when `From:` is absent or lists several mailboxes (where
 *   RFC 5322 requires `Sender:`). When any `Resent-*` field exists,
 *   `Resent-From:`/`Resent-Sender:` are used the same way.
 * - Recipients: the arguments; with `-t` also `To:`, `Cc:` and `Bcc:` — or,
 *   when any `Resent-*` field exists, only `Resent-To:`, `Resent-Cc:` and
 *   `Resent-Bcc:` (as smtpmail does). Arguments given with `-t` are *added*
 *   (Postfix's behaviour; classic sendmail removes them). Duplicates are
 *   dropped, first occurrence kept.
 * - Bare local parts (`root`) are qualified with `qualifyDomain` (the
 *   `sendto-domain` setting) for recipients; without it they are refused.
 * - `prepareRaw` removes `Bcc:`/`Resent-Bcc:` fields (with their continuation
 *   lines) and a leading mbox `From ` line, adds `Date:`, `Message-ID:` and
 *   (from `-F` and the sender) `From:` when missing, at the end of the header,
 *   with the message's own line endings. Only the header is buffered (capped);
 *   the body passes through untouched.
 * - Lines are split as the wire splits them (CRLF, bare LF or bare CR, see
 *   `lineEnd`), so the fields read for the envelope and removed as `Bcc:` are
 *   exactly the header lines the server gets. A bare CR or a NUL before the
 *   body is refused (`TypeError`): a bare CR becomes a line break on the wire.
 *
 * @module
 */

import { concatBytes } from "../protocol/bytes.ts";
import { assertDisplayName, flattenAddresses, foldAddresses, isValidEnvelopeAddress, type Mailbox, parseAddressList } from "./address.ts";
import { utf8 } from "./encoding.ts";
import { domainToAscii } from "./idna.ts";
import {
  assertHeaderText,
  assertRawHeader,
  defaultRandom,
  formatDate,
  headerColon,
  type HeaderField,
  lineEnd,
  newMessageId,
  parseHeaderBlock,
  type RandomBytes,
} from "./headers.ts";

/** The SMTP envelope: reverse-path and forward-paths (addresses without angle brackets). */
export interface Envelope {
  /** `MAIL FROM` address; `""` is the null sender `<>`. */
  readonly from: string;
  /** `RCPT TO` addresses, without duplicates. */
  readonly to: readonly string[];
  /** Bare recipients (no domain) kept apart for local delivery; only with `keepLocal`. */
  readonly local?: readonly string[];
}

/** Where the envelope comes from (the sendmail options). */
export interface EnvelopeOptions {
  /** `-f`: the envelope sender; `""` or `"<>"` for the null sender. */
  readonly sender?: string;
  /** The configured identity (`from` in the account), used when `sender` is absent. */
  readonly identity?: string;
  /** Recipient arguments (each may be an address list, e.g. `"A <a@x>, b@y"`). */
  readonly recipients?: readonly string[];
  /** `-t`: read recipients from the header. */
  readonly readRecipients?: boolean;
  /** Qualify bare recipients (`root`) with this domain (`sendto-domain`). */
  readonly qualifyDomain?: string;
  /**
   * Keep bare recipients (no domain) apart in `local`, for delivery through
   * an MDA, instead of qualifying or refusing them. Wins over `qualifyDomain`.
   */
  readonly keepLocal?: boolean;
}

function lower(name: string): string {
  return name.toLowerCase();
}

function mailboxesOf(fields: readonly HeaderField[], names: readonly string[], allowBare: boolean): Mailbox[] {
  const out: Mailbox[] = [];
  for (const f of fields) {
    if (!names.includes(lower(f.name))) continue;
    if (f.value.trim() === "") continue;
    try {
      out.push(...flattenAddresses(parseAddressList(f.value, { allowBare })));
    } catch (e) {
      throw new TypeError(`Cannot read the ${f.name}: field: ${(e as Error).message}`, { cause: e });
    }
  }
  return out;
}

function senderFrom(value: string, what: string): string {
  const v = value.trim();
  if (v === "" || v === "<>") return "";
  const list = flattenAddresses(parseAddressList(v));
  if (list.length !== 1) throw new TypeError(`${what} ${JSON.stringify(value)} must be exactly one address`);
  return checked(list[0]!.address, what);
}

function checked(address: string, what: string): string {
  if (!isValidEnvelopeAddress(address)) throw new TypeError(`${what} ${JSON.stringify(address)} is not a valid SMTP address`);
  return address;
}

/** Local part as written, domain in lower-case A-labels: `a@Bücher.example` and `a@xn--bcher-kva.example` are one recipient. */
function dedupeKey(address: string): string {
  const at = address.lastIndexOf("@");
  if (at < 0) return address;
  let domain = address.slice(at + 1);
  try {
    domain = domainToAscii(domain);
  } catch {
    // not convertible: compared as written
  }
  return address.slice(0, at) + "@" + domain.toLowerCase();
}

/**
 * Derives the SMTP envelope for a raw message the way a sendmail-compatible
 * command does (see the module documentation for the rules chosen).
 *
 * @param headers The message's header block (text or bytes; a whole message is fine) or parsed fields.
 * @param options `-f`, identity, recipient arguments, `-t`, `sendto-domain`.
 * @returns The envelope, addresses normalized (quoting) but kept as written: an
 *   internationalised domain is converted to A-labels by the client only when the
 *   server does not offer SMTPUTF8 (see `envelopeForServer`).
 * @throws {TypeError} When there is no sender or no recipient, or an address is invalid.
 * @example
 * ```ts
 * deriveEnvelope("From: Me <me@example.org>\r\nTo: a@example.net\r\nBcc: b@example.net\r\n\r\n", {
 *   readRecipients: true,
 * });
 * // { from: "me@example.org", to: ["a@example.net", "b@example.net"] }
 * ```
 */
export function deriveEnvelope(
  headers: string | Uint8Array | readonly HeaderField[],
  options: EnvelopeOptions = {},
): Envelope {
  const fields = typeof headers === "string" || headers instanceof Uint8Array ? parseHeaderBlock(headers) : headers;
  const resent = fields.some((f) => lower(f.name).startsWith("resent-"));
  let from: string;
  if (options.sender !== undefined) from = senderFrom(options.sender, "Sender (-f)");
  else if (options.identity !== undefined && options.identity.trim() !== "") from = senderFrom(options.identity, "Identity");
  else {
    const [fromName, senderName] = resent ? ["resent-from", "resent-sender"] : ["from", "sender"];
    const first = (n: string) => fields.find((f) => lower(f.name) === n && f.value.trim() !== "");
    const fromField = first(fromName);
    const senderField = first(senderName);
    const fromList = fromField ? flattenAddresses(parseAddressList(fromField.value)) : [];
    if (fromList.length === 1) from = checked(fromList[0]!.address, `${fromField!.name}:`);
    else if (senderField) from = senderFrom(senderField.value, `${senderField.name}:`);
    else {
      throw new TypeError(
        fromList.length > 1
          ? `The ${fromField!.name}: field lists several mailboxes and there is no ${senderName} field; give the sender with -f`
          : "No envelope sender: give -f, configure an identity, or add a From: field",
      );
    }
  }
  const keepLocal = options.keepLocal === true;
  const qualify = keepLocal ? undefined : options.qualifyDomain?.trim() || undefined;
  if (qualify !== undefined && !isValidEnvelopeAddress(`x@${qualify}`)) {
    throw new TypeError(`Qualify domain ${JSON.stringify(options.qualifyDomain)} is not a valid domain`);
  }
  const boxes: Mailbox[] = [];
  if (options.readRecipients) {
    const names = resent ? ["resent-to", "resent-cc", "resent-bcc"] : ["to", "cc", "bcc"];
    boxes.push(...mailboxesOf(fields, names, qualify !== undefined || keepLocal));
  }
  for (const arg of options.recipients ?? []) {
    assertHeaderText(arg, "Recipient");
    boxes.push(...flattenAddresses(parseAddressList(arg, { allowBare: qualify !== undefined || keepLocal })));
  }
  const seen = new Set<string>();
  const to: string[] = [];
  const local: string[] = [];
  for (const mb of boxes) {
    if (keepLocal && mb.domain === "") {
      if (!seen.has(mb.address)) local.push(mb.address);
      seen.add(mb.address);
      continue;
    }
    const address = checked(mb.domain === "" ? `${mb.address}@${qualify}` : mb.address, "Recipient");
    const key = dedupeKey(address);
    if (seen.has(key)) continue;
    seen.add(key);
    to.push(address);
  }
  if (to.length === 0 && local.length === 0) {
    throw new TypeError(options.readRecipients ? "No recipients in the arguments or in the To:, Cc: and Bcc: fields" : "No recipients given");
  }
  return keepLocal ? { from, to, local } : { from, to };
}

/** Options for {@link prepareRaw}. */
export interface PrepareRawOptions extends EnvelopeOptions {
  /** `-F`: full name for a `From:` field added when the message has none. */
  readonly fullName?: string;
  /** Add `From:` when missing (default `true`; needs a non-null sender). */
  readonly addFrom?: boolean;
  /** Add `Date:` when missing (default `true`). */
  readonly addDate?: boolean;
  /** Add `Message-ID:` when missing (default `true`). */
  readonly addMessageId?: boolean;
  /** Right-hand side of a generated message id (default: the sender's domain, else `"localhost"`). */
  readonly messageIdDomain?: string;
  /** The clock (default `() => new Date()`). */
  readonly now?: () => Date;
  /** Zone offset for `Date:` in minutes east of UTC (default: local zone). */
  readonly utcOffset?: number;
  /** Random source for the message id (default `crypto.getRandomValues`). */
  readonly random?: RandomBytes;
  /** Largest accepted header block in bytes (default 1 MiB). */
  readonly maxHeaderBytes?: number;
}

/** A raw message ready to send: its envelope and the rewritten bytes. */
export interface PreparedMessage {
  /** The derived envelope. */
  readonly envelope: Envelope;
  /** The original header fields (before removal and additions). */
  readonly fields: readonly HeaderField[];
  /** The header fields added (as written, without line endings), e.g. `["Date: …"]`. */
  readonly added: readonly string[];
  /** Names of the fields removed (e.g. `["Bcc"]`). */
  readonly removed: readonly string[];
  /**
   * The message to transmit: rewritten header, then the body unchanged.
   * When the input was a stream it can be read only once.
   */
  stream(): AsyncIterable<Uint8Array>;
}

/** Where the header block of a partly read message ends. */
interface HeaderSplit {
  /** Bytes read so far. */
  readonly buf: Uint8Array;
  /** Where the header fields start (after an mbox `From ` line). */
  readonly fieldsStart: number;
  /** Where the header fields end. */
  readonly headerEnd: number;
  /** Where the body starts (after the empty line, if any). */
  readonly bodyStart: number;
  /** The input continues after `buf`. */
  readonly rest: AsyncIterator<Uint8Array> | null;
}

async function splitHeader(input: Uint8Array | AsyncIterable<Uint8Array>, max: number): Promise<HeaderSplit> {
  let it: AsyncIterator<Uint8Array> | null = null;
  let buf: Uint8Array;
  let len: number;
  if (input instanceof Uint8Array) {
    buf = input;
    len = input.length;
  } else {
    it = input[Symbol.asyncIterator]();
    buf = new Uint8Array(8192);
    len = 0;
  }
  let pos = 0;
  let searched = 0; // bytes from `pos` up to here hold no line ending
  let fieldsStart = 0;
  let sawField = false;
  const done = (headerEnd: number, bodyStart: number): HeaderSplit => ({
    buf: buf.subarray(0, len),
    fieldsStart,
    headerEnd,
    bodyStart,
    rest: it,
  });
  for (;;) {
    // Lines as the wire sees them (CRLF, bare LF or bare CR), so the fields
    // found here are the header lines the server gets.
    const end = lineEnd(buf, Math.max(pos, searched), len, it !== null);
    if (end < 0) {
      searched = Math.max(pos, len - 1); // a final CR is looked at again with the next chunk
      if (it) {
        if (len > max) throw new RangeError(`Message header is larger than ${max} bytes`);
        const r = await it.next();
        if (!r.done) {
          const chunk = r.value;
          if (!(chunk instanceof Uint8Array)) throw new TypeError("Message stream yielded a value that is not a Uint8Array");
          if (len + chunk.length > buf.length) {
            const grown = new Uint8Array(Math.max(buf.length * 2, len + chunk.length));
            grown.set(buf.subarray(0, len));
            buf = grown;
          }
          buf.set(chunk, len);
          len += chunk.length;
          continue;
        }
        it = null;
        continue; // look again: a final CR is a line ending now
      }
      // End of input inside the header: the last line has no line ending.
      if (pos === len) return done(len, len);
      const c = buf[pos];
      const isField = (sawField && (c === 32 || c === 9)) || headerColon(buf, pos, len) >= 0;
      return isField ? done(len, len) : done(pos, pos);
    }
    if (end > max) throw new RangeError(`Message header is larger than ${max} bytes`);
    const c = buf[pos];
    if (c === 10 || c === 13) return done(pos, end); // the empty line
    if (pos === 0 && len >= 5 && buf[0] === 70 && buf[1] === 114 && buf[2] === 111 && buf[3] === 109 && buf[4] === 32) {
      fieldsStart = end; // mbox "From " line: dropped, as Postfix's sendmail does
    } else if (c === 32 || c === 9) {
      if (!sawField) return done(pos, pos);
    } else if (headerColon(buf, pos, end) >= 0) {
      sawField = true;
    } else return done(pos, pos);
    pos = end;
    searched = end;
  }
}

/**
 * Reads the header of a raw message (only the header is buffered, up to
 * `maxHeaderBytes`), derives the envelope, and returns the message with
 * `Bcc:`/`Resent-Bcc:` removed and `Date:`, `Message-ID:` and `From:` added
 * when missing. The body is streamed through untouched. Folded fields,
 * bare-LF line endings and messages without a body are handled; a first line
 * that is not a header field starts the body (an empty line is inserted).
 * A bare CR (not followed by LF) or a NUL in the header is refused: on the
 * wire a bare CR ends a line, so `Subject: hi\rBcc: x` would carry a `Bcc:`
 * line that was neither removed nor sent to.
 *
 * @param input The message bytes or a stream of chunks (e.g. standard input).
 * @param options Envelope sources (`-f`, `-t`, arguments, …), `-F`, clock and random source.
 * @returns The envelope and the rewritten message stream.
 * @throws {RangeError} When the header block exceeds `maxHeaderBytes`.
 * @throws {TypeError} When no envelope can be derived, a value is invalid, or
 *   the header holds a bare CR or a NUL.
 * @example
 * ```ts
 * const msg = await prepareRaw(host.stdin(), { sender: "me@example.org", readRecipients: true });
 * await client.send(msg.envelope, msg.stream());
 * ```
 */
export async function prepareRaw(
  input: Uint8Array | AsyncIterable<Uint8Array>,
  options: PrepareRawOptions = {},
): Promise<PreparedMessage> {
  const max = options.maxHeaderBytes ?? 1024 * 1024;
  if (options.fullName !== undefined) assertDisplayName(options.fullName, "Full name (-F)");
  const split = await splitHeader(input, max);
  const { buf, fieldsStart, headerEnd, bodyStart } = split;
  // Everything before the body (mbox line and empty line included): no bare CR, no NUL.
  assertRawHeader(buf, 0, bodyStart);
  const block = buf.subarray(fieldsStart, headerEnd);
  const fields = parseHeaderBlock(block);
  const envelope = deriveEnvelope(fields, options);

  const firstNl = block.indexOf(10);
  const eol = firstNl > 0 && block[firstNl - 1] === 13 ? "\r\n" : firstNl >= 0 ? "\n" : "\r\n";
  const has = (n: string) => fields.some((f) => lower(f.name) === n);
  const added: string[] = [];
  if (options.addDate !== false && !has("date")) added.push(`Date: ${formatDate((options.now ?? (() => new Date()))(), options.utcOffset)}`);
  if (options.addMessageId !== false && !has("message-id")) {
    let domain = options.messageIdDomain;
    if (domain === undefined) {
      let d = envelope.from.slice(envelope.from.lastIndexOf("@") + 1);
      try {
        d = domainToAscii(d);
      } catch {
        d = "";
      }
      domain = envelope.from !== "" && /^[A-Za-z0-9.-]+$/.test(d) ? d : "localhost";
    }
    added.push(`Message-ID: ${newMessageId(domain, options.random ?? defaultRandom)}`);
  }
  if (options.addFrom !== false && !has("from") && envelope.from !== "") {
    const name = options.fullName ?? "";
    added.push(foldAddresses("From", [{ type: "mailbox", name, address: envelope.from, local: "", domain: "" }]));
  }

  const removed: string[] = [];
  const head: Uint8Array[] = [];
  let keepFrom = 0; // offset in block of the run of kept fields
  for (const f of fields) {
    const n = lower(f.name);
    if (n === "bcc" || n === "resent-bcc") {
      head.push(block.subarray(keepFrom, f.start));
      keepFrom = f.end;
      removed.push(f.name);
    }
  }
  head.push(block.subarray(keepFrom));
  const headLen = block.length;
  if (added.length) {
    if (headLen > 0 && block[headLen - 1] !== 10 && keepFrom < headLen) head.push(utf8(eol));
    head.push(utf8(added.map((a) => a.replace(/\r\n/g, eol) + eol).join("")));
  }
  const moreBody = bodyStart < buf.length || split.rest !== null;
  if (bodyStart > headerEnd) head.push(buf.subarray(headerEnd, bodyStart));
  else if (moreBody) head.push(utf8(eol));
  const header = concatBytes(head);
  const firstBody = buf.subarray(bodyStart);
  const rest = split.rest;
  let used = false;

  return {
    envelope,
    fields,
    added,
    removed,
    stream(): AsyncIterable<Uint8Array> {
      if (used && rest) throw new TypeError("This message came from a stream and was already read");
      used = true;
      return (async function* () {
        yield header;
        if (firstBody.length) yield firstBody;
        if (rest) {
          for (;;) {
            const r = await rest.next();
            if (r.done) break;
            yield r.value;
          }
        }
      })();
    },
  };
}
