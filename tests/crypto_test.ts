import { test } from "node:test";
import assert from "node:assert/strict";
import * as nodeCrypto from "node:crypto";
import {
  base64Decode,
  base64Encode,
  concat,
  fromHex,
  fromUtf8,
  timingSafeEqual,
  toHex,
  utf16le,
  utf8,
} from "../src/sasl/bytes.ts";
import { hash, type HashAlgorithm, MD4, MD5, SHA1, SHA256 } from "../src/sasl/hash.ts";
import { hmac, hmacKey, pbkdf2 } from "../src/sasl/hmac.ts";
import { saslprep } from "../src/sasl/saslprep.ts";

const hex = (alg: HashAlgorithm, s: string | Uint8Array) => toHex(hash(alg, typeof s === "string" ? utf8(s) : s));

// The RFC 1320 / RFC 1321 §A.5 test suites share their inputs.
const SUITE = [
  "",
  "a",
  "abc",
  "message digest",
  "abcdefghijklmnopqrstuvwxyz",
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
  "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
];

test("MD5 matches the RFC 1321 §A.5 test suite", () => {
  assert.deepEqual(SUITE.map((s) => hex(MD5, s)), [
    "d41d8cd98f00b204e9800998ecf8427e",
    "0cc175b9c0f1b6a831c399e269772661",
    "900150983cd24fb0d6963f7d28e17f72",
    "f96b697d7cb7938d525a2f31aaf161d0",
    "c3fcd3d76192e4007dfb496cca67e13b",
    "d174ab98d277d9f5a5611c2c9f419d9f",
    "57edf4a22be3c955ac49da2e2107b67a",
  ]);
});

test("MD4 matches the RFC 1320 §A.5 test suite", () => {
  assert.deepEqual(SUITE.map((s) => hex(MD4, s)), [
    "31d6cfe0d16ae931b73c59d7e0c089c0",
    "bde52cb31de33e46245e05fbdbd6fb24",
    "a448017aaf21d8525fc10ae87aa6729d",
    "d9130a8164549fe818874806e1c7014b",
    "d79e1c308aa5bbcdeea8ed63df412da9",
    "043f8582f241db351ce627e153e7f0e4",
    "e33b4ddc9c38f2199c3e7b164fcc0536",
  ]);
});

const TWO_BLOCK = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

