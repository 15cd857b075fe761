/**
 * Real MUAs using smtpsend as their sendmail program, sending through the real
 * test Postfix (submission port: STARTTLS required, then SASL via Dovecot) with
 * the server, credentials and CA from an esmtp-style configuration file.
 *
 * - s-nail (`-S mta=<wrapper> -S sendwait`): a non-ASCII subject, an
 *   attachment, and a body line holding only "." (s-nail passes `-i`); the
 *   message lands in the maildir and Python's `email` package decodes the
 *   subject and the attachment. A wrong password makes smtpsend exit 77 and
 *   s-nail report failure (non-zero exit, message saved to DEAD).
 * - git send-email (`--sendmail-cmd=<wrapper>`, or `--smtp-server=<wrapper>`
 *   before git 2.33): a one-commit repository, `git format-patch -1`; the
 *   `[PATCH]` mail lands in the maildir with the diff in its body.
 *
 * - mutt (`set sendmail="<wrapper>"`, which makes mutt pass no `-oi`): a body
 *   with lone "." lines, a binary and a text attachment (the text one with lone
 *   "." lines too); what mutt piped in arrives in the maildir byte for byte.
 * - fetchmail (`mda "<wrapper> -f %F %T"`, no `-i` either) fetching from
 *   Dovecot's POP3 server a message with lone "." lines and an attachment: it
 *   arrives byte for byte through Postfix, the POP3 server still held it when
 *   smtpsend exited, and fetchmail deletes it only after that; when smtpsend
 *   fails (wrong password, 77) fetchmail keeps it on the server and a later
 *   run delivers it.
 *
 * The CLI runs on the runtime running this file (built `bin/smtpsend.js` on
 * Node, else `cli.ts` through tsx; `bun cli.ts`; `deno run -A cli.ts`),
 * through a small sh wrapper (tests/support/mua/smtpsend-wrapper.sh.in)
 * because MUAs take one program path. Missing MUAs or servers FAIL the test
 * (scripts/setup.sh installs s-nail, git-email, mutt, fetchmail and dovecot-pop3d; scripts/test-servers.sh
 * start runs the servers).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { accessSync, chownSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { readMaildir, servers, type StoredMessage, type TestServers, waitForMaildirMessage } from "./support/servers.ts";
import { runtimeCommand, testRuntime } from "./support/runtime_command.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const MUA_DIR = join(ROOT, "tests/support/mua");
const PY_SCRIPT = join(ROOT, "tests/support/parse_python.py");
const RT = testRuntime();
const PATH = process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin";

/** The CLI on this runtime, as in tests/cli_e2e_test.ts. */
function cliCommand(): string[] {
  if (RT === "node") {
    const bin = join(ROOT, "bin/smtpsend.js");
    if (existsSync(bin)) return [process.execPath, bin];
  }
  return [...runtimeCommand(), join(ROOT, "cli.ts")];
}

