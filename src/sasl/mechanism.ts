/**
 * The interface every SASL mechanism implements, and the inputs the factory
 * takes. Mechanisms are small synchronous state machines: no I/O, no clocks,
 * no randomness (the caller passes nonces, client challenges and the time).
 *
 * ## How a driver runs one (RFC 4954)
 *
 * ```text
 * ir = mech.start()                       // null for server-first mechanisms
 * send "AUTH <name>" + (ir ? " " + (base64(ir) || "=") : "")
 *     (if the line would exceed 512 octets, send "AUTH <name>" alone and
 *      answer the first, empty, 334 with base64(ir) instead of calling step)
 * loop on replies:
 *   334 <b64>: if mech.done -> send "*" (cancel), expect 501, fail
 *              bytes = base64Decode(b64)  (SyntaxError -> send "*", fail)
 *              try resp = mech.step(bytes) catch SaslError -> send "*", read reply, throw it
 *              send base64(resp)          (empty response = empty line)
 *   235:       mech.finish(null)          (throws if SCRAM never got a valid server signature)
 *   4xx/5xx:   throw a ReplyError for the reply, with mech.failure (if any) as its
 *              detail/cause: the OAuth JSON the server sent before refusing
 * ```
 *
 * SMTP servers send SCRAM's server-final message (`v=…`) as a 334 challenge,
 * which `step()` verifies and answers with an empty line; `finish(data)`
 * also accepts it as success data for protocols that carry it on success.
 *
 * A driver also caps the number of 334 rounds (every mechanism here needs at
 * most three) and cancels with `*` beyond it.
 *
 * ## Secrets in traces
 *
 * Every client response carries a secret or a password-derived value that
 * allows an offline dictionary attack (PLAIN, LOGIN, XOAUTH2 and OAUTHBEARER
 * carry the secret itself; CRAM-MD5, SCRAM and NTLM carry proofs). A trace
 * must therefore replace the payload of every line the client sends during
 * an AUTH exchange — the initial response after `AUTH <name>` and every line
 * answering a 334 — with a placeholder such as `[redacted N bytes]`, keeping
 * only the `AUTH <name>` prefix and `*`. Server challenges are not secret
 * (the SCRAM salt and nonce, the NTLM challenge, OAuth error JSON) and may be
 * logged decoded. Mechanisms keep credentials in private fields (not shown
 * by `console.log`/`inspect`) and never put them in error messages.
 *
 * @module
 */

import { SaslError } from "./error.ts";

/**
 * One SASL authentication exchange from the client side.
 *
 * @example
 * ```ts
 * const mech = createMechanism("PLAIN", { user: "tim", password: "secret" }, { nonce: () => "" });
 * const ir = mech.start(); // bytes of "\0tim\0secret"
 * ```
 */
export interface SaslMechanism {
  /** The IANA mechanism name, upper case (e.g. `"SCRAM-SHA-256"`). */
  readonly name: string;
  /** Whether the mechanism sends an initial response with the AUTH command. */
  readonly clientFirst: boolean;
  /**
   * Starts the exchange. Call once, before anything else.
   *
   * @returns The initial response for `AUTH <name> <ir>` (possibly empty,
   *   sent as `=`), or `null` when the mechanism waits for a challenge.
   */
  start(): Uint8Array | null;
  /**
   * Answers one server challenge (already base64-decoded). If `start()` was
   * not called, a client-first mechanism treats an empty challenge as the
   * request for its initial response.
   *
   * @param challenge The decoded challenge.
   * @returns The response bytes (may be empty: the driver sends an empty line).
   * @throws {SaslError} When the challenge is invalid or unexpected, or the
   *   server's data fails verification. The driver then cancels with `*`.
   */
  step(challenge: Uint8Array): Uint8Array;
  /**
   * Called on the final success reply (235) with its optional additional
   * data. SCRAM verifies the server signature here when it did not arrive in
   * a 334 challenge; other mechanisms accept and ignore it.
   *
   * @param data The decoded success data, or `null` when there was none.
   * @throws {SaslError} When verification fails: authentication must be
   *   treated as failed even though the server said 235.
   */
  finish(data: Uint8Array | null): void;
  /** `true` once no further challenge is acceptable (a further 334 is a protocol error). */
  readonly done: boolean;
  /**
   * An error the server reported inside the exchange (XOAUTH2/OAUTHBEARER
   * JSON) after which the mechanism answered so the server can finish with
   * its failure reply. The driver throws this (with the reply attached) once
   * that reply arrives. `null` when nothing was reported.
   */
  readonly failure: SaslError | null;
}

