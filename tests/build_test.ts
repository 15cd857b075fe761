/**
 * The built package (tsup.config.ts; `npm test` builds before it runs the
 * tests): the library is shipped once, built-in imports keep their `node:`
 * prefix, and the packed tarball installs into an empty directory where its
 * `smtpsend` command runs on Node, Bun and Deno.
 *
 * - `dist/mod.js` is the whole library in one file; its only imports are
 *   lazy `import("node:…")` calls.
 * - `dist/internal.js` is `export * from "./mod.js"` plus a few small pure
 *   helpers the CLI shares with the library (src/internal.ts); no class.
 * - `bin/smtpsend.js` holds only the CLI's own code: its only import is
 *   `../dist/internal.js`, and no function or class of the library is in it.
 *
 * The installed command talks to the real Postfix of scripts/test-servers.sh
 * (`--serverinfo` over STARTTLS), which loads the runtime adapter lazily from
 * the installed `dist/mod.js`. Fails (never skips) when a piece is missing.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { testRuntime } from "./support/runtime_command.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const MOD = join(ROOT, "dist/mod.js");
const INTERNAL = join(ROOT, "dist/internal.js");
const BIN = join(ROOT, "bin/smtpsend.js");
for (const f of [MOD, INTERNAL, BIN]) {
  if (!existsSync(f)) throw new Error(`${f} is missing: build first (npx tsup, or npm test)`);
}
const read = (f: string) => readFileSync(f, "utf8");

/** Every module specifier a built file imports, statically or with `import()`. */
function specifiers(code: string): string[] {
  const out: string[] = [];
  const re = /\b(?:import|export)\s*(?:[\w*${},\s]+?\s*from\s*)?["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)|\brequire\(\s*["']([^"']+)["']\s*\)/g;
  for (const m of code.matchAll(re)) out.push((m[1] ?? m[2] ?? m[3])!);
  return out;
}

/**
 * Functions and classes of a built file, at any depth (esbuild wraps lazily
 * loaded modules in init functions): name → the source texts declaring it,
 * each up to the closing brace at the declaration's indentation.
 */
