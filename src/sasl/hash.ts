/**
 * The message digests SASL needs and WebCrypto lacks (or offers only
 * asynchronously): MD4 (RFC 1320), MD5 (RFC 1321), SHA-1 and SHA-256
 * (FIPS 180-4). Synchronous, incremental, on `Uint8Array`, no dependencies.
 *
 * MD4 and MD5 are broken as collision-resistant hashes; they are here only
 * because NTLM and CRAM-MD5 are defined on them.
 *
 * @module
 */

/** An incremental hash computation. */
export interface HashState {
  /**
   * Feeds more bytes.
   *
   * @param data The bytes.
   * @returns This state, for chaining.
   */
  update(data: Uint8Array): HashState;
  /**
   * Finishes and returns the digest. The state must not be used afterwards.
   *
   * @returns The digest bytes.
   */
  digest(): Uint8Array;
  /**
   * Copies the state (to reuse a keyed prefix, as HMAC and PBKDF2 do).
   *
   * @returns An independent copy.
   */
  clone(): HashState;
}

/** A hash function usable by {@link hmac} and {@link pbkdf2}. */
export interface HashAlgorithm {
  /** Conventional name, e.g. `"SHA-256"`. */
  readonly name: string;
  /** Input block size in bytes (64 for every algorithm here). */
  readonly blockSize: number;
  /** Digest size in bytes. */
  readonly digestSize: number;
  /**
   * Starts a computation.
   *
   * @returns A fresh state.
   */
  create(): HashState;
}

/** Shared Merkle–Damgård framing: 64-byte blocks, 0x80 padding, 64-bit bit length. */
abstract class BlockHash implements HashState {
  protected readonly block: Uint8Array = new Uint8Array(64);
  blockLength = 0;
  byteLength = 0;
  abstract readonly bigEndian: boolean;
  /** The chaining value, as 32-bit words. */
  abstract readonly state: Int32Array;

  abstract compress(data: Uint8Array, offset: number): void;

  /** The chaining value as the digest, in the algorithm's byte order. */
  protected output(): Uint8Array {
    return wordsOut(this.state, this.bigEndian);
  }

  /** An independent copy of this state (a fresh instance of the same algorithm). */
  clone(): HashState {
    const other = new (this.constructor as new () => BlockHash)();
    other.block.set(this.block);
    other.blockLength = this.blockLength;
    other.byteLength = this.byteLength;
    other.state.set(this.state);
    return other;
  }

  update(data: Uint8Array): HashState {
    let i = 0;
    const n = data.length;
    this.byteLength += n;
    if (this.blockLength > 0) {
      const take = Math.min(64 - this.blockLength, n);
      this.block.set(data.subarray(0, take), this.blockLength);
      this.blockLength += take;
      i = take;
      if (this.blockLength < 64) return this;
      this.compress(this.block, 0);
      this.blockLength = 0;
    }
    for (; i + 64 <= n; i += 64) this.compress(data, i);
    if (i < n) {
      this.block.set(data.subarray(i), 0);
      this.blockLength = n - i;
    }
    return this;
  }

  digest(): Uint8Array {
    const bits = this.byteLength * 8;
    const b = this.block;
    b[this.blockLength++] = 0x80;
    if (this.blockLength > 56) {
      b.fill(0, this.blockLength);
      this.compress(b, 0);
      this.blockLength = 0;
    }
    b.fill(0, this.blockLength);
    const lo = bits >>> 0;
    const hi = Math.floor(bits / 0x100000000) >>> 0;
    const v = new DataView(b.buffer, b.byteOffset, 64);
    if (this.bigEndian) {
      v.setUint32(56, hi);
      v.setUint32(60, lo);
    } else {
      v.setUint32(56, lo, true);
      v.setUint32(60, hi, true);
    }
    this.compress(b, 0);
    return this.output();
  }
}

function wordsOut(words: Int32Array, bigEndian: boolean): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const v = new DataView(out.buffer);
  for (let i = 0; i < words.length; i++) v.setInt32(i * 4, words[i]!, !bigEndian);
  return out;
}

// ---------------------------------------------------------------- MD4 / MD5

const leWords = new Int32Array(16);
function loadLE(data: Uint8Array, o: number): Int32Array {
  const x = leWords;
  for (let i = 0; i < 16; i++, o += 4) {
    x[i] = data[o]! | (data[o + 1]! << 8) | (data[o + 2]! << 16) | (data[o + 3]! << 24);
  }
  return x;
}

const rotl = (x: number, n: number): number => (x << n) | (x >>> (32 - n));

