import { test } from "node:test";
import assert from "node:assert/strict";
import { parseMsmtprc } from "../src/config/msmtprc.ts";
import { ConfigError } from "../src/errors.ts";

function configError(message: string | RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  };
}

// msmtp's documentation, "Example for a user configuration file ~/.msmtprc"
// (doc/msmtprc-user.example, the longer edition).
const MSMTP_USER_EXAMPLE = `# Example for a user configuration file ~/.msmtprc
#
# This file focusses on TLS and authentication. Features not used here include
# logging, timeouts, SOCKS proxies, TLS parameters, Delivery Status Notification
# (DSN) settings, and more.


# Set default values for all following accounts.
defaults

# Use the mail submission port 587 instead of the SMTP port 25.
port 587

# Always use TLS.
tls on

# Set a list of trusted CAs for TLS. The default is to use system settings, but
# you can select your own file.
#tls_trust_file /etc/ssl/certs/ca-certificates.crt
# If you select your own file, you should also use the tls_crl_file command to
# check for revoked certificates, but unfortunately getting revocation lists and
# keeping them up to date is not straightforward.
#tls_crl_file ~/.tls-crls


# A freemail service
account freemail

# Host name of the SMTP server
host smtp.freemail.example

# As an alternative to tls_trust_file/tls_crl_file, you can use tls_fingerprint
# to pin a single certificate. You have to update the fingerprint when the
# server certificate changes, but an attacker cannot trick you into accepting
# a fraudulent certificate. Get the fingerprint with
# $ msmtp --serverinfo --tls --tls-certcheck=off --host=smtp.freemail.example
#tls_fingerprint 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33

# Envelope-from address
from joe_smith@freemail.example

# Authentication. The password is given using one of five methods, see below.
auth on
user joe.smith

# Password method 1: Add the password to the system keyring, and let msmtp get
# it automatically. To set the keyring password using Gnome's libsecret:
# $ secret-tool store --label=msmtp \\
#   host smtp.freemail.example \\
#   service smtp \\
#   user joe.smith

# Password method 2: Store the password in an encrypted file, and tell msmtp
# which command to use to decrypt it. This is usually used with GnuPG, as in
# this example. Usually gpg-agent will ask once for the decryption password.
passwordeval gpg2 --no-tty -q -d ~/.msmtp-password.gpg

# Password method 3: Store the password directly in this file. Usually it is not
# a good idea to store passwords in plain text files. If you do it anyway, at
# least make sure that this file can only be read by yourself.
#password secret123

# Password method 4: Store the password in ~/.netrc. This method is probably not
# relevant anymore.

# Password method 5: Do not specify a password. Msmtp will then prompt you for
# it. This means you need to be able to type into a terminal when msmtp runs.


# A second mail address at the same freemail service
account freemail2 : freemail
from joey@freemail.example


# The SMTP server of your ISP
account isp
host mail.isp.example
from smithjoe@isp.example
auth on
user 12345


# Set a default account
account default : freemail
`;

// The shorter edition of the same example.
const MSMTP_USER_EXAMPLE_SHORT = `# Example for a user configuration file

# Set default values for all following accounts.
defaults
tls on
tls_trust_file /etc/ssl/certs/ca-certificates.crt
logfile ~/.msmtp.log

# A freemail service
account freemail
host smtp.freemail.example
from joe_smith@freemail.example
auth on
user joe.smith
password secret

# A second mail address at the same freemail service
account freemail2 : freemail
from joey@freemail.example

# The SMTP server of the provider.
account provider
host mail.provider.example
from smithjoe@provider.example
auth on
user 123456789
passwordeval gpg -d ~/.msmtp.password.gpg

# Set a default account
account default : provider
`;

