import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";

// The protocol core is sans-I/O: no runtime APIs, no clocks, timers or randomness.
const dir = new URL("../src/protocol/", import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith(".ts"));
const source = (f: string) => readFileSync(new URL(f, dir), "utf8");

const IMPORT = /\b(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']|\bimport\s*["']([^"']+)["']/g;

const FORBIDDEN: [RegExp, string][] = [
  [/\bDeno\s*\./, "Deno.*"],
  [/\bBun\s*\./, "Bun.*"],
  [/\bprocess\s*\./, "process.*"],
  [/\b(?:setTimeout|setInterval|setImmediate|queueMicrotask)\b/, "timers"],
  [/\bDate\s*\.\s*now\b|\bnew\s+Date\b|\bperformance\s*\./, "clocks"],
  [/\bMath\s*\.\s*random\b|\bgetRandomValues\b|\brandomUUID\b/, "randomness"],
  [/\bfetch\s*\(|\bWebSocket\b/, "network"],
  [/\brequire\s*\(|\bimport\s*\(/, "dynamic loading"],
];

test("src/protocol has the expected files", () => {
  for (const f of ["bytes.ts", "reply.ts", "capabilities.ts", "commands.ts", "xtext.ts", "data.ts", "bdat.ts", "state.ts", "session.ts", "events.ts", "params.ts", "types.ts"]) {
    assert.ok(files.includes(f), f);
  }
});

test("src/protocol imports only its own files and ../errors.ts, with .ts extensions", () => {
  for (const f of files) {
    for (const m of source(f).matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]!;
      assert.match(spec, /^(?:\.\/[a-z_]+\.ts|\.\.\/errors\.ts)$/, `${f} imports ${JSON.stringify(spec)}`);
    }
  }
});

test("src/protocol uses no runtime globals, timers, clocks or randomness", () => {
  for (const f of files) {
    const text = source(f);
    for (const [pattern, what] of FORBIDDEN) assert.doesNotMatch(text, pattern, `${f} uses ${what}`);
  }
});

test("the purity checks catch what they look for", () => {
  // Guard against patterns that can never match.
  const samples = [
    "Deno.connect()", "Bun.file(x)", "process.env.X", "setTimeout(f, 1)", "Date.now()", "Math.random()",
    "crypto.getRandomValues(a)", "await import(\"x\")", "fetch(url)",
  ];
  for (const s of samples) assert.ok(FORBIDDEN.some(([p]) => p.test(s)), s);
  const bad = 'import { x } from "node:net";\nimport type {\n  y,\n} from "../../deps.ts";\nimport "../runtime/node.ts";';
  const specs = [...bad.matchAll(IMPORT)].map((m) => m[1] ?? m[2]);
  assert.deepEqual(specs, ["node:net", "../../deps.ts", "../runtime/node.ts"]);
});
