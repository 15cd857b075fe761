/**
 * The `smtpsend` command: a sendmail-compatible front end to the library.
 * Thin: it parses arguments, loads configuration and calls the public API
 * (see `src/cli/main.ts`). Runs under Node (`npx smtpsend`, `bunx smtpsend`,
 * the installed `bin/smtpsend.js`), Bun and Deno (`deno run -A cli.ts`); the
 * runtime adapter is picked when it runs.
 *
 * @module
 */
import { VERSION } from "./src/version.ts";
import { main } from "./src/cli/main.ts";

export { main, VERSION };
export type { CliIo } from "./src/cli/main.ts";

// Run when executed directly (node/bun bin, `deno run cli.ts`), not when imported.
declare const Deno:
  | { args: string[]; exit(code: number): never; exitCode: number; mainModule?: string; unrefTimer(id: number): void }
  | undefined;
declare const process: { argv: string[]; exitCode?: number; exit(code: number): never } | undefined;

function isMain(): boolean {
  const meta = import.meta as ImportMeta & { main?: boolean };
  if (typeof meta.main === "boolean") return meta.main; // Deno, Bun
  if (typeof process !== "undefined" && process.argv[1]) {
    const script = process.argv[1].replace(/\\/g, "/");
    const here = import.meta.url;
    return here.endsWith(script) || here.endsWith(script + ".js") || /\/bin\/smtpsend(\.js)?$/.test(script) ||
      /\/smtpsend$/.test(script);
  }
  return false;
}

function exit(code: number): void {
  if (typeof Deno !== "undefined") {
    // As on Node: let pending work finish (a TLS close_notify being written; Deno.exit() dropped it,
    // and Exim logged "TLS connection was non-properly terminated"), but not wait for long.
    Deno.exitCode = code;
    const t = setTimeout(() => Deno!.exit(code), 2000) as unknown as number;
    Deno.unrefTimer(t);
  } else {
    process!.exitCode = code;
    // Let pending output drain, but do not wait for a handle someone forgot to close.
    const t = setTimeout(() => process!.exit(code), 2000) as unknown as { unref?: () => void };
    t.unref?.();
  }
}

if (isMain()) {
  const args = typeof Deno !== "undefined" ? Deno.args : process!.argv.slice(2);
  main(args).then(exit, (err) => {
    console.error(`smtpsend: internal error: ${err instanceof Error ? err.message : String(err)}`);
    exit(70);
  });
}
