import { test } from "node:test";
import assert from "node:assert/strict";
import {
  appendAuthinfo,
  defaultAuthinfoPaths,
  findCredentials,
  formatAuthinfoEntry,
  loadAuthinfo,
  parseAuthinfo,
  quoteAuthinfoValue,
} from "../src/config/authinfo.ts";
import { ConfigError } from "../src/errors.ts";
import { FakeHost } from "./support/fake_host.ts";

function configError(message: string | RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    assert.equal(e.phase, "config");
    return true;
  };
}

// The Emacs smtpmail manual's line; the HTML seed lost the host name
// ("machine port 25 …"), the Texinfo source has mail.example.org in its examples.
const EMACS_LINE = "machine mail.example.org port 25 login myuser password mypassword\n";

test("parseAuthinfo() reads the Emacs manual's authinfo line", () => {
  const entries = parseAuthinfo(EMACS_LINE, "/home/u/.authinfo");
  assert.deepEqual(entries, [{
    machine: "mail.example.org",
    port: "25",
    login: "myuser",
    password: "mypassword",
    file: "/home/u/.authinfo",
    line: 1,
  }]);
  const hit = findCredentials(entries, { host: "mail.example.org", port: 25 });
  assert.equal(hit?.login, "myuser");
  assert.equal(hit?.password, "mypassword");
  assert.equal(findCredentials(entries, { host: "mail.example.org", port: 587 }), undefined);
});

test("parseAuthinfo() on the seed's line with its host lost does not invent credentials", () => {
  // Verbatim from the HTML seed: the host name vanished, so "port" is the machine.
  const entries = parseAuthinfo("machine port 25 login myuser password mypassword\n");
  assert.equal(entries.length, 1);
  assert.equal(entries[0]!.machine, "port");
  assert.equal(entries[0]!.password, undefined);
  assert.equal(findCredentials(entries, { host: "mail.example.org", port: 25 }), undefined);
});

test("parseAuthinfo() accepts tokens in any order and the user/protocol synonyms", () => {
  const entries = parseAuthinfo(
    "machine a.example password pw1 port 587 login u1\n" +
      "machine b.example protocol submission user u2 password pw2\n",
  );
  assert.deepEqual(
    entries.map((e) => [e.machine, e.port, e.login, e.password]),
    [["a.example", "587", "u1", "pw1"], ["b.example", "submission", "u2", "pw2"]],
  );
});

test("parseAuthinfo() reads netrc entries spread over several lines", () => {
  const text = [
    "machine smtp.example.org",
    "    login alice",
    "    password s3cret",
    "",
    "machine imap.example.org login bob",
    "password other",
    "default",
    "  login anonymous password guest",
  ].join("\n");
  const entries = parseAuthinfo(text, "netrc");
  assert.deepEqual(entries.map((e) => [e.machine, e.login, e.password, e.line]), [
    ["smtp.example.org", "alice", "s3cret", 1],
    ["imap.example.org", "bob", "other", 5],
    [null, "anonymous", "guest", 7],
  ]);
});

test("parseAuthinfo() reads quoted values with spaces and backslash escapes", () => {
  const text = String.raw`machine m1 login "john doe" password "pass word"
machine m2 password "a\"b"
machine m3 password "back\\slash"
machine m4 password "C:\path\n"
machine m5 password 'single "quoted" \n'
machine m6 password ""
`;
  const pw = parseAuthinfo(text).map((e) => [e.machine, e.login, e.password]);
  assert.deepEqual(pw, [
    ["m1", "john doe", "pass word"],
    ["m2", undefined, 'a"b'],
    ["m3", undefined, "back\\slash"],
    ["m4", undefined, "C:\\path\\n"],
    ["m5", undefined, 'single "quoted" \\n'],
    ["m6", undefined, ""],
  ]);
});

test("parseAuthinfo() treats # as a comment only where a key is expected", () => {
  const text = [
    "# my credentials",
    "   # indented comment",
    "machine m1 login u password pass#word # trailing comment",
    "machine m2 login u password #starts-with-hash",
    "machine m3 login u password \"#quoted\"",
  ].join("\n");
  const entries = parseAuthinfo(text);
  assert.deepEqual(entries.map((e) => e.password), ["pass#word", "#starts-with-hash", "#quoted"]);
  assert.deepEqual(entries.map((e) => e.line), [3, 4, 5]);
});

