/**
 * HMAC (RFC 2104) over any {@link HashAlgorithm}, and PBKDF2 (RFC 8018 §5.2,
 * SCRAM's `Hi()`). Synchronous and pure.
 *
 * @module
 */

import { type HashAlgorithm, type HashState, singleBlockMac } from "./hash.ts";

/**
 * A key prepared for repeated HMAC computations: the inner and outer hash
 * states after absorbing the padded key, so each MAC costs only the message
 * (PBKDF2 relies on this).
 */
export interface HmacKey {
  /** The hash the MAC is built on. */
  readonly algorithm: HashAlgorithm;
  /**
   * Computes the MAC of a message under this key.
   *
   * @param data The message.
   * @returns The MAC (`algorithm.digestSize` bytes).
   */
  mac(data: Uint8Array): Uint8Array;
}

/**
 * Prepares a key for {@link HmacKey.mac}. Keys longer than the block size are
 * hashed first, as RFC 2104 says.
 *
 * @param algorithm The hash.
 * @param key The secret key.
 * @returns The prepared key.
 * @example
 * ```ts
 * const k = hmacKey(SHA256, utf8("key"));
 * k.mac(utf8("message one"));
 * k.mac(utf8("message two"));
 * ```
 */
export function hmacKey(algorithm: HashAlgorithm, key: Uint8Array): HmacKey {
  const { inner, outer } = prepare(algorithm, key);
  return {
    algorithm,
    mac(data: Uint8Array): Uint8Array {
      const ih = inner.clone().update(data).digest();
      return outer.clone().update(ih).digest();
    },
  };
}

/** The HMAC inner and outer states after absorbing the padded key. */
function prepare(algorithm: HashAlgorithm, key: Uint8Array): { inner: HashState; outer: HashState } {
  const bs = algorithm.blockSize;
  const k = key.length > bs ? algorithm.create().update(key).digest() : key;
  const pad = new Uint8Array(bs);
  pad.set(k);
  for (let i = 0; i < bs; i++) pad[i]! ^= 0x36;
  const inner: HashState = algorithm.create().update(pad);
  for (let i = 0; i < bs; i++) pad[i]! ^= 0x36 ^ 0x5c;
  const outer: HashState = algorithm.create().update(pad);
  pad.fill(0);
  return { inner, outer };
}

/**
 * HMAC in one call (RFC 2104).
 *
 * @param algorithm The hash (e.g. `MD5`, `SHA1`, `SHA256`).
 * @param key The secret key.
 * @param data The message.
 * @returns The MAC.
 * @example
 * ```ts
 * toHex(hmac(MD5, utf8("tanstaaftanstaaf"), utf8("<1896.697170952@postoffice.reston.mci.net>")));
 * // "b913a602c7eda7a495b4e6e7334d3890"
 * ```
 */
export function hmac(algorithm: HashAlgorithm, key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmacKey(algorithm, key).mac(data);
}

/**
 * PBKDF2 with HMAC (RFC 8018 §5.2). With `keyLength` equal to the digest size
 * this is SCRAM's `Hi(password, salt, iterations)` (RFC 5802 §2.2).
 *
 * @param algorithm The hash for the HMAC PRF.
 * @param password The password bytes (already SASLprep'ed and UTF-8 encoded for SCRAM).
 * @param salt The salt.
 * @param iterations Iteration count, at least 1.
 * @param keyLength Output length in bytes; defaults to the digest size.
 * @returns The derived key.
 * @throws {RangeError} When `iterations` or `keyLength` is not a positive integer.
 * @example
 * ```ts
 * toHex(pbkdf2(SHA1, utf8("password"), utf8("salt"), 2, 20));
 * // "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"
 * ```
 */
export function pbkdf2(
  algorithm: HashAlgorithm,
  password: Uint8Array,
  salt: Uint8Array,
  iterations: number,
  keyLength: number = algorithm.digestSize,
): Uint8Array {
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new RangeError(`PBKDF2 iteration count must be a positive integer, got ${iterations}`);
  }
  if (!Number.isSafeInteger(keyLength) || keyLength < 1) {
    throw new RangeError(`PBKDF2 key length must be a positive integer, got ${keyLength}`);
  }
  const prf = hmacKey(algorithm, password);
  const { inner, outer } = prepare(algorithm, password);
  // U_2 … U_c are digest-sized: two compressions each, no allocation.
  const fast = singleBlockMac(inner, outer);
  const hLen = algorithm.digestSize;
  const out = new Uint8Array(keyLength);
  const block = new Uint8Array(salt.length + 4);
  block.set(salt);
  for (let i = 1, o = 0; o < keyLength; i++, o += hLen) {
    block[salt.length] = i >>> 24;
    block[salt.length + 1] = (i >>> 16) & 0xff;
    block[salt.length + 2] = (i >>> 8) & 0xff;
    block[salt.length + 3] = i & 0xff;
    let u = prf.mac(block);
    const t = u.slice();
    for (let j = 1; j < iterations; j++) {
      if (fast) fast(u, u);
      else u = prf.mac(u);
      for (let x = 0; x < hLen; x++) t[x]! ^= u[x]!;
    }
    out.set(t.subarray(0, Math.min(hLen, keyLength - o)), o);
  }
  return out;
}
