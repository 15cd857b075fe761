/**
 * Turning a queued entry back into an {@link OutgoingMessage}.
 * @module
 */
import type { OutgoingMessage, RecipientSpec } from "../options.ts";
import type { QueueEntry } from "./types.ts";

/**
 * The {@link OutgoingMessage} for a queued entry: its envelope options, the
 * still-pending recipients (with their DSN options) and the stored data.
 *
 * @param entry The entry, as passed to a {@link DeliverFunction}.
 * @param data The message stream, as passed to a {@link DeliverFunction}.
 * @param pendingRecipients The recipients to send to now.
 * @returns A message for `SmtpClient.send`.
 * @example
 * ```ts
 * const deliver: DeliverFunction = (entry, data, pending) => client.send(queueMessage(entry, data, pending));
 * ```
 */
export function queueMessage(
  entry: QueueEntry,
  data: AsyncIterable<Uint8Array>,
  pendingRecipients: readonly string[],
): OutgoingMessage {
  const specs = new Map(entry.recipients.map((r) => [r.address, r]));
  const to: RecipientSpec[] = pendingRecipients.map((address) => {
    const r = specs.get(address);
    return {
      address,
      ...(r?.notify !== undefined ? { notify: r.notify } : {}),
      ...(r?.orcpt !== undefined ? { orcpt: r.orcpt } : {}),
    };
  });
  return {
    from: entry.from,
    to,
    data,
    size: entry.size,
    eightBit: entry.eightBit,
    ...(entry.smtpUtf8 ? { smtpUtf8: true } : {}),
    ...(entry.dsnReturn ? { dsnReturn: entry.dsnReturn } : {}),
    ...(entry.dsnEnvelopeId !== null ? { dsnEnvelopeId: entry.dsnEnvelopeId } : {}),
    ...(entry.dsnNotify !== null ? { dsnNotify: entry.dsnNotify } : {}),
    policy: "any",
  };
}
