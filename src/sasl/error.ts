/**
 * The error SASL mechanisms throw.
 *
 * Messages never contain the password, the token, or any client response
 * (those are secret or password-derived); server-sent details (SCRAM `e=`,
 * OAuth JSON) are included because they are what the user needs to see.
 *
 * @module
 */

import { AuthError } from "../errors.ts";

/** Why a SASL exchange failed. */
export type SaslErrorReason =
  /** The server's challenge could not be parsed for this mechanism, or came when none was expected. */
  | "bad-challenge"
  /** SCRAM: the server's signature did not verify (or was missing): the server did not prove it knows the password. */
  | "server-signature"
  /** The server reported an error inside the exchange (SCRAM `e=`, XOAUTH2/OAUTHBEARER JSON). */
  | "server-error"
  /** The credentials cannot be used with this mechanism (e.g. SASLprep rejects the password). */
  | "credentials"
  /** The server's parameters are outside what the client accepts (e.g. SCRAM iteration count). */
  | "policy";

/**
 * The error details an OAuth 2.0 server sends back (RFC 7628 §3.2.2; Google's
 * XOAUTH2 sends the same shape). Only the fields present are set.
 */
export interface OAuthErrorDetail {
  /** `status` (e.g. `"invalid_token"`, or an HTTP code such as `"401"` with XOAUTH2). */
  readonly status?: string;
  /** `scope`: the scope the token would need. */
  readonly scope?: string;
  /** `schemes` (XOAUTH2). */
  readonly schemes?: string;
  /** `openid-configuration`: discovery document URL. */
  readonly openidConfiguration?: string;
  /** The challenge text as the server sent it (capped at 1000 characters). */
  readonly raw: string;
}

/** Options for {@link SaslError}. */
export interface SaslErrorOptions {
  /** Why it failed. */
  readonly reason: SaslErrorReason;
  /** Parsed OAuth error, for XOAUTH2 / OAUTHBEARER. */
  readonly oauth?: OAuthErrorDetail;
  /** The SCRAM `e=` value, when the server sent one. */
  readonly serverError?: string;
  /** The underlying error. */
  readonly cause?: unknown;
}

/**
 * A SASL mechanism failed. Always `phase: "auth"` and permanent; the driver
 * may attach the final reply's code by wrapping it (`cause`).
 *
 * @example
 * ```ts
 * try { mech.finish?.(data); } catch (e) { if (e instanceof SaslError) console.error(e.reason); }
 * ```
 */
export class SaslError extends AuthError {
  /** The mechanism name, e.g. `"SCRAM-SHA-256"`. */
  readonly mechanism: string;
  /** Why it failed. */
  readonly reason: SaslErrorReason;
  /** Parsed OAuth error, for XOAUTH2 / OAUTHBEARER failures; otherwise `null`. */
  readonly oauth: OAuthErrorDetail | null;
  /** The SCRAM `e=` value, when the server sent one; otherwise `null`. */
  readonly serverError: string | null;

  /**
   * Creates the error.
   *
   * @param mechanism The mechanism name.
   * @param message Sentence-case description; never includes secrets.
   * @param options Reason and details.
   */
  constructor(mechanism: string, message: string, options: SaslErrorOptions) {
    super(message, { phase: "auth", temporary: false, cause: options.cause });
    this.mechanism = mechanism;
    this.reason = options.reason;
    this.oauth = options.oauth ?? null;
    this.serverError = options.serverError ?? null;
  }
}
