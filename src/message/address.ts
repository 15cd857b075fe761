/**
 * RFC 5322 address parsing and formatting (pure): mailboxes, groups, display
 * names, quoted local parts, comments, domain literals and RFC 6532 UTF-8.
 *
 * The parser runs in linear time with explicit limits (input length, comment
 * nesting, address length). It is strict where routing is at stake: text
 * after a complete address (`u@good.example(x)evil.example`), a second `@`
 * (`a@evil.example@good.example`) or white space inside a dotted name are
 * refused; the address inside a display name (`"boss@bank.example" <x@evil.example>`)
 * is never the address. Obsolete forms that cannot change the routing are
 * accepted: `John Q. Public` display names, source routes in angle brackets
 * (ignored, as RFC 5321 says), empty list elements, comments as names
 * (`user@host (Name)`).
 *
 * Display names are data, never header text: encoded words are decoded only
 * where RFC 2047 §5 allows them (a whole word of a phrase or a comment,
 * never inside a quoted string or glued to other text), and a control in a
 * name read here (C0, DEL, C1, U+2028, U+2029, or a lone surrogate) is
 * replaced by U+FFFD (a tab by a space), while the writers refuse the same
 * characters in a name the caller gives. Addresses holding any of them are
 * refused.
 *
 * @module
 */

import { describeForbidden, firstForbidden, isControl, quoteText } from "./chars.ts";
import { decodeEncodedWord, encodeWords, utf8 } from "./encoding.ts";
import { domainToAscii } from "./idna.ts";
import { assertHeaderText, assertNoEncodedWord, HeaderFolder, needsEncoding } from "./headers.ts";

/** One mailbox: a display name and an address. */
export interface Mailbox {
  /** Discriminant. */
  readonly type: "mailbox";
  /**
   * Display name as data: from the phrase (or, for `a@b (Name)`, the
   * comment), encoded words decoded only where RFC 2047 §5 allows them
   * (whole words of a phrase or comment, never inside a quoted string),
   * white space runs between words as one space, and every control (C0,
   * DEL, C1, U+2028, U+2029) or lone surrogate replaced by U+FFFD (a tab by a
   * space); `""` when there is none.
   */
  readonly name: string;
  /** The address, normalized: local part quoted only when it must be. */
  readonly address: string;
  /** The local part's value (without quotes or escapes). */
  readonly local: string;
  /** The domain as written (`""` for a bare local part, only with `allowBare`). */
  readonly domain: string;
}

/** A named group of mailboxes (`Team: a@x, b@y;`), possibly empty. */
export interface Group {
  /** Discriminant. */
  readonly type: "group";
  /** The group's display name. */
  readonly name: string;
  /** The group's mailboxes. */
  readonly members: readonly Mailbox[];
}

/** A parsed address: a mailbox or a group. */
export type Address = Mailbox | Group;

/** Limits and leniency for {@link parseAddressList}. */
export interface AddressParseOptions {
  /** Longest accepted input, in characters (default 262144). */
  readonly maxLength?: number;
  /** Deepest accepted comment nesting (default 16). */
  readonly maxDepth?: number;
  /** Longest accepted address, in UTF-8 octets (default 998). */
  readonly maxAddressLength?: number;
  /** Accept a bare local part (`root`) as an address with an empty domain. */
  readonly allowBare?: boolean;
}

/** An address to format or compose with: an address string or name and address. */
export type MailboxInput = string | { readonly name?: string; readonly address: string };

type Kind = "atom" | "qs" | "dl" | "<" | ">" | "@" | "," | ";" | ":" | "." | "end";
interface Tok {
  readonly k: Kind;
  readonly v: string;
  /** White space or a comment comes before it. */
  readonly ws: boolean;
  /** Text of the last comment before it, if any. */
  readonly comment: string | null;
}