test("parseAuthinfo() skips macdef bodies up to the empty line and ignores account", () => {
  const text = [
    "machine ftp.example.org login f password fp account acct-secret",
    "macdef init",
    "machine evil.example login x password y",
    "bin",
    "",
    "machine smtp.example.org login s password sp",
  ].join("\n");
  const entries = parseAuthinfo(text);
  assert.deepEqual(entries.map((e) => [e.machine, e.login, e.password]), [
    ["ftp.example.org", "f", "fp"],
    ["smtp.example.org", "s", "sp"],
  ]);
  assert.equal(entries[1]!.line, 6);
});

test("parseAuthinfo() reports unterminated quotes and stray keys with file:line", () => {
  assert.throws(
    () => parseAuthinfo('machine m\nlogin u password "oops\n', "/h/.authinfo"),
    configError('/h/.authinfo:2: Unterminated double quote'),
  );
  assert.throws(() => parseAuthinfo("login u password p\n", "f"), configError('f:1: Expected "machine" or "default" before "login"'));
  assert.throws(
    () => parseAuthinfo("machine a login\nmachine b\n", "f"),
    configError('f:2: Unexpected "machine" after "login"; "login" needs a value'),
  );
  // A quoted "machine" is data.
  assert.equal(parseAuthinfo('machine a password "machine"')[0]!.password, "machine");
});

test("findCredentials() matches the host case-insensitively and the first match wins", () => {
  const entries = parseAuthinfo(
    "machine SMTP.Example.ORG login first password one\nmachine smtp.example.org login second password two\n",
  );
  assert.equal(findCredentials(entries, { host: "smtp.example.org" })?.login, "first");
  assert.equal(findCredentials(entries, { host: "other.example.org" }), undefined);
});

test("findCredentials() compares ports by number or service name", () => {
  const entries = parseAuthinfo([
    "machine h port submission login sub password 1",
    "machine h port smtps login tls password 2",
    "machine h port smtp login plain password 3",
    "machine h port 2525 login odd password 4",
    "machine h port imap login imap password 5",
  ].join("\n"));
  const who = (port: number | string): string | undefined => findCredentials(entries, { host: "h", port })?.login;
  assert.equal(who(587), "sub");
  assert.equal(who("587"), "sub");
  assert.equal(who("submission"), "sub");
  assert.equal(who(465), "tls");
  assert.equal(who("submissions"), "tls");
  assert.equal(who(25), "plain");
  assert.equal(who("2525"), "odd");
  assert.equal(who("imap"), "imap");
  assert.equal(who(26), undefined);
});

test("findCredentials() lets an entry without a port match any port", () => {
  const entries = parseAuthinfo("machine h login any password p\n");
  assert.equal(findCredentials(entries, { host: "h", port: 465 })?.login, "any");
  assert.equal(findCredentials(entries, { host: "h" })?.login, "any");
});

test("findCredentials() filters by the configured user (smtpmail-smtp-user)", () => {
  const entries = parseAuthinfo([
    "machine h port 587 password nouser",
    "machine h port 587 login alice password a",
    "machine h port 587 login bob password b",
  ].join("\n"));
  assert.equal(findCredentials(entries, { host: "h", port: 587, user: "bob" })?.password, "b");
  assert.equal(findCredentials(entries, { host: "h", port: 587, user: "alice" })?.password, "a");
  assert.equal(findCredentials(entries, { host: "h", port: 587, user: "carol" }), undefined);
  assert.equal(findCredentials(entries, { host: "h", port: 587 })?.password, "nouser");
});

test("findCredentials() uses default entries only after every machine entry", () => {
  const entries = parseAuthinfo([
    "default login anon password guest",
    "machine h login real password secret",
  ].join("\n"));
  assert.equal(findCredentials(entries, { host: "h", port: 25 })?.login, "real");
  assert.equal(findCredentials(entries, { host: "elsewhere", port: 25 })?.login, "anon");
  assert.equal(findCredentials(entries, { host: "elsewhere", user: "bob" }), undefined);
});

