/**
 * SMTP AUTH against servers nobody here wrote: Postfix with Dovecot SASL
 * (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256 on a submission port
 * with STARTTLS required) and aiosmtpd with an OAuth handler (XOAUTH2,
 * OAUTHBEARER). The trace at full verbosity is searched for secrets.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SmtpClient } from "../src/default_client.ts";
import { AuthError, ReplyError, SmtpError, TlsError } from "../src/errors.ts";
import type { ClientOptions, TraceEvent } from "../src/options.ts";
import { readOAuthAttempts, servers, waitForMaildirMessage, waitForOAuthMessage } from "./support/servers.ts";

const S = servers();
const USER = `user@${S.domain}`;
const alice = S.users.alice;
let seq = 0;
const token = (what: string) => `${what}-${Date.now().toString(36)}-${++seq}`;
const quick = { connect: 5000, greeting: 5000, tls: 5000, mail: 5000, rcpt: 5000, data: 5000, dataBlock: 5000, dataEnd: 10000 };

function submission(extra: Partial<ClientOptions> = {}): ClientOptions {
  return {
    host: S.host,
    port: S.ports.submission,
    tls: "starttls-required",
    servername: S.tls.serverName,
    ca: S.tls.ca,
    timeouts: quick,
    auth: { user: alice.user, pass: alice.password },
    ...extra,
  };
}

function message(subject: string): string {
  return `From: ${alice.user}\r\nTo: ${USER}\r\nSubject: ${subject}\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\nMessage-ID: <${subject}@smtpsend.test>\r\n\r\nhello\r\n`;
}

/** Every form a secret could leak in: itself, base64 of it, and of the usual SASL framings. */
function secretForms(user: string, secret: string): string[] {
  const b64 = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));
  return [
    secret,
    b64(secret),
    b64(`\0${user}\0${secret}`),
    b64(`user=${user}\x01auth=Bearer ${secret}\x01\x01`),
    b64(`n,a=${user},\x01auth=Bearer ${secret}\x01\x01`),
  ];
}

function assertNoSecrets(events: readonly TraceEvent[], forms: readonly string[]): void {
  assert.ok(events.some((e) => e.direction === "send" && e.line.startsWith("AUTH ")), "the trace holds no AUTH command to check");
  const all = events.map((e) => e.line).join("\n");
  for (const f of forms) assert.ok(!all.includes(f), `the trace contains a secret form ${JSON.stringify(f.slice(0, 6))}…`);
}

