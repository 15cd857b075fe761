/**
 * The MIME composer (pure): builds a streamable RFC 5322 / MIME message from
 * addresses, subject, text and HTML bodies and attachments.
 *
 * Structure: `text/plain` and `text/html` together become
 * `multipart/alternative`; inline attachments with a `cid` next to HTML become
 * `multipart/related` (inside the alternative, with the HTML only); other
 * attachments wrap everything in `multipart/mixed`.
 *
 * Encodings: text bodies (line breaks normalized to CRLF) are sent `7bit`
 * when they are ASCII with lines of at most 78 octets, else quoted-printable
 * when mostly ASCII, else base64. Attachments are always base64 (76 columns),
 * streamed chunk by chunk with fewer than 57 bytes carried over, so a file or
 * stream is never held whole in memory. No line of the output exceeds 998
 * octets (a header that cannot be folded under that is refused).
 *
 * File names: `Content-Disposition` carries `filename="…"` for short ASCII
 * names and RFC 2231 `filename*=UTF-8''…` (with `*0*`, `*1*` continuations
 * when long) otherwise; `Content-Type` carries the legacy `name="…"`, with RFC
 * 2047 encoded words inside the quotes for non-ASCII names, which is what
 * older clients (Outlook, old Thunderbird) read.
 *
 * Encoded words are never taken from the caller: a subject, display name,
 * file name or extra header value containing `=?` is encoded like non-ASCII
 * text (RFC 2231 for `filename`), so readers show it literally and cannot
 * decode a line break out of it. Where text cannot be encoded (message ids,
 * `date` strings, media types, Content-IDs, addresses) `=?` is refused.
 *
 * Boundaries contain `=_`, which quoted-printable and base64 output never
 * contain; `7bit` is used only for text that does not contain the boundary
 * prefix, so a boundary cannot collide with content.
 *
 * @module
 */

import { collectBytes } from "../protocol/bytes.ts";
import { type Address, asciiAddress, flattenAddresses, foldAddresses, isValidEnvelopeAddress, type MailboxInput, parseAddressList, toMailbox } from "./address.ts";
import { base64Stream, encodeWords, percentEncode2231, quotedPrintable, utf8 } from "./encoding.ts";
import type { Envelope } from "./envelope.ts";
import {
  assertHeaderName,
  assertHeaderText,
  assertNoEncodedWord,
  defaultRandom,
  foldUnstructured,
  formatDate,
  HeaderFolder,
  needsEncoding,
  newMessageId,
  normalizeMessageId,
  type RandomBytes,
  randomToken,
} from "./headers.ts";

/** Opens a file as a stream of chunks (wire it to `Host.readStream`). */
export type OpenFile = (path: string) => AsyncIterable<Uint8Array>;

/** Attachment content: bytes, text (UTF-8), or a stream of chunks. */
export type AttachmentContent =
  | Uint8Array
  | string
  | AsyncIterable<Uint8Array>
  | Iterable<Uint8Array>
  | ReadableStream<Uint8Array>;

/** One attachment or inline part. Give exactly one of `content` and `path`. */
export interface Attachment {
  /** File name shown to the recipient (default: the last component of `path`). */
  readonly filename?: string;
  /** The data. Streams are read once, while the message is streamed. */
  readonly content?: AttachmentContent;
  /** A file to stream through {@link ComposeOptions.openFile}. */
  readonly path?: string;
  /** Media type, e.g. `"image/png"` (default from the file name's extension). */
  readonly contentType?: string;
  /** Content-ID for `cid:` references from the HTML; makes the part inline. */
  readonly cid?: string;
  /** `"inline"` or `"attachment"` (default: inline when `cid` is set). */
  readonly disposition?: "inline" | "attachment";
}

/** Header fields given by the caller, as a record or as name/value pairs. */
export type HeaderInput =
  | Readonly<Record<string, string | readonly string[]>>
  | readonly (readonly [string, string])[];

