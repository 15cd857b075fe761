/**
 * Password commands (`passwordeval`): run a program, take the first line it
 * prints as the password or OAuth token (e.g. `pass show mail`, `oama access
 * me@example.org`, `gpg -q -d ~/.mail-password.gpg`).
 *
 * The API takes an argv array and runs it without a shell. A `passwordeval`
 * line from a configuration file is a shell command in esmtp and msmtp
 * (msmtp runs it with `popen`), so {@link shellCommand} turns it into
 * `["/bin/sh", "-c", line]`. That is safe only because the user wrote the line
 * in their own private configuration file, which the loader refuses when
 * others can write it; never build such a line from other data.
 *
 * @module
 */
import type { Host } from "../../deps.ts";
import { ConfigError, PermissionError } from "../errors.ts";
import { errorText } from "./common.ts";
import type { PasswordCommand } from "./types.ts";

/** Default deadline for a password command: long enough for a pinentry prompt. */
export const PASSWORD_COMMAND_TIMEOUT_MS = 120_000;

/**
 * Wraps a configuration file's shell command line as a {@link PasswordCommand}.
 *
 * @param line The command as the user wrote it.
 * @param origin Where it was configured (`"file:line"`), for messages.
 * @returns `{ argv: ["/bin/sh", "-c", line], origin }`.
 * @example
 * ```ts
 * shellCommand("pass show mail/example", "/home/u/.msmtprc:7");
 * ```
 */
export function shellCommand(line: string, origin?: string): PasswordCommand {
  return origin === undefined ? { argv: ["/bin/sh", "-c", line] } : { argv: ["/bin/sh", "-c", line], origin };
}

/**
 * A short name of the command for messages: the program only, never its
 * arguments (they may hold a secret, as in `echo hunter2`).
 *
 * @param argv The command.
 * @returns E.g. `"pass"` for `["/bin/sh", "-c", "pass show x"]`.
 */
export function commandName(argv: readonly string[]): string {
  if (argv.length >= 3 && /(^|\/)(ba|da|z)?sh$/.test(argv[0]!) && argv[1] === "-c") {
    return argv[2]!.trim().split(/\s+/)[0] ?? argv[0]!;
  }
  return argv[0] ?? "";
}

function firstLine(bytes: Uint8Array): string {
  const text = new TextDecoder("utf-8").decode(bytes);
  const nl = text.indexOf("\n");
  const line = nl === -1 ? text : text.slice(0, nl);
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

function stderrLine(bytes: Uint8Array): string {
  const text = new TextDecoder("utf-8").decode(bytes);
  const line = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== "") ?? "";
  return line.length > 200 ? line.slice(0, 200) + "…" : line;
}

/**
 * Runs a password command and returns the first line of its standard output
 * without the line ending.
 *
 * @param host Runs the process.
 * @param command The command, as {@link PasswordCommand} or a bare argv array.
 * @param options `timeoutMs` (default {@link PASSWORD_COMMAND_TIMEOUT_MS}).
 * @returns The password or token.
 * @throws {ConfigError} When the command cannot start, fails, is killed or
 *   prints an empty first line. The message names the program and quotes the
 *   first line of its standard error, never its standard output.
 * @example
 * ```ts
 * const token = await runPasswordCommand(host, ["oama", "access", "me@example.org"]);
 * ```
 */
export async function runPasswordCommand(
  host: Host,
  command: PasswordCommand | readonly string[],
  options: { readonly timeoutMs?: number } = {},
): Promise<string> {
  const argv: readonly string[] = "argv" in command ? command.argv : command;
  const origin = "argv" in command ? command.origin : undefined;
  if (argv.length === 0 || argv[0] === "") throw new TypeError("The password command is empty");
  const name = `Password command "${commandName(argv)}"${origin ? ` (${origin})` : ""}`;
  let result;
  try {
    result = await host.run(argv, { timeoutMs: options.timeoutMs ?? PASSWORD_COMMAND_TIMEOUT_MS });
  } catch (cause) {
    if (cause instanceof PermissionError) throw cause;
    throw new ConfigError(`${name} could not be run: ${errorText(cause)}`, { cause });
  }
  const err = stderrLine(result.stderr);
  const detail = err ? `: ${err}` : "";
  if (result.status === null) throw new ConfigError(`${name} was killed (timed out or by a signal)${detail}`);
  if (result.status !== 0) throw new ConfigError(`${name} failed with exit status ${result.status}${detail}`);
  const password = firstLine(result.stdout);
  if (password === "") throw new ConfigError(`${name} printed no password${detail}`);
  return password;
}