const ATEXT = /[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uffff]/;
const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uffff]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uffff]+)*$/;
const LABEL = /^[A-Za-z0-9_\u0080-\uffff](?:[A-Za-z0-9_\-\u0080-\uffff]*[A-Za-z0-9_\u0080-\uffff])?$/;

function describe(t: Tok): string {
  if (t.k === "end") return "end of input";
  if (t.k === "qs") return `quoted string ${JSON.stringify(t.v)}`;
  return JSON.stringify(t.v);
}

function lex(s: string, maxDepth: number): Tok[] {
  const toks: Tok[] = [];
  let ws = false;
  let comment: string | null = null;
  const push = (k: Kind, v: string) => {
    toks.push({ k, v, ws, comment });
    ws = false;
    comment = null;
  };
  let i = 0;
  const n = s.length;
  while (i < n) {
    const c = s[i]!;
    if (c === " " || c === "\t") {
      ws = true;
      i++;
    } else if (c === "(") {
      let depth = 0;
      const start = i;
      for (; i < n; i++) {
        const d = s[i]!;
        if (d === "\\") i++;
        else if (d === "(") {
          if (++depth > maxDepth) throw new RangeError(`Address comments are nested deeper than ${maxDepth}`);
        } else if (d === ")" && --depth === 0) break;
      }
      if (i >= n) throw new TypeError(`Unterminated comment in address at offset ${start}`);
      i++;
      ws = true;
      comment = s.slice(start + 1, i - 1); // raw (quoted pairs kept): commentName() reads it
    } else if (c === '"') {
      const start = i++;
      let v = "";
      for (; i < n && s[i] !== '"'; i++) {
        if (s[i] === "\\") {
          i++;
          if (i >= n) break;
        }
        v += s[i];
      }
      if (i >= n) throw new TypeError(`Unterminated quoted string in address at offset ${start}`);
      i++;
      push("qs", v);
    } else if (c === "[") {
      const end = s.indexOf("]", i);
      if (end < 0) throw new TypeError(`Unterminated domain literal in address at offset ${i}`);
      const v = s.slice(i, end + 1);
      if (!/^\[[!-Z^-~]*\]$/.test(v)) throw new TypeError(`Domain literal ${JSON.stringify(v)} is not valid`);
      push("dl", v);
      i = end + 1;
    } else if ("<>@,;:.".includes(c)) {
      push(c as Kind, c);
      i++;
    } else if (ATEXT.test(c)) {
      const start = i;
      while (i < n && ATEXT.test(s[i]!)) i++;
      push("atom", s.slice(start, i));
    } else {
      throw new TypeError(`Unexpected character ${JSON.stringify(c)} in address at offset ${i}`);
    }
  }
  push("end", "");
  return toks;
}

function quoteLocal(local: string): string {
  return DOT_ATOM.test(local) ? local : `"${local.replace(/(["\\])/g, "\\$1")}"`;
}

/** One word of a display name: its text, whether it was an encoded word, whether white space came before it. */
interface NameWord {
  readonly text: string;
  readonly encoded: boolean;
  readonly space: boolean;
}

/**
 * A display name read from a header, made safe to hold as data: a tab
 * becomes a space; every other control (C0, DEL, C1, U+2028, U+2029) and
 * every lone surrogate becomes U+FFFD. Replaced, not refused: the name comes
 * from someone else's message, and refusing it would make the whole address
 * list (and with `-t` the message) unusable for a field that only labels the
 * address; U+FFFD shows that something was there instead of silently
 * joining the words around it.
 *
 * @param name The decoded name.
 * @returns The name, trimmed, with no control character left.
 */
export function cleanDisplayName(name: string): string {
  let out = "";
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 9) out += " ";
    else if (c >= 0xd800 && c <= 0xdfff) {
      const next = name.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        out += name[i]! + name[i + 1]!;
        i++;
      } else out += "\ufffd";
    } else out += isControl(c) ? "\ufffd" : name[i]!;
  }
  return out.trim();
}

