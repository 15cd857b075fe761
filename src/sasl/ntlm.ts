/**
 * NTLM over SASL (as Exchange and esmtp/libesmtp use it): the client sends a
 * NEGOTIATE message as the initial response, the server answers with a
 * CHALLENGE, the client sends an AUTHENTICATE message (MS-NLMP §2.2.1).
 *
 * By default only NTLMv2 responses are computed (MS-NLMP §3.3.2: NTOWFv2 =
 * HMAC-MD5 keyed with MD4 of the password). NTLMv1 (§3.3.1: DES of the server
 * challenge keyed by MD4 of the password) is computed only when the caller
 * asks for it explicitly (`version: 1`): some servers verify nothing else
 * (Exim's `spa` authenticator, libesmtp/esmtp and libntlm clients speak only
 * it), but anyone who sees the exchange can recover the password's MD4 hash
 * (a password equivalent) by brute-forcing 56-bit DES keys, and guess weak
 * passwords offline. The LM response (LMOWFv1, weaker still) is never
 * computed: the LM field carries a copy of the NT response
 * (NoLMResponseNTLMv1, §3.3.1). No signing, sealing, key exchange or MIC is
 * negotiated: SMTP uses NTLM for authentication only. The client challenge
 * and the time are inputs, so the functions here are pure.
 *
 * @module
 */

import { concat, utf16le } from "./bytes.ts";
import { desl } from "./des.ts";
import { MD4, MD5, hash } from "./hash.ts";
import { hmac } from "./hmac.ts";
import { BaseMechanism, requireString } from "./mechanism.ts";

/** NEGOTIATE flag bits used here (MS-NLMP §2.2.2.5). */
export const NtlmFlag: {
  readonly UNICODE: 0x00000001;
  readonly OEM: 0x00000002;
  readonly REQUEST_TARGET: 0x00000004;
  readonly NTLM: 0x00000200;
  readonly ALWAYS_SIGN: 0x00008000;
  readonly EXTENDED_SESSIONSECURITY: 0x00080000;
  readonly TARGET_INFO: 0x00800000;
  readonly VERSION: 0x02000000;
  readonly KEY_EXCH: 0x40000000;
} = Object.freeze({
  UNICODE: 0x00000001,
  OEM: 0x00000002,
  REQUEST_TARGET: 0x00000004,
  NTLM: 0x00000200,
  ALWAYS_SIGN: 0x00008000,
  EXTENDED_SESSIONSECURITY: 0x00080000,
  TARGET_INFO: 0x00800000,
  VERSION: 0x02000000,
  KEY_EXCH: 0x40000000,
});

/** The flags this client sends in its NEGOTIATE message (as Chromium does): 0x00088207. */
export const NTLM_NEGOTIATE_FLAGS: number = NtlmFlag.UNICODE | NtlmFlag.OEM | NtlmFlag.REQUEST_TARGET |
  NtlmFlag.NTLM | NtlmFlag.ALWAYS_SIGN | NtlmFlag.EXTENDED_SESSIONSECURITY;

/**
 * The flags of the NEGOTIATE message when NTLMv1 is asked for: as
 * {@link NTLM_NEGOTIATE_FLAGS} without `EXTENDED_SESSIONSECURITY` (0x00008207),
 * so that the server expects the plain NTLMv1 response, as libesmtp sends.
 */
export const NTLMV1_NEGOTIATE_FLAGS: number = NTLM_NEGOTIATE_FLAGS & ~NtlmFlag.EXTENDED_SESSIONSECURITY;

const SIGNATURE = [0x4e, 0x54, 0x4c, 0x4d, 0x53, 0x53, 0x50, 0x00]; // "NTLMSSP\0"

/** A parsed CHALLENGE message (MS-NLMP §2.2.1.2). */
export interface NtlmChallenge {
  /** The server's NEGOTIATE flags. */
  readonly flags: number;
  /** The 8-byte server challenge. */
  readonly serverChallenge: Uint8Array;
  /** The target (domain or server) name. */
  readonly targetName: string;
  /** The raw AV_PAIR list (TargetInfo), empty when the server sent none. */
  readonly targetInfo: Uint8Array;
  /** The server's MsvAvTimestamp (8 bytes FILETIME), or `null`. */
  readonly timestamp: Uint8Array | null;
}