describe("Postfix + Dovecot SASL", () => {
  for (const mech of ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]) {
    test(`AUTH ${mech} forced: authenticates, delivers, and the trace holds no secret`, async () => {
      const events: TraceEvent[] = [];
      const subject = token(mech);
      const client = await SmtpClient.connect(submission({
        auth: { user: alice.user, pass: alice.password, method: mech },
        trace: (e) => events.push(e),
      }));
      try {
        assert.equal(client.serverInfo.authenticated, mech);
        await client.send({ from: alice.user, to: [USER], data: message(subject) });
      } finally {
        await client.quit();
      }
      await waitForMaildirMessage(USER, (m) => m.header("subject") === subject);
      assert.ok(events.some((e) => e.direction === "send" && e.line.startsWith(`AUTH ${mech}`)));
      assertNoSecrets(events, secretForms(alice.user, alice.password));
    });
  }

  test("without a forced mechanism the strongest offered (SCRAM-SHA-256) is used", async () => {
    const client = await SmtpClient.connect(submission());
    try {
      assert.deepEqual([...(client.capabilities?.auth ?? [])].sort(), [...S.mechanisms].sort());
      assert.equal(client.serverInfo.authenticated, "SCRAM-SHA-256");
    } finally {
      await client.quit();
    }
  });

  test("a wrong password fails permanently after SCRAM and PLAIN (two attempts, not one per mechanism)", async () => {
    const events: TraceEvent[] = [];
    await assert.rejects(
      SmtpClient.connect(submission({ auth: { user: alice.user, pass: "wrong-password" }, trace: (e) => events.push(e) })),
      (e: unknown) => e instanceof ReplyError && e.code === 535 && e.phase === "auth" && !e.temporary,
    );
    const tried = events.filter((e) => e.direction === "send" && e.line.startsWith("AUTH ")).map((e) => e.line.split(" ")[1]);
    assert.deepEqual(tried, ["SCRAM-SHA-256", "PLAIN"]);
    assertNoSecrets(events, secretForms(alice.user, "wrong-password"));
  });

  test("fallback: when the server stores only a hash, SCRAM fails and PLAIN succeeds in the same session", async () => {
    const carol = S.users.carol;
    const events: TraceEvent[] = [];
    const subject = token("fallback");
    const client = await SmtpClient.connect(submission({ auth: { user: carol.user, pass: carol.password }, trace: (e) => events.push(e) }));
    try {
      assert.equal(client.serverInfo.authenticated, "PLAIN");
      await client.send({ from: carol.user, to: [USER], data: message(subject) });
    } finally {
      await client.quit();
    }
    const tried = events.filter((e) => e.direction === "send" && e.line.startsWith("AUTH ")).map((e) => e.line.split(" ")[1]);
    assert.deepEqual(tried, ["SCRAM-SHA-256", "PLAIN"]);
    assert.ok(events.some((e) => e.direction === "recv" && e.line.startsWith("535")));
    await waitForMaildirMessage(USER, (m) => m.header("subject") === subject);
    assertNoSecrets(events, secretForms(carol.user, carol.password));
  });

  test("a forced mechanism the server does not offer is an AuthError before any AUTH is sent", async () => {
    const events: TraceEvent[] = [];
    await assert.rejects(
      SmtpClient.connect(submission({ auth: { user: alice.user, pass: alice.password, method: "NTLM" }, trace: (e) => events.push(e) })),
      (e: unknown) => e instanceof AuthError && /NTLM/.test((e as Error).message),
    );
    assert.ok(!events.some((e) => e.direction === "send" && e.line.startsWith("AUTH")));
  });

  test("MAIL without AUTH on the submission port gets 530: a permanent ReplyError in phase mail", async () => {
    const client = await SmtpClient.connect(submission({ auth: undefined }));
    try {
      await assert.rejects(
        client.send({ from: alice.user, to: [USER], data: message(token("noauth")) }),
        (e: unknown) => e instanceof ReplyError && e.code === 530 && e.phase === "mail",
      );
    } finally {
      await client.quit();
    }
  });

  test("credentials are refused on a cleartext connection unless explicitly allowed", async () => {
    const events: TraceEvent[] = [];
    const base: ClientOptions = {
      host: S.host,
      port: S.ports.clearAuth,
      tls: "starttls-opportunistic",
      timeouts: quick,
      auth: { user: alice.user, pass: alice.password },
      trace: (e) => events.push(e),
    };
    await assert.rejects(SmtpClient.connect(base), (e: unknown) => e instanceof AuthError && /without TLS/.test((e as Error).message));
    assert.ok(!events.some((e) => e.direction === "send" && e.line.startsWith("AUTH")), "no AUTH was sent");
    const client = await SmtpClient.connect({ ...base, allowPlaintextAuth: true });
    try {
      assert.ok(client.serverInfo.authenticated);
    } finally {
      await client.quit();
    }
  });

  test("credentials are refused when the certificate was not verified (tlsVerify: false)", async () => {
    await assert.rejects(
      SmtpClient.connect(submission({ ca: undefined, tlsVerify: false })),
      (e: unknown) => (e instanceof AuthError && /not verified/.test((e as Error).message)) || e instanceof TlsError,
    );
  });

  test("a client certificate from the test CA is accepted; without one the server refuses", async () => {
    const base: ClientOptions = {
      host: S.host,
      port: S.ports.clientCert,
      tls: "starttls-required",
      servername: S.tls.serverName,
      ca: S.tls.ca,
      timeouts: quick,
    };
    const subject = token("clientcert");
    if (typeof (globalThis as { Deno?: unknown }).Deno !== "undefined") {
      // Deno's native STARTTLS cannot present a client certificate: the adapter must say so, not connect without it.
      await assert.rejects(
        SmtpClient.connect({ ...base, cert: S.tls.clientCert, key: S.tls.clientKey }),
        (e: unknown) => e instanceof TlsError && /client certificate/i.test((e as Error).message),
      );
      return;
    }
    const client = await SmtpClient.connect({ ...base, cert: S.tls.clientCert, key: S.tls.clientKey });
    try {
      await client.send({ from: "sender@example.org", to: [USER], data: message(subject) });
    } finally {
      await client.quit();
    }
    await waitForMaildirMessage(USER, (m) => m.header("subject") === subject);
    await assert.rejects(
      (async () => {
        const c = await SmtpClient.connect(base);
        try {
          await c.send({ from: "sender@example.org", to: [USER], data: message(token("nocert")) });
        } finally {
          await c.quit();
        }
      })(),
      (e: unknown) => e instanceof ReplyError && e.code === 421 && /no client certificate/i.test(e.message),
    );
  });
});

