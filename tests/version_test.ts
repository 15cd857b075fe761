import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { VERSION } from "../mod.ts";

const json = (p: string) => JSON.parse(readFileSync(new URL(p, import.meta.url), "utf8"));

test("VERSION, package.json and jsr.json agree", () => {
  const pkg = json("../package.json");
  const jsr = json("../jsr.json");
  assert.match(VERSION, /^\d+\.\d+\.\d+(-[\w.]+)?$/);
  assert.equal(pkg.version, VERSION);
  assert.equal(jsr.version, VERSION);
  assert.equal(pkg.name, "smtpsend");
  assert.equal(jsr.name, "@smtpsend/smtpsend");
});

test("package.json declares no runtime dependencies", () => {
  const pkg = json("../package.json");
  assert.deepEqual(Object.keys(pkg.dependencies ?? {}), []);
  for (const [name, range] of Object.entries(pkg.devDependencies as Record<string, string>)) {
    assert.match(range, /^\d+\.\d+\.\d+$/, `devDependency "${name}" is pinned to an exact version`);
  }
});