/** Why a CHALLENGE message was refused (the caller wraps it in a `SaslError`). */
export class NtlmFormatError extends SyntaxError {
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "NtlmFormatError";
  }
}

/**
 * Builds the NEGOTIATE message: signature, type 1, flags, and empty domain
 * and workstation fields (32 bytes).
 *
 * @param flags NEGOTIATE flags; default {@link NTLM_NEGOTIATE_FLAGS}.
 * @returns The message.
 * @example
 * ```ts
 * base64Encode(ntlmNegotiateMessage()); // "TlRMTVNTUAABAAAAB4IIAAAAAAAgAAAAAAAAACAAAAA="
 * ```
 */
export function ntlmNegotiateMessage(flags: number = NTLM_NEGOTIATE_FLAGS): Uint8Array {
  const m = new Uint8Array(32);
  const v = new DataView(m.buffer);
  m.set(SIGNATURE);
  v.setUint32(8, 1, true);
  v.setUint32(12, flags >>> 0, true);
  v.setUint32(20, 32, true); // domain: empty, offset 32
  v.setUint32(28, 32, true); // workstation: empty, offset 32
  return m;
}

/**
 * Reads a security buffer (length, max length, offset). The offset of an
 * empty field points at no bytes, so it is not checked (MS-NLMP §2.2.1.2
 * only says where it SHOULD point; Exim's `spa` sends an empty target name
 * at offset 0x2800 in a 48-byte CHALLENGE): only a field that holds bytes
 * must lie inside the message.
 */
function field(v: DataView, at: number, total: number, what: string): [offset: number, length: number] {
  const len = v.getUint16(at, true);
  if (len === 0) return [0, 0];
  const off = v.getUint32(at + 4, true);
  if (off > total || len > total - off) throw new NtlmFormatError(`The ${what} field lies outside the message`);
  return [off, len];
}

/**
 * Parses and validates a CHALLENGE message.
 *
 * @param message The decoded challenge bytes.
 * @returns Its fields.
 * @throws {NtlmFormatError} When the message is truncated, of another type,
 *   or its fields point outside it, or its AV pairs are malformed.
 * @example
 * ```ts
 * parseNtlmChallenge(bytes).serverChallenge;
 * ```
 */
export function parseNtlmChallenge(message: Uint8Array): NtlmChallenge {
  const n = message.length;
  if (n < 32) throw new NtlmFormatError(`The CHALLENGE message is too short (${n} bytes)`);
  for (let i = 0; i < 8; i++) {
    if (message[i] !== SIGNATURE[i]) throw new NtlmFormatError("The message does not start with NTLMSSP");
  }
  const v = new DataView(message.buffer, message.byteOffset, n);
  const type = v.getUint32(8, true);
  if (type !== 2) throw new NtlmFormatError(`Expected a CHALLENGE message (type 2), got type ${type}`);
  const flags = v.getUint32(20, true);
  const unicode = (flags & NtlmFlag.UNICODE) !== 0;
  const [nameOff, nameLen] = field(v, 12, n, "target name");
  const nameBytes = message.subarray(nameOff, nameOff + nameLen);
  let targetName = "";
  if (unicode) {
    for (let i = 0; i + 1 < nameBytes.length; i += 2) targetName += String.fromCharCode(nameBytes[i]! | (nameBytes[i + 1]! << 8));
  } else {
    for (const b of nameBytes) targetName += String.fromCharCode(b);
  }
  let targetInfo = new Uint8Array(0);
  let timestamp: Uint8Array | null = null;
  if ((flags & NtlmFlag.TARGET_INFO) !== 0 && n >= 48) {
    const [infoOff, infoLen] = field(v, 40, n, "target info");
    targetInfo = message.slice(infoOff, infoOff + infoLen);
    timestamp = scanAvPairs(targetInfo);
  }
  return { flags, serverChallenge: message.slice(24, 32), targetName, targetInfo, timestamp };
}

/** Validates an AV_PAIR list and returns its MsvAvTimestamp, if any. */
function scanAvPairs(info: Uint8Array): Uint8Array | null {
  if (info.length === 0) return null;
  const v = new DataView(info.buffer, info.byteOffset, info.length);
  let timestamp: Uint8Array | null = null;
  for (let at = 0; ; ) {
    if (at + 4 > info.length) throw new NtlmFormatError("The target info is not terminated by MsvAvEOL");
    const id = v.getUint16(at, true);
    const len = v.getUint16(at + 2, true);
    if (at + 4 + len > info.length) throw new NtlmFormatError("An AV pair in the target info is truncated");
    if (id === 0) return timestamp;
    if (id === 7 && len === 8) timestamp = info.slice(at + 4, at + 12);
    at += 4 + len;
  }
}