/** Joins name words: one space where white space was, none between two encoded words (RFC 2047 §6.2). */
function joinName(words: readonly NameWord[]): string {
  let out = "";
  words.forEach((w, i) => {
    if (i > 0 && w.space && !(w.encoded && words[i - 1]!.encoded)) out += " ";
    out += w.text;
  });
  return cleanDisplayName(out);
}

/**
 * The display name carried by a comment (`a@example.org (Jane Doe)`), by the
 * same rules as a phrase: words split at white space and joined by single
 * spaces, a word that is exactly one encoded word decoded (RFC 2047 §5(2)
 * allows them in comments), quoted pairs unescaped, controls replaced.
 */
function commentName(raw: string): string {
  const words: NameWord[] = [];
  let text = "";
  let escaped = false;
  let space = false;
  const end = () => {
    if (text === "") return;
    const decoded = escaped ? null : decodeEncodedWord(text);
    words.push({ text: decoded ?? text, encoded: decoded !== null, space: space && words.length > 0 });
    text = "";
    escaped = false;
    space = false;
  };
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === " " || c === "\t") {
      end();
      space = true;
    } else if (c === "\\" && i + 1 < raw.length) {
      text += raw[++i];
      escaped = true;
    } else text += c;
  }
  end();
  return joinName(words);
}

/**
 * Parses an address-list header value (`To`, `Cc`, `From`, …): mailboxes and
 * groups separated by commas. Folded input (CRLF + white space) is unfolded.
 *
 * @param header The field value.
 * @param options Limits and leniency.
 * @returns The addresses in order.
 * @throws {TypeError} On invalid syntax, with the offending token quoted.
 * @throws {RangeError} When a limit is exceeded.
 * @example
 * ```ts
 * parseAddressList('"Doe, Jane" <jane@example.org>, Team: a@example.net;');
 * // [{ type: "mailbox", name: "Doe, Jane", address: "jane@example.org", … },
 * //  { type: "group", name: "Team", members: [{ … address: "a@example.net" }] }]
 * ```
 */
