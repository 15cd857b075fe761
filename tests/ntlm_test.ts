// Test vectors: [MS-NLMP] §4.2 "Cryptographic Values for Validation" — common values §4.2.1
// (User "User", UserDom "Domain", Passwd "Password", Workstation "COMPUTER", ServerChallenge
// 0123456789abcdef, ClientChallenge aaaaaaaaaaaaaaaa, Time 0, RandomSessionKey 55×16) and the
// NTLMv2 results of §4.2.4 (NTOWFv2, SessionBaseKey, LMv2 and NTLMv2 responses, the CHALLENGE and
// AUTHENTICATE messages of §4.2.4.3), the NTLMv1 results of §4.2.2 and §4.2.3 (NTOWFv1, SessionBaseKey,
// the NTLMv1 response without and with extended session security, the §4.2.3.3 AUTHENTICATE message).
// The byte strings are as transcribed in Chromium's
// net/ntlm/ntlm_test_data.h and iPXE's src/tests/ntlm_test.c, both citing MS-NLMP §4.2.
import { test } from "node:test";
import assert from "node:assert/strict";
import { base64Encode, fromHex, toHex, utf8 } from "../src/sasl/bytes.ts";
import {
  fileTime,
  NTLM_NEGOTIATE_FLAGS,
  ntlmAuthenticateMessage,
  NtlmFlag,
  NtlmFormatError,
  NtlmMechanism,
  ntlmNegotiateMessage,
  NTLMV1_NEGOTIATE_FLAGS,
  ntlmv1Responses,
  ntlmv2Responses,
  ntowfv1,
  ntowfv2,
  parseNtlmChallenge,
} from "../src/sasl/ntlm.ts";
import { MD4, hash } from "../src/sasl/hash.ts";
import { createMechanism, SaslError } from "../src/sasl/mod.ts";

const SERVER_CHALLENGE = fromHex("0123456789abcdef");
const CLIENT_CHALLENGE = fromHex("aaaaaaaaaaaaaaaa");
const TIME_ZERO_MS = -11644473600000; // FILETIME 0 (1601-01-01), the spec's "Time"

// §4.2.4.3 CHALLENGE_MESSAGE.
const SPEC_CHALLENGE = fromHex(
  "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef" +
    "00000000000000002400240044000000060070170000000f5300650072007600" +
    "6500720002000c0044006f006d00610069006e0001000c005300650072007600" +
    "6500720000000000",
);

// §4.2.4.3 AUTHENTICATE_MESSAGE.
const SPEC_AUTHENTICATE = fromHex(
  "4e544c4d5353500003000000180018006c00000054005400840000000c000c00" +
    "480000000800080054000000100010005c00000010001000d8000000358288e2" +
    "0501280a0000000f44006f006d00610069006e00550073006500720043004f00" +
    "4d005000550054004500520086c35097ac9cec102554764a57cccc19aaaaaaaa" +
    "aaaaaaaa68cd0ab851e51c96aabc927bebef6a1c010100000000000000000000" +
    "00000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e00" +
    "01000c005300650072007600650072000000000000000000c5dad2544fc97990" +
    "94ce1ce90bc9d03e",
);

// The AV pairs of the spec challenge (MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server", EOL).
const SPEC_TARGET_INFO = fromHex(
  "02000c0044006f006d00610069006e0001000c00530065007200760065007200" + "00000000",
);

/** RC4, only to check the spec's EncryptedRandomSessionKey against our SessionBaseKey. */
function rc4(key: Uint8Array, data: Uint8Array): Uint8Array {
  const S = Array.from({ length: 256 }, (_, i) => i);
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + S[i]! + key[i % key.length]!) & 255;
    [S[i], S[j]] = [S[j]!, S[i]!];
  }
  const out = new Uint8Array(data.length);
  for (let k = 0, i = 0, j = 0; k < data.length; k++) {
    i = (i + 1) & 255;
    j = (j + S[i]!) & 255;
    [S[i], S[j]] = [S[j]!, S[i]!];
    out[k] = data[k]! ^ S[(S[i]! + S[j]!) & 255]!;
  }
  return out;
}

function specResponses() {
  return ntlmv2Responses({
    responseKey: ntowfv2("Password", "User", "Domain"),
    serverChallenge: SERVER_CHALLENGE,
    clientChallenge: CLIENT_CHALLENGE,
    timestamp: new Uint8Array(8),
    targetInfo: SPEC_TARGET_INFO,
  });
}