/**
 * NTOWFv2 (MS-NLMP §3.3.2): `HMAC-MD5(MD4(UTF-16LE(password)), UTF-16LE(upper(user) + domain))`.
 * It is also ResponseKeyNT and ResponseKeyLM.
 *
 * @param password The password.
 * @param user The user name (upper-cased here).
 * @param domain The user's domain (as given).
 * @returns The 16-byte key.
 * @example
 * ```ts
 * toHex(ntowfv2("Password", "User", "Domain")); // "0c868a403bfd7a93a3001ef22ef02e3f"
 * ```
 */
export function ntowfv2(password: string, user: string, domain: string): Uint8Array {
  const ntHash = hash(MD4, utf16le(password));
  return hmac(MD5, ntHash, utf16le(user.toUpperCase() + domain));
}

/**
 * NTOWFv1 (MS-NLMP §3.3.1): `MD4(UTF-16LE(password))`, the "NT hash". It is
 * ResponseKeyNT for NTLMv1, and a password equivalent: keep it secret.
 *
 * @param password The password.
 * @returns The 16-byte key.
 * @example
 * ```ts
 * toHex(ntowfv1("Password")); // "a4f49c406510bdcab6824ee7c30fd852"
 * ```
 */
export function ntowfv1(password: string): Uint8Array {
  return hash(MD4, utf16le(password));
}

/** Inputs of {@link ntlmv1Responses}. */
export interface NtlmV1Input {
  /** ResponseKeyNT, from {@link ntowfv1}. */
  readonly responseKey: Uint8Array;
  /** The server's 8-byte challenge. */
  readonly serverChallenge: Uint8Array;
  /**
   * The client's 8 random bytes: used (and required) only with extended
   * session security, the "NTLM2 session response" (MS-NLMP §3.3.1).
   */
  readonly clientChallenge?: Uint8Array;
  /** Whether the server's CHALLENGE set `EXTENDED_SESSIONSECURITY`. */
  readonly extendedSessionSecurity: boolean;
}

/** Outputs of {@link ntlmv1Responses}. */
export interface NtlmV1Responses {
  /** NtChallengeResponse (24 bytes). */
  readonly ntChallengeResponse: Uint8Array;
  /**
   * LmChallengeResponse (24 bytes): the client challenge and zeros with
   * extended session security, otherwise a copy of the NT response
   * (NoLMResponseNTLMv1: the LM hash is never used).
   */
  readonly lmChallengeResponse: Uint8Array;
  /** SessionBaseKey: `MD4(ResponseKeyNT)`. */
  readonly sessionBaseKey: Uint8Array;
}

/**
 * Computes the NTLMv1 responses (MS-NLMP §3.3.1). Weak: see the module
 * documentation; use only when the user asked for NTLMv1.
 *
 * @param input Key, challenges and whether extended session security is on.
 * @returns The responses and the session base key.
 * @throws {RangeError} When a challenge is not 8 bytes (the client challenge
 *   is checked only with extended session security).
 * @example
 * ```ts
 * const r = ntlmv1Responses({ responseKey: ntowfv1("Password"), serverChallenge, extendedSessionSecurity: false });
 * toHex(r.ntChallengeResponse); // MS-NLMP §4.2.2.2.1
 * ```
 */
export function ntlmv1Responses(input: NtlmV1Input): NtlmV1Responses {
  const { responseKey, serverChallenge, clientChallenge, extendedSessionSecurity } = input;
  if (serverChallenge.length !== 8) throw new RangeError(`NTLM server challenge must be 8 bytes, got ${serverChallenge.length}`);
  const sessionBaseKey = hash(MD4, responseKey);
  if (!extendedSessionSecurity) {
    const nt = desl(responseKey, serverChallenge);
    return { ntChallengeResponse: nt, lmChallengeResponse: nt.slice(), sessionBaseKey };
  }
  if (clientChallenge?.length !== 8) {
    throw new RangeError(`NTLM client challenge must be 8 bytes, got ${clientChallenge?.length ?? "none"}`);
  }
  const digest = hash(MD5, concat(serverChallenge, clientChallenge)).subarray(0, 8);
  return {
    ntChallengeResponse: desl(responseKey, digest),
    lmChallengeResponse: concat(clientChallenge, new Uint8Array(16)),
    sessionBaseKey,
  };
}