export function parseAddressList(header: string, options: AddressParseOptions = {}): Address[] {
  if (typeof header !== "string") throw new TypeError("Address list must be a string");
  const maxLength = options.maxLength ?? 262144;
  if (header.length > maxLength) throw new RangeError(`Address list is longer than ${maxLength} characters`);
  const s = header.replace(/\r?\n(?=[ \t])/g, "");
  if (/[\r\n\0]/.test(s)) throw new TypeError("Address list must not contain CR, LF or NUL");
  const toks = lex(s, options.maxDepth ?? 16);
  const maxAddr = options.maxAddressLength ?? 998;
  let j = 0;
  const peek = (): Tok => toks[j]!;
  const fail = (t: Tok, what: string): never => {
    throw new TypeError(`Unexpected ${describe(t)} ${what} in ${JSON.stringify(header.length > 200 ? header.slice(0, 200) + "…" : header)}`);
  };
  const expect = (k: Kind, what: string): Tok => {
    const t = peek();
    if (t.k !== k) fail(t, what);
    j++;
    return t;
  };
  const isWord = (t: Tok) => t.k === "atom" || t.k === "qs";

  // word *("." word), no white space around the dots.
  const parseLocal = (): string => {
    const first = peek();
    if (!isWord(first)) fail(first, "where the local part should start");
    j++;
    let v = first.v;
    while (peek().k === ".") {
      const dot = peek();
      const next = toks[j + 1]!;
      if (dot.ws || next.ws) fail(dot.ws ? dot : next, "(white space inside the local part)");
      if (!isWord(next)) fail(next, "after a dot in the local part");
      v += "." + next.v;
      j += 2;
    }
    return v;
  };
  const parseDomain = (): string => {
    const first = peek();
    if (first.k === "dl") {
      j++;
      return first.v;
    }
    if (first.k !== "atom") fail(first, "where the domain should start");
    j++;
    const labels = [first.v];
    while (peek().k === ".") {
      const dot = peek();
      const next = toks[j + 1]!;
      if (dot.ws || next.ws) fail(dot.ws ? dot : next, "(white space inside the domain)");
      if (next.k !== "atom") fail(next, "after a dot in the domain");
      labels.push(next.v);
      j += 2;
    }
    for (const l of labels) {
      if (!LABEL.test(l)) throw new TypeError(`Domain label ${JSON.stringify(l)} is not a valid host name label`);
    }
    const d = labels.join(".");
    if (utf8(d).length > 255) throw new RangeError("Domain is longer than 255 octets");
    return d;
  };
  const mailbox = (name: string, local: string, domain: string): Mailbox => {
    const address = domain === "" ? quoteLocal(local) : `${quoteLocal(local)}@${domain}`;
    const bad = firstForbidden(address);
    if (bad) throw new TypeError(`Address ${quoteText(address)} contains ${describeForbidden(bad)}`);
    if (utf8(address).length > maxAddr) throw new RangeError(`Address is longer than ${maxAddr} octets`);
    return { type: "mailbox", name, address, local, domain };
  };
  const parseAddrSpec = (name: string): Mailbox => {
    const local = parseLocal();
    expect("@", "where \"@\" should follow the local part");
    return mailbox(name, local, parseDomain());
  };
  // A display name: words joined by single spaces. An atom that is exactly
  // one encoded word, with white space (or the phrase's edge) on both sides,
  // is decoded (RFC 2047 §5(3)); a quoted string never is (§5), nor an
  // encoded word glued to other text.
  const phrase = (a: number, b: number): string => {
    const words: NameWord[] = [];
    for (let k = a; k < b; k++) {
      const t = toks[k]!;
      const alone = (k === a || t.ws) && (k + 1 === b || toks[k + 1]!.ws);
      const decoded = t.k === "atom" && alone ? decodeEncodedWord(t.v) : null;
      words.push({ text: decoded ?? t.v, encoded: decoded !== null, space: k > a && t.ws });
    }
    return joinName(words);
  };
  const parseAddress = (inGroup: boolean): Address => {
    const start = j;
    while (isWord(peek()) || (j > start && peek().k === ".")) j++;
    const next = peek();
    if (next.k === "@") {
      j = start;
      const mb = parseAddrSpec("");
      const c = peek().comment;
      return c !== null ? { ...mb, name: commentName(c) } : mb;
    }
    if (next.k === "<") {
      const name = phrase(start, j);
      j++;
      if (peek().k === "@" || peek().k === ",") { // obs-route: ignored (RFC 5321 §C)
        while (peek().k === "@" || peek().k === ",") {
          if (peek().k === "@") {
            j++;
            parseDomain();
          } else j++;
        }
        expect(":", "after a source route");
      }
      const mb = parseAddrSpec(name);
      expect(">", "where \">\" should close the address");
      return mb;
    }
    if (next.k === ":" && !inGroup) {
      if (j === start) fail(next, "(a group needs a name)");
      const name = phrase(start, j);
      j++;
      const members: Mailbox[] = [];
      for (;;) {
        while (peek().k === ",") j++;
        if (peek().k === ";") break;
        members.push(parseAddress(true) as Mailbox);
        if (peek().k !== "," && peek().k !== ";") fail(peek(), "after an address in a group");
      }
      j++;
      return { type: "group", name, members };
    }
    if (options.allowBare && j > start && (next.k === "end" || next.k === "," || (inGroup && next.k === ";"))) {
      const nextIndex = j;
      j = start;
      const local = parseLocal();
      if (j === nextIndex) return mailbox("", local, "");
    }
    if (j === start) return fail(next, "where an address should start");
    return fail(next, next.k === "end" || next.k === "," ? "(address has no \"@\")" : "after a display name");
  };

  const list: Address[] = [];
  for (;;) {
    while (peek().k === ",") j++;
    if (peek().k === "end") break;
    list.push(parseAddress(false));
    const t = peek();
    if (t.k === "end") break;
    if (t.k !== ",") fail(t, "after an address");
  }
  return list;
}