test("ntowfv2() matches MS-NLMP §4.2.4.1.1", () => {
  assert.equal(toHex(ntowfv2("Password", "User", "Domain")), "0c868a403bfd7a93a3001ef22ef02e3f");
  assert.equal(toHex(ntowfv2("Password", "user", "Domain")), "0c868a403bfd7a93a3001ef22ef02e3f", "user is upper-cased");
});

test("ntlmv2Responses() matches MS-NLMP §4.2.4.1.2, §4.2.4.1.3, §4.2.4.2.1 and §4.2.4.2.2", () => {
  const r = specResponses();
  assert.equal(toHex(r.sessionBaseKey), "8de40ccadbc14a82f15cb0ad0de95ca3");
  assert.equal(toHex(r.lmChallengeResponse), "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa");
  assert.equal(toHex(r.ntProofStr), "68cd0ab851e51c96aabc927bebef6a1c");
  assert.equal(
    toHex(r.ntChallengeResponse),
    "68cd0ab851e51c96aabc927bebef6a1c" + "0101000000000000" + "0000000000000000" + "aaaaaaaaaaaaaaaa" + "00000000" +
      toHex(SPEC_TARGET_INFO) + "00000000",
  );
  // §4.2.4.3's EncryptedRandomSessionKey is RC4(SessionBaseKey, RandomSessionKey 55×16).
  assert.equal(toHex(rc4(r.sessionBaseKey, new Uint8Array(16).fill(0x55))), "c5dad2544fc9799094ce1ce90bc9d03e");
});

test("parseNtlmChallenge() reads the MS-NLMP §4.2.4.3 CHALLENGE message", () => {
  const c = parseNtlmChallenge(SPEC_CHALLENGE);
  assert.equal(c.flags >>> 0, 0xe28a8233);
  assert.equal(toHex(c.serverChallenge), "0123456789abcdef");
  assert.equal(c.targetName, "Server");
  assert.deepEqual(c.targetInfo, SPEC_TARGET_INFO);
  assert.equal(c.timestamp, null);
});

test("ntlmAuthenticateMessage() reproduces the MS-NLMP §4.2.4.3 AUTHENTICATE message byte for byte", () => {
  const r = specResponses();
  const message = ntlmAuthenticateMessage({
    flags: 0xe2888235, // the spec's flags, including KEY_EXCH and VERSION
    lmChallengeResponse: r.lmChallengeResponse,
    ntChallengeResponse: r.ntChallengeResponse,
    domain: "Domain",
    user: "User",
    workstation: "COMPUTER",
    encryptedRandomSessionKey: rc4(r.sessionBaseKey, new Uint8Array(16).fill(0x55)),
    version: fromHex("0501280a0000000f"),
  });
  assert.equal(toHex(message), toHex(SPEC_AUTHENTICATE));
});

test("ntlmNegotiateMessage() is the 32-byte NEGOTIATE with flags 0x00088207", () => {
  assert.equal(NTLM_NEGOTIATE_FLAGS, 0x00088207);
  assert.equal(
    toHex(ntlmNegotiateMessage()),
    "4e544c4d53535000" + "01000000" + "07820800" + "0000000020000000" + "0000000020000000",
  );
  assert.equal(base64Encode(ntlmNegotiateMessage()), "TlRMTVNTUAABAAAAB4IIAAAAAAAgAAAAAAAAACAAAAA=");
});

test("fileTime() converts Unix milliseconds to FILETIME", () => {
  assert.equal(toHex(fileTime(0)), "00803ed5deb19d01");
  assert.equal(toHex(fileTime(TIME_ZERO_MS)), "0000000000000000");
  assert.throws(() => fileTime(TIME_ZERO_MS - 1), RangeError);
  assert.throws(() => fileTime(NaN), RangeError);
});

/** Reads a security buffer of an AUTHENTICATE message. */
function secbuf(message: Uint8Array, at: number): Uint8Array {
  const v = new DataView(message.buffer, message.byteOffset, message.length);
  const len = v.getUint16(at, true);
  const off = v.getUint32(at + 4, true);
  return message.subarray(off, off + len);
}