test("loadAuthinfo() reads ~/.authinfo then ~/.netrc and searches them in order", async () => {
  const host = new FakeHost({
    home: "/home/u",
    files: {
      "/home/u/.authinfo": { text: "machine h login fromauthinfo password a\n", mode: 0o600 },
      "/home/u/.netrc": { text: "machine h login fromnetrc password n\nmachine n login only password x\n", mode: 0o600 },
    },
  });
  assert.deepEqual(defaultAuthinfoPaths(host), ["/home/u/.authinfo", "/home/u/.netrc"]);
  const src = await loadAuthinfo(host);
  assert.deepEqual(src.files, ["/home/u/.authinfo", "/home/u/.netrc"]);
  assert.equal(findCredentials(src.entries, { host: "h" })?.login, "fromauthinfo");
  assert.equal(findCredentials(src.entries, { host: "n" })?.file, "/home/u/.netrc");
  assert.deepEqual(src.notes, []);
});

test("loadAuthinfo() refuses a credentials file readable by others, naming the chmod fix", async () => {
  const host = new FakeHost({
    home: "/home/u",
    files: { "/home/u/.authinfo": { text: EMACS_LINE, mode: 0o644 } },
  });
  await assert.rejects(
    loadAuthinfo(host),
    configError('Refusing to read "/home/u/.authinfo": it is readable by others; run: chmod 600 /home/u/.authinfo'),
  );
  host.chmod("/home/u/.authinfo", 0o640);
  await assert.rejects(loadAuthinfo(host), configError(/readable by others; run: chmod 600 \/home\/u\/\.authinfo$/));
  host.chmod("/home/u/.authinfo", 0o602);
  await assert.rejects(loadAuthinfo(host), configError(/it is writable by others/));
  host.chmod("/home/u/.authinfo", 0o400);
  assert.equal((await loadAuthinfo(host)).entries.length, 1);
});

test("loadAuthinfo() accepts a world-readable netrc without passwords, and honours $NETRC", async () => {
  const host = new FakeHost({
    home: "/home/u",
    env: { NETRC: "/etc/my netrc" },
    files: {
      "/home/u/.netrc": { text: "machine ignored login x password y\n", mode: 0o644 },
      "/etc/my netrc": { text: "machine ftp.example.org login anonymous\n", mode: 0o644 },
    },
  });
  assert.deepEqual(defaultAuthinfoPaths(host), ["/home/u/.authinfo", "/etc/my netrc"]);
  const src = await loadAuthinfo(host);
  assert.deepEqual(src.files, ["/etc/my netrc"]);
  host.setFile("/etc/my netrc", "machine m login a password b\n", 0o644);
  await assert.rejects(loadAuthinfo(host), configError(`Refusing to read "/etc/my netrc": it is readable by others; run: chmod 600 '/etc/my netrc'`));
});

