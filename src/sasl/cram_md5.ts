/**
 * CRAM-MD5 (RFC 2195): the response is `user SP hex(HMAC-MD5(password, challenge))`.
 *
 * @module
 */

import { toHex, utf8 } from "./bytes.ts";
import { MD5 } from "./hash.ts";
import { hmac } from "./hmac.ts";
import { BaseMechanism, requireString } from "./mechanism.ts";

/**
 * The CRAM-MD5 mechanism. The password does not travel, but the response
 * allows an offline dictionary attack, and the server must store the
 * password (or its MD5 context) in the clear.
 *
 * @example
 * ```ts
 * const m = new CramMd5Mechanism("tim", "tanstaaftanstaaf");
 * m.start(); // null
 * fromUtf8(m.step(utf8("<1896.697170952@postoffice.reston.mci.net>")));
 * // "tim b913a602c7eda7a495b4e6e7334d3890"
 * ```
 */
export class CramMd5Mechanism extends BaseMechanism {
  /** `"CRAM-MD5"`. */
  readonly name: string = "CRAM-MD5";
  /** `false`: the server sends the challenge first. */
  readonly clientFirst: boolean = false;
  readonly #user: string;
  readonly #password: string;

  /**
   * Creates a CRAM-MD5 exchange.
   *
   * @param user The user name.
   * @param password The shared secret.
   * @throws {TypeError} On an empty user or password.
   */
  constructor(user: string, password: string) {
    super();
    this.#user = requireString("CRAM-MD5", "user name", user);
    this.#password = requireString("CRAM-MD5", "password", password);
  }

  /**
   * Produces the initial response (called once by `start()` or the first `step()`).
   *
   * @returns The initial response, or `null` for a server-first mechanism.
   */
  protected initial(): null {
    return null;
  }

  /**
   * Answers a challenge once started.
   *
   * @param challenge The decoded challenge.
   * @returns The response bytes.
   */
  protected next(challenge: Uint8Array): Uint8Array {
    if (challenge.length === 0) throw this.error("The server sent an empty challenge");
    this.finished = true;
    const digest = hmac(MD5, utf8(this.#password), challenge);
    return utf8(`${this.#user} ${toHex(digest)}`);
  }
}
