/**
 * Delivering queued entries with {@link SmtpClient}: the glue behind
 * `Queue.flushWith` (loaded lazily, so the queue itself does not pull in
 * the SMTP session code).
 * @module
 */
import { SmtpClient } from "../default_client.ts";
import { ReplyError } from "../errors.ts";
import type { ClientOptions, SendResult } from "../options.ts";
import { queueMessage } from "./message.ts";
import type { ClientOptionsFor, DeliverFunction, FlushWithOptions, QueueEntry } from "./types.ts";

/** A deliver function backed by one reusable {@link SmtpClient} per connection key, and a way to close them. */
export interface SmtpDeliverer {
  /** Sends one entry; connects (or reconnects) as needed. */
  readonly deliver: DeliverFunction;
  /** Sends QUIT on every open connection. */
  close(): Promise<void>;
}

/** Wraps a stream so that the deliverer knows whether reading began (a retry needs it whole). */
function watched(data: AsyncIterable<Uint8Array>): { data: AsyncIterable<Uint8Array>; started: () => boolean } {
  let started = false;
  return {
    data: {
      [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
        started = true;
        return data[Symbol.asyncIterator]();
      },
    },
    started: () => started,
  };
}

/**
 * Creates a {@link SmtpDeliverer}.
 *
 * @param client Connection options, or a function giving them for an entry's account.
 * @param hooks `connectionKey` (which entries share a connection) and `retryWith` (see {@link FlushWithOptions}).
 * @returns The deliver function and its closer.
 */
export function smtpDeliverer(
  client: ClientOptionsFor,
  hooks: Pick<FlushWithOptions, "connectionKey" | "retryWith"> = {},
): SmtpDeliverer {
  const clients = new Map<string, SmtpClient>();
  // A server that could not be reached is not tried again for every message of the same flush.
  const unreachable = new Map<string, unknown>();
  const keyOf = hooks.connectionKey ?? ((entry: QueueEntry) => entry.account ?? "");

  const connect = async (key: string, options: ClientOptions | Promise<ClientOptions>): Promise<SmtpClient> => {
    try {
      const c = await SmtpClient.connect(await options);
      clients.set(key, c);
      return c;
    } catch (e) {
      unreachable.set(key, e);
      throw e;
    }
  };
  const drop = (key: string): void => {
    clients.get(key)?.close();
    clients.delete(key);
  };
  const sendOver = async (key: string, c: SmtpClient, entry: QueueEntry, data: AsyncIterable<Uint8Array>, pending: readonly string[]) => {
    try {
      return await c.send(queueMessage(entry, data, pending));
    } catch (e) {
      // The client closes itself after anything but an ordinary negative reply (and after some
      // of those too, e.g. a refused BDAT chunk); connect afresh next time.
      if (!(e instanceof ReplyError) || e.code === 421 || !c.connected) drop(key);
      throw e;
    }
  };

  const deliver: DeliverFunction = async (entry, data, pending): Promise<SendResult> => {
    const key = keyOf(entry);
    if (unreachable.has(key)) throw unreachable.get(key);
    const c = clients.get(key) ??
      await connect(key, typeof client === "function" ? client(entry.account, entry) : client);
    const w = watched(data);
    try {
      return await sendOver(key, c, entry, w.data, pending);
    } catch (e) {
      if (w.started() || hooks.retryWith === undefined) throw e;
      const again = await hooks.retryWith(e, entry);
      if (again === null) throw e;
      const previous = clients.get(key);
      if (previous) {
        clients.delete(key);
        await previous.quit().catch(() => previous.close());
      }
      return await sendOver(key, await connect(key, again), entry, data, pending);
    }
  };
  return {
    deliver,
    async close(): Promise<void> {
      const all = [...clients.values()];
      clients.clear();
      await Promise.all(all.map((c) => c.quit().catch(() => c.close())));
    },
  };
}
