/**
 * Data types shared by the pure protocol core and its driver.
 * @module
 */

/** One complete server reply (possibly multi-line). */
export interface Reply {
  /** Discriminant: always `"reply"`. */
  readonly type: "reply";
  /** Three-digit reply code, 200–559 (`[2-5][0-5][0-9]`, RFC 5321 §4.2); 1xx is refused by the parser. */
  readonly code: number;
  /** RFC 3463 enhanced status code of the first line (e.g. `"2.1.0"`), or `null`. */
  readonly enhanced: string | null;
  /** The text of each line after the code and separator (enhanced code kept as sent). */
  readonly lines: readonly string[];
}

/** What an EHLO reply advertised. Keywords are upper-cased. */
export interface Capabilities {
  /** The first line of the EHLO reply (the server's name and greeting text). */
  readonly greeting: string;
  /** Every advertised keyword (upper case) with its parameters as sent. */
  readonly keywords: ReadonlyMap<string, readonly string[]>;
  /** SIZE limit in octets; `0` means "no fixed limit"; `null` when SIZE is not advertised. */
  readonly size: number | null;
  /** AUTH mechanisms, upper case, in the server's order (also from the old `AUTH=` form). */
  readonly auth: readonly string[];
  /** PIPELINING (RFC 2920). */
  readonly pipelining: boolean;
  /** STARTTLS (RFC 3207). */
  readonly startTls: boolean;
  /** 8BITMIME (RFC 6152). */
  readonly eightBitMime: boolean;
  /** SMTPUTF8 (RFC 6531). */
  readonly smtpUtf8: boolean;
  /** DSN (RFC 3461). */
  readonly dsn: boolean;
  /** CHUNKING: BDAT (RFC 3030). */
  readonly chunking: boolean;
  /** BINARYMIME (RFC 3030). */
  readonly binaryMime: boolean;
  /** ENHANCEDSTATUSCODES (RFC 2034). */
  readonly enhancedStatusCodes: boolean;
}

/** DSN NOTIFY request for a recipient (RFC 3461 §4.1): `"NEVER"`, or any of SUCCESS, FAILURE, DELAY. */
export type DsnNotify = "NEVER" | readonly ("SUCCESS" | "FAILURE" | "DELAY")[];
