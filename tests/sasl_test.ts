import { test } from "node:test";
import assert from "node:assert/strict";
import { base64Decode, base64Encode, fromUtf8, utf8 } from "../src/sasl/bytes.ts";
import {
  chooseMechanisms,
  CramMd5Mechanism,
  createMechanism,
  LoginMechanism,
  OAuthBearerMechanism,
  PlainMechanism,
  SaslError,
  type SaslMechanism,
  SUPPORTED_MECHANISMS,
  XOAuth2Mechanism,
} from "../src/sasl/mod.ts";
import { AuthError, SmtpError } from "../src/errors.ts";

const noRandom = { nonce: (): string => "unused-nonce" };
const text = (b: Uint8Array | null): string | null => (b === null ? null : fromUtf8(b));

/** Asserts that `fn` throws a SaslError with the given reason and returns it. */
function saslThrows(fn: () => unknown, reason: SaslError["reason"], message?: RegExp): SaslError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SaslError, `expected a SaslError, got ${String(caught)}`);
  assert.equal(caught.reason, reason);
  if (message) assert.match(caught.message, message);
  return caught;
}

// ---------------------------------------------------------------- PLAIN

test("PLAIN sends authzid NUL user NUL password as the initial response", () => {
  const m = new PlainMechanism("tim", "tanstaaftanstaaf");
  assert.equal(m.clientFirst, true);
  assert.equal(text(m.start()), "\0tim\0tanstaaftanstaaf");
  assert.equal(m.done, true);
  m.finish(null);
  const z = new PlainMechanism("tim", "pw", "admin");
  assert.equal(base64Encode(z.start()!), base64Encode(utf8("admin\0tim\0pw")));
});

test("PLAIN answers an empty first 334 with the initial response when start() was skipped", () => {
  const m = new PlainMechanism("tim", "pw");
  assert.equal(text(m.step(new Uint8Array(0))), "\0tim\0pw");
  saslThrows(() => m.step(new Uint8Array(0)), "bad-challenge", /after the exchange was complete/);
});

test("PLAIN encodes non-ASCII credentials as UTF-8 and refuses NUL characters", () => {
  assert.deepEqual(new PlainMechanism("jöran", "pässword").start(), utf8("\0jöran\0pässword"));
  assert.throws(() => new PlainMechanism("a\0b", "pw"), TypeError);
  assert.throws(() => new PlainMechanism("tim", "p\0w"), TypeError);
  assert.throws(() => new PlainMechanism("tim", ""), TypeError);
});

test("start() may be called only once", () => {
  const m = new PlainMechanism("tim", "pw");
  m.start();
  assert.throws(() => m.start(), TypeError);
});

// ---------------------------------------------------------------- LOGIN

function login(prompts: string[]): string[] {
  const m = new LoginMechanism("tim", "secret");
  assert.equal(m.start(), null);
  const out = prompts.map((p) => fromUtf8(m.step(utf8(p))));
  assert.equal(m.done, true);
  return out;
}

test("LOGIN answers Username: then Password:", () => {
  assert.deepEqual(login(["Username:", "Password:"]), ["tim", "secret"]);
  // The same exchange with the prompts base64-decoded from the wire.
  assert.deepEqual(
    login([fromUtf8(base64Decode("VXNlcm5hbWU6")), fromUtf8(base64Decode("UGFzc3dvcmQ6"))]),
    ["tim", "secret"],
  );
});

test("LOGIN tolerates prompt variations: case, NUL-terminated, 'User Name', empty, unknown text", () => {
  assert.deepEqual(login(["username:", "password:"]), ["tim", "secret"]);
  assert.deepEqual(login(["User Name\0", "Password\0"]), ["tim", "secret"]);
  assert.deepEqual(login(["", ""]), ["tim", "secret"]);
  assert.deepEqual(login(["Benutzername:", "Passwort:"]), ["tim", "secret"]);
  assert.deepEqual(login(["Who are you?", "Prove it"]), ["tim", "secret"]);
  assert.deepEqual(login(["login:", "pass"]), ["tim", "secret"]);
});

test("LOGIN rejects a challenge after the password", () => {
  const m = new LoginMechanism("tim", "secret");
  m.start();
  m.step(utf8("Username:"));
  m.step(utf8("Password:"));
  saslThrows(() => m.step(utf8("Password:")), "bad-challenge");
});

test("LOGIN stops a server that keeps asking for the user name", () => {
  const m = new LoginMechanism("tim", "secret");
  m.start();
  for (let i = 0; i < 3; i++) assert.equal(fromUtf8(m.step(utf8("Username:"))), "tim");
  saslThrows(() => m.step(utf8("Username:")), "bad-challenge", /kept prompting/);
});

// ---------------------------------------------------------------- CRAM-MD5