test("NTLM mechanism: NEGOTIATE, then the spec CHALLENGE yields the spec NTLMv2/LMv2 responses", () => {
  const m = createMechanism("NTLM", { user: "Domain\\User", password: "Password" }, {
    nonce: () => "unused",
    clientChallenge: () => CLIENT_CHALLENGE,
    now: () => TIME_ZERO_MS,
  }, { ntlmWorkstation: "COMPUTER" });
  assert.equal(m.clientFirst, true);
  assert.deepEqual(m.start(), ntlmNegotiateMessage());
  assert.equal(m.done, false);
  const auth = m.step(SPEC_CHALLENGE);
  assert.equal(m.done, true);
  m.finish(null);
  assert.equal(toHex(auth.subarray(0, 12)), "4e544c4d5353500003000000");
  assert.equal(toHex(secbuf(auth, 12)), "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa");
  assert.equal(toHex(secbuf(auth, 20)), toHex(specResponses().ntChallengeResponse));
  assert.equal(toHex(secbuf(auth, 28)), toHex(utf8("D\0o\0m\0a\0i\0n\0")));
  assert.equal(toHex(secbuf(auth, 36)), toHex(utf8("U\0s\0e\0r\0")));
  assert.equal(toHex(secbuf(auth, 44)), toHex(utf8("C\0O\0M\0P\0U\0T\0E\0R\0")));
  assert.equal(secbuf(auth, 52).length, 0, "no session key: KEY_EXCH is not negotiated");
  const flags = new DataView(auth.buffer, auth.byteOffset).getUint32(60, true);
  assert.equal(flags & NtlmFlag.UNICODE, NtlmFlag.UNICODE);
  assert.equal(flags & NtlmFlag.KEY_EXCH, 0);
  assert.equal(auth.length, 64 + 12 + 8 + 16 + 24 + 84);
});

test("NTLM mechanism uses the server's timestamp when sent, and then zeros the LM response", () => {
  const info = fromHex("02000c0044006f006d00610069006e00" + "07000800" + "0102030405060708" + "00000000");
  const challenge = new Uint8Array(48 + info.length);
  challenge.set(SPEC_CHALLENGE.subarray(0, 48));
  challenge.set(info, 48);
  const v = new DataView(challenge.buffer);
  v.setUint32(16, 48, true); // empty target name at the end of the header
  v.setUint16(12, 0, true);
  v.setUint16(14, 0, true);
  v.setUint16(40, info.length, true);
  v.setUint16(42, info.length, true);
  v.setUint32(44, 48, true);
  assert.equal(toHex(parseNtlmChallenge(challenge).timestamp!), "0102030405060708");
  const m = new NtlmMechanism("User", "Password", {
    clientChallenge: () => CLIENT_CHALLENGE,
    now: () => {
      throw new Error("the clock must not be read when the server sends a timestamp");
    },
  });
  m.start();
  const auth = m.step(challenge);
  assert.equal(toHex(secbuf(auth, 12)), "00".repeat(24));
  const nt = secbuf(auth, 20);
  assert.equal(toHex(nt.subarray(24, 32)), "0102030405060708", "the blob carries the server's time");
  assert.equal(secbuf(auth, 28).length, 0, "no domain without DOMAIN\\user");
  assert.equal(toHex(secbuf(auth, 36)), toHex(utf8("U\0s\0e\0r\0")));
});

test("NTLM mechanism refuses malformed CHALLENGE messages with a SaslError", () => {
  const bad: Array<[string, Uint8Array]> = [
    ["too short", SPEC_CHALLENGE.subarray(0, 31)],
    ["not NTLMSSP", utf8("NTLM supported but not a message!")],
    ["a NEGOTIATE", (() => {
      const c = SPEC_CHALLENGE.slice();
      c[8] = 1;
      return c;
    })()],
    ["target name outside", (() => {
      const c = SPEC_CHALLENGE.slice();
      c[16] = 0xf0;
      return c;
    })()],
    ["target info outside", SPEC_CHALLENGE.subarray(0, 90)],
    ["AV pairs without EOL", (() => {
      const c = SPEC_CHALLENGE.slice(0, SPEC_CHALLENGE.length - 4);
      const v = new DataView(c.buffer);
      v.setUint16(40, 0x20, true);
      v.setUint16(42, 0x20, true);
      return c;
    })()],
  ];
  for (const [what, challenge] of bad) {
    assert.throws(() => parseNtlmChallenge(challenge), NtlmFormatError, what);
    const m = new NtlmMechanism("User", "Password", { clientChallenge: () => CLIENT_CHALLENGE, now: () => 0 });
    m.start();
    assert.throws(
      () => m.step(challenge),
      (e: unknown) => e instanceof SaslError && e.reason === "bad-challenge" && !e.message.includes("Password"),
      what,
    );
  }
});

test("NTLM mechanism needs a user after the domain, and its random sources", () => {
  assert.throws(() => new NtlmMechanism("DOMAIN\\", "pw", { clientChallenge: () => CLIENT_CHALLENGE, now: () => 0 }), TypeError);
  assert.throws(() => createMechanism("NTLM", { user: "u", password: "p" }, { nonce: () => "x", now: () => 0 }), TypeError);
});