test("parseMsmtprc() reads the msmtp manual's user configuration example", () => {
  const cfg = parseMsmtprc(MSMTP_USER_EXAMPLE, { file: "/home/joe/.msmtprc", home: "/home/joe" });
  assert.equal(cfg.format, "msmtp");
  assert.deepEqual(cfg.warnings, []);
  assert.equal(cfg.containsSecrets, false);
  assert.equal(cfg.defaultAccount, "default");
  assert.deepEqual(cfg.accounts.map((a) => a.name), ["freemail", "freemail2", "isp", "default"]);
  const gpg = { argv: ["/bin/sh", "-c", "gpg2 --no-tty -q -d ~/.msmtp-password.gpg"], origin: "/home/joe/.msmtprc:56" };
  assert.deepEqual(cfg.accounts[0], {
    name: "freemail",
    source: { file: "/home/joe/.msmtprc", format: "msmtp", line: 27 },
    from: "joe_smith@freemail.example",
    host: "smtp.freemail.example",
    port: 587,
    tls: "starttls-required",
    tlsVerify: true,
    auth: true,
    user: "joe.smith",
    passwordEval: gpg,
    allowPlaintextAuth: false,
    forceMda: false,
    queue: false,
  });
  const [, freemail2, isp, def] = cfg.accounts;
  assert.equal(freemail2!.from, "joey@freemail.example");
  assert.equal(freemail2!.host, "smtp.freemail.example");
  assert.equal(freemail2!.user, "joe.smith");
  assert.deepEqual(freemail2!.passwordEval, gpg);
  assert.equal(isp!.host, "mail.isp.example");
  assert.equal(isp!.user, "12345");
  assert.equal(isp!.port, 587);
  assert.equal(isp!.tls, "starttls-required");
  assert.equal(isp!.passwordEval, undefined);
  assert.equal(def!.host, "smtp.freemail.example");
  assert.equal(def!.from, "joe_smith@freemail.example");
});

test("parseMsmtprc() reads the short example: trust file, stored password, ignored logfile", () => {
  const cfg = parseMsmtprc(MSMTP_USER_EXAMPLE_SHORT, { file: "m" });
  assert.equal(cfg.containsSecrets, true);
  assert.deepEqual(cfg.warnings, ['m:7: "logfile" is ignored by smtpsend']);
  const freemail = cfg.accounts.find((a) => a.name === "freemail")!;
  assert.equal(freemail.password, "secret");
  assert.equal(freemail.caFile, "/etc/ssl/certs/ca-certificates.crt");
  assert.equal(freemail.port, 25, "msmtp's default port with STARTTLS");
  assert.equal(freemail.tls, "starttls-required");
  const def = cfg.accounts.find((a) => a.name === "default")!;
  assert.equal(def.host, "mail.provider.example");
  assert.deepEqual(def.passwordEval?.argv, ["/bin/sh", "-c", "gpg -d ~/.msmtp.password.gpg"]);
  assert.equal(def.password, undefined, "provider's password is not inherited from freemail");
});

test("parseMsmtprc() inherits defaults at definition time and only the parents' own settings", () => {
  const cfg = parseMsmtprc(`defaults
port 2525
account a
host a.example
defaults
timeout 10
account b : a
from b@example.org
account c
host c.example
`);
  const [a, b, c] = cfg.accounts;
  assert.equal(a!.port, 2525);
  assert.equal(a!.timeoutMs, undefined, "defaults written later do not reach earlier accounts");
  assert.equal(b!.host, "a.example");
  assert.equal(b!.timeoutMs, 10_000);
  assert.equal(c!.port, 2525);
  assert.equal(c!.timeoutMs, 10_000);
  assert.equal(cfg.defaultAccount, undefined);
});

test("parseMsmtprc() merges several parents in order", () => {
  const cfg = parseMsmtprc(`account p1
host one
user u1
account p2
host two
account kid : p1, p2
`);
  const kid = cfg.accounts[2]!;
  assert.equal(kid.host, "two");
  assert.equal(kid.user, "u1");
});

test("parseMsmtprc() strips enclosing double quotes only, and keeps # inside a line", () => {
  const cfg = parseMsmtprc(`account x
host "smtp.example.org"
password "pass word # not a comment"
user   spaced user  
passwordeval "pass show mail/x | head -n1"
`);
  const x = cfg.accounts[0]!;
  assert.equal(x.host, "smtp.example.org");
  assert.equal(x.password, "pass word # not a comment");
  assert.equal(x.user, "spaced user");
  assert.deepEqual(x.passwordEval?.argv, ["/bin/sh", "-c", "pass show mail/x | head -n1"]);
});

test("parseMsmtprc() maps tls, tls_starttls, ports and certificate checks", () => {
  const one = (body: string) => parseMsmtprc(`account x\nhost h\n${body}`, { home: "/home/u" }).accounts[0]!;
  assert.deepEqual([one("tls off").tls, one("tls off").port], ["none", 25]);
  assert.deepEqual([one("tls on").tls, one("tls on").port], ["starttls-required", 25]);
  assert.deepEqual([one("tls\ntls_starttls off").tls, one("tls\ntls_starttls off").port], ["implicit", 465]);
  assert.equal(one("tls on\ntls_nostarttls").tls, "implicit");
  assert.equal(one("").tls, undefined, "no tls command: the client's default (never plaintext auth)");
  assert.equal(one("tls_certcheck off").tlsVerify, false);
  assert.equal(one("tls_nocertcheck").tlsVerify, false);
  assert.equal(one("tls_trust_file system").caFile, undefined);
  assert.equal(one("tls_trust_file ~/ca.pem").caFile, "/home/u/ca.pem");
  assert.equal(one("tls_cert_file ~/c.pem\ntls_key_file ~/k.pem").keyFile, "/home/u/k.pem");
  assert.equal(one("tls_host_override mx.example.org").servername, "mx.example.org");
  assert.equal(one("port 2525").port, 2525);
});