test("CRAM-MD5 answers the RFC 2195 example byte for byte", () => {
  const m = new CramMd5Mechanism("tim", "tanstaaftanstaaf");
  assert.equal(m.clientFirst, false);
  assert.equal(m.start(), null);
  const challenge = base64Decode("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+");
  assert.equal(fromUtf8(challenge), "<1896.697170952@postoffice.reston.mci.net>");
  const response = m.step(challenge);
  assert.equal(fromUtf8(response), "tim b913a602c7eda7a495b4e6e7334d3890");
  assert.equal(base64Encode(response), "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
  assert.equal(m.done, true);
});

test("CRAM-MD5 rejects an empty challenge and a second challenge", () => {
  const m = new CramMd5Mechanism("tim", "tanstaaftanstaaf");
  m.start();
  saslThrows(() => m.step(new Uint8Array(0)), "bad-challenge", /empty challenge/);
  m.step(utf8("<1.2@x>"));
  saslThrows(() => m.step(utf8("<1.2@x>")), "bad-challenge");
});

// ---------------------------------------------------------------- XOAUTH2 / OAUTHBEARER

test("XOAUTH2 initial response matches Google's published example", () => {
  const m = new XOAuth2Mechanism("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
  assert.equal(
    base64Encode(m.start()!),
    "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==",
  );
  assert.equal(m.done, false);
  assert.equal(m.failure, null);
});

test("XOAUTH2 answers the error challenge with an empty response and surfaces the JSON", () => {
  const m = new XOAuth2Mechanism("someuser@example.com", "ya29.secret-token");
  m.start();
  const challenge = base64Decode(
    "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1hYyIsInNjb3BlIjoiaHR0cHM6Ly9tYWlsLmdvb2dsZS5jb20vIn0K",
  );
  const response = m.step(challenge);
  assert.equal(response.length, 0, "the client sends an empty line");
  assert.equal(m.done, true);
  const f = m.failure;
  assert.ok(f instanceof SaslError && f instanceof AuthError && f instanceof SmtpError);
  assert.equal(f.phase, "auth");
  assert.equal(f.reason, "server-error");
  assert.equal(f.oauth?.status, "401");
  assert.equal(f.oauth?.schemes, "bearer mac");
  assert.equal(f.oauth?.scope, "https://mail.google.com/");
  assert.match(f.message, /status "401"/);
  assert.ok(!f.message.includes("secret-token"));
  saslThrows(() => m.step(challenge), "bad-challenge", /after the exchange was complete/);
});

test("OAUTHBEARER initial response matches RFC 7628 §4.1", () => {
  const m = new OAuthBearerMechanism("user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", {
    host: "server.example.com",
    port: 143,
  });
  const ir = m.start()!;
  assert.equal(
    base64Encode(ir),
    "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB",
  );
  assert.equal(
    fromUtf8(new OAuthBearerMechanism("a,b=c", "t").start()!),
    "n,a=a=2Cb=3Dc,\x01auth=Bearer t\x01\x01",
    "host and port are optional; the authzid is escaped",
  );
});

test("OAUTHBEARER answers the RFC 7628 §4.3 error challenge with 0x01 (AQ==) and surfaces the JSON", () => {
  const m = createMechanism("oauthbearer", { user: "user@example.com", token: "tok", host: "server.example.com", port: 587 }, noRandom);
  m.start();
  const response = m.step(
    base64Decode(
      "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0=",
    ),
  );
  assert.equal(base64Encode(response), "AQ==");
  assert.equal(m.failure?.oauth?.status, "invalid_token");
  assert.equal(m.failure?.oauth?.scope, "example_scope");
  assert.equal(m.failure?.oauth?.openidConfiguration, "https://example.com/.well-known/openid-configuration");
  assert.match(m.failure!.message, /invalid_token/);
});

test("OAuth error challenges that are not JSON are surfaced as text", () => {
  const m = new XOAuth2Mechanism("u@example.com", "t");
  m.start();
  m.step(utf8("Token expired\r\n"));
  assert.equal(m.failure?.oauth?.raw, "Token expired");
  assert.equal(m.failure?.oauth?.status, undefined);
  assert.match(m.failure!.message, /"Token expired"/);
});

test("bearer mechanisms refuse control characters that would forge key/value pairs", () => {
  assert.throws(() => new XOAuth2Mechanism("u\x01auth=x", "t"), TypeError);
  assert.throws(() => new OAuthBearerMechanism("u", "t\x01host=evil"), TypeError);
  assert.throws(() => new OAuthBearerMechanism("u", "t", { port: 70000 }), RangeError);
  assert.throws(() => createMechanism("XOAUTH2", { user: "u", password: "pw" }, noRandom), TypeError);
});

// ---------------------------------------------------------------- factory and errors

test("createMechanism() builds every supported mechanism, case-insensitively", () => {
  const random = {
    nonce: () => "fyko+d2lbbFgONRv9qkxdawL",
    clientChallenge: () => new Uint8Array(8),
    now: () => 0,
  };
  for (const name of SUPPORTED_MECHANISMS) {
    const m: SaslMechanism = createMechanism(name.toLowerCase(), { user: "u", password: "p", token: "t" }, random);
    assert.equal(m.name, name);
    assert.equal(m.done, false);
    assert.equal(m.failure, null);
  }
  assert.throws(() => createMechanism("GSSAPI", { user: "u", password: "p" }, random), RangeError);
  assert.throws(() => createMechanism("PLAIN", { user: "u" }, random), /PLAIN needs a non-empty password/);
  assert.throws(() => createMechanism("NTLM", { user: "u", password: "p" }, noRandom), TypeError);
});

test("no mechanism puts the password or token in an error message or in inspect output", async () => {
  const password = "hunter2-\u00e9";
  const token = "ya29.TOKEN";
  const { inspect } = await import("node:util");
  const cases: Array<[string, Uint8Array[]]> = [
    ["PLAIN", [utf8("junk")]],
    ["LOGIN", [utf8("Username:"), utf8("Password:"), utf8("Password:")]],
    ["CRAM-MD5", [new Uint8Array(0)]],
    ["SCRAM-SHA-256", [utf8("r=x,s=QSXCR+Q6sek8bf92,i=4096")]],
    ["NTLM", [utf8("not NTLM")]],
    ["XOAUTH2", [utf8("{}"), utf8("{}")]],
  ];
  for (const [name, challenges] of cases) {
    const m = createMechanism(name, { user: "tim", password, token }, {
      nonce: () => "abcdefghijkl",
      clientChallenge: () => new Uint8Array(8),
      now: () => 0,
    });
    assert.ok(!inspect(m, { showHidden: true, depth: 5 }).includes(password), `${name} inspect`);
    assert.ok(!inspect(m, { showHidden: true, depth: 5 }).includes(token), `${name} inspect`);
    m.start();
    let err: unknown = null;
    try {
      for (const c of challenges) m.step(c);
    } catch (e) {
      err = e;
    }
    const e = (err ?? m.failure) as Error | null;
    assert.ok(e instanceof SaslError, `${name} fails`);
    for (const secret of [password, token, base64Encode(utf8(password))]) {
      assert.ok(!e.message.includes(secret), `${name}: ${e.message}`);
      assert.ok(!inspect(e).includes(secret), `${name}: inspect(error)`);
    }
  }
});

// ---------------------------------------------------------------- chooseMechanisms

const PW = { password: true, token: false };
const TOKEN = { password: false, token: true };
const BOTH = { password: true, token: true };

test("chooseMechanisms() orders SCRAM-SHA-256 > SCRAM-SHA-1 > CRAM-MD5 > PLAIN > LOGIN", () => {
  const offered = ["LOGIN", "PLAIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "GSSAPI", "NTLM"];
  assert.deepEqual(chooseMechanisms(offered, { have: PW }), ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"]);
  assert.deepEqual(chooseMechanisms(["login", "plain"], { have: PW }), ["PLAIN", "LOGIN"]);
  assert.deepEqual(chooseMechanisms(["CRAM-MD5", "PLAIN", "LOGIN"], { have: PW }), ["CRAM-MD5", "PLAIN", "LOGIN"]);
});

test("chooseMechanisms() never picks -PLUS variants or unknown mechanisms", () => {
  assert.deepEqual(chooseMechanisms(["SCRAM-SHA-256-PLUS", "GSSAPI", "PLAIN"], { have: PW }), ["PLAIN"]);
  assert.deepEqual(chooseMechanisms(["GSSAPI", "EXTERNAL"], { have: BOTH }), []);
});

test("chooseMechanisms() uses NTLM only when no other password mechanism is offered", () => {
  assert.deepEqual(chooseMechanisms(["NTLM", "GSSAPI"], { have: PW }), ["NTLM"]);
  assert.deepEqual(chooseMechanisms(["NTLM", "LOGIN"], { have: PW }), ["LOGIN"]);
  assert.deepEqual(chooseMechanisms(["NTLM"], { have: TOKEN }), []);
});

test("chooseMechanisms() uses token mechanisms only with a token: OAUTHBEARER > XOAUTH2, before passwords", () => {
  const offered = ["PLAIN", "XOAUTH2", "OAUTHBEARER", "LOGIN"];
  assert.deepEqual(chooseMechanisms(offered, { have: TOKEN }), ["OAUTHBEARER", "XOAUTH2"]);
  assert.deepEqual(chooseMechanisms(offered, { have: PW }), ["PLAIN", "LOGIN"]);
  assert.deepEqual(chooseMechanisms(offered, { have: BOTH }), ["OAUTHBEARER", "XOAUTH2", "PLAIN", "LOGIN"]);
  assert.deepEqual(chooseMechanisms(offered, { have: { password: false, token: false } }), []);
});

test("chooseMechanisms() with a forced mechanism returns only it, if offered", () => {
  const offered = ["PLAIN", "LOGIN", "NTLM"];
  assert.deepEqual(chooseMechanisms(offered, { forced: "login", have: PW }), ["LOGIN"]);
  assert.deepEqual(chooseMechanisms(offered, { forced: "NTLM", have: PW }), ["NTLM"]);
  assert.deepEqual(chooseMechanisms(offered, { forced: "CRAM-MD5", have: PW }), []);
  assert.throws(() => chooseMechanisms(offered, { forced: "KERBEROS_V4", have: PW }), RangeError);
});
