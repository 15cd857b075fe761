/**
 * The CLI speaks CLI: every failure a command-line user can run into names the
 * flag or configuration keyword that fixes it (msmtp keywords for an msmtprc
 * account), never a library option name (`tls: "implicit"`,
 * `allowPlaintextAuth`, `"ca"`, `auth.method`, `tlsVerify`, …) and never raw
 * TLS-library text.
 *
 * The real command runs as a child process on the runtime running this file
 * (`node` + the built bin or tsx, `bun cli.ts`, `deno run -A cli.ts`) against
 * the real test servers (Postfix + Dovecot, the aiosmtpd OAuth server), with
 * its own empty HOME. Plus the `--user` password look-up in-process with the
 * runtime's real connector, and errorLine()/cliRemedy() on their own.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { detectRuntime, runtime } from "../deps.ts";
import { main } from "../src/cli/main.ts";
import { cliRemedy, errorLine, exitCodeFor } from "../src/cli/errors.ts";
import { AuthError, SmtpError, type SmtpErrorHint, TimeoutError, TlsError } from "../src/errors.ts";
import { SmtpClient } from "../src/default_client.ts";
import { type ClientOptions, SLOW_GREETING_MS, type SlowGreeting } from "../src/options.ts";
import { FakeHost } from "./support/fake_host.ts";
import { servers, waitForMaildirMessage } from "./support/servers.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const RT = detectRuntime();

/**
 * Library option names and library-only wording that must never reach a CLI
 * user, and the raw texts of OpenSSL (Node), BoringSSL (Bun) and rustls (Deno)
 * for a handshake with a plain-text server.
 */
const LIBRARY_WORDS: readonly RegExp[] = [
  /tls: "/,
  /\ballowPlaintextAuth\b/,
  /\btlsVerify\b/,
  /verify: false/,
  /"ca"/,
  /\bauth\.method\b/,
  /"auth\.user"/,
  /\btimeouts\b/,
  /"servername"/,
  /nodeRuntime\(\)/,
  /Node adapter/,
  /Option "/,
];
const RAW_TLS_TEXT = /SSL routines|ssl3_get_record|WRONG_VERSION_NUMBER|wrong version number|InvalidContentType|OPENSSL_internal/;

function assertSpeaksCli(stderr: string): void {
  for (const word of LIBRARY_WORDS) assert.doesNotMatch(stderr, word, `library wording on stderr:\n${stderr}`);
  assert.doesNotMatch(stderr, RAW_TLS_TEXT, `raw TLS library text on stderr:\n${stderr}`);
}

/** The command line that runs the CLI on this runtime. */
function cliCommand(): string[] {
  const exe = process.execPath;
  if (RT === "deno") return [exe, "run", "-A", "--quiet", join(ROOT, "cli.ts")];
  if (RT === "bun") return [exe, join(ROOT, "cli.ts")];
  const bin = join(ROOT, "bin/smtpsend.js");
  return existsSync(bin) ? [exe, bin] : [exe, "--import", "tsx", join(ROOT, "cli.ts")];
}

const base = mkdtempSync(join(tmpdir(), "smtpsend-hints-"));

interface Run {
  status: number | null;
  stderr: string;
}

/** Runs the CLI with a fresh HOME holding `files` (mode 0600), the message on stdin. */
function smtpsend(args: string[], files: Record<string, string> = {}): Promise<Run> {
  const home = mkdtempSync(join(base, "home-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(home, name), text, { mode: 0o600 });
  const [cmd, ...pre] = cliCommand();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, [...pre, ...args, "-f", "me@smtpsend.test", "user@smtpsend.test"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, USER: "tester", NO_COLOR: "1" },
      stdio: ["pipe", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (c: Uint8Array) => (stderr += new TextDecoder().decode(c)));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stderr });
    });
    child.stdin.on("error", () => {});
    child.stdin.end("Subject: hints\n\nbody\n");
  });
}

const S = servers();
const H = S.host;
const port = (p: number) => String(p);

