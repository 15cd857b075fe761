import { test } from "node:test";
import assert from "node:assert/strict";
import { parseHostPort, parseRcfile } from "../src/config/rcfile.ts";
import { ConfigError } from "../src/errors.ts";

function configError(message: string | RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  };
}

// The esmtp manual's two sample files, verbatim as the seed has them (its
// HTML extraction put each on one line; esmtp's grammar ignores newlines)…
const SEED_SIMPLE =
  'hostname = mail.myisp.com:25 username = "myself" password = "secret" starttls = enabled mda "/usr/bin/procmail -d %T"';
const SEED_IDENTITIES =
  'identity myself@myisp.com hostname mail.myisp.com:25 username "myself" password "secret" starttls enabled default identity myself@anotherisp.com hostname smtp.anotherisp.com:25 username "myself" password "secret" mda "/usr/bin/procmail -d %T"';

// …and as the esmtp README lays them out.
const README_SIMPLE = `hostname = mail.myisp.com:25
username = "myself"
password = "secret"
starttls = enabled

mda "/usr/bin/procmail -d %T"
`;
const README_IDENTITIES = `identity myself@myisp.com
        hostname mail.myisp.com:25
        username "myself"
        password "secret"
        starttls enabled
\tdefault

identity myself@anotherisp.com
        hostname smtp.anotherisp.com:25
        username "myself"
        password "secret"

mda "/usr/bin/procmail -d %T"
`;

test("parseRcfile() reads the esmtp manual's simple sample (seed and README layout)", () => {
  for (const text of [SEED_SIMPLE, README_SIMPLE]) {
    const cfg = parseRcfile(text, { file: "/home/u/.esmtprc", format: "esmtp" });
    assert.equal(cfg.format, "esmtp");
    assert.equal(cfg.accounts.length, 1);
    assert.equal(cfg.defaultAccount, "default");
    assert.equal(cfg.containsSecrets, true);
    assert.deepEqual(cfg.accounts[0], {
      name: "default",
      source: { file: "/home/u/.esmtprc", format: "esmtp", line: 1 },
      host: "mail.myisp.com",
      port: 25,
      user: "myself",
      password: "secret",
      tls: "starttls-opportunistic",
      tlsVerify: true,
      allowPlaintextAuth: false,
      forceMda: false,
      queue: false,
      mda: "/usr/bin/procmail -d %T",
    });
  }
});

test("parseRcfile() reads the esmtp manual's identities sample with its default and global mda", () => {
  for (const text of [SEED_IDENTITIES, README_IDENTITIES]) {
    const cfg = parseRcfile(text, { file: "rc" });
    assert.equal(cfg.defaultAccount, "myself@myisp.com");
    assert.deepEqual(cfg.accounts.map((a) => a.name), ["myself@myisp.com", "myself@anotherisp.com"]);
    const [a, b] = cfg.accounts;
    assert.equal(a!.from, "myself@myisp.com");
    assert.equal(a!.host, "mail.myisp.com");
    assert.equal(a!.port, 25);
    assert.equal(a!.tls, "starttls-opportunistic");
    assert.equal(b!.from, "myself@anotherisp.com");
    assert.equal(b!.host, "smtp.anotherisp.com");
    assert.equal(b!.tls, undefined, "identities share nothing; starttls was set only in the first");
    assert.equal(b!.user, "myself");
    assert.equal(b!.password, "secret");
    // mda is global in esmtp, wherever it is written.
    assert.equal(a!.mda, "/usr/bin/procmail -d %T");
    assert.equal(b!.mda, "/usr/bin/procmail -d %T");
  }
  assert.equal(parseRcfile(README_IDENTITIES).accounts[1]!.source.line, 8);
});

test("parseRcfile() reads esmtp's sample.esmtprc with comments and a global identity", () => {
  const text = `# Sample configuration file for ESMTP.
#
# Set SMTP host and service (port)
hostname = localhost:25
# Set the user name
username = "USERNAME"
# Set the password
password = "PASSWORD"
#starttls = disabled
#certificate_passphrase = "CERTIFICATE_PASSPHRASE"

identity myself@somewhere.com
\thostname smtp.somewhere.com:25
\tusername "myself"
\tpassword "secret"
\t#starttls = disabled

# Set the Mail Delivery Agent (MDA)
mda = "/usr/bin/procmail -d %T"
`;
  const cfg = parseRcfile(text, { format: "esmtp" });
  assert.equal(cfg.defaultAccount, "default");
  assert.deepEqual(cfg.accounts.map((a) => [a.name, a.host, a.port, a.user, a.password, a.source.line]), [
    ["default", "localhost", 25, "USERNAME", "PASSWORD", 4],
    ["myself@somewhere.com", "smtp.somewhere.com", 25, "myself", "secret", 12],
  ]);
});