/**
 * Parses exactly one mailbox (`Name <a@b>`, `a@b`, `a@b (Name)`).
 *
 * @param text The mailbox text.
 * @param options Limits and leniency.
 * @returns The mailbox.
 * @throws {TypeError} When the text is not exactly one mailbox.
 * @example
 * ```ts
 * parseMailbox('"a@gmail.com x"@internal.example').domain; // "internal.example"
 * ```
 */
export function parseMailbox(text: string, options: AddressParseOptions = {}): Mailbox {
  const list = parseAddressList(text, options);
  const first = list[0];
  if (list.length !== 1 || first === undefined || first.type !== "mailbox") {
    throw new TypeError(`Expected exactly one mailbox, got ${JSON.stringify(text)}`);
  }
  return first;
}

/**
 * The mailboxes of an address list, with groups expanded.
 *
 * @param list Parsed addresses.
 * @returns Every mailbox in order.
 */
export function flattenAddresses(list: readonly Address[]): Mailbox[] {
  return list.flatMap((a) => (a.type === "group" ? a.members : [a]));
}

/**
 * The domain of an address (or of a mailbox such as `Name <a@b>`), lower-cased.
 *
 * @param address The address.
 * @returns The domain, e.g. `"example.org"`.
 * @throws {TypeError} When `address` is not one valid mailbox.
 * @example
 * ```ts
 * domainOf('"a@gmail.com x"@Internal.Example'); // "internal.example"
 * ```
 */
export function domainOf(address: string): string {
  return parseMailbox(address).domain.toLowerCase();
}

/**
 * The ASCII (A-label, Punycode) form of a domain; ASCII domains and domain
 * literals are returned unchanged. The same conversion as
 * {@link domainToAscii} (src/message/idna.ts).
 *
 * @param domain A domain such as `"bücher.example"`.
 * @returns E.g. `"xn--bcher-kva.example"`.
 * @throws {TypeError} When the domain cannot be converted.
 */
export function asciiDomain(domain: string): string {
  return domainToAscii(domain);
}

/**
 * The address with its domain in ASCII when the local part is ASCII (so no
 * SMTPUTF8 is needed); addresses with a UTF-8 local part are returned as they are.
 *
 * @param address A normalized address.
 * @returns The address, IDN domain converted when possible.
 */
export function asciiAddress(address: string): string {
  const at = address.lastIndexOf("@");
  if (at < 0) return address;
  const local = address.slice(0, at);
  if (/[\u0080-\uffff]/.test(local)) return address;
  return `${local}@${asciiDomain(address.slice(at + 1))}`;
}

/** Options for {@link isValidEnvelopeAddress}. */
export interface EnvelopeAddressOptions {
  /** Accept `""` (the null reverse-path `<>` of bounces). Default `false`. */
  readonly allowEmpty?: boolean;
  /** Accept UTF-8 (RFC 6531 SMTPUTF8). Default `true`. */
  readonly utf8?: boolean;
}

const DOT_STRING_ASCII = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*$/;
const QUOTED_SMTP = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\uffff]|\\[\x20-\x7e])*"$/;

/** RFC 5321 `Snum` as a value 0–255, written without leading zeros (see {@link isAddressLiteral}). */
const SNUM = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
const IPV4 = new RegExp(`^${SNUM}(?:\\.${SNUM}){3}$`);
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** Whether `groups` (text between colons) are all 1–4 hex digits. */
function hexGroups(text: string): number {
  if (text === "") return 0;
  const groups = text.split(":");
  return groups.every((g) => HEX_GROUP.test(g)) ? groups.length : -1;
}

