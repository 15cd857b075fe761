/**
 * Reads the service extensions an EHLO reply advertises (RFC 5321 §4.1.1.1).
 *
 * @module
 */

import type { Capabilities, Reply } from "./types.ts";

const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const MECHANISM = /^[A-Z0-9_-]{1,20}$/;

/**
 * Parses an EHLO reply.
 *
 * - The first line is the greeting; every further line is `keyword *(SP param)`.
 *   Keywords are matched case-insensitively and stored upper-cased; lines
 *   whose keyword is not `(ALPHA / DIGIT) *(ALPHA / DIGIT / "-")` are skipped.
 *   A keyword advertised twice has its parameters merged, without duplicates.
 * - The old `AUTH=LOGIN PLAIN` form (pre-RFC 4954 servers) is merged into
 *   `AUTH`. {@link Capabilities.auth} holds the mechanism names upper-cased,
 *   deduplicated, in the server's order; names that are not SASL mechanism
 *   names (RFC 4422 §3.1: up to 20 of `A-Z 0-9 - _`) are left out.
 * - `SIZE` without a number, or with one that is not a plain decimal integer
 *   below 2^53, reads as `0`, "no fixed limit" (RFC 1870 §4); `null` means
 *   SIZE was not advertised at all.
 *
 * @param reply The server's reply to EHLO.
 * @returns What the server offers.
 * @throws {TypeError} When the reply is not a 2xx reply.
 * @example
 * ```ts
 * const caps = parseCapabilities({
 *   type: "reply", code: 250, enhanced: null,
 *   lines: ["mx.example.org hello", "PIPELINING", "SIZE 35882577", "AUTH PLAIN LOGIN"],
 * });
 * caps.size; // 35882577
 * caps.auth; // ["PLAIN", "LOGIN"]
 * ```
 */
export function parseCapabilities(reply: Reply): Capabilities {
  if (reply.code < 200 || reply.code > 299) {
    throw new TypeError(`parseCapabilities() needs a 2xx EHLO reply, got ${reply.code}`);
  }
  const keywords = new Map<string, string[]>();
  // Each keyword's parameters also in a Set, so that merging stays linear in
  // the reply however many distinct parameters a (hostile) server lists.
  const seen = new Map<string, Set<string>>();
  const add = (keyword: string, params: readonly string[]): void => {
    let list = keywords.get(keyword);
    let set = seen.get(keyword);
    if (!list || !set) {
      keywords.set(keyword, list = []);
      seen.set(keyword, set = new Set());
    }
    for (const p of params) {
      if (set.has(p)) continue;
      set.add(p);
      list.push(p);
    }
  };
  for (const line of reply.lines.slice(1)) {
    // SP and HT separate (RFC 5321 ehlo-line); any other space, U+00A0 say, is
    // part of a word, as the split below has it: trim() would strip more.
    const [first = "", ...params] = line.split(/[ \t]+/).filter((p) => p !== "");
    const eq = first.indexOf("=");
    if (eq > 0 && first.slice(0, eq).toUpperCase() === "AUTH") {
      add("AUTH", [first.slice(eq + 1), ...params].filter((p) => p !== ""));
    } else if (KEYWORD.test(first)) {
      add(first.toUpperCase(), params);
    }
  }

  const auth = new Set<string>();
  for (const m of keywords.get("AUTH") ?? []) {
    const name = m.toUpperCase();
    if (MECHANISM.test(name)) auth.add(name);
  }
  const sizeParams = keywords.get("SIZE");
  let size: number | null = null;
  if (sizeParams) {
    const n = sizeParams[0] !== undefined && /^\d+$/.test(sizeParams[0]) ? Number(sizeParams[0]) : 0;
    size = Number.isSafeInteger(n) ? n : 0;
  }
  const has = (k: string): boolean => keywords.has(k);
  return {
    greeting: reply.lines[0] ?? "",
    keywords,
    size,
    auth: [...auth],
    pipelining: has("PIPELINING"),
    startTls: has("STARTTLS"),
    eightBitMime: has("8BITMIME"),
    smtpUtf8: has("SMTPUTF8"),
    dsn: has("DSN"),
    chunking: has("CHUNKING"),
    binaryMime: has("BINARYMIME"),
    enhancedStatusCodes: has("ENHANCEDSTATUSCODES"),
  };
}
