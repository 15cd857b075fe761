/**
 * The durable outgoing queue: enqueue, list, remove, flush.
 *
 * Commit point of an entry: the rename of its `<id>.json` into the queue
 * directory. The message file `<id>.eml` is put in place (written to `tmp/`,
 * fsynced, renamed) before it; the directory is fsynced after it, and only
 * then does {@link Queue.enqueue} resolve. A message file without an
 * envelope is invisible and removed by {@link Queue.cleanup} once it is
 * `orphanAgeMs` old.
 *
 * One flusher per entry: a flusher claims an entry by renaming `<id>.json`
 * to `<id>.claim.<owner>-…`. Only one rename of a name can succeed, so two
 * flushers (any runtime, any process) never hold the same entry. A claim of
 * a dead process on this host (pid gone, or reused — checked against the
 * start time in `/proc`) is taken over by renaming it again; a claim of a
 * live process on this host is never taken over, however long its delivery
 * takes. Only a claim whose holder cannot be checked (another host sharing
 * the directory, no `/proc`) is taken over by age, `staleClaimMs` after it
 * was made or last refreshed: while delivering, the holder renames its claim
 * to a fresh name every `staleClaimMs / 4`, so only a holder that is gone or
 * hung loses it. A holder that finds its claim taken over after the server's
 * final 250 reports the entry "sent" (with a note in `reason`) and leaves its
 * files to the new holder; before that, "deferred".
 *
 * After delivery: all recipients accepted → the claim file is removed
 * (the entry is gone), then the message file. Some recipients still pending
 * (4xx, network) → the state is written over the claim file (temp + rename)
 * and the claim is renamed back to `<id>.json`. Every recipient settled with
 * at least one 5xx, or older than `maxAge` → moved aside to `failed/`
 * (`failed/<id>.json` first, then the message, then the claim is removed;
 * a flusher that finds `failed/<id>.json` for an entry it claims finishes
 * that move).
 *
 * Duplicate window: a crash after the server's final 250 and before the
 * claim file is removed (or, for partial deliveries, before the new state is
 * renamed over the claim) sends the message again to the recipients it had
 * already reached. Nothing else can lose or duplicate a message.
 * @module
 */
import type { Host } from "../../deps.ts";
import { ReplyError, SmtpError } from "../errors.ts";
import type { SendResult } from "../options.ts";
import { isNotFound, QueueError, queueIoError } from "./error.ts";
import {
  claimFileName,
  currentOwner,
  exists,
  type IdFiles,
  indexNames,
  newId,
  type Owner,
  ownerDead,
  ownerLiveness,
  ownerTag,
  parseClaimName,
  parseTempName,
  randomToken,
  removeQuietly,
  writeAtomically,
} from "./files.ts";
import {
  type Backoff,
  backoffDelay,
  decodeRecord,
  encodeRecord,
  ID_PATTERN,
  newRecord,
  type QueueRecord,
  resolveBackoff,
  toEntry,
} from "./record.ts";
import type {
  ClientOptionsFor,
  FlushItem,
  FlushOptions,
  FlushWithOptions,
  FlushOutcome,
  FlushProgress,
  FlushSummary,
  ListOptions,
  QueueEntry,
  QueueEnvelope,
  QueueLastError,
  QueueOptions,
  QueueStatus,
} from "./types.ts";

/** What one entry's flush gives: the summary item and the entry as it now is. */
type Flushed = { item: FlushItem; entry: QueueEntry | null };

/** What a delivery attempt did: recipients settled in it, whether the claim was lost meanwhile, what it threw. */
interface Attempt {
  readonly delivered: string[];
  readonly failed: string[];
  claimLost: boolean;
  error: unknown;
}

function flushItem(
  id: string,
  outcome: FlushOutcome,
  reason: string | null,
  delivered: string[] = [],
  failed: string[] = [],
): FlushItem {
  return { id, outcome, reason, delivered, failed };
}

const FIVE_DAYS = 5 * 24 * 3600_000;
/** Temp files whose writer cannot be checked are removed after a day (a user may type a message slowly). */
const TEMP_MAX_AGE = 24 * 3600_000;
/** Phases where a 5xx reply is the server's verdict on this message (not on the session). */
const MESSAGE_PHASES: ReadonlySet<string> = new Set(["mail", "rcpt", "data", "bdat", "message"]);

function isAsyncIterable(x: unknown): x is AsyncIterable<Uint8Array> {
  return typeof x === "object" && x !== null && Symbol.asyncIterator in x;
}

function hasHighBit(chunk: Uint8Array): boolean {
  for (let i = 0; i < chunk.length; i++) if (chunk[i]! > 0x7f) return true;
  return false;
}

/** The last-error record for an exception thrown by a deliver function. */
function errorInfo(err: unknown, at: number): QueueLastError {
  if (err instanceof SmtpError) {
    return {
      message: err.message,
      code: err.code ?? null,
      enhancedCode: err.enhancedCode ?? null,
      phase: err.phase ?? null,
      temporary: err.temporary,
      at,
    };
  }
  return { message: err instanceof Error ? `${err.name}: ${err.message}` : String(err), code: null, enhancedCode: null, phase: null, temporary: true, at };
}