test("parseMsmtprc() reads auth forms, DSN, timeout, domain and from_full_name", () => {
  const one = (body: string) => parseMsmtprc(`account x\nhost h\n${body}`).accounts[0]!;
  assert.deepEqual([one("auth").auth, one("auth").authMethod], [true, undefined]);
  assert.deepEqual([one("auth off").auth, one("auth off").authMethod], [false, undefined]);
  assert.equal(one("auth xoauth2").authMethod, "XOAUTH2");
  assert.equal(one("auth oauthbearer").authMethod, "OAUTHBEARER");
  assert.equal(one("auth scram-sha-256").authMethod, "SCRAM-SHA-256");
  assert.deepEqual(one("dsn_notify success,failure").dsnNotify, ["SUCCESS", "FAILURE"]);
  assert.equal(one("dsn_notify never").dsnNotify, "NEVER");
  assert.equal(one("dsn_notify off").dsnNotify, undefined);
  assert.equal(one("dsn_return headers").dsnReturn, "HDRS");
  assert.equal(one("dsn_return full").dsnReturn, "FULL");
  assert.equal(one("timeout 45").timeoutMs, 45_000);
  assert.equal(one("connect_timeout 5").timeoutMs, 5_000);
  assert.equal(one("timeout off").timeoutMs, undefined);
  assert.equal(one("domain client.example.org").helo, "client.example.org");
  assert.equal(one("from_full_name Joe Smith").fromName, "Joe Smith");
  assert.equal(one("ntlmdomain CORP").ntlmDomain, "CORP");
  assert.equal(one("pipelining auto").pipelining, true);
  assert.equal(one("protocol smtp").host, "h");
});

test("parseMsmtprc() expands %U, %H, %C, %M and keeps from patterns", () => {
  const vars = { user: "joe", hostname: "box.example.org", mailname: "example.org" };
  const one = (body: string) => parseMsmtprc(`account x\nhost h\n${body}`, { vars }).accounts[0]!;
  assert.equal(one("from %U@%M").from, "joe@example.org");
  assert.equal(one("from %U@%H").from, "joe@box.example.org");
  assert.equal(one("domain %C").helo, "box.example.org");
  assert.equal(one("from 100%%@x").from, "100%@x");
  assert.equal(one("from *@example.org").from, "*@example.org");
  assert.equal(one("auto_from on\nmaildomain example.net").from, "joe@example.net");
  assert.equal(parseMsmtprc("account x\nfrom %U@%M", { vars: { user: "u", hostname: "fallback" } }).accounts[0]!.from, "u@fallback");
  assert.throws(() => parseMsmtprc("account x\nfrom %U@x", { file: "f" }), configError('f:2: "%U" cannot be expanded: the user name is unknown'));
});

test("parseMsmtprc() rejects unknown and unsupported commands with file:line", () => {
  const bad = (body: string, message: string | RegExp) =>
    assert.throws(() => parseMsmtprc(`account x\nhost h\n${body}`, { file: "/h/.msmtprc" }), configError(message));
  bad("bogus on", '/h/.msmtprc:3: Unknown command "bogus"');
  bad("tls_fingerprint 00:11", /^\/h\/\.msmtprc:3: "tls_fingerprint" is not supported by smtpsend: certificate pinning is not supported/);
  bad("tls_crl_file ~/crl", /"tls_crl_file" is not supported by smtpsend/);
  bad("proxy_host 127.0.0.1", /"proxy_host" is not supported by smtpsend: SOCKS proxies/);
  bad("source_ip 192.0.2.1", /"source_ip" is not supported/);
  bad("socket /run/smtp", /"socket" is not supported/);
  bad("eval echo host x", /"eval" is not supported/);
  bad("protocol lmtp", '/h/.msmtprc:3: "protocol lmtp" is not supported by smtpsend');
  bad("auth gssapi", /Unsupported authentication mechanism "gssapi"/);
  bad("auth digest-md5", /Unsupported authentication mechanism "digest-md5"/);
  bad("keepbcc on", '/h/.msmtprc:3: "keepbcc on" is not supported by smtpsend; only "keepbcc off" (what smtpsend does) is accepted');
  bad("set_from_header on", /"set_from_header on" is not supported/);
  bad("aliases /etc/aliases", /"aliases \/etc\/aliases" is not supported/);
  bad("tls maybe", '/h/.msmtprc:3: Invalid argument "maybe" for command "tls"; use on or off');
  bad("port 0", '/h/.msmtprc:3: Invalid argument "0" for command "port"');
  bad("port smtp", '/h/.msmtprc:3: Invalid argument "smtp" for command "port"');
  bad("host", '/h/.msmtprc:3: Command "host" needs an argument');
  bad("dsn_notify sometimes", /Invalid argument "sometimes" for command "dsn_notify"/);
});

