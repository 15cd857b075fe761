/**
 * The queue flags, one call each into `src/queue.ts` (loaded only when a
 * queue flag is used):
 *
 * - `--queue`, `-odq`, or `queue on` in the account: store the message, exit 0.
 * - `--queue-on-failure`: store it, then try to send just that entry at once;
 *   a temporary failure leaves it queued (exit 0, with a note on standard
 *   error), a permanent one moves it aside and exits with the error's status.
 *   When the message went out whole but no reply to its end came, it stays
 *   queued too (nothing lost) and the note says that the server may already
 *   have it, so a later flush may deliver it twice.
 * - `-q`, `--flush`: try every queued entry now, due or not (exit 75 when some
 *   stay deferred, 65 when some failed permanently).
 * - `-bp`, `--queue-list`: `mailq`-style listing, failed entries included.
 * - `--queue-remove ID`: remove entries (exit 66 for an unknown id).
 *
 * A message is queued in its account's queue directory: the account's
 * `queue_dir`; else, in the esmtp format, the top-level `queue_dir` (a
 * global default for every identity, as `mda` is; an identity's own
 * `queue_dir` wins); else `~/Mail/queued-mail`. `-q`, `-bp` and
 * `--queue-remove` work on every queue directory the configuration can
 * put mail in — every account's and `~/Mail/queued-mail` — each once, so
 * mail queued under any identity is seen whatever `-a` says. Queued entries
 * remember the account *name* and the one-off server settings of the command
 * line that queued them (`--host`, `--port`, `--tls`, `--user`, `--auth`,
 * `--password-eval`, `--ca-file`, `--cert-file`, `--key-file`, `--helo`,
 * `--allow-plaintext-auth`, `--tls-no-verify`, `--timeout`; and the server
 * from `SMTPSERVER`); at flush time each entry is sent with that account,
 * looked up again (falling back to the sender), with those settings over it
 * and the flushing command line's over both. No password is stored:
 * credentials are looked up again (password command, authinfo/netrc).
 *
 * @module
 */
import type { Config } from "../config/account.ts";
import type { Account } from "../config/types.ts";
import type { OutgoingMessage, SendResult } from "../options.ts";
import type { FlushItem, FlushSummary, Queue, QueueEntry, QueueEnvelope } from "../queue.ts";
import type { CliContext } from "./context.ts";
import { AccountLink, maybeDeliveredNote, mayHaveBeenDelivered, sendSmtp } from "./deliver.ts";
import { CliError, EX_DATAERR, EX_NOINPUT, EX_NOUSER, EX_OK, EX_TEMPFAIL, errorLine, exitCodeFor } from "./errors.ts";
import { accountForEntry, oneOffServer } from "./resolve.ts";

/** The block of settings before the first `identity` of an esmtp-format file, when it has any. */
function topLevelBlock(config: Config): Account | undefined {
  if (config.file === null || config.format === "msmtp") return undefined;
  // Every identity block has `from` (its address); the top-level block cannot set one.
  return config.accounts.find((a) => a.name === "default" && a.from === undefined && a.source.file !== null);
}

/** The configured queue directory of an account (see the module documentation), or `undefined` for the default. */
function configuredQueueDir(config: Config, account: Account): string | undefined {
  return account.queueDir ?? topLevelBlock(config)?.queueDir;
}

function normalDir(dir: string): string {
  const d = dir.replace(/\/+/g, "/");
  return d.length > 1 ? d.replace(/\/$/, "") : d;
}

async function queueAt(ctx: CliContext, dir: string): Promise<Queue> {
  const { Queue } = await import("../queue.ts");
  return new Queue({ dir, host: ctx.host });
}

async function openQueue(ctx: CliContext, config: Config, account: Account): Promise<Queue> {
  const { defaultQueueDir } = await import("../queue.ts");
  return await queueAt(ctx, configuredQueueDir(config, account) ?? defaultQueueDir(ctx.host));
}

/**
 * Every queue directory mail can be in: the default account's, the other
 * accounts' in file order, then `~/Mail/queued-mail`; each once. Directories
 * that do not exist hold nothing and are left out (and not created).
 */
async function allQueueDirs(ctx: CliContext, config: Config): Promise<string[]> {
  const { defaultQueueDir } = await import("../queue.ts");
  const candidates: string[] = [];
  const first = config.accounts.filter((a) => a.name === config.defaultAccount);
  for (const a of [...first, ...config.accounts]) {
    const d = configuredQueueDir(config, a);
    if (d !== undefined) candidates.push(d);
  }
  try {
    candidates.push(defaultQueueDir(ctx.host));
  } catch (e) {
    if (candidates.length === 0) throw e;
  }
  const seen = new Set<string>();
  const out: string[] = [];
  for (const c of candidates) {
    const d = normalDir(c);
    if (seen.has(d)) continue;
    seen.add(d);
    const st = await ctx.host.stat(d).catch(() => undefined); // an error: let the queue report it
    if (st === null) continue;
    out.push(d);
  }
  ctx.tracer.note(`queue directories: ${out.length ? out.join(", ") : "none yet"}`);
  return out;
}

