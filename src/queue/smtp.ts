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
import type { DeliverFunction } from "./types.ts";

/** A deliver function backed by one reusable {@link SmtpClient} per account, and a way to close them. */
export interface SmtpDeliverer {
  /** Sends one entry; connects (or reconnects) as needed. */
  readonly deliver: DeliverFunction;
  /** Sends QUIT on every open connection. */
  close(): Promise<void>;
}

/**
 * Creates a {@link SmtpDeliverer}.
 *
 * @param client Connection options, or a function giving them for an account name.
 * @returns The deliver function and its closer.
 */
export function smtpDeliverer(
  client: ClientOptions | ((account: string | null) => ClientOptions | Promise<ClientOptions>),
): SmtpDeliverer {
  const clients = new Map<string, SmtpClient>();
  // A server that could not be reached is not tried again for every message of the same flush.
  const unreachable = new Map<string, unknown>();
  const optionsFor = (account: string | null): ClientOptions | Promise<ClientOptions> =>
    typeof client === "function" ? client(account) : client;
  const deliver: DeliverFunction = async (entry, data, pending): Promise<SendResult> => {
    const key = entry.account ?? "";
    if (unreachable.has(key)) throw unreachable.get(key);
    let c = clients.get(key);
    if (!c) {
      try {
        c = await SmtpClient.connect(await optionsFor(entry.account));
      } catch (e) {
        unreachable.set(key, e);
        throw e;
      }
      clients.set(key, c);
    }
    try {
      return await c.send(queueMessage(entry, data, pending));
    } catch (e) {
      // The client closes itself after anything but an ordinary negative reply (and after some
      // of those too, e.g. a refused BDAT chunk); connect afresh next time.
      if (!(e instanceof ReplyError) || e.code === 421 || !c.connected) {
        clients.delete(key);
        c.close();
      }
      throw e;
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
