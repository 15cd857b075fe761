/**
 * Configuration → client options: the esmtprc/msmtprc samples from the
 * manuals, identity selection by -f and From:, SMTPSERVER, command-line
 * overrides, the password source chain (config, passwordeval, authinfo,
 * prompt + save), when to authenticate (up front, requires_auth, on demand
 * after 530), trace redaction and --pretend.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { main } from "../src/cli/main.ts";
import { parseArgs } from "../src/cli/args.ts";
import { applyOverrides, clientOptions, serverOf } from "../src/cli/resolve.ts";
import { loadConfig, selectAccount } from "../src/config/account.ts";
import { FakeHost, type FakeHostOptions } from "./support/fake_host.ts";
import { fakeSmtp, type FakeSmtpOptions } from "./fixtures/cli/fake_smtp.ts";

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/cli/${name}`, import.meta.url), "utf8");
const HOME = "/home/user";
const MSG = "From: Someone <someone@example.org>\nTo: you@example.net\nSubject: test\n\nHello.\n";

function b64(s: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(s)));
}

async function run(argv: string[], hostOptions: FakeHostOptions, server: FakeSmtpOptions = {}) {
  const host = new FakeHost({ stdin: MSG, ...hostOptions });
  const srv = fakeSmtp(server);
  const code = await main(argv, { host, connector: srv.connector, now: () => new Date(Date.UTC(2024, 0, 2, 3, 4, 5)) });
  return { code, host, srv };
}

describe("esmtprc samples from the esmtp manual", () => {
  test("quick-start file: host, port, STARTTLS when offered, user and password", async () => {
    const host = new FakeHost({ files: { [`${HOME}/.esmtprc`]: { text: fixture("esmtprc-quickstart"), mode: 0o600 } } });
    const config = await loadConfig(host);
    const account = applyOverrides(selectAccount(config), parseArgs(["x@y.z"]));
    assert.deepEqual(serverOf(account), { host: "mail.myisp.com", port: 25, tls: "starttls-opportunistic", tlsDefault: false });
    const srv = fakeSmtp();
    const o = await clientOptions(account, { host, connector: srv.connector });
    assert.equal(o.host, "mail.myisp.com");
    assert.equal(o.port, 25);
    assert.equal(o.tls, "starttls-opportunistic");
    assert.equal(o.tlsVerify, true);
    assert.equal(account.user, "myself");
    assert.equal(account.password, "secret");
    assert.equal(account.mda, "/usr/bin/procmail -d %T");
  });

  test("the quick-start file sends with STARTTLS and AUTH as myself", async () => {
    const { code, srv, host } = await run(["you@example.net"], {
      files: { [`${HOME}/.esmtprc`]: { text: fixture("esmtprc-quickstart"), mode: 0o600 } },
    }, { starttls: true, users: { myself: "secret" } });
    assert.equal(code, 0, host.stderr);
    assert.equal(srv.sessions[0]!.connect.hostname, "mail.myisp.com");
    assert.equal(srv.sessions[0]!.connect.port, 25);
    assert.equal(srv.sessions[0]!.tls, true);
    assert.equal(srv.sessions[0]!.authUser, "myself");
    assert.equal(srv.messages().length, 1);
  });

  test("identities: chosen by -f, by the From: header, else the default", async () => {
    const files = { [`${HOME}/.esmtprc`]: { text: fixture("esmtprc-identities"), mode: 0o600 } };
    const users = { myself: "secret" };
    const byF = await run(["-f", "myself@anotherisp.com", "you@example.net"], { files }, { users, starttls: true });
    assert.equal(byF.code, 0, byF.host.stderr);
    assert.equal(byF.srv.sessions[0]!.connect.hostname, "smtp.anotherisp.com");
    assert.equal(byF.srv.messages()[0]!.from, "myself@anotherisp.com");

    const byHeader = await run(["you@example.net"], { files, stdin: "From: Me <MYSELF@anotherisp.com>\nSubject: x\n\nbody\n" }, {
      users,
      starttls: true,
    });
    assert.equal(byHeader.code, 0, byHeader.host.stderr);
    assert.equal(byHeader.srv.sessions[0]!.connect.hostname, "smtp.anotherisp.com");

    const byDefault = await run(["you@example.net"], { files, stdin: "From: other@example.org\nSubject: x\n\nbody\n" }, {
      users,
      starttls: true,
    });
    assert.equal(byDefault.code, 0, byDefault.host.stderr);
    assert.equal(byDefault.srv.sessions[0]!.connect.hostname, "mail.myisp.com");
    // The identity's address is the envelope sender when -f is not given.
    assert.equal(byDefault.srv.messages()[0]!.from, "myself@myisp.com");
  });

  test("-a picks an identity by name", async () => {
    const files = { [`${HOME}/.esmtprc`]: { text: fixture("esmtprc-identities"), mode: 0o600 } };
    const r = await run(["-a", "myself@anotherisp.com", "you@example.net"], { files }, { users: { myself: "secret" }, starttls: true });
    assert.equal(r.code, 0, r.host.stderr);
    assert.equal(r.srv.sessions[0]!.connect.hostname, "smtp.anotherisp.com");
    const bad = await run(["-a", "nobody", "you@example.net"], { files });
    assert.equal(bad.code, 78);
    assert.match(bad.host.stderr, /No account "nobody"/);
  });
});

describe("msmtprc in the style of the msmtp manual", () => {
  const files = (extra: Record<string, { text: string; mode: number }> = {}) => ({
    [`${HOME}/.msmtprc`]: { text: fixture("msmtprc-accounts"), mode: 0o600 },
    ...extra,
  });

  test("the work account is chosen by -f and its password comes from passwordeval", async () => {
    const r = await run(["-f", "smithjoe@company.example", "you@example.net"], {
      files: files(),
      run: (argv) => (argv.join(" ") === "/bin/sh -c pass show work/smtp" ? { stdout: "w0rk-pw\nsecond line\n" } : { status: 127 }),
    }, { starttls: true, users: { "company/smithjoe": "w0rk-pw" } });
    assert.equal(r.code, 0, r.host.stderr);
    assert.equal(r.srv.sessions[0]!.connect.hostname, "mail.company.example");
    assert.equal(r.srv.sessions[0]!.connect.port, 587);
    assert.equal(r.srv.sessions[0]!.authUser, "company/smithjoe");
    assert.deepEqual(r.host.runs.map((x) => x.argv), [["/bin/sh", "-c", "pass show work/smtp"]]);
  });

  test("a failing passwordeval is a configuration error (78) naming the program only", async () => {
    const r = await run(["-f", "smithjoe@company.example", "you@example.net"], {
      files: files(),
      run: () => ({ status: 1, stderr: "gpg: decryption failed\n" }),
    }, { starttls: true });
    assert.equal(r.code, 78);
    assert.match(r.host.stderr, /^smtpsend: Password command "pass" .*failed with exit status 1: gpg: decryption failed\n$/);
    assert.equal(r.srv.sessions.length, 0);
  });

  test("the default account's password comes from ~/.netrc, matched by host, port and user", async () => {
    const netrc = "machine smtp.freemail.example port 25 login joe.smith password wrong-port\n" +
      "machine smtp.freemail.example login someone.else password wrong-user\n" +
      "machine smtp.freemail.example port submission login joe.smith password fr33\n";
    const r = await run(["you@example.net"], { files: files({ [`${HOME}/.netrc`]: { text: netrc, mode: 0o600 } }) }, {
      starttls: true,
      users: { "joe.smith": "fr33" },
    });
    assert.equal(r.code, 0, r.host.stderr);
    assert.equal(r.srv.sessions[0]!.authUser, "joe.smith");
    assert.equal(r.srv.messages()[0]!.from, "joe_smith@freemail.example");
  });

  test("auth on without any password and no terminal → 77 with a hint, nothing sent", async () => {
    const r = await run(["you@example.net"], { files: files() }, { starttls: true });
    assert.equal(r.code, 77);
    assert.match(r.host.stderr, /No password for \S+ at smtp\.freemail\.example:587: .*--password-eval .*~\/\.authinfo/);
    assert.equal(r.srv.sessions.length, 0);
  });

  test("a group-readable file with a password is refused (78)", async () => {
    const r = await run(["you@example.net"], {
      files: { [`${HOME}/.esmtprc`]: { text: fixture("esmtprc-quickstart"), mode: 0o644 } },
    });
    assert.equal(r.code, 78);
    assert.match(r.host.stderr, /readable by others; run: chmod 600/);
  });
});

describe("no configuration file", () => {
  test("SMTPSERVER names the server (host:port), as the seeds say", async () => {
    const r = await run(["you@example.net"], { env: { SMTPSERVER: "relay.example.org:2525" } });
    assert.equal(r.code, 0, r.host.stderr);
    assert.equal(r.srv.sessions[0]!.connect.hostname, "relay.example.org");
    assert.equal(r.srv.sessions[0]!.connect.port, 2525);
    assert.equal(r.srv.sessions[0]!.authUser, null);
  });

  test("--host/--port/--tls/--user for one-off use", async () => {
    const r = await run(
      ["--host", "smtp.example.org", "--port", "2587", "--tls", "starttls", "--user", "me", "--password-eval", "echo pw", "you@example.net"],
      { run: (argv) => (argv[2] === "echo pw" ? { stdout: "s3cret-pw\n" } : { status: 1 }) },
      { starttls: true, users: { me: "s3cret-pw" } },
    );
    assert.equal(r.code, 0, r.host.stderr);
    assert.equal(r.srv.sessions[0]!.connect.hostname, "smtp.example.org");
    assert.equal(r.srv.sessions[0]!.connect.port, 2587);
    assert.equal(r.srv.sessions[0]!.authUser, "me");
  });

  test("no server anywhere → 78", async () => {
    const r = await run(["you@example.net"], {});
    assert.equal(r.code, 78);
    assert.match(r.host.stderr, /No SMTP server configured/);
  });

  test("command-line options override the configuration file", async () => {
    const r = await run(["--host", "other.example", "--port", "26", "--auth", "off", "you@example.net"], {
      files: { [`${HOME}/.esmtprc`]: { text: fixture("esmtprc-quickstart"), mode: 0o600 } },
    });
    assert.equal(r.code, 0, r.host.stderr);
    assert.equal(r.srv.sessions[0]!.connect.hostname, "other.example");
    assert.equal(r.srv.sessions[0]!.connect.port, 26);
    assert.equal(r.srv.sessions[0]!.authUser, null);
  });
});

describe("credentials chain and when to authenticate", () => {
  const rc = (extra = "") => ({ [`${HOME}/.smtpsendrc`]: { text: `hostname = mx.example.org:587\n${extra}`, mode: 0o600 } });

  test("no credentials anywhere: no AUTH when the server does not ask", async () => {
    const r = await run(["you@example.net"], { files: rc() }, { starttls: true });
    assert.equal(r.code, 0, r.host.stderr);
    assert.equal(r.srv.sessions.length, 1);
    assert.ok(!r.srv.sessions[0]!.lines.some((l) => l.startsWith("AUTH")));
  });

  test("an ~/.authinfo entry for the server means AUTH up front", async () => {
    const r = await run(["you@example.net"], {
      files: { ...rc(), [`${HOME}/.authinfo`]: { text: "machine mx.example.org port 587 login al password pw1\n", mode: 0o600 } },
    }, { starttls: true, users: { al: "pw1" } });
    assert.equal(r.code, 0, r.host.stderr);
    assert.equal(r.srv.sessions.length, 1);
    assert.equal(r.srv.sessions[0]!.authUser, "al");
  });

  test("the configured password wins over passwordeval-free authinfo; authinfo is not needed", async () => {
    const r = await run(["you@example.net"], {
      files: {
        ...rc('username al\npassword "from-config"\n'),
        [`${HOME}/.authinfo`]: { text: "machine mx.example.org login al password from-authinfo\n", mode: 0o600 },
      },
    }, { starttls: true, users: { al: "from-config" } });
    assert.equal(r.code, 0, r.host.stderr);
    assert.equal(r.srv.sessions[0]!.authUser, "al");
  });

  test("530 to MAIL: prompt (terminal attached), reconnect with AUTH, retry once, offer to save", async () => {
    const r = await run(["you@example.net"], {
      files: rc(),
      terminals: ["stderr"],
      prompts: ["al", "typed-pw", "y"],
    }, { starttls: true, requireAuth: true, users: { al: "typed-pw" } });
    assert.equal(r.code, 0, r.host.stderr);
    assert.equal(r.srv.sessions.length, 2);
    assert.equal(r.srv.sessions[0]!.authUser, null);
    assert.ok(r.srv.sessions[0]!.lines.some((l) => l.startsWith("MAIL FROM:")));
    assert.equal(r.srv.sessions[1]!.authUser, "al");
    assert.equal(r.srv.messages().length, 1);
    assert.deepEqual(r.host.questions.map((q) => q.echo), [true, false, true]);
    assert.match(r.host.questions[1]!.question, /password for al at mx\.example\.org:587/);
    assert.equal(r.host.fileText(`${HOME}/.authinfo`), "machine mx.example.org port 587 login al password typed-pw\n");
    assert.equal(r.host.fileMode(`${HOME}/.authinfo`), 0o600);
    assert.match(r.host.stderr, /credentials saved to \/home\/user\/\.authinfo/);
  });

  test("a message typed at the terminal still gets the prompts (they use the terminal, not stdin)", async () => {
    const r = await run(["you@example.net"], { files: rc(), terminals: ["stdin", "stderr"], prompts: ["al", "pw", "n"] }, {
      starttls: true,
      requireAuth: true,
      users: { al: "pw" },
    });
    assert.equal(r.code, 0, r.host.stderr);
    assert.ok(r.host.questions.length >= 2);
  });

  test("declining the offer to save writes nothing", async () => {
    const r = await run(["you@example.net"], { files: rc(), terminals: ["stderr"], prompts: ["al", "typed-pw", "n"] }, {
      starttls: true,
      requireAuth: true,
      users: { al: "typed-pw" },
    });
    assert.equal(r.code, 0, r.host.stderr);
    assert.equal(r.host.fileText(`${HOME}/.authinfo`), undefined);
  });

  test("530 without a terminal → 77, naming the server and how to configure credentials", async () => {
    const r = await run(["you@example.net"], { files: rc() }, { starttls: true, requireAuth: true });
    assert.equal(r.code, 77);
    assert.match(r.host.stderr, /mx\.example\.org:587 requires authentication \(Sender <someone@example\.org> refused: 530 Authentication required\), and there are no credentials for it: .*~\/\.authinfo/);
    assert.equal(r.srv.sessions.length, 1);
  });

  test("a wrong password after 530 → 77 and nothing is saved", async () => {
    const r = await run(["you@example.net"], { files: rc(), terminals: ["stderr"], prompts: ["al", "bad", "y"] }, {
      starttls: true,
      requireAuth: true,
      users: { al: "good" },
    });
    assert.equal(r.code, 77);
    assert.match(r.host.stderr, /^smtpsend: Authentication with \w+ failed: 535 /);
    assert.equal(r.host.fileText(`${HOME}/.authinfo`), undefined);
  });

  test("requires_auth: authenticate on the first connection (prompting for the password of a known user)", async () => {
    const r = await run(["you@example.net"], {
      files: rc("username al\nrequires_auth on\n"),
      terminals: ["stderr"],
      prompts: ["pw-typed", "n"],
    }, { starttls: true, users: { al: "pw-typed" } });
    assert.equal(r.code, 0, r.host.stderr);
    assert.equal(r.srv.sessions.length, 1);
    assert.equal(r.srv.sessions[0]!.authUser, "al");
    assert.equal(r.host.questions.length, 2);
    assert.equal(r.host.questions[0]!.echo, false);
  });

  test("an authinfo entry with a login but no password: the password is asked for", async () => {
    const r = await run(["you@example.net"], {
      files: { ...rc(), [`${HOME}/.authinfo`]: { text: "machine mx.example.org login al\n", mode: 0o600 } },
      terminals: ["stderr"],
      prompts: ["pw2", "n"],
    }, { starttls: true, users: { al: "pw2" } });
    assert.equal(r.code, 0, r.host.stderr);
    assert.equal(r.srv.sessions[0]!.authUser, "al");
  });

  test("auth off: never authenticate, even after 530 (→ 77)", async () => {
    const r = await run(["you@example.net"], {
      files: { ...rc("auth off\n"), [`${HOME}/.authinfo`]: { text: "machine mx.example.org login al password pw\n", mode: 0o600 } },
      terminals: ["stderr"],
    }, { starttls: true, requireAuth: true, users: { al: "pw" } });
    assert.equal(r.code, 77);
    assert.equal(r.srv.sessions.length, 1);
    assert.equal(r.host.questions.length, 0);
  });

  test("credentials are never sent without TLS: STARTTLS is required when authenticating (→ 69)", async () => {
    const r = await run(["you@example.net"], {
      files: rc('username al\npassword "pw"\n'),
    }, { starttls: false, users: { al: "pw" } });
    assert.equal(r.code, 69);
    assert.match(r.host.stderr, /does not offer STARTTLS/);
    assert.ok(!r.srv.sessions.some((s) => s.lines.some((l) => l.startsWith("AUTH"))));
  });

  test("credentials are never sent without TLS: with TLS turned off the client refuses (→ 77)", async () => {
    const r = await run(["you@example.net"], {
      files: rc('username al\npassword "pw"\nstarttls disabled\n'),
    }, { starttls: true, users: { al: "pw" } });
    assert.equal(r.code, 77);
    assert.match(r.host.stderr, /Refusing to send credentials .* without TLS/);
    assert.ok(!r.srv.sessions.some((s) => s.lines.some((l) => l.startsWith("AUTH"))));
  });

  test("--allow-plaintext-auth permits AUTH without TLS", async () => {
    const r = await run(["--allow-plaintext-auth", "--tls", "none", "you@example.net"], {
      files: rc('username al\npassword "pw"\n'),
    }, { users: { al: "pw" } });
    assert.equal(r.code, 0, r.host.stderr);
    assert.equal(r.srv.sessions[0]!.authUser, "al");
  });
});

describe("secrets stay out of traces and --pretend", () => {
  const secret = "Tr4ce-Secret-pw";
  const files = { [`${HOME}/.smtpsendrc`]: { text: `hostname = mx.example.org:587\nusername al\npassword "${secret}"\n`, mode: 0o600 } };
  const forbidden = [secret, b64(secret), b64(`\0al\0${secret}`), b64("al")];

  for (const mech of ["PLAIN", "LOGIN"]) {
    test(`-v with AUTH ${mech}: no password and no base64 of it on stderr`, async () => {
      const r = await run(["-v", "you@example.net"], { files }, { starttls: true, authMechanisms: [mech], users: { al: secret } });
      assert.equal(r.code, 0, r.host.stderr);
      assert.match(r.host.stderr, new RegExp(`-> AUTH ${mech}`));
      assert.match(r.host.stderr, /<- 235/);
      for (const f of forbidden) assert.ok(!r.host.stderr.includes(f), `stderr contains ${JSON.stringify(f)}`);
      // The server did receive the credentials.
      assert.equal(r.srv.sessions[0]!.authUser, "al");
    });
  }

  test("-X FILE appends the redacted trace with timestamps, file mode 0600", async () => {
    const log = `${HOME}/trace.log`;
    const r = await run(["-X", log, "you@example.net"], { files }, { starttls: true, users: { al: secret } });
    assert.equal(r.code, 0, r.host.stderr);
    const text = r.host.fileText(log)!;
    assert.equal(r.host.fileMode(log), 0o600);
    assert.match(text, /^2024-01-02T03:04:05\.000Z -- /m);
    assert.match(text, /^2024-01-02T03:04:05\.000Z -> EHLO /m);
    assert.match(text, /^2024-01-02T03:04:05\.000Z <- 250 /m);
    assert.match(text, /-> AUTH PLAIN <redacted>/);
    for (const f of forbidden) assert.ok(!text.includes(f), `log contains ${JSON.stringify(f)}`);
    assert.equal(r.host.stderr, "");
    // A second run appends.
    const srv2 = fakeSmtp({ starttls: true, users: { al: secret } });
    assert.equal(await main(["-X", log, "you@example.net"], { host: r.host, connector: srv2.connector }), 0);
    assert.ok(r.host.fileText(log)!.startsWith(text));
    assert.ok(r.host.fileText(log)!.length > text.length);
  });

  test("-X to a file that cannot be written: a warning, the message is still sent", async () => {
    const r = await run(["-X", "/no/such/dir/trace.log", "you@example.net"], { files }, { starttls: true, users: { al: secret } });
    assert.equal(r.code, 0);
    assert.match(r.host.stderr, /^smtpsend: warning: cannot write the trace file "\/no\/such\/dir\/trace\.log"/);
    assert.equal(r.srv.messages().length, 1);
  });

  test("a password from a prompt is redacted too", async () => {
    const r = await run(["-v", "you@example.net"], {
      files: { [`${HOME}/.smtpsendrc`]: { text: "hostname = mx.example.org:587\n", mode: 0o600 } },
      terminals: ["stderr"],
      prompts: ["al", secret, "n"],
    }, { starttls: true, requireAuth: true, users: { al: secret } });
    assert.equal(r.code, 0, r.host.stderr);
    for (const f of forbidden.slice(0, 3)) assert.ok(!r.host.stderr.includes(f));
  });

  test("--pretend prints the resolved configuration with the password hidden, and connects to nothing", async () => {
    const r = await run(["--pretend", "you@example.net"], {
      files: { [`${HOME}/.esmtprc`]: { text: fixture("esmtprc-quickstart") + 'certificate_passphrase "pp-Secret"\n', mode: 0o600 } },
    });
    assert.equal(r.code, 0, r.host.stderr);
    const out = r.host.stdout;
    assert.match(out, /^configuration file += \/home\/user\/\.esmtprc \(esmtp\)$/m);
    assert.match(out, /^host += mail\.myisp\.com$/m);
    assert.match(out, /^port += 25$/m);
    assert.match(out, /^tls += starttls-opportunistic$/m);
    assert.match(out, /^user += myself$/m);
    assert.match(out, /^password += \* \(configured\)$/m);
    assert.match(out, /^certificate_passphrase += \*$/m);
    assert.match(out, /^mda += \/usr\/bin\/procmail -d %T$/m);
    assert.ok(!out.includes("secret"));
    assert.ok(!out.includes("pp-Secret"));
    assert.equal(r.srv.sessions.length, 0);
  });

  test("--pretend names the source of a password without running the command or showing it", async () => {
    const r = await run(["--pretend", "-f", "smithjoe@company.example"], {
      files: { [`${HOME}/.msmtprc`]: { text: fixture("msmtprc-accounts"), mode: 0o600 } },
    });
    assert.equal(r.code, 0, r.host.stderr);
    assert.match(r.host.stdout, /^account += work \(\/home\/user\/\.msmtprc:\d+\)$/m);
    assert.match(r.host.stdout, /^password += \* \(from the command "pass", /m);
    assert.equal(r.host.runs.length, 0);
    const r2 = await run(["--pretend"], {
      files: {
        [`${HOME}/.msmtprc`]: { text: fixture("msmtprc-accounts"), mode: 0o600 },
        [`${HOME}/.netrc`]: { text: "machine smtp.freemail.example login joe.smith password n3trc-pw\n", mode: 0o600 },
      },
    });
    assert.match(r2.host.stdout, /^password += \* \(from \/home\/user\/\.netrc:1\)$/m);
    assert.ok(!r2.host.stdout.includes("n3trc-pw"));
  });
});