/** Inputs of {@link ntlmv2Responses}. */
export interface NtlmV2Input {
  /** ResponseKeyNT, from {@link ntowfv2}. */
  readonly responseKey: Uint8Array;
  /** The server's 8-byte challenge. */
  readonly serverChallenge: Uint8Array;
  /** The client's 8 random bytes. */
  readonly clientChallenge: Uint8Array;
  /** The 8-byte FILETIME for the response (the server's MsvAvTimestamp when it sent one). */
  readonly timestamp: Uint8Array;
  /** The server's AV pairs, copied into the response. */
  readonly targetInfo: Uint8Array;
}

/** Outputs of {@link ntlmv2Responses}. */
export interface NtlmV2Responses {
  /** NTProofStr: the first 16 bytes of the NT response. */
  readonly ntProofStr: Uint8Array;
  /** NtChallengeResponse: NTProofStr followed by the client blob ("temp"). */
  readonly ntChallengeResponse: Uint8Array;
  /** LmChallengeResponse: the LMv2 response (HMAC + client challenge, 24 bytes). */
  readonly lmChallengeResponse: Uint8Array;
  /** SessionBaseKey: `HMAC-MD5(ResponseKeyNT, NTProofStr)`. */
  readonly sessionBaseKey: Uint8Array;
}

/**
 * Computes the NTLMv2 and LMv2 responses (MS-NLMP §3.3.2).
 *
 * @param input Key, challenges, timestamp and target info.
 * @returns The responses and the session base key.
 * @throws {RangeError} When a challenge or the timestamp is not 8 bytes.
 * @example
 * ```ts
 * const r = ntlmv2Responses({ responseKey, serverChallenge, clientChallenge, timestamp, targetInfo });
 * toHex(r.ntProofStr);
 * ```
 */
export function ntlmv2Responses(input: NtlmV2Input): NtlmV2Responses {
  const { responseKey, serverChallenge, clientChallenge, timestamp, targetInfo } = input;
  for (const [name, b] of [["server challenge", serverChallenge], ["client challenge", clientChallenge], ["timestamp", timestamp]] as const) {
    if (b.length !== 8) throw new RangeError(`NTLM ${name} must be 8 bytes, got ${b.length}`);
  }
  const temp = concat(
    new Uint8Array([1, 1, 0, 0, 0, 0, 0, 0]),
    timestamp,
    clientChallenge,
    new Uint8Array(4),
    targetInfo,
    new Uint8Array(4),
  );
  const ntProofStr = hmac(MD5, responseKey, concat(serverChallenge, temp));
  return {
    ntProofStr,
    ntChallengeResponse: concat(ntProofStr, temp),
    lmChallengeResponse: concat(hmac(MD5, responseKey, concat(serverChallenge, clientChallenge)), clientChallenge),
    sessionBaseKey: hmac(MD5, responseKey, ntProofStr),
  };
}

/**
 * Converts milliseconds since the Unix epoch to a Windows FILETIME (100 ns
 * ticks since 1601-01-01), 8 bytes little-endian.
 *
 * @param ms Milliseconds since 1970-01-01T00:00:00Z.
 * @returns The FILETIME bytes.
 * @throws {RangeError} For a time before 1601 or not finite.
 * @example
 * ```ts
 * toHex(fileTime(0)); // "00803ed5deb19d01"
 * ```
 */
export function fileTime(ms: number): Uint8Array {
  if (!Number.isFinite(ms)) throw new RangeError(`Invalid time ${ms}`);
  const ticks = (BigInt(Math.floor(ms)) + 11644473600000n) * 10000n;
  if (ticks < 0n) throw new RangeError(`Time ${ms} is before 1601`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, ticks, true);
  return out;
}

