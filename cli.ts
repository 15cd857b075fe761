/**
 * The `smtpsend` command: a sendmail-compatible front end to the library.
 * Thin: it parses arguments, loads configuration and calls the public API.
 *
 * @module
 */
import { VERSION } from "./src/version.ts";
import { main } from "./src/cli/main.ts";

export { main, VERSION };

// Run when executed directly (node/bun bin, `deno run cli.ts`), not when imported.
declare const Deno: { args: string[]; exit(code: number): never; mainModule?: string } | undefined;
declare const process: { argv: string[]; exitCode?: number; exit(code: number): never } | undefined;

function isMain(): boolean {
  const meta = import.meta as ImportMeta & { main?: boolean };
  if (typeof meta.main === "boolean") return meta.main; // Deno, Bun
  if (typeof process !== "undefined" && process.argv[1]) {
    const script = process.argv[1].replace(/\\/g, "/");
    const here = import.meta.url;
    return here.endsWith(script) || here.endsWith(script + ".js") || /\/bin\/smtpsend(\.js)?$/.test(script);
  }
  return false;
}

if (isMain()) {
  const args = typeof Deno !== "undefined" ? Deno.args : process!.argv.slice(2);
  main(args).then(
    (code) => {
      if (typeof Deno !== "undefined") Deno.exit(code);
      else process!.exitCode = code;
    },
    (err) => {
      console.error(`smtpsend: ${err instanceof Error ? err.message : String(err)}`);
      if (typeof Deno !== "undefined") Deno.exit(70);
      else process!.exitCode = 70;
    },
  );
}