/** Addresses: one or more mailboxes; strings may be address lists with groups. */
export type AddressInput = MailboxInput | readonly MailboxInput[];

/** What to compose. */
export interface ComposeOptions {
  /** The author (one mailbox). */
  readonly from: MailboxInput;
  /** The agent sending on the author's behalf; becomes the envelope sender. */
  readonly sender?: MailboxInput;
  /** Primary recipients (`To:`). */
  readonly to?: AddressInput;
  /** Copies (`Cc:`). */
  readonly cc?: AddressInput;
  /** Blind copies: envelope recipients only, never written to the header. */
  readonly bcc?: AddressInput;
  /** Where replies go (`Reply-To:`). */
  readonly replyTo?: AddressInput;
  /** `Subject:` (non-ASCII, and text that looks like an encoded word, is encoded). */
  readonly subject?: string;
  /** Plain-text body. */
  readonly text?: string;
  /** HTML body. */
  readonly html?: string;
  /** Attachments and inline parts, in order. */
  readonly attachments?: readonly Attachment[];
  /**
   * Extra fields (unstructured values; non-ASCII, and text that looks like an
   * encoded word, is encoded). Fields the composer writes are refused.
   */
  readonly headers?: HeaderInput;
  /** `Date:` value: a date, or a preformatted RFC 5322 date string (default: `now()`). */
  readonly date?: Date | string;
  /** `Message-ID:` (with or without angle brackets; default: random at the sender's domain). */
  readonly messageId?: string;
  /** `In-Reply-To:` message id. */
  readonly inReplyTo?: string;
  /** Message ids, as a list or one whitespace-separated string. */
  readonly references?: string | readonly string[];
  /** Override the derived envelope. */
  readonly envelope?: { readonly from?: string; readonly to?: readonly string[] };
  /** Opens files for attachments given by `path`. */
  readonly openFile?: OpenFile;
  /** The clock (default `() => new Date()`). */
  readonly now?: () => Date;
  /** Zone offset for `Date:` in minutes east of UTC (default: local zone). */
  readonly utcOffset?: number;
  /** Random source for message id and boundaries (default `crypto.getRandomValues`). */
  readonly random?: RandomBytes;
  /** Right-hand side of a generated message id (default: the From domain). */
  readonly messageIdDomain?: string;
}

/** A composed message, ready to stream. */
export interface ComposedMessage {
  /**
   * Envelope derived from sender/from and to/cc/bcc, addresses as written. The
   * client sends them as they are to a server offering SMTPUTF8, and with
   * internationalised domains as A-labels to one that does not (a non-ASCII
   * local part then cannot be sent); see `envelopeForServer`.
   */
  readonly envelope: Envelope;
  /** The `Message-ID:` value, with angle brackets. */
  readonly messageId: string;
  /** The top-level header block, folded, with CRLF line endings, without the empty line. */
  readonly header: string;
  /**
   * Whether the content needs SMTPUTF8: the header is written in UTF-8 (RFC
   * 6532). It is written in ASCII unless an address has a non-ASCII local
   * part: header addresses get their IDN domain as A-labels, names and text
   * are encoded words. The client sends such a message only to a server that
   * offers SMTPUTF8 (else a permanent error before MAIL, nothing sent).
   * Non-ASCII envelope addresses do not set it: the client handles them per
   * server (`envelopeForServer()`).
   */
  readonly smtputf8: boolean;
  /**
   * The message bytes, in chunks. Can be called again unless an attachment
   * is a one-shot stream (then a second call throws `TypeError`).
   */
  stream(): AsyncIterable<Uint8Array>;
  /**
   * The whole message in memory (for small messages and tests).
   *
   * @returns All bytes.
   */
  toBytes(): Promise<Uint8Array>;
}

const RESERVED = new Set([
  "from", "sender", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id", "in-reply-to",
  "references", "mime-version", "content-type", "content-transfer-encoding", "content-disposition", "content-id",
]);