/** Fields of {@link ntlmAuthenticateMessage}. */
export interface NtlmAuthenticateFields {
  /** NEGOTIATE flags; `UNICODE` selects UTF-16LE strings, otherwise OEM (Latin-1). */
  readonly flags: number;
  /** LmChallengeResponse (24 bytes of zeros when it must be omitted). */
  readonly lmChallengeResponse: Uint8Array;
  /** NtChallengeResponse. */
  readonly ntChallengeResponse: Uint8Array;
  /** The user's domain. */
  readonly domain: string;
  /** The user name. */
  readonly user: string;
  /** The client's workstation name. */
  readonly workstation: string;
  /** EncryptedRandomSessionKey, only with `KEY_EXCH` (not used by the SASL mechanism). */
  readonly encryptedRandomSessionKey?: Uint8Array;
  /** The 8-byte VERSION field, only with the `VERSION` flag (not used by the SASL mechanism). */
  readonly version?: Uint8Array;
}

function oem(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) throw new RangeError("The server does not accept Unicode and a name is not Latin-1");
    out[i] = c;
  }
  return out;
}

/**
 * Builds an AUTHENTICATE message (MS-NLMP §2.2.1.3): a 64-byte header (plus
 * the VERSION field when given), then the payloads in the order domain, user,
 * workstation, LM response, NT response, session key — the layout of the
 * MS-NLMP §4.2.4.3 example. No MIC.
 *
 * @param fields The responses, names, flags and optional fields.
 * @returns The message.
 * @throws {RangeError} When the message would exceed 64 KiB, or a name is not
 *   Latin-1 without the `UNICODE` flag.
 * @example
 * ```ts
 * ntlmAuthenticateMessage({ flags, lmChallengeResponse, ntChallengeResponse, domain: "", user: "tim", workstation: "" });
 * ```
 */
export function ntlmAuthenticateMessage(fields: NtlmAuthenticateFields): Uint8Array {
  const enc = (fields.flags & NtlmFlag.UNICODE) !== 0 ? utf16le : oem;
  const payloads = [
    enc(fields.domain),
    enc(fields.user),
    enc(fields.workstation),
    fields.lmChallengeResponse,
    fields.ntChallengeResponse,
    fields.encryptedRandomSessionKey ?? new Uint8Array(0),
  ];
  const version = fields.version;
  if (version !== undefined && version.length !== 8) throw new RangeError("The NTLM VERSION field must be 8 bytes");
  const header = 64 + (version ? 8 : 0);
  let total = header;
  for (const p of payloads) total += p.length;
  if (total > 0xffff) throw new RangeError("The NTLM AUTHENTICATE message would be too large");
  const m = new Uint8Array(total);
  const v = new DataView(m.buffer);
  m.set(SIGNATURE);
  v.setUint32(8, 3, true);
  // Security buffers, in header order: LM, NT, domain, user, workstation, session key.
  const slots = [3, 4, 0, 1, 2, 5];
  const offsets: number[] = [];
  let at = header;
  for (const p of payloads) {
    offsets.push(at);
    m.set(p, at);
    at += p.length;
  }
  slots.forEach((payload, i) => {
    const base = 12 + 8 * i;
    const len = payloads[payload]!.length;
    v.setUint16(base, len, true);
    v.setUint16(base + 2, len, true);
    v.setUint32(base + 4, offsets[payload]!, true);
  });
  v.setUint32(60, fields.flags >>> 0, true);
  if (version) m.set(version, 64);
  return m;
}

/** Options for {@link NtlmMechanism}. */
export interface NtlmOptions {
  /** 8 random bytes per call: the client challenge. */
  readonly clientChallenge: () => Uint8Array;
  /** Milliseconds since the Unix epoch, used when the server sends no timestamp. */
  readonly now: () => number;
  /** Workstation name to send; default empty. */
  readonly workstation?: string;
  /**
   * `2` (default): NTLMv2 responses. `1`: NTLMv1 responses, for servers that
   * verify nothing else (Exim's `spa`). NTLMv1 is weak: an eavesdropper (or
   * the server) can recover the password's MD4 hash, which logs in as the
   * user; use it only over TLS to a server you trust, and only when asked.
   */
  readonly version?: 1 | 2;
}

/**
 * The NTLM mechanism: NTLMv2 responses, or NTLMv1 ones when
 * `options.version` is `1`. `user` may be `DOMAIN\name`.
 *
 * @example
 * ```ts
 * const m = new NtlmMechanism("DOMAIN\\tim", "secret", { clientChallenge, now: clock });
 * const negotiate = m.start();
 * const authenticate = m.step(challengeBytes);
 * ```
 */
export class NtlmMechanism extends BaseMechanism {
  /** `"NTLM"`. */
  readonly name: string = "NTLM";
  /** `true`: the NEGOTIATE message is the initial response (always send it inline). */
  readonly clientFirst: boolean = true;
  readonly #user: string;
  readonly #domain: string;
  readonly #password: string;
  readonly #options: NtlmOptions;

