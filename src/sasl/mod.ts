/**
 * SASL for SMTP AUTH (RFC 4954): the mechanism factory, the selection
 * helper, and re-exports of the mechanisms and primitives. Pure and
 * synchronous; see `mechanism.ts` for the driver contract and the rules for
 * keeping secrets out of traces.
 *
 * @module
 */

import { type MechanismOptions, type SaslCredentials, type SaslMechanism, type SaslRandom } from "./mechanism.ts";
import { PlainMechanism } from "./plain.ts";
import { LoginMechanism } from "./login.ts";
import { CramMd5Mechanism } from "./cram_md5.ts";
import { ScramMechanism } from "./scram.ts";
import { OAuthBearerMechanism, XOAuth2Mechanism } from "./oauth.ts";
import { NtlmMechanism } from "./ntlm.ts";
import { SHA1, SHA256 } from "./hash.ts";
import { SUPPORTED_MECHANISMS } from "./select.ts";

export type { MechanismOptions, SaslCredentials, SaslMechanism, SaslRandom } from "./mechanism.ts";
export { BaseMechanism } from "./mechanism.ts";
export { SaslError } from "./error.ts";
export type { OAuthErrorDetail, SaslErrorReason } from "./error.ts";
export { type ChooseOptions, chooseMechanisms, SUPPORTED_MECHANISMS } from "./select.ts";
export { PlainMechanism } from "./plain.ts";
export { LoginMechanism } from "./login.ts";
export { CramMd5Mechanism } from "./cram_md5.ts";
export { SCRAM_MAX_ITERATIONS, SCRAM_MIN_ITERATIONS, ScramMechanism } from "./scram.ts";
export { OAuthBearerMechanism, XOAuth2Mechanism } from "./oauth.ts";
export { NtlmMechanism } from "./ntlm.ts";
export { base64Decode, base64Encode, timingSafeEqual } from "./bytes.ts";

/**
 * Creates a mechanism by name.
 *
 * @param name The mechanism name (any case), one of {@link SUPPORTED_MECHANISMS}.
 * @param credentials User and password or token (and the extras some mechanisms use).
 * @param random Sources of nonces, client challenges and time (SCRAM needs
 *   `nonce`; NTLM needs `clientChallenge` and `now`).
 * @param options SCRAM iteration bounds, NTLM workstation name and version.
 * @returns A fresh mechanism, not yet started.
 * @throws {RangeError} For an unsupported mechanism name.
 * @throws {TypeError} When a credential or random source the mechanism needs is missing.
 * @example
 * ```ts
 * const mech = createMechanism("SCRAM-SHA-256", { user: "user", password: "pencil" }, {
  *   nonce: () => base64Encode(randomBytes(18)), // caller-supplied randomness
 * });
 * ```
 */
export function createMechanism(
  name: string,
  credentials: SaslCredentials,
  random: SaslRandom,
  options: MechanismOptions = {},
): SaslMechanism {
  const upper = name.trim().toUpperCase();
  const { user, password = "", token = "", authzid } = credentials;
  switch (upper) {
    case "PLAIN":
      return new PlainMechanism(user, password, authzid ?? "");
    case "LOGIN":
      return new LoginMechanism(user, password);
    case "CRAM-MD5":
      return new CramMd5Mechanism(user, password);
    case "SCRAM-SHA-1":
    case "SCRAM-SHA-256":
      if (typeof random.nonce !== "function") throw new TypeError(`${upper} needs a nonce source`);
      return new ScramMechanism(upper === "SCRAM-SHA-1" ? SHA1 : SHA256, user, password, () => random.nonce(), {
        ...(authzid ? { authzid } : {}),
        ...(options.scramIterations?.min !== undefined ? { minIterations: options.scramIterations.min } : {}),
        ...(options.scramIterations?.max !== undefined ? { maxIterations: options.scramIterations.max } : {}),
      });
    case "XOAUTH2":
      return new XOAuth2Mechanism(user, token);
    case "OAUTHBEARER":
      return new OAuthBearerMechanism(user, token, {
        ...(authzid ? { authzid } : {}),
        ...(credentials.host !== undefined ? { host: credentials.host } : {}),
        ...(credentials.port !== undefined ? { port: credentials.port } : {}),
      });
    case "NTLM": {
      const { clientChallenge, now } = random;
      if (typeof clientChallenge !== "function" || typeof now !== "function") {
        throw new TypeError("NTLM needs clientChallenge and now sources");
      }
      return new NtlmMechanism(user, password, {
        clientChallenge: () => clientChallenge.call(random),
        now: () => now.call(random),
        ...(options.ntlmWorkstation !== undefined ? { workstation: options.ntlmWorkstation } : {}),
        ...(options.ntlmVersion !== undefined ? { version: options.ntlmVersion } : {}),
      });
    }
    default:
      throw new RangeError(`Unsupported SASL mechanism "${name}"; supported: ${SUPPORTED_MECHANISMS.join(", ")}`);
  }
}