class Md4 extends BlockHash {
  readonly bigEndian = false;
  readonly state: Int32Array = new Int32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]);

  compress(data: Uint8Array, offset: number): void {
    const x = loadLE(data, offset);
    const h = this.state;
    let a = h[0]!, b = h[1]!, c = h[2]!, d = h[3]!;
    const F = (x: number, y: number, z: number) => (x & y) | (~x & z);
    const G = (x: number, y: number, z: number) => (x & y) | (x & z) | (y & z);
    const H = (x: number, y: number, z: number) => x ^ y ^ z;
    // Round 1
    for (let i = 0; i < 16; i += 4) {
      a = rotl((a + F(b, c, d) + x[i]!) | 0, 3);
      d = rotl((d + F(a, b, c) + x[i + 1]!) | 0, 7);
      c = rotl((c + F(d, a, b) + x[i + 2]!) | 0, 11);
      b = rotl((b + F(c, d, a) + x[i + 3]!) | 0, 19);
    }
    // Round 2
    for (let i = 0; i < 4; i++) {
      a = rotl((a + G(b, c, d) + x[i]! + 0x5a827999) | 0, 3);
      d = rotl((d + G(a, b, c) + x[i + 4]! + 0x5a827999) | 0, 5);
      c = rotl((c + G(d, a, b) + x[i + 8]! + 0x5a827999) | 0, 9);
      b = rotl((b + G(c, d, a) + x[i + 12]! + 0x5a827999) | 0, 13);
    }
    // Round 3
    for (const i of [0, 2, 1, 3]) {
      a = rotl((a + H(b, c, d) + x[i]! + 0x6ed9eba1) | 0, 3);
      d = rotl((d + H(a, b, c) + x[i + 8]! + 0x6ed9eba1) | 0, 9);
      c = rotl((c + H(d, a, b) + x[i + 4]! + 0x6ed9eba1) | 0, 11);
      b = rotl((b + H(c, d, a) + x[i + 12]! + 0x6ed9eba1) | 0, 15);
    }
    h[0] = (h[0]! + a) | 0;
    h[1] = (h[1]! + b) | 0;
    h[2] = (h[2]! + c) | 0;
    h[3] = (h[3]! + d) | 0;
  }
}

const MD5_S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const MD5_K: Int32Array = (() => {
  const k = new Int32Array(64);
  for (let i = 0; i < 64; i++) k[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 0x100000000) | 0;
  return k;
})();

class Md5 extends BlockHash {
  readonly bigEndian = false;
  readonly state: Int32Array = new Int32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]);

  compress(data: Uint8Array, offset: number): void {
    const x = loadLE(data, offset);
    const h = this.state;
    let a = h[0]!, b = h[1]!, c = h[2]!, d = h[3]!;
    for (let i = 0; i < 64; i++) {
      let f: number, g: number;
      const r = i >>> 4;
      if (r === 0) {
        f = (b & c) | (~b & d);
        g = i;
      } else if (r === 1) {
        f = (d & b) | (~d & c);
        g = (5 * i + 1) & 15;
      } else if (r === 2) {
        f = b ^ c ^ d;
        g = (3 * i + 5) & 15;
      } else {
        f = c ^ (b | ~d);
        g = (7 * i) & 15;
      }
      const t = d;
      d = c;
      c = b;
      b = (b + rotl((a + f + MD5_K[i]! + x[g]!) | 0, MD5_S[(r << 2) | (i & 3)]!)) | 0;
      a = t;
    }
    h[0] = (h[0]! + a) | 0;
    h[1] = (h[1]! + b) | 0;
    h[2] = (h[2]! + c) | 0;
    h[3] = (h[3]! + d) | 0;
  }
}

// ---------------------------------------------------------------- SHA-1 / SHA-256

class Sha1 extends BlockHash {
  readonly bigEndian = true;
  readonly state: Int32Array = new Int32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0]);
  private static readonly w = new Int32Array(80);

  compress(data: Uint8Array, o: number): void {
    const w = Sha1.w;
    for (let i = 0; i < 16; i++, o += 4) {
      w[i] = (data[o]! << 24) | (data[o + 1]! << 16) | (data[o + 2]! << 8) | data[o + 3]!;
    }
    for (let i = 16; i < 80; i++) w[i] = rotl(w[i - 3]! ^ w[i - 8]! ^ w[i - 14]! ^ w[i - 16]!, 1);
    const h = this.state;
    let a = h[0]!, b = h[1]!, c = h[2]!, d = h[3]!, e = h[4]!;
    for (let i = 0; i < 80; i++) {
      let f: number, k: number;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5a827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ed9eba1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8f1bbcdc;
      } else {
        f = b ^ c ^ d;
        k = 0xca62c1d6;
      }
      const t = (rotl(a, 5) + f + e + k + w[i]!) | 0;
      e = d;
      d = c;
      c = rotl(b, 30);
      b = a;
      a = t;
    }
    h[0] = (h[0]! + a) | 0;
    h[1] = (h[1]! + b) | 0;
    h[2] = (h[2]! + c) | 0;
    h[3] = (h[3]! + d) | 0;
    h[4] = (h[4]! + e) | 0;
  }
}

const SHA256_K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

class Sha256 extends BlockHash {
  readonly bigEndian = true;
  readonly state: Int32Array = new Int32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  private static readonly w = new Int32Array(64);