  /**
   * Creates an NTLM exchange.
   *
   * @param user `name` or `DOMAIN\name`.
   * @param password The password.
   * @param options Client challenge and clock sources, workstation name.
   * @throws {TypeError} On an empty user or password.
   */
  constructor(user: string, password: string, options: NtlmOptions) {
    super();
    requireString("NTLM", "user name", user);
    this.#password = requireString("NTLM", "password", password);
    const slash = user.indexOf("\\");
    this.#domain = slash >= 0 ? user.slice(0, slash) : "";
    this.#user = slash >= 0 ? user.slice(slash + 1) : user;
    requireString("NTLM", "user name", this.#user);
    this.#options = options;
  }

  /**
   * Produces the initial response (called once by `start()` or the first `step()`).
   *
   * @returns The initial response, or `null` for a server-first mechanism.
   */
  protected initial(): Uint8Array {
    return ntlmNegotiateMessage(this.#options.version === 1 ? NTLMV1_NEGOTIATE_FLAGS : NTLM_NEGOTIATE_FLAGS);
  }

  /**
   * Answers a challenge once started.
   *
   * @param challenge The decoded challenge.
   * @returns The response bytes.
   */
  protected next(challenge: Uint8Array): Uint8Array {
    let parsed: NtlmChallenge;
    try {
      parsed = parseNtlmChallenge(challenge);
    } catch (e) {
      throw this.error(`The server's NTLM challenge is invalid: ${(e as Error).message}`, "bad-challenge", e);
    }
    if (this.#options.version === 1) return this.#answerV1(parsed);
    const clientChallenge = this.#options.clientChallenge();
    const timestamp = parsed.timestamp ?? fileTime(this.#options.now());
    const r = ntlmv2Responses({
      responseKey: ntowfv2(this.#password, this.#user, this.#domain),
      serverChallenge: parsed.serverChallenge,
      clientChallenge,
      timestamp,
      targetInfo: parsed.targetInfo,
    });
    const unicode = (parsed.flags & NtlmFlag.UNICODE) !== 0;
    const flags = (unicode ? NtlmFlag.UNICODE : NtlmFlag.OEM) | NtlmFlag.NTLM | NtlmFlag.ALWAYS_SIGN |
      NtlmFlag.EXTENDED_SESSIONSECURITY | (parsed.flags & NtlmFlag.TARGET_INFO);
    this.finished = true;
    try {
      return ntlmAuthenticateMessage({
        flags,
        // With a server timestamp the LM response must be zeros (MS-NLMP §3.1.5.1.2).
        lmChallengeResponse: parsed.timestamp ? new Uint8Array(24) : r.lmChallengeResponse,
        ntChallengeResponse: r.ntChallengeResponse,
        domain: this.#domain,
        user: this.#user,
        workstation: this.#options.workstation ?? "",
      });
    } catch (e) {
      throw this.error((e as Error).message, "credentials", e);
    }
  }

  /** The NTLMv1 AUTHENTICATE message (only when `version: 1` was asked for). */
  #answerV1(parsed: NtlmChallenge): Uint8Array {
    const ess = (parsed.flags & NtlmFlag.EXTENDED_SESSIONSECURITY) !== 0;
    const r = ntlmv1Responses({
      responseKey: ntowfv1(this.#password),
      serverChallenge: parsed.serverChallenge,
      extendedSessionSecurity: ess,
      ...(ess ? { clientChallenge: this.#options.clientChallenge() } : {}),
    });
    const unicode = (parsed.flags & NtlmFlag.UNICODE) !== 0;
    const flags = (unicode ? NtlmFlag.UNICODE : NtlmFlag.OEM) | NtlmFlag.NTLM | NtlmFlag.ALWAYS_SIGN |
      (ess ? NtlmFlag.EXTENDED_SESSIONSECURITY : 0);
    this.finished = true;
    try {
      return ntlmAuthenticateMessage({
        flags,
        lmChallengeResponse: r.lmChallengeResponse,
        ntChallengeResponse: r.ntChallengeResponse,
        domain: this.#domain,
        user: this.#user,
        workstation: this.#options.workstation ?? "",
      });
    } catch (e) {
      throw this.error((e as Error).message, "credentials", e);
    }
  }
}