describe(`the CLI names its flags and keywords (${RT}, real servers)`, () => {
  after(() => rmSync(base, { recursive: true, force: true }));

  test("--tls implicit on a STARTTLS port: the hint (--tls starttls), not the TLS library's text", async () => {
    const r = await smtpsend(["--host", H, "--port", port(S.ports.starttls), "--tls", "implicit", "--ca-file", S.tls.caFile]);
    assert.equal(r.status, 69, r.stderr);
    assert.match(r.stderr, /^smtpsend: TLS handshake with "127\.0\.0\.1" failed: the server answered in plain text, not TLS; .*use --tls starttls \(configuration file: tls starttls\)$/m);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assertSpeaksCli(r.stderr);
  });

  test("tls on + tls_starttls off on a plain port (msmtprc): the msmtp keyword that fixes it", async () => {
    const rc = `account default\nhost ${H}\nport ${S.ports.plain}\ntls on\ntls_starttls off\ntls_trust_file ${S.tls.caFile}\n`;
    const r = await smtpsend([], { ".msmtprc": rc });
    assert.equal(r.status, 69, r.stderr);
    assert.match(r.stderr, /use --tls starttls \(msmtprc: tls on and tls_starttls on\)/);
    assertSpeaksCli(r.stderr);
  });

  test("a certificate from an unknown CA: how to trust it (--ca-file, ca_file)", async () => {
    const r = await smtpsend(["--host", H, "--port", port(S.ports.unknownCa), "--tls", "starttls", "--ca-file", S.tls.caFile]);
    assert.equal(r.status, 69, r.stderr);
    assert.match(r.stderr, /^smtpsend: Certificate for "127\.0\.0\.1" was not accepted: .*; to trust it, .*--ca-file FILE \(configuration file: ca_file FILE\)$/m);
    assertSpeaksCli(r.stderr);
  });

  test("a certificate from an unknown CA, msmtprc account: tls_trust_file", async () => {
    const rc = `account default\nhost ${H}\nport ${S.ports.unknownCa}\ntls on\n`;
    const r = await smtpsend([], { ".msmtprc": rc });
    assert.equal(r.status, 69, r.stderr);
    assert.match(r.stderr, /--ca-file FILE \(msmtprc: tls_trust_file FILE\)/);
    assertSpeaksCli(r.stderr);
  });

  test("a certificate for another name: which name to use (--host, tls_host_override)", async () => {
    const r1 = await smtpsend(["--host", H, "--port", port(S.ports.wrongName), "--tls", "starttls", "--ca-file", S.tls.caFile]);
    assert.equal(r1.status, 69, r1.stderr);
    assert.match(r1.stderr, /^smtpsend: Certificate for "127\.0\.0\.1" was not accepted: .*; the certificate was issued for another name: .*--host NAME \(configuration file: hostname NAME\)$/m);
    assert.doesNotMatch(r1.stderr, /: ;/);
    assertSpeaksCli(r1.stderr);
    const rc = `account default\nhost ${H}\nport ${S.ports.wrongName}\ntls on\ntls_trust_file ${S.tls.caFile}\n`;
    const r2 = await smtpsend([], { ".msmtprc": rc });
    assert.equal(r2.status, 69, r2.stderr);
    assert.match(r2.stderr, /\(msmtprc: host NAME, or tls_host_override NAME\)/);
    assertSpeaksCli(r2.stderr);
  });

  test("STARTTLS required but not offered: --tls implicit or, on a trusted network, starttls-opportunistic", async () => {
    const r = await smtpsend(["--host", H, "--port", port(S.ports.plain), "--tls", "starttls"]);
    assert.equal(r.status, 69, r.stderr);
    assert.match(r.stderr, /does not offer STARTTLS, and TLS is required; .*--tls implicit .*--tls starttls-opportunistic/);
    assertSpeaksCli(r.stderr);
  });

  test("credentials without TLS: --tls starttls, or --allow-plaintext-auth (allow_plaintext_auth)", async () => {
    const r = await smtpsend([
      "--host", H, "--port", port(S.ports.clearAuth), "--tls", "none", "--user", S.users.bob.user, "--password-eval", "echo unused",
    ]);
    assert.equal(r.status, 77, r.stderr);
    assert.match(r.stderr, /over a connection without TLS; use --tls starttls .*--allow-plaintext-auth \(configuration file: allow_plaintext_auth on\)/);
    assertSpeaksCli(r.stderr);
  });

  test("credentials with the certificate check off: --ca-file instead of --tls-no-verify", async () => {
    const r = await smtpsend([
      "--host", H, "--port", port(S.ports.submission), "--tls", "starttls", "--ca-file", S.tls.caFile, "--tls-no-verify",
      "--user", S.users.bob.user, "--password-eval", "echo unused",
    ]);
    assert.equal(r.status, 77, r.stderr);
    assert.match(r.stderr, /certificate was not verified; the certificate check is off \(--tls-no-verify\): trust the certificate with --ca-file FILE/);
    assertSpeaksCli(r.stderr);
  });

  test("a forced mechanism the server does not offer: --auth MECHANISM (auth)", async () => {
    const r = await smtpsend([
      "--host", H, "--port", port(S.ports.oauth), "--tls", "starttls", "--ca-file", S.tls.caFile,
      "--user", S.oauth.user, "--auth", "plain", "--password-eval", "echo unused",
    ]);
    assert.equal(r.status, 77, r.stderr);
    assert.match(r.stderr, /does not offer AUTH PLAIN .*; choose one it offers with --auth MECHANISM, or --auth on .*\(configuration file: auth MECHANISM\)/);
    assertSpeaksCli(r.stderr);
  });

  test("--user without a password and no terminal: the credentials error (77) naming how to give one; nothing sent", async () => {
    const r = await smtpsend(["--host", H, "--port", port(S.ports.submission), "--tls", "starttls", "--ca-file", S.tls.caFile, "--user", S.users.bob.user]);
    assert.equal(r.status, 77, r.stderr);
    assert.match(r.stderr, new RegExp(`^smtpsend: No password for ${S.users.bob.user.replace(".", "\\.")} at 127\\.0\\.0\\.1:${S.ports.submission}: `));
    assert.match(r.stderr, /--password-eval COMMAND/);
    assert.match(r.stderr, new RegExp(`"machine 127\\.0\\.0\\.1 port ${S.ports.submission} login ${S.users.bob.user.replace(".", "\\.")} password PASSWORD" to ~/\\.authinfo`));
    // Refused before connecting: not the server's 530 after a session without AUTH.
    assert.doesNotMatch(r.stderr, /530|requires authentication/);
    assertSpeaksCli(r.stderr);
  });

  test("an implicit-TLS port without --tls implicit: a notice after a few seconds, waiting on to the deadline", async () => {
    const r = await smtpsend(["--host", H, "--port", port(S.ports.submissions), "--tls", "starttls", "--timeout", "7"]);
    assert.equal(r.status, 75, r.stderr);
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 2, r.stderr);
    assert.match(lines[0]!, new RegExp(`^smtpsend: no greeting from 127\\.0\\.0\\.1:${S.ports.submissions} after 5 s; .*use --tls implicit \\(configuration file: tls implicit\\); still waiting \\(up to 7 s\\)$`));
    // The notice did not end the wait: the session ran into the 7 s greeting deadline.
    assert.match(lines[1]!, /^smtpsend: No greeting from .* within 7000 ms; .*use --tls implicit/);
    assertSpeaksCli(r.stderr);
  });

  test("the same from an msmtprc account: the msmtp keywords (tls_starttls off)", async () => {
    const rc = `account default\nhost ${H}\nport ${S.ports.submissions}\ntls on\ntls_trust_file ${S.tls.caFile}\ntimeout 6\n`;
    const r = await smtpsend([], { ".msmtprc": rc });
    assert.equal(r.status, 75, r.stderr);
    assert.match(r.stderr, /^smtpsend: no greeting from .* after 5 s; .*use --tls implicit \(msmtprc: tls on and tls_starttls off\); still waiting/m);
    assertSpeaksCli(r.stderr);
  });

  test("a greeting deadline within the notice delay: no notice, the error alone carries the hint", async () => {
    const r = await smtpsend(["--host", H, "--port", port(S.ports.submissions), "--tls", "starttls", "--timeout", "2"]);
    assert.equal(r.status, 75, r.stderr);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /within 2000 ms; .*use --tls implicit/);
    assertSpeaksCli(r.stderr);
  });

  test("--user looks the password up in ~/.authinfo and authenticates up front (real submission port)", async () => {
    const rt = await runtime();
    const tok = `hint-${RT}-${Date.now().toString(36)}`;
    const u = S.users.alice;
    const host = new FakeHost({
      files: {
        "/home/user/.authinfo": { text: `machine ${H} port ${S.ports.submission} login ${u.user} password ${u.password}\n`, mode: 0o600 },
        "/ca.pem": { text: S.tls.ca, mode: 0o644 },
      },
      stdin: `From: ${u.user}\nSubject: ${tok}\n\nbody\n`,
    });
    const code = await main(
      ["-v", "--host", H, "--port", port(S.ports.submission), "--tls", "starttls", "--ca-file", "/ca.pem", "--user", u.user, "user@smtpsend.test"],
      { host, connector: rt.connector },
    );
    assert.equal(code, 0, host.stderr);
    assert.match(host.stderr, /-> AUTH /);
    assert.doesNotMatch(host.stderr, /530/);
    assert.equal(host.stderr.match(/-- connecting to/g)?.length, 1);
    assert.ok(!host.stderr.includes(u.password));
    assert.ok(await waitForMaildirMessage("user", (m) => m.header("subject") === tok));
  });

  test("--user at a terminal: the password is asked for, then AUTH up front", async () => {
    const rt = await runtime();
    const tok = `hint-${RT}-${Date.now().toString(36)}-prompt`;
    const u = S.users.alice;
    const host = new FakeHost({
      files: { "/ca.pem": { text: S.tls.ca, mode: 0o644 } },
      stdin: `From: ${u.user}\nSubject: ${tok}\n\nbody\n`,
      terminals: ["stderr"],
      prompts: [u.password, "n"],
    });
    const code = await main(
      ["--host", H, "--port", port(S.ports.submission), "--tls", "starttls", "--ca-file", "/ca.pem", "--user", u.user, "user@smtpsend.test"],
      { host, connector: rt.connector },
    );
    assert.equal(code, 0, host.stderr);
    assert.match(host.questions[0]!.question, new RegExp(`^SMTP password for ${u.user.replace(".", "\\.")} at 127\\.0\\.0\\.1:${S.ports.submission}: `));
    assert.equal(host.questions[0]!.echo, false);
    assert.ok(await waitForMaildirMessage("user", (m) => m.header("subject") === tok));
  });
});

