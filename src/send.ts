/**
 * One-shot sending: connect, send one message, quit.
 * @module
 */
import { SmtpClient } from "./default_client.ts";
import type { ClientOptions, OutgoingMessage, SendResult } from "./options.ts";
import type { ComposedMessage } from "./message/compose.ts";

/**
 * Connects, sends one message and says QUIT — the simplest way to send mail.
 * For many messages, keep one {@link SmtpClient} open instead.
 *
 * QUIT is also said when the message is refused (MAIL, RCPT, the data) or
 * connecting fails on a connection still in a clean state (see
 * {@link SmtpClient.connect}); after a time-out, a protocol error, a 421 or
 * an abandoned transaction the connection is just closed. Each call opens a
 * new connection, so a failure never leaves a half-used one behind.
 *
 * @param options Server, TLS and credentials.
 * @param message Envelope and content, or a message built by `compose()`.
 * @returns Accepted and rejected recipients and the server's final reply.
 * @example
 * ```ts
 * const r = await send(
 *   { host: "smtp.example.org", auth: { user: "me@example.org", pass: "app-password" } },
 *   { from: "me@example.org", to: ["you@example.net"], data: "Subject: Hi\r\n\r\nHello!\r\n" },
 * );
 * console.log(r.reply.code); // 250
 * ```
 */
export async function send(options: ClientOptions, message: OutgoingMessage | ComposedMessage): Promise<SendResult> {
  const client = await SmtpClient.connect(options);
  try {
    return await client.send(message);
  } finally {
    await client.quit();
  }
}
