/**
 * The driver carries no runtime code: a program that gives `SmtpClient` its
 * own connector, bundled by esbuild for a neutral platform, holds no
 * `node:*` import and no `Deno.*` or `Bun.*` reference (issue 11). The
 * same check on a program using mod.ts's `SmtpClient` (which picks the
 * runtime's adapter) must find them, so the check can fail.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const esbuild = fileURLToPath(new URL("../node_modules/.bin/esbuild", import.meta.url));

/** Bundles `program` (resolved from the repository root) for a neutral platform; returns the bundle. */
function bundle(program: string): string {
  const r = spawnSync(esbuild, [
    "--bundle",
    "--platform=neutral",
    "--format=esm",
    "--log-level=error",
    // Left as imports (not resolved) so the output shows them, instead of failing the build.
    "--external:node:*",
    "--sourcefile=program.ts",
    "--loader=ts",
  ], { cwd: root, input: program, encoding: "utf8" });
  assert.equal(r.status, 0, `esbuild failed: ${r.stderr}`);
  return r.stdout;
}

/** Where the bundle reaches a runtime: node: imports, Deno.* and Bun.* references. */
function runtimeReferences(code: string): string[] {
  const found = new Set<string>();
  for (const m of code.matchAll(/["'`]node:[a-z_/]+["'`]|\bDeno\s*\.\s*[A-Za-z_]+|\bBun\s*\.\s*[A-Za-z_]+/g)) found.add(m[0]);
  return [...found].sort();
}

const CUSTOM = `
import { SmtpClient } from "./src/client.ts";
const connector = {
  name: "custom",
  connect() { throw new Error("not in this test"); },
};
export const client = new SmtpClient({ host: "mx.example", connector });
`;

test("a neutral bundle of SmtpClient with the caller's connector has no node:, Deno. or Bun. code", () => {
  const code = bundle(CUSTOM);
  // The driver is really in it (not tree-shaken away): the class, its session core and its TLS-policy error text.
  assert.match(code, /\bSmtpClient = class\b|\bclass SmtpClient\b/);
  assert.match(code, /\bSession = class\b|\bclass Session\b/);
  assert.match(code, /Refusing to send credentials/);
  assert.deepEqual(runtimeReferences(code), []);
});

test("the same check finds the runtime code that mod.ts's SmtpClient pulls in", () => {
  const code = bundle(CUSTOM.replace("./src/client.ts", "./mod.ts"));
  const refs = runtimeReferences(code);
  assert.ok(refs.some((r) => r.startsWith('"node:')), `no node: import found: ${refs.join(", ")}`);
  assert.ok(refs.some((r) => r.startsWith("Deno")), `no Deno reference found: ${refs.join(", ")}`);
  assert.ok(refs.some((r) => r.startsWith("Bun")), `no Bun reference found: ${refs.join(", ")}`);
});