/**
 * A durable on-disk queue of outgoing messages.
 *
 * Every file operation goes through the given {@link Host}. Several `Queue`
 * objects (in one process or in many, under Node, Bun or Deno) may share one
 * directory: each entry is delivered by one flusher at a time.
 *
 * The CLI maps onto it one call per flag:
 * - `-odq` / `--queue`: `await queue.enqueue({ from, to, account }, host.stdin())`, exit 0;
 *   a {@link QueueError} → exit 75 when `temporary`;
 * - `--queue-on-failure`: `id = await queue.enqueue(...)`, then
 *   `queue.flush({ ids: [id], force: true, deliver })`;
 * - `-q` / `--flush`: `await queue.flush({ deliver, onProgress })` (or {@link Queue.flushWith});
 * - `-bp` / `--queue-list`: `formatEntries(await queue.list())`;
 * - `--queue-remove ID`: `await queue.remove(id)` (`false`: no such entry).
 *
 * @example
 * ```ts
 * const { host } = await runtime();
 * const queue = new Queue({ dir: defaultQueueDir(host), host });
 * const id = await queue.enqueue({ from: "me@example.org", to: ["you@example.net"] },
 *   new TextEncoder().encode("Subject: hi\r\n\r\nhello\r\n"));
 * const summary = await queue.flushWith({ host: "smtp.example.org", auth: { user: "me", pass: "pw" } });
 * console.log(id, summary.sent, summary.deferred);
 * ```
 */
export class Queue {
  /** The queue directory. */
  readonly dir: string;
  readonly #host: Host;
  readonly #now: () => number;
  readonly #backoff: Backoff;
  readonly #maxAge: number;
  readonly #staleClaimMs: number;
  readonly #orphanAgeMs: number;
  #ready: Promise<Owner> | undefined;

  /**
   * Creates a queue over a directory; nothing is touched until the first call.
   *
   * @param options Directory, host services, clock, backoff and ages.
   * @throws {TypeError | RangeError} On invalid options.
   */
  constructor(options: QueueOptions) {
    if (typeof options !== "object" || options === null) throw new TypeError("Queue options must be an object");
    if (typeof options.dir !== "string" || options.dir === "") throw new TypeError("Queue option \"dir\" must be a non-empty string");
    if (typeof options.host !== "object" || options.host === null) throw new TypeError("Queue option \"host\" is required");
    const positive = (v: number | undefined, name: string, dflt: number): number => {
      if (v === undefined) return dflt;
      if (typeof v !== "number" || !(v >= 0)) throw new RangeError(`Queue option "${name}" must be a non-negative number of milliseconds`);
      return v;
    };
    this.dir = options.dir.length > 1 ? options.dir.replace(/\/+$/, "") : options.dir;
    this.#host = options.host;
    this.#now = options.now ?? Date.now;
    this.#backoff = resolveBackoff(options.backoff);
    this.#maxAge = positive(options.maxAge, "maxAge", FIVE_DAYS);
    this.#staleClaimMs = positive(options.staleClaimMs, "staleClaimMs", 3600_000);
    this.#orphanAgeMs = positive(options.orphanAgeMs, "orphanAgeMs", 15 * 60_000);
  }