test("parseMsmtprc() accepts harmless commands and default-valued ones", () => {
  const cfg = parseMsmtprc(`defaults
syslog LOG_MAIL
logfile_time_format %Y
tls_priorities NORMAL
keepbcc off
remove_bcc_headers on
undisclosed_recipients off
set_from_header auto
set_date_header auto
allow_from_override on
tls_force_sslv3 off
aliases
account x
host h
`, { file: "f" });
  assert.equal(cfg.accounts.length, 1);
  assert.deepEqual(cfg.warnings, [
    'f:2: "syslog" is ignored by smtpsend',
    'f:3: "logfile_time_format" is ignored by smtpsend',
    'f:4: "tls_priorities" is ignored by smtpsend',
  ]);
});

test("parseMsmtprc() checks account definitions", () => {
  assert.throws(() => parseMsmtprc("account a\naccount a", { file: "f" }), configError('f:2: Account "a" is already defined'));
  assert.throws(() => parseMsmtprc("account b : a", { file: "f" }), configError('f:1: Account "a" is not (yet) defined'));
  assert.throws(() => parseMsmtprc("account : a", { file: "f" }), configError("f:1: Missing account name"));
  assert.throws(() => parseMsmtprc("defaults x", { file: "f" }), configError('f:1: Command "defaults" does not take an argument'));
  // msmtp before 1.4: settings without an account form "default".
  const old = parseMsmtprc("host legacy.example\r\nport 26\r\n");
  assert.deepEqual(old.accounts.map((a) => [a.name, a.host, a.port]), [["default", "legacy.example", 26]]);
  assert.equal(old.defaultAccount, "default");
});

test("parseMsmtprc() trims a long run of blanks and reads many accounts and parents", () => {
  // trimArg() used a /[ \t]+$/ regex, quadratic in a run of blanks; account
  // lookups scanned the list, quadratic in the number of accounts.
  const spaces = " ".repeat(200_000);
  const cfg = parseMsmtprc(`account a\nhost${spaces}smtp.example.org${spaces}\t\n`);
  assert.equal(cfg.accounts[0]?.host, "smtp.example.org");
  let text = "";
  for (let i = 0; i < 5000; i++) text += `account a${i}\nhost h${i}\n`;
  text += `account z : ${Array.from({ length: 5000 }, (_, i) => `a${i}`).join(",")}\n`;
  const many = parseMsmtprc(text);
  assert.equal(many.accounts.length, 5001);
  assert.equal(many.accounts[5000]?.host, "h4999"); // the last parent wins
  assert.throws(() => parseMsmtprc("account a\naccount a\n", { file: "f" }), configError('f:2: Account "a" is already defined'));
  assert.throws(() => parseMsmtprc("host x\naccount default\n", { file: "f" }), configError('f:2: Account "default" is already defined'));
});

test("parseMsmtprc() refuses a reversed range in a from pattern with a ConfigError naming the line", () => {
  // Used to throw a bare SyntaxError from new RegExp() when the sender was matched.
  assert.throws(
    () => parseMsmtprc("account a\nhost h\nfrom [b-a]*@example.org\n", { file: "/h/.msmtprc" }),
    configError('/h/.msmtprc:3: Invalid pattern "[b-a]*@example.org" for command "from": the range "b-a" is reversed and matches nothing'),
  );
  // Valid patterns, and a lone "[" (a literal), are fine.
  for (const from of ["*@example.org", "[a-c]?@x", "[!a]@x", "[]]@x", "[@x", "a\\*@x"]) {
    assert.equal(parseMsmtprc(`account a\nfrom ${from}\n`).accounts[0]?.from, from);
  }
});

test("parseMsmtprc(): a command named like an Object property (constructor, toString, __proto__) is an unknown command", () => {
  for (const cmd of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
    assert.throws(
      () => parseMsmtprc(`account x\nhost h\n${cmd} on\n`, { file: "/h/.msmtprc" }),
      configError(`/h/.msmtprc:3: Unknown command "${cmd}"`),
    );
  }
});