const TYPES: Record<string, string> = {
  txt: "text/plain", text: "text/plain", csv: "text/csv", htm: "text/html", html: "text/html", css: "text/css",
  ics: "text/calendar", xml: "application/xml", json: "application/json", pdf: "application/pdf",
  zip: "application/zip", gz: "application/gzip", tar: "application/x-tar", "7z": "application/x-7z-compressed",
  doc: "application/msword", xls: "application/vnd.ms-excel", ppt: "application/vnd.ms-powerpoint",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  pptx: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  odt: "application/vnd.oasis.opendocument.text", png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg",
  gif: "image/gif", webp: "image/webp", svg: "image/svg+xml", bmp: "image/bmp", ico: "image/vnd.microsoft.icon",
  mp3: "audio/mpeg", wav: "audio/wav", ogg: "audio/ogg", mp4: "video/mp4", webm: "video/webm", eml: "message/rfc822",
};

/**
 * The media type for a file name, from its extension.
 *
 * @param filename A file name such as `"report.pdf"`.
 * @returns E.g. `"application/pdf"`; `"application/octet-stream"` when unknown.
 */
export function mediaTypeOf(filename: string): string {
  const dot = filename.lastIndexOf(".");
  const ext = dot < 0 ? "" : filename.slice(dot + 1).toLowerCase();
  const t = TYPES[ext] ?? "application/octet-stream";
  // message/rfc822 may not be base64-encoded (RFC 2046 §5.2.1); attachments always are.
  return t === "message/rfc822" ? "application/octet-stream" : t;
}

const MEDIA_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(?:\s*;\s*[A-Za-z0-9!#$&^_.+*-]+=(?:[A-Za-z0-9!#$&^_.+%'-]+|"[^"\\]*"))*$/;

/** A leaf part: its header fields and a body producer. */
interface Leaf {
  readonly kind: "leaf";
  readonly headers: string[];
  readonly body: () => AsyncIterable<Uint8Array> | Uint8Array;
  readonly oneShot: boolean;
}
interface Multi {
  readonly kind: "multi";
  readonly headers: string[];
  readonly boundary: string;
  readonly parts: Part[];
}
type Part = Leaf | Multi;

const BOUNDARY_PREFIX = "=_smtpsend_";

function textLeaf(content: string, subtype: "plain" | "html"): Leaf {
  const text = content.replace(/\r\n|\r|\n/g, "\r\n");
  const lines = text.split("\r\n");
  const ascii = !/[\u0080-\uffff]/.test(text);
  let cte: "7bit" | "quoted-printable" | "base64";
  if (ascii && !text.includes("\0") && lines.every((l) => l.length <= 78) && !text.includes(BOUNDARY_PREFIX)) cte = "7bit";
  else {
    // QP costs 3 octets per non-ASCII byte, base64 4/3 per byte: QP while at most 1/6 is non-ASCII.
    const raw = utf8(text);
    let high = 0;
    for (const b of raw) if (b >= 0x80) high++;
    cte = high * 6 <= raw.length ? "quoted-printable" : "base64";
  }
  const headers = [`Content-Type: text/${subtype}; charset=utf-8`, `Content-Transfer-Encoding: ${cte}`];
  const bytes = utf8(cte === "quoted-printable" ? quotedPrintable(text) : text);
  const body = cte === "base64" ? () => base64Stream([bytes]) : () => bytes;
  return { kind: "leaf", headers, body, oneShot: false };
}

/**
 * Writes one MIME parameter as a list of parameters (several for RFC 2231
 * continuations), each a list of header tokens (several for encoded words
 * inside one quoted string).
 */
function paramTokens(attr: string, value: string, legacy: boolean): string[][] {
  const quoted = `${attr}="${value.replace(/(["\\])/g, "\\$1")}"`;
  if (!needsEncoding(value) && (value.length <= 60 || legacy)) return [[quoted]];
  if (legacy) {
    const words = encodeWords(value);
    return [words.map((w, i) => (i === 0 ? `${attr}="` : "") + w + (i === words.length - 1 ? '"' : ""))];
  }
  const enc = percentEncode2231(value);
  if (enc.length <= 60) return [[`${attr}*=UTF-8''${enc}`]];
  const out: string[][] = [];
  let rest = enc;
  for (let n = 0; rest.length; n++) {
    let cut = Math.min(rest.length, 60);
    if (cut < rest.length) {
      const pct = rest.lastIndexOf("%", cut - 1);
      if (pct >= 0 && pct > cut - 3) cut = pct; // never split a %XX triplet
      // nor a UTF-8 sequence: back up over continuation bytes (%80-%BF)
      while (cut > 3 && rest[cut] === "%" && /[89AB]/.test(rest[cut + 1]!)) cut = rest.lastIndexOf("%", cut - 1);
    }
    out.push([`${attr}*${n}*=${n === 0 ? "UTF-8''" : ""}${rest.slice(0, cut)}`]);
    rest = rest.slice(cut);
  }
  return out;
}

function foldParams(name: string, value: string, params: readonly string[][]): string {
  const f = new HeaderFolder(name);
  const all: string[] = [value];
  for (const p of params) {
    all[all.length - 1] += ";";
    all.push(...p);
  }
  for (const t of all) f.token(t);
  return f.toString();
}

function isOneShot(c: AttachmentContent): boolean {
  return !(c instanceof Uint8Array) && typeof c !== "string" && !Array.isArray(c);
}

function toAsyncIterable(c: Exclude<AttachmentContent, string | Uint8Array>): AsyncIterable<Uint8Array> | Iterable<Uint8Array> {
  const r = c as ReadableStream<Uint8Array>;
  if (typeof r.getReader === "function" && !(Symbol.asyncIterator in (r as object))) {
    return (async function* () {
      const reader = r.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          yield value;
        }
      } finally {
        reader.releaseLock();
      }
    })();
  }
  if (Symbol.asyncIterator in (c as object) || Symbol.iterator in (c as object)) return c as AsyncIterable<Uint8Array>;
  throw new TypeError("Attachment content must be a Uint8Array, a string, or an (async) iterable of Uint8Array");
}