/**
 * RFC 5321 §4.1.3 `IPv6-addr`: IPv6-full (8 groups), IPv6-comp (`::` and at
 * most 6 other groups), IPv6v4-full (6 groups and an IPv4 address),
 * IPv6v4-comp (`::`, at most 4 other groups and an IPv4 address). The `::`
 * stands for at least two zero groups, as §4.1.3 says.
 */
function isIpv6(text: string): boolean {
  let body = text;
  let full = 8;
  let comp = 6;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    if (lastColon < 0 || !IPV4.test(text.slice(lastColon + 1))) return false;
    // Keep the colon before the IPv4 part when it is the second of "::".
    body = text.slice(0, text[lastColon - 1] === ":" ? lastColon + 1 : lastColon);
    full = 6;
    comp = 4;
  }
  const dc = body.indexOf("::");
  if (dc < 0) return hexGroups(body) === full;
  if (body.indexOf("::", dc + 1) >= 0) return false;
  const left = hexGroups(body.slice(0, dc));
  const right = hexGroups(body.slice(dc + 2));
  return left >= 0 && right >= 0 && left + right <= comp;
}

/**
 * Whether text is an RFC 5321 §4.1.3 address literal (with its brackets):
 * `[192.0.2.1]` or `[IPv6:2001:db8::1]` (the tag in any case, as ABNF
 * strings are).
 *
 * Decisions, stricter than the grammar where it leaves a routing ambiguity:
 * - IPv4 numbers are 0–255 written without leading zeros: `Snum` allows
 *   `[010.0.0.1]`, but resolvers built on `inet_aton` read `010` as octal
 *   (8), others as decimal (10), so the literal is refused rather than
 *   routed one way or the other.
 * - General-address-literals (`[tag:content]`) are refused: §4.1.3 requires
 *   the tag to be standardized and registered with IANA, and the only
 *   registered tag is `IPv6`, which is checked as above.
 *
 * @param text The domain part of an address, e.g. `"[IPv6:1::2]"`.
 * @returns `true` when it is a valid IPv4 or IPv6 address literal.
 * @example
 * ```ts
 * isAddressLiteral("[255.255.255.255]"); // true
 * isAddressLiteral("[255.255.255.256]"); // false
 * isAddressLiteral("[IPv6:1::2:]"); // false
 * ```
 */
export function isAddressLiteral(text: string): boolean {
  if (text.length < 3 || text[0] !== "[" || text[text.length - 1] !== "]") return false;
  const inner = text.slice(1, -1);
  if (IPV4.test(inner)) return true;
  if (/^ipv6:/i.test(inner)) return isIpv6(inner.slice(5));
  return false;
}

/**
 * Whether a string can be sent as an SMTP path (`MAIL FROM:<…>`, `RCPT TO:<…>`)
 * per RFC 5321 §4.1.2: a dot-string or quoted local part, `@`, a host name
 * or an address literal checked to the letter ({@link isAddressLiteral});
 * at most 254 octets, domain at most 255 and each label at most 63. No
 * control character anywhere (C0, DEL, C1, U+2028, U+2029), no lone
 * surrogate and no non-character (U+FDD0–U+FDEF, U+xFFFE, U+xFFFF). Local
 * parts longer than 64 octets are accepted (SRS and VERP addresses exceed it
 * and servers take them).
 *
 * @param address The address without angle brackets.
 * @param options Null sender and UTF-8 acceptance.
 * @returns `true` when it is safe and valid to send.
 * @example
 * ```ts
 * isValidEnvelopeAddress("a@example.org"); // true
 * isValidEnvelopeAddress("a@[IPv6:2001:db8::1]"); // true
 * isValidEnvelopeAddress("a@example.org>\r\nRCPT TO:<b@example.org"); // false
 * isValidEnvelopeAddress("a@[255.255.255.256]"); // false
 * ```
 */