test("SHA-1 matches the FIPS 180 examples (abc, two-block, a million a)", () => {
  assert.equal(hex(SHA1, "abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  assert.equal(hex(SHA1, TWO_BLOCK), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  assert.equal(hex(SHA1, new Uint8Array(1_000_000).fill(0x61)), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
});

test("SHA-256 matches the FIPS 180 examples (abc, two-block, a million a)", () => {
  assert.equal(hex(SHA256, "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(hex(SHA256, TWO_BLOCK), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  assert.equal(
    hex(SHA256, new Uint8Array(1_000_000).fill(0x61)),
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
  );
});

test("hashes give the same digest however the input is split into update() calls", () => {
  const data = new Uint8Array(300).map((_, i) => (i * 7) & 0xff);
  for (const alg of [MD4, MD5, SHA1, SHA256]) {
    const whole = toHex(hash(alg, data));
    for (const cut of [1, 55, 56, 63, 64, 65, 128, 200]) {
      const st = alg.create();
      for (let i = 0; i < data.length; i += cut) st.update(data.subarray(i, i + cut));
      assert.equal(toHex(st.digest()), whole, `${alg.name} in chunks of ${cut}`);
    }
    const st = alg.create().update(data.subarray(0, 100));
    const copy = st.clone();
    st.update(utf8("x"));
    assert.equal(toHex(copy.update(data.subarray(100)).digest()), whole, `${alg.name} clone is independent`);
  }
});

function nodeHashOrNull(name: string, data: Uint8Array): string | null {
  try {
    return nodeCrypto.createHash(name).update(data).digest("hex");
  } catch {
    return null; // MD4 is unavailable under OpenSSL 3 on Node (Bun and Deno have it)
  }
}

test("hashes and HMACs agree with node:crypto on random inputs of every length 0..300", () => {
  const algs: Array<[HashAlgorithm, string]> = [[MD4, "md4"], [MD5, "md5"], [SHA1, "sha1"], [SHA256, "sha256"]];
  for (let len = 0; len <= 300; len++) {
    const data = nodeCrypto.randomBytes(len);
    const key = nodeCrypto.randomBytes(len % 150);
    for (const [alg, name] of algs) {
      const expected = nodeHashOrNull(name, data);
      // Only Node's OpenSSL 3 lacks MD4 (Bun and Deno have it): anything else missing is a failure, not a pass.
      const onNode = !("Bun" in globalThis) && !("Deno" in globalThis);
      if (expected === null) assert.ok(name === "md4" && onNode, `node:crypto has no ${name} here`);
      else assert.equal(hex(alg, data), expected, `${name} of ${len} bytes`);
      if (name === "md4") continue;
      assert.equal(
        toHex(hmac(alg, key, data)),
        nodeCrypto.createHmac(name, key).update(data).digest("hex"),
        `HMAC-${name} key ${key.length} data ${len}`,
      );
    }
  }
});

// RFC 2202 §2 and §3 (test cases 1–7).
const RFC2202: Array<{ key: Uint8Array; data: Uint8Array; md5: string; sha1: string }> = [
  {
    key: new Uint8Array(16).fill(0x0b),
    data: utf8("Hi There"),
    md5: "9294727a3638bb1c13f48ef8158bfc9d",
    sha1: "",
  },
  { key: utf8("Jefe"), data: utf8("what do ya want for nothing?"), md5: "750c783e6ab0b503eaa86e310a5db738", sha1: "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79" },
  { key: new Uint8Array(16).fill(0xaa), data: new Uint8Array(50).fill(0xdd), md5: "56be34521d144c88dbb8c733f0e8b3f6", sha1: "" },
  {
    key: fromHex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
    data: new Uint8Array(50).fill(0xcd),
    md5: "697eaf0aca3a3aea3a75164746ffaa79",
    sha1: "4c9007f4026250c6bc8414f9bf50c86c2d7235da",
  },
  { key: new Uint8Array(16).fill(0x0c), data: utf8("Test With Truncation"), md5: "56461ef2342edc00f9bab995690efd4c", sha1: "" },
  {
    key: new Uint8Array(80).fill(0xaa),
    data: utf8("Test Using Larger Than Block-Size Key - Hash Key First"),
    md5: "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
    sha1: "aa4ae5e15272d00e95705637ce8a3b55ed402112",
  },
  {
    key: new Uint8Array(80).fill(0xaa),
    data: utf8("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"),
    md5: "6f630fad67cda0ee1fb1f562db3aa53e",
    sha1: "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
  },
];

test("HMAC-MD5 matches RFC 2202 §2", () => {
  for (const [i, v] of RFC2202.entries()) assert.equal(toHex(hmac(MD5, v.key, v.data)), v.md5, `case ${i + 1}`);
});

test("HMAC-SHA1 matches RFC 2202 §3", () => {
  const sha1Keys: Record<number, Uint8Array> = { 0: new Uint8Array(20).fill(0x0b), 2: new Uint8Array(20).fill(0xaa), 4: new Uint8Array(20).fill(0x0c) };
  const expected = [
    "b617318655057264e28bc0b6fb378c8ef146be00",
    "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
    "125d7342b9ac11cd91a39af48aa17b4f63f175d3",
    "4c9007f4026250c6bc8414f9bf50c86c2d7235da",
    "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04",
    "aa4ae5e15272d00e95705637ce8a3b55ed402112",
    "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
  ];
  for (const [i, v] of RFC2202.entries()) {
    assert.equal(toHex(hmac(SHA1, sha1Keys[i] ?? v.key, v.data)), expected[i], `case ${i + 1}`);
  }
});

test("HMAC-SHA-256 matches RFC 4231 §4 (cases 1–4, 5 truncated, 6–7)", () => {
  const aa131 = new Uint8Array(131).fill(0xaa);
  const cases: Array<[Uint8Array, Uint8Array, string]> = [
    [new Uint8Array(20).fill(0x0b), utf8("Hi There"), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"],
    [utf8("Jefe"), utf8("what do ya want for nothing?"), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"],
    [new Uint8Array(20).fill(0xaa), new Uint8Array(50).fill(0xdd), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"],
    [
      fromHex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
      new Uint8Array(50).fill(0xcd),
      "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ],
    [new Uint8Array(20).fill(0x0c), utf8("Test With Truncation"), "a3b6167473100ee06e0c796c2955552b"],
    [aa131, utf8("Test Using Larger Than Block-Size Key - Hash Key First"), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"],
    [
      aa131,
      utf8(
        "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
      ),
      "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ],
  ];
  for (const [i, [key, data, mac]] of cases.entries()) {
    assert.equal(toHex(hmac(SHA256, key, data)).slice(0, mac.length), mac, `case ${i + 1}`);
  }
});

test("hmacKey() reuses a prepared key for several messages", () => {
  const k = hmacKey(SHA256, utf8("key"));
  const a = k.mac(utf8("one"));
  const b = k.mac(utf8("two"));
  assert.equal(toHex(a), toHex(hmac(SHA256, utf8("key"), utf8("one"))));
  assert.equal(toHex(b), toHex(hmac(SHA256, utf8("key"), utf8("two"))));
});

test("PBKDF2-HMAC-SHA1 matches RFC 6070 (all but the 16777216-iteration case)", () => {
  const cases: Array<[string, string, number, number, string]> = [
    ["password", "salt", 1, 20, "0c60c80f961f0e71f3a9b524af6012062fe037a6"],
    ["password", "salt", 2, 20, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"],
    ["password", "salt", 4096, 20, "4b007901b765489abead49d926f721d065a429c1"],
    ["passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, 25, "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038"],
    ["pass\0word", "sa\0lt", 4096, 16, "56fa6aa75548099dcc37d7f03425e0c3"],
  ];
  for (const [p, s, c, len, dk] of cases) assert.equal(toHex(pbkdf2(SHA1, utf8(p), utf8(s), c, len)), dk, `${p}/${s}/${c}`);
});

test("PBKDF2 agrees with node:crypto for SHA-1 and SHA-256 on random inputs", () => {
  for (let i = 0; i < 20; i++) {
    const pw = nodeCrypto.randomBytes(i * 5);
    const salt = nodeCrypto.randomBytes(1 + i);
    const iterations = 1 + i * 37;
    const len = 1 + i * 4;
    for (const [alg, name] of [[SHA1, "sha1"], [SHA256, "sha256"]] as const) {
      assert.equal(
        toHex(pbkdf2(alg, pw, salt, iterations, len)),
        nodeCrypto.pbkdf2Sync(pw, salt, iterations, len, name).toString("hex"),
        `${name} case ${i}`,
      );
    }
  }
});

test("pbkdf2() rejects a non-positive iteration count with a RangeError", () => {
  assert.throws(() => pbkdf2(SHA256, utf8("p"), utf8("s"), 0), RangeError);
  assert.throws(() => pbkdf2(SHA256, utf8("p"), utf8("s"), 1.5), RangeError);
});

test("PBKDF2-HMAC-SHA-256 with 4096 iterations takes well under 100 ms", () => {
  pbkdf2(SHA256, utf8("warm"), utf8("up"), 4096);
  const t0 = performance.now();
  const runs = 5;
  for (let i = 0; i < runs; i++) pbkdf2(SHA256, utf8("pencil"), utf8("salt"), 4096);
  const ms = (performance.now() - t0) / runs;
  assert.ok(ms < 100, `took ${ms.toFixed(1)} ms`);
});

test("base64Encode() matches RFC 4648 §10 and node:crypto's Buffer on random data", () => {
  const vectors = ["", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"];
  for (const [i, b64] of vectors.entries()) {
    assert.equal(base64Encode(utf8("foobar".slice(0, i))), b64);
    assert.equal(fromUtf8(base64Decode(b64)), "foobar".slice(0, i));
  }
  for (let len = 0; len < 100; len++) {
    const data = nodeCrypto.randomBytes(len);
    const expected = data.toString("base64");
    assert.equal(base64Encode(new Uint8Array(data)), expected);
    assert.deepEqual(base64Decode(expected), new Uint8Array(data));
  }
});

test("base64Decode() rejects invalid characters, length and padding with a SyntaxError", () => {
  for (const bad of ["Zg", "Zg=", "Zm9", "Zm9v\r\n", "Zm 9v", "Zm9v====", "Z===", "=Zm9", "Zg=a", "Zm9-", "Zm9_", "Zh==", "Zm9=Zm9v", "é123"]) {
    assert.throws(() => base64Decode(bad), SyntaxError, JSON.stringify(bad));
  }
  assert.throws(() => base64Decode("NTLM supported"), /Invalid base64/);
});

test("timingSafeEqual() compares contents and lengths", () => {
  assert.equal(timingSafeEqual(utf8("abc"), utf8("abc")), true);
  assert.equal(timingSafeEqual(utf8("abc"), utf8("abd")), false);
  assert.equal(timingSafeEqual(utf8("abc"), utf8("ab")), false);
  assert.equal(timingSafeEqual(new Uint8Array(0), new Uint8Array(0)), true);
});

test("byte helpers: hex, UTF-16LE, concat", () => {
  assert.equal(toHex(fromHex("00 ff 10")), "00ff10");
  assert.throws(() => fromHex("abc"), SyntaxError);
  assert.deepEqual(utf16le("Hé"), new Uint8Array([0x48, 0, 0xe9, 0]));
  assert.deepEqual(concat(utf8("a"), new Uint8Array(0), utf8("bc")), utf8("abc"));
});

test("saslprep() maps, normalises and prohibits as RFC 4013 §3 examples show", () => {
  assert.equal(saslprep("I\u00ADX"), "IX"); // SOFT HYPHEN mapped to nothing
  assert.equal(saslprep("user"), "user");
  assert.equal(saslprep("USER"), "USER"); // case preserved
  assert.equal(saslprep("\u00AA"), "a"); // NFKC
  assert.equal(saslprep("\u2168"), "IX"); // NFKC
  assert.throws(() => saslprep("\u0007"), RangeError); // prohibited
  assert.equal(saslprep("a\u00A0b\u3000c"), "a b c"); // non-ASCII spaces
  assert.equal(saslprep("a\u200Bb\uFEFFc"), "abc"); // zero-width characters removed
  assert.throws(() => saslprep("pass\uE000"), RangeError); // private use
  assert.throws(() => saslprep("pass\uD800"), RangeError); // lone surrogate
  assert.throws(() => saslprep("a\u200Eb"), RangeError); // LEFT-TO-RIGHT MARK
  assert.throws(() => saslprep("x\u{E0041}"), RangeError); // tagging
  assert.equal(saslprep("p\u00E9nc\u0301il\u{1F600}"), "p\u00E9nc\u0301il\u{1F600}".normalize("NFKC"));
  try {
    saslprep("secret\u0001");
    assert.fail("expected a throw");
  } catch (e) {
    assert.ok(!(e as Error).message.includes("secret"), "the message does not repeat the input");
  }
});
