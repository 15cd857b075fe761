/**
 * Internationalised domains and addresses for SMTP (pure, no runtime APIs):
 * RFC 3492 Punycode, domain to A-labels, and the one rule that decides how
 * an envelope goes to a given server ({@link envelopeForServer}).
 *
 * The rule (used by the client for the library and the CLI alike):
 * - the server offers SMTPUTF8 (RFC 6531): addresses go as written, with the
 *   `SMTPUTF8` parameter when any of them is not ASCII;
 * - it does not: domains go as A-labels (`bücher.example` →
 *   `xn--bcher-kva.example`); a non-ASCII local part cannot be converted and
 *   the message is refused before MAIL (nothing is sent).
 *
 * Domain to A-labels is done here rather than with `new URL()`: the WHATWG
 * URL parser applies the whole UTS #46 mapping (full-width letters and dots,
 * compatibility characters and the Kelvin sign become ASCII, so a look-alike
 * silently becomes another, existing domain) and its Unicode tables differ
 * between runtimes. Here the mapping is small and the same everywhere: NFC,
 * lower case, the ideographic full stops of RFC 3490 §3.1 as dots; a label
 * that NFKC would change (compatibility characters such as full-width
 * letters) or that maps to pure ASCII is refused instead of guessed.
 *
 * @module
 */

import { envelopeNeedsSmtpUtf8 } from "../protocol/params.ts";
import { describeForbidden, firstForbidden, quoteText } from "./chars.ts";

const BASE = 36;
const TMIN = 1;
const TMAX = 26;
const SKEW = 38;
const DAMP = 700;
const INITIAL_BIAS = 72;
const INITIAL_N = 128;
const MAX_INT = 0x7fffffff;

function adapt(delta: number, points: number, first: boolean): number {
  let d = first ? Math.floor(delta / DAMP) : delta >> 1;
  d += Math.floor(d / points);
  let k = 0;
  while (d > ((BASE - TMIN) * TMAX) >> 1) {
    d = Math.floor(d / (BASE - TMIN));
    k += BASE;
  }
  return k + Math.floor(((BASE - TMIN + 1) * d) / (d + SKEW));
}

function digit(d: number): string {
  return String.fromCharCode(d < 26 ? 97 + d : 22 + d); // a-z, 0-9
}

function threshold(k: number, bias: number): number {
  return k <= bias ? TMIN : k >= bias + TMAX ? TMAX : k - bias;
}

/**
 * Encodes a string with Punycode (RFC 3492 §6.3), without the `xn--` prefix.
 * Basic (ASCII) code points are copied as they are, case kept.
 *
 * @param input The label (any code points; lone surrogates are refused).
 * @returns The Punycode string.
 * @throws {RangeError} On overflow (a label far beyond any DNS limit).
 * @throws {TypeError} On a lone surrogate.
 * @example
 * ```ts
 * punycodeEncode("bücher"); // "bcher-kva"
 * ```
 */
export function punycodeEncode(input: string): string {
  const cps: number[] = [];
  for (const ch of input) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) throw new TypeError("Punycode input has a lone surrogate");
    cps.push(cp);
  }
  let out = "";
  for (const cp of cps) if (cp < 0x80) out += String.fromCharCode(cp);
  const b = out.length;
  let h = b;
  if (b > 0) out += "-";
  let n = INITIAL_N;
  let delta = 0;
  let bias = INITIAL_BIAS;
  while (h < cps.length) {
    let m = MAX_INT;
    for (const cp of cps) if (cp >= n && cp < m) m = cp;
    if (m - n > Math.floor((MAX_INT - delta) / (h + 1))) throw new RangeError("Punycode overflow");
    delta += (m - n) * (h + 1);
    n = m;
    for (const cp of cps) {
      if (cp < n && ++delta > MAX_INT) throw new RangeError("Punycode overflow");
      if (cp !== n) continue;
      let q = delta;
      for (let k = BASE;; k += BASE) {
        const t = threshold(k, bias);
        if (q < t) break;
        out += digit(t + ((q - t) % (BASE - t)));
        q = Math.floor((q - t) / (BASE - t));
      }
      out += digit(q);
      bias = adapt(delta, h + 1, h === b);
      delta = 0;
      h++;
    }
    delta++;
    n++;
  }
  return out;
}

/**
 * Decodes Punycode (RFC 3492 §6.2), without the `xn--` prefix; digits are
 * read in either case.
 *
 * @param input The Punycode string (ASCII).
 * @returns The decoded label.
 * @throws {TypeError} When the input is not valid Punycode.
 * @example
 * ```ts
 * punycodeDecode("bcher-kva"); // "bücher"
 * ```
 */
