/**
 * Local delivery through a mail delivery agent (esmtp's `mda`), without a
 * shell.
 *
 * The configured command line (e.g. `/usr/bin/procmail -d %T`) is split into
 * argv words with shell-like quoting — single quotes, double quotes, and
 * backslash escapes — but nothing is expanded. Shell syntax that would need a
 * shell (`|`, `;`, `&`, `<`, `>`, `(`, `)`, `` ` ``, `$`, a leading `~`) is
 * refused unless quoted (`$` and `` ` `` also inside double quotes): put a
 * pipeline in a script and name the script. `%T` (recipient) and `%F`
 * (envelope sender) are substituted inside the words *after* splitting, so a
 * recipient such as `$(touch x)` or `;rm -rf ~` is one inert argument; `%%` is
 * a literal `%`. The MDA runs once per recipient with the message on its
 * standard input. A value substituted as a whole word must not start with `-`
 * (it would be read as an option), so such recipients are refused.
 *
 * Exit statuses: 0 delivered; a `sysexits.h` status (64–78) is passed
 * through; any other failure, or a kill by a signal or time-out, is 75
 * (temporary, so the caller keeps the message and can retry).
 *
 * @module
 */
import type { Host } from "../../deps.ts";
import { ConfigError, PermissionError } from "../errors.ts";
import { CliError, EX_DATAERR, EX_NOPERM, EX_TEMPFAIL } from "./errors.ts";

/** How long an MDA may run before it is killed (10 minutes, like an SMTP end-of-data). */
export const MDA_TIMEOUT_MS = 600_000;

/**
 * Splits a command line into words like a POSIX shell would, without any
 * expansion.
 *
 * @param line The command line from the configuration.
 * @returns The words (at least one).
 * @throws {ConfigError} On an unterminated quote, shell syntax, or an empty command.
 * @example
 * ```ts
 * splitCommandLine(`/usr/bin/procmail -d %T`); // ["/usr/bin/procmail", "-d", "%T"]
 * splitCommandLine(`'/opt/my mda' --to "%T"`); // ["/opt/my mda", "--to", "%T"]
 * ```
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  const shellOnly = (c: string): never => {
    throw new ConfigError(
      `mda ${JSON.stringify(line)}: "${c}" needs a shell, and smtpsend runs the MDA without one; quote it, or put the pipeline in a script and name the script`,
    );
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === " " || c === "\t" || c === "\n") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) throw new ConfigError(`mda ${JSON.stringify(line)}: unterminated single quote`);
      word += line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (;; j++) {
        const d = line[j];
        if (d === undefined) throw new ConfigError(`mda ${JSON.stringify(line)}: unterminated double quote`);
        if (d === '"') break;
        if (d === "\\" && j + 1 < line.length && '"\\$`\n'.includes(line[j + 1]!)) {
          word += line[++j];
          continue;
        }
        if (d === "$" || d === "`") shellOnly(d);
        word += d;
      }
      i = j;
    } else if (c === "\\") {
      if (i + 1 < line.length) word += line[++i];
    } else if ("|;&<>`$()".includes(c) || (c === "~" && word === "")) {
      shellOnly(c);
    } else {
      word += c;
    }
  }
  if (inWord) words.push(word);
  if (words.length === 0 || words[0] === "") throw new ConfigError("mda: the command is empty");
  return words;
}

/**
 * Substitutes `%T` (recipient), `%F` (sender) and `%%` in each word.
 *
 * @param words The split command line.
 * @param recipient The local recipient.
 * @param sender The envelope sender (`""` for `<>`).
 * @returns The argv to run.
 * @throws {CliError} (exit 65) When a value substituted as a whole word starts
 *   with `-`, or contains a NUL byte.
 */
