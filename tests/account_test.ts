import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type Config,
  configCandidates,
  detectFormat,
  loadConfig,
  requireHost,
  selectAccount,
} from "../src/config/account.ts";
import { commandName, runPasswordCommand, shellCommand } from "../src/config/passwordeval.ts";
import { ConfigError } from "../src/errors.ts";
import { FakeHost } from "./support/fake_host.ts";

function configError(message: string | RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  };
}

const HOME = "/home/u";
const ESMTP_IDENTITIES = `identity myself@myisp.com
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
const MSMTPRC = `defaults
port 587
tls on
account work
host smtp.work.example
from *@work.example
user me
passwordeval pass show work
account personal
host smtp.home.example
from me@home.example
account default : personal
`;

test("configCandidates() lists the search order: smtpsend, XDG smtpsend, esmtp, msmtp, XDG msmtp", () => {
  const host = new FakeHost({ home: HOME });
  assert.deepEqual(configCandidates(host), [
    { path: "/home/u/.smtpsendrc", format: "smtpsend" },
    { path: "/home/u/.config/smtpsend/config", format: "smtpsend" },
    { path: "/home/u/.esmtprc", format: "esmtp" },
    { path: "/home/u/.msmtprc", format: "msmtp" },
    { path: "/home/u/.config/msmtp/config", format: "msmtp" },
  ]);
  host.envVars.set("XDG_CONFIG_HOME", "/xdg");
  assert.equal(configCandidates(host)[1]!.path, "/xdg/smtpsend/config");
  assert.equal(configCandidates(host)[4]!.path, "/xdg/msmtp/config");
  host.envVars.set("XDG_CONFIG_HOME", "relative/ignored");
  assert.equal(configCandidates(host)[1]!.path, "/home/u/.config/smtpsend/config");
  assert.deepEqual(configCandidates(new FakeHost({ home: null })), []);
});

test("loadConfig() takes the first file found and never merges", async () => {
  const host = new FakeHost({
    home: HOME,
    files: {
      "/home/u/.esmtprc": ESMTP_IDENTITIES,
      "/home/u/.msmtprc": MSMTPRC,
    },
  });
  let cfg = await loadConfig(host);
  assert.equal(cfg.file, "/home/u/.esmtprc");
  assert.equal(cfg.format, "esmtp");
  assert.equal(cfg.defaultAccount, "myself@myisp.com");
  host.setFile("/home/u/.config/smtpsend/config", "hostname xdg.example");
  cfg = await loadConfig(host);
  assert.equal(cfg.file, "/home/u/.config/smtpsend/config");
  host.setFile("/home/u/.smtpsendrc", "hostname dot.example");
  cfg = await loadConfig(host);
  assert.equal(cfg.file, "/home/u/.smtpsendrc");
  assert.equal(cfg.format, "smtpsend");
  assert.deepEqual(cfg.accounts.map((a) => a.host), ["dot.example"]);
});

test("loadConfig() falls back to ~/.msmtprc and $XDG_CONFIG_HOME/msmtp/config", async () => {
  const host = new FakeHost({ home: HOME, env: { XDG_CONFIG_HOME: "/cfg" }, files: { "/cfg/msmtp/config": MSMTPRC } });
  let cfg = await loadConfig(host);
  assert.equal(cfg.file, "/cfg/msmtp/config");
  assert.equal(cfg.format, "msmtp");
  host.setFile("/home/u/.msmtprc", "account only\nhost only.example\n");
  cfg = await loadConfig(host);
  assert.equal(cfg.file, "/home/u/.msmtprc");
  assert.deepEqual(cfg.accounts.map((a) => a.name), ["only"]);
});

test("loadConfig() without any file returns no accounts and the places searched", async () => {
  const cfg = await loadConfig(new FakeHost({ home: HOME }));
  assert.equal(cfg.file, null);
  assert.equal(cfg.format, null);
  assert.deepEqual(cfg.accounts, []);
  assert.equal(cfg.searched.length, 5);
  assert.equal(cfg.smtpServer, undefined);
});

test("loadConfig() reads -C FILE, detecting msmtp syntax, and requires it to exist", async () => {
  const host = new FakeHost({
    home: HOME,
    files: {
      "/etc/relay.conf": MSMTPRC,
      "/etc/plain.conf": ESMTP_IDENTITIES,
      "/home/u/.smtpsendrc": "hostname not-used.example",
    },
  });
  let cfg = await loadConfig(host, { configPath: "/etc/relay.conf" });
  assert.equal(cfg.format, "msmtp");
  assert.equal(cfg.defaultAccount, "default");
  cfg = await loadConfig(host, { configPath: "/etc/plain.conf" });
  assert.equal(cfg.format, "smtpsend");
  assert.equal(cfg.accounts.length, 2);
  await assert.rejects(
    loadConfig(host, { configPath: "/etc/relay.conf", format: "esmtp" }),
    configError('/etc/relay.conf:1: Unknown keyword "defaults"'),
  );
  await assert.rejects(
    loadConfig(host, { configPath: "/nope.conf" }),
    configError('Configuration file "/nope.conf" does not exist'),
  );
});

test("detectFormat() looks at the first command and the file name", () => {
  assert.equal(detectFormat("# c\n\naccount x\n"), "msmtp");
  assert.equal(detectFormat("defaults\n"), "msmtp");
  assert.equal(detectFormat("hostname x\n"), "smtpsend");
  assert.equal(detectFormat("hostname x\n", "/home/u/.esmtprc"), "esmtp");
  assert.equal(detectFormat("host x\n", "/tmp/my-msmtprc"), "msmtp");
  assert.equal(detectFormat("host x\n", "/home/u/.config/msmtp/config"), "msmtp");
});

test("loadConfig() refuses a config file with a password that others can read (esmtp's rule)", async () => {
  const host = new FakeHost({ home: HOME, files: { "/home/u/.esmtprc": { text: ESMTP_IDENTITIES, mode: 0o644 } } });
  await assert.rejects(
    loadConfig(host),
    configError('Refusing to read "/home/u/.esmtprc": it is readable by others; run: chmod 600 /home/u/.esmtprc'),
  );
  host.chmod("/home/u/.esmtprc", 0o640);
  await assert.rejects(loadConfig(host), configError(/it is readable by others/));
  host.chmod("/home/u/.esmtprc", 0o600);
  assert.equal((await loadConfig(host)).accounts.length, 2);
  // msmtp: a stored password makes the file private too.
  const m = new FakeHost({ home: HOME, files: { "/home/u/.msmtprc": { text: "account a\nhost h\npassword p\n", mode: 0o604 } } });
  await assert.rejects(loadConfig(m), configError(/^Refusing to read "\/home\/u\/\.msmtprc": it is readable by others/));
});

test("loadConfig() accepts a world-readable file without secrets but never a writable one", async () => {
  const host = new FakeHost({
    home: HOME,
    files: { "/home/u/.smtpsendrc": { text: 'hostname mx.example\npasswordeval "pass show mx"\n', mode: 0o644 } },
  });
  assert.equal((await loadConfig(host)).accounts[0]!.host, "mx.example");
  host.chmod("/home/u/.smtpsendrc", 0o664);
  await assert.rejects(
    loadConfig(host),
    configError('Refusing to read "/home/u/.smtpsendrc": it is writable by others; run: chmod 600 /home/u/.smtpsendrc'),
  );
});

test("loadConfig() passes the home directory and msmtp's %U/%M values to the parser", async () => {
  const host = new FakeHost({
    home: HOME,
    env: { USER: "joe" },
    hostname: "box.example.org",
    files: {
      "/home/u/.msmtprc": "account a\nhost h\nfrom %U@%M\ndomain %H\ntls_trust_file ~/ca.pem\n",
      "/etc/mailname": { text: "example.org\n", mode: 0o644 },
    },
  });
  const a = (await loadConfig(host)).accounts[0]!;
  assert.equal(a.from, "joe@example.org");
  assert.equal(a.helo, "box.example.org");
  assert.equal(a.caFile, "/home/u/ca.pem");
});

test("loadConfig() reports msmtp warnings and syntax errors with the path", async () => {
  const host = new FakeHost({ home: HOME, files: { "/home/u/.msmtprc": "defaults\nlogfile ~/.msmtp.log\naccount a\nhost h\n" } });
  assert.deepEqual((await loadConfig(host)).warnings, ['/home/u/.msmtprc:2: "logfile" is ignored by smtpsend']);
  host.setFile("/home/u/.msmtprc", "account a\nhost h\nbogus\n");
  await assert.rejects(loadConfig(host), configError('/home/u/.msmtprc:3: Unknown command "bogus"'));
});

test("selectAccount() picks by -a name, by envelope sender, else the default (esmtp)", async () => {
  const host = new FakeHost({ home: HOME, files: { "/home/u/.esmtprc": ESMTP_IDENTITIES } });
  const cfg = await loadConfig(host);
  assert.equal(selectAccount(cfg).name, "myself@myisp.com");
  assert.equal(selectAccount(cfg, { sender: "Myself@AnotherISP.com" }).host, "smtp.anotherisp.com");
  assert.equal(selectAccount(cfg, { sender: "Me <myself@anotherisp.com>" }).host, "smtp.anotherisp.com");
  assert.equal(selectAccount(cfg, { sender: "stranger@example.org" }).name, "myself@myisp.com");
  assert.equal(selectAccount(cfg, { account: "MYSELF@anotherisp.com" }).host, "smtp.anotherisp.com");
  assert.equal(
    selectAccount(cfg, { account: "myself@myisp.com", sender: "myself@anotherisp.com" }).host,
    "mail.myisp.com",
    "-a wins over -f",
  );
  assert.throws(
    () => selectAccount(cfg, { account: "nobody" }),
    configError('No account "nobody": "/home/u/.esmtprc" defines "myself@myisp.com", "myself@anotherisp.com"'),
  );
});

test("selectAccount() matches msmtp from patterns and names case-sensitively", async () => {
  const host = new FakeHost({ home: HOME, files: { "/home/u/.msmtprc": MSMTPRC } });
  const cfg = await loadConfig(host);
  assert.equal(selectAccount(cfg).host, "smtp.home.example");
  assert.equal(selectAccount(cfg).name, "default");
  assert.equal(selectAccount(cfg, { sender: "boss@WORK.example" }).name, "work");
  assert.equal(selectAccount(cfg, { sender: "me@home.example" }).name, "personal");
  assert.equal(selectAccount(cfg, { sender: "me@elsewhere.example" }).name, "default");
  assert.equal(selectAccount(cfg, { account: "work" }).port, 587);
  assert.throws(() => selectAccount(cfg, { account: "Work" }), configError(/^No account "Work": "\/home\/u\/\.msmtprc" defines "work", "personal", "default"$/));
});

test("selectAccount() without an msmtp default uses SMTPSERVER, else the first account", () => {
  const base: Config = {
    file: "/m",
    format: "msmtp",
    accounts: [
      { name: "a", source: { file: "/m", format: "msmtp", line: 1 }, host: "a.example", port: 25, tlsVerify: true, allowPlaintextAuth: false, forceMda: false, queue: false },
    ],
    warnings: [],
    searched: ["/m"],
  };
  assert.equal(selectAccount(base).name, "a");
  const env = selectAccount({ ...base, smtpServer: "relay.example" });
  assert.equal(env.host, "relay.example");
  assert.equal(env.port, 25);
  assert.equal(env.source.format, "env");
});

test("SMTPSERVER supplies the host when no configuration file names one (the seeds)", async () => {
  const host = new FakeHost({ home: HOME, env: { SMTPSERVER: "mail.example.org" } });
  let cfg = await loadConfig(host);
  assert.equal(cfg.smtpServer, "mail.example.org");
  let a = selectAccount(cfg);
  assert.deepEqual([a.host, a.port, a.source], ["mail.example.org", 25, { file: null, format: "env", line: null }]);
  host.envVars.set("SMTPSERVER", "[2001:db8::25]:submission");
  a = selectAccount(await loadConfig(host));
  assert.deepEqual([a.host, a.port], ["2001:db8::25", 587]);
  // A file without a hostname: SMTPSERVER fills it in; the file's port stays.
  host.envVars.set("SMTPSERVER", "relay.example.org");
  host.setFile("/home/u/.smtpsendrc", "username me\nport 2525\n");
  a = selectAccount(await loadConfig(host));
  assert.deepEqual([a.host, a.port, a.user], ["relay.example.org", 2525, "me"]);
  // A file that names a host wins over SMTPSERVER.
  host.setFile("/home/u/.smtpsendrc", "hostname own.example.org\n");
  assert.equal(selectAccount(await loadConfig(host)).host, "own.example.org");
  host.envVars.set("SMTPSERVER", "relay:nosuch");
  host.setFile("/home/u/.smtpsendrc", "username me\n");
  cfg = await loadConfig(host);
  assert.throws(() => selectAccount(cfg), configError('SMTPSERVER="relay:nosuch" names an unknown port or service "nosuch"'));
});

test("requireHost() returns the host or explains how to configure one", async () => {
  const none = selectAccount(await loadConfig(new FakeHost({ home: HOME })));
  assert.equal(none.host, undefined);
  assert.throws(
    () => requireHost(none),
    configError(/^No SMTP server configured: no configuration file names a server; set "hostname" in ~\/\.smtpsendrc, the SMTPSERVER environment variable, or --host$/),
  );
  const cfg = await loadConfig(new FakeHost({ home: HOME, files: { "/home/u/.smtpsendrc": "username me\n" } }));
  assert.throws(() => requireHost(selectAccount(cfg)), configError(/"default" in "\/home\/u\/\.smtpsendrc" names no server/));
  assert.equal(requireHost({ ...none, host: "mx" }), "mx");
  await assert.rejects(
    loadConfig(new FakeHost({ home: HOME }), { configPath: "x" }).then(() => undefined),
    ConfigError,
  );
  assert.throws(
    () => selectAccount({ file: null, format: null, accounts: [], warnings: [], searched: ["/home/u/.smtpsendrc"] }, { account: "work" }),
    configError('No account "work": no configuration file was found (looked for "/home/u/.smtpsendrc")'),
  );
});

test("runPasswordCommand() runs a config line through /bin/sh -c and returns its first line", async () => {
  const host = new FakeHost({ run: () => ({ status: 0, stdout: "s3cret\r\nsecond line\n" }) });
  const cmd = shellCommand("pass show mail/example | head -n1", "/home/u/.msmtprc:7");
  assert.equal(await runPasswordCommand(host, cmd), "s3cret");
  assert.deepEqual(host.runs, [{ argv: ["/bin/sh", "-c", "pass show mail/example | head -n1"], timeoutMs: 120_000 }]);
});

test("runPasswordCommand() takes an argv array without a shell, and keeps inner spaces", async () => {
  const host = new FakeHost({ run: (argv) => ({ status: 0, stdout: argv[0] === "oama" ? " tok en " : "" }) });
  assert.equal(await runPasswordCommand(host, ["oama", "access", "me@example.org"], { timeoutMs: 5000 }), " tok en ");
  assert.deepEqual(host.runs[0], { argv: ["oama", "access", "me@example.org"], timeoutMs: 5000 });
});

test("runPasswordCommand() reports failure with stderr's first line, never stdout", async () => {
  const host = new FakeHost({
    run: () => ({ status: 2, stdout: "partial-secret\n", stderr: "\ngpg: decryption failed: No secret key\nmore\n" }),
  });
  await assert.rejects(
    runPasswordCommand(host, shellCommand("gpg -q -d ~/.pw.gpg", "/home/u/.msmtprc:9")),
    (e: unknown) => {
      configError('Password command "gpg" (/home/u/.msmtprc:9) failed with exit status 2: gpg: decryption failed: No secret key')(e);
      assert.doesNotMatch((e as Error).message, /partial-secret|\.pw\.gpg/);
      return true;
    },
  );
});

test("runPasswordCommand() refuses empty output, kills and commands that cannot start", async () => {
  const empty = new FakeHost({ run: () => ({ status: 0, stdout: "\nsecond\n", stderr: "" }) });
  await assert.rejects(runPasswordCommand(empty, ["pw"]), configError('Password command "pw" printed no password'));
  const killed = new FakeHost({ run: () => ({ status: null, stderr: "pinentry timed out" }) });
  await assert.rejects(
    runPasswordCommand(killed, shellCommand("echo hunter2")),
    (e: unknown) => {
      configError('Password command "echo" was killed (timed out or by a signal): pinentry timed out')(e);
      assert.doesNotMatch((e as Error).message, /hunter2/);
      return true;
    },
  );
  const missing = new FakeHost({
    run: () => {
      throw Object.assign(new Error("spawn nosuch ENOENT"), { code: "ENOENT" });
    },
  });
  await assert.rejects(runPasswordCommand(missing, ["nosuch"]), configError('Password command "nosuch" could not be run: spawn nosuch ENOENT'));
  await assert.rejects(runPasswordCommand(missing, []), TypeError);
});

test("commandName() names only the program of a shell line", () => {
  assert.equal(commandName(["/bin/sh", "-c", "  pass show x"]), "pass");
  assert.equal(commandName(["/usr/bin/gpg", "-d", "f"]), "/usr/bin/gpg");
});

test("an msmtp passwordeval flows from the file through selectAccount to the command", async () => {
  const host = new FakeHost({
    home: HOME,
    files: { "/home/u/.msmtprc": MSMTPRC },
    run: (argv) => ({ status: 0, stdout: argv[2] === "pass show work" ? "work-pw\n" : "" }),
  });
  const account = selectAccount(await loadConfig(host), { sender: "me@work.example" });
  assert.ok(account.passwordEval);
  assert.equal(await runPasswordCommand(host, account.passwordEval), "work-pw");
  assert.equal(account.passwordEval.origin, "/home/u/.msmtprc:8");
});

test("globMatch() follows fnmatch: *, ?, sets, ranges, negation, \\ quoting, ignoring case, never throwing", async () => {
  const { addressMatches, globMatch, parseGlob } = await import("../src/config/common.ts");
  const cases: [string, string, boolean][] = [
    ["*@example.org", "Me@Example.ORG", true],
    ["*@example.org", "me@example.org.evil", false],
    ["a?c@x", "abc@x", true],
    ["a?c@x", "ac@x", false],
    ["[a-c]*@x", "B1@x", true],
    ["[!a-c]*@x", "b1@x", false],
    ["[^a-c]*@x", "d@x", true],
    ["[]]@x", "]@x", true],
    ["[@x", "[@x", true], // no closing bracket: a literal
    ["a\\*@x", "a*@x", true],
    ["a\\*@x", "ab@x", false],
    ["[b-a]@x", "a@x", false], // reversed: matches nothing (msmtprc refuses it when read)
    ["*a*a*a*a*b@x", "a".repeat(5000) + "@x", false], // was O(n^5) backtracking in a RegExp
    ["**", "", true],
  ];
  for (const [p, s, want] of cases) assert.equal(globMatch(p, s), want, `${p} ~ ${s.slice(0, 20)}`);
  assert.equal(parseGlob("[b-a]").problem, 'the range "b-a" is reversed and matches nothing');
  assert.equal(parseGlob("[a-b]*").problem, null);
  // A run of unclosed brackets is read once (each "[" used to rescan the rest).
  assert.equal(globMatch("[".repeat(200_000), "[".repeat(200_000)), true);
  assert.equal(addressMatches("x[b-a]@y", "xa@y"), false);
  assert.equal(addressMatches("Me@Example.org", "me@example.ORG"), true);
});
