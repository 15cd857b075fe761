/**
 * OAuth 2.0 bearer-token mechanisms: OAUTHBEARER (RFC 7628) and Google's
 * XOAUTH2. Both send the token in the initial response. On failure the
 * server sends one 334 challenge holding a JSON error; the client must
 * answer it (XOAUTH2: an empty line; OAUTHBEARER: `%x01`, base64 `AQ==`) and
 * the server then sends its failure reply. The mechanism answers, records
 * the parsed error in `failure`, and the driver throws
 * that after the failure reply.
 *
 * @module
 */

import { fromUtf8, utf8 } from "./bytes.ts";
import { type OAuthErrorDetail, SaslError } from "./error.ts";
import { BaseMechanism, requireString } from "./mechanism.ts";
import { scramEscape } from "./scram.ts";

/**
 * Parses the JSON error a server sends in an OAuth failure challenge.
 *
 * @param challenge The decoded challenge.
 * @returns The fields present; `raw` always holds the text (control
 *   characters replaced, at most 1000 characters).
 * @example
 * ```ts
 * parseOAuthError(utf8('{"status":"invalid_token","scope":"mail"}')).status; // "invalid_token"
 * ```
 */
export function parseOAuthError(challenge: Uint8Array): OAuthErrorDetail {
  const raw = fromUtf8(challenge).replace(/[\x00-\x1f\x7f]/g, " ").trim().slice(0, 1000);
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(challenge));
  } catch {
    return { raw };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return { raw };
  const o = json as Record<string, unknown>;
  const str = (v: unknown): string | undefined =>
    typeof v === "string" || typeof v === "number" ? String(v).slice(0, 500) : undefined;
  const detail: { -readonly [K in keyof OAuthErrorDetail]: OAuthErrorDetail[K] } = { raw };
  const status = str(o["status"]);
  const scope = str(o["scope"]);
  const schemes = str(o["schemes"]);
  const openid = str(o["openid-configuration"]);
  if (status !== undefined) detail.status = status;
  if (scope !== undefined) detail.scope = scope;
  if (schemes !== undefined) detail.schemes = schemes;
  if (openid !== undefined) detail.openidConfiguration = openid;
  return detail;
}

function describe(detail: OAuthErrorDetail): string {
  const parts: string[] = [];
  if (detail.status !== undefined) parts.push(`status "${detail.status}"`);
  if (detail.scope !== undefined) parts.push(`scope "${detail.scope}"`);
  if (detail.schemes !== undefined) parts.push(`schemes "${detail.schemes}"`);
  if (parts.length === 0 && detail.raw !== "") parts.push(`"${detail.raw.slice(0, 200)}"`);
  return parts.length ? ` (${parts.join(", ")})` : "";
}

/** Builds the error for an OAuth failure challenge, with the parsed JSON attached. */
function oauthFailure(mechanism: string, challenge: Uint8Array): SaslError {
  const detail = parseOAuthError(challenge);
  return new SaslError(mechanism, `The server rejected the OAuth token${describe(detail)}`, {
    reason: "server-error",
    oauth: detail,
  });
}

function checkNoCtl(mechanism: string, field: string, value: string): void {
  if (/[\x00-\x1f\x7f]/.test(value)) throw new TypeError(`${mechanism}: the ${field} contains a control character`);
}

/**
 * XOAUTH2 (Google, Microsoft): initial response
 * `user=<user>\x01auth=Bearer <token>\x01\x01`.
 *
 * @example
 * ```ts
 * fromUtf8(new XOAuth2Mechanism("someuser@example.com", "ya29.vF9dft4q").start());
 * // "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4q\x01\x01"
 * ```
 */
export class XOAuth2Mechanism extends BaseMechanism {
  /** `true`: the token goes in the initial response. */
  readonly clientFirst: boolean = true;
  /** `"XOAUTH2"`. */
  readonly name: string = "XOAUTH2";
  readonly #user: string;
  readonly #token: string;

