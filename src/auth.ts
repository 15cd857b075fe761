/**
 * Drives SMTP AUTH (RFC 4954) with the pure SASL mechanisms in `src/sasl/`:
 * picks the order of mechanisms, runs each exchange, falls back on a
 * permanent failure, and cancels garbled or endless exchanges with `*`.
 *
 * @module
 */
import { AuthError, ReplyError } from "./errors.ts";
import type { AuthOptions } from "./options.ts";
import type { Reply } from "./protocol/types.ts";
import { base64Decode, base64Encode } from "./sasl/bytes.ts";
import { chooseMechanisms, createMechanism, type SaslMechanism } from "./sasl/mod.ts";

/**
 * The I/O the AUTH driver needs from the session. A driver on the session
 * core maps each line with `saslCommand()` onto `Session.send()`, which
 * writes it, redacts its payload in the trace and holds an initial response
 * too long for the AUTH line (RFC 4954 §4).
 */
export interface SaslIo {
  /** Writes one line (without CRLF): `AUTH <mechanism> [initial-response]`, a base64 response, or `*`. */
  send(line: string): Promise<void>;
  /**
   * Reads the next reply. A 334 that asks for an initial response the core
   * held back is answered by the I/O (`{ type: "AUTH-RESPONSE" }`), not
   * returned.
   */
  read(): Promise<Reply>;
  /** Builds the error for a negative reply. */
  replyError(reply: Reply, message: string): ReplyError;
}

/** More server challenges than any real mechanism needs: the exchange is cancelled. */
const MAX_STEPS = 10;

/** Random bytes for nonces and NTLM client challenges. */
function defaultRandom(bytes: Uint8Array): Uint8Array {
  crypto.getRandomValues(bytes as Uint8Array<ArrayBuffer>);
  return bytes;
}

/**
 * Authenticates, trying mechanisms strongest first until one succeeds
 * (see `nextAfterFailure` below for what follows a failure).
 *
 * @param io Session I/O.
 * @param offered The server's AUTH mechanisms.
 * @param auth Credentials and an optional forced mechanism.
 * @param ctx Server name and port (OAUTHBEARER sends them), and a random source.
 * @returns The mechanism that succeeded.
 * @throws {AuthError} When no offered mechanism fits the credentials.
 * @throws {ReplyError} With the server's last refusal when every mechanism failed.
 */
export async function authenticate(
  io: SaslIo,
  offered: readonly string[],
  auth: AuthOptions,
  ctx: { host: string; port: number; random?: (bytes: Uint8Array) => Uint8Array },
): Promise<string> {
  if (!auth.user && !auth.token) throw new TypeError("Option \"auth.user\" is required");
  if (auth.ntlmVersion !== undefined) {
    if (auth.ntlmVersion !== 1 && auth.ntlmVersion !== 2) {
      throw new RangeError(`Option "auth.ntlmVersion" must be 1 or 2, got ${JSON.stringify(auth.ntlmVersion)}`);
    }
    // NTLMv1 is weak: only when NTLM itself was asked for, never picked automatically.
    if (auth.ntlmVersion === 1 && auth.method?.trim().toUpperCase() !== "NTLM") {
      throw new TypeError('Option "auth.ntlmVersion: 1" needs "auth.method": "NTLM" (NTLMv1 is never chosen automatically)');
    }
  }
  const order = chooseMechanisms(offered, {
    forced: auth.method,
    have: { password: auth.pass !== undefined, token: auth.token !== undefined },
  });
  if (order.length === 0) {
    if (auth.method) {
      throw new AuthError(`Server does not offer AUTH ${auth.method.toUpperCase()} (offered: ${offered.join(" ") || "none"})`, {
        phase: "auth",
        hint: "auth-method-not-offered",
        remedy: 'set "auth.method" to one it offers, or leave it out to choose automatically',
      });
    }
    throw new AuthError(
      `No usable AUTH mechanism: server offers ${offered.join(" ") || "none"}, credentials are a ${auth.token ? "token" : "password"}`,
      { phase: "auth" },
    );
  }
  const random = ctx.random ?? defaultRandom;
  let lastError: unknown;
  const remaining = [...order];
  while (remaining.length > 0) {
    const name = remaining.shift()!;
    const mech = createMechanism(name, {
      user: auth.user,
      password: auth.pass,
      token: auth.token,
      authzid: auth.authzid,
      host: ctx.host,
      port: ctx.port,
    }, {
      nonce: () => base64Encode(random(new Uint8Array(18))),
      clientChallenge: () => random(new Uint8Array(8)),
      now: () => Date.now(),
    }, auth.ntlmVersion !== undefined ? { ntlmVersion: auth.ntlmVersion } : {});
    try {
      await exchange(io, mech);
      return mech.name;
    } catch (err) {
      lastError = err;
      if (auth.method || !(err instanceof ReplyError) || err.code === undefined) throw err;
      nextAfterFailure(name, err.code, remaining);
    }
  }
  throw lastError;
}