describe("aiosmtpd OAuth (XOAUTH2, OAUTHBEARER)", () => {
  const oauth = (method: string, tokenValue: string, extra: Partial<ClientOptions> = {}): ClientOptions => ({
    host: S.host,
    port: S.ports.oauth,
    tls: "starttls-required",
    servername: S.tls.serverName,
    ca: S.tls.ca,
    timeouts: quick,
    auth: { user: S.oauth.user, token: tokenValue, method },
    ...extra,
  });

  for (const method of ["XOAUTH2", "OAUTHBEARER"]) {
    test(`${method} with a valid token authenticates and sends; the trace holds no token`, async () => {
      const events: TraceEvent[] = [];
      const subject = token(method);
      const client = await SmtpClient.connect(oauth(method, S.oauth.token, { trace: (e) => events.push(e) }));
      try {
        assert.equal(client.serverInfo.authenticated, method);
        await client.send({ from: S.oauth.user, to: [USER], data: message(subject) });
      } finally {
        await client.quit();
      }
      const got = await waitForOAuthMessage((m) => m.header("subject") === subject);
      assert.equal(got.envelope.mechanism, method);
      assertNoSecrets(events, secretForms(S.oauth.user, S.oauth.token));
    });

    test(`${method} with a bad token surfaces the server's JSON error and finishes the exchange correctly`, async () => {
      const bad = `bad-${token("tok")}`;
      const events: TraceEvent[] = [];
      await assert.rejects(
        SmtpClient.connect(oauth(method, bad, { trace: (e) => events.push(e) })),
        // The server's JSON error (RFC 7628 status, or Google-style HTTP status) is in the message.
        (e: unknown) => e instanceof ReplyError && e.phase === "auth" && /status "(invalid_token|401)"/.test((e as Error).message),
      );
      const attempt = readOAuthAttempts().filter((a) => a.mechanism === method && !a.ok).at(-1);
      assert.ok(attempt, "the server recorded the failed attempt");
      assert.equal(attempt.errorAck, method === "OAUTHBEARER" ? "AQ==" : "", "the error challenge was answered as the RFC says");
      assertNoSecrets(events, secretForms(S.oauth.user, bad));
    });
  }

  test("with a token and no forced mechanism, OAUTHBEARER is preferred", async () => {
    const client = await SmtpClient.connect(oauth(undefined as unknown as string, S.oauth.token));
    try {
      assert.equal(client.serverInfo.authenticated, "OAUTHBEARER");
    } finally {
      await client.quit();
    }
  });
});