test("loadAuthinfo() does not read ~/.authinfo.gpg and says so", async () => {
  const host = new FakeHost({ home: "/home/u", files: { "/home/u/.authinfo.gpg": { text: "-----BEGIN PGP", mode: 0o600 } } });
  const src = await loadAuthinfo(host);
  assert.deepEqual(src.entries, []);
  assert.equal(src.notes.length, 1);
  assert.match(src.notes[0]!, /\.authinfo\.gpg" is encrypted and was not read/);
  await assert.rejects(loadAuthinfo(host, ["/home/u/.authinfo.gpg"]), configError(/encrypted authinfo files are not supported/));
});

test("loadAuthinfo() reports a syntax error with the file and line", async () => {
  const host = new FakeHost({ home: "/home/u", files: { "/home/u/.authinfo": "machine a password 'x\n" } });
  await assert.rejects(loadAuthinfo(host), configError("/home/u/.authinfo:1: Unterminated single quote"));
});

test("appendAuthinfo() creates the file with mode 0600 in the seeds' layout", async () => {
  const host = new FakeHost({ home: "/home/u" });
  await appendAuthinfo(host, "/home/u/.authinfo", {
    machine: "mail.example.org",
    port: 25,
    login: "myuser",
    password: "mypassword",
  });
  assert.equal(host.fileText("/home/u/.authinfo"), EMACS_LINE);
  assert.equal(host.fileMode("/home/u/.authinfo"), 0o600);
  await appendAuthinfo(host, "/home/u/.authinfo", { machine: "b.example", login: "u b", password: 'q"uote' });
  const entries = parseAuthinfo(host.fileText("/home/u/.authinfo")!);
  assert.equal(findCredentials(entries, { host: "b.example" })?.password, 'q"uote');
  assert.equal(findCredentials(entries, { host: "b.example" })?.login, "u b");
});

test("appendAuthinfo() adds a missing final newline and refuses an exposed file", async () => {
  const host = new FakeHost({ home: "/home/u", files: { "/home/u/.authinfo": { text: "machine a login x password y", mode: 0o600 } } });
  await appendAuthinfo(host, "/home/u/.authinfo", { machine: "b", password: "z" });
  assert.equal(host.fileText("/home/u/.authinfo"), "machine a login x password y\nmachine b password z\n");
  host.chmod("/home/u/.authinfo", 0o644);
  await assert.rejects(
    appendAuthinfo(host, "/home/u/.authinfo", { machine: "c", password: "w" }),
    configError('Refusing to read "/home/u/.authinfo": it is readable by others; run: chmod 600 /home/u/.authinfo'),
  );
  assert.doesNotMatch(host.fileText("/home/u/.authinfo")!, /machine c/);
});

test("quoteAuthinfoValue() round-trips awkward values through parseAuthinfo()", () => {
  const values = ["plain", "with space", 'dq"inside', "sq'inside", "back\\slash", "#hash", "", "both'\"\\x", "tab\there", "'lead"];
  for (const v of values) {
    const line = formatAuthinfoEntry({ machine: "m", password: v });
    const [entry] = parseAuthinfo(line);
    assert.equal(entry?.password, v, `round trip of ${JSON.stringify(v)} via ${line}`);
  }
  assert.equal(quoteAuthinfoValue("plain"), "plain");
  assert.equal(quoteAuthinfoValue("with space"), '"with space"');
  assert.equal(quoteAuthinfoValue('dq"x y'), `'dq"x y'`); // readable by Emacs too
  assert.throws(() => formatAuthinfoEntry({ machine: "m", password: "a\nb" }), TypeError);
  assert.throws(() => formatAuthinfoEntry({ machine: "" }), TypeError);
});

test("parseAuthinfo() returns on a pasted non-breaking space and names it (one definition of a blank)", () => {
  // Used to loop forever: the blank-skipper skipped only ASCII blanks while the
  // token reader stopped at any \s, so neither advanced past U+00A0.
  assert.throws(
    () => parseAuthinfo("machine x\u00a0", "/h/.authinfo"),
    configError('/h/.authinfo:1: The machine "x\u00a0" contains the space character U+00A0, which does not separate tokens; use a plain space or tab'),
  );
  assert.throws(() => parseAuthinfo("machine h\n\u2003login u", "f"), configError(/^f:2: The key "\u2003login" contains the space character U\+2003/));
  assert.throws(() => parseAuthinfo("machine h port 25\u00a0", "f"), configError(/^f:1: The port .* U\+00A0/));
  // In a login or password a Unicode space is data, as in Emacs auth-source and netrc.
  assert.deepEqual(parseAuthinfo("machine h login u\u00a0v password p\u3000q\n", "f"), [
    { machine: "h", login: "u\u00a0v", password: "p\u3000q", file: "f", line: 1 },
  ]);
  // Every Unicode space on its own between tokens: an error or entries, never a hang.
  for (const sp of ["\u00a0", "\u1680", "\u2000", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\ufeff", "\u0085"]) {
    for (const text of [`machine x${sp}`, `${sp}`, `machine x login${sp}u`, `macdef m\n${sp}\nmachine y`, `machine x password "${sp}"`]) {
      try {
        assert.ok(Array.isArray(parseAuthinfo(text)));
      } catch (e) {
        assert.ok(e instanceof ConfigError, String(e));
      }
    }
  }
});

test("parseAuthinfo() reads quoted values with escapes, and a macdef body ends at a line of ASCII blanks", () => {
  const q = `machine h password "a\\"b\\\\c\\d${"\\\\".repeat(3)}" login 'x"y'\n`;
  assert.deepEqual(parseAuthinfo(q, "f"), [{ machine: "h", password: 'a"b\\c\\d\\\\\\', login: 'x"y', file: "f", line: 1 }]);
  const m = parseAuthinfo("macdef init\ncd /\n \t\nmachine b login u\n", "f");
  assert.deepEqual(m, [{ machine: "b", login: "u", file: "f", line: 4 }]);
});