describe(`library errors carry the hint the CLI words (${RT}, real Postfix)`, () => {
  const tls = { servername: S.tls.serverName, ca: S.tls.ca };
  const quick = { connect: 10_000, tls: 10_000, mail: 10_000 };
  const failure = async (options: Omit<ClientOptions, "host">): Promise<SmtpError> => {
    try {
      const c = await SmtpClient.connect({ timeouts: quick, ...options, host: H });
      await c.quit();
    } catch (e) {
      assert.ok(e instanceof SmtpError, String(e));
      return e;
    }
    assert.fail("connect() succeeded");
  };

  test("implicit TLS on a STARTTLS port: plain-smtp-port, the runtime's TLS text only in the cause", async () => {
    const e = await failure({ port: S.ports.starttls, tls: "implicit", ...tls });
    assert.ok(e instanceof TlsError);
    assert.equal(e.hint, "plain-smtp-port");
    assert.equal(e.problem, 'TLS handshake with "localhost" failed: the server answered in plain text, not TLS');
    assert.match(e.message, /; .*use tls: "starttls-required"$/);
    assert.match(String((e.cause as Error)?.message), RAW_TLS_TEXT);
  });

  test("unknown CA and wrong name: certificate-untrusted and certificate-name", async () => {
    const untrusted = await failure({ port: S.ports.unknownCa, tls: "starttls-required", ...tls });
    assert.equal(untrusted.hint, "certificate-untrusted");
    const name = await failure({ port: S.ports.wrongName, tls: "starttls-required", ...tls });
    assert.equal(name.hint, "certificate-name");
  });

  test("onSlowGreeting is called once on the implicit-TLS port, and the session waits on to its deadline", async () => {
    const calls: SlowGreeting[] = [];
    const e = await failure({
      port: S.ports.submissions,
      tls: "starttls-required",
      ...tls,
      timeouts: { ...quick, greeting: SLOW_GREETING_MS + 1000 },
      onSlowGreeting: (info) => calls.push(info),
    });
    assert.deepEqual(calls, [{ host: H, port: S.ports.submissions, tls: "starttls-required", waitedMs: SLOW_GREETING_MS }]);
    assert.ok(e instanceof TimeoutError && e.phase === "greeting", String(e));
    assert.equal(e.hint, "implicit-tls-expected");
    assert.equal(e.timeoutMs, SLOW_GREETING_MS + 1000);
  });
});

