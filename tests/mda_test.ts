/**
 * Local delivery through an MDA: the command line is split without a shell,
 * %T/%F are substituted as whole arguments, and hostile recipients are
 * inert. The end-to-end cases spawn a real MDA script that records its argv
 * and standard input, through the runtime's own Host (no stand-in: if the
 * runtime adapter cannot be loaded, these tests fail).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Host } from "../deps.ts";
import { runtime } from "../deps.ts";
import { main } from "../src/cli/main.ts";
import { deliverLocal, mdaArgv, mdaExitCode, splitCommandLine } from "../src/cli/mda.ts";
import { CliError } from "../src/cli/errors.ts";
import { ConfigError } from "../src/errors.ts";
import { fakeSmtp } from "./fixtures/cli/fake_smtp.ts";

describe("splitCommandLine()", () => {
  test("splits on blanks and keeps %T/%F as words", () => {
    assert.deepEqual(splitCommandLine("/usr/bin/procmail -d %T"), ["/usr/bin/procmail", "-d", "%T"]);
    assert.deepEqual(splitCommandLine("  /x   -f %F\t%T  "), ["/x", "-f", "%F", "%T"]);
  });

  test("quotes and backslashes, with no expansion", () => {
    assert.deepEqual(splitCommandLine(`'/opt/my mda' --to "%T" a\\ b`), ["/opt/my mda", "--to", "%T", "a b"]);
    assert.deepEqual(splitCommandLine(`x '$HOME' "a\\"b" 'it''s'`), ["x", "$HOME", 'a"b', "its"]);
    assert.deepEqual(splitCommandLine(`x "\\$HOME" '|' ';' '*'`), ["x", "$HOME", "|", ";", "*"]);
    assert.deepEqual(splitCommandLine(`x ""`), ["x", ""]);
  });

  test("shell syntax that would need a shell is refused, naming the fix", () => {
    for (const bad of [
      `/usr/bin/formail -a "Date: \`date -R\`" | /usr/bin/procmail -d %T`, // the esmtp manual's pipeline
      "procmail -d %T; rm x",
      "procmail -d %T && x",
      "procmail > /tmp/x",
      "procmail -d $USER",
      `procmail -d "$USER"`,
      "procmail $(id)",
      "~/bin/mda %T",
    ]) {
      assert.throws(() => splitCommandLine(bad), (e: unknown) => e instanceof ConfigError && /needs a shell.*script/.test(e.message), bad);
    }
    assert.throws(() => splitCommandLine(`x 'open`), /unterminated single quote/);
    assert.throws(() => splitCommandLine(`x "open`), /unterminated double quote/);
    assert.throws(() => splitCommandLine("   "), /empty/);
  });
});

describe("mdaArgv()", () => {
  const words = ["/usr/bin/procmail", "-f", "%F", "-d", "%T", "--x=%T%%"];

  test("substitutes inside words, one argument per word whatever the recipient holds", () => {
    for (const hostile of ["$(touch x)", ";rm -rf ~", "`id`", "a b c", `it's "q"`, "x\\y", "%F"]) {
      const argv = mdaArgv(words, hostile, "me@example.org");
      assert.deepEqual(argv, ["/usr/bin/procmail", "-f", "me@example.org", "-d", hostile, `--x=${hostile}%`]);
    }
  });

  test("a whole-word value starting with '-' is refused (it would be an option)", () => {
    assert.throws(() => mdaArgv(words, "-oProxyCommand=x", "me@example.org"), (e: unknown) => e instanceof CliError && e.exitCode === 65);
    assert.throws(() => mdaArgv(words, "bob", "-evil@example.org"), (e: unknown) => e instanceof CliError && e.exitCode === 65);
    // Inside a longer word it is harmless.
    assert.deepEqual(mdaArgv(["/mda", "--to=%T"], "-x", "s"), ["/mda", "--to=-x"]);
  });

  test("exit statuses: sysexits pass through, others and signals are 75", () => {
    assert.equal(mdaExitCode(0), 0);
    assert.equal(mdaExitCode(67), 67);
    assert.equal(mdaExitCode(75), 75);
    assert.equal(mdaExitCode(78), 78);
    assert.equal(mdaExitCode(1), 75);
    assert.equal(mdaExitCode(127), 75);
    assert.equal(mdaExitCode(null), 75);
  });
});

// ----------------------------------------------------------------- real MDA

let dir = "";
let realHost: Host;

/** The real host with this test's standard input and captured output. */
function testHost(stdin: string): Host & { err: string; out: string } {
  const r = realHost;
  const h = {
    err: "",
    out: "",
    env: (n: string) => (n === "SMTPSERVER" ? undefined : r.env(n)),
    homeDir: () => dir,
    hostname: () => r.hostname(),
    pid: () => r.pid(),
    readFile: (p: string) => r.readFile(p),
    readStream: (p: string) => r.readStream(p),
    stat: (p: string) => r.stat(p),
    writeFile: (p: string, d: Uint8Array | AsyncIterable<Uint8Array>, o?: { mode?: number; exclusive?: boolean; sync?: boolean }) =>
      r.writeFile(p, d, o),
    appendFile: (p: string, d: Uint8Array, o?: { mode?: number }) => r.appendFile(p, d, o),
    rename: (a: string, b: string) => r.rename(a, b),
    remove: (p: string, o?: { force?: boolean }) => r.remove(p, o),
    mkdir: (p: string, o?: { mode?: number; recursive?: boolean }) => r.mkdir(p, o),
    readDir: (p: string) => r.readDir(p),
    syncDir: (p: string) => r.syncDir(p),
    run: (argv: readonly string[], o?: Parameters<Host["run"]>[1]) => r.run(argv, o),
    async *stdin() {
      yield new TextEncoder().encode(stdin);
    },
    writeStderr(t: string) {
      h.err += t;
    },
    writeStdout(t: string) {
      h.out += t;
    },
    isTerminal: () => false,
    prompt: () => Promise.resolve(null),
  };
  return h;
}

