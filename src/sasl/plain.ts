/**
 * PLAIN (RFC 4616): `authzid NUL authcid NUL passwd` as the initial response.
 * The strings are sent as UTF-8 without SASLprep (the server prepares them).
 *
 * @module
 */

import { utf8 } from "./bytes.ts";
import { BaseMechanism, requireString } from "./mechanism.ts";

/**
 * The PLAIN mechanism. Only safe over TLS: the password travels in the clear
 * (base64 is not protection).
 *
 * @example
 * ```ts
 * new PlainMechanism("tim", "tanstaaf").start(); // bytes of "\0tim\0tanstaaf"
 * ```
 */
export class PlainMechanism extends BaseMechanism {
  /** `"PLAIN"`. */
  readonly name: string = "PLAIN";
  /** `true`: the credentials go in the initial response. */
  readonly clientFirst: boolean = true;
  readonly #user: string;
  readonly #password: string;
  readonly #authzid: string;

  /**
   * Creates a PLAIN exchange.
   *
   * @param user The authentication identity.
   * @param password The password.
   * @param authzid The authorization identity; empty (the default) means "same as `user`".
   * @throws {TypeError} On an empty user or password, or a NUL in any field.
   */
  constructor(user: string, password: string, authzid = "") {
    super();
    this.#user = requireString("PLAIN", "user name", user);
    this.#password = requireString("PLAIN", "password", password);
    this.#authzid = authzid;
    for (const [field, v] of [["user name", user], ["password", password], ["authorization identity", authzid]]) {
      if (v!.includes("\0")) throw new TypeError(`PLAIN: the ${field} contains a NUL character`);
    }
  }

  /**
   * Produces the initial response (called once by `start()` or the first `step()`).
   *
   * @returns The initial response, or `null` for a server-first mechanism.
   */
  protected initial(): Uint8Array {
    this.finished = true;
    return utf8(`${this.#authzid}\0${this.#user}\0${this.#password}`);
  }

  /**
   * Answers a challenge once started.
   *
   * @param challenge The decoded challenge.
   * @returns The response bytes.
   */
  protected next(_challenge: Uint8Array): Uint8Array {
    throw this.error("The server sent an unexpected challenge");
  }
}
