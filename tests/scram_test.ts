import { test } from "node:test";
import assert from "node:assert/strict";
import * as nodeCrypto from "node:crypto";
import { base64Encode, fromUtf8, utf8 } from "../src/sasl/bytes.ts";
import { SHA1, SHA256 } from "../src/sasl/hash.ts";
import { scramEscape, ScramMechanism } from "../src/sasl/scram.ts";
import { createMechanism, SaslError } from "../src/sasl/mod.ts";

const s = (b: Uint8Array | null): string => fromUtf8(b!);

function saslThrows(fn: () => unknown, reason: SaslError["reason"], message?: RegExp): SaslError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SaslError, `expected a SaslError, got ${String(caught)}`);
  assert.equal(caught.reason, reason, caught.message);
  assert.equal(caught.phase, "auth");
  if (message) assert.match(caught.message, message);
  return caught;
}

// RFC 5802 §5.
const RFC5802 = {
  nonce: "fyko+d2lbbFgONRv9qkxdawL",
  clientFirst: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
  serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
  clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
  serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};

// RFC 7677 §3.
const RFC7677 = {
  nonce: "rOprNGfwEbeRWgbNEkqO",
  clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
  serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  clientFinal:
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

test("SCRAM-SHA-1 reproduces the RFC 5802 §5 exchange byte for byte", () => {
  const m = createMechanism("SCRAM-SHA-1", { user: "user", password: "pencil" }, { nonce: () => RFC5802.nonce });
  assert.equal(m.clientFirst, true);
  assert.equal(s(m.start()), RFC5802.clientFirst);
  assert.equal(s(m.step(utf8(RFC5802.serverFirst))), RFC5802.clientFinal);
  assert.equal(m.done, false);
  assert.equal(m.step(utf8(RFC5802.serverFinal)).length, 0, "server-final in a 334 gets an empty response");
  assert.equal(m.done, true);
  m.finish(null); // already verified: a bare 235 is fine
});

test("SCRAM-SHA-256 reproduces the RFC 7677 §3 exchange byte for byte", () => {
  const m = createMechanism("SCRAM-SHA-256", { user: "user", password: "pencil" }, { nonce: () => RFC7677.nonce });
  assert.equal(s(m.start()), RFC7677.clientFirst);
  assert.equal(s(m.step(utf8(RFC7677.serverFirst))), RFC7677.clientFinal);
  m.finish(utf8(RFC7677.serverFinal)); // server-final as 235 additional data
  assert.equal(m.done, true);
  assert.equal((m as ScramMechanism).verified, true);
});

test("SCRAM rejects a wrong server signature, in a 334 or in the 235 data", () => {
  const bad = "v=" + base64Encode(new Uint8Array(32).fill(7));
  const a = new ScramMechanism(SHA256, "user", "pencil", () => RFC7677.nonce);
  a.start();
  a.step(utf8(RFC7677.serverFirst));
  saslThrows(() => a.step(utf8(bad)), "server-signature", /does not match/);
  assert.equal(a.done, false);

  const b = new ScramMechanism(SHA256, "user", "pencil", () => RFC7677.nonce);
  b.start();
  b.step(utf8(RFC7677.serverFirst));
  saslThrows(() => b.finish(utf8(bad)), "server-signature");
  // The SHA-1 signature of the RFC 5802 example is not the SHA-256 one either.
  saslThrows(() => b.finish(utf8(RFC5802.serverFinal)), "server-signature");
});

test("SCRAM treats a 235 without the server signature as a failure", () => {
  const m = new ScramMechanism(SHA1, "user", "pencil", () => RFC5802.nonce);
  m.start();
  m.step(utf8(RFC5802.serverFirst));
  saslThrows(() => m.finish(null), "server-signature", /did not prove/);
  saslThrows(() => m.finish(new Uint8Array(0)), "server-signature");
  const early = new ScramMechanism(SHA1, "user", "pencil", () => RFC5802.nonce);
  early.start();
  saslThrows(() => early.finish(null), "server-signature", /before the exchange was complete/);
});

test("SCRAM surfaces a server error (e=) from server-final or server-first", () => {
  const m = new ScramMechanism(SHA1, "user", "wrong", () => RFC5802.nonce);
  m.start();
  m.step(utf8(RFC5802.serverFirst));
  const e = saslThrows(() => m.step(utf8("e=invalid-proof")), "server-error", /"invalid-proof"/);
  assert.equal(e.serverError, "invalid-proof");
  const f = new ScramMechanism(SHA1, "user", "pencil", () => RFC5802.nonce);
  f.start();
  assert.equal(saslThrows(() => f.step(utf8("e=unknown-user")), "server-error").serverError, "unknown-user");
});

test("SCRAM rejects a server nonce that does not extend the client nonce", () => {
  for (const r of ["3rfcNHYJY1ZVvWVs7j", "fyko+d2lbbFgONRv9qkxdawX3rfc", RFC5802.nonce, "xfyko+d2lbbFgONRv9qkxdawL"]) {
    const m = new ScramMechanism(SHA1, "user", "pencil", () => RFC5802.nonce);
    m.start();
    saslThrows(() => m.step(utf8(`r=${r},s=QSXCR+Q6sek8bf92,i=4096`)), "bad-challenge", /nonce/);
  }
});

test("SCRAM rejects server-first messages that do not parse", () => {
  const n = RFC5802.nonce;
  const cases: Array<[string, RegExp]> = [
    ["", /malformed|r=, s=, i=/],
    ["garbage", /malformed/],
    [`s=QSXCR+Q6sek8bf92,r=${n}x,i=4096`, /r=, s=, i=/],
    [`r=${n}x,i=4096`, /r=, s=, i=/],
    [`r=${n}x,s=QSXCR+Q6sek8bf92`, /r=, s=, i=/],
    [`r=${n}x,s=not base64!,i=4096`, /salt is not valid base64/],
    [`r=${n}x,s=,i=4096`, /salt is empty/],
    [`r=${n}x,s=QSXCR+Q6sek8bf92,i=abc`, /not a positive integer/],
    [`r=${n}x,s=QSXCR+Q6sek8bf92,i=-1`, /not a positive integer/],
    [`r=${n}x,s=QSXCR+Q6sek8bf92,i=04096`, /not a positive integer/],
    [`m=ext,r=${n}x,s=QSXCR+Q6sek8bf92,i=4096`, /extension/],
    [`r=${n}x,,s=QSXCR+Q6sek8bf92,i=4096`, /malformed/],
  ];
  for (const [challenge, message] of cases) {
    const m = new ScramMechanism(SHA1, "user", "pencil", () => n);
    m.start();
    saslThrows(() => m.step(utf8(challenge)), "bad-challenge", message);
  }
  const m = new ScramMechanism(SHA1, "user", "pencil", () => n);
  m.start();
  saslThrows(() => m.step(new Uint8Array([0x72, 0x3d, 0xff, 0xfe])), "bad-challenge", /UTF-8/);
});

test("SCRAM accepts extensions after i= in server-first", () => {
  const m = new ScramMechanism(SHA1, "user", "pencil", () => RFC5802.nonce);
  m.start();
  const out = s(m.step(utf8(RFC5802.serverFirst + ",x=future")));
  assert.match(out, /^c=biws,r=fyko\+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=/);
});

test("SCRAM enforces the iteration bounds (default 4096..1000000, configurable)", () => {
  const n = RFC5802.nonce;
  for (const i of ["4095", "1", "1000001", "99999999999"]) {
    const m = new ScramMechanism(SHA1, "user", "pencil", () => n);
    m.start();
    saslThrows(() => m.step(utf8(`r=${n}x,s=QSXCR+Q6sek8bf92,i=${i}`)), "policy", /iterations/);
  }
  const low = createMechanism("SCRAM-SHA-1", { user: "user", password: "pencil" }, { nonce: () => n }, {
    scramIterations: { min: 1 },
  });
  low.start();
  assert.match(s(low.step(utf8(`r=${n}x,s=QSXCR+Q6sek8bf92,i=1`))), /,p=/);
  assert.throws(() => new ScramMechanism(SHA1, "u", "p", () => n, { minIterations: 10, maxIterations: 5 }), RangeError);
});

test("SCRAM rejects a challenge after verification and a nonce with a comma", () => {
  const m = new ScramMechanism(SHA1, "user", "pencil", () => RFC5802.nonce);
  m.start();
  m.step(utf8(RFC5802.serverFirst));
  m.step(utf8(RFC5802.serverFinal));
  saslThrows(() => m.step(utf8(RFC5802.serverFinal)), "bad-challenge");
  assert.throws(() => new ScramMechanism(SHA1, "user", "pencil", () => "abc,defghij").start(), TypeError);
  assert.throws(() => new ScramMechanism(SHA1, "user", "pencil", () => "short").start(), TypeError);
});

test("SCRAM escapes = and , in the user name and sends an authzid in the GS2 header", () => {
  assert.equal(scramEscape("a=b,c"), "a=3Db=2Cc");
  const m = createMechanism("SCRAM-SHA-256", { user: "a=b,c", password: "pencil", authzid: "admin" }, {
    nonce: () => RFC7677.nonce,
  });
  assert.equal(s(m.start()), `n,a=admin,n=a=3Db=2Cc,r=${RFC7677.nonce}`);
  const out = s(m.step(utf8(RFC7677.serverFirst)));
  assert.ok(out.startsWith(`c=${base64Encode(utf8("n,a=admin,"))},r=`), out);
});

test("SCRAM applies SASLprep to the password and refuses prohibited characters", () => {
  const run = (password: string): string => {
    const m = new ScramMechanism(SHA256, "user", password, () => RFC7677.nonce);
    m.start();
    return s(m.step(utf8(RFC7677.serverFirst)));
  };
  assert.equal(run("pen\u00ADcil"), RFC7677.clientFinal, "soft hyphen is mapped to nothing");
  assert.equal(run("pen\uFE0Fcil"), RFC7677.clientFinal, "variation selector is mapped to nothing");
  assert.notEqual(run("pen cil"), RFC7677.clientFinal);
  assert.equal(run("pen\u00A0cil"), run("pen cil"), "non-ASCII space maps to SPACE");
  assert.equal(run("\u2168"), run("IX"), "NFKC");
  const e = saslThrows(() => run("pencil\u0007"), "credentials", /SASLprep/);
  assert.ok(!e.message.includes("pencil"));
});

/** An independent SCRAM client proof computed with node:crypto, for cross-checking. */
function referenceProof(hashName: "sha1" | "sha256", password: string, salt: Buffer, i: number, authMessage: string) {
  const hLen = hashName === "sha1" ? 20 : 32;
  const salted = nodeCrypto.pbkdf2Sync(password, salt, i, hLen, hashName);
  const hm = (k: Buffer | Uint8Array, d: string | Uint8Array) => nodeCrypto.createHmac(hashName, k).update(d).digest();
  const clientKey = hm(salted, "Client Key");
  const storedKey = nodeCrypto.createHash(hashName).update(clientKey).digest();
  const sig = hm(storedKey, authMessage);
  const proof = Buffer.alloc(hLen);
  for (let k = 0; k < hLen; k++) proof[k] = clientKey[k]! ^ sig[k]!;
  const serverSig = hm(hm(salted, "Server Key"), authMessage);
  return { proof: proof.toString("base64"), serverSignature: serverSig.toString("base64") };
}

test("SCRAM agrees with a node:crypto reference on random salts, nonces and passwords", () => {
  for (let k = 0; k < 6; k++) {
    const [alg, hashName] = k % 2 ? [SHA1, "sha1" as const] : [SHA256, "sha256" as const];
    const nonce = nodeCrypto.randomBytes(18).toString("base64");
    const password = nodeCrypto.randomBytes(5 + k).toString("hex");
    const salt = nodeCrypto.randomBytes(16);
    const iterations = 4096 + k * 100;
    const serverFirst = `r=${nonce}${nodeCrypto.randomBytes(9).toString("base64")},s=${salt.toString("base64")},i=${iterations}`;
    const m = new ScramMechanism(alg, "someone", password, () => nonce);
    const bare = s(m.start()).slice(3);
    const clientFinal = s(m.step(utf8(serverFirst)));
    const withoutProof = clientFinal.slice(0, clientFinal.indexOf(",p="));
    const ref = referenceProof(hashName, password, salt, iterations, `${bare},${serverFirst},${withoutProof}`);
    assert.equal(clientFinal.slice(clientFinal.indexOf(",p=") + 3), ref.proof);
    m.finish(utf8(`v=${ref.serverSignature}`));
  }
});

test("a complete SCRAM-SHA-256 exchange with 4096 iterations takes well under 100 ms", () => {
  const t0 = performance.now();
  const m = createMechanism("SCRAM-SHA-256", { user: "user", password: "pencil" }, { nonce: () => RFC7677.nonce });
  m.start();
  m.step(utf8(RFC7677.serverFirst));
  m.finish(utf8(RFC7677.serverFinal));
  const ms = performance.now() - t0;
  assert.ok(ms < 100, `took ${ms.toFixed(1)} ms`);
});