test("parseRcfile() reads the esmtprc(5) identity example with '=' and indentation", () => {
  const cfg = parseRcfile(`    identity = myself@somewhere.com
        hostname = smtp.somewhere.com:25
        username = "myself"
        password = "secret"
`);
  assert.equal(cfg.defaultAccount, "myself@somewhere.com");
  assert.equal(cfg.accounts.length, 1);
  assert.equal(cfg.accounts[0]!.host, "smtp.somewhere.com");
});

test("parseHostPort() takes host[:port], service names and bracketed IPv6", () => {
  assert.deepEqual(parseHostPort("mail.example.org", "f:1"), { host: "mail.example.org" });
  assert.deepEqual(parseHostPort("localhost:smtp", "f:1"), { host: "localhost", port: 25 });
  assert.deepEqual(parseHostPort("mx:submission", "f:1"), { host: "mx", port: 587 });
  assert.deepEqual(parseHostPort("[2001:db8::1]:2525", "f:1"), { host: "2001:db8::1", port: 2525 });
  assert.deepEqual(parseHostPort("[::1]", "f:1"), { host: "::1" });
  assert.deepEqual(parseHostPort("::1", "f:1"), { host: "::1" });
  assert.throws(() => parseHostPort("mx:nosuch", "f:3"), configError('f:3: Unknown port or service "nosuch" in "mx:nosuch"'));
  assert.throws(() => parseHostPort(":25", "f:3"), configError('f:3: Missing host name in ":25"'));
});

test("parseRcfile() defaults the port to 587 as esmtp, or 465 for implicit TLS", () => {
  assert.equal(parseRcfile("hostname mx.example.org").accounts[0]!.port, 587);
  assert.equal(parseRcfile("hostname mx.example.org\ntls implicit").accounts[0]!.port, 465);
  assert.equal(parseRcfile("hostname mx.example.org:2525\ntls implicit").accounts[0]!.port, 2525);
  assert.equal(parseRcfile("hostname mx.example.org\nport submissions").accounts[0]!.port, 465);
  assert.equal(parseRcfile("username u").accounts[0]!.port, undefined);
});

test("parseRcfile() maps esmtp starttls values and smtpsend tls names", () => {
  const tls = (v: string): string | undefined => parseRcfile(`hostname h\nstarttls ${v}`).accounts[0]!.tls;
  assert.equal(tls("enabled"), "starttls-opportunistic");
  assert.equal(tls("disabled"), "none");
  assert.equal(tls("required"), "starttls-required");
  assert.equal(tls("none"), "none");
  assert.equal(tls("starttls"), "starttls-required");
  assert.equal(tls("starttls-opportunistic"), "starttls-opportunistic");
  assert.equal(tls("Implicit"), "implicit");
  assert.equal(parseRcfile("tls = required").accounts[0]!.tls, "starttls-required");
  assert.throws(() => parseRcfile("hostname h\nstarttls maybe", { file: "rc" }), configError(/^rc:2: "starttls" must be one of enabled, disabled, required/));
});

test("parseRcfile() reads quoted values, C escapes and comments as esmtp does", () => {
  const cfg = parseRcfile(String.raw`identity "me@example.org"   # trailing comment
  password "pa ss\"word\\"
  username 'single "q"'
  helo host\x41
  qualifydomain "tab\there"
  force sender "%u@example.org"
  force reverse_path = 'bounce@example.org'
  certificate_passphrase pass#word
`);
  const a = cfg.accounts[0]!;
  assert.equal(a.name, "me@example.org");
  assert.equal(a.password, 'pa ss"word\\');
  assert.equal(a.user, 'single "q"');
  assert.equal(a.helo, "hostA");
  assert.equal(a.qualifyDomain, "tab\there");
  assert.equal(a.forceSender, "%u@example.org");
  assert.equal(a.forceReversePath, "bounce@example.org");
  assert.equal(a.passphrase, "pass#word");
  assert.equal(cfg.containsSecrets, true);
});

