/**
 * Deno permissions: `deno run cli.ts` without one of the `--allow-…` flags
 * smtpsend needs reports the missing permission and the flag to add, with
 * exit status 77 (EX_NOPERM) — never a misleading downstream error ("No SMTP
 * server configured", "internal error", a temporary connection failure).
 *
 * The command runs under Deno whatever runtime runs this file (the same file
 * runs on Node, Bun and Deno), with reduced permission sets, against the real
 * Postfix. A run with every permission granted is the control: the same
 * configuration delivers. Plus the mapping of Deno's `NotCapable` errors on
 * its own.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { errorLine, exitCodeFor } from "../src/cli/errors.ts";
import { ConfigError, PermissionError } from "../src/errors.ts";
import { denoPermissionError, guardPermissions } from "../src/runtime/deno.ts";
import { FakeHost } from "./support/fake_host.ts";
import { servers, waitForMaildirMessage } from "./support/servers.ts";
import { testRuntime } from "./support/runtime_command.ts";

declare const Deno: { execPath(): string } | undefined;

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const DENO = typeof Deno !== "undefined" ? Deno.execPath() : join(ROOT, "node_modules/.bin/deno");
const RT = testRuntime();

const S = servers();
const base = mkdtempSync(join(tmpdir(), "smtpsend-perm-"));

interface Run {
  status: number | null;
  stderr: string;
}

/** `deno run --no-prompt FLAGS cli.ts ARGS` with HOME holding `files` (mode 0600). */
function denoRun(flags: string[], files: Record<string, string>, args: string[], subject = "permissions"): Promise<Run> {
  const home = mkdtempSync(join(base, "home-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(home, name), text.replaceAll("@HOME@", home), { mode: 0o600 });
  return new Promise((resolve, reject) => {
    const child = spawn(DENO, ["run", "--quiet", "--no-prompt", ...flags, join(ROOT, "cli.ts"), ...args], {
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
    child.stdin.end(`Subject: ${subject}\n\nbody\n`);
  });
}

const TO = ["-f", "me@smtpsend.test", "user@smtpsend.test"];
const PLAIN_RC = { ".smtpsendrc": `hostname ${S.host}:${S.ports.plain}\ntls none\n` };
const ALL = ["--allow-net", "--allow-read", "--allow-env", "--allow-sys"];
const without = (flag: string) => ALL.filter((f) => f !== flag);

function token(what: string): string {
  return `perm-${RT}-${what}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

describe(`deno run with missing permissions (driven from ${RT}, real Postfix)`, () => {
  after(() => rmSync(base, { recursive: true, force: true }));

  test("control: net, read, env and sys are enough to send", async () => {
    const tok = token("control");
    const r = await denoRun(ALL, PLAIN_RC, TO, tok);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.ok(await waitForMaildirMessage("user", (m) => m.header("subject") === tok));
  });

  test("without --allow-sys (the home directory): 77 naming --allow-sys, not 'No SMTP server configured'", async () => {
    const r = await denoRun(without("--allow-sys"), PLAIN_RC, TO);
    assert.equal(r.status, 77, r.stderr);
    assert.equal(r.stderr, 'smtpsend: Deno denied access to system information ("homedir"): run with --allow-sys (or -A)\n');
  });

  test("without --allow-env: 77 naming --allow-env, not an internal error", async () => {
    const r = await denoRun(without("--allow-env"), PLAIN_RC, TO);
    assert.equal(r.status, 77, r.stderr);
    assert.match(r.stderr, /^smtpsend: Deno denied access to the environment \("[A-Z_]+"\): run with --allow-env \(or -A\)\n$/);
  });

  test("without --allow-read (the configuration file): 77 naming the file and --allow-read", async () => {
    const r = await denoRun(without("--allow-read"), PLAIN_RC, TO);
    assert.equal(r.status, 77, r.stderr);
    assert.match(r.stderr, /^smtpsend: Deno denied read access to "\/[^"]*\/\.smtpsendrc": run with --allow-read \(or -A\)\n$/);
  });

  test("without --allow-net: 77 (not a temporary failure to retry) naming the server and --allow-net", async () => {
    const r = await denoRun(without("--allow-net"), PLAIN_RC, TO);
    assert.equal(r.status, 77, r.stderr);
    assert.equal(r.stderr, `smtpsend: Deno denied network access to "${S.host}:${S.ports.plain}": run with --allow-net (or -A)\n`);
  });

  test("a passwordeval without --allow-run: 77 naming --allow-run; with it the same file authenticates and delivers", async () => {
    const u = S.users.alice;
    const files = {
      ".smtpsendrc": `hostname ${S.host}:${S.ports.submission}\ntls starttls\nca_file ${S.tls.caFile}\n` +
        `username ${u.user}\npasswordeval "cat @HOME@/pw"\n`,
      "pw": `${u.password}\n`,
    };
    const r = await denoRun(ALL, files, TO);
    assert.equal(r.status, 77, r.stderr);
    assert.match(r.stderr, /^smtpsend: Deno denied permission to run programs \("[^"]+"\): run with --allow-run \(or -A\)\n$/);
    assert.ok(!r.stderr.includes(u.password));
    const tok = token("run");
    const ok = await denoRun([...ALL, "--allow-run"], files, TO, tok);
    assert.equal(ok.status, 0, ok.stderr);
    assert.ok(await waitForMaildirMessage("user", (m) => m.header("subject") === tok));
  });

  test("--queue without --allow-write: 77 naming --allow-write", async () => {
    const r = await denoRun(ALL, PLAIN_RC, ["--queue", ...TO]);
    assert.equal(r.status, 77, r.stderr);
    assert.match(r.stderr, /Deno denied write access to "[^"]*": run with --allow-write \(or -A\)\n$/);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
  });
});

describe("denoPermissionError() and guardPermissions()", () => {
  const notCapable = (message: string) => Object.assign(new Error(message), { name: "NotCapable" });

  test("Deno's NotCapable texts become PermissionErrors naming the flag", () => {
    const cases: [string, string, string, string][] = [
      ['Requires sys access to "homedir", run again with the --allow-sys flag', "sys", "--allow-sys", 'Deno denied access to system information ("homedir"): run with --allow-sys (or -A)'],
      ['Requires env access to "HOME", run again with the --allow-env flag', "env", "--allow-env", 'Deno denied access to the environment ("HOME"): run with --allow-env (or -A)'],
      ['Requires read access to "/a b/c", run again with the --allow-read flag', "read", "--allow-read", 'Deno denied read access to "/a b/c": run with --allow-read (or -A)'],
      ['Requires net access to "127.0.0.1:25", run again with the --allow-net flag', "net", "--allow-net", 'Deno denied network access to "127.0.0.1:25": run with --allow-net (or -A)'],
      ["Requires env access, run again with the --allow-env flag", "env", "--allow-env", "Deno denied access to the environment: run with --allow-env (or -A)"],
    ];
    for (const [text, permission, flag, message] of cases) {
      const e = denoPermissionError(notCapable(text));
      assert.ok(e instanceof PermissionError, text);
      assert.equal(e.permission, permission);
      assert.equal(e.flag, flag);
      assert.equal(e.message, message);
      assert.equal(exitCodeFor(e), 77);
    }
  });

  test("other errors are not permission errors; OS-level EACCES is not one either", () => {
    assert.equal(denoPermissionError(new Error("boom")), null);
    assert.equal(denoPermissionError(Object.assign(new Error("Permission denied (os error 13)"), { name: "PermissionDenied" })), null);
    assert.equal(denoPermissionError("Requires env access"), null);
  });

  test("a wrapped permission error still exits 77 and its text is shown", () => {
    const inner = denoPermissionError(notCapable('Requires write access to "/q", run again with the --allow-write flag'))!;
    const wrapped = new ConfigError("Cannot use the queue", { cause: inner });
    assert.equal(exitCodeFor(wrapped), 77);
    assert.equal(errorLine(wrapped), 'smtpsend: Cannot use the queue: Deno denied write access to "/q": run with --allow-write (or -A)\n');
  });

  test("the guarded host turns refusals into PermissionErrors in sync, async and streaming calls", async () => {
    const refuse = (what: string) => () => {
      throw notCapable(`Requires ${what} access to "x", run again with the --allow-${what} flag`);
    };
    const inner = new FakeHost({ files: { "/f": "data" } });
    Object.assign(inner, {
      homeDir: refuse("sys"),
      env: refuse("env"),
      readFile: () => Promise.resolve().then(refuse("read")),
      readStream: async function* () {
        yield new Uint8Array(1);
        refuse("read")();
      },
    });
    const host = guardPermissions(inner);
    assert.throws(() => host.homeDir(), (e: unknown) => e instanceof PermissionError && e.flag === "--allow-sys");
    assert.throws(() => host.env("HOME"), (e: unknown) => e instanceof PermissionError && e.flag === "--allow-env");
    await assert.rejects(host.readFile("/f"), (e: unknown) => e instanceof PermissionError && e.flag === "--allow-read");
    await assert.rejects(async () => {
      for await (const _ of host.readStream("/f")) { /* read on */ }
    }, (e: unknown) => e instanceof PermissionError && e.flag === "--allow-read");
    // Everything else passes through unchanged.
    assert.equal(await host.stat("/missing"), null);
    assert.equal(host.hostname(), "testhost.example");
  });
});