export function isValidEnvelopeAddress(address: string, options: EnvelopeAddressOptions = {}): boolean {
  if (typeof address !== "string") return false;
  if (address === "") return options.allowEmpty === true;
  const allowUtf8 = options.utf8 !== false;
  if (firstForbidden(address) !== null) return false;
  if (!allowUtf8 && /[^\x20-\x7e]/.test(address)) return false;
  if (utf8(address).length > 254) return false;
  const at = address.lastIndexOf("@");
  if (at <= 0) return false;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  const dotString = allowUtf8 ? DOT_ATOM : DOT_STRING_ASCII;
  if (!dotString.test(local) && !QUOTED_SMTP.test(local)) return false;
  if (domain.startsWith("[")) return isAddressLiteral(domain);
  if (utf8(domain).length > 255) return false;
  return domain.split(".").every((l) => LABEL.test(l) && utf8(l).length <= 63);
}

/**
 * Normalizes a {@link MailboxInput}: parses a string (`"Name <a@b>"` or
 * `"a@b"`), or checks an object's address and name.
 *
 * @param input The mailbox.
 * @param what What it is, for error messages (e.g. `"from"`).
 * @returns The mailbox.
 * @throws {TypeError} On an invalid address or a name with CR, LF or NUL.
 */
export function toMailbox(input: MailboxInput, what = "Address"): Mailbox {
  if (typeof input === "string") {
    assertHeaderText(input, what);
    return parseMailbox(input);
  }
  if (input === null || typeof input !== "object" || typeof input.address !== "string") {
    throw new TypeError(`${what} must be a string or { name, address }`);
  }
  assertHeaderText(input.address, `${what} address`);
  const name = input.name ?? "";
  assertDisplayName(name, `${what} name`);
  const mb = parseMailbox(input.address);
  if (mb.name !== "") {
    throw new TypeError(`${what} address ${JSON.stringify(input.address)} must be a bare address; pass the name separately`);
  }
  return { ...mb, name };
}

/**
 * The address as written into a header: IDN domain in ASCII when the local
 * part is ASCII. An address cannot be encoded, so one containing `=?` is
 * refused (readers decode encoded words found in an addr-spec).
 */
function headerAddress(mb: Mailbox): string {
  const bad = firstForbidden(mb.address);
  if (bad) throw new TypeError(`Address ${quoteText(mb.address)} contains ${describeForbidden(bad)}`);
  return assertNoEncodedWord(asciiAddress(mb.address), `Address ${JSON.stringify(mb.address)}`);
}

/**
 * Refuses a display name the caller gives (`{ name }`, `-F`) that holds a
 * control character (C0 except tab, DEL, C1, U+2028, U+2029) or a lone
 * surrogate. The writers would carry it in an encoded word, and readers
 * would decode it back into a header line. A tab is white space and is
 * written as a space. Names read from headers have the same characters
 * replaced instead ({@link cleanDisplayName}): the caller can correct its
 * own text, nobody can correct a received header.
 *
 * @param name The name.
 * @param what What it is, for the error message (e.g. `"from name"`).
 * @returns The name unchanged.
 * @throws {TypeError} When the name is not a string or holds such a character.
 */
export function assertDisplayName(name: string, what: string): string {
  if (typeof name !== "string") throw new TypeError(`${what} must be a string`);
  const bad = firstForbidden(name.replaceAll("\t", " "));
  if (bad && bad.kind !== "non-character") {
    throw new TypeError(`${what} ${quoteText(name)} contains ${describeForbidden(bad)}; a display name cannot hold controls or line breaks`);
  }
  return name;
}

/** A display name as header pieces: plain tokens, or text for encoded words. */
export type NamePiece = { readonly plain: string } | { readonly encode: string };

