/**
 * The queue flags, one call each into `src/queue.ts` (loaded only when a
 * queue flag is used):
 *
 * - `--queue`, `-odq`, or `queue on` in the account: store the message, exit 0.
 * - `--queue-on-failure`: store it, then try to send just that entry at once;
 *   a temporary failure leaves it queued (exit 0, with a note on standard
 *   error), a permanent one moves it aside and exits with the error's status.
 * - `-q`, `--flush`: try every queued entry now, due or not (exit 75 when some
 *   stay deferred, 65 when some failed permanently).
 * - `-bp`, `--queue-list`: `mailq`-style listing, failed entries included.
 * - `--queue-remove ID`: remove entries (exit 66 for an unknown id).
 *
 * The queue directory is the account's `queue_dir`, else `~/Mail/queued-mail`.
 * Queued entries remember the account *name*; at flush time the account is
 * looked up again (falling back to the sender), so no password is stored.
 *
 * @module
 */
import { type Config, selectAccount } from "../config/account.ts";
import type { Account } from "../config/types.ts";
import type { OutgoingMessage, SendResult } from "../options.ts";
import type { Queue, QueueEntry, QueueEnvelope } from "../queue.ts";
import type { CliContext } from "./context.ts";
import { sendSmtp } from "./deliver.ts";
import { CliError, EX_DATAERR, EX_NOINPUT, EX_NOUSER, EX_OK, EX_TEMPFAIL, errorLine, exitCodeFor } from "./errors.ts";
import { applyOverrides } from "./resolve.ts";

async function openQueue(ctx: CliContext, account: Account): Promise<Queue> {
  const { Queue, defaultQueueDir } = await import("../queue.ts");
  return new Queue({ dir: account.queueDir ?? defaultQueueDir(ctx.host), host: ctx.host });
}

function queueEnvelope(account: Account, message: OutgoingMessage): QueueEnvelope {
  return {
    from: message.from,
    to: message.to,
    ...(message.dsnReturn !== undefined ? { dsnReturn: message.dsnReturn } : {}),
    ...(message.dsnEnvelopeId !== undefined ? { dsnEnvelopeId: message.dsnEnvelopeId } : {}),
    ...(message.dsnNotify !== undefined ? { dsnNotify: message.dsnNotify } : {}),
    ...(message.smtpUtf8 ? { smtpUtf8: true } : {}),
    // Only accounts from a configuration file can be found again by name.
    ...(account.source.file !== null ? { account: account.name } : {}),
  };
}

function dataOf(message: OutgoingMessage): Uint8Array | AsyncIterable<Uint8Array> {
  const d = message.data;
  if (typeof d === "string") return new TextEncoder().encode(d);
  if (d instanceof Uint8Array) return d;
  return d as AsyncIterable<Uint8Array>;
}

/**
 * Stores a message in the queue.
 *
 * @param ctx The environment.
 * @param account The account (its queue directory and name).
 * @param message Envelope and data.
 * @returns The queue id.
 */
export async function enqueue(ctx: CliContext, account: Account, message: OutgoingMessage): Promise<string> {
  const queue = await openQueue(ctx, account);
  return await queue.enqueue(queueEnvelope(account, message), dataOf(message));
}

/** The account to deliver a queued entry with: its stored name, else by sender. */
function accountFor(ctx: CliContext, config: Config, entry: QueueEntry): Account {
  const named = entry.account !== null && config.accounts.some((a) => a.name === entry.account);
  const account = named
    ? selectAccount(config, { account: entry.account! })
    : selectAccount(config, { sender: entry.from });
  return applyOverrides(account, ctx.args);
}

/**
 * `--queue-on-failure`: queue, then try to send that entry at once.
 *
 * @param ctx The environment.
 * @param config The configuration.
 * @param account The account.
 * @param message The message.
 * @returns The exit status.
 */
