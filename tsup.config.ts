import { defineConfig, type Options } from "tsup";
import { dirname, relative, resolve } from "node:path";

// The package ships the library ONCE:
//
//   dist/mod.js       the library: one self-contained ESM file (plus mod.d.ts).
//   dist/internal.js  `export * from "./mod.js"` plus the few non-public helpers
//                     the CLI shares with the library (src/internal.ts).
//   bin/smtpsend.js   the CLI's own code only (cli.ts, src/cli/, src/config/);
//                     every import it makes of library code is rewritten to the
//                     external "../dist/internal.js".
//
// No code splitting: dynamic imports of the runtime adapters are inlined into
// mod.js, and node:* imports stay lazy `import()` calls, so the module also
// loads where node:* does not exist (Deno without node compat, Workers with a
// custom Transport). `removeNodeProtocol: false` keeps the `node:` prefix
// (tsup strips it by default; `import("fs")` is not what Deno or Bun expect).
// tests/build_test.ts checks all of this on the built files.

const root = dirname(new URL(import.meta.url).pathname);
const cliSide = (file: string) => {
  const rel = relative(root, file).replace(/\\/g, "/");
  return rel === "cli.ts" || rel.startsWith("src/cli/") || rel.startsWith("src/config/");
};

/** Rewrites imports of `from` (absolute source file) to the external `to`, for importers `when` accepts. */
type Plugin = NonNullable<Options["esbuildPlugins"]>[number];
const externalize = (name: string, when: (importer: string) => boolean, from: (file: string) => boolean, to: string): Plugin => ({
  name,
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (!args.importer || !when(args.importer)) return undefined;
      const file = resolve(dirname(args.importer), args.path);
      return from(file) ? { path: to, external: true } : undefined;
    });
  },
});

const common: Options = {
  format: ["esm"],
  target: "es2022",
  platform: "neutral",
  splitting: false,
  sourcemap: false,
  treeshake: true,
  removeNodeProtocol: false,
  external: [/^node:/],
};

export default defineConfig([
  {
    ...common,
    entry: { mod: "mod.ts" },
    outDir: "dist",
    dts: true,
    clean: true,
  },
  {
    ...common,
    entry: { internal: "src/internal.ts" },
    outDir: "dist",
    dts: false,
    clean: false,
    esbuildPlugins: [
      externalize("mod-external", (i) => i.endsWith("/src/internal.ts"), (f) => f === resolve(root, "mod.ts"), "./mod.js"),
    ],
  },
  {
    ...common,
    entry: { smtpsend: "cli.ts" },
    outDir: "bin",
    dts: false,
    clean: false,
    outExtension: () => ({ js: ".js" }),
    banner: { js: "#!/usr/bin/env node" },
    esbuildPlugins: [externalize("library-external", cliSide, (f) => !cliSide(f), "../dist/internal.js")],
  },
]);