/** Mechanisms that send the password itself: a 535 to them means the password is wrong. */
const VERIFIES_PASSWORD = new Set(["PLAIN", "LOGIN"]);
/** Challenge-response mechanisms: the server needs a password equivalent it may not store. */
const CHALLENGE_RESPONSE = new Set(["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "NTLM"]);

/**
 * Decides what to try after a permanent failure, editing `remaining` in place.
 *
 * Emacs smtpmail tries each mechanism in order until one succeeds. Taken
 * literally, a wrong password then costs one failed login per mechanism —
 * five on a typical server, enough for fail2ban to lock the account out. So:
 * - temporary failures (4xx) stop at once;
 * - 535 to PLAIN or LOGIN stops: the server checked the password itself;
 * - 535 to a challenge-response mechanism (SCRAM, CRAM-MD5, NTLM) goes
 *   straight to PLAIN (else LOGIN), which any password storage can verify:
 *   such a failure usually means the server keeps only hashes for the account;
 * - any other permanent refusal of the mechanism (504, 534, 538, …) moves to
 *   the next one in order.
 */
function nextAfterFailure(name: string, code: number, remaining: string[]): void {
  if (code < 500 || code >= 600) {
    remaining.length = 0;
    return;
  }
  if (code !== 535) return;
  if (VERIFIES_PASSWORD.has(name) || !CHALLENGE_RESPONSE.has(name)) {
    remaining.length = 0;
    return;
  }
  const plain = remaining.find((m) => m === "PLAIN") ?? remaining.find((m) => m === "LOGIN");
  remaining.length = 0;
  if (plain) remaining.push(plain);
}

async function exchange(io: SaslIo, mech: SaslMechanism): Promise<void> {
  const initial = mech.start();
  // A long initial response (RFC 4954 §4: the line is limited to 512 octets) is the session core's to hold.
  await io.send(initial === null ? `AUTH ${mech.name}` : `AUTH ${mech.name} ${initial.length === 0 ? "=" : base64Encode(initial)}`);
  for (let steps = 0;; steps++) {
    const reply = await io.read();
    if (reply.code === 235) {
      mech.finish(null);
      return;
    }
    if (reply.code !== 334) {
      const detail = mech.failure?.message;
      const err = io.replyError(reply, `Authentication with ${mech.name} failed${detail ? ` (${detail})` : ""}`);
      if (mech.failure) Object.defineProperty(err, "cause", { value: mech.failure, configurable: true });
      throw err;
    }
    if (steps >= MAX_STEPS) {
      await cancel(io);
      throw new AuthError(`Server sent more than ${MAX_STEPS} AUTH challenges; cancelled ${mech.name}`, { phase: "auth" });
    }
    const text = (reply.lines[0] ?? "").trim();
    let challenge: Uint8Array;
    try {
      challenge = base64Decode(text);
    } catch {
      await cancel(io);
      throw new AuthError(`Server sent an AUTH ${mech.name} challenge that is not base64; cancelled`, { phase: "auth" });
    }
    let response: Uint8Array;
    try {
      response = mech.step(challenge);
    } catch (err) {
      await cancel(io);
      throw err;
    }
    await io.send(base64Encode(response));
  }
}

/** Sends `*` and reads the server's answer (RFC 4954: 501). */
async function cancel(io: SaslIo): Promise<void> {
  await io.send("*");
  try {
    await io.read();
  } catch {
    // The connection may already be gone.
  }
}