export async function sendOrQueue(ctx: CliContext, config: Config, account: Account, message: OutgoingMessage): Promise<number> {
  const { queueMessage } = await import("../queue.ts");
  const queue = await openQueue(ctx, account);
  const id = await queue.enqueue(queueEnvelope(account, message), dataOf(message));
  ctx.tracer.note(`queued as ${id}; sending now`);
  let lastError: unknown = undefined;
  let lastResult: SendResult | undefined;
  const summary = await queue.flush({
    ids: [id],
    force: true,
    deliver: async (entry, data, pending) => {
      try {
        lastResult = await sendSmtp(ctx, accountFor(ctx, config, entry), queueMessage(entry, data, pending));
        return lastResult;
      } catch (e) {
        lastError = e;
        throw e;
      }
    },
  });
  const item = summary.items[0];
  const host = ctx.host;
  switch (item?.outcome) {
    case "sent": {
      const refused = lastResult?.rejected ?? [];
      for (const r of refused) host.writeStderr(`smtpsend: <${r.address}> refused: ${r.code} ${r.message}\n`);
      if (refused.length === 0) return EX_OK;
      return refused.every((r) => r.enhancedCode === "5.1.1") ? EX_NOUSER : EX_DATAERR;
    }
    case "failed":
      host.writeStderr(lastError !== undefined ? errorLine(lastError) : `smtpsend: ${item.reason ?? "delivery failed"}\n`);
      return lastError !== undefined ? exitCodeFor(lastError) : EX_DATAERR;
    case "deferred": {
      const why = lastError !== undefined ? errorLine(lastError).replace(/^smtpsend: /, "").trimEnd() : (item.reason ?? "some recipients were deferred");
      host.writeStderr(`smtpsend: ${why}; the message stays queued as ${id} (send it later with smtpsend -q)\n`);
      return EX_OK;
    }
    default:
      host.writeStderr(`smtpsend: the message is queued as ${id} (send it later with smtpsend -q)\n`);
      return EX_OK;
  }
}

function queueAccount(ctx: CliContext, config: Config): Account {
  return applyOverrides(selectAccount(config, ctx.args.account !== undefined ? { account: ctx.args.account } : {}), ctx.args);
}

/**
 * `-bp`, `--queue-list`.
 *
 * @param ctx The environment.
 * @param config The configuration.
 * @returns The exit status.
 */
export async function runQueueList(ctx: CliContext, config: Config): Promise<number> {
  const { formatEntries } = await import("../queue.ts");
  const queue = await openQueue(ctx, queueAccount(ctx, config));
  ctx.host.writeStdout(formatEntries(await queue.list({ includeFailed: true })));
  return EX_OK;
}

/**
 * `--queue-remove ID`.
 *
 * @param ctx The environment.
 * @param config The configuration.
 * @returns The exit status.
 */
export async function runQueueRemove(ctx: CliContext, config: Config): Promise<number> {
  const queue = await openQueue(ctx, queueAccount(ctx, config));
  let code = EX_OK;
  for (const id of ctx.args.queueRemove) {
    if (await queue.remove(id)) ctx.tracer.note(`removed ${id}`);
    else {
      ctx.host.writeStderr(errorLine(new CliError(`No queue entry "${id}"`, EX_NOINPUT)));
      code = EX_NOINPUT;
    }
  }
  return code;
}

/**
 * `-q`, `--flush`: tries every entry now.
 *
 * @param ctx The environment.
 * @param config The configuration.
 * @returns 0, 75 when some entries stay deferred, 65 when some failed permanently.
 */
export async function runFlush(ctx: CliContext, config: Config): Promise<number> {
  const { queueMessage } = await import("../queue.ts");
  const queue = await openQueue(ctx, queueAccount(ctx, config));
  const summary = await queue.flush({
    force: true,
    deliver: (entry, data, pending) => sendSmtp(ctx, accountFor(ctx, config, entry), queueMessage(entry, data, pending)),
    onProgress: (p) => {
      if (p.type === "result") ctx.tracer.note(`${p.id}: ${p.outcome}${p.reason ? ` (${p.reason})` : ""}`);
    },
  });
  for (const item of summary.items) {
    if (item.outcome === "failed" || item.outcome === "deferred") {
      ctx.host.writeStderr(`smtpsend: ${item.id}: ${item.outcome}${item.reason ? `: ${item.reason}` : ""}\n`);
    }
    for (const r of item.failed) ctx.host.writeStderr(`smtpsend: ${item.id}: <${r}> refused\n`);
  }
  ctx.tracer.note(`flush: ${summary.sent} sent, ${summary.deferred} deferred, ${summary.failed} failed, ${summary.skipped} skipped`);
  if (summary.failed > 0) return EX_DATAERR;
  if (summary.deferred > 0) return EX_TEMPFAIL;
  return EX_OK;
}
