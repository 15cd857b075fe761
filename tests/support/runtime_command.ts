/**
 * The command that runs a TypeScript file under the runtime running this
 * test, so child processes use the same runtime as their test:
 * `node --import tsx`, `bun`, or `deno run -A`.
 */
import process from "node:process";

declare const Deno: { execPath(): string } | undefined;
declare const Bun: unknown;

/** Which runtime runs the tests. */
export function testRuntime(): "node" | "bun" | "deno" {
  if (typeof Deno !== "undefined") return "deno";
  if (typeof Bun !== "undefined") return "bun";
  return "node";
}

/** The argv prefix; append the script path and its arguments. */
export function runtimeCommand(): string[] {
  switch (testRuntime()) {
    case "deno":
      return [Deno!.execPath(), "run", "-A", "--quiet"];
    case "bun":
      return [process.execPath];
    default:
      return [process.execPath, "--import", "tsx"];
  }
}