  compress(data: Uint8Array, o: number): void {
    const w = Sha256.w;
    for (let i = 0; i < 16; i++, o += 4) {
      w[i] = (data[o]! << 24) | (data[o + 1]! << 16) | (data[o + 2]! << 8) | data[o + 3]!;
    }
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15]!, y = w[i - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
    }
    const h = this.state;
    let a = h[0]!, b = h[1]!, c = h[2]!, d = h[3]!, e = h[4]!, f = h[5]!, g = h[6]!, hh = h[7]!;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + SHA256_K[i]! + w[i]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] = (h[0]! + a) | 0;
    h[1] = (h[1]! + b) | 0;
    h[2] = (h[2]! + c) | 0;
    h[3] = (h[3]! + d) | 0;
    h[4] = (h[4]! + e) | 0;
    h[5] = (h[5]! + f) | 0;
    h[6] = (h[6]! + g) | 0;
    h[7] = (h[7]! + hh) | 0;
  }
}

/** MD4 (RFC 1320). Only for NTLM's NT hash. */
export const MD4: HashAlgorithm = Object.freeze({
  name: "MD4",
  blockSize: 64,
  digestSize: 16,
  create: (): HashState => new Md4(),
});

/** MD5 (RFC 1321). Only for CRAM-MD5 and NTLMv2's HMAC-MD5. */
export const MD5: HashAlgorithm = Object.freeze({
  name: "MD5",
  blockSize: 64,
  digestSize: 16,
  create: (): HashState => new Md5(),
});

/** SHA-1 (FIPS 180-4). For SCRAM-SHA-1. */
export const SHA1: HashAlgorithm = Object.freeze({
  name: "SHA-1",
  blockSize: 64,
  digestSize: 20,
  create: (): HashState => new Sha1(),
});

/** SHA-256 (FIPS 180-4). For SCRAM-SHA-256. */
export const SHA256: HashAlgorithm = Object.freeze({
  name: "SHA-256",
  blockSize: 64,
  digestSize: 32,
  create: (): HashState => new Sha256(),
});

/**
 * Hashes bytes in one call.
 *
 * @param algorithm {@link MD4}, {@link MD5}, {@link SHA1} or {@link SHA256}.
 * @param data The message.
 * @returns The digest.
 * @example
 * ```ts
 * toHex(hash(MD5, utf8("abc"))); // "900150983cd24fb0d6963f7d28e17f72"
 * ```
 */
export function hash(algorithm: HashAlgorithm, data: Uint8Array): Uint8Array {
  return algorithm.create().update(data).digest();
}

/**
 * A fast path for PBKDF2: computes `HMAC(key, msg)` for messages of at most
 * 55 bytes with exactly two compressions and no allocation, given the inner
 * and outer states of a prepared HMAC key (each having absorbed one 64-byte
 * padded key block). Internal to the SASL core.
 *
 * @param inner The HMAC inner state (after `key XOR ipad`).
 * @param outer The HMAC outer state (after `key XOR opad`).
 * @returns `(msg, out) => void` writing the MAC into `out` (`out` may be
 *   `msg`), or `null` when the states are not the ones this module creates
 *   or the digest does not fit one block.
 */
export function singleBlockMac(
  inner: HashState,
  outer: HashState,
): ((msg: Uint8Array, out: Uint8Array) => void) | null {
  if (!(inner instanceof BlockHash) || !(outer instanceof BlockHash)) return null;
  if (inner.byteLength !== 64 || inner.blockLength !== 0 || outer.byteLength !== 64 || outer.blockLength !== 0) {
    return null;
  }
  const digestSize = inner.state.length * 4;
  if (digestSize > 55) return null;
  const be = inner.bigEndian;
  const savedInner = inner.state.slice();
  const savedOuter = outer.state.slice();
  const work = inner.clone() as BlockHash;
  const block = new Uint8Array(64);
  const words = work.state;
  const pad = (len: number): void => {
    block[len] = 0x80;
    block.fill(0, len + 1);
    const bits = (64 + len) * 8;
    if (be) {
      block[62] = bits >>> 8;
      block[63] = bits & 0xff;
    } else {
      block[56] = bits & 0xff;
      block[57] = bits >>> 8;
    }
  };
  const emit = (out: Uint8Array): void => {
    for (let i = 0, o = 0; i < words.length; i++, o += 4) {
      const w = words[i]!;
      if (be) {
        out[o] = w >>> 24;
        out[o + 1] = (w >>> 16) & 0xff;
        out[o + 2] = (w >>> 8) & 0xff;
        out[o + 3] = w & 0xff;
      } else {
        out[o] = w & 0xff;
        out[o + 1] = (w >>> 8) & 0xff;
        out[o + 2] = (w >>> 16) & 0xff;
        out[o + 3] = w >>> 24;
      }
    }
  };
  return (msg: Uint8Array, out: Uint8Array): void => {
    if (msg.length > 55) throw new RangeError("singleBlockMac() takes at most 55 bytes");
    block.set(msg);
    pad(msg.length);
    words.set(savedInner);
    work.compress(block, 0);
    emit(block);
    pad(digestSize);
    words.set(savedOuter);
    work.compress(block, 0);
    emit(out);
  };
}
