/**
 * The durable outgoing queue (`-odq`, `-q`, `-bp`, `--queue-remove`):
 * messages stored so that a crash, a full disk or concurrent flushes from
 * several processes (Node, Bun, Deno) lose nothing and send nothing twice
 * outside one documented window. See {@link Queue} for the on-disk design.
 *
 * @example
 * ```ts
 * import { runtime } from "./deps.ts";
 * import { defaultQueueDir, formatEntries, Queue } from "./src/queue.ts";
 *
 * const { host } = await runtime();
 * const queue = new Queue({ dir: defaultQueueDir(host), host });
 * await queue.enqueue({ from: "me@example.org", to: ["you@example.net"] }, host.stdin());
 * host.writeStdout(formatEntries(await queue.list()));
 * await queue.flushWith({ host: "smtp.example.org", port: 587, auth: { user: "me", pass: "pw" } });
 * ```
 * @module
 */
import type { Host } from "../deps.ts";
import { ConfigError } from "./errors.ts";

export { Queue } from "./queue/queue.ts";
export { QueueError } from "./queue/error.ts";
export { queueMessage } from "./queue/message.ts";
export { formatEntries } from "./queue/format.ts";
export type {
  BackoffOptions,
  ClientOptionsFor,
  DeliverFunction,
  FlushItem,
  FlushOptions,
  FlushWithOptions,
  FlushOutcome,
  FlushProgress,
  FlushSummary,
  ListOptions,
  QueueEntry,
  QueueEnvelope,
  QueueServer,
  QueueLastError,
  QueueOptions,
  QueueRecipient,
  QueueStatus,
  RecipientState,
} from "./queue/types.ts";

/**
 * The default queue directory, `~/Mail/queued-mail` (as Emacs smtpmail's
 * `smtpmail-queue-dir`; smtpsend ignores files there that are not its own).
 *
 * @param host Supplies the home directory.
 * @returns The directory path.
 * @throws {ConfigError} When there is no home directory.
 * @example
 * ```ts
 * const queue = new Queue({ dir: defaultQueueDir(host), host });
 * ```
 */
export function defaultQueueDir(host: Host): string {
  const home = host.homeDir();
  if (!home) throw new ConfigError("No home directory to put the mail queue in; set the queue directory explicitly");
  return `${home.replace(/\/+$/, "")}/Mail/queued-mail`;
}