const MDA_SCRIPT = `#!/bin/sh
# Records its argv (NUL-separated) and standard input, one pair of files per run.
d=$(dirname "$0")
n=$(date +%s%N)-$$
for a in "$@"; do printf '%s\\0' "$a"; done > "$d/runs/argv.$n"
cat > "$d/runs/stdin.$n"
if [ -f "$d/exit_status" ]; then exit "$(cat "$d/exit_status")"; fi
exit 0
`;

function runs(): { argv: string[]; stdin: string }[] {
  return readdirSync(join(dir, "runs"))
    .filter((f) => f.startsWith("argv."))
    .sort()
    .map((f) => ({
      argv: readFileSync(join(dir, "runs", f), "utf8").split("\0").slice(0, -1),
      stdin: readFileSync(join(dir, "runs", f.replace("argv.", "stdin.")), "utf8"),
    }));
}

function reset(): void {
  rmSync(join(dir, "runs"), { recursive: true, force: true });
  rmSync(join(dir, "exit_status"), { force: true });
  readdirSync(dir).filter((f) => f.startsWith("pwned")).forEach((f) => rmSync(join(dir, f)));
  writeFileSync(join(dir, "victim"), "still here\n");
  mkdirSync(join(dir, "runs"), { recursive: true });
}

function rc(mdaLine: string, extra = ""): string {
  const path = join(dir, "smtpsendrc");
  writeFileSync(path, `hostname = mx.example.org:25\nmda ${JSON.stringify(mdaLine)}\n${extra}`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

describe("local delivery through a real MDA script", () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "smtpsend-mda-"));
    writeFileSync(join(dir, "mda.sh"), MDA_SCRIPT, { mode: 0o755 });
    writeFileSync(join(dir, "my mda.sh"), MDA_SCRIPT, { mode: 0o755 });
    chmodSync(join(dir, "mda.sh"), 0o755);
    chmodSync(join(dir, "my mda.sh"), 0o755);
    realHost = (await runtime()).host; // the runtime's own adapter: if it does not load, these tests fail
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const MSG = "From: Sender <sender@example.org>\nTo: somebody\nBcc: secret@example.net\nSubject: local\n\nHello, MDA.\n";

  test("hostile recipients that are not addresses are refused (65) before any MDA or shell runs", async () => {
    const hostile = [
      `;touch ${dir}/pwned2`,
      `\`touch ${dir}/pwned3\``,
      `|rm -f ${dir}/victim`,
      `&& touch ${dir}/pwned4 #`,
    ];
    for (const h of hostile) {
      reset();
      const host = testHost(MSG);
      const code = await main(["-C", rc(`${dir}/mda.sh -f %F -d %T`), "-f", "sender@example.org", "--", h], {
        host,
        connector: fakeSmtp().connector,
      });
      assert.equal(code, 65, `${h}: ${host.err}`);
      assert.equal(runs().length, 0, h);
      for (const f of ["pwned1", "pwned2", "pwned3", "pwned4"]) assert.equal(existsSync(join(dir, f)), false, f);
      assert.equal(readFileSync(join(dir, "victim"), "utf8"), "still here\n");
    }
  });

  test("hostile quoted local parts reach the MDA as single inert arguments; no shell ever runs them", async () => {
    reset();
    const payloads = [
      `$(touch ${dir}/pwned1)`,
      `;touch ${dir}/pwned2`,
      `\`touch ${dir}/pwned3\``,
      `|rm -f ${dir}/victim`,
      `&& touch ${dir}/pwned4 #`,
      `a b 'd' *`,
    ];
    const host = testHost(MSG);
    const code = await main(
      ["-C", rc(`${dir}/mda.sh -f %F -d %T`), "-f", "sender@example.org", "--", ...payloads.map((p) => JSON.stringify(p))],
      { host, connector: fakeSmtp().connector },
    );
    assert.equal(code, 0, host.err);
    const r = runs();
    assert.equal(r.length, payloads.length);
    for (const p of payloads) {
      const run = r.find((x) => x.argv[3]?.includes(p));
      assert.ok(run, `payload ${JSON.stringify(p)} arrived`);
      assert.equal(run!.argv.length, 4, `one argument for ${JSON.stringify(p)}: ${JSON.stringify(run!.argv)}`);
      assert.deepEqual(run!.argv.slice(0, 3), ["-f", "sender@example.org", "-d"]);
    }
    for (const f of ["pwned1", "pwned2", "pwned3", "pwned4"]) assert.equal(existsSync(join(dir, f)), false, f);
    assert.equal(readFileSync(join(dir, "victim"), "utf8"), "still here\n");
  });

  test("an unquoted $(…) is the atom \"$\" plus an RFC 5322 comment: the MDA gets \"$\" and nothing runs", async () => {
    reset();
    const host = testHost(MSG);
    const code = await main(["-C", rc(`${dir}/mda.sh -d %T`), "-f", "sender@example.org", "--", `$(touch ${dir}/pwned1)`], {
      host,
      connector: fakeSmtp().connector,
    });
    assert.equal(code, 0, host.err);
    assert.deepEqual(runs().map((r) => r.argv), [["-d", "$"]]);
    assert.equal(existsSync(join(dir, "pwned1")), false);
  });

  test("the MDA gets the prepared message (Bcc: removed, Date:/Message-ID: added) on standard input", async () => {
    reset();
    const host = testHost(MSG);
    const code = await main(["-C", rc(`${dir}/mda.sh -d %T`), "localuser"], { host, connector: fakeSmtp().connector });
    assert.equal(code, 0, host.err);
    const [run] = runs();
    assert.deepEqual(run!.argv, ["-d", "localuser"]);
    assert.match(run!.stdin, /^From: Sender <sender@example\.org>\nTo: somebody\nSubject: local\n/);
    assert.ok(!run!.stdin.includes("Bcc:"));
    assert.match(run!.stdin, /\nDate: /);
    assert.match(run!.stdin, /\nMessage-ID: </);
    assert.ok(run!.stdin.endsWith("\n\nHello, MDA.\n"));
  });

  test("a quoted program path with a space", async () => {
    reset();
    const host = testHost(MSG);
    const code = await main(["-C", rc(`'${dir}/my mda.sh' -d %T`), "bob"], { host, connector: fakeSmtp().connector });
    assert.equal(code, 0, host.err);
    assert.deepEqual(runs()[0]!.argv, ["-d", "bob"]);
  });

  test("local and remote recipients: the MDA and the SMTP server both get the message", async () => {
    reset();
    const host = testHost(MSG);
    const srv = fakeSmtp();
    const code = await main(["-C", rc(`${dir}/mda.sh -d %T`), "alice", "remote@example.net", "carol"], { host, connector: srv.connector });
    assert.equal(code, 0, host.err);
    assert.deepEqual(runs().map((r) => r.argv[1]).sort(), ["alice", "carol"]);
    assert.deepEqual(srv.messages().map((m) => m.to), [["remote@example.net"]]);
    assert.equal(srv.messages()[0]!.data.replace(/\r\n/g, "\n"), runs()[0]!.stdin);
  });

  test("-t: a bare recipient in the header goes to the MDA", async () => {
    reset();
    const host = testHost(MSG);
    const srv = fakeSmtp();
    const code = await main(["-C", rc(`${dir}/mda.sh -d %T`), "-t"], { host, connector: srv.connector });
    assert.equal(code, 0, host.err);
    assert.deepEqual(runs().map((r) => r.argv), [["-d", "somebody"]]);
    assert.deepEqual(srv.messages().map((m) => m.to), [["secret@example.net"]]);
  });

  test("force_mda: every recipient, with or without a domain, goes to the MDA", async () => {
    reset();
    const host = testHost(MSG);
    const srv = fakeSmtp();
    const code = await main(["-C", rc(`${dir}/mda.sh -d %T`, "force_mda on\n"), "x@example.net", "y"], { host, connector: srv.connector });
    assert.equal(code, 0, host.err);
    assert.deepEqual(runs().map((r) => r.argv[1]).sort(), ["x@example.net", "y"]);
    assert.equal(srv.sessions.length, 0);
  });

  test("the MDA's sysexits status passes through; another failure is 75", async () => {
    for (const [status, expected] of [[67, 67], [75, 75], [1, 75]] as const) {
      reset();
      writeFileSync(join(dir, "exit_status"), String(status));
      const host = testHost(MSG);
      const code = await main(["-C", rc(`${dir}/mda.sh -d %T`), "bob"], { host, connector: fakeSmtp().connector });
      assert.equal(code, expected, `MDA status ${status}`);
      assert.match(host.err, new RegExp(`^smtpsend: Local delivery to "bob" failed: the MDA ".*mda\\.sh" exited with status ${status}\\n$`));
    }
  });

  test("an MDA that cannot be started → 75", async () => {
    reset();
    const host = testHost(MSG);
    const code = await main(["-C", rc(`${dir}/no-such-mda -d %T`), "bob"], { host, connector: fakeSmtp().connector });
    assert.equal(code, 75);
    assert.match(host.err, /Local delivery to "bob" failed/);
  });

  test("a recipient that would be an option is refused (65) and the MDA never runs", async () => {
    reset();
    const host = testHost(MSG);
    const code = await main(["-C", rc(`${dir}/mda.sh -d %T`), "--", "-oQ/tmp/x"], { host, connector: fakeSmtp().connector });
    assert.equal(code, 65);
    assert.equal(runs().length, 0);
  });

  test("an mda line with shell syntax is a configuration error (78)", async () => {
    reset();
    const host = testHost(MSG);
    const code = await main(["-C", rc(`${dir}/mda.sh -d %T | cat`), "bob"], { host, connector: fakeSmtp().connector });
    assert.equal(code, 78);
    assert.match(host.err, /needs a shell/);
    assert.equal(runs().length, 0);
  });

  test("deliverLocal() streams to a single recipient", async () => {
    reset();
    async function* body() {
      yield new TextEncoder().encode("Subject: s\n\n");
      yield new TextEncoder().encode("streamed\n");
    }
    const results = await deliverLocal(realHost, `${dir}/mda.sh %T`, ["zed"], "", body());
    assert.deepEqual(results, [{ recipient: "zed", exitCode: 0, error: null }]);
    assert.equal(runs()[0]!.stdin, "Subject: s\n\nstreamed\n");
  });
});