export function mdaArgv(words: readonly string[], recipient: string, sender: string): string[] {
  return words.map((w, index) => {
    const out = w.replace(/%([TF%])/g, (_m, k: string) => (k === "T" ? recipient : k === "F" ? sender : "%"));
    if (index > 0 && (w === "%T" || w === "%F") && out.startsWith("-")) {
      throw new CliError(
        `Refusing local delivery to ${JSON.stringify(recipient)}: ${w === "%T" ? "the recipient" : "the sender"} starts with "-" and the MDA would read it as an option`,
        EX_DATAERR,
      );
    }
    if (out.includes("\0")) throw new CliError("Refusing local delivery: an address contains a NUL byte", EX_DATAERR);
    return out;
  });
}

/**
 * The exit status for an MDA's exit status.
 *
 * @param status The MDA's status, `null` when killed.
 * @returns 0, the sysexits value, or 75.
 */
export function mdaExitCode(status: number | null): number {
  if (status === 0) return 0;
  if (status !== null && status >= 64 && status <= 78) return status;
  return EX_TEMPFAIL;
}

/** What happened to one local recipient. */
export interface MdaResult {
  /** The recipient. */
  readonly recipient: string;
  /** The exit status smtpsend reports for it (0 when delivered). */
  readonly exitCode: number;
  /** A one-line description of a failure, else `null`. */
  readonly error: string | null;
}

/**
 * Runs the MDA for each recipient with the message on its standard input.
 *
 * @param host Runs processes (never through a shell).
 * @param mda The configured command line.
 * @param recipients Local recipients.
 * @param sender The envelope sender.
 * @param message The message: bytes (shared by every run), or a stream when
 *   there is exactly one recipient.
 * @param options Time-out and a note callback for the trace.
 * @returns One result per recipient, in order.
 * @throws {ConfigError} When the command line is invalid.
 */
export async function deliverLocal(
  host: Host,
  mda: string,
  recipients: readonly string[],
  sender: string,
  message: Uint8Array | AsyncIterable<Uint8Array>,
  options: { readonly timeoutMs?: number; readonly note?: (text: string) => void } = {},
): Promise<MdaResult[]> {
  const words = splitCommandLine(mda);
  if (!(message instanceof Uint8Array) && recipients.length > 1) {
    throw new TypeError("deliverLocal() needs the message as bytes for more than one recipient");
  }
  const results: MdaResult[] = [];
  for (const recipient of recipients) {
    let argv: string[];
    try {
      argv = mdaArgv(words, recipient, sender);
    } catch (e) {
      results.push({ recipient, exitCode: (e as CliError).exitCode ?? EX_DATAERR, error: (e as Error).message });
      continue;
    }
    options.note?.(`local delivery to ${JSON.stringify(recipient)}: ${argv.map((a) => JSON.stringify(a)).join(" ")}`);
    let status: number | null;
    let stderr = "";
    try {
      const r = await host.run(argv, { stdin: message, timeoutMs: options.timeoutMs ?? MDA_TIMEOUT_MS });
      status = r.status;
      stderr = new TextDecoder().decode(r.stderr).split(/\r?\n/).map((l) => l.trim()).find((l) => l !== "") ?? "";
    } catch (e) {
      results.push({
        recipient,
        // Deno without --allow-run will not run it later either.
        exitCode: e instanceof PermissionError ? EX_NOPERM : EX_TEMPFAIL,
        error: `Local delivery to ${JSON.stringify(recipient)} failed: the MDA "${words[0]}": ${(e as Error)?.message ?? e}`,
      });
      continue;
    }
    const exitCode = mdaExitCode(status);
    if (exitCode === 0) {
      options.note?.(`local delivery to ${JSON.stringify(recipient)}: done`);
      results.push({ recipient, exitCode, error: null });
    } else {
      const how = status === null ? "was killed (time-out or signal)" : `exited with status ${status}`;
      const detail = stderr ? `: ${stderr.length > 200 ? stderr.slice(0, 200) + "…" : stderr}` : "";
      results.push({
        recipient,
        exitCode,
        error: `Local delivery to ${JSON.stringify(recipient)} failed: the MDA "${words[0]}" ${how}${detail}`,
      });
    }
  }
  return results;
}