  /**
   * Creates an XOAUTH2 exchange.
   *
   * @param user The account (usually the e-mail address).
   * @param token The OAuth 2.0 access token.
   * @throws {TypeError} On an empty user or token, or control characters in them.
   */
  constructor(user: string, token: string) {
    super();
    this.#user = requireString("XOAUTH2", "user name", user);
    this.#token = requireString("XOAUTH2", "token", token);
    checkNoCtl("XOAUTH2", "user name", user);
    checkNoCtl("XOAUTH2", "token", token);
  }

  /**
   * Produces the initial response.
   *
   * @returns The initial response.
   */
  protected initial(): Uint8Array {
    return utf8(`user=${this.#user}\x01auth=Bearer ${this.#token}\x01\x01`);
  }

  /**
   * Answers the server's error challenge with an empty response and records the error.
   *
   * @param challenge The decoded JSON error.
   * @returns An empty response.
   */
  protected next(challenge: Uint8Array): Uint8Array {
    this.recorded = oauthFailure(this.name, challenge);
    this.finished = true;
    return new Uint8Array(0);
  }
}

/** Options for {@link OAuthBearerMechanism}. */
export interface OAuthBearerOptions {
  /** Authorization identity for the GS2 header `a=`; defaults to the user. */
  readonly authzid?: string;
  /** Server host name (`host=`), omitted when not given. */
  readonly host?: string;
  /** Server port (`port=`), omitted when not given. */
  readonly port?: number;
}

/**
 * OAUTHBEARER (RFC 7628): initial response
 * `n,a=<user>,\x01host=<host>\x01port=<port>\x01auth=Bearer <token>\x01\x01`.
 *
 * @example
 * ```ts
 * new OAuthBearerMechanism("user@example.com", "vF9dft4q", { host: "server.example.com", port: 143 }).start();
 * ```
 */
export class OAuthBearerMechanism extends BaseMechanism {
  /** `true`: the token goes in the initial response. */
  readonly clientFirst: boolean = true;
  /** `"OAUTHBEARER"`. */
  readonly name: string = "OAUTHBEARER";
  readonly #authzid: string;
  readonly #token: string;
  readonly #host: string | undefined;
  readonly #port: number | undefined;

  /**
   * Creates an OAUTHBEARER exchange.
   *
   * @param user The account; sent as the GS2 authzid unless `options.authzid` is given.
   * @param token The OAuth 2.0 access token.
   * @param options Authzid, host and port.
   * @throws {TypeError} On an empty user or token, or control characters in the fields.
   * @throws {RangeError} On an invalid port.
   */
  constructor(user: string, token: string, options: OAuthBearerOptions = {}) {
    super();
    requireString("OAUTHBEARER", "user name", user);
    this.#token = requireString("OAUTHBEARER", "token", token);
    this.#authzid = options.authzid || user;
    this.#host = options.host;
    this.#port = options.port;
    checkNoCtl("OAUTHBEARER", "user name", this.#authzid);
    checkNoCtl("OAUTHBEARER", "token", token);
    if (this.#host !== undefined) checkNoCtl("OAUTHBEARER", "host", this.#host);
    if (this.#port !== undefined && !(Number.isInteger(this.#port) && this.#port > 0 && this.#port < 65536)) {
      throw new RangeError(`OAUTHBEARER: invalid port ${this.#port}`);
    }
  }

  /**
   * Produces the initial response.
   *
   * @returns The initial response.
   */
  protected initial(): Uint8Array {
    let s = `n,a=${scramEscape(this.#authzid)},\x01`;
    if (this.#host) s += `host=${this.#host}\x01`;
    if (this.#port !== undefined) s += `port=${this.#port}\x01`;
    s += `auth=Bearer ${this.#token}\x01\x01`;
    return utf8(s);
  }

  /**
   * Answers the server's error challenge with `%x01` (RFC 7628 §3.2.3) and records the error.
   *
   * @param challenge The decoded JSON error.
   * @returns The single byte 0x01.
   */
  protected next(challenge: Uint8Array): Uint8Array {
    this.recorded = oauthFailure(this.name, challenge);
    this.finished = true;
    return new Uint8Array([1]);
  }
}