test("parseRcfile() reads the smtpsend keywords", () => {
  const cfg = parseRcfile(
    `hostname smtp.example.org
tls starttls-required
auth xoauth2
username me@example.org
passwordeval "oama access me@example.org"
ca_file ~/certs/ca.pem
cert_file /etc/ssl/me.pem
key_file "~/keys/me.key"
requires_auth "^smtp\\\\.example\\\\."
queue on
queue_dir ~/Mail/queued-mail
tls_verify yes
force_mda no
timeout 30
dsn_notify failure,delay
dsn_return hdrs
allow_plaintext_auth off
message_id enabled
pipelining off
`,
    { file: "/home/u/.smtpsendrc", home: "/home/u" },
  );
  const a = cfg.accounts[0]!;
  assert.equal(a.authMethod, "XOAUTH2");
  assert.equal(a.auth, true);
  assert.deepEqual(a.passwordEval, { argv: ["/bin/sh", "-c", "oama access me@example.org"], origin: "/home/u/.smtpsendrc:5" });
  assert.equal(a.caFile, "/home/u/certs/ca.pem");
  assert.equal(a.certFile, "/etc/ssl/me.pem");
  assert.equal(a.keyFile, "/home/u/keys/me.key");
  assert.ok(a.requiresAuth instanceof RegExp);
  assert.ok((a.requiresAuth as RegExp).test("SMTP.example.org"));
  assert.equal(a.queue, true);
  assert.equal(a.queueDir, "/home/u/Mail/queued-mail");
  assert.equal(a.tlsVerify, true);
  assert.equal(a.forceMda, false);
  assert.equal(a.timeoutMs, 30_000);
  assert.deepEqual(a.dsnNotify, ["FAILURE", "DELAY"]);
  assert.equal(a.dsnReturn, "HDRS");
  assert.equal(a.allowPlaintextAuth, false);
  assert.equal(a.messageId, true);
  assert.equal(a.pipelining, false);
  assert.equal(cfg.containsSecrets, false, "passwordeval is not a stored secret");
  const b = parseRcfile("requires_auth yes\ntls_verify off\nauth off\ndsn_notify NEVER").accounts[0]!;
  assert.equal(b.requiresAuth, true);
  assert.equal(b.tlsVerify, false);
  assert.equal(b.auth, false);
  assert.equal(b.dsnNotify, "NEVER");
});

test("parseRcfile() rejects unknown keywords and bad values with file:line", () => {
  assert.throws(() => parseRcfile("hostname h\n\nbogus 1\n", { file: "/h/.smtpsendrc" }), configError('/h/.smtpsendrc:3: Unknown keyword "bogus"'));
  assert.throws(() => parseRcfile("auth gssapi", { file: "f" }), configError(/^f:1: Unsupported authentication mechanism "gssapi"; use on, off or one of PLAIN, LOGIN, CRAM-MD5/));
  assert.throws(() => parseRcfile("queue sometimes", { file: "f" }), configError('f:1: "queue" must be on or off, not "sometimes"'));
  assert.throws(() => parseRcfile("timeout soon", { file: "f" }), configError(/^f:1: "timeout" must be a number of seconds/));
  assert.throws(() => parseRcfile("requires_auth ([", { file: "f" }), configError(/^f:1: "requires_auth" is neither on\/off nor a valid regular expression/));
  assert.throws(() => parseRcfile("dsn_notify sometimes", { file: "f" }), configError(/^f:1: "dsn_notify" must be never/));
  assert.throws(() => parseRcfile("username\nhostname h", { file: "f" }), configError('f:1: "username" needs a value'));
  assert.throws(() => parseRcfile('password "open', { file: "f" }), configError("f:1: Unterminated quote"));
  assert.throws(() => parseRcfile("force recipient x", { file: "f" }), configError('f:1: "force" must be followed by "sender" or "reverse_path"'));
  assert.throws(
    () => parseRcfile("identity a@x\nidentity A@X", { file: "f" }),
    configError('f:2: Identity "A@X" is already defined at line 1'),
  );
});

test("parseRcfile() rejects esmtp's preconnect and postconnect explicitly", () => {
  assert.throws(
    () => parseRcfile('preconnect "ssh -f -L 2525:mx:25 gw sleep 5"', { file: "f" }),
    configError(/^f:1: "preconnect" is not supported: smtpsend does not run shell commands around a connection/),
  );
  assert.throws(() => parseRcfile("postconnect x", { file: "f" }), configError(/^f:1: "postconnect" is not supported/));
});