/** Whether the account's server came from `SMTPSERVER` (it may be unset at flush time). */
function hostFromEnvironment(config: Config, account: Account): boolean {
  if (config.smtpServer === undefined) return false;
  if (account.source.format === "env") return true;
  const own = config.accounts.find((a) =>
    a.name === account.name && a.source.file === account.source.file && a.source.line === account.source.line
  );
  return own !== undefined && own.host === undefined;
}

function queueEnvelope(ctx: CliContext, config: Config, account: Account, message: OutgoingMessage): QueueEnvelope {
  const server = oneOffServer(ctx.args, account, hostFromEnvironment(config, account));
  return {
    from: message.from,
    to: message.to,
    ...(message.dsnReturn !== undefined ? { dsnReturn: message.dsnReturn } : {}),
    ...(message.dsnEnvelopeId !== undefined ? { dsnEnvelopeId: message.dsnEnvelopeId } : {}),
    ...(message.dsnNotify !== undefined ? { dsnNotify: message.dsnNotify } : {}),
    ...(message.smtpUtf8 ? { smtpUtf8: true } : {}),
    // Only accounts from a configuration file can be found again by name.
    ...(account.source.file !== null ? { account: account.name } : {}),
    // …and the server settings given on the command line go with the entry (never a secret).
    ...(server !== undefined ? { server } : {}),
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
 * @param config The configuration (for the queue directory).
 * @param account The account (its queue directory and name).
 * @param message Envelope and data.
 * @returns The queue id.
 */
export async function enqueue(ctx: CliContext, config: Config, account: Account, message: OutgoingMessage): Promise<string> {
  const queue = await openQueue(ctx, config, account);
  return await queue.enqueue(queueEnvelope(ctx, config, account, message), dataOf(message));
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
  const queue = await openQueue(ctx, config, account);
  const id = await queue.enqueue(queueEnvelope(ctx, config, account, message), dataOf(message));
  ctx.tracer.note(`queued as ${id}; sending now`);
  let lastError: unknown = undefined;
  let lastResult: SendResult | undefined;
  const summary = await queue.flush({
    ids: [id],
    force: true,
    deliver: async (entry, data, pending) => {
      try {
        lastResult = await sendSmtp(ctx, accountForEntry(config, ctx.args, entry), queueMessage(entry, data, pending));
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
      // Nothing is lost, but the server may have it already: say that a flush may send it twice.
      if (mayHaveBeenDelivered(lastError)) host.writeStderr(maybeDeliveredNote(id));
      return EX_OK;
    }
    default:
      host.writeStderr(`smtpsend: the message is queued as ${id} (send it later with smtpsend -q)\n`);
      return EX_OK;
  }
}

/**
 * `-bp`, `--queue-list`: every queue directory's entries, oldest first.
 *
 * @param ctx The environment.
 * @param config The configuration.
 * @returns The exit status (a directory that cannot be read: its error's, after listing the others).
 */
export async function runQueueList(ctx: CliContext, config: Config): Promise<number> {
  const { formatEntries } = await import("../queue.ts");
  const entries: QueueEntry[] = [];
  let code = EX_OK;
  for (const dir of await allQueueDirs(ctx, config)) {
    try {
      entries.push(...await (await queueAt(ctx, dir)).list({ includeFailed: true }));
    } catch (e) {
      ctx.host.writeStderr(errorLine(e));
      if (code === EX_OK) code = exitCodeFor(e);
    }
  }
  entries.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  ctx.host.writeStdout(formatEntries(entries));
  return code;
}

/**
 * `--queue-remove ID`: looks for each id in every queue directory.
 *
 * @param ctx The environment.
 * @param config The configuration.
 * @returns The exit status.
 */
export async function runQueueRemove(ctx: CliContext, config: Config): Promise<number> {
  const queues = await Promise.all((await allQueueDirs(ctx, config)).map((d) => queueAt(ctx, d)));
  let code = EX_OK;
  for (const id of ctx.args.queueRemove) {
    let removed = false;
    let error: unknown = undefined;
    for (const queue of queues) {
      try {
        if (await queue.remove(id)) {
          removed = true;
          ctx.tracer.note(`removed ${id} from ${queue.dir}`);
        }
      } catch (e) {
        error ??= e;
      }
    }
    if (removed) continue;
    if (error !== undefined) {
      ctx.host.writeStderr(errorLine(error));
      if (code === EX_OK) code = exitCodeFor(error);
    } else {
      ctx.host.writeStderr(errorLine(new CliError(`No queue entry "${id}"`, EX_NOINPUT)));
      if (code === EX_OK) code = EX_NOINPUT;
    }
  }
  return code;
}

/**
 * The accounts of a flush: one {@link AccountLink} per account (its
 * credentials found, or asked for, once), and the key by which entries of
 * the same account share a connection.
 */
class FlushAccounts {
  readonly #ctx: CliContext;
  readonly #config: Config;
  readonly #links = new Map<string, AccountLink>();
  readonly #keys = new Map<string, string>();
  readonly #sent = new Set<string>();

  constructor(ctx: CliContext, config: Config) {
    this.#ctx = ctx;
    this.#config = config;
  }

  /** Entries sent with the same account (the same configured account, the same one-off settings) share a key. */
  keyOf(entry: QueueEntry): string {
    let key = this.#keys.get(entry.id);
    if (key === undefined) {
      const account = accountForEntry(this.#config, this.#ctx.args, entry);
      key = JSON.stringify([account.name, account.source.file, account.source.line, entry.server]);
      this.#keys.set(entry.id, key);
      if (!this.#links.has(key)) this.#links.set(key, new AccountLink(this.#ctx, account));
    }
    return key;
  }

  /** The entry's account link. */
  linkOf(entry: QueueEntry): AccountLink {
    return this.#links.get(this.keyOf(entry))!;
  }

  /** Notes the entries that went out (credentials typed for them may be saved). */
  noteSent(items: readonly FlushItem[]): void {
    for (const item of items) {
      const key = this.#keys.get(item.id);
      if (item.outcome === "sent" && key !== undefined) this.#sent.add(key);
    }
  }

  /** Offers to save credentials typed at the prompt, for accounts that sent something. */
  async offerToSave(): Promise<void> {
    for (const key of this.#sent) await this.#links.get(key)!.offerToSave();
  }
}

/** Prints the failed and deferred entries of a flush, and the recipients refused. */
function reportFlush(ctx: CliContext, summary: FlushSummary): void {
  for (const item of summary.items) {
    if (item.outcome === "failed" || item.outcome === "deferred") {
      ctx.host.writeStderr(`smtpsend: ${item.id}: ${item.outcome}${item.reason ? `: ${item.reason}` : ""}\n`);
      // A failed entry's reason already says it; a deferred one is sent again by a later flush.
      if (mayHaveBeenDelivered(item.error) && item.outcome === "deferred") {
        ctx.host.writeStderr(`smtpsend: ${item.id}: ${maybeDeliveredNote(item.id).replace(/^smtpsend: /, "")}`);
      }
    }
    for (const r of item.failed) ctx.host.writeStderr(`smtpsend: ${item.id}: <${r}> refused\n`);
  }
}

/**
 * `-q`, `--flush`: tries every entry of every queue directory now, each with
 * the account recorded in it, through `Queue.flushWith`: one connection per
 * account, reused for its entries (and reopened with credentials when the
 * server asks for authentication).
 *
 * @param ctx The environment.
 * @param config The configuration.
 * @returns 0; 65 when some failed permanently; else a directory's error
 *   status when one could not be read; else 75 when some stay deferred.
 */
export async function runFlush(ctx: CliContext, config: Config): Promise<number> {
  const totals = { sent: 0, deferred: 0, failed: 0, skipped: 0 };
  let dirCode = EX_OK;
  const accounts = new FlushAccounts(ctx, config);
  for (const dir of await allQueueDirs(ctx, config)) {
    let summary: FlushSummary;
    try {
      summary = await (await queueAt(ctx, dir)).flushWith((_, entry) => accounts.linkOf(entry).options(), {
        force: true,
        connectionKey: (entry) => accounts.keyOf(entry),
        retryWith: (error, entry) => accounts.linkOf(entry).retryOptions(error),
        onProgress: (p) => {
          if (p.type === "result") ctx.tracer.note(`${p.id}: ${p.outcome}${p.reason ? ` (${p.reason})` : ""}`);
        },
      });
    } catch (e) {
      ctx.host.writeStderr(errorLine(e));
      if (dirCode === EX_OK) dirCode = exitCodeFor(e);
      continue;
    }
    reportFlush(ctx, summary);
    accounts.noteSent(summary.items);
    totals.sent += summary.sent;
    totals.deferred += summary.deferred;
    totals.failed += summary.failed;
    totals.skipped += summary.skipped;
  }
  await accounts.offerToSave();
  ctx.tracer.note(`flush: ${totals.sent} sent, ${totals.deferred} deferred, ${totals.failed} failed, ${totals.skipped} skipped`);
  if (totals.failed > 0) return EX_DATAERR;
  if (dirCode !== EX_OK) return dirCode;
  if (totals.deferred > 0) return EX_TEMPFAIL;
  return EX_OK;
}
