import { defineConfig } from "tsup";

// Two self-contained ESM files: the library (with its .d.ts) and the CLI.
// No code splitting: dynamic imports of the runtime adapters are inlined, and
// node:* imports stay lazy `import()` calls, so the module also loads where
// node:* does not exist (Deno without node compat, Workers with a custom Transport).
export default defineConfig([
  {
    entry: { mod: "mod.ts" },
    outDir: "dist",
    format: ["esm"],
    target: "es2022",
    platform: "neutral",
    dts: true,
    splitting: false,
    sourcemap: false,
    clean: true,
    treeshake: true,
  },
  {
    entry: { smtpsend: "cli.ts" },
    outDir: "bin",
    format: ["esm"],
    target: "es2022",
    platform: "neutral",
    dts: false,
    splitting: false,
    sourcemap: false,
    clean: false,
    treeshake: true,
    outExtension: () => ({ js: ".js" }),
    banner: { js: "#!/usr/bin/env node" },
  },
]);
