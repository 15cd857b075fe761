/**
 * Data types shared by the pure protocol core and its driver.
 * @module
 */

/** One complete server reply (possibly multi-line). */
export interface Reply {
  readonly type: "reply";
  /** Three-digit reply code, 200–599 range families 2,3,4,5 (1xx tolerated by the parser). */
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
  readonly pipelining: boolean;
  readonly startTls: boolean;
  readonly eightBitMime: boolean;
  readonly smtpUtf8: boolean;
  readonly dsn: boolean;
  readonly chunking: boolean;
  readonly binaryMime: boolean;
  readonly enhancedStatusCodes: boolean;
}
