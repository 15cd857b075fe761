/**
 * Which SASL mechanisms to try, in which order.
 *
 * Order, strongest first, among those the server offers:
 * 1. with a token: OAUTHBEARER, then XOAUTH2 (the standard one first);
 * 2. with a password: SCRAM-SHA-256, SCRAM-SHA-1 (mutual authentication, the
 *    server stores no password equivalent), CRAM-MD5 (no cleartext on the
 *    wire), PLAIN, LOGIN (cleartext: only over TLS, which the driver enforces);
 * 3. NTLM only when forced, or when the server offers none of the password
 *    mechanisms above (an Exchange server offering only NTLM): it depends on
 *    MD4/HMAC-MD5 and the domain set-up, and is deprecated by Microsoft.
 *
 * A token is preferred over a password when both are configured (configuring
 * a token says the account uses OAuth). `-PLUS` variants (channel binding)
 * are not supported and are never chosen.
 *
 * @module
 */

/** Every mechanism this library implements, upper case. */
export const SUPPORTED_MECHANISMS: readonly string[] = Object.freeze([
  "PLAIN",
  "LOGIN",
  "CRAM-MD5",
  "SCRAM-SHA-1",
  "SCRAM-SHA-256",
  "XOAUTH2",
  "OAUTHBEARER",
  "NTLM",
]);

const TOKEN_ORDER = ["OAUTHBEARER", "XOAUTH2"];
const PASSWORD_ORDER = ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"];

/** Options for {@link chooseMechanisms}. */
export interface ChooseOptions {
  /** A mechanism the user insists on (any case); only it is tried. */
  readonly forced?: string;
  /** Which credentials are available. */
  readonly have: { readonly password: boolean; readonly token: boolean };
}

/**
 * Orders the mechanisms to try against a server: the driver tries them in
 * turn, moving to the next after a permanent authentication failure (5xx),
 * as Emacs smtpmail does ("tries each of them, in that order, until one
 * succeeds").
 *
 * @param offered The mechanisms from the EHLO `AUTH` keyword (any case).
 * @param opts The forced mechanism, if any, and which credentials exist.
 * @returns Mechanism names, upper case, best first; empty when nothing
 *   offered can be used (with `forced`: when the server does not offer it).
 * @throws {RangeError} When `forced` is not a mechanism this library implements.
 * @example
 * ```ts
 * chooseMechanisms(["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"], { have: { password: true, token: false } });
 * // ["SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"]
 * ```
 */
export function chooseMechanisms(offered: readonly string[], opts: ChooseOptions): string[] {
  const available = new Set(offered.map((m) => m.trim().toUpperCase()));
  if (opts.forced !== undefined) {
    const forced = opts.forced.trim().toUpperCase();
    if (!SUPPORTED_MECHANISMS.includes(forced)) {
      throw new RangeError(
        `Unsupported SASL mechanism "${opts.forced}"; supported: ${SUPPORTED_MECHANISMS.join(", ")}`,
      );
    }
    return available.has(forced) ? [forced] : [];
  }
  const out: string[] = [];
  if (opts.have.token) out.push(...TOKEN_ORDER.filter((m) => available.has(m)));
  if (opts.have.password) {
    const withPassword = PASSWORD_ORDER.filter((m) => available.has(m));
    if (withPassword.length === 0 && available.has("NTLM")) withPassword.push("NTLM");
    out.push(...withPassword);
  }
  return out;
}
