/**
 * Runs the smtpsend CLI as a child process with a given HOME and standard
 * input, collecting its exit status and standard error (one mechanism for
 * the interop tests that drive the real command).
 */
import { spawn } from "node:child_process";
import process from "node:process";

/** What a CLI run left behind. */
export interface CliRun {
  /** The exit status (`null` when killed). */
  status: number | null;
  /** Everything written to standard error. */
  stderr: string;
}

/**
 * Spawns `command` (the runtime and script, e.g. `[deno, "run", "-A", "cli.ts"]`)
 * with `args`, writes `input` to its standard input, and waits (killed after 60 s).
 *
 * @param command The program and its leading arguments.
 * @param args The CLI arguments.
 * @param input The standard input.
 * @param options `home` for HOME, `cwd` for the working directory.
 * @returns Exit status and standard error.
 */
export function runCli(command: readonly string[], args: readonly string[], input: string, options: { home: string; cwd: string }): Promise<CliRun> {
  const [cmd, ...pre] = command;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, [...pre, ...args], {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: options.home, USER: "tester", NO_COLOR: "1" },
      stdio: ["pipe", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (c: Uint8Array) => (stderr += new TextDecoder().decode(c)));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stderr });
    });
    child.stdin!.on("error", () => {});
    child.stdin!.end(input);
  });
}