describe("names the library would refuse are reported with their configuration keyword", () => {
  const cases: [string, string, string, RegExp][] = [
    ["an EHLO name with a space (smtpsendrc helo)", "/home/user/.smtpsendrc", 'hostname 127.0.0.1:25\nhelo "my host"\n', /EHLO name "my host" .*check "helo" in "\/home\/user\/\.smtpsendrc"/],
    ["an EHLO name with a space (msmtprc domain)", "/home/user/.msmtprc", "account default\nhost 127.0.0.1\ndomain my host\n", /EHLO name "my host" .*check "domain" in "\/home\/user\/\.msmtprc"/],
    ["a server name with a space (msmtprc host)", "/home/user/.msmtprc", "account default\nhost mail example\n", /server name "mail example" contains whitespace; check "host" in/],
  ];
  for (const [name, path, text, pattern] of cases) {
    test(`${name} → 78, nothing opened`, async () => {
      const host = new FakeHost({ files: { [path]: { text, mode: 0o600 } }, stdin: "Subject: x\n\nbody\n" });
      let opened = 0;
      const connector = { name: "never", connect: () => (opened++, Promise.reject(new Error("must not connect"))) };
      const code = await main(["-f", "me@example.org", "you@example.net"], { host, connector });
      assert.equal(code, 78, host.stderr);
      assert.match(host.stderr, pattern);
      assert.equal(opened, 0);
      assertSpeaksCli(host.stderr);
    });
  }
});