function attachmentLeaf(a: Attachment, index: number, openFile: OpenFile | undefined): Leaf & { readonly inline: boolean } {
  if (a === null || typeof a !== "object") throw new TypeError(`Attachment ${index} must be an object`);
  const what = `Attachment ${index}`;
  if ((a.content === undefined) === (a.path === undefined)) throw new TypeError(`${what} needs exactly one of content and path`);
  if (a.path !== undefined && typeof a.path !== "string") throw new TypeError(`${what} path must be a string`);
  if (a.path !== undefined && !openFile) throw new TypeError(`${what} has a path but no openFile reader was given`);
  const filename = a.filename ?? (a.path !== undefined ? a.path.split(/[\\/]/).pop() ?? "" : "");
  assertHeaderText(filename, `${what} filename`);
  let type = a.contentType;
  if (type !== undefined) {
    assertHeaderText(type, `${what} content type`);
    assertNoEncodedWord(type, `${what} content type`);
    if (!MEDIA_TYPE.test(type.trim())) throw new TypeError(`${what} content type ${JSON.stringify(type)} is not a valid media type`);
    type = type.trim();
  } else if (filename) type = mediaTypeOf(filename);
  else type = typeof a.content === "string" ? "text/plain" : "application/octet-stream";
  if (typeof a.content === "string" && /^text\//i.test(type) && !/;\s*charset=/i.test(type)) type += "; charset=utf-8";
  let cid: string | undefined;
  if (a.cid !== undefined) {
    assertHeaderText(a.cid, `${what} cid`);
    assertNoEncodedWord(a.cid, `${what} cid`);
    cid = a.cid.replace(/^<(.*)>$/, "$1");
    if (!/^[!#-;=?-~]+$/.test(cid)) throw new TypeError(`${what} cid ${JSON.stringify(a.cid)} is not valid (printable ASCII without spaces, quotes or angle brackets)`);
  }
  const disposition = a.disposition ?? (cid !== undefined ? "inline" : "attachment");
  if (disposition !== "inline" && disposition !== "attachment") throw new TypeError(`${what} disposition must be "inline" or "attachment"`);
  const headers = [
    foldParams("Content-Type", type, filename ? paramTokens("name", filename, true) : []),
    "Content-Transfer-Encoding: base64",
    foldParams("Content-Disposition", disposition, filename ? paramTokens("filename", filename, false) : []),
  ];
  if (cid !== undefined) headers.push(`Content-ID: <${cid}>`);
  const content = a.content;
  let body: () => AsyncIterable<Uint8Array>;
  if (a.path !== undefined) {
    const path = a.path;
    body = () => base64Stream(openFile!(path));
  } else if (typeof content === "string") {
    const bytes = utf8(content);
    body = () => base64Stream([bytes]);
  } else if (content instanceof Uint8Array) {
    body = () => base64Stream([content]);
  } else {
    const src = toAsyncIterable(content!);
    body = () => base64Stream(src);
  }
  return { kind: "leaf", headers, body, oneShot: content !== undefined && isOneShot(content), inline: cid !== undefined };
}

function addressList(input: AddressInput | undefined, what: string): Address[] {
  if (input === undefined) return [];
  const items: readonly MailboxInput[] = Array.isArray(input) ? input : [input as MailboxInput];
  const out: Address[] = [];
  for (const item of items) {
    if (typeof item === "string") {
      assertHeaderText(item, what);
      out.push(...parseAddressList(item));
    } else out.push(toMailbox(item, what));
  }
  return out;
}

function headerPairs(input: HeaderInput | undefined): [string, string][] {
  if (input === undefined) return [];
  const pairs: [string, string][] = [];
  if (Array.isArray(input)) {
    for (const p of input as readonly (readonly [string, string])[]) pairs.push([p[0], p[1]]);
  } else {
    for (const [k, v] of Object.entries(input as Record<string, string | readonly string[]>)) {
      for (const one of typeof v === "string" ? [v] : v) pairs.push([k, one]);
    }
  }
  for (const [k, v] of pairs) {
    assertHeaderName(k);
    if (RESERVED.has(k.toLowerCase())) throw new TypeError(`Header "${k}" is written by the composer; use the matching option instead`);
    assertHeaderText(v, `Header "${k}"`);
  }
  return pairs;
}

function msgIdList(input: string | readonly string[], what: string): string[] {
  const items = typeof input === "string" ? input.trim().split(/\s+/).filter(Boolean) : [...input];
  return items.map((id) => normalizeMessageId(id, what));
}

/**
 * Composes a MIME message. All header values are validated up front (CR,
 * LF and NUL refused); text that looks like an encoded word (`=?`) is
 * encoded so it displays literally, or refused where it cannot be encoded
 * (message ids, dates, media types, Content-IDs, addresses). The body is
 * produced lazily by {@link ComposedMessage.stream}.
 *
 * @param options Addresses, subject, bodies, attachments and overrides.
 * @returns The message: envelope, header and a byte stream.
 * @throws {TypeError} On an invalid address, header name or value, attachment or message id.
 * @throws {RangeError} When a header line cannot be folded under 998 octets.
 * @example
 * ```ts
 * const msg = compose({
 *   from: { name: "Jörg", address: "joerg@example.org" },
 *   to: ["a@example.net", "Team: b@example.net, c@example.net;"],
 *   subject: "Grüße",
 *   text: "Hallo!\n",
 *   html: '<p>Hallo! <img src="cid:logo@x"></p>',
 *   attachments: [
 *     { filename: "logo.png", content: png, cid: "logo@x" },
 *     { path: "/tmp/report.pdf" },
 *   ],
 *   openFile: (p) => host.readStream(p),
 * });
 * for await (const chunk of msg.stream()) await transport.write(chunk);
 * ```
 */
export function compose(options: ComposeOptions): ComposedMessage {
  if (options === null || typeof options !== "object") throw new TypeError("compose() needs an options object");
  const random = options.random ?? defaultRandom;
  const from = toMailbox(options.from, "from");
  if (from.domain === "") throw new TypeError("from address needs a domain");
  const sender = options.sender !== undefined ? toMailbox(options.sender, "sender") : undefined;
  const to = addressList(options.to, "to");
  const cc = addressList(options.cc, "cc");
  const bcc = addressList(options.bcc, "bcc");
  const replyTo = addressList(options.replyTo, "replyTo");
  if (options.subject !== undefined) assertHeaderText(options.subject, "Subject");
  if (options.text !== undefined && typeof options.text !== "string") throw new TypeError("text must be a string");
  if (options.html !== undefined && typeof options.html !== "string") throw new TypeError("html must be a string");

  // Envelope.
  // Envelope addresses as written: the client converts IDN domains to A-labels
  // only for a server without SMTPUTF8 (envelopeForServer, src/message/idna.ts).
  let envFrom = (sender ?? from).address;
  if (options.envelope?.from !== undefined) envFrom = options.envelope.from;
  if (!isValidEnvelopeAddress(envFrom, { allowEmpty: options.envelope?.from !== undefined })) {
    throw new TypeError(`Envelope sender ${JSON.stringify(envFrom)} is not a valid SMTP address`);
  }
  let envTo: string[];
  if (options.envelope?.to !== undefined) envTo = [...options.envelope.to];
  else {
    const seen = new Set<string>();
    envTo = [];
    for (const mb of flattenAddresses([...to, ...cc, ...bcc])) {
      const a = asciiAddress(mb.address);
      const at = a.lastIndexOf("@");
      const key = a.slice(0, at) + a.slice(at).toLowerCase();
      if (!seen.has(key)) {
        seen.add(key);
        envTo.push(mb.address);
      }
    }
  }
  for (const a of envTo) if (!isValidEnvelopeAddress(a)) throw new TypeError(`Recipient ${JSON.stringify(a)} is not a valid SMTP address`);

  // Top-level fields.
  const now = options.now ?? (() => new Date());
  let date: string;
  if (typeof options.date === "string") date = assertNoEncodedWord(assertHeaderText(options.date, "Date"), "Date").trim();
  else date = formatDate(options.date ?? now(), options.utcOffset);
  const fromAscii = asciiAddress(from.address);
  const fromDomain = fromAscii.slice(fromAscii.lastIndexOf("@") + 1);
  const idDomain = options.messageIdDomain ?? (/^[A-Za-z0-9.-]+$/.test(fromDomain) ? fromDomain : "localhost");
  if (!/^[A-Za-z0-9.-]+$/.test(idDomain)) throw new TypeError(`messageIdDomain ${JSON.stringify(idDomain)} is not a valid host name`);
  const messageId = options.messageId !== undefined ? normalizeMessageId(options.messageId) : newMessageId(idDomain, random);
  const fields: string[] = [`Date: ${date}`, foldAddresses("From", [from])];
  if (sender) fields.push(foldAddresses("Sender", [sender]));
  if (replyTo.length) fields.push(foldAddresses("Reply-To", replyTo));
  if (to.length) fields.push(foldAddresses("To", to));
  if (cc.length) fields.push(foldAddresses("Cc", cc));
  if (options.subject !== undefined) fields.push(foldUnstructured("Subject", options.subject));
  fields.push(`Message-ID: ${messageId}`);
  if (options.inReplyTo !== undefined) fields.push(`In-Reply-To: ${normalizeMessageId(options.inReplyTo, "In-Reply-To")}`);
  if (options.references !== undefined) {
    const f = new HeaderFolder("References");
    for (const id of msgIdList(options.references, "References")) f.token(id);
    fields.push(f.toString());
  }
  for (const [k, v] of headerPairs(options.headers)) fields.push(foldUnstructured(k, v));
  fields.push("MIME-Version: 1.0");

  // Part tree.
  const atts = (options.attachments ?? []).map((a, i) => attachmentLeaf(a, i, options.openFile));
  let counter = 0;
  const token = randomToken(random, 10);
  const multi = (subtype: string, parts: Part[]): Multi => {
    const boundary = `${BOUNDARY_PREFIX}${token}_${counter++}`;
    return { kind: "multi", headers: [`Content-Type: multipart/${subtype};\r\n boundary="${boundary}"`], boundary, parts };
  };
  const related = options.html !== undefined ? atts.filter((a) => a.inline) : [];
  const mixed = atts.filter((a) => !related.includes(a));
  const textPart = options.text !== undefined ? textLeaf(options.text, "plain") : undefined;
  let htmlPart: Part | undefined = options.html !== undefined ? textLeaf(options.html, "html") : undefined;
  if (htmlPart && related.length) htmlPart = multi("related", [htmlPart, ...related]);
  let root: Part = textPart && htmlPart ? multi("alternative", [textPart, htmlPart]) : textPart ?? htmlPart ?? textLeaf("", "plain");
  if (mixed.length) root = multi("mixed", [root, ...mixed]);

  const header = [...fields, ...root.headers].join("\r\n");
  const oneShot = atts.some((a) => a.oneShot);
  // The content needs SMTPUTF8 only when the header is UTF-8; the envelope is the client's to decide per server.
  const smtputf8 = /[\u0080-\uffff]/.test(header);
  let streamed = false;

  async function* writePart(part: Part): AsyncGenerator<Uint8Array> {
    if (part.kind === "leaf") {
      const body = part.body();
      if (body instanceof Uint8Array) {
        yield body;
        return;
      }
      yield* body;
      return;
    }
    for (let i = 0; i < part.parts.length; i++) {
      const child = part.parts[i]!;
      yield utf8(`${i === 0 ? "" : "\r\n"}--${part.boundary}\r\n${child.headers.join("\r\n")}\r\n\r\n`);
      yield* writePart(child);
    }
    yield utf8(`\r\n--${part.boundary}--\r\n`);
  }

  async function* all(): AsyncGenerator<Uint8Array> {
    yield utf8(header + "\r\n\r\n");
    yield* writePart(root);
  }

  const stream = (): AsyncIterable<Uint8Array> => {
    if (streamed && oneShot) throw new TypeError("This message has a one-shot stream attachment and was already streamed");
    streamed = true;
    return coalesce(all());
  };

  return {
    envelope: { from: envFrom, to: envTo },
    messageId,
    header,
    smtputf8,
    stream,
    toBytes(): Promise<Uint8Array> {
      return collectBytes(stream());
    },
  };
}

/** Joins small chunks into writes of at least 16 KiB; large chunks pass through. */
async function* coalesce(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const MIN = 16384;
  let pending: Uint8Array[] = [];
  let size = 0;
  const flush = (): Uint8Array => {
    const out = new Uint8Array(size);
    let o = 0;
    for (const p of pending) {
      out.set(p, o);
      o += p.length;
    }
    pending = [];
    size = 0;
    return out;
  };
  for await (const chunk of source) {
    if (chunk.length === 0) continue;
    if (chunk.length >= MIN) {
      if (size) yield flush();
      yield chunk;
      continue;
    }
    pending.push(chunk);
    size += chunk.length;
    if (size >= MIN) yield flush();
  }
  if (size) yield flush();
}

/**
 * Composes a message and returns it whole, for small messages and tests.
 *
 * @param options As for {@link compose}.
 * @returns The envelope, message id and all bytes.
 * @example
 * ```ts
 * const { bytes } = await composeToBytes({ from: "a@example.org", to: "b@example.net", text: "hi" });
 * ```
 */
export async function composeToBytes(options: ComposeOptions): Promise<{ envelope: Envelope; messageId: string; bytes: Uint8Array }> {
  const m = compose(options);
  return { envelope: m.envelope, messageId: m.messageId, bytes: await m.toBytes() };
}