function declarations(code: string): Map<string, Set<string>> {
  const lines = code.split("\n");
  const out = new Map<string, Set<string>>();
  const re = /^(\s*)(?:(?:export\s+)?(?:async\s+)?function\*?\s*([A-Za-z_$][\w$]*)\s*\(|(?:(?:var|let|const)\s+)?([A-Za-z_$][\w$]*)\s*=\s*class\b|class\s+([A-Za-z_$][\w$]*))/;
  for (let i = 0; i < lines.length; i++) {
    const m = re.exec(lines[i]!);
    if (!m) continue;
    const close = new RegExp(`^${m[1]}}`);
    let j = i;
    while (j < lines.length && !close.test(lines[j]!)) j++;
    const name = (m[2] ?? m[3] ?? m[4])!;
    if (!out.has(name)) out.set(name, new Set());
    out.get(name)!.add(lines.slice(i, j + 1).map((l) => l.trim()).join("\n"));
  }
  return out;
}

/** Own code of dist/internal.js: everything but its `export * from "./mod.js"`. */
const internalOwn = () => read(INTERNAL).replace(/^export \* from ["']\.\/mod\.js["'];\n/m, "");

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

describe("the built files", () => {
  test("sizes", () => {
    const sizes = [MOD, join(ROOT, "dist/mod.d.ts"), INTERNAL, BIN].map((f) => `${f.slice(ROOT.length + 1)} ${statSync(f).size} B`);
    console.log(`built sizes: ${sizes.join(", ")}`);
    // A bin that bundles the library again is over 300 KB; the CLI alone is about a third of that.
    assert.ok(statSync(BIN).size < statSync(MOD).size, "bin/smtpsend.js is larger than the library it imports");
  });

  test("bin/smtpsend.js imports the library from ../dist/internal.js and nothing else", () => {
    const code = read(BIN);
    assert.match(code, /^#!\/usr\/bin\/env node\n/);
    const specs = specifiers(code);
    assert.ok(specs.length > 0, "the bin imports nothing: it must have bundled the library");
    assert.deepEqual([...new Set(specs)], ["../dist/internal.js"]);
  });

  test("dist/internal.js re-exports ./mod.js and adds only small pure helpers", () => {
    const code = read(INTERNAL);
    assert.deepEqual([...new Set(specifiers(code))], ["./mod.js"]);
    assert.match(code, /^export \* from ["']\.\/mod\.js["'];$/m);
    const own = internalOwn();
    assert.doesNotMatch(own, /\bclass\b/, "a class copied beside mod.js would break instanceof between the two");
    assert.ok(own.length < 8 * 1024, `dist/internal.js copies ${kib(own.length)} of library code (bound: 8 KiB)`);
  });

  test("dist/mod.js is self-contained: only lazy import() of node: built-ins", () => {
    const code = read(MOD);
    const specs = specifiers(code);
    assert.ok(specs.length > 0, "found no import in dist/mod.js: the node adapter must load node:net lazily");
    for (const s of specs) assert.match(s, /^node:/, `dist/mod.js imports "${s}"`);
    assert.doesNotMatch(code, /^\s*import\s[^(]/m, "a static import in dist/mod.js would load node:* where it does not exist");
    for (const s of ["node:net", "node:tls", "node:fs/promises"]) assert.ok(specs.includes(s), `dist/mod.js never imports ${s}`);
  });

  test("no bare built-in import (without node:) in any built file", () => {
    const builtins = new Set(builtinModules.filter((m) => !m.startsWith("_") && !m.startsWith("node:")));
    assert.ok(builtins.has("fs") && builtins.has("net"), "node:module builtinModules lists the built-ins");
    for (const f of [MOD, INTERNAL, BIN]) {
      const specs = specifiers(read(f));
      assert.ok(specs.length > 0, `${f}: no import found`);
      for (const s of specs) assert.ok(!builtins.has(s.split("/")[0]!), `${f} imports the built-in "${s}" without node:`);
    }
  });

  test("no library function or class is also in the bin", () => {
    const lib = declarations(read(MOD));
    const bin = declarations(read(BIN));
    assert.ok(lib.size > 200 && bin.size > 50, `found ${lib.size} declarations in mod.js and ${bin.size} in the bin`);
    // Same name and same text: a copy (different code under a common name such as "clean" is not).
    const copied = [...bin].filter(([name, texts]) => [...texts].some((t) => lib.get(name)?.has(t))).map(([name]) => name);
    assert.deepEqual(copied, [], "library code bundled into bin/smtpsend.js");
    // The library's landmarks by name: the client, the errors, the reply parser, SASL, a runtime adapter.
    for (const name of ["SmtpClient", "SmtpError", "ReplyError", "ReplyParser", "scramEscape", "parseNtlmChallenge", "mapTlsError"]) {
      assert.ok(lib.has(name), `dist/mod.js has no ${name} any more: update this test`);
      assert.ok(!bin.has(name), `bin/smtpsend.js declares ${name}`);
    }
  });

  test("the helpers in dist/internal.js are not public: mod.js does not export them", async () => {
    const own = internalOwn();
    const names = [...own.matchAll(/^export \{([^}]*)\}/gm)].flatMap((m) => m[1]!.split(",").map((s) => s.trim().split(/\s+as\s+/).pop()!));
    assert.ok(names.length > 0, "dist/internal.js exports no helper of its own");
    const mod = await import(MOD) as Record<string, unknown>;
    const internal = await import(INTERNAL) as Record<string, unknown>;
    assert.ok("SmtpClient" in mod && mod.SmtpClient === internal.SmtpClient, "internal.js must hand out mod.js's own SmtpClient");
    for (const n of names) {
      assert.ok(!(n in mod), `"${n}" is exported by both`);
      assert.notEqual(internal[n], undefined, `dist/internal.js exports "${n}" without a value`);
    }
  });
});

// ---- npm pack, install into an empty directory, run the installed command ----

const RT = testRuntime();
const BINDIR = join(ROOT, "node_modules/.bin");
const tools = {
  node: RT === "node" ? process.execPath : "node",
  bun: RT === "bun" ? process.execPath : join(BINDIR, "bun"),
  deno: RT === "deno" ? process.execPath : join(BINDIR, "deno"),
};
const work = mkdtempSync(join(tmpdir(), "smtpsend-pack-"));
after(() => rmSync(work, { recursive: true, force: true }));

function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1", ...env }, timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The test servers' settings (npm test loads them into the environment). */
function server(name: string): string {
  const v = process.env[`SMTPSEND_TEST_${name}`];
  if (!v) throw new Error(`SMTPSEND_TEST_${name} is not set: start the test servers (scripts/test-servers.sh start) or run npm test`);
  return v;
}

describe("the packed package", () => {
  const app = join(work, "app");
  const installed = join(app, "node_modules/.bin/smtpsend");
  const version = () => JSON.parse(read(join(ROOT, "package.json"))).version as string;
  /** A fresh, empty HOME (no configuration file) and the dev tools on PATH. */
  const env = () => ({ HOME: mkdtempSync(join(work, "home-")), PATH: `${BINDIR}:${process.env.PATH ?? ""}` });

  test("npm pack holds the library once, the internal entry and the bin", () => {
    const r = run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], ROOT);
    assert.equal(r.status, 0, r.stderr);
    const [info] = JSON.parse(r.stdout) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
    const files = info!.files.map((f) => f.path).sort();
    assert.deepEqual(files, ["LICENSE", "README.md", "bin/smtpsend.js", "dist/internal.js", "dist/mod.d.ts", "dist/mod.js", "package.json"]);
    console.log(`npm pack: ${info!.filename} ${info!.size} B packed, ${info!.unpackedSize} B unpacked`);
    writeFileSync(join(work, "tarball"), join(work, info!.filename));
  });

  test("installs into an empty directory (no dependencies, offline)", () => {
    const tgz = read(join(work, "tarball"));
    run("mkdir", ["-p", app], work);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true }));
    const r = run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", tgz], app);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(installed), "node_modules/.bin/smtpsend was not created");
  });

  test("the package exports the library but not its internal entry", () => {
    const js = `import("smtpsend").then((m) => console.log(typeof m.send, m.VERSION))` +
      `.then(() => import("smtpsend/dist/internal.js")).then(() => console.log("internal reachable"), (e) => console.log(e.code))`;
    const r = run(tools.node, ["--input-type=module", "-e", js], app);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `function ${version()}\nERR_PACKAGE_PATH_NOT_EXPORTED\n`);
  });

  // The installed file run by each runtime: everything, including a real connection.
  const runtimes: [string, () => [string, string[]]][] = [
    ["node", () => [installed, []]],
    ["bun", () => [tools.bun, [installed]]],
    ["deno run -A", () => [tools.deno, ["run", "-A", "--quiet", installed]]],
  ];
  for (const [label, command] of runtimes) {
    test(`the installed command on ${label}: --version, --help, --serverinfo against Postfix`, () => {
      const [cmd, pre] = command();
      const e = env();
      const v = run(cmd, [...pre, "--version"], app, e);
      assert.equal(v.status, 0, v.stderr);
      assert.equal(v.stdout.split("\n")[0], `smtpsend ${version()}`);
      const h = run(cmd, [...pre, "--help"], app, e);
      assert.equal(h.status, 0, h.stderr);
      assert.match(h.stdout, /^Usage:/m);
      // Connects through the runtime's adapter, loaded lazily from the installed dist/mod.js, and upgrades to TLS.
      const args = ["--serverinfo", "--host", "127.0.0.1", "--port", server("SUBMISSION_PORT"), "--tls", "starttls", "--ca-file", server("CA")];
      const s = run(cmd, [...pre, ...args], app, e);
      assert.equal(s.status, 0, s.stderr);
      assert.match(s.stdout, /^ {4}220 \S+ ESMTP Postfix/m);
      assert.match(s.stdout, /Certificate issuer: .*smtpsend test CA/);
    });
  }

  // The launchers find the package's bin (they are slow to start: one run each).
  const launchers: [string, () => [string, string[]]][] = [
    ["npx", () => ["npx", ["--offline", "smtpsend"]]],
    ["bunx", () => [tools.bun, ["x", "smtpsend"]]],
  ];
  for (const [label, command] of launchers) {
    test(`${label} smtpsend --version runs the installed command`, () => {
      const [cmd, pre] = command();
      const v = run(cmd, [...pre, "--version"], app, env());
      assert.equal(v.status, 0, v.stderr);
      assert.equal(v.stdout.split("\n")[0], `smtpsend ${version()}`);
    });
  }
});