/** What a mechanism may need to know about the user. */
export interface SaslCredentials {
  /**
   * The user name (the authentication identity). For NTLM, `DOMAIN\user`
   * selects a domain; otherwise the domain is empty.
   */
  readonly user: string;
  /** The password, for every mechanism but XOAUTH2 / OAUTHBEARER. */
  readonly password?: string;
  /** The OAuth 2.0 bearer token, for XOAUTH2 / OAUTHBEARER. */
  readonly token?: string;
  /** The authorization identity to act as (PLAIN, SCRAM, OAUTHBEARER), when different from `user`. */
  readonly authzid?: string;
  /** The server's host name (OAUTHBEARER `host=`). */
  readonly host?: string;
  /** The server's port (OAUTHBEARER `port=`). */
  readonly port?: number;
}

/** The caller-supplied sources of randomness and time (mechanisms have none of their own). */
export interface SaslRandom {
  /**
   * A fresh client nonce for SCRAM: at least 18 random bytes rendered as
   * printable ASCII without `,` (base64 of random bytes is fine).
   */
  nonce(): string;
  /** 8 random bytes: the NTLMv2 client challenge. Required for NTLM. */
  clientChallenge?(): Uint8Array;
  /** The current time in milliseconds since the Unix epoch (NTLMv2 timestamp). Required for NTLM. */
  now?(): number;
}

/** Tunables for {@link createMechanism}. */
export interface MechanismOptions {
  /**
   * SCRAM iteration counts the client accepts; outside them the exchange is
   * refused. Defaults: min 4096 (RFC 7677 §4; a lower count sent by an
   * impostor makes the client proof cheap to attack offline), max 1,000,000
   * (bounds the client's work; ~100× the usual count).
   */
  readonly scramIterations?: { readonly min?: number; readonly max?: number };
  /** The workstation name sent in the NTLM authenticate message; default empty. */
  readonly ntlmWorkstation?: string;
  /**
   * NTLM responses: `2` (default) NTLMv2; `1` NTLMv1, weak (DES; the
   * password's MD4 hash can be recovered from the exchange), only for servers
   * that verify nothing else, such as Exim's `spa`. Never chosen automatically.
   */
  readonly ntlmVersion?: 1 | 2;
}

/**
 * Shared state handling for the mechanisms here: `start()` once, then
 * `step()`s until `done`. Subclasses implement `initial()` and `next()`.
 */
export abstract class BaseMechanism implements SaslMechanism {
  abstract readonly name: string;
  abstract readonly clientFirst: boolean;
  #started = false;
  /** Set by subclasses when no further challenge is acceptable. */
  protected finished = false;
  /** Set by subclasses to record a failure the server reported inside the exchange. */
  protected recorded: SaslError | null = null;

  /**
   * Produces the initial response (called once by `start()` or the first `step()`).
   *
   * @returns The initial response, or `null` for a server-first mechanism.
   */
  protected abstract initial(): Uint8Array | null;
  /**
   * Answers a challenge once started.
   *
   * @param challenge The decoded challenge.
   * @returns The response bytes.
   */
  protected abstract next(challenge: Uint8Array): Uint8Array;

  /** `true` once no further challenge is acceptable. */
  get done(): boolean {
    return this.finished;
  }

  /** An error the server reported inside the exchange, or `null`. */
  get failure(): SaslError | null {
    return this.recorded;
  }

  /**
   * Starts the exchange.
   *
   * @returns The initial response, or `null`.
   */
  start(): Uint8Array | null {
    if (this.#started) throw new TypeError(`${this.name}: start() was already called`);
    this.#started = true;
    return this.initial();
  }

  /**
   * Answers one decoded server challenge.
   *
   * @param challenge The decoded challenge.
   * @returns The response bytes.
   */
  step(challenge: Uint8Array): Uint8Array {
    if (!this.#started) {
      this.#started = true;
      const ir = this.initial();
      if (ir !== null) {
        if (challenge.length > 0) throw this.error("The server sent a challenge before the initial response");
        return ir;
      }
    }
    if (this.finished) throw this.error("The server sent a challenge after the exchange was complete");
    return this.next(challenge);
  }

  /**
   * Accepts the final success reply's data.
   *
   * @param _data The decoded success data, or `null`.
   */
  finish(_data: Uint8Array | null): void {
    this.finished = true;
  }

  /**
   * Builds a {@link SaslError} for this mechanism.
   *
   * @param message Sentence-case description, without secrets.
   * @param reason Why; default `"bad-challenge"`.
   * @param cause The underlying error.
   * @returns The error, for the caller to throw.
   */
  protected error(message: string, reason: SaslError["reason"] = "bad-challenge", cause?: unknown): SaslError {
    return new SaslError(this.name, message, { reason, cause });
  }
}

/**
 * Checks a credential field. The message names the field, never the value.
 *
 * @param mechanism The mechanism name, for the message.
 * @param field The field name, for the message (e.g. `"password"`).
 * @param value The value to check.
 * @returns `value`, known to be a non-empty string.
 * @throws {TypeError} Unless `value` is a non-empty string.
 */
export function requireString(mechanism: string, field: string, value: string | undefined): string {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`${mechanism} needs a non-empty ${field}`);
  }
  return value;
}