/** Quotes one word for sh. */
function shq(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Fills `@NAME@` placeholders of a template in tests/support/mua. */
function fill(template: string, values: Record<string, string>): string {
  const text = readFileSync(join(MUA_DIR, template), "utf8").replace(/@([A-Z_]+)@/g, (m, k: string) => {
    const v = values[k];
    if (v === undefined) throw new Error(`${template}: no value for ${m}`);
    return v;
  });
  return text;
}

/** The executable `name` on PATH, or a failure naming the Debian package. */
function which(name: string, debianPackage: string): string {
  for (const dir of PATH.split(":")) {
    const p = join(dir || ".", name);
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  assert.fail(`${name} is not installed (Debian package ${debianPackage}): run scripts/setup.sh`);
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { cwd: string; env: Record<string, string>; input?: string }): Run {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env, input: opts.input ?? "", timeout: 30_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout?.toString() ?? "", stderr: r.stderr?.toString() ?? "" };
}

interface PyPart {
  contentType: string;
  filename: string | null;
  disposition: string | null;
  body: string; // base64 of the decoded payload
}

interface PyMessage {
  subject: string | null;
  parts: PyPart[];
  defects: string[];
}

/** Parses a delivered message with Python's standard `email` package (tests/support/parse_python.py). */
function parsePython(bytes: Uint8Array): PyMessage {
  const r = spawnSync("/usr/bin/python3", [PY_SCRIPT], { input: bytes, timeout: 15_000 });
  if (r.status !== 0) throw new Error(`parse_python.py failed: ${r.stderr?.toString()}`);
  return JSON.parse(r.stdout.toString()) as PyMessage;
}

const decodeB64 = (s: string): Uint8Array => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** Bytes as a string of the same length, one character per octet (for byte-exact comparisons). */
function octets(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

/**
 * Checks that `stored` is `sent` with only trace fields put in front (as Postfix's virtual delivery
 * and fetchmail add them): the rest is byte for byte what was sent.
 */
function assertOnlyTraceAdded(stored: string, sent: string, traceFields: readonly string[]): void {
  assert.ok(stored.endsWith(sent), `the message changed on the way:\n--- sent\n${sent}\n--- stored\n${stored}`);
  const added = stored.slice(0, stored.length - sent.length);
  const names = added.split("\n").filter((l) => l !== "" && !/^[ \t]/.test(l)).map((l) => l.slice(0, l.indexOf(":")).toLowerCase());
  for (const n of names) assert.ok(traceFields.includes(n), `field "${n}" was added in front of the message`);
}

function token(): string {
  return `mua-${RT}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

describe(`real MUAs with smtpsend (${RT}) as their sendmail`, () => {
  let S: TestServers;
  let base = "";

  /** A fresh work dir: HOME, a 0600 config, the wrapper and its argument log. */
  function setup(name: string, password?: string): { dir: string; home: string; wrapper: string; argsLog: string; config: string } {
    const dir = mkdtempSync(join(base, `${name}-`));
    const home = join(dir, "home");
    mkdirSync(home, { mode: 0o700 });
    const alice = S.users.alice;
    const pw = password ?? alice.password;
    for (const v of [alice.user, pw, S.tls.caFile]) assert.ok(!/["\\\n]/.test(v), `cannot quote ${JSON.stringify(v)} in the config`);
    const config = join(dir, "smtpsendrc");
    writeFileSync(
      config,
      fill("esmtprc.in", { FROM: alice.user, PORT: String(S.ports.submission), USER: alice.user, PASSWORD: pw, CA_FILE: S.tls.caFile }),
      { mode: 0o600 },
    );
    const argsLog = join(dir, "args.log");
    const wrapper = join(dir, "smtpsend-wrapper");
    writeFileSync(
      wrapper,
      fill("smtpsend-wrapper.sh.in", { ARGS_LOG: shq(argsLog), CLI: cliCommand().map(shq).join(" "), CONFIG: shq(config) }),
      { mode: 0o755 },
    );
    return { dir, home, wrapper, argsLog, config };
  }

  /**
   * Like {@link setup}, with the recording wrapper (tests/support/mua/smtpsend-tee.sh.in): call N leaves
   * its standard input in `dir/input.N`, smtpsend's status in `dir/status.N` and the POP3 mailbox listing
   * taken right after smtpsend exited in `dir/pop.N`.
   */
  function teeSetup(name: string, password?: string): ReturnType<typeof setup> & { record: (what: string, n: number) => string } {
    const w = setup(name, password);
    const rec = join(w.dir, "rec");
    mkdirSync(rec);
    writeFileSync(
      w.wrapper,
      fill("smtpsend-tee.sh.in", {
        ARGS_LOG: shq(w.argsLog),
        DIR: shq(rec),
        CLI: cliCommand().map(shq).join(" "),
        CONFIG: shq(w.config),
        POP_MAILDIR: shq(S.pop3.maildir),
      }),
      { mode: 0o755 },
    );
    const record = (what: string, n: number): string => {
      const f = join(rec, `${what}.${n}`);
      assert.ok(existsSync(f), `the wrapper left no ${what}.${n}`);
      return octets(readFileSync(f));
    };
    return { ...w, record };
  }

  /** The argument lists of every wrapper call so far. */
  function calls(argsLog: string): string[][] {
    if (!existsSync(argsLog)) return [];
    return readFileSync(argsLog, "utf8")
      .split("--- call\n")
      .slice(1)
      .map((c) => c.replace(/\n$/, "").split("\n"));
  }

  function muaEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
    return { PATH, HOME: home, USER: "tester", LOGNAME: "tester", LC_ALL: "C.UTF-8", NO_COLOR: "1", TZ: "UTC", ...extra };
  }

  before(() => {
    S = servers(); // throws (fails) when the servers' env file is missing
    base = mkdtempSync(join(tmpdir(), "smtpsend-mua-"));
  });
  after(() => {
    if (base) rmSync(base, { recursive: true, force: true });
  });

  describe("s-nail", () => {
    /** s-nail without any rc file, sending through the wrapper and waiting for its exit status. */
    function snailArgs(w: { dir: string; wrapper: string }, subject: string, extra: string[], to: string): string[] {
      return [
        "-:/", // load no resource files (also MAILRC=/dev/null)
        "-S", `mta=${w.wrapper}`,
        "-S", "sendwait", // wait for the MTA and use its exit status
        "-S", "ttycharset=utf-8",
        "-S", "sendcharsets=utf-8",
        "-S", `DEAD=${join(w.dir, "dead.letter")}`, // for root, s-nail ignores $HOME
        "-r", S.users.alice.user,
        "-s", subject,
        ...extra,
        to,
      ];
    }

    test("non-ASCII subject, attachment and a lone '.' line arrive intact through STARTTLS + SASL", async () => {
      const snail = which("s-nail", "s-nail");
      const w = setup("snail");
      const tok = token();
      const subject = `Grüße aus Köln ✓ ${tok}`;
      const attachment = join(w.dir, "data.bin");
      const attBytes = Uint8Array.from({ length: 256 }, (_, i) => i);
      writeFileSync(attachment, attBytes);
      const body = `Hello from s-nail ${tok}\n.\nafter the dot\n`;
      const r = run(snail, snailArgs(w, subject, ["-a", attachment], "user@smtpsend.test"), {
        cwd: w.dir,
        env: muaEnv(w.home, { MAILRC: "/dev/null" }),
        input: body,
      });
      assert.equal(r.status, 0, `s-nail failed: ${r.stderr}${r.stdout}`);

      const c = calls(w.argsLog);
      assert.equal(c.length, 1, "the wrapper ran once");
      assert.deepEqual(c[0], ["-i", "-f", S.users.alice.user, "--", "user@smtpsend.test"]);

      const msg: StoredMessage = await waitForMaildirMessage("user", (m) => m.text.includes(tok));
      // Authenticated over TLS by Postfix.
      assert.match(msg.header("received") ?? "", /using TLS.*with ESMTPSA/s);
      assert.equal(msg.header("return-path"), `<${S.users.alice.user}>`);
      // s-nail encoded the subject (RFC 2047) and Python decodes it back.
      const raw = msg.header("subject") ?? "";
      assert.match(raw, /=\?utf-8\?[BQ]\?/i, `subject not encoded: ${raw}`);
      assert.ok(!/[^\x00-\x7f]/.test(raw), "raw subject is 7-bit");
      const py = parsePython(msg.bytes);
      assert.equal(py.subject, subject);
      assert.deepEqual(py.defects, []);
      const text = py.parts.find((p) => p.contentType === "text/plain" && p.disposition !== "attachment");
      assert.ok(text, "text part");
      const textBody = new TextDecoder().decode(decodeB64(text!.body)).replace(/\r\n/g, "\n");
      assert.ok(textBody.includes(`Hello from s-nail ${tok}\n.\nafter the dot\n`), `body changed: ${JSON.stringify(textBody)}`);
      const att = py.parts.find((p) => p.disposition === "attachment");
      assert.ok(att, `no attachment among ${py.parts.map((p) => p.contentType).join(", ")}`);
      assert.equal(att!.filename, "data.bin");
      assert.deepEqual(decodeB64(att!.body), attBytes);
    });

    test("a wrong password: smtpsend exits 77, s-nail reports failure and keeps the message", () => {
      const snail = which("s-nail", "s-nail");
      const w = setup("snail-fail", "wrong-password");
      const tok = token();
      // The wrapper's status seen directly: 77 (EX_NOPERM).
      const direct = run(w.wrapper, ["-i", "--", "user@smtpsend.test"], {
        cwd: w.dir,
        env: muaEnv(w.home),
        input: `From: ${S.users.alice.user}\nTo: user@smtpsend.test\nSubject: direct ${tok}\n\nbody\n`,
      });
      assert.equal(direct.status, 77, `smtpsend: ${direct.stderr}`);
      assert.match(direct.stderr, /^smtpsend: .*auth/im);

      const r = run(snail, snailArgs(w, `fail ${tok}`, [], "user@smtpsend.test"), {
        cwd: w.dir,
        env: muaEnv(w.home, { MAILRC: "/dev/null" }),
        input: `must not be sent ${tok}\n`,
      });
      assert.notEqual(r.status, 0, `s-nail exited 0 although smtpsend failed: ${r.stderr}`);
      assert.match(r.stderr, /^smtpsend: /m, "smtpsend's error line reaches the user");
      assert.match(r.stderr, /message not sent/);
      assert.equal(calls(w.argsLog).length, 2);
      const dead = join(w.dir, "dead.letter");
      assert.ok(existsSync(dead) && readFileSync(dead, "utf8").includes(`must not be sent ${tok}`), "s-nail saved the message to DEAD");
    });
  });

  describe("git send-email", () => {
    test("a format-patch mail: [PATCH] subject, the diff in the body, sent with -i", async () => {
      const git = which("git", "git");
      const env = (home: string) =>
        muaEnv(home, {
          GIT_AUTHOR_NAME: "Alice Tester",
          GIT_AUTHOR_EMAIL: S.users.alice.user,
          GIT_COMMITTER_NAME: "Alice Tester",
          GIT_COMMITTER_EMAIL: S.users.alice.user,
          GIT_AUTHOR_DATE: "2026-01-02T03:04:05Z",
          GIT_COMMITTER_DATE: "2026-01-02T03:04:05Z",
          GIT_CONFIG_NOSYSTEM: "1",
          GIT_TERMINAL_PROMPT: "0",
          GIT_EDITOR: "true",
        });
      const w = setup("git");
      const e = env(w.home);
      const execPath = run(git, ["--exec-path"], { cwd: w.dir, env: e }).stdout.trim();
      if (!existsSync(join(execPath, "git-send-email"))) {
        assert.fail("git send-email is not installed (Debian package git-email): run scripts/setup.sh");
      }
      const version = /git version (\d+)\.(\d+)/.exec(run(git, ["--version"], { cwd: w.dir, env: e }).stdout);
      assert.ok(version, "git --version");
      // --sendmail-cmd exists since git 2.33; before, --smtp-server takes a program path.
      const newGit = Number(version[1]) > 2 || (Number(version[1]) === 2 && Number(version[2]) >= 33);

      const repo = join(w.dir, "repo");
      mkdirSync(repo);
      const g = (...args: string[]): Run => {
        const r = run(git, args, { cwd: repo, env: e });
        assert.equal(r.status, 0, `git ${args.join(" ")}: ${r.stderr}`);
        return r;
      };
      const tok = token();
      g("init", "-q");
      writeFileSync(join(repo, "hello.txt"), `hello ${tok}\nsecond line\n`);
      g("add", "hello.txt");
      // A lone "." line in the commit message: kept only because git passes -i.
      g("commit", "-q", "-m", `Add hello.txt ${tok}`, "-m", `Body ${tok}\n.\nafter the dot`);
      const patch = g("format-patch", "-1", "-o", join(w.dir, "patches")).stdout.trim();
      assert.ok(existsSync(patch), `format-patch wrote ${patch}`);

      const r = run(
        git,
        [
          "send-email",
          newGit ? `--sendmail-cmd=${w.wrapper}` : `--smtp-server=${w.wrapper}`,
          "--to=user@smtpsend.test",
          `--from=Alice Tester <${S.users.alice.user}>`,
          "--confirm=never",
          "--suppress-cc=all",
          "--no-chain-reply-to",
          "--no-validate",
          patch,
        ],
        { cwd: repo, env: e },
      );
      const hint = /Mail::Address/.test(r.stderr)
        ? "\n(Debian's git send-email needs Mail::Address: package libmailtools-perl, a mere Recommends of git-email; run scripts/setup.sh)"
        : "";
      assert.equal(r.status, 0, `git send-email failed:\n${r.stdout}\n${r.stderr}${hint}`);
      assert.match(r.stdout, /Result: OK/);

      const c = calls(w.argsLog);
      assert.equal(c.length, 1, "the wrapper ran once");
      assert.ok(c[0]!.includes("-i"), `git send-email passes -i: ${c[0]!.join(" ")}`);
      assert.equal(c[0]!.at(-1), "user@smtpsend.test");

      const msg = await waitForMaildirMessage("user", (m) => m.text.includes(`hello ${tok}`));
      assert.match(msg.header("received") ?? "", /using TLS.*with ESMTPSA/s);
      assert.equal(msg.header("subject"), `[PATCH] Add hello.txt ${tok}`);
      assert.equal(msg.header("from"), `Alice Tester <${S.users.alice.user}>`);
      assert.match(msg.header("x-mailer") ?? "", /^git-send-email /);
      const body = msg.body.replace(/\r\n/g, "\n");
      assert.ok(body.includes(`Body ${tok}\n.\nafter the dot\n`), `commit message changed: ${body}`);
      assert.ok(body.includes("diff --git a/hello.txt b/hello.txt\n"), "diff header in the body");
      assert.ok(body.includes(`+hello ${tok}\n+second line\n`), "diff lines in the body");
    });
  });
  describe("mutt", () => {
    test("set sendmail=smtpsend (no -oi): lone '.' lines and two attachments arrive byte for byte", async () => {
      const mutt = which("mutt", "mutt");
      const w = teeSetup("mutt");
      assert.ok(!/\s/.test(w.wrapper), "mutt splits $sendmail on blanks");
      const tok = token();
      const binary = join(w.dir, "data.bin");
      const binBytes = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
      writeFileSync(binary, binBytes);
      const notes = join(w.dir, "notes.txt");
      const notesText = `notes ${tok}\n.\nmiddle\n.\n`;
      writeFileSync(notes, notesText);
      const muttrc = join(w.dir, "muttrc");
      writeFileSync(
        muttrc,
        [
          `set sendmail="${w.wrapper}"`, // the README's advice: mutt then passes no -oi
          `set from="${S.users.alice.user}"`,
          "set use_envelope_from=yes",
          'set charset="utf-8"',
          'set send_charset="us-ascii:utf-8"',
          'set record=""',
          `set postponed="${join(w.dir, "postponed")}"`,
          `set folder="${w.dir}"`,
          `set tmpdir="${w.dir}"`,
          "",
        ].join("\n"),
      );
      const body = `Hello from mutt ${tok}\n.\nafter the first dot\n.\n\nlast line\n`;
      const r = run(mutt, ["-n", "-F", muttrc, "-s", `mutt ${tok}`, "-a", binary, notes, "--", "user@smtpsend.test"], {
        cwd: w.dir,
        env: muaEnv(w.home),
        input: body,
      });
      assert.equal(r.status, 0, `mutt failed: ${r.stderr}${r.stdout}`);

      const c = calls(w.argsLog);
      assert.equal(c.length, 1, "the wrapper ran once");
      assert.deepEqual(c[0], ["-f", S.users.alice.user, "--", "user@smtpsend.test"], "mutt passes no -oi with its own sendmail setting");
      assert.equal(w.record("status", 1).trim(), "0");
      const piped = w.record("input", 1);
      assert.ok(piped.includes(`\n.\nafter the first dot\n.\n`), "mutt piped the lone dots (the test means what it says)");

      const msg = await waitForMaildirMessage("user", (m) => m.text.includes(`mutt ${tok}`));
      assert.match(msg.header("received") ?? "", /using TLS.*with ESMTPSA/s);
      // Postfix puts Return-Path, X-Original-To, Delivered-To and Received in front; the rest is what mutt piped.
      assertOnlyTraceAdded(octets(msg.bytes), piped, ["return-path", "x-original-to", "delivered-to", "received"]);

      const py = parsePython(msg.bytes);
      assert.deepEqual(py.defects, []);
      const text = py.parts.find((p) => p.contentType === "text/plain" && p.disposition !== "attachment");
      assert.ok(text, "text part");
      assert.equal(new TextDecoder().decode(decodeB64(text!.body)).replace(/\r\n/g, "\n"), body);
      const bin = py.parts.find((p) => p.filename === "data.bin");
      assert.ok(bin, `no data.bin among ${py.parts.map((p) => p.filename).join(", ")}`);
      assert.deepEqual(decodeB64(bin!.body), binBytes);
      const txt = py.parts.find((p) => p.filename === "notes.txt");
      assert.ok(txt, "notes.txt attachment");
      assert.equal(new TextDecoder().decode(decodeB64(txt!.body)).replace(/\r\n/g, "\n"), notesText);
    });
  });

  describe("fetchmail", () => {
    /** A MIME message with lone "." lines in its text and a binary attachment, LF line ends. */
    function popMessage(tok: string, attachment: Uint8Array): string {
      const b64 = btoa(String.fromCharCode(...attachment)).replace(/.{1,76}/g, "$&\n");
      return [
        "From: Remote Sender <remote@example.org>",
        "To: popper@smtpsend.test",
        `Subject: fetched ${tok}`,
        "Date: Fri, 02 Jan 2026 03:04:05 +0000",
        `Message-ID: <${tok}@example.org>`,
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b-1"',
        "",
        "--b-1",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        `Fetched ${tok}`,
        ".",
        "after the dot",
        ".",
        "",
        "--b-1",
        'Content-Type: application/octet-stream; name="blob.bin"',
        'Content-Disposition: attachment; filename="blob.bin"',
        "Content-Transfer-Encoding: base64",
        "",
        b64.trimEnd(),
        "--b-1--",
        "",
      ].join("\n");
    }

    /** Puts a message into the POP3 mailbox (owned like the maildir, so Dovecot may delete it). */
    function deposit(name: string, text: string): string {
      const file = join(S.pop3.maildir, "new", name);
      writeFileSync(file, text, { mode: 0o600 });
      const owner = statSync(S.pop3.maildir);
      if (process.getuid?.() === 0) chownSync(file, owner.uid, owner.gid);
      return name;
    }

    /** Messages on the POP3 server whose file name starts with `name` (Dovecot renames new/x to cur/x:2,…). */
    function onServer(name: string): string[] {
      return ["new", "cur"].flatMap((d) => readdirSync(join(S.pop3.maildir, d)).filter((f) => f.startsWith(name)).map((f) => `${d}/${f}`));
    }

    function fetchmail(w: { dir: string; home: string; wrapper: string }): Run {
      const bin = which("fetchmail", "fetchmail");
      const rc = join(w.dir, "fetchmailrc");
      for (const v of [S.pop3.user, S.pop3.password, w.wrapper]) assert.ok(!/["\\\s]/.test(v), `cannot quote ${v} for fetchmailrc`);
      writeFileSync(
        rc,
        [
          "set no bouncemail",
          `poll ${S.host} port ${S.pop3.port} protocol pop3 auth password`,
          `  user "${S.pop3.user}" password "${S.pop3.password}" is "user@smtpsend.test" here`,
          // The test Dovecot speaks POP3 without TLS on loopback; fetchmail 6.4 otherwise insists on STLS.
          "  sslproto ''",
          // fetchmail's own documented form; no -i
          `  mda "${w.wrapper} -f %F %T"`,
          "",
        ].join("\n"),
        { mode: 0o600 }, // fetchmail refuses a readable rc file
      );
      return run(
        bin,
        ["-f", rc, "--nodetach", "--nosyslog", "-i", join(w.dir, "fetchids"), "--pidfile", join(w.dir, "fetchmail.pid")],
        { cwd: w.dir, env: muaEnv(w.home, { FETCHMAILHOME: w.home }) },
      );
    }

    before(() => {
      // Leftovers of an earlier failed run would be fetched too: the mailbox only ever holds test mail.
      for (const d of ["new", "cur"]) for (const f of readdirSync(join(S.pop3.maildir, d))) rmSync(join(S.pop3.maildir, d, f));
    });

    test("mda \"smtpsend -f %F %T\": lone '.' lines and an attachment arrive byte for byte, then the POP3 copy is deleted", async () => {
      const w = teeSetup("fetchmail");
      const tok = token();
      const blob = Uint8Array.from({ length: 3000 }, (_, i) => (i * 31 + 7) & 0xff);
      const original = popMessage(tok, blob);
      const name = deposit(`${tok}.eml`, original);
      assert.equal(onServer(name).length, 1);

      const r = fetchmail(w);
      assert.equal(r.status, 0, `fetchmail failed:\n${r.stdout}\n${r.stderr}`);
      const c = calls(w.argsLog);
      assert.equal(c.length, 1, "the wrapper ran once");
      assert.deepEqual(c[0], ["-f", "remote@example.org", "user@smtpsend.test"], "fetchmail passes no -i");
      assert.equal(w.record("status", 1).trim(), "0");
      // When smtpsend had handed the message to Postfix and exited, the POP3 server still held it.
      assert.ok(w.record("pop", 1).includes(name), `not on the POP3 server when smtpsend exited: ${w.record("pop", 1)}`);
      // …and fetchmail deleted it afterwards.
      assert.deepEqual(onServer(name), [], "fetchmail deleted the message after a successful delivery");

      const msg = await waitForMaildirMessage("user", (m) => m.text.includes(`fetched ${tok}`));
      assert.match(msg.header("received") ?? "", /using TLS.*with ESMTPSA/s);
      assert.equal(msg.header("return-path"), "<remote@example.org>");
      // Postfix and fetchmail (its own Received:) add trace fields in front; the original follows whole.
      assertOnlyTraceAdded(octets(msg.bytes), original, ["return-path", "x-original-to", "delivered-to", "received"]);
      assert.ok(w.record("input", 1).endsWith(original), "fetchmail piped the original");
      const py = parsePython(msg.bytes);
      assert.deepEqual(py.defects, []);
      const att = py.parts.find((p) => p.filename === "blob.bin");
      assert.ok(att, "attachment");
      assert.deepEqual(decodeB64(att!.body), blob);
    });

    test("when smtpsend fails (wrong password, 77) fetchmail keeps the message; the next run delivers it", async () => {
      const tok = token();
      const blob = Uint8Array.from({ length: 500 }, (_, i) => 255 - (i & 0xff));
      const original = popMessage(tok, blob);
      const name = deposit(`${tok}.eml`, original);

      const bad = teeSetup("fetchmail-fail", "wrong-password");
      fetchmail(bad); // fetchmail's own status says little here; the mailbox and smtpsend's status say it all
      assert.equal(calls(bad.argsLog).length, 1, "the wrapper ran once");
      assert.equal(bad.record("status", 1).trim(), "77", "smtpsend reports the authentication failure");
      assert.equal(onServer(name).length, 1, "the message is still on the POP3 server");

      const good = teeSetup("fetchmail-retry");
      const r = fetchmail(good);
      assert.equal(r.status, 0, `fetchmail failed:\n${r.stdout}\n${r.stderr}`);
      assert.equal(good.record("status", 1).trim(), "0");
      assert.deepEqual(onServer(name), []);
      const msg = await waitForMaildirMessage("user", (m) => m.text.includes(`fetched ${tok}`));
      assertOnlyTraceAdded(octets(msg.bytes), original, ["return-path", "x-original-to", "delivered-to", "received"]);
      assert.equal(readMaildir("user").filter((m) => m.text.includes(`fetched ${tok}`)).length, 1, "delivered once");
    });
  });
});