export function punycodeDecode(input: string): string {
  const bad = (why: string): never => {
    throw new TypeError(`Invalid Punycode ${quoteText(input)}: ${why}`);
  };
  const delim = input.lastIndexOf("-");
  const out: number[] = [];
  for (let j = 0; j < Math.max(delim, 0); j++) {
    const c = input.charCodeAt(j);
    if (c >= 0x80) bad("a non-ASCII character before the last \"-\"");
    out.push(c);
  }
  let n = INITIAL_N;
  let i = 0;
  let bias = INITIAL_BIAS;
  for (let pos = delim > 0 ? delim + 1 : 0; pos < input.length;) {
    const old = i;
    let w = 1;
    for (let k = BASE;; k += BASE) {
      if (pos >= input.length) bad("it ends in the middle of a number");
      const c = input.charCodeAt(pos++);
      const d = c >= 48 && c <= 57 ? c - 22 : c >= 65 && c <= 90 ? c - 65 : c >= 97 && c <= 122 ? c - 97 : BASE;
      if (d >= BASE) bad(`${quoteText(input[pos - 1]!)} is not a digit`);
      if (d > Math.floor((MAX_INT - i) / w)) bad("overflow");
      i += d * w;
      const t = threshold(k, bias);
      if (d < t) break;
      if (w > Math.floor(MAX_INT / (BASE - t))) bad("overflow");
      w *= BASE - t;
    }
    const len = out.length + 1;
    bias = adapt(i - old, len, old === 0);
    if (Math.floor(i / len) > MAX_INT - n) bad("overflow");
    n += Math.floor(i / len);
    i %= len;
    if (n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff)) bad("it decodes to an invalid code point");
    out.splice(i, 0, n);
    i++;
  }
  return String.fromCodePoint(...out);
}

const ASCII_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?$/;

/**
 * Converts a domain to A-labels (IDNA, RFC 5890/5891 with RFC 3492 Punycode):
 * each non-ASCII label is mapped (NFC, lower case) and written `xn--…`.
 * ASCII domains and address literals are returned unchanged. The ideographic
 * full stops U+3002, U+FF0E and U+FF61 separate labels, as RFC 3490 §3.1 says.
 *
 * Refused, with a `TypeError` naming the label: an empty label, a label with
 * a control, space, non-character, lone surrogate or ASCII character other
 * than letters, digits, `-` and `_`; a label that NFKC would change
 * (compatibility characters: full-width letters, ligatures); a non-ASCII
 * label that maps to pure ASCII (`\u212A` Kelvin sign → `k`); a label longer
 * than 63 octets once converted, or a domain longer than 253 characters.
 *
 * @param domain The domain, e.g. `"Bücher.example"`.
 * @returns E.g. `"xn--bcher-kva.example"`.
 * @throws {TypeError} When the domain cannot be converted.
 * @example
 * ```ts
 * domainToAscii("bücher.example"); // "xn--bcher-kva.example"
 * domainToAscii("例子.广告"); // "xn--fsqu00a.xn--4rr70v"
 * ```
 */
export function domainToAscii(domain: string): string {
  if (typeof domain !== "string") throw new TypeError("Domain must be a string");
  if (!/[^\x00-\x7f]/.test(domain) || domain.startsWith("[")) return domain;
  const fail = (why: string): never => {
    throw new TypeError(`Domain ${quoteText(domain)} cannot be converted to ASCII (IDNA): ${why}`);
  };
  const bad = firstForbidden(domain);
  if (bad) fail(`it contains ${describeForbidden(bad)}`);
  const labels = domain.replace(/[\u3002\uff0e\uff61]/g, ".").split(".");
  const out = labels.map((label) => {
    if (label === "") fail("it has an empty label");
    if (!/[^\x00-\x7f]/.test(label)) {
      if (!ASCII_LABEL.test(label)) fail(`the label ${quoteText(label)} is not a host name label`);
      return label;
    }
    const mapped = label.normalize("NFC").toLowerCase();
    if (mapped.normalize("NFKC") !== mapped) fail(`the label ${quoteText(label)} has compatibility characters (such as full-width letters); write them as plain characters`);
    if (!/[^\x00-\x7f]/.test(mapped)) fail(`the label ${quoteText(label)} maps to the ASCII ${quoteText(mapped)}; write that instead`);
    if (/[^a-z0-9\-\u0080-\u{10ffff}]/u.test(mapped)) fail(`the label ${quoteText(label)} has a character that is not allowed in a domain`);
    if (/^[\p{M}]/u.test(mapped)) fail(`the label ${quoteText(label)} starts with a combining mark`);
    if (mapped.startsWith("-") || mapped.endsWith("-")) fail(`the label ${quoteText(label)} starts or ends with "-"`);
    if (/^..--/.test(mapped)) fail(`the label ${quoteText(label)} has "--" in its third and fourth positions`);
    const a = `xn--${punycodeEncode(mapped)}`;
    if (a.length > 63) fail(`the label ${quoteText(label)} is longer than 63 octets as ${a}`);
    return a;
  });
  const result = out.join(".");
  if (result.length > 253) fail("it is longer than 253 characters in ASCII");
  return result;
}