describe("errorLine(): library advice replaced by the CLI's", () => {
  const hints: SmtpErrorHint[] = [
    "implicit-tls-expected",
    "plain-smtp-port",
    "certificate-untrusted",
    "certificate-name",
    "starttls-not-offered",
    "auth-needs-tls",
    "auth-needs-verified-tls",
    "auth-method-not-offered",
    "runtime-tls-limit",
  ];

  test("every hint has a CLI remedy naming a flag, in both keyword styles, and no library option", () => {
    for (const hint of hints) {
      for (const style of ["smtpsend", "msmtp", null] as const) {
        const text = cliRemedy(hint, style);
        assert.match(text, /--[a-z]|npx smtpsend/, `${hint} (${style}): ${text}`);
        for (const word of LIBRARY_WORDS) assert.doesNotMatch(text, word, `${hint} (${style}): ${text}`);
        if (style === "msmtp") assert.doesNotMatch(text, /configuration file:/, text);
      }
    }
  });

  test("the problem is kept, the library's remedy dropped, the exit status unchanged", () => {
    const e = new TlsError('Certificate for "mx" was not accepted: self-signed certificate', {
      phase: "tls",
      hint: "certificate-untrusted",
      remedy: 'pass it as "ca"',
    });
    assert.equal(e.message, 'Certificate for "mx" was not accepted: self-signed certificate; pass it as "ca"');
    assert.equal(e.problem, 'Certificate for "mx" was not accepted: self-signed certificate');
    assert.equal(
      errorLine(e, "msmtp"),
      'smtpsend: Certificate for "mx" was not accepted: self-signed certificate; to trust it, give the certificate of the CA that signed it ' +
        "(or the server's self-signed certificate) with --ca-file FILE (msmtprc: tls_trust_file FILE)\n",
    );
    assert.equal(exitCodeFor(e), 69);
    const a = new AuthError("Refusing", { phase: "auth", hint: "auth-needs-tls", remedy: "set allowPlaintextAuth" });
    assert.doesNotMatch(errorLine(a), /allowPlaintextAuth/);
    assert.equal(exitCodeFor(a), 77);
  });

  test("a time-out says how to wait longer with --timeout", () => {
    const e = new TimeoutError("Timed out waiting for the reply during mail (limit 1000 ms)", 1000, { phase: "mail" });
    assert.match(errorLine(e), /; to wait longer, use --timeout SECONDS \(configuration file: timeout SECONDS\)\n$/);
  });
});