// --- NTLMv1 (only on request: `version: 1`), for servers such as Exim's spa.

// A CHALLENGE exactly as Exim 4.96's spa authenticator sent it to the test server (base64 from the
// 334 line): 48 bytes, flags 0x00008201, the target name EMPTY but at offset 0x2800, no target info.
const EXIM_CHALLENGE = Uint8Array.from(atob("TlRMTVNTUAACAAAAAAAAAAAoAAABggAAaTVZ9aMSN7oAAAAAAAAAAAAAAAAAAAAA"), (c) => c.charCodeAt(0));

test("parseNtlmChallenge() accepts an empty field whose offset points past the end (Exim's spa)", () => {
  const c = parseNtlmChallenge(EXIM_CHALLENGE);
  assert.equal(c.flags, 0x00008201);
  assert.equal(c.targetName, "");
  assert.equal(toHex(c.serverChallenge), "693559f5a31237ba");
  assert.equal(c.targetInfo.length, 0);
  // The same empty field with an absurd offset in the spec's message, and an empty target info too.
  const spec = SPEC_CHALLENGE.slice();
  const v = new DataView(spec.buffer);
  v.setUint16(12, 0, true);
  v.setUint16(14, 0, true);
  v.setUint32(16, 0xffffffff, true);
  v.setUint16(40, 0, true);
  v.setUint16(42, 0, true);
  v.setUint32(44, 0x7fffffff, true);
  const p = parseNtlmChallenge(spec);
  assert.equal(p.targetName, "");
  assert.equal(p.targetInfo.length, 0);
  // A field that holds bytes must still lie inside the message.
  v.setUint16(12, 2, true);
  assert.throws(() => parseNtlmChallenge(spec), NtlmFormatError);
});

test("ntowfv1() matches MS-NLMP §4.2.2.1.2", () => {
  assert.equal(toHex(ntowfv1("Password")), "a4f49c406510bdcab6824ee7c30fd852");
});

test("ntlmv1Responses() matches MS-NLMP §4.2.2 (NTLMv1) and never uses the LM hash", () => {
  const r = ntlmv1Responses({ responseKey: ntowfv1("Password"), serverChallenge: SERVER_CHALLENGE, extendedSessionSecurity: false });
  assert.equal(toHex(r.ntChallengeResponse), "67c43011f30298a2ad35ece64f16331c44bdbed927841f94"); // §4.2.2.2.1
  assert.equal(toHex(r.sessionBaseKey), "d87262b0cde4b1cb7499becccdf10784"); // §4.2.2.1.3
  // NoLMResponseNTLMv1 (§3.3.1): the LM field repeats the NT response instead of the LMv1 response
  // (§4.2.2.2.2's 98def7b8…, from the far weaker LM hash).
  assert.equal(toHex(r.lmChallengeResponse), toHex(r.ntChallengeResponse));
  assert.notEqual(toHex(r.lmChallengeResponse), "98def7b87f88aa5dafe2df779688a172def11c7d5ccdef13");
  assert.throws(() => ntlmv1Responses({ responseKey: ntowfv1("p"), serverChallenge: new Uint8Array(7), extendedSessionSecurity: false }), RangeError);
});

test("ntlmv1Responses() with extended session security matches MS-NLMP §4.2.3", () => {
  const r = ntlmv1Responses({
    responseKey: ntowfv1("Password"),
    serverChallenge: SERVER_CHALLENGE,
    clientChallenge: CLIENT_CHALLENGE,
    extendedSessionSecurity: true,
  });
  assert.equal(toHex(r.lmChallengeResponse), "aaaaaaaaaaaaaaaa" + "00".repeat(16)); // §4.2.3.2.1
  assert.equal(toHex(r.ntChallengeResponse), "7537f803ae367128ca458204bde7caf81e97ed2683267232"); // §4.2.3.2.2
  assert.equal(toHex(r.sessionBaseKey), "d87262b0cde4b1cb7499becccdf10784"); // §4.2.3.1.2
  assert.throws(() => ntlmv1Responses({ responseKey: ntowfv1("p"), serverChallenge: SERVER_CHALLENGE, extendedSessionSecurity: true }), RangeError);
});

