/**
 * LOGIN (draft-murchison-sasl-login): the server prompts for the user name
 * and then the password; each answer is one response.
 *
 * Prompts vary ("Username:", "User Name\0", "login:", "Password:", or
 * nothing), so a prompt mentioning "pass" gets the password, one mentioning
 * "user", "name" or "login" gets the user name, and any other prompt is
 * answered by position (first the user name, then the password).
 *
 * @module
 */

import { fromUtf8, utf8 } from "./bytes.ts";
import { BaseMechanism, requireString } from "./mechanism.ts";

/**
 * The LOGIN mechanism. Only safe over TLS: the password travels in the clear.
 *
 * @example
 * ```ts
 * const m = new LoginMechanism("tim", "secret");
 * m.start(); // null
 * m.step(utf8("Username:")); // bytes of "tim"
 * m.step(utf8("Password:")); // bytes of "secret"
 * ```
 */
export class LoginMechanism extends BaseMechanism {
  /** `"LOGIN"`. */
  readonly name: string = "LOGIN";
  /** `false`: the server prompts first. */
  readonly clientFirst: boolean = false;
  readonly #user: string;
  readonly #password: string;
  #sentUser = false;
  #rounds = 0;

  /**
   * Creates a LOGIN exchange.
   *
   * @param user The user name.
   * @param password The password.
   * @throws {TypeError} On an empty user or password.
   */
  constructor(user: string, password: string) {
    super();
    this.#user = requireString("LOGIN", "user name", user);
    this.#password = requireString("LOGIN", "password", password);
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
    if (++this.#rounds > 3) throw this.error("The server kept prompting after the password");
    const prompt = fromUtf8(challenge).toLowerCase();
    const wantsPassword = prompt.includes("pass") || (!/user|name|login/.test(prompt) && this.#sentUser);
    if (wantsPassword) {
      this.finished = true;
      return utf8(this.#password);
    }
    this.#sentUser = true;
    return utf8(this.#user);
  }
}
