/**
 * SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677), without channel
 * binding (GS2 header `n,,`, or `n,a=<authzid>,`).
 *
 * - The password is prepared with {@link saslprep} (see there for what is
 *   covered); the user name is not prepared, only escaped (`=` → `=3D`,
 *   `,` → `=2C`).
 * - The server's nonce must extend the client's; the salt must be base64;
 *   the iteration count must lie within the configured bounds (default
 *   4096 … 1,000,000); a mandatory extension (`m=`) is refused.
 * - The server signature (`v=`) is compared in constant time, whether it
 *   arrives in a 334 challenge or as the 235 reply's data; a missing or wrong
 *   signature fails the exchange. A server error (`e=`) is surfaced.
 *
 * @module
 */

import { base64Decode, base64Encode, concat, fromUtf8, timingSafeEqual, utf8 } from "./bytes.ts";
import { type HashAlgorithm, SHA1, SHA256, hash } from "./hash.ts";
import { hmacKey, pbkdf2 } from "./hmac.ts";
import { BaseMechanism, requireString } from "./mechanism.ts";
import { saslprep } from "./saslprep.ts";
import { SaslError } from "./error.ts";

/** Default lowest SCRAM iteration count accepted (RFC 7677 §4 recommends at least 4096). */
export const SCRAM_MIN_ITERATIONS = 4096;
/** Default highest SCRAM iteration count accepted (bounds the work a server can make the client do). */
export const SCRAM_MAX_ITERATIONS = 1_000_000;

/** Options for {@link ScramMechanism}. */
export interface ScramOptions {
  /** Authorization identity, when different from the user. */
  readonly authzid?: string;
  /** Lowest accepted iteration count; default {@link SCRAM_MIN_ITERATIONS}. */
  readonly minIterations?: number;
  /** Highest accepted iteration count; default {@link SCRAM_MAX_ITERATIONS}. */
  readonly maxIterations?: number;
}

/**
 * Escapes a name for SCRAM's `saslname` (RFC 5802 §5.1): `=` → `=3D`, `,` → `=2C`.
 *
 * @param name The user name or authzid.
 * @returns The escaped name.
 * @example
 * ```ts
 * scramEscape("a,b=c"); // "a=2Cb=3Dc"
 * ```
 */
export function scramEscape(name: string): string {
  return name.replace(/=/g, "=3D").replace(/,/g, "=2C");
}

type ScramState =
  | { readonly kind: "initial" }
  | { readonly kind: "sent-first"; readonly nonce: string; readonly bare: string }
  | { readonly kind: "sent-final"; readonly serverSignature: Uint8Array }
  | { readonly kind: "verified" };

const PRINTABLE_NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;

/**
 * A SCRAM client (SCRAM-SHA-1 or SCRAM-SHA-256).
 *
 * @example
 * ```ts
 * const m = new ScramMechanism(SHA256, "user", "pencil", () => "rOprNGfwEbeRWgbNEkqO");
 * fromUtf8(m.start()!); // "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
 * ```
 */
export class ScramMechanism extends BaseMechanism {
  /** `"SCRAM-SHA-1"` or `"SCRAM-SHA-256"`. */
  readonly name: string;
  /** `true`: the client-first message is the initial response. */
  readonly clientFirst: boolean = true;
  readonly #algorithm: HashAlgorithm;
  readonly #user: string;
  readonly #password: string;
  readonly #nonce: () => string;
  readonly #gs2Header: string;
  readonly #min: number;
  readonly #max: number;
  #state: ScramState = { kind: "initial" };