  #path(name: string): string {
    return `${this.dir}/${name}`;
  }
  #tmp(name: string): string {
    return `${this.dir}/tmp/${name}`;
  }
  #failed(name: string): string {
    return `${this.dir}/failed/${name}`;
  }

  /** Creates the directories (0700) once and learns who we are. */
  #ensure(): Promise<Owner> {
    this.#ready ??= (async (): Promise<Owner> => {
      const host = this.#host;
      for (const d of [this.dir, `${this.dir}/tmp`, `${this.dir}/failed`]) {
        try {
          await host.mkdir(d, { recursive: true, mode: 0o700 });
        } catch (e) {
          throw queueIoError("create the queue directory", d, e);
        }
      }
      let st;
      try {
        st = await host.stat(this.dir);
      } catch (e) {
        throw queueIoError("inspect", this.dir, e);
      }
      if (!st?.isDirectory) throw new QueueError(`Queue: "${this.dir}" is not a directory`, { path: this.dir });
      if (st.mode !== null && (st.mode & 0o022) !== 0) {
        throw new QueueError(
          `Queue: directory "${this.dir}" is writable by other users (mode 0${(st.mode & 0o777).toString(8)}); run chmod 700 on it`,
          { path: this.dir },
        );
      }
      return await currentOwner(host);
    })();
    this.#ready.catch(() => {
      this.#ready = undefined;
    });
    return this.#ready;
  }

  async #readDir(dir: string): Promise<string[]> {
    try {
      return await this.#host.readDir(dir);
    } catch (e) {
      if (isNotFound(e)) return [];
      throw queueIoError("list", dir, e);
    }
  }

  async #syncDir(dir: string): Promise<void> {
    try {
      await this.#host.syncDir(dir);
    } catch (e) {
      throw queueIoError("sync", dir, e);
    }
  }

  async #readRecord(path: string, id: string): Promise<QueueRecord> {
    let bytes: Uint8Array;
    try {
      bytes = await this.#host.readFile(path);
    } catch (e) {
      if (isNotFound(e)) throw e;
      throw queueIoError("read", path, e);
    }
    return decodeRecord(bytes, id, path);
  }

  /**
   * Stores a message durably and returns its id. Resolves only once the
   * message and its envelope are written, fsynced and renamed into place and
   * the directory is fsynced: after that a crash or power loss cannot lose it.
   * On any failure nothing of the entry is left behind.
   *
   * @param envelope Sender, recipients, DSN options and the account name
   *   (never a password: only the fields of {@link QueueEnvelope} are stored).
   * @param data The message (headers and body), stored byte for byte.
   * @returns The new entry's id.
   * @throws {QueueError} When the queue cannot be written (`osCode` e.g. `"ENOSPC"`; `temporary` for disk full and I/O errors).
   * @throws {TypeError | RangeError} On an invalid envelope or data.
   * @example
   * ```ts
   * const id = await queue.enqueue({ from: "me@example.org", to: ["you@example.net"], account: "work" }, host.stdin());
   * ```
   */
  async enqueue(envelope: QueueEnvelope, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<string> {
    const createdAt = this.#now();
    newRecord("validate0", envelope, createdAt, 0, false); // validates before anything is written
    if (!(data instanceof Uint8Array) && !isAsyncIterable(data)) {
      throw new TypeError("Queue data must be a Uint8Array or an AsyncIterable<Uint8Array>");
    }
    const owner = await this.#ensure();
    const host = this.#host;
    const id = newId(createdAt);
    const tag = `${ownerTag(owner)}-${randomToken(6)}`;
    const tmpMsg = this.#tmp(`${id}.eml.${tag}`);
    const tmpJson = this.#tmp(`${id}.json.${tag}`);
    const msgPath = this.#path(`${id}.eml`);
    const jsonPath = this.#path(`${id}.json`);

    let size = 0;
    let eightBit = false;
    let sourceError: unknown = undefined;
    let body: Uint8Array | AsyncIterable<Uint8Array>;
    if (data instanceof Uint8Array) {
      size = data.length;
      eightBit = hasHighBit(data);
      body = data;
    } else {
      body = (async function* (): AsyncIterable<Uint8Array> {
        try {
          for await (const chunk of data) {
            if (!(chunk instanceof Uint8Array)) throw new TypeError("Queue data stream must yield Uint8Array chunks");
            size += chunk.length;
            if (!eightBit) eightBit = hasHighBit(chunk);
            yield chunk;
          }
        } catch (e) {
          sourceError = e;
          throw e;
        }
      })();
    }

    let msgPlaced = false;
    let committed = false;
    try {
      await writeAtomically(host, tmpMsg, msgPath, body, () => sourceError);
      msgPlaced = true;
      const record = newRecord(id, envelope, createdAt, size, eightBit);
      await writeAtomically(host, tmpJson, jsonPath, encodeRecord(record)); // the commit point
      committed = true;
      await this.#syncDir(this.dir);
      return id;
    } catch (e) {
      if (committed) {
        // Visible but not known to be durable: take it back unless a flusher already holds it.
        try {
          await host.remove(jsonPath);
        } catch (re) {
          if (isNotFound(re)) return id; // a flusher claimed it: it is in the queue's hands now
        }
      }
      if (msgPlaced) await removeQuietly(host, msgPath);
      await removeQuietly(host, tmpMsg);
      await removeQuietly(host, tmpJson);
      throw e instanceof QueueError || e === sourceError ? e : queueIoError("store the message in", this.dir, e);
    }
  }

  /**
   * Lists the entries, oldest first: id, age, size, sender, recipients with
   * per-recipient state, attempts, last error and next attempt.
   *
   * @param options `includeFailed` also lists entries moved aside to `failed/`.
   * @returns The entries (unreadable records are left out).
   * @throws {QueueError} When the directory cannot be read.
   * @example
   * ```ts
   * for (const e of await queue.list()) console.log(e.id, e.from, e.recipients.map((r) => r.address));
   * ```
   */
  async list(options: ListOptions = {}): Promise<QueueEntry[]> {
    await this.#ensure();
    const now = this.#now();
    const out: QueueEntry[] = [];
    const failedIds = new Set<string>();
    if (options.includeFailed) {
      for (const name of await this.#readDir(`${this.dir}/failed`)) {
        const m = /^([0-9a-z]{8,40})\.json$/.exec(name);
        if (!m) continue;
        try {
          out.push(toEntry(await this.#readRecord(this.#failed(name), m[1]!), "failed", now));
          failedIds.add(m[1]!);
        } catch {
          // unreadable or removed meanwhile
        }
      }
    }
    const index = indexNames(await this.#readDir(this.dir));
    for (const [id, files] of index) {
      if (failedIds.has(id) || (!files.json && files.claims.length === 0)) continue;
      const found = await this.#load(id, files);
      if (found) out.push(toEntry(found.record, found.status, now));
    }
    out.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return out;
  }

  /**
   * One entry by id, or `null` when there is none.
   *
   * @param id A queue id.
   * @returns The entry (queued, in flight or failed), or `null`.
   */
  async get(id: string): Promise<QueueEntry | null> {
    if (typeof id !== "string" || !ID_PATTERN.test(id)) return null;
    await this.#ensure();
    const now = this.#now();
    try {
      return toEntry(await this.#readRecord(this.#failed(`${id}.json`), id), "failed", now);
    } catch {
      // not failed
    }
    const found = await this.#load(id, indexNames(await this.#readDir(this.dir)).get(id));
    return found ? toEntry(found.record, found.status, now) : null;
  }

  /** Reads an entry's current record, following it if a flusher renames it meanwhile. */
  async #load(id: string, files: IdFiles | undefined): Promise<{ record: QueueRecord; status: QueueStatus } | null> {
    for (let round = 0; round < 4 && files; round++) {
      if (files.json) {
        try {
          return { record: await this.#readRecord(this.#path(`${id}.json`), id), status: "queued" };
        } catch (e) {
          if (!isNotFound(e)) return null;
        }
      }
      for (const claim of files.claims) {
        try {
          return { record: await this.#readRecord(this.#path(claim), id), status: "in-flight" };
        } catch (e) {
          if (!isNotFound(e)) return null;
        }
      }
      files = indexNames(await this.#readDir(this.dir)).get(id);
    }
    return null;
  }

  /**
   * Removes an entry (queued or failed) and its message. An entry held by a
   * live flusher is not removed.
   *
   * @param id The queue id.
   * @returns `true` when removed, `false` when there is no such entry.
   * @throws {QueueError} When a flusher is delivering it right now, or on I/O errors.
   * @example
   * ```ts
   * if (!(await queue.remove("mi3k2x9a4f7q2b8z"))) console.error("no such queue entry");
   * ```
   */
  async remove(id: string): Promise<boolean> {
    if (typeof id !== "string" || !ID_PATTERN.test(id)) return false;
    const owner = await this.#ensure();
    const host = this.#host;
    const mine = this.#path(claimFileName(id, owner, this.#now()));
    let claimed = false;
    try {
      await host.rename(this.#path(`${id}.json`), mine);
      claimed = true;
    } catch (e) {
      if (!isNotFound(e)) throw queueIoError("claim", this.#path(`${id}.json`), e);
    }
    if (!claimed) {
      const files = indexNames(await this.#readDir(this.dir)).get(id);
      for (const claim of files?.claims ?? []) {
        if (!(await this.#claimIsStale(claim, owner))) {
          const who = parseClaimName(claim)!;
          throw new QueueError(`Queue: entry "${id}" is being delivered by process ${who.owner.pid}; try again later`, {
            path: this.#path(claim),
            temporary: true,
          });
        }
        try {
          await host.rename(this.#path(claim), mine);
          claimed = true;
          break;
        } catch (e) {
          if (!isNotFound(e)) throw queueIoError("claim", this.#path(claim), e);
        }
      }
    }
    if (claimed) {
      try {
        await host.remove(mine);
        await this.#syncDir(this.dir);
        await host.remove(this.#path(`${id}.eml`), { force: true });
        await removeQuietly(host, this.#failed(`${id}.json`));
        await removeQuietly(host, this.#failed(`${id}.eml`));
      } catch (e) {
        throw queueIoError("remove", this.#path(`${id}.eml`), e);
      }
      return true;
    }
    if (await exists(host, this.#failed(`${id}.json`))) {
      try {
        await host.remove(this.#failed(`${id}.json`));
        await host.remove(this.#failed(`${id}.eml`), { force: true });
        await this.#syncDir(`${this.dir}/failed`);
      } catch (e) {
        if (!isNotFound(e)) throw queueIoError("remove", this.#failed(`${id}.json`), e);
      }
      return true;
    }
    return false;
  }

  /**
   * Whether a claim may be taken over. When its holder's liveness can be
   * told (same host, `/proc` readable, start time recorded) that alone
   * decides: a live holder's claim is never taken over, however old — it
   * may be in the middle of a long DATA. Only when liveness cannot be told
   * (another host, no `/proc`) does age decide: `staleClaimMs` since the
   * claim was made or last refreshed (holders refresh it while delivering).
   */
  async #claimIsStale(name: string, me: Owner): Promise<boolean> {
    const c = parseClaimName(name);
    if (!c) return false;
    if (c.owner.hostTag === me.hostTag && c.owner.pid === me.pid && c.owner.start === me.start && me.start !== "0") return false;
    const liveness = await ownerLiveness(this.#host, c.owner, me);
    if (liveness !== "unknown") return liveness === "dead";
    return this.#now() - c.claimedAt >= this.#staleClaimMs;
  }

  /**
   * Keeps a claim fresh while `work` runs: every quarter of `staleClaimMs`
   * the claim is renamed to a new claim name with the current time, so a
   * flusher that cannot check our liveness (another host, no `/proc`) does
   * not take it over by age. A rename of a name succeeds once, so a
   * refresh can never bring back a claim that someone else took over; it
   * then reports the claim lost.
   */
  async #holding<T>(id: string, claimPath: string, work: () => Promise<T>): Promise<{ value: T; claimPath: string; lost: boolean }> {
    const me = await this.#ensure();
    const host = this.#host;
    let path = claimPath;
    let lost = false;
    let chain: Promise<void> = Promise.resolve();
    const refresh = async (): Promise<void> => {
      if (lost) return;
      const next = this.#path(claimFileName(id, me, this.#now()));
      try {
        await host.rename(path, next);
        path = next;
      } catch (e) {
        if (isNotFound(e)) lost = true;
        // other errors: keep the old name; the next refresh tries again
      }
    };
    const every = this.#staleClaimMs > 0 ? Math.max(20, Math.floor(this.#staleClaimMs / 4)) : 0;
    const timer = every > 0 ? setInterval(() => (chain = chain.then(refresh)), every) : undefined;
    let value: T;
    try {
      value = await work();
    } finally {
      if (timer !== undefined) clearInterval(timer);
      await chain;
    }
    return { value, claimPath: path, lost };
  }

  /**
   * Removes leftovers of crashes: message files without an envelope older
   * than `orphanAgeMs`, and temp files of dead writers (or older than a day).
   * {@link Queue.flush} runs it first; it never touches a visible entry.
   *
   * @returns How many files were removed.
   * @throws {QueueError} When the directory cannot be read.
   */
  async cleanup(): Promise<number> {
    const me = await this.#ensure();
    const host = this.#host;
    const now = this.#now();
    let removed = 0;
    const index = indexNames(await this.#readDir(this.dir));
    for (const [id, files] of index) {
      if (!files.eml || files.json || files.claims.length > 0) continue;
      const emlPath = this.#path(`${id}.eml`);
      const st = await host.stat(emlPath).catch(() => null);
      if (!st || now - st.mtimeMs < this.#orphanAgeMs) continue;
      // Look again: a flusher may have been renaming the record while the directory was read.
      const again = indexNames(await this.#readDir(this.dir)).get(id);
      if (!again || again.json || again.claims.length > 0) continue;
      await removeQuietly(host, emlPath);
      removed++;
    }
    for (const name of await this.#readDir(`${this.dir}/tmp`)) {
      const path = this.#tmp(name);
      const writer = parseTempName(name);
      const st = await host.stat(path).catch(() => null);
      if (!st) continue;
      const dead = writer !== null && (await ownerDead(host, writer, me));
      if (dead || now - st.mtimeMs >= TEMP_MAX_AGE) {
        await removeQuietly(host, path);
        removed++;
      }
    }
    return removed;
  }

  /**
   * Tries to deliver the queued entries that are due (all of them with
   * `force`), oldest first, one at a time, each under an exclusive claim.
   *
   * Per entry: recipients already delivered are not sent again; the rest go
   * to `deliver`. All accepted → removed (only after the final 250). Some
   * refused with 4xx or a network/timeout error → stays queued with
   * `attempts + 1` and `nextAttemptAt` after exponential backoff, or moved
   * aside as `"expired"` once older than `maxAge`. Every remaining recipient
   * settled and at least one refused with 5xx → moved aside to `failed/` with
   * the server's reply. Entries held by another live flusher are skipped.
   *
   * @param options `deliver` sends one message; `onProgress`, `force`, `ids`, `signal`.
   * @returns Totals and one item per entry looked at.
   * @throws {QueueError} When the queue directory cannot be read.
   * @example
   * ```ts
   * const client = await SmtpClient.connect({ host: "smtp.example.org" });
   * const summary = await queue.flush({
   *   deliver: (entry, data, pending) => client.send(queueMessage(entry, data, pending)),
   *   onProgress: (p) => p.type === "result" && console.log(p.id, p.outcome),
   * });
   * await client.quit();
   * ```
   */
  async flush(options: FlushOptions): Promise<FlushSummary> {
    if (typeof options !== "object" || options === null || typeof options.deliver !== "function") {
      throw new TypeError("Queue flush needs a \"deliver\" function");
    }
    const me = await this.#ensure();
    const progress = (event: FlushProgress): void => {
      try {
        options.onProgress?.(event);
      } catch {
        // a progress display must not break delivery
      }
    };
    try {
      await this.cleanup();
    } catch {
      // leftovers stay until the next flush
    }
    const wanted = options.ids ? new Set(options.ids) : null;
    const index = indexNames(await this.#readDir(this.dir));
    const ids = [...index.keys()]
      .filter((id) => (index.get(id)!.json || index.get(id)!.claims.length > 0) && (!wanted || wanted.has(id)))
      .sort();
    progress({ type: "start", total: ids.length });
    const items: FlushItem[] = [];
    for (let i = 0; i < ids.length; i++) {
      if (options.signal?.aborted) break;
      const id = ids[i]!;
      const { item, entry } = await this.#flushOne(id, index.get(id)!, me, options, i, ids.length, progress);
      items.push(item);
      progress({ type: "result", index: i, total: ids.length, id, outcome: item.outcome, reason: item.reason, entry });
    }
    const count = (o: FlushOutcome): number => items.filter((x) => x.outcome === o).length;
    const summary: FlushSummary = {
      sent: count("sent"),
      deferred: count("deferred"),
      failed: count("failed"),
      skipped: count("skipped"),
      items,
    };
    progress({ type: "done", summary });
    return summary;
  }

  /**
   * Like {@link Queue.flush}, delivering with {@link SmtpClient}: one
   * connection per account, reused across messages.
   *
   * @param client Connection options, or a function giving them for an entry's
   *   account name (`null`: the default account) and the entry — where the CLI
   *   looks up the configured identity and its credentials.
   * @param options As for {@link Queue.flush}, without `deliver`; `connectionKey`
   *   says which entries share a connection, `retryWith` may reconnect once
   *   after a refusal (e.g. with credentials after 530).
   * @returns Totals and one item per entry looked at.
   * @example
   * ```ts
   * await queue.flushWith((account) => config.clientOptionsFor(account ?? "default"));
   * ```
   */
  async flushWith(client: ClientOptionsFor, options: FlushWithOptions = {}): Promise<FlushSummary> {
    const { smtpDeliverer } = await import("./smtp.ts");
    const { connectionKey, retryWith, ...flush } = options;
    const d = smtpDeliverer(client, {
      ...(connectionKey !== undefined ? { connectionKey } : {}),
      ...(retryWith !== undefined ? { retryWith } : {}),
    });
    try {
      return await this.flush({ ...flush, deliver: d.deliver });
    } finally {
      await d.close();
    }
  }

  async #flushOne(
    id: string,
    files: IdFiles,
    me: Owner,
    options: FlushOptions,
    index: number,
    total: number,
    progress: (e: FlushProgress) => void,
  ): Promise<Flushed> {
    const host = this.#host;
    const skip = (reason: string, entry: QueueEntry | null = null): Flushed => ({ item: flushItem(id, "skipped", reason), entry });
    const jsonPath = this.#path(`${id}.json`);
    let claimPath: string | null = null;
    if (files.json) {
      if (!options.force) {
        try {
          const r = await this.#readRecord(jsonPath, id);
          if ((r.nextAttemptAt ?? 0) > this.#now()) return skip("not-due", toEntry(r, "queued", this.#now()));
        } catch (e) {
          if (!isNotFound(e)) return skip(`unreadable: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      const mine = this.#path(claimFileName(id, me, this.#now()));
      try {
        await host.rename(jsonPath, mine);
        claimPath = mine;
      } catch (e) {
        if (!isNotFound(e)) return skip(queueIoError("claim", jsonPath, e).message);
      }
    }
    if (!claimPath) {
      for (const claim of files.claims) {
        if (!(await this.#claimIsStale(claim, me))) continue;
        const mine = this.#path(claimFileName(id, me, this.#now()));
        try {
          await host.rename(this.#path(claim), mine);
          claimPath = mine;
          break;
        } catch {
          // someone else took it over first
        }
      }
      if (!claimPath) return skip("busy");
    }
    const held = { path: claimPath };
    try {
      return await this.#deliverClaimed(id, held, options, index, total, progress);
    } catch (e) {
      // Our own bookkeeping failed (disk full while recording state, …): put the entry back as it was.
      try {
        await host.rename(held.path, jsonPath);
      } catch {
        // the claim stays; it is recovered once this process is gone
      }
      const message = e instanceof Error ? e.message : String(e);
      return { item: flushItem(id, "deferred", message), entry: null };
    }
  }

  /**
   * Delivers an entry this flusher holds the claim on: reads its record,
   * handles the cases that need no delivery ({@link Queue.#notToDeliver}),
   * sends to the pending recipients ({@link Queue.#attempt}) and ends,
   * defers or moves the entry aside ({@link Queue.#conclude}).
   */
  async #deliverClaimed(
    id: string,
    held: { path: string },
    options: FlushOptions,
    index: number,
    total: number,
    progress: (e: FlushProgress) => void,
  ): Promise<Flushed> {
    let rec: QueueRecord;
    try {
      rec = await this.#readRecord(held.path, id);
    } catch (e) {
      await this.#host.rename(held.path, this.#path(`${id}.json`)).catch(() => {});
      return { item: flushItem(id, "skipped", `unreadable: ${e instanceof Error ? e.message : String(e)}`), entry: null };
    }
    const early = await this.#notToDeliver(id, held.path, rec, options);
    if (early) return early;
    const attempt = await this.#attempt(id, held, rec, options, index, total, progress);
    return await this.#conclude(id, held.path, rec, attempt);
  }

  /** An entry not due yet, one whose move aside was interrupted, one whose message file is gone: the outcome, else `null`. */
  async #notToDeliver(id: string, claimPath: string, rec: QueueRecord, options: FlushOptions): Promise<Flushed | null> {
    if (!options.force && (rec.nextAttemptAt ?? 0) > this.#now()) {
      await this.#release(claimPath, this.#path(`${id}.json`));
      return { item: flushItem(id, "skipped", "not-due"), entry: toEntry(rec, "queued", this.#now()) };
    }
    // A previous flusher died while moving it aside: finish the move.
    if (await exists(this.#host, this.#failed(`${id}.json`))) {
      await this.#finishMoveAside(id, claimPath);
      let entry: QueueEntry | null = null;
      try {
        entry = toEntry(await this.#readRecord(this.#failed(`${id}.json`), id), "failed", this.#now());
      } catch {
        // leave entry null
      }
      return { item: flushItem(id, "failed", "recovered an interrupted move to failed/"), entry };
    }
    const emlPath = this.#path(`${id}.eml`);
    if (!(await exists(this.#host, emlPath))) {
      const at = this.#now();
      rec.failReason = "unreadable";
      rec.lastError = { message: `Message file "${emlPath}" is missing`, code: null, enhancedCode: null, phase: "queue", temporary: false, at };
      await this.#moveAside(id, claimPath, rec);
      return { item: flushItem(id, "failed", rec.lastError.message), entry: toEntry(rec, "failed", at) };
    }
    return null;
  }

  /**
   * Sends the entry to its pending recipients (if any) while holding the
   * claim, and records the outcome in `rec`. `held.path` follows the claim
   * file when it is refreshed.
   */
  async #attempt(
    id: string,
    held: { path: string },
    rec: QueueRecord,
    options: FlushOptions,
    index: number,
    total: number,
    progress: (e: FlushProgress) => void,
  ): Promise<Attempt> {
    const pending = rec.recipients.filter((r) => r.state === "pending").map((r) => r.address);
    const done: Attempt = { delivered: [], failed: [], claimLost: false, error: undefined };
    if (pending.length === 0) return done;
    const entry = toEntry(rec, "in-flight", this.#now());
    progress({ type: "attempt", index, total, entry });
    let octets = 0;
    const size = rec.size;
    const stream = this.#host.readStream(this.#path(`${id}.eml`));
    const data = (async function* (): AsyncGenerator<Uint8Array, void, undefined> {
      for await (const chunk of stream) {
        octets += chunk.length;
        yield chunk;
        progress({ type: "data", id, octets, size });
      }
    })();
    let result: SendResult | undefined;
    const kept = await this.#holding(id, held.path, async () => {
      try {
        result = await options.deliver(entry, data, pending);
      } catch (e) {
        done.error = e;
      } finally {
        // Close the file if the delivery stopped reading early.
        await data.return(undefined).catch(() => {});
      }
    });
    held.path = kept.claimPath;
    done.claimLost = kept.lost;
    const at = this.#now();
    rec.attempts++;
    rec.lastAttemptAt = at;
    this.#apply(rec, pending, result, done.error, at, done.delivered, done.failed);
    return done;
  }

  /** Ends the entry (every recipient has it), moves it aside (failed or expired), or defers it. */
  async #conclude(id: string, claimPath: string, rec: QueueRecord, attempt: Attempt): Promise<Flushed> {
    const { delivered, failed, error } = attempt;
    const withError = error === undefined ? {} : { error };
    const stillPending = rec.recipients.filter((r) => r.state === "pending");
    const anyFailed = rec.recipients.some((r) => r.state === "failed");
    const at = this.#now();
    if (stillPending.length === 0 && !anyFailed) return await this.#sent(id, claimPath, attempt);
    if (attempt.claimLost) {
      throw new QueueError(`Queue: lost the claim on "${id}" to another flusher`, { path: claimPath });
    }
    if (stillPending.length === 0 || at - rec.createdAt >= this.#maxAge) {
      if (stillPending.length > 0) {
        rec.failReason = "expired";
        const why = rec.lastError ? `: ${rec.lastError.message}` : "";
        for (const r of stillPending) {
          r.state = "failed";
          r.message = `Gave up after ${Math.round((at - rec.createdAt) / 3600_000)} hours${why}`;
          r.at = at;
          failed.push(r.address);
        }
      } else {
        rec.failReason = "rejected";
      }
      rec.nextAttemptAt = null;
      await this.#moveAside(id, claimPath, rec);
      return {
        item: { ...flushItem(id, "failed", rec.lastError?.message ?? null, delivered, failed), ...withError },
        entry: toEntry(rec, "failed", at),
      };
    }
    rec.nextAttemptAt = at + backoffDelay(this.#backoff, Math.max(1, rec.attempts));
    await this.#writeOver(claimPath, rec);
    await this.#release(claimPath, this.#path(`${id}.json`));
    return {
      item: { ...flushItem(id, "deferred", rec.lastError?.message ?? null, delivered, failed), ...withError },
      entry: toEntry(rec, "queued", at),
    };
  }

  /**
   * Every recipient has the message: the entry ends here (removal of the
   * record is the commit). Our claim gone meanwhile means another flusher
   * took the entry over (it judged us dead or, unable to tell, our claim too
   * old): the server's 250 still stands, so this is "sent"; the entry's files
   * are now the other flusher's and are left alone.
   */
  async #sent(id: string, claimPath: string, attempt: Attempt): Promise<Flushed> {
    const { delivered, failed } = attempt;
    let gone = attempt.claimLost;
    if (!gone) {
      try {
        await this.#host.remove(claimPath);
      } catch (e) {
        if (!isNotFound(e)) throw queueIoError("remove", claimPath, e);
        gone = true;
      }
    }
    if (gone) {
      const note = "sent, but another flusher had taken the entry over meanwhile and may send it again";
      return { item: flushItem(id, "sent", note, delivered, failed), entry: null };
    }
    await this.#syncDir(this.dir).catch(() => {});
    await removeQuietly(this.#host, this.#path(`${id}.eml`));
    return { item: flushItem(id, "sent", null, delivered, failed), entry: null };
  }

  /** Records a delivery's outcome in the record's recipients and last error. */
  #apply(
    rec: QueueRecord,
    pending: readonly string[],
    result: SendResult | undefined,
    error: unknown,
    at: number,
    delivered: string[],
    failed: string[],
  ): void {
    const byAddress = new Map(rec.recipients.filter((r) => r.state === "pending").map((r) => [r.address, r]));
    const settle = (address: string, code: number | null, enhanced: string | null, message: string, ok: boolean) => {
      const r = byAddress.get(address);
      if (!r) return;
      r.code = code;
      r.enhancedCode = enhanced;
      r.message = message;
      r.at = at;
      if (ok) {
        r.state = "delivered";
        delivered.push(address);
      } else if (code !== null && code >= 500) {
        r.state = "failed";
        failed.push(address);
      }
      byAddress.delete(address);
    };
    if (result) {
      const reply = `${result.reply.code}${result.reply.enhanced ? ` ${result.reply.enhanced}` : ""} ${result.reply.lines.join(" ")}`.trim();
      for (const a of result.accepted) settle(a.address, a.code, a.enhancedCode, reply, true);
      let first: QueueLastError | null = null;
      for (const r of result.rejected) {
        if (!byAddress.has(r.address)) continue;
        first ??= { message: `<${r.address}>: ${r.code} ${r.message}`.trim(), code: r.code, enhancedCode: r.enhancedCode, phase: "rcpt", temporary: r.code < 500, at };
        settle(r.address, r.code, r.enhancedCode, r.message, false);
      }
      for (const a of pending) {
        if (byAddress.has(a)) {
          first ??= { message: `No result for <${a}> from the delivery`, code: null, enhancedCode: null, phase: null, temporary: true, at };
          byAddress.get(a)!.message = first.message;
          byAddress.get(a)!.at = at;
        }
      }
      if (first) rec.lastError = first;
      return;
    }
    const info = errorInfo(error, at);
    rec.lastError = info;
    if (error instanceof ReplyError) {
      for (const r of error.rejected ?? []) settle(r.address, r.code, r.enhancedCode, r.message, false);
    }
    // A 5xx verdict on this message (MAIL, RCPT, DATA, or the client's own SIZE check) fails the rest.
    if (
      error instanceof SmtpError && !error.temporary && (error.code ?? 0) >= 500 && MESSAGE_PHASES.has(error.phase ?? "")
    ) {
      for (const a of [...byAddress.keys()]) settle(a, error.code ?? null, error.enhancedCode ?? null, info.message, false);
    }
    for (const r of byAddress.values()) {
      r.message = info.message;
      r.at = at;
    }
  }

  /** Writes the record over the claim file (temp, fsync, rename), checking the claim is still ours. */
  async #writeOver(claimPath: string, rec: QueueRecord): Promise<void> {
    if (!(await exists(this.#host, claimPath))) {
      throw new QueueError(`Queue: lost the claim on "${rec.id}" to another flusher`, { path: claimPath });
    }
    const me = await this.#ensure();
    await writeAtomically(this.#host, this.#tmp(`${rec.id}.json.${ownerTag(me)}-${randomToken(6)}`), claimPath, encodeRecord(rec));
  }

  async #release(claimPath: string, jsonPath: string): Promise<void> {
    try {
      await this.#host.rename(claimPath, jsonPath);
    } catch (e) {
      throw queueIoError("release", claimPath, e);
    }
    await this.#syncDir(this.dir);
  }

  /** `failed/<id>.json` first (the decision), then the message, then the claim goes. */
  async #moveAside(id: string, claimPath: string, rec: QueueRecord): Promise<void> {
    if (!(await exists(this.#host, claimPath))) {
      throw new QueueError(`Queue: lost the claim on "${id}" to another flusher`, { path: claimPath });
    }
    const me = await this.#ensure();
    await writeAtomically(this.#host, this.#tmp(`${id}.json.${ownerTag(me)}-${randomToken(6)}`), this.#failed(`${id}.json`), encodeRecord(rec));
    await this.#syncDir(`${this.dir}/failed`);
    await this.#finishMoveAside(id, claimPath);
  }

  async #finishMoveAside(id: string, claimPath: string): Promise<void> {
    const host = this.#host;
    try {
      await host.rename(this.#path(`${id}.eml`), this.#failed(`${id}.eml`));
    } catch (e) {
      if (!isNotFound(e)) throw queueIoError("move aside", this.#path(`${id}.eml`), e);
    }
    await this.#syncDir(`${this.dir}/failed`);
    try {
      await host.remove(claimPath);
    } catch (e) {
      if (!isNotFound(e)) throw queueIoError("remove", claimPath, e);
    }
    await this.#syncDir(this.dir);
  }
}