/**
 * The A-label form of an address's domain (the local part unchanged).
 *
 * @param address An address `local@domain` (no angle brackets).
 * @returns The address with its domain in ASCII.
 * @throws {TypeError} When the domain cannot be converted.
 * @example
 * ```ts
 * addressDomainToAscii("jörg@bücher.example"); // "jörg@xn--bcher-kva.example"
 * ```
 */
export function addressDomainToAscii(address: string): string {
  const at = address.lastIndexOf("@");
  if (at < 0) return address;
  return `${address.slice(0, at)}@${domainToAscii(address.slice(at + 1))}`;
}

/** An envelope in the form one server can take. */
export interface ServerEnvelope {
  /** The reverse-path to send (`""` for `<>`). */
  readonly from: string;
  /** The forward-paths to send, in the order given. */
  readonly to: readonly string[];
  /** Whether `MAIL FROM` needs the `SMTPUTF8` parameter (some address is not ASCII). */
  readonly smtpUtf8: boolean;
}

/** Why an envelope cannot go to a server: the address and a sentence. */
export interface ServerEnvelopeError {
  /** The address that cannot be sent. */
  readonly address: string;
  /** The reason, ready for an error message. */
  readonly error: string;
}

const NON_ASCII = /[^\x00-\x7f]/;

/**
 * The one rule for internationalised addresses: how an envelope goes to a
 * server, given whether it offers SMTPUTF8 (RFC 6531).
 *
 * - Every address ASCII: unchanged, no SMTPUTF8.
 * - SMTPUTF8 offered: unchanged, `smtpUtf8` true when any address is not ASCII.
 * - Not offered: domains converted to A-labels ({@link domainToAscii}); an
 *   address whose local part is not ASCII cannot be converted: an error is
 *   returned (the caller refuses the message before MAIL).
 *
 * Header fields are not rewritten here (see `compose()` for headers).
 *
 * @param from The reverse-path (`""` for the null sender).
 * @param to The forward-paths.
 * @param smtpUtf8Offered Whether the server's EHLO reply lists SMTPUTF8.
 * @returns The envelope to send, or why it cannot be sent.
 * @example
 * ```ts
 * envelopeForServer("me@example.org", ["a@bücher.example"], false);
 * // { from: "me@example.org", to: ["a@xn--bcher-kva.example"], smtpUtf8: false }
 * envelopeForServer("me@example.org", ["a@bücher.example"], true);
 * // { from: "me@example.org", to: ["a@bücher.example"], smtpUtf8: true }
 * ```
 */
export function envelopeForServer(
  from: string,
  to: readonly string[],
  smtpUtf8Offered: boolean,
): ServerEnvelope | ServerEnvelopeError {
  // The one rule for "this envelope needs SMTPUTF8" is the protocol core's.
  if (!envelopeNeedsSmtpUtf8(from, to)) return { from, to, smtpUtf8: false };
  const all = [from, ...to];
  if (smtpUtf8Offered) return { from, to, smtpUtf8: true };
  const converted: string[] = [];
  for (const address of all) {
    if (!NON_ASCII.test(address)) {
      converted.push(address);
      continue;
    }
    const at = address.lastIndexOf("@");
    const local = at < 0 ? address : address.slice(0, at);
    if (NON_ASCII.test(local)) {
      return {
        address,
        error: `The address ${quoteText(address)} has a non-ASCII local part, which needs SMTPUTF8 (RFC 6531), ` +
          `and the server does not offer it; only a domain can be converted to ASCII. Nothing was sent`,
      };
    }
    try {
      converted.push(addressDomainToAscii(address));
    } catch (e) {
      return { address, error: `${(e as Error).message}; the server does not offer SMTPUTF8. Nothing was sent` };
    }
  }
  return { from: converted[0]!, to: converted.slice(1), smtpUtf8: false };
}