  /**
   * Creates a SCRAM exchange.
   *
   * @param algorithm {@link SHA1} or {@link SHA256}.
   * @param user The user name.
   * @param password The password (SASLprep is applied when the exchange needs it).
   * @param nonce Returns a fresh client nonce (printable ASCII, no `,`).
   * @param options Authzid and iteration bounds.
   * @throws {TypeError} On an empty user or password, or an unsupported hash.
   * @throws {RangeError} On invalid iteration bounds.
   */
  constructor(algorithm: HashAlgorithm, user: string, password: string, nonce: () => string, options: ScramOptions = {}) {
    super();
    if (algorithm !== SHA1 && algorithm !== SHA256) throw new TypeError("SCRAM supports SHA-1 and SHA-256 only");
    this.name = algorithm === SHA1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
    this.#algorithm = algorithm;
    this.#user = requireString(this.name, "user name", user);
    this.#password = requireString(this.name, "password", password);
    this.#nonce = nonce;
    this.#gs2Header = options.authzid ? `n,a=${scramEscape(options.authzid)},` : "n,,";
    this.#min = options.minIterations ?? SCRAM_MIN_ITERATIONS;
    this.#max = options.maxIterations ?? SCRAM_MAX_ITERATIONS;
    if (!Number.isSafeInteger(this.#min) || !Number.isSafeInteger(this.#max) || this.#min < 1 || this.#max < this.#min) {
      throw new RangeError(`${this.name}: invalid iteration bounds ${this.#min}..${this.#max}`);
    }
  }

  /** `true` after the server signature has been verified. */
  get verified(): boolean {
    return this.#state.kind === "verified";
  }

  /**
   * Produces the initial response (called once by `start()` or the first `step()`).
   *
   * @returns The initial response, or `null` for a server-first mechanism.
   */
  protected initial(): Uint8Array {
    const nonce = this.#nonce();
    if (typeof nonce !== "string" || nonce.length < 8 || !PRINTABLE_NONCE.test(nonce)) {
      throw new TypeError(`${this.name}: the client nonce must be at least 8 printable ASCII characters without ","`);
    }
    const bare = `n=${scramEscape(this.#user)},r=${nonce}`;
    this.#state = { kind: "sent-first", nonce, bare };
    return utf8(this.#gs2Header + bare);
  }

  /**
   * Answers a challenge once started.
   *
   * @param challenge The decoded challenge.
   * @returns The response bytes.
   */
  protected next(challenge: Uint8Array): Uint8Array {
    const state = this.#state;
    switch (state.kind) {
      case "sent-first":
        return this.#clientFinal(state.nonce, state.bare, this.#text(challenge, "server-first"));
      case "sent-final":
        this.#verify(state.serverSignature, challenge);
        return new Uint8Array(0);
      default:
        throw this.error("The server sent an unexpected challenge");
    }
  }

  /**
   * Verifies the server signature sent as the 235 reply's data, unless it was
   * already verified in a challenge.
   *
   * @param data The decoded success data, or `null`.
   * @throws {SaslError} When the signature is missing or wrong.
   */
  override finish(data: Uint8Array | null): void {
    const state = this.#state;
    if (state.kind === "verified") return;
    if (state.kind !== "sent-final") {
      throw this.error("The server reported success before the exchange was complete", "server-signature");
    }
    if (data === null || data.length === 0) {
      throw this.error(
        "The server reported success without its signature, so it did not prove it knows the password",
        "server-signature",
      );
    }
    this.#verify(state.serverSignature, data);
  }

  #text(bytes: Uint8Array, what: string): string {
    try {
      return fromUtf8(bytes, true);
    } catch (e) {
      throw this.error(`The ${what} message is not valid UTF-8`, "bad-challenge", e);
    }
  }

  #clientFinal(clientNonce: string, bare: string, serverFirst: string): Uint8Array {
    const attrs = parseAttributes(serverFirst);
    if (attrs === null) throw this.error("The server-first message is malformed");
    if (attrs[0]?.[0] === "m") throw this.error("The server requires an unsupported SCRAM extension (m=)");
    if (attrs[0]?.[0] === "e") throw this.#serverError(attrs[0][1]);
    const [r, s, i] = attrs;
    if (r?.[0] !== "r" || s?.[0] !== "s" || i?.[0] !== "i") {
      throw this.error("The server-first message does not start with r=, s=, i=");
    }
    const nonce = r[1];
    if (!nonce.startsWith(clientNonce) || nonce.length === clientNonce.length || !PRINTABLE_NONCE.test(nonce)) {
      throw this.error("The server nonce does not extend the client nonce");
    }
    let salt: Uint8Array;
    try {
      salt = base64Decode(s[1]);
    } catch (e) {
      throw this.error("The server's salt is not valid base64", "bad-challenge", e);
    }
    if (salt.length === 0) throw this.error("The server's salt is empty");
    if (!/^[1-9][0-9]{0,15}$/.test(i[1])) throw this.error(`The iteration count "${i[1]}" is not a positive integer`);
    const iterations = Number(i[1]);
    if (iterations < this.#min || iterations > this.#max) {
      throw this.error(
        `The server asked for ${iterations} iterations; the accepted range is ${this.#min} to ${this.#max}`,
        "policy",
      );
    }

    let prepared: string;
    try {
      prepared = saslprep(this.#password);
    } catch (e) {
      throw this.error("The password contains a character that SASLprep prohibits", "credentials", e);
    }
    const H = this.#algorithm;
    const withoutProof = `c=${base64Encode(utf8(this.#gs2Header))},r=${nonce}`;
    const authMessage = utf8(`${bare},${serverFirst},${withoutProof}`);
    const salted = pbkdf2(H, utf8(prepared), salt, iterations);
    const saltedKey = hmacKey(H, salted);
    const clientKey = saltedKey.mac(utf8("Client Key"));
    const storedKey = hash(H, clientKey);
    const clientSignature = hmacKey(H, storedKey).mac(authMessage);
    const proof = new Uint8Array(clientKey.length);
    for (let k = 0; k < proof.length; k++) proof[k] = clientKey[k]! ^ clientSignature[k]!;
    const serverKey = saltedKey.mac(utf8("Server Key"));
    const serverSignature = hmacKey(H, serverKey).mac(authMessage);
    salted.fill(0);
    clientKey.fill(0);
    this.#state = { kind: "sent-final", serverSignature };
    return concat(utf8(withoutProof), utf8(`,p=${base64Encode(proof)}`));
  }

  #verify(expected: Uint8Array, data: Uint8Array): void {
    const attrs = parseAttributes(this.#text(data, "server-final"));
    const first = attrs?.[0];
    if (!first) throw this.error("The server-final message is malformed", "server-signature");
    if (first[0] === "e") throw this.#serverError(first[1]);
    if (first[0] !== "v") throw this.error("The server-final message has no signature (v=)", "server-signature");
    let got: Uint8Array;
    try {
      got = base64Decode(first[1]);
    } catch (e) {
      throw this.error("The server signature is not valid base64", "server-signature", e);
    }
    if (!timingSafeEqual(expected, got)) {
      throw this.error(
        "The server signature does not match, so the server did not prove it knows the password",
        "server-signature",
      );
    }
    this.#state = { kind: "verified" };
    this.finished = true;
  }

  #serverError(value: string): SaslError {
    const text = value.replace(/[^\x20-\x7e]/g, "?").slice(0, 200);
    return new SaslError(this.name, `The server reported a SCRAM error: "${text}"`, {
      reason: "server-error",
      serverError: text,
    });
  }
}

/** Splits `a=1,b=2` into `[["a","1"],["b","2"]]`; `null` when an attribute is malformed. */
function parseAttributes(text: string): Array<[string, string]> | null {
  const out: Array<[string, string]> = [];
  for (const part of text.split(",")) {
    const m = /^([A-Za-z])=(.*)$/s.exec(part);
    if (!m) return null;
    out.push([m[1]!, m[2]!]);
  }
  return out;
}