test("ntlmAuthenticateMessage() reproduces the MS-NLMP §4.2.3.3 NTLMv1 AUTHENTICATE message byte for byte", () => {
  const r = ntlmv1Responses({
    responseKey: ntowfv1("Password"),
    serverChallenge: SERVER_CHALLENGE,
    clientChallenge: CLIENT_CHALLENGE,
    extendedSessionSecurity: true,
  });
  const message = ntlmAuthenticateMessage({
    flags: 0x82088235,
    lmChallengeResponse: r.lmChallengeResponse,
    ntChallengeResponse: r.ntChallengeResponse,
    domain: "Domain",
    user: "User",
    workstation: "COMPUTER",
    version: fromHex("0501280a0000000f"),
  });
  assert.equal(
    toHex(message),
    "4e544c4d5353500003000000180018006c00000018001800840000000c000c00" +
      "480000000800080054000000100010005c000000000000009c00000035820882" +
      "0501280a0000000f44006f006d00610069006e00550073006500720043004f00" +
      "4d0050005500540045005200aaaaaaaaaaaaaaaa000000000000000000000000" +
      "000000007537f803ae367128ca458204bde7caf81e97ed2683267232",
  );
});

test("NTLM mechanism with version 1: NEGOTIATE without extended session security, then the NTLMv1 response", () => {
  const m = createMechanism("NTLM", { user: "User", password: "Password" }, {
    nonce: () => "unused",
    clientChallenge: () => {
      throw new Error("plain NTLMv1 uses no client challenge");
    },
    now: () => {
      throw new Error("NTLMv1 reads no clock");
    },
  }, { ntlmVersion: 1 });
  assert.equal(NTLMV1_NEGOTIATE_FLAGS, 0x00008207);
  assert.equal(toHex(m.start()!), toHex(ntlmNegotiateMessage(0x00008207)));
  const challenge = EXIM_CHALLENGE.slice();
  challenge.set(SERVER_CHALLENGE, 24); // the spec's server challenge, so the spec's answer applies
  const auth = m.step(challenge);
  assert.equal(m.done, true);
  assert.equal(toHex(secbuf(auth, 20)), "67c43011f30298a2ad35ece64f16331c44bdbed927841f94", "MS-NLMP §4.2.2.2.1");
  assert.equal(toHex(secbuf(auth, 12)), "67c43011f30298a2ad35ece64f16331c44bdbed927841f94", "LM field = NT response");
  assert.equal(secbuf(auth, 28).length, 0);
  assert.equal(toHex(secbuf(auth, 36)), toHex(utf8("U\0s\0e\0r\0")), "UTF-16LE: Exim's challenge sets UNICODE");
  const flags = new DataView(auth.buffer, auth.byteOffset).getUint32(60, true);
  assert.equal(flags, NtlmFlag.UNICODE | NtlmFlag.NTLM | NtlmFlag.ALWAYS_SIGN);
  // The session base key the server derives is MD4 of the NT hash (§3.3.1), as ntlmv1Responses says.
  assert.equal(toHex(hash(MD4, ntowfv1("Password"))), "d87262b0cde4b1cb7499becccdf10784");
});

test("NTLM mechanism with version 1 answers a CHALLENGE that sets extended session security with the §4.2.3 response", () => {
  const m = new NtlmMechanism("Domain\\User", "Password", { clientChallenge: () => CLIENT_CHALLENGE, now: () => 0, version: 1 });
  m.start();
  const challenge = EXIM_CHALLENGE.slice();
  challenge.set(SERVER_CHALLENGE, 24);
  new DataView(challenge.buffer).setUint32(20, 0x00088201, true);
  const auth = m.step(challenge);
  assert.equal(toHex(secbuf(auth, 12)), "aaaaaaaaaaaaaaaa" + "00".repeat(16));
  assert.equal(toHex(secbuf(auth, 20)), "7537f803ae367128ca458204bde7caf81e97ed2683267232");
  assert.equal(toHex(secbuf(auth, 28)), toHex(utf8("D\0o\0m\0a\0i\0n\0")));
  const flags = new DataView(auth.buffer, auth.byteOffset).getUint32(60, true);
  assert.equal(flags & NtlmFlag.EXTENDED_SESSIONSECURITY, NtlmFlag.EXTENDED_SESSIONSECURITY);
});

test("NTLM mechanism without a version still answers Exim's challenge with NTLMv2 (v1 only on request)", () => {
  const m = new NtlmMechanism("User", "Password", { clientChallenge: () => CLIENT_CHALLENGE, now: () => 0 });
  assert.equal(toHex(m.start()!), toHex(ntlmNegotiateMessage()));
  const auth = m.step(EXIM_CHALLENGE);
  const nt = secbuf(auth, 20);
  assert.ok(nt.length > 24, "an NTLMv2 response (NTProofStr + blob), not the 24-byte NTLMv1 one");
  assert.equal(toHex(nt.subarray(16, 18)), "0101", "the NTLMv2 blob header follows NTProofStr");
});