const ATOMS = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?: [A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*$/;

/**
 * How a display name is written: atoms as they are, other ASCII as one
 * quoted string, anything with non-ASCII or control characters, or with
 * `=?`, as encoded words. A name that looks like an encoded word is thus
 * shown literally, never decoded by the reader (readers decode encoded words
 * in atoms and, leniently, in quoted strings).
 *
 * @param name The display name.
 * @returns The pieces, in order.
 * @throws {TypeError} When the name holds a control character or a lone
 *   surrogate ({@link assertDisplayName}).
 */
export function namePieces(name: string): NamePiece[] {
  // A tab is white space: written as a space, as the reader reads it (cleanDisplayName).
  const n = assertDisplayName(name, "Display name").replaceAll("\t", " ").trim();
  if (n === "") return [];
  if (needsEncoding(n)) return [{ encode: n }];
  if (ATOMS.test(n)) return n.split(" ").map((plain) => ({ plain }));
  return [{ plain: `"${n.replace(/(["\\])/g, "\\$1")}"` }];
}

/**
 * Formats a mailbox for a header on one line: `Name <local@domain>`, the
 * name as atoms, a quoted string or RFC 2047 encoded words as needed, and an
 * IDN domain in ASCII when the local part is ASCII.
 *
 * @param input A string (`"Name <a@b>"`) or `{ name, address }`.
 * @returns The mailbox text (not folded).
 * @throws {TypeError} On an invalid address, an address containing `=?`, or a
 *   name containing CR, LF or NUL (a name with `=?` is encoded, not refused).
 * @example
 * ```ts
 * formatAddress({ name: "Doe, Jane", address: "jane@example.org" }); // '"Doe, Jane" <jane@example.org>'
 * formatAddress({ name: "Jörg", address: "j@bücher.example" }); // "=?UTF-8?Q?J=C3=B6rg?= <j@xn--bcher-kva.example>"
 * ```
 */
export function formatAddress(input: MailboxInput): string {
  const mb = toMailbox(input);
  const address = headerAddress(mb);
  const parts = namePieces(mb.name).map((p) => ("plain" in p ? p.plain : encodeWords(p.encode).join(" ")));
  return parts.length ? `${parts.join(" ")} <${address}>` : address;
}

/**
 * Writes an address-list field (`From`, `To`, `Cc`, `Reply-To`, …) folded at
 * 78 columns: names as atoms, quoted strings or encoded words, IDN domains in
 * ASCII when the local part is ASCII, groups as `Name: a@x, b@y;`.
 *
 * @param name The field name.
 * @param list The addresses (names already checked for CR/LF/NUL).
 * @returns The folded field without a trailing CRLF.
 * @throws {TypeError} When a group has no name, a name contains CR, LF or NUL
 *   (e.g. decoded from an encoded word), or an address contains `=?`.
 * @example
 * ```ts
 * foldAddresses("To", parseAddressList("Jörg <j@example.org>, Team: a@example.net;"));
 * // "To: =?UTF-8?Q?J=C3=B6rg?= <j@example.org>, Team: a@example.net;"
 * ```
 */
export function foldAddresses(name: string, list: readonly Address[]): string {
  const pieces: NamePiece[] = [];
  const glue = (s: string) => {
    const last = pieces[pieces.length - 1];
    if (last && "plain" in last) pieces[pieces.length - 1] = { plain: last.plain + s };
    else pieces.push({ plain: s });
  };
  const mailbox = (mb: Mailbox) => {
    const name = namePieces(mb.name);
    const address = headerAddress(mb);
    pieces.push(...name, { plain: name.length ? `<${address}>` : address });
  };
  list.forEach((a, i) => {
    if (i > 0) glue(",");
    if (a.type === "mailbox") return mailbox(a);
    const name = namePieces(a.name);
    if (!name.length) throw new TypeError("A group needs a name");
    pieces.push(...name);
    glue(":");
    a.members.forEach((m, k) => {
      if (k > 0) glue(",");
      mailbox(m);
    });
    glue(";");
  });
  const f = new HeaderFolder(name);
  for (const p of pieces) {
    if ("plain" in p) f.token(p.plain);
    else f.encoded(p.encode);
  }
  return f.toString();
}
