/**
 * `mailq`-style text for queue listings (`-bp`, `--queue-list`).
 * @module
 */
import type { QueueEntry } from "./types.ts";

function two(n: number): string {
  return String(n).padStart(2, "0");
}

function localTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}

// deno-lint-ignore no-control-regex
const UNSAFE = /[\x00-\x1f\x7f-\x9f]/g;

/** Text from the disk or a server, made safe for a terminal. */
function clean(text: string): string {
  return text.replace(UNSAFE, "?");
}

/**
 * Formats entries like Postfix's `mailq`: one block per entry with id
 * (`*` when a flusher holds it, `!` when failed), size, arrival time and
 * sender; the last error, next attempt, account and recorded server; then one line per recipient with
 * its state; and a total line. Control characters are replaced by `?`.
 *
 * @param entries From {@link Queue.list}.
 * @returns The text, ending in a newline; `"Mail queue is empty\n"` when there are none.
 * @example
 * ```ts
 * host.writeStdout(formatEntries(await queue.list({ includeFailed: true })));
 * ```
 */
export function formatEntries(entries: readonly QueueEntry[]): string {
  if (entries.length === 0) return "Mail queue is empty\n";
  const lines = ["-Queue ID-------------- --Size-- ---Arrival Time--- -Sender/Recipient-------"];
  let bytes = 0;
  for (const e of entries) {
    bytes += e.size;
    const mark = e.status === "in-flight" ? "*" : e.status === "failed" ? "!" : " ";
    lines.push(`${(e.id + mark).padEnd(23)} ${String(e.size).padStart(8)} ${localTime(e.createdAt).padEnd(18)} ${clean(e.from) || "<>"}`);
    const notes: string[] = [];
    if (e.lastError) notes.push(`(${clean(e.lastError.message)})`);
    const meta = [`attempts: ${e.attempts}`];
    if (e.status === "failed") meta.push(`failed: ${e.failReason ?? "unknown"}`);
    else if (e.nextAttemptAt !== null && e.attempts > 0) meta.push(`next attempt: ${localTime(e.nextAttemptAt)}`);
    if (e.account) meta.push(`account: ${clean(e.account)}`);
    if (e.server?.host !== undefined || e.server?.port !== undefined) {
      const host = e.server.host === undefined ? "" : e.server.host.includes(":") ? `[${e.server.host}]` : e.server.host;
      meta.push(`server: ${clean(host)}${e.server.port !== undefined ? `:${e.server.port}` : ""}`);
    }
    notes.push(`(${meta.join(", ")})`);
    for (const n of notes) lines.push(n);
    for (const r of e.recipients) {
      const state = r.state === "pending" ? "" : r.state === "delivered" ? "  (delivered)" : `  (failed: ${clean(`${r.code ?? ""} ${r.message ?? ""}`.trim())})`;
      lines.push(`${" ".repeat(52)}${clean(r.address)}${state}`);
    }
    lines.push("");
  }
  const kb = Math.ceil(bytes / 1024);
  lines.push(`-- ${kb} Kbytes in ${entries.length} Request${entries.length === 1 ? "" : "s"}.`);
  return lines.join("\n") + "\n";
}