test("parseRcfile() explains an unquoted value with spaces without echoing secrets", () => {
  assert.throws(
    () => parseRcfile("mda /usr/bin/procmail -d %T", { file: "f" }),
    configError('f:1: Unexpected "-d" after the value of "mda"; quote values that contain spaces'),
  );
  assert.throws(
    () => parseRcfile("password correct horse battery", { file: "f" }),
    (e: unknown) => {
      configError('f:1: Unexpected a second word after the value of "password"; quote values that contain spaces')(e);
      assert.doesNotMatch((e as Error).message, /horse/);
      return true;
    },
  );
});

test("parseRcfile() chooses the default as esmtp: global section, else `default`, else first identity", () => {
  assert.equal(parseRcfile("hostname g\nidentity a@x\nhostname a").defaultAccount, "default");
  assert.equal(parseRcfile("identity a@x\nhostname a\nidentity b@x\nhostname b").defaultAccount, "a@x");
  assert.equal(parseRcfile("identity a@x\nhostname a\nidentity b@x\nhostname b\ndefault").defaultAccount, "b@x");
  assert.equal(parseRcfile("hostname g\nidentity b@x\nhostname b\ndefault").defaultAccount, "b@x");
  // Only the global mda: the first identity is the default.
  const cfg = parseRcfile('mda "/usr/bin/deliver"\nidentity a@x\nhostname a');
  assert.equal(cfg.defaultAccount, "a@x");
  assert.deepEqual(cfg.accounts.map((a) => a.name), ["a@x"]);
  assert.equal(parseRcfile("").accounts.length, 0);
  assert.equal(parseRcfile("").defaultAccount, undefined);
});

test("parseRcfile() reports containsSecrets only for a stored password or passphrase", () => {
  assert.equal(parseRcfile("hostname h\nusername u").containsSecrets, false);
  assert.equal(parseRcfile("hostname h\npassword p").containsSecrets, true);
  assert.equal(parseRcfile("hostname h\npassphrase p").containsSecrets, true);
  assert.equal(parseRcfile('hostname h\npassword ""').containsSecrets, false);
});

test("parseRcfile() blames the unquoted value when its second word is a keyword", () => {
  assert.throws(
    () => parseRcfile("helo my host", { file: "f" }),
    configError('f:1: Unexpected "host" after the value of "helo"; quote values that contain spaces'),
  );
  assert.throws(
    () => parseRcfile("password my user", { file: "f" }),
    configError('f:1: Unexpected a second word after the value of "password"; quote values that contain spaces'),
  );
});

test("parseRcfile() reads many escapes in one pass and treats a Unicode space outside quotes as an error", () => {
  const n = 100_000;
  const cfg = parseRcfile(`username "${"\\x41".repeat(n)}"\nhelo ${"\\101".repeat(n)}\n`);
  assert.ok(cfg.accounts[0]?.user === "A".repeat(n));
  assert.ok(cfg.accounts[0]?.helo === "e".repeat(n)); // \1.. escapes are decimal in esmtp's lexer
  assert.equal(parseRcfile('username "\\x4g\\0777\\19x\\q\\"\\\\"').accounts[0]?.user, "\x04g?7\x13x" + 'q"\\');
  assert.throws(
    () => parseRcfile("hostname mail.example.org\u00a0\n", { file: "/h/.smtpsendrc" }),
    configError('/h/.smtpsendrc:1: "mail.example.org\u00a0" contains the space character U+00A0, which does not separate words; use a plain space or tab, or quote the value if it is meant'),
  );
  assert.throws(() => parseRcfile("\n\u2003hostname a\n", { file: "f" }), configError(/^f:2: "\u2003hostname" contains the space character U\+2003/));
  assert.equal(parseRcfile('password "p\u00a0q"\n').accounts[0]?.password, "p\u00a0q");
  const spaces = " \t".repeat(100_000);
  assert.equal(parseRcfile(`hostname${spaces}=${spaces}a.example${spaces}\n`).accounts[0]?.host, "a.example");
});

test("parseRcfile(): a keyword named like an Object property (constructor, toString, __proto__) is an unknown keyword", () => {
  for (const word of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
    assert.throws(
      () => parseRcfile(`hostname h\n${word} on\n`, { file: "/h/.smtpsendrc" }),
      configError(`/h/.smtpsendrc:2: Unknown keyword "${word}"`),
    );
  }
});
